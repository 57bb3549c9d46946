/* test-relay-session.c -- session channels through `sshmuxd serve` with the
 * real OpenSSH client and a real upstream sshd: exit status, signals,
 * stderr kept apart, half-close, env policy, the unknown-user answer, a
 * route's keepalive applied. */
#include <signal.h>
#include <unistd.h>

#include "fixture-agent.h"
#include "relay-harness.h"

TEST_IMPL(relay_exit_status) {
  test_sshd s;
  rh_t h;
  char *out = NULL, *err = NULL;
  int st;

  TEST_REQUIRE_PROGRAM("ssh");
  rh_setup_start(&h, &s, "r1", NULL);
  st = rh_run(&h, (const char *[]){"r1", "exit 7", NULL}, &out, &err, 0);
  if (st != 7)
    rh_dump(&h);
  ASSERT_EQ(st, 7);
  free(out);
  free(err);
  st = rh_run(&h, (const char *[]){"r1", "echo out; echo err >&2", NULL}, &out,
              &err, 0);
  ASSERT_EQ(st, 0);
  ASSERT_STR_EQ(out, "out\n");
  ASSERT_STR_EQ(err, "err\n");
  free(out);
  free(err);
  rh_teardown(&h, &s);
  return 0;
}

/* Run the same command directly against sshd and through sshmuxd: exit
 * status, stdout and stderr must be the same. */
static void same_as_direct(rh_t *h, test_sshd *s, const char *cmd,
                           int expect_status) {
  test_argv_t direct;
  char *out1 = NULL, *err1 = NULL, *out2 = NULL, *err2 = NULL;
  int st1, st2;

  st1 = test_run_simple(
      test_sshd_ssh_argv(&direct, s,
                         (const char *[]){"-o", "LogLevel=ERROR", NULL}, cmd),
      &out1, &err1);
  st2 = rh_run(h, (const char *[]){"r1", cmd, NULL}, &out2, &err2, 0);
  ASSERT_EQ(st1, expect_status);
  ASSERT_EQ(st2, st1);
  ASSERT_STR_EQ(out2, out1);
  ASSERT_STR_EQ(err2, err1);
  free(out1);
  free(err1);
  free(out2);
  free(err2);
}

TEST_IMPL(relay_signal_and_stderr) {
  test_sshd s;
  rh_t h;

  TEST_REQUIRE_PROGRAM("ssh");
  rh_setup_start(&h, &s, "r1", NULL);
  same_as_direct(&h, &s, "echo a; kill -TERM $$", 255);
  same_as_direct(&h, &s, "echo to-err >&2; echo to-out; exit 3", 3);
  same_as_direct(&h, &s, "exec 2>/dev/null; sh -c 'kill -KILL $$'; echo $?", 0);
  rh_teardown(&h, &s);
  return 0;
}

TEST_IMPL(relay_half_close) {
  test_sshd s;
  rh_t h;
  char *out = NULL;
  char *data;
  size_t len = 300000, i, out_len = 0;
  test_cmd_t c;
  int st;

  TEST_REQUIRE_PROGRAM("ssh");
  rh_setup_start(&h, &s, "r1", NULL);
  data = malloc(len);
  for (i = 0; i < len; i++)
    data[i] = (char)('a' + i % 23);
  memset(&c, 0, sizeof(c));
  c.argv = rh_ssh(&h, (const char *[]){"r1", "cat", NULL});
  c.in = data;
  c.in_len = len;
  c.out = &out;
  c.out_len = &out_len;
  c.timeout_ms = 20000;
  ASSERT_EQ(test_run(&c, &st), 0);
  ASSERT_EQ(st, 0);
  ASSERT_EQ(out_len, len);
  ASSERT_MEM_EQ(out, data, len);
  free(out);
  /* wc sees EOF, answers, and only then does the channel end. */
  c.argv = rh_ssh(&h, (const char *[]){"r1", "wc -c; echo done", NULL});
  out = NULL;
  ASSERT_EQ(test_run(&c, &st), 0);
  ASSERT_EQ(st, 0);
  ASSERT_STR_EQ(out, "300000\ndone\n");
  free(out);
  free(data);
  rh_teardown(&h, &s);
  return 0;
}

TEST_IMPL(relay_env_policy) {
  test_sshd s;
  rh_t h;
  char *out = NULL;
  const char *env[] = {"LANG=C.UTF-8", "SECRET_X=1", "LC_FOO=bar", NULL};
  test_cmd_t c;
  test_sshd_opts so;

  TEST_REQUIRE_PROGRAM("ssh");
  memset(&so, 0, sizeof(so));
  so.extra_config = "AcceptEnv LANG LC_* SECRET_*\n";
  ASSERT_EQ(test_sshd_start(&s, &so), 0);
  rh_init(&h);
  rh_route(&h, "r1", &s, NULL);
  rh_start(&h, NULL);
  memset(&c, 0, sizeof(c));
  c.argv =
      rh_ssh(&h, (const char *[]){"-o", "SendEnv=LANG LC_FOO SECRET_X", "r1",
                                  "echo \"$LANG|$LC_FOO|$SECRET_X\"", NULL});
  c.env = env;
  c.out = &out;
  ASSERT_EQ(test_run_status(&c), 0);
  ASSERT_STR_EQ(out, "C.UTF-8|bar|\n");
  free(out);
  rh_teardown(&h, &s);
  return 0;
}

