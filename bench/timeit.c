/* timeit.c -- the bench's stopwatch: runs commands and times each with a
 * blocking wait4() between two CLOCK_MONOTONIC readings, so a duration is
 * what the command took, not a poll interval (Python's subprocess.run
 * sleeps 1, 2, 4 ... ms between polls and rounds every duration up).
 *
 *   timeit rounds N SPEC OUT
 *       SPEC has one command per line: NAME TAB FEED TAB DRAIN TAB ARGV...
 *       (ARGV tab-separated).  FEED > 0 writes that many zero bytes to the
 *       command's stdin (else stdin is /dev/null); DRAIN = 1 reads and counts
 *       its stdout (else stdout is /dev/null).  The commands run interleaved,
 *       A B C A B C ..., N rounds.  OUT gets one line per run:
 *       ROUND NAME MS USER_S SYS_S STATUS STDOUT_BYTES
 *   timeit parallel N OUTDIR OUT ARGV...
 *       starts N copies at once ("{}" in ARGV becomes the copy's number),
 *       stdout of copy I to OUTDIR/I.out; reaps them with a blocking wait and
 *       writes I MS STATUS per copy to OUT.
 *
 * The user and system seconds are the child's own (and its children's),
 * from wait4's rusage. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CMDS 16
#define MAX_ARGS 64

typedef struct {
  char name[64];
  long long feed;
  int drain;
  char *argv[MAX_ARGS + 1];
} cmd_t;

static double now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what) {
  perror(what);
  exit(2);
}

static int parse_spec(const char *path, cmd_t *cmds) {
  FILE *f = fopen(path, "r");
  char line[8192];
  int n = 0;

  if (f == NULL)
    die(path);
  while (fgets(line, sizeof(line), f) != NULL && n < MAX_CMDS) {
    char *save = NULL, *tok;
    int field = 0, argc = 0;

    line[strcspn(line, "\n")] = '\0';
    if (line[0] == '\0' || line[0] == '#')
      continue;
    for (tok = strtok_r(line, "\t", &save); tok != NULL;
         tok = strtok_r(NULL, "\t", &save), field++) {
      if (field == 0)
        snprintf(cmds[n].name, sizeof(cmds[n].name), "%s", tok);
      else if (field == 1)
        cmds[n].feed = atoll(tok);
      else if (field == 2)
        cmds[n].drain = atoi(tok);
      else if (argc < MAX_ARGS)
        cmds[n].argv[argc++] = strdup(tok);
    }
    cmds[n].argv[argc] = NULL;
    if (argc == 0) {
      fprintf(stderr, "timeit: %s: a line without a command\n", path);
      exit(2);
    }
    n++;
  }
  fclose(f);
  return n;
}

static void child_exec(char *const *argv, int in_fd, int out_fd) {
  signal(SIGPIPE, SIG_DFL); /* an ignored signal would stay ignored */
  if (in_fd >= 0 && dup2(in_fd, 0) < 0)
    _exit(127);
  if (out_fd >= 0 && dup2(out_fd, 1) < 0)
    _exit(127);
  execvp(argv[0], argv);
  _exit(127);
}

/* One timed run of c: returns the milliseconds, fills the rest. */
static double run_one(const cmd_t *c, struct rusage *ru, int *status,
                      long long *outbytes) {
  static char zeros[65536], sink[65536];
  int in[2] = {-1, -1}, out[2] = {-1, -1}, devnull;
  double t0, t1;
  pid_t pid;

  devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0)
    die("/dev/null");
  if (c->feed > 0 && pipe2(in, O_CLOEXEC) != 0)
    die("pipe");
  if (c->drain && pipe2(out, O_CLOEXEC) != 0)
    die("pipe");
  *outbytes = 0;
  t0 = now_ms();
  pid = fork();
  if (pid < 0)
    die("fork");
  if (pid == 0)
    child_exec(c->argv, c->feed > 0 ? in[0] : devnull,
               c->drain ? out[1] : devnull);
  if (c->feed > 0)
    close(in[0]);
  if (c->drain)
    close(out[1]);
  if (c->feed > 0 && c->drain) {
    fprintf(stderr, "timeit: feed and drain at once is not supported\n");
    exit(2);
  }
  if (c->feed > 0) {
    long long left = c->feed;
    while (left > 0) {
      size_t n = left < (long long)sizeof(zeros) ? (size_t)left : sizeof(zeros);
      ssize_t w = write(in[1], zeros, n);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        break; /* the command went away; its status says why */
      left -= w;
    }
    close(in[1]);
  }
  if (c->drain) {
    for (;;) {
      ssize_t r = read(out[0], sink, sizeof(sink));
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      *outbytes += r;
    }
    close(out[0]);
  }
  while (wait4(pid, status, 0, ru) < 0)
    if (errno != EINTR)
      die("wait4");
  t1 = now_ms();
  close(devnull);
  return t1 - t0;
}

