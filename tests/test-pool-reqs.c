/* test-pool-reqs.c -- channel requests pipelined upstream against a real
 * sshd: a pty-req, an env and the exec go out together (one round trip, as
 * OpenSSH's client sends them) although libssh2 1.10 matches a reply by
 * channel only.  Each reply must reach its own request: accepted env
 * requests, a refused one in flight with the exec, on many channels in a
 * row and several at once, each answer checked against what sshd did. */
#include <stdio.h>
#include <string.h>

#include "pool-harness.h"
#include "pool/pool-int.h"

#define ROUNDS 12
#define PARALLEL 4

typedef struct {
  ph_job_t job;
  int env_ok1, env_no, env_ok2, pty, exec;
  int round;
} rq_t;

static void rq_done(sshmux_upchan_t *ch, int st, void *d) {
  (void)ch;
  *(int *)d = st == 0 ? 1 : st;
}

static void rq_data(sshmux_upchan_t *ch, int stream, const char *buf,
                    size_t len) {
  rq_t *r = sshmux_upchan_get_data(ch);
  ph_job_t *j = &r->job;

  (void)stream;
  ASSERT_LT(j->out_len + len, sizeof(j->out));
  memcpy(j->out + j->out_len, buf, len);
  j->out_len += len;
}

static void rq_closed(sshmux_upchan_t *ch, int status) {
  rq_t *r = sshmux_upchan_get_data(ch);

  ASSERT_OK(status);
  r->job.exit_status = sshmux_upchan_exit_status(ch);
  sshmux_upchan_close(ch, NULL);
  r->job.done = 1;
}

/* Round n: even rounds with a pty, odd without; the values name the
 * round, so an answer that went to another channel shows. */
static void rq_open(sshmux_upchan_t *ch, int status) {
  rq_t *r = sshmux_upchan_get_data(ch);
  char v1[16], v2[16], cmd[200];

  ASSERT_OK(status);
  snprintf(v1, sizeof(v1), "a%d", r->round);
  snprintf(v2, sizeof(v2), "b%d", r->round);
  if (r->round % 2 == 0)
    ASSERT_OK(sshmux_upchan_pty(ch, "xterm", NULL, 0, 80, 24, 0, 0, rq_done,
                                &r->pty));
  ASSERT_OK(sshmux_upchan_env(ch, "SSHMUX_OK_ONE", v1, rq_done, &r->env_ok1));
  ASSERT_OK(sshmux_upchan_env(ch, "SSHMUX_OK_TWO", v2, rq_done, &r->env_ok2));
  /* Refused, and in flight with the exec: swapped answers would show. */
  ASSERT_OK(sshmux_upchan_env(ch, "SSHMUX_REFUSED", "x", rq_done, &r->env_no));
  snprintf(cmd, sizeof(cmd),
           "echo \"[$SSHMUX_OK_ONE-$SSHMUX_OK_TWO-${SSHMUX_REFUSED:-unset}]\";"
           " exit %d",
           10 + r->round);
  ASSERT_OK(sshmux_upchan_exec(ch, cmd, rq_done, &r->exec));
}

static void rq_check(const rq_t *r) {
  char want[64];

  ASSERT_EQ(r->env_ok1, 1);
  ASSERT_EQ(r->env_no, SSHMUX_EREQ_FAILED);
  ASSERT_EQ(r->env_ok2, 1);
  ASSERT_EQ(r->exec, 1);
  ASSERT_EQ(r->pty, r->round % 2 == 0 ? 1 : 0);
  snprintf(want, sizeof(want), "[a%d-b%d-unset]", r->round, r->round);
  ASSERT_STR_CONTAINS(r->job.out, want);
  ASSERT_EQ(r->job.exit_status, 10 + r->round);
}

TEST_IMPL_T(pool_reqs_pipelined_replies_in_order, 120) {
  static const sshmux_upchan_callbacks_t cbs = {rq_data, NULL, rq_closed, NULL};
  static rq_t r[ROUNDS + PARALLEL];
  sshmux_upchan_spec_t spec = ph_spec(SSHMUX_UPCHAN_SESSION);
  test_sshd_opts so;
  sshmux_upchan_t *ch;
  ph_t h;
  int i;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  memset(&so, 0, sizeof(so));
  so.extra_config = "AcceptEnv SSHMUX_OK_*\n";
  ph_setup(&h, &so);
  memset(r, 0, sizeof(r));
  /* One channel at a time: each one's requests alone in flight. */
  for (i = 0; i < ROUNDS; i++) {
    r[i].round = i;
    ASSERT_OK(sshmux_pool_open_channel(h.pool, &h.t, &spec, &cbs, &r[i],
                                       rq_open, &ch));
    ph_run_until(&h, &r[i].job.done, 20000);
    rq_check(&r[i]);
  }
  /* Each env waits for the one before (one libssh2 slot); the exec goes
   * out with the last, refused one, and the pty-req with the first env. */
  ASSERT_GE(h.pool->reqs_pipelined, (uint64_t)ROUNDS);
  /* Several channels at once on the one connection: their requests take
   * turns (one channel's in flight at a time), each still pipelined. */
  for (i = ROUNDS; i < ROUNDS + PARALLEL; i++) {
    r[i].round = i;
    ASSERT_OK(sshmux_pool_open_channel(h.pool, &h.t, &spec, &cbs, &r[i],
                                       rq_open, &ch));
  }
  for (i = ROUNDS; i < ROUNDS + PARALLEL; i++) {
    ph_run_until(&h, &r[i].job.done, 30000);
    rq_check(&r[i]);
  }
  ASSERT_GE(h.pool->reqs_pipelined, (uint64_t)(ROUNDS + PARALLEL));
  ph_teardown(&h);
  return 0;
}
