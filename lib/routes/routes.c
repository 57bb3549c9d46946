/* routes.c -- loading and querying the routes file (sshmux/routes.h).
 *
 * inih splits lines into sections and key = value pairs, but on its own it
 * is too forgiving for a file that decides where credentials go: it strips
 * white space silently, joins indented lines onto the previous value,
 * truncates long section names, splits over-long lines into two, and its
 * handler gets no line number in the Debian build.  So inih reads through
 * our own line reader (reader() below), which sees every raw line first:
 * it counts lines (the handler's FILE:LINE comes from it), refuses CR, NUL,
 * control characters, leading and trailing white space and over-long
 * lines, and parses section headers itself, so section names are never
 * truncated and duplicate or empty sections are seen.  The handler then
 * only checks and stores values.  A second pass (validate()) checks what
 * needs the whole file: required keys, jump names, cycles, chain length;
 * and folds [defaults] into every hop.
 *
 * Everything goes into one object that is either returned complete or
 * freed: a config is never half-loaded.
 *
 * Hops built in memory (sshmux_routes_add_route/_jump) go through the same
 * code: new_hop() is what a section header does, each key, value pair is
 * handed to handler() as inih hands it a line, and validate() runs over
 * the whole object afterwards.  An addition that fails is taken out again
 * and the object revalidated, so it is valid after every call.  Lines:
 * a hop added without a caller's line gets LINE_NONE, which counts as "set"
 * in settings_t.line[] but is never printed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "core/core.h"
#include "routes/routes.h"
#include "sshmux/file.h"

#define NAME_MAX_LEN 64
#define HOST_MAX_LEN 253
#define PATH_MAX_LEN 4095
#define TIME_MAX 1000000000u
#define MAX_SECTIONS 10000
/* settings_t.line[] / hop line for something given in memory without a
 * line number: non-zero ("set"), never shown in a message. */
#define LINE_NONE (-1)

enum {
  K_HOST,
  K_PORT,
  K_USER,
  K_IDENTITY,
  K_AGENT,
  K_JUMP,
  K_DIRECT,
  K_IDLE,
  K_LIFETIME,
  K_KEEPALIVE,
  K_ACCEPT,
  K_FORWARD,
  K_ENV,
  K_ASKPASS,
  K_NOTIFY,
  K_CONTROL_MASTER,
  K_COUNT
};

/* Where a key may appear. */
#define W_DEFAULTS 1u
#define W_JUMP 2u
#define W_ROUTE 4u
#define W_HOP (W_JUMP | W_ROUTE)

static const struct {
  const char *name;
  unsigned where;
} keys[K_COUNT] = {
    [K_HOST] = {"host", W_HOP},
    [K_PORT] = {"port", W_HOP},
    [K_USER] = {"user", W_HOP},
    [K_IDENTITY] = {"identity", W_HOP},
    [K_AGENT] = {"identity_agent", W_HOP},
    [K_JUMP] = {"jump", W_HOP},
    [K_DIRECT] = {"direct", W_ROUTE},
    [K_IDLE] = {"idle_timeout", W_DEFAULTS | W_HOP},
    [K_LIFETIME] = {"max_lifetime", W_DEFAULTS | W_HOP},
    [K_KEEPALIVE] = {"keepalive", W_DEFAULTS | W_HOP},
    [K_ACCEPT] = {"accept_new_hostkey", W_DEFAULTS | W_HOP},
    [K_FORWARD] = {"forward_allow", W_HOP},
    [K_ENV] = {"env_allow", W_DEFAULTS | W_ROUTE},
    [K_ASKPASS] = {"askpass", W_DEFAULTS},
    [K_NOTIFY] = {"notify", W_DEFAULTS},
    [K_CONTROL_MASTER] = {"control_master", W_DEFAULTS},
};

/* The settings [defaults] and hops share; line[k] != 0 iff key k was set
 * (and says where, for duplicate and later errors). */
typedef struct {
  int line[K_COUNT];
  unsigned idle_timeout, max_lifetime, keepalive;
  int accept_new_hostkey;
} settings_t;

/* An env_allow list; the built-in default is a static instance. */
typedef struct {
  const char *const *pat;
  size_t n;
  const char *text;
} env_list_t;

static const char *const default_env_pat[] = {"LANG", "LC_*", "TERM",
                                              "COLORTERM"};
static const env_list_t default_env = {default_env_pat, 4,
                                       "LANG,LC_*,TERM,COLORTERM"};

enum { FWD_HOSTPORT, FWD_LOOPBACK, FWD_PATH };
typedef struct {
  int kind;
  char *host; /* FWD_HOSTPORT: NULL for "*"; FWD_PATH: the path */
  int port;   /* FWD_HOSTPORT: 0 for "*" */
} fwd_entry_t;

struct sshmux_route {
  char *name;
  int is_jump;
  int line;         /* of the section header */
  char *host;       /* never NULL once loaded */
  int port;         /* 1..65535 */
  char *user;       /* never NULL once loaded */
  char *identity;   /* absolute path or NULL */
  char *agent;      /* identity_agent: absolute path, "none", or NULL */
  char *jump_name;  /* as written, or NULL */
  int direct;       /* routes: direct = true */
  settings_t s;     /* [defaults] folded in by validate() */
  fwd_entry_t *fwd; /* used only when s.line[K_FORWARD] != 0 */
  size_t nfwd;
  char *fwd_text;            /* the value as written */
  env_list_t env_own;        /* routes: their own env_allow */
  const env_list_t *env;     /* what applies: own, defaults' or built-in */
  const sshmux_route_t *via; /* next hop outwards, NULL = direct */
};

struct sshmux_routes {
  char *path; /* the file, or the origin given to sshmux_routes_new */
  char *home; /* for "~/" in identity values added later; NULL = none */
  sshmux_route_t **routes; /* file order */
  size_t nroutes;
  sshmux_route_t **jumps; /* file order */
  size_t njumps;
  settings_t defaults;
  int defaults_line; /* header line of [defaults], 0 if absent */
  env_list_t env;    /* [defaults] env_allow, valid if defaults.line[K_ENV] */
  char *askpass;
  int notify;
  int control_master; /* 1 unless [defaults] control_master = false */
};

enum { S_NONE, S_DEFAULTS, S_JUMP, S_ROUTE };

