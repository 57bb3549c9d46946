/* runner.c -- the one test runner for the whole suite.
 *
 * Every test registered with TEST_IMPL runs in its own child process, in
 * its own fresh temporary directory, with its own timeout, stdout and stderr
 * captured to a log that is shown only when the test fails.  -j N runs N
 * tests at once.  The output is TAP-like per test and ends with the line
 * "N passed, N failed[, N skipped]"; the exit status is non-zero when any test
 * failed.  A skip is never counted as a pass.
 *
 *   run-tests [-j N] [-l] [-v] [substring ...]
 *
 * Environment: SSHMUX_TEST_TIMEOUT_SCALE multiplies every timeout (e.g. 3
 * under sanitizers), SSHMUX_KEEP_TMP=1 keeps the temporary directories. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define X(name, timeout, file) int run_test_##name(void);
#include "list.h"
#undef X

typedef struct {
  const char *name;
  int (*fn)(void);
  int timeout; /* seconds, 0 = default */
  const char *file;
} test_entry;

static const test_entry tests[] = {
#define X(name, timeout, file) {#name, run_test_##name, timeout, file},
#include "list.h"
#undef X
    {NULL, NULL, 0, NULL}};

#define DEFAULT_TIMEOUT 60

typedef struct {
  const test_entry *t;
  pid_t pid;
  uint64_t start;
  uint64_t deadline;
  char dir[512];
  char log[600];
} running_t;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int rm_cb(const char *path, const struct stat *st, int flag,
                 struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

static void rm_rf(const char *dir) {
  nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void print_log(const char *path) {
  FILE *f = fopen(path, "r");
  char line[4096];
  int n = 0;

  if (f == NULL)
    return;
  while (fgets(line, sizeof(line), f) != NULL && n < 400) {
    size_t l = strlen(line);
    if (l && line[l - 1] == '\n')
      line[l - 1] = '\0';
    printf("#   %s\n", line);
    n++;
  }
  if (n == 400)
    printf("#   ... (log truncated)\n");
  fclose(f);
}

static pid_t start_test(running_t *r, const char *root, double scale) {
  const test_entry *t = r->t;
  pid_t pid;
  int timeout = t->timeout ? t->timeout : DEFAULT_TIMEOUT;

  snprintf(r->dir, sizeof(r->dir), "%s/%s", root, t->name);
  snprintf(r->log, sizeof(r->log), "%s/%s.log", root, t->name);
  if (mkdir(r->dir, 0700) != 0 && errno != EEXIST) {
    perror("mkdir");
    return -1;
  }
  fflush(stdout);
  pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    int fd;
    setpgid(0, 0);
    fd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
      dup2(fd, 0);
      close(fd);
    }
    if (chdir(r->dir) != 0)
      _exit(1);
    setenv("TMPDIR", r->dir, 1);
    setenv("SSHMUX_TEST_DIR", r->dir, 1);
    /* Every daemon a test starts gets its own control socket (there is
     * one sshmuxd per user, decided by the socket's directory). */
    setenv("XDG_RUNTIME_DIR", r->dir, 1);
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    exit(t->fn());
  }
  setpgid(pid, pid);
  r->pid = pid;
  r->start = now_ms();
  r->deadline = r->start + (uint64_t)(timeout * scale * 1000.0);
  return pid;
}

