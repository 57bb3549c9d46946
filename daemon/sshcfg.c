/* sshcfg.c -- the `ssh -G` output parser and the ssh_config line splitter
 * (see sshcfg.h for both contracts).  Pure functions over the caller's
 * bytes, libc only, so tests/fuzz can build this file on its own. */
#include <stdio.h>
#include <string.h>

#include "sshcfg.h"

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* ASCII case-insensitive on both sides: sshmuxd_sshcfg_is() promises it
 * for any kw, not only for the lower-case names the callers pass today. */
static int word_is(const char *w, size_t n, const char *kw) {
  size_t i;

  for (i = 0; i < n; i++)
    if (kw[i] == '\0' ||
        lower((unsigned char)w[i]) != lower((unsigned char)kw[i]))
      return 0;
  return kw[n] == '\0';
}

static int is_blank(char c) {
  return c == ' ' || c == '\t';
}

enum {
  K_HOSTNAME,
  K_USER,
  K_PORT,
  K_IDENTITYFILE,
  K_IDENTITYAGENT,
  K_PROXYJUMP,
  K_PROXYCOMMAND,
  K_HOSTKEYALIAS,
  K_COUNT
};

static const char *const kw_names[K_COUNT] = {
    "hostname",      "user",      "port",         "identityfile",
    "identityagent", "proxyjump", "proxycommand", "hostkeyalias"};

static int fail(char *err, size_t size, int code, size_t line, const char *what,
                const char *why) {
  if (size > 0)
    snprintf(err, size, "line %zu: %s: %s", line, what, why);
  return code;
}

int sshmuxd_sshg_parse(const char *data, size_t len, sshmuxd_sshg_t *out,
                       char *err, size_t err_size) {
  int seen[K_COUNT] = {0};
  size_t pos = 0, line = 0;

  if (err_size > 0)
    err[0] = '\0';
  memset(out, 0, sizeof(*out));
  if (len > SSHMUXD_SSHG_MAX_INPUT)
    return fail(err, err_size, SSHMUXD_SSHG_ETOOBIG, 0, "output", "too large");
  while (pos < len) {
    const char *s = data + pos, *nl = memchr(s, '\n', len - pos);
    size_t n = nl != NULL ? (size_t)(nl - s) : len - pos, k = 0, v, i;
    char *dst = NULL;
    int key;

    pos += n + (nl != NULL);
    line++;
    while (k < n && !is_blank(s[k]))
      k++;
    for (key = 0; key < K_COUNT; key++)
      if (word_is(s, k, kw_names[key]))
        break;
    if (key == K_COUNT)
      continue; /* not ours: never looked at */
    for (v = k; v < n && is_blank(s[v]); v++)
      ;
    if (v == n)
      return fail(err, err_size, SSHMUXD_SSHG_EVALUE, line, kw_names[key],
                  "empty value");
    if (n - v > SSHMUXD_SSHG_MAX_VALUE)
      return fail(err, err_size, SSHMUXD_SSHG_EVALUE, line, kw_names[key],
                  "value too long");
    for (i = v; i < n; i++) {
      unsigned char c = (unsigned char)s[i];
      if (c < 0x20 || c == 0x7f)
        return fail(err, err_size, SSHMUXD_SSHG_EVALUE, line, kw_names[key],
                    c == '\r'   ? "carriage return in value"
                    : c == '\0' ? "NUL byte in value"
                                : "control character in value");
    }
    if (key != K_IDENTITYFILE && seen[key])
      return fail(err, err_size, SSHMUXD_SSHG_EVALUE, line, kw_names[key],
                  "given twice");
    seen[key] = 1;
    switch (key) {
    case K_HOSTNAME:
      dst = out->hostname;
      break;
    case K_USER:
      dst = out->user;
      break;
    case K_PORT: {
      long p = 0;
      for (i = v; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || i - v >= 5)
          return fail(err, err_size, SSHMUXD_SSHG_EVALUE, line, "port",
                      "not a port number");
        p = p * 10 + (s[i] - '0');
      }
      if (p < 1 || p > 65535)
        return fail(err, err_size, SSHMUXD_SSHG_EVALUE, line, "port",
                    "not a port number");
      out->port = (int)p;
      continue;
    }
    case K_IDENTITYFILE:
      if (out->nidentity == SSHMUXD_SSHG_MAX_IDS)
        return fail(err, err_size, SSHMUXD_SSHG_EVALUE, line, "identityfile",
                    "too many");
      dst = out->identity[out->nidentity++];
      break;
    case K_IDENTITYAGENT:
      dst = out->identityagent;
      out->has_identityagent = 1;
      break;
    case K_PROXYJUMP:
      dst = out->proxyjump;
      out->has_proxyjump = 1;
      break;
    case K_PROXYCOMMAND:
      dst = out->proxycommand;
      out->has_proxycommand = 1;
      break;
    default:
      dst = out->hostkeyalias;
      out->has_hostkeyalias = 1;
      break;
    }
    memcpy(dst, s + v, n - v);
    dst[n - v] = '\0';
  }
  if (!seen[K_HOSTNAME] || !seen[K_USER] || !seen[K_PORT])
    return fail(err, err_size, SSHMUXD_SSHG_EMISSING, line,
                !seen[K_HOSTNAME] ? "hostname"
                : !seen[K_USER]   ? "user"
                                  : "port",
                "missing (is this `ssh -G` output?)");
  return 0;
}

