/* test-pool-auth.c -- upstream user authentication against a real, default
 * OpenSSH 9.2 sshd (no PubkeyAcceptedAlgorithms line: SHA-1 "ssh-rsa"
 * signatures are refused) with keys made by the real ssh-keygen and held
 * by a real ssh-agent (tests/fixture-agent.h).
 *
 * Proves: RSA keys log in with rsa-sha2-512 (sshd's own log names the
 * algorithm), from files in every format ssh-keygen writes (OpenSSH, PEM,
 * PKCS#8) and from the agent; ECDSA and Ed25519 keep working; an encrypted
 * key asks its passphrase once for two logins and a wrong one is asked
 * again; every agent key is tried in order; a route's identity limits the
 * agent to that key (IdentitiesOnly); identity_agent picks the socket or
 * turns the agent off; a dead agent falls through to the next method with
 * a log line; an `ssh-add -c` key waits for a slow confirmation; a key
 * whose passphrase is not given, or a dead agent, falls through to
 * keyboard-interactive (a real one-time code through PAM); the passphrase
 * and the decrypted key are wiped before their memory is freed. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "fixture-agent.h"
#include "fixture-otp.h"
#include "pool-harness.h"
#include "scan-alloc.h"

static void keygen(const char *type, const char *bits, const char *format,
                   const char *pass, const char *path) {
  ASSERT_EQ(test_keygen_ex(type, bits, format, pass, path), 0);
}

/* "SHA256:..." of path.pub, as sshd logs it. */
static const char *fingerprint(const char *key) {
  static char fp[4][128];
  static int next;
  char pub[700], *out = NULL, *s, *e;
  char *slot = fp[next++ % 4];

  snprintf(pub, sizeof(pub), "%s.pub", key);
  ASSERT_EQ(
      test_run_simple((const char *[]){"ssh-keygen", "-l", "-f", pub, NULL},
                      &out, NULL),
      0);
  s = strstr(out, "SHA256:");
  ASSERT(s != NULL);
  e = strchr(s, ' ');
  ASSERT(e != NULL);
  snprintf(slot, 128, "%.*s", (int)(e - s), s);
  free(out);
  return slot;
}

static char *pub_line(const char *key) {
  return test_read_pub(key);
}

/* An sshd that authorizes exactly these keys (plus the fixture's own,
 * which no target below uses). */
static void start_sshd(test_sshd *s, const char *name,
                       const char *const *keys) {
  test_sshd_opts o;
  char *ak = calloc(1, 16384);
  size_t n = 0;

  ASSERT(ak != NULL);
  for (; keys != NULL && *keys != NULL; keys++) {
    char *l = pub_line(*keys);
    n += (size_t)snprintf(ak + n, 16384 - n, "%s", l);
    free(l);
  }
  memset(&o, 0, sizeof(o));
  o.name = name;
  o.extra_authorized_keys = ak;
  ASSERT_EQ(test_sshd_start(s, &o), 0);
  free(ak);
}

/* start_sshd(s, "sshd", ...) authorizing key alone. */
static void start_sshd_one(test_sshd *s, const char *key) {
  const char *one[2] = {key, NULL};

  start_sshd(s, "sshd", one);
}

/* Where each line containing needle starts in the sshd log, -1 if none. */
static long log_find(const test_sshd *s, const char *needle, long from) {
  char *log = test_read_file(s->log, NULL);
  char *p;
  long r = -1;

  if (log != NULL && from >= 0 && (size_t)from <= strlen(log) &&
      (p = strstr(log + from, needle)) != NULL)
    r = (long)(p - log);
  free(log);
  return r;
}

/* The library's log, captured. */
static char lib_log[32768];
static size_t lib_log_len;
static void capture_log(sshmux_log_level_t level, const char *msg, void *data) {
  (void)level;
  (void)data;
  lib_log_len += (size_t)snprintf(lib_log + lib_log_len,
                                  sizeof(lib_log) - lib_log_len, "%s\n", msg);
  if (lib_log_len >= sizeof(lib_log))
    lib_log_len = sizeof(lib_log) - 1;
}

static void capture_start(void) {
  lib_log[0] = '\0';
  lib_log_len = 0;
  sshmux_set_log_cb(capture_log, SSHMUX_LOG_DEBUG, NULL);
}

/* One login in a fresh pool (so nothing is reused): exec `echo NAME-ok`
 * as s's user with the given identity files and agent setting.  Returns
 * the open status; *prompts gets how many prompts were asked. */
typedef struct {
  const char *const *ids;
  const char *agent; /* target.identity_agent */
  int use_agent;
  ph_decide_fn decide;
  void *decide_data;
} login_t;

