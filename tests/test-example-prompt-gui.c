/* test-example-prompt-gui.c -- examples/prompt-gui's terminal front end in
 * a real terminal (tmux): the login to a real sshd needs the passphrase of
 * an encrypted identity; the question names the target on its own line,
 * the typed passphrase never appears on the screen, and the host is then
 * connected.  The window front end under Xvfb: zenity's dialog carries the
 * target in its title, a screenshot (xwd) shows it drawn, xdotool types
 * the passphrase and the login goes through; without zenity or yad on
 * PATH it says so and exits 1. */
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fixture-sshd.h"
#include "test.h"
#include "tmux.h"

static const char *pg(void) {
  static char path[1024];

  snprintf(path, sizeof(path), "%s/examples/prompt-gui", test_build_dir());
  return path;
}

TEST_IMPL_T(example_prompt_gui_terminal_passphrase, 120) {
  static test_sshd s;
  test_sshd_opts o = {0};
  char key[600], sock[600], cmd[4096], want[256], *screen;

  TEST_REQUIRE_PROGRAMS("/usr/sbin/sshd", "ssh-keygen", "tmux");
  snprintf(key, sizeof(key), "%s", test_path("locked"));
  ASSERT_OK(test_keygen("ed25519", key, "pw-secret-42"));
  test_sshd_start_with_key(&s, &o, key);
  snprintf(sock, sizeof(sock), "%s", test_path("tmux.sock"));
  snprintf(cmd, sizeof(cmd),
           "'%s' --known-hosts '%s' --identity '%s' %s@127.0.0.1:%d; "
           "echo pg-exit=$?; sleep 60",
           pg(), s.known_hosts, key, s.user, s.port);
  ASSERT_EQ(test_run_simple((const char *[]){"tmux", "-S", sock, "new-session",
                                             "-d", "-s", "pg", "-x", "150",
                                             "-y", "30", cmd, NULL},
                            NULL, NULL),
            0);
  snprintf(want, sizeof(want), "[prompt-gui] login to %s@127.0.0.1:%d", s.user,
           s.port);
  test_tmux_wait(sock, "pg", want, 60000, "prompt-gui's terminal");
  test_tmux_wait(sock, "pg", "Passphrase for key", 30000,
                 "prompt-gui's terminal");
  ASSERT_EQ(
      test_run_simple((const char *[]){"tmux", "-S", sock, "send-keys", "-t",
                                       "pg", "-l", "pw-secret-42", NULL},
                      NULL, NULL),
      0);
  ASSERT_EQ(test_run_simple((const char *[]){"tmux", "-S", sock, "send-keys",
                                             "-t", "pg", "Enter", NULL},
                            NULL, NULL),
            0);
  snprintf(want, sizeof(want), "%s@127.0.0.1:%d: connected", s.user, s.port);
  test_tmux_wait(sock, "pg", want, 60000, "prompt-gui's terminal");
  test_tmux_wait(sock, "pg", "pg-exit=0", 30000, "prompt-gui's terminal");
  screen = test_tmux_capture(sock, "pg");
  ASSERT(screen != NULL);
  ASSERT(strstr(screen, "pw-secret-42") == NULL); /* never echoed */
  free(screen);
  (void)test_run_simple(
      (const char *[]){"tmux", "-S", sock, "kill-server", NULL}, NULL, NULL);
  test_sshd_stop(&s);
  return 0;
}

TEST_IMPL(example_prompt_gui_window_needs_a_dialog_tool) {
  char *out = NULL, *err = NULL;
  int st;
  const char *argv[] = {pg(), "--frontend", "window", "u@h", NULL};
  const char *env[] = {"PATH=/nonexistent", NULL};
  test_cmd_t c = {.argv = argv, .out = &out, .err = &err, .env = env};

  ASSERT_EQ(test_run(&c, &st), 0);
  ASSERT_EQ(st, 1);
  ASSERT_STR_CONTAINS(err, "no zenity or yad on PATH");
  free(out);
  free(err);
  {
    const char *h[] = {pg(), "--help", NULL};
    test_cmd_t c2 = {.argv = h, .out = &out, .err = &err};
    ASSERT_EQ(test_run(&c2, &st), 0);
  }
  ASSERT_EQ(st, 0);
  ASSERT_STR_CONTAINS(out, "usage: prompt-gui");
  free(out);
  free(err);
  return 0;
}

/* Does the X server at unix socket path accept a connection? */
static int display_listens(const char *path) {
  struct sockaddr_un sa;
  int fd = socket(AF_UNIX, SOCK_STREAM, 0), ok;

  if (fd < 0)
    return 0;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
  close(fd);
  return ok;
}

/* Fail the test showing the Xvfb log (its path is the test's xvfb.log). */
static void show_xvfb_and_fail(const char *why) {
  char *log = test_read_file(test_path("xvfb.log"), NULL);

  fprintf(stderr, "xvfb.log: %s\n", log ? log : "(none)");
  free(log);
  test_fail(__FILE__, __LINE__, "%s", why);
}

/* The window front end for real: Xvfb, zenity, xdotool.  The dialog's
 * title names the target host, a screenshot of the screen shows something
 * drawn (not the blank root), xdotool types the passphrase into the
 * dialog, and the login goes through. */
