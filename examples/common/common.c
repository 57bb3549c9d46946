/* examples/common/common.c -- the terminal prompter, hop parsing, route
 * targets and a proxy's shutdown shared by the example programs (see common.h
 * for the contracts). Everything here runs on the loop thread. */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common.h"

#define MAX_PROMPTS 16 /* questions waiting for the person, at most */
#define MAX_ANSWERS 8  /* answers in one keyboard-interactive round */

/* ---- the terminal prompter ---- */

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
  const char *tag;
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
    fprintf(stderr, "\n[%s] login to %s\n", T.tag, sshmux_prompt_target(p));
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
    fprintf(stderr, "[%s] too late: %s\n", T.tag, sshmux_strerror(rc));
  pop_prompt();
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h, (void)hint;
  buf->base = T.line + T.len;
  buf->len = sizeof(T.line) - 1 - T.len;
}

void prompter_stop(void) {
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
    prompter_stop();
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
      fprintf(stderr, "\n[%s] question withdrawn\n", T.tag);
      pop_prompt();
    } else {
      memmove(T.q + i, T.q + i + 1, (--T.n - i) * sizeof(T.q[0]));
    }
    return;
  }
}

int prompter_start(uv_loop_t *loop, sshmux_pool_t *pool, const char *tag) {
  int rc = UV_EINVAL;

  T.tag = tag;
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
    fprintf(stderr,
            "[%s] stdin is no terminal: upstream questions "
            "will be refused\n",
            tag);
  sshmux_pool_set_prompt_handler(pool, on_prompt, on_withdrawn, NULL);
  return T.reading;
}

size_t prompter_pending(void) {
  return T.n;
}

void prompter_restore_tty(void) {
  if (T.echo_off)
    set_echo(1);
}

/* ---- hops and targets ---- */

int parse_hop(const char *s, char user[64], char host[256], int *port) {
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

int routes_add_hop(sshmux_routes_t *r, int is_jump, const char *name,
                   const char *arg, const char *identity, const char *jump,
                   int line, const char *tag) {
  char user[64], host[256], port[8], err[SSHMUX_ROUTES_ERR_MAX];
  const char *kv[12];
  size_t n = 0;
  int p, rc;

  if (parse_hop(arg, user, host, &p) != 0) {
    fprintf(stderr, "%s: %s: expected user@host[:port]\n", tag, arg);
    return -1;
  }
  snprintf(port, sizeof(port), "%d", p);
  kv[n++] = "host", kv[n++] = host;
  kv[n++] = "port", kv[n++] = port;
  kv[n++] = "user", kv[n++] = user;
  if (identity != NULL)
    kv[n++] = "identity", kv[n++] = identity;
  if (!is_jump) {
    kv[n++] = jump != NULL ? "jump" : "direct";
    kv[n++] = jump != NULL ? jump : "true";
  }
  kv[n] = NULL;
  rc = is_jump ? sshmux_routes_add_jump(r, name, kv, line, err, sizeof(err))
               : sshmux_routes_add_route(r, name, kv, line, err, sizeof(err));
  if (rc != 0)
    fprintf(stderr, "%s: %s\n", tag, err);
  return rc == 0 ? 0 : -1;
}

/* ---- a proxy's orderly shutdown ---- */

static void proxy_pool_closed(sshmux_pool_t *pool, void *data) {
  proxy_t *p = data;

  (void)pool;
  p->pool = NULL;
  if (p->have_signals) {
    p->have_signals = 0;
    uv_close((uv_handle_t *)&p->sigint, NULL);
    uv_close((uv_handle_t *)&p->sigterm, NULL);
  }
}

static void proxy_relay_closed(sshmux_relay_t *r, void *data) {
  proxy_t *p = data;

  (void)r;
  p->relay = NULL;
  prompter_stop();
  if (p->pool != NULL) /* after the relay: it borrows the pool */
    sshmux_pool_close(p->pool, proxy_pool_closed, p);
  else
    proxy_pool_closed(NULL, p);
}

static void proxy_on_signal(uv_signal_t *h, int sig) {
  proxy_t *p = h->data;

  (void)sig;
  if (p->stopping++)
    return;
  fprintf(stderr, "[%s] shutting down\n", p->tag);
  sshmux_relay_close(p->relay, proxy_relay_closed, p);
}

static int proxy_failed(proxy_t *p, const char *what, int rc) {
  fprintf(stderr, "%s: %s: %s\n", p->tag, what, sshmux_strerror(rc));
  return -1;
}

int proxy_open(proxy_t *p, const char *tag, const char *const *known_hosts) {
  sshmux_pool_options_t popts;
  int rc;

  memset(p, 0, sizeof(*p));
  p->loop = uv_default_loop();
  p->tag = tag;
  if ((rc = uv_signal_init(p->loop, &p->sigint)) != 0)
    return proxy_failed(p, "signals", rc);
  if ((rc = uv_signal_init(p->loop, &p->sigterm)) != 0) {
    uv_close((uv_handle_t *)&p->sigint, NULL);
    return proxy_failed(p, "signals", rc);
  }
  p->sigint.data = p->sigterm.data = p;
  p->have_signals = 1;
  /* The pool: upstream connections, shared by every relayed channel. */
  sshmux_pool_options_init(&popts);
  popts.known_hosts = known_hosts;
  if ((rc = sshmux_pool_new(p->loop, &popts, &p->pool)) != 0)
    return proxy_failed(p, "pool", rc);
  (void)prompter_start(p->loop, p->pool, tag);
  return 0;
}

int proxy_relay(proxy_t *p, const sshmux_relay_options_t *ropts) {
  int rc = sshmux_relay_new(p->loop, p->pool, ropts, &p->relay);

  return rc != 0 ? proxy_failed(p, "relay", rc) : 0;
}

int proxy_signals_start(proxy_t *p) {
  int rc = uv_signal_start(&p->sigint, proxy_on_signal, SIGINT);

  if (rc == 0)
    rc = uv_signal_start(&p->sigterm, proxy_on_signal, SIGTERM);
  return rc != 0 ? proxy_failed(p, "signals", rc) : 0;
}

int proxy_end(proxy_t *p, int ok, sshmux_routes_t *routes) {
  if (!p->stopping) { /* a failure: close what exists */
    p->stopping = 1;
    if (p->relay != NULL)
      sshmux_relay_close(p->relay, proxy_relay_closed, p);
    else
      proxy_relay_closed(NULL, p);
  }
  uv_run(p->loop, UV_RUN_DEFAULT); /* until everything is closed */
  prompter_restore_tty();
  sshmux_routes_free(routes); /* after the relay, which borrowed it */
  (void)uv_loop_close(p->loop);
  return ok ? 0 : 1;
}

void proxy_log(sshmux_log_level_t level, const char *msg, void *data) {
  (void)data;
  fprintf(stderr, "[libsshmux %s] %s\n", sshmux_log_level_name(level), msg);
}
