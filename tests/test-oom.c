/* test-oom.c -- out of memory, curl's torture habit: for a representative
 * flow, the Nth allocation the library makes (its own and libssh2's, all
 * through sshmux_replace_allocator) fails, for N = 1, 2, ... until the flow
 * runs without meeting a failure.  Every run must end cleanly: a function
 * that fails returns SSHMUX_ENOMEM (never another code, never a crash), a
 * connection that cannot be served is refused (the client sees it end),
 * and once everything is closed not one byte the library allocated is
 * still live (our allocator counts; ASan under `make asan` checks the
 * rest).
 *
 * The flows:
 *  - routes: sshmux_routes_load of a file with every kind of section and
 *    list, and sshmux_routes_new + add_jump + add_route;
 *  - server: a server on a loop, a real OpenSSH ssh logging in by public
 *    key, opening a session and running a command (exec reply, output,
 *    exit status, EOF, close);
 *  - pool: a pool logging in to a real sshd and running a command on a
 *    session channel.  The library's own allocations fail in turn;
 *    libssh2's (which go through our allocator too, and count for leaks)
 *    do not, unless SSHMUX_OOM_SSH2=1: libssh2 1.10 leaks inside its key
 *    exchange when one of its allocations fails, and crashed in
 *    libssh2_session_disconnect after such a failure (the pool no longer
 *    sends a DISCONNECT before the handshake completed).
 *
 * Bounded time: routes runs every N.  The server and pool flows make
 * thousands of allocations, and each run costs a real login (tens of ms),
 * so make check runs N = 1..64 and then a stride that visits ~150 points
 * spread over the whole flow (the same points each time: no randomness);
 * SSHMUX_OOM_FULL=1 runs every N (minutes). */
#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "fixture-sshd.h"
#include "test.h"

/* ---- the failing allocator ---- */

#define HDR 16 /* keeps the caller's alignment */

static atomic_long n_allocs; /* allocations seen while armed */
static atomic_long fail_at;  /* the one to fail (1-based); 0 = none */
static atomic_long n_failed; /* failures injected */
static atomic_long live;     /* bytes handed out and not freed */
static atomic_int armed;

/* Is this allocation libssh2's own (a frame near the top is inside
 * libssh2.so)?  Those are not failed by default: libssh2 1.10 leaks and
 * crashes on some of its own allocation failures, which is a finding about
 * libssh2, not about us (SSHMUX_OOM_SSH2=1 fails them too, to look). */
static int from_libssh2(void) {
  void *frames[8];
  int n = backtrace(frames, 8);
  Dl_info info;

  for (int i = 1; i < n; i++)
    if (dladdr(frames[i], &info) != 0 && info.dli_fname != NULL &&
        strstr(info.dli_fname, "libssh2") != NULL)
      return 1;
  return 0;
}

static int should_fail(void) {
  long n;

  if (!atomic_load(&armed) ||
      (getenv("SSHMUX_OOM_SSH2") == NULL && from_libssh2()))
    return 0;
  n = atomic_fetch_add(&n_allocs, 1) + 1;
  if (n == atomic_load(&fail_at)) {
    atomic_fetch_add(&n_failed, 1);
    return 1;
  }
  return 0;
}

static void *oom_malloc(size_t n) {
  unsigned char *p;

  if (should_fail() || (p = malloc(n + HDR)) == NULL)
    return NULL;
  memcpy(p, &n, sizeof(n));
  atomic_fetch_add(&live, (long)n);
  return p + HDR;
}

static void *oom_calloc(size_t count, size_t size) {
  void *p;

  if (size != 0 && count > (SIZE_MAX - HDR) / size)
    return NULL;
  if ((p = oom_malloc(count * size)) != NULL)
    memset(p, 0, count * size);
  return p;
}

static void oom_free(void *ptr) {
  unsigned char *p = ptr;
  size_t n;

  if (p == NULL)
    return;
  memcpy(&n, p - HDR, sizeof(n));
  atomic_fetch_sub(&live, (long)n);
  free(p - HDR);
}

