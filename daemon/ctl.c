/* ctl.c -- the client side of the control socket: `sshmuxd status`,
 * `stop`, `lock`, `unlock`, `prompt` and `connect`.
 *
 * Each command is a short-lived process that connects to the running
 * daemon (after checking the control directory, see ipc_path.c), writes
 * one JSON line and reads the reply line; `prompt` keeps a subscription
 * open and `connect` turns the connection into a raw byte stream
 * (docs/ipc.md).  These are plain blocking sockets with poll(): a client
 * process has nothing else to do while it waits, and every wait is bounded
 * by a timeout so a wedged daemon cannot hang a script. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "core/core.h"
#include "sshmuxd.h"

#define REPLY_TIMEOUT_MS 15000

/* A line reader over a blocking fd: bytes after the line stay buffered. */
typedef struct {
  int fd;
  char *buf;
  size_t len, cap;
} lines_t;

static void lines_free(lines_t *l) {
  if (l->buf != NULL)
    sshmux__free_secret(l->buf, l->cap);
  l->buf = NULL;
  l->len = l->cap = 0;
}

/* The next line (NUL-terminated, newline removed) into *out (caller frees
 * with sshmux__free).  0, SSHMUX_ETIMEOUT, SSHMUX_EDISCONNECTED or
 * SSHMUX_ETOOLONG.  timeout_ms < 0 waits for ever. */
