/* test-core-sanitize.c -- sshmux__sanitize(): every kind of escape sequence and
 * control character is removed whole, line breaks and UTF-8 are handled as
 * documented, the 4 KiB cap cuts at a character boundary, and a bounded
 * random run checks the same invariant as the fuzz target. */
#include "core/core.h"
#include "fuzz/check-sanitize.h"
#include "test.h"

/* Sanitize in[0..n) and compare with want; also check the invariant. */
static void check_n(const char *in, size_t n, int nl, const char *want,
                    int line) {
  char *out = sshmux__sanitize(in, n, nl);
  const char *why;

  if (out == NULL)
    test_fail(__FILE__, line, "sanitize returned NULL");
  why = check_sanitized(out, nl, SSHMUX__SANITIZE_MAX);
  if (why != NULL)
    test_fail(__FILE__, line, "invariant: %s", why);
  if (strcmp(out, want) != 0)
    test_fail(__FILE__, line, "got \"%s\", want \"%s\"", out, want);
  sshmux__free(out);
}

/* The cases of the tests below that are one input and one expected
 * output, in one table: the test's name (without "sanitize_"), the input
 * (its length is sizeof - 1: NULs inside count), nl, the expected text. */
typedef struct {
  const char *test;
  const char *in;
  size_t len;
  int nl;
  const char *want;
  int line;
} case_t;
#define C(test, in, nl, want)                                                  \
  { test, in, sizeof(in) - 1, nl, want, __LINE__ }

