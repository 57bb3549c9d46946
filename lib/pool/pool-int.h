/* pool/pool-int.h -- private to the pool module (lib/pool/): the shapes its
 * files share.  Other modules use the pool only through the public
 * sshmux/pool.h and sshmux/prompt.h; nothing outside lib/pool/ includes this
 * (scripts/check-layers.sh; tests/test-pool-*.c may, white-box).
 *
 * The files, bottom layer first; each calls only files listed before it
 * (the layers below), never one listed after it:
 *   loop.c    the scheduler: the tick running deferred calls and service
 *             passes, worker -> loop events, the clock, libssh2 error text
 *   prompt.c  the prompt object crossing between worker and loop
 *   agent.c   an ssh-agent client for the login worker (same layer as
 *             prompt.c: neither calls the other)
 *   auth.c    handshake, host key and login, in a worker thread
 *   chan.c    the channel object the embedder holds (+ closed "zombies")
 *   conn.c    one upstream connection: connect, the libssh2 I/O layer, the
 *             service pass, keepalive and the jump tunnel pump
 *   pool.c    the public object: keyed lookup, placement of channel
 *             requests, the reaper, stats, close
 * Where a lower layer must reach a higher one (the tick runs a
 * connection's service pass, a worker's end or a prompt event reaches the
 * loop, a connection needs its jump placed, the pool's last handle closes)
 * it calls through the pool's ops table, which pool.c installs: no file
 * names a function of a file above it.
 *
 * Threading invariant: everything here is touched only by the loop thread,
 * EXCEPT (a) a connection's libssh2 session, fd, target fields and auth
 * result while conn->worker_running (then only the worker touches the
 * session and fd, and the target fields are read-only), (b) pool->events
 * and conn->cur_prompt, which are under pool->mu, and (c) a prompt's state,
 * guarded by its own mutex. */
#ifndef SSHMUX_POOL_INT_H
#define SSHMUX_POOL_INT_H

#include <libssh2.h>
#include <uv.h>

#include "core/core.h"
#include "sshmux/pool.h"

/* ---- deferred calls: how "never from inside the call" is kept ---- */
typedef struct sshmux__deferred {
  sshmux__link_t link;
  void (*fn)(struct sshmux__deferred *d);
} sshmux__deferred_t;

/* ---- worker -> loop events (pool->events, under pool->mu) ---- */
typedef enum {
  SSHMUX__EV_PROMPT = 1,   /* ptr: a prompt to hand to the embedder */
  SSHMUX__EV_WITHDRAW = 2, /* ptr: a prompt the worker stopped waiting on */
  SSHMUX__EV_DONE = 3      /* ptr: a connection whose worker finished */
} sshmux__ev_kind_t;
typedef struct {
  sshmux__link_t link;
  sshmux__ev_kind_t kind;
  void *ptr;
} sshmux__event_t;

/* ---- calls up the stack (installed by pool.c, see the header) ---- */
typedef struct sshmux__upconn sshmux__upconn_t;
typedef struct {
  void (*service)(sshmux__upconn_t *c);     /* conn.c: one service pass */
  void (*worker_done)(sshmux__upconn_t *c); /* conn.c: the login ended */
  void (*event)(sshmux_pool_t *p, sshmux__event_t *ev); /* prompt.c */
  void (*finish)(sshmux_pool_t *p); /* pool.c: close handles, then free */
  /* pool.c: the connection for target t (see sshmux__pool_place) */
  sshmux__upconn_t *(*place)(sshmux_pool_t *p, const sshmux_target_t *t,
                             const sshmux__upconn_t *from, int session,
                             const sshmux__upconn_t *exclude, int *err);
} sshmux__pool_ops_t;

/* ---- sizes ---- */
#define SSHMUX__IN_MAX (256u * 1024u)         /* socket bytes not yet parsed */
#define SSHMUX__OUT_HWM (1024u * 1024u)       /* stop channel writes above */
#define SSHMUX__OUT_MAX (32u * 1024u * 1024u) /* hard cap of the send queue */
#define SSHMUX__CHAN_WQ_MAX (64u * 1024u * 1024u)
#define SSHMUX__CHAN_HWM_DEFAULT (1024u * 1024u)
#define SSHMUX__CHAN_WINDOW_DEFAULT (2u * 1024u * 1024u)
/* A default-window channel's receive window grows up to this on a path
 * whose bandwidth-delay product needs it (chan.c, tune_window). */
