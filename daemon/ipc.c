/* ipc.c -- the daemon's control socket: a libuv pipe (a Unix socket here,
 * a named pipe on Windows through the same uv_pipe_t code) speaking JSON
 * lines, documented in docs/ipc.md.
 *
 * It owns three things:
 *  - control clients: one request per line (at most 8 KiB), one reply
 *    line per request, plus event lines for clients that subscribed to
 *    prompts.  A client is bounded in every way a peer could abuse: line
 *    length (over-long lines get an error and are skipped), idle time
 *    (30 s without a complete line), replies it does not read (dropped past
 *    1 MiB queued), and the number of clients (64; the 65th gets an error
 *    and is closed).  Every malformed request gets an error reply; none
 *    can stop the loop from serving the others.
 *  - prompts: the pool's prompt handler.  A prompt goes to the subscribed
 *    agents (`sshmuxd prompt`), else to the configured askpass program,
 *    else to the waiting client's terminal (serve's relay), serve's own
 *    terminal, a desktop ssh-askpass,
 *    else it is refused at once: fail closed, never a hang.  Any client
 *    may list and answer pending prompts.
 *  - streams: `connect` turns a client's connection into raw bytes both
 *    ways with a direct-tcpip channel on a pooled jump connection (the
 *    ProxyCommand mode), with back-pressure both ways.
 *
 * Only the owner's processes may connect: the directory is 0700 and ours,
 * the socket 0600, and each accepted connection's peer uid is checked.
 * One daemon per user: an flock()ed lock file beside the socket decides,
 * so a socket left by a crashed daemon is recognised as stale and
 * replaced, while a live one is reported. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "sshmuxd.h"

#define MAX_PROMPTS 64
#define MAX_ANSWERS 16
#define MAX_EARLY (64 * 1024)
#define STREAM_LOW_WATER (256 * 1024)

typedef enum { C_LINES, C_CONNECTING, C_STREAM } client_state_t;

typedef struct client_s client_t;
typedef struct ipc_prompt_s ipc_prompt_t;

struct client_s {
  client_t *next, *prev; /* ipc->clients while not closing */
  sshmuxd_ipc_t *ipc;
  uv_pipe_t pipe;
  uv_timer_t timer;
  uv_shutdown_t shutdown_req;
  int refs; /* handles, write requests and the upstream channel */
  client_state_t state;
  unsigned closing : 1;
  unsigned subscribed : 1;
  unsigned stream_counted : 1;
  unsigned close_after_write : 1;
  unsigned stop_after_write : 1;
  unsigned pipe_eof : 1;   /* the client sent EOF (stream) */
  unsigned shut_down : 1;  /* we sent EOF to the client (stream) */
  unsigned up_paused : 1;  /* upstream reads paused for our queue */
  unsigned ch_closing : 1; /* sshmux_upchan_close called */
  size_t queued;           /* bytes in unfinished writes */
  uint64_t last_active;    /* loop time of the last complete request */
  sshmux__linebuf_t lb;
  sshmux_upchan_t *ch;
  char *early; /* stream bytes that came with the connect line */
  size_t early_len;
  char target[300];
};

struct ipc_prompt_s {
  ipc_prompt_t *next;
  sshmuxd_ipc_t *ipc;
  uint64_t id;
  sshmux_prompt_t *p;
  sshmuxd_askpass_t *ask; /* running askpass, if any */
  const char *prog;       /* the askpass program it runs */
  char desktop[PATH_MAX]; /* a desktop askpass found (prog points here) */
  size_t ask_idx;
  char *answers[MAX_ANSWERS];
};

struct sshmuxd_ipc_s {
  sshmuxd_ipc_config_t cfg;
  uv_pipe_t server;
  int lock_fd;
  int bound;
  int closing;
  int live; /* server handle + client structs not yet freed */
  char dir[1024], sock[1100], lockpath[1100];
  client_t *clients;
  unsigned nclients, nstreams, nsubscribers;
  ipc_prompt_t *prompts;
  unsigned nprompts;
  sshmux_relay_t *relay; /* serve's, for prompts in a client's terminal */
  uint64_t next_prompt_id;
  uint64_t started_ms;
  uint64_t read_timeout_ms;
  char rbuf[64 * 1024];
};

static void client_close(client_t *c);
static void maybe_free_ipc(sshmuxd_ipc_t *ipc);

/* ---- writing to clients ---- */

typedef struct {
  uv_write_t req;
  client_t *c;
  size_t len;
  char data[];
} wreq_t;

static void client_unref(client_t *c) {
  sshmuxd_ipc_t *ipc = c->ipc;

  if (--c->refs > 0)
    return;
  sshmux__wipe(&c->lb, sizeof(c->lb));
  sshmux__free(c->early);
  sshmux__free(c);
  ipc->live--;
  maybe_free_ipc(ipc);
}

static void on_write(uv_write_t *req, int status) {
  wreq_t *w = (wreq_t *)req;
  client_t *c = w->c;

  c->queued -= w->len;
  sshmux__free_secret(w, sizeof(*w) + w->len);
  if (!c->closing) {
    if (status < 0) {
      client_close(c);
    } else if (c->queued == 0 && c->stop_after_write) {
      c->stop_after_write = 0;
      if (c->ipc->cfg.on_stop != NULL && !c->ipc->closing)
        c->ipc->cfg.on_stop(c->ipc->cfg.data);
    } else if (c->queued == 0 && c->close_after_write) {
      client_close(c);
    } else if (c->up_paused && c->queued < STREAM_LOW_WATER && c->ch) {
      c->up_paused = 0;
      sshmux_upchan_read_start(c->ch);
    }
  }
  client_unref(c);
}

/* Queue bytes for the client.  0, or < 0 when the client was dropped. */
static int client_send(client_t *c, const char *data, size_t len) {
  wreq_t *w;
  uv_buf_t b;
  int r;

  if (c->closing)
    return SSHMUX_ECLOSED;
  if (c->state != C_STREAM && c->queued + len > SSHMUXD_IPC_MAX_QUEUED) {
    sshmuxd_log(SSHMUX_LOG_WARN, "control client does not read its replies; "
                                 "dropping it");
    client_close(c);
    return SSHMUX_ETOOLONG;
  }
  if ((w = sshmux__malloc(sizeof(*w) + len)) == NULL) {
    client_close(c);
    return SSHMUX_ENOMEM;
  }
  w->c = c;
  w->len = len;
  memcpy(w->data, data, len);
  b = uv_buf_init(w->data, (unsigned)len);
  if ((r = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_write)) != 0) {
    sshmux__free_secret(w, sizeof(*w) + len);
    client_close(c);
    return r;
  }
  c->refs++;
  c->queued += len;
  return 0;
}

static void send_json(client_t *c, sshmux__jsonw_t *w) {
  if (sshmux__jsonw_line(w) == 0)
    client_send(c, w->s, w->len);
  else
    client_close(c);
  sshmux__jsonw_free(w);
}