static int login(test_sshd *s, const login_t *l, int *prompts, char *errmsg,
                 size_t errsz) {
  sshmux_pool_options_t o;
  sshmux_conn_stats_t cs;
  sshmux_target_t t;
  ph_job_t j;
  size_t n = 0;
  ph_t h;
  int st;

  ph_options(&o, s->known_hosts);
  o.use_agent = l->use_agent;
  ph_init(&h, &o);
  ph_prompts(&h, l->decide, l->decide_data);
  ph_target(&t, s);
  t.identity_files = l->ids;
  t.identity_agent = l->agent;
  memset(&j, 0, sizeof(j));
  ph_exec(&h, &t, "echo login-ok", &j);
  ph_run_until(&h, &j.done, 60000);
  st = j.open_status;
  if (st == 0) {
    ASSERT_STR_EQ(j.out, "login-ok\n");
    ASSERT_OK(sshmux_pool_stats(h.pool, NULL, &cs, 1, &n));
    ASSERT_EQ(n, 1);
    ASSERT_STR_EQ(cs.auth_methods, "publickey");
  }
  if (errmsg != NULL)
    snprintf(errmsg, errsz, "%s", j.errmsg);
  if (prompts != NULL)
    *prompts = h.nprompts;
  ph_close(&h);
  return st;
}

/* The fixture is a default-config sshd: SHA-1 RSA signatures refused,
 * rsa-sha2-* accepted -- checked with sshd's own view of its config and
 * with the real OpenSSH client. */
TEST_IMPL_T(pool_auth_fixture_refuses_sha1, 60) {
  const char *keys[2];
  char key[600], *out = NULL;
  test_sshd s;

  TEST_REQUIRE_PROGRAMS("/usr/sbin/sshd", "ssh");
  snprintf(key, sizeof(key), "%s", test_path("id_rsa"));
  keygen("rsa", "3072", NULL, NULL, key);
  keys[0] = key;
  keys[1] = NULL;
  start_sshd(&s, "sshd", keys);
  ASSERT_EQ(test_run_simple(
                (const char *[]){"/usr/sbin/sshd", "-T", "-f", s.config, NULL},
                &out, NULL),
            0);
  {
    char *line = strstr(out, "\npubkeyacceptedalgorithms ");
    char *end;
    ASSERT(line != NULL);
    end = strchr(line + 1, '\n');
    ASSERT(end != NULL);
    *end = ',';
    end[1] = '\0';
    ASSERT_STR_CONTAINS(line, ",rsa-sha2-512,");
    ASSERT(strstr(line, " ssh-rsa,") == NULL &&
           strstr(line, ",ssh-rsa,") == NULL);
  }
  free(out);
  /* SHA-1 only: refused.  The client's defaults (rsa-sha2-512): let in. */
  for (int sha1 = 1; sha1 >= 0; sha1--) {
    test_argv_t a = {0};
    test_argv_add(&a, "ssh", NULL);
    test_argv_ssh_opts(&a, "-p", s.port, key, s.known_hosts);
    test_argv_add(&a, "-o", "IdentityAgent=none", NULL);
    if (sha1)
      test_argv_add(&a, "-o", "PubkeyAcceptedAlgorithms=ssh-rsa", NULL);
    test_argv_add(&a, "-l", s.user, s.addr, "true", NULL);
    ASSERT_EQ(test_run_simple(a.v, NULL, NULL), sha1 ? 255 : 0);
  }
  ASSERT_GE(log_find(&s, "ssh-rsa not in PubkeyAcceptedAlgorithms", 0), 0);
  test_sshd_stop(&s);
  return 0;
}

