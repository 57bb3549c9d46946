/* knownhosts.c -- our reader of OpenSSH known_hosts files and the appender
 * for accepted keys (knownhosts.h).
 *
 * The format is sshd(8)'s "SSH_KNOWN_HOSTS FILE FORMAT": one key per line,
 *     [@marker] patterns keytype base64-blob [comment]
 * where patterns is either one hashed name "|1|base64(salt)|base64(mac)"
 * (mac = HMAC-SHA1 keyed with the 20-byte salt over the lookup name) or a
 * comma-separated list of glob patterns ('*', '?', case-insensitive), each
 * optionally negated with '!'.  A line names a host when some positive
 * pattern matches its lookup name and no negated one does -- OpenSSH's
 * match_hostname().  The lookup name is "host" for port 22 and
 * "[host]:port" otherwise, lower-cased, exactly as ssh(1) writes it.
 *
 * The file is untrusted input in the sense that it may be hand-edited,
 * damaged or enormous: every line is bounded (KH_LINE_MAX), every field
 * checked, and a bad line is skipped with a debug log naming file and line
 * (never its contents, which may hold control characters).  Decisions are
 * gathered over all files and then ranked: a revoked key anywhere wins,
 * then an exact match, then "changed" (the host is known with another key
 * of the same type), else "not found". */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <uv.h>

#include "core/core.h"
#include "knownhosts/knownhosts.h"
#include "crypto/crypto.h"

#define KH_LINE_MAX 16384
/* Bigger files are not read at all (a known_hosts of 64 MiB is ~250 000
 * keys; anything beyond is not a known_hosts file). */
#define KH_FILE_MAX ((size_t)64 * 1024 * 1024)
/* The salt and MAC of a hashed name: SHA-1 sized, as OpenSSH requires. */
#define KH_HASH_LEN 20
/* Longest lookup name: a DNS name (253), brackets, colon, port. */
#define KH_NAME_MAX 300
/* A key type name ("ecdsa-sha2-nistp256", "sk-ssh-ed25519@openssh.com"). */
#define KH_TYPE_MAX 64

typedef struct {
  char name[KH_NAME_MAX + 1]; /* lookup name, lower-cased */
  size_t namelen;
  const char *keytype;
  const uint8_t *blob;
  size_t bloblen;
  uint8_t *scratch; /* decoded key blob of the current line */
  size_t scratch_cap;
} query_t;

/* Where a line of one kind was first seen. */
typedef struct {
  int found;
  int line;
  char file[512];
} hit_t;

/* The first line of each kind seen so far, over all files. */
typedef struct {
  int cert_authority;
  hit_t revoked, match, changed;
} acc_t;

typedef struct {
  const char *p;
  size_t n;
} span_t;

