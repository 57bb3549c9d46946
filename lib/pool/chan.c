/* pool/chan.c -- the upstream channel the embedder holds: one libssh2 channel
 * on a pooled connection, with the pieces a relay needs on top of libssh2
 * 1.10's raw non-blocking calls:
 *
 *  - requests (pty, env, shell/exec/subsystem, window-change) kept in a FIFO
 *    and pipelined as far as libssh2 allows: a pty-req, an env and the
 *    shell/exec go out together (one upstream round trip, as OpenSSH's own
 *    client does), though libssh2 matches a reply by channel only (see
 *    service_reqs for why none can take another's answer);
 *  - a write queue that owns the bytes until libssh2 takes them (so an
 *    EAGAIN never loses or repeats data) with a high-water mark and a drain
 *    callback for back-pressure;
 *  - reads of stdout AND stderr (unread stderr closes the shared window and
 *    stalls stdout), paused and resumed by the embedder;
 *  - the receive window's auto-tuning (tune_window), which grants the
 *    upstream credit of default-window channels and jump tunnels;
 *  - the EOF / CLOSE / exit-status sequence, and close with a callback.
 *
 * All libssh2 calls happen in sshmux__upchan_service(), run from the
 * connection's service pass on the loop thread; the public functions only
 * queue work and mark the connection dirty.  Failures caused by the
 * connection are reported through deferred callbacks, so none of them runs
 * inside an API call. */
#include <inttypes.h>
#include <string.h>

#include "pool/pool-int.h"
#include "core/core.h"

static int zombie_adopt(sshmux__upconn_t *c, LIBSSH2_CHANNEL *lch, int session);

static void chan_errmsg(sshmux_upchan_t *ch, const char *msg) {
  snprintf(ch->errmsg, sizeof(ch->errmsg), "%s", msg != NULL ? msg : "");
}

sshmux_upchan_t *sshmux__upchan_new(sshmux_pool_t *p,
                                    const sshmux_upchan_spec_t *spec,
                                    const sshmux_upchan_callbacks_t *cbs,
                                    void *data, sshmux_upchan_open_cb open_cb,
                                    int *err) {
  sshmux_upchan_t *ch;
  sshmux__buf_t b;
  int rc = 0;

  *err = 0;
  switch (spec->type) {
  case SSHMUX_UPCHAN_SESSION:
    break;
  case SSHMUX_UPCHAN_DIRECT_TCPIP:
    if (spec->host == NULL || *spec->host == '\0' || spec->port <= 0 ||
        spec->port > 65535) {
      *err = SSHMUX_EINVAL;
      return NULL;
    }
    break;
  case SSHMUX_UPCHAN_DIRECT_STREAMLOCAL:
    if (spec->path == NULL || *spec->path == '\0') {
      *err = SSHMUX_EINVAL;
      return NULL;
    }
    break;
  default:
    *err = SSHMUX_EINVAL;
    return NULL;
  }
  ch = sshmux__calloc(1, sizeof(*ch));
  if (ch == NULL) {
    *err = SSHMUX_ENOMEM;
    return NULL;
  }
  ch->pool = p;
  ch->type = spec->type;
  ch->autotune = spec->window == 0;
  ch->window = ch->autotune ? SSHMUX__CHAN_WINDOW_OPEN : spec->window;
  ch->tuned = ch->autotune ? SSHMUX__CHAN_WINDOW_DEFAULT : spec->window;
  ch->hwm = spec->write_hwm ? spec->write_hwm : SSHMUX__CHAN_HWM_DEFAULT;
  if (cbs != NULL)
    ch->cbs = *cbs;
  ch->data = data;
  ch->open_cb = open_cb;
  ch->exit_status = -1;
  sshmux__list_init(&ch->link);
  sshmux__list_init(&ch->reqs);
  sshmux__list_init(&ch->inflight);
  sshmux__list_init(&ch->d_open.link);
  sshmux__list_init(&ch->d_closed.link);
  sshmux__list_init(&ch->d_close.link);
  sshmux__buf_init(&ch->wq, SSHMUX__CHAN_WQ_MAX);

  /* The channel-open extra data (RFC 4254 §7.2; OpenSSH PROTOCOL 2.4). */
  sshmux__buf_init(&b, 4096);
  if (spec->type == SSHMUX_UPCHAN_DIRECT_TCPIP) {
    const char *oh = spec->orig_host ? spec->orig_host : "127.0.0.1";
    if ((rc = sshmux__buf_put_cstring(&b, spec->host)) == 0 &&
        (rc = sshmux__buf_put_u32(&b, (uint32_t)spec->port)) == 0 &&
        (rc = sshmux__buf_put_cstring(&b, oh)) == 0)
      rc = sshmux__buf_put_u32(&b, (uint32_t)spec->orig_port);
  } else if (spec->type == SSHMUX_UPCHAN_DIRECT_STREAMLOCAL) {
    if ((rc = sshmux__buf_put_cstring(&b, spec->path)) == 0 &&
        (rc = sshmux__buf_put_cstring(&b, "")) == 0)
      rc = sshmux__buf_put_u32(&b, 0);
  }
  if (rc != 0) {
    sshmux__buf_free(&b);
    sshmux__free(ch);
    *err = rc;
    return NULL;
  }
  ch->payload = b.data;
  ch->payload_len = b.len;
  p->nchans++;
  return ch;
}

static void req_free(sshmux__req_t *r) {
  sshmux__free(r->a);
  sshmux__free(r->b);
  sshmux__free(r->modes);
  sshmux__free(r);
}

