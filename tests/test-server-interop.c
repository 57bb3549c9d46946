/* test-server-interop.c -- the server against REAL clients: OpenSSH ssh
 * (defaults, every cipher/MAC/kex/host key of ours forced, re-keys both
 * ways with 32 MiB checked byte for byte), plink, dbclient, paramiko and
 * libssh2 (tests/tools/ssh2-client.c), all talking to examples/echo-server.
 * Each checks exec output, exit codes 0/1/255, stderr kept apart from
 * stdout and stdin echoed.  Then the refusals (wrong key, unknown user,
 * password, garbage) with the server still serving others, and a client
 * cut off at every point of the protocol (a proxy that closes after N
 * bytes). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <sodium.h>

#include "core/core.h"
#include "fixture-sshd.h"
#include "crypto/crypto.h"
#include "server-harness.h"
#include "test.h"

#define USER "tester"
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
  int pid;
  int port;
  char port_s[16]; /* port as text, for the clients' command lines */
  char log[600];
} es_t;

/* Keys for the user (authorized) and a stranger (not). */
static void make_keys(void) {
  ASSERT_OK(test_keygen("ed25519", test_path("id"), NULL));
  ASSERT_OK(test_keygen("ed25519", test_path("other"), NULL));
  test_authorize_key(test_path("ak"), test_path("id"));
}

static void es_start(es_t *e, const char *extra1, const char *extra2) {
  static char path[600];
  const char *argv[16];
  uint64_t deadline;
  int n = 0;

  snprintf(path, sizeof(path), "%s/examples/echo-server", test_build_dir());
  static int starts;
  char name[64];

  snprintf(name, sizeof(name), "echo-server-%d.log", starts++);
  snprintf(e->log, sizeof(e->log), "%s", test_path(name));
  argv[n++] = path;
  argv[n++] = "--port";
  argv[n++] = "0";
  argv[n++] = "--host-key";
  argv[n++] = test_path("hostkey");
  argv[n++] = "--authorized-keys";
  argv[n++] = test_path("ak");
  argv[n++] = "--user";
  argv[n++] = USER;
  argv[n++] = "--log";
  argv[n++] = "debug";
  if (extra1)
    argv[n++] = extra1;
  if (extra2)
    argv[n++] = extra2;
  argv[n] = NULL;
  e->pid = test_spawn(argv, e->log);
  ASSERT_GT(e->pid, 0);
  e->port = 0;
  for (deadline = test_now_ms() + 10000; test_now_ms() < deadline;) {
    char *log = test_read_file(e->log, NULL);
    const char *p = log ? strstr(log, "listening on 127.0.0.1:") : NULL;
    if (p != NULL)
      e->port = atoi(p + 23);
    free(log);
    if (e->port > 0)
      break;
    usleep(10000);
  }
  ASSERT_GT(e->port, 0);
  snprintf(e->port_s, sizeof(e->port_s), "%d", e->port);
  /* known_hosts for OpenSSH: both host keys under [127.0.0.1]:PORT. */
  {
    char kh[4096], *ed = test_read_file(test_path("hostkey.pub"), NULL),
                   *ec = test_read_file(test_path("hostkey-ecdsa.pub"), NULL);
    ASSERT(ed != NULL && ec != NULL);
    snprintf(kh, sizeof(kh), "[127.0.0.1]:%d %s[127.0.0.1]:%d %s", e->port, ed,
             e->port, ec);
    ASSERT_OK(test_write_file(test_path("known_hosts"), kh, 0600));
    free(ed);
    free(ec);
  }
}

/* Stop with SIGTERM: echo-server closes the server (every connection and
 * channel through its close path) and must exit 0 with nothing from the
 * sanitizers in its log (under make asan: no leak, no bad access). */
static void es_stop(es_t *e) {
  uint64_t deadline = test_now_ms() + 10000;
  int st = 0;
  pid_t r = 0;
  char *log;

  ASSERT_EQ(waitpid(e->pid, &st, WNOHANG), 0); /* alive after everything */
  ASSERT_EQ(kill(e->pid, SIGTERM), 0);
  while (test_now_ms() < deadline && (r = waitpid(e->pid, &st, WNOHANG)) == 0)
    usleep(10000);
  if (r != e->pid) {
    test_kill(e->pid);
    test_fail(__FILE__, __LINE__, "echo-server did not exit on SIGTERM");
  }
  log = test_read_file(e->log, NULL);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
      (log && strstr(log, "Sanitizer") != NULL))
    test_fail(__FILE__, __LINE__, "echo-server ended badly (%d): %s", st,
              log ? log : "");
  free(log);
}

/* Into a: ssh, extra args (NULL-terminated), our options, dest and cmd
 * (may be NULL).  Returns a->v. */
static const char *const *ssh_argv(test_argv_t *a, const es_t *e,
                                   const char *const *extra, const char *dest,
                                   const char *cmd) {
  memset(a, 0, sizeof(*a));
  test_argv_add(a, "ssh", NULL);
  /* The caller's options first: for ssh the first value given wins. */
  test_argv_addv(a, extra);
  test_argv_ssh_opts(a, "-p", e->port, NULL, test_path("known_hosts"));
  test_argv_add(a, "-o", "LogLevel=ERROR", dest, cmd, NULL);
  return a->v;
}

/* ssh_argv to USER@127.0.0.1, run with stdin in[0..in_len).  Returns the
 * exit status. */
static int run_ssh(const es_t *e, const char *const *extra, const char *cmd,
                   const char *in, size_t in_len, char **out, size_t *out_len,
                   char **err) {
  test_argv_t a;

  ssh_argv(&a, e, extra, USER "@127.0.0.1", cmd);
  return test_run_status(&(test_cmd_t){.argv = a.v,
                                       .in = in,
                                       .in_len = in_len,
                                       .out = out,
                                       .out_len = out_len,
                                       .err = err,
                                       .timeout_ms = 60000});
}

/* Run a client's argv with stdin `in` (NULL: none) and the extra
 * environment env (may be NULL); its exit status. */
static int run_client(const char *const *argv, const char *in, char **out,
                      char **err, const char *const *env) {
  return test_run_status(&(test_cmd_t){.argv = argv,
                                       .in = in ? in : "",
                                       .in_len = in ? strlen(in) : 0,
                                       .out = out,
                                       .err = err,
                                       .env = env});
}

#define ID "-i", test_path("id")

/* exec output, exit codes 0/1/255, stderr apart, stdin echoed: the same
 * checks for every client, through a runner of the form below. */
typedef int (*runner_fn)(const es_t *e, const char *cmd, const char *in,
                         char **out, char **err);

static void check_client(const es_t *e, runner_fn run) {
  char *out = NULL, *err = NULL;

  ASSERT_EQ(run(e, "hello world", NULL, &out, &err), 0);
  ASSERT_STR_EQ(out, "hello world\n");
  free(out), free(err);
  ASSERT_EQ(run(e, "exit 0", NULL, &out, &err), 0);
  free(out), free(err);
  ASSERT_EQ(run(e, "exit 1", NULL, &out, &err), 1);
  free(out), free(err);
  ASSERT_EQ(run(e, "exit 255", NULL, &out, &err), 255);
  free(out), free(err);
  ASSERT_EQ(run(e, "stderr to-stderr", NULL, &out, &err), 0);
  ASSERT_STR_EQ(out, "");
  ASSERT_STR_CONTAINS(err, "to-stderr\n");
  free(out), free(err);
  ASSERT_EQ(run(e, "cat", "line one\nline two\n", &out, &err), 0);
  ASSERT_STR_EQ(out, "line one\nline two\n");
  free(out), free(err);
}

static int run_openssh(const es_t *e, const char *cmd, const char *in,
                       char **out, char **err) {
  const char *extra[] = {ID, NULL};
  return run_ssh(e, extra, cmd, in, in ? strlen(in) : 0, out, NULL, err);
}

