/* server/channel.c -- the connection protocol of the server (RFC 4254):
 * the channel table, per-channel windows and max packet both ways, channel
 * and global requests with their ordered asynchronous replies, EOF/CLOSE
 * ordering, and the pump that turns queued channel output into packets.
 *
 * After dropbear's common-channel.c: handlers named recv_msg_channel_*,
 * windows topped up when a third of ours is consumed.  Unlike dropbear the
 * consumer is an embedder that answers later: opens and requests are
 * objects the embedder completes, and the FIFO of requests per channel (and
 * one for global requests) holds replies back until all earlier ones are
 * answered, as SSH requires.
 *
 * Back-pressure: incoming data is delivered straight from the decrypted
 * packet; our window is replenished only for data delivered while the
 * channel is not paused, so a paused channel's client stops at the window
 * (2 MiB) and what arrives meanwhile is held (bounded by that window).
 * Outgoing data waits in the channel's queue until the client's window,
 * its max packet and the connection's write buffer allow; the embedder sees
 * the queue size and a drain callback. */
#include <string.h>

#include "server/server-int.h"

#define REQ_TYPE_MAX 64u
#define STR_MAX 4096u
#define DEFAULT_HIGH_WATER (256u * 1024u)
#define DRAIN_BUDGET (64u * 1024u)

#define CALLBACK(conn, expr)                                                   \
  do {                                                                         \
    (conn)->in_cb++;                                                           \
    sshmux__conn_ref(conn);                                                    \
    expr;                                                                      \
    (conn)->in_cb--;                                                           \
    sshmux__conn_unref(conn);                                                  \
  } while (0)

static void chan_finish(sshmux_server_channel_t *ch);
static void ready_add(sshmux_server_channel_t *ch);
static int chan_drain(sshmux_server_channel_t *ch, size_t budget);

static int fail_oom(sshmux_server_conn_t *conn) {
  sshmux__conn_fail(conn, SSH_DISCONNECT_BY_APPLICATION, "out of memory");
  return SSHMUX_ENOMEM;
}

static int fail_proto(sshmux_server_conn_t *conn, const char *msg) {
  sshmux__conn_fail(conn, SSH_DISCONNECT_PROTOCOL_ERROR, msg);
  return SSHMUX_EPROTO;
}

/* Send a message that carries only the recipient channel (plus u32). */
static int send_simple(sshmux_server_conn_t *conn, uint8_t type, uint32_t id) {
  sshmux__pkt_t p;
  int r;

  if ((r = sshmux__pkt_begin(conn, &p, type)) != 0 ||
      (r = sshmux__buf_put_u32(p.b, id)) != 0 ||
      (r = sshmux__pkt_end(conn, &p)) != 0)
    return r;
  return 0;
}

static size_t queued(const sshmux_server_channel_t *ch) {
  return sshmux__buf_remaining(&ch->out[0]) +
         sshmux__buf_remaining(&ch->out[1]);
}

/* ---- requests ---- */

static void req_free(sshmux_server_request_t *req) {
  size_t i;

  for (i = 0; i < SSHMUX__ARRAY_SIZE(req->strs); i++)
    sshmux__free(req->strs[i]);
  sshmux__free(req->modes);
  sshmux__free(req);
}

static void reqq_free(sshmux__reqq_t *q) {
  sshmux_server_request_t *r, *next;

  for (r = q->head; r != NULL; r = next) {
    next = r->next;
    req_free(r);
  }
  q->head = q->tail = NULL;
  q->n = 0;
}

/* Send the replies at the head of the queue that are ready. */
static void reqq_flush(sshmux_server_conn_t *conn, sshmux__reqq_t *q) {
  sshmux_server_request_t *req;

  while ((req = q->head) != NULL && req->done) {
    sshmux_server_channel_t *ch = req->ch;
    q->head = req->next;
    if (q->head == NULL)
      q->tail = NULL;
    q->n--;
    if (ch != NULL && req->start && !req->ok)
      ch->started = 0; /* a refused exec may be retried */
    if (req->info.want_reply && !conn->closing) {
      int r;
      if (ch != NULL) {
        if (ch->close_sent)
          r = 0; /* nothing after our CLOSE */
        else
          r = send_simple(
              conn, req->ok ? SSH_MSG_CHANNEL_SUCCESS : SSH_MSG_CHANNEL_FAILURE,
              ch->remote_id);
      } else {
        sshmux__pkt_t p;
        r = sshmux__pkt_begin(conn, &p,
                              req->ok ? SSH_MSG_REQUEST_SUCCESS
                                      : SSH_MSG_REQUEST_FAILURE);
        if (r == 0 && req->ok && req->has_port)
          r = sshmux__buf_put_u32(p.b, req->port);
        if (r == 0)
          r = sshmux__pkt_end(conn, &p);
      }
      if (r != 0) {
        req_free(req);
        fail_oom(conn);
        return;
      }
    }
    req_free(req);
  }
}

static sshmux_server_request_t *req_new(sshmux_server_conn_t *conn,
                                        sshmux_server_channel_t *ch,
                                        const char *type, int want_reply) {
  sshmux_server_request_t *req = sshmux__calloc(1, sizeof(*req));
  sshmux__reqq_t *q = ch ? &ch->reqs : &conn->greqs;

  if (req == NULL)
    return NULL;
  if (q->n >= SSHMUX__SRV_MAX_PENDING_REQS) {
    /* The embedder is slow and the client keeps asking: no more. */
    sshmux__free(req);
    sshmux__conn_fail(conn, SSH_DISCONNECT_PROTOCOL_ERROR,
                      "too many outstanding requests");
    return NULL;
  }
  req->strs[0] = sshmux__strdup(type);
  if (req->strs[0] == NULL) {
    sshmux__free(req);
    return NULL;
  }
  req->conn = conn;
  req->ch = ch;
  req->info.type = req->strs[0];
  req->info.want_reply = want_reply;
  if (q->tail)
    q->tail->next = req;
  else
    q->head = req;
  q->tail = req;
  q->n++;
  return req;
}

static void req_answer(sshmux_server_request_t *req, int ok) {
  sshmux_server_conn_t *conn = req->conn;

  req->done = 1;
  req->ok = ok != 0;
  reqq_flush(conn, req->ch ? &req->ch->reqs : &conn->greqs);
}

