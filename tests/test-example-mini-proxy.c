/* test-example-mini-proxy.c -- examples/mini-proxy does what its comment
 * says, against a real OpenSSH sshd: a real `ssh` through it runs a command
 * with its output and exit status intact, twice, and the upstream sees ONE
 * login (one "Accepted publickey" line in sshd's log) because the second
 * session rides the pooled connection.  The upstream's host key is unknown
 * to the proxy's known_hosts, so the first login asks "Trust this host
 * key?" through the pool's prompt callback on the proxy's stdin (a FIFO
 * here, a terminal for a person); the test answers "yes" and checks that
 * the key was written and that the second session asked nothing.  Finally
 * SIGTERM shuts the proxy down cleanly (exit 0). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture-sshd.h"
#include "test.h"

/* The paths both tests use, in the test's own directory (each buffer 600
 * bytes: test_path keeps only 8 at once). */
static void proxy_paths(char *plog, char *hostkey, char *clientkey,
                        char *authkeys, char *local_kh) {
  snprintf(plog, 600, "%s", test_path("proxy.log"));
  snprintf(hostkey, 600, "%s", test_path("proxy_host_key"));
  snprintf(clientkey, 600, "%s", test_path("client_key"));
  snprintf(authkeys, 600, "%s", test_path("client_key.pub"));
  snprintf(local_kh, 600, "%s", test_path("local_known_hosts"));
}

/* Wait for mini-proxy's "listening" line in its log plog. */
static void wait_listening(const char *plog) {
  test_expect_text(plog, "mini-proxy: listening on", 15000,
                   "mini-proxy did not start");
}

/* Into a: ssh to anyone@127.0.0.1:port (the proxy) with key clientkey
 * and only local_kh's host keys, then extra (NULL-terminated, may be NULL)
 * and "echo ok; exit 3".  Returns a->v. */
static const char *const *proxy_ssh(test_argv_t *a, int port,
                                    const char *clientkey, const char *local_kh,
                                    const char *const *extra) {
  memset(a, 0, sizeof(*a));
  test_argv_add(a, "ssh", NULL);
  test_argv_ssh_opts(a, "-p", port, clientkey, local_kh);
  test_argv_addv(a, extra);
  test_argv_add(a, "anyone@127.0.0.1", "echo ok; exit 3", NULL);
  return a->v;
}

TEST_IMPL_T(example_mini_proxy_two_sessions_one_login, 90) {
  static test_sshd s;
  char proxy[1024], remote[128], portstr[16];
  /* Paths in the test's own directory (test_path keeps only 8 at once). */
  char fifo[600], plog[600], hostkey[600], clientkey[600], authkeys[600],
      up_kh[600], local_kh[600], slog[600];
  char *out = NULL, *err = NULL;
  int port, ppid, spid, fd, st;

  TEST_REQUIRE_PROGRAMS("ssh", "ssh-keygen", "/usr/sbin/sshd");
  proxy_paths(plog, hostkey, clientkey, authkeys, local_kh);
  snprintf(fifo, sizeof(fifo), "%s", test_path("stdin.fifo"));
  snprintf(up_kh, sizeof(up_kh), "%s", test_path("upstream_known_hosts"));
  snprintf(slog, sizeof(slog), "%s", test_path("ssh1.log"));
  ASSERT_EQ(test_sshd_start(&s, NULL), 0);
  snprintf(proxy, sizeof(proxy), "%s/examples/mini-proxy", test_build_dir());
  snprintf(remote, sizeof(remote), "%s@127.0.0.1:%d", s.user, s.port);
  port = test_free_port();
  snprintf(portstr, sizeof(portstr), "%d", port);
  /* Our client's key (for the proxy's authorized_keys) and an empty
   * known_hosts for the proxy's upstream side, so the first login asks. */
  ASSERT_EQ(test_keygen("ed25519", clientkey, NULL), 0);
  ASSERT_EQ(test_write_file(up_kh, "", 0600), 0);
  ASSERT_EQ(mkfifo(fifo, 0600), 0);
  /* O_RDWR: never blocks, and the proxy never sees EOF while we hold it. */
  fd = open(fifo, O_RDWR | O_CLOEXEC);
  ASSERT(fd >= 0);
  {
    const char *argv[] = {"sh",
                          "-c",
                          "exec \"$0\" \"$@\" < \"$FIFO\"",
                          proxy,
                          "--remote",
                          remote,
                          "--port",
                          portstr,
                          "--host-key",
                          hostkey,
                          "--authorized-keys",
                          authkeys,
                          "--identity",
                          s.client_key,
                          "--known-hosts",
                          up_kh,
                          NULL};
    ASSERT_EQ(setenv("FIFO", fifo, 1), 0);
    ppid = test_spawn(argv, plog);
  }
  ASSERT(ppid > 0);
  wait_listening(plog);

  test_trust_host_key(local_kh, port, hostkey);
  {
    test_argv_t a;
    const char *const *ssh =
        proxy_ssh(&a, port, clientkey, local_kh,
                  (const char *[]){"-o", "ConnectTimeout=20", NULL});

    /* First session: the upstream login asks about the unknown host key on
     * the proxy's stdin; answer it like a person would. */
    spid = test_spawn(ssh, slog);
    ASSERT(spid > 0);
    test_expect_text(plog, "Trust this host key?", 30000,
                     "no host-key question");
    ASSERT_EQ(test_count_in_file(plog, "login to "), 1);
    ASSERT_EQ(write(fd, "yes\n", 4), 4);
    st = test_wait_exit(spid, 30000);
    out = test_read_file(slog, NULL);
    if (st != 3)
      fprintf(stderr, "ssh: %s\nproxy: %s", out, test_read_file(plog, NULL));
    ASSERT_EQ(st, 3);
    ASSERT_STR_EQ(out, "ok\n");
    free(out);
    ASSERT_GT(test_count_in_file(up_kh, "ssh-"), 0); /* the key was trusted */

    /* Second session: no question, same upstream connection. */
    {
      test_cmd_t c = {
          .argv = ssh, .out = &out, .err = &err, .timeout_ms = 30000};
      ASSERT_EQ(test_run(&c, &st), 0);
    }
    ASSERT_EQ(st, 3);
    ASSERT_STR_EQ(out, "ok\n");
    free(out);
    free(err);
  }
  ASSERT_EQ(test_count_in_file(plog, "Trust this host key?"), 1);
  if (test_count_in_file(s.log, "Accepted publickey") != 1)
    test_sshd_dump_log(&s);
  ASSERT_EQ(test_count_in_file(s.log, "Accepted publickey"), 1);

  /* SIGTERM: relay closed, then the pool; the loop ends, exit 0. */
  test_term_clean(ppid, plog);
  ASSERT_EQ(test_count_in_file(plog, "ERROR"), 0);
  close(fd);
  test_sshd_stop(&s);
  return 0;
}