#define SSHMUX__CHAN_WINDOW_MAX (16u * 1024u * 1024u)
/* What an auto-tuned channel tells libssh2 at open.  libssh2 re-opens a
 * channel's window by itself whenever the credit left falls below 3/4 of
 * this (plus a read buffer), however much it already buffers: kept small,
 * its own grants stay small, and tune_window grants the rest. */
#define SSHMUX__CHAN_WINDOW_OPEN (64u * 1024u)
/* A jump tunnel's starting allowance (it grows like a channel's). */
#define SSHMUX__TUNNEL_WINDOW (4u * 1024u * 1024u)
#define SSHMUX__CHAN_PACKET 32768u
#define SSHMUX__PASS_BUDGET (128u * 1024u) /* bytes per channel per pass */
#define SSHMUX__ERRLEN 256

typedef enum {
  SSHMUX__UC_CONNECTING = 0, /* DNS / TCP / tunnel open */
  SSHMUX__UC_AUTH,           /* worker owns the session */
  SSHMUX__UC_ACTIVE,
  SSHMUX__UC_DRAINING,
  SSHMUX__UC_DEAD
} sshmux__uc_state_t;

/* One upstream connection. */
struct sshmux__upconn {
  /* First: the session's abstract is this connection, and the allocator
   * finds the arena there (core.h); freed after the session. */
  sshmux__ssh2_arena_t arena;
  sshmux__link_t link; /* pool->conns while the pool knows it */
  sshmux_pool_t *pool;
  char *key;   /* "user@host:port" + " via " + jump key */
  char *label; /* what prompts and errors show: same as key */
  char *chain; /* jump chain for stats, first hop first ("" if direct) */

  /* The target, copied (read-only while the worker runs). */
  char *user, *host;
  int port;
  char **identities;    /* NULL-terminated */
  char *identity_agent; /* NULL = $SSH_AUTH_SOCK, "none", or a socket path */
  char *password;       /* secret, may be NULL */
  int idle_timeout_s, max_lifetime_s, accept_new;
  unsigned keepalive_ms; /* probe interval; 0 = no probes */

  sshmux__uc_state_t state;
  int overflow;            /* opened because another refused sessions */
  sshmux__upconn_t *jump;  /* the connection we ride on (dependents++) */
  sshmux_upchan_t *tunnel; /* our direct-tcpip channel on jump */
  uv_pipe_t pump;          /* loop end of the socketpair, pumped <-> tunnel */
  int pump_open;
  int pump_paused;      /* pump reads stopped because the tunnel is full */
  unsigned pump_writes; /* uv_writes to the pump not yet completed */
  /* After the login the socketpair is drained and the inner session talks
   * to the tunnel through memory (libssh2-1.10.md §6.4): ring_rx once
   * tunnel data goes straight into `in`, ring_tx once `out` goes straight
   * into the tunnel; ring_pending between hand-off and both. */
  int ring_pending, ring_rx, ring_tx;
  int rx_paused; /* we stopped the tunnel's reads: `in` is full */
  int pump_full; /* we stopped the tunnel's reads: the pump is full */

  int fd;  /* TCP socket or our socketpair end; -1 */
  int tcp; /* fd is our TCP socket (a first hop): quick-ACK it */
  /* Reads that returned data from the TCP socket, and the TCP_QUICKACK
   * re-arms that followed them (worker and loop; tests compare them). */
  uint64_t rx_reads, quickacks;
  int ssh_fd; /* the number libssh2 was given (its callbacks see it) */
  uv_poll_t poll;
  int poll_init;
  int poll_events;
  uv_getaddrinfo_t gai;
  int gai_pending;
  struct addrinfo *ai_list, *ai_next;
  uv_timer_t timer;      /* connect timeout, then keepalive */
  uv_timer_t hold_timer; /* MaxSessions retry delay */
  int handles_open;      /* handles whose close callbacks are pending */

