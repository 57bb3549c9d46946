/* crypto/userkey.c -- the user's own private keys, for logging in upstream:
 * parse the key files people have, give the public key blob, and sign.
 *
 * Formats: OpenSSH's "openssh-key-v1" (what ssh-keygen writes by default),
 * unencrypted or protected with bcrypt_pbkdf (crypto/bcrypt.c) and
 * aes128/192/256-ctr, aes128/192/256-cbc or aes256-gcm@openssh.com; and the
 * PEM family through mbedTLS: PKCS#1 "RSA PRIVATE KEY", SEC1 "EC PRIVATE
 * KEY" (both possibly with an OpenSSL "Proc-Type: 4,ENCRYPTED" header) and
 * PKCS#8, plain or encrypted.  Key types: ssh-ed25519 (libsodium),
 * ecdsa-sha2-nistp256/384/521 and ssh-rsa (mbedTLS).  DSA, security keys
 * (sk-*) and certificates are SSHMUX_EUNSUPPORTED.
 *
 * Checked like host keys (crypto/hostkey.c): an OpenSSH file's header
 * public key must be the one its private half derives, checkints must
 * agree (after decryption, a mismatch means a wrong passphrase:
 * SSHMUX_EAUTH), padding must be 1, 2, 3...
 *
 * Signatures (what goes inside the signature blob, RFC 4253 §6.6):
 * Ed25519 over the data (RFC 8709); ECDSA over SHA-256/384/512 of the data
 * by curve size, deterministic k (RFC 6979), as "mpint r, mpint s" (RFC
 * 5656); RSA as RSASSA-PKCS1-v1_5 with SHA-512 or SHA-256 for rsa-sha2-512
 * / rsa-sha2-256 (RFC 8332) -- never SHA-1.  A key may sign from several
 * threads at once: RSA signs on a private copy of the context (its
 * blinding values change per signature), ECDSA loads its group per call.
 * Private material lives only in the key object and secret buffers and is
 * wiped on release. */
#include <string.h>

#include <mbedtls/aes.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/gcm.h>
#include <mbedtls/pk.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/rsa.h>
#include <sodium.h>

#include "core/core.h"
#include "crypto/crypto.h"

#define AUTH_MAGIC "openssh-key-v1" /* followed by a NUL on the wire */
#define KEYFILE_MAX (64 * 1024)
#define FIELD_MAX 8192
#define RSA_MAX_BYTES 1024 /* 8192 bits, mbedTLS's MPI limit */
#define RSA_MIN_BITS 1024  /* OpenSSH's own floor for user keys */
/* bcrypt rounds: ssh-keygen writes 16 (-a); a file asking for more than
 * this would pin a login worker for minutes. */
#define BCRYPT_ROUNDS_MAX 4096

typedef enum { UK_ED25519, UK_ECDSA, UK_RSA } uk_kind_t;

struct sshmux__userkey {
  uk_kind_t kind;
  const char *type; /* the key type name in blobs */
  uint8_t ed_sk[crypto_sign_ed25519_SECRETKEYBYTES];
  uint8_t ed_pk[crypto_sign_ed25519_PUBLICKEYBYTES];
  mbedtls_ecp_group_id grp; /* ECDSA */
  const char *curve;        /* "nistp256", ... */
  size_t field_len;         /* bytes per coordinate / scalar */
  uint8_t ec_d[66];         /* private scalar, big-endian, field_len bytes */
  uint8_t ec_q[1 + 2 * 66]; /* 0x04 || X || Y */
  mbedtls_rsa_context rsa;  /* UK_RSA: initialised */
};

static const struct {
  mbedtls_ecp_group_id grp;
  const char *curve, *type;
  size_t field_len;
  sshmux__hash_alg_t hash;
  mbedtls_md_type_t md;
} curves[] = {
    {MBEDTLS_ECP_DP_SECP256R1, "nistp256", "ecdsa-sha2-nistp256", 32,
     SSHMUX__SHA256, MBEDTLS_MD_SHA256},
    {MBEDTLS_ECP_DP_SECP384R1, "nistp384", "ecdsa-sha2-nistp384", 48,
     SSHMUX__SHA384, MBEDTLS_MD_SHA384},
    {MBEDTLS_ECP_DP_SECP521R1, "nistp521", "ecdsa-sha2-nistp521", 66,
     SSHMUX__SHA512, MBEDTLS_MD_SHA512},
};
#define NCURVES (sizeof(curves) / sizeof(curves[0]))

