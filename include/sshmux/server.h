/* sshmux/server.h -- the server side of SSH-2 on a libuv loop: accept
 * standard SSH clients, authenticate them by public key, and hand their
 * channels to the embedder.
 *
 * Objects.  A server (sshmux_server_t) is bound to the caller's loop, owns
 * its host keys and listener, and accepts connections (sshmux_server_conn_t).
 * Each connection carries channels (sshmux_server_channel_t) opened by the
 * client, and channel or global requests (sshmux_server_request_t).  All
 * objects are created by the library and freed by it; the embedder learns
 * of their end through close callbacks and must not touch them afterwards.
 *
 * Asynchrony.  Channel opens and requests are answered LATER by the
 * embedder (possibly after its own network round trip): the open callback
 * gets the channel in an "opening" state and the embedder eventually calls
 * sshmux_server_channel_accept() or _reject(); a request callback gets a
 * request object and the embedder eventually calls
 * sshmux_server_request_reply().  The library keeps SSH's ordering rules
 * (replies go out in request order per channel and for global requests).
 *
 * Callback rules (the contract every header states; docs/ABI.md).  Every
 * callback runs on the loop thread.  (1) A function that returns an error
 * never calls its callback.  (2) What was started completes exactly once:
 * every channel open and every request is handed over once and must be
 * answered once by the embedder; a channel's close callback runs exactly
 * once, also when its connection or the server ends first.  (3) From
 * inside any callback the embedder may call any function of this header,
 * including closing the object the callback is about (freeing is deferred
 * until the library is out of its own code).  (4) Nothing about an object
 * is called after its close callback; the server's close_cb is the last
 * call of all.  tests/test-contract.c checks these for every object.  All
 * strings passed to callbacks are NUL-terminated and valid only for the
 * duration of the call unless stated otherwise.
 *
 * Flow control.  Outgoing: sshmux_server_channel_write() queues bytes and
 * reports when the queue passes the channel's high-water mark; the drain
 * callback says when it has fallen back below half of it.  Incoming: the
 * data callback delivers bytes straight from the decrypted packet; the
 * channel's window is topped up only for data delivered while reads are
 * not paused, so sshmux_server_channel_read_stop() makes the client stop
 * sending once the window (2 MiB) is spent.  Nothing is buffered without a
 * bound.  See docs/server.md. */
#ifndef SSHMUX_SERVER_H
#define SSHMUX_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sshmux_server_s sshmux_server_t;
typedef struct sshmux_server_conn_s sshmux_server_conn_t;
typedef struct sshmux_server_channel_s sshmux_server_channel_t;
typedef struct sshmux_server_request_s sshmux_server_request_t;

/* Host key types the server can serve. */
typedef enum {
  SSHMUX_SERVER_KEY_ED25519 = 0,
  SSHMUX_SERVER_KEY_ECDSA_P256 = 1
} sshmux_server_key_type_t;

/* Channel-open failure reasons (RFC 4254 §5.1). */
#define SSHMUX_OPEN_ADMINISTRATIVELY_PROHIBITED 1
#define SSHMUX_OPEN_CONNECT_FAILED 2
#define SSHMUX_OPEN_UNKNOWN_CHANNEL_TYPE 3
#define SSHMUX_OPEN_RESOURCE_SHORTAGE 4

/* ---- authentication ---- */

typedef struct {
  const char *user;        /* the user name the client asked for */
  const char *key_alg;     /* "ssh-ed25519", "rsa-sha2-256", ... */
  const uint8_t *key_blob; /* the public key blob (wire format) */
  size_t key_len;
  const char *fingerprint; /* "SHA256:..." */
  /* Verdict of the configured authorized_keys file for this key: 1 listed
   * (and its options are honoured), 0 not listed or refused, -1 when no
   * file is configured. */
  int authorized;
  /* Set when the signature over this request has already been checked
   * (0 for the PK_OK query the client sends before signing). */
  int is_signed;
} sshmux_server_auth_info_t;

/* Decide whether `info->user` may log in with this key: return 1 to
 * accept, 0 to refuse.  Called twice per key normally (query, then signed
 * request), and must answer the same way both times.  Without this
 * callback the decision is info->authorized == 1.  The connection is not
 * yet authenticated; do not keep the pointer. */
