/* fuzz-crypto-pubkey.c -- libFuzzer target for sshmux__pubkey_verify() and
 * sshmux__pubkey_blob_type() with arbitrary blobs.  Input layout: byte 0
 * picks the algorithm name the request claims (from a table that includes
 * names we refuse), then uint16 key length + key blob, uint16 signature
 * length + signature blob, and the rest is the signed data.  Whatever the
 * bytes, the answer must be one of the documented codes; and a blob must be
 * fully consumed, so the result may not change when a byte is appended to
 * it.  Build and run: make fuzz-run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const algs[] = {"ssh-ed25519",
                                   "ecdsa-sha2-nistp256",
                                   "ecdsa-sha2-nistp384",
                                   "ecdsa-sha2-nistp521",
                                   "rsa-sha2-256",
                                   "rsa-sha2-512",
                                   "ssh-rsa",
                                   "ssh-ed25519-cert-v01@openssh.com",
                                   "sk-ssh-ed25519@openssh.com",
                                   "ssh-dss"};

static int documented(int r) {
  return r == 0 || r == SSHMUX_EAUTH || r == SSHMUX_EBADFORMAT ||
         r == SSHMUX_EUNSUPPORTED || r == SSHMUX_ENOMEM;
}

/* A uint16 length and that many bytes at *p. */
static int take(const uint8_t *data, size_t size, size_t *p,
                const uint8_t **out, size_t *n) {
  if (size - *p < 2)
    return -1;
  *n = (size_t)data[*p] << 8 | data[*p + 1];
  *p += 2;
  if (*n > size - *p)
    return -1;
  *out = data + *p;
  *p += *n;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *alg;
  const uint8_t *key, *sig, *msg;
  size_t kl, sl, ml, p = 0;
  char type[80];
  uint8_t *key2;
  int r, r2;

  if (size < 5)
    return 0;
  alg = algs[data[p++] % (sizeof(algs) / sizeof(algs[0]))];
  if (take(data, size, &p, &key, &kl) != 0 ||
      take(data, size, &p, &sig, &sl) != 0)
    return 0;
  msg = data + p;
  ml = size - p;

  r = sshmux__pubkey_verify(alg, key, kl, sig, sl, msg, ml);
  if (!documented(r)) {
    fprintf(stderr, "pubkey_verify returned undocumented %d\n", r);
    abort();
  }
  /* A trailing byte after the key blob can never make it verify. */
  key2 = malloc(kl + 1);
  if (key2 != NULL) {
    memcpy(key2, key, kl);
    key2[kl] = 0;
    r2 = sshmux__pubkey_verify(alg, key2, kl + 1, sig, sl, msg, ml);
    if (r2 == 0) {
      fprintf(stderr, "a key blob with trailing garbage verified\n");
      abort();
    }
    free(key2);
  }
  r = sshmux__pubkey_blob_type(key, kl, type, sizeof(type));
  if (r == 0 && strlen(type) == 0)
    abort();
  return 0;
}
