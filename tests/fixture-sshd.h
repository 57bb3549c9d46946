/* fixture-sshd.h -- a real OpenSSH sshd for tests.
 *
 * test_sshd_start() makes a directory under the test's temp dir with
 * throwaway host keys (ed25519 and ecdsa), a client key pair (ed25519, no
 * passphrase) whose public half is the only authorized key, a known_hosts
 * file for the host keys under "[127.0.0.1]:PORT", and an sshd_config; it
 * starts /usr/sbin/sshd -D on 127.0.0.1 on a free port and waits until it
 * sends its banner.  It works as root (PermitRootLogin, /run/sshd) and as an
 * ordinary user (no privilege separation, the user logs in as itself).
 *
 * Options let later tests build on it: MaxSessions, extra sshd_config lines
 * (e.g. forwarding policy, PAM), a different listen address (a network
 * namespace's), a command prefix (e.g. "ip netns exec NS" or "unshare -m"),
 * and extra authorized keys.  Without netns or no_wait, the banner is
 * awaited on listen_addr (which must then be reachable from here). */
#ifndef SSHMUX_FIXTURE_SSHD_H
#define SSHMUX_FIXTURE_SSHD_H

#include "test.h"

typedef struct {
  const char *name;         /* subdirectory name; default "sshd" */
  const char *listen_addr;  /* default "127.0.0.1" */
  int port;                 /* 0 = pick a free one */
  int max_sessions;         /* 0 = sshd's default (10) */
  const char *extra_config; /* appended to sshd_config verbatim */
  const char *const *wrap;  /* argv prefix before sshd, NULL-terminated */
  const char *extra_authorized_keys; /* appended to authorized_keys */
  int no_wait;                       /* do not wait for the banner */
  /* Run inside this network namespace (fixture-netns.h): sshd is started
   * as [wrap...] ip netns exec NETNS sshd ..., and the banner is awaited
   * on listen_addr from inside the namespace. */
  const char *netns;
  /* sshd_config lines written BEFORE the fixture's defaults.  sshd keeps
   * the first value of a keyword, so these override the defaults (UsePAM,
   * KbdInteractiveAuthentication, PermitRootLogin, ...); extra_config,
   * written after, can only add keywords and Match blocks. */
  const char *prepend_config;
} test_sshd_opts;

typedef struct {
  int pid;
  int port;
  char addr[64];
  char user[64];
  char dir[512];        /* fixture directory */
  char config[600];     /* sshd_config */
  char log[600];        /* sshd's -E log */
  char client_key[600]; /* private key file for the user */
  char client_pub[600];
  char authorized_keys[600];
  char known_hosts[600]; /* "[addr]:port" lines for both host keys */
  char host_key_ed25519[600];
  char host_key_ecdsa[600];
} test_sshd;

/* Options naming the fixture's directory, listening on listen_addr inside
 * network namespace netns (both may be NULL: here, on 127.0.0.1). */
test_sshd_opts test_sshd_opts_in(const char *name, const char *netns,
                                 const char *listen_addr);
/* In a test: skip (under CI: fail) without OpenSSH's sshd and ssh. */
#define TEST_REQUIRE_OPENSSH() TEST_REQUIRE_PROGRAMS("/usr/sbin/sshd", "ssh")
/* Start; returns 0 or prints why to stderr and returns -1. */
int test_sshd_start(test_sshd *s, const test_sshd_opts *opts);
/* test_sshd_start with opts (may be NULL) whose extra_authorized_keys is
 * the public half of key (key.pub): a fixture that also lets that key in.
 * Fails the test when it does not start. */
void test_sshd_start_with_key(test_sshd *s, const test_sshd_opts *opts,
                              const char *key);
/* Stop (SIGTERM, then SIGKILL) and reap.  Safe to call twice. */
void test_sshd_stop(test_sshd *s);
/* Start a stopped fixture sshd again: same config, host keys and port
 * (plain fixtures only: no netns, no wrap).  Returns 0 or -1. */
int test_sshd_restart(test_sshd *s);
/* Send a signal (e.g. SIGSTOP/SIGCONT) to the listening sshd. */
void test_sshd_signal(test_sshd *s, int sig);
/* Print sshd's log to stderr (for failing tests). */
void test_sshd_dump_log(const test_sshd *s);
/* How many times needle occurs in sshd's log (0 without a log). */
int test_sshd_log_count(const test_sshd *s, const char *needle);
/* Common ssh client options for this sshd, as a NULL-terminated argv
 * fragment held in s: -F /dev/null -p PORT -i KEY -o UserKnownHostsFile=...
 * -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes. */
const char *const *test_sshd_client_opts(test_sshd *s);
/* Into a: ssh [first...] [test_sshd_client_opts] -l USER ADDR [cmd], for
 * test_run.  first (NULL-terminated, may be NULL) are options that win
 * over the fixture's (ssh keeps the first value of an option); cmd may be
 * NULL.  Returns a->v. */
const char *const *test_sshd_ssh_argv(test_argv_t *a, test_sshd *s,
                                      const char *const *first,
                                      const char *cmd);
/* Run argv (an ssh for s, e.g. test_sshd_ssh_argv; no stdin): it must
 * exit with status and print exactly want_out (NULL: not checked); on
 * another status its stderr and s's log are printed first.  Returns its
 * stderr (a fresh buffer, the caller frees it) for further checks. */
char *test_sshd_expect_run(test_sshd *s, const char *const *argv, int status,
                           const char *want_out);
/* Generate a key pair with ssh-keygen (type "ed25519", "ecdsa", "rsa");
 * writes path and path.pub; returns 0 or -1. */
int test_keygen(const char *type, const char *path, const char *passphrase);
/* The same with ssh-keygen's -b BITS and -m FORMAT ("PEM", "PKCS8"), each
 * NULL for ssh-keygen's default. */
int test_keygen_ex(const char *type, const char *bits, const char *format,
                   const char *passphrase, const char *path);

#endif
