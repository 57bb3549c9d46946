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
  static const sshmux_server_channel_cbs_t cbs = {NULL, on_data, NULL,
                                                  NULL, NULL,    NULL};
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

/* One client opens 1000 channels, counted through the allocator hook:
 * what the budget allows (256 MiB in 2 MiB windows: 128) is confirmed,
 * each costing a small fixed amount; the 872 refused with the reason
 * leave nothing behind; closing every channel gives the memory back. */
TEST_IMPL(server_conn_channel_flood_allocations) {
  enum { N = 1000 };
  size_t base, at_budget = 0, after;
  uint32_t sids[N];
  int i, ok = 0, refused = 0;
  char *why = NULL;
  th_t t;

  ASSERT_OK(sshmux_replace_allocator(c_malloc, c_realloc, c_calloc, c_free));
  setup(&t);
  th_run(&t);
  while (th_next(&t) != -1)
    ;
  sshmux__buf_compact(&t.out);
  base = g_live;
  for (i = 0; i < N; i++) {
    int type;
    th_channel_open(&t, (uint32_t)i, 1u << 20, 32768);
    type = th_next(&t);
    ASSERT_EQ(th_u32(&t), (uint32_t)i);
    if (type == SSH_MSG_CHANNEL_OPEN_CONFIRMATION) {
      sids[ok++] = th_u32(&t);
    } else {
      ASSERT_EQ(type, SSH_MSG_CHANNEL_OPEN_FAILURE);
      ASSERT_EQ(th_u32(&t), SSHMUX_OPEN_RESOURCE_SHORTAGE);
      sshmux__free(why);
      ASSERT_OK(sshmux__buf_get_cstring(&t.msg, 256, &why));
      if (refused++ == 0)
        at_budget = g_live;
    }
    ASSERT(!th_closed(&t));
    sshmux__buf_compact(&t.out); /* the harness's own buffer stays small */
  }
  after = g_live;
  printf("# %d opens: %d confirmed, %d refused (\"%s\"); %zu bytes for the "
         "confirmed (%zu each), %zu more after the refusals\n",
         N, ok, refused, why, at_budget - base, (at_budget - base) / 128,
         after - at_budget);
  ASSERT_EQ(ok, 128);
  ASSERT_EQ(refused, N - 128);
  ASSERT_STR_CONTAINS(why, "memory budget");
  sshmux__free(why);
  ASSERT_EQ(g_opens, 128);
  ASSERT_LT(at_budget - base, 128u * 8192u);
  ASSERT_LT(after - at_budget, 4096u); /* a refusal keeps nothing */
  /* The client closes every channel; the server answers and frees it. */
  for (i = 0; i < ok; i++) {
    uint8_t m[5] = {SSH_MSG_CHANNEL_CLOSE};
    sshmux__store_be32(m + 1, sids[i]);
    th_send(&t, m, sizeof(m));
    th_expect(&t, SSH_MSG_CHANNEL_CLOSE);
    sshmux__buf_compact(&t.out);
  }
  th_run(&t);
  while (th_next(&t) != -1)
    ;
  printf("# after closing all: %zu bytes above the start\n", g_live - base);
  ASSERT_LT(g_live - base, 16384u);
  ASSERT(!th_closed(&t));
  th_free(&t);
  return 0;
}

/* ---- 4. packets before authentication ---- */

/* A publickey USERAUTH_REQUEST signed with RSA-16384, the biggest packet
 * a legitimate client sends before it has logged in (the key and the
 * signature are made-up bytes: the size is what matters here). */
