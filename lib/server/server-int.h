/* server/server-int.h -- private to the server module (lib/server/): the
 * structures its files share.  Other modules use the server only through
 * the public sshmux/server.h; nothing outside lib/server/ includes this
 * (scripts/check-layers.sh; tests/test-server-*.c, tests/server-harness.*
 * and tests/fuzz/fuzz-server-*.c may, white-box).
 *
 * The files, bottom layer first; each calls only files listed before it:
 *   conn.c       the connection object's shared operations: references,
 *                the fatal-error path, output-queue size, mark dirty
 *   transport.c  identification, binary packets, key exchange, dispatch
 *   auth.c       publickey user authentication, authorized_keys
 *   channel.c    RFC 4254 channels and requests
 *   server.c     the public object, listener, connection lifecycle, socket
 *                I/O, the end-of-iteration pass
 * The calls that must go up the stack -- the transport handing a message to
 * the user-auth or connection layer, auth reporting success, conn.c sending
 * a DISCONNECT or finishing a connection -- go through the server's ops
 * table (sshmux__srv_ops_t below), which server.c installs: no file names a
 * function of a file above it.
 *
 * A connection is the equivalent of dropbear's per-process `ses`: one
 * struct passed explicitly.  Its input is fed through sshmux__conn_input()
 * and its output collected in two write buffers that are handed to the
 * socket once per loop iteration; tests and fuzzers drive a connection with
 * no socket at all (see sshmux__conn_new_mem). */
#ifndef SSHMUX_SERVER_INT_H
#define SSHMUX_SERVER_INT_H

#include <uv.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "sshmux/server.h"

/* Limits (ssh-server.md §2.2, §4.3). */
#define SSHMUX__SRV_IN_PACKET_MAX (256u * 1024u) /* packet_length accepted */
/* Before authentication, packets are much smaller.  The biggest a real
 * client sends is a publickey USERAUTH_REQUEST signed with RSA-16384: type
 * 1, user (we read at most 256) 260, "ssh-connection" 18, "publickey" 13,
 * TRUE 1, "rsa-sha2-512" 16, the key blob 4 + (11 + 7 + 2053) = 2075, the
 * signature 4 + (16 + 2052) = 2072: 4456 bytes of payload, so a
 * packet_length of at most 1 + 4456 + 255 (padding) = 4712.  The default
 * leaves room for long KEXINIT lists. */
#define SSHMUX__SRV_PREAUTH_NEED 4712u
#define SSHMUX__SRV_PREAUTH_DEFAULT 8192u
/* The read buffer holds one packet at the limit plus what one read may
 * bring beyond it (authenticated), or little more than the packet (not yet:
 * the MAC, a partial next one, an identification line). */
#define SSHMUX__SRV_RBUF_SLACK (2u * 65536u)
#define SSHMUX__SRV_RBUF_SLACK_PREAUTH 1024u
#define SSHMUX__SRV_KEX_TIMEOUT_DEFAULT 60000u
/* MaxStartups defaults.  OpenSSH's are 10:30:100, for a server on the
 * internet; ours is the local multiplexer, where 50 logins starting at
 * once are normal (an editor opening its channels, a script fanning out:
 * test-relay-load.c), so the drops start later. */
#define SSHMUX__SRV_STARTUPS_BEGIN 64u
#define SSHMUX__SRV_STARTUPS_RATE 30u
#define SSHMUX__SRV_STARTUPS_FULL 256u
/* An unauthenticated connection is dropped for a newcomer only after
 * waiting this long (a real login takes milliseconds). */
#define SSHMUX__SRV_STARTUPS_MIN_AGE_MS 1000u
#define SSHMUX__SRV_OUT_PAYLOAD_MAX 32768u /* payload bytes per packet sent */
#define SSHMUX__SRV_CHAN_WINDOW (2u * 1024u * 1024u)
/* The smallest window a channel is opened with when the connection's
 * memory budget runs short (below it the open is refused). */