typedef struct {
  const char *data;
  size_t len, pos;
  int lineno;
  const char *filename;
  const char *home;
  sshmux_routes_t *r;
  int sec;             /* S_* of the current section */
  sshmux_route_t *cur; /* the current hop (S_JUMP, S_ROUTE) */
  char *err;
  size_t err_size;
  int failed; /* 0, or the error code to return */
} parse_t;

/* ---- errors ---- */

/* Record the first error as "FILE:LINE: message" (line 0: "FILE: ...").
 * Returns 0 so handlers can `return fail(...)`. */
static int fail(parse_t *p, int line, const char *fmt, ...)
    SSHMUX__PRINTF(3, 4);
static int fail(parse_t *p, int line, const char *fmt, ...) {
  va_list ap;
  int n;

  if (p->failed)
    return 0;
  p->failed = SSHMUX_ECONFIG;
  if (p->err == NULL || p->err_size == 0)
    return 0;
  if (line > 0)
    n = snprintf(p->err, p->err_size, "%s:%d: ", p->filename, line);
  else
    n = snprintf(p->err, p->err_size, "%s: ", p->filename);
  if (n < 0 || (size_t)n >= p->err_size)
    return 0;
  va_start(ap, fmt);
  vsnprintf(p->err + n, p->err_size - (size_t)n, fmt, ap);
  va_end(ap);
  return 0;
}

static int fail_nomem(parse_t *p) {
  if (!p->failed) {
    fail(p, 0, "out of memory");
    p->failed = SSHMUX_ENOMEM;
  }
  return 0;
}

/* A copy of s fit to quote in a message: at most 48 bytes, anything not
 * printable ASCII as '?'. */
static const char *quote(const char *s, char *buf, size_t size) {
  size_t i;

  for (i = 0; s[i] != '\0' && i + 1 < size && i < 48; i++)
    buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
  buf[i] = '\0';
  return buf;
}

/* ---- value syntax ---- */

int sshmux__routes_name_valid(const char *s) {
  size_t i;

  for (i = 0; s[i] != '\0'; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return i > 0 && i <= NAME_MAX_LEN;
}

static int valid_hostname(const char *s) {
  size_t i, n = strlen(s);

  if (n == 0 || n > HOST_MAX_LEN || s[0] == '-' || s[0] == '.')
    return 0;
  for (i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

/* A host value: a name, an IPv4 address or an IPv6 address (bare). */
static int valid_host(const char *s) {
  unsigned char a[16];

  if (strchr(s, ':') != NULL)
    return inet_pton(AF_INET6, s, a) == 1;
  return valid_hostname(s);
}

/* Decimal digits only (no sign, no white space), value <= max. */
static int parse_uint(const char *s, unsigned max, unsigned *out) {
  unsigned long v = 0;
  size_t i;

  if (s[0] == '\0')
    return -1;
  for (i = 0; s[i] != '\0'; i++) {
    if (s[i] < '0' || s[i] > '9' || i >= 10)
      return -1;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v > max)
    return -1;
  *out = (unsigned)v;
  return 0;
}

static int parse_port(const char *s, int *out) {
  unsigned v;

  if (parse_uint(s, 65535, &v) != 0 || v == 0)
    return -1;
  *out = (int)v;
  return 0;
}

static int parse_bool(const char *s, int *out) {
  static const char *const t[] = {"true", "yes", "on", "1"};
  static const char *const f[] = {"false", "no", "off", "0"};
  size_t i;

  for (i = 0; i < SSHMUX__ARRAY_SIZE(t); i++) {
    if (strcasecmp(s, t[i]) == 0) {
      *out = 1;
      return 0;
    }
    if (strcasecmp(s, f[i]) == 0) {
      *out = 0;
      return 0;
    }
  }
  return -1;
}

static int is_space(char c) {
  return c == ' ' || c == '\t';
}

/* ---- the line reader ---- */

static int section_header(parse_t *p, char *line, size_t n);
static int new_hop(parse_t *p, int is_jump, const char *hopname,
                   const char *section);

/* Does a key line have '=' or ':' before any inline comment (" ;"), as
 * inih requires? */
static int has_separator(const char *s, size_t n) {
  size_t i;

  for (i = 0; i < n; i++) {
    if (s[i] == '=' || s[i] == ':')
      return 1;
    if (s[i] == ';' && i > 0 && is_space(s[i - 1]))
      return 0;
  }
  return 0;
}

/* inih's fgets-style reader over p->data.  Checks each raw line before
 * inih sees it; on any problem records the error and reports end of input
 * so inih stops at once. */
static char *reader(char *str, int num, void *stream) {
  parse_t *p = stream;
  const char *start, *nl;
  size_t n, i, avail;
  int blank = 1;

  if (p->failed || p->pos >= p->len)
    return NULL;
  start = p->data + p->pos;
  avail = p->len - p->pos;
  nl = memchr(start, '\n', avail);
  n = nl ? (size_t)(nl - start) : avail;
  p->pos += n + (nl ? 1 : 0);
  p->lineno++;
  if (p->lineno == 1 && n >= 3 && memcmp(start, "\xef\xbb\xbf", 3) == 0) {
    start += 3; /* a UTF-8 byte-order mark, as editors on Windows write */
    n -= 3;
  }
  if (num < 3 || n > (size_t)num - 3 || n > SSHMUX_ROUTES_MAX_LINE) {
    fail(p, p->lineno, "line longer than %d characters",
         SSHMUX__MIN(num - 3, SSHMUX_ROUTES_MAX_LINE));
    return NULL;
  }
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)start[i];
    if (c == '\0') {
      fail(p, p->lineno, "NUL byte in line");
      return NULL;
    }
    if (c == '\r') {
      fail(p, p->lineno,
           "carriage return in line (CRLF line endings are not accepted)");
      return NULL;
    }
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      fail(p, p->lineno, "control character 0x%02x in line", c);
      return NULL;
    }
    if (!is_space((char)c))
      blank = 0;
  }
  if (blank) {
    str[0] = '\n';
    str[1] = '\0';
    return str;
  }
  if (is_space(start[0])) {
    fail(p, p->lineno,
         "line starts with white space (continuation lines are not "
         "supported)");
    return NULL;
  }
  if (is_space(start[n - 1])) {
    fail(p, p->lineno, "trailing white space");
    return NULL;
  }
  memcpy(str, start, n);
  str[n] = '\n';
  str[n + 1] = '\0';
  if (start[0] == '[' && section_header(p, str, n) != 0)
    return NULL;
  if (start[0] != '[' && start[0] != ';' && start[0] != '#' &&
      !has_separator(start, n)) {
    /* inih would flag this too, but only report it after parsing on; we
     * want the first error in the file to be the one reported. */
    fail(p, p->lineno, "syntax error (expected key = value)");
    return NULL;
  }
  return str;
}

