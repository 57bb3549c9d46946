/* fixture-sshd.c -- start and stop a real OpenSSH sshd for tests; see
 * fixture-sshd.h.  Every stopped-or-not fixture is killed at exit so a
 * failing assert does not leave an sshd behind. */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture-netns.h"
#include "fixture-sshd.h"
#include "test.h"

#define MAX_FIXTURES 16
static int live_pids[MAX_FIXTURES];
static int atexit_done;

static void kill_all(void) {
  for (int i = 0; i < MAX_FIXTURES; i++)
    if (live_pids[i] > 0) {
      kill(live_pids[i], SIGCONT);
      kill(live_pids[i], SIGKILL);
      live_pids[i] = 0;
    }
}

static void track(int pid, int add) {
  if (!atexit_done) {
    atexit(kill_all);
    atexit_done = 1;
  }
  for (int i = 0; i < MAX_FIXTURES; i++) {
    if (add && live_pids[i] == 0) {
      live_pids[i] = pid;
      return;
    }
    if (!add && live_pids[i] == pid) {
      live_pids[i] = 0;
      return;
    }
  }
}

int test_keygen_ex(const char *type, const char *bits, const char *format,
                   const char *passphrase, const char *path) {
  test_argv_t argv = {0};
  char pub[1100];
  char *err = NULL;
  int st;

  unlink(path);
  snprintf(pub, sizeof(pub), "%s.pub", path);
  unlink(pub);
  test_argv_add(&argv, "ssh-keygen", "-q", "-t", type, NULL);
  if (bits != NULL)
    test_argv_add(&argv, "-b", bits, NULL);
  if (format != NULL)
    test_argv_add(&argv, "-m", format, NULL);
  test_argv_add(&argv, "-N", passphrase ? passphrase : "", "-C", "sshmux-test",
                "-f", path, NULL);
  st = test_run_simple(argv.v, NULL, &err);
  if (st != 0) {
    fprintf(stderr, "ssh-keygen -t %s failed (%d): %s\n", type, st,
            err ? err : "");
    free(err);
    return -1;
  }
  free(err);
  return 0;
}

void test_sshd_start_with_key(test_sshd *s, const test_sshd_opts *opts,
                              const char *key) {
  test_sshd_opts o = {0};
  char *pub = test_read_pub(key);

  if (opts != NULL)
    o = *opts;
  o.extra_authorized_keys = pub;
  ASSERT_OK(test_sshd_start(s, &o));
  free(pub);
}

char *test_sshd_expect_run(test_sshd *s, const char *const *argv, int status,
                           const char *want_out) {
  char *out = NULL, *err = NULL;
  int st =
      test_run_status(&(test_cmd_t){.argv = argv, .out = &out, .err = &err});

  if (st != status) {
    fprintf(stderr, "%s: exit %d\n%s\n", argv[0], st, err ? err : "");
    test_sshd_dump_log(s);
  }
  ASSERT_EQ(st, status);
  if (want_out != NULL)
    ASSERT_STR_EQ(out, want_out);
  free(out);
  return err;
}

int test_keygen(const char *type, const char *path, const char *passphrase) {
  return test_keygen_ex(type, NULL, NULL, passphrase, path);
}

static int append_file(const char *dst, const char *src, const char *prefix) {
  char *data = test_read_file(src, NULL);
  FILE *f;

  if (data == NULL)
    return -1;
  f = fopen(dst, "a");
  if (f == NULL) {
    free(data);
    return -1;
  }
  fprintf(f, "%s%s", prefix ? prefix : "", data);
  free(data);
  return fclose(f);
}

