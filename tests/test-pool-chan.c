/* test-pool-chan.c -- the upstream channel object against a real sshd,
 * i.e. what the relay builds on: bulk data both ways through `cat` with the
 * write high-water mark and drain callback, pauses of the reader
 * (back-pressure) and nothing lost or repeated; pty-req with modes longer
 * than libssh2's 256-byte limit (trimmed), window-change, a refused env
 * request that leaves the channel usable; exit signals; direct-tcpip and
 * direct-streamlocal channels and how their refusals are reported; closing
 * a pending channel and closing the pool under open channels; prompt
 * deadlines and one prompt for many concurrent requests. */
#include <signal.h>
#include <string.h>

#include "pool-harness.h"
#include "pool/pool-int.h"

/* ---- bulk through cat ---- */

#define BULK (6u * 1024u * 1024u)

typedef struct {
  ph_t *h;
  sshmux_upchan_t *ch;
  uint8_t *src;
  size_t sent, got;
  int mismatch, drains, paused, closed, open, above;
  size_t max_queue;
  uv_timer_t pause;
} bulk_t;

static void bulk_feed(bulk_t *b) {
  while (b->sent < BULK) {
    size_t n = SSHMUX__MIN((size_t)50000, BULK - b->sent);
    int r = sshmux_upchan_write(b->ch, b->src + b->sent, n);
    ASSERT(r >= 0);
    b->sent += n;
    if (sshmux_upchan_write_queue_size(b->ch) > b->max_queue)
      b->max_queue = sshmux_upchan_write_queue_size(b->ch);
    if (r == 1) {
      b->above++;
      return; /* wait for on_drain */
    }
  }
  ASSERT_OK(sshmux_upchan_send_eof(b->ch));
}

static void bulk_resume(uv_timer_t *t) {
  bulk_t *b = t->data;
  b->paused = 0;
  sshmux_upchan_read_start(b->ch);
}

static void bulk_data(sshmux_upchan_t *ch, int stream, const char *buf,
                      size_t len) {
  bulk_t *b = sshmux_upchan_get_data(ch);
  ASSERT_EQ(stream, SSHMUX_STREAM_STDOUT);
  ASSERT(!b->paused); /* no data while paused */
  ASSERT_LE(b->got + len, BULK);
  if (memcmp(b->src + b->got, buf, len) != 0)
    b->mismatch = 1;
  b->got += len;
  /* Every ~1 MiB, stop reading for 100 ms. */
  if ((b->got - len) / (1 << 20) != b->got / (1 << 20)) {
    b->paused = 1;
    sshmux_upchan_read_stop(ch);
    uv_timer_start(&b->pause, bulk_resume, 100, 0);
  }
}

static void bulk_drain(sshmux_upchan_t *ch) {
  bulk_t *b = sshmux_upchan_get_data(ch);
  b->drains++;
  bulk_feed(b);
}

static void bulk_closed(sshmux_upchan_t *ch, int status) {
  bulk_t *b = sshmux_upchan_get_data(ch);
  ASSERT_OK(status);
  ASSERT_EQ(sshmux_upchan_exit_status(ch), 0);
  b->closed = 1;
  sshmux_upchan_close(ch, NULL);
}

static void bulk_exec_done(sshmux_upchan_t *ch, int status, void *data) {
  (void)ch;
  (void)data;
  ASSERT_OK(status);
}

static void bulk_open(sshmux_upchan_t *ch, int status) {
  bulk_t *b = sshmux_upchan_get_data(ch);
  ASSERT_OK(status);
  b->open = 1;
  ASSERT_OK(sshmux_upchan_exec(ch, "cat", bulk_exec_done, NULL));
  bulk_feed(b);
}

