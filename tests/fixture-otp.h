/* fixture-otp.h -- a real OpenSSH sshd that asks a one-time code over
 * keyboard-interactive, through PAM and pam_oath (Debian libpam-oath).
 *
 * It is the sshd fixture (fixture-sshd.h) with UsePAM yes,
 * KbdInteractiveAuthentication yes and AuthenticationMethods
 * "keyboard-interactive" (or "publickey,keyboard-interactive"), started
 * inside a private mount namespace (`unshare -m`) in which a directory of
 * our own is bind-mounted over /etc/pam.d, so sshd's PAM service "sshd"
 * reads our stack:
 *     auth     required pam_oath.so usersfile=... window=W digits=6
 *     account  required pam_permit.so
 *     session  required pam_permit.so
 *     password required pam_deny.so
 * The machine's own /etc files are never modified; nothing outside the
 * sshd's mount namespace sees the bind mount.
 *
 * Codes are HOTP (RFC 4226, counter-based), not TOTP: they do not depend on
 * the clock, so a test cannot flake at a 30-second boundary, and each code
 * is accepted exactly once, which lets tests use as many as they like.
 * test_otp_next_code() computes them with the real `oathtool`; pam_oath
 * accepts the codes for its stored counter up to W ahead, and advances its
 * counter past the one used.
 *
 * Needs root (PAM authentication of another session, mount namespaces):
 * guard with TEST_REQUIRE_ROOT, and TEST_REQUIRE_PROGRAM for "unshare",
 * "oathtool" and "/usr/sbin/sshd".  For ssh as the client, see
 * test_otp_ssh_argv() and test_otp_askpass(). */
#ifndef SSHMUX_FIXTURE_OTP_H
#define SSHMUX_FIXTURE_OTP_H

#include <stdint.h>

#include "fixture-sshd.h"

/* In a test: skip (under CI: fail) unless the OTP sshd can run: root
 * (PAM, a private mount namespace), sshd, ssh, unshare, oathtool. */
#define TEST_REQUIRE_OTP() TEST_REQUIRE_OTP_AND(NULL)
/* The same, and the further programs given (NULL-terminated). */
#define TEST_REQUIRE_OTP_AND(...)                                              \
  TEST_REQUIRE_(                                                               \
      test_require("PAM authentication in a private mount namespace",          \
                   (const char *[]){"/usr/sbin/sshd", "ssh", "unshare",        \
                                    "oathtool", __VA_ARGS__}))

typedef struct {
  int with_pubkey; /* require publickey, then keyboard-interactive */
  int either;      /* publickey OR keyboard-interactive (AuthenticationMethods
                      any); with_pubkey must be 0 */
  int window;      /* pam_oath look-ahead window; 0 = 5 */
  /* Further sshd fixture options (name, max_sessions, netns, extra_config,
   * ...); its wrap and prepend_config are this fixture's and must be
   * NULL.  May be NULL. */
  const test_sshd_opts *sshd;
} test_otp_opts;

typedef struct {
  test_sshd sshd;
  char secret[41];     /* HOTP key, 20 bytes as hex */
  char pam_dir[600];   /* bind-mounted over /etc/pam.d */
  char usersfile[620]; /* pam_oath's users file (it rewrites it) */
  uint64_t counter;    /* the counter of the next code handed out */
  int window;
  int with_pubkey;
} test_otp_sshd;

/* Start; 0, or -1 after printing why. */
int test_otp_sshd_start(test_otp_sshd *o, const test_otp_opts *opts);
void test_otp_sshd_stop(test_otp_sshd *o);
/* The next valid 6-digit code into out (7 bytes); each is good once.
 * 0 or -1. */
int test_otp_next_code(test_otp_sshd *o, char out[7]);
/* A 6-digit code that pam_oath would accept for none of the counters in
 * its window right now.  0 or -1. */
int test_otp_wrong_code(test_otp_sshd *o, char out[7]);
/* Write an executable SSH_ASKPASS script at path that prints code; 0/-1. */
int test_otp_askpass(const char *path, const char *code);
/* An ssh argv (NULL-terminated, held in o) that logs in to the fixture with
 * keyboard-interactive answered by askpass (set SSH_ASKPASS=askpass and
 * SSH_ASKPASS_REQUIRE=force in its environment: test_otp_env()), one prompt
 * attempt, and runs command. */
const char *const *test_otp_ssh_argv(test_otp_sshd *o, const char *command);
/* The environment entries for that argv (NULL-terminated, static). */
const char *const *test_otp_env(const char *askpass);

#endif
