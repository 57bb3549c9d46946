/* relay/relay.c -- the relay module's top: the relay object, the server's
 * callbacks and the downstream half of every relayed channel -- one
 * downstream channel (a client's, from the local server) bridged to one
 * upstream channel (the pool's), for every channel of every client.  This
 * file owns the per-channel state machine, request forwarding, the
 * forwarding policy checks and the back-pressure wiring of the client's
 * side; bridge.c the upstream half and the shared channel operations;
 * menu.c the route menu shown to unknown user names (and the hold mode of
 * sessions accepted early), prompt.c the login questions asked in a
 * client's terminal.
 *
 * Shape of a relayed channel (docs/relay.md has the diagram):
 *
 *   OPENING   the client's channel is held "opening" while the pool opens
 *             the upstream one, so an upstream failure (connect refused,
 *             login failed) becomes the client's channel-open failure.
 *   OPEN      data both ways; requests forwarded in order, each reply
 *             passed back; EOF passed on after the queued data.
 *   CLOSING   one side ended: upstream finished -> exit-status/signal then
 *             CLOSE downstream; client CLOSE -> upstream channel closed,
 *             except after the upstream's EOF on a session: then our
 *             CLOSE waits for the upstream's, to carry its exit status.
 *
 * A relayed channel is freed only when BOTH halves have said they are gone
 * (the server's close callback, the pool's close or open-failure
 * callback), which is the only rule needed to close from any callback.
 *
 * Data path: bytes arrive in a callback that lends them (server: the
 * decrypted packet; pool: its read buffer) and are handed straight to the
 * other side's write queue -- the one copy the two APIs need; there is no
 * allocation per packet.  When a write reports its queue at the high-water
 * mark the relay stops reading the side that produced it, and resumes on
 * the drain callback; each peer then stops at the end of its SSH window.
 * Nothing grows without a bound. */
#include <stdio.h>
#include <string.h>

#include "relay/relay-int.h"

#define DEFAULT_DOWN_HWM (1024u * 1024u)

/* A request forwarded upstream whose reply is still due downstream.  req is
 * cleared when the downstream channel goes away first (the server drops
 * unanswered requests then). */
typedef struct {
  sshmux__link_t link;
  sshmux_server_request_t *req;
} fwd_req_t;

static const sshmux__relay_ops_t relay_ops;

/* ---- downstream callbacks ---- */

static void down_data(sshmux_server_channel_t *ch, int stream, const char *buf,
                      size_t len) {
  sshmux__rchan_t *rc = sshmux_server_channel_get_data(ch);
  int w;

  if (rc->menu != NULL && !rc->up_open) {
    if (rc->ask != NULL) { /* a prompt is shown here: its answer first */
      size_t used = sshmux__relay_prompt_input(rc, buf, len);
      buf += used;
      len -= used;
      if (rc->menu == NULL || len == 0 || rc->down_closing)
        return;
    }
    sshmux__relay_menu_input(rc, buf, len);
    return;
  }
  if (stream != SSHMUX_STREAM_STDOUT || rc->up == NULL || rc->up_closing ||
      !rc->up_open)
    return;
  w = sshmux_upchan_write(rc->up, buf, len);
  if (w >= 0)
    sshmux__relay_tap(rc, SSHMUX_RELAY_TAP_INPUT, stream, buf, len);
  if (w == 1) {
    sshmux_server_channel_read_stop(ch);
    rc->down_paused = 1;
  } else if (w < 0) {
    SSHMUX__LOG_DEBUG("relay: upstream write: %s", sshmux_strerror(w));
  }
}

static void down_eof(sshmux_server_channel_t *ch) {
  sshmux__rchan_t *rc = sshmux_server_channel_get_data(ch);

  if (rc->up != NULL && rc->up_open && !rc->up_closing)
    (void)sshmux_upchan_send_eof(rc->up);
  else if (rc->menu != NULL && !sshmux__relay_menu_eof(rc))
    sshmux__relay_finish(rc, 0);
}

static void down_drain(sshmux_server_channel_t *ch) {
  sshmux__rchan_t *rc = sshmux_server_channel_get_data(ch);

  if (rc->up != NULL && rc->up_paused && !rc->up_closing) {
    rc->up_paused = 0;
    sshmux_upchan_read_start(rc->up);
  }
}

/* The client sent CLOSE.  After the upstream's EOF a session's exit
 * status is on its way (the pool has it when the upstream channel closes,
 * up_on_closed): an OpenSSH ControlMaster closes a mux session right after
 * our EOF, and its client still needs the status, so our CLOSE waits for
 * it, as sshd's would wait for its child.  Otherwise the client gave up
 * on the channel: end it now (down_close then closes upstream). */
