/* util.c -- helpers for tests: asserts' failure path, running programs with
 * captured output and a timeout, files, ports.  Used only by tests. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

extern char **environ;

void test_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;

  fprintf(stderr, "FAIL %s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  exit(1);
}

void *test_calloc_with(void *(*m)(size_t), size_t count, size_t n) {
  void *p;

  if (n != 0 && count > SIZE_MAX / n)
    return NULL;
  if ((p = m(count * n)) != NULL)
    memset(p, 0, count * n);
  return p;
}

void *test_realloc_with(void *(*m)(size_t), void (*f)(void *),
                        size_t (*size)(void *), void *p, size_t n) {
  void *np;
  size_t old;

  if (p == NULL)
    return m(n);
  if ((np = m(n)) == NULL)
    return NULL;
  old = size(p);
  memcpy(np, p, old < n ? old : n);
  f(p);
  return np;
}

uint64_t test_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int test_in_ci(void) {
  const char *ci = getenv("CI");
  return ci != NULL && *ci != '\0' && strcmp(ci, "0") != 0 &&
         strcmp(ci, "false") != 0;
}

const char *test_which(const char *prog) {
  static char path[4][1024];
  static int slot;
  const char *env = getenv("PATH");
  char dirs[4096];
  char *save = NULL, *d;
  char *out = path[slot++ & 3];

  if (strchr(prog, '/') != NULL)
    return access(prog, X_OK) == 0 ? prog : NULL;
  snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin:/usr/bin",
           env ? env : "/usr/bin:/bin");
  for (d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    snprintf(out, sizeof(path[0]), "%s/%s", d, prog);
    if (access(out, X_OK) == 0)
      return out;
  }
  return NULL;
}

/* A requirement not met: say so; a failure (1) under CI, else a skip. */
static int unmet(const char *what) {
  if (test_in_ci()) {
    fprintf(stderr, "%s (CI: failure)\n", what);
    return 1;
  }
  fprintf(stderr, "skipped: %s\n", what);
  return TEST_SKIP;
}

int test_require_program(const char *prog) {
  char what[600];

  if (test_which(prog) != NULL)
    return 0;
  snprintf(what, sizeof(what), "required program %s is missing", prog);
  return unmet(what);
}

int test_require_root(const char *why) {
  char what[600];

  if (geteuid() == 0)
    return 0;
  snprintf(what, sizeof(what), "not root, but %s needs root", why);
  return unmet(what);
}

int test_require(const char *why_root, const char *const *progs) {
  int r = why_root != NULL ? test_require_root(why_root) : 0;

  for (; r == 0 && progs != NULL && *progs != NULL; progs++)
    r = test_require_program(*progs);
  return r;
}

int test_require_python_module(const char *module) {
  char what[600], import[200];
  int r = test_require_program("/usr/bin/python3");

  if (r != 0)
    return r;
  snprintf(import, sizeof(import), "import %s", module);
  if (test_run_simple((const char *[]){"/usr/bin/python3", "-c", import, NULL},
                      NULL, NULL) == 0)
    return 0;
  snprintf(what, sizeof(what), "python3 module %s is missing", module);
  return unmet(what);
}

const char *test_build_dir(void) {
  const char *b = getenv("SSHMUX_BUILD");
  return b && *b ? b : "build";
}

const char *test_path(const char *name) {
  static char buf[8][1024];
  static int slot;
  char *out = buf[slot++ & 7];
  const char *dir = getenv("SSHMUX_TEST_DIR");
  char cwd[512];

  if (dir == NULL)
    dir = getcwd(cwd, sizeof(cwd)) ? cwd : ".";
  snprintf(out, sizeof(buf[0]), "%s/%s", dir, name);
  return out;
}

/* test_dir_each, or -1 when dir cannot be read. */
static int dir_each(const char *dir, test_dir_fn fn, void *data) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;

  if (d == NULL)
    return -1;
  while ((e = readdir(d)) != NULL) {
    char p[2048];
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    n += fn == NULL || fn(p, e->d_name, data) != 0;
  }
  closedir(d);
  return n;
}

