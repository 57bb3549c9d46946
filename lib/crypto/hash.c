/* crypto/hash.c -- the hash functions of the SSH server (SHA-256/384/512
 * one-shot and incremental, HMAC) and the RFC 4253 §7.2 key derivation built
 * on them.  Everything is mbedTLS's generic md layer, so one code path serves
 * every digest; the context structs stay in this file so that callers never
 * see an mbedTLS type.  Also home of the RNG adapter every mbedTLS call in
 * the crypto files uses: it draws from libsodium's CSPRNG, so the library
 * has exactly one randomness source and no DRBG state to reseed after fork.
 */
#include <string.h>

#include <mbedtls/md.h>
#include <sodium.h>

#include "core/core.h"
#include "crypto/crypto.h"

struct sshmux__hash_ctx {
  mbedtls_md_context_t md; /* set up for the chosen digest, no HMAC */
  sshmux__hash_alg_t alg;
};

struct sshmux__hmac {
  mbedtls_md_context_t md; /* HMAC-enabled; the key's ipad/opad live in it */
  size_t len;              /* digest (and tag) length */
};

static const mbedtls_md_info_t *md_info(sshmux__hash_alg_t alg) {
  switch (alg) {
  case SSHMUX__SHA256:
    return mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  case SSHMUX__SHA384:
    return mbedtls_md_info_from_type(MBEDTLS_MD_SHA384);
  case SSHMUX__SHA512:
    return mbedtls_md_info_from_type(MBEDTLS_MD_SHA512);
  case SSHMUX__SHA1:
    return mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
  }
  return NULL;
}

int sshmux__mbedtls_rng(void *ctx, unsigned char *out, size_t n) {
  (void)ctx;
  sshmux__random(out, n);
  return 0;
}

size_t sshmux__hash_len(sshmux__hash_alg_t alg) {
  switch (alg) {
  case SSHMUX__SHA256:
    return 32;
  case SSHMUX__SHA384:
    return 48;
  case SSHMUX__SHA512:
    return 64;
  case SSHMUX__SHA1:
    return 20;
  }
  return 0;
}

int sshmux__hash(sshmux__hash_alg_t alg, const void *data, size_t n,
                 uint8_t *out) {
  const mbedtls_md_info_t *info = md_info(alg);

  if (info == NULL)
    return SSHMUX_EINVAL;
  return sshmux__err_from_mbedtls(mbedtls_md(info, data, n, out));
}

int sshmux__hash_new(sshmux__hash_ctx_t **ctx, sshmux__hash_alg_t alg) {
  const mbedtls_md_info_t *info = md_info(alg);
  sshmux__hash_ctx_t *c;
  int r;

  if (info == NULL)
    return SSHMUX_EINVAL;
  c = sshmux__malloc(sizeof(*c));
  if (c == NULL)
    return SSHMUX_ENOMEM;
  mbedtls_md_init(&c->md);
  c->alg = alg;
  r = mbedtls_md_setup(&c->md, info, 0);
  if (r == 0)
    r = mbedtls_md_starts(&c->md);
  if (r != 0) {
    sshmux__hash_free(c);
    return r == MBEDTLS_ERR_MD_ALLOC_FAILED ? SSHMUX_ENOMEM
                                            : sshmux__err_from_mbedtls(r);
  }
  *ctx = c;
  return 0;
}

int sshmux__hash_update(sshmux__hash_ctx_t *ctx, const void *data, size_t n) {
  return sshmux__err_from_mbedtls(mbedtls_md_update(&ctx->md, data, n));
}

int sshmux__hash_final(sshmux__hash_ctx_t *ctx, uint8_t *out) {
  int r = sshmux__err_from_mbedtls(mbedtls_md_finish(&ctx->md, out));

  sshmux__hash_free(ctx);
  return r;
}

void sshmux__hash_free(sshmux__hash_ctx_t *ctx) {
  if (ctx == NULL)
    return;
  /* mbedtls_md_free zeroizes the digest state (it may hash secrets: K). */
  mbedtls_md_free(&ctx->md);
  sshmux__free_secret(ctx, sizeof(*ctx));
}

/* ---- HMAC ---- */