#define SSHMUX__SRV_CHAN_WINDOW_MIN (64u * 1024u)
#define SSHMUX__SRV_CONN_MEMORY_DEFAULT (256u * 1024u * 1024u)
#define SSHMUX__SRV_CHAN_MAXPKT 32768u
#define SSHMUX__SRV_MAX_CHANNELS 1024u
#define SSHMUX__SRV_OUT_HIGH (256u * 1024u)  /* stop draining channels above */
#define SSHMUX__SRV_IN_PAUSE (1024u * 1024u) /* stop reading socket above */
#define SSHMUX__SRV_NAME_MAX 64u
/* Requests awaiting the embedder's answer, per channel and for global
 * requests: a client may not queue more (memory stays bounded). */
#define SSHMUX__SRV_MAX_PENDING_REQS 256u

/* SSH message numbers. */
enum {
  SSH_MSG_DISCONNECT = 1,
  SSH_MSG_IGNORE = 2,
  SSH_MSG_UNIMPLEMENTED = 3,
  SSH_MSG_DEBUG = 4,
  SSH_MSG_SERVICE_REQUEST = 5,
  SSH_MSG_SERVICE_ACCEPT = 6,
  SSH_MSG_EXT_INFO = 7,
  SSH_MSG_KEXINIT = 20,
  SSH_MSG_NEWKEYS = 21,
  SSH_MSG_KEX_ECDH_INIT = 30,
  SSH_MSG_KEX_ECDH_REPLY = 31,
  SSH_MSG_USERAUTH_REQUEST = 50,
  SSH_MSG_USERAUTH_FAILURE = 51,
  SSH_MSG_USERAUTH_SUCCESS = 52,
  SSH_MSG_USERAUTH_BANNER = 53,
  SSH_MSG_USERAUTH_PK_OK = 60,
  SSH_MSG_GLOBAL_REQUEST = 80,
  SSH_MSG_REQUEST_SUCCESS = 81,
  SSH_MSG_REQUEST_FAILURE = 82,
  SSH_MSG_CHANNEL_OPEN = 90,
  SSH_MSG_CHANNEL_OPEN_CONFIRMATION = 91,
  SSH_MSG_CHANNEL_OPEN_FAILURE = 92,
  SSH_MSG_CHANNEL_WINDOW_ADJUST = 93,
  SSH_MSG_CHANNEL_DATA = 94,
  SSH_MSG_CHANNEL_EXTENDED_DATA = 95,
  SSH_MSG_CHANNEL_EOF = 96,
  SSH_MSG_CHANNEL_CLOSE = 97,
  SSH_MSG_CHANNEL_REQUEST = 98,
  SSH_MSG_CHANNEL_SUCCESS = 99,
  SSH_MSG_CHANNEL_FAILURE = 100
};

/* Disconnect reasons (RFC 4250 §4.2.2). */
enum {
  SSH_DISCONNECT_PROTOCOL_ERROR = 2,
  SSH_DISCONNECT_KEY_EXCHANGE_FAILED = 3,
  SSH_DISCONNECT_MAC_ERROR = 5,
  SSH_DISCONNECT_SERVICE_NOT_AVAILABLE = 7,
  SSH_DISCONNECT_PROTOCOL_VERSION_NOT_SUPPORTED = 8,
  SSH_DISCONNECT_BY_APPLICATION = 11,
  SSH_DISCONNECT_TOO_MANY_CONNECTIONS = 12,
  SSH_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE = 14
};

/* authorized_keys options we honour (server-auth.c); anything else makes
 * the line unusable. */
#define SSHMUX__AK_NO_PTY 0x01u
#define SSHMUX__AK_NO_PORT_FWD 0x02u
#define SSHMUX__AK_NO_AGENT_FWD 0x04u
#define SSHMUX__AK_NO_X11_FWD 0x08u

typedef struct sshmux__srv_kex_state sshmux__srv_kex_state_t;

/* One request awaiting its answer (channel or global).  Kept in a FIFO so
 * replies leave in request order. */
