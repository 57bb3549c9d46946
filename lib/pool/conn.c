/* pool/conn.c -- one upstream SSH connection on the loop: connecting, the
 * libssh2 I/O layer, the service pass, liveness, the jump tunnel pump and
 * teardown.
 *
 * Life: CONNECTING (libuv DNS + a non-blocking connect watched by uv_poll,
 * or, behind a jump host, a direct-tcpip channel on the jump's connection
 * bridged to a socketpair) -> AUTH (a worker thread owns the session and the
 * fd: blocking handshake, host key, login; see auth.c) -> ACTIVE (back on
 * the loop) -> DRAINING (expired, no new channels) -> DEAD.
 *
 * I/O layer (libssh2-1.10.md §6.2): once ACTIVE, libssh2's SEND callback
 * appends whole packets to our send queue and never reports EAGAIN, so
 * libssh2 never holds a half-sent packet and the BAD_USE / keepalive / rekey
 * hazards of 1.10 cannot happen; its RECV callback pops bytes we read from
 * the socket on readability.  The socket is written from the queue when
 * writable.  Because one libssh2 read may pull packets for every channel,
 * a service pass visits all channels round-robin (with a byte budget each)
 * whenever anything happened, not only the one whose data arrived.
 *
 * Jump hosts: the login runs over a socketpair pumped to the tunnel
 * channel; after the hand-off the pair is drained and the session's queues
 * are connected to the tunnel in memory (ring_*), which saves two syscalls
 * and a copy per chunk.
 *
 * Liveness: libssh2's keepalive@libssh2.org with want_reply=1 leaks its
 * replies in 1.10, and want_reply=0 proves nothing, so after a keepalive
 * interval of silence we open a channel of a type no server knows: the
 * server must answer with OPEN_FAILURE, libssh2 consumes that answer, and
 * any byte arriving resets the clock.  keepalive_count intervals of silence
 * make the connection dead.  TCP_USER_TIMEOUT backs this up for black-holed
 * links. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pool/pool-int.h"

#define PROBE_TYPE "liveness-probe@sshmux"

int sshmux__upconn_usable(const sshmux__upconn_t *c) {
  return c->state < SSHMUX__UC_DRAINING;
}

char *sshmux__target_key(const sshmux_target_t *t) {
  char *jk = NULL, *k;

  if (t->jump != NULL && (jk = sshmux__target_key(t->jump)) == NULL)
    return NULL;
  k = sshmux__asprintf("%s@%s:%d%s%s", t->user, t->host, t->port ? t->port : 22,
                       jk ? " via " : "", jk ? jk : "");
  sshmux__free(jk);
  return k;
}

/* The copied target and names (also the error path of upconn_new). */
static void free_fields(sshmux__upconn_t *c) {
  for (size_t i = 0; c->identities != NULL && c->identities[i]; i++)
    sshmux__free(c->identities[i]);
  sshmux__free(c->identities);
  sshmux__free(c->identity_agent);
  if (c->password != NULL)
    sshmux__free_secret(c->password, strlen(c->password));
  sshmux__free(c->user);
  sshmux__free(c->host);
  sshmux__free(c->key);
  sshmux__free(c->chain);
}

static void conn_free(sshmux__upconn_t *c) {
  sshmux_pool_t *p = c->pool;

  if (c->dirty)
    sshmux__list_remove(&c->dirty_link);
  if (c->ai_list != NULL)
    uv_freeaddrinfo(c->ai_list);
  free_fields(c);
  sshmux__free(c->info);
  sshmux__buf_free(&c->in);
  sshmux__buf_free(&c->out);
  sshmux__free(c);
  p->nconns_alive--;
  sshmux__pool_maybe_finish_close(p);
  sshmux__pool_kick(p);
}

/* Free once torn down, every handle closed, the worker gone, and no
 * connection riding on this one any more (their teardown still touches
 * it). */
static void maybe_free(sshmux__upconn_t *c) {
  if (c->freeing && c->handles_open == 0 && !c->worker_running &&
      c->dependents == 0)
    conn_free(c);
}

/* Called as each handle or request of the connection finishes closing. */
static void conn_release(sshmux__upconn_t *c) {
  c->handles_open--;
  maybe_free(c);
}

