/* pool/loop.c -- the pool's bottom layer: its scheduler on the loop thread.
 * One uv_idle tick per loop iteration runs the deferred calls (how "never
 * from inside the call" is kept) and then the service pass of every
 * connection marked dirty; worker threads post events (prompts, a finished
 * login) that a uv_async brings to the loop.  It also holds the small
 * helpers every file of the pool uses (the clock, libssh2's error text),
 * and the guard that keeps libssh2 1.10's assertions from ending the
 * process (the one piece of signal handling in the library: POSIX only).
 *
 * Nothing here calls up into the files above it by name: the service pass,
 * a finished worker, a prompt event and the pool's final close go through
 * the pool's ops table (pool-int.h), which pool.c -- the top -- installs. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifndef _WIN32
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#endif

#include "pool/pool-int.h"

uint64_t sshmux__pool_now(sshmux_pool_t *p) {
  return uv_now(p->loop);
}

static void on_tick(uv_idle_t *h);

/* Never once the pool's handles are closing (closing == 2): libuv's
 * uv_idle_start() does not refuse a closing handle, so a late kick (e.g. the
 * one at the end of sshmux_pool_close() when the close finished inside it)
 * would put the tick back on the loop's idle queue after the pool is freed. */
static void tick_start(sshmux_pool_t *p) {
  if (!p->tick_active && p->closing != 2) {
    uv_idle_start(&p->tick, on_tick);
    p->tick_active = 1;
  }
}

void sshmux__pool_defer(sshmux_pool_t *p, sshmux__deferred_t *d,
                        void (*fn)(sshmux__deferred_t *d)) {
  if (sshmux__list_linked(&d->link))
    return;
  d->fn = fn;
  sshmux__list_push(&p->deferred, &d->link);
  tick_start(p);
}

void sshmux__pool_kick(sshmux_pool_t *p) {
  tick_start(p);
}

void sshmux__upconn_schedule(sshmux__upconn_t *c) {
  if (c->dirty || c->freeing)
    return;
  c->dirty = 1;
  sshmux__list_push(&c->pool->dirty, &c->dirty_link);
  tick_start(c->pool);
}

/* One round of deferred calls and service passes per loop iteration: work
 * queued while running waits for the next iteration, so a callback that
 * keeps queueing cannot starve the loop. */
static void on_tick(uv_idle_t *h) {
  sshmux_pool_t *p = SSHMUX__CONTAINER_OF(h, sshmux_pool_t, tick);
  sshmux__link_t q;

  sshmux__list_take(&q, &p->deferred);
  while (!sshmux__list_empty(&q)) {
    sshmux__deferred_t *d =
        SSHMUX__CONTAINER_OF(q.next, sshmux__deferred_t, link);
    sshmux__list_remove(&d->link);
    d->fn(d);
  }
  sshmux__list_take(&q, &p->dirty);
  while (!sshmux__list_empty(&q)) {
    sshmux__upconn_t *c =
        SSHMUX__CONTAINER_OF(q.next, sshmux__upconn_t, dirty_link);
    sshmux__list_remove(&c->dirty_link);
    c->dirty = 0;
    p->ops->service(c);
  }
  if (sshmux__list_empty(&p->deferred) && sshmux__list_empty(&p->dirty)) {
    uv_idle_stop(&p->tick);
    p->tick_active = 0;
  }
  sshmux__pool_maybe_finish_close(p);
}

void sshmux__pool_post(sshmux_pool_t *p, sshmux__event_t *ev) {
  uv_mutex_lock(&p->mu);
  sshmux__list_push(&p->events, &ev->link);
  uv_mutex_unlock(&p->mu);
  uv_async_send(&p->async);
}

void sshmux__pool_on_async(uv_async_t *h) {
  sshmux_pool_t *p = SSHMUX__CONTAINER_OF(h, sshmux_pool_t, async);
  sshmux__link_t q;

  uv_mutex_lock(&p->mu);
  sshmux__list_take(&q, &p->events);
  uv_mutex_unlock(&p->mu);
  while (!sshmux__list_empty(&q)) {
    sshmux__event_t *ev = SSHMUX__CONTAINER_OF(q.next, sshmux__event_t, link);
    sshmux__list_remove(&ev->link);
    if (ev->kind == SSHMUX__EV_DONE)
      p->ops->worker_done(ev->ptr);
    else
      p->ops->event(p, ev);
  }
  sshmux__pool_maybe_finish_close(p);
}

/* libssh2's last error text, sanitised (it may quote the peer). */
const char *sshmux__ssh2_error(LIBSSH2_SESSION *s, char *buf, size_t n) {
  char *m = NULL, *clean;
  int len = 0;

  libssh2_session_last_error(s, &m, &len, 0);
  clean = sshmux__sanitize(m != NULL ? m : "", m != NULL ? (size_t)len : 0, 0);
  snprintf(buf, n, "%s", clean != NULL ? clean : "");
  sshmux__free(clean);
  return buf;
}

/* The stall this removes: an upstream sshd leaves Nagle on for forwarded
 * channels and non-tty sessions, so when it sends two small packets back to
 * back (a jump host passing on the target's exit-status, then EOF and CLOSE)
 * the second waits for our ACK of the first -- and Linux holds that ACK up
 * to 40 ms on its delayed-ACK timer once a connection looks interactive.  A
 * warm `ssh route true` through a jump took ~65 ms instead of ~25.  Linux
 * leaves quick-ack mode after each ACK it sends, so it is re-armed after
 * every pass that read data (the server does the same with ack_now).  Only
 * a first hop has a TCP socket of ours: the connections behind it, chains
 * included, ride its tunnel and their bytes arrive on this socket too. */
