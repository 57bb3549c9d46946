/* test-daemon-config.c -- `sshmuxd check-config` and `sshmuxd setup-config`
 * run as a user would, in a throwaway HOME: the routes printed or the
 * FILE:LINE error; the files setup-config writes, checked by OpenSSH's own
 * `ssh -G`; a second run that changes nothing; a conflicting Host block
 * commented out, its Host line split as ssh splits it (quotes, escapes, a
 * trailing comment); symlinks refused with nothing written; the local
 * ControlMaster lines, their opt-outs, their 0700 directory, and the note
 * when its socket paths would not fit. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "daemon-helpers.h"

static const char routes[] = "[jump]\n"
                             "host = bastion.example.com\n"
                             "user = jumpuser\n"
                             "[jumps.eu]\n"
                             "host = eu-bastion.example.com\n"
                             "user = ops\n"
                             "[routes.webserver]\n"
                             "host = 10.0.0.10\n"
                             "user = deploy\n"
                             "identity = ~/.ssh/id_ed25519\n"
                             "[routes.external]\n"
                             "host = 203.0.113.50\n"
                             "user = ops\n"
                             "direct = true\n"
                             "identity_agent = ~/agent.sock\n";

static void write_routes(void) {
  dtest_write(dtest_ssh_path("sshmux-routes.ini"), routes);
}

static const char *const setup_args[] = {"setup-config", NULL};

TEST_IMPL(daemon_check_config_good) {
  const char *args[] = {"check-config", NULL};
  char *out = NULL, *err = NULL, want[1200];

  dtest_setup();
  write_routes();
  ASSERT_EQ(dtest_run(args, NULL, &out, &err), 0);
  snprintf(want, sizeof(want), "%s: OK (2 routes, 2 jumps)",
           dtest_ssh_path("sshmux-routes.ini"));
  ASSERT_STR_CONTAINS(out, want);
  ASSERT_STR_CONTAINS(out, "route webserver  (line 7)");
  ASSERT_STR_CONTAINS(out, "target     deploy@10.0.0.10:22");
  ASSERT_STR_CONTAINS(out, "chain      default -> webserver");
  snprintf(want, sizeof(want), "identity   %s", dtest_ssh_path("id_ed25519"));
  ASSERT_STR_CONTAINS(out, want);
  ASSERT_STR_CONTAINS(out, "chain      external  (direct)");
  /* The agent: SSH_AUTH_SOCK unless the hop names one. */
  ASSERT_STR_CONTAINS(out, "identity   (every key of the agent)\n"
                           "  agent      SSH_AUTH_SOCK");
  snprintf(want, sizeof(want), "agent      %s", dtest_home_path("agent.sock"));
  ASSERT_STR_CONTAINS(out, want);
  ASSERT_STR_EQ(err, "");
  /* check-config writes nothing, not even a log. */
  ASSERT(access(dtest_ssh_path("sshmux.log"), F_OK) != 0);
  free(out);
  free(err);
  return 0;
}

TEST_IMPL(daemon_check_config_bad) {
  const char *args[] = {"check-config", "--config", NULL, NULL};
  char *out = NULL, *err = NULL, want[1200];

  dtest_setup();
  dtest_write(test_path("bad.ini"), "[routes.a]\nhost = h\nuser = u\n\n"
                                    "hostnme = x\n");
  args[2] = test_path("bad.ini");
  ASSERT_EQ(dtest_run(args, NULL, &out, &err), 1);
  snprintf(want, sizeof(want), "sshmuxd: %s:5: unknown key 'hostnme'",
           test_path("bad.ini"));
  ASSERT_STR_CONTAINS(err, want);
  ASSERT_STR_EQ(out, "");
  free(out);
  free(err);
  /* A missing file is an error too, named. */
  args[2] = test_path("none.ini");
  dtest_expect(args, 1, NULL, "none.ini: no such file or directory");
  return 0;
}

