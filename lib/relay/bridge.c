/* relay/bridge.c -- the relay module's bottom layer: the bridge between one
 * downstream channel and its upstream one.  It owns what every part of the
 * relay uses on a relayed channel -- notes to the client, finishing and
 * closing either half, the tap, freeing the channel once both halves are
 * gone -- and the upstream half: the pool target for a route, opening the
 * upstream channel and its callbacks (data, EOF, exit status, drain).
 *
 * It calls nothing above it by name: when the upstream opens for a session
 * the menu held (connected), when a waiting prompt must move on (detach)
 * and when a channel is freed (release), it calls through the relay's ops
 * table, which relay.c -- the top -- installs (relay-int.h). */
#include <stdio.h>
#include <string.h>

#include "relay/relay-int.h"

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
  sshmux__relay_maybe_free(rc);
}

/* Close the upstream half (idempotent). */
void sshmux__relay_close_up(sshmux__rchan_t *rc) {
  if (rc->up != NULL && !rc->up_closing) {
    rc->up_closing = 1;
    sshmux_upchan_close(rc->up, up_close_cb);
  }
}

/* Close the downstream half: queued data, EOF, exit status, CLOSE. */
void sshmux__relay_close_down(sshmux__rchan_t *rc) {
  if (rc->down != NULL && !rc->down_closing) {
    rc->down_closing = 1;
    sshmux_server_channel_close(rc->down);
  }
}

void sshmux__relay_finish(sshmux__rchan_t *rc, int exit_code) {
  if (rc->down != NULL && rc->down_accepted &&
      rc->type == SSHMUX_CHANNEL_SESSION && exit_code >= 0)
    (void)sshmux_server_channel_exit_status(rc->down, (uint32_t)exit_code);
  sshmux__relay_close_down(rc);
  sshmux__relay_close_up(rc);
  /* It waits no more (closing): a prompt shown here moves on. */
  rc->relay->ops->detach(rc);
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

void sshmux__relay_maybe_free(sshmux__rchan_t *rc) {
  sshmux_relay_t *r = rc->relay;

  if (rc->down != NULL || rc->up != NULL)
    return;
  sshmux__relay_tap(rc, SSHMUX_RELAY_TAP_CLOSE, 0, NULL, 0);
  sshmux__list_remove(&rc->link);
  r->nchans--;
  r->ops->release(rc);
  sshmux__free(rc);
  sshmux__relay_maybe_closed(r);
}

/* ---- the pool's targets for a route ---- */

const sshmux_target_t *sshmux_relay_route_targets(sshmux_route_targets_t *out,
                                                  const sshmux_route_t *route) {
  const sshmux_route_t *hops[SSHMUX_ROUTES_MAX_CHAIN];
  size_t n = 0, i;

  if (out == NULL)
    return NULL;
  memset(out, 0, sizeof(*out));
  if (route == NULL ||
      sshmux_route_chain(route, hops, SSHMUX_ROUTES_MAX_CHAIN, &n) != 0 ||
      n == 0)
    return NULL;
  for (i = 0; i < n; i++) {
    sshmux_target_t *t = &out->t[i];
    sshmux_target_init(t);
    t->user = sshmux_route_user(hops[i]);
    t->host = sshmux_route_host(hops[i]);
    t->port = sshmux_route_port(hops[i]);
    out->ids_[i][0] = sshmux_route_identity(hops[i]);
    out->ids_[i][1] = NULL;
    t->identity_files = out->ids_[i][0] != NULL ? out->ids_[i] : NULL;
    t->identity_agent = sshmux_route_identity_agent(hops[i]);
    t->jump = i > 0 ? &out->t[i - 1] : NULL;
    t->idle_timeout_s = (int)sshmux_route_idle_timeout(hops[i]);
    t->max_lifetime_s = (int)sshmux_route_max_lifetime(hops[i]);
    t->accept_new_hostkey = sshmux_route_accept_new_hostkey(hops[i]);
    t->keepalive_s = (int)sshmux_route_keepalive(hops[i]);
  }
  out->n = n;
  return &out->t[n - 1];
}

/* The relay's targets: the route's, with the relay's own timer overrides. */
static const sshmux_target_t *route_target(const sshmux_relay_t *r,
                                           const sshmux_route_t *route,
                                           sshmux_route_targets_t *c) {
  const sshmux_target_t *t = sshmux_relay_route_targets(c, route);

  for (size_t i = 0; t != NULL && i < c->n; i++) {
    if (r->opts.idle_timeout_s >= 0)
      c->t[i].idle_timeout_s = r->opts.idle_timeout_s;
    if (r->opts.max_lifetime_s >= 0)
      c->t[i].max_lifetime_s = r->opts.max_lifetime_s;
  }
  return t;
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
  sshmux__relay_close_down(rc);
  sshmux__relay_close_up(rc);
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
    sshmux__relay_maybe_free(rc);
    return;
  }
  rc->up_open = 1;
  if (rc->ask != NULL || !sshmux__list_empty(&rc->relay->asks))
    rc->relay->ops->detach(rc); /* it waits no more */
  if (rc->down == NULL) {
    sshmux__relay_close_up(rc);
    return;
  }
  if (!rc->down_accepted) {
    if (sshmux_server_channel_accept(rc->down) != 0) {
      sshmux__relay_close_up(rc);
      return;
    }
    rc->down_accepted = 1;
  } else {
    rc->relay->ops->connected(rc); /* a route picked from the menu */
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
  sshmux_route_targets_t targets;
  const sshmux_target_t *t;
  sshmux_upchan_spec_t spec;

  t = route_target(r, rc->route, &targets);
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

void sshmux__relay_maybe_closed(sshmux_relay_t *r) {
  if (!r->closing || r->server != NULL || r->nchans > 0 || r->finished)
    return;
  r->finished = 1;
  if (r->close_cb != NULL)
    r->close_cb(r, r->close_data);
  sshmux__free(r);
}
