/* test-pool-jump.c -- targets behind jump hosts, in network namespaces:
 * the jump sshd lives in namespace J (reachable from here), the target in
 * T (reachable only from J; this namespace cannot connect to it).  The
 * target connection rides a direct-tcpip channel of the pooled jump
 * connection, which stays alive (and is reused) while dependents live; a
 * chain of two jumps works; losing the jump fails the dependents promptly
 * with a clear reason. */
#include <signal.h>
#include <string.h>

#include "fixture-netns.h"
#include "pool-harness.h"

static const sshmux_conn_stats_t *find(const sshmux_conn_stats_t *cs, size_t n,
                                       int port) {
  char suffix[16];
  snprintf(suffix, sizeof(suffix), ":%d", port);
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(cs[i].target), sl = strlen(suffix);
    if (l > sl && strcmp(cs[i].target + l - sl, suffix) == 0)
      return &cs[i];
  }
  test_fail(__FILE__, __LINE__, "no connection to port %d", port);
}

/* Set up a new topology in topo (it must succeed); the options of an sshd
 * named name in its namespace J, listening on J's address. */
static test_sshd_opts topo_and_sshd_in_j(test_netns_topo *topo,
                                         const char *name) {
  ASSERT_OK(test_netns_setup(topo));
  return test_sshd_opts_in(name, topo->ns_j, topo->j_addr);
}

TEST_IMPL_T(pool_jump_host, 90) {
  test_sshd j, s;
  test_sshd_opts jo, so;
  test_sshd *all[2] = {&j, &s};
  test_netns_topo topo;
  sshmux_pool_options_t o;
  sshmux_target_t jt, t;
  sshmux_conn_stats_t cs[4];
  static ph_job_t jobs[20];
  size_t n;
  int conns0;
  ph_t h;

  TEST_REQUIRE_NETNS();
  jo = topo_and_sshd_in_j(&topo, "jump");
  so = test_sshd_opts_in("target", topo.ns_t, topo.t_addr);
  so.max_sessions = 30;
  ASSERT_OK(test_sshd_start(&j, &jo));
  ASSERT_OK(test_sshd_start(&s, &so));
  conns0 = test_sshd_log_count(&s, "Connection from"); /* the fixture's probe */
  /* The target is out of our reach: only the jump gets there. */
  ASSERT(test_wait_addr(topo.t_addr, s.port, 0, 500) != 0);
  ph_options(&o, ph_known_hosts(all, 2));
  o.reap_interval_ms = 100;
  ph_init(&h, &o);
  ph_target(&jt, &j);
  ph_target(&t, &s);
  t.jump = &jt;
  jt.idle_timeout_s = 1; /* would expire, but dependents keep it */

  /* 20 concurrent, asked before anything is connected: one jump login,
   * one tunnel, one target login. */
  for (int i = 0; i < 20; i++)
    ph_exec(&h, &t, "echo via-jump; echo $SSH_CONNECTION", &jobs[i]);
  ph_run_jobs(&h, jobs, 20, 60000);
  for (int i = 0; i < 20; i++) {
    PH_ASSERT_OPENED(&jobs[i]);
    ASSERT_STR_CONTAINS(jobs[i].out, "via-jump\n");
    ASSERT_STR_CONTAINS(jobs[i].out, topo.j_t_addr); /* from J's side */
  }
  /* 20 sequential on the same connections. */
  for (int i = 0; i < 20; i++) {
    ph_exec_wait(&h, &t, "echo seq", &jobs[0], 30000);
    ASSERT_STR_EQ(jobs[0].out, "seq\n");
  }
  /* One login on each: the target's TCP came from the jump's sshd. */
  ASSERT_EQ(test_sshd_log_count(&j, "Accepted publickey"), 1);
  ASSERT_EQ(test_sshd_log_count(&s, "Accepted publickey"), 1);
  ASSERT_EQ(test_sshd_log_count(&s, "Connection from"), conns0 + 1);
  ASSERT_GE(test_sshd_log_count(&j, "direct-tcpip"), 1);

  ph_run_for(&h, 1500); /* past the jump's idle timeout */
  ASSERT_OK(sshmux_pool_stats(h.pool, NULL, cs, 4, &n));
  ASSERT_EQ(n, 2);
  {
    const sshmux_conn_stats_t *jc = find(cs, n, j.port),
                              *tc = find(cs, n, s.port);
    char chain[300];
    snprintf(chain, sizeof(chain), "%s@%s:%d", j.user, j.addr, j.port);
    ASSERT_STR_EQ(tc->jump_chain, chain);
    ASSERT_STR_EQ(jc->jump_chain, "");
    ASSERT_EQ(jc->dependents, 1);
    ASSERT_EQ(jc->channels, 1); /* the tunnel */
    ASSERT_EQ(jc->sessions, 0);
    ASSERT_EQ(jc->state, SSHMUX_CONN_ACTIVE);
    ASSERT_EQ(tc->state, SSHMUX_CONN_ACTIVE);
  }

  /* Lose the jump: the target connection and its channel fail at once. */
  ph_exec_started(&h, &t, &jobs[0]);
  {
    uint64_t t0 = test_now_ms();
    ASSERT_EQ(ph_signal_sessions(&j, SIGKILL), 1);
    ph_run_until(&h, &jobs[0].done, 5000);
    ASSERT_LT(test_now_ms() - t0, 3000);
  }
  ASSERT_EQ(jobs[0].closed_status, SSHMUX_EDISCONNECTED);
  ASSERT_STR_CONTAINS(jobs[0].errmsg, "jump");
  ph_run_for(&h, 100);
  ASSERT_OK(sshmux_pool_stats(h.pool, NULL, NULL, 0, &n));
  ASSERT_EQ(n, 0);
  ph_close(&h);
  ph_signal_sessions(&s, SIGKILL);
  ph_sshd_stop(&s);
  ph_sshd_stop(&j);
  test_netns_teardown(&topo);
  return 0;
}

