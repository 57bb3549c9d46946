/* targets.c -- the pool's options for the daemon.  The targets for a
 * route come from the library (sshmux_relay_route_targets, behind
 * sshmuxd_chain_build): the pool keys its connections by user@host:port
 * and the jump chain, so connect streams and relayed sessions building
 * them the same way share the same pooled connections. */
#include <stdio.h>
#include <string.h>

#include "sshmuxd.h"

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