/* Key files of every kind, each the only identity of a fresh pool. */
TEST_IMPL_T(pool_auth_key_files, 180) {
  static const struct {
    const char *type, *bits, *format, *name, *alg, *logtype;
  } kinds[] = {
      {"rsa", "3072", NULL, "rsa_openssh", "rsa-sha2-512", "RSA"},
      {"rsa", "2048", "PEM", "rsa_pem", "rsa-sha2-512", "RSA"},
      {"rsa", "3072", "PKCS8", "rsa_pkcs8", "rsa-sha2-512", "RSA"},
      {"ecdsa", "256", NULL, "ecdsa256", "ecdsa-sha2-nistp256", "ECDSA"},
      {"ecdsa", "384", NULL, "ecdsa384", "ecdsa-sha2-nistp384", "ECDSA"},
      {"ecdsa", "521", "PEM", "ecdsa521_pem", "ecdsa-sha2-nistp521", "ECDSA"},
      {"ed25519", NULL, NULL, "ed25519", "ssh-ed25519", "ED25519"},
  };
  enum { N = sizeof(kinds) / sizeof(kinds[0]) };
  char paths[N][600];
  const char *keys[N + 1];
  char want[300], err[300];
  test_sshd s;
  long at = 0;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  for (size_t i = 0; i < N; i++) {
    snprintf(paths[i], sizeof(paths[i]), "%s", test_path(kinds[i].name));
    keygen(kinds[i].type, kinds[i].bits, kinds[i].format, NULL, paths[i]);
    keys[i] = paths[i];
  }
  keys[N] = NULL;
  start_sshd(&s, "sshd", keys);
  for (size_t i = 0; i < N; i++) {
    const char *ids[2] = {paths[i], NULL};
    login_t l = {ids, "none", 0, NULL, NULL};
    int st = login(&s, &l, NULL, err, sizeof(err));
    if (st != 0) {
      test_sshd_dump_log(&s);
      test_fail(__FILE__, __LINE__, "%s: %d %s", kinds[i].name, st, err);
    }
    snprintf(want, sizeof(want), "pkalg %s pkblob %s %s", kinds[i].alg,
             kinds[i].logtype, fingerprint(paths[i]));
    at = log_find(&s, want, at);
    ASSERT_GE(at, 0);
    snprintf(want, sizeof(want), "Accepted publickey for %s", s.user);
    at = log_find(&s, want, at);
    ASSERT_GE(at, 0);
  }
  /* Never a SHA-1 attempt. */
  ASSERT_EQ(log_find(&s, "pkalg ssh-rsa ", 0), -1);
  ASSERT_EQ(log_find(&s, "not in PubkeyAcceptedAlgorithms", 0), -1);
  test_sshd_stop(&s);
  return 0;
}

/* Passphrase prompts: decide_data counts answers; the first `wrong` ones
 * are wrong. */
typedef struct {
  const char *good;
  int wrong;
  int asked;
  char text[300];
} pass_t;

static int answer_pass(ph_t *h, sshmux_prompt_t *p, const char **answers) {
  pass_t *ps = h->decide_data;
  ASSERT_EQ(sshmux_prompt_kind(p), SSHMUX_PROMPT_PASSPHRASE);
  ASSERT_EQ(sshmux_prompt_count(p), 1);
  ASSERT_EQ(sshmux_prompt_echo(p, 0), 0);
  snprintf(ps->text, sizeof(ps->text), "%s", sshmux_prompt_text(p, 0));
  answers[0] = ps->asked++ < ps->wrong ? "not-the-passphrase" : ps->good;
  return ps->good != NULL ? 1 : 0;
}

/* An encrypted key (OpenSSH format, bcrypt KDF) asks once for two logins
 * in the same pool, on two different upstreams. */
TEST_IMPL_T(pool_auth_encrypted_once, 180) {
  static const struct {
    const char *type, *format, *name;
  } kinds[] = {{"rsa", NULL, "rsa_enc"},
               {"ed25519", NULL, "ed_enc"},
               {"ecdsa", "PEM", "ecdsa_pem_enc"},
               {"rsa", "PEM", "rsa_pem_enc"}};
  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
    char key[600];
    const char *keys[2] = {key, NULL};
    const char *ids[2] = {key, NULL};
    const char *khs[3];
    test_sshd a, b;
    sshmux_pool_options_t o;
    sshmux_target_t ta, tb;
    pass_t ps = {"correct horse", 0, 0, ""};
    ph_job_t ja, jb;
    ph_t h;

    snprintf(key, sizeof(key), "%s", test_path(kinds[k].name));
    keygen(kinds[k].type, NULL, kinds[k].format, "correct horse", key);
    start_sshd(&a, "sshd_a", keys);
    start_sshd(&b, "sshd_b", keys);
    ph_options(&o, NULL);
    khs[0] = a.known_hosts;
    khs[1] = b.known_hosts;
    khs[2] = NULL;
    o.known_hosts = khs;
    ph_init(&h, &o);
    ph_prompts(&h, answer_pass, &ps);
    ph_target(&ta, &a);
    ta.identity_files = ids;
    tb = ta;
    tb.port = b.port;
    memset(&ja, 0, sizeof(ja));
    memset(&jb, 0, sizeof(jb));
    if (k % 2 == 0) {
      /* One after the other. */
      ph_exec(&h, &ta, "echo a-ok", &ja);
      ph_run_until(&h, &ja.done, 60000);
      ASSERT_EQ(ja.open_status, 0);
      ASSERT_EQ(ps.asked, 1);
      ph_exec(&h, &tb, "echo b-ok", &jb);
      ph_run_until(&h, &jb.done, 60000);
    } else {
      /* Both logins at once: one asks, the other waits for its answer. */
      ph_exec(&h, &ta, "echo a-ok", &ja);
      ph_exec(&h, &tb, "echo b-ok", &jb);
      ph_run_until(&h, &ja.done, 60000);
      ph_run_until(&h, &jb.done, 60000);
    }
    ASSERT_EQ(ja.open_status, 0);
    ASSERT_STR_EQ(ja.out, "a-ok\n");
    ASSERT_STR_CONTAINS(ps.text, key);
    ASSERT_EQ(jb.open_status, 0);
    ASSERT_STR_EQ(jb.out, "b-ok\n");
    ASSERT_EQ(ps.asked, 1); /* not asked again */
    ASSERT_EQ(h.nprompts, 1);
    ph_close(&h);
    test_sshd_stop(&a);
    test_sshd_stop(&b);
  }
  return 0;
}