static int lower(int c) {
  return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* Build the lookup name for host:port into q->name. */
static int make_name(query_t *q, const char *host, int port) {
  size_t hl, i;
  int n;

  if (host == NULL || *host == '\0' || port <= 0 || port > 65535)
    return SSHMUX_EINVAL;
  hl = strlen(host);
  if (hl > 255)
    return SSHMUX_EINVAL;
  if (port == 22)
    n = snprintf(q->name, sizeof(q->name), "%s", host);
  else
    n = snprintf(q->name, sizeof(q->name), "[%s]:%d", host, port);
  if (n < 0 || (size_t)n >= sizeof(q->name))
    return SSHMUX_EINVAL;
  q->namelen = (size_t)n;
  for (i = 0; i < q->namelen; i++)
    q->name[i] = (char)lower((unsigned char)q->name[i]);
  return 0;
}

/* Case-insensitive glob match of pattern p[0..pn) against s[0..sn): '*'
 * any run, '?' any one byte.  Iterative with one backtrack point, so it is
 * O(pn * sn) at worst and never recurses. */
static int glob_match(const char *p, size_t pn, const char *s, size_t sn) {
  size_t pi = 0, si = 0, star_p = (size_t)-1, star_s = 0;

  while (si < sn) {
    if (pi < pn && p[pi] == '*') {
      star_p = pi++;
      star_s = si;
    } else if (pi < pn && (p[pi] == '?' || lower((unsigned char)p[pi]) ==
                                               lower((unsigned char)s[si]))) {
      pi++;
      si++;
    } else if (star_p != (size_t)-1) {
      pi = star_p + 1;
      si = ++star_s;
    } else {
      return 0;
    }
  }
  while (pi < pn && p[pi] == '*')
    pi++;
  return pi == pn;
}

/* Does a hashed name "|1|salt|mac" name q?  1 yes, 0 no, < 0 malformed. */
static int hashed_match(span_t f, const query_t *q) {
  uint8_t salt[KH_HASH_LEN + 4], mac[KH_HASH_LEN + 4], want[SSHMUX__HASH_MAX];
  size_t saltlen, maclen;
  const char *sep;
  int r;

  if (f.n < 3 || memcmp(f.p, "|1|", 3) != 0)
    return SSHMUX_EUNSUPPORTED;
  f.p += 3;
  f.n -= 3;
  sep = memchr(f.p, '|', f.n);
  if (sep == NULL)
    return SSHMUX_EBADFORMAT;
  r = sshmux__base64_decode(f.p, (size_t)(sep - f.p), salt, sizeof(salt),
                            &saltlen);
  if (r == 0)
    r = sshmux__base64_decode(sep + 1, f.n - (size_t)(sep - f.p) - 1, mac,
                              sizeof(mac), &maclen);
  if (r != 0)
    return r;
  if (saltlen != KH_HASH_LEN || maclen != KH_HASH_LEN)
    return SSHMUX_EBADFORMAT;
  r = sshmux__hmac(SSHMUX__SHA1, salt, saltlen, q->name, q->namelen, want);
  if (r != 0)
    return r;
  return sshmux__ct_equal(want, mac, KH_HASH_LEN);
}

/* Does the host field name q?  1 yes, 0 no, < 0 malformed. */
static int hosts_match(span_t f, const query_t *q) {
  size_t i = 0;
  int found = 0;

  if (f.n > 0 && f.p[0] == '|')
    return hashed_match(f, q);
  while (i < f.n) {
    size_t start = i, len;
    int neg = 0;
    while (i < f.n && f.p[i] != ',')
      i++;
    len = i - start;
    i++; /* past the comma */
    if (len > 0 && f.p[start] == '!') {
      neg = 1;
      start++;
      len--;
    }
    if (len == 0)
      continue;
    if (glob_match(f.p + start, len, q->name, q->namelen)) {
      if (neg)
        return 0; /* a negated match rejects the whole line */
      found = 1;
    }
  }
  return found;
}

/* Split off the next white-space separated field of line[*pos..n). */
static int next_field(const char *line, size_t n, size_t *pos, span_t *f) {
  size_t i = *pos;

  while (i < n && (line[i] == ' ' || line[i] == '\t'))
    i++;
  if (i == n)
    return 0;
  f->p = line + i;
  while (i < n && line[i] != ' ' && line[i] != '\t')
    i++;
  f->n = (size_t)(line + i - f->p);
  *pos = i;
  return 1;
}

static int span_eq(span_t f, const char *s) {
  size_t n = strlen(s);
  return f.n == n && memcmp(f.p, s, n) == 0;
}

/* Decode the key field into q->scratch and check that the blob's own type
 * string agrees with the line's keytype field. */
static int decode_key(query_t *q, span_t type, span_t key, size_t *len) {
  sshmux__buf_t b;
  const uint8_t *t;
  size_t tn;
  int r;

  r = sshmux__base64_decode(key.p, key.n, q->scratch, q->scratch_cap, len);
  if (r != 0)
    return r;
  sshmux__buf_view(&b, q->scratch, *len);
  r = sshmux__buf_get_string(&b, KH_TYPE_MAX, &t, &tn);
  if (r != 0)
    return r;
  if (tn != type.n || memcmp(t, type.p, tn) != 0)
    return SSHMUX_EBADFORMAT;
  return 0;
}

static void record(hit_t *h, const char *file, int line) {
  if (h->found)
    return;
  h->found = 1;
  h->line = line;
  snprintf(h->file, sizeof(h->file), "%s", file);
}

static void skip_line(const char *file, int lineno, const char *why) {
  SSHMUX__LOG_DEBUG("known_hosts %s:%d: line skipped: %s", file, lineno, why);
}

/* Examine one line (without its newline). */
static void scan_line(const char *file, int lineno, const char *line, size_t n,
                      query_t *q, acc_t *acc) {
  span_t marker = {NULL, 0}, hosts, type, key;
  size_t pos = 0, keylen;
  int m, is_revoked = 0, is_ca = 0;

  if (n > 0 && line[n - 1] == '\r')
    n--;
  if (!next_field(line, n, &pos, &hosts) || hosts.p[0] == '#')
    return; /* blank or comment */
  if (hosts.p[0] == '@') {
    marker = hosts;
    if (span_eq(marker, "@revoked")) {
      is_revoked = 1;
    } else if (span_eq(marker, "@cert-authority")) {
      is_ca = 1;
    } else {
      skip_line(file, lineno, "unknown marker");
      return;
    }
    if (!next_field(line, n, &pos, &hosts)) {
      skip_line(file, lineno, "no host field");
      return;
    }
  }
  if (!next_field(line, n, &pos, &type) || !next_field(line, n, &pos, &key)) {
    skip_line(file, lineno, "missing key type or key");
    return;
  }
  m = hosts_match(hosts, q);
  if (m < 0) {
    skip_line(file, lineno, "malformed hashed host name");
    return;
  }
  if (m == 0)
    return;
  if (is_ca) {
    /* We do not verify certificates; the caller is told a CA exists. */
    acc->cert_authority = 1;
    return;
  }
  /* A revoked key is compared whatever type the caller asked about: the
   * blob carries its own type, so equal blobs are the same key. */
  if (!is_revoked &&
      (type.n != strlen(q->keytype) || memcmp(type.p, q->keytype, type.n) != 0))
    return; /* another key type for this host: neither match nor change */
  if (decode_key(q, type, key, &keylen) != 0) {
    skip_line(file, lineno, "malformed key");
    return;
  }
  if (keylen == q->bloblen && memcmp(q->scratch, q->blob, keylen) == 0) {
    if (is_revoked)
      record(&acc->revoked, file, lineno);
    else
      record(&acc->match, file, lineno);
  } else if (!is_revoked) {
    record(&acc->changed, file, lineno);
  }
}

static void scan(const char *file, const char *data, size_t len, query_t *q,
                 acc_t *acc) {
  size_t pos = 0;
  int lineno = 0;

  while (pos < len) {
    const char *nl = memchr(data + pos, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - (data + pos)) : len - pos;

    lineno++;
    if (n > KH_LINE_MAX)
      skip_line(file, lineno, "too long");
    else if (memchr(data + pos, '\0', n) != NULL)
      skip_line(file, lineno, "NUL byte");
    else
      scan_line(file, lineno, data + pos, n, q, acc);
    pos += n + 1;
  }
}

static int query_init(query_t *q, const char *host, int port,
                      const char *keytype, const uint8_t *blob,
                      size_t bloblen) {
  int r;

  memset(q, 0, sizeof(*q));
  if (keytype == NULL || *keytype == '\0' || blob == NULL || bloblen == 0)
    return SSHMUX_EINVAL;
  r = make_name(q, host, port);
  if (r != 0)
    return r;
  q->keytype = keytype;
  q->blob = blob;
  q->bloblen = bloblen;
  q->scratch_cap = KH_LINE_MAX / 4 * 3 + 3;
  q->scratch = sshmux__malloc(q->scratch_cap);
  return q->scratch == NULL ? SSHMUX_ENOMEM : 0;
}

static void finish(const acc_t *acc, sshmux__kh_result_t *res) {
  const hit_t *h = NULL;

  memset(res, 0, sizeof(*res));
  res->cert_authority = acc->cert_authority;
  res->status = SSHMUX__KH_NOTFOUND;
  if (acc->revoked.found) {
    res->status = SSHMUX__KH_REVOKED;
    h = &acc->revoked;
  } else if (acc->match.found) {
    res->status = SSHMUX__KH_MATCH;
    h = &acc->match;
  } else if (acc->changed.found) {
    res->status = SSHMUX__KH_CHANGED;
    h = &acc->changed;
  }
  if (h != NULL) {
    res->line = h->line;
    snprintf(res->file, sizeof(res->file), "%s", h->file);
  }
}

int sshmux__known_hosts_check_mem(const char *name, const char *data,
                                  size_t len, const char *host, int port,
                                  const char *keytype, const uint8_t *blob,
                                  size_t bloblen, sshmux__kh_result_t *res) {
  query_t q;
  acc_t acc;
  int r;

  if (res == NULL || (data == NULL && len != 0))
    return SSHMUX_EINVAL;
  r = query_init(&q, host, port, keytype, blob, bloblen);
  if (r != 0) {
    sshmux__free(q.scratch);
    return r;
  }
  memset(&acc, 0, sizeof(acc));
  scan(name ? name : "(memory)", data, len, &q, &acc);
  sshmux__free(q.scratch);
  finish(&acc, res);
  return 0;
}

int sshmux__known_hosts_check(const char *const *files, size_t nfiles,
                              const char *host, int port, const char *keytype,
                              const uint8_t *blob, size_t bloblen,
                              sshmux__kh_result_t *res) {
  query_t q;
  acc_t acc;
  size_t i;
  int r;

  if (res == NULL || (files == NULL && nfiles != 0))
    return SSHMUX_EINVAL;
  r = query_init(&q, host, port, keytype, blob, bloblen);
  if (r != 0) {
    sshmux__free(q.scratch);
    return r;
  }
  memset(&acc, 0, sizeof(acc));
  for (i = 0; i < nfiles; i++) {
    char *data = NULL;
    size_t len = 0;

    if (files[i] == NULL)
      continue;
    /* known_hosts is only read here, and users keep it in dotfile
     * repositories: follow symlinks, as ssh(1) does. */
    r = sshmux__file_read_ex(files[i], KH_FILE_MAX, 1, &data, &len);
    if (r == UV_ENOENT || r == UV_ENOTDIR)
      continue;
    if (r != 0) {
      SSHMUX__LOG_WARN("known_hosts %s not read: %s", files[i],
                       sshmux_strerror(r));
      continue;
    }
    scan(files[i], data, len, &q, &acc);
    sshmux__free(data);
  }
  sshmux__free(q.scratch);
  finish(&acc, res);
  return 0;
}

/* A name we are willing to write: printable ASCII without white space and
 * without the characters that mean something in the host field (so an
 * added entry can never become a pattern, a negation, a hashed name, a
 * marker, a comment or a second name). */
static int host_ok(const char *host) {
  const char *p;

  if (host == NULL || *host == '\0' || *host == '@')
    return 0;
  for (p = host; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c <= 0x20 || c >= 0x7f || strchr(",#*?![]|", c) != NULL)
      return 0;
  }
  return 1;
}

