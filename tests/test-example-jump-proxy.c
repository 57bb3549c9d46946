/* test-example-jump-proxy.c -- examples/jump-proxy with the real OpenSSH
 * client in front and a real sshd behind, listening on 0.0.0.0 (it is told
 * to; it says so):
 *
 *  - alice logs in with her key from USERS/alice.keys and runs a command
 *    on her route twice (output and exit status intact); bob's key is
 *    refused for alice;
 *  - `ssh -W` through alice reaches the sshd's own port, which alice's
 *    forward_allow lists (an ssh over it logs in end to end); bob's route
 *    allows nothing, so his -W is refused;
 *  - every upstream login rides one pooled connection (one "Accepted
 *    publickey" for the proxy's upstream, one for the ssh over -W);
 *  - alice's sessions are recorded under LOGDIR/alice/ as 0600
 *    typescript + timing files that `scriptreplay` plays back to the
 *    command's output;
 *  - SIGTERM with a session still running ends it with status 0, and that
 *    session's recording is closed too. */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture-sshd.h"
#include "test.h"

/* Run ssh to the proxy as user with key: base options, then extra (a
 * NULL-terminated list, may be NULL), then user@127.0.0.1 and cmd (may be
 * NULL).  Returns the exit status; output in *out, stderr in *err. */
static int ssh_proxy(int port, const char *kh, const char *key,
                     const char *user, const char *const *extra,
                     const char *cmd, char **out, char **err) {
  char dest[128];
  test_argv_t a = {0};
  int st = -1;

  snprintf(dest, sizeof(dest), "%s@127.0.0.1", user);
  test_argv_add(&a, "ssh", NULL);
  test_argv_ssh_opts(&a, "-p", port, key, kh);
  test_argv_add(&a, "-o", "ConnectTimeout=20", NULL);
  test_argv_addv(&a, extra);
  test_argv_add(&a, dest, cmd, NULL);
  {
    test_cmd_t c = {.argv = a.v, .out = out, .err = err, .timeout_ms = 60000};
    if (test_run(&c, &st) != 0)
      return -1;
  }
  return st;
}

/* An ssh's result: exit status st must be want_st and its output want
 * (its stderr and the proxy's log plog shown if not); frees out and err. */
static void ssh_result(int st, int want_st, char *out, char *err,
                       const char *want, const char *plog) {
  if (st != want_st) {
    char *log = test_read_file(plog, NULL);
    fprintf(stderr, "ssh: %s\nproxy: %s", err, log ? log : "");
    free(log);
  }
  ASSERT_EQ(st, want_st);
  ASSERT_STR_EQ(out, want);
  free(out);
  free(err);
}

/* A session recording (*.typescript) that was closed ("Script done")
 * and holds "long-one": 1. */
static int closed_long_one(const char *path, const char *name, void *data) {
  size_t l = strlen(name);
  char *text;
  int n;

  (void)data;
  if (l < 11 || strcmp(name + l - 11, ".typescript") != 0)
    return 0;
  text = test_read_file(path, NULL);
  ASSERT(text != NULL);
  ASSERT_STR_CONTAINS(text, "\nScript done on ");
  n = strstr(text, "long-one") != NULL;
  free(text);
  return n;
}

/* The one file in dir ending in suffix, as a path in buf; 0 or -1. */
static int find_one(const char *dir, const char *suffix, char *buf,
                    size_t size) {
  return test_dir_files(dir, suffix, buf, size) >= 1 ? 0 : -1;
}

