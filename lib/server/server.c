/* server.c -- the public server object, its listener, and the lifecycle and
 * socket I/O of each connection.
 *
 * Output is coalesced: packets are appended to the connection's current
 * write buffer as they are made, and one uv_write per connection and loop
 * iteration hands the whole buffer to the kernel (an idle handle runs the
 * flush when something was queued, so a burst of small channel writes costs
 * one syscall).  Two buffers alternate: one is being written while the next
 * fills.  Reading stops while the client does not drain what we send.
 *
 * Teardown is deferred around embedder callbacks (Redis-style reference
 * counting): sshmux__conn_fail() may be called from anywhere, including
 * from inside a callback about the same connection; the channel and
 * connection close callbacks run once the library is out of its own code,
 * and memory is released after libuv has closed the handles. */
#include <string.h>

#ifndef _WIN32
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#endif

#include "server/server-int.h"

static void conn_finish(sshmux_server_conn_t *conn);
static void server_maybe_done(sshmux_server_t *srv);

static const sshmux__srv_ops_t srv_ops;

/* ---- server object ---- */

static void on_idle(uv_idle_t *h);

int sshmux_server_new(uv_loop_t *loop, const sshmux_server_cbs_t *cbs,
                      sshmux_server_t **out) {
  sshmux_server_t *srv;
  int r;

  if (loop == NULL || out == NULL)
    return SSHMUX_EINVAL;
  if ((r = sshmux_init()) != 0)
    return r;
  srv = sshmux__calloc(1, sizeof(*srv));
  if (srv == NULL)
    return SSHMUX_ENOMEM;
  srv->loop = loop;
  if (cbs != NULL)
    srv->cbs = *cbs;
  srv->login_grace_ms = 120000;
  srv->max_auth_tries = 20;
  srv->rekey_bytes = (uint64_t)1 << 30;
  srv->rekey_seconds = 3600;
  sshmux_server_options_init(&srv->opts);
  if ((r = uv_idle_init(loop, &srv->idle)) != 0) {
    sshmux__free(srv);
    return r;
  }
  srv->idle.data = srv;
  srv->ops = &srv_ops;
  srv->handles_open = 1;
  *out = srv;
  return 0;
}

int sshmux_server_add_host_key(sshmux_server_t *srv, const char *path,
                               sshmux_server_key_type_t type) {
  sshmux__hostkey_t *hk;
  int r, slot;

  if (srv == NULL || path == NULL ||
      (type != SSHMUX_SERVER_KEY_ED25519 &&
       type != SSHMUX_SERVER_KEY_ECDSA_P256))
    return SSHMUX_EINVAL;
  r = sshmux__hostkey_load_or_create(&hk, path,
                                     type == SSHMUX_SERVER_KEY_ED25519
                                         ? SSHMUX__KEY_ED25519
                                         : SSHMUX__KEY_ECDSA_P256);
  if (r != 0)
    return r;
  /* The file decides the type (an existing key is never replaced). */
  slot = strcmp(sshmux__hostkey_alg(hk), "ssh-ed25519") == 0 ? 0 : 1;
  if (srv->keys[slot] != NULL) {
    sshmux__hostkey_free(hk);
    return SSHMUX_EEXISTS;
  }
  srv->keys[slot] = hk;
  return 0;
}

int sshmux_server_set_authorized_keys(sshmux_server_t *srv, const char *path) {
  char *copy = NULL;

  if (srv == NULL)
    return SSHMUX_EINVAL;
  if (path != NULL && (copy = sshmux__strdup(path)) == NULL)
    return SSHMUX_ENOMEM;
  sshmux__free(srv->authorized_keys);
  srv->authorized_keys = copy;
  sshmux__authkeys_drop(srv);
  return 0;
}

void sshmux_server_options_init(sshmux_server_options_t *o) {
  if (o == NULL)
    return;
  memset(o, 0, sizeof(*o));
  o->conn_memory_max = SSHMUX__SRV_CONN_MEMORY_DEFAULT;
  o->startups_begin = SSHMUX__SRV_STARTUPS_BEGIN;
  o->startups_rate = SSHMUX__SRV_STARTUPS_RATE;
  o->startups_full = SSHMUX__SRV_STARTUPS_FULL;
  o->preauth_packet_max = SSHMUX__SRV_PREAUTH_DEFAULT;
  o->kex_timeout_ms = SSHMUX__SRV_KEX_TIMEOUT_DEFAULT;
}

