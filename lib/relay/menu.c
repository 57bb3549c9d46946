/* relay/menu.c -- the route menu (sshmux-style) for a client that logged in
 * with a user name that is no route.
 *
 * A session channel's pty shows only in the requests that follow its open,
 * so such a channel is accepted without an upstream and this file takes
 * over: it remembers pty-req, env and window-change, and when the start
 * request (shell/exec/subsystem) comes it either draws a numbered list of
 * the routes on a pty and reads the choice with minimal line editing, or,
 * without a pty, says on stderr what is wrong and ends with exit status
 * 255 (what ssh itself uses for its own failures).  Once a route is chosen
 * the upstream channel is opened and the remembered requests are replayed
 * (env through the chosen route's allowlist); from then on relay.c bridges
 * the channel like any other. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/relay-int.h"

#define MENU_MAX_ENV 16
#define MENU_LINE_MAX 64
#define MENU_AHEAD_MAX 1024

enum { START_NONE = 0, START_SHELL, START_EXEC, START_SUBSYSTEM };

struct sshmux__menu {
  int have_pty;
  char *term;
  uint8_t *modes;
  size_t modes_len;
  unsigned cols, rows, wpx, hpx;
  char *env_name[MENU_MAX_ENV], *env_value[MENU_MAX_ENV];
  size_t nenv;
  int start;
  char *start_arg;
  int shown;      /* the list is on screen, reading a choice */
  int connecting; /* a route was picked, upstream channel opening */
  char line[MENU_LINE_MAX];
  size_t len;
  int hold; /* hold mode: routed, accepted early for a prompt (prompt.c) */
  int eof;  /* the client sent EOF before the upstream opened */
  /* Bytes the client sent while the route's channel opens (keys, or a
   * command's stdin), sent once it is open.  Past MENU_AHEAD_MAX the
   * client's reads are stopped (paused), so the server holds the rest
   * within the channel window: at most MENU_AHEAD_MAX plus one packet. */
  char *ahead;
  size_t nahead;
  int paused;
};

int sshmux__relay_menu_start(sshmux__rchan_t *rc) {
  rc->menu = sshmux__calloc(1, sizeof(*rc->menu));
  return rc->menu != NULL ? 0 : SSHMUX_ENOMEM;
}

int sshmux__relay_menu_hold(sshmux__rchan_t *rc) {
  if (sshmux__relay_menu_start(rc) != 0)
    return SSHMUX_ENOMEM;
  rc->menu->hold = 1;
  return 0;
}

int sshmux__relay_menu_started(const sshmux__rchan_t *rc) {
  return rc->menu != NULL && rc->menu->start != START_NONE;
}

int sshmux__relay_menu_has_pty(const sshmux__rchan_t *rc) {
  return rc->menu != NULL && rc->menu->have_pty;
}

int sshmux__relay_menu_eof(sshmux__rchan_t *rc) {
  if (rc->menu == NULL || !(rc->menu->hold || rc->menu->connecting))
    return 0;
  rc->menu->eof = 1;
  return 1;
}

void sshmux__relay_menu_free(sshmux__rchan_t *rc) {
  sshmux__menu_t *m = rc->menu;
  size_t i;

  if (m == NULL)
    return;
  sshmux__free(m->term);
  sshmux__free(m->modes);
  for (i = 0; i < m->nenv; i++) {
    sshmux__free(m->env_name[i]);
    sshmux__free(m->env_value[i]);
  }
  sshmux__free(m->start_arg);
  if (m->ahead != NULL) /* may hold typed secrets */
    sshmux__free_secret(m->ahead, m->nahead);
  sshmux__free(m);
  rc->menu = NULL;
}

static void out(sshmux__rchan_t *rc, const char *s) {
  if (rc->down != NULL)
    (void)sshmux_server_channel_write(rc->down, SSHMUX_STREAM_STDOUT, s,
                                      strlen(s));
}

static const char *user_of(const sshmux__rchan_t *rc) {
  const char *u = NULL;

  if (rc->down != NULL)
    u = sshmux_server_conn_user(sshmux_server_channel_conn(rc->down));
  return u != NULL ? u : "";
}

/* "a, b, c" (truncated with "..." when long). */
static void route_names(const sshmux_routes_t *routes, char *buf, size_t size) {
  size_t i, n = sshmux_routes_count(routes), o = 0;

  buf[0] = '\0';
  for (i = 0; i < n && o + 1 < size; i++) {
    int k = snprintf(buf + o, size - o, "%s%s", i ? ", " : "",
                     sshmux_route_name(sshmux_routes_get(routes, i)));
    if (k < 0 || (size_t)k >= size - o) {
      if (size > 4)
        memcpy(buf + size - 4, "...", 4);
      return;
    }
    o += (size_t)k;
  }
}

