/* server/transport.c -- the SSH transport layer of the server (RFC 4253):
 * identification exchange, the binary packet protocol on top of the codec
 * of ssh-crypto.h, KEXINIT negotiation, the ECDH exchange, NEWKEYS, strict
 * KEX (Terrapin), EXT_INFO, re-keys in both directions, and the dispatch of
 * every received message.
 *
 * Shaped after dropbear's process-packet.c: the transport-level gatekeeping
 * (what may arrive during a key exchange, before authentication, under
 * strict KEX) is done in one place, dispatch(), before any handler runs;
 * handlers are named after the message they receive (recv_msg_*).
 *
 * Output: every packet is built directly in the connection's current write
 * buffer (sshmux__pkt_begin/_end), padded, and sealed in place, so a packet
 * costs no allocation and no copy beyond the payload bytes themselves.
 * While our KEXINIT is out and our NEWKEYS is not, non-transport payloads
 * go to conn->deferred instead and are sealed after NEWKEYS (dropbear's
 * reply_queue; ssh-server.md §2.9). */
#include <string.h>

#include "core/core.h"
#include "server/server-int.h"

#define IDENT_MAX 255u
#define STRICT_MARKER_S "kex-strict-s-v00@openssh.com"
#define STRICT_MARKER_C "kex-strict-c-v00@openssh.com"
#define OUR_IDENT "SSH-2.0-sshmux_0.1"

struct sshmux__srv_kex_state {
  sshmux__buf_t i_c, i_s; /* raw KEXINIT payloads, for H */
  char kex_alg[SSHMUX__SRV_NAME_MAX], hk_alg[SSHMUX__SRV_NAME_MAX];
  char enc_in[SSHMUX__SRV_NAME_MAX], enc_out[SSHMUX__SRV_NAME_MAX];
  char mac_in[SSHMUX__SRV_NAME_MAX], mac_out[SSHMUX__SRV_NAME_MAX];
  sshmux__codec_t *next_in; /* installed at the client's NEWKEYS */
  unsigned kexinit_recv : 1;
  unsigned newkeys_sent : 1;
  unsigned ignore_next : 1; /* wrong first_kex_packet_follows guess */
};

static int send_kexinit(sshmux_server_conn_t *conn);

/* ---- output ---- */

int sshmux__pkt_begin(sshmux_server_conn_t *conn, sshmux__pkt_t *p,
                      uint8_t type) {
  int r;

  if (type >= SSH_MSG_USERAUTH_REQUEST && conn->out_kex) {
    /* Held until our NEWKEYS: bounded by the deferred buffer's cap and,
     * for a client that never answers a re-key, by time (replies follow
     * the client's input, which sshmux__transport_input refuses once the
     * re-key is overdue; the connection timer fires at the deadline). */
    p->b = &conn->deferred;
    p->deferred = 1;
    p->start = p->b->len;
    if ((r = sshmux__buf_put_u32(p->b, 0)) != 0)
      return r;
  } else {
    uint8_t *hdr;
    if (conn->out == NULL)
      return SSHMUX_ECLOSED;
    p->b = &conn->wbuf[conn->wcur];
    p->deferred = 0;
    p->start = p->b->len;
    if ((r = sshmux__buf_put_space(p->b, 5, &hdr)) != 0)
      return r;
  }
  if ((r = sshmux__buf_put_u8(p->b, type)) != 0) {
    p->b->len = p->start;
    return r;
  }
  return 0;
}

int sshmux__pkt_end(sshmux_server_conn_t *conn, sshmux__pkt_t *p) {
  sshmux__buf_t *b = p->b;
  size_t payload, block, tag, l, pad, plen;
  uint8_t *sp;
  int r;

  if (p->deferred) {
    sshmux__store_be32(b->data + p->start, (uint32_t)(b->len - p->start - 4));
    return 0;
  }
  payload = b->len - p->start - 5;
  block = sshmux__codec_block(conn->out);
  tag = sshmux__codec_tag_len(conn->out);
  /* ssh-server.md §2.2: ETM and AEAD align without the length field. */
  l = sshmux__codec_len_excluded(conn->out) ? 1 + payload : 5 + payload;
  pad = block - l % block;
  if (pad < 4)
    pad += block;
  if (5 + payload + pad < 16)
    pad += block;
  if ((r = sshmux__buf_put_space(b, pad + tag, &sp)) != 0) {
    b->len = p->start;
    return r;
  }
  sshmux__padrng_bytes(&conn->padrng, sp, pad);
  plen = 1 + payload + pad;
  sshmux__store_be32(b->data + p->start, (uint32_t)plen);
  b->data[p->start + 4] = (uint8_t)pad;
  r = sshmux__codec_seal(conn->out, conn->seq_out, b->data + p->start, 4 + plen,
                         b->data + p->start + 4 + plen);
  if (r != 0) {
    b->len = p->start;
    return r;
  }
  conn->seq_out++;
  conn->bytes_since_kex += 4 + plen + tag;
  sshmux__conn_mark_dirty(conn);
  return 0;
}

/* Send an already-built payload (the deferred queue). */
static int send_payload(sshmux_server_conn_t *conn, const uint8_t *pl,
                        size_t n) {
  sshmux__pkt_t p;
  int r;

  if (n == 0)
    return SSHMUX_EINTERNAL;
  if ((r = sshmux__pkt_begin(conn, &p, pl[0])) != 0)
    return r;
  if ((r = sshmux__buf_put_bytes(p.b, pl + 1, n - 1)) != 0) {
    p.b->len = p.start;
    return r;
  }
  return sshmux__pkt_end(conn, &p);
}

