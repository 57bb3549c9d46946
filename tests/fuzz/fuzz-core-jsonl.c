/* fuzz-core-jsonl.c -- libFuzzer target for the control protocol's codec: any
 * bytes go through the line framer (in pieces, as a socket delivers them)
 * and every line through the JSON parser; whatever parses is walked and
 * written back with the writer, and the output must parse again.  Never a
 * crash, an out-of-bounds read, a leak, or a line longer than the cap. */
#include <stdint.h>
#include <string.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void rewrite(sshmux__jsonw_t *w, const sshmux__json_t *n) {
  const sshmux__json_t *c;

  switch (n->type) {
  case SSHMUX__JSON_NULL:
    sshmux__jsonw_null(w);
    break;
  case SSHMUX__JSON_BOOL:
    sshmux__jsonw_bool(w, (int)n->num);
    break;
  case SSHMUX__JSON_INT:
    sshmux__jsonw_int(w, n->num);
    break;
  case SSHMUX__JSON_STRING:
    if (strlen(n->str) != n->str_len)
      __builtin_trap();
    sshmux__jsonw_strn(w, n->str, n->str_len);
    break;
  case SSHMUX__JSON_ARRAY:
  case SSHMUX__JSON_OBJECT:
    if (n->type == SSHMUX__JSON_OBJECT)
      sshmux__jsonw_obj_open(w);
    else
      sshmux__jsonw_arr_open(w);
    for (c = n->child; c != NULL; c = c->next) {
      if (n->type == SSHMUX__JSON_OBJECT)
        sshmux__jsonw_key(w, c->key);
      rewrite(w, c);
    }
    if (n->type == SSHMUX__JSON_OBJECT)
      sshmux__jsonw_obj_close(w);
    else
      sshmux__jsonw_arr_close(w);
    break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static sshmux__linebuf_t lb;
  const char *p = (const char *)data;
  size_t n = size, step = size > 0 ? (size_t)data[0] % 7 + 1 : 1;

  sshmux__linebuf_init(&lb);
  while (n > 0) {
    size_t piece = n < step ? n : step, rest;
    const char *q = p;
    rest = piece;
    while (rest > 0) {
      char *line;
      size_t len;
      int r = sshmux__linebuf_take(&lb, &q, &rest, &line, &len);
      if (r == 1) {
        sshmux__json_t *j = NULL;
        if (len > SSHMUX__LINE_MAX)
          __builtin_trap();
        if (sshmux__json_parse(line, len, &j) == 0) {
          sshmux__jsonw_t w;
          sshmux__json_t *again = NULL;
          sshmux__jsonw_init(&w, 8 * SSHMUX__LINE_MAX);
          rewrite(&w, j);
          if (w.err == 0 && sshmux__json_parse(w.s, w.len, &again) != 0)
            __builtin_trap();
          sshmux__json_free(again);
          sshmux__jsonw_free(&w);
          sshmux__json_free(j);
        }
      }
    }
    p += piece;
    n -= piece;
  }
  return 0;
}