static void *oom_realloc(void *ptr, size_t n) {
  unsigned char *p = ptr, *q;
  size_t old;

  if (p == NULL)
    return oom_malloc(n);
  if (should_fail())
    return NULL; /* the old block stays the caller's */
  memcpy(&old, p - HDR, sizeof(old));
  if ((q = realloc(p - HDR, n + HDR)) == NULL)
    return NULL;
  memcpy(q, &n, sizeof(n));
  atomic_fetch_add(&live, (long)n - (long)old);
  return q + HDR;
}

static void oom_install(void) {
  if (getenv("OOM_NOINSTALL") == NULL)
    ASSERT_OK(sshmux_replace_allocator(oom_malloc, oom_realloc, oom_calloc,
                                       oom_free));
  ASSERT_OK(sshmux_init()); /* global set-up, once, outside the count */
}

/* Arm for one run failing allocation n (0: none). */
static void oom_arm(long n) {
  atomic_store(&n_allocs, 0);
  atomic_store(&n_failed, 0);
  atomic_store(&fail_at, n);
  atomic_store(&armed, 1);
}

static void oom_disarm(void) {
  atomic_store(&armed, 0);
}

/* The next N to try after n, for flows too long to try every N. */
static long next_n(long n, long total) {
  long stride;

  if (getenv("SSHMUX_OOM_FULL") != NULL || n < 64)
    return n + 1;
  stride = total / 150 > 1 ? total / 150 : 1;
  return n + stride;
}

/* One run of flow(arg) without failures (it must succeed, 1, with more
 * than min allocations and no leak), then one failing each allocation N
 * (next_n) in turn: any leak fails the test; prints the counts as name. */
static void oom_sweep(const char *name, long min, int (*flow)(void *),
                      void *arg) {
  long n, total, runs = 0, oks = 0;

  oom_arm(0);
  ASSERT_EQ(flow(arg), 1);
  oom_disarm();
  total = atomic_load(&n_allocs);
  ASSERT_EQ(atomic_load(&live), 0);
  ASSERT_GT(total, min);
  for (n = 1; n <= total; n = next_n(n, total), runs++) {
    uint64_t t0 = test_now_ms();
    oom_arm(n);
    oks += flow(arg);
    oom_disarm();
    if (test_now_ms() - t0 > 2000)
      fprintf(stderr, "# %s: allocation %ld: the run took %llu ms\n", name, n,
              (unsigned long long)(test_now_ms() - t0));
    if (atomic_load(&live) != 0)
      test_fail(__FILE__, __LINE__, "allocation %ld failed: %ld bytes leaked",
                n, atomic_load(&live));
  }
  fprintf(stderr,
          "# %s: %ld allocations per login+exec, %ld runs, %ld still served\n",
          name, total, runs, oks);
}

/* ---- routes ---- */

static const char routes_text[] =
    "[defaults]\nidle_timeout = 60\nenv_allow = LANG,LC_*\n"
    "askpass = /usr/bin/ssh-askpass\n"
    "[jump]\nhost = bastion.example.com\nuser = j\n"
    "[jumps.eu]\nhost = eu.example.com\nuser = ops\njump = default\n"
    "forward_allow = loopback,db:5432,[::1]:*\n"
    "[routes.web]\nhost = 10.0.0.10\nuser = deploy\nidentity = ~/.ssh/id\n"
    "jump = eu\nenv_allow = TERM\nforward_allow = /run/x.sock,*:80\n"
    "[routes.ext]\nhost = 203.0.113.5\nuser = ops\ndirect = true\n";

static int routes_flow(void) {
  sshmux_routes_t *r = NULL;
  char err[SSHMUX_ROUTES_ERR_MAX];
  const char *const jump[] = {"host",          "j.example",    "user", "j",
                              "forward_allow", "loopback,a:1", NULL};
  const char *const web[] = {"host",    "10.0.0.1", "user", "u", "env_allow",
                             "LANG,X*", "identity", "~/k",  NULL};
  int rc;

  rc = sshmux_routes_load(&r, test_path("routes.ini"), "/home/u", err,
                          sizeof(err));
  if (rc != 0) {
    ASSERT_EQ(rc, SSHMUX_ENOMEM);
    ASSERT(r == NULL);
  } else {
    ASSERT_EQ(sshmux_routes_count(r), 2);
    sshmux_routes_free(r);
  }
  r = NULL;
  if ((rc = sshmux_routes_new(&r, "oom", "/home/u")) != 0) {
    ASSERT_EQ(rc, SSHMUX_ENOMEM);
    return 0;
  }
  rc = sshmux_routes_add_jump(r, "default", jump, 1, err, sizeof(err));
  if (rc != 0)
    ASSERT_EQ(rc, SSHMUX_ENOMEM);
  rc = sshmux_routes_add_route(r, "web", web, 2, err, sizeof(err));
  if (rc != 0) {
    ASSERT_EQ(rc, SSHMUX_ENOMEM);
    ASSERT(sshmux_routes_find(r, "web") == NULL); /* unchanged */
  } else {
    ASSERT_STR_EQ(sshmux_route_identity(sshmux_routes_find(r, "web")),
                  "/home/u/k");
  }
  sshmux_routes_free(r);
  return 0;
}

