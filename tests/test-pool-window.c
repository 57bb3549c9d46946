/* test-pool-window.c -- receive window auto-tuning of upstream channels
 * (lib/pool/chan.c, tune_window) on a long path: a real sshd behind the
 * bench's delay proxy (25 ms each way, so a 50 ms round trip on loopback).
 * A default-window channel must grow its window past the 2 MiB it opens
 * with, never past SSHMUX__CHAN_WINDOW_MAX; a reader that stops must pin no
 * more than the allowance it had; nothing is lost or repeated; and a
 * channel opened with an explicit window keeps exactly that window; through
 * a jump host behind the proxy, the jump tunnel grows as well. */
#include <stdio.h>
#include <string.h>

#include "pool-harness.h"
#include "pool/pool-int.h"

#define BIG (64u << 20)  /* the tuned download */
#define SMALL (8u << 20) /* the explicit-window download */

typedef struct {
  ph_t *h;
  sshmux_upchan_t *ch;
  size_t want, got;
  int bad_byte, open, closed, exit_status, paused_once;
  uint32_t tuned_at_pause;
  const sshmux_target_t *target;
  ph_job_t other;              /* a second session during the pause */
  unsigned long credit, avail; /* libssh2's view after the pause */
  uv_timer_t t;
} dl_t;

static void dl_resume(uv_timer_t *t) {
  dl_t *d = t->data;
  d->credit = libssh2_channel_window_read_ex(d->ch->lch, &d->avail, NULL);
  sshmux_upchan_read_start(d->ch);
}

static void dl_data(sshmux_upchan_t *ch, int stream, const char *buf,
                    size_t len) {
  dl_t *d = sshmux_upchan_get_data(ch);

  ASSERT_EQ(stream, SSHMUX_STREAM_STDOUT);
  for (size_t i = 0; i < len; i++)
    if (buf[i] != 0)
      d->bad_byte = 1;
  d->got += len;
  ASSERT_LE(d->got, d->want);
  /* Once the window has grown, stop reading for 1.5 s (30 round trips):
   * the upstream may fill what it was granted, and no more. */
  if (!d->paused_once && ch->tuned > SSHMUX__CHAN_WINDOW_DEFAULT &&
      d->got >= d->want / 2) {
    d->paused_once = 1;
    d->tuned_at_pause = ch->tuned;
    sshmux_upchan_read_stop(ch);
    /* Another session's reads make libssh2 parse everything the socket
     * brings, the stopped channel's bytes too: they pile up in libssh2
     * (alone, they would wait in the socket, not in our memory). */
    ph_exec(d->h, d->target, "sleep 1; echo other", &d->other);
    uv_timer_start(&d->t, dl_resume, 1500, 0);
  }
}

static void dl_closed(sshmux_upchan_t *ch, int status) {
  dl_t *d = sshmux_upchan_get_data(ch);
  ASSERT_OK(status);
  d->exit_status = sshmux_upchan_exit_status(ch);
  d->closed = 1;
}

static void dl_exec_done(sshmux_upchan_t *ch, int status, void *data) {
  (void)ch;
  (void)data;
  ASSERT_OK(status);
}

static void dl_open(sshmux_upchan_t *ch, int status) {
  dl_t *d = sshmux_upchan_get_data(ch);
  char cmd[64];

  ASSERT_OK(status);
  d->open = 1;
  snprintf(cmd, sizeof(cmd), "head -c %zu /dev/zero", d->want);
  ASSERT_OK(sshmux_upchan_exec(ch, cmd, dl_exec_done, NULL));
}

static void dl_run(ph_t *h, const sshmux_target_t *t, uint32_t window,
                   size_t want, dl_t *d) {
  static const sshmux_upchan_callbacks_t cbs = {dl_data, NULL, dl_closed, NULL};
  sshmux_upchan_spec_t spec = ph_spec(SSHMUX_UPCHAN_SESSION);

  memset(d, 0, sizeof(*d));
  d->h = h;
  d->target = t;
  d->want = want;
  d->exit_status = -1;
  uv_timer_init(&h->loop, &d->t);
  d->t.data = d;
  spec.window = window;
  ASSERT_OK(
      sshmux_pool_open_channel(h->pool, t, &spec, &cbs, d, dl_open, &d->ch));
  ph_run_until(h, &d->closed, 60000);
  if (d->paused_once) {
    ph_run_until(h, &d->other.done, 30000);
    ASSERT_STR_EQ(d->other.out, "other\n");
  }
  ASSERT_EQ(d->got, want);
  ASSERT(!d->bad_byte);
  ASSERT_EQ(d->exit_status, 0);
}

/* Start the delay proxy in front of port; returns its pid, *pport its
 * listening port. */
static int start_proxy(int port, int *pport) {
  char path[600], to[16], *log;
  const char *logpath = test_path("proxy.log");
  int pid;

  snprintf(path, sizeof(path), "%s/bench/delay-proxy", test_build_dir());
  snprintf(to, sizeof(to), "%d", port);
  pid = test_spawn((const char *[]){path, "--to", to, "--delay-ms", "25", NULL},
                   logpath);
  ASSERT_GT(pid, 0);
  for (int i = 0; i < 200; i++) {
    log = test_read_file(logpath, NULL);
    if (log != NULL && sscanf(log, "listening on %d", pport) == 1) {
      free(log);
      return pid;
    }
    free(log);
    usleep(25000);
  }
  test_fail(__FILE__, __LINE__, "the delay proxy did not start");
}

