/* fuzz-daemon-sshcfg.c -- libFuzzer target for the daemon's readers of
 * OpenSSH client configuration (daemon/sshcfg.c, compiled in here whole, as
 * daemon/sshcfg.h intends): the `ssh -G` output parser and the ssh_config
 * line splitter.  Every input goes through all of them: the whole of it as
 * `ssh -G` output, each of its lines as one ssh_config line, and that
 * line's arguments one by one.  Seeds are real `ssh -G` outputs and
 * ssh_config files, so one corpus serves the three.
 *
 * The oracles are sshcfg.h's contracts, checked against a model written
 * here independently of sshcfg.c (a bug there must not hide here):
 *  - sshmuxd_sshg_parse(): the return code, the line its message names and
 *    every kept value equal the model's; a value is exactly the bytes after
 *    its keyword on its line; strings are NUL-terminated within their
 *    buffers and "" when absent; err is "line N: keyword: ..." and a
 *    smaller err buffer gets a NUL-terminated prefix of the same message
 *    (no err buffer at all is fine); a prefix of the input parses as the
 *    model says (nothing past len is read); *out need not be clean before.
 *    An input starting "#!big" is also run at exactly SSHMUXD_SSHG_MAX_INPUT
 *    bytes (itself after as many filler lines as fit), which must parse,
 *    and one byte more, which must be SSHMUXD_SSHG_ETOOBIG.
 *  - sshmuxd_sshcfg_line(): keyword and arguments are exactly where the
 *    model puts them (one trailing CR ignored, white space and one '='
 *    between), and the line rebuilt from them splits the same way.
 *  - sshmuxd_sshcfg_is(): ASCII case-insensitive, in the keyword and in kw.
 *  - sshmuxd_sshcfg_arg(): the arguments are the model's, which is
 *    OpenSSH 9.2's argv_split() transcribed (single and double quotes,
 *    backslash escapes, a '#' comment where an argument would begin, a NUL
 *    ending the line), each ending where the model's does; an
 *    unterminated quote gives SSHMUXD_SSHCFG_EQUOTE after the arguments
 *    before it, with out "" and *s at the end, and
 *    sshmuxd_sshcfg_args_ok() says so; in buffers of every size from 0 up
 *    (out NULL too when 0), cut exactly where the buffer ends with *cut
 *    set then and only then, never a byte written past size, nothing
 *    written at the end; and the arguments, quoted back each of three ways
 *    (double quotes, single quotes, bare with escapes) and followed by a
 *    comment holding an open quote, split into the same list again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemon/sshcfg.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                               \
  do {                                                                         \
    if (!(x))                                                                  \
      __builtin_trap();                                                        \
  } while (0)

/* ---- the model of sshmuxd_sshg_parse ---- */

enum { M_HOSTNAME, M_USER, M_PORT, M_IDENTITY, M_NKEPT = 8 };
static const char *const kept[M_NKEPT] = {
    "hostname",      "user",      "port",         "identityfile",
    "identityagent", "proxyjump", "proxycommand", "hostkeyalias"};

typedef struct {
  const char *p;
  size_t n;
} span_t;

typedef struct {
  int code;
  size_t line;       /* the line an error names */
  const char *what;  /* the keyword an error names */
  int seen[M_NKEPT]; /* the last value of each in val[] */
  span_t val[M_NKEPT];
  span_t ids[SSHMUXD_SSHG_MAX_IDS];
  size_t nids;
  int port;
} model_t;

static int sp(int c) {
  return c == ' ' || c == '\t';
}

/* n bytes at a are kw (lower case), ASCII letters in any case. */
static int same_word(const char *a, size_t n, const char *kw) {
  size_t i;

  if (n != strlen(kw))
    return 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)a[i];
    if (c >= 'A' && c <= 'Z')
      c = (unsigned char)(c | 0x20);
    if (c != (unsigned char)kw[i])
      return 0;
  }
  return 1;
}

/* Is the value v acceptable for kept keyword key, given what was seen?
 * A port's number goes to *port. */
