/* crypto/kex.c -- the server half of the two ECDH key exchanges we
 * offer: curve25519-sha256 (RFC 8731; also under its old name
 * curve25519-sha256@libssh.org, the only one paramiko knows) through
 * libsodium, and ecdh-sha2-nistp256 (RFC 5656) through mbedTLS's low-level
 * ECP calls, which avoid mbedtls_ecdh_context and its legacy layout.
 *
 * The output that matters most is K, the shared secret as an SSH mpint with
 * its length prefix: it is hashed into H and into every derived key, and the
 * classic interop bugs live in its encoding (ssh-server.md §2.4).  X25519
 * output bytes are read as a big-endian number without byte reversal; both
 * methods then strip leading zero bytes and add a 0x00 sign byte when the
 * top bit is set (sshmux__buf_put_mpint does exactly that).  A kex object is
 * used for one exchange: a fresh ephemeral key is drawn in compute(). */
#include <string.h>

#include <mbedtls/ecdh.h>
#include <mbedtls/ecp.h>
#include <sodium.h>

#include "core/core.h"
#include "crypto/crypto.h"

typedef enum { KEX_X25519 = 0, KEX_P256 = 1 } kex_type_t;

struct sshmux__kex {
  kex_type_t type;
  int have_priv;    /* 1 once a test fixed priv via kex_set_private */
  uint8_t priv[32]; /* X25519 scalar or P-256 big-endian d; wiped on free */
};

int sshmux__kex_new(sshmux__kex_t **kex, const char *alg) {
  sshmux__kex_t *k;
  kex_type_t type;
  int r;

  if (strcmp(alg, "curve25519-sha256") == 0 ||
      strcmp(alg, "curve25519-sha256@libssh.org") == 0)
    type = KEX_X25519;
  else if (strcmp(alg, "ecdh-sha2-nistp256") == 0)
    type = KEX_P256;
  else
    return SSHMUX_ENOALGO;
  if ((r = sshmux_init()) != 0)
    return r;
  k = sshmux__calloc(1, sizeof(*k));
  if (k == NULL)
    return SSHMUX_ENOMEM;
  k->type = type;
  *kex = k;
  return 0;
}

sshmux__hash_alg_t sshmux__kex_hash_alg(const sshmux__kex_t *kex) {
  (void)kex; /* both methods we offer use SHA-256 */
  return SSHMUX__SHA256;
}

int sshmux__kex_set_private(sshmux__kex_t *kex, const uint8_t *priv, size_t n) {
  if (n != sizeof(kex->priv))
    return SSHMUX_EINVAL;
  memcpy(kex->priv, priv, n);
  kex->have_priv = 1;
  return 0;
}

void sshmux__kex_free(sshmux__kex_t *kex) {
  if (kex != NULL)
    sshmux__free_secret(kex, sizeof(*kex));
}

static int x25519(sshmux__kex_t *kex, const uint8_t *q_c, size_t q_c_len,
                  sshmux__buf_t *q_s, sshmux__buf_t *k) {
  uint8_t pub[crypto_scalarmult_curve25519_BYTES];
  uint8_t shared[crypto_scalarmult_curve25519_BYTES];
  size_t save = q_s->len;
  int r;

  if (q_c_len != crypto_scalarmult_curve25519_BYTES)
    return SSHMUX_EPROTO;
  if (!kex->have_priv)
    sshmux__random(kex->priv, sizeof(kex->priv));
  if (crypto_scalarmult_curve25519_base(pub, kex->priv) != 0)
    return SSHMUX_ECRYPTO;
  /* libsodium returns -1 when the result is all zero (a low-order point):
   * RFC 8731 §3 says abort. */
  if (crypto_scalarmult_curve25519(shared, kex->priv, q_c) != 0) {
    sshmux__wipe(shared, sizeof(shared));
    return SSHMUX_EPROTO;
  }
  r = sshmux__buf_put_bytes(q_s, pub, sizeof(pub));
  if (r == 0) {
    /* The little-endian X25519 bytes, read as big-endian (RFC 8731 §3.1). */
    r = sshmux__buf_put_mpint(k, shared, sizeof(shared));
    if (r != 0)
      q_s->len = save;
  }
  sshmux__wipe(shared, sizeof(shared));
  return r;
}

