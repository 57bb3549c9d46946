/* test-pool-faults.c -- faults injected into real upstreams, seen from the
 * pool (real OpenSSH sshds on loopback, libssh2, real sockets):
 *
 * - the jump host dies (listener and its sessions SIGKILLed) while target
 *   sessions ride it: every one of them ends promptly with a clear error,
 *   the pool forgets both connections, a new request fails cleanly while
 *   the jump is down and reconnects (jump, then target) once it is back on
 *   the same port;
 * - a jump, and a direct upstream, that accept TCP and never say a word:
 *   the open fails within the connect timeout with a message saying so,
 *   nothing hangs, and the pool goes on serving another upstream.
 *
 * (The upstream killed or SIGSTOPped under a direct session is
 * test-pool-life.c; the same faults end to end through sshmuxd serve with
 * the real ssh client are test-relay-faults.c.) */
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pool-harness.h"

static size_t nconns(ph_t *h) {
  size_t n = 0;
  ASSERT_OK(sshmux_pool_stats(h->pool, NULL, NULL, 0, &n));
  return n;
}

static const char *merged_known_hosts(test_sshd *a, test_sshd *b) {
  const char *path = test_path("known_hosts");
  char *ka = test_read_file(a->known_hosts, NULL),
       *kb = test_read_file(b->known_hosts, NULL);
  FILE *f = fopen(path, "w");

  ASSERT(f != NULL && ka != NULL && kb != NULL);
  fputs(ka, f);
  fputs(kb, f);
  fclose(f);
  free(ka);
  free(kb);
  return path;
}

TEST_IMPL_T(pool_fault_jump_dies_under_target_sessions, 90) {
  test_sshd j, s;
  test_sshd_opts jo = {0}, so = {0};
  sshmux_pool_options_t o;
  sshmux_target_t jt, t;
  ph_job_t a, b;
  uint64_t t0;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  jo.name = "jump";
  so.name = "target";
  ASSERT_OK(test_sshd_start(&j, &jo));
  ASSERT_OK(test_sshd_start(&s, &so));
  ph_options(&o, merged_known_hosts(&j, &s));
  ph_init(&h, &o);
  ph_target(&jt, &j);
  ph_target(&t, &s);
  t.jump = &jt;
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  ph_exec(&h, &t, "echo started; exec cat", &a);
  ph_exec(&h, &t, "echo started; exec cat", &b);
  while (strstr(a.out, "started") == NULL || strstr(b.out, "started") == NULL)
    ph_run_for(&h, 20);
  ASSERT_EQ(nconns(&h), 2); /* the jump and the target through it */

  /* The jump goes away, hard: its listener and the session carrying our
   * tunnel.  The target itself is fine. */
  t0 = test_now_ms();
  ASSERT_EQ(ph_signal_sessions(&j, SIGKILL), 1);
  ph_sshd_stop(&j);
  ph_run_until(&h, &a.done, 20000);
  ph_run_until(&h, &b.done, 20000);
  ASSERT_LT(test_now_ms() - t0, 20000);
  ASSERT(a.closed_status < 0 && b.closed_status < 0);
  printf("# target sessions ended: %s (%d)\n", a.errmsg, a.closed_status);
  ASSERT_STR_CONTAINS(a.errmsg, "jump connection");
  ASSERT_STR_CONTAINS(b.errmsg, "lost");
  for (int i = 0; i < 100 && nconns(&h) > 0; i++)
    ph_run_for(&h, 50);
  ASSERT_EQ(nconns(&h), 0);

  /* While it is down: a clean refusal, not a hang. */
  memset(&a, 0, sizeof(a));
  ph_exec(&h, &t, "true", &a);
  ph_run_until(&h, &a.done, 20000);
  ASSERT_EQ(a.open_status, UV_ECONNREFUSED);
  ASSERT_STR_CONTAINS(a.errmsg, "cannot connect");

  /* Back on the same port with the same host keys: the pool reconnects. */
  ASSERT_OK(test_sshd_restart(&j));
  memset(&a, 0, sizeof(a));
  ph_exec(&h, &t, "echo again", &a);
  ph_run_until(&h, &a.done, 30000);
  ASSERT_EQ(a.open_status, 0);
  ASSERT_STR_EQ(a.out, "again\n");
  ph_close(&h);
  ph_sshd_stop(&j);
  ph_sshd_stop(&s);
  return 0;
}

TEST_IMPL_T(pool_fault_silent_upstream_and_jump, 90) {
  test_sshd s;
  sshmux_pool_options_t o;
  sshmux_target_t silent, t, via;
  ph_job_t a, b;
  uint64_t t0;
  int lfd, port;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ASSERT_OK(test_sshd_start(&s, NULL));
  lfd = test_listen_local(16, &port); /* completes connections, sends nothing */
  ph_options(&o, s.known_hosts);
  o.connect_timeout_ms = 2000;
  ph_init(&h, &o);
  ph_target(&t, &s);
  sshmux_target_init(&silent);
  silent.host = "127.0.0.1";
  silent.port = port;
  silent.user = s.user;
  silent.identity_files = t.identity_files;

  /* Directly: the handshake never starts, the connect timeout ends it. */
  memset(&a, 0, sizeof(a));
  t0 = test_now_ms();
  ph_exec(&h, &silent, "true", &a);
  ph_run_until(&h, &a.done, 45000);
  ASSERT_EQ(a.open_status, SSHMUX_ETIMEOUT);
  ASSERT_STR_CONTAINS(a.errmsg, "imed out");
  ASSERT_LT(test_now_ms() - t0, 45000);

  /* As the jump in front of a perfectly good target: the same. */
  via = t;
  via.jump = &silent;
  memset(&a, 0, sizeof(a));
  ph_exec(&h, &via, "true", &a);
  ph_run_until(&h, &a.done, 45000);
  ASSERT_EQ(a.open_status, SSHMUX_ETIMEOUT);
  ASSERT_STR_CONTAINS(a.errmsg, "imed out");

  /* Meanwhile and afterwards, another upstream is served normally. */
  memset(&b, 0, sizeof(b));
  ph_exec(&h, &t, "echo fine", &b);
  ph_run_until(&h, &b.done, 30000);
  ASSERT_STR_EQ(b.out, "fine\n");
  ph_close(&h);
  close(lfd);
  test_sshd_stop(&s);
  return 0;
}
