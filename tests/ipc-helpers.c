/* ipc-helpers.c -- see ipc-helpers.h. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc-helpers.h"

void ipct_env(void) {
  dtest_setup();
  ASSERT_EQ(setenv("HOME", test_path("home"), 1), 0);
  ASSERT_EQ(setenv("XDG_CONFIG_HOME", test_path("home/.config"), 1), 0);
  ASSERT_EQ(setenv("XDG_RUNTIME_DIR", test_path("run"), 1), 0);
  ASSERT_EQ(unsetenv("SSHMUX_SSH_DIR"), 0);
  ASSERT_EQ(unsetenv("SSHMUX_LOG"), 0);
  ASSERT_EQ(unsetenv("SSH_AUTH_SOCK"), 0);
}

const char *ipct_control_dir(void) {
  static char p[1100];
  snprintf(p, sizeof(p), "%s/sshmux", test_path("run"));
  return p;
}

const char *ipct_control_sock(void) {
  static char p[1100];
  snprintf(p, sizeof(p), "%s/sshmux/control", test_path("run"));
  return p;
}

void ipct_routes(const char *text) {
  dtest_write(dtest_ssh_path("sshmux-routes.ini"), text);
}

const char *ipct_routes_for_jump(test_sshd *j, const char *extra) {
  static char buf[8192];
  snprintf(buf, sizeof(buf),
           "[jump]\nhost = %s\nport = %d\nuser = %s\nidentity = %s\n%s",
           j->addr, j->port, j->user, j->client_key, extra ? extra : "");
  return buf;
}

void ipct_known_hosts(test_sshd *s) {
  char *kh = test_read_file(s->known_hosts, NULL);
  char *old = test_read_file(dtest_ssh_path("known_hosts"), NULL);
  char *all;
  size_t n;

  ASSERT(kh != NULL);
  n = (old ? strlen(old) : 0) + strlen(kh) + 2;
  all = malloc(n);
  ASSERT(all != NULL);
  snprintf(all, n, "%s%s", old ? old : "", kh);
  dtest_write(dtest_ssh_path("known_hosts"), all);
  free(all);
  free(kh);
  free(old);
}

int ipct_spawn(void) {
  const char *argv[] = {dtest_sshmuxd(), "control-daemon", "--log-level",
                        "debug", NULL};
  int pid = test_spawn(argv, test_path("daemon.log"));
  ASSERT_GT(pid, 0);
  return pid;
}

int ipct_start(void) {
  int pid = ipct_spawn();
  uint64_t end = test_now_ms() + 10000;

  while (test_now_ms() < end) {
    const char *args[] = {"status", NULL};
    int st;
    if (access(ipct_control_sock(), F_OK) == 0 &&
        (st = ipct_run(args, NULL, NULL, NULL)) == 0)
      return pid;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      char *log = test_read_file(test_path("daemon.log"), NULL);
      test_fail(__FILE__, __LINE__, "control-daemon exited: %s",
                log ? log : "");
    }
    usleep(20000);
  }
  test_fail(__FILE__, __LINE__, "control-daemon did not answer in 10 s");
}

void ipct_dump(void) {
  char *d = test_read_file(test_path("daemon.log"), NULL);
  fprintf(stderr, "---- daemon output ----\n%s\n", d ? d : "(none)");
  free(d);
  d = test_read_file(dtest_ssh_path("sshmux.log"), NULL);
  fprintf(stderr, "---- sshmux.log ----\n%s\n", d ? d : "(none)");
  free(d);
}

void ipct_stop_clean(int pid) {
  const char *stop[] = {"stop", NULL};
  char *log;
  int st;

  ASSERT_EQ(ipct_run(stop, NULL, NULL, NULL), 0);
  st = ipct_wait_exit(pid, 20000);
  log = test_read_file(test_path("daemon.log"), NULL);
  if (st != 0 || (log != NULL && (strstr(log, "Sanitizer") != NULL ||
                                  strstr(log, "runtime error") != NULL))) {
    ipct_dump();
    test_fail(__FILE__, __LINE__, "daemon exit %d or sanitizer report", st);
  }
  free(log);
}

int ipct_wait_exit(int pid, int timeout_ms) {
  return test_wait_exit(pid, timeout_ms);
}

int ipct_run(const char *const *args, const char *in, char **out, char **err) {
  test_argv_t argv = {0};
  test_cmd_t c = {0};
  int st = -1;

  test_argv_add(&argv, dtest_sshmuxd(), NULL);
  test_argv_addv(&argv, args);
  c.argv = argv.v;
  c.in = in;
  c.in_len = in ? strlen(in) : 0;
  c.out = out;
  c.err = err;
  c.timeout_ms = 30000;
  ASSERT_EQ(test_run(&c, &st), 0);
  return st;
}

static const char *const *proxy_argv(test_sshd *t, const char *via,
                                     const char *cmd) {
  static char proxy[2400];
  static test_argv_t a;
  const char *first[] = {"-o", proxy, getenv("IPCT_SSH_V") ? "-v" : NULL, NULL};

  snprintf(proxy, sizeof(proxy), "ProxyCommand='%s' connect %%h:%%p%s%s",
           dtest_sshmuxd(), via ? " --via " : "", via ? via : "");
  return test_sshd_ssh_argv(&a, t, first, cmd);
}

int ipct_ssh_proxy(test_sshd *t, const char *via, const char *cmd, char **out,
                   char **err) {
  test_cmd_t c = {0};
  int st = -1;

  char *e = NULL;

  c.argv = proxy_argv(t, via, cmd);
  c.out = out;
  c.err = &e;
  c.timeout_ms = 30000;
  ASSERT_EQ(test_run(&c, &st), 0);
  if (st == -1) {
    fprintf(stderr, "ssh timed out; its stderr: %s\n", e ? e : "");
    ipct_dump();
  }
  if (err != NULL)
    *err = e;
  else
    free(e);
  return st;
}

int ipct_ssh_proxy_spawn(test_sshd *t, const char *via, const char *cmd,
                         const char *log) {
  int pid = test_spawn(proxy_argv(t, via, cmd), log);
  ASSERT_GT(pid, 0);
  return pid;
}

void ipct_wait_agents(int n) {
  char want[32];

  snprintf(want, sizeof(want), "\"agents\":%d,", n);
  ipct_wait_output((const char *[]){"status", "--json", NULL}, want, 10000);
}

void ipct_answer(const char *id, const char *answer) {
  const char *args[] = {"prompt", "--answer", id, NULL};
  char in[600], *out = NULL, *err = NULL;
  int st;

  snprintf(in, sizeof(in), "%s\n", answer);
  st = ipct_run(args, in, &out, &err);
  if (st != 0)
    fprintf(stderr, "answer: %s %s\n", out ? out : "", err ? err : "");
  ASSERT_EQ(st, 0);
  free(out);
  free(err);
}

int ipct_raw_connect(void) {
  struct sockaddr_un sa;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0)
    return -1;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  if (strlen(ipct_control_sock()) >= sizeof(sa.sun_path)) {
    close(fd);
    return -1;
  }
  memcpy(sa.sun_path, ipct_control_sock(), strlen(ipct_control_sock()) + 1);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

char *ipct_request(int fd, const char *line, int timeout_ms) {
  char *buf;
  size_t len = 0, cap = 1 << 20;
  uint64_t end = test_now_ms() + (uint64_t)timeout_ms;

  if (line != NULL) {
    size_t n = strlen(line);
    if (write(fd, line, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
      return NULL;
  }
  buf = malloc(cap);
  ASSERT(buf != NULL);
  while (test_now_ms() < end && len < cap - 1) {
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t r;
    if (poll(&p, 1, 100) <= 0)
      continue;
    /* One byte at a time: leave later lines for later calls. */
    r = read(fd, buf + len, 1);
    if (r <= 0)
      break;
    if (buf[len] == '\n') {
      buf[len] = '\0';
      return buf;
    }
    len++;
  }
  free(buf);
  return NULL;
}

