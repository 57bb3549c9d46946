/* mini-proxy -- the smallest useful jump proxy on libsshmux, for people who
 * embed the library in their own.
 *
 *   mini-proxy --remote user@host[:port] [--via user@jump[:port]]
 *              --port N --host-key FILE --authorized-keys FILE
 *              [--identity FILE] [--known-hosts FILE]
 *
 * It listens on 127.0.0.1:N as an SSH server (sshmux_server_*), lets in the
 * keys listed in --authorized-keys, and relays every channel any client
 * opens (ssh, scp, sftp, ssh -L) onto ONE pooled, authenticated upstream
 * connection to --remote (through --via if given) with the relay API
 * (sshmux_relay_*).  The first client pays for the login; later ones reuse
 * it.  Questions the upstream login asks (OTP codes, passphrases, whether
 * to trust an unknown host key) are asked on this program's terminal
 * through the pool's prompt callbacks, while the loop keeps serving.
 *
 * The relay takes its upstream from a routes object, built here in memory
 * (sshmux_routes_new): the route "remote" and, with --via, the jump "via".
 *
 * Everything runs on one libuv loop; SIGINT/SIGTERM close the relay, then
 * the pool, and the loop ends when nothing is left. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "common/common.h"

static proxy_t px; /* the loop, pool, relay and signals: common.h */
static sshmux_routes_t *routes;

/* ---- the route ---------------------------------------------------------- */

/* The route "remote" (through the jump "via" if given).  identity is an
 * absolute path or NULL. */
static int make_routes(const char *remote, const char *via,
                       const char *identity) {
  int rc = sshmux_routes_new(&routes, "command line", getenv("HOME"));

  if (rc != 0) {
    fprintf(stderr, "mini-proxy: %s\n", sshmux_strerror(rc));
    return -1;
  }
  if ((via != NULL && routes_add_hop(routes, 1, "via", via, identity, NULL, 0,
                                     "mini-proxy") != 0) ||
      routes_add_hop(routes, 0, "remote", remote, identity,
                     via != NULL ? "via" : NULL, 0, "mini-proxy") != 0) {
    sshmux_routes_free(routes);
    routes = NULL;
    return -1;
  }
  return 0;
}

static int usage(FILE *f, int rc) {
  fprintf(f,
          "usage: mini-proxy --remote user@host[:port] [--via user@jump[:port]]"
          "\n                  --port N --host-key FILE --authorized-keys FILE"
          "\n                  [--identity FILE] [--known-hosts FILE]\n");
  return rc;
}

int main(int argc, char **argv) {
  const char *remote = NULL, *via = NULL, *host_key = NULL, *auth_keys = NULL,
             *identity = NULL, *known_hosts[2] = {NULL, NULL};
  char identity_abs[PATH_MAX];
  int port = -1, rc;
  sshmux_relay_options_t ropts;
  sshmux_server_t *srv;

  if (argc == 2 &&
      (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
    return usage(stdout, 0);
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (strcmp(k, "--remote") == 0)
      remote = v;
    else if (strcmp(k, "--via") == 0)
      via = v;
    else if (strcmp(k, "--port") == 0)
      port = atoi(v);
    else if (strcmp(k, "--host-key") == 0)
      host_key = v;
    else if (strcmp(k, "--authorized-keys") == 0)
      auth_keys = v;
    else if (strcmp(k, "--identity") == 0)
      identity = v;
    else if (strcmp(k, "--known-hosts") == 0)
      known_hosts[0] = v;
    else
      return usage(stderr, 2);
  }
  if (argc % 2 == 0 || remote == NULL || port < 0 || port > 65535 ||
      host_key == NULL || auth_keys == NULL)
    return usage(stderr, 2);
  if (identity != NULL && realpath(identity, identity_abs) == NULL) {
    fprintf(stderr, "mini-proxy: %s: %s\n", identity, strerror(errno));
    return 1;
  }
  signal(SIGPIPE, SIG_IGN); /* the pool writes to sockets and socketpairs */
  sshmux_set_log_cb(proxy_log, SSHMUX_LOG_WARN, NULL);
  if ((rc = sshmux_init()) != 0 ||
      make_routes(remote, via, identity != NULL ? identity_abs : NULL) != 0) {
    if (rc != 0)
      fprintf(stderr, "mini-proxy: init: %s\n", sshmux_strerror(rc));
    return 1;
  }
  if (proxy_open(&px, "mini-proxy",
                 known_hosts[0] != NULL ? known_hosts : NULL) != 0)
    return proxy_end(&px, 0, routes);

  /* The relay, in direct mode: whatever user name a client logs in with,
   * its channels go to the one route. */
  sshmux_relay_options_init(&ropts);
  ropts.routes = routes;
  ropts.fixed_route = sshmux_routes_find(routes, "remote");
  if (proxy_relay(&px, &ropts) != 0)
    return proxy_end(&px, 0, routes);
  /* Its server: our host key (made on first run), who may connect, where. */
  srv = sshmux_relay_server(px.relay);
  if ((rc = sshmux_server_add_host_key(srv, host_key,
                                       SSHMUX_SERVER_KEY_ED25519)) != 0 ||
      (rc = sshmux_server_set_authorized_keys(srv, auth_keys)) != 0 ||
      (rc = sshmux_server_listen(srv, "127.0.0.1", port)) != 0) {
    fprintf(stderr, "mini-proxy: server: %s\n", sshmux_strerror(rc));
    return proxy_end(&px, 0, routes);
  }
  if (proxy_signals_start(&px) != 0)
    return proxy_end(&px, 0, routes);
  printf("mini-proxy: listening on 127.0.0.1:%d, relaying to %s%s%s\n",
         sshmux_server_port(srv), remote, via != NULL ? " via " : "",
         via != NULL ? via : "");
  fflush(stdout);
  uv_run(px.loop, UV_RUN_DEFAULT); /* until the signal handler closed all */
  return proxy_end(&px, 1, routes);
}