void sshmux_server_request_reply(sshmux_server_request_t *req, int ok) {
  if (req == NULL || req->done || req->internal)
    return;
  req_answer(req, ok);
}

void sshmux_server_request_reply_port(sshmux_server_request_t *req,
                                      uint32_t port) {
  if (req == NULL || req->done || req->internal)
    return;
  if (req->info.bind_port == 0) {
    req->port = port;
    req->has_port = 1;
  }
  req_answer(req, 1);
}

/* Keep a copy of a string for the info struct. */
static int req_str(sshmux_server_request_t *req, sshmux__buf_t *b, size_t max,
                   const char **field) {
  size_t i;

  for (i = 1; i < SSHMUX__ARRAY_SIZE(req->strs); i++) {
    if (req->strs[i] == NULL) {
      if (sshmux__buf_get_cstring(b, max, &req->strs[i]) != 0)
        return SSHMUX_EBADFORMAT;
      *field = req->strs[i];
      return 0;
    }
  }
  return SSHMUX_EINTERNAL;
}

/* Parse the type-specific fields: 0, or < 0 when malformed. */
static int parse_session_request(sshmux_server_request_t *req,
                                 sshmux__buf_t *b) {
  sshmux_server_request_info_t *in = &req->info;
  const char *t = in->type;
  const uint8_t *p;
  size_t n;

  if (strcmp(t, "pty-req") == 0) {
    if (req_str(req, b, 256, &in->term) != 0 ||
        sshmux__buf_get_u32(b, &in->cols) != 0 ||
        sshmux__buf_get_u32(b, &in->rows) != 0 ||
        sshmux__buf_get_u32(b, &in->width_px) != 0 ||
        sshmux__buf_get_u32(b, &in->height_px) != 0 ||
        sshmux__buf_get_string(b, STR_MAX, &p, &n) != 0)
      return SSHMUX_EBADFORMAT;
    /* The modes are kept as received: a relay passes them on unchanged. */
    req->modes = sshmux__malloc(n ? n : 1);
    if (req->modes == NULL)
      return SSHMUX_ENOMEM;
    memcpy(req->modes, p, n);
    in->modes = req->modes;
    in->modes_len = n;
  } else if (strcmp(t, "env") == 0) {
    if (req_str(req, b, 256, &in->env_name) != 0 ||
        req_str(req, b, 32768, &in->env_value) != 0)
      return SSHMUX_EBADFORMAT;
  } else if (strcmp(t, "exec") == 0) {
    if (req_str(req, b, 65536, &in->command) != 0)
      return SSHMUX_EBADFORMAT;
  } else if (strcmp(t, "subsystem") == 0) {
    if (req_str(req, b, 256, &in->subsystem) != 0)
      return SSHMUX_EBADFORMAT;
  } else if (strcmp(t, "window-change") == 0) {
    if (sshmux__buf_get_u32(b, &in->cols) != 0 ||
        sshmux__buf_get_u32(b, &in->rows) != 0 ||
        sshmux__buf_get_u32(b, &in->width_px) != 0 ||
        sshmux__buf_get_u32(b, &in->height_px) != 0)
      return SSHMUX_EBADFORMAT;
  } else if (strcmp(t, "signal") == 0) {
    if (req_str(req, b, 64, &in->signal) != 0)
      return SSHMUX_EBADFORMAT;
  } else if (strcmp(t, "break") == 0) {
    if (sshmux__buf_get_u32(b, &in->break_ms) != 0)
      return SSHMUX_EBADFORMAT;
  } else if (strcmp(t, "x11-req") == 0) {
    if (sshmux__buf_get_bool(b, &in->x11_single) != 0 ||
        req_str(req, b, 256, &in->x11_proto) != 0 ||
        req_str(req, b, 1024, &in->x11_cookie) != 0 ||
        sshmux__buf_get_u32(b, &in->x11_screen) != 0)
      return SSHMUX_EBADFORMAT;
  }
  return 0;
}

/* Session request names passed to the embedder. */
static int is_session_request(const char *t) {
  static const char *const names[] = {
      "pty-req",   "env",
      "shell",     "exec",
      "subsystem", "window-change",
      "signal",    "break",
      "x11-req",   "auth-agent-req@openssh.com"};
  size_t i;

  for (i = 0; i < SSHMUX__ARRAY_SIZE(names); i++)
    if (strcmp(t, names[i]) == 0)
      return 1;
  return 0;
}

static int is_start_request(const char *t) {
  return strcmp(t, "shell") == 0 || strcmp(t, "exec") == 0 ||
         strcmp(t, "subsystem") == 0;
}

/* ---- channel objects ---- */

static sshmux_server_channel_t *chan_lookup(sshmux_server_conn_t *conn,
                                            uint32_t id) {
  if (id >= conn->nchans)
    return NULL;
  return conn->chans[id];
}

static void ready_remove(sshmux_server_channel_t *ch) {
  sshmux_server_conn_t *conn = ch->conn;
  sshmux_server_channel_t **pp, *prev = NULL;

  if (!ch->in_ready)
    return;
  for (pp = &conn->ready_head; *pp != NULL; pp = &(*pp)->ready_next) {
    if (*pp == ch) {
      *pp = ch->ready_next;
      if (conn->ready_tail == ch)
        conn->ready_tail = prev;
      break;
    }
    prev = *pp;
  }
  ch->ready_next = NULL;
  ch->in_ready = 0;
}

static void ready_add(sshmux_server_channel_t *ch) {
  sshmux_server_conn_t *conn = ch->conn;

  if (ch->in_ready || ch->state != SSHMUX__CH_OPEN)
    return;
  ch->in_ready = 1;
  ch->ready_next = NULL;
  if (conn->ready_tail)
    conn->ready_tail->ready_next = ch;
  else
    conn->ready_head = ch;
  conn->ready_tail = ch;
  sshmux__conn_mark_dirty(conn);
}