TEST_IMPL_T(pool_chan_bulk_backpressure, 90) {
  static const sshmux_upchan_callbacks_t cbs = {bulk_data, NULL, bulk_closed,
                                                bulk_drain};
  sshmux_upchan_spec_t spec = ph_spec(SSHMUX_UPCHAN_SESSION);
  bulk_t b;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ph_setup(&h, NULL);
  memset(&b, 0, sizeof(b));
  b.h = &h;
  b.src = malloc(BULK);
  ASSERT(b.src != NULL);
  for (size_t i = 0; i < BULK; i++)
    b.src[i] = (uint8_t)((i * 2654435761u) >> 13);
  uv_timer_init(&h.loop, &b.pause);
  b.pause.data = &b;
  spec.write_hwm = 256 * 1024;
  ASSERT_OK(sshmux_pool_open_channel(h.pool, &h.t, &spec, &cbs, &b, bulk_open,
                                     &b.ch));
  ph_run_until(&h, &b.closed, 60000);
  ASSERT_EQ(b.sent, BULK);
  ASSERT_EQ(b.got, BULK);
  ASSERT(!b.mismatch);
  ASSERT_GT(b.above, 0);  /* the high-water mark was reached... */
  ASSERT_GT(b.drains, 0); /* ...and drain said when to go on */
  /* The embedder's queue stays near the mark it was told to respect. */
  ASSERT_LE(b.max_queue, 256 * 1024 + 50000);
  uv_close((uv_handle_t *)&b.pause, NULL);
  ph_teardown(&h);
  free(b.src);
  return 0;
}

/* ---- requests ---- */

typedef struct {
  int pty, winch, env, exec;
  int done;
} reqs_t;

/* A request's reply: *d = 1 (accepted) or the error. */
static void req_done(sshmux_upchan_t *ch, int st, void *d) {
  (void)ch;
  *(int *)d = st == 0 ? 1 : st;
}

static ph_job_t *cur_job;

static void rq_open(sshmux_upchan_t *ch, int status) {
  reqs_t *r = sshmux_upchan_get_data(ch);
  uint8_t modes[300];
  size_t m = 0;

  ASSERT_OK(status);
  /* 52 opcodes as an OpenSSH client on Linux sends them: 261 bytes. */
  for (uint8_t op = 1; op <= 18; op++) {
    modes[m++] = op;
    sshmux__store_be32(modes + m, op == 3 ? 127 : 3);
    m += 4;
  }
  for (uint8_t op = 30; op <= 42; op++) {
    modes[m++] = op;
    sshmux__store_be32(modes + m, op == 36 || op == 42);
    m += 4;
  }
  for (uint8_t op = 50; op <= 62; op++) {
    modes[m++] = op;
    sshmux__store_be32(modes + m, op != 52 && op != 62);
    m += 4;
  }
  for (uint8_t op = 70; op <= 75; op++) {
    modes[m++] = op;
    sshmux__store_be32(modes + m, op == 70 || op == 72);
    m += 4;
  }
  modes[m++] = 91;
  sshmux__store_be32(modes + m, 1);
  m += 4;
  modes[m++] = 128; /* TTY_OP_ISPEED */
  sshmux__store_be32(modes + m, 38400);
  m += 4;
  modes[m++] = 0;
  ASSERT_EQ(m, 261);
  ASSERT_OK(sshmux_upchan_pty(ch, "xterm-256color", modes, m, 80, 24, 0, 0,
                              req_done, &r->pty));
  ASSERT_OK(
      sshmux_upchan_env(ch, "SSHMUX_NOT_ACCEPTED", "x", req_done, &r->env));
  ASSERT_OK(sshmux_upchan_exec(
      ch, "sleep 0.3; stty size; tty; stty -a | grep -o 'icrnl'", req_done,
      &r->exec));
  ASSERT_OK(
      sshmux_upchan_window_change(ch, 100, 40, 0, 0, req_done, &r->winch));
}

static void rq_data(sshmux_upchan_t *ch, int stream, const char *buf,
                    size_t len) {
  (void)ch;
  (void)stream;
  memcpy(cur_job->out + cur_job->out_len, buf, len);
  cur_job->out_len += len;
}

static void rq_closed(sshmux_upchan_t *ch, int status) {
  reqs_t *r = sshmux_upchan_get_data(ch);
  ASSERT_OK(status);
  sshmux_upchan_close(ch, NULL);
  r->done = 1;
}

