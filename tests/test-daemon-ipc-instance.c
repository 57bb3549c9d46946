/* test-daemon-ipc-instance.c -- one daemon per user and the control
 * directory's checks, with real processes in a throwaway HOME and
 * XDG_RUNTIME_DIR.
 *
 * Proves: the socket is 0600 in a 0700 directory; a second daemon (also
 * `sshmuxd serve`) is refused naming the running one's pid and exits
 * non-zero; after a crash (SIGKILL) the stale socket is detected and
 * replaced by the next daemon; a control directory that is a symlink, is
 * 0755, or belongs to someone else is refused, by the daemon and by the
 * client commands alike, and is never "repaired". */
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc-helpers.h"

static void routes(void) {
  ipct_routes("[jump]\nhost = 127.0.0.1\nport = 9\nuser = nobody\n");
}

TEST_IMPL_T(daemon_ipc_one_per_user_and_stale_socket, 60) {
  const char *second[] = {"control-daemon", NULL};
  const char *serve[] = {"serve", "--port", "0", NULL};
  const char *status[] = {"status", NULL};
  char *out = NULL, *err = NULL, want[64], *log;
  struct stat st;
  int pid, pid2;

  ipct_env();
  routes();
  pid = ipct_start();
  ASSERT_EQ(lstat(ipct_control_sock(), &st), 0);
  ASSERT(S_ISSOCK(st.st_mode));
  ASSERT_EQ(st.st_mode & 0777, 0600);
  ASSERT_EQ(lstat(ipct_control_dir(), &st), 0);
  ASSERT_EQ(st.st_mode & 07777, 0700);

  snprintf(want, sizeof(want), "already running (pid %d,", pid);
  ASSERT_NE(ipct_run(second, NULL, &out, &err), 0);
  ASSERT_STR_CONTAINS(err, want);
  free(out), free(err);
  /* Refused cleanly: exit status 1, not a crash on the way out. */
  ASSERT_EQ(ipct_run(serve, NULL, &out, &err), 1);
  ASSERT_STR_CONTAINS(err, want);
  ASSERT(strstr(err, "Assertion") == NULL && strstr(err, "fatal") == NULL);
  free(out), free(err);
  /* The first one is unharmed. */
  ASSERT_EQ(ipct_run(status, NULL, NULL, NULL), 0);

  /* A crash leaves the socket behind. */
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_EQ(ipct_wait_exit(pid, 5000), 128 + SIGKILL);
  ASSERT_EQ(lstat(ipct_control_sock(), &st), 0);
  ASSERT_NE(ipct_run(status, NULL, NULL, &err), 0);
  ASSERT_STR_CONTAINS(err, "not running");
  free(err);
  pid2 = ipct_start();
  log = test_read_file(dtest_ssh_path("sshmux.log"), NULL);
  ASSERT_STR_CONTAINS(log, "replacing stale control socket");
  free(log);
  ASSERT_EQ(ipct_run(status, NULL, &out, NULL), 0);
  snprintf(want, sizeof(want), "pid %d,", pid2);
  ASSERT_STR_CONTAINS(out, want);
  free(out);
  test_kill(pid2);
  return 0;
}

/* The daemon refuses to start, status refuses to connect, and neither
 * changes the directory. */
static void refused(const char *why) {
  const char *daemon[] = {"control-daemon", NULL};
  const char *status[] = {"status", NULL};
  const char *prompt[] = {"prompt", "--list", NULL};
  struct stat before, after;
  char *err = NULL;

  ASSERT_EQ(lstat(ipct_control_dir(), &before), 0);
  ASSERT_NE(ipct_run(daemon, NULL, NULL, &err), 0);
  ASSERT_STR_CONTAINS(err, why);
  free(err);
  ASSERT_NE(ipct_run(status, NULL, NULL, &err), 0);
  ASSERT_STR_CONTAINS(err, why);
  free(err);
  ASSERT_NE(ipct_run(prompt, NULL, NULL, &err), 0);
  ASSERT_STR_CONTAINS(err, why);
  free(err);
  ASSERT_EQ(lstat(ipct_control_dir(), &after), 0);
  ASSERT_EQ(before.st_mode, after.st_mode);
  ASSERT_EQ(before.st_uid, after.st_uid);
  ASSERT(access(ipct_control_sock(), F_OK) != 0 || S_ISLNK(before.st_mode));
}

TEST_IMPL(daemon_ipc_control_dir_refused) {
  ipct_env();
  routes();
  /* 0755 */
  ASSERT_EQ(mkdir(ipct_control_dir(), 0700), 0);
  ASSERT_EQ(chmod(ipct_control_dir(), 0755), 0);
  refused("mode 0755, not 0700");
  ASSERT_EQ(rmdir(ipct_control_dir()), 0);
  /* A symlink to a perfectly good directory. */
  ASSERT_EQ(mkdir(test_path("elsewhere"), 0700), 0);
  ASSERT_EQ(symlink(test_path("elsewhere"), ipct_control_dir()), 0);
  refused("symbolic link");
  ASSERT(access(test_path("elsewhere/control"), F_OK) != 0);
  ASSERT_EQ(unlink(ipct_control_dir()), 0);
  /* Someone else's. */
  if (getuid() == 0) {
    ASSERT_EQ(mkdir(ipct_control_dir(), 0700), 0);
    ASSERT_EQ(chown(ipct_control_dir(), 65534, 65534), 0);
    refused("owned by uid 65534");
  }
  return 0;
}
