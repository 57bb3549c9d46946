/* test-relay-faults.c -- faults injected into real upstreams and into
 * sshmuxd itself, seen by the real ssh client through `sshmuxd serve`:
 *
 * - the upstream sshd SIGKILLed in the middle of a bulk transfer: the
 *   client's session ends promptly (non-zero, "sshmux: upstream channel
 *   lost" on its stderr, the bytes it got a prefix of the stream), serve's
 * memory comes back to where it was, and once the upstream is back (same port,
 * same keys) a new ssh gets through;
 * - the client SIGKILLed in the middle of a bulk transfer: serve closes
 *   the upstream channel (the command there ends), its memory comes back,
 *   and the pooled connection serves the next client;
 * - the upstream SIGSTOPped (wedged, TCP still up): with the route's
 *   keepalive at 1 s the dependent session ends within the keepalive bound
 *   (3 probes unanswered) instead of hanging, and serve stays responsive;
 * - serve SIGKILLed and started again on the same SSH dir: the stale
 *   control socket is replaced, the host keys are the same files with the
 *   same bytes (a client pinning the old key gets in with
 *   StrictHostKeyChecking=yes), and no temp file is left;
 * - the SSH dir full (a 256 KiB tmpfs in a private mount namespace) and
 *   then read-only while setup-config rewrites its files: refused with the
 *   reason, every file as it was, no temp file left.
 *
 * Bounds are generous (a loaded 2-core machine); none is a timing claim. */
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc-helpers.h"
#include "pool-harness.h"
#include "relay-harness.h"

static long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Names in dir containing ".sshmux-" and ending ".tmp" (safefile's
 * temporaries). */
static int is_temp(const char *path, const char *name, void *data) {
  (void)path, (void)data;
  return strstr(name, ".sshmux-") != NULL && strstr(name, ".tmp") != NULL;
}

static int temp_files(const char *dir) {
  return test_dir_each(dir, is_temp, NULL);
}

/* In the background: ssh through h to route "r" running remote, its
 * stdout to out and its stderr to err (NULL: the log); returns once 4 MiB
 * arrived (failing the test after 30 s).  exec: the shell becomes ssh,
 * so the pid returned is the client's. */
static int bulk_client(rh_t *h, const char *remote, const char *out,
                       const char *err) {
  const char *const *argv = rh_ssh(h, (const char *[]){"r", remote, NULL});
  char cmd[2048];
  size_t o = (size_t)snprintf(cmd, sizeof(cmd), "exec ");
  int pid;

  for (size_t i = 0; argv[i] != NULL; i++)
    o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, "'%s' ", argv[i]);
  o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, "> '%s'", out);
  if (err != NULL)
    snprintf(cmd + o, sizeof(cmd) - o, " 2> '%s'", err);
  pid = test_spawn((const char *[]){"sh", "-c", cmd, NULL},
                   test_path("bulk.log"));
  ASSERT_GT(pid, 0);
  for (int i = 0; i < 600 && file_size(out) < 4 * 1024 * 1024; i++)
    usleep(50000);
  ASSERT_GE(file_size(out), 4 * 1024 * 1024);
  return pid;
}

TEST_IMPL_T(relay_fault_upstream_killed_mid_transfer, 120) {
  test_sshd s;
  rh_t h;
  char *out = NULL, *err = NULL;
  char bulk[700], bulk_err[700];
  long rss0, rss1, got;
  uint64_t t0;
  int pid, st;

  TEST_REQUIRE_PROGRAM("ssh");
  snprintf(bulk, sizeof(bulk), "%s", test_path("bulk.out"));
  snprintf(bulk_err, sizeof(bulk_err), "%s", test_path("bulk.err"));
  rh_setup_start(&h, &s, "r", NULL);
  /* One session first, so the baseline includes the pooled connection. */
  ASSERT_EQ(rh_run(&h, (const char *[]){"r", "true", NULL}, NULL, NULL, 0), 0);
  rss0 = rh_rss_kib(&h);
  ASSERT_GT(rss0, 0);
  pid = bulk_client(&h, "exec head -c 2000000000 /dev/zero", bulk, bulk_err);

  /* Kill the upstream, sessions and listener, mid-stream. */
  t0 = test_now_ms();
  ASSERT_EQ(ph_signal_sessions(&s, SIGKILL), 1);
  ph_sshd_stop(&s);
  st = ipct_wait_exit(pid, 30000);
  ASSERT(test_now_ms() - t0 < 30000);
  ASSERT_NE(st, 0); /* the client knows it did not get everything */
  {
    char *e = test_read_file(bulk_err, NULL);
    printf("# client said: %s\n", e ? e : "(nothing)");
    ASSERT_STR_CONTAINS(e, "sshmux: upstream channel lost");
    free(e);
  }
  got = file_size(bulk);
  ASSERT(got > 0 && got < 2000000000L);
  {
    /* What it got is a prefix of the stream: zeros only. */
    FILE *f = fopen(bulk, "rb");
    char buf[65536];
    size_t n, nonzero = 0;
    ASSERT(f != NULL);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
      for (size_t i = 0; i < n; i++)
        nonzero += buf[i] != 0;
    fclose(f);
    ASSERT_EQ(nonzero, 0);
  }
  /* Memory returns near its baseline: the queues of the dead session are
   * freed (bound: 16 MiB over the baseline, whatever the stream size).
   * Under ASan freed blocks stay in its quarantine (up to 256 MiB), so the
   * bound there is the quarantine's; leaks are LeakSanitizer's job. */
  {
    long bound = (rh_sanitized() ? 300 : 16) * 1024L;
    rss1 = rh_rss_below(&h, rss0 + bound);
    ASSERT_LT(rss1, rss0 + bound);
  }

  /* While it is down, a new session fails cleanly, quickly. */
  st = rh_run(&h, (const char *[]){"r", "echo no", NULL}, NULL, &err, 60000);
  ASSERT_NE(st, 0);
  free(err);
  err = NULL;
  /* Back (same port, same host keys): a new ssh gets through. */
  ASSERT_OK(test_sshd_restart(&s));
  st = rh_run(&h, (const char *[]){"r", "echo back", NULL}, &out, &err, 60000);
  if (st != 0)
    rh_dump(&h);
  ASSERT_EQ(st, 0);
  ASSERT_STR_EQ(out, "back\n");
  free(out);
  free(err);
  rh_stop(&h);
  ph_sshd_stop(&s);
  return 0;
}

