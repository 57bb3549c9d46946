/* test-relay-hostile.c -- a hostile upstream: a small SSH server of ours
 * written with paramiko (Debian python3-paramiko under /usr/bin/python3),
 * reached through `sshmuxd serve` by the real ssh client.  It sends what a
 * malicious or compromised server may: a keyboard-interactive login whose
 * name, instruction and prompts are full of terminal escapes (OSC title,
 * CSI clear screen, C1 controls, non-ASCII) and one 30000-byte prompt; an
 * exec that answers and then ends with an exit-signal whose name and
 * message are escape-laden garbage, followed by data and an EOF for the
 * channel after its CLOSE; an exec that sends 12.8 MB ignoring the
 * window; and, in other modes, a 1 MiB prompt that no
 * SSH client should accept, 90 questions in one round (libssh2 1.10 itself
 * refuses more than 100), and keyboard-interactive rounds that never end.
 * (The long prompt of the first mode is 30000 bytes: libssh2 1.10 drops
 * packets over 40000 bytes, which is what the 1 MiB mode shows.)
 *
 * Proves: the text the askpass program is shown is sanitised (no ESC, no C0
 * other than newline, no C1, valid UTF-8) and capped, and still carries the
 * target; the login and the session work, the output arrives, the
 * garbage exit-signal is not passed on (exit status 255, a logged note
 * instead); messages after CLOSE do not keep the session open; the
 * daemon's log holds no raw escape; each flood fails that login with a
 * message (ours: at most 32 questions a round, 64 rounds a login), nobody is
 * asked anything, and the daemon keeps serving another route. */
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz/check-sanitize.h"
#include "relay-harness.h"

static const char server_py[] =
    "import os, socket, sys, threading, time, paramiko\n"
    "from paramiko.common import cMSG_CHANNEL_REQUEST, cMSG_CHANNEL_DATA, "
    "cMSG_CHANNEL_EOF\n"
    "from paramiko.message import Message\n"
    "mode, keyfile, portfile = sys.argv[1], sys.argv[2], sys.argv[3]\n"
    "key = paramiko.ECDSAKey.generate(bits=256)\n"
    "key.write_private_key_file(keyfile)\n"
    "with open(keyfile + '.pub', 'w') as f:\n"
    "    f.write(key.get_name() + ' ' + key.get_base64() + '\\n')\n"
    "ESC = '\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31m\\u009b1m\\x07\\x08\\r'\n"
    "class S(paramiko.ServerInterface):\n"
    "    def get_allowed_auths(self, u):\n"
    "        return 'keyboard-interactive'\n"
    "    def get_banner(self):\n"
    "        return (ESC + 'banner\\n', 'en')\n"
    "    def check_auth_interactive(self, u, submethods):\n"
    "        q = paramiko.server.InteractiveQuery(ESC + 'name', ESC + "
    "'instruction')\n"
    "        if mode == 'huge':\n"
    "            q.add_prompt('H' * (1 << 20) + ': ', False)\n"
    "        elif mode == 'many':\n"
    "            for i in range(90):\n"
    "                q.add_prompt('q', False)\n"
    "        elif mode == 'rounds':\n"
    "            pass\n"
    "        else:\n"
    "            q.add_prompt(ESC + 'Code\\xff\\xfe: ', False)\n"
    "            q.add_prompt('L' * 30000 + ESC + ': ', True)\n"
    "        return q\n"
    "    def check_auth_interactive_response(self, responses):\n"
    "        if mode == 'rounds':\n"
    "            return paramiko.server.InteractiveQuery('', 'again ' + ESC)\n"
    "        ok = len(responses) == 2 and all(r == '42' for r in responses)\n"
    "        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED\n"
    "    def check_channel_request(self, kind, chanid):\n"
    "        return paramiko.OPEN_SUCCEEDED\n"
    "    def check_channel_exec_request(self, ch, cmd):\n"
    "        threading.Thread(target=run, args=(ch, cmd)).start()\n"
    "        return True\n"
    "def run(ch, cmd):\n"
    "    # paramiko answers the exec request after this thread starts: let\n"
    "    # the answer go first (else the close may overtake it, and the exec\n"
    "    # fails before any output is relayed).\n"
    "    time.sleep(0.5)\n"
    "    t = ch.get_transport()\n"
    "    if cmd == b'flood':\n"
    "        for i in range(400):\n"
    "            m = Message()\n"
    "            m.add_byte(cMSG_CHANNEL_DATA)\n"
    "            m.add_int(ch.remote_chanid)\n"
    "            m.add_string(b'F' * 32000)\n"
    "            t._send_user_message(m)\n"
    "        ch.send_exit_status(0)\n"
    "        ch.close()\n"
    "        return\n"
    "    ch.sendall(b'output-ok\\n')\n"
    "    m = Message()\n"
    "    m.add_byte(cMSG_CHANNEL_REQUEST)\n"
    "    m.add_int(ch.remote_chanid)\n"
    "    m.add_string('exit-signal')\n"
    "    m.add_boolean(False)\n"
    "    m.add_string('KILL' + ESC + 'x' * 300)\n"
    "    m.add_boolean(True)\n"
    "    m.add_string(ESC + 'core dumped' + 'y' * 5000)\n"
    "    m.add_string('')\n"
    "    t._send_user_message(m)\n"
    "    rid = ch.remote_chanid\n"
    "    ch.close()\n"
    "    for typ in (cMSG_CHANNEL_DATA, cMSG_CHANNEL_EOF):\n"
    "        m = Message()\n"
    "        m.add_byte(typ)\n"
    "        m.add_int(rid)\n"
    "        if typ == cMSG_CHANNEL_DATA:\n"
    "            m.add_string(b'after-close' + ESC.encode())\n"
    "        try:\n"
    "            t._send_user_message(m)\n"
    "        except Exception:\n"
    "            pass\n"
    "def serve(c):\n"
    "    t = paramiko.Transport(c)\n"
    "    t.add_server_key(key)\n"
    "    try:\n"
    "        t.start_server(server=S())\n"
    "        while t.is_active():\n"
    "            ch = t.accept(1)\n"
    "    except Exception:\n"
    "        pass\n"
    "ls = socket.socket()\n"
    "ls.bind(('127.0.0.1', 0))\n"
    "ls.listen(8)\n"
    "with open(portfile + '.tmp', 'w') as f:\n"
    "    f.write(str(ls.getsockname()[1]))\n"
    "os.rename(portfile + '.tmp', portfile)\n"
    "while True:\n"
    "    c, _ = ls.accept()\n"
    "    threading.Thread(target=serve, args=(c,), daemon=True).start()\n";

