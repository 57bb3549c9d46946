/* test-daemon-ipc-agent.c -- `sshmuxd prompt` as a person uses it: the
 * agent runs in a tmux pane (a real terminal), an ssh through `sshmuxd
 * connect` needs the jump's one-time code, the pane shows the prompt with
 * its target, the code is typed there without being echoed, and the ssh
 * goes through.  With `notify = true`, each prompt and each new session
 * runs notify-send (a fake one on PATH records its arguments). */
#include <sys/stat.h>
#include <unistd.h>

#include "fixture-otp.h"
#include "ipc-helpers.h"
#include "tmux.h"

static char sock[700];

static char *pane(void) {
  return test_tmux_capture(sock, "agent");
}

static void wait_pane(const char *what) {
  test_tmux_wait(sock, "agent", what, 30000, "agent's terminal");
}

TEST_IMPL_T(daemon_ipc_prompt_agent_terminal, 120) {
  test_otp_sshd o;
  test_sshd t;
  char cmd[2400], path[4200], code[7], want[400];
  char *log, *p, *calls;
  int bg, pid;

  TEST_REQUIRE_OTP();
  TEST_REQUIRE_PROGRAM("tmux");
  ipct_otp_jump_target(&o, &t, "\n[defaults]\nnotify = true\n");
  /* A fake notify-send first on the daemon's PATH. */
  ASSERT_EQ(mkdir(test_path("bin"), 0700), 0);
  test_write_fmt(test_path("bin/notify-send"), 0700,
                 "#!/bin/sh\nprintf '%%s|' \"$@\" >> '%s'\necho >> '%s'\n",
                 test_path("notify.calls"), test_path("notify.calls"));
  snprintf(path, sizeof(path), "%s:%s", test_path("bin"), getenv("PATH"));
  ASSERT_EQ(setenv("PATH", path, 1), 0);
  pid = ipct_start();

  snprintf(sock, sizeof(sock), "%s", test_path("tmux.sock"));
  snprintf(cmd, sizeof(cmd), "'%s' prompt; sleep 30", dtest_sshmuxd());
  ASSERT_EQ(test_run_simple((const char *[]){"tmux", "-S", sock, "new-session",
                                             "-d", "-s", "agent", "-x", "120",
                                             "-y", "40", cmd, NULL},
                            NULL, NULL),
            0);
  wait_pane("waiting for questions");
  bg = ipct_ssh_proxy_spawn(&t, NULL, "echo agent-ok", test_path("bg.log"));
  snprintf(want, sizeof(want), "sshmux prompt 1: %s@%s:%d", o.sshd.user,
           o.sshd.addr, o.sshd.port);
  wait_pane(want);
  wait_pane("(hidden)");
  ASSERT_EQ(test_otp_next_code(&o, code), 0);
  test_tmux_type(sock, "agent", code);
  wait_pane("sent.");
  ASSERT_EQ(ipct_wait_exit(bg, 30000), 0);
  log = test_read_file(test_path("bg.log"), NULL);
  ASSERT_STR_CONTAINS(log, "agent-ok");
  free(log);
  /* The code never appeared on the screen. */
  p = pane();
  ASSERT(p != NULL && strstr(p, code) == NULL);
  free(p);
  /* Notifications: one for the prompt, one for the new session. */
  calls = test_read_file(test_path("notify.calls"), NULL);
  ASSERT(calls != NULL);
  ASSERT_STR_CONTAINS(calls, "sshmux: an answer is needed|");
  ASSERT_STR_CONTAINS(calls, "sshmux: new session|");
  free(calls);
  (void)test_run_simple(
      (const char *[]){"tmux", "-S", sock, "kill-server", NULL}, NULL, NULL);
  ipct_stop_clean(pid);
  test_otp_sshd_stop(&o);
  test_sshd_stop(&t);
  return 0;
}