/* A real `ssh` logs in and runs word (the server echoes it back). */
static void expect_echo(const es_t *e, const char *word) {
  char *out = NULL, *err = NULL, want[200];

  snprintf(want, sizeof(want), "%s\n", word);
  ASSERT_EQ(run_openssh(e, word, NULL, &out, &err), 0);
  ASSERT_STR_EQ(out, want);
  free(out), free(err);
}

TEST_IMPL_T(server_interop_openssh, 120) {
  int live_pid;
  es_t e;
  char *out = NULL, *err = NULL;

  TEST_REQUIRE_PROGRAM("ssh");
  make_keys();
  es_start(&e, NULL, NULL);
  check_client(&e, run_openssh);
  /* direct-tcpip (ssh -W): the echo service on port 7; others refused
   * with the embedder's message. */
  {
    const char *w7[] = {ID, "-W", "127.0.0.1:7", NULL};
    const char *w8[] = {ID, "-W", "127.0.0.1:8", "-o", "LogLevel=INFO", NULL};
    ASSERT_EQ(run_ssh(&e, w7, NULL, "ping\n", 5, &out, NULL, &err), 0);
    ASSERT_STR_EQ(out, "ping\n");
    free(out), free(err);
    ASSERT_EQ(run_ssh(&e, w8, NULL, "", 0, &out, NULL, &err), 255);
    ASSERT_STR_CONTAINS(err, "echo-server only forwards to port 7");
    free(out), free(err);
  }
  /* A pty shell: prompt, echo, "exit". */
  {
    const char *tt[] = {ID, "-tt", NULL};
    ASSERT_EQ(run_ssh(&e, tt, NULL, "hello\nexit\n", 11, &out, NULL, &err), 0);
    ASSERT_STR_CONTAINS(out, "echo$ ");
    ASSERT_STR_CONTAINS(out, "hello\r\n");
    free(out), free(err);
  }
  /* Stopping the server with a session still open is clean too: the
   * session stays idle in `cat` while echo-server gets SIGTERM. */
  {
    test_argv_t a;
    const char *extra[] = {ID, "-N", NULL};
    live_pid = test_spawn(ssh_argv(&a, &e, extra, USER "@127.0.0.1", NULL),
                          test_path("live.log"));
    ASSERT_GT(live_pid, 0);
  }
  /* Keepalives are answered (the client would drop us otherwise). */
  {
    const char *ka[] = {
        ID, "-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=1", NULL};
    ASSERT_EQ(run_ssh(&e, ka, "sleep 2500", NULL, 0, &out, NULL, &err), 0);
    free(out), free(err);
  }
  es_stop(&e);
  test_kill(live_pid);
  return 0;
}

TEST_IMPL_T(server_interop_openssh_algorithms, 120) {
  static const char *const forced[][4] = {
      {"-c", "chacha20-poly1305@openssh.com", NULL, NULL},
      {"-c", "aes128-gcm@openssh.com", NULL, NULL},
      {"-c", "aes256-gcm@openssh.com", NULL, NULL},
      {"-c", "aes128-ctr", NULL, NULL},
      {"-c", "aes256-ctr", NULL, NULL},
      {"-c", "aes128-ctr", "-m", "hmac-sha2-256"},
      {"-c", "aes256-ctr", "-m", "hmac-sha2-512"},
      {"-c", "aes128-ctr", "-m", "hmac-sha2-256-etm@openssh.com"},
      {"-c", "aes256-ctr", "-m", "hmac-sha2-512-etm@openssh.com"},
      {"-o", "KexAlgorithms=curve25519-sha256", NULL, NULL},
      {"-o", "KexAlgorithms=curve25519-sha256@libssh.org", NULL, NULL},
      {"-o", "KexAlgorithms=ecdh-sha2-nistp256", NULL, NULL},
      {"-o", "HostKeyAlgorithms=ssh-ed25519", NULL, NULL},
      {"-o", "HostKeyAlgorithms=ecdsa-sha2-nistp256", NULL, NULL},
  };
  es_t e;
  size_t i;

  TEST_REQUIRE_PROGRAM("ssh");
  make_keys();
  es_start(&e, NULL, NULL);
  for (i = 0; i < COUNT(forced); i++) {
    const char *extra[8] = {ID};
    char *out = NULL, *err = NULL;
    int n = 2, j;
    for (j = 0; j < 4 && forced[i][j]; j++)
      extra[n++] = forced[i][j];
    extra[n] = NULL;
    if (run_ssh(&e, extra, "alg-ok", NULL, 0, &out, NULL, &err) != 0 ||
        strcmp(out, "alg-ok\n") != 0)
      test_fail(__FILE__, __LINE__, "%s %s %s: \"%s\" / \"%s\"", forced[i][0],
                forced[i][1], forced[i][3] ? forced[i][3] : "", out, err);
    free(out), free(err);
  }
  es_stop(&e);
  return 0;
}

/* 32 MiB through `exec cat` with the client re-keying every MiB, then
 * 8 MiB with the server re-keying every MiB; both byte-exact. */
TEST_IMPL_T(server_interop_openssh_rekey, 180) {
  const size_t big = 32u << 20, small = 8u << 20;
  char *data = malloc(big), *out = NULL, *err = NULL;
  size_t out_len = 0, i;
  es_t e;
  uint32_t x = 12345;

  TEST_REQUIRE_PROGRAM("ssh");
  ASSERT(data != NULL);
  for (i = 0; i < big; i++) {
    x = x * 1103515245u + 12345u;
    data[i] = (char)(x >> 16);
  }
  make_keys();
  es_start(&e, NULL, NULL);
  {
    const char *extra[] = {ID, "-o", "RekeyLimit=1M", "-v", NULL};
    ASSERT_EQ(run_ssh(&e, extra, "cat", data, big, &out, &out_len, &err), 0);
    ASSERT_EQ(out_len, big);
    ASSERT_MEM_EQ(out, data, big);
    ASSERT_STR_CONTAINS(err, "SSH2_MSG_KEXINIT sent");
    free(out), free(err);
  }
  /* Re-keys under the other codecs (GCM counter, CTR + ETM/classic MAC,
   * sequence numbers across NEWKEYS): 3 MiB each, exact. */
  {
    static const char *const modes[][4] = {
        {"-c", "aes128-gcm@openssh.com", NULL, NULL},
        {"-c", "aes256-ctr", "-m", "hmac-sha2-256-etm@openssh.com"},
        {"-c", "aes128-ctr", "-m", "hmac-sha2-512"}};
    const size_t part = 3u << 20;
    for (i = 0; i < COUNT(modes); i++) {
      const char *extra[10] = {ID, "-o", "RekeyLimit=512K"};
      int n = 4, j;
      for (j = 0; j < 4 && modes[i][j]; j++)
        extra[n++] = modes[i][j];
      extra[n] = NULL;
      ASSERT_EQ(run_ssh(&e, extra, "cat", data, part, &out, &out_len, &err), 0);
      ASSERT_EQ(out_len, part);
      ASSERT_MEM_EQ(out, data, part);
      free(out), free(err);
    }
  }
  es_stop(&e);
  es_start(&e, "--rekey-bytes", "1000000");
  {
    const char *extra[] = {ID, "-v", NULL};
    const char *p;
    char *slog;
    int kexinits = 0, rekeys = 0;
    int st = run_ssh(&e, extra, "cat", data, small, &out, &out_len, &err);
    if (st != 0) {
      char *log = test_read_file(e.log, NULL);
      fprintf(stderr, "ssh: %s\nserver: %s\n",
              err ? err + (strlen(err) > 3000 ? strlen(err) - 3000 : 0) : "",
              log ? log : "");
      free(log);
    }
    ASSERT_EQ(st, 0);
    ASSERT_EQ(out_len, small);
    ASSERT_MEM_EQ(out, data, small);
    /* Server-initiated re-keys: every one the server started (its debug
     * log) reached the client, which saw our KEXINIT once more each time
     * (but perhaps the last, below).
     * How many there are depends on how much was in flight when each began
     * (a loaded machine has more), but 16 MiB of traffic at a 1 MB limit
     * with 2 MiB windows starts at least three whatever the timing. */
    for (p = err; (p = strstr(p, "SSH2_MSG_KEXINIT received")) != NULL; p++)
      kexinits++;
    slog = test_read_file(e.log, NULL);
    ASSERT(slog != NULL);
    for (p = slog; (p = strstr(p, " re-key (")) != NULL; p++)
      rekeys++;
    free(slog);
    ASSERT_GE(rekeys, 3);
    /* The last one may start as the client closes (the final bytes cross
     * the limit): the client then exits without reading that KEXINIT
     * (seen once in a make asan run: 9 re-keys, 9 KEXINITs). */
    ASSERT(kexinits == rekeys + 1 || kexinits == rekeys);
    free(out), free(err);
  }
  es_stop(&e);
  free(data);
  return 0;
}

