/* test-security.c -- the lines of docs/security.md's checklist that had no
 * test of their own, each tested against the real daemon and real clients
 * (the checklist names, for every line, the tests that prove it; the
 * meta-test docs_security_checklist_paired in test-build-docs.c checks
 * that every line has one and that every security_* test is on a line).
 *
 * Proves: serve listens on 127.0.0.1 only (not on another loopback address,
 * nothing on IPv6); a client insisting on password or keyboard-interactive
 * gets only "publickey"; an authorized-keys file, routes file or host key
 * that others can write, or that is a symlink, is refused (fail closed,
 * with a message), and works again once fixed; route names and values
 * with CR or NUL never load, so setup-config cannot write injected lines;
 * another uid can reach neither the control socket nor, when the
 * filesystem lets it through, the daemon behind it (SO_PEERCRED), and so
 * cannot answer a pending one-time-code prompt, which the user still can;
 * nor can it reach the local ControlMaster setup-config sets up (its 0700
 * directory, its 0600 socket, the master's own peer check). */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-helpers.h"
#include "fixture-otp.h"
#include "ipc-helpers.h"
#include "relay-harness.h"

/* ---- helpers ---- */

typedef struct {
  unsigned long *ino;
  size_t n, max;
} inodes_t;

static int is_socket(const char *path, const char *name, void *data) {
  inodes_t *in = data;
  char link[128];
  ssize_t l;

  (void)name;
  if (in->n >= in->max || (l = readlink(path, link, sizeof(link) - 1)) <= 0)
    return 0;
  link[l] = '\0';
  if (sscanf(link, "socket:[%lu]", &in->ino[in->n]) != 1)
    return 0;
  in->n++;
  return 1;
}

/* The inodes of the sockets pid has open, as "socket:[N]" numbers. */
static size_t socket_inodes(int pid, unsigned long *ino, size_t max) {
  inodes_t in = {ino, 0, max};
  char dir[64];

  snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
  test_dir_each(dir, is_socket, &in);
  return in.n;
}

/* Listening sockets of pid in /proc/net/FILE: count, and how many are not
 * on 127.0.0.1. */
static void listening(int pid, const char *file, int *count, int *elsewhere) {
  unsigned long ino[256];
  size_t n = socket_inodes(pid, ino, 256);
  char path[64], line[512];
  FILE *f;

  *count = *elsewhere = 0;
  snprintf(path, sizeof(path), "/proc/%d/net/%s", pid, file);
  f = fopen(path, "r");
  ASSERT(f != NULL);
  while (fgets(line, sizeof(line), f) != NULL) {
    char local[80], remote[80];
    unsigned st;
    unsigned long inode;
    if (sscanf(line, " %*d: %79s %79s %x %*s %*s %*s %*d %*d %lu", local,
               remote, &st, &inode) != 4 ||
        st != 0x0A /* TCP_LISTEN */)
      continue;
    for (size_t i = 0; i < n; i++)
      if (ino[i] == inode) {
        (*count)++;
        if (strncmp(local, "0100007F:", 9) != 0)
          (*elsewhere)++;
      }
  }
  fclose(f);
}

/* ssh through serve as route user "r" with extra options; exit status,
 * stderr in *err. */
static int ssh_as(rh_t *h, const char *const *opts, char **err) {
  const char *words[16];
  size_t n = 0;
  test_cmd_t c;
  int st = -1;

  for (; opts != NULL && *opts != NULL && n < 12; opts++)
    words[n++] = *opts;
  words[n++] = "r";
  words[n++] = "true";
  words[n] = NULL;
  memset(&c, 0, sizeof(c));
  c.argv = rh_ssh(h, words);
  c.err = err;
  c.timeout_ms = 60000;
  ASSERT_EQ(test_run(&c, &st), 0);
  return st;
}

static void serve_with_route(rh_t *h, test_sshd *s) {
  test_sshd_opts so = {0};

  ASSERT_OK(test_sshd_start(s, &so));
  rh_init(h);
  rh_route(h, "r", s, NULL);
  rh_start(h, NULL);
}

/* ---- the local server ---- */