typedef int (*sshmux_server_auth_cb)(sshmux_server_conn_t *conn,
                                     const sshmux_server_auth_info_t *info,
                                     void *data);

/* ---- connections ---- */

typedef void (*sshmux_server_conn_cb)(sshmux_server_conn_t *conn);

/* ---- channels ---- */

typedef enum {
  SSHMUX_CHANNEL_SESSION = 0,
  SSHMUX_CHANNEL_DIRECT_TCPIP = 1,
  SSHMUX_CHANNEL_DIRECT_STREAMLOCAL = 2
} sshmux_server_channel_type_t;

/* What the client asked for when opening.  Valid for the life of the
 * channel (until its close callback returns). */
typedef struct {
  sshmux_server_channel_type_t type;
  const char *type_name;  /* "session", "direct-tcpip", ... */
  const char *host;       /* direct-tcpip: host to connect to */
  uint32_t port;          /* direct-tcpip: port */
  const char *originator; /* direct-tcpip: originator address */
  uint32_t originator_port;
  const char *socket_path; /* direct-streamlocal@openssh.com */
} sshmux_server_open_info_t;

/* A client opened a channel.  The channel is "opening": set its callbacks
 * and data, then (now or later) accept or reject it.  If the connection
 * ends first, the channel's close callback (if set) is called. */
typedef void (*sshmux_server_open_cb)(sshmux_server_conn_t *conn,
                                      sshmux_server_channel_t *ch,
                                      const sshmux_server_open_info_t *info);

/* Parsed fields of a channel or global request.  Strings are NUL-free and
 * NUL-terminated; unused fields are NULL/0.  Valid until the request is
 * answered (or its channel/connection closes). */
typedef struct {
  const char *type; /* "pty-req", "env", "exec", "tcpip-forward", ... */
  int want_reply;
  /* pty-req (term, cols, rows, width_px, height_px, modes) and
   * window-change (cols, rows, width_px, height_px) */
  const char *term;
  uint32_t cols, rows, width_px, height_px;
  const uint8_t *modes; /* encoded terminal modes, raw bytes as received */
  size_t modes_len;
  /* env */
  const char *env_name, *env_value;
  /* exec */
  const char *command;
  /* subsystem */
  const char *subsystem;
  /* signal (without "SIG") */
  const char *signal;
  /* break */
  uint32_t break_ms;
  /* x11-req */
  int x11_single;
  const char *x11_proto, *x11_cookie;
  uint32_t x11_screen;
  /* tcpip-forward / cancel-tcpip-forward (global); for
   * streamlocal-forward@openssh.com bind_address is the socket path */
  const char *bind_address;
  uint32_t bind_port;
} sshmux_server_request_info_t;

/* A request on a channel (ch != NULL) or a global request (ch == NULL).
 * The embedder MUST answer every request it is given, exactly once, with
 * sshmux_server_request_reply() -- also when want_reply is 0 (nothing is
 * sent then, but the object is released).  req and info stay valid until
 * that answer (read info BEFORE answering) or until the channel's close
 * callback returns (the connection's end for global requests), whichever
 * comes first.  Requests the library handles itself (keepalives, winadj,
 * unknown names, a second shell/exec, requests forbidden by the key's
 * authorized_keys options) never reach the embedder. */
typedef void (*sshmux_server_request_cb)(
    sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
    sshmux_server_request_t *req, const sshmux_server_request_info_t *info);

/* Incoming channel data: stream is SSHMUX_STREAM_STDOUT for DATA or
 * SSHMUX_STREAM_STDERR for extended data.  The bytes are valid only during
 * the call; copy what must be kept.  A paused channel gets no data
 * callbacks (what arrives is held, within the window, until read_start). */
typedef void (*sshmux_server_data_cb)(sshmux_server_channel_t *ch, int stream,
                                      const char *buf, size_t len);
/* The client sent EOF or CLOSE, or the queue fell below half the
 * high-water mark after a write reported it full, or the channel is
 * gone.  After the close callback returns the channel is freed. */
typedef void (*sshmux_server_channel_cb)(sshmux_server_channel_t *ch);

