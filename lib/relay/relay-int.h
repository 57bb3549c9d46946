/* relay/relay-int.h -- private to the relay module (lib/relay/): what
 * relay.c (the relay object and the per-channel bridge) and menu.c (the
 * route menu for unknown user names) share: the relay object and the state
 * of one relayed channel.  Other modules use the relay only through the
 * public sshmux/relay.h.
 *
 * The files, bottom layer first: relay.c (the bridge; also the object and
 * the server's callbacks) < menu.c (a front end on top of the bridge: it
 * calls sshmux__relay_open_up/note/finish).  relay.c enters the menu at one
 * point, sshmux__relay_menu_start() for a session without a route, and
 * from then on reaches it only through the channel's front-end hooks
 * (sshmux__front_t) that the menu installs -- the same hooks any other
 * front end holding the client's side before the upstream opens would
 * use. */
#ifndef SSHMUX_RELAY_INT_H
#define SSHMUX_RELAY_INT_H

#include "core/core.h"
#include "sshmux/relay.h"

typedef struct sshmux__menu sshmux__menu_t;
typedef struct sshmux__rchan sshmux__rchan_t;

/* A front end that owns a session's client side until its upstream is
 * open (the route menu): input and requests go to it while !up_open. */
typedef struct {
  /* A request (pty-req, env, shell, exec, subsystem, window-change) seen
   * before a route was picked: remembered, replayed upstream later.
   * Returns -1, or the exit status to end the channel with (after the
   * reply). */
  int (*request)(sshmux__rchan_t *rc, const sshmux_server_request_info_t *info);
  /* Keystrokes from the client. */
  void (*input)(sshmux__rchan_t *rc, const char *buf, size_t len);
  /* The upstream channel for the picked route is open: replay. */
  void (*connected)(sshmux__rchan_t *rc);
  /* The channel is being freed; the hooks are uninstalled. */
  void (*free)(sshmux__rchan_t *rc);
} sshmux__front_t;

struct sshmux_relay_s {
  uv_loop_t *loop;
  sshmux_pool_t *pool;     /* borrowed */
  sshmux_server_t *server; /* ours; NULL once its close callback ran */
  sshmux_relay_options_t opts;
  sshmux__link_t chans; /* every sshmux__rchan_t alive */
  size_t nchans;
  uint64_t next_id; /* the tap's id of the next relayed channel */
  int closing, finished;
  sshmux_relay_close_cb close_cb;
  void *close_data;
  void *data;
};

/* One relayed channel.  Invariant: it is in relay->chans and allocated
 * while down != NULL or up != NULL; the first callback that finds both
 * NULL frees it. */
struct sshmux__rchan {
  sshmux_relay_t *relay;
  sshmux__link_t link;
  sshmux_server_channel_t *down; /* NULL after its close callback/reject */
  sshmux_upchan_t *up;           /* NULL after its close/open-failure cb */
  const sshmux_route_t *route;   /* NULL: unknown user (menu) */
  sshmux_server_channel_type_t type;
  sshmux__link_t reqs;          /* fwd_req_t awaiting an upstream reply */
  sshmux__menu_t *menu;         /* only for a session of an unknown user */
  const sshmux__front_t *front; /* installed by the menu while it runs */
  unsigned down_accepted : 1;   /* the client's open was confirmed */
  unsigned down_closing : 1;    /* we asked the server to close it */
  unsigned down_paused : 1;     /* client reads stopped: upstream queue full */
  unsigned up_open : 1;         /* the upstream channel is usable */
  unsigned up_closing : 1;      /* sshmux_upchan_close called */
  unsigned up_paused : 1;       /* upstream reads stopped: client queue full */
  unsigned started : 1;         /* shell/exec/subsystem was requested */
  unsigned tapped : 1;          /* the tap was told OPEN (so owes it CLOSE) */
  uint64_t id;                  /* for the tap */
};

/* Tell the relay's tap (if any) about rc: ev, with bytes for INPUT and
 * OUTPUT.  OPEN only once, and nothing but OPEN before it. */
void sshmux__relay_tap(sshmux__rchan_t *rc, sshmux_relay_tap_event_t ev,
                       int stream, const char *buf, size_t len);

/* Ask the pool for rc's upstream channel (rc->route, rc->down's type). */
int sshmux__relay_open_up(sshmux__rchan_t *rc);
/* Log a message and, on an accepted session, show it on the client's
 * stderr (followed by CR LF). */
void sshmux__relay_note(sshmux__rchan_t *rc, const char *fmt, ...)
    SSHMUX__PRINTF(2, 3);
/* End the channel: exit status (if >= 0, sessions only), CLOSE downstream,
 * close upstream. */
void sshmux__relay_finish(sshmux__rchan_t *rc, int exit_code);
/* The relay is closing and its last piece may be gone: finish it. */
void sshmux__relay_maybe_closed(sshmux_relay_t *r);

/* ---- menu.c ---- */

/* Begin menu mode on an accepted session channel without a route (installs
 * rc->front).  0 or SSHMUX_ENOMEM. */
int sshmux__relay_menu_start(sshmux__rchan_t *rc);

#endif