static int str_is(const uint8_t *s, size_t n, const char *want) {
  return n == strlen(want) && memcmp(s, want, n) == 0;
}

void sshmux__userkey_free(sshmux__userkey_t *k) {
  if (k == NULL)
    return;
  if (k->kind == UK_RSA)
    mbedtls_rsa_free(&k->rsa);
  sshmux__free_secret(k, sizeof(*k));
}

const char *sshmux__userkey_type(const sshmux__userkey_t *k) {
  return k->type;
}

static sshmux__userkey_t *key_new(uk_kind_t kind) {
  sshmux__userkey_t *k = sshmux__calloc(1, sizeof(*k));
  if (k == NULL)
    return NULL;
  k->kind = kind;
  if (kind == UK_RSA) {
    mbedtls_rsa_init(&k->rsa, MBEDTLS_RSA_PKCS_V15, 0);
    k->type = "ssh-rsa";
  } else if (kind == UK_ED25519) {
    k->type = "ssh-ed25519";
  }
  return k;
}

static int set_curve(sshmux__userkey_t *k, mbedtls_ecp_group_id grp) {
  for (size_t i = 0; i < NCURVES; i++)
    if (curves[i].grp == grp) {
      k->grp = grp;
      k->curve = curves[i].curve;
      k->type = curves[i].type;
      k->field_len = curves[i].field_len;
      return 0;
    }
  return SSHMUX_EUNSUPPORTED;
}

/* ---- public blob ---- */

static int put_rsa_public(const mbedtls_rsa_context *rsa, sshmux__buf_t *out) {
  uint8_t nb[RSA_MAX_BYTES], eb[16];
  size_t nn = mbedtls_mpi_size(&rsa->N), en = mbedtls_mpi_size(&rsa->E);
  int r;

  if (nn > sizeof(nb) || en > sizeof(eb) ||
      mbedtls_mpi_write_binary(&rsa->N, nb, nn) != 0 ||
      mbedtls_mpi_write_binary(&rsa->E, eb, en) != 0)
    return SSHMUX_EUNSUPPORTED;
  r = sshmux__buf_put_mpint(out, eb, en);
  if (r == 0)
    r = sshmux__buf_put_mpint(out, nb, nn);
  return r;
}

int sshmux__userkey_public_blob(const sshmux__userkey_t *k,
                                sshmux__buf_t *out) {
  size_t save = out->len;
  int r = sshmux__buf_put_cstring(out, k->type);

  if (r == 0) {
    switch (k->kind) {
    case UK_ED25519:
      r = sshmux__buf_put_string(out, k->ed_pk, sizeof(k->ed_pk));
      break;
    case UK_ECDSA:
      r = sshmux__buf_put_cstring(out, k->curve);
      if (r == 0)
        r = sshmux__buf_put_string(out, k->ec_q, 1 + 2 * k->field_len);
      break;
    case UK_RSA:
      r = put_rsa_public(&k->rsa, out);
      break;
    }
  }
  if (r != 0)
    out->len = save;
  return r;
}

/* ---- signatures ---- */

