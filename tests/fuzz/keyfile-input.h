/* keyfile-input.h -- the input convention of the private-key fuzz targets
 * (fuzz-crypto-hostkey.c, fuzz-crypto-userkey.c): the first byte picks the
 * form.  Odd: the rest is the file's text as is.  Even: the rest is the
 * binary "openssh-key-v1" container, base64-encoded here and wrapped in
 * the PEM markers, so the fuzzer spends its effort on the structure rather
 * than on base64.  Returns a malloc'd text (NULL for an empty or oversized
 * input, or no memory) and its length. */
#ifndef SSHMUX_FUZZ_KEYFILE_INPUT_H
#define SSHMUX_FUZZ_KEYFILE_INPUT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

static char *keyfile_input(const uint8_t *data, size_t size, size_t *len) {
  static const char begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
  static const char end[] = "\n-----END OPENSSH PRIVATE KEY-----\n";
  char *text;

  if (size == 0 || size > 16384)
    return NULL;
  if (data[0] & 1) {
    text = malloc(size);
    if (text == NULL)
      return NULL;
    memcpy(text, data + 1, size - 1);
    *len = size - 1;
  } else {
    size_t b64 = 4 * ((size - 1 + 2) / 3);
    text = malloc(sizeof(begin) + b64 + sizeof(end) + 1);
    if (text == NULL)
      return NULL;
    memcpy(text, begin, sizeof(begin) - 1);
    *len = sizeof(begin) - 1;
    *len += sshmux__base64_encode(data + 1, size - 1, text + *len);
    memcpy(text + *len, end, sizeof(end));
    *len += sizeof(end) - 1;
  }
  return text;
}

/* Aborts if a parse that failed left an object behind (obj not NULL). */
static inline void keyfile_no_leftover(const void *obj) {
  if (obj != NULL) {
    fprintf(stderr, "failed parse left an object behind\n");
    abort();
  }
}

/* A key-file target's input: check(data, size, text, len) on the text
 * keyfile_input makes of it (nothing for an empty or oversized one). */
static inline int keyfile_run(const uint8_t *data, size_t size,
                              void (*check)(const uint8_t *data, size_t size,
                                            const char *text, size_t len)) {
  size_t len;
  char *text = keyfile_input(data, size, &len);

  if (text != NULL) {
    check(data, size, text, len);
    free(text);
  }
  return 0;
}

/* The libFuzzer entry point of a key-file target: keyfile_run(check). */
#define KEYFILE_FUZZ_TARGET(check)                                             \
  int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                \
  int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {               \
    return keyfile_run(data, size, check);                                     \
  }

#endif
