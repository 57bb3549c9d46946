/* fuzz-server-common.h -- what the structure-aware server fuzz targets share
 * (fuzz-server-kex, -auth, -channel, -global): one in-memory server with
 * both host key types, and the input format they all use.
 *
 * Input: byte 0 is a flags byte the target interprets (start state,
 * how the embedder answers); the rest is a sequence of records
 * [u16 BE length][payload].  Each payload is framed here as a binary packet
 * under the "none" codec (correct length and padding) and fed to the real
 * connection through sshmux__conn_input(), so the fuzzer spends its effort
 * on message contents rather than on framing.  Once the connection has
 * switched to a negotiated codec (after NEWKEYS), the remaining bytes are
 * fed raw: they reach the real decrypt-and-verify path and must be refused.
 *
 * Everything the server writes goes to fz_out(), which checks the framing
 * of every plaintext packet (length, padding, block size, size cap): a
 * malformed packet of ours is a finding like a crash. */
#ifndef SSHMUX_FUZZ_SERVER_COMMON_H
#define SSHMUX_FUZZ_SERVER_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t fz_loop;
static sshmux_server_t *fz_srv;
static sshmux__buf_t fz_outbuf;
static int fz_out_skip_ident; /* the identification line is still ahead */

/* The "none" codec is the only one without a MAC tag. */
static int fz_plain(const sshmux__codec_t *c) {
  return c != NULL && sshmux__codec_tag_len(c) == 0;
}

/* The server's output: while no codec is installed, every packet must be
 * framed correctly. */
static int fz_out(sshmux_server_conn_t *conn, const uint8_t *p, size_t n) {
  sshmux__buf_t *o = &fz_outbuf;

  if (!fz_plain(conn->out)) /* encrypted: nothing we can check cheaply */
    return 0;
  if (sshmux__buf_put_bytes(o, p, n) != 0)
    return 0;
  if (fz_out_skip_ident) {
    const uint8_t *nl = memchr(o->data, '\n', o->len);
    if (nl == NULL)
      return 0;
    o->pos = (size_t)(nl - o->data) + 1;
    fz_out_skip_ident = 0;
  }
  while (sshmux__buf_remaining(o) >= 4) {
    const uint8_t *q = sshmux__buf_rptr(o);
    uint32_t len = sshmux__load_be32(q);
    if (len < 12 || len > SSHMUX__SRV_IN_PACKET_MAX || (len + 4) % 8 != 0 ||
        q[4] < 4 || q[4] >= len) {
      fprintf(stderr, "server wrote a malformed packet (len %u pad %u)\n",
              (unsigned)len,
              (unsigned)(sshmux__buf_remaining(o) > 4 ? q[4] : 0));
      abort();
    }
    if (sshmux__buf_remaining(o) < 4 + (size_t)len)
      break;
    o->pos += 4 + (size_t)len;
  }
  sshmux__buf_compact(o);
  return 0;
}

/* FUZZ_LOG=1 in the environment: the library's log on stderr (to see
 * what a seed reaches). */
static void fz_log(sshmux_log_level_t level, const char *msg, void *data) {
  (void)data;
  fprintf(stderr, "[%s] %s\n", sshmux_log_level_name(level), msg);
}

static void fz_setup(const sshmux_server_cbs_t *cbs) {
  if (getenv("FUZZ_LOG") != NULL)
    sshmux_set_log_cb(fz_log, SSHMUX_LOG_DEBUG, NULL);
  sshmux__buf_init(&fz_outbuf, 8u * 1024 * 1024);
  if (uv_loop_init(&fz_loop) != 0 ||
      sshmux_server_new(&fz_loop, cbs, &fz_srv) != 0 ||
      sshmux__hostkey_generate(&fz_srv->keys[SSHMUX__KEY_ED25519],
                               SSHMUX__KEY_ED25519) != 0 ||
      sshmux__hostkey_generate(&fz_srv->keys[SSHMUX__KEY_ECDSA_P256],
                               SSHMUX__KEY_ECDSA_P256) != 0)
    abort();
}

/* A new memory connection whose output goes to fz_out.  user: NULL for the
 * first key exchange (identification already seen), "" for userauth after
 * the shortcut, else authenticated as user. */
static sshmux_server_conn_t *fz_conn(const char *user, int kex) {
  sshmux_server_conn_t *conn;

  sshmux__buf_reset(&fz_outbuf);
  if (sshmux__conn_new_mem(fz_srv, &conn) != 0)
    return NULL;
  conn->mem_write = fz_out;
  if (kex) {
    /* Our identification and KEXINIT are already queued. */
    fz_out_skip_ident = 1;
    conn->v_c = sshmux__strdup("SSH-2.0-OpenSSH_9.2p1 fuzz");
    conn->state = SSHMUX__CONN_KEX;
    if (conn->v_c == NULL) {
      sshmux__conn_free_mem(conn);
      return NULL;
    }
  } else {
    fz_out_skip_ident = 0;
    if (sshmux__conn_test_shortcut(conn, user != NULL && *user ? user : NULL) !=
        0) {
      sshmux__conn_free_mem(conn);
      return NULL;
    }
  }
  return conn;
}

/* Frame one payload with the "none" codec and feed it. */
static void fz_send(sshmux_server_conn_t *conn, const uint8_t *payload,
                    size_t n) {
  sshmux__buf_t b;
  size_t pad = 8 - (5 + n) % 8;
  uint8_t *sp;

  if (pad < 4)
    pad += 8;
  sshmux__buf_init(&b, n + 64);
  if (sshmux__buf_put_u32(&b, (uint32_t)(1 + n + pad)) == 0 &&
      sshmux__buf_put_u8(&b, (uint8_t)pad) == 0 &&
      sshmux__buf_put_bytes(&b, payload, n) == 0 &&
      sshmux__buf_put_space(&b, pad, &sp) == 0) {
    memset(sp, 0, pad);
    (void)sshmux__conn_input(conn, b.data, b.len);
  }
  sshmux__buf_free(&b);
}

