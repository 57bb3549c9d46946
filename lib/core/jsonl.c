/* jsonl.c -- the bounded JSON-lines codec (see jsonl.h for the contract).
 *
 * The parser runs twice over its input: the first pass validates and
 * counts nodes, the second fills one allocation sized exactly (nodes
 * followed by the decoded strings, which are never longer than their
 * encoded form).  So the tree is one block, children can point at each
 * other without fix-ups, and the memory used is bounded by the input:
 * every node consumes at least one input byte.  Recursion depth is capped
 * at SSHMUX__JSON_MAX_DEPTH. */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/jsonl.h"

/* ---- line framer ---- */

void sshmux__linebuf_init(sshmux__linebuf_t *lb) {
  lb->len = 0;
  lb->discarding = 0;
  lb->buf[0] = '\0';
}

size_t sshmux__linebuf_pending(const sshmux__linebuf_t *lb) {
  return lb->len;
}

int sshmux__linebuf_take(sshmux__linebuf_t *lb, const char **data, size_t *n,
                         char **line, size_t *len) {
  const char *nl = memchr(*data, '\n', *n);
  size_t chunk = nl != NULL ? (size_t)(nl - *data) : *n;
  size_t used = nl != NULL ? chunk + 1 : chunk;

  if (lb->discarding) {
    *data += used;
    *n -= used;
    if (nl != NULL)
      lb->discarding = 0;
    return 0;
  }
  if (chunk > SSHMUX__LINE_MAX - lb->len) {
    /* Too long: forget what we held and skip to the end of this line. */
    lb->len = 0;
    lb->discarding = nl == NULL;
    *data += used;
    *n -= used;
    return SSHMUX_ETOOLONG;
  }
  memcpy(lb->buf + lb->len, *data, chunk);
  lb->len += chunk;
  *data += used;
  *n -= used;
  if (nl == NULL)
    return 0;
  if (lb->len > 0 && lb->buf[lb->len - 1] == '\r')
    lb->len--;
  lb->buf[lb->len] = '\0';
  *line = lb->buf;
  *len = lb->len;
  lb->len = 0;
  return 1;
}

/* ---- parser ---- */

typedef struct {
  const char *in;
  size_t len, pos;
  /* Second pass only: where nodes and strings go. */
  sshmux__json_t *nodes;
  char *strs;
  size_t nnodes, nstrs;
} parser_t;

static void skip_ws(parser_t *p) {
  while (p->pos < p->len && (p->in[p->pos] == ' ' || p->in[p->pos] == '\t' ||
                             p->in[p->pos] == '\n' || p->in[p->pos] == '\r'))
    p->pos++;
}

static int hex4(parser_t *p, unsigned *out) {
  unsigned v = 0;

  if (p->len - p->pos < 4)
    return SSHMUX_EBADFORMAT;
  for (int i = 0; i < 4; i++) {
    char c = p->in[p->pos++];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return SSHMUX_EBADFORMAT;
  }
  *out = v;
  return 0;
}

static void put(parser_t *p, char c, size_t *n) {
  if (p->strs != NULL)
    p->strs[p->nstrs + *n] = c;
  (*n)++;
}

static void put_utf8(parser_t *p, unsigned cp, size_t *n) {
  if (cp < 0x80) {
    put(p, (char)cp, n);
  } else if (cp < 0x800) {
    put(p, (char)(0xC0 | (cp >> 6)), n);
    put(p, (char)(0x80 | (cp & 0x3F)), n);
  } else if (cp < 0x10000) {
    put(p, (char)(0xE0 | (cp >> 12)), n);
    put(p, (char)(0x80 | ((cp >> 6) & 0x3F)), n);
    put(p, (char)(0x80 | (cp & 0x3F)), n);
  } else {
    put(p, (char)(0xF0 | (cp >> 18)), n);
    put(p, (char)(0x80 | ((cp >> 12) & 0x3F)), n);
    put(p, (char)(0x80 | ((cp >> 6) & 0x3F)), n);
    put(p, (char)(0x80 | (cp & 0x3F)), n);
  }
}

/* Length of the valid UTF-8 sequence starting at s (at most avail bytes),
 * or 0 if invalid (overlong, surrogate, > U+10FFFF, truncated). */