void sshmux__upchan_free(sshmux_upchan_t *ch) {
  sshmux_pool_t *p = ch->pool;

  sshmux__link_t *lists[2] = {&ch->reqs, &ch->inflight};

  for (int i = 0; i < 2; i++)
    while (!sshmux__list_empty(lists[i])) {
      sshmux__req_t *r =
          SSHMUX__CONTAINER_OF(lists[i]->next, sshmux__req_t, link);
      sshmux__list_remove(&r->link);
      req_free(r);
    }
  sshmux__list_remove(&ch->d_open.link);
  sshmux__list_remove(&ch->d_closed.link);
  sshmux__list_remove(&ch->d_close.link);
  sshmux__buf_free(&ch->wq);
  sshmux__free(ch->payload);
  sshmux__free(ch->exit_signal);
  sshmux__free(ch);
  p->nchans--;
  sshmux__pool_maybe_finish_close(p);
  sshmux__pool_kick(p);
}

/* Complete every queued request with status (from deferred context). */
static void cancel_reqs(sshmux_upchan_t *ch, int status) {
  while (!sshmux__list_empty(&ch->inflight)) { /* back in front, in order */
    sshmux__link_t *l = ch->inflight.prev;
    sshmux__list_remove(l);
    sshmux__list_push_front(&ch->reqs, l);
  }
  ch->ninflight = 0;
  while (!sshmux__list_empty(&ch->reqs)) {
    sshmux__req_t *r = SSHMUX__CONTAINER_OF(ch->reqs.next, sshmux__req_t, link);
    sshmux__list_remove(&r->link);
    if (r->cb != NULL)
      SSHMUX__EMBEDDER_CALL(r->cb(ch, status, r->data));
    req_free(r);
  }
}

static void do_finish(sshmux__deferred_t *d) {
  sshmux_upchan_t *ch = SSHMUX__CONTAINER_OF(d, sshmux_upchan_t, d_close);

  cancel_reqs(ch, SSHMUX_ECLOSED);
  if (!ch->open_delivered) {
    ch->open_delivered = 1;
    SSHMUX__EMBEDDER_CALL(ch->open_cb(ch, SSHMUX_ECLOSED));
  }
  if (ch->close_cb != NULL)
    SSHMUX__EMBEDDER_CALL(ch->close_cb(ch));
  sshmux__upchan_free(ch);
}

static void finish(sshmux_upchan_t *ch) {
  if (ch->finishing)
    return;
  ch->finishing = 1;
  sshmux__list_remove(&ch->d_open.link);
  sshmux__list_remove(&ch->d_closed.link);
  sshmux__pool_defer(ch->pool, &ch->d_close, do_finish);
}

static void do_open_failed(sshmux__deferred_t *d) {
  sshmux_upchan_t *ch = SSHMUX__CONTAINER_OF(d, sshmux_upchan_t, d_open);

  cancel_reqs(ch, ch->open_status);
  ch->open_delivered = 1;
  SSHMUX__EMBEDDER_CALL(ch->open_cb(ch, ch->open_status));
  sshmux__upchan_free(ch);
}

void sshmux__upchan_fail_open(sshmux_upchan_t *ch, int err, const char *msg) {
  ch->state = SSHMUX__CH_DONE;
  ch->conn = NULL;
  sshmux__list_remove(&ch->link);
  chan_errmsg(ch, msg);
  if (ch->close_requested) {
    finish(ch);
    return;
  }
  ch->open_status = err;
  sshmux__pool_defer(ch->pool, &ch->d_open, do_open_failed);
}

static void do_closed(sshmux__deferred_t *d) {
  sshmux_upchan_t *ch = SSHMUX__CONTAINER_OF(d, sshmux_upchan_t, d_closed);

  if (ch->close_requested || ch->closed_delivered)
    return;
  cancel_reqs(ch, ch->closed_status < 0 ? ch->closed_status : SSHMUX_ECLOSED);
  ch->closed_delivered = 1;
  if (ch->cbs.on_closed != NULL)
    SSHMUX__EMBEDDER_CALL(ch->cbs.on_closed(ch, ch->closed_status));
}

static void queue_closed(sshmux_upchan_t *ch, int status) {
  if (ch->closed_pending || ch->close_requested)
    return;
  ch->closed_pending = 1;
  ch->closed_status = status;
  sshmux__pool_defer(ch->pool, &ch->d_closed, do_closed);
}

/* Forget the libssh2 channel and the connection's bookkeeping of it. */
static void detach(sshmux_upchan_t *ch) {
  sshmux__upconn_t *c = ch->conn;

  if (c != NULL && c->req_owner == ch) {
    c->req_owner = NULL;
    sshmux__upconn_schedule(c);
  }
  if (c != NULL && ch->lch != NULL) {
    c->nchans--;
    if (ch->type == SSHMUX_UPCHAN_SESSION)
      c->nsessions--;
    if (c->nchans == 0)
      c->idle_since_ms = sshmux__pool_now(c->pool);
  }
  sshmux__list_remove(&ch->link);
  ch->lch = NULL;
  ch->conn = NULL;
}

void sshmux__upchan_fail(sshmux_upchan_t *ch, int err, const char *msg) {
  detach(ch);
  ch->state = SSHMUX__CH_DONE;
  chan_errmsg(ch, msg);
  if (ch->close_requested)
    finish(ch);
  else
    queue_closed(ch, err);
}