static int find_window(const char *title, char *wid, size_t size, int ms) {
  uint64_t end = test_now_ms() + (uint64_t)ms;

  for (;;) {
    char *out = NULL;
    const char *argv[] = {"xdotool", "search", "--name", title, NULL};
    int st = test_run_simple(argv, &out, NULL);
    if (st == 0 && out != NULL && out[0] >= '0' && out[0] <= '9') {
      snprintf(wid, size, "%.*s", (int)strcspn(out, "\n"), out);
      free(out);
      return 0;
    }
    free(out);
    if (test_now_ms() > end)
      return -1;
    usleep(200 * 1000);
  }
}

/* Distinct 32-bit words in the pixel part of an XWD dump: a blank screen
 * has one or two, a drawn dialog hundreds. */
static size_t distinct_pixels(const char *path) {
  size_t len = 0, n = 0;
  unsigned char *d = (unsigned char *)test_read_file(path, &len);
  static uint32_t seen[4096];

  if (d == NULL || len < 8192) {
    free(d);
    return 0;
  }
  for (size_t i = len / 4 * 4 - 4; i >= 4096 && n < 4096; i -= 4 * 7) {
    uint32_t v;
    size_t k;
    memcpy(&v, d + i, 4);
    for (k = 0; k < n && seen[k] != v; k++)
      ;
    if (k == n)
      seen[n++] = v;
  }
  free(d);
  return n;
}

TEST_IMPL_T(example_prompt_gui_window_under_xvfb, 180) {
  static test_sshd s;
  test_sshd_opts o = {0};
  char key[600], title[256], wid[32], disp[16], sock[64], hostarg[128],
      shot[600], plog[600];
  int xpid, pid, dnum = 70 + (int)(getpid() % 50), st;

  TEST_REQUIRE_PROGRAMS("/usr/sbin/sshd", "Xvfb", "zenity", "xdotool", "xwd");
  snprintf(key, sizeof(key), "%s", test_path("locked"));
  snprintf(shot, sizeof(shot), "%s", test_path("shot.xwd"));
  snprintf(plog, sizeof(plog), "%s", test_path("pg.log"));
  ASSERT_OK(test_keygen("ed25519", key, "pw-secret-42"));
  test_sshd_start_with_key(&s, &o, key);
  /* A display of our own. */
  for (;; dnum++) {
    snprintf(sock, sizeof(sock), "/tmp/.X11-unix/X%d", dnum);
    if (access(sock, F_OK) != 0)
      break;
  }
  snprintf(disp, sizeof(disp), ":%d", dnum);
  {
    const char *argv[] = {"Xvfb",       disp,        "-screen", "0",
                          "800x600x24", "-nolisten", "tcp",     NULL};
    xpid = test_spawn(argv, test_path("xvfb.log"));
  }
  ASSERT(xpid > 0);
  ASSERT_OK(setenv("DISPLAY", disp, 1));
  {
    /* Until an X client really opens the display (XOpenDisplay, as zenity
     * does), not just until the socket exists or connects: twice in a
     * loaded run zenity said "cannot open display" right after. */
    const char *probe[] = {"xdotool", "getdisplaygeometry", NULL};
    uint64_t end = test_now_ms() + 20000;
    while (!display_listens(sock) || test_run_simple(probe, NULL, NULL) != 0) {
      if (test_now_ms() >= end || kill(xpid, 0) != 0)
        show_xvfb_and_fail("Xvfb never served the display");
      usleep(50 * 1000);
    }
  }
  snprintf(hostarg, sizeof(hostarg), "%s@127.0.0.1:%d", s.user, s.port);
  {
    const char *argv[] = {
        pg(),          "--frontend", "window", "--known-hosts",
        s.known_hosts, "--identity", key,      hostarg,
        NULL};
    pid = test_spawn(argv, plog);
  }
  ASSERT(pid > 0);
  /* The target host is in the dialog's title. */
  snprintf(title, sizeof(title), "sshmux login: %s", hostarg);
  if (find_window(title, wid, sizeof(wid), 60000) != 0) {
    char *pl = test_read_file(plog, NULL);
    fprintf(stderr, "prompt-gui: %s\nXvfb %s\n", pl ? pl : "",
            kill(xpid, 0) == 0 ? "running" : "gone");
    free(pl);
    show_xvfb_and_fail("no dialog window");
  }
  usleep(500 * 1000); /* let it draw */
  {
    const char *argv[] = {"xwd", "-root", "-silent", "-out", shot, NULL};
    ASSERT_EQ(test_run_simple(argv, NULL, NULL), 0);
  }
  ASSERT_GT(distinct_pixels(shot), 20);
  {
    const char *focus[] = {"xdotool", "windowfocus", "--sync", wid, NULL};
    const char *type[] = {"xdotool", "type",         "--delay",
                          "20",      "pw-secret-42", NULL};
    const char *ret[] = {"xdotool", "key", "Return", NULL};
    ASSERT_EQ(test_run_simple(focus, NULL, NULL), 0);
    ASSERT_EQ(test_run_simple(type, NULL, NULL), 0);
    ASSERT_EQ(test_run_simple(ret, NULL, NULL), 0);
  }
  st = test_wait_exit(pid, 60000);
  if (st != 0)
    fprintf(stderr, "%s", test_read_file(plog, NULL));
  ASSERT_EQ(st, 0);
  {
    char want[200];
    snprintf(want, sizeof(want), "%s: connected", hostarg);
    ASSERT_EQ(test_count_in_file(plog, want), 1);
  }
  ASSERT_EQ(test_count_in_file(plog, "pw-secret-42"), 0);
  test_kill(xpid);
  test_sshd_stop(&s);
  return 0;
}