int sshmux__ecdsa_sign(const uint8_t *d, size_t dlen, const uint8_t *data,
                       size_t n, void **grp_cache, sshmux__buf_t *out) {
  mbedtls_ecp_group local, *grp = &local;
  mbedtls_mpi md, rr, ss;
  uint8_t hash[SSHMUX__HASH_MAX], rb[66], sb[66];
  size_t ci;
  int r;

  for (ci = 0; ci < NCURVES && curves[ci].field_len != dlen; ci++)
    ;
  if (ci == NCURVES)
    return SSHMUX_EINVAL;
  mbedtls_ecp_group_init(&local);
  mbedtls_mpi_init(&md);
  mbedtls_mpi_init(&rr);
  mbedtls_mpi_init(&ss);
  r = sshmux__hash(curves[ci].hash, data, n, hash);
  if (r != 0)
    goto out;
  if (grp_cache != NULL && *grp_cache != NULL) {
    /* The group loaded for an earlier signature by this key: mbedTLS keeps
     * its table of multiples of G (public values) in it, the larger part
     * of a signature's cost (~8.8 -> ~4.9 M instructions for P-256). */
    grp = *grp_cache;
    r = 0;
  } else {
    mbedtls_ecp_group *keep =
        grp_cache != NULL ? sshmux__malloc(sizeof(*keep)) : NULL;
    if (keep != NULL) {
      mbedtls_ecp_group_init(keep);
      grp = keep;
    }
    r = mbedtls_ecp_group_load(grp, curves[ci].grp);
    if (keep != NULL) {
      if (r == 0) {
        *grp_cache = keep;
      } else {
        mbedtls_ecp_group_free(keep);
        sshmux__free(keep);
        grp = &local;
      }
    }
  }
  if (r == 0)
    r = mbedtls_mpi_read_binary(&md, d, dlen);
  if (r == 0)
    r = mbedtls_ecdsa_sign_det_ext(grp, &rr, &ss, &md, hash,
                                   sshmux__hash_len(curves[ci].hash),
                                   curves[ci].md, sshmux__mbedtls_rng, NULL);
  if (r == 0)
    r = mbedtls_mpi_write_binary(&rr, rb, dlen);
  if (r == 0)
    r = mbedtls_mpi_write_binary(&ss, sb, dlen);
  if (r != 0) {
    r = sshmux__err_from_mbedtls(r);
    goto out;
  }
  r = sshmux__buf_put_mpint(out, rb, dlen);
  if (r == 0)
    r = sshmux__buf_put_mpint(out, sb, dlen);
out:
  mbedtls_mpi_free(&md);
  mbedtls_mpi_free(&rr);
  mbedtls_mpi_free(&ss);
  mbedtls_ecp_group_free(&local);
  sshmux__wipe(hash, sizeof(hash));
  return r;
}

static int sign_rsa(const sshmux__userkey_t *k, int sha512, const uint8_t *data,
                    size_t n, sshmux__buf_t *out) {
  mbedtls_rsa_context rsa;
  uint8_t hash[SSHMUX__HASH_MAX], *sig;
  sshmux__hash_alg_t h = sha512 ? SSHMUX__SHA512 : SSHMUX__SHA256;
  size_t save = out->len, len = mbedtls_rsa_get_len(&k->rsa);
  int r, e;

  if ((r = sshmux__hash(h, data, n, hash)) != 0)
    return r;
  if ((r = sshmux__buf_put_space(out, len, &sig)) != 0)
    return r;
  mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);
  e = mbedtls_rsa_copy(&rsa, &k->rsa);
  if (e == 0)
    e = mbedtls_rsa_pkcs1_sign(&rsa, sshmux__mbedtls_rng, NULL,
                               MBEDTLS_RSA_PRIVATE,
                               sha512 ? MBEDTLS_MD_SHA512 : MBEDTLS_MD_SHA256,
                               (unsigned)sshmux__hash_len(h), hash, sig);
  mbedtls_rsa_free(&rsa);
  sshmux__wipe(hash, sizeof(hash));
  if (e != 0) {
    out->len = save;
    return sshmux__err_from_mbedtls(e);
  }
  return 0;
}

int sshmux__userkey_sign(const sshmux__userkey_t *k, const char *alg,
                         const uint8_t *data, size_t n, sshmux__buf_t *out) {
  switch (k->kind) {
  case UK_ED25519: {
    uint8_t sig[crypto_sign_ed25519_BYTES];
    if (strcmp(alg, k->type) != 0)
      return SSHMUX_EINVAL;
    if (crypto_sign_ed25519_detached(sig, NULL, data, n, k->ed_sk) != 0)
      return SSHMUX_ECRYPTO;
    return sshmux__buf_put_bytes(out, sig, sizeof(sig));
  }
  case UK_ECDSA: {
    size_t save = out->len;
    int r;
    if (strcmp(alg, k->type) != 0)
      return SSHMUX_EINVAL;
    r = sshmux__ecdsa_sign(k->ec_d, k->field_len, data, n, NULL, out);
    if (r != 0)
      out->len = save;
    return r;
  }
  case UK_RSA:
    if (strcmp(alg, "rsa-sha2-512") == 0)
      return sign_rsa(k, 1, data, n, out);
    if (strcmp(alg, "rsa-sha2-256") == 0)
      return sign_rsa(k, 0, data, n, out);
    return SSHMUX_EUNSUPPORTED; /* "ssh-rsa" (SHA-1) is never signed */
  }
  return SSHMUX_EINVAL;
}

/* ---- key material checks ---- */