void sshmuxd_sshcfg_line(const char *start, size_t len,
                         sshmuxd_sshcfg_line_t *l) {
  const char *s = start, *e = start + len, *k;

  if (e > s && e[-1] == '\r')
    e--;
  while (s < e && is_blank(*s))
    s++;
  k = s;
  while (s < e && !is_blank(*s) && *s != '=')
    s++;
  l->keyword = k;
  l->keyword_len = (size_t)(s - k);
  while (s < e && is_blank(*s))
    s++;
  if (s < e && *s == '=')
    s++;
  while (s < e && is_blank(*s))
    s++;
  l->args = s;
  l->args_len = (size_t)(e - s);
}

int sshmuxd_sshcfg_is(const sshmuxd_sshcfg_line_t *l, const char *kw) {
  return word_is(l->keyword, l->keyword_len, kw);
}

/* OpenSSH 9.2's argv_split(s, ..., terminate_on_comment = 1), as readconf.c
 * calls it on the rest of the line, over [*s, e) instead of a C string.
 * Besides splitting at blanks outside quotes it takes:
 *  - a '#' where an argument would begin: a comment to the end of the line
 *    (a '#' inside an argument, `a#b`, is an ordinary byte);
 *  - single or double quotes, anywhere in an argument, grouping what lies
 *    between them (the other kind of quote being ordinary there), removed;
 *  - a backslash before \ ' or " (anywhere), or before a space (outside
 *    quotes only): the backslash is removed, the byte after it kept as it
 *    is; any other backslash is an ordinary byte (`\#`, `a\`, `\<tab>`);
 *  - a NUL byte: the end of the line, as it is for ssh's C string. */
int sshmuxd_sshcfg_arg(const char **s, const char *e, char *out, size_t size,
                       int *cut) {
  const char *p = *s;
  size_t n = 0;
  char quote = 0;
  int over = 0;

  while (p < e && is_blank(*p))
    p++;
  if (p >= e || *p == '\0' || *p == '#') {
    *s = e;
    return 0;
  }
  for (; p < e && *p != '\0'; p++) {
    char c = *p;
    if (c == '\\' && p + 1 < e &&
        (p[1] == '\\' || p[1] == '\'' || p[1] == '"' ||
         (quote == 0 && p[1] == ' '))) {
      c = *++p;
    } else if (quote == 0 && is_blank(c)) {
      break;
    } else if (quote == 0 && (c == '"' || c == '\'')) {
      quote = c;
      continue;
    } else if (quote != 0 && c == quote) {
      quote = 0;
      continue;
    }
    if (n + 1 < size)
      out[n++] = c;
    else
      over = 1;
  }
  if (quote != 0) {
    /* ssh refuses the line ("invalid quotes"): no argument, none after. */
    if (size > 0)
      out[0] = '\0';
    *s = e;
    return SSHMUXD_SSHCFG_EQUOTE;
  }
  if (size > 0)
    out[n] = '\0';
  if (over && cut != NULL)
    *cut = 1;
  *s = p;
  return 1;
}

int sshmuxd_sshcfg_args_ok(const char *s, const char *e) {
  int r;

  while ((r = sshmuxd_sshcfg_arg(&s, e, NULL, 0, NULL)) > 0)
    ;
  return r == 0;
}
