/* jump-proxy -- a multi-user SSH jump proxy on libsshmux (the job sshpiper
 * and Go's sshmux do), in one file.
 *
 *   jump-proxy --listen ADDR:PORT --host-key FILE --routes FILE --users DIR
 *              [--known-hosts FILE] [--log-dir DIR]
 *
 * Downstream users log in to the proxy with their own keys: the user name
 * U is accepted only with a key listed in DIR/U.keys (OpenSSH
 * authorized_keys lines; U must be a plain name, so it never walks out of
 * DIR).  Then:
 *
 *  - routing by user name: U's sessions (ssh, scp, sftp) go to the route
 *    named U in the routes file (sshmux routes format, sshmux_routes_load);
 *  - routing by target: `ssh -W host:port U@proxy` (and so `ssh -J
 *    U@proxy host`) opens a direct-tcpip channel from U's route's upstream
 *    to host:port if the route's forward_allow allowlist lets it, else the
 *    channel is refused with a message;
 *  - key mapping: the upstream login uses the route's user and identity
 *    (its own key file, say one per downstream user), never the
 *    downstream's key, which the proxy cannot use anyway;
 *  - pooled connections: every session and forwarding of every downstream
 *    connection to the same upstream rides one authenticated connection
 *    (sshmux_pool), so an upstream OTP is typed once;
 *  - prompts (OTP, passphrase, unknown host key) are asked on this
 *    program's terminal while the loop keeps serving others;
 *  - a session log per downstream user: with --log-dir, each relayed
 *    session channel is recorded as LOGDIR/U/N-DATE.typescript (the output
 *    as `script` writes it) and .timing (`scriptreplay -t X.timing
 *    X.typescript` replays it), both 0600 in a 0700 directory.
 *
 * --listen takes a numeric address: unlike sshmuxd (loopback only), this
 * proxy is meant to serve other machines, so 0.0.0.0 or a LAN address is
 * allowed -- it says so on start-up.
 *
 * Everything runs on one libuv loop: the relay (sshmux_relay) joins the
 * server (sshmux_server) to the pool; this file adds the per-user keys
 * (the server's auth callback) and the logs (the relay's tap).
 * SIGINT/SIGTERM close the relay, then the pool. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "common/common.h"

#define MAX_KEYS_FILE (64 * 1024) /* one user's authorized keys */
#define MAX_LOGS 256              /* sessions recorded at once */

static proxy_t px; /* the loop, pool, relay and signals: common.h */
static sshmux_routes_t *routes;
static const char *users_dir, *log_dir;

/* ---- who may log in: DIR/USER.keys -------------------------------------- */

/* A plain user name (what we accept before building a path from it). */
static int plain_name(const char *s) {
  size_t n = strlen(s);

  return n > 0 && n <= 64 && s[0] != '.' && s[0] != '-' &&
         strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789._-") == n;
}

