/* test-pool-otp.c -- one-time passwords for real: OpenSSH sshd with PAM and
 * pam_oath (tests/fixture-otp.h: inside `unshare -m`, the machine's PAM
 * setup never touched), asking keyboard-interactive codes after a public
 * key (AuthenticationMethods publickey,keyboard-interactive: a
 * partial-success chain).
 *
 * Proves: the code is asked through the prompt API (target shown, echo
 * off), the second session asks nothing, a wrong code fails cleanly and
 * nothing is cached (the next attempt asks again), and the loop keeps
 * serving other connections while a prompt waits for its answer. */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "pool-harness.h"

TEST_IMPL_T(pool_otp_kbdint, 120) {
  test_otp_sshd otp;
  test_sshd *s = &otp.sshd, plain;
  test_sshd_opts po;
  sshmux_target_t pt;
  sshmux_conn_stats_t cs[2];
  const char *khs[3];
  char code[7], wrong[7];
  ph_job_t a, b;
  size_t n;
  ph_t h;

  TEST_REQUIRE_OTP();
  ph_otp_fixture(&h, &otp, &(test_otp_opts){.with_pubkey = 1}, NULL);
  memset(&po, 0, sizeof(po));
  po.name = "plain";
  ASSERT_OK(test_sshd_start(&plain, &po));
  khs[0] = s->known_hosts;
  khs[1] = plain.known_hosts;
  khs[2] = NULL;
  h.o.known_hosts = khs;
  ph_init(&h, &h.o);
  ph_prompts(&h, ph_answer_code, NULL);
  ph_target(&pt, &plain);

  /* A wrong code: the login fails cleanly, nothing is kept. */
  ASSERT_OK(test_otp_wrong_code(&otp, wrong));
  h.decide_data = wrong;
  ph_exec_wait(&h, &h.t, "true", &a, 20000);
  ASSERT_EQ(a.open_status, SSHMUX_EAUTH);
  ASSERT_EQ(h.nprompts, 1);
  ASSERT_STR_CONTAINS(h.prompts[0].target, s->addr);
  ASSERT_STR_CONTAINS(h.prompts[0].text, "One-time password");
  ASSERT_OK(sshmux_pool_stats(h.pool, NULL, NULL, 0, &n));
  ASSERT_EQ(n, 0);

  /* The next attempt asks again; while the person "types", the loop
   * serves another connection. */
  h.decide_data = NULL;
  memset(&a, 0, sizeof(a));
  ph_exec(&h, &h.t, "echo otp-ok", &a);
  while (h.pending == NULL)
    ph_run_for(&h, 20);
  ASSERT_EQ(h.nprompts, 2);
  ph_exec_wait(&h, &pt, "echo meanwhile", &b, 10000);
  ASSERT_STR_EQ(b.out, "meanwhile\n");
  ASSERT(!a.done);
  {
    const char *answer[1] = {code};
    ASSERT_OK(test_otp_next_code(&otp, code));
    ASSERT_OK(sshmux_prompt_answer(h.pending, answer, 1));
    h.pending = NULL;
  }
  ph_run_until(&h, &a.done, 20000);
  if (a.open_status != 0) {
    fprintf(stderr, "%s\n", a.errmsg);
    test_sshd_dump_log(s);
  }
  ASSERT_OK(a.open_status);
  ASSERT_STR_EQ(a.out, "otp-ok\n");

  /* The second session asks nothing. */
  ph_exec_wait(&h, &h.t, "echo again", &a, 10000);
  ASSERT_STR_EQ(a.out, "again\n");
  ASSERT_EQ(h.nprompts, 2);
  ASSERT_OK(sshmux_pool_stats(h.pool, NULL, cs, 2, &n));
  ASSERT_EQ(n, 2);
  {
    char want[300];
    int found = 0;
    snprintf(want, sizeof(want), "%s@%s:%d", s->user, s->addr, s->port);
    for (size_t i = 0; i < n; i++)
      if (strcmp(cs[i].target, want) == 0) {
        /* The partial-success chain, both steps recorded. */
        ASSERT_STR_EQ(cs[i].auth_methods, "publickey,keyboard-interactive");
        found = 1;
      }
    ASSERT(found);
  }
  ph_close(&h);
  ph_sshd_stop(&plain);
  ph_signal_sessions(&otp.sshd, SIGKILL);
  test_otp_sshd_stop(&otp);
  return 0;
}