TEST_IMPL(oom_routes) {
  long n, runs = 0;

  oom_install();
  ASSERT_OK(test_write_file(test_path("routes.ini"), routes_text, 0600));
  for (n = 1;; n++, runs++) {
    oom_arm(n);
    routes_flow();
    oom_disarm();
    ASSERT_EQ(atomic_load(&live), 0);
    if (atomic_load(&n_failed) == 0)
      break; /* the flow made fewer than n allocations: all were tried */
  }
  ASSERT_GT(runs, 20);
  fprintf(stderr, "# oom_routes: %ld allocations, every one failed once\n",
          n - 1);
  return 0;
}

/* ---- server ---- */

typedef struct {
  uv_loop_t loop;
  sshmux_server_t *srv;
  uv_process_t proc;
  int proc_done, srv_closed, exit_status;
  int execs;
} sflow_t;

static sflow_t S;

static void s_req(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                  sshmux_server_request_t *req,
                  const sshmux_server_request_info_t *info) {
  int is_exec = strcmp(info->type, "exec") == 0;

  (void)conn;
  sshmux_server_request_reply(req, is_exec);
  if (!is_exec)
    return;
  S.execs++;
  /* Each may fail for memory: the client then sees the channel end early,
   * which is the clean refusal the test accepts. */
  if (sshmux_server_channel_write(ch, SSHMUX_STREAM_STDOUT, "oom-ok\n", 7) <
          0 ||
      sshmux_server_channel_exit_status(ch, 0) != 0 ||
      sshmux_server_channel_eof(ch) != 0) {
  }
  sshmux_server_channel_close(ch);
}

static void s_open(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                   const sshmux_server_open_info_t *info) {
  static const sshmux_server_channel_cbs_t cbs = {.request = s_req};
  int rc;

  (void)conn;
  if (info->type != SSHMUX_CHANNEL_SESSION) {
    (void)sshmux_server_channel_reject(
        ch, SSHMUX_OPEN_ADMINISTRATIVELY_PROHIBITED, "no");
    return;
  }
  sshmux_server_channel_set_cbs(ch, &cbs);
  if ((rc = sshmux_server_channel_accept(ch)) != 0)
    ASSERT_EQ(rc, SSHMUX_ENOMEM);
}

static void s_exit(uv_process_t *p, int64_t status, int sig) {
  (void)sig;
  S.proc_done = 1;
  S.exit_status = (int)status;
  uv_close((uv_handle_t *)p, NULL);
}

static void s_closed(sshmux_server_t *srv) {
  (void)srv;
  S.srv_closed = 1;
}

/* Run one ssh client against S.srv to completion; its exit status. */
static int run_client(const char *key, const char *kh) {
  test_argv_t args = {0};
  uv_process_options_t po;
  uv_stdio_container_t stdio[3];
  uint64_t end;

  test_argv_add(&args, "ssh", NULL);
  test_argv_ssh_opts(&args, "-p", sshmux_server_port(S.srv), key, kh);
  test_argv_add(&args, "-o", "ConnectTimeout=10", "tester@127.0.0.1", "true",
                NULL);
  memset(&po, 0, sizeof(po));
  memset(stdio, 0, sizeof(stdio));
  po.file = test_which("ssh");
  po.args = (char **)args.v;
  po.exit_cb = s_exit;
  for (int i = 0; i < 3; i++)
    stdio[i].flags = UV_IGNORE;
  po.stdio = stdio;
  po.stdio_count = 3;
  S.proc_done = 0;
  S.exit_status = -1;
  ASSERT_OK(uv_spawn(&S.loop, &S.proc, &po));
  end = test_now_ms() + 30000;
  while (!S.proc_done) {
    uv_run(&S.loop, UV_RUN_ONCE);
    ASSERT(test_now_ms() < end);
  }
  return S.exit_status;
}