static int p256(sshmux__kex_t *kex, const uint8_t *q_c, size_t q_c_len,
                sshmux__buf_t *q_s, sshmux__buf_t *k) {
  mbedtls_ecp_group grp;
  mbedtls_ecp_point q, peer;
  mbedtls_mpi d, z;
  uint8_t pub[65], shared[32];
  size_t olen, save = q_s->len;
  int r, m;

  /* Uncompressed points only (RFC 5656 §3.1 lets us refuse compression). */
  if (q_c_len != 65 || q_c[0] != 0x04)
    return SSHMUX_EPROTO;
  mbedtls_ecp_group_init(&grp);
  mbedtls_ecp_point_init(&q);
  mbedtls_ecp_point_init(&peer);
  mbedtls_mpi_init(&d);
  mbedtls_mpi_init(&z);
  r = SSHMUX_ECRYPTO;
  if ((m = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1)) != 0)
    goto out;
  if (kex->have_priv) {
    if ((m = mbedtls_mpi_read_binary(&d, kex->priv, 32)) != 0 ||
        (m = mbedtls_ecp_check_privkey(&grp, &d)) != 0 ||
        (m = mbedtls_ecp_mul(&grp, &q, &d, &grp.G, sshmux__mbedtls_rng,
                             NULL)) != 0)
      goto out;
  } else if ((m = mbedtls_ecdh_gen_public(&grp, &d, &q, sshmux__mbedtls_rng,
                                          NULL)) != 0) {
    goto out;
  }
  if ((m = mbedtls_ecp_point_write_binary(&grp, &q, MBEDTLS_ECP_PF_UNCOMPRESSED,
                                          &olen, pub, sizeof(pub))) != 0 ||
      olen != sizeof(pub))
    goto out;
  /* The peer's point must be on the curve (invalid-curve attacks). */
  if (mbedtls_ecp_point_read_binary(&grp, &peer, q_c, q_c_len) != 0 ||
      mbedtls_ecp_check_pubkey(&grp, &peer) != 0) {
    r = SSHMUX_EPROTO;
    goto out;
  }
  if ((m = mbedtls_ecdh_compute_shared(&grp, &z, &peer, &d, sshmux__mbedtls_rng,
                                       NULL)) != 0) {
    r = m == MBEDTLS_ERR_ECP_INVALID_KEY ? SSHMUX_EPROTO : SSHMUX_ECRYPTO;
    goto out;
  }
  /* x as a fixed 32-byte big-endian field; the mpint writer strips any
   * leading zeros this leaves. */
  if ((m = mbedtls_mpi_write_binary(&z, shared, sizeof(shared))) != 0)
    goto out;
  r = sshmux__buf_put_bytes(q_s, pub, sizeof(pub));
  if (r == 0 && (r = sshmux__buf_put_mpint(k, shared, 32)) != 0)
    q_s->len = save;
  m = 0;
out:
  if (m != 0)
    (void)sshmux__err_from_mbedtls(m); /* logs the detail */
  sshmux__wipe(shared, sizeof(shared));
  mbedtls_mpi_free(&d); /* mbedtls_mpi_free zeroizes the limbs */
  mbedtls_mpi_free(&z);
  mbedtls_ecp_point_free(&q);
  mbedtls_ecp_point_free(&peer);
  mbedtls_ecp_group_free(&grp);
  return r;
}

int sshmux__kex_compute(sshmux__kex_t *kex, const uint8_t *q_c, size_t q_c_len,
                        sshmux__buf_t *q_s, sshmux__buf_t *k) {
  int r;

  /* Mark before writing so a growing k never leaves a stale copy behind. */
  sshmux__buf_set_secret(k);
  if (kex->type == KEX_X25519)
    r = x25519(kex, q_c, q_c_len, q_s, k);
  else
    r = p256(kex, q_c, q_c_len, q_s, k);
  /* The ephemeral key has done its job: forget it whatever happened. */
  sshmux__wipe(kex->priv, sizeof(kex->priv));
  kex->have_priv = 0;
  return r;
}
