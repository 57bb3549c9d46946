/* test-daemon-service.c -- `sshmuxd install` / `uninstall` in a throwaway
 * HOME with SSHMUX_NO_ENABLE=1: the right file for each mechanism, with the
 * right command line, detection falling back to XDG autostart when no
 * systemd user instance runs, idempotence, and clean removal.  Nothing is
 * ever enabled or started. */
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-helpers.h"

TEST_IMPL(daemon_install_autostart_fallback) {
  const char *args[] = {"install", NULL};
  char *out = NULL, *desk, want[1200];

  dtest_setup();
  /* XDG_RUNTIME_DIR has no systemd/private socket: autostart. */
  ASSERT_EQ(dtest_run(args, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "wrote ");
  ASSERT_STR_CONTAINS(out, "not enabling or starting anything");
  free(out);
  desk = test_read_file(dtest_home_path(".config/autostart/sshmuxd.desktop"),
                        NULL);
  ASSERT(desk != NULL);
  ASSERT_STR_CONTAINS(desk, "[Desktop Entry]\nType=Application\n");
  snprintf(want, sizeof(want), "\nExec=%s serve\n", dtest_sshmuxd());
  ASSERT_STR_CONTAINS(desk, want);
  ASSERT_STR_CONTAINS(desk, "\nTerminal=false\n");
  free(desk);
  ASSERT(access(dtest_home_path(".config/systemd/user/sshmuxd.service"),
                F_OK) != 0);
  /* Again: unchanged. */
  dtest_expect(args, 0, "sshmuxd.desktop is up to date", NULL);
  return 0;
}

TEST_IMPL(daemon_install_systemd_unit) {
  const char *args[] = {"install", "--method", "systemd",       "--port",
                        "2300",    "--config", "my-routes.ini", "--ssh-dir",
                        NULL,      NULL};
  char *unit, want[2400];
  struct stat st;

  dtest_setup();
  args[8] = dtest_home_path("ssh2");
  ASSERT_EQ(dtest_run(args, NULL, NULL, NULL), 0);
  unit = test_read_file(dtest_home_path(".config/systemd/user/sshmuxd.service"),
                        NULL);
  ASSERT(unit != NULL);
  snprintf(want, sizeof(want),
           "\nExecStart=\"%s\" \"serve\" \"--ssh-dir\" \"%s\" \"--config\" "
           "\"%s/my-routes.ini\" \"--port\" \"2300\"\n",
           dtest_sshmuxd(), dtest_home_path("ssh2"), test_path(""));
  /* test_path("") ends in "/": the join gives "dir//my-routes.ini". */
  if (strstr(unit, want) == NULL) {
    char cwd[1024];
    ASSERT(getcwd(cwd, sizeof(cwd)) != NULL);
    snprintf(want, sizeof(want),
             "\nExecStart=\"%s\" \"serve\" \"--ssh-dir\" \"%s\" \"--config\" "
             "\"%s/my-routes.ini\" \"--port\" \"2300\"\n",
             dtest_sshmuxd(), dtest_home_path("ssh2"), cwd);
    ASSERT_STR_CONTAINS(unit, want);
  }
  ASSERT_STR_CONTAINS(unit, "\nStandardInput=null\n");
  ASSERT_STR_CONTAINS(unit, "\n[Install]\nWantedBy=default.target\n");
  free(unit);
  /* install never creates the SSH dir it merely passes on. */
  ASSERT(stat(dtest_home_path("ssh2"), &st) != 0);
  return 0;
}

TEST_IMPL(daemon_install_launchd_plist) {
  const char *args[] = {"install", "--method", "launchd", NULL};
  char *plist, want[1200];

  dtest_setup();
  ASSERT_EQ(dtest_run(args, NULL, NULL, NULL), 0);
  plist = test_read_file(
      dtest_home_path("Library/LaunchAgents/org.sshmux.sshmuxd.plist"), NULL);
  ASSERT(plist != NULL);
  ASSERT_STR_CONTAINS(plist, "<key>Label</key>\n  "
                             "<string>org.sshmux.sshmuxd</string>\n");
  snprintf(want, sizeof(want),
           "<array>\n    <string>%s</string>\n    <string>serve</string>\n"
           "  </array>\n",
           dtest_sshmuxd());
  ASSERT_STR_CONTAINS(plist, want);
  ASSERT_STR_CONTAINS(plist, "<key>StandardInPath</key>\n"
                             "  <string>/dev/null</string>\n");
  free(plist);
  return 0;
}

TEST_IMPL(daemon_uninstall_removes) {
  const char *sd[] = {"install", "--method", "systemd", NULL};
  const char *xdg[] = {"install", "--method", "autostart", NULL};
  const char *un[] = {"uninstall", NULL};
  const char *bad[] = {"uninstall", "--method", "systemd", NULL};
  char *out = NULL;

  dtest_setup();
  ASSERT_EQ(dtest_run(sd, NULL, NULL, NULL), 0);
  ASSERT_EQ(dtest_run(xdg, NULL, NULL, NULL), 0);
  ASSERT_EQ(dtest_run(un, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "removed ");
  ASSERT_STR_CONTAINS(out, "sshmuxd.service");
  ASSERT_STR_CONTAINS(out, "sshmuxd.desktop");
  ASSERT_STR_CONTAINS(out, "not stopping anything");
  free(out);
  ASSERT(access(dtest_home_path(".config/systemd/user/sshmuxd.service"),
                F_OK) != 0);
  ASSERT(access(dtest_home_path(".config/autostart/sshmuxd.desktop"), F_OK) !=
         0);
  dtest_expect(un, 0, "nothing to uninstall", NULL);
  dtest_expect(bad, 2, NULL, "uninstall takes no such option");
  return 0;
}

/* A unix socket where systemd's user instance would have its own. */
static void fake_systemd_socket(void) {
  struct sockaddr_un sa;
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);

  ASSERT(fd >= 0);
  ASSERT_EQ(mkdir(test_path("run/systemd"), 0700), 0);
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  ASSERT_LT(strlen(test_path("run/systemd/private")), sizeof(sa.sun_path));
  strcpy(sa.sun_path, test_path("run/systemd/private"));
  ASSERT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(fd);
}

TEST_IMPL(daemon_install_enables_via_systemctl) {
  const char *in[] = {"install", NULL};
  const char *un[] = {"uninstall", NULL};
  char path[1200], *calls, *out = NULL;
  const char *env[] = {path, "SSHMUX_NO_ENABLE=0", NULL};

  /* Only the fake systemctl is on PATH: nothing real can be enabled. */
  dtest_setup();
  dtest_fake_systemctl();
  fake_systemd_socket();
  snprintf(path, sizeof(path), "PATH=%s", test_path("bin"));
  ASSERT_EQ(dtest_run(in, env, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "enabled and started sshmuxd.service");
  free(out);
  ASSERT(access(dtest_home_path(".config/systemd/user/sshmuxd.service"),
                F_OK) == 0);
  ASSERT_EQ(dtest_run(un, env, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "stopped and disabled sshmuxd.service");
  free(out);
  calls = test_read_file(test_path("calls"), NULL);
  ASSERT_STR_EQ(calls, "--user daemon-reload\n"
                       "--user enable --now sshmuxd.service\n"
                       "--user disable --now sshmuxd.service\n"
                       "--user daemon-reload\n");
  free(calls);
  return 0;
}

TEST_IMPL(daemon_fatal_signal_logged) {
  char prog[1100], *log = NULL, *calls = NULL;
  const char *argv[] = {prog, "install", "--method", "systemd", NULL};
  uint64_t end;
  int pid, st;

  /* sshmuxd blocks waiting for the (fake, sleeping) systemctl; a SIGSEGV
   * then must be logged by the handler before the process dies of it. */
  dtest_setup();
  dtest_fake_systemctl();
  dtest_setenv_isolated();
  ASSERT_EQ(setenv("SSHMUX_NO_ENABLE", "0", 1), 0);
  ASSERT_EQ(setenv("FAKE_SLEEP", "1", 1), 0);
  snprintf(prog, sizeof(prog), "%s/sshmuxd", test_build_dir());
  pid = test_spawn(argv, test_path("stderr.txt"));
  ASSERT_GT(pid, 0);
  end = test_now_ms() + 10000;
  while (((calls = test_read_file(test_path("sleep.pid"), NULL)) == NULL ||
          atoi(calls) <= 0) &&
         test_now_ms() < end) {
    free(calls);
    usleep(10000);
  }
  ASSERT(calls != NULL && atoi(calls) > 0);
  ASSERT_EQ(kill(pid, SIGSEGV), 0);
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  kill(atoi(calls), SIGKILL); /* the sleeping fake */
  free(calls);
  ASSERT(WIFSIGNALED(st));
  ASSERT_EQ(WTERMSIG(st), SIGSEGV);
  log = test_read_file(dtest_ssh_path("sshmux.log"), NULL);
  ASSERT(log != NULL);
  ASSERT_STR_CONTAINS(log, "install: wrote ");
  ASSERT_STR_CONTAINS(log, "] fatal: SIGSEGV (signal 11), the process dies "
                           "now\n");
  free(log);
  log = test_read_file(test_path("stderr.txt"), NULL);
  ASSERT_STR_CONTAINS(log, "fatal: SIGSEGV");
  free(log);
  return 0;
}
