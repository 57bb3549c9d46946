/* crypto/pubkey.c -- verification of user public-key signatures (RFC
 * 4252 §7): ssh-ed25519 (RFC 8709, libsodium), ecdsa-sha2-nistp256/384/521
 * (RFC 5656, mbedTLS) and rsa-sha2-256/512 (RFC 8332, mbedTLS), exactly the
 * list we advertise in server-sig-algs.
 *
 * Everything here parses attacker-supplied bytes, so every field goes
 * through the lib/core/buf.h readers over a read-only view, every blob must be
 * consumed exactly (no trailing bytes), and the error says why: malformed
 * input is SSHMUX_EBADFORMAT, a well-formed signature that does not verify
 * (or names another algorithm) is SSHMUX_EAUTH, and what we refuse by
 * policy is SSHMUX_EUNSUPPORTED: SHA-1 "ssh-rsa", certificates
 * (*-cert-v01@openssh.com, PROTOCOL.certkeys), security keys (sk-*,
 * PROTOCOL.u2f) and RSA moduli below 2048 bits.  The transport answers all
 * of them with USERAUTH_FAILURE; the distinction is for logs and tests. */
#include <string.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/rsa.h>
#include <sodium.h>

#include "core/core.h"
#include "crypto/crypto.h"

/* RSA: OpenSSH's floor is 1024 bits; we ask for what current guidance
 * considers sound.  mbedTLS stops at 8192 bits (MBEDTLS_MPI_MAX_SIZE). */
#define RSA_MIN_BITS 2048
#define RSA_MAX_BYTES 1024
/* Caps on strings inside blobs; the largest legitimate one is an 8192-bit
 * RSA modulus (1025 bytes as an mpint). */
#define NAME_MAX_LEN 64
#define FIELD_MAX 4096

typedef enum { K_ED25519, K_ECDSA, K_RSA } key_kind_t;

typedef struct {
  const char *sig_alg;  /* the algorithm name in requests and signatures */
  const char *key_type; /* the type name inside the key blob */
  key_kind_t kind;
  const char *curve; /* ECDSA: the curve identifier in the blob */
  mbedtls_ecp_group_id grp;
  size_t field_len; /* ECDSA: bytes per coordinate */
  sshmux__hash_alg_t hash;
  mbedtls_md_type_t md; /* RSA */
} sig_info_t;

static const sig_info_t sigs[] = {
    {"ssh-ed25519", "ssh-ed25519", K_ED25519, NULL, MBEDTLS_ECP_DP_NONE, 0,
     SSHMUX__SHA512, MBEDTLS_MD_NONE},
    {"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256", K_ECDSA, "nistp256",
     MBEDTLS_ECP_DP_SECP256R1, 32, SSHMUX__SHA256, MBEDTLS_MD_NONE},
    {"ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384", K_ECDSA, "nistp384",
     MBEDTLS_ECP_DP_SECP384R1, 48, SSHMUX__SHA384, MBEDTLS_MD_NONE},
    {"ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521", K_ECDSA, "nistp521",
     MBEDTLS_ECP_DP_SECP521R1, 66, SSHMUX__SHA512, MBEDTLS_MD_NONE},
    {"rsa-sha2-512", "ssh-rsa", K_RSA, NULL, MBEDTLS_ECP_DP_NONE, 0,
     SSHMUX__SHA512, MBEDTLS_MD_SHA512},
    {"rsa-sha2-256", "ssh-rsa", K_RSA, NULL, MBEDTLS_ECP_DP_NONE, 0,
     SSHMUX__SHA256, MBEDTLS_MD_SHA256},
};

static const sig_info_t *find_sig(const char *alg, size_t n) {
  for (size_t i = 0; i < SSHMUX__ARRAY_SIZE(sigs); i++)
    if (strlen(sigs[i].sig_alg) == n && memcmp(sigs[i].sig_alg, alg, n) == 0)
      return &sigs[i];
  return NULL;
}

/* Key types we knowingly refuse: certificates and security keys. */
static int is_refused_type(const uint8_t *t, size_t n) {
  static const char cert[] = "-cert-v01@openssh.com";
  const char *s = (const char *)t;
  size_t cl = sizeof(cert) - 1;

  if (n >= 3 && memcmp(s, "sk-", 3) == 0)
    return 1;
  if (n >= 9 && memcmp(s, "webauthn-", 9) == 0)
    return 1;
  return n > cl && memcmp(s + n - cl, cert, cl) == 0;
}

int sshmux__sig_alg_supported(const char *alg) {
  return alg != NULL && find_sig(alg, strlen(alg)) != NULL;
}

