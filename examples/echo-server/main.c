/* echo-server -- a small SSH server on libsshmux's server API, and the peer
 * of the server interop tests.
 *
 *   echo-server --port N --host-key FILE --authorized-keys FILE [options]
 *
 * Binds 127.0.0.1.  Host keys: FILE is the Ed25519 key and FILE-ecdsa the
 * ECDSA P-256 key; each is created (OpenSSH format, 0600, plus .pub) when
 * missing.  Sessions:
 *   exec "cat"          echoes stdin until EOF, then exits 0
 *   exec "exit N"       exits with status N
 *   exec "stderr TEXT"  writes TEXT and a newline to stderr, exits 0
 *   exec "bulk N"       writes N bytes (a repeating pattern) to stdout
 *   exec "kill SIG"     ends with exit-signal SIG (e.g. TERM)
 *   exec "sleep MS"     exits 0 after MS milliseconds
 *   exec anything else  writes the command and a newline back, exits 0
 *   shell (pty or not)  prints "echo$ ", echoes each line, "exit" ends it
 * direct-tcpip to port 7 is an echo service; other targets are refused.
 *
 * It shows the embedding pattern the relay uses: channel opens and
 * exec/shell requests are answered asynchronously (from a timer, as if
 * after an upstream round trip), writes respect the high-water mark and
 * reads are paused until the queue drains. */
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "sshmux.h"

typedef enum { MODE_NONE, MODE_CAT, MODE_SHELL, MODE_BULK } mode_t_;

typedef struct deferred {
  struct deferred *next;
  sshmux_server_request_t *req; /* NULL: the channel open itself */
  char *command;                /* exec */
  int shell;
} deferred_t;

typedef struct {
  sshmux_server_channel_t *ch;
  uv_timer_t timer; /* runs deferred answers */
  uv_timer_t sleep; /* exec "sleep MS" */
  int handles;      /* open timers; freed when both are closed */
  deferred_t *pending;
  mode_t_ mode;
  int pty;
  int accept; /* open: accept (1) or reject (0) */
  uint64_t bulk_left;
  char line[1024];
  size_t line_len;
} session_t;

static const char *opt_user;
static int opt_any_user;
static uint64_t opt_answer_ms = 1; /* delay of the deferred answers */
static sshmux_server_t *server;
static uv_signal_t sigint, sigterm;

static void usage(FILE *f) {
  fprintf(f,
          "usage: echo-server --port N --host-key FILE --authorized-keys FILE\n"
          "                   [--user NAME | --any-user] [--rekey-bytes N]\n"
          "                   [--login-grace MS] [--startups B:R:F]\n"
          "                   [--log LEVEL] [--answer-ms MS]\n"
          "  Serves SSH on 127.0.0.1:N (0 picks a port, printed on stdout).\n"
          "  FILE is the Ed25519 host key, FILE-ecdsa the ECDSA one; both are\n"
          "  created when missing.  Only NAME (default: the current user) may\n"
          "  log in, with a key listed in the authorized_keys FILE.\n"
          "  Channel opens and exec/shell requests are answered MS ms later\n"
          "  (default 1; 0: on the next loop iteration, still deferred).\n");
}

static void on_log(sshmux_log_level_t level, const char *msg, void *data) {
  (void)data;
  fprintf(stderr, "echo-server: %s: %s\n", sshmux_log_level_name(level), msg);
}

static int on_auth(sshmux_server_conn_t *conn,
                   const sshmux_server_auth_info_t *info, void *data) {
  (void)conn, (void)data;
  if (!opt_any_user && strcmp(info->user, opt_user) != 0)
    return 0;
  return info->authorized == 1;
}

/* ---- sessions ---- */

static void session_free_cb(uv_handle_t *h) {
  session_t *s = h->data;
  if (--s->handles == 0)
    free(s);
}

static void session_release(session_t *s) {
  uv_close((uv_handle_t *)&s->timer, session_free_cb);
  uv_close((uv_handle_t *)&s->sleep, session_free_cb);
}

static void finish(session_t *s, int code) {
  sshmux_server_channel_eof(s->ch);
  sshmux_server_channel_exit_status(s->ch, (uint32_t)code);
  sshmux_server_channel_close(s->ch);
  s->mode = MODE_NONE;
}

static void prompt(session_t *s) {
  sshmux_server_channel_write(s->ch, SSHMUX_STREAM_STDOUT, "echo$ ", 6);
}