TEST_IMPL_T(security_serve_binds_loopback_only, 60) {
  rh_t h;
  int n4, other4, n6, other6;

  rh_init(&h);
  rh_start(&h, NULL);
  /* Reachable on 127.0.0.1 ... */
  ASSERT_EQ(test_wait_addr("127.0.0.1", h.port, 1, 5000), 0);
  /* ... and not on another loopback address: the bind is 127.0.0.1, not
   * INADDR_ANY (which would also answer every other interface). */
  ASSERT(test_wait_addr("127.0.0.2", h.port, 0, 1000) != 0);
  listening(h.pid, "tcp", &n4, &other4);
  listening(h.pid, "tcp6", &n6, &other6);
  ASSERT_GE(n4, 1);
  ASSERT_EQ(other4, 0);
  ASSERT_EQ(n6, 0);
  rh_stop(&h);
  return 0;
}

TEST_IMPL_T(security_publickey_only_even_when_insisted, 90) {
  rh_t h;
  test_sshd s;
  char *err = NULL;

  TEST_REQUIRE_PROGRAM("ssh");
  serve_with_route(&h, &s);
  /* The client refuses to use its key and insists on the others. */
  {
    const char *opts[] = {"-o",
                          "PubkeyAuthentication=no",
                          "-o",
                          "PreferredAuthentications=password,"
                          "keyboard-interactive,none",
                          "-o",
                          "NumberOfPasswordPrompts=1",
                          NULL};
    ASSERT_EQ(ssh_as(&h, opts, &err), 255);
    ASSERT_STR_CONTAINS(err, "Permission denied (publickey)");
    free(err);
  }
  /* The key still works (control). */
  ASSERT_EQ(ssh_as(&h, NULL, &err), 0);
  free(err);
  rh_stop(&h);
  test_sshd_stop(&s);
  return 0;
}

/* ---- files ---- */

TEST_IMPL_T(security_authorized_keys_writable_or_symlink_refused, 120) {
  rh_t h;
  test_sshd s;
  char ak[700], real[700], *err = NULL, *log;

  TEST_REQUIRE_PROGRAM("ssh");
  serve_with_route(&h, &s);
  snprintf(ak, sizeof(ak), "%s/sshmux-authorized-keys", h.dir);
  ASSERT_EQ(ssh_as(&h, NULL, &err), 0);
  free(err);
  /* Group-writable: another user could add a key.  Refused. */
  ASSERT_EQ(chmod(ak, 0660), 0);
  ASSERT_EQ(ssh_as(&h, NULL, &err), 255);
  ASSERT_STR_CONTAINS(err, "Permission denied (publickey)");
  free(err);
  ASSERT_EQ(chmod(ak, 0602), 0);
  ASSERT_EQ(ssh_as(&h, NULL, &err), 255);
  free(err);
  {
    char lp[700];
    snprintf(lp, sizeof(lp), "%s/sshmux.log", h.dir);
    log = test_read_file(lp, NULL);
    ASSERT_STR_CONTAINS(log, "sshmux-authorized-keys");
    free(log);
  }
  /* Fixed: accepted again. */
  ASSERT_EQ(chmod(ak, 0600), 0);
  ASSERT_EQ(ssh_as(&h, NULL, &err), 0);
  free(err);
  /* A symlink to a perfectly good copy: refused. */
  snprintf(real, sizeof(real), "%s", test_path("ak-real"));
  ASSERT_EQ(rename(ak, real), 0);
  ASSERT_EQ(symlink(real, ak), 0);
  ASSERT_EQ(ssh_as(&h, NULL, &err), 255);
  free(err);
  ASSERT_EQ(unlink(ak), 0);
  ASSERT_EQ(rename(real, ak), 0);
  ASSERT_EQ(ssh_as(&h, NULL, &err), 0);
  free(err);
  rh_stop(&h);
  test_sshd_stop(&s);
  return 0;
}

/* check-config on a routes file; exit status, stderr in *err. */
static int check_config(const char *path, char **err) {
  char bin[700];
  const char *argv[] = {bin, "check-config", "--config", path, NULL};

  snprintf(bin, sizeof(bin), "%s/sshmuxd", test_build_dir());
  return test_run_simple(argv, NULL, err);
}