int test_sshd_start(test_sshd *s, const test_sshd_opts *opts) {
  static const test_sshd_opts defaults;
  const char *sshd = "/usr/sbin/sshd";
  struct passwd *pw = getpwuid(getuid());
  char hostpat[128];
  FILE *f;
  int attempt;

  if (opts == NULL)
    opts = &defaults;
  memset(s, 0, sizeof(*s));
  if (access(sshd, X_OK) != 0) {
    fprintf(stderr, "fixture: %s not found (install openssh-server)\n", sshd);
    return -1;
  }
  if (pw == NULL) {
    fprintf(stderr, "fixture: no passwd entry for uid %d\n", (int)getuid());
    return -1;
  }
  snprintf(s->user, sizeof(s->user), "%s", pw->pw_name);
  snprintf(s->addr, sizeof(s->addr), "%s",
           opts->listen_addr ? opts->listen_addr : "127.0.0.1");
  snprintf(s->dir, sizeof(s->dir), "%s",
           test_path(opts->name ? opts->name : "sshd"));
  if (mkdir(s->dir, 0700) != 0 && errno != EEXIST) {
    perror("fixture: mkdir");
    return -1;
  }
  if (getuid() == 0)
    mkdir("/run/sshd", 0755); /* sshd's privilege-separation directory */
  snprintf(s->config, sizeof(s->config), "%s/sshd_config", s->dir);
  snprintf(s->log, sizeof(s->log), "%s/sshd.log", s->dir);
  snprintf(s->client_key, sizeof(s->client_key), "%s/id_ed25519", s->dir);
  snprintf(s->client_pub, sizeof(s->client_pub), "%s/id_ed25519.pub", s->dir);
  snprintf(s->authorized_keys, sizeof(s->authorized_keys), "%s/authorized_keys",
           s->dir);
  snprintf(s->known_hosts, sizeof(s->known_hosts), "%s/known_hosts", s->dir);
  snprintf(s->host_key_ed25519, sizeof(s->host_key_ed25519), "%s/host_ed25519",
           s->dir);
  snprintf(s->host_key_ecdsa, sizeof(s->host_key_ecdsa), "%s/host_ecdsa",
           s->dir);

  if (test_keygen("ed25519", s->host_key_ed25519, NULL) != 0 ||
      test_keygen("ecdsa", s->host_key_ecdsa, NULL) != 0 ||
      test_keygen("ed25519", s->client_key, NULL) != 0)
    return -1;
  unlink(s->authorized_keys);
  if (append_file(s->authorized_keys, s->client_pub, NULL) != 0)
    return -1;
  if (opts->extra_authorized_keys != NULL) {
    f = fopen(s->authorized_keys, "a");
    if (f == NULL)
      return -1;
    fputs(opts->extra_authorized_keys, f);
    fclose(f);
  }
  chmod(s->authorized_keys, 0600);

  for (attempt = 0; attempt < 5; attempt++) {
    char hk1[700], hk2[700];
    s->port = opts->port ? opts->port : test_free_port();
    if (s->port <= 0)
      return -1;
    f = fopen(s->config, "w");
    if (f == NULL)
      return -1;
    if (opts->prepend_config != NULL)
      fprintf(f, "%s\n", opts->prepend_config);
    fprintf(f,
            "ListenAddress %s:%d\n"
            "HostKey %s\nHostKey %s\n"
            "AuthorizedKeysFile %s\n"
            "PidFile none\n"
            "StrictModes no\n"
            "UsePAM no\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\n"
            "PermitRootLogin %s\n"
            "AllowTcpForwarding yes\n"
            "AllowStreamLocalForwarding yes\n"
            "Subsystem sftp internal-sftp\n"
            "LogLevel DEBUG1\n"
            "ClientAliveInterval 0\n"
            "MaxStartups 100:30:200\n"
            "LoginGraceTime 60\n"
            /* Sessions get the fixture dir as HOME: the account's own
             * dotfiles (a login user's .bashrc may print or take seconds)
             * must not leak into what tests compare or time. */
            "SetEnv HOME=%s\n",
            s->addr, s->port, s->host_key_ed25519, s->host_key_ecdsa,
            s->authorized_keys, getuid() == 0 ? "prohibit-password" : "no",
            s->dir);
    if (opts->max_sessions > 0)
      fprintf(f, "MaxSessions %d\n", opts->max_sessions);
    if (opts->extra_config != NULL)
      fprintf(f, "%s\n", opts->extra_config);
    fclose(f);

    {
      test_argv_t argv = {0};
      test_argv_addv(&argv, opts->wrap);
      if (opts->netns != NULL)
        test_argv_add(&argv, "ip", "netns", "exec", opts->netns, NULL);
      test_argv_add(&argv, sshd, "-D", "-f", s->config, "-E", s->log, NULL);
      s->pid = test_spawn(argv.v, s->log);
    }
    if (s->pid <= 0)
      return -1;
    track(s->pid, 1);
    if (opts->no_wait)
      break;
    if (opts->netns != NULL
            ? test_netns_wait_addr(opts->netns, s->addr, s->port, 1, 10000) == 0
            : test_wait_addr(s->addr, s->port, 1, 10000) == 0)
      break;
    /* sshd may have lost the port race or rejected an option: retry. */
    test_sshd_dump_log(s);
    test_sshd_stop(s);
    if (opts->port)
      return -1;
    unlink(s->log);
    (void)hk1;
    (void)hk2;
  }
  if (attempt == 5)
    return -1;

  /* known_hosts for "[addr]:port" with both host keys. */
  snprintf(hostpat, sizeof(hostpat), "[%s]:%d ", s->addr, s->port);
  {
    char p1[700], p2[700];
    unlink(s->known_hosts);
    snprintf(p1, sizeof(p1), "%s.pub", s->host_key_ed25519);
    snprintf(p2, sizeof(p2), "%s.pub", s->host_key_ecdsa);
    if (append_file(s->known_hosts, p1, hostpat) != 0 ||
        append_file(s->known_hosts, p2, hostpat) != 0)
      return -1;
  }
  return 0;
}

