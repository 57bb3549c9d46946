/* alloc.c -- the replaceable allocator and the secret-handling helpers.
 *
 * Every allocation the library makes goes through the four function
 * pointers below, including libssh2's (through the sshmux__ssh2_* trio), so
 * an embedder's allocator sees the whole footprint.  The pointers are global
 * by design, like uv_replace_allocator(): they are set once before use. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/core.h"

static struct {
  sshmux_malloc_func malloc_fn;
  sshmux_realloc_func realloc_fn;
  sshmux_calloc_func calloc_fn;
  sshmux_free_func free_fn;
} allocator = {malloc, realloc, calloc, free};

int sshmux_replace_allocator(sshmux_malloc_func malloc_func,
                             sshmux_realloc_func realloc_func,
                             sshmux_calloc_func calloc_func,
                             sshmux_free_func free_func) {
  if (malloc_func == NULL || realloc_func == NULL || calloc_func == NULL ||
      free_func == NULL)
    return SSHMUX_EINVAL;
  allocator.malloc_fn = malloc_func;
  allocator.realloc_fn = realloc_func;
  allocator.calloc_fn = calloc_func;
  allocator.free_fn = free_func;
  return 0;
}

void *sshmux__malloc(size_t size) {
  /* malloc(0) may return NULL; callers treat NULL as failure, so ask for 1. */
  return allocator.malloc_fn(size ? size : 1);
}

void *sshmux__calloc(size_t count, size_t size) {
  if (count == 0 || size == 0)
    return allocator.calloc_fn(1, 1);
  return allocator.calloc_fn(count, size);
}

void *sshmux__realloc(void *ptr, size_t size) {
  if (ptr == NULL)
    return sshmux__malloc(size);
  return allocator.realloc_fn(ptr, size ? size : 1);
}

void *sshmux__reallocarray(void *ptr, size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size)
    return NULL;
  return sshmux__realloc(ptr, count * size);
}

void sshmux__free(void *ptr) {
  if (ptr != NULL) {
    int saved = errno;
    allocator.free_fn(ptr);
    errno = saved;
  }
}

char *sshmux__strndup(const char *s, size_t n) {
  size_t len = strnlen(s, n);
  char *p = sshmux__malloc(len + 1);
  if (p == NULL)
    return NULL;
  memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

char *sshmux__strdup(const char *s) {
  return sshmux__strndup(s, SIZE_MAX);
}

char *sshmux__asprintf(const char *fmt, ...) {
  va_list ap;
  int n;
  char *p;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return NULL;
  p = sshmux__malloc((size_t)n + 1);
  if (p == NULL)
    return NULL;
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

/* libssh2's blocks carry their size in front, so that each is wiped when
 * freed: libssh2 keeps the shared secret, its session keys, the passwords
 * and keyboard-interactive answers it sends (and the packets it builds
 * from them) in blocks it frees without always clearing them.  Memory
 * handed to libssh2 to free (the keyboard-interactive responses) must come
 * from sshmux__ssh2_alloc too.  A session's blocks are also listed in its
 * arena (core.h), so that those libssh2 1.10 loses track of are freed with
 * the session. */
typedef union ssh2_hdr {
  struct {
    size_t size;
    sshmux__ssh2_arena_t *arena; /* NULL: not listed */
    union ssh2_hdr *prev, *next;
  } h;
  max_align_t align;
} ssh2_hdr_t;

void *sshmux__ssh2_alloc(size_t count, void **abstract) {
  ssh2_hdr_t *h;

  if (count > SIZE_MAX - sizeof(*h))
    return NULL;
  h = sshmux__malloc(sizeof(*h) + count);
  if (h == NULL)
    return NULL;
  h->h.size = count;
  h->h.arena = abstract != NULL ? *abstract : NULL;
  h->h.prev = NULL;
  h->h.next = NULL;
  if (h->h.arena != NULL) {
    sshmux__ssh2_arena_t *a = h->h.arena;
    h->h.next = a->head;
    if (h->h.next != NULL)
      h->h.next->h.prev = h;
    a->head = h;
    a->bytes += count;
    a->blocks++;
  }
  return h + 1;
}

static void ssh2_unlist(ssh2_hdr_t *h) {
  sshmux__ssh2_arena_t *a = h->h.arena;

  if (a == NULL)
    return;
  if (h->h.prev != NULL)
    h->h.prev->h.next = h->h.next;
  else
    a->head = h->h.next;
  if (h->h.next != NULL)
    h->h.next->h.prev = h->h.prev;
  a->bytes -= h->h.size;
  a->blocks--;
  h->h.arena = NULL;
}

void sshmux__ssh2_free(void *ptr, void **abstract) {
  ssh2_hdr_t *h;

  (void)abstract;
  if (ptr == NULL)
    return;
  h = (ssh2_hdr_t *)ptr - 1;
  ssh2_unlist(h);
  sshmux__free_secret(h, sizeof(*h) + h->h.size);
}

size_t sshmux__ssh2_arena_free(sshmux__ssh2_arena_t *a) {
  size_t n = 0;

  while (a->head != NULL) {
    ssh2_hdr_t *h = a->head;
    ssh2_unlist(h);
    sshmux__free_secret(h, sizeof(*h) + h->h.size);
    n++;
  }
  return n;
}

/* Never realloc in place: the old block is wiped like any other. */
void *sshmux__ssh2_realloc(void *ptr, size_t count, void **abstract) {
  void *np;

  if (ptr == NULL)
    return sshmux__ssh2_alloc(count, abstract);
  np = sshmux__ssh2_alloc(count, abstract);
  if (np == NULL)
    return NULL;
  memcpy(np, ptr, SSHMUX__MIN(count, ((ssh2_hdr_t *)ptr - 1)->h.size));
  sshmux__ssh2_free(ptr, abstract);
  return np;
}

void sshmux__wipe(void *p, size_t n) {
  if (p != NULL && n != 0)
    sodium_memzero(p, n);
}

void sshmux__free_secret(void *p, size_t n) {
  sshmux__wipe(p, n);
  sshmux__free(p);
}

int sshmux__ct_equal(const void *a, const void *b, size_t n) {
  const volatile unsigned char *x = a;
  const volatile unsigned char *y = b;
  unsigned char acc = 0;
  size_t i;

  for (i = 0; i < n; i++)
    acc |= (unsigned char)(x[i] ^ y[i]);
  return acc == 0;
}

void sshmux__random(void *buf, size_t n) {
  randombytes_buf(buf, n);
}

void sshmux__padrng_init(sshmux__padrng_t *g) {
  sshmux__random(g->key, sizeof(g->key));
  g->n = 0;
}

void sshmux__padrng_bytes(sshmux__padrng_t *g, void *buf, size_t n) {
  uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
  uint64_t v = g->n++;

  for (size_t i = 0; i < sizeof(nonce); i++, v >>= 8)
    nonce[i] = (uint8_t)v;
  crypto_stream_chacha20((unsigned char *)buf, n, nonce, g->key);
}

void sshmux__padrng_free(sshmux__padrng_t *g) {
  sodium_memzero(g, sizeof(*g));
}