/* {"ok":false,"error":NAME,"message":TEXT} (+ the request's id). */
static void send_error(client_t *c, const sshmux__json_t *req, int err,
                       const char *msg) {
  sshmux__jsonw_t w;
  const sshmux__json_t *id = sshmux__json_get(req, "id");

  sshmux__jsonw_init(&w, 16384);
  sshmux__jsonw_obj_open(&w);
  if (id != NULL && id->type == SSHMUX__JSON_INT)
    sshmux__jsonw_kint(&w, "id", id->num);
  sshmux__jsonw_kbool(&w, "ok", 0);
  sshmux__jsonw_kstr(&w, "error", sshmux_err_name(err));
  sshmux__jsonw_kstr(&w, "message", msg != NULL ? msg : sshmux_strerror(err));
  sshmux__jsonw_obj_close(&w);
  send_json(c, &w);
}

/* Start a success reply: {"id":..,"ok":true, ... (caller adds and closes) */
static void reply_open(sshmux__jsonw_t *w, const sshmux__json_t *req,
                       size_t max) {
  const sshmux__json_t *id = sshmux__json_get(req, "id");

  sshmux__jsonw_init(w, max);
  sshmux__jsonw_obj_open(w);
  if (id != NULL && id->type == SSHMUX__JSON_INT)
    sshmux__jsonw_kint(w, "id", id->num);
  sshmux__jsonw_kbool(w, "ok", 1);
}

static void send_ok(client_t *c, const sshmux__json_t *req) {
  sshmux__jsonw_t w;
  reply_open(&w, req, 1024);
  sshmux__jsonw_obj_close(&w);
  send_json(c, &w);
}

/* ---- prompts ---- */

static const char *kind_name(sshmux_prompt_kind_t k) {
  switch (k) {
  case SSHMUX_PROMPT_KBDINT:
    return "kbdint";
  case SSHMUX_PROMPT_PASSPHRASE:
    return "passphrase";
  case SSHMUX_PROMPT_PASSWORD:
    return "password";
  case SSHMUX_PROMPT_HOSTKEY:
    return "hostkey";
  }
  return "unknown";
}

static void write_prompt(sshmux__jsonw_t *w, const ipc_prompt_t *ip) {
  const sshmux_prompt_t *p = ip->p;
  size_t i, n = sshmux_prompt_count(p);

  sshmux__jsonw_obj_open(w);
  sshmux__jsonw_kuint(w, "id", ip->id);
  sshmux__jsonw_kstr(w, "kind", kind_name(sshmux_prompt_kind(p)));
  sshmux__jsonw_kstr(w, "target", sshmux_prompt_target(p));
  sshmux__jsonw_kstr(w, "name", sshmux_prompt_name(p));
  sshmux__jsonw_kstr(w, "instruction", sshmux_prompt_instruction(p));
  sshmux__jsonw_kstr(w, "notice", sshmux_prompt_notice(p));
  sshmux__jsonw_kstr(w, "hostkey_type", sshmux_prompt_hostkey_type(p));
  sshmux__jsonw_kstr(w, "fingerprint", sshmux_prompt_hostkey_fingerprint(p));
  sshmux__jsonw_kuint(w, "time_left_ms", sshmux_prompt_time_left(p));
  sshmux__jsonw_key(w, "questions");
  sshmux__jsonw_arr_open(w);
  for (i = 0; i < n; i++) {
    sshmux__jsonw_obj_open(w);
    sshmux__jsonw_kstr(w, "text", sshmux_prompt_text(p, i));
    sshmux__jsonw_kbool(w, "echo", sshmux_prompt_echo(p, i));
    sshmux__jsonw_obj_close(w);
  }
  sshmux__jsonw_arr_close(w);
  sshmux__jsonw_obj_close(w);
}

/* An event line to every subscribed agent. */
static void broadcast_prompt(sshmuxd_ipc_t *ipc, const ipc_prompt_t *ip,
                             const char *event) {
  client_t *c, *next;

  for (c = ipc->clients; c != NULL; c = next) {
    sshmux__jsonw_t w;
    next = c->next;
    if (!c->subscribed)
      continue;
    sshmux__jsonw_init(&w, 65536);
    sshmux__jsonw_obj_open(&w);
    sshmux__jsonw_kstr(&w, "event", event);
    if (strcmp(event, "prompt") == 0) {
      sshmux__jsonw_key(&w, "prompt");
      write_prompt(&w, ip);
    } else {
      sshmux__jsonw_kuint(&w, "prompt", ip->id);
    }
    sshmux__jsonw_obj_close(&w);
    send_json(c, &w);
  }
}

/* Forget a prompt that has been released (answered or cancelled). */
static void prompt_remove(sshmuxd_ipc_t *ipc, ipc_prompt_t *ip) {
  ipc_prompt_t **pp;

  for (pp = &ipc->prompts; *pp != NULL; pp = &(*pp)->next)
    if (*pp == ip) {
      *pp = ip->next;
      break;
    }
  ipc->nprompts--;
  if (ip->ask != NULL)
    sshmuxd_askpass_cancel(ip->ask);
  for (size_t i = 0; i < MAX_ANSWERS; i++)
    if (ip->answers[i] != NULL)
      sshmux__free_secret(ip->answers[i], strlen(ip->answers[i]));
  sshmux__free(ip);
}

static ipc_prompt_t *prompt_find(sshmuxd_ipc_t *ipc, uint64_t id) {
  for (ipc_prompt_t *ip = ipc->prompts; ip != NULL; ip = ip->next)
    if (ip->id == id)
      return ip;
  return NULL;
}

static void prompt_cancel(sshmuxd_ipc_t *ipc, ipc_prompt_t *ip,
                          const char *event) {
  sshmux_prompt_cancel(ip->p);
  broadcast_prompt(ipc, ip, event);
  prompt_remove(ipc, ip);
}

static void askpass_next(sshmuxd_ipc_t *ipc, ipc_prompt_t *ip);

static void on_askpass(int status, const char *answer, void *data) {
  ipc_prompt_t *ip = data;

  ip->ask = NULL;
  if (status != 0) {
    sshmuxd_log(SSHMUX_LOG_WARN, "askpass for %s: %s; refusing the prompt",
                sshmux_prompt_target(ip->p), sshmux_strerror(status));
    ip->ask_idx = SIZE_MAX; /* marks "cancel" for askpass_next */
  } else if (answer != NULL && ip->ask_idx < MAX_ANSWERS) {
    ip->answers[ip->ask_idx] = sshmux__strdup(answer);
    if (ip->answers[ip->ask_idx] == NULL)
      ip->ask_idx = SIZE_MAX;
    else
      ip->ask_idx++;
  } else {
    ip->ask_idx++; /* confirm: exit 0 means yes */
  }
}