void sshmux__transport_disconnect(sshmux_server_conn_t *conn, uint32_t reason,
                                  const char *msg) {
  sshmux__pkt_t p;

  conn->disconnect_reason = (int)reason;
  if (conn->out == NULL || conn->closing)
    return;
  if (sshmux__pkt_begin(conn, &p, SSH_MSG_DISCONNECT) != 0)
    return;
  if (sshmux__buf_put_u32(p.b, reason) != 0 ||
      sshmux__buf_put_cstring(p.b, msg) != 0 ||
      sshmux__buf_put_cstring(p.b, "") != 0) {
    p.b->len = p.start;
    return;
  }
  (void)sshmux__pkt_end(conn, &p);
}

static int send_unimplemented(sshmux_server_conn_t *conn, uint32_t seq) {
  sshmux__pkt_t p;
  int r;

  if ((r = sshmux__pkt_begin(conn, &p, SSH_MSG_UNIMPLEMENTED)) != 0)
    return r;
  if ((r = sshmux__buf_put_u32(p.b, seq)) != 0)
    return r;
  return sshmux__pkt_end(conn, &p);
}

int sshmux__transport_kex_overdue(sshmux_server_conn_t *conn) {
  if (conn->closing || !conn->first_kex_done || conn->kex == NULL ||
      uv_now(conn->srv->loop) - conn->kex_start_ms <
          conn->srv->opts.kex_timeout_ms)
    return 0;
  sshmux__conn_fail(conn, SSH_DISCONNECT_KEY_EXCHANGE_FAILED,
                    "re-key not completed in time");
  return 1;
}

int sshmux__transport_can_send(const sshmux_server_conn_t *conn) {
  return conn->out != NULL && !conn->out_kex && !conn->closing &&
         conn->state == SSHMUX__CONN_OPEN;
}

/* ---- identification ---- */

int sshmux__transport_start(sshmux_server_conn_t *conn) {
  sshmux_server_t *srv = conn->srv;
  uint8_t *p;
  int r;

  /* Before any key: the "none" codec frames the first packets. */
  if ((r = sshmux__codec_new(&conn->out, "none", NULL, NULL, NULL, NULL)) != 0)
    return r;
  if ((r = sshmux__codec_new(&conn->in, "none", NULL, NULL, NULL, NULL)) != 0)
    return r;
  if ((r = sshmux__buf_put_space(&conn->wbuf[conn->wcur], strlen(OUR_IDENT) + 2,
                                 &p)) != 0)
    return r;
  memcpy(p, OUR_IDENT "\r\n", strlen(OUR_IDENT) + 2);
  (void)srv;
  conn->last_kex_ms = uv_now(conn->srv->loop);
  return send_kexinit(conn);
}

/* Returns 1 when the line was consumed, 0 when more bytes are needed, < 0
 * on a fatal error (already reported). */
static int ident_step(sshmux_server_conn_t *conn) {
  sshmux__buf_t *b = &conn->rbuf;
  const uint8_t *s = sshmux__buf_rptr(b), *nl;
  size_t avail = sshmux__buf_remaining(b), n;

  nl = memchr(s, '\n', SSHMUX__MIN(avail, IDENT_MAX));
  if (nl == NULL) {
    if (avail >= IDENT_MAX) {
      sshmux__conn_fail(conn, 0, "identification line too long");
      return -1;
    }
    return 0;
  }
  n = (size_t)(nl - s);
  b->pos += n + 1;
  if (n > 0 && s[n - 1] == '\r')
    n--;
  if (!(n >= 8 && memcmp(s, "SSH-2.0-", 8) == 0) &&
      !(n >= 9 && memcmp(s, "SSH-1.99-", 9) == 0)) {
    /* Not a client we can talk to; say so in the clear as sshd does. */
    static const char mismatch[] = "Protocol mismatch.\r\n";
    if (!conn->mem) {
      sshmux__buf_t *w = &conn->wbuf[conn->wcur];
      (void)sshmux__buf_put_bytes(w, mismatch, sizeof(mismatch) - 1);
    }
    sshmux__conn_fail(conn, 0, "client sent no SSH-2.0 identification");
    return -1;
  }
  if (memchr(s, '\0', n) != NULL) {
    sshmux__conn_fail(conn, 0, "NUL in identification");
    return -1;
  }
  conn->v_c = sshmux__strndup((const char *)s, n);
  conn->v_c_clean = sshmux__sanitize((const char *)s, n, 0);
  if (conn->v_c == NULL || conn->v_c_clean == NULL) {
    sshmux__conn_fail(conn, 0, "out of memory");
    return -1;
  }
  SSHMUX__LOG_DEBUG("server: %s:%d is \"%s\"", conn->peer, conn->peer_port,
                    conn->v_c_clean);
  conn->state = SSHMUX__CONN_KEX;
  return 1;
}

/* ---- key exchange ---- */

static void kex_free(sshmux__srv_kex_state_t *kex) {
  if (kex == NULL)
    return;
  sshmux__buf_free(&kex->i_c);
  sshmux__buf_free(&kex->i_s);
  sshmux__codec_free(kex->next_in);
  sshmux__free(kex);
}

