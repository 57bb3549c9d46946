/* setup_config.c -- `sshmuxd setup-config`: make plain `ssh ROUTE` go
 * through sshmuxd.
 *
 * It writes three things in the SSH dir and touches nothing else:
 *   sshmux-hosts.conf    one Host block per route (127.0.0.1, our port,
 *                        User = route name, pinned host key);
 *   sshmux-known-hosts   the local server's host PUBLIC keys under the
 *                        alias "sshmuxd" (creating the keys if missing, so
 *                        StrictHostKeyChecking yes holds from the first
 *                        connection);
 *   config               an Include of sshmux-hosts.conf (by absolute
 *                        path) at the top, added once; existing Host blocks
 *                        that name a route are commented out, with a note;
 *   sshmux-cm/           (Unix, unless opted out) the 0700 directory of the
 *                        local ControlMaster sockets the Host blocks name.
 * Every write is atomic and refuses symlinks; everything that could make
 * the run fail is checked before the first write.  A file whose new
 * content equals the old is not rewritten, so a second run changes nothing
 * and says so. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#ifndef _WIN32
#include <sys/un.h>
#endif
#include <unistd.h>

#include <uv.h>

#include "crypto/crypto.h"
#include "sshcfg.h"
#include "sshmuxd.h"

#define HOST_KEY_ALIAS "sshmuxd"
/* Every name is known to OpenSSH since 6.5, so no client rejects the line. */
#define FAST_CIPHERS                                                           \
  "aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,"                      \
  "aes128-gcm@openssh.com,aes256-ctr,aes128-ctr"
#define CONFIG_MAX (1024 * 1024)
#define COMMENT_PREFIX "#sshmuxd# "
#define DEFAULT_PORT 2222

/* The local ControlMaster (docs/benchmarks.md section 4): with it an
 * OpenSSH client skips even the handshake with our server, as it would with
 * a ControlMaster of its own.  Never on Windows, whose OpenSSH has no
 * ControlMaster.
 *
 * The socket name is ssh's %C, a SHA-1 in hex of the local host name, the
 * host, port and user (the route): every route and every port gets its own
 * master, `ssh -l OTHER route` never rides the route's master, and a home
 * shared between machines never mixes their sockets.  A Unix socket path
 * is at most sizeof(sun_path) - 1 bytes (107 on Linux, 103 on the BSDs and
 * macOS), and a master first binds PATH + "." + 16 random characters, then
 * renames it; ssh exits 255 when that does not fit, so setup-config writes
 * the ControlMaster only when DIR/%C plus that suffix fits.
 *
 * ControlPersist 300: an idle master (no session left) lives 5 minutes,
 * enough for scripted bursts of sessions with pauses between them, short
 * enough that a master nobody uses does not keep a socket that opens
 * sessions without the publickey step for hours (docs/security.md).  A
 * master never outlives the daemon it is connected to: when sshmuxd stops
 * or restarts, the loopback connection ends and so does the master (the
 * next ssh becomes the new one), and `sshmuxd lock` refuses the sessions a
 * master asks for like any other (the pool refuses new channels). */
#define CM_DIR "sshmux-cm"
#define CM_TOKEN "%C"
#define CM_TOKEN_LEN 40 /* what %C expands to */
#define CM_TEMP_LEN 17  /* ".XXXXXXXXXXXXXXXX", the master's first name */
#define CM_PERSIST "300"

static const struct {
  const char *file;
  sshmux__key_type_t type;
} host_keys[] = {{"sshmux_host_ed25519_key", SSHMUX__KEY_ED25519},
                 {"sshmux_host_ecdsa_key", SSHMUX__KEY_ECDSA_P256}};

static void usage(FILE *f, void *ctx) {
  (void)ctx;
  fprintf(
      f,
      "usage: sshmuxd setup-config [--config FILE] [--port N] [options]\n"
      "\n"
      "Write sshmux-hosts.conf (one Host per route) and sshmux-known-hosts\n"
      "in the SSH dir, and Include the former at the top of the SSH dir's\n"
      "config, commenting out Host blocks there that name a route.\n"
      "Idempotent: a second run changes nothing.\n"
      "\n"
      "  --config FILE     routes file (default: SSH dir's "
      "sshmux-routes.ini)\n"
      "  --port N          sshmuxd's local port (default "
      "%d)\n"
      "  --no-control-master  no local ControlMaster in the Host blocks\n"
      "                    (also: control_master = false in [defaults];\n"
      "                    never written on Windows)\n" SSHMUXD_COMMON_HELP,
      DEFAULT_PORT);
}

