/* test-contract.c -- the callback contract the public headers state, object
 * by object (pool, upstream channel, upstream request, server, server
 * connection, server channel, server request):
 *  1. a function that returns an error never calls its callback;
 *  2. a started operation completes exactly once, also when its object or
 *     its owner is closed first;
 *  3. closing from inside a callback is safe (ASan under `make asan`);
 *  4. nothing is called after the close callback.
 * Peers are real: an OpenSSH sshd for the pool, the OpenSSH client for the
 * server.  Counters are per callback; "after close" is checked by running
 * the loop on after the close callback and comparing. */
#include <signal.h>
#include <unistd.h>

#include <uv.h>

#include "fixture-sshd.h"
#include "test.h"

static uv_loop_t loop;
static uv_timer_t keep; /* holds the loop alive while a test waits */

static void on_keep(uv_timer_t *t) {
  (void)t;
}

static void loop_start(void) {
  ASSERT_OK(uv_loop_init(&loop));
  uv_timer_init(&loop, &keep);
  uv_timer_start(&keep, on_keep, 50, 50);
}

/* Run until *flag, at most ms. */
static void run_until(const int *flag, int ms) {
  uint64_t end = test_now_ms() + (uint64_t)ms;

  while (!*flag) {
    uv_run(&loop, UV_RUN_ONCE);
    if (test_now_ms() > end)
      test_fail(__FILE__, __LINE__, "timed out after %d ms", ms);
  }
}

static void run_for_flag(const int *flag, int ms) {
  uint64_t end = test_now_ms() + (uint64_t)ms;

  while (!*flag && test_now_ms() < end)
    uv_run(&loop, UV_RUN_ONCE);
}

static void run_for(int ms) {
  uint64_t end = test_now_ms() + (uint64_t)ms;

  while (test_now_ms() < end)
    uv_run(&loop, UV_RUN_ONCE);
}

/* Run for ms more (to see that nothing else arrives), then close. */
static void loop_finish(int ms) {
  uint64_t end = test_now_ms() + (uint64_t)ms;

  while (test_now_ms() < end)
    uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&keep, NULL);
  /* Generous: a login worker on a machine loaded by other tests may take
   * a while to notice its pool closed. */
  end = test_now_ms() + 30000;
  while (uv_run(&loop, UV_RUN_NOWAIT) != 0) {
    if (test_now_ms() >= end) {
      fprintf(stderr, "# handles still active:\n");
      uv_print_all_handles(&loop, stderr);
      test_fail(__FILE__, __LINE__, "the loop did not empty in 30 s");
    }
    usleep(1000);
  }
  ASSERT_OK(uv_loop_close(&loop));
}

/* ---- pool and upstream channels ---- */

static struct {
  int open_calls, open_status, closed_calls, data_calls, req_calls, req_status,
      pool_closed, after_close, chan_close_cb;
  int close_in; /* where the test closes: see the tests */
  sshmux_pool_t *pool;
} C;

static void c_chan_closed(sshmux_upchan_t *ch) {
  (void)ch;
  C.chan_close_cb++;
}

static void c_pool_closed(sshmux_pool_t *p, void *data) {
  (void)p, (void)data;
  C.pool_closed++;
}

static void c_req(sshmux_upchan_t *ch, int status, void *data) {
  (void)ch, (void)data;
  if (C.pool_closed)
    C.after_close++;
  C.req_calls++;
  C.req_status = status;
}

static void c_data(sshmux_upchan_t *ch, int stream, const char *buf,
                   size_t len) {
  (void)stream, (void)buf, (void)len;
  if (C.pool_closed)
    C.after_close++;
  if (C.data_calls++ == 0 && C.close_in == 2)
    sshmux_upchan_close(ch, c_chan_closed); /* from inside on_data */
}

static void c_on_closed(sshmux_upchan_t *ch, int status) {
  (void)status;
  if (C.pool_closed)
    C.after_close++;
  C.closed_calls++;
  sshmux_upchan_close(ch, c_chan_closed); /* from inside on_closed */
}