int test_dir_each(const char *dir, test_dir_fn fn, void *data) {
  int n = dir_each(dir, fn, data);

  if (n < 0)
    test_fail(__FILE__, __LINE__, "cannot read the directory %s: %s", dir,
              strerror(errno));
  return n;
}

typedef struct {
  const char *suffix;
  char *last;
  size_t size;
} dir_files_t;

static int is_file_with_suffix(const char *path, const char *name, void *data) {
  dir_files_t *f = data;
  size_t l = strlen(name), m = strlen(f->suffix);
  struct stat st;

  if (name[0] == '.' || l < m || strcmp(name + l - m, f->suffix) != 0 ||
      stat(path, &st) != 0 || !S_ISREG(st.st_mode))
    return 0;
  if (f->last != NULL)
    snprintf(f->last, f->size, "%s", path);
  return 1;
}

int test_dir_files(const char *dir, const char *suffix, char *last,
                   size_t size) {
  dir_files_t f = {suffix, last, size};

  return dir_each(dir, is_file_with_suffix, &f);
}

char *test_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t n = 0, cap = 0;

  if (f == NULL)
    return NULL;
  for (;;) {
    size_t r;
    if (cap - n < 4096) {
      char *nb = realloc(buf, cap * 2 + 4096 + 1);
      if (nb == NULL) {
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = nb;
      cap = cap * 2 + 4096;
    }
    r = fread(buf + n, 1, cap - n, f);
    if (r == 0)
      break;
    n += r;
  }
  fclose(f);
  buf[n] = '\0';
  if (len)
    *len = n;
  return buf;
}

void test_write_fmt(const char *path, int mode, const char *fmt, ...) {
  char *text = NULL;
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vasprintf(&text, fmt, ap);
  va_end(ap);
  if (n < 0 || test_write_file(path, text, mode) != 0)
    test_fail(__FILE__, __LINE__, "cannot write %s", path);
  free(text);
}

char *test_read_pub(const char *key) {
  char path[1100], *pub;

  snprintf(path, sizeof(path), "%s.pub", key);
  pub = test_read_file(path, NULL);
  if (pub == NULL)
    test_fail(__FILE__, __LINE__, "cannot read %s", path);
  return pub;
}

void test_trust_host_key(const char *kh, int port, const char *hostkey) {
  char *pub = test_read_pub(hostkey);

  test_write_fmt(kh, 0600, "[127.0.0.1]:%d %s", port, pub);
  free(pub);
}

void test_authorize_key(const char *ak, const char *key) {
  char *pub = test_read_pub(key);

  test_write_fmt(ak, 0600, "%s", pub);
  free(pub);
}

void test_term_clean(int pid, const char *log) {
  int st;

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  st = test_wait_exit(pid, 15000);
  if (st != 0 || test_count_in_file(log, "Sanitizer") != 0) {
    char *text = test_read_file(log, NULL);
    fprintf(stderr, "---- %s ----\n%s\n", log, text ? text : "(none)");
    free(text);
  }
  ASSERT_EQ(st, 0);
  ASSERT_EQ(test_count_in_file(log, "Sanitizer"), 0);
}

int test_count(const char *text, const char *needle) {
  int n = 0;

  for (const char *p = text; p != NULL && (p = strstr(p, needle)) != NULL;
       p += strlen(needle))
    n++;
  return n;
}

int test_count_in_file(const char *path, const char *needle) {
  char *text = test_read_file(path, NULL);
  int n = test_count(text, needle);

  free(text);
  return n;
}

int test_wait_text(const char *path, const char *needle, int ms) {
  uint64_t end = test_now_ms() + (uint64_t)ms;

  while (test_count_in_file(path, needle) == 0) {
    if (test_now_ms() > end)
      return -1;
    usleep(20 * 1000);
  }
  return 0;
}

int test_wait_exit(int pid, int ms) {
  uint64_t end = test_now_ms() + (uint64_t)ms;
  int st;

  for (;;) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid)
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r < 0 || test_now_ms() > end)
      return -1;
    usleep(10 * 1000);
  }
}

