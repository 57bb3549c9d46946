/* test-pool-hostkey.c -- the host-key policy of upstream logins against a
 * real sshd: unknown -> a HOSTKEY prompt with the SHA256 fingerprint
 * (accepted -> appended, then known; refused -> nothing written); no
 * handler -> SSHMUX_ENOPROMPTER; accept_new_hostkey -> appended without a
 * prompt; changed -> refused, always; hashed and wildcard entries match;
 * @revoked refused; a failed append refuses the connection. */
#include <string.h>

#include "pool-harness.h"

static int decide_hostkey(ph_t *h, sshmux_prompt_t *p, const char **answers) {
  (void)answers;
  ASSERT_EQ(sshmux_prompt_kind(p), SSHMUX_PROMPT_HOSTKEY);
  ASSERT_EQ(sshmux_prompt_count(p), 0);
  ASSERT_STR_EQ(sshmux_prompt_hostkey_type(p), "ssh-ed25519");
  return h->decide_data != NULL; /* accept or refuse */
}

static const char *fingerprint(const test_sshd *s) {
  static char fp[128];
  char pub[700], *out = NULL, *sp;
  const char *argv[] = {"ssh-keygen", "-lf", pub, NULL};
  snprintf(pub, sizeof(pub), "%s.pub", s->host_key_ed25519);
  ASSERT_EQ(test_run_simple(argv, &out, NULL), 0);
  sp = strchr(out, ' ');
  ASSERT(sp != NULL);
  snprintf(fp, sizeof(fp), "%.*s", (int)strcspn(sp + 1, " "), sp + 1);
  free(out);
  return fp;
}

/* "keytype base64" of the fixture's ed25519 host key. */
static const char *hostkey_line(const test_sshd *s) {
  static char line[512];
  char *data = test_read_pub(s->host_key_ed25519);
  snprintf(line, sizeof(line), "%.*s", (int)strcspn(data, "\n"), data);
  /* drop the comment */
  {
    char *sp = strchr(line, ' ');
    if (sp != NULL && (sp = strchr(sp + 1, ' ')) != NULL)
      *sp = '\0';
  }
  free(data);
  return line;
}

static int run_one(ph_t *h, sshmux_target_t *t, ph_job_t *a) {
  return ph_exec_wait(h, t, "echo in", a, 15000);
}

/* The fixture sshd, with pool options naming the known_hosts file kh. */
static void start(ph_t *h, const char *kh) {
  ph_fixture(h, NULL);
  ph_options(&h->o, kh);
}

/* start(h, kh), with kh one line "[marker][addr]:port KEY", KEY the
 * public half of a new ed25519 pair at key (not the sshd's); then the
 * pool, and h->t with accept_new_hostkey set: the tests show that it
 * never overrides what kh says of the host. */
static void start_other_key(ph_t *h, const char *kh, const char *marker,
                            const char *key) {
  const test_sshd *s = &h->s;
  char line[1200], *pub;

  start(h, kh);
  ASSERT_OK(test_keygen("ed25519", key, NULL));
  snprintf(line, sizeof(line), "%s.pub", key);
  pub = test_read_file(line, NULL);
  ASSERT(pub != NULL);
  snprintf(line, sizeof(line), "%s[%s]:%d %s", marker, s->addr, s->port, pub);
  free(pub);
  ASSERT_OK(test_write_file(kh, line, 0600));
  ph_init(h, &h->o);
  h->t.accept_new_hostkey = 1;
}

/* kh holds line alone: a fresh pool on h's sshd (h->o names kh) runs
 * run_one on h->t; its result. */
static int run_kh_line(ph_t *h, const char *kh, const char *line, ph_job_t *a) {
  ASSERT_OK(test_write_file(kh, line, 0600));
  ph_init(h, &h->o);
  return run_one(h, &h->t, a);
}

TEST_IMPL_T(pool_hostkey_unknown_prompt, 60) {
  const char *kh = test_path("kh_new");
  char *data;
  ph_job_t a;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  start(&h, kh);

  /* Refused: nothing is written. */
  ph_init(&h, &h.o);
  ph_prompts(&h, decide_hostkey, NULL);
  ASSERT_EQ(run_one(&h, &h.t, &a), SSHMUX_EHOSTKEY_REJECTED);
  ASSERT_STR_CONTAINS(a.errmsg, "not accepted");
  ASSERT_EQ(h.nprompts, 1);
  ASSERT_STR_EQ(h.prompts[0].fingerprint, fingerprint(&h.s));
  ASSERT_STR_CONTAINS(h.prompts[0].instruction, fingerprint(&h.s));
  ASSERT_STR_CONTAINS(h.prompts[0].target, h.s.addr);
  data = test_read_file(kh, NULL);
  ASSERT(data == NULL || strstr(data, "ssh-ed25519") == NULL);
  free(data);

  /* No handler: fails closed. */
  sshmux_pool_set_prompt_handler(h.pool, NULL, NULL, NULL);
  ASSERT_EQ(run_one(&h, &h.t, &a), SSHMUX_ENOPROMPTER);
  ASSERT_STR_CONTAINS(a.errmsg, "unknown");

  /* Accepted: appended, and the session runs. */
  ph_prompts(&h, decide_hostkey, "yes");
  ASSERT_OK(run_one(&h, &h.t, &a));
  ASSERT_STR_EQ(a.out, "in\n");
  data = test_read_file(kh, NULL);
  {
    char want[700];
    snprintf(want, sizeof(want), "[%s]:%d %s", h.s.addr, h.s.port,
             hostkey_line(&h.s));
    ASSERT_STR_CONTAINS(data, want);
  }
  free(data);
  ph_close(&h);

  /* Now known: a fresh pool logs in without asking. */
  ph_init(&h, &h.o);
  ph_prompts(&h, decide_hostkey, NULL);
  ASSERT_OK(run_one(&h, &h.t, &a));
  ASSERT_EQ(h.nprompts, 0);
  ph_teardown(&h);
  return 0;
}

