/* fuzz-routes.c -- libFuzzer target for the routes file parser: any bytes
 * must either load into a valid object or be refused with a message, never
 * crash, leak or read out of bounds.  A loaded object is queried all over
 * so the accessors run on whatever the parser accepted. */
#include <stdint.h>
#include <string.h>

#include "routes/routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const sshmux_route_t *hops[SSHMUX_ROUTES_MAX_CHAIN];
  char err[SSHMUX_ROUTES_ERR_MAX];
  sshmux_routes_t *r = NULL;
  size_t i, n;

  if (sshmux__routes_load_buffer(&r, (const char *)data, size, "fuzz.ini",
                                 "/home/fuzz", err, sizeof(err)) != 0) {
    if (memchr(err, '\0', sizeof(err)) == NULL)
      __builtin_trap();
    return 0;
  }
  for (i = 0; i < sshmux_routes_count(r); i++) {
    const sshmux_route_t *rt = sshmux_routes_get(r, i);
    if (sshmux_routes_find(r, sshmux_route_name(rt)) != rt)
      __builtin_trap();
    if (sshmux_route_chain(rt, hops, SSHMUX_ROUTES_MAX_CHAIN, &n) != 0 ||
        n == 0 || hops[n - 1] != rt)
      __builtin_trap();
    (void)sshmux_routes_forward_allowed(rt, "localhost", 22);
    (void)sshmux_routes_forward_allowed(rt, "/run/x.sock", 0);
    (void)sshmux_routes_env_allowed(rt, "LC_ALL");
    (void)sshmux_route_forward_allow_text(rt);
    (void)sshmux_route_env_allow_text(rt);
  }
  for (i = 0; i < sshmux_routes_jump_count(r); i++) {
    const sshmux_route_t *j = sshmux_routes_jump_get(r, i);
    if (sshmux_route_chain(j, hops, SSHMUX_ROUTES_MAX_CHAIN, &n) != 0)
      __builtin_trap();
  }
  sshmux_routes_free(r);
  return 0;
}
