/* test-pool-secrets.c -- a one-time code given to an upstream login does
 * not survive in freed memory.  The library's allocator is replaced by
 * tests/scan-alloc.c's, which keeps every freed block; the pool logs in to
 * a real sshd asking a keyboard-interactive code (tests/fixture-otp.h:
 * PAM with pam_oath), runs a command, closes, and every block it freed --
 * its own and libssh2's, which go through the same allocator -- is
 * scanned for the code, as a string and as it was sent on the wire. */
#include <signal.h>
#include <string.h>

#include "pool-harness.h"
#include "scan-alloc.h"

TEST_IMPL_T(pool_secrets_otp_answer_wiped, 120) {
  test_otp_sshd otp;
  char code[7];
  uint8_t wire[4 + 6];
  ph_job_t a;
  ph_t h;

  TEST_REQUIRE_OTP();
  scan_alloc_install();
  ph_otp_fixture(&h, &otp, NULL, NULL);
  ph_init(&h, &h.o);
  ph_prompts(&h, ph_answer_code, NULL);
  ASSERT_OK(test_otp_next_code(&otp, code));
  h.decide_data = code;
  /* The code with its NUL (the response string handed to libssh2), and
   * as an SSH string (the USERAUTH_INFO_RESPONSE libssh2 builds). */
  scan_alloc_needle("the code", code, 7);
  memcpy(wire, "\0\0\0\6", 4);
  memcpy(wire + 4, code, 6);
  scan_alloc_needle("the code on the wire", wire, sizeof(wire));
  ASSERT_OK(ph_exec_wait(&h, &h.t, "echo otp-ok", &a, 30000));
  ASSERT_STR_EQ(a.out, "otp-ok\n");
  ASSERT_EQ(h.nprompts, 1);
  ph_close(&h);
  scan_alloc_check();
  ph_signal_sessions(&otp.sshd, SIGKILL);
  test_otp_sshd_stop(&otp);
  SCAN_ALLOC_EXPECT_CLEAN(50, "the one-time code");
  return 0;
}