static void on_handle_closed(uv_handle_t *h) {
  sshmux__upconn_t *c = h->data;
  if (h == (uv_handle_t *)&c->poll && c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
  conn_release(c);
}

static void on_timer(uv_timer_t *t);
static void on_hold(uv_timer_t *t);
static void ring_switch_rx(sshmux__upconn_t *c);

sshmux__upconn_t *sshmux__upconn_new(sshmux_pool_t *p, const sshmux_target_t *t,
                                     const sshmux__upconn_t *from,
                                     const char *key, int *err) {
  sshmux__upconn_t *c = sshmux__calloc(1, sizeof(*c));
  size_t n = 0;
  const char *const *ids;
  const char *agent = NULL;

  *err = SSHMUX_ENOMEM;
  if (c == NULL)
    return NULL;
  c->pool = p;
  c->fd = c->ssh_fd = -1;
  sshmux__list_init(&c->link);
  sshmux__list_init(&c->chans);
  sshmux__list_init(&c->zombies);
  sshmux__list_init(&c->open_q);
  sshmux__list_init(&c->dirty_link);
  sshmux__buf_init(&c->in, SSHMUX__IN_MAX);
  sshmux__buf_init(&c->out, SSHMUX__OUT_MAX);
  c->done_ev.kind = SSHMUX__EV_DONE;
  c->done_ev.ptr = c;
  c->key = sshmux__strdup(key);
  c->label = c->key;
  if (t != NULL) {
    c->user = sshmux__strdup(t->user);
    c->host = sshmux__strdup(t->host);
    c->port = t->port ? t->port : 22;
    c->password = t->password ? sshmux__strdup(t->password) : NULL;
    c->idle_timeout_s =
        t->idle_timeout_s < 0 ? (int)p->o.idle_timeout_s : t->idle_timeout_s;
    c->max_lifetime_s =
        t->max_lifetime_s < 0 ? (int)p->o.max_lifetime_s : t->max_lifetime_s;
    c->accept_new = t->accept_new_hostkey;
    c->keepalive_ms = t->keepalive_s < 0 ? p->o.keepalive_ms
                                         : (unsigned)t->keepalive_s * 1000u;
    ids = t->identity_files;
    agent = t->identity_agent;
  } else {
    c->user = sshmux__strdup(from->user);
    c->host = sshmux__strdup(from->host);
    c->port = from->port;
    c->password = from->password ? sshmux__strdup(from->password) : NULL;
    c->idle_timeout_s = from->idle_timeout_s;
    c->max_lifetime_s = from->max_lifetime_s;
    c->accept_new = from->accept_new;
    c->keepalive_ms = from->keepalive_ms;
    ids = (const char *const *)from->identities;
    agent = from->identity_agent;
  }
  if (agent != NULL && (c->identity_agent = sshmux__strdup(agent)) == NULL)
    goto fail;
  while (ids != NULL && ids[n] != NULL)
    n++;
  c->identities = sshmux__calloc(n + 1, sizeof(char *));
  if (c->identities != NULL)
    for (size_t i = 0; i < n; i++)
      if ((c->identities[i] = sshmux__strdup(ids[i])) == NULL)
        goto fail;
  if (c->key == NULL || c->user == NULL || c->host == NULL ||
      c->identities == NULL ||
      ((t ? t->password : from->password) != NULL && c->password == NULL))
    goto fail;

  /* The jump: pooled like any other connection, found or created. */
  if (t != NULL ? t->jump != NULL : from->jump != NULL) {
    sshmux__upconn_t *j;
    if (t != NULL) {
      j = p->ops->place(p, t->jump, NULL, 0, NULL, err);
    } else if (sshmux__upconn_usable(from->jump)) {
      j = from->jump;
    } else {
      j = p->ops->place(p, NULL, from->jump, 0, from->jump, err);
    }
    if (j == NULL)
      goto fail;
    c->jump = j;
    j->dependents++;
    c->chain = *j->chain
                   ? sshmux__asprintf("%s,%s@%s:%d", j->chain, j->user, j->host,
                                      j->port)
                   : sshmux__asprintf("%s@%s:%d", j->user, j->host, j->port);
  } else {
    c->chain = sshmux__strdup("");
  }
  if (c->chain == NULL)
    goto fail;

  uv_timer_init(p->loop, &c->timer);
  uv_timer_init(p->loop, &c->hold_timer);
  c->timer.data = c->hold_timer.data = c;
  c->handles_open = 2;
  c->created_ms = c->idle_since_ms = sshmux__pool_now(p);
  sshmux__list_push(&p->conns, &c->link);
  p->nconns_alive++;
  *err = 0;
  return c;
fail:
  if (c->jump != NULL)
    c->jump->dependents--;
  free_fields(c);
  sshmux__free(c);
  if (*err == 0)
    *err = SSHMUX_ENOMEM;
  return NULL;
}

void sshmux__upconn_enqueue(sshmux__upconn_t *c, sshmux_upchan_t *ch) {
  ch->conn = c;
  ch->state = SSHMUX__CH_QUEUED;
  ch->open_t0 = 0; /* an open moved here is timed from its try here */
  sshmux__list_push(&c->open_q, &ch->link);
  sshmux__upconn_schedule(c);
}

/* ---- teardown ---- */

/* Drop the jump tunnel and its pump (the inner session sees EOF). */
static void close_tunnel(sshmux__upconn_t *c) {
  if (c->tunnel != NULL) {
    c->tunnel->data = NULL;
    sshmux_upchan_close(c->tunnel, NULL);
    c->tunnel = NULL;
  }
  if (c->pump_open) {
    c->pump_open = 0;
    uv_close((uv_handle_t *)&c->pump, on_handle_closed);
  }
}

static int free_session(void *arg) {
  sshmux__upconn_t *c = arg;

  libssh2_session_set_blocking(c->s, 0);
  libssh2_session_free(c->s);
  return 0;
}

static void teardown(sshmux__upconn_t *c) {
  sshmux__zombies_drop(c);
  if (c->s != NULL) {
    /* With our callbacks, and reads and writes failing, libssh2 neither
     * blocks nor reports EAGAIN while it frees the channels it still
     * knows, and does not wait for their CLOSE: nothing written now would
     * be sent anyway, and what libssh2 still holds of its input may be
     * the desynchronised rest of a packet it refused (over 40000 bytes),
     * which it would decrypt from the wrong place and assert on
     * (pool-int.h).  Guarded all the same: if it aborts, the arena frees
     * what libssh2 had of the session. */
    c->in_eof = 1;
    c->ssh2_freeing = 1;
    sshmux__buf_reset(&c->in);
    if (sshmux__ssh2_guarded(free_session, c) == SSHMUX__SSH2_TRIPPED)
      SSHMUX__LOG_DEBUG("%s: libssh2 failed an assertion while freeing the "
                        "session",
                        c->label);
    c->s = NULL;
    sshmux__upconn_arena_done(c);
  }
  close_tunnel(c);
  if (c->jump != NULL) {
    sshmux__upconn_t *j = c->jump;
    c->jump = NULL;
    if (--j->dependents == 0 && j->nchans == 0)
      j->idle_since_ms = sshmux__pool_now(c->pool);
    maybe_free(j);
  }
  if (c->gai_pending)
    uv_cancel((uv_req_t *)&c->gai);
  c->freeing = 1;
  if (c->poll_init) {
    c->poll_init = 0;
    uv_close((uv_handle_t *)&c->poll, on_handle_closed); /* closes fd */
  } else if (c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  uv_close((uv_handle_t *)&c->hold_timer, on_handle_closed);
}

void sshmux__upconn_fail(sshmux__upconn_t *c, int err, const char *fmt, ...) {
  sshmux__link_t *l, *next;
  va_list ap;

  if (c->state == SSHMUX__UC_DEAD)
    return;
  va_start(ap, fmt);
  vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
  va_end(ap);
  c->err = err;
  if (c->state < SSHMUX__UC_ACTIVE)
    c->pool->stats.login_failures++;
  c->state = SSHMUX__UC_DEAD;
  sshmux__list_remove(&c->link); /* the pool forgets it now */
  sshmux__log(err == SSHMUX_EEXPIRED || err == SSHMUX_ECLOSED ? SSHMUX_LOG_INFO
                                                              : SSHMUX_LOG_WARN,
              "%s: %s (%s)", c->label, c->errmsg, sshmux_err_name(err));

  if (c->opening != NULL) {
    sshmux_upchan_t *ch = c->opening;
    c->opening = NULL;
    if (ch->probe)
      sshmux__upchan_free(ch);
    else
      sshmux__upchan_fail_open(ch, err, c->errmsg);
  }
  while (!sshmux__list_empty(&c->open_q)) {
    sshmux_upchan_t *ch =
        SSHMUX__CONTAINER_OF(c->open_q.next, sshmux_upchan_t, link);
    sshmux__list_remove(&ch->link);
    if (ch->probe)
      sshmux__upchan_free(ch);
    else
      sshmux__upchan_fail_open(ch, err, c->errmsg);
  }
  for (l = c->chans.next; l != &c->chans; l = next) {
    next = l->next;
    sshmux__upchan_fail(SSHMUX__CONTAINER_OF(l, sshmux_upchan_t, link), err,
                        c->errmsg);
  }
  c->probe_inflight = 0;

  if (c->worker_running) {
    /* The worker owns session and fd: wake it and finish in worker_done. */
    uv_mutex_lock(&c->pool->mu);
    c->abort = 1;
    if (c->cur_prompt != NULL)
      sshmux__prompt_abort_locked(c->cur_prompt);
    uv_mutex_unlock(&c->pool->mu);
    if (c->fd >= 0)
      shutdown(c->fd, SHUT_RDWR);
    close_tunnel(c);
    return;
  }
  teardown(c);
}

static void flush(sshmux__upconn_t *c);

void sshmux__upconn_shutdown(sshmux__upconn_t *c, int err, const char *why) {
  if (c->state == SSHMUX__UC_DEAD)
    return;
  if (c->s != NULL && !c->worker_running && c->state >= SSHMUX__UC_ACTIVE) {
    libssh2_session_disconnect_ex(c->s, SSH_DISCONNECT_BY_APPLICATION, why, "");
    flush(c);
  }
  sshmux__upconn_fail(c, err, "%s", why);
}

/* ---- the socket ---- */

static void update_poll(sshmux__upconn_t *c);

static void ring_flush(sshmux__upconn_t *c);

static void flush(sshmux__upconn_t *c) {
  if (c->jump != NULL && c->state >= SSHMUX__UC_ACTIVE &&
      (c->ring_pending || c->ring_tx)) {
    if (c->ring_tx)
      ring_flush(c); /* else: held until the socketpair is drained */
    return;
  }
  while (sshmux__buf_remaining(&c->out) > 0 && c->fd >= 0) {
    ssize_t r = send(c->fd, sshmux__buf_rptr(&c->out),
                     sshmux__buf_remaining(&c->out), MSG_NOSIGNAL);
    if (r > 0) {
      c->out.pos += (size_t)r;
      c->bytes_out += (uint64_t)r;
      continue;
    }
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    c->io_error = r < 0 ? errno : EPIPE;
    break;
  }
  if (sshmux__buf_remaining(&c->out) == 0)
    sshmux__buf_reset(&c->out);
  else if (c->out.pos > 65536 && c->out.pos > c->out.len / 2)
    sshmux__buf_compact(&c->out);
}

static LIBSSH2_SEND_FUNC(io_send) {
  sshmux__upconn_t *c = *abstract;

  if (socket != c->ssh_fd) { /* the agent's socket, during auth only */
    ssize_t r = send(socket, buffer, length, flags);
    return r < 0 ? -errno : r;
  }
  if (c->ssh2_broken || c->ssh2_freeing)
    return -EPIPE;
  if (c->io_error)
    return -c->io_error;
  if (sshmux__buf_remaining(&c->out) + length > SSHMUX__OUT_MAX / 2)
    sshmux__buf_compact(&c->out);
  if (sshmux__buf_put_bytes(&c->out, buffer, length) != 0) {
    c->out_nomem = 1; /* libssh2 only says SOCKET_SEND */
    return -ENOBUFS;
  }
  return (ssize_t)length;
}

static LIBSSH2_RECV_FUNC(io_recv) {
  sshmux__upconn_t *c = *abstract;
  size_t n;

  if (socket != c->ssh_fd) {
    ssize_t r = recv(socket, buffer, length, flags);
    return r < 0 ? -errno : r;
  }
  if (c->ssh2_broken || c->ssh2_freeing)
    return -ECONNRESET;
  if (c->req_owner != NULL && c->req_owner->ninflight >= 2 &&
      c->req_owner->state == SSHMUX__CH_OPEN && !c->head_reading)
    return -EAGAIN; /* requests pipelined: see pool/chan.c, service_reqs */
  n = SSHMUX__MIN(length, sshmux__buf_remaining(&c->in));
  if (n == 0)
    return c->in_eof ? -ECONNRESET : -EAGAIN;
  memcpy(buffer, sshmux__buf_rptr(&c->in), n);
  c->in.pos += n;
  c->consumed += n;
  if (c->in.pos == c->in.len)
    sshmux__buf_reset(&c->in);
  return (ssize_t)n;
}

static void read_socket(sshmux__upconn_t *c) {
  int got = 0;

  for (;;) {
    size_t room;
    ssize_t r;
    if (c->in.pos > 0 && (c->in.len == c->in.max || c->in.pos > 65536))
      sshmux__buf_compact(&c->in);
    room = SSHMUX__MIN(c->in.max - c->in.len, (size_t)65536);
    if (room == 0 || sshmux__buf_reserve(&c->in, room) != 0)
      break;
    r = read(c->fd, c->in.data + c->in.len, room);
    if (r > 0) {
      c->in.len += (size_t)r;
      c->bytes_in += (uint64_t)r;
      got = 1;
      if ((size_t)r < room)
        break;
      continue;
    }
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    c->in_eof = 1;
    if (r < 0)
      c->io_error = errno;
    break;
  }
  if (got && c->tcp) {
    c->rx_reads++;
    sshmux__upconn_quickack(c);
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  sshmux__upconn_t *c = h->data;

  if (c->state != SSHMUX__UC_ACTIVE && c->state != SSHMUX__UC_DRAINING)
    return;
  if (status < 0) {
    sshmux__upconn_fail(c, SSHMUX_EDISCONNECTED, "socket error: %s",
                        uv_strerror(status));
    return;
  }
  SSHMUX__LOG_TRACE("%s: poll status %d events %d", c->label, status, events);
  if (events & UV_READABLE)
    read_socket(c);
  if (events & UV_WRITABLE)
    flush(c);
  sshmux__upconn_service(c);
}

static void update_poll(sshmux__upconn_t *c) {
  int ev = 0;

  if (!c->poll_init || c->state == SSHMUX__UC_DEAD)
    return;
  if (!c->in_eof && sshmux__buf_remaining(&c->in) < c->in.max)
    ev |= UV_READABLE;
  if (sshmux__buf_remaining(&c->out) > 0)
    ev |= UV_WRITABLE;
  if (ev == c->poll_events)
    return;
  c->poll_events = ev;
  if (ev == 0)
    uv_poll_stop(&c->poll);
  else
    uv_poll_start(&c->poll, ev, on_poll);
}

/* ---- the service pass ---- */

static const char *open_type(const sshmux_upchan_t *ch) {
  if (ch->probe)
    return PROBE_TYPE;
  switch (ch->type) {
  case SSHMUX_UPCHAN_DIRECT_TCPIP:
    return "direct-tcpip";
  case SSHMUX_UPCHAN_DIRECT_STREAMLOCAL:
    return "direct-streamlocal@openssh.com";
  default:
    return "session";
  }
}

/* A session open was refused while we hold sessions on this connection:
 * that is the server's MaxSessions.  Retry once after a short delay (a slot
 * we just closed may not be released yet), then move it -- and every other
 * queued session beyond the limit -- to another connection. */
static void session_refused(sshmux__upconn_t *c, sshmux_upchan_t *ch) {
  sshmux_pool_t *p = c->pool;
  sshmux__upconn_t *nc;
  sshmux__link_t *l, *next;
  unsigned held = c->nsessions + c->zombie_sessions; /* as the server counts */
  int err;

  if (c->learned_limit == 0 || c->learned_limit > held) {
    c->learned_limit = held;
    SSHMUX__LOG_INFO("%s: upstream refuses more than %u sessions", c->label,
                     c->learned_limit);
  }
  if (!ch->retried) {
    ch->retried = 1;
    ch->state = SSHMUX__CH_QUEUED;
    sshmux__list_push_front(&c->open_q, &ch->link);
    c->hold_until = sshmux__pool_now(p) + p->o.session_retry_ms;
    uv_timer_start(&c->hold_timer, on_hold, p->o.session_retry_ms, 0);
    return;
  }
  nc = p->ops->place(p, NULL, c, 1, c, &err);
  if (nc == NULL) {
    sshmux__upchan_fail_open(ch, err, "no second upstream connection");
    return;
  }
  sshmux__upconn_enqueue(nc, ch);
  for (l = c->open_q.next; l != &c->open_q; l = next) {
    sshmux_upchan_t *q = SSHMUX__CONTAINER_OF(l, sshmux_upchan_t, link);
    next = l->next;
    if (q->type != SSHMUX_UPCHAN_SESSION || q->probe)
      continue;
    sshmux__list_remove(&q->link);
    q->retried = 1;
    sshmux__upconn_enqueue(nc, q);
  }
}

/* Drive the one open in flight.  1 on progress, 0 if waiting, < 0 a
 * libssh2 error fatal for the connection. */
static int drive_open(sshmux__upconn_t *c) {
  sshmux_upchan_t *ch = c->opening;
  const char *type = open_type(ch);
  LIBSSH2_CHANNEL *lch;
  char msgbuf[SSHMUX__ERRLEN];
  const char *msg;
  int err;

  if (ch->open_t0 == 0)
    ch->open_t0 = uv_hrtime();
  lch = libssh2_channel_open_ex(c->s, type, (unsigned)strlen(type), ch->window,
                                SSHMUX__CHAN_PACKET, (const char *)ch->payload,
                                (unsigned)ch->payload_len);
  if (lch == NULL) {
    err = libssh2_session_last_errno(c->s);
    if (err == LIBSSH2_ERROR_EAGAIN)
      return 0;
  } else {
    err = 0;
  }
  c->opening = NULL;
  if (ch->probe) {
    c->probe_inflight = 0;
    sshmux__upchan_free(ch);
    if (lch != NULL)
      (void)libssh2_channel_free(lch); /* a server that accepts anything */
    return err == 0 || err == LIBSSH2_ERROR_CHANNEL_FAILURE ? 1 : err;
  }
  if (lch != NULL) {
    uint64_t rtt = uv_hrtime() - ch->open_t0;
    if (c->rtt_ns == 0 || rtt < c->rtt_ns)
      c->rtt_ns = rtt;
    sshmux__upchan_opened(ch, lch);
    return 1;
  }
  if (err == LIBSSH2_ERROR_TIMEOUT) {
    /* libssh2 waits 60 s for an open's reply; the server still lives if
     * it got this far without the liveness probe failing. */
    char text[SSHMUX__ERRLEN];
    snprintf(text, sizeof(text), "%s did not answer the %s open in time",
             c->label, type);
    sshmux__upchan_fail_open(ch, SSHMUX_ETIMEOUT, text);
    return 1;
  }
  if (err != LIBSSH2_ERROR_CHANNEL_FAILURE) {
    c->opening = ch; /* failed with the connection */
    return err;
  }
  msg = sshmux__ssh2_error(c->s, msgbuf, sizeof(msgbuf));
  if (ch->type == SSHMUX_UPCHAN_SESSION &&
      c->nsessions + c->zombie_sessions > 0) {
    session_refused(c, ch);
    return 1;
  }
  {
    char text[SSHMUX__ERRLEN];
    snprintf(text, sizeof(text), "%s refused the %s channel: %s", c->label,
             type, msg);
    sshmux__upchan_fail_open(ch,
                             strstr(msg, "administratively prohibited")
                                 ? SSHMUX_ECHAN_REFUSED
                                 : SSHMUX_ECHAN_FAILED,
                             text);
  }
  return 1;
}

static int fatal_code(sshmux__upconn_t *c, int rc) {
  if (c->io_error == ETIMEDOUT)
    return SSHMUX_EDEAD;
  if (c->out_nomem && rc == LIBSSH2_ERROR_SOCKET_SEND)
    return SSHMUX_ENOMEM;
  return rc == LIBSSH2_ERROR_SOCKET_RECV && c->in_eof
             ? SSHMUX_EDISCONNECTED
             : sshmux__err_from_ssh2(rc);
}

static int service_pass(void *arg);

/* One service pass, guarded against libssh2 1.10's assertions (pool-int.h):
 * where one fails on what the server sent, this connection is dropped with
 * a reason and the daemon lives on. */
void sshmux__upconn_service(sshmux__upconn_t *c) {
  if (c->state != SSHMUX__UC_ACTIVE && c->state != SSHMUX__UC_DRAINING)
    return;
  if (sshmux__ssh2_guarded(service_pass, c) != SSHMUX__SSH2_TRIPPED)
    return;
  c->ssh2_broken = 1;
  sshmux__upconn_fail(c, SSHMUX_EPROTO,
                      "malformed data from upstream (libssh2 failed an "
                      "assertion on it); connection dropped");
}

static int service_pass(void *arg) {
  sshmux__upconn_t *c = arg;
  uint64_t now = sshmux__pool_now(c->pool);
  uint64_t consumed = c->consumed;
  sshmux__link_t *l, *next;
  int progress = 0, rc = 0;
  if (c->opening == NULL && !sshmux__list_empty(&c->open_q) &&
      now >= c->hold_until) {
    c->opening = SSHMUX__CONTAINER_OF(c->open_q.next, sshmux_upchan_t, link);
    sshmux__list_remove(&c->opening->link);
    c->opening->state = SSHMUX__CH_OPENING;
  }
  if (c->opening != NULL) {
    rc = drive_open(c);
    if (rc > 0)
      progress = 1;
  }
  for (l = c->chans.next; rc >= 0 && l != &c->chans; l = next) {
    next = l->next;
    rc = sshmux__upchan_service(SSHMUX__CONTAINER_OF(l, sshmux_upchan_t, link));
    if (c->state == SSHMUX__UC_DEAD)
      return 0; /* closed from a callback */
    if (rc > 0)
      progress = 1;
  }
  if (rc >= 0 && sshmux__zombies_reap(c))
    progress = 1;
  if (rc < 0) {
    char mb[SSHMUX__ERRLEN];
    const char *m = sshmux__ssh2_error(c->s, mb, sizeof(mb));
    if (c->in_eof)
      sshmux__upconn_fail(c, SSHMUX_EDISCONNECTED,
                          "connection closed by upstream");
    else
      sshmux__upconn_fail(c, fatal_code(c, rc),
                          "upstream connection failed: %s",
                          *m ? m : sshmux_strerror(fatal_code(c, rc)));
    return 0;
  }
  /* libssh2 parses every packet it reads into one per-session list: a call
   * made for one channel late in the pass may have pulled packets for the
   * open or a channel served earlier, and the socket will not say so
   * again.  Whenever the pass consumed input, run another one. */
  if (c->consumed != consumed)
    progress = 1;
  flush(c);
  if (c->io_error) {
    sshmux__upconn_fail(
        c, c->io_error == ETIMEDOUT ? SSHMUX_EDEAD : SSHMUX_EDISCONNECTED,
        "connection lost: %s", strerror(c->io_error));
    return 0;
  }
  if (c->in_eof && (!progress || sshmux__buf_remaining(&c->in) == 0)) {
    sshmux__upconn_fail(c, SSHMUX_EDISCONNECTED,
                        "connection closed by upstream");
    return 0;
  }
  update_poll(c);
  if (c->rx_paused && c->tunnel != NULL &&
      sshmux__buf_remaining(&c->in) <= c->in.max / 2) {
    c->rx_paused = 0;
    if (!c->pump_full)
      sshmux_upchan_read_start(c->tunnel);
  }
  SSHMUX__LOG_TRACE(
      "%s: pass: progress %d, consumed %llu, in %zu, out %zu, "
      "opening %d, poll %d",
      c->label, progress, (unsigned long long)(c->consumed - consumed),
      sshmux__buf_remaining(&c->in), sshmux__buf_remaining(&c->out),
      c->opening != NULL, c->poll_events);
  if (progress)
    sshmux__upconn_schedule(c);
  return 0;
}

static void on_hold(uv_timer_t *t) {
  sshmux__upconn_t *c = t->data;
  c->hold_until = 0;
  sshmux__upconn_schedule(c);
}

void sshmux__upconn_probe(sshmux__upconn_t *c) {
  sshmux_upchan_spec_t spec;
  sshmux_upchan_t *ch;
  int err;

  if (c->probe_inflight)
    return;
  memset(&spec, 0, sizeof(spec));
  spec.type = SSHMUX_UPCHAN_SESSION;
  spec.window = 4096;
  ch = sshmux__upchan_new(c->pool, &spec, NULL, NULL, NULL, &err);
  if (ch == NULL)
    return;
  ch->probe = ch->internal = 1;
  ch->conn = c;
  c->probe_inflight = 1;
  sshmux__list_push_front(&c->open_q, &ch->link);
  sshmux__upconn_schedule(c);
}

/* Runs every half keepalive interval once ACTIVE (during connect it is the
 * connect timeout). */
static void on_timer(uv_timer_t *t) {
  sshmux__upconn_t *c = t->data;
  sshmux_pool_t *p = c->pool;
  uint64_t now = sshmux__pool_now(p), silent;

  if (c->state < SSHMUX__UC_ACTIVE) {
    sshmux__upconn_fail(c, SSHMUX_ETIMEOUT, "connect timed out after %u ms",
                        p->o.connect_timeout_ms);
    return;
  }
  if (c->bytes_in != c->rx_mark || sshmux__buf_remaining(&c->in) >= c->in.max) {
    /* Heard from it (or we stopped reading it ourselves). */
    c->rx_mark = c->bytes_in;
    c->last_rx_ms = now;
    return;
  }
  silent = now - c->last_rx_ms;
  if (silent >= (uint64_t)c->keepalive_ms * p->o.keepalive_count) {
    sshmux__upconn_fail(c, SSHMUX_EDEAD,
                        "no response from upstream for %llu ms (%u keepalives "
                        "unanswered)",
                        (unsigned long long)silent, p->o.keepalive_count);
    return;
  }
  if (silent >= c->keepalive_ms)
    sshmux__upconn_probe(c);
}

/* ---- connecting ---- */

/* Count login workers.  While one runs, the loop has nothing else of this
 * connection to wait on (its poll and timer are stopped: the worker owns
 * the socket), so the pool's async handle, unreferenced otherwise, holds
 * the loop alive until the worker reports back: uv_run(UV_RUN_DEFAULT)
 * must not return in the middle of a login. */
static void workers_add(sshmux_pool_t *p, int d) {
  if (d > 0 && p->nworkers++ == 0)
    uv_ref((uv_handle_t *)&p->async);
  else if (d < 0 && --p->nworkers == 0)
    uv_unref((uv_handle_t *)&p->async);
}

static void start_worker(sshmux__upconn_t *c) {
  uv_timer_stop(&c->timer);
  if (c->poll_init) {
    uv_poll_stop(&c->poll);
    c->poll_events = 0;
  }
  c->state = SSHMUX__UC_AUTH;
  c->ssh_fd = c->fd;
  c->worker_running = 1;
  workers_add(c->pool, 1);
  if (uv_thread_create(&c->thread, sshmux__upauth_main, c) != 0) {
    c->worker_running = 0;
    workers_add(c->pool, -1);
    sshmux__upconn_fail(c, SSHMUX_ENOMEM, "cannot start a login thread");
  }
}

void sshmux__upconn_worker_done(sshmux__upconn_t *c) {
  sshmux_pool_t *p = c->pool;

  uv_thread_join(&c->thread);
  c->worker_running = 0;
  workers_add(p, -1);
  if (c->state == SSHMUX__UC_DEAD) {
    /* Aborted while the worker ran: finish the teardown it held up. */
    if (!c->freeing)
      teardown(c);
    else
      maybe_free(c);
    return;
  }
  if (c->worker_rc != 0) {
    sshmux__upconn_fail(c, c->worker_rc, "%s", c->worker_err);
    return;
  }
  /* Hand-off: the session is quiescent and non-blocking; from now on its
   * bytes go through our queues. */
  libssh2_session_callback_set(c->s, LIBSSH2_CALLBACK_SEND, (void *)io_send);
  libssh2_session_callback_set(c->s, LIBSSH2_CALLBACK_RECV, (void *)io_recv);
  if (c->jump != NULL && c->pump_open) {
    /* Behind a jump: drain the socketpair, then go through memory.  Our
     * half-close makes the pump see EOF once the worker's last bytes are
     * through; tunnel bytes already written to the pump are read back
     * before new ones go straight into `in`. */
    c->ring_pending = 1;
    shutdown(c->fd, SHUT_WR);
    if (c->pump_writes == 0)
      ring_switch_rx(c);
  } else if (!c->poll_init) {
    if (uv_poll_init(p->loop, &c->poll, c->fd) != 0) {
      sshmux__upconn_fail(c, SSHMUX_EINTERNAL, "cannot watch the socket");
      return;
    }
    c->poll.data = c;
    c->poll_init = 1;
    c->handles_open++;
  }
  c->bytes_in += c->w_bytes_in;
  c->bytes_out += c->w_bytes_out;
  c->state = SSHMUX__UC_ACTIVE;
  c->idle_since_ms = c->last_rx_ms = sshmux__pool_now(p);
  c->rx_mark = c->bytes_in;
  p->stats.logins++;
  SSHMUX__LOG_INFO("%s: logged in (%s)%s", c->label, c->auth_methods,
                   c->overflow ? " [second connection: MaxSessions]" : "");
  if (c->keepalive_ms > 0) /* else: keepalive off, no liveness timer */
    uv_timer_start(&c->timer, on_timer, c->keepalive_ms / 2,
                   c->keepalive_ms / 2);
  update_poll(c);
  sshmux__upconn_schedule(c);
}

static void set_sockopts(sshmux__upconn_t *c, int fd) {
  int one = 1;
  unsigned tmo = c->keepalive_ms * c->pool->o.keepalive_count;

  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
#ifdef TCP_USER_TIMEOUT
  if (tmo > 0) /* keepalive off: the kernel's own retransmission limit */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &tmo, sizeof(tmo));
#else
  (void)tmo;
#endif
}

static void try_connect(sshmux__upconn_t *c, int last_err);

static void on_connect_poll_closed(uv_handle_t *h) {
  sshmux__upconn_t *c = h->data;
  int err = c->io_error;

  if (c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
  c->handles_open--;
  c->io_error = 0;
  if (c->state == SSHMUX__UC_DEAD) {
    maybe_free(c);
    return;
  }
  try_connect(c, -err);
}

static void on_connected(uv_poll_t *h, int status, int events) {
  sshmux__upconn_t *c = h->data;
  int soerr = 0;
  socklen_t len = sizeof(soerr);

  /* libuv reports EPOLLERR as UV_EBADF: the real reason is SO_ERROR. */
  (void)events;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
    soerr = errno;
  else if (soerr == 0 && status < 0)
    soerr = -status;
  if (soerr == 0) {
    start_worker(c);
    return;
  }
  /* Next address: a poll handle is tied to its fd, so close both first. */
  c->io_error = soerr;
  c->poll_init = 0;
  uv_close((uv_handle_t *)&c->poll, on_connect_poll_closed);
}

static void try_connect(sshmux__upconn_t *c, int last_err) {
  while (c->ai_next != NULL) {
    struct addrinfo *ai = c->ai_next;
    int fd;
    c->ai_next = ai->ai_next;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_err = -errno;
      continue;
    }
    set_sockopts(c, fd);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last_err = -errno;
      close(fd);
      continue;
    }
    c->fd = fd;
    c->tcp = 1;
    if (uv_poll_init(c->pool->loop, &c->poll, fd) != 0) {
      close(fd);
      c->fd = -1;
      last_err = UV_ENOMEM;
      break;
    }
    c->poll.data = c;
    c->poll_init = 1;
    c->handles_open++;
    uv_poll_start(&c->poll, UV_WRITABLE, on_connected);
    return;
  }
  sshmux__upconn_fail(c, last_err ? last_err : UV_EHOSTUNREACH,
                      "cannot connect to %s port %d: %s", c->host, c->port,
                      uv_strerror(last_err ? last_err : UV_EHOSTUNREACH));
}

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res) {
  sshmux__upconn_t *c = req->data;

  c->gai_pending = 0;
  if (c->state == SSHMUX__UC_DEAD) {
    if (res != NULL)
      uv_freeaddrinfo(res);
    conn_release(c);
    return;
  }
  c->handles_open--;
  if (status < 0) {
    sshmux__upconn_fail(c, status, "cannot resolve %s: %s", c->host,
                        uv_strerror(status));
    return;
  }
  c->ai_list = c->ai_next = res;
  try_connect(c, 0);
}

