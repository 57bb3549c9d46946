/* import_config.c -- `sshmuxd import-config [HOST...]`: routes from the
 * user's existing OpenSSH configuration.
 *
 * What a Host means is decided by OpenSSH itself, never by us: each name
 * is resolved with `ssh -G NAME` (Include, Match, wildcards, first value
 * wins, tokens in HostName), whose output sshcfg.c parses.  ProxyJump
 * chains are resolved the way ssh runs them: for "a,b" ssh connects to b
 * with -J a and to a with a's own configuration, so the first hop's own
 * ProxyJump applies and each later hop rides on the one before it.  Each
 * jump host gets its own `ssh -G` (with the -l/-p its ProxyJump entry
 * names) and becomes a [jumps.NAME] section; an equal jump already in the
 * file is reused instead.
 *
 * The routes file is edited, not regenerated: every other line stays as it
 * is.  A section this command writes carries a marker comment with a hash
 * of its key lines, so a later run knows an imported section the user has
 * not touched (updated when ssh_config changed) from a hand-written or
 * hand-edited one (never replaced without --force; existing jumps are
 * never replaced at all: a new name is chosen).  What would change is shown
 * as a diff first; the new text is validated by the routes loader itself
 * before it is written atomically, and a run that changes nothing writes
 * nothing.  Names that cannot become routes (patterns, names outside the
 * route alphabet, values the routes file cannot hold, ProxyCommand hosts,
 * hosts already served by sshmuxd) are reported one by one.
 *
 * `ssh -G` evaluates `Match exec` commands of the user's configuration, as
 * every ssh invocation does; it is run without a shell, stdin on
 * /dev/null, bounded in output and time. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "routes/routes.h"
#include "sshcfg.h"
#include "sshmuxd.h"

#define NAME_MAX_LEN 64
#define MAX_HOSTS 256
#define MAX_HOPS 512
#define SSH_TIMEOUT_MS 15000
#define SSH_ERR_MAX 2048
#define CFG_MAX (1024 * 1024)
#define INCLUDE_DEPTH 16
#define MARKER_PREFIX "; imported by `sshmuxd import-config` from ssh_config (#"
#define MARKER_SUFFIX "); delete this line to keep hand edits"

typedef struct {
  const char *routes;     /* --config */
  const char *ssh_config; /* -F */
  int force, dry_run;
  const char *hosts[MAX_HOSTS];
  size_t nhosts;
} opts_t;

/* One hop of the plan: a route or a jump, with the outcome of comparing it
 * with the file. */
enum { H_NEW, H_SAME, H_UPDATE, H_CONFLICT };
typedef struct {
  int is_jump;
  char name[NAME_MAX_LEN + 1];
  char host[256], user[130], identity[256]; /* identity "": none */
  char agent[256]; /* identity_agent, "" when not set */
  int port;
  int via; /* plan index, -1: connected to directly */
  int state;
  int sec; /* index of its section in the file, -1 */
} hop_t;

/* A section of the existing file: lines first (the header) .. last (its
 * last non-blank line), end = the next header (exclusive). */
typedef struct {
  int is_jump, is_route;
  char name[NAME_MAX_LEN + 1];
  size_t first, last, end;
} sec_t;

typedef struct {
  const char *s;
  size_t n;
} line_t;

static struct {
  opts_t o;
  char path[PATH_MAX];   /* the routes file */
  char sshcfg[PATH_MAX]; /* -F for ssh, "" = ssh's default */
  char *text;            /* the routes file as read ("" if missing) */
  size_t text_len;
  sshmux_routes_t *routes; /* the file, loaded */
  line_t *lines;
  size_t nlines;
  sec_t *secs;
  size_t nsecs;
  hop_t hops[MAX_HOPS];
  size_t nhops;
  int skipped_named; /* a HOST given on the command line was skipped */
  int nskipped;
} G;

static void usage(FILE *f, void *ctx) {
  (void)ctx;
  fprintf(
      f,
      "usage: sshmuxd import-config [--config FILE] [-F SSH_CONFIG] "
      "[--force]\n"
      "                             [--dry-run] [options] [HOST...]\n"
      "\n"
      "Make routes of the Host entries of your OpenSSH configuration, as\n"
      "`ssh -G HOST` resolves them (HostName, User, Port, IdentityFile,\n"
      "ProxyJump chains as jumps).  Without HOST, every Host name of the\n"
      "configuration (and its Includes) that is no pattern.  Shows the\n"
      "changes as a diff, then writes the routes file atomically; a route\n"
      "written by hand is replaced only with --force.  Then run\n"
      "`sshmuxd setup-config` to make `ssh HOST` go through sshmuxd.\n"
      "\n"
      "  --config FILE     routes file (default: SSH dir's "
      "sshmux-routes.ini)\n"
      "  -F, --ssh-config FILE  the ssh_config to read (default: ssh's own;\n"
      "                    with --ssh-dir or $SSHMUX_SSH_DIR, that dir's "
      "config)\n"
      "  --force           replace routes written or edited by hand\n"
      "  -n, --dry-run     show the diff, write nothing\n" SSHMUXD_COMMON_HELP);
}

/* ---- small helpers ---- */

/* A copy of s safe to print: control characters as '?', at most 200
 * bytes.  Static buffer rotation (4). */