TEST_IMPL(daemon_help_and_usage) {
  static const char *const cmds[] = {"check-config", "setup-config", "install",
                                     "uninstall"};
  const char *args[3] = {NULL, "--help", NULL};
  const char *bad[] = {"no-such-command", NULL};
  const char *badopt[] = {"setup-config", "--port", "0", NULL};
  char *out = NULL, want[64];
  size_t i;

  dtest_setup();
  for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
    args[0] = cmds[i];
    ASSERT_EQ(dtest_run(args, NULL, &out, NULL), 0);
    snprintf(want, sizeof(want), "usage: sshmuxd %s", cmds[i]);
    ASSERT_STR_CONTAINS(out, want);
    ASSERT_STR_CONTAINS(out, "--ssh-dir DIR");
    free(out);
  }
  args[0] = "help";
  args[1] = "install";
  dtest_expect(args, 0, "usage: sshmuxd install", NULL);
  dtest_expect(bad, 2, NULL, "unknown command 'no-such-command'");
  dtest_expect(badopt, 2, NULL, "--port: expected 1-65535");
  return 0;
}

/* Create the user's own key pair, which setup-config names as IdentityFile. */
static void user_key(void) {
  dtest_write(dtest_ssh_path("id_ed25519"), "not parsed by setup-config\n");
  dtest_write(dtest_ssh_path("id_ed25519.pub"), "ssh-ed25519 AAAA x\n");
}