static void c_open(sshmux_upchan_t *ch, int status) {
  if (C.pool_closed)
    C.after_close++;
  C.open_calls++;
  C.open_status = status;
  if (status != 0)
    return;
  if (C.close_in == 1) {
    /* A request, then the pool closed from inside open_cb: the request
     * still completes once (with an error), the channel gets on_closed. */
    ASSERT_OK(sshmux_upchan_exec(ch, "sleep 5", c_req, NULL));
    sshmux_pool_close(C.pool, c_pool_closed, NULL);
    return;
  }
  ASSERT_OK(sshmux_upchan_exec(ch, "echo one; sleep 1; echo two", c_req, NULL));
}

static const sshmux_upchan_callbacks_t c_cbs = {.on_data = c_data,
                                                .on_closed = c_on_closed};

/* One pool test's sshd, pool and target (P.t: the sshd, its key). */
static struct {
  test_sshd s;
  const char *kh[2], *ids[2];
  sshmux_target_t t;
  sshmux_upchan_spec_t spec;
  sshmux_upchan_t *ch;
} P;

/* Starts P.s and a fresh pool (C.pool, C zeroed) whose target P.t is it. */
static void pool_start(void) {
  sshmux_pool_options_t o;

  ASSERT_OK(test_sshd_start(&P.s, NULL));
  memset(&C, 0, sizeof(C));
  loop_start();
  sshmux_pool_options_init(&o);
  P.kh[0] = P.s.known_hosts;
  P.kh[1] = NULL;
  o.known_hosts = P.kh;
  o.use_agent = 0;
  ASSERT_OK(sshmux_pool_new(&loop, &o, &C.pool));
  sshmux_target_init(&P.t);
  P.t.user = P.s.user;
  P.t.host = P.s.addr;
  P.t.port = P.s.port;
  P.ids[0] = P.s.client_key;
  P.ids[1] = NULL;
  P.t.identity_files = P.ids;
  P.spec = (sshmux_upchan_spec_t){.type = SSHMUX_UPCHAN_SESSION};
  P.ch = NULL;
}

/* pool_start, then a session channel opened on P.t (P.ch), C.close_in set. */
static void pool_start_open(int close_in) {
  pool_start();
  C.close_in = close_in;
  ASSERT_OK(sshmux_pool_open_channel(C.pool, &P.t, &P.spec, &c_cbs, NULL,
                                     c_open, &P.ch));
}

/* Closes C.pool, waits up to ms for its close callback, drains finish_ms. */
static void pool_close_wait(int ms, int finish_ms) {
  sshmux_pool_close(C.pool, c_pool_closed, NULL);
  run_until(&C.pool_closed, ms);
  loop_finish(finish_ms);
}

/* Asserts the pool closed once with nothing after it; stops P.s. */
static void pool_end(void) {
  ASSERT_EQ(C.pool_closed, 1);
  ASSERT_EQ(C.after_close, 0);
  test_sshd_stop(&P.s);
}

TEST_IMPL_T(contract_pool_error_return_no_callback, 60) {
  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  pool_start();
  P.ch = (sshmux_upchan_t *)&P.ch;
  P.t.host = "";
  ASSERT_ERR(sshmux_pool_open_channel(C.pool, &P.t, &P.spec, &c_cbs, NULL,
                                      c_open, &P.ch),
             SSHMUX_EINVAL);
  ASSERT(P.ch == NULL);
  P.t.host = P.s.addr;
  ASSERT_ERR(sshmux_pool_open_channel(C.pool, &P.t, &P.spec, &c_cbs, NULL, NULL,
                                      &P.ch),
             SSHMUX_EINVAL);
  pool_close_wait(10000, 200);
  ASSERT_EQ(C.open_calls, 0);
  pool_end();
  return 0;
}