int sshmux_server_set_options(sshmux_server_t *srv,
                              const sshmux_server_options_t *o) {
  if (srv == NULL || o == NULL ||
      o->conn_memory_max < SSHMUX__SRV_CHAN_WINDOW_MIN ||
      o->preauth_packet_max < SSHMUX__SRV_PREAUTH_NEED ||
      o->preauth_packet_max > SSHMUX__SRV_IN_PACKET_MAX ||
      o->kex_timeout_ms == 0 ||
      (o->startups_full != 0 &&
       (o->startups_begin > o->startups_full || o->startups_rate > 100)))
    return SSHMUX_EINVAL;
  srv->opts = *o;
  return 0;
}

void sshmux_server_set_login_grace(sshmux_server_t *srv, uint64_t ms) {
  srv->login_grace_ms = ms;
}

void sshmux_server_set_max_auth_tries(sshmux_server_t *srv, unsigned n) {
  srv->max_auth_tries = n ? n : 1;
}

void sshmux_server_set_rekey_limits(sshmux_server_t *srv, uint64_t bytes,
                                    uint64_t seconds) {
  srv->rekey_bytes = bytes ? bytes : ((uint64_t)1 << 30);
  srv->rekey_seconds = seconds ? seconds : 3600;
}

void sshmux_server_set_data(sshmux_server_t *srv, void *data) {
  srv->data = data;
}

void *sshmux_server_get_data(const sshmux_server_t *srv) {
  return srv->data;
}

size_t sshmux_server_conn_count(const sshmux_server_t *srv) {
  return srv->nconns;
}

/* ---- connection objects ---- */

static sshmux_server_conn_t *conn_alloc(sshmux_server_t *srv) {
  sshmux_server_conn_t *conn = sshmux__calloc(1, sizeof(*conn));

  if (conn == NULL)
    return NULL;
  conn->srv = srv;
  /* Write buffers: bounded by the pause thresholds, so the cap is only a
   * backstop against a bug. */
  sshmux__buf_init(&conn->wbuf[0], 16u * 1024u * 1024u);
  sshmux__buf_init(&conn->wbuf[1], 16u * 1024u * 1024u);
  sshmux__buf_init(&conn->rbuf, 0);
  sshmux__conn_rbuf_limit(conn);
  /* Input is decrypted in place: a password the client tries (never
   * offered, but sent anyway by some clients) and whatever the user types
   * into a session pass through here, so it is wiped like OpenSSH's
   * sshbuf. */
  sshmux__buf_set_secret(&conn->rbuf);
  sshmux__buf_init(&conn->deferred, 4u * 1024u * 1024u);
  conn->next = srv->conns;
  if (srv->conns)
    srv->conns->prev = conn;
  srv->conns = conn;
  srv->nconns++;
  conn->start_ms = uv_now(srv->loop);
  sshmux__padrng_init(&conn->padrng);
  return conn;
}

static void conn_release(sshmux_server_conn_t *conn) {
  sshmux_server_t *srv = conn->srv;

  if (conn->prev)
    conn->prev->next = conn->next;
  else
    srv->conns = conn->next;
  if (conn->next)
    conn->next->prev = conn->prev;
  srv->nconns--;
  sshmux__conn_unauth_done(conn);
  sshmux__chan_free_all(conn);
  sshmux__transport_free(conn);
  sshmux__buf_free(&conn->wbuf[0]);
  sshmux__buf_free(&conn->wbuf[1]);
  sshmux__buf_free(&conn->rbuf);
  sshmux__free(conn->user);
  sshmux__padrng_free(&conn->padrng);
  /* The struct holds the session id (the first exchange hash). */
  sshmux__free_secret(conn, sizeof(*conn));
  server_maybe_done(srv);
}

/* MaxStartups with random early drop, OpenSSH's drop_connection() rule:
 * from `begin` unauthenticated connections on, a drop happens with
 * probability rate %, rising linearly to 100 % at `full`.  What is dropped
 * differs: the OLDEST unauthenticated connection, provided it has waited
 * SSHMUX__SRV_STARTUPS_MIN_AGE_MS; only when none has and `full` are held
 * is the newcomer refused.  Refusing newcomers (OpenSSH) lets a flood that
 * holds its connections for the login grace lock every legitimate client
 * out; dropping the oldest bounds the flood the same way while a real
 * login, which completes in milliseconds, is done long before it is the
 * oldest -- and the age rule spares a burst of real logins starting
 * together.  Returns 1 to admit the newcomer, 0 to refuse it. */
