/* test-server-proto.c -- the server's protocol engine driven in memory:
 * authorized_keys parsing, identification, KEXINIT negotiation, strict KEX,
 * the first_kex_packet_follows guess, packet framing edge cases (bad
 * padding, oversize and misaligned lengths, bad MAC), UNIMPLEMENTED,
 * publickey authentication (query, signed request, limits), channels
 * (asynchronous open and requests with ordered replies, windows both ways,
 * pause/resume, EOF/exit/CLOSE order), global requests, and listening again
 * after a failed listen; `closed` without `authed`. */
#include <stdlib.h>
#include <string.h>

#include "server-harness.h"

/* ---- helpers ---- */

static void send_kexinit(th_t *t, const char *kex, const char *hk,
                         const char *enc, const char *mac, int follows) {
  sshmux__buf_t b;
  sshmux__buf_init(&b, 4096);
  th_put_kexinit(&b, kex, hk, enc, mac, follows);
  th_send(t, b.data, b.len);
  sshmux__buf_free(&b);
}

static void send_ecdh_init(th_t *t) {
  uint8_t q[32];
  sshmux__buf_t b;
  sshmux__random(q, sizeof(q));
  sshmux__buf_init(&b, 128);
  ASSERT_OK(sshmux__buf_put_u8(&b, SSH_MSG_KEX_ECDH_INIT));
  ASSERT_OK(sshmux__buf_put_string(&b, q, sizeof(q)));
  th_send(t, b.data, b.len);
  sshmux__buf_free(&b);
}

static void send_ident(th_t *t) {
  static const char id[] = "SSH-2.0-harness\r\n";
  th_send_raw(t, id, sizeof(id) - 1);
}

/* A message: type, then u32 fields, then string fields (NULL ends). */
static void send_msg(th_t *t, uint8_t type, int nu32, const uint32_t *u,
                     const char *const *strs) {
  sshmux__buf_t b;
  int i;
  sshmux__buf_init(&b, 65536);
  ASSERT_OK(sshmux__buf_put_u8(&b, type));
  for (i = 0; i < nu32; i++)
    ASSERT_OK(sshmux__buf_put_u32(&b, u[i]));
  for (i = 0; strs && strs[i]; i++)
    ASSERT_OK(sshmux__buf_put_cstring(&b, strs[i]));
  th_send(t, b.data, b.len);
  sshmux__buf_free(&b);
}

/* th_init (handshake, not authenticated), the client's identification
 * and its KEXINIT. */
static void kex_start(th_t *t, const char *kex, const char *hk, const char *enc,
                      const char *mac, int follows) {
  th_init(t, NULL, 0, NULL);
  send_ident(t);
  send_kexinit(t, kex, hk, enc, mac, follows);
}

/* In a test: the connection is closing (with DISCONNECT reason, unless
 * reason is 0); then th_free. */
#define ASSERT_CLOSED_FREE(t, reason)                                          \
  do {                                                                         \
    ASSERT(th_closed(t));                                                      \
    if ((reason) != 0)                                                         \
      ASSERT_EQ((t)->conn->disconnect_reason, (reason));                       \
    th_free(t);                                                                \
  } while (0)

#define ALL_CIPHERS SSHMUX__CIPHER_ALGS
#define ALL_MACS SSHMUX__MAC_ALGS

/* ---- authorized_keys ---- */

TEST_IMPL(server_authkeys_parse) {
  static const uint8_t blob[] = {
      0,   0,   0,  11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5',
      '1', '9', 0,  0,  0,   32,  1,   2,   3,   4,   5,   6,   7,
      8,   9,   10, 11, 12,  13,  14,  15,  16,  17,  18,  19,  20,
      21,  22,  23, 24, 25,  26,  27,  28,  29,  30,  31,  32};
  static const uint8_t other[sizeof(blob)] = {0,   0,   0,   11,  's', 's', 'h',
                                              '-', 'e', 'd', '2', '5', '5', '1',
                                              '9', 0,   0,   0,   32,  9};
  /* Each text with K for blob's base64 and O for other's; match is what
   * sshmux__authkeys_match must say, and then flags must equal `flags`
   * (exact) or hold at least those bits. */
  static const struct {
    const char *text;
    int match, exact;
    unsigned flags;
  } cases[] = {
      /* Plain, with comments, blank lines and CRLF. */
      {"# a comment\n\n   \nssh-ed25519 O other@host\r\nssh-ed25519 K "
       "me@host\n",
       1, 1, 0},
      /* Not listed. */
      {"ssh-ed25519 O\n", 0, 0, 0},
      /* Honoured options become flags. */
      {"no-pty,No-Port-Forwarding ssh-ed25519 K\n", 1, 1,
       SSHMUX__AK_NO_PTY | SSHMUX__AK_NO_PORT_FWD},
      {"restrict ssh-ed25519 K\n", 1, 0, SSHMUX__AK_NO_AGENT_FWD},
      /* Options we do not honour refuse the key, even with a quoted comma
       * and space in the value; the first line naming the key decides. */
      {"command=\"echo a, b\",no-pty ssh-ed25519 K\nssh-ed25519 K\n", 0, 0, 0},
      {"from=\"127.0.0.1\" ssh-ed25519 K\n", 0, 0, 0},
      {"restrict,pty ssh-ed25519 K\n", 0, 0, 0},
      /* A malformed line is skipped; a later good one still counts. */
      {"command=\"unterminated ssh-ed25519 K\nssh-ed25519 !!!!\n"
       "ssh-ed25519 K\n",
       1, 0, 0},
      /* The line's type must be the blob's type. */
      {"ssh-rsa K\n", 0, 0, 0},
      /* No trailing newline, tabs as separators. */
      {"ssh-ed25519\tK", 1, 0, 0},
  };
  char b64[256], b64o[256], text[2048];

  sshmux__base64_encode(blob, sizeof(blob), b64);
  sshmux__base64_encode(other, sizeof(other), b64o);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    size_t n = 0;
    unsigned flags = 0;

    for (const char *c = cases[i].text; *c != '\0'; c++) {
      const char *sub = *c == 'K' ? b64 : *c == 'O' ? b64o : NULL;
      n += (size_t)snprintf(text + n, sizeof(text) - n, "%s",
                            sub != NULL ? sub : (char[2]){*c, 0});
    }
    ASSERT_EQ(
        sshmux__authkeys_match(text, strlen(text), blob, sizeof(blob), &flags),
        cases[i].match);
    if (cases[i].exact)
      ASSERT_EQ(flags, cases[i].flags);
    else
      ASSERT_EQ(flags & cases[i].flags, cases[i].flags);
  }
  return 0;
}

/* ---- identification and KEXINIT ---- */