int test_sshd_restart(test_sshd *s) {
  const char *argv[] = {"/usr/sbin/sshd", "-D", "-f", s->config, "-E",
                        s->log,           NULL};

  s->pid = test_spawn(argv, s->log);
  if (s->pid <= 0)
    return -1;
  track(s->pid, 1);
  if (test_wait_addr(s->addr, s->port, 1, 10000) != 0) {
    test_sshd_dump_log(s);
    return -1;
  }
  return 0;
}

void test_sshd_stop(test_sshd *s) {
  if (s->pid > 0) {
    track(s->pid, 0);
    test_kill(s->pid);
    s->pid = 0;
  }
}

void test_sshd_signal(test_sshd *s, int sig) {
  if (s->pid > 0)
    kill(s->pid, sig);
}

void test_sshd_dump_log(const test_sshd *s) {
  char *log = test_read_file(s->log, NULL);

  fprintf(stderr, "---- sshd log %s ----\n%s\n---- end ----\n", s->log,
          log ? log : "(none)");
  free(log);
}

test_sshd_opts test_sshd_opts_in(const char *name, const char *netns,
                                 const char *listen_addr) {
  test_sshd_opts o;

  memset(&o, 0, sizeof(o));
  o.name = name;
  o.netns = netns;
  o.listen_addr = listen_addr;
  return o;
}

int test_sshd_log_count(const test_sshd *s, const char *needle) {
  return test_count_in_file(s->log, needle);
}

const char *const *test_sshd_client_opts(test_sshd *s) {
  static char id[700];
  static test_argv_t a;

  snprintf(id, sizeof(id), "%s", s->client_key);
  memset(&a, 0, sizeof(a));
  test_argv_ssh_opts(&a, "-p", s->port, id, s->known_hosts);
  test_argv_add(&a, "-o", "GlobalKnownHostsFile=/dev/null", NULL);
  return a.v;
}

const char *const *test_sshd_ssh_argv(test_argv_t *a, test_sshd *s,
                                      const char *const *first,
                                      const char *cmd) {
  memset(a, 0, sizeof(*a));
  test_argv_add(a, "ssh", NULL);
  test_argv_addv(a, first);
  test_argv_addv(a, test_sshd_client_opts(s));
  test_argv_add(a, "-l", s->user, s->addr, cmd, NULL);
  return a->v;
}