static size_t utf8_len(const unsigned char *s, size_t avail) {
  unsigned c = s[0], cp;
  size_t n, i;

  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF)
    n = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 4, cp = c & 0x07;
  else
    return 0;
  if (avail < n)
    return 0;
  for (i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

/* A string at p->pos (the opening quote).  In the second pass the decoded
 * text is appended to strs and *out points at it. */
static int parse_string(parser_t *p, const char **out, size_t *out_len) {
  size_t n = 0;

  if (p->pos >= p->len || p->in[p->pos] != '"')
    return SSHMUX_EBADFORMAT;
  p->pos++;
  for (;;) {
    unsigned char c;
    if (p->pos >= p->len)
      return SSHMUX_EBADFORMAT;
    c = (unsigned char)p->in[p->pos];
    if (c == '"') {
      p->pos++;
      break;
    }
    if (c < 0x20)
      return SSHMUX_EBADFORMAT;
    if (c == '\\') {
      char e;
      unsigned cp, lo;
      p->pos++;
      if (p->pos >= p->len)
        return SSHMUX_EBADFORMAT;
      e = p->in[p->pos++];
      switch (e) {
      case '"':
      case '\\':
      case '/':
        put(p, e, &n);
        break;
      case 'b':
        put(p, '\b', &n);
        break;
      case 'f':
        put(p, '\f', &n);
        break;
      case 'n':
        put(p, '\n', &n);
        break;
      case 'r':
        put(p, '\r', &n);
        break;
      case 't':
        put(p, '\t', &n);
        break;
      case 'u':
        if (hex4(p, &cp) != 0 || cp == 0)
          return SSHMUX_EBADFORMAT;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
          return SSHMUX_EBADFORMAT; /* lone low surrogate */
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (p->len - p->pos < 2 || p->in[p->pos] != '\\' ||
              p->in[p->pos + 1] != 'u')
            return SSHMUX_EBADFORMAT;
          p->pos += 2;
          if (hex4(p, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
            return SSHMUX_EBADFORMAT;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        put_utf8(p, cp, &n);
        break;
      default:
        return SSHMUX_EBADFORMAT;
      }
      continue;
    }
    {
      size_t u =
          utf8_len((const unsigned char *)p->in + p->pos, p->len - p->pos);
      if (u == 0)
        return SSHMUX_EBADFORMAT;
      for (size_t i = 0; i < u; i++)
        put(p, p->in[p->pos + i], &n);
      p->pos += u;
    }
  }
  if (p->strs != NULL) {
    p->strs[p->nstrs + n] = '\0';
    *out = p->strs + p->nstrs;
  }
  *out_len = n;
  p->nstrs += n + 1;
  return 0;
}

static int parse_int(parser_t *p, int64_t *out) {
  int neg = 0;
  uint64_t v = 0, lim;
  size_t start;

  if (p->in[p->pos] == '-') {
    neg = 1;
    p->pos++;
  }
  start = p->pos;
  if (p->pos >= p->len || p->in[p->pos] < '0' || p->in[p->pos] > '9')
    return SSHMUX_EBADFORMAT;
  if (p->in[p->pos] == '0' && p->pos + 1 < p->len && p->in[p->pos + 1] >= '0' &&
      p->in[p->pos + 1] <= '9')
    return SSHMUX_EBADFORMAT; /* leading zero */
  lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  while (p->pos < p->len && p->in[p->pos] >= '0' && p->in[p->pos] <= '9') {
    unsigned d = (unsigned)(p->in[p->pos] - '0');
    if (v > (lim - d) / 10)
      return SSHMUX_ETOOLONG;
    v = v * 10 + d;
    p->pos++;
  }
  if (p->pos < p->len &&
      (p->in[p->pos] == '.' || p->in[p->pos] == 'e' || p->in[p->pos] == 'E'))
    return SSHMUX_EBADFORMAT; /* integers only */
  (void)start;
  *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v)
             : (int64_t)v;
  return 0;
}

static int literal(parser_t *p, const char *word) {
  size_t n = strlen(word);
  if (p->len - p->pos < n || memcmp(p->in + p->pos, word, n) != 0)
    return SSHMUX_EBADFORMAT;
  p->pos += n;
  return 0;
}

static sshmux__json_t *new_node(parser_t *p) {
  sshmux__json_t *nd = NULL;
  if (p->nodes != NULL) {
    nd = &p->nodes[p->nnodes];
    memset(nd, 0, sizeof(*nd));
  }
  p->nnodes++;
  return nd;
}

static int parse_value(parser_t *p, int depth, sshmux__json_t *nd);

/* Members or elements of an object/array at p->pos (the opening bracket). */
static int parse_container(parser_t *p, int depth, sshmux__json_t *nd,
                           int is_obj) {
  char close = is_obj ? '}' : ']';
  sshmux__json_t *last = NULL;
  size_t count = 0;
  int r;

  if (depth >= SSHMUX__JSON_MAX_DEPTH)
    return SSHMUX_ETOOLONG;
  p->pos++;
  skip_ws(p);
  if (p->pos < p->len && p->in[p->pos] == close) {
    p->pos++;
    return 0;
  }
  for (;;) {
    const char *key = NULL;
    size_t klen = 0;
    sshmux__json_t *child;

    skip_ws(p);
    if (is_obj) {
      if ((r = parse_string(p, &key, &klen)) != 0)
        return r;
      skip_ws(p);
      if (p->pos >= p->len || p->in[p->pos] != ':')
        return SSHMUX_EBADFORMAT;
      p->pos++;
      skip_ws(p);
      /* Duplicate keys are refused: two readers of one message must never
       * disagree about what it says.  (Second pass only: keys exist then;
       * the first pass accepted the same text.) */
      if (nd != NULL)
        for (sshmux__json_t *c = nd->child; c != NULL; c = c->next)
          if (strcmp(c->key, key) == 0)
            return SSHMUX_EBADFORMAT;
    }
    child = new_node(p);
    if ((r = parse_value(p, depth + 1, child)) != 0)
      return r;
    if (nd != NULL) {
      child->key = key;
      if (last == NULL)
        nd->child = child;
      else
        last->next = child;
    }
    last = child;
    count++;
    skip_ws(p);
    if (p->pos >= p->len)
      return SSHMUX_EBADFORMAT;
    if (p->in[p->pos] == ',') {
      p->pos++;
      continue;
    }
    if (p->in[p->pos] != close)
      return SSHMUX_EBADFORMAT;
    p->pos++;
    break;
  }
  if (nd != NULL)
    nd->count = count;
  return 0;
}

static int parse_value(parser_t *p, int depth, sshmux__json_t *nd) {
  sshmux__json_t tmp;
  const char *s = NULL;
  size_t slen = 0;
  int r;

  if (nd == NULL)
    nd = &tmp, memset(&tmp, 0, sizeof(tmp));
  skip_ws(p);
  if (p->pos >= p->len)
    return SSHMUX_EBADFORMAT;
  switch (p->in[p->pos]) {
  case '{':
    nd->type = SSHMUX__JSON_OBJECT;
    return parse_container(p, depth, nd == &tmp ? NULL : nd, 1);
  case '[':
    nd->type = SSHMUX__JSON_ARRAY;
    return parse_container(p, depth, nd == &tmp ? NULL : nd, 0);
  case '"':
    nd->type = SSHMUX__JSON_STRING;
    if ((r = parse_string(p, &s, &slen)) != 0)
      return r;
    nd->str = s;
    nd->str_len = slen;
    return 0;
  case 't':
    nd->type = SSHMUX__JSON_BOOL;
    nd->num = 1;
    return literal(p, "true");
  case 'f':
    nd->type = SSHMUX__JSON_BOOL;
    return literal(p, "false");
  case 'n':
    nd->type = SSHMUX__JSON_NULL;
    return literal(p, "null");
  default:
    nd->type = SSHMUX__JSON_INT;
    return parse_int(p, &nd->num);
  }
}

static int parse_all(parser_t *p) {
  sshmux__json_t *root = new_node(p);
  int r = parse_value(p, 0, root);

  if (r != 0)
    return r;
  skip_ws(p);
  return p->pos == p->len ? 0 : SSHMUX_EBADFORMAT;
}

int sshmux__json_parse(const char *in, size_t len, sshmux__json_t **root) {
  parser_t p;
  size_t nodes, total;
  sshmux__json_t *block;
  int r;

  *root = NULL;
  memset(&p, 0, sizeof(p));
  p.in = in;
  p.len = len;
  if ((r = parse_all(&p)) != 0)
    return r;
  /* Slot 0 of the block records its size, so freeing can wipe it all
   * (the strings may be prompt answers); the tree starts at slot 1. */
  nodes = p.nnodes + 1;
  if (nodes > SIZE_MAX / sizeof(sshmux__json_t) / 2 || p.nstrs > SIZE_MAX / 2)
    return SSHMUX_ENOMEM;
  total = nodes * sizeof(sshmux__json_t) + p.nstrs + 1;
  if ((block = sshmux__malloc(total)) == NULL)
    return SSHMUX_ENOMEM;
  memset(block, 0, sizeof(*block));
  block->num = (int64_t)total;
  memset(&p, 0, sizeof(p));
  p.in = in;
  p.len = len;
  p.nodes = block + 1;
  p.strs = (char *)(block + nodes);
  if ((r = parse_all(&p)) != 0) {
    /* Only duplicate keys can fail here (the first pass cannot see
     * them). */
    sshmux__free_secret(block, total);
    return r;
  }
  *root = block + 1;
  return 0;
}

void sshmux__json_free(sshmux__json_t *root) {
  sshmux__json_t *block;

  if (root == NULL)
    return;
  block = root - 1;
  sshmux__free_secret(block, (size_t)block->num);
}

const sshmux__json_t *sshmux__json_get(const sshmux__json_t *obj,
                                       const char *key) {
  if (obj == NULL || obj->type != SSHMUX__JSON_OBJECT)
    return NULL;
  for (const sshmux__json_t *c = obj->child; c != NULL; c = c->next)
    if (strcmp(c->key, key) == 0)
      return c;
  return NULL;
}

const char *sshmux__json_get_str(const sshmux__json_t *obj, const char *key) {
  const sshmux__json_t *v = sshmux__json_get(obj, key);
  return v != NULL && v->type == SSHMUX__JSON_STRING ? v->str : NULL;
}

int64_t sshmux__json_get_int(const sshmux__json_t *obj, const char *key,
                             int64_t dflt) {
  const sshmux__json_t *v = sshmux__json_get(obj, key);
  return v != NULL && v->type == SSHMUX__JSON_INT ? v->num : dflt;
}

int sshmux__json_get_bool(const sshmux__json_t *obj, const char *key,
                          int dflt) {
  const sshmux__json_t *v = sshmux__json_get(obj, key);
  return v != NULL && v->type == SSHMUX__JSON_BOOL ? (int)v->num : dflt;
}

/* ---- writer ---- */

void sshmux__jsonw_init(sshmux__jsonw_t *w, size_t max) {
  memset(w, 0, sizeof(*w));
  w->max = max;
}

void sshmux__jsonw_free(sshmux__jsonw_t *w) {
  if (w->s != NULL)
    sshmux__free_secret(w->s, w->cap);
  w->s = NULL;
  w->len = w->cap = 0;
}

static void emit(sshmux__jsonw_t *w, const char *data, size_t n) {
  if (w->err != 0)
    return;
  if (n > w->max - w->len) {
    w->err = SSHMUX_ETOOLONG;
    return;
  }
  if (w->len + n + 1 > w->cap) {
    size_t cap = SSHMUX__MAX(w->cap * 2, w->len + n + 1);
    char *s;
    if (cap < 256)
      cap = 256;
    if (cap > w->max + 1)
      cap = w->max + 1;
    if ((s = sshmux__malloc(cap)) == NULL) {
      w->err = SSHMUX_ENOMEM;
      return;
    }
    if (w->s != NULL) {
      memcpy(s, w->s, w->len);
      sshmux__free_secret(w->s, w->cap);
    }
    w->s = s;
    w->cap = cap;
  }
  memcpy(w->s + w->len, data, n);
  w->len += n;
  w->s[w->len] = '\0';
}

/* Separator before a value or key at the current level. */
static void sep(sshmux__jsonw_t *w) {
  if (w->after_key) {
    w->after_key = 0;
    return;
  }
  if (w->need_comma[w->depth])
    emit(w, ",", 1);
  w->need_comma[w->depth] = 1;
}

static void open_c(sshmux__jsonw_t *w, char c) {
  sep(w);
  if (w->depth >= SSHMUX__JSON_MAX_DEPTH) {
    w->err = w->err ? w->err : SSHMUX_ETOOLONG;
    return;
  }
  emit(w, &c, 1);
  w->need_comma[++w->depth] = 0;
}

static void close_c(sshmux__jsonw_t *w, char c) {
  if (w->depth > 0)
    w->depth--;
  emit(w, &c, 1);
}

void sshmux__jsonw_obj_open(sshmux__jsonw_t *w) {
  open_c(w, '{');
}
void sshmux__jsonw_obj_close(sshmux__jsonw_t *w) {
  close_c(w, '}');
}
void sshmux__jsonw_arr_open(sshmux__jsonw_t *w) {
  open_c(w, '[');
}
void sshmux__jsonw_arr_close(sshmux__jsonw_t *w) {
  close_c(w, ']');
}

static void raw_string(sshmux__jsonw_t *w, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t i = 0, start = 0;

  emit(w, "\"", 1);
  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    size_t u;
    char esc[8];
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      i++;
      continue;
    }
    u = c >= 0x80 ? utf8_len((const unsigned char *)s + i, n - i) : 0;
    if (u > 0) {
      i += u; /* valid UTF-8 passes through */
      continue;
    }
    emit(w, s + start, i - start);
    esc[0] = '\\';
    if (c == '"' || c == '\\') {
      esc[1] = (char)c;
      emit(w, esc, 2);
    } else if (c == '\n') {
      emit(w, "\\n", 2);
    } else if (c == '\t') {
      emit(w, "\\t", 2);
    } else if (c < 0x80) {
      esc[1] = 'u', esc[2] = '0', esc[3] = '0';
      esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
      emit(w, esc, 6);
    } else {
      emit(w, "\\ufffd", 6); /* invalid UTF-8 byte */
    }
    i++;
    start = i;
  }
  emit(w, s + start, i - start);
  emit(w, "\"", 1);
}