/* Host key algorithms we can serve, in preference order. */
static void hostkey_list(const sshmux_server_conn_t *conn, char *out,
                         size_t outsz) {
  size_t i;

  out[0] = '\0';
  for (i = 0; i < SSHMUX__ARRAY_SIZE(conn->srv->keys); i++) {
    if (conn->srv->keys[i] == NULL)
      continue;
    if (out[0] != '\0')
      strncat(out, ",", outsz - strlen(out) - 1);
    strncat(out, sshmux__hostkey_alg(conn->srv->keys[i]),
            outsz - strlen(out) - 1);
  }
}

static sshmux__hostkey_t *hostkey_by_alg(const sshmux_server_conn_t *conn,
                                         const char *alg) {
  size_t i;

  for (i = 0; i < SSHMUX__ARRAY_SIZE(conn->srv->keys); i++)
    if (conn->srv->keys[i] != NULL &&
        strcmp(sshmux__hostkey_alg(conn->srv->keys[i]), alg) == 0)
      return conn->srv->keys[i];
  return NULL;
}

/* Send our KEXINIT, starting a key exchange (ssh-server.md §1.3). */
static int send_kexinit(sshmux_server_conn_t *conn) {
  sshmux__srv_kex_state_t *kex;
  char hk[128];
  uint8_t cookie[16];
  sshmux__pkt_t p;
  sshmux__buf_t *b;
  int r, i;

  if (conn->kex == NULL) {
    kex = sshmux__calloc(1, sizeof(*kex));
    if (kex == NULL)
      return SSHMUX_ENOMEM;
    sshmux__buf_init(&kex->i_c, SSHMUX__SRV_IN_PACKET_MAX);
    sshmux__buf_init(&kex->i_s, 4096);
    conn->kex = kex;
    conn->kex_start_ms = uv_now(conn->srv->loop);
    if (conn->first_kex_done)
      conn->srv->ops->kex_started(conn);
  }
  kex = conn->kex;
  hostkey_list(conn, hk, sizeof(hk));
  sshmux__random(cookie, sizeof(cookie));
  if ((r = sshmux__pkt_begin(conn, &p, SSH_MSG_KEXINIT)) != 0)
    return r;
  b = p.b;
  if ((r = sshmux__buf_put_bytes(b, cookie, 16)) != 0 ||
      (r = sshmux__buf_put_cstring(b, conn->first_kex_done ? SSHMUX__KEX_ALGS
                                                           : SSHMUX__KEX_ALGS
                                          "," STRICT_MARKER_S)) != 0 ||
      (r = sshmux__buf_put_cstring(b, hk)) != 0 ||
      (r = sshmux__buf_put_cstring(b, SSHMUX__CIPHER_ALGS)) != 0 ||
      (r = sshmux__buf_put_cstring(b, SSHMUX__CIPHER_ALGS)) != 0 ||
      (r = sshmux__buf_put_cstring(b, SSHMUX__MAC_ALGS)) != 0 ||
      (r = sshmux__buf_put_cstring(b, SSHMUX__MAC_ALGS)) != 0 ||
      (r = sshmux__buf_put_cstring(b, "none")) != 0 ||
      (r = sshmux__buf_put_cstring(b, "none")) != 0)
    return r;
  for (i = 0; i < 2; i++)
    if ((r = sshmux__buf_put_cstring(b, "")) != 0)
      return r;
  if ((r = sshmux__buf_put_bool(b, 0)) != 0 ||
      (r = sshmux__buf_put_u32(b, 0)) != 0)
    return r;
  /* I_S is the payload exactly as sent. */
  sshmux__buf_reset(&kex->i_s);
  if ((r = sshmux__buf_put_bytes(&kex->i_s, b->data + p.start + 5,
                                 b->len - p.start - 5)) != 0)
    return r;
  if ((r = sshmux__pkt_end(conn, &p)) != 0)
    return r;
  conn->out_kex = 1;
  return 0;
}

void sshmux__transport_check_rekey(sshmux_server_conn_t *conn, int force) {
  sshmux_server_t *srv = conn->srv;
  uint64_t now;

  if (!conn->first_kex_done || conn->kex != NULL || conn->closing ||
      conn->out == NULL)
    return;
  now = uv_now(srv->loop);
  if (!force && conn->bytes_since_kex < srv->rekey_bytes &&
      now - conn->last_kex_ms < srv->rekey_seconds * 1000)
    return;
  SSHMUX__LOG_DEBUG("server: %s:%d re-key (%llu bytes, %llu ms)", conn->peer,
                    conn->peer_port, (unsigned long long)conn->bytes_since_kex,
                    (unsigned long long)(now - conn->last_kex_ms));
  if (send_kexinit(conn) != 0)
    sshmux__conn_fail(conn, SSH_DISCONNECT_KEY_EXCHANGE_FAILED,
                      "cannot start re-key");
}

/* The first name of a name-list equals name? */
static int first_name_is(const uint8_t *nl, size_t n, const char *name) {
  size_t i = 0, len = strlen(name);

  while (i < n && nl[i] != ',')
    i++;
  return i == len && memcmp(nl, name, len) == 0;
}

