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
 * callbacks, bit 6 take the client's CLOSE (remote_close) and answer it
 * at once or only when the connection ends (the relay waits for an exit
 * status).  Seeds: tests/fuzz/make-seeds.py.  Build and run: make
 * fuzz-run. */
#include "fuzz-server-common.h"

static unsigned mode, ticks;
static sshmux_server_request_t *later[64];
static size_t nlater;

/* What the embedder does on a request, before answering it. */
static void act(sshmux_server_channel_t *ch,
                const sshmux_server_request_info_t *info) {
  if ((mode & 16) &&
      (info->command != NULL || strcmp(info->type, "shell") == 0))
    (void)sshmux_server_channel_exit_signal(
        ch, info->command ? info->command : "", ticks & 1,
        info->command ? info->command : "");
  else if (info->signal != NULL)
    (void)sshmux_server_channel_exit_signal(ch, info->signal, 0, info->signal);
  else if (info->subsystem != NULL)
    (void)sshmux_server_channel_exit_status(ch, ticks);
  if ((mode & 32) && ++ticks % 3 == 0)
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
  if ((mode & 2) && nlater < sizeof(later) / sizeof(later[0]))
    later[nlater++] = req;
  else
    sshmux_server_request_reply(req, ++ticks & 1);
}

static void on_data(sshmux_server_channel_t *ch, int stream, const char *buf,
                    size_t len) {
  if (mode & 4)
    (void)sshmux_server_channel_write(ch, stream, buf, len);
  if ((mode & 8) && ++ticks % 2 == 0)
    sshmux_server_channel_read_stop(ch);
}

static void on_eof(sshmux_server_channel_t *ch) {
  (void)sshmux_server_channel_eof(ch);
  if (mode & 32)
    sshmux_server_channel_close(ch);
}

static void on_drain(sshmux_server_channel_t *ch) {
  sshmux_server_channel_read_start(ch);
}

/* A request stays valid until its channel's close callback returns. */
static void on_close(sshmux_server_channel_t *ch) {
  size_t j = 0;

  for (size_t i = 0; i < nlater; i++)
    if (later[i]->ch != ch)
      later[j++] = later[i];
  nlater = j;
}

/* The client's CLOSE: writes must fail now; the exit status may still be
 * set; our CLOSE goes now or with the connection. */
static void on_remote_close(sshmux_server_channel_t *ch) {
  if (sshmux_server_channel_write(ch, SSHMUX_STREAM_STDOUT, "x", 1) >= 0)
    abort();
  (void)sshmux_server_channel_exit_status(ch, ticks);
  if (++ticks % 2 == 0)
    sshmux_server_channel_close(ch);
}

static void on_open(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                    const sshmux_server_open_info_t *info) {
  static const sshmux_server_channel_cbs_t cbs = {on_request, on_data,  on_eof,
                                                  on_drain,   on_close, NULL};
  static const sshmux_server_channel_cbs_t rcbs = {
      on_request, on_data, on_eof, on_drain, on_close, on_remote_close};
  (void)conn;
  if (info->type_name == NULL)
    abort();
  sshmux_server_channel_set_cbs(ch, (mode & 64) ? &rcbs : &cbs);
  ++ticks;
  if (info->type != SSHMUX_CHANNEL_SESSION && ticks % 2 == 0)
    (void)sshmux_server_channel_reject(ch, 1, "fuzz");
  else if ((mode & 1) || ticks % 3 != 0)
    (void)sshmux_server_channel_accept(ch);
}

/* The answers that waited, oldest first, while the connection lives. */
static void answer_later(sshmux_server_conn_t *conn) {
  for (size_t i = 0; i < nlater && !conn->closing; i++)
    sshmux_server_request_reply(later[i], (unsigned)i & 1);
  nlater = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const sshmux_server_cbs_t cbs = {.channel_open = on_open};

  fz_input(data, size, &cbs, &mode, &ticks, &nlater, answer_later);
  return 0;
}
