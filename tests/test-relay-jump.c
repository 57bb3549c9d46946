/* test-relay-jump.c -- everything a developer does over SSH, through
 * `sshmuxd serve` to a target behind a jump host (jump in network
 * namespace J, target in T, reachable only through J): bulk data each way
 * with matching SHA-256, sftp batch put/get, scp -r (sftp and legacy
 * protocol), ssh -L to an HTTP server on the target's loopback, ssh -D
 * SOCKS fetches, the forwarding policy refusing lateral movement, and the
 * VS Code style `ssh -T -D PORT route bash` with a script on stdin. */
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture-netns.h"
#include "relay-harness.h"

typedef struct {
  test_netns_topo topo;
  test_sshd j, t;
  rh_t h;
} jenv_t;

static void jsetup(jenv_t *e) {
  test_sshd_opts jo, so;
  char buf[1024];

  ASSERT_EQ(test_netns_setup(&e->topo), 0);
  jo = test_sshd_opts_in("jump", e->topo.ns_j, e->topo.j_addr);
  so = test_sshd_opts_in("target", e->topo.ns_t, e->topo.t_addr);
  ASSERT_EQ(test_sshd_start(&e->j, &jo), 0);
  ASSERT_EQ(test_sshd_start(&e->t, &so), 0);
  rh_init(&e->h);
  snprintf(buf, sizeof(buf),
           "[jumps.j]\nhost = %s\nport = %d\nuser = %s\nidentity = %s\n\n",
           e->j.addr, e->j.port, e->j.user, e->j.client_key);
  rh_routes_text(&e->h, buf);
  rh_known(&e->h, &e->j);
  rh_route(&e->h, "t", &e->t, "jump = j\n");
  rh_start(&e->h, NULL);
}

static void jteardown(jenv_t *e) {
  rh_stop(&e->h);
  test_sshd_stop(&e->t);
  test_sshd_stop(&e->j);
  test_netns_teardown(&e->topo);
}

static void sha256_of(const char *path, char out[65]) {
  const char *argv[] = {"sha256sum", path, NULL};
  char *o = NULL;

  ASSERT_EQ(test_run_simple(argv, &o, NULL), 0);
  ASSERT(o != NULL && strlen(o) >= 64);
  memcpy(out, o, 64);
  out[64] = '\0';
  free(o);
}

#define REQUIRE_NETNS() TEST_REQUIRE_NETNS_AND("ssh", NULL)

/* Bulk each way: SSHMUX_TEST_BULK_MB (default 32; bench/ runs 256). */
TEST_IMPL_T(relay_jump_bulk, 120) {
  jenv_t e;
  char cmd[3000], src[65], up[65], down[65];
  const char *mb_env = getenv("SSHMUX_TEST_BULK_MB");
  int mb = mb_env != NULL ? atoi(mb_env) : 32;
  char in[700], remote[700], back[700];

  REQUIRE_NETNS();
  if (mb <= 0)
    mb = 32;
  /* test_path's buffers rotate: keep copies. */
  snprintf(in, sizeof(in), "%s", test_path("bulk.in"));
  snprintf(remote, sizeof(remote), "%s", test_path("bulk.remote"));
  snprintf(back, sizeof(back), "%s", test_path("bulk.back"));
  snprintf(cmd, sizeof(cmd), "head -c %d /dev/urandom > %s", mb * 1024 * 1024,
           in);
  ASSERT_EQ(test_run_sh(cmd, 0), 0);
  sha256_of(in, src);
  jsetup(&e);
  /* Up: the target writes what it reads (the same file system: the
   * namespaces share it) and prints its digest. */
  snprintf(cmd, sizeof(cmd), "ssh -F %s t 'cat > %s' < %s", e.h.cfg, remote,
           in);
  ASSERT_EQ(test_run_sh(cmd, 100000), 0);
  sha256_of(remote, up);
  ASSERT_STR_EQ(up, src);
  snprintf(cmd, sizeof(cmd), "ssh -F %s t 'cat %s' > %s", e.h.cfg, remote,
           back);
  ASSERT_EQ(test_run_sh(cmd, 100000), 0);
  sha256_of(back, down);
  ASSERT_STR_EQ(down, src);
  jteardown(&e);
  return 0;
}

static void make_tree(const char *root) {
  char cmd[5000];

  snprintf(cmd, sizeof(cmd),
           "mkdir -p %s/a/b %s/c && head -c 200000 /dev/urandom > %s/a/b/bin "
           "&& printf 'hello\\n' > %s/top.txt && : > %s/c/empty && "
           "chmod 640 %s/top.txt",
           root, root, root, root, root, root);
  ASSERT_EQ(test_run_sh(cmd, 0), 0);
}