static int recv_msg_kexinit(sshmux_server_conn_t *conn, const uint8_t *pl,
                            size_t n, uint32_t seq) {
  const uint8_t *lists[10];
  size_t lens[10];
  const uint8_t *cookie;
  sshmux__srv_kex_state_t *kex;
  sshmux__buf_t b;
  char ours[128];
  int follows, r, i, first = !conn->first_kex_done;
  uint32_t reserved;
  size_t kl, il, ml;

  if (conn->kex != NULL && conn->kex->kexinit_recv) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_PROTOCOL_ERROR,
                      "unexpected KEXINIT");
    return SSHMUX_EPROTO;
  }
  sshmux__buf_view(&b, pl, n);
  b.pos = 1;
  if (sshmux__buf_get_bytes(&b, 16, &cookie) != 0)
    goto bad;
  for (i = 0; i < 10; i++)
    if (sshmux__buf_get_namelist(&b, 4096, &lists[i], &lens[i]) != 0)
      goto bad;
  if (sshmux__buf_get_bool(&b, &follows) != 0 ||
      sshmux__buf_get_u32(&b, &reserved) != 0)
    goto bad;
  if (first) {
    /* Pseudo-algorithms count only in the first KEXINIT (§2.3). */
    conn->strict = sshmux__namelist_has(lists[0], lens[0], STRICT_MARKER_C);
    conn->ext_info_c = sshmux__namelist_has(lists[0], lens[0], "ext-info-c");
    if (conn->strict && seq != 0) {
      sshmux__conn_fail(conn, SSH_DISCONNECT_PROTOCOL_ERROR,
                        "strict KEX: KEXINIT was not the first packet");
      return SSHMUX_EPROTO;
    }
  }
  if (conn->kex == NULL) {
    /* The client starts a re-key: answer with ours at once (§2.9). */
    if ((r = send_kexinit(conn)) != 0) {
      sshmux__conn_fail(conn, SSH_DISCONNECT_KEY_EXCHANGE_FAILED,
                        "cannot send KEXINIT");
      return r;
    }
  }
  kex = conn->kex;
  kex->kexinit_recv = 1;
  sshmux__buf_reset(&kex->i_c);
  if ((r = sshmux__buf_put_bytes(&kex->i_c, pl, n)) != 0) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_KEY_EXCHANGE_FAILED, "oom");
    return r;
  }
  hostkey_list(conn, ours, sizeof(ours));
  kl = SSHMUX__ARRAY_SIZE(kex->kex_alg);
  if (sshmux__namelist_negotiate(lists[0], lens[0], SSHMUX__KEX_ALGS,
                                 kex->kex_alg, kl) != 0 ||
      sshmux__namelist_negotiate(lists[1], lens[1], ours, kex->hk_alg, kl) !=
          0 ||
      sshmux__namelist_negotiate(lists[2], lens[2], SSHMUX__CIPHER_ALGS,
                                 kex->enc_in, kl) != 0 ||
      sshmux__namelist_negotiate(lists[3], lens[3], SSHMUX__CIPHER_ALGS,
                                 kex->enc_out, kl) != 0 ||
      !sshmux__namelist_has(lists[6], lens[6], "none") ||
      !sshmux__namelist_has(lists[7], lens[7], "none")) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_KEY_EXCHANGE_FAILED,
                      "no matching algorithm");
    return SSHMUX_ENOALGO;
  }
  /* AEAD ciphers carry their own integrity: no MAC is negotiated. */
  il = SSHMUX__ARRAY_SIZE(kex->mac_in);
  ml = SSHMUX__ARRAY_SIZE(kex->mac_out);
  kex->mac_in[0] = kex->mac_out[0] = '\0';
  if ((!sshmux__cipher_is_aead(kex->enc_in) &&
       sshmux__namelist_negotiate(lists[4], lens[4], SSHMUX__MAC_ALGS,
                                  kex->mac_in, il) != 0) ||
      (!sshmux__cipher_is_aead(kex->enc_out) &&
       sshmux__namelist_negotiate(lists[5], lens[5], SSHMUX__MAC_ALGS,
                                  kex->mac_out, ml) != 0)) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_KEY_EXCHANGE_FAILED,
                      "no matching MAC algorithm");
    return SSHMUX_ENOALGO;
  }
  if (follows) {
    /* The guess is right iff both first names match ours (§2.3, RFC 4253
     * §7.1, OpenSSH's proposals_match): curve25519-sha256@libssh.org
     * first is a wrong guess however alike the names, and the client,
     * applying the same rule, sends its ECDH_INIT again. */
    char ourfirst[SSHMUX__SRV_NAME_MAX], kexfirst[SSHMUX__SRV_NAME_MAX];
    const char *kc = strchr(SSHMUX__KEX_ALGS, ',');
    size_t kfl =
        kc ? (size_t)(kc - SSHMUX__KEX_ALGS) : strlen(SSHMUX__KEX_ALGS);
    snprintf(kexfirst, sizeof(kexfirst), "%.*s", (int)kfl, SSHMUX__KEX_ALGS);
    const char *comma = strchr(ours, ',');
    size_t fl = comma ? (size_t)(comma - ours) : strlen(ours);
    memcpy(ourfirst, ours, SSHMUX__MIN(fl, sizeof(ourfirst) - 1));
    ourfirst[SSHMUX__MIN(fl, sizeof(ourfirst) - 1)] = '\0';
    if (!first_name_is(lists[0], lens[0], kexfirst) ||
        !first_name_is(lists[1], lens[1], ourfirst))
      kex->ignore_next = 1;
  }
  SSHMUX__LOG_DEBUG("server: kex %s, host key %s, in %s %s, out %s %s%s",
                    kex->kex_alg, kex->hk_alg, kex->enc_in, kex->mac_in,
                    kex->enc_out, kex->mac_out, conn->strict ? ", strict" : "");
  return 0;
bad:
  sshmux__conn_fail(conn, SSH_DISCONNECT_PROTOCOL_ERROR, "malformed KEXINIT");
  return SSHMUX_EPROTO;
}

