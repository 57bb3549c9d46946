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

static unsigned mode, ticks;
static sshmux_server_request_t *later[300];
static size_t nlater;

static void on_global(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                      sshmux_server_request_t *req,
                      const sshmux_server_request_info_t *info) {
  if (ch != NULL || info->type == NULL)
    abort();
  if (strstr(info->type, "forward") == NULL || info->bind_address == NULL)
    abort(); /* only forwarding requests with their address reach us */
  switch (mode & 3) {
  case 0:
    sshmux_server_request_reply(req, ++ticks & 1);
    break;
  case 1:
    sshmux_server_request_reply_port(req,
                                     info->bind_port ? 0 : 40000 + ticks++);
    break;
  case 2:
    if (nlater < sizeof(later) / sizeof(later[0]))
      later[nlater++] = req;
    else
      sshmux_server_request_reply(req, 0);
    break;
  default:
    sshmux_server_request_reply(req, 1);
    if (++ticks % 2 == 0)
      sshmux_server_conn_close(conn, "fuzz");
    break;
  }
}

static void on_open(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                    const sshmux_server_open_info_t *info) {
  (void)conn, (void)info;
  (void)sshmux_server_channel_accept(ch);
}

/* The answers kept back, newest first (they must still leave in request
 * order). */
static void answer_reversed(sshmux_server_conn_t *conn) {
  for (size_t i = nlater; i > 0 && !conn->closing; i--)
    sshmux_server_request_reply(later[i - 1], (unsigned)i & 1);
  nlater = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const sshmux_server_cbs_t cbs = {.channel_open = on_open,
                                          .global_request = on_global};

  fz_input(data, size, &cbs, &mode, &ticks, &nlater, answer_reversed);
  return 0;
}
