/* fuzz-server-upstream.h -- a hostile upstream sshd made of our own server
 * library (lib/server), for tests/fuzz/fuzz-pool-upstream.c: the real
 * transport (key exchange, ciphers, MACs, the ssh-userauth service) over a
 * real loopback TCP listener, with the user authentication and the whole
 * connection protocol replaced by a PROGRAM that the fuzz input spells out.
 * (White-box: the server's ops table is copied and its userauth, channel and
 * userauth_info entries point here; server-int.h.)
 *
 * The program is a byte string of operations.  It runs when a message of
 * the client's arrives (USERAUTH_REQUEST, INFO_RESPONSE, any channel
 * message), up to the next WAIT; when the client stays quiet for
 * FU_QUIET_MS while the program waits, it goes on anyway (and after
 * FU_QUIET_MAX such waits, a WAIT no longer waits for a quiet client:
 * a program of WAITs stays fast); when the program is over, the upstream
 * hangs up (DISCONNECT, then close).  So every input ends with the
 * connection gone, whatever the client waits for.
 *
 * Operation: one byte, its value modulo FU_NOPS, then its arguments.
 * Integers are big-endian; a string str is one length byte L and L bytes
 * (L < 0xfe), or L = 0xfe: u16 N then a str repeated N times (escapes
 * repeated), or L = 0xff: u16 N and a fill byte, N * 16 bytes of it (huge
 * prompts); strings are capped at FU_STR_MAX, and the input running out
 * ends a string (or an operation) early, as it is.
 *   0 WAIT                        for the client's next message
 *   1 BANNER str msg, str lang    USERAUTH_BANNER
 *   2 FAILURE u8 methods, u8 partial   USERAUTH_FAILURE; methods is a bit
 *     set (publickey, keyboard-interactive, password, hostbased, none,
 *     gssapi-with-mic); bit 7: a str with the raw list instead
 *   3 SUCCESS                     USERAUTH_SUCCESS (the connection is
 *                                 authenticated from now on)
 *   4 INFO_REQUEST str name, str instruction, str lang, u8 n (0xff: u32
 *     n), then min(n, FU_PROMPTS_MAX) times: str prompt, u8 echo
 *   5 IGNORE / DEBUG  u8 which, str text
 *   6 DISCONNECT u32 reason, str msg
 *   7 HANGUP                      close the TCP connection, no message
 *   8 OPEN_CONFIRMATION u32 window, u32 max packet (to the last open)
 *   9 OPEN_FAILURE u32 reason, str msg, str lang
 *  10 CHANNEL_SUCCESS   11 CHANNEL_FAILURE
 *  12 DATA str                    13 EXTENDED_DATA u8 t (< 0x80: stderr,
 *                                    else u32 type), str
 *  14 WINDOW_ADJUST u32           15 EOF     16 CLOSE
 *  17 exit-status u32             18 exit-signal str name, u8 core,
 *                                    str msg, str lang
 *  19 CHANNEL_REQUEST str type, u8 want_reply, str rest (raw bytes)
 *  20 RAW u8 type (50 + t % 78), str rest: any userauth or connection
 *     message
 *  21 RECIPIENT u32: channel operations go to this id from now on
 *     (0xffffffff: back to the client's channel)
 *  22 GLOBAL_REQUEST str name, u8 want_reply
 * Channel operations go to the client's channel of the last CHANNEL_OPEN
 * (or the RECIPIENT); before any open they are sent to channel 0. */
#ifndef SSHMUX_FUZZ_SERVER_UPSTREAM_H
#define SSHMUX_FUZZ_SERVER_UPSTREAM_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server-int.h"

#define FU_NOPS 23
#define FU_STR_MAX (256u * 1024u)
#define FU_PROMPTS_MAX 128u
#define FU_QUIET_MS 10
#define FU_QUIET_MAX 8 /* then a WAIT no longer waits for a quiet client */
#define FU_DATA_MAX (4u * 1024u * 1024u) /* DATA bytes an input may send */
#define FU_CUTS_MAX 64u /* packets before the open an oracle may skip */

