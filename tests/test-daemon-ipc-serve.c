/* test-daemon-ipc-serve.c -- the control socket of `sshmuxd serve` itself
 * (not the control-daemon used by the other IPC tests): a relayed ssh
 * session shows up in `status --json` with serve's port, `lock` refuses a
 * new relayed session, `unlock` lets it in, and `stop` ends serve with
 * exit status 0 and no sanitizer report. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc-helpers.h"
#include "relay-harness.h"

static int run_cli(const char *const *args, char **out, char **err) {
  return ipct_run(args, NULL, out, err);
}

TEST_IMPL_T(daemon_ipc_serve_status_lock_stop, 90) {
  const char *status[] = {"status", "--json", NULL};
  const char *lock[] = {"lock", NULL}, *unlock[] = {"unlock", NULL};
  const char *stop[] = {"stop", NULL};
  test_sshd s;
  rh_t h;
  char *out = NULL, *err = NULL, want[64];
  int st, pid;

  TEST_REQUIRE_PROGRAM("ssh");
  ASSERT_OK(test_sshd_start(&s, NULL));
  rh_init(&h);
  rh_route(&h, "r1", &s, NULL);
  rh_start(&h, NULL);
  ASSERT_EQ(rh_run(&h, (const char *[]){"r1", "echo one", NULL}, &out, NULL, 0),
            0);
  ASSERT_STR_EQ(out, "one\n");
  free(out);
  ASSERT_EQ(run_cli(status, &out, NULL), 0);
  snprintf(want, sizeof(want), "\"port\":%d,", h.port);
  ASSERT_STR_CONTAINS(out, want);
  snprintf(want, sizeof(want), "\"pid\":%d,", h.pid);
  ASSERT_STR_CONTAINS(out, want);
  ASSERT_STR_CONTAINS(out, "\"logins\":1,");
  free(out);

  ASSERT_EQ(run_cli(lock, NULL, NULL), 0);
  st = rh_run(&h, (const char *[]){"r1", "echo two", NULL}, &out, &err, 0);
  ASSERT_NE(st, 0);
  ASSERT(strstr(out, "two") == NULL);
  free(out), free(err);
  ASSERT_EQ(run_cli(unlock, NULL, NULL), 0);
  ASSERT_EQ(
      rh_run(&h, (const char *[]){"r1", "echo three", NULL}, &out, NULL, 0), 0);
  ASSERT_STR_EQ(out, "three\n");
  free(out);

  pid = h.pid;
  ASSERT_EQ(run_cli(stop, &out, NULL), 0);
  free(out);
  ASSERT_EQ(ipct_wait_exit(pid, 10000), 0);
  h.pid = 0;
  {
    char *log = test_read_file(h.log, NULL);
    ASSERT(log == NULL || strstr(log, "Sanitizer") == NULL);
    free(log);
  }
  test_sshd_stop(&s);
  return 0;
}
