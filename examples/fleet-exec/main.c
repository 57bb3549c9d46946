/* fleet-exec -- run one command on many hosts at once over libsshmux's pool,
 * pssh-style, for people who script fleets.
 *
 *   fleet-exec [options] HOST... -- COMMAND
 *
 * HOST is a route of the routes file (--routes, default
 * ~/.ssh/sshmux-routes.ini) or user@host[:port] (reached directly, or
 * through --via user@jump[:port]; logins use --identity, the agent, or ask).
 * Each host gets one "session" channel from the pool, runs COMMAND with
 * stdin at EOF, and is reported when it ends:
 *
 *   [2] 12:00:01 [SUCCESS] web1 0.21s exit 0
 *   [3] 12:00:01 [FAILURE] web2 0.25s exit 3
 *
 * --inline prints each host's output under its line, --rounds N runs the
 * whole fleet N times in this one process: the pool keeps every upstream
 * connection, so round 2 costs no new TCP connection and no login (the
 * summary line shows the pool's connection count).  At most --parallel
 * hosts run at once; --timeout bounds each.  On a terminal, stderr carries a
 * progress line while hosts run (paused while a prompt is on screen).
 * Questions the logins ask (OTP, passphrase, unknown host key) are asked on
 * this terminal, one at a time, while the other hosts keep running.
 *
 * Exit status: 0 if every host ran and exited 0, 1 if some host failed or
 * exited non-zero, 2 for bad usage.
 *
 * The routes for user@host arguments are built in memory; everything runs
 * on one libuv loop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "common/common.h"

#define MAX_HOSTS 1024
#define MAX_OUTPUT (64 * 1024) /* kept per host for --inline */

typedef struct {
  const char *name; /* as given on the command line */
  const sshmux_route_t *route;
  route_targets_t targets;
  const sshmux_target_t *target;
  sshmux_upchan_t *ch;
  uv_timer_t timer; /* --timeout */
  int timer_init;
  uint64_t start_ms, end_ms;
  int exit_status; /* -1 while unknown */
  char signal[32];
  char error[160]; /* why it did not run to the end, "" if it did */
  char *out;       /* --inline: stdout and stderr, interleaved */
  size_t out_len;
  int truncated, done;
} host_t;

static struct {
  uv_loop_t *loop;
  sshmux_pool_t *pool;
  sshmux_routes_t *routes; /* from the file */
  sshmux_routes_t *adhoc;  /* built in memory for user@host arguments */
  uv_signal_t sigint;
  uv_timer_t progress;
  host_t *hosts;
  size_t nhosts, next, running, finished, failed;
  const char *command;
  unsigned parallel, timeout_s, rounds, round;
  int inline_out, tty, interrupted, any_failed;
  uint64_t round_start;
} F;

static uint64_t now_ms(void) {
  return uv_hrtime() / 1000000u;
}

static void start_more(void);
static void round_done(void);

/* ---- the progress line -------------------------------------------------- */

static void progress_clear(void) {
  if (F.tty)
    fputs("\r\033[K", stderr);
}

static void progress_show(void) {
  if (!F.tty || prompter_pending() > 0)
    return; /* a question is on screen: do not write over it */
  fprintf(stderr, "\r\033[K[round %u/%u] %zu/%zu done, %zu running, %zu failed",
          F.round + 1, F.rounds, F.finished, F.nhosts, F.running, F.failed);
  fflush(stderr);
}

static void on_progress(uv_timer_t *t) {
  (void)t;
  progress_show();
}

/* ---- one host ----------------------------------------------------------- */

static void print_result(host_t *h) {
  char when[16];
  time_t t = time(NULL);
  struct tm tm;
  int ok = h->error[0] == '\0' && h->exit_status == 0 && h->signal[0] == '\0';

  strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&t, &tm));
  progress_clear();
  printf("[%zu] %s [%s] %s %.2fs ", F.finished, when,
         ok ? "SUCCESS" : "FAILURE", h->name,
         (double)(h->end_ms - h->start_ms) / 1000.0);
  if (h->error[0] != '\0')
    printf("error: %s\n", h->error);
  else if (h->signal[0] != '\0')
    printf("killed by signal %s\n", h->signal);
  else
    printf("exit %d\n", h->exit_status);
  if (F.inline_out && h->out_len > 0) {
    /* Remote bytes: printed as they came (this is what the user asked to
     * see), but a terminal gets no escape sequences from a remote host. */
    for (size_t i = 0; i < h->out_len; i++) {
      unsigned char c = (unsigned char)h->out[i];
      if (F.tty && c < 0x20 && c != '\n' && c != '\t')
        printf("\\x%02x", c);
      else
        putchar(c);
    }
    if (h->out[h->out_len - 1] != '\n')
      putchar('\n');
    if (h->truncated)
      printf("[output truncated at %d bytes]\n", MAX_OUTPUT);
  }
  fflush(stdout);
  if (!ok)
    F.failed++, F.any_failed = 1;
}

