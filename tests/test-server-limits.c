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

/* ---- 3. held input while paused ---- */

/* Live bytes through the library's allocator, and their peak. */
typedef union {
  size_t size;
  max_align_t align;
} hdr_t;
static size_t g_live, g_peak;

static void *c_malloc(size_t n) {
  hdr_t *h = malloc(sizeof(hdr_t) + n);
  if (h == NULL)
    return NULL;
  h->size = n;
  g_live += n;
  if (g_live > g_peak)
    g_peak = g_live;
  return h + 1;
}

static void c_free(void *p) {
  hdr_t *h;
  if (p == NULL)
    return;
  h = (hdr_t *)p - 1;
  g_live -= h->size;
  free(h);
}

static size_t c_size(void *p) {
  return ((hdr_t *)p - 1)->size;
}

static void *c_calloc(size_t c, size_t n) {
  return test_calloc_with(c_malloc, c, n);
}

static void *c_realloc(void *p, size_t n) {
  return test_realloc_with(c_malloc, c_free, c_size, p, n);
}

/* n one-byte DATA / EXTENDED_DATA(stderr) packets, alternating, framed
 * with the "none" codec and fed in 1 MiB batches. */
static void send_tiny_packets(th_t *t, uint32_t id, size_t n) {
  enum { PKT = 24, BATCH = 43690 };
  uint8_t *buf = malloc((size_t)PKT * BATCH);
  size_t done = 0;

  ASSERT(buf != NULL);
  while (done < n && !th_closed(t)) {
    size_t k = SSHMUX__MIN((size_t)BATCH, n - done), i;
    memset(buf, 0, (size_t)PKT * k);
    for (i = 0; i < k; i++) {
      uint8_t *p = buf + i * PKT;
      int ext = (done + i) % 2;
      sshmux__store_be32(p, 20);
      p[4] = ext ? 5 : 9;
      p[5] = ext ? SSH_MSG_CHANNEL_EXTENDED_DATA : SSH_MSG_CHANNEL_DATA;
      sshmux__store_be32(p + 6, id);
      if (ext)
        sshmux__store_be32(p + 10, 1);
      sshmux__store_be32(p + (ext ? 14 : 10), 1);
      p[ext ? 18 : 14] = 'x';
    }
    th_send_raw(t, buf, (size_t)PKT * k);
    done += k;
  }
  free(buf);
}

/* While paused, a client may spend its whole window in one-byte packets
 * (both streams, alternating): it is never cut off, what is held costs
 * about what it carries, and all of it is delivered on resume. */
TEST_IMPL(server_channel_held_small_packets) {
  uint32_t id, window, maxpkt;
  size_t base;
  th_t t;

  ASSERT_OK(sshmux_replace_allocator(c_malloc, c_realloc, c_calloc, c_free));
  setup(&t);
  id = open_channel(&t, &window, &maxpkt);
  ASSERT_EQ(window, SSHMUX__SRV_CHAN_WINDOW);
  sshmux_server_channel_read_stop(g_ch);
  base = g_live;
  g_peak = g_live;
  sshmux_set_log_cb(on_log, SSHMUX_LOG_INFO, NULL);
  send_tiny_packets(&t, id, window);
  if (th_closed(&t))
    test_fail(__FILE__, __LINE__, "cut off (%d) after %llu packets: %s",
              t.conn->disconnect_reason, (unsigned long long)t.conn->packets_in,
              g_log);
  ASSERT_EQ(g_data[0] + g_data[1], 0);
  /* The held bytes are the window's worth of data, plus at most the
   * buffers' growth slack and one read buffer. */
  printf("# held %u one-byte packets: peak %zu bytes above the start\n", window,
         g_peak - base);
  ASSERT_LE(g_peak - base, (size_t)window + 1024u * 1024u);
  sshmux_server_channel_read_start(g_ch);
  th_run(&t);
  ASSERT_EQ(g_data[0], window / 2);
  ASSERT_EQ(g_data[1], window / 2);
  th_expect(&t, SSH_MSG_CHANNEL_WINDOW_ADJUST);
  ASSERT(!th_closed(&t));
  /* The window still binds: once spent again, one byte more is fatal. */
  sshmux_server_channel_read_stop(g_ch);
  th_channel_data(&t, id, 0, NULL, 1);
  ASSERT(!th_closed(&t));
  th_free(&t);
  return 0;
}

/* A connection's channel windows share its memory budget: 2 MiB each
 * while it lasts, then what is left, then opens are refused with
 * RESOURCE_SHORTAGE and a reason; a channel that ends gives its share
 * back. */
TEST_IMPL(server_conn_memory_budget) {
  sshmux_server_options_t o;
  uint32_t ids[8], window, maxpkt;
  char *why = NULL;
  th_t t;
  int i;

  setup(&t);
  sshmux_server_options_init(&o);
  ASSERT_EQ(o.conn_memory_max, 256u * 1024u * 1024u);
  o.conn_memory_max = 1024;
  ASSERT_ERR(sshmux_server_set_options(t.srv, &o), SSHMUX_EINVAL);
  o.conn_memory_max = 3u * SSHMUX__SRV_CHAN_WINDOW + 100u * 1024u;
  ASSERT_OK(sshmux_server_set_options(t.srv, &o));
  for (i = 0; i < 3; i++) {
    ids[i] = open_channel(&t, &window, &maxpkt);
    ASSERT_EQ(window, SSHMUX__SRV_CHAN_WINDOW);
  }
  ids[3] = open_channel(&t, &window, &maxpkt);
  ASSERT_EQ(window, 100u * 1024u); /* what was left */
  th_channel_open(&t, 9, 1u << 20, 32768);
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_OPEN_FAILURE);
  ASSERT_EQ(th_u32(&t), 9);
  ASSERT_EQ(th_u32(&t), SSHMUX_OPEN_RESOURCE_SHORTAGE);
  ASSERT_OK(sshmux__buf_get_cstring(&t.msg, 256, &why));
  ASSERT_STR_CONTAINS(why, "memory budget");
  sshmux__free(why);
  ASSERT_EQ(g_opens, 4);
  /* The 100 KiB channel holds its window while paused and no more. */
  sshmux_server_channel_read_stop(g_ch);
  th_channel_data(&t, ids[3], 0, NULL, 32768);
  th_channel_data(&t, ids[3], 0, NULL, 32768);
  th_channel_data(&t, ids[3], 0, NULL, 32768);
  th_channel_data(&t, ids[3], 0, NULL, 4096);
  ASSERT(!th_closed(&t));
  /* One channel closes both ways: its 2 MiB are free again. */
  sshmux_server_channel_close(g_ch);
  th_run(&t);
  th_expect(&t, SSH_MSG_CHANNEL_CLOSE);
  {
    uint8_t m[5] = {SSH_MSG_CHANNEL_CLOSE};
    sshmux__store_be32(m + 1, ids[3]);
    th_send(&t, m, sizeof(m));
  }
  ASSERT(!th_closed(&t));
  ids[4] = open_channel(&t, &window, &maxpkt);
  ASSERT_EQ(window, 100u * 1024u);
  ASSERT_EQ(ids[4], ids[3]);
  th_free(&t);
  return 0;
}