/* Derive one direction's keys and make its codec. */
static int make_codec(const uint8_t *k, size_t klen, const uint8_t *h,
                      size_t hlen, const uint8_t *sid, size_t sidlen,
                      sshmux__hash_alg_t ha, const char *enc, const char *mac,
                      char iv_l, char key_l, char mac_l,
                      sshmux__codec_t **out) {
  uint8_t key[64], iv[64], mkey[128];
  size_t key_len, iv_len, mac_len = 0;
  int r, aead = sshmux__cipher_is_aead(enc);

  if ((r = sshmux__cipher_sizes(enc, &key_len, &iv_len)) != 0)
    return r;
  if (!aead && (r = sshmux__mac_key_len(mac, &mac_len)) != 0)
    return r;
  if (key_len > sizeof(key) || iv_len > sizeof(iv) || mac_len > sizeof(mkey))
    return SSHMUX_EINTERNAL;
  if ((iv_len && (r = sshmux__kex_derive(ha, k, klen, h, hlen, sid, sidlen,
                                         iv_l, iv, iv_len)) != 0) ||
      (r = sshmux__kex_derive(ha, k, klen, h, hlen, sid, sidlen, key_l, key,
                              key_len)) != 0 ||
      (mac_len && (r = sshmux__kex_derive(ha, k, klen, h, hlen, sid, sidlen,
                                          mac_l, mkey, mac_len)) != 0))
    goto out;
  r = sshmux__codec_new(out, enc, aead ? NULL : mac, key, iv_len ? iv : NULL,
                        mac_len ? mkey : NULL);
out:
  sshmux__wipe(key, sizeof(key));
  sshmux__wipe(iv, sizeof(iv));
  sshmux__wipe(mkey, sizeof(mkey));
  return r;
}

static int flush_deferred(sshmux_server_conn_t *conn) {
  sshmux__buf_t *d = &conn->deferred;
  int r;

  while (sshmux__buf_remaining(d) >= 4) {
    uint32_t len;
    const uint8_t *pl;
    if (sshmux__buf_get_u32(d, &len) != 0 ||
        sshmux__buf_get_bytes(d, len, &pl) != 0)
      return SSHMUX_EINTERNAL;
    if ((r = send_payload(conn, pl, len)) != 0)
      return r;
  }
  sshmux__buf_reset(d);
  return 0;
}

static int send_ext_info(sshmux_server_conn_t *conn) {
  sshmux__pkt_t p;
  int r;

  if ((r = sshmux__pkt_begin(conn, &p, SSH_MSG_EXT_INFO)) != 0)
    return r;
  if ((r = sshmux__buf_put_u32(p.b, 1)) != 0 ||
      (r = sshmux__buf_put_cstring(p.b, "server-sig-algs")) != 0 ||
      (r = sshmux__buf_put_cstring(p.b, SSHMUX__SIG_ALGS)) != 0)
    return r;
  return sshmux__pkt_end(conn, &p);
}

static int recv_msg_kex_ecdh_init(sshmux_server_conn_t *conn, const uint8_t *pl,
                                  size_t n) {
  sshmux__srv_kex_state_t *kex = conn->kex;
  sshmux__kex_t *ke = NULL;
  sshmux__hostkey_t *hk;
  sshmux__buf_t b, q_s, k, ks, hb, sig;
  const uint8_t *q_c;
  size_t q_c_len, hlen;
  uint8_t h[SSHMUX__HASH_MAX];
  sshmux__codec_t *nout = NULL;
  sshmux__hash_alg_t ha;
  sshmux__pkt_t p;
  const char *why = "key exchange failed";
  int r;

  if (kex == NULL || !kex->kexinit_recv || kex->newkeys_sent) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_PROTOCOL_ERROR,
                      "unexpected KEX_ECDH_INIT");
    return SSHMUX_EPROTO;
  }
  sshmux__buf_view(&b, pl, n);
  b.pos = 1;
  if (sshmux__buf_get_string(&b, 256, &q_c, &q_c_len) != 0) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_PROTOCOL_ERROR,
                      "malformed KEX_ECDH_INIT");
    return SSHMUX_EPROTO;
  }
  hk = hostkey_by_alg(conn, kex->hk_alg);
  sshmux__buf_init(&q_s, 1024);
  sshmux__buf_init(&k, 1024);
  sshmux__buf_set_secret(&k);
  sshmux__buf_init(&ks, 4096);
  sshmux__buf_init(&hb, SSHMUX__SRV_IN_PACKET_MAX + 16384);
  sshmux__buf_set_secret(&hb); /* the exchange-hash input ends with K */
  sshmux__buf_init(&sig, 4096);
  if (hk == NULL) {
    r = SSHMUX_EINTERNAL;
    goto out;
  }
  if ((r = sshmux__kex_new(&ke, kex->kex_alg)) != 0)
    goto out;
  ha = sshmux__kex_hash_alg(ke);
  hlen = sshmux__hash_len(ha);
  if ((r = sshmux__kex_compute(ke, q_c, q_c_len, &q_s, &k)) != 0) {
    why = "bad ephemeral key";
    goto out;
  }
  if ((r = sshmux__hostkey_public_blob(hk, &ks)) != 0)
    goto out;
  /* H = HASH(V_C, V_S, I_C, I_S, K_S, Q_C, Q_S, K) (§2.4). */
  if ((r = sshmux__buf_put_cstring(&hb, conn->v_c)) != 0 ||
      (r = sshmux__buf_put_cstring(&hb, OUR_IDENT)) != 0 ||
      (r = sshmux__buf_put_string(&hb, kex->i_c.data, kex->i_c.len)) != 0 ||
      (r = sshmux__buf_put_string(&hb, kex->i_s.data, kex->i_s.len)) != 0 ||
      (r = sshmux__buf_put_string(&hb, ks.data, ks.len)) != 0 ||
      (r = sshmux__buf_put_string(&hb, q_c, q_c_len)) != 0 ||
      (r = sshmux__buf_put_string(&hb, q_s.data, q_s.len)) != 0 ||
      (r = sshmux__buf_put_bytes(&hb, k.data, k.len)) != 0)
    goto out;
  if ((r = sshmux__hash(ha, hb.data, hb.len, h)) != 0)
    goto out;
  if (!conn->first_kex_done) {
    memcpy(conn->session_id, h, hlen);
    conn->session_id_len = hlen;
  }
  if ((r = sshmux__hostkey_sign(hk, h, hlen, &sig)) != 0)
    goto out;
  /* The server receives with A/C/E and sends with B/D/F (§2.5). */
  if ((r = make_codec(k.data, k.len, h, hlen, conn->session_id,
                      conn->session_id_len, ha, kex->enc_in, kex->mac_in, 'A',
                      'C', 'E', &kex->next_in)) != 0 ||
      (r = make_codec(k.data, k.len, h, hlen, conn->session_id,
                      conn->session_id_len, ha, kex->enc_out, kex->mac_out, 'B',
                      'D', 'F', &nout)) != 0)
    goto out;
  if ((r = sshmux__pkt_begin(conn, &p, SSH_MSG_KEX_ECDH_REPLY)) != 0 ||
      (r = sshmux__buf_put_string(p.b, ks.data, ks.len)) != 0 ||
      (r = sshmux__buf_put_string(p.b, q_s.data, q_s.len)) != 0 ||
      (r = sshmux__buf_put_string(p.b, sig.data, sig.len)) != 0 ||
      (r = sshmux__pkt_end(conn, &p)) != 0)
    goto out;
  /* NEWKEYS under the old keys, then everything under the new ones. */
  if ((r = sshmux__pkt_begin(conn, &p, SSH_MSG_NEWKEYS)) != 0 ||
      (r = sshmux__pkt_end(conn, &p)) != 0)
    goto out;
  sshmux__codec_free(conn->out);
  conn->out = nout;
  nout = NULL;
  if (conn->strict)
    conn->seq_out = 0;
  kex->newkeys_sent = 1;
  conn->out_kex = 0;
  if (!conn->first_kex_done && conn->ext_info_c &&
      (r = send_ext_info(conn)) != 0)
    goto out;
  r = flush_deferred(conn);