static void chan_release(sshmux_server_channel_t *ch) {
  size_t i;

  for (i = 0; i < SSHMUX__ARRAY_SIZE(ch->info_strs); i++)
    sshmux__free(ch->info_strs[i]);
  sshmux__buf_free(&ch->out[0]);
  sshmux__buf_free(&ch->out[1]);
  sshmux__buf_free(&ch->held[0]);
  sshmux__buf_free(&ch->held[1]);
  reqq_free(&ch->reqs);
  sshmux__free(ch->exit_sig_name);
  sshmux__free(ch->exit_sig_msg);
  sshmux__free(ch);
}

/* The channel is over: out of the table, close callback, onto the dead
 * list (freed by sshmux__chan_reap once no callback is running). */
static void chan_finish(sshmux_server_channel_t *ch) {
  sshmux_server_conn_t *conn = ch->conn;

  if (ch->state == SSHMUX__CH_DEAD)
    return;
  ch->state = SSHMUX__CH_DEAD;
  ready_remove(ch);
  if (ch->local_id < conn->nchans && conn->chans[ch->local_id] == ch) {
    conn->chans[ch->local_id] = NULL;
    conn->live_chans--;
    conn->win_reserved -= ch->win_max;
  }
  if (!ch->closed_cb) {
    ch->closed_cb = 1;
    if (ch->cbs.close != NULL)
      CALLBACK(conn, ch->cbs.close(ch));
  }
  reqq_free(&ch->reqs);
  ch->dead_next = conn->dead;
  conn->dead = ch;
}

void sshmux__chan_reap(sshmux_server_conn_t *conn) {
  sshmux_server_channel_t *ch;

  if (conn->in_cb > 0)
    return;
  while ((ch = conn->dead) != NULL) {
    conn->dead = ch->dead_next;
    chan_release(ch);
  }
}

void sshmux__chan_trim(sshmux_server_conn_t *conn) {
  uint32_t i;
  int j;

  for (i = 0; i < conn->nchans; i++) {
    sshmux_server_channel_t *ch = conn->chans[i];
    if (ch == NULL)
      continue;
    for (j = 0; j < 2; j++)
      if (sshmux__buf_remaining(&ch->out[j]) == 0)
        sshmux__buf_free(&ch->out[j]);
    for (j = 0; j < 2; j++)
      if (sshmux__buf_remaining(&ch->held[j]) == 0)
        sshmux__buf_free(&ch->held[j]);
  }
}

void sshmux__chan_teardown(sshmux_server_conn_t *conn) {
  uint32_t i;

  for (i = 0; i < conn->nchans; i++)
    if (conn->chans[i] != NULL)
      chan_finish(conn->chans[i]);
  reqq_free(&conn->greqs);
}

void sshmux__chan_free_all(sshmux_server_conn_t *conn) {
  uint32_t i;

  for (i = 0; i < conn->nchans; i++)
    if (conn->chans[i] != NULL) {
      conn->chans[i]->closed_cb = 1;
      chan_finish(conn->chans[i]);
    }
  conn->in_cb = 0;
  sshmux__chan_reap(conn);
  reqq_free(&conn->greqs);
  sshmux__free(conn->chans);
  conn->chans = NULL;
  conn->nchans = 0;
}

/* ---- window ---- */

/* Top our window up once a third of it was consumed (dropbear's rule), but
 * only while the embedder takes data: a paused channel runs dry. */
static void maybe_adjust(sshmux_server_channel_t *ch) {
  sshmux__pkt_t p;

  if (ch->paused || ch->eof_recv || ch->close_sent || ch->close_recv ||
      ch->state != SSHMUX__CH_OPEN || ch->rconsumed < ch->win_max / 3)
    return;
  if (sshmux__pkt_begin(ch->conn, &p, SSH_MSG_CHANNEL_WINDOW_ADJUST) != 0 ||
      sshmux__buf_put_u32(p.b, ch->remote_id) != 0 ||
      sshmux__buf_put_u32(p.b, ch->rconsumed) != 0 ||
      sshmux__pkt_end(ch->conn, &p) != 0) {
    fail_oom(ch->conn);
    return;
  }
  ch->rwin += ch->rconsumed;
  ch->rconsumed = 0;
}

static size_t held(const sshmux_server_channel_t *ch) {
  return sshmux__buf_remaining(&ch->held[0]) +
         sshmux__buf_remaining(&ch->held[1]);
}

static void deliver_eof(sshmux_server_channel_t *ch) {
  if (ch->eof_cb_done || !ch->eof_recv || ch->paused || held(ch) > 0 ||
      ch->close_recv || ch->state != SSHMUX__CH_OPEN)
    return;
  ch->eof_cb_done = 1;
  if (ch->cbs.eof != NULL)
    CALLBACK(ch->conn, ch->cbs.eof(ch));
}

/* Hand held input to a resumed channel, stdout then stderr, at most a max
 * packet per call, stopping if the embedder pauses again.  The two streams
 * are held apart (as the two output queues are): each keeps its order,
 * and a client's stdin and its rare extended data have no order between
 * them that a process could observe. */
static void deliver_held(sshmux_server_channel_t *ch) {
  int s;

  for (s = 0; s < 2; s++) {
    sshmux__buf_t *h = &ch->held[s];
    while (!ch->paused && ch->state == SSHMUX__CH_OPEN &&
           sshmux__buf_remaining(h) > 0) {
      size_t len = SSHMUX__MIN(sshmux__buf_remaining(h),
                               (size_t)SSHMUX__SRV_CHAN_MAXPKT);
      const uint8_t *d = sshmux__buf_rptr(h);
      h->pos += len;
      ch->rconsumed += (uint32_t)len;
      if (ch->cbs.data != NULL)
        CALLBACK(ch->conn, ch->cbs.data(ch, s, (const char *)d, len));
    }
    /* Neither freed nor compacted here: a relay pauses again after each
     * packet it takes while its upstream queue is full, and compacting a
     * window's worth of held bytes per 32 KiB delivered (or freeing and
     * re-growing the buffer each time it empties) cost an upload through
     * sshmuxd half its throughput (docs/benchmarks.md, issue 9 section 6).
     * The receive path compacts when new bytes would not fit otherwise;
     * the periodic trim (sshmux__chan_trim) gives an empty buffer back. */
    if (sshmux__buf_remaining(h) == 0)
      sshmux__buf_reset(h);
  }
  maybe_adjust(ch);
  deliver_eof(ch);
}

/* ---- receiving ---- */

