/* test-fixture-netns.c -- the network-namespace fixture (fixture-netns.h)
 * proves what later pool tests rely on: a jump sshd in namespace J is reachable
 * from here, a target sshd in namespace T is not (only because J does not
 * forward: switching J's forwarding on makes it reachable, as a control),
 * a real `ssh -J` through the jump reaches the target and the target sees
 * the connection coming from J, and teardown leaves nothing behind. */
#include <sys/wait.h>
#include <unistd.h>

#include "fixture-netns.h"
#include "fixture-sshd.h"
#include "test.h"

/* ssh_config for both fixtures: ProxyJump's inner ssh only inherits -F,
 * not -o options, so everything goes in the file. */
static void write_client_config(const char *path, const test_sshd *j,
                                const test_sshd *t, const char *kh) {
  char *a = test_read_file(j->known_hosts, NULL);
  char *b = test_read_file(t->known_hosts, NULL);
  char cfg[4096], both[8192];

  ASSERT(a != NULL && b != NULL);
  snprintf(both, sizeof(both), "%s%s", a, b);
  free(a);
  free(b);
  ASSERT_EQ(test_write_file(kh, both, 0600), 0);
  snprintf(cfg, sizeof(cfg),
           "Host *\n"
           "  User %s\n"
           "  IdentityFile %s\n"
           "  IdentityFile %s\n"
           "  IdentitiesOnly yes\n"
           "  UserKnownHostsFile %s\n"
           "  GlobalKnownHostsFile /dev/null\n"
           "  StrictHostKeyChecking yes\n"
           "  BatchMode yes\n"
           "  ConnectTimeout 3\n",
           j->user, j->client_key, t->client_key, kh);
  ASSERT_EQ(test_write_file(path, cfg, 0600), 0);
}

static int ns_exists(const char *name) {
  char path[128];
  snprintf(path, sizeof(path), "/run/netns/%s", name);
  return access(path, F_OK) == 0;
}

TEST_IMPL_T(netns_jump_reaches_isolated_target, 90) {
  test_netns_topo topo;
  test_sshd j, t;
  test_sshd_opts jo = {0}, to = {0};
  char cfg[600], kh[600], jump[128], port[16], *out = NULL, *err = NULL;
  int st;

  TEST_REQUIRE_ROOT("creating network namespaces");
  TEST_REQUIRE_PROGRAM("ip");
  TEST_REQUIRE_OPENSSH();
  ASSERT_EQ(test_netns_setup(&topo), 0);
  ASSERT(ns_exists(topo.ns_j) && ns_exists(topo.ns_t));

  jo.name = "jump";
  jo.netns = topo.ns_j;
  jo.listen_addr = topo.j_addr;
  ASSERT_EQ(test_sshd_start(&j, &jo), 0);
  to.name = "target";
  to.netns = topo.ns_t;
  to.listen_addr = topo.t_addr;
  ASSERT_EQ(test_sshd_start(&t, &to), 0);

  /* The jump is reachable from here, the target is not... */
  ASSERT_EQ(test_wait_addr(topo.j_addr, j.port, 1, 3000), 0);
  ASSERT(test_wait_addr(topo.t_addr, t.port, 0, 1500) != 0);
  /* ...but it is from inside J. */
  ASSERT_EQ(test_netns_wait_addr(topo.ns_j, topo.t_addr, t.port, 1, 3000), 0);
  /* Control: the routes are there, only J's forwarding is missing. */
  ASSERT_EQ(test_netns_forwarding(&topo, 1), 0);
  ASSERT_EQ(test_wait_addr(topo.t_addr, t.port, 1, 3000), 0);
  ASSERT_EQ(test_netns_forwarding(&topo, 0), 0);
  ASSERT(test_wait_addr(topo.t_addr, t.port, 0, 1500) != 0);

  /* A real ProxyJump: the target sees the connection come from J. */
  snprintf(cfg, sizeof(cfg), "%s", test_path("ssh_config"));
  snprintf(kh, sizeof(kh), "%s", test_path("known_hosts"));
  write_client_config(cfg, &j, &t, kh);
  snprintf(jump, sizeof(jump), "%s:%d", topo.j_addr, j.port);
  snprintf(port, sizeof(port), "%d", t.port);
  {
    const char *argv[] = {"ssh", "-F",        cfg,
                          "-J",  jump,        "-p",
                          port,  topo.t_addr, "echo $SSH_CONNECTION",
                          NULL};
    char want[64];
    st = test_run_simple(argv, &out, &err);
    if (st != 0) {
      fprintf(stderr, "ssh -J: %s\n", err ? err : "");
      test_sshd_dump_log(&j);
      test_sshd_dump_log(&t);
    }
    ASSERT_EQ(st, 0);
    snprintf(want, sizeof(want), "%s ", topo.j_t_addr);
    ASSERT(strncmp(out, want, strlen(want)) == 0);
    free(out);
    free(err);
    out = err = NULL;
  }
  /* Without the jump, the same ssh cannot get there. */
  {
    const char *argv[] = {"ssh", "-F",        cfg,    "-p",
                          port,  topo.t_addr, "true", NULL};
    st = test_run_simple(argv, &out, &err);
    ASSERT_NE(st, 0);
    free(out);
    free(err);
  }

  test_sshd_stop(&t);
  test_sshd_stop(&j);
  test_netns_teardown(&topo);
  ASSERT(!ns_exists(topo.ns_j) && !ns_exists(topo.ns_t));
  /* Our address is gone from this namespace. */
  {
    const char *argv[] = {"ip", "-4", "-o", "addr", "show", NULL};
    st = test_run_simple(argv, &out, NULL);
    ASSERT_EQ(st, 0);
    ASSERT(strstr(out, topo.root_addr) == NULL);
    free(out);
  }
  return 0;
}

/* Two topologies in one process get distinct names and addresses, and an
 * exit without explicit teardown still removes them (atexit). */
TEST_IMPL(netns_two_topologies_and_atexit) {
  test_netns_topo a, b;
  int pid, st;

  TEST_REQUIRE_ROOT("creating network namespaces");
  TEST_REQUIRE_PROGRAM("ip");
  ASSERT_EQ(test_netns_setup(&a), 0);
  ASSERT_EQ(test_netns_setup(&b), 0);
  ASSERT(strcmp(a.ns_j, b.ns_j) != 0);
  ASSERT(strcmp(a.j_addr, b.j_addr) != 0);
  ASSERT(strcmp(a.t_subnet, b.t_subnet) != 0);
  test_netns_teardown(&a);
  test_netns_teardown(&b);

  /* A child that sets up and exits without tearing down. */
  pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    test_netns_topo c;
    if (test_netns_setup(&c) != 0 || !ns_exists(c.ns_j) ||
        test_write_file(test_path("child-ns"), c.ns_j, 0600) != 0)
      _exit(2);
    exit(0); /* atexit handlers run */
  }
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  {
    char *name = test_read_file(test_path("child-ns"), NULL);
    ASSERT(name != NULL);
    ASSERT_STR_CONTAINS(name, "sshmux-");
    ASSERT(!ns_exists(name));
    free(name);
  }
  return 0;
}
