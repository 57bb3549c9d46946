/* serve.c -- `sshmuxd serve`: the foreground multiplexer.  It wires the
 * library's pieces together on one libuv loop: the routes file (or, in
 * direct mode, one route made from --remote/--user), the upstream pool, the
 * relay with its local SSH server on 127.0.0.1, the host keys and client
 * keys from the SSH directory, the terminal prompter, and SIGINT/SIGTERM
 * for an orderly shutdown.
 *
 * Who may connect: the keys in <ssh dir>/sshmux-authorized-keys; when that
 * file does not exist, the public keys of the SSH dir (*.pub, our own host
 * keys excepted), with a warning, because a key pair in ~/.ssh is the
 * user's own.  Those are copied into a private temporary authorized_keys
 * file (mode 0600 in a 0700 directory) that the server reads like any
 * other and that is removed on exit.
 *
 * The server binds 127.0.0.1 only: sshmuxd multiplexes the connections of
 * the user's own clients and is not a bastion for others. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "routes/routes.h"
#include "sshmuxd.h"

#define DEFAULT_PORT 2222
#define AUTH_KEYS_NAME "sshmux-authorized-keys"

enum {
  OPT_PORT = OPT_FIRST_PRIVATE,
  OPT_CONFIG,
  OPT_TIMEOUT,
  OPT_LIFETIME,
  OPT_REMOTE,
  OPT_USER,
  OPT_IDENTITY
};

typedef struct {
  int port;
  const char *config;
  long timeout, lifetime; /* -1: the routes' own */
  const char *remote, *user, *identity;
} serve_opts_t;

static struct {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  sshmux_pool_t *pool;
  sshmux_relay_t *relay;
  sshmuxd_ipc_t *ipc;
  char tmpdir[PATH_MAX];
  char tmpkeys[PATH_MAX];
  int stopping;
} S;

static void usage(FILE *f, void *ctx) {
  (void)ctx;
  fprintf(f,
          "usage: sshmuxd serve [--port N] [--config FILE] [--timeout SECS]\n"
          "                     [--max-lifetime SECS] [options]\n"
          "       sshmuxd serve --remote HOST[:PORT] --user USER "
          "[--identity FILE] [...]\n"
          "\n"
          "Run the multiplexer in the foreground on 127.0.0.1.  Routed mode:\n"
          "the local user name picks the route from the routes file.  Direct\n"
          "mode (--remote): every local user name goes to HOST as USER.\n"
          "Clients authenticate with the keys in the SSH dir's " AUTH_KEYS_NAME
          "\n(else its *.pub keys).  Prompts are asked on this terminal.\n"
          "\n"
          "  --port N            local port (default %d; 0 picks a free one)\n"
          "  --config FILE       routes file (default: SSH dir's "
          "sshmux-routes.ini)\n"
          "  --timeout SECS      idle timeout of upstream connections "
          "(default: the routes')\n"
          "  --max-lifetime SECS lifetime of upstream connections (default: "
          "the routes')\n"
          "  --remote HOST[:PORT]  direct mode: the one upstream\n"
          "  --user USER         direct mode: the upstream user\n"
          "  --identity FILE     direct mode: the key for the "
          "upstream\n" SSHMUXD_COMMON_HELP,
          DEFAULT_PORT);
}

static int parse_secs(const char *name, const char *arg, long *out) {
  char *end;
  long v;

  errno = 0;
  v = strtol(arg, &end, 10);
  if (*arg == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 100000000) {
    sshmuxd_err("%s: expected a number of seconds, got '%s'", name, arg);
    return SSHMUXD_EXIT_USAGE;
  }
  *out = v;
  return 0;
}