TEST_IMPL_T(pool_chan_requests, 60) {
  static const sshmux_upchan_callbacks_t cbs = {rq_data, NULL, rq_closed, NULL};
  sshmux_upchan_spec_t spec = ph_spec(SSHMUX_UPCHAN_SESSION);
  sshmux_upchan_t *ch;
  static ph_job_t out;
  reqs_t r;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ph_setup(&h, NULL);
  memset(&r, 0, sizeof(r));
  cur_job = &out;
  ASSERT_OK(
      sshmux_pool_open_channel(h.pool, &h.t, &spec, &cbs, &r, rq_open, &ch));
  ph_run_until(&h, &r.done, 20000);
  ASSERT_EQ(r.pty, 1);                  /* trimmed to fit, accepted */
  ASSERT_EQ(r.env, SSHMUX_EREQ_FAILED); /* refused, channel goes on */
  ASSERT_EQ(r.exec, 1);
  ASSERT_EQ(r.winch, 1);
  ASSERT_STR_CONTAINS(out.out, "40 100"); /* the window change arrived */
  ASSERT_STR_CONTAINS(out.out, "/dev/pts/");
  ASSERT_STR_CONTAINS(out.out, "icrnl"); /* a mode that was kept */
  ph_teardown(&h);
  return 0;
}

/* ---- exit signal ---- */

TEST_IMPL_T(pool_chan_exit_signal, 60) {
  ph_job_t a;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ph_setup(&h, NULL);
  ph_exec_wait(&h, &h.t, "echo bye; kill -TERM $$", &a, 10000);
  ASSERT_STR_EQ(a.out, "bye\n");
  ASSERT_STR_EQ(a.exit_signal, "TERM");
  ASSERT_EQ(a.exit_status, -1);
  ph_teardown(&h);
  return 0;
}

/* ---- direct-tcpip / direct-streamlocal ---- */

typedef struct {
  int status, closed;
  char buf[256];
  size_t len;
  char err[300];
} fwd_t;

static void fwd_data(sshmux_upchan_t *ch, int stream, const char *buf,
                     size_t len) {
  fwd_t *f = sshmux_upchan_get_data(ch);
  (void)stream;
  len = SSHMUX__MIN(len, sizeof(f->buf) - 1 - f->len);
  memcpy(f->buf + f->len, buf, len);
  f->len += len;
  if (f->len >= 5)
    sshmux_upchan_close(ch, NULL), f->closed = 1;
}

static void fwd_open(sshmux_upchan_t *ch, int status) {
  fwd_t *f = sshmux_upchan_get_data(ch);
  f->status = status == 0 ? 1 : status;
  if (status < 0) {
    snprintf(f->err, sizeof(f->err), "%s", sshmux_upchan_last_error(ch));
    f->closed = 1;
  } else {
    ASSERT_EQ(sshmux_upchan_write(ch, "ping\n", 5), 0);
  }
}

static uv_pipe_t lsock, csock;
static char sock_got[16];

static void sock_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  static char buf[64];
  (void)h;
  (void)s;
  *b = uv_buf_init(buf, sizeof(buf));
}
static void sock_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  static uv_write_t w;
  static uv_buf_t hello;
  if (n > 0) {
    memcpy(sock_got, b->base, SSHMUX__MIN((size_t)n, sizeof(sock_got) - 1));
    hello = uv_buf_init("hello", 5);
    uv_write(&w, st, &hello, 1, NULL);
  } else if (n < 0) {
    uv_close((uv_handle_t *)st, NULL);
  }
}
static void sock_conn(uv_stream_t *server, int status) {
  ASSERT_OK(status);
  uv_pipe_init(server->loop, &csock, 0);
  ASSERT_OK(uv_accept(server, (uv_stream_t *)&csock));
  uv_read_start((uv_stream_t *)&csock, sock_alloc, sock_read);
}