typedef struct {
  sshmux_server_request_cb request; /* NULL: every request is refused */
  sshmux_server_data_cb data;       /* NULL: data is discarded */
  sshmux_server_channel_cb eof;     /* client EOF (optional) */
  sshmux_server_channel_cb drain;   /* writable again (optional) */
  sshmux_server_channel_cb close;   /* channel gone (optional) */
  /* The client sent CLOSE (optional).  NULL: the library answers it at
   * once and the close callback follows.  Set: our CLOSE waits for
   * sshmux_server_channel_close() (from here or later, e.g. once the exit
   * status is known: OpenSSH's sshd, too, sends a session's exit status
   * after the client's CLOSE when its child exits later).  Meanwhile
   * nothing more is delivered, queued output is dropped and writes fail
   * (SSHMUX_ECLOSED), but _eof, _exit_status and _exit_signal still work.
   * The embedder must close the channel (the connection's end does it
   * too). */
  sshmux_server_channel_cb remote_close;
} sshmux_server_channel_cbs_t;

/* ---- the server ---- */

typedef struct {
  sshmux_server_auth_cb auth;   /* optional, see above */
  void *auth_data;              /* passed to auth */
  sshmux_server_conn_cb authed; /* optional: a connection authenticated */
  /* optional: a connection that authenticated has ended (whether or not
   * `authed` is set; never for one that did not authenticate); it is
   * freed when this returns.  Its channels' close callbacks ran before. */
  sshmux_server_conn_cb closed;
  sshmux_server_open_cb channel_open; /* NULL: every open is refused */
  /* optional: global requests the library does not answer itself
   * (tcpip-forward, cancel-tcpip-forward, streamlocal-forward@...).
   * NULL: they are refused. */
  sshmux_server_request_cb global_request;
} sshmux_server_cbs_t;

/* Create a server on loop.  cbs is copied.  Calls sshmux_init(). */
SSHMUX_EXTERN int sshmux_server_new(uv_loop_t *loop,
                                    const sshmux_server_cbs_t *cbs,
                                    sshmux_server_t **out);
/* Load the host key at path (OpenSSH private-key format), or when it does
 * not exist generate one of the given type and save it there (0600, plus
 * path.pub).  Call once per type; at least one key is required before
 * listening.  A second key of an already loaded type is SSHMUX_EEXISTS. */
SSHMUX_EXTERN int sshmux_server_add_host_key(sshmux_server_t *srv,
                                             const char *path,
                                             sshmux_server_key_type_t type);
/* The OpenSSH authorized_keys file checked for every key offered, so edits
 * take effect for new logins: one lstat() per check on the loop thread, and
 * a (blocking) re-read there only when the file changed -- keep it small
 * and local.  The path is copied.  NULL removes it. */
SSHMUX_EXTERN int sshmux_server_set_authorized_keys(sshmux_server_t *srv,
                                                    const char *path);
/* Limits.  Defaults: login grace 120 s, 20 failed keys, re-key after 1 GiB
 * either way or 1 hour, identification "SSH-2.0-sshmux_0.1". */
SSHMUX_EXTERN void sshmux_server_set_login_grace(sshmux_server_t *srv,
                                                 uint64_t ms);
SSHMUX_EXTERN void sshmux_server_set_max_auth_tries(sshmux_server_t *srv,
                                                    unsigned n);
SSHMUX_EXTERN void sshmux_server_set_rekey_limits(sshmux_server_t *srv,
                                                  uint64_t bytes,
                                                  uint64_t seconds);
/* Limits against hostile clients, set together (see docs/server.md).  Fill
 * the struct with sshmux_server_options_init(), change what you need, then
 * sshmux_server_set_options().  New values apply to connections and
 * channels opened afterwards. */