static double tv_s(struct timeval tv) {
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int cmd_rounds(int n, const char *spec, const char *outp) {
  cmd_t cmds[MAX_CMDS];
  int ncmds = parse_spec(spec, cmds);
  FILE *out = fopen(outp, "w");

  if (out == NULL)
    die(outp);
  for (int r = 0; r < n; r++) {
    for (int i = 0; i < ncmds; i++) {
      struct rusage ru;
      int st;
      long long ob;
      double ms = run_one(&cmds[i], &ru, &st, &ob);

      fprintf(out, "%d\t%s\t%.3f\t%.4f\t%.4f\t%d\t%lld\n", r, cmds[i].name, ms,
              tv_s(ru.ru_utime), tv_s(ru.ru_stime),
              WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), ob);
      fflush(out);
    }
  }
  fclose(out);
  return 0;
}

static int cmd_parallel(int n, const char *dir, const char *outp, char **argv) {
  pid_t *pids = calloc((size_t)n, sizeof(*pids));
  double *t0 = calloc((size_t)n, sizeof(*t0));
  FILE *out = fopen(outp, "w");
  int argc = 0, left = n;

  if (pids == NULL || t0 == NULL || out == NULL)
    die("parallel");
  while (argv[argc] != NULL)
    argc++;
  for (int i = 0; i < n; i++) {
    char path[4096], num[32], *av[MAX_ARGS + 1];
    int fd;

    snprintf(num, sizeof(num), "%d", i);
    for (int a = 0; a < argc && a < MAX_ARGS; a++) {
      const char *p = strstr(argv[a], "{}");
      if (p == NULL) {
        av[a] = argv[a];
        continue;
      }
      av[a] = malloc(strlen(argv[a]) + sizeof(num));
      if (av[a] == NULL)
        die("malloc");
      sprintf(av[a], "%.*s%s%s", (int)(p - argv[a]), argv[a], num, p + 2);
    }
    av[argc < MAX_ARGS ? argc : MAX_ARGS] = NULL;
    snprintf(path, sizeof(path), "%s/%d.out", dir, i);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
      die(path);
    t0[i] = now_ms();
    pids[i] = fork();
    if (pids[i] < 0)
      die("fork");
    if (pids[i] == 0) {
      int devnull = open("/dev/null", O_RDONLY);
      child_exec(av, devnull, fd);
    }
    close(fd);
    for (int a = 0; a < argc && a < MAX_ARGS; a++)
      if (av[a] != argv[a])
        free(av[a]);
  }
  while (left > 0) {
    int st;
    pid_t p = waitpid(-1, &st, 0);
    double t1 = now_ms();

    if (p < 0) {
      if (errno == EINTR)
        continue;
      die("waitpid");
    }
    for (int i = 0; i < n; i++)
      if (pids[i] == p) {
        fprintf(out, "%d\t%.3f\t%d\n", i, t1 - t0[i],
                WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        left--;
        break;
      }
  }
  fclose(out);
  free(pids);
  free(t0);
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc == 5 && strcmp(argv[1], "rounds") == 0)
    return cmd_rounds(atoi(argv[2]), argv[3], argv[4]);
  if (argc >= 6 && strcmp(argv[1], "parallel") == 0)
    return cmd_parallel(atoi(argv[2]), argv[3], argv[4], argv + 5);
  fprintf(stderr, "usage: timeit rounds N SPEC OUT\n"
                  "       timeit parallel N OUTDIR OUT ARGV...\n");
  return 2;
}