/* Is a process whose command line contains needle running? */
static int running(const char *needle) {
  const char *argv[] = {"pgrep", "-f", needle, NULL};
  return test_run_simple(argv, NULL, NULL) == 0;
}

TEST_IMPL_T(relay_fault_client_killed_mid_transfer, 120) {
  test_sshd s;
  rh_t h;
  char bulk[700], *out = NULL;
  /* A size no other test uses: it names the upstream command. */
  const char *remote = "exec head -c 2000000017 /dev/zero";
  long rss0, rss1;
  int pid, st;

  TEST_REQUIRE_PROGRAMS("ssh", "pgrep");
  snprintf(bulk, sizeof(bulk), "%s", test_path("bulk.out"));
  rh_setup_start(&h, &s, "r", NULL);
  ASSERT_EQ(rh_run(&h, (const char *[]){"r", "true", NULL}, NULL, NULL, 0), 0);
  rss0 = rh_rss_kib(&h);
  pid = bulk_client(&h, remote, bulk, NULL);
  ASSERT(running("head -c 2000000017"));
  /* The client vanishes mid-stream. */
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_EQ(ipct_wait_exit(pid, 10000), 128 + SIGKILL);
  /* serve closes the upstream channel: the command upstream ends. */
  for (int i = 0; i < 400 && running("head -c 2000000017"); i++)
    usleep(50000);
  ASSERT(!running("head -c 2000000017"));
  /* Memory back near its baseline (see above for the ASan bound). */
  {
    long bound = (rh_sanitized() ? 300 : 16) * 1024L;
    rss1 = rh_rss_below(&h, rss0 + bound);
    ASSERT_LT(rss1, rss0 + bound);
  }
  /* And the pooled connection serves the next client. */
  ASSERT_EQ(rh_run(&h, (const char *[]){"r", "echo next", NULL}, &out, NULL, 0),
            0);
  ASSERT_STR_EQ(out, "next\n");
  free(out);
  (void)st;
  rh_teardown(&h, &s);
  return 0;
}

TEST_IMPL_T(relay_fault_upstream_stopped_bounded, 120) {
  test_sshd s;
  rh_t h;
  char *out = NULL, *err = NULL;
  uint64_t t0;
  int pid, st;

  TEST_REQUIRE_PROGRAM("ssh");
  rh_setup_start(&h, &s, "r", "keepalive = 1\n");
  pid = test_spawn(
      rh_ssh(&h, (const char *[]){"r", "echo started; sleep 300", NULL}),
      test_path("long.log"));
  ASSERT_GT(pid, 0);
  for (int i = 0; i < 400; i++) {
    char *log = test_read_file(test_path("long.log"), NULL);
    int ok = log != NULL && strstr(log, "started") != NULL;
    free(log);
    if (ok)
      break;
    usleep(50000);
  }
  /* Wedge the upstream: its session and listener stop, TCP stays up. */
  t0 = test_now_ms();
  ASSERT_EQ(ph_signal_sessions(&s, SIGSTOP), 1);
  test_sshd_signal(&s, SIGSTOP);
  /* keepalive 1 s x 3: the session ends well within 60 s. */
  st = ipct_wait_exit(pid, 60000);
  ASSERT(test_now_ms() - t0 < 60000);
  ASSERT_NE(st, 0);
  /* serve itself answers meanwhile: a session to a route that does not
   * exist is refused at once rather than queued behind the wedge. */
  st = rh_run(&h, (const char *[]){"nosuchroute", "true", NULL}, &out, &err,
              30000);
  ASSERT_NE(st, 0);
  free(out);
  free(err);
  {
    char path[700], *log;
    snprintf(path, sizeof(path), "%s/sshmux.log", h.dir);
    log = test_read_file(path, NULL);
    if (log == NULL || strstr(log, "keepalives unanswered") == NULL)
      rh_dump(&h);
    ASSERT_STR_CONTAINS(log, "keepalives unanswered");
    free(log);
  }
  ph_signal_sessions(&s, SIGCONT);
  test_sshd_signal(&s, SIGCONT);
  rh_stop(&h);
  ph_sshd_stop(&s);
  return 0;
}

