/* fuzz-pool-upstream.c -- libFuzzer target for the upstream side of the pool:
 * what a hostile upstream sshd can send through libssh2 into the pool's
 * login (banners, keyboard-interactive rounds, method lists, partial
 * successes, password), its channel (open confirmations and failures,
 * request replies, data and extended data, window adjusts, EOF and CLOSE
 * in any order, exit-status, exit-signal with any name and message, data
 * after CLOSE, wrong channel ids) and the rest of the connection protocol
 * (global requests, IGNORE, DEBUG, DISCONNECT, hang-ups).
 *
 * The upstream is our own server library playing a hostile sshd
 * (tests/fuzz/fuzz-server-upstream.h: the fuzz input is its program), on
 * loopback TCP on the same libuv loop as a real pool (libssh2 client,
 * lib/pool), which opens one session channel to it as it would to sshd,
 * with an embedder on top: a prompt handler answering keyboard-interactive
 * and password prompts, and the channel API running a command.
 *
 * Input: byte 0 says what the embedder does -- bit 0 shell (else exec),
 * bit 1 a pty first, bit 2 write 40 KiB and EOF once open, bits 3-4 how
 * prompts are answered (at once, on the next loop iteration, cancelled, with
 * the wrong number of answers), bit 5 the target has a password (else it is
 * asked), bit 6 close the channel on its first data, bit 7 pause reading at
 * the first data and resume on the next iteration; the rest is the
 * upstream's program.
 *
 * Oracle, besides ASan/UBSan/LeakSanitizer: every string the prompt handler
 * is given (target, name, instruction, texts), every log line and every
 * channel error is sanitised (tests/fuzz/check-sanitize.h) and within its
 * cap; a round has at most 32 questions and a login at most 64 rounds; the
 * data delivered on stdout and stderr is a prefix of what the upstream sent
 * there; each callback comes as the API says (open once, closed at most
 * once, nothing after closed); and the whole exchange -- pool closed, the
 * upstream's connection gone -- ends within FZ_ITER_MAX loop iterations
 * and FZ_WALL_MS, else abort() (a hang is a finding).  Seeds:
 * tests/fuzz/make-seeds.py.  Build and run: make fuzz-run. */
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check-sanitize.h"
#include "fuzz-server-upstream.h"
#include "sshmux/pool.h"
#include "sshmux/prompt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_ITER_MAX 200000u
#define FZ_WALL_MS 8000u
#define FZ_INPUT_MAX 65536u

static uv_loop_t loop;
static int port;
static char kh_path[256];
static const char *kh_list[2];

static struct {
  unsigned flags;
  sshmux_pool_t *pool;
  sshmux_upchan_t *ch;
  int pool_closed;
  int open_calls, closed_calls, ch_closing;
  int ch_freed;
  unsigned prompts, rounds;
  size_t got[2];  /* bytes delivered on stdout, stderr */
  size_t base[2]; /* where in fu.seen.sent[] they start (a cut) */
  sshmux_prompt_t *later;
  uv_idle_t idle;      /* deferred answers, resumed reads */
  uv_timer_t watchdog; /* FZ_WALL_MS: a hang aborts even while blocked */
  int resume_read;
  int open_status, closed_status, exit_status;
  char exit_signal[64], error[300];
} s;

/* The last log lines of the pool (the debug level and above), shown when
 * the oracle fails so that a finding in a long run says what led to it.
 * Written from the loop and from login worker threads: under a mutex. */
#define FZ_RING 32
static char ring[FZ_RING][200];
static unsigned ring_next;
static uv_mutex_t ring_mu;

static void fail(const char *what, const char *detail) {
  unsigned i;

  uv_mutex_lock(&ring_mu);
  for (i = 0; i < FZ_RING; i++)
    if (ring[(ring_next + i) % FZ_RING][0] != '\0')
      fprintf(stderr, "  log: %s\n", ring[(ring_next + i) % FZ_RING]);
  uv_mutex_unlock(&ring_mu);
  fprintf(stderr, "fuzz-pool-upstream: %s%s%s\n", what, detail ? ": " : "",
          detail ? detail : "");
  abort();
}

static void check_text(const char *what, const char *t, int nl, size_t max) {
  const char *why;
  if (t == NULL)
    fail(what, "NULL");
  if ((why = check_sanitized(t, nl, max)) != NULL)
    fail(what, why);
}

