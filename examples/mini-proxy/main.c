/* mini-proxy -- the smallest useful jump proxy on libsshmux, for people who
 * embed the library in their own.
 *
 *   mini-proxy --remote user@host[:port] [--via user@jump[:port]]
 *              --port N --host-key FILE --authorized-keys FILE
 *              [--identity FILE] [--known-hosts FILE]
 *
 * It listens on 127.0.0.1:N as an SSH server (sshmux_server_*), lets in the
 * keys listed in --authorized-keys, and relays every channel any client
 * opens (ssh, scp, sftp, ssh -L) onto ONE pooled, authenticated upstream
 * connection to --remote (through --via if given) with the relay API
 * (sshmux_relay_*).  The first client pays for the login; later ones reuse
 * it.  Questions the upstream login asks (OTP codes, passphrases, whether
 * to trust an unknown host key) are asked on this program's terminal
 * through the pool's prompt callbacks, while the loop keeps serving.
 *
 * The relay takes its upstream from a routes object, and routes only come
 * from a file (sshmux_routes_load), so the one route is written to a
 * private temporary file, loaded, and the file removed at once.
 *
 * Everything runs on one libuv loop; SIGINT/SIGTERM close the relay, then
 * the pool, and the loop ends when nothing is left. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <uv.h>

#include "sshmux.h"

#define MAX_PROMPTS 16 /* questions waiting for the person, at most */
#define MAX_ANSWERS 8  /* answers in one keyboard-interactive round */

static uv_loop_t *loop;
static sshmux_pool_t *pool;
static sshmux_relay_t *relay;
static sshmux_routes_t *routes;
static uv_signal_t sigint, sigterm;
static int stopping;

/* ---- the terminal prompter ---------------------------------------------
 * Prompts queue up; the first one is on screen.  stdin is read line by line
 * through libuv (a tty or a pipe), so typing never blocks the loop.  Every
 * prompt handed to us is answered or cancelled exactly once: that is what
 * releases it. */
static struct {
  sshmux_prompt_t *q[MAX_PROMPTS];
  size_t n, asked; /* q[0]'s answers collected so far */
  char *answers[MAX_ANSWERS];
  union {
    uv_tty_t tty;
    uv_pipe_t pipe;
  } in;
  int reading, echo_off;
  struct termios saved;
  char line[1024];
  size_t len;
} T;

static void set_echo(int on) {
  struct termios t;

  if (!on && !T.echo_off && isatty(0) && tcgetattr(0, &T.saved) == 0) {
    t = T.saved;
    t.c_lflag &= ~(tcflag_t)ECHO;
    T.echo_off = tcsetattr(0, TCSANOW, &t) == 0;
  } else if (on && T.echo_off) {
    (void)tcsetattr(0, TCSANOW, &T.saved);
    T.echo_off = 0;
    fputc('\n', stderr);
  }
}

static void ask_current(void);

/* Forget q[0] (already answered or cancelled), wipe what was typed, and
 * show the next question. */
static void pop_prompt(void) {
  set_echo(1);
  for (size_t i = 0; i < T.asked; i++) {
    explicit_bzero(T.answers[i], strlen(T.answers[i])); /* secrets */
    free(T.answers[i]);
  }
  T.asked = 0;
  memmove(T.q, T.q + 1, --T.n * sizeof(T.q[0]));
  ask_current();
}

static void ask_current(void) {
  sshmux_prompt_t *p;

  if (T.n == 0)
    return;
  p = T.q[0];
  if (!T.reading || sshmux_prompt_count(p) > MAX_ANSWERS) {
    /* Nobody to ask, or more than we hold: fail the login closed. */
    sshmux_prompt_cancel(p);
    pop_prompt();
    return;
  }
  if (T.asked == 0) { /* a header, once per prompt */
    fprintf(stderr, "\n[mini-proxy] login to %s\n", sshmux_prompt_target(p));
    if (sshmux_prompt_notice(p) != NULL)
      fprintf(stderr, "  %s\n", sshmux_prompt_notice(p));
    if (*sshmux_prompt_name(p) != '\0')
      fprintf(stderr, "  %s\n", sshmux_prompt_name(p));
    if (*sshmux_prompt_instruction(p) != '\0')
      fprintf(stderr, "  %s\n", sshmux_prompt_instruction(p));
  }
  if (sshmux_prompt_kind(p) == SSHMUX_PROMPT_HOSTKEY) {
    /* The name and instruction above show the key's type and fingerprint. */
    fprintf(stderr, "  Trust this host key? (yes/no) ");
  } else if (sshmux_prompt_count(p) == 0) { /* information only */
    (void)sshmux_prompt_answer(p, NULL, 0);
    pop_prompt();
    return;
  } else {
    fprintf(stderr, "  %s", sshmux_prompt_text(p, T.asked));
    set_echo(sshmux_prompt_echo(p, T.asked));
  }
  fflush(stderr);
}

