/* crypto/hostkey.c -- the server's host keys: ssh-ed25519 (libsodium)
 * and ecdsa-sha2-nistp256 (mbedTLS).  Keys are generated in-process from
 * the CSPRNG (no ssh-keygen), stored in OpenSSH's own unencrypted private
 * key format ("openssh-key-v1", PROTOCOL.key) so ssh-keygen and sshd can use
 * the same files, and loaded back with every field cross-checked: the
 * public key in the header must equal the one in the private section, and
 * the private half must derive that public key.
 *
 * Files are written through the safe-file writer (0600, atomic, symlinks
 * refused) and read through its bounded reader.  Parsing of file contents
 * goes through lib/core/buf.h, is exposed as sshmux__hostkey_parse() for the
 * fuzzer, and never trusts a length.  Private material lives only in the
 * hostkey struct and in secret-marked buffers, and is wiped on release.
 *
 * Signing follows RFC 8709 (Ed25519 over the data itself) and RFC 5656
 * (ECDSA over SHA-256 of the data, deterministic k per RFC 6979 with the
 * CSPRNG used for blinding).  A P-256 key keeps the curve group it loaded
 * for its first signature (sshmux__ecdsa_sign's cache), so a host key signs
 * on one thread at a time: the server's loop. */
#include <string.h>
#include <unistd.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <sodium.h>
#include <uv.h>

#include "core/core.h"
#include "crypto/crypto.h"

#define PEM_BEGIN SSHMUX__OPENSSH_PEM_BEGIN
#define PEM_END SSHMUX__OPENSSH_PEM_END
#define AUTH_MAGIC "openssh-key-v1" /* followed by a NUL on the wire */
/* Our key files are ~0.5 KiB; this bounds what load() reads and parses. */
#define KEYFILE_MAX (64 * 1024)
/* Caps on individual fields of a key file. */
#define FIELD_MAX 8192

struct sshmux__hostkey {
  sshmux__key_type_t type;
  uint8_t ed_sk[crypto_sign_ed25519_SECRETKEYBYTES]; /* seed || public */
  uint8_t ed_pk[crypto_sign_ed25519_PUBLICKEYBYTES];
  uint8_t ec_d[32]; /* P-256 private scalar, big-endian */
  uint8_t ec_q[65]; /* 0x04 || X || Y */
  char *comment;    /* from the file, or NULL */
  /* P-256 signing: the group, loaded at the first signature and kept, so
   * that mbedTLS keeps its table of multiples of G (public values) instead
   * of rebuilding it for every signature -- the larger part of a P-256
   * signature's cost.  A host key signs on one thread at a time (the
   * server's loop). */
  mbedtls_ecp_group *grp;
};

static const char *type_name(sshmux__key_type_t t) {
  return t == SSHMUX__KEY_ED25519 ? "ssh-ed25519" : "ecdsa-sha2-nistp256";
}

const char *sshmux__hostkey_alg(const sshmux__hostkey_t *hk) {
  return type_name(hk->type);
}

void sshmux__hostkey_free(sshmux__hostkey_t *hk) {
  if (hk == NULL)
    return;
  sshmux__free(hk->comment);
  if (hk->grp != NULL) {
    mbedtls_ecp_group_free(hk->grp);
    sshmux__free(hk->grp);
  }
  sshmux__free_secret(hk, sizeof(*hk));
}

/* ---- generate ---- */

int sshmux__hostkey_generate(sshmux__hostkey_t **hk, sshmux__key_type_t type) {
  sshmux__hostkey_t *k;
  int r;

  if (type != SSHMUX__KEY_ED25519 && type != SSHMUX__KEY_ECDSA_P256)
    return SSHMUX_EINVAL;
  if ((r = sshmux_init()) != 0)
    return r;
  k = sshmux__calloc(1, sizeof(*k));
  if (k == NULL)
    return SSHMUX_ENOMEM;
  k->type = type;
  if (type == SSHMUX__KEY_ED25519) {
    if (crypto_sign_ed25519_keypair(k->ed_pk, k->ed_sk) != 0)
      r = SSHMUX_ECRYPTO;
  } else {
    /* A uniformly random scalar; values outside [1, n-1] (probability
     * ~2^-32) are refused by sshmux__ecdsa_public and drawn again. */
    for (int tries = 0; tries < 16; tries++) {
      sshmux__random(k->ec_d, sizeof(k->ec_d));
      if ((r = sshmux__ecdsa_public(k->ec_d, sizeof(k->ec_d), k->ec_q)) !=
          SSHMUX_EBADFORMAT)
        break;
    }
  }
  if (r != 0) {
    sshmux__hostkey_free(k);
    return r;
  }
  *hk = k;
  return 0;
}