/* May run on a login worker thread too: no state touched. */
static void on_log(sshmux_log_level_t level, const char *msg, void *data) {
  (void)data;
  if (getenv("FUZZ_LOG") != NULL)
    fprintf(stderr, "[%s] %s\n", sshmux_log_level_name(level), msg);
  if (level <= SSHMUX_LOG_DEBUG) {
    uv_mutex_lock(&ring_mu);
    snprintf(ring[ring_next], sizeof(ring[0]), "[%s] %s",
             sshmux_log_level_name(level), msg);
    ring_next = (ring_next + 1) % FZ_RING;
    uv_mutex_unlock(&ring_mu);
  }
  check_text("log line", msg, 1, (size_t)-1);
}

/* ---- prompts ---- */

static void answer(sshmux_prompt_t *p) {
  size_t n = sshmux_prompt_count(p);
  const char *a[33];
  unsigned mode = (s.flags >> 3) & 3;

  for (size_t i = 0; i < n && i < 33; i++)
    a[i] = "42";
  if (mode == 2)
    sshmux_prompt_cancel(p);
  else if (mode == 3)
    (void)sshmux_prompt_answer(p, a, n + 1);
  else
    (void)sshmux_prompt_answer(p, n ? a : NULL, n);
}

static void on_idle(uv_idle_t *h) {
  (void)h;
  uv_idle_stop(&s.idle);
  if (s.later != NULL) {
    sshmux_prompt_t *p = s.later;
    s.later = NULL;
    answer(p);
  }
  if (s.resume_read && s.ch != NULL && !s.ch_closing) {
    s.resume_read = 0;
    sshmux_upchan_read_start(s.ch);
  }
}

static void on_prompt(sshmux_prompt_t *p, void *data) {
  sshmux_prompt_kind_t kind = sshmux_prompt_kind(p);
  size_t n = sshmux_prompt_count(p);

  (void)data;
  s.prompts++;
  check_text("prompt target", sshmux_prompt_target(p), 0, 4096);
  /* The instruction carries information-only rounds before it (8 KiB of
   * them at most) joined with newlines. */
  check_text("prompt name", sshmux_prompt_name(p), 0, SSHMUX__SANITIZE_MAX);
  check_text("prompt instruction", sshmux_prompt_instruction(p), 1,
             8192 + 1 + SSHMUX__SANITIZE_MAX);
  if (kind == SSHMUX_PROMPT_KBDINT) {
    if (++s.rounds > 64)
      fail("more than 64 keyboard-interactive rounds reached the embedder",
           NULL);
    if (n == 0 || n > 32)
      fail("a keyboard-interactive round outside 1..32 questions", NULL);
  } else if (kind != SSHMUX_PROMPT_PASSWORD) {
    fail("unexpected prompt kind", NULL);
  } else if (n != 1) {
    fail("a password prompt without exactly one question", NULL);
  }
  for (size_t i = 0; i < n; i++)
    check_text("prompt text", sshmux_prompt_text(p, i), 0,
               SSHMUX__SANITIZE_MAX);
  if (((s.flags >> 3) & 3) == 1 && s.later == NULL) {
    s.later = p;
    uv_idle_start(&s.idle, on_idle);
    return;
  }
  answer(p);
}

static void on_withdrawn(sshmux_prompt_t *p, void *data) {
  (void)data;
  if (s.later == p) {
    s.later = NULL;
    sshmux_prompt_cancel(p);
  }
}

/* ---- the channel ---- */

static void on_pool_closed(sshmux_pool_t *pool, void *data) {
  (void)pool;
  (void)data;
  s.pool_closed = 1;
}

static void close_all(void) {
  if (s.ch != NULL && !s.ch_closing) {
    s.ch_closing = 1;
    sshmux_upchan_close(s.ch, NULL);
  }
  if (s.pool != NULL) {
    sshmux_pool_t *p = s.pool;
    s.pool = NULL;
    sshmux_pool_close(p, on_pool_closed, NULL);
  }
}

/* The first cut of stream's data sent before the open (or where the data
 * after it starts) from which buf[0..len) is what was sent; the last cut
 * if none is (the caller's check then fails). */
