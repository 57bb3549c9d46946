/* prompt_tty.c -- the simplest prompter: questions from the upstream pool
 * (OTP codes, passphrases, unknown host keys) asked on the terminal that
 * runs `sshmuxd serve`, one at a time, answered line by line.
 *
 * It is one implementation of the pool's prompt handler; a later IPC
 * prompter plugs in the same way (sshmux_pool_set_prompt_handler) and
 * replaces it.  The terminal is read through a libuv tty handle in its
 * normal (canonical) mode, so the loop keeps serving every other session
 * while a person types; echo is switched off with termios for secrets.
 * Without a terminal on stdin every prompt is cancelled at once (the login
 * then fails with "prompt cancelled"), which is also what tests rely on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <uv.h>

#include "sshmuxd.h"

#define QUEUE_MAX 32
#define ANSWER_MAX 8

static struct {
  uv_loop_t *loop;
  uv_tty_t tty;
  int tty_open, reading, echo_off;
  struct termios saved;
  sshmux_prompt_t *queue[QUEUE_MAX];
  size_t n;     /* queue[0] is the current prompt */
  size_t asked; /* answers collected for queue[0] */
  int shown;    /* queue[0]'s header was printed */
  char *answers[ANSWER_MAX];
  char line[1024];
  size_t len;
} T;

static void echo(int on) {
  struct termios t;

  if (!T.tty_open)
    return;
  if (!on && !T.echo_off && tcgetattr(0, &T.saved) == 0) {
    t = T.saved;
    t.c_lflag &= ~(tcflag_t)ECHO;
    if (tcsetattr(0, TCSANOW, &t) == 0)
      T.echo_off = 1;
  } else if (on && T.echo_off) {
    (void)tcsetattr(0, TCSANOW, &T.saved);
    T.echo_off = 0;
    fputc('\n', stderr);
  }
}

static void wipe_answers(void) {
  size_t i;

  for (i = 0; i < ANSWER_MAX; i++)
    if (T.answers[i] != NULL) {
      memset(T.answers[i], 0, strlen(T.answers[i]));
      free(T.answers[i]);
      T.answers[i] = NULL;
    }
  memset(T.line, 0, sizeof(T.line));
  T.len = 0;
}

static void pop(void) {
  echo(1);
  wipe_answers();
  memmove(T.queue, T.queue + 1, (T.n - 1) * sizeof(T.queue[0]));
  T.n--;
  T.asked = 0;
  T.shown = 0;
}

static void ask_next(void);

static void finish_current(int ok) {
  sshmux_prompt_t *p = T.queue[0];
  size_t n = sshmux_prompt_kind(p) == SSHMUX_PROMPT_HOSTKEY
                 ? 0
                 : sshmux_prompt_count(p);

  if (ok)
    (void)sshmux_prompt_answer(p, (const char *const *)T.answers, n);
  else
    sshmux_prompt_cancel(p);
  pop();
  ask_next();
}

/* Print the header of queue[0] (once) and its next question. */
static void ask_next(void) {
  sshmux_prompt_t *p;

  if (T.n == 0)
    return;
  p = T.queue[0];
  if (!T.tty_open) {
    sshmuxd_log(SSHMUX_LOG_WARN,
                "prompt for %s cancelled: no terminal to ask on (stdin is "
                "not a tty)",
                sshmux_prompt_target(p));
    sshmux_prompt_cancel(p);
    pop();
    ask_next();
    return;
  }
  if (!T.shown) {
    T.shown = 1;
    fprintf(stderr, "\n=== sshmuxd: %s ===\n", sshmux_prompt_target(p));
    if (sshmux_prompt_notice(p) != NULL)
      fprintf(stderr, "%s\n", sshmux_prompt_notice(p));
    if (*sshmux_prompt_name(p) != '\0')
      fprintf(stderr, "%s\n", sshmux_prompt_name(p));
    if (*sshmux_prompt_instruction(p) != '\0')
      fprintf(stderr, "%s\n", sshmux_prompt_instruction(p));
  }
  if (sshmux_prompt_kind(p) == SSHMUX_PROMPT_HOSTKEY) {
    fprintf(stderr, "%s key %s\nTrust it and remember it? (yes/no): ",
            sshmux_prompt_hostkey_type(p) ? sshmux_prompt_hostkey_type(p) : "",
            sshmux_prompt_hostkey_fingerprint(p)
                ? sshmux_prompt_hostkey_fingerprint(p)
                : "");
    return;
  }
  if (T.asked >= sshmux_prompt_count(p) || T.asked >= ANSWER_MAX) {
    finish_current(T.asked == sshmux_prompt_count(p));
    return;
  }
  fprintf(stderr, "%s", sshmux_prompt_text(p, T.asked));
  echo(sshmux_prompt_echo(p, T.asked));
}