static void same_tree(const char *a, const char *b) {
  char *out = NULL;
  int st =
      test_run_simple((const char *[]){"diff", "-r", a, b, NULL}, &out, NULL);
  if (st != 0)
    fprintf(stderr, "%s\n", out ? out : "");
  ASSERT_EQ(st, 0);
  free(out);
}

/* Run argv: it must exit 0 (its output shown if not). */
static void run_ok(const char *const *argv) {
  char *out = NULL, *err = NULL;
  int st = test_run_simple(argv, &out, &err);

  if (st != 0)
    fprintf(stderr, "%s: %s\n%s\n", argv[0], out ? out : "", err ? err : "");
  ASSERT_EQ(st, 0);
  free(out);
  free(err);
}

TEST_IMPL_T(relay_jump_sftp_scp, 90) {
  jenv_t e;
  char batch[4096], dst[1024], src[512];

  REQUIRE_NETNS();
  TEST_REQUIRE_PROGRAMS("sftp", "scp");
  snprintf(src, sizeof(src), "%s", test_path("tree"));
  make_tree(src);
  jsetup(&e);

  /* sftp batch: put a file, get it back under another name. */
  snprintf(batch, sizeof(batch), "put %s/a/b/bin %s\nget %s %s\nls %s\n", src,
           test_path("sftp.remote"), test_path("sftp.remote"),
           test_path("sftp.back"), test_path("sftp.remote"));
  ASSERT_EQ(test_write_file(test_path("batch"), batch, 0600), 0);
  run_ok((const char *[]){"sftp", "-F", e.h.cfg, "-b", test_path("batch"), "t",
                          NULL});
  {
    char a[65], b[65];
    snprintf(dst, sizeof(dst), "%s/a/b/bin", src);
    sha256_of(dst, a);
    sha256_of(test_path("sftp.back"), b);
    ASSERT_STR_EQ(a, b);
  }

  /* scp -r over the sftp protocol, then the legacy scp protocol (-O). */
  snprintf(dst, sizeof(dst), "t:%s", test_path("scp1"));
  run_ok(
      (const char *[]){"scp", "-F", e.h.cfg, "-q", "-p", "-r", src, dst, NULL});
  same_tree(src, test_path("scp1"));
  snprintf(dst, sizeof(dst), "t:%s", test_path("scp1"));
  run_ok((const char *[]){"scp", "-F", e.h.cfg, "-O", "-q", "-r", dst,
                          test_path("scp2"), NULL});
  same_tree(src, test_path("scp2"));
  jteardown(&e);
  return 0;
}

/* python3 -m http.server on the target's loopback, in namespace T. */
static int http_server(jenv_t *e, int port, const char *dir) {
  char p[16];
  int pid;

  snprintf(p, sizeof(p), "%d", port);
  pid = test_spawn((const char *[]){"ip", "netns", "exec", e->topo.ns_t,
                                    "/usr/bin/python3", "-m", "http.server",
                                    "--bind", "127.0.0.1", "--directory", dir,
                                    p, NULL},
                   test_path("http.log"));
  ASSERT_GT(pid, 0);
  ASSERT_EQ(test_netns_wait_addr(e->topo.ns_t, "127.0.0.1", port, 0, 15000), 0);
  return pid;
}

static char *curl(const char *const *argv) {
  char *out = NULL, *err = NULL;
  int st = test_run_simple(argv, &out, &err);

  if (st != 0)
    fprintf(stderr, "curl: %d: %s\n", st, err ? err : "");
  free(err);
  if (st != 0) {
    free(out);
    return NULL;
  }
  return out;
}

/* curl url through the SOCKS proxy (host:port, names resolved there): the
 * body must be want. */
static void socks_get(const char *proxy, const char *url, const char *want) {
  char *out = curl((const char *[]){"curl", "-sS", "--max-time", "20",
                                    "--socks5-hostname", proxy, url, NULL});

  ASSERT_STR_EQ(out, want);
  free(out);
}

/* ssh -N FLAG SPEC t in the background (log in the test dir), once its
 * forwarding listens on 127.0.0.1:port; its pid. */
static int spawn_forward(jenv_t *e, const char *flag, const char *spec,
                         const char *log, int port) {
  int pid = test_spawn(
      rh_ssh(&e->h, (const char *[]){"-N", "-o", "ExitOnForwardFailure=yes",
                                     flag, spec, "t", NULL}),
      test_path(log));

  ASSERT_EQ(test_wait_port(port, 0, 15000), 0);
  return pid;
}

