/* test-relay-ttyprompt.c -- a login's question asked where the person is:
 * `ssh -t route` in a real terminal (tmux) to an upstream that asks a
 * one-time code (the PAM/pam_oath fixture), with no prompt agent, no
 * askpass and serve without a terminal.  The banner and the question show
 * in that pane, the code typed there (not echoed) logs in, a second `ssh`
 * asks nothing; ^C at the question ends that session cleanly and the
 * daemon keeps serving; two sessions waiting on one login see one
 * question; without a pty but on a "desktop" (DISPLAY set) the
 * SSH_ASKPASS program answers and notify-send is called; with neither the
 * login fails closed at once; a hostile server's escapes in its prompt
 * never act on the terminal; and all of the first through the local
 * ControlMaster setup-config writes. */
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture-otp.h"
#include "relay-harness.h"
#include "tmux.h"

#define tmux_sock test_tmux_sock

static int tmux(const char *const *args) {
  return test_tmux_run(tmux_sock(), args);
}

static void wait_for(const char *pane, const char *what, int ms) {
  test_tmux_wait(tmux_sock(), pane, what, ms, pane);
}

static void keys(const char *pane, const char *k, int enter) {
  ASSERT_EQ(tmux((const char *[]){"send-keys", "-t", pane, "-l", k, NULL}), 0);
  if (enter)
    ASSERT_EQ(tmux((const char *[]){"send-keys", "-t", pane, "Enter", NULL}),
              0);
}

/* Types the fixture's next one-time code (left in code) into pane. */
static void answer_otp(test_otp_sshd *o, const char *pane, char code[7]) {
  ASSERT_EQ(test_otp_next_code(o, code), 0);
  keys(pane, code, 1);
}

/* Runs cmd in pane's shell and waits (45 s) for expect to show. */
static void shell_check(const char *pane, const char *cmd, const char *expect) {
  keys(pane, cmd, 1);
  wait_for(pane, expect, 45000);
}

/* Exits pane's shell and waits (20 s) for ssh's exit status 0. */
static void exit_ok(const char *pane) {
  keys(pane, "exit", 1);
  wait_for(pane, "ssh-exit=0", 20000);
}

/* `ssh -F cfg -t ROUTE` in a new tmux session named pane; its exit status
 * is printed after it. */
static void start_ssh_with(const char *cfg, const char *pane,
                           const char *route) {
  char cmd[1500];

  snprintf(cmd, sizeof(cmd), "ssh -F %s -t %s; echo \"ssh-exit=$?\"; sleep 60",
           cfg, route);
  ASSERT_EQ(tmux((const char *[]){"new-session", "-d", "-s", pane, "-x", "100",
                                  "-y", "30", "sh", "-c", cmd, NULL}),
            0);
}

/* The same with the harness's ssh_config. */
static void start_ssh(rh_t *h, const char *pane, const char *route) {
  start_ssh_with(h->cfg, pane, route);
}

/* start_ssh(h, pane, "otp"), then waits (45 s) for the code's question. */
static void start_asked(rh_t *h, const char *pane) {
  start_ssh(h, pane, "otp");
  wait_for(pane, "One-time password", 45000);
}

/* start_ssh(h, pane, route), waits (45 s) for question, returns the
 * pane's text (malloc'd, never NULL). */
static char *ask(rh_t *h, const char *pane, const char *route,
                 const char *question) {
  char *text;

  start_ssh(h, pane, route);
  wait_for(pane, question, 45000);
  text = test_tmux_capture(tmux_sock(), pane);
  ASSERT(text != NULL);
  return text;
}

typedef struct {
  test_otp_sshd o;
  rh_t h;
} env_t;

static int setup(env_t *e) {
  memset(e, 0, sizeof(*e));
  TEST_REQUIRE_OTP();
  TEST_REQUIRE_PROGRAM("tmux");
  ASSERT_EQ(test_otp_sshd_start(&e->o, NULL), 0);
  rh_init(&e->h);
  rh_route(&e->h, "otp", &e->o.sshd, NULL);
  return 0;
}