/* What the upstream sent on the client's channel, for the oracle. */
typedef struct {
  sshmux__buf_t sent[2]; /* stdout (DATA), stderr (EXTENDED_DATA 1) */
  /* Where each packet sent before the client's CHANNEL_OPEN came starts in
   * sent[]: libssh2 drops a packet for a channel id it does not know yet
   * and keeps it once it has sent the open, and which of the two happens
   * depends on when the client reads it.  So the client may get the
   * stream from any of these cuts on (cuts[s][ncuts[s]] is where the data
   * sent after the open starts). */
  size_t cuts[2][FU_CUTS_MAX + 1];
  unsigned ncuts[2];
  int opened;          /* a CHANNEL_OPEN came */
  int closed_sent;     /* our CLOSE went */
  uint64_t data_bytes; /* all DATA / EXTENDED_DATA payload sent */
  unsigned events;     /* client messages seen */
  unsigned info_requests;
} fu_seen_t;

static struct {
  uv_loop_t *loop;
  sshmux_server_t *srv;
  sshmux__srv_ops_t ops;
  const sshmux__srv_ops_t *real;
  uv_timer_t quiet;
  const uint8_t *p, *end;     /* the program */
  sshmux_server_conn_t *conn; /* the connection it acts on */
  const void *last;           /* the last one that sent something */
  uint32_t rid;               /* the client's channel id */
  int rid_override;
  uint32_t rid_forced;
  int waiting;         /* the program stopped at a WAIT */
  int over;            /* the program ended (the upstream hung up) */
  unsigned quiet_left; /* quiet waits left to this input (FU_QUIET_MAX) */
  fu_seen_t seen;
} fu;
static int fu_trace; /* FUZZ_LOG set: the program's steps on stderr */

/* ---- reading the program ---- */

static int fu_u8(uint8_t *v) {
  if (fu.p >= fu.end)
    return -1;
  *v = *fu.p++;
  return 0;
}

static uint32_t fu_u32(void) {
  uint32_t v = 0;
  for (int i = 0; i < 4 && fu.p < fu.end; i++)
    v = v << 8 | *fu.p++;
  return v;
}

static uint16_t fu_u16(void) {
  uint16_t v = 0;
  for (int i = 0; i < 2 && fu.p < fu.end; i++)
    v = (uint16_t)(v << 8 | *fu.p++);
  return v;
}

/* Append a small string (no repetition) to b. */
static void fu_small(sshmux__buf_t *b, size_t cap) {
  uint8_t l;
  size_t n;

  if (fu_u8(&l) != 0)
    return;
  n = l;
  if (n > (size_t)(fu.end - fu.p))
    n = (size_t)(fu.end - fu.p);
  if (n > cap)
    n = cap;
  (void)sshmux__buf_put_bytes(b, fu.p, n);
  fu.p += l < (size_t)(fu.end - fu.p) ? l : (size_t)(fu.end - fu.p);
}

/* A str (see the header) as an SSH string into b. */
static void fu_str(sshmux__buf_t *b) {
  sshmux__buf_t s;
  uint8_t l;

  sshmux__buf_init(&s, FU_STR_MAX);
  if (fu.p < fu.end && *fu.p >= 0xfe) {
    (void)fu_u8(&l);
    if (l == 0xfe) {
      uint16_t n = fu_u16();
      sshmux__buf_t unit;
      sshmux__buf_init(&unit, 256);
      fu_small(&unit, 255);
      for (uint16_t i = 0;
           i < n && unit.len > 0 && s.len + unit.len <= FU_STR_MAX; i++)
        (void)sshmux__buf_put_bytes(&s, unit.data, unit.len);
      sshmux__buf_free(&unit);
    } else {
      uint16_t n = fu_u16();
      uint8_t fill = 'A';
      uint8_t *sp;
      size_t len = (size_t)n * 16;
      (void)fu_u8(&fill);
      if (len > FU_STR_MAX)
        len = FU_STR_MAX;
      if (len > 0 && sshmux__buf_put_space(&s, len, &sp) == 0)
        memset(sp, fill, len);
    }
  } else {
    fu_small(&s, FU_STR_MAX);
  }
  (void)sshmux__buf_put_string(b, s.len ? s.data : (const uint8_t *)"", s.len);
  sshmux__buf_free(&s);
}

