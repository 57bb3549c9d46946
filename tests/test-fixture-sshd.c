/* test-fixture-sshd.c -- the real-sshd fixture itself: it starts, a real ssh
 * client logs in with the throwaway key and runs a command, and it stops. */
#include <signal.h>
#include <unistd.h>

#include "fixture-sshd.h"
#include "test.h"

TEST_IMPL(fixture_sshd_real_login) {
  test_sshd s;
  test_argv_t a;

  TEST_REQUIRE_OPENSSH();
  ASSERT_OK(test_sshd_start(&s, NULL));
  free(test_sshd_expect_run(
      &s, test_sshd_ssh_argv(&a, &s, NULL, "echo fixture-ok; exit 3"), 3,
      "fixture-ok\n"));
  test_sshd_stop(&s);
  /* Stopped means stopped: nothing accepts any more. */
  ASSERT(test_wait_port(s.port, 0, 300) != 0);
  return 0;
}
