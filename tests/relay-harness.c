/* relay-harness.c -- see relay-harness.h. */
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay-harness.h"

static void append(const char *path, const char *text) {
  FILE *f = fopen(path, "a");
  ASSERT(f != NULL);
  fputs(text, f);
  fclose(f);
}

void rh_init(rh_t *h) {
  rh_init_in(h, test_path("sshdir"));
}

void rh_init_in(rh_t *h, const char *dir) {
  memset(h, 0, sizeof(*h));
  snprintf(h->dir, sizeof(h->dir), "%s", dir);
  ASSERT_EQ(mkdir(h->dir, 0700), 0);
  snprintf(h->routes, sizeof(h->routes), "%s/sshmux-routes.ini", h->dir);
  snprintf(h->cfg, sizeof(h->cfg), "%s", test_path("client.cfg"));
  snprintf(h->log, sizeof(h->log), "%s", test_path("serve.log"));
  snprintf(h->key, sizeof(h->key), "%s", test_path("local_key"));
  ASSERT_EQ(test_keygen("ed25519", h->key, NULL), 0);
  {
    char path[700];
    char *data = test_read_pub(h->key);
    snprintf(path, sizeof(path), "%s/sshmux-authorized-keys", h->dir);
    append(path, data);
    free(data);
  }
  append(h->routes, "");
}

void rh_init_short(rh_t *h) {
  char top[64], dir[96];

  snprintf(top, sizeof(top), "/tmp/sshmux-rh-XXXXXX");
  ASSERT(mkdtemp(top) != NULL);
  snprintf(dir, sizeof(dir), "%s/ssh", top);
  rh_init_in(h, dir);
  snprintf(h->top, sizeof(h->top), "%s", top);
}

void rh_remove_short(rh_t *h) {
  if (h->top[0] != '\0')
    ASSERT_EQ(test_run_simple((const char *[]){"rm", "-rf", h->top, NULL}, NULL,
                              NULL),
              0);
  h->top[0] = '\0';
}

/* Copy file from to to (0600). */
static void copy_file(const char *from, const char *to) {
  char *data = test_read_file(from, NULL);

  ASSERT(data != NULL);
  ASSERT_EQ(test_write_file(to, data, 0600), 0);
  free(data);
}

void rh_setup_config(rh_t *h) {
  char path[700], pub[700], prog[700], port[16], *out = NULL, *err = NULL;
  int st;

  snprintf(path, sizeof(path), "%s/id_ed25519", h->dir);
  copy_file(h->key, path);
  snprintf(pub, sizeof(pub), "%s.pub", h->key);
  snprintf(path, sizeof(path), "%s/id_ed25519.pub", h->dir);
  copy_file(pub, path);
  snprintf(prog, sizeof(prog), "%s/sshmuxd", test_build_dir());
  snprintf(port, sizeof(port), "%d", h->port);
  st = test_run_simple((const char *[]){prog, "setup-config", "--ssh-dir",
                                        h->dir, "--config", h->routes, "--port",
                                        port, NULL},
                       &out, &err);
  if (st != 0)
    fprintf(stderr, "setup-config: %d\n%s\n%s\n", st, out, err);
  ASSERT_EQ(st, 0);
  free(out);
  free(err);
  snprintf(h->setup_cfg, sizeof(h->setup_cfg), "%s/config", h->dir);
}

void rh_known(rh_t *h, test_sshd *s) {
  char path[700];
  char *data = test_read_file(s->known_hosts, NULL);

  ASSERT(data != NULL);
  snprintf(path, sizeof(path), "%s/known_hosts", h->dir);
  append(path, data);
  free(data);
}

void rh_routes_text(rh_t *h, const char *text) {
  append(h->routes, text);
}

void rh_setup(rh_t *h, test_sshd *s, const char *route, const char *extra) {
  ASSERT_EQ(test_sshd_start(s, NULL), 0);
  rh_init(h);
  rh_route(h, route, s, extra);
}

void rh_setup_start(rh_t *h, test_sshd *s, const char *route,
                    const char *extra) {
  rh_setup(h, s, route, extra);
  rh_start(h, NULL);
}

void rh_teardown(rh_t *h, test_sshd *s) {
  rh_stop(h);
  test_sshd_stop(s);
}

