/* crypto/codec.c -- the binary packet protection of one direction:
 * "none" (before the first NEWKEYS), chacha20-poly1305@openssh.com,
 * aes128/256-gcm@openssh.com, and aes128/256-ctr with hmac-sha2-256/512 in
 * the classic encrypt-and-MAC form or the -etm@openssh.com form.
 *
 * The transport owns framing (padding, maximum sizes, alignment checks) and
 * hands us whole packets; this file owns only what each construction does
 * to the bytes (ssh-server.md §2.2, §2.7).  Receiving is split in two steps
 * because the length may be encrypted: open_length() reveals packet_length
 * from the first bytes, open() authenticates and decrypts the rest in place.
 * After open() succeeds pkt holds the whole plaintext packet in every mode.
 *
 * Where the construction allows it (chacha20-poly1305, GCM, ETM) the tag is
 * checked in constant time before any plaintext is released.  AES-256-GCM
 * runs on libsodium's AES-NI/PCLMUL code where the CPU has both (about 7x
 * mbedTLS 2.28's GCM here, and faster than chacha20-poly1305): it decrypts
 * in place and wipes the buffer itself when the tag does not match.
 * Otherwise GCM runs on mbedTLS, which cannot decrypt in place: it decrypts
 * into a scratch buffer and copies the plaintext back only once the tag
 * matched.  The classic CTR+HMAC mode
 * MACs the plaintext, so there decryption necessarily comes first.  After
 * SSHMUX_EMAC the codec's stream state is undefined: the transport must
 * drop the connection (it must anyway, RFC 4253 §6.4).
 *
 * chacha20-poly1305 is OpenSSH's construction, not RFC 8439's AEAD: libsodium's
 * original-ChaCha20 calls (64-bit nonce = BE64(seq), 64-bit counter) map onto
 * it directly, with K_2 = key[0..32) for the body and K_1 = key[32..64) for
 * the length.  Keys are copied in and wiped on free. */
#include <string.h>

#include <mbedtls/aes.h>
#include <mbedtls/gcm.h>
#include <sodium.h>

#include "core/core.h"
#include "crypto/crypto.h"

typedef enum {
  MODE_NONE = 0,
  MODE_CHACHA = 1,
  MODE_GCM = 2,
  MODE_CTR = 3
} codec_mode_t;

struct sshmux__codec {
  codec_mode_t mode;
  int etm;        /* CTR only: 1 for the -etm@openssh.com MACs */
  size_t key_len; /* cipher key bytes */
  size_t tag_len; /* MAC/tag bytes after the packet */
  /* chacha20-poly1305: main (K_2) and header (K_1) keys; enc_len keeps the
   * encrypted length between open_length() and open(), since the tag covers
   * the ciphertext while pkt[0..4) now holds the plaintext. */
  uint8_t k_main[32];
  uint8_t k_hdr[32];
  uint8_t enc_len[4];
  /* GCM: fixed[4] || invocation_counter[8], incremented per packet;
   * sodium_gcm selects libsodium's expanded key (gst) over mbedTLS. */
  int sodium_gcm;
  crypto_aead_aes256gcm_state gst;
  mbedtls_gcm_context gcm;
  uint8_t iv[12];
  uint8_t *scratch; /* GCM plaintext before the tag is known good */
  size_t scratch_cap;
  /* CTR: the counter block, partial-block keystream and offset persist
   * across packets (RFC 4344 §4). */
  mbedtls_aes_context aes;
  uint8_t ctr[16];
  uint8_t stream[16];
  size_t nc_off;
  sshmux__hmac_t *hmac;
};

/* ---- names and sizes ---- */

typedef struct {
  const char *name;
  codec_mode_t mode;
  size_t key_len, iv_len;
} cipher_info_t;

static const cipher_info_t ciphers[] = {
    {"none", MODE_NONE, 0, 0},
    {"chacha20-poly1305@openssh.com", MODE_CHACHA, 64, 0},
    {"aes128-gcm@openssh.com", MODE_GCM, 16, 12},
    {"aes256-gcm@openssh.com", MODE_GCM, 32, 12},
    {"aes128-ctr", MODE_CTR, 16, 16},
    {"aes256-ctr", MODE_CTR, 32, 16},
};

typedef struct {
  const char *name;
  sshmux__hash_alg_t alg;
  int etm;
} mac_info_t;

static const mac_info_t macs[] = {
    {"hmac-sha2-256-etm@openssh.com", SSHMUX__SHA256, 1},
    {"hmac-sha2-512-etm@openssh.com", SSHMUX__SHA512, 1},
    {"hmac-sha2-256", SSHMUX__SHA256, 0},
    {"hmac-sha2-512", SSHMUX__SHA512, 0},
};