TEST_IMPL_T(pool_chan_direct, 60) {
  static const sshmux_upchan_callbacks_t cbs = {fwd_data, NULL, NULL, NULL};
  sshmux_upchan_spec_t spec = ph_spec(SSHMUX_UPCHAN_DIRECT_TCPIP);
  sshmux_pool_stats_t ps;
  fwd_t f;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ph_setup(&h, NULL);

  /* direct-tcpip to the sshd's own port: its banner comes back. */
  memset(&f, 0, sizeof(f));
  spec.host = h.s.addr;
  spec.port = h.s.port;
  ASSERT_OK(
      sshmux_pool_open_channel(h.pool, &h.t, &spec, &cbs, &f, fwd_open, NULL));
  ph_run_until(&h, &f.closed, 10000);
  ASSERT_EQ(f.status, 1);
  ASSERT(strncmp(f.buf, "SSH-2", 5) == 0);

  /* A closed port: reported, not retried elsewhere. */
  memset(&f, 0, sizeof(f));
  spec.port = test_free_port();
  ASSERT_OK(
      sshmux_pool_open_channel(h.pool, &h.t, &spec, &cbs, &f, fwd_open, NULL));
  ph_run_until(&h, &f.closed, 10000);
  ASSERT_EQ(f.status, SSHMUX_ECHAN_FAILED);
  ASSERT_STR_CONTAINS(f.err, "connect failed");
  ASSERT_OK(sshmux_pool_stats(h.pool, &ps, NULL, 0, NULL));
  ASSERT_EQ(ps.connects, 1);
  ASSERT_EQ(ps.connections, 1);

  /* direct-streamlocal to a Unix socket we serve on the same loop. */
  uv_pipe_init(&h.loop, &lsock, 0);
  ASSERT_OK(uv_pipe_bind(&lsock, test_path("sock")));
  ASSERT_OK(uv_listen((uv_stream_t *)&lsock, 4, sock_conn));
  memset(&f, 0, sizeof(f));
  spec = ph_spec(SSHMUX_UPCHAN_DIRECT_STREAMLOCAL);
  spec.path = test_path("sock");
  ASSERT_OK(
      sshmux_pool_open_channel(h.pool, &h.t, &spec, &cbs, &f, fwd_open, NULL));
  ph_run_until(&h, &f.closed, 10000);
  ASSERT_EQ(f.status, 1);
  ASSERT_STR_EQ(f.buf, "hello");
  ASSERT_STR_EQ(sock_got, "ping\n");
  uv_close((uv_handle_t *)&lsock, NULL);
  if (!uv_is_closing((uv_handle_t *)&csock))
    uv_close((uv_handle_t *)&csock, NULL);
  ph_teardown(&h);
  return 0;
}

/* ---- closing ---- */

static int pend_open_status = 1, pend_closed, held_closed_status = 1;
static void pend_open(sshmux_upchan_t *ch, int status) {
  (void)ch;
  pend_open_status = status;
}
static void pend_close_cb(sshmux_upchan_t *ch) {
  (void)ch;
  ASSERT_EQ(pend_open_status, SSHMUX_ECLOSED); /* open_cb came first */
  pend_closed = 1;
}
static void held_open(sshmux_upchan_t *ch, int status) {
  ASSERT_OK(status);
  ASSERT_OK(sshmux_upchan_shell(ch, NULL, NULL));
}
static void held_closed(sshmux_upchan_t *ch, int status) {
  held_closed_status = status;
  sshmux_upchan_close(ch, NULL); /* from inside its own callback */
}

TEST_IMPL_T(pool_chan_close_paths, 60) {
  static const sshmux_upchan_callbacks_t cbs = {NULL, NULL, held_closed, NULL};
  sshmux_upchan_spec_t spec = ph_spec(SSHMUX_UPCHAN_SESSION);
  sshmux_upchan_t *ch;
  ph_job_t a;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ph_setup(&h, NULL);

  /* Closed while still queued behind the login: open_cb(ECLOSED), then
   * close_cb, both later. */
  ASSERT_OK(sshmux_pool_open_channel(h.pool, &h.t, &spec, NULL, NULL, pend_open,
                                     &ch));
  sshmux_upchan_close(ch, pend_close_cb);
  ASSERT_EQ(pend_open_status, 1);
  ph_run_until(&h, &pend_closed, 5000);

  /* The pool closed under an open channel: on_closed(ECLOSED); the owner
   * closes it and only then does the pool finish closing. */
  ph_exec_wait(&h, &h.t, "true", &a, 10000); /* warm connection */
  ASSERT_OK(sshmux_pool_open_channel(h.pool, &h.t, &spec, &cbs, NULL, held_open,
                                     &ch));
  ph_run_for(&h, 300);
  ph_close(&h);
  ASSERT_EQ(held_closed_status, SSHMUX_ECLOSED);
  ph_sshd_stop(&h.s);
  return 0;
}

