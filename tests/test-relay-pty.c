/* test-relay-pty.c -- terminals through `sshmuxd serve`: an interactive
 * session driven through tmux (send-keys / capture-pane) shows the remote
 * prompt, runs commands and follows a resize; an unknown user name gets
 * the route menu and lands in the chosen route; and the terminal-mode
 * trimming that keeps pty-req within libssh2 1.10's 256-byte limit. */
#include <unistd.h>

#include "pool-int.h"
#include "relay-harness.h"
#include "tmux.h"

static const char *tmux_sock(void) {
  static char p[700];
  snprintf(p, sizeof(p), "%s", test_path("tmux.sock"));
  return p;
}

static int tmux(const char *const *args) {
  const char *argv[24];
  size_t n = 0;

  argv[n++] = "tmux";
  argv[n++] = "-S";
  argv[n++] = tmux_sock();
  for (; *args != NULL && n < 23; args++)
    argv[n++] = *args;
  argv[n] = NULL;
  return test_run_simple(argv, NULL, NULL);
}

/* Wait until the pane shows `what`; fail with the pane after ms. */
static void wait_for(const char *what, int ms) {
  test_tmux_wait(tmux_sock(), "t", what, ms, "pane");
}

static void type(const char *keys) {
  ASSERT_EQ(tmux((const char *[]){"send-keys", "-t", "t", "-l", keys, NULL}),
            0);
  ASSERT_EQ(tmux((const char *[]){"send-keys", "-t", "t", "Enter", NULL}), 0);
}

static void start_tmux(rh_t *h, const char *route) {
  char cmd[1200];

  snprintf(cmd, sizeof(cmd), "ssh -F %s -tt %s", h->cfg, route);
  ASSERT_EQ(tmux((const char *[]){"new-session", "-d", "-s", "t", "-x", "80",
                                  "-y", "24", cmd, NULL}),
            0);
}

TEST_IMPL_T(relay_pty_tmux, 60) {
  test_sshd s;
  rh_t h;

  TEST_REQUIRE_PROGRAM("ssh");
  TEST_REQUIRE_PROGRAM("tmux");
  ASSERT_EQ(test_sshd_start(&s, NULL), 0);
  rh_init(&h);
  rh_route(&h, "r1", &s, NULL);
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
  type("exit");
  (void)tmux((const char *[]){"kill-server", NULL});
  rh_stop(&h);
  test_sshd_stop(&s);
  return 0;
}

TEST_IMPL_T(relay_pty_route_menu, 60) {
  test_sshd s;
  rh_t h;

  TEST_REQUIRE_PROGRAM("ssh");
  TEST_REQUIRE_PROGRAM("tmux");
  ASSERT_EQ(test_sshd_start(&s, NULL), 0);
  rh_init(&h);
  rh_route(&h, "alpha", &s, NULL);
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
  type("exit");
  (void)tmux((const char *[]){"kill-server", NULL});
  rh_stop(&h);
  test_sshd_stop(&s);
  return 0;
}

/* Opcodes as a client sends them: op (1 byte) + value (uint32). */
static size_t put_op(uint8_t *p, uint8_t op, uint32_t v) {
  p[0] = op;
  p[1] = (uint8_t)(v >> 24);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 8);
  p[4] = (uint8_t)v;
  return 5;
}

static int has_op(const uint8_t *m, size_t n, uint8_t op) {
  for (size_t i = 0; i + 5 <= n; i += 5)
    if (m[i] == op)
      return 1;
  return 0;
}

TEST_IMPL(relay_pty_modes_trim) {
  /* The opcodes OpenSSH's client sends on Linux (ttymodes.h). */
  static const uint8_t sent[] = {
      1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,  14,
      15, 16, 17, 18, 30, 31, 32, 33, 34, 35, 36, 37, 38,  39,
      40, 41, 42, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59,  60,
      61, 62, 70, 71, 72, 73, 74, 75, 90, 91, 92, 93, 128, 129};
  uint8_t in[600], out[600];
  size_t n = 0, o, k;

  for (k = 0; k < sizeof(sent); k++)
    n += put_op(in + n, sent[k],
                sent[k] == 3     ? 0x7f
                : sent[k] >= 128 ? 38400
                                 : 1);
  in[n++] = 0;
  ASSERT_GT(n, 256);

  o = sshmux__pty_modes_trim(in, n, strlen("xterm-256color"), out);
  ASSERT_LE(o + strlen("xterm-256color"), 256);
  ASSERT_EQ(out[o - 1], 0); /* TTY_OP_END kept */
  ASSERT_EQ((o - 1) % 5, 0);
  /* The relics go first; what a shell needs stays. */
  ASSERT(!has_op(out, o - 1, 52)); /* XCASE */
  ASSERT(!has_op(out, o - 1, 37)); /* IUCLC */
  ASSERT(has_op(out, o - 1, 3));   /* VERASE */
  ASSERT(has_op(out, o - 1, 1));   /* VINTR */
  ASSERT(has_op(out, o - 1, 50));  /* ISIG */
  ASSERT(has_op(out, o - 1, 51));  /* ICANON */
  ASSERT(has_op(out, o - 1, 53));  /* ECHO */
  ASSERT(has_op(out, o - 1, 72));  /* OPOST */
  ASSERT(has_op(out, o - 1, 70));  /* ONLCR */
  /* VERASE's value survives. */
  for (size_t i = 0; i + 5 <= o - 1; i += 5)
    if (out[i] == 3)
      ASSERT_EQ(out[i + 4], 0x7f);

  /* Small enough: passed through unchanged. */
  n = 0;
  n += put_op(in + n, 3, 0x7f);
  n += put_op(in + n, 53, 1);
  in[n++] = 0;
  o = sshmux__pty_modes_trim(in, n, 5, out);
  ASSERT_EQ(o, n);
  ASSERT_MEM_EQ(out, in, n);

  /* A TERM that fills the limit leaves no room: nothing is sent. */
  ASSERT_EQ(sshmux__pty_modes_trim(in, n, 256, out), 0);
  return 0;
}