/* ---- public blob and signatures ---- */

int sshmux__hostkey_public_blob(const sshmux__hostkey_t *hk,
                                sshmux__buf_t *out) {
  size_t save = out->len;
  int r;

  r = sshmux__buf_put_cstring(out, type_name(hk->type));
  if (r == 0 && hk->type == SSHMUX__KEY_ED25519)
    r = sshmux__buf_put_string(out, hk->ed_pk, sizeof(hk->ed_pk));
  else if (r == 0) {
    r = sshmux__buf_put_cstring(out, "nistp256");
    if (r == 0)
      r = sshmux__buf_put_string(out, hk->ec_q, sizeof(hk->ec_q));
  }
  if (r != 0)
    out->len = save;
  return r;
}

int sshmux__hostkey_sign(const sshmux__hostkey_t *hk, const uint8_t *data,
                         size_t n, sshmux__buf_t *out) {
  size_t save = out->len;
  int r;

  if (hk->type == SSHMUX__KEY_ED25519) {
    uint8_t sig[crypto_sign_ed25519_BYTES];
    if (crypto_sign_ed25519_detached(sig, NULL, data, n, hk->ed_sk) != 0)
      return SSHMUX_ECRYPTO;
    r = sshmux__buf_put_cstring(out, "ssh-ed25519");
    if (r == 0)
      r = sshmux__buf_put_string(out, sig, sizeof(sig));
  } else {
    sshmux__buf_t inner;
    sshmux__buf_init(&inner, 256);
    r = sshmux__ecdsa_sign(hk->ec_d, sizeof(hk->ec_d), data, n,
                           (void **)&((sshmux__hostkey_t *)hk)->grp, &inner);
    if (r == 0)
      r = sshmux__buf_put_cstring(out, "ecdsa-sha2-nistp256");
    if (r == 0)
      r = sshmux__buf_put_string(out, inner.data, inner.len);
    sshmux__buf_free(&inner);
  }
  if (r != 0)
    out->len = save;
  return r;
}

/* ---- the openssh-key-v1 container ---- */

/* The private section of one key: checkints, key fields, comment, padding
 * 1, 2, 3... to a multiple of 8 (the "none" cipher's block size). */
static int put_private(const sshmux__hostkey_t *hk, const char *comment,
                       sshmux__buf_t *b) {
  uint32_t check;
  int r;

  sshmux__random(&check, sizeof(check));
  r = sshmux__buf_put_u32(b, check);
  if (r == 0)
    r = sshmux__buf_put_u32(b, check);
  if (r == 0)
    r = sshmux__buf_put_cstring(b, type_name(hk->type));
  if (r == 0 && hk->type == SSHMUX__KEY_ED25519) {
    r = sshmux__buf_put_string(b, hk->ed_pk, sizeof(hk->ed_pk));
    if (r == 0)
      r = sshmux__buf_put_string(b, hk->ed_sk, sizeof(hk->ed_sk));
  } else if (r == 0) {
    r = sshmux__buf_put_cstring(b, "nistp256");
    if (r == 0)
      r = sshmux__buf_put_string(b, hk->ec_q, sizeof(hk->ec_q));
    if (r == 0)
      r = sshmux__buf_put_mpint(b, hk->ec_d, sizeof(hk->ec_d));
  }
  if (r == 0)
    r = sshmux__buf_put_cstring(b, comment);
  for (uint8_t i = 1; r == 0 && b->len % 8 != 0; i++)
    r = sshmux__buf_put_u8(b, i);
  return r;
}

