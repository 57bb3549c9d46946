/* sanitize.c -- making remote-supplied text safe to show (sanitize.h).
 *
 * A server controls the bytes of its banner, its keyboard-interactive
 * prompts and its error strings; shown raw on a terminal they can move the
 * cursor, rewrite what the user sees ("Enter your password:"), set the
 * window title, or on some terminals answer back into the input stream.
 * So this is an allow-list filter, shaped like a terminal's own parser
 * (ECMA-48 / the DEC VT state machine) so that a sequence is removed
 * *whole* rather than leaving its printable tail behind.
 *
 * The input is decoded into units first: a valid UTF-8 code point (strict:
 * no overlong forms, no surrogates, nothing above U+10FFFF) or a single
 * invalid byte.  An invalid byte in 0x80..0x9f is taken as the 8-bit C1
 * control it is on a Latin-1 terminal (so a raw 0x9b starts a CSI just as
 * U+009B does), and is never shown; other invalid bytes become '?'.  What
 * is emitted is therefore always valid UTF-8 free of C0 (except "\n" when
 * asked), DEL and C1 -- the invariant tests/fuzz/fuzz-core-sanitize.c checks.
 * Bidirectional-override controls (U+202A..U+202E, U+2066..U+2069,
 * U+200E, U+200F, U+061C) are removed too: they can make a prompt read
 * differently from the bytes it holds. */
#include <string.h>

#include "core/core.h"
#include "core/sanitize.h"

#define ESC 0x1b
#define BEL 0x07
#define CAN 0x18
#define SUB 0x1a
#define C1_DCS 0x90
#define C1_SOS 0x98
#define C1_CSI 0x9b
#define C1_ST 0x9c
#define C1_OSC 0x9d
#define C1_PM 0x9e
#define C1_APC 0x9f

/* A unit whose code point is this value is an invalid byte to show as '?'
 * (invalid bytes 0x80..0x9f are reported as their C1 code point instead). */
#define BAD_BYTE 0xFFFFFFFFu

typedef enum {
  ST_GROUND,
  ST_ESC,       /* after ESC */
  ST_ESC_INTER, /* ESC followed by intermediates (0x20..0x2f) */
  ST_CSI,       /* inside a control sequence, until a final byte */
  ST_STRING,    /* inside OSC/DCS/SOS/PM/APC, until BEL or ST */
  ST_STRING_ESC /* ESC seen inside a string: "\\" ends it */
} state_t;

/* Decode one unit at in[0..n), n >= 1.  Returns its length in bytes and
 * sets *cp to the code point, or to BAD_BYTE / the C1 value for an invalid
 * byte (length 1). */
static size_t decode(const unsigned char *in, size_t n, uint32_t *cp) {
  unsigned char b = in[0];
  size_t len, i;
  uint32_t c;
  /* Bounds of the second byte: narrowing them after E0, ED, F0 and F4 is
   * what rejects overlong forms, surrogates and code points > U+10FFFF. */
  unsigned char lo = 0x80, hi = 0xbf;

  if (b < 0x80) {
    *cp = b;
    return 1;
  }
  if (b >= 0xc2 && b <= 0xdf) {
    len = 2;
    c = b & 0x1f;
  } else if (b >= 0xe0 && b <= 0xef) {
    len = 3;
    c = b & 0x0f;
    if (b == 0xe0)
      lo = 0xa0; /* overlong */
    else if (b == 0xed)
      hi = 0x9f; /* surrogates */
  } else if (b >= 0xf0 && b <= 0xf4) {
    len = 4;
    c = b & 0x07;
    if (b == 0xf0)
      lo = 0x90; /* overlong */
    else if (b == 0xf4)
      hi = 0x8f; /* above U+10FFFF */
  } else {
    goto bad; /* continuation byte, 0xc0/0xc1 (overlong), 0xf5.. */
  }
  if (n < len || in[1] < lo || in[1] > hi)
    goto bad;
  for (i = 1; i < len; i++) {
    if ((in[i] & 0xc0) != 0x80)
      goto bad;
    c = (c << 6) | (in[i] & 0x3f);
  }
  *cp = c;
  return len;
bad:
  *cp = (b >= 0x80 && b <= 0x9f) ? b : BAD_BYTE;
  return 1;
}