static int startups_admit(sshmux_server_t *srv) {
  const sshmux_server_options_t *o = &srv->opts;
  sshmux_server_conn_t *c, *victim = NULL;
  size_t n = srv->n_unauth;
  uint64_t now = uv_now(srv->loop);
  uint32_t r;
  unsigned p;
  int full;

  if (o->startups_full == 0 || n < o->startups_begin)
    return 1;
  full = n >= o->startups_full;
  if (full || o->startups_rate >= 100) {
    p = 100;
  } else {
    p = (unsigned)((100u - o->startups_rate) * (n - o->startups_begin) /
                   (o->startups_full - o->startups_begin)) +
        o->startups_rate;
  }
  sshmux__random(&r, sizeof(r));
  if (r % 100u >= p)
    return 1;
  for (c = srv->conns; c != NULL; c = c->next)
    if (c->unauth && !c->closing &&
        now - c->start_ms >= SSHMUX__SRV_STARTUPS_MIN_AGE_MS)
      victim = c; /* the list is newest first: the last one is the oldest */
  if (victim == NULL && !full)
    return 1;
  srv->startups_drops++;
  if (now - srv->startups_log_ms >= 10000 || srv->startups_log_ms == 0) {
    srv->startups_log_ms = now;
    SSHMUX__LOG_INFO("server: %zu connections not authenticated "
                     "(MaxStartups %u:%u:%u): %s (%llu dropped so far)",
                     n, o->startups_begin, o->startups_rate, o->startups_full,
                     victim ? "dropping the oldest" : "refusing a new one",
                     (unsigned long long)srv->startups_drops);
  }
  if (victim == NULL)
    return 0;
  sshmux__conn_fail(victim, SSH_DISCONNECT_TOO_MANY_CONNECTIONS,
                    "too many unauthenticated connections");
  return 1;
}

static void on_write(uv_write_t *req, int status);

void sshmux__conn_flush(sshmux_server_conn_t *conn) {
  sshmux__buf_t *w;
  uv_buf_t ub;
  int r;

  if (!conn->closing && conn->state == SSHMUX__CONN_OPEN) {
    sshmux__conn_ref(conn);
    sshmux__chan_pump(conn);
    sshmux__conn_unref(conn);
  }
  w = &conn->wbuf[conn->wcur];
  if (w->len == 0 || conn->writing || conn->freed)
    return;
  if (conn->mem) {
    if (conn->mem_write != NULL)
      (void)conn->mem_write(conn, w->data, w->len);
    sshmux__buf_reset(w);
    return;
  }
  if (conn->handles_open == 0)
    return;
  ub = uv_buf_init((char *)w->data, (unsigned)w->len);
  r = uv_write(&conn->wreq, (uv_stream_t *)&conn->tcp, &ub, 1, on_write);
  if (r != 0) {
    conn->last_error = r;
    sshmux__buf_reset(w);
    sshmux__conn_fail(conn, -1, NULL);
    return;
  }
  conn->writing = 1;
  conn->wcur ^= 1;
}

static void on_idle(uv_idle_t *h) {
  sshmux_server_t *srv = h->data;
  sshmux_server_conn_t *conn, *next;

  uv_idle_stop(h);
  for (conn = srv->conns; conn != NULL; conn = next) {
    sshmux__conn_ref(conn);
    sshmux__conn_flush(conn);
    sshmux__chan_reap(conn);
    next = conn->next;
    sshmux__conn_unref(conn);
  }
}

static void on_read_resume(sshmux_server_conn_t *conn);