void sshmux__upchan_opened(sshmux_upchan_t *ch, LIBSSH2_CHANNEL *lch) {
  sshmux__upconn_t *c = ch->conn;

  ch->lch = lch;
  ch->state = SSHMUX__CH_OPEN;
  sshmux__list_push(&c->chans, &ch->link);
  c->nchans++;
  if (ch->type == SSHMUX_UPCHAN_SESSION)
    c->nsessions++;
  c->pool->stats.channels_opened++;
  if (ch->close_requested)
    return; /* the service pass frees it; finish reports ECLOSED */
  ch->open_delivered = 1;
  SSHMUX__EMBEDDER_CALL(ch->open_cb(ch, 0));
}

/* libssh2 errors that concern one channel only; anything else means the
 * session is unusable. */
static int chan_level(int rc) {
  switch (rc) {
  case LIBSSH2_ERROR_CHANNEL_FAILURE:
  case LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED:
  case LIBSSH2_ERROR_CHANNEL_UNKNOWN:
  case LIBSSH2_ERROR_CHANNEL_WINDOW_EXCEEDED:
  case LIBSSH2_ERROR_CHANNEL_PACKET_EXCEEDED:
  case LIBSSH2_ERROR_CHANNEL_CLOSED:
  case LIBSSH2_ERROR_CHANNEL_EOF_SENT:
  case LIBSSH2_ERROR_INVAL:
    return 1;
  default:
    return 0;
  }
}

static int run_req(sshmux_upchan_t *ch, sshmux__req_t *r) {
  LIBSSH2_CHANNEL *l = ch->lch;

  switch (r->type) {
  case SSHMUX__REQ_PTY:
    return libssh2_channel_request_pty_ex(
        l, r->a, (unsigned)strlen(r->a), (const char *)r->modes,
        (unsigned)r->modes_len, (int)r->w, (int)r->h, (int)r->wpx, (int)r->hpx);
  case SSHMUX__REQ_ENV:
    return libssh2_channel_setenv_ex(l, r->a, (unsigned)strlen(r->a), r->b,
                                     (unsigned)strlen(r->b));
  case SSHMUX__REQ_SHELL:
    return libssh2_channel_process_startup(l, "shell", 5, NULL, 0);
  case SSHMUX__REQ_EXEC:
    return libssh2_channel_process_startup(l, "exec", 4, r->a,
                                           (unsigned)strlen(r->a));
  case SSHMUX__REQ_SUBSYSTEM:
    return libssh2_channel_process_startup(l, "subsystem", 9, r->a,
                                           (unsigned)strlen(r->a));
  case SSHMUX__REQ_WINCH:
    return libssh2_channel_request_pty_size_ex(l, (int)r->w, (int)r->h,
                                               (int)r->wpx, (int)r->hpx);
  }
  return LIBSSH2_ERROR_INVAL;
}

/* The channel ended upstream: collect the exit status and report. */
static void remote_closed(sshmux_upchan_t *ch) {
  char *sig = NULL;
  size_t siglen = 0;

  SSHMUX__LOG_TRACE("channel %p: closed upstream", (void *)ch);
  ch->exit_status = libssh2_channel_get_exit_status(ch->lch);
  if (libssh2_channel_get_exit_signal(ch->lch, &sig, &siglen, NULL, NULL, NULL,
                                      NULL) == 0 &&
      sig != NULL) {
    ch->exit_signal = sshmux__strndup(sig, siglen);
    ch->exit_status = -1;
  }
  if (sig != NULL)
    libssh2_free(ch->conn->s, sig);
  ch->state = SSHMUX__CH_DONE;
  queue_closed(ch, 0);
}

/* Hand queued bytes, then a queued EOF, to libssh2 while the window and
 * the connection's send queue allow.  0 (with *progress set), 1 if the
 * channel failed (reported), or a negative libssh2 error fatal for the
 * connection. */
static int write_some(sshmux_upchan_t *ch, int *progress) {
  sshmux__upconn_t *c = ch->conn;
  size_t budget = SSHMUX__PASS_BUDGET;
  char mb[SSHMUX__ERRLEN];
  ssize_t n;
  int rc;

  while (sshmux__buf_remaining(&ch->wq) > 0 && budget > 0 &&
         sshmux__buf_remaining(&c->out) < SSHMUX__OUT_HWM) {
    size_t len = SSHMUX__MIN(sshmux__buf_remaining(&ch->wq), 32700u);
    if (libssh2_channel_window_write_ex(ch->lch, NULL) == 0)
      break; /* wait for a WINDOW_ADJUST, i.e. readability */
    n = libssh2_channel_write_ex(ch->lch, 0,
                                 (const char *)sshmux__buf_rptr(&ch->wq), len);
    if (n == LIBSSH2_ERROR_EAGAIN || n == 0)
      break;
    if (n < 0) {
      if (!chan_level((int)n))
        return (int)n;
      sshmux__upchan_fail(ch, sshmux__err_from_ssh2((int)n),
                          sshmux__ssh2_error(c->s, mb, sizeof(mb)));
      return 1;
    }
    ch->wq.pos += (size_t)n;
    budget -= SSHMUX__MIN(budget, (size_t)n);
    *progress = 1;
  }
  if (sshmux__buf_remaining(&ch->wq) == 0)
    sshmux__buf_reset(&ch->wq);
  else if (ch->wq.pos > 65536 && ch->wq.pos > ch->wq.len / 2)
    sshmux__buf_compact(&ch->wq);
  if (ch->eof_queued && !ch->eof_sent && sshmux__buf_remaining(&ch->wq) == 0) {
    rc = libssh2_channel_send_eof(ch->lch);
    if (rc == 0) {
      ch->eof_sent = 1;
      *progress = 1;
    } else if (rc != LIBSSH2_ERROR_EAGAIN) {
      if (!chan_level(rc))
        return rc;
      ch->eof_sent = 1; /* already closed upstream: nothing to tell */
    }
  }
  return 0;
}