static int value_ok(const model_t *m, int key, span_t v, int *port) {
  size_t i;

  if (v.n == 0 || v.n > SSHMUXD_SSHG_MAX_VALUE)
    return 0;
  for (i = 0; i < v.n; i++)
    if ((unsigned char)v.p[i] < 0x20 || (unsigned char)v.p[i] == 0x7f)
      return 0;
  if (key == M_IDENTITY)
    return m->nids < SSHMUXD_SSHG_MAX_IDS;
  if (m->seen[key])
    return 0;
  if (key != M_PORT)
    return 1;
  if (v.n > 5)
    return 0;
  for (*port = 0, i = 0; i < v.n; i++) {
    if (v.p[i] < '0' || v.p[i] > '9')
      return 0;
    *port = *port * 10 + (v.p[i] - '0');
  }
  return *port >= 1 && *port <= 65535;
}

static void model_sshg(const char *d, size_t len, model_t *m) {
  size_t at, end, lines = 0;

  memset(m, 0, sizeof(*m));
  if (len > SSHMUXD_SSHG_MAX_INPUT) {
    m->code = SSHMUXD_SSHG_ETOOBIG;
    m->what = "output";
    return;
  }
  for (at = 0; at < len; at = end + 1) {
    const char *l = d + at;
    size_t n, kn = 0, vs;
    int key = -1, k, port = 0;
    span_t v;

    const char *nl = memchr(l, '\n', len - at);

    end = nl != NULL ? (size_t)(nl - d) : len;
    n = end - at;
    lines++;
    while (kn < n && !sp(l[kn]))
      kn++;
    for (k = 0; k < M_NKEPT; k++)
      if (same_word(l, kn, kept[k]))
        key = k;
    if (key < 0)
      continue;
    for (vs = kn; vs < n && sp(l[vs]); vs++)
      ;
    v.p = l + vs;
    v.n = n - vs;
    if (!value_ok(m, key, v, &port)) {
      m->code = SSHMUXD_SSHG_EVALUE;
      m->line = lines;
      m->what = kept[key];
      return;
    }
    m->seen[key] = 1;
    if (key == M_IDENTITY)
      m->ids[m->nids++] = v;
    else
      m->val[key] = v;
    if (key == M_PORT)
      m->port = port;
  }
  for (int k = M_PORT; k >= M_HOSTNAME; k--)
    if (!m->seen[k]) {
      m->code = SSHMUXD_SSHG_EMISSING;
      m->what = kept[k];
      m->line = lines;
    }
}

static void check_str(const char *s, size_t size, span_t want) {
  CHECK(memchr(s, '\0', size) != NULL);
  CHECK(strlen(s) == want.n);
  CHECK(want.n == 0 || memcmp(s, want.p, want.n) == 0);
}

static void check_out(const sshmuxd_sshg_t *g, const model_t *m) {
  static const span_t none = {"", 0};
  const char *const str[M_NKEPT] = {
      g->hostname,  g->user,         NULL,           NULL, g->identityagent,
      g->proxyjump, g->proxycommand, g->hostkeyalias};
  const int has[M_NKEPT] = {0,
                            0,
                            0,
                            0,
                            g->has_identityagent,
                            g->has_proxyjump,
                            g->has_proxycommand,
                            g->has_hostkeyalias};
  size_t i;

  for (i = 0; i < M_NKEPT; i++) {
    if (i > M_IDENTITY)
      CHECK(has[i] == m->seen[i]);
    if (str[i] != NULL)
      check_str(str[i], SSHMUXD_SSHG_MAX_VALUE + 1,
                m->seen[i] ? m->val[i] : none);
  }
  CHECK(g->port == m->port && g->port >= 1 && g->port <= 65535);
  CHECK(g->nidentity == m->nids);
  for (i = 0; i < SSHMUXD_SSHG_MAX_IDS; i++)
    check_str(g->identity[i], sizeof(g->identity[i]),
              i < m->nids ? m->ids[i] : none);
}

/* Parse d[0..len) with err buffers of three sizes (exact allocations, so
 * ASan sees a write past one) and a dirty *out; all agree with the model.
 * *out is allocated once (exactly its size): a fresh 22 KiB a run cost
 * most of the time in page faults under ASan's quarantine. */