/* A wrong passphrase is asked again (as ssh does, up to 3 times); a
 * cancelled one falls through to the next method and the login fails
 * cleanly, keeping nothing. */
TEST_IMPL_T(pool_auth_passphrase_retry, 120) {
  char key[600], err[300];
  const char *keys[2] = {key, NULL};
  const char *ids[2] = {key, NULL};
  pass_t ps = {"sesame", 2, 0, ""};
  login_t l = {ids, "none", 0, answer_pass, &ps};
  test_sshd s;
  int prompts = 0;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  snprintf(key, sizeof(key), "%s", test_path("id_enc"));
  keygen("ed25519", NULL, NULL, "sesame", key);
  start_sshd(&s, "sshd", keys);
  ASSERT_EQ(login(&s, &l, &prompts, err, sizeof(err)), 0);
  ASSERT_EQ(prompts, 3);
  /* Three wrong answers: the key is given up, the login fails. */
  ps.asked = 0;
  ps.wrong = 5;
  ASSERT_EQ(login(&s, &l, &prompts, err, sizeof(err)), SSHMUX_EAUTH);
  ASSERT_EQ(prompts, 3);
  /* Cancelled: asked once, nothing cached: the next login asks again. */
  ps.asked = 0;
  ps.good = NULL;
  ASSERT_EQ(login(&s, &l, &prompts, err, sizeof(err)),
            SSHMUX_EPROMPT_CANCELLED);
  ASSERT_EQ(prompts, 1);
  ASSERT_STR_CONTAINS(err, "passphrase not given");
  test_sshd_stop(&s);
  return 0;
}

/* Three real keys in a real agent. */
typedef struct {
  char rsa[600], ecdsa[600], ed[600];
} agent_keys_t;

static void make_agent_keys(agent_keys_t *k) {
  snprintf(k->rsa, sizeof(k->rsa), "%s", test_path("agent_rsa"));
  snprintf(k->ecdsa, sizeof(k->ecdsa), "%s", test_path("agent_ecdsa"));
  snprintf(k->ed, sizeof(k->ed), "%s", test_path("agent_ed25519"));
  keygen("rsa", "3072", NULL, NULL, k->rsa);
  keygen("ecdsa", "256", NULL, NULL, k->ecdsa);
  keygen("ed25519", NULL, NULL, NULL, k->ed);
}

/* Each key alone in the agent logs in, through SSH_AUTH_SOCK. */
TEST_IMPL_T(pool_auth_agent_each_key, 180) {
  agent_keys_t k;
  test_agent ag;
  test_sshd s;
  char want[300], err[300];
  const char *all[4];
  long at = 0;

  TEST_REQUIRE_PROGRAMS("/usr/sbin/sshd", "ssh-agent");
  make_agent_keys(&k);
  all[0] = k.rsa;
  all[1] = k.ecdsa;
  all[2] = k.ed;
  all[3] = NULL;
  start_sshd(&s, "sshd", all);
  ASSERT_EQ(test_agent_start(&ag, "agent", NULL), 0);
  ASSERT_EQ(setenv("SSH_AUTH_SOCK", ag.sock, 1), 0);
  for (int i = 0; i < 3; i++) {
    static const char *algs[] = {"rsa-sha2-512 pkblob RSA",
                                 "ecdsa-sha2-nistp256 pkblob ECDSA",
                                 "ssh-ed25519 pkblob ED25519"};
    login_t l = {NULL, NULL, 1, NULL, NULL};
    ASSERT_EQ(test_agent_clear(&ag), 0);
    ASSERT_EQ(test_agent_add(&ag, all[i], 0), 0);
    ASSERT_EQ(login(&s, &l, NULL, err, sizeof(err)), 0);
    snprintf(want, sizeof(want), "pkalg %s %s", algs[i], fingerprint(all[i]));
    at = log_find(&s, want, at);
    if (at < 0)
      test_sshd_dump_log(&s);
    ASSERT_GE(at, 0);
    at = log_find(&s, "Accepted publickey", at);
    ASSERT_GE(at, 0);
  }
  ASSERT_EQ(log_find(&s, "pkalg ssh-rsa ", 0), -1);
  unsetenv("SSH_AUTH_SOCK");
  test_agent_stop(&ag);
  test_sshd_stop(&s);
  return 0;
}

