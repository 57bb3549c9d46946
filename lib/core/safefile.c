/* safefile.c -- every file the library writes or trusts goes through here:
 * atomic replacement, atomic append, bounded reads, symlink refusal along
 * the whole path and OpenSSH-style StrictModes checks.
 *
 * Why one file: the rules ("no symlink anywhere from the target up to /",
 * "owned by the user or root, not writable by others") are security policy,
 * and policy written twice drifts.  It is also the only file with
 * OS-specific file-system code; the Windows build gets UV_ENOSYS stubs
 * until an ACL-based equivalent exists.
 *
 * The walk: a path is made absolute (relative paths are taken against the
 * current directory) and then every prefix of it is lstat()ed, from the
 * full path up to "/".  Checking every textual prefix covers each directory
 * that path resolution would pass through, ".." included, so when no prefix
 * is a symlink, resolution follows none.  The checks are advisory against
 * a concurrent attacker who controls an ancestor (a policy check, as in
 * OpenSSH); the writers additionally open the parent with O_NOFOLLOW and
 * create the temp file relative to that descriptor with O_EXCL|O_NOFOLLOW,
 * so a swap of the last component between check and use cannot redirect the
 * write. */
#include <uv.h>

#include "core/core.h"
#include "core/safefile.h"

#ifdef _WIN32

int sshmux_file_write_atomic(const char *path, const void *data, size_t len,
                             int mode) {
  (void)path, (void)data, (void)len, (void)mode;
  return UV_ENOSYS;
}
int sshmux_file_append_atomic(const char *path, const void *data, size_t len,
                              int mode) {
  (void)path, (void)data, (void)len, (void)mode;
  return UV_ENOSYS;
}
int sshmux_file_read(const char *path, size_t max, char **data, size_t *len) {
  (void)path, (void)max, (void)data, (void)len;
  return UV_ENOSYS;
}
int sshmux__file_read_ex(const char *path, size_t max, int follow, char **data,
                         size_t *len) {
  (void)path, (void)max, (void)follow, (void)data, (void)len;
  return UV_ENOSYS;
}
int sshmux_path_check_symlinks(const char *path) {
  (void)path;
  return UV_ENOSYS;
}
int sshmux_path_check_perms(const char *path, uid_t uid) {
  (void)path, (void)uid;
  return UV_ENOSYS;
}
int sshmux_dir_ensure(const char *path, int mode) {
  (void)path, (void)mode;
  return UV_ENOSYS;
}

#else

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The largest file sshmux_file_append_atomic() will rewrite.  known_hosts
 * files of a few MiB exist; anything beyond this is not ours to copy. */
#define APPEND_MAX ((size_t)64 * 1024 * 1024)
/* How many random temp names to try before giving up on EEXIST. */
#define TEMP_TRIES 8

static int sys_err(int e) {
  return uv_translate_sys_error(e);
}

/* Write the absolute form of path into out (PATH_MAX bytes) with trailing
 * slashes removed ("/" stays "/"). */
static int abs_path(const char *path, char *out) {
  size_t n, plen;

  if (path == NULL || *path == '\0')
    return SSHMUX_EINVAL;
  plen = strlen(path);
  if (path[0] == '/') {
    if (plen >= PATH_MAX)
      return UV_ENAMETOOLONG;
    memcpy(out, path, plen + 1);
  } else {
    if (getcwd(out, PATH_MAX) == NULL)
      return sys_err(errno);
    n = strlen(out);
    if (n + 1 + plen >= PATH_MAX)
      return UV_ENAMETOOLONG;
    if (n > 1 || out[0] != '/')
      out[n++] = '/';
    memcpy(out + n, path, plen + 1);
  }
  n = strlen(out);
  while (n > 1 && out[n - 1] == '/')
    out[--n] = '\0';
  return 0;
}

/* Cut the last component off an absolute path in place ("/a/b" -> "/a",
 * "/a" -> "/", also across repeated slashes).  Returns 0 when p was "/". */
static int path_up(char *p) {
  char *s;

  if (strcmp(p, "/") == 0)
    return 0;
  s = strrchr(p, '/');
  if (s == p) {
    p[1] = '\0';
    return 1;
  }
  *s = '\0';
  while (s > p + 1 && s[-1] == '/')
    *--s = '\0';
  return 1;
}

