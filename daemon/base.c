/* base.c -- the daemon's leaf: what main.c and every subcommand share and
 * what itself calls nothing else of the daemon's.  Four parts, in order of
 * dependence: error printing (sshmuxd_err), the paths every command agrees
 * on, the log file, and the options and set-up every subcommand takes
 * (--ssh-dir, --log-level, --help, the routes file).  Nothing here calls
 * into main.c or a command, so the daemon's files form a tree: main.c ->
 * commands -> util.c, targets.c -> base.c -> libsshmux.
 *
 * Paths: where sshmuxd's files live, decided in one place so every
 * subcommand agrees: the SSH directory (~/.ssh unless SSHMUX_SSH_DIR or
 * --ssh-dir says otherwise), the home directory that ~ means, and the XDG
 * config home for service files.  HOME and XDG_CONFIG_HOME are honoured
 * before the password database so tests (and users with unusual set-ups)
 * can run everything in a throwaway home.
 *
 * Log: <ssh dir>/sshmux.log, mode 0600, one line
 * per message ("TIME sshmuxd[PID] LEVEL: text"), rotated to sshmux.log.old
 * when the next line would take it past 5 MB, so at most two files and 10
 * MB are ever kept.  The library's messages arrive through
 * sshmux_set_log_cb(); they may come from auth worker threads, hence the
 * mutex.  Each line is one write() on an O_APPEND descriptor, so lines from
 * several sshmuxd processes never interleave.
 *
 * The fatal-signal handler (SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL) runs
 * on its own stack and uses only async-signal-safe calls: it writes a line
 * naming the signal (and, with glibc, a raw backtrace, whose machinery is
 * loaded in advance) to the log and to stderr, then re-raises the signal
 * with the default action so the process still dies with it (and dumps
 * core if so configured). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <mach-o/dyld.h>
#endif
#if defined(__GLIBC__)
#include <execinfo.h>
#endif

#include <uv.h>

#include "sshmuxd.h"

/* ---- errors ---- */

void sshmuxd_err(const char *fmt, ...) {
  va_list ap;

  fputs("sshmuxd: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* ---- paths ---- */

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

/* ---- the log file ---- */

#define LOG_MAX_DEFAULT (5 * 1024 * 1024)

static sshmux_log_level_t max_level = SSHMUX_LOG_INFO;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t log_fd = -1; /* read by the signal handler */
static char log_path[PATH_MAX], old_path[PATH_MAX];
static off_t log_size, log_max = LOG_MAX_DEFAULT;
static dev_t log_dev;
static ino_t log_ino;
static char altstack[64 * 1024];

void sshmuxd_log_set_level(sshmux_log_level_t level) {
  max_level = level;
}
sshmux_log_level_t sshmuxd_log_level(void) {
  return max_level;
}

/* Open (creating 0600) the log; caller holds the lock. */
static int reopen(void) {
  struct stat st;
  int fd;

  if (log_fd >= 0) {
    close(log_fd);
    log_fd = -1;
  }
  fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
            0600);
  if (fd < 0)
    return -errno;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != getuid()) {
    close(fd);
    return SSHMUX_EPERM;
  }
  if ((st.st_mode & 077) != 0)
    fchmod(fd, 0600);
  log_size = st.st_size;
  log_dev = st.st_dev;
  log_ino = st.st_ino;
  log_fd = fd;
  return 0;
}

/* Before writing n more bytes: rotate if they would pass the limit, unless
 * another process rotated already (then just follow it to the new file). */
static void maybe_rotate(size_t n) {
  struct stat st;

  if (log_fd < 0 || log_size == 0 || log_size + (off_t)n <= log_max)
    return;
  if (lstat(log_path, &st) == 0 &&
      (st.st_dev != log_dev || st.st_ino != log_ino)) {
    reopen();
    if (log_size + (off_t)n <= log_max)
      return;
  }
  if (rename(log_path, old_path) != 0 && errno != ENOENT)
    return; /* keep appending rather than lose messages */
  reopen();
}