static void timer_closed(uv_handle_t *t) {
  (void)t;
}

/* The host is over, one way or another: report it once and go on. */
static void host_finish(host_t *h, const char *error) {
  if (h->done)
    return;
  h->done = 1;
  h->end_ms = now_ms();
  if (error != NULL)
    snprintf(h->error, sizeof(h->error), "%s", error);
  if (h->timer_init)
    uv_timer_stop(&h->timer);
  if (h->ch != NULL) {
    sshmux_upchan_close(h->ch, NULL);
    h->ch = NULL;
  }
  F.running--;
  F.finished++;
  print_result(h);
  if (F.finished == F.nhosts)
    round_done();
  else
    start_more();
}

static void on_data(sshmux_upchan_t *ch, int stream, const char *buf,
                    size_t len) {
  host_t *h = sshmux_upchan_get_data(ch);

  (void)stream;
  if (!F.inline_out)
    return;
  if (h->out == NULL && (h->out = malloc(MAX_OUTPUT)) == NULL) {
    h->truncated = 1;
    return;
  }
  if (len > MAX_OUTPUT - h->out_len) {
    len = MAX_OUTPUT - h->out_len;
    h->truncated = 1;
  }
  memcpy(h->out + h->out_len, buf, len);
  h->out_len += len;
}

static void on_closed(sshmux_upchan_t *ch, int status) {
  host_t *h = sshmux_upchan_get_data(ch);
  const char *sig;

  if (status != 0) {
    host_finish(h, sshmux_upchan_last_error(ch));
    return;
  }
  h->exit_status = sshmux_upchan_exit_status(ch);
  if ((sig = sshmux_upchan_exit_signal(ch)) != NULL)
    snprintf(h->signal, sizeof(h->signal), "%s", sig);
  host_finish(h, NULL);
}

static void on_exec(sshmux_upchan_t *ch, int status, void *data) {
  host_t *h = data;

  (void)ch;
  if (status != 0 && !h->done)
    host_finish(h, sshmux_strerror(status));
}

static void on_open(sshmux_upchan_t *ch, int status) {
  host_t *h = sshmux_upchan_get_data(ch);
  int rc;

  if (status != 0) {
    h->ch = NULL; /* freed by the library after this returns */
    host_finish(h, sshmux_strerror(status));
    return;
  }
  /* The command, then EOF on its stdin: it runs with nothing to read. */
  if ((rc = sshmux_upchan_exec(ch, F.command, on_exec, h)) != 0 ||
      (rc = sshmux_upchan_send_eof(ch)) != 0)
    host_finish(h, sshmux_strerror(rc));
}

static void on_timeout(uv_timer_t *t) {
  host_t *h = t->data;
  char why[64];

  snprintf(why, sizeof(why), "timed out after %us", F.timeout_s);
  host_finish(h, why);
}

static void host_start(host_t *h) {
  static const sshmux_upchan_callbacks_t cbs = {.on_data = on_data,
                                                .on_closed = on_closed};
  sshmux_upchan_spec_t spec = {.type = SSHMUX_UPCHAN_SESSION};
  int rc;

  free(h->out);
  h->out = NULL;
  h->out_len = 0;
  h->truncated = h->done = 0;
  h->exit_status = -1;
  h->signal[0] = h->error[0] = '\0';
  h->start_ms = now_ms();
  F.running++;
  if (F.timeout_s > 0) {
    if (!h->timer_init) {
      uv_timer_init(F.loop, &h->timer);
      h->timer.data = h;
      h->timer_init = 1;
    }
    uv_timer_start(&h->timer, on_timeout, (uint64_t)F.timeout_s * 1000, 0);
  }
  rc = sshmux_pool_open_channel(F.pool, h->target, &spec, &cbs, h, on_open,
                                &h->ch);
  if (rc != 0) { /* the callback will not run */
    h->ch = NULL;
    host_finish(h, sshmux_strerror(rc));
  }
}

static void start_more(void) {
  while (!F.interrupted && F.next < F.nhosts && F.running < F.parallel)
    host_start(&F.hosts[F.next++]);
  if (F.interrupted && F.running == 0 && F.next < F.nhosts) {
    /* Interrupted: the hosts never started count as failed. */
    while (F.next < F.nhosts) {
      host_t *h = &F.hosts[F.next++];
      h->start_ms = now_ms();
      F.running++;
      host_finish(h, "not started (interrupted)");
    }
  }
  progress_show();
}

/* ---- rounds and shutdown ------------------------------------------------ */

