/* test-example-fleet-exec.c -- examples/fleet-exec against three real
 * OpenSSH sshds: two hosts named as routes of a routes file, one given as
 * user@host:port (an in-memory route).  The command prints the server port
 * it reached (from $SSH_CONNECTION) and exits 7 on the third sshd, so each
 * host's line must carry its own exit status.  Two rounds in one process:
 * every sshd accepts exactly ONE TCP connection in all (its log's
 * "Connection from" lines, minus the fixture's own banner probe), because
 * round 2 rides the pooled connections.  On a terminal (tmux) a progress
 * line shows the hosts still running.  --help and bad usage are checked
 * too. */
#include <sys/wait.h>
#include <unistd.h>

#include "fixture-sshd.h"
#include "test.h"
#include "tmux.h"

#define NSSHD 3

static const char *fleet(void) {
  static char path[1024];

  snprintf(path, sizeof(path), "%s/examples/fleet-exec", test_build_dir());
  return path;
}

TEST_IMPL_T(example_fleet_exec_two_rounds_reuse, 120) {
  static test_sshd s[NSSHD];
  static const char *const names[NSSHD] = {"sshd1", "sshd2", "sshd3"};
  char routes[4096], cmd[256], third[128], line[256];
  char *out = NULL, *err = NULL;
  int conns0[NSSHD], st, off = 0;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  for (int i = 0; i < NSSHD; i++) {
    test_sshd_opts o = {.name = names[i]};
    ASSERT_EQ(test_sshd_start(&s[i], &o), 0);
    conns0[i] = test_count_in_file(s[i].log, "Connection from");
  }
  /* Routes for the first two; the third comes from the command line. */
  for (int i = 0; i < 2; i++)
    off += snprintf(routes + off, sizeof(routes) - (size_t)off,
                    "[routes.web%d]\nhost = 127.0.0.1\nport = %d\nuser = %s\n"
                    "identity = %s\ndirect = true\n",
                    i + 1, s[i].port, s[i].user, s[i].client_key);
  ASSERT_EQ(test_write_file(test_path("routes.ini"), routes, 0600), 0);
  snprintf(third, sizeof(third), "%s@127.0.0.1:%d", s[2].user, s[2].port);
  snprintf(cmd, sizeof(cmd),
           "set -- $SSH_CONNECTION; echo port=$4; "
           "if [ \"$4\" = %d ]; then exit 7; fi; exit 0",
           s[2].port);
  {
    const char *argv[] = {fleet(),
                          "--routes",
                          test_path("routes.ini"),
                          "--known-hosts",
                          s[0].known_hosts,
                          "--known-hosts",
                          s[1].known_hosts,
                          "--known-hosts",
                          s[2].known_hosts,
                          "--identity",
                          s[2].client_key,
                          "--rounds",
                          "2",
                          "--timeout",
                          "60",
                          "--inline",
                          "web1",
                          "web2",
                          third,
                          "--",
                          cmd,
                          NULL};
    test_cmd_t c = {
        .argv = argv, .out = &out, .err = &err, .timeout_ms = 90000};
    ASSERT_EQ(test_run(&c, &st), 0);
  }
  if (st != 1)
    fprintf(stderr, "fleet-exec exit %d\nstdout:\n%s\nstderr:\n%s", st, out,
            err);
  ASSERT_EQ(st, 1); /* one host exited non-zero */
  /* Three hosts, two rounds: six result lines, each with its own status. */
  ASSERT_EQ(test_count(out, "[SUCCESS] web1 "), 2);
  ASSERT_EQ(test_count(out, "[SUCCESS] web2 "), 2);
  snprintf(line, sizeof(line), "[FAILURE] %s ", third);
  ASSERT_EQ(test_count(out, line), 2);
  ASSERT_EQ(test_count(out, " exit 0\n"), 4);
  ASSERT_EQ(test_count(out, " exit 7\n"), 2);
  /* --inline: each host's own output, which names the port it reached. */
  for (int i = 0; i < NSSHD; i++) {
    snprintf(line, sizeof(line), "\nport=%d\n", s[i].port);
    ASSERT_EQ(test_count(out, line), 2);
  }
  ASSERT_STR_CONTAINS(out, "round 1: 3 hosts, 1 failed");
  ASSERT_STR_CONTAINS(out, "round 2: 3 hosts, 1 failed");
  /* The pool's own count: three connections made, all in round 1. */
  ASSERT_STR_CONTAINS(out, "pool: 3 connections, 3 connects, 3 logins\n");
  ASSERT_EQ(test_count(out, "3 connects, 3 logins"), 2);
  /* And each sshd's: one TCP connection accepted, one login. */
  for (int i = 0; i < NSSHD; i++) {
    int n = test_count_in_file(s[i].log, "Connection from") - conns0[i];
    if (n != 1)
      test_sshd_dump_log(&s[i]);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(test_count_in_file(s[i].log, "Accepted publickey"), 1);
  }
  /* Not a terminal: no progress line, no escape sequences. */
  ASSERT(strstr(err, "\033[") == NULL);
  free(out);
  free(err);
  for (int i = 0; i < NSSHD; i++)
    test_sshd_stop(&s[i]);
  return 0;
}