/* Every agent key is tried, in the agent's order, until one is let in;
 * the route's identity_agent names the socket (SSH_AUTH_SOCK unset) or
 * turns the agent off ("none", SSH_AUTH_SOCK set). */
TEST_IMPL_T(pool_auth_agent_order_and_socket, 120) {
  agent_keys_t k;
  test_agent ag;
  test_sshd s;
  char err[300];
  long r, e, d;

  TEST_REQUIRE_PROGRAMS("/usr/sbin/sshd", "ssh-agent");
  make_agent_keys(&k);
  start_sshd_one(&s, k.ed);
  ASSERT_EQ(test_agent_start(&ag, "agent", NULL), 0);
  ASSERT_EQ(test_agent_add(&ag, k.rsa, 0), 0);
  ASSERT_EQ(test_agent_add(&ag, k.ecdsa, 0), 0);
  ASSERT_EQ(test_agent_add(&ag, k.ed, 0), 0);
  unsetenv("SSH_AUTH_SOCK");
  {
    login_t l = {NULL, ag.sock, 1, NULL, NULL};
    ASSERT_EQ(login(&s, &l, NULL, err, sizeof(err)), 0);
  }
  r = log_find(&s, "pkalg rsa-sha2-512 pkblob RSA", 0);
  e = log_find(&s, "pkalg ecdsa-sha2-nistp256 pkblob ECDSA", 0);
  d = log_find(&s, "pkalg ssh-ed25519 pkblob ED25519", 0);
  ASSERT(r >= 0 && e > r && d > e);
  /* identity_agent = none: the agent is not asked even with
   * SSH_AUTH_SOCK set, and nothing else is there to try. */
  ASSERT_EQ(setenv("SSH_AUTH_SOCK", ag.sock, 1), 0);
  {
    long before = log_find(&s, "Accepted publickey", 0);
    login_t l = {NULL, "none", 1, NULL, NULL};
    ASSERT_NE(login(&s, &l, NULL, err, sizeof(err)), 0);
    ASSERT_EQ(log_find(&s, "pkalg", before + 1), -1);
  }
  /* The pool option use_agent = 0 turns SSH_AUTH_SOCK off too. */
  {
    login_t l = {NULL, NULL, 0, NULL, NULL};
    ASSERT_NE(login(&s, &l, NULL, err, sizeof(err)), 0);
  }
  unsetenv("SSH_AUTH_SOCK");
  test_agent_stop(&ag);
  test_sshd_stop(&s);
  return 0;
}

/* A route that names an identity tries only that key (IdentitiesOnly):
 * another agent key the server would accept is not offered; the named
 * key is used from the agent when only its .pub is on disk. */
TEST_IMPL_T(pool_auth_agent_identities_only, 120) {
  agent_keys_t k;
  test_agent ag;
  test_sshd s, s2;
  char err[300], pub[700], moved[700];
  const char *ed_only[2], *ecdsa_only[2], *ids[2];

  TEST_REQUIRE_PROGRAMS("/usr/sbin/sshd", "ssh-agent");
  make_agent_keys(&k);
  ed_only[0] = k.ed;
  ed_only[1] = NULL;
  ecdsa_only[0] = k.ecdsa;
  ecdsa_only[1] = NULL;
  start_sshd(&s, "sshd", ed_only);
  start_sshd(&s2, "sshd2", ecdsa_only);
  ASSERT_EQ(test_agent_start(&ag, "agent", NULL), 0);
  ASSERT_EQ(test_agent_add(&ag, k.ed, 0), 0);
  ASSERT_EQ(test_agent_add(&ag, k.ecdsa, 0), 0);
  ASSERT_EQ(setenv("SSH_AUTH_SOCK", ag.sock, 1), 0);
  /* The route names the ECDSA key; s only lets the Ed25519 key in, which
   * the agent holds: it must not be offered. */
  ids[0] = k.ecdsa;
  ids[1] = NULL;
  {
    login_t l = {ids, NULL, 1, NULL, NULL};
    ASSERT_EQ(login(&s, &l, NULL, err, sizeof(err)), SSHMUX_EAUTH);
    ASSERT_EQ(log_find(&s, "pkalg ssh-ed25519", 0), -1);
    ASSERT_GE(log_find(&s, "pkalg ecdsa-sha2-nistp256", 0), 0);
  }
  /* Only the .pub of the named key on disk: the agent signs with it. */
  snprintf(moved, sizeof(moved), "%s.away", k.ecdsa);
  ASSERT_EQ(rename(k.ecdsa, moved), 0);
  snprintf(pub, sizeof(pub), "%s.pub", k.ecdsa);
  ASSERT_EQ(access(pub, R_OK), 0);
  {
    login_t l = {ids, NULL, 1, NULL, NULL};
    ASSERT_EQ(login(&s2, &l, NULL, err, sizeof(err)), 0);
    ASSERT_EQ(log_find(&s2, "pkalg ssh-ed25519", 0), -1);
  }
  unsetenv("SSH_AUTH_SOCK");
  test_agent_stop(&ag);
  test_sshd_stop(&s);
  test_sshd_stop(&s2);
  return 0;
}

