/* test-knownhosts.c -- our known_hosts reader and appender against the
 * format OpenSSH defines and against OpenSSH itself: hashed entries made by
 * the real `ssh-keygen -H`, and a line we append accepted by the real ssh
 * with StrictHostKeyChecking=yes against the real sshd fixture. */
#include <sys/stat.h>
#include <unistd.h>

#include "fixture-sshd.h"
#include "core/core.h"
#include "knownhosts/knownhosts.h"
#include "crypto/crypto.h"
#include "test.h"

/* A public key from an ssh-keygen .pub file: its type, base64 text and
 * decoded blob. */
typedef struct {
  char type[64];
  char b64[1024];
  uint8_t blob[1024];
  size_t len;
} pubkey_t;

static void load_pub(const char *pubfile, pubkey_t *k) {
  char *text = test_read_file(pubfile, NULL);

  ASSERT(text != NULL);
  ASSERT_EQ(sscanf(text, "%63s %1023s", k->type, k->b64), 2);
  free(text);
  ASSERT_OK(sshmux__base64_decode(k->b64, strlen(k->b64), k->blob,
                                  sizeof(k->blob), &k->len));
}

/* A fresh key pair of the given type under the test dir. */
static void new_key(const char *type, const char *name, pubkey_t *k) {
  char pub[1100];

  ASSERT_EQ(test_keygen(type, test_path(name), NULL), 0);
  snprintf(pub, sizeof(pub), "%s.pub", test_path(name));
  load_pub(pub, k);
}
/* new_key() as a statement that returns from the test on skip. */
#define NEW_KEY(type, name, k)                                                 \
  do {                                                                         \
    int r__ = test_require_program("ssh-keygen");                              \
    if (r__ != 0)                                                              \
      return r__;                                                              \
    new_key(type, name, k);                                                    \
  } while (0)

/* Check host:port with key k against the in-memory file text. */
static sshmux__kh_result_t check_mem(const char *text, const char *host,
                                     int port, const pubkey_t *k) {
  sshmux__kh_result_t res;

  ASSERT_OK(sshmux__known_hosts_check_mem("mem", text, strlen(text), host, port,
                                          k->type, k->blob, k->len, &res));
  return res;
}

/* The same against the files, in order. */
static sshmux__kh_result_t check_in(const char *const *files, size_t n,
                                    const char *host, int port,
                                    const pubkey_t *k) {
  sshmux__kh_result_t res;

  ASSERT_OK(sshmux__known_hosts_check(files, n, host, port, k->type, k->blob,
                                      k->len, &res));
  return res;
}

#define EXPECT(text, host, port, k, want_status, want_line)                    \
  do {                                                                         \
    sshmux__kh_result_t r_ = check_mem(text, host, port, k);                   \
    ASSERT_EQ(r_.status, want_status);                                         \
    ASSERT_EQ(r_.line, want_line);                                             \
  } while (0)

/* A line "PREFIX TYPE BASE64 SUFFIX\n" appended to buf. */
static void add_line(char *buf, size_t size, const char *prefix,
                     const pubkey_t *k, const char *suffix) {
  size_t n = strlen(buf);
  snprintf(buf + n, size - n, "%s %s %s%s\n", prefix, k->type, k->b64,
           suffix ? suffix : "");
}

/* The checks of the tests below that are a known_hosts text and the
 * answers for some hosts, in two tables: the lines of each file (its name
 * within the test, e.g. "wildcards" or "changed_2": a file made of the
 * rows named so, in order, each "NAMES TYPE BASE64[SUFFIX]" for the
 * test's key number `key`), and what each host:port presented with key
 * number `key` gives against that file (a status and the line, 0 for
 * none).  A failed check names its row's line below. */
typedef struct {
  const char *file, *names;
  int key;
  const char *suffix;
} kh_line_t;
typedef struct {
  const char *file, *host;
  int port, key;
  sshmux__kh_status_t status;
  int line, src;
} kh_case_t;
#define L(file, names, key, suffix)                                            \
  { file, names, key, suffix }
