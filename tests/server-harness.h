/* server-harness.h -- drive one server connection in memory, as the client:
 * frame packets with the "none" codec, feed them to the connection, and
 * parse what it answers.  Used by test-server-proto.c (no sockets, no
 * crypto beyond what a test installs itself). */
#ifndef SSHMUX_SERVER_HARNESS_H
#define SSHMUX_SERVER_HARNESS_H

#include "core/core.h"
#include "server/server-int.h"
#include "test.h"

typedef struct {
  uv_loop_t loop;
  sshmux_server_t *srv;
  sshmux_server_conn_t *conn;
  sshmux__buf_t out;   /* bytes the server wrote, not yet parsed */
  int ident_seen;      /* its identification line was skipped */
  uint32_t seq_out;    /* our (client) sequence number */
  sshmux__buf_t msg;   /* the last message th_next returned */
  sshmux__codec_t *in; /* to open server packets (NULL: none) */
  uint32_t seq_in;
} th_t;

/* Server with an Ed25519 host key in the test dir and the callbacks given;
 * one memory connection.  shortcut: skip the handshake ("none" codec both
 * ways); user: authenticated as user (NULL: in userauth). */
void th_init(th_t *t, const sshmux_server_cbs_t *cbs, int shortcut,
             const char *user);
void th_free(th_t *t);
/* Frame payload[0..n) with the none codec and feed it. */
int th_send(th_t *t, const void *payload, size_t n);
/* Feed raw bytes. */
int th_send_raw(th_t *t, const void *p, size_t n);
/* Run the loop once without blocking (idle flushes, timers). */
void th_run(th_t *t);
/* The next message from the server: its type (t->msg positioned after
 * it), or -1 when there is none yet. */
int th_next(th_t *t);
/* Skip messages until one of type `type`; returns it or fails the test. */
void th_expect(th_t *t, int type);
/* 1 when the connection is closing. */
int th_closed(th_t *t);

#endif