static size_t first_cut(int stream, const char *buf, size_t len) {
  const sshmux__buf_t *sent = &fu.seen.sent[stream];
  unsigned i, n = fu.seen.ncuts[stream];
  size_t at = 0;

  for (i = 0; i <= n; i++) {
    at = i < n || fu.seen.opened ? fu.seen.cuts[stream][i] : sent->len;
    if (at + len <= sent->len && memcmp(sent->data + at, buf, len) == 0)
      return at;
  }
  return at;
}

static void on_data(sshmux_upchan_t *ch, int stream, const char *buf,
                    size_t len) {
  const sshmux__buf_t *sent;

  (void)ch;
  if (s.closed_calls || s.ch_closing)
    fail("data after the channel was closed", NULL);
  if (stream != 0 && stream != 1)
    fail("data on a stream other than stdout and stderr", NULL);
  /* What arrives is the upstream's bytes, in order, nothing invented:
   * from one of the cuts before the open on (fu_seen_t.cuts). */
  sent = &fu.seen.sent[stream];
  if (s.got[stream] == 0)
    s.base[stream] = first_cut(stream, buf, len);
  if (s.base[stream] + s.got[stream] + len > sent->len ||
      memcmp(sent->data + s.base[stream] + s.got[stream], buf, len) != 0)
    fail(stream ? "stderr is not a prefix of what the upstream sent"
                : "stdout is not a prefix of what the upstream sent",
         NULL);
  s.got[stream] += len;
  if ((s.flags & 128) && !s.resume_read) {
    sshmux_upchan_read_stop(s.ch);
    s.resume_read = 1;
    uv_idle_start(&s.idle, on_idle);
  }
  if (s.flags & 64)
    close_all();
}

static void on_eof(sshmux_upchan_t *ch) {
  (void)ch;
  if (s.closed_calls)
    fail("EOF after the channel was closed", NULL);
}

static void on_closed(sshmux_upchan_t *ch, int status) {
  const char *sig;

  if (s.closed_calls++)
    fail("on_closed twice", NULL);
  check_text("channel error", sshmux_upchan_last_error(ch), 0, 4096);
  s.closed_status = status;
  s.exit_status = sshmux_upchan_exit_status(ch);
  snprintf(s.error, sizeof(s.error), "%s", sshmux_upchan_last_error(ch));
  snprintf(s.exit_signal, sizeof(s.exit_signal), "%s",
           sshmux_upchan_exit_signal(ch) ? sshmux_upchan_exit_signal(ch)
                                         : "(none)");
  if (status == 0) {
    sig = sshmux_upchan_exit_signal(ch);
    if (sig != NULL && sshmux_upchan_exit_status(ch) != -1)
      fail("an exit signal with an exit status", NULL);
  }
  close_all();
}

static void on_drain(sshmux_upchan_t *ch) {
  (void)ch;
}

static void on_req(sshmux_upchan_t *ch, int status, void *req_data) {
  (void)req_data;
  (void)status;
  check_text("request error", sshmux_upchan_last_error(ch), 0, 4096);
}

static void on_open(sshmux_upchan_t *ch, int status) {
  if (s.open_calls++)
    fail("open callback twice", NULL);
  s.open_status = status;
  if (status != 0) {
    /* The library frees the channel after this returns. */
    s.ch = NULL;
    s.ch_freed = 1;
    close_all();
    return;
  }
  if (s.flags & 2) {
    static const uint8_t modes[] = {53, 0, 0, 0, 1, 0};
    (void)sshmux_upchan_pty(ch, "xterm", modes, sizeof(modes), 80, 24, 0, 0,
                            on_req, NULL);
  }
  if (s.flags & 1)
    (void)sshmux_upchan_shell(ch, on_req, NULL);
  else
    (void)sshmux_upchan_exec(ch, "fuzz command", on_req, NULL);
  if (s.flags & 4) {
    static char block[40 * 1024];
    memset(block, 'w', sizeof(block));
    (void)sshmux_upchan_write(ch, block, sizeof(block));
    (void)sshmux_upchan_send_eof(ch);
  }
}

