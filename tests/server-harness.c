/* server-harness.c -- see server-harness.h. */
#include <string.h>

#include <sodium.h>

#include "server-harness.h"

static int on_mem_write(sshmux_server_conn_t *conn, const uint8_t *p,
                        size_t n) {
  th_t *t = conn->mem_data;
  return sshmux__buf_put_bytes(&t->out, p, n);
}

void th_init(th_t *t, const sshmux_server_cbs_t *cbs, int shortcut,
             const char *user) {
  memset(t, 0, sizeof(*t));
  ASSERT_OK(uv_loop_init(&t->loop));
  ASSERT_OK(sshmux_server_new(&t->loop, cbs, &t->srv));
  ASSERT_OK(sshmux_server_add_host_key(t->srv, test_path("hostkey"),
                                       SSHMUX_SERVER_KEY_ED25519));
  sshmux__buf_init(&t->out, 64u * 1024u * 1024u);
  sshmux__buf_init(&t->msg, 1024u * 1024u);
  sshmux__buf_init(&t->i_s, 65536);
  ASSERT_OK(sshmux__conn_new_mem(t->srv, &t->conn));
  t->conn->mem_data = t;
  t->conn->mem_write = on_mem_write;
  if (shortcut) {
    ASSERT_OK(sshmux__conn_test_shortcut(t->conn, user));
    t->ident_seen = 1;
  } else {
    sshmux__conn_flush(t->conn);
  }
}

void th_free(th_t *t) {
  sshmux__conn_free_mem(t->conn);
  sshmux_server_close(t->srv, NULL);
  uv_run(&t->loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&t->loop), 0);
  sshmux__buf_free(&t->out);
  sshmux__buf_free(&t->msg);
  sshmux__buf_free(&t->i_s);
  sshmux__codec_free(t->in);
  sshmux__codec_free(t->seal);
  t->in = t->seal = NULL;
}

int th_send_raw(th_t *t, const void *p, size_t n) {
  int r = sshmux__conn_input(t->conn, p, n);
  if (!t->conn->closing)
    sshmux__conn_flush(t->conn);
  return r;
}

/* Framing as RFC 4253 §6 (and PROTOCOL §1.5 for what is aligned): at
 * least 4 bytes of padding, a multiple of the cipher block, 16 bytes at
 * least.  The buffer is secret-marked: tests send passwords through it. */
int th_send(th_t *t, const void *payload, size_t n) {
  sshmux__buf_t b;
  size_t block = t->seal ? sshmux__codec_block(t->seal) : 8;
  size_t tag = t->seal ? sshmux__codec_tag_len(t->seal) : 0;
  size_t l = t->seal && sshmux__codec_len_excluded(t->seal) ? 1 + n : 5 + n;
  size_t pad = block - l % block;
  uint8_t *sp;
  uint32_t seq = t->seq_out++;
  int r;

  if (pad < 4)
    pad += block;
  if (5 + n + pad < 16)
    pad += block;
  sshmux__buf_init(&b, n + 128);
  sshmux__buf_set_secret(&b);
  ASSERT_OK(sshmux__buf_put_u32(&b, (uint32_t)(1 + n + pad)));
  ASSERT_OK(sshmux__buf_put_u8(&b, (uint8_t)pad));
  ASSERT_OK(sshmux__buf_put_bytes(&b, payload, n));
  ASSERT_OK(sshmux__buf_put_space(&b, pad + tag, &sp));
  memset(sp, 0, pad + tag);
  if (t->seal != NULL)
    ASSERT_OK(sshmux__codec_seal(t->seal, seq, b.data, 5 + n + pad,
                                 b.data + 5 + n + pad));
  r = th_send_raw(t, b.data, b.len);
  sshmux__buf_free(&b);
  return r;
}

void th_run(th_t *t) {
  uv_run(&t->loop, UV_RUN_NOWAIT);
  if (!t->conn->closing)
    sshmux__conn_flush(t->conn);
}