static int recv_msg_channel_open(sshmux_server_conn_t *conn, sshmux__buf_t *b) {
  sshmux_server_t *srv = conn->srv;
  sshmux_server_channel_t *ch;
  char *type = NULL;
  uint32_t sender, window, maxpkt, reason = 0, id;
  const char *why = NULL;
  int r;

  if (sshmux__buf_get_cstring(b, REQ_TYPE_MAX, &type) != 0 ||
      sshmux__buf_get_u32(b, &sender) != 0 ||
      sshmux__buf_get_u32(b, &window) != 0 ||
      sshmux__buf_get_u32(b, &maxpkt) != 0) {
    sshmux__free(type);
    return fail_proto(conn, "malformed CHANNEL_OPEN");
  }
  ch = sshmux__calloc(1, sizeof(*ch));
  if (ch == NULL) {
    sshmux__free(type);
    return fail_oom(conn);
  }
  ch->conn = conn;
  ch->remote_id = sender;
  ch->twin = window;
  ch->tmax = SSHMUX__MIN(maxpkt, SSHMUX__SRV_OUT_PAYLOAD_MAX);
  if (ch->tmax == 0)
    ch->tmax = 1;
  ch->high_water = DEFAULT_HIGH_WATER;
  sshmux__buf_init(&ch->out[0], SSHMUX__BUF_MAX_STRING * 64);
  sshmux__buf_init(&ch->out[1], SSHMUX__BUF_MAX_STRING * 64);
  /* Held input is bounded by the window we give (win_max, below). */
  sshmux__buf_init(&ch->held[0], SSHMUX__SRV_CHAN_WINDOW);
  sshmux__buf_init(&ch->held[1], SSHMUX__SRV_CHAN_WINDOW);
  sshmux__buf_set_secret(&ch->held[0]); /* decrypted client input */
  sshmux__buf_set_secret(&ch->held[1]);
  ch->info_strs[0] = type;
  ch->info.type_name = type;
  if (strcmp(type, "session") == 0) {
    ch->info.type = SSHMUX_CHANNEL_SESSION;
    if (conn->no_more_sessions) {
      reason = SSHMUX_OPEN_ADMINISTRATIVELY_PROHIBITED;
      why = "no more sessions";
    }
  } else if (strcmp(type, "direct-tcpip") == 0) {
    ch->info.type = SSHMUX_CHANNEL_DIRECT_TCPIP;
    if (sshmux__buf_get_cstring(b, 1024, &ch->info_strs[1]) != 0 ||
        sshmux__buf_get_u32(b, &ch->info.port) != 0 ||
        sshmux__buf_get_cstring(b, 1024, &ch->info_strs[2]) != 0 ||
        sshmux__buf_get_u32(b, &ch->info.originator_port) != 0) {
      chan_release(ch);
      return fail_proto(conn, "malformed direct-tcpip open");
    }
    ch->info.host = ch->info_strs[1];
    ch->info.originator = ch->info_strs[2];
    if (conn->ak_flags & SSHMUX__AK_NO_PORT_FWD) {
      reason = SSHMUX_OPEN_ADMINISTRATIVELY_PROHIBITED;
      why = "port forwarding is disabled for this key";
    }
  } else if (strcmp(type, "direct-streamlocal@openssh.com") == 0) {
    const uint8_t *rs;
    size_t rn;
    uint32_t ru;
    ch->info.type = SSHMUX_CHANNEL_DIRECT_STREAMLOCAL;
    if (sshmux__buf_get_cstring(b, 1024, &ch->info_strs[1]) != 0 ||
        sshmux__buf_get_string(b, 1024, &rs, &rn) != 0 ||
        sshmux__buf_get_u32(b, &ru) != 0) {
      chan_release(ch);
      return fail_proto(conn, "malformed direct-streamlocal open");
    }
    ch->info.socket_path = ch->info_strs[1];
    if (conn->ak_flags & SSHMUX__AK_NO_PORT_FWD) {
      reason = SSHMUX_OPEN_ADMINISTRATIVELY_PROHIBITED;
      why = "port forwarding is disabled for this key";
    }
  } else {
    reason = SSHMUX_OPEN_UNKNOWN_CHANNEL_TYPE;
    why = "unknown channel type";
  }
  if (reason == 0 && srv->cbs.channel_open == NULL) {
    reason = SSHMUX_OPEN_ADMINISTRATIVELY_PROHIBITED;
    why = "channels are not served";
  }
  if (reason == 0 && conn->live_chans >= SSHMUX__SRV_MAX_CHANNELS) {
    reason = SSHMUX_OPEN_RESOURCE_SHORTAGE;
    why = "too many channels";
  }
  if (reason == 0) {
    /* The window is what the client may make us hold (a paused channel
     * keeps all of it), so the connection's budget is shared out as
     * windows: 2 MiB while it lasts, what is left after that, and no
     * channel at all below SSHMUX__SRV_CHAN_WINDOW_MIN. */
    size_t budget = srv->opts.conn_memory_max;
    size_t left = budget > conn->win_reserved ? budget - conn->win_reserved : 0;
    ch->win_max = (uint32_t)SSHMUX__MIN(left, (size_t)SSHMUX__SRV_CHAN_WINDOW);
    if (ch->win_max < SSHMUX__SRV_CHAN_WINDOW_MIN) {
      reason = SSHMUX_OPEN_RESOURCE_SHORTAGE;
      why = "connection memory budget exhausted";
      SSHMUX__LOG_INFO("server: %s:%d channel refused: memory budget of %zu "
                       "bytes in use by %u channels",
                       conn->peer, conn->peer_port, budget, conn->live_chans);
    }
  }
  if (reason != 0) {
    sshmux__pkt_t p;
    if ((r = sshmux__pkt_begin(conn, &p, SSH_MSG_CHANNEL_OPEN_FAILURE)) != 0 ||
        (r = sshmux__buf_put_u32(p.b, sender)) != 0 ||
        (r = sshmux__buf_put_u32(p.b, reason)) != 0 ||
        (r = sshmux__buf_put_cstring(p.b, why)) != 0 ||
        (r = sshmux__buf_put_cstring(p.b, "")) != 0 ||
        (r = sshmux__pkt_end(conn, &p)) != 0) {
      chan_release(ch);
      return fail_oom(conn);
    }
    chan_release(ch);
    return 0;
  }
  /* The lowest free id (ids are small and reused after CLOSE both ways). */
  for (id = 0; id < conn->nchans && conn->chans[id] != NULL; id++)
    ;
  if (id == conn->nchans) {
    uint32_t nn = conn->nchans ? conn->nchans * 2 : 8;
    sshmux_server_channel_t **nc =
        sshmux__reallocarray(conn->chans, nn, sizeof(*nc));
    if (nc == NULL) {
      chan_release(ch);
      return fail_oom(conn);
    }
    memset(nc + conn->nchans, 0, (nn - conn->nchans) * sizeof(*nc));
    conn->chans = nc;
    conn->nchans = nn;
  }
  ch->local_id = id;
  conn->chans[id] = ch;
  conn->live_chans++;
  conn->win_reserved += ch->win_max;
  ch->state = SSHMUX__CH_OPENING;
  CALLBACK(conn, srv->cbs.channel_open(conn, ch, &ch->info));
  return 0;
}