static sshmux_route_t *find_in(sshmux_route_t *const *v, size_t n,
                               const char *name) {
  size_t i;

  for (i = 0; i < n; i++)
    if (strcmp(v[i]->name, name) == 0)
      return v[i];
  return NULL;
}

static int push(sshmux_route_t ***v, size_t *n, sshmux_route_t *hop) {
  sshmux_route_t **nv = sshmux__reallocarray(*v, *n + 1, sizeof(**v));

  if (nv == NULL)
    return -1;
  nv[(*n)++] = hop;
  *v = nv;
  return 0;
}

static void hop_free(sshmux_route_t *h) {
  size_t i;

  if (h == NULL)
    return;
  sshmux__free(h->name);
  sshmux__free(h->host);
  sshmux__free(h->user);
  sshmux__free(h->identity);
  sshmux__free(h->agent);
  sshmux__free(h->jump_name);
  for (i = 0; i < h->nfwd; i++)
    sshmux__free(h->fwd[i].host);
  sshmux__free(h->fwd);
  sshmux__free(h->fwd_text);
  for (i = 0; i < h->env_own.n; i++)
    sshmux__free((void *)(uintptr_t)h->env_own.pat[i]);
  sshmux__free((void *)(uintptr_t)h->env_own.pat);
  sshmux__free((void *)(uintptr_t)h->env_own.text);
  sshmux__free(h);
}

/* "[...]" at the start of line (n bytes, already checked for controls and
 * edge white space).  Starts the section, creating its hop.  Returns 0 or
 * -1 after recording an error. */
static int section_header(parse_t *p, char *line, size_t n) {
  char name[SSHMUX_ROUTES_MAX_LINE + 1], q[64];
  const char *close = memchr(line, ']', n);
  const char *rest, *hopname;
  size_t len;
  int is_jump;

  if (close == NULL) {
    fail(p, p->lineno, "section header without ']'");
    return -1;
  }
  for (rest = close + 1; rest < line + n && is_space(*rest); rest++)
    ;
  if (rest < line + n &&
      !(rest > close + 1 && (*rest == ';' || *rest == '#'))) {
    fail(p, p->lineno, "unexpected text after section header");
    return -1;
  }
  len = (size_t)(close - line - 1);
  memcpy(name, line + 1, len);
  name[len] = '\0';
  if (strcmp(name, "defaults") == 0) {
    if (p->r->defaults_line) {
      fail(p, p->lineno, "duplicate section [defaults] (first on line %d)",
           p->r->defaults_line);
      return -1;
    }
    p->r->defaults_line = p->lineno;
    p->sec = S_DEFAULTS;
    p->cur = NULL;
    return 0;
  }
  if (strcmp(name, "jump") == 0) {
    hopname = SSHMUX_ROUTES_DEFAULT_JUMP;
    is_jump = 1;
  } else if (strncmp(name, "jumps.", 6) == 0) {
    hopname = name + 6;
    is_jump = 1;
    if (strcmp(hopname, SSHMUX_ROUTES_DEFAULT_JUMP) == 0) {
      fail(p, p->lineno,
           "[jumps.%s] is reserved: the default jump is the [jump] section",
           SSHMUX_ROUTES_DEFAULT_JUMP);
      return -1;
    }
  } else if (strncmp(name, "routes.", 7) == 0) {
    hopname = name + 7;
    is_jump = 0;
  } else {
    fail(p, p->lineno,
         "unknown section [%s] (expected [defaults], [jump], [jumps.NAME] or "
         "[routes.NAME])",
         quote(name, q, sizeof(q)));
    return -1;
  }
  if (!sshmux__routes_name_valid(hopname)) {
    fail(p, p->lineno,
         "invalid name '%s' in [%s]: names are 1-%d of A-Z a-z 0-9 . _ -",
         quote(hopname, q, sizeof(q)), is_jump ? "jumps.NAME" : "routes.NAME",
         NAME_MAX_LEN);
    return -1;
  }
  return new_hop(p, is_jump, hopname, name);
}

/* Start the hop hopname (a section [section], or one added in memory when
 * section is NULL): checks the name is new, creates the hop and makes it
 * the current one.  Returns 0, or -1 after recording the error. */
static int new_hop(parse_t *p, int is_jump, const char *hopname,
                   const char *section) {
  sshmux_route_t *hop, *dup;

  dup = is_jump ? find_in(p->r->jumps, p->r->njumps, hopname)
                : find_in(p->r->routes, p->r->nroutes, hopname);
  if (dup != NULL) {
    if (section == NULL) {
      fail(p, p->lineno, "duplicate %s '%s'", is_jump ? "jump" : "route",
           hopname);
      p->failed = SSHMUX_EEXISTS;
    } else if (dup->line > 0) {
      fail(p, p->lineno, "duplicate section [%s] (first on line %d)", section,
           dup->line);
    } else {
      fail(p, p->lineno, "duplicate section [%s]", section);
    }
    return -1;
  }
  if (p->r->nroutes + p->r->njumps >= MAX_SECTIONS) {
    fail(p, p->lineno, "more than %d sections", MAX_SECTIONS);
    return -1;
  }
  hop = sshmux__calloc(1, sizeof(*hop));
  if (hop == NULL || (hop->name = sshmux__strdup(hopname)) == NULL ||
      push(is_jump ? &p->r->jumps : &p->r->routes,
           is_jump ? &p->r->njumps : &p->r->nroutes, hop) != 0) {
    hop_free(hop);
    fail_nomem(p);
    return -1;
  }
  hop->is_jump = is_jump;
  hop->line = p->lineno;
  hop->port = 22;
  p->sec = is_jump ? S_JUMP : S_ROUTE;
  p->cur = hop;
  return 0;
}

/* ---- list values ---- */

/* Split value at commas into trimmed items; calls fn for each.  An empty
 * item is an error. */
