/* fixture-netns.h -- "several hosts" for tests, made of Linux network
 * namespaces this process creates and destroys itself.
 *
 * The topology (all addresses in 10.231.0.0/16, only on our own veths):
 *
 *   root namespace            namespace J (jump)          namespace T (target)
 *   root_addr  <-- veth -->  j_addr   j_t_addr  <-- veth -->  t_addr
 *
 * The root namespace reaches J directly.  It has a route to T's subnet via
 * J and T has a default route back via J, so the only thing that keeps the
 * root namespace from reaching T is that J does not forward
 * (net.ipv4.ip_forward=0 inside J, set explicitly); test_netns_forwarding()
 * can switch it on for a control experiment.  Each topology takes a /29
 * slot not already in use in the root namespace, and names derived from the
 * pid and a counter ("sshmux-PID-N-j", veths "sxPID{r,j,k,t}N"), so tests
 * running in parallel never collide.  Teardown is explicit and also
 * registered with atexit(); setup first removes namespaces left behind by
 * test processes that no longer exist (a test killed by its timeout cannot
 * run atexit handlers).
 *
 * Needs root (CAP_NET_ADMIN) and iproute2's `ip`; tests guard with
 * TEST_REQUIRE_NETNS() (skip locally, fail under CI).  Start an sshd inside a
 * namespace with the sshd fixture's `netns` option (test_sshd_opts), which
 * wraps it in `ip netns exec` and waits for its banner from inside that
 * namespace. */
#ifndef SSHMUX_FIXTURE_NETNS_H
#define SSHMUX_FIXTURE_NETNS_H

#include "test.h"

/* In a test: skip (under CI: fail) unless this runs as root with `ip` and
 * an sshd to start inside the namespaces. */
#define TEST_REQUIRE_NETNS() TEST_REQUIRE_NETNS_AND(NULL)
/* The same, and the further programs given (NULL-terminated). */
#define TEST_REQUIRE_NETNS_AND(...)                                            \
  TEST_REQUIRE_(                                                               \
      test_require("creating network namespaces",                              \
                   (const char *[]){"ip", "/usr/sbin/sshd", __VA_ARGS__}))

typedef struct {
  int up; /* created and not yet torn down */
  char ns_j[48], ns_t[48];
  char if_root[16], if_j_root[16], if_j_t[16], if_t[16];
  char root_addr[16]; /* root side of root <-> J */
  char j_addr[16];    /* J on root <-> J: reachable from the root namespace */
  char j_t_addr[16];  /* J on J <-> T */
  char t_addr[16];    /* T: reachable from J only */
  char t_subnet[24];  /* "10.231.x.y/30" of J <-> T */
} test_netns_topo;

/* Create the topology; 0, or -1 after printing why (and cleaning up). */
int test_netns_setup(test_netns_topo *t);
/* Remove it (namespaces, veths, route).  Safe to call twice. */
void test_netns_teardown(test_netns_topo *t);
/* Set J's IPv4 forwarding (0 or 1); 0 or -1. */
int test_netns_forwarding(test_netns_topo *t, int on);

/* test_wait_addr() run from inside namespace ns (NULL: this namespace):
 * 0 once addr:port accepts (and sends "SSH-" if ssh_banner), else < 0
 * after timeout_ms. */
int test_netns_wait_addr(const char *ns, const char *addr, int port,
                         int ssh_banner, int timeout_ms);

#endif