TEST_IMPL(daemon_setup_config_writes) {
  const char *args[] = {"setup-config", "--port", "2345", NULL};
  char *out = NULL, *hosts, *known, *cfg, *pub, line[2048], want[1200];
  struct stat st;

  dtest_setup();
  write_routes();
  user_key();
  ASSERT_EQ(dtest_run(args, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "created host key");
  ASSERT_STR_CONTAINS(out, "added Include");
  ASSERT_STR_CONTAINS(out, "2 route(s) set up");
  free(out);

  hosts = test_read_file(dtest_ssh_path("sshmux-hosts.conf"), NULL);
  ASSERT(hosts != NULL);
  ASSERT_STR_CONTAINS(hosts, "\nHost webserver\n    HostName 127.0.0.1\n"
                             "    Port 2345\n    User webserver\n");
  ASSERT_STR_CONTAINS(hosts, "\nHost external\n");
  snprintf(want, sizeof(want), "    IdentityFile %s\n",
           dtest_ssh_path("id_ed25519"));
  ASSERT_STR_CONTAINS(hosts, want);
  snprintf(want, sizeof(want), "    UserKnownHostsFile %s\n",
           dtest_ssh_path("sshmux-known-hosts"));
  ASSERT_STR_CONTAINS(hosts, want);
  ASSERT_STR_CONTAINS(hosts, "    HostKeyAlias sshmuxd\n"
                             "    HostKeyAlgorithms ecdsa-sha2-nistp256,"
                             "ssh-ed25519\n"
                             "    UserKnownHostsFile");
  /* AES-256-GCM first exactly where our server runs it on AES-NI. */
  if (sshmux__cipher_accelerated("aes256-gcm@openssh.com"))
    ASSERT_STR_CONTAINS(hosts, "\n    Ciphers aes256-gcm@openssh.com,"
                               "chacha20-poly1305@openssh.com,"
                               "aes128-gcm@openssh.com,aes256-ctr,aes128-ctr\n"
                               "    StrictHostKeyChecking yes\n");
  else
    ASSERT(strstr(hosts, "Ciphers") == NULL);
  ASSERT_STR_CONTAINS(hosts, "    StrictHostKeyChecking yes\n"
                             "    PreferredAuthentications publickey\n"
                             "    PasswordAuthentication no\n"
                             "    KbdInteractiveAuthentication no\n");
  free(hosts);

  /* The known-hosts file holds exactly the host keys' public halves. */
  known = test_read_file(dtest_ssh_path("sshmux-known-hosts"), NULL);
  ASSERT(known != NULL);
  pub = test_read_file(dtest_ssh_path("sshmux_host_ed25519_key.pub"), NULL);
  ASSERT(pub != NULL && strncmp(pub, "ssh-ed25519 ", 12) == 0);
  *strchr(pub + 12, ' ') = '\0'; /* drop the comment, if any */
  snprintf(line, sizeof(line), "\nsshmuxd %s\n", pub);
  ASSERT_STR_CONTAINS(known, line);
  free(pub);
  pub = test_read_file(dtest_ssh_path("sshmux_host_ecdsa_key.pub"), NULL);
  ASSERT(pub != NULL && strncmp(pub, "ecdsa-sha2-nistp256 ", 20) == 0);
  *strchr(pub + 20, ' ') = '\0';
  snprintf(line, sizeof(line), "\nsshmuxd %s\n", pub);
  ASSERT_STR_CONTAINS(known, line);
  free(pub);
  free(known);

  /* The Include is the first directive of the (new) config. */
  cfg = test_read_file(dtest_ssh_path("config"), NULL);
  ASSERT(cfg != NULL);
  snprintf(want, sizeof(want), "\nInclude %s\n",
           dtest_ssh_path("sshmux-hosts.conf"));
  ASSERT_STR_CONTAINS(cfg, want);
  ASSERT(cfg[0] == '#');
  free(cfg);
  ASSERT_EQ(stat(dtest_ssh_path("sshmux-hosts.conf"), &st), 0);
  ASSERT_EQ(st.st_mode & 0777, 0600);
  ASSERT_EQ(stat(dtest_ssh_path("sshmux-known-hosts"), &st), 0);
  ASSERT_EQ(st.st_mode & 0777, 0600);
  ASSERT_EQ(stat(dtest_ssh_path("config"), &st), 0);
  ASSERT_EQ(st.st_mode & 0777, 0600);
  return 0;
}

TEST_IMPL(daemon_setup_config_ssh_reads_it) {
  const char *ssh[] = {"ssh", "-G", "-F", NULL, "webserver", NULL};
  char *out = NULL, want[1200];

  TEST_REQUIRE_PROGRAM("ssh");
  dtest_setup();
  write_routes();
  user_key();
  dtest_write(dtest_ssh_path("config"),
              "Host *\n    ProxyJump elsewhere.example\n    User someone\n");
  ASSERT_EQ(dtest_run(setup_args, NULL, NULL, NULL), 0);
  ssh[3] = dtest_ssh_path("config");
  ASSERT_EQ(test_run_simple(ssh, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "\nhostname 127.0.0.1\n");
  ASSERT_STR_CONTAINS(out, "\nport 2222\n");
  ASSERT_STR_CONTAINS(out, "user webserver\n");
  ASSERT_STR_CONTAINS(out, "\nhostkeyalias sshmuxd\n");
  /* The pinned ECDSA key is what ssh asks for first (fast to verify). */
  ASSERT_STR_CONTAINS(out,
                      "\nhostkeyalgorithms ecdsa-sha2-nistp256,ssh-ed25519\n");
  ASSERT_STR_CONTAINS(out, "\nstricthostkeychecking true\n");
  ASSERT_STR_CONTAINS(out, "\npasswordauthentication no\n");
  ASSERT_STR_CONTAINS(out, "\nkbdinteractiveauthentication no\n");
  ASSERT_STR_CONTAINS(out, "\npreferredauthentications publickey\n");
  snprintf(want, sizeof(want), "\nuserknownhostsfile %s\n",
           dtest_ssh_path("sshmux-known-hosts"));
  ASSERT_STR_CONTAINS(out, want);
  /* The user's catch-all ProxyJump does not capture our hosts. */
  ASSERT(strstr(out, "proxyjump elsewhere") == NULL);
  free(out);
  return 0;
}

/* Each file's bytes, inode and mtime: a rename-over would change them. */
typedef struct {
  char *data;
  size_t len;
  struct stat st;
} snap_t;

static void snap(snap_t *s, const char *path) {
  s->data = test_read_file(path, &s->len);
  ASSERT(s->data != NULL);
  ASSERT_EQ(stat(path, &s->st), 0);
}

static void same(const snap_t *s, const char *path) {
  snap_t now;

  snap(&now, path);
  ASSERT_EQ(now.len, s->len);
  ASSERT_MEM_EQ(now.data, s->data, s->len);
  ASSERT_EQ(now.st.st_ino, s->st.st_ino);
  ASSERT_EQ(now.st.st_mtime, s->st.st_mtime);
  free(now.data);
}

TEST_IMPL(daemon_setup_config_idempotent) {
  static const char *const files[] = {
      "config", "sshmux-hosts.conf", "sshmux-known-hosts",
      "sshmux_host_ed25519_key", "sshmux_host_ecdsa_key"};
  snap_t s[5];
  char *out = NULL;
  size_t i;

  dtest_setup();
  write_routes();
  dtest_write(dtest_ssh_path("config"),
              "Host webserver\n  User me\n\nHost other\n  User x\n");
  ASSERT_EQ(dtest_run(setup_args, NULL, NULL, NULL), 0);
  for (i = 0; i < 5; i++)
    snap(&s[i], dtest_ssh_path(files[i]));
  ASSERT_EQ(dtest_run(setup_args, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "nothing changed");
  ASSERT(strstr(out, "wrote") == NULL);
  ASSERT(strstr(out, "created") == NULL);
  ASSERT(strstr(out, "commented out") == NULL);
  for (i = 0; i < 5; i++) {
    same(&s[i], dtest_ssh_path(files[i]));
    free(s[i].data);
  }
  free(out);
  return 0;
}

TEST_IMPL(daemon_setup_config_conflict) {
  char *cfg;

  dtest_setup();
  write_routes();
  dtest_write(dtest_ssh_path("config"),
              "Host *\n  ServerAliveInterval 30\n\n"
              "Host webserver web\n  HostName 10.9.9.9\n  User me\n\n"
              "Host unrelated\n  HostName 10.1.1.1\n");
  dtest_expect(setup_args, 0,
               "config:4: commented out Host block naming "
               "route(s) webserver; it also named web",
               NULL);
  cfg = test_read_file(dtest_ssh_path("config"), NULL);
  ASSERT(cfg != NULL);
  ASSERT_STR_CONTAINS(cfg, "Host *\n  ServerAliveInterval 30\n\n");
  ASSERT_STR_CONTAINS(cfg, "# sshmuxd setup-config commented out this Host "
                           "block: it names route(s) webserver,");
  ASSERT_STR_CONTAINS(cfg, "#sshmuxd# Host webserver web\n"
                           "#sshmuxd#   HostName 10.9.9.9\n"
                           "#sshmuxd#   User me\n\n"
                           "Host unrelated\n  HostName 10.1.1.1\n");
  free(cfg);
  return 0;
}

/* The user's Host lines split as ssh splits them: a trailing comment that
 * mentions routes names none (the old splitter, double quotes only, took
 * its words for patterns and commented the block out), a single-quoted
 * route name names it (the old one kept the quotes), an escaped space or
 * backslash is no route.  What ssh itself resolves from the same file,
 * when it is installed, agrees.  A line with an unterminated quote, which
 * ssh refuses, is left alone with a note. */
TEST_IMPL(daemon_setup_config_conflict_quoting) {
  static const char user_cfg[] =
      "Host alpha 'web server' # webserver external\n"
      "  Port 1001\n"
      "Host back\\ slash web\\server ex\\ternal\n"
      "  Port 1002\n"
      "Host 'webserver' other\n"
      "  Port 1003\n";
  static const char *const resolved[][2] = {{"alpha", "\nport 1001\n"},
                                            {"webserver", "\nport 1003\n"},
                                            {"other", "\nport 1003\n"},
                                            {"external", "\nport 22\n"}};
  char *cfg, *out = NULL, *err = NULL;
  size_t i;

  dtest_setup();
  write_routes();
  if (test_which("ssh") != NULL) {
    const char *ssh[] = {"ssh", "-G", "-F", NULL, NULL, NULL};
    dtest_write(test_path("user-config"), user_cfg);
    ssh[3] = test_path("user-config");
    for (i = 0; i < sizeof(resolved) / sizeof(resolved[0]); i++) {
      ssh[4] = resolved[i][0];
      ASSERT_EQ(test_run_simple(ssh, &out, NULL), 0);
      ASSERT_STR_CONTAINS(out, resolved[i][1]);
      free(out);
    }
  }
  dtest_write(dtest_ssh_path("config"), user_cfg);
  dtest_expect(setup_args, 0,
               "config:5: commented out Host block naming "
               "route(s) webserver; it also named other",
               NULL);
  cfg = test_read_file(dtest_ssh_path("config"), NULL);
  ASSERT(cfg != NULL);
  ASSERT_STR_CONTAINS(cfg, "\nHost alpha 'web server' # webserver external\n"
                           "  Port 1001\n"
                           "Host back\\ slash web\\server ex\\ternal\n"
                           "  Port 1002\n");
  ASSERT_STR_CONTAINS(cfg, "#sshmuxd# Host 'webserver' other\n"
                           "#sshmuxd#   Port 1003\n");
  ASSERT_EQ(test_count(cfg, "commented out this Host block"), 1);
  free(cfg);

  /* ssh refuses the whole file for this line: noted, nothing commented. */
  dtest_write(dtest_ssh_path("config"), "Host webserver 'open\n  Port 1\n");
  if (test_which("ssh") != NULL) {
    const char *ssh[] = {"ssh", "-G", "-F", NULL, "webserver", NULL};
    ssh[3] = dtest_ssh_path("config");
    ASSERT(test_run_simple(ssh, NULL, &err) != 0);
    ASSERT_STR_CONTAINS(err, "invalid quotes");
    free(err);
  }
  ASSERT_EQ(dtest_run(setup_args, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "config:1: note: an unterminated quote: ssh "
                           "refuses this line");
  ASSERT(strstr(out, "commented out") == NULL);
  free(out);
  cfg = test_read_file(dtest_ssh_path("config"), NULL);
  ASSERT(cfg != NULL);
  ASSERT_STR_CONTAINS(cfg, "\nHost webserver 'open\n  Port 1\n");
  ASSERT(strstr(cfg, "#sshmuxd#") == NULL);
  free(cfg);
  return 0;
}

TEST_IMPL(daemon_setup_config_symlink_refused) {
  char *err = NULL, *real;

  dtest_setup();
  write_routes();
  dtest_write(test_path("real-config"), "Host x\n  User y\n");
  ASSERT_EQ(symlink(test_path("real-config"), dtest_ssh_path("config")), 0);
  ASSERT_EQ(dtest_run(setup_args, NULL, NULL, &err), 1);
  ASSERT_STR_CONTAINS(err, "symbolic link");
  ASSERT_STR_CONTAINS(err, "Nothing was changed");
  free(err);
  real = test_read_file(test_path("real-config"), NULL);
  ASSERT_STR_EQ(real, "Host x\n  User y\n");
  free(real);
  /* Refused before the first write: no file, no host key. */
  ASSERT(access(dtest_ssh_path("sshmux-hosts.conf"), F_OK) != 0);
  ASSERT(access(dtest_ssh_path("sshmux-known-hosts"), F_OK) != 0);
  ASSERT(access(dtest_ssh_path("sshmux_host_ed25519_key"), F_OK) != 0);
  /* A symlinked target among our own files is refused the same way. */
  ASSERT_EQ(unlink(dtest_ssh_path("config")), 0);
  ASSERT_EQ(
      symlink(test_path("real-config"), dtest_ssh_path("sshmux-hosts.conf")),
      0);
  dtest_expect(setup_args, 1, NULL,
               "sshmux-hosts.conf is (or is reached through) a "
               "symbolic link");
  ASSERT(access(dtest_ssh_path("config"), F_OK) != 0);
  return 0;
}

TEST_IMPL(daemon_setup_config_bad_routes) {
  char *err = NULL, want[1200];

  dtest_setup();
  dtest_write(dtest_ssh_path("sshmux-routes.ini"),
              "[routes.a]\nhost = h\nuser = u\njump = nowhere\n");
  ASSERT_EQ(dtest_run(setup_args, NULL, NULL, &err), 1);
  snprintf(want, sizeof(want), "%s:4: unknown jump 'nowhere'",
           dtest_ssh_path("sshmux-routes.ini"));
  ASSERT_STR_CONTAINS(err, want);
  free(err);
  ASSERT(access(dtest_ssh_path("config"), F_OK) != 0);
  ASSERT(access(dtest_ssh_path("sshmux-hosts.conf"), F_OK) != 0);
  ASSERT(access(dtest_ssh_path("sshmux_host_ed25519_key"), F_OK) != 0);
  return 0;
}

TEST_IMPL(daemon_setup_config_custom_ssh_dir) {
  const char *args[] = {"setup-config", "--ssh-dir", NULL, NULL};
  const char *env[] = {NULL, NULL};
  char envbuf[1200], *cfg, want[1200];

  dtest_setup();
  ASSERT_EQ(mkdir(test_path("alt"), 0700), 0);
  dtest_write(test_path("alt/sshmux-routes.ini"), routes);
  args[2] = test_path("alt");
  ASSERT_EQ(dtest_run(args, NULL, NULL, NULL), 0);
  cfg = test_read_file(test_path("alt/config"), NULL);
  snprintf(want, sizeof(want), "Include %s\n",
           test_path("alt/sshmux-hosts.conf"));
  ASSERT_STR_CONTAINS(cfg, want);
  free(cfg);
  /* Nothing went to the home's .ssh. */
  ASSERT(access(dtest_ssh_path("config"), F_OK) != 0);
  /* SSHMUX_SSH_DIR does the same. */
  ASSERT_EQ(mkdir(test_path("alt2"), 0700), 0);
  dtest_write(test_path("alt2/sshmux-routes.ini"), routes);
  snprintf(envbuf, sizeof(envbuf), "SSHMUX_SSH_DIR=%s", test_path("alt2"));
  env[0] = envbuf;
  ASSERT_EQ(dtest_run(setup_args, env, NULL, NULL), 0);
  ASSERT(access(test_path("alt2/sshmux-hosts.conf"), F_OK) == 0);
  ASSERT(access(dtest_ssh_path("config"), F_OK) != 0);
  return 0;
}

/* ---- the local ControlMaster in the Host blocks ---- */

/* setup-config --ssh-dir dir [more...]: its exit status, stdout in *out. */
static int setup_in(const char *dir, const char *more, char **out) {
  const char *args[] = {"setup-config", "--ssh-dir", dir, more, NULL};
  return dtest_run(args, NULL, out, NULL);
}

TEST_IMPL(daemon_setup_config_control_master) {
  const char *ssh[] = {"ssh", "-G", "-F", NULL, "webserver", NULL};
  char top[64], dir[96], cm[128], hostsp[128], cfgp[128], want[600];
  char *out = NULL, *hosts, *before;
  struct stat st;
  char *p;

  TEST_REQUIRE_PROGRAM("ssh");
  dtest_setup();
  /* A short SSH dir: DIR/sshmux-cm/%C and ssh's suffix fit in sun_path. */
  snprintf(top, sizeof(top), "/tmp/sshmux-sc-XXXXXX");
  ASSERT(mkdtemp(top) != NULL);
  snprintf(dir, sizeof(dir), "%s/ssh", top);
  ASSERT_EQ(mkdir(dir, 0700), 0);
  snprintf(cm, sizeof(cm), "%s/sshmux-cm", dir);
  snprintf(hostsp, sizeof(hostsp), "%s/sshmux-hosts.conf", dir);
  snprintf(cfgp, sizeof(cfgp), "%s/config", dir);
  snprintf(want, sizeof(want), "%s/sshmux-routes.ini", dir);
  dtest_write(want, routes);

  /* Default: every Host block gets the three lines, the directory 0700. */
  ASSERT_EQ(setup_in(dir, NULL, &out), 0);
  snprintf(want, sizeof(want), "created %s (0700) for the ControlMaster", cm);
  ASSERT_STR_CONTAINS(out, want);
  free(out);
  hosts = test_read_file(hostsp, NULL);
  ASSERT(hosts != NULL);
  snprintf(want, sizeof(want),
           "    ProxyJump none\n"
           "    ControlMaster auto\n"
           "    ControlPath %s/%%C\n"
           "    ControlPersist 300\n",
           cm);
  ASSERT_EQ(test_count(hosts, want), 2);
  free(hosts);
  ASSERT_EQ(lstat(cm, &st), 0);
  ASSERT(S_ISDIR(st.st_mode));
  ASSERT_EQ(st.st_mode & 07777, 0700);
  /* OpenSSH reads them so, the socket named by its %C hash. */
  ssh[3] = cfgp;
  ASSERT_EQ(test_run_simple(ssh, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "\ncontrolmaster auto\n");
  ASSERT_STR_CONTAINS(out, "\ncontrolpersist 300\n");
  snprintf(want, sizeof(want), "\ncontrolpath %s/", cm);
  p = strstr(out, want);
  ASSERT(p != NULL);
  p += strlen(want);
  ASSERT_EQ(strspn(p, "0123456789abcdef"), 40);
  ASSERT_EQ(p[40], '\n');
  free(out);
  /* Idempotent: a second run changes nothing. */
  ASSERT_EQ(setup_in(dir, NULL, &out), 0);
  ASSERT_STR_CONTAINS(out, "nothing changed");
  free(out);

  /* --no-control-master rewrites the blocks without it (the directory is
   * left: a master may still be using it), and is idempotent too. */
  ASSERT_EQ(setup_in(dir, "--no-control-master", &out), 0);
  ASSERT_STR_CONTAINS(out, "(Host blocks)");
  free(out);
  hosts = test_read_file(hostsp, NULL);
  ASSERT(strstr(hosts, "Control") == NULL);
  ASSERT_STR_CONTAINS(hosts, "    ProxyJump none\n");
  free(hosts);
  ASSERT_EQ(setup_in(dir, "--no-control-master", &out), 0);
  ASSERT_STR_CONTAINS(out, "nothing changed");
  free(out);
  /* The routes file's knob does the same: nothing to change now. */
  snprintf(want, sizeof(want), "%s/sshmux-routes.ini", dir);
  {
    char text[2048];
    snprintf(text, sizeof(text), "[defaults]\ncontrol_master = false\n%s",
             routes);
    dtest_write(want, text);
  }
  ASSERT_EQ(setup_in(dir, NULL, &out), 0);
  ASSERT_STR_CONTAINS(out, "nothing changed");
  free(out);
  dtest_write(want, routes);
  ASSERT_EQ(setup_in(dir, NULL, &out), 0);
  ASSERT_STR_CONTAINS(out, "(Host blocks)");
  free(out);
  hosts = test_read_file(hostsp, NULL);
  ASSERT_EQ(test_count(hosts, "    ControlMaster auto\n"), 2);
  free(hosts);

  /* A directory others may enter, or a symlink, is refused and nothing
   * at all is written. */
  before = test_read_file(hostsp, NULL);
  ASSERT_EQ(chmod(cm, 0755), 0);
  dtest_expect((const char *[]){"setup-config", "--ssh-dir", dir, "--port",
                                "2999", NULL},
               1, NULL, "has mode 0755, not 0700; refusing it");
  ASSERT_EQ(rmdir(cm), 0);
  ASSERT_EQ(symlink(top, cm), 0);
  dtest_expect((const char *[]){"setup-config", "--ssh-dir", dir, "--port",
                                "2999", NULL},
               1, NULL, "symbolic link");
  hosts = test_read_file(hostsp, NULL);
  ASSERT_STR_EQ(hosts, before);
  free(hosts);
  free(before);
  /* But opting out does without the directory. */
  ASSERT_EQ(setup_in(dir, "--no-control-master", &out), 0);
  free(out);
  ASSERT_EQ(unlink(cm), 0);
  ASSERT_EQ(
      test_run_simple((const char *[]){"rm", "-rf", top, NULL}, NULL, NULL), 0);
  return 0;
}

TEST_IMPL(daemon_setup_config_control_master_path_too_long) {
  /* DIR/sshmux-cm/ + 40 (%C) + 17 (ssh's suffix) must fit sun_path less
   * its NUL: on Linux (107) an SSH dir of up to 39 characters (ssh agrees:
   * a ControlPath directory of 49 characters binds, of 50 does not). */
  const int fit =
      (int)sizeof(((struct sockaddr_un *)0)->sun_path) - 1 - 58 - 10;
  char top[64], dir[128], path[300], want[80], *out = NULL, *hosts;
  int len;

  dtest_setup();
  snprintf(top, sizeof(top), "/tmp/sshmux-sc-XXXXXX"); /* 21 characters */
  ASSERT(mkdtemp(top) != NULL);
  ASSERT_GT(fit, 24);
  for (len = fit; len <= fit + 1; len++) {
    snprintf(dir, sizeof(dir), "%s/%.*s", top, len - 22,
             "dddddddddddddddddddddddddddddddddddddddd");
    ASSERT_EQ((int)strlen(dir), len);
    ASSERT_EQ(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/sshmux-routes.ini", dir);
    dtest_write(path, routes);
    ASSERT_EQ(setup_in(dir, NULL, &out), 0);
    ASSERT_STR_CONTAINS(out, "2 route(s) set up");
    snprintf(path, sizeof(path), "%s/sshmux-hosts.conf", dir);
    hosts = test_read_file(path, NULL);
    ASSERT(hosts != NULL);
    snprintf(path, sizeof(path), "%s/sshmux-cm", dir);
    if (len == fit) {
      ASSERT(strstr(out, "note: no ControlMaster") == NULL);
      ASSERT_EQ(test_count(hosts, "    ControlMaster auto\n"), 2);
      ASSERT_EQ(access(path, F_OK), 0);
    } else {
      ASSERT_STR_CONTAINS(out, "note: no ControlMaster in the Host blocks");
      snprintf(want, sizeof(want), "an SSH dir of at most %d characters fits",
               fit);
      ASSERT_STR_CONTAINS(out, want);
      ASSERT(strstr(hosts, "Control") == NULL);
      ASSERT(access(path, F_OK) != 0);
    }
    free(hosts);
    free(out);
  }
  ASSERT_EQ(
      test_run_simple((const char *[]){"rm", "-rf", top, NULL}, NULL, NULL), 0);
  return 0;
}
