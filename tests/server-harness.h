/* server-harness.h -- drive one server connection in memory, as the client:
 * frame packets (with the "none" codec, or the keys of a real key exchange
 * run by th_client_kex), feed them to the connection, and parse what it
 * answers.  Used by test-server-proto.c, test-server-limits.c and
 * test-server-secrets.c (no sockets). */
#ifndef SSHMUX_SERVER_HARNESS_H
#define SSHMUX_SERVER_HARNESS_H

#include "core/core.h"
#include "server/server-int.h"
#include "test.h"

typedef struct {
  uv_loop_t loop;
  sshmux_server_t *srv;
  sshmux_server_conn_t *conn;
  sshmux__buf_t out;   /* bytes the server wrote, not yet parsed */
  int ident_seen;      /* its identification line was skipped */
  uint32_t seq_out;    /* our (client) sequence number */
  sshmux__buf_t msg;   /* the last message th_next returned */
  sshmux__codec_t *in; /* to open server packets (NULL: none) */
  uint32_t seq_in;
  sshmux__codec_t *seal;  /* to seal our packets (NULL: none) */
  uint8_t session_id[32]; /* after th_client_kex */
  int kex_done;           /* th_client_kex completed at least once */
  sshmux__buf_t i_s;      /* the server's last KEXINIT payload */
  int kexinit_fresh;      /* i_s came and no th_client_kex used it yet */
  char v_s[256];          /* the server's identification line */
} th_t;

/* What one key exchange produced (th_client_kex), for tests that look for
 * these bytes where they must not be: the shared secret (X25519 output
 * and its mpint), the exchange hash, and the six derived values. */
typedef struct {
  uint8_t shared[32];
  uint8_t k[40]; /* K as an SSH mpint, with its length prefix */
  size_t k_len;
  uint8_t h[32];
  uint8_t derived[6][64]; /* A..F */
  size_t derived_len[6];
} th_kex_t;

/* Server with an Ed25519 host key in the test dir and the callbacks given;
 * one memory connection.  shortcut: skip the handshake ("none" codec both
 * ways); user: authenticated as user (NULL: in userauth). */
void th_init(th_t *t, const sshmux_server_cbs_t *cbs, int shortcut,
             const char *user);
void th_free(th_t *t);
/* Frame payload[0..n) with the none codec and feed it. */
int th_send(th_t *t, const void *payload, size_t n);
/* Feed raw bytes. */
int th_send_raw(th_t *t, const void *p, size_t n);
/* Run the loop once without blocking (idle flushes, timers). */
void th_run(th_t *t);
/* The next message from the server: its type (t->msg positioned after
 * it), or -1 when there is none yet. */
int th_next(th_t *t);
/* Skip messages until one of type `type`; returns it or fails the test. */
void th_expect(th_t *t, int type);
/* 1 when the connection is closing. */
int th_closed(th_t *t);
/* The next u32 of the last message (fails the test if there is none). */
uint32_t th_u32(th_t *t);
/* CHANNEL_OPEN "session" from client channel `sender`. */
void th_channel_open(th_t *t, uint32_t sender, uint32_t window,
                     uint32_t maxpkt);
/* CHANNEL_DATA (ext 0) or EXTENDED_DATA of type `ext` to channel id:
 * n bytes of d, or of zeros when d is NULL. */
void th_channel_data(th_t *t, uint32_t id, uint32_t ext, const void *d,
                     size_t n);
/* Append a client KEXINIT payload to b: the kex and host key lists, enc
 * and mac both ways, compression none, first_kex_packet_follows. */
void th_put_kexinit(sshmux__buf_t *b, const char *kex, const char *hk,
                    const char *enc, const char *mac, int follows);
/* GLOBAL_REQUEST keepalive@openssh.com with want_reply. */
void th_keepalive(th_t *t);
/* Send our identification line ("SSH-2.0-harness"). */
void th_send_ident(th_t *t);
/* A new Ed25519 key and its public blob (blob initialised here). */
sshmux__hostkey_t *th_new_key(sshmux__buf_t *blob);
/* Append a publickey USERAUTH_REQUEST for user up to its signature:
 * type, user, "ssh-connection", "publickey", TRUE, alg, blob. */
void th_put_pk_request(sshmux__buf_t *b, const char *user, const char *alg,
                       const void *blob, size_t blob_len);
/* A signed publickey request for user with the Ed25519 key (blob: its
 * public blob): into sd (initialised by the caller, e.g. secret-marked)
 * the data to sign, session id sid[0..sid_len) first; into ex what follows
 * "publickey" in USERAUTH_REQUEST (TRUE, the algorithm, blob, signature). */
void th_signed_pk(sshmux__hostkey_t *key, const sshmux__buf_t *blob,
                  const char *user, const uint8_t *sid, size_t sid_len,
                  sshmux__buf_t *sd, sshmux__buf_t *ex);
/* A whole curve25519-sha256 key exchange as the client, first or re-key
 * (whoever started it: the server's KEXINIT is awaited if it has not come
 * yet, other messages before it are skipped): KEXINIT, ECDH_INIT, the
 * host signature over H checked, NEWKEYS both ways, then our codecs for
 * `cipher`/`mac` (mac NULL for AEAD) installed.  K, H and the derived
 * keys go to *out (may be NULL); the buffers that held them are wiped. */
void th_client_kex(th_t *t, const char *cipher, const char *mac, th_kex_t *out);

#endif