static void run_sshg(const char *d, size_t len, size_t small) {
  static sshmuxd_sshg_t *g;
  char *err = malloc(512), *err2 = malloc(small), want[128];
  model_t m;
  int rc;

  if (g == NULL)
    g = malloc(sizeof(*g));
  CHECK(g != NULL && err != NULL && err2 != NULL);
  model_sshg(d, len, &m);
  memset(g, 0xa5, sizeof(*g));
  memset(err, 'x', 512);
  rc = sshmuxd_sshg_parse(d, len, g, err, 512);
  CHECK(rc == m.code);
  CHECK(memchr(err, '\0', 512) != NULL);
  if (rc == 0) {
    check_out(g, &m);
  } else {
    snprintf(want, sizeof(want), "line %zu: %s: ", m.line, m.what);
    CHECK(strncmp(err, want, strlen(want)) == 0);
  }
  memset(g, 0x5a, sizeof(*g));
  memset(err2, 'y', small);
  CHECK(sshmuxd_sshg_parse(d, len, g, err2, small) == rc);
  CHECK(memchr(err2, '\0', small) != NULL);
  if (rc != 0)
    CHECK(strncmp(err, err2, strlen(err2)) == 0 &&
          strlen(err2) == (strlen(err) < small ? strlen(err) : small - 1));
  memset(g, 0xff, sizeof(*g));
  CHECK(sshmuxd_sshg_parse(d, len, g, NULL, 0) == rc);
  if (rc == 0)
    check_out(g, &m);
  free(err2);
  free(err);
}

/* "#!big" inputs: the input at the end of exactly SSHMUXD_SSHG_MAX_INPUT
 * bytes, then of one byte more (must be too big).  Before it, filler lines
 * of 255 blanks, whose empty keyword is skipped without reading them
 * (long lines, so that the instrumented loops stay cheap).  The buffers
 * are allocated once, each exactly its size. */
static void run_big(const char *d, size_t len) {
  static char *buf[2];
  size_t fill, i, t;

  for (t = 0; t < 2; t++) {
    size_t total = SSHMUXD_SSHG_MAX_INPUT + t;
    if (len > total)
      return;
    if (buf[t] == NULL)
      CHECK((buf[t] = malloc(total)) != NULL);
    fill = total - len;
    memset(buf[t], ' ', fill);
    for (i = fill; i-- > 0;)
      if ((fill - i) % 256 == 1)
        buf[t][i] = '\n';
    memcpy(buf[t] + fill, d, len);
    run_sshg(buf[t], total, 32);
  }
}

/* ---- sshmuxd_sshcfg_line, _is and _arg ---- */

/* The arguments of a[0..n) as the model splits them: OpenSSH 9.2's
 * misc.c argv_split() with terminate_on_comment set (how readconf.c splits
 * a line's arguments), transcribed over a NUL-terminated copy of a, so a
 * NUL byte ends the line as it ends ssh's.  Values go to vals (n + 1
 * bytes), argument k being vals[off[k]..off[k]+vlen[k]) and ending in a at
 * end[k] (where sshmuxd_sshcfg_arg leaves *s).  Returns the count of the
 * arguments before the end, a comment or an unterminated quote; *bad is 1
 * after the last (ssh refuses the line: "invalid quotes"). */
static size_t model_args(const char *a, size_t n, char *vals, size_t *off,
                         size_t *vlen, size_t *end, int *bad) {
  char *s = malloc(n + 1);
  size_t i, j = 0, count = 0;
  int quote;

  CHECK(s != NULL);
  memcpy(s, a, n);
  s[n] = '\0';
  *bad = 0;
  for (i = 0; s[i] != '\0'; i++) {
    if (s[i] == ' ' || s[i] == '\t')
      continue;
    if (s[i] == '#')
      break;
    quote = 0;
    off[count] = j;
    for (; s[i] != '\0'; i++) {
      if (s[i] == '\\') {
        if (s[i + 1] == '\'' || s[i + 1] == '\"' || s[i + 1] == '\\' ||
            (quote == 0 && s[i + 1] == ' ')) {
          i++;
          vals[j++] = s[i];
        } else {
          vals[j++] = s[i];
        }
      } else if (quote == 0 && (s[i] == ' ' || s[i] == '\t'))
        break;
      else if (quote == 0 && (s[i] == '\"' || s[i] == '\''))
        quote = s[i];
      else if (quote != 0 && s[i] == quote)
        quote = 0;
      else
        vals[j++] = s[i];
    }
    if (s[i] == '\0' && quote != 0) {
      *bad = 1;
      break;
    }
    vlen[count] = j - off[count];
    end[count++] = i;
    if (s[i] == '\0')
      break;
  }
  free(s);
  return count;
}

/* Split [a, a+n) with sshmuxd_sshcfg_arg into buffers of size pick(k) for
 * argument k and check each against the model: after the last, the
 * unterminated quote (out "", *cut untouched), then the end, with *s at e;
 * and sshmuxd_sshcfg_args_ok says whether there was one. */