TEST_IMPL_T(pool_jump_chain, 90) {
  test_sshd j1, j2, s;
  test_sshd_opts o1, o2, so;
  test_sshd *all[3] = {&j1, &j2, &s};
  test_netns_topo topo;
  sshmux_pool_options_t o;
  sshmux_target_t hop[3], *t2 = &hop[1], *t = &hop[2];
  sshmux_conn_stats_t cs[4];
  ph_job_t a, b;
  size_t n;
  ph_t h;

  TEST_REQUIRE_NETNS();
  /* j1 on loopback here, j2 in J, the target in T: each hop reaches only
   * the next. */
  o2 = topo_and_sshd_in_j(&topo, "j2");
  o1 = test_sshd_opts_in("j1", NULL, NULL);
  so = test_sshd_opts_in("target", topo.ns_t, topo.t_addr);
  ASSERT_OK(test_sshd_start(&j1, &o1));
  ASSERT_OK(test_sshd_start(&j2, &o2));
  ASSERT_OK(test_sshd_start(&s, &so));
  ph_options(&o, ph_known_hosts(all, 3));
  ph_init(&h, &o);
  ph_chain(hop, (test_sshd *[]){&j1, &j2, &s}, 3);
  ph_exec_wait(&h, t, "echo two-hops", &a, 20000);
  PH_ASSERT_OPENED(&a);
  ASSERT_STR_EQ(a.out, "two-hops\n");
  /* The second jump is a pooled target of its own: a session to it reuses
   * the same connections. */
  ph_exec_wait(&h, t2, "echo middle", &b, 20000);
  ASSERT_STR_EQ(b.out, "middle\n");
  ASSERT_OK(sshmux_pool_stats(h.pool, NULL, cs, 4, &n));
  ASSERT_EQ(n, 3);
  {
    char chain[400];
    snprintf(chain, sizeof(chain), "%s@%s:%d,%s@%s:%d", j1.user, j1.addr,
             j1.port, j2.user, j2.addr, j2.port);
    ASSERT_STR_EQ(find(cs, n, s.port)->jump_chain, chain);
    ASSERT_EQ(find(cs, n, j1.port)->dependents, 1);
    ASSERT_EQ(find(cs, n, j2.port)->dependents, 1);
  }
  ASSERT_EQ(test_sshd_log_count(&j1, "Accepted publickey"), 1);
  ASSERT_EQ(test_sshd_log_count(&j2, "Accepted publickey"), 1);
  ASSERT_EQ(test_sshd_log_count(&s, "Accepted publickey"), 1);
  ph_close(&h);
  ph_sshd_stop(&s);
  ph_sshd_stop(&j2);
  ph_sshd_stop(&j1);
  test_netns_teardown(&topo);
  return 0;
}

/* The jump host cannot reach the target (nothing listens there): the
 * request fails with the jump's reason, and the jump connection stays
 * pooled and usable. */
TEST_IMPL_T(pool_jump_unreachable_target, 60) {
  test_sshd_opts jo = test_sshd_opts_in("jump", NULL, NULL);
  sshmux_target_t t;
  ph_job_t a;
  size_t n;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ph_setup(&h, &jo); /* h.t: the jump */
  ph_target(&t, &h.s);
  t.port = test_free_port(); /* closed */
  t.jump = &h.t;
  ph_exec_wait(&h, &t, "true", &a, 20000);
  ASSERT_EQ(a.open_status, SSHMUX_ECHAN_FAILED);
  ASSERT_STR_CONTAINS(a.errmsg, "cannot reach");
  ASSERT_STR_CONTAINS(a.errmsg, "connect failed");
  ASSERT_OK(sshmux_pool_stats(h.pool, NULL, NULL, 0, &n));
  ASSERT_EQ(n, 1); /* the jump itself */
  ph_exec_wait(&h, &h.t, "echo jump-ok", &a, 20000);
  ASSERT_STR_EQ(a.out, "jump-ok\n");
  ph_teardown(&h);
  return 0;
}

/* A black-holed link (the jump's veth taken down: no RST, no FIN, nothing)
 * is found dead by the liveness probe and reaped. */
TEST_IMPL_T(pool_blackholed_link_reaped, 60) {
  test_netns_topo topo;
  test_sshd_opts jo;
  ph_job_t a;
  ph_t h;

  TEST_REQUIRE_NETNS();
  jo = topo_and_sshd_in_j(&topo, "jump");
  ph_probed_session(&h, &jo, &a); /* h.t: the jump */
  {
    const char *argv[] = {"ip",         "link", "set", "dev",
                          topo.if_root, "down", NULL};
    ASSERT_EQ(test_run_simple(argv, NULL, NULL), 0);
  }
  ph_expect_reaped(&h, &a, test_now_ms(), 5000);
  ph_teardown(&h);
  test_netns_teardown(&topo);
  return 0;
}
