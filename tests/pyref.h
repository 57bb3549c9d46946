/* pyref.h -- run an independent reference implementation (Debian's
 * /usr/bin/python3 with python3-cryptography, a dependency of
 * python3-paramiko) from a test, and the hex helpers the crypto tests use to
 * talk to it.  The crypto known-answer tests compare our bytes with what
 * this second implementation computes, so a bug cannot agree with itself. */
#ifndef SSHMUX_TEST_PYREF_H
#define SSHMUX_TEST_PYREF_H

#include <stddef.h>
#include <stdint.h>

#define PYREF_PYTHON "/usr/bin/python3"

/* 0 if python3 with the cryptography module is usable; TEST_SKIP (or 1
 * under CI) otherwise, after printing why. */
int pyref_available(void);
/* Run script (python source) with input on stdin; *out receives stdout
 * (caller frees).  Fails the test if python exits non-zero. */
void pyref_run(const char *script, const char *input, char **out);

/* Lower-case hex of p[0..n) appended to a growing string *s (caller frees). */
void hex_append(char **s, size_t *len, const uint8_t *p, size_t n);
/* Parse hex[0..2*n) into out; fails the test on bad input. */
void hex_decode(const char *hex, uint8_t *out, size_t n);
/* Append printf-formatted text to *s. */
void str_appendf(char **s, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