static void teardown(env_t *e) {
  (void)tmux((const char *[]){"kill-server", NULL});
  rh_stop(&e->h);
  test_otp_sshd_stop(&e->o);
}

static char *serve_log(rh_t *h) {
  char path[700];
  snprintf(path, sizeof(path), "%s/sshmux.log", h->dir);
  return test_read_file(path, NULL);
}

TEST_IMPL_T(relay_prompt_in_client_terminal, 120) {
  env_t e;
  char code[7], *pane, *log;
  int r;

  if ((r = setup(&e)) != 0)
    return r;
  rh_start(&e.h, NULL); /* in the background: no terminal of its own */
  start_ssh(&e.h, "a", "otp");
  wait_for("a", "=== sshmux: login to", 45000);
  wait_for("a", "One-time password", 5000);
  pane = test_tmux_capture(tmux_sock(), "a");
  ASSERT(pane != NULL);
  ASSERT_STR_CONTAINS(pane, e.o.sshd.user);
  free(pane);
  answer_otp(&e.o, "a", code);
  shell_check("a", "echo hel''lo-$((6*7))", "hello-42");
  /* The code was never echoed. */
  pane = test_tmux_capture(tmux_sock(), "a");
  ASSERT(pane != NULL && strstr(pane, code) == NULL);
  free(pane);
  /* A second session reuses the login: nothing is asked (and nobody could
   * answer here: no pty, no agent, no askpass). */
  test_expect_run(rh_ssh(&e.h, (const char *[]){"otp", "echo second", NULL}), 0,
                  "second", NULL);
  exit_ok("a");
  log = serve_log(&e.h);
  ASSERT_STR_CONTAINS(log, "on a client's terminal");
  free(log);
  teardown(&e);
  return 0;
}

/* The same through the local ControlMaster setup-config writes: the
 * first `ssh -t` becomes the master, the question still comes to its
 * terminal, and the next session rides the same local connection. */
TEST_IMPL_T(relay_prompt_in_client_terminal_through_master, 120) {
  test_otp_sshd o;
  rh_t h;
  char code[7], log[600], *out = NULL, *err = NULL, *pane;
  int st;

  TEST_REQUIRE_OTP();
  TEST_REQUIRE_PROGRAM("tmux");
  ASSERT_EQ(test_otp_sshd_start(&o, NULL), 0);
  rh_init_short(&h);
  rh_route(&h, "otp", &o.sshd, NULL);
  snprintf(log, sizeof(log), "%s/sshmux.log", h.dir);
  rh_start(&h, NULL);
  rh_setup_config(&h);
  start_ssh_with(h.setup_cfg, "a", "otp");
  wait_for("a", "=== sshmux: login to", 45000);
  wait_for("a", "One-time password", 5000);
  answer_otp(&o, "a", code);
  shell_check("a", "echo hel''lo-$((6*7))", "hello-42");
  pane = test_tmux_capture(tmux_sock(), "a");
  ASSERT(pane != NULL && strstr(pane, code) == NULL);
  free(pane);
  st = test_run_simple(
      rh_ssh_setup(&h, (const char *[]){"otp", "echo second", NULL}), &out,
      &err);
  if (st != 0)
    fprintf(stderr, "%s\n%s\n", out, err);
  ASSERT_EQ(st, 0);
  ASSERT_STR_EQ(out, "second\n");
  free(out);
  free(err);
  exit_ok("a");
  ASSERT_EQ(test_count_in_file(log, "accepted \"otp\""), 1);
  ASSERT_EQ(test_count_in_file(log, "on a client's terminal"), 1);
  (void)test_run_simple(
      rh_ssh_setup(&h, (const char *[]){"-O", "exit", "otp", NULL}), NULL,
      NULL);
  (void)tmux((const char *[]){"kill-server", NULL});
  rh_stop(&h);
  test_otp_sshd_stop(&o);
  rh_remove_short(&h);
  return 0;
}