typedef struct {
  /* The memory one connection may make the server hold for its channels'
   * input: the sum of the windows given to its channels (a paused
   * channel's client may fill its whole window).  Each channel gets 2 MiB
   * while the budget lasts, then what is left; below 64 KiB left, opens
   * are refused with SSHMUX_OPEN_RESOURCE_SHORTAGE ("connection memory
   * budget exhausted").  Default 256 MiB; at least 64 KiB. */
  size_t conn_memory_max;
  /* MaxStartups (OpenSSH's start:rate:full; default 64:30:256): once
   * `startups_begin` connections have not authenticated, each new one makes
   * the server drop, with probability startups_rate % rising linearly to
   * 100 % at `startups_full`, the OLDEST of them that has waited a second;
   * only when none has and startups_full are held is the newcomer refused.
   * So at most startups_full are held, and a flood holding its connections
   * cannot keep a real client out.  startups_full 0: no limit.  begin <=
   * full, rate <= 100. */
  unsigned startups_begin, startups_rate, startups_full;
  /* The largest packet_length accepted before authentication (default
   * 8192; at least 4712, what a publickey login signed with RSA-16384
   * needs; at most 262144, the limit after authentication).  Applies to
   * connections not yet authenticated at once. */
  size_t preauth_packet_max;
  /* A key re-exchange must be over this long after it started (default
   * 60000 ms): a client that never answers the server's KEXINIT (while
   * replies to it wait for the new keys) is disconnected, reason 3.  At
   * least 1. */
  uint64_t kex_timeout_ms;
} sshmux_server_options_t;

/* Fill *o with the defaults above. */
SSHMUX_EXTERN void sshmux_server_options_init(sshmux_server_options_t *o);
/* Apply *o (copied).  SSHMUX_EINVAL for a NULL argument or a value out of
 * range (nothing is changed then). */
SSHMUX_EXTERN int sshmux_server_set_options(sshmux_server_t *srv,
                                            const sshmux_server_options_t *o);
/* Listen on host:port (numeric address; port 0 picks one).  Returns 0,
 * SSHMUX_EINVAL (bad arguments, already listening, closing),
 * SSHMUX_ENOTFOUND (no host key added yet) or the libuv error of bind or
 * listen (UV_EADDRINUSE); after an error the server is not listening and
 * may be asked to listen again. */
SSHMUX_EXTERN int sshmux_server_listen(sshmux_server_t *srv, const char *host,
                                       int port);
/* The port actually bound, or a negative error. */
SSHMUX_EXTERN int sshmux_server_port(const sshmux_server_t *srv);
/* Number of live connections. */
SSHMUX_EXTERN size_t sshmux_server_conn_count(const sshmux_server_t *srv);
/* Stop listening, disconnect every connection (their channel and
 * connection close callbacks run) and free the server; close_cb (optional)
 * runs last.  Safe from inside any callback. */
SSHMUX_EXTERN void sshmux_server_close(sshmux_server_t *srv,
                                       void (*close_cb)(sshmux_server_t *));
SSHMUX_EXTERN void sshmux_server_set_data(sshmux_server_t *srv, void *data);
SSHMUX_EXTERN void *sshmux_server_get_data(const sshmux_server_t *srv);

/* ---- connections ---- */

/* The authenticated user name, or NULL before authentication.  Valid for
 * the life of the connection. */
SSHMUX_EXTERN const char *
sshmux_server_conn_user(const sshmux_server_conn_t *conn);
/* "SHA256:..." of the key that authenticated, or NULL. */
SSHMUX_EXTERN const char *
sshmux_server_conn_key_fingerprint(const sshmux_server_conn_t *conn);
/* The client's address ("127.0.0.1") and port. */
SSHMUX_EXTERN const char *
sshmux_server_conn_peer(const sshmux_server_conn_t *conn, int *port);
/* The client's identification string ("SSH-2.0-OpenSSH_9.2p1 ..."), after
 * sanitising, or NULL before it arrived. */
SSHMUX_EXTERN const char *
sshmux_server_conn_client_version(const sshmux_server_conn_t *conn);
SSHMUX_EXTERN sshmux_server_t *
sshmux_server_conn_server(const sshmux_server_conn_t *conn);
/* Send DISCONNECT (reason 11, BY_APPLICATION, with msg or a default) and
 * close the connection; channels get their close callbacks, then the
 * server's `closed` callback runs.  Idempotent. */
SSHMUX_EXTERN void sshmux_server_conn_close(sshmux_server_conn_t *conn,
                                            const char *msg);
SSHMUX_EXTERN void sshmux_server_conn_set_data(sshmux_server_conn_t *conn,
                                               void *data);
SSHMUX_EXTERN void *
sshmux_server_conn_get_data(const sshmux_server_conn_t *conn);

/* ---- channels ---- */

/* Set the channel's callbacks (copied); normally from the open callback. */
SSHMUX_EXTERN void
sshmux_server_channel_set_cbs(sshmux_server_channel_t *ch,
                              const sshmux_server_channel_cbs_t *cbs);