static int each_item(parse_t *p, const char *key, const char *value,
                     int (*fn)(parse_t *p, const char *item, void *arg),
                     void *arg) {
  char item[SSHMUX_ROUTES_MAX_LINE + 1];
  const char *s = value;

  for (;;) {
    const char *comma = strchr(s, ',');
    const char *e = comma ? comma : s + strlen(s);
    while (s < e && is_space(*s))
      s++;
    while (e > s && is_space(e[-1]))
      e--;
    if (e == s)
      return fail(p, p->lineno, "empty item in '%s' list", key), -1;
    memcpy(item, s, (size_t)(e - s));
    item[e - s] = '\0';
    if (fn(p, item, arg) != 0)
      return -1;
    if (comma == NULL)
      return 0;
    s = comma + 1;
  }
}

static int add_fwd(parse_t *p, const char *item, void *arg) {
  sshmux_route_t *h = arg;
  fwd_entry_t e = {FWD_HOSTPORT, NULL, 0}, *nv;
  char host[SSHMUX_ROUTES_MAX_LINE + 1], q[64];
  const char *portstr;
  unsigned char a[16];
  unsigned port;

  if (strcmp(item, "none") == 0)
    return fail(p, p->lineno, "'none' must be the only forward_allow item"), -1;
  if (strcmp(item, "loopback") == 0) {
    e.kind = FWD_LOOPBACK;
  } else if (item[0] == '/') {
    e.kind = FWD_PATH;
    if (strlen(item) > PATH_MAX_LEN || strpbrk(item, " \t") != NULL)
      return fail(p, p->lineno, "bad socket path in forward_allow"), -1;
    if ((e.host = sshmux__strdup(item)) == NULL)
      return fail_nomem(p), -1;
  } else {
    if (item[0] == '[') {
      const char *close = strchr(item, ']');
      if (close == NULL || close[1] != ':')
        goto bad;
      memcpy(host, item + 1, (size_t)(close - item - 1));
      host[close - item - 1] = '\0';
      if (inet_pton(AF_INET6, host, a) != 1)
        goto bad;
      portstr = close + 2;
    } else {
      const char *colon = strrchr(item, ':');
      if (colon == NULL)
        goto bad;
      memcpy(host, item, (size_t)(colon - item));
      host[colon - item] = '\0';
      if (strcmp(host, "*") != 0 && !valid_hostname(host))
        goto bad;
      portstr = colon + 1;
    }
    if (strcmp(portstr, "*") == 0)
      port = 0;
    else if (parse_uint(portstr, 65535, &port) != 0 || port == 0)
      goto bad;
    e.port = (int)port;
    if (strcmp(host, "*") != 0 && (e.host = sshmux__strdup(host)) == NULL)
      return fail_nomem(p), -1;
  }
  nv = sshmux__reallocarray(h->fwd, h->nfwd + 1, sizeof(*nv));
  if (nv == NULL) {
    sshmux__free(e.host);
    return fail_nomem(p), -1;
  }
  nv[h->nfwd++] = e;
  h->fwd = nv;
  return 0;
bad:
  return fail(p, p->lineno,
              "bad forward_allow item '%s' (expected HOST:PORT, [IPV6]:PORT, "
              "loopback, none or /socket/path; HOST or PORT may be *)",
              quote(item, q, sizeof(q))),
         -1;
}

static int add_env(parse_t *p, const char *item, void *arg) {
  env_list_t *l = arg;
  const char **nv;
  char *dup, q[64];
  size_t i, n = strlen(item);

  for (i = 0; i < n; i++) {
    char c = item[i];
    int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
             (i > 0 && c >= '0' && c <= '9') ||
             (i > 0 && i == n - 1 && c == '*');
    if (!ok)
      return fail(p, p->lineno,
                  "bad env_allow item '%s' (a variable name, optionally "
                  "ending in *)",
                  quote(item, q, sizeof(q))),
             -1;
  }
  nv = sshmux__reallocarray((void *)(uintptr_t)l->pat, l->n + 1, sizeof(*nv));
  if (nv == NULL)
    return fail_nomem(p), -1;
  l->pat = nv;
  if ((dup = sshmux__strdup(item)) == NULL)
    return fail_nomem(p), -1;
  nv[l->n++] = dup;
  return 0;
}

static int set_env(parse_t *p, env_list_t *l, const char *value) {
  if ((l->text = sshmux__strdup(value)) == NULL)
    return fail_nomem(p), -1;
  if (strcmp(value, "none") == 0)
    return 0;
  return each_item(p, "env_allow", value, add_env, l);
}

/* ---- the key handler ---- */

static int set_time(parse_t *p, const char *key, const char *value,
                    unsigned *out) {
  char q[64];

  if (parse_uint(value, TIME_MAX, out) != 0)
    return fail(p, p->lineno, "bad value '%s' for %s (expected seconds, 0-%u)",
                quote(value, q, sizeof(q)), key, TIME_MAX),
           -1;
  return 0;
}

static int set_bool(parse_t *p, const char *key, const char *value, int *out) {
  char q[64];

  if (parse_bool(value, out) != 0)
    return fail(p, p->lineno, "bad value '%s' for %s (expected true or false)",
                quote(value, q, sizeof(q)), key),
           -1;
  return 0;
}

static int set_string(parse_t *p, char **out, const char *value) {
  if ((*out = sshmux__strdup(value)) == NULL)
    return fail_nomem(p), -1;
  return 0;
}

/* A path value (identity, identity_agent): absolute, or ~/ expanded
 * against the home directory. */
static int set_path(parse_t *p, const char *key, char **out,
                    const char *value) {
  char q[64];

  if (value[0] == '~') {
    if (value[1] != '/')
      return fail(p, p->lineno, "%s '%s': only ~/ is expanded (not ~user)", key,
                  quote(value, q, sizeof(q))),
             -1;
    if (p->home == NULL || p->home[0] != '/')
      return fail(p, p->lineno,
                  "%s '%s': no home directory to expand ~ against", key,
                  quote(value, q, sizeof(q))),
             -1;
    *out = sshmux__asprintf("%s%s%s", p->home,
                            p->home[strlen(p->home) - 1] == '/' ? "" : "/",
                            value + 2);
    if (*out == NULL)
      return fail_nomem(p), -1;
  } else if (value[0] == '/') {
    if (set_string(p, out, value) != 0)
      return -1;
  } else {
    return fail(p, p->lineno,
                "%s '%s' must be an absolute path or start with ~/", key,
                quote(value, q, sizeof(q))),
           -1;
  }
  if (strlen(*out) > PATH_MAX_LEN)
    return fail(p, p->lineno, "%s path too long", key), -1;
  return 0;
}