int sshmux__pubkey_blob_type(const uint8_t *blob, size_t n, char *out,
                             size_t outsz) {
  sshmux__buf_t b;
  const uint8_t *t;
  size_t tn;

  sshmux__buf_view(&b, blob, n);
  if (sshmux__buf_get_string(&b, NAME_MAX_LEN, &t, &tn) != 0 || tn == 0 ||
      memchr(t, '\0', tn) != NULL)
    return SSHMUX_EBADFORMAT;
  if (tn + 1 > outsz)
    return SSHMUX_ETOOLONG;
  memcpy(out, t, tn);
  out[tn] = '\0';
  return 0;
}

/* A reader's error as ours: anything short or oversized is malformed. */
static int bad(int r) {
  return r == SSHMUX_ETRUNCATED || r == SSHMUX_ETOOLONG ? SSHMUX_EBADFORMAT : r;
}

static int verify_ed25519(sshmux__buf_t *key, const uint8_t *sig, size_t sn,
                          const uint8_t *data, size_t n) {
  const uint8_t *pk;
  size_t pn;
  int r;

  if ((r = sshmux__buf_get_string(key, FIELD_MAX, &pk, &pn)) != 0)
    return bad(r);
  if (pn != crypto_sign_ed25519_PUBLICKEYBYTES ||
      sshmux__buf_remaining(key) != 0 || sn != crypto_sign_ed25519_BYTES)
    return SSHMUX_EBADFORMAT;
  return crypto_sign_ed25519_verify_detached(sig, data, n, pk) == 0
             ? 0
             : SSHMUX_EAUTH;
}

static int verify_ecdsa(const sig_info_t *si, sshmux__buf_t *key,
                        const uint8_t *sig, size_t sn, const uint8_t *data,
                        size_t n) {
  mbedtls_ecp_group grp;
  mbedtls_ecp_point q;
  mbedtls_mpi mr, ms;
  sshmux__buf_t sb;
  const uint8_t *curve, *pt, *rb, *s;
  size_t cn, ptn, rn, snn;
  uint8_t hash[SSHMUX__HASH_MAX];
  int r, e;

  if ((r = sshmux__buf_get_string(key, NAME_MAX_LEN, &curve, &cn)) != 0 ||
      (r = sshmux__buf_get_string(key, FIELD_MAX, &pt, &ptn)) != 0)
    return bad(r);
  if (cn != strlen(si->curve) || memcmp(curve, si->curve, cn) != 0 ||
      ptn != 1 + 2 * si->field_len || pt[0] != 0x04 ||
      sshmux__buf_remaining(key) != 0)
    return SSHMUX_EBADFORMAT;
  /* The signature: mpint r, mpint s, nothing else. */
  sshmux__buf_view(&sb, sig, sn);
  if ((r = sshmux__buf_get_mpint(&sb, si->field_len, &rb, &rn)) != 0 ||
      (r = sshmux__buf_get_mpint(&sb, si->field_len, &s, &snn)) != 0)
    return bad(r);
  if (sshmux__buf_remaining(&sb) != 0)
    return SSHMUX_EBADFORMAT;
  if ((r = sshmux__hash(si->hash, data, n, hash)) != 0)
    return r;

  mbedtls_ecp_group_init(&grp);
  mbedtls_ecp_point_init(&q);
  mbedtls_mpi_init(&mr);
  mbedtls_mpi_init(&ms);
  if ((e = mbedtls_ecp_group_load(&grp, si->grp)) != 0 ||
      (e = mbedtls_mpi_read_binary(&mr, rb, rn)) != 0 ||
      (e = mbedtls_mpi_read_binary(&ms, s, snn)) != 0) {
    r = sshmux__err_from_mbedtls(e);
    goto out;
  }
  /* The key must be a point on the curve (not the point at infinity). */
  if (mbedtls_ecp_point_read_binary(&grp, &q, pt, ptn) != 0 ||
      mbedtls_ecp_check_pubkey(&grp, &q) != 0) {
    r = SSHMUX_EBADFORMAT;
    goto out;
  }
  /* mbedtls_ecdsa_verify refuses r or s outside [1, n-1] itself. */
  e = mbedtls_ecdsa_verify(&grp, hash, sshmux__hash_len(si->hash), &q, &mr,
                           &ms);
  r = e == 0 ? 0 : SSHMUX_EAUTH;
out:
  mbedtls_mpi_free(&mr);
  mbedtls_mpi_free(&ms);
  mbedtls_ecp_point_free(&q);
  mbedtls_ecp_group_free(&grp);
  return r;
}