TEST_IMPL(security_routes_file_writable_or_symlink_refused) {
  char routes[700], *err = NULL;

  snprintf(routes, sizeof(routes), "%s", test_path("routes.ini"));
  ASSERT_EQ(test_write_file(routes, "[routes.a]\nhost = h\nuser = u\n", 0600),
            0);
  ASSERT_EQ(check_config(routes, &err), 0);
  free(err);
  /* Writable by the group, by others: refused, saying why. */
  ASSERT_EQ(chmod(routes, 0620), 0);
  ASSERT_EQ(check_config(routes, &err), 1);
  ASSERT_STR_CONTAINS(err, "writable by others");
  free(err);
  ASSERT_EQ(chmod(routes, 0606), 0);
  ASSERT_EQ(check_config(routes, &err), 1);
  free(err);
  /* Its directory writable by others (not sticky): refused too. */
  ASSERT_EQ(chmod(routes, 0600), 0);
  ASSERT_EQ(mkdir(test_path("open"), 0700), 0);
  ASSERT_EQ(chmod(test_path("open"), 0777), 0);
  ASSERT_EQ(test_write_file(test_path("open/r.ini"),
                            "[routes.a]\nhost = h\nuser = u\n", 0600),
            0);
  ASSERT_EQ(check_config(test_path("open/r.ini"), &err), 1);
  free(err);
  /* A symlink. */
  ASSERT_EQ(symlink(routes, test_path("link.ini")), 0);
  ASSERT_EQ(check_config(test_path("link.ini"), &err), 1);
  ASSERT_STR_CONTAINS(err, "link.ini");
  free(err);
  ASSERT_EQ(check_config(routes, &err), 0);
  free(err);
  return 0;
}

TEST_IMPL_T(security_host_key_writable_or_symlink_refused, 60) {
  rh_t h;
  char key[700], *log;
  int st;

  rh_init(&h);
  rh_start(&h, NULL);
  rh_stop(&h);
  snprintf(key, sizeof(key), "%s/sshmux_host_ed25519_key", h.dir);
  ASSERT_EQ(access(key, F_OK), 0);
  /* Group-writable: serve refuses to start, and does not replace it. */
  ASSERT_EQ(chmod(key, 0620), 0);
  {
    char bin[700];
    const char *argv[] = {bin,   "serve",    "--port", "0", "--ssh-dir",
                          h.dir, "--config", h.routes, NULL};
    char *err = NULL;
    struct stat st1, st2;
    snprintf(bin, sizeof(bin), "%s/sshmuxd", test_build_dir());
    ASSERT_EQ(lstat(key, &st1), 0);
    st = test_run_simple(argv, NULL, &err);
    ASSERT_NE(st, 0);
    ASSERT_STR_CONTAINS(err, "host key");
    free(err);
    ASSERT_EQ(lstat(key, &st2), 0);
    ASSERT_EQ(st1.st_ino, st2.st_ino);
    ASSERT_EQ(st2.st_mode & 0777, 0620);
    /* A symlink to it. */
    ASSERT_EQ(chmod(key, 0600), 0);
    ASSERT_EQ(rename(key, test_path("key-real")), 0);
    ASSERT_EQ(symlink(test_path("key-real"), key), 0);
    st = test_run_simple(argv, NULL, &err);
    ASSERT_NE(st, 0);
    free(err);
  }
  /* Back in place: serves again with the same key. */
  ASSERT_EQ(unlink(key), 0);
  ASSERT_EQ(rename(test_path("key-real"), key), 0);
  h.port = 0;
  rh_start(&h, NULL);
  rh_stop(&h);
  log = test_read_file(h.log, NULL);
  ASSERT(log == NULL || strstr(log, "generated") == NULL);
  free(log);
  return 0;
}