TEST_IMPL(server_ident_and_early_kexinit) {
  th_t t;
  sshmux__buf_t b;
  const uint8_t *cookie;

  /* The client's KEXINIT arrives in the same read as its line: kept. */
  th_init(&t, NULL, 0, NULL);
  ASSERT_EQ(th_next(&t), SSH_MSG_KEXINIT); /* ours, sent at once */
  ASSERT_OK(sshmux__buf_get_bytes(&t.msg, 16, &cookie));
  {
    const uint8_t *p;
    size_t n;
    ASSERT_OK(sshmux__buf_get_namelist(&t.msg, 4096, &p, &n));
    ASSERT(sshmux__namelist_has(p, n, "kex-strict-s-v00@openssh.com"));
    ASSERT(!sshmux__namelist_has(p, n, "ext-info-s"));
    ASSERT_OK(sshmux__buf_get_namelist(&t.msg, 4096, &p, &n));
    ASSERT(sshmux__namelist_has(p, n, "ssh-ed25519"));
  }
  sshmux__buf_init(&b, 8192);
  ASSERT_OK(sshmux__buf_put_bytes(&b, "SSH-1.99-early\n", 15));
  {
    sshmux__buf_t k;
    uint8_t hdr[5];
    size_t pad;
    sshmux__buf_init(&k, 4096);
    th_put_kexinit(&k, "curve25519-sha256", "ssh-ed25519", ALL_CIPHERS,
                   ALL_MACS, 0);
    pad = 8 - (5 + k.len) % 8;
    if (pad < 4)
      pad += 8;
    sshmux__store_be32(hdr, (uint32_t)(1 + k.len + pad));
    hdr[4] = (uint8_t)pad;
    ASSERT_OK(sshmux__buf_put_bytes(&b, hdr, 5));
    ASSERT_OK(sshmux__buf_put_bytes(&b, k.data, k.len));
    ASSERT_OK(sshmux__buf_put_bytes(&b, "\0\0\0\0\0\0\0\0\0\0\0\0", pad));
    sshmux__buf_free(&k);
  }
  th_send_raw(&t, b.data, b.len);
  sshmux__buf_free(&b);
  ASSERT(!th_closed(&t));
  ASSERT_STR_EQ(sshmux_server_conn_client_version(t.conn), "SSH-1.99-early");
  ASSERT_STR_EQ(sshmux__transport_alg(t.conn, 0), "curve25519-sha256");
  th_free(&t);

  /* Not SSH: refused. */
  th_init(&t, NULL, 0, NULL);
  th_send_raw(&t, "GET / HTTP/1.1\r\n", 16);
  ASSERT_CLOSED_FREE(&t, 0);
  /* An endless line: refused after 255 bytes. */
  th_init(&t, NULL, 0, NULL);
  {
    char junk[300];
    memset(junk, 'S', sizeof(junk));
    th_send_raw(&t, junk, sizeof(junk));
  }
  ASSERT_CLOSED_FREE(&t, 0);
  return 0;
}

TEST_IMPL(server_kexinit_negotiation) {
  th_t t;

  /* The client's order decides; AES-CTR needs a MAC. */
  kex_start(&t, "sntrup761x25519-sha512@openssh.com,ecdh-sha2-nistp256",
            "ssh-rsa,ssh-ed25519", "aes256-cbc,aes256-ctr,aes128-ctr",
            "umac-64@openssh.com,hmac-sha2-512,hmac-sha2-256", 0);
  ASSERT(!th_closed(&t));
  ASSERT_STR_EQ(sshmux__transport_alg(t.conn, 0), "ecdh-sha2-nistp256");
  ASSERT_STR_EQ(sshmux__transport_alg(t.conn, 1), "ssh-ed25519");
  ASSERT_STR_EQ(sshmux__transport_alg(t.conn, 2), "aes256-ctr");
  ASSERT_STR_EQ(sshmux__transport_alg(t.conn, 4), "hmac-sha2-512");
  th_free(&t);

  /* AEAD: no MAC in common is fine, none is used. */
  kex_start(&t, "curve25519-sha256@libssh.org,ext-info-c", "ssh-ed25519",
            "aes128-gcm@openssh.com", "hmac-md5", 0);
  ASSERT(!th_closed(&t));
  ASSERT_STR_EQ(sshmux__transport_alg(t.conn, 0),
                "curve25519-sha256@libssh.org");
  ASSERT_STR_EQ(sshmux__transport_alg(t.conn, 2), "aes128-gcm@openssh.com");
  ASSERT_STR_EQ(sshmux__transport_alg(t.conn, 4), "");
  ASSERT(t.conn->ext_info_c);
  ASSERT(!t.conn->strict);
  th_free(&t);

  /* Nothing in common: DISCONNECT(3). */
  kex_start(&t, "curve25519-sha256", "ssh-ed25519", "aes128-cbc", ALL_MACS, 0);
  ASSERT_CLOSED_FREE(&t, SSH_DISCONNECT_KEY_EXCHANGE_FAILED);
  /* Pseudo-algorithms are never selected. */
  kex_start(&t, "ext-info-c,kex-strict-c-v00@openssh.com", "ssh-ed25519",
            ALL_CIPHERS, ALL_MACS, 0);
  ASSERT_CLOSED_FREE(&t, SSH_DISCONNECT_KEY_EXCHANGE_FAILED);
  /* Compression other than none only: refused. */
  th_init(&t, NULL, 0, NULL);
  send_ident(&t);
  {
    sshmux__buf_t b;
    sshmux__buf_init(&b, 4096);
    th_put_kexinit(&b, "curve25519-sha256", "ssh-ed25519", ALL_CIPHERS,
                   ALL_MACS, 0);
    /* Malformed: truncated before the reserved field. */
    th_send(&t, b.data, b.len - 3);
    sshmux__buf_free(&b);
  }
  ASSERT_CLOSED_FREE(&t, SSH_DISCONNECT_PROTOCOL_ERROR);
  return 0;
}

TEST_IMPL(server_strict_kex) {
  static const uint8_t ignore[] = {SSH_MSG_IGNORE, 0, 0, 0, 0};
  th_t t;

  /* Strict: IGNORE before the first NEWKEYS is fatal ... */
  kex_start(&t, "curve25519-sha256,kex-strict-c-v00@openssh.com", "ssh-ed25519",
            ALL_CIPHERS, ALL_MACS, 0);
  ASSERT(t.conn->strict);
  th_send(&t, ignore, sizeof(ignore));
  ASSERT_CLOSED_FREE(&t, SSH_DISCONNECT_PROTOCOL_ERROR);
  /* ... and so is a strict KEXINIT that is not packet 0. */
  th_init(&t, NULL, 0, NULL);
  send_ident(&t);
  th_send(&t, ignore, sizeof(ignore));
  ASSERT(!th_closed(&t)); /* not strict yet: IGNORE is legal */
  send_kexinit(&t, "curve25519-sha256,kex-strict-c-v00@openssh.com",
               "ssh-ed25519", ALL_CIPHERS, ALL_MACS, 0);
  ASSERT_CLOSED_FREE(&t, 0);
  /* Without strict KEX, IGNORE during the exchange is fine, and the
   * exchange completes: KEX_ECDH_REPLY then NEWKEYS. */
  kex_start(&t, "curve25519-sha256", "ssh-ed25519", ALL_CIPHERS, ALL_MACS, 0);
  th_send(&t, ignore, sizeof(ignore));
  send_ecdh_init(&t);
  ASSERT(!th_closed(&t));
  th_expect(&t, SSH_MSG_KEX_ECDH_REPLY);
  ASSERT_EQ(th_next(&t), SSH_MSG_NEWKEYS);
  /* Anything but NEWKEYS now is fatal (the client is still in KEX). */
  th_send(&t, (const uint8_t[]){SSH_MSG_SERVICE_REQUEST, 0, 0, 0, 0}, 5);
  ASSERT_CLOSED_FREE(&t, 0);
  return 0;
}

TEST_IMPL(server_kex_guess) {
  th_t t;

  /* Wrong guess (first kex name differs): the next packet is dropped
   * unread, whatever it is, and the exchange then proceeds. */
  kex_start(&t, "sntrup761x25519-sha512@openssh.com,curve25519-sha256",
            "ssh-ed25519", ALL_CIPHERS, ALL_MACS, 1);
  th_send(&t, (const uint8_t[]){SSH_MSG_KEX_ECDH_INIT, 0, 0, 0, 7, 1}, 6);
  ASSERT(!th_closed(&t));
  send_ecdh_init(&t);
  ASSERT(!th_closed(&t));
  th_expect(&t, SSH_MSG_KEX_ECDH_REPLY);
  th_free(&t);
  /* Right guess (dbclient): the guessed packet is the real one. */
  kex_start(&t, "curve25519-sha256,kexguess2@matt.ucc.asn.au", "ssh-ed25519",
            ALL_CIPHERS, ALL_MACS, 1);
  send_ecdh_init(&t);
  ASSERT(!th_closed(&t));
  th_expect(&t, SSH_MSG_KEX_ECDH_REPLY);
  th_free(&t);
  /* A bad ephemeral key (wrong length): KEY_EXCHANGE_FAILED. */
  kex_start(&t, "curve25519-sha256", "ssh-ed25519", ALL_CIPHERS, ALL_MACS, 0);
  th_send(&t, (const uint8_t[]){SSH_MSG_KEX_ECDH_INIT, 0, 0, 0, 1, 9}, 6);
  ASSERT_CLOSED_FREE(&t, SSH_DISCONNECT_KEY_EXCHANGE_FAILED);
  return 0;
}