static int set_settings(parse_t *p, settings_t *s, int k, const char *value) {
  switch (k) {
  case K_IDLE:
    return set_time(p, keys[k].name, value, &s->idle_timeout);
  case K_LIFETIME:
    return set_time(p, keys[k].name, value, &s->max_lifetime);
  case K_KEEPALIVE:
    return set_time(p, keys[k].name, value, &s->keepalive);
  case K_ACCEPT:
    return set_bool(p, keys[k].name, value, &s->accept_new_hostkey);
  default:
    return 1; /* not a shared setting */
  }
}

static int handler(void *user, const char *section, const char *name,
                   const char *value) {
  parse_t *p = user;
  sshmux_route_t *h = p->cur;
  settings_t *s;
  unsigned where;
  char q[64];
  size_t vlen;
  int k, r;

  (void)section; /* inih's copy may be truncated: we track our own */
  if (p->failed)
    return 0;
  if (p->sec == S_NONE)
    return fail(p, p->lineno, "'%s' outside any section",
                quote(name, q, sizeof(q)));
  for (k = 0; k < K_COUNT; k++)
    if (strcmp(name, keys[k].name) == 0)
      break;
  if (k == K_COUNT)
    return fail(p, p->lineno, "unknown key '%s'", quote(name, q, sizeof(q)));
  where = p->sec == S_DEFAULTS ? W_DEFAULTS
          : p->sec == S_JUMP   ? W_JUMP
                               : W_ROUTE;
  if (!(keys[k].where & where))
    return fail(p, p->lineno, "key '%s' is not valid in a %s section", name,
                p->sec == S_DEFAULTS ? "[defaults]"
                : p->sec == S_JUMP   ? "jump"
                                     : "route");
  s = p->sec == S_DEFAULTS ? &p->r->defaults : &h->s;
  if (s->line[k] > 0)
    return fail(p, p->lineno, "duplicate key '%s' (first on line %d)", name,
                s->line[k]);
  if (s->line[k])
    return fail(p, p->lineno, "duplicate key '%s'", name);
  s->line[k] = p->lineno;
  /* The reader refused white space at the line's ends and inih strips it
   * around '=', so these hold already; checked again because a value with
   * such bytes must never get through whatever inih does. */
  vlen = strlen(value);
  if (vlen == 0)
    return fail(p, p->lineno, "empty value for '%s'", name);
  if (is_space(value[0]) || is_space(value[vlen - 1]))
    return fail(p, p->lineno,
                "value of '%s' has leading or trailing white "
                "space",
                name);
  for (size_t i = 0; i < vlen; i++)
    if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
      return fail(p, p->lineno, "control character in value of '%s'", name);
  /* A file's lines cannot be longer; values given in memory can. */
  if (vlen > SSHMUX_ROUTES_MAX_LINE)
    return fail(p, p->lineno, "value of '%s' longer than %d characters", name,
                SSHMUX_ROUTES_MAX_LINE);

  r = set_settings(p, s, k, value);
  if (r <= 0)
    return r == 0;
  switch (k) {
  case K_HOST:
    if (!valid_host(value))
      return fail(p, p->lineno,
                  "bad host '%s' (a host name, IPv4 or IPv6 address)",
                  quote(value, q, sizeof(q)));
    return set_string(p, &h->host, value) == 0;
  case K_PORT:
    if (parse_port(value, &h->port) != 0)
      return fail(p, p->lineno, "bad port '%s' (expected 1-65535)",
                  quote(value, q, sizeof(q)));
    return 1;
  case K_USER:
    if (value[0] == '-' || strpbrk(value, " ") != NULL || vlen > 128)
      return fail(p, p->lineno, "bad user '%s'", quote(value, q, sizeof(q)));
    return set_string(p, &h->user, value) == 0;
  case K_IDENTITY:
    return set_path(p, name, &h->identity, value) == 0;
  case K_AGENT:
    /* "none": no agent for this hop, even with SSH_AUTH_SOCK set (as
     * OpenSSH's IdentityAgent none). */
    if (strcmp(value, "none") == 0)
      return set_string(p, &h->agent, value) == 0;
    if (strcmp(value, "SSH_AUTH_SOCK") == 0 || value[0] == '$')
      return fail(p, p->lineno,
                  "identity_agent '%s': environment variables are not "
                  "expanded (leave identity_agent out to use SSH_AUTH_SOCK)",
                  quote(value, q, sizeof(q)));
    if (set_path(p, name, &h->agent, value) != 0)
      return 0;
    if (strlen(h->agent) >= 108) /* sizeof(sockaddr_un.sun_path) */
      return fail(p, p->lineno,
                  "identity_agent '%s': a socket path must be shorter than "
                  "108 bytes",
                  quote(value, q, sizeof(q)));
    return 1;
  case K_JUMP:
    if (!sshmux__routes_name_valid(value))
      return fail(p, p->lineno, "bad jump name '%s'",
                  quote(value, q, sizeof(q)));
    return set_string(p, &h->jump_name, value) == 0;
  case K_DIRECT:
    return set_bool(p, name, value, &h->direct) == 0;
  case K_FORWARD:
    if (set_string(p, &h->fwd_text, value) != 0)
      return 0;
    if (strcmp(value, "none") == 0)
      return 1;
    return each_item(p, name, value, add_fwd, h) == 0;
  case K_ENV:
    return set_env(p, p->sec == S_DEFAULTS ? &p->r->env : &h->env_own, value) ==
           0;
  case K_ASKPASS:
    if (value[0] != '/' || vlen > PATH_MAX_LEN)
      return fail(p, p->lineno, "askpass must be an absolute path");
    return set_string(p, &p->r->askpass, value) == 0;
  case K_NOTIFY:
    return set_bool(p, name, value, &p->r->notify) == 0;
  case K_CONTROL_MASTER:
    return set_bool(p, name, value, &p->r->control_master) == 0;
  default:
    return fail(p, p->lineno, "internal error: unhandled key");
  }
}

/* ---- whole-file validation ---- */