/* A missing or dead agent: the next method (the key file) logs in, and
 * the log says why the agent was skipped. */
TEST_IMPL_T(pool_auth_agent_dead, 120) {
  char key[600], err[300], stale[600];
  const char *keys[2] = {key, NULL};
  const char *ids[2] = {key, NULL};
  struct sockaddr_un sa;
  test_sshd s;
  int fd;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  snprintf(key, sizeof(key), "%s", test_path("id_file"));
  keygen("ed25519", NULL, NULL, NULL, key);
  start_sshd(&s, "sshd", keys);
  /* A socket nobody listens on any more (ECONNREFUSED). */
  snprintf(stale, sizeof(stale), "%s", test_path("stale.sock"));
  fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  ASSERT_LT(strlen(stale), sizeof(sa.sun_path));
  memcpy(sa.sun_path, stale, strlen(stale) + 1);
  ASSERT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(fd);
  capture_start();
  {
    login_t l = {ids, test_path("no-such-agent.sock"), 1, NULL, NULL};
    ASSERT_EQ(login(&s, &l, NULL, err, sizeof(err)), 0);
  }
  ASSERT_STR_CONTAINS(lib_log, "no-such-agent.sock");
  ASSERT_STR_CONTAINS(lib_log, "trying the next method");
  capture_start();
  ASSERT_EQ(setenv("SSH_AUTH_SOCK", stale, 1), 0);
  {
    login_t l = {ids, NULL, 1, NULL, NULL};
    ASSERT_EQ(login(&s, &l, NULL, err, sizeof(err)), 0);
  }
  ASSERT_STR_CONTAINS(lib_log, "stale.sock");
  ASSERT_STR_CONTAINS(lib_log, "trying the next method");
  /* Something that is not an agent: it answers garbage, or hangs up. */
  for (int mode = 0; mode < 2; mode++) {
    char prog[1200], sock[600];
    int pid;
    snprintf(sock, sizeof(sock), "%s",
             test_path(mode ? "hangup.sock" : "garbage.sock"));
    snprintf(prog, sizeof(prog),
             "import socket\n"
             "s=socket.socket(socket.AF_UNIX)\n"
             "s.bind('%s')\n"
             "s.listen(4)\n"
             "while True:\n"
             "  c,_=s.accept()\n"
             "  c.recv(100)\n"
             "  if %d: c.close()\n"
             "  else: c.sendall(bytes([0,0,0,6,12,104,101,108,108,111]))\n",
             sock, mode);
    pid = test_spawn((const char *[]){"/usr/bin/python3", "-c", prog, NULL},
                     test_path("fake-agent.log"));
    for (int i = 0; i < 100 && access(sock, F_OK) != 0; i++)
      usleep(50000);
    ASSERT_EQ(access(sock, F_OK), 0);
    capture_start();
    {
      login_t l = {ids, sock, 1, NULL, NULL};
      ASSERT_EQ(login(&s, &l, NULL, err, sizeof(err)), 0);
    }
    ASSERT_STR_CONTAINS(lib_log, sock);
    ASSERT_STR_CONTAINS(lib_log, "trying the next method");
    test_kill(pid);
  }
  sshmux_set_log_cb(NULL, SSHMUX_LOG_INFO, NULL);
  unsetenv("SSH_AUTH_SOCK");
  test_sshd_stop(&s);
  return 0;
}

/* `ssh-add -c`: the agent asks its askpass before every signature.  A
 * slow "yes" (longer than a person needs to read the question) logs in;
 * a "no" fails that key cleanly and the pool goes on serving. */