int sshmux__ecdsa_public(const uint8_t *d, size_t dlen, uint8_t *q) {
  mbedtls_ecp_group grp;
  mbedtls_ecp_point pt;
  mbedtls_mpi m;
  size_t olen = 0, ci;
  int r = 0, e;

  for (ci = 0; ci < NCURVES && curves[ci].field_len != dlen; ci++)
    ;
  if (ci == NCURVES)
    return SSHMUX_EINVAL;
  mbedtls_ecp_group_init(&grp);
  mbedtls_ecp_point_init(&pt);
  mbedtls_mpi_init(&m);
  if ((e = mbedtls_ecp_group_load(&grp, curves[ci].grp)) != 0 ||
      (e = mbedtls_mpi_read_binary(&m, d, dlen)) != 0)
    goto out;
  if (mbedtls_ecp_check_privkey(&grp, &m) != 0) {
    r = SSHMUX_EBADFORMAT; /* zero, or not below the group order */
    goto out;
  }
  if ((e = mbedtls_ecp_mul(&grp, &pt, &m, &grp.G, sshmux__mbedtls_rng, NULL)) !=
          0 ||
      (e = mbedtls_ecp_point_write_binary(&grp, &pt,
                                          MBEDTLS_ECP_PF_UNCOMPRESSED, &olen, q,
                                          1 + 2 * dlen)) != 0)
    goto out;
  if (olen != 1 + 2 * dlen)
    r = SSHMUX_ECRYPTO;
out:
  if (r == 0 && e != 0)
    r = sshmux__err_from_mbedtls(e);
  mbedtls_mpi_free(&m);
  mbedtls_ecp_point_free(&pt);
  mbedtls_ecp_group_free(&grp);
  return r;
}

static int ec_derive_public(sshmux__userkey_t *k) {
  return sshmux__ecdsa_public(k->ec_d, k->field_len, k->ec_q);
}

static int rsa_finish(sshmux__userkey_t *k) {
  if (mbedtls_rsa_complete(&k->rsa) != 0 ||
      mbedtls_rsa_check_privkey(&k->rsa) != 0)
    return SSHMUX_EBADFORMAT;
  if (mbedtls_mpi_bitlen(&k->rsa.N) < RSA_MIN_BITS ||
      mbedtls_rsa_get_len(&k->rsa) > RSA_MAX_BYTES)
    return SSHMUX_EUNSUPPORTED;
  return 0;
}

/* ---- PEM family, through mbedTLS ---- */

static int parse_pem(sshmux__userkey_t **out, const char *text, size_t len,
                     const char *pass) {
  mbedtls_pk_context pk;
  sshmux__userkey_t *k = NULL;
  char *copy;
  int r, e;

  /* mbedTLS wants PEM NUL-terminated, the NUL counted in the length. */
  copy = sshmux__malloc(len + 1);
  if (copy == NULL)
    return SSHMUX_ENOMEM;
  memcpy(copy, text, len);
  copy[len] = '\0';
  mbedtls_pk_init(&pk);
  e = mbedtls_pk_parse_key(&pk, (const unsigned char *)copy, len + 1,
                           (const unsigned char *)pass,
                           pass != NULL ? strlen(pass) : 0);
  sshmux__free_secret(copy, len + 1);
  if (e == MBEDTLS_ERR_PK_PASSWORD_REQUIRED ||
      e == MBEDTLS_ERR_PK_PASSWORD_MISMATCH) {
    r = SSHMUX_EAUTH;
    goto out;
  }
  if (e != 0) {
    /* mbedTLS 2.x decrypts PKCS#8 only with DES/3DES; OpenSSL (and so
     * ssh-keygen -m PKCS8) writes AES-256-CBC: unsupported, not malformed
     * (ssh-keygen -p rewrites such a key in OpenSSH's format). */
    r = e == MBEDTLS_ERR_PK_UNKNOWN_PK_ALG ||
                e == MBEDTLS_ERR_PKCS5_FEATURE_UNAVAILABLE ||
                e == MBEDTLS_ERR_PK_FEATURE_UNAVAILABLE
            ? SSHMUX_EUNSUPPORTED
            : SSHMUX_EBADFORMAT;
    goto out;
  }
  switch (mbedtls_pk_get_type(&pk)) {
  case MBEDTLS_PK_RSA:
    if ((k = key_new(UK_RSA)) == NULL) {
      r = SSHMUX_ENOMEM;
      goto out;
    }
    if (mbedtls_rsa_copy(&k->rsa, mbedtls_pk_rsa(pk)) != 0) {
      r = SSHMUX_ENOMEM;
      goto out;
    }
    r = rsa_finish(k);
    break;
  case MBEDTLS_PK_ECKEY:
  case MBEDTLS_PK_ECDSA: {
    const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(pk);
    if ((k = key_new(UK_ECDSA)) == NULL) {
      r = SSHMUX_ENOMEM;
      goto out;
    }
    if ((r = set_curve(k, ec->grp.id)) != 0)
      break;
    if (mbedtls_mpi_size(&ec->d) > k->field_len ||
        mbedtls_mpi_write_binary(&ec->d, k->ec_d, k->field_len) != 0) {
      r = SSHMUX_EBADFORMAT;
      break;
    }
    r = ec_derive_public(k);
    break;
  }
  default:
    r = SSHMUX_EUNSUPPORTED;
    break;
  }
out:
  mbedtls_pk_free(&pk);
  if (r == 0)
    *out = k;
  else
    sshmux__userkey_free(k);
  return r;
}

