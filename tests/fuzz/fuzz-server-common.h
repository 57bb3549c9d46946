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

/* One input: a fresh connection (see fz_conn), the records fed, then
 * finish(conn) if given (answers the embedder kept back), then freed. */
static void fz_one(const uint8_t *data, size_t size, const char *user, int kex,
                   void (*finish)(sshmux_server_conn_t *conn)) {
  sshmux_server_conn_t *conn;

  if (size < 1 || size > 65536 || (conn = fz_conn(user, kex)) == NULL)
    return;
  fz_feed(conn, data + 1, size - 1);
  if (finish != NULL && !conn->closing) {
    finish(conn);
    if (!conn->closing)
      sshmux__conn_flush(conn);
    uv_run(&fz_loop, UV_RUN_NOWAIT);
  }
  fz_done(conn);
}

/* A flags-driven target's input: cbs installed (fz_setup) on the first
 * call; then, for a non-empty input, *mode = its flags byte, *ticks and
 * *nlater zeroed, and fz_one(data, size, "fuzz", 0, finish). */
static inline void fz_input(const uint8_t *data, size_t size,
                            const sshmux_server_cbs_t *cbs, unsigned *mode,
                            unsigned *ticks, size_t *nlater,
                            void (*finish)(sshmux_server_conn_t *conn)) {
  static int ready;

  if (!ready) {
    fz_setup(cbs);
    ready = 1;
  }
  if (size > 0) {
    *mode = data[0];
    *ticks = 0;
    *nlater = 0;
    fz_one(data, size, "fuzz", 0, finish);
  }
}

#endif
