/* fuzz-knownhosts.c -- libFuzzer target for the known_hosts scanner
 * (sshmux__known_hosts_check_mem): any file contents, checked for a fixed
 * host and key, must give a well-formed result and touch no memory it
 * should not.  The first input byte picks the port (22 or not) and the key
 * type asked about, the rest is the file.  Seeds: tests/fuzz/corpus/.
 * Build and run: make fuzz-run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/core.h"
#include "knownhosts/knownhosts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An ed25519 public key blob: string "ssh-ed25519", string 32 x 0x11. */
static const uint8_t blob[] = {
    0,    0,    0,    11,   's',  's',  'h',  '-',  'e',  'd',  '2',
    '5',  '5',  '1',  '9',  0,    0,    0,    32,   0x11, 0x11, 0x11,
    0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
    0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
    0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sshmux__kh_result_t res;
  int port, r;
  const char *type;

  if (size == 0)
    return 0;
  port = (data[0] & 1) ? 22 : 2222;
  type = (data[0] & 2) ? "ecdsa-sha2-nistp256" : "ssh-ed25519";
  r = sshmux__known_hosts_check_mem("fuzz", (const char *)data + 1, size - 1,
                                    "host.example", port, type, blob,
                                    sizeof(blob), &res);
  if (r != 0 || res.status < SSHMUX__KH_NOTFOUND ||
      res.status > SSHMUX__KH_REVOKED ||
      (res.status == SSHMUX__KH_NOTFOUND) != (res.line == 0) ||
      (res.status == SSHMUX__KH_MATCH && data[0] & 2)) {
    fprintf(stderr, "inconsistent result: r=%d status=%d line=%d\n", r,
            (int)res.status, res.line);
    abort();
  }
  return 0;
}