  LIBSSH2_SESSION *s;
  sshmux__buf_t in, out; /* socket bytes in, not yet parsed / to send */
  int in_eof;
  int io_error;      /* errno of a failed socket write, 0 */
  int out_nomem;     /* the send queue could not grow: a write failed */
  uint64_t consumed; /* bytes libssh2 took from `in`, ever */
  /* The shortest channel-open round trip seen on this connection (ns; 0:
   * none yet): the path's RTT as far as window tuning needs it. */
  uint64_t rtt_ns;

  sshmux__link_t chans;   /* upchans with a libssh2 channel */
  sshmux__link_t zombies; /* closed by their owner, not yet by the server */
  unsigned zombie_sessions;
  sshmux__link_t open_q; /* upchans waiting to be opened */
  sshmux_upchan_t *opening;
  /* The channel whose requests are in flight: one per connection, because
   * libssh2 1.10's reply matching (_libssh2_packet_requirev) fails the
   * waiting request when a reply for ANOTHER channel arrives first. */
  sshmux_upchan_t *req_owner;
  /* While req_owner is open with two or more requests in flight, io_recv
   * gives libssh2 bytes only inside the oldest one's wait (head_reading),
   * so no two of their replies are ever parsed and waiting together (see
   * pool/chan.c, service_reqs).  Once it is no longer open nobody waits on
   * them, and reads flow again. */
  int head_reading;
  unsigned nchans, nsessions, learned_limit, dependents;
  uint64_t hold_until; /* no opens before (loop ms) */
  int probe_inflight;
  uint64_t rx_mark;    /* bytes_in at the last keepalive tick */
  uint64_t last_rx_ms; /* when bytes_in last moved (loop ms) */

  uint64_t created_ms, idle_since_ms;
  uint64_t bytes_in, bytes_out;
  uint64_t w_bytes_in, w_bytes_out; /* the worker's, added at hand-off */

  int err;
  char errmsg[SSHMUX__ERRLEN];
  char auth_methods[128];

  /* The worker. */
  uv_thread_t thread;
  int worker_running;
  int abort;                          /* under pool->mu */
  struct sshmux_prompt_s *cur_prompt; /* under pool->mu */
  sshmux__event_t done_ev;            /* posted when the worker finishes */
  int worker_rc;                      /* worker's result, read after done */
  int handshake_done; /* worker: keys exchanged, a DISCONNECT can be sent */
  int ssh2_broken;    /* libssh2 aborted on this session's input (loop.c):
                         only a guarded free may touch c->s now */
  int ssh2_freeing;   /* libssh2_session_free() runs: its I/O fails (conn.c) */
  char worker_err[SSHMUX__ERRLEN]; /* worker's error text */
  int kbd_rc;                      /* a prompt failure inside kbd-int */
  unsigned kbd_rounds;             /* kbd-int rounds of this attempt */
  char *info; /* pending info-only kbd-int text (worker only) */
  /* Why a key was skipped (passphrase not given, unreadable file), added
   * to the final error (worker only). */
  char auth_note[SSHMUX__ERRLEN];
  /* The first prompt failure (cancelled, timed out, no handler) that made
   * a key be skipped: the login's status if nothing else gets in, as it
   * says more than "authentication failed" (worker only). */
  int skip_rc;

  int dirty; /* in pool->dirty */
  sshmux__link_t dirty_link;
  int freeing;
};

typedef enum {
  SSHMUX__CH_QUEUED = 0, /* waiting in a connection's open_q (or placing) */
  SSHMUX__CH_OPENING,    /* the connection's single open in flight */
  SSHMUX__CH_OPEN,
  SSHMUX__CH_DONE /* failed or finished upstream; waits for close */
} sshmux__ch_state_t;

typedef enum {
  SSHMUX__REQ_PTY = 1,
  SSHMUX__REQ_ENV,
  SSHMUX__REQ_SHELL,
  SSHMUX__REQ_EXEC,
  SSHMUX__REQ_SUBSYSTEM,
  SSHMUX__REQ_WINCH
} sshmux__req_type_t;

typedef struct sshmux__req {
  sshmux__link_t link; /* ch->reqs or ch->inflight */
  sshmux_upchan_t *ch;
  sshmux__req_type_t type;
  char *a, *b; /* term/name/command/subsystem, value */
  uint8_t *modes;
  size_t modes_len;
  unsigned w, h, wpx, hpx;
  int status;
  sshmux_upchan_req_cb cb;
  void *data;
} sshmux__req_t;

