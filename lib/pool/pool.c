/* pool.c -- the public pool object: options, keyed lookup of connections,
 * placement of channel requests (including MaxSessions overflow), the
 * reaper of idle and expired connections, lock/unlock, stats, and the
 * loop-side plumbing every other pool file relies on:
 *
 *  - the deferred-call list, run from an idle handle, which is how every
 *    callback is kept asynchronous ("never from inside the call");
 *  - the dirty list of connections whose service pass should run (API calls
 *    never run a pass synchronously: they mark the connection dirty);
 *  - the worker event queue (mutex + uv_async), the only way a login
 *    worker thread talks to the loop.
 *
 * Ownership: the pool owns its connections; a connection owns its libssh2
 * session; the embedder owns the channels it was given until it closes
 * them, which is why the pool's close completes only after the last one. */
#include <stdlib.h>
#include <string.h>

#include "pool/pool-int.h"

static const sshmux__pool_ops_t pool_ops;

void sshmux_pool_options_init(sshmux_pool_options_t *o) {
  memset(o, 0, sizeof(*o));
  o->use_agent = 1;
  o->keepalive_ms = 15000;
  o->keepalive_count = 3;
  o->idle_timeout_s = 600;
  o->max_lifetime_s = 43200;
  o->reap_interval_ms = 2000;
  o->connect_timeout_ms = 20000;
  o->prompt_timeout_ms = 90000;
  o->session_retry_ms = 300;
}

void sshmux_target_init(sshmux_target_t *t) {
  memset(t, 0, sizeof(*t));
  t->port = 22;
  t->idle_timeout_s = -1;
  t->max_lifetime_s = -1;
  t->keepalive_s = -1;
}

/* Idle and lifetime expiry.  An expired connection that still carries
 * channels (or dependents riding on it) is put to DRAINING: it takes no new
 * channels, and goes once empty -- cutting live sessions would be worse than
 * a connection living a little past its limit. */
static void on_reap(uv_timer_t *h) {
  sshmux_pool_t *p = SSHMUX__CONTAINER_OF(h, sshmux_pool_t, reaper);
  uint64_t now = sshmux__pool_now(p);
  sshmux__link_t *l, *next;

  for (l = p->conns.next; l != &p->conns; l = next) {
    sshmux__upconn_t *c = SSHMUX__CONTAINER_OF(l, sshmux__upconn_t, link);
    int empty;
    next = l->next;
    if (c->state != SSHMUX__UC_ACTIVE && c->state != SSHMUX__UC_DRAINING)
      continue;
    empty = c->nchans == 0 && c->opening == NULL &&
            sshmux__list_empty(&c->open_q) && c->dependents == 0;
    if (c->max_lifetime_s > 0 &&
        now - c->created_ms >= (uint64_t)c->max_lifetime_s * 1000u) {
      if (empty) {
        sshmux__upconn_shutdown(c, SSHMUX_EEXPIRED, "maximum lifetime reached");
        continue;
      }
      if (c->state == SSHMUX__UC_ACTIVE) {
        SSHMUX__LOG_INFO("%s: maximum lifetime reached; draining", c->label);
        c->state = SSHMUX__UC_DRAINING;
      }
    }
    if (c->state == SSHMUX__UC_DRAINING && empty) {
      sshmux__upconn_shutdown(c, SSHMUX_EEXPIRED, "drained after expiry");
      continue;
    }
    if (empty && c->idle_timeout_s > 0 &&
        now - c->idle_since_ms >= (uint64_t)c->idle_timeout_s * 1000u)
      sshmux__upconn_shutdown(c, SSHMUX_EEXPIRED, "idle timeout");
  }
}

static char *default_known_hosts(void) {
  const char *home = getenv("HOME");
  if (home == NULL || *home == '\0')
    return NULL;
  return sshmux__asprintf("%s/.ssh/known_hosts", home);
}

static void pool_free(sshmux_pool_t *p) {
  sshmux__keycache_clear(p);
  for (size_t i = 0; i < p->n_known_hosts; i++)
    sshmux__free(p->known_hosts[i]);
  sshmux__free(p->known_hosts);
  sshmux__free(p->known_hosts_write);
  uv_mutex_destroy(&p->mu);
  sshmux__free(p);
}

