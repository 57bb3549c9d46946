/* prompt-gui -- how a GUI embeds the pool's prompt callbacks: log in to
 * hosts and show every question (OTP / keyboard-interactive, passphrase,
 * password, unknown host key) through a pluggable front end.
 *
 *   prompt-gui [--frontend terminal|window] [--identity FILE]
 *              [--known-hosts FILE] USER@HOST[:PORT]...
 *
 * A front end is three functions (start, stop, and the pool's prompt and
 * withdrawn callbacks it installs): the contract is the one in
 * sshmux/prompt.h -- answer or cancel every prompt exactly once, cancel it
 * when it is withdrawn, never block the loop.
 *
 *  - terminal: the shared prompter (examples/common): the target on its own
 *    line, input not echoed for secrets;
 *  - window: a dialog per question from zenity or yad, whichever is on
 *    PATH at run time (--hide-text for secrets; the target host in the
 *    title and in bold first in the text); the dialog runs as a child
 *    process watched by libuv, so the loop keeps serving; a withdrawn
 *    prompt closes its dialog.
 *
 * Each host gets a session running `echo connected`; the program prints
 * "HOST: connected" or "HOST: failed: REASON" and exits when all are done
 * (status 0 if every host connected). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "common/common.h"

#define MAX_HOSTS 64
#define MAX_ANSWERS 8

static uv_loop_t *loop;
static sshmux_pool_t *pool;
static sshmux_routes_t *routes;
static int pending, failures;

/* ---- the window front end: zenity or yad ------------------------------- */

static struct {
  const char *tool; /* full path of zenity or yad */
  int is_yad;
  sshmux_prompt_t *q[16]; /* q[0] is on screen */
  size_t n, asked;
  char *answers[MAX_ANSWERS];
  uv_process_t proc;
  uv_pipe_t out;
  int running, proc_open, pipe_open;
  int64_t status; /* the dialog's exit status */
  char buf[1024];
  size_t len;
} W;

static const char *find_on_path(const char *name) {
  static char path[4096];
  const char *p = getenv("PATH");

  while (p != NULL && *p != '\0') {
    const char *e = strchr(p, ':');
    size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
    snprintf(path, sizeof(path), "%.*s/%s", (int)n, p, name);
    if (n > 0 && access(path, X_OK) == 0)
      return path;
    p = e != NULL ? e + 1 : NULL;
  }
  return NULL;
}

static void w_ask(void);

static void w_pop(void) {
  for (size_t i = 0; i < W.asked; i++) {
    explicit_bzero(W.answers[i], strlen(W.answers[i]));
    free(W.answers[i]);
  }
  W.asked = 0;
  memmove(W.q, W.q + 1, --W.n * sizeof(W.q[0]));
  w_ask();
}

static void w_finish(void);

static void w_handle_closed(uv_handle_t *h) {
  if (h == (uv_handle_t *)&W.proc)
    W.proc_open = 0;
  else
    W.pipe_open = 0;
  if (!W.proc_open && !W.pipe_open && W.running) {
    W.running = 0;
    w_finish(); /* all it printed is in, and it has exited */
    w_ask();    /* the next question, if any */
  }
}

static void w_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)h, (void)hint;
  b->base = W.buf + W.len;
  b->len = sizeof(W.buf) - 1 - W.len;
}

static void w_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)b;
  if (n < 0) {
    uv_close((uv_handle_t *)s, w_handle_closed);
    return;
  }
  W.len += (size_t)n;
  if (W.len == sizeof(W.buf) - 1)
    W.len = 0; /* longer than any answer: drop it */
}

static void w_exit(uv_process_t *p, int64_t status, int sig) {
  (void)sig;
  W.status = status;
  uv_close((uv_handle_t *)p, w_handle_closed);
}

