/* test-pool-quickack.c -- every upstream TCP socket re-arms TCP_QUICKACK
 * after each read that returned data, so an upstream sshd's Nagle never
 * waits on our delayed ACK (the ~40 ms stall a warm session through a jump
 * host used to pay).  A chain of two jumps on loopback: only the first hop
 * owns a TCP socket; the hops behind it ride its tunnel and must not try
 * TCP options on their socketpair or in-memory ring. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "pool-harness.h"
#include "pool/pool-int.h"

static sshmux__upconn_t *conn_to(sshmux_pool_t *p, int port) {
  for (sshmux__link_t *l = p->conns.next; l != &p->conns; l = l->next) {
    sshmux__upconn_t *c = SSHMUX__CONTAINER_OF(l, sshmux__upconn_t, link);
    if (c->port == port)
      return c;
  }
  test_fail(__FILE__, __LINE__, "no connection to port %d", port);
}

TEST_IMPL_T(pool_quickack_every_hop, 90) {
  test_sshd j1, j2, s;
  test_sshd_opts o1, o2, so;
  sshmux_pool_options_t o;
  sshmux_target_t hop[3], *t = &hop[2];
  sshmux__upconn_t *c1, *c2, *ct;
  uint64_t reads0, acks0;
  ph_job_t job;
  int proto = 0;
  socklen_t len = sizeof(proto);
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  memset(&o1, 0, sizeof(o1));
  o1.name = "j1";
  memset(&o2, 0, sizeof(o2));
  o2.name = "j2";
  memset(&so, 0, sizeof(so));
  so.name = "target";
  ASSERT_OK(test_sshd_start(&j1, &o1));
  ASSERT_OK(test_sshd_start(&j2, &o2));
  ASSERT_OK(test_sshd_start(&s, &so));
  ph_options(&o, ph_known_hosts((test_sshd *[]){&j1, &j2, &s}, 3));
  ph_init(&h, &o);
  ph_chain(hop, (test_sshd *[]){&j1, &j2, &s}, 3);

  memset(&job, 0, sizeof(job));
  ph_exec(&h, t, "echo first", &job);
  ph_run_until(&h, &job.done, 30000);
  if (job.open_status != 0)
    fprintf(stderr, "%s\n", job.errmsg);
  ASSERT_OK(job.open_status);
  ASSERT_STR_EQ(job.out, "first\n");

  c1 = conn_to(h.pool, j1.port);
  c2 = conn_to(h.pool, j2.port);
  ct = conn_to(h.pool, s.port);
  ASSERT(c1->jump == NULL && c2->jump == c1 && ct->jump == c2);
  /* The first hop's fd is a real TCP socket and is marked so. */
  ASSERT_EQ(c1->tcp, 1);
  ASSERT_OK(getsockopt(c1->fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len));
  ASSERT_EQ(proto, IPPROTO_TCP);
  /* The login (worker) and the sessions (loop) both re-armed it, once per
   * read with data. */
  ASSERT_GT(c1->rx_reads, 0);
  ASSERT_EQ(c1->quickacks, c1->rx_reads);
  /* The hops behind it own no TCP socket and never try. */
  ASSERT_EQ(c2->tcp, 0);
  ASSERT_EQ(ct->tcp, 0);
  ASSERT_EQ(c2->quickacks, 0);
  ASSERT_EQ(ct->quickacks, 0);

  /* Warm sessions through the chain: each one's replies are reads on the
   * first hop's socket, and each such read re-arms quick-ack. */
  reads0 = c1->rx_reads;
  acks0 = c1->quickacks;
  for (int i = 0; i < 5; i++) {
    memset(&job, 0, sizeof(job));
    ph_exec(&h, t, "echo warm", &job);
    ph_run_until(&h, &job.done, 30000);
    ASSERT_OK(job.open_status);
    ASSERT_STR_EQ(job.out, "warm\n");
    ASSERT_EQ(job.exit_status, 0);
  }
  ASSERT_GE(c1->rx_reads - reads0, 5);
  ASSERT_EQ(c1->quickacks - acks0, c1->rx_reads - reads0);
  ASSERT_EQ(ct->quickacks, 0);

  ph_close(&h);
  ph_sshd_stop(&s);
  ph_sshd_stop(&j2);
  ph_sshd_stop(&j1);
  return 0;
}
