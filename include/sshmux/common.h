/* sshmux/common.h -- what every part of the public API shares: the export
 * marker, error codes, the allocator hook, the logging hook and the version
 * query.
 *
 * Error convention (libuv's): functions return int, 0 on success and a
 * negative code on failure.  Our own codes are SSHMUX_E*, generated from ONE
 * list below and never renumbered.  Codes from libuv (UV_E*, i.e. negated
 * errno values on Unix) pass through unchanged; sshmux_strerror() and
 * sshmux_err_name() understand both.  Codes from libssh2 and mbedTLS never
 * reach callers: they are translated at the boundary and their text kept as
 * the failing object's detail string. */
#ifndef SSHMUX_COMMON_H
#define SSHMUX_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#if defined(SSHMUX_BUILDING_SHARED)
#define SSHMUX_EXTERN __declspec(dllexport)
#else
#define SSHMUX_EXTERN /* nothing */
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define SSHMUX_EXTERN __attribute__((visibility("default")))
#else
#define SSHMUX_EXTERN /* nothing */
#endif

/* XX(NAME, number, message).  Numbers are part of the ABI: append only. */
#define SSHMUX_ERRNO_MAP(XX)                                                   \
  XX(PROTO, -30001, "protocol violation by peer")                              \
  XX(TRUNCATED, -30002, "message truncated")                                   \
  XX(TOOLONG, -30003, "size exceeds limit")                                    \
  XX(BADFORMAT, -30004, "malformed data")                                      \
  XX(CRYPTO, -30005, "cryptographic operation failed")                         \
  XX(MAC, -30006, "message authentication failed")                             \
  XX(NOALGO, -30007, "no common algorithm")                                    \
  XX(HOSTKEY_CHANGED, -30008, "remote host key has changed")                   \
  XX(HOSTKEY_REVOKED, -30009, "remote host key is revoked")                    \
  XX(HOSTKEY_UNKNOWN, -30010, "remote host key is not known")                  \
  XX(HOSTKEY_REJECTED, -30011, "remote host key was not accepted")             \
  XX(AUTH, -30012, "authentication failed")                                    \
  XX(NOAUTHMETHOD, -30013, "no usable authentication method")                  \
  XX(NOPROMPTER, -30014, "a prompt is needed but no prompt handler is set")    \
  XX(PROMPT_CANCELLED, -30015, "prompt cancelled")                             \
  XX(PROMPT_TIMEOUT, -30016, "prompt not answered in time")                    \
  XX(CHAN_FAILED, -30017, "channel open failed")                               \
  XX(CHAN_REFUSED, -30018, "channel open administratively prohibited")         \
  XX(CHAN_LIMIT, -30019, "upstream refuses more sessions")                     \
  XX(REQ_FAILED, -30020, "request refused by peer")                            \
  XX(LOCKED, -30021, "pool is locked")                                         \
  XX(CLOSED, -30022, "object is closing or closed")                            \
  XX(DISCONNECTED, -30023, "peer disconnected")                                \
  XX(TIMEOUT, -30024, "operation timed out")                                   \
  XX(DEAD, -30025, "connection dead (keepalives unanswered)")                  \
  XX(EXPIRED, -30026, "connection lifetime expired")                           \
  XX(SYMLINK, -30027, "path contains a symbolic link")                         \
  XX(PERM, -30028, "unsafe ownership or permissions")                          \
  XX(CONFIG, -30029, "configuration error")                                    \
  XX(NOTFOUND, -30030, "not found")                                            \
  XX(SSH2, -30031, "libssh2 error")                                            \
  XX(POLICY, -30032, "forbidden by policy")                                    \
  XX(UNSUPPORTED, -30033, "not supported")                                     \
  XX(BUSY, -30034, "resource busy")                                            \
  XX(EXISTS, -30035, "already exists")                                         \
  XX(INTERNAL, -30036, "internal error")                                       \
  XX(NOMEM, -30037, "out of memory")                                           \
  XX(INVAL, -30038, "invalid argument")