struct sshmux_upchan_s {
  sshmux__link_t link; /* conn->open_q or conn->chans */
  sshmux_pool_t *pool;
  sshmux__upconn_t *conn; /* NULL once failed */
  LIBSSH2_CHANNEL *lch;
  sshmux__ch_state_t state;
  sshmux_upchan_type_t type;
  int internal; /* a tunnel or probe: not counted as the embedder's */
  int probe;
  uint8_t *payload; /* channel-open extra data */
  size_t payload_len;
  uint32_t window; /* the window given to libssh2 at open */
  /* Receive window auto-tuning (default-window channels only): the
   * credit + buffered bytes we allow (2 MiB, a tunnel's 4 MiB, growing up
   * to SSHMUX__CHAN_WINDOW_MAX; for other channels `window`), and the
   * current measuring period: its start, bytes read so far and libssh2's
   * buffered bytes at its start. */
  int autotune;
  uint32_t tuned;
  uint64_t period_t0, period_read, period_avail0;
  uint64_t open_t0;         /* when the open was first tried: an RTT sample */
  char *target_key;         /* key of the target, for placement */
  sshmux__upconn_t *origin; /* the conn whose target we copy on overflow */

  sshmux_upchan_callbacks_t cbs;
  void *data;
  sshmux_upchan_open_cb open_cb;
  sshmux_upchan_close_cb close_cb;
  int open_status;
  int open_delivered;

  sshmux__link_t reqs;     /* queued, not yet given to libssh2 */
  sshmux__link_t inflight; /* sent, awaiting their replies, oldest first */
  unsigned ninflight;

  sshmux__buf_t wq;
  size_t hwm;
  int above_hwm;
  int eof_queued, eof_sent;

  int paused;
  int eof_delivered;
  int closed_pending; /* on_closed queued */
  int closed_delivered;
  int closed_status;
  int exit_status;
  char *exit_signal;
  int retried;
  int close_requested;
  int finishing; /* d_close queued */

  sshmux__deferred_t d_open;   /* open_cb(failure) */
  sshmux__deferred_t d_closed; /* on_closed */
  sshmux__deferred_t d_close;  /* close_cb and free */
  char errmsg[SSHMUX__ERRLEN];
};

struct sshmux_pool_s {
  uv_loop_t *loop;
  const sshmux__pool_ops_t *ops; /* calls up the stack (pool.c's table) */
  void *data;
  char **known_hosts; /* NULL-terminated */
  size_t n_known_hosts;
  char *known_hosts_write;
  sshmux_pool_options_t o;

  sshmux_prompt_cb prompt_cb, withdrawn_cb;
  void *prompt_data;

  uv_mutex_t mu;
  sshmux__link_t events; /* worker -> loop, under mu */
  uv_async_t async;
  uv_idle_t tick;
  uv_timer_t reaper;
  int tick_active;
  sshmux__link_t deferred;
  sshmux__link_t dirty;

  sshmux__link_t conns;
  /* Private keys decrypted with a passphrase the person typed, kept for
   * the pool's life so it is asked once (auth.c; under mu; wiped when the
   * pool is freed). */
  sshmux__link_t keycache;
  unsigned nconns_alive;   /* conns not yet freed (in the list or dying) */
  unsigned nchans;         /* embedder channels not yet freed */
  uint64_t reqs_pipelined; /* requests sent behind another one (tests) */
  unsigned nworkers;
  unsigned handles_open;
  int locked;
  int closing;
  sshmux_pool_close_cb close_cb;
  void *close_data;
  char readbuf[32768]; /* channel reads in the service pass */
  char pumpbuf[65536]; /* jump tunnel pump reads */

  sshmux_pool_stats_t stats;
};

/* loop.c (bottom) */
uint64_t sshmux__pool_now(sshmux_pool_t *p);
void sshmux__pool_defer(sshmux_pool_t *p, sshmux__deferred_t *d,
                        void (*fn)(sshmux__deferred_t *d));
