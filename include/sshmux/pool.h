/* sshmux/pool.h -- the upstream pool: authenticated SSH connections, kept
 * on the caller's libuv loop and shared by many channels, so that a person
 * types an OTP once and every later session reuses the login.
 *
 * Ask the pool for a channel (a shell/exec "session", a direct-tcpip
 * connection or a direct-streamlocal socket) to a target; the pool reuses a
 * live connection for the same user@host:port and jump chain, or connects
 * and authenticates one, queueing concurrent requests behind that one
 * attempt.  What it hands back is an sshmux_upchan_t: an upstream channel
 * with asynchronous requests (pty, env, exec, ...), flow-controlled writes,
 * pausable reads of stdout and stderr, EOF both ways, and the exit status.
 *
 * Threading: every function here is called on the loop thread, and every
 * callback runs there.  Logins run in worker threads (libssh2's
 * keyboard-interactive API is synchronous); see docs/pool.md.
 *
 * The callback contract (the same in every header; docs/ABI.md):
 *  1. a function that returns an error never calls its callback;
 *  2. an operation that was started (returned 0) completes exactly once,
 *     later, never from inside the call: open_cb once per channel, a
 *     request's cb once per request, on_closed at most once -- also when
 *     the object is closed first (then with SSHMUX_ECLOSED);
 *  3. every object may be closed from inside any of its callbacks; its
 *     memory is freed only after its close callback has returned;
 *  4. nothing about an object is called after its close callback (the
 *     pool's close_cb is the last call of all).
 * tests/test-contract.c checks each point for the pool and its channels. */
#ifndef SSHMUX_POOL_H
#define SSHMUX_POOL_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common.h"
#include "prompt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sshmux_pool_s sshmux_pool_t;
typedef struct sshmux_upchan_s sshmux_upchan_t;

/* ---- the pool ---- */

typedef struct {
  /* known_hosts files checked in order (NULL-terminated; NULL = the user's
   * ~/.ssh/known_hosts).  Accepted keys are appended to known_hosts_write
   * (NULL = the first file of the list). */
  const char *const *known_hosts;
  const char *known_hosts_write;
  int use_agent;               /* try SSH_AUTH_SOCK first (default 1) */
  unsigned keepalive_ms;       /* liveness probe interval (15000; 0 = off) */
  unsigned keepalive_count;    /* missed probes before dead (3) */
  unsigned idle_timeout_s;     /* default per target (600; 0 = never) */
  unsigned max_lifetime_s;     /* default per target (43200; 0 = none) */
  unsigned reap_interval_ms;   /* expiry check period (2000) */
  unsigned connect_timeout_ms; /* DNS+TCP+handshake (20000) */
  unsigned prompt_timeout_ms;  /* a person's time to answer (90000) */
  unsigned session_retry_ms;   /* MaxSessions retry delay (300) */
} sshmux_pool_options_t;

/* Fill *o with the defaults above. */
SSHMUX_EXTERN void sshmux_pool_options_init(sshmux_pool_options_t *o);

/* Create a pool on loop (opts may be NULL for defaults; its strings are
 * copied).  The pool must be closed with sshmux_pool_close. */
SSHMUX_EXTERN int sshmux_pool_new(uv_loop_t *loop,
                                  const sshmux_pool_options_t *opts,
                                  sshmux_pool_t **out);

typedef void (*sshmux_pool_close_cb)(sshmux_pool_t *pool, void *data);
/* Close: pending channel requests complete with SSHMUX_ECLOSED, open
 * channels get on_closed(SSHMUX_ECLOSED), running logins are aborted,
 * connections are disconnected.  close_cb runs (asynchronously) once every
 * channel has been closed by its owner (sshmux_upchan_close) and every
 * login worker has finished; the pool is freed after it returns. */
SSHMUX_EXTERN void sshmux_pool_close(sshmux_pool_t *pool,
                                     sshmux_pool_close_cb close_cb, void *data);

/* Where prompts go.  withdrawn (may be NULL) is told when a prompt it was
 * given stops being answerable (see prompt.h).  Without a handler every
 * prompt fails closed: the login fails with SSHMUX_ENOPROMPTER. */