static sshmux_route_t *resolve_jump(parse_t *p, sshmux_route_t *h) {
  sshmux_route_t *j;
  char q[64];

  if (h->jump_name == NULL) {
    if (h->is_jump || h->direct)
      return NULL;
    return find_in(p->r->jumps, p->r->njumps, SSHMUX_ROUTES_DEFAULT_JUMP);
  }
  j = find_in(p->r->jumps, p->r->njumps, h->jump_name);
  if (j == NULL) {
    if (strcmp(h->jump_name, SSHMUX_ROUTES_DEFAULT_JUMP) == 0)
      fail(p, h->s.line[K_JUMP],
           "unknown jump '%s' (there is no [jump] section)",
           SSHMUX_ROUTES_DEFAULT_JUMP);
    else
      fail(p, h->s.line[K_JUMP], "unknown jump '%s' (no [jumps.%s] section)",
           quote(h->jump_name, q, sizeof(q)),
           quote(h->jump_name, q, sizeof(q)));
  }
  return j;
}

static int check_hop(parse_t *p, sshmux_route_t *h) {
  const char *kind = h->is_jump ? "jump" : "route";

  if (h->host == NULL)
    return fail(p, h->line, "%s '%s' has no 'host'", kind, h->name), -1;
  if (h->user == NULL)
    return fail(p, h->line, "%s '%s' has no 'user'", kind, h->name), -1;
  if (h->direct && h->jump_name != NULL)
    return fail(p,
                h->s.line[K_JUMP] > h->s.line[K_DIRECT] ? h->s.line[K_JUMP]
                                                        : h->s.line[K_DIRECT],
                "route '%s' says both 'direct = true' and 'jump'", h->name),
           -1;
  h->via = resolve_jump(p, h);
  return p->failed ? -1 : 0;
}

/* Walk h's chain; a hop seen twice is a cycle, reported at the 'jump' line
 * of h (or of the hop that closes it, for a route). */
static int check_chain(parse_t *p, const sshmux_route_t *h) {
  const sshmux_route_t *seen[SSHMUX_ROUTES_MAX_CHAIN + 1];
  const sshmux_route_t *x;
  char path[SSHMUX_ROUTES_ERR_MAX];
  size_t n = 0, i, off;

  for (x = h; x != NULL; x = x->via) {
    for (i = 0; i < n; i++) {
      if (seen[i] != x)
        continue;
      off = 0;
      path[0] = '\0';
      for (i = 0; i < n && off < sizeof(path); i++)
        off += (size_t)snprintf(path + off, sizeof(path) - off, "%s -> ",
                                seen[i]->name);
      if (off < sizeof(path))
        snprintf(path + off, sizeof(path) - off, "%s", x->name);
      return fail(p, seen[n - 1]->s.line[K_JUMP], "jump cycle: %s", path), -1;
    }
    if (n == SSHMUX_ROUTES_MAX_CHAIN)
      return fail(p, h->line > 0 ? h->line : 0,
                  "%s '%s': jump chain longer than %d hops",
                  h->is_jump ? "jump" : "route", h->name,
                  SSHMUX_ROUTES_MAX_CHAIN),
             -1;
    seen[n++] = x;
  }
  return 0;
}

static void fold_defaults(const sshmux_routes_t *r, sshmux_route_t *h) {
  const settings_t *d = &r->defaults;

  if (!h->s.line[K_IDLE])
    h->s.idle_timeout = d->line[K_IDLE] ? d->idle_timeout : 600;
  if (!h->s.line[K_LIFETIME])
    h->s.max_lifetime = d->line[K_LIFETIME] ? d->max_lifetime : 43200;
  if (!h->s.line[K_KEEPALIVE])
    h->s.keepalive = d->line[K_KEEPALIVE] ? d->keepalive : 15;
  if (!h->s.line[K_ACCEPT])
    h->s.accept_new_hostkey = d->accept_new_hostkey;
  if (h->s.line[K_ENV])
    h->env = &h->env_own;
  else if (d->line[K_ENV])
    h->env = &r->env;
  else
    h->env = &default_env;
}

static int validate(parse_t *p) {
  sshmux_routes_t *r = p->r;
  size_t i;

  /* Jumps first, so a route's error never hides a broken jump it uses. */
  for (i = 0; i < r->njumps; i++)
    if (check_hop(p, r->jumps[i]) != 0)
      return -1;
  for (i = 0; i < r->njumps; i++)
    if (check_chain(p, r->jumps[i]) != 0)
      return -1;
  for (i = 0; i < r->nroutes; i++)
    if (check_hop(p, r->routes[i]) != 0 || check_chain(p, r->routes[i]) != 0)
      return -1;
  for (i = 0; i < r->njumps; i++)
    fold_defaults(r, r->jumps[i]);
  for (i = 0; i < r->nroutes; i++)
    fold_defaults(r, r->routes[i]);
  return 0;
}

/* ---- loading ---- */

void sshmux_routes_free(sshmux_routes_t *r) {
  size_t i;

  if (r == NULL)
    return;
  for (i = 0; i < r->nroutes; i++)
    hop_free(r->routes[i]);
  for (i = 0; i < r->njumps; i++)
    hop_free(r->jumps[i]);
  sshmux__free(r->routes);
  sshmux__free(r->jumps);
  for (i = 0; i < r->env.n; i++)
    sshmux__free((void *)(uintptr_t)r->env.pat[i]);
  sshmux__free((void *)(uintptr_t)r->env.pat);
  sshmux__free((void *)(uintptr_t)r->env.text);
  sshmux__free(r->askpass);
  sshmux__free(r->path);
  sshmux__free(r->home);
  sshmux__free(r);
}

