/* test-core-buf.c -- the SSH wire buffer: every type round-trips, every
 * truncation point of a message is detected without moving the cursor,
 * caps hold, malformed values are refused, secrets are wiped. */
#include "core/core.h"
#include "test.h"

/* A message with one of each type. */
static void build_sample(sshmux__buf_t *b) {
  static const uint8_t mag[] = {0x80, 0x01, 0x02};
  ASSERT_OK(sshmux__buf_put_u8(b, 20));
  ASSERT_OK(sshmux__buf_put_bool(b, 1));
  ASSERT_OK(sshmux__buf_put_u32(b, 0xdeadbeef));
  ASSERT_OK(sshmux__buf_put_u64(b, 0x0102030405060708ull));
  ASSERT_OK(sshmux__buf_put_cstring(b, "ssh-connection"));
  ASSERT_OK(sshmux__buf_put_mpint(b, mag, sizeof(mag)));
  ASSERT_OK(sshmux__buf_put_cstring(b, "aes128-ctr,aes256-ctr"));
}

/* Parse the sample; returns 0 or the first error. */
static int parse_sample(sshmux__buf_t *b) {
  uint8_t u8;
  int bo, r;
  uint32_t u32;
  uint64_t u64;
  const uint8_t *p;
  size_t n;

  if ((r = sshmux__buf_get_u8(b, &u8)) != 0)
    return r;
  ASSERT_EQ(u8, 20);
  if ((r = sshmux__buf_get_bool(b, &bo)) != 0)
    return r;
  ASSERT_EQ(bo, 1);
  if ((r = sshmux__buf_get_u32(b, &u32)) != 0)
    return r;
  ASSERT_EQ(u32, 0xdeadbeef);
  if ((r = sshmux__buf_get_u64(b, &u64)) != 0)
    return r;
  ASSERT(u64 == 0x0102030405060708ull);
  if ((r = sshmux__buf_get_string(b, 64, &p, &n)) != 0)
    return r;
  ASSERT_EQ(n, 14);
  ASSERT_MEM_EQ(p, "ssh-connection", 14);
  if ((r = sshmux__buf_get_mpint(b, 64, &p, &n)) != 0)
    return r;
  ASSERT_EQ(n, 3);
  ASSERT_EQ(p[0], 0x80);
  if ((r = sshmux__buf_get_namelist(b, 64, &p, &n)) != 0)
    return r;
  ASSERT(sshmux__namelist_has(p, n, "aes256-ctr"));
  ASSERT(!sshmux__namelist_has(p, n, "aes256"));
  return 0;
}

TEST_IMPL(buf_roundtrip) {
  sshmux__buf_t b, v;

  sshmux__buf_init(&b, 4096);
  build_sample(&b);
  /* mpint 0x80.. gets a zero pad byte: 4 + 1 + 3. */
  ASSERT_EQ(b.len, 1 + 1 + 4 + 8 + 18 + 8 + 25);
  sshmux__buf_view(&v, b.data, b.len);
  ASSERT_OK(parse_sample(&v));
  ASSERT_EQ(sshmux__buf_remaining(&v), 0);
  sshmux__buf_free(&b);
  return 0;
}

TEST_IMPL(buf_every_truncation) {
  sshmux__buf_t b;

  sshmux__buf_init(&b, 4096);
  build_sample(&b);
  for (size_t cut = 0; cut < b.len; cut++) {
    sshmux__buf_t v;
    size_t before;
    int r;
    sshmux__buf_view(&v, b.data, cut);
    /* Parse until the failure; the failing call must not move the cursor. */
    r = parse_sample(&v);
    ASSERT_ERR(r, SSHMUX_ETRUNCATED);
    before = v.pos;
    ASSERT_LE(before, cut);
    {
      const uint8_t *p;
      size_t n;
      uint32_t u;
      /* Any further read past the end also fails without moving. */
      if (sshmux__buf_get_string(&v, 1000, &p, &n) != 0)
        ASSERT_EQ(v.pos, before);
      v.pos = before;
      if (sshmux__buf_remaining(&v) < 4) {
        ASSERT_ERR(sshmux__buf_get_u32(&v, &u), SSHMUX_ETRUNCATED);
        ASSERT_EQ(v.pos, before);
      }
    }
  }
  sshmux__buf_free(&b);
  return 0;
}