struct sshmux_server_request_s {
  sshmux_server_conn_t *conn;
  sshmux_server_channel_t *ch; /* NULL for a global request */
  struct sshmux_server_request_s *next;
  sshmux_server_request_info_t info;
  char *strs[4]; /* owned strings the info points at */
  uint8_t *modes;
  unsigned done : 1;     /* answered, waiting for earlier ones */
  unsigned ok : 1;       /* the answer */
  unsigned internal : 1; /* answered by the library, never seen outside */
  unsigned start : 1;    /* a shell/exec/subsystem request */
  uint32_t port;         /* tcpip-forward allocated port (0: none) */
  unsigned has_port : 1;
};

typedef struct {
  sshmux_server_request_t *head, *tail;
  unsigned n; /* queued; capped at SSHMUX__SRV_MAX_PENDING_REQS */
} sshmux__reqq_t;

typedef enum {
  SSHMUX__CH_OPENING = 0, /* waiting for the embedder's accept/reject */
  SSHMUX__CH_OPEN = 1,
  SSHMUX__CH_DEAD = 2 /* rejected or closed both ways; awaiting free */
} sshmux__ch_state_t;

struct sshmux_server_channel_s {
  sshmux_server_conn_t *conn;
  uint32_t local_id, remote_id;
  sshmux__ch_state_t state;
  sshmux_server_open_info_t info;
  char *info_strs[4];
  sshmux_server_channel_cbs_t cbs;
  void *data;
  /* receive side: the window we gave (<= SSHMUX__SRV_CHAN_WINDOW, reserved
   * from the connection's budget), what the client may still send before
   * our next adjust, and what was delivered since the last adjust */
  uint32_t win_max, rwin, rconsumed;
  /* send side: the client's window (never above 2^32-1) and max packet */
  uint64_t twin;
  uint32_t tmax;
  /* queued output: stdout and stderr, each a buffer consumed from pos */
  sshmux__buf_t out[2];
  size_t high_water;
  /* held input while paused, per stream (stdout, stderr): only the bytes,
   * so together never more than win_max */
  sshmux__buf_t held[2];
  sshmux__reqq_t reqs;
  char *exit_sig_name, *exit_sig_msg;
  uint32_t exit_code;
  unsigned paused : 1;
  unsigned want_drain : 1; /* a write reported "full" */
  unsigned eof_queued : 1, eof_sent : 1, eof_recv : 1;
  unsigned exit_queued : 1, exit_is_signal : 1, exit_core : 1, exit_sent : 1;
  unsigned close_queued : 1, close_sent : 1, close_recv : 1;
  unsigned started : 1;     /* shell/exec/subsystem accepted */
  unsigned in_ready : 1;    /* on the connection's ready list */
  unsigned closed_cb : 1;   /* close callback has run */
  unsigned eof_cb_done : 1; /* eof callback has run */
  struct sshmux_server_channel_s *ready_next;
  struct sshmux_server_channel_s *dead_next;
};

typedef enum {
  SSHMUX__CONN_IDENT = 0, /* waiting for the client's version line */
  SSHMUX__CONN_KEX = 1,   /* first key exchange */
  SSHMUX__CONN_AUTH = 2,  /* userauth (after SERVICE_ACCEPT) */
  SSHMUX__CONN_OPEN = 3,  /* authenticated */
  SSHMUX__CONN_CLOSING = 4
} sshmux__conn_state_t;

struct sshmux_server_conn_s {
  sshmux_server_t *srv;
  struct sshmux_server_conn_s *next, *prev; /* server's list */
  void *data;
  sshmux__conn_state_t state;
  int refs;                  /* library frames on the stack; finish at 0 */
  int in_cb;                 /* embedder callbacks on the stack; reap at 0 */
  unsigned held_pending : 1; /* some resumed channel has held input */
  unsigned closing : 1;      /* no more input processed */
  unsigned freed : 1;        /* close sequence complete */
  unsigned mem : 1;          /* no socket: tests and fuzzers */
  unsigned reported : 1;     /* authenticated: `closed` will be called */
  unsigned read_paused : 1;
  unsigned service_ok : 1; /* ssh-userauth accepted */
  unsigned no_more_sessions : 1;
  unsigned handles_open : 2; /* tcp and timer handles not yet closed */
  unsigned unauth : 1;       /* counted in srv->n_unauth (MaxStartups) */