/* Feed the records of data[0..size); between records, let the loop run
 * and flush as a socket would. */
static void fz_feed(sshmux_server_conn_t *conn, const uint8_t *data,
                    size_t size) {
  size_t p = 0;

  while (p < size && !conn->closing) {
    size_t n;
    if (!fz_plain(conn->in)) {
      /* A negotiated codec is in: the rest goes in raw. */
      (void)sshmux__conn_input(conn, data + p, size - p);
      break;
    }
    if (size - p < 2)
      break;
    n = (size_t)data[p] << 8 | data[p + 1];
    p += 2;
    if (n > size - p)
      n = size - p;
    fz_send(conn, data + p, n);
    p += n;
    if (!conn->closing)
      sshmux__conn_flush(conn);
    uv_run(&fz_loop, UV_RUN_NOWAIT);
  }
  if (!conn->closing)
    sshmux__conn_flush(conn);
  uv_run(&fz_loop, UV_RUN_NOWAIT);
}

static void fz_done(sshmux_server_conn_t *conn) {
  sshmux__conn_free_mem(conn);
  uv_run(&fz_loop, UV_RUN_NOWAIT);
}

/* The flags byte of the current input, and a counter the targets' callbacks
 * use to vary what they do; both reset for every input. */
static unsigned fz_mode, fz_ticks;

/* Requests a target answers only at the end (fz_defer), oldest first or
 * newest first (fz_target_t.deferred). */
#define FZ_DEFER_MAX 300
static sshmux_server_request_t *fz_later[FZ_DEFER_MAX];
static size_t fz_nlater;

/* One structure-aware server target: its callbacks, how its connection
 * starts (conn, given the flags byte; NULL: fz_conn(user, kex)), how many
 * requests it may defer, and in which order the deferred ones are answered
 * once the records are fed (FZ_OLDEST_FIRST or FZ_NEWEST_FIRST; 0: the
 * target defers nothing, and nothing is flushed before the connection is
 * freed). */
enum { FZ_OLDEST_FIRST = 1, FZ_NEWEST_FIRST };
typedef struct {
  sshmux_server_cbs_t cbs;
  sshmux_server_conn_t *(*conn)(unsigned flags);
  const char *user;
  int kex;
  size_t defer_max;
  int deferred;
} fz_target_t;

/* Callbacks more than one target uses: accept every channel; read again
 * when the channel's output has drained. */
static inline void fz_accept_open(sshmux_server_conn_t *conn,
                                  sshmux_server_channel_t *ch,
                                  const sshmux_server_open_info_t *info) {
  (void)conn, (void)info;
  (void)sshmux_server_channel_accept(ch);
}
static inline void fz_read_again(sshmux_server_channel_t *ch) {
  sshmux_server_channel_read_start(ch);
}

/* Defer req if there is room among the target's defer_max; 0 if not (the
 * caller answers it at once). */
static size_t fz_defer_max;
static inline int fz_defer(sshmux_server_request_t *req) {
  if (fz_nlater >= fz_defer_max)
    return 0;
  fz_later[fz_nlater++] = req;
  return 1;
}

/* Forget the deferred requests of ch (they die with its close callback). */
static inline void fz_forget(const sshmux_server_channel_t *ch) {
  size_t j = 0;

  for (size_t i = 0; i < fz_nlater; i++)
    if (fz_later[i]->ch != ch)
      fz_later[j++] = fz_later[i];
  fz_nlater = j;
}

/* LLVMFuzzerTestOneInput of every server target: the server made once
 * with t's callbacks (and an authorized_keys path that does not exist:
 * nothing is listed); inputs of 1..64 KiB: the flags byte, then the
 * records fed to a new connection. */
static int fz_run(const fz_target_t *t, const uint8_t *data, size_t size) {
  static int ready;
  sshmux_server_conn_t *conn;

  if (!ready) {
    fz_setup(&t->cbs);
    if (sshmux_server_set_authorized_keys(fz_srv,
                                          "/nonexistent/fuzz-authorized-keys"))
      abort();
    ready = 1;
  }
  if (size < 1 || size > 65536)
    return 0;
  fz_mode = data[0];
  fz_ticks = 0;
  fz_nlater = 0;
  fz_defer_max = t->defer_max < FZ_DEFER_MAX ? t->defer_max : FZ_DEFER_MAX;
  conn = t->conn != NULL ? t->conn(data[0]) : fz_conn(t->user, t->kex);
  if (conn == NULL)
    return 0;
  fz_feed(conn, data + 1, size - 1);
  if (t->deferred == 0) {
    fz_done(conn);
    return 0;
  }
  /* The answers that waited, while the connection lives. */
  for (size_t i = 0; i < fz_nlater && !conn->closing; i++) {
    int oldest = t->deferred == FZ_OLDEST_FIRST;
    size_t k = oldest ? i : fz_nlater - 1 - i;
    sshmux_server_request_reply(fz_later[k], (unsigned)(oldest ? k : k + 1) & 1);
  }
  fz_nlater = 0;
  if (!conn->closing)
    sshmux__conn_flush(conn);
  uv_run(&fz_loop, UV_RUN_NOWAIT);
  fz_done(conn);
  return 0;
}

#endif