TEST_IMPL(buf_caps_and_formats) {
  sshmux__buf_t b, v;
  const uint8_t *p;
  size_t n;
  char *s;

  /* String longer than the reader's cap. */
  sshmux__buf_init(&b, 64);
  ASSERT_OK(sshmux__buf_put_cstring(&b, "0123456789"));
  sshmux__buf_view(&v, b.data, b.len);
  ASSERT_ERR(sshmux__buf_get_string(&v, 9, &p, &n), SSHMUX_ETOOLONG);
  ASSERT_EQ(v.pos, 0);
  ASSERT_OK(sshmux__buf_get_string(&v, 10, &p, &n));
  /* Writer cap: 64 bytes total, nothing appended on failure. */
  ASSERT_ERR(sshmux__buf_put_space(&b, 64, (uint8_t **)&p), SSHMUX_ETOOLONG);
  ASSERT_EQ(b.len, 14);
  ASSERT_OK(sshmux__buf_put_space(&b, 50, (uint8_t **)&p));
  ASSERT_ERR(sshmux__buf_put_u8(&b, 1), SSHMUX_ETOOLONG);
  /* A view is read-only. */
  ASSERT_ERR(sshmux__buf_put_u8(&v, 1), SSHMUX_EINVAL);
  sshmux__buf_free(&b);

  /* Huge declared length is truncation, not an allocation. */
  {
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 'a'};
    sshmux__buf_view(&v, huge, sizeof(huge));
    ASSERT_ERR(sshmux__buf_get_string(&v, UINT32_MAX, &p, &n),
               SSHMUX_ETRUNCATED);
    ASSERT_ERR(sshmux__buf_get_string(&v, 1000, &p, &n), SSHMUX_ETOOLONG);
  }
  /* cstring refuses embedded NUL. */
  {
    static const uint8_t nul[] = {0, 0, 0, 3, 'a', 0, 'b'};
    sshmux__buf_view(&v, nul, sizeof(nul));
    ASSERT_ERR(sshmux__buf_get_cstring(&v, 100, &s), SSHMUX_EBADFORMAT);
    ASSERT_EQ(v.pos, 0);
  }
  /* mpint: negative and redundant zero refused; zero is empty. */
  {
    static const uint8_t neg[] = {0, 0, 0, 1, 0x80};
    static const uint8_t redundant[] = {0, 0, 0, 2, 0x00, 0x7f};
    static const uint8_t zero[] = {0, 0, 0, 0};
    sshmux__buf_view(&v, neg, sizeof(neg));
    ASSERT_ERR(sshmux__buf_get_mpint(&v, 100, &p, &n), SSHMUX_EBADFORMAT);
    sshmux__buf_view(&v, redundant, sizeof(redundant));
    ASSERT_ERR(sshmux__buf_get_mpint(&v, 100, &p, &n), SSHMUX_EBADFORMAT);
    sshmux__buf_view(&v, zero, sizeof(zero));
    ASSERT_OK(sshmux__buf_get_mpint(&v, 100, &p, &n));
    ASSERT_EQ(n, 0);
  }
  /* mpint writer strips leading zeros and pads the high bit. */
  {
    static const uint8_t mag[] = {0, 0, 0xff};
    static const uint8_t want[] = {0, 0, 0, 2, 0, 0xff};
    sshmux__buf_init(&b, 64);
    ASSERT_OK(sshmux__buf_put_mpint(&b, mag, sizeof(mag)));
    ASSERT_EQ(b.len, sizeof(want));
    ASSERT_MEM_EQ(b.data, want, sizeof(want));
    sshmux__buf_free(&b);
  }
  /* name-lists: empty names and control bytes refused. */
  {
    static const char *bad[] = {",a", "a,", "a,,b", "a b", "a\x01"};
    for (size_t i = 0; i < SSHMUX__ARRAY_SIZE(bad); i++) {
      sshmux__buf_init(&b, 64);
      ASSERT_OK(sshmux__buf_put_cstring(&b, bad[i]));
      sshmux__buf_view(&v, b.data, b.len);
      ASSERT_ERR(sshmux__buf_get_namelist(&v, 64, &p, &n), SSHMUX_EBADFORMAT);
      sshmux__buf_free(&b);
    }
  }
  return 0;
}

TEST_IMPL(buf_negotiate) {
  char out[64];
  static const char client[] = "zzz,aes256-ctr,aes128-ctr";

  ASSERT_OK(sshmux__namelist_negotiate((const uint8_t *)client, strlen(client),
                                       "aes128-ctr,aes256-ctr", out,
                                       sizeof(out)));
  /* The client's preference wins. */
  ASSERT_STR_EQ(out, "aes256-ctr");
  ASSERT_ERR(sshmux__namelist_negotiate((const uint8_t *)"x,y", 3, "z", out,
                                        sizeof(out)),
             SSHMUX_ENOALGO);
  ASSERT_ERR(sshmux__namelist_negotiate((const uint8_t *)client, strlen(client),
                                        "aes256-ctr", out, 4),
             SSHMUX_ETOOLONG);
  return 0;
}

TEST_IMPL(buf_secret_wiped) {
  sshmux__buf_t b;
  uint8_t *p;

  sshmux__buf_init(&b, 1 << 20);
  sshmux__buf_set_secret(&b);
  ASSERT_OK(sshmux__buf_put_bytes(&b, "topsecret", 9));
  p = b.data;
  sshmux__buf_reset(&b);
  ASSERT_EQ(b.len, 0);
  /* Reset keeps storage but wipes it. */
  ASSERT(b.data == p);
  for (int i = 0; i < 9; i++)
    ASSERT_EQ(p[i], 0);
  /* Growth of a secret buffer moves the bytes itself (no realloc copy). */
  ASSERT_OK(sshmux__buf_put_bytes(&b, "abc", 3));
  ASSERT_OK(sshmux__buf_reserve(&b, 4096));
  ASSERT_MEM_EQ(b.data, "abc", 3);
  sshmux__buf_free(&b);
  ASSERT(b.data == NULL);
  return 0;
}
