/* buf.c -- the bounds-checked SSH wire buffer.  See buf.h for the contract.
 * Every reader checks the remaining length before touching a byte and only
 * moves the cursor after the whole value has been validated. */
#include <string.h>

#include "core/buf.h"
#include "core/core.h"

void sshmux__buf_init(sshmux__buf_t *b, size_t max) {
  memset(b, 0, sizeof(*b));
  b->max = max;
  b->owned = 1;
}

void sshmux__buf_view(sshmux__buf_t *b, const void *data, size_t len) {
  memset(b, 0, sizeof(*b));
  /* The view never writes through data; the cast only fits the struct. */
  b->data = (uint8_t *)(uintptr_t)data;
  b->len = len;
  b->cap = len;
  b->max = len;
}

void sshmux__buf_set_secret(sshmux__buf_t *b) {
  b->secret = 1;
}

void sshmux__buf_free(sshmux__buf_t *b) {
  if (b->owned) {
    if (b->secret)
      sshmux__wipe(b->data, b->cap);
    sshmux__free(b->data);
    b->data = NULL;
    b->cap = 0;
  }
  b->len = 0;
  b->pos = 0;
}

void sshmux__buf_reset(sshmux__buf_t *b) {
  if (b->owned && b->secret)
    sshmux__wipe(b->data, b->len);
  if (b->owned)
    b->len = 0;
  else
    b->len = b->pos = 0;
  b->pos = 0;
}

void sshmux__buf_compact(sshmux__buf_t *b) {
  size_t rest;

  if (!b->owned || b->pos == 0)
    return;
  rest = b->len - b->pos;
  memmove(b->data, b->data + b->pos, rest);
  if (b->secret)
    sshmux__wipe(b->data + rest, b->pos);
  b->len = rest;
  b->pos = 0;
}

/* ---- readers ---- */

int sshmux__buf_get_bytes(sshmux__buf_t *b, size_t n, const uint8_t **p) {
  if (sshmux__buf_remaining(b) < n)
    return SSHMUX_ETRUNCATED;
  *p = b->data + b->pos;
  b->pos += n;
  return 0;
}

int sshmux__buf_get_u8(sshmux__buf_t *b, uint8_t *v) {
  if (sshmux__buf_remaining(b) < 1)
    return SSHMUX_ETRUNCATED;
  *v = b->data[b->pos++];
  return 0;
}

int sshmux__buf_get_bool(sshmux__buf_t *b, int *v) {
  uint8_t c;
  int r = sshmux__buf_get_u8(b, &c);

  if (r == 0)
    *v = c != 0;
  return r;
}

int sshmux__buf_get_u32(sshmux__buf_t *b, uint32_t *v) {
  if (sshmux__buf_remaining(b) < 4)
    return SSHMUX_ETRUNCATED;
  *v = sshmux__load_be32(b->data + b->pos);
  b->pos += 4;
  return 0;
}

int sshmux__buf_get_u64(sshmux__buf_t *b, uint64_t *v) {
  if (sshmux__buf_remaining(b) < 8)
    return SSHMUX_ETRUNCATED;
  *v = sshmux__load_be64(b->data + b->pos);
  b->pos += 8;
  return 0;
}

int sshmux__buf_get_string(sshmux__buf_t *b, size_t maxlen, const uint8_t **p,
                           size_t *n) {
  uint32_t len;

  if (sshmux__buf_remaining(b) < 4)
    return SSHMUX_ETRUNCATED;
  len = sshmux__load_be32(b->data + b->pos);
  if (len > maxlen)
    return SSHMUX_ETOOLONG;
  if (sshmux__buf_remaining(b) - 4 < len)
    return SSHMUX_ETRUNCATED;
  *p = b->data + b->pos + 4;
  *n = len;
  b->pos += 4 + (size_t)len;
  return 0;
}

int sshmux__buf_get_cstring(sshmux__buf_t *b, size_t maxlen, char **s) {
  size_t save = b->pos, n;
  const uint8_t *p;
  char *out;
  int r;

  if ((r = sshmux__buf_get_string(b, maxlen, &p, &n)) != 0)
    return r;
  if (memchr(p, '\0', n) != NULL) {
    b->pos = save;
    return SSHMUX_EBADFORMAT;
  }
  out = sshmux__malloc(n + 1);
  if (out == NULL) {
    b->pos = save;
    return SSHMUX_ENOMEM;
  }
  memcpy(out, p, n);
  out[n] = '\0';
  *s = out;
  return 0;
}

int sshmux__buf_get_mpint(sshmux__buf_t *b, size_t maxlen, const uint8_t **p,
                          size_t *n) {
  size_t save = b->pos, len;
  const uint8_t *q;
  int r;

  /* maxlen bounds the magnitude; the encoding may carry one extra byte. */
  if ((r = sshmux__buf_get_string(b, maxlen + 1, &q, &len)) != 0)
    return r;
  if (len > 0 && (q[0] & 0x80)) { /* negative */
    b->pos = save;
    return SSHMUX_EBADFORMAT;
  }
  if (len > 0 && q[0] == 0) {
    /* A zero byte is only allowed to keep the next byte's top bit clear. */
    if (len == 1 || (q[1] & 0x80) == 0) {
      b->pos = save;
      return SSHMUX_EBADFORMAT;
    }
    q++;
    len--;
  }
  if (len > maxlen) {
    b->pos = save;
    return SSHMUX_ETOOLONG;
  }
  *p = q;
  *n = len;
  return 0;
}

