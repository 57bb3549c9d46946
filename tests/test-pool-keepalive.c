/* test-pool-keepalive.c -- the liveness probe interval is per target:
 * a target's keepalive_s overrides the pool's keepalive_ms, and 0 turns
 * probes off (counted in the upstream sshd's DEBUG log, where each probe
 * is a refused channel open of type liveness-probe@sshmux). */
#include <string.h>

#include "pool-harness.h"

#define PROBE "liveness-probe@sshmux"

static void run_silent(ph_t *h, const sshmux_target_t *t, const char *cmd) {
  ph_job_t a;

  memset(&a, 0, sizeof(a));
  ph_exec(h, t, cmd, &a);
  ph_run_until(h, &a.done, 15000);
  ASSERT_OK(a.open_status);
  ASSERT_EQ(a.exit_status, 0);
}

TEST_IMPL_T(pool_keepalive_per_target, 60) {
  test_sshd s;
  sshmux_pool_options_t o;
  sshmux_target_t t;
  int before;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ASSERT_OK(test_sshd_start(&s, NULL));

  /* Pool default 60 s, target 1 s: probes within a silent 3 s. */
  ph_options(&o, s.known_hosts);
  o.keepalive_ms = 60000;
  ph_init(&h, &o);
  ph_target(&t, &s);
  t.keepalive_s = 1;
  run_silent(&h, &t, "sleep 3");
  ASSERT_GE(ph_log_count(&s, PROBE), 2);
  ph_close(&h);

  /* Pool default 0.5 s, target 0 = off: none at all. */
  before = ph_log_count(&s, PROBE);
  o.keepalive_ms = 500;
  ph_init(&h, &o);
  ph_target(&t, &s);
  t.keepalive_s = 0;
  run_silent(&h, &t, "sleep 2");
  ASSERT_EQ(ph_log_count(&s, PROBE), before);
  ph_close(&h);

  /* Pool keepalive_ms 0 (and the target's default): off too. */
  o.keepalive_ms = 0;
  ph_init(&h, &o);
  ph_target(&t, &s);
  run_silent(&h, &t, "sleep 2");
  ASSERT_EQ(ph_log_count(&s, PROBE), before);
  ph_close(&h);
  ph_sshd_stop(&s);
  return 0;
}