int th_next(th_t *t) {
  sshmux__buf_t *o = &t->out;
  uint32_t len;
  uint8_t pad, type;
  size_t tag = t->in ? sshmux__codec_tag_len(t->in) : 0;

  if (!t->conn->closing)
    sshmux__conn_flush(t->conn);
  if (!t->ident_seen) {
    const uint8_t *nl =
        memchr(sshmux__buf_rptr(o), '\n', sshmux__buf_remaining(o));
    size_t ll;
    if (nl == NULL)
      return -1;
    ll = (size_t)(nl - sshmux__buf_rptr(o));
    snprintf(t->v_s, sizeof(t->v_s), "%.*s",
             (int)(ll > 0 && nl[-1] == '\r' ? ll - 1 : ll),
             (const char *)sshmux__buf_rptr(o));
    o->pos += ll + 1;
    t->ident_seen = 1;
  }
  if (sshmux__buf_remaining(o) < 4)
    return -1;
  if (t->in != NULL) {
    uint8_t *p = o->data + o->pos;
    ASSERT_OK(sshmux__codec_open_length(t->in, t->seq_in, p, &len));
    ASSERT(sshmux__buf_remaining(o) >= 4 + len + tag);
    ASSERT_OK(sshmux__codec_open(t->in, t->seq_in, p, 4 + len, p + 4 + len));
  } else {
    len = sshmux__load_be32(sshmux__buf_rptr(o));
    if (sshmux__buf_remaining(o) < 4 + (size_t)len)
      return -1;
  }
  t->seq_in++;
  pad = o->data[o->pos + 4];
  ASSERT(pad >= 4 && pad < len);
  sshmux__buf_reset(&t->msg);
  ASSERT_OK(
      sshmux__buf_put_bytes(&t->msg, o->data + o->pos + 5, len - 1 - pad));
  o->pos += 4 + len + tag;
  ASSERT_OK(sshmux__buf_get_u8(&t->msg, &type));
  if (type == SSH_MSG_KEXINIT) {
    sshmux__buf_reset(&t->i_s);
    ASSERT_OK(sshmux__buf_put_bytes(&t->i_s, t->msg.data, t->msg.len));
    t->kexinit_fresh = 1;
  }
  return type;
}

void th_expect(th_t *t, int type) {
  int got;

  while ((got = th_next(t)) != -1) {
    if (got == type)
      return;
  }
  test_fail(__FILE__, __LINE__, "expected message %d, none came", type);
}

int th_closed(th_t *t) {
  return t->conn->closing;
}

uint32_t th_u32(th_t *t) {
  uint32_t v;
  ASSERT_OK(sshmux__buf_get_u32(&t->msg, &v));
  return v;
}

void th_channel_open(th_t *t, uint32_t sender, uint32_t window,
                     uint32_t maxpkt) {
  sshmux__buf_t b;
  sshmux__buf_init(&b, 256);
  ASSERT_OK(sshmux__buf_put_u8(&b, SSH_MSG_CHANNEL_OPEN));
  ASSERT_OK(sshmux__buf_put_cstring(&b, "session"));
  ASSERT_OK(sshmux__buf_put_u32(&b, sender));
  ASSERT_OK(sshmux__buf_put_u32(&b, window));
  ASSERT_OK(sshmux__buf_put_u32(&b, maxpkt));
  th_send(t, b.data, b.len);
  sshmux__buf_free(&b);
}

void th_channel_data(th_t *t, uint32_t id, uint32_t ext, const void *d,
                     size_t n) {
  sshmux__buf_t b;
  uint8_t *p;
  sshmux__buf_init(&b, n + 64);
  ASSERT_OK(sshmux__buf_put_u8(&b, ext ? SSH_MSG_CHANNEL_EXTENDED_DATA
                                       : SSH_MSG_CHANNEL_DATA));
  ASSERT_OK(sshmux__buf_put_u32(&b, id));
  if (ext)
    ASSERT_OK(sshmux__buf_put_u32(&b, ext));
  ASSERT_OK(sshmux__buf_put_u32(&b, (uint32_t)n));
  ASSERT_OK(sshmux__buf_put_space(&b, n, &p));
  if (d != NULL)
    memcpy(p, d, n);
  else
    memset(p, 0, n);
  th_send(t, b.data, b.len);
  sshmux__buf_free(&b);
}

void th_put_kexinit(sshmux__buf_t *b, const char *kex, const char *hk,
                    const char *enc, const char *mac, int follows) {
  static const uint8_t cookie[16];
  int i;

  ASSERT_OK(sshmux__buf_put_u8(b, SSH_MSG_KEXINIT));
  ASSERT_OK(sshmux__buf_put_bytes(b, cookie, 16));
  ASSERT_OK(sshmux__buf_put_cstring(b, kex));
  ASSERT_OK(sshmux__buf_put_cstring(b, hk));
  for (i = 0; i < 2; i++)
    ASSERT_OK(sshmux__buf_put_cstring(b, enc));
  for (i = 0; i < 2; i++)
    ASSERT_OK(sshmux__buf_put_cstring(b, mac));
  for (i = 0; i < 2; i++)
    ASSERT_OK(sshmux__buf_put_cstring(b, "none"));
  for (i = 0; i < 2; i++)
    ASSERT_OK(sshmux__buf_put_cstring(b, ""));
  ASSERT_OK(sshmux__buf_put_bool(b, follows));
  ASSERT_OK(sshmux__buf_put_u32(b, 0));
}

