/* server/conn.c -- the server module's bottom layer: the few operations on
 * a connection object that every layer above uses -- reference counting
 * around embedder callbacks, the fatal-error path, the output-queue size
 * and "flush me at the end of this loop iteration".  It calls nothing above
 * it by name: sending the DISCONNECT (transport.c), tearing the connection
 * down (server.c) and the end-of-iteration pass (server.c) go through the
 * server's ops table, which server.c installs (server-int.h). */
#include <uv.h>

#include "server/server-int.h"

size_t sshmux__conn_out_queued(const sshmux_server_conn_t *conn) {
  return conn->wbuf[0].len + conn->wbuf[1].len;
}

void sshmux__conn_mark_dirty(sshmux_server_conn_t *conn) {
  sshmux_server_t *srv = conn->srv;

  if (conn->mem && srv->closing)
    return;
  if (!uv_is_active((uv_handle_t *)&srv->idle) &&
      !uv_is_closing((uv_handle_t *)&srv->idle))
    uv_idle_start(&srv->idle, srv->ops->pass);
}

void sshmux__conn_ref(sshmux_server_conn_t *conn) {
  conn->refs++;
}

void sshmux__conn_unref(sshmux_server_conn_t *conn) {
  if (--conn->refs == 0 && conn->closing && !conn->freed)
    conn->srv->ops->finish(conn);
}

void sshmux__conn_fail(sshmux_server_conn_t *conn, int reason,
                       const char *msg) {
  if (conn->closing)
    return;
  if (reason > 0) {
    SSHMUX__LOG_INFO("server: %s:%d: %s", conn->peer, conn->peer_port, msg);
    conn->srv->ops->disconnect(conn, (uint32_t)reason, msg);
  } else if (msg != NULL) {
    SSHMUX__LOG_INFO("server: %s:%d: %s", conn->peer, conn->peer_port, msg);
  }
  conn->closing = 1;
  conn->state = SSHMUX__CONN_CLOSING;
  sshmux__conn_unauth_done(conn);
  if (conn->refs == 0)
    conn->srv->ops->finish(conn);
}

/* A connection stops counting towards MaxStartups once it authenticated
 * or started to close. */
void sshmux__conn_unauth_done(sshmux_server_conn_t *conn) {
  if (conn->unauth) {
    conn->unauth = 0;
    conn->srv->n_unauth--;
  }
}
