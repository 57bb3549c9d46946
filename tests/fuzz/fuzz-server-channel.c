/* fuzz-server-channel.c -- libFuzzer target for the connection protocol
 * (lib/server/channel.c): CHANNEL_OPEN of every type (session, direct-tcpip,
 * direct-streamlocal, x11, forwarded-tcpip, unknown), channel requests
 * (pty-req with its modes, env, exec, shell, subsystem, window-change,
 * signal, break, x11-req, auth-agent-req, exit-status from a client, eow,
 * unknown), data, extended data, window adjusts, EOF and CLOSE in any
 * order.  The connection starts authenticated.  Input: see
 * fuzz-server-common.h; flags bits pick how the embedder behaves: bit 0 accept
 * opens at once (else every third open waits until the end), bit 1 answer
 * requests later rather than at once, bit 2 echo data back, bit 3 pause reading
 * when data arrives, bit 4 end exec/shell with an exit-signal whose name and
 * message are the request's own bytes (what a hostile upstream's
 * exit-signal turns into on the relay), bit 5 close channels from inside
 * callbacks.  Seeds: tests/fuzz/make-seeds.py.  Build and run: make
 * fuzz-run. */
#include "fuzz-server-common.h"

/* What the embedder does on a request, before answering it. */
static void act(sshmux_server_channel_t *ch,
                const sshmux_server_request_info_t *info) {
  if ((fz_mode & 16) &&
      (info->command != NULL || strcmp(info->type, "shell") == 0))
    (void)sshmux_server_channel_exit_signal(
        ch, info->command ? info->command : "", fz_ticks & 1,
        info->command ? info->command : "");
  else if (info->signal != NULL)
    (void)sshmux_server_channel_exit_signal(ch, info->signal, 0, info->signal);
  else if (info->subsystem != NULL)
    (void)sshmux_server_channel_exit_status(ch, fz_ticks);
  if ((fz_mode & 32) && ++fz_ticks % 3 == 0)
    sshmux_server_channel_close(ch);
}

static void on_request(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                       sshmux_server_request_t *req,
                       const sshmux_server_request_info_t *info) {
  (void)conn;
  if (info->type == NULL)
    abort();
  if (strcmp(info->type, "pty-req") == 0 &&
      (info->term == NULL || (info->modes_len > 0 && info->modes == NULL)))
    abort();
  /* info is read before the answer: it goes with the request. */
  if (ch != NULL)
    act(ch, info);
  if (!(fz_mode & 2) || !fz_defer(req))
    sshmux_server_request_reply(req, ++fz_ticks & 1);
}

static void on_data(sshmux_server_channel_t *ch, int stream, const char *buf,
                    size_t len) {
  if (fz_mode & 4)
    (void)sshmux_server_channel_write(ch, stream, buf, len);
  if ((fz_mode & 8) && ++fz_ticks % 2 == 0)
    sshmux_server_channel_read_stop(ch);
}

static void on_eof(sshmux_server_channel_t *ch) {
  (void)sshmux_server_channel_eof(ch);
  if (fz_mode & 32)
    sshmux_server_channel_close(ch);
}

/* A request stays valid until its channel's close callback returns. */
static void on_close(sshmux_server_channel_t *ch) {
  fz_forget(ch);
}

static void on_open(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                    const sshmux_server_open_info_t *info) {
  static const sshmux_server_channel_cbs_t cbs = {on_request, on_data, on_eof,
                                                  fz_read_again, on_close};
  (void)conn;
  if (info->type_name == NULL)
    abort();
  sshmux_server_channel_set_cbs(ch, &cbs);
  ++fz_ticks;
  if (info->type != SSHMUX_CHANNEL_SESSION && fz_ticks % 2 == 0)
    (void)sshmux_server_channel_reject(ch, 1, "fuzz");
  else if ((fz_mode & 1) || fz_ticks % 3 != 0)
    (void)sshmux_server_channel_accept(ch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const fz_target_t target = {.cbs = {.channel_open = on_open},
                                     .user = "fuzz",
                                     .defer_max = 64,
                                     .deferred = FZ_OLDEST_FIRST};

  return fz_run(&target, data, size);
}