static int recv_msg_channel_data(sshmux_server_conn_t *conn,
                                 sshmux_server_channel_t *ch, uint8_t type,
                                 sshmux__buf_t *b) {
  uint32_t code = 1;
  const uint8_t *d;
  size_t n;
  int stream;

  if (type == SSH_MSG_CHANNEL_EXTENDED_DATA &&
      sshmux__buf_get_u32(b, &code) != 0)
    return fail_proto(conn, "malformed CHANNEL_EXTENDED_DATA");
  if (sshmux__buf_get_string(b, SSHMUX__SRV_IN_PACKET_MAX, &d, &n) != 0)
    return fail_proto(conn, "malformed CHANNEL_DATA");
  if (ch->eof_recv)
    return fail_proto(conn, "channel data after EOF");
  if (n > SSHMUX__SRV_CHAN_MAXPKT) {
    /* Above the max packet we advertised: not taken as data, and not
     * counted against the window either (OpenSSH's channel_input_data
     * does the same); the peer is told nothing, the log is. */
    SSHMUX__LOG_INFO("server: %s:%d channel %u: %zu bytes of data, bigger "
                     "than the max packet %u: dropped",
                     conn->peer, conn->peer_port, ch->local_id, n,
                     SSHMUX__SRV_CHAN_MAXPKT);
    return 0;
  }
  if (n > ch->rwin)
    return fail_proto(conn, "channel window exceeded");
  ch->rwin -= (uint32_t)n;
  if (ch->close_sent || n == 0)
    return 0; /* dropped silently after our CLOSE (§4.4) */
  stream = type == SSH_MSG_CHANNEL_DATA ? SSHMUX_STREAM_STDOUT
                                        : SSHMUX_STREAM_STDERR;
  if (type == SSH_MSG_CHANNEL_EXTENDED_DATA && code != 1) {
    ch->rconsumed += (uint32_t)n; /* unknown stream: consumed, dropped */
    maybe_adjust(ch);
    return 0;
  }
  if (ch->paused || sshmux__buf_remaining(&ch->held[stream]) > 0) {
    sshmux__buf_t *h = &ch->held[stream];
    /* Only the bytes are kept, no per-packet record, so what is held is
     * bounded by our window whatever the packet sizes: held bytes are
     * never re-credited until delivered.  Delivered bytes are moved out
     * only when the new ones do not fit the storage as it is (cheaper
     * than growing it); after that, held plus new bytes are within the
     * window, so the buffer never needs more than its limit (the window). */
    if (h->pos > 0 && h->len + n > h->cap)
      sshmux__buf_compact(h);
    if (sshmux__buf_put_bytes(h, d, n) != 0)
      return fail_oom(conn);
    return 0;
  }
  ch->rconsumed += (uint32_t)n;
  if (ch->cbs.data != NULL)
    CALLBACK(conn, ch->cbs.data(ch, stream, (const char *)d, n));
  maybe_adjust(ch);
  return 0;
}

static int recv_msg_channel_request(sshmux_server_conn_t *conn,
                                    sshmux_server_channel_t *ch,
                                    sshmux__buf_t *b) {
  sshmux_server_request_t *req;
  char *type = NULL;
  int want, refuse = 0, r;

  if (sshmux__buf_get_cstring(b, REQ_TYPE_MAX, &type) != 0 ||
      sshmux__buf_get_bool(b, &want) != 0) {
    sshmux__free(type);
    return fail_proto(conn, "malformed CHANNEL_REQUEST");
  }
  if (ch->close_sent) {
    sshmux__free(type);
    return 0;
  }
  req = req_new(conn, ch, type, want);
  sshmux__free(type);
  if (req == NULL)
    return conn->closing ? SSHMUX_EPROTO : fail_oom(conn);
  if (ch->info.type != SSHMUX_CHANNEL_SESSION ||
      !is_session_request(req->info.type) || ch->cbs.request == NULL) {
    /* keepalive@openssh.com, winadj@putty..., eow@..., unknown names:
     * FAILURE in order, never UNIMPLEMENTED (§7 items 15-17). */
    refuse = 1;
  } else if ((r = parse_session_request(req, b)) != 0) {
    if (r == SSHMUX_ENOMEM)
      return fail_oom(conn);
    refuse = 1;
  } else if (is_start_request(req->info.type)) {
    if (ch->started)
      refuse = 1; /* one shell/exec/subsystem per channel */
    else
      ch->started = req->start = 1;
  } else if ((strcmp(req->info.type, "pty-req") == 0 &&
              (conn->ak_flags & SSHMUX__AK_NO_PTY)) ||
             (strcmp(req->info.type, "x11-req") == 0 &&
              (conn->ak_flags & SSHMUX__AK_NO_X11_FWD)) ||
             (strcmp(req->info.type, "auth-agent-req@openssh.com") == 0 &&
              (conn->ak_flags & SSHMUX__AK_NO_AGENT_FWD))) {
    refuse = 1; /* authorized_keys options */
  }
  if (refuse) {
    req->internal = 1;
    req_answer(req, 0);
    return 0;
  }
  CALLBACK(conn, ch->cbs.request(conn, ch, req, &req->info));
  return 0;
}