TEST_IMPL(example_fleet_exec_usage) {
  test_expect_run((const char *[]){fleet(), "--help", NULL}, 0,
                  "usage: fleet-exec [options] HOST... -- COMMAND", NULL);
  test_expect_run((const char *[]){fleet(), "--help", NULL}, 0, "--rounds N",
                  NULL);
  /* No command. */
  test_expect_run((const char *[]){fleet(), "web1", NULL}, 2, NULL, "usage:");
  /* A bad user@host is refused with the routes' own words. */
  test_expect_run((const char *[]){fleet(), "u@h:0", "--", "true", NULL}, 1,
                  NULL, "fleet-exec: u@h:0: expected");
  test_expect_run(
      (const char *[]){fleet(), "--parallel", "0", "u@h", "--", "true", NULL},
      2, NULL, NULL);
  return 0;
}

/* On a terminal: while a slow command runs on both hosts, stderr shows the
 * progress line; when they end, the result lines replace it. */
TEST_IMPL_T(example_fleet_exec_progress_on_terminal, 120) {
  static test_sshd s;
  char sock[600], cmd[4096], host[128];
  int st;

  TEST_REQUIRE_PROGRAMS("/usr/sbin/sshd", "tmux");
  ASSERT_EQ(test_sshd_start(&s, NULL), 0);
  snprintf(host, sizeof(host), "%s@127.0.0.1:%d", s.user, s.port);
  snprintf(sock, sizeof(sock), "%s", test_path("tmux.sock"));
  /* Two hosts (the same sshd twice: one pooled connection, two sessions);
   * the marker file lets the command end when the test says so. */
  snprintf(cmd, sizeof(cmd),
           "'%s' --known-hosts '%s' --identity '%s' %s %s -- "
           "'while [ ! -e %s ]; do sleep 0.2; done'; echo fleet-exit=$?; "
           "sleep 60",
           fleet(), s.known_hosts, s.client_key, host, host, test_path("go"));
  ASSERT_EQ(test_run_simple((const char *[]){"tmux", "-S", sock, "new-session",
                                             "-d", "-s", "fleet", "-x", "150",
                                             "-y", "20", cmd, NULL},
                            NULL, NULL),
            0);
  test_tmux_wait(sock, "fleet", "[round 1/1] 0/2 done, 2 running, 0 failed",
                 60000, "fleet-exec's terminal");
  ASSERT_EQ(test_write_file(test_path("go"), "", 0600), 0);
  test_tmux_wait(sock, "fleet", "fleet-exit=0", 60000, "fleet-exec's terminal");
  {
    char *screen = test_tmux_capture(sock, "fleet");
    ASSERT(screen != NULL);
    ASSERT_EQ(test_count(screen, "[SUCCESS]"), 2);
    /* The progress line was cleared, not left behind the results. */
    ASSERT(strstr(screen, "2 running") == NULL);
    free(screen);
  }
  (void)test_run_simple(
      (const char *[]){"tmux", "-S", sock, "kill-server", NULL}, NULL, NULL);
  (void)st;
  test_sshd_stop(&s);
  return 0;
}
