/* test-relay-mux.c -- sessions multiplexed by a local OpenSSH ControlMaster
 * in front of `sshmuxd serve`: every session's exit status arrives.
 *
 * A mux session's channel is closed by the master as soon as its stdin is
 * at EOF and our EOF came (OpenSSH registers mux sessions with do_close),
 * while a plain `ssh` waits for the server's CLOSE.  So the server must
 * not answer that CLOSE before the relay had the upstream's exit status,
 * which it gets only when the upstream channel closes. */
#include <sys/stat.h>
#include <unistd.h>

#include "relay-harness.h"

/* Start `ssh -M -N` for r1 on control socket sock (in our process group,
 * foreground, so test_kill ends it) and wait until it answers -O check. */
static int start_master(rh_t *h, const char *sock) {
  uint64_t end = test_now_ms() + 30000;
  int pid;

  pid = test_spawn(
      rh_ssh(h, (const char *[]){"-M", "-S", sock, "-o", "ControlPersist=no",
                                 "-N", "r1", NULL}),
      test_path("master.log"));
  ASSERT_GT(pid, 0);
  for (;;) {
    if (rh_run(h, (const char *[]){"-S", sock, "-O", "check", "r1", NULL}, NULL,
               NULL, 0) == 0)
      return pid;
    if (test_now_ms() > end) {
      rh_dump(h);
      test_fail(__FILE__, __LINE__, "the ControlMaster did not come up");
    }
    usleep(50000);
  }
}

/* One session through the master: its exit status (255: none came). */
static int mux_run(rh_t *h, const char *sock, const char *cmd, char **out) {
  return rh_run(
      h,
      (const char *[]){"-S", sock, "-o", "ControlMaster=no", "r1", cmd, NULL},
      out, NULL, 0);
}

TEST_IMPL_T(relay_mux_exit_status, 180) {
  test_sshd s;
  rh_t h;
  char sock[600];
  int master, i, st, lost = 0;
  char *out = NULL;

  TEST_REQUIRE_PROGRAM("ssh");
  rh_setup(&h, &s, "r1", NULL);
  rh_start(&h, NULL);
  snprintf(sock, sizeof(sock), "%s", test_path("cm.sock"));
  master = start_master(&h, sock);

  /* Deterministic: the command closes its output first, so sshd sends
   * EOF, and the master its CLOSE, well before the exit status exists. */
  for (i = 0; i < 4; i++) {
    st = mux_run(&h, sock, "exec >/dev/null 2>&1; sleep 0.3; exit 7", NULL);
    if (st != 7) {
      fprintf(stderr, "late-exit session %d: status %d\n", i, st);
      lost++;
    }
  }
  /* Output, then EOF and the exit racing in sshd's loop (the benchmark's
   * case), 30 times. */
  for (i = 0; i < 30; i++) {
    st = mux_run(&h, sock, i % 2 ? "exit 3" : "echo hi", &out);
    if (st != (i % 2 ? 3 : 0) || (i % 2 == 0 && strcmp(out, "hi\n") != 0)) {
      fprintf(stderr, "session %d: status %d, out '%s'\n", i, st,
              out ? out : "");
      lost++;
    }
    free(out);
    out = NULL;
  }
  if (lost > 0)
    rh_dump(&h);
  ASSERT_EQ(lost, 0);
  /* The master exits when asked. */
  ASSERT_EQ(rh_run(&h, (const char *[]){"-S", sock, "-O", "exit", "r1", NULL},
                   NULL, NULL, 0),
            0);
  test_kill(master);
  rh_stop(&h);
  test_sshd_stop(&s);
  return 0;
}