static void on_write(uv_write_t *req, int status) {
  sshmux_server_conn_t *conn =
      SSHMUX__CONTAINER_OF(req, sshmux_server_conn_t, wreq);
  sshmux__buf_t *done = &conn->wbuf[conn->wcur ^ 1];

  conn->writing = 0;
  /* While output keeps coming (the other buffer is filling) the storage is
   * reused, so bulk transfers do not allocate; once the connection falls
   * quiet it is given back, so an idle session holds no buffers. */
  if (done->cap > 256u * 1024u || conn->wbuf[conn->wcur].len == 0)
    sshmux__buf_free(done);
  else
    sshmux__buf_reset(done);
  if (conn->closing) {
    conn_finish(conn);
    return;
  }
  if (status < 0) {
    conn->last_error = status;
    sshmux__conn_fail(conn, -1, NULL);
    return;
  }
  if (conn->read_paused &&
      sshmux__conn_out_queued(conn) < SSHMUX__SRV_IN_PAUSE / 2)
    on_read_resume(conn);
  sshmux__conn_mark_dirty(conn);
}

/* ---- lifecycle ---- */

static void on_handle_closed(uv_handle_t *h) {
  sshmux_server_conn_t *conn = h->data;

  if (--conn->handles_open == 0)
    conn_release(conn);
}

static void close_handles(sshmux_server_conn_t *conn) {
  uv_close((uv_handle_t *)&conn->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&conn->timer, on_handle_closed);
}

/* The in-flight write did not complete in time: cancel it (libuv calls
 * on_write with UV_ECANCELED before the close callbacks). */
static void on_close_timeout(uv_timer_t *t) {
  sshmux_server_conn_t *conn = t->data;

  if (!uv_is_closing((uv_handle_t *)&conn->tcp))
    close_handles(conn);
}

/* Run the close callbacks once, then close the handles (after the last
 * in-flight write so a DISCONNECT gets out). */
static void conn_finish(sshmux_server_conn_t *conn) {
  sshmux_server_t *srv = conn->srv;

  if (conn->refs > 0)
    return;
  if (!conn->freed) {
    conn->freed = 1;
    conn->refs++;
    sshmux__chan_teardown(conn);
    if (conn->reported && srv->cbs.closed != NULL)
      srv->cbs.closed(conn);
    conn->refs--;
    sshmux__chan_reap(conn);
    if (conn->mem)
      return; /* sshmux__conn_free_mem releases it */
    uv_read_stop((uv_stream_t *)&conn->tcp);
    uv_timer_stop(&conn->timer);
  }
  if (conn->mem || uv_is_closing((uv_handle_t *)&conn->tcp))
    return;
  if (conn->writing) {
    /* Let the last write (maybe a DISCONNECT) finish, but not forever: a
     * client that stopped reading must not keep the connection alive. */
    if (!uv_is_active((uv_handle_t *)&conn->timer))
      uv_timer_start(&conn->timer, on_close_timeout, 2000, 0);
    return;
  }
  if (conn->wbuf[conn->wcur].len > 0) {
    /* Best effort: the DISCONNECT, if the socket takes it now. */
    uv_buf_t ub = uv_buf_init((char *)conn->wbuf[conn->wcur].data,
                              (unsigned)conn->wbuf[conn->wcur].len);
    (void)uv_try_write((uv_stream_t *)&conn->tcp, &ub, 1);
  }
  close_handles(conn);
}

static void on_timer(uv_timer_t *t) {
  sshmux_server_conn_t *conn = t->data;

  if (conn->state != SSHMUX__CONN_OPEN) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_BY_APPLICATION,
                      "login grace time exceeded");
    return;
  }
  if (sshmux__transport_kex_overdue(conn))
    return;
  sshmux__transport_check_rekey(conn, 0);
  /* Idle connections give their buffers back (an idle session costs
   * little more than its structs); busy ones keep them, so the data path
   * never allocates per packet. */
  if (sshmux__buf_remaining(&conn->rbuf) == 0)
    sshmux__buf_free(&conn->rbuf);
  if (!conn->writing) {
    if (conn->wbuf[0].len == 0)
      sshmux__buf_free(&conn->wbuf[0]);
    if (conn->wbuf[1].len == 0)
      sshmux__buf_free(&conn->wbuf[1]);
  }
  sshmux__chan_trim(conn);
  sshmux__conn_mark_dirty(conn);
}

/* After authentication the timer checks the re-key limits this often. */
static uint64_t periodic_ms(const sshmux_server_t *srv) {
  return (srv->rekey_seconds < 60 ? srv->rekey_seconds : 60) * 1000;
}