static int verify_rsa(const sig_info_t *si, sshmux__buf_t *key,
                      const uint8_t *sig, size_t sn, const uint8_t *data,
                      size_t n) {
  mbedtls_rsa_context rsa;
  const uint8_t *eb, *nb;
  size_t en, nn, k;
  uint8_t hash[SSHMUX__HASH_MAX], *padded = NULL;
  int r, e;

  /* e before n (RFC 4253 §6.6). */
  if ((r = sshmux__buf_get_mpint(key, FIELD_MAX, &eb, &en)) != 0 ||
      (r = sshmux__buf_get_mpint(key, FIELD_MAX, &nb, &nn)) != 0)
    return bad(r);
  if (sshmux__buf_remaining(key) != 0 || en == 0 || nn == 0)
    return SSHMUX_EBADFORMAT;
  if (nn > RSA_MAX_BYTES || en > nn)
    return SSHMUX_EUNSUPPORTED;
  if ((r = sshmux__hash(si->hash, data, n, hash)) != 0)
    return r;

  mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);
  if (mbedtls_rsa_import_raw(&rsa, nb, nn, NULL, 0, NULL, 0, NULL, 0, eb, en) !=
          0 ||
      mbedtls_rsa_complete(&rsa) != 0 || mbedtls_rsa_check_pubkey(&rsa) != 0) {
    r = SSHMUX_EBADFORMAT; /* even modulus, e < 3, ... */
    goto out;
  }
  if (mbedtls_mpi_bitlen(&rsa.N) < RSA_MIN_BITS) {
    r = SSHMUX_EUNSUPPORTED;
    goto out;
  }
  k = mbedtls_rsa_get_len(&rsa);
  /* A signature may lose leading zero bytes on the way (OpenSSH pads it
   * back); longer than the modulus is malformed. */
  if (sn > k || sn == 0) {
    r = SSHMUX_EBADFORMAT;
    goto out;
  }
  padded = sshmux__calloc(1, k);
  if (padded == NULL) {
    r = SSHMUX_ENOMEM;
    goto out;
  }
  memcpy(padded + (k - sn), sig, sn);
  e = mbedtls_rsa_rsassa_pkcs1_v15_verify(
      &rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC, si->md,
      (unsigned)sshmux__hash_len(si->hash), hash, padded);
  r = e == 0 ? 0 : SSHMUX_EAUTH;
out:
  sshmux__free(padded);
  mbedtls_rsa_free(&rsa);
  return r;
}

int sshmux__pubkey_verify(const char *sig_alg, const uint8_t *key_blob,
                          size_t key_len, const uint8_t *sig_blob,
                          size_t sig_len, const uint8_t *data, size_t n) {
  const sig_info_t *si;
  sshmux__buf_t kb, sb;
  const uint8_t *kt, *st, *sig;
  size_t ktn, stn, sn;
  int r;

  if (sig_alg == NULL || (key_blob == NULL && key_len) ||
      (sig_blob == NULL && sig_len) || (data == NULL && n))
    return SSHMUX_EINVAL;
  if ((r = sshmux_init()) != 0)
    return r;
  si = find_sig(sig_alg, strlen(sig_alg));
  if (si == NULL)
    return SSHMUX_EUNSUPPORTED;

  sshmux__buf_view(&kb, key_blob, key_len);
  if ((r = sshmux__buf_get_string(&kb, NAME_MAX_LEN, &kt, &ktn)) != 0)
    return bad(r);
  if (is_refused_type(kt, ktn))
    return SSHMUX_EUNSUPPORTED;

  sshmux__buf_view(&sb, sig_blob, sig_len);
  if ((r = sshmux__buf_get_string(&sb, NAME_MAX_LEN, &st, &stn)) != 0 ||
      (r = sshmux__buf_get_string(&sb, FIELD_MAX, &sig, &sn)) != 0)
    return bad(r);
  if (sshmux__buf_remaining(&sb) != 0)
    return SSHMUX_EBADFORMAT;
  /* The signature must be made with the algorithm the request names, and
   * that algorithm must fit the key (RFC 8332 §3.2: ssh-rsa keys sign with
   * rsa-sha2-*).  A SHA-1 ssh-rsa signature is refused as such. */
  if (stn == 7 && memcmp(st, "ssh-rsa", 7) == 0)
    return SSHMUX_EUNSUPPORTED;
  if (stn != strlen(si->sig_alg) || memcmp(st, si->sig_alg, stn) != 0 ||
      ktn != strlen(si->key_type) || memcmp(kt, si->key_type, ktn) != 0)
    return SSHMUX_EAUTH;

  switch (si->kind) {
  case K_ED25519:
    return verify_ed25519(&kb, sig, sn, data, n);
  case K_ECDSA:
    return verify_ecdsa(si, &kb, sig, sn, data, n);
  case K_RSA:
    return verify_rsa(si, &kb, sig, sn, data, n);
  }
  return SSHMUX_EINVAL;
}