static void askpass_done(int status, const char *answer, void *data);

/* Run askpass for the next question of ip, or answer when all are in. */
static void askpass_next(sshmuxd_ipc_t *ipc, ipc_prompt_t *ip) {
  const sshmux_prompt_t *p = ip->p;
  const char *prog = ip->prog;
  size_t n = sshmux_prompt_count(p);
  int hostkey = sshmux_prompt_kind(p) == SSHMUX_PROMPT_HOSTKEY;
  char text[2048];
  int r;

  if (ip->ask_idx == SIZE_MAX) {
    prompt_cancel(ipc, ip, "cancelled");
    return;
  }
  if ((hostkey && ip->ask_idx >= 1) || (!hostkey && ip->ask_idx >= n)) {
    const char *ans[MAX_ANSWERS];
    for (size_t i = 0; i < n && i < MAX_ANSWERS; i++)
      ans[i] = ip->answers[i];
    r = sshmux_prompt_answer(ip->p, ans, hostkey ? 0 : n);
    if (r != 0)
      sshmuxd_log(SSHMUX_LOG_WARN, "answering prompt %llu: %s",
                  (unsigned long long)ip->id, sshmux_strerror(r));
    broadcast_prompt(ipc, ip, "answered");
    prompt_remove(ipc, ip);
    return;
  }
  if (hostkey)
    snprintf(text, sizeof(text),
             "sshmux: %s\nUnknown host key %s %s\nTrust it and remember it?",
             sshmux_prompt_target(p),
             sshmux_prompt_hostkey_type(p) ? sshmux_prompt_hostkey_type(p) : "",
             sshmux_prompt_hostkey_fingerprint(p)
                 ? sshmux_prompt_hostkey_fingerprint(p)
                 : "");
  else
    snprintf(text, sizeof(text), "sshmux: %s\n%s%s%s", sshmux_prompt_target(p),
             sshmux_prompt_instruction(p),
             sshmux_prompt_instruction(p)[0] ? "\n" : "",
             sshmux_prompt_text(p, ip->ask_idx));
  r = sshmuxd_askpass_run(ipc->cfg.loop, prog, text, hostkey,
                          sshmux_prompt_time_left(p) + 1000, askpass_done, ip,
                          &ip->ask);
  if (r != 0) {
    sshmuxd_log(SSHMUX_LOG_WARN, "cannot run askpass %s: %s", prog,
                sshmux_strerror(r));
    prompt_cancel(ipc, ip, "cancelled");
  }
}

static void askpass_done(int status, const char *answer, void *data) {
  ipc_prompt_t *ip = data;

  on_askpass(status, answer, ip);
  askpass_next(ip->ipc, ip);
}

/* An ssh-askpass for a desktop session, as ssh would pick it: only with
 * DISPLAY or WAYLAND_DISPLAY set; $SSH_ASKPASS (absolute, or a name on
 * PATH), else the usual installed ones.  0 and its path in out, or -1. */
static int desktop_askpass(char *out, size_t size) {
  static const char *const known[] = {"/usr/bin/ssh-askpass",
                                      "/usr/lib/ssh/x11-ssh-askpass"};
  const char *d = getenv("DISPLAY"), *w = getenv("WAYLAND_DISPLAY");
  const char *sa = getenv("SSH_ASKPASS"), *path = getenv("PATH");
  size_t i;

  if ((d == NULL || *d == '\0') && (w == NULL || *w == '\0'))
    return -1;
  if (sa != NULL && *sa != '\0') {
    if (sa[0] == '/') {
      if (access(sa, X_OK) == 0 && (size_t)snprintf(out, size, "%s", sa) < size)
        return 0;
    } else if (strchr(sa, '/') == NULL && path != NULL) {
      const char *p = path;
      while (*p != '\0') {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0 && p[0] == '/' &&
            (size_t)snprintf(out, size, "%.*s/%s", (int)n, p, sa) < size &&
            access(out, X_OK) == 0)
          return 0;
        p += n + (e != NULL);
      }
    }
  }
  for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    if (access(known[i], X_OK) == 0 &&
        (size_t)snprintf(out, size, "%s", known[i]) < size)
      return 0;
  return -1;
}

static ipc_prompt_t *ip_new(sshmuxd_ipc_t *ipc, sshmux_prompt_t *p) {
  ipc_prompt_t *ip;

  if (ipc->closing || ipc->nprompts >= MAX_PROMPTS) {
    sshmuxd_log(SSHMUX_LOG_WARN,
                "too many pending prompts; refusing one "
                "for %s",
                sshmux_prompt_target(p));
    sshmux_prompt_cancel(p);
    return NULL;
  }
  if ((ip = sshmux__calloc(1, sizeof(*ip))) == NULL) {
    sshmux_prompt_cancel(p);
    return NULL;
  }
  ip->id = ++ipc->next_prompt_id;
  ip->ipc = ipc;
  ip->p = p;
  ip->next = ipc->prompts;
  ipc->prompts = ip;
  ipc->nprompts++;
  return ip;
}

static void route_after_relay(sshmuxd_ipc_t *ipc, ipc_prompt_t *ip);

/* The client's terminal had nothing for it: the next places. */
static void on_relay_declined(sshmux_relay_t *relay, sshmux_prompt_t *p,
                              void *data) {
  sshmuxd_ipc_t *ipc = data;
  ipc_prompt_t *ip;

  (void)relay;
  if ((ip = ip_new(ipc, p)) != NULL)
    route_after_relay(ipc, ip);
}

/* Where a prompt goes, in order: the subscribed agents; the configured
 * askpass; the terminal of the client session waiting for the login (the
 * relay); serve's own terminal; on a desktop, an ssh-askpass found there
 * (with a notification); else it is refused at once. */
static void on_prompt(sshmux_prompt_t *p, void *data) {
  sshmuxd_ipc_t *ipc = data;
  ipc_prompt_t *ip;
  int r;

  if ((ip = ip_new(ipc, p)) == NULL)
    return;
  sshmuxd_log(SSHMUX_LOG_INFO, "prompt %llu (%s) for %s",
              (unsigned long long)ip->id, kind_name(sshmux_prompt_kind(p)),
              sshmux_prompt_target(p));
  if (sshmux_routes_notify(ipc->cfg.routes))
    sshmuxd_notify(ipc->cfg.loop, "sshmux: an answer is needed",
                   sshmux_prompt_target(p));
  if (ipc->nsubscribers > 0) {
    broadcast_prompt(ipc, ip, "prompt");
    return;
  }
  if (sshmux_routes_askpass(ipc->cfg.routes) != NULL) {
    ip->prog = sshmux_routes_askpass(ipc->cfg.routes);
    askpass_next(ipc, ip);
    return;
  }
  if (ipc->relay != NULL) {
    r = sshmux_relay_ask(ipc->relay, p, on_relay_declined, ipc);
    if (r == 0) {
      /* The relay asks in the client's terminal and answers it; a
       * withdrawal goes to it (on_withdrawn). */
      sshmuxd_log(SSHMUX_LOG_INFO,
                  "prompt %llu offered to the terminal of "
                  "the session waiting for it",
                  (unsigned long long)ip->id);
      prompt_remove(ipc, ip); /* handed on: not cancelled */
      return;
    }
    if (r != SSHMUX_ENOTFOUND)
      sshmuxd_log(SSHMUX_LOG_WARN, "prompt %llu: relay: %s",
                  (unsigned long long)ip->id, sshmux_strerror(r));
  }
  route_after_relay(ipc, ip);
}