/* A path we write into ssh_config must survive its tokenizer unchanged:
 * quotes, backslashes, '%' tokens, '$' variables, glob characters (Include
 * globs) and '#' are refused rather than escaped. */
static int config_safe_path(const char *what, const char *p) {
  const char *s;

  for (s = p; *s != '\0'; s++) {
    if ((unsigned char)*s < 0x20 || *s == 0x7f ||
        strchr("\"\\%$*?[]#'`", *s) != NULL) {
      sshmuxd_err("%s %s contains '%c', which ssh_config would "
                  "interpret; use a path without it",
                  what, p, (unsigned char)*s < 0x20 ? '?' : *s);
      return -1;
    }
  }
  return 0;
}

/* "path" quoted for ssh_config when it holds white space. */
static void add_path(sshmuxd_str_t *b, const char *p) {
  if (strpbrk(p, " \t") != NULL)
    sshmuxd_str_printf(b, "\"%s\"", p);
  else
    sshmuxd_str_printf(b, "%s", p);
}

/* The ControlMaster lines of a Host block; none when cm_dir is "". */
static void add_control_master(sshmuxd_str_t *b, const char *cm_dir) {
  char path[PATH_MAX + 8];

  if (cm_dir[0] == '\0')
    return;
  snprintf(path, sizeof(path), "%s/%s", cm_dir, CM_TOKEN);
  sshmuxd_str_printf(b, "    ControlMaster auto\n"
                        "    ControlPath ");
  add_path(b, path);
  sshmuxd_str_printf(b, "\n"
                        "    ControlPersist " CM_PERSIST "\n");
}

/* The key ssh should offer to sshmuxd: the first default key that exists in
 * the SSH dir with its .pub (sshmuxd accepts the SSH dir's *.pub keys when
 * there is no sshmux-authorized-keys).  0 and out = "" when none. */
static int local_identity(char *out, size_t size) {
  static const char *const names[] = {"id_ed25519", "id_ecdsa", "id_rsa"};
  char pub[PATH_MAX];
  size_t i;

  out[0] = '\0';
  for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if (sshmuxd_join(out, size, sshmuxd_ssh_dir(), names[i]) != 0 ||
        snprintf(pub, sizeof(pub), "%s.pub", out) >= (int)sizeof(pub))
      return -1;
    if (access(out, R_OK) == 0 && access(pub, R_OK) == 0)
      return 0;
  }
  out[0] = '\0';
  return 0;
}

static void lowercase_into(char *out, size_t size, const char *s) {
  size_t i;

  for (i = 0; s[i] != '\0' && i + 1 < size; i++)
    out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
  out[i] = '\0';
}

static void build_hosts_conf(sshmuxd_str_t *b, const sshmux_routes_t *routes,
                             const char *routes_path, int port,
                             const char *identity, const char *known,
                             const char *cm_dir) {
  size_t i;

  sshmuxd_str_printf(b,
                     "# sshmux-hosts.conf -- written by `sshmuxd setup-config`"
                     " from\n# %s.\n"
                     "# Rewritten on every run: edit the routes file, not "
                     "this one.\n",
                     routes_path);
  for (i = 0; i < sshmux_routes_count(routes); i++) {
    const char *name = sshmux_route_name(sshmux_routes_get(routes, i));
    char lower[80];

    /* ssh lowercases the host name it is given before matching Host
     * patterns; User keeps the route's own spelling. */
    lowercase_into(lower, sizeof(lower), name);
    sshmuxd_str_printf(b,
                       "\nHost %s\n"
                       "    HostName 127.0.0.1\n"
                       "    Port %d\n"
                       "    User %s\n",
                       lower, port, name);
    if (identity[0] != '\0') {
      sshmuxd_str_printf(b, "    IdentityFile ");
      add_path(b, identity);
      sshmuxd_str_printf(b, "\n");
    }
    /* ECDSA first: OpenSSH verifies an Ed25519 host signature with its
     * own portable code (~50 M instructions under callgrind: most of a warm
     * attach), an ECDSA P-256 one through OpenSSL for a small fraction of
     * that.  Both keys are
     * pinned, so either is safe; docs/benchmarks.md has the numbers. */
    sshmuxd_str_printf(b,
                       "    HostKeyAlias %s\n"
                       "    HostKeyAlgorithms ecdsa-sha2-nistp256,ssh-ed25519\n"
                       "    UserKnownHostsFile ",
                       HOST_KEY_ALIAS);
    add_path(b, known);
    /* AES-256-GCM first where our server runs it on AES-NI: per byte the
     * cheapest construction for both ends (OpenSSH's chacha20-poly1305
     * costs its client ~2x the CPU; docs/benchmarks.md §7).  The rest is
     * OpenSSH's own order, so nothing is lost against a client without
     * it.  Omitted where we would run GCM on mbedTLS's slower code. */
    if (sshmux__cipher_accelerated("aes256-gcm@openssh.com"))
      sshmuxd_str_printf(b, "\n    Ciphers " FAST_CIPHERS);
    sshmuxd_str_printf(b, "\n"
                          "    StrictHostKeyChecking yes\n"
                          "    PreferredAuthentications publickey\n"
                          "    PasswordAuthentication no\n"
                          "    KbdInteractiveAuthentication no\n"
                          "    ProxyJump none\n");
    add_control_master(b, cm_dir);
  }
}

