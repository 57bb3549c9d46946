/* sshmux/relay.h -- the relay: what joins the local SSH server (server.h)
 * and the upstream pool (pool.h) into one multiplexer.
 *
 * A standard client connects to the relay's server on 127.0.0.1 and logs in
 * with a user name that names a route (routes.h).  Every channel it opens
 * is relayed onto a channel the pool opens on a shared, authenticated
 * upstream connection for that route:
 *
 *  - session channels: pty-req (terminal modes trimmed to libssh2's limit),
 *    env (the route's allowlist, others refused), shell, exec, subsystem
 *    (sftp is raw bytes to us), window-change; stdout and stderr kept apart;
 *    exit-status and exit-signal passed back; EOF and CLOSE in order both
 *    ways, so half-close works;
 *  - direct-tcpip and direct-streamlocal@openssh.com, checked against the
 *    route's forward_allow (default: the upstream's own loopback);
 *  - refused with a message, never left hanging: agent and X11 forwarding,
 *    remote forwarding (tcpip-forward), signals (libssh2 1.10 cannot send
 *    them), break.
 *
 * Flow control runs end to end: when one side's write queue passes its
 * high-water mark the relay stops reading the other side, whose peer then
 * runs out of window.  Memory per channel is bounded by the two windows and
 * the two queues' high-water marks, whatever either peer does.
 *
 * A user name that is no route gets, on a session with a pty, a menu of the
 * routes to choose from; without a pty, a message on stderr and exit status
 * 255; a forwarding channel is refused at open with a message naming the
 * problem.  See docs/relay.md for the state machine.
 *
 * Threading and callbacks follow pool.h and server.h (the same contract):
 * loop thread only; a function that returns an error never calls its
 * callback; session_cb once per relayed channel and the tap's CLOSE once
 * per OPEN, also when the relay closes; nothing is called after its
 * close_cb, which comes after the last CLOSE. */
#ifndef SSHMUX_RELAY_H
#define SSHMUX_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common.h"
#include "pool.h"
#include "routes.h"
#include "server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sshmux_relay_s sshmux_relay_t;

/* What a relayed channel's tap (sshmux_relay_options_t.tap_cb) is told. */
typedef enum {
  SSHMUX_RELAY_TAP_OPEN = 1,   /* relayed from now on; route, user set */
  SSHMUX_RELAY_TAP_INPUT = 2,  /* bytes from the client, passed upstream */
  SSHMUX_RELAY_TAP_OUTPUT = 3, /* bytes from upstream, passed to the client */
  SSHMUX_RELAY_TAP_CLOSE = 4   /* the channel is over: the last event */
} sshmux_relay_tap_event_t;

typedef struct {
  sshmux_relay_tap_event_t event;
  uint64_t id; /* the relayed channel: unique within its relay */
  sshmux_server_channel_type_t type;
  const char *route; /* the route's name (every event) */
  const char *user;  /* the client's user name (OPEN only, else NULL) */
  int stream;        /* OUTPUT: SSHMUX_STREAM_STDOUT or _STDERR */
  const char *buf;   /* INPUT/OUTPUT: the bytes, valid during the call */
  size_t len;
} sshmux_relay_tap_t;

typedef struct {
  /* The routes (borrowed: must outlive the relay).  Required. */
  const sshmux_routes_t *routes;
  /* Direct mode: every local user name goes to this route of `routes`
   * (NULL: routed mode, the user name picks the route). */
  const sshmux_route_t *fixed_route;
  /* Override every route's idle timeout / lifetime (seconds; < 0 keeps
   * the route's own, 0 means never / unlimited). */
  int idle_timeout_s;
  int max_lifetime_s;
  /* Upstream channel receive window and both directions' write-queue
   * high-water marks (0: auto-tuned from 2 MiB up to 16 MiB, 1 MiB,
   * 1 MiB). */
  uint32_t up_window;
  size_t up_hwm;
  size_t down_hwm;
  /* Passed to the server: who may log in (see server.h).  NULL: the
   * server's authorized_keys file decides. */
  sshmux_server_auth_cb auth;
  void *auth_data;
  /* Called on the loop thread each time a client's channel has been
   * relayed (its upstream channel is open and the client's open has been
   * confirmed): type, the route's name and the local user name, valid only
   * during the call.  For notifications and audit logs; NULL: none. */
  void (*session_cb)(sshmux_relay_t *relay, sshmux_server_channel_type_t type,
                     const char *route, const char *user, void *data);
  void *session_data;
  /* Called on the loop thread for every relayed channel (sessions and
   * forwardings): OPEN once it is relayed (when session_cb runs), then
   * every chunk of bytes each way as it is passed on, then CLOSE exactly
   * once -- also when the relay closes.  For session recordings
   * (typescripts) and audit logs; the tap sees the bytes, it cannot change
   * them.  It must not call relay functions (it runs inside the relay's
   * data path).  NULL: none. */
  void (*tap_cb)(sshmux_relay_t *relay, const sshmux_relay_tap_t *ev,
                 void *data);
  void *tap_data;
} sshmux_relay_options_t;