out:
  sshmux__kex_free(ke);
  sshmux__codec_free(nout);
  sshmux__wipe(h, sizeof(h));
  sshmux__buf_free(&q_s);
  sshmux__buf_free(&k);
  sshmux__buf_free(&ks);
  sshmux__buf_free(&hb);
  sshmux__buf_free(&sig);
  if (r != 0) {
    SSHMUX__LOG_INFO("server: %s:%d key exchange failed: %s", conn->peer,
                     conn->peer_port, sshmux_strerror(r));
    sshmux__conn_fail(conn, SSH_DISCONNECT_KEY_EXCHANGE_FAILED, why);
  }
  return r;
}

static int recv_msg_newkeys(sshmux_server_conn_t *conn) {
  sshmux__srv_kex_state_t *kex = conn->kex;

  if (kex == NULL || !kex->newkeys_sent || kex->next_in == NULL) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_PROTOCOL_ERROR,
                      "unexpected NEWKEYS");
    return SSHMUX_EPROTO;
  }
  sshmux__codec_free(conn->in);
  conn->in = kex->next_in;
  kex->next_in = NULL;
  if (conn->strict)
    conn->seq_in = 0;
  kex_free(kex);
  conn->kex = NULL;
  conn->bytes_since_kex = 0;
  conn->last_kex_ms = uv_now(conn->srv->loop);
  if (!conn->first_kex_done) {
    conn->first_kex_done = 1;
    conn->state = SSHMUX__CONN_AUTH;
  }
  /* Channels held back during the exchange may send again. */
  sshmux__conn_mark_dirty(conn);
  return 0;
}

/* ---- dispatch ---- */

static void recv_msg_disconnect(sshmux_server_conn_t *conn, const uint8_t *pl,
                                size_t n) {
  sshmux__buf_t b;
  uint32_t reason = 0;
  const uint8_t *msg = NULL;
  size_t ml = 0;
  char *clean;

  sshmux__buf_view(&b, pl, n);
  b.pos = 1;
  (void)sshmux__buf_get_u32(&b, &reason);
  (void)sshmux__buf_get_string(&b, 1024, &msg, &ml);
  clean = sshmux__sanitize(msg ? (const char *)msg : "", ml, 0);
  SSHMUX__LOG_DEBUG("server: %s:%d disconnected (%u: %s)", conn->peer,
                    conn->peer_port, reason, clean ? clean : "");
  sshmux__free(clean);
  conn->last_error = SSHMUX_EDISCONNECTED;
  sshmux__conn_fail(conn, -1, NULL);
}

/* The transport's gatekeeping, then the handler (dropbear's
 * process_packet).  Returns < 0 when the connection is failing. */
