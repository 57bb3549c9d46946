/* fuzz-crypto-userkey.c -- libFuzzer target for sshmux__userkey_parse(),
 * the parser of the user's own private key files (OpenSSH format, and the
 * PEM / PKCS#8 family through mbedTLS).  As in fuzz-crypto-hostkey.c the
 * first byte picks the form: odd = the rest is the file's text; even = the
 * rest is the binary "openssh-key-v1" container, wrapped here in base64
 * and the PEM markers.  No passphrase is given, so an encrypted file stops
 * before bcrypt (its decrypted section is parsed by the same code as an
 * unencrypted one).  A key that parses must give its public blob and a
 * signature that verifies.  Seeds in tests/fuzz/corpus/fuzz-crypto-userkey/
 * are throwaway ssh-keygen keys. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "keyfile-input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sshmux__userkey_t *k = NULL;
  char *text;
  size_t len;
  int r;

  text = keyfile_input(data, size, &len);
  if (text == NULL)
    return 0;
  (void)sshmux__userkey_needs_passphrase(text, len);
  r = sshmux__userkey_parse(&k, text, len, NULL);
  if (r == 0) {
    const char *type = sshmux__userkey_type(k);
    const char *alg = strcmp(type, "ssh-rsa") == 0 ? "rsa-sha2-256" : type;
    sshmux__buf_t blob, sig, wrapped;
    sshmux__buf_init(&blob, 4096);
    sshmux__buf_init(&sig, 4096);
    sshmux__buf_init(&wrapped, 8192);
    if (sshmux__userkey_public_blob(k, &blob) != 0 ||
        sshmux__userkey_sign(k, alg, (const uint8_t *)"H", 1, &sig) != 0 ||
        sshmux__buf_put_cstring(&wrapped, alg) != 0 ||
        sshmux__buf_put_string(&wrapped, sig.data, sig.len) != 0 ||
        sshmux__pubkey_verify(alg, blob.data, blob.len, wrapped.data,
                              wrapped.len, (const uint8_t *)"H", 1) != 0) {
      fprintf(stderr, "a parsed user key does not sign and verify\n");
      abort();
    }
    sshmux__buf_free(&blob);
    sshmux__buf_free(&sig);
    sshmux__buf_free(&wrapped);
    sshmux__userkey_free(k);
  } else if (k != NULL) {
    fprintf(stderr, "failed parse left an object behind\n");
    abort();
  }
  free(text);
  return 0;
}