static void route_after_relay(sshmuxd_ipc_t *ipc, ipc_prompt_t *ip) {
  sshmux_prompt_t *p = ip->p;

  if (ipc->cfg.fallback != NULL) {
    /* serve's own terminal asks it; we forget it (withdrawals of prompts
     * we do not know go to the fallback too). */
    prompt_remove(ipc, ip); /* handed on: not cancelled */
    ipc->cfg.fallback(p, NULL);
    return;
  }
  if (desktop_askpass(ip->desktop, sizeof(ip->desktop)) == 0) {
    sshmuxd_log(SSHMUX_LOG_INFO, "prompt %llu: asking with %s (desktop)",
                (unsigned long long)ip->id, ip->desktop);
    if (!sshmux_routes_notify(ipc->cfg.routes))
      sshmuxd_notify(ipc->cfg.loop, "sshmux: an answer is needed",
                     sshmux_prompt_target(p));
    ip->prog = ip->desktop;
    askpass_next(ipc, ip);
    return;
  }
  /* Fail closed: nobody could answer, and a login that waits for nobody
   * would hang the client for the whole prompt timeout. */
  sshmuxd_log(SSHMUX_LOG_WARN,
              "%s asks for input but no prompt agent is running and no "
              "askpass is configured: refused (run `sshmuxd prompt`)",
              sshmux_prompt_target(p));
  prompt_cancel(ipc, ip, "cancelled");
}

static void on_withdrawn(sshmux_prompt_t *p, void *data) {
  sshmuxd_ipc_t *ipc = data;

  for (ipc_prompt_t *ip = ipc->prompts; ip != NULL; ip = ip->next)
    if (ip->p == p) {
      prompt_cancel(ipc, ip, "withdrawn");
      return;
    }
  if (ipc->relay != NULL && sshmux_relay_withdraw(ipc->relay, p))
    return;
  if (ipc->cfg.fallback_withdrawn != NULL)
    ipc->cfg.fallback_withdrawn(p, NULL);
}

void sshmuxd_ipc_set_relay(sshmuxd_ipc_t *ipc, sshmux_relay_t *relay) {
  if (ipc != NULL)
    ipc->relay = relay;
}

/* ---- commands ---- */

static void cmd_status(client_t *c, const sshmux__json_t *req) {
  sshmuxd_ipc_t *ipc = c->ipc;
  sshmux_pool_stats_t ps;
  sshmux_conn_stats_t *cs = NULL;
  size_t n = 0, i;
  sshmux__jsonw_t w;

  sshmux_pool_stats(ipc->cfg.pool, &ps, NULL, 0, &n);
  if (n > 4096)
    n = 4096;
  if (n > 0 && (cs = sshmux__calloc(n, sizeof(*cs))) == NULL) {
    send_error(c, req, SSHMUX_ENOMEM, NULL);
    return;
  }
  sshmux_pool_stats(ipc->cfg.pool, &ps, cs, n, &i);
  if (i < n)
    n = i;
  reply_open(&w, req, SSHMUXD_IPC_MAX_REPLY);
  sshmux__jsonw_kstr(&w, "version", sshmux_version_string());
  sshmux__jsonw_kint(&w, "pid", (int64_t)getpid());
  sshmux__jsonw_kuint(&w, "uptime_s",
                      (uv_now(ipc->cfg.loop) - ipc->started_ms) / 1000);
  sshmux__jsonw_kbool(&w, "locked", sshmux_pool_is_locked(ipc->cfg.pool));
  sshmux__jsonw_kint(&w, "port", ipc->cfg.port);
  sshmux__jsonw_kstr(&w, "socket", ipc->sock);
  sshmux__jsonw_kstr(&w, "routes", sshmux_routes_path(ipc->cfg.routes));
  sshmux__jsonw_kuint(&w, "agents", ipc->nsubscribers);
  sshmux__jsonw_kuint(&w, "clients", ipc->nclients);
  sshmux__jsonw_kuint(&w, "streams", ipc->nstreams);
  sshmux__jsonw_kuint(&w, "prompts", ipc->nprompts);
  sshmux__jsonw_key(&w, "pool");
  sshmux__jsonw_obj_open(&w);
  sshmux__jsonw_kuint(&w, "connects", ps.connects);
  sshmux__jsonw_kuint(&w, "logins", ps.logins);
  sshmux__jsonw_kuint(&w, "login_failures", ps.login_failures);
  sshmux__jsonw_kuint(&w, "channels_opened", ps.channels_opened);
  sshmux__jsonw_kuint(&w, "connections", ps.connections);
  sshmux__jsonw_obj_close(&w);
  sshmux__jsonw_key(&w, "connections");
  sshmux__jsonw_arr_open(&w);
  for (i = 0; i < n; i++) {
    sshmux__jsonw_obj_open(&w);
    sshmux__jsonw_kstr(&w, "target", cs[i].target);
    sshmux__jsonw_kstr(&w, "jump_chain", cs[i].jump_chain);
    sshmux__jsonw_kstr(&w, "state", sshmux_conn_state_name(cs[i].state));
    sshmux__jsonw_kuint(&w, "channels", cs[i].channels);
    sshmux__jsonw_kuint(&w, "sessions", cs[i].sessions);
    sshmux__jsonw_kuint(&w, "learned_limit", cs[i].learned_limit);
    sshmux__jsonw_kuint(&w, "dependents", cs[i].dependents);
    sshmux__jsonw_kuint(&w, "bytes_in", cs[i].bytes_in);
    sshmux__jsonw_kuint(&w, "bytes_out", cs[i].bytes_out);
    sshmux__jsonw_kuint(&w, "age_ms", cs[i].age_ms);
    sshmux__jsonw_kuint(&w, "idle_ms", cs[i].idle_ms);
    sshmux__jsonw_kint(&w, "expires_in_ms", cs[i].expires_in_ms);
    sshmux__jsonw_kstr(&w, "auth_methods", cs[i].auth_methods);
    sshmux__jsonw_kbool(&w, "overflow", cs[i].overflow);
    sshmux__jsonw_obj_close(&w);
  }
  sshmux__jsonw_arr_close(&w);
  sshmux__jsonw_obj_close(&w);
  sshmux__free(cs);
  send_json(c, &w);
}

