/* fuzz-core-buf.c -- libFuzzer target for the wire buffer (lib/core/buf.c), the
 * reader every parser of network bytes goes through.  Input: byte 0 = number of
 * operations k, then k operation bytes, then the data the readers parse (a
 * read-only view).  Each operation reads one value with a cap taken from
 * the operation byte and checks the contract of buf.h: a failed read leaves
 * the cursor where it was; a successful one moves it by exactly the bytes
 * of the value, and the value is what the bytes say (strings point into the
 * data, cstrings hold no NUL, mpints are non-negative and minimal,
 * name-lists printable with no empty name).  Every value read is written
 * back into an owned buffer with a small growth cap (a failed write appends
 * nothing) and read again from it: the round trip must give the same
 * value.  Name-lists are also negotiated against a fixed server list and
 * checked with sshmux__namelist_has.  Build and run: make fuzz-run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c)) {                                                                \
      fprintf(stderr, "fuzz-core-buf: %s (line %d)\n", #c, __LINE__);          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

static const size_t caps[] = {0,  1,   4,    16,
                              64, 256, 4096, SSHMUX__BUF_MAX_STRING};
static const char server_list[] = "curve25519-sha256,ecdh-sha2-nistp256,"
                                  "ssh-ed25519,aes128-ctr,a,b,,c";

/* Write a string back (cap wmax) and read it again. */
static void round_trip_string(sshmux__buf_t *w, const uint8_t *p, size_t n,
                              int kind) {
  size_t before = w->len;
  int r;

  if (kind == 0)
    r = sshmux__buf_put_string(w, p, n);
  else
    r = sshmux__buf_put_mpint(w, p, n);
  if (r != 0) {
    CHECK(r == SSHMUX_ETOOLONG || r == SSHMUX_ENOMEM);
    CHECK(w->len == before);
    return;
  }
  {
    sshmux__buf_t v;
    const uint8_t *q;
    size_t m;
    sshmux__buf_view(&v, w->data + before, w->len - before);
    if (kind == 0)
      CHECK(sshmux__buf_get_string(&v, n, &q, &m) == 0);
    else
      CHECK(sshmux__buf_get_mpint(&v, n + 1, &q, &m) == 0);
    CHECK(m == n && (n == 0 || memcmp(q, p, n) == 0));
    CHECK(sshmux__buf_remaining(&v) == 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sshmux__buf_t b, w;
  size_t k;
  const uint8_t *ops;

  if (size < 1)
    return 0;
  k = data[0];
  if (k > size - 1)
    k = size - 1;
  ops = data + 1;
  sshmux__buf_view(&b, data + 1 + k, size - 1 - k);
  sshmux__buf_init(&w, 64u << (data[0] & 7));
  if (data[0] & 8)
    sshmux__buf_set_secret(&w);

  for (size_t i = 0; i < k; i++) {
    uint8_t op = ops[i];
    size_t cap = caps[(op >> 4) & 7], old = b.pos,
           rem = sshmux__buf_remaining(&b);
    const uint8_t *at = sshmux__buf_rptr(&b), *p = NULL;
    size_t n = 0;
    uint32_t len = rem >= 4 ? sshmux__load_be32(at) : 0;
    static const size_t fixed[] = {1, 1, 4, 8};
    size_t used = (op & 15) < 4    ? fixed[op & 15]
                  : (op & 15) == 4 ? cap
                                   : 4 + (size_t)len;
    int r;

    switch (op & 15) {
    case 0: {
      uint8_t v;
      r = sshmux__buf_get_u8(&b, &v);
      CHECK(r == 0 ? rem >= 1 && v == at[0] : rem < 1);
      if (r == 0)
        CHECK(sshmux__buf_put_u8(&w, v) == 0 || w.len + 1 > w.max);
      break;
    }
    case 1: {
      int v;
      r = sshmux__buf_get_bool(&b, &v);
      CHECK(r == 0 ? rem >= 1 && v == (at[0] != 0) : rem < 1);
      break;
    }
    case 2: {
      uint32_t v;
      r = sshmux__buf_get_u32(&b, &v);
      CHECK(r == 0 ? rem >= 4 && v == len : rem < 4);
      if (r == 0 && sshmux__buf_put_u32(&w, v) == 0)
        CHECK(sshmux__load_be32(w.data + w.len - 4) == v);
      break;
    }
    case 3: {
      uint64_t v;
      r = sshmux__buf_get_u64(&b, &v);
      CHECK(r == 0 ? rem >= 8 && v == sshmux__load_be64(at) : rem < 8);
      if (r == 0 && sshmux__buf_put_u64(&w, v) == 0)
        CHECK(sshmux__load_be64(w.data + w.len - 8) == v);
      break;
    }
    case 4:
      r = sshmux__buf_get_bytes(&b, cap, &p);
      CHECK(r == 0 ? rem >= cap && p == at : rem < cap);
      if (r == 0)
        n = cap;
      break;
    case 5:
      r = sshmux__buf_get_string(&b, cap, &p, &n);
      if (r == 0) {
        CHECK(rem >= 4 && len == n && n <= cap && n <= rem - 4 && p == at + 4);
        round_trip_string(&w, p, n, 0);
      } else {
        CHECK(rem < 4 || len > cap || len > rem - 4);
        CHECK(r == SSHMUX_ETRUNCATED || r == SSHMUX_ETOOLONG);
      }
      break;
    case 6: {
      char *s = NULL;
      r = sshmux__buf_get_cstring(&b, cap, &s);
      if (r == 0) {
        CHECK(s != NULL && rem >= 4 && len <= cap && strlen(s) == len &&
              memcmp(s, at + 4, len) == 0);
        n = len;
      } else {
        CHECK(s == NULL);
        CHECK(rem < 4 || len > cap || len > rem - 4 ||
              memchr(at + 4, 0, len) != NULL);
      }
      sshmux__free(s);
      break;
    }
    case 7:
      r = sshmux__buf_get_mpint(&b, cap, &p, &n);
      if (r == 0) {
        /* maxlen bounds the magnitude (the wire form may carry the one
         * sign-padding byte more). */
        CHECK(rem >= 4 && n <= cap && len <= rem - 4);
        /* Magnitude: no leading zero, and the wire form was minimal. */
        CHECK(n == 0 || p[0] != 0);
        CHECK(len == 0 || (at[4] & 0x80) == 0);
        CHECK(n == len || (n + 1 == len && at[4] == 0 && (p[0] & 0x80)));
        round_trip_string(&w, p, n, 1);
      }
      break;
    case 8:
      r = sshmux__buf_get_namelist(&b, cap, &p, &n);
      if (r == 0) {
        char out[64];
        int neg;
        CHECK(rem >= 4 && len == n && p == at + 4);
        for (size_t j = 0; j < n; j++)
          CHECK(p[j] > 0x20 && p[j] < 0x7f);
        CHECK(n == 0 || (p[0] != ',' && p[n - 1] != ','));
        CHECK(memmem(p, n, ",,", 2) == NULL);
        neg = sshmux__namelist_negotiate(p, n, server_list, out, sizeof(out));
        CHECK(neg == 0 || neg == SSHMUX_ENOALGO || neg == SSHMUX_ETOOLONG);
        if (neg == 0) {
          CHECK(sshmux__namelist_has(p, n, out));
          CHECK(strstr(server_list, out) != NULL && *out != '\0');
        }
      }
      break;
    case 9:
      sshmux__buf_compact(&w);
      r = 0;
      break;
    case 10:
      sshmux__buf_reset(&w);
      r = 0;
      break;
    default: {
      /* put_bytes/put_space up to the cap: all or nothing. */
      size_t before = w.len, want = cap < rem ? cap : rem;
      uint8_t *sp;
      r = (op & 1) ? sshmux__buf_put_bytes(&w, at, want)
                   : sshmux__buf_put_space(&w, want, &sp);
      if (r != 0) {
        CHECK(w.len == before && before + want > w.max);
      } else {
        CHECK(w.len == before + want && w.len <= w.max);
        if (!(op & 1) && want > 0)
          memset(sp, 0xa5, want);
        else if (want > 0)
          CHECK(memcmp(w.data + before, at, want) == 0);
      }
      r = -1; /* the reader did not move */
      break;
    }
    }
    if (r != 0)
      CHECK(b.pos == old);
    else if ((op & 15) <= 8)
      CHECK(b.pos == old + used);
    CHECK(b.pos <= b.len && w.pos <= w.len && w.len <= w.max);
  }
  sshmux__buf_free(&w);
  return 0;
}