static const cipher_info_t *find_cipher(const char *name) {
  for (size_t i = 0; i < SSHMUX__ARRAY_SIZE(ciphers); i++)
    if (name != NULL && strcmp(ciphers[i].name, name) == 0)
      return &ciphers[i];
  return NULL;
}

static const mac_info_t *find_mac(const char *name) {
  for (size_t i = 0; i < SSHMUX__ARRAY_SIZE(macs); i++)
    if (name != NULL && strcmp(macs[i].name, name) == 0)
      return &macs[i];
  return NULL;
}

int sshmux__cipher_sizes(const char *cipher, size_t *key_len, size_t *iv_len) {
  const cipher_info_t *ci = find_cipher(cipher);

  if (ci == NULL)
    return SSHMUX_ENOALGO;
  *key_len = ci->key_len;
  *iv_len = ci->iv_len;
  return 0;
}

int sshmux__cipher_is_aead(const char *cipher) {
  const cipher_info_t *ci = find_cipher(cipher);

  return ci != NULL && (ci->mode == MODE_CHACHA || ci->mode == MODE_GCM);
}

int sshmux__cipher_accelerated(const char *cipher) {
  const cipher_info_t *ci = find_cipher(cipher);

  return ci != NULL && ci->mode == MODE_GCM &&
         ci->key_len == crypto_aead_aes256gcm_KEYBYTES && sshmux_init() == 0 &&
         crypto_aead_aes256gcm_is_available();
}

int sshmux__mac_key_len(const char *mac, size_t *key_len) {
  const mac_info_t *mi = find_mac(mac);

  if (mi == NULL)
    return SSHMUX_ENOALGO;
  /* RFC 6668: the key is as long as the digest. */
  *key_len = sshmux__hash_len(mi->alg);
  return 0;
}

/* ---- life cycle ---- */

int sshmux__codec_new(sshmux__codec_t **c, const char *cipher, const char *mac,
                      const uint8_t *key, const uint8_t *iv,
                      const uint8_t *mac_key) {
  const cipher_info_t *ci = find_cipher(cipher);
  const mac_info_t *mi = NULL;
  sshmux__codec_t *x;
  int r = 0;

  if (ci == NULL)
    return SSHMUX_ENOALGO;
  if (ci->mode == MODE_CTR && (mi = find_mac(mac)) == NULL)
    return SSHMUX_ENOALGO;
  if (ci->mode != MODE_NONE && (key == NULL || (ci->iv_len && iv == NULL)))
    return SSHMUX_EINVAL;
  if (mi != NULL && mac_key == NULL)
    return SSHMUX_EINVAL;
  if ((r = sshmux_init()) != 0)
    return r;
  x = sshmux__calloc(1, sizeof(*x));
  if (x == NULL)
    return SSHMUX_ENOMEM;
  x->mode = ci->mode;
  x->key_len = ci->key_len;
  mbedtls_gcm_init(&x->gcm);
  mbedtls_aes_init(&x->aes);
  switch (ci->mode) {
  case MODE_NONE:
    break;
  case MODE_CHACHA:
    memcpy(x->k_main, key, 32);
    memcpy(x->k_hdr, key + 32, 32);
    x->tag_len = crypto_onetimeauth_poly1305_BYTES;
    break;
  case MODE_GCM:
    memcpy(x->iv, iv, sizeof(x->iv));
    x->tag_len = 16;
    if (sshmux__cipher_accelerated(cipher)) {
      x->sodium_gcm = 1;
      r = crypto_aead_aes256gcm_beforenm(&x->gst, key) == 0 ? 0 : SSHMUX_EINVAL;
      break;
    }
    r = mbedtls_gcm_setkey(&x->gcm, MBEDTLS_CIPHER_ID_AES, key,
                           (unsigned)(ci->key_len * 8));
    r = sshmux__err_from_mbedtls(r);
    break;
  case MODE_CTR:
    memcpy(x->ctr, iv, sizeof(x->ctr));
    x->etm = mi->etm;
    /* CTR needs only the encryption key schedule, both directions. */
    r = mbedtls_aes_setkey_enc(&x->aes, key, (unsigned)(ci->key_len * 8));
    r = sshmux__err_from_mbedtls(r);
    if (r == 0)
      r = sshmux__hmac_new(&x->hmac, mi->alg, mac_key,
                           sshmux__hash_len(mi->alg));
    if (r == 0)
      x->tag_len = sshmux__hmac_len(x->hmac);
    break;
  }
  if (r != 0) {
    sshmux__codec_free(x);
    return r;
  }
  *c = x;
  return 0;
}

void sshmux__codec_free(sshmux__codec_t *c) {
  if (c == NULL)
    return;
  mbedtls_gcm_free(&c->gcm); /* both zeroize their key schedules */
  mbedtls_aes_free(&c->aes);
  sshmux__wipe(&c->gst, sizeof(c->gst));
  sshmux__hmac_free(c->hmac);
  sshmux__free_secret(c->scratch, c->scratch_cap);
  sshmux__free_secret(c, sizeof(*c));
}

