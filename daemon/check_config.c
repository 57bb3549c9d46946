/* check_config.c -- `sshmuxd check-config`: load the routes file exactly as
 * serve would and print what it means (every route and jump with its
 * resolved chain and effective settings), or the FILE:LINE error and a
 * non-zero exit.  It reads only; it writes nothing, not even the log. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "sshmuxd.h"

static void usage(FILE *f, void *ctx) {
  (void)ctx;
  fprintf(f, "usage: sshmuxd check-config [--config FILE] [options]\n"
             "\n"
             "Load and validate the routes file and print the routes, or\n"
             "the error with its FILE:LINE (exit status 1).\n"
             "\n"
             "  --config FILE     routes file (default: SSH dir's "
             "sshmux-routes.ini)\n" SSHMUXD_COMMON_HELP);
}

static void print_target(const sshmux_route_t *h) {
  const char *host = sshmux_route_host(h);

  if (strchr(host, ':') != NULL)
    printf("%s@[%s]:%d", sshmux_route_user(h), host, sshmux_route_port(h));
  else
    printf("%s@%s:%d", sshmux_route_user(h), host, sshmux_route_port(h));
}

static void print_hop(const sshmux_route_t *h) {
  const sshmux_route_t *hops[SSHMUX_ROUTES_MAX_CHAIN];
  size_t n = 0, i;

  printf("%s %s  (line %d)\n", sshmux_route_is_jump(h) ? "jump" : "route",
         sshmux_route_name(h), sshmux_route_line(h));
  printf("  target     ");
  print_target(h);
  printf("\n  chain      ");
  if (sshmux_route_chain(h, hops, SSHMUX_ROUTES_MAX_CHAIN, &n) == 0) {
    for (i = 0; i < n; i++)
      printf("%s%s", i ? " -> " : "", sshmux_route_name(hops[i]));
    printf(n == 1 ? "  (direct)\n" : "\n");
  }
  printf("  identity   %s\n", sshmux_route_identity(h)
                                  ? sshmux_route_identity(h)
                                  : "(every key of the agent)");
  printf("  agent      %s\n",
         sshmux_route_identity_agent(h) == NULL ? "SSH_AUTH_SOCK"
         : strcmp(sshmux_route_identity_agent(h), "none") == 0
             ? "none"
             : sshmux_route_identity_agent(h));
  printf("  timeouts   idle %us, lifetime %us, keepalive %us\n",
         sshmux_route_idle_timeout(h), sshmux_route_max_lifetime(h),
         sshmux_route_keepalive(h));
  printf("  new keys   %s\n", sshmux_route_accept_new_hostkey(h)
                                  ? "accepted and remembered"
                                  : "confirmed by a prompt");
  printf("  forward    %s\n", sshmux_route_forward_allow_text(h));
  if (!sshmux_route_is_jump(h))
    printf("  env        %s\n", sshmux_route_env_allow_text(h));
}

static int option(int c, const char *arg, void *ctx) {
  if (c != 'c')
    return SSHMUXD_EXIT_USAGE;
  *(const char **)ctx = arg;
  return 0;
}

int sshmuxd_cmd_check_config(int argc, char **argv) {
  static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                       SSHMUXD_COMMON_LONGOPTS,
                                       {NULL, 0, NULL, 0}};
  char path[PATH_MAX];
  const char *config = NULL;
  sshmux_routes_t *routes = NULL;
  size_t i;
  int r;

  r = sshmuxd_parse_args(argc, argv, "c:h", opts, option, usage, &config);
  if (r != 0)
    return r < 0 ? 0 : r;
  if ((r = sshmuxd_load_routes(config, path, sizeof(path), &routes)) != 0)
    return r;
  config = path;
  printf("%s: OK (%zu routes, %zu jumps)\n", config,
         sshmux_routes_count(routes), sshmux_routes_jump_count(routes));
  for (i = 0; i < sshmux_routes_jump_count(routes); i++) {
    printf("\n");
    print_hop(sshmux_routes_jump_get(routes, i));
  }
  for (i = 0; i < sshmux_routes_count(routes); i++) {
    printf("\n");
    print_hop(sshmux_routes_get(routes, i));
  }
  if (sshmux_routes_askpass(routes) != NULL)
    printf("\naskpass %s\n", sshmux_routes_askpass(routes));
  sshmux_routes_free(routes);
  return 0;
}