/* The whole PEM text of the private key file into out (secret). */
static int serialize(const sshmux__hostkey_t *hk, const char *comment,
                     sshmux__buf_t *out) {
  sshmux__buf_t bin, priv;
  char *b64 = NULL;
  size_t n, i;
  int r;

  sshmux__buf_init(&bin, KEYFILE_MAX);
  sshmux__buf_init(&priv, KEYFILE_MAX);
  sshmux__buf_set_secret(&bin);
  sshmux__buf_set_secret(&priv);
  sshmux__buf_set_secret(out);
  r = sshmux__buf_put_bytes(&bin, AUTH_MAGIC, sizeof(AUTH_MAGIC));
  if (r == 0)
    r = sshmux__buf_put_cstring(&bin, "none"); /* cipher */
  if (r == 0)
    r = sshmux__buf_put_cstring(&bin, "none"); /* kdf */
  if (r == 0)
    r = sshmux__buf_put_string(&bin, NULL, 0); /* kdf options */
  if (r == 0)
    r = sshmux__buf_put_u32(&bin, 1);
  if (r == 0) {
    /* string publickey: the blob behind a length we patch afterwards. */
    size_t at = bin.len;
    r = sshmux__buf_put_u32(&bin, 0);
    if (r == 0)
      r = sshmux__hostkey_public_blob(hk, &bin);
    if (r == 0)
      sshmux__store_be32(bin.data + at, (uint32_t)(bin.len - at - 4));
  }
  if (r == 0)
    r = put_private(hk, comment, &priv);
  if (r == 0)
    r = sshmux__buf_put_string(&bin, priv.data, priv.len);
  if (r != 0)
    goto out;
  b64 = sshmux__malloc(4 * ((bin.len + 2) / 3) + 1);
  if (b64 == NULL) {
    r = SSHMUX_ENOMEM;
    goto out;
  }
  n = sshmux__base64_encode(bin.data, bin.len, b64);
  r = sshmux__buf_put_bytes(out, PEM_BEGIN "\n", strlen(PEM_BEGIN) + 1);
  /* ssh-keygen wraps at 70 columns; any width parses, we match it. */
  for (i = 0; r == 0 && i < n; i += 70) {
    r = sshmux__buf_put_bytes(out, b64 + i, SSHMUX__MIN(70, n - i));
    if (r == 0)
      r = sshmux__buf_put_u8(out, '\n');
  }
  if (r == 0)
    r = sshmux__buf_put_bytes(out, PEM_END "\n", strlen(PEM_END) + 1);
  sshmux__free_secret(b64, 4 * ((bin.len + 2) / 3) + 1);
out:
  sshmux__buf_free(&bin);
  sshmux__buf_free(&priv);
  return r;
}

/* Does the string s[0..n) equal the C string want? */
static int str_is(const uint8_t *s, size_t n, const char *want) {
  return n == strlen(want) && memcmp(s, want, n) == 0;
}

/* Parse the key fields of the private section (cursor after the type). */
static int parse_private_fields(sshmux__buf_t *b, sshmux__hostkey_t *k) {
  const uint8_t *p, *s, *curve;
  size_t pn, sn, cn;
  int r;

  if (k->type == SSHMUX__KEY_ED25519) {
    uint8_t pk[crypto_sign_ed25519_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_ed25519_SECRETKEYBYTES];
    if ((r = sshmux__buf_get_string(b, FIELD_MAX, &p, &pn)) != 0 ||
        (r = sshmux__buf_get_string(b, FIELD_MAX, &s, &sn)) != 0)
      return r;
    if (pn != sizeof(k->ed_pk) || sn != sizeof(k->ed_sk))
      return SSHMUX_EBADFORMAT;
    /* The stored public half and the one the seed derives must agree. */
    if (crypto_sign_ed25519_seed_keypair(pk, sk, s) != 0)
      return SSHMUX_ECRYPTO;
    r = memcmp(pk, p, sizeof(pk)) != 0 || memcmp(s + 32, p, 32) != 0 ||
                !sshmux__ct_equal(sk, s, sizeof(sk))
            ? SSHMUX_EBADFORMAT
            : 0;
    if (r == 0) {
      memcpy(k->ed_pk, pk, sizeof(pk));
      memcpy(k->ed_sk, sk, sizeof(sk));
    }
    sshmux__wipe(sk, sizeof(sk));
    return r;
  }
  if ((r = sshmux__buf_get_string(b, FIELD_MAX, &curve, &cn)) != 0 ||
      (r = sshmux__buf_get_string(b, FIELD_MAX, &p, &pn)) != 0 ||
      (r = sshmux__buf_get_mpint(b, 32, &s, &sn)) != 0)
    return r == SSHMUX_ETOOLONG ? SSHMUX_EBADFORMAT : r;
  if (!str_is(curve, cn, "nistp256") || pn != sizeof(k->ec_q))
    return SSHMUX_EBADFORMAT;
  memset(k->ec_d, 0, sizeof(k->ec_d));
  memcpy(k->ec_d + 32 - sn, s, sn);
  if ((r = sshmux__ecdsa_public(k->ec_d, sizeof(k->ec_d), k->ec_q)) != 0)
    return r;
  return memcmp(k->ec_q, p, pn) == 0 ? 0 : SSHMUX_EBADFORMAT;
}

