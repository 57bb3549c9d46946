/* relay/relay-int.h -- private to the relay module (lib/relay/): the relay
 * object and the state of one relayed channel, shared by its files.  Other
 * modules use the relay only through the public sshmux/relay.h; nothing
 * outside lib/relay/ includes this (scripts/check-layers.sh).
 *
 * The files, bottom layer first; each calls only files listed before it:
 *   bridge.c  one downstream channel bridged to one upstream channel: notes,
 *             finish/close, the tap, freeing; the upstream half (target,
 *             open, callbacks)
 *   menu.c    what a session asks before its upstream exists: the route
 *             menu for unknown user names, hold mode for routed sessions
 *             accepted early, type-ahead
 *   prompt.c  login questions asked in a waiting client's own terminal
 *   relay.c   the relay object, the server's callbacks, the downstream half
 *             (data, EOF, requests, forwarding policy); dispatches a held
 *             session's input and requests to prompt.c and menu.c
 * Where bridge.c must reach a higher layer -- the upstream opened for a
 * session the menu held, a waiting prompt must move on, a channel is freed
 * -- it calls through the relay's ops table (sshmux__relay_ops_t), which
 * relay.c installs. */
#ifndef SSHMUX_RELAY_INT_H
#define SSHMUX_RELAY_INT_H

#include "core/core.h"
#include "sshmux/relay.h"

typedef struct sshmux__menu sshmux__menu_t;
typedef struct sshmux__rask sshmux__rask_t;
typedef struct sshmux__rchan sshmux__rchan_t;

/* The calls up the stack from bridge.c (see the header), installed by
 * relay.c. */
typedef struct {
  /* The upstream opened for a session the menu held: replay its requests. */
  void (*connected)(sshmux__rchan_t *rc);
  /* rc waits for its login no more: a prompt shown on it moves on. */
  void (*detach)(sshmux__rchan_t *rc);
  /* rc is being freed: drop its menu and prompt state. */
  void (*release)(sshmux__rchan_t *rc);
} sshmux__relay_ops_t;

struct sshmux_relay_s {
  uv_loop_t *loop;
  const sshmux__relay_ops_t *ops; /* calls up the stack (relay.c's table) */
  sshmux_pool_t *pool;            /* borrowed */
  sshmux_server_t *server;        /* ours; NULL once its close callback ran */
  sshmux_relay_options_t opts;
  sshmux__link_t chans; /* every sshmux__rchan_t alive */
  size_t nchans;
  sshmux__link_t asks; /* sshmux__rask_t: prompts held (prompt.c) */
  uint64_t next_id;    /* the tap's id of the next relayed channel */
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
  sshmux__link_t reqs; /* fwd_req_t awaiting an upstream reply */
  /* Requests kept before the upstream exists: a session of an unknown
   * user (the route menu), or one accepted early to ask a prompt. */
  sshmux__menu_t *menu;
  sshmux__rask_t *ask;        /* the prompt shown on this terminal, or NULL */
  unsigned down_accepted : 1; /* the client's open was confirmed */
  unsigned down_closing : 1;  /* we asked the server to close it */
  unsigned down_paused : 1;   /* client reads stopped: upstream queue full */
  unsigned up_open : 1;       /* the upstream channel is usable */
  unsigned up_closing : 1;    /* sshmux_upchan_close called */
  unsigned up_paused : 1;     /* upstream reads stopped: client queue full */
  unsigned started : 1;       /* shell/exec/subsystem was requested */
  unsigned up_eof : 1;        /* upstream sent EOF (its exit status follows) */
  unsigned tapped : 1;        /* the tap was told OPEN (so owes it CLOSE) */
  uint64_t id;                /* for the tap */
};

/* Tell the relay's tap (if any) about rc: ev, with bytes for INPUT and
 * OUTPUT.  OPEN only once, and nothing but OPEN before it. */
void sshmux__relay_tap(sshmux__rchan_t *rc, sshmux_relay_tap_event_t ev,
                       int stream, const char *buf, size_t len);

/* ---- bridge.c (bottom) ---- */

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
/* Close the upstream half / the downstream half (idempotent). */
void sshmux__relay_close_up(sshmux__rchan_t *rc);
void sshmux__relay_close_down(sshmux__rchan_t *rc);
/* Free rc once both halves are gone (ops->release first). */
void sshmux__relay_maybe_free(sshmux__rchan_t *rc);

/* ---- menu.c ---- */

/* Begin menu mode on an accepted session channel without a route. */
int sshmux__relay_menu_start(sshmux__rchan_t *rc);
/* Hold mode: a routed session channel whose upstream is still opening,
 * accepted early so that a prompt can be asked on its pty; its requests
 * are kept (no menu) and replayed once the upstream opens, keys typed
 * meanwhile too, and an EOF after them.  0 or SSHMUX_ENOMEM. */
int sshmux__relay_menu_hold(sshmux__rchan_t *rc);
/* In hold mode: 1 once the start request came (its pty is known), and
 * whether it has a pty. */
int sshmux__relay_menu_started(const sshmux__rchan_t *rc);
int sshmux__relay_menu_has_pty(const sshmux__rchan_t *rc);
/* The client sent EOF before the upstream opened: 1 if kept for later (hold
 * mode, or a route picked and opening), 0 if the channel should end. */
int sshmux__relay_menu_eof(sshmux__rchan_t *rc);
/* A request (pty-req, env, shell, exec, subsystem, window-change) seen
 * before a route was picked: remembered, replayed upstream later.  Returns
 * -1; SSHMUX__MENU_READY when a held session's start request came (the
 * caller then tells prompt.c: sshmux__relay_prompt_ready); or the exit
 * status to end the channel with (after the reply). */
#define SSHMUX__MENU_READY (-2)
int sshmux__relay_menu_request(sshmux__rchan_t *rc,
                               const sshmux_server_request_info_t *info);
/* Keystrokes from the client while the menu is shown or the session is
 * held (the caller gives a prompt shown on rc its answer's bytes first). */
void sshmux__relay_menu_input(sshmux__rchan_t *rc, const char *buf, size_t len);
/* The upstream channel for the picked route is open: replay. */
void sshmux__relay_menu_connected(sshmux__rchan_t *rc);
void sshmux__relay_menu_free(sshmux__rchan_t *rc);

/* ---- prompt.c ---- */

/* A held channel's start request came: it may now be asked on. */
void sshmux__relay_prompt_ready(sshmux__rchan_t *rc);
/* rc stops waiting for its login (upstream open, channel ending): the
 * prompt shown on it moves to another waiting session or goes back to the
 * embedder; unplaced prompts are looked at again. */
void sshmux__relay_prompt_detach(sshmux__rchan_t *rc);
/* Keys from a client while a prompt is shown on it: consumes what belongs
 * to the answer and returns how many bytes it took (the rest is type-ahead
 * for the session). */
size_t sshmux__relay_prompt_input(sshmux__rchan_t *rc, const char *buf,
                                  size_t len);
/* The relay closes: every prompt held is cancelled. */
void sshmux__relay_prompt_close_all(sshmux_relay_t *r);

#endif
