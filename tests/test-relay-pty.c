/* test-relay-pty.c -- terminals through `sshmuxd serve`: an interactive
 * session driven through tmux (send-keys / capture-pane) shows the remote
 * prompt, runs commands and follows a resize; an unknown user name gets
 * the route menu and lands in the chosen route.  (The terminal-mode
 * trimming the relay relies on is the pool's: test-pool-ptymodes.c.) */
#include <unistd.h>

#include "relay-harness.h"
#include "tmux.h"

#define tmux_sock test_tmux_sock

static int tmux(const char *const *args) {
  return test_tmux_run(tmux_sock(), args);
}

/* Wait until the pane shows `what`; fail with the pane after ms. */
static void wait_for(const char *what, int ms) {
  test_tmux_wait(tmux_sock(), "t", what, ms, "pane");
}

static void type(const char *keys) {
  test_tmux_type(tmux_sock(), "t", keys);
}

static void start_tmux(rh_t *h, const char *route) {
  char cmd[1200];

  snprintf(cmd, sizeof(cmd), "ssh -F %s -tt %s", h->cfg, route);
  ASSERT_EQ(tmux((const char *[]){"new-session", "-d", "-s", "t", "-x", "80",
                                  "-y", "24", cmd, NULL}),
            0);
}

/* Leave the remote shell, end tmux, stop serve and the sshd. */
static void finish(rh_t *h, test_sshd *s) {
  type("exit");
  (void)tmux((const char *[]){"kill-server", NULL});
  rh_stop(h);
  test_sshd_stop(s);
}

TEST_IMPL_T(relay_pty_tmux, 60) {
  test_sshd s;
  rh_t h;

  TEST_REQUIRE_PROGRAMS("ssh", "tmux");
  rh_setup(&h, &s, "r1", NULL);
  rh_start(&h, NULL);
  start_tmux(&h, "r1");
  /* The remote shell's prompt names the remote user. */
  wait_for(s.user, 45000);
  type("echo hel''lo-$((6*7)); tty");
  wait_for("hello-42", 10000);
  wait_for("/dev/pts/", 10000);
  type("stty size");
  wait_for("24 80", 10000);
  ASSERT_EQ(tmux((const char *[]){"resize-window", "-t", "t", "-x", "100", "-y",
                                  "30", NULL}),
            0);
  type("clear; stty size");
  wait_for("30 100", 10000);
  finish(&h, &s);
  return 0;
}

TEST_IMPL_T(relay_pty_route_menu, 60) {
  test_sshd s;
  rh_t h;

  TEST_REQUIRE_PROGRAMS("ssh", "tmux");
  rh_setup(&h, &s, "alpha", NULL);
  rh_route(&h, "beta", &s, NULL);
  rh_name(&h, "nosuch");
  rh_start(&h, NULL);
  start_tmux(&h, "nosuch");
  wait_for("'nosuch' is not a route", 20000);
  wait_for("2) beta", 1000);
  type("7");
  wait_for("no such route", 10000);
  type("2");
  wait_for("connecting to beta", 10000);
  type("echo via-$((40+2))-menu");
  wait_for("via-42-menu", 45000);
  finish(&h, &s);
  return 0;
}