static const char *clean(const char *s) {
  static char buf[4][204];
  static int slot;
  char *b = buf[slot++ & 3];
  size_t i;

  for (i = 0; s[i] != '\0' && i < 200; i++)
    b[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
  if (s[i] != '\0')
    memcpy(b + i, "...", 4);
  else
    b[i] = '\0';
  return b;
}

static void skip(const char *name, int named, const char *fmt, ...)
    SSHMUXD_PRINTF(3, 4);
static void skip(const char *name, int named, const char *fmt, ...) {
  char msg[600];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  fprintf(stderr, "sshmuxd: import-config: %s: not imported: %s\n", clean(name),
          msg);
  G.nskipped++;
  if (named)
    G.skipped_named = 1;
}

static uint64_t fnv1a(const char *s, size_t n, uint64_t h) {
  size_t i;

  for (i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}
#define FNV_INIT 14695981039346656037ull

/* Print a note once per run (a jump shared by many routes is resolved
 * for each of them). */
static void note(const char *fmt, ...) SSHMUXD_PRINTF(1, 2);
static void note(const char *fmt, ...) {
  static uint64_t seen[64];
  static size_t nseen;
  char msg[800];
  uint64_t h;
  size_t i;
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  h = fnv1a(msg, strlen(msg), FNV_INIT);
  for (i = 0; i < nseen; i++)
    if (seen[i] == h)
      return;
  if (nseen < sizeof(seen) / sizeof(seen[0]))
    seen[nseen++] = h;
  printf("note: %s\n", msg);
}

static int copy(char *dst, size_t size, const char *src) {
  return (size_t)snprintf(dst, size, "%s", src) < size ? 0 : -1;
}

/* ---- running ssh -G ---- */

/* Run argv (PATH searched, no shell), stdin on /dev/null, capturing up to
 * outmax bytes of stdout into out and the start of stderr into err.
 * Killed after SSH_TIMEOUT_MS or when stdout overflows.  Returns the exit
 * status, or -1 (could not run, killed, timed out; err says why). */
static int run_capture(const char *const *argv, char *out, size_t outmax,
                       size_t *outlen, char *err, size_t errsize) {
  int po[2], pe[2], st, open_fds = 2, killed = 0;
  size_t elen = 0;
  struct timespec t0, t1;
  pid_t pid;

  *outlen = 0;
  err[0] = '\0';
  if (pipe2(po, O_CLOEXEC) != 0)
    return -1;
  if (pipe2(pe, O_CLOEXEC) != 0) {
    close(po[0]);
    close(po[1]);
    return -1;
  }
  pid = fork();
  if (pid < 0) {
    close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
    return -1;
  }
  if (pid == 0) {
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0)
      dup2(nul, 0);
    dup2(po[1], 1);
    dup2(pe[1], 2);
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], (char *const *)(uintptr_t)argv);
    _exit(127);
  }
  close(po[1]);
  close(pe[1]);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (open_fds > 0) {
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    long ms;
    int i;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (ms >= SSH_TIMEOUT_MS) {
      snprintf(err, errsize, "%s did not finish within %d s", argv[0],
               SSH_TIMEOUT_MS / 1000);
      killed = 1;
      break;
    }
    if (poll(fds, 2, (int)(SSH_TIMEOUT_MS - ms)) < 0) {
      if (errno == EINTR)
        continue;
      killed = 1;
      break;
    }
    for (i = 0; i < 2; i++) {
      char buf[4096];
      ssize_t n;
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      n = read(fds[i].fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        close(i == 0 ? po[0] : pe[0]);
        if (i == 0)
          po[0] = -1;
        else
          pe[0] = -1;
        open_fds--;
        continue;
      }
      if (i == 0) {
        if (*outlen + (size_t)n > outmax) {
          snprintf(err, errsize, "%s printed more than %zu bytes", argv[0],
                   outmax);
          killed = 1;
          break;
        }
        memcpy(out + *outlen, buf, (size_t)n);
        *outlen += (size_t)n;
      } else if (elen + 1 < errsize) {
        size_t k =
            (size_t)n < errsize - 1 - elen ? (size_t)n : errsize - 1 - elen;
        memcpy(err + elen, buf, k);
        elen += k;
        err[elen] = '\0';
      }
    }
    if (killed)
      break;
  }
  if (po[0] >= 0)
    close(po[0]);
  if (pe[0] >= 0)
    close(pe[0]);
  if (killed)
    kill(pid, SIGKILL);
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return -1;
  if (killed)
    return -1;
  if (WIFEXITED(st) && WEXITSTATUS(st) == 127 && elen == 0)
    snprintf(err, errsize, "cannot run %s", argv[0]);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The last non-empty line of ssh's stderr, for a one-line reason. */
static const char *err_line(char *err) {
  char *p;
  size_t n = strlen(err);

  while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == '\r'))
    err[--n] = '\0';
  /* ssh -G without a terminal says this on every run: not a reason. */
  while ((p = strstr(err, "Pseudo-terminal will not be allocated")) != NULL) {
    char *e = strchr(p, '\n');
    memmove(p, e ? e + 1 : p + strlen(p), strlen(e ? e + 1 : "") + 1);
  }
  n = strlen(err);
  while (n > 0 && err[n - 1] == '\n')
    err[--n] = '\0';
  p = strrchr(err, '\n');
  return p ? p + 1 : err;
}

/* `ssh -G [-F cfg] [-l user] [-p port] -- host` into *g.  0, or -1 with
 * why in reason. */
static int ssh_g(const char *host, const char *user, const char *port,
                 sshmuxd_sshg_t *g, char *reason, size_t rsize) {
  const char *argv[12];
  static char out[SSHMUXD_SSHG_MAX_INPUT];
  char err[SSH_ERR_MAX], perr[200];
  size_t n = 0, len;
  int st;

  argv[n++] = "ssh";
  argv[n++] = "-G";
  if (G.sshcfg[0] != '\0') {
    argv[n++] = "-F";
    argv[n++] = G.sshcfg;
  }
  if (user != NULL) {
    argv[n++] = "-l";
    argv[n++] = user;
  }
  if (port != NULL) {
    argv[n++] = "-p";
    argv[n++] = port;
  }
  argv[n++] = "--";
  argv[n++] = host;
  argv[n] = NULL;
  st = run_capture(argv, out, sizeof(out), &len, err, sizeof(err));
  if (st != 0) {
    snprintf(reason, rsize, "`ssh -G %s` failed: %s", clean(host),
             err[0] ? clean(err_line(err)) : "no output");
    return -1;
  }
  if (sshmuxd_sshg_parse(out, len, g, perr, sizeof(perr)) != 0) {
    snprintf(reason, rsize, "`ssh -G %s` output, %s", clean(host), perr);
    return -1;
  }
  return 0;
}

/* ---- turning ssh -G settings into a hop ---- */

static int is_default_identity(const char *p) {
  static const char *const d[] = {"~/.ssh/id_rsa",        "~/.ssh/id_ecdsa",
                                  "~/.ssh/id_ecdsa_sk",   "~/.ssh/id_ed25519",
                                  "~/.ssh/id_ed25519_sk", "~/.ssh/id_xmss",
                                  "~/.ssh/id_dsa"};
  size_t i;

  for (i = 0; i < sizeof(d) / sizeof(d[0]); i++)
    if (strcmp(p, d[i]) == 0)
      return 1;
  return 0;
}

/* IdentityFile with ssh's tokens expanded (ssh -G prints them as
 * written): %% %d %h %i %n %p %r %u; "%d/" at the start becomes "~/".
 * 0, or -1 with reason for a token we do not expand. */