/* The client's CLOSE.  Queued output and held input are moot now (the
 * client wants neither).  Our CLOSE answers it (RFC 4254 §5.3) once the
 * embedder closed too: at once without a remote_close callback, else when
 * it calls sshmux_server_channel_close() -- which may be later, so that a
 * session's exit status can still go out before our CLOSE, as OpenSSH's
 * sshd sends it after a client's CLOSE once the child is reaped (an OpenSSH
 * ControlMaster closes a mux session right after our EOF, before an exit
 * status that follows it). */
static int recv_msg_channel_close(sshmux_server_conn_t *conn,
                                  sshmux_server_channel_t *ch) {
  int s;

  ch->close_recv = 1;
  for (s = 0; s < 2; s++) {
    sshmux__buf_free(&ch->out[s]);
    sshmux__buf_free(&ch->held[s]);
  }
  ch->want_drain = 0;
  if (ch->close_sent) {
    chan_finish(ch);
    return 0;
  }
  if (!ch->close_queued && ch->cbs.remote_close != NULL) {
    CALLBACK(conn, ch->cbs.remote_close(ch));
    if (conn->closing)
      return SSHMUX_ECLOSED; /* the embedder closed the connection */
    if (ch->state != SSHMUX__CH_OPEN || !ch->close_queued)
      return 0; /* it closes the channel later */
  }
  ch->close_queued = 1;
  (void)chan_drain(ch, 0); /* EOF, exit status, CLOSE; the close callback */
  return conn->closing ? SSHMUX_ECLOSED : 0;
}

int sshmux__chan_dispatch(sshmux_server_conn_t *conn, uint8_t type,
                          sshmux__buf_t *b) {
  sshmux_server_channel_t *ch;
  uint32_t id, n;

  if (type == SSH_MSG_CHANNEL_OPEN)
    return recv_msg_channel_open(conn, b);
  if (sshmux__buf_get_u32(b, &id) != 0)
    return fail_proto(conn, "malformed channel message");
  ch = chan_lookup(conn, id);
  if (ch == NULL || ch->state != SSHMUX__CH_OPEN)
    return fail_proto(conn, "message for a channel that is not open");
  if (ch->close_recv)
    return 0; /* the client sent CLOSE: whatever follows is moot */
  switch (type) {
  case SSH_MSG_CHANNEL_WINDOW_ADJUST:
    if (sshmux__buf_get_u32(b, &n) != 0)
      return fail_proto(conn, "malformed CHANNEL_WINDOW_ADJUST");
    ch->twin += n;
    if (ch->twin > UINT32_MAX)
      ch->twin = UINT32_MAX; /* §4.3: never above 2^32-1 */
    if (queued(ch) > 0 || ch->eof_queued || ch->close_queued)
      ready_add(ch);
    return 0;
  case SSH_MSG_CHANNEL_DATA:
  case SSH_MSG_CHANNEL_EXTENDED_DATA:
    return recv_msg_channel_data(conn, ch, type, b);
  case SSH_MSG_CHANNEL_EOF:
    ch->eof_recv = 1;
    deliver_eof(ch);
    return 0;
  case SSH_MSG_CHANNEL_CLOSE:
    return recv_msg_channel_close(conn, ch);
  case SSH_MSG_CHANNEL_REQUEST:
    return recv_msg_channel_request(conn, ch, b);
  case SSH_MSG_CHANNEL_SUCCESS:
  case SSH_MSG_CHANNEL_FAILURE:
    return 0; /* we never ask for replies */
  default:
    return fail_proto(conn, "unexpected channel message");
  }
}

int sshmux__global_request(sshmux_server_conn_t *conn, sshmux__buf_t *b) {
  sshmux_server_request_t *req;
  char *type = NULL;
  int want, pass = 0;

  if (sshmux__buf_get_cstring(b, REQ_TYPE_MAX, &type) != 0 ||
      sshmux__buf_get_bool(b, &want) != 0) {
    sshmux__free(type);
    return fail_proto(conn, "malformed GLOBAL_REQUEST");
  }
  req = req_new(conn, NULL, type, want);
  sshmux__free(type);
  if (req == NULL)
    return conn->closing ? SSHMUX_EPROTO : fail_oom(conn);
  if (strcmp(req->info.type, "no-more-sessions@openssh.com") == 0) {
    conn->no_more_sessions = 1;
    req->internal = 1;
    req_answer(req, 1);
    return 0;
  }
  if (strcmp(req->info.type, "tcpip-forward") == 0 ||
      strcmp(req->info.type, "cancel-tcpip-forward") == 0) {
    pass = req_str(req, b, 1024, &req->info.bind_address) == 0 &&
           sshmux__buf_get_u32(b, &req->info.bind_port) == 0;
  } else if (strcmp(req->info.type, "streamlocal-forward@openssh.com") == 0 ||
             strcmp(req->info.type, "cancel-streamlocal-forward@openssh.com") ==
                 0) {
    pass = req_str(req, b, 1024, &req->info.bind_address) == 0;
  }
  if (conn->ak_flags & SSHMUX__AK_NO_PORT_FWD)
    pass = 0;
  if (!pass || conn->srv->cbs.global_request == NULL) {
    /* keepalive@openssh.com and everything unknown: FAILURE (§4.1). */
    req->internal = 1;
    req_answer(req, 0);
    return 0;
  }
  CALLBACK(conn, conn->srv->cbs.global_request(conn, NULL, req, &req->info));
  return 0;
}

/* ---- sending ---- */

/* Move queued output into packets within the window, then the trailing
 * EOF / exit status / CLOSE once the queue is empty.  Returns 1 when the
 * channel still has output it could send with more budget. */