/* ---- framing facts ---- */

size_t sshmux__codec_block(const sshmux__codec_t *c) {
  return c->mode == MODE_GCM || c->mode == MODE_CTR ? 16 : 8;
}

size_t sshmux__codec_tag_len(const sshmux__codec_t *c) {
  return c->tag_len;
}

size_t sshmux__codec_first_len(const sshmux__codec_t *c) {
  /* Classic CTR encrypts the length: a whole cipher block must be in. */
  return c->mode == MODE_CTR && !c->etm ? 16 : 4;
}

int sshmux__codec_len_excluded(const sshmux__codec_t *c) {
  return c->mode == MODE_CHACHA || c->mode == MODE_GCM ||
         (c->mode == MODE_CTR && c->etm);
}

/* ---- helpers ---- */

static void nonce_seq(uint8_t n8[8], uint32_t seq) {
  sshmux__store_be64(n8, seq);
}

/* Poly1305 key: the first 32 bytes of ChaCha20(K_2, seq, counter 0). */
static void chacha_poly_key(const sshmux__codec_t *c, uint32_t seq,
                            uint8_t poly_key[32]) {
  uint8_t n8[8], block[64];

  nonce_seq(n8, seq);
  crypto_stream_chacha20(block, sizeof(block), n8, c->k_main);
  memcpy(poly_key, block, 32);
  sshmux__wipe(block, sizeof(block));
}

static void chacha_tag(const uint8_t poly_key[32], const uint8_t enc_len[4],
                       const uint8_t *body, size_t n, uint8_t tag[16]) {
  crypto_onetimeauth_poly1305_state st;

  crypto_onetimeauth_poly1305_init(&st, poly_key);
  crypto_onetimeauth_poly1305_update(&st, enc_len, 4);
  crypto_onetimeauth_poly1305_update(&st, body, n);
  crypto_onetimeauth_poly1305_final(&st, tag);
  sshmux__wipe(&st, sizeof(st));
}

/* The SSH MAC of RFC 4253 §6.4 and PROTOCOL §1.5: HMAC(seq || data). */
static int mac_compute(sshmux__codec_t *c, uint32_t seq, const uint8_t *data,
                       size_t n, uint8_t *out) {
  uint8_t s[4];
  int r;

  sshmux__store_be32(s, seq);
  if ((r = sshmux__hmac_reset(c->hmac)) != 0 ||
      (r = sshmux__hmac_update(c->hmac, s, 4)) != 0 ||
      (r = sshmux__hmac_update(c->hmac, data, n)) != 0)
    return r;
  return sshmux__hmac_final(c->hmac, out);
}

static int ctr_crypt(sshmux__codec_t *c, uint8_t *p, size_t n) {
  if (n == 0)
    return 0;
  return sshmux__err_from_mbedtls(
      mbedtls_aes_crypt_ctr(&c->aes, n, &c->nc_off, c->ctr, c->stream, p, p));
}

/* Add one to the 64-bit big-endian invocation counter (RFC 5647 §7.1). */
static void gcm_next_iv(sshmux__codec_t *c) {
  sshmux__store_be64(c->iv + 4, sshmux__load_be64(c->iv + 4) + 1);
}

static int scratch_reserve(sshmux__codec_t *c, size_t n) {
  uint8_t *p;

  if (n <= c->scratch_cap)
    return 0;
  p = sshmux__malloc(n);
  if (p == NULL)
    return SSHMUX_ENOMEM;
  sshmux__free_secret(c->scratch, c->scratch_cap);
  c->scratch = p;
  c->scratch_cap = n;
  return 0;
}

/* ---- receive ---- */

int sshmux__codec_open_length(sshmux__codec_t *c, uint32_t seq, uint8_t *pkt,
                              uint32_t *packet_len) {
  uint8_t n8[8];
  int r;

  switch (c->mode) {
  case MODE_CHACHA:
    memcpy(c->enc_len, pkt, 4);
    nonce_seq(n8, seq);
    crypto_stream_chacha20_xor(pkt, pkt, 4, n8, c->k_hdr);
    break;
  case MODE_CTR:
    if (!c->etm && (r = ctr_crypt(c, pkt, 16)) != 0)
      return r;
    break;
  case MODE_NONE:
  case MODE_GCM:
    break;
  }
  *packet_len = sshmux__load_be32(pkt);
  return 0;
}