void sshmux__upconn_quickack(sshmux__upconn_t *c) {
#if defined(TCP_QUICKACK)
  int one = 1;

  if (c->tcp && c->fd >= 0 &&
      setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one)) == 0)
    c->quickacks++;
#else
  (void)c;
#endif
}

/* Called whenever something that keeps a closing pool alive may have gone:
 * once no channel, connection, worker, deferred call or service pass is
 * left, the pool's handles are closed (ops->finish) and it is freed. */
void sshmux__pool_maybe_finish_close(sshmux_pool_t *p) {
  if (!p->closing || p->closing == 2)
    return;
  if (p->nchans > 0 || p->nconns_alive > 0 || p->nworkers > 0 ||
      !sshmux__list_empty(&p->deferred) || !sshmux__list_empty(&p->dirty))
    return;
  p->closing = 2;
  p->ops->finish(p);
}

/* After libssh2_session_free(c->s): free what libssh2 1.10 lost of the
 * session's memory (core.h's arena), and say how much that was. */
void sshmux__upconn_arena_done(sshmux__upconn_t *c) {
  size_t bytes = c->arena.bytes, n = sshmux__ssh2_arena_free(&c->arena);

  if (n > 0)
    SSHMUX__LOG_DEBUG("%s: freed %zu block(s), %zu bytes, that libssh2 lost",
                      c->label ? c->label : "upstream", n, bytes);
}

/* ---- libssh2 1.10's assertions (pool-int.h says why) ----
 * One guard frame per sshmux__ssh2_guarded() call, in a per-thread stack.
 * The handler runs on the thread that called abort() (raise() delivers
 * there), so only that thread's innermost guard is taken.  A SIGABRT that
 * is not ours -- no guard on this thread, or one sent by kill(2) -- goes
 * to the handler that was there before, or with the default action back
 * in place kills the process as it would have.  glibc's abort() releases
 * its lock before raising, so leaving the handler by siglongjmp() leaves
 * libc consistent; libssh2 holds no lock, and the session it was in is
 * never used again. */
#ifndef _WIN32
typedef struct ssh2_guard {
  sigjmp_buf env;
  struct ssh2_guard *prev;
} ssh2_guard_t;

#if defined(__GNUC__)
#define GUARD_TLS __attribute__((tls_model("initial-exec")))
#else
#define GUARD_TLS
#endif
static _Thread_local ssh2_guard_t *guard_top GUARD_TLS;
static struct sigaction guard_prev; /* SIGABRT's action before ours */
static uv_once_t guard_once = UV_ONCE_INIT;

static void on_sigabrt(int sig, siginfo_t *si, void *uctx) {
  ssh2_guard_t *g = guard_top;

  /* abort() raises with tgkill (SI_TKILL, from this process); kill(2)
   * from anywhere is SI_USER and never taken for libssh2's. */
  if (g != NULL && si != NULL && si->si_code == SI_TKILL &&
      si->si_pid == getpid()) {
    guard_top = g->prev;
    siglongjmp(g->env, 1);
  }
  if (guard_prev.sa_flags & SA_SIGINFO) {
    if (guard_prev.sa_sigaction != NULL)
      guard_prev.sa_sigaction(sig, si, uctx);
  } else if (guard_prev.sa_handler == SIG_DFL) {
    /* Pending until this handler returns, then the default: death. */
    sigaction(SIGABRT, &guard_prev, NULL);
    raise(SIGABRT);
  } else if (guard_prev.sa_handler != SIG_IGN) {
    guard_prev.sa_handler(sig);
  }
}

static void guard_install(void) {
  struct sigaction sa;

  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = on_sigabrt;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGABRT, &sa, &guard_prev) != 0)
    SSHMUX__LOG_WARN("pool: cannot catch libssh2's assertions: %s",
                     strerror(errno));
}

int sshmux__ssh2_guarded(int (*fn)(void *arg), void *arg) {
  ssh2_guard_t g;

  uv_once(&guard_once, guard_install);
  g.prev = guard_top;
  /* The mask is not saved (that is a system call on every pass); the
   * handler only added SIGABRT to it, and abort() had unblocked SIGABRT
   * before raising, so unblocking it is the way back. */
  if (sigsetjmp(g.env, 0) != 0) {
    sigset_t abrt;
    sigemptyset(&abrt);
    sigaddset(&abrt, SIGABRT);
    pthread_sigmask(SIG_UNBLOCK, &abrt, NULL);
    return SSHMUX__SSH2_TRIPPED; /* the handler popped g */
  }
  guard_top = &g;
  {
    int rc = fn(arg);
    guard_top = g.prev;
    return rc;
  }
}

void *sshmux__ssh2_unguard(void) {
  ssh2_guard_t *g = guard_top;

  guard_top = NULL;
  return g;
}

void sshmux__ssh2_reguard(void *saved) {
  guard_top = saved;
}
#else
int sshmux__ssh2_guarded(int (*fn)(void *arg), void *arg) {
  return fn(arg);
}

void *sshmux__ssh2_unguard(void) {
  return NULL;
}

void sshmux__ssh2_reguard(void *saved) {
  (void)saved;
}
#endif