TEST_IMPL_T(relay_prompt_ctrl_c, 120) {
  env_t e;
  char code[7];
  int r;

  if ((r = setup(&e)) != 0)
    return r;
  rh_start(&e.h, NULL);
  start_asked(&e.h, "a");
  ASSERT_EQ(tmux((const char *[]){"send-keys", "-t", "a", "C-c", NULL}), 0);
  wait_for("a", "login cancelled", 20000);
  wait_for("a", "ssh-exit=130", 20000);
  ASSERT_EQ(kill(e.h.pid, 0), 0); /* the daemon is still there... */
  /* ...and serving: a new session is asked, answered and logs in. */
  start_asked(&e.h, "b");
  answer_otp(&e.o, "b", code);
  shell_check("b", "echo after-$((40+2))-cancel", "after-42-cancel");
  exit_ok("b");
  teardown(&e);
  return 0;
}

/* Two sessions wait on one login: one question, in one terminal. */
TEST_IMPL_T(relay_prompt_one_question, 120) {
  env_t e;
  char code[7], *pa, *pb;
  int r;
  const char *asked, *other;

  if ((r = setup(&e)) != 0)
    return r;
  rh_start(&e.h, NULL);
  start_ssh(&e.h, "a", "otp");
  start_ssh(&e.h, "b", "otp");
  {
    uint64_t end = test_now_ms() + 45000;
    for (;;) {
      pa = test_tmux_capture(tmux_sock(), "a");
      pb = test_tmux_capture(tmux_sock(), "b");
      if ((pa && strstr(pa, "One-time password")) ||
          (pb && strstr(pb, "One-time password")))
        break;
      ASSERT(test_now_ms() < end);
      free(pa);
      free(pb);
      usleep(100000);
    }
  }
  asked = pa && strstr(pa, "One-time password") ? "a" : "b";
  other = asked[0] == 'a' ? "b" : "a";
  free(pa);
  free(pb);
  /* Give the other one time to show a second question if it would. */
  usleep(1500000);
  pb = test_tmux_capture(tmux_sock(), other);
  ASSERT(pb != NULL);
  ASSERT(strstr(pb, "One-time password") == NULL);
  ASSERT(strstr(pb, "=== sshmux") == NULL);
  free(pb);
  answer_otp(&e.o, asked, code);
  keys("a", "echo in-a-$((1+1))", 1);
  keys("b", "echo in-b-$((2+2))", 1);
  wait_for("a", "in-a-2", 45000);
  wait_for("b", "in-b-4", 45000);
  teardown(&e);
  return 0;
}

/* No pty: on a desktop (DISPLAY set) the SSH_ASKPASS program answers and a
 * notification is sent; with neither, the login fails closed at once. */