TEST_IMPL_T(relay_jump_forwarding, 90) {
  jenv_t e;
  int hpid, spid, lport = test_free_port(), dport, st;
  char fwd[64], url[128], dyn[16], proxy[64], *out, *err = NULL, www[700];

  REQUIRE_NETNS();
  TEST_REQUIRE_PROGRAMS("curl", "/usr/bin/python3");
  snprintf(www, sizeof(www), "%s", test_path("www"));
  ASSERT_EQ(mkdir(www, 0755), 0);
  ASSERT_EQ(test_write_file(test_path("www/hello.txt"), "hello from T\n", 0644),
            0);
  jsetup(&e);
  hpid = http_server(&e, 8765, www);

  /* ssh -L */
  snprintf(fwd, sizeof(fwd), "%d:127.0.0.1:8765", lport);
  spid = spawn_forward(&e, "-L", fwd, "ssh-L.log", lport);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello.txt", lport);
  out = curl((const char *[]){"curl", "-sS", "--max-time", "20", url, NULL});
  ASSERT_STR_EQ(out, "hello from T\n");
  free(out);
  test_kill(spid);

  /* ssh -D: SOCKS with names resolved upstream ("localhost" is T's). */
  dport = test_free_port();
  snprintf(dyn, sizeof(dyn), "%d", dport);
  spid = spawn_forward(&e, "-D", dyn, "ssh-D.log", dport);
  snprintf(proxy, sizeof(proxy), "127.0.0.1:%d", dport);
  socks_get(proxy, "http://localhost:8765/hello.txt", "hello from T\n");
  /* Lateral movement: T's own non-loopback address is not in the
   * default allowlist. */
  snprintf(url, sizeof(url), "http://%s:8765/hello.txt", e.topo.j_t_addr);
  st = test_run_simple((const char *[]){"curl", "-sS", "--max-time", "20",
                                        "--socks5-hostname", proxy, url, NULL},
                       NULL, NULL);
  ASSERT_NE(st, 0);
  test_kill(spid);
  {
    char w[64];
    snprintf(w, sizeof(w), "%s:22", e.topo.j_t_addr);
    st = rh_run(&e.h,
                (const char *[]){"-o", "LogLevel=INFO", "-W", w, "t", NULL},
                NULL, &err, 0);
    ASSERT_EQ(st, 255);
    ASSERT_STR_CONTAINS(err, "refused by route 't'");
    ASSERT_STR_CONTAINS(err, "forward_allow = loopback");
    free(err);
  }
  test_kill(hpid);
  jteardown(&e);
  return 0;
}

/* What VS Code Remote-SSH runs: ssh -T -D PORT host bash, a script on
 * stdin that starts a server and reports on stdout, SOCKS used meanwhile. */
TEST_IMPL_T(relay_jump_vscode_style, 90) {
  jenv_t e;
  int hpid, spid, dport = test_free_port();
  char cmd[2048], proxy[64], www[700];
  uint64_t end;

  REQUIRE_NETNS();
  TEST_REQUIRE_PROGRAMS("curl", "/usr/bin/python3");
  snprintf(www, sizeof(www), "%s", test_path("www2"));
  ASSERT_EQ(mkdir(www, 0755), 0);
  ASSERT_EQ(test_write_file(test_path("www2/x"), "vscode-ok\n", 0644), 0);
  jsetup(&e);
  hpid = http_server(&e, 8766, www);
  test_write_fmt(test_path("script.sh"), 0600,
                 "echo \"listeningOn==8766==\"\n"
                 "echo started > %s\n"
                 "while [ ! -f %s ]; do sleep 0.1; done\n"
                 "echo \"exitCode==0==\"\n",
                 test_path("started"), test_path("stop"));
  snprintf(cmd, sizeof(cmd),
           "ssh -F %s -T -D %d -o ControlMaster=no t bash < %s > %s", e.h.cfg,
           dport, test_path("script.sh"), test_path("vs.out"));
  spid =
      test_spawn((const char *[]){"sh", "-c", cmd, NULL}, test_path("vs.err"));
  end = test_now_ms() + 45000;
  while (access(test_path("started"), F_OK) != 0) {
    ASSERT_LT(test_now_ms(), end);
    usleep(50000);
  }
  ASSERT_EQ(test_wait_port(dport, 0, 15000), 0);
  snprintf(proxy, sizeof(proxy), "127.0.0.1:%d", dport);
  socks_get(proxy, "http://127.0.0.1:8766/x", "vscode-ok\n");
  ASSERT_EQ(test_write_file(test_path("stop"), "", 0600), 0);
  end = test_now_ms() + 45000;
  for (;;) {
    char *o = test_read_file(test_path("vs.out"), NULL);
    int done = o != NULL && strstr(o, "exitCode==0==") != NULL;
    if (done)
      ASSERT_STR_EQ(o, "listeningOn==8766==\nexitCode==0==\n");
    free(o);
    if (done)
      break;
    ASSERT_LT(test_now_ms(), end);
    usleep(50000);
  }
  test_kill(spid);
  test_kill(hpid);
  jteardown(&e);
  return 0;
}