typedef enum {
#define SSHMUX__ERR_ENUM(name, num, msg) SSHMUX_E##name = (num),
  SSHMUX_ERRNO_MAP(SSHMUX__ERR_ENUM)
#undef SSHMUX__ERR_ENUM
      SSHMUX_ERRNO_MIN_ = -30039
} sshmux_errno_t;

/* A static string describing err (ours, libuv's, or "unknown error").
 * Never NULL, never freed. */
SSHMUX_EXTERN const char *sshmux_strerror(int err);
/* The symbolic name ("SSHMUX_EPROTO", "ECONNRESET", ...).  Never NULL. */
SSHMUX_EXTERN const char *sshmux_err_name(int err);

/* Streams of channel data, in both the server's and the pool's data
 * callbacks: the SSH extended-data numbers. */
#define SSHMUX_STREAM_STDOUT 0 /* CHANNEL_DATA */
#define SSHMUX_STREAM_STDERR 1 /* CHANNEL_EXTENDED_DATA type 1 */

/* "0.1.0" and SSHMUX_VERSION_HEX of the library actually loaded. */
SSHMUX_EXTERN const char *sshmux_version_string(void);
SSHMUX_EXTERN unsigned int sshmux_version(void);

/* Replace the allocator used for every allocation the library makes,
 * including those it asks libssh2 to make for it.  Call before any other
 * function of the library, from one thread; not thread-safe against
 * concurrent use.  All four must be given; returns SSHMUX_EINVAL otherwise.
 * The functions must be callable from any thread (auth workers allocate),
 * and return memory aligned as malloc's is (16 bytes on x86-64: the
 * library keeps SIMD cipher state in what it allocates). */
typedef void *(*sshmux_malloc_func)(size_t size);
typedef void *(*sshmux_realloc_func)(void *ptr, size_t size);
typedef void *(*sshmux_calloc_func)(size_t count, size_t size);
typedef void (*sshmux_free_func)(void *ptr);
SSHMUX_EXTERN int sshmux_replace_allocator(sshmux_malloc_func malloc_func,
                                           sshmux_realloc_func realloc_func,
                                           sshmux_calloc_func calloc_func,
                                           sshmux_free_func free_func);

/* Logging.  The library prints nothing itself: every diagnostic goes to the
 * hook set here (none by default).  The hook may be called from auth worker
 * threads as well as the loop thread; the message is valid only during the
 * call.  Messages never contain raw remote-supplied control characters. */
typedef enum {
  SSHMUX_LOG_ERROR = 0,
  SSHMUX_LOG_WARN = 1,
  SSHMUX_LOG_INFO = 2,
  SSHMUX_LOG_DEBUG = 3,
  SSHMUX_LOG_TRACE = 4
} sshmux_log_level_t;
typedef void (*sshmux_log_cb)(sshmux_log_level_t level, const char *msg,
                              void *data);
/* Set the hook and the most verbose level passed to it.  Set it before
 * starting the loop; the pointer pair is read without locking. */
SSHMUX_EXTERN void sshmux_set_log_cb(sshmux_log_cb cb, sshmux_log_level_t max,
                                     void *data);
/* "error", "warn", "info", "debug", "trace"; parse returns < 0 if unknown. */
SSHMUX_EXTERN const char *sshmux_log_level_name(sshmux_log_level_t level);
SSHMUX_EXTERN int sshmux_log_level_parse(const char *name,
                                         sshmux_log_level_t *out);

/* One-time global initialisation of the crypto libraries the library uses
 * (libsodium, libssh2).  Thread-safe and idempotent; every constructor calls
 * it, so embedders need not, but may call it early to surface failure. */
SSHMUX_EXTERN int sshmux_init(void);

#ifdef __cplusplus
}
#endif
#endif