static void pool_closed(sshmux_pool_t *p, void *data) {
  (void)p, (void)data;
  uv_close((uv_handle_t *)&F.sigint, NULL);
  uv_close((uv_handle_t *)&F.progress, NULL);
  for (size_t i = 0; i < F.nhosts; i++)
    if (F.hosts[i].timer_init)
      uv_close((uv_handle_t *)&F.hosts[i].timer, timer_closed);
}

static void shutdown_all(void) {
  uv_timer_stop(&F.progress);
  prompter_stop();
  sshmux_pool_close(F.pool, pool_closed, NULL);
}

static void round_done(void) {
  sshmux_pool_stats_t st;
  size_t nconn = 0;

  (void)sshmux_pool_stats(F.pool, &st, NULL, 0, &nconn);
  progress_clear();
  printf("round %u: %zu hosts, %zu failed, %.2fs; pool: %u connections, %llu "
         "connects, %llu logins\n",
         F.round + 1, F.nhosts, F.failed,
         (double)(now_ms() - F.round_start) / 1000.0, st.connections,
         (unsigned long long)st.connects, (unsigned long long)st.logins);
  fflush(stdout);
  if (++F.round < F.rounds && !F.interrupted) {
    F.next = F.finished = F.failed = 0;
    F.round_start = now_ms();
    start_more();
    return;
  }
  shutdown_all();
}

static void on_sigint(uv_signal_t *s, int sig) {
  (void)sig;
  if (F.interrupted++) {
    uv_signal_stop(s);
    return;
  }
  /* No new hosts; the running ones are stopped where they are. */
  for (size_t i = 0; i < F.nhosts; i++)
    if (F.hosts[i].ch != NULL && !F.hosts[i].done)
      host_finish(&F.hosts[i], "interrupted");
}

/* ---- command line ------------------------------------------------------- */

static int usage(FILE *f, int rc) {
  fprintf(f,
          "usage: fleet-exec [options] HOST... -- COMMAND\n"
          "\n"
          "Run COMMAND on every HOST in parallel over pooled SSH connections\n"
          "and print each host's exit status and time.\n"
          "\n"
          "HOST is a route name from the routes file or user@host[:port].\n"
          "\n"
          "  --routes FILE       routes file (default "
          "~/.ssh/sshmux-routes.ini;\n"
          "                      only read when a HOST is a route name)\n"
          "  --via USER@JUMP[:PORT]  jump host for user@host HOSTs\n"
          "  --identity FILE     key for user@host HOSTs and --via\n"
          "  --known-hosts FILE  known_hosts to check (repeatable; default\n"
          "                      ~/.ssh/known_hosts)\n"
          "  --parallel N        hosts at once (default 32)\n"
          "  --timeout S         per host, seconds (default 0 = none)\n"
          "  --rounds N          run the whole fleet N times, reusing the\n"
          "                      connections (default 1)\n"
          "  -i, --inline        print each host's output after its line\n"
          "  --help              this text\n"
          "\n"
          "Exit status: 0 all hosts exited 0, 1 some failed, 2 usage.\n");
  return rc;
}

static int num_arg(const char *v, unsigned lo, unsigned hi, unsigned *out) {
  char *end;
  unsigned long n;

  errno = 0;
  n = strtoul(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi)
    return -1;
  *out = (unsigned)n;
  return 0;
}

