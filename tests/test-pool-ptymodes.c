/* test-pool-ptymodes.c -- the pool's terminal-mode trimming, which keeps a
 * relayed pty-req within libssh2 1.10's 256-byte limit (term name plus
 * encoded modes): the relics go first, what a shell needs stays, and the
 * result is always a well-formed mode list. */
#include <string.h>

#include "pool/pool-int.h"
#include "test.h"

/* Opcodes as a client sends them: op (1 byte) + value (uint32). */
static size_t put_op(uint8_t *p, uint8_t op, uint32_t v) {
  p[0] = op;
  p[1] = (uint8_t)(v >> 24);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 8);
  p[4] = (uint8_t)v;
  return 5;
}

static int has_op(const uint8_t *m, size_t n, uint8_t op) {
  for (size_t i = 0; i + 5 <= n; i += 5)
    if (m[i] == op)
      return 1;
  return 0;
}

TEST_IMPL(pool_pty_modes_trim_openssh_set) {
  /* The opcodes OpenSSH's client sends on Linux (ttymodes.h). */
  static const uint8_t sent[] = {
      1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,  14,
      15, 16, 17, 18, 30, 31, 32, 33, 34, 35, 36, 37, 38,  39,
      40, 41, 42, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59,  60,
      61, 62, 70, 71, 72, 73, 74, 75, 90, 91, 92, 93, 128, 129};
  uint8_t in[600], out[600];
  size_t n = 0, o, k;

  for (k = 0; k < sizeof(sent); k++)
    n += put_op(in + n, sent[k],
                sent[k] == 3     ? 0x7f
                : sent[k] >= 128 ? 38400
                                 : 1);
  in[n++] = 0;
  ASSERT_GT(n, 256);

  o = sshmux__pty_modes_trim(in, n, strlen("xterm-256color"), out);
  ASSERT_LE(o + strlen("xterm-256color"), 256);
  ASSERT_EQ(out[o - 1], 0); /* TTY_OP_END kept */
  ASSERT_EQ((o - 1) % 5, 0);
  /* The relics go first; what a shell needs stays. */
  ASSERT(!has_op(out, o - 1, 52)); /* XCASE */
  ASSERT(!has_op(out, o - 1, 37)); /* IUCLC */
  ASSERT(has_op(out, o - 1, 3));   /* VERASE */
  ASSERT(has_op(out, o - 1, 1));   /* VINTR */
  ASSERT(has_op(out, o - 1, 50));  /* ISIG */
  ASSERT(has_op(out, o - 1, 51));  /* ICANON */
  ASSERT(has_op(out, o - 1, 53));  /* ECHO */
  ASSERT(has_op(out, o - 1, 72));  /* OPOST */
  ASSERT(has_op(out, o - 1, 70));  /* ONLCR */
  /* VERASE's value survives. */
  for (size_t i = 0; i + 5 <= o - 1; i += 5)
    if (out[i] == 3)
      ASSERT_EQ(out[i + 4], 0x7f);

  /* Small enough: passed through unchanged. */
  n = 0;
  n += put_op(in + n, 3, 0x7f);
  n += put_op(in + n, 53, 1);
  in[n++] = 0;
  o = sshmux__pty_modes_trim(in, n, 5, out);
  ASSERT_EQ(o, n);
  ASSERT_MEM_EQ(out, in, n);

  /* A TERM that fills the limit leaves no room: nothing is sent. */
  ASSERT_EQ(sshmux__pty_modes_trim(in, n, 256, out), 0);
  return 0;
}

/* Every defined opcode, each carrying its own number as value. */
TEST_IMPL(pool_pty_modes_trim) {
  uint8_t in[400], out[400];
  size_t m = 0, n;

  for (int op = 1; op <= 75; op++) {
    if ((op > 18 && op < 30) || (op > 42 && op < 50) || (op > 62 && op < 70))
      continue;
    in[m++] = (uint8_t)op;
    sshmux__store_be32(in + m, (uint32_t)op);
    m += 4;
  }
  in[m++] = 0;
  /* Fits already: unchanged. */
  n = sshmux__pty_modes_trim(in, m, 0, out);
  ASSERT_EQ(n, m);
  ASSERT_MEM_EQ(in, out, m);
  /* With a 14-byte TERM: cut to fit, END kept, least useful gone first. */
  n = sshmux__pty_modes_trim(in, m, 14, out);
  ASSERT_LE(n + 14, 256);
  ASSERT_EQ(out[n - 1], 0);
  ASSERT_EQ((n - 1) % 5, 0);
  for (size_t i = 0; i + 1 < n; i += 5) {
    ASSERT(out[i] != 52 && out[i] != 37); /* XCASE, IUCLC dropped */
    ASSERT_EQ(sshmux__load_be32(out + i + 1), out[i]);
  }
  {
    int has_icrnl = 0, has_vintr = 0;
    for (size_t i = 0; i + 1 < n; i += 5) {
      has_icrnl |= out[i] == 36;
      has_vintr |= out[i] == 1;
    }
    ASSERT(has_icrnl && has_vintr);
  }
  return 0;
}