static void down_remote_close(sshmux_server_channel_t *ch) {
  sshmux__rchan_t *rc = sshmux_server_channel_get_data(ch);

  if (rc->type == SSHMUX_CHANNEL_SESSION && rc->up_eof && rc->up != NULL &&
      !rc->up_closing)
    return;
  sshmux__relay_close_down(rc);
}

static void down_close(sshmux_server_channel_t *ch) {
  sshmux__rchan_t *rc = sshmux_server_channel_get_data(ch);

  while (!sshmux__list_empty(&rc->reqs)) {
    fwd_req_t *f = SSHMUX__CONTAINER_OF(rc->reqs.next, fwd_req_t, link);
    sshmux__list_remove(&f->link);
    f->req = NULL; /* freed by the upstream callback */
  }
  rc->down = NULL;
  sshmux__relay_close_up(rc);
  sshmux__relay_prompt_detach(rc);
  sshmux__relay_maybe_free(rc);
}

/* An upstream request finished: answer the client's request. */
static void fwd_done(sshmux_upchan_t *up, int status, void *data) {
  fwd_req_t *f = data;
  sshmux__rchan_t *rc = sshmux_upchan_get_data(up);

  if (f->req != NULL) {
    sshmux__list_remove(&f->link);
    sshmux_server_request_reply(f->req, status == 0);
    if (status != 0)
      SSHMUX__LOG_DEBUG("relay: request refused upstream: %s (%s)",
                        sshmux_strerror(status), sshmux_upchan_last_error(up));
  }
  (void)rc;
  sshmux__free(f);
}

static fwd_req_t *fwd_new(sshmux__rchan_t *rc, sshmux_server_request_t *req) {
  fwd_req_t *f = sshmux__calloc(1, sizeof(*f));

  if (f == NULL)
    return NULL;
  f->req = req;
  sshmux__list_push(&rc->reqs, &f->link);
  return f;
}

/* Forward one request; answers it FAILURE right away if it cannot be sent. */
static void forward(sshmux__rchan_t *rc, sshmux_server_request_t *req,
                    const sshmux_server_request_info_t *info) {
  fwd_req_t *f;
  int r;

  if (rc->up == NULL || !rc->up_open || rc->up_closing ||
      (f = fwd_new(rc, req)) == NULL) {
    sshmux_server_request_reply(req, 0);
    return;
  }
  if (strcmp(info->type, "pty-req") == 0)
    r = sshmux_upchan_pty(rc->up, info->term, info->modes, info->modes_len,
                          info->cols, info->rows, info->width_px,
                          info->height_px, fwd_done, f);
  else if (strcmp(info->type, "env") == 0)
    r = sshmux_upchan_env(rc->up, info->env_name, info->env_value, fwd_done, f);
  else if (strcmp(info->type, "shell") == 0)
    r = sshmux_upchan_shell(rc->up, fwd_done, f);
  else if (strcmp(info->type, "exec") == 0)
    r = sshmux_upchan_exec(rc->up, info->command, fwd_done, f);
  else
    r = sshmux_upchan_subsystem(rc->up, info->subsystem, fwd_done, f);
  if (r != 0) {
    sshmux__list_remove(&f->link);
    sshmux__free(f);
    sshmux_server_request_reply(req, 0);
  }
}

static void down_request(sshmux_server_conn_t *conn,
                         sshmux_server_channel_t *ch,
                         sshmux_server_request_t *req,
                         const sshmux_server_request_info_t *info) {
  sshmux__rchan_t *rc = sshmux_server_channel_get_data(ch);
  const char *t = info->type;

  /* info (t included) is only valid until the reply: every branch uses
   * it first and answers last. */
  (void)conn;
  if (strcmp(t, "window-change") == 0) {
    if (rc->menu != NULL && !rc->up_open)
      (void)sshmux__relay_menu_request(rc, info);
    else if (rc->up != NULL && rc->up_open && !rc->up_closing)
      (void)sshmux_upchan_window_change(rc->up, info->cols, info->rows,
                                        info->width_px, info->height_px, NULL,
                                        NULL);
    sshmux_server_request_reply(req, 1); /* never has a reply */
    return;
  }
  if (strcmp(t, "signal") == 0) {
    sshmux__relay_note(rc,
                       "sshmux: signal %s not relayed (libssh2 1.10 cannot "
                       "send signals)",
                       info->signal != NULL ? info->signal : "?");
    sshmux_server_request_reply(req, 0);
    return;
  }
  if (strcmp(t, "x11-req") == 0 ||
      strcmp(t, "auth-agent-req@openssh.com") == 0 || strcmp(t, "break") == 0) {
    sshmux__relay_note(rc, "sshmux: %s is not relayed",
                       t[0] == 'x'   ? "X11 forwarding"
                       : t[0] == 'a' ? "agent forwarding"
                                     : "break");
    sshmux_server_request_reply(req, 0);
    return;
  }
  if (strcmp(t, "env") == 0 && rc->route != NULL &&
      !sshmux_routes_env_allowed(rc->route, info->env_name)) {
    SSHMUX__LOG_DEBUG("relay: env %s refused by route %s", info->env_name,
                      sshmux_route_name(rc->route));
    sshmux_server_request_reply(req, 0);
    return;
  }
  if (strcmp(t, "shell") == 0 || strcmp(t, "exec") == 0 ||
      strcmp(t, "subsystem") == 0)
    rc->started = 1;
  if (rc->menu != NULL && !rc->up_open) {
    /* info is only valid until the reply; the channel ends after it. */
    int end = sshmux__relay_menu_request(rc, info);
    if (end == SSHMUX__MENU_READY) { /* held: it may be asked on now */
      sshmux__relay_prompt_ready(rc);
      end = -1;
    }
    sshmux_server_request_reply(req, 1);
    if (end >= 0)
      sshmux__relay_finish(rc, end);
    return;
  }
  if (strcmp(t, "pty-req") == 0 || strcmp(t, "env") == 0 ||
      strcmp(t, "shell") == 0 || strcmp(t, "exec") == 0 ||
      strcmp(t, "subsystem") == 0) {
    forward(rc, req, info);
    return;
  }
  sshmux_server_request_reply(req, 0);
}