static int dispatch(sshmux_server_conn_t *conn, const uint8_t *pl, size_t n,
                    uint32_t seq) {
  sshmux__srv_kex_state_t *kex = conn->kex;
  uint8_t type = pl[0];
  sshmux__buf_t b;
  int r;

  if (kex != NULL && kex->ignore_next) {
    /* A wrong first_kex_packet_follows guess: drop exactly one packet. */
    kex->ignore_next = 0;
    return 0;
  }
  if (!conn->first_kex_done) {
    /* Only the key exchange itself, in order; under strict KEX not even
     * IGNORE/DEBUG (§2.8). */
    int ok =
        (type == SSH_MSG_KEXINIT && (kex == NULL || !kex->kexinit_recv)) ||
        (type == SSH_MSG_KEX_ECDH_INIT && kex && kex->kexinit_recv &&
         !kex->newkeys_sent) ||
        (type == SSH_MSG_NEWKEYS && kex && kex->newkeys_sent) ||
        type == SSH_MSG_DISCONNECT ||
        (!conn->strict && (type == SSH_MSG_IGNORE || type == SSH_MSG_DEBUG ||
                           type == SSH_MSG_UNIMPLEMENTED));
    if (!ok) {
      sshmux__conn_fail(conn, SSH_DISCONNECT_PROTOCOL_ERROR,
                        "unexpected message during key exchange");
      return SSHMUX_EPROTO;
    }
  }
  switch (type) {
  case SSH_MSG_DISCONNECT:
    recv_msg_disconnect(conn, pl, n);
    return SSHMUX_EDISCONNECTED;
  case SSH_MSG_IGNORE:
  case SSH_MSG_DEBUG:
  case SSH_MSG_EXT_INFO: /* we never asked for one: ignore (§2.6) */
    return 0;
  case SSH_MSG_UNIMPLEMENTED:
    SSHMUX__LOG_DEBUG("server: %s:%d says UNIMPLEMENTED", conn->peer,
                      conn->peer_port);
    return 0;
  case SSH_MSG_KEXINIT:
    return recv_msg_kexinit(conn, pl, n, seq);
  case SSH_MSG_KEX_ECDH_INIT:
    return recv_msg_kex_ecdh_init(conn, pl, n);
  case SSH_MSG_NEWKEYS:
    return recv_msg_newkeys(conn);
  default:
    break;
  }
  if (kex != NULL && kex->kexinit_recv) {
    /* Between the client's KEXINIT and its NEWKEYS only KEX messages. */
    sshmux__conn_fail(conn, SSH_DISCONNECT_PROTOCOL_ERROR,
                      "unexpected message during key exchange");
    return SSHMUX_EPROTO;
  }
  sshmux__buf_view(&b, pl, n);
  b.pos = 1;
  if (type == SSH_MSG_SERVICE_REQUEST)
    return conn->srv->ops->service_request(conn, &b);
  if (type == SSH_MSG_USERAUTH_REQUEST)
    return conn->srv->ops->userauth(conn, &b, pl, n);
  if (type >= 60 && type <= 79 && conn->srv->ops->userauth_info != NULL &&
      conn->state == SSHMUX__CONN_AUTH)
    return conn->srv->ops->userauth_info(conn, type, &b);
  if (type >= SSH_MSG_GLOBAL_REQUEST && type <= 127) {
    if (conn->state != SSHMUX__CONN_OPEN) {
      sshmux__conn_fail(conn, SSH_DISCONNECT_PROTOCOL_ERROR,
                        "connection message before authentication");
      return SSHMUX_EPROTO;
    }
    if (type == SSH_MSG_GLOBAL_REQUEST)
      return conn->srv->ops->global_request(conn, &b);
    if (type >= SSH_MSG_CHANNEL_OPEN && type <= SSH_MSG_CHANNEL_FAILURE)
      return conn->srv->ops->channel(conn, type, &b);
  }
  /* Unknown message number: UNIMPLEMENTED with its sequence number. */
  if ((r = send_unimplemented(conn, seq)) != 0) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_BY_APPLICATION, "out of memory");
    return r;
  }
  return 0;
}

size_t sshmux__transport_in_limit(const sshmux_server_conn_t *conn) {
  return conn->state == SSHMUX__CONN_OPEN ? SSHMUX__SRV_IN_PACKET_MAX
                                          : conn->srv->opts.preauth_packet_max;
}

/* One packet: 1 processed, 0 incomplete, < 0 failed. */
static int packet_step(sshmux_server_conn_t *conn) {
  sshmux__buf_t *b = &conn->rbuf;
  uint8_t *pkt = b->data + b->pos;
  size_t avail = sshmux__buf_remaining(b), tag, block, total;
  uint32_t len, seq;
  uint8_t pad;
  int r;

  if (!conn->in_have_len) {
    size_t first = sshmux__codec_first_len(conn->in);
    if (avail < first)
      return 0;
    if (sshmux__codec_open_length(conn->in, conn->seq_in, pkt, &len) != 0)
      goto badlen;
    block = sshmux__codec_block(conn->in);
    if (len > sshmux__transport_in_limit(conn) || len < 6 ||
        4 + (size_t)len < first)
      goto badlen;
    if ((sshmux__codec_len_excluded(conn->in) ? len : len + 4) % block != 0)
      goto badlen;
    conn->in_len = len;
    conn->in_have_len = 1;
  }
  len = conn->in_len;
  tag = sshmux__codec_tag_len(conn->in);
  total = 4 + (size_t)len + tag;
  if (avail < total)
    return 0;
  r = sshmux__codec_open(conn->in, conn->seq_in, pkt, 4 + (size_t)len,
                         pkt + 4 + len);
  if (r != 0) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_MAC_ERROR,
                      "message authentication "
                      "failed");
    return SSHMUX_EMAC;
  }
  pad = pkt[4];
  if (pad < 4 || (size_t)pad > (size_t)len - 2) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_PROTOCOL_ERROR, "bad padding");
    return SSHMUX_EPROTO;
  }
  b->pos += total;
  conn->in_have_len = 0;
  seq = conn->seq_in++;
  conn->packets_in++;
  conn->bytes_since_kex += total;
  if (!conn->first_kex_done && conn->seq_in == 0) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_PROTOCOL_ERROR,
                      "sequence number wrapped during initial KEX");
    return SSHMUX_EPROTO;
  }
  r = dispatch(conn, pkt + 5, (size_t)len - 1 - pad, seq);
  return r < 0 ? r : 1;