void sshmux__pool_kick(sshmux_pool_t *p);
void sshmux__pool_post(sshmux_pool_t *p, sshmux__event_t *ev); /* any thread */
/* Mark c for a service pass in the next tick. */
void sshmux__upconn_schedule(sshmux__upconn_t *c);
/* The uv_async callback that brings posted events to the loop. */
void sshmux__pool_on_async(uv_async_t *h);
/* Finish a closing pool once nothing keeps it alive (ops->finish). */
void sshmux__pool_maybe_finish_close(sshmux_pool_t *p);
/* libssh2's last error text, sanitised (it may quote the peer), in buf. */
const char *sshmux__ssh2_error(LIBSSH2_SESSION *s, char *buf, size_t n);

/* libssh2 1.10 (as Debian builds it) assert()s on malformed input from the
 * server -- a packet length that is not a multiple of the cipher block, as
 * follows any packet over its 40000-byte limit or a bit flipped on the way
 * -- and assert() aborts the whole process: every session of the daemon
 * for one server's bytes.  sshmux__ssh2_guarded() runs fn(arg) so that such
 * an abort on this thread, while fn runs, returns SSHMUX__SSH2_TRIPPED
 * instead (a SIGABRT handler, installed once and chained to whatever was
 * there, jumps back).  The session it happened in is then broken: the
 * caller must call nothing of libssh2 on it but a guarded
 * libssh2_session_free() with reads and writes failing (ssh2_broken).
 * Code that runs the embedder's callbacks from inside a guarded pass wraps
 * them in sshmux__ssh2_unguard()/sshmux__ssh2_reguard(), so an abort of the
 * embedder's own is never mistaken for libssh2's.  On Windows the guard
 * only runs fn. */
#define SSHMUX__SSH2_TRIPPED (-0x7fff)
int sshmux__ssh2_guarded(int (*fn)(void *arg), void *arg);
void *sshmux__ssh2_unguard(void);
void sshmux__ssh2_reguard(void *saved);
/* Run stmt (an embedder callback) outside the guard. */
#define SSHMUX__EMBEDDER_CALL(stmt)                                            \
  do {                                                                         \
    void *guard_saved_ = sshmux__ssh2_unguard();                               \
    stmt;                                                                      \
    sshmux__ssh2_reguard(guard_saved_);                                        \
  } while (0)

/* pool.c (top) */
/* Find or create the connection serving target key for a channel of the
 * given kind (sessions honour learned MaxSessions limits).  exclude is a
 * connection not to use.  NULL on failure (*err set).  Lower layers reach
 * it as p->ops->place. */
sshmux__upconn_t *sshmux__pool_place(sshmux_pool_t *p, const sshmux_target_t *t,
                                     const sshmux__upconn_t *from, int session,
                                     const sshmux__upconn_t *exclude, int *err);

/* conn.c */
sshmux__upconn_t *sshmux__upconn_new(sshmux_pool_t *p, const sshmux_target_t *t,
                                     const sshmux__upconn_t *from,
                                     const char *key, int *err);
void sshmux__upconn_start(sshmux__upconn_t *c);
void sshmux__upconn_schedule(sshmux__upconn_t *c);
void sshmux__upconn_service(sshmux__upconn_t *c);
void sshmux__upconn_fail(sshmux__upconn_t *c, int err, const char *fmt, ...)
    SSHMUX__PRINTF(3, 4);
/* Orderly close (idle, lifetime, pool closing). */
void sshmux__upconn_shutdown(sshmux__upconn_t *c, int err, const char *why);
void sshmux__upconn_worker_done(sshmux__upconn_t *c);
void sshmux__upconn_enqueue(sshmux__upconn_t *c, sshmux_upchan_t *ch);
void sshmux__upconn_probe(sshmux__upconn_t *c);
/* Acknowledge at once what was just read from c's TCP socket (no-op for a
 * socketpair or the in-memory tunnel). */
void sshmux__upconn_quickack(sshmux__upconn_t *c);
/* loop.c: after libssh2_session_free, free the blocks libssh2 lost. */
void sshmux__upconn_arena_done(sshmux__upconn_t *c);
int sshmux__upconn_usable(const sshmux__upconn_t *c);
char *sshmux__target_key(const sshmux_target_t *t);

/* chan.c */
sshmux_upchan_t *sshmux__upchan_new(sshmux_pool_t *p,
                                    const sshmux_upchan_spec_t *spec,
                                    const sshmux_upchan_callbacks_t *cbs,
                                    void *data, sshmux_upchan_open_cb open_cb,
                                    int *err);