static void check_args(const char *a, size_t n, const char *vals,
                       const size_t *off, const size_t *vlen, const size_t *end,
                       size_t count, int bad, size_t seed) {
  const char *s = a, *e = a + n;
  size_t k;
  int done = 0;

  CHECK(sshmuxd_sshcfg_args_ok(a, e) == !bad);
  for (k = 0;; k++) {
    size_t size = (seed + k * 7) % 5 == 0 ? n + 1 : (seed + k * 3) % 6, keep;
    char canary = 'c', *out = size ? malloc(size) : &canary;
    int cut = 0, more;

    CHECK(out != NULL);
    if (size)
      memset(out, 'z', size);
    /* out may be NULL when size is 0: pass NULL every other time. */
    more = sshmuxd_sshcfg_arg(&s, e, size || k % 4 ? out : NULL, size,
                              k % 2 ? &cut : NULL);
    CHECK(s >= a && s <= e);
    if (k >= count) {
      if (k == count && bad && !done) {
        CHECK(more == SSHMUXD_SSHCFG_EQUOTE && s == e && cut == 0);
        CHECK(size ? out[0] == '\0' : canary == 'c');
        done = 1;
      } else {
        CHECK(more == 0 && s == e && cut == 0);
        CHECK(size == 0 || out[0] == 'z');
        if (size)
          free(out);
        return;
      }
      if (size)
        free(out);
      continue;
    }
    CHECK(more == 1 && s == a + end[k]);
    if (size) {
      keep = vlen[k] < size - 1 ? vlen[k] : size - 1;
      CHECK(memcmp(out, vals + off[k], keep) == 0 && out[keep] == '\0');
      CHECK(k % 2 == 0 || cut == (vlen[k] > size - 1));
      free(out);
    } else {
      CHECK(canary == 'c');
      CHECK(k % 2 == 0 || cut == (vlen[k] > 0));
    }
  }
}

/* Argument v (n bytes, no NUL) quoted back so ssh reads it as v, in one of
 * three ways: in double quotes, in single quotes, or bare with escapes. */
static size_t quote_back(char *w, const char *v, size_t n, int how) {
  size_t i, m = 0;
  char q = how == 0 ? '"' : '\'';

  if (how < 2 || n == 0) {
    w[m++] = q;
    for (i = 0; i < n; i++) {
      if (v[i] == '\\' || v[i] == q)
        w[m++] = '\\';
      w[m++] = v[i];
    }
    w[m++] = q;
    return m;
  }
  for (i = 0; i < n; i++) {
    if (v[i] == '\t' || (i == 0 && v[i] == '#')) {
      /* No escape for these: a quoted piece in the bare word. */
      w[m++] = '\'';
      w[m++] = v[i];
      w[m++] = '\'';
      continue;
    }
    if (v[i] == '\\' || v[i] == '"' || v[i] == '\'' || v[i] == ' ')
      w[m++] = '\\';
    w[m++] = v[i];
  }
  return m;
}

/* Quote the model's arguments back, "Keyword = args # comment\r", and
 * split that: the same arguments, the comment (with an open quote in it)
 * ignored. */
static void check_rebuilt(const sshmuxd_sshcfg_line_t *l, const char *vals,
                          const size_t *off, const size_t *vlen, size_t count,
                          size_t seed) {
  static const char comment[] = " # x 'y \"z";
  size_t cap = l->keyword_len + 6 * (l->args_len + 1) + sizeof(comment) + 8;
  size_t n = 0, k;
  char *line = malloc(cap), *v2 = malloc(cap);
  size_t *o2 = malloc(cap * sizeof(size_t)), *n2 = malloc(cap * sizeof(size_t)),
         *e2 = malloc(cap * sizeof(size_t));
  sshmuxd_sshcfg_line_t r;
  int bad;

  CHECK(line != NULL && v2 != NULL && o2 != NULL && n2 != NULL && e2 != NULL);
  memcpy(line, " \t", 2);
  memcpy(line + 2, l->keyword, l->keyword_len);
  n = 2 + l->keyword_len;
  memcpy(line + n, " = ", 3);
  n += 3;
  for (k = 0; k < count; k++) {
    CHECK(memchr(vals + off[k], '\0', vlen[k]) == NULL);
    if (k > 0)
      line[n++] = ' ';
    n += quote_back(line + n, vals + off[k], vlen[k], (int)((seed + k) % 3));
  }
  memcpy(line + n, comment, sizeof(comment) - 1);
  n += sizeof(comment) - 1;
  line[n++] = '\r';
  CHECK(n <= cap);
  sshmuxd_sshcfg_line(line, n, &r);
  CHECK(r.keyword_len == l->keyword_len &&
        memcmp(r.keyword, l->keyword, l->keyword_len) == 0);
  CHECK(model_args(r.args, r.args_len, v2, o2, n2, e2, &bad) == count);
  CHECK(!bad);
  for (k = 0; k < count; k++)
    CHECK(n2[k] == vlen[k] && memcmp(v2 + o2[k], vals + off[k], vlen[k]) == 0);
  check_args(r.args, r.args_len, v2, o2, n2, e2, count, 0, seed);
  free(e2);
  free(n2);
  free(o2);
  free(v2);
  free(line);
}