TEST_IMPL_T(relay_fault_serve_sigkill_restart, 120) {
  test_sshd s;
  rh_t h;
  char key[700], kh[700], *key0, *key1, *khtext, *out = NULL, *err = NULL;
  int port0, st;

  TEST_REQUIRE_PROGRAM("ssh");
  rh_setup_start(&h, &s, "r", NULL);
  ASSERT_EQ(rh_run(&h, (const char *[]){"r", "true", NULL}, NULL, NULL, 0), 0);
  snprintf(key, sizeof(key), "%s/sshmux_host_ed25519_key", h.dir);
  key0 = test_read_file(key, NULL);
  ASSERT(key0 != NULL);
  port0 = h.port;
  /* SIGKILL: no clean-up at all, the control socket stays behind. */
  ASSERT_EQ(kill(h.pid, SIGKILL), 0);
  ASSERT_EQ(ipct_wait_exit(h.pid, 10000), 128 + SIGKILL);
  h.pid = 0;
  h.port = 0;
  snprintf(h.log, sizeof(h.log), "%s", test_path("serve2.log"));
  rh_start(&h, NULL);
  ASSERT_NE(h.port, port0);
  key1 = test_read_file(key, NULL);
  ASSERT_STR_EQ(key1, key0);
  ASSERT_EQ(temp_files(h.dir), 0);
  /* The client's pinned key (learned on the old port) still matches. */
  snprintf(kh, sizeof(kh), "%s", test_path("client_known_hosts"));
  khtext = test_read_file(kh, NULL);
  ASSERT(khtext != NULL);
  {
    char from[32], to[32], *p, *fixed = malloc(strlen(khtext) * 2 + 64);
    size_t o = 0;
    snprintf(from, sizeof(from), "]:%d ", port0);
    snprintf(to, sizeof(to), "]:%d ", h.port);
    ASSERT(fixed != NULL);
    for (p = khtext; *p;) {
      if (strncmp(p, from, strlen(from)) == 0) {
        memcpy(fixed + o, to, strlen(to));
        o += strlen(to);
        p += strlen(from);
      } else {
        fixed[o++] = *p++;
      }
    }
    fixed[o] = '\0';
    ASSERT(strstr(fixed, to) != NULL);
    ASSERT_EQ(test_write_file(kh, fixed, 0600), 0);
    free(fixed);
  }
  {
    st = rh_run(&h,
                (const char *[]){"-o", "StrictHostKeyChecking=yes", "r",
                                 "echo same-key", NULL},
                &out, &err, 60000);
    if (st != 0)
      fprintf(stderr, "ssh: %s\n", err);
    free(err);
    ASSERT_EQ(st, 0);
    ASSERT_STR_EQ(out, "same-key\n");
    free(out);
  }
  /* And the control socket is the new daemon's. */
  {
    char bin[700];
    const char *argv[] = {bin, "status", NULL};
    snprintf(bin, sizeof(bin), "%s/sshmuxd", test_build_dir());
    ASSERT_EQ(test_run_simple(argv, &out, NULL), 0);
    free(out);
  }
  free(khtext);
  free(key0);
  free(key1);
  rh_teardown(&h, &s);
  return 0;
}