static int expand_identity(const char *what, const char *in,
                           const sshmuxd_sshg_t *g, const char *alias,
                           char *out, size_t size, char *reason, size_t rsize) {
  struct passwd *pw = getpwuid(getuid());
  size_t o = 0;
  const char *s;

  out[0] = '\0';
  for (s = in; *s != '\0'; s++) {
    char tmp[300];
    const char *add = tmp;
    if (*s != '%') {
      tmp[0] = *s;
      tmp[1] = '\0';
    } else {
      switch (*++s) {
      case '%':
        add = "%";
        break;
      case 'd':
        add = s == in + 1 ? "~" : sshmuxd_home();
        break;
      case 'h':
        add = g->hostname;
        break;
      case 'n':
        add = alias;
        break;
      case 'p':
        snprintf(tmp, sizeof(tmp), "%d", g->port);
        break;
      case 'r':
        add = g->user;
        break;
      case 'u':
        add = pw != NULL ? pw->pw_name : "";
        break;
      case 'i':
        snprintf(tmp, sizeof(tmp), "%u", (unsigned)getuid());
        break;
      default:
        snprintf(reason, rsize,
                 "%s %s uses %%%c, which import-config does not expand", what,
                 clean(in), *s ? *s : '?');
        return -1;
      }
    }
    if (o + strlen(add) >= size) {
      snprintf(reason, rsize, "%s %s is too long", what, clean(in));
      return -1;
    }
    memcpy(out + o, add, strlen(add) + 1);
    o += strlen(add);
  }
  if (!(out[0] == '/' || (out[0] == '~' && out[1] == '/'))) {
    snprintf(reason, rsize,
             "%s %s is neither absolute nor under ~/ (routes need one or "
             "the other)",
             what, clean(out));
    return -1;
  }
  return 0;
}

/* A value that the routes file would read back differently: white space
 * at its ends, or an inline comment. */
static int ini_unsafe(const char *v) {
  size_t n = strlen(v);
  return n == 0 || v[0] == ' ' || v[n - 1] == ' ' || strchr(v, ';') != NULL ||
         strchr(v, '#') != NULL;
}

/* Does this build's routes loader know identity_agent?  Asked of the
 * loader itself, so import-config writes the key exactly when the file
 * can hold it. */
static int agent_supported(void) {
  static const char probe[] = "[routes.p]\nhost = h\nuser = u\n"
                              "identity_agent = none\n";
  static int known = -1;
  sshmux_routes_t *r = NULL;

  if (known < 0) {
    known = sshmux__routes_load_buffer(&r, probe, sizeof(probe) - 1, "probe",
                                       "/", NULL, 0) == 0;
    sshmux_routes_free(r);
  }
  return known;
}

/* Fill h (all but name/via/state) from g; alias is the name ssh -G was
 * given.  0 or -1 with reason. */
static int hop_from(hop_t *h, const sshmuxd_sshg_t *g, const char *alias,
                    char *reason, size_t rsize) {
  size_t i, ndef = 0;

  if (g->has_hostkeyalias && strcmp(g->hostkeyalias, "sshmuxd") == 0) {
    snprintf(reason, rsize,
             "%s already goes through sshmuxd (its Host block is the one "
             "`sshmuxd setup-config` wrote)",
             clean(alias));
    return -1;
  }
  if (g->has_proxycommand && strcasecmp(g->proxycommand, "none") != 0) {
    snprintf(reason, rsize,
             "%s uses ProxyCommand %s, which a route cannot express (a "
             "route connects directly or through jumps)",
             clean(alias), clean(g->proxycommand));
    return -1;
  }
  if (copy(h->host, sizeof(h->host), g->hostname) != 0 ||
      copy(h->user, sizeof(h->user), g->user) != 0) {
    snprintf(reason, rsize, "HostName or User of %s too long", clean(alias));
    return -1;
  }
  h->port = g->port;
  h->identity[0] = '\0';
  for (i = 0; i < g->nidentity; i++)
    ndef += is_default_identity(g->identity[i]);
  /* ssh -G lists its built-in default keys when none is configured. */
  if (g->nidentity > 0 && !(ndef == g->nidentity && ndef >= 4)) {
    if (expand_identity("IdentityFile", g->identity[0], g, alias, h->identity,
                        sizeof(h->identity), reason, rsize) != 0)
      return -1;
    if (g->nidentity > 1)
      note("%s: %zu IdentityFile entries; a route takes one, the first (%s)",
           clean(alias), g->nidentity, clean(h->identity));
  }
  if (ini_unsafe(h->host) || ini_unsafe(h->user) ||
      (h->identity[0] != '\0' && ini_unsafe(h->identity))) {
    snprintf(reason, rsize,
             "a value of %s (HostName %s, User %s or IdentityFile) holds "
             "';', '#' or edge white space, which the routes file cannot "
             "hold",
             clean(alias), clean(h->host), clean(h->user));
    return -1;
  }
  h->agent[0] = '\0';
  if (g->has_identityagent && strcmp(g->identityagent, "SSH_AUTH_SOCK") != 0) {
    if (!agent_supported())
      note("%s: IdentityAgent %s not imported (this routes file format has "
           "no identity_agent; the daemon uses SSH_AUTH_SOCK)",
           clean(alias), clean(g->identityagent));
    else if (strcmp(g->identityagent, "none") == 0)
      snprintf(h->agent, sizeof(h->agent), "none");
    else if (g->identityagent[0] == '$')
      note("%s: IdentityAgent %s not imported (an environment variable: "
           "ssh reads it when it connects; the daemon uses SSH_AUTH_SOCK)",
           clean(alias), clean(g->identityagent));
    else if (expand_identity("IdentityAgent", g->identityagent, g, alias,
                             h->agent, sizeof(h->agent), reason, rsize) != 0 ||
             ini_unsafe(h->agent))
      return -1;
  }
  return 0;
}

/* The section text of h (header, marker, managed keys), then extra (kept
 * lines of an updated section), into b.  The marker's hash covers every
 * key line after it. */
static void section_text(sshmuxd_str_t *b, const hop_t *h,
                         const sshmuxd_str_t *extra, int marker) {
  sshmuxd_str_t keys = {0};
  uint64_t hash = FNV_INIT;
  const char *p, *e;

  sshmuxd_str_printf(&keys, "host = %s\nport = %d\nuser = %s\n", h->host,
                     h->port, h->user);
  if (h->identity[0] != '\0')
    sshmuxd_str_printf(&keys, "identity = %s\n", h->identity);
  if (h->agent[0] != '\0')
    sshmuxd_str_printf(&keys, "identity_agent = %s\n", h->agent);
  if (h->via >= 0)
    sshmuxd_str_printf(&keys, "jump = %s\n", G.hops[h->via].name);
  else if (!h->is_jump)
    sshmuxd_str_printf(&keys, "direct = true\n");
  if (extra != NULL && extra->len > 0)
    sshmuxd_str_add(&keys, extra->s, extra->len);
  for (p = keys.s; keys.s != NULL && p < keys.s + keys.len; p = e + 1) {
    e = memchr(p, '\n', (size_t)(keys.s + keys.len - p));
    if (e == NULL)
      break;
    if (*p != ';' && *p != '#' && e > p)
      hash = fnv1a(p, (size_t)(e - p) + 1, hash);
  }
  sshmuxd_str_printf(b, "[%s.%s]\n", h->is_jump ? "jumps" : "routes", h->name);
  if (marker)
    sshmuxd_str_printf(b, MARKER_PREFIX "%016llx" MARKER_SUFFIX "\n",
                       (unsigned long long)hash);
  if (keys.s != NULL)
    sshmuxd_str_add(b, keys.s, keys.len);
  sshmuxd_str_free(&keys);
  if (keys.oom)
    b->oom = 1;
}

