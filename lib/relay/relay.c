/* relay.c -- one downstream channel (a client's, from the local server)
 * bridged to one upstream channel (the pool's), for every channel of every
 * client.  This file owns the per-channel state machine, request
 * forwarding, the forwarding policy checks and the back-pressure wiring;
 * menu.c owns the route menu shown to unknown user names (and the hold
 * mode of sessions accepted early), prompt.c the login questions asked in
 * a client's terminal.
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

static void chan_maybe_free(sshmux__rchan_t *rc);

/* ---- helpers ---- */

void sshmux__relay_note(sshmux__rchan_t *rc, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof(msg))
    n = sizeof(msg) - 1;
  SSHMUX__LOG_INFO("relay: %.*s", n, msg);
  if (rc->down != NULL && rc->down_accepted &&
      rc->type == SSHMUX_CHANNEL_SESSION) {
    (void)sshmux_server_channel_write(rc->down, SSHMUX_STREAM_STDERR, msg,
                                      (size_t)n);
    (void)sshmux_server_channel_write(rc->down, SSHMUX_STREAM_STDERR, "\r\n",
                                      2);
  }
}

static void up_close_cb(sshmux_upchan_t *up) {
  sshmux__rchan_t *rc = sshmux_upchan_get_data(up);

  rc->up = NULL;
  chan_maybe_free(rc);
}

/* Close the upstream half (idempotent). */
static void close_up(sshmux__rchan_t *rc) {
  if (rc->up != NULL && !rc->up_closing) {
    rc->up_closing = 1;
    sshmux_upchan_close(rc->up, up_close_cb);
  }
}

/* Close the downstream half: queued data, EOF, exit status, CLOSE. */
static void close_down(sshmux__rchan_t *rc) {
  if (rc->down != NULL && !rc->down_closing) {
    rc->down_closing = 1;
    sshmux_server_channel_close(rc->down);
  }
}

void sshmux__relay_finish(sshmux__rchan_t *rc, int exit_code) {
  if (rc->down != NULL && rc->down_accepted &&
      rc->type == SSHMUX_CHANNEL_SESSION && exit_code >= 0)
    (void)sshmux_server_channel_exit_status(rc->down, (uint32_t)exit_code);
  close_down(rc);
  close_up(rc);
  /* It waits no more (closing): a prompt shown here moves on. */
  sshmux__relay_prompt_detach(rc);
}

void sshmux__relay_tap(sshmux__rchan_t *rc, sshmux_relay_tap_event_t ev,
                       int stream, const char *buf, size_t len) {
  sshmux_relay_t *r = rc->relay;
  sshmux_relay_tap_t t;

  if (r->opts.tap_cb == NULL || rc->route == NULL ||
      (ev == SSHMUX_RELAY_TAP_OPEN) == rc->tapped)
    return;
  memset(&t, 0, sizeof(t));
  t.event = ev;
  t.id = rc->id;
  t.type = rc->type;
  t.route = sshmux_route_name(rc->route);
  if (ev == SSHMUX_RELAY_TAP_OPEN && rc->down != NULL)
    t.user = sshmux_server_conn_user(sshmux_server_channel_conn(rc->down));
  t.stream = stream;
  t.buf = buf;
  t.len = len;
  rc->tapped = ev != SSHMUX_RELAY_TAP_CLOSE;
  r->opts.tap_cb(r, &t, r->opts.tap_data);
}

static void chan_maybe_free(sshmux__rchan_t *rc) {
  sshmux_relay_t *r = rc->relay;

  if (rc->down != NULL || rc->up != NULL)
    return;
  sshmux__relay_tap(rc, SSHMUX_RELAY_TAP_CLOSE, 0, NULL, 0);
  sshmux__list_remove(&rc->link);
  r->nchans--;
  if (rc->ask != NULL)
    sshmux__relay_prompt_detach(rc);
  sshmux__relay_menu_free(rc);
  sshmux__free(rc);
  sshmux__relay_maybe_closed(r);
}

/* ---- the pool's target for a route ---- */

/* Fill targets[] (one per hop, linked by .jump) for route and return the
 * last one, the route itself.  ids holds each hop's identity list. */
