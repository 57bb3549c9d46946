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

/* A pool with keepalive_ms pool_ms on h's sshd, and a silent cmd run to
 * the end (exit 0) on a fresh target for it, with keepalive_s target_s
 * (-1: the target's default); the probe count in sshd's log after it.
 * The pool stays open (ph_close it). */
static int probes_during(ph_t *h, int pool_ms, int target_s, const char *cmd) {
  ph_job_t a;

  h->o.keepalive_ms = pool_ms;
  ph_init(h, &h->o);
  ph_target(&h->t, &h->s);
  if (target_s >= 0)
    h->t.keepalive_s = target_s;
  ASSERT_OK(ph_exec_wait(h, &h->t, cmd, &a, 15000));
  ASSERT_EQ(a.exit_status, 0);
  return test_sshd_log_count(&h->s, PROBE);
}

TEST_IMPL_T(pool_keepalive_per_target, 60) {
  int before;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ph_fixture(&h, NULL);

  /* Pool default 60 s, target 1 s: probes within a silent 3 s. */
  ASSERT_GE(probes_during(&h, 60000, 1, "sleep 3"), 2);
  ph_close(&h);

  /* Pool default 0.5 s, target 0 = off: none at all. */
  before = settled_probes(&h.s);
  ASSERT_EQ(probes_during(&h, 500, 0, "sleep 2"), before);
  ph_close(&h);

  /* Pool keepalive_ms 0 (and the target's default): off too. */
  ASSERT_EQ(probes_during(&h, 0, -1, "sleep 2"), before);
  ph_teardown(&h);
  return 0;
}