/* Load (creating when missing) the local server's host keys and write
 * their public halves as known_hosts lines. */
static int build_known_hosts(sshmuxd_str_t *b, int *created) {
  char path[PATH_MAX];
  size_t i;
  int r;

  sshmuxd_str_printf(
      b, "# sshmux-known-hosts -- written by `sshmuxd "
         "setup-config`: the host keys of the\n"
         "# local sshmuxd server, under HostKeyAlias " HOST_KEY_ALIAS
         ".  Rewritten on every run.\n");
  for (i = 0; i < sizeof(host_keys) / sizeof(host_keys[0]); i++) {
    sshmux__hostkey_t *hk = NULL;
    char *line = NULL;
    int existed;

    if (sshmuxd_join(path, sizeof(path), sshmuxd_ssh_dir(),
                     host_keys[i].file) != 0)
      return -1;
    existed = access(path, F_OK) == 0;
    r = sshmux__hostkey_load_or_create(&hk, path, host_keys[i].type);
    if (r == 0)
      r = sshmux__hostkey_openssh_public(hk, NULL, &line);
    sshmux__hostkey_free(hk);
    if (r != 0) {
      sshmuxd_err("host key %s: %s", path, sshmux_strerror(r));
      return -1;
    }
    if (!existed) {
      printf("created host key %s\n", path);
      sshmuxd_log(SSHMUX_LOG_INFO, "setup-config: created host key %s", path);
      (*created)++;
    }
    sshmuxd_str_printf(b, "%s %s", HOST_KEY_ALIAS, line);
    sshmux_free(line);
  }
  return 0;
}

/* ---- the user's config ---- */

typedef struct {
  const char *start; /* the line, without its '\n' */
  size_t len;
  int is_host, is_match, is_include;
  const char *args; /* after the keyword and separator */
  size_t args_len;
} cfg_line_t;

static void parse_line(cfg_line_t *l) {
  sshmuxd_sshcfg_line_t t;

  sshmuxd_sshcfg_line(l->start, l->len, &t);
  l->is_host = sshmuxd_sshcfg_is(&t, "host");
  l->is_match = sshmuxd_sshcfg_is(&t, "match");
  l->is_include = sshmuxd_sshcfg_is(&t, "include");
  l->args = t.args;
  l->args_len = t.args_len;
}

/* Route names (comma-separated, into names) that a Host line's patterns
 * name, split as ssh splits them; 0 if none, and 0 for a line ssh refuses
 * (an unterminated quote: rewrite_config says so). */
static int host_conflicts(const cfg_line_t *l, const sshmux_routes_t *routes,
                          sshmuxd_str_t *names, sshmuxd_str_t *others) {
  const char *s = l->args, *e = l->args + l->args_len;
  char pat[256];
  int n = 0;

  if (!sshmuxd_sshcfg_args_ok(s, e))
    return 0;
  while (sshmuxd_sshcfg_arg(&s, e, pat, sizeof(pat), NULL) > 0) {
    size_t i;
    int hit = 0;
    for (i = 0; i < sshmux_routes_count(routes); i++) {
      const char *name = sshmux_route_name(sshmux_routes_get(routes, i));
      if (strcasecmp(pat, name) == 0) {
        sshmuxd_str_printf(names, "%s%s", n++ ? ", " : "", name);
        hit = 1;
        break;
      }
    }
    if (!hit)
      sshmuxd_str_printf(others, "%s%s", others->len ? ", " : "", pat);
  }
  return n;
}

