/* fuzz-crypto-hostkey.c -- libFuzzer target for sshmux__hostkey_parse(), the
 * OpenSSH private key file parser behind sshmux__hostkey_load().  The first
 * input byte picks the form: odd means the rest is the file's text as is;
 * even means the rest is the binary "openssh-key-v1" container, which the
 * target base64-encodes and wraps in the PEM markers itself so the fuzzer
 * spends its effort on the structure rather than on base64.  A key that
 * parses must also produce its public blob and sign.  The seeds in
 * tests/fuzz/corpus/fuzz-crypto-hostkey/ are throwaway keys made for the corpus
 * (by our generator and by ssh-keygen).  Build and run: make fuzz-run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "keyfile-input.h"

static void check(const uint8_t *data, size_t size, const char *text,
                  size_t len) {
  sshmux__hostkey_t *hk = NULL;

  (void)data, (void)size;
  if (sshmux__hostkey_parse(&hk, text, len) == 0) {
    sshmux__buf_t blob, sig;
    sshmux__buf_init(&blob, 4096);
    sshmux__buf_init(&sig, 4096);
    if (sshmux__hostkey_public_blob(hk, &blob) != 0 ||
        sshmux__hostkey_sign(hk, (const uint8_t *)"H", 1, &sig) != 0 ||
        sshmux__pubkey_verify(sshmux__hostkey_alg(hk), blob.data, blob.len,
                              sig.data, sig.len, (const uint8_t *)"H",
                              1) != 0) {
      fprintf(stderr, "a parsed host key does not sign and verify\n");
      abort();
    }
    sshmux__buf_free(&blob);
    sshmux__buf_free(&sig);
    sshmux__hostkey_free(hk);
  } else
    keyfile_no_leftover(hk);
}

KEYFILE_FUZZ_TARGET(check)