/* ---- framing ---- */

TEST_IMPL(server_packet_framing) {
  th_t t;
  uint8_t pkt[64];

  /* Padding shorter than 4. */
  th_init(&t, NULL, 1, "u");
  memset(pkt, 0, sizeof(pkt));
  sshmux__store_be32(pkt, 12);
  pkt[4] = 3;
  pkt[5] = SSH_MSG_IGNORE;
  th_send_raw(&t, pkt, 16);
  ASSERT_CLOSED_FREE(&t, SSH_DISCONNECT_PROTOCOL_ERROR);
  /* Padding that leaves no payload. */
  th_init(&t, NULL, 1, "u");
  sshmux__store_be32(pkt, 12);
  pkt[4] = 11;
  th_send_raw(&t, pkt, 16);
  ASSERT_CLOSED_FREE(&t, 0);
  /* Oversize length: refused before any allocation for it. */
  th_init(&t, NULL, 1, "u");
  sshmux__store_be32(pkt, 300u * 1024u);
  th_send_raw(&t, pkt, 8);
  ASSERT_CLOSED_FREE(&t, SSH_DISCONNECT_PROTOCOL_ERROR);
  /* Not a multiple of the block size. */
  th_init(&t, NULL, 1, "u");
  sshmux__store_be32(pkt, 13);
  th_send_raw(&t, pkt, 17);
  ASSERT_CLOSED_FREE(&t, 0);
  /* A byte at a time is fine. */
  th_init(&t, NULL, 1, "u");
  {
    size_t i;
    sshmux__store_be32(pkt, 12);
    pkt[4] = 10;
    pkt[5] = SSH_MSG_IGNORE;
    for (i = 0; i < 16; i++)
      th_send_raw(&t, pkt + i, 1);
    ASSERT(!th_closed(&t));
    ASSERT_EQ(t.conn->seq_in, 1);
  }
  th_free(&t);
  return 0;
}

TEST_IMPL(server_bad_mac) {
  static const char *const ciphers[][2] = {
      {"aes128-ctr", "hmac-sha2-256"},
      {"aes256-ctr", "hmac-sha2-512-etm@openssh.com"},
      {"aes128-gcm@openssh.com", NULL},
      {"chacha20-poly1305@openssh.com", NULL}};
  uint8_t key[64], iv[16], mk[64];
  size_t i;

  memset(key, 7, sizeof(key));
  memset(iv, 9, sizeof(iv));
  memset(mk, 11, sizeof(mk));
  for (i = 0; i < SSHMUX__ARRAY_SIZE(ciphers); i++) {
    th_t t;
    sshmux__codec_t *c;
    int flip;
    for (flip = 0; flip < 2; flip++) {
      uint8_t pkt[128], *tag;
      size_t block, plen, tl;
      th_init(&t, NULL, 1, "u");
      sshmux__codec_free(t.conn->in);
      ASSERT_OK(sshmux__codec_new(&t.conn->in, ciphers[i][0], ciphers[i][1],
                                  key, iv, mk));
      ASSERT_OK(
          sshmux__codec_new(&c, ciphers[i][0], ciphers[i][1], key, iv, mk));
      block = sshmux__codec_block(c);
      tl = sshmux__codec_tag_len(c);
      /* IGNORE with empty data: payload 5 bytes. */
      plen = sshmux__codec_len_excluded(c) ? 1 + 5 : 5 + 5;
      plen = plen + (block - plen % block);
      if (plen - (sshmux__codec_len_excluded(c) ? 1 + 5 : 5 + 5) < 4)
        plen += block;
      plen = sshmux__codec_len_excluded(c) ? plen : plen - 4;
      memset(pkt, 0, sizeof(pkt));
      sshmux__store_be32(pkt, (uint32_t)plen);
      pkt[4] = (uint8_t)(plen - 1 - 5);
      pkt[5] = SSH_MSG_IGNORE;
      tag = pkt + 4 + plen;
      ASSERT_OK(sshmux__codec_seal(c, 0, pkt, 4 + plen, tag));
      if (flip)
        pkt[4 + plen - 1] ^= 1;
      th_send_raw(&t, pkt, 4 + plen + tl);
      if (flip) {
        ASSERT(th_closed(&t));
        ASSERT_EQ(t.conn->disconnect_reason, SSH_DISCONNECT_MAC_ERROR);
      } else {
        ASSERT(!th_closed(&t));
        ASSERT_EQ(t.conn->seq_in, 1);
      }
      sshmux__codec_free(c);
      th_free(&t);
    }
  }
  return 0;
}

TEST_IMPL(server_unimplemented_and_gates) {
  th_t t;
  uint32_t seq;

  th_init(&t, NULL, 1, "u");
  th_send(&t, (const uint8_t[]){SSH_MSG_IGNORE, 0, 0, 0, 0}, 5);
  seq = t.conn->seq_in;
  th_send(&t, (const uint8_t[]){70, 1, 2, 3}, 4);
  ASSERT_EQ(th_next(&t), SSH_MSG_UNIMPLEMENTED);
  {
    uint32_t s;
    ASSERT_OK(sshmux__buf_get_u32(&t.msg, &s));
    ASSERT_EQ(s, seq); /* the received packet's own number */
  }
  ASSERT(!th_closed(&t));
  th_free(&t);
  /* Connection-layer messages before authentication are fatal. */
  th_init(&t, NULL, 1, NULL);
  send_msg(&t, SSH_MSG_GLOBAL_REQUEST, 0, NULL,
           (const char *const[]){"keepalive@openssh.com", NULL});
  ASSERT_CLOSED_FREE(&t, SSH_DISCONNECT_PROTOCOL_ERROR);
  /* DISCONNECT from the client ends it quietly. */
  th_init(&t, NULL, 1, "u");
  send_msg(&t, SSH_MSG_DISCONNECT, 1, (const uint32_t[]){11},
           (const char *const[]){"bye", "", NULL});
  ASSERT_CLOSED_FREE(&t, 0);
  return 0;
}

/* ---- authentication ---- */

static int g_authed;
static char g_user[64];

static void on_authed(sshmux_server_conn_t *conn) {
  g_authed++;
  snprintf(g_user, sizeof(g_user), "%s", sshmux_server_conn_user(conn));
}

static void send_userauth(th_t *t, const char *user, const char *method,
                          sshmux__buf_t *extra) {
  sshmux__buf_t b;
  sshmux__buf_init(&b, 65536);
  ASSERT_OK(sshmux__buf_put_u8(&b, SSH_MSG_USERAUTH_REQUEST));
  ASSERT_OK(sshmux__buf_put_cstring(&b, user));
  ASSERT_OK(sshmux__buf_put_cstring(&b, "ssh-connection"));
  ASSERT_OK(sshmux__buf_put_cstring(&b, method));
  if (extra)
    ASSERT_OK(sshmux__buf_put_bytes(&b, extra->data, extra->len));
  th_send(t, b.data, b.len);
  sshmux__buf_free(&b);
}

/* Query publickey auth for "alice" with blob (not signed); the answer
 * must be `want`. */
