/* test-fixture-otp.c -- the OTP-asking sshd (fixture-otp.h) proven with the
 * real ssh client answering keyboard-interactive through SSH_ASKPASS: a
 * correct code logs in, a used code and a wrong code are refused, a key
 * alone is not enough, and the machine's /etc/pam.d is untouched. */
#include <sys/stat.h>
#include <unistd.h>

#include "fixture-otp.h"
#include "test.h"

/* Log in with code; returns ssh's exit status, stdout in *out. */
static int login(test_otp_sshd *o, const char *code, const char *command,
                 char **out, char **err) {
  const char *askpass = test_path("askpass.sh");
  test_cmd_t cmd;
  int st = -1;

  ASSERT_EQ(test_otp_askpass(askpass, code), 0);
  memset(&cmd, 0, sizeof(cmd));
  cmd.argv = test_otp_ssh_argv(o, command);
  cmd.env = test_otp_env(askpass);
  cmd.out = out;
  cmd.err = err;
  cmd.timeout_ms = 20000;
  ASSERT_EQ(test_run(&cmd, &st), 0);
  return st;
}

/* login() must succeed and print exactly want (sshd's log shown if not). */
static void login_ok(test_otp_sshd *o, const char *code, const char *command,
                     const char *want) {
  char *out = NULL, *err = NULL;
  int st = login(o, code, command, &out, &err);

  if (st != 0) {
    fprintf(stderr, "ssh: %s\n", err ? err : "");
    test_sshd_dump_log(&o->sshd);
  }
  ASSERT_EQ(st, 0);
  ASSERT_STR_EQ(out, want);
  free(out);
  free(err);
}

/* login() must be refused by sshd ("Permission denied", no output). */
static void login_refused(test_otp_sshd *o, const char *code,
                          const char *command) {
  char *out = NULL, *err = NULL;

  ASSERT_NE(login(o, code, command, &out, &err), 0);
  ASSERT_STR_CONTAINS(err, "Permission denied");
  ASSERT_STR_EQ(out, "");
  free(out);
  free(err);
}

#define REQUIRE_OTP_PEERS()                                                    \
  do {                                                                         \
    TEST_REQUIRE_OTP();                                                        \
    if (access("/lib/x86_64-linux-gnu/security/pam_oath.so", F_OK) != 0 &&     \
        access("/usr/lib/x86_64-linux-gnu/security/pam_oath.so", F_OK) != 0 && \
        access("/lib/security/pam_oath.so", F_OK) != 0)                        \
      TEST_REQUIRE_PROGRAM("pam_oath.so (libpam-oath)");                       \
  } while (0)

TEST_IMPL_T(otp_fixture_codes, 90) {
  test_otp_sshd o;
  char code[7], used[7], wrong[7], *out = NULL, *err = NULL;
  char *pam_before, *pam_after;
  struct stat st_before, st_after;
  int st;

  REQUIRE_OTP_PEERS();
  pam_before = test_read_file("/etc/pam.d/sshd", NULL);
  ASSERT_EQ(stat("/etc/pam.d", &st_before), 0);
  ASSERT_EQ(test_otp_sshd_start(&o, NULL), 0);

  /* A correct code logs in. */
  ASSERT_EQ(test_otp_next_code(&o, code), 0);
  login_ok(&o, code, "echo otp-ok", "otp-ok\n");
  memcpy(used, code, sizeof(used));

  /* The same code again is refused: pam_oath really checks it. */
  login_refused(&o, used, "echo again");

  /* A wrong code fails... */
  ASSERT_EQ(test_otp_wrong_code(&o, wrong), 0);
  login_refused(&o, wrong, "echo wrong");

  /* ...and does not spoil the next correct one. */
  ASSERT_EQ(test_otp_next_code(&o, code), 0);
  login_ok(&o, code, "echo otp-again", "otp-again\n");

  /* The fixture's key alone does not get in (no OTP, no login). */
  {
    test_argv_t a;
    const char *first[] = {"-o", "PreferredAuthentications=publickey", NULL};
    st = test_run_simple(test_sshd_ssh_argv(&a, &o.sshd, first, "true"), &out,
                         &err);
    ASSERT_NE(st, 0);
    free(out);
    free(err);
  }

  test_otp_sshd_stop(&o);
  /* The machine's PAM configuration was never touched. */
  pam_after = test_read_file("/etc/pam.d/sshd", NULL);
  ASSERT_EQ(stat("/etc/pam.d", &st_after), 0);
  ASSERT_EQ(st_before.st_ino, st_after.st_ino);
  ASSERT_EQ(st_before.st_mtime, st_after.st_mtime);
  if (pam_before != NULL || pam_after != NULL)
    ASSERT_STR_EQ(pam_after, pam_before);
  ASSERT(pam_after == NULL || strstr(pam_after, "pam_oath") == NULL);
  free(pam_before);
  free(pam_after);
  return 0;
}

/* publickey,keyboard-interactive: the key and then a code. */
TEST_IMPL_T(otp_fixture_key_then_code, 60) {
  test_otp_sshd o;
  test_otp_opts opts = {0};
  char code[7], wrong[7], *out = NULL, *err = NULL;
  int st;

  REQUIRE_OTP_PEERS();
  opts.with_pubkey = 1;
  ASSERT_EQ(test_otp_sshd_start(&o, &opts), 0);
  ASSERT_EQ(test_otp_wrong_code(&o, wrong), 0);
  st = login(&o, wrong, "echo no", &out, &err);
  ASSERT_NE(st, 0);
  free(out);
  free(err);
  ASSERT_EQ(test_otp_next_code(&o, code), 0);
  login_ok(&o, code, "echo key-and-otp", "key-and-otp\n");
  /* The server really asked for both. */
  {
    char *log = test_read_file(o.sshd.log, NULL);
    ASSERT(log != NULL);
    ASSERT_STR_CONTAINS(log, "Partial publickey");
    free(log);
  }
  test_otp_sshd_stop(&o);
  return 0;
}