/* Start the hostile server in mode; returns its port, writes known_hosts
 * lines for it into h's SSH dir. */
static int start_hostile(rh_t *h, const char *mode, int *pid) {
  char py[700], key[700], portf[700], kh[800], line[1400];
  char *pub, *port_s = NULL;
  int port;

  snprintf(py, sizeof(py), "%s", test_path("hostile.py"));
  snprintf(key, sizeof(key), "%s/hostile-%s.key", test_path("."), mode);
  snprintf(portf, sizeof(portf), "%s/hostile-%s.port", test_path("."), mode);
  ASSERT_EQ(test_write_file(py, server_py, 0600), 0);
  *pid = test_spawn(
      (const char *[]){"/usr/bin/python3", py, mode, key, portf, NULL},
      test_path("hostile.log"));
  ASSERT_GT(*pid, 0);
  for (int i = 0; i < 600 && (port_s = test_read_file(portf, NULL)) == NULL;
       i++)
    usleep(50000);
  if (port_s == NULL) {
    char *log = test_read_file(test_path("hostile.log"), NULL);
    test_fail(__FILE__, __LINE__, "hostile server did not start: %s",
              log ? log : "");
  }
  port = atoi(port_s);
  free(port_s);
  ASSERT_EQ(test_wait_port(port, 1, 20000), 0);
  snprintf(kh, sizeof(kh), "%s.pub", key);
  pub = test_read_file(kh, NULL);
  ASSERT(pub != NULL);
  snprintf(line, sizeof(line), "[127.0.0.1]:%d %s", port, pub);
  snprintf(kh, sizeof(kh), "%s/known_hosts", h->dir);
  {
    FILE *f = fopen(kh, "a");
    ASSERT(f != NULL);
    fputs(line, f);
    fclose(f);
  }
  free(pub);
  return port;
}