static void query_key(th_t *t, const sshmux__buf_t *blob, int want) {
  sshmux__buf_t ex;

  sshmux__buf_init(&ex, 65536);
  ASSERT_OK(sshmux__buf_put_bool(&ex, 0));
  ASSERT_OK(sshmux__buf_put_cstring(&ex, "ssh-ed25519"));
  ASSERT_OK(sshmux__buf_put_string(&ex, blob->data, blob->len));
  send_userauth(t, "alice", "publickey", &ex);
  ASSERT_EQ(th_next(t), want);
  sshmux__buf_free(&ex);
}

/* Send a signed publickey request for "alice" with blob, signed by key. */
static void send_signed(th_t *t, sshmux__hostkey_t *key,
                        const sshmux__buf_t *blob) {
  sshmux__buf_t sd, ex;

  sshmux__buf_init(&sd, 65536);
  sshmux__buf_init(&ex, 65536);
  th_signed_pk(key, blob, "alice", t->conn->session_id, t->conn->session_id_len,
               &sd, &ex);
  send_userauth(t, "alice", "publickey", &ex);
  sshmux__buf_free(&sd);
  sshmux__buf_free(&ex);
}

/* Authenticate "alice" with key (listed in ak) through a signed publickey
 * request. */
static void sign_in(th_t *t, sshmux__hostkey_t *key,
                    const sshmux__buf_t *blob) {
  send_signed(t, key, blob);
  ASSERT_EQ(th_next(t), SSH_MSG_USERAUTH_SUCCESS);
}

/* A new Ed25519 key, its public blob (blob initialised here) and its
 * authorized_keys line (line: 512 bytes). */
static sshmux__hostkey_t *new_user_key(sshmux__buf_t *blob, char *line) {
  sshmux__hostkey_t *key = th_new_key(blob);

  memcpy(line, "ssh-ed25519 ", 12);
  sshmux__base64_encode(blob->data, blob->len, line + 12);
  strcat(line, " user@test\n");
  return key;
}

/* th_init authenticating (shortcut), authorized_keys from ak. */
static void th_init_ak(th_t *t, const sshmux_server_cbs_t *cbs) {
  th_init(t, cbs, 1, NULL);
  ASSERT_OK(sshmux_server_set_authorized_keys(t->srv, test_path("ak")));
}

TEST_IMPL(server_auth_publickey) {
  sshmux_server_cbs_t cbs;
  sshmux__hostkey_t *user_key, *stranger;
  sshmux__buf_t blob, sblob, ex;
  char line[512], sline[512];
  th_t t;

  stranger = new_user_key(&sblob, sline);
  user_key = new_user_key(&blob, line);
  ASSERT_OK(test_write_file(test_path("ak"), line, 0600));

  memset(&cbs, 0, sizeof(cbs));
  cbs.authed = on_authed;
  th_init_ak(&t, &cbs);
  sshmux_server_set_max_auth_tries(t.srv, 4);
  /* none and password: FAILURE naming only publickey. */
  send_userauth(&t, "alice", "none", NULL);
  ASSERT_EQ(th_next(&t), SSH_MSG_USERAUTH_FAILURE);
  {
    char *methods;
    ASSERT_OK(sshmux__buf_get_cstring(&t.msg, 256, &methods));
    ASSERT_STR_EQ(methods, "publickey");
    sshmux__free(methods);
  }
  sshmux__buf_init(&ex, 65536);
  ASSERT_OK(sshmux__buf_put_bool(&ex, 0));
  ASSERT_OK(sshmux__buf_put_cstring(&ex, "secret"));
  send_userauth(&t, "alice", "password", &ex);
  ASSERT_EQ(th_next(&t), SSH_MSG_USERAUTH_FAILURE);
  /* Query with a key that is not listed: FAILURE. */
  query_key(&t, &sblob, SSH_MSG_USERAUTH_FAILURE);
  /* Query with the listed key: PK_OK echoing alg and blob. */
  query_key(&t, &blob, SSH_MSG_USERAUTH_PK_OK);
  {
    const uint8_t *p;
    size_t n;
    ASSERT_OK(sshmux__buf_get_string(&t.msg, 64, &p, &n));
    ASSERT_EQ(n, 11);
    ASSERT_OK(sshmux__buf_get_string(&t.msg, 4096, &p, &n));
    ASSERT_EQ(n, blob.len);
    ASSERT_MEM_EQ(p, blob.data, n);
  }
  /* A signed request with a bad signature: FAILURE. */
  send_signed(&t, stranger, &blob);
  ASSERT_EQ(th_next(&t), SSH_MSG_USERAUTH_FAILURE);
  ASSERT_EQ(g_authed, 0);
  /* The right signature: SUCCESS, the connection reports its user. */
  sign_in(&t, user_key, &blob);
  ASSERT_EQ(g_authed, 1);
  ASSERT_STR_EQ(g_user, "alice");
  ASSERT(strncmp(sshmux_server_conn_key_fingerprint(t.conn), "SHA256:", 7) ==
         0);
  /* Later requests are ignored. */
  send_userauth(&t, "bob", "none", NULL);
  ASSERT_EQ(th_next(&t), -1);
  th_free(&t);

  /* The limit: the 4th refused attempt disconnects (reason 14). */
  th_init(&t, &cbs, 1, NULL);
  sshmux_server_set_max_auth_tries(t.srv, 4);
  send_userauth(&t, "alice", "none", NULL); /* a probe: not counted */
  ASSERT(!th_closed(&t));
  sshmux__buf_reset(&ex);
  ASSERT_OK(sshmux__buf_put_bool(&ex, 0));
  ASSERT_OK(sshmux__buf_put_cstring(&ex, "x"));
  send_userauth(&t, "alice", "password", &ex);
  send_userauth(&t, "alice", "keyboard-interactive", &ex);
  send_userauth(&t, "alice", "hostbased", &ex);
  ASSERT(!th_closed(&t));
  send_userauth(&t, "alice", "password", &ex);
  ASSERT(th_closed(&t));
  ASSERT_EQ(t.conn->disconnect_reason,
            SSH_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE);
  th_free(&t);

  sshmux__buf_free(&ex);
  sshmux__buf_free(&blob);
  sshmux__buf_free(&sblob);
  sshmux__hostkey_free(user_key);
  sshmux__hostkey_free(stranger);
  return 0;
}

/* ---- channels ---- */

static sshmux_server_channel_t *g_ch;
static sshmux_server_request_t *g_reqs[8];
static int g_nreqs, g_closed, g_eof, g_drained;
static size_t g_data;

static void on_data(sshmux_server_channel_t *ch, int stream, const char *buf,
                    size_t len) {
  (void)ch, (void)stream, (void)buf;
  g_data += len;
}

static void on_request(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                       sshmux_server_request_t *req,
                       const sshmux_server_request_info_t *info) {
  (void)conn, (void)ch;
  if (strcmp(info->type, "env") == 0) {
    ASSERT_STR_EQ(info->env_name, "LANG");
    ASSERT_STR_EQ(info->env_value, "C.UTF-8");
    sshmux_server_request_reply(req, 1); /* at once, but after exec */
    return;
  }
  if (strcmp(info->type, "pty-req") == 0) {
    ASSERT_STR_EQ(info->term, "xterm");
    ASSERT_EQ(info->cols, 80);
    ASSERT_EQ(info->rows, 24);
    ASSERT_EQ(info->modes_len, 6);
    ASSERT_EQ(info->modes[0], 53);
  }
  if (strcmp(info->type, "exec") == 0)
    ASSERT_STR_EQ(info->command, "run me");
  ASSERT_LT(g_nreqs, 8);
  g_reqs[g_nreqs++] = req;
}

static void on_eof(sshmux_server_channel_t *ch) {
  (void)ch;
  g_eof++;
}