void test_argv_addv(test_argv_t *a, const char *const *words) {
  for (; words != NULL && *words != NULL; words++) {
    if (a->n + 1 >= (int)(sizeof(a->v) / sizeof(a->v[0])))
      test_fail(__FILE__, __LINE__, "argv full at \"%s\"", *words);
    a->v[a->n++] = *words;
    a->v[a->n] = NULL;
  }
}

void test_argv_add(test_argv_t *a, ...) {
  const char *w;
  va_list ap;

  va_start(ap, a);
  while ((w = va_arg(ap, const char *)) != NULL)
    test_argv_addv(a, (const char *[]){w, NULL});
  va_end(ap);
}

void test_argv_ssh_opts(test_argv_t *a, const char *port_flag, int port,
                        const char *key, const char *known_hosts) {
  snprintf(a->port, sizeof(a->port), "%d", port);
  snprintf(a->known_hosts, sizeof(a->known_hosts), "UserKnownHostsFile=%s",
           known_hosts);
  test_argv_add(a, "-F", "/dev/null", port_flag, a->port, NULL);
  if (key != NULL)
    test_argv_add(a, "-i", key, NULL);
  test_argv_add(a, "-o", a->known_hosts, "-o", "StrictHostKeyChecking=yes",
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", NULL);
}

int test_write_file(const char *path, const char *data, int mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  size_t len = strlen(data), off = 0;

  if (fd < 0)
    return -1;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w <= 0) {
      close(fd);
      return -1;
    }
    off += (size_t)w;
  }
  fchmod(fd, (mode_t)mode);
  return close(fd);
}

typedef struct {
  int fd;
  char *buf;
  size_t len, cap;
} capture_t;

static int capture_read(capture_t *c) {
  char tmp[16384];
  ssize_t n = read(c->fd, tmp, sizeof(tmp));

  if (n <= 0) {
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      return 0;
    close(c->fd);
    c->fd = -1;
    return 0;
  }
  if (c->len + (size_t)n + 1 > c->cap) {
    size_t ncap = (c->cap + (size_t)n + 1) * 2;
    char *nb = realloc(c->buf, ncap);
    if (nb == NULL)
      return -ENOMEM;
    c->buf = nb;
    c->cap = ncap;
  }
  memcpy(c->buf + c->len, tmp, (size_t)n);
  c->len += (size_t)n;
  c->buf[c->len] = '\0';
  return 0;
}