TEST_IMPL_T(relay_fault_disk_full_and_read_only, 90) {
  const char *args[] = {"setup-config", "--port", "2345", NULL};
  char script[4096], stage[700], outdir[700], *before, *after, *err;
  int st;

  TEST_REQUIRE_ROOT("a tmpfs in a private mount namespace");
  TEST_REQUIRE_PROGRAM("unshare");
  dtest_setup();
  dtest_write(dtest_ssh_path("sshmux-routes.ini"),
              "[routes.web]\nhost = 10.0.0.1\nuser = deploy\n");
  dtest_write(dtest_ssh_path("id_ed25519"), "x\n");
  dtest_write(dtest_ssh_path("id_ed25519.pub"), "ssh-ed25519 AAAA x\n");
  ASSERT_EQ(dtest_run(args, NULL, NULL, NULL), 0);
  /* A second route: the next setup-config must rewrite its files. */
  dtest_write(dtest_ssh_path("sshmux-routes.ini"),
              "[routes.web]\nhost = 10.0.0.1\nuser = deploy\n"
              "[routes.db]\nhost = 10.0.0.2\nuser = deploy\n");
  before = test_read_file(dtest_ssh_path("sshmux-hosts.conf"), NULL);
  ASSERT(before != NULL && strstr(before, "Host db") == NULL);
  snprintf(stage, sizeof(stage), "%s", test_path("stage"));
  snprintf(outdir, sizeof(outdir), "%s", test_path("after"));
  ASSERT_EQ(mkdir(outdir, 0700), 0);
  {
    const char *cp[] = {"cp", "-a", dtest_ssh_path("."), stage, NULL};
    ASSERT_EQ(test_run_simple(cp, NULL, NULL), 0);
  }
  /* In a private mount namespace: the SSH dir becomes a small tmpfs with
   * the same files, filled up; setup-config runs; then read-only; the
   * results are copied out before the namespace (and the tmpfs) go. */
  snprintf(
      script, sizeof(script),
      "set -u\n"
      "D='%s'; S='%s'; O='%s'; B='%s/sshmuxd'\n"
      "mount -t tmpfs -o size=256k,mode=0700 tmpfs \"$D\" || exit 90\n"
      "cp -a \"$S\"/. \"$D\"/ || exit 91\n"
      "dd if=/dev/zero of=\"$D/filler\" bs=1k 2>/dev/null\n"
      "HOME='%s' XDG_CONFIG_HOME='%s' SSHMUX_NO_ENABLE=1 SSHMUX_SSH_DIR= "
      "\"$B\" setup-config --port 2345 >\"$O/full.out\" 2>\"$O/full.err\"\n"
      "echo $? >\"$O/full.rc\"\n"
      "ls -a \"$D\" >\"$O/full.ls\"\n"
      "cp \"$D/sshmux-hosts.conf\" \"$O/full.hosts\"\n"
      "rm -f \"$D/filler\"\n"
      "mount -o remount,ro \"$D\" || exit 92\n"
      "HOME='%s' XDG_CONFIG_HOME='%s' SSHMUX_NO_ENABLE=1 SSHMUX_SSH_DIR= "
      "\"$B\" setup-config --port 2345 >\"$O/ro.out\" 2>\"$O/ro.err\"\n"
      "echo $? >\"$O/ro.rc\"\n"
      "cp \"$D/sshmux-hosts.conf\" \"$O/ro.hosts\"\n"
      "ls -a \"$D\" >\"$O/ro.ls\"\n",
      dtest_ssh_path("."), stage, outdir, test_build_dir(), test_path("home"),
      test_path("home/.config"), test_path("home"), test_path("home/.config"));
  {
    const char *argv[] = {"unshare", "-m", "--propagation", "private",
                          "sh",      "-c", script,          NULL};
    char *o = NULL, *e = NULL;
    st = test_run_simple(argv, &o, &e);
    if (st != 0)
      fprintf(stderr, "namespace script: %d %s %s\n", st, o ? o : "",
              e ? e : "");
    ASSERT_EQ(st, 0);
    free(o);
    free(e);
  }
  for (int phase = 0; phase < 2; phase++) {
    const char *name = phase == 0 ? "full" : "ro";
    char p[800], *rc, *ls;
    snprintf(p, sizeof(p), "%s/%s.rc", outdir, name);
    rc = test_read_file(p, NULL);
    ASSERT(rc != NULL);
    ASSERT_NE(atoi(rc), 0); /* refused */
    free(rc);
    snprintf(p, sizeof(p), "%s/%s.err", outdir, name);
    err = test_read_file(p, NULL);
    ASSERT_STR_CONTAINS(err, phase == 0 ? "space" : "read-only");
    free(err);
    /* The file it had to rewrite is exactly as it was. */
    snprintf(p, sizeof(p), "%s/%s.hosts", outdir, name);
    after = test_read_file(p, NULL);
    ASSERT_STR_EQ(after, before);
    free(after);
    /* No temporary file left behind. */
    snprintf(p, sizeof(p), "%s/%s.ls", outdir, name);
    ls = test_read_file(p, NULL);
    ASSERT(ls != NULL && strstr(ls, ".sshmux-") == NULL);
    free(ls);
  }
  /* Outside the namespace the real directory was never touched. */
  after = test_read_file(dtest_ssh_path("sshmux-hosts.conf"), NULL);
  ASSERT_STR_EQ(after, before);
  free(after);
  free(before);
  return 0;
}