/* The owner closed the channel.  What it queued before closing still goes
 * first -- requests, bytes, an EOF (a relay closes right after forwarding
 * a client's last data and EOF) -- unless the channel already ended
 * upstream; then EOF+CLOSE and free.  Returns progress or a fatal error. */
static int close_step(sshmux_upchan_t *ch, int progress) {
  sshmux__upconn_t *c = ch->conn;
  int rc;

  if (ch->state == SSHMUX__CH_OPEN &&
      (!sshmux__list_empty(&ch->inflight) || !sshmux__list_empty(&ch->reqs) ||
       sshmux__buf_remaining(&ch->wq) > 0 ||
       (ch->eof_queued && !ch->eof_sent))) {
    /* Nobody reads any more: drop what comes, so a peer blocked on a full
     * window can go on reading what we still send. */
    for (int stream = 0, budget = 8; stream < 2 && budget > 0; budget--) {
      ssize_t n = libssh2_channel_read_ex(ch->lch, stream, c->pool->readbuf,
                                          sizeof(c->pool->readbuf));
      if (n > 0)
        progress = 1;
      else if (n == 0 || n == LIBSSH2_ERROR_EAGAIN)
        stream++;
      else if (!chan_level((int)n))
        return (int)n;
      else
        break;
    }
    return progress;
  }
  rc = libssh2_channel_free(ch->lch);
  SSHMUX__LOG_TRACE("channel %p: free -> %d", (void *)ch, rc);
  /* EAGAIN: EOF and CLOSE are sent, the server's CLOSE is still to come
   * (OpenSSH sends it when the command exits).  The owner need not wait
   * for that: the connection keeps the libssh2 channel until then. */
  if (rc == LIBSSH2_ERROR_EAGAIN &&
      zombie_adopt(c, ch->lch, ch->type == SSHMUX_UPCHAN_SESSION) != 0)
    return progress;
  detach(ch);
  finish(ch);
  return 1;
}

/* The libssh2 1.10 state a request type keeps in its channel: pty-req and
 * window-change share one, env has one, shell/exec/subsystem another.  Two
 * requests of one slot can never be in flight together. */
static unsigned req_slot(sshmux__req_type_t type) {
  switch (type) {
  case SSHMUX__REQ_PTY:
  case SSHMUX__REQ_WINCH:
    return 1u;
  case SSHMUX__REQ_ENV:
    return 2u;
  default:
    return 4u;
  }
}

/* A request's call returned something other than EAGAIN: report it.
 * Returns a negative libssh2 error fatal for the connection, else 0. */
static int req_done(sshmux_upchan_t *ch, sshmux__req_t *r, int rc) {
  char mb[SSHMUX__ERRLEN];

  SSHMUX__LOG_TRACE("channel %p: request %d -> %d", (void *)ch, r->type, rc);
  if (rc != 0 && !chan_level(rc))
    return rc; /* r stays queued; the connection fails and frees it */
  sshmux__list_remove(&r->link);
  ch->ninflight--;
  if (rc != 0)
    chan_errmsg(ch, sshmux__ssh2_error(ch->conn->s, mb, sizeof(mb)));
  if (r->cb != NULL)
    SSHMUX__EMBEDDER_CALL(r->cb(ch,
                                rc == 0 ? 0
                                : rc == LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED
                                    ? SSHMUX_EREQ_FAILED
                                    : sshmux__err_from_ssh2(rc),
                                r->data));
  req_free(r);
  return 0;
}

/* Requests.  Every call that waits for a reply (pty-req, env, shell, exec,
 * subsystem) ends in libssh2's _libssh2_packet_requirev, which takes a
 * CHANNEL_SUCCESS of this channel if the packet list holds one, else a
 * CHANNEL_FAILURE -- whichever request it answered -- or else reads on and
 * takes the first of the two it parses.  Replies come in request order, so
 * pipelining is safe as long as no two replies of the channel ever wait in
 * the list together, and each wait can only see its own:
 *
 *  1. only the oldest request in flight (the head) is ever waited on with
 *     reads allowed; the next one becomes the head when it completes;
 *  2. while two or more are in flight, io_recv feeds libssh2 only inside
 *     the head's wait (head_reading): no other call -- another channel's
 *     read, an open, a write draining window adjusts, the later request's
 *     own first wait when it is sent -- can parse a reply and leave it in
 *     the list.  The head's wait returns at the first reply it parses,
 *     which is its own; the bytes behind stay unparsed in libssh2's buffer;
 *  3. a request is sent behind others only right after the head's wait
 *     returned EAGAIN (its reply not parsed yet) or right after it was
 *     sent itself, so nothing of the channel waits in the list then.
 *
 * Requests go out in FIFO order, each only when its slot (req_slot) is free,
 * and one channel per connection has requests in flight (req_owner).
 * Returns a negative libssh2 error fatal for the connection, else 0. */