/* ---- sending ---- */

/* Send payload (its first byte the message type) on conn. */
static void fu_send(const sshmux__buf_t *m) {
  sshmux__pkt_t pk;
  sshmux_server_conn_t *conn = fu.conn;

  if (conn == NULL || conn->closing || m->len == 0)
    return;
  if (sshmux__pkt_begin(conn, &pk, m->data[0]) != 0)
    return;
  if (sshmux__buf_put_bytes(pk.b, m->data + 1, m->len - 1) != 0) {
    pk.b->len = pk.start;
    return;
  }
  if (sshmux__pkt_end(conn, &pk) == 0)
    sshmux__conn_mark_dirty(conn); /* flushed at the end of this iteration */
}

static uint32_t fu_recipient(void) {
  return fu.rid_override ? fu.rid_forced : fu.rid;
}

static void fu_record(int stream, const sshmux__buf_t *m, size_t at) {
  /* The string at m->data + at: u32 length, bytes. */
  uint32_t n = sshmux__load_be32(m->data + at);
  fu.seen.data_bytes += n;
  if (fu.rid_override && fu.rid_forced != fu.rid)
    return;
  if (!fu.seen.opened) {
    if (fu.seen.ncuts[stream] == FU_CUTS_MAX)
      return; /* the oracle could not place more: not sent at all */
    fu.seen.cuts[stream][fu.seen.ncuts[stream]++] = fu.seen.sent[stream].len;
  }
  (void)sshmux__buf_put_bytes(&fu.seen.sent[stream], m->data + at + 4, n);
}

static void fu_hangup(int graceful) {
  if (fu.conn != NULL && !fu.conn->closing) {
    if (graceful)
      sshmux_server_conn_close(fu.conn, "program over");
    else
      sshmux__conn_fail(fu.conn, -1, NULL);
  }
}