/* ---- openssh-key-v1 ---- */

typedef struct {
  const char *name;
  size_t key_len, iv_len, block, tag_len;
  int mode; /* 0 ctr, 1 cbc, 2 gcm */
} kcipher_t;

static const kcipher_t kciphers[] = {
    {"aes128-ctr", 16, 16, 16, 0, 0},
    {"aes192-ctr", 24, 16, 16, 0, 0},
    {"aes256-ctr", 32, 16, 16, 0, 0},
    {"aes128-cbc", 16, 16, 16, 0, 1},
    {"aes192-cbc", 24, 16, 16, 0, 1},
    {"aes256-cbc", 32, 16, 16, 0, 1},
    {"aes256-gcm@openssh.com", 32, 12, 16, 16, 2},
};

static int decrypt_section(const kcipher_t *kc, const uint8_t *kiv,
                           const uint8_t *in, size_t n, const uint8_t *tag,
                           uint8_t *out) {
  int e;

  if (kc->mode == 2) {
    mbedtls_gcm_context g;
    mbedtls_gcm_init(&g);
    e = mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, kiv,
                           (unsigned)(kc->key_len * 8));
    if (e == 0)
      e = mbedtls_gcm_auth_decrypt(&g, n, kiv + kc->key_len, kc->iv_len, NULL,
                                   0, tag, kc->tag_len, in, out);
    mbedtls_gcm_free(&g);
    /* A failed tag is what a wrong passphrase looks like here. */
    return e == MBEDTLS_ERR_GCM_AUTH_FAILED ? SSHMUX_EAUTH
           : e != 0                         ? sshmux__err_from_mbedtls(e)
                                            : 0;
  } else {
    mbedtls_aes_context a;
    uint8_t iv[16], stream[16];
    size_t off = 0;
    mbedtls_aes_init(&a);
    memcpy(iv, kiv + kc->key_len, 16);
    if (kc->mode == 0) {
      e = mbedtls_aes_setkey_enc(&a, kiv, (unsigned)(kc->key_len * 8));
      if (e == 0)
        e = mbedtls_aes_crypt_ctr(&a, n, &off, iv, stream, in, out);
    } else {
      e = mbedtls_aes_setkey_dec(&a, kiv, (unsigned)(kc->key_len * 8));
      if (e == 0)
        e = mbedtls_aes_crypt_cbc(&a, MBEDTLS_AES_DECRYPT, n, iv, in, out);
    }
    mbedtls_aes_free(&a);
    sshmux__wipe(iv, sizeof(iv));
    sshmux__wipe(stream, sizeof(stream));
    return e != 0 ? sshmux__err_from_mbedtls(e) : 0;
  }
}