void rh_route(rh_t *h, const char *name, test_sshd *s, const char *extra) {
  char buf[2048];

  snprintf(buf, sizeof(buf),
           "[routes.%s]\nhost = %s\nport = %d\nuser = %s\nidentity = %s\n"
           "%s%s\n",
           name, s->addr, s->port, s->user, s->client_key,
           extra != NULL && strstr(extra, "jump =") != NULL ? ""
                                                            : "direct = true\n",
           extra != NULL ? extra : "");
  append(h->routes, buf);
  rh_known(h, s);
  rh_name(h, name);
}

void rh_name(rh_t *h, const char *name) {
  ASSERT_LT(h->nroutes, 16);
  snprintf(h->names[h->nroutes++], sizeof(h->names[0]), "%s", name);
}

void rh_dump(rh_t *h) {
  char *data = test_read_file(h->log, NULL);
  char path[700];

  fprintf(stderr, "---- serve log ----\n%s\n", data ? data : "(none)");
  free(data);
  snprintf(path, sizeof(path), "%s/sshmux.log", h->dir);
  data = test_read_file(path, NULL);
  fprintf(stderr, "---- sshmux.log ----\n%s\n", data ? data : "(none)");
  free(data);
}

/* Wait for the "serving on" line in h->log, then write the ssh_config. */
static void await_serving(rh_t *h) {
  char cfg[2048];
  uint64_t end = test_now_ms() + 20000;
  size_t n;

  while (h->port == 0) {
    char *data = test_read_file(h->log, NULL);
    const char *p = data ? strstr(data, "serving on 127.0.0.1:") : NULL;
    if (p != NULL)
      h->port = atoi(p + strlen("serving on 127.0.0.1:"));
    free(data);
    if (h->port == 0) {
      if (test_now_ms() > end || (h->pid > 0 && kill(h->pid, 0) != 0)) {
        rh_dump(h);
        test_fail(__FILE__, __LINE__, "sshmuxd serve did not start");
      }
      usleep(20000);
    }
  }
  snprintf(cfg, sizeof(cfg),
           "Host *\n"
           "  HostName 127.0.0.1\n"
           "  Port %d\n"
           "  IdentityFile %s\n"
           "  IdentitiesOnly yes\n"
           "  UserKnownHostsFile %s\n"
           "  StrictHostKeyChecking accept-new\n"
           "  BatchMode yes\n"
           "  ControlMaster no\n"
           "  ControlPath none\n"
           "  LogLevel ERROR\n",
           h->port, h->key, test_path("client_known_hosts"));
  unlink(h->cfg);
  for (n = 0; n < (size_t)h->nroutes; n++) {
    char block[128];
    snprintf(block, sizeof(block), "Host %s\n  User %s\n", h->names[n],
             h->names[n]);
    append(h->cfg, block);
  }
  append(h->cfg, cfg);
}

/* Into argv: `sshmuxd serve` with the harness's options and extra
 * (path holds the program's name). */
static void serve_argv(rh_t *h, test_argv_t *argv, char *path, size_t size,
                       const char *const *extra) {
  snprintf(path, size, "%s/sshmuxd", test_build_dir());
  memset(argv, 0, sizeof(*argv));
  test_argv_add(argv, path, "serve", "--port", "0", "--ssh-dir", h->dir,
                "--log-level", "debug", NULL);
  if (extra == NULL || strcmp(extra[0], "--remote") != 0)
    test_argv_add(argv, "--config", h->routes, NULL);
  test_argv_addv(argv, extra);
}

void rh_start(rh_t *h, const char *const *extra) {
  test_argv_t argv;
  char path[700];

  serve_argv(h, &argv, path, sizeof(path), extra);
  h->pid = test_spawn(argv.v, h->log);
  ASSERT_GT(h->pid, 0);
  await_serving(h);
}

