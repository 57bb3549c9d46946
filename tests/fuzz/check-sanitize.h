/* check-sanitize.h -- the invariant every output of sshmux__sanitize()
 * must satisfy, shared by the unit tests (tests/test-core-sanitize.c) and the
 * libFuzzer target (tests/fuzz/fuzz-core-sanitize.c).  Written independently of
 * lib/core/sanitize.c's decoder on purpose: a bug there must not hide here. */
#ifndef SSHMUX_CHECK_SANITIZE_H
#define SSHMUX_CHECK_SANITIZE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* NULL when out is acceptable, else what is wrong with it. */
static inline const char *check_sanitized(const char *out, int keep_newline,
                                          size_t max) {
  const unsigned char *s = (const unsigned char *)out;
  size_t n = strlen(out), i = 0;

  if (n > max)
    return "longer than the cap";
  while (i < n) {
    uint32_t cp;
    size_t len, k;
    unsigned char b = s[i];

    if (b < 0x80) {
      cp = b;
      len = 1;
    } else if ((b & 0xe0) == 0xc0) {
      cp = b & 0x1f;
      len = 2;
    } else if ((b & 0xf0) == 0xe0) {
      cp = b & 0x0f;
      len = 3;
    } else if ((b & 0xf8) == 0xf0) {
      cp = b & 0x07;
      len = 4;
    } else {
      return "invalid UTF-8 lead byte";
    }
    if (i + len > n)
      return "truncated UTF-8 sequence";
    for (k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return "bad UTF-8 continuation byte";
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && cp < 0x10000))
      return "overlong UTF-8";
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return "not a Unicode scalar value";
    if (cp < 0x20 && !(cp == '\n' && keep_newline))
      return "C0 control character";
    if (cp == 0x7f)
      return "DEL";
    if (cp >= 0x80 && cp <= 0x9f)
      return "C1 control character";
    i += len;
  }
  return NULL;
}

#endif
