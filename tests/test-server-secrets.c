/* test-server-secrets.c -- no secret of a server connection survives in
 * freed memory.  The library's allocator is replaced (sshmux_replace_
 * allocator) by one that keeps every freed block aside, unreleased and
 * untouched; the test plays the client of a real key exchange (curve25519,
 * so it knows the shared secret K, the exchange hash H = the session id,
 * and every derived key), a refused password, a signed publickey login, a
 * server-initiated and a client-initiated re-key, and at each step scans
 * every block freed so far for 16-byte pieces of those secrets.  A hit
 * names the secret and the size of the block that held it. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server-harness.h"

/* ---- an allocator that keeps freed blocks for inspection ---- */

typedef union blk {
  struct {
    union blk *next;
    size_t size;
  } h;
  max_align_t align;
} blk_t;

static blk_t *freed;     /* quarantined blocks, newest first */
static size_t freed_n;   /* how many */
static size_t scanned_n; /* blocks scanned so far, all checkpoints */

static void *q_malloc(size_t n) {
  blk_t *b = malloc(sizeof(blk_t) + n);
  if (b == NULL)
    return NULL;
  b->h.next = NULL;
  b->h.size = n;
  return b + 1;
}

static void q_free(void *p) {
  blk_t *b;
  if (p == NULL)
    return;
  b = (blk_t *)p - 1;
  b->h.next = freed;
  freed = b;
  freed_n++;
}

static size_t q_size(void *p) {
  return ((blk_t *)p - 1)->h.size;
}

static void *q_calloc(size_t c, size_t n) {
  return test_calloc_with(q_malloc, c, n);
}

/* Never in place: the old block goes to quarantine like any free. */
static void *q_realloc(void *p, size_t n) {
  return test_realloc_with(q_malloc, q_free, q_size, p, n);
}

typedef struct {
  const char *name;
  uint8_t bytes[64];
  size_t len;
} needle_t;

static needle_t needles[64];
static size_t nneedles;
static char hits[4096];

static void add_needle(const char *name, const uint8_t *p, size_t n) {
  ASSERT_LT(nneedles, SSHMUX__ARRAY_SIZE(needles));
  ASSERT_LE(n, sizeof(needles[0].bytes));
  if (n < 16)
    return; /* too short to be told apart from chance */
  needles[nneedles].name = name;
  memcpy(needles[nneedles].bytes, p, n);
  needles[nneedles].len = n;
  nneedles++;
}

static void add_kex(const char *tag, const th_kex_t *kx) {
  static char names[8][8][32];
  static int used;
  static const char *const what[] = {
      "K", "H", "IV c2s", "IV s2c", "key c2s", "key s2c", "MAC c2s", "MAC s2c"};
  int i, set = used++;

  ASSERT_LT(set, 8);
  for (i = 0; i < 8; i++)
    snprintf(names[set][i], sizeof(names[set][i]), "%s %s", tag, what[i]);
  add_needle(names[set][0], kx->shared, sizeof(kx->shared));
  add_needle(names[set][1], kx->h, sizeof(kx->h));
  for (i = 0; i < 6; i++)
    add_needle(names[set][2 + i], kx->derived[i], kx->derived_len[i]);
}

/* Does block [p, p+n) hold the first or the last 16 bytes of a needle? */
static void scan_block(const uint8_t *p, size_t n) {
  size_t i;

  for (i = 0; i < nneedles; i++) {
    const needle_t *nd = &needles[i];
    const uint8_t *at = memmem(p, n, nd->bytes, 16);
    if (at == NULL)
      at = memmem(p, n, nd->bytes + nd->len - 16, 16);
    if (at != NULL && strlen(hits) < sizeof(hits) - 128)
      snprintf(hits + strlen(hits), sizeof(hits) - strlen(hits),
               "%s in a freed block of %zu bytes (offset %zu); ", nd->name, n,
               (size_t)(at - p));
  }
}

/* Scan everything freed since the last checkpoint with every secret known
 * now (later secrets cannot be in blocks freed before they existed), then
 * release those blocks for real. */
static void checkpoint(void) {
  while (freed != NULL) {
    blk_t *b = freed;
    freed = b->h.next;
    scan_block((const uint8_t *)(b + 1), b->h.size);
    scanned_n++;
    free(b);
  }
  freed_n = 0;
}

/* ---- the client side ---- */

#define PASSWORD "correct-horse-battery-staple-42"

static int auth_any(sshmux_server_conn_t *conn,
                    const sshmux_server_auth_info_t *info, void *data) {
  (void)conn, (void)info, (void)data;
  return 1;
}