int sshmux__routes_load_buffer(sshmux_routes_t **routes, const char *data,
                               size_t len, const char *filename,
                               const char *home, char *err, size_t err_size) {
  parse_t p;
  int rc;

  if (routes == NULL || (data == NULL && len > 0) || filename == NULL)
    return SSHMUX_EINVAL;
  *routes = NULL;
  memset(&p, 0, sizeof(p));
  p.data = data;
  p.len = len;
  p.filename = filename;
  p.home = home;
  p.err = err;
  p.err_size = err_size;
  p.sec = S_NONE;
  p.r = sshmux__calloc(1, sizeof(*p.r));
  if (p.r != NULL)
    p.r->control_master = 1;
  if (p.r == NULL || (p.r->path = sshmux__strdup(filename)) == NULL ||
      (home != NULL && (p.r->home = sshmux__strdup(home)) == NULL)) {
    fail_nomem(&p);
    goto out;
  }
  if (len > SSHMUX_ROUTES_MAX_FILE) {
    fail(&p, 0, "larger than %d bytes", SSHMUX_ROUTES_MAX_FILE);
    goto out;
  }
  rc = ini_parse_stream(reader, &p, handler, &p);
  if (p.failed)
    goto out;
  if (rc == -2) {
    fail_nomem(&p);
    goto out;
  }
  if (rc != 0) {
    fail(&p, rc > 0 ? rc : 0,
         "syntax error (expected [section], key = value or a comment)");
    goto out;
  }
  validate(&p);
out:
  if (p.failed) {
    sshmux_routes_free(p.r);
    return p.failed;
  }
  *routes = p.r;
  return 0;
}

int sshmux_routes_load(sshmux_routes_t **routes, const char *path,
                       const char *home, char *err, size_t err_size) {
  char *data = NULL;
  size_t len = 0;
  int rc;

  if (routes == NULL || path == NULL)
    return SSHMUX_EINVAL;
  *routes = NULL;
  /* StrictModes: the file names programs we run (askpass) and keys we
   * use; nobody else may be able to write it. */
  rc = sshmux_path_check_perms(path, geteuid());
  if (rc == 0)
    rc = sshmux_file_read(path, SSHMUX_ROUTES_MAX_FILE, &data, &len);
  if (rc != 0) {
    if (err != NULL && err_size > 0)
      snprintf(
          err, err_size, "%s: %s", path,
          rc == SSHMUX_ETOOLONG ? "file too large"
          : rc == SSHMUX_EPERM
              ? "writable by others or not ours (chmod go-w; see sshmuxd log)"
              : sshmux_strerror(rc));
    return rc;
  }
  rc = sshmux__routes_load_buffer(routes, data, len, path, home, err, err_size);
  sshmux__free(data);
  return rc;
}

/* ---- building in memory ---- */

int sshmux_routes_new(sshmux_routes_t **routes, const char *origin,
                      const char *home) {
  sshmux_routes_t *r;

  if (routes == NULL)
    return SSHMUX_EINVAL;
  *routes = NULL;
  if (origin == NULL)
    return SSHMUX_EINVAL;
  r = sshmux__calloc(1, sizeof(*r));
  if (r != NULL)
    r->control_master = 1;
  if (r == NULL || (r->path = sshmux__strdup(origin)) == NULL ||
      (home != NULL && (r->home = sshmux__strdup(home)) == NULL)) {
    sshmux_routes_free(r);
    return SSHMUX_ENOMEM;
  }
  *routes = r;
  return 0;
}

/* Take v[i] out of a vector, keeping the order. */
static void vec_remove(sshmux_route_t **v, size_t *n, size_t i) {
  memmove(v + i, v + i + 1, (*n - i - 1) * sizeof(*v));
  (*n)--;
}

/* Recompute every hop's via and defaults after a hop was taken out; the
 * object was valid with it and every hop it had is still there. */
static void revalidate(sshmux_routes_t *r) {
  parse_t p;

  memset(&p, 0, sizeof(p));
  p.r = r;
  p.filename = r->path;
  (void)validate(&p); /* cannot fail: see above */
}

static int add_hop(sshmux_routes_t *r, int is_jump, const char *name,
                   const char *const *settings, int line, char *err,
                   size_t err_size) {
  parse_t p;
  char q[64];
  size_t n;

  if (r == NULL || name == NULL || settings == NULL)
    return SSHMUX_EINVAL;
  for (n = 0; settings[n] != NULL; n++)
    ;
  if (n % 2 != 0)
    return SSHMUX_EINVAL;
  memset(&p, 0, sizeof(p));
  p.r = r;
  p.filename = r->path;
  p.home = r->home;
  p.err = err;
  p.err_size = err_size;
  p.lineno = line > 0 ? line : LINE_NONE;
  if (!sshmux__routes_name_valid(name)) {
    fail(&p, p.lineno,
         "invalid %s name '%s': names are 1-%d of A-Z a-z 0-9 . _ -",
         is_jump ? "jump" : "route", quote(name, q, sizeof(q)), NAME_MAX_LEN);
    return p.failed;
  }
  if (new_hop(&p, is_jump, name, NULL) != 0)
    return p.failed;
  for (size_t i = 0; i < n && !p.failed; i += 2)
    (void)handler(&p, NULL, settings[i], settings[i + 1]);
  if (!p.failed)
    (void)validate(&p);
  if (p.failed) { /* take it out again: the object stays as it was */
    if (is_jump)
      vec_remove(r->jumps, &r->njumps, r->njumps - 1);
    else
      vec_remove(r->routes, &r->nroutes, r->nroutes - 1);
    hop_free(p.cur);
    revalidate(r);
    return p.failed;
  }
  return 0;
}

int sshmux_routes_add_route(sshmux_routes_t *r, const char *name,
                            const char *const *settings, int line, char *err,
                            size_t err_size) {
  return add_hop(r, 0, name, settings, line, err, err_size);
}

int sshmux_routes_add_jump(sshmux_routes_t *r, const char *name,
                           const char *const *settings, int line, char *err,
                           size_t err_size) {
  return add_hop(r, 1, name, settings, line, err, err_size);
}

static size_t index_of(sshmux_route_t *const *v, size_t n, const char *name) {
  size_t i;

  for (i = 0; i < n; i++)
    if (strcmp(v[i]->name, name) == 0)
      break;
  return i;
}

int sshmux_routes_remove_route(sshmux_routes_t *r, const char *name) {
  size_t i;
  sshmux_route_t *h;

  if (r == NULL || name == NULL)
    return SSHMUX_EINVAL;
  if ((i = index_of(r->routes, r->nroutes, name)) == r->nroutes)
    return SSHMUX_ENOTFOUND;
  h = r->routes[i];
  vec_remove(r->routes, &r->nroutes, i);
  hop_free(h); /* nothing goes through a route */
  return 0;
}