static int option(int c, const char *arg, void *ctx) {
  serve_opts_t *o = ctx;

  switch (c) {
  case OPT_PORT:
    if (strcmp(arg, "0") == 0) {
      o->port = 0;
      return 0;
    }
    return sshmuxd_parse_port(arg, &o->port);
  case OPT_CONFIG:
    o->config = arg;
    return 0;
  case OPT_TIMEOUT:
    return parse_secs("--timeout", arg, &o->timeout);
  case OPT_LIFETIME:
    return parse_secs("--max-lifetime", arg, &o->lifetime);
  case OPT_REMOTE:
    o->remote = arg;
    return 0;
  case OPT_USER:
    o->user = arg;
    return 0;
  case OPT_IDENTITY:
    o->identity = arg;
    return 0;
  default:
    return SSHMUXD_EXIT_USAGE;
  }
}

/* Parse the options; exported for the option tests through the command. */
static int parse(int argc, char **argv, serve_opts_t *o) {
  static const struct option opts[] = {
      {"port", required_argument, NULL, OPT_PORT},
      {"config", required_argument, NULL, OPT_CONFIG},
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      {"max-lifetime", required_argument, NULL, OPT_LIFETIME},
      {"remote", required_argument, NULL, OPT_REMOTE},
      {"user", required_argument, NULL, OPT_USER},
      {"identity", required_argument, NULL, OPT_IDENTITY},
      SSHMUXD_COMMON_LONGOPTS,
      {NULL, 0, NULL, 0}};
  int r;

  memset(o, 0, sizeof(*o));
  o->port = DEFAULT_PORT;
  o->timeout = o->lifetime = -1;
  r = sshmuxd_parse_args(argc, argv, "h", opts, option, usage, o);
  if (r != 0)
    return r;
  if ((o->remote != NULL) != (o->user != NULL)) {
    sshmuxd_err("serve: --remote and --user go together (direct mode)");
    return SSHMUXD_EXIT_USAGE;
  }
  if (o->remote != NULL && o->config != NULL) {
    sshmuxd_err("serve: --config is for routed mode, --remote for direct "
                "mode; not both");
    return SSHMUXD_EXIT_USAGE;
  }
  if (o->identity != NULL && o->remote == NULL) {
    sshmuxd_err("serve: --identity is for direct mode (routes name their "
                "own identity)");
    return SSHMUXD_EXIT_USAGE;
  }
  return 0;
}

/* Direct mode: one route named "direct" from HOST[:PORT] and USER, made by
 * the routes parser itself so it is validated like a file's. */
static int direct_routes(const serve_opts_t *o, sshmux_routes_t **routes) {
  char host[300], ini[2048], err[SSHMUX_ROUTES_ERR_MAX];
  const char *colon = strrchr(o->remote, ':');
  const char *port = "22";
  int n;

  if (o->remote[0] == '[') { /* [v6]:port */
    const char *close = strchr(o->remote, ']');
    if (close == NULL || (size_t)(close - o->remote) >= sizeof(host)) {
      sshmuxd_err("--remote: bad address '%s'", o->remote);
      return SSHMUXD_EXIT_USAGE;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(close - o->remote - 1),
             o->remote + 1);
    if (close[1] == ':')
      port = close + 2;
  } else if (colon != NULL && strchr(o->remote, ':') == colon) {
    if ((size_t)(colon - o->remote) >= sizeof(host)) {
      sshmuxd_err("--remote: host too long");
      return SSHMUXD_EXIT_USAGE;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - o->remote), o->remote);
    port = colon + 1;
  } else {
    snprintf(host, sizeof(host), "%s", o->remote);
  }
  n = snprintf(ini, sizeof(ini),
               "[routes.direct]\nhost = %s\nport = %s\nuser = %s\n"
               "direct = true\n%s%s%s",
               host, port, o->user, o->identity ? "identity = " : "",
               o->identity ? o->identity : "", o->identity ? "\n" : "");
  if (n < 0 || (size_t)n >= sizeof(ini)) {
    sshmuxd_err("--remote/--user: too long");
    return SSHMUXD_EXIT_USAGE;
  }
  if (sshmux__routes_load_buffer(routes, ini, (size_t)n, "--remote",
                                 sshmuxd_home(), err, sizeof(err)) != 0) {
    sshmuxd_err("%s", err);
    return SSHMUXD_EXIT_USAGE;
  }
  return 0;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Who may log in: sshmux-authorized-keys, else the SSH dir's *.pub. */