TEST_IMPL_T(pool_hostkey_accept_new_and_append_failure, 60) {
  const char *kh = test_path("kh_auto");
  char *data;
  ph_job_t a;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  start(&h, kh);

  /* The append cannot happen (its directory is a file): refused. */
  ASSERT_OK(test_write_file(test_path("notadir"), "x", 0600));
  h.o.known_hosts_write = test_path("notadir/known_hosts");
  ph_init(&h, &h.o);
  h.t.accept_new_hostkey = 1;
  ASSERT_LT(run_one(&h, &h.t, &a), 0);
  ASSERT_STR_CONTAINS(a.errmsg, "cannot record");
  ph_close(&h);

  ph_options(&h.o, kh);
  ph_init(&h, &h.o);
  ph_prompts(&h, decide_hostkey, NULL); /* would refuse if asked */
  ASSERT_OK(run_one(&h, &h.t, &a));
  ASSERT_EQ(h.nprompts, 0);
  data = test_read_file(kh, NULL);
  ASSERT_STR_CONTAINS(data, hostkey_line(&h.s));
  free(data);
  ph_teardown(&h);
  return 0;
}

TEST_IMPL_T(pool_hostkey_changed_refused, 60) {
  const char *kh = test_path("kh_changed");
  ph_job_t a;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  start_other_key(&h, kh, "", test_path("other_key"));
  ph_prompts(&h, decide_hostkey, "yes"); /* would accept if (wrongly) asked */
  /* accept_new_hostkey (set) never overrides a changed key. */
  ASSERT_EQ(run_one(&h, &h.t, &a), SSHMUX_EHOSTKEY_CHANGED);
  ASSERT_STR_CONTAINS(a.errmsg, "CHANGED");
  ASSERT_STR_CONTAINS(a.errmsg, fingerprint(&h.s));
  ASSERT_EQ(h.nprompts, 0);
  ph_teardown(&h);
  return 0;
}

TEST_IMPL_T(pool_hostkey_hashed_wildcard_revoked, 60) {
  const char *kh = test_path("kh_forms");
  char line[1200];
  ph_job_t a;
  ph_t h;

  TEST_REQUIRE_PROGRAMS("/usr/sbin/sshd", "ssh-keygen");
  start(&h, kh);

  /* Hashed (ssh-keygen -H). */
  snprintf(line, sizeof(line), "[%s]:%d %s\n", h.s.addr, h.s.port,
           hostkey_line(&h.s));
  ASSERT_OK(test_write_file(kh, line, 0600));
  {
    const char *argv[] = {"ssh-keygen", "-H", "-f", kh, NULL};
    char *data;
    ASSERT_EQ(test_run_simple(argv, NULL, NULL), 0);
    data = test_read_file(kh, NULL);
    ASSERT(data != NULL && strncmp(data, "|1|", 3) == 0);
    free(data);
  }
  ph_init(&h, &h.o);
  ASSERT_OK(run_one(&h, &h.t, &a)); /* no handler: only a match gets in */
  ph_close(&h);

  /* Wildcard and negation: "[127.0.0.?]:PORT,!other". */
  snprintf(line, sizeof(line), "[127.0.0.?]:%d,!192.0.2.1 %s\n", h.s.port,
           hostkey_line(&h.s));
  ASSERT_OK(run_kh_line(&h, kh, line, &a));
  ph_close(&h);

  /* @revoked: refused even next to a matching line. */
  snprintf(line, sizeof(line), "[%s]:%d %s\n@revoked * %s\n", h.s.addr,
           h.s.port, hostkey_line(&h.s), hostkey_line(&h.s));
  ASSERT_EQ(run_kh_line(&h, kh, line, &a), SSHMUX_EHOSTKEY_REVOKED);
  ASSERT_STR_CONTAINS(a.errmsg, "revoked");
  ph_teardown(&h);
  return 0;
}

TEST_IMPL_T(pool_hostkey_cert_authority_needs_confirmation, 60) {
  const char *kh = test_path("kh_ca");
  ph_job_t a;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  start_other_key(&h, kh, "@cert-authority ", test_path("ca_key"));
  /* accept_new_hostkey (set) is not honoured while a CA line names the
   * host. */
  ASSERT_EQ(run_one(&h, &h.t, &a), SSHMUX_ENOPROMPTER);
  ph_prompts(&h, decide_hostkey, "yes");
  ASSERT_OK(run_one(&h, &h.t, &a));
  ASSERT_EQ(h.nprompts, 1);
  ASSERT_STR_CONTAINS(h.prompts[0].instruction, "cert-authority");
  ph_teardown(&h);
  return 0;
}