void rh_start_tmux(rh_t *h, const char *sock) {
  test_argv_t argv;
  char path[700], cmd[4096];
  size_t o = 0;

  serve_argv(h, &argv, path, sizeof(path), NULL);
  for (int i = 0; i < argv.n; i++)
    o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, "'%s' ", argv.v[i]);
  snprintf(cmd + o, sizeof(cmd) - o, "| tee '%s'", h->log);
  ASSERT_EQ(test_run_simple((const char *[]){"tmux", "-S", sock, "new-session",
                                             "-d", "-s", "srv", "-x", "120",
                                             "-y", "40", cmd, NULL},
                            NULL, NULL),
            0);
  h->pid = 0;
  h->in_tmux = 1;
  await_serving(h);
  {
    char pat[700], *out = NULL;
    snprintf(pat, sizeof(pat), "sshmuxd serve --port 0 --ssh-dir %s", h->dir);
    if (test_run_simple((const char *[]){"pgrep", "-f", "-n", pat, NULL}, &out,
                        NULL) == 0 &&
        out != NULL)
      h->pid = atoi(out);
    free(out);
  }
}

void rh_stop(rh_t *h) {
  char *log;

  if (h->pid > 0 && h->in_tmux) {
    uint64_t end = test_now_ms() + 5000;
    kill(h->pid, SIGTERM);
    while (kill(h->pid, 0) == 0 && test_now_ms() < end)
      usleep(20000);
    kill(h->pid, SIGKILL);
  } else if (h->pid > 0) {
    test_kill(h->pid);
  }
  h->pid = 0;
  /* Under `make asan` a sanitizer report in sshmuxd (which exits cleanly
   * on SIGTERM, so LeakSanitizer runs too) fails the test. */
  log = test_read_file(h->log, NULL);
  if (log != NULL && (strstr(log, "Sanitizer") != NULL ||
                      strstr(log, "runtime error:") != NULL)) {
    fprintf(stderr, "%s\n", log);
    free(log);
    test_fail(__FILE__, __LINE__, "sanitizer report from sshmuxd");
  }
  free(log);
}

int rh_sanitized(void) {
  const char *a = getenv("ASAN_OPTIONS");
  return a != NULL && *a != '\0';
}

/* ssh -F cfg [-o BatchMode=yes] words...: in a rotation of 4 static argvs. */
static const char *const *ssh_argv(const char *cfg, int batch,
                                   const char *const *words) {
  static test_argv_t v[4];
  static int slot;
  test_argv_t *a = &v[slot++ & 3];

  memset(a, 0, sizeof(*a));
  test_argv_add(a, "ssh", "-F", cfg, NULL);
  if (batch)
    test_argv_add(a, "-o", "BatchMode=yes", NULL);
  test_argv_addv(a, words);
  return a->v;
}

const char *const *rh_ssh(rh_t *h, const char *const *words) {
  return ssh_argv(h->cfg, 0, words);
}

int rh_run(rh_t *h, const char *const *words, char **out, char **err,
           int timeout_ms) {
  return test_run_status(&(test_cmd_t){.argv = rh_ssh(h, words),
                                       .out = out,
                                       .err = err,
                                       .timeout_ms = timeout_ms});
}

const char *const *rh_ssh_setup(rh_t *h, const char *const *words) {
  return ssh_argv(h->setup_cfg, 1, words);
}

long rh_rss_kib(rh_t *h) {
  char path[64];
  char *data, *p;
  long v = -1;

  snprintf(path, sizeof(path), "/proc/%d/status", h->pid);
  data = test_read_file(path, NULL);
  if (data != NULL && (p = strstr(data, "VmRSS:")) != NULL)
    v = strtol(p + 6, NULL, 10);
  free(data);
  return v;
}

void rh_route_encrypted(rh_t *h, const char *name, test_sshd *s,
                        const char *key_path, const char *passphrase) {
  char ini[2048];

  ASSERT_EQ(test_keygen("ed25519", key_path, passphrase), 0);
  test_sshd_start_with_key(s, NULL, key_path);
  snprintf(ini, sizeof(ini),
           "[routes.%s]\nhost = %s\nport = %d\nuser = %s\nidentity = %s\n"
           "direct = true\n",
           name, s->addr, s->port, s->user, key_path);
  rh_routes_text(h, ini);
  rh_name(h, name);
}

long rh_rss_below(rh_t *h, long limit) {
  long rss = rh_rss_kib(h);

  for (int i = 0; i < 100 && rss >= limit; i++) {
    usleep(100000);
    rss = rh_rss_kib(h);
  }
  return rss;
}