static void send_rsa16384_userauth(th_t *t) {
  static uint8_t n[2049], sig[2048];
  char user[257];
  sshmux__buf_t b, blob, s;

  memset(user, 'u', 256);
  user[256] = '\0';
  n[1] = 0xc3;
  memset(sig, 0x5a, sizeof(sig));
  sshmux__buf_init(&b, 65536);
  sshmux__buf_init(&blob, 65536);
  sshmux__buf_init(&s, 65536);
  ASSERT_OK(sshmux__buf_put_cstring(&blob, "ssh-rsa"));
  ASSERT_OK(sshmux__buf_put_string(&blob, "\x01\x00\x01", 3));
  ASSERT_OK(sshmux__buf_put_string(&blob, n, sizeof(n)));
  ASSERT_OK(sshmux__buf_put_cstring(&s, "rsa-sha2-512"));
  ASSERT_OK(sshmux__buf_put_string(&s, sig, sizeof(sig)));
  th_put_pk_request(&b, user, "rsa-sha2-512", blob.data, blob.len);
  ASSERT_OK(sshmux__buf_put_string(&b, s.data, s.len));
  printf("# RSA-16384 userauth request: %zu bytes of payload\n", b.len);
  th_send(t, b.data, b.len);
  sshmux__buf_free(&b);
  sshmux__buf_free(&blob);
  sshmux__buf_free(&s);
}

/* n bytes of IGNORE data in one packet. */
static void send_ignore(th_t *t, size_t n) {
  sshmux__buf_t b;
  uint8_t *p;
  sshmux__buf_init(&b, n + 16);
  ASSERT_OK(sshmux__buf_put_u8(&b, SSH_MSG_IGNORE));
  ASSERT_OK(sshmux__buf_put_u32(&b, (uint32_t)n));
  ASSERT_OK(sshmux__buf_put_space(&b, n, &p));
  memset(p, 0, n);
  th_send(t, b.data, b.len);
  sshmux__buf_free(&b);
}

/* Before authentication a packet may be 8 KiB (an RSA-16384 login still
 * fits); a bigger length is refused as soon as it is read, before any
 * buffer grows for it.  After authentication, 256 KiB as before. */
TEST_IMPL(server_preauth_packet_limit) {
  sshmux_server_options_t o;
  uint8_t hdr[16] = {0};
  th_t t;

  /* The length alone, first thing after the identification. */
  th_init(&t, NULL, 0, NULL);
  th_send_ident(&t);
  sshmux__store_be32(hdr, 20004);
  th_send_raw(&t, hdr, sizeof(hdr));
  ASSERT(th_closed(&t));
  ASSERT_EQ(t.conn->disconnect_reason, SSH_DISCONNECT_PROTOCOL_ERROR);
  th_free(&t);

  /* In userauth: the RSA-16384 request is read (and refused as a key);
   * 8 KiB of IGNORE passes, 9 KiB ends the connection. */
  th_init(&t, NULL, 1, NULL);
  sshmux_server_options_init(&o);
  ASSERT_EQ(o.preauth_packet_max, 8192);
  send_rsa16384_userauth(&t);
  ASSERT(!th_closed(&t));
  ASSERT_EQ(th_next(&t), SSH_MSG_USERAUTH_FAILURE);
  send_ignore(&t, 8100);
  ASSERT(!th_closed(&t));
  send_ignore(&t, 9000);
  ASSERT(th_closed(&t));
  th_free(&t);

  /* The limit is an option (never below what RSA-16384 needs). */
  th_init(&t, NULL, 1, NULL);
  o.preauth_packet_max = 4096;
  ASSERT_ERR(sshmux_server_set_options(t.srv, &o), SSHMUX_EINVAL);
  o.preauth_packet_max = 300u * 1024u;
  ASSERT_ERR(sshmux_server_set_options(t.srv, &o), SSHMUX_EINVAL);
  o.preauth_packet_max = 65536;
  ASSERT_OK(sshmux_server_set_options(t.srv, &o));
  send_ignore(&t, 20000);
  ASSERT(!th_closed(&t));
  th_free(&t);

  /* Authenticated: big packets as before. */
  th_init(&t, NULL, 1, "u");
  send_ignore(&t, 200000);
  ASSERT(!th_closed(&t));
  ASSERT_EQ(t.conn->seq_in, 1);
  th_free(&t);
  return 0;
}

/* ---- 5. the guessed first kex packet; re-keys that never finish ---- */

/* KEXINIT with the given kex and host key lists, every cipher and MAC of
 * ours, and first_kex_packet_follows. */
static void kexinit_follows(th_t *t, const char *kex, const char *hk) {
  sshmux__buf_t b;
  sshmux__buf_init(&b, 4096);
  th_put_kexinit(&b, kex, hk, SSHMUX__CIPHER_ALGS, SSHMUX__MAC_ALGS, 1);
  th_send(t, b.data, b.len);
  sshmux__buf_free(&b);
}