int main(int argc, char **argv) {
  int jobs = 1, list = 0, verbose = 0, i, nsel = 0;
  int passed = 0, failed = 0, skipped = 0, done = 0, next = 0;
  const char *scale_env = getenv("SSHMUX_TEST_TIMEOUT_SCALE");
  double scale = scale_env ? atof(scale_env) : 1.0;
  const test_entry **sel;
  running_t *run;
  char root[] = "/tmp/sshmux-tests.XXXXXX";
  const char *tmp_env = getenv("TMPDIR");
  char rootbuf[512];
  char *rootdir;
  int opt;

  if (scale <= 0)
    scale = 1.0;
  /* Tests find the build (daemon, examples, the .so) through SSHMUX_BUILD;
   * default to the directory above this runner (build/tests/run-tests). */
  if (getenv("SSHMUX_BUILD") == NULL) {
    char self[1024];
    char *slash;
    if (realpath(argv[0], self) != NULL) {
      for (int k = 0; k < 2 && (slash = strrchr(self, '/')) != NULL; k++)
        *slash = '\0';
      setenv("SSHMUX_BUILD", self, 1);
    }
  }
  while ((opt = getopt(argc, argv, "j:lv")) != -1) {
    switch (opt) {
    case 'j':
      jobs = atoi(optarg);
      break;
    case 'l':
      list = 1;
      break;
    case 'v':
      verbose = 1;
      break;
    default:
      fprintf(stderr, "usage: %s [-j N] [-l] [-v] [filter...]\n", argv[0]);
      return 2;
    }
  }
  if (jobs < 1)
    jobs = 1;
  sel = calloc(sizeof(tests) / sizeof(tests[0]), sizeof(*sel));
  run = calloc((size_t)jobs, sizeof(*run));
  if (sel == NULL || run == NULL)
    return 2;
  for (i = 0; tests[i].name != NULL; i++) {
    int keep = optind >= argc;
    for (int k = optind; k < argc; k++)
      if (strstr(tests[i].name, argv[k]) || strstr(tests[i].file, argv[k]))
        keep = 1;
    if (keep)
      sel[nsel++] = &tests[i];
  }
  if (list) {
    for (i = 0; i < nsel; i++)
      printf("%s (%s)\n", sel[i]->name, sel[i]->file);
    free(sel);
    free(run);
    return 0;
  }
  if (tmp_env != NULL && *tmp_env) {
    snprintf(rootbuf, sizeof(rootbuf), "%s/sshmux-tests.XXXXXX", tmp_env);
    rootdir = mkdtemp(rootbuf);
  } else {
    rootdir = mkdtemp(root);
  }
  if (rootdir == NULL) {
    perror("mkdtemp");
    free(sel);
    free(run);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  printf("1..%d\n", nsel);
  fflush(stdout);

  while (done < nsel) {
    int active = 0;
    for (int j = 0; j < jobs; j++) {
      if (run[j].pid == 0 && next < nsel) {
        run[j].t = sel[next++];
        if (start_test(&run[j], rootdir, scale) < 0) {
          printf("not ok %d - %s # could not start\n", ++done, run[j].t->name);
          failed++;
          run[j].pid = 0;
          continue;
        }
      }
      if (run[j].pid != 0)
        active++;
    }
    if (active == 0)
      continue;
    for (int j = 0; j < jobs; j++) {
      running_t *r = &run[j];
      int status, res;
      pid_t w;
      const char *why = NULL;
      uint64_t t;

      if (r->pid == 0)
        continue;
      w = waitpid(r->pid, &status, WNOHANG);
      t = now_ms();
      if (w == 0 && t < r->deadline)
        continue;
      if (w == 0) {
        kill(-r->pid, SIGKILL);
        waitpid(r->pid, &status, 0);
        why = "timeout";
        res = 1;
      } else if (WIFEXITED(status)) {
        res = WEXITSTATUS(status);
      } else {
        res = 1;
        why = strsignal(WTERMSIG(status));
      }
      /* Anything the test left running in its process group goes too. */
      kill(-r->pid, SIGKILL);
      done++;
      if (res == 0) {
        passed++;
        printf("ok %d - %s (%.2fs)\n", done, r->t->name, (t - r->start) / 1e3);
        if (verbose)
          print_log(r->log);
      } else if (res == TEST_SKIP && why == NULL) {
        skipped++;
        printf("ok %d - %s # SKIP\n", done, r->t->name);
        print_log(r->log);
      } else {
        failed++;
        printf("not ok %d - %s (%.2fs)%s%s\n", done, r->t->name,
               (t - r->start) / 1e3, why ? " # " : "", why ? why : "");
        print_log(r->log);
      }
      fflush(stdout);
      if (getenv("SSHMUX_KEEP_TMP") == NULL)
        rm_rf(r->dir);
      r->pid = 0;
    }
    usleep(5000);
  }
  if (getenv("SSHMUX_KEEP_TMP") == NULL)
    rm_rf(rootdir);
  else
    printf("# kept %s\n", rootdir);
  if (skipped)
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  else
    printf("%d passed, %d failed\n", passed, failed);
  free(sel);
  free(run);
  return failed ? 1 : 0;
}