int sshmux__hostkey_parse(sshmux__hostkey_t **hk, const char *text,
                          size_t len) {
  sshmux__buf_t bin, pb, blob;
  sshmux__hostkey_t *k = NULL;
  const uint8_t *magic, *s, *pub, *priv;
  size_t sn, pubn, privn;
  uint32_t nkeys, c1, c2;
  char *comment = NULL;
  int r;

  if ((r = sshmux_init()) != 0)
    return r;
  if (len > KEYFILE_MAX)
    return SSHMUX_ETOOLONG;
  sshmux__buf_init(&bin, KEYFILE_MAX);
  sshmux__buf_init(&blob, 1024);
  sshmux__buf_set_secret(&bin);
  if ((r = sshmux__openssh_pem_decode(text, len, &bin)) != 0)
    goto out;
  r = SSHMUX_EBADFORMAT;
  if (sshmux__buf_get_bytes(&bin, sizeof(AUTH_MAGIC), &magic) != 0 ||
      memcmp(magic, AUTH_MAGIC, sizeof(AUTH_MAGIC)) != 0)
    goto out;
  /* Cipher and KDF: passphrase-protected keys are not for unattended
   * servers; say so precisely instead of "malformed". */
  if (sshmux__buf_get_string(&bin, FIELD_MAX, &s, &sn) != 0)
    goto out;
  if (!str_is(s, sn, "none")) {
    r = SSHMUX_EUNSUPPORTED;
    goto out;
  }
  if (sshmux__buf_get_string(&bin, FIELD_MAX, &s, &sn) != 0 ||
      !str_is(s, sn, "none") ||
      sshmux__buf_get_string(&bin, FIELD_MAX, &s, &sn) != 0 || sn != 0 ||
      sshmux__buf_get_u32(&bin, &nkeys) != 0 || nkeys != 1 ||
      sshmux__buf_get_string(&bin, FIELD_MAX, &pub, &pubn) != 0 ||
      sshmux__buf_get_string(&bin, KEYFILE_MAX, &priv, &privn) != 0 ||
      sshmux__buf_remaining(&bin) != 0 || privn % 8 != 0)
    goto out;

  sshmux__buf_view(&pb, priv, privn);
  if (sshmux__buf_get_u32(&pb, &c1) != 0 ||
      sshmux__buf_get_u32(&pb, &c2) != 0 || c1 != c2 ||
      sshmux__buf_get_string(&pb, FIELD_MAX, &s, &sn) != 0)
    goto out;
  k = sshmux__calloc(1, sizeof(*k));
  if (k == NULL) {
    r = SSHMUX_ENOMEM;
    goto out;
  }
  if (str_is(s, sn, "ssh-ed25519")) {
    k->type = SSHMUX__KEY_ED25519;
  } else if (str_is(s, sn, "ecdsa-sha2-nistp256")) {
    k->type = SSHMUX__KEY_ECDSA_P256;
  } else {
    r = SSHMUX_EUNSUPPORTED; /* RSA, other curves, sk-*: not host keys */
    goto out;
  }
  if ((r = parse_private_fields(&pb, k)) != 0) {
    if (r == SSHMUX_ETRUNCATED || r == SSHMUX_ETOOLONG)
      r = SSHMUX_EBADFORMAT;
    goto out;
  }
  if ((r = sshmux__buf_get_cstring(&pb, FIELD_MAX, &comment)) != 0) {
    if (r != SSHMUX_ENOMEM) /* out of memory copying it is not bad input */
      r = SSHMUX_EBADFORMAT;
    goto out;
  }
  r = SSHMUX_EBADFORMAT;
  /* Padding 1, 2, 3, ... up to the end (PROTOCOL.key). */
  for (uint8_t i = 1; sshmux__buf_remaining(&pb) > 0; i++) {
    uint8_t v;
    if (sshmux__buf_get_u8(&pb, &v) != 0 || v != i || i >= 8)
      goto out;
  }
  /* The header's public key must be the one the private half gives. */
  if ((r = sshmux__hostkey_public_blob(k, &blob)) != 0)
    goto out;
  if (blob.len != pubn || memcmp(blob.data, pub, pubn) != 0) {
    r = SSHMUX_EBADFORMAT;
    goto out;
  }
  k->comment = comment;
  comment = NULL;
  *hk = k;
  k = NULL;
  r = 0;
out:
  sshmux__free(comment);
  sshmux__hostkey_free(k);
  sshmux__buf_free(&bin);
  sshmux__buf_free(&blob);
  return r;
}

