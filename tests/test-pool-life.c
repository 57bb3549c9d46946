/* test-pool-life.c -- the life of a pooled connection against a real sshd:
 * the upstream killed mid-session (channels fail at once with a clear
 * reason, the pool forgets the connection), the upstream SIGSTOPped (the
 * liveness probe reaps it within keepalive_ms * keepalive_count), idle and
 * lifetime expiry, lock/unlock, and the stats values along the way. */
#include <signal.h>
#include <string.h>

#include "pool-harness.h"

static size_t nconns(ph_t *h) {
  size_t n = 0;
  ASSERT_OK(sshmux_pool_stats(h->pool, NULL, NULL, 0, &n));
  return n;
}

TEST_IMPL_T(pool_upstream_killed, 60) {
  ph_job_t a, b;
  uint64_t t0;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ph_setup(&h, NULL);
  memset(&b, 0, sizeof(b));
  ph_exec(&h, &h.t, "exec cat", &b);
  ph_exec_started(&h, &h.t, &a);
  ASSERT_EQ(nconns(&h), 1);
  t0 = test_now_ms();
  /* The listener and the connection's own sshd (its own session group). */
  ASSERT_EQ(ph_signal_sessions(&h.s, SIGKILL), 1);
  ph_sshd_stop(&h.s);
  ph_run_until(&h, &a.done, 5000);
  ph_run_until(&h, &b.done, 5000);
  ASSERT_LT(test_now_ms() - t0, 4000); /* promptly, even on a busy box */
  ASSERT_EQ(a.closed_status, SSHMUX_EDISCONNECTED);
  ASSERT_EQ(b.closed_status, SSHMUX_EDISCONNECTED);
  ASSERT_STR_CONTAINS(a.errmsg, "closed by upstream");
  ASSERT_EQ(nconns(&h), 0); /* forgotten */
  /* A new request makes a new attempt, which fails cleanly. */
  ASSERT_EQ(ph_exec_wait(&h, &h.t, "true", &a, 5000), UV_ECONNREFUSED);
  ASSERT_STR_CONTAINS(a.errmsg, "cannot connect");
  ph_close(&h);
  return 0;
}

TEST_IMPL_T(pool_upstream_stopped_reaped, 60) {
  ph_job_t a;
  uint64_t t0, took;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ph_probed_session(&h, NULL, &a);
  /* A quiet but healthy connection survives several intervals. */
  ph_run_for(&h, 2000);
  ASSERT(!a.done);
  ASSERT_EQ(nconns(&h), 1);
  t0 = test_now_ms();
  ASSERT_EQ(ph_signal_sessions(&h.s, SIGSTOP), 1);
  /* keepalive_ms * count (1.2 s) plus at most half an interval (and some
   * slack for a loaded machine). */
  took = ph_expect_reaped(&h, &a, t0, 4000);
  ph_signal_sessions(&h.s, SIGCONT);
  ASSERT_GE(took, 400); /* not on the first silence */
  ASSERT_STR_CONTAINS(a.errmsg, "no response from upstream");
  ph_teardown(&h);
  return 0;
}

