/* askpass.c -- asking a person through a program instead of a terminal:
 * SSH_ASKPASS-compatible helpers (ssh-askpass, ksshaskpass, a script) for
 * prompts when no `sshmuxd prompt` agent is subscribed, and desktop
 * notifications through notify-send.
 *
 * Both run a program by absolute path (askpass) or found on PATH
 * (notify-send) through uv_spawn: no shell ever sees the text, which
 * comes partly from remote servers (already sanitised).  askpass is
 * bounded in output (SSHMUXD_ASKPASS_MAX bytes) and time (killed at the
 * deadline); its answer is wiped once handed over. */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "sshmuxd.h"

extern char **environ;

struct sshmuxd_askpass_s {
  uv_process_t proc;
  uv_pipe_t out;
  uv_timer_t timer;
  int open_handles;
  int exited, out_done, cancelled, reported;
  int64_t exit_status;
  int term_signal;
  int err;
  size_t len;
  sshmuxd_askpass_cb cb;
  void *data;
  char buf[SSHMUXD_ASKPASS_MAX + 1];
};

static void ap_closed(uv_handle_t *h) {
  sshmuxd_askpass_t *a = h->data;
  if (--a->open_handles == 0)
    sshmux__free_secret(a, sizeof(*a));
}

static void ap_close(sshmuxd_askpass_t *a) {
  if (!uv_is_closing((uv_handle_t *)&a->timer))
    uv_close((uv_handle_t *)&a->timer, ap_closed);
  if (!uv_is_closing((uv_handle_t *)&a->out))
    uv_close((uv_handle_t *)&a->out, ap_closed);
  if (!uv_is_closing((uv_handle_t *)&a->proc))
    uv_close((uv_handle_t *)&a->proc, ap_closed);
}

static void ap_report(sshmuxd_askpass_t *a) {
  int status;

  if (a->reported || !a->exited || !a->out_done)
    return;
  a->reported = 1;
  if (!a->cancelled) {
    if (a->err != 0)
      status = a->err;
    else if (a->term_signal != 0 || a->exit_status != 0)
      status = SSHMUX_EPROMPT_CANCELLED;
    else
      status = 0;
    while (a->len > 0 &&
           (a->buf[a->len - 1] == '\n' || a->buf[a->len - 1] == '\r'))
      a->len--;
    a->buf[a->len] = '\0';
    a->cb(status, status == 0 ? a->buf : NULL, a->data);
  }
  ap_close(a);
}

static void ap_exit(uv_process_t *p, int64_t status, int sig) {
  sshmuxd_askpass_t *a = p->data;
  a->exited = 1;
  a->exit_status = status;
  a->term_signal = sig;
  ap_report(a);
}

static void ap_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  sshmuxd_askpass_t *a = h->data;
  (void)size;
  buf->base = a->buf + a->len;
  buf->len = SSHMUXD_ASKPASS_MAX - a->len;
  if (buf->len == 0) {
    /* Full: read into a scratch byte to notice the overflow. */
    static char scratch[64];
    buf->base = scratch;
    buf->len = sizeof(scratch);
  }
}

static void ap_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  sshmuxd_askpass_t *a = s->data;

  if (n == 0)
    return;
  if (n > 0 && buf->base == a->buf + a->len) {
    a->len += (size_t)n;
    return;
  }
  if (n > 0) {
    a->err = SSHMUX_ETOOLONG;
    uv_process_kill(&a->proc, SIGKILL);
  }
  uv_read_stop(s);
  a->out_done = 1;
  ap_report(a);
}

static void ap_timeout(uv_timer_t *t) {
  sshmuxd_askpass_t *a = t->data;
  a->err = SSHMUX_EPROMPT_TIMEOUT;
  uv_process_kill(&a->proc, SIGKILL);
}

int sshmuxd_askpass_run(uv_loop_t *loop, const char *program, const char *text,
                        int confirm, uint64_t timeout_ms, sshmuxd_askpass_cb cb,
                        void *data, sshmuxd_askpass_t **out) {
  sshmuxd_askpass_t *a;
  uv_process_options_t o;
  uv_stdio_container_t io[3];
  char *args[3];
  char **env = NULL;
  size_t n = 0, i;
  int r;

  *out = NULL;
  if (program == NULL || program[0] != '/')
    return SSHMUX_EINVAL;
  if ((a = sshmux__calloc(1, sizeof(*a))) == NULL)
    return SSHMUX_ENOMEM;
  a->cb = cb;
  a->data = data;
  /* The environment as it is, plus SSH_ASKPASS_PROMPT for questions. */
  while (environ[n] != NULL)
    n++;
  if ((env = sshmux__calloc(n + 2, sizeof(char *))) == NULL) {
    sshmux__free(a);
    return SSHMUX_ENOMEM;
  }
  for (i = 0; i < n; i++)
    env[i] = environ[i];
  if (confirm)
    env[n++] = "SSH_ASKPASS_PROMPT=confirm";
  env[n] = NULL;
  args[0] = (char *)(uintptr_t)program;
  args[1] = (char *)(uintptr_t)text;
  args[2] = NULL;
  uv_pipe_init(loop, &a->out, 0);
  uv_timer_init(loop, &a->timer);
  a->out.data = a->timer.data = a->proc.data = a;
  a->open_handles = 2;
  memset(&o, 0, sizeof(o));
  io[0].flags = UV_IGNORE;
  io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  io[1].data.stream = (uv_stream_t *)&a->out;
  io[2].flags = UV_INHERIT_FD;
  io[2].data.fd = 2;
  o.file = program;
  o.args = args;
  o.env = env;
  o.stdio = io;
  o.stdio_count = 3;
  o.exit_cb = ap_exit;
  r = uv_spawn(loop, &a->proc, &o);
  sshmux__free(env);
  a->open_handles = 3;
  if (r != 0) {
    /* libuv wants the process handle closed even when spawning failed. */
    a->reported = 1;
    ap_close(a);
    return r;
  }
  uv_read_start((uv_stream_t *)&a->out, ap_alloc, ap_read);
  uv_timer_start(&a->timer, ap_timeout, timeout_ms, 0);
  *out = a;
  return 0;
}

void sshmuxd_askpass_cancel(sshmuxd_askpass_t *a) {
  if (a == NULL || a->cancelled)
    return;
  a->cancelled = 1;
  if (!a->exited)
    uv_process_kill(&a->proc, SIGKILL);
  /* The exit and EOF still arrive; ap_report then closes without a call. */
}

static void notify_closed(uv_handle_t *h) {
  sshmux__free(h);
}

static void notify_exit(uv_process_t *p, int64_t status, int sig) {
  (void)status, (void)sig;
  uv_close((uv_handle_t *)p, notify_closed);
}

void sshmuxd_notify(uv_loop_t *loop, const char *summary, const char *body) {
  uv_process_options_t o;
  uv_process_t *p;
  char *args[5];

  if ((p = sshmux__calloc(1, sizeof(*p))) == NULL)
    return;
  args[0] = "notify-send";
  args[1] = "--app-name=sshmux";
  args[2] = (char *)(uintptr_t)summary;
  args[3] = (char *)(uintptr_t)body;
  args[4] = NULL;
  memset(&o, 0, sizeof(o));
  o.file = "notify-send";
  o.args = args;
  o.exit_cb = notify_exit;
  /* stdio ignored (stdio_count 0): the program cannot touch ours. */
  if (uv_spawn(loop, p, &o) != 0)
    uv_close((uv_handle_t *)p, notify_closed);
}