TEST_IMPL(relay_unknown_user_no_pty) {
  test_sshd s;
  rh_t h;
  char *out = NULL, *err = NULL;
  int st;

  TEST_REQUIRE_PROGRAM("ssh");
  rh_setup(&h, &s, "r1", NULL);
  rh_name(&h, "nosuch");
  rh_start(&h, NULL);
  st = rh_run(&h, (const char *[]){"nosuch", "true", NULL}, &out, &err, 0);
  ASSERT_EQ(st, 255);
  ASSERT_STR_CONTAINS(err, "no route named 'nosuch'");
  ASSERT_STR_CONTAINS(err, "r1");
  free(out);
  free(err);
  /* A forwarding channel is refused at open, naming the problem. */
  st = rh_run(&h,
              (const char *[]){"-o", "LogLevel=INFO", "-W", "127.0.0.1:9",
                               "nosuch", NULL},
              &out, &err, 0);
  ASSERT_EQ(st, 255);
  ASSERT_STR_CONTAINS(err, "no route named 'nosuch'");
  free(out);
  free(err);
  rh_teardown(&h, &s);
  return 0;
}

/* ssh OPT r1 "echo WORD" with env: the session runs (exit 0, WORD out)
 * and ssh's stderr holds note. */
static void refused_with_note(rh_t *h, const char *opt, const char *const *env,
                              const char *word, const char *note) {
  char cmd[100], want[100], *out = NULL, *err = NULL;
  test_cmd_t c = {0};

  snprintf(cmd, sizeof(cmd), "echo %s", word);
  snprintf(want, sizeof(want), "%s\n", word);
  c.argv = rh_ssh(h, (const char *[]){opt, "r1", cmd, NULL});
  c.env = env;
  c.out = &out;
  c.err = &err;
  ASSERT_EQ(test_run_status(&c), 0);
  ASSERT_STR_EQ(out, want);
  ASSERT_STR_CONTAINS(err, note);
  free(out);
  free(err);
}

/* Refused, with a note on stderr, and the session goes on. */
TEST_IMPL(relay_refusals_are_clear) {
  test_sshd s;
  rh_t h;
  char *err = NULL;
  const char *env[] = {"DISPLAY=:77", NULL};
  int st;

  TEST_REQUIRE_PROGRAM("ssh");
  rh_setup_start(&h, &s, "r1", NULL);
  refused_with_note(&h, "-X", env, "x-ok", "X11 forwarding is not relayed");
  /* Agent forwarding (ssh -A asks only when an agent is there). */
  if (test_which("ssh-agent") != NULL && test_which("ssh-add") != NULL) {
    char agent_env[800];
    const char *aenv[] = {agent_env, NULL};
    test_agent ag;

    ASSERT_OK(test_agent_start(&ag, "agent", NULL));
    snprintf(agent_env, sizeof(agent_env), "SSH_AUTH_SOCK=%s", ag.sock);
    refused_with_note(&h, "-A", aenv, "a-ok",
                      "agent forwarding is not relayed");
    test_agent_stop(&ag);
  }
  /* Remote forwarding: ssh -R is refused and ssh says so. */
  st = rh_run(&h,
              (const char *[]){"-o", "ExitOnForwardFailure=yes", "-R",
                               "0:127.0.0.1:9", "r1", "true", NULL},
              NULL, &err, 0);
  ASSERT_EQ(st, 255);
  ASSERT_STR_CONTAINS(err, "remote port forwarding failed");
  free(err);
  rh_teardown(&h, &s);
  return 0;
}

/* A tiny Unix-socket echo server (the upstream "host" is this machine). */
static int unix_echo(const char *path) {
  char prog[1024];

  snprintf(prog, sizeof(prog),
           "import socket,os\n"
           "s=socket.socket(socket.AF_UNIX)\n"
           "s.bind(%s)\n"
           "s.listen(4)\n"
           "while True:\n"
           "  c,_=s.accept()\n"
           "  d=c.recv(100)\n"
           "  c.sendall(b'echo:'+d)\n"
           "  c.close()\n",
           path);
  return test_spawn((const char *[]){"/usr/bin/python3", "-c", prog, NULL},
                    NULL);
}

/* Connect to 127.0.0.1:port, send "ping", return what comes back. */
static char *tcp_ping(int port) {
  char prog[512], *out = NULL;

  snprintf(prog, sizeof(prog),
           "import socket\n"
           "c=socket.create_connection(('127.0.0.1',%d))\n"
           "c.sendall(b'ping')\n"
           "print(c.recv(100).decode())\n",
           port);
  if (test_run_simple((const char *[]){"/usr/bin/python3", "-c", prog, NULL},
                      &out, NULL) != 0) {
    free(out);
    return NULL;
  }
  return out;
}

/* ssh -N -L PORT:sock route (a free port; its log at log, LogLevel INFO
 * so that it holds why a forward was refused); once the port listens,
 * tcp_ping through it; the answer (NULL: none), and the ssh is killed. */