TEST_IMPL_T(relay_prompt_desktop_askpass, 120) {
  env_t e;
  char code[7], bin[700], script[1400], askpass[700], notes[700];
  char *out = NULL, *err = NULL, *data;
  int st, r;
  uint64_t t0;

  if ((r = setup(&e)) != 0)
    return r;
  /* First without a desktop: refused at once, with today's message. */
  ASSERT_EQ(unsetenv("DISPLAY"), 0);
  ASSERT_EQ(unsetenv("WAYLAND_DISPLAY"), 0);
  rh_start(&e.h, NULL);
  t0 = test_now_ms();
  st = rh_run(&e.h, (const char *[]){"otp", "echo x", NULL}, &out, &err, 0);
  ASSERT_NE(st, 0);
  ASSERT_LT(test_now_ms() - t0, 60000); /* not the 90 s prompt timeout */
  ASSERT_STR_CONTAINS(err, "cancelled");
  free(out);
  free(err);
  rh_stop(&e.h);
  data = serve_log(&e.h);
  ASSERT_STR_CONTAINS(data, "no prompt agent is running");
  free(data);

  /* A desktop: a fake notify-send on PATH records its arguments. */
  snprintf(bin, sizeof(bin), "%s", test_path("bin"));
  ASSERT_EQ(mkdir(bin, 0700), 0);
  snprintf(notes, sizeof(notes), "%s", test_path("notes"));
  snprintf(script, sizeof(script), "%s/notify-send", bin);
  {
    char body[1500];
    snprintf(body, sizeof(body), "#!/bin/sh\necho \"$@\" >> '%s'\n", notes);
    ASSERT_EQ(test_write_file(script, body, 0700), 0);
  }
  {
    char path[4096];
    const char *old = getenv("PATH");
    snprintf(path, sizeof(path), "%s:%s", bin, old ? old : "/usr/bin:/bin");
    ASSERT_EQ(setenv("PATH", path, 1), 0);
  }
  ASSERT_EQ(test_otp_next_code(&e.o, code), 0);
  snprintf(askpass, sizeof(askpass), "%s", test_path("askpass.sh"));
  ASSERT_EQ(test_otp_askpass(askpass, code), 0);
  ASSERT_EQ(setenv("DISPLAY", ":99", 1), 0);
  ASSERT_EQ(setenv("SSH_ASKPASS", askpass, 1), 0);
  e.h.port = 0; /* a new serve: wait for its new port, in a new log */
  unlink(e.h.log);
  rh_start(&e.h, NULL);
  /* Its stdin (300000 bytes, far more than is kept while the login runs)
   * arrives whole once the login is done. */
  {
    test_cmd_t c;
    static char in[300000];
    memset(&c, 0, sizeof(c));
    memset(in, 'x', sizeof(in));
    c.argv = rh_ssh(&e.h, (const char *[]){"otp", "echo desk-ok; wc -c", NULL});
    c.in = in;
    c.in_len = sizeof(in);
    c.out = &out;
    c.err = &err;
    c.timeout_ms = 60000;
    ASSERT_EQ(test_run(&c, &st), 0);
  }
  if (st != 0) {
    fprintf(stderr, "%s\n%s\n", out, err);
    rh_dump(&e.h);
  }
  ASSERT_EQ(st, 0);
  ASSERT_STR_CONTAINS(out, "desk-ok\n300000");
  free(out);
  free(err);
  {
    uint64_t end = test_now_ms() + 10000;
    while ((data = test_read_file(notes, NULL)) == NULL && test_now_ms() < end)
      usleep(50000);
  }
  ASSERT(data != NULL);
  ASSERT_STR_CONTAINS(data, "sshmux: an answer is needed");
  free(data);
  teardown(&e);
  return 0;
}

/* The usual case: the bastion asks the code.  The session to the target
 * behind it waits for the jump's login, and is asked in its terminal. */
TEST_IMPL_T(relay_prompt_jump_otp, 120) {
  env_t e;
  test_sshd t;
  char code[7], ini[2048], *pane;
  int r;

  if ((r = setup(&e)) != 0)
    return r;
  ASSERT_EQ(test_sshd_start(&t, NULL), 0);
  snprintf(ini, sizeof(ini),
           "[jumps.bastion]\nhost = %s\nport = %d\nuser = %s\n\n"
           "[routes.inner]\nhost = %s\nport = %d\nuser = %s\nidentity = %s\n"
           "jump = bastion\n",
           e.o.sshd.addr, e.o.sshd.port, e.o.sshd.user, t.addr, t.port, t.user,
           t.client_key);
  rh_routes_text(&e.h, ini);
  rh_known(&e.h, &t);
  rh_name(&e.h, "inner");
  rh_start(&e.h, NULL);
  pane = ask(&e.h, "a", "inner", "One-time password");
  {
    char want[256];
    /* The banner names the bastion, the host that asks. */
    snprintf(want, sizeof(want), "login to %s@%s:%d", e.o.sshd.user,
             e.o.sshd.addr, e.o.sshd.port);
    ASSERT_STR_CONTAINS(pane, want);
  }
  free(pane);
  answer_otp(&e.o, "a", code);
  shell_check("a", "echo behind-$((40+2))-bastion", "behind-42-bastion");
  exit_ok("a");
  teardown(&e);
  test_sshd_stop(&t);
  return 0;
}