static int blank(const char *p, size_t n) {
  size_t i;

  for (i = 0; i < n; i++)
    if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
      return 0;
  return 1;
}

/* Build the new config from old (len bytes; may be empty).  *changes counts
 * what was changed (and each is printed). */
static int rewrite_config(sshmuxd_str_t *out, const char *old, size_t len,
                          const char *cfg_path, const char *hosts_path,
                          const sshmux_routes_t *routes, int *changes) {
  const char *p = old, *end = old + len;
  int in_conflict = 0, has_include = 0, lineno = 0;
  char arg[PATH_MAX];

  /* First pass: is our Include already there before any Host/Match? */
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    cfg_line_t l = {p, nl ? (size_t)(nl - p) : (size_t)(end - p), 0, 0, 0, NULL,
                    0};
    parse_line(&l);
    if (l.is_host || l.is_match)
      break;
    if (l.is_include) {
      const char *s = l.args, *e = l.args + l.args_len;
      while (sshmuxd_sshcfg_arg(&s, e, arg, sizeof(arg), NULL) > 0)
        if (strcmp(arg, hosts_path) == 0)
          has_include = 1;
    }
    p = nl ? nl + 1 : end;
  }
  if (!has_include) {
    sshmuxd_str_printf(out,
                       "# Added by `sshmuxd setup-config`: the Host blocks "
                       "of the routes sshmuxd serves.\nInclude ");
    add_path(out, hosts_path);
    sshmuxd_str_printf(out, "\n\n");
    printf("%s: added Include of %s at the top\n", cfg_path, hosts_path);
    sshmuxd_log(SSHMUX_LOG_INFO, "setup-config: %s: added Include at the top",
                cfg_path);
    (*changes)++;
  }
  for (p = old; p < end;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    cfg_line_t l = {p, n, 0, 0, 0, NULL, 0};

    lineno++;
    parse_line(&l);
    if (l.is_host || l.is_match) {
      sshmuxd_str_t names = {0}, others = {0};
      if (l.is_host && !sshmuxd_sshcfg_args_ok(l.args, l.args + l.args_len))
        printf("%s:%d: note: an unterminated quote: ssh refuses this line "
               "(\"invalid quotes\"), and with it the whole file; left as "
               "it is\n",
               cfg_path, lineno);
      in_conflict =
          l.is_host && host_conflicts(&l, routes, &names, &others) > 0;
      if (in_conflict) {
        sshmuxd_str_printf(out,
                           "# sshmuxd setup-config commented out this Host "
                           "block: it names route(s) %s,\n# which are now "
                           "reached through sshmuxd (see the Include at the "
                           "top).\n",
                           names.s);
        if (others.len)
          sshmuxd_str_printf(out,
                             "# It also named: %s; add a Host block for "
                             "those if you still need one.\n",
                             others.s);
        printf("%s:%d: commented out Host block naming route(s) %s%s%s\n",
               cfg_path, lineno, names.s, others.len ? "; it also named " : "",
               others.len ? others.s : "");
        sshmuxd_log(SSHMUX_LOG_INFO,
                    "setup-config: %s:%d: commented out Host block (%s)",
                    cfg_path, lineno, names.s);
        (*changes)++;
      }
      sshmuxd_str_free(&names);
      sshmuxd_str_free(&others);
    }
    if (in_conflict && !blank(p, n))
      sshmuxd_str_printf(out, "%s", COMMENT_PREFIX);
    sshmuxd_str_add(out, p, n);
    if (nl != NULL)
      sshmuxd_str_add(out, "\n", 1);
    p = nl ? nl + 1 : end;
  }
  return out->oom ? -1 : 0;
}

/* Write data to path unless it already holds exactly that. */
static int write_if_changed(const char *path, const sshmuxd_str_t *b, int mode,
                            const char *what, int *changes) {
  int r;

  if (sshmuxd_file_equals(path, b->s, b->len))
    return 0;
  r = sshmux_file_write_atomic(path, b->s, b->len, mode);
  if (r != 0) {
    sshmuxd_err("writing %s: %s", path, sshmux_strerror(r));
    return -1;
  }
  printf("wrote %s (%s)\n", path, what);
  sshmuxd_log(SSHMUX_LOG_INFO, "setup-config: wrote %s", path);
  (*changes)++;
  return 0;
}

/* Refuse up front when a file we are going to write is reached through a
 * symlink, so a refused run writes nothing at all. */
