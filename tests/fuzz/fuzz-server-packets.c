/* fuzz-server-packets.c -- libFuzzer target for the server's packet engine:
 * arbitrary bytes fed to one connection's input after the identification
 * exchange, framed by the "none" codec.  Byte 0 picks where the connection
 * starts: in the first key exchange (bytes go straight to the KEX
 * dispatcher), in userauth, or authenticated (channels, requests, windows,
 * data).  The embedder side accepts every channel, answers requests (some
 * at once, some when the connection is freed), echoes data and pauses
 * reads at random, so the asynchronous paths and the output pump run too.
 * Nothing may crash, leak or read out of bounds.  Build: make fuzz-run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/server-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static sshmux_server_t *srv;
static unsigned ticks;

static void on_request(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                       sshmux_server_request_t *req,
                       const sshmux_server_request_info_t *info) {
  (void)conn, (void)info;
  /* Answer most at once; leave some pending (freed with the channel). */
  if (++ticks % 5 != 0)
    sshmux_server_request_reply(req, ticks & 1);
  if (ch != NULL && ticks % 7 == 0)
    sshmux_server_channel_exit_status(ch, ticks);
  if (ch != NULL && ticks % 11 == 0)
    sshmux_server_channel_close(ch);
}

static void on_data(sshmux_server_channel_t *ch, int stream, const char *buf,
                    size_t len) {
  if (sshmux_server_channel_write(ch, stream, buf, len) != 0 ||
      ++ticks % 13 == 0)
    sshmux_server_channel_read_stop(ch);
  if (ticks % 17 == 0)
    sshmux_server_channel_read_start(ch);
}

static void on_eof(sshmux_server_channel_t *ch) {
  sshmux_server_channel_eof(ch);
}

static void on_drain(sshmux_server_channel_t *ch) {
  sshmux_server_channel_read_start(ch);
}

static void on_open(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                    const sshmux_server_open_info_t *info) {
  static const sshmux_server_channel_cbs_t cbs = {on_request, on_data, on_eof,
                                                  on_drain,   NULL,    NULL};
  (void)conn, (void)info;
  sshmux_server_channel_set_cbs(ch, &cbs);
  if (++ticks % 9 == 0)
    sshmux_server_channel_reject(ch, 2, "no");
  else if (ticks % 4 != 0) /* else left opening until the end */
    sshmux_server_channel_accept(ch);
}

static int setup(void) {
  sshmux_server_cbs_t cbs;

  memset(&cbs, 0, sizeof(cbs));
  cbs.channel_open = on_open;
  cbs.global_request = on_request;
  if (uv_loop_init(&loop) != 0 || sshmux_server_new(&loop, &cbs, &srv) != 0)
    return -1;
  /* An in-memory host key: no files. */
  return sshmux__hostkey_generate(&srv->keys[0], SSHMUX__KEY_ED25519);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  sshmux_server_conn_t *conn;

  if (!ready) {
    if (setup() != 0)
      abort();
    ready = 1;
  }
  if (size < 1 || sshmux__conn_new_mem(srv, &conn) != 0)
    return 0;
  switch (data[0] % 3) {
  case 0: /* first key exchange, identification already seen */
    conn->v_c = sshmux__strdup("SSH-2.0-fuzz");
    conn->state = SSHMUX__CONN_KEX;
    break;
  case 1:
    (void)sshmux__conn_test_shortcut(conn, NULL);
    break;
  default:
    (void)sshmux__conn_test_shortcut(conn, "fuzz");
    break;
  }
  (void)sshmux__conn_input(conn, data + 1, size - 1);
  if (!conn->closing)
    sshmux__conn_flush(conn);
  uv_run(&loop, UV_RUN_NOWAIT);
  sshmux__conn_free_mem(conn);
  return 0;
}