/* The dialog ended: exit 0 is an answer (what it printed) or "yes". */
static void w_finish(void) {
  sshmux_prompt_t *pr = W.n > 0 ? W.q[0] : NULL;
  int64_t status = W.status;

  W.buf[W.len] = '\0';
  if (W.len > 0 && W.buf[W.len - 1] == '\n')
    W.buf[--W.len] = '\0';
  if (pr != NULL) {
    if (status != 0) {
      sshmux_prompt_cancel(pr);
      W.asked = 0;
      memmove(W.q, W.q + 1, --W.n * sizeof(W.q[0]));
    } else if (sshmux_prompt_kind(pr) == SSHMUX_PROMPT_HOSTKEY) {
      (void)sshmux_prompt_answer(pr, NULL, 0);
      memmove(W.q, W.q + 1, --W.n * sizeof(W.q[0]));
    } else if ((W.answers[W.asked] = strdup(W.buf)) == NULL) {
      sshmux_prompt_cancel(pr);
      memmove(W.q, W.q + 1, --W.n * sizeof(W.q[0]));
    } else if (++W.asked == sshmux_prompt_count(pr)) {
      (void)sshmux_prompt_answer(pr, (const char *const *)W.answers, W.asked);
      for (size_t i = 0; i < W.asked; i++) {
        explicit_bzero(W.answers[i], strlen(W.answers[i]));
        free(W.answers[i]);
      }
      W.asked = 0;
      memmove(W.q, W.q + 1, --W.n * sizeof(W.q[0]));
    }
  }
  explicit_bzero(W.buf, sizeof(W.buf)); /* it may have been a secret */
  W.len = 0;
}

/* Show q[0]'s next question as a dialog (one at a time). */
static void w_ask(void) {
  sshmux_prompt_t *p;
  char title[400], text[2048];
  const char *argv[12];
  uv_process_options_t o;
  uv_stdio_container_t io[3];
  int n = 0, hostkey, count;

  if (W.running || W.n == 0)
    return;
  p = W.q[0];
  hostkey = sshmux_prompt_kind(p) == SSHMUX_PROMPT_HOSTKEY;
  count = (int)sshmux_prompt_count(p);
  if (!hostkey && count == 0) { /* information only */
    (void)sshmux_prompt_answer(p, NULL, 0);
    w_pop();
    return;
  }
  if (count > MAX_ANSWERS) {
    sshmux_prompt_cancel(p);
    w_pop();
    return;
  }
  /* Every string from the server is sanitised by the library; the markup
   * zenity interprets (<, &) is not: keep them out of the text. */
  snprintf(title, sizeof(title), "sshmux login: %s", sshmux_prompt_target(p));
  snprintf(text, sizeof(text), "%s\n\n%s\n%s\n%s", sshmux_prompt_target(p),
           sshmux_prompt_name(p), sshmux_prompt_instruction(p),
           hostkey ? "Trust this host key?" : sshmux_prompt_text(p, W.asked));
  for (char *c = text; *c != '\0'; c++)
    if (*c == '<' || *c == '>' || *c == '&')
      *c = '?';
  argv[n++] = W.tool;
  if (hostkey) {
    argv[n++] = W.is_yad ? "--image=dialog-question" : "--question";
  } else {
    argv[n++] = "--entry";
    if (!sshmux_prompt_echo(p, W.asked))
      argv[n++] = "--hide-text";
  }
  argv[n++] = "--title";
  argv[n++] = title;
  argv[n++] = "--text";
  argv[n++] = text;
  argv[n] = NULL;
  memset(&o, 0, sizeof(o));
  memset(io, 0, sizeof(io));
  uv_pipe_init(loop, &W.out, 0);
  io[0].flags = UV_IGNORE;
  io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  io[1].data.stream = (uv_stream_t *)&W.out;
  io[2].flags = UV_INHERIT_FD;
  io[2].data.fd = 2;
  o.file = W.tool;
  o.args = (char **)argv;
  o.stdio = io;
  o.stdio_count = 3;
  o.exit_cb = w_exit;
  W.running = W.pipe_open = 1;
  if (uv_spawn(loop, &W.proc, &o) != 0) {
    fprintf(stderr, "[prompt-gui] cannot run %s\n", W.tool);
    W.running = 0;
    uv_close((uv_handle_t *)&W.out, NULL);
    W.pipe_open = 0;
    sshmux_prompt_cancel(p);
    w_pop();
    return;
  }
  W.proc_open = 1;
  uv_read_start((uv_stream_t *)&W.out, w_alloc, w_read);
}