/* ---- the other clients ---- */

static int run_plink(const es_t *e, const char *cmd, const char *in, char **out,
                     char **err) {
  static char fp[128];

  if (fp[0] == '\0') {
    /* The host key's SHA256 fingerprint, as ssh-keygen -l prints it. */
    const char *kg[] = {"ssh-keygen", "-lf", test_path("hostkey.pub"), NULL};
    char *o = NULL;
    ASSERT_EQ(test_run_simple(kg, &o, NULL), 0);
    ASSERT(sscanf(o, "%*d %127s", fp) == 1);
    free(o);
  }
  return run_client((const char *[]){"plink", "-batch", "-P", e->port_s,
                                     "-hostkey", fp, "-i", test_path("id.ppk"),
                                     "-l", USER, "127.0.0.1", cmd, NULL},
                    in, out, err, NULL);
}

/* check_client against a fresh echo-server (the keys already made). */
static void serve_and_check(runner_fn run) {
  es_t e;

  es_start(&e, NULL, NULL);
  check_client(&e, run);
  es_stop(&e);
}

TEST_IMPL_T(server_interop_plink, 120) {
  TEST_REQUIRE_PROGRAMS("plink", "puttygen");
  make_keys();
  {
    const char *pg[] = {"puttygen", test_path("id"),     "-O", "private",
                        "-o",       test_path("id.ppk"), NULL};
    ASSERT_EQ(test_run_simple(pg, NULL, NULL), 0);
  }
  serve_and_check(run_plink);
  return 0;
}

static int run_dbclient(const es_t *e, const char *cmd, const char *in,
                        char **out, char **err) {
  static char home[700];

  snprintf(home, sizeof(home), "HOME=%s", test_path("dbhome"));
  /* -y: accept and remember the host key (in our HOME). */
  return run_client((const char *[]){"dbclient", "-y", "-p", e->port_s, "-i",
                                     test_path("id.db"), USER "@127.0.0.1", cmd,
                                     NULL},
                    in, out, err, (const char *[]){home, NULL});
}

TEST_IMPL_T(server_interop_dbclient, 120) {
  es_t e;
  char *out = NULL, *err = NULL;

  TEST_REQUIRE_PROGRAMS("dbclient", "dropbearconvert");
  make_keys();
  {
    const char *dc[] = {"dropbearconvert", "openssh",          "dropbear",
                        test_path("id"),   test_path("id.db"), NULL};
    ASSERT_EQ(test_run_simple(dc, NULL, NULL), 0);
    ASSERT_OK(mkdir(test_path("dbhome"), 0700) == 0 ? 0 : -1);
  }
  es_start(&e, NULL, NULL);
  /* dbclient sends a guessed KEX_ECDH_INIT (first_kex_packet_follows). */
  check_client(&e, run_dbclient);
  ASSERT_EQ(run_dbclient(&e, "cat", "dropbear\n", &out, &err), 0);
  ASSERT_STR_EQ(out, "dropbear\n");
  free(out), free(err);
  es_stop(&e);
  return 0;
}

static int run_paramiko(const es_t *e, const char *cmd, const char *in,
                        char **out, char **err) {
  static const char script[] =
      "import sys, paramiko\n"
      "port, key, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3]\n"
      "c = paramiko.SSHClient()\n"
      "c.set_missing_host_key_policy(paramiko.AutoAddPolicy())\n"
      "c.connect('127.0.0.1', port, username='" USER "',\n"
      "  pkey=paramiko.Ed25519Key.from_private_key_file(key),\n"
      "  allow_agent=False, look_for_keys=False)\n"
      "i, o, e = c.exec_command(cmd)\n"
      "data = sys.stdin.buffer.read()\n"
      "if data: i.write(data)\n"
      "i.channel.shutdown_write()\n"
      "sys.stdout.buffer.write(o.read()); sys.stdout.flush()\n"
      "sys.stderr.buffer.write(e.read()); sys.stderr.flush()\n"
      "st = o.channel.recv_exit_status()\n"
      "c.close()\n"
      "sys.exit(st)\n";
  return run_client((const char *[]){"/usr/bin/python3", "-c", script,
                                     e->port_s, test_path("id"), cmd, NULL},
                    in, out, err, NULL);
}

TEST_IMPL_T(server_interop_paramiko, 120) {
  TEST_REQUIRE_PYTHON_MODULE("paramiko");
  make_keys();
  serve_and_check(run_paramiko);
  return 0;
}

static int run_libssh2(const es_t *e, const char *cmd, const char *in,
                       char **out, char **err) {
  static char tool[600];

  snprintf(tool, sizeof(tool), "%s/tests/tools/ssh2-client", test_build_dir());
  return run_client((const char *[]){tool, "127.0.0.1", e->port_s, USER,
                                     test_path("id"), cmd,
                                     in ? "--stdin" : NULL, NULL},
                    in, out, err, NULL);
}

TEST_IMPL_T(server_interop_libssh2, 120) {
  make_keys();
  /* libssh2 1.10 takes the ECDSA host key and AES-CTR + HMAC. */
  serve_and_check(run_libssh2);
  return 0;
}

/* ---- refusals ---- */

/* Connect raw, send bytes, and collect what comes back until the server
 * closes (or 5 s pass).  Returns the bytes (NUL-terminated, caller frees)
 * and sets *closed. */
static char *raw_exchange(int port, const void *send_buf, size_t n, int *closed,
                          size_t *got_len) {
  /* n == 0: connect and hang up at once. */
  char *got = calloc(1, 65536);
  size_t got_n = 0;
  uint64_t deadline = test_now_ms() + 5000;
  int fd = test_connect_local(port);

  ASSERT(fd >= 0 && got != NULL);
  if (n > 0)
    ASSERT_EQ(write(fd, send_buf, n), (ssize_t)n);
  *closed = 0;
  while (n > 0 && test_now_ms() < deadline && got_n < 65535) {
    struct pollfd pfd = {fd, POLLIN, 0};
    ssize_t r;
    if (poll(&pfd, 1, 100) <= 0)
      continue;
    r = read(fd, got + got_n, 65535 - got_n);
    if (r <= 0) {
      *closed = 1;
      break;
    }
    got_n += (size_t)r;
  }
  close(fd);
  if (got_len)
    *got_len = got_n;
  return got;
}

static int memfind(const char *hay, size_t n, const char *needle) {
  size_t l = strlen(needle), i;
  for (i = 0; i + l <= n; i++)
    if (memcmp(hay + i, needle, l) == 0)
      return 1;
  return 0;
}

