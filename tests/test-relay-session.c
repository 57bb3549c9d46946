/* test-relay-session.c -- session channels through `sshmuxd serve` with the
 * real OpenSSH client and a real upstream sshd: exit status, signals,
 * stderr kept apart, half-close, env policy, the unknown-user answer. */
#include <signal.h>
#include <unistd.h>

#include "relay-harness.h"

static void setup(rh_t *h, test_sshd *s) {
  ASSERT_EQ(test_sshd_start(s, NULL), 0);
  rh_init(h);
  rh_route(h, "r1", s, NULL);
  rh_start(h, NULL);
}

TEST_IMPL(relay_exit_status) {
  test_sshd s;
  rh_t h;
  char *out = NULL, *err = NULL;
  int st;

  TEST_REQUIRE_PROGRAM("ssh");
  setup(&h, &s);
  st = test_run_simple(rh_ssh(&h, (const char *[]){"r1", "exit 7", NULL}),
                       &out, &err);
  if (st != 7)
    rh_dump(&h);
  ASSERT_EQ(st, 7);
  free(out);
  free(err);
  st = test_run_simple(
      rh_ssh(&h, (const char *[]){"r1", "echo out; echo err >&2", NULL}), &out,
      &err);
  ASSERT_EQ(st, 0);
  ASSERT_STR_EQ(out, "out\n");
  ASSERT_STR_EQ(err, "err\n");
  free(out);
  free(err);
  rh_stop(&h);
  test_sshd_stop(&s);
  return 0;
}