int sshmux__codec_open(sshmux__codec_t *c, uint32_t seq, uint8_t *pkt,
                       size_t len, const uint8_t *tag) {
  uint8_t want[SSHMUX__HASH_MAX], n8[8], poly_key[32];
  int r = 0, ok;

  if (len < sshmux__codec_first_len(c))
    return SSHMUX_EINVAL;
  switch (c->mode) {
  case MODE_NONE:
    return 0;
  case MODE_CHACHA:
    chacha_poly_key(c, seq, poly_key);
    chacha_tag(poly_key, c->enc_len, pkt + 4, len - 4, want);
    sshmux__wipe(poly_key, sizeof(poly_key));
    if (!sshmux__ct_equal(want, tag, 16))
      return SSHMUX_EMAC;
    nonce_seq(n8, seq);
    crypto_stream_chacha20_xor_ic(pkt + 4, pkt + 4, len - 4, n8, 1, c->k_main);
    return 0;
  case MODE_GCM:
    if (c->sodium_gcm) {
      /* On a bad tag libsodium zeroes what it decrypted and returns -1. */
      if (crypto_aead_aes256gcm_decrypt_detached_afternm(pkt + 4, NULL, pkt + 4,
                                                         len - 4, tag, pkt, 4,
                                                         c->iv, &c->gst) != 0)
        return SSHMUX_EMAC;
      gcm_next_iv(c);
      return 0;
    }
    if ((r = scratch_reserve(c, len - 4)) != 0)
      return r;
    r = mbedtls_gcm_auth_decrypt(&c->gcm, len - 4, c->iv, sizeof(c->iv), pkt, 4,
                                 tag, 16, pkt + 4, c->scratch);
    if (r == MBEDTLS_ERR_GCM_AUTH_FAILED)
      return SSHMUX_EMAC;
    if (r != 0)
      return sshmux__err_from_mbedtls(r);
    memcpy(pkt + 4, c->scratch, len - 4);
    sshmux__wipe(c->scratch, len - 4);
    gcm_next_iv(c);
    return 0;
  case MODE_CTR:
    if (c->etm) {
      /* MAC over seq || length || ciphertext, checked before decrypting. */
      if ((r = mac_compute(c, seq, pkt, len, want)) != 0)
        return r;
      ok = sshmux__ct_equal(want, tag, c->tag_len);
      sshmux__wipe(want, sizeof(want));
      if (!ok)
        return SSHMUX_EMAC;
      return ctr_crypt(c, pkt + 4, len - 4);
    }
    /* Classic: the first block was decrypted by open_length(). */
    if ((r = ctr_crypt(c, pkt + 16, len - 16)) != 0)
      return r;
    if ((r = mac_compute(c, seq, pkt, len, want)) != 0)
      return r;
    ok = sshmux__ct_equal(want, tag, c->tag_len);
    sshmux__wipe(want, sizeof(want));
    return ok ? 0 : SSHMUX_EMAC;
  }
  return SSHMUX_EINVAL;
}

/* ---- send ---- */

int sshmux__codec_seal(sshmux__codec_t *c, uint32_t seq, uint8_t *pkt,
                       size_t len, uint8_t *tag) {
  uint8_t n8[8], poly_key[32];
  int r;

  if (len < 4)
    return SSHMUX_EINVAL;
  switch (c->mode) {
  case MODE_NONE:
    return 0;
  case MODE_CHACHA:
    nonce_seq(n8, seq);
    chacha_poly_key(c, seq, poly_key);
    crypto_stream_chacha20_xor(pkt, pkt, 4, n8, c->k_hdr);
    crypto_stream_chacha20_xor_ic(pkt + 4, pkt + 4, len - 4, n8, 1, c->k_main);
    chacha_tag(poly_key, pkt, pkt + 4, len - 4, tag);
    sshmux__wipe(poly_key, sizeof(poly_key));
    return 0;
  case MODE_GCM:
    /* Encryption may run in place; the clear length is the AAD. */
    if (c->sodium_gcm) {
      if (crypto_aead_aes256gcm_encrypt_detached_afternm(
              pkt + 4, tag, NULL, pkt + 4, len - 4, pkt, 4, NULL, c->iv,
              &c->gst) != 0)
        return SSHMUX_EINVAL;
      gcm_next_iv(c);
      return 0;
    }
    r = mbedtls_gcm_crypt_and_tag(&c->gcm, MBEDTLS_GCM_ENCRYPT, len - 4, c->iv,
                                  sizeof(c->iv), pkt, 4, pkt + 4, pkt + 4, 16,
                                  tag);
    if (r != 0)
      return sshmux__err_from_mbedtls(r);
    gcm_next_iv(c);
    return 0;
  case MODE_CTR:
    if (c->etm) {
      if ((r = ctr_crypt(c, pkt + 4, len - 4)) != 0)
        return r;
      return mac_compute(c, seq, pkt, len, tag);
    }
    if ((r = mac_compute(c, seq, pkt, len, tag)) != 0)
      return r;
    return ctr_crypt(c, pkt, len);
  }
  return SSHMUX_EINVAL;
}