TEST_IMPL_T(server_interop_refusals, 120) {
  es_t e;
  char *out = NULL, *err = NULL, *got;
  size_t got_n;
  int closed;

  TEST_REQUIRE_PROGRAM("ssh");
  make_keys();
  es_start(&e, NULL, NULL);
  /* A key that is not authorized. */
  {
    const char *extra[] = {"-i", test_path("other"), NULL};
    ASSERT_EQ(run_ssh(&e, extra, "true", NULL, 0, &out, NULL, &err), 255);
    ASSERT_STR_CONTAINS(err, "Permission denied (publickey)");
    free(out), free(err);
  }
  /* The right key for a user the embedder does not know. */
  {
    const char *extra[] = {ID, NULL};
    test_argv_t a;
    test_cmd_t c = {.argv =
                        ssh_argv(&a, &e, extra, "mallory@127.0.0.1", "true"),
                    .err = &err};
    ASSERT_EQ(test_run_status(&c), 255);
    ASSERT_STR_CONTAINS(err, "Permission denied (publickey)");
    free(err);
  }
  /* Password and keyboard-interactive are never offered. */
  {
    const char *extra[] = {"-o", "PubkeyAuthentication=no", "-o",
                           "PreferredAuthentications=password,keyboard-"
                           "interactive",
                           NULL};
    ASSERT_EQ(run_ssh(&e, extra, "true", NULL, 0, &out, NULL, &err), 255);
    ASSERT_STR_CONTAINS(err, "Permission denied (publickey)");
    free(out), free(err);
  }
  /* Not SSH at all: sshd's answer, then the door closes. */
  got = raw_exchange(e.port, "GET / HTTP/1.0\r\n\r\n", 18, &closed, &got_n);
  ASSERT(closed);
  ASSERT(memfind(got, got_n, "Protocol mismatch."));
  free(got);
  /* SSH then garbage: a DISCONNECT naming the problem (in the clear before
   * keys), then close. */
  {
    char buf[600];
    memcpy(buf, "SSH-2.0-garbage\r\n", 17);
    memset(buf + 17, 0xee, sizeof(buf) - 17);
    got = raw_exchange(e.port, buf, sizeof(buf), &closed, &got_n);
    ASSERT(closed);
    ASSERT(memfind(got, got_n, "bad packet length"));
    free(got);
  }
  /* Nothing sent at all, just a close: fine. */
  got = raw_exchange(e.port, NULL, 0, &closed, &got_n);
  free(got);
  /* And the server still serves. */
  expect_echo(&e, "still here");
  es_stop(&e);
  /* A client that never authenticates is shown the door after the login
   * grace time. */
  es_start(&e, "--login-grace", "300");
  {
    uint64_t t0 = test_now_ms();
    got = raw_exchange(e.port, "SSH-2.0-slow\r\n", 14, &closed, &got_n);
    ASSERT(closed);
    ASSERT_LT(test_now_ms() - t0, 3000);
    ASSERT(memfind(got, got_n, "login grace time exceeded"));
    free(got);
  }
  es_stop(&e);
  return 0;
}

/* A proxy that forwards one connection both ways but closes both sides
 * once `cut` bytes went from the client to the server: the server sees a
 * client vanish at that point of the protocol. */
static void proxy_once(int lfd, int port, size_t cut) {
  int c = accept(lfd, NULL, NULL), s = c < 0 ? -1 : test_connect_local(port);
  size_t sent = 0;
  char buf[65536];

  if (c < 0 || s < 0)
    _exit(1);
  for (;;) {
    struct pollfd p[2] = {{c, POLLIN, 0}, {s, POLLIN, 0}};
    ssize_t r;
    if (sent >= cut)
      break;
    if (poll(p, 2, 10000) <= 0)
      break;
    if (p[0].revents) {
      r = read(c, buf, sizeof(buf) < cut - sent ? sizeof(buf) : cut - sent);
      if (r <= 0 || write(s, buf, (size_t)r) != r)
        break;
      sent += (size_t)r;
    }
    if (p[1].revents) {
      r = read(s, buf, sizeof(buf));
      if (r <= 0 || write(c, buf, (size_t)r) != r)
        break;
    }
  }
  close(s);
  close(c);
  _exit(0);
}

TEST_IMPL_T(server_interop_disconnect_every_step, 120) {
  es_t e;
  char *out = NULL, *err = NULL;
  size_t cut;
  int lfd, pport;

  TEST_REQUIRE_PROGRAM("ssh");
  make_keys();
  es_start(&e, NULL, NULL);
  lfd = test_listen_local(4, &pport);
  {
    /* The proxy's port names the same host keys. */
    char kh[8192], *ed = test_read_file(test_path("hostkey.pub"), NULL);
    ASSERT(ed != NULL);
    snprintf(kh, sizeof(kh), "[127.0.0.1]:%d %s[127.0.0.1]:%d %s", pport, ed,
             e.port, ed);
    ASSERT_OK(test_write_file(test_path("known_hosts"), kh, 0600));
    free(ed);
  }
  /* The client sends ~4 KiB for a whole `cat` session: cut everywhere in
   * it (identification, KEXINIT, ECDH, NEWKEYS, service, userauth, channel
   * open, request, data, EOF, close), with finer steps early on. */
  for (cut = 0; cut < 6000; cut += cut < 64 ? 7 : cut < 2048 ? 97 : 331) {
    es_t via = e;
    pid_t pid = fork();
    const char *extra[] = {ID, "-o", "HostKeyAlgorithms=ssh-ed25519", NULL};
    ASSERT(pid >= 0);
    if (pid == 0)
      proxy_once(lfd, e.port, cut);
    via.port = pport;
    (void)run_ssh(&via, extra, "cat", "some input\n", 11, &out, NULL, &err);
    free(out), free(err);
    out = err = NULL;
    ASSERT_EQ(waitpid(pid, NULL, 0), pid);
  }
  close(lfd);
  /* Every cut client is gone and the server is unharmed. */
  expect_echo(&e, "unharmed");
  es_stop(&e);
  return 0;
}

/* ---- a raw client that stops after each stage ---- */

/* Just enough of an SSH client, on a blocking socket, to walk the server
 * through every stage of a session (curve25519 + ssh-ed25519 +
 * aes128-ctr/hmac-sha2-256, with our own crypto primitives in the client
 * role) and hang up after any of them. */
typedef struct {
  int fd;
  sshmux__codec_t *in, *out;
  uint32_t seq_in, seq_out;
  sshmux__buf_t rb, msg;
  char v_s[256];
  sshmux__buf_t i_c, i_s;
  uint8_t h[32];
} mc_t;

/* Hold mode: exec this command with a huge window, then stop reading and
 * leave the socket open in mc_held_fd. */
static const char *mc_hold_cmd;
static int mc_held_fd = -1;

/* Set: called with the authenticated session instead of the stages after
 * userauth (mc_session then returns `stages`). */
static void (*mc_after_auth)(mc_t *m);

static void mc_connect(mc_t *m, int port) {
  memset(m, 0, sizeof(*m));
  m->fd = test_connect_local(port);
  ASSERT_GE(m->fd, 0);
  sshmux__buf_init(&m->rb, 1u << 20);
  sshmux__buf_init(&m->msg, 1u << 20);
  sshmux__buf_init(&m->i_c, 65536);
  sshmux__buf_init(&m->i_s, 65536);
  ASSERT_OK(sshmux__codec_new(&m->in, "none", NULL, NULL, NULL, NULL));
  ASSERT_OK(sshmux__codec_new(&m->out, "none", NULL, NULL, NULL, NULL));
}

static void mc_close(mc_t *m) {
  if (mc_hold_cmd != NULL)
    mc_held_fd = m->fd;
  else
    close(m->fd);
  sshmux__codec_free(m->in);
  sshmux__codec_free(m->out);
  sshmux__buf_free(&m->rb);
  sshmux__buf_free(&m->msg);
  sshmux__buf_free(&m->i_c);
  sshmux__buf_free(&m->i_s);
}