static int service_reqs(sshmux_upchan_t *ch, int *progress) {
  sshmux__upconn_t *c = ch->conn;
  unsigned busy = 0;
  sshmux__req_t *r;
  sshmux__link_t *l;
  int rc;

  if (c->req_owner != NULL && c->req_owner != ch)
    return 0;
  while (!sshmux__list_empty(&ch->inflight)) {
    r = SSHMUX__CONTAINER_OF(ch->inflight.next, sshmux__req_t, link);
    c->head_reading = 1;
    rc = run_req(ch, r);
    c->head_reading = 0;
    if (rc == LIBSSH2_ERROR_EAGAIN)
      break;
    if ((rc = req_done(ch, r, rc)) != 0)
      return rc;
    *progress = 1;
    if (ch->state != SSHMUX__CH_OPEN)
      return 0;
  }
  for (l = ch->inflight.next; l != &ch->inflight; l = l->next)
    busy |= req_slot(SSHMUX__CONTAINER_OF(l, sshmux__req_t, link)->type);
  while (!sshmux__list_empty(&ch->reqs)) {
    r = SSHMUX__CONTAINER_OF(ch->reqs.next, sshmux__req_t, link);
    if ((busy & req_slot(r->type)) != 0)
      break;
    if (busy != 0) {
      SSHMUX__LOG_TRACE("channel %p: request %d pipelined", (void *)ch,
                        r->type);
      ch->pool->reqs_pipelined++;
    }
    sshmux__list_remove(&r->link);
    sshmux__list_push(&ch->inflight, &r->link);
    ch->ninflight++;
    c->req_owner = ch;
    rc = run_req(ch, r); /* behind others, it cannot read (2) */
    *progress = 1;
    if (rc == LIBSSH2_ERROR_EAGAIN) {
      busy |= req_slot(r->type);
      continue;
    }
    if ((rc = req_done(ch, r, rc)) != 0)
      return rc;
    if (ch->state != SSHMUX__CH_OPEN)
      return 0;
  }
  if (sshmux__list_empty(&ch->inflight) && c->req_owner == ch) {
    c->req_owner = NULL;
    sshmux__upconn_schedule(c); /* another channel's request may wait */
  }
  return 0;
}

/* Receive window auto-tuning.  A default-window channel starts with 2 MiB,
 * as OpenSSH's do, which caps a transfer at 2 MiB per round trip (39 MiB/s
 * on a 51 ms path).  libssh2 is told SSHMUX__CHAN_WINDOW_OPEN at open, so
 * that its own grants stay small, and this function grants the rest, once
 * per service pass: the first pass after the open brings the credit to
 * 2 MiB, before the peer has the exec request.  As Linux's TCP receive-buffer
 * tuning does, we count per round trip (the connection's shortest channel-open
 * RTT) how many bytes arrived; when that reached half the allowance, the window
 * was what limited the path, and the allowance grows to twice the bytes per
 * round trip (four times itself when three quarters were used), up to
 * SSHMUX__CHAN_WINDOW_MAX.  The allowance bounds credit plus
 * bytes buffered in libssh2 and is topped up only while the embedder
 * reads (not paused): a stalled reader pins about `tuned` bytes at most,
 * and a channel that never ran window-bound keeps 2 MiB. */
static int tune_window(sshmux_upchan_t *ch) {
  sshmux__upconn_t *c = ch->conn;
  unsigned long avail = 0, credit;
  uint64_t now, period, arrived, per_rtt;
  int rc;

  if (!ch->autotune || ch->paused || ch->eof_delivered)
    return 0;
  credit = libssh2_channel_window_read_ex(ch->lch, NULL, NULL);
  now = uv_hrtime();
  if (c->rtt_ns != 0 &&
      (ch->period_t0 == 0 || now - ch->period_t0 >= c->rtt_ns)) {
    /* Once per round trip, not per pass: what libssh2 buffers is a walk
     * of its whole packet list. */
    (void)libssh2_channel_window_read_ex(ch->lch, &avail, NULL);
    period = now - ch->period_t0;
    if (ch->period_t0 != 0) {
      /* Read during the period plus what is buffered now, less what was
       * buffered at its start: what libssh2 received in it. */
      arrived = ch->period_read + avail;
      arrived = arrived > ch->period_avail0 ? arrived - ch->period_avail0 : 0;
      per_rtt = arrived * c->rtt_ns / period;
      if (per_rtt * 2 >= ch->tuned && ch->tuned < SSHMUX__CHAN_WINDOW_MAX) {
        /* Nearly all of it used: the path could take more than we know,
         * so grow fourfold (the cap bounds the overshoot); else twice what
         * a round trip carried. */
        uint64_t next = per_rtt * 4 >= (uint64_t)ch->tuned * 3
                            ? (uint64_t)ch->tuned * 4
                            : per_rtt * 2;
        ch->tuned = (uint32_t)SSHMUX__MIN((uint64_t)SSHMUX__CHAN_WINDOW_MAX,
                                          SSHMUX__MAX(next, ch->tuned));
        SSHMUX__LOG_DEBUG("channel %p: receive window %u KiB (%" PRIu64
                          " KiB per %" PRIu64 " us round trip)",
                          (void *)ch, ch->tuned >> 10, per_rtt >> 10,
                          c->rtt_ns / 1000);
      }
    }
    ch->period_t0 = now;
    ch->period_read = 0;
    ch->period_avail0 = avail;
  }
  /* libssh2 1.10 counts read bytes, not received ones, against the window:
   * `credit` is what the peer may still send plus what libssh2 holds.
   * Grant once an eighth of the allowance is missing. */
  if (credit + ch->tuned / 8 > ch->tuned)
    return 0;
  /* Our send callback queues every byte, so EAGAIN cannot come; any other
   * error (out of memory, a dead session) is the connection's. */
  rc = libssh2_channel_receive_window_adjust2(
      ch->lch, (unsigned long)(ch->tuned - credit), 1, NULL);
  return rc == LIBSSH2_ERROR_EAGAIN ? 0 : rc;
}

