/* core/core.h -- the core module's interface: everything the other modules
 * may use of lib/core/, and the one core header they include.  Helpers
 * shared by every module of the library and never exported: the allocator
 * wrappers, logging, secret wiping, constant-time comparison, base64 and
 * small utilities, plus the facets in their own headers, included at the
 * end: the wire buffer (buf.h), the intrusive list (list.h), the sanitiser
 * (sanitize.h), safe files (safefile.h) and the JSON-lines codec (jsonl.h).
 * Its files, bottom layer first, each calling only files of lower layers:
 * alloc.c, log.c < error.c < version.c < buf.c, encode.c, jsonl.c,
 * sanitize.c, safefile.c (scripts/check-layers.sh checks the order).
 * Cross-file internal symbols carry the sshmux__ prefix and hidden visibility
 * (the Makefile's -fvisibility=hidden), so `nm -D libsshmux.so` shows only the
 * public API. */
#ifndef SSHMUX_CORE_H
#define SSHMUX_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "sshmux/common.h"
#include "sshmux/file.h"

#define SSHMUX__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SSHMUX__MIN(a, b) ((a) < (b) ? (a) : (b))
#define SSHMUX__MAX(a, b) ((a) > (b) ? (a) : (b))
#define SSHMUX__CONTAINER_OF(ptr, type, member)                                \
  ((type *)((char *)(ptr)-offsetof(type, member)))

#if defined(__GNUC__)
#define SSHMUX__PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SSHMUX__UNUSED __attribute__((unused))
#else
#define SSHMUX__PRINTF(f, a)
#define SSHMUX__UNUSED
#endif

/* Allocation through the replaceable allocator (alloc.c).  sshmux__free(NULL)
 * is a no-op.  sshmux__calloc and sshmux__reallocarray check for overflow. */
void *sshmux__malloc(size_t size);
void *sshmux__calloc(size_t count, size_t size);
void *sshmux__realloc(void *ptr, size_t size);
void *sshmux__reallocarray(void *ptr, size_t count, size_t size);
void sshmux__free(void *ptr);
char *sshmux__strdup(const char *s);
char *sshmux__strndup(const char *s, size_t n);
/* printf into a fresh allocation; NULL on failure. */
char *sshmux__asprintf(const char *fmt, ...) SSHMUX__PRINTF(1, 2);

/* The libssh2 allocator trio, routing libssh2's allocations through ours.
 * Pass to libssh2_session_init_ex(sshmux__ssh2_alloc, sshmux__ssh2_free,
 * sshmux__ssh2_realloc, abstract).  Every block is wiped when freed (its
 * size is kept in front of it), so memory libssh2 frees must come from
 * sshmux__ssh2_alloc, never sshmux__malloc, and the other way round. */
void *sshmux__ssh2_alloc(size_t count, void **abstract);
void *sshmux__ssh2_realloc(void *ptr, size_t count, void **abstract);
void sshmux__ssh2_free(void *ptr, void **abstract);
/* The blocks one libssh2 session holds.  A session's abstract (what
 * libssh2 passes as *abstract) must point to an arena, or to a struct whose
 * first member is one; a NULL abstract lists nothing.  libssh2 1.10 loses
 * some blocks a hostile server makes it allocate (the name of a second
 * exit-signal on a channel, or of one on a channel whose open then fails):
 * sshmux__ssh2_arena_free(), after libssh2_session_free(), frees what is
 * still listed (wiped) and returns how many blocks that was.  Touched only by
 * the thread that owns the session. */
typedef struct {
  void *head;    /* the newest block's header */
  size_t bytes;  /* payload bytes listed */
  size_t blocks; /* blocks listed */
} sshmux__ssh2_arena_t;
size_t sshmux__ssh2_arena_free(sshmux__ssh2_arena_t *a);

/* Zero memory in a way the compiler may not elide; free after wiping. */
void sshmux__wipe(void *p, size_t n);
void sshmux__free_secret(void *p, size_t n);
/* Constant-time equality of two equal-length buffers: 1 if equal. */
int sshmux__ct_equal(const void *a, const void *b, size_t n);

/* Logging (log.c).  Cheap when no hook is set or the level is filtered. */
void sshmux__log(sshmux_log_level_t level, const char *fmt, ...)
    SSHMUX__PRINTF(2, 3);
void sshmux__vlog(sshmux_log_level_t level, const char *fmt, va_list ap);
int sshmux__log_enabled(sshmux_log_level_t level);
#define SSHMUX__LOG_ERROR(...) sshmux__log(SSHMUX_LOG_ERROR, __VA_ARGS__)
#define SSHMUX__LOG_WARN(...) sshmux__log(SSHMUX_LOG_WARN, __VA_ARGS__)
#define SSHMUX__LOG_INFO(...) sshmux__log(SSHMUX_LOG_INFO, __VA_ARGS__)
#define SSHMUX__LOG_DEBUG(...) sshmux__log(SSHMUX_LOG_DEBUG, __VA_ARGS__)
#define SSHMUX__LOG_TRACE(...) sshmux__log(SSHMUX_LOG_TRACE, __VA_ARGS__)

/* Translate a libssh2 error code (LIBSSH2_ERROR_*) to SSHMUX_E* (error.c).
 * The caller keeps libssh2's own message as the object's detail text. */
int sshmux__err_from_ssh2(int rc);
/* Translate an mbedTLS error code to SSHMUX_E*; the text goes to the log. */
int sshmux__err_from_mbedtls(int rc);

/* Fill buf with n bytes from the CSPRNG (libsodium).  Never fails once
 * sshmux_init() has succeeded. */
void sshmux__random(void *buf, size_t n);

/* Cheap random bytes for SSH packet padding: a ChaCha20 keystream under a
 * key drawn once from sshmux__random, one nonce per call.  libsodium's
 * randombytes_buf is a getrandom() system call per call -- one per packet
 * sent.  Not for keys or nonces. */
typedef struct {
  uint8_t key[32];
  uint64_t n;
} sshmux__padrng_t;
void sshmux__padrng_init(sshmux__padrng_t *g);
void sshmux__padrng_bytes(sshmux__padrng_t *g, void *buf, size_t n);
/* Wipe the key. */
void sshmux__padrng_free(sshmux__padrng_t *g);

/* Base64 (encode.c). */
/* Standard base64 with padding; out must hold 4*ceil(n/3)+1 bytes. */
size_t sshmux__base64_encode(const uint8_t *in, size_t n, char *out);
/* Decode standard base64 (padding optional, no white space) into out
 * (capacity outsz).  Returns the decoded length via *outlen. */
int sshmux__base64_decode(const char *in, size_t n, uint8_t *out, size_t outsz,
                          size_t *outlen);

/* The facets (each header states its own contract). */
#include "core/buf.h"
#include "core/jsonl.h"
#include "core/list.h"
#include "core/safefile.h"
#include "core/sanitize.h"

#endif