/* The key fields of the private section (cursor after the type). */
static int parse_fields(sshmux__buf_t *b, const uint8_t *t, size_t tn,
                        sshmux__userkey_t **out) {
  sshmux__userkey_t *k = NULL;
  const uint8_t *p, *s;
  size_t pn, sn;
  int r = SSHMUX_EBADFORMAT;

  if (str_is(t, tn, "ssh-ed25519")) {
    uint8_t pk[crypto_sign_ed25519_PUBLICKEYBYTES];
    if ((k = key_new(UK_ED25519)) == NULL)
      return SSHMUX_ENOMEM;
    if ((r = sshmux__buf_get_string(b, FIELD_MAX, &p, &pn)) != 0 ||
        (r = sshmux__buf_get_string(b, FIELD_MAX, &s, &sn)) != 0)
      goto out;
    r = SSHMUX_EBADFORMAT;
    if (pn != sizeof(k->ed_pk) || sn != sizeof(k->ed_sk))
      goto out;
    if (crypto_sign_ed25519_seed_keypair(pk, k->ed_sk, s) != 0) {
      r = SSHMUX_ECRYPTO;
      goto out;
    }
    if (memcmp(pk, p, sizeof(pk)) != 0 || memcmp(s + 32, p, 32) != 0)
      goto out;
    memcpy(k->ed_pk, pk, sizeof(pk));
    r = 0;
  } else if (str_is(t, tn, "ssh-rsa")) {
    const uint8_t *v[6];
    size_t vn[6];
    if ((k = key_new(UK_RSA)) == NULL)
      return SSHMUX_ENOMEM;
    /* n, e, d, iqmp, p, q (PROTOCOL.key / sshkey.c order). */
    for (int i = 0; i < 6; i++)
      if ((r = sshmux__buf_get_mpint(b, RSA_MAX_BYTES + 1, &v[i], &vn[i])) != 0)
        goto out;
    if (mbedtls_rsa_import_raw(&k->rsa, v[0], vn[0], v[4], vn[4], v[5], vn[5],
                               v[2], vn[2], v[1], vn[1]) != 0) {
      r = SSHMUX_EBADFORMAT;
      goto out;
    }
    r = rsa_finish(k);
  } else {
    size_t ci;
    for (ci = 0; ci < NCURVES && !str_is(t, tn, curves[ci].type); ci++)
      ;
    if (ci == NCURVES)
      return SSHMUX_EUNSUPPORTED; /* DSA, sk-*, certificates, ... */
    if ((k = key_new(UK_ECDSA)) == NULL)
      return SSHMUX_ENOMEM;
    set_curve(k, curves[ci].grp);
    if ((r = sshmux__buf_get_string(b, FIELD_MAX, &s, &sn)) != 0 ||
        !str_is(s, sn, k->curve) ||
        (r = sshmux__buf_get_string(b, FIELD_MAX, &p, &pn)) != 0 ||
        (r = sshmux__buf_get_mpint(b, k->field_len, &s, &sn)) != 0) {
      r = r != 0 ? r : SSHMUX_EBADFORMAT;
      goto out;
    }
    memset(k->ec_d, 0, sizeof(k->ec_d));
    memcpy(k->ec_d + k->field_len - sn, s, sn);
    if ((r = ec_derive_public(k)) != 0)
      goto out;
    r = pn == 1 + 2 * k->field_len && memcmp(k->ec_q, p, pn) == 0
            ? 0
            : SSHMUX_EBADFORMAT;
  }
out:
  if (r == SSHMUX_ETRUNCATED || r == SSHMUX_ETOOLONG)
    r = SSHMUX_EBADFORMAT;
  if (r == 0)
    *out = k;
  else
    sshmux__userkey_free(k);
  return r;
}