static void on_drain(sshmux_server_channel_t *ch) {
  (void)ch;
  g_drained++;
}

static void on_close(sshmux_server_channel_t *ch) {
  (void)ch;
  g_closed++;
}

static void on_open(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                    const sshmux_server_open_info_t *info) {
  static const sshmux_server_channel_cbs_t cbs = {on_request, on_data,  on_eof,
                                                  on_drain,   on_close, NULL};
  (void)conn;
  g_ch = ch;
  sshmux_server_channel_set_cbs(ch, &cbs);
  if (info->type == SSHMUX_CHANNEL_DIRECT_TCPIP) {
    ASSERT_STR_EQ(info->host, "example.org");
    ASSERT_EQ(info->port, 80);
    ASSERT_STR_EQ(info->originator, "127.0.0.1");
    sshmux_server_channel_reject(ch, SSHMUX_OPEN_CONNECT_FAILED, "no");
    g_ch = NULL;
  }
}

/* Append CHANNEL_OPEN of type with the client's channel id, window and
 * maximum packet size (type-specific fields may follow). */
static void put_channel_open(sshmux__buf_t *b, const char *type, uint32_t id,
                             uint32_t window, uint32_t maxpkt) {
  ASSERT_OK(sshmux__buf_put_u8(b, SSH_MSG_CHANNEL_OPEN));
  ASSERT_OK(sshmux__buf_put_cstring(b, type));
  ASSERT_OK(sshmux__buf_put_u32(b, id));
  ASSERT_OK(sshmux__buf_put_u32(b, window));
  ASSERT_OK(sshmux__buf_put_u32(b, maxpkt));
}

/* Append GLOBAL_REQUEST name with want_reply (request fields may follow). */
static void put_global(sshmux__buf_t *b, const char *name, int want_reply) {
  ASSERT_OK(sshmux__buf_put_u8(b, SSH_MSG_GLOBAL_REQUEST));
  ASSERT_OK(sshmux__buf_put_cstring(b, name));
  ASSERT_OK(sshmux__buf_put_bool(b, want_reply));
}

static void open_session(th_t *t, uint32_t window, uint32_t maxpkt) {
  sshmux__buf_t b;
  sshmux__buf_init(&b, 256);
  put_channel_open(&b, "session", 5, window, maxpkt); /* client's id 5 */
  th_send(t, b.data, b.len);
  sshmux__buf_free(&b);
}

static void send_request(th_t *t, uint32_t id, const char *type, int want,
                         sshmux__buf_t *extra) {
  sshmux__buf_t b;
  sshmux__buf_init(&b, 65536);
  ASSERT_OK(sshmux__buf_put_u8(&b, SSH_MSG_CHANNEL_REQUEST));
  ASSERT_OK(sshmux__buf_put_u32(&b, id));
  ASSERT_OK(sshmux__buf_put_cstring(&b, type));
  ASSERT_OK(sshmux__buf_put_bool(&b, want));
  if (extra)
    ASSERT_OK(sshmux__buf_put_bytes(&b, extra->data, extra->len));
  th_send(t, b.data, b.len);
  sshmux__buf_free(&b);
}

static void send_data(th_t *t, uint32_t id, size_t n) {
  static uint8_t chunk[32768];
  sshmux__buf_t b;
  sshmux__buf_init(&b, 65536);
  ASSERT_OK(sshmux__buf_put_u8(&b, SSH_MSG_CHANNEL_DATA));
  ASSERT_OK(sshmux__buf_put_u32(&b, id));
  ASSERT_OK(sshmux__buf_put_string(&b, chunk, n));
  th_send(t, b.data, b.len);
  sshmux__buf_free(&b);
}

static uint32_t msg_u32(th_t *t) {
  uint32_t v;
  ASSERT_OK(sshmux__buf_get_u32(&t->msg, &v));
  return v;
}