static void mc_fill(mc_t *m, size_t need) {
  while (sshmux__buf_remaining(&m->rb) < need) {
    uint8_t *p;
    ssize_t r;
    sshmux__buf_compact(&m->rb);
    ASSERT_OK(sshmux__buf_reserve(&m->rb, 65536));
    p = m->rb.data + m->rb.len;
    r = read(m->fd, p, 65536);
    if (r <= 0)
      test_fail(__FILE__, __LINE__, "server closed (%zd)", r);
    m->rb.len += (size_t)r;
  }
}

static int mc_corrupt; /* flip a bit of the next packet's MAC */

static void mc_send(mc_t *m, const sshmux__buf_t *pl) {
  sshmux__buf_t b;
  size_t block = sshmux__codec_block(m->out),
         tag = sshmux__codec_tag_len(m->out);
  size_t l = sshmux__codec_len_excluded(m->out) ? 1 + pl->len : 5 + pl->len;
  size_t pad = block - l % block;
  uint8_t *sp;
  if (pad < 4)
    pad += block;
  sshmux__buf_init(&b, pl->len + 512);
  ASSERT_OK(sshmux__buf_put_u32(&b, (uint32_t)(1 + pl->len + pad)));
  ASSERT_OK(sshmux__buf_put_u8(&b, (uint8_t)pad));
  ASSERT_OK(sshmux__buf_put_bytes(&b, pl->data, pl->len));
  ASSERT_OK(sshmux__buf_put_space(&b, pad + tag, &sp));
  randombytes_buf(sp, pad);
  ASSERT_OK(sshmux__codec_seal(m->out, m->seq_out++, b.data, 5 + pl->len + pad,
                               b.data + 5 + pl->len + pad));
  if (mc_corrupt)
    b.data[b.len - 1] ^= 1;
  ASSERT_EQ(write(m->fd, b.data, b.len), (ssize_t)b.len);
  sshmux__buf_free(&b);
}

/* The next message's type; m->msg positioned after it. */
static int mc_recv(mc_t *m) {
  size_t first = sshmux__codec_first_len(m->in),
         tag = sshmux__codec_tag_len(m->in);
  uint32_t len;
  uint8_t *p, type;
  mc_fill(m, first);
  p = m->rb.data + m->rb.pos;
  ASSERT_OK(sshmux__codec_open_length(m->in, m->seq_in, p, &len));
  mc_fill(m, 4 + len + tag);
  p = m->rb.data + m->rb.pos;
  ASSERT_OK(sshmux__codec_open(m->in, m->seq_in, p, 4 + len, p + 4 + len));
  m->seq_in++;
  sshmux__buf_reset(&m->msg);
  ASSERT_OK(sshmux__buf_put_bytes(&m->msg, p + 5, len - 1 - p[4]));
  m->rb.pos += 4 + len + tag;
  ASSERT_OK(sshmux__buf_get_u8(&m->msg, &type));
  return type;
}

/* p emptied and started as a message of type `type` for the channel 0. */
static void mc_chan_msg(sshmux__buf_t *p, int type) {
  sshmux__buf_reset(p);
  ASSERT_OK(sshmux__buf_put_u8(p, (uint8_t)type));
  ASSERT_OK(sshmux__buf_put_u32(p, 0));
}

static int mc_recv_skip(mc_t *m) {
  int t;
  while ((t = mc_recv(m)) == 2 || t == 4 || t == 7 || t == 93)
    ; /* IGNORE, DEBUG, EXT_INFO, WINDOW_ADJUST */
  return t;
}

/* Send p and expect the answer of type want (mc_recv_skip). */
static void mc_exchange(mc_t *m, const sshmux__buf_t *p, int want) {
  mc_send(m, p);
  ASSERT_EQ(mc_recv_skip(m), want);
}

static void mc_derive(const uint8_t *k, size_t kl, const uint8_t *h, char c,
                      uint8_t *out, size_t n) {
  ASSERT_OK(sshmux__kex_derive(SSHMUX__SHA256, k, kl, h, 32, h, 32, c, out, n));
}

/* Run the session up to and including `stages` steps, then hang up.
 * Returns the number of steps completed. */