/* A channel whose pool is closed while its login is still running: its
 * open completes exactly once (SSHMUX_ECLOSED), before the pool's close
 * callback, and nothing follows. */
TEST_IMPL_T(contract_pool_close_before_open_completes, 60) {
  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  pool_start_open(0);
  ASSERT_EQ(C.open_calls, 0); /* never from inside the call */
  sshmux_pool_close(C.pool, c_pool_closed, NULL);
  run_until(&C.pool_closed, 20000);
  ASSERT_EQ(C.open_calls, 1);
  ASSERT_EQ(C.open_status, SSHMUX_ECLOSED);
  loop_finish(300);
  ASSERT_EQ(C.open_calls, 1);
  pool_end();
  return 0;
}

/* The pool closed from inside open_cb with a request in flight: the
 * request completes once with an error, on_closed once (the channel is
 * closed from inside it), then the pool's close callback, then nothing. */
TEST_IMPL_T(contract_pool_close_inside_open_cb, 60) {
  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  pool_start_open(1);
  run_until(&C.pool_closed, 30000);
  loop_finish(300);
  ASSERT_EQ(C.open_calls, 1);
  ASSERT_EQ(C.open_status, 0);
  ASSERT_EQ(C.req_calls, 1);
  ASSERT_NE(C.req_status, 0);
  ASSERT_EQ(C.closed_calls, 1);
  ASSERT_EQ(C.chan_close_cb, 1);
  pool_end();
  return 0;
}

/* The channel closed from inside its first on_data: no more data, no
 * on_closed after our own close, its close callback once; then the pool
 * closes cleanly. */
TEST_IMPL_T(contract_upchan_close_inside_data_cb, 60) {
  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  pool_start_open(2);
  run_until(&C.chan_close_cb, 30000);
  run_for(1500); /* "two" would come a second later: nothing may arrive */
  ASSERT_EQ(C.data_calls, 1);
  ASSERT_EQ(C.closed_calls, 0);
  ASSERT_EQ(C.chan_close_cb, 1);
  ASSERT_LE(C.req_calls, 1); /* at most once (it may have been answered) */
  pool_close_wait(10000, 200);
  ASSERT_EQ(C.data_calls, 1);
  ASSERT_EQ(C.chan_close_cb, 1);
  pool_end();
  return 0;
}

/* ---- the server, its connections, channels and requests ---- */

static struct {
  sshmux_server_t *srv;
  int opens, reqs, chan_closes, conn_closed, srv_closed, after_close;
  int proc_done, exit_status;
  uv_process_t proc;
} S;

static void s_srv_closed(sshmux_server_t *srv) {
  (void)srv;
  S.srv_closed++;
}

static void s_chan_close(sshmux_server_channel_t *ch) {
  (void)ch;
  if (S.srv_closed)
    S.after_close++;
  S.chan_closes++;
}

static void s_req(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                  sshmux_server_request_t *req,
                  const sshmux_server_request_info_t *info) {
  int is_exec = strcmp(info->type, "exec") == 0; /* info dies with req */

  (void)conn, (void)ch;
  if (S.srv_closed)
    S.after_close++;
  S.reqs++;
  sshmux_server_request_reply(req, is_exec);
  if (is_exec)
    sshmux_server_close(S.srv, s_srv_closed); /* from inside a request */
}

static void s_open(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                   const sshmux_server_open_info_t *info) {
  static const sshmux_server_channel_cbs_t cbs = {.request = s_req,
                                                  .close = s_chan_close};
  (void)conn, (void)info;
  if (S.srv_closed)
    S.after_close++;
  S.opens++;
  sshmux_server_channel_set_cbs(ch, &cbs);
  ASSERT_OK(sshmux_server_channel_accept(ch));
}

static void s_conn_closed(sshmux_server_conn_t *conn) {
  (void)conn;
  if (S.srv_closed)
    S.after_close++;
  S.conn_closed++;
}