/* Check h alone through the routes loader (the one authority on what the
 * file accepts) and that every value reads back unchanged. */
static int hop_check(const hop_t *h, char *reason, size_t rsize) {
  sshmuxd_str_t b = {0};
  hop_t t = *h;
  sshmux_routes_t *r = NULL;
  const sshmux_route_t *x;
  char err[SSHMUX_ROUTES_ERR_MAX];
  int rc;

  t.via = -1;
  snprintf(t.name, sizeof(t.name), "check");
  section_text(&b, &t, NULL, 0);
  if (b.oom) {
    sshmuxd_str_free(&b);
    snprintf(reason, rsize, "out of memory");
    return -1;
  }
  rc = sshmux__routes_load_buffer(&r, b.s, b.len, "import", sshmuxd_home(), err,
                                  sizeof(err));
  sshmuxd_str_free(&b);
  if (rc != 0) {
    /* "import:LINE: " names a line of our one-section check, not the
     * user's: drop it. */
    const char *msg = strchr(err, ' ');
    snprintf(reason, rsize, "the routes file would refuse it: %s",
             msg != NULL && strncmp(err, "import:", 7) == 0 ? msg + 1 : err);
    return -1;
  }
  x = t.is_jump ? sshmux_routes_find_jump(r, "check")
                : sshmux_routes_find(r, "check");
  rc = x == NULL || strcmp(sshmux_route_host(x), t.host) != 0 ||
       strcmp(sshmux_route_user(x), t.user) != 0 ||
       sshmux_route_port(x) != t.port;
  sshmux_routes_free(r);
  if (rc) {
    snprintf(reason, rsize, "a value would not read back unchanged");
    return -1;
  }
  return 0;
}

/* ---- comparing with the file ---- */

/* identity as the loader stores it: "~/" expanded against home. */
static void expanded(const char *id, char *out, size_t size) {
  const char *home = sshmuxd_home();

  if (id[0] == '~' && id[1] == '/')
    snprintf(out, size, "%s%s%s", home,
             home[0] && home[strlen(home) - 1] == '/' ? "" : "/", id + 2);
  else
    snprintf(out, size, "%s", id);
}

static const sec_t *find_sec(int is_jump, const char *name);
static size_t key_len(const line_t *l);

/* The identity_agent value written in x's section ("" when none): read
 * from the text, which works whether or not this build's routes API has
 * it. */
static const char *sec_agent(const sshmux_route_t *x) {
  static char v[256];
  const sec_t *sec = find_sec(sshmux_route_is_jump(x), sshmux_route_name(x));
  size_t i;

  v[0] = '\0';
  for (i = sec != NULL ? sec->first + 1 : 1; sec != NULL && i <= sec->last;
       i++) {
    const line_t *l = &G.lines[i];
    size_t k = key_len(l), j;
    if (k != 14 || memcmp(l->s, "identity_agent", 14) != 0)
      continue;
    for (j = k; j < l->n && (l->s[j] == ' ' || l->s[j] == '=' ||
                             l->s[j] == ':' || l->s[j] == '\t');
         j++)
      ;
    snprintf(v, sizeof(v), "%.*s", (int)(l->n - j), l->s + j);
  }
  return v;
}

/* Does the loaded hop x mean what h means? */
static int same(const sshmux_route_t *x, const hop_t *h) {
  const sshmux_route_t *via = sshmux_route_via(x);
  const char *xid = sshmux_route_identity(x);
  char id[PATH_MAX];

  expanded(h->identity, id, sizeof(id));
  if (strcmp(sshmux_route_host(x), h->host) != 0 ||
      strcmp(sshmux_route_user(x), h->user) != 0 ||
      sshmux_route_port(x) != h->port ||
      (xid == NULL) != (h->identity[0] == '\0') ||
      (xid != NULL && strcmp(xid, id) != 0))
    return 0;
  if (strcmp(sec_agent(x), h->agent) != 0)
    return 0;
  if (h->via < 0)
    return via == NULL;
  return via != NULL &&
         strcmp(sshmux_route_name(via), G.hops[h->via].name) == 0;
}

static const sec_t *find_sec(int is_jump, const char *name) {
  size_t i;

  for (i = 0; i < G.nsecs; i++)
    if ((is_jump ? G.secs[i].is_jump : G.secs[i].is_route) &&
        strcmp(G.secs[i].name, name) == 0)
      return &G.secs[i];
  return NULL;
}

static int is_marker(const line_t *l, uint64_t *hash) {
  size_t np = strlen(MARKER_PREFIX), ns = strlen(MARKER_SUFFIX);
  char hex[17];

  if (l->n != np + 16 + ns || memcmp(l->s, MARKER_PREFIX, np) != 0 ||
      memcmp(l->s + np + 16, MARKER_SUFFIX, ns) != 0)
    return 0;
  memcpy(hex, l->s + np, 16);
  hex[16] = '\0';
  *hash = strtoull(hex, NULL, 16);
  return 1;
}

static int is_key_line(const line_t *l) {
  return l->n > 0 && l->s[0] != ';' && l->s[0] != '#';
}

/* The key name of a key line ("host" of "host = x"). */
static size_t key_len(const line_t *l) {
  size_t i;

  for (i = 0; i < l->n && l->s[i] != '=' && l->s[i] != ':' && l->s[i] != ' ' &&
              l->s[i] != '\t';
       i++)
    ;
  return i;
}

static int managed_key(const line_t *l) {
  static const char *const k[] = {"host",           "port", "user",  "identity",
                                  "identity_agent", "jump", "direct"};
  size_t n = key_len(l), i;

  for (i = 0; i < sizeof(k) / sizeof(k[0]); i++)
    if (n == strlen(k[i]) && memcmp(l->s, k[i], n) == 0)
      return 1;
  return 0;
}

/* 1 when sec was written by import-config and not edited since: its
 * marker's hash matches its key lines. */
static int untouched(const sec_t *sec) {
  uint64_t want = 0, hash = FNV_INIT;
  int marked = 0;
  size_t i;

  for (i = sec->first + 1; i <= sec->last; i++) {
    const line_t *l = &G.lines[i];
    if (!marked && is_marker(l, &want)) {
      marked = 1;
      continue;
    }
    if (marked && is_key_line(l)) {
      hash = fnv1a(l->s, l->n, hash);
      hash = fnv1a("\n", 1, hash);
    }
  }
  return marked && hash == want;
}