SSHMUX_EXTERN void sshmux_pool_set_prompt_handler(sshmux_pool_t *pool,
                                                  sshmux_prompt_cb prompt,
                                                  sshmux_prompt_cb withdrawn,
                                                  void *data);

/* Locked: new channel requests fail with SSHMUX_ELOCKED (connections and
 * channels already open keep running).  Requests queued before the lock
 * proceed. */
SSHMUX_EXTERN void sshmux_pool_lock(sshmux_pool_t *pool);
SSHMUX_EXTERN void sshmux_pool_unlock(sshmux_pool_t *pool);
SSHMUX_EXTERN int sshmux_pool_is_locked(const sshmux_pool_t *pool);

SSHMUX_EXTERN void sshmux_pool_set_data(sshmux_pool_t *pool, void *data);
SSHMUX_EXTERN void *sshmux_pool_get_data(const sshmux_pool_t *pool);

/* ---- targets ---- */

typedef struct sshmux_target_s {
  const char *user;
  const char *host;
  int port;                          /* 0 = 22 */
  const char *const *identity_files; /* NULL-terminated; may be NULL */
  const char *password;              /* optional; else asked by prompt */
  /* Reached through this jump host (which may have its own jump: a
   * chain of at most 8 hops), or directly when NULL. */
  const struct sshmux_target_s *jump;
  int idle_timeout_s;     /* < 0 = pool default; 0 = never */
  int max_lifetime_s;     /* < 0 = pool default; 0 = unlimited */
  int accept_new_hostkey; /* append unknown keys without asking */
  /* Seconds between liveness probes on a silent connection (< 0 = the
   * pool's keepalive_ms; 0 = off: no probes, a dead upstream is noticed
   * only when TCP gives up).  Like the timeouts, taken from the target
   * that opened the connection. */
  int keepalive_s;
  /* The ssh-agent to use: NULL = $SSH_AUTH_SOCK (when the pool's use_agent
   * is set), "none" = no agent, else the agent socket's path.  With
   * identity_files set, only agent keys matching one of those files
   * (their .pub) are offered, like OpenSSH's IdentitiesOnly. */
  const char *identity_agent;
} sshmux_target_t;

/* Fill *t: port 22, pool-default timeouts, everything else empty. */
SSHMUX_EXTERN void sshmux_target_init(sshmux_target_t *t);

/* ---- upstream channels ---- */

typedef enum {
  SSHMUX_UPCHAN_SESSION = 1,           /* shell / exec / subsystem */
  SSHMUX_UPCHAN_DIRECT_TCPIP = 2,      /* host:port seen from upstream */
  SSHMUX_UPCHAN_DIRECT_STREAMLOCAL = 3 /* a Unix socket path upstream */
} sshmux_upchan_type_t;

typedef struct {
  sshmux_upchan_type_t type;
  const char *host; /* DIRECT_TCPIP */
  int port;
  const char *orig_host; /* originator shown to the server ("127.0.0.1") */
  int orig_port;
  const char *path; /* DIRECT_STREAMLOCAL */
  /* Receive window; 0 = auto-tuned: 2 MiB, grown up to 16 MiB while the
   * path's bandwidth-delay product needs it (docs/pool.md). */
  uint32_t window;
  size_t write_hwm; /* write high-water mark; 0 = default (1 MiB) */
} sshmux_upchan_spec_t;

typedef struct {
  /* Data from upstream.  buf is only valid during the call: copy it or
   * call sshmux_upchan_read_stop() to stop further calls (back-pressure;
   * the data waits upstream, bounded by the channel window). */
  void (*on_data)(sshmux_upchan_t *ch, int stream, const char *buf, size_t len);
  /* Upstream sent EOF: no more on_data. */
  void (*on_eof)(sshmux_upchan_t *ch);
  /* The channel is finished upstream: status 0 when upstream closed it
   * (exit status/signal now readable), or < 0 when it failed (connection
   * lost, dead, pool closing; sshmux_upchan_last_error says why).  Called
   * at most once; no other callbacks follow.  The owner still closes it. */
  void (*on_closed)(sshmux_upchan_t *ch, int status);
  /* The write queue fell below the high-water mark again. */
  void (*on_drain)(sshmux_upchan_t *ch);
} sshmux_upchan_callbacks_t;