static void emit(sshmux_log_level_t level, const char *msg) {
  char line[1200], stamp[32];
  struct tm tm;
  time_t now = time(NULL);
  size_t n, i, head;
  int r;

  if (gmtime_r(&now, &tm) == NULL ||
      strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    strcpy(stamp, "-");
  r = snprintf(line, sizeof(line), "%s sshmuxd[%ld] %s: ", stamp,
               (long)getpid(), sshmux_log_level_name(level));
  if (r < 0)
    return;
  head = (size_t)r;
  r = snprintf(line + head, sizeof(line) - head - 1, "%s", msg);
  n = head;
  if (r > 0)
    n += (size_t)r < sizeof(line) - head - 2 ? (size_t)r
                                             : sizeof(line) - head - 2;
  for (i = head; i < n; i++)
    if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
      line[i] = '?';
  line[n++] = '\n';
  pthread_mutex_lock(&lock);
  maybe_rotate(n);
  if (log_fd >= 0) {
    ssize_t w = write(log_fd, line, n);
    if (w > 0)
      log_size += w;
  } else if (level <= SSHMUX_LOG_WARN) {
    /* No file: errors and warnings must still be seen somewhere. */
    fwrite(line, 1, n, stderr);
  }
  pthread_mutex_unlock(&lock);
}

static void lib_log_cb(sshmux_log_level_t level, const char *msg, void *data) {
  (void)data;
  emit(level, msg);
}

void sshmuxd_log(sshmux_log_level_t level, const char *fmt, ...) {
  char msg[1024];
  va_list ap;

  if (level > max_level)
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  emit(level, msg);
}

/* ---- fatal signals ---- */

static size_t put_str(char *buf, size_t off, size_t size, const char *s) {
  while (*s != '\0' && off + 1 < size)
    buf[off++] = *s++;
  return off;
}

static size_t put_uint(char *buf, size_t off, size_t size, unsigned long v) {
  char tmp[24];
  size_t n = 0;

  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0 && off + 1 < size)
    buf[off++] = tmp[--n];
  return off;
}

static const char *signame(int sig) {
  switch (sig) {
  case SIGSEGV:
    return "SIGSEGV";
  case SIGBUS:
    return "SIGBUS";
  case SIGABRT:
    return "SIGABRT";
  case SIGFPE:
    return "SIGFPE";
  case SIGILL:
    return "SIGILL";
  default:
    return "signal";
  }
}

static void write_all(int fd, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w <= 0) {
      if (w < 0 && errno == EINTR)
        continue;
      return;
    }
    buf += w;
    n -= (size_t)w;
  }
}

static void fatal_handler(int sig) {
  int saved = errno, fd = log_fd;
  struct sigaction sa;
  char buf[160];
  size_t n = 0;

  n = put_str(buf, n, sizeof(buf), "sshmuxd[");
  n = put_uint(buf, n, sizeof(buf), (unsigned long)getpid());
  n = put_str(buf, n, sizeof(buf), "] fatal: ");
  n = put_str(buf, n, sizeof(buf), signame(sig));
  n = put_str(buf, n, sizeof(buf), " (signal ");
  n = put_uint(buf, n, sizeof(buf), (unsigned long)sig);
  n = put_str(buf, n, sizeof(buf), "), the process dies now\n");
  if (fd >= 0)
    write_all(fd, buf, n);
  write_all(2, buf, n);
#if defined(__GLIBC__)
  if (fd >= 0) {
    void *frames[48];
    int nf = backtrace(frames, 48);
    backtrace_symbols_fd(frames, nf, fd);
  }
#endif
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
  errno = saved;
  raise(sig);
}

static void install_fatal_handlers(void) {
  static const int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
  struct sigaction sa;
  stack_t ss;
  size_t i;

#if defined(__GLIBC__)
  {
    /* backtrace() loads libgcc on first use, which allocates: do it now,
     * not in the handler. */
    void *frames[2];
    (void)backtrace(frames, 2);
  }
#endif
  ss.ss_sp = altstack;
  ss.ss_size = sizeof(altstack);
  ss.ss_flags = 0;
  sigaltstack(&ss, NULL); /* so a stack overflow can still be reported */
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = fatal_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
  for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
    sigaction(sigs[i], &sa, NULL);
}