static void cmd_lock(client_t *c, const sshmux__json_t *req, int lock) {
  sshmux__jsonw_t w;

  if (lock)
    sshmux_pool_lock(c->ipc->cfg.pool);
  else
    sshmux_pool_unlock(c->ipc->cfg.pool);
  sshmuxd_log(SSHMUX_LOG_INFO, "pool %s by control request",
              lock ? "locked" : "unlocked");
  reply_open(&w, req, 1024);
  sshmux__jsonw_kbool(&w, "locked", sshmux_pool_is_locked(c->ipc->cfg.pool));
  sshmux__jsonw_obj_close(&w);
  send_json(c, &w);
}

static void cmd_prompts(client_t *c, const sshmux__json_t *req) {
  sshmux__jsonw_t w;
  ipc_prompt_t *ip;

  reply_open(&w, req, SSHMUXD_IPC_MAX_REPLY);
  sshmux__jsonw_key(&w, "prompts");
  sshmux__jsonw_arr_open(&w);
  for (ip = c->ipc->prompts; ip != NULL; ip = ip->next)
    write_prompt(&w, ip);
  sshmux__jsonw_arr_close(&w);
  sshmux__jsonw_obj_close(&w);
  send_json(c, &w);
}

static void cmd_subscribe(client_t *c, const sshmux__json_t *req) {
  sshmuxd_ipc_t *ipc = c->ipc;
  sshmux__jsonw_t w;

  if (!c->subscribed) {
    c->subscribed = 1;
    ipc->nsubscribers++;
  }
  reply_open(&w, req, 1024);
  sshmux__jsonw_kbool(&w, "subscribed", 1);
  sshmux__jsonw_obj_close(&w);
  send_json(c, &w);
  /* Then every prompt already pending, as events. */
  for (ipc_prompt_t *ip = ipc->prompts; ip != NULL && !c->closing;
       ip = ip->next) {
    sshmux__jsonw_init(&w, 65536);
    sshmux__jsonw_obj_open(&w);
    sshmux__jsonw_kstr(&w, "event", "prompt");
    sshmux__jsonw_key(&w, "prompt");
    write_prompt(&w, ip);
    sshmux__jsonw_obj_close(&w);
    send_json(c, &w);
  }
}

static ipc_prompt_t *req_prompt(client_t *c, const sshmux__json_t *req) {
  const sshmux__json_t *v = sshmux__json_get(req, "prompt");
  ipc_prompt_t *ip;

  if (v == NULL || v->type != SSHMUX__JSON_INT || v->num <= 0) {
    send_error(c, req, SSHMUX_EINVAL, "\"prompt\": a prompt id is required");
    return NULL;
  }
  if ((ip = prompt_find(c->ipc, (uint64_t)v->num)) == NULL) {
    send_error(c, req, SSHMUX_ENOTFOUND,
               "no such prompt (answered, withdrawn or expired)");
    return NULL;
  }
  return ip;
}

static void cmd_answer(client_t *c, const sshmux__json_t *req) {
  sshmuxd_ipc_t *ipc = c->ipc;
  const sshmux__json_t *arr = sshmux__json_get(req, "answers"), *a;
  const char *ans[MAX_ANSWERS];
  ipc_prompt_t *ip;
  size_t n = 0, want;
  int r;

  if ((ip = req_prompt(c, req)) == NULL)
    return;
  want = sshmux_prompt_kind(ip->p) == SSHMUX_PROMPT_HOSTKEY
             ? 0
             : sshmux_prompt_count(ip->p);
  if (arr != NULL && arr->type != SSHMUX__JSON_ARRAY) {
    send_error(c, req, SSHMUX_EINVAL, "\"answers\" must be an array");
    return;
  }
  for (a = arr != NULL ? arr->child : NULL; a != NULL; a = a->next) {
    if (a->type != SSHMUX__JSON_STRING || n >= MAX_ANSWERS) {
      send_error(c, req, SSHMUX_EINVAL,
                 "\"answers\" must be at most 16 strings");
      return;
    }
    ans[n++] = a->str;
  }
  if (n != want) {
    char msg[128];
    snprintf(msg, sizeof(msg), "prompt %llu wants %zu answer%s, got %zu",
             (unsigned long long)ip->id, want, want == 1 ? "" : "s", n);
    send_error(c, req, SSHMUX_EINVAL, msg);
    return;
  }
  r = sshmux_prompt_answer(ip->p, ans, n);
  sshmuxd_log(SSHMUX_LOG_INFO, "prompt %llu answered over the control socket",
              (unsigned long long)ip->id);
  broadcast_prompt(ipc, ip, "answered");
  prompt_remove(ipc, ip);
  if (r != 0)
    send_error(c, req, r, NULL);
  else
    send_ok(c, req);
}

static void cmd_cancel(client_t *c, const sshmux__json_t *req) {
  ipc_prompt_t *ip;

  if ((ip = req_prompt(c, req)) == NULL)
    return;
  prompt_cancel(c->ipc, ip, "cancelled");
  send_ok(c, req);
}

/* ---- connect: a raw stream over a direct-tcpip channel ---- */

static void stream_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf);

static void stream_finish(client_t *c) {
  /* Our side is done: EOF to the client, then close once it is flushed. */
  if (c->closing)
    return;
  if (!c->shut_down) {
    c->shut_down = 1;
    c->close_after_write = 1;
    if (c->queued == 0)
      client_close(c);
  }
}

static void up_data(sshmux_upchan_t *ch, int stream, const char *buf,
                    size_t len) {
  client_t *c = sshmux_upchan_get_data(ch);
  if (stream != SSHMUX_STREAM_STDOUT || c->closing)
    return;
  if (client_send(c, buf, len) != 0)
    return;
  if (c->queued >= SSHMUXD_IPC_MAX_QUEUED && !c->up_paused) {
    c->up_paused = 1;
    sshmux_upchan_read_stop(ch);
  }
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  client_t *c = req->data;
  (void)status;
  client_unref(c);
}

static void up_eof(sshmux_upchan_t *ch) {
  client_t *c = sshmux_upchan_get_data(ch);

  if (c->closing || c->shut_down)
    return;
  c->shut_down = 1;
  c->shutdown_req.data = c;
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->pipe, on_shutdown) == 0)
    c->refs++;
  if (c->pipe_eof)
    client_close(c);
}

static void up_closed(sshmux_upchan_t *ch, int status) {
  client_t *c = sshmux_upchan_get_data(ch);

  (void)status;
  if (c->closing)
    return;
  /* Flush what upstream sent, then close. */
  c->close_after_write = 1;
  if (c->queued == 0)
    client_close(c);
}