/* ---- the jump tunnel pump: socketpair end <-> direct-tcpip channel ---- */

typedef struct {
  uv_write_t req;
  sshmux__upconn_t *c;
  char data[];
} pump_write_t;

/* Both directions switched and nothing in flight: drop the socketpair. */
static void ring_maybe_done(sshmux__upconn_t *c) {
  if (!c->ring_rx || !c->ring_tx || c->pump_writes > 0 || !c->ring_pending)
    return;
  c->ring_pending = 0;
  if (c->pump_open) {
    c->pump_open = 0;
    uv_close((uv_handle_t *)&c->pump, on_handle_closed);
  }
  if (c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
  SSHMUX__LOG_DEBUG("%s: tunnel now in memory", c->label);
}

/* Every byte the pump wrote has landed in the socketpair: read it all back
 * into `in`; from now on tunnel data goes there directly. */
static void ring_switch_rx(sshmux__upconn_t *c) {
  if (c->ring_rx || c->fd < 0)
    return;
  read_socket(c);
  if (c->in_eof) {
    /* Not an EOF of the tunnel: our socketpair peer is still open, so a
     * 0 here cannot happen; a read error is a real failure. */
    sshmux__upconn_fail(c, SSHMUX_EINTERNAL, "tunnel socketpair failed");
    return;
  }
  c->ring_rx = 1;
  if (c->pump_full && c->tunnel != NULL) {
    c->pump_full = 0; /* the pump no longer carries tunnel data */
    sshmux_upchan_read_start(c->tunnel);
  }
  sshmux__upconn_schedule(c);
  ring_maybe_done(c);
}

/* Move queued session bytes into the tunnel channel's write queue. */
static void ring_flush(sshmux__upconn_t *c) {
  while (sshmux__buf_remaining(&c->out) > 0 && c->tunnel != NULL) {
    size_t n = SSHMUX__MIN(sshmux__buf_remaining(&c->out), (size_t)65536);
    int r = sshmux_upchan_write(c->tunnel, sshmux__buf_rptr(&c->out), n);
    if (r < 0) {
      c->io_error = EPIPE;
      return;
    }
    c->out.pos += n;
    c->bytes_out += n;
    if (r == 1)
      break; /* on_drain resumes */
  }
  if (sshmux__buf_remaining(&c->out) == 0)
    sshmux__buf_reset(&c->out);
  else if (c->out.pos > 65536 && c->out.pos > c->out.len / 2)
    sshmux__buf_compact(&c->out);
}

#define PUMP_HWM (1024u * 1024u)

static void pump_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  sshmux__upconn_t *c = h->data;
  (void)hint;
  buf->base = c->pool->pumpbuf;
  buf->len = sizeof(c->pool->pumpbuf);
}

