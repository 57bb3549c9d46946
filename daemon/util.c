/* util.c -- small helpers the daemon's commands share: running another
 * program without letting it touch our terminal, starting a fully detached
 * process, a growable string for building files, and comparing a file with
 * what we would write (so unchanged files are never rewritten). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sshmuxd.h"

/* In the child: stdio on /dev/null and every other descriptor closed, so
 * the program holds nothing of ours (a caller waiting for our pipes to
 * close must never wait for it). */
static void child_stdio(void) {
  int fd = open("/dev/null", O_RDWR);
  long max = sysconf(_SC_OPEN_MAX);

  if (fd >= 0) {
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
  }
  if (max < 0 || max > 65536)
    max = 65536;
  for (fd = 3; fd < max; fd++)
    close(fd);
  signal(SIGPIPE, SIG_DFL);
}

int sshmuxd_run_quiet(const char *const *argv) {
  pid_t pid = fork();
  int st;

  if (pid < 0)
    return -1;
  if (pid == 0) {
    child_stdio();
    execvp(argv[0], (char *const *)(uintptr_t)argv);
    _exit(127);
  }
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int sshmuxd_spawn_detached(const char *const *argv) {
  pid_t pid = fork();
  int st;

  if (pid < 0)
    return -1;
  if (pid == 0) {
    /* First child: new session, then fork again so the daemon is not a
     * session leader (it can never acquire a controlling terminal) and is
     * reparented to init at once. */
    if (setsid() < 0)
      _exit(1);
    pid = fork();
    if (pid != 0)
      _exit(pid < 0 ? 1 : 0);
    child_stdio();
    if (chdir("/") != 0)
      _exit(1);
    execv(argv[0], (char *const *)(uintptr_t)argv);
    _exit(127);
  }
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

void sshmuxd_str_add(sshmuxd_str_t *b, const char *data, size_t n) {
  if (b->oom)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->len + n + 1) * 2;
    char *s = realloc(b->s, cap);
    if (s == NULL) {
      b->oom = 1;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
  memcpy(b->s + b->len, data, n);
  b->len += n;
  b->s[b->len] = '\0';
}

void sshmuxd_str_printf(sshmuxd_str_t *b, const char *fmt, ...) {
  char small[1024], *big;
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->oom = 1;
    return;
  }
  if ((size_t)n < sizeof(small)) {
    sshmuxd_str_add(b, small, (size_t)n);
    return;
  }
  if ((big = malloc((size_t)n + 1)) == NULL) {
    b->oom = 1;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sshmuxd_str_add(b, big, (size_t)n);
  free(big);
}

void sshmuxd_str_free(sshmuxd_str_t *b) {
  free(b->s);
  memset(b, 0, sizeof(*b));
}

int sshmuxd_file_equals(const char *path, const char *data, size_t len) {
  char *old = NULL;
  size_t n = 0;
  int same;

  if (sshmux_file_read(path, len + 1, &old, &n) != 0)
    return 0;
  same = n == len && memcmp(old, data, len) == 0;
  sshmux_free(old);
  return same;
}