/* Called once when the channel is open (status 0) or failed (< 0: the
 * channel is then freed by the library right after the callback returns
 * and must not be used any more).  On success the owner must close it. */
typedef void (*sshmux_upchan_open_cb)(sshmux_upchan_t *ch, int status);

/* Ask for a channel to target.  target and spec are copied.  Embedders
 * must ignore SIGPIPE (the jump-host pump writes to a socketpair).  On success
 * *out is the new channel (pending: open_cb says when it is usable); its
 * user data is data.  Fails synchronously only for invalid arguments
 * (SSHMUX_EINVAL) or no memory; a locked or closing pool reports through
 * open_cb (SSHMUX_ELOCKED / SSHMUX_ECLOSED). */
SSHMUX_EXTERN int
sshmux_pool_open_channel(sshmux_pool_t *pool, const sshmux_target_t *target,
                         const sshmux_upchan_spec_t *spec,
                         const sshmux_upchan_callbacks_t *cbs, void *data,
                         sshmux_upchan_open_cb open_cb, sshmux_upchan_t **out);

/* Request completion: 0, or SSHMUX_EREQ_FAILED when upstream refused, or
 * another error when the channel failed first. */
typedef void (*sshmux_upchan_req_cb)(sshmux_upchan_t *ch, int status,
                                     void *req_data);

/* Channel requests, sent in order, one at a time (libssh2 matches replies
 * by channel only).  cb may be NULL.  All arguments are copied.
 * pty: modes are the RFC 4254 §8 encoded opcodes as a client sent them;
 * when term + modes exceed libssh2 1.10's 256-byte limit the least useful
 * opcodes are dropped until they fit (TTY_OP_END kept). */
SSHMUX_EXTERN int sshmux_upchan_pty(sshmux_upchan_t *ch, const char *term,
                                    const uint8_t *modes, size_t modes_len,
                                    unsigned cols, unsigned rows,
                                    unsigned width_px, unsigned height_px,
                                    sshmux_upchan_req_cb cb, void *req_data);
SSHMUX_EXTERN int sshmux_upchan_env(sshmux_upchan_t *ch, const char *name,
                                    const char *value, sshmux_upchan_req_cb cb,
                                    void *req_data);
SSHMUX_EXTERN int sshmux_upchan_shell(sshmux_upchan_t *ch,
                                      sshmux_upchan_req_cb cb, void *req_data);
SSHMUX_EXTERN int sshmux_upchan_exec(sshmux_upchan_t *ch, const char *command,
                                     sshmux_upchan_req_cb cb, void *req_data);
SSHMUX_EXTERN int sshmux_upchan_subsystem(sshmux_upchan_t *ch, const char *name,
                                          sshmux_upchan_req_cb cb,
                                          void *req_data);
/* No reply exists for window-change; cb (may be NULL) runs once sent. */
SSHMUX_EXTERN int
sshmux_upchan_window_change(sshmux_upchan_t *ch, unsigned cols, unsigned rows,
                            unsigned width_px, unsigned height_px,
                            sshmux_upchan_req_cb cb, void *req_data);

/* Queue len bytes for upstream (copied; nothing is lost on EAGAIN).
 * Returns 0 while the queue is below the high-water mark, 1 when it is at
 * or above it (stop feeding until on_drain), < 0 on error (channel closed,
 * EOF already sent). */
SSHMUX_EXTERN int sshmux_upchan_write(sshmux_upchan_t *ch, const void *buf,
                                      size_t len);
/* Bytes queued and not yet accepted by libssh2. */
SSHMUX_EXTERN size_t sshmux_upchan_write_queue_size(const sshmux_upchan_t *ch);
/* Send EOF after the queued bytes. */
SSHMUX_EXTERN int sshmux_upchan_send_eof(sshmux_upchan_t *ch);
/* Pause / resume on_data (and on_eof, which follows the data). */
SSHMUX_EXTERN void sshmux_upchan_read_stop(sshmux_upchan_t *ch);
SSHMUX_EXTERN void sshmux_upchan_read_start(sshmux_upchan_t *ch);

