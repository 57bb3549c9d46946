/* fuzz-server-global.c -- libFuzzer target for global requests
 * (lib/server/channel.c): tcpip-forward and cancel-tcpip-forward (with the
 * port the embedder allocates for port 0), streamlocal forwards,
 * no-more-sessions@openssh.com (and a session open after it),
 * keepalive@openssh.com, hostkeys-prove, unknown names, with and without
 * want_reply, answered at once, out of order or at the end, mixed with
 * channel traffic.  The connection starts authenticated.  Input: see
 * fuzz-server-common.h; flags bits 0-1: 0 answer at once, 1 answer with a port,
 * 2 answer at the end in reverse order (replies must still leave in request
 * order), 3 close the connection from the callback.  Seeds:
 * tests/fuzz/make-seeds.py.  Build and run: make fuzz-run. */
#include "fuzz-server-common.h"

static void on_global(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                      sshmux_server_request_t *req,
                      const sshmux_server_request_info_t *info) {
  if (ch != NULL || info->type == NULL)
    abort();
  if (strstr(info->type, "forward") == NULL || info->bind_address == NULL)
    abort(); /* only forwarding requests with their address reach us */
  switch (fz_mode & 3) {
  case 0:
    sshmux_server_request_reply(req, ++fz_ticks & 1);
    break;
  case 1:
    sshmux_server_request_reply_port(req,
                                     info->bind_port ? 0 : 40000 + fz_ticks++);
    break;
  case 2:
    if (!fz_defer(req))
      sshmux_server_request_reply(req, 0);
    break;
  default:
    sshmux_server_request_reply(req, 1);
    if (++fz_ticks % 2 == 0)
      sshmux_server_conn_close(conn, "fuzz");
    break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const fz_target_t target = {
      .cbs = {.channel_open = fz_accept_open, .global_request = on_global},
      .user = "fuzz",
      .defer_max = 300,
      .deferred = FZ_NEWEST_FIRST};

  return fz_run(&target, data, size);
}