#define C(file, host, port, key, status, line)                                 \
  { file, host, port, key, SSHMUX__KH_##status, line, __LINE__ }

/* clang-format off */
static const kh_line_t kh_lines[] = {
    L("plain", "host.example", 0, NULL),
    L("plain", "[host.example]:2222", 1, NULL),
    L("several", "alpha,beta.example,10.0.0.1,[10.0.0.1]:2200,::1", 0,
      " comment words here"),
    L("wildcards", "*.example.com", 0, NULL),       /* 1 */
    L("wildcards", "node?", 0, NULL),               /* 2 */
    L("wildcards", "[*.ports.test]:2222", 0, NULL), /* 3 */
    L("wildcards", "10.9.*.?", 0, NULL),            /* 4 */
    L("wildcards", "a*b*c", 0, NULL),               /* 5 */
    L("star", "*", 0, NULL),
    L("negation", "*.example.com,!secret.example.com", 0, NULL),
    L("negation", "!*.internal,*", 0, NULL),
    L("negation_1", "*.example.com,!secret.example.com", 0, NULL),
    L("negation_alone", "!other", 0, NULL),
    L("changed_1", "host", 0, NULL),
    L("changed_2", "host", 0, NULL),
    L("changed_2", "host", 1, NULL),
    L("changed_3", "host", 0, NULL),
    L("changed_3", "host", 1, NULL),
    L("changed_3", "host", 2, NULL),
    L("revoked", "host", 0, NULL),           /* 1 */
    L("revoked", "@revoked host", 0, NULL),  /* 2 */
    L("revoked", "@revoked *", 2, NULL),     /* 3 */
};

static const kh_case_t kh_cases[] = {
    /* Port 22 is the plain name; any other port is "[host]:port". */
    C("plain", "host.example", 22, 0, MATCH, 1),
    C("plain", "host.example", 2222, 1, MATCH, 2),
    C("plain", "host.example", 22, 1, CHANGED, 1),
    C("plain", "host.example", 2222, 0, CHANGED, 2),
    C("plain", "host.example", 2223, 0, NOTFOUND, 0),
    C("plain", "other.example", 22, 0, NOTFOUND, 0),
    /* Names compare case-insensitively (ssh lower-cases them). */
    C("plain", "HOST.Example", 22, 0, MATCH, 1),
    /* Prefixes and suffixes are not matches. */
    C("plain", "host.exampl", 22, 0, NOTFOUND, 0),
    C("plain", "host.example.", 22, 0, NOTFOUND, 0),
    /* Several names on a line, and a comment after the key. */
    C("several", "alpha", 22, 0, MATCH, 1),
    C("several", "beta.example", 22, 0, MATCH, 1),
    C("several", "10.0.0.1", 22, 0, MATCH, 1),
    C("several", "10.0.0.1", 2200, 0, MATCH, 1),
    C("several", "::1", 22, 0, MATCH, 1),
    C("several", "gamma", 22, 0, NOTFOUND, 0),
    C("several", "10.0.0.1", 2201, 0, NOTFOUND, 0),
    C("wildcards", "www.example.com", 22, 0, MATCH, 1),
    C("wildcards", "A.B.EXAMPLE.COM", 22, 0, MATCH, 1),
    C("wildcards", "example.com", 22, 0, NOTFOUND, 0),
    /* A plain pattern does not match the bracketed non-22 name. */
    C("wildcards", "www.example.com", 2222, 0, NOTFOUND, 0),
    C("wildcards", "node1", 22, 0, MATCH, 2),
    C("wildcards", "node12", 22, 0, NOTFOUND, 0),
    C("wildcards", "node", 22, 0, NOTFOUND, 0),
    C("wildcards", "x.ports.test", 2222, 0, MATCH, 3),
    C("wildcards", "x.ports.test", 22, 0, NOTFOUND, 0),
    C("wildcards", "x.ports.test", 2223, 0, NOTFOUND, 0),
    C("wildcards", "10.9.200.7", 22, 0, MATCH, 4),
    C("wildcards", "10.9.200.77", 22, 0, NOTFOUND, 0),
    C("wildcards", "aXXbYYc", 22, 0, MATCH, 5),
    C("wildcards", "abc", 22, 0, MATCH, 5),
    C("wildcards", "abcd", 22, 0, NOTFOUND, 0),
    /* "*" alone names every host, whatever the port. */
    C("star", "anything", 22, 0, MATCH, 1),
    C("star", "anything", 2222, 0, MATCH, 1),
    C("negation", "www.example.com", 22, 0, MATCH, 1),
    /* The wildcard would match; the negation removes the host from line
     * 1, and line 2 names everything but *.internal, so it still matches
     * there -- proving the negation is per line. */
    C("negation", "secret.example.com", 22, 0, MATCH, 2),
    C("negation", "db.internal", 22, 0, NOTFOUND, 0),
    C("negation_1", "secret.example.com", 22, 0, NOTFOUND, 0),
    /* A negation alone names nothing. */
    C("negation_alone", "host", 22, 0, NOTFOUND, 0),
    /* Keys 0 and 1 are ed25519, 2 ecdsa. */
    C("changed_1", "host", 22, 1, CHANGED, 1),
    /* Another key type known for the host is not a change. */
    C("changed_1", "host", 22, 2, NOTFOUND, 0),
    /* A later line with the presented key makes it a match. */
    C("changed_2", "host", 22, 1, MATCH, 2),
    C("changed_3", "host", 22, 2, MATCH, 3),
    /* Revoked wins even though line 1 lists the key as known. */
    C("revoked", "host", 22, 0, REVOKED, 2),
    C("revoked", "elsewhere", 2222, 2, REVOKED, 3),
    /* A revocation for one host does not touch another. */
    C("revoked", "elsewhere", 22, 0, NOTFOUND, 0),
};
/* clang-format on */
#undef L
#undef C

/* Into buf: the lines of that file (there is at least one). */
static void make_file(const char *file, const pubkey_t *keys, char *buf,
                      size_t size) {
  buf[0] = '\0';
  for (size_t i = 0; i < SSHMUX__ARRAY_SIZE(kh_lines); i++)
    if (strcmp(kh_lines[i].file, file) == 0)
      add_line(buf, size, kh_lines[i].names, &keys[kh_lines[i].key],
               kh_lines[i].suffix);
  ASSERT_GT(strlen(buf), 0);
}

/* Every case of each file named (there is at least one per file). */
static void check_files(const pubkey_t *keys, const char *const *files) {
  char f[8192];

  for (; *files != NULL; files++) {
    int n = 0;
    make_file(*files, keys, f, sizeof(f));
    for (size_t i = 0; i < SSHMUX__ARRAY_SIZE(kh_cases); i++) {
      const kh_case_t *c = &kh_cases[i];
      sshmux__kh_result_t r;
      if (strcmp(c->file, *files) != 0)
        continue;
      r = check_mem(f, c->host, c->port, &keys[c->key]);
      if (r.status != c->status || r.line != c->line)
        test_fail(__FILE__, c->src,
                  "%s %s:%d key %d: status %d at line %d, expected %d at %d",
                  c->file, c->host, c->port, c->key, (int)r.status, r.line,
                  (int)c->status, c->line);
      n++;
    }
    ASSERT_GT(n, 0);
  }
}

TEST_IMPL(kh_plain_names_and_ports) {
  pubkey_t k[2];
  char f[8192];

  NEW_KEY("ed25519", "k1", &k[0]);
  NEW_KEY("ed25519", "k2", &k[1]);
  check_files(k, (const char *[]){"plain", NULL});
  make_file("plain", k, f, sizeof(f));
  {
    sshmux__kh_result_t r;
    ASSERT_ERR(sshmux__known_hosts_check_mem("m", f, strlen(f), "h", 0,
                                             k[0].type, k[0].blob, k[0].len,
                                             &r),
               SSHMUX_EINVAL);
    ASSERT_ERR(sshmux__known_hosts_check_mem("m", f, strlen(f), "", 22,
                                             k[0].type, k[0].blob, k[0].len,
                                             &r),
               SSHMUX_EINVAL);
  }
  return 0;
}

TEST_IMPL(kh_several_names_per_line) {
  pubkey_t k;

  NEW_KEY("ed25519", "k", &k);
  check_files(&k, (const char *[]){"several", NULL});
  return 0;
}

TEST_IMPL(kh_comments_blank_and_bad_lines) {
  pubkey_t k, other;
  char f[8192] = "";

  NEW_KEY("ed25519", "k", &k);
  NEW_KEY("ecdsa", "o", &other);
  strcat(f, "# a comment naming host ssh-ed25519 AAAA\n"); /* 1 */
  strcat(f, "\n");                                         /* 2 */
  strcat(f, "   \t \n");                                   /* 3 */
  strcat(f, "  # indented comment\n");                     /* 4 */
  strcat(f, "host\n");                                     /* 5 */
  strcat(f, "host ssh-ed25519\n");                         /* 6 */
  strcat(f, "host ssh-ed25519 !!!notbase64!!!\n");         /* 7 */
  strcat(f, "@bogus host ssh-ed25519 AAAA\n");             /* 8 */
  strcat(f, "@revoked\n");                                 /* 9 */
  strcat(f, "|1|bad|hash ssh-ed25519 AAAA\n");             /* 10 */
  strcat(f, "|2|abc|def ssh-ed25519 AAAA\n");              /* 11 */
  /* 12: the blob is an ECDSA key but the line says ssh-ed25519. */
  snprintf(f + strlen(f), sizeof(f) - strlen(f), "host ssh-ed25519 %s\n",
           other.b64);
  /* 13: CRLF line ending and tabs as separators. */
  snprintf(f + strlen(f), sizeof(f) - strlen(f), "\thost\t%s\t%s\r\n", k.type,
           k.b64);
  /* None of the malformed lines count as a different key (CHANGED). */
  EXPECT(f, "host", 22, &k, SSHMUX__KH_MATCH, 13);
  /* Without the good line, the bad ones decide nothing. */
  f[strlen(f) - strlen(k.b64) - strlen(k.type) - 9] = '\0';
  ASSERT(strstr(f, k.b64) == NULL);
  EXPECT(f, "host", 22, &k, SSHMUX__KH_NOTFOUND, 0);
  /* A final line without a newline is read. */
  strcpy(f, "# c\n");
  snprintf(f + strlen(f), sizeof(f) - strlen(f), "host %s %s", k.type, k.b64);
  EXPECT(f, "host", 22, &k, SSHMUX__KH_MATCH, 2);
  /* An empty file. */
  EXPECT("", "host", 22, &k, SSHMUX__KH_NOTFOUND, 0);
  return 0;
}

TEST_IMPL(kh_wildcards) {
  pubkey_t k;

  NEW_KEY("ed25519", "k", &k);
  check_files(&k, (const char *[]){"wildcards", "star", NULL});
  return 0;
}

TEST_IMPL(kh_negation) {
  pubkey_t k;

  NEW_KEY("ed25519", "k", &k);
  check_files(
      &k, (const char *[]){"negation", "negation_1", "negation_alone", NULL});
  return 0;
}

TEST_IMPL(kh_changed_and_key_types) {
  pubkey_t k[3];

  NEW_KEY("ed25519", "k1", &k[0]);
  NEW_KEY("ed25519", "k2", &k[1]);
  NEW_KEY("ecdsa", "e", &k[2]);
  check_files(k, (const char *[]){"changed_1", "changed_2", "changed_3", NULL});
  return 0;
}

TEST_IMPL(kh_revoked_and_cert_authority) {
  pubkey_t keys[3], k, ca;
  char f[8192] = "";
  sshmux__kh_result_t r;

  NEW_KEY("ed25519", "k", &keys[0]);
  NEW_KEY("ed25519", "ca", &keys[1]);
  NEW_KEY("ed25519", "o", &keys[2]);
  k = keys[0], ca = keys[1];
  check_files(keys, (const char *[]){"revoked", NULL});
  /* @cert-authority is reported, never a match of the host key. */
  f[0] = '\0';
  add_line(f, sizeof(f), "@cert-authority *.example.com", &ca, NULL);
  r = check_mem(f, "a.example.com", 22, &ca);
  ASSERT_EQ(r.status, SSHMUX__KH_NOTFOUND);
  ASSERT_EQ(r.cert_authority, 1);
  r = check_mem(f, "a.example.org", 22, &k);
  ASSERT_EQ(r.cert_authority, 0);
  add_line(f, sizeof(f), "a.example.com", &k, NULL);
  r = check_mem(f, "a.example.com", 22, &k);
  ASSERT_EQ(r.status, SSHMUX__KH_MATCH);
  ASSERT_EQ(r.cert_authority, 1);
  return 0;
}

TEST_IMPL(kh_files_and_precedence) {
  pubkey_t k, k2;
  char f1[4096] = "", f2[4096] = "";
  const char *files[3];
  sshmux__kh_result_t r;

  NEW_KEY("ed25519", "k", &k);
  NEW_KEY("ed25519", "k2", &k2);
  add_line(f1, sizeof(f1), "# first\nhost", &k, NULL);
  add_line(f2, sizeof(f2), "@revoked host", &k, NULL);
  ASSERT_EQ(test_write_file(test_path("kh1"), f1, 0600), 0);
  ASSERT_EQ(test_write_file(test_path("kh2"), f2, 0600), 0);
  files[0] = test_path("missing");
  files[1] = test_path("kh1");
  files[2] = test_path("kh2");
  /* A match in one file, a revocation in a later one: revoked wins. */
  r = check_in(files, 3, "host", 22, &k);
  ASSERT_EQ(r.status, SSHMUX__KH_REVOKED);
  ASSERT_STR_EQ(r.file, test_path("kh2"));
  ASSERT_EQ(r.line, 1);
  r = check_in(files, 2, "host", 22, &k);
  ASSERT_EQ(r.status, SSHMUX__KH_MATCH);
  ASSERT_STR_EQ(r.file, test_path("kh1"));
  ASSERT_EQ(r.line, 2);
  /* A change in one file and a match in another: match wins. */
  f2[0] = '\0';
  add_line(f2, sizeof(f2), "host", &k2, NULL);
  ASSERT_EQ(test_write_file(test_path("kh2"), f2, 0600), 0);
  r = check_in(files + 1, 2, "host", 22, &k);
  ASSERT_EQ(r.status, SSHMUX__KH_MATCH);
  files[0] = test_path("kh2");
  r = check_in(files, 1, "host", 22, &k);
  ASSERT_EQ(r.status, SSHMUX__KH_CHANGED);
  /* Reading follows a symlinked known_hosts, as ssh does. */
  ASSERT_EQ(symlink(test_path("kh1"), test_path("khlink")), 0);
  files[0] = test_path("khlink");
  r = check_in(files, 1, "host", 22, &k);
  ASSERT_EQ(r.status, SSHMUX__KH_MATCH);
  /* No files: nothing known. */
  r = check_in(NULL, 0, "host", 22, &k);
  ASSERT_EQ(r.status, SSHMUX__KH_NOTFOUND);
  ASSERT_STR_EQ(r.file, "");
  return 0;
}

TEST_IMPL(kh_long_lines) {
  pubkey_t k;
  size_t cap = 70000, n;
  char *f = calloc(1, cap);

  NEW_KEY("ed25519", "k", &k);
  ASSERT(f != NULL);
  /* Line 1: 20000 names -- over the 16 KiB line cap, skipped even though
   * it names the host. */
  for (n = 0; n < 20000; n += 2)
    memcpy(f + n, "x,", 2);
  snprintf(f + n, cap - n, "host %s %s\n", k.type, k.b64);
  EXPECT(f, "host", 22, &k, SSHMUX__KH_NOTFOUND, 0);
  /* Line 2 is read normally after it. */
  add_line(f, cap, "host", &k, NULL);
  EXPECT(f, "host", 22, &k, SSHMUX__KH_MATCH, 2);
  /* A long line below the cap is fine. */
  memset(f, 0, cap);
  for (n = 0; n < 12000; n += 2)
    memcpy(f + n, "y,", 2);
  snprintf(f + n, cap - n, "host %s %s\n", k.type, k.b64);
  EXPECT(f, "host", 22, &k, SSHMUX__KH_MATCH, 1);
  free(f);
  return 0;
}

TEST_IMPL(kh_hashed_by_ssh_keygen) {
  pubkey_t k, k2;
  char f[4096] = "";
  const char *argv[] = {"ssh-keygen", "-H", "-f", NULL, NULL};
  const char *files[1];
  char *text;
  sshmux__kh_result_t r;

  NEW_KEY("ed25519", "k", &k);
  NEW_KEY("ecdsa", "k2", &k2);
  add_line(f, sizeof(f), "host.example", &k, NULL);
  add_line(f, sizeof(f), "[10.1.2.3]:2222", &k, NULL);
  add_line(f, sizeof(f), "host.example", &k2, NULL);
  ASSERT_EQ(test_write_file(test_path("known_hosts"), f, 0600), 0);
  argv[3] = test_path("known_hosts");
  ASSERT_EQ(test_run_simple(argv, NULL, NULL), 0);
  text = test_read_file(test_path("known_hosts"), NULL);
  ASSERT(text != NULL);
  /* The real tool hashed every name. */
  ASSERT(strstr(text, "host.example") == NULL);
  ASSERT(strstr(text, "10.1.2.3") == NULL);
  ASSERT_STR_CONTAINS(text, "|1|");
  free(text);
  files[0] = test_path("known_hosts");
  r = check_in(files, 1, "host.example", 22, &k);
  ASSERT_EQ(r.status, SSHMUX__KH_MATCH);
  r = check_in(files, 1, "Host.Example", 22, &k2);
  ASSERT_EQ(r.status, SSHMUX__KH_MATCH);
  r = check_in(files, 1, "10.1.2.3", 2222, &k);
  ASSERT_EQ(r.status, SSHMUX__KH_MATCH);
  /* The hash covers the port: other ports and hosts are unknown. */
  r = check_in(files, 1, "10.1.2.3", 22, &k);
  ASSERT_EQ(r.status, SSHMUX__KH_NOTFOUND);
  r = check_in(files, 1, "host.exampl", 22, &k);
  ASSERT_EQ(r.status, SSHMUX__KH_NOTFOUND);
  /* A different key of the same type for a hashed name is a change. */
  {
    pubkey_t k3;
    NEW_KEY("ed25519", "k3", &k3);
    r = check_in(files, 1, "host.example", 22, &k3);
    ASSERT_EQ(r.status, SSHMUX__KH_CHANGED);
  }
  return 0;
}

TEST_IMPL(kh_add_names_and_validation) {
  pubkey_t k;
  const char *p = test_path("dir/sub/known_hosts");
  char *text;
  struct stat st;
  char want[4096];

  NEW_KEY("ed25519", "k", &k);
  /* The missing directories are created 0700, the file 0600. */
  ASSERT_OK(
      sshmux__known_hosts_add(p, "Host.Example", 22, k.type, k.blob, k.len));
  ASSERT_EQ(stat(test_path("dir/sub"), &st), 0);
  ASSERT_EQ(st.st_mode & 0777, 0700);
  ASSERT_EQ(stat(p, &st), 0);
  ASSERT_EQ(st.st_mode & 0777, 0600);
  ASSERT_OK(
      sshmux__known_hosts_add(p, "host.example", 2222, k.type, k.blob, k.len));
  text = test_read_file(p, NULL);
  snprintf(want, sizeof(want),
           "host.example %s %s\n[host.example]:2222 %s %s\n", k.type, k.b64,
           k.type, k.b64);
  ASSERT_STR_EQ(text, want);
  free(text);
  /* Names that would change the meaning of the line are refused. */
  {
    static const char *const bad[] = {"",     "a b", "a,b",    "#h", "h*",
                                      "h?",   "!h",  "[h]",    "h|", "@h",
                                      "a\tb", "h\n", "h\x1b[m"};
    for (size_t i = 0; i < SSHMUX__ARRAY_SIZE(bad); i++)
      ASSERT_ERR(sshmux__known_hosts_add(p, bad[i], 22, k.type, k.blob, k.len),
                 SSHMUX_EINVAL);
  }
  ASSERT_ERR(sshmux__known_hosts_add(p, "h", 0, k.type, k.blob, k.len),
             SSHMUX_EINVAL);
  ASSERT_ERR(sshmux__known_hosts_add(p, "h", 22, "ssh ed25519", k.blob, k.len),
             SSHMUX_EINVAL);
  ASSERT_ERR(sshmux__known_hosts_add(p, "h", 22, k.type, k.blob, 0),
             SSHMUX_EINVAL);
  /* Appending to a file without a final newline keeps lines apart. */
  ASSERT_EQ(test_write_file(test_path("nonl"), "# no newline", 0600), 0);
  ASSERT_OK(sshmux__known_hosts_add(test_path("nonl"), "h", 22, k.type, k.blob,
                                    k.len));
  text = test_read_file(test_path("nonl"), NULL);
  snprintf(want, sizeof(want), "# no newline\nh %s %s\n", k.type, k.b64);
  ASSERT_STR_EQ(text, want);
  free(text);
  /* The writer refuses a symlinked file (it would replace the link). */
  ASSERT_EQ(symlink(test_path("nonl"), test_path("link")), 0);
  ASSERT_ERR(sshmux__known_hosts_add(test_path("link"), "h2", 22, k.type,
                                     k.blob, k.len),
             SSHMUX_ESYMLINK);
  return 0;
}

/* The line we append is found by our reader and accepted by real OpenSSH
 * ssh with StrictHostKeyChecking=yes against the real sshd. */
TEST_IMPL(kh_add_accepted_by_openssh) {
  test_sshd s;
  pubkey_t hk;
  char pub[700], khopt[700];
  const char *kh = test_path("ssh/known_hosts");
  const char *files[1] = {kh};
  const char *const *argv;
  test_argv_t a;
  sshmux__kh_result_t r;
  char *err;

  TEST_REQUIRE_OPENSSH();
  ASSERT_OK(test_sshd_start(&s, NULL));
  snprintf(pub, sizeof(pub), "%s.pub", s.host_key_ed25519);
  load_pub(pub, &hk);
  /* The fixture listens on a non-22 port: "[127.0.0.1]:PORT". */
  ASSERT_OK(
      sshmux__known_hosts_add(kh, s.addr, s.port, hk.type, hk.blob, hk.len));
  r = check_in(files, 1, s.addr, s.port, &hk);
  ASSERT_EQ(r.status, SSHMUX__KH_MATCH);
  ASSERT_EQ(r.line, 1);

  /* ssh takes the first value of an option, so ours come first. */
  snprintf(khopt, sizeof(khopt), "UserKnownHostsFile=%s", kh);
  argv = test_sshd_ssh_argv(
      &a, &s,
      (const char *[]){"-o", khopt, "-o", "StrictHostKeyChecking=yes", "-o",
                       "HostKeyAlgorithms=ssh-ed25519", NULL},
      "echo kh-ok");
  free(test_sshd_expect_run(&s, argv, 0, "kh-ok\n"));

  /* And the negative control: with a different key recorded for that name,
   * the same ssh refuses to connect. */
  {
    pubkey_t other;
    char line[1500];
    NEW_KEY("ed25519", "other", &other);
    snprintf(line, sizeof(line), "[%s]:%d %s %s\n", s.addr, s.port, other.type,
             other.b64);
    ASSERT_EQ(test_write_file(kh, line, 0600), 0);
    r = check_in(files, 1, s.addr, s.port, &hk);
    ASSERT_EQ(r.status, SSHMUX__KH_CHANGED);
    err = test_sshd_expect_run(&s, argv, 255, NULL); /* ssh's error exit */
    ASSERT_STR_CONTAINS(err, "HOST IDENTIFICATION HAS CHANGED");
    free(err);
  }
  test_sshd_stop(&s);
  return 0;
}