static int lines_next(lines_t *l, int timeout_ms, char **out) {
  uint64_t deadline = uv_hrtime() / 1000000 + (uint64_t)timeout_ms;

  for (;;) {
    char *nl = l->len > 0 ? memchr(l->buf, '\n', l->len) : NULL;
    struct pollfd pfd;
    ssize_t n;
    int wait;
    if (nl != NULL) {
      size_t len = (size_t)(nl - l->buf);
      char *s = sshmux__malloc(len + 1);
      if (s == NULL)
        return SSHMUX_ENOMEM;
      memcpy(s, l->buf, len);
      s[len] = '\0';
      memmove(l->buf, nl + 1, l->len - len - 1);
      l->len -= len + 1;
      *out = s;
      return 0;
    }
    if (l->len >= SSHMUXD_IPC_MAX_REPLY)
      return SSHMUX_ETOOLONG;
    if (l->cap - l->len < 4096) {
      size_t cap = l->cap ? l->cap * 2 : 8192;
      char *b = sshmux__malloc(cap);
      if (b == NULL)
        return SSHMUX_ENOMEM;
      if (l->buf != NULL)
        memcpy(b, l->buf, l->len);
      lines_free(&(lines_t){0, l->buf, 0, l->cap});
      l->buf = b;
      l->cap = cap;
    }
    if (timeout_ms < 0) {
      wait = -1;
    } else {
      uint64_t now = uv_hrtime() / 1000000;
      if (now >= deadline)
        return SSHMUX_ETIMEOUT;
      wait = (int)(deadline - now);
    }
    pfd.fd = l->fd;
    pfd.events = POLLIN;
    if (poll(&pfd, 1, wait) < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
      continue;
    n = read(l->fd, l->buf + l->len, l->cap - l->len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return SSHMUX_EDISCONNECTED;
    l->len += (size_t)n;
  }
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Send w (a finished JSON object) as one line. */
static int send_req(int fd, sshmux__jsonw_t *w) {
  int r = sshmux__jsonw_line(w);

  if (r == 0 && write_all(fd, w->s, w->len) != 0)
    r = SSHMUX_EDISCONNECTED;
  sshmux__jsonw_free(w);
  return r;
}

/* Read one reply; *raw gets the line (may be NULL), *reply the tree. */
static int read_reply(lines_t *l, int timeout_ms, char **raw,
                      sshmux__json_t **reply) {
  char *line = NULL;
  int r = lines_next(l, timeout_ms, &line);

  if (r != 0) {
    sshmuxd_err("no reply from sshmuxd: %s", sshmux_strerror(r));
    return r;
  }
  r = sshmux__json_parse(line, strlen(line), reply);
  if (r != 0 || (*reply)->type != SSHMUX__JSON_OBJECT) {
    sshmuxd_err("sshmuxd sent a reply that is not a JSON object");
    sshmux__json_free(*reply);
    *reply = NULL;
    sshmux__free(line);
    return r != 0 ? r : SSHMUX_EPROTO;
  }
  if (raw != NULL)
    *raw = line;
  else
    sshmux__free(line);
  return 0;
}

/* Print the daemon's error and return SSHMUXD_EXIT_FAIL, or 0 if ok. */
static int reply_status(const sshmux__json_t *reply) {
  const char *msg;

  if (sshmux__json_get_bool(reply, "ok", 0))
    return 0;
  msg = sshmux__json_get_str(reply, "message");
  sshmuxd_err("%s", msg != NULL ? msg : "the daemon refused the request");
  return SSHMUXD_EXIT_FAIL;
}

/* Connect, send {"cmd":cmd}, read the reply.  Exit code. */
static int simple_request(const char *cmd, char **raw, sshmux__json_t **reply) {
  sshmux__jsonw_t w;
  lines_t l = {0};
  int r;

  *reply = NULL;
  if ((l.fd = sshmuxd_control_connect(0)) < 0)
    return SSHMUXD_EXIT_FAIL;
  sshmux__jsonw_init(&w, 1024);
  sshmux__jsonw_obj_open(&w);
  sshmux__jsonw_kstr(&w, "cmd", cmd);
  sshmux__jsonw_obj_close(&w);
  r = send_req(l.fd, &w);
  if (r == 0)
    r = read_reply(&l, REPLY_TIMEOUT_MS, raw, reply);
  close(l.fd);
  lines_free(&l);
  if (r != 0)
    return SSHMUXD_EXIT_FAIL;
  return reply_status(*reply);
}

/* ---- status ---- */

typedef struct {
  int json;
} status_opts_t;

static void status_usage(FILE *f, void *ctx) {
  (void)ctx;
  fprintf(f, "usage: sshmuxd status [--json]\n\n"
             "Show the running daemon: every upstream connection with its "
             "statistics,\nwhether the pool is locked, version and uptime.\n\n"
             "  --json            one JSON object "
             "(docs/ipc.md)\n" SSHMUXD_COMMON_HELP);
}

static int status_opt(int c, const char *arg, void *ctx) {
  status_opts_t *o = ctx;
  (void)arg;
  if (c == 'j') {
    o->json = 1;
    return 0;
  }
  return SSHMUXD_EXIT_USAGE;
}

static void human_bytes(char *out, size_t size, int64_t v) {
  if (v < 10 * 1024)
    snprintf(out, size, "%lld B", (long long)v);
  else if (v < 10 * 1024 * 1024)
    snprintf(out, size, "%lld KiB", (long long)(v / 1024));
  else
    snprintf(out, size, "%lld MiB", (long long)(v / (1024 * 1024)));
}

static void human_time(char *out, size_t size, int64_t s) {
  if (s < 0)
    snprintf(out, size, "never");
  else if (s < 120)
    snprintf(out, size, "%llds", (long long)s);
  else if (s < 7200)
    snprintf(out, size, "%lldm", (long long)(s / 60));
  else
    snprintf(out, size, "%lldh%02lldm", (long long)(s / 3600),
             (long long)(s / 60 % 60));
}

static void print_status(const sshmux__json_t *r) {
  const sshmux__json_t *pool = sshmux__json_get(r, "pool");
  const sshmux__json_t *conns = sshmux__json_get(r, "connections"), *c;
  char up[32];

  human_time(up, sizeof(up), sshmux__json_get_int(r, "uptime_s", 0));
  printf("sshmuxd %s, pid %lld, up %s, %s\n",
         sshmux__json_get_str(r, "version") ? sshmux__json_get_str(r, "version")
                                            : "?",
         (long long)sshmux__json_get_int(r, "pid", 0), up,
         sshmux__json_get_bool(r, "locked", 0) ? "LOCKED (new sessions refused)"
                                               : "unlocked");
  if (sshmux__json_get_int(r, "port", 0) > 0)
    printf("local server: 127.0.0.1:%lld\n",
           (long long)sshmux__json_get_int(r, "port", 0));
  printf("routes: %s\n", sshmux__json_get_str(r, "routes")
                             ? sshmux__json_get_str(r, "routes")
                             : "?");
  printf("upstream: %lld connection(s); %lld login(s), %lld failed; %lld "
         "channel(s) opened\n",
         (long long)sshmux__json_get_int(pool, "connections", 0),
         (long long)sshmux__json_get_int(pool, "logins", 0),
         (long long)sshmux__json_get_int(pool, "login_failures", 0),
         (long long)sshmux__json_get_int(pool, "channels_opened", 0));
  for (c = conns != NULL ? conns->child : NULL; c != NULL; c = c->next) {
    char in[32], out[32], age[32], exp[32];
    const char *via = sshmux__json_get_str(c, "jump_chain");
    human_bytes(in, sizeof(in), sshmux__json_get_int(c, "bytes_in", 0));
    human_bytes(out, sizeof(out), sshmux__json_get_int(c, "bytes_out", 0));
    human_time(age, sizeof(age), sshmux__json_get_int(c, "age_ms", 0) / 1000);
    {
      int64_t e = sshmux__json_get_int(c, "expires_in_ms", -1);
      human_time(exp, sizeof(exp), e < 0 ? -1 : e / 1000);
    }
    printf("  %s%s%s\n", sshmux__json_get_str(c, "target"),
           via != NULL && via[0] ? " via " : "", via != NULL ? via : "");
    printf("    %s, %lld channel(s) (%lld session(s)), in %s, out %s, age "
           "%s, expires in %s%s\n",
           sshmux__json_get_str(c, "state") ? sshmux__json_get_str(c, "state")
                                            : "?",
           (long long)sshmux__json_get_int(c, "channels", 0),
           (long long)sshmux__json_get_int(c, "sessions", 0), in, out, age, exp,
           sshmux__json_get_bool(c, "overflow", 0) ? ", overflow" : "");
  }
  printf("prompts pending: %lld; prompt agents: %lld; control clients: %lld; "
         "connect streams: %lld\n",
         (long long)sshmux__json_get_int(r, "prompts", 0),
         (long long)sshmux__json_get_int(r, "agents", 0),
         (long long)sshmux__json_get_int(r, "clients", 0),
         (long long)sshmux__json_get_int(r, "streams", 0));
}

int sshmuxd_cmd_status(int argc, char **argv) {
  static const struct option opts[] = {
      {"json", no_argument, NULL, 'j'}, SSHMUXD_COMMON_LONGOPTS, {0}};
  status_opts_t o = {0};
  sshmux__json_t *reply = NULL;
  char *raw = NULL;
  int r;

  if ((r = sshmuxd_parse_args(argc, argv, "h", opts, status_opt, status_usage,
                              &o)) != 0)
    return r < 0 ? 0 : r;
  r = simple_request("status", &raw, &reply);
  if (r == 0) {
    if (o.json)
      printf("%s\n", raw);
    else
      print_status(reply);
  }
  sshmux__free(raw);
  sshmux__json_free(reply);
  return r;
}

/* ---- stop, lock, unlock ---- */

static void plain_usage(FILE *f, void *ctx) {
  const char *name = ctx;
  fprintf(f, "usage: sshmuxd %s\n\n%s\n\n" SSHMUXD_COMMON_HELP, name,
          strcmp(name, "stop") == 0
              ? "Stop the running daemon (open sessions end) and wait until "
                "it is gone."
          : strcmp(name, "lock") == 0
              ? "Refuse new sessions; open ones keep working."
              : "Accept new sessions again after `sshmuxd lock`.");
}

static int no_opt(int c, const char *arg, void *ctx) {
  (void)c, (void)arg, (void)ctx;
  return SSHMUXD_EXIT_USAGE;
}

static int plain_command(int argc, char **argv, const char *cmd) {
  static const struct option opts[] = {SSHMUXD_COMMON_LONGOPTS, {0}};
  sshmux__json_t *reply = NULL;
  int r;

  if ((r = sshmuxd_parse_args(argc, argv, "h", opts, no_opt, plain_usage,
                              (void *)(uintptr_t)cmd)) != 0)
    return r < 0 ? 0 : r;
  r = simple_request(cmd, NULL, &reply);
  sshmux__json_free(reply);
  if (r != 0)
    return r;
  if (strcmp(cmd, "stop") == 0) {
    /* Wait (bounded) until the daemon no longer answers. */
    for (int i = 0; i < 200; i++) {
      int fd = sshmuxd_control_connect(1);
      if (fd < 0) {
        printf("sshmuxd stopped\n");
        return 0;
      }
      close(fd);
      usleep(50 * 1000);
    }
    sshmuxd_err("sshmuxd accepted stop but is still running after 10 s");
    return SSHMUXD_EXIT_FAIL;
  }
  printf("%s\n", strcmp(cmd, "lock") == 0
                     ? "locked: new sessions are refused, open ones go on"
                     : "unlocked");
  return 0;
}

int sshmuxd_cmd_stop(int argc, char **argv) {
  return plain_command(argc, argv, "stop");
}
int sshmuxd_cmd_lock(int argc, char **argv) {
  return plain_command(argc, argv, "lock");
}
int sshmuxd_cmd_unlock(int argc, char **argv) {
  return plain_command(argc, argv, "unlock");
}

/* ---- prompt ---- */

typedef struct {
  int list, json, wait, cancel;
  long long answer;
  int timeout_s;
} prompt_opts_t;

enum {
  OPT_LIST = OPT_FIRST_PRIVATE,
  OPT_JSON,
  OPT_ANSWER,
  OPT_WAIT,
  OPT_CANCEL,
  OPT_TIMEOUT
};

static void prompt_usage(FILE *f, void *ctx) {
  (void)ctx;
  fprintf(f,
          "usage: sshmuxd prompt [--timeout SECS]\n"
          "       sshmuxd prompt --list [--json] [--wait] [--timeout SECS]\n"
          "       sshmuxd prompt --answer ID < answer\n"
          "       sshmuxd prompt --cancel ID\n\n"
          "Without options: an agent for this terminal.  It waits for the\n"
          "daemon's questions (one-time codes, passphrases, unknown host\n"
          "keys) and asks you; input is not echoed unless the server allows "
          "it.\n\n"
          "  --list            print the pending prompts and exit\n"
          "  --json            ... as one JSON object\n"
          "  --wait            ... waiting until there is at least one\n"
          "  --answer ID       answer prompt ID with stdin: one line per "
          "question;\n"
          "                    for a host key, `yes` trusts it, anything else "
          "rejects\n"
          "  --cancel ID       refuse prompt ID (the login fails)\n"
          "  --timeout SECS    give up waiting after SECS (default: never for "
          "the\n"
          "                    agent, 60 for --wait)\n" SSHMUXD_COMMON_HELP);
}

static int prompt_opt(int c, const char *arg, void *ctx) {
  prompt_opts_t *o = ctx;
  char *end;

  switch (c) {
  case OPT_LIST:
    o->list = 1;
    return 0;
  case OPT_JSON:
    o->json = 1;
    return 0;
  case OPT_WAIT:
    o->wait = 1;
    return 0;
  case OPT_ANSWER:
  case OPT_CANCEL:
    o->answer = strtoll(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || o->answer <= 0) {
      sshmuxd_err("expected a prompt id, got '%s'", arg);
      return SSHMUXD_EXIT_USAGE;
    }
    o->cancel = c == OPT_CANCEL;
    return 0;
  case OPT_TIMEOUT:
    o->timeout_s = atoi(arg);
    if (o->timeout_s <= 0) {
      sshmuxd_err("--timeout: expected seconds > 0, got '%s'", arg);
      return SSHMUXD_EXIT_USAGE;
    }
    return 0;
  }
  return SSHMUXD_EXIT_USAGE;
}

static void print_prompt(FILE *f, const sshmux__json_t *p) {
  const char *kind = sshmux__json_get_str(p, "kind");
  const char *s;
  const sshmux__json_t *qs = sshmux__json_get(p, "questions"), *q;

  fprintf(f, "\n==================================================\n");
  fprintf(f, "  sshmux prompt %lld: %s\n",
          (long long)sshmux__json_get_int(p, "id", 0),
          sshmux__json_get_str(p, "target") ? sshmux__json_get_str(p, "target")
                                            : "?");
  fprintf(f, "==================================================\n");
  if ((s = sshmux__json_get_str(p, "notice")) != NULL)
    fprintf(f, "  NOTE: %s\n", s);
  if (kind != NULL && strcmp(kind, "hostkey") == 0) {
    fprintf(f, "  Unknown host key: %s %s\n",
            sshmux__json_get_str(p, "hostkey_type")
                ? sshmux__json_get_str(p, "hostkey_type")
                : "",
            sshmux__json_get_str(p, "fingerprint")
                ? sshmux__json_get_str(p, "fingerprint")
                : "");
    return;
  }
  if ((s = sshmux__json_get_str(p, "name")) != NULL && s[0])
    fprintf(f, "  %s\n", s);
  if ((s = sshmux__json_get_str(p, "instruction")) != NULL && s[0])
    fprintf(f, "  %s\n", s);
  for (q = qs != NULL ? qs->child : NULL; q != NULL; q = q->next)
    fprintf(f, "  question: %s%s\n",
            sshmux__json_get_str(q, "text") ? sshmux__json_get_str(q, "text")
                                            : "",
            sshmux__json_get_bool(q, "echo", 0) ? "" : " (hidden)");
}

/* Read one line from the terminal (echo off unless echo), into out. */
static int read_answer(const char *label, int echo, char *out, size_t size) {
  struct termios old, t;
  int tty = isatty(0), changed = 0;
  size_t n = 0;
  char ch;

  fprintf(stderr, "%s", label);
  fflush(stderr);
  if (tty && !echo && tcgetattr(0, &old) == 0) {
    t = old;
    t.c_lflag &= ~(tcflag_t)ECHO;
    t.c_lflag |= ECHONL;
    changed = tcsetattr(0, TCSAFLUSH, &t) == 0;
  }
  for (;;) {
    ssize_t r = read(0, &ch, 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      if (changed)
        tcsetattr(0, TCSAFLUSH, &old);
      return -1;
    }
    if (ch == '\n')
      break;
    if (n + 1 < size)
      out[n++] = ch;
  }
  if (n > 0 && out[n - 1] == '\r')
    n--;
  out[n] = '\0';
  if (changed)
    tcsetattr(0, TCSAFLUSH, &old);
  return 0;
}

static int send_answer(int fd, long long id, int cancel,
                       const char *const *answers, size_t n) {
  sshmux__jsonw_t w;

  sshmux__jsonw_init(&w, 65536);
  sshmux__jsonw_obj_open(&w);
  sshmux__jsonw_kstr(&w, "cmd", cancel ? "cancel" : "answer");
  sshmux__jsonw_kint(&w, "prompt", id);
  if (!cancel) {
    sshmux__jsonw_key(&w, "answers");
    sshmux__jsonw_arr_open(&w);
    for (size_t i = 0; i < n; i++)
      sshmux__jsonw_str(&w, answers[i]);
    sshmux__jsonw_arr_close(&w);
  }
  sshmux__jsonw_obj_close(&w);
  return send_req(fd, &w);
}

/* The agent: ask the person at this terminal for each prompt event. */
static int prompt_agent(int fd, lines_t *l, const prompt_opts_t *o) {
  int timeout = o->timeout_s > 0 ? o->timeout_s * 1000 : -1;

  fprintf(stderr, "sshmux prompt agent: waiting for questions from sshmuxd "
                  "(Ctrl-C to stop)\n");
  for (;;) {
    sshmux__json_t *ev = NULL;
    const sshmux__json_t *p;
    const char *event, *kind;
    char *line = NULL;
    int r = lines_next(l, timeout, &line);

    if (r == SSHMUX_ETIMEOUT)
      return 0;
    if (r != 0) {
      sshmuxd_err("the daemon went away (%s)", sshmux_strerror(r));
      return SSHMUXD_EXIT_FAIL;
    }
    r = sshmux__json_parse(line, strlen(line), &ev);
    sshmux__free(line);
    if (r != 0)
      continue;
    event = sshmux__json_get_str(ev, "event");
    p = sshmux__json_get(ev, "prompt");
    if (event == NULL) {
      /* A reply to one of our answers. */
      if (!sshmux__json_get_bool(ev, "ok", 0))
        fprintf(stderr, "  refused: %s\n",
                sshmux__json_get_str(ev, "message")
                    ? sshmux__json_get_str(ev, "message")
                    : "?");
      sshmux__json_free(ev);
      continue;
    }
    if (strcmp(event, "prompt") != 0 || p == NULL) {
      if (strcmp(event, "prompt") != 0)
        fprintf(stderr, "  (prompt %lld %s)\n",
                (long long)sshmux__json_get_int(ev, "prompt", 0), event);
      sshmux__json_free(ev);
      continue;
    }
    print_prompt(stderr, p);
    kind = sshmux__json_get_str(p, "kind");
    {
      long long id = sshmux__json_get_int(p, "id", 0);
      const sshmux__json_t *qs = sshmux__json_get(p, "questions"), *q;
      char *ans[16] = {0};
      size_t n = 0;
      int cancel = 0;
      if (kind != NULL && strcmp(kind, "hostkey") == 0) {
        char yes[16];
        if (read_answer("  Trust this host key and remember it? (yes/no): ", 1,
                        yes, sizeof(yes)) != 0)
          return 0;
        cancel = strcmp(yes, "yes") != 0;
      } else {
        for (q = qs != NULL ? qs->child : NULL; q != NULL && n < 16;
             q = q->next) {
          char label[600];
          ans[n] = sshmux__calloc(1, 1024);
          if (ans[n] == NULL)
            break;
          snprintf(label, sizeof(label), "  %s ",
                   sshmux__json_get_str(q, "text")
                       ? sshmux__json_get_str(q, "text")
                       : ">");
          if (read_answer(label, sshmux__json_get_bool(q, "echo", 0), ans[n],
                          1024) != 0) {
            cancel = 1;
            n++;
            break;
          }
          n++;
        }
      }
      r = send_answer(fd, id, cancel, (const char *const *)ans, n);
      for (size_t i = 0; i < n; i++)
        sshmux__free_secret(ans[i], 1024);
      sshmux__json_free(ev);
      if (r != 0)
        return SSHMUXD_EXIT_FAIL;
      fprintf(stderr, "  %s.\n", cancel ? "refused" : "sent");
    }
  }
}

/* --answer ID: stdin holds one line per question. */
static int prompt_answer(int fd, lines_t *l, const prompt_opts_t *o) {
  sshmux__jsonw_t w;
  sshmux__json_t *reply = NULL;
  const sshmux__json_t *ps, *p = NULL;
  char *in = NULL, *ans[16] = {0};
  size_t len = 0, n = 0, want = 0;
  int r, cancel = o->cancel;

  /* Find the prompt to know how many lines to read. */
  sshmux__jsonw_init(&w, 256);
  sshmux__jsonw_obj_open(&w);
  sshmux__jsonw_kstr(&w, "cmd", "prompts");
  sshmux__jsonw_obj_close(&w);
  if (send_req(fd, &w) != 0 || read_reply(l, REPLY_TIMEOUT_MS, NULL, &reply))
    return SSHMUXD_EXIT_FAIL;
  ps = sshmux__json_get(reply, "prompts");
  for (p = ps != NULL ? ps->child : NULL; p != NULL; p = p->next)
    if (sshmux__json_get_int(p, "id", 0) == o->answer)
      break;
  if (p == NULL) {
    sshmuxd_err("no pending prompt %lld", o->answer);
    sshmux__json_free(reply);
    return SSHMUXD_EXIT_FAIL;
  }
  if (!cancel) {
    const char *kind = sshmux__json_get_str(p, "kind");
    int hostkey = kind != NULL && strcmp(kind, "hostkey") == 0;
    const sshmux__json_t *qs = sshmux__json_get(p, "questions");
    char *s;
    want = hostkey ? 1 : (qs != NULL ? qs->count : 0);
    in = sshmux__calloc(1, 16384);
    if (in == NULL) {
      sshmux__json_free(reply);
      return SSHMUXD_EXIT_FAIL;
    }
    while (len < 16383) {
      ssize_t k = read(0, in + len, 16383 - len);
      if (k < 0 && errno == EINTR)
        continue;
      if (k <= 0)
        break;
      len += (size_t)k;
    }
    in[len] = '\0';
    for (s = in; n < want && n < 16;) {
      char *nl = strchr(s, '\n');
      if (nl == NULL && *s == '\0')
        break;
      if (nl != NULL)
        *nl = '\0';
      if (nl != NULL && nl > s && nl[-1] == '\r')
        nl[-1] = '\0';
      ans[n++] = s;
      if (nl == NULL)
        break;
      s = nl + 1;
    }
    if (n < want) {
      sshmuxd_err("prompt %lld wants %zu line(s) on stdin, got %zu", o->answer,
                  want, n);
      sshmux__free_secret(in, 16384);
      sshmux__json_free(reply);
      return SSHMUXD_EXIT_FAIL;
    }
    if (hostkey) {
      cancel = strcmp(ans[0], "yes") != 0;
      n = 0;
    }
  }
  sshmux__json_free(reply);
  reply = NULL;
  r = send_answer(fd, o->answer, cancel, (const char *const *)ans, n);
  if (in != NULL)
    sshmux__free_secret(in, 16384);
  if (r != 0 || read_reply(l, REPLY_TIMEOUT_MS, NULL, &reply) != 0)
    return SSHMUXD_EXIT_FAIL;
  r = reply_status(reply);
  sshmux__json_free(reply);
  return r;
}

static int prompt_list(int fd, lines_t *l, const prompt_opts_t *o) {
  sshmux__jsonw_t w;
  sshmux__json_t *reply = NULL;
  const sshmux__json_t *ps, *p;
  char *raw = NULL;
  int r;

  if (o->wait) {
    /* Subscribe, and wait for the first prompt event (or one pending). */
    int timeout = (o->timeout_s > 0 ? o->timeout_s : 60) * 1000;
    sshmux__jsonw_init(&w, 256);
    sshmux__jsonw_obj_open(&w);
    sshmux__jsonw_kstr(&w, "cmd", "subscribe");
    sshmux__jsonw_obj_close(&w);
    if (send_req(fd, &w) != 0 || read_reply(l, REPLY_TIMEOUT_MS, NULL, &reply))
      return SSHMUXD_EXIT_FAIL;
    sshmux__json_free(reply);
    for (;;) {
      char *line = NULL;
      sshmux__json_t *ev = NULL;
      const char *e;
      if ((r = lines_next(l, timeout, &line)) != 0) {
        sshmuxd_err("no prompt arrived: %s", sshmux_strerror(r));
        return SSHMUXD_EXIT_FAIL;
      }
      r = sshmux__json_parse(line, strlen(line), &ev);
      sshmux__free(line);
      e = r == 0 ? sshmux__json_get_str(ev, "event") : NULL;
      r = e != NULL && strcmp(e, "prompt") == 0;
      sshmux__json_free(ev);
      if (r)
        break;
    }
  }
  sshmux__jsonw_init(&w, 256);
  sshmux__jsonw_obj_open(&w);
  sshmux__jsonw_kstr(&w, "cmd", "prompts");
  sshmux__jsonw_obj_close(&w);
  if (send_req(fd, &w) != 0)
    return SSHMUXD_EXIT_FAIL;
  /* Skip events that may precede the reply on a subscribed connection. */
  for (;;) {
    if (read_reply(l, REPLY_TIMEOUT_MS, &raw, &reply) != 0)
      return SSHMUXD_EXIT_FAIL;
    if (sshmux__json_get(reply, "event") == NULL)
      break;
    sshmux__free(raw);
    sshmux__json_free(reply);
  }
  if ((r = reply_status(reply)) == 0) {
    if (o->json) {
      printf("%s\n", raw);
    } else {
      ps = sshmux__json_get(reply, "prompts");
      if (ps == NULL || ps->count == 0)
        printf("no pending prompts\n");
      for (p = ps != NULL ? ps->child : NULL; p != NULL; p = p->next)
        print_prompt(stdout, p);
    }
  }
  sshmux__free(raw);
  sshmux__json_free(reply);
  return r;
}

int sshmuxd_cmd_prompt(int argc, char **argv) {
  static const struct option opts[] = {
      {"list", no_argument, NULL, OPT_LIST},
      {"json", no_argument, NULL, OPT_JSON},
      {"wait", no_argument, NULL, OPT_WAIT},
      {"answer", required_argument, NULL, OPT_ANSWER},
      {"cancel", required_argument, NULL, OPT_CANCEL},
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      SSHMUXD_COMMON_LONGOPTS,
      {0}};
  prompt_opts_t o;
  sshmux__jsonw_t w;
  sshmux__json_t *reply = NULL;
  lines_t l = {0};
  int r;

  memset(&o, 0, sizeof(o));
  if ((r = sshmuxd_parse_args(argc, argv, "h", opts, prompt_opt, prompt_usage,
                              &o)) != 0)
    return r < 0 ? 0 : r;
  if ((o.json || o.wait) && !o.list) {
    sshmuxd_err("prompt: --json and --wait go with --list");
    return SSHMUXD_EXIT_USAGE;
  }
  if (o.list && o.answer) {
    sshmuxd_err("prompt: --list and --answer/--cancel exclude each other");
    return SSHMUXD_EXIT_USAGE;
  }
  if ((l.fd = sshmuxd_control_connect(0)) < 0)
    return SSHMUXD_EXIT_FAIL;
  if (o.list) {
    r = prompt_list(l.fd, &l, &o);
  } else if (o.answer) {
    r = prompt_answer(l.fd, &l, &o);
  } else {
    sshmux__jsonw_init(&w, 256);
    sshmux__jsonw_obj_open(&w);
    sshmux__jsonw_kstr(&w, "cmd", "subscribe");
    sshmux__jsonw_obj_close(&w);
    if (send_req(l.fd, &w) != 0 ||
        read_reply(&l, REPLY_TIMEOUT_MS, NULL, &reply) != 0 ||
        reply_status(reply) != 0)
      r = SSHMUXD_EXIT_FAIL;
    else
      r = prompt_agent(l.fd, &l, &o);
    sshmux__json_free(reply);
  }
  close(l.fd);
  lines_free(&l);
  return r;
}

/* ---- connect (ProxyCommand) ---- */

typedef struct {
  const char *via;
} connect_opts_t;

enum { OPT_VIA = OPT_FIRST_PRIVATE + 10 };

static void connect_usage(FILE *f, void *ctx) {
  (void)ctx;
  fprintf(f,
          "usage: sshmuxd connect [user@]host[:port] [--via JUMP]\n\n"
          "For ssh's ProxyCommand: joins stdin/stdout to host:port through a\n"
          "direct-tcpip channel that the running daemon opens on its pooled\n"
          "connection to the jump host (no new login to the jump).  host may\n"
          "be a route's name (its host through its jump).  The destination\n"
          "must be allowed by the jump's forward_allow.  Example:\n"
          "  ssh -o ProxyCommand='sshmuxd connect %%h:%%p --via bastion' "
          "target\n\n"
          "  --via JUMP        the jump (or route) to go through (default: "
          "[jump])\n" SSHMUXD_COMMON_HELP);
}

static int connect_opt(int c, const char *arg, void *ctx) {
  connect_opts_t *o = ctx;
  if (c == OPT_VIA) {
    o->via = arg;
    return 0;
  }
  return SSHMUXD_EXIT_USAGE;
}

/* [user@]host[:port], [user@][v6]:port. */
static int parse_dest(const char *arg, char *host, size_t size, int *port) {
  const char *at = strrchr(arg, '@'), *h = at != NULL ? at + 1 : arg;
  const char *colon;
  size_t hl;

  *port = 22;
  if (h[0] == '[') {
    const char *end = strchr(h, ']');
    if (end == NULL)
      return -1;
    hl = (size_t)(end - h - 1);
    h++;
    colon = end[1] == ':' ? end + 1 : NULL;
    if (end[1] != '\0' && colon == NULL)
      return -1;
  } else {
    colon = strchr(h, ':');
    if (colon != NULL && strchr(colon + 1, ':') != NULL)
      colon = NULL; /* a bare IPv6 address */
    hl = colon != NULL ? (size_t)(colon - h) : strlen(h);
  }
  if (hl == 0 || hl >= size)
    return -1;
  memcpy(host, h, hl);
  host[hl] = '\0';
  if (colon != NULL && sshmuxd_parse_port(colon + 1, port) != 0)
    return -1;
  return 0;
}

/* Copy both ways until both directions are finished. */
static int pump(int sock, const char *pre, size_t pre_len) {
  char buf[65536];
  int in_open = 1, sock_open = 1;

  if (pre_len > 0 && write_all(1, pre, pre_len) != 0)
    return SSHMUXD_EXIT_FAIL;
  while (sock_open) {
    struct pollfd pfd[2];
    int nfds = 0;
    pfd[nfds].fd = sock;
    pfd[nfds].events = POLLIN;
    nfds++;
    if (in_open) {
      pfd[nfds].fd = 0;
      pfd[nfds].events = POLLIN;
      nfds++;
    }
    if (poll(pfd, (nfds_t)nfds, -1) < 0) {
      if (errno == EINTR)
        continue;
      return SSHMUXD_EXIT_FAIL;
    }
    if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(sock, buf, sizeof(buf));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        sock_open = 0;
        break;
      }
      if (write_all(1, buf, (size_t)n) != 0)
        return SSHMUXD_EXIT_FAIL;
    }
    if (in_open && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = read(0, buf, sizeof(buf));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        in_open = 0;
        shutdown(sock, SHUT_WR);
      } else if (write_all(sock, buf, (size_t)n) != 0) {
        return SSHMUXD_EXIT_FAIL;
      }
    }
  }
  return 0;
}

