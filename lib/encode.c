/* encode.c -- base64 (RFC 4648, standard alphabet) and the OpenSSH SHA256
 * fingerprint.  Used by key files, authorized_keys, known_hosts and
 * prompts; the decoder is strict (no white space, bad characters refused)
 * and never writes past the caller's capacity. */
#include <string.h>

#include <sodium.h>

#include "internal.h"
#include "ssh-crypto.h"

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

int sshmux__fingerprint_sha256(const uint8_t *blob, size_t n, char *out,
                               size_t outsz) {
  uint8_t h[crypto_hash_sha256_BYTES];
  char enc[48];
  size_t len;

  if (outsz < 7 + 43 + 1)
    return SSHMUX_ETOOLONG;
  crypto_hash_sha256(h, blob, n);
  len = sshmux__base64_encode(h, sizeof(h), enc);
  while (len > 0 && enc[len - 1] == '=')
    enc[--len] = '\0';
  memcpy(out, "SHA256:", 7);
  memcpy(out + 7, enc, len + 1);
  return 0;
}