static int mc_session(int port, int stages) {
  mc_t m;
  sshmux__buf_t p;
  uint8_t sk[32], q_c[32], shared[32];
  int step = 0;
  char line[300];

  mc_connect(&m, port);
  sshmux__buf_init(&p, 65536);
  if (++step > stages)
    goto out;
  /* ident: ours, then theirs */
  ASSERT_EQ(write(m.fd, "SSH-2.0-stages\r\n", 16), 16);
  {
    size_t n = 0;
    for (;;) {
      mc_fill(&m, 1);
      line[n] = (char)m.rb.data[m.rb.pos++];
      if (line[n] == '\n')
        break;
      ASSERT_LT(++n, sizeof(line) - 1);
    }
    line[n > 0 && line[n - 1] == '\r' ? n - 1 : n] = '\0';
  }
  if (++step > stages)
    goto out;
  /* KEXINIT both ways */
  {
    static const uint8_t cookie[16];
    ASSERT_OK(sshmux__buf_put_u8(&m.i_c, 20));
    ASSERT_OK(sshmux__buf_put_bytes(&m.i_c, cookie, 16));
    ASSERT_OK(sshmux__buf_put_cstring(&m.i_c, "curve25519-sha256"));
    ASSERT_OK(sshmux__buf_put_cstring(&m.i_c, "ssh-ed25519"));
    ASSERT_OK(sshmux__buf_put_cstring(&m.i_c, "aes128-ctr"));
    ASSERT_OK(sshmux__buf_put_cstring(&m.i_c, "aes128-ctr"));
    ASSERT_OK(sshmux__buf_put_cstring(&m.i_c, "hmac-sha2-256"));
    ASSERT_OK(sshmux__buf_put_cstring(&m.i_c, "hmac-sha2-256"));
    ASSERT_OK(sshmux__buf_put_cstring(&m.i_c, "none"));
    ASSERT_OK(sshmux__buf_put_cstring(&m.i_c, "none"));
    ASSERT_OK(sshmux__buf_put_cstring(&m.i_c, ""));
    ASSERT_OK(sshmux__buf_put_cstring(&m.i_c, ""));
    ASSERT_OK(sshmux__buf_put_bool(&m.i_c, 0));
    ASSERT_OK(sshmux__buf_put_u32(&m.i_c, 0));
    mc_send(&m, &m.i_c);
    ASSERT_EQ(mc_recv(&m), 20);
    ASSERT_OK(sshmux__buf_put_bytes(&m.i_s, m.msg.data, m.msg.len));
  }
  if (++step > stages)
    goto out;
  /* ECDH: verify the host's signature over H like a real client */
  {
    const uint8_t *ks, *qs, *sig;
    size_t ksn, qsn, sign;
    sshmux__buf_t hb, k;
    randombytes_buf(sk, sizeof(sk));
    crypto_scalarmult_curve25519_base(q_c, sk);
    sshmux__buf_reset(&p);
    ASSERT_OK(sshmux__buf_put_u8(&p, 30));
    ASSERT_OK(sshmux__buf_put_string(&p, q_c, 32));
    mc_send(&m, &p);
    ASSERT_EQ(mc_recv(&m), 31);
    ASSERT_OK(sshmux__buf_get_string(&m.msg, 4096, &ks, &ksn));
    ASSERT_OK(sshmux__buf_get_string(&m.msg, 4096, &qs, &qsn));
    ASSERT_OK(sshmux__buf_get_string(&m.msg, 4096, &sig, &sign));
    ASSERT_EQ(qsn, 32);
    ASSERT_EQ(crypto_scalarmult_curve25519(shared, sk, qs), 0);
    sshmux__buf_init(&k, 64);
    ASSERT_OK(sshmux__buf_put_mpint(&k, shared, 32));
    sshmux__buf_init(&hb, 1u << 20);
    ASSERT_OK(sshmux__buf_put_cstring(&hb, "SSH-2.0-stages"));
    ASSERT_OK(sshmux__buf_put_cstring(&hb, line));
    ASSERT_OK(sshmux__buf_put_string(&hb, m.i_c.data, m.i_c.len));
    ASSERT_OK(sshmux__buf_put_string(&hb, m.i_s.data, m.i_s.len));
    ASSERT_OK(sshmux__buf_put_string(&hb, ks, ksn));
    ASSERT_OK(sshmux__buf_put_string(&hb, q_c, 32));
    ASSERT_OK(sshmux__buf_put_string(&hb, qs, qsn));
    ASSERT_OK(sshmux__buf_put_bytes(&hb, k.data, k.len));
    ASSERT_OK(sshmux__hash(SSHMUX__SHA256, hb.data, hb.len, m.h));
    ASSERT_OK(
        sshmux__pubkey_verify("ssh-ed25519", ks, ksn, sig, sign, m.h, 32));
    ASSERT_EQ(mc_recv(&m), 21); /* NEWKEYS */
    if (++step > stages) {
      sshmux__buf_free(&hb);
      sshmux__buf_free(&k);
      goto out;
    }
    sshmux__buf_reset(&p);
    ASSERT_OK(sshmux__buf_put_u8(&p, 21));
    mc_send(&m, &p);
    {
      uint8_t iv[16], key[16], mk[32];
      sshmux__codec_free(m.out);
      sshmux__codec_free(m.in);
      mc_derive(k.data, k.len, m.h, 'A', iv, 16);
      mc_derive(k.data, k.len, m.h, 'C', key, 16);
      mc_derive(k.data, k.len, m.h, 'E', mk, 32);
      ASSERT_OK(sshmux__codec_new(&m.out, "aes128-ctr", "hmac-sha2-256", key,
                                  iv, mk));
      mc_derive(k.data, k.len, m.h, 'B', iv, 16);
      mc_derive(k.data, k.len, m.h, 'D', key, 16);
      mc_derive(k.data, k.len, m.h, 'F', mk, 32);
      ASSERT_OK(
          sshmux__codec_new(&m.in, "aes128-ctr", "hmac-sha2-256", key, iv, mk));
    }
    sshmux__buf_free(&hb);
    sshmux__buf_free(&k);
  }
  if (++step > stages)
    goto out;
  sshmux__buf_reset(&p);
  ASSERT_OK(sshmux__buf_put_u8(&p, 5));
  ASSERT_OK(sshmux__buf_put_cstring(&p, "ssh-userauth"));
  mc_exchange(&m, &p, 6);
  if (++step > stages)
    goto out;
  /* publickey, signed directly (as paramiko does) */
  {
    sshmux__hostkey_t *uk;
    sshmux__buf_t blob, data, sig;
    ASSERT_OK(sshmux__hostkey_load(&uk, test_path("id")));
    sshmux__buf_init(&blob, 4096);
    sshmux__buf_init(&data, 65536);
    sshmux__buf_init(&sig, 4096);
    ASSERT_OK(sshmux__hostkey_public_blob(uk, &blob));
    sshmux__buf_reset(&p);
    th_put_pk_request(&p, USER, "ssh-ed25519", blob.data, blob.len);
    ASSERT_OK(sshmux__buf_put_string(&data, m.h, 32));
    ASSERT_OK(sshmux__buf_put_bytes(&data, p.data, p.len));
    ASSERT_OK(sshmux__hostkey_sign(uk, data.data, data.len, &sig));
    ASSERT_OK(sshmux__buf_put_string(&p, sig.data, sig.len));
    mc_exchange(&m, &p, 52);
    sshmux__hostkey_free(uk);
    sshmux__buf_free(&blob);
    sshmux__buf_free(&data);
    sshmux__buf_free(&sig);
  }
  if (mc_after_auth != NULL) {
    mc_after_auth(&m);
    step = stages + 1;
    goto out;
  }
  if (++step > stages)
    goto out;
  sshmux__buf_reset(&p);
  ASSERT_OK(sshmux__buf_put_u8(&p, 90));
  ASSERT_OK(sshmux__buf_put_cstring(&p, "session"));
  ASSERT_OK(sshmux__buf_put_u32(&p, 0));
  ASSERT_OK(sshmux__buf_put_u32(&p, mc_hold_cmd ? 0xffffffffu : 1u << 20));
  ASSERT_OK(sshmux__buf_put_u32(&p, 32768));
  mc_exchange(&m, &p, 91);
  if (++step > stages)
    goto out;
  mc_chan_msg(&p, 98); /* exec, want reply */
  ASSERT_OK(sshmux__buf_put_cstring(&p, "exec"));
  ASSERT_OK(sshmux__buf_put_bool(&p, 1));
  ASSERT_OK(sshmux__buf_put_cstring(&p, mc_hold_cmd ? mc_hold_cmd : "cat"));
  mc_exchange(&m, &p, 99);
  if (++step > stages)
    goto out;
  mc_chan_msg(&p, 94);
  ASSERT_OK(sshmux__buf_put_cstring(&p, "staged"));
  mc_exchange(&m, &p, 94);
  {
    char *d;
    uint32_t rid;
    ASSERT_OK(sshmux__buf_get_u32(&m.msg, &rid));
    ASSERT_OK(sshmux__buf_get_cstring(&m.msg, 64, &d));
    ASSERT_STR_EQ(d, "staged");
    free(d);
  }
  if (++step > stages)
    goto out;
  mc_chan_msg(&p, 96);
  mc_exchange(&m, &p, 96);         /* EOF */
  ASSERT_EQ(mc_recv_skip(&m), 98); /* exit-status */
  ASSERT_EQ(mc_recv_skip(&m), 97); /* CLOSE */
  if (++step > stages)
    goto out;
  mc_chan_msg(&p, 97);
  mc_send(&m, &p);
  /* A packet with a bad MAC after the session: the server hangs up. */
  {
    ssize_t r;
    sshmux__buf_reset(&p);
    ASSERT_OK(sshmux__buf_put_u8(&p, 2));
    ASSERT_OK(sshmux__buf_put_cstring(&p, "tampered"));
    mc_corrupt = 1;
    mc_send(&m, &p);
    mc_corrupt = 0;
    do {
      uint8_t b[4096];
      r = read(m.fd, b, sizeof(b));
    } while (r > 0);
  }
  step++;
out:
  sshmux__buf_free(&p);
  mc_close(&m);
  return step - 1;
}

TEST_IMPL_T(server_interop_stop_after_each_stage, 60) {
  es_t e;
  int stages;

  make_keys();
  es_start(&e, NULL, NULL);
  /* 0: connect and hang up ... 10: after EOF; 11: the whole session,
   * then a packet with a bad MAC. */
  for (stages = 0; stages <= 11; stages++)
    ASSERT_EQ(mc_session(e.port, stages), stages);
  {
    /* The tampered packet was caught by the MAC check (logged). */
    char *log = test_read_file(e.log, NULL);
    ASSERT_STR_CONTAINS(log, "message authentication failed");
    free(log);
  }
  TEST_REQUIRE_PROGRAM("ssh");
  expect_echo(&e, "after stages");
  es_stop(&e);
  return 0;
}

/* A client that stops reading the socket in the middle of a bulk
 * transfer (with an open window, so TCP itself backs up): the server's
 * write stalls, yet shutting the server down still completes (the last
 * write is abandoned after a bounded wait) and cleanly. */
TEST_IMPL_T(server_interop_stalled_reader_shutdown, 60) {
  es_t e;
  uint64_t t0;

  make_keys();
  es_start(&e, NULL, NULL);
  mc_hold_cmd = "bulk 4000000000";
  ASSERT_EQ(mc_session(e.port, 8), 8); /* up to the exec reply */
  mc_hold_cmd = NULL;
  ASSERT_GE(mc_held_fd, 0);
  usleep(1000000); /* the socket buffers fill up */
  t0 = test_now_ms();
  es_stop(&e);
  ASSERT_LT(test_now_ms() - t0, 6000);
  ASSERT_GE(test_now_ms() - t0, 1000); /* it did wait for the write */
  close(mc_held_fd);
  return 0;
}