/* Fill the queue up to the high-water mark; the drain callback resumes. */
static void bulk_more(session_t *s) {
  static char chunk[32768];
  int r = 0;

  if (chunk[0] == 0) {
    size_t i;
    for (i = 0; i < sizeof(chunk); i++)
      chunk[i] = (char)('a' + i % 26);
  }
  while (s->bulk_left > 0 && r == 0) {
    size_t n =
        s->bulk_left < sizeof(chunk) ? (size_t)s->bulk_left : sizeof(chunk);
    r = sshmux_server_channel_write(s->ch, SSHMUX_STREAM_STDOUT, chunk, n);
    if (r < 0)
      return;
    s->bulk_left -= n;
  }
  if (s->bulk_left == 0)
    finish(s, 0);
}

static void on_sleep_done(uv_timer_t *t) {
  finish(t->data, 0);
}

static void run_exec(session_t *s, const char *cmd) {
  char buf[4096];
  int n;

  if (strcmp(cmd, "cat") == 0) {
    s->mode = MODE_CAT;
  } else if (strncmp(cmd, "exit ", 5) == 0) {
    finish(s, atoi(cmd + 5));
  } else if (strncmp(cmd, "stderr ", 7) == 0) {
    n = snprintf(buf, sizeof(buf), "%s\n", cmd + 7);
    sshmux_server_channel_write(s->ch, SSHMUX_STREAM_STDERR, buf,
                                (size_t)n < sizeof(buf) ? (size_t)n
                                                        : sizeof(buf) - 1);
    finish(s, 0);
  } else if (strncmp(cmd, "bulk ", 5) == 0) {
    s->mode = MODE_BULK;
    s->bulk_left = strtoull(cmd + 5, NULL, 10);
    bulk_more(s);
  } else if (strncmp(cmd, "sleep ", 6) == 0) {
    uv_timer_start(&s->sleep, on_sleep_done, strtoull(cmd + 6, NULL, 10), 0);
  } else if (strncmp(cmd, "kill ", 5) == 0) {
    sshmux_server_channel_eof(s->ch);
    sshmux_server_channel_exit_signal(s->ch, cmd + 5, 0, "killed");
    sshmux_server_channel_close(s->ch);
  } else {
    n = snprintf(buf, sizeof(buf), "%s\n", cmd);
    sshmux_server_channel_write(s->ch, SSHMUX_STREAM_STDOUT, buf,
                                (size_t)n < sizeof(buf) ? (size_t)n
                                                        : sizeof(buf) - 1);
    finish(s, 0);
  }
}

/* The deferred answers, in arrival order. */
static void on_timer(uv_timer_t *t) {
  session_t *s = t->data;
  deferred_t *d;

  while ((d = s->pending) != NULL) {
    s->pending = d->next;
    if (d->req == NULL) {
      if (s->accept)
        sshmux_server_channel_accept(s->ch);
      else {
        /* A refused channel gets no close callback: release here. */
        sshmux_server_channel_reject(s->ch, SSHMUX_OPEN_CONNECT_FAILED,
                                     "echo-server only forwards to port 7");
        free(d);
        session_release(s);
        return;
      }
    } else {
      sshmux_server_request_reply(d->req, 1);
      if (d->shell) {
        s->mode = MODE_SHELL;
        prompt(s);
      } else if (d->command != NULL) {
        run_exec(s, d->command);
      }
      if (d->shell || d->command != NULL)
        sshmux_server_channel_read_start(s->ch);
    }
    free(d->command);
    free(d);
  }
}

static void defer(session_t *s, sshmux_server_request_t *req,
                  const char *command, int shell) {
  deferred_t *d = calloc(1, sizeof(*d)), **pp;

  if (d == NULL)
    return;
  d->req = req;
  d->shell = shell;
  d->command = command ? strdup(command) : NULL;
  for (pp = &s->pending; *pp != NULL; pp = &(*pp)->next)
    ;
  *pp = d;
  uv_timer_start(&s->timer, on_timer, opt_answer_ms, 0);
}

