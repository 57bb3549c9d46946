/* test-server-limits.c -- the server's limits against a hostile client,
 * driven in memory (tests/server-harness.c): the max packet we advertise
 * enforced on channel input; held input while a channel is paused costs
 * what it holds (a client inside its window is never cut off, however
 * small its packets); a per-connection budget for channel windows; the
 * small packet limit before authentication (an RSA-16384 login still
 * fits); the first_kex_packet_follows rule for both curve25519 names; a
 * re-key the client never answers ends in bounded time. */
#include <stdlib.h>
#include <string.h>

#include "server-harness.h"

/* ---- an embedder that accepts every session and counts its input ---- */

static sshmux_server_channel_t *g_ch;
static size_t g_data[2]; /* bytes delivered per stream */
static int g_opens;

static void on_data(sshmux_server_channel_t *ch, int stream, const char *buf,
                    size_t len) {
  (void)ch, (void)buf;
  g_data[stream == SSHMUX_STREAM_STDERR] += len;
}

static void on_open(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                    const sshmux_server_open_info_t *info) {
  static const sshmux_server_channel_cbs_t cbs = {NULL, on_data, NULL, NULL,
                                                  NULL};
  (void)conn, (void)info;
  g_ch = ch;
  g_opens++;
  sshmux_server_channel_set_cbs(ch, &cbs);
  ASSERT_OK(sshmux_server_channel_accept(ch));
}

/* Log lines at INFO and above, for tests that check what was said. */
static char g_log[8192];

static void on_log(sshmux_log_level_t level, const char *msg, void *data) {
  size_t n = strlen(g_log);
  (void)level, (void)data;
  if (n + strlen(msg) + 2 < sizeof(g_log))
    snprintf(g_log + n, sizeof(g_log) - n, "%s\n", msg);
}

/* An authenticated connection with one accepted session channel whose
 * window (ours) and max packet the caller gets back. */
static uint32_t open_channel(th_t *t, uint32_t *window, uint32_t *maxpkt) {
  uint32_t id;
  th_channel_open(t, 7, 1u << 20, 32768);
  ASSERT_EQ(th_next(t), SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
  ASSERT_EQ(th_u32(t), 7);
  id = th_u32(t);
  *window = th_u32(t);
  *maxpkt = th_u32(t);
  return id;
}

static void setup(th_t *t) {
  sshmux_server_cbs_t cbs;
  memset(&cbs, 0, sizeof(cbs));
  cbs.channel_open = on_open;
  g_ch = NULL;
  g_data[0] = g_data[1] = 0;
  g_opens = 0;
  g_log[0] = '\0';
  th_init(t, &cbs, 1, "u");
}

/* ---- 2. the max packet we advertise ---- */

/* A CHANNEL_DATA bigger than the max packet we advertised is not taken as
 * data (OpenSSH's channel_input_data: logged, dropped, the connection
 * lives on); data within it flows as before. */
TEST_IMPL(server_channel_max_packet_enforced) {
  uint32_t id, window, maxpkt;
  th_t t;

  sshmux_set_log_cb(on_log, SSHMUX_LOG_INFO, NULL);
  setup(&t);
  id = open_channel(&t, &window, &maxpkt);
  ASSERT_EQ(maxpkt, 32768);
  th_channel_data(&t, id, 0, NULL, 200000);
  ASSERT(!th_closed(&t));
  ASSERT_EQ(g_data[0], 0);
  th_channel_data(&t, id, 1, NULL, maxpkt + 1);
  ASSERT(!th_closed(&t));
  ASSERT_EQ(g_data[1], 0);
  ASSERT_STR_CONTAINS(g_log, "bigger than the max packet");
  /* Exactly the max packet is fine, both streams. */
  th_channel_data(&t, id, 0, NULL, maxpkt);
  th_channel_data(&t, id, 1, NULL, maxpkt);
  ASSERT(!th_closed(&t));
  ASSERT_EQ(g_data[0], maxpkt);
  ASSERT_EQ(g_data[1], maxpkt);
  th_free(&t);
  sshmux_set_log_cb(NULL, SSHMUX_LOG_ERROR, NULL);
  return 0;
}
