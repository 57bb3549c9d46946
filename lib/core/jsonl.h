/* jsonl.h -- a strict, bounded JSON-lines codec for control protocols (the
 * daemon's IPC, and any embedder that wants to talk to it).
 *
 * Three small parts:
 *  - a line framer that cuts a byte stream into lines of at most a fixed
 *    size and reports (once) a line that is longer, skipping the rest of it,
 *    so a peer can never make us buffer more than the limit;
 *  - a parser for one JSON text into a tree of nodes held in one
 *    allocation pair (nodes + decoded strings), with a nesting limit,
 *    integers only (no fractions or exponents: the protocol needs none),
 *    strict UTF-8, no NUL in strings and no duplicate keys;
 *  - a writer that appends JSON to a growable string capped at creation,
 *    escaping everything that is not printable ASCII-safe.
 * Nothing here reads past its input, recurses deeper than the nesting
 * limit, or allocates more than a small multiple of the input length. */
#ifndef SSHMUX_JSONL_H
#define SSHMUX_JSONL_H

#include <stddef.h>
#include <stdint.h>

/* ---- line framer ---- */

/* The largest line the framer keeps, newline excluded. */
#define SSHMUX__LINE_MAX 8192

typedef struct {
  size_t len;     /* bytes of the current partial line in buf */
  int discarding; /* inside an over-long line: drop up to its newline */
  char buf[SSHMUX__LINE_MAX + 1];
} sshmux__linebuf_t;

void sshmux__linebuf_init(sshmux__linebuf_t *lb);
/* Consume bytes from (*data, *n) up to and including the first newline.
 * Returns 1 with *line (NUL-terminated, newline and a trailing CR removed,
 * valid until the next call) and *len when a whole line is ready;
 * SSHMUX_ETOOLONG once when the current line passes SSHMUX__LINE_MAX (its
 * remaining bytes are then skipped up to and including its newline); 0
 * when all input was consumed without completing a line.  *data and *n
 * are advanced past what was consumed; call again while *n > 0. */
int sshmux__linebuf_take(sshmux__linebuf_t *lb, const char **data, size_t *n,
                         char **line, size_t *len);
/* Bytes held of an incomplete line. */
size_t sshmux__linebuf_pending(const sshmux__linebuf_t *lb);

/* ---- parser ---- */

typedef enum {
  SSHMUX__JSON_NULL = 0,
  SSHMUX__JSON_BOOL,
  SSHMUX__JSON_INT,
  SSHMUX__JSON_STRING,
  SSHMUX__JSON_ARRAY,
  SSHMUX__JSON_OBJECT
} sshmux__json_type_t;

/* Deepest nesting of arrays/objects accepted. */
#define SSHMUX__JSON_MAX_DEPTH 16

typedef struct sshmux__json_s sshmux__json_t;
struct sshmux__json_s {
  sshmux__json_type_t type;
  const char *key;       /* member name inside an object, else NULL */
  const char *str;       /* STRING: decoded, NUL-terminated (no inner NUL) */
  size_t str_len;        /* STRING: length of str */
  int64_t num;           /* INT value; BOOL 0/1 */
  size_t count;          /* ARRAY/OBJECT: number of children */
  sshmux__json_t *child; /* ARRAY/OBJECT: first child */
  sshmux__json_t *next;  /* next sibling */
};

/* Parse exactly one JSON value from in[0..len) (white space around it
 * allowed, nothing else).  On success *root is a tree owned by the caller
 * (free with sshmux__json_free).  SSHMUX_EBADFORMAT for anything that is
 * not strict JSON as described above, SSHMUX_ETOOLONG for nesting deeper
 * than SSHMUX__JSON_MAX_DEPTH or an integer out of int64 range,
 * SSHMUX_ENOMEM. */
int sshmux__json_parse(const char *in, size_t len, sshmux__json_t **root);
void sshmux__json_free(sshmux__json_t *root);
/* The member named key of an object (NULL if absent or obj is not one). */
const sshmux__json_t *sshmux__json_get(const sshmux__json_t *obj,
                                       const char *key);
/* Typed look-ups: the member's value, or NULL / dflt when absent or of
 * another type. */
const char *sshmux__json_get_str(const sshmux__json_t *obj, const char *key);
int64_t sshmux__json_get_int(const sshmux__json_t *obj, const char *key,
                             int64_t dflt);
int sshmux__json_get_bool(const sshmux__json_t *obj, const char *key, int dflt);

/* ---- writer ---- */

typedef struct {
  char *s;    /* NUL-terminated output (NULL until the first byte) */
  size_t len; /* bytes written */
  size_t cap; /* allocated */
  size_t max; /* never grows past this many bytes */
  int err;    /* first error (SSHMUX_ETOOLONG / SSHMUX_ENOMEM), sticky */
  int depth;  /* open arrays/objects */
  int need_comma[SSHMUX__JSON_MAX_DEPTH + 1];
  int after_key;
} sshmux__jsonw_t;

void sshmux__jsonw_init(sshmux__jsonw_t *w, size_t max);
/* Release the output (wiped first: answers to prompts pass through). */
void sshmux__jsonw_free(sshmux__jsonw_t *w);
void sshmux__jsonw_obj_open(sshmux__jsonw_t *w);
void sshmux__jsonw_obj_close(sshmux__jsonw_t *w);
void sshmux__jsonw_arr_open(sshmux__jsonw_t *w);
void sshmux__jsonw_arr_close(sshmux__jsonw_t *w);
/* A member name inside an object; the next value is its value. */
void sshmux__jsonw_key(sshmux__jsonw_t *w, const char *key);
void sshmux__jsonw_str(sshmux__jsonw_t *w, const char *s);
void sshmux__jsonw_strn(sshmux__jsonw_t *w, const char *s, size_t n);
void sshmux__jsonw_int(sshmux__jsonw_t *w, int64_t v);
void sshmux__jsonw_uint(sshmux__jsonw_t *w, uint64_t v);
void sshmux__jsonw_bool(sshmux__jsonw_t *w, int v);
void sshmux__jsonw_null(sshmux__jsonw_t *w);
/* Shorthands for key + value. */
void sshmux__jsonw_kstr(sshmux__jsonw_t *w, const char *key, const char *s);
void sshmux__jsonw_kint(sshmux__jsonw_t *w, const char *key, int64_t v);
void sshmux__jsonw_kuint(sshmux__jsonw_t *w, const char *key, uint64_t v);
void sshmux__jsonw_kbool(sshmux__jsonw_t *w, const char *key, int v);
/* Append a newline (end of one JSON-lines record).  Returns w->err. */
int sshmux__jsonw_line(sshmux__jsonw_t *w);

#endif