int sshmux__upchan_service(sshmux_upchan_t *ch) {
  sshmux__upconn_t *c = ch->conn;
  LIBSSH2_SESSION *s = c->s;
  char mb[SSHMUX__ERRLEN];
  int progress = 0;
  ssize_t n;
  size_t budget;
  int rc;

  if (ch->state != SSHMUX__CH_OPEN)
    return ch->close_requested ? close_step(ch, 0) : 0;

  rc = service_reqs(ch, &progress);
  if (rc != 0)
    return rc;
  if (ch->state != SSHMUX__CH_OPEN)
    return progress;

  /* Writes, while the connection's send queue has room. */
  rc = write_some(ch, &progress);
  if (rc != 0)
    return rc;
  if (ch->close_requested)
    return close_step(ch, progress);
  if (ch->above_hwm && sshmux__buf_remaining(&ch->wq) < ch->hwm) {
    ch->above_hwm = 0;
    if (ch->cbs.on_drain != NULL)
      SSHMUX__EMBEDDER_CALL(ch->cbs.on_drain(ch));
    if (ch->close_requested || ch->state != SSHMUX__CH_OPEN)
      return 1;
  }
  /* Reads: stderr and stdout alternately, within the budget. */
  budget = SSHMUX__PASS_BUDGET;
  while (!ch->paused && !ch->eof_delivered && budget > 0) {
    int got = 0, ended = 0;
    for (int stream = 1; stream >= 0; stream--) {
      n = libssh2_channel_read_ex(ch->lch, stream, c->pool->readbuf,
                                  sizeof(c->pool->readbuf));
      if (n > 0) {
        got = 1;
        ch->period_read += (uint64_t)n;
        budget -= SSHMUX__MIN(budget, (size_t)n);
        if (ch->cbs.on_data != NULL)
          SSHMUX__EMBEDDER_CALL(
              ch->cbs.on_data(ch, stream, c->pool->readbuf, (size_t)n));
        if (ch->close_requested || ch->state != SSHMUX__CH_OPEN ||
            c->state == SSHMUX__UC_DEAD)
          return 1;
        if (ch->paused)
          break;
      } else if (n == 0) {
        ended++;
      } else if (n != LIBSSH2_ERROR_EAGAIN) {
        if (!chan_level((int)n))
          return (int)n;
        sshmux__upchan_fail(ch, sshmux__err_from_ssh2((int)n),
                            sshmux__ssh2_error(s, mb, sizeof(mb)));
        return 1;
      }
    }
    if (got) {
      progress = 1;
      continue;
    }
    SSHMUX__LOG_TRACE("channel %p: reads ended %d eof %d", (void *)ch, ended,
                      libssh2_channel_eof(ch->lch));
    if (ended == 2 && libssh2_channel_eof(ch->lch) == 1) {
      ch->eof_delivered = 1;
      progress = 1;
      if (ch->cbs.on_eof != NULL)
        SSHMUX__EMBEDDER_CALL(ch->cbs.on_eof(ch));
      if (ch->close_requested || ch->state != SSHMUX__CH_OPEN)
        return 1;
    }
    break;
  }
  if ((rc = tune_window(ch)) != 0)
    return rc;
  if (ch->eof_delivered) {
    rc = libssh2_channel_wait_closed(ch->lch);
    if (rc == 0) {
      remote_closed(ch);
      progress = 1;
    } else if (rc != LIBSSH2_ERROR_EAGAIN && rc != LIBSSH2_ERROR_INVAL &&
               !chan_level(rc)) {
      return rc;
    }
  }
  return progress;
}

/* ---- public API ---- */

static void kick(sshmux_upchan_t *ch) {
  if (ch->conn != NULL)
    sshmux__upconn_schedule(ch->conn);
}

static int usable(const sshmux_upchan_t *ch) {
  return !ch->close_requested && ch->state != SSHMUX__CH_DONE;
}

static int push_req(sshmux_upchan_t *ch, sshmux__req_t *r,
                    sshmux_upchan_req_cb cb, void *data) {
  r->ch = ch;
  r->cb = cb;
  r->data = data;
  sshmux__list_push(&ch->reqs, &r->link);
  kick(ch);
  return 0;
}

static sshmux__req_t *new_req(sshmux_upchan_t *ch, sshmux__req_type_t type,
                              const char *a, const char *b, int *err) {
  sshmux__req_t *r;

  *err = 0;
  if (!usable(ch)) {
    *err = SSHMUX_ECLOSED;
    return NULL;
  }
  r = sshmux__calloc(1, sizeof(*r));
  if (r == NULL) {
    *err = SSHMUX_ENOMEM;
    return NULL;
  }
  sshmux__list_init(&r->link);
  r->type = type;
  if ((a != NULL && (r->a = sshmux__strdup(a)) == NULL) ||
      (b != NULL && (r->b = sshmux__strdup(b)) == NULL)) {
    req_free(r);
    *err = SSHMUX_ENOMEM;
    return NULL;
  }
  return r;
}

/* Opcodes in the order we give them up when term + modes exceed 256 bytes:
 * relics of upper-case-only terminals and parity, then rarely bound
 * control characters, then the speeds (the pty works without them). */
static const uint8_t drop_order[] = {52 /* XCASE */,
                                     37 /* IUCLC */,
                                     71 /* OLCUC */,
                                     31 /* PARMRK */,
                                     74 /* ONOCR */,
                                     75 /* ONLRET */,
                                     62 /* PENDIN */,
                                     16 /* VSWTCH */,
                                     17 /* VSTATUS */,
                                     11 /* VDSUSP */,
                                     15 /* VFLUSH */,
                                     18 /* VDISCARD */,
                                     6 /* VEOL */,
                                     7 /* VEOL2 */,
                                     90 /* CS7 */,
                                     92 /* PARENB */,
                                     93 /* PARODD */,
                                     39 /* IXANY */,
                                     40 /* IXOFF */,
                                     33 /* ISTRIP */,
                                     30 /* IGNPAR */,
                                     32 /* INPCK */,
                                     34 /* INLCR */,
                                     35 /* IGNCR */,
                                     73 /* OCRNL */,
                                     56 /* ECHONL */,
                                     57 /* NOFLSH */,
                                     58 /* TOSTOP */,
                                     41 /* IMAXBEL */,
                                     128 /* ISPEED */,
                                     129 /* OSPEED */};

