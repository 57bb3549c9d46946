/* fuzz-crypto-userkey.c -- libFuzzer target for sshmux__userkey_parse(),
 * the parser of the user's own private key files (OpenSSH format, and the
 * PEM / PKCS#8 family through mbedTLS).  As in fuzz-crypto-hostkey.c the
 * first byte picks the form: odd = the rest is the file's text; even = the
 * rest is the binary "openssh-key-v1" container, wrapped here in base64
 * and the PEM markers.  No passphrase is given, so an encrypted file stops
 * before bcrypt (its decrypted section is parsed by the same code as an
 * unencrypted one).  A key that parses must give its public blob and a
 * signature that verifies (RSA below 2048 bits, which our verifier refuses
 * by policy, must still sign).  sshmux__userkey_needs_passphrase() (which
 * decides whether a passphrase is asked at all) must answer -error, 0 or
 * 1, 1 when the container names a cipher other than "none", and the same
 * when text follows the END marker.  Seeds in
 * tests/fuzz/corpus/fuzz-crypto-userkey/ are throwaway ssh-keygen keys:
 * plain and passphrase-protected, OpenSSH, PEM and PKCS#8. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "keyfile-input.h"

static void check(const uint8_t *data, size_t size, const char *text,
                  size_t len) {
  sshmux__userkey_t *k = NULL;
  int r;

  r = sshmux__userkey_needs_passphrase(text, len);
  if (r > 1)
    abort();
  if (!(data[0] & 1)) {
    static const char tail[] = "Proc-Type: 4,ENCRYPTED\n";
    const uint8_t *raw = data + 1;
    size_t rl = size - 1;
    char *more;
    /* "openssh-key-v1\0" then a cipher name that is not "none". */
    if (rl > 19 && memcmp(raw, "openssh-key-v1", 15) == 0) {
      uint32_t cl = (uint32_t)raw[15] << 24 | (uint32_t)raw[16] << 16 |
                    (uint32_t)raw[17] << 8 | raw[18];
      if (cl <= 64 && 19 + (size_t)cl <= rl &&
          !(cl == 4 && memcmp(raw + 19, "none", 4) == 0) && r != 1) {
        fprintf(stderr, "an OpenSSH key naming a cipher was not seen as "
                        "encrypted\n");
        abort();
      }
    }
    /* Lines after END are not part of the key. */
    more = malloc(len + sizeof(tail));
    if (more != NULL) {
      memcpy(more, text, len);
      memcpy(more + len, tail, sizeof(tail));
      if (sshmux__userkey_needs_passphrase(more, len + sizeof(tail) - 1) != r) {
        fprintf(stderr, "text after the END marker changed the answer\n");
        abort();
      }
      free(more);
    }
  }
  r = sshmux__userkey_parse(&k, text, len, NULL);
  if (r == 0) {
    const char *type = sshmux__userkey_type(k);
    const char *alg = strcmp(type, "ssh-rsa") == 0 ? "rsa-sha2-256" : type;
    sshmux__buf_t blob, sig, wrapped;
    int v = 0;
    sshmux__buf_init(&blob, 4096);
    sshmux__buf_init(&sig, 4096);
    sshmux__buf_init(&wrapped, 8192);
    if (sshmux__userkey_public_blob(k, &blob) != 0 ||
        sshmux__userkey_sign(k, alg, (const uint8_t *)"H", 1, &sig) != 0 ||
        sshmux__buf_put_cstring(&wrapped, alg) != 0 ||
        sshmux__buf_put_string(&wrapped, sig.data, sig.len) != 0 ||
        (v = sshmux__pubkey_verify(alg, blob.data, blob.len, wrapped.data,
                                   wrapped.len, (const uint8_t *)"H", 1)) !=
            0) {
      /* The verifier's policy refuses RSA below 2048 bits; such a key
       * must still have signed. */
      if (v == SSHMUX_EUNSUPPORTED && sig.len > 0 && sig.len < 256) {
        sshmux__buf_free(&blob);
        sshmux__buf_free(&sig);
        sshmux__buf_free(&wrapped);
        sshmux__userkey_free(k);
        return;
      }
      fprintf(stderr, "a parsed user key does not sign and verify\n");
      abort();
    }
    sshmux__buf_free(&blob);
    sshmux__buf_free(&sig);
    sshmux__buf_free(&wrapped);
    sshmux__userkey_free(k);
  } else
    keyfile_no_leftover(k);
}

KEYFILE_FUZZ_TARGET(check)