/* One operation; 1 at a WAIT, 0 otherwise. */
static int fu_op(void) {
  static const char *const methods[] = {"publickey", "keyboard-interactive",
                                        "password",  "hostbased",
                                        "none",      "gssapi-with-mic"};
  sshmux__buf_t m;
  uint8_t op, v = 0;
  int wait = 0;

  if (fu_u8(&op) != 0)
    return 0;
  if (fu_trace)
    fprintf(stderr, "[upstream] op %d\n", op % FU_NOPS);
  sshmux__buf_init(&m, 2 * FU_STR_MAX);
  switch (op % FU_NOPS) {
  case 0:
    wait = 1;
    break;
  case 1:
    (void)sshmux__buf_put_u8(&m, SSH_MSG_USERAUTH_BANNER);
    fu_str(&m);
    fu_str(&m);
    fu_send(&m);
    break;
  case 2: {
    uint8_t partial = 0;
    (void)fu_u8(&v);
    (void)sshmux__buf_put_u8(&m, SSH_MSG_USERAUTH_FAILURE);
    if (v & 0x80) {
      fu_str(&m);
    } else {
      char list[200] = "";
      for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (v & (1u << i)) {
          if (*list)
            strcat(list, ",");
          strcat(list, methods[i]);
        }
      (void)sshmux__buf_put_cstring(&m, list);
    }
    (void)fu_u8(&partial);
    (void)sshmux__buf_put_bool(&m, partial & 1);
    fu_send(&m);
    break;
  }
  case 3:
    (void)sshmux__buf_put_u8(&m, SSH_MSG_USERAUTH_SUCCESS);
    fu_send(&m);
    if (fu.conn != NULL && !fu.conn->closing &&
        fu.conn->state == SSHMUX__CONN_AUTH) {
      sshmux__free(fu.conn->user);
      fu.conn->user = sshmux__strdup("fuzz");
      fu.real->authed(fu.conn);
    }
    break;
  case 4: {
    uint32_t n;
    (void)sshmux__buf_put_u8(&m, 60); /* USERAUTH_INFO_REQUEST */
    fu_str(&m);
    fu_str(&m);
    fu_str(&m);
    (void)fu_u8(&v);
    n = v == 0xff ? fu_u32() : v;
    (void)sshmux__buf_put_u32(&m, n);
    for (uint32_t i = 0; i < n && i < FU_PROMPTS_MAX && fu.p < fu.end; i++) {
      uint8_t echo = 0;
      fu_str(&m);
      (void)fu_u8(&echo);
      (void)sshmux__buf_put_bool(&m, echo & 1);
    }
    fu.seen.info_requests++;
    fu_send(&m);
    break;
  }
  case 5:
    (void)fu_u8(&v);
    if (v & 1) {
      (void)sshmux__buf_put_u8(&m, SSH_MSG_DEBUG);
      (void)sshmux__buf_put_bool(&m, (v >> 1) & 1);
      fu_str(&m);
      (void)sshmux__buf_put_cstring(&m, "");
    } else {
      (void)sshmux__buf_put_u8(&m, SSH_MSG_IGNORE);
      fu_str(&m);
    }
    fu_send(&m);
    break;
  case 6:
    (void)sshmux__buf_put_u8(&m, SSH_MSG_DISCONNECT);
    (void)sshmux__buf_put_u32(&m, fu_u32());
    fu_str(&m);
    (void)sshmux__buf_put_cstring(&m, "");
    fu_send(&m);
    fu_hangup(0);
    break;
  case 7:
    fu_hangup(0);
    break;
  case 8:
    (void)sshmux__buf_put_u8(&m, SSH_MSG_CHANNEL_OPEN_CONFIRMATION);
    (void)sshmux__buf_put_u32(&m, fu_recipient());
    (void)sshmux__buf_put_u32(&m, 7); /* our channel id */
    (void)sshmux__buf_put_u32(&m, fu_u32());
    (void)sshmux__buf_put_u32(&m, fu_u32());
    fu_send(&m);
    break;
  case 9:
    (void)sshmux__buf_put_u8(&m, SSH_MSG_CHANNEL_OPEN_FAILURE);
    (void)sshmux__buf_put_u32(&m, fu_recipient());
    (void)sshmux__buf_put_u32(&m, fu_u32());
    fu_str(&m);
    fu_str(&m);
    fu_send(&m);
    break;
  case 10:
  case 11:
  case 15:
  case 16:
    (void)sshmux__buf_put_u8(&m, op % FU_NOPS == 10   ? SSH_MSG_CHANNEL_SUCCESS
                                 : op % FU_NOPS == 11 ? SSH_MSG_CHANNEL_FAILURE
                                 : op % FU_NOPS == 15 ? SSH_MSG_CHANNEL_EOF
                                                      : SSH_MSG_CHANNEL_CLOSE);
    (void)sshmux__buf_put_u32(&m, fu_recipient());
    if (op % FU_NOPS == 16)
      fu.seen.closed_sent = 1;
    fu_send(&m);
    break;
  case 12:
    (void)sshmux__buf_put_u8(&m, SSH_MSG_CHANNEL_DATA);
    (void)sshmux__buf_put_u32(&m, fu_recipient());
    fu_str(&m);
    if (fu.seen.data_bytes + m.len <= FU_DATA_MAX) {
      fu_record(0, &m, 5);
      fu_send(&m);
    }
    break;
  case 13: {
    uint32_t t = 1;
    (void)fu_u8(&v);
    if (v >= 0x80)
      t = fu_u32();
    (void)sshmux__buf_put_u8(&m, SSH_MSG_CHANNEL_EXTENDED_DATA);
    (void)sshmux__buf_put_u32(&m, fu_recipient());
    (void)sshmux__buf_put_u32(&m, t);
    fu_str(&m);
    if (fu.seen.data_bytes + m.len <= FU_DATA_MAX) {
      if (t == 1)
        fu_record(1, &m, 9);
      else
        fu.seen.data_bytes += m.len;
      fu_send(&m);
    }
    break;
  }
  case 14:
    (void)sshmux__buf_put_u8(&m, SSH_MSG_CHANNEL_WINDOW_ADJUST);
    (void)sshmux__buf_put_u32(&m, fu_recipient());
    (void)sshmux__buf_put_u32(&m, fu_u32());
    fu_send(&m);
    break;
  case 17:
    (void)sshmux__buf_put_u8(&m, SSH_MSG_CHANNEL_REQUEST);
    (void)sshmux__buf_put_u32(&m, fu_recipient());
    (void)sshmux__buf_put_cstring(&m, "exit-status");
    (void)sshmux__buf_put_bool(&m, 0);
    (void)sshmux__buf_put_u32(&m, fu_u32());
    fu_send(&m);
    break;
  case 18:
    (void)sshmux__buf_put_u8(&m, SSH_MSG_CHANNEL_REQUEST);
    (void)sshmux__buf_put_u32(&m, fu_recipient());
    (void)sshmux__buf_put_cstring(&m, "exit-signal");
    (void)sshmux__buf_put_bool(&m, 0);
    fu_str(&m);
    (void)fu_u8(&v);
    (void)sshmux__buf_put_bool(&m, v & 1);
    fu_str(&m);
    fu_str(&m);
    fu_send(&m);
    break;
  case 19:
    (void)sshmux__buf_put_u8(&m, SSH_MSG_CHANNEL_REQUEST);
    (void)sshmux__buf_put_u32(&m, fu_recipient());
    fu_str(&m);
    (void)fu_u8(&v);
    (void)sshmux__buf_put_bool(&m, v & 1);
    {
      sshmux__buf_t rest;
      sshmux__buf_init(&rest, 2 * FU_STR_MAX);
      fu_str(&rest); /* its bytes, without the length */
      if (rest.len >= 4)
        (void)sshmux__buf_put_bytes(&m, rest.data + 4, rest.len - 4);
      sshmux__buf_free(&rest);
    }
    fu_send(&m);
    break;
  case 20: {
    sshmux__buf_t rest;
    (void)fu_u8(&v);
    (void)sshmux__buf_put_u8(&m, (uint8_t)(50 + v % 78));
    sshmux__buf_init(&rest, 2 * FU_STR_MAX);
    fu_str(&rest);
    if (rest.len >= 4)
      (void)sshmux__buf_put_bytes(&m, rest.data + 4, rest.len - 4);
    sshmux__buf_free(&rest);
    fu_send(&m);
    break;
  }
  case 21: {
    uint32_t id = fu_u32();
    fu.rid_override = id != 0xffffffffu;
    fu.rid_forced = id;
    break;
  }
  case 22:
    (void)sshmux__buf_put_u8(&m, SSH_MSG_GLOBAL_REQUEST);
    fu_str(&m);
    (void)fu_u8(&v);
    (void)sshmux__buf_put_bool(&m, v & 1);
    fu_send(&m);
    break;
  }
  sshmux__buf_free(&m);
  return wait;
}