int sshmux_pool_new(uv_loop_t *loop, const sshmux_pool_options_t *opts,
                    sshmux_pool_t **out) {
  sshmux_pool_t *p;
  size_t n = 0;
  int rc;

  if (loop == NULL || out == NULL) {
    if (out != NULL)
      *out = NULL;
    return SSHMUX_EINVAL;
  }
  *out = NULL;
  rc = sshmux_init();
  if (rc != 0)
    return rc;
  p = sshmux__calloc(1, sizeof(*p));
  if (p == NULL)
    return SSHMUX_ENOMEM;
  p->loop = loop;
  p->ops = &pool_ops;
  if (opts != NULL)
    p->o = *opts;
  else
    sshmux_pool_options_init(&p->o);
  if (p->o.keepalive_count == 0)
    p->o.keepalive_count = 3;
  if (p->o.reap_interval_ms == 0)
    p->o.reap_interval_ms = 2000;
  if (p->o.connect_timeout_ms == 0)
    p->o.connect_timeout_ms = 20000;
  if (p->o.prompt_timeout_ms == 0)
    p->o.prompt_timeout_ms = 90000;
  if (opts != NULL && opts->known_hosts != NULL)
    while (opts->known_hosts[n] != NULL)
      n++;
  p->known_hosts = sshmux__calloc(n + 2, sizeof(char *));
  if (p->known_hosts == NULL) {
    sshmux__free(p);
    return SSHMUX_ENOMEM;
  }
  if (n == 0) {
    p->known_hosts[0] = default_known_hosts();
    if (p->known_hosts[0] != NULL)
      n = 1;
  } else {
    for (size_t i = 0; i < n; i++)
      if ((p->known_hosts[i] = sshmux__strdup(opts->known_hosts[i])) == NULL)
        rc = SSHMUX_ENOMEM;
  }
  p->n_known_hosts = n;
  p->o.known_hosts = NULL;
  if (opts != NULL && opts->known_hosts_write != NULL)
    p->known_hosts_write = sshmux__strdup(opts->known_hosts_write);
  else if (n > 0 && p->known_hosts[0] != NULL) /* NULL: its copy failed */
    p->known_hosts_write = sshmux__strdup(p->known_hosts[0]);
  if (n > 0 && p->known_hosts_write == NULL)
    rc = SSHMUX_ENOMEM;
  p->o.known_hosts_write = NULL;
  if (rc == 0 && uv_mutex_init(&p->mu) != 0)
    rc = SSHMUX_ENOMEM;
  if (rc != 0) {
    for (size_t i = 0; i < n; i++)
      sshmux__free(p->known_hosts[i]);
    sshmux__free(p->known_hosts);
    sshmux__free(p->known_hosts_write);
    sshmux__free(p);
    return rc;
  }
  sshmux__list_init(&p->events);
  sshmux__list_init(&p->deferred);
  sshmux__list_init(&p->dirty);
  sshmux__list_init(&p->conns);
  sshmux__list_init(&p->keycache);
  if ((rc = uv_async_init(loop, &p->async, sshmux__pool_on_async)) != 0) {
    pool_free(p);
    return rc;
  }
  uv_unref((uv_handle_t *)&p->async);
  uv_idle_init(loop, &p->tick);
  uv_timer_init(loop, &p->reaper);
  uv_unref((uv_handle_t *)&p->reaper);
  uv_timer_start(&p->reaper, on_reap, p->o.reap_interval_ms,
                 p->o.reap_interval_ms);
  p->handles_open = 3;
  *out = p;
  return 0;
}

static void on_pool_handle_closed(uv_handle_t *h) {
  sshmux_pool_t *p = h->data;
  sshmux__link_t q;

  if (--p->handles_open > 0)
    return;
  /* Workers are gone, so nothing can post any more: drop leftovers. */
  sshmux__list_take(&q, &p->events);
  while (!sshmux__list_empty(&q)) {
    sshmux__event_t *ev = SSHMUX__CONTAINER_OF(q.next, sshmux__event_t, link);
    sshmux__list_remove(&ev->link);
    if (ev->kind != SSHMUX__EV_DONE)
      sshmux__prompt_event_drop(ev);
  }
  if (p->close_cb != NULL)
    p->close_cb(p, p->close_data);
  pool_free(p);
}

/* The pool is done (sshmux__pool_maybe_finish_close found nothing left):
 * close its handles; on_pool_handle_closed frees it. */
static void finish_close(sshmux_pool_t *p) {
  p->async.data = p->tick.data = p->reaper.data = p;
  uv_close((uv_handle_t *)&p->async, on_pool_handle_closed);
  uv_close((uv_handle_t *)&p->tick, on_pool_handle_closed);
  uv_close((uv_handle_t *)&p->reaper, on_pool_handle_closed);
}

/* What the layers below call back into (see pool-int.h). */
static const sshmux__pool_ops_t pool_ops = {
    sshmux__upconn_service, sshmux__upconn_worker_done, sshmux__prompt_event,
    finish_close, sshmux__pool_place};