int sshmux_routes_remove_jump(sshmux_routes_t *r, const char *name, char *err,
                              size_t err_size) {
  parse_t p;
  sshmux_route_t *j;
  size_t i, k;

  if (r == NULL || name == NULL)
    return SSHMUX_EINVAL;
  if ((i = index_of(r->jumps, r->njumps, name)) == r->njumps)
    return SSHMUX_ENOTFOUND;
  j = r->jumps[i];
  memset(&p, 0, sizeof(p));
  p.r = r;
  p.filename = r->path;
  p.err = err;
  p.err_size = err_size;
  for (k = 0; k < r->njumps + r->nroutes; k++) {
    const sshmux_route_t *h =
        k < r->njumps ? r->jumps[k] : r->routes[k - r->njumps];
    if (h->via == j) {
      fail(&p, 0, "jump '%s' is used by %s '%s'", j->name,
           h->is_jump ? "jump" : "route", h->name);
      return SSHMUX_EBUSY;
    }
  }
  vec_remove(r->jumps, &r->njumps, i);
  hop_free(j);
  revalidate(r);
  return 0;
}

/* ---- queries ---- */

const char *sshmux_routes_path(const sshmux_routes_t *r) {
  return r->path;
}
size_t sshmux_routes_count(const sshmux_routes_t *r) {
  return r->nroutes;
}
size_t sshmux_routes_jump_count(const sshmux_routes_t *r) {
  return r->njumps;
}
const char *sshmux_routes_askpass(const sshmux_routes_t *r) {
  return r->askpass;
}
int sshmux_routes_notify(const sshmux_routes_t *r) {
  return r->notify;
}
int sshmux_routes_control_master(const sshmux_routes_t *r) {
  return r->control_master;
}

const sshmux_route_t *sshmux_routes_get(const sshmux_routes_t *r, size_t i) {
  return i < r->nroutes ? r->routes[i] : NULL;
}

const sshmux_route_t *sshmux_routes_jump_get(const sshmux_routes_t *r,
                                             size_t i) {
  return i < r->njumps ? r->jumps[i] : NULL;
}

const sshmux_route_t *sshmux_routes_find(const sshmux_routes_t *r,
                                         const char *name) {
  return name ? find_in(r->routes, r->nroutes, name) : NULL;
}

const sshmux_route_t *sshmux_routes_find_jump(const sshmux_routes_t *r,
                                              const char *name) {
  return name ? find_in(r->jumps, r->njumps, name) : NULL;
}

const char *sshmux_route_name(const sshmux_route_t *h) {
  return h->name;
}
int sshmux_route_is_jump(const sshmux_route_t *h) {
  return h->is_jump;
}
const char *sshmux_route_host(const sshmux_route_t *h) {
  return h->host;
}
int sshmux_route_port(const sshmux_route_t *h) {
  return h->port;
}
const char *sshmux_route_user(const sshmux_route_t *h) {
  return h->user;
}
const char *sshmux_route_identity(const sshmux_route_t *h) {
  return h->identity;
}

const char *sshmux_route_identity_agent(const sshmux_route_t *h) {
  return h->agent;
}
unsigned sshmux_route_idle_timeout(const sshmux_route_t *h) {
  return h->s.idle_timeout;
}
unsigned sshmux_route_max_lifetime(const sshmux_route_t *h) {
  return h->s.max_lifetime;
}
unsigned sshmux_route_keepalive(const sshmux_route_t *h) {
  return h->s.keepalive;
}
int sshmux_route_accept_new_hostkey(const sshmux_route_t *h) {
  return h->s.accept_new_hostkey;
}
const sshmux_route_t *sshmux_route_via(const sshmux_route_t *h) {
  return h->via;
}
int sshmux_route_line(const sshmux_route_t *h) {
  return h->line > 0 ? h->line : 0;
}

const char *sshmux_route_forward_allow_text(const sshmux_route_t *h) {
  return h->fwd_text ? h->fwd_text : "loopback";
}

const char *sshmux_route_env_allow_text(const sshmux_route_t *h) {
  return h->env->text;
}

int sshmux_route_chain(const sshmux_route_t *route, const sshmux_route_t **hops,
                       size_t max, size_t *n) {
  const sshmux_route_t *x;
  size_t len = 0, i;

  if (route == NULL || hops == NULL || n == NULL)
    return SSHMUX_EINVAL;
  for (x = route; x != NULL; x = x->via)
    len++;
  if (len > max)
    return SSHMUX_ETOOLONG;
  i = len;
  for (x = route; x != NULL; x = x->via)
    hops[--i] = x;
  *n = len;
  return 0;
}

/* localhost, 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104, as the strings
 * a client sends; never resolved. */
static int is_loopback(const char *host) {
  unsigned char a[16];

  if (strcasecmp(host, "localhost") == 0)
    return 1;
  if (inet_pton(AF_INET, host, a) == 1)
    return a[0] == 127;
  if (inet_pton(AF_INET6, host, a) == 1) {
    static const unsigned char one[16] = {[15] = 1};
    static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
    return memcmp(a, one, 16) == 0 ||
           (memcmp(a, mapped, 12) == 0 && a[12] == 127);
  }
  return 0;
}

int sshmux_routes_forward_allowed(const sshmux_route_t *h, const char *host,
                                  int port) {
  int is_path;
  size_t i;

  if (h == NULL || host == NULL || host[0] == '\0')
    return 0;
  is_path = host[0] == '/';
  if (is_path ? port != 0 : (port < 1 || port > 65535))
    return 0;
  if (!h->s.line[K_FORWARD])
    return !is_path && is_loopback(host);
  for (i = 0; i < h->nfwd; i++) {
    const fwd_entry_t *e = &h->fwd[i];
    switch (e->kind) {
    case FWD_LOOPBACK:
      if (!is_path && is_loopback(host))
        return 1;
      break;
    case FWD_PATH:
      if (is_path && strcmp(e->host, host) == 0)
        return 1;
      break;
    default:
      if (!is_path && (e->host == NULL || strcasecmp(e->host, host) == 0) &&
          (e->port == 0 || e->port == port))
        return 1;
      break;
    }
  }
  return 0;
}

int sshmux_routes_env_allowed(const sshmux_route_t *h, const char *name) {
  size_t i, n;

  if (h == NULL || name == NULL)
    return 0;
  for (i = 0; i < h->env->n; i++) {
    const char *pat = h->env->pat[i];
    n = strlen(pat);
    if (n > 0 && pat[n - 1] == '*') {
      if (strncmp(pat, name, n - 1) == 0)
        return 1;
    } else if (strcmp(pat, name) == 0) {
      return 1;
    }
  }
  return 0;
}