/* One run: 1 if the client got the command's exit status 0.  Whatever
 * failed, a second client (with no failure injected) must then be served:
 * a connection that ran out of memory ends, the server does not. */
static int server_flow(const char *host_key, const char *ak, const char *key,
                       const char *kh) {
  sshmux_server_cbs_t cbs = {.channel_open = s_open};
  uint64_t end;
  int rc, ok = 0, st, execs;

  memset(&S, 0, sizeof(S));
  ASSERT_OK(uv_loop_init(&S.loop));
  rc = sshmux_server_new(&S.loop, &cbs, &S.srv);
  if (rc != 0) {
    ASSERT_EQ(rc, SSHMUX_ENOMEM);
    ASSERT(S.srv == NULL);
    ASSERT_OK(uv_loop_close(&S.loop));
    return 0;
  }
  if ((rc = sshmux_server_add_host_key(S.srv, host_key,
                                       SSHMUX_SERVER_KEY_ED25519)) != 0 ||
      (rc = sshmux_server_set_authorized_keys(S.srv, ak)) != 0 ||
      (rc = sshmux_server_listen(S.srv, "127.0.0.1", 0)) != 0) {
    if (rc != SSHMUX_ENOMEM)
      test_fail(__FILE__, __LINE__,
                "allocation %ld failed: server set-up returned %s",
                atomic_load(&fail_at), sshmux_err_name(rc));
    goto close;
  }
  st = run_client(key, kh);
  /* Either the whole exchange worked, or the client was refused. */
  if (st != 0 && st != 255)
    test_fail(__FILE__, __LINE__, "allocation %ld failed: ssh exited %d",
              atomic_load(&fail_at), st);
  ok = st == 0 && S.execs == 1;
  oom_disarm();
  execs = S.execs;
  st = run_client(key, kh);
  if (st != 0 || S.execs != execs + 1)
    test_fail(__FILE__, __LINE__,
              "allocation %ld failed: the next client was not served (%d)",
              atomic_load(&fail_at), st);
close:
  sshmux_server_close(S.srv, s_closed);
  end = test_now_ms() + 10000;
  while (uv_run(&S.loop, UV_RUN_NOWAIT) != 0 || !S.srv_closed)
    ASSERT(test_now_ms() < end);
  ASSERT_OK(uv_loop_close(&S.loop));
  return ok;
}

/* server_flow on the files the test writes (arg unused), for oom_sweep. */
static int server_flow_files(void *arg) {
  (void)arg;
  return server_flow(test_path("host"), test_path("ak"), test_path("id"),
                     test_path("kh"));
}

TEST_IMPL_T(oom_server_accept_auth_channel, 600) {
  char *pub;

  TEST_REQUIRE_PROGRAMS("ssh", "ssh-keygen");
  signal(SIGPIPE, SIG_IGN);
  oom_install();
  ASSERT_OK(test_keygen("ed25519", test_path("host"), NULL));
  ASSERT_OK(test_keygen("ed25519", test_path("id"), NULL));
  test_authorize_key(test_path("ak"), test_path("id"));
  pub = test_read_pub(test_path("host"));
  test_write_fmt(test_path("kh"), 0600, "* %s", pub);
  free(pub);
  oom_sweep("oom_server", 50, server_flow_files, NULL);
  return 0;
}

/* ---- pool ---- */

typedef struct {
  uv_loop_t loop;
  sshmux_pool_t *pool;
  int opened, closed, pool_closed, status;
  char out[64];
  size_t out_len;
} pflow_t;

static pflow_t P;

static void p_data(sshmux_upchan_t *ch, int stream, const char *buf,
                   size_t len) {
  (void)ch, (void)stream;
  if (len > sizeof(P.out) - P.out_len)
    len = sizeof(P.out) - P.out_len;
  memcpy(P.out + P.out_len, buf, len);
  P.out_len += len;
}

static void p_closed(sshmux_upchan_t *ch, int status) {
  ASSERT_EQ(P.closed, 0); /* at most once */
  P.closed = 1;
  P.status = status == 0 ? sshmux_upchan_exit_status(ch) : status;
  sshmux_upchan_close(ch, NULL);
}