void sshmux_pool_close(sshmux_pool_t *p, sshmux_pool_close_cb close_cb,
                       void *data) {
  sshmux__link_t *l, *next;

  if (p->closing)
    return;
  p->closing = 1;
  p->close_cb = close_cb;
  p->close_data = data;
  uv_timer_stop(&p->reaper);
  /* Inner connections first (they sit after their jumps in the list, and
   * a jump's shutdown would otherwise fail them with a less clear error). */
  for (l = p->conns.prev; l != &p->conns; l = next) {
    sshmux__upconn_t *c = SSHMUX__CONTAINER_OF(l, sshmux__upconn_t, link);
    next = l->prev;
    sshmux__upconn_shutdown(c, SSHMUX_ECLOSED, "pool closed");
  }
  /* Make sure the tick runs at least once to finish the close. */
  sshmux__pool_kick(p);
}

void sshmux_pool_set_prompt_handler(sshmux_pool_t *p, sshmux_prompt_cb prompt,
                                    sshmux_prompt_cb withdrawn, void *data) {
  p->prompt_cb = prompt;
  p->withdrawn_cb = withdrawn;
  p->prompt_data = data;
}

void sshmux_pool_lock(sshmux_pool_t *p) {
  if (!p->locked)
    SSHMUX__LOG_INFO("pool locked: new channels are refused");
  p->locked = 1;
}
void sshmux_pool_unlock(sshmux_pool_t *p) {
  if (p->locked)
    SSHMUX__LOG_INFO("pool unlocked");
  p->locked = 0;
}
int sshmux_pool_is_locked(const sshmux_pool_t *p) {
  return p->locked;
}
void sshmux_pool_set_data(sshmux_pool_t *p, void *data) {
  p->data = data;
}
void *sshmux_pool_get_data(const sshmux_pool_t *p) {
  return p->data;
}

/* Session channels counted against a connection's learned limit: the open
 * ones plus those queued or opening. */
static unsigned sessions_committed(const sshmux__upconn_t *c) {
  unsigned n = c->nsessions + c->zombie_sessions;
  const sshmux__link_t *l;

  if (c->opening != NULL && c->opening->type == SSHMUX_UPCHAN_SESSION &&
      !c->opening->probe)
    n++;
  for (l = c->open_q.next; l != &c->open_q; l = l->next) {
    const sshmux_upchan_t *ch = SSHMUX__CONTAINER_OF(l, sshmux_upchan_t, link);
    if (ch->type == SSHMUX_UPCHAN_SESSION && !ch->probe)
      n++;
  }
  return n;
}

sshmux__upconn_t *sshmux__pool_place(sshmux_pool_t *p, const sshmux_target_t *t,
                                     const sshmux__upconn_t *from, int session,
                                     const sshmux__upconn_t *exclude,
                                     int *err) {
  char *key = t != NULL ? sshmux__target_key(t) : sshmux__strdup(from->key);
  sshmux__upconn_t *c, *full = NULL;
  sshmux__link_t *l;

  *err = 0;
  if (key == NULL) {
    *err = SSHMUX_ENOMEM;
    return NULL;
  }
  for (l = p->conns.next; l != &p->conns; l = l->next) {
    c = SSHMUX__CONTAINER_OF(l, sshmux__upconn_t, link);
    if (c == exclude || !sshmux__upconn_usable(c) || strcmp(c->key, key) != 0)
      continue;
    if (session && c->learned_limit > 0 &&
        sessions_committed(c) >= c->learned_limit) {
      full = c;
      continue;
    }
    sshmux__free(key);
    return c;
  }
  if (full == NULL && exclude != NULL && strcmp(exclude->key, key) == 0)
    full = (sshmux__upconn_t *)exclude;
  c = sshmux__upconn_new(p, t, t != NULL ? NULL : (from ? from : full), key,
                         err);
  sshmux__free(key);
  if (c == NULL)
    return NULL;
  if (full != NULL) {
    /* Never a silent fresh login: the prompts of this connection say why
     * it exists, and the log does too. */
    c->overflow = 1;
    c->learned_limit = full->learned_limit; /* same host, same limit */
    SSHMUX__LOG_INFO("%s refused more sessions (limit %u): opening a second "
                     "connection, which needs a new login",
                     full->label, full->learned_limit);
  }
  sshmux__upconn_start(c);
  return c;
}