/* A hostile upstream (paramiko, keyboard-interactive only) puts terminal
 * escapes in the name, instruction and question of its prompt: window
 * title (OSC), clear screen, colours, an 8-bit CSI.  In the client's
 * terminal none of them acts: the pane's title is unchanged and only the
 * plain words show; the answer still logs in. */
static const char hostile_py[] =
    "import socket, sys, threading, time, paramiko\n"
    "port, keyfile = int(sys.argv[1]), sys.argv[2]\n"
    "key = paramiko.Ed25519Key.from_private_key_file(keyfile)\n"
    "NAME = '\\x1b]2;PWNED\\x07Evil\\x1b[2J name'\n"
    "INSTR = 'instr\\x1b[31mRED\\x1b[0m \\x9b6n end'\n"
    "PROMPT = 'Code\\x1b]0;PWNED2\\x07: '\n"
    "class S(paramiko.ServerInterface):\n"
    "  def get_allowed_auths(self, u): return 'keyboard-interactive'\n"
    "  def check_auth_interactive(self, u, sub):\n"
    "    q = paramiko.InteractiveQuery(NAME, INSTR)\n"
    "    q.add_prompt(PROMPT, False)\n"
    "    return q\n"
    "  def check_auth_interactive_response(self, r):\n"
    "    ok = list(r) == ['424242']\n"
    "    return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED\n"
    "  def check_channel_request(self, kind, cid):\n"
    "    return paramiko.OPEN_SUCCEEDED\n"
    "  def check_channel_pty_request(self, *a): return True\n"
    "  def check_channel_env_request(self, *a): return True\n"
    "  def check_channel_shell_request(self, ch):\n"
    "    def run():\n"
    "      ch.sendall(b'evil-shell-ready\\r\\n')\n"
    "      time.sleep(1)\n"
    "      ch.send_exit_status(0)\n"
    "      ch.close()\n"
    "    threading.Thread(target=run, daemon=True).start()\n"
    "    return True\n"
    "ls = socket.socket()\n"
    "ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "ls.bind(('127.0.0.1', port)); ls.listen(5)\n"
    "while True:\n"
    "  c, _ = ls.accept()\n"
    "  try:\n"
    "    t = paramiko.Transport(c)\n"
    "    t.add_server_key(key)\n"
    "    t.start_server(server=S())\n"
    "  except Exception:\n"
    "    pass  # the port probe, or a client gone\n";