static const sshmux_target_t *
route_target(const sshmux_relay_t *r, const sshmux_route_t *route,
             sshmux_target_t targets[SSHMUX_ROUTES_MAX_CHAIN],
             const char *ids[SSHMUX_ROUTES_MAX_CHAIN][2]) {
  const sshmux_route_t *hops[SSHMUX_ROUTES_MAX_CHAIN];
  size_t n = 0, i;

  if (sshmux_route_chain(route, hops, SSHMUX_ROUTES_MAX_CHAIN, &n) != 0 ||
      n == 0)
    return NULL;
  for (i = 0; i < n; i++) {
    sshmux_target_t *t = &targets[i];
    sshmux_target_init(t);
    t->user = sshmux_route_user(hops[i]);
    t->host = sshmux_route_host(hops[i]);
    t->port = sshmux_route_port(hops[i]);
    ids[i][0] = sshmux_route_identity(hops[i]);
    ids[i][1] = NULL;
    t->identity_files = ids[i][0] != NULL ? ids[i] : NULL;
    t->identity_agent = sshmux_route_identity_agent(hops[i]);
    t->jump = i > 0 ? &targets[i - 1] : NULL;
    t->idle_timeout_s = r->opts.idle_timeout_s >= 0
                            ? r->opts.idle_timeout_s
                            : (int)sshmux_route_idle_timeout(hops[i]);
    t->max_lifetime_s = r->opts.max_lifetime_s >= 0
                            ? r->opts.max_lifetime_s
                            : (int)sshmux_route_max_lifetime(hops[i]);
    t->accept_new_hostkey = sshmux_route_accept_new_hostkey(hops[i]);
    t->keepalive_s = (int)sshmux_route_keepalive(hops[i]);
  }
  return &targets[n - 1];
}

/* ---- upstream callbacks ---- */

static void up_on_data(sshmux_upchan_t *up, int stream, const char *buf,
                       size_t len) {
  sshmux__rchan_t *rc = sshmux_upchan_get_data(up);
  int w;

  if (rc->down == NULL || rc->down_closing)
    return; /* the client is gone; upstream is being closed */
  w = sshmux_server_channel_write(rc->down, stream, buf, len);
  if (w >= 0)
    sshmux__relay_tap(rc, SSHMUX_RELAY_TAP_OUTPUT, stream, buf, len);
  if (w == 1 || w == SSHMUX_EBUSY) {
    /* The client reads slower than upstream produces: let upstream's
     * window run dry until the queue drains. */
    sshmux_upchan_read_stop(up);
    rc->up_paused = 1;
  }
  if (w == SSHMUX_EBUSY)
    SSHMUX__LOG_ERROR("relay: downstream queue over its bound; %zu bytes lost",
                      len);
}

static void up_on_eof(sshmux_upchan_t *up) {
  sshmux__rchan_t *rc = sshmux_upchan_get_data(up);

  rc->up_eof = 1;
  if (rc->down != NULL && !rc->down_closing)
    (void)sshmux_server_channel_eof(rc->down);
}

/* An exit-signal name as RFC 4254 §6.10 has them ("KILL", "name@domain"):
 * a hostile upstream's name is never passed on to a client that may print
 * it. */
static int signal_name_ok(const char *s) {
  size_t n = strlen(s);

  if (n == 0 || n > 32)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
          (s[i] >= '0' && s[i] <= '9') || s[i] == '@' || s[i] == '.' ||
          s[i] == '-' || s[i] == '_'))
      return 0;
  return 1;
}

static void up_on_closed(sshmux_upchan_t *up, int status) {
  sshmux__rchan_t *rc = sshmux_upchan_get_data(up);
  const char *sig;

  if (rc->down != NULL && !rc->down_closing &&
      rc->type == SSHMUX_CHANNEL_SESSION) {
    if (status < 0) {
      sshmux__relay_note(rc, "sshmux: upstream channel lost: %s (%s)",
                         sshmux_strerror(status), sshmux_upchan_last_error(up));
    } else if ((sig = sshmux_upchan_exit_signal(up)) != NULL &&
               signal_name_ok(sig)) {
      (void)sshmux_server_channel_exit_signal(rc->down, sig, 0, "");
    } else if (sig != NULL) {
      sshmux__relay_note(rc, "sshmux: the upstream ended the session with a "
                             "malformed signal name");
      (void)sshmux_server_channel_exit_status(rc->down, 255);
    } else if (rc->started) {
      (void)sshmux_server_channel_exit_status(
          rc->down, (uint32_t)sshmux_upchan_exit_status(up));
    }
  }
  close_down(rc);
  close_up(rc);
}

static void up_on_drain(sshmux_upchan_t *up) {
  sshmux__rchan_t *rc = sshmux_upchan_get_data(up);

  if (rc->down != NULL && rc->down_paused) {
    rc->down_paused = 0;
    sshmux_server_channel_read_start(rc->down);
  }
}

static const sshmux_upchan_callbacks_t up_cbs = {up_on_data, up_on_eof,
                                                 up_on_closed, up_on_drain};