  /* socket */
  uv_tcp_t tcp;
  uv_timer_t timer; /* login grace, then periodic re-key check */
  uv_write_t wreq;
  int writing;           /* a uv_write is in flight on wbuf[wcur ^ 1] */
  sshmux__buf_t wbuf[2]; /* wbuf[wcur] collects packets */
  int wcur;
  sshmux__buf_t rbuf; /* received bytes not yet processed */
  char peer[64];
  int peer_port;
  uint64_t start_ms;

  /* identification */
  char *v_c; /* client's line without CR LF (for H) */
  char *v_c_clean;

  /* binary packet protocol */
  sshmux__codec_t *in, *out;
  uint32_t seq_in, seq_out;
  sshmux__padrng_t padrng; /* padding bytes (no system call per packet) */
  uint32_t in_len;         /* packet_length of the packet being read */
  unsigned in_have_len : 1;
  uint64_t bytes_since_kex, last_kex_ms;
  uint64_t packets_in;

  /* key exchange */
  sshmux__srv_kex_state_t *kex; /* non-NULL while a key exchange runs */
  uint64_t kex_start_ms;        /* when it started (our KEXINIT) */
  uint8_t session_id[SSHMUX__HASH_MAX];
  size_t session_id_len;
  unsigned first_kex_done : 1;
  unsigned strict : 1;
  unsigned ext_info_c : 1;
  unsigned out_kex : 1;   /* our KEXINIT sent, our NEWKEYS not yet */
  sshmux__buf_t deferred; /* non-transport payloads held during KEX:
                             [u32 len][payload]... */
  char hostkey_alg[SSHMUX__SRV_NAME_MAX];

  /* authentication */
  unsigned auth_failures;
  char *user;
  char fingerprint[64];
  unsigned ak_flags; /* SSHMUX__AK_* of the key that authenticated */

  /* connection protocol */
  sshmux_server_channel_t **chans;
  uint32_t nchans; /* slots in chans */
  uint32_t live_chans;
  size_t win_reserved; /* sum of win_max of the channels in chans */
  sshmux__reqq_t greqs;
  sshmux_server_channel_t *ready_head, *ready_tail;
  sshmux_server_channel_t *dead;

  /* memory transport */
  int (*mem_write)(sshmux_server_conn_t *conn, const uint8_t *p, size_t n);
  void *mem_data;
  int disconnect_reason; /* last DISCONNECT we sent (tests) */
  int last_error;
};

/* The calls up the stack (see the header), installed by server.c. */
typedef struct {
  uv_idle_cb pass; /* server.c: the end-of-iteration flush and reap */
  void (*finish)(sshmux_server_conn_t *conn); /* server.c: tear down */
  void (*disconnect)(sshmux_server_conn_t *conn, uint32_t reason,
                     const char *msg); /* transport.c */
  /* transport.c's dispatch: ssh-userauth service, USERAUTH_REQUEST,
   * connection-protocol messages (80-127), GLOBAL_REQUEST, and freeing
   * channels whose end was deferred. */
  int (*service_request)(sshmux_server_conn_t *conn, sshmux__buf_t *b);
  int (*userauth)(sshmux_server_conn_t *conn, sshmux__buf_t *b,
                  const uint8_t *payload, size_t plen);
  int (*channel)(sshmux_server_conn_t *conn, uint8_t type, sshmux__buf_t *b);
  int (*global_request)(sshmux_server_conn_t *conn, sshmux__buf_t *b);
  void (*reap)(sshmux_server_conn_t *conn);
  void (*authed)(sshmux_server_conn_t *conn); /* auth.c -> server.c */
  /* transport.c -> server.c: a re-key began; arm its deadline */
  void (*kex_started)(sshmux_server_conn_t *conn);
  /* transport.c's dispatch: the method-specific userauth messages (60-79,
   * RFC 4252 §6) before authentication.  NULL in the library (no method of
   * ours has any: they get UNIMPLEMENTED); the hostile upstream of
   * tests/fuzz/fuzz-server-upstream.h sets it for keyboard-interactive's
   * INFO_RESPONSE.  b is positioned after the message type. */
  int (*userauth_info)(sshmux_server_conn_t *conn, uint8_t type,
                       sshmux__buf_t *b);
} sshmux__srv_ops_t;