static int parse_openssh(sshmux__userkey_t **out, const char *text, size_t len,
                         const char *pass) {
  sshmux__buf_t bin, pb, blob, plain;
  sshmux__userkey_t *k = NULL;
  const uint8_t *magic, *cn, *kn, *ko, *pub, *priv, *tag = NULL, *t;
  size_t cnn, knn, kon, pubn, privn, tn;
  const kcipher_t *kc = NULL;
  uint32_t nkeys, c1, c2;
  size_t block = 8;
  int r;

  sshmux__buf_init(&bin, KEYFILE_MAX);
  sshmux__buf_init(&blob, 4096);
  sshmux__buf_init(&plain, KEYFILE_MAX);
  sshmux__buf_set_secret(&bin);
  sshmux__buf_set_secret(&plain);
  if ((r = sshmux__openssh_pem_decode(text, len, &bin)) != 0)
    goto out;
  r = SSHMUX_EBADFORMAT;
  if (sshmux__buf_get_bytes(&bin, sizeof(AUTH_MAGIC), &magic) != 0 ||
      memcmp(magic, AUTH_MAGIC, sizeof(AUTH_MAGIC)) != 0 ||
      sshmux__buf_get_string(&bin, FIELD_MAX, &cn, &cnn) != 0 ||
      sshmux__buf_get_string(&bin, FIELD_MAX, &kn, &knn) != 0 ||
      sshmux__buf_get_string(&bin, FIELD_MAX, &ko, &kon) != 0 ||
      sshmux__buf_get_u32(&bin, &nkeys) != 0 || nkeys != 1 ||
      sshmux__buf_get_string(&bin, FIELD_MAX, &pub, &pubn) != 0 ||
      sshmux__buf_get_string(&bin, KEYFILE_MAX, &priv, &privn) != 0)
    goto out;
  if (!str_is(cn, cnn, "none")) {
    for (size_t i = 0; i < sizeof(kciphers) / sizeof(kciphers[0]); i++)
      if (str_is(cn, cnn, kciphers[i].name))
        kc = &kciphers[i];
    if (kc == NULL || !str_is(kn, knn, "bcrypt")) {
      r = SSHMUX_EUNSUPPORTED;
      goto out;
    }
    block = kc->block;
    if (kc->tag_len > 0 && sshmux__buf_get_bytes(&bin, kc->tag_len, &tag) != 0)
      goto out;
  } else if (!str_is(kn, knn, "none") || kon != 0) {
    goto out;
  }
  if (sshmux__buf_remaining(&bin) != 0 || privn % block != 0 || privn == 0)
    goto out;

  if (kc != NULL) {
    uint8_t kiv[64];
    const uint8_t *salt;
    size_t saltn;
    uint32_t rounds;
    uint8_t *dst;
    sshmux__buf_t kb;
    sshmux__buf_view(&kb, ko, kon);
    if (sshmux__buf_get_string(&kb, 1024, &salt, &saltn) != 0 ||
        sshmux__buf_get_u32(&kb, &rounds) != 0 ||
        sshmux__buf_remaining(&kb) != 0 || saltn == 0 || rounds == 0)
      goto out;
    if (rounds > BCRYPT_ROUNDS_MAX) {
      r = SSHMUX_EUNSUPPORTED;
      goto out;
    }
    if (pass == NULL || *pass == '\0') {
      r = SSHMUX_EAUTH;
      goto out;
    }
    r = sshmux__bcrypt_pbkdf(pass, strlen(pass), salt, saltn, kiv,
                             kc->key_len + kc->iv_len, rounds);
    if (r == 0)
      r = sshmux__buf_put_space(&plain, privn, &dst);
    if (r == 0)
      r = decrypt_section(kc, kiv, priv, privn, tag, dst);
    sshmux__wipe(kiv, sizeof(kiv));
    if (r != 0)
      goto out;
    sshmux__buf_view(&pb, plain.data, plain.len);
  } else {
    sshmux__buf_view(&pb, priv, privn);
  }
  r = SSHMUX_EBADFORMAT;
  if (sshmux__buf_get_u32(&pb, &c1) != 0 || sshmux__buf_get_u32(&pb, &c2) != 0)
    goto out;
  if (c1 != c2) {
    /* Garbage after decryption: the passphrase was wrong. */
    r = kc != NULL ? SSHMUX_EAUTH : SSHMUX_EBADFORMAT;
    goto out;
  }
  if (sshmux__buf_get_string(&pb, FIELD_MAX, &t, &tn) != 0)
    goto out;
  if ((r = parse_fields(&pb, t, tn, &k)) != 0)
    goto out;
  r = SSHMUX_EBADFORMAT;
  if (sshmux__buf_get_string(&pb, FIELD_MAX, &t, &tn) != 0) /* comment */
    goto out;
  for (uint8_t i = 1; sshmux__buf_remaining(&pb) > 0; i++) {
    uint8_t v;
    if (sshmux__buf_get_u8(&pb, &v) != 0 || v != i || i >= block)
      goto out;
  }
  if ((r = sshmux__userkey_public_blob(k, &blob)) != 0)
    goto out;
  r = blob.len == pubn && memcmp(blob.data, pub, pubn) == 0 ? 0
                                                            : SSHMUX_EBADFORMAT;
out:
  sshmux__buf_free(&bin);
  sshmux__buf_free(&plain);
  sshmux__buf_free(&blob);
  if (r == 0)
    *out = k;
  else
    sshmux__userkey_free(k);
  return r;
}

static int is_openssh(const char *text, size_t len) {
  static const char begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
  size_t i = 0;

  while (i < len && (text[i] == '\n' || text[i] == '\r' || text[i] == ' ' ||
                     text[i] == '\t'))
    i++;
  return len - i >= sizeof(begin) - 1 &&
         memcmp(text + i, begin, sizeof(begin) - 1) == 0;
}