int sshmux_pool_open_channel(sshmux_pool_t *p, const sshmux_target_t *t,
                             const sshmux_upchan_spec_t *spec,
                             const sshmux_upchan_callbacks_t *cbs, void *data,
                             sshmux_upchan_open_cb open_cb,
                             sshmux_upchan_t **out) {
  sshmux_upchan_t *ch;
  sshmux__upconn_t *c;
  int err;

  if (out != NULL)
    *out = NULL;
  if (p == NULL || t == NULL || spec == NULL || open_cb == NULL ||
      t->host == NULL || *t->host == '\0' || t->user == NULL ||
      *t->user == '\0' || t->port < 0 || t->port > 65535)
    return SSHMUX_EINVAL;
  {
    /* At most 8 hops: that also stops a cycle in the chain. */
    int hops = 0;
    for (const sshmux_target_t *j = t->jump; j != NULL; j = j->jump)
      if (++hops > 8 || j->host == NULL || *j->host == '\0' ||
          j->user == NULL || *j->user == '\0' || j->port < 0 || j->port > 65535)
        return SSHMUX_EINVAL;
  }
  ch = sshmux__upchan_new(p, spec, cbs, data, open_cb, &err);
  if (ch == NULL)
    return err;
  if (out != NULL)
    *out = ch;
  if (p->closing) {
    sshmux__upchan_fail_open(ch, SSHMUX_ECLOSED, "the pool is closing");
    return 0;
  }
  if (p->locked) {
    sshmux__upchan_fail_open(
        ch, SSHMUX_ELOCKED,
        "the pool is locked: unlock it to open new upstream channels");
    return 0;
  }
  c = sshmux__pool_place(p, t, NULL, spec->type == SSHMUX_UPCHAN_SESSION, NULL,
                         &err);
  if (c == NULL) {
    sshmux__upchan_fail_open(ch, err, "cannot start an upstream connection");
    return 0;
  }
  sshmux__upconn_enqueue(c, ch);
  return 0;
}

const char *sshmux_conn_state_name(sshmux_conn_state_t s) {
  switch (s) {
  case SSHMUX_CONN_CONNECTING:
    return "connecting";
  case SSHMUX_CONN_AUTH:
    return "authenticating";
  case SSHMUX_CONN_ACTIVE:
    return "active";
  case SSHMUX_CONN_DRAINING:
    return "draining";
  case SSHMUX_CONN_DEAD:
    return "dead";
  }
  return "unknown";
}

static void conn_stats(sshmux_pool_t *p, const sshmux__upconn_t *c,
                       sshmux_conn_stats_t *s) {
  uint64_t now = sshmux__pool_now(p);
  int64_t exp = -1;
  int empty = c->nchans == 0 && c->dependents == 0;

  memset(s, 0, sizeof(*s));
  snprintf(s->target, sizeof(s->target), "%s@%s:%d", c->user, c->host, c->port);
  snprintf(s->jump_chain, sizeof(s->jump_chain), "%s", c->chain);
  switch (c->state) {
  case SSHMUX__UC_CONNECTING:
    s->state = SSHMUX_CONN_CONNECTING;
    break;
  case SSHMUX__UC_AUTH:
    s->state = SSHMUX_CONN_AUTH;
    break;
  case SSHMUX__UC_ACTIVE:
    s->state = SSHMUX_CONN_ACTIVE;
    break;
  case SSHMUX__UC_DRAINING:
    s->state = SSHMUX_CONN_DRAINING;
    break;
  default:
    s->state = SSHMUX_CONN_DEAD;
    break;
  }
  s->channels = c->nchans;
  s->sessions = c->nsessions;
  s->learned_limit = c->learned_limit;
  s->dependents = c->dependents;
  s->bytes_in = c->bytes_in;
  s->bytes_out = c->bytes_out;
  s->age_ms = now - c->created_ms;
  s->idle_ms = empty ? now - c->idle_since_ms : 0;
  if (c->max_lifetime_s > 0)
    exp = (int64_t)c->created_ms + (int64_t)c->max_lifetime_s * 1000 -
          (int64_t)now;
  if (empty && c->idle_timeout_s > 0) {
    int64_t idle = (int64_t)c->idle_since_ms +
                   (int64_t)c->idle_timeout_s * 1000 - (int64_t)now;
    if (exp < 0 || idle < exp)
      exp = idle;
  }
  s->expires_in_ms = exp < -1 ? 0 : exp;
  snprintf(s->auth_methods, sizeof(s->auth_methods), "%s", c->auth_methods);
  s->overflow = c->overflow;
}

int sshmux_pool_stats(sshmux_pool_t *p, sshmux_pool_stats_t *ps,
                      sshmux_conn_stats_t *out, size_t max, size_t *count) {
  size_t n = 0;
  sshmux__link_t *l;

  for (l = p->conns.next; l != &p->conns; l = l->next) {
    if (out != NULL && n < max)
      conn_stats(p, SSHMUX__CONTAINER_OF(l, sshmux__upconn_t, link), &out[n]);
    n++;
  }
  if (count != NULL)
    *count = n;
  if (ps != NULL) {
    *ps = p->stats;
    ps->connections = (unsigned)n;
  }
  return 0;
}