int main(int argc, char **argv) {
  const char *routes_path = NULL, *via = NULL, *identity = NULL;
  const char *known_hosts[9] = {NULL};
  char default_routes[4096], identity_abs[4096], err[SSHMUX_ROUTES_ERR_MAX];
  size_t nkh = 0, first_host = 0, nargs = 0;
  sshmux_pool_options_t popts;
  int i, rc, need_file = 0;

  F.parallel = 32;
  F.rounds = 1;
  for (i = 1; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(k, "--help") == 0 || strcmp(k, "-h") == 0)
      return usage(stdout, 0);
    if (strcmp(k, "--") == 0)
      break;
    if (strcmp(k, "-i") == 0 || strcmp(k, "--inline") == 0) {
      F.inline_out = 1;
      continue;
    }
    if (k[0] != '-') { /* a HOST */
      if (nargs++ == 0)
        first_host = (size_t)i;
      continue;
    }
    if (v == NULL)
      return usage(stderr, 2);
    i++;
    if (strcmp(k, "--routes") == 0)
      routes_path = v;
    else if (strcmp(k, "--via") == 0)
      via = v;
    else if (strcmp(k, "--identity") == 0)
      identity = v;
    else if (strcmp(k, "--known-hosts") == 0 && nkh < 8)
      known_hosts[nkh++] = v;
    else if (strcmp(k, "--parallel") == 0 &&
             num_arg(v, 1, MAX_HOSTS, &F.parallel) == 0)
      ;
    else if (strcmp(k, "--timeout") == 0 &&
             num_arg(v, 0, 86400, &F.timeout_s) == 0)
      ;
    else if (strcmp(k, "--rounds") == 0 && num_arg(v, 1, 1000, &F.rounds) == 0)
      ;
    else
      return usage(stderr, 2);
  }
  if (i + 1 >= argc || nargs == 0 || nargs > MAX_HOSTS)
    return usage(stderr, 2);
  F.command = argv[i + 1];
  if (i + 2 < argc) {
    fprintf(stderr, "fleet-exec: give COMMAND as one argument (quote it)\n");
    return 2;
  }
  if (identity != NULL && realpath(identity, identity_abs) == NULL) {
    fprintf(stderr, "fleet-exec: %s: %s\n", identity, strerror(errno));
    return 2;
  }
  if (identity != NULL)
    identity = identity_abs;

  signal(SIGPIPE, SIG_IGN); /* the pool writes to sockets and socketpairs */
  if ((rc = sshmux_init()) != 0) {
    fprintf(stderr, "fleet-exec: init: %s\n", sshmux_strerror(rc));
    return 1;
  }
  if ((F.hosts = calloc(nargs, sizeof(host_t))) == NULL) {
    fprintf(stderr, "fleet-exec: out of memory\n");
    return 1;
  }
  for (i = (int)first_host; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (argv[i][0] == '-') { /* an option and its value */
      if (strcmp(argv[i], "-i") != 0 && strcmp(argv[i], "--inline") != 0)
        i++;
      continue;
    }
    F.hosts[F.nhosts++].name = argv[i];
    if (strchr(argv[i], '@') == NULL)
      need_file = 1;
  }

  /* Route names come from the file; user@host HOSTs get in-memory routes,
   * validated like the file's (so the same mistakes get the same words). */
  if (need_file) {
    if (routes_path == NULL) {
      const char *home = getenv("HOME");
      snprintf(default_routes, sizeof(default_routes),
               "%s/.ssh/sshmux-routes.ini", home != NULL ? home : "");
      routes_path = default_routes;
    }
    if ((rc = sshmux_routes_load(&F.routes, routes_path, getenv("HOME"), err,
                                 sizeof(err))) != 0) {
      fprintf(stderr, "fleet-exec: %s\n", err);
      return 1;
    }
  }
  if ((rc = sshmux_routes_new(&F.adhoc, "command line", getenv("HOME"))) != 0 ||
      (via != NULL && routes_add_hop(F.adhoc, 1, "via", via, identity, NULL, 0,
                                     "fleet-exec") != 0)) {
    if (rc != 0)
      fprintf(stderr, "fleet-exec: %s\n", sshmux_strerror(rc));
    return 1;
  }
  for (size_t h = 0; h < F.nhosts; h++) {
    host_t *ho = &F.hosts[h];
    if (strchr(ho->name, '@') != NULL) {
      char name[32];
      snprintf(name, sizeof(name), "host%zu", h);
      if (routes_add_hop(F.adhoc, 0, name, ho->name, identity,
                         via != NULL ? "via" : NULL, (int)h + 1,
                         "fleet-exec") != 0)
        return 1;
      ho->route = sshmux_routes_find(F.adhoc, name);
    } else if ((ho->route = sshmux_routes_find(F.routes, ho->name)) == NULL) {
      fprintf(stderr, "fleet-exec: %s: no such route in %s\n", ho->name,
              routes_path);
      return 1;
    }
  }
  for (size_t h = 0; h < F.nhosts; h++) {
    host_t *ho = &F.hosts[h];
    if ((ho->target = route_targets(&ho->targets, ho->route)) == NULL) {
      fprintf(stderr, "fleet-exec: %s: chain too long\n", ho->name);
      return 1;
    }
  }

  F.loop = uv_default_loop();
  F.tty = isatty(2);
  sshmux_pool_options_init(&popts);
  popts.known_hosts = nkh > 0 ? known_hosts : NULL;
  if ((rc = sshmux_pool_new(F.loop, &popts, &F.pool)) != 0) {
    fprintf(stderr, "fleet-exec: pool: %s\n", sshmux_strerror(rc));
    return 1;
  }
  (void)prompter_start(F.loop, F.pool, "fleet-exec");
  uv_signal_init(F.loop, &F.sigint);
  uv_signal_start(&F.sigint, on_sigint, SIGINT);
  uv_timer_init(F.loop, &F.progress);
  if (F.tty)
    uv_timer_start(&F.progress, on_progress, 250, 250);
  F.round_start = now_ms();
  start_more();

  uv_run(F.loop, UV_RUN_DEFAULT); /* until the pool is closed */

  prompter_restore_tty();
  (void)uv_loop_close(F.loop);
  for (size_t h = 0; h < F.nhosts; h++)
    free(F.hosts[h].out);
  free(F.hosts);
  sshmux_routes_free(F.adhoc);
  sshmux_routes_free(F.routes);
  return F.any_failed || F.interrupted ? 1 : 0;
}