TEST_IMPL_T(example_jump_proxy_users_routes_logs, 120) {
  static test_sshd s;
  char proxy[1024], listen[64], routes[2048], path[700];
  char plog[600], hostkey[600], alice[600], bob[600], local_kh[600], users[600],
      logs[600], ts[1400], timing[1400];
  char *out = NULL, *err = NULL, *pub;
  struct stat st_;
  int port, pid, st;

  TEST_REQUIRE_PROGRAMS("ssh", "ssh-keygen", "/usr/sbin/sshd", "scriptreplay");
  snprintf(plog, sizeof(plog), "%s", test_path("proxy.log"));
  snprintf(hostkey, sizeof(hostkey), "%s", test_path("proxy_host_key"));
  snprintf(alice, sizeof(alice), "%s", test_path("alice"));
  snprintf(bob, sizeof(bob), "%s", test_path("bob"));
  snprintf(local_kh, sizeof(local_kh), "%s", test_path("local_known_hosts"));
  snprintf(users, sizeof(users), "%s", test_path("users"));
  snprintf(logs, sizeof(logs), "%s", test_path("logs"));
  ASSERT_EQ(test_sshd_start(&s, NULL), 0);
  ASSERT_EQ(test_keygen("ed25519", alice, NULL), 0);
  ASSERT_EQ(test_keygen("ed25519", bob, NULL), 0);
  ASSERT_EQ(mkdir(users, 0700), 0);
  {
    const char *who[2] = {"alice", "bob"};
    for (int i = 0; i < 2; i++) {
      char src[700], dst[700];
      snprintf(src, sizeof(src), "%s.pub", i == 0 ? alice : bob);
      snprintf(dst, sizeof(dst), "%s/%s.keys", users, who[i]);
      pub = test_read_file(src, NULL);
      ASSERT(pub != NULL);
      ASSERT_EQ(test_write_file(dst, pub, 0600), 0);
      free(pub);
    }
  }
  /* Both routes reach the same upstream with the same login, so they share
   * one pooled connection; only alice may forward, and only to the sshd. */
  snprintf(routes, sizeof(routes),
           "[routes.alice]\nhost = 127.0.0.1\nport = %d\nuser = %s\n"
           "identity = %s\ndirect = true\nforward_allow = 127.0.0.1:%d\n"
           "[routes.bob]\nhost = 127.0.0.1\nport = %d\nuser = %s\n"
           "identity = %s\ndirect = true\nforward_allow = none\n",
           s.port, s.user, s.client_key, s.port, s.port, s.user, s.client_key);
  ASSERT_EQ(test_write_file(test_path("routes.ini"), routes, 0600), 0);

  snprintf(proxy, sizeof(proxy), "%s/examples/jump-proxy", test_build_dir());
  port = test_free_port();
  snprintf(listen, sizeof(listen), "0.0.0.0:%d", port);
  {
    const char *argv[] = {proxy,
                          "--listen",
                          listen,
                          "--host-key",
                          hostkey,
                          "--routes",
                          test_path("routes.ini"),
                          "--users",
                          users,
                          "--known-hosts",
                          s.known_hosts,
                          "--log-dir",
                          logs,
                          NULL};
    pid = test_spawn(argv, plog);
  }
  ASSERT(pid > 0);
  test_expect_text(plog, "jump-proxy: listening on", 15000,
                   "jump-proxy did not start");
  ASSERT_EQ(test_count_in_file(plog, "reachable from other machines"), 1);
  test_trust_host_key(local_kh, port, hostkey);

  /* alice, twice: her route, her command's output and status. */
  for (int round = 0; round < 2; round++) {
    st = ssh_proxy(port, local_kh, alice, "alice", NULL,
                   "echo hello-alice; exit 5", &out, &err);
    ssh_result(st, 5, out, err, "hello-alice\n", plog);
  }
  /* bob's key is not alice's. */
  st = ssh_proxy(port, local_kh, bob, "alice", NULL, "echo no", &out, &err);
  ASSERT_EQ(st, 255);
  ASSERT_STR_CONTAINS(err, "Permission denied");
  free(out);
  free(err);
  /* Nor is anyone without a keys file or a route. */
  st = ssh_proxy(port, local_kh, alice, "mallory", NULL, "echo no", &out, &err);
  ASSERT_EQ(st, 255);
  free(out);
  free(err);

  /* -W through alice: an ssh logs in to the sshd over the forwarding. */
  {
    char pc[2400];
    test_argv_t a;
    test_cmd_t c = {.argv = test_sshd_ssh_argv(
                        &a, &s, (const char *[]){"-o", pc, NULL}, "echo via-w"),
                    .out = &out,
                    .err = &err,
                    .timeout_ms = 60000};
    snprintf(pc, sizeof(pc),
             "ProxyCommand=ssh -F /dev/null -p %d -i %s -o "
             "UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o "
             "BatchMode=yes -o IdentitiesOnly=yes -W 127.0.0.1:%%p "
             "alice@127.0.0.1",
             port, alice, local_kh);
    ASSERT_EQ(test_run(&c, &st), 0);
    ssh_result(st, 0, out, err, "via-w\n", plog);
  }
  /* -W through bob: his route allows no forwarding. */
  {
    char target[64];
    const char *extra[] = {"-W", target, NULL};
    snprintf(target, sizeof(target), "127.0.0.1:%d", s.port);
    st = ssh_proxy(port, local_kh, bob, "bob", extra, NULL, &out, &err);
    ASSERT_NE(st, 0);
    ASSERT_STR_CONTAINS(err, "forward_allow");
    free(out);
    free(err);
  }
  /* One pooled upstream login for everything the proxy did (both users,
   * sessions and the forwarding), plus the end-to-end login over -W. */
  if (test_count_in_file(s.log, "Accepted publickey") != 2)
    test_sshd_dump_log(&s);
  ASSERT_EQ(test_count_in_file(s.log, "Accepted publickey"), 2);
  ASSERT_EQ(test_count_in_file(plog, "alice: session channel to route alice"),
            2);
  ASSERT_EQ(
      test_count_in_file(plog, "alice: forwarding channel to route alice"), 1);

  /* alice's session logs: private, and scriptreplay plays them back. */
  snprintf(path, sizeof(path), "%s/alice", logs);
  ASSERT_EQ(stat(path, &st_), 0);
  ASSERT_EQ(st_.st_mode & 0777, 0700);
  ASSERT_EQ(find_one(path, ".typescript", ts, sizeof(ts)), 0);
  ASSERT_EQ(find_one(path, ".timing", timing, sizeof(timing)), 0);
  ASSERT_EQ(stat(ts, &st_), 0);
  ASSERT_EQ(st_.st_mode & 0777, 0600);
  {
    char *text = test_read_file(ts, NULL);
    ASSERT(text != NULL);
    ASSERT_EQ(strncmp(text, "Script started on ", 18), 0);
    ASSERT_STR_CONTAINS(text, "\nhello-alice\n");
    ASSERT_STR_CONTAINS(text, "\nScript done on ");
    free(text);
  }
  {
    const char *argv[] = {"scriptreplay", "-t", timing, ts, NULL};
    ASSERT_EQ(test_run_simple(argv, &out, NULL), 0);
    ASSERT_EQ(strncmp(out, "hello-alice\n", 12), 0);
    free(out);
  }
  /* No log for bob (his only channel was refused), none for forwardings. */
  snprintf(path, sizeof(path), "%s/bob", logs);
  ASSERT(stat(path, &st_) != 0);

  /* A session still running when the proxy stops: the relay's close ends
   * it, and its recording is closed properly too (the tap's CLOSE comes
   * for every OPEN, also on close). */
  {
    test_argv_t argv = {0};
    int bg;
    uint64_t end = test_now_ms() + 30000;
    test_argv_add(&argv, "ssh", NULL);
    test_argv_ssh_opts(&argv, "-p", port, alice, local_kh);
    test_argv_add(&argv, "alice@127.0.0.1", "echo long-one; sleep 60", NULL);
    bg = test_spawn(argv.v, test_path("bg.log"));
    ASSERT(bg > 0);
    while (test_count_in_file(test_path("bg.log"), "long-one") == 0) {
      ASSERT(test_now_ms() < end);
      usleep(20 * 1000);
    }
    ASSERT_EQ(kill(pid, SIGTERM), 0);
    st = test_wait_exit(pid, 15000);
    if (st != 0)
      fprintf(stderr, "%s", test_read_file(plog, NULL));
    ASSERT_EQ(st, 0);
    ASSERT_NE(test_wait_exit(bg, 15000), 0); /* cut off, not finished */
  }
  snprintf(path, sizeof(path), "%s/alice", logs);
  /* the cut-off session was recorded and closed */
  ASSERT_EQ(test_dir_each(path, closed_long_one, NULL), 1);
  ASSERT_EQ(test_count_in_file(plog, "Sanitizer"), 0);
  test_sshd_stop(&s);
  return 0;
}

TEST_IMPL(example_jump_proxy_usage) {
  char proxy[1024];

  snprintf(proxy, sizeof(proxy), "%s/examples/jump-proxy", test_build_dir());
  test_expect_run((const char *[]){proxy, "--help", NULL}, 0,
                  "usage: jump-proxy --listen ADDR:PORT", NULL);
  test_expect_run((const char *[]){proxy, "--listen", "127.0.0.1:1", NULL}, 2,
                  NULL, NULL);
  return 0;
}