int sshmux__hmac_new(sshmux__hmac_t **h, sshmux__hash_alg_t alg,
                     const uint8_t *key, size_t klen) {
  const mbedtls_md_info_t *info = md_info(alg);
  sshmux__hmac_t *m;
  int r;

  if (info == NULL)
    return SSHMUX_EINVAL;
  m = sshmux__malloc(sizeof(*m));
  if (m == NULL)
    return SSHMUX_ENOMEM;
  mbedtls_md_init(&m->md);
  m->len = sshmux__hash_len(alg);
  r = mbedtls_md_setup(&m->md, info, 1);
  if (r == 0)
    r = mbedtls_md_hmac_starts(&m->md, key, klen);
  if (r != 0) {
    sshmux__hmac_free(m);
    return r == MBEDTLS_ERR_MD_ALLOC_FAILED ? SSHMUX_ENOMEM
                                            : sshmux__err_from_mbedtls(r);
  }
  *h = m;
  return 0;
}

size_t sshmux__hmac_len(const sshmux__hmac_t *h) {
  return h->len;
}

int sshmux__hmac_reset(sshmux__hmac_t *h) {
  return sshmux__err_from_mbedtls(mbedtls_md_hmac_reset(&h->md));
}

int sshmux__hmac_update(sshmux__hmac_t *h, const void *data, size_t n) {
  return sshmux__err_from_mbedtls(mbedtls_md_hmac_update(&h->md, data, n));
}

int sshmux__hmac_final(sshmux__hmac_t *h, uint8_t *out) {
  return sshmux__err_from_mbedtls(mbedtls_md_hmac_finish(&h->md, out));
}

void sshmux__hmac_free(sshmux__hmac_t *h) {
  if (h == NULL)
    return;
  mbedtls_md_free(&h->md); /* zeroizes the keyed pads */
  sshmux__free_secret(h, sizeof(*h));
}

int sshmux__hmac(sshmux__hash_alg_t alg, const uint8_t *key, size_t klen,
                 const void *data, size_t n, uint8_t *out) {
  sshmux__hmac_t *h;
  int r;

  if ((r = sshmux__hmac_new(&h, alg, key, klen)) != 0)
    return r;
  r = sshmux__hmac_update(h, data, n);
  if (r == 0)
    r = sshmux__hmac_final(h, out);
  sshmux__hmac_free(h);
  return r;
}

/* ---- key derivation ---- */

/* K1 = HASH(K || H || letter || session_id); K(i+1) = HASH(K || H || K1 ||
 * ... || Ki).  Every Ki but the last is needed whole, so the blocks already
 * written to out serve as the extension input; only the last block, which
 * may be truncated, goes through a temporary that is wiped. */
int sshmux__kex_derive(sshmux__hash_alg_t alg, const uint8_t *k, size_t klen,
                       const uint8_t *h, size_t hlen, const uint8_t *session_id,
                       size_t sidlen, char letter, uint8_t *out,
                       size_t outlen) {
  uint8_t block[SSHMUX__HASH_MAX];
  size_t dlen = sshmux__hash_len(alg), have = 0;
  uint8_t x = (uint8_t)letter;
  int r = 0;

  if (dlen == 0)
    return SSHMUX_EINVAL;
  while (have < outlen) {
    sshmux__hash_ctx_t *c;
    size_t take;

    if ((r = sshmux__hash_new(&c, alg)) != 0)
      break;
    r = sshmux__hash_update(c, k, klen);
    if (r == 0)
      r = sshmux__hash_update(c, h, hlen);
    if (r == 0 && have == 0) {
      r = sshmux__hash_update(c, &x, 1);
      if (r == 0)
        r = sshmux__hash_update(c, session_id, sidlen);
    } else if (r == 0) {
      r = sshmux__hash_update(c, out, have);
    }
    if (r != 0) {
      sshmux__hash_free(c);
      break;
    }
    if ((r = sshmux__hash_final(c, block)) != 0)
      break;
    take = SSHMUX__MIN(dlen, outlen - have);
    memcpy(out + have, block, take);
    have += take;
  }
  sshmux__wipe(block, sizeof(block));
  if (r != 0)
    sshmux__wipe(out, outlen);
  return r;
}

/* The OpenSSH fingerprint: "SHA256:" + unpadded base64 of the digest. */
int sshmux__fingerprint_sha256(const uint8_t *blob, size_t n, char *out,
                               size_t outsz) {
  uint8_t h[crypto_hash_sha256_BYTES];
  char enc[48];
  size_t len;

  if (outsz < 7 + 43 + 1)
    return SSHMUX_ETOOLONG;
  crypto_hash_sha256(h, blob, n);
  len = sshmux__base64_encode(h, sizeof(h), enc);
  while (len > 0 && enc[len - 1] == '=')
    enc[--len] = '\0';
  memcpy(out, "SHA256:", 7);
  memcpy(out + 7, enc, len + 1);
  return 0;
}