TEST_IMPL(server_channel_lifecycle) {
  sshmux_server_cbs_t cbs;
  sshmux__buf_t ex;
  uint32_t id, n;
  size_t got;
  th_t t;
  int i, r;

  memset(&cbs, 0, sizeof(cbs));
  cbs.channel_open = on_open;
  th_init(&t, &cbs, 1, "u");
  /* Open: nothing is sent until the embedder accepts. */
  open_session(&t, 65536, 16384);
  ASSERT(g_ch != NULL);
  ASSERT_EQ(th_next(&t), -1);
  ASSERT_OK(sshmux_server_channel_accept(g_ch));
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
  ASSERT_EQ(msg_u32(&t), 5);
  id = msg_u32(&t);
  ASSERT_EQ(msg_u32(&t), SSHMUX__SRV_CHAN_WINDOW);
  ASSERT_EQ(msg_u32(&t), SSHMUX__SRV_CHAN_MAXPKT);
  ASSERT_ERR(sshmux_server_channel_accept(g_ch), SSHMUX_EINVAL);

  /* Requests: pty-req (parsed), exec held by the embedder, env answered
   * at once, winadj answered by the library -- replies in order. */
  sshmux__buf_init(&ex, 4096);
  ASSERT_OK(sshmux__buf_put_cstring(&ex, "xterm"));
  ASSERT_OK(sshmux__buf_put_u32(&ex, 80));
  ASSERT_OK(sshmux__buf_put_u32(&ex, 24));
  ASSERT_OK(sshmux__buf_put_u32(&ex, 0));
  ASSERT_OK(sshmux__buf_put_u32(&ex, 0));
  ASSERT_OK(sshmux__buf_put_string(&ex, "\x35\0\0\0\x01\0", 6));
  send_request(&t, id, "pty-req", 1, &ex);
  ASSERT_EQ(g_nreqs, 1);
  sshmux_server_request_reply(g_reqs[0], 1);
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_SUCCESS);
  sshmux__buf_reset(&ex);
  ASSERT_OK(sshmux__buf_put_cstring(&ex, "run me"));
  send_request(&t, id, "exec", 1, &ex);
  sshmux__buf_reset(&ex);
  ASSERT_OK(sshmux__buf_put_cstring(&ex, "LANG"));
  ASSERT_OK(sshmux__buf_put_cstring(&ex, "C.UTF-8"));
  send_request(&t, id, "env", 1, &ex);
  send_request(&t, id, "winadj@putty.projects.tartarus.org", 1, NULL);
  send_request(&t, id, "exec", 1, &ex); /* malformed */
  ASSERT_EQ(g_nreqs, 2);
  ASSERT_EQ(th_next(&t), -1); /* all held behind the exec */
  sshmux_server_request_reply(g_reqs[1], 1);
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_SUCCESS); /* exec */
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_SUCCESS); /* env */
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_FAILURE); /* winadj */
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_FAILURE); /* malformed */
  /* A second exec on the same channel is refused by the library. */
  sshmux__buf_reset(&ex);
  ASSERT_OK(sshmux__buf_put_cstring(&ex, "run me"));
  send_request(&t, id, "exec", 1, &ex);
  ASSERT_EQ(g_nreqs, 2);
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_FAILURE);
  /* want_reply FALSE: the embedder answers, nothing is sent. */
  sshmux__buf_reset(&ex);
  for (i = 0; i < 4; i++)
    ASSERT_OK(sshmux__buf_put_u32(&ex, 100));
  send_request(&t, id, "window-change", 0, &ex);
  ASSERT_EQ(g_nreqs, 3);
  sshmux_server_request_reply(g_reqs[2], 1);
  ASSERT_EQ(th_next(&t), -1);

  /* Incoming data: the window is topped up after a third is consumed. */
  for (got = 0; got < SSHMUX__SRV_CHAN_WINDOW / 3; got += 32768)
    send_data(&t, id, 32768);
  ASSERT_EQ(g_data, got);
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_WINDOW_ADJUST);
  ASSERT_EQ(msg_u32(&t), 5);
  ASSERT_EQ(msg_u32(&t), got);
  /* Paused: data is held, no top-up, until read_start (from the loop). */
  sshmux_server_channel_read_stop(g_ch);
  for (n = 0; n < SSHMUX__SRV_CHAN_WINDOW / 2; n += 32768)
    send_data(&t, id, 32768);
  ASSERT_EQ(g_data, got);
  ASSERT_EQ(th_next(&t), -1);
  sshmux_server_channel_read_start(g_ch);
  ASSERT_EQ(g_data, got); /* not from inside read_start */
  th_run(&t);
  ASSERT_EQ(g_data, got + n);
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_WINDOW_ADJUST);

  /* Outgoing: the client's window (64 KiB) and max packet (16 KiB) rule. */
  {
    static char big[300 * 1024];
    size_t sent = 0;
    r = sshmux_server_channel_write(g_ch, SSHMUX_STREAM_STDOUT, big,
                                    sizeof(big));
    ASSERT_EQ(r, 1); /* above the 256 KiB high-water mark */
    ASSERT_EQ(sshmux_server_channel_write_queue_size(g_ch), sizeof(big));
    th_run(&t);
    while ((r = th_next(&t)) == SSH_MSG_CHANNEL_DATA) {
      const uint8_t *p;
      size_t dn;
      ASSERT_EQ(msg_u32(&t), 5);
      ASSERT_OK(sshmux__buf_get_string(&t.msg, 65536, &p, &dn));
      ASSERT_LE(dn, 16384);
      sent += dn;
    }
    ASSERT_EQ(sent, 65536);
    ASSERT_EQ(g_drained, 0);
    /* Window adjust: more flows, and the drain callback fires once the
     * queue is below half the high-water mark. */
    send_msg(&t, SSH_MSG_CHANNEL_WINDOW_ADJUST, 2,
             (const uint32_t[]){id, 1u << 20}, NULL);
    th_run(&t);
    while ((r = th_next(&t)) == SSH_MSG_CHANNEL_DATA) {
      const uint8_t *p;
      size_t dn;
      (void)msg_u32(&t);
      ASSERT_OK(sshmux__buf_get_string(&t.msg, 65536, &p, &dn));
      sent += dn;
    }
    ASSERT_EQ(sent, sizeof(big));
    ASSERT_EQ(g_drained, 1);
  }
  /* stderr goes as EXTENDED_DATA type 1; then EOF, exit-status, CLOSE. */
  ASSERT_EQ(sshmux_server_channel_write(g_ch, SSHMUX_STREAM_STDERR, "err", 3),
            0);
  ASSERT_OK(sshmux_server_channel_eof(g_ch));
  ASSERT_ERR(sshmux_server_channel_write(g_ch, SSHMUX_STREAM_STDOUT, "x", 1),
             SSHMUX_ECLOSED);
  ASSERT_OK(sshmux_server_channel_exit_status(g_ch, 42));
  sshmux_server_channel_close(g_ch);
  th_run(&t);
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_EXTENDED_DATA);
  ASSERT_EQ(msg_u32(&t), 5);
  ASSERT_EQ(msg_u32(&t), 1);
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_EOF);
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_REQUEST);
  {
    char *name;
    int want;
    ASSERT_EQ(msg_u32(&t), 5);
    ASSERT_OK(sshmux__buf_get_cstring(&t.msg, 64, &name));
    ASSERT_STR_EQ(name, "exit-status");
    sshmux__free(name);
    ASSERT_OK(sshmux__buf_get_bool(&t.msg, &want));
    ASSERT_EQ(want, 0);
    ASSERT_EQ(msg_u32(&t), 42);
  }
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_CLOSE);
  ASSERT_EQ(g_closed, 0); /* until the client's CLOSE */
  send_msg(&t, SSH_MSG_CHANNEL_EOF, 1, (const uint32_t[]){id}, NULL);
  ASSERT_EQ(g_eof, 1);
  send_msg(&t, SSH_MSG_CHANNEL_CLOSE, 1, (const uint32_t[]){id}, NULL);
  ASSERT_EQ(g_closed, 1);
  ASSERT_EQ(th_next(&t), -1); /* nothing after our CLOSE */
  /* The id is free again; messages for it now are a protocol error. */
  send_msg(&t, SSH_MSG_CHANNEL_EOF, 1, (const uint32_t[]){id}, NULL);
  ASSERT(th_closed(&t));
  sshmux__buf_free(&ex);
  th_free(&t);
  return 0;
}

TEST_IMPL(server_channel_limits) {
  sshmux_server_cbs_t cbs;
  sshmux__buf_t b;
  uint32_t id, n;
  th_t t;

  memset(&cbs, 0, sizeof(cbs));
  cbs.channel_open = on_open;
  g_ch = NULL;
  /* Data beyond our window: protocol error. */
  th_init(&t, &cbs, 1, "u");
  sshmux_server_set_max_auth_tries(t.srv, 3);
  open_session(&t, 65536, 32768);
  ASSERT_OK(sshmux_server_channel_accept(g_ch));
  th_expect(&t, SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
  (void)msg_u32(&t);
  id = msg_u32(&t);
  sshmux_server_channel_read_stop(g_ch);
  for (n = 0; n < SSHMUX__SRV_CHAN_WINDOW; n += 32768)
    send_data(&t, id, 32768);
  ASSERT(!th_closed(&t));
  send_data(&t, id, 1);
  ASSERT_CLOSED_FREE(&t, SSH_DISCONNECT_PROTOCOL_ERROR);

  /* Unknown channel types are refused by the library; direct-tcpip
   * reaches the embedder with its fields (which refuses it here). */
  th_init(&t, &cbs, 1, "u");
  sshmux__buf_init(&b, 512);
  put_channel_open(&b, "x11", 1, 1000, 1000);
  th_send(&t, b.data, b.len);
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_OPEN_FAILURE);
  ASSERT_EQ(msg_u32(&t), 1);
  ASSERT_EQ(msg_u32(&t), SSHMUX_OPEN_UNKNOWN_CHANNEL_TYPE);
  sshmux__buf_reset(&b);
  put_channel_open(&b, "direct-tcpip", 2, 1000, 1000);
  ASSERT_OK(sshmux__buf_put_cstring(&b, "example.org"));
  ASSERT_OK(sshmux__buf_put_u32(&b, 80));
  ASSERT_OK(sshmux__buf_put_cstring(&b, "127.0.0.1"));
  ASSERT_OK(sshmux__buf_put_u32(&b, 5555));
  th_send(&t, b.data, b.len);
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_OPEN_FAILURE);
  ASSERT_EQ(msg_u32(&t), 2);
  ASSERT_EQ(msg_u32(&t), SSHMUX_OPEN_CONNECT_FAILED);
  th_run(&t);
  /* Global requests: keepalive gets FAILURE (never UNIMPLEMENTED);
   * no-more-sessions gets no reply and refuses later sessions. */
  send_msg(&t, SSH_MSG_GLOBAL_REQUEST, 0, NULL, NULL);
  sshmux__buf_free(&b);
  th_free(&t);

  th_init(&t, &cbs, 1, "u");
  sshmux__buf_init(&b, 512);
  put_global(&b, "keepalive@openssh.com", 1);
  th_send(&t, b.data, b.len);
  ASSERT_EQ(th_next(&t), SSH_MSG_REQUEST_FAILURE);
  sshmux__buf_reset(&b);
  put_global(&b, "no-more-sessions@openssh.com", 0);
  th_send(&t, b.data, b.len);
  ASSERT_EQ(th_next(&t), -1);
  g_ch = NULL;
  open_session(&t, 65536, 32768);
  ASSERT(g_ch == NULL);
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_OPEN_FAILURE);
  (void)msg_u32(&t);
  ASSERT_EQ(msg_u32(&t), SSHMUX_OPEN_ADMINISTRATIVELY_PROHIBITED);
  sshmux__buf_free(&b);
  th_free(&t);
  return 0;
}

