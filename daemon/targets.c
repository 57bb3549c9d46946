/* targets.c -- turning hops of the routes file into the pool's targets.
 * The pool keys its connections by user@host:port and the jump chain, so
 * every caller that builds targets the same way (connect streams here,
 * relayed sessions in serve) shares the same pooled connections. */
#include <stdio.h>
#include <string.h>

#include "sshmuxd.h"

const sshmux_target_t *sshmuxd_chain_build(sshmuxd_chain_t *c,
                                           const sshmux_route_t *route) {
  const sshmux_route_t *hops[SSHMUX_ROUTES_MAX_CHAIN];
  size_t n = 0, i;

  memset(c, 0, sizeof(*c));
  /* Never fails for a loaded object (routes.h). */
  if (sshmux_route_chain(route, hops, SSHMUX_ROUTES_MAX_CHAIN, &n) != 0 ||
      n == 0)
    return NULL;
  for (i = 0; i < n; i++) {
    sshmux_target_t *t = &c->t[i];
    sshmux_target_init(t);
    t->user = sshmux_route_user(hops[i]);
    t->host = sshmux_route_host(hops[i]);
    t->port = sshmux_route_port(hops[i]);
    if (sshmux_route_identity(hops[i]) != NULL) {
      c->ids[i][0] = sshmux_route_identity(hops[i]);
      c->ids[i][1] = NULL;
      t->identity_files = c->ids[i];
    }
    t->identity_agent = sshmux_route_identity_agent(hops[i]);
    t->idle_timeout_s = (int)sshmux_route_idle_timeout(hops[i]);
    t->max_lifetime_s = (int)sshmux_route_max_lifetime(hops[i]);
    t->accept_new_hostkey = sshmux_route_accept_new_hostkey(hops[i]);
    t->keepalive_s = (int)sshmux_route_keepalive(hops[i]);
    t->jump = i > 0 ? &c->t[i - 1] : NULL;
  }
  c->n = n;
  return &c->t[n - 1];
}

void sshmuxd_pool_options(sshmux_pool_options_t *o,
                          const sshmux_routes_t *routes) {
  static char kh[4096];
  static const char *list[2];

  sshmux_pool_options_init(o);
  if (sshmuxd_join(kh, sizeof(kh), sshmuxd_ssh_dir(), "known_hosts") == 0) {
    list[0] = kh;
    list[1] = NULL;
    o->known_hosts = list;
  }
  (void)routes;
}
