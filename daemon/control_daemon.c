/* control_daemon.c -- `sshmuxd control-daemon`: the daemon's core without
 * the local SSH server: the routes, the upstream pool and the control
 * socket on one loop, until `sshmuxd stop` or SIGTERM/SIGINT.
 *
 * It serves everything the control socket offers (status, lock, prompts,
 * `sshmuxd connect` streams for ProxyCommand) and is what the tests run
 * the IPC against; `sshmuxd serve` adds the local SSH server and the
 * relay on top of the same pieces. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "sshmuxd.h"

typedef struct {
  const char *config;
} cd_opts_t;

enum { OPT_CONFIG = OPT_FIRST_PRIVATE };

typedef struct {
  uv_loop_t loop;
  uv_signal_t sigterm, sigint;
  sshmux_pool_t *pool;
  sshmuxd_ipc_t *ipc;
  int stopping;
} core_t;

static void usage(FILE *f, void *ctx) {
  (void)ctx;
  fprintf(f, "usage: sshmuxd control-daemon [--config FILE]\n\n"
             "Run the upstream pool and the control socket in the foreground "
             "(no local\nSSH server): `sshmuxd connect` streams, prompts, "
             "status, lock, stop.\n\n"
             "  --config FILE     the routes file (default: "
             "<ssh dir>/sshmux-routes.ini)\n" SSHMUXD_COMMON_HELP);
}

static int opt(int c, const char *arg, void *ctx) {
  cd_opts_t *o = ctx;
  if (c == OPT_CONFIG) {
    o->config = arg;
    return 0;
  }
  return SSHMUXD_EXIT_USAGE;
}

static void on_pool_closed(sshmux_pool_t *pool, void *data) {
  (void)pool, (void)data;
}

static void core_stop(void *data) {
  core_t *c = data;

  if (c->stopping)
    return;
  c->stopping = 1;
  sshmuxd_log(SSHMUX_LOG_INFO, "stopping");
  sshmuxd_ipc_close(c->ipc);
  sshmux_pool_close(c->pool, on_pool_closed, c);
  uv_close((uv_handle_t *)&c->sigterm, NULL);
  uv_close((uv_handle_t *)&c->sigint, NULL);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)signum;
  core_stop(s->data);
}

int sshmuxd_cmd_control_daemon(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, OPT_CONFIG},
      SSHMUXD_COMMON_LONGOPTS,
      {0}};
  cd_opts_t o = {0};
  char path[4096];
  sshmux_routes_t *routes = NULL;
  sshmux_pool_options_t po;
  sshmuxd_ipc_config_t ic;
  core_t c;
  int r;

  if ((r = sshmuxd_parse_args(argc, argv, "h", opts, opt, usage, &o)) != 0)
    return r < 0 ? 0 : r;
  if (sshmuxd_load_routes(o.config, path, sizeof(path), &routes) != 0)
    return SSHMUXD_EXIT_FAIL;
  sshmuxd_log_open();
  memset(&c, 0, sizeof(c));
  if ((r = sshmux_init()) != 0 || (r = uv_loop_init(&c.loop)) != 0) {
    sshmuxd_err("init: %s", sshmux_strerror(r));
    sshmux_routes_free(routes);
    return SSHMUXD_EXIT_FAIL;
  }
  sshmuxd_pool_options(&po, routes);
  if ((r = sshmux_pool_new(&c.loop, &po, &c.pool)) != 0) {
    sshmuxd_err("pool: %s", sshmux_strerror(r));
    uv_loop_close(&c.loop);
    sshmux_routes_free(routes);
    return SSHMUXD_EXIT_FAIL;
  }
  memset(&ic, 0, sizeof(ic));
  ic.loop = &c.loop;
  ic.pool = c.pool;
  ic.routes = routes;
  ic.on_stop = core_stop;
  ic.data = &c;
  if ((r = sshmuxd_ipc_start(&ic, &c.ipc)) != 0) {
    sshmux_pool_close(c.pool, on_pool_closed, &c);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    uv_loop_close(&c.loop);
    sshmux_routes_free(routes);
    return SSHMUXD_EXIT_FAIL;
  }
  uv_signal_init(&c.loop, &c.sigterm);
  uv_signal_init(&c.loop, &c.sigint);
  c.sigterm.data = c.sigint.data = &c;
  uv_signal_start(&c.sigterm, on_signal, SIGTERM);
  uv_signal_start(&c.sigint, on_signal, SIGINT);
  sshmuxd_log(SSHMUX_LOG_INFO, "control daemon running (routes %s)", path);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  r = uv_loop_close(&c.loop);
  if (r != 0)
    sshmuxd_log(SSHMUX_LOG_WARN, "loop closed with handles left: %s",
                sshmux_strerror(r));
  sshmux_routes_free(routes);
  return 0;
}