/* One line typed by the person: an answer to q[0]'s current question. */
static void on_line(char *line) {
  sshmux_prompt_t *p = T.n > 0 ? T.q[0] : NULL;
  int rc = 0;

  if (p == NULL)
    return; /* nothing was asked: ignore stray typing */
  if (sshmux_prompt_kind(p) == SSHMUX_PROMPT_HOSTKEY) {
    /* Answering a host-key prompt trusts the key: the pool appends it to
     * its known_hosts file.  Anything but "yes" rejects it. */
    if (strcmp(line, "yes") == 0)
      rc = sshmux_prompt_answer(p, NULL, 0);
    else
      sshmux_prompt_cancel(p);
  } else {
    if ((T.answers[T.asked] = strdup(line)) == NULL) {
      sshmux_prompt_cancel(p);
      pop_prompt();
      return;
    }
    if (++T.asked < sshmux_prompt_count(p)) {
      set_echo(1);
      ask_current();
      return;
    }
    rc = sshmux_prompt_answer(p, (const char *const *)T.answers, T.asked);
  }
  if (rc != 0) /* it had been withdrawn meanwhile */
    fprintf(stderr, "[mini-proxy] too late: %s\n", sshmux_strerror(rc));
  pop_prompt();
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h, (void)hint;
  buf->base = T.line + T.len;
  buf->len = sizeof(T.line) - 1 - T.len;
}