static void fu_run(void);
static void fu_quiet(uv_timer_t *h) {
  (void)h;
  if (fu.quiet_left > 0)
    fu.quiet_left--;
  fu_run();
}

/* Run the program from where it stands to the next WAIT (then wait at
 * most FU_QUIET_MS for the client) or to its end (then hang up). */
static void fu_run(void) {
  if (fu.over)
    return;
  uv_timer_stop(&fu.quiet);
  fu.waiting = 0;
  while (fu.p < fu.end && fu.conn != NULL && !fu.conn->closing)
    if (fu_op() && fu.quiet_left > 0) {
      fu.waiting = 1;
      break;
    }
  if (fu.waiting && fu.conn != NULL && !fu.conn->closing) {
    uv_timer_start(&fu.quiet, fu_quiet, FU_QUIET_MS, 0);
    return;
  }
  fu.over = 1;
  fu_hangup(1);
}

static void fu_event(sshmux_server_conn_t *conn, int type) {
  if (fu_trace)
    fprintf(stderr, "[upstream] client message %d\n", type);
  if (conn != fu.last) {
    /* Another connection (the pool's retry): another channel. */
    fu.last = conn;
    sshmux__buf_reset(&fu.seen.sent[0]);
    sshmux__buf_reset(&fu.seen.sent[1]);
  }
  fu.conn = conn;
  fu.seen.events++;
  fu_run();
}

/* ---- the ops that replace the server's ---- */

