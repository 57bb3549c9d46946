/* fuzz-server-auth.c -- libFuzzer target for user authentication
 * (lib/server/auth.c): USERAUTH_REQUEST with every method name, publickey
 * queries and signed requests whose key and signature blobs are of every
 * type (Ed25519, ECDSA P-256/384/521, RSA with SHA-2, and the refused
 * ssh-rsa, certificates, sk- keys), the failure count and what follows a
 * success.  Input: see fuzz-server-common.h; flags bits 0-1 say how the
 * embedder's auth callback decides: 0 accept any key (so signatures are
 * verified), 1 refuse, 2 the authorized_keys verdict only (file absent:
 * refused), 3 close the connection from inside the callback.  The connection
 * starts after SERVICE_ACCEPT, with the session identifier the test shortcut
 * uses (32 bytes of 0x5a): the seeds (made by tests/fuzz/make-seeds.py) carry
 * valid signatures over it, so mutations start from requests that would
 * succeed.  Build and run: make fuzz-run. */
#include "fuzz-server-common.h"

static unsigned mode;

static int on_auth(sshmux_server_conn_t *conn,
                   const sshmux_server_auth_info_t *info, void *data) {
  (void)data;
  if (info->user == NULL || info->key_alg == NULL || info->key_blob == NULL ||
      info->fingerprint == NULL || strncmp(info->fingerprint, "SHA256:", 7))
    abort();
  switch (mode & 3) {
  case 0:
    return 1;
  case 1:
    return 0;
  case 2:
    return info->authorized == 1;
  default:
    sshmux_server_conn_close(conn, "fuzz");
    return 1;
  }
}

static void on_open(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                    const sshmux_server_open_info_t *info) {
  (void)conn, (void)info;
  (void)sshmux_server_channel_accept(ch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;

  if (!ready) {
    sshmux_server_cbs_t cbs;
    memset(&cbs, 0, sizeof(cbs));
    cbs.auth = on_auth;
    cbs.channel_open = on_open;
    fz_setup(&cbs);
    if (sshmux_server_set_authorized_keys(fz_srv,
                                          "/nonexistent/fuzz-authorized-keys"))
      abort();
    ready = 1;
  }
  if (size > 0) {
    mode = data[0];
    fz_one(data, size, "", 0, NULL);
  }
  return 0;
}
