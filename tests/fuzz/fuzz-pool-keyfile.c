/* fuzz-pool-keyfile.c -- libFuzzer target for sshmux__key_text_encrypted()
 * (lib/pool/auth.c), which reads a user's private key file (OpenSSH
 * "openssh-key-v1" or PEM, encrypted or not) to decide whether to ask for
 * its passphrase before libssh2 loads it.  Byte 0 picks the form: odd means
 * the rest is the file's text as is; even means the rest is the binary
 * OpenSSH container, base64-encoded and wrapped here in the PEM markers so
 * the fuzzer works on the structure.  The answer must be 0 or 1, must be 1
 * when the container names a cipher other than "none", and must not change
 * when the text is followed by more lines after its END marker.  The seeds
 * are ssh-keygen keys made for the corpus: plain and passphrase-protected
 * OpenSSH keys of each type, PEM RSA/EC keys, an encrypted PEM key and an
 * encrypted PKCS#8 one.  Build and run: make fuzz-run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/pool-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
static const char end[] = "\n-----END OPENSSH PRIVATE KEY-----\n";
static const char tail[] = "ENCRYPTED trailing junk\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text;
  size_t len;
  int r, cipher_named = 0;

  if (size == 0 || size > 16384)
    return 0;
  text = malloc(sizeof(begin) + 4 * (size / 3 + 1) + 2 * (size / 64 + 1) +
                sizeof(end) + sizeof(tail));
  if (text == NULL)
    return 0;
  if (data[0] & 1) {
    memcpy(text, data + 1, size - 1);
    len = size - 1;
  } else {
    const uint8_t *raw = data + 1;
    size_t rl = size - 1;
    memcpy(text, begin, sizeof(begin) - 1);
    len = sizeof(begin) - 1;
    /* 70 columns, as ssh-keygen writes it (line breaks land anywhere in
     * the base64 groups the parser joins again). */
    for (size_t i = 0; i < rl; i += 51) {
      size_t chunk = rl - i < 51 ? rl - i : 51;
      len += sshmux__base64_encode(raw + i, chunk, text + len);
      text[len++] = '\n';
    }
    memcpy(text + len, end + 1, sizeof(end) - 1);
    len += sizeof(end) - 2;
    /* "openssh-key-v1\0" then a cipher name that is not "none". */
    if (rl > 19 && memcmp(raw, "openssh-key-v1", 15) == 0) {
      uint32_t cl = (uint32_t)raw[15] << 24 | (uint32_t)raw[16] << 16 |
                    (uint32_t)raw[17] << 8 | raw[18];
      if (cl <= 64 && 19 + (size_t)cl <= rl && rl <= 3000 &&
          !(cl == 4 && memcmp(raw + 19, "none", 4) == 0))
        cipher_named = 1;
    }
  }
  r = sshmux__key_text_encrypted(text, len);
  if (r != 0 && r != 1)
    abort();
  if (cipher_named && r != 1) {
    fprintf(stderr, "an OpenSSH key naming a cipher was not seen as "
                    "encrypted\n");
    abort();
  }
  if (!(data[0] & 1)) {
    /* Lines after END are not part of the key. */
    memcpy(text + len, tail, sizeof(tail) - 1);
    if (sshmux__key_text_encrypted(text, len + sizeof(tail) - 1) != r) {
      fprintf(stderr, "text after the END marker changed the answer\n");
      abort();
    }
  }
  free(text);
  return 0;
}
