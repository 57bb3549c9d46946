/* fuzz-pool-ptymodes.c -- libFuzzer target for sshmux__pty_modes_trim(), which
 * shortens a client's encoded terminal modes so that TERM + modes fit the
 * 256 bytes libssh2 accepts in a pty-req.  Byte 0 is the TERM length; the
 * rest are the modes as a client sent them (any bytes).  The result must:
 * fit the caller's buffer (n + 1) and the 256-byte budget, end with
 * TTY_OP_END, hold only whole (opcode, uint32) pairs copied unchanged and in
 * their original order from the parsed prefix of the input, and give up the
 * opcodes of the drop list before any other.  Build and run: make
 * fuzz-run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/pool-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Opcodes that may be dropped while others are kept (the drop list). */
static int droppable(uint8_t op) {
  static const uint8_t list[] = {52, 37, 71, 31, 74, 75, 62, 16,  17, 11, 15,
                                 18, 6,  7,  90, 92, 93, 39, 40,  33, 30, 32,
                                 34, 35, 73, 56, 57, 58, 41, 128, 129};
  return memchr(list, op, sizeof(list)) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t term_len, n, o, in_pairs = 0, j = 0, limit;
  const uint8_t *in;
  uint8_t *out;
  int dropped_other = 0;

  if (size < 1)
    return 0;
  term_len = data[0] == 255 ? 300 : data[0];
  in = data + 1;
  n = size - 1;
  limit = term_len >= 256 ? 0 : 256 - term_len;
  out = malloc(n + 1);
  if (out == NULL)
    return 0;
  o = sshmux__pty_modes_trim(in, n, term_len, out);
  if (o > n + 1 || o > limit) {
    fprintf(stderr, "trimmed modes too long: %zu (n %zu, limit %zu)\n", o, n,
            limit);
    abort();
  }
  if (limit == 0) {
    if (o != 0)
      abort();
    free(out);
    return 0;
  }
  if (o == 0 || o % 5 != 1 || out[o - 1] != 0) {
    fprintf(stderr, "trimmed modes not pairs + TTY_OP_END (%zu)\n", o);
    abort();
  }
  /* The pairs the parser takes: up to 64, until TTY_OP_END, an opcode of
   * 160 or more, or a truncated pair. */
  while (in_pairs < 64 && in_pairs * 5 + 5 <= n && in[in_pairs * 5] != 0 &&
         in[in_pairs * 5] < 160)
    in_pairs++;
  /* The output is a subsequence of the input pairs. */
  for (size_t i = 0; i + 1 < o; i += 5) {
    while (j < in_pairs && memcmp(in + j * 5, out + i, 5) != 0) {
      if (!droppable(in[j * 5]))
        dropped_other = 1;
      j++;
    }
    if (j == in_pairs) {
      fprintf(stderr, "output pair %zu not from the input in order\n", i / 5);
      abort();
    }
    j++;
  }
  for (; j < in_pairs; j++)
    if (!droppable(in[j * 5]))
      dropped_other = 1;
  /* Something outside the drop list went only if dropping all of the list
   * was not enough. */
  if (dropped_other) {
    size_t others = 0;
    for (size_t i = 0; i < in_pairs; i++)
      others += !droppable(in[i * 5]);
    if (others * 5 + 1 <= limit) {
      fprintf(stderr, "a mode outside the drop list was dropped needlessly\n");
      abort();
    }
  }
  free(out);
  return 0;
}
