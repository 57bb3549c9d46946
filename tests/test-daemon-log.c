/* test-daemon-log.c -- sshmuxd's log file: created 0600 in the SSH dir,
 * rotated to sshmux.log.old at the size limit (lowered for the test through
 * SSHMUX_LOG_MAX_BYTES), a symlinked log never followed, and the log level
 * options checked. */
#include <sys/stat.h>
#include <unistd.h>

#include "daemon-helpers.h"

static const char routes[] = "[routes.a]\nhost = h\nuser = u\n";

TEST_IMPL(daemon_log_rotation) {
  const char *args[] = {"setup-config", "--log-level", "debug", NULL};
  const char *env[] = {"SSHMUX_LOG_MAX_BYTES=2000", NULL};
  struct stat st, old;
  char *log;
  int i;

  dtest_setup();
  dtest_write(dtest_ssh_path("sshmux-routes.ini"), routes);
  ASSERT_EQ(dtest_run(args, env, NULL, NULL), 0);
  ASSERT_EQ(stat(dtest_ssh_path("sshmux.log"), &st), 0);
  ASSERT_EQ(st.st_mode & 0777, 0600);
  ASSERT_LT(st.st_size, 2000);
  log = test_read_file(dtest_ssh_path("sshmux.log"), NULL);
  ASSERT_STR_CONTAINS(log, "sshmuxd[");
  ASSERT_STR_CONTAINS(log, "] info: setup-config: wrote ");
  ASSERT_STR_CONTAINS(log, "] debug: setup-config: routes ");
  free(log);
  /* Each further run adds a debug line or two: the limit is crossed, the
   * log rotates, and neither file ever exceeds the limit. */
  for (i = 0; i < 16; i++) {
    ASSERT_EQ(dtest_run(args, env, NULL, NULL), 0);
    ASSERT_EQ(stat(dtest_ssh_path("sshmux.log"), &st), 0);
    ASSERT_LE(st.st_size, 2000);
  }
  ASSERT_EQ(stat(dtest_ssh_path("sshmux.log.old"), &old), 0);
  ASSERT_LE(old.st_size, 2000);
  ASSERT_GT(old.st_size, 2000 / 2);
  ASSERT_EQ(old.st_mode & 0777, 0600);
  ASSERT(access(dtest_ssh_path("sshmux.log.old.old"), F_OK) != 0);
  log = test_read_file(dtest_ssh_path("sshmux.log"), NULL);
  ASSERT_STR_CONTAINS(log, "setup-config: nothing changed");
  free(log);
  return 0;
}

TEST_IMPL(daemon_log_symlink_not_followed) {
  const char *args[] = {"setup-config", NULL};
  char *victim;

  dtest_setup();
  dtest_write(dtest_ssh_path("sshmux-routes.ini"), routes);
  dtest_write(test_path("victim"), "precious\n");
  ASSERT_EQ(symlink(test_path("victim"), dtest_ssh_path("sshmux.log")), 0);
  /* The command still works; the log is refused, not followed. */
  dtest_expect(args, 0, NULL, "not logging to");
  victim = test_read_file(test_path("victim"), NULL);
  ASSERT_STR_EQ(victim, "precious\n");
  free(victim);
  return 0;
}

TEST_IMPL(daemon_log_level_options) {
  const char *bad[] = {"setup-config", "--log-level", "loud", NULL};
  const char *ok[] = {"setup-config", NULL};
  const char *env_warn[] = {"SSHMUX_LOG=warn", NULL};
  const char *env_bad[] = {"SSHMUX_LOG=chatty", NULL};
  char *err = NULL;
  struct stat st;

  dtest_setup();
  dtest_write(dtest_ssh_path("sshmux-routes.ini"), routes);
  dtest_expect(bad, 2, NULL, "--log-level: unknown level 'loud'");
  /* At warn, a successful run logs nothing. */
  ASSERT_EQ(dtest_run(ok, env_warn, NULL, NULL), 0);
  ASSERT_EQ(stat(dtest_ssh_path("sshmux.log"), &st), 0);
  ASSERT_EQ(st.st_size, 0);
  ASSERT_EQ(dtest_run(ok, env_bad, NULL, &err), 0);
  ASSERT_STR_CONTAINS(err, "SSHMUX_LOG: unknown level 'chatty'");
  free(err);
  return 0;
}