TEST_IMPL(security_route_values_reject_cr_lf_nul) {
  static const struct {
    const char *text;
    size_t len;
    int line;
  } bad[] = {
#define T(s, l) {s, sizeof(s) - 1, l}
      T("[routes.a]\nhost = h\rProxyCommand evil\nuser = u\n", 2),
      T("[routes.a]\nhost = h\nuser = u\r\n", 3),
      T("[routes.a\r]\nhost = h\nuser = u\n", 1),
      T("[routes.a]\nhost = h\nuser = u\0\nProxyCommand=evil\n", 3),
      T("[routes.a\0b]\nhost = h\nuser = u\n", 1),
      T("[routes.a]\nhost = h\nuser = u\nidentity = ~/k\0x\n", 4),
#undef T
  };
  char path[700];

  snprintf(path, sizeof(path), "%s", test_path("r.ini"));
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char want[64], *err = NULL;
    FILE *f = fopen(path, "wb");
    ASSERT(f != NULL);
    ASSERT_EQ(fwrite(bad[i].text, 1, bad[i].len, f), bad[i].len);
    fclose(f);
    ASSERT_EQ(chmod(path, 0600), 0);
    ASSERT_EQ(check_config(path, &err), 1);
    snprintf(want, sizeof(want), "r.ini:%d:", bad[i].line);
    ASSERT_STR_CONTAINS(err, want);
    free(err);
  }
  /* And setup-config, which writes ssh_config lines from the routes,
   * refuses the file before writing anything. */
  dtest_setup();
  {
    const char *args[] = {"setup-config", "--config", path, NULL};
    char *out = NULL, *err = NULL;
    ASSERT_NE(dtest_run(args, NULL, &out, &err), 0);
    ASSERT(access(dtest_ssh_path("sshmux-hosts.conf"), F_OK) != 0);
    free(out);
    free(err);
  }
  return 0;
}

/* ---- the control socket and prompts, from another uid ---- */

#define OTHER_UID 65534

/* The runtime directory for these tests: under /tmp rather than in the
 * test's own directory, whose ancestors (the runner's, 0700) would stop
 * another uid before the control directory is even reached.  0700 like
 * any runtime dir; removed at the end. */
static char rundir[40], ctl_dir[60], ctl_sock[80];

static void runtime_in_tmp(void) {
  snprintf(rundir, sizeof(rundir), "/tmp/sshmux-sec-XXXXXX");
  ASSERT(mkdtemp(rundir) != NULL);
  ASSERT_EQ(setenv("XDG_RUNTIME_DIR", rundir, 1), 0);
  snprintf(ctl_dir, sizeof(ctl_dir), "%s/sshmux", rundir);
  snprintf(ctl_sock, sizeof(ctl_sock), "%s/sshmux/control", rundir);
}

/* ipct_start() for the runtime dir above. */
static int start_daemon(void) {
  const char *args[] = {"status", NULL};
  int pid = ipct_spawn();
  uint64_t end = test_now_ms() + 20000;

  while (access(ctl_sock, F_OK) != 0 || ipct_run(args, NULL, NULL, NULL) != 0) {
    if (test_now_ms() > end || kill(pid, 0) != 0) {
      ipct_dump();
      test_fail(__FILE__, __LINE__, "control-daemon did not start");
    }
    usleep(20000);
  }
  return pid;
}

static void runtime_remove(void) {
  const char *argv[] = {"rm", "-rf", rundir, NULL};
  ASSERT_EQ(test_run_simple(argv, NULL, NULL), 0);
}

/* In a child running as OTHER_UID: connect to the socket at path and send
 * line.  Exit status: 10 connect refused by the filesystem (EACCES), 11
 * connected but closed without a single byte of reply, 12 got a reply, 13
 * other failure. */
static int as_other_uid_at(const char *path, const char *line) {
  int pid = fork();

  ASSERT(pid >= 0);
  if (pid == 0) {
    struct sockaddr_un sa;
    char buf[256];
    ssize_t r;
    int fd;
    alarm(20);
    signal(SIGPIPE, SIG_IGN); /* a peer that closes first is an answer */
    if (setgroups(0, NULL) != 0 || setgid(OTHER_UID) != 0 ||
        setuid(OTHER_UID) != 0 || getuid() != OTHER_UID)
      _exit(13);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
      _exit(errno == EACCES ? 10 : 13);
    (void)!write(fd, line, strlen(line));
    r = read(fd, buf, sizeof(buf));
    _exit(r == 0 || (r < 0 && errno == ECONNRESET) ? 11 : r > 0 ? 12 : 13);
  }
  {
    int st = ipct_wait_exit(pid, 30000);
    return st;
  }
}

