/* test-pool-otp.c -- one-time passwords for real: OpenSSH sshd with PAM and
 * pam_oath, asking keyboard-interactive TOTP codes after a public key
 * (AuthenticationMethods publickey,keyboard-interactive: a partial-success
 * chain).  The sshd runs inside `unshare -m` with our PAM file bind-mounted
 * over /etc/pam.d/sshd, so the machine's PAM setup is never touched.
 *
 * Proves: the code is asked through the prompt API (target shown, echo
 * off), the second session asks nothing, a wrong code fails cleanly and
 * nothing is cached (the next attempt asks again), and the loop keeps
 * serving other connections while a prompt waits for its answer. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool-harness.h"

#define SECRET "3132333435363738393031323334353637383930"

static const char *totp(void) {
  static char code[16];
  const char *argv[] = {"oathtool", "--totp", "-d", "6", SECRET, NULL};
  char *out = NULL;
  ASSERT_EQ(test_run_simple(argv, &out, NULL), 0);
  snprintf(code, sizeof(code), "%.*s", (int)strcspn(out, "\n"), out);
  free(out);
  return code;
}

static int start_otp_sshd(test_sshd *s) {
  static char script[1200];
  static const char *wrap[10];
  test_sshd_opts so;
  char pam[600], users[600], line[300];
  const char *dir = test_path("otp");

  mkdir(dir, 0700);
  snprintf(users, sizeof(users), "%s/users.oath", dir);
  {
    /* The user is whoever runs the tests (the fixture logs in as it). */
    char u[64];
    snprintf(u, sizeof(u), "%s", getuid() == 0 ? "root" : getenv("USER"));
    snprintf(line, sizeof(line), "HOTP/T30/6 %s - %s\n", u, SECRET);
  }
  ASSERT_OK(test_write_file(users, line, 0600));
  snprintf(pam, sizeof(pam), "%s/pam-sshd", dir);
  {
    char conf[1000];
    snprintf(conf, sizeof(conf),
             "auth required pam_oath.so usersfile=%s window=4 digits=6\n"
             "account required pam_permit.so\n"
             "session required pam_permit.so\n",
             users);
    ASSERT_OK(test_write_file(pam, conf, 0644));
  }
  snprintf(script, sizeof(script),
           "mount --bind %s /etc/pam.d/sshd && exec \"$0\" -o UsePAM=yes "
           "-o KbdInteractiveAuthentication=yes -o PermitRootLogin=yes "
           "-o AuthenticationMethods=publickey,keyboard-interactive \"$@\"",
           pam);
  wrap[0] = "unshare";
  wrap[1] = "-m";
  wrap[2] = "--propagation";
  wrap[3] = "private";
  wrap[4] = "sh";
  wrap[5] = "-c";
  wrap[6] = script;
  wrap[7] = NULL;
  memset(&so, 0, sizeof(so));
  so.name = "otpd";
  so.wrap = wrap;
  return test_sshd_start(s, &so);
}

/* decide_data: the code to give, or NULL to keep the prompt pending. */
static int answer_code(ph_t *h, sshmux_prompt_t *p, const char **answers) {
  ASSERT_EQ(sshmux_prompt_kind(p), SSHMUX_PROMPT_KBDINT);
  ASSERT_EQ(sshmux_prompt_count(p), 1);
  ASSERT_EQ(sshmux_prompt_echo(p, 0), 0);
  if (h->decide_data == NULL)
    return -1;
  answers[0] = h->decide_data;
  return 1;
}