static int is_bidi_control(uint32_t c) {
  return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) ||
         c == 0x200e || c == 0x200f || c == 0x061c;
}

static int is_string_introducer(uint32_t c) {
  return c == C1_OSC || c == C1_DCS || c == C1_SOS || c == C1_PM || c == C1_APC;
}

typedef struct {
  char *buf;
  size_t len;
  size_t cut;    /* longest prefix ending on a unit boundary that leaves
                    room for "..." within the cap */
  int truncated; /* more output was dropped */
} out_t;

/* Append bytes forming one unit (or one replacement character).  Returns 0
 * once the cap is reached, so the caller stops. */
static int emit(out_t *o, const void *p, size_t n) {
  if (o->len + n > SSHMUX__SANITIZE_MAX) {
    o->truncated = 1;
    return 0;
  }
  memcpy(o->buf + o->len, p, n);
  o->len += n;
  if (o->len <= SSHMUX__SANITIZE_MAX - 3)
    o->cut = o->len;
  return 1;
}

char *sshmux__sanitize(const char *in, size_t n, int keep_newline) {
  const unsigned char *s = (const unsigned char *)in;
  state_t st = ST_GROUND;
  out_t o = {NULL, 0, 0, 0};
  size_t i = 0;

  o.buf = sshmux__malloc(SSHMUX__SANITIZE_MAX + 1);
  if (o.buf == NULL)
    return NULL;
  if (s == NULL)
    n = 0;
  while (i < n) {
    uint32_t c;
    size_t len = decode(s + i, n - i, &c);
    const unsigned char *unit = s + i;

    i += len;
    switch (st) {
    case ST_GROUND:
      break;
    case ST_ESC:
      st = ST_GROUND;
      if (c == '[')
        st = ST_CSI;
      else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_')
        st = ST_STRING;
      else if (c == ESC)
        st = ST_ESC; /* a new escape replaces the unfinished one */
      else if (c >= 0x20 && c <= 0x2f)
        st = ST_ESC_INTER;
      else if (c >= 0x30 && c <= 0x7e)
        ; /* two-byte sequence: ESC and its final byte both go */
      else
        break; /* not a sequence: drop the ESC, handle c normally */
      continue;
    case ST_ESC_INTER:
      if (c >= 0x20 && c <= 0x2f)
        continue;
      st = ST_GROUND;
      if (c >= 0x30 && c <= 0x7e)
        continue;
      break;
    case ST_CSI:
      /* Everything up to the final byte is swallowed; like a terminal,
       * CAN/SUB abort and ESC restarts.  Unterminated: swallowed to the
       * end. */
      if (c >= 0x40 && c <= 0x7e)
        st = ST_GROUND;
      else if (c == CAN || c == SUB)
        st = ST_GROUND;
      else if (c == ESC)
        st = ST_ESC;
      continue;
    case ST_STRING:
      if (c == BEL || c == C1_ST || c == CAN || c == SUB)
        st = ST_GROUND;
      else if (c == ESC)
        st = ST_STRING_ESC;
      continue;
    case ST_STRING_ESC:
      if (c == '\\') {
        st = ST_GROUND;
        continue;
      }
      /* ESC not followed by "\": the string is abandoned and this ESC
       * starts a new sequence, as xterm does. */
      st = ST_ESC;
      i -= len;
      continue;
    }

    /* Ground state. */
    if (c == ESC) {
      st = ST_ESC;
    } else if (c == C1_CSI) {
      st = ST_CSI;
    } else if (is_string_introducer(c)) {
      st = ST_STRING;
    } else if (c == '\r' && i < n && s[i] == '\n') {
      ; /* CR LF is one line break: the LF below */
    } else if (c == '\n') {
      if (!emit(&o, keep_newline ? "\n" : " ", 1))
        break;
    } else if (c == '\t') {
      if (!emit(&o, " ", 1))
        break;
    } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) ||
               is_bidi_control(c)) {
      ; /* other controls are dropped */
    } else if (c == BAD_BYTE) {
      if (!emit(&o, "?", 1))
        break;
    } else if (!emit(&o, unit, len)) {
      break;
    }
  }
  if (o.truncated) {
    memcpy(o.buf + o.cut, "...", 3);
    o.len = o.cut + 3;
  }
  o.buf[o.len] = '\0';
  return o.buf;
}
