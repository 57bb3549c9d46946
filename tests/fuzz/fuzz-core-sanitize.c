/* fuzz-core-sanitize.c -- libFuzzer target for sshmux__sanitize(): whatever the
 * input, the output is valid UTF-8 within the cap and holds no C0 control
 * (except "\n" when newlines are kept), no DEL and no C1 control.  The first
 * input byte selects keep_newline.  Build and run: make fuzz-run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/core.h"
#include "check-sanitize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int keep;
  char *out;
  const char *why;

  if (size == 0)
    return 0;
  keep = data[0] & 1;
  out = sshmux__sanitize((const char *)data + 1, size - 1, keep);
  if (out == NULL)
    return 0;
  why = check_sanitized(out, keep, SSHMUX__SANITIZE_MAX);
  if (why != NULL) {
    fprintf(stderr, "sanitize output violates the invariant: %s\n", why);
    abort();
  }
  sshmux__free(out);
  return 0;
}