TEST_IMPL_T(pool_otp_kbdint, 120) {
  test_sshd s, plain;
  test_sshd_opts po;
  sshmux_pool_options_t o;
  sshmux_target_t t, pt;
  sshmux_conn_stats_t cs[2];
  const char *khs[3];
  ph_job_t a, b;
  size_t n;
  ph_t h;

  if (getuid() != 0) {
    fprintf(stderr, "needs root (mount namespace, PAM as root)\n");
    return TEST_SKIP;
  }
  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  TEST_REQUIRE_PROGRAM("oathtool");
  TEST_REQUIRE_PROGRAM("unshare");
  if (access("/lib/x86_64-linux-gnu/security/pam_oath.so", R_OK) != 0 &&
      access("/usr/lib/x86_64-linux-gnu/security/pam_oath.so", R_OK) != 0 &&
      access("/lib/security/pam_oath.so", R_OK) != 0) {
    fprintf(stderr, "pam_oath.so not installed (libpam-oath)\n");
    return test_in_ci() ? 1 : TEST_SKIP;
  }
  ASSERT_OK(start_otp_sshd(&s));
  memset(&po, 0, sizeof(po));
  po.name = "plain";
  ASSERT_OK(test_sshd_start(&plain, &po));
  sshmux_pool_options_init(&o);
  khs[0] = s.known_hosts;
  khs[1] = plain.known_hosts;
  khs[2] = NULL;
  o.known_hosts = khs;
  o.use_agent = 0;
  ph_init(&h, &o);
  ph_prompts(&h, answer_code, NULL);
  ph_target(&t, &s);
  ph_target(&pt, &plain);

  /* A wrong code: the login fails cleanly, nothing is kept. */
  h.decide_data = "000000";
  if (strcmp(totp(), "000000") == 0)
    h.decide_data = "111111";
  memset(&a, 0, sizeof(a));
  ph_exec(&h, &t, "true", &a);
  ph_run_until(&h, &a.done, 20000);
  ASSERT_EQ(a.open_status, SSHMUX_EAUTH);
  ASSERT_EQ(h.nprompts, 1);
  ASSERT_STR_CONTAINS(h.prompts[0].target, s.addr);
  ASSERT_STR_CONTAINS(h.prompts[0].text, "One-time password");
  ASSERT_OK(sshmux_pool_stats(h.pool, NULL, NULL, 0, &n));
  ASSERT_EQ(n, 0);

  /* The next attempt asks again; while the person "types", the loop
   * serves another connection. */
  h.decide_data = NULL;
  memset(&a, 0, sizeof(a));
  ph_exec(&h, &t, "echo otp-ok", &a);
  while (h.pending == NULL)
    ph_run_for(&h, 20);
  ASSERT_EQ(h.nprompts, 2);
  memset(&b, 0, sizeof(b));
  ph_exec(&h, &pt, "echo meanwhile", &b);
  ph_run_until(&h, &b.done, 10000);
  ASSERT_STR_EQ(b.out, "meanwhile\n");
  ASSERT(!a.done);
  {
    const char *code[1];
    code[0] = totp();
    ASSERT_OK(sshmux_prompt_answer(h.pending, code, 1));
    h.pending = NULL;
  }
  ph_run_until(&h, &a.done, 20000);
  if (a.open_status != 0) {
    fprintf(stderr, "%s\n", a.errmsg);
    test_sshd_dump_log(&s);
  }
  ASSERT_OK(a.open_status);
  ASSERT_STR_EQ(a.out, "otp-ok\n");

  /* The second session asks nothing. */
  memset(&a, 0, sizeof(a));
  ph_exec(&h, &t, "echo again", &a);
  ph_run_until(&h, &a.done, 10000);
  ASSERT_STR_EQ(a.out, "again\n");
  ASSERT_EQ(h.nprompts, 2);
  ASSERT_OK(sshmux_pool_stats(h.pool, NULL, cs, 2, &n));
  ASSERT_EQ(n, 2);
  {
    char want[300];
    int found = 0;
    snprintf(want, sizeof(want), "%s@%s:%d", s.user, s.addr, s.port);
    for (size_t i = 0; i < n; i++)
      if (strcmp(cs[i].target, want) == 0) {
        /* The partial-success chain, both steps recorded. */
        ASSERT_STR_EQ(cs[i].auth_methods, "publickey,keyboard-interactive");
        found = 1;
      }
    ASSERT(found);
  }
  ph_close(&h);
  test_sshd_stop(&plain);
  test_sshd_stop(&s);
  return 0;
}