struct sshmux_server_s {
  uv_loop_t *loop;
  const sshmux__srv_ops_t *ops; /* calls up the stack (server.c's table) */
  sshmux_server_cbs_t cbs;
  void *data;
  sshmux__hostkey_t *keys[2]; /* by sshmux__key_type_t */
  char *authorized_keys;
  /* The file's text as last read, and what stat() said then: re-read only
   * when any of these changed (sshmux__authkeys_drop forgets it). */
  struct {
    char *text; /* NULL: nothing cached */
    size_t len;
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
  } ak;
  uint64_t login_grace_ms;
  unsigned max_auth_tries;
  uint64_t rekey_bytes, rekey_seconds;
  sshmux_server_options_t opts; /* sshmux_server_set_options */
  uv_tcp_t *listener; /* own allocation: a failed one closes while retried */
  uv_idle_t idle;     /* flushes connections marked dirty */
  /* A connection we cannot take (no memory) is accepted into this spare
   * handle and closed at once; wanted: another waits for it to be free. */
  uv_tcp_t refuse;
  int refuse_busy, refuse_wanted;
  int listening; /* listener bound and listening */
  int closing;
  int handles_open;
  void (*close_cb)(sshmux_server_t *);
  sshmux_server_conn_t *conns;
  size_t nconns;
  size_t n_unauth;         /* socket connections not (yet) authenticated */
  uint64_t startups_drops; /* dropped by MaxStartups, for the log */
  uint64_t startups_log_ms;
};

/* ---- conn.c (bottom) ---- */

/* Schedule a flush of the connection's output and a drain of its ready
 * channels at the end of this loop iteration. */
void sshmux__conn_mark_dirty(sshmux_server_conn_t *conn);
/* Bytes queued for the socket. */
size_t sshmux__conn_out_queued(const sshmux_server_conn_t *conn);
/* Fatal error: send DISCONNECT(reason, msg) if the transport allows, then
 * tear the connection down (deferred while callbacks run). */
void sshmux__conn_fail(sshmux_server_conn_t *conn, int reason, const char *msg);
/* The connection stops counting towards MaxStartups (authenticated or
 * closing); idempotent. */
void sshmux__conn_unauth_done(sshmux_server_conn_t *conn);
/* Reference counting around embedder callbacks. */
void sshmux__conn_ref(sshmux_server_conn_t *conn);
void sshmux__conn_unref(sshmux_server_conn_t *conn);

/* ---- transport.c ---- */

/* Send our identification and KEXINIT. */
int sshmux__transport_start(sshmux_server_conn_t *conn);
/* The largest packet_length accepted now: 256 KiB once authenticated,
 * the server's preauth_packet_max before. */
size_t sshmux__transport_in_limit(const sshmux_server_conn_t *conn);
/* Process received bytes already appended to conn->rbuf. */
void sshmux__transport_input(sshmux_server_conn_t *conn);
/* Feed bytes (copies them into rbuf, then processes): tests and fuzzers. */
int sshmux__conn_input(sshmux_server_conn_t *conn, const void *p, size_t n);
/* Outgoing packets: begin a payload with msg type, append fields to the
 * returned buffer, then end.  Non-transport messages (>= 50) are held
 * while a key exchange runs and sent after our NEWKEYS. */
typedef struct {
  sshmux__buf_t *b;
  size_t start;
  int deferred;
} sshmux__pkt_t;
int sshmux__pkt_begin(sshmux_server_conn_t *conn, sshmux__pkt_t *p,
                      uint8_t type);
