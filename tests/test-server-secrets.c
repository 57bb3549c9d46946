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

#include "scan-alloc.h"
#include "server-harness.h"

/* Each secret of one key exchange, named after it. */
static void add_kex(const char *tag, const th_kex_t *kx) {
  static const char *const what[] = {"IV c2s",  "IV s2c",  "key c2s",
                                     "key s2c", "MAC c2s", "MAC s2c"};
  char name[64];
  int i;

  snprintf(name, sizeof(name), "%s K", tag);
  scan_alloc_needle(name, kx->shared, sizeof(kx->shared));
  snprintf(name, sizeof(name), "%s H", tag);
  scan_alloc_needle(name, kx->h, sizeof(kx->h));
  for (i = 0; i < 6; i++) {
    if (kx->derived_len[i] < 16)
      continue; /* too short to be told apart from chance */
    snprintf(name, sizeof(name), "%s %s", tag, what[i]);
    scan_alloc_needle(name, kx->derived[i], kx->derived_len[i]);
  }
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
  sshmux__hostkey_t *key;
  sshmux__buf_t blob, sd, sig, ex;

  ASSERT_OK(sshmux__hostkey_generate(&key, SSHMUX__KEY_ED25519));
  sshmux__buf_init(&blob, 4096);
  sshmux__buf_init(&sd, 65536);
  sshmux__buf_init(&sig, 4096);
  sshmux__buf_init(&ex, 65536);
  sshmux__buf_set_secret(&sd);
  ASSERT_OK(sshmux__hostkey_public_blob(key, &blob));
  ASSERT_OK(sshmux__buf_put_string(&sd, t->session_id, 32));
  ASSERT_OK(sshmux__buf_put_u8(&sd, SSH_MSG_USERAUTH_REQUEST));
  ASSERT_OK(sshmux__buf_put_cstring(&sd, "alice"));
  ASSERT_OK(sshmux__buf_put_cstring(&sd, "ssh-connection"));
  ASSERT_OK(sshmux__buf_put_cstring(&sd, "publickey"));
  ASSERT_OK(sshmux__buf_put_bool(&sd, 1));
  ASSERT_OK(sshmux__buf_put_cstring(&sd, "ssh-ed25519"));
  ASSERT_OK(sshmux__buf_put_string(&sd, blob.data, blob.len));
  ASSERT_OK(sshmux__hostkey_sign(key, sd.data, sd.len, &sig));
  ASSERT_OK(sshmux__buf_put_bool(&ex, 1));
  ASSERT_OK(sshmux__buf_put_cstring(&ex, "ssh-ed25519"));
  ASSERT_OK(sshmux__buf_put_string(&ex, blob.data, blob.len));
  ASSERT_OK(sshmux__buf_put_string(&ex, sig.data, sig.len));
  send_userauth(t, "publickey", &ex);
  ASSERT_EQ(th_next(t), SSH_MSG_USERAUTH_SUCCESS);
  sshmux__buf_free(&blob);
  sshmux__buf_free(&sd);
  sshmux__buf_free(&sig);
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
  scan_alloc_install();
  memset(&cbs, 0, sizeof(cbs));
  cbs.auth = auth_any;
  scan_alloc_needle("password", password, sizeof(password) - 1);

  th_init(&t, &cbs, 0, NULL);
  th_send_ident(&t);
  th_client_kex(&t, "aes128-ctr", "hmac-sha2-256", &k1);
  add_kex("first kex", &k1);
  scan_alloc_check();

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
  scan_alloc_check();

  /* A re-key the server starts, then one the client starts. */
  sshmux__transport_check_rekey(t.conn, 1);
  th_client_kex(&t, "chacha20-poly1305@openssh.com", NULL, &k2);
  add_kex("server re-key", &k2);
  ping(&t);
  scan_alloc_check();
  th_client_kex(&t, "aes256-gcm@openssh.com", NULL, &k3);
  add_kex("client re-key", &k3);
  ping(&t);
  scan_alloc_check();

  /* The connection and the server end: their last blocks too. */
  th_free(&t);
  scan_alloc_check();
  sodium_memzero(&k1, sizeof(k1));
  sodium_memzero(&k2, sizeof(k2));
  sodium_memzero(&k3, sizeof(k3));
  SCAN_ALLOC_EXPECT_CLEAN(100, "secrets");
  return 0;
}