/* clang-format off */
static const case_t cases[] = {
    /* sanitize_plain_text */
    C("plain_text", "", 0, ""),
    C("plain_text", "Password: ", 0, "Password: "),
    C("plain_text", "a b!~{}", 1, "a b!~{}"),
    /* sanitize_csi */
    C("csi", "\x1b[31mred\x1b[0m", 0, "red"),
    C("csi", "\x1b[2J\x1b[1;1HPassword:", 0, "Password:"),
    C("csi", "a\x1b[?25lb", 0, "ab"),       /* private parameter */
    C("csi", "a\x1b[2 qb", 0, "ab"),        /* intermediate byte */
    C("csi", "a\x1b[>0;1;2cb", 0, "ab"),    /* device attributes */
    C("csi", "a\x1b[31\030b", 0, "ab"),     /* CAN aborts */
    C("csi", "a\x1b[31\032b", 0, "ab"),     /* SUB aborts */
    C("csi", "a\x1b[31\x1b[32mb", 0, "ab"), /* ESC restarts */
    C("csi", "a\x1b[1\x01;2mb", 0, "ab"),   /* C0 inside is swallowed */
    /* 8-bit CSI: the raw byte and the code point U+009B. */
    C("csi", "a\23331mb", 0, "ab"),
    C("csi", "a\xc2\23331mb", 0, "ab"),
    C("csi", "a\x9b?1049hb", 0, "ab"),
    /* sanitize_osc */
    C("osc", "\x1b]0;evil title\x07text", 0, "text"),
    C("osc", "\x1b]0;evil title\x1b\\text", 0, "text"),
    C("osc", "\x1b]52;c;ZXZpbA==\x07ok", 0, "ok"), /* clipboard write */
    C("osc", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", 0, "link"),
    /* 8-bit OSC and ST, raw and as code points, in all combinations. */
    C("osc", "a\2350;t\234b", 0, "ab"),
    C("osc", "a\xc2\2350;t\xc2\234b", 0, "ab"),
    C("osc", "a\2350;t\007b", 0, "ab"),
    C("osc", "a\x1b]0;t\xc2\234b", 0, "ab"),
    /* ESC inside the string not followed by "\" abandons it and starts a
     * new sequence. */
    C("osc", "a\x1b]0;t\x1b[31mb", 0, "ab"),
    C("osc", "a\x1b]0;t\030b", 0, "ab"),
    /* Newlines and UTF-8 inside are swallowed too. */
    C("osc", "a\x1b]0;line\nline \xc3\xa9\007b", 1, "ab"),
    /* sanitize_dcs_sos_pm_apc */
    /* DCS (sixel), DECRQSS */
    C("dcs_sos_pm_apc", "a\x1bPq#0;2;0;0;0#0!10~\x1b\\b", 0, "ab"),
    C("dcs_sos_pm_apc", "a\x1bP$q\"p\x1b\\b", 0, "ab"),
    C("dcs_sos_pm_apc", "a\x1bXsos\x1b\\b", 0, "ab"),
    C("dcs_sos_pm_apc", "a\x1b^pm\x1b\\b", 0, "ab"),
    C("dcs_sos_pm_apc", "a\x1b_apc\x1b\\b", 0, "ab"),
    C("dcs_sos_pm_apc", "a\x1b_apc\007b", 0, "ab"),
    C("dcs_sos_pm_apc", "a\x90q\234b", 0, "ab"),
    C("dcs_sos_pm_apc", "a\x98s\234b", 0, "ab"),
    C("dcs_sos_pm_apc", "a\x9ep\234b", 0, "ab"),
    C("dcs_sos_pm_apc", "a\237a\234b", 0, "ab"),
    C("dcs_sos_pm_apc", "a\xc2\x90q\xc2\234b", 0, "ab"),
    C("dcs_sos_pm_apc", "a\xc2\x98s\xc2\234b", 0, "ab"),
    C("dcs_sos_pm_apc", "a\xc2\x9ep\xc2\234b", 0, "ab"),
    C("dcs_sos_pm_apc", "a\xc2\237a\xc2\234b", 0, "ab"),
    /* sanitize_unterminated */
    C("unterminated", "ok\x1b", 0, "ok"),
    C("unterminated", "ok\x1b[", 0, "ok"),
    C("unterminated", "ok\x1b[12;34", 0, "ok"),
    C("unterminated", "ok\x1b]0;title never ends, text hidden", 0, "ok"),
    C("unterminated", "ok\x1bPdcs\nmore\x1b", 1, "ok"),
    C("unterminated", "ok\x1bXsos", 0, "ok"),
    C("unterminated", "ok\x1b^pm", 0, "ok"),
    C("unterminated", "ok\x1b_apc", 0, "ok"),
    C("unterminated", "ok\23312", 0, "ok"),
    C("unterminated", "ok\2350;t", 0, "ok"),
    C("unterminated", "ok\x1b(", 0, "ok"),
    /* sanitize_esc_single */
    C("esc_single", "\0337a\0338b", 0, "ab"),   /* save/restore cursor */
    C("esc_single", "\033cX", 0, "X"),          /* RIS, full reset */
    C("esc_single", "a\x1b=b\x1b>c", 0, "abc"), /* keypad modes */
    C("esc_single", "a\033Db\033Mc", 0, "abc"),
    C("esc_single", "a\x1b\\b", 0, "ab"),       /* stray ST */
    /* charset designation */
    C("esc_single", "a\x1b(Bb\x1b)0c", 0, "abc"),
    C("esc_single", "a\x1b#8b", 0, "ab"),       /* DECALN */
    C("esc_single", "a\x1b\0337b", 0, "ab"),    /* ESC ESC */
    /* ESC + control: both dropped */
    C("esc_single", "a\x1b\001b", 0, "ab"),
    /* ESC + non-ASCII */
    C("esc_single", "a\x1b\xc3\251b", 0, "a\xc3\251b"),
    C("esc_single", "a\x1b\177b", 0, "ab"),
    /* sanitize_controls */
    C("controls", "a\177b", 0, "ab"),
    C("controls", "a\x07\x08\x08\010b", 0, "ab"),
    C("controls", "a\tb", 0, "a b"),
    C("controls", "a\xc2\205b", 1, "ab"), /* NEL is not a newline here */
    /* Bidi overrides cannot reorder what the user reads. */
    C("controls", "a\xe2\x80\256b\xe2\x81\246c\xe2\x80\x8f", 0, "abc"),
    /* sanitize_newlines */
    C("newlines", "a\r\nb\nc\rd", 1, "a\nb\ncd"),
    C("newlines", "a\r\nb\nc\rd", 0, "a b cd"),
    C("newlines", "\r\n\r\n", 1, "\n\n"),
    C("newlines", "a\r\r\nb", 1, "a\nb"),
    C("newlines", "a\r", 1, "a"),
    C("newlines", "a\n", 0, "a "),
    /* sanitize_utf8 */
    /* Valid multi-byte text of every length is kept byte for byte. */
    C("utf8", "h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac \xf0\x9d\x84\x9e "
      "\xe6\x97\xa5\xe6\x9c\xac \xef\xbf\xbd \xf4\x8f\xbf\xbf",
      0,
      "h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac \xf0\x9d\x84\x9e "
      "\xe6\x97\xa5\xe6\x9c\xac \xef\xbf\xbd \xf4\x8f\xbf\xbf"),
    C("utf8", "\xc2\xa0", 0, "\xc2\xa0"), /* U+00A0 is the first non-C1 */
    /* Invalid bytes become '?', one per byte; continuation bytes in the
     * C1 range (0x80..0x9f) are C1 controls and vanish. */
    C("utf8", "a\377b", 0, "a?b"),
    C("utf8", "a\xfe\xf5\370b", 0, "a???b"),
    C("utf8", "\xc0\xaf", 0, "??"),         /* overlong "/" */
    C("utf8", "\xc1\xbf", 0, "??"),         /* overlong DEL */
    C("utf8", "\xe0\x80\xaf", 0, "??"),     /* overlong 3-byte */
    C("utf8", "\xf0\x80\x80\xaf", 0, "??"), /* overlong 4-byte */
    C("utf8", "\xc0\23331mX", 0, "?X"),     /* overlong never hides CSI */
    C("utf8", "\xed\xa0\x80", 0, "??"),     /* surrogate U+D800 */
    C("utf8", "\xf4\x90\x80\x80", 0, "?"),  /* U+110000; 0x90, 0x80: C1 */
    C("utf8", "a\303b", 0, "a?b"),          /* truncated 2-byte */
    C("utf8", "a\xe2\202b", 0, "a?b"),      /* truncated 3-byte */
    C("utf8", "a\xe2\x82", 0, "a?"),        /* truncated at the end */
    C("utf8", "a\260b", 0, "a?b"),          /* lone continuation */
};
/* clang-format on */

/* Every case of that test (there is at least one). */
static void check_group(const char *test) {
  int n = 0;

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    if (strcmp(cases[i].test, test) == 0) {
      check_n(cases[i].in, cases[i].len, cases[i].nl, cases[i].want,
              cases[i].line);
      n++;
    }
  ASSERT_GT(n, 0);
}

TEST_IMPL(sanitize_plain_text) {
  {
    char *o = sshmux__sanitize(NULL, 0, 0);
    ASSERT_STR_EQ(o, "");
    sshmux__free(o);
  }
  check_group("plain_text");
  return 0;
}

TEST_IMPL(sanitize_csi) {
  check_group("csi");
  return 0;
}

TEST_IMPL(sanitize_osc) {
  check_group("osc");
  return 0;
}

TEST_IMPL(sanitize_dcs_sos_pm_apc) {
  check_group("dcs_sos_pm_apc");
  return 0;
}

TEST_IMPL(sanitize_unterminated) {
  check_group("unterminated");
  return 0;
}

TEST_IMPL(sanitize_esc_single) {
  check_group("esc_single");
  return 0;
}

TEST_IMPL(sanitize_controls) {
  char in[3] = {'a', 0, 'b'};
  char c1[5] = {'a', (char)0xc2, 0, 'b', 0};

  /* Every C0 control other than tab, LF, CR is removed, NUL included. */
  for (int c = 0; c < 0x20; c++) {
    if (c == '\t' || c == '\n' || c == '\r' || c == 0x1b)
      continue;
    in[1] = (char)c;
    check_n(in, 3, 0, "ab", __LINE__);
    check_n(in, 3, 1, "ab", __LINE__);
  }
  /* Every C1 control as a code point, and as a raw byte: those that do
   * not introduce a sequence are simply removed. */
  for (int c = 0x80; c < 0xa0; c++) {
    if (c == 0x90 || c == 0x98 || c == 0x9b || c == 0x9d || c == 0x9e ||
        c == 0x9f)
      continue;
    c1[2] = (char)c;
    check_n(c1, 4, 0, "ab", __LINE__);
    in[1] = (char)c;
    check_n(in, 3, 0, "ab", __LINE__);
  }
  check_group("controls");
  return 0;
}

TEST_IMPL(sanitize_newlines) {
  check_group("newlines");
  return 0;
}

TEST_IMPL(sanitize_utf8) {
  check_group("utf8");
  return 0;
}

TEST_IMPL(sanitize_cap) {
  static char in[10000], want[SSHMUX__SANITIZE_MAX + 1];
  char *out;
  size_t n;

  /* Exactly the cap: kept whole. */
  memset(in, 'a', sizeof(in));
  memcpy(want, in, SSHMUX__SANITIZE_MAX);
  want[SSHMUX__SANITIZE_MAX] = '\0';
  check_n(in, SSHMUX__SANITIZE_MAX, 0, want, __LINE__);
  /* One more: 4093 bytes and "...". */
  memcpy(want + SSHMUX__SANITIZE_MAX - 3, "...", 4);
  check_n(in, SSHMUX__SANITIZE_MAX + 1, 0, want, __LINE__);
  check_n(in, sizeof(in), 0, want, __LINE__);
  /* Three-byte characters: the cut falls on a boundary (4092 = 1364 x 3),
   * never inside a character. */
  for (n = 0; n + 3 <= sizeof(in); n += 3)
    memcpy(in + n, "\xe2\x82\xac", 3);
  out = sshmux__sanitize(in, n, 0);
  ASSERT(out != NULL);
  ASSERT_EQ(strlen(out), 1364 * 3 + 3);
  ASSERT(check_sanitized(out, 0, SSHMUX__SANITIZE_MAX) == NULL);
  ASSERT_MEM_EQ(out + 1364 * 3, "...", 4);
  sshmux__free(out);
  /* What counts is the output: long escapes around short text fit. */
  for (n = 0; n + 6 <= sizeof(in); n += 5)
    memcpy(in + n, "\x1b[31m", 5);
  in[n] = 'x';
  check_n(in, n + 1, 0, "x", __LINE__);
  return 0;
}

/* Bounded random inputs drawn mostly from the bytes that matter: the
 * invariant holds, and sanitizing twice changes nothing. */
TEST_IMPL(sanitize_random_invariant) {
  static const unsigned char alphabet[] = {
      0x1b, '[',  ']',  'P',  'X',  '^',  '_',  '\\', 0x07, 0x9b, 0x9c, 0x9d,
      0x90, 0x18, '\r', '\n', '\t', 0x7f, 0xc2, 0x85, 0xe2, 0x82, 0xac, 0xf0,
      0x9d, 0xed, 0xa0, 0xff, 'a',  '1',  ';',  'm',  ' ',  0x00};
  uint8_t rnd[512];
  char in[512];

  /* The checker itself is not vacuous. */
  ASSERT(check_sanitized("ok\n", 1, 10) == NULL);
  ASSERT(check_sanitized("ok\n", 0, 10) != NULL);
  ASSERT(check_sanitized("\x1b", 0, 10) != NULL);
  ASSERT(check_sanitized("\x7f", 0, 10) != NULL);
  ASSERT(check_sanitized("\xc2\x9b", 0, 10) != NULL);
  ASSERT(check_sanitized("\x9b", 0, 10) != NULL);
  ASSERT(check_sanitized("\xc0\xaf", 0, 10) != NULL);
  ASSERT(check_sanitized("\xed\xa0\x80", 0, 10) != NULL);
  ASSERT(check_sanitized("\xe2\x82", 0, 10) != NULL);
  ASSERT(check_sanitized("12345", 0, 4) != NULL);

  for (int iter = 0; iter < 3000; iter++) {
    size_t n;
    int nl = iter & 1;
    char *out, *again;
    const char *why;

    sshmux__random(rnd, sizeof(rnd));
    n = rnd[0] % sizeof(in);
    for (size_t i = 0; i < n; i++)
      in[i] = (rnd[i] & 0x80) ? (char)rnd[(i + 1) % sizeof(rnd)]
                              : (char)alphabet[rnd[i] % sizeof(alphabet)];
    out = sshmux__sanitize(in, n, nl);
    ASSERT(out != NULL);
    why = check_sanitized(out, nl, SSHMUX__SANITIZE_MAX);
    if (why != NULL)
      test_fail(__FILE__, __LINE__, "iteration %d: %s", iter, why);
    again = sshmux__sanitize(out, strlen(out), nl);
    ASSERT_STR_EQ(again, out);
    sshmux__free(again);
    sshmux__free(out);
  }
  return 0;
}