static int check_target(const char *path) {
  int r = sshmux_path_check_symlinks(path);

  if (r == 0 || r == UV_ENOENT)
    return 0;
  if (r == SSHMUX_ESYMLINK)
    sshmuxd_err("%s is (or is reached through) a symbolic link; refusing to "
                "replace it.  Nothing was changed.",
                path);
  else
    sshmuxd_err("%s: %s", path, sshmux_strerror(r));
  return -1;
}

typedef struct {
  const char *config;
  int port;
  int no_control_master;
} opts_t;

enum { OPT_NO_CONTROL_MASTER = OPT_FIRST_PRIVATE };

static int option(int c, const char *arg, void *ctx) {
  opts_t *o = ctx;

  if (c == 'c') {
    o->config = arg;
    return 0;
  }
  if (c == 'p')
    return sshmuxd_parse_port(arg, &o->port);
  if (c == OPT_NO_CONTROL_MASTER) {
    o->no_control_master = 1;
    return 0;
  }
  return SSHMUXD_EXIT_USAGE;
}

/* The ControlMaster socket directory into cm_dir, or "" when the Host
 * blocks get no ControlMaster: opted out, on Windows, or (with a note
 * saying so) when its socket paths could not be bound.  An existing
 * directory must pass the checks it will pass after creation (so a refused
 * run writes nothing); a missing one is created later, by cm_dir_create.
 * 0, or -1 after printing why. */
static int cm_dir_plan(char *cm_dir, size_t size, int wanted) {
  cm_dir[0] = '\0';
#ifdef _WIN32
  (void)size;
  (void)wanted;
  return 0;
#else
  size_t limit = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
  int r;

  if (!wanted)
    return 0;
  if (sshmuxd_join(cm_dir, size, sshmuxd_ssh_dir(), CM_DIR) != 0)
    return -1;
  if (strlen(cm_dir) + 1 + CM_TOKEN_LEN + CM_TEMP_LEN > limit) {
    printf("note: no ControlMaster in the Host blocks: its socket paths (%s/ "
           "and %d more characters, ssh's %%C and its temporary suffix) would "
           "not fit the %zu bytes of a Unix socket path, and ssh would refuse "
           "to run; an SSH dir of at most %zu characters fits "
           "(--no-control-master silences this)\n",
           cm_dir, CM_TOKEN_LEN + CM_TEMP_LEN, limit,
           limit - (1 + CM_TOKEN_LEN + CM_TEMP_LEN) - strlen("/" CM_DIR));
    sshmuxd_log(SSHMUX_LOG_INFO,
                "setup-config: %s too long for ControlMaster sockets", cm_dir);
    cm_dir[0] = '\0';
    return 0;
  }
  r = sshmuxd_private_dir_check("ControlMaster directory", cm_dir, 0);
  if (r != 0 && r != UV_ENOENT) {
    sshmuxd_err("Nothing was changed (--no-control-master does without it).");
    return -1;
  }
  return 0;
#endif
}

/* Create (when missing) and check the directory cm_dir_plan chose. */
static int cm_dir_create(const char *cm_dir, int *changes) {
  struct stat st;
  int existed;

  if (cm_dir[0] == '\0')
    return 0;
  existed = lstat(cm_dir, &st) == 0;
  if (sshmuxd_private_dir_check("ControlMaster directory", cm_dir, 1) != 0)
    return -1;
  if (!existed) {
    printf("created %s (0700) for the ControlMaster sockets\n", cm_dir);
    sshmuxd_log(SSHMUX_LOG_INFO, "setup-config: created %s", cm_dir);
    (*changes)++;
  }
  return 0;
}

