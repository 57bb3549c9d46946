/* test-core.c -- version, error names/messages, the allocator hook, the
 * logging hook, constant-time compare and wiping. */
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "core/core.h"
#include "test.h"

TEST_IMPL(core_version) {
  char want[32];

  snprintf(want, sizeof(want), "%d.%d.%d", SSHMUX_VERSION_MAJOR,
           SSHMUX_VERSION_MINOR, SSHMUX_VERSION_PATCH);
  ASSERT_STR_EQ(sshmux_version_string(), want);
  ASSERT_EQ(sshmux_version(), SSHMUX_VERSION_HEX);
  ASSERT_OK(sshmux_init());
  ASSERT_OK(sshmux_init()); /* idempotent */
  return 0;
}

TEST_IMPL(core_errors) {
  /* Every code of ours has a distinct name and a message. */
#define XX(name, num, msg)                                                     \
  ASSERT_STR_EQ(sshmux_err_name(num), "SSHMUX_E" #name);                       \
  ASSERT_STR_EQ(sshmux_strerror(num), msg);                                    \
  ASSERT_LT(num, -30000);
  SSHMUX_ERRNO_MAP(XX)
#undef XX
  /* libuv codes pass through. */
  ASSERT_STR_EQ(sshmux_err_name(UV_ECONNRESET), "ECONNRESET");
  ASSERT_STR_EQ(sshmux_strerror(UV_ENOENT), uv_strerror(UV_ENOENT));
  ASSERT_STR_EQ(sshmux_err_name(0), "OK");
  ASSERT_STR_EQ(sshmux_strerror(-39999), "unknown error");
  /* libssh2 codes are translated, never returned raw. */
  ASSERT_EQ(sshmux__err_from_ssh2(-18), SSHMUX_EAUTH);
  ASSERT_EQ(sshmux__err_from_ssh2(-21), SSHMUX_ECHAN_FAILED);
  ASSERT_EQ(sshmux__err_from_ssh2(-37), UV_EAGAIN);
  ASSERT_EQ(sshmux__err_from_ssh2(-9999), SSHMUX_ESSH2);
  ASSERT_EQ(sshmux__err_from_mbedtls(-0x0010), SSHMUX_ECRYPTO);
  ASSERT_EQ(sshmux__err_from_mbedtls(0), 0);
  return 0;
}

static size_t n_malloc, n_free;
static void *count_malloc(size_t n) {
  n_malloc++;
  return malloc(n);
}
static void *count_realloc(void *p, size_t n) {
  if (p == NULL)
    n_malloc++;
  return realloc(p, n);
}
static void *count_calloc(size_t c, size_t n) {
  n_malloc++;
  return calloc(c, n);
}
static void count_free(void *p) {
  if (p)
    n_free++;
  free(p);
}

TEST_IMPL(core_allocator) {
  char *s;
  void *p;

  ASSERT_ERR(sshmux_replace_allocator(NULL, realloc, calloc, free),
             SSHMUX_EINVAL);
  ASSERT_OK(sshmux_replace_allocator(count_malloc, count_realloc, count_calloc,
                                     count_free));
  s = sshmux__strdup("hello");
  ASSERT_STR_EQ(s, "hello");
  p = sshmux__ssh2_alloc(10, NULL);
  p = sshmux__ssh2_realloc(p, 100, NULL);
  sshmux__ssh2_free(p, NULL);
  sshmux__free(s);
  sshmux__free(NULL);
  /* libssh2's realloc is never in place (the old block is wiped and
   * freed): strdup, ssh2 alloc, ssh2 realloc = 3 allocations. */
  ASSERT_EQ(n_malloc, 3);
  ASSERT_EQ(n_free, 3);
  /* Overflow is refused, not wrapped. */
  ASSERT(sshmux__reallocarray(NULL, SIZE_MAX / 2, 3) == NULL);
  s = sshmux__asprintf("%s-%d", "x", 42);
  ASSERT_STR_EQ(s, "x-42");
  sshmux__free(s);
  ASSERT_EQ(n_malloc, n_free);
  return 0;
}

/* A session's arena lists its blocks, so that what libssh2 loses is freed
 * with it: here two blocks "lost", one freed and one reallocated. */
TEST_IMPL(core_ssh2_arena) {
  sshmux__ssh2_arena_t arena;
  void *abstract = &arena, *a, *b, *c, *d;

  memset(&arena, 0, sizeof(arena));
  a = sshmux__ssh2_alloc(10, &abstract);
  b = sshmux__ssh2_alloc(20, &abstract);
  c = sshmux__ssh2_alloc(30, &abstract);
  d = sshmux__ssh2_alloc(40, NULL); /* not listed */
  ASSERT(a != NULL && b != NULL && c != NULL && d != NULL);
  ASSERT_EQ(arena.blocks, 3);
  ASSERT_EQ(arena.bytes, 60);
  sshmux__ssh2_free(b, &abstract);
  ASSERT_EQ(arena.blocks, 2);
  ASSERT_EQ(arena.bytes, 40);
  c = sshmux__ssh2_realloc(c, 300, &abstract);
  ASSERT(c != NULL);
  ASSERT_EQ(arena.blocks, 2);
  ASSERT_EQ(arena.bytes, 310);
  /* A block freed without its session's abstract leaves the list too. */
  sshmux__ssh2_free(a, NULL);
  ASSERT_EQ(arena.blocks, 1);
  ASSERT_EQ(sshmux__ssh2_arena_free(&arena), 1); /* c */
  ASSERT(arena.head == NULL);
  ASSERT_EQ(arena.blocks, 0);
  ASSERT_EQ(arena.bytes, 0);
  ASSERT_EQ(sshmux__ssh2_arena_free(&arena), 0);
  sshmux__ssh2_free(d, NULL);
  return 0;
}

static char last_msg[2048];
static int n_logs;
static void log_hook(sshmux_log_level_t level, const char *msg, void *data) {
  (void)level;
  ASSERT(data == (void *)&n_logs);
  snprintf(last_msg, sizeof(last_msg), "%s", msg);
  n_logs++;
}

TEST_IMPL(core_log) {
  sshmux_log_level_t lv;

  /* No hook: nothing happens (and nothing is printed). */
  sshmux__log(SSHMUX_LOG_ERROR, "dropped");
  sshmux_set_log_cb(log_hook, SSHMUX_LOG_INFO, &n_logs);
  sshmux__log(SSHMUX_LOG_DEBUG, "filtered");
  ASSERT_EQ(n_logs, 0);
  sshmux__log(SSHMUX_LOG_WARN, "remote said %s", "\x1b[31mred\r\n");
  ASSERT_EQ(n_logs, 1);
  /* Control characters never reach the hook. */
  ASSERT_STR_EQ(last_msg, "remote said ?[31mred??");
  ASSERT_OK(sshmux_log_level_parse("debug", &lv));
  ASSERT_EQ(lv, SSHMUX_LOG_DEBUG);
  ASSERT_ERR(sshmux_log_level_parse("loud", &lv), SSHMUX_EINVAL);
  ASSERT_STR_EQ(sshmux_log_level_name(SSHMUX_LOG_TRACE), "trace");
  sshmux_set_log_cb(NULL, SSHMUX_LOG_INFO, NULL);
  return 0;
}

TEST_IMPL(core_secrets) {
  unsigned char a[32], b[32];

  memset(a, 0x5a, sizeof(a));
  memcpy(b, a, sizeof(b));
  ASSERT(sshmux__ct_equal(a, b, sizeof(a)));
  b[31] ^= 1;
  ASSERT(!sshmux__ct_equal(a, b, sizeof(a)));
  sshmux__wipe(a, sizeof(a));
  for (size_t i = 0; i < sizeof(a); i++)
    ASSERT_EQ(a[i], 0);
  return 0;
}

/* Packet padding's generator: every call gives fresh bytes, two
 * generators (two connections) give different streams, the bytes are not
 * all zero, and free wipes the key. */
TEST_IMPL(core_padrng) {
  sshmux__padrng_t a, b;
  uint8_t x[64], y[64], z[64], zero[64] = {0};
  int nonzero = 0;

  sshmux__padrng_init(&a);
  sshmux__padrng_init(&b);
  sshmux__padrng_bytes(&a, x, sizeof(x));
  sshmux__padrng_bytes(&a, y, sizeof(y));
  sshmux__padrng_bytes(&b, z, sizeof(z));
  ASSERT(memcmp(x, y, sizeof(x)) != 0);
  ASSERT(memcmp(x, z, sizeof(x)) != 0);
  for (size_t i = 0; i < sizeof(x); i++)
    nonzero += x[i] != 0;
  ASSERT_GT(nonzero, 32);
  /* Short requests (the usual 4..19 bytes) use one nonce each. */
  sshmux__padrng_bytes(&a, x, 4);
  sshmux__padrng_bytes(&a, y, 4);
  ASSERT(memcmp(x, y, 4) != 0);
  sshmux__padrng_free(&a);
  ASSERT(memcmp(a.key, zero, sizeof(a.key)) == 0);
  ASSERT_EQ(a.n, 0);
  sshmux__padrng_free(&b);
  return 0;
}
