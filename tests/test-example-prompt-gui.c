/* test-example-prompt-gui.c -- examples/prompt-gui's terminal front end in
 * a real terminal (tmux): the login to a real sshd needs the passphrase of
 * an encrypted identity; the question names the target on its own line,
 * the typed passphrase never appears on the screen, and the host is then
 * connected.  The window front end without zenity or yad on PATH says so
 * and exits 1.  (Its dialogs under Xvfb are not tested here.) */
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
  char key[600], sock[600], cmd[4096], want[256], *pub, *screen;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  TEST_REQUIRE_PROGRAM("ssh-keygen");
  TEST_REQUIRE_PROGRAM("tmux");
  snprintf(key, sizeof(key), "%s", test_path("locked"));
  ASSERT_OK(test_keygen("ed25519", key, "pw-secret-42"));
  snprintf(cmd, sizeof(cmd), "%s.pub", key);
  pub = test_read_file(cmd, NULL);
  ASSERT(pub != NULL);
  o.extra_authorized_keys = pub;
  ASSERT_OK(test_sshd_start(&s, &o));
  free(pub);
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