static void on_watchdog(uv_timer_t *h) {
  (void)h;
  fail("the exchange did not end within the time cap", NULL);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void init(void) {
  char dir[] = "/tmp/fuzz-pool-upstream-XXXXXX";

  if (mkdtemp(dir) == NULL || uv_mutex_init(&ring_mu) != 0)
    abort();
  /* As every embedder must (pool.h): the upstream hanging up while the
   * pool writes would otherwise end the process. */
  signal(SIGPIPE, SIG_IGN);
  snprintf(kh_path, sizeof(kh_path), "%s/known_hosts", dir);
  kh_list[0] = kh_path;
  kh_list[1] = NULL;
  sshmux_set_log_cb(
      on_log, getenv("FUZZ_LOG") ? SSHMUX_LOG_TRACE : SSHMUX_LOG_DEBUG, NULL);
  if (uv_loop_init(&loop) != 0 || uv_idle_init(&loop, &s.idle) != 0 ||
      uv_timer_init(&loop, &s.watchdog) != 0)
    abort();
  port = fu_setup(&loop);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  static const sshmux_upchan_callbacks_t cbs = {on_data, on_eof, on_closed,
                                                on_drain};
  sshmux_pool_options_t o;
  sshmux_target_t t;
  sshmux_upchan_spec_t spec;
  uint64_t t0;
  unsigned iter = 0;

  if (!ready) {
    init();
    ready = 1;
  }
  if (size < 1 || size > FZ_INPUT_MAX)
    return 0;
  {
    uv_idle_t keep = s.idle;
    uv_timer_t dog = s.watchdog;
    memset(&s, 0, sizeof(s));
    s.idle = keep;
    s.watchdog = dog;
  }
  s.flags = data[0];
  uv_mutex_lock(&ring_mu); /* this input's lines only */
  memset(ring, 0, sizeof(ring));
  ring_next = 0;
  uv_mutex_unlock(&ring_mu);
  fu_start(data + 1, size - 1);

  sshmux_pool_options_init(&o);
  o.known_hosts = kh_list;
  o.use_agent = 0;
  o.keepalive_ms = 0;
  o.connect_timeout_ms = 5000;
  o.prompt_timeout_ms = 5000;
  o.session_retry_ms = 5; /* MaxSessions retries: no real sleeps */
  if (sshmux_pool_new(&loop, &o, &s.pool) != 0)
    abort();
  sshmux_pool_set_prompt_handler(s.pool, on_prompt, on_withdrawn, NULL);
  sshmux_target_init(&t);
  t.user = "fuzz";
  t.host = "127.0.0.1";
  t.port = port;
  t.accept_new_hostkey = 1;
  t.identity_agent = "none";
  t.keepalive_s = 0;
  t.password = (s.flags & 32) ? "secret" : NULL;
  memset(&spec, 0, sizeof(spec));
  spec.type = SSHMUX_UPCHAN_SESSION;
  if (sshmux_pool_open_channel(s.pool, &t, &spec, &cbs, NULL, on_open, &s.ch) !=
      0)
    abort();

  /* Until the pool is closed and the upstream's connection is gone. */
  t0 = now_ms();
  uv_timer_start(&s.watchdog, on_watchdog, FZ_WALL_MS, 0);
  while (!s.pool_closed || sshmux_server_conn_count(fu.srv) > 0) {
    if (++iter > FZ_ITER_MAX)
      fail("the exchange did not end within the iteration cap", NULL);
    if (now_ms() - t0 > FZ_WALL_MS)
      fail("the exchange did not end within the time cap", NULL);
    uv_run(&loop, UV_RUN_ONCE);
  }
  uv_timer_stop(&s.watchdog);
  fu_stop();
  if (s.later != NULL)
    fail("a prompt kept after the pool closed", NULL);
  if (s.open_calls != 1)
    fail("the open callback was not called exactly once", NULL);
  uv_idle_stop(&s.idle);
  uv_run(&loop, UV_RUN_NOWAIT);
  if (getenv("FUZZ_LOG") != NULL)
    fprintf(stderr,
            "== %u iterations, %u upstream events, open %d, prompts %u "
            "(%u rounds), stdout %zu/%zu, stderr %zu/%zu, closed %d "
            "(status %d, signal %s, error %s)\n",
            iter, fu.seen.events, s.open_status, s.prompts, s.rounds, s.got[0],
            fu.seen.sent[0].len, s.got[1], fu.seen.sent[1].len, s.closed_calls,
            s.exit_status, s.exit_signal, s.error);
  return 0;
}