int sshmux__pkt_end(sshmux_server_conn_t *conn, sshmux__pkt_t *p);
/* Send DISCONNECT (best effort). */
void sshmux__transport_disconnect(sshmux_server_conn_t *conn, uint32_t reason,
                                  const char *msg);
/* Start a server-initiated re-key if the limits say so. */
void sshmux__transport_check_rekey(sshmux_server_conn_t *conn, int force);
/* A re-key has run longer than the server's kex_timeout_ms?  Then the
 * connection is failed (KEY_EXCHANGE_FAILED) and 1 returned. */
int sshmux__transport_kex_overdue(sshmux_server_conn_t *conn);
/* Can channel data go out now (no key exchange holding output)? */
int sshmux__transport_can_send(const sshmux_server_conn_t *conn);
/* (transport.c) Set conn->rbuf's cap for the connection's stage: a packet at
 * the limit of sshmux__transport_in_limit plus the stage's slack. */
void sshmux__conn_rbuf_limit(sshmux_server_conn_t *conn);
void sshmux__transport_free(sshmux_server_conn_t *conn);
/* The algorithm negotiated in the key exchange under way (tests): 0 kex,
 * 1 host key, 2 cipher in, 3 cipher out, 4 MAC in, 5 MAC out; NULL when no
 * exchange runs. */
const char *sshmux__transport_alg(const sshmux_server_conn_t *conn, int which);
/* Tests and fuzzers: skip the handshake, as if keys were exchanged with
 * the "none" codec and `user` had authenticated. */
int sshmux__conn_test_shortcut(sshmux_server_conn_t *conn, const char *user);

/* ---- auth.c ---- */

int sshmux__auth_service_request(sshmux_server_conn_t *conn, sshmux__buf_t *b);
int sshmux__auth_request(sshmux_server_conn_t *conn, sshmux__buf_t *b,
                         const uint8_t *payload, size_t plen);
/* Forget the cached authorized_keys text. */
void sshmux__authkeys_drop(sshmux_server_t *srv);
/* authorized_keys: is blob listed in text?  Returns 1 (listed with only
 * honoured options; *flags gets SSHMUX__AK_*), 0 otherwise.  Lines that
 * list the key with an option we do not honour do not match (and are
 * logged).  Malformed lines are skipped. */
int sshmux__authkeys_match(const char *text, size_t len, const uint8_t *blob,
                           size_t blob_len, unsigned *flags);

/* ---- channel.c ---- */

int sshmux__chan_dispatch(sshmux_server_conn_t *conn, uint8_t type,
                          sshmux__buf_t *b);
int sshmux__global_request(sshmux_server_conn_t *conn, sshmux__buf_t *b);
/* Move queued channel output into packets while windows and the
 * connection allow. */
void sshmux__chan_pump(sshmux_server_conn_t *conn);
/* Run close callbacks of every channel (connection ending). */
void sshmux__chan_teardown(sshmux_server_conn_t *conn);
/* Release the storage of empty channel buffers (idle connections). */
void sshmux__chan_trim(sshmux_server_conn_t *conn);
/* Free channels and requests whose end was deferred. */
void sshmux__chan_reap(sshmux_server_conn_t *conn);
void sshmux__chan_free_all(sshmux_server_conn_t *conn);

/* ---- server.c (top) ---- */

/* A connection with no socket: bytes written go to mem_write (or are
 * dropped when it is NULL).  Identification is sent at once. */
int sshmux__conn_new_mem(sshmux_server_t *srv, sshmux_server_conn_t **out);
/* Free a memory connection (tests). */
void sshmux__conn_free_mem(sshmux_server_conn_t *conn);
/* Write what is pending now (memory connections: synchronously). */
void sshmux__conn_flush(sshmux_server_conn_t *conn);
/* Authentication succeeded (auth.c reaches it as ops->authed). */
void sshmux__conn_authed(sshmux_server_conn_t *conn);

#endif
