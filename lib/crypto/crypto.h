/* crypto/crypto.h -- the cryptography of the local SSH server, behind one
 * narrow interface: hashing, key exchange, key derivation, the packet codec
 * (cipher + MAC/AEAD for one direction), host keys (generate, load, save,
 * sign), user public-key signature verification, and the user's own
 * private keys for logging in upstream (parse, sign; bcrypt_pbkdf).  mbedTLS
 * and libsodium appear only in the files implementing this header (lib/crypto/
 * files); the transport and authentication code never sees them.
 *
 * Every function returns 0 or a negative SSHMUX_E* code.  Secrets (shared
 * secret, derived keys, private keys) are wiped when released.  Algorithm
 * names are the SSH wire names; the exact lists the server offers are in
 * ssh-server.md §1.3 and exported below as comma-separated strings.
 *
 * This is the crypto module's interface (server, knownhosts and pool use
 * it).  Its files, bottom layer first, each calling only files of lower
 * layers: hash.c (hashes, HMAC, KDF, fingerprints) < bcrypt.c, codec.c,
 * kex.c, pubkey.c < userkey.c (private keys, the OpenSSH key armour) <
 * hostkey.c (scripts/check-layers.sh checks the order). */
#ifndef SSHMUX_SSH_CRYPTO_H
#define SSHMUX_SSH_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* What the server offers, in its preference order. */
#define SSHMUX__KEX_ALGS                                                       \
  "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256"
#define SSHMUX__CIPHER_ALGS                                                    \
  "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,"                      \
  "aes256-gcm@openssh.com,aes128-ctr,aes256-ctr"
#define SSHMUX__MAC_ALGS                                                       \
  "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,"               \
  "hmac-sha2-256,hmac-sha2-512"
/* Signature algorithms we verify for user keys (server-sig-algs). */
#define SSHMUX__SIG_ALGS                                                       \
  "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,"                       \
  "ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256"

#define SSHMUX__HASH_MAX 64

/* ---- hashing ---- */

typedef enum {
  SSHMUX__SHA256 = 0,
  SSHMUX__SHA384 = 1,
  SSHMUX__SHA512 = 2,
  /* Legacy: only for reading and writing hashed known_hosts names
   * ("|1|salt|HMAC-SHA1"), whose format fixes it.  Never negotiated. */
  SSHMUX__SHA1 = 3
} sshmux__hash_alg_t;

size_t sshmux__hash_len(sshmux__hash_alg_t alg);
/* One-shot digest of data into out (sshmux__hash_len bytes). */
int sshmux__hash(sshmux__hash_alg_t alg, const void *data, size_t n,
                 uint8_t *out);

/* Incremental hashing (the exchange hash H is built piecewise). */
typedef struct sshmux__hash_ctx sshmux__hash_ctx_t;
int sshmux__hash_new(sshmux__hash_ctx_t **ctx, sshmux__hash_alg_t alg);
int sshmux__hash_update(sshmux__hash_ctx_t *ctx, const void *data, size_t n);
/* Writes the digest and frees ctx. */
int sshmux__hash_final(sshmux__hash_ctx_t *ctx, uint8_t *out);
void sshmux__hash_free(sshmux__hash_ctx_t *ctx);

/* HMAC with a key fixed at creation (copied and wiped on free).  reset /
 * update / final compute one tag and may be repeated for the next message;
 * final does not free. */
typedef struct sshmux__hmac sshmux__hmac_t;
int sshmux__hmac_new(sshmux__hmac_t **h, sshmux__hash_alg_t alg,
                     const uint8_t *key, size_t klen);
size_t sshmux__hmac_len(const sshmux__hmac_t *h);
int sshmux__hmac_reset(sshmux__hmac_t *h);
int sshmux__hmac_update(sshmux__hmac_t *h, const void *data, size_t n);
int sshmux__hmac_final(sshmux__hmac_t *h, uint8_t *out);
void sshmux__hmac_free(sshmux__hmac_t *h);
/* One-shot HMAC into out (sshmux__hash_len(alg) bytes). */
int sshmux__hmac(sshmux__hash_alg_t alg, const uint8_t *key, size_t klen,
                 const void *data, size_t n, uint8_t *out);

/* The f_rng adapter handed to every mbedTLS call that wants randomness in
 * lib/crypto/ files: it draws from libsodium's CSPRNG (sshmux__random), so
 * there is one randomness source and no DRBG state to reseed after fork.
 * ctx is ignored.  Always returns 0. */
int sshmux__mbedtls_rng(void *ctx, unsigned char *out, size_t n);

/* ---- key exchange (server side) ---- */

typedef struct sshmux__kex sshmux__kex_t;
/* alg: "curve25519-sha256", "curve25519-sha256@libssh.org" or
 * "ecdh-sha2-nistp256".  SSHMUX_ENOALGO otherwise. */
