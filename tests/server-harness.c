/* server-harness.c -- see server-harness.h. */
#include <string.h>

#include "server-harness.h"

static int on_mem_write(sshmux_server_conn_t *conn, const uint8_t *p,
                        size_t n) {
  th_t *t = conn->mem_data;
  return sshmux__buf_put_bytes(&t->out, p, n);
}

void th_init(th_t *t, const sshmux_server_cbs_t *cbs, int shortcut,
             const char *user) {
  memset(t, 0, sizeof(*t));
  ASSERT_OK(uv_loop_init(&t->loop));
  ASSERT_OK(sshmux_server_new(&t->loop, cbs, &t->srv));
  ASSERT_OK(sshmux_server_add_host_key(t->srv, test_path("hostkey"),
                                       SSHMUX_SERVER_KEY_ED25519));
  sshmux__buf_init(&t->out, 64u * 1024u * 1024u);
  sshmux__buf_init(&t->msg, 1024u * 1024u);
  ASSERT_OK(sshmux__conn_new_mem(t->srv, &t->conn));
  t->conn->mem_data = t;
  t->conn->mem_write = on_mem_write;
  if (shortcut) {
    ASSERT_OK(sshmux__conn_test_shortcut(t->conn, user));
    t->ident_seen = 1;
  } else {
    sshmux__conn_flush(t->conn);
  }
}

void th_free(th_t *t) {
  sshmux__conn_free_mem(t->conn);
  sshmux_server_close(t->srv, NULL);
  uv_run(&t->loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&t->loop), 0);
  sshmux__buf_free(&t->out);
  sshmux__buf_free(&t->msg);
  sshmux__codec_free(t->in);
}

int th_send_raw(th_t *t, const void *p, size_t n) {
  int r = sshmux__conn_input(t->conn, p, n);
  if (!t->conn->closing)
    sshmux__conn_flush(t->conn);
  return r;
}

int th_send(th_t *t, const void *payload, size_t n) {
  sshmux__buf_t b;
  size_t pad = 8 - (5 + n) % 8;
  uint8_t *sp;
  int r;

  if (pad < 4)
    pad += 8;
  sshmux__buf_init(&b, n + 64);
  ASSERT_OK(sshmux__buf_put_u32(&b, (uint32_t)(1 + n + pad)));
  ASSERT_OK(sshmux__buf_put_u8(&b, (uint8_t)pad));
  ASSERT_OK(sshmux__buf_put_bytes(&b, payload, n));
  ASSERT_OK(sshmux__buf_put_space(&b, pad, &sp));
  memset(sp, 0, pad);
  t->seq_out++;
  r = th_send_raw(t, b.data, b.len);
  sshmux__buf_free(&b);
  return r;
}

void th_run(th_t *t) {
  uv_run(&t->loop, UV_RUN_NOWAIT);
  if (!t->conn->closing)
    sshmux__conn_flush(t->conn);
}

int th_next(th_t *t) {
  sshmux__buf_t *o = &t->out;
  uint32_t len;
  uint8_t pad, type;
  size_t tag = t->in ? sshmux__codec_tag_len(t->in) : 0;

  if (!t->conn->closing)
    sshmux__conn_flush(t->conn);
  if (!t->ident_seen) {
    const uint8_t *nl =
        memchr(sshmux__buf_rptr(o), '\n', sshmux__buf_remaining(o));
    if (nl == NULL)
      return -1;
    o->pos += (size_t)(nl - sshmux__buf_rptr(o)) + 1;
    t->ident_seen = 1;
  }
  if (sshmux__buf_remaining(o) < 4)
    return -1;
  if (t->in != NULL) {
    uint8_t *p = o->data + o->pos;
    ASSERT_OK(sshmux__codec_open_length(t->in, t->seq_in, p, &len));
    ASSERT(sshmux__buf_remaining(o) >= 4 + len + tag);
    ASSERT_OK(sshmux__codec_open(t->in, t->seq_in, p, 4 + len, p + 4 + len));
  } else {
    len = sshmux__load_be32(sshmux__buf_rptr(o));
    if (sshmux__buf_remaining(o) < 4 + (size_t)len)
      return -1;
  }
  t->seq_in++;
  pad = o->data[o->pos + 4];
  ASSERT(pad >= 4 && pad < len);
  sshmux__buf_reset(&t->msg);
  ASSERT_OK(
      sshmux__buf_put_bytes(&t->msg, o->data + o->pos + 5, len - 1 - pad));
  o->pos += 4 + len + tag;
  ASSERT_OK(sshmux__buf_get_u8(&t->msg, &type));
  return type;
}

void th_expect(th_t *t, int type) {
  int got;

  while ((got = th_next(t)) != -1) {
    if (got == type)
      return;
  }
  test_fail(__FILE__, __LINE__, "expected message %d, none came", type);
}

int th_closed(th_t *t) {
  return t->conn->closing;
}