int sshmuxd_log_open(void) {
  const char *env = getenv("SSHMUX_LOG_MAX_BYTES");
  int r;

  if (env != NULL && *env != '\0') {
    char *end;
    long long v = strtoll(env, &end, 10);
    if (*end == '\0' && v >= 64)
      log_max = (off_t)v;
  }
  install_fatal_handlers();
  sshmux_set_log_cb(lib_log_cb, max_level, NULL);
  if (sshmuxd_join(log_path, sizeof(log_path), sshmuxd_ssh_dir(),
                   "sshmux.log") != 0 ||
      sshmuxd_join(old_path, sizeof(old_path), sshmuxd_ssh_dir(),
                   "sshmux.log.old") != 0)
    return SSHMUX_ETOOLONG;
  r = sshmux_path_check_symlinks(log_path);
  if (r == 0 || r == UV_ENOENT) {
    pthread_mutex_lock(&lock);
    r = reopen();
    pthread_mutex_unlock(&lock);
  }
  /* A missing SSH dir is not worth a warning: the command says so itself
   * if it needs the directory. */
  if (r != 0 && r != UV_ENOENT)
    sshmuxd_err("not logging to %s: %s", log_path, sshmux_strerror(r));
  return r;
}

void sshmuxd_log_close(void) {
  pthread_mutex_lock(&lock);
  sshmux_set_log_cb(NULL, SSHMUX_LOG_ERROR, NULL);
  if (log_fd >= 0) {
    close(log_fd);
    log_fd = -1;
  }
  pthread_mutex_unlock(&lock);
}

/* ---- options and set-up every subcommand shares ---- */

int sshmuxd_common_option(int c, const char *arg) {
  sshmux_log_level_t level;

  switch (c) {
  case OPT_SSH_DIR:
    if (arg[0] == '\0') {
      sshmuxd_err("--ssh-dir: empty path");
      return SSHMUXD_EXIT_USAGE;
    }
    sshmuxd_paths_set_ssh_dir(arg);
    return 0;
  case OPT_LOG_LEVEL:
    if (sshmux_log_level_parse(arg, &level) != 0) {
      sshmuxd_err("--log-level: unknown level '%s' (error, warn, info, "
                  "debug, trace)",
                  arg);
      return SSHMUXD_EXIT_USAGE;
    }
    sshmuxd_log_set_level(level);
    return 0;
  case OPT_HELP:
  case 'h':
    return 1;
  case '?':
    return SSHMUXD_EXIT_USAGE; /* getopt printed why */
  default:
    return -1;
  }
}

int sshmuxd_parse_args(int argc, char **argv, const char *shortopts,
                       const struct option *opts,
                       int (*fn)(int c, const char *arg, void *ctx),
                       void (*cmd_usage)(FILE *f, void *ctx), void *ctx) {
  int c, r;

  optind = 1;
  while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
    r = sshmuxd_common_option(c, optarg);
    if (r < 0)
      r = fn(c, optarg, ctx);
    if (r == 1) {
      cmd_usage(stdout, ctx);
      return -1;
    }
    if (r != 0)
      return r;
  }
  if (optind < argc) {
    sshmuxd_err("%s: unexpected argument '%s'", argv[0], argv[optind]);
    return SSHMUXD_EXIT_USAGE;
  }
  return sshmuxd_paths_init() == 0 ? 0 : SSHMUXD_EXIT_FAIL;
}

int sshmuxd_parse_port(const char *arg, int *port) {
  char *end;
  long v = strtol(arg, &end, 10);

  if (*arg == '\0' || *end != '\0' || v < 1 || v > 65535) {
    sshmuxd_err("--port: expected 1-65535, got '%s'", arg);
    return SSHMUXD_EXIT_USAGE;
  }
  *port = (int)v;
  return 0;
}

int sshmuxd_load_routes(const char *config, char *path, size_t size,
                        sshmux_routes_t **routes) {
  char err[SSHMUX_ROUTES_ERR_MAX];
  int r;

  if (config == NULL) {
    if (sshmuxd_default_routes(path, size) != 0)
      return SSHMUXD_EXIT_FAIL;
  } else if ((size_t)snprintf(path, size, "%s", config) >= size) {
    sshmuxd_err("path too long: %s", config);
    return SSHMUXD_EXIT_FAIL;
  }
  r = sshmux_routes_load(routes, path, sshmuxd_home(), err, sizeof(err));
  if (r != 0) {
    sshmuxd_err("%s", err);
    if (r == UV_ENOENT && config == NULL)
      sshmuxd_err("write your routes there first (format: man sshmuxd, "
                  "ROUTES FILE), or name another file with --config");
    return SSHMUXD_EXIT_FAIL;
  }
  return 0;
}