size_t sshmux__pty_modes_trim(const uint8_t *in, size_t n, size_t term_len,
                              uint8_t *out) {
  uint8_t ops[64];
  uint32_t vals[64];
  uint8_t keep[64];
  size_t count = 0, kept, limit, o = 0;
  sshmux__buf_t b;

  limit = term_len >= 256 ? 0 : 256 - term_len;
  sshmux__buf_view(&b, in, n);
  while (count < SSHMUX__ARRAY_SIZE(ops)) {
    uint8_t op;
    uint32_t v;
    if (sshmux__buf_get_u8(&b, &op) != 0 || op == 0 || op >= 160 ||
        sshmux__buf_get_u32(&b, &v) != 0)
      break;
    ops[count] = op;
    vals[count] = v;
    keep[count++] = 1;
  }
  kept = count;
  for (size_t d = 0; d < sizeof(drop_order) && kept * 5 + 1 > limit; d++)
    for (size_t i = 0; i < count; i++)
      if (keep[i] && ops[i] == drop_order[d]) {
        keep[i] = 0;
        kept--;
      }
  for (size_t i = count; i > 0 && kept * 5 + 1 > limit; i--)
    if (keep[i - 1]) {
      keep[i - 1] = 0;
      kept--;
    }
  if (limit == 0)
    return 0;
  for (size_t i = 0; i < count; i++)
    if (keep[i]) {
      out[o++] = ops[i];
      sshmux__store_be32(out + o, vals[i]);
      o += 4;
    }
  out[o++] = 0;
  return o;
}

int sshmux_upchan_pty(sshmux_upchan_t *ch, const char *term,
                      const uint8_t *modes, size_t modes_len, unsigned cols,
                      unsigned rows, unsigned width_px, unsigned height_px,
                      sshmux_upchan_req_cb cb, void *req_data) {
  sshmux__req_t *r;
  int err;

  if (term == NULL || strlen(term) > 200 || (modes == NULL && modes_len > 0))
    return SSHMUX_EINVAL;
  r = new_req(ch, SSHMUX__REQ_PTY, term, NULL, &err);
  if (r == NULL)
    return err;
  r->modes = sshmux__malloc(modes_len + 1);
  if (r->modes == NULL) {
    req_free(r);
    return SSHMUX_ENOMEM;
  }
  r->modes_len =
      sshmux__pty_modes_trim(modes, modes_len, strlen(term), r->modes);
  r->w = cols;
  r->h = rows;
  r->wpx = width_px;
  r->hpx = height_px;
  return push_req(ch, r, cb, req_data);
}

int sshmux_upchan_env(sshmux_upchan_t *ch, const char *name, const char *value,
                      sshmux_upchan_req_cb cb, void *req_data) {
  sshmux__req_t *r;
  int err;

  if (name == NULL || value == NULL)
    return SSHMUX_EINVAL;
  if ((r = new_req(ch, SSHMUX__REQ_ENV, name, value, &err)) == NULL)
    return err;
  return push_req(ch, r, cb, req_data);
}

int sshmux_upchan_shell(sshmux_upchan_t *ch, sshmux_upchan_req_cb cb,
                        void *req_data) {
  sshmux__req_t *r;
  int err;

  if ((r = new_req(ch, SSHMUX__REQ_SHELL, NULL, NULL, &err)) == NULL)
    return err;
  return push_req(ch, r, cb, req_data);
}

int sshmux_upchan_exec(sshmux_upchan_t *ch, const char *command,
                       sshmux_upchan_req_cb cb, void *req_data) {
  sshmux__req_t *r;
  int err;

  if (command == NULL)
    return SSHMUX_EINVAL;
  if ((r = new_req(ch, SSHMUX__REQ_EXEC, command, NULL, &err)) == NULL)
    return err;
  return push_req(ch, r, cb, req_data);
}

int sshmux_upchan_subsystem(sshmux_upchan_t *ch, const char *name,
                            sshmux_upchan_req_cb cb, void *req_data) {
  sshmux__req_t *r;
  int err;

  if (name == NULL || *name == '\0')
    return SSHMUX_EINVAL;
  if ((r = new_req(ch, SSHMUX__REQ_SUBSYSTEM, name, NULL, &err)) == NULL)
    return err;
  return push_req(ch, r, cb, req_data);
}

int sshmux_upchan_window_change(sshmux_upchan_t *ch, unsigned cols,
                                unsigned rows, unsigned width_px,
                                unsigned height_px, sshmux_upchan_req_cb cb,
                                void *req_data) {
  sshmux__req_t *r;
  int err;

  if ((r = new_req(ch, SSHMUX__REQ_WINCH, NULL, NULL, &err)) == NULL)
    return err;
  r->w = cols;
  r->h = rows;
  r->wpx = width_px;
  r->hpx = height_px;
  return push_req(ch, r, cb, req_data);
}

