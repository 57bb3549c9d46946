/* test-relay-prompt.c -- the terminal prompter of `sshmuxd serve`: serve
 * runs in a tmux pane (a real terminal), a client's session needs an
 * upstream login that asks two questions -- trust an unknown host key, and
 * the passphrase of an encrypted identity -- and both are answered by
 * typing into serve's terminal while the client waits. */
#include <unistd.h>

#include "relay-harness.h"
#include "tmux.h"

static char sock[700];

static char *pane(void) {
  return test_tmux_capture(sock, "srv");
}

static void wait_pane(const char *what) {
  test_tmux_wait(sock, "srv", what, 30000, "serve's terminal");
}

static void type(const char *keys) {
  test_tmux_type(sock, "srv", keys);
}

TEST_IMPL_T(relay_prompts_on_serve_terminal, 90) {
  test_sshd s;
  rh_t h;
  char key[600], kh[700], *out, *khdata;
  int pid;
  uint64_t end;

  TEST_REQUIRE_PROGRAMS("ssh", "tmux");
  snprintf(sock, sizeof(sock), "%s", test_path("tmux.sock"));
  snprintf(key, sizeof(key), "%s", test_path("enc_key"));
  rh_init(&h);
  rh_route_encrypted(&h, "r1", &s, key, "s3cret phrase");
  rh_start_tmux(&h, sock);

  pid = test_spawn(rh_ssh(&h, (const char *[]){"r1", "echo prompted-ok", NULL}),
                   test_path("client.out"));
  wait_pane("Trust it and remember it? (yes/no):");
  type("yes");
  wait_pane("Enter passphrase for key");
  type("s3cret phrase");
  end = test_now_ms() + 30000;
  for (;;) {
    out = test_read_file(test_path("client.out"), NULL);
    if (out != NULL && strstr(out, "prompted-ok") != NULL)
      break;
    if (test_now_ms() > end) {
      char *p = pane();
      fprintf(stderr, "client: %s\npane:\n%s\n", out ? out : "", p ? p : "");
      free(p);
      test_fail(__FILE__, __LINE__, "the session never ran");
    }
    free(out);
    usleep(100000);
  }
  free(out);
  test_kill(pid);
  /* The passphrase was not echoed; the accepted key was remembered. */
  out = pane();
  ASSERT(strstr(out, "s3cret") == NULL);
  free(out);
  snprintf(kh, sizeof(kh), "%s/known_hosts", h.dir);
  khdata = test_read_file(kh, NULL);
  ASSERT(khdata != NULL);
  ASSERT_STR_CONTAINS(khdata, "ssh-ed25519");
  free(khdata);
  rh_stop(&h);
  (void)test_run_simple(
      (const char *[]){"tmux", "-S", sock, "kill-server", NULL}, NULL, NULL);
  test_sshd_stop(&s);
  return 0;
}