TEST_IMPL_T(pool_idle_and_lifetime, 60) {
  sshmux_conn_stats_t cs[4];
  sshmux_pool_stats_t ps;
  ph_job_t a, b;
  size_t n;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ph_fixture(&h, NULL);
  h.o.reap_interval_ms = 100;
  ph_init(&h, &h.o);

  /* Idle: 1 s without channels and it goes. */
  h.t.idle_timeout_s = 1;
  h.t.max_lifetime_s = 0;
  ph_exec_wait(&h, &h.t, "true", &a, 10000);
  ASSERT_OK(sshmux_pool_stats(h.pool, NULL, cs, 4, &n));
  ASSERT_EQ(n, 1);
  ASSERT_LE(cs[0].expires_in_ms, 1000);
  ASSERT_GT(cs[0].expires_in_ms, 0);
  ph_run_for(&h, 1500);
  ASSERT_EQ(nconns(&h), 0);

  /* Lifetime: 2 s.  A connection carrying a session drains (takes no new
   * channels) and closes once the session ends; meanwhile a new request
   * gets a fresh connection. */
  h.t.idle_timeout_s = 0;
  h.t.max_lifetime_s = 2;
  ph_exec_started(&h, &h.t, &a);
  for (int i = 0; i < 300; i++) {
    ASSERT_OK(sshmux_pool_stats(h.pool, NULL, cs, 4, &n));
    ASSERT_EQ(n, 1);
    if (cs[0].state == SSHMUX_CONN_DRAINING)
      break;
    ph_run_for(&h, 50);
  }
  ASSERT_EQ(cs[0].state, SSHMUX_CONN_DRAINING);
  ASSERT_EQ(cs[0].channels, 1);
  ASSERT(!a.done);
  h.t.max_lifetime_s = 0; /* the fresh connection's own settings */
  ph_exec_wait(&h, &h.t, "echo fresh", &b, 30000);
  ASSERT_STR_EQ(b.out, "fresh\n");
  ASSERT_OK(sshmux_pool_stats(h.pool, &ps, cs, 4, &n));
  ASSERT_EQ(n, 2);
  ASSERT_EQ(ps.connects, 3);
  /* The last channel of the draining connection ends: it goes. */
  ph_job_close(&a);
  ph_run_until(&h, &a.done, 10000);
  for (int i = 0; i < 200 && n != 1; i++) {
    ph_run_for(&h, 50);
    ASSERT_OK(sshmux_pool_stats(h.pool, NULL, cs, 4, &n));
  }
  ASSERT_EQ(n, 1); /* the drained one is gone, the fresh one lives */
  ASSERT_EQ(cs[0].state, SSHMUX_CONN_ACTIVE);
  ph_teardown(&h);
  return 0;
}

static void held_data(sshmux_upchan_t *ch, int stream, const char *buf,
                      size_t len) {
  (void)ch;
  (void)stream;
  (void)buf;
  (void)len;
}
static void held_closed(sshmux_upchan_t *ch, int status) {
  int *flag = sshmux_upchan_get_data(ch);
  (void)status;
  *flag = 1;
}
static void held_open(sshmux_upchan_t *ch, int status) {
  int *flag = sshmux_upchan_get_data(ch);
  ASSERT_OK(status);
  *flag = 2;
}
static void held_close_cb(sshmux_upchan_t *ch) {
  int *flag = sshmux_upchan_get_data(ch);
  *flag = 3;
}

