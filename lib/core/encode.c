/* encode.c -- base64 (RFC 4648, standard alphabet).  Used by key files,
 * authorized_keys, known_hosts and prompts (the SHA256 fingerprint built on
 * it lives in crypto/hash.c); the decoder is strict (no white space, bad
 * characters refused) and never writes past the caller's capacity. */
#include <string.h>

#include "core/core.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sshmux__base64_encode(const uint8_t *in, size_t n, char *out) {
  size_t i, o = 0;

  for (i = 0; i + 2 < n; i += 3) {
    uint32_t v =
        ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
    out[o++] = b64[(v >> 18) & 63];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = b64[(v >> 6) & 63];
    out[o++] = b64[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)in[i + 1] << 8;
    out[o++] = b64[(v >> 18) & 63];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  return o;
}

static int b64val(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

int sshmux__base64_decode(const char *in, size_t n, uint8_t *out, size_t outsz,
                          size_t *outlen) {
  uint32_t acc = 0;
  size_t i, o = 0, pad = 0;
  int bits = 0;

  while (n > 0 && in[n - 1] == '=' && pad < 2) {
    n--;
    pad++;
  }
  if (pad && (n + pad) % 4 != 0)
    return SSHMUX_EBADFORMAT;
  if (n % 4 == 1)
    return SSHMUX_EBADFORMAT;
  for (i = 0; i < n; i++) {
    int v = b64val(in[i]);
    if (v < 0)
      return SSHMUX_EBADFORMAT;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o >= outsz)
        return SSHMUX_ETOOLONG;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  /* Leftover bits must be zero (canonical encoding). */
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return SSHMUX_EBADFORMAT;
  *outlen = o;
  return 0;
}