static void w_prompt(sshmux_prompt_t *p, void *data) {
  (void)data;
  if (W.n == sizeof(W.q) / sizeof(W.q[0])) {
    sshmux_prompt_cancel(p);
    return;
  }
  W.q[W.n++] = p;
  w_ask();
}

static void w_withdrawn(sshmux_prompt_t *p, void *data) {
  (void)data;
  for (size_t i = 0; i < W.n; i++) {
    if (W.q[i] != p)
      continue;
    if (i == 0 && W.running) {
      /* Its dialog is up: close it; w_exit then cancels the prompt. */
      uv_process_kill(&W.proc, SIGTERM);
      return;
    }
    sshmux_prompt_cancel(p);
    memmove(W.q + i, W.q + i + 1, (--W.n - i) * sizeof(W.q[0]));
    return;
  }
}

static int w_start(void) {
  if ((W.tool = find_on_path("zenity")) == NULL) {
    if ((W.tool = find_on_path("yad")) == NULL) {
      fprintf(stderr, "prompt-gui: no zenity or yad on PATH for the window "
                      "front end\n");
      return -1;
    }
    W.is_yad = 1;
  }
  W.tool = strdup(W.tool);
  sshmux_pool_set_prompt_handler(pool, w_prompt, w_withdrawn, NULL);
  return W.tool != NULL ? 0 : -1;
}

static void w_stop(void) {
  while (W.n > 0) {
    if (W.running)
      uv_process_kill(&W.proc, SIGTERM);
    sshmux_prompt_cancel(W.q[0]);
    W.asked = 0;
    memmove(W.q, W.q + 1, --W.n * sizeof(W.q[0]));
  }
  free((void *)W.tool);
}

/* ---- the terminal front end: the shared prompter ---------------------- */

static int t_start(void) {
  (void)prompter_start(loop, pool, "prompt-gui");
  return 0;
}

static void t_stop(void) {
  prompter_stop();
  prompter_restore_tty();
}

typedef struct {
  const char *name;
  int (*start)(void); /* installs the pool's prompt handler */
  void (*stop)(void); /* every prompt it holds answered or cancelled */
} frontend_t;

static const frontend_t frontends[] = {{"terminal", t_start, t_stop},
                                       {"window", w_start, w_stop}};
static const frontend_t *fe;

/* ---- hosts ------------------------------------------------------------- */

typedef struct {
  const char *name;
  route_targets_t targets;
  const sshmux_target_t *target;
  char out[64];
  size_t out_len;
} host_t;

static host_t hosts[MAX_HOSTS];

static void pool_closed(sshmux_pool_t *p, void *data) {
  (void)p, (void)data;
}

static void host_done(host_t *h, const char *why) {
  if (why == NULL && strncmp(h->out, "connected\n", 10) == 0) {
    printf("%s: connected\n", h->name);
  } else {
    printf("%s: failed: %s\n", h->name, why != NULL ? why : "no output");
    failures++;
  }
  fflush(stdout);
  if (--pending == 0) {
    fe->stop();
    sshmux_pool_close(pool, pool_closed, NULL);
  }
}

static void on_data(sshmux_upchan_t *ch, int stream, const char *buf,
                    size_t len) {
  host_t *h = sshmux_upchan_get_data(ch);

  (void)stream;
  if (len > sizeof(h->out) - 1 - h->out_len)
    len = sizeof(h->out) - 1 - h->out_len;
  memcpy(h->out + h->out_len, buf, len);
  h->out_len += len;
}

static void on_closed(sshmux_upchan_t *ch, int status) {
  host_t *h = sshmux_upchan_get_data(ch);

  host_done(h, status != 0 ? sshmux_upchan_last_error(ch) : NULL);
  sshmux_upchan_close(ch, NULL);
}