TEST_IMPL_T(pool_lock_unlock_and_stats, 60) {
  static const sshmux_upchan_callbacks_t cbs = {held_data, NULL, held_closed,
                                                NULL};
  sshmux_upchan_spec_t spec = ph_spec(SSHMUX_UPCHAN_SESSION);
  sshmux_upchan_t *held;
  sshmux_conn_stats_t cs[2];
  sshmux_pool_stats_t ps;
  int flag = 0;
  ph_job_t a;
  size_t n;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ph_setup(&h, NULL);
  h.t.idle_timeout_s = 100;
  h.t.max_lifetime_s = 1000;
  ASSERT_OK(sshmux_pool_open_channel(h.pool, &h.t, &spec, &cbs, &flag,
                                     held_open, &held));
  ph_run_until(&h, &flag, 10000);
  ASSERT_EQ(flag, 2);
  ASSERT_OK(sshmux_upchan_shell(held, NULL, NULL));

  sshmux_pool_lock(h.pool);
  ASSERT(sshmux_pool_is_locked(h.pool));
  memset(&a, 0, sizeof(a));
  ph_exec(&h, &h.t, "echo no", &a);
  ASSERT(!a.done); /* never from inside the call */
  ph_run_until(&h, &a.done, 30000);
  ASSERT_EQ(a.open_status, SSHMUX_ELOCKED);
  ASSERT_STR_CONTAINS(a.errmsg, "locked");
  ASSERT_EQ(flag, 2); /* the open channel keeps running */
  sshmux_pool_unlock(h.pool);
  ph_exec_wait(&h, &h.t, "echo yes", &a, 30000);
  ASSERT_STR_EQ(a.out, "yes\n");

  ASSERT_OK(sshmux_pool_stats(h.pool, &ps, cs, 2, &n));
  ASSERT_EQ(n, 1);
  ASSERT_EQ(ps.connections, 1);
  ASSERT_EQ(ps.logins, 1);
  ASSERT_EQ(ps.channels_opened, 2);
  {
    char want[300];
    snprintf(want, sizeof(want), "%s@%s:%d", h.s.user, h.s.addr, h.s.port);
    ASSERT_STR_EQ(cs[0].target, want);
  }
  ASSERT_STR_EQ(cs[0].jump_chain, "");
  ASSERT_EQ(cs[0].state, SSHMUX_CONN_ACTIVE);
  ASSERT_STR_EQ(sshmux_conn_state_name(cs[0].state), "active");
  ASSERT_EQ(cs[0].channels, 1);
  ASSERT_EQ(cs[0].sessions, 1);
  ASSERT_EQ(cs[0].learned_limit, 0);
  ASSERT_EQ(cs[0].dependents, 0);
  ASSERT_GT(cs[0].bytes_in, 1000); /* handshake and login counted too */
  ASSERT_GT(cs[0].bytes_out, 1000);
  ASSERT_GT(cs[0].age_ms, 0);
  ASSERT_LT(cs[0].age_ms, 20000);
  ASSERT_EQ(cs[0].idle_ms, 0); /* in use */
  ASSERT_GT(cs[0].expires_in_ms, 990000 - 20000);
  ASSERT_LE(cs[0].expires_in_ms, 1000000);
  ASSERT_STR_EQ(cs[0].auth_methods, "publickey");
  ASSERT_EQ(cs[0].overflow, 0);

  sshmux_upchan_close(held, held_close_cb);
  for (int i = 0; i < 100 && flag != 3; i++)
    ph_run_for(&h, 20);
  ASSERT_EQ(flag, 3);
  ph_run_for(&h, 100);
  ASSERT_OK(sshmux_pool_stats(h.pool, NULL, cs, 2, &n));
  ASSERT_EQ(cs[0].channels, 0);
  ASSERT_GE(cs[0].idle_ms, 50);
  ASSERT_LE(cs[0].expires_in_ms, 100000);
  ph_teardown(&h);
  return 0;
}

static void never_open(sshmux_upchan_t *ch, int status) {
  (void)ch;
  (void)status;
  test_fail(__FILE__, __LINE__, "open_cb after a synchronous error");
}

TEST_IMPL(pool_open_channel_invalid) {
  sshmux_pool_options_t o;
  sshmux_target_t t, a, b;
  sshmux_upchan_spec_t spec = ph_spec(SSHMUX_UPCHAN_SESSION);
  ph_t h;

  ph_options(&o, NULL);
  ph_init(&h, &o);
  sshmux_target_init(&t);
  t.user = "u";
  ASSERT_ERR(
      sshmux_pool_open_channel(h.pool, &t, &spec, NULL, NULL, never_open, NULL),
      SSHMUX_EINVAL); /* no host */
  t.host = "h";
  sshmux_target_init(&a);
  sshmux_target_init(&b);
  a.user = b.user = "u";
  a.host = b.host = "j";
  a.jump = &b;
  b.jump = &a; /* a cycle */
  t.jump = &a;
  ASSERT_ERR(
      sshmux_pool_open_channel(h.pool, &t, &spec, NULL, NULL, never_open, NULL),
      SSHMUX_EINVAL);
  t.jump = NULL;
  spec.type = SSHMUX_UPCHAN_DIRECT_TCPIP; /* no host:port */
  ASSERT_ERR(
      sshmux_pool_open_channel(h.pool, &t, &spec, NULL, NULL, never_open, NULL),
      SSHMUX_EINVAL);
  ph_close(&h);
  return 0;
}