static void on_global(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                      sshmux_server_request_t *req,
                      const sshmux_server_request_info_t *info) {
  (void)conn;
  ASSERT(ch == NULL);
  ASSERT_STR_EQ(info->type, "tcpip-forward");
  ASSERT_STR_EQ(info->bind_address, "localhost");
  g_reqs[g_nreqs++] = req;
}

TEST_IMPL(server_global_requests_ordered) {
  sshmux_server_cbs_t cbs;
  sshmux__buf_t b;
  th_t t;

  memset(&cbs, 0, sizeof(cbs));
  cbs.global_request = on_global;
  g_nreqs = 0;
  th_init(&t, &cbs, 1, "u");
  sshmux__buf_init(&b, 512);
  put_global(&b, "tcpip-forward", 1);
  ASSERT_OK(sshmux__buf_put_cstring(&b, "localhost"));
  ASSERT_OK(sshmux__buf_put_u32(&b, 0));
  th_send(&t, b.data, b.len);
  ASSERT_EQ(g_nreqs, 1);
  /* A keepalive behind it waits for it. */
  sshmux__buf_reset(&b);
  put_global(&b, "keepalive@openssh.com", 1);
  th_send(&t, b.data, b.len);
  ASSERT_EQ(th_next(&t), -1);
  sshmux_server_request_reply_port(g_reqs[0], 4242);
  ASSERT_EQ(th_next(&t), SSH_MSG_REQUEST_SUCCESS);
  ASSERT_EQ(msg_u32(&t), 4242); /* port 0 was asked: the port comes back */
  ASSERT_EQ(th_next(&t), SSH_MSG_REQUEST_FAILURE);
  sshmux__buf_free(&b);
  th_free(&t);
  return 0;
}

static void on_request_ignored(sshmux_server_conn_t *conn,
                               sshmux_server_channel_t *ch,
                               sshmux_server_request_t *req,
                               const sshmux_server_request_info_t *info) {
  (void)conn, (void)ch, (void)req, (void)info; /* never answered */
}

static void on_open_accept(sshmux_server_conn_t *conn,
                           sshmux_server_channel_t *ch,
                           const sshmux_server_open_info_t *info) {
  static const sshmux_server_channel_cbs_t cbs = {
      on_request_ignored, NULL, NULL, NULL, NULL, NULL};
  (void)conn, (void)info;
  sshmux_server_channel_set_cbs(ch, &cbs);
  ASSERT_OK(sshmux_server_channel_accept(ch));
}

/* A client cannot pile up requests an embedder has not answered: the
 * queue is bounded, then the connection ends. */
TEST_IMPL(server_request_queue_bounded) {
  sshmux_server_cbs_t cbs;
  sshmux__buf_t ex;
  th_t t;
  int i;

  memset(&cbs, 0, sizeof(cbs));
  cbs.channel_open = on_open_accept;
  th_init(&t, &cbs, 1, "u");
  open_session(&t, 65536, 32768);
  th_expect(&t, SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
  sshmux__buf_init(&ex, 256);
  ASSERT_OK(sshmux__buf_put_cstring(&ex, "LANG"));
  ASSERT_OK(sshmux__buf_put_cstring(&ex, "C"));
  for (i = 0; i < (int)SSHMUX__SRV_MAX_PENDING_REQS; i++)
    send_request(&t, 0, "env", 1, &ex);
  ASSERT(!th_closed(&t));
  send_request(&t, 0, "env", 1, &ex);
  ASSERT(th_closed(&t));
  ASSERT_EQ(t.conn->disconnect_reason, SSH_DISCONNECT_PROTOCOL_ERROR);
  sshmux__buf_free(&ex);
  th_free(&t);
  return 0;
}

/* ---- the client's CLOSE before the exit status ---- */

static int g_rclose, g_rclose_mode; /* 0 defer, 1 close with status 9 */

static void on_remote_close(sshmux_server_channel_t *ch) {
  g_rclose++;
  /* Output can no longer be queued; the exit status still can. */
  ASSERT_ERR(sshmux_server_channel_write(ch, SSHMUX_STREAM_STDOUT, "x", 1),
             SSHMUX_ECLOSED);
  if (g_rclose_mode == 1) {
    ASSERT_OK(sshmux_server_channel_exit_status(ch, 9));
    sshmux_server_channel_close(ch);
  }
}

static void on_exec_ok(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                       sshmux_server_request_t *req,
                       const sshmux_server_request_info_t *info) {
  (void)conn, (void)ch, (void)info;
  sshmux_server_request_reply(req, 1);
}

static void on_open_rclose(sshmux_server_conn_t *conn,
                           sshmux_server_channel_t *ch,
                           const sshmux_server_open_info_t *info) {
  static const sshmux_server_channel_cbs_t with = {
      on_exec_ok, on_data, NULL, NULL, on_close, on_remote_close};
  static const sshmux_server_channel_cbs_t without = {
      on_exec_ok, on_data, NULL, NULL, on_close, NULL};
  (void)conn, (void)info;
  g_ch = ch;
  sshmux_server_channel_set_cbs(ch, g_rclose_mode == 2 ? &without : &with);
  ASSERT_OK(sshmux_server_channel_accept(ch));
}

/* The next message is exit-status `code` for the client's channel 5. */
static void expect_exit_status(th_t *t, uint32_t code) {
  char *name;
  int want;

  ASSERT_EQ(th_next(t), SSH_MSG_CHANNEL_REQUEST);
  ASSERT_EQ(msg_u32(t), 5);
  ASSERT_OK(sshmux__buf_get_cstring(&t->msg, 64, &name));
  ASSERT_STR_EQ(name, "exit-status");
  sshmux__free(name);
  ASSERT_OK(sshmux__buf_get_bool(&t->msg, &want));
  ASSERT_EQ(want, 0);
  ASSERT_EQ(msg_u32(t), code);
}

/* An exec whose output and EOF went out; then the client (as an OpenSSH
 * ControlMaster does for a mux session) sends EOF and CLOSE at once. */
static uint32_t exec_then_client_close(th_t *t) {
  sshmux_server_cbs_t cbs;
  sshmux__buf_t ex;
  uint32_t id;

  memset(&cbs, 0, sizeof(cbs));
  cbs.channel_open = on_open_rclose;
  g_closed = g_rclose = 0;
  th_init(t, &cbs, 1, "u");
  open_session(t, 65536, 16384);
  ASSERT_EQ(th_next(t), SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
  ASSERT_EQ(msg_u32(t), 5);
  id = msg_u32(t);
  sshmux__buf_init(&ex, 64);
  ASSERT_OK(sshmux__buf_put_cstring(&ex, "true"));
  send_request(t, id, "exec", 1, &ex);
  sshmux__buf_free(&ex);
  ASSERT_EQ(th_next(t), SSH_MSG_CHANNEL_SUCCESS);
  ASSERT_EQ(sshmux_server_channel_write(g_ch, SSHMUX_STREAM_STDOUT, "out", 3),
            0);
  ASSERT_OK(sshmux_server_channel_eof(g_ch));
  th_run(t);
  ASSERT_EQ(th_next(t), SSH_MSG_CHANNEL_DATA);
  ASSERT_EQ(th_next(t), SSH_MSG_CHANNEL_EOF);
  send_msg(t, SSH_MSG_CHANNEL_EOF, 1, (const uint32_t[]){id}, NULL);
  send_msg(t, SSH_MSG_CHANNEL_CLOSE, 1, (const uint32_t[]){id}, NULL);
  return id;
}

TEST_IMPL(server_exit_status_after_client_close) {
  uint32_t id;
  th_t t;

  /* remote_close set, the embedder closes later: our CLOSE waits, and the
   * exit status that comes meanwhile goes out before it. */
  g_rclose_mode = 0;
  id = exec_then_client_close(&t);
  ASSERT_EQ(g_rclose, 1);
  ASSERT_EQ(g_closed, 0);
  th_run(&t);
  ASSERT_EQ(th_next(&t), -1); /* no CLOSE yet */
  /* Whatever the client sends after its CLOSE is moot, not an error. */
  send_data(&t, id, 10);
  send_msg(&t, SSH_MSG_CHANNEL_CLOSE, 1, (const uint32_t[]){id}, NULL);
  ASSERT(!th_closed(&t));
  ASSERT_EQ(g_rclose, 1);
  ASSERT_EQ(g_data, 0);
  ASSERT_OK(sshmux_server_channel_exit_status(g_ch, 7));
  sshmux_server_channel_close(g_ch);
  th_run(&t);
  expect_exit_status(&t, 7);
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_CLOSE);
  ASSERT_EQ(msg_u32(&t), 5);
  ASSERT_EQ(th_next(&t), -1);
  ASSERT_EQ(g_closed, 1);
  /* The channel is gone both ways: its id is free again. */
  send_msg(&t, SSH_MSG_CHANNEL_EOF, 1, (const uint32_t[]){id}, NULL);
  ASSERT(th_closed(&t));
  th_free(&t);

  /* remote_close closes at once, with a status: both go out at once. */
  g_rclose_mode = 1;
  (void)exec_then_client_close(&t);
  ASSERT_EQ(g_rclose, 1);
  ASSERT_EQ(g_closed, 1);
  expect_exit_status(&t, 9);
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_CLOSE);
  ASSERT_EQ(th_next(&t), -1);
  th_free(&t);

  /* Without remote_close: answered at once, as before. */
  g_rclose_mode = 2;
  (void)exec_then_client_close(&t);
  ASSERT_EQ(g_rclose, 0);
  ASSERT_EQ(g_closed, 1);
  ASSERT_EQ(th_next(&t), SSH_MSG_CHANNEL_CLOSE);
  ASSERT_EQ(th_next(&t), -1);
  th_free(&t);
  return 0;
}