static int chan_drain(sshmux_server_channel_t *ch, size_t budget) {
  sshmux_server_conn_t *conn = ch->conn;
  int s;

  while (budget > 0 && ch->twin > 0 && queued(ch) > 0 &&
         sshmux__conn_out_queued(conn) < SSHMUX__SRV_OUT_HIGH) {
    sshmux__buf_t *q;
    size_t chunk;
    sshmux__pkt_t p;
    s = sshmux__buf_remaining(&ch->out[1]) > 0 ? 1 : 0;
    q = &ch->out[s];
    chunk = sshmux__buf_remaining(q);
    chunk = SSHMUX__MIN(chunk, (size_t)ch->twin);
    chunk = SSHMUX__MIN(chunk, (size_t)ch->tmax);
    chunk = SSHMUX__MIN(chunk, budget);
    if (sshmux__pkt_begin(conn, &p,
                          s ? SSH_MSG_CHANNEL_EXTENDED_DATA
                            : SSH_MSG_CHANNEL_DATA) != 0 ||
        sshmux__buf_put_u32(p.b, ch->remote_id) != 0 ||
        (s && sshmux__buf_put_u32(p.b, 1) != 0) ||
        sshmux__buf_put_string(p.b, sshmux__buf_rptr(q), chunk) != 0 ||
        sshmux__pkt_end(conn, &p) != 0) {
      fail_oom(conn);
      return 0;
    }
    q->pos += chunk;
    if (sshmux__buf_remaining(q) == 0)
      sshmux__buf_reset(q); /* storage kept for the next burst; trimmed
                               by the connection timer when idle */
    ch->twin -= chunk;
    budget -= chunk;
  }
  if (queued(ch) == 0 && !ch->close_sent) {
    if (ch->eof_queued && !ch->eof_sent) {
      ch->eof_sent = 1;
      if (send_simple(conn, SSH_MSG_CHANNEL_EOF, ch->remote_id) != 0)
        return fail_oom(conn), 0;
    }
    if (ch->exit_queued && !ch->exit_sent) {
      sshmux__pkt_t p;
      int r;
      ch->exit_sent = 1;
      r = sshmux__pkt_begin(conn, &p, SSH_MSG_CHANNEL_REQUEST);
      if (r == 0)
        r = sshmux__buf_put_u32(p.b, ch->remote_id);
      if (r == 0 && !ch->exit_is_signal) {
        if ((r = sshmux__buf_put_cstring(p.b, "exit-status")) == 0 &&
            (r = sshmux__buf_put_bool(p.b, 0)) == 0)
          r = sshmux__buf_put_u32(p.b, ch->exit_code);
      } else if (r == 0) {
        if ((r = sshmux__buf_put_cstring(p.b, "exit-signal")) == 0 &&
            (r = sshmux__buf_put_bool(p.b, 0)) == 0 &&
            (r = sshmux__buf_put_cstring(p.b, ch->exit_sig_name)) == 0 &&
            (r = sshmux__buf_put_bool(p.b, ch->exit_core)) == 0 &&
            (r = sshmux__buf_put_cstring(
                 p.b, ch->exit_sig_msg ? ch->exit_sig_msg : "")) == 0)
          r = sshmux__buf_put_cstring(p.b, "");
      }
      if (r == 0)
        r = sshmux__pkt_end(conn, &p);
      if (r != 0)
        return fail_oom(conn), 0;
    }
    if (ch->close_queued) {
      ch->close_sent = 1;
      if (send_simple(conn, SSH_MSG_CHANNEL_CLOSE, ch->remote_id) != 0)
        return fail_oom(conn), 0;
      if (ch->close_recv)
        chan_finish(ch);
      return 0;
    }
  }
  if (ch->want_drain && queued(ch) <= ch->high_water / 2 &&
      ch->state == SSHMUX__CH_OPEN) {
    ch->want_drain = 0;
    if (ch->cbs.drain != NULL)
      CALLBACK(conn, ch->cbs.drain(ch));
  }
  return ch->state == SSHMUX__CH_OPEN && queued(ch) > 0 && ch->twin > 0;
}

void sshmux__chan_pump(sshmux_server_conn_t *conn) {
  int progress = 1;

  if (conn->held_pending) {
    uint32_t i;
    conn->held_pending = 0;
    for (i = 0; i < conn->nchans; i++) {
      sshmux_server_channel_t *ch = conn->chans[i];
      if (ch != NULL && ch->state == SSHMUX__CH_OPEN && !ch->paused)
        deliver_held(ch);
    }
  }
  /* Round robin, DRAIN_BUDGET per channel per pass, until the windows are
   * spent or the connection's buffer is full. */
  while (progress && conn->ready_head != NULL &&
         sshmux__transport_can_send(conn) &&
         sshmux__conn_out_queued(conn) < SSHMUX__SRV_OUT_HIGH) {
    sshmux_server_channel_t *stop = conn->ready_tail;
    progress = 0;
    for (;;) {
      sshmux_server_channel_t *ch = conn->ready_head;
      int last = ch == stop, more;
      size_t before;
      if (ch == NULL)
        break;
      conn->ready_head = ch->ready_next;
      if (conn->ready_head == NULL)
        conn->ready_tail = NULL;
      ch->in_ready = 0;
      ch->ready_next = NULL;
      before = queued(ch);
      more = chan_drain(ch, DRAIN_BUDGET);
      if (queued(ch) != before)
        progress = 1;
      if (more && ch->state == SSHMUX__CH_OPEN)
        ready_add(ch);
      if (last || conn->closing ||
          sshmux__conn_out_queued(conn) >= SSHMUX__SRV_OUT_HIGH)
        break;
    }
    if (conn->closing)
      return;
  }
}

/* ---- public channel API ---- */

void sshmux_server_channel_set_cbs(sshmux_server_channel_t *ch,
                                   const sshmux_server_channel_cbs_t *cbs) {
  if (ch == NULL)
    return;
  if (cbs != NULL)
    ch->cbs = *cbs;
  else
    memset(&ch->cbs, 0, sizeof(ch->cbs));
}

int sshmux_server_channel_accept(sshmux_server_channel_t *ch) {
  sshmux_server_conn_t *conn;
  sshmux__pkt_t p;

  if (ch == NULL || ch->state != SSHMUX__CH_OPENING)
    return SSHMUX_EINVAL;
  conn = ch->conn;
  if (conn->closing)
    return SSHMUX_ECLOSED;
  if (sshmux__pkt_begin(conn, &p, SSH_MSG_CHANNEL_OPEN_CONFIRMATION) != 0 ||
      sshmux__buf_put_u32(p.b, ch->remote_id) != 0 ||
      sshmux__buf_put_u32(p.b, ch->local_id) != 0 ||
      sshmux__buf_put_u32(p.b, ch->win_max) != 0 ||
      sshmux__buf_put_u32(p.b, SSHMUX__SRV_CHAN_MAXPKT) != 0 ||
      sshmux__pkt_end(conn, &p) != 0) {
    fail_oom(conn);
    return SSHMUX_ENOMEM;
  }
  ch->rwin = ch->win_max;
  ch->state = SSHMUX__CH_OPEN;
  if (queued(ch) > 0)
    ready_add(ch);
  return 0;
}