/* ---- a flood of connections that never authenticate ---- */

static long rss_kib(int pid) {
  char path[64], *st;
  const char *p;
  long kib = -1;
  snprintf(path, sizeof(path), "/proc/%d/status", pid);
  st = test_read_file(path, NULL);
  p = st != NULL ? strstr(st, "VmRSS:") : NULL;
  if (p != NULL)
    kib = atol(p + 6);
  free(st);
  return kib;
}

/* 600 connections each send an identification line and 6000 bytes of a
 * 7008-byte packet (under the pre-authentication packet limit, so only
 * the limit on unauthenticated connections can stop them) and then hold
 * the connection.  The server keeps at most MaxStartups' `full` (256) of
 * them; once they have waited a second, a real `ssh` still logs in while
 * the flood is held (the oldest is dropped for it), and the server's
 * memory stays bounded. */
/* Wait (20 s at most each) until every one of the n connections fds got
 * the server's banner, let them sit settle_us, then drain them: how many
 * the server still holds open (reads would block rather than EOF). */
/* Start the server e, then make n connections to it (fds), sending the
 * first len bytes of data on every `every`-th one (i % every == every -
 * 1); a connection the server already dropped refuses the write: fine.
 * Returns the server's RSS (KiB) before the connections. */
static long flood(es_t *e, int *fds, int n, const void *data, size_t len,
                  int every) {
  long rss0;

  make_keys();
  es_start(e, NULL, NULL);
  rss0 = rss_kib(e->pid);
  for (int i = 0; i < n; i++) {
    fds[i] = test_connect_local(e->port);
    ASSERT_GE(fds[i], 0);
    if (i % every == every - 1)
      (void)send(fds[i], data, len, MSG_NOSIGNAL);
  }
  return rss0;
}

/* Close the n connections fds and stop the server e. */
static void flood_end(es_t *e, int *fds, int n) {
  for (int i = 0; i < n; i++)
    close(fds[i]);
  es_stop(e);
}

static int held_after(const int *fds, int n, unsigned settle_us) {
  int i, alive = 0;

  for (i = 0; i < n; i++) {
    struct pollfd pf = {fds[i], POLLIN, 0};
    ASSERT_EQ(poll(&pf, 1, 20000), 1);
  }
  usleep(settle_us);
  for (i = 0; i < n; i++) {
    uint8_t b[4096];
    ssize_t r;
    fcntl(fds[i], F_SETFL, O_NONBLOCK);
    while ((r = read(fds[i], b, sizeof(b))) > 0)
      ;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      alive++;
  }
  return alive;
}

TEST_IMPL_T(server_interop_preauth_flood, 120) {
  enum { FLOOD = 600 };
  static int fds[FLOOD];
  static uint8_t part[6000 + 64];
  long rss0, rss1;
  int alive = 0;
  es_t e;

  TEST_REQUIRE_PROGRAM("ssh");
  memcpy(part, "SSH-2.0-flood\r\n", 15);
  sshmux__store_be32(part + 15, 7004); /* packet_length: 7008 on the wire */
  part[19] = 4;
  part[20] = 2; /* IGNORE */
  rss0 = flood(&e, fds, FLOOD, part, 15 + 6000, 1);
  /* Every connection was seen (each gets the server's banner first). */
  alive = held_after(fds, FLOOD, 300000);
  rss1 = rss_kib(e.pid);
  printf("# flood of %d: %d held by the server, RSS %ld -> %ld KiB\n", FLOOD,
         alive, rss0, rss1);
  ASSERT_LE(alive, 256);
  ASSERT_GE(alive, 64);
  usleep(1500000); /* the flood is old enough to give way */
  /* While the flood is held, a real client gets in. */
  expect_echo(&e, "hello during the flood");
  ASSERT_LT(rss1 - rss0, 32 * 1024);
  flood_end(&e, fds, FLOOD);
  return 0;
}

/* ---- one authenticated client that opens 1000 channels ---- */

static es_t *cf_es;
static int cf_ok, cf_ok_tcp, cf_refused;
static char cf_why[128];
static long cf_rss0, cf_rss_held;

/* Pipelines 1000 session opens, then reads the 1000 answers; while every
 * confirmed channel is held open, a real `ssh` logs in. */
static void cf_flood(mc_t *m) {
  enum { N = 1000 };
  static char seen[N];
  sshmux__buf_t p;
  int i;

  memset(seen, 0, sizeof(seen));
  sshmux__buf_init(&p, 256);
  for (i = 0; i < N; i++) {
    /* Sessions and direct-tcpip to the echo port, alternating. */
    sshmux__buf_reset(&p);
    ASSERT_OK(sshmux__buf_put_u8(&p, 90));
    ASSERT_OK(sshmux__buf_put_cstring(&p, i % 2 ? "direct-tcpip" : "session"));
    ASSERT_OK(sshmux__buf_put_u32(&p, (uint32_t)i));
    ASSERT_OK(sshmux__buf_put_u32(&p, 1u << 20));
    ASSERT_OK(sshmux__buf_put_u32(&p, 32768));
    if (i % 2) {
      ASSERT_OK(sshmux__buf_put_cstring(&p, "127.0.0.1"));
      ASSERT_OK(sshmux__buf_put_u32(&p, 7));
      ASSERT_OK(sshmux__buf_put_cstring(&p, "127.0.0.1"));
      ASSERT_OK(sshmux__buf_put_u32(&p, 40000));
    }
    mc_send(m, &p);
  }
  for (i = 0; i < N; i++) {
    int t = mc_recv_skip(m);
    uint32_t rid, reason;
    ASSERT_OK(sshmux__buf_get_u32(&m->msg, &rid));
    /* Refusals may overtake confirmations; each open answered once. */
    ASSERT_LT(rid, (uint32_t)N);
    ASSERT(!seen[rid]);
    seen[rid] = 1;
    if (t == 91) {
      cf_ok++;
      cf_ok_tcp += (int)(rid % 2);
      continue;
    }
    ASSERT_EQ(t, 92); /* OPEN_FAILURE */
    ASSERT_OK(sshmux__buf_get_u32(&m->msg, &reason));
    ASSERT_EQ(reason, SSHMUX_OPEN_RESOURCE_SHORTAGE);
    {
      char *why = NULL;
      ASSERT_OK(sshmux__buf_get_cstring(&m->msg, 256, &why));
      snprintf(cf_why, sizeof(cf_why), "%s", why);
      free(why);
    }
    cf_refused++;
  }
  cf_rss_held = rss_kib(cf_es->pid);
  /* While the flooder holds its channels, a real client is served. */
  expect_echo(cf_es, "hello beside 1000 opens");
  /* The flooder's connection itself lives on: one more open is refused
   * the same way, not by a hang-up. */
  sshmux__buf_reset(&p);
  ASSERT_OK(sshmux__buf_put_u8(&p, 90));
  ASSERT_OK(sshmux__buf_put_cstring(&p, "session"));
  ASSERT_OK(sshmux__buf_put_u32(&p, 5000));
  ASSERT_OK(sshmux__buf_put_u32(&p, 1u << 20));
  ASSERT_OK(sshmux__buf_put_u32(&p, 32768));
  mc_send(m, &p);
  ASSERT_EQ(mc_recv_skip(m), 92);
  sshmux__buf_free(&p);
}

/* One authenticated client opens 1000 channels (sessions and direct-tcpip
 * to the echo port, alternating): the server
 * confirms what its per-connection budget of windows allows (256 MiB in
 * 2 MiB windows: 128) and refuses the rest with RESOURCE_SHORTAGE and the
 * reason, its memory stays bounded, and a real `ssh` is served while the
 * channels are held. */