static void show(sshmux__rchan_t *rc) {
  const sshmux_routes_t *routes = rc->relay->opts.routes;
  size_t i, n = sshmux_routes_count(routes);
  char line[400];

  snprintf(line, sizeof(line), "\r\nsshmux: '%s' is not a route.  Routes:\r\n",
           user_of(rc));
  out(rc, line);
  for (i = 0; i < n; i++) {
    const sshmux_route_t *r = sshmux_routes_get(routes, i);
    const sshmux_route_t *via = sshmux_route_via(r);
    snprintf(line, sizeof(line), "  %2zu) %-20s %s@%s:%d%s%s\r\n", i + 1,
             sshmux_route_name(r), sshmux_route_user(r), sshmux_route_host(r),
             sshmux_route_port(r), via != NULL ? " via " : "",
             via != NULL ? sshmux_route_name(via) : "");
    out(rc, line);
  }
  out(rc, "Choose a route (number or name, q to quit): ");
  rc->menu->shown = 1;
  rc->menu->len = 0;
}

static char *dup_or_null(const char *s, int *oom) {
  char *d;

  if (s == NULL)
    return NULL;
  if ((d = sshmux__strdup(s)) == NULL)
    *oom = 1;
  return d;
}

int sshmux__relay_menu_request(sshmux__rchan_t *rc,
                               const sshmux_server_request_info_t *info) {
  sshmux__menu_t *m = rc->menu;
  const char *t = info->type;
  char names[300];
  int oom = 0;

  if (strcmp(t, "window-change") == 0 || strcmp(t, "pty-req") == 0) {
    m->cols = info->cols;
    m->rows = info->rows;
    m->wpx = info->width_px;
    m->hpx = info->height_px;
    if (t[0] == 'w')
      return -1;
    sshmux__free(m->term);
    sshmux__free(m->modes);
    m->term = dup_or_null(info->term != NULL ? info->term : "", &oom);
    m->modes = sshmux__malloc(info->modes_len + 1);
    if (m->modes != NULL && info->modes_len > 0)
      memcpy(m->modes, info->modes, info->modes_len);
    m->modes_len = info->modes_len;
    m->have_pty = 1;
    if (m->modes == NULL)
      oom = 1;
  } else if (strcmp(t, "env") == 0) {
    if (m->nenv < MENU_MAX_ENV) {
      m->env_name[m->nenv] = dup_or_null(info->env_name, &oom);
      m->env_value[m->nenv] = dup_or_null(info->env_value, &oom);
      m->nenv++;
    }
  } else if (m->start == START_NONE) {
    m->start = strcmp(t, "shell") == 0  ? START_SHELL
               : strcmp(t, "exec") == 0 ? START_EXEC
                                        : START_SUBSYSTEM;
    m->start_arg = dup_or_null(m->start == START_EXEC        ? info->command
                               : m->start == START_SUBSYSTEM ? info->subsystem
                                                             : NULL,
                               &oom);
    if (!oom && m->hold) {
      /* Routed, held for a prompt: now its pty is known (the caller tells
       * prompt.c). */
      return SSHMUX__MENU_READY;
    }
    if (!oom && m->have_pty) {
      show(rc);
      return -1;
    }
    if (!oom) {
      route_names(rc->relay->opts.routes, names, sizeof(names));
      sshmux__relay_note(rc,
                         "sshmux: no route named '%s'; log in as a route "
                         "name (%s)",
                         user_of(rc), names);
      return 255;
    }
  }
  if (oom) {
    sshmux__relay_note(rc, "sshmux: out of memory");
    return 255;
  }
  return -1;
}

static const sshmux_route_t *pick(const sshmux_routes_t *routes,
                                  const char *s) {
  char *end;
  unsigned long v;

  if (*s >= '0' && *s <= '9') {
    v = strtoul(s, &end, 10);
    if (*end == '\0' && v >= 1 && v <= sshmux_routes_count(routes))
      return sshmux_routes_get(routes, v - 1);
    return NULL;
  }
  return sshmux_routes_find(routes, s);
}

static void choose(sshmux__rchan_t *rc) {
  sshmux__menu_t *m = rc->menu;
  const sshmux_route_t *route;
  char line[200];
  int err;

  m->line[m->len] = '\0';
  out(rc, "\r\n");
  if (strcmp(m->line, "q") == 0) {
    sshmux__relay_finish(rc, 0);
    return;
  }
  if (m->len == 0 || (route = pick(rc->relay->opts.routes, m->line)) == NULL) {
    if (m->len > 0)
      out(rc, "sshmux: no such route\r\n");
    show(rc);
    return;
  }
  snprintf(line, sizeof(line), "sshmux: connecting to %s ...\r\n",
           sshmux_route_name(route));
  out(rc, line);
  m->shown = 0;
  m->connecting = 1;
  rc->route = route;
  if ((err = sshmux__relay_open_up(rc)) != 0) {
    sshmux__relay_note(rc, "sshmux: %s", sshmux_strerror(err));
    sshmux__relay_finish(rc, 255);
  }
}