int sshmux_server_channel_reject(sshmux_server_channel_t *ch, uint32_t reason,
                                 const char *msg) {
  sshmux_server_conn_t *conn;
  sshmux__pkt_t p;

  if (ch == NULL || ch->state != SSHMUX__CH_OPENING)
    return SSHMUX_EINVAL;
  conn = ch->conn;
  if (!conn->closing &&
      (sshmux__pkt_begin(conn, &p, SSH_MSG_CHANNEL_OPEN_FAILURE) != 0 ||
       sshmux__buf_put_u32(p.b, ch->remote_id) != 0 ||
       sshmux__buf_put_u32(p.b, reason) != 0 ||
       sshmux__buf_put_cstring(p.b, msg ? msg : "") != 0 ||
       sshmux__buf_put_cstring(p.b, "") != 0 || sshmux__pkt_end(conn, &p) != 0))
    fail_oom(conn);
  ch->closed_cb = 1; /* a refused channel gets no close callback */
  chan_finish(ch);
  sshmux__conn_mark_dirty(conn);
  return 0;
}

int sshmux_server_channel_write(sshmux_server_channel_t *ch, int stream,
                                const void *data, size_t len) {
  sshmux__buf_t *q;
  size_t total;
  int r;

  if (ch == NULL ||
      (stream != SSHMUX_STREAM_STDOUT && stream != SSHMUX_STREAM_STDERR))
    return SSHMUX_EINVAL;
  if (ch->state == SSHMUX__CH_OPENING)
    return SSHMUX_EINVAL;
  if (ch->state != SSHMUX__CH_OPEN || ch->eof_queued || ch->close_queued ||
      ch->close_sent || ch->close_recv || ch->conn->closing)
    return SSHMUX_ECLOSED;
  total = queued(ch);
  if (total >= 4 * ch->high_water) {
    ch->want_drain = 1;
    return SSHMUX_EBUSY;
  }
  q = &ch->out[stream];
  if (q->pos >= 32768 || (q->pos > 0 && q->pos == q->len))
    sshmux__buf_compact(q);
  if ((r = sshmux__buf_put_bytes(q, data, len)) != 0)
    return r;
  if (len > 0)
    ready_add(ch);
  if (total + len >= ch->high_water) {
    ch->want_drain = 1;
    return 1;
  }
  return 0;
}

size_t
sshmux_server_channel_write_queue_size(const sshmux_server_channel_t *ch) {
  return queued(ch);
}

void sshmux_server_channel_set_high_water(sshmux_server_channel_t *ch,
                                          size_t n) {
  ch->high_water = n < 1024 ? 1024 : n;
}

void sshmux_server_channel_read_stop(sshmux_server_channel_t *ch) {
  ch->paused = 1;
}

void sshmux_server_channel_read_start(sshmux_server_channel_t *ch) {
  if (!ch->paused)
    return;
  ch->paused = 0;
  /* Held data and the window top-up go out from the loop, never from
   * inside this call (libuv's read_start does not call back either). */
  ch->conn->held_pending = 1;
  sshmux__conn_mark_dirty(ch->conn);
}

int sshmux_server_channel_eof(sshmux_server_channel_t *ch) {
  if (ch == NULL || ch->state != SSHMUX__CH_OPEN)
    return SSHMUX_EINVAL;
  if (ch->close_queued || ch->close_sent)
    return SSHMUX_ECLOSED;
  ch->eof_queued = 1;
  ready_add(ch);
  return 0;
}

int sshmux_server_channel_exit_status(sshmux_server_channel_t *ch,
                                      uint32_t code) {
  if (ch == NULL || ch->state != SSHMUX__CH_OPEN || ch->exit_queued)
    return SSHMUX_EINVAL;
  if (ch->close_queued || ch->close_sent)
    return SSHMUX_ECLOSED;
  ch->exit_queued = 1;
  ch->exit_code = code;
  ready_add(ch);
  return 0;
}

int sshmux_server_channel_exit_signal(sshmux_server_channel_t *ch,
                                      const char *name, int core_dumped,
                                      const char *msg) {
  if (ch == NULL || name == NULL || ch->state != SSHMUX__CH_OPEN ||
      ch->exit_queued)
    return SSHMUX_EINVAL;
  if (ch->close_queued || ch->close_sent)
    return SSHMUX_ECLOSED;
  ch->exit_sig_name = sshmux__strdup(name);
  ch->exit_sig_msg = msg ? sshmux__strdup(msg) : NULL;
  if (ch->exit_sig_name == NULL || (msg != NULL && ch->exit_sig_msg == NULL))
    return SSHMUX_ENOMEM;
  ch->exit_queued = 1;
  ch->exit_is_signal = 1;
  ch->exit_core = core_dumped != 0;
  ready_add(ch);
  return 0;
}

void sshmux_server_channel_close(sshmux_server_channel_t *ch) {
  if (ch == NULL)
    return;
  if (ch->state == SSHMUX__CH_OPENING) {
    (void)sshmux_server_channel_reject(ch, SSHMUX_OPEN_CONNECT_FAILED,
                                       "closed");
    return;
  }
  if (ch->state != SSHMUX__CH_OPEN || ch->close_queued)
    return;
  ch->close_queued = 1;
  ready_add(ch);
}

const sshmux_server_open_info_t *
sshmux_server_channel_info(const sshmux_server_channel_t *ch) {
  return &ch->info;
}

sshmux_server_conn_t *
sshmux_server_channel_conn(const sshmux_server_channel_t *ch) {
  return ch->conn;
}

uint32_t
sshmux_server_channel_remote_window(const sshmux_server_channel_t *ch) {
  return (uint32_t)ch->twin;
}

void sshmux_server_channel_set_data(sshmux_server_channel_t *ch, void *data) {
  ch->data = data;
}

void *sshmux_server_channel_get_data(const sshmux_server_channel_t *ch) {
  return ch->data;
}