/* Split the file into lines and sections. */
static int index_file(void) {
  size_t pos = 0, i, cap = 0;

  while (pos < G.text_len) {
    const char *s = G.text + pos, *nl = memchr(s, '\n', G.text_len - pos);
    size_t n = nl ? (size_t)(nl - s) : G.text_len - pos;
    if (G.nlines == cap) {
      line_t *nv;
      cap = cap ? cap * 2 : 64;
      if ((nv = realloc(G.lines, cap * sizeof(*nv))) == NULL)
        return -1;
      G.lines = nv;
    }
    G.lines[G.nlines].s = s;
    G.lines[G.nlines++].n = n;
    pos += n + (nl != NULL);
  }
  for (i = 0; i < G.nlines; i++) {
    const line_t *l = &G.lines[i];
    const char *close;
    sec_t *sec, *nv;
    size_t n;
    if (l->n == 0 || l->s[0] != '[' ||
        (close = memchr(l->s, ']', l->n)) == NULL)
      continue;
    if ((nv = realloc(G.secs, (G.nsecs + 1) * sizeof(*nv))) == NULL)
      return -1;
    G.secs = nv;
    sec = &G.secs[G.nsecs++];
    memset(sec, 0, sizeof(*sec));
    sec->first = sec->last = i;
    n = (size_t)(close - l->s - 1);
    if (n == 4 && memcmp(l->s + 1, "jump", 4) == 0) {
      sec->is_jump = 1;
      snprintf(sec->name, sizeof(sec->name), "%s", SSHMUX_ROUTES_DEFAULT_JUMP);
    } else if (n > 6 && n - 6 <= NAME_MAX_LEN &&
               memcmp(l->s + 1, "jumps.", 6) == 0) {
      sec->is_jump = 1;
      memcpy(sec->name, l->s + 7, n - 6);
    } else if (n > 7 && n - 7 <= NAME_MAX_LEN &&
               memcmp(l->s + 1, "routes.", 7) == 0) {
      sec->is_route = 1;
      memcpy(sec->name, l->s + 8, n - 7);
    }
  }
  for (i = 0; i < G.nsecs; i++) {
    sec_t *sec = &G.secs[i];
    size_t j;
    sec->end = i + 1 < G.nsecs ? G.secs[i + 1].first : G.nlines;
    for (j = sec->first; j < sec->end; j++)
      if (G.lines[j].n > 0)
        sec->last = j;
  }
  return 0;
}

/* ---- the plan ---- */

static int hop_equal(const hop_t *a, const hop_t *b) {
  return a->is_jump == b->is_jump && a->port == b->port && a->via == b->via &&
         strcmp(a->host, b->host) == 0 && strcmp(a->user, b->user) == 0 &&
         strcmp(a->identity, b->identity) == 0 &&
         strcmp(a->agent, b->agent) == 0;
}

/* The jump h (via already in the plan) as a plan index: an equal one of
 * this run, else an equal one of the file (reused as it is), else a new
 * section under a name the file does not use yet.  -1 when full. */
static int intern_jump(hop_t *h, const char *base) {
  const sshmux_route_t *x;
  char b[NAME_MAX_LEN + 1];
  size_t i, k, n;

  for (i = 0; i < G.nhops; i++)
    if (G.hops[i].is_jump && hop_equal(&G.hops[i], h))
      return (int)i;
  if (G.nhops == MAX_HOPS)
    return -1;
  /* A name from the ProxyJump entry's host: the route alphabet only. */
  for (n = 0; base[n] != '\0' && n < NAME_MAX_LEN - 4; n++) {
    char c = base[n];
    b[n] = ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
               ? c
               : '-';
  }
  b[n] = '\0';
  if (n == 0)
    snprintf(b, sizeof(b), "jump");
  x = sshmux_routes_find_jump(G.routes, SSHMUX_ROUTES_DEFAULT_JUMP);
  if (x != NULL && same(x, h)) {
    snprintf(h->name, sizeof(h->name), "%s", SSHMUX_ROUTES_DEFAULT_JUMP);
    h->state = H_SAME;
    goto add;
  }
  for (k = 1; k < 100; k++) {
    int used = 0;
    if (k == 1)
      snprintf(h->name, sizeof(h->name), "%.60s", b);
    else
      snprintf(h->name, sizeof(h->name), "%.60s-%zu", b, k);
    if (strcmp(h->name, SSHMUX_ROUTES_DEFAULT_JUMP) == 0)
      continue;
    for (i = 0; i < G.nhops; i++)
      if (G.hops[i].is_jump && strcmp(G.hops[i].name, h->name) == 0)
        used = 1;
    if (used)
      continue;
    x = sshmux_routes_find_jump(G.routes, h->name);
    if (x == NULL) {
      h->state = H_NEW;
      goto add;
    }
    if (same(x, h)) {
      h->state = H_SAME;
      goto add;
    }
  }
  return -1;
add:
  h->sec = -1;
  G.hops[G.nhops] = *h;
  return (int)G.nhops++;
}

/* Split a ProxyJump entry [user@]host[:port] (host may be [v6]). */
static int split_jump(const char *spec, char *user, char *host, char *port,
                      size_t size) {
  const char *at = strrchr(spec, '@'), *h = at ? at + 1 : spec, *colon;

  user[0] = port[0] = '\0';
  if (at != NULL && (size_t)(at - spec) < size)
    snprintf(user, size, "%.*s", (int)(at - spec), spec);
  if (*h == '[') {
    const char *close = strchr(h, ']');
    if (close == NULL || (size_t)(close - h) >= size)
      return -1;
    snprintf(host, size, "%.*s", (int)(close - h - 1), h + 1);
    if (close[1] == ':')
      snprintf(port, size, "%s", close + 2);
    else if (close[1] != '\0')
      return -1;
  } else if ((colon = strchr(h, ':')) != NULL &&
             strchr(colon + 1, ':') == NULL) {
    snprintf(host, size, "%.*s", (int)(colon - h), h);
    snprintf(port, size, "%s", colon + 1);
  } else {
    snprintf(host, size, "%s", h);
  }
  return host[0] != '\0' && (at == NULL || user[0] != '\0') ? 0 : -1;
}

/* Resolve a ProxyJump list as ssh runs it; *via receives the plan index of
 * its last hop.  depth counts the hops below it. */