static void on_pump_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  sshmux__upconn_t *c = s->data;

  if (c->tunnel == NULL)
    return;
  if (n > 0) {
    c->pump_paused = 0;
    if (sshmux_upchan_write(c->tunnel, buf->base, (size_t)n) == 1) {
      uv_read_stop(s);
      c->pump_paused = 1;
    }
  } else if (n < 0) {
    uv_read_stop(s);
    if (c->ring_pending && n == UV_EOF) {
      /* Our own half-close: the worker's bytes are all through. */
      c->ring_tx = 1;
      sshmux__upconn_schedule(c);
      ring_maybe_done(c);
      return;
    }
    (void)sshmux_upchan_send_eof(c->tunnel);
  }
}

static void on_pump_written(uv_write_t *req, int status) {
  pump_write_t *w = SSHMUX__CONTAINER_OF(req, pump_write_t, req);
  sshmux__upconn_t *c = w->c;

  sshmux__free(w);
  c->pump_writes--;
  if (c->ring_pending && c->pump_writes == 0 && c->state != SSHMUX__UC_DEAD)
    ring_switch_rx(c);
  if (status < 0 || c->tunnel == NULL || !c->pump_full)
    return;
  if (!c->pump_open || c->ring_rx ||
      uv_stream_get_write_queue_size((uv_stream_t *)&c->pump) < PUMP_HWM / 4) {
    c->pump_full = 0;
    if (!c->rx_paused)
      sshmux_upchan_read_start(c->tunnel);
  }
}