void th_keepalive(th_t *t) {
  sshmux__buf_t b;
  sshmux__buf_init(&b, 64);
  ASSERT_OK(sshmux__buf_put_u8(&b, SSH_MSG_GLOBAL_REQUEST));
  ASSERT_OK(sshmux__buf_put_cstring(&b, "keepalive@openssh.com"));
  ASSERT_OK(sshmux__buf_put_bool(&b, 1));
  th_send(t, b.data, b.len);
  sshmux__buf_free(&b);
}

void th_send_ident(th_t *t) {
  static const char id[] = "SSH-2.0-harness\r\n";
  th_send_raw(t, id, sizeof(id) - 1);
}

/* The next message of `type`, skipping others; fails the test when the
 * server has nothing more to say. */
static void kex_wait(th_t *t, int type) {
  int got;

  while ((got = th_next(t)) != type)
    if (got == -1)
      test_fail(__FILE__, __LINE__, "key exchange: no message %d", type);
}

void th_client_kex(th_t *t, const char *cipher, const char *mac,
                   th_kex_t *out) {
  static const char letters[] = "ABCDEF";
  sshmux__buf_t ic, hb, k, p;
  const uint8_t *ks, *qs, *sig;
  size_t ksn, qsn, sign, key_len, iv_len, mac_len = 0, i;
  uint8_t sk[32], q_c[32];
  th_kex_t kx;
  int aead = sshmux__cipher_is_aead(cipher);

  memset(&kx, 0, sizeof(kx));
  ASSERT_OK(sshmux__cipher_sizes(cipher, &key_len, &iv_len));
  if (!aead)
    ASSERT_OK(sshmux__mac_key_len(mac, &mac_len));
  sshmux__buf_init(&ic, 4096);
  sshmux__buf_init(&p, 4096);
  sshmux__buf_init(&hb, 1u << 20);
  sshmux__buf_init(&k, 64);
  sshmux__buf_set_secret(&hb);
  sshmux__buf_set_secret(&k);
  th_put_kexinit(&ic, "curve25519-sha256", "ssh-ed25519", cipher,
                 aead ? "hmac-sha2-256" : mac, 0);
  th_send(t, ic.data, ic.len);
  if (!t->kexinit_fresh)
    kex_wait(t, SSH_MSG_KEXINIT);
  t->kexinit_fresh = 0;

  randombytes_buf(sk, sizeof(sk));
  crypto_scalarmult_curve25519_base(q_c, sk);
  ASSERT_OK(sshmux__buf_put_u8(&p, SSH_MSG_KEX_ECDH_INIT));
  ASSERT_OK(sshmux__buf_put_string(&p, q_c, sizeof(q_c)));
  th_send(t, p.data, p.len);
  kex_wait(t, SSH_MSG_KEX_ECDH_REPLY);
  ASSERT_OK(sshmux__buf_get_string(&t->msg, 4096, &ks, &ksn));
  ASSERT_OK(sshmux__buf_get_string(&t->msg, 4096, &qs, &qsn));
  ASSERT_OK(sshmux__buf_get_string(&t->msg, 4096, &sig, &sign));
  ASSERT_EQ(qsn, 32);
  ASSERT_EQ(crypto_scalarmult_curve25519(kx.shared, sk, qs), 0);
  sodium_memzero(sk, sizeof(sk));
  ASSERT_OK(sshmux__buf_put_mpint(&k, kx.shared, sizeof(kx.shared)));
  ASSERT_LE(k.len, sizeof(kx.k));
  memcpy(kx.k, k.data, k.len);
  kx.k_len = k.len;
  /* H = HASH(V_C, V_S, I_C, I_S, K_S, Q_C, Q_S, K), RFC 4253 §8. */
  ASSERT_OK(sshmux__buf_put_cstring(&hb, "SSH-2.0-harness"));
  ASSERT_OK(sshmux__buf_put_cstring(&hb, t->v_s));
  ASSERT_OK(sshmux__buf_put_string(&hb, ic.data, ic.len));
  ASSERT_OK(sshmux__buf_put_string(&hb, t->i_s.data, t->i_s.len));
  ASSERT_OK(sshmux__buf_put_string(&hb, ks, ksn));
  ASSERT_OK(sshmux__buf_put_string(&hb, q_c, sizeof(q_c)));
  ASSERT_OK(sshmux__buf_put_string(&hb, qs, qsn));
  ASSERT_OK(sshmux__buf_put_bytes(&hb, k.data, k.len));
  ASSERT_OK(sshmux__hash(SSHMUX__SHA256, hb.data, hb.len, kx.h));
  ASSERT_OK(sshmux__pubkey_verify("ssh-ed25519", ks, ksn, sig, sign, kx.h,
                                  sizeof(kx.h)));
  if (!t->kex_done) {
    memcpy(t->session_id, kx.h, sizeof(kx.h));
    t->kex_done = 1;
  }
  for (i = 0; i < 6; i++) {
    /* A/B IVs, C/D keys, E/F MAC keys (RFC 4253 §7.2). */
    size_t n = i < 2 ? iv_len : i < 4 ? key_len : mac_len;
    kx.derived_len[i] = n;
    if (n > 0)
      ASSERT_OK(sshmux__kex_derive(SSHMUX__SHA256, k.data, k.len, kx.h, 32,
                                   t->session_id, 32, letters[i], kx.derived[i],
                                   n));
  }
  kex_wait(t, SSH_MSG_NEWKEYS);
  sshmux__codec_free(t->in);
  ASSERT_OK(sshmux__codec_new(&t->in, cipher, aead ? NULL : mac, kx.derived[3],
                              iv_len ? kx.derived[1] : NULL,
                              mac_len ? kx.derived[5] : NULL));
  sshmux__buf_reset(&p);
  ASSERT_OK(sshmux__buf_put_u8(&p, SSH_MSG_NEWKEYS));
  th_send(t, p.data, p.len);
  sshmux__codec_free(t->seal);
  ASSERT_OK(sshmux__codec_new(&t->seal, cipher, aead ? NULL : mac,
                              kx.derived[2], iv_len ? kx.derived[0] : NULL,
                              mac_len ? kx.derived[4] : NULL));
  sshmux__buf_free(&ic);
  sshmux__buf_free(&p);
  sshmux__buf_free(&hb);
  sshmux__buf_free(&k);
  if (out != NULL)
    *out = kx;
  sodium_memzero(&kx, sizeof(kx));
}