static void on_line(void) {
  sshmux_prompt_t *p;

  if (T.n == 0)
    return; /* typed with nothing asked */
  p = T.queue[0];
  if (sshmux_prompt_kind(p) == SSHMUX_PROMPT_HOSTKEY) {
    finish_current(strcmp(T.line, "yes") == 0);
    return;
  }
  T.answers[T.asked] = strdup(T.line);
  memset(T.line, 0, sizeof(T.line));
  T.len = 0;
  if (T.answers[T.asked] == NULL) {
    finish_current(0);
    return;
  }
  T.asked++;
  echo(1);
  ask_next();
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char rbuf[1024];

  (void)h, (void)suggested;
  buf->base = rbuf;
  buf->len = sizeof(rbuf);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  ssize_t i;

  if (n < 0) {
    /* The terminal went away: nobody can answer any more. */
    uv_read_stop(s);
    T.reading = 0;
    T.tty_open = 0;
    uv_close((uv_handle_t *)&T.tty, NULL);
    while (T.n > 0) {
      sshmux_prompt_cancel(T.queue[0]);
      pop();
    }
    return;
  }
  for (i = 0; i < n; i++) {
    char c = buf->base[i];
    if (c == '\n' || c == '\r') {
      T.line[T.len] = '\0';
      on_line();
    } else if (T.len + 1 < sizeof(T.line)) {
      T.line[T.len++] = c;
    }
  }
  memset(buf->base, 0, (size_t)n);
}

static void on_prompt(sshmux_prompt_t *p, void *data) {
  (void)data;
  if (T.n == QUEUE_MAX) {
    sshmux_prompt_cancel(p);
    return;
  }
  T.queue[T.n++] = p;
  if (T.n == 1)
    ask_next();
}

static void on_withdrawn(sshmux_prompt_t *p, void *data) {
  size_t i;

  (void)data;
  for (i = 0; i < T.n; i++)
    if (T.queue[i] == p)
      break;
  if (i == T.n)
    return;
  sshmux_prompt_cancel(p); /* releases our reference */
  if (i == 0) {
    fprintf(stderr, "\n(prompt withdrawn: %s)\n",
            sshmux_strerror(SSHMUX_EPROMPT_TIMEOUT));
    pop();
    ask_next();
    return;
  }
  memmove(T.queue + i, T.queue + i + 1, (T.n - i - 1) * sizeof(T.queue[0]));
  T.n--;
}

int sshmuxd_tty_prompter_start(uv_loop_t *loop, sshmux_pool_t *pool) {
  memset(&T, 0, sizeof(T));
  T.loop = loop;
  if (isatty(0) && uv_tty_init(loop, &T.tty, 0, 1) == 0) {
    T.tty_open = 1;
    if (uv_read_start((uv_stream_t *)&T.tty, alloc_cb, read_cb) == 0)
      T.reading = 1;
  }
  sshmux_pool_set_prompt_handler(pool, on_prompt, on_withdrawn, NULL);
  return 0;
}

int sshmuxd_tty_prompter_active(void) {
  return T.tty_open;
}

void sshmuxd_tty_prompter_take(sshmux_prompt_t *p, void *data) {
  on_prompt(p, data);
}

void sshmuxd_tty_prompter_withdraw(sshmux_prompt_t *p, void *data) {
  on_withdrawn(p, data);
}

void sshmuxd_tty_prompter_stop(void) {
  while (T.n > 0) {
    sshmux_prompt_cancel(T.queue[0]);
    pop();
  }
  echo(1);
  if (T.tty_open) {
    T.tty_open = 0;
    uv_close((uv_handle_t *)&T.tty, NULL);
  }
}