int ipct_python(const char *code, const char *json, char **out) {
  const char *argv[] = {"/usr/bin/python3", "-c", code, NULL};
  test_cmd_t c = {0};
  int st = -1;

  c.argv = argv;
  c.in = json;
  c.in_len = strlen(json);
  c.out = out;
  c.timeout_ms = 20000;
  ASSERT_EQ(test_run(&c, &st), 0);
  return st;
}

void ipct_jump_target(test_sshd *j, test_sshd *t, int known) {
  test_sshd_opts jo = {0}, to = {0};

  jo.name = "jump";
  to.name = "target";
  ASSERT_OK(test_sshd_start(j, &jo));
  ASSERT_OK(test_sshd_start(t, &to));
  ipct_env();
  if (known)
    ipct_known_hosts(j);
  ipct_routes(ipct_routes_for_jump(j, NULL));
}

void ipct_wait_output(const char *const *args, const char *needle, int ms) {
  uint64_t end = test_now_ms() + (uint64_t)ms;
  char *out = NULL;

  for (;;) {
    int found;
    ASSERT_EQ(ipct_run(args, NULL, &out, NULL), 0);
    found = strstr(out, needle) != NULL;
    if (found || test_now_ms() >= end) {
      if (!found)
        test_fail(__FILE__, __LINE__, "no \"%s\" in: %s", needle, out);
      free(out);
      return;
    }
    free(out);
    usleep(50000);
  }
}