/* Confirm an opening channel.  SSHMUX_EINVAL if it is not opening;
 * SSHMUX_ECLOSED if the connection is going away. */
SSHMUX_EXTERN int sshmux_server_channel_accept(sshmux_server_channel_t *ch);
/* Refuse an opening channel with an RFC 4254 reason code and message.  The
 * channel is released (no close callback) once the library is out of the
 * current callback; do not use it after this call. */
SSHMUX_EXTERN int sshmux_server_channel_reject(sshmux_server_channel_t *ch,
                                               uint32_t reason,
                                               const char *msg);
/* Queue len bytes for stream (SSHMUX_STREAM_STDOUT / _STDERR).  Returns 0
 * when the queue is below the high-water mark afterwards, 1 when it is at
 * or above it (stop producing until the drain callback), or a negative
 * error: SSHMUX_EBUSY when the queue already holds 4 times the high-water
 * mark (nothing queued), SSHMUX_ECLOSED after EOF/close or the client's
 * CLOSE, SSHMUX_EINVAL before accept.  The bytes are copied. */
SSHMUX_EXTERN int sshmux_server_channel_write(sshmux_server_channel_t *ch,
                                              int stream, const void *data,
                                              size_t len);
/* Bytes queued and not yet handed to the connection. */
SSHMUX_EXTERN size_t
sshmux_server_channel_write_queue_size(const sshmux_server_channel_t *ch);
/* High-water mark of the write queue (default 256 KiB, minimum 1 KiB). */
SSHMUX_EXTERN void
sshmux_server_channel_set_high_water(sshmux_server_channel_t *ch, size_t n);
/* Pause / resume delivery of incoming data (and with it window top-ups). */
SSHMUX_EXTERN void sshmux_server_channel_read_stop(sshmux_server_channel_t *ch);
SSHMUX_EXTERN void
sshmux_server_channel_read_start(sshmux_server_channel_t *ch);
/* Send EOF after the queued data.  Further writes fail. */
SSHMUX_EXTERN int sshmux_server_channel_eof(sshmux_server_channel_t *ch);
/* Send exit-status / exit-signal (name without "SIG", e.g. "TERM") after
 * the queued data and EOF, before CLOSE.  At most one of them, once. */
SSHMUX_EXTERN int sshmux_server_channel_exit_status(sshmux_server_channel_t *ch,
                                                    uint32_t code);
SSHMUX_EXTERN int sshmux_server_channel_exit_signal(sshmux_server_channel_t *ch,
                                                    const char *name,
                                                    int core_dumped,
                                                    const char *msg);
/* Close: the queued data, EOF, exit status and CLOSE go out in that order;
 * when the client's CLOSE has also arrived, the close callback runs and
 * the channel is freed.  Idempotent.  Unanswered requests are dropped.
 * After the client's CLOSE (see remote_close) only EOF, exit status and
 * CLOSE go out. */
SSHMUX_EXTERN void sshmux_server_channel_close(sshmux_server_channel_t *ch);
SSHMUX_EXTERN const sshmux_server_open_info_t *
sshmux_server_channel_info(const sshmux_server_channel_t *ch);
SSHMUX_EXTERN sshmux_server_conn_t *
sshmux_server_channel_conn(const sshmux_server_channel_t *ch);
/* The client's window and max packet (for relays sizing their reads). */
SSHMUX_EXTERN uint32_t
sshmux_server_channel_remote_window(const sshmux_server_channel_t *ch);
SSHMUX_EXTERN void sshmux_server_channel_set_data(sshmux_server_channel_t *ch,
                                                  void *data);
SSHMUX_EXTERN void *
sshmux_server_channel_get_data(const sshmux_server_channel_t *ch);

/* ---- requests ---- */

/* Answer a request: ok != 0 is SUCCESS.  Sent (if want_reply) as soon as
 * every earlier request of the same channel (or every earlier global
 * request) is answered.  The request is freed by this call. */
SSHMUX_EXTERN void sshmux_server_request_reply(sshmux_server_request_t *req,
                                               int ok);
/* Success for a tcpip-forward with port 0: carries the allocated port. */
SSHMUX_EXTERN void
sshmux_server_request_reply_port(sshmux_server_request_t *req, uint32_t port);

#ifdef __cplusplus
}
#endif
#endif