static int resolve_chain(const char *list, size_t depth, int *via, char *reason,
                         size_t rsize) {
  char item[SSHMUXD_SSHG_MAX_VALUE + 1];
  const char *s = list;
  int prev = -1, first = 1;

  while (*s != '\0') {
    const char *comma = strchr(s, ',');
    size_t n = comma ? (size_t)(comma - s) : strlen(s);
    char user[SSHMUXD_SSHG_MAX_VALUE + 1], host[SSHMUXD_SSHG_MAX_VALUE + 1],
        port[SSHMUXD_SSHG_MAX_VALUE + 1];
    sshmuxd_sshg_t *g;
    hop_t h;
    int idx;

    if (++depth >= SSHMUX_ROUTES_MAX_CHAIN) {
      snprintf(reason, rsize,
               "ProxyJump chain longer than %d hops (a loop in ssh_config?)",
               SSHMUX_ROUTES_MAX_CHAIN - 1);
      return -1;
    }
    snprintf(item, sizeof(item), "%.*s", (int)n, s);
    s = comma ? comma + 1 : s + n;
    if (split_jump(item, user, host, port, sizeof(user)) != 0) {
      snprintf(reason, rsize, "ProxyJump entry '%s' not understood",
               clean(item));
      return -1;
    }
    if ((g = malloc(sizeof(*g))) == NULL) {
      snprintf(reason, rsize, "out of memory");
      return -1;
    }
    memset(&h, 0, sizeof(h));
    h.is_jump = 1;
    h.via = -1;
    if (ssh_g(host, user[0] ? user : NULL, port[0] ? port : NULL, g, reason,
              rsize) != 0 ||
        hop_from(&h, g, host, reason, rsize) != 0) {
      free(g);
      return -1;
    }
    /* ssh reaches the first hop with its own configuration (its own
     * ProxyJump included) and each later one through the hop before. */
    if (first && g->has_proxyjump &&
        resolve_chain(g->proxyjump, depth, &prev, reason, rsize) != 0) {
      free(g);
      return -1;
    }
    free(g);
    h.via = prev;
    if (hop_check(&h, reason, rsize) != 0)
      return -1;
    if ((idx = intern_jump(&h, host)) < 0) {
      snprintf(reason, rsize, "too many jumps");
      return -1;
    }
    prev = idx;
    first = 0;
  }
  *via = prev;
  return 0;
}

/* Plan one route.  named: given on the command line. */
static void plan_route(const char *name, int named) {
  char reason[700];
  sshmuxd_sshg_t *g = NULL;
  const sshmux_route_t *x;
  size_t i, mark = G.nhops;
  hop_t h;

  if (!sshmux__routes_name_valid(name)) {
    skip(name, named,
         "not a route name (1-%d of A-Z a-z 0-9 . _ -; patterns and "
         "negations name no single host)",
         NAME_MAX_LEN);
    return;
  }
  for (i = 0; i < G.nhops; i++)
    if (!G.hops[i].is_jump && strcasecmp(G.hops[i].name, name) == 0)
      return; /* named twice */
  if (G.nhops == MAX_HOPS) {
    skip(name, named, "too many hosts in one run");
    return;
  }
  memset(&h, 0, sizeof(h));
  h.via = -1;
  snprintf(h.name, sizeof(h.name), "%s", name);
  if ((g = malloc(sizeof(*g))) == NULL) {
    skip(name, named, "out of memory");
    return;
  }
  if (ssh_g(name, NULL, NULL, g, reason, sizeof(reason)) != 0) {
    free(g);
    skip(name, named, "%s", reason);
    return;
  }
  if (g->has_hostkeyalias && strcmp(g->hostkeyalias, "sshmuxd") == 0) {
    /* setup-config's own Host block: the route is what serves it. */
    for (i = 0; i < sshmux_routes_count(G.routes); i++)
      if (strcasecmp(sshmux_route_name(sshmux_routes_get(G.routes, i)), name) ==
          0)
        break;
    free(g);
    if (i < sshmux_routes_count(G.routes)) {
      printf("%s: already goes through sshmuxd; its route is kept as it "
             "is\n",
             name);
      return;
    }
    skip(name, named,
         "ssh -G resolves it to sshmuxd itself (a Host block of "
         "setup-config) but there is no such route");
    return;
  }
  if (hop_from(&h, g, name, reason, sizeof(reason)) != 0 ||
      (g->has_proxyjump &&
       resolve_chain(g->proxyjump, 0, &h.via, reason, sizeof(reason)) != 0) ||
      hop_check(&h, reason, sizeof(reason)) != 0) {
    free(g);
    G.nhops = mark; /* the jumps planned for it alone go again */
    skip(name, named, "%s", reason);
    return;
  }
  free(g);
  h.sec = -1;
  x = sshmux_routes_find(G.routes, name);
  if (x == NULL) {
    h.state = H_NEW;
  } else {
    const sec_t *sec = find_sec(0, name);
    h.sec = sec != NULL ? (int)(sec - G.secs) : -1;
    if (same(x, &h))
      h.state = H_SAME;
    else if (sec != NULL && (untouched(sec) || G.o.force))
      h.state = H_UPDATE;
    else
      h.state = H_CONFLICT;
  }
  G.hops[G.nhops++] = h;
}

/* ---- listing the Host names of ssh_config ---- */

typedef struct {
  char names[MAX_HOSTS][NAME_MAX_LEN + 1];
  size_t n;
} names_t;

static void add_name(names_t *nm, const char *pat, const char *file,
                     int lineno) {
  size_t i;

  if (strpbrk(pat, "*?!") != NULL) {
    fprintf(stderr,
            "sshmuxd: import-config: %s:%d: Host %s: a pattern, not a host: "
            "not imported (its settings still apply, through ssh -G, to the "
            "hosts you name)\n",
            clean(file), lineno, clean(pat));
    G.nskipped++;
    return;
  }
  if (!sshmux__routes_name_valid(pat)) {
    skip(pat, 0, "not a route name (1-%d of A-Z a-z 0-9 . _ -)", NAME_MAX_LEN);
    return;
  }
  for (i = 0; i < nm->n; i++)
    if (strcasecmp(nm->names[i], pat) == 0)
      return;
  if (nm->n == MAX_HOSTS) {
    skip(pat, 0, "more than %d Host names", MAX_HOSTS);
    return;
  }
  memcpy(nm->names[nm->n++], pat, strlen(pat) + 1); /* valid: <= 64 */
}

/* Read at most CFG_MAX bytes of a regular file (following symlinks, as
 * ssh does: this only reads what ssh reads). */
static char *read_cfg(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  char *data;
  ssize_t n;

  if (fd < 0)
    return NULL;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CFG_MAX ||
      (data = malloc((size_t)st.st_size + 1)) == NULL) {
    close(fd);
    return NULL;
  }
  n = read(fd, data, (size_t)st.st_size);
  close(fd);
  if (n < 0) {
    free(data);
    return NULL;
  }
  data[n] = '\0';
  *len = (size_t)n;
  return data;
}