void sshmux__jsonw_key(sshmux__jsonw_t *w, const char *key) {
  sep(w);
  raw_string(w, key, strlen(key));
  emit(w, ":", 1);
  w->after_key = 1;
}

void sshmux__jsonw_strn(sshmux__jsonw_t *w, const char *s, size_t n) {
  sep(w);
  raw_string(w, s, n);
}

void sshmux__jsonw_str(sshmux__jsonw_t *w, const char *s) {
  if (s == NULL) {
    sshmux__jsonw_null(w);
    return;
  }
  sshmux__jsonw_strn(w, s, strlen(s));
}

void sshmux__jsonw_int(sshmux__jsonw_t *w, int64_t v) {
  char b[32];
  int n = snprintf(b, sizeof(b), "%lld", (long long)v);
  sep(w);
  emit(w, b, (size_t)n);
}

void sshmux__jsonw_uint(sshmux__jsonw_t *w, uint64_t v) {
  char b[32];
  int n;
  /* The parser takes int64 only: clamp so what we write reads back. */
  if (v > (uint64_t)INT64_MAX)
    v = (uint64_t)INT64_MAX;
  n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
  sep(w);
  emit(w, b, (size_t)n);
}

void sshmux__jsonw_bool(sshmux__jsonw_t *w, int v) {
  sep(w);
  emit(w, v ? "true" : "false", v ? 4 : 5);
}

void sshmux__jsonw_null(sshmux__jsonw_t *w) {
  sep(w);
  emit(w, "null", 4);
}

void sshmux__jsonw_kstr(sshmux__jsonw_t *w, const char *key, const char *s) {
  sshmux__jsonw_key(w, key);
  sshmux__jsonw_str(w, s);
}
void sshmux__jsonw_kint(sshmux__jsonw_t *w, const char *key, int64_t v) {
  sshmux__jsonw_key(w, key);
  sshmux__jsonw_int(w, v);
}
void sshmux__jsonw_kuint(sshmux__jsonw_t *w, const char *key, uint64_t v) {
  sshmux__jsonw_key(w, key);
  sshmux__jsonw_uint(w, v);
}
void sshmux__jsonw_kbool(sshmux__jsonw_t *w, const char *key, int v) {
  sshmux__jsonw_key(w, key);
  sshmux__jsonw_bool(w, v);
}

int sshmux__jsonw_line(sshmux__jsonw_t *w) {
  emit(w, "\n", 1);
  return w->err;
}
