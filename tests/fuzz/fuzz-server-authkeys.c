/* fuzz-server-authkeys.c -- libFuzzer target for the authorized_keys parser
 * (sshmux__authkeys_match).  The input is the file's text; the key looked
 * for is a fixed Ed25519 blob and, as a second pass, a blob made of the
 * input's first bytes (so matching lines are reachable).  Whatever the
 * text, the answer is 0 or 1 and only the documented option flags are set.
 * Build and run: make fuzz-run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/server-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fixed[] = {
    0,   0,   0,  11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5',
    '1', '9', 0,  0,  0,   32,  1,   2,   3,   4,   5,   6,   7,
    8,   9,   10, 11, 12,  13,  14,  15,  16,  17,  18,  19,  20,
    21,  22,  23, 24, 25,  26,  27,  28,  29,  30,  31,  32};

static void check(const char *text, size_t n, const uint8_t *blob,
                  size_t blen) {
  unsigned flags = 0xffff;
  int r = sshmux__authkeys_match(text, n, blob, blen, &flags);

  if (r != 0 && r != 1)
    abort();
  if (flags & ~(unsigned)(SSHMUX__AK_NO_PTY | SSHMUX__AK_NO_PORT_FWD |
                          SSHMUX__AK_NO_AGENT_FWD | SSHMUX__AK_NO_X11_FWD))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* The text is not NUL-terminated: the parser must not need it to be. */
  char *text = malloc(size ? size : 1);

  if (text == NULL)
    return 0;
  memcpy(text, data, size);
  check(text, size, fixed, sizeof(fixed));
  if (size > 0)
    check(text, size, data, size < 64 ? size : 64);
  free(text);
  return 0;
}