static void up_drain(sshmux_upchan_t *ch) {
  client_t *c = sshmux_upchan_get_data(ch);

  if (!c->closing && c->state == C_STREAM && !c->pipe_eof)
    uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, stream_read);
}

static void up_close_cb(sshmux_upchan_t *ch) {
  client_t *c = sshmux_upchan_get_data(ch);
  client_unref(c);
}

static void stream_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  client_t *c = s->data;
  int r;

  (void)buf;
  if (nread == 0 || c->closing)
    return;
  if (nread < 0) {
    uv_read_stop(s);
    c->pipe_eof = 1;
    if (nread != UV_EOF || c->ch == NULL) {
      client_close(c);
      return;
    }
    sshmux_upchan_send_eof(c->ch);
    if (c->shut_down)
      client_close(c);
    return;
  }
  r = sshmux_upchan_write(c->ch, buf->base, (size_t)nread);
  if (r < 0)
    stream_finish(c);
  else if (r == 1)
    uv_read_stop(s); /* resumed by up_drain */
}

static void up_open(sshmux_upchan_t *ch, int status) {
  client_t *c = sshmux_upchan_get_data(ch);
  sshmuxd_ipc_t *ipc = c->ipc;
  sshmux__jsonw_t w;

  if (status < 0) {
    char msg[600];
    if (!c->ch_closing) {
      c->ch = NULL;
      client_unref(c); /* the library frees the channel */
    }
    if (c->closing)
      return;
    if (status == SSHMUX_EPROMPT_CANCELLED || status == SSHMUX_ENOPROMPTER)
      snprintf(msg, sizeof(msg),
               "%s: the login needs an answer (OTP, passphrase or host key) "
               "and nobody gave one; run `sshmuxd prompt` in another terminal "
               "or set askpass in the routes file, then try again",
               c->target);
    else
      snprintf(msg, sizeof(msg), "%s: %s", c->target,
               sshmux_upchan_last_error(ch)[0] ? sshmux_upchan_last_error(ch)
                                               : sshmux_strerror(status));
    send_error(c, NULL, status, msg);
    c->close_after_write = 1;
    return;
  }
  if (c->closing)
    return;
  c->state = C_STREAM;
  sshmuxd_log(SSHMUX_LOG_INFO, "connect stream open to %s", c->target);
  if (sshmux_routes_notify(ipc->cfg.routes))
    sshmuxd_notify(ipc->cfg.loop, "sshmux: new session", c->target);
  reply_open(&w, NULL, 1024);
  sshmux__jsonw_kbool(&w, "stream", 1);
  sshmux__jsonw_obj_close(&w);
  send_json(c, &w);
  if (c->closing)
    return;
  if (c->early_len > 0) {
    sshmux_upchan_write(c->ch, c->early, c->early_len);
    sshmux__free(c->early);
    c->early = NULL;
    c->early_len = 0;
  }
  uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, stream_read);
}

static void cmd_connect(client_t *c, const sshmux__json_t *req) {
  static const sshmux_upchan_callbacks_t cbs = {up_data, up_eof, up_closed,
                                                up_drain};
  sshmuxd_ipc_t *ipc = c->ipc;
  const sshmux_routes_t *routes = ipc->cfg.routes;
  const char *host = sshmux__json_get_str(req, "host");
  const char *via = sshmux__json_get_str(req, "via");
  int64_t port = sshmux__json_get_int(req, "port", 22);
  const sshmux_route_t *route = NULL, *jump = NULL;
  const sshmux_target_t *jt;
  sshmuxd_chain_t chain;
  sshmux_upchan_spec_t spec;
  char msg[600];
  int r;

  if (host == NULL || host[0] == '\0' || strlen(host) > 255 || port < 1 ||
      port > 65535) {
    send_error(c, req, SSHMUX_EINVAL,
               "connect needs \"host\" (1-255 bytes) and \"port\" 1-65535");
    return;
  }
  if (ipc->nstreams >= SSHMUXD_IPC_MAX_STREAMS) {
    send_error(c, req, SSHMUX_EBUSY, "too many connect streams");
    return;
  }
  if (via == NULL && (route = sshmux_routes_find(routes, host)) != NULL) {
    /* A route's name: its own host through its own jump. */
    jump = sshmux_route_via(route);
    if (jump == NULL) {
      snprintf(msg, sizeof(msg),
               "route %s is reached directly, not through a jump host: "
               "connect to it without sshmuxd connect",
               host);
      send_error(c, req, SSHMUX_EINVAL, msg);
      return;
    }
    host = sshmux_route_host(route);
    port = sshmux_route_port(route);
  } else {
    const char *name = via != NULL ? via : SSHMUX_ROUTES_DEFAULT_JUMP;
    jump = sshmux_routes_find_jump(routes, name);
    if (jump == NULL)
      jump = sshmux_routes_find(routes, name);
    if (jump == NULL) {
      snprintf(msg, sizeof(msg),
               via != NULL ? "no jump or route named %s in %s"
                           : "no default [jump] in %s: name one with --via",
               via != NULL ? via : sshmux_routes_path(routes),
               sshmux_routes_path(routes));
      send_error(c, req, SSHMUX_ENOTFOUND, msg);
      return;
    }
    if (!sshmux_routes_forward_allowed(jump, host, (int)port)) {
      snprintf(msg, sizeof(msg), "%s:%d is not in the forward_allow of %s (%s)",
               host, (int)port, sshmux_route_name(jump),
               sshmux_route_forward_allow_text(jump));
      send_error(c, req, SSHMUX_EPOLICY, msg);
      return;
    }
  }
  jt = sshmuxd_chain_build(&chain, jump);
  if (jt == NULL) {
    send_error(c, req, SSHMUX_EINTERNAL, NULL);
    return;
  }
  snprintf(c->target, sizeof(c->target), "%s:%d via %s", host, (int)port,
           sshmux_route_name(jump));
  memset(&spec, 0, sizeof(spec));
  spec.type = SSHMUX_UPCHAN_DIRECT_TCPIP;
  spec.host = host;
  spec.port = (int)port;
  spec.orig_host = "127.0.0.1";
  spec.orig_port = 0;
  r = sshmux_pool_open_channel(ipc->cfg.pool, jt, &spec, &cbs, c, up_open,
                               &c->ch);
  if (r != 0) {
    send_error(c, req, r, NULL);
    return;
  }
  c->refs++;
  c->state = C_CONNECTING;
  /* A stream is no longer a control client: it has its own bound, and no
   * read timeout (ssh sessions idle for hours). */
  ipc->nclients--;
  ipc->nstreams++;
  c->stream_counted = 1;
  uv_timer_stop(&c->timer);
  uv_read_stop((uv_stream_t *)&c->pipe);
}