void sshmux__upchan_free(sshmux_upchan_t *ch);
/* Deliver open failure (deferred; the channel is freed afterwards). */
void sshmux__upchan_fail_open(sshmux_upchan_t *ch, int err, const char *msg);
/* The connection is gone or the channel finished upstream with an error:
 * detach from libssh2 and queue on_closed(err). */
void sshmux__upchan_fail(sshmux_upchan_t *ch, int err, const char *msg);
/* The open completed. */
void sshmux__upchan_opened(sshmux_upchan_t *ch, LIBSSH2_CHANNEL *lch);
/* One service step; returns 1 on progress, or a negative libssh2 error
 * that is fatal for the connection. */
int sshmux__upchan_service(sshmux_upchan_t *ch);
/* Channels whose owner closed them while the server had not answered the
 * CLOSE yet (OpenSSH answers when the command exits) wait on c->zombies:
 * reap frees those whose CLOSE arrived (1 if any), drop forgets them all
 * (the session is being freed with them). */
int sshmux__zombies_reap(sshmux__upconn_t *c);
void sshmux__zombies_drop(sshmux__upconn_t *c);
/* pty modes trimmed to fit libssh2's 256-byte limit with term. */
size_t sshmux__pty_modes_trim(const uint8_t *in, size_t n, size_t term_len,
                              uint8_t *out);

/* auth.c: the worker thread's entry point. */
void sshmux__upauth_main(void *arg);
/* auth.c: wipe and free the decrypted-key cache (pool freeing; no worker
 * runs any more). */
void sshmux__keycache_clear(sshmux_pool_t *p);

/* agent.c: an ssh-agent client for the login worker.  Every call is
 * bounded by its timeout and returns SSHMUX_ECLOSED soon after
 * cancelled(cdata) becomes true. */
typedef struct sshmux__agent sshmux__agent_t;
typedef struct {
  uint8_t *blob; /* public key blob */
  size_t blob_len;
  char *comment;
} sshmux__agent_key_t;
/* Connect to the agent at path and list its keys.  Errors: UV_ENOENT /
 * UV_ECONNREFUSED / UV_EACCES (no agent there), SSHMUX_ETIMEOUT,
 * SSHMUX_EDISCONNECTED, SSHMUX_EPROTO (not an agent). */
int sshmux__agent_open(sshmux__agent_t **a, const char *path,
                       int (*cancelled)(void *), void *cdata,
                       unsigned timeout_ms);
size_t sshmux__agent_count(const sshmux__agent_t *a);
const sshmux__agent_key_t *sshmux__agent_key(const sshmux__agent_t *a,
                                             size_t i);
/* Have the agent sign data with the key blob for signature algorithm alg
 * (rsa-sha2-512/256 set the agent's SHA-2 flags); appends the raw
 * signature (inside the signature blob) to sig.  SSHMUX_EAUTH when the
 * agent refuses (e.g. an ssh-add -c confirmation was denied). */
int sshmux__agent_sign(sshmux__agent_t *a, const uint8_t *blob, size_t bn,
                       const uint8_t *data, size_t n, const char *alg,
                       unsigned timeout_ms, sshmux__buf_t *sig);
void sshmux__agent_close(sshmux__agent_t *a);

/* prompt.c */
typedef struct sshmux_prompt_s sshmux__prompt_t;
/* Worker side: ask and wait.  Returns 0 with *answers (n strings, freed by
 * sshmux__prompt_answers_free) or a negative error.  */
typedef struct {
  sshmux_prompt_kind_t kind;
  const char *name, *instruction; /* already sanitised */
  size_t n;
  const char *const *texts; /* already sanitised */
  const int *echo;
  const char *hk_type, *hk_fp;
} sshmux__prompt_req_t;
int sshmux__prompt_ask(sshmux__upconn_t *c, const sshmux__prompt_req_t *req,
                       char ***answers);
void sshmux__prompt_answers_free(char **answers, size_t n);
/* Loop side: deliver / withdraw queued events. */
void sshmux__prompt_event(sshmux_pool_t *p, sshmux__event_t *ev);
/* Pool closing: drop an event that was never processed. */
void sshmux__prompt_event_drop(sshmux__event_t *ev);
/* Abort a worker's pending prompt (under pool->mu held by caller). */
void sshmux__prompt_abort_locked(sshmux__prompt_t *pr);

#endif