static void send_userauth(th_t *t, const char *method,
                          const sshmux__buf_t *ex) {
  sshmux__buf_t b;
  sshmux__buf_init(&b, 65536);
  sshmux__buf_set_secret(&b);
  ASSERT_OK(sshmux__buf_put_u8(&b, SSH_MSG_USERAUTH_REQUEST));
  ASSERT_OK(sshmux__buf_put_cstring(&b, "alice"));
  ASSERT_OK(sshmux__buf_put_cstring(&b, "ssh-connection"));
  ASSERT_OK(sshmux__buf_put_cstring(&b, method));
  ASSERT_OK(sshmux__buf_put_bytes(&b, ex->data, ex->len));
  th_send(t, b.data, b.len);
  sshmux__buf_free(&b);
}

/* A signed publickey request: the signed data holds the session id, so
 * the client's own buffer is secret-marked too. */
static void sign_in(th_t *t) {
  sshmux__buf_t blob, sd, ex;
  sshmux__hostkey_t *key = th_new_key(&blob);

  sshmux__buf_init(&sd, 65536);
  sshmux__buf_init(&ex, 65536);
  sshmux__buf_set_secret(&sd);
  th_signed_pk(key, &blob, "alice", t->session_id, 32, &sd, &ex);
  send_userauth(t, "publickey", &ex);
  ASSERT_EQ(th_next(t), SSH_MSG_USERAUTH_SUCCESS);
  sshmux__buf_free(&blob);
  sshmux__buf_free(&sd);
  sshmux__buf_free(&ex);
  sshmux__hostkey_free(key);
}

/* A global request the server answers: proves both directions work under
 * the keys just installed. */
static void ping(th_t *t) {
  th_keepalive(t);
  th_expect(t, SSH_MSG_REQUEST_FAILURE);
  ASSERT(!th_closed(t));
}

TEST_IMPL(server_secrets_not_in_freed_memory) {
  static const uint8_t password[] = PASSWORD;
  sshmux_server_cbs_t cbs;
  th_kex_t k1, k2, k3;
  sshmux__buf_t ex;
  th_t t;

  /* Before the first allocation: every block the library frees from now
   * on passes through q_free. */
  ASSERT_OK(sshmux_replace_allocator(q_malloc, q_realloc, q_calloc, q_free));
  memset(&cbs, 0, sizeof(cbs));
  cbs.auth = auth_any;
  add_needle("password", password, sizeof(password) - 1);

  th_init(&t, &cbs, 0, NULL);
  th_send_ident(&t);
  th_client_kex(&t, "aes128-ctr", "hmac-sha2-256", &k1);
  add_kex("first kex", &k1);
  checkpoint();

  /* ssh-userauth, a password (refused: never offered), then publickey. */
  th_send(&t,
          (const uint8_t[]){SSH_MSG_SERVICE_REQUEST, 0, 0, 0, 12, 's', 's', 'h',
                            '-', 'u', 's', 'e', 'r', 'a', 'u', 't', 'h'},
          17);
  th_expect(&t, SSH_MSG_SERVICE_ACCEPT);
  sshmux__buf_init(&ex, 4096);
  sshmux__buf_set_secret(&ex);
  ASSERT_OK(sshmux__buf_put_bool(&ex, 0));
  ASSERT_OK(sshmux__buf_put_cstring(&ex, PASSWORD));
  send_userauth(&t, "password", &ex);
  sshmux__buf_free(&ex);
  th_expect(&t, SSH_MSG_USERAUTH_FAILURE);
  sign_in(&t);
  ping(&t);
  checkpoint();

  /* A re-key the server starts, then one the client starts. */
  sshmux__transport_check_rekey(t.conn, 1);
  th_client_kex(&t, "chacha20-poly1305@openssh.com", NULL, &k2);
  add_kex("server re-key", &k2);
  ping(&t);
  checkpoint();
  th_client_kex(&t, "aes256-gcm@openssh.com", NULL, &k3);
  add_kex("client re-key", &k3);
  ping(&t);
  checkpoint();

  /* The connection and the server end: their last blocks too. */
  th_free(&t);
  checkpoint();
  sodium_memzero(&k1, sizeof(k1));
  sodium_memzero(&k2, sizeof(k2));
  sodium_memzero(&k3, sizeof(k3));
  ASSERT_GT(scanned_n, 100); /* the scan did see the library's blocks */
  if (hits[0] != '\0')
    test_fail(__FILE__, __LINE__, "secrets left in freed memory: %s", hits);
  return 0;
}