static void tunnel_data(sshmux_upchan_t *ch, int stream, const char *buf,
                        size_t len) {
  sshmux__upconn_t *c = ch->data;
  pump_write_t *w;
  uv_buf_t b;

  (void)stream;
  if (c == NULL)
    return;
  if (c->ring_pending && !c->ring_rx && c->pump_writes == 0)
    ring_switch_rx(c);
  if (c->ring_rx) {
    /* Straight into the session's input; stop the tunnel before `in`
     * could overflow (a chunk is at most 32 KiB). */
    if (sshmux__buf_reserve(&c->in, len) != 0) {
      sshmux__buf_compact(&c->in);
      if (sshmux__buf_reserve(&c->in, len) != 0) {
        sshmux__upconn_fail(c, SSHMUX_EINTERNAL, "tunnel input overflow");
        return;
      }
    }
    memcpy(c->in.data + c->in.len, buf, len);
    c->in.len += len;
    c->bytes_in += len;
    if (c->in.max - sshmux__buf_remaining(&c->in) < 65536 && !c->rx_paused) {
      c->rx_paused = 1;
      sshmux_upchan_read_stop(ch);
    }
    sshmux__upconn_schedule(c);
    return;
  }
  if (!c->pump_open)
    return;
  w = sshmux__malloc(sizeof(*w) + len);
  if (w == NULL) {
    sshmux__upconn_fail(c, SSHMUX_ENOMEM, "out of memory in the jump tunnel");
    return;
  }
  w->c = c;
  memcpy(w->data, buf, len);
  b = uv_buf_init(w->data, (unsigned)len);
  if (uv_write(&w->req, (uv_stream_t *)&c->pump, &b, 1, on_pump_written) != 0) {
    sshmux__free(w);
    return;
  }
  c->pump_writes++;
  if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pump) > PUMP_HWM) {
    c->pump_full = 1;
    sshmux_upchan_read_stop(ch);
  }
}

