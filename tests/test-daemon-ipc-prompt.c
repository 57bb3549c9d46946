/* test-daemon-ipc-prompt.c -- prompts through the control socket, with a
 * jump host that asks a one-time code (OpenSSH + PAM pam_oath, HOTP codes
 * from oathtool; tests/fixture-otp.h) and ssh using `sshmuxd connect` as
 * its ProxyCommand to a target behind it.
 *
 * Proves: with nobody to answer, the login fails at once with a message
 * that says what to do (fail closed, no hang); a script answers the code
 * with `prompt --list --json --wait` and `prompt --answer ID`; the second
 * ssh through the pooled jump asks nothing; the configured askpass
 * program answers when no agent is subscribed; a wrong answer fails the
 * login cleanly. */
#include <sys/stat.h>
#include <unistd.h>

#include "fixture-otp.h"
#include "ipc-helpers.h"

#define REQUIRE_OTP_PEERS() TEST_REQUIRE_OTP_AND("/usr/bin/python3", NULL)

TEST_IMPL_T(daemon_ipc_otp_prompt_answer, 120) {
  test_otp_sshd o;
  test_sshd t;
  const char *status[] = {"status", "--json", NULL};
  char *out = NULL, *err = NULL, *list, *py = NULL, code[7], idbuf[32];
  int bg, st, pid;

  REQUIRE_OTP_PEERS();
  ipct_otp_jump_target(&o, &t, NULL);
  pid = ipct_start();

  /* Nobody to answer: refused at once, with what to do. */
  {
    uint64_t t0 = test_now_ms();
    st = ipct_ssh_proxy(&t, NULL, "echo no", &out, &err);
    ASSERT_NE(st, 0);
    ASSERT_STR_CONTAINS(err, "sshmuxd prompt");
    ASSERT_LT(test_now_ms() - t0, 15000);
    free(out), free(err);
  }

  /* A script: wait for the prompt, read it as JSON, answer by id. */
  list = ipct_listed_prompt(&t, "echo through-otp", &bg);
  ASSERT(list != NULL);
  {
    char code_py[800];
    snprintf(code_py, sizeof(code_py),
             "import json,sys\n"
             "d=json.load(sys.stdin)\n"
             "assert d['ok'] is True\n"
             "p=d['prompts']\n"
             "assert len(p)==1, p\n"
             "p=p[0]\n"
             "assert p['kind']=='kbdint', p\n"
             "assert p['target'].endswith('@%s:%d'), p['target']\n"
             "assert len(p['questions'])==1 and p['questions'][0]['echo'] is "
             "False\n"
             "assert p['time_left_ms']>0\n"
             "print(p['id'])\n",
             o.sshd.addr, o.sshd.port);
    st = ipct_python(code_py, list, &py);
    if (st != 0)
      fprintf(stderr, "prompt list: %s\n", list);
    ASSERT_EQ(st, 0);
  }
  snprintf(idbuf, sizeof(idbuf), "%.*s", (int)strcspn(py, "\n"), py);
  free(py);
  free(list);
  ASSERT_EQ(test_otp_next_code(&o, code), 0);
  ipct_answer(idbuf, code);
  ipct_bg_ok(bg, "bg.log", "through-otp");

  /* The second ssh through the pooled jump asks nothing (no agent now). */
  ipct_ssh_echo(&t, NULL, "pooled");
  ASSERT_EQ(ipct_run(status, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "\"logins\":1,");
  ASSERT_STR_CONTAINS(out,
                      "\"auth_methods\":\"publickey,keyboard-interactive\"");
  free(out);
  ipct_stop_clean(pid);
  test_otp_sshd_stop(&o);
  test_sshd_stop(&t);
  return 0;
}

TEST_IMPL_T(daemon_ipc_otp_askpass, 120) {
  test_otp_sshd o;
  test_sshd t;
  char extra[1200], code[7], *out = NULL, *err = NULL;
  const char *status[] = {"status", "--json", NULL};
  int st;

  REQUIRE_OTP_PEERS();
  /* [defaults] must come first in the file: put it in a routes file of
   * our own. */
  ipct_otp_jump_target(&o, &t, NULL);
  ASSERT_EQ(test_otp_next_code(&o, code), 0);
  ASSERT_EQ(test_otp_askpass(test_path("askpass.sh"), code), 0);
  snprintf(extra, sizeof(extra), "[defaults]\naskpass = %s\n",
           test_path("askpass.sh"));
  {
    char routes[8192];
    snprintf(routes, sizeof(routes), "%s%s", extra,
             ipct_routes_for_jump(&o.sshd, NULL));
    ipct_routes(routes);
  }
  ipct_start();
  st = ipct_ssh_proxy(&t, NULL, "echo via-askpass", &out, &err);
  if (st != 0) {
    fprintf(stderr, "ssh: %s\n", err);
    ipct_dump();
  }
  ASSERT_EQ(st, 0);
  ASSERT_STR_EQ(out, "via-askpass\n");
  free(out), free(err);
  ipct_run_expect(status, "\"logins\":1,");
  test_otp_sshd_stop(&o);
  test_sshd_stop(&t);
  return 0;
}

TEST_IMPL_T(daemon_ipc_otp_wrong_answer, 120) {
  test_otp_sshd o;
  test_sshd t;
  const char *wait_args[] = {dtest_sshmuxd(), "prompt", "--list",
                             "--json",        "--wait", NULL};
  const char *answer[] = {"prompt", "--answer", "1", NULL};
  char *out = NULL, *log, wrong[7], in[16];
  int lister, bg;

  REQUIRE_OTP_PEERS();
  ipct_otp_jump_target(&o, &t, NULL);
  ipct_start();
  lister = test_spawn(wait_args, test_path("list.json"));
  ipct_wait_agents(1);
  bg = ipct_ssh_proxy_spawn(&t, NULL, "echo never", test_path("bg.log"));
  ASSERT_EQ(ipct_wait_exit(lister, 30000), 0);
  ASSERT_EQ(test_otp_wrong_code(&o, wrong), 0);
  snprintf(in, sizeof(in), "%s\n", wrong);
  /* The daemon accepts the answer; the jump refuses the code. */
  ASSERT_EQ(ipct_run(answer, in, NULL, NULL), 0);
  ASSERT_NE(ipct_wait_exit(bg, 30000), 0);
  log = test_read_file(test_path("bg.log"), NULL);
  ASSERT(strstr(log, "never") == NULL);
  free(log);
  /* An answer for a prompt that is gone is an error, not a crash. */
  ASSERT_NE(ipct_run(answer, in, &out, NULL), 0);
  free(out);
  test_otp_sshd_stop(&o);
  test_sshd_stop(&t);
  return 0;
}
