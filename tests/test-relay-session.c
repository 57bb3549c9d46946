/* test-relay-session.c -- session channels through `sshmuxd serve` with the
 * real OpenSSH client and a real upstream sshd: exit status, signals,
 * stderr kept apart, half-close, env policy, the unknown-user answer. */
#include <signal.h>
#include <unistd.h>

#include "relay-harness.h"

static void setup(rh_t *h, test_sshd *s) {
  ASSERT_EQ(test_sshd_start(s, NULL), 0);
  rh_init(h);
  rh_route(h, "r1", s, NULL);
  rh_start(h, NULL);
}

TEST_IMPL(relay_exit_status) {
  test_sshd s;
  rh_t h;
  char *out = NULL, *err = NULL;
  int st;

  TEST_REQUIRE_PROGRAM("ssh");
  setup(&h, &s);
  st = test_run_simple(rh_ssh(&h, (const char *[]){"r1", "exit 7", NULL}), &out,
                       &err);
  if (st != 7)
    rh_dump(&h);
  ASSERT_EQ(st, 7);
  free(out);
  free(err);
  st = test_run_simple(
      rh_ssh(&h, (const char *[]){"r1", "echo out; echo err >&2", NULL}), &out,
      &err);
  ASSERT_EQ(st, 0);
  ASSERT_STR_EQ(out, "out\n");
  ASSERT_STR_EQ(err, "err\n");
  free(out);
  free(err);
  rh_stop(&h);
  test_sshd_stop(&s);
  return 0;
}

/* Run the same command directly against sshd and through sshmuxd: exit
 * status, stdout and stderr must be the same. */
static void same_as_direct(rh_t *h, test_sshd *s, const char *cmd,
                           int expect_status) {
  const char *dv[40];
  const char *const *o = test_sshd_client_opts(s);
  char *out1 = NULL, *err1 = NULL, *out2 = NULL, *err2 = NULL;
  int st1, st2;
  size_t n = 0;

  dv[n++] = "ssh";
  for (; *o != NULL; o++)
    dv[n++] = *o;
  dv[n++] = "-o";
  dv[n++] = "LogLevel=ERROR";
  dv[n++] = s->addr;
  dv[n++] = cmd;
  dv[n] = NULL;
  st1 = test_run_simple(dv, &out1, &err1);
  st2 = test_run_simple(rh_ssh(h, (const char *[]){"r1", cmd, NULL}), &out2,
                        &err2);
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
  setup(&h, &s);
  same_as_direct(&h, &s, "echo a; kill -TERM $$", 255);
  same_as_direct(&h, &s, "echo to-err >&2; echo to-out; exit 3", 3);
  same_as_direct(&h, &s, "exec 2>/dev/null; sh -c 'kill -KILL $$'; echo $?", 0);
  rh_stop(&h);
  test_sshd_stop(&s);
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
  setup(&h, &s);
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
  rh_stop(&h);
  test_sshd_stop(&s);
  return 0;
}

TEST_IMPL(relay_env_policy) {
  test_sshd s;
  rh_t h;
  char *out = NULL;
  const char *env[] = {"LANG=C.UTF-8", "SECRET_X=1", "LC_FOO=bar", NULL};
  test_cmd_t c;
  int st;
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
  ASSERT_EQ(test_run(&c, &st), 0);
  ASSERT_EQ(st, 0);
  ASSERT_STR_EQ(out, "C.UTF-8|bar|\n");
  free(out);
  rh_stop(&h);
  test_sshd_stop(&s);
  return 0;
}

TEST_IMPL(relay_unknown_user_no_pty) {
  test_sshd s;
  rh_t h;
  char *out = NULL, *err = NULL;
  int st;

  TEST_REQUIRE_PROGRAM("ssh");
  ASSERT_EQ(test_sshd_start(&s, NULL), 0);
  rh_init(&h);
  rh_route(&h, "r1", &s, NULL);
  rh_name(&h, "nosuch");
  rh_start(&h, NULL);
  st = test_run_simple(rh_ssh(&h, (const char *[]){"nosuch", "true", NULL}),
                       &out, &err);
  ASSERT_EQ(st, 255);
  ASSERT_STR_CONTAINS(err, "no route named 'nosuch'");
  ASSERT_STR_CONTAINS(err, "r1");
  free(out);
  free(err);
  /* A forwarding channel is refused at open, naming the problem. */
  st = test_run_simple(
      rh_ssh(&h, (const char *[]){"-o", "LogLevel=INFO", "-W", "127.0.0.1:9",
                                  "nosuch", NULL}),
      &out, &err);
  ASSERT_EQ(st, 255);
  ASSERT_STR_CONTAINS(err, "no route named 'nosuch'");
  free(out);
  free(err);
  rh_stop(&h);
  test_sshd_stop(&s);
  return 0;
}

/* Refused, with a note on stderr, and the session goes on. */
TEST_IMPL(relay_refusals_are_clear) {
  test_sshd s;
  rh_t h;
  char *out = NULL, *err = NULL;
  const char *env[] = {"DISPLAY=:77", NULL};
  test_cmd_t c;
  int st;

  TEST_REQUIRE_PROGRAM("ssh");
  setup(&h, &s);
  memset(&c, 0, sizeof(c));
  c.argv = rh_ssh(&h, (const char *[]){"-X", "r1", "echo x-ok", NULL});
  c.env = env;
  c.out = &out;
  c.err = &err;
  ASSERT_EQ(test_run(&c, &st), 0);
  ASSERT_EQ(st, 0);
  ASSERT_STR_EQ(out, "x-ok\n");
  ASSERT_STR_CONTAINS(err, "X11 forwarding is not relayed");
  free(out);
  free(err);
  /* Remote forwarding: ssh -R is refused and ssh says so. */
  st = test_run_simple(
      rh_ssh(&h, (const char *[]){"-o", "ExitOnForwardFailure=yes", "-R",
                                  "0:127.0.0.1:9", "r1", "true", NULL}),
      NULL, &err);
  ASSERT_EQ(st, 255);
  ASSERT_STR_CONTAINS(err, "remote port forwarding failed");
  free(err);
  rh_stop(&h);
  test_sshd_stop(&s);
  return 0;
}