static void on_pump_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  sshmux__free(req);
}

/* The target's end of the tunnel sent EOF: pass it to the inner session. */
static void tunnel_eof(sshmux_upchan_t *ch) {
  sshmux__upconn_t *c = ch->data;
  uv_shutdown_t *req;

  if (c != NULL && c->ring_rx) {
    c->in_eof = 1;
    sshmux__upconn_schedule(c);
    return;
  }
  if (c == NULL || !c->pump_open)
    return;
  req = sshmux__calloc(1, sizeof(*req));
  if (req != NULL &&
      uv_shutdown(req, (uv_stream_t *)&c->pump, on_pump_shutdown) != 0)
    sshmux__free(req);
}

static void tunnel_closed(sshmux_upchan_t *ch, int status) {
  sshmux__upconn_t *c = ch->data;
  if (c == NULL)
    return;
  sshmux__upconn_fail(c, status < 0 ? status : SSHMUX_EDISCONNECTED,
                      "jump connection %s lost: %s", c->chain,
                      status < 0 ? sshmux_upchan_last_error(ch)
                                 : "tunnel closed");
}

static void tunnel_drain(sshmux_upchan_t *ch) {
  sshmux__upconn_t *c = ch->data;
  if (c != NULL && c->ring_tx) {
    sshmux__upconn_schedule(c); /* its flush goes on */
    return;
  }
  if (c != NULL && c->pump_open && c->pump_paused) {
    c->pump_paused = 0;
    uv_read_start((uv_stream_t *)&c->pump, pump_alloc, on_pump_read);
  }
}