void th_put_pk_request(sshmux__buf_t *b, const char *user, const char *alg,
                       const void *blob, size_t blob_len) {
  ASSERT_OK(sshmux__buf_put_u8(b, SSH_MSG_USERAUTH_REQUEST));
  ASSERT_OK(sshmux__buf_put_cstring(b, user));
  ASSERT_OK(sshmux__buf_put_cstring(b, "ssh-connection"));
  ASSERT_OK(sshmux__buf_put_cstring(b, "publickey"));
  ASSERT_OK(sshmux__buf_put_bool(b, 1));
  ASSERT_OK(sshmux__buf_put_cstring(b, alg));
  ASSERT_OK(sshmux__buf_put_string(b, blob, blob_len));
}

void th_signed_pk(sshmux__hostkey_t *key, const sshmux__buf_t *blob,
                  const char *user, const uint8_t *sid, size_t sid_len,
                  sshmux__buf_t *sd, sshmux__buf_t *ex) {
  sshmux__buf_t sig;

  sshmux__buf_init(&sig, 4096);
  ASSERT_OK(sshmux__buf_put_string(sd, sid, sid_len));
  th_put_pk_request(sd, user, "ssh-ed25519", blob->data, blob->len);
  ASSERT_OK(sshmux__hostkey_sign(key, sd->data, sd->len, &sig));
  ASSERT_OK(sshmux__buf_put_bool(ex, 1));
  ASSERT_OK(sshmux__buf_put_cstring(ex, "ssh-ed25519"));
  ASSERT_OK(sshmux__buf_put_string(ex, blob->data, blob->len));
  ASSERT_OK(sshmux__buf_put_string(ex, sig.data, sig.len));
  sshmux__buf_free(&sig);
}

sshmux__hostkey_t *th_new_key(sshmux__buf_t *blob) {
  sshmux__hostkey_t *key;

  ASSERT_OK(sshmux__hostkey_generate(&key, SSHMUX__KEY_ED25519));
  sshmux__buf_init(blob, 4096);
  ASSERT_OK(sshmux__hostkey_public_blob(key, blob));
  return key;
}