static void conn_kex_started(sshmux_server_conn_t *conn) {
  if (conn->mem || conn->state != SSHMUX__CONN_OPEN || conn->closing)
    return;
  /* Fire at the deadline, then periodically again as before. */
  uv_timer_start(&conn->timer, on_timer, conn->srv->opts.kex_timeout_ms + 1,
                 periodic_ms(conn->srv));
}

void sshmux__conn_authed(sshmux_server_conn_t *conn) {
  sshmux_server_t *srv = conn->srv;
  uint64_t every = periodic_ms(srv) / 1000;

  conn->state = SSHMUX__CONN_OPEN;
  sshmux__conn_unauth_done(conn);
  sshmux__conn_rbuf_limit(conn);
  if (!conn->mem) {
    /* The grace timer becomes the periodic re-key check. */
    uv_timer_stop(&conn->timer);
    uv_timer_start(&conn->timer, on_timer, every * 1000, every * 1000);
  }
  /* From now on `closed` is owed, whether or not `authed` is set. */
  conn->reported = 1;
  if (srv->cbs.authed != NULL) {
    sshmux__conn_ref(conn);
    srv->cbs.authed(conn);
    sshmux__conn_unref(conn);
  }
}

/* ---- socket input ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  sshmux_server_conn_t *conn = h->data;
  sshmux__buf_t *b = &conn->rbuf;

  (void)hint;
  sshmux__conn_rbuf_limit(conn);
  if (b->max <= b->len ||
      sshmux__buf_reserve(b, SSHMUX__MIN((size_t)32768, b->max - b->len)) !=
          0) {
    buf->base = NULL;
    buf->len = 0;
    return;
  }
  buf->base = (char *)b->data + b->len;
  buf->len = b->cap - b->len;
}

/* Acknowledge what we just read at once.  Clients (OpenSSH without a tty,
 * PuTTY) leave Nagle on and often send two small packets back to back --
 * NEWKEYS then SERVICE_REQUEST, a channel request then data.  When our side
 * has nothing to answer the first, a delayed ACK holds the second in the
 * client's Nagle queue for 40 ms; one lost ACK per handshake stage made a
 * pooled `ssh route true` several times slower than ControlMaster.  Linux
 * drops quick-ack mode after each ACK, so it is re-armed per read. */
static void ack_now(sshmux_server_conn_t *conn) {
#if defined(TCP_QUICKACK)
  uv_os_fd_t fd;
  int one = 1;

  if (uv_fileno((uv_handle_t *)&conn->tcp, &fd) == 0)
    (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
#else
  (void)conn;
#endif
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  sshmux_server_conn_t *conn = s->data;

  (void)buf;
  if (nread == 0 || conn->closing)
    return;
  if (nread < 0) {
    conn->last_error = nread == UV_EOF ? SSHMUX_EDISCONNECTED : (int)nread;
    sshmux__conn_fail(conn, -1, NULL);
    return;
  }
  conn->rbuf.len += (size_t)nread;
  ack_now(conn);
  sshmux__transport_input(conn);
}

static void on_read_resume(sshmux_server_conn_t *conn) {
  conn->read_paused = 0;
  if (uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read) != 0) {
    sshmux__conn_fail(conn, -1, NULL);
    return;
  }
  if (sshmux__buf_remaining(&conn->rbuf) > 0)
    sshmux__transport_input(conn);
}

static void refuse_pending(sshmux_server_t *srv);

static void on_refused_closed(uv_handle_t *h) {
  sshmux_server_t *srv = h->data;

  srv->refuse_busy = 0;
  srv->handles_open--;
  if (srv->refuse_wanted && !srv->closing && srv->listening) {
    srv->refuse_wanted = 0;
    refuse_pending(srv);
  }
  server_maybe_done(srv);
}

/* No memory for a new connection: accept it into the server's spare handle
 * and close it, so the client sees the connection end at once.  Left
 * pending, it would hang the client, and libuv stops watching a listener
 * while an accepted socket waits: the server would take no connection
 * ever again.  The spare handle needs no allocation; while it is closing,
 * the next refusal waits for it. */