/* Fill *o with the defaults above (routes NULL). */
SSHMUX_EXTERN void sshmux_relay_options_init(sshmux_relay_options_t *o);

/* Create a relay on loop with its own server (not yet listening) feeding
 * channels to pool (borrowed: close the relay before the pool).  opts is
 * copied (its pointers are borrowed).  Configure the server (host keys,
 * authorized keys, listen) through sshmux_relay_server(). */
SSHMUX_EXTERN int sshmux_relay_new(uv_loop_t *loop, sshmux_pool_t *pool,
                                   const sshmux_relay_options_t *opts,
                                   sshmux_relay_t **out);

/* The relay's server.  Do not set its data or close it directly. */
SSHMUX_EXTERN sshmux_server_t *sshmux_relay_server(sshmux_relay_t *relay);

/* Relayed channels now alive (including those still opening). */
SSHMUX_EXTERN size_t sshmux_relay_channel_count(const sshmux_relay_t *relay);

typedef void (*sshmux_relay_close_cb)(sshmux_relay_t *relay, void *data);
/* Close the server (every client is disconnected), close every upstream
 * channel, and when all are gone call close_cb (may be NULL) and free the
 * relay.  The pool is left open.  Idempotent. */
SSHMUX_EXTERN void sshmux_relay_close(sshmux_relay_t *relay,
                                      sshmux_relay_close_cb close_cb,
                                      void *data);

/* ---- prompts in the client's own terminal ---- */

/* The prompt is the caller's again: no session waiting for its login has a
 * terminal (or those that had went away before an answer). */
typedef void (*sshmux_relay_declined_cb)(sshmux_relay_t *relay,
                                         sshmux_prompt_t *prompt, void *data);

/* Offer prompt (one the embedder got from the pool's prompt handler) to
 * the client sessions of this relay that wait for the login asking it.
 * SSHMUX_ENOTFOUND (at once): none waits, or none can ever show it; the
 * prompt is still the caller's.  0: the relay holds the prompt.  It then
 * accepts the waiting session channels early (their requests are kept and
 * replayed once the upstream opens; a login that fails then ends them with
 * a message and exit status 255 instead of a refused open) and asks in the
 * terminal of the first that has a pty: a banner naming the target, the
 * server's text (sanitised), the answer read hidden unless the server
 * allows echo; ^C cancels the prompt and ends that session.  The relay
 * answers or cancels the prompt itself; only one terminal asks it.  When
 * none of the waiting sessions turns out to have a pty, declined(relay,
 * prompt, data) runs (later, never from inside this call; NULL: the prompt
 * is cancelled instead) and the prompt is the caller's again.
 * SSHMUX_EINVAL for NULL arguments, SSHMUX_ENOMEM. */
SSHMUX_EXTERN int sshmux_relay_ask(sshmux_relay_t *relay,
                                   sshmux_prompt_t *prompt,
                                   sshmux_relay_declined_cb declined,
                                   void *data);
/* The pool withdrew prompt (its withdrawn callback): when the relay holds
 * it, it stops asking, releases it (sshmux_prompt_cancel) and returns 1;
 * else 0 and nothing happens. */
SSHMUX_EXTERN int sshmux_relay_withdraw(sshmux_relay_t *relay,
                                        sshmux_prompt_t *prompt);

SSHMUX_EXTERN void sshmux_relay_set_data(sshmux_relay_t *relay, void *data);
SSHMUX_EXTERN void *sshmux_relay_get_data(const sshmux_relay_t *relay);

/* The pool targets for a route (or a jump) and every jump before it, the
 * way the relay builds them, so that every program that opens pooled
 * channels for routes -- the relay, sshmuxd's connect streams, an
 * embedder's own tool -- shares the same pooled connections.  t[0] is the
 * first hop, t[n - 1] the route itself, each .jump pointing at the hop
 * before; user, host, port, identity (as identity_files), identity_agent,
 * idle timeout, lifetime, accept-new-hostkey and keepalive come from the
 * route's own keys (with [defaults] applied by the loader).  Holds
 * pointers into the routes object, which must outlive it; the caller owns
 * the struct (on its stack is fine) and may adjust the targets after. */
typedef struct {
  sshmux_target_t t[SSHMUX_ROUTES_MAX_CHAIN];
  size_t n;
  const char
      *ids_[SSHMUX_ROUTES_MAX_CHAIN][2]; /* storage for t[].identity_files */
} sshmux_route_targets_t;
/* Fill *out for route; returns the route's own target (&out->t[n - 1]), or
 * NULL (out->n == 0) for a NULL argument or a chain longer than
 * SSHMUX_ROUTES_MAX_CHAIN (never for a validated routes object). */
SSHMUX_EXTERN const sshmux_target_t *
sshmux_relay_route_targets(sshmux_route_targets_t *out,
                           const sshmux_route_t *route);

#ifdef __cplusplus
}
#endif
#endif