TEST_IMPL_T(pool_auth_agent_confirm, 180) {
  agent_keys_t k;
  test_agent ag;
  test_sshd s;
  char err[300], asked[700], yes[600], no[600], *data;

  TEST_REQUIRE_PROGRAMS("/usr/sbin/sshd", "ssh-agent");
  make_agent_keys(&k);
  start_sshd_one(&s, k.rsa);
  snprintf(yes, sizeof(yes), "%s", test_path("askpass-yes"));
  /* 4 s in make check; SSHMUX_TEST_CONFIRM_DELAY=40 shows an answer slower
   * than libssh2's own 30 s timeout still getting in. */
  ASSERT_EQ(
      test_agent_askpass_script(yes,
                                getenv("SSHMUX_TEST_CONFIRM_DELAY") != NULL
                                    ? atoi(getenv("SSHMUX_TEST_CONFIRM_DELAY"))
                                    : 4,
                                0),
      0);
  ASSERT_EQ(test_agent_start(&ag, "agent", yes), 0);
  ASSERT_EQ(test_agent_add(&ag, k.rsa, 1), 0);
  unsetenv("SSH_AUTH_SOCK");
  {
    login_t l = {NULL, ag.sock, 1, NULL, NULL};
    ASSERT_EQ(login(&s, &l, NULL, err, sizeof(err)), 0);
  }
  snprintf(asked, sizeof(asked), "%s.asked", yes);
  data = test_read_file(asked, NULL);
  ASSERT(data != NULL);
  ASSERT_STR_CONTAINS(data, "Allow use of key");
  ASSERT_STR_CONTAINS(data, fingerprint(k.rsa));
  free(data);
  ASSERT_GE(log_find(&s, "pkalg rsa-sha2-512 pkblob RSA", 0), 0);
  test_agent_stop(&ag);
  /* Refused by the person: the key fails, the login ends cleanly. */
  snprintf(no, sizeof(no), "%s", test_path("askpass-no"));
  ASSERT_EQ(test_agent_askpass_script(no, 1, 1), 0);
  ASSERT_EQ(test_agent_start(&ag, "agent2", no), 0);
  ASSERT_EQ(test_agent_add(&ag, k.rsa, 1), 0);
  {
    login_t l = {NULL, ag.sock, 1, NULL, NULL};
    ASSERT_EQ(login(&s, &l, NULL, err, sizeof(err)), SSHMUX_EAUTH);
  }
  snprintf(asked, sizeof(asked), "%s.asked", no);
  ASSERT_EQ(access(asked, F_OK), 0);
  test_agent_stop(&ag);
  test_sshd_stop(&s);
  return 0;
}

/* Passphrase prompts are cancelled, one-time codes answered. */
static int cancel_pass_answer_otp(ph_t *h, sshmux_prompt_t *p,
                                  const char **answers) {
  if (sshmux_prompt_kind(p) == SSHMUX_PROMPT_PASSPHRASE)
    return 0;
  ASSERT_EQ(sshmux_prompt_kind(p), SSHMUX_PROMPT_KBDINT);
  static char code[7];
  ASSERT_OK(test_otp_next_code(h->decide_data, code));
  answers[0] = code;
  return 1;
}

/* The next method after public keys: an encrypted key whose passphrase is
 * cancelled, then a dead agent, each fall through to keyboard-interactive
 * on a server that takes either (AuthenticationMethods any). */
TEST_IMPL_T(pool_auth_fallback_to_kbdint, 120) {
  test_otp_sshd otp;
  test_sshd_opts so = {0};
  sshmux_conn_stats_t cs;
  char key[600], *pub;
  const char *ids[2] = {key, NULL};
  ph_job_t j;
  size_t n;
  ph_t h;

  TEST_REQUIRE_OTP();
  snprintf(key, sizeof(key), "%s", test_path("id_enc"));
  keygen("ed25519", NULL, NULL, "unknown to the person", key);
  pub = pub_line(key);
  so.extra_authorized_keys = pub;
  ph_otp_fixture(&h, &otp, &(test_otp_opts){.either = 1}, &so);
  free(pub);
  h.o.use_agent = 1;
  for (int round = 0; round < 2; round++) {
    ph_init(&h, &h.o);
    ph_prompts(&h, cancel_pass_answer_otp, &otp);
    if (round == 0) {
      h.t.identity_files = ids; /* its passphrase will be cancelled */
      h.t.identity_agent = "none";
    } else {
      h.t.identity_files = NULL;
      h.t.identity_agent = test_path("dead-agent.sock");
    }
    memset(&j, 0, sizeof(j));
    ph_exec(&h, &h.t, "echo otp-ok", &j);
    ph_run_until(&h, &j.done, 60000);
    if (j.open_status != 0)
      test_fail(__FILE__, __LINE__, "round %d: %d %s", round, j.open_status,
                j.errmsg);
    ASSERT_STR_EQ(j.out, "otp-ok\n");
    ASSERT_EQ(h.nprompts, round == 0 ? 2 : 1);
    ASSERT_EQ(h.prompts[0].kind,
              round == 0 ? SSHMUX_PROMPT_PASSPHRASE : SSHMUX_PROMPT_KBDINT);
    ASSERT_OK(sshmux_pool_stats(h.pool, NULL, &cs, 1, &n));
    ASSERT_EQ(n, 1);
    ASSERT_STR_EQ(cs.auth_methods, "keyboard-interactive");
    ph_close(&h);
  }
  test_otp_sshd_stop(&otp);
  return 0;
}