static void stop_reading(void) {
  if (T.reading) {
    T.reading = 0;
    uv_close((uv_handle_t *)&T.in, NULL);
  }
  while (T.n > 0) { /* nobody can answer any more */
    sshmux_prompt_cancel(T.q[0]);
    pop_prompt();
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  char *nl;

  (void)s, (void)buf;
  if (nread < 0) { /* EOF or error on stdin */
    stop_reading();
    return;
  }
  T.len += (size_t)nread;
  T.line[T.len] = '\0';
  while ((nl = strchr(T.line, '\n')) != NULL) {
    size_t used = (size_t)(nl - T.line) + 1;
    *nl = '\0';
    if (nl > T.line && nl[-1] == '\r')
      nl[-1] = '\0';
    on_line(T.line);
    memmove(T.line, T.line + used, T.len - used + 1);
    T.len -= used;
    explicit_bzero(T.line + T.len + 1, used); /* what was typed may be secret */
  }
  if (T.len == sizeof(T.line) - 1) /* a line longer than any answer */
    T.len = 0;
}

/* The pool's prompt callback: queue it, and ask if nothing else is on
 * screen.  Called on the loop thread. */
static void on_prompt(sshmux_prompt_t *p, void *data) {
  (void)data;
  if (T.n == MAX_PROMPTS) {
    sshmux_prompt_cancel(p);
    return;
  }
  T.q[T.n++] = p;
  if (T.n == 1)
    ask_current();
}

/* The pool gave up on a prompt (timeout, connection lost): we still owe it
 * one cancel, which releases it. */
static void on_withdrawn(sshmux_prompt_t *p, void *data) {
  (void)data;
  for (size_t i = 0; i < T.n; i++) {
    if (T.q[i] != p)
      continue;
    sshmux_prompt_cancel(p);
    if (i == 0) {
      fprintf(stderr, "\n[mini-proxy] question withdrawn\n");
      pop_prompt();
    } else {
      memmove(T.q + i, T.q + i + 1, (--T.n - i) * sizeof(T.q[0]));
    }
    return;
  }
}

static void prompter_start(void) {
  int rc = UV_EINVAL;

  switch (uv_guess_handle(0)) {
  case UV_TTY:
    rc = uv_tty_init(loop, &T.in.tty, 0, 1);
    break;
  case UV_NAMED_PIPE:
    if ((rc = uv_pipe_init(loop, &T.in.pipe, 0)) == 0 &&
        (rc = uv_pipe_open(&T.in.pipe, 0)) != 0)
      uv_close((uv_handle_t *)&T.in, NULL);
    break;
  default:
    break; /* /dev/null, a file: prompts will be cancelled */
  }
  if (rc == 0 &&
      (rc = uv_read_start((uv_stream_t *)&T.in, on_alloc, on_read)) != 0)
    uv_close((uv_handle_t *)&T.in, NULL); /* initialised, so close it */
  T.reading = rc == 0;
  if (!T.reading)
    fprintf(stderr, "[mini-proxy] stdin is no terminal: upstream questions "
                    "will be refused\n");
  sshmux_pool_set_prompt_handler(pool, on_prompt, on_withdrawn, NULL);
}

/* ---- the route ---------------------------------------------------------- */

/* "user@host[:port]" into its parts; only plain names, so nothing a user
 * types can add lines to the routes file. */
static int parse_hop(const char *s, char *user, char *host, int *port) {
  const char *at = strchr(s, '@'), *colon;
  const char *ok = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789._-";

  if (at == NULL || at == s || at - s >= 64)
    return -1;
  snprintf(user, 64, "%.*s", (int)(at - s), s);
  colon = strrchr(at + 1, ':');
  *port = colon != NULL ? atoi(colon + 1) : 22;
  snprintf(host, 256, "%.*s",
           (int)(colon != NULL ? colon - at - 1 : (ptrdiff_t)strlen(at + 1)),
           at + 1);
  if (*host == '\0' || strspn(user, ok) != strlen(user) ||
      strspn(host, ok) != strlen(host) || *port <= 0 || *port > 65535)
    return -1;
  return 0;
}

/* Write the route "remote" (and the jump "via") to a private file, load
 * it, remove the file.  identity is an absolute path or NULL. */
static int make_routes(const char *remote, const char *via,
                       const char *identity) {
  char user[64], host[256], juser[64], jhost[256], ini[2048];
  char dir[PATH_MAX], path[PATH_MAX + 16], err[SSHMUX_ROUTES_ERR_MAX];
  const char *tmp = getenv("TMPDIR");
  int port, jport = 0, n, rc;

  if (parse_hop(remote, user, host, &port) != 0 ||
      (via != NULL && parse_hop(via, juser, jhost, &jport) != 0)) {
    fprintf(stderr, "mini-proxy: expected user@host[:port]\n");
    return -1;
  }
  if (identity != NULL && strpbrk(identity, "\r\n;#") != NULL) {
    fprintf(stderr, "mini-proxy: unusable --identity path\n");
    return -1;
  }
  n = snprintf(ini, sizeof(ini),
               "[routes.remote]\nhost = %s\nport = %d\n"
               "user = %s\n%s%s%s%s",
               host, port, user,
               via != NULL ? "jump = via\n" : "direct = true\n",
               identity != NULL ? "identity = " : "",
               identity != NULL ? identity : "", identity != NULL ? "\n" : "");
  if (via != NULL && n > 0 && (size_t)n < sizeof(ini))
    n += snprintf(ini + n, sizeof(ini) - (size_t)n,
                  "[jumps.via]\nhost = %s\nport = %d\nuser = %s\n%s%s%s", jhost,
                  jport, juser, identity != NULL ? "identity = " : "",
                  identity != NULL ? identity : "",
                  identity != NULL ? "\n" : "");
  snprintf(dir, sizeof(dir), "%s/mini-proxy-XXXXXX",
           tmp != NULL && *tmp == '/' ? tmp : "/tmp");
  if (n < 0 || (size_t)n >= sizeof(ini) || mkdtemp(dir) == NULL) {
    fprintf(stderr, "mini-proxy: cannot write the route: %s\n",
            strerror(errno));
    return -1;
  }
  snprintf(path, sizeof(path), "%s/routes.ini", dir);
  rc = sshmux_file_write_atomic(path, ini, (size_t)n, 0600);
  if (rc != 0)
    fprintf(stderr, "mini-proxy: %s: %s\n", path, sshmux_strerror(rc));
  else if ((rc = sshmux_routes_load(&routes, path, getenv("HOME"), err,
                                    sizeof(err))) != 0)
    fprintf(stderr, "mini-proxy: %s\n", err);
  (void)unlink(path);
  (void)rmdir(dir);
  return rc == 0 ? 0 : -1;
}

/* ---- shutdown ----------------------------------------------------------- */

static void pool_closed(sshmux_pool_t *p, void *data) {
  (void)p, (void)data;
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
}

static void relay_closed(sshmux_relay_t *r, void *data) {
  (void)r, (void)data;
  relay = NULL;
  stop_reading();
  sshmux_pool_close(pool, pool_closed, NULL); /* after the relay: it borrows */
}

static void on_signal(uv_signal_t *h, int sig) {
  (void)h, (void)sig;
  if (stopping++)
    return;
  fprintf(stderr, "[mini-proxy] shutting down\n");
  sshmux_relay_close(relay, relay_closed, NULL);
}

static void on_log(sshmux_log_level_t level, const char *msg, void *data) {
  (void)data;
  fprintf(stderr, "[libsshmux %s] %s\n", sshmux_log_level_name(level), msg);
}

static int usage(void) {
  fprintf(stderr,
          "usage: mini-proxy --remote user@host[:port] [--via user@jump[:port]]"
          "\n                  --port N --host-key FILE --authorized-keys FILE"
          "\n                  [--identity FILE] [--known-hosts FILE]\n");
  return 2;
}

int main(int argc, char **argv) {
  const char *remote = NULL, *via = NULL, *host_key = NULL, *auth_keys = NULL,
             *identity = NULL, *known_hosts[2] = {NULL, NULL};
  char identity_abs[PATH_MAX];
  int port = -1, rc;
  sshmux_pool_options_t popts;
  sshmux_relay_options_t ropts;
  sshmux_server_t *srv;

  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (strcmp(k, "--remote") == 0)
      remote = v;
    else if (strcmp(k, "--via") == 0)
      via = v;
    else if (strcmp(k, "--port") == 0)
      port = atoi(v);
    else if (strcmp(k, "--host-key") == 0)
      host_key = v;
    else if (strcmp(k, "--authorized-keys") == 0)
      auth_keys = v;
    else if (strcmp(k, "--identity") == 0)
      identity = v;
    else if (strcmp(k, "--known-hosts") == 0)
      known_hosts[0] = v;
    else
      return usage();
  }
  if (argc % 2 == 0 || remote == NULL || port < 0 || port > 65535 ||
      host_key == NULL || auth_keys == NULL)
    return usage();
  if (identity != NULL && realpath(identity, identity_abs) == NULL) {
    fprintf(stderr, "mini-proxy: %s: %s\n", identity, strerror(errno));
    return 1;
  }
  signal(SIGPIPE, SIG_IGN); /* the pool writes to sockets and socketpairs */
  sshmux_set_log_cb(on_log, SSHMUX_LOG_WARN, NULL);
  if ((rc = sshmux_init()) != 0 ||
      make_routes(remote, via, identity != NULL ? identity_abs : NULL) != 0) {
    if (rc != 0)
      fprintf(stderr, "mini-proxy: init: %s\n", sshmux_strerror(rc));
    return 1;
  }
  loop = uv_default_loop();
  /* Signal handles exist from here on (started once we listen), so the
   * shutdown path can always close them. */
  if ((rc = uv_signal_init(loop, &sigint)) != 0 ||
      (rc = uv_signal_init(loop, &sigterm)) != 0) {
    fprintf(stderr, "mini-proxy: signals: %s\n", sshmux_strerror(rc));
    sshmux_routes_free(routes);
    return 1;
  }

  /* The pool: upstream connections, shared by every relayed channel. */
  sshmux_pool_options_init(&popts);
  popts.known_hosts = known_hosts[0] != NULL ? known_hosts : NULL;
  if ((rc = sshmux_pool_new(loop, &popts, &pool)) != 0) {
    fprintf(stderr, "mini-proxy: pool: %s\n", sshmux_strerror(rc));
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    rc = 1;
    goto out;
  }
  prompter_start();

  /* The relay, in direct mode: whatever user name a client logs in with,
   * its channels go to the one route. */
  sshmux_relay_options_init(&ropts);
  ropts.routes = routes;
  ropts.fixed_route = sshmux_routes_find(routes, "remote");
  if ((rc = sshmux_relay_new(loop, pool, &ropts, &relay)) != 0) {
    fprintf(stderr, "mini-proxy: relay: %s\n", sshmux_strerror(rc));
    goto fail;
  }
  /* Its server: our host key (made on first run), who may connect, where. */
  srv = sshmux_relay_server(relay);
  if ((rc = sshmux_server_add_host_key(srv, host_key,
                                       SSHMUX_SERVER_KEY_ED25519)) != 0 ||
      (rc = sshmux_server_set_authorized_keys(srv, auth_keys)) != 0 ||
      (rc = sshmux_server_listen(srv, "127.0.0.1", port)) != 0) {
    fprintf(stderr, "mini-proxy: server: %s\n", sshmux_strerror(rc));
    goto fail;
  }
  if ((rc = uv_signal_start(&sigint, on_signal, SIGINT)) != 0 ||
      (rc = uv_signal_start(&sigterm, on_signal, SIGTERM)) != 0) {
    fprintf(stderr, "mini-proxy: signals: %s\n", sshmux_strerror(rc));
    goto fail;
  }
  printf("mini-proxy: listening on 127.0.0.1:%d, relaying to %s%s%s\n",
         sshmux_server_port(srv), remote, via != NULL ? " via " : "",
         via != NULL ? via : "");
  fflush(stdout);

  uv_run(loop, UV_RUN_DEFAULT); /* until the signal handler closed all */
  rc = 0;
  goto out;

fail: /* close what exists, then let the loop finish the closing */
  stopping = 1;
  if (relay != NULL)
    sshmux_relay_close(relay, relay_closed, NULL);
  else
    relay_closed(NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  rc = 1;
out:
  set_echo(1);
  sshmux_routes_free(routes); /* after the relay, which borrowed it */
  (void)uv_loop_close(loop);
  return rc;
}