static void on_open(sshmux_upchan_t *ch, int status) {
  host_t *h = sshmux_upchan_get_data(ch);

  if (status != 0) {
    host_done(h, sshmux_strerror(status));
    return;
  }
  if (sshmux_upchan_exec(ch, "echo connected", NULL, NULL) != 0 ||
      sshmux_upchan_send_eof(ch) != 0) {
    host_done(h, "exec failed");
    sshmux_upchan_close(ch, NULL);
  }
}

static int usage(FILE *f, int rc) {
  fprintf(f, "usage: prompt-gui [--frontend terminal|window] "
             "[--identity FILE]\n"
             "                  [--known-hosts FILE] USER@HOST[:PORT]...\n\n"
             "Log in to each host, asking every question (OTP, passphrase,\n"
             "unknown host key) through the front end: this terminal, or a\n"
             "zenity/yad window (found on PATH at run time).\n");
  return rc;
}

int main(int argc, char **argv) {
  static const sshmux_upchan_callbacks_t cbs = {.on_data = on_data,
                                                .on_closed = on_closed};
  const char *identity = NULL, *known_hosts[2] = {NULL, NULL};
  char identity_abs[4096];
  sshmux_pool_options_t o;
  size_t n = 0;
  int rc;

  fe = &frontends[0];
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(k, "--help") == 0 || strcmp(k, "-h") == 0)
      return usage(stdout, 0);
    if (k[0] != '-') {
      if (n == MAX_HOSTS)
        return usage(stderr, 2);
      hosts[n++].name = k;
      continue;
    }
    if (v == NULL)
      return usage(stderr, 2);
    i++;
    if (strcmp(k, "--frontend") == 0) {
      fe = NULL;
      for (size_t f = 0; f < sizeof(frontends) / sizeof(frontends[0]); f++)
        if (strcmp(v, frontends[f].name) == 0)
          fe = &frontends[f];
      if (fe == NULL)
        return usage(stderr, 2);
    } else if (strcmp(k, "--identity") == 0) {
      identity = v;
    } else if (strcmp(k, "--known-hosts") == 0) {
      known_hosts[0] = v;
    } else {
      return usage(stderr, 2);
    }
  }
  if (n == 0)
    return usage(stderr, 2);
  if (identity != NULL && realpath(identity, identity_abs) == NULL) {
    perror(identity);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  if ((rc = sshmux_routes_new(&routes, "command line", getenv("HOME"))) != 0)
    return 1;
  for (size_t i = 0; i < n; i++) {
    char name[32];
    snprintf(name, sizeof(name), "host%zu", i);
    if (routes_add_hop(routes, 0, name, hosts[i].name,
                       identity != NULL ? identity_abs : NULL, NULL, (int)i + 1,
                       "prompt-gui") != 0 ||
        (hosts[i].target = route_targets(
             &hosts[i].targets, sshmux_routes_find(routes, name))) == NULL) {
      sshmux_routes_free(routes);
      return 2;
    }
  }
  loop = uv_default_loop();
  sshmux_pool_options_init(&o);
  o.known_hosts = known_hosts[0] != NULL ? known_hosts : NULL;
  if ((rc = sshmux_pool_new(loop, &o, &pool)) != 0) {
    fprintf(stderr, "prompt-gui: pool: %s\n", sshmux_strerror(rc));
    return 1;
  }
  if (fe->start() != 0) {
    sshmux_pool_close(pool, pool_closed, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    sshmux_routes_free(routes);
    return 1;
  }
  for (size_t i = 0; i < n; i++) {
    sshmux_upchan_spec_t spec = {.type = SSHMUX_UPCHAN_SESSION};
    sshmux_upchan_t *ch;
    pending++;
    if (sshmux_pool_open_channel(pool, hosts[i].target, &spec, &cbs, &hosts[i],
                                 on_open, &ch) != 0)
      host_done(&hosts[i], "cannot open a channel");
  }
  uv_run(loop, UV_RUN_DEFAULT);
  (void)uv_loop_close(loop);
  sshmux_routes_free(routes);
  return failures == 0 ? 0 : 1;
}