int sshmux__kex_new(sshmux__kex_t **kex, const char *alg);
sshmux__hash_alg_t sshmux__kex_hash_alg(const sshmux__kex_t *kex);
/* Call once per kex object.  Given the client's ephemeral public value q_c,
 * generate ours (fresh from the CSPRNG, wiped before returning) and compute
 * the shared secret.  Appends Q_S (raw, no length prefix) to q_s and K
 * encoded as an SSH mpint *with* its 4-byte length prefix (exactly the bytes
 * hashed into H and into key derivation) to k (which the callee marks
 * secret).  Validates q_c: curve25519 wants 32 bytes and a non-zero shared
 * secret; P-256 wants an uncompressed point on the curve.  Bad input is
 * SSHMUX_EPROTO. */
int sshmux__kex_compute(sshmux__kex_t *kex, const uint8_t *q_c, size_t q_c_len,
                        sshmux__buf_t *q_s, sshmux__buf_t *k);
void sshmux__kex_free(sshmux__kex_t *kex);
/* Tests only: use priv as the ephemeral private key of the next
 * sshmux__kex_compute() instead of a random one (X25519: 32 bytes as in RFC
 * 7748; P-256: the 32-byte big-endian scalar).  Makes known-answer tests
 * possible; the server never calls it. */
int sshmux__kex_set_private(sshmux__kex_t *kex, const uint8_t *priv, size_t n);

/* RFC 4253 §7.2: out = first outlen bytes of
 * HASH(K || H || letter || session_id) || HASH(K || H || K1) || ...
 * k is the mpint encoding with length prefix, as produced above. */
int sshmux__kex_derive(sshmux__hash_alg_t alg, const uint8_t *k, size_t klen,
                       const uint8_t *h, size_t hlen, const uint8_t *session_id,
                       size_t sidlen, char letter, uint8_t *out, size_t outlen);

/* ---- packet codec: one direction's cipher + MAC ---- */

/* Key material sizes for negotiated names: cipher key and IV bytes; MAC
 * key bytes (0 when the cipher is AEAD and the MAC is ignored).  Returns
 * SSHMUX_ENOALGO for names not in the lists above. */
int sshmux__cipher_sizes(const char *cipher, size_t *key_len, size_t *iv_len);
int sshmux__cipher_is_aead(const char *cipher);
/* 1 when this build runs the cipher on the CPU's AES instructions through
 * libsodium (aes256-gcm@openssh.com on a CPU with AES-NI and PCLMUL): the
 * cheapest cipher per byte for us and for an OpenSSL-backed client. */
int sshmux__cipher_accelerated(const char *cipher);
int sshmux__mac_key_len(const char *mac, size_t *key_len);

typedef struct sshmux__codec sshmux__codec_t;
/* cipher "none" (mac ignored, keys NULL) gives the pre-NEWKEYS codec.  For
 * AEAD ciphers mac and mac_key are ignored and may be NULL.  Keys are copied
 * (the caller wipes its own copies). */
int sshmux__codec_new(sshmux__codec_t **c, const char *cipher, const char *mac,
                      const uint8_t *key, const uint8_t *iv,
                      const uint8_t *mac_key);
void sshmux__codec_free(sshmux__codec_t *c);

/* Framing facts the transport needs:
 *   block:         padding alignment (8 for none/chacha, 16 for AES)
 *   tag_len:       bytes of MAC/tag after the packet (0 for none)
 *   first_len:     bytes the receiver must have before open_length()
 *                  (4, or 16 for CTR with a classic MAC)
 *   len_excluded:  1 if the alignment rule excludes the 4-byte length
 *                  (ETM, GCM, chacha20), 0 otherwise */
size_t sshmux__codec_block(const sshmux__codec_t *c);
size_t sshmux__codec_tag_len(const sshmux__codec_t *c);
size_t sshmux__codec_first_len(const sshmux__codec_t *c);
int sshmux__codec_len_excluded(const sshmux__codec_t *c);

/* Receive, step 1: given the first first_len bytes of a packet (decrypted in
 * place where the length is encrypted), return packet_length.  Checks
 * nothing but what the codec itself requires (the transport checks the
 * maximum and the alignment).  Must be called exactly once per packet,
 * before sshmux__codec_open(). */
int sshmux__codec_open_length(sshmux__codec_t *c, uint32_t seq, uint8_t *pkt,
                              uint32_t *packet_len);