static int keytype_ok(const char *t) {
  const char *p;

  if (t == NULL || *t == '\0' || strlen(t) > KH_TYPE_MAX)
    return 0;
  for (p = t; *p; p++)
    if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
      return 0;
  return 1;
}

int sshmux__known_hosts_add(const char *file, const char *host, int port,
                            const char *keytype, const uint8_t *blob,
                            size_t bloblen) {
  query_t q;
  char *line, *slash;
  size_t b64cap, n;
  struct stat st;
  int r;

  if (file == NULL || *file == '\0' || !host_ok(host) || !keytype_ok(keytype) ||
      blob == NULL || bloblen == 0 || bloblen > KH_LINE_MAX / 2)
    return SSHMUX_EINVAL;
  memset(&q, 0, sizeof(q));
  r = make_name(&q, host, port);
  if (r != 0)
    return r;
  b64cap = 4 * ((bloblen + 2) / 3) + 1;
  line = sshmux__malloc(q.namelen + strlen(keytype) + b64cap + 3);
  if (line == NULL)
    return SSHMUX_ENOMEM;
  n = (size_t)sprintf(line, "%s %s ", q.name, keytype);
  n += sshmux__base64_encode(blob, bloblen, line + n);
  line[n++] = '\n';
  line[n] = '\0';

  /* Create the directory (0700) only when it is missing: an existing
   * ~/.ssh is the user's business (OpenSSH accepts 0755). */
  slash = strrchr(file, '/');
  if (slash != NULL && slash != file) {
    char *dir = sshmux__strndup(file, (size_t)(slash - file));
    if (dir == NULL) {
      sshmux__free(line);
      return SSHMUX_ENOMEM;
    }
    if (lstat(dir, &st) != 0 && errno == ENOENT)
      r = sshmux_dir_ensure(dir, 0700);
    sshmux__free(dir);
  }
  if (r == 0)
    r = sshmux_file_append_atomic(file, line, n, 0600);
  sshmux__free(line);
  return r;
}