/* A listen that fails (port in use) leaves the server able to listen again;
 * no host key yet is SSHMUX_ENOTFOUND; nothing is left on the loop. */
TEST_IMPL(server_listen_retry_after_failure) {
  uv_loop_t loop;
  uv_tcp_t busy;
  sshmux_server_cbs_t cbs;
  sshmux_server_t *srv;
  struct sockaddr_in sa;
  struct sockaddr_storage ss;
  int len = sizeof(ss), port;

  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(uv_tcp_init(&loop, &busy));
  ASSERT_OK(uv_ip4_addr("127.0.0.1", 0, &sa));
  ASSERT_OK(uv_tcp_bind(&busy, (struct sockaddr *)&sa, 0));
  ASSERT_OK(uv_listen((uv_stream_t *)&busy, 1, NULL));
  ASSERT_OK(uv_tcp_getsockname(&busy, (struct sockaddr *)&ss, &len));
  port = ntohs(((struct sockaddr_in *)&ss)->sin_port);

  memset(&cbs, 0, sizeof(cbs));
  ASSERT_OK(sshmux_server_new(&loop, &cbs, &srv));
  ASSERT_EQ(sshmux_server_listen(srv, "127.0.0.1", 0), SSHMUX_ENOTFOUND);
  ASSERT_OK(sshmux_server_add_host_key(srv, test_path("hostkey"),
                                       SSHMUX_SERVER_KEY_ED25519));
  ASSERT_EQ(sshmux_server_listen(srv, "127.0.0.1", port), UV_EADDRINUSE);
  ASSERT_EQ(sshmux_server_port(srv), SSHMUX_EINVAL);
  ASSERT_OK(sshmux_server_listen(srv, "127.0.0.1", 0));
  ASSERT_GT(sshmux_server_port(srv), 0);
  ASSERT_NE(sshmux_server_port(srv), port);
  ASSERT_EQ(sshmux_server_listen(srv, "127.0.0.1", 0), SSHMUX_EINVAL);
  sshmux_server_close(srv, NULL);
  uv_close((uv_handle_t *)&busy, NULL);
  ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
  ASSERT_OK(uv_loop_close(&loop));
  return 0;
}

static int g_closed;

static void on_conn_closed(sshmux_server_conn_t *conn) {
  (void)conn;
  g_closed++;
}

/* `closed` is told of every authenticated connection that ends, whether
 * or not `authed` is set; never of one that did not authenticate. */
TEST_IMPL(server_closed_without_authed) {
  sshmux_server_cbs_t cbs;
  sshmux__hostkey_t *key;
  sshmux__buf_t blob;
  char line[512];
  th_t t;

  key = new_user_key(&blob, line);
  ASSERT_OK(test_write_file(test_path("ak"), line, 0600));
  memset(&cbs, 0, sizeof(cbs));
  cbs.closed = on_conn_closed;

  /* Not authenticated: not told. */
  th_init_ak(&t, &cbs);
  th_free(&t);
  ASSERT_EQ(g_closed, 0);

  /* Authenticated, no `authed` callback: told once. */
  th_init_ak(&t, &cbs);
  sign_in(&t, key, &blob);
  th_free(&t);
  ASSERT_EQ(g_closed, 1);

  /* With `authed` too: told once more. */
  cbs.authed = on_authed;
  th_init_ak(&t, &cbs);
  sign_in(&t, key, &blob);
  ASSERT_EQ(g_authed, 1);
  th_free(&t);
  ASSERT_EQ(g_closed, 2);
  sshmux__buf_free(&blob);
  sshmux__hostkey_free(key);
  return 0;
}

/* Bytes this process has read through read(2) so far. */
static long long rchar(void) {
  char *io = test_read_file("/proc/self/io", NULL);
  const char *p = io != NULL ? strstr(io, "rchar: ") : NULL;
  long long n = p != NULL ? atoll(p + 7) : -1;
  free(io);
  return n;
}

/* authorized_keys is checked for every key offered but read again only
 * when it changed (a 1 MiB file offered 3 more times reads < 1 MiB), and
 * an edit still applies at the next check. */
TEST_IMPL(server_authkeys_cached) {
  sshmux_server_cbs_t cbs;
  sshmux__hostkey_t *key;
  sshmux__buf_t blob;
  size_t cap = 1100u * 1024u, n = 0;
  char *text = malloc(cap), line[512];
  long long before;
  th_t t;

  ASSERT(text != NULL);
  key = new_user_key(&blob, line);
  while (n < 1024u * 1024u)
    n += (size_t)snprintf(text + n, cap - n, "# padding line %zu\n", n);
  n += (size_t)snprintf(text + n, cap - n, "%s", line);
  ASSERT_OK(test_write_file(test_path("ak"), text, 0600));

  memset(&cbs, 0, sizeof(cbs));
  th_init_ak(&t, &cbs);
  query_key(&t, &blob, SSH_MSG_USERAUTH_PK_OK);
  before = rchar();
  ASSERT_GE(before, 0);
  for (int i = 0; i < 3; i++)
    query_key(&t, &blob, SSH_MSG_USERAUTH_PK_OK);
  ASSERT_LT(rchar() - before, 1024 * 1024);
  /* Edited (the key line commented out): refused at once. */
  text[n - strlen(line)] = '#';
  ASSERT_OK(test_write_file(test_path("ak"), text, 0600));
  query_key(&t, &blob, SSH_MSG_USERAUTH_FAILURE);
  th_free(&t);
  free(text);
  sshmux__buf_free(&blob);
  sshmux__hostkey_free(key);
  return 0;
}