/* Receive, step 2: pkt holds 4 + packet_length bytes (the first first_len
 * already processed by step 1) and tag the following tag_len bytes.
 * Verifies the tag/MAC in constant time before decrypting (for ETM and
 * AEAD), decrypts the rest in place; afterwards pkt is the whole plaintext
 * packet in every mode.  len is taken as given (the transport checks it
 * against packet_length).  SSHMUX_EMAC on a bad tag, after which the
 * codec's stream state (CTR keystream, GCM counter) is undefined: the
 * connection must be dropped, as RFC 4253 §6.4 requires anyway. */
int sshmux__codec_open(sshmux__codec_t *c, uint32_t seq, uint8_t *pkt,
                       size_t len, const uint8_t *tag);
/* Send: pkt holds the whole plaintext packet (4 + packet_length bytes,
 * length field filled in, padding already random and aligned).  Encrypts in
 * place and writes tag_len bytes to tag. */
int sshmux__codec_seal(sshmux__codec_t *c, uint32_t seq, uint8_t *pkt,
                       size_t len, uint8_t *tag);

/* ---- host keys ---- */

typedef enum {
  SSHMUX__KEY_ED25519 = 0,
  SSHMUX__KEY_ECDSA_P256 = 1
} sshmux__key_type_t;

typedef struct sshmux__hostkey sshmux__hostkey_t;
int sshmux__hostkey_generate(sshmux__hostkey_t **hk, sshmux__key_type_t type);
/* Load an unencrypted OpenSSH-format private key ("-----BEGIN OPENSSH
 * PRIVATE KEY-----") of a supported type, through the safe-file reader
 * (symlinks refused, UV_ENOENT when missing).  SSHMUX_EBADFORMAT for a
 * malformed or inconsistent file (the header's public key, the private
 * half and the checkints must all agree); SSHMUX_EUNSUPPORTED for a
 * passphrase-protected key or a key type we do not serve (RSA, ...). */
int sshmux__hostkey_load(sshmux__hostkey_t **hk, const char *path);
/* The same from the file's text in memory (the fuzz target's entry). */
int sshmux__hostkey_parse(sshmux__hostkey_t **hk, const char *text, size_t len);
/* Write the private key in OpenSSH format, 0600, atomically (safe-file
 * writer; SSHMUX_ESYMLINK for a symlink on the path), and path.pub (0644)
 * with the public line.  comment NULL keeps the loaded key's comment; it
 * must not contain a line break (SSHMUX_EINVAL). */
int sshmux__hostkey_save(const sshmux__hostkey_t *hk, const char *path,
                         const char *comment);
/* Load path, or generate and save it if it does not exist. */
int sshmux__hostkey_load_or_create(sshmux__hostkey_t **hk, const char *path,
                                   sshmux__key_type_t type);
void sshmux__hostkey_free(sshmux__hostkey_t *hk);
/* "ssh-ed25519" or "ecdsa-sha2-nistp256". */
const char *sshmux__hostkey_alg(const sshmux__hostkey_t *hk);
/* The OpenSSH public key line "alg base64 [comment]\n" (as in .pub files
 * and known_hosts) in a fresh allocation the caller frees. */
int sshmux__hostkey_openssh_public(const sshmux__hostkey_t *hk,
                                   const char *comment, char **line);
/* Append the public key blob (no outer length prefix) to out. */
int sshmux__hostkey_public_blob(const sshmux__hostkey_t *hk,
                                sshmux__buf_t *out);
/* Append the SSH signature blob (string alg, string sig) of data to out,
 * without an outer length prefix. */
int sshmux__hostkey_sign(const sshmux__hostkey_t *hk, const uint8_t *data,
                         size_t n, sshmux__buf_t *out);

/* The base64 body between "-----BEGIN/END OPENSSH PRIVATE KEY-----"
 * markers of text, decoded and appended to bin (mark it secret).  In
 * userkey.c, below hostkey.c, which uses it for host key files.
 * SSHMUX_EBADFORMAT without the markers or with bad base64. */
#define SSHMUX__OPENSSH_PEM_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define SSHMUX__OPENSSH_PEM_END "-----END OPENSSH PRIVATE KEY-----"
int sshmux__openssh_pem_decode(const char *text, size_t len,
                               sshmux__buf_t *bin);
/* ECDSA (RFC 5656) with the private scalar d (big-endian, 32, 48 or 66
 * bytes: nistp256/384/521, hashed with SHA-256/384/512), deterministic k:
 * appends "mpint r, mpint s" to out.  grp_cache: NULL to load the curve
 * per call (any thread), or a key's own slot (starting NULL) keeping the
 * loaded group across calls -- then one thread at a time per slot; the
 * owner frees it with mbedtls_ecp_group_free() and sshmux__free(). */
int sshmux__ecdsa_sign(const uint8_t *d, size_t dlen, const uint8_t *data,
                       size_t n, void **grp_cache, sshmux__buf_t *out);