static void on_tunnel_open(sshmux_upchan_t *ch, int status) {
  sshmux__upconn_t *c = ch->data;
  int sp[2];

  if (c == NULL)
    return;
  if (status < 0) {
    c->tunnel = NULL; /* freed by the library after this callback */
    sshmux__upconn_fail(c, status, "jump host %s cannot reach %s port %d: %s",
                        c->chain, c->host, c->port,
                        sshmux_upchan_last_error(ch));
    return;
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) !=
      0) {
    sshmux__upconn_fail(c, -errno, "socketpair: %s", strerror(errno));
    return;
  }
  uv_pipe_init(c->pool->loop, &c->pump, 0);
  c->pump.data = c;
  c->handles_open++;
  c->pump_open = 1;
  if (uv_pipe_open(&c->pump, sp[0]) != 0) {
    close(sp[0]);
    close(sp[1]);
    sshmux__upconn_fail(c, SSHMUX_EINTERNAL, "cannot open the tunnel pipe");
    return;
  }
  uv_read_start((uv_stream_t *)&c->pump, pump_alloc, on_pump_read);
  c->fd = sp[1];
  start_worker(c);
}

void sshmux__upconn_start(sshmux__upconn_t *c) {
  sshmux_pool_t *p = c->pool;
  char port[16];
  int rc;

  p->stats.connects++;
  uv_timer_start(&c->timer, on_timer, p->o.connect_timeout_ms, 0);
  if (c->jump != NULL) {
    static const sshmux_upchan_callbacks_t cbs = {tunnel_data, tunnel_eof,
                                                  tunnel_closed, tunnel_drain};
    sshmux_upchan_spec_t spec;
    memset(&spec, 0, sizeof(spec));
    spec.type = SSHMUX_UPCHAN_DIRECT_TCPIP;
    spec.host = c->host;
    spec.port = c->port;
    spec.orig_host = "127.0.0.1";
    spec.window = 0; /* auto-tuned, as the channels it will carry are */
    c->tunnel = sshmux__upchan_new(p, &spec, &cbs, c, on_tunnel_open, &rc);
    if (c->tunnel == NULL) {
      sshmux__upconn_fail(c, rc, "cannot create the jump tunnel");
      return;
    }
    /* It carries every channel of the hop behind it: start at 4 MiB. */
    c->tunnel->tuned = SSHMUX__TUNNEL_WINDOW;
    c->tunnel->internal = 1;
    sshmux__upconn_enqueue(c->jump, c->tunnel);
    return;
  }
  snprintf(port, sizeof(port), "%d", c->port);
  c->gai.data = c;
  {
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    rc = uv_getaddrinfo(p->loop, &c->gai, on_resolved, c->host, port, &hints);
  }
  if (rc != 0) {
    sshmux__upconn_fail(c, rc, "cannot resolve %s: %s", c->host,
                        uv_strerror(rc));
    return;
  }
  c->gai_pending = 1;
  c->handles_open++;
}