/* The control socket, from another uid. */
static int as_other_uid(const char *line) {
  return as_other_uid_at(ctl_sock, line);
}

/* Let the filesystem pass another uid (directory 0711, socket 0666), so
 * that only the daemon's own peer check stands in the way; or put it back
 * (0700, 0600). */
static void open_paths(int open) {
  ASSERT_EQ(chmod(rundir, open ? 0711 : 0700), 0);
  ASSERT_EQ(chmod(ctl_dir, open ? 0711 : 0700), 0);
  ASSERT_EQ(chmod(ctl_sock, open ? 0666 : 0600), 0);
}

TEST_IMPL_T(security_ipc_other_uid_refused, 60) {
  const char *status[] = {"status", NULL};
  char *out = NULL, *log;
  int pid;

  TEST_REQUIRE_ROOT("switching to another uid");
  ipct_env();
  runtime_in_tmp();
  ipct_routes("[jump]\nhost = 127.0.0.1\nport = 9\nuser = nobody\n");
  pid = start_daemon();
  /* The directory (0700) keeps it out. */
  ASSERT_EQ(as_other_uid("{\"cmd\":\"status\"}\n"), 10);
  /* With the filesystem out of the way, the daemon's SO_PEERCRED check:
   * the connection is closed before a byte is read or written. */
  open_paths(1);
  ASSERT_EQ(as_other_uid("{\"cmd\":\"status\"}\n"), 11);
  ASSERT_EQ(as_other_uid("{\"cmd\":\"stop\"}\n"), 11);
  open_paths(0);
  /* The daemon is unharmed and still ours. */
  ASSERT_EQ(ipct_run(status, NULL, &out, NULL), 0);
  free(out);
  ipct_stop_clean(pid);
  log = test_read_file(dtest_ssh_path("sshmux.log"), NULL);
  ASSERT_STR_CONTAINS(log, "control connection from another user refused");
  free(log);
  runtime_remove();
  return 0;
}

TEST_IMPL_T(security_prompt_answer_other_uid_refused, 150) {
  test_otp_sshd o;
  test_sshd t;
  char *list, *py = NULL, code[7], idbuf[32], line[256];
  int pid, bg;

  TEST_REQUIRE_ROOT("switching to another uid; PAM in a mount namespace");
  TEST_REQUIRE_OTP();
  TEST_REQUIRE_PROGRAM("/usr/bin/python3");
  ipct_otp_jump_target(&o, &t, NULL);
  runtime_in_tmp();
  pid = start_daemon();

  /* A login waiting for its one-time code. */
  list = ipct_listed_prompt(&t, "echo through-otp", &bg);
  ASSERT_EQ(ipct_python("import json,sys\n"
                        "print(json.load(sys.stdin)['prompts'][0]['id'])\n",
                        list, &py),
            0);
  free(list);
  snprintf(idbuf, sizeof(idbuf), "%.*s", (int)strcspn(py, "\n"), py);
  free(py);
  ASSERT_EQ(test_otp_next_code(&o, code), 0);

  /* Another uid, even with the right id and the right code: refused by
   * the directory, and by the daemon when the directory lets it pass. */
  snprintf(line, sizeof(line),
           "{\"cmd\":\"answer\",\"prompt\":%s,\"answers\":[\"%s\"]}\n", idbuf,
           code);
  ASSERT_EQ(as_other_uid(line), 10);
  open_paths(1);
  ASSERT_EQ(as_other_uid(line), 11);
  open_paths(0);
  /* The login is still waiting; the user answers it. */
  ASSERT_EQ(kill(bg, 0), 0);
  ipct_answer(idbuf, code);
  ipct_bg_ok(bg, "bg.log", "through-otp");
  ipct_stop_clean(pid);
  /* The code went where it belonged and nowhere else: not in the logs. */
  {
    char *l1 = test_read_file(dtest_ssh_path("sshmux.log"), NULL);
    char *l2 = test_read_file(test_path("daemon.log"), NULL);
    ASSERT(l1 != NULL && strstr(l1, "answered") != NULL);
    ASSERT(strstr(l1, code) == NULL);
    ASSERT(l2 == NULL || strstr(l2, code) == NULL);
    free(l1);
    free(l2);
  }
  runtime_remove();
  test_otp_sshd_stop(&o);
  test_sshd_stop(&t);
  return 0;
}