static void up_open_cb(sshmux_upchan_t *up, int status) {
  sshmux__rchan_t *rc = sshmux_upchan_get_data(up);
  char msg[400];

  if (status < 0) {
    if (!rc->up_closing)
      rc->up = NULL; /* freed by the pool right after this returns */
    snprintf(msg, sizeof(msg), "sshmux: route '%s': %s (%s)",
             sshmux_route_name(rc->route), sshmux_strerror(status),
             sshmux_upchan_last_error(up));
    SSHMUX__LOG_INFO("relay: %s", msg);
    if (rc->down != NULL && !rc->down_accepted) {
      (void)sshmux_server_channel_reject(
          rc->down,
          status == SSHMUX_ECHAN_REFUSED
              ? SSHMUX_OPEN_ADMINISTRATIVELY_PROHIBITED
              : SSHMUX_OPEN_CONNECT_FAILED,
          msg);
      rc->down = NULL; /* a rejected channel gets no close callback */
    } else if (rc->down != NULL) {
      sshmux__relay_note(rc, "%s", msg);
      sshmux__relay_finish(rc, 255);
    }
    chan_maybe_free(rc);
    return;
  }
  rc->up_open = 1;
  if (rc->ask != NULL || !sshmux__list_empty(&rc->relay->asks))
    sshmux__relay_prompt_detach(rc); /* it waits no more */
  if (rc->down == NULL) {
    close_up(rc);
    return;
  }
  if (!rc->down_accepted) {
    if (sshmux_server_channel_accept(rc->down) != 0) {
      close_up(rc);
      return;
    }
    rc->down_accepted = 1;
  } else {
    sshmux__relay_menu_connected(rc); /* a route picked from the menu */
  }
  if (rc->relay->opts.session_cb != NULL && rc->down != NULL)
    rc->relay->opts.session_cb(
        rc->relay, rc->type, sshmux_route_name(rc->route),
        sshmux_server_conn_user(sshmux_server_channel_conn(rc->down)),
        rc->relay->opts.session_data);
  if (rc->down != NULL)
    sshmux__relay_tap(rc, SSHMUX_RELAY_TAP_OPEN, 0, NULL, 0);
}

int sshmux__relay_open_up(sshmux__rchan_t *rc) {
  sshmux_relay_t *r = rc->relay;
  const sshmux_server_open_info_t *info = sshmux_server_channel_info(rc->down);
  sshmux_target_t targets[SSHMUX_ROUTES_MAX_CHAIN];
  const char *ids[SSHMUX_ROUTES_MAX_CHAIN][2];
  const sshmux_target_t *t;
  sshmux_upchan_spec_t spec;

  t = route_target(r, rc->route, targets, ids);
  if (t == NULL)
    return SSHMUX_ECONFIG;
  memset(&spec, 0, sizeof(spec));
  spec.window = r->opts.up_window;
  spec.write_hwm = r->opts.up_hwm;
  switch (info->type) {
  case SSHMUX_CHANNEL_SESSION:
    spec.type = SSHMUX_UPCHAN_SESSION;
    break;
  case SSHMUX_CHANNEL_DIRECT_TCPIP:
    spec.type = SSHMUX_UPCHAN_DIRECT_TCPIP;
    spec.host = info->host;
    spec.port = (int)info->port;
    spec.orig_host = info->originator;
    spec.orig_port = (int)info->originator_port;
    break;
  case SSHMUX_CHANNEL_DIRECT_STREAMLOCAL:
    spec.type = SSHMUX_UPCHAN_DIRECT_STREAMLOCAL;
    spec.path = info->socket_path;
    break;
  default:
    return SSHMUX_EINVAL;
  }
  return sshmux_pool_open_channel(r->pool, t, &spec, &up_cbs, rc, up_open_cb,
                                  &rc->up);
}

/* ---- downstream callbacks ---- */

static void down_data(sshmux_server_channel_t *ch, int stream, const char *buf,
                      size_t len) {
  sshmux__rchan_t *rc = sshmux_server_channel_get_data(ch);
  int w;

  if (rc->menu != NULL && !rc->up_open) {
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
  close_down(rc);
}

static void down_close(sshmux_server_channel_t *ch) {
  sshmux__rchan_t *rc = sshmux_server_channel_get_data(ch);

  while (!sshmux__list_empty(&rc->reqs)) {
    fwd_req_t *f = SSHMUX__CONTAINER_OF(rc->reqs.next, fwd_req_t, link);
    sshmux__list_remove(&f->link);
    f->req = NULL; /* freed by the upstream callback */
  }
  rc->down = NULL;
  close_up(rc);
  sshmux__relay_prompt_detach(rc);
  chan_maybe_free(rc);
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
  chan_maybe_free(rc);
  return;

reject_prohibited:
  SSHMUX__LOG_INFO("relay: %s", msg);
  (void)sshmux_server_channel_reject(
      ch, SSHMUX_OPEN_ADMINISTRATIVELY_PROHIBITED, msg);
  rc->down = NULL;
  chan_maybe_free(rc);
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

void sshmux__relay_maybe_closed(sshmux_relay_t *r) {
  if (!r->closing || r->server != NULL || r->nchans > 0 || r->finished)
    return;
  r->finished = 1;
  if (r->close_cb != NULL)
    r->close_cb(r, r->close_data);
  sshmux__free(r);
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
    close_up(rc);
  }
  sshmux_server_close(r->server, server_closed);
}

void sshmux_relay_set_data(sshmux_relay_t *r, void *data) {
  r->data = data;
}
void *sshmux_relay_get_data(const sshmux_relay_t *r) {
  return r->data;
}
