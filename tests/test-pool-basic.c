/* test-pool-basic.c -- the pool against a real sshd: many sessions share
 * one authenticated connection (sequential and concurrent), exec output,
 * stderr, exit status and signals come back right, and the second session
 * opens no new TCP connection (counted in sshd's log and the pool's
 * stats); sshmux_pool_new checks its arguments first. */
#include <string.h>

#include "pool-harness.h"

TEST_IMPL_T(pool_sequential_20, 90) {
  test_sshd s;
  sshmux_pool_options_t o;
  sshmux_target_t t;
  sshmux_pool_stats_t ps;
  sshmux_conn_stats_t cs[4];
  size_t n;
  int conns0;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ASSERT_OK(test_sshd_start(&s, NULL));
  conns0 = test_sshd_log_count(&s, "Connection from"); /* the fixture's probe */
  ph_options(&o, s.known_hosts);
  ph_init(&h, &o);
  ph_target(&t, &s);
  for (int i = 0; i < 20; i++) {
    ph_job_t j;
    char cmd[64], want[64];
    memset(&j, 0, sizeof(j));
    snprintf(cmd, sizeof(cmd), "echo seq-%d; echo err-%d >&2; exit %d", i, i,
             i % 7);
    ph_exec(&h, &t, cmd, &j);
    ph_run_until(&h, &j.done, 30000);
    if (j.open_status != 0)
      test_sshd_dump_log(&s);
    ASSERT_OK(j.open_status);
    ASSERT_OK(j.exec_status);
    ASSERT_OK(j.closed_status);
    snprintf(want, sizeof(want), "seq-%d\n", i);
    ASSERT_STR_EQ(j.out, want);
    /* Contains, not equals: a login shell's rc files may chatter. */
    snprintf(want, sizeof(want), "err-%d\n", i);
    ASSERT_STR_CONTAINS(j.err, want);
    ASSERT_EQ(j.exit_status, i % 7);
    ASSERT(j.eof);
    if (i == 0)
      ASSERT_EQ(test_sshd_log_count(&s, "Accepted publickey"), 1);
  }
  /* One TCP connection and one login served all twenty. */
  ASSERT_EQ(test_sshd_log_count(&s, "Accepted publickey"), 1);
  ASSERT_EQ(test_sshd_log_count(&s, "Connection from"), conns0 + 1);
  ASSERT_OK(sshmux_pool_stats(h.pool, &ps, cs, 4, &n));
  ASSERT_EQ(n, 1);
  ASSERT_EQ(ps.connects, 1);
  ASSERT_EQ(ps.logins, 1);
  ASSERT_EQ(ps.channels_opened, 20);
  ASSERT_EQ(cs[0].state, SSHMUX_CONN_ACTIVE);
  ASSERT_EQ(cs[0].channels, 0);
  ASSERT_STR_EQ(cs[0].auth_methods, "publickey");
  ASSERT_STR_EQ(cs[0].jump_chain, "");
  ASSERT(cs[0].bytes_in > 0 && cs[0].bytes_out > 0);
  ph_close(&h);
  ph_sshd_stop(&s);
  return 0;
}

TEST_IMPL_T(pool_concurrent_20, 90) {
  test_sshd_opts so;
  test_sshd s;
  sshmux_pool_options_t o;
  sshmux_target_t t;
  sshmux_pool_stats_t ps;
  static ph_job_t j[20];
  char cmds[20][64];
  int all = 0, conns0;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  memset(&so, 0, sizeof(so));
  so.max_sessions = 30;
  ASSERT_OK(test_sshd_start(&s, &so));
  conns0 = test_sshd_log_count(&s, "Connection from"); /* the fixture's probe */
  ph_options(&o, s.known_hosts);
  ph_init(&h, &o);
  ph_target(&t, &s);
  /* All twenty are asked for before the connection exists: they queue
   * behind one connection attempt (one login, no thundering herd). */
  for (int i = 0; i < 20; i++) {
    snprintf(cmds[i], sizeof(cmds[i]), "sleep 0.2; echo conc-%d", i);
    ph_exec(&h, &t, cmds[i], &j[i]);
  }
  while (!all) {
    ph_run_for(&h, 50);
    all = 1;
    for (int i = 0; i < 20; i++)
      all &= j[i].done;
    ASSERT(test_now_ms() > 0);
  }
  for (int i = 0; i < 20; i++) {
    char want[64];
    ASSERT_OK(j[i].open_status);
    snprintf(want, sizeof(want), "conc-%d\n", i);
    ASSERT_STR_EQ(j[i].out, want);
    ASSERT_EQ(j[i].exit_status, 0);
  }
  ASSERT_EQ(test_sshd_log_count(&s, "Connection from"), conns0 + 1);
  ASSERT_EQ(test_sshd_log_count(&s, "Accepted publickey"), 1);
  ASSERT_OK(sshmux_pool_stats(h.pool, &ps, NULL, 0, NULL));
  ASSERT_EQ(ps.connects, 1);
  ASSERT_EQ(ps.channels_opened, 20);
  ph_close(&h);
  ph_sshd_stop(&s);
  return 0;
}

/* Arguments are checked before anything is written through them. */
TEST_IMPL(pool_new_bad_args) {
  uv_loop_t loop;
  sshmux_pool_t *pool = (sshmux_pool_t *)&loop;

  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_EQ(sshmux_pool_new(&loop, NULL, NULL), SSHMUX_EINVAL);
  ASSERT_EQ(sshmux_pool_new(NULL, NULL, NULL), SSHMUX_EINVAL);
  ASSERT_EQ(sshmux_pool_new(NULL, NULL, &pool), SSHMUX_EINVAL);
  ASSERT(pool == NULL);
  ASSERT_OK(uv_loop_close(&loop));
  return 0;
}