/* Q = d*G for the same curves, uncompressed (0x04 || X || Y: 1 + 2*dlen
 * bytes) into q.  SSHMUX_EBADFORMAT when d is zero or not below the group
 * order. */
int sshmux__ecdsa_public(const uint8_t *d, size_t dlen, uint8_t *q);

/* ---- user private keys (logging in upstream; crypto/userkey.c) ---- */

typedef struct sshmux__userkey sshmux__userkey_t;
/* Parse a private key file's text: OpenSSH format (unencrypted, or bcrypt
 * + AES-CTR/CBC/GCM), PEM PKCS#1 RSA / SEC1 EC (optionally with OpenSSL's
 * encryption header) or PKCS#8 (plain or encrypted); Ed25519, ECDSA
 * P-256/384/521 and RSA (1024..8192 bits).  passphrase may be NULL.
 * SSHMUX_EAUTH: encrypted and the passphrase is missing or wrong;
 * SSHMUX_EUNSUPPORTED: another key type (DSA, sk-*, ...), cipher or KDF;
 * SSHMUX_EBADFORMAT: malformed or inconsistent. */
int sshmux__userkey_parse(sshmux__userkey_t **k, const char *text, size_t len,
                          const char *passphrase);
/* 1 if the text is a passphrase-protected key, 0 if not, < 0 if it is an
 * OpenSSH-format file that cannot be read. */
int sshmux__userkey_needs_passphrase(const char *text, size_t len);
/* Wipes and frees; NULL is fine. */
void sshmux__userkey_free(sshmux__userkey_t *k);
/* The key type inside its public blob: "ssh-ed25519", "ssh-rsa",
 * "ecdsa-sha2-nistp256", ... */
const char *sshmux__userkey_type(const sshmux__userkey_t *k);
/* Append the public key blob (no outer length prefix) to out. */
int sshmux__userkey_public_blob(const sshmux__userkey_t *k, sshmux__buf_t *out);
/* Sign data for signature algorithm alg -- the key type, or for RSA
 * "rsa-sha2-512" / "rsa-sha2-256" (SHA-1 "ssh-rsa" is refused:
 * SSHMUX_EUNSUPPORTED) -- appending the raw signature (the second string
 * of the signature blob: 64 bytes, "mpint r, mpint s", or the modulus-sized
 * RSA signature) to out.  Safe from several threads at once. */
int sshmux__userkey_sign(const sshmux__userkey_t *k, const char *alg,
                         const uint8_t *data, size_t n, sshmux__buf_t *out);

/* bcrypt_pbkdf (OpenBSD; OpenSSH's key-file KDF): keylen bytes from
 * passphrase and salt with `rounds` iterations.  Intermediates wiped. */
int sshmux__bcrypt_pbkdf(const char *pass, size_t passlen, const uint8_t *salt,
                         size_t saltlen, uint8_t *key, size_t keylen,
                         unsigned rounds);
/* Tests only: one Blowfish block (ECB) with the plain key schedule, to
 * check our Blowfish and its pi table against another implementation. */
int sshmux__blowfish_ecb_test(const uint8_t *key, size_t keylen,
                              const uint8_t in[8], uint8_t out[8]);

/* ---- user public keys ---- */

/* Is alg a signature algorithm we verify (one of SSHMUX__SIG_ALGS)? */
int sshmux__sig_alg_supported(const char *alg);
/* The key type name inside a public key blob ("ssh-ed25519", "ssh-rsa",
 * ...), copied into out. */
int sshmux__pubkey_blob_type(const uint8_t *blob, size_t n, char *out,
                             size_t outsz);
/* Verify sig_blob (string alg, string sig) over data with the public key
 * key_blob, for the algorithm sig_alg named in the auth request.  The
 * signature's own alg must equal sig_alg and fit the key type (rsa-sha2-*
 * for ssh-rsa keys, RSA keys >= 2048 bits).  0 when valid; SSHMUX_EAUTH
 * when the signature does not verify or names another algorithm;
 * SSHMUX_EUNSUPPORTED for ssh-rsa (SHA-1), certificates, sk-* keys, unknown
 * algorithms and RSA moduli below 2048 (or above 8192) bits;
 * SSHMUX_EBADFORMAT for malformed blobs (truncated, trailing bytes, points
 * off the curve, wrong field sizes). */
int sshmux__pubkey_verify(const char *sig_alg, const uint8_t *key_blob,
                          size_t key_len, const uint8_t *sig_blob,
                          size_t sig_len, const uint8_t *data, size_t n);

/* ---- fingerprints ---- */

/* "SHA256:" + unpadded base64 of SHA-256(blob), as ssh-keygen -l prints. */
int sshmux__fingerprint_sha256(const uint8_t *blob, size_t n, char *out,
                               size_t outsz);

#endif