/* The Ed25519 seed inside an unencrypted OpenSSH key file: the private
 * section holds string(seed || pk); pk comes from the .pub line.  Decoded
 * on the stack (no library allocation: the scan must not see it). */
static void ed25519_seed(const char *key, uint8_t seed[32]) {
  static uint8_t raw[4096], pk[64];
  char *text = test_read_file(key, NULL), b64[6000], pub[700], *pl, *sp;
  size_t n = 0, rl = 0, pn = 0;
  int found = 0;

  ASSERT(text != NULL);
  for (char *p = strchr(text, '\n') + 1; *p && strncmp(p, "-----END", 8); p++)
    if (*p != '\n' && n < sizeof(b64))
      b64[n++] = *p;
  ASSERT_OK(sshmux__base64_decode(b64, n, raw, sizeof(raw), &rl));
  snprintf(pub, sizeof(pub), "%s.pub", key);
  pl = test_read_file(pub, NULL);
  ASSERT(pl != NULL);
  sp = strchr(pl, ' ') + 1;
  ASSERT_OK(sshmux__base64_decode(sp, strcspn(sp, " \n"), pk, sizeof(pk), &pn));
  ASSERT_EQ(pn, 51); /* string "ssh-ed25519", string pk(32) */
  for (size_t i = 0; i + 4 + 64 <= rl; i++)
    if (memcmp(raw + i, "\0\0\0\x40", 4) == 0 &&
        memcmp(raw + i + 4 + 32, pk + 19, 32) == 0) {
      memcpy(seed, raw + i + 4, 32);
      found = 1;
      break;
    }
  ASSERT(found);
  free(text);
  free(pl);
}

/* Every block the library frees -- its own and libssh2's -- is scanned
 * (tests/scan-alloc.h) after a login with an encrypted key and the pool's
 * close: neither the passphrase nor the decrypted private key is left in
 * freed memory (the key cache is wiped when the pool goes). */
TEST_IMPL_T(pool_auth_secrets_wiped, 90) {
  static const char pass[] = "the passphrase to look for";
  char key[600];
  const char *keys[2] = {key, NULL};
  pass_t ps = {pass, 0, 0, ""};
  uint8_t seed[32];
  test_sshd s;
  ph_job_t j;
  ph_t h;
  sshmux_pool_options_t o;
  sshmux_target_t t;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  scan_alloc_install();
  snprintf(key, sizeof(key), "%s", test_path("id_scan"));
  keygen("ed25519", NULL, NULL, NULL, key);
  ed25519_seed(key, seed);
  ASSERT_EQ(test_run_simple((const char *[]){"ssh-keygen", "-q", "-p", "-P", "",
                                             "-N", pass, "-f", key, NULL},
                            NULL, NULL),
            0);
  start_sshd(&s, "sshd", keys);
  scan_alloc_needle("the passphrase", pass, sizeof(pass));
  scan_alloc_needle("the private key's seed", seed, sizeof(seed));
  ph_options(&o, s.known_hosts);
  ph_init(&h, &o);
  ph_prompts(&h, answer_pass, &ps);
  ph_target(&t, &s);
  t.identity_files = keys;
  t.identity_agent = "none";
  memset(&j, 0, sizeof(j));
  ph_exec(&h, &t, "echo scan-ok", &j);
  ph_run_until(&h, &j.done, 60000);
  ASSERT_EQ(j.open_status, 0);
  ASSERT_STR_EQ(j.out, "scan-ok\n");
  ASSERT_EQ(ps.asked, 1);
  ph_close(&h);
  scan_alloc_check();
  test_sshd_stop(&s);
  SCAN_ALLOC_EXPECT_CLEAN(50, "a secret");
  sshmux__wipe(seed, sizeof(seed));
  return 0;
}
