/* test-relay-serve.c -- `sshmuxd serve` itself: its options (bad ones are
 * usage errors before anything starts), direct mode (--remote/--user: any
 * local user name reaches the one upstream), client keys from the SSH
 * dir's *.pub files with a loud warning when sshmux-authorized-keys is
 * missing, a key that is in neither being refused, and a route whose
 * upstream login is an RSA key held by a real ssh-agent (identity_agent)
 * reaching a default-config OpenSSH sshd with rsa-sha2-512. */
#include <unistd.h>

#include "fixture-agent.h"
#include "relay-harness.h"

static int serve(const char *const *args, char **err) {
  const char *argv[24];
  char path[700];
  size_t n = 0;

  snprintf(path, sizeof(path), "%s/sshmuxd", test_build_dir());
  argv[n++] = path;
  argv[n++] = "serve";
  for (; *args != NULL && n < 23; args++)
    argv[n++] = *args;
  argv[n] = NULL;
  return test_run_simple(argv, NULL, err);
}

TEST_IMPL(relay_serve_usage_errors) {
  char *err = NULL;

  ASSERT_EQ(serve((const char *[]){"--port", "99999", NULL}, &err), 2);
  ASSERT_STR_CONTAINS(err, "--port");
  free(err);
  ASSERT_EQ(serve((const char *[]){"--timeout", "soon", NULL}, &err), 2);
  ASSERT_STR_CONTAINS(err, "--timeout");
  free(err);
  ASSERT_EQ(serve((const char *[]){"--remote", "h", NULL}, &err), 2);
  ASSERT_STR_CONTAINS(err, "--remote and --user go together");
  free(err);
  ASSERT_EQ(serve((const char *[]){"--remote", "h", "--user", "u", "--config",
                                   "x", NULL},
                  &err),
            2);
  free(err);
  ASSERT_EQ(
      serve((const char *[]){"--remote", "h\nx", "--user", "u", NULL}, &err),
      2);
  free(err);
  ASSERT_EQ(serve((const char *[]){"--help", NULL}, NULL), 0);
  /* A broken routes file: refused with its FILE:LINE, nothing served. */
  ASSERT_EQ(
      test_write_file(test_path("bad.ini"), "[routes.x]\nhost = h\n", 0600), 0);
  ASSERT_EQ(serve((const char *[]){"--ssh-dir", test_path("."), "--config",
                                   test_path("bad.ini"), NULL},
                  &err),
            1);
  ASSERT_STR_CONTAINS(err, "bad.ini");
  free(err);
  return 0;
}

TEST_IMPL(relay_serve_direct_mode) {
  test_sshd s;
  rh_t h;
  char remote[128], *out = NULL;

  TEST_REQUIRE_PROGRAM("ssh");
  ASSERT_EQ(test_sshd_start(&s, NULL), 0);
  rh_init(&h);
  rh_known(&h, &s);
  rh_name(&h, "anyone");
  snprintf(remote, sizeof(remote), "%s:%d", s.addr, s.port);
  rh_start(&h, (const char *[]){"--remote", remote, "--user", s.user,
                                "--identity", s.client_key, NULL});
  ASSERT_EQ(rh_run(&h, (const char *[]){"anyone", "echo direct-ok", NULL}, &out,
                   NULL, 0),
            0);
  ASSERT_STR_EQ(out, "direct-ok\n");
  free(out);
  rh_stop(&h);
  test_sshd_stop(&s);
  return 0;
}