int sshmux_upchan_write(sshmux_upchan_t *ch, const void *buf, size_t len) {
  int rc;

  if (!usable(ch) || ch->eof_queued)
    return SSHMUX_ECLOSED;
  if (len == 0)
    return ch->above_hwm;
  if (ch->wq.pos > 0 && ch->wq.pos == ch->wq.len)
    sshmux__buf_reset(&ch->wq);
  rc = sshmux__buf_put_bytes(&ch->wq, buf, len);
  if (rc != 0)
    return rc;
  if (ch->state == SSHMUX__CH_OPEN)
    kick(ch);
  if (sshmux__buf_remaining(&ch->wq) >= ch->hwm)
    ch->above_hwm = 1;
  return ch->above_hwm;
}

size_t sshmux_upchan_write_queue_size(const sshmux_upchan_t *ch) {
  return sshmux__buf_remaining(&ch->wq);
}

int sshmux_upchan_send_eof(sshmux_upchan_t *ch) {
  if (!usable(ch))
    return SSHMUX_ECLOSED;
  ch->eof_queued = 1;
  kick(ch);
  return 0;
}

void sshmux_upchan_read_stop(sshmux_upchan_t *ch) {
  SSHMUX__LOG_TRACE("channel %p: read stop", (void *)ch);
  ch->paused = 1;
}

void sshmux_upchan_read_start(sshmux_upchan_t *ch) {
  SSHMUX__LOG_TRACE("channel %p: read start (was %d)", (void *)ch, ch->paused);
  if (ch->paused) {
    ch->paused = 0;
    kick(ch);
  }
}

int sshmux_upchan_exit_status(const sshmux_upchan_t *ch) {
  return ch->exit_status;
}
const char *sshmux_upchan_exit_signal(const sshmux_upchan_t *ch) {
  return ch->exit_signal;
}
const char *sshmux_upchan_last_error(const sshmux_upchan_t *ch) {
  return ch->errmsg;
}
void sshmux_upchan_set_data(sshmux_upchan_t *ch, void *data) {
  ch->data = data;
}
void *sshmux_upchan_get_data(const sshmux_upchan_t *ch) {
  return ch->data;
}
sshmux_pool_t *sshmux_upchan_pool(const sshmux_upchan_t *ch) {
  return ch->pool;
}

/* The channel waits while its connection, or a jump connection it rides
 * on, has not finished its login; the prompt a worker waits on is that
 * connection's cur_prompt (under pool->mu).  An active connection waits
 * for nothing further out. */
int sshmux_upchan_awaits_prompt(const sshmux_upchan_t *ch,
                                const sshmux_prompt_t *prompt) {
  const sshmux__upconn_t *c;
  int hit = 0;

  if (ch == NULL || prompt == NULL || ch->conn == NULL ||
      ch->state >= SSHMUX__CH_OPEN)
    return 0;
  uv_mutex_lock(&ch->pool->mu);
  for (c = ch->conn; c != NULL && !hit; c = c->jump) {
    hit = c->cur_prompt == prompt;
    if (c->state >= SSHMUX__UC_ACTIVE)
      break;
  }
  uv_mutex_unlock(&ch->pool->mu);
  return hit;
}

void sshmux_upchan_close(sshmux_upchan_t *ch, sshmux_upchan_close_cb close_cb) {
  if (ch->close_requested)
    return;
  ch->close_requested = 1;
  ch->close_cb = close_cb;
  sshmux__list_remove(&ch->d_closed.link);
  if (sshmux__list_linked(&ch->d_open.link)) {
    /* The open failed and nobody was told yet: report ECLOSED instead. */
    sshmux__list_remove(&ch->d_open.link);
    finish(ch);
    return;
  }
  switch (ch->state) {
  case SSHMUX__CH_QUEUED:
    detach(ch);
    finish(ch);
    break;
  case SSHMUX__CH_OPENING:
    break; /* the open completes first; then it is freed */
  case SSHMUX__CH_OPEN:
  case SSHMUX__CH_DONE:
    if (ch->lch != NULL && ch->conn != NULL)
      kick(ch);
    else
      finish(ch);
    break;
  }
}

/* ---- channels closed by their owner, waiting for the server ---- */

typedef struct {
  sshmux__link_t link;
  LIBSSH2_CHANNEL *lch;
  int session;
} zombie_t;

static int zombie_adopt(sshmux__upconn_t *c, LIBSSH2_CHANNEL *lch,
                        int session) {
  zombie_t *z = sshmux__calloc(1, sizeof(*z));

  if (z == NULL)
    return SSHMUX_ENOMEM;
  z->lch = lch;
  z->session = session;
  sshmux__list_push(&c->zombies, &z->link);
  if (session)
    c->zombie_sessions++; /* the server still counts it (MaxSessions) */
  return 0;
}

/* Free the channels whose server CLOSE arrived; 1 if any. */
int sshmux__zombies_reap(sshmux__upconn_t *c) {
  sshmux__link_t *l, *next;
  int progress = 0;

  for (l = c->zombies.next; l != &c->zombies; l = next) {
    zombie_t *z = SSHMUX__CONTAINER_OF(l, zombie_t, link);
    next = l->next;
    if (libssh2_channel_free(z->lch) == LIBSSH2_ERROR_EAGAIN)
      continue;
    sshmux__list_remove(&z->link);
    if (z->session)
      c->zombie_sessions--;
    sshmux__free(z);
    progress = 1;
  }
  return progress;
}

/* Forget them without libssh2 (the session is being freed with them). */
void sshmux__zombies_drop(sshmux__upconn_t *c) {
  while (!sshmux__list_empty(&c->zombies)) {
    zombie_t *z = SSHMUX__CONTAINER_OF(c->zombies.next, zombie_t, link);
    sshmux__list_remove(&z->link);
    sshmux__free(z);
  }
  c->zombie_sessions = 0;
}