static int setup_client_keys(sshmux_server_t *srv) {
  char path[PATH_MAX], file[PATH_MAX];
  sshmuxd_str_t b = {0};
  struct dirent *de;
  DIR *d;
  int count = 0, fd, rc;

  if (sshmuxd_join(path, sizeof(path), sshmuxd_ssh_dir(), AUTH_KEYS_NAME) != 0)
    return -1;
  if (access(path, F_OK) == 0) {
    rc = sshmux_server_set_authorized_keys(srv, path);
    if (rc != 0)
      sshmuxd_err("%s: %s", path, sshmux_strerror(rc));
    return rc == 0 ? 0 : -1;
  }
  if ((d = opendir(sshmuxd_ssh_dir())) == NULL) {
    sshmuxd_err("%s: %s", sshmuxd_ssh_dir(), strerror(errno));
    return -1;
  }
  while ((de = readdir(d)) != NULL) {
    char *data;
    size_t len;
    if (!ends_with(de->d_name, ".pub") ||
        strncmp(de->d_name, "sshmux_host_", 12) == 0 ||
        sshmuxd_join(file, sizeof(file), sshmuxd_ssh_dir(), de->d_name) != 0)
      continue;
    if (sshmux_file_read(file, 64 * 1024, &data, &len) != 0)
      continue;
    sshmuxd_str_add(&b, data, len);
    if (len > 0 && data[len - 1] != '\n')
      sshmuxd_str_add(&b, "\n", 1);
    sshmux_free(data);
    count++;
  }
  closedir(d);
  fprintf(stderr,
          "\n"
          "*****************************************************************\n"
          "* WARNING: %s does not exist.\n"
          "* Accepting every key whose .pub file is in %s (%d keys).\n"
          "* Create %s to choose explicitly.\n"
          "*****************************************************************\n"
          "\n",
          path, sshmuxd_ssh_dir(), count, AUTH_KEYS_NAME);
  sshmuxd_log(SSHMUX_LOG_WARN, "%s missing: accepting the %d *.pub keys of %s",
              path, count, sshmuxd_ssh_dir());
  if (b.oom) {
    sshmuxd_str_free(&b);
    return -1;
  }
  {
    const char *tmp = getenv("TMPDIR");
    if (snprintf(S.tmpdir, sizeof(S.tmpdir), "%s/sshmuxd-XXXXXX",
                 tmp != NULL && *tmp == '/' ? tmp : "/tmp") >=
            (int)sizeof(S.tmpdir) ||
        mkdtemp(S.tmpdir) == NULL) {
      sshmuxd_err("cannot make a temporary directory: %s", strerror(errno));
      S.tmpdir[0] = '\0';
      sshmuxd_str_free(&b);
      return -1;
    }
  }
  if (sshmuxd_join(S.tmpkeys, sizeof(S.tmpkeys), S.tmpdir, "authorized_keys") !=
          0 ||
      (fd = open(S.tmpkeys, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) <
          0) {
    sshmuxd_str_free(&b);
    return -1;
  }
  rc = b.len == 0 || write(fd, b.s, b.len) == (ssize_t)b.len ? 0 : -1;
  close(fd);
  sshmuxd_str_free(&b);
  if (rc == 0)
    rc = sshmux_server_set_authorized_keys(srv, S.tmpkeys);
  return rc == 0 ? 0 : -1;
}

static void cleanup_tmp(void) {
  if (S.tmpkeys[0] != '\0')
    unlink(S.tmpkeys);
  if (S.tmpdir[0] != '\0')
    rmdir(S.tmpdir);
  S.tmpkeys[0] = S.tmpdir[0] = '\0';
}

static void pool_closed(sshmux_pool_t *pool, void *data) {
  (void)pool, (void)data;
  S.pool = NULL;
  uv_close((uv_handle_t *)&S.sigint, NULL);
  uv_close((uv_handle_t *)&S.sigterm, NULL);
}

static void relay_closed(sshmux_relay_t *relay, void *data) {
  (void)relay, (void)data;
  S.relay = NULL;
  sshmuxd_tty_prompter_stop();
  sshmux_pool_close(S.pool, pool_closed, NULL);
}

static void stop(void) {
  if (S.stopping)
    return;
  S.stopping = 1;
  sshmuxd_log(SSHMUX_LOG_INFO, "serve: shutting down");
  sshmuxd_ipc_set_relay(S.ipc, NULL);
  sshmuxd_ipc_close(S.ipc);
  if (S.relay != NULL)
    sshmux_relay_close(S.relay, relay_closed, NULL);
  else
    relay_closed(NULL, NULL);
}

static void on_signal(uv_signal_t *h, int sig) {
  (void)h, (void)sig;
  stop();
}

static void on_ipc_stop(void *data) {
  (void)data;
  stop();
}

/* A new relayed session: a desktop notification when the routes file says
 * notify = true (forwarding channels are not announced one by one). */
static void on_session(sshmux_relay_t *relay, sshmux_server_channel_type_t type,
                       const char *route, const char *user, void *data) {
  const sshmux_routes_t *routes = data;
  char body[300];

  (void)relay, (void)user; /* user may hold anything a client sent */
  sshmuxd_log(SSHMUX_LOG_INFO, "serve: new %s channel on route %s",
              type == SSHMUX_CHANNEL_SESSION ? "session" : "forwarding", route);
  if (type != SSHMUX_CHANNEL_SESSION || !sshmux_routes_notify(routes))
    return;
  snprintf(body, sizeof(body), "route %s", route);
  sshmuxd_notify(&S.loop, "sshmux: new session", body);
}

/* The control socket (ipc.c): one daemon per user, status, lock, prompt
 * agents; prompts nobody else answers go to this terminal, if any. */
static int start_ipc(const sshmux_routes_t *routes) {
  sshmuxd_ipc_config_t ic;

  memset(&ic, 0, sizeof(ic));
  ic.loop = &S.loop;
  ic.pool = S.pool;
  ic.routes = routes;
  ic.on_stop = on_ipc_stop;
  if (sshmuxd_tty_prompter_active()) {
    ic.fallback = sshmuxd_tty_prompter_take;
    ic.fallback_withdrawn = sshmuxd_tty_prompter_withdraw;
  }
  return sshmuxd_ipc_start(&ic, &S.ipc);
}

int sshmuxd_cmd_serve(int argc, char **argv) {
  serve_opts_t o;
  sshmux_routes_t *routes = NULL;
  sshmux_pool_options_t popts;
  sshmux_relay_options_t ropts;
  sshmux_server_t *srv;
  char routes_path[PATH_MAX], kh[PATH_MAX], key[PATH_MAX];
  const char *khv[2];
  int rc, ret = SSHMUXD_EXIT_FAIL;

  rc = parse(argc, argv, &o);
  if (rc != 0)
    return rc < 0 ? 0 : rc;
  if (o.remote != NULL)
    rc = direct_routes(&o, &routes);
  else
    rc = sshmuxd_load_routes(o.config, routes_path, sizeof(routes_path),
                             &routes);
  if (rc != 0)
    return rc;
  memset(&S, 0, sizeof(S));
  (void)sshmuxd_log_open();
  if (sshmux_dir_ensure(sshmuxd_ssh_dir(), 0700) != 0 ||
      sshmuxd_join(kh, sizeof(kh), sshmuxd_ssh_dir(), "known_hosts") != 0)
    goto out_routes;
  if (uv_loop_init(&S.loop) != 0)
    goto out_routes;
  /* The signal handles exist from here on, so every failure path below can
   * close them (pool_closed does), whether or not they were started. */
  uv_signal_init(&S.loop, &S.sigint);
  uv_signal_init(&S.loop, &S.sigterm);

  sshmux_pool_options_init(&popts);
  khv[0] = kh;
  khv[1] = NULL;
  popts.known_hosts = khv;
  if (o.timeout >= 0)
    popts.idle_timeout_s = (unsigned)o.timeout;
  if (o.lifetime >= 0)
    popts.max_lifetime_s = (unsigned)o.lifetime;
  if ((rc = sshmux_pool_new(&S.loop, &popts, &S.pool)) != 0) {
    sshmuxd_err("pool: %s", sshmux_strerror(rc));
    pool_closed(NULL, NULL);
    uv_run(&S.loop, UV_RUN_DEFAULT);
    goto out_loop;
  }
  sshmuxd_tty_prompter_start(&S.loop, S.pool);
  if (start_ipc(routes) != 0)
    goto out_stop;

  sshmux_relay_options_init(&ropts);
  ropts.routes = routes;
  ropts.fixed_route =
      o.remote != NULL ? sshmux_routes_find(routes, "direct") : NULL;
  ropts.session_cb = on_session;
  ropts.session_data = (void *)routes;
  ropts.idle_timeout_s = (int)o.timeout;
  ropts.max_lifetime_s = (int)o.lifetime;
  if ((rc = sshmux_relay_new(&S.loop, S.pool, &ropts, &S.relay)) != 0) {
    sshmuxd_err("relay: %s", sshmux_strerror(rc));
    goto out_stop;
  }
  sshmuxd_ipc_set_relay(S.ipc, S.relay);
  srv = sshmux_relay_server(S.relay);
  if (sshmuxd_join(key, sizeof(key), sshmuxd_ssh_dir(),
                   "sshmux_host_ed25519_key") != 0 ||
      (rc = sshmux_server_add_host_key(srv, key, SSHMUX_SERVER_KEY_ED25519)) !=
          0 ||
      sshmuxd_join(key, sizeof(key), sshmuxd_ssh_dir(),
                   "sshmux_host_ecdsa_key") != 0 ||
      (rc = sshmux_server_add_host_key(srv, key,
                                       SSHMUX_SERVER_KEY_ECDSA_P256)) != 0) {
    sshmuxd_err("host key %s: %s", key, sshmux_strerror(rc));
    goto out_stop;
  }
  if (setup_client_keys(srv) != 0)
    goto out_stop;
  if ((rc = sshmux_server_listen(srv, "127.0.0.1", o.port)) != 0) {
    sshmuxd_err("listen on 127.0.0.1:%d: %s", o.port, sshmux_strerror(rc));
    goto out_stop;
  }
  uv_signal_start(&S.sigint, on_signal, SIGINT);
  uv_signal_start(&S.sigterm, on_signal, SIGTERM);
  sshmuxd_ipc_set_port(S.ipc, sshmux_server_port(srv));
  printf("sshmuxd: serving on 127.0.0.1:%d (%s mode, %zu routes)\n",
         sshmux_server_port(srv), o.remote != NULL ? "direct" : "routed",
         sshmux_routes_count(routes));
  fflush(stdout);
  sshmuxd_log(SSHMUX_LOG_INFO, "serve: listening on 127.0.0.1:%d",
              sshmux_server_port(srv));
  uv_run(&S.loop, UV_RUN_DEFAULT);
  ret = 0;
  goto out_loop;

out_stop:
  stop();
  uv_run(&S.loop, UV_RUN_DEFAULT);
out_loop:
  (void)uv_loop_close(&S.loop);
out_routes:
  cleanup_tmp();
  sshmux_routes_free(routes);
  return ret;
}