int sshmux__userkey_parse(sshmux__userkey_t **k, const char *text, size_t len,
                          const char *passphrase) {
  int r;

  if ((r = sshmux_init()) != 0)
    return r;
  if (len > KEYFILE_MAX)
    return SSHMUX_ETOOLONG;
  if (is_openssh(text, len))
    return parse_openssh(k, text, len, passphrase);
  r = parse_pem(k, text, len, passphrase);
  /* PEM encryption has no check value: a wrong passphrase usually shows as
   * garbage ASN.1, not as mbedTLS's "password mismatch". */
  if (r == SSHMUX_EBADFORMAT && sshmux__userkey_needs_passphrase(text, len) > 0)
    r = SSHMUX_EAUTH;
  return r;
}

int sshmux__userkey_needs_passphrase(const char *text, size_t len) {
  sshmux__buf_t bin;
  const uint8_t *magic, *cn;
  size_t cnn;
  int r;

  if (len > KEYFILE_MAX)
    return SSHMUX_ETOOLONG;
  if (!is_openssh(text, len)) {
    /* OpenSSL's traditional header, or an encrypted PKCS#8 armor. */
    static const char *marks[] = {"Proc-Type: 4,ENCRYPTED",
                                  "-----BEGIN ENCRYPTED PRIVATE KEY-----"};
    for (size_t m = 0; m < 2; m++) {
      size_t ml = strlen(marks[m]);
      for (size_t i = 0; i + ml <= len; i++)
        if (memcmp(text + i, marks[m], ml) == 0)
          return 1;
    }
    return 0;
  }
  sshmux__buf_init(&bin, KEYFILE_MAX);
  if ((r = sshmux__openssh_pem_decode(text, len, &bin)) == 0) {
    r = sshmux__buf_get_bytes(&bin, sizeof(AUTH_MAGIC), &magic) != 0 ||
                memcmp(magic, AUTH_MAGIC, sizeof(AUTH_MAGIC)) != 0 ||
                sshmux__buf_get_string(&bin, FIELD_MAX, &cn, &cnn) != 0
            ? SSHMUX_EBADFORMAT
            : !str_is(cn, cnn, "none");
  }
  sshmux__buf_free(&bin);
  return r;
}

/* ---- the OpenSSH private-key armour (also host keys, hostkey.c) ---- */

int sshmux__openssh_pem_decode(const char *text, size_t len,
                               sshmux__buf_t *bin) {
  const char *p = text, *end = text + len, *body, *stop;
  char *clean = NULL;
  uint8_t *dst;
  size_t nclean = 0, outlen;
  int r;

  /* The BEGIN marker must start a line; leading blank lines are allowed. */
  while (p < end && (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t'))
    p++;
  if ((size_t)(end - p) < strlen(SSHMUX__OPENSSH_PEM_BEGIN) ||
      memcmp(p, SSHMUX__OPENSSH_PEM_BEGIN, strlen(SSHMUX__OPENSSH_PEM_BEGIN)) !=
          0)
    return SSHMUX_EBADFORMAT;
  body = p + strlen(SSHMUX__OPENSSH_PEM_BEGIN);
  for (stop = body; stop < end; stop++)
    if ((size_t)(end - stop) >= strlen(SSHMUX__OPENSSH_PEM_END) &&
        memcmp(stop, SSHMUX__OPENSSH_PEM_END,
               strlen(SSHMUX__OPENSSH_PEM_END)) == 0)
      break;
  if (stop >= end)
    return SSHMUX_EBADFORMAT;
  clean = sshmux__malloc((size_t)(stop - body) + 1);
  if (clean == NULL)
    return SSHMUX_ENOMEM;
  for (p = body; p < stop; p++) {
    if (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t')
      continue;
    clean[nclean++] = *p;
  }
  r = sshmux__buf_put_space(bin, nclean / 4 * 3 + 3, &dst);
  if (r == 0) {
    r = sshmux__base64_decode(clean, nclean, dst, nclean / 4 * 3 + 3, &outlen);
    bin->len = r == 0 ? (size_t)(dst - bin->data) + outlen : 0;
  }
  if (r == SSHMUX_ETOOLONG)
    r = SSHMUX_EBADFORMAT;
  sshmux__free_secret(clean, (size_t)(stop - body) + 1);
  return r;
}
