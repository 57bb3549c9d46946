/* paths.c -- where sshmuxd's files live, decided in one place so every
 * subcommand agrees: the SSH directory (~/.ssh unless SSHMUX_SSH_DIR or
 * --ssh-dir says otherwise), the home directory that ~ means, and the XDG
 * config home for service files.  HOME and XDG_CONFIG_HOME are honoured
 * before the password database so tests (and users with unusual set-ups)
 * can run everything in a throwaway home. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <mach-o/dyld.h>
#endif

#include "sshmuxd.h"

static char home[PATH_MAX];
static char ssh_dir[PATH_MAX];
static char config_home[PATH_MAX];
static const char *ssh_dir_opt; /* --ssh-dir, if given */
static int ssh_dir_explicit;

void sshmuxd_paths_set_ssh_dir(const char *dir) {
  ssh_dir_opt = dir;
}

const char *sshmuxd_home(void) {
  return home;
}
const char *sshmuxd_ssh_dir(void) {
  return ssh_dir;
}
const char *sshmuxd_config_home(void) {
  return config_home;
}
int sshmuxd_ssh_dir_is_explicit(void) {
  return ssh_dir_explicit;
}

int sshmuxd_join(char *out, size_t size, const char *dir, const char *name) {
  size_t n = strlen(dir);
  int r = snprintf(out, size, "%s%s%s", dir,
                   n > 0 && dir[n - 1] == '/' ? "" : "/", name);

  if (r < 0 || (size_t)r >= size) {
    sshmuxd_err("path too long: %s/%s", dir, name);
    return -1;
  }
  return 0;
}

/* path made absolute against the current directory, without a trailing
 * slash (symlinks are not resolved: the safe-file functions refuse them
 * later, which is the point). */
static int absolute(char *out, size_t size, const char *path) {
  char cwd[PATH_MAX];
  size_t n;

  if (path[0] == '/') {
    if (strlen(path) >= size)
      return -1;
    strcpy(out, path);
  } else {
    if (getcwd(cwd, sizeof(cwd)) == NULL)
      return -1;
    if (sshmuxd_join(out, size, cwd, path) != 0)
      return -1;
  }
  n = strlen(out);
  while (n > 1 && out[n - 1] == '/')
    out[--n] = '\0';
  return 0;
}

int sshmuxd_paths_init(void) {
  const char *h = getenv("HOME"), *s, *x;

  if (h == NULL || h[0] != '/') {
    struct passwd *pw = getpwuid(getuid());
    if (pw == NULL || pw->pw_dir == NULL || pw->pw_dir[0] != '/') {
      sshmuxd_err("cannot find the home directory (set HOME)");
      return -1;
    }
    h = pw->pw_dir;
  }
  if (absolute(home, sizeof(home), h) != 0) {
    sshmuxd_err("home directory path too long");
    return -1;
  }
  s = ssh_dir_opt;
  if (s == NULL && (x = getenv("SSHMUX_SSH_DIR")) != NULL && *x != '\0')
    s = x;
  ssh_dir_explicit = s != NULL;
  if (s != NULL ? absolute(ssh_dir, sizeof(ssh_dir), s) != 0
                : sshmuxd_join(ssh_dir, sizeof(ssh_dir), home, ".ssh") != 0) {
    sshmuxd_err("SSH directory path too long");
    return -1;
  }
  x = getenv("XDG_CONFIG_HOME");
  if (x != NULL && x[0] == '/') {
    if (absolute(config_home, sizeof(config_home), x) != 0)
      return -1;
  } else if (sshmuxd_join(config_home, sizeof(config_home), home, ".config") !=
             0) {
    return -1;
  }
  return 0;
}

int sshmuxd_default_routes(char *out, size_t size) {
  return sshmuxd_join(out, size, ssh_dir, "sshmux-routes.ini");
}

int sshmuxd_self_path(char *out, size_t size) {
#if defined(__linux__)
  ssize_t n = readlink("/proc/self/exe", out, size - 1);
  if (n <= 0 || (size_t)n >= size - 1)
    return -1;
  out[n] = '\0';
  return 0;
#elif defined(__APPLE__)
  char buf[PATH_MAX];
  uint32_t len = sizeof(buf);
  if (_NSGetExecutablePath(buf, &len) != 0 || realpath(buf, out) == NULL)
    return -1;
  (void)size;
  return 0;
#else
  (void)out, (void)size;
  return -1;
#endif
}
