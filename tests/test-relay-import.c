/* test-relay-import.c -- routes made by `sshmuxd import-config` from an
 * ssh_config, used end to end: a two-hop ProxyJump (j1 on loopback, j2 in
 * namespace J, the target in namespace T, which only J reaches), with the
 * jumps' settings in an Included file, the user from a wildcard block and
 * the target's key from a Match block.  check-config accepts the routes,
 * a real ssh reaches the target through `sshmuxd serve` (the target sees
 * the connection come from J), then setup-config points the same ssh_config
 * at sshmuxd: `ssh -G` now resolves the host to sshmuxd itself (no
 * ProxyJump left to loop through), plain `ssh -F CONFIG web.lab` works
 * through it, and a further import-config changes nothing. */
#include <sys/stat.h>
#include <unistd.h>

#include "fixture-netns.h"
#include "relay-harness.h"

/* `sshmuxd ARGS` into a.  The program's path is static: a keeps pointers
 * to the words, not copies (a local array here left argv[0] dangling, and
 * make asan's -O1 reused its stack: "exec /wor: No such file"). */
static const char *const *sshmuxd_argv(test_argv_t *a,
                                       const char *const *args) {
  static char prog[700];

  snprintf(prog, sizeof(prog), "%s/sshmuxd", test_build_dir());
  memset(a, 0, sizeof(*a));
  test_argv_add(a, prog, NULL);
  test_argv_addv(a, args);
  return a->v;
}

static int sshmuxd(const char *const *args, char **out, char **err) {
  test_argv_t a;
  return test_run_simple(sshmuxd_argv(&a, args), out, err);
}

/* `sshmuxd ARGS` must exit 0 (its output shown if not). */
static void sshmuxd_ok(const char *const *args) {
  test_argv_t a;
  test_expect_run(sshmuxd_argv(&a, args), 0, NULL, NULL);
}