badlen:
  sshmux__conn_fail(conn, SSH_DISCONNECT_PROTOCOL_ERROR, "bad packet length");
  return SSHMUX_EPROTO;
}

void sshmux__transport_input(sshmux_server_conn_t *conn) {
  int r;

  sshmux__conn_ref(conn);
  (void)sshmux__transport_kex_overdue(conn);
  while (!conn->closing) {
    if (!conn->mem && sshmux__conn_out_queued(conn) > SSHMUX__SRV_IN_PAUSE) {
      /* The client does not read: stop reading it too (server.c resumes
       * when the writes drain). */
      if (!conn->read_paused) {
        conn->read_paused = 1;
        uv_read_stop((uv_stream_t *)&conn->tcp);
      }
      break;
    }
    if (conn->state == SSHMUX__CONN_IDENT)
      r = ident_step(conn);
    else
      r = packet_step(conn);
    if (r <= 0)
      break;
    conn->srv->ops->reap(conn);
  }
  if (!conn->closing)
    sshmux__transport_check_rekey(conn, 0);
  /* A drained read buffer is released (an idle session holds none); one
   * holding a partial packet -- the bulk case -- keeps its storage. */
  if (sshmux__buf_remaining(&conn->rbuf) == 0 && !conn->read_paused)
    sshmux__buf_free(&conn->rbuf);
  else
    sshmux__buf_compact(&conn->rbuf);
  sshmux__conn_unref(conn);
}

int sshmux__conn_input(sshmux_server_conn_t *conn, const void *p, size_t n) {
  int r;

  if (conn->closing)
    return SSHMUX_ECLOSED;
  while (n > 0) {
    size_t chunk = SSHMUX__MIN(n, (size_t)65536), room;
    sshmux__conn_rbuf_limit(conn);
    room = conn->rbuf.max - conn->rbuf.len;
    if (room == 0)
      return SSHMUX_ETOOLONG;
    chunk = SSHMUX__MIN(chunk, room);
    if ((r = sshmux__buf_put_bytes(&conn->rbuf, p, chunk)) != 0)
      return r;
    p = (const uint8_t *)p + chunk;
    n -= chunk;
    sshmux__transport_input(conn);
    if (conn->closing)
      return SSHMUX_ECLOSED;
  }
  return 0;
}

void sshmux__transport_free(sshmux_server_conn_t *conn) {
  kex_free(conn->kex);
  conn->kex = NULL;
  sshmux__codec_free(conn->in);
  sshmux__codec_free(conn->out);
  conn->in = conn->out = NULL;
  sshmux__buf_free(&conn->deferred);
  sshmux__free(conn->v_c);
  sshmux__free(conn->v_c_clean);
  conn->v_c = conn->v_c_clean = NULL;
}

const char *sshmux__transport_alg(const sshmux_server_conn_t *conn, int which) {
  const sshmux__srv_kex_state_t *k = conn->kex;

  if (k == NULL || !k->kexinit_recv)
    return NULL;
  switch (which) {
  case 0:
    return k->kex_alg;
  case 1:
    return k->hk_alg;
  case 2:
    return k->enc_in;
  case 3:
    return k->enc_out;
  case 4:
    return k->mac_in;
  case 5:
    return k->mac_out;
  default:
    return NULL;
  }
}

int sshmux__conn_test_shortcut(sshmux_server_conn_t *conn, const char *user) {
  kex_free(conn->kex);
  conn->kex = NULL;
  conn->out_kex = 0;
  sshmux__buf_reset(&conn->wbuf[0]);
  sshmux__buf_reset(&conn->wbuf[1]);
  conn->seq_in = conn->seq_out = 0;
  conn->first_kex_done = 1;
  conn->service_ok = 1;
  conn->state = user ? SSHMUX__CONN_OPEN : SSHMUX__CONN_AUTH;
  memset(conn->session_id, 0x5a, 32);
  conn->session_id_len = 32;
  if (conn->v_c == NULL)
    conn->v_c = sshmux__strdup("SSH-2.0-test");
  if (user != NULL) {
    conn->user = sshmux__strdup(user);
    if (conn->user == NULL)
      return SSHMUX_ENOMEM;
  }
  return conn->v_c ? 0 : SSHMUX_ENOMEM;
}

/* ---- the read buffer follows the stage's packet limit ---- */

void sshmux__conn_rbuf_limit(sshmux_server_conn_t *conn) {
  conn->rbuf.max =
      sshmux__transport_in_limit(conn) + (conn->state == SSHMUX__CONN_OPEN
                                              ? SSHMUX__SRV_RBUF_SLACK
                                              : SSHMUX__SRV_RBUF_SLACK_PREAUTH);
  /* Never below what is already held (the limit only rises in practice:
   * authentication, or an embedder raising preauth_packet_max). */
  if (conn->rbuf.max < conn->rbuf.cap)
    conn->rbuf.max = conn->rbuf.cap;
}