int sshmuxd_cmd_setup_config(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"port", required_argument, NULL, 'p'},
      {"no-control-master", no_argument, NULL, OPT_NO_CONTROL_MASTER},
      SSHMUXD_COMMON_LONGOPTS,
      {NULL, 0, NULL, 0}};
  char routes_path[PATH_MAX], hosts_path[PATH_MAX], known_path[PATH_MAX],
      cfg_path[PATH_MAX], identity[PATH_MAX], cm_dir[PATH_MAX];
  const char *config;
  opts_t o = {NULL, DEFAULT_PORT, 0};
  sshmux_routes_t *routes = NULL;
  sshmuxd_str_t hosts = {0}, known = {0}, cfg = {0};
  char *old = NULL;
  size_t old_len = 0, i;
  int r, port, changes = 0, rc = SSHMUXD_EXIT_FAIL;
  struct stat st;
  int cfg_mode = 0600;

  r = sshmuxd_parse_args(argc, argv, "c:p:h", opts, option, usage, &o);
  if (r != 0)
    return r < 0 ? 0 : r;
  port = o.port;
  if (sshmuxd_join(hosts_path, sizeof(hosts_path), sshmuxd_ssh_dir(),
                   "sshmux-hosts.conf") != 0 ||
      sshmuxd_join(known_path, sizeof(known_path), sshmuxd_ssh_dir(),
                   "sshmux-known-hosts") != 0 ||
      sshmuxd_join(cfg_path, sizeof(cfg_path), sshmuxd_ssh_dir(), "config") !=
          0)
    return SSHMUXD_EXIT_FAIL;
  if (config_safe_path("SSH dir", sshmuxd_ssh_dir()) != 0)
    return SSHMUXD_EXIT_FAIL;

  /* Everything that can refuse the run, before the first write. */
  if ((r = sshmuxd_load_routes(o.config, routes_path, sizeof(routes_path),
                               &routes)) != 0)
    return r;
  config = routes_path;
  if (check_target(hosts_path) != 0 || check_target(known_path) != 0 ||
      check_target(cfg_path) != 0)
    goto out;
  for (i = 0; i < sizeof(host_keys) / sizeof(host_keys[0]); i++) {
    char kp[PATH_MAX];
    if (sshmuxd_join(kp, sizeof(kp), sshmuxd_ssh_dir(), host_keys[i].file) !=
            0 ||
        check_target(kp) != 0)
      goto out;
  }
  r = sshmux_file_read(cfg_path, CONFIG_MAX, &old, &old_len);
  if (r == UV_ENOENT) {
    old = NULL;
    old_len = 0;
  } else if (r != 0) {
    sshmuxd_err("reading %s: %s", cfg_path, sshmux_strerror(r));
    goto out;
  } else if (stat(cfg_path, &st) == 0) {
    cfg_mode = (int)(st.st_mode & 0755); /* never group/other writable */
  }
  if (local_identity(identity, sizeof(identity)) != 0 ||
      (identity[0] != '\0' && config_safe_path("identity", identity) != 0))
    goto out;
  if (cm_dir_plan(cm_dir, sizeof(cm_dir),
                  !o.no_control_master &&
                      sshmux_routes_control_master(routes)) != 0)
    goto out;

  r = sshmux_dir_ensure(sshmuxd_ssh_dir(), 0700);
  if (r != 0) {
    sshmuxd_err("SSH dir %s: %s", sshmuxd_ssh_dir(), sshmux_strerror(r));
    goto out;
  }
  sshmuxd_log_open();
  sshmuxd_log(SSHMUX_LOG_DEBUG, "setup-config: routes %s, SSH dir %s, port %d",
              config, sshmuxd_ssh_dir(), port);
  if (build_known_hosts(&known, &changes) != 0)
    goto out;
  build_hosts_conf(&hosts, routes, config, port, identity, known_path, cm_dir);
  if (rewrite_config(&cfg, old ? old : "", old_len, cfg_path, hosts_path,
                     routes, &changes) != 0 ||
      hosts.oom || known.oom) {
    sshmuxd_err("out of memory");
    goto out;
  }
  /* The files the Include points at first, the config last: ssh never
   * sees an Include of a missing file, nor a ControlPath in a missing
   * directory. */
  if (cm_dir_create(cm_dir, &changes) != 0 ||
      write_if_changed(known_path, &known, 0600, "local host keys", &changes) !=
          0 ||
      write_if_changed(hosts_path, &hosts, 0600, "Host blocks", &changes) !=
          0 ||
      write_if_changed(cfg_path, &cfg, cfg_mode, "ssh config", &changes) != 0)
    goto out;
  if (identity[0] == '\0')
    printf("note: no id_ed25519, id_ecdsa or id_rsa key pair in %s: ssh will "
           "offer its default keys\n",
           sshmuxd_ssh_dir());
  if (changes == 0) {
    printf("nothing changed: %s, %s and %s are up to date\n", hosts_path,
           known_path, cfg_path);
    sshmuxd_log(SSHMUX_LOG_DEBUG, "setup-config: nothing changed");
  } else {
    printf("%zu route(s) set up: `ssh ROUTE` now goes through sshmuxd on "
           "127.0.0.1:%d\n",
           sshmux_routes_count(routes), port);
  }
  rc = 0;
out:
  sshmux_free(old);
  sshmuxd_str_free(&hosts);
  sshmuxd_str_free(&known);
  sshmuxd_str_free(&cfg);
  sshmux_routes_free(routes);
  return rc;
}