/* --via: the same sshd serves as jump host and target (reached through a
 * direct-tcpip channel of the jump connection).  Host keys come from the
 * fixture's known_hosts, so nothing is asked and stdin is /dev/null.  Two
 * sessions cost two logins in all: the jump's and the target's. */
TEST_IMPL_T(example_mini_proxy_via_jump, 90) {
  static test_sshd s;
  char proxy[1024], hop[128], portstr[16];
  char plog[600], hostkey[600], clientkey[600], authkeys[600], local_kh[600];
  char *out = NULL;
  int port, ppid, st;

  TEST_REQUIRE_PROGRAMS("ssh", "ssh-keygen", "/usr/sbin/sshd");
  proxy_paths(plog, hostkey, clientkey, authkeys, local_kh);
  ASSERT_EQ(test_sshd_start(&s, NULL), 0);
  ASSERT_EQ(test_keygen("ed25519", clientkey, NULL), 0);
  snprintf(proxy, sizeof(proxy), "%s/examples/mini-proxy", test_build_dir());
  snprintf(hop, sizeof(hop), "%s@127.0.0.1:%d", s.user, s.port);
  port = test_free_port();
  snprintf(portstr, sizeof(portstr), "%d", port);
  {
    const char *argv[] = {proxy,         "--remote",
                          hop,           "--via",
                          hop,           "--port",
                          portstr,       "--host-key",
                          hostkey,       "--authorized-keys",
                          authkeys,      "--identity",
                          s.client_key,  "--known-hosts",
                          s.known_hosts, NULL};
    ppid = test_spawn(argv, plog);
  }
  ASSERT(ppid > 0);
  wait_listening(plog);
  ASSERT_EQ(test_count_in_file(plog, " via "), 1);
  test_trust_host_key(local_kh, port, hostkey);
  for (int round = 0; round < 2; round++) {
    test_argv_t a;
    test_cmd_t c = {.argv = proxy_ssh(&a, port, clientkey, local_kh, NULL),
                    .out = &out,
                    .timeout_ms = 30000};
    ASSERT_EQ(test_run(&c, &st), 0);
    if (st != 3)
      fprintf(stderr, "proxy: %s", test_read_file(plog, NULL));
    ASSERT_EQ(st, 3);
    ASSERT_STR_EQ(out, "ok\n");
    free(out);
  }
  if (test_count_in_file(s.log, "Accepted publickey") != 2)
    test_sshd_dump_log(&s);
  ASSERT_EQ(test_count_in_file(s.log, "Accepted publickey"), 2);
  test_term_clean(ppid, plog);
  test_sshd_stop(&s);
  return 0;
}
