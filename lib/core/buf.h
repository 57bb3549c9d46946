/* buf.h -- the bounds-checked SSH wire buffer (RFC 4251 §5 types).
 *
 * All parsing of bytes from the network goes through these accessors: they
 * return an error instead of reading past the end, and they leave the read
 * cursor where it was when they fail, so a caller can report "truncated"
 * without guessing how far it got.  Writers grow the buffer up to the cap
 * fixed at creation (never beyond), so a peer cannot make us allocate without
 * bound.  A buffer marked secret is wiped whenever its storage is released or
 * moved.
 *
 * A buffer is either owned (storage from sshmux__malloc, writable, growable)
 * or a read-only view over someone else's bytes (sshmux__buf_view). */
#ifndef SSHMUX_BUF_H
#define SSHMUX_BUF_H

#include <stddef.h>
#include <stdint.h>

/* Largest string we accept from the wire anywhere (a packet is capped lower
 * by the transport; this bounds helpers used outside it). */
#define SSHMUX__BUF_MAX_STRING (256u * 1024u)

typedef struct {
  uint8_t *data; /* storage; NULL until the first write of an owned buffer */
  size_t len;    /* bytes of valid data, 0 <= pos <= len <= cap */
  size_t pos;    /* read cursor */
  size_t cap;    /* bytes allocated (owned) or len (view) */
  size_t max;    /* growth cap for owned buffers */
  unsigned owned : 1;
  unsigned secret : 1; /* wipe on free/realloc/reset */
} sshmux__buf_t;

/* An empty owned buffer that may grow to max bytes. */
void sshmux__buf_init(sshmux__buf_t *b, size_t max);
/* A read-only view over data[0..len). */
void sshmux__buf_view(sshmux__buf_t *b, const void *data, size_t len);
/* Mark as secret: its bytes are wiped whenever they are released. */
void sshmux__buf_set_secret(sshmux__buf_t *b);
/* Release storage (wiping if secret); the buffer is left empty and reusable. */
void sshmux__buf_free(sshmux__buf_t *b);
/* Forget the contents but keep the storage (wiped if secret). */
void sshmux__buf_reset(sshmux__buf_t *b);
/* Drop the bytes already read, moving the rest to the front. */
void sshmux__buf_compact(sshmux__buf_t *b);

static inline size_t sshmux__buf_remaining(const sshmux__buf_t *b) {
  return b->len - b->pos;
}
static inline const uint8_t *sshmux__buf_rptr(const sshmux__buf_t *b) {
  return b->data + b->pos;
}

/* Readers: 0 on success, SSHMUX_ETRUNCATED if the data ends early,
 * SSHMUX_ETOOLONG if a length exceeds the cap given, SSHMUX_EBADFORMAT for a
 * value that is malformed (boolean other than 0/1 is accepted as true, per
 * RFC 4251; mpint with a redundant leading byte is refused).  On failure the
 * cursor does not move and outputs are untouched. */
int sshmux__buf_get_u8(sshmux__buf_t *b, uint8_t *v);
int sshmux__buf_get_bool(sshmux__buf_t *b, int *v);
int sshmux__buf_get_u32(sshmux__buf_t *b, uint32_t *v);
int sshmux__buf_get_u64(sshmux__buf_t *b, uint64_t *v);
/* n raw bytes; *p points into the buffer (valid until it is modified). */
int sshmux__buf_get_bytes(sshmux__buf_t *b, size_t n, const uint8_t **p);
/* An SSH string of at most maxlen bytes; *p points into the buffer. */
int sshmux__buf_get_string(sshmux__buf_t *b, size_t maxlen, const uint8_t **p,
                           size_t *n);
/* An SSH string copied into a fresh NUL-terminated allocation; refuses an
 * embedded NUL (SSHMUX_EBADFORMAT).  The caller frees *s. */
int sshmux__buf_get_cstring(sshmux__buf_t *b, size_t maxlen, char **s);
/* An mpint: *p and *n are the magnitude bytes without the sign-padding zero.
 * Negative values are refused (SSHMUX_EBADFORMAT); zero yields n == 0. */
int sshmux__buf_get_mpint(sshmux__buf_t *b, size_t maxlen, const uint8_t **p,
                          size_t *n);
/* A name-list: like a string, but every byte must be printable ASCII other
 * than space, and names (comma-separated) non-empty. */
int sshmux__buf_get_namelist(sshmux__buf_t *b, size_t maxlen, const uint8_t **p,
                             size_t *n);

/* Writers (owned buffers only): 0, SSHMUX_ETOOLONG when the cap would be
 * exceeded, SSHMUX_ENOMEM, SSHMUX_EINVAL on a view.  On failure nothing is
 * appended. */
int sshmux__buf_reserve(sshmux__buf_t *b, size_t n);
/* Append n bytes of space and return a pointer to it in *p. */
int sshmux__buf_put_space(sshmux__buf_t *b, size_t n, uint8_t **p);
int sshmux__buf_put_u8(sshmux__buf_t *b, uint8_t v);
int sshmux__buf_put_bool(sshmux__buf_t *b, int v);
int sshmux__buf_put_u32(sshmux__buf_t *b, uint32_t v);
int sshmux__buf_put_u64(sshmux__buf_t *b, uint64_t v);
int sshmux__buf_put_bytes(sshmux__buf_t *b, const void *p, size_t n);
int sshmux__buf_put_string(sshmux__buf_t *b, const void *p, size_t n);
int sshmux__buf_put_cstring(sshmux__buf_t *b, const char *s);
/* An mpint from an unsigned big-endian magnitude: leading zero bytes are
 * stripped and a zero byte prepended when the top bit is set. */
int sshmux__buf_put_mpint(sshmux__buf_t *b, const uint8_t *mag, size_t n);

/* Does the name-list nl[0..n) contain name exactly? */
int sshmux__namelist_has(const uint8_t *nl, size_t n, const char *name);
/* The first name of client_list that also appears in server_list (RFC 4253
 * §7.1 negotiation); copies it into out (size outsz).  SSHMUX_ENOALGO if
 * none, SSHMUX_ETOOLONG if out is too small. */
int sshmux__namelist_negotiate(const uint8_t *client_list, size_t cn,
                               const char *server_list, char *out,
                               size_t outsz);

/* Big-endian helpers for fixed-size fields outside a buffer. */
static inline uint32_t sshmux__load_be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static inline void sshmux__store_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static inline uint64_t sshmux__load_be64(const uint8_t *p) {
  return ((uint64_t)sshmux__load_be32(p) << 32) | sshmux__load_be32(p + 4);
}
static inline void sshmux__store_be64(uint8_t *p, uint64_t v) {
  sshmux__store_be32(p, (uint32_t)(v >> 32));
  sshmux__store_be32(p + 4, (uint32_t)v);
}

#endif