static void refuse_pending(sshmux_server_t *srv) {
  if (srv->refuse_busy) {
    srv->refuse_wanted = 1;
    return;
  }
  if (uv_tcp_init(srv->loop, &srv->refuse) != 0)
    return;
  srv->refuse.data = srv;
  srv->refuse_busy = 1;
  srv->handles_open++;
  (void)uv_accept((uv_stream_t *)srv->listener, (uv_stream_t *)&srv->refuse);
  uv_close((uv_handle_t *)&srv->refuse, on_refused_closed);
}

static void on_connection(uv_stream_t *ls, int status) {
  sshmux_server_t *srv = ls->data;
  sshmux_server_conn_t *conn;
  struct sockaddr_storage ss;
  int len = sizeof(ss), r;

  if (status < 0 || srv->closing)
    return;
  conn = conn_alloc(srv);
  if (conn == NULL) {
    refuse_pending(srv);
    return;
  }
  conn->tcp.data = conn;
  conn->timer.data = conn;
  if ((r = uv_tcp_init(srv->loop, &conn->tcp)) != 0) {
    conn_release(conn);
    refuse_pending(srv);
    return;
  }
  conn->handles_open = 1;
  if ((r = uv_timer_init(srv->loop, &conn->timer)) != 0) {
    conn->closing = conn->freed = 1;
    uv_close((uv_handle_t *)&conn->tcp, on_handle_closed);
    return;
  }
  conn->handles_open = 2;
  if (uv_accept(ls, (uv_stream_t *)&conn->tcp) != 0) {
    conn->closing = conn->freed = 1;
    uv_close((uv_handle_t *)&conn->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&conn->timer, on_handle_closed);
    return;
  }
  uv_tcp_nodelay(&conn->tcp, 1);
  if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, conn->peer, sizeof(conn->peer));
      conn->peer_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    } else {
      uv_ip4_name((struct sockaddr_in *)&ss, conn->peer, sizeof(conn->peer));
      conn->peer_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
  }
  if (!startups_admit(srv)) {
    /* Closed before a byte is sent, as sshd does past MaxStartups. */
    conn->closing = conn->freed = 1;
    close_handles(conn);
    return;
  }
  conn->unauth = 1;
  srv->n_unauth++;
  uv_timer_start(&conn->timer, on_timer, srv->login_grace_ms, 0);
  if ((r = sshmux__transport_start(conn)) != 0 ||
      (r = uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read)) != 0) {
    conn->last_error = r;
    sshmux__conn_fail(conn, -1, "cannot start connection");
    return;
  }
  sshmux__conn_flush(conn);
}

static void on_listener_closed(uv_handle_t *h) {
  sshmux_server_t *srv = h->data;

  sshmux__free(h);
  srv->handles_open--;
  server_maybe_done(srv);
}

/* A failed listener is closed (asynchronously, in its own allocation) and
 * forgotten at once, so the server can listen again right away. */
int sshmux_server_listen(sshmux_server_t *srv, const char *host, int port) {
  struct sockaddr_storage ss;
  uv_tcp_t *l;
  int r;

  if (srv == NULL || host == NULL || port < 0 || port > 65535 ||
      srv->listening || srv->closing)
    return SSHMUX_EINVAL;
  if (srv->keys[0] == NULL && srv->keys[1] == NULL)
    return SSHMUX_ENOTFOUND;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
    return SSHMUX_EINVAL;
  if ((l = sshmux__malloc(sizeof(*l))) == NULL)
    return SSHMUX_ENOMEM;
  if ((r = uv_tcp_init(srv->loop, l)) != 0) {
    sshmux__free(l);
    return r;
  }
  l->data = srv;
  srv->handles_open++;
  if ((r = uv_tcp_bind(l, (struct sockaddr *)&ss, 0)) != 0 ||
      (r = uv_listen((uv_stream_t *)l, 128, on_connection)) != 0) {
    uv_close((uv_handle_t *)l, on_listener_closed);
    return r;
  }
  srv->listener = l;
  srv->listening = 1;
  return 0;
}