static int count_files(const char *dir) {
  char cmd[800], *out = NULL;
  int n;
  snprintf(cmd, sizeof(cmd), "ls '%s' | wc -l", dir);
  ASSERT_EQ(
      test_run_simple((const char *[]){"sh", "-c", cmd, NULL}, &out, NULL), 0);
  n = atoi(out);
  free(out);
  return n;
}

/* No byte of text is an escape or control the terminal would act on. */
static void assert_clean(const char *what, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\r' && i + 1 < n && s[i + 1] == '\n')
      continue; /* a line end, as ssh itself writes them */
    if (c == 0x1b || c == 0x07 || c == 0x08 || c == '\r' || c == 0x9b ||
        (c < 0x20 && c != '\n' && c != '\t'))
      test_fail(__FILE__, __LINE__, "%s: raw control 0x%02x at %zu", what, c,
                i);
    /* C1 controls as UTF-8 (U+0080..U+009F) */
    if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
        (unsigned char)s[i + 1] <= 0x9f)
      test_fail(__FILE__, __LINE__, "%s: C1 control at %zu", what, i);
  }
}

TEST_IMPL_T(relay_hostile_upstream, 150) {
  rh_t h;
  test_sshd s;
  char routes[2048], askpass[700], seen[700], script[2000], *text, *out = NULL,
                                                                   *err = NULL;
  size_t len;
  int pid, hpid, port, st;

  TEST_REQUIRE_PROGRAM("ssh");
  TEST_REQUIRE_PYTHON_MODULE("paramiko");
  ASSERT_OK(test_sshd_start(&s, NULL));
  rh_init(&h);
  port = start_hostile(&h, "escapes", &hpid);
  /* The askpass records what it is shown, one file per question, and
   * answers 42. */
  snprintf(seen, sizeof(seen), "%s", test_path("seen"));
  ASSERT_EQ(mkdir(seen, 0700), 0);
  snprintf(askpass, sizeof(askpass), "%s", test_path("askpass.sh"));
  snprintf(script, sizeof(script),
           "#!/bin/sh\nn=$(ls '%s' | wc -l)\nprintf '%%s' \"$1\" > "
           "'%s'/q.$n\necho 42\n",
           seen, seen);
  ASSERT_EQ(test_write_file(askpass, script, 0700), 0);
  snprintf(routes, sizeof(routes),
           "[defaults]\naskpass = %s\n\n[routes.evil]\nhost = 127.0.0.1\n"
           "port = %d\nuser = victim\ndirect = true\n\n",
           askpass, port);
  rh_routes_text(&h, routes);
  rh_name(&h, "evil");
  rh_route(&h, "good", &s, NULL);
  rh_start(&h, NULL);

  st =
      rh_run(&h, (const char *[]){"evil", "anything", NULL}, &out, &err, 90000);
  if (out == NULL || strstr(out, "output-ok") == NULL)
    rh_dump(&h);
  /* The session worked; the garbage exit did not reach the terminal raw. */
  ASSERT_STR_CONTAINS(out, "output-ok\n");
  /* (Data the upstream sends after its CLOSE: libssh2 1.10 keeps no
   * order between its channel queue and the close, so it may still be
   * delivered; harmless, the upstream writes that stream anyway.  What
   * matters: the session ended, it did not hang on it.) */
  /* The garbage signal name is not passed on: exit status 255 instead, and
   * a note (logged; on the client's stderr only if the upstream had not
   * sent EOF already, which this one did). */
  ASSERT_EQ(st, 255);
  assert_clean("client stderr", err, strlen(err));
  free(out);
  free(err);

  /* 12.8 MB of data that ignores the window we gave (2 MiB): bounded,
   * the session ends, serve's memory does not follow the flood. */
  {
    long rss0 = rh_rss_kib(&h), rss1;
    size_t got;
    st = rh_run(&h, (const char *[]){"evil", "flood", NULL}, &out, &err, 90000);
    got = out != NULL ? strlen(out) : 0;
    rss1 = rh_rss_kib(&h);
    printf("# window flood: status %d, %zu bytes delivered, RSS %ld -> %ld "
           "KiB\n",
           st, got, rss0, rss1);
    ASSERT_LE(got, (size_t)400 * 32000);
    ASSERT_LT(rss1, rss0 + (rh_sanitized() ? 300 : 64) * 1024L);
    free(out);
    free(err);
  }

  /* What the person was shown: both questions, sanitised, capped. */
  for (int q = 0; q < 2; q++) {
    char p[800];
    snprintf(p, sizeof(p), "%s/q.%d", seen, q);
    text = test_read_file(p, &len);
    ASSERT(text != NULL);
    assert_clean("prompt", text, len);
    {
      const char *why = check_sanitized(text, 1, 5 * 4096);
      if (why != NULL)
        test_fail(__FILE__, __LINE__, "prompt text: %s", why);
    }
    ASSERT_LE(len, 3 * 4096 + 512); /* name, instruction, prompt: 4 KiB each */
    ASSERT_STR_CONTAINS(text, "victim@127.0.0.1:");
    ASSERT_STR_CONTAINS(text, q == 0 ? "Code" : "LLLL");
    free(text);
  }
  /* The log holds no raw escape either. */
  {
    char p[800];
    snprintf(p, sizeof(p), "%s/sshmux.log", h.dir);
    text = test_read_file(p, &len);
    ASSERT(text != NULL);
    assert_clean("sshmux.log", text, len);
    ASSERT_STR_CONTAINS(text, "malformed signal name");
    free(text);
  }

  /* Three floods, each against a fresh server: a 1 MiB prompt (more than
   * libssh2 takes in one packet), 90 questions in one round, and rounds
   * that never end.  Each fails that login with a message, and quickly. */
  for (int m = 0; m < 3; m++) {
    static const char *const modes[] = {"huge", "many", "rounds"};
    static const char *const logged[] = {"", "90 questions at once",
                                         "more than 64 rounds"};
    int asked0 = count_files(seen), port2;
    char lp[800];
    test_kill(hpid);
    port2 = start_hostile(&h, modes[m], &hpid);
    /* serve again, on a routes file naming the new port */
    rh_stop(&h);
    snprintf(routes, sizeof(routes),
             "[defaults]\naskpass = %s\n\n[routes.evil]\nhost = 127.0.0.1\n"
             "port = %d\nuser = victim\ndirect = true\n\n",
             askpass, port2);
    ASSERT_EQ(test_write_file(h.routes, routes, 0600), 0);
    {
      char buf[2048];
      snprintf(buf, sizeof(buf),
               "[routes.good]\nhost = %s\nport = %d\nuser = %s\n"
               "identity = %s\ndirect = true\n",
               s.addr, s.port, s.user, s.client_key);
      rh_routes_text(&h, buf);
    }
    h.port = 0;
    snprintf(h.log, sizeof(h.log), "%s/serve-%s.log", test_path("."), modes[m]);
    rh_start(&h, NULL);
    /* LogLevel INFO (ssh's default; the harness runs ERROR): the channel
     * open failure and its reason are shown at INFO. */
    st = rh_run(
        &h, (const char *[]){"-o", "LogLevel=INFO", "evil", "anything", NULL},
        &out, &err, 90000);
    ASSERT_NE(st, 0);
    printf("# %s: %s\n", modes[m], err ? err : "");
    ASSERT_STR_CONTAINS(err, "sshmux: route 'evil'");
    assert_clean("client stderr", err, strlen(err));
    free(out);
    free(err);
    /* Nobody was asked anything. */
    ASSERT_EQ(count_files(seen), asked0);
    snprintf(lp, sizeof(lp), "%s/sshmux.log", h.dir);
    text = test_read_file(lp, &len);
    ASSERT(text != NULL);
    assert_clean("sshmux.log", text, len);
    ASSERT_STR_CONTAINS(text, logged[m]);
    free(text);
    /* ... and the daemon goes on serving the good route. */
    st = rh_run(&h, (const char *[]){"good", "echo still-here", NULL}, &out,
                NULL, 60000);
    ASSERT_EQ(st, 0);
    ASSERT_STR_EQ(out, "still-here\n");
    free(out);
  }
  (void)pid;
  rh_stop(&h);
  test_kill(hpid);
  test_sshd_stop(&s);
  return 0;
}
