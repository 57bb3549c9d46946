/* pyref.c -- see pyref.h.  Test support code only. */
#include <stdarg.h>

#include "pyref.h"
#include "test.h"

int pyref_available(void) {
  const char *argv[] = {PYREF_PYTHON, "-c",
                        "import cryptography.hazmat.primitives.ciphers", NULL};
  int r;

  if ((r = test_require_program(PYREF_PYTHON)) != 0)
    return r;
  if (test_run_simple(argv, NULL, NULL) != 0) {
    if (test_in_ci()) {
      fprintf(stderr, "python3-cryptography is missing (CI: failure)\n");
      return 1;
    }
    fprintf(stderr, "skipped: python3-cryptography not installed\n");
    return TEST_SKIP;
  }
  return 0;
}

void pyref_run(const char *script, const char *input, char **out) {
  const char *argv[] = {PYREF_PYTHON, "-c", script, NULL};
  test_cmd_t c = {0};
  char *err = NULL;
  int st = -1;

  c.argv = argv;
  c.in = input ? input : "";
  c.in_len = input ? strlen(input) : 0;
  c.out = out;
  c.err = &err;
  c.timeout_ms = 30000;
  ASSERT_EQ(test_run(&c, &st), 0);
  if (st != 0)
    test_fail(__FILE__, __LINE__, "python reference exited %d: %s", st,
              err ? err : "");
  free(err);
}

void str_appendf(char **s, size_t *len, const char *fmt, ...) {
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  ASSERT(n >= 0);
  *s = realloc(*s, *len + (size_t)n + 1);
  ASSERT(*s != NULL);
  va_start(ap, fmt);
  vsnprintf(*s + *len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  *len += (size_t)n;
}

void hex_append(char **s, size_t *len, const uint8_t *p, size_t n) {
  static const char hx[] = "0123456789abcdef";

  *s = realloc(*s, *len + 2 * n + 1);
  ASSERT(*s != NULL);
  for (size_t i = 0; i < n; i++) {
    (*s)[*len + 2 * i] = hx[p[i] >> 4];
    (*s)[*len + 2 * i + 1] = hx[p[i] & 15];
  }
  *len += 2 * n;
  (*s)[*len] = '\0';
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

void hex_decode(const char *hex, uint8_t *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int hi = hexval(hex[2 * i]), lo = hi < 0 ? -1 : hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      test_fail(__FILE__, __LINE__, "bad hex at %zu: %.16s", i, hex + 2 * i);
    out[i] = (uint8_t)(hi << 4 | lo);
  }
}