int sshmuxd_cmd_connect(int argc, char **argv) {
  static const struct option opts[] = {
      {"via", required_argument, NULL, OPT_VIA}, SSHMUXD_COMMON_LONGOPTS, {0}};
  connect_opts_t o = {0};
  char host[256];
  const char *dest = NULL;
  sshmux__jsonw_t w;
  sshmux__json_t *reply = NULL;
  lines_t l = {0};
  char *args[32];
  int port, r, n = 0, explicit_port;

  /* The destination is the one positional argument; getopt stops at it
   * otherwise, so take it out first. */
  for (int i = 0; i < argc && n < 31; i++) {
    if (i > 0 && dest == NULL && argv[i][0] != '-' &&
        (strcmp(argv[i - 1], "--via") != 0 &&
         strcmp(argv[i - 1], "--ssh-dir") != 0 &&
         strcmp(argv[i - 1], "--log-level") != 0)) {
      dest = argv[i];
      continue;
    }
    args[n++] = argv[i];
  }
  args[n] = NULL;
  if ((r = sshmuxd_parse_args(n, args, "h", opts, connect_opt, connect_usage,
                              &o)) != 0)
    return r < 0 ? 0 : r;
  if (dest == NULL || parse_dest(dest, host, sizeof(host), &port) != 0) {
    sshmuxd_err("connect: expected [user@]host[:port]");
    return SSHMUXD_EXIT_USAGE;
  }
  explicit_port =
      strchr(strrchr(dest, ']') ? strrchr(dest, ']') : dest, ':') != NULL;
  if ((l.fd = sshmuxd_control_connect(0)) < 0)
    return SSHMUXD_EXIT_FAIL;
  sshmux__jsonw_init(&w, 2048);
  sshmux__jsonw_obj_open(&w);
  sshmux__jsonw_kstr(&w, "cmd", "connect");
  sshmux__jsonw_kstr(&w, "host", host);
  if (explicit_port || o.via != NULL)
    sshmux__jsonw_kint(&w, "port", port);
  if (o.via != NULL)
    sshmux__jsonw_kstr(&w, "via", o.via);
  sshmux__jsonw_obj_close(&w);
  r = send_req(l.fd, &w);
  /* The login (and a person answering its prompt) may take a while. */
  if (r == 0)
    r = read_reply(&l, 300000, NULL, &reply);
  if (r == 0)
    r = reply_status(reply);
  sshmux__json_free(reply);
  if (r == 0)
    r = pump(l.fd, l.buf, l.len);
  else
    r = SSHMUXD_EXIT_FAIL;
  close(l.fd);
  lines_free(&l);
  return r;
}