TEST_IMPL_T(server_interop_channel_flood, 120) {
  es_t e;

  TEST_REQUIRE_PROGRAM("ssh");
  make_keys();
  es_start(&e, NULL, NULL);
  cf_es = &e;
  cf_ok = cf_ok_tcp = cf_refused = 0;
  cf_why[0] = '\0';
  cf_rss0 = rss_kib(e.pid);
  mc_after_auth = cf_flood;
  ASSERT_EQ(mc_session(e.port, 7), 7);
  mc_after_auth = NULL;
  printf("# 1000 opens: %d confirmed (%d direct-tcpip), %d refused (\"%s\"), "
         "RSS %ld -> %ld KiB\n",
         cf_ok, cf_ok_tcp, cf_refused, cf_why, cf_rss0, cf_rss_held);
  ASSERT_EQ(cf_ok, 128);
  ASSERT_GT(cf_ok_tcp,
            0); /* both kinds were served before the budget ran out */
  ASSERT_LT(cf_ok_tcp, 128);
  ASSERT_EQ(cf_refused, 1000 - 128);
  ASSERT_STR_CONTAINS(cf_why, "memory budget");
  ASSERT_LT(cf_rss_held - cf_rss0, 16 * 1024);
  {
    char *log = test_read_file(e.log, NULL);
    ASSERT_STR_CONTAINS(log, "channel refused: memory budget");
    free(log);
  }
  es_stop(&e);
  return 0;
}

/* ---- half-open TCP connections ---- */

/* 200 connections that never finish a version line (half send nothing,
 * half "SSH-2.0-half" without its line end) are held at once; a real
 * `ssh` still logs in and the server's memory stays bounded. */
TEST_IMPL_T(server_interop_half_open_connections, 120) {
  enum { N = 200 };
  static int fds[N];
  long rss0, rss1;
  int alive = 0;
  es_t e;

  TEST_REQUIRE_PROGRAM("ssh");
  rss0 = flood(&e, fds, N, "SSH-2.0-half", 12, 2);
  /* Every connection was accepted (each gets the server's banner);
   * settle until they are old enough to give way to a real login. */
  alive = held_after(fds, N, 1500000);
  rss1 = rss_kib(e.pid);
  /* While they are held, a real client gets in. */
  expect_echo(&e, "hello past the half-open");
  printf("# %d half-open: %d held by the server, RSS %ld -> %ld KiB\n", N,
         alive, rss0, rss1);
  ASSERT_GE(alive, 64); /* the server did hold them (MaxStartups begin) */
  ASSERT_LE(alive, N);
  ASSERT_LT(rss1 - rss0, 16 * 1024);
  flood_end(&e, fds, N);
  return 0;
}

/* ---- 100 real clients logging in at once ---- */

/* N `ssh` processes started together, each running "storm I"; counts
 * those served (exit 0, their output) and refused cleanly (exit 255,
 * nothing of theirs on stdout); anything else fails the test, and so does
 * one still running after 90 s.  mid: a well-behaved client runs (and
 * must be served) while the storm is on. */
static void storm(const es_t *e, int *ok, int *refused, int mid) {
  enum { N = 100 };
  static int pids[N];
  char *out = NULL, *err = NULL;
  static int round; /* each round its own output files */
  int i, left = N;
  uint64_t t0 = test_now_ms(), deadline;

  *ok = *refused = 0;
  round++;
  for (i = 0; i < N; i++) {
    const char *extra[] = {ID, "-n", NULL};
    char cmd[32], name[32];
    test_argv_t a;
    snprintf(cmd, sizeof(cmd), "storm %d", i);
    snprintf(name, sizeof(name), "storm-%d-%d.out", round, i);
    ssh_argv(&a, e, extra, USER "@127.0.0.1", cmd);
    pids[i] = test_spawn(a.v, test_path(name));
    ASSERT_GT(pids[i], 0);
  }
  if (mid) {
    /* Storm clients still connecting may drop this one by the MaxStartups
     * rule if it waited a second (a loaded machine): then it tries again,
     * as a real user would, at most twice more. */
    int tries = 0, st;
    do {
      free(out), free(err);
      out = err = NULL;
      st = run_openssh(e, "hello in the storm", NULL, &out, &err);
    } while (st == 255 && ++tries < 3);
    ASSERT_EQ(st, 0);
    ASSERT_STR_EQ(out, "hello in the storm\n");
    free(out), free(err);
  }
  for (deadline = test_now_ms() + 90000; left > 0 && test_now_ms() < deadline;
       usleep(20000)) {
    for (i = 0; i < N; i++) {
      char name[32], want[32], *got;
      int st;
      if (pids[i] <= 0 || waitpid(pids[i], &st, WNOHANG) != pids[i])
        continue;
      pids[i] = 0;
      left--;
      snprintf(name, sizeof(name), "storm-%d-%d.out", round, i);
      snprintf(want, sizeof(want), "storm %d\n", i);
      got = test_read_file(test_path(name), NULL);
      if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && got != NULL &&
          strcmp(got, want) == 0)
        ++*ok;
      else if (WIFEXITED(st) && WEXITSTATUS(st) == 255 &&
               (got == NULL || strstr(got, "storm") == NULL))
        ++*refused;
      else
        test_fail(__FILE__, __LINE__, "client %d ended with %d: %s", i, st,
                  got ? got : "");
      free(got);
    }
  }
  for (i = 0; i < N; i++)
    if (pids[i] > 0)
      test_kill(pids[i]);
  printf("# %d logins at once: %d served, %d refused, %d hung, %llu ms\n", N,
         *ok, *refused, left, (unsigned long long)(test_now_ms() - t0));
  ASSERT_EQ(left, 0);
  ASSERT_EQ(*ok + *refused, N);
}

/* 100 `ssh` processes log in at once: with the default limits (64:30:256)
 * each is served or refused cleanly, none hangs, and a client started in
 * the middle of the storm is served.  Then with MaxStartups 4:30:8, the
 * limit filled first by 8 silent connections, the limit bites (storm
 * clients refused cleanly, before any output, or the silent ones dropped
 * for them), whoever is held is served, and a well-behaved client gets
 * in after the storm. */
TEST_IMPL_T(server_interop_login_storm, 180) {
  int ok, refused, held[8], dropped = 0;
  es_t e;

  TEST_REQUIRE_PROGRAM("ssh");
  make_keys();
  es_start(&e, NULL, NULL);
  storm(&e, &ok, &refused, 1);
  ASSERT_GE(ok, 1);
  es_stop(&e);

  es_start(&e, "--startups", "4:30:8");
  /* Fill the limit first with 8 connections that never speak, so it bites
   * whatever the machine's speed (the storm's logins alone may each finish
   * before the next starts): a storm client is refused while they are
   * young, or, once they are old enough, they are dropped for the storm. */
  for (int i = 0; i < 8; i++) {
    held[i] = test_connect_local(e.port);
    ASSERT_GE(held[i], 0);
  }
  storm(&e, &ok, &refused, 0);  /* each served or refused cleanly */
  for (int i = 0; i < 8; i++) { /* dropped ones read EOF after the banner */
    char b[512];
    ssize_t r;
    fcntl(held[i], F_SETFL, O_NONBLOCK);
    while ((r = read(held[i], b, sizeof(b))) > 0)
      ;
    dropped += r == 0;
    close(held[i]);
  }
  printf("# held connections dropped for the storm: %d of 8\n", dropped);
  ASSERT_GE(refused + dropped, 1); /* the limit did bite */
  expect_echo(&e, "hello after the storm");
  {
    char *log = test_read_file(e.log, NULL);
    ASSERT_STR_CONTAINS(log, "not authenticated (MaxStartups 4:30:8)");
    free(log);
  }
  es_stop(&e);
  return 0;
}
