/* test-relay-load.c -- many sessions and misbehaving peers through
 * `sshmuxd serve`: 50 concurrent sessions share one upstream login (or as
 * few as the upstream's MaxSessions allows), and a reader or writer that
 * stalls does not make sshmuxd's memory grow past a fixed bound. */
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay-harness.h"

static void many(int n, int max_sessions, int *logins) {
  test_sshd s;
  test_sshd_opts so;
  rh_t h;
  char script[4096], path[700];
  int i;

  memset(&so, 0, sizeof(so));
  so.max_sessions = max_sessions;
  ASSERT_EQ(test_sshd_start(&s, &so), 0);
  rh_init(&h);
  rh_route(&h, "r1", &s, NULL);
  rh_start(&h, NULL);
  /* Every remote command waits (bounded: 60 s) until all n have started,
   * so the n sessions really are open at the same time however slowly a
   * loaded machine starts the clients. */
  snprintf(script, sizeof(script),
           "for i in $(seq 1 %d); do\n"
           "  ssh -F %s r1 \"touch %s/started.$i; k=0; "
           "while [ \\$(ls %s | grep -c '^started') -lt %d ] && "
           "[ \\$k -lt 600 ]; do sleep 0.1; k=\\$((k+1)); done; "
           "echo out-$i\" > %s/out.$i 2>/dev/null &\n"
           "done\nwait\n",
           n, h.cfg, test_path("bar"), test_path("bar"), n, test_path("."));
  ASSERT_EQ(mkdir(test_path("bar"), 0777), 0);
  ASSERT_EQ(test_run_sh(script, 120000), 0);
  for (i = 1; i <= n; i++) {
    char want[32], *got;
    snprintf(path, sizeof(path), "%s/out.%d", test_path("."), i);
    snprintf(want, sizeof(want), "out-%d\n", i);
    got = test_read_file(path, NULL);
    if (got == NULL || strcmp(got, want) != 0)
      rh_dump(&h);
    ASSERT_STR_EQ(got, want);
    free(got);
  }
  snprintf(path, sizeof(path), "%s/sshmux.log", h.dir);
  *logins = test_count_in_file(path, "logged in (publickey)");
  ASSERT_EQ(test_sshd_log_count(&s, "Accepted publickey"), *logins);
  rh_stop(&h);
  test_sshd_stop(&s);
}

TEST_IMPL_T(relay_fifty_sessions_one_login, 150) {
  int logins;

  TEST_REQUIRE_PROGRAM("ssh");
  many(50, 64, &logins);
  ASSERT_EQ(logins, 1);
  return 0;
}

/* With sshd's MaxSessions 5 the pool learns the limit and spreads 20
 * sessions that are all open at once over the fewest connections that hold
 * them (one more is allowed: the connection that taught the limit may have
 * lost a session to the retry). */
TEST_IMPL_T(relay_sessions_maxsessions, 150) {
  int logins;

  TEST_REQUIRE_PROGRAM("ssh");
  many(20, 5, &logins);
  ASSERT_GE(logins, 4);
  ASSERT_LE(logins, 5);
  return 0;
}

/* Sample sshmuxd's RSS every 250 ms until it has not changed by more
 * than 256 KiB for 2 s (at most 15 s: failing means it kept growing);
 * return the largest value seen. */
static long settled_rss(rh_t *h) {
  long peak = 0, ref = -1, v;
  uint64_t start = test_now_ms(), since = start, now;

  for (;;) {
    v = rh_rss_kib(h);
    ASSERT_GT(v, 0);
    now = test_now_ms();
    if (v > peak)
      peak = v;
    if (ref < 0 || v > ref + 256 || v < ref - 256) {
      ref = v;
      since = now;
    } else if (now - since >= 2000 && now - start >= 3000) {
      return peak;
    }
    ASSERT_LT(now - start, 15000);
    usleep(250000);
  }
}

/* The remote command has started (the namespaces share the file
 * system), so the data is flowing from here on. */
static void wait_file(const char *path) {
  uint64_t end = test_now_ms() + 45000;

  while (access(path, F_OK) != 0) {
    ASSERT_LT(test_now_ms(), end);
    usleep(50000);
  }
}

TEST_IMPL_T(relay_stalled_peer_bounded_memory, 90) {
  test_sshd s;
  rh_t h;
  char cmd[3000];
  long base, peak;
  /* Two windows and two queues, with room to spare; ASan's quarantine
   * keeps freed memory resident, so it gets more. */
  const long bound = rh_sanitized() ? 64 * 1024 : 16 * 1024;
  int pid;

  TEST_REQUIRE_PROGRAM("ssh");
  rh_setup(&h, &s, "r1", NULL);
  rh_start(&h, NULL);
  /* Warm the upstream connection so its buffers are in the baseline. */
  ASSERT_EQ(rh_run(&h, (const char *[]){"r1", "true", NULL}, NULL, NULL, 0), 0);
  base = rh_rss_kib(&h);

  for (int i = 0; i < 2; i++) {
    /* A producer upstream and a client that never reads its stdout; then
     * a client that never stops writing and an upstream that never
     * reads.  Each command line takes the config and a "started" file. */
    static const char *const what[2] = {"stalled reader", "stalled writer"};
    static const char *const fmt[2] = {
        "ssh -F %s r1 'echo > %s; cat /dev/zero' | sleep 60",
        "cat /dev/zero | ssh -F %s r1 'echo > %s; sleep 60'"};
    char started[700];

    snprintf(started, sizeof(started), "%s",
             test_path(i ? "started2" : "started1"));
    snprintf(cmd, sizeof(cmd), fmt[i], h.cfg, started);
    pid = test_spawn((const char *[]){"sh", "-c", cmd, NULL}, NULL);
    wait_file(started);
    peak = settled_rss(&h);
    fprintf(stderr, "%s: base %ld KiB, settled at %ld KiB\n", what[i], base,
            peak);
    /* Bounded: the windows and queues of one channel, not a stream. */
    ASSERT_LT(peak - base, bound);
    test_kill(pid);
  }
  rh_stop(&h);
  test_sshd_stop(&s);
  return 0;
}