int test_run(const test_cmd_t *cmd, int *status) {
  int inp[2] = {-1, -1}, outp[2], errp[2];
  capture_t co = {-1, NULL, 0, 0}, ce = {-1, NULL, 0, 0};
  size_t in_off = 0;
  int timeout = cmd->timeout_ms ? cmd->timeout_ms : 30000;
  uint64_t deadline = test_now_ms() + (uint64_t)timeout;
  int st = 0, timed_out = 0;
  pid_t pid;

  if (pipe(outp) != 0 || pipe(errp) != 0)
    return -errno;
  if (cmd->in != NULL && pipe(inp) != 0)
    return -errno;
  pid = fork();
  if (pid < 0)
    return -errno;
  if (pid == 0) {
    int fd;
    if (cmd->in != NULL) {
      dup2(inp[0], 0);
    } else {
      fd = open(cmd->in_file ? cmd->in_file : "/dev/null", O_RDONLY);
      dup2(fd, 0);
    }
    dup2(outp[1], 1);
    dup2(errp[1], 2);
    for (fd = 3; fd < 1024; fd++)
      close(fd);
    if (cmd->env != NULL)
      for (const char *const *e = cmd->env; *e; e++)
        putenv((char *)(uintptr_t)*e);
    signal(SIGPIPE, SIG_DFL);
    execvp(cmd->argv[0], (char *const *)(uintptr_t)cmd->argv);
    fprintf(stderr, "exec %s: %s\n", cmd->argv[0], strerror(errno));
    _exit(127);
  }
  close(outp[1]);
  close(errp[1]);
  if (inp[0] >= 0) {
    close(inp[0]);
    fcntl(inp[1], F_SETFL, O_NONBLOCK);
    if (cmd->in_len == 0) {
      close(inp[1]);
      inp[1] = -1;
    }
  }
  co.fd = outp[0];
  ce.fd = errp[0];
  while (co.fd >= 0 || ce.fd >= 0) {
    struct pollfd p[3];
    int np = 0, wait_ms;
    uint64_t t = test_now_ms();
    if (t >= deadline) {
      timed_out = 1;
      break;
    }
    wait_ms = (int)(deadline - t);
    if (co.fd >= 0)
      p[np++] = (struct pollfd){co.fd, POLLIN, 0};
    if (ce.fd >= 0)
      p[np++] = (struct pollfd){ce.fd, POLLIN, 0};
    if (inp[1] >= 0)
      p[np++] = (struct pollfd){inp[1], POLLOUT, 0};
    if (poll(p, (nfds_t)np, wait_ms) < 0 && errno != EINTR)
      break;
    for (int i = 0; i < np; i++) {
      if (!p[i].revents)
        continue;
      if (p[i].fd == co.fd)
        capture_read(&co);
      else if (p[i].fd == ce.fd)
        capture_read(&ce);
      else if (p[i].fd == inp[1]) {
        const char *in = cmd->in;
        ssize_t w = write(inp[1], in + in_off, cmd->in_len - in_off);
        if (w > 0)
          in_off += (size_t)w;
        if ((w < 0 && errno != EAGAIN) || in_off == cmd->in_len) {
          close(inp[1]);
          inp[1] = -1;
        }
      }
    }
  }
  if (inp[1] >= 0)
    close(inp[1]);
  if (timed_out) {
    kill(pid, SIGKILL);
    if (co.fd >= 0)
      close(co.fd);
    if (ce.fd >= 0)
      close(ce.fd);
  }
  waitpid(pid, &st, 0);
  if (timed_out)
    *status = -1;
  else if (WIFEXITED(st))
    *status = WEXITSTATUS(st);
  else
    *status = 128 + WTERMSIG(st);
  if (cmd->out) {
    *cmd->out = co.buf ? co.buf : strdup("");
    co.buf = NULL;
  }
  if (cmd->out_len)
    *cmd->out_len = co.len;
  if (cmd->err) {
    *cmd->err = ce.buf ? ce.buf : strdup("");
    ce.buf = NULL;
  }
  free(co.buf);
  free(ce.buf);
  return 0;
}

int test_run_status(const test_cmd_t *cmd) {
  int st = -1, r = test_run(cmd, &st);

  if (r != 0)
    test_fail(__FILE__, __LINE__, "cannot run %s: %s", cmd->argv[0],
              strerror(-r));
  return st;
}

int test_run_sh(const char *script, int timeout_ms) {
  return test_run_status(
      &(test_cmd_t){.argv = (const char *[]){"sh", "-c", script, NULL},
                    .timeout_ms = timeout_ms});
}

void test_expect_run(const char *const *argv, int status,
                     const char *out_needle, const char *err_needle) {
  char *out = NULL, *err = NULL;
  int st =
      test_run_status(&(test_cmd_t){.argv = argv, .out = &out, .err = &err});

  test_expect_result(argv[0], st, status, out, err, out_needle, err_needle);
}

void test_expect_result(const char *what, int st, int status, char *out,
                        char *err, const char *out_needle,
                        const char *err_needle) {
  if (st != status)
    fprintf(stderr, "%s: exit %d\n%s\n%s\n", what, st, out ? out : "",
            err ? err : "");
  ASSERT_EQ(st, status);
  if (out_needle != NULL)
    ASSERT_STR_CONTAINS(out, out_needle);
  if (err_needle != NULL)
    ASSERT_STR_CONTAINS(err, err_needle);
  free(out);
  free(err);
}