/* What one component of the walk must satisfy. */
typedef struct {
  int perms; /* also apply the StrictModes rules */
  uid_t uid;
} walk_policy_t;

/* lstat every prefix of abs from the full path up to "/".  A symlink is
 * SSHMUX_ESYMLINK at once.  A missing (or otherwise unstat-able) component
 * is remembered and returned only after all existing ancestors passed, so
 * the caller learns about the worst problem first. */
static int walk(const char *abs, const walk_policy_t *pol) {
  char p[PATH_MAX];
  struct stat st;
  int first = 1, deferred = 0;

  snprintf(p, sizeof(p), "%s", abs);
  do {
    if (lstat(p, &st) != 0) {
      if (deferred == 0)
        deferred = sys_err(errno);
    } else if (S_ISLNK(st.st_mode)) {
      SSHMUX__LOG_WARN("refusing path %s: %s is a symbolic link", abs, p);
      return SSHMUX_ESYMLINK;
    } else if (pol->perms) {
      /* A root-owned sticky directory (/tmp, /var/tmp) is a safe ancestor:
       * others may add names to it but cannot rename or remove ours.  It is
       * never accepted as the target itself. */
      int sticky_ok = !first && S_ISDIR(st.st_mode) && st.st_uid == 0 &&
                      (st.st_mode & S_ISVTX) != 0;
      if (st.st_uid != 0 && st.st_uid != pol->uid) {
        SSHMUX__LOG_WARN("unsafe path %s: %s is owned by uid %lu", abs, p,
                         (unsigned long)st.st_uid);
        return SSHMUX_EPERM;
      }
      if ((st.st_mode & 022) != 0 && !sticky_ok) {
        SSHMUX__LOG_WARN("unsafe path %s: %s has mode %04o", abs, p,
                         (unsigned)(st.st_mode & 07777));
        return SSHMUX_EPERM;
      }
    }
    first = 0;
  } while (path_up(p));
  return deferred;
}

int sshmux_path_check_symlinks(const char *path) {
  char abs[PATH_MAX];
  walk_policy_t pol = {0, 0};
  int r = abs_path(path, abs);

  return r != 0 ? r : walk(abs, &pol);
}

int sshmux_path_check_perms(const char *path, uid_t uid) {
  char abs[PATH_MAX];
  walk_policy_t pol = {1, uid};
  int r = abs_path(path, abs);

  return r != 0 ? r : walk(abs, &pol);
}

int sshmux_dir_ensure(const char *path, int mode) {
  char abs[PATH_MAX];
  struct stat st;
  char *s;
  int r = abs_path(path, abs);

  if (r != 0)
    return r;
  if ((mode & ~07777) != 0)
    return SSHMUX_EINVAL;
  if (lstat("/", &st) != 0)
    return sys_err(errno);
  /* Top-down: each prefix must be a real directory or is created.  The
   * separators are restored after each step. */
  for (s = abs + 1;; s++) {
    int last = (*s == '\0');
    if (*s != '/' && !last)
      continue;
    if (s[-1] == '/') { /* repeated slash */
      if (last)
        break;
      continue;
    }
    *s = '\0';
    if (lstat(abs, &st) != 0) {
      if (errno != ENOENT)
        return sys_err(errno);
      if (mkdir(abs, (mode_t)mode) != 0 && errno != EEXIST)
        return sys_err(errno);
      if (lstat(abs, &st) != 0)
        return sys_err(errno);
    }
    if (S_ISLNK(st.st_mode)) {
      SSHMUX__LOG_WARN("refusing directory %s: it is a symbolic link", abs);
      return SSHMUX_ESYMLINK;
    }
    if (!S_ISDIR(st.st_mode))
      return UV_ENOTDIR;
    if (last)
      break;
    *s = '/';
  }
  /* The directory we hand back must be ours alone. */
  if (st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
    SSHMUX__LOG_WARN("unsafe directory %s: uid %lu mode %04o", abs,
                     (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777));
    return SSHMUX_EPERM;
  }
  /* Ancestors must not be symlinks either (the loop saw each prefix, but
   * only as it descended; this is the same walk the readers use). */
  return sshmux_path_check_symlinks(abs);
}

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;

  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return sys_err(errno);
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* The temp name: a fixed prefix so leftovers are recognisable, at most 64
 * bytes of the target's name (long targets must not push the temp name
 * past NAME_MAX), and 16 hex digits from the CSPRNG so the name cannot be
 * predicted and pre-created by someone sharing the directory. */