static void ct_log(sshmux_log_level_t l, const char *m, void *d) {
  (void)d;
  fprintf(stderr, "[%llu %s] %s\n", (unsigned long long)test_now_ms(),
          sshmux_log_level_name(l), m);
}

static void s_exit(uv_process_t *p, int64_t status, int sig) {
  (void)sig;
  S.proc_done = 1;
  S.exit_status = (int)status;
  uv_close((uv_handle_t *)p, NULL);
}

/* The server closed from inside a channel's request callback, with the
 * client mid-session: the channel's close callback runs once, the
 * connection's closed callback once, the server's close callback last,
 * and nothing after it; the client sees its connection end. */
TEST_IMPL_T(contract_server_close_inside_request_cb, 60) {
  sshmux_server_cbs_t cbs = {.channel_open = s_open, .closed = s_conn_closed};
  char *pub, idpath[600];
  test_argv_t args = {0};
  uv_process_options_t po;
  uv_stdio_container_t stdio[3];

  TEST_REQUIRE_PROGRAMS("ssh", "ssh-keygen");
  signal(SIGPIPE, SIG_IGN);
  ASSERT_OK(test_keygen("ed25519", test_path("host"), NULL));
  ASSERT_OK(test_keygen("ed25519", test_path("id"), NULL));
  snprintf(idpath, sizeof(idpath), "%s", test_path("id"));
  test_authorize_key(test_path("ak"), test_path("id"));
  pub = test_read_pub(test_path("host"));
  test_write_fmt(test_path("kh"), 0600, "* %s", pub);
  free(pub);
  memset(&S, 0, sizeof(S));
  if (getenv("CT_LOG"))
    sshmux_set_log_cb(ct_log, SSHMUX_LOG_TRACE, NULL);
  loop_start();
  /* An error return calls nothing: listening without a host key. */
  ASSERT_OK(sshmux_server_new(&loop, &cbs, &S.srv));
  ASSERT_ERR(sshmux_server_listen(S.srv, "127.0.0.1", 0), SSHMUX_ENOTFOUND);
  ASSERT_OK(sshmux_server_add_host_key(S.srv, test_path("host"),
                                       SSHMUX_SERVER_KEY_ED25519));
  ASSERT_OK(sshmux_server_set_authorized_keys(S.srv, test_path("ak")));
  ASSERT_OK(sshmux_server_listen(S.srv, "127.0.0.1", 0));
  test_argv_add(&args, "ssh", NULL);
  test_argv_ssh_opts(&args, "-p", sshmux_server_port(S.srv), idpath,
                     test_path("kh"));
  test_argv_add(&args, "tester@127.0.0.1", "sleep 10", NULL);
  memset(&po, 0, sizeof(po));
  memset(stdio, 0, sizeof(stdio));
  po.file = test_which("ssh");
  po.args = (char **)args.v;
  po.exit_cb = s_exit;
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_IGNORE;
  stdio[2].flags = UV_INHERIT_FD; /* ssh's complaints go to the test log */
  stdio[2].data.fd = 2;
  po.stdio = stdio;
  po.stdio_count = 3;
  ASSERT_OK(uv_spawn(&loop, &S.proc, &po));
  run_for_flag(&S.srv_closed, 30000);
  if (!S.srv_closed)
    test_fail(__FILE__, __LINE__,
              "server not closed: opens %d reqs %d chan_closes %d "
              "conn_closed %d proc_done %d",
              S.opens, S.reqs, S.chan_closes, S.conn_closed, S.proc_done);
  run_until(&S.proc_done, 30000);
  loop_finish(300);
  ASSERT_EQ(S.opens, 1);
  ASSERT_GE(S.reqs, 1);
  ASSERT_EQ(S.chan_closes, 1);
  ASSERT_EQ(S.conn_closed, 1);
  ASSERT_EQ(S.srv_closed, 1);
  ASSERT_EQ(S.after_close, 0);
  ASSERT_NE(S.exit_status, 0); /* its session was cut, not finished */
  return 0;
}