static char *ping_through_forward(rh_t *h, const char *route, const char *sock,
                                  const char *log) {
  char fwd[800], *out;
  int lport = test_free_port(), spid;

  snprintf(fwd, sizeof(fwd), "%d:%s", lport, sock);
  spid = test_spawn(rh_ssh(h, (const char *[]){"-o", "LogLevel=INFO", "-N",
                                               "-L", fwd, route, NULL}),
                    log);
  ASSERT_EQ(test_wait_port(lport, 0, 15000), 0);
  out = tcp_ping(lport);
  test_kill(spid);
  return out;
}

/* direct-streamlocal@openssh.com: refused by the default policy, relayed
 * once forward_allow names the socket. */
TEST_IMPL(relay_streamlocal_policy) {
  test_sshd s;
  rh_t h;
  char sock[700], quoted[720], extra[800], *out;
  int epid;

  TEST_REQUIRE_PROGRAMS("ssh", "/usr/bin/python3");
  snprintf(sock, sizeof(sock), "%s", test_path("echo.sock"));
  snprintf(quoted, sizeof(quoted), "'%s'", sock);
  epid = unix_echo(quoted);
  rh_setup(&h, &s, "r1", NULL);
  snprintf(extra, sizeof(extra), "forward_allow = %s\n", sock);
  rh_route(&h, "r2", &s, extra);
  rh_start(&h, NULL);
  for (int i = 0; i < 100 && access(sock, F_OK) != 0; i++)
    usleep(50000);

  /* r1: default loopback policy: the socket is refused. */
  out = ping_through_forward(&h, "r1", sock, test_path("r1.log"));
  ASSERT(out == NULL || strstr(out, "echo:") == NULL);
  free(out);
  {
    char *log = test_read_file(test_path("r1.log"), NULL);
    ASSERT_STR_CONTAINS(log, "refused by route 'r1'");
    free(log);
  }

  /* r2 allows it. */
  out = ping_through_forward(&h, "r2", sock, test_path("r2.log"));
  ASSERT_STR_EQ(out, "echo:ping\n");
  free(out);
  test_kill(epid);
  rh_teardown(&h, &s);
  return 0;
}

/* notify = true: each new relayed session raises a desktop notification
 * (a fake notify-send first on serve's PATH records its arguments), and
 * the log names the route; without notify nothing is called. */
TEST_IMPL(relay_session_notification) {
  test_sshd s;
  rh_t h;
  char path[2048];
  char *calls, *log;
  int st;

  TEST_REQUIRE_PROGRAM("ssh");
  ASSERT_EQ(mkdir(test_path("bin"), 0700), 0);
  test_write_fmt(test_path("bin/notify-send"), 0700,
                 "#!/bin/sh\nprintf '%%s|' \"$@\" >> '%s'\n",
                 test_path("notify.calls"));
  snprintf(path, sizeof(path), "%s:%s", test_path("bin"), getenv("PATH"));
  ASSERT_EQ(setenv("PATH", path, 1), 0);
  ASSERT_OK(test_sshd_start(&s, NULL));
  rh_init(&h);
  rh_routes_text(&h, "[defaults]\nnotify = true\n");
  rh_route(&h, "r1", &s, NULL);
  rh_start(&h, NULL);
  st = rh_run(&h, (const char *[]){"r1", "true", NULL}, NULL, NULL, 0);
  ASSERT_EQ(st, 0);
  /* notify-send runs asynchronously: give it a bounded moment. */
  for (int i = 0; i < 100; i++) {
    calls = test_read_file(test_path("notify.calls"), NULL);
    if (calls != NULL && strstr(calls, "route r1|") != NULL)
      break;
    free(calls);
    calls = NULL;
    usleep(20000);
  }
  ASSERT(calls != NULL);
  ASSERT_STR_CONTAINS(calls, "sshmux: new session|route r1|");
  free(calls);
  rh_stop(&h);
  snprintf(path, sizeof(path), "%s/sshmux.log", h.dir);
  log = test_read_file(path, NULL);
  ASSERT_STR_CONTAINS(log, "new session channel on route r1");
  free(log);
  test_sshd_stop(&s);
  return 0;
}

/* A route's keepalive reaches the pool: with keepalive = 1 a silent
 * 3-second command sees the upstream probed (the default 15 s would send
 * none). */
TEST_IMPL_T(relay_route_keepalive, 60) {
  test_sshd s;
  rh_t h;
  char *out = NULL, *err = NULL;
  int st;

  TEST_REQUIRE_PROGRAM("ssh");
  rh_setup_start(&h, &s, "r1", "keepalive = 1\n");
  st = rh_run(&h, (const char *[]){"r1", "sleep 3", NULL}, &out, &err, 0);
  ASSERT_EQ(st, 0);
  free(out);
  free(err);
  if (test_sshd_log_count(&s, "liveness-probe@sshmux") < 2)
    rh_dump(&h);
  ASSERT_GE(test_sshd_log_count(&s, "liveness-probe@sshmux"), 2);
  rh_teardown(&h, &s);
  return 0;
}