void sshmux__relay_menu_input(sshmux__rchan_t *rc, const char *buf,
                              size_t len) {
  sshmux__menu_t *m = rc->menu;
  size_t i;

  if (m->connecting || m->hold) {
    char *na = sshmux__malloc(m->nahead + len);
    if (na == NULL) {
      sshmux__relay_note(rc, "sshmux: out of memory");
      sshmux__relay_finish(rc, 255);
      return;
    }
    if (m->nahead > 0)
      memcpy(na, m->ahead, m->nahead);
    memcpy(na + m->nahead, buf, len);
    if (m->ahead != NULL)
      sshmux__free_secret(m->ahead, m->nahead);
    m->ahead = na;
    m->nahead += len;
    if (m->nahead >= MENU_AHEAD_MAX && !m->paused && rc->down != NULL) {
      sshmux_server_channel_read_stop(rc->down);
      m->paused = 1;
    }
    return;
  }
  for (i = 0; i < len && m != NULL && m->shown; i++) {
    unsigned char c = (unsigned char)buf[i];
    if (c == '\r' || c == '\n') {
      choose(rc);
      m = rc->menu;
      if (m != NULL && m->connecting) {
        sshmux__relay_menu_input(rc, buf + i + 1, len - i - 1);
        return;
      }
    } else if (c == 3 || c == 4) { /* ^C, ^D */
      out(rc, "\r\n");
      sshmux__relay_finish(rc, c == 3 ? 130 : 0);
      return;
    } else if (c == 127 || c == 8) {
      if (m->len > 0) {
        m->len--;
        out(rc, "\b \b");
      }
    } else if (c > ' ' && c < 127 && m->len + 1 < sizeof(m->line)) {
      char e[2] = {(char)c, '\0'};
      m->line[m->len++] = (char)c;
      out(rc, e);
    }
  }
}

static void start_done(sshmux_upchan_t *up, int status, void *data) {
  sshmux__rchan_t *rc = data;

  (void)up;
  if (status != 0 && status != SSHMUX_ECLOSED) {
    sshmux__relay_note(rc, "sshmux: the route refused the session: %s",
                       sshmux_strerror(status));
    sshmux__relay_finish(rc, 255);
  }
}

void sshmux__relay_menu_connected(sshmux__rchan_t *rc) {
  sshmux__menu_t *m = rc->menu;
  size_t i;
  int err = 0;

  if (m == NULL || rc->up == NULL)
    return;
  if (m->have_pty)
    err = sshmux_upchan_pty(rc->up, m->term, m->modes, m->modes_len, m->cols,
                            m->rows, m->wpx, m->hpx, NULL, NULL);
  for (i = 0; err == 0 && i < m->nenv; i++)
    if (sshmux_routes_env_allowed(rc->route, m->env_name[i]))
      err = sshmux_upchan_env(rc->up, m->env_name[i], m->env_value[i], NULL,
                              NULL);
  if (err == 0) {
    switch (m->start) {
    case START_EXEC:
      err = sshmux_upchan_exec(rc->up, m->start_arg, start_done, rc);
      break;
    case START_SUBSYSTEM:
      err = sshmux_upchan_subsystem(rc->up, m->start_arg, start_done, rc);
      break;
    default:
      err = sshmux_upchan_shell(rc->up, start_done, rc);
      break;
    }
  }
  if (err == 0 && m->nahead > 0) {
    int w = sshmux_upchan_write(rc->up, m->ahead, m->nahead);
    if (w < 0)
      err = SSHMUX_ECLOSED;
    else if (w == 1 && m->paused)
      rc->down_paused = 1; /* resumed by the upstream's drain */
    else if (m->paused && rc->down != NULL)
      sshmux_server_channel_read_start(rc->down);
  } else if (err == 0 && m->paused && rc->down != NULL) {
    sshmux_server_channel_read_start(rc->down);
  }
  if (err == 0 && m->eof)
    (void)sshmux_upchan_send_eof(rc->up);
  sshmux__relay_menu_free(rc);
  if (err != 0) {
    sshmux__relay_note(rc, "sshmux: %s", sshmux_strerror(err));
    sshmux__relay_finish(rc, 255);
  }
}