static void shell_input(session_t *s, const char *buf, size_t len) {
  size_t i;

  for (i = 0; i < len; i++) {
    char c = buf[i];
    if (c == '\r' || c == '\n') {
      char out[1200];
      int n;
      if (s->pty)
        sshmux_server_channel_write(s->ch, SSHMUX_STREAM_STDOUT, "\r\n", 2);
      s->line[s->line_len] = '\0';
      if (strcmp(s->line, "exit") == 0) {
        finish(s, 0);
        return;
      }
      if (s->line_len > 0 || !s->pty) {
        n = snprintf(out, sizeof(out), "%s%s", s->line, s->pty ? "\r\n" : "\n");
        sshmux_server_channel_write(s->ch, SSHMUX_STREAM_STDOUT, out,
                                    (size_t)n);
      }
      s->line_len = 0;
      prompt(s);
      if (c == '\r' && i + 1 < len && buf[i + 1] == '\n')
        i++;
    } else {
      if (s->pty)
        sshmux_server_channel_write(s->ch, SSHMUX_STREAM_STDOUT, &c, 1);
      if (s->line_len + 1 < sizeof(s->line))
        s->line[s->line_len++] = c;
    }
  }
}

static void on_data(sshmux_server_channel_t *ch, int stream, const char *buf,
                    size_t len) {
  session_t *s = sshmux_server_channel_get_data(ch);

  (void)stream;
  if (s->mode == MODE_CAT) {
    /* Echo, and stop reading while the client does not take it back. */
    if (sshmux_server_channel_write(ch, SSHMUX_STREAM_STDOUT, buf, len) != 0)
      sshmux_server_channel_read_stop(ch);
  } else if (s->mode == MODE_SHELL) {
    shell_input(s, buf, len);
  }
}

static void on_eof(sshmux_server_channel_t *ch) {
  session_t *s = sshmux_server_channel_get_data(ch);

  if (s->mode == MODE_CAT || s->mode == MODE_SHELL)
    finish(s, 0);
}

static void on_drain(sshmux_server_channel_t *ch) {
  session_t *s = sshmux_server_channel_get_data(ch);

  if (s->mode == MODE_CAT)
    sshmux_server_channel_read_start(ch);
  else if (s->mode == MODE_BULK)
    bulk_more(s);
}

static void on_close(sshmux_server_channel_t *ch) {
  session_t *s = sshmux_server_channel_get_data(ch);
  deferred_t *d;

  /* Requests die with the channel: drop the deferred answers unread. */
  while ((d = s->pending) != NULL) {
    s->pending = d->next;
    free(d->command);
    free(d);
  }
  session_release(s);
}

static void on_request(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                       sshmux_server_request_t *req,
                       const sshmux_server_request_info_t *info) {
  session_t *s = sshmux_server_channel_get_data(ch);

  (void)conn;
  if (strcmp(info->type, "exec") == 0) {
    defer(s, req, info->command, 0);
  } else if (strcmp(info->type, "shell") == 0) {
    defer(s, req, NULL, 1);
  } else if (strcmp(info->type, "pty-req") == 0) {
    s->pty = 1;
    sshmux_server_request_reply(req, 1);
  } else if (strcmp(info->type, "env") == 0 ||
             strcmp(info->type, "window-change") == 0 ||
             strcmp(info->type, "break") == 0) {
    sshmux_server_request_reply(req, 1);
  } else if (strcmp(info->type, "signal") == 0) {
    sshmux_server_request_reply(req, 1);
    if (s->mode == MODE_CAT || s->mode == MODE_SHELL) {
      sshmux_server_channel_exit_signal(ch, info->signal, 0, "");
      sshmux_server_channel_close(ch);
      s->mode = MODE_NONE;
    }
  } else {
    sshmux_server_request_reply(req, 0); /* subsystem, x11, agent */
  }
}

static void on_open(sshmux_server_conn_t *conn, sshmux_server_channel_t *ch,
                    const sshmux_server_open_info_t *info) {
  static const sshmux_server_channel_cbs_t cbs = {on_request, on_data,  on_eof,
                                                  on_drain,   on_close, NULL};
  session_t *s = calloc(1, sizeof(*s));

  if (s == NULL) {
    sshmux_server_channel_reject(ch, SSHMUX_OPEN_RESOURCE_SHORTAGE, "oom");
    return;
  }
  uv_timer_init(uv_default_loop(), &s->timer);
  uv_timer_init(uv_default_loop(), &s->sleep);
  s->handles = 2;
  (void)conn;
  s->ch = ch;
  s->timer.data = s;
  s->sleep.data = s;
  s->accept = 1;
  if (info->type == SSHMUX_CHANNEL_DIRECT_TCPIP) {
    s->mode = MODE_CAT;
    s->accept = info->port == 7;
  } else if (info->type != SSHMUX_CHANNEL_SESSION) {
    s->accept = 0;
  }
  sshmux_server_channel_set_data(ch, s);
  sshmux_server_channel_set_cbs(ch, &cbs);
  /* Input that arrives before the program runs is held by the library
   * (within the window) until read_start, as a relay does while its
   * upstream channel is still opening. */
  if (s->mode != MODE_CAT)
    sshmux_server_channel_read_stop(ch);
  defer(s, NULL, NULL, 0);
}