void test_expect_text(const char *path, const char *needle, int ms,
                      const char *what) {
  char *text;

  if (test_wait_text(path, needle, ms) == 0)
    return;
  text = test_read_file(path, NULL);
  fprintf(stderr, "---- %s ----\n%s\n", path, text ? text : "(none)");
  free(text);
  test_fail(__FILE__, __LINE__, "%s (no \"%s\" after %d ms)", what, needle, ms);
}

int test_run_simple(const char *const *argv, char **out, char **err) {
  test_cmd_t c = {0};
  int st = -1;

  c.argv = argv;
  c.out = out;
  c.err = err;
  if (test_run(&c, &st) != 0)
    return -1;
  return st;
}

int test_spawn(const char *const *argv, const char *log) {
  pid_t pid = fork();

  if (pid < 0)
    return -errno;
  if (pid == 0) {
    int fd = open("/dev/null", O_RDONLY);
    dup2(fd, 0);
    if (log != NULL) {
      fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
    }
    for (fd = 3; fd < 1024; fd++)
      close(fd);
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], (char *const *)(uintptr_t)argv);
    _exit(127);
  }
  return pid;
}

void test_kill(int pid) {
  int st;
  uint64_t end;

  if (pid <= 0)
    return;
  kill(pid, SIGCONT);
  kill(pid, SIGTERM);
  end = test_now_ms() + 2000;
  while (test_now_ms() < end) {
    if (waitpid(pid, &st, WNOHANG) == pid)
      return;
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
}

/* 127.0.0.1:port as a socket address. */
static struct sockaddr_in loopback(int port) {
  struct sockaddr_in sa;

  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

/* A TCP socket bound to a free port of 127.0.0.1 (its port in *port), or
 * -1 with errno set. */
static int bind_free(int *port) {
  struct sockaddr_in sa = loopback(0);
  socklen_t len = sizeof(sa);
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  if (fd < 0)
    return -1;
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

int test_free_port(void) {
  int port = -1, fd = bind_free(&port);

  if (fd >= 0)
    close(fd);
  return fd >= 0 ? port : -1;
}

int test_listen_local(int backlog, int *port) {
  int fd = bind_free(port);

  if (fd < 0 || listen(fd, backlog) != 0)
    test_fail(__FILE__, __LINE__, "cannot listen on 127.0.0.1: %s",
              strerror(errno));
  return fd;
}

int test_connect_local(int port) {
  struct sockaddr_in sa = loopback(port);
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  if (fd < 0)
    return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* One connect attempt to sa within ms milliseconds; 0 when connected (and,
 * if asked, the peer sent "SSH-" within the same bound). */
static int try_connect(const struct sockaddr_in *sa, int ssh_banner, int ms) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct pollfd p;
  int ok = 0, err = 0;
  socklen_t elen = sizeof(err);

  if (fd < 0)
    return -1;
  if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0) {
    if (errno != EINPROGRESS)
      goto out;
    p.fd = fd;
    p.events = POLLOUT;
    p.revents = 0;
    if (poll(&p, 1, ms) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0)
      goto out;
  }
  if (!ssh_banner) {
    ok = 1;
  } else {
    char buf[8] = {0};
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    ok = poll(&p, 1, 2000) == 1 && read(fd, buf, 4) == 4 &&
         memcmp(buf, "SSH-", 4) == 0;
  }
out:
  close(fd);
  return ok ? 0 : -1;
}

int test_wait_addr(const char *addr, int port, int ssh_banner, int timeout_ms) {
  uint64_t end = test_now_ms() + (uint64_t)timeout_ms;
  struct sockaddr_in sa;

  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
    return -EINVAL;
  for (;;) {
    uint64_t now = test_now_ms();
    if (now >= end)
      break;
    if (try_connect(&sa, ssh_banner, (int)(end - now)) == 0)
      return 0;
    usleep(20000);
  }
  return -ETIMEDOUT;
}

int test_wait_port(int port, int ssh_banner, int timeout_ms) {
  return test_wait_addr("127.0.0.1", port, ssh_banner, timeout_ms);
}