TEST_IMPL_T(pool_window_autotune_long_path, 120) {
  sshmux__upconn_t *c;
  dl_t d, e;
  ph_t h;
  int proxy, pport = 0;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ph_fixture(&h, NULL);
  proxy = start_proxy(h.s.port, &pport);
  h.t.port = pport;
  h.t.accept_new_hostkey = 1; /* the proxy's port is not in known_hosts */
  h.o.known_hosts_write = test_path("known_hosts.proxy");
  ph_init(&h, &h.o);

  dl_run(&h, &h.t, 0, BIG, &d);
  c = d.ch->conn;
  ASSERT(c != NULL);
  /* The round trip the tuning used is the path's: 50 ms and a little. */
  ASSERT_GE(c->rtt_ns, 45000000u);
  ASSERT_LT(c->rtt_ns, 1000000000u);
  /* It grew, within its cap. */
  ASSERT(d.ch->autotune);
  ASSERT_GT(d.ch->tuned, SSHMUX__CHAN_WINDOW_DEFAULT);
  ASSERT_LE(d.ch->tuned, SSHMUX__CHAN_WINDOW_MAX);
  /* The stopped reader: libssh2 1.10 counts bytes as they are read, so
   * its window is what sshd may still send plus what waits in libssh2.  It
   * filled up (the other session made libssh2 parse it all) and stayed
   * within the allowance of the moment, plus at most one small grant
   * libssh2 makes by itself. */
  ASSERT(d.paused_once);
  ASSERT_LE(d.avail, d.credit);
  ASSERT_GT(d.avail, (unsigned long)SSHMUX__CHAN_WINDOW_DEFAULT);
  ASSERT_LE(d.credit, (unsigned long)d.tuned_at_pause +
                          SSHMUX__CHAN_WINDOW_OPEN + 32768u);
  sshmux_upchan_close(d.ch, NULL);
  uv_close((uv_handle_t *)&d.t, NULL);

  /* An explicit window is the embedder's choice: kept as it is. */
  dl_run(&h, &h.t, 1u << 20, SMALL, &e);
  ASSERT(!e.ch->autotune);
  ASSERT_EQ(e.ch->window, 1u << 20);
  ASSERT_EQ(e.ch->tuned, 1u << 20);
  ASSERT(!e.paused_once);
  sshmux_upchan_close(e.ch, NULL);
  uv_close((uv_handle_t *)&e.t, NULL);

  ph_teardown(&h);
  test_kill(proxy);
  return 0;
}

/* The same through a jump host behind the delay proxy: the jump tunnel
 * (a direct-tcpip channel carrying the inner connection) starts at 4 MiB
 * and must grow too, or it would cap the inner channel's window. */
TEST_IMPL_T(pool_window_autotune_jump_tunnel, 120) {
  test_sshd j, s;
  test_sshd_opts jo, so;
  sshmux_pool_options_t o;
  sshmux_target_t hop[2];
  sshmux__upconn_t *c;
  dl_t d;
  ph_t h;
  int proxy, pport = 0;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  memset(&jo, 0, sizeof(jo));
  jo.name = "jump";
  memset(&so, 0, sizeof(so));
  so.name = "target";
  ASSERT_OK(test_sshd_start(&j, &jo));
  ASSERT_OK(test_sshd_start(&s, &so));
  proxy = start_proxy(j.port, &pport);
  ph_options(&o, ph_known_hosts((test_sshd *[]){&j, &s}, 2));
  o.known_hosts_write = test_path("known_hosts.proxy");
  ph_init(&h, &o);
  ph_chain(hop, (test_sshd *[]){&j, &s}, 2);
  hop[0].port = pport;
  hop[0].accept_new_hostkey = 1; /* the proxy's port is not in known_hosts */

  dl_run(&h, &hop[1], 0, BIG, &d);
  c = d.ch->conn;
  ASSERT(c != NULL && c->tunnel != NULL);
  ASSERT(c->tunnel->autotune);
  ASSERT_GT(c->tunnel->tuned, SSHMUX__TUNNEL_WINDOW);
  ASSERT_LE(c->tunnel->tuned, SSHMUX__CHAN_WINDOW_MAX);
  ASSERT_GT(d.ch->tuned, SSHMUX__CHAN_WINDOW_DEFAULT);
  /* Both round trips are the path's. */
  ASSERT_GE(c->rtt_ns, 45000000u);
  ASSERT_GE(c->jump->rtt_ns, 45000000u);
  sshmux_upchan_close(d.ch, NULL);
  uv_close((uv_handle_t *)&d.t, NULL);
  ph_close(&h);
  test_sshd_stop(&s);
  test_sshd_stop(&j);
  test_kill(proxy);
  return 0;
}