/* ---- setup-config's local ControlMaster, from another uid ---- */

/* The path of the one socket in dir (into path), failing without one. */
static void master_socket(const char *dir, char *path, size_t size) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;

  ASSERT(d != NULL);
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') {
      snprintf(path, size, "%s/%s", dir, e->d_name);
      n++;
    }
  closedir(d);
  ASSERT_EQ(n, 1);
}

TEST_IMPL_T(security_control_master_other_uid_refused, 90) {
  test_sshd s;
  rh_t h;
  char cmdir[600], sock[1000], log[600], *out = NULL;
  struct stat st;

  TEST_REQUIRE_ROOT("switching to another uid");
  TEST_REQUIRE_PROGRAM("ssh");
  ASSERT_OK(test_sshd_start(&s, NULL));
  rh_init_short(&h); /* under /tmp: only our own modes stand in the way */
  rh_route(&h, "r1", &s, NULL);
  rh_start(&h, NULL);
  rh_setup_config(&h);
  snprintf(cmdir, sizeof(cmdir), "%s/sshmux-cm", h.dir);
  snprintf(log, sizeof(log), "%s/sshmux.log", h.dir);
  /* The first session leaves a master behind, authenticated. */
  ASSERT_EQ(test_run_simple(
                rh_ssh_setup(&h, (const char *[]){"r1", "echo one", NULL}),
                &out, NULL),
            0);
  ASSERT_STR_EQ(out, "one\n");
  free(out);
  master_socket(cmdir, sock, sizeof(sock));
  ASSERT_EQ(lstat(sock, &st), 0);
  ASSERT(S_ISSOCK(st.st_mode));
  ASSERT_EQ(st.st_mode & 0077, 0);

  /* Its directory (0700) keeps another uid from even reaching it... */
  ASSERT_EQ(as_other_uid_at(sock, "x"), 10);
  /* ...so does the socket's own mode (0600) with the directories open... */
  ASSERT_EQ(chmod(h.top, 0711), 0);
  ASSERT_EQ(chmod(h.dir, 0711), 0);
  ASSERT_EQ(chmod(cmdir, 0711), 0);
  ASSERT_EQ(as_other_uid_at(sock, "x"), 10);
  /* ...and the master's own peer check with the socket open too: closed
   * before a byte is answered. */
  ASSERT_EQ(chmod(sock, 0666), 0);
  ASSERT_EQ(as_other_uid_at(sock, "x"), 11);
  ASSERT_EQ(chmod(sock, 0600), 0);
  ASSERT_EQ(chmod(cmdir, 0700), 0);
  ASSERT_EQ(chmod(h.dir, 0700), 0);
  ASSERT_EQ(chmod(h.top, 0700), 0);
  /* Ours still rides it: one local connection to sshmuxd in all. */
  ASSERT_EQ(test_run_simple(
                rh_ssh_setup(&h, (const char *[]){"r1", "echo two", NULL}),
                &out, NULL),
            0);
  ASSERT_STR_EQ(out, "two\n");
  free(out);
  ASSERT_EQ(test_count_in_file(log, "accepted \"r1\""), 1);
  ASSERT_EQ(test_count_in_file(log, "new session channel on route r1"), 2);
  ASSERT_EQ(test_run_simple(
                rh_ssh_setup(&h, (const char *[]){"-O", "exit", "r1", NULL}),
                NULL, NULL),
            0);
  rh_stop(&h);
  test_sshd_stop(&s);
  rh_remove_short(&h);
  return 0;
}