void ipct_ssh_echo(test_sshd *t, const char *via, const char *word) {
  char cmd[300], want[300], *out = NULL, *err = NULL;
  int st;

  snprintf(cmd, sizeof(cmd), "echo %s", word);
  snprintf(want, sizeof(want), "%s\n", word);
  st = ipct_ssh_proxy(t, via, cmd, &out, &err);
  if (st != 0)
    fprintf(stderr, "ssh: %s\n", err ? err : "");
  ASSERT_EQ(st, 0);
  ASSERT_STR_EQ(out, want);
  free(out);
  free(err);
}

void ipct_run_expect(const char *const *args, const char *needle) {
  char *out = NULL;

  ASSERT_EQ(ipct_run(args, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, needle);
  free(out);
}

void ipct_otp_jump_target(test_otp_sshd *o, test_sshd *t, const char *extra) {
  test_otp_opts oo = {0};
  test_sshd_opts to = {0};

  oo.with_pubkey = 1;
  ASSERT_EQ(test_otp_sshd_start(o, &oo), 0);
  to.name = "target";
  ASSERT_OK(test_sshd_start(t, &to));
  ipct_env();
  ipct_known_hosts(&o->sshd);
  ipct_routes(ipct_routes_for_jump(&o->sshd, extra));
}

void ipct_bg_ok(int pid, const char *log, const char *needle) {
  int st = ipct_wait_exit(pid, 30000);
  char *text;

  if (st != 0)
    ipct_dump();
  ASSERT_EQ(st, 0);
  text = test_read_file(test_path(log), NULL);
  ASSERT_STR_CONTAINS(text, needle);
  free(text);
}

char *ipct_listed_prompt(test_sshd *t, const char *cmd, int *bg) {
  const char *args[] = {dtest_sshmuxd(), "prompt",    "--list", "--json",
                        "--wait",        "--timeout", "60",     NULL};
  int lister = test_spawn(args, test_path("list.json"));
  char *list;

  ASSERT_GT(lister, 0);
  ipct_wait_agents(1);
  *bg = ipct_ssh_proxy_spawn(t, NULL, cmd, test_path("bg.log"));
  ASSERT_EQ(ipct_wait_exit(lister, 30000), 0);
  list = test_read_file(test_path("list.json"), NULL);
  ASSERT(list != NULL);
  return list;
}