static const sshmux_server_channel_cbs_t down_cbs = {
    down_request, down_data,  down_eof,
    down_drain,   down_close, down_remote_close};

/* ---- the server's callbacks ---- */

static const sshmux_route_t *conn_route(sshmux_relay_t *r,
                                        sshmux_server_conn_t *conn) {
  const char *user = sshmux_server_conn_user(conn);

  if (r->opts.fixed_route != NULL)
    return r->opts.fixed_route;
  return user != NULL ? sshmux_routes_find(r->opts.routes, user) : NULL;
}

static void srv_channel_open(sshmux_server_conn_t *conn,
                             sshmux_server_channel_t *ch,
                             const sshmux_server_open_info_t *info) {
  sshmux_relay_t *r = sshmux_server_get_data(sshmux_server_conn_server(conn));
  const char *user = sshmux_server_conn_user(conn);
  sshmux__rchan_t *rc;
  char msg[400];
  int err;

  if (r->closing) {
    (void)sshmux_server_channel_reject(ch, SSHMUX_OPEN_CONNECT_FAILED,
                                       "sshmux: shutting down");
    return;
  }
  rc = sshmux__calloc(1, sizeof(*rc));
  if (rc == NULL) {
    (void)sshmux_server_channel_reject(ch, SSHMUX_OPEN_RESOURCE_SHORTAGE,
                                       "sshmux: out of memory");
    return;
  }
  rc->relay = r;
  rc->id = ++r->next_id;
  rc->down = ch;
  rc->type = info->type;
  rc->route = conn_route(r, conn);
  sshmux__list_init(&rc->reqs);
  sshmux__list_push(&r->chans, &rc->link);
  r->nchans++;
  sshmux_server_channel_set_data(ch, rc);
  sshmux_server_channel_set_cbs(ch, &down_cbs);
  sshmux_server_channel_set_high_water(ch, r->opts.down_hwm);

  if (rc->route == NULL) {
    if (info->type == SSHMUX_CHANNEL_SESSION &&
        sshmux_server_channel_accept(ch) == 0) {
      /* Whether it has a pty shows only in its requests. */
      rc->down_accepted = 1;
      if (sshmux__relay_menu_start(rc) == 0)
        return;
      sshmux__relay_finish(rc, 255);
      return;
    }
    snprintf(msg, sizeof(msg),
             "sshmux: no route named '%s' (see sshmux-routes.ini)",
             user != NULL ? user : "");
    goto reject_prohibited;
  }
  if (info->type == SSHMUX_CHANNEL_DIRECT_TCPIP &&
      !sshmux_routes_forward_allowed(rc->route, info->host, (int)info->port)) {
    snprintf(msg, sizeof(msg),
             "sshmux: forwarding to %s:%u refused by route '%s' "
             "(forward_allow = %s)",
             info->host, (unsigned)info->port, sshmux_route_name(rc->route),
             sshmux_route_forward_allow_text(rc->route));
    goto reject_prohibited;
  }
  if (info->type == SSHMUX_CHANNEL_DIRECT_STREAMLOCAL &&
      !sshmux_routes_forward_allowed(rc->route, info->socket_path, 0)) {
    snprintf(msg, sizeof(msg),
             "sshmux: forwarding to socket %s refused by route '%s' "
             "(forward_allow = %s)",
             info->socket_path, sshmux_route_name(rc->route),
             sshmux_route_forward_allow_text(rc->route));
    goto reject_prohibited;
  }
  err = sshmux__relay_open_up(rc);
  if (err == 0)
    return;
  snprintf(msg, sizeof(msg), "sshmux: cannot open an upstream channel: %s",
           sshmux_strerror(err));
  SSHMUX__LOG_WARN("relay: %s", msg);
  (void)sshmux_server_channel_reject(ch, SSHMUX_OPEN_RESOURCE_SHORTAGE, msg);
  rc->down = NULL;
  sshmux__relay_maybe_free(rc);
  return;

reject_prohibited:
  SSHMUX__LOG_INFO("relay: %s", msg);
  (void)sshmux_server_channel_reject(
      ch, SSHMUX_OPEN_ADMINISTRATIVELY_PROHIBITED, msg);
  rc->down = NULL;
  sshmux__relay_maybe_free(rc);
}