TEST_IMPL_T(relay_import_config_e2e, 120) {
  test_netns_topo topo;
  test_sshd j1, j2, t;
  test_sshd_opts o1, o2, ot;
  rh_t h;
  char cfg[8192], inc[2048], path[1400], incdir[700], port[16];
  char *out = NULL, *err = NULL, *before, *after;
  int st;

  TEST_REQUIRE_ROOT("creating network namespaces");
  TEST_REQUIRE_PROGRAM("ip");
  TEST_REQUIRE_OPENSSH();
  ASSERT_EQ(test_netns_setup(&topo), 0);
  memset(&o1, 0, sizeof(o1));
  o1.name = "j1";
  memset(&o2, 0, sizeof(o2));
  o2.name = "j2";
  o2.netns = topo.ns_j;
  o2.listen_addr = topo.j_addr;
  memset(&ot, 0, sizeof(ot));
  ot.name = "target";
  ot.netns = topo.ns_t;
  ot.listen_addr = topo.t_addr;
  ASSERT_EQ(test_sshd_start(&j1, &o1), 0);
  ASSERT_EQ(test_sshd_start(&j2, &o2), 0);
  ASSERT_EQ(test_sshd_start(&t, &ot), 0);
  rh_init(&h);
  rh_known(&h, &j1);
  rh_known(&h, &j2);
  rh_known(&h, &t);

  /* The user's ssh_config: jumps in an Included file, the user name from a
   * wildcard block, the target's key from a Match block. */
  snprintf(incdir, sizeof(incdir), "%s", test_path("conf.d"));
  ASSERT_EQ(mkdir(incdir, 0700), 0);
  snprintf(inc, sizeof(inc),
           "Host j1\n  HostName %s\n  Port %d\n  User %s\n  IdentityFile %s\n"
           "Host j2\n  HostName %s\n  Port %d\n  User %s\n  IdentityFile %s\n",
           j1.addr, j1.port, j1.user, j1.client_key, j2.addr, j2.port, j2.user,
           j2.client_key);
  snprintf(path, sizeof(path), "%s/jumps.conf", incdir);
  ASSERT_EQ(test_write_file(path, inc, 0600), 0);
  snprintf(cfg, sizeof(cfg),
           "Include %s/*.conf\n"
           "Host web.lab\n  HostName %s\n  Port %d\n  ProxyJump j1,j2\n"
           "Host *.lab\n  User %s\n"
           "Match host %s\n  IdentityFile %s\n",
           incdir, t.addr, t.port, t.user, t.addr, t.client_key);
  snprintf(path, sizeof(path), "%s/config", h.dir);
  ASSERT_EQ(test_write_file(path, cfg, 0600), 0);

  sshmuxd_ok((const char *[]){"import-config", "--ssh-dir", h.dir, "--config",
                              h.routes, "web.lab", NULL});
  st = sshmuxd((const char *[]){"check-config", "--ssh-dir", h.dir, "--config",
                                h.routes, NULL},
               &out, &err);
  ASSERT_EQ(st, 0);
  ASSERT_STR_CONTAINS(out, "chain      j1 -> j2 -> web.lab");
  free(out);
  free(err);

  /* Through serve, the real ssh reaches T; T sees J's address. */
  rh_name(&h, "web.lab");
  rh_start(&h, NULL);
  st = rh_run(&h, (const char *[]){"web.lab", "echo ok $SSH_CONNECTION", NULL},
              &out, &err, 0);
  if (st != 0) {
    fprintf(stderr, "%s\n%s\n", out, err);
    rh_dump(&h);
  }
  ASSERT_EQ(st, 0);
  ASSERT_STR_CONTAINS(out, "ok ");
  ASSERT_STR_CONTAINS(out, topo.j_t_addr);
  free(out);
  free(err);

  /* setup-config: the same ssh_config now sends web.lab to sshmuxd. */
  {
    char pub[700], key[700];
    char *data;
    snprintf(key, sizeof(key), "%s/id_ed25519", h.dir);
    data = test_read_file(h.key, NULL);
    ASSERT(data != NULL);
    ASSERT_EQ(test_write_file(key, data, 0600), 0);
    free(data);
    snprintf(pub, sizeof(pub), "%s/id_ed25519.pub", h.dir);
    test_authorize_key(pub, h.key); /* a copy of key.pub */
  }
  snprintf(port, sizeof(port), "%d", h.port);
  sshmuxd_ok((const char *[]){"setup-config", "--ssh-dir", h.dir, "--config",
                              h.routes, "--port", port, NULL});
  /* ssh -G: sshmuxd itself, and no ProxyJump that could lead back. */
  snprintf(path, sizeof(path), "%s/config", h.dir);
  st = test_run_simple(
      (const char *[]){"ssh", "-G", "-F", path, "web.lab", NULL}, &out, NULL);
  ASSERT_EQ(st, 0);
  ASSERT_STR_CONTAINS(out, "\nhostname 127.0.0.1\n");
  {
    char want[64];
    snprintf(want, sizeof(want), "\nport %d\n", h.port);
    ASSERT_STR_CONTAINS(out, want);
  }
  ASSERT_STR_CONTAINS(out, "\nhostkeyalias sshmuxd\n");
  ASSERT(strstr(out, "\nproxyjump ") == NULL);
  free(out);
  test_expect_run((const char *[]){"ssh", "-F", path, "-o", "BatchMode=yes",
                                   "web.lab", "echo via-config", NULL},
                  0, "via-config", NULL);

  /* Importing again now: the host is sshmuxd's, its route kept as is. */
  before = test_read_file(h.routes, NULL);
  st = sshmuxd((const char *[]){"import-config", "--ssh-dir", h.dir, "--config",
                                h.routes, "web.lab", NULL},
               &out, &err);
  ASSERT_EQ(st, 0);
  ASSERT_STR_CONTAINS(out, "web.lab: already goes through sshmuxd");
  after = test_read_file(h.routes, NULL);
  ASSERT_STR_EQ(before, after);
  free(before);
  free(after);
  free(out);
  free(err);

  rh_stop(&h);
  test_sshd_stop(&t);
  test_sshd_stop(&j2);
  test_sshd_stop(&j1);
  test_netns_teardown(&topo);
  return 0;
}
