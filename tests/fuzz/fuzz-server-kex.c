/* fuzz-server-kex.c -- libFuzzer target for the server's key exchange:
 * KEXINIT negotiation (name-lists, guesses, strict-KEX and ext-info
 * markers), KEX_ECDH_INIT with curve25519 and P-256 points, NEWKEYS and
 * what follows it, through the real transport (lib/server/transport.c,
 * lib/crypto/kex.c).  Input: see fuzz-server-common.h; flags bit 0 set means
 * the exchange is a re-key on an authenticated connection instead of the first
 * one.  The seeds (tests/fuzz/corpus/fuzz-server-kex/, made by
 * tests/fuzz/make-seeds.py) are complete client exchanges as OpenSSH
 * sends them.  Nothing may crash, leak, or write a malformed packet.
 * Build and run: make fuzz-run. */
#include "fuzz-server-common.h"

/* flags bit 0: a re-key on an authenticated connection, else the first
 * exchange. */
static sshmux_server_conn_t *kex_conn(unsigned flags) {
  return fz_conn((flags & 1) ? "fuzz" : NULL, !(flags & 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const fz_target_t target = {.conn = kex_conn};

  return fz_run(&target, data, size);
}