/* Remote forwarding would make a listener on the upstream host whose
 * connections come back to the client: not relayed. */
static void srv_global_request(sshmux_server_conn_t *conn,
                               sshmux_server_channel_t *ch,
                               sshmux_server_request_t *req,
                               const sshmux_server_request_info_t *info) {
  (void)conn, (void)ch;
  SSHMUX__LOG_INFO("relay: global request %s refused (remote forwarding is "
                   "not relayed)",
                   info->type);
  sshmux_server_request_reply(req, 0);
}

/* ---- the relay object ---- */

void sshmux_relay_options_init(sshmux_relay_options_t *o) {
  memset(o, 0, sizeof(*o));
  o->idle_timeout_s = -1;
  o->max_lifetime_s = -1;
}

int sshmux_relay_new(uv_loop_t *loop, sshmux_pool_t *pool,
                     const sshmux_relay_options_t *opts, sshmux_relay_t **out) {
  sshmux_server_cbs_t cbs;
  sshmux_relay_t *r;
  int rc;

  if (out == NULL)
    return SSHMUX_EINVAL;
  *out = NULL;
  if (loop == NULL || pool == NULL || opts == NULL || opts->routes == NULL)
    return SSHMUX_EINVAL;
  r = sshmux__calloc(1, sizeof(*r));
  if (r == NULL)
    return SSHMUX_ENOMEM;
  r->loop = loop;
  r->ops = &relay_ops;
  r->pool = pool;
  r->opts = *opts;
  if (r->opts.down_hwm == 0)
    r->opts.down_hwm = DEFAULT_DOWN_HWM;
  sshmux__list_init(&r->chans);
  sshmux__list_init(&r->asks);
  memset(&cbs, 0, sizeof(cbs));
  cbs.auth = opts->auth;
  cbs.auth_data = opts->auth_data;
  cbs.channel_open = srv_channel_open;
  cbs.global_request = srv_global_request;
  rc = sshmux_server_new(loop, &cbs, &r->server);
  if (rc != 0) {
    sshmux__free(r);
    return rc;
  }
  sshmux_server_set_data(r->server, r);
  *out = r;
  return 0;
}

sshmux_server_t *sshmux_relay_server(sshmux_relay_t *r) {
  return r->server;
}

size_t sshmux_relay_channel_count(const sshmux_relay_t *r) {
  return r->nchans;
}

static void server_closed(sshmux_server_t *srv) {
  sshmux_relay_t *r = sshmux_server_get_data(srv);

  r->server = NULL;
  sshmux__relay_maybe_closed(r);
}

void sshmux_relay_close(sshmux_relay_t *r, sshmux_relay_close_cb close_cb,
                        void *data) {
  sshmux__link_t *l;

  if (r == NULL || r->closing)
    return;
  r->closing = 1;
  r->close_cb = close_cb;
  r->close_data = data;
  sshmux__relay_prompt_close_all(r);
  /* Channels still opening upstream have a client channel that the server
   * close will end; the rest follow their close callbacks. */
  for (l = r->chans.next; l != &r->chans; l = l->next) {
    sshmux__rchan_t *rc = SSHMUX__CONTAINER_OF(l, sshmux__rchan_t, link);
    sshmux__relay_close_up(rc);
  }
  sshmux_server_close(r->server, server_closed);
}

void sshmux_relay_set_data(sshmux_relay_t *r, void *data) {
  r->data = data;
}
void *sshmux_relay_get_data(const sshmux_relay_t *r) {
  return r->data;
}

/* ---- the calls up the stack from bridge.c (relay-int.h) ---- */

static void ops_release(sshmux__rchan_t *rc) {
  if (rc->ask != NULL)
    sshmux__relay_prompt_detach(rc);
  sshmux__relay_menu_free(rc);
}

static const sshmux__relay_ops_t relay_ops = {
    sshmux__relay_menu_connected, sshmux__relay_prompt_detach, ops_release};