static void handle_line(client_t *c, const char *line, size_t len) {
  sshmux__json_t *req = NULL;
  const char *cmd;
  int r;

  if (len == 0)
    return; /* blank lines are allowed between requests */
  r = sshmux__json_parse(line, len, &req);
  if (r != 0) {
    send_error(c, NULL, r, "request is not valid JSON (see docs/ipc.md)");
    return;
  }
  cmd = sshmux__json_get_str(req, "cmd");
  if (req->type != SSHMUX__JSON_OBJECT || cmd == NULL) {
    send_error(c, req, SSHMUX_EINVAL,
               "a request is an object with a \"cmd\" string");
  } else if (strcmp(cmd, "status") == 0) {
    cmd_status(c, req);
  } else if (strcmp(cmd, "stop") == 0) {
    sshmuxd_log(SSHMUX_LOG_INFO, "stop asked over the control socket");
    send_ok(c, req);
    if (!c->closing)
      c->stop_after_write = 1;
  } else if (strcmp(cmd, "lock") == 0) {
    cmd_lock(c, req, 1);
  } else if (strcmp(cmd, "unlock") == 0) {
    cmd_lock(c, req, 0);
  } else if (strcmp(cmd, "prompts") == 0) {
    cmd_prompts(c, req);
  } else if (strcmp(cmd, "subscribe") == 0) {
    cmd_subscribe(c, req);
  } else if (strcmp(cmd, "answer") == 0) {
    cmd_answer(c, req);
  } else if (strcmp(cmd, "cancel") == 0) {
    cmd_cancel(c, req);
  } else if (strcmp(cmd, "connect") == 0) {
    cmd_connect(c, req);
  } else {
    send_error(c, req, SSHMUX_EINVAL, "unknown command");
  }
  sshmux__json_free(req);
}

/* ---- control clients ---- */

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  client_t *c = h->data;
  (void)size;
  /* One buffer for all: every read is consumed before the next. */
  buf->base = c->ipc->rbuf;
  buf->len = sizeof(c->ipc->rbuf);
}

static void on_handle_closed(uv_handle_t *h) {
  client_unref(h->data);
}

static void client_close(client_t *c) {
  sshmuxd_ipc_t *ipc = c->ipc;
  int stop = c->stop_after_write;

  if (c->closing)
    return;
  c->closing = 1;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    ipc->clients = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  if (c->stream_counted)
    ipc->nstreams--;
  else
    ipc->nclients--;
  if (c->subscribed)
    ipc->nsubscribers--;
  if (c->ch != NULL && !c->ch_closing) {
    c->ch_closing = 1;
    sshmux_upchan_close(c->ch, up_close_cb);
  }
  uv_close((uv_handle_t *)&c->pipe, on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  if (stop && ipc->cfg.on_stop != NULL && !ipc->closing)
    ipc->cfg.on_stop(ipc->cfg.data);
}

static void on_timer(uv_timer_t *t) {
  client_t *c = t->data;

  if (c->closing || c->state != C_LINES)
    return;
  if (c->subscribed && sshmux__linebuf_pending(&c->lb) == 0) {
    /* An agent waiting for prompts is idle by design. */
    uv_timer_start(&c->timer, on_timer, c->ipc->read_timeout_ms, 0);
    return;
  }
  send_error(c, NULL, SSHMUX_ETIMEOUT,
             "no complete request line in time; closing");
  c->close_after_write = 1;
  if (!c->closing && c->queued == 0)
    client_close(c);
}

static void client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  client_t *c = s->data;
  const char *data = buf->base;
  size_t n;

  if (c->closing || nread == 0)
    return;
  if (nread < 0) {
    /* EOF: finish sending what is queued (a client may half-close after
     * its request), then close. */
    uv_read_stop(s);
    c->close_after_write = 1;
    if (c->queued == 0 && !c->stop_after_write)
      client_close(c);
    return;
  }
  n = (size_t)nread;
  while (n > 0 && !c->closing && c->state == C_LINES) {
    char *line;
    size_t len;
    int r = sshmux__linebuf_take(&c->lb, &data, &n, &line, &len);
    if (r == SSHMUX_ETOOLONG) {
      send_error(c, NULL, r, "request line longer than 8192 bytes; skipped");
    } else if (r == 1) {
      c->last_active = uv_now(c->ipc->cfg.loop);
      handle_line(c, line, len);
      if (!c->closing && c->state == C_LINES)
        uv_timer_start(&c->timer, on_timer, c->ipc->read_timeout_ms, 0);
    }
  }
  if (n > 0 && !c->closing && c->state == C_CONNECTING) {
    /* Bytes for the stream that came with the connect line. */
    char *e;
    if (c->early_len + n > MAX_EARLY ||
        (e = sshmux__realloc(c->early, c->early_len + n)) == NULL) {
      client_close(c);
      return;
    }
    memcpy(e + c->early_len, data, n);
    c->early = e;
    c->early_len += n;
  }
}

/* 0 if the peer runs as our uid (or the OS cannot tell us: Windows). */
static int peer_ok(uv_pipe_t *p) {
#if defined(_WIN32)
  (void)p;
  return 0;
#else
  uv_os_fd_t fd;
  uid_t uid;
  if (uv_fileno((uv_handle_t *)p, &fd) != 0)
    return -1;
#if defined(SO_PEERCRED)
  {
    struct ucred cr;
    socklen_t len = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
      return -1;
    uid = cr.uid;
  }
#else
  {
    gid_t gid;
    if (getpeereid(fd, &uid, &gid) != 0)
      return -1;
  }
#endif
  return uid == geteuid() ? 0 : -1;
#endif
}

/* Make room for a new client by dropping the one idle the longest (not a
 * subscribed agent, nor one that is mid-line): otherwise 64 clients that
 * connect and say nothing would lock out `status`, `stop` and every
 * ProxyCommand for up to the read timeout. */
static int evict_idle(sshmuxd_ipc_t *ipc, client_t *except) {
  client_t *c, *victim = NULL;

  for (c = ipc->clients; c != NULL; c = c->next)
    if (c != except && c->state == C_LINES && !c->subscribed &&
        !c->close_after_write &&
        (victim == NULL || c->last_active < victim->last_active))
      victim = c;
  if (victim == NULL)
    return -1;
  sshmuxd_log(SSHMUX_LOG_WARN, "too many control clients: dropping the one "
                               "idle the longest");
  client_close(victim);
  return 0;
}

