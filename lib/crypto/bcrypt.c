/* crypto/bcrypt.c -- bcrypt_pbkdf, the key derivation OpenSSH uses for
 * passphrase-protected private keys ("openssh-key-v1" with kdfname
 * "bcrypt", PROTOCOL.key), and the Blowfish it is built on.
 *
 * Why our own: mbedTLS has no bcrypt, and its Blowfish (gone in mbedTLS 3)
 * keeps the expensive key schedule ("EksBlowfish": state expanded with a
 * salt and a key, repeated) out of reach.  The construction, as OpenBSD
 * defines it: sha2pass = SHA-512(passphrase); for each 32-byte output block
 * i, sha2salt = SHA-512(salt || BE32(i)), and bcrypt_hash(sha2pass,
 * sha2salt) -- EksBlowfish setup with 64 rounds of alternating key and
 * salt expansion, then "OxychromaticBlowfishSwatDynamite" encrypted 64
 * times -- is iterated `rounds` times, XORing the results; the output
 * bytes are finally interleaved across the blocks (stride) so every key
 * byte depends on every round.
 *
 * The initial Blowfish state is pi (blowfish-pi.h, generated).  Every
 * intermediate (hashed passphrase, state, blocks) is wiped before return.
 * Cost: about 2 x 10^6 Blowfish block encryptions for a 48-byte key at the
 * default 16 rounds (a fraction of a second), run by the login worker,
 * never the loop. */
#include <string.h>

#include "core/core.h"
#include "crypto/crypto.h"

#include "crypto/blowfish-pi.h"

#define BF_ROUNDS 16
#define BCRYPT_WORDS 8 /* 32-byte blocks of bcrypt_hash output */
#define BCRYPT_HASHSIZE (BCRYPT_WORDS * 4)

typedef struct {
  uint32_t p[BF_ROUNDS + 2];
  uint32_t s[4][256];
} bf_t;

static uint32_t bf_f(const bf_t *c, uint32_t x) {
  return ((c->s[0][x >> 24] + c->s[1][(x >> 16) & 0xff]) ^
          c->s[2][(x >> 8) & 0xff]) +
         c->s[3][x & 0xff];
}

static void bf_encipher(const bf_t *c, uint32_t *xl, uint32_t *xr) {
  uint32_t l = *xl, r = *xr, t;

  for (int i = 0; i < BF_ROUNDS; i++) {
    l ^= c->p[i];
    r ^= bf_f(c, l);
    t = l;
    l = r;
    r = t;
  }
  t = l;
  l = r;
  r = t;
  r ^= c->p[BF_ROUNDS];
  l ^= c->p[BF_ROUNDS + 1];
  *xl = l;
  *xr = r;
}

static void bf_init(bf_t *c) {
  memcpy(c->p, blowfish_pi, sizeof(c->p));
  memcpy(c->s, blowfish_pi + BF_ROUNDS + 2, sizeof(c->s));
}

/* The next 4 bytes of data (cyclically) as a big-endian word. */
static uint32_t stream_word(const uint8_t *data, size_t n, size_t *pos) {
  uint32_t w = 0;

  for (int i = 0; i < 4; i++) {
    if (*pos >= n)
      *pos = 0;
    w = (w << 8) | data[(*pos)++];
  }
  return w;
}

/* EksBlowfish's ExpandKey(state, salt, key); salt may be NULL (all zero:
 * the plain Blowfish key schedule). */
static void bf_expand(bf_t *c, const uint8_t *salt, size_t saltlen,
                      const uint8_t *key, size_t keylen) {
  uint32_t l = 0, r = 0;
  size_t j = 0, k = 0;

  for (int i = 0; i < BF_ROUNDS + 2; i++)
    c->p[i] ^= stream_word(key, keylen, &j);
  for (int i = 0; i < BF_ROUNDS + 2; i += 2) {
    if (salt != NULL) {
      l ^= stream_word(salt, saltlen, &k);
      r ^= stream_word(salt, saltlen, &k);
    }
    bf_encipher(c, &l, &r);
    c->p[i] = l;
    c->p[i + 1] = r;
  }
  for (int b = 0; b < 4; b++)
    for (int i = 0; i < 256; i += 2) {
      if (salt != NULL) {
        l ^= stream_word(salt, saltlen, &k);
        r ^= stream_word(salt, saltlen, &k);
      }
      bf_encipher(c, &l, &r);
      c->s[b][i] = l;
      c->s[b][i + 1] = r;
    }
}

