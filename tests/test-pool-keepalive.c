/* test-pool-keepalive.c -- the liveness probe interval is per target:
 * a target's keepalive_s overrides the pool's keepalive_ms, and 0 turns
 * probes off (counted in the upstream sshd's DEBUG log, where each probe
 * is a refused channel open of type liveness-probe@sshmux). */
#include <string.h>
#include <unistd.h>

#include "pool-harness.h"

#define PROBE "liveness-probe@sshmux"

/* The probe count in sshd's log once it stops moving: sshd writes the
 * refusals of a closed connection a little later, so a count taken right
 * after the close may still grow (seen under a loaded make check). */
static int settled_probes(test_sshd *s) {
  int n = test_sshd_log_count(s, PROBE), prev = -1;

  for (int i = 0; i < 50 && n != prev; i++) { /* 5 s at most */
    prev = n;
    usleep(100 * 1000);
    n = test_sshd_log_count(s, PROBE);
  }
  return n;
}

static void run_silent(ph_t *h, const sshmux_target_t *t, const char *cmd) {
  ph_job_t a;

  ASSERT_OK(ph_exec_wait(h, t, cmd, &a, 15000));
  ASSERT_EQ(a.exit_status, 0);
}

TEST_IMPL_T(pool_keepalive_per_target, 60) {
  int before;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ph_fixture(&h, NULL);

  /* Pool default 60 s, target 1 s: probes within a silent 3 s. */
  h.o.keepalive_ms = 60000;
  ph_init(&h, &h.o);
  h.t.keepalive_s = 1;
  run_silent(&h, &h.t, "sleep 3");
  ASSERT_GE(test_sshd_log_count(&h.s, PROBE), 2);
  ph_close(&h);

  /* Pool default 0.5 s, target 0 = off: none at all. */
  before = settled_probes(&h.s);
  h.o.keepalive_ms = 500;
  ph_init(&h, &h.o);
  ph_target(&h.t, &h.s);
  h.t.keepalive_s = 0;
  run_silent(&h, &h.t, "sleep 2");
  ASSERT_EQ(test_sshd_log_count(&h.s, PROBE), before);
  ph_close(&h);

  /* Pool keepalive_ms 0 (and the target's default): off too. */
  h.o.keepalive_ms = 0;
  ph_init(&h, &h.o);
  ph_target(&h.t, &h.s);
  run_silent(&h, &h.t, "sleep 2");
  ASSERT_EQ(test_sshd_log_count(&h.s, PROBE), before);
  ph_teardown(&h);
  return 0;
}
