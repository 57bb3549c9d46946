/* tmux.c -- see tmux.h.  One copy of the screen-polling loop the terminal
 * tests (pty relay, serve's prompter, the prompt agent) share. */
#include <unistd.h>

#include "test.h"
#include "tmux.h"

char *test_tmux_capture(const char *sock, const char *target) {
  char *out = NULL;

  (void)test_run_simple((const char *[]){"tmux", "-S", sock, "capture-pane",
                                         "-p", "-t", target, NULL},
                        &out, NULL);
  return out;
}

void test_tmux_type(const char *sock, const char *target, const char *keys) {
  ASSERT_EQ(test_run_simple((const char *[]){"tmux", "-S", sock, "send-keys",
                                             "-t", target, "-l", keys, NULL},
                            NULL, NULL),
            0);
  ASSERT_EQ(test_run_simple((const char *[]){"tmux", "-S", sock, "send-keys",
                                             "-t", target, "Enter", NULL},
                            NULL, NULL),
            0);
}

void test_tmux_wait(const char *sock, const char *target, const char *what,
                    int ms, const char *label) {
  uint64_t end = test_now_ms() + (uint64_t)ms;
  char *pane;

  for (;;) {
    pane = test_tmux_capture(sock, target);
    if (pane != NULL && strstr(pane, what) != NULL) {
      free(pane);
      return;
    }
    if (test_now_ms() > end) {
      fprintf(stderr, "---- %s ----\n%s\n", label, pane ? pane : "");
      free(pane);
      test_fail(__FILE__, __LINE__, "%s never showed \"%s\"", label, what);
    }
    free(pane);
    usleep(100000);
  }
}

int test_tmux_run(const char *sock, const char *const *args) {
  const char *argv[24];
  size_t n = 0;

  argv[n++] = "tmux";
  argv[n++] = "-S";
  argv[n++] = sock;
  for (; *args != NULL && n < 23; args++)
    argv[n++] = *args;
  argv[n] = NULL;
  return test_run_simple(argv, NULL, NULL);
}

const char *test_tmux_sock(void) {
  static char p[700];
  snprintf(p, sizeof(p), "%s", test_path("tmux.sock"));
  return p;
}