static void ecdh_init(th_t *t) {
  uint8_t m[1 + 4 + 32] = {SSH_MSG_KEX_ECDH_INIT, 0, 0, 0, 32};
  sshmux__random(m + 5, 32);
  th_send(t, m, sizeof(m));
}

/* A guess is right when the client's first kex and host key names are
 * the server's first ones (RFC 4253 §7.1, OpenSSH's proposals_match):
 * then the guessed ECDH_INIT is the real one.  A client that puts
 * curve25519-sha256@libssh.org first guesses wrong by that rule, however
 * alike the two names are, and knows it: its guessed packet is ignored
 * and the one it sends next is answered, under the name negotiated. */
TEST_IMPL(server_kex_guess_libssh_name) {
  th_t t;

  /* Right guess with our first names: answered at once. */
  th_init(&t, NULL, 0, NULL);
  th_send_ident(&t);
  kexinit_follows(&t, "curve25519-sha256,curve25519-sha256@libssh.org",
                  "ssh-ed25519");
  ecdh_init(&t);
  th_expect(&t, SSH_MSG_KEX_ECDH_REPLY);
  th_free(&t);
  /* The @libssh.org name first: the guess is dropped, the next one
   * answered, and the exchange runs as curve25519-sha256@libssh.org. */
  th_init(&t, NULL, 0, NULL);
  th_send_ident(&t);
  kexinit_follows(&t, "curve25519-sha256@libssh.org,curve25519-sha256",
                  "ssh-ed25519");
  ASSERT_STR_EQ(sshmux__transport_alg(t.conn, 0),
                "curve25519-sha256@libssh.org");
  ecdh_init(&t);
  ASSERT(!th_closed(&t));
  while (th_next(&t) != -1)
    ASSERT(t.msg.data[0] != SSH_MSG_KEX_ECDH_REPLY);
  ecdh_init(&t);
  ASSERT(!th_closed(&t));
  th_expect(&t, SSH_MSG_KEX_ECDH_REPLY);
  th_free(&t);
  /* The right kex name but another first host key: wrong as well. */
  th_init(&t, NULL, 0, NULL);
  th_send_ident(&t);
  kexinit_follows(&t, "curve25519-sha256", "ecdsa-sha2-nistp256,ssh-ed25519");
  ecdh_init(&t);
  ASSERT_EQ(th_next(&t), SSH_MSG_KEXINIT); /* ours; no reply to the guess */
  ASSERT_EQ(th_next(&t), -1);
  ecdh_init(&t);
  th_expect(&t, SSH_MSG_KEX_ECDH_REPLY);
  th_free(&t);
  return 0;
}

/* A re-key the server starts and the client never answers, while the
 * client keeps asking for replies (which wait for the new keys): it ends
 * after kex_timeout_ms, long before the queue of held replies could grow
 * to its cap. */
TEST_IMPL(server_rekey_unanswered_times_out) {
  sshmux_server_options_t o;
  th_t t;
  int i;

  th_init(&t, NULL, 1, "u");
  sshmux_server_options_init(&o);
  ASSERT_EQ(o.kex_timeout_ms, 60000);
  o.kex_timeout_ms = 300;
  ASSERT_OK(sshmux_server_set_options(t.srv, &o));
  th_keepalive(&t);
  th_expect(&t, SSH_MSG_REQUEST_FAILURE); /* answered while no re-key runs */
  sshmux__transport_check_rekey(t.conn, 1);
  th_expect(&t, SSH_MSG_KEXINIT);
  for (i = 0; i < 100000 && !th_closed(&t); i++) {
    th_keepalive(&t);
    ASSERT_EQ(th_next(&t), -1); /* held until the new keys */
    if (i % 100 == 0) {
      usleep(10000);
      th_run(&t);
    }
  }
  ASSERT(th_closed(&t));
  ASSERT_EQ(t.conn->disconnect_reason, SSH_DISCONNECT_KEY_EXCHANGE_FAILED);
  ASSERT_GT(i, 100); /* it did wait: held replies were taken meanwhile */
  ASSERT_LT(t.conn->deferred.len, 1024u * 1024u);
  th_free(&t);
  return 0;
}
