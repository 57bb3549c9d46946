/* sanitize.h -- making remote-supplied text safe to show.  Everything a
 * remote server sends that reaches an embedder, a terminal or a log
 * (keyboard-interactive names, instructions and prompts, banners, error
 * strings) goes through sshmux__sanitize() first. */
#ifndef SSHMUX_SANITIZE_H
#define SSHMUX_SANITIZE_H

#include <stddef.h>

/* Return a fresh NUL-terminated copy of in[0..n) with every terminal escape
 * sequence removed whole -- CSI (ESC [ ... final, and 8-bit 0x9b), OSC
 * (ESC ], 0x9d), DCS (ESC P, 0x90), SOS (ESC X, 0x98), PM (ESC ^, 0x9e), APC
 * (ESC _, 0x9f) up to their terminator (BEL or ST, ESC \ or 0x9c), and
 * two-byte ESC sequences -- and every other C0/C1 control character and
 * DEL removed.  Newline is kept when keep_newline is set (as "\n"; "\r\n"
 * becomes "\n"), tab becomes a space.  Invalid UTF-8 bytes become '?'; valid
 * multi-byte UTF-8 is kept.  The output is at most 4 KiB (longer text is cut
 * at a character boundary and "..." appended).  NULL only when out of
 * memory. */
char *sshmux__sanitize(const char *in, size_t n, int keep_newline);

#endif