static int fu_userauth(sshmux_server_conn_t *conn, sshmux__buf_t *b,
                       const uint8_t *payload, size_t plen) {
  (void)b;
  (void)payload;
  (void)plen;
  if (!conn->service_ok) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_SERVICE_NOT_AVAILABLE,
                      "userauth before service request");
    return SSHMUX_EPROTO;
  }
  if (conn->state == SSHMUX__CONN_OPEN)
    return 0;
  fu_event(conn, 50);
  return 0;
}

static int fu_userauth_info(sshmux_server_conn_t *conn, uint8_t type,
                            sshmux__buf_t *b) {
  (void)b;
  fu_event(conn, type);
  return 0;
}

static int fu_channel(sshmux_server_conn_t *conn, uint8_t type,
                      sshmux__buf_t *b) {
  if (type == SSH_MSG_CHANNEL_OPEN) {
    const uint8_t *name;
    size_t nl;
    uint32_t sender = 0;
    if (sshmux__buf_get_string(b, 64, &name, &nl) == 0 &&
        sshmux__buf_get_u32(b, &sender) == 0) {
      /* Data sent to this id before the open may or may not reach the
       * channel (fu_seen_t.cuts). */
      fu.rid = sender;
      if (!fu.seen.opened) {
        fu.seen.cuts[0][fu.seen.ncuts[0]] = fu.seen.sent[0].len;
        fu.seen.cuts[1][fu.seen.ncuts[1]] = fu.seen.sent[1].len;
      }
      fu.seen.opened = 1;
      fu.seen.closed_sent = 0;
    }
  }
  fu_event(conn, type);
  return 0;
}

static void fu_finish(sshmux_server_conn_t *conn) {
  if (fu.conn == conn)
    fu.conn = NULL;
  fu.real->finish(conn);
}

/* The server, once: host keys generated, listening on loopback.  Returns
 * its port. */
static int fu_setup(uv_loop_t *loop) {
  static const sshmux_server_cbs_t cbs = {0};
  int port;

  fu.loop = loop;
  fu_trace = getenv("FUZZ_LOG") != NULL;
  if (sshmux_server_new(loop, &cbs, &fu.srv) != 0 ||
      sshmux__hostkey_generate(&fu.srv->keys[SSHMUX__KEY_ED25519],
                               SSHMUX__KEY_ED25519) != 0 ||
      sshmux_server_listen(fu.srv, "127.0.0.1", 0) != 0 ||
      (port = sshmux_server_port(fu.srv)) <= 0 ||
      uv_timer_init(loop, &fu.quiet) != 0)
    abort();
  fu.real = fu.srv->ops;
  fu.ops = *fu.real;
  fu.ops.userauth = fu_userauth;
  fu.ops.userauth_info = fu_userauth_info;
  fu.ops.channel = fu_channel;
  fu.ops.finish = fu_finish;
  fu.srv->ops = &fu.ops;
  sshmux__buf_init(&fu.seen.sent[0], FU_DATA_MAX + 1024);
  sshmux__buf_init(&fu.seen.sent[1], FU_DATA_MAX + 1024);
  return port;
}

/* A new program for the next connection(s). */
static void fu_start(const uint8_t *prog, size_t n) {
  uv_timer_stop(&fu.quiet);
  fu.p = prog;
  fu.end = prog + n;
  fu.conn = NULL;
  fu.last = NULL;
  fu.rid = 0;
  fu.rid_override = 0;
  fu.waiting = 0;
  fu.over = 0;
  fu.quiet_left = FU_QUIET_MAX;
  sshmux__buf_reset(&fu.seen.sent[0]);
  sshmux__buf_reset(&fu.seen.sent[1]);
  fu.seen.opened = fu.seen.closed_sent = 0;
  fu.seen.ncuts[0] = fu.seen.ncuts[1] = 0;
  fu.seen.data_bytes = 0;
  fu.seen.events = fu.seen.info_requests = 0;
}

/* The input is over for the upstream: nothing more runs. */
static void fu_stop(void) {
  uv_timer_stop(&fu.quiet);
  fu.over = 1;
  fu.p = fu.end;
}

#endif