int sshmux__hostkey_load(sshmux__hostkey_t **hk, const char *path) {
  char *text = NULL;
  size_t len = 0;
  int r;

  /* StrictModes: a key someone else could replace is not ours. */
  r = sshmux_path_check_perms(path, geteuid());
  if (r == 0)
    r = sshmux_file_read(path, KEYFILE_MAX, &text, &len);
  if (r == SSHMUX_ETOOLONG)
    r = SSHMUX_EBADFORMAT;
  if (r != 0)
    return r;
  r = sshmux__hostkey_parse(hk, text, len);
  if (r != 0)
    SSHMUX__LOG_WARN("host key %s: %s", path, sshmux_strerror(r));
  sshmux__free_secret(text, len);
  return r;
}

/* ---- save ---- */

int sshmux__hostkey_openssh_public(const sshmux__hostkey_t *hk,
                                   const char *comment, char **line) {
  sshmux__buf_t blob;
  char *b64, *out = NULL;
  int r;

  sshmux__buf_init(&blob, 1024);
  if ((r = sshmux__hostkey_public_blob(hk, &blob)) != 0)
    return r;
  b64 = sshmux__malloc(4 * ((blob.len + 2) / 3) + 1);
  if (b64 != NULL) {
    sshmux__base64_encode(blob.data, blob.len, b64);
    out = sshmux__asprintf("%s %s%s%s\n", type_name(hk->type), b64,
                           comment && *comment ? " " : "",
                           comment ? comment : "");
  }
  sshmux__free(b64);
  sshmux__buf_free(&blob);
  if (out == NULL)
    return SSHMUX_ENOMEM;
  *line = out;
  return 0;
}

int sshmux__hostkey_save(const sshmux__hostkey_t *hk, const char *path,
                         const char *comment) {
  sshmux__buf_t pem;
  char *pubpath = NULL, *publine = NULL;
  int r;

  if (comment == NULL)
    comment = hk->comment ? hk->comment : "";
  /* A comment is free text, but one line of it: the .pub file is a line. */
  if (strpbrk(comment, "\r\n") != NULL)
    return SSHMUX_EINVAL;
  sshmux__buf_init(&pem, KEYFILE_MAX);
  r = serialize(hk, comment, &pem);
  if (r == 0)
    r = sshmux_file_write_atomic(path, pem.data, pem.len, 0600);
  if (r == 0)
    r = sshmux__hostkey_openssh_public(hk, comment, &publine);
  if (r == 0) {
    pubpath = sshmux__asprintf("%s.pub", path);
    r = pubpath == NULL
            ? SSHMUX_ENOMEM
            : sshmux_file_write_atomic(pubpath, publine, strlen(publine), 0644);
  }
  if (r != 0)
    SSHMUX__LOG_ERROR("saving host key %s: %s", path, sshmux_strerror(r));
  sshmux__free(pubpath);
  sshmux__free(publine);
  sshmux__buf_free(&pem);
  return r;
}

int sshmux__hostkey_load_or_create(sshmux__hostkey_t **hk, const char *path,
                                   sshmux__key_type_t type) {
  sshmux__hostkey_t *k;
  int r = sshmux__hostkey_load(hk, path);

  if (r != UV_ENOENT)
    return r;
  if ((r = sshmux__hostkey_generate(&k, type)) != 0)
    return r;
  if ((r = sshmux__hostkey_save(k, path, "sshmux host key")) != 0) {
    sshmux__hostkey_free(k);
    return r;
  }
  SSHMUX__LOG_INFO("generated %s host key %s", type_name(type), path);
  *hk = k;
  return 0;
}