/* ---- prompts: deadline, and one prompt for many requests ---- */

static int keep_pending(ph_t *h, sshmux_prompt_t *p, const char **answers) {
  (void)h;
  (void)p;
  (void)answers;
  return -1;
}

TEST_IMPL_T(pool_prompt_deadline_and_single_prompt, 60) {
  static ph_job_t j[5];
  char key[600];
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ph_sshd_encrypted_key(&h.s, 0, "pw", key, sizeof(key));
  ph_options(&h.o, h.s.known_hosts);
  h.o.prompt_timeout_ms = 400;
  ph_init(&h, &h.o);
  ph_prompts(&h, keep_pending, NULL);
  ph_target(&h.t, &h.s);
  ph_identity(&h.t, key);

  /* Five requests, one connection attempt, one prompt; nobody answers in
   * time: the prompt is withdrawn and all five fail with the reason. */
  for (int i = 0; i < 5; i++)
    ph_exec(&h, &h.t, "true", &j[i]);
  ph_run_jobs(&h, j, 5, 30000);
  ASSERT_EQ(h.nprompts, 1);
  ASSERT_EQ(h.withdrawn, 1);
  for (int i = 0; i < 5; i++)
    ASSERT_EQ(j[i].open_status, SSHMUX_EPROMPT_TIMEOUT);
  {
    const char *late[1] = {"pw"};
    ASSERT_EQ(sshmux_prompt_answer(h.pending, late, 1), SSHMUX_EPROMPT_TIMEOUT);
  }
  ph_teardown(&h);
  return 0;
}

/* ---- close right after the last write: nothing queued is lost ---- */

static int wc_closed;
static void wc_close_cb(sshmux_upchan_t *ch) {
  (void)ch;
  wc_closed = 1;
}
static void wc_open(sshmux_upchan_t *ch, int status) {
  static char data[1 << 20];
  char cmd[800];

  ASSERT_OK(status);
  memset(data, 'z', sizeof(data));
  snprintf(cmd, sizeof(cmd), "cat > %s", test_path("written"));
  ASSERT_OK(sshmux_upchan_exec(ch, cmd, NULL, NULL));
  ASSERT(sshmux_upchan_write(ch, data, sizeof(data)) >= 0);
  ASSERT_OK(sshmux_upchan_send_eof(ch));
  sshmux_upchan_close(ch, wc_close_cb); /* at once, like a relay would */
}

TEST_IMPL_T(pool_chan_close_after_write_delivers, 60) {
  sshmux_upchan_spec_t spec = ph_spec(SSHMUX_UPCHAN_SESSION);
  size_t len = 0;
  char *got = NULL;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ph_setup(&h, NULL);
  ASSERT_OK(
      sshmux_pool_open_channel(h.pool, &h.t, &spec, NULL, NULL, wc_open, NULL));
  ph_run_until(&h, &wc_closed, 30000);
  /* cat ends when it sees the EOF; give it a moment to finish writing. */
  for (int i = 0; i < 200; i++) {
    free(got);
    got = test_read_file(test_path("written"), &len);
    if (len == (1 << 20))
      break;
    ph_run_for(&h, 25);
  }
  ASSERT_EQ(len, 1 << 20);
  ASSERT_EQ(got[0], 'z');
  ASSERT_EQ(got[len - 1], 'z');
  free(got);
  ph_teardown(&h);
  return 0;
}
