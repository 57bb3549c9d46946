/* fuzz-crypto-userkey.c -- libFuzzer target for the user private key
 * parser, sshmux__userkey_parse(), and sshmux__userkey_needs_passphrase()
 * (lib/crypto/userkey.c): what the pool reads from a user's identity files
 * -- OpenSSH "openssh-key-v1" (plain, or bcrypt + AES), PEM PKCS#1 / SEC1
 * (optionally with OpenSSL's encryption header), PKCS#8 plain or encrypted.
 * Byte 0: bit 0 set, the rest is the file's text as is; clear, the rest is
 * the binary OpenSSH container, base64-encoded and wrapped in the markers
 * here so the fuzzer works on the structure.  Bit 1: parse with the seeds'
 * passphrase ("pass phrase") -- only when the container's bcrypt rounds are
 * at most 4 (the seeds use 1: `ssh-keygen -a 1`), so that the fuzzer does
 * not spend its time in the KDF; else no passphrase.
 * Oracle: a key that parses gives its public blob, and signs data that
 * sshmux__pubkey_verify() accepts for it; a file needs_passphrase says is
 * protected never parses without a passphrase; one that parses without a
 * passphrase is not said to need one.  The seeds are ssh-keygen keys made
 * for the corpus (each type, plain and protected, OpenSSH/PEM/PKCS#8).
 * FUZZ_LOG=1 in the environment prints each key that parses.
 * Build and run: make fuzz-run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
static const char end[] = "-----END OPENSSH PRIVATE KEY-----\n";

/* The bcrypt rounds of a binary container, or 0 when it names no bcrypt
 * KDF (or is not one): "openssh-key-v1\0", string cipher, string kdfname,
 * string kdfoptions = (string salt, uint32 rounds). */
static uint32_t bcrypt_rounds(const uint8_t *raw, size_t n) {
  sshmux__buf_t b, o;
  const uint8_t *s, *kdf, *opt;
  size_t sl, kl, ol;
  uint32_t rounds;

  if (n < 15 || memcmp(raw, "openssh-key-v1", 15) != 0)
    return 0;
  sshmux__buf_view(&b, raw + 15, n - 15);
  if (sshmux__buf_get_string(&b, 1024, &s, &sl) != 0 ||
      sshmux__buf_get_string(&b, 1024, &kdf, &kl) != 0 ||
      sshmux__buf_get_string(&b, 4096, &opt, &ol) != 0 || kl != 6 ||
      memcmp(kdf, "bcrypt", 6) != 0)
    return 0;
  sshmux__buf_view(&o, opt, ol);
  if (sshmux__buf_get_string(&o, 4096, &s, &sl) != 0 ||
      sshmux__buf_get_u32(&o, &rounds) != 0)
    return UINT32_MAX;
  return rounds;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sshmux__userkey_t *k = NULL;
  const char *pass = NULL;
  char *text;
  size_t len = 0;
  int r, need;

  if (size == 0 || size > 16384)
    return 0;
  text = malloc(sizeof(begin) + 4 * (size / 3 + 1) + 2 * (size / 48 + 1) +
                sizeof(end));
  if (text == NULL)
    return 0;
  if (data[0] & 1) {
    memcpy(text, data + 1, size - 1);
    len = size - 1;
    /* PEM: PBKDF2's count is in the DER; the text seeds use small ones. */
    if (data[0] & 2)
      pass = "pass phrase";
  } else {
    const uint8_t *raw = data + 1;
    size_t rl = size - 1;
    uint32_t rounds = bcrypt_rounds(raw, rl);
    memcpy(text, begin, sizeof(begin) - 1);
    len = sizeof(begin) - 1;
    for (size_t i = 0; i < rl; i += 48) {
      size_t chunk = rl - i < 48 ? rl - i : 48;
      len += sshmux__base64_encode(raw + i, chunk, text + len);
      text[len++] = '\n';
    }
    memcpy(text + len, end, sizeof(end) - 1);
    len += sizeof(end) - 1;
    if ((data[0] & 2) && rounds <= 4)
      pass = "pass phrase";
  }
  need = sshmux__userkey_needs_passphrase(text, len);
  r = sshmux__userkey_parse(&k, text, len, pass);
  if (r == 0) {
    sshmux__buf_t blob, sig, full;
    const char *type = sshmux__userkey_type(k);
    const char *alg = strcmp(type, "ssh-rsa") == 0 ? "rsa-sha2-256" : type;
    if (pass == NULL && need == 1) {
      fprintf(stderr, "a key said to need a passphrase parsed without one\n");
      abort();
    }
    sshmux__buf_init(&blob, 4096);
    sshmux__buf_init(&sig, 4096);
    sshmux__buf_init(&full, 4096);
    if (sshmux__userkey_public_blob(k, &blob) != 0 ||
        sshmux__userkey_sign(k, alg, (const uint8_t *)"data", 4, &sig) != 0 ||
        sshmux__buf_put_cstring(&full, alg) != 0 ||
        sshmux__buf_put_string(&full, sig.data, sig.len) != 0) {
      fprintf(stderr, "a parsed %s key gives no blob or signature\n", type);
      abort();
    }
    /* The verifier refuses RSA below 2048 bits (the parser takes 1024, as
     * OpenSSH does): then "unsupported", else it must verify. */
    r = sshmux__pubkey_verify(alg, blob.data, blob.len, full.data, full.len,
                              (const uint8_t *)"data", 4);
    if (r != 0 && !(r == SSHMUX_EUNSUPPORTED && strcmp(type, "ssh-rsa") == 0)) {
      fprintf(stderr, "a parsed %s key does not verify: %d\n", type, r);
      abort();
    }
    if (getenv("FUZZ_LOG") != NULL)
      fprintf(stderr, "parsed %s key%s\n", type,
              pass ? " with passphrase" : "");
    sshmux__buf_free(&blob);
    sshmux__buf_free(&sig);
    sshmux__buf_free(&full);
    sshmux__userkey_free(k);
  } else if (k != NULL) {
    fprintf(stderr, "failed parse left an object behind\n");
    abort();
  }
  free(text);
  return 0;
}