static void temp_name(const char *base, char *out, size_t outsz) {
  static const char hex[] = "0123456789abcdef";
  uint8_t rnd[8];
  char r[17];

  sshmux__random(rnd, sizeof(rnd));
  for (size_t i = 0; i < sizeof(rnd); i++) {
    r[2 * i] = hex[rnd[i] >> 4];
    r[2 * i + 1] = hex[rnd[i] & 15];
  }
  r[16] = '\0';
  snprintf(out, outsz, ".%.64s.sshmux-%s.tmp", base, r);
}

/* The one writer.  keep (may be NULL) is the stat of the file being
 * replaced, whose owner is kept when we are root (so root appending to a
 * user's known_hosts does not take it over). */
static int write_atomic(const char *path, const void *data, size_t len,
                        int mode, const struct stat *keep) {
  char abs[PATH_MAX], tmp[NAME_MAX + 1];
  const char *base;
  char *slash;
  struct stat st;
  int dfd = -1, fd = -1, r, tries;

  if (data == NULL && len != 0)
    return SSHMUX_EINVAL;
  if ((mode & ~07777) != 0)
    return SSHMUX_EINVAL;
  r = sshmux_init();
  if (r != 0)
    return r;
  r = abs_path(path, abs);
  if (r != 0)
    return r;
  r = sshmux_path_check_symlinks(abs);
  if (r != 0 && r != UV_ENOENT)
    return r;
  /* Only a regular file is ever replaced: renaming over a directory fails
   * anyway, and silently replacing a FIFO or device is never intended. */
  if (lstat(abs, &st) == 0 && !S_ISREG(st.st_mode))
    return S_ISDIR(st.st_mode) ? UV_EISDIR : SSHMUX_EINVAL;

  slash = strrchr(abs, '/');
  base = slash + 1;
  if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
    return SSHMUX_EINVAL;
  if (strlen(base) > NAME_MAX)
    return UV_ENAMETOOLONG;
  /* Split abs into directory and name; "/x" lives in "/". */
  if (slash == abs) {
    dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } else {
    *slash = '\0';
    dfd = open(abs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    *slash = '/';
  }
  if (dfd < 0)
    return errno == ELOOP ? SSHMUX_ESYMLINK : sys_err(errno);

  for (tries = 0; tries < TEMP_TRIES; tries++) {
    temp_name(base, tmp, sizeof(tmp));
    fd = openat(dfd, tmp,
                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
                (mode_t)mode);
    if (fd >= 0 || errno != EEXIST)
      break;
  }
  if (fd < 0) {
    r = sys_err(errno);
    goto out;
  }
  /* The mode is exactly what was asked for, whatever the umask: a host key
   * must be 0600 and a public file 0644, predictably. */
  if (fchmod(fd, (mode_t)mode) != 0) {
    r = sys_err(errno);
    goto fail;
  }
  if (keep != NULL && geteuid() == 0 &&
      (keep->st_uid != 0 || keep->st_gid != 0) &&
      fchown(fd, keep->st_uid, keep->st_gid) != 0) {
    r = sys_err(errno);
    goto fail;
  }
  r = write_all(fd, data, len);
  if (r != 0)
    goto fail;
  if (fsync(fd) != 0) {
    r = sys_err(errno);
    goto fail;
  }
  r = close(fd);
  fd = -1;
  if (r != 0) {
    r = sys_err(errno);
    goto fail;
  }
  if (renameat(dfd, tmp, dfd, base) != 0) {
    r = sys_err(errno);
    goto fail;
  }
  /* Make the rename itself durable.  Some file systems cannot fsync a
   * directory (EINVAL); that is not a failure of ours.  Any other error
   * is returned although the new contents are already in place: the
   * caller must know they may not survive a crash. */
  if (fsync(dfd) != 0 && errno != EINVAL) {
    r = sys_err(errno);
    SSHMUX__LOG_WARN("%s replaced but its directory fsync failed: %s", abs,
                     sshmux_strerror(r));
  }
  goto out;

fail:
  if (fd >= 0)
    close(fd);
  unlinkat(dfd, tmp, 0);
out:
  close(dfd);
  return r;
}

int sshmux_file_write_atomic(const char *path, const void *data, size_t len,
                             int mode) {
  return write_atomic(path, data, len, mode, NULL);
}

int sshmux_file_append_atomic(const char *path, const void *data, size_t len,
                              int mode) {
  struct stat st;
  char *old = NULL, *buf;
  size_t oldlen = 0, total;
  int r, nl;

  if (data == NULL && len != 0)
    return SSHMUX_EINVAL;
  r = sshmux_file_read(path, APPEND_MAX, &old, &oldlen);
  if (r == UV_ENOENT)
    return write_atomic(path, data, len, mode, NULL);
  if (r != 0)
    return r;
  if (lstat(path, &st) != 0) {
    r = sys_err(errno);
    sshmux__free(old);
    return r;
  }
  nl = oldlen > 0 && old[oldlen - 1] != '\n';
  total = oldlen + (size_t)nl + len;
  buf = sshmux__realloc(old, total + 1);
  if (buf == NULL) {
    sshmux__free(old);
    return SSHMUX_ENOMEM;
  }
  if (nl)
    buf[oldlen] = '\n';
  if (len > 0)
    memcpy(buf + oldlen + nl, data, len);
  r = write_atomic(path, buf, total, (int)(st.st_mode & 07777), &st);
  sshmux__free(buf);
  return r;
}

int sshmux_file_read(const char *path, size_t max, char **data, size_t *len) {
  return sshmux__file_read_ex(path, max, 0, data, len);
}

int sshmux__file_read_ex(const char *path, size_t max, int follow, char **data,
                         size_t *len) {
  struct stat st;
  char *buf = NULL;
  size_t n = 0, cap;
  int fd, r;

  if (path == NULL || data == NULL || max >= SIZE_MAX - 1)
    return SSHMUX_EINVAL;
  *data = NULL;
  if (len != NULL)
    *len = 0;
  if (!follow) {
    r = sshmux_path_check_symlinks(path);
    if (r != 0)
      return r;
  }
  /* O_NONBLOCK so that a FIFO planted at the path cannot block us in
   * open(); it is refused just below and means nothing for regular files. */
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                      (follow ? 0 : O_NOFOLLOW));
  if (fd < 0)
    return errno == ELOOP ? SSHMUX_ESYMLINK : sys_err(errno);
  if (fstat(fd, &st) != 0) {
    r = sys_err(errno);
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    r = S_ISDIR(st.st_mode) ? UV_EISDIR : SSHMUX_EINVAL;
    goto out;
  }
  if ((uint64_t)st.st_size > (uint64_t)max) {
    r = SSHMUX_ETOOLONG;
    goto out;
  }
  /* Read up to max + 1 bytes: the size may change under us, and the cap is
   * enforced on what is actually read. */
  cap = (size_t)st.st_size + 1;
  buf = sshmux__malloc(cap + 1);
  if (buf == NULL) {
    r = SSHMUX_ENOMEM;
    goto out;
  }
  for (;;) {
    ssize_t got;
    if (n == cap) {
      size_t ncap = SSHMUX__MIN(cap * 2, max + 1);
      char *nb;
      if (ncap <= cap) {
        r = SSHMUX_ETOOLONG;
        goto out;
      }
      nb = sshmux__realloc(buf, ncap + 1);
      if (nb == NULL) {
        r = SSHMUX_ENOMEM;
        goto out;
      }
      buf = nb;
      cap = ncap;
    }
    got = read(fd, buf + n, cap - n);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      r = sys_err(errno);
      goto out;
    }
    if (got == 0)
      break;
    n += (size_t)got;
  }
  if (n > max) {
    r = SSHMUX_ETOOLONG;
    goto out;
  }
  buf[n] = '\0';
  *data = buf;
  buf = NULL;
  if (len != NULL)
    *len = n;
  r = 0;
out:
  sshmux__free(buf);
  close(fd);
  return r;
}

#endif /* !_WIN32 */

void sshmux_free(void *ptr) {
  sshmux__free(ptr);
}