static void scan_cfg(names_t *nm, const char *path, int depth) {
  char *data;
  size_t len = 0;
  const char *p, *end;
  int lineno = 0;

  if (depth > INCLUDE_DEPTH || (data = read_cfg(path, &len)) == NULL) {
    if (depth == 0)
      fprintf(stderr, "sshmuxd: import-config: cannot read %s: %s\n",
              clean(path),
              depth > INCLUDE_DEPTH ? "Include too deep" : strerror(errno));
    return;
  }
  for (p = data, end = data + len; p < end;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    sshmuxd_sshcfg_line_t l;
    char arg[PATH_MAX];
    const char *s, *e;

    lineno++;
    sshmuxd_sshcfg_line(p, n, &l);
    p = nl ? nl + 1 : end;
    s = l.args;
    e = l.args + l.args_len;
    if ((sshmuxd_sshcfg_is(&l, "host") || sshmuxd_sshcfg_is(&l, "include")) &&
        !sshmuxd_sshcfg_args_ok(s, e)) {
      note("%s:%d: an unterminated quote: ssh refuses this line (\"invalid "
           "quotes\"), and with it the whole file; no name taken from it",
           clean(path), lineno);
    } else if (sshmuxd_sshcfg_is(&l, "host")) {
      while (sshmuxd_sshcfg_arg(&s, e, arg, sizeof(arg), NULL) > 0)
        add_name(nm, arg, path, lineno);
    } else if (sshmuxd_sshcfg_is(&l, "match")) {
      note("%s:%d: a Match block names no host to import; its settings "
           "apply, through ssh -G, to the hosts it matches",
           clean(path), lineno);
    } else if (sshmuxd_sshcfg_is(&l, "include")) {
      while (sshmuxd_sshcfg_arg(&s, e, arg, sizeof(arg), NULL) > 0) {
        char pat[PATH_MAX * 2];
        glob_t gl;
        size_t i;
        if (arg[0] == '~' && arg[1] == '/')
          snprintf(pat, sizeof(pat), "%s/%s", sshmuxd_home(), arg + 2);
        else if (arg[0] != '/')
          snprintf(pat, sizeof(pat), "%s/%s", sshmuxd_ssh_dir(), arg);
        else
          snprintf(pat, sizeof(pat), "%s", arg);
        if (glob(pat, 0, NULL, &gl) != 0)
          continue;
        for (i = 0; i < gl.gl_pathc; i++)
          scan_cfg(nm, gl.gl_pathv[i], depth + 1);
        globfree(&gl);
      }
    }
  }
  free(data);
}

/* ---- writing ---- */

/* The lines of sec that an update keeps: keys we do not manage and
 * comments other than our marker (trailing blank lines stay in place). */
static void kept_lines(const sec_t *sec, sshmuxd_str_t *b) {
  size_t i;
  uint64_t h;

  for (i = sec->first + 1; i <= sec->last; i++) {
    const line_t *l = &G.lines[i];
    if (is_marker(l, &h) || (is_key_line(l) && managed_key(l)))
      continue;
    sshmuxd_str_add(b, l->s, l->n);
    sshmuxd_str_add(b, "\n", 1);
  }
}

static void print_diff_lines(char sign, const char *s, size_t n) {
  const char *p = s, *e = s + n;

  while (p < e) {
    const char *nl = memchr(p, '\n', (size_t)(e - p));
    size_t k = nl ? (size_t)(nl - p) : (size_t)(e - p);
    printf("%c%.*s\n", sign, (int)k, p);
    p = nl ? nl + 1 : e;
  }
}

/* Build the new file text into out and print the diff; counts in c[]. */
static void build(sshmuxd_str_t *out, unsigned c[4]) {
  sshmuxd_str_t *repl = calloc(G.nsecs ? G.nsecs : 1, sizeof(*repl));
  sshmuxd_str_t add = {0};
  size_t i, j;
  int header = 0;

  if (repl == NULL) {
    out->oom = 1;
    return;
  }
  for (i = 0; i < G.nhops; i++) {
    hop_t *h = &G.hops[i];
    sshmuxd_str_t body = {0}, extra = {0};
    const sec_t *sec = h->sec >= 0 ? &G.secs[h->sec] : NULL;

    c[h->state]++;
    if (h->state == H_SAME)
      continue;
    if (!header) {
      printf("--- %s\n+++ %s (import-config)\n", G.path, G.path);
      header = 1;
    }
    if (sec != NULL)
      kept_lines(sec, &extra);
    section_text(&body, h, &extra, 1);
    printf("@@ [%s.%s] %s @@\n", h->is_jump ? "jumps" : "routes", h->name,
           h->state == H_NEW ? "new"
           : h->state == H_UPDATE
               ? (G.o.force && !untouched(sec) ? "replaced (--force)"
                                               : "updated (imported earlier, "
                                                 "ssh_config changed)")
               : "written by hand: NOT replaced without "
                 "--force");
    if (sec != NULL)
      for (j = sec->first; j <= sec->last; j++)
        printf("-%.*s\n", (int)G.lines[j].n, G.lines[j].s);
    if (body.s != NULL)
      print_diff_lines('+', body.s, body.len);
    if (h->state == H_UPDATE && sec != NULL && body.s != NULL)
      sshmuxd_str_add(&repl[h->sec], body.s, body.len);
    else if (h->state == H_NEW && body.s != NULL) {
      sshmuxd_str_add(&add, "\n", 1);
      sshmuxd_str_add(&add, body.s, body.len);
    }
    if (body.oom || extra.oom)
      out->oom = 1;
    sshmuxd_str_free(&body);
    sshmuxd_str_free(&extra);
  }
  for (i = 0, j = 0; i < G.nlines; i++) {
    while (j < G.nsecs && G.secs[j].first < i)
      j++;
    if (j < G.nsecs && G.secs[j].first == i && repl[j].len > 0) {
      sshmuxd_str_add(out, repl[j].s, repl[j].len);
      i = G.secs[j].last;
      continue;
    }
    sshmuxd_str_add(out, G.lines[i].s, G.lines[i].n);
    sshmuxd_str_add(out, "\n", 1);
  }
  if (add.len > 0) {
    if (out->len == 0)
      sshmuxd_str_printf(out, "; routes imported from ssh_config by "
                              "`sshmuxd import-config`\n");
    sshmuxd_str_add(out, add.s, add.len);
  }
  if (add.oom)
    out->oom = 1;
  sshmuxd_str_free(&add);
  for (i = 0; i < G.nsecs; i++)
    sshmuxd_str_free(&repl[i]);
  free(repl);
}

/* ---- the command ---- */

