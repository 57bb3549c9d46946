/* sanitize.h -- making remote-supplied text safe to show.  Everything a
 * remote server sends that reaches an embedder, a terminal or a log
 * (keyboard-interactive names, instructions and prompts, banners, error
 * strings) goes through sshmux__sanitize() first. */
#ifndef SSHMUX_SANITIZE_H
#define SSHMUX_SANITIZE_H

#include <stddef.h>

/* The most bytes sshmux__sanitize() returns, "..." included, NUL not. */
#define SSHMUX__SANITIZE_MAX 4096

/* Return a fresh NUL-terminated copy of in[0..n) with every terminal escape
 * sequence removed whole -- CSI (ESC [ ... final, and 8-bit 0x9b), OSC
 * (ESC ], 0x9d), DCS (ESC P, 0x90), SOS (ESC X, 0x98), PM (ESC ^, 0x9e), APC
 * (ESC _, 0x9f) up to their terminator (BEL or ST, ESC \ or 0x9c; CAN and
 * SUB abort them; an unterminated one swallows the rest of the input), and
 * ESC sequences (ESC, optional intermediates 0x20-0x2f, final byte) -- and
 * every other C0/C1 control character and DEL removed.  8-bit C1 controls
 * count both as the code points U+0080..U+009F and as the raw bytes
 * 0x80..0x9f outside valid UTF-8.  A line break ("\n" or "\r\n") is kept as
 * "\n" when keep_newline is set and becomes a space otherwise (so words do
 * not run together); a lone "\r" is removed; tab becomes a space.  Other
 * invalid UTF-8 bytes (overlong forms, surrogates, truncated sequences,
 * 0xa0..0xff) become '?' one per byte; valid multi-byte UTF-8 is kept, except
 * the bidirectional-override controls, which are removed.  The output is at
 * most SSHMUX__SANITIZE_MAX bytes: longer text is cut at a character
 * boundary and "..." appended.  The result is always valid UTF-8.  NULL
 * only when out of memory; the caller frees it with sshmux__free(). */
char *sshmux__sanitize(const char *in, size_t n, int keep_newline);

#endif