static void on_signal(uv_signal_t *h, int sig) {
  (void)sig;
  (void)h;
  sshmux_server_close(server, NULL);
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
}

int main(int argc, char **argv) {
  const char *host_key = NULL, *ak = NULL, *log = NULL;
  sshmux_server_cbs_t cbs;
  uint64_t rekey = 0, grace = 0;
  const char *startups = NULL;
  char ecdsa[4096];
  int port = -1, i, r;
  uv_loop_t *loop = uv_default_loop();

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--any-user") == 0) {
      opt_any_user = 1;
      continue;
    }
    if (v == NULL) {
      usage(stderr);
      return 2;
    }
    i++;
    if (strcmp(a, "--port") == 0)
      port = atoi(v);
    else if (strcmp(a, "--host-key") == 0)
      host_key = v;
    else if (strcmp(a, "--authorized-keys") == 0)
      ak = v;
    else if (strcmp(a, "--user") == 0)
      opt_user = v;
    else if (strcmp(a, "--rekey-bytes") == 0)
      rekey = strtoull(v, NULL, 10);
    else if (strcmp(a, "--login-grace") == 0)
      grace = strtoull(v, NULL, 10);
    else if (strcmp(a, "--startups") == 0)
      startups = v;
    else if (strcmp(a, "--log") == 0)
      log = v;
    else if (strcmp(a, "--answer-ms") == 0)
      opt_answer_ms = strtoull(v, NULL, 10);
    else {
      usage(stderr);
      return 2;
    }
  }
  if (port < 0 || host_key == NULL || ak == NULL) {
    usage(stderr);
    return 2;
  }
  if (opt_user == NULL) {
    struct passwd *pw = getpwuid(getuid());
    opt_user = pw ? pw->pw_name : "root";
  }
  if (log != NULL) {
    sshmux_log_level_t lvl;
    if (sshmux_log_level_parse(log, &lvl) < 0) {
      fprintf(stderr, "echo-server: unknown log level %s\n", log);
      return 2;
    }
    sshmux_set_log_cb(on_log, lvl, NULL);
  }
  signal(SIGPIPE, SIG_IGN);
  memset(&cbs, 0, sizeof(cbs));
  cbs.auth = on_auth;
  cbs.channel_open = on_open;
  if ((r = sshmux_server_new(loop, &cbs, &server)) != 0)
    goto fail;
  snprintf(ecdsa, sizeof(ecdsa), "%s-ecdsa", host_key);
  if ((r = sshmux_server_add_host_key(server, host_key,
                                      SSHMUX_SERVER_KEY_ED25519)) != 0 ||
      (r = sshmux_server_add_host_key(server, ecdsa,
                                      SSHMUX_SERVER_KEY_ECDSA_P256)) != 0) {
    fprintf(stderr, "echo-server: host key: %s\n", sshmux_strerror(r));
    return 1;
  }
  if ((r = sshmux_server_set_authorized_keys(server, ak)) != 0)
    goto fail;
  if (rekey)
    sshmux_server_set_rekey_limits(server, rekey, 0);
  if (grace)
    sshmux_server_set_login_grace(server, grace);
  if (startups != NULL) {
    /* MaxStartups-style begin:rate:full (sshmux_server_options_t). */
    sshmux_server_options_t o;
    sshmux_server_options_init(&o);
    if (sscanf(startups, "%u:%u:%u", &o.startups_begin, &o.startups_rate,
               &o.startups_full) != 3 ||
        (r = sshmux_server_set_options(server, &o)) != 0) {
      fprintf(stderr, "echo-server: bad --startups %s\n", startups);
      return 2;
    }
  }
  if ((r = sshmux_server_listen(server, "127.0.0.1", port)) != 0)
    goto fail;
  printf("listening on 127.0.0.1:%d\n", sshmux_server_port(server));
  fflush(stdout);
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return 0;
fail:
  fprintf(stderr, "echo-server: %s\n", sshmux_strerror(r));
  return 1;
}
