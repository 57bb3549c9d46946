/* test-relay-mux.c -- sessions multiplexed by a local OpenSSH ControlMaster
 * in front of `sshmuxd serve`: every session's exit status arrives.
 *
 * A mux session's channel is closed by the master as soon as its stdin is
 * at EOF and our EOF came (OpenSSH registers mux sessions with do_close),
 * while a plain `ssh` waits for the server's CLOSE.  So the server must
 * not answer that CLOSE before the relay had the upstream's exit status,
 * which it gets only when the upstream channel closes.
 *
 * Then the ControlMaster `sshmuxd setup-config` writes, used by the real
 * ssh as a user would: 20 sessions over one local connection, the socket
 * in a 0700 directory, `sshmuxd lock` refusing the master's next session,
 * and a restarted sshmuxd taking the master down with it. */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc-helpers.h"
#include "crypto/crypto.h"
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

/* ---- the ControlMaster setup-config writes ---- */

static int cm_ssh(rh_t *h, const char *const *words, char **out, char **err) {
  return test_run_simple(rh_ssh_setup(h, words), out, err);
}

/* The entries of the socket directory: 1 and name = the one socket (a
 * %C hash: 40 hex digits), 0 when it is empty, -1 otherwise. */
static int cm_socket(const char *dir, char *name, size_t size) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;

  ASSERT(d != NULL);
  while ((e = readdir(d)) != NULL) {
    char path[700];
    struct stat st;
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    if (n++ > 0 || lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode) ||
        strlen(e->d_name) != 40 || strspn(e->d_name, "0123456789abcdef") != 40)
      n = 99;
    snprintf(name, size, "%s", e->d_name);
  }
  closedir(d);
  return n > 1 ? -1 : n;
}

/* Wait up to ms for r1's master to be gone, its socket too. */
static int cm_gone(rh_t *h, const char *dir, int ms) {
  uint64_t end = test_now_ms() + (uint64_t)ms;
  char name[64];

  while (test_now_ms() < end) {
    if (cm_ssh(h, (const char *[]){"-O", "check", "r1", NULL}, NULL, NULL) !=
            0 &&
        cm_socket(dir, name, sizeof(name)) == 0)
      return 1;
    usleep(100000);
  }
  return 0;
}