TEST_IMPL_T(relay_prompt_hostile_text_sanitised, 120) {
  rh_t h;
  char script[700], hk[700], ini[1024], portstr[16], *pane, *title = NULL;
  int pid, port;

  TEST_REQUIRE_PROGRAMS("ssh", "tmux");
  TEST_REQUIRE_PYTHON_MODULE("paramiko");
  snprintf(script, sizeof(script), "%s", test_path("hostile.py"));
  ASSERT_EQ(test_write_file(script, hostile_py, 0600), 0);
  snprintf(hk, sizeof(hk), "%s", test_path("hostile_host_key"));
  ASSERT_EQ(test_keygen("ed25519", hk, NULL), 0);
  port = test_free_port();
  snprintf(portstr, sizeof(portstr), "%d", port);
  pid = test_spawn(
      (const char *[]){"/usr/bin/python3", script, portstr, hk, NULL},
      test_path("hostile.log"));
  ASSERT_GT(pid, 0);
  ASSERT_EQ(test_wait_port(port, 1, 20000), 0);
  rh_init(&h);
  snprintf(ini, sizeof(ini),
           "[routes.evil]\nhost = 127.0.0.1\nport = %d\nuser = someone\n"
           "direct = true\naccept_new_hostkey = true\n",
           port);
  rh_routes_text(&h, ini);
  rh_name(&h, "evil");
  rh_start(&h, NULL);
  pane = ask(&h, "a", "evil", "Code:");
  ASSERT_STR_CONTAINS(pane, "=== sshmux: login to someone@127.0.0.1:");
  ASSERT_STR_CONTAINS(pane, "Evil name");
  ASSERT_STR_CONTAINS(pane, "instrRED");
  ASSERT(strstr(pane, "PWNED") == NULL);
  ASSERT(strstr(pane, "6n") == NULL);
  ASSERT(strstr(pane, "[31m") == NULL);
  free(pane);
  (void)test_run_simple((const char *[]){"tmux", "-S", tmux_sock(), "display",
                                         "-p", "-t", "a", "#{pane_title}",
                                         NULL},
                        &title, NULL);
  ASSERT(title != NULL);
  ASSERT(strstr(title, "PWNED") == NULL);
  free(title);
  keys("a", "424242", 1);
  wait_for("a", "evil-shell-ready", 45000);
  wait_for("a", "ssh-exit=0", 20000);
  (void)tmux((const char *[]){"kill-server", NULL});
  rh_stop(&h);
  test_kill(pid);
  return 0;
}

/* The other kinds in the client's terminal: an unknown host key (yes/no,
 * with its fingerprint), then the passphrase of an encrypted identity. */
TEST_IMPL_T(relay_prompt_hostkey_and_passphrase, 120) {
  test_sshd s;
  rh_t h;
  char key[600], *pane;

  TEST_REQUIRE_PROGRAMS("ssh", "tmux");
  snprintf(key, sizeof(key), "%s", test_path("enc_key"));
  rh_init(&h);
  rh_route_encrypted(&h, "r1", &s, key, "s3cret phrase");
  rh_start(&h, NULL);
  pane = ask(&h, "a", "r1", "Trust it and remember it? (yes/no):");
  ASSERT_STR_CONTAINS(pane, "The upstream host key is not known: ssh-");
  ASSERT_STR_CONTAINS(pane, "SHA256:");
  free(pane);
  keys("a", "yes", 1);
  wait_for("a", "passphrase", 45000);
  keys("a", "s3cret phrase", 1);
  shell_check("a", "echo key-$((40+2))-ok", "key-42-ok");
  pane = test_tmux_capture(tmux_sock(), "a");
  ASSERT(pane != NULL && strstr(pane, "s3cret") == NULL); /* not echoed */
  free(pane);
  exit_ok("a");
  (void)tmux((const char *[]){"kill-server", NULL});
  rh_stop(&h);
  test_sshd_stop(&s);
  return 0;
}

/* The asking terminal goes away before answering: the question moves to
 * a session that waits for the same login (one that came later too). */
TEST_IMPL_T(relay_prompt_moves_on, 120) {
  env_t e;
  char code[7], *pb;
  int r;

  if ((r = setup(&e)) != 0)
    return r;
  rh_start(&e.h, NULL);
  start_asked(&e.h, "a");
  start_ssh(&e.h, "b", "otp");
  usleep(1000000);
  pb = test_tmux_capture(tmux_sock(), "b");
  ASSERT(pb != NULL && strstr(pb, "One-time password") == NULL);
  free(pb);
  ASSERT_EQ(tmux((const char *[]){"kill-session", "-t", "a", NULL}), 0);
  wait_for("b", "One-time password", 45000);
  answer_otp(&e.o, "b", code);
  shell_check("b", "echo moved-$((40+2))-on", "moved-42-on");
  teardown(&e);
  return 0;
}