int sshmux__blowfish_ecb_test(const uint8_t *key, size_t keylen,
                              const uint8_t in[8], uint8_t out[8]) {
  bf_t c;
  uint32_t l = sshmux__load_be32(in), r = sshmux__load_be32(in + 4);

  if (keylen == 0)
    return SSHMUX_EINVAL;
  bf_init(&c);
  bf_expand(&c, NULL, 0, key, keylen);
  bf_encipher(&c, &l, &r);
  sshmux__store_be32(out, l);
  sshmux__store_be32(out + 4, r);
  sshmux__wipe(&c, sizeof(c));
  return 0;
}

static void bcrypt_hash(const uint8_t sha2pass[64], const uint8_t sha2salt[64],
                        uint8_t out[BCRYPT_HASHSIZE]) {
  static const char magic[] = "OxychromaticBlowfishSwatDynamite";
  uint32_t cdata[BCRYPT_WORDS];
  size_t j = 0;
  bf_t c;

  bf_init(&c);
  bf_expand(&c, sha2salt, 64, sha2pass, 64);
  for (int i = 0; i < 64; i++) {
    bf_expand(&c, NULL, 0, sha2salt, 64);
    bf_expand(&c, NULL, 0, sha2pass, 64);
  }
  for (int i = 0; i < BCRYPT_WORDS; i++)
    cdata[i] = stream_word((const uint8_t *)magic, BCRYPT_HASHSIZE, &j);
  for (int i = 0; i < 64; i++)
    for (int w = 0; w < BCRYPT_WORDS; w += 2)
      bf_encipher(&c, &cdata[w], &cdata[w + 1]);
  /* Output words little-endian, as OpenBSD's bcrypt_hash does. */
  for (int i = 0; i < BCRYPT_WORDS; i++) {
    out[4 * i + 3] = (uint8_t)(cdata[i] >> 24);
    out[4 * i + 2] = (uint8_t)(cdata[i] >> 16);
    out[4 * i + 1] = (uint8_t)(cdata[i] >> 8);
    out[4 * i + 0] = (uint8_t)cdata[i];
  }
  sshmux__wipe(cdata, sizeof(cdata));
  sshmux__wipe(&c, sizeof(c));
}

int sshmux__bcrypt_pbkdf(const char *pass, size_t passlen, const uint8_t *salt,
                         size_t saltlen, uint8_t *key, size_t keylen,
                         unsigned rounds) {
  uint8_t sha2pass[64], sha2salt[64], out[BCRYPT_HASHSIZE],
      tmp[BCRYPT_HASHSIZE];
  uint8_t *countsalt;
  size_t stride, amt, left = keylen;
  int r = 0;

  if (rounds < 1 || passlen == 0 || saltlen == 0 || saltlen > 1024 ||
      keylen == 0 || keylen > BCRYPT_HASHSIZE * BCRYPT_HASHSIZE)
    return SSHMUX_EINVAL;
  countsalt = sshmux__malloc(saltlen + 4);
  if (countsalt == NULL)
    return SSHMUX_ENOMEM;
  memcpy(countsalt, salt, saltlen);
  stride = (keylen + BCRYPT_HASHSIZE - 1) / BCRYPT_HASHSIZE;
  amt = (keylen + stride - 1) / stride;
  if ((r = sshmux__hash(SSHMUX__SHA512, pass, passlen, sha2pass)) != 0)
    goto out;
  for (uint32_t count = 1; left > 0; count++) {
    size_t i;
    sshmux__store_be32(countsalt + saltlen, count);
    if ((r = sshmux__hash(SSHMUX__SHA512, countsalt, saltlen + 4, sha2salt)) !=
        0)
      goto out;
    bcrypt_hash(sha2pass, sha2salt, tmp);
    memcpy(out, tmp, sizeof(out));
    for (unsigned round = 1; round < rounds; round++) {
      if ((r = sshmux__hash(SSHMUX__SHA512, tmp, sizeof(tmp), sha2salt)) != 0)
        goto out;
      bcrypt_hash(sha2pass, sha2salt, tmp);
      for (size_t b = 0; b < sizeof(out); b++)
        out[b] ^= tmp[b];
    }
    if (amt > left)
      amt = left;
    for (i = 0; i < amt; i++) {
      size_t dest = i * stride + (count - 1);
      if (dest >= keylen)
        break;
      key[dest] = out[i];
    }
    left -= i;
  }
out:
  sshmux__wipe(sha2pass, sizeof(sha2pass));
  sshmux__wipe(sha2salt, sizeof(sha2salt));
  sshmux__wipe(out, sizeof(out));
  sshmux__wipe(tmp, sizeof(tmp));
  sshmux__free_secret(countsalt, saltlen + 4);
  return r;
}