int sshmux_server_port(const sshmux_server_t *srv) {
  struct sockaddr_storage ss;
  int len = sizeof(ss), r;

  if (!srv->listening)
    return SSHMUX_EINVAL;
  r = uv_tcp_getsockname(srv->listener, (struct sockaddr *)&ss, &len);
  if (r != 0)
    return r;
  if (ss.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* ---- closing the server ---- */

static void on_srv_handle_closed(uv_handle_t *h) {
  sshmux_server_t *srv = h->data;

  srv->handles_open--;
  server_maybe_done(srv);
}

static void server_maybe_done(sshmux_server_t *srv) {
  size_t i;

  if (!srv->closing || srv->nconns > 0)
    return;
  if (!uv_is_closing((uv_handle_t *)&srv->idle)) {
    uv_close((uv_handle_t *)&srv->idle, on_srv_handle_closed);
    return;
  }
  if (srv->handles_open > 0)
    return;
  for (i = 0; i < SSHMUX__ARRAY_SIZE(srv->keys); i++)
    sshmux__hostkey_free(srv->keys[i]);
  sshmux__free(srv->authorized_keys);
  sshmux__authkeys_drop(srv);
  if (srv->close_cb != NULL)
    srv->close_cb(srv);
  sshmux__free(srv);
}

void sshmux_server_close(sshmux_server_t *srv,
                         void (*close_cb)(sshmux_server_t *)) {
  sshmux_server_conn_t *conn, *next;

  if (srv == NULL || srv->closing)
    return;
  srv->closing = 1;
  srv->close_cb = close_cb;
  if (srv->listening)
    uv_close((uv_handle_t *)srv->listener, on_listener_closed);
  for (conn = srv->conns; conn != NULL; conn = next) {
    next = conn->next;
    if (conn->mem) {
      /* Memory connections belong to their test; only fail them. */
      sshmux__conn_fail(conn, -1, NULL);
      continue;
    }
    sshmux__conn_fail(conn, SSH_DISCONNECT_BY_APPLICATION,
                      "server shutting down");
  }
  server_maybe_done(srv);
}

/* ---- connection accessors ---- */

const char *sshmux_server_conn_user(const sshmux_server_conn_t *conn) {
  return conn->state == SSHMUX__CONN_OPEN || conn->reported ? conn->user : NULL;
}

const char *
sshmux_server_conn_key_fingerprint(const sshmux_server_conn_t *conn) {
  return conn->fingerprint[0] ? conn->fingerprint : NULL;
}

const char *sshmux_server_conn_peer(const sshmux_server_conn_t *conn,
                                    int *port) {
  if (port != NULL)
    *port = conn->peer_port;
  return conn->peer;
}

const char *
sshmux_server_conn_client_version(const sshmux_server_conn_t *conn) {
  return conn->v_c_clean;
}

sshmux_server_t *sshmux_server_conn_server(const sshmux_server_conn_t *conn) {
  return conn->srv;
}

void sshmux_server_conn_close(sshmux_server_conn_t *conn, const char *msg) {
  if (conn == NULL || conn->closing)
    return;
  sshmux__conn_fail(conn, SSH_DISCONNECT_BY_APPLICATION,
                    msg ? msg : "closed by application");
}

void sshmux_server_conn_set_data(sshmux_server_conn_t *conn, void *data) {
  conn->data = data;
}

void *sshmux_server_conn_get_data(const sshmux_server_conn_t *conn) {
  return conn->data;
}

/* ---- memory connections (tests, fuzzers) ---- */

int sshmux__conn_new_mem(sshmux_server_t *srv, sshmux_server_conn_t **out) {
  sshmux_server_conn_t *conn = conn_alloc(srv);
  int r;

  if (conn == NULL)
    return SSHMUX_ENOMEM;
  conn->mem = 1;
  snprintf(conn->peer, sizeof(conn->peer), "memory");
  if ((r = sshmux__transport_start(conn)) != 0) {
    conn_release(conn);
    return r;
  }
  *out = conn;
  return 0;
}

void sshmux__conn_free_mem(sshmux_server_conn_t *conn) {
  if (!conn->closing)
    sshmux__conn_fail(conn, -1, NULL);
  if (conn->refs == 0 && !conn->freed)
    conn_finish(conn);
  conn_release(conn);
}

/* ---- the calls up the stack (server-int.h) ---- */

static const sshmux__srv_ops_t srv_ops = {
    on_idle,
    conn_finish,
    sshmux__transport_disconnect,
    sshmux__auth_service_request,
    sshmux__auth_request,
    sshmux__chan_dispatch,
    sshmux__global_request,
    sshmux__chan_reap,
    sshmux__conn_authed,
    conn_kex_started,
    NULL, /* userauth_info: no method of ours uses 60-79 */
};