TEST_IMPL_T(relay_mux_setup_config_master, 240) {
  const char *lock[] = {"lock", NULL}, *unlock[] = {"unlock", NULL};
  test_sshd s;
  rh_t h;
  char cmdir[600], log[600], port[16], name[64], cmd[64], want[64], fwd[64];
  char *out = NULL, *err = NULL;
  struct stat st;
  int i, rc;

  TEST_REQUIRE_PROGRAM("ssh");
  ASSERT_OK(test_sshd_start(&s, NULL));
  rh_init_short(&h);
  rh_route(&h, "r1", &s, NULL);
  snprintf(cmdir, sizeof(cmdir), "%s/sshmux-cm", h.dir);
  snprintf(log, sizeof(log), "%s/sshmux.log", h.dir); /* kept over restarts */
  rh_start(&h, NULL);
  snprintf(port, sizeof(port), "%d", h.port);
  rh_setup_config(&h);
  ASSERT_EQ(lstat(cmdir, &st), 0);
  ASSERT(S_ISDIR(st.st_mode));
  ASSERT_EQ(st.st_mode & 07777, 0700);
  ASSERT_EQ(st.st_uid, geteuid());

  /* 20 sessions in a row, as a user types them: every status and output
   * right, over one local connection (the first ssh became the master). */
  for (i = 0; i < 20; i++) {
    snprintf(cmd, sizeof(cmd), "echo out-%d; exit %d", i, i % 5);
    rc = cm_ssh(&h, (const char *[]){"r1", cmd, NULL}, &out, &err);
    snprintf(want, sizeof(want), "out-%d\n", i);
    if (rc != i % 5 || strcmp(out, want) != 0) {
      fprintf(stderr, "session %d: status %d, out '%s', err '%s'\n", i, rc, out,
              err);
      rh_dump(&h);
    }
    ASSERT_EQ(rc, i % 5);
    ASSERT_STR_EQ(out, want);
    free(out);
    free(err);
  }
  ASSERT_EQ(test_count_in_file(log, "accepted \"r1\""), 1);
  ASSERT_EQ(test_count_in_file(log, "new session channel on route r1"), 20);
  /* The master chose the cipher setup-config put first, where it did. */
  if (sshmux__cipher_accelerated("aes256-gcm@openssh.com"))
    ASSERT_EQ(test_count_in_file(log, ", in aes256-gcm@openssh.com , out "
                                      "aes256-gcm@openssh.com "),
              1);
  /* A forwarding (ssh -W: direct-tcpip) rides the master too. */
  snprintf(fwd, sizeof(fwd), "127.0.0.1:%d", s.port);
  ASSERT_EQ(cm_ssh(&h, (const char *[]){"-W", fwd, "r1", NULL}, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "SSH-2.0-");
  free(out);
  ASSERT_EQ(test_count_in_file(log, "accepted \"r1\""), 1);
  ASSERT_EQ(cm_socket(cmdir, name, sizeof(name)), 1);
  ASSERT_EQ(cm_ssh(&h, (const char *[]){"-O", "check", "r1", NULL}, NULL, NULL),
            0);
  ASSERT_EQ(lstat(cmdir, &st), 0);
  ASSERT_EQ(st.st_mode & 07777, 0700);

  /* Locked: the master, authenticated long ago, gets no new session.
   * Refused by the master, OpenSSH's mux client falls back to a
   * connection of its own, which is refused as well: two refusals, one of
   * them on the master's connection. */
  ASSERT_EQ(ipct_run(lock, NULL, NULL, NULL), 0);
  rc = cm_ssh(&h, (const char *[]){"r1", "echo locked-out", NULL}, &out, &err);
  if (rc == 0 || strstr(out, "locked-out") != NULL)
    rh_dump(&h);
  ASSERT_NE(rc, 0);
  ASSERT(strstr(out, "locked-out") == NULL);
  ASSERT_STR_CONTAINS(err, "pool is locked");
  free(out);
  free(err);
  ASSERT_EQ(test_count_in_file(log, "route 'r1': pool is locked"), 2);
  ASSERT_EQ(test_count_in_file(log, "accepted \"r1\""), 2);
  /* And so is a forwarding through the master. */
  rc = cm_ssh(&h, (const char *[]){"-W", fwd, "r1", NULL}, &out, &err);
  ASSERT_NE(rc, 0);
  ASSERT(strstr(out, "SSH-2.0-") == NULL);
  free(out);
  free(err);
  ASSERT_GT(test_count_in_file(log, "pool is locked"), 2);
  ASSERT_EQ(cm_ssh(&h, (const char *[]){"-O", "check", "r1", NULL}, NULL, NULL),
            0);
  ASSERT_EQ(ipct_run(unlock, NULL, NULL, NULL), 0);
  ASSERT_EQ(cm_ssh(&h, (const char *[]){"r1", "echo back", NULL}, &out, NULL),
            0);
  ASSERT_STR_EQ(out, "back\n");
  free(out);
  ASSERT_EQ(test_count_in_file(log, "accepted \"r1\""), 2); /* the master */

  /* sshmuxd restarts: the master goes with the connection, and the next
   * ssh becomes the master of the new daemon on the same port. */
  rh_stop(&h);
  ASSERT(cm_gone(&h, cmdir, 20000));
  h.port = 0;
  ASSERT_EQ(unlink(h.log), 0); /* rh_start waits for its "serving on" */
  rh_start(&h, (const char *[]){"--port", port, NULL});
  ASSERT_EQ(h.port, atoi(port));
  ASSERT_EQ(cm_ssh(&h, (const char *[]){"r1", "echo again", NULL}, &out, NULL),
            0);
  ASSERT_STR_EQ(out, "again\n");
  free(out);
  ASSERT_EQ(test_count_in_file(log, "accepted \"r1\""), 3);
  ASSERT_EQ(cm_socket(cmdir, name, sizeof(name)), 1);
  ASSERT_EQ(cm_ssh(&h, (const char *[]){"-O", "exit", "r1", NULL}, NULL, NULL),
            0);
  ASSERT(cm_gone(&h, cmdir, 20000));
  rh_stop(&h);
  test_sshd_stop(&s);
  rh_remove_short(&h);
  return 0;
}