/* Standard base64 (RFC 4648) into out; the decoded length, or -1. */
static long b64_decode(const char *in, size_t n, unsigned char *out,
                       size_t max) {
  static const char al[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned acc = 0, bits = 0;
  size_t len = 0;

  for (size_t i = 0; i < n && in[i] != '='; i++) {
    const char *p = memchr(al, in[i], 64);
    if (p == NULL)
      return -1;
    acc = (acc << 6) | (unsigned)(p - al);
    if ((bits += 6) >= 8) {
      if (len == max)
        return -1;
      out[len++] = (unsigned char)(acc >> (bits -= 8));
    }
  }
  return (long)len;
}

/* Does one authorized_keys line list blob?  Only "TYPE BASE64 [comment]"
 * lines count: this example applies no key options (from=, command=, ...),
 * so a line with options never matches -- refused rather than obeyed
 * half-way. */
static int line_matches(const char *line, const uint8_t *blob, size_t len) {
  static const char *const types[] = {
      "ssh-ed25519",         "ssh-rsa",
      "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
      "ecdsa-sha2-nistp521", NULL};
  unsigned char key[1024];
  const char *sp, *b64;
  size_t tn, bn;
  long klen;

  for (tn = 0; types[tn] != NULL; tn++)
    if (strncmp(line, types[tn], strlen(types[tn])) == 0 &&
        line[strlen(types[tn])] == ' ')
      break;
  if (types[tn] == NULL) /* a comment, a blank line, options, unknown */
    return 0;
  b64 = line + strlen(types[tn]) + 1;
  sp = strpbrk(b64, " \t");
  bn = sp != NULL ? (size_t)(sp - b64) : strlen(b64);
  klen = b64_decode(b64, bn, key, sizeof(key));
  return klen > 0 && (size_t)klen == len && memcmp(key, blob, len) == 0;
}

/* The server asks, for each key a client offers, whether info->user may
 * log in with it.  A small blocking read on the loop thread: the files are
 * local and tiny (a proxy for many users would cache them). */
static int on_auth(sshmux_server_conn_t *conn,
                   const sshmux_server_auth_info_t *info, void *data) {
  char path[4096], *text = NULL, *line, *save = NULL;
  size_t len = 0;
  int ok = 0;

  (void)conn, (void)data;
  if (!plain_name(info->user) || sshmux_routes_find(routes, info->user) == NULL)
    return 0;
  snprintf(path, sizeof(path), "%s/%s.keys", users_dir, info->user);
  if (sshmux_file_read(path, MAX_KEYS_FILE, &text, &len) != 0)
    return 0;
  for (line = strtok_r(text, "\n", &save); line != NULL && !ok;
       line = strtok_r(NULL, "\n", &save))
    ok = line_matches(line, info->key_blob, info->key_len);
  sshmux_free(text);
  return ok;
}

/* ---- session logs: the relay's tap -------------------------------------- */

typedef struct {
  uint64_t id; /* the relay's channel id; 0 = free slot */
  FILE *ts, *timing;
  uint64_t last_ns;
} rec_t;

static rec_t recs[MAX_LOGS];

static rec_t *rec_find(uint64_t id) {
  for (size_t i = 0; i < MAX_LOGS; i++)
    if (recs[i].id == id)
      return &recs[i];
  return NULL;
}

static FILE *open_private(const char *path) {
  int fd =
      open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

  if (fd >= 0 && f == NULL)
    close(fd);
  return f;
}

static void rec_open(const sshmux_relay_tap_t *ev) {
  char dir[4096], base[4200], path[4300], when[64];
  time_t now = time(NULL);
  struct tm tm;
  rec_t *r = rec_find(0);

  if (r == NULL || ev->user == NULL || !plain_name(ev->user))
    return;
  snprintf(dir, sizeof(dir), "%s/%s", log_dir, ev->user);
  if (sshmux_dir_ensure(dir, 0700) != 0) {
    fprintf(stderr, "[jump-proxy] %s: cannot create\n", dir);
    return;
  }
  strftime(when, sizeof(when), "%Y%m%dT%H%M%S", gmtime_r(&now, &tm));
  snprintf(base, sizeof(base), "%s/%llu-%s", dir, (unsigned long long)ev->id,
           when);
  snprintf(path, sizeof(path), "%s.typescript", base);
  r->ts = open_private(path);
  snprintf(path, sizeof(path), "%s.timing", base);
  r->timing = open_private(path);
  if (r->ts == NULL || r->timing == NULL) {
    fprintf(stderr, "[jump-proxy] %s.*: %s\n", base, strerror(errno));
    if (r->ts != NULL)
      fclose(r->ts);
    if (r->timing != NULL)
      fclose(r->timing);
    r->ts = r->timing = NULL;
    return;
  }
  /* script(1)'s first line, which scriptreplay skips. */
  strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S+00:00", &tm);
  fprintf(r->ts, "Script started on %s [ROUTE=\"%s\" USER=\"%s\"]\n", when,
          ev->route, ev->user);
  fflush(r->ts);
  r->id = ev->id;
  r->last_ns = uv_hrtime();
}

static void on_tap(sshmux_relay_t *rl, const sshmux_relay_tap_t *ev,
                   void *data) {
  rec_t *r;

  (void)rl, (void)data;
  if (ev->type != SSHMUX_CHANNEL_SESSION)
    return; /* forwardings carry other protocols: not a screen */
  if (ev->event == SSHMUX_RELAY_TAP_OPEN) {
    rec_open(ev);
    return;
  }
  if ((r = rec_find(ev->id)) == NULL)
    return;
  if (ev->event == SSHMUX_RELAY_TAP_OUTPUT && ev->len > 0) {
    /* Classic scriptreplay timing: "seconds-since-previous bytes". */
    uint64_t now = uv_hrtime();
    fprintf(r->timing, "%.6f %zu\n", (double)(now - r->last_ns) / 1e9, ev->len);
    fwrite(ev->buf, 1, ev->len, r->ts);
    r->last_ns = now;
    fflush(r->timing);
    fflush(r->ts);
  } else if (ev->event == SSHMUX_RELAY_TAP_CLOSE) {
    char when[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S+00:00",
             gmtime_r(&now, &tm));
    fprintf(r->ts, "\nScript done on %s\n", when);
    fclose(r->ts);
    fclose(r->timing);
    memset(r, 0, sizeof(*r));
  }
}

static void on_session(sshmux_relay_t *rl, sshmux_server_channel_type_t type,
                       const char *route, const char *user, void *data) {
  (void)rl, (void)data;
  /* user is the client's choice; it passed plain_name() in on_auth. */
  printf("[jump-proxy] %s: %s channel to route %s\n",
         plain_name(user) ? user : "?",
         type == SSHMUX_CHANNEL_SESSION ? "session" : "forwarding", route);
  fflush(stdout);
}

static int usage(FILE *f, int rc) {
  fprintf(f,
          "usage: jump-proxy --listen ADDR:PORT --host-key FILE --routes FILE\n"
          "                  --users DIR [--known-hosts FILE] [--log-dir DIR]"
          "\n\n"
          "A multi-user SSH jump proxy: user U logs in with a key from\n"
          "DIR/U.keys; U's sessions go to the route U of the routes file,\n"
          "U's ssh -W host:port forwardings leave from that route's upstream\n"
          "if its forward_allow allows them.  Upstream logins use the\n"
          "route's own user and identity, over pooled connections; their\n"
          "questions are asked on this terminal.  --log-dir records every\n"
          "session as LOGDIR/U/*.typescript + *.timing (scriptreplay).\n"
          "ADDR is numeric and may be any local address (0.0.0.0 too).\n");
  return rc;
}

int main(int argc, char **argv) {
  const char *listen = NULL, *host_key = NULL, *routes_path = NULL,
             *known_hosts[2] = {NULL, NULL};
  char addr[64], err[SSHMUX_ROUTES_ERR_MAX];
  const char *colon;
  int port, rc;
  sshmux_relay_options_t ropts;
  sshmux_server_t *srv;

  for (int i = 1; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(k, "--help") == 0 || strcmp(k, "-h") == 0)
      return usage(stdout, 0);
    if (v == NULL)
      return usage(stderr, 2);
    i++;
    if (strcmp(k, "--listen") == 0)
      listen = v;
    else if (strcmp(k, "--host-key") == 0)
      host_key = v;
    else if (strcmp(k, "--routes") == 0)
      routes_path = v;
    else if (strcmp(k, "--users") == 0)
      users_dir = v;
    else if (strcmp(k, "--known-hosts") == 0)
      known_hosts[0] = v;
    else if (strcmp(k, "--log-dir") == 0)
      log_dir = v;
    else
      return usage(stderr, 2);
  }
  if (listen == NULL || host_key == NULL || routes_path == NULL ||
      users_dir == NULL || (colon = strrchr(listen, ':')) == NULL ||
      (size_t)(colon - listen) >= sizeof(addr) ||
      (port = atoi(colon + 1)) < 0 || port > 65535)
    return usage(stderr, 2);
  snprintf(addr, sizeof(addr), "%.*s", (int)(colon - listen), listen);

  signal(SIGPIPE, SIG_IGN); /* the pool writes to sockets and socketpairs */
  sshmux_set_log_cb(proxy_log, SSHMUX_LOG_WARN, NULL);
  if ((rc = sshmux_init()) != 0) {
    fprintf(stderr, "jump-proxy: init: %s\n", sshmux_strerror(rc));
    return 1;
  }
  if ((rc = sshmux_routes_load(&routes, routes_path, getenv("HOME"), err,
                               sizeof(err))) != 0) {
    fprintf(stderr, "jump-proxy: %s\n", err);
    return 1;
  }
  if (log_dir != NULL && (rc = sshmux_dir_ensure(log_dir, 0700)) != 0) {
    fprintf(stderr, "jump-proxy: %s: %s\n", log_dir, sshmux_strerror(rc));
    sshmux_routes_free(routes);
    return 1;
  }
  if (proxy_open(&px, "jump-proxy",
                 known_hosts[0] != NULL ? known_hosts : NULL) != 0)
    return proxy_end(&px, 0, routes);

  /* Routed mode: the user name picks the route.  Our auth callback, not
   * one authorized_keys file, decides who that may be. */
  sshmux_relay_options_init(&ropts);
  ropts.routes = routes;
  ropts.auth = on_auth;
  ropts.session_cb = on_session;
  if (log_dir != NULL)
    ropts.tap_cb = on_tap;
  if (proxy_relay(&px, &ropts) != 0)
    return proxy_end(&px, 0, routes);
  srv = sshmux_relay_server(px.relay);
  if ((rc = sshmux_server_add_host_key(srv, host_key,
                                       SSHMUX_SERVER_KEY_ED25519)) != 0 ||
      (rc = sshmux_server_listen(srv, addr, port)) != 0) {
    fprintf(stderr, "jump-proxy: listen on %s: %s\n", listen,
            sshmux_strerror(rc));
    return proxy_end(&px, 0, routes);
  }
  if (proxy_signals_start(&px) != 0)
    return proxy_end(&px, 0, routes);
  printf("jump-proxy: listening on %s:%d (%zu routes)%s\n", addr,
         sshmux_server_port(srv), sshmux_routes_count(routes),
         strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0
             ? ""
             : " -- reachable from other machines");
  fflush(stdout);
  uv_run(px.loop, UV_RUN_DEFAULT); /* until the signal handler closed all */
  return proxy_end(&px, 1, routes);
}