/* After on_closed(0): the exit status and the exit signal name without
 * "SIG" (NULL if none).  libssh2 1.10 reports a missing exit-status as 0;
 * when an exit-signal arrived the status is -1. */
SSHMUX_EXTERN int sshmux_upchan_exit_status(const sshmux_upchan_t *ch);
SSHMUX_EXTERN const char *sshmux_upchan_exit_signal(const sshmux_upchan_t *ch);
/* Why the last operation failed (sanitised; never NULL). */
SSHMUX_EXTERN const char *sshmux_upchan_last_error(const sshmux_upchan_t *ch);

typedef void (*sshmux_upchan_close_cb)(sshmux_upchan_t *ch);
/* Close and free.  On an open channel, requests, bytes and an EOF queued
 * before the close are still sent first (incoming data is dropped
 * meanwhile), then EOF and CLOSE; the server's CLOSE is not waited for.
 * A pending open completes with SSHMUX_ECLOSED first; requests that could
 * not be sent get SSHMUX_ECLOSED.  close_cb (may be NULL) runs
 * asynchronously; the memory is freed after it returns. */
SSHMUX_EXTERN void sshmux_upchan_close(sshmux_upchan_t *ch,
                                       sshmux_upchan_close_cb close_cb);

SSHMUX_EXTERN void sshmux_upchan_set_data(sshmux_upchan_t *ch, void *data);
SSHMUX_EXTERN void *sshmux_upchan_get_data(const sshmux_upchan_t *ch);
SSHMUX_EXTERN sshmux_pool_t *sshmux_upchan_pool(const sshmux_upchan_t *ch);
/* 1 when ch is still opening and waits for the login that asks prompt
 * (a prompt the pool's handler was given): its own connection's login or
 * that of a jump host it is reached through; else 0.  For asking a prompt
 * where the person whose session caused the login is (relay.h). */
SSHMUX_EXTERN int sshmux_upchan_awaits_prompt(const sshmux_upchan_t *ch,
                                              const sshmux_prompt_t *prompt);

/* ---- stats ---- */

typedef enum {
  SSHMUX_CONN_CONNECTING = 1, /* DNS, TCP or the jump's tunnel */
  SSHMUX_CONN_AUTH = 2,       /* handshake and login (worker thread) */
  SSHMUX_CONN_ACTIVE = 3,
  SSHMUX_CONN_DRAINING = 4, /* expired: no new channels, ends when empty */
  SSHMUX_CONN_DEAD = 5
} sshmux_conn_state_t;

typedef struct {
  char target[300];     /* user@host:port */
  char jump_chain[600]; /* "user@jump:22,user@jump2:22" ("" if direct) */
  sshmux_conn_state_t state;
  unsigned channels;            /* open upstream channels (tunnels included) */
  unsigned sessions;            /* of which "session" channels */
  unsigned learned_limit;       /* MaxSessions learned (0 = none hit yet) */
  unsigned dependents;          /* connections riding on this one as a jump */
  uint64_t bytes_in, bytes_out; /* on the wire, each way */
  uint64_t age_ms;
  uint64_t idle_ms;       /* time without channels (0 while in use) */
  int64_t expires_in_ms;  /* until idle or lifetime expiry; -1 = never */
  char auth_methods[128]; /* "publickey,keyboard-interactive" */
  int overflow;           /* opened because another refused sessions */
} sshmux_conn_stats_t;

typedef struct {
  uint64_t connects; /* TCP connections (or tunnels) ever started */
  uint64_t logins;   /* successful logins */
  uint64_t login_failures;
  uint64_t channels_opened;
  unsigned connections; /* currently in the pool */
} sshmux_pool_stats_t;

/* Fill up to max entries of out (one per connection, in pool order) and
 * set *count to the number of connections (which may exceed max).
 * pstats may be NULL. */
SSHMUX_EXTERN int sshmux_pool_stats(sshmux_pool_t *pool,
                                    sshmux_pool_stats_t *pstats,
                                    sshmux_conn_stats_t *out, size_t max,
                                    size_t *count);
SSHMUX_EXTERN const char *sshmux_conn_state_name(sshmux_conn_state_t s);

#ifdef __cplusplus
}
#endif
#endif