int sshmux__buf_get_namelist(sshmux__buf_t *b, size_t maxlen, const uint8_t **p,
                             size_t *n) {
  size_t save = b->pos, len, i;
  const uint8_t *q;
  int r;

  if ((r = sshmux__buf_get_string(b, maxlen, &q, &len)) != 0)
    return r;
  for (i = 0; i < len; i++) {
    int bad = q[i] <= 0x20 || q[i] >= 0x7f;
    /* Empty names: a leading, trailing or doubled comma. */
    if (q[i] == ',' && (i == 0 || i == len - 1 || q[i - 1] == ','))
      bad = 1;
    if (bad) {
      b->pos = save;
      return SSHMUX_EBADFORMAT;
    }
  }
  *p = q;
  *n = len;
  return 0;
}

/* ---- writers ---- */

int sshmux__buf_reserve(sshmux__buf_t *b, size_t n) {
  size_t need, ncap;
  uint8_t *nd;

  if (!b->owned)
    return SSHMUX_EINVAL;
  if (n > b->max || b->len > b->max - n)
    return SSHMUX_ETOOLONG;
  need = b->len + n;
  if (need <= b->cap)
    return 0;
  ncap = b->cap ? b->cap : 64;
  while (ncap < need)
    ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
  if (ncap > b->max)
    ncap = b->max;
  if (b->secret) {
    /* realloc could leave a copy of the secret behind: move it by hand. */
    nd = sshmux__malloc(ncap);
    if (nd == NULL)
      return SSHMUX_ENOMEM;
    if (b->len)
      memcpy(nd, b->data, b->len);
    sshmux__free_secret(b->data, b->cap);
  } else {
    nd = sshmux__realloc(b->data, ncap);
    if (nd == NULL)
      return SSHMUX_ENOMEM;
  }
  b->data = nd;
  b->cap = ncap;
  return 0;
}

int sshmux__buf_put_space(sshmux__buf_t *b, size_t n, uint8_t **p) {
  int r = sshmux__buf_reserve(b, n);

  if (r != 0)
    return r;
  /* Zero bytes on a buffer never written to: no storage, and NULL + 0 is
   * undefined; nothing may be written through *p then anyway. */
  *p = b->data != NULL ? b->data + b->len : NULL;
  b->len += n;
  return 0;
}

int sshmux__buf_put_bytes(sshmux__buf_t *b, const void *p, size_t n) {
  uint8_t *d;
  int r = sshmux__buf_put_space(b, n, &d);

  if (r == 0 && n)
    memcpy(d, p, n);
  return r;
}

int sshmux__buf_put_u8(sshmux__buf_t *b, uint8_t v) {
  return sshmux__buf_put_bytes(b, &v, 1);
}

int sshmux__buf_put_bool(sshmux__buf_t *b, int v) {
  return sshmux__buf_put_u8(b, v ? 1 : 0);
}

int sshmux__buf_put_u32(sshmux__buf_t *b, uint32_t v) {
  uint8_t t[4];

  sshmux__store_be32(t, v);
  return sshmux__buf_put_bytes(b, t, 4);
}

int sshmux__buf_put_u64(sshmux__buf_t *b, uint64_t v) {
  uint8_t t[8];

  sshmux__store_be64(t, v);
  return sshmux__buf_put_bytes(b, t, 8);
}

int sshmux__buf_put_string(sshmux__buf_t *b, const void *p, size_t n) {
  uint8_t *d;
  int r;

  if (n > UINT32_MAX)
    return SSHMUX_ETOOLONG;
  if ((r = sshmux__buf_put_space(b, 4 + n, &d)) != 0)
    return r;
  sshmux__store_be32(d, (uint32_t)n);
  if (n)
    memcpy(d + 4, p, n);
  return 0;
}

int sshmux__buf_put_cstring(sshmux__buf_t *b, const char *s) {
  return sshmux__buf_put_string(b, s, strlen(s));
}

int sshmux__buf_put_mpint(sshmux__buf_t *b, const uint8_t *mag, size_t n) {
  size_t pad;
  uint8_t *d;
  int r;

  while (n > 0 && mag[0] == 0) {
    mag++;
    n--;
  }
  pad = (n > 0 && (mag[0] & 0x80)) ? 1 : 0;
  if (n + pad > UINT32_MAX)
    return SSHMUX_ETOOLONG;
  if ((r = sshmux__buf_put_space(b, 4 + pad + n, &d)) != 0)
    return r;
  sshmux__store_be32(d, (uint32_t)(n + pad));
  if (pad)
    d[4] = 0;
  if (n)
    memcpy(d + 4 + pad, mag, n);
  return 0;
}

/* ---- name-lists ---- */

int sshmux__namelist_has(const uint8_t *nl, size_t n, const char *name) {
  size_t nlen = strlen(name), i = 0;

  while (i <= n) {
    size_t j = i;
    while (j < n && nl[j] != ',')
      j++;
    if (j - i == nlen && memcmp(nl + i, name, nlen) == 0)
      return 1;
    i = j + 1;
  }
  return 0;
}

int sshmux__namelist_negotiate(const uint8_t *client_list, size_t cn,
                               const char *server_list, char *out,
                               size_t outsz) {
  size_t i = 0;

  while (i < cn) {
    size_t j = i;
    while (j < cn && client_list[j] != ',')
      j++;
    if (j > i) {
      const char *s = server_list;
      size_t len = j - i;
      while (*s) {
        const char *e = strchr(s, ',');
        size_t sl = e ? (size_t)(e - s) : strlen(s);
        if (sl == len && memcmp(s, client_list + i, len) == 0) {
          if (len + 1 > outsz)
            return SSHMUX_ETOOLONG;
          memcpy(out, s, len);
          out[len] = '\0';
          return 0;
        }
        if (e == NULL)
          break;
        s = e + 1;
      }
    }
    i = j + 1;
  }
  return SSHMUX_ENOALGO;
}
