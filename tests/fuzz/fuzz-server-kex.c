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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;

  if (!ready) {
    sshmux_server_cbs_t cbs;
    memset(&cbs, 0, sizeof(cbs));
    fz_setup(&cbs);
    ready = 1;
  }
  if (size > 0)
    fz_one(data, size, (data[0] & 1) ? "fuzz" : NULL, !(data[0] & 1), NULL);
  return 0;
}