static void on_connection(uv_stream_t *server, int status) {
  sshmuxd_ipc_t *ipc = server->data;
  client_t *c;

  if (status < 0 || ipc->closing)
    return;
  if ((c = sshmux__calloc(1, sizeof(*c))) == NULL)
    return;
  c->ipc = ipc;
  c->refs = 2;
  ipc->live++;
  sshmux__linebuf_init(&c->lb);
  uv_pipe_init(ipc->cfg.loop, &c->pipe, 0);
  uv_timer_init(ipc->cfg.loop, &c->timer);
  c->pipe.data = c;
  c->timer.data = c;
  c->next = ipc->clients;
  if (ipc->clients != NULL)
    ipc->clients->prev = c;
  ipc->clients = c;
  ipc->nclients++;
  if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
    client_close(c);
    return;
  }
  if (peer_ok(&c->pipe) != 0) {
    sshmuxd_log(SSHMUX_LOG_WARN, "control connection from another user "
                                 "refused");
    client_close(c);
    return;
  }
  c->last_active = uv_now(ipc->cfg.loop);
  if (ipc->nclients > SSHMUXD_IPC_MAX_CLIENTS && evict_idle(ipc, c) != 0) {
    send_error(c, NULL, SSHMUX_EBUSY, "too many control clients");
    c->close_after_write = 1;
    return;
  }
  uv_timer_start(&c->timer, on_timer, ipc->read_timeout_ms, 0);
  uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, client_read);
}

/* ---- start / close ---- */

static void maybe_free_ipc(sshmuxd_ipc_t *ipc) {
  if (ipc->closing && ipc->live == 0)
    sshmux__free(ipc);
}

static void on_server_closed(uv_handle_t *h) {
  sshmuxd_ipc_t *ipc = h->data;
  ipc->live--;
  maybe_free_ipc(ipc);
}

/* Ask the daemon that holds the lock who it is, for the message. */
static void report_running(const char *sock) {
  char buf[4096];
  size_t n = 0;
  int fd = sshmuxd_control_connect(1);
  long pid = 0;

  if (fd >= 0) {
    static const char req[] = "{\"cmd\":\"status\"}\n";
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1)) {
      ssize_t r;
      while (n < sizeof(buf) - 1 &&
             (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0) {
        n += (size_t)r;
        if (memchr(buf, '\n', n) != NULL)
          break;
      }
    }
    close(fd);
    buf[n] = '\0';
    {
      const char *p = strstr(buf, "\"pid\":");
      if (p != NULL)
        pid = strtol(p + 6, NULL, 10);
    }
  }
  if (pid > 0)
    sshmuxd_err("sshmuxd is already running (pid %ld, control socket %s)", pid,
                sock);
  else
    sshmuxd_err("sshmuxd is already running (control socket %s)", sock);
}

int sshmuxd_ipc_start(const sshmuxd_ipc_config_t *cfg, sshmuxd_ipc_t **out) {
  sshmuxd_ipc_t *ipc;
  struct stat st;
  const char *env;
  mode_t old;
  int r;

  *out = NULL;
  if ((ipc = sshmux__calloc(1, sizeof(*ipc))) == NULL)
    return SSHMUX_ENOMEM;
  ipc->cfg = *cfg;
  ipc->lock_fd = -1;
  ipc->read_timeout_ms = SSHMUXD_IPC_READ_TIMEOUT_MS;
  /* For tests only: a shorter read timeout than 30 s. */
  if ((env = getenv("SSHMUX_IPC_READ_TIMEOUT_MS")) != NULL && atoi(env) > 0)
    ipc->read_timeout_ms = (uint64_t)atoi(env);
  if (sshmuxd_control_paths(ipc->dir, sizeof(ipc->dir), ipc->sock,
                            sizeof(ipc->sock)) != 0 ||
      sshmuxd_join(ipc->lockpath, sizeof(ipc->lockpath), ipc->dir,
                   "control.lock") != 0) {
    sshmux__free(ipc);
    return SSHMUX_EINVAL;
  }
  if ((r = sshmuxd_control_dir_check(ipc->dir, 1)) != 0) {
    sshmux__free(ipc);
    return r;
  }
  /* One daemon per user: whoever holds the lock owns the socket.  The
   * kernel drops the lock when its holder dies, however it dies. */
  ipc->lock_fd =
      open(ipc->lockpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (ipc->lock_fd < 0) {
    r = -errno;
    sshmuxd_err("%s: %s", ipc->lockpath, strerror(errno));
    sshmux__free(ipc);
    return r;
  }
  if (flock(ipc->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    r = errno == EWOULDBLOCK ? SSHMUX_EBUSY : -errno;
    if (r == SSHMUX_EBUSY)
      report_running(ipc->sock);
    else
      sshmuxd_err("%s: %s", ipc->lockpath, strerror(errno));
    close(ipc->lock_fd);
    sshmux__free(ipc);
    return r;
  }
  /* We hold the lock, so a socket still there is a crashed daemon's. */
  if (lstat(ipc->sock, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      sshmuxd_err("%s exists and is not a socket; refusing to replace it",
                  ipc->sock);
      close(ipc->lock_fd);
      sshmux__free(ipc);
      return SSHMUX_EEXISTS;
    }
    sshmuxd_log(SSHMUX_LOG_INFO, "replacing stale control socket %s",
                ipc->sock);
    unlink(ipc->sock);
  }
  uv_pipe_init(cfg->loop, &ipc->server, 0);
  ipc->server.data = ipc;
  ipc->live = 1;
  /* Created 0600 (the umask is process-wide, but nothing else runs on
   * this thread meanwhile, and workers create files with explicit
   * modes). */
  old = umask(0177);
  r = uv_pipe_bind(&ipc->server, ipc->sock);
  umask(old);
  if (r == 0) {
    ipc->bound = 1;
    chmod(ipc->sock, 0600);
    r = uv_listen((uv_stream_t *)&ipc->server, 128, on_connection);
  }
  if (r != 0) {
    sshmuxd_err("control socket %s: %s", ipc->sock, uv_strerror(r));
    ipc->closing = 1;
    ipc->live = 1;
    if (ipc->bound)
      unlink(ipc->sock);
    close(ipc->lock_fd);
    uv_close((uv_handle_t *)&ipc->server, on_server_closed);
    return r;
  }
  ipc->started_ms = uv_now(cfg->loop);
  sshmux_pool_set_prompt_handler(cfg->pool, on_prompt, on_withdrawn, ipc);
  sshmuxd_log(SSHMUX_LOG_INFO, "control socket %s", ipc->sock);
  *out = ipc;
  return 0;
}

void sshmuxd_ipc_set_port(sshmuxd_ipc_t *ipc, int port) {
  if (ipc != NULL)
    ipc->cfg.port = port;
}

void sshmuxd_ipc_close(sshmuxd_ipc_t *ipc) {
  if (ipc == NULL || ipc->closing)
    return;
  ipc->closing = 1;
  sshmux_pool_set_prompt_handler(ipc->cfg.pool, NULL, NULL, NULL);
  while (ipc->prompts != NULL)
    prompt_cancel(ipc, ipc->prompts, "cancelled");
  while (ipc->clients != NULL)
    client_close(ipc->clients);
  if (ipc->bound)
    unlink(ipc->sock);
  if (ipc->lock_fd >= 0)
    close(ipc->lock_fd);
  uv_close((uv_handle_t *)&ipc->server, on_server_closed);
}