static int parse(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"ssh-config", required_argument, NULL, 'F'},
      {"force", no_argument, NULL, 'f'},
      {"dry-run", no_argument, NULL, 'n'},
      SSHMUXD_COMMON_LONGOPTS,
      {NULL, 0, NULL, 0}};
  int c, r;

  optind = 1;
  while ((c = getopt_long(argc, argv, "c:F:nh", opts, NULL)) != -1) {
    r = sshmuxd_common_option(c, optarg);
    if (r == 1) {
      usage(stdout, NULL);
      return -1;
    }
    if (r >= 0 && r != 0)
      return r;
    if (r == 0)
      continue;
    switch (c) {
    case 'c':
      G.o.routes = optarg;
      break;
    case 'F':
      G.o.ssh_config = optarg;
      break;
    case 'f':
      G.o.force = 1;
      break;
    case 'n':
      G.o.dry_run = 1;
      break;
    default:
      return SSHMUXD_EXIT_USAGE;
    }
  }
  for (; optind < argc; optind++) {
    if (G.o.nhosts == MAX_HOSTS) {
      sshmuxd_err("import-config: more than %d hosts", MAX_HOSTS);
      return SSHMUXD_EXIT_USAGE;
    }
    G.o.hosts[G.o.nhosts++] = argv[optind];
  }
  return sshmuxd_paths_init() == 0 ? 0 : SSHMUXD_EXIT_FAIL;
}

/* Read and load the routes file (a missing one is empty). */
static int load_file(void) {
  char err[SSHMUX_ROUTES_ERR_MAX];
  int r;

  if (G.o.routes != NULL) {
    if (copy(G.path, sizeof(G.path), G.o.routes) != 0)
      return -1;
  } else if (sshmuxd_default_routes(G.path, sizeof(G.path)) != 0) {
    return -1;
  }
  r = sshmux_file_read(G.path, SSHMUX_ROUTES_MAX_FILE, &G.text, &G.text_len);
  if (r == UV_ENOENT) {
    G.text = NULL;
    G.text_len = 0;
  } else if (r != 0) {
    sshmuxd_err("%s: %s", G.path, sshmux_strerror(r));
    return -1;
  }
  r = sshmux__routes_load_buffer(&G.routes, G.text ? G.text : "", G.text_len,
                                 G.path, sshmuxd_home(), err, sizeof(err));
  if (r != 0) {
    sshmuxd_err("%s", err);
    sshmuxd_err("import-config: fix the routes file first (nothing was "
                "changed)");
    return -1;
  }
  if (index_file() != 0) {
    sshmuxd_err("out of memory");
    return -1;
  }
  return 0;
}

int sshmuxd_cmd_import_config(int argc, char **argv) {
  unsigned c[4] = {0, 0, 0, 0};
  sshmuxd_str_t out = {0};
  sshmux_routes_t *check = NULL;
  char err[SSHMUX_ROUTES_ERR_MAX];
  int r, rc = SSHMUXD_EXIT_FAIL;
  size_t i;

  memset(&G, 0, sizeof(G));
  r = parse(argc, argv);
  if (r != 0)
    return r < 0 ? 0 : r;
  if (G.o.ssh_config != NULL) {
    if (copy(G.sshcfg, sizeof(G.sshcfg), G.o.ssh_config) != 0)
      return SSHMUXD_EXIT_USAGE;
  } else if (sshmuxd_ssh_dir_is_explicit()) {
    /* An SSH dir of its own (tests, a second identity): its config, not
     * the account's ~/.ssh/config that plain ssh would read. */
    if (sshmuxd_join(G.sshcfg, sizeof(G.sshcfg), sshmuxd_ssh_dir(), "config") !=
        0)
      return SSHMUXD_EXIT_FAIL;
  }
  if (load_file() != 0)
    goto out;
  sshmuxd_log_open();

  if (G.o.nhosts > 0) {
    for (i = 0; i < G.o.nhosts; i++)
      plan_route(G.o.hosts[i], 1);
  } else {
    static names_t nm;
    char cfg[PATH_MAX];
    if (G.sshcfg[0] != '\0')
      snprintf(cfg, sizeof(cfg), "%s", G.sshcfg);
    else if (sshmuxd_join(cfg, sizeof(cfg), sshmuxd_ssh_dir(), "config") != 0)
      goto out;
    nm.n = 0;
    scan_cfg(&nm, cfg, 0);
    if (nm.n == 0)
      printf("no Host names to import in %s\n", clean(cfg));
    for (i = 0; i < nm.n; i++)
      plan_route(nm.names[i], 0);
  }

  build(&out, c);
  if (out.oom) {
    sshmuxd_err("out of memory");
    goto out;
  }
  if (c[H_CONFLICT] > 0) {
    sshmuxd_err("import-config: %u route(s) in %s were written by hand and "
                "differ from ssh_config; nothing was changed.  Rerun with "
                "--force to replace them (their other keys are kept), or "
                "leave those hosts out.",
                c[H_CONFLICT], G.path);
    goto out;
  }
  if (c[H_NEW] + c[H_UPDATE] == 0) {
    printf("nothing changed: %s is up to date (%u route(s) and jump(s) "
           "already as ssh_config says)\n",
           G.path, c[H_SAME]);
    rc = G.skipped_named ? SSHMUXD_EXIT_FAIL : 0;
    goto out;
  }
  /* The routes loader has the last word on the whole new file. */
  r = sshmux__routes_load_buffer(&check, out.s, out.len, G.path, sshmuxd_home(),
                                 err, sizeof(err));
  sshmux_routes_free(check);
  if (r != 0) {
    sshmuxd_err("import-config: the new routes file would not load (%s); "
                "nothing was changed",
                err);
    goto out;
  }
  if (G.o.dry_run) {
    printf("dry run: %s not written\n", G.path);
    rc = 0;
    goto out;
  }
  r = sshmux_file_write_atomic(G.path, out.s, out.len, 0600);
  if (r != 0) {
    sshmuxd_err("writing %s: %s", G.path, sshmux_strerror(r));
    goto out;
  }
  sshmuxd_log(SSHMUX_LOG_INFO,
              "import-config: wrote %s (%u new, %u updated, %u unchanged)",
              G.path, c[H_NEW], c[H_UPDATE], c[H_SAME]);
  printf("wrote %s: %u new, %u updated, %u unchanged (routes and jumps)\n"
         "next: `sshmuxd check-config` to review, `sshmuxd setup-config` to "
         "make `ssh HOST` go through sshmuxd\n",
         G.path, c[H_NEW], c[H_UPDATE], c[H_SAME]);
  rc = G.skipped_named ? SSHMUXD_EXIT_FAIL : 0;
out:
  sshmuxd_str_free(&out);
  sshmux_routes_free(G.routes);
  sshmux_free(G.text);
  free(G.lines);
  free(G.secs);
  return rc;
}
