/* ipc_path.c -- where the control socket lives and the checks made every
 * time it is used, by the daemon and by every client command (the same
 * directory check guards setup-config's ControlMaster socket directory).
 *
 * The socket's directory is what protects it: a directory that someone
 * else owns, that others can enter, or that is reached through a symbolic
 * link could let another user put their own socket in our place (and
 * collect the OTP codes we send to it) or talk to ours.  So each use
 * checks it, and anything unexpected fails closed with a message rather
 * than being "repaired". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sshmuxd.h"

int sshmuxd_control_paths(char *dir, size_t dsize, char *sock, size_t ssize) {
  const char *x = getenv("XDG_RUNTIME_DIR");
  int r;

  if (x != NULL && x[0] == '/')
    r = snprintf(dir, dsize, "%s%ssshmux", x,
                 x[strlen(x) - 1] == '/' ? "" : "/");
  else
    r = snprintf(dir, dsize, "/tmp/sshmux-%lu", (unsigned long)geteuid());
  if (r < 0 || (size_t)r >= dsize) {
    sshmuxd_err("control directory path too long");
    return -1;
  }
  /* sun_path is ~108 bytes: a longer socket path cannot be bound. */
  if (sshmuxd_join(sock, ssize, dir, "control") != 0 ||
      strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
    sshmuxd_err("control socket path too long: %s/control", dir);
    return -1;
  }
  return 0;
}

int sshmuxd_private_dir_check(const char *what, const char *dir, int create) {
  struct stat st;
  int r;

  if (create && lstat(dir, &st) != 0 && errno == ENOENT) {
    r = sshmux_dir_ensure(dir, 0700);
    if (r != 0) {
      sshmuxd_err("%s %s: %s", what, dir, sshmux_strerror(r));
      return r;
    }
  }
  r = sshmux_path_check_symlinks(dir);
  if (r != 0) {
    if (r != UV_ENOENT || create)
      sshmuxd_err("%s %s: %s", what, dir, sshmux_strerror(r));
    return r;
  }
  if (lstat(dir, &st) != 0) {
    r = -errno;
    if (r != UV_ENOENT || create)
      sshmuxd_err("%s %s: %s", what, dir, strerror(errno));
    return r;
  }
  if (!S_ISDIR(st.st_mode)) {
    sshmuxd_err("%s %s is not a directory; refusing it", what, dir);
    return UV_ENOTDIR;
  }
  if (st.st_uid != geteuid()) {
    sshmuxd_err("%s %s is owned by uid %lu, not by us (%lu); "
                "refusing it",
                what, dir, (unsigned long)st.st_uid, (unsigned long)geteuid());
    return SSHMUX_EPERM;
  }
  if ((st.st_mode & 07777) != 0700) {
    sshmuxd_err("%s %s has mode %04o, not 0700; refusing it "
                "(remove it or chmod 700 it)",
                what, dir, (unsigned)(st.st_mode & 07777));
    return SSHMUX_EPERM;
  }
  return 0;
}

int sshmuxd_control_dir_check(const char *dir, int create) {
  return sshmuxd_private_dir_check("control directory", dir, create);
}

int sshmuxd_control_connect(int quiet) {
  char dir[1024], path[1100];
  struct sockaddr_un sa;
  int fd, r;

  if (sshmuxd_control_paths(dir, sizeof(dir), path, sizeof(path)) != 0)
    return SSHMUX_EINVAL;
  r = sshmuxd_control_dir_check(dir, 0);
  if (r == UV_ENOENT) {
    if (!quiet)
      sshmuxd_err("sshmuxd is not running (no %s)", path);
    return r;
  }
  if (r != 0)
    return r;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, strlen(path) + 1);
  if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
    return -errno;
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    r = -errno;
    close(fd);
    if (!quiet)
      sshmuxd_err("sshmuxd is not running (%s: %s)", path, strerror(-r));
    return r;
  }
#if defined(SO_PEERCRED)
  {
    /* The other end must be our own daemon (answers go to it). */
    struct ucred cr;
    socklen_t len = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 ||
        cr.uid != geteuid()) {
      close(fd);
      sshmuxd_err("%s is served by another user; refusing it", path);
      return SSHMUX_EPERM;
    }
  }
#endif
  return fd;
}