static void run_line(const char *line, size_t n, size_t seed) {
  static const char *const kws[] = {"host", "Match", "INCLUDE", "iNcLuDe"};
  size_t e = n > 0 && line[n - 1] == '\r' ? n - 1 : n, ks = 0, ke, as, i;
  size_t *off, *vlen, *end, count;
  sshmuxd_sshcfg_line_t l;
  char *kw, *vals;
  int bad;

  while (ks < e && sp(line[ks]))
    ks++;
  for (ke = ks; ke < e && !sp(line[ke]) && line[ke] != '='; ke++)
    ;
  for (as = ke; as < e && sp(line[as]); as++)
    ;
  if (as < e && line[as] == '=')
    as++;
  while (as < e && sp(line[as]))
    as++;
  sshmuxd_sshcfg_line(line, n, &l);
  CHECK(l.keyword == line + ks && l.keyword_len == ke - ks);
  CHECK(l.args == line + as && l.args_len == e - as);

  for (i = 0; i < sizeof(kws) / sizeof(kws[0]); i++) {
    char low[8];
    size_t j, kl = strlen(kws[i]);
    for (j = 0; j <= kl; j++)
      low[j] = (char)(kws[i][j] >= 'A' && kws[i][j] <= 'Z' ? kws[i][j] | 0x20
                                                           : kws[i][j]);
    CHECK(sshmuxd_sshcfg_is(&l, kws[i]) ==
          same_word(l.keyword, l.keyword_len, low));
  }
  /* The keyword is itself, upper-cased too (unless a NUL cuts it). */
  CHECK((kw = malloc(l.keyword_len + 1)) != NULL);
  memcpy(kw, l.keyword, l.keyword_len);
  kw[l.keyword_len] = '\0';
  CHECK(sshmuxd_sshcfg_is(&l, kw) == (strlen(kw) == l.keyword_len));
  for (i = 0; i < l.keyword_len; i++)
    if (kw[i] >= 'a' && kw[i] <= 'z')
      kw[i] = (char)(kw[i] - 'a' + 'A');
  CHECK(sshmuxd_sshcfg_is(&l, kw) == (strlen(kw) == l.keyword_len));
  free(kw);

  vals = malloc(l.args_len + 1);
  off = malloc((l.args_len + 1) * sizeof(size_t));
  vlen = malloc((l.args_len + 1) * sizeof(size_t));
  end = malloc((l.args_len + 1) * sizeof(size_t));
  CHECK(vals != NULL && off != NULL && vlen != NULL && end != NULL);
  count = model_args(l.args, l.args_len, vals, off, vlen, end, &bad);
  check_args(l.args, l.args_len, vals, off, vlen, end, count, bad, seed);
  check_rebuilt(&l, vals, off, vlen, count, seed);
  free(end);
  free(vlen);
  free(off);
  free(vals);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *d = (const char *)data;
  size_t at = 0, k = 0;

  run_sshg(d, size, 1 + size % 40);
  run_sshg(d, size / 2, 1 + size % 7);
  if (size >= 5 && memcmp(d, "#!big", 5) == 0)
    run_big(d, size);
  for (;;) {
    const char *nl = memchr(d + at, '\n', size - at);
    size_t n = nl != NULL ? (size_t)(nl - (d + at)) : size - at;
    run_line(d + at, n, k++);
    if (nl == NULL)
      break;
    at += n + 1;
  }
  return 0;
}