static void p_exec(sshmux_upchan_t *ch, int status, void *data) {
  (void)ch, (void)data;
  if (status != 0 && status != SSHMUX_ECLOSED && status != SSHMUX_EREQ_FAILED)
    ASSERT_EQ(status, SSHMUX_ENOMEM);
}

static void p_open(sshmux_upchan_t *ch, int status) {
  int rc;

  ASSERT_EQ(P.opened, 0); /* exactly once */
  P.opened = 1;
  if (status != 0) {
    P.closed = 1;
    P.status = status;
    return;
  }
  if ((rc = sshmux_upchan_exec(ch, "echo oom-ok", p_exec, NULL)) != 0) {
    ASSERT_EQ(rc, SSHMUX_ENOMEM);
    P.closed = 1;
    P.status = rc;
    sshmux_upchan_close(ch, NULL);
  }
}

static void p_pool_closed(sshmux_pool_t *pool, void *data) {
  (void)pool, (void)data;
  P.pool_closed = 1;
}

static void oom_log(sshmux_log_level_t level, const char *msg, void *data) {
  (void)data;
  fprintf(stderr, "[%s] %s\n", sshmux_log_level_name(level), msg);
}

static int pool_flow(test_sshd *s) {
  static const sshmux_upchan_callbacks_t cbs = {.on_data = p_data,
                                                .on_closed = p_closed};
  const char *kh[2] = {s->known_hosts, NULL};
  const char *ids[2] = {s->client_key, NULL};
  sshmux_pool_options_t o;
  sshmux_target_t t;
  sshmux_upchan_spec_t spec = {.type = SSHMUX_UPCHAN_SESSION};
  sshmux_upchan_t *ch = NULL;
  uint64_t end;
  int rc;

  memset(&P, 0, sizeof(P));
  ASSERT_OK(uv_loop_init(&P.loop));
  sshmux_pool_options_init(&o);
  o.known_hosts = kh;
  o.use_agent = 0;
  if ((rc = sshmux_pool_new(&P.loop, &o, &P.pool)) != 0) {
    ASSERT_EQ(rc, SSHMUX_ENOMEM);
    ASSERT_OK(uv_loop_close(&P.loop));
    return 0;
  }
  sshmux_target_init(&t);
  t.user = s->user;
  t.host = "127.0.0.1";
  t.port = s->port;
  t.identity_files = ids;
  rc = sshmux_pool_open_channel(P.pool, &t, &spec, &cbs, NULL, p_open, &ch);
  if (rc != 0) {
    ASSERT_EQ(rc, SSHMUX_ENOMEM);
    P.closed = 1; /* no callback will come */
  }
  end = test_now_ms() + 30000;
  while (!P.closed) {
    uv_run(&P.loop, UV_RUN_ONCE);
    if (test_now_ms() > end)
      test_fail(__FILE__, __LINE__,
                "allocation %ld failed: the channel never completed",
                atomic_load(&fail_at));
  }
  sshmux_pool_close(P.pool, p_pool_closed, NULL);
  end = test_now_ms() + 30000;
  while (uv_run(&P.loop, UV_RUN_NOWAIT) != 0 || !P.pool_closed) {
    if (test_now_ms() > end)
      test_fail(__FILE__, __LINE__,
                "allocation %ld failed: the pool never closed",
                atomic_load(&fail_at));
    usleep(1000);
  }
  ASSERT_OK(uv_loop_close(&P.loop));
  return P.status == 0 && P.out_len == 7 && memcmp(P.out, "oom-ok\n", 7) == 0;
}

/* pool_flow on the sshd arg, for oom_sweep. */
static int pool_flow_arg(void *arg) {
  return pool_flow(arg);
}

TEST_IMPL_T(oom_pool_login_channel, 600) {
  static test_sshd s;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  signal(SIGPIPE, SIG_IGN);
  oom_install();
  if (getenv("OOM_LOG") != NULL)
    sshmux_set_log_cb(oom_log, SSHMUX_LOG_TRACE, NULL);
  ASSERT_EQ(test_sshd_start(&s, NULL), 0);
  oom_sweep("oom_pool", 10, pool_flow_arg, &s);
  test_sshd_stop(&s);
  return 0;
}