TEST_IMPL(relay_serve_pub_fallback) {
  test_sshd s;
  rh_t h;
  char path[700], *out = NULL, *data, *log;
  int st;

  TEST_REQUIRE_PROGRAM("ssh");
  rh_setup(&h, &s, "r1", NULL);
  /* No sshmux-authorized-keys; the local key's .pub in the SSH dir. */
  snprintf(path, sizeof(path), "%s/sshmux-authorized-keys", h.dir);
  ASSERT_EQ(unlink(path), 0);
  snprintf(path, sizeof(path), "%s.pub", h.key);
  data = test_read_file(path, NULL);
  ASSERT(data != NULL);
  snprintf(path, sizeof(path), "%s/id_ed25519.pub", h.dir);
  ASSERT_EQ(test_write_file(path, data, 0644), 0);
  free(data);
  rh_start(&h, NULL);
  log = test_read_file(h.log, NULL);
  ASSERT_STR_CONTAINS(log, "WARNING");
  ASSERT_STR_CONTAINS(log, "sshmux-authorized-keys does not exist");
  ASSERT_STR_CONTAINS(log, "(1 keys)");
  free(log);
  ASSERT_EQ(
      rh_run(&h, (const char *[]){"r1", "echo pub-ok", NULL}, &out, NULL, 0),
      0);
  ASSERT_STR_EQ(out, "pub-ok\n");
  free(out);
  /* Another key is not let in. */
  ASSERT_EQ(test_keygen("ed25519", test_path("other"), NULL), 0);
  {
    char port[16];
    snprintf(port, sizeof(port), "%d", h.port);
    st = test_run_simple((const char *[]){"ssh",
                                          "-F",
                                          "/dev/null",
                                          "-p",
                                          port,
                                          "-i",
                                          test_path("other"),
                                          "-o",
                                          "IdentitiesOnly=yes",
                                          "-o",
                                          "StrictHostKeyChecking=no",
                                          "-o",
                                          "UserKnownHostsFile=/dev/null",
                                          "-o",
                                          "BatchMode=yes",
                                          "-o",
                                          "LogLevel=ERROR",
                                          "-l",
                                          "r1",
                                          "127.0.0.1",
                                          "true",
                                          NULL},
                         NULL, NULL);
  }
  ASSERT_EQ(st, 255);
  rh_stop(&h);
  test_sshd_stop(&s);
  return 0;
}

static int log_has(const char *path, const char *needle) {
  char *data = test_read_file(path, NULL);
  int r = data != NULL && strstr(data, needle) != NULL;
  free(data);
  return r;
}

/* End to end: ssh -> sshmuxd serve -> default OpenSSH sshd, the upstream
 * login signed by ssh-agent with an RSA-3072 key (rsa-sha2-512), the
 * agent named by the route (serve's own SSH_AUTH_SOCK is unset). */
TEST_IMPL_T(relay_serve_agent_rsa, 120) {
  test_sshd s;
  test_agent ag;
  char key[600], text[2048], *out = NULL;
  rh_t h;

  TEST_REQUIRE_PROGRAMS("ssh", "ssh-agent");
  snprintf(key, sizeof(key), "%s", test_path("agent_rsa"));
  ASSERT_OK(test_keygen_ex("rsa", "3072", NULL, NULL, key));
  test_sshd_start_with_key(&s, NULL, key);
  ASSERT_EQ(test_agent_start(&ag, "agent", NULL), 0);
  ASSERT_EQ(test_agent_add(&ag, key, 0), 0);
  unlink(key); /* only the agent holds the private key now */
  unsetenv("SSH_AUTH_SOCK");
  rh_init(&h);
  snprintf(text, sizeof(text),
           "[routes.ra]\nhost = %s\nport = %d\nuser = %s\n"
           "identity_agent = %s\ndirect = true\n",
           s.addr, s.port, s.user, ag.sock);
  rh_routes_text(&h, text);
  rh_known(&h, &s);
  rh_name(&h, "ra");
  rh_start(&h, NULL);
  if (rh_run(&h, (const char *[]){"ra", "echo agent-rsa-ok", NULL}, &out, NULL,
             0) != 0) {
    rh_dump(&h);
    test_sshd_dump_log(&s);
  }
  ASSERT_STR_EQ(out, "agent-rsa-ok\n");
  free(out);
  ASSERT(log_has(s.log, "pkalg rsa-sha2-512 pkblob RSA"));
  ASSERT(log_has(s.log, "Accepted publickey"));
  ASSERT(!log_has(s.log, "pkalg ssh-rsa "));
  rh_stop(&h);
  test_agent_stop(&ag);
  test_sshd_stop(&s);
  return 0;
}
