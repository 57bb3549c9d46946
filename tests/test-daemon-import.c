/* test-daemon-import.c -- `sshmuxd import-config`: routes from an OpenSSH
 * configuration as the real `ssh -G` resolves it (Include, a wildcard
 * block, a Match block, a two-hop ProxyJump), checked by check-config;
 * names that cannot be routes reported one by one; a second run that
 * changes nothing; a hand-written route refused without --force and
 * replaced with it (its other keys kept); an imported route updated when
 * ssh_config changes, but not once edited by hand; Host names split as ssh
 * splits them; the `ssh -G` output parser's and the ssh_config argument
 * splitter's contracts.  The end-to-end run through serve to real sshds is in
 * test-relay-import.c. */
#include <sys/stat.h>
#include <unistd.h>

#include "sshcfg.h" /* daemon/, through -Idaemon */
#include "daemon-helpers.h"

static char ssh_dir_env[1200];

/* Run import-config (or any command) with the throwaway SSH dir named
 * explicitly, so ssh -G reads its config and not the account's. */
static int run(const char *const *args, char **out, char **err) {
  const char *env[] = {ssh_dir_env, NULL};

  snprintf(ssh_dir_env, sizeof(ssh_dir_env), "SSHMUX_SSH_DIR=%s",
           dtest_home_path(".ssh"));
  return dtest_run(args, env, out, err);
}

static void write_config(const char *web_port) {
  char cfg[4096], inc[2048];

  snprintf(inc, sizeof(inc),
           "Host j1\n"
           "    HostName 192.0.2.1\n"
           "    Port 2201\n"
           "    User hop1\n"
           "    IdentityFile %s\n"
           "    IdentityAgent none\n"
           "Host j2\n"
           "    HostName 192.0.2.2\n"
           "    User hop2\n",
           dtest_ssh_path("id_j1"));
  dtest_write(dtest_home_path("conf.d/jumps.conf"), inc);
  snprintf(cfg, sizeof(cfg),
           "Include %s/*.conf\n"
           "Host web.lab db.lab\n"
           "    ProxyJump j1,j2\n"
           "    Port %s\n"
           "Host *.lab\n"
           "    User deploy\n"
           "Match host db.lab\n"
           "    IdentityFile ~/.ssh/id_db\n"
           "Host plain\n"
           "    HostName 198.51.100.7\n"
           "Host weird\n"
           "    HostName \"bad\rname\"\n"
           "Host spaced\n"
           "    HostName \"a b\"\n"
           "Host proxied\n"
           "    ProxyCommand nc %%h %%p\n"
           "Host !neg bad%%name\n"
           "    User x\n",
           dtest_home_path("conf.d"), web_port);
  dtest_write(dtest_ssh_path("config"), cfg);
}

static char *routes_text(void) {
  char *t = test_read_file(dtest_ssh_path("sshmux-routes.ini"), NULL);
  ASSERT(t != NULL);
  return t;
}

TEST_IMPL(daemon_import_config) {
  const char *args[] = {"import-config", NULL};
  const char *check[] = {"check-config", NULL};
  char *out = NULL, *err = NULL, *t1, *t2;
  struct stat st1, st2;

  TEST_REQUIRE_PROGRAM("ssh");
  dtest_setup();
  mkdir(dtest_home_path("conf.d"), 0700);
  write_config("2222");
  /* No HOST: every Host name of the config and its Include. */
  ASSERT_EQ(run(args, &out, &err), 0);
  ASSERT_STR_CONTAINS(out, "@@ [routes.web.lab] new @@");
  ASSERT_STR_CONTAINS(out, "+host = web.lab");
  ASSERT_STR_CONTAINS(out, "wrote ");
  /* Reported, not dropped: the wildcard, the Match block, the negation,
   * the invalid name, a CR in a value, a space in a host, ProxyCommand. */
  ASSERT_STR_CONTAINS(err, "Host *.lab: a pattern, not a host");
  ASSERT_STR_CONTAINS(err, "Host !neg: a pattern");
  ASSERT_STR_CONTAINS(err, "bad%name: not imported: not a route name");
  ASSERT_STR_CONTAINS(err, "weird: not imported: `ssh -G weird` output, "
                           "line ");
  ASSERT_STR_CONTAINS(err, "hostname: carriage return in value");
  ASSERT_STR_CONTAINS(err, "spaced: not imported: the routes file would "
                           "refuse it: bad host 'a b'");
  ASSERT_STR_CONTAINS(err, "proxied: not imported: proxied uses ProxyCommand");
  ASSERT_STR_CONTAINS(out, "a Match block names no host to import");
  /* IdentityAgent: imported where the routes format has identity_agent
   * (issue 10 part 2), else reported. */
  t1 = routes_text();
  if (strstr(out, "IdentityAgent none not imported (this routes file "
                  "format has no identity_agent") == NULL)
    ASSERT_STR_CONTAINS(t1, "identity_agent = none\n");
  else
    ASSERT(strstr(t1, "identity_agent") == NULL);
  free(t1);
  free(out);
  free(err);

  /* What the routes loader makes of it. */
  ASSERT_EQ(run(check, &out, &err), 0);
  ASSERT_STR_CONTAINS(out, "OK (5 routes, 2 jumps)");
  ASSERT_STR_CONTAINS(out, "target     deploy@web.lab:2222\n"
                           "  chain      j1 -> j2 -> web.lab\n");
  /* ssh's built-in default keys are not written as an identity. */
  t1 = routes_text();
  ASSERT_STR_CONTAINS(t1, "host = web.lab\nport = 2222\nuser = deploy\n"
                          "jump = j2\n");
  free(t1);
  /* The Match block gave db.lab its key; the wildcard its user. */
  {
    char want[1500];
    snprintf(want, sizeof(want),
             "target     deploy@db.lab:2222\n"
             "  chain      j1 -> j2 -> db.lab\n"
             "  identity   %s",
             dtest_ssh_path("id_db"));
    ASSERT_STR_CONTAINS(out, want);
    snprintf(want, sizeof(want),
             "target     hop1@192.0.2.1:2201\n  chain      j1  (direct)\n"
             "  identity   %s",
             dtest_ssh_path("id_j1"));
    ASSERT_STR_CONTAINS(out, want);
  }
  ASSERT_STR_CONTAINS(out, "target     hop2@192.0.2.2:22\n"
                           "  chain      j1 -> j2\n");
  ASSERT_STR_CONTAINS(out, "target     root@198.51.100.7:22\n"
                           "  chain      plain  (direct)");
  free(out);
  free(err);

  /* Twice: nothing changes, the file is not even rewritten. */
  t1 = routes_text();
  ASSERT_EQ(stat(dtest_ssh_path("sshmux-routes.ini"), &st1), 0);
  ASSERT_EQ(run(args, &out, &err), 0);
  ASSERT_STR_CONTAINS(out, "nothing changed");
  ASSERT(strstr(out, "@@") == NULL);
  t2 = routes_text();
  ASSERT_STR_EQ(t1, t2);
  ASSERT_EQ(stat(dtest_ssh_path("sshmux-routes.ini"), &st2), 0);
  ASSERT_EQ(st1.st_ino, st2.st_ino);
  ASSERT_EQ((st2.st_mode & 0777), 0600);
  free(t1);
  free(t2);
  free(out);
  free(err);

  /* ssh_config changes: an imported, untouched route follows. */
  write_config("2323");
  {
    const char *a[] = {"import-config", "web.lab", NULL};
    ASSERT_EQ(run(a, &out, &err), 0);
    ASSERT_STR_CONTAINS(out, "@@ [routes.web.lab] updated");
    ASSERT_STR_CONTAINS(out, "-port = 2222\n");
    ASSERT_STR_CONTAINS(out, "+port = 2323\n");
    free(out);
    free(err);
    t1 = routes_text();
    ASSERT_STR_CONTAINS(t1, "host = web.lab\nport = 2323\n");
    free(t1);
  }
  return 0;
}

TEST_IMPL(daemon_import_config_force) {
  const char *a[] = {"import-config", "web.lab", NULL};
  const char *af[] = {"import-config", "--force", "web.lab", NULL};
  const char hand[] = "# my own routes\n"
                      "[routes.web.lab]\n"
                      "host = 10.9.9.9\n"
                      "user = me\n"
                      "keepalive = 30\n"
                      "direct = true\n";
  char *out = NULL, *err = NULL, *t;

  TEST_REQUIRE_PROGRAM("ssh");
  dtest_setup();
  mkdir(dtest_home_path("conf.d"), 0700);
  write_config("2222");
  dtest_write(dtest_ssh_path("sshmux-routes.ini"), hand);
  /* Hand-written and different: refused, the diff shown, nothing written. */
  ASSERT_EQ(run(a, &out, &err), 1);
  ASSERT_STR_CONTAINS(out, "@@ [routes.web.lab] written by hand: NOT "
                           "replaced without --force @@");
  ASSERT_STR_CONTAINS(out, "-host = 10.9.9.9");
  ASSERT_STR_CONTAINS(err, "Rerun with --force");
  t = routes_text();
  ASSERT_STR_EQ(t, hand);
  free(t);
  free(out);
  free(err);
  /* --dry-run with --force: the diff, still nothing written. */
  {
    const char *ad[] = {"import-config", "--force", "-n", "web.lab", NULL};
    ASSERT_EQ(run(ad, &out, &err), 0);
    ASSERT_STR_CONTAINS(out, "replaced (--force)");
    ASSERT_STR_CONTAINS(out, "dry run");
    t = routes_text();
    ASSERT_STR_EQ(t, hand);
    free(t);
    free(out);
    free(err);
  }
  /* --force: replaced; the key import-config does not manage is kept, the
   * comment above the section too. */
  ASSERT_EQ(run(af, &out, &err), 0);
  free(out);
  free(err);
  t = routes_text();
  ASSERT_STR_CONTAINS(t, "# my own routes\n[routes.web.lab]\n; imported by");
  ASSERT_STR_CONTAINS(t, "host = web.lab\nport = 2222\nuser = deploy\n"
                         "jump = j2\nkeepalive = 30\n");
  ASSERT(strstr(t, "10.9.9.9") == NULL);
  free(t);
  /* Now imported; edited by hand afterwards, it is hand-written again. */
  {
    char *t2 = routes_text(), *p = strstr(t2, "port = 2222");
    ASSERT(p != NULL);
    memcpy(p, "port = 2224", 11);
    dtest_write(dtest_ssh_path("sshmux-routes.ini"), t2);
    write_config("2323");
    ASSERT_EQ(run(a, &out, &err), 1);
    ASSERT_STR_CONTAINS(out, "written by hand");
    t = routes_text();
    ASSERT_STR_EQ(t, t2);
    free(t);
    free(t2);
    free(out);
    free(err);
  }
  return 0;
}

TEST_IMPL(daemon_import_config_bad_routes) {
  const char *a[] = {"import-config", "web.lab", NULL};
  char *out = NULL, *err = NULL;

  TEST_REQUIRE_PROGRAM("ssh");
  dtest_setup();
  mkdir(dtest_home_path("conf.d"), 0700);
  write_config("2222");
  dtest_write(dtest_ssh_path("sshmux-routes.ini"), "[routes.x]\nhost = a\n");
  ASSERT_EQ(run(a, &out, &err), 1);
  ASSERT_STR_CONTAINS(err, "route 'x' has no 'user'");
  ASSERT_STR_CONTAINS(err, "fix the routes file first");
  free(out);
  free(err);
  /* A named host ssh cannot resolve: exit 1, reason given. */
  write_config("2222");
  dtest_write(dtest_ssh_path("sshmux-routes.ini"), "");
  {
    const char *b[] = {"import-config", "-x", NULL};
    ASSERT_EQ(run(b, &out, &err), 2);
    free(out);
    free(err);
  }
  return 0;
}

/* The `ssh -G` parser's contract (what a fuzz target relies on). */
TEST_IMPL(daemon_sshg_parse) {
  static sshmuxd_sshg_t g;
  char err[200];
  const char ok[] = "host web\nuser deploy\nhostname 10.0.0.1\nport 2222\n"
                    "identityfile ~/.ssh/a\nidentityfile /k b\n"
                    "proxyjump j1,u@j2:22\nsendenv LANG\x01\n"
                    "HostKeyAlias x";
  char big[SSHMUXD_SSHG_MAX_INPUT + 2];

  ASSERT_EQ(sshmuxd_sshg_parse(ok, sizeof(ok) - 1, &g, err, sizeof(err)), 0);
  ASSERT_STR_EQ(g.user, "deploy");
  ASSERT_STR_EQ(g.hostname, "10.0.0.1");
  ASSERT_EQ(g.port, 2222);
  ASSERT_EQ(g.nidentity, 2);
  ASSERT_STR_EQ(g.identity[1], "/k b");
  ASSERT_STR_EQ(g.proxyjump, "j1,u@j2:22");
  ASSERT_STR_EQ(g.hostkeyalias, "x"); /* last line without '\n' */
  ASSERT_EQ(g.has_proxycommand, 0);
  /* CR, NUL, control characters in a kept value. */
  ASSERT_EQ(sshmuxd_sshg_parse("user a\rb\nhostname h\nport 1\n", 27, &g, err,
                               sizeof(err)),
            SSHMUXD_SSHG_EVALUE);
  ASSERT_STR_EQ(err, "line 1: user: carriage return in value");
  ASSERT_EQ(sshmuxd_sshg_parse("user a\0b\nhostname h\nport 1\n", 27, &g, err,
                               sizeof(err)),
            SSHMUXD_SSHG_EVALUE);
  ASSERT_STR_CONTAINS(err, "NUL byte");
  ASSERT_EQ(sshmuxd_sshg_parse("user a\nuser b\nhostname h\nport 1\n", 32, &g,
                               err, sizeof(err)),
            SSHMUXD_SSHG_EVALUE);
  ASSERT_STR_CONTAINS(err, "given twice");
  ASSERT_EQ(sshmuxd_sshg_parse("user a\nhostname h\nport 65536\n", 29, &g, err,
                               sizeof(err)),
            SSHMUXD_SSHG_EVALUE);
  ASSERT_EQ(
      sshmuxd_sshg_parse("user a\nhostname h\n", 18, &g, err, sizeof(err)),
      SSHMUXD_SSHG_EMISSING);
  ASSERT_EQ(sshmuxd_sshg_parse("user \nhostname h\nport 1\n", 24, &g, err,
                               sizeof(err)),
            SSHMUXD_SSHG_EVALUE);
  memset(big, 'a', sizeof(big));
  ASSERT_EQ(sshmuxd_sshg_parse(big, sizeof(big), &g, err, sizeof(err)),
            SSHMUXD_SSHG_ETOOBIG);
  /* A value one byte too long; err_size 0 writes nothing. */
  {
    static char line[SSHMUXD_SSHG_MAX_VALUE + 20];
    size_t n = (size_t)snprintf(line, sizeof(line), "user ");
    memset(line + n, 'u', SSHMUXD_SSHG_MAX_VALUE + 1);
    n += SSHMUXD_SSHG_MAX_VALUE + 1;
    ASSERT_EQ(sshmuxd_sshg_parse(line, n, &g, NULL, 0), SSHMUXD_SSHG_EVALUE);
  }
  return 0;
}

/* Host lines split as ssh splits them (checked with `ssh -G`, OpenSSH
 * 9.2): a single-quoted name, a backslash-escaped space and a trailing
 * comment.  The old splitter (double quotes only) imported `'alpha'`
 * nowhere and the comment's words as hosts. */
TEST_IMPL(daemon_import_config_split) {
  const char *args[] = {"import-config", NULL};
  char *out = NULL, *err = NULL, *t;

  TEST_REQUIRE_PROGRAM("ssh");
  dtest_setup();
  dtest_write(dtest_ssh_path("config"),
              "Host 'alpha' back\\ slash # ghost beta\n"
              "    HostName 192.0.2.9\n"
              "    User u\n"
              "Host gamma\t#\n"
              "    HostName 192.0.2.10\n"
              "    User v\n");
  ASSERT_EQ(run(args, &out, &err), 0);
  ASSERT_STR_CONTAINS(out, "@@ [routes.alpha] new @@");
  ASSERT_STR_CONTAINS(out, "@@ [routes.gamma] new @@");
  ASSERT_STR_CONTAINS(err, "back slash: not imported: not a route name");
  t = routes_text();
  ASSERT_STR_CONTAINS(t, "[routes.alpha]\n");
  ASSERT_STR_CONTAINS(t, "host = 192.0.2.9\n");
  ASSERT(strstr(t, "ghost") == NULL && strstr(t, "beta") == NULL);
  ASSERT(strstr(t, "'") == NULL && strstr(t, "#]") == NULL);
  free(t);
  ASSERT(strstr(err, "ghost") == NULL && strstr(err, "'alpha'") == NULL);
  free(out);
  free(err);
  return 0;
}

/* Split args as sshmuxd_sshcfg_arg does: the values joined by '|', then
 * "!" if it ended at an unterminated quote. */
static void split(const char *args, char *got, size_t size) {
  const char *s = args, *e = args + strlen(args);
  char arg[64];
  int r;

  got[0] = '\0';
  while ((r = sshmuxd_sshcfg_arg(&s, e, arg, sizeof(arg), NULL)) > 0)
    snprintf(got + strlen(got), size - strlen(got), "%s%s", got[0] ? "|" : "",
             arg);
  ASSERT(r == 0 || r == SSHMUXD_SSHCFG_EQUOTE);
  ASSERT(s == e);
  if (r < 0) {
    ASSERT_STR_EQ(arg, "");
    snprintf(got + strlen(got), size - strlen(got), "!");
  }
  ASSERT_EQ(sshmuxd_sshcfg_args_ok(args, e), r == 0);
}

/* sshmuxd_sshcfg_arg splits as OpenSSH 9.2's argv_split does; every
 * expected list is what `ssh -G` printed for `SendEnv ARGS` (one sendenv
 * line per argument; "invalid quotes" for a "!" one, where ssh refuses
 * the whole line). */
TEST_IMPL(daemon_sshcfg_arg) {
  static const char *const cases[][2] = {
      {"alpha 'b c' # trailing comment", "alpha|b c"},
      {"back\\ slash", "back slash"},
      {"it\\'s \"q\\\"t\" 'a\\'b' 'x\"y'", "it's|q\"t|a'b|x\"y"},
      {"a\\\\b c\\xd \"e\\ f\" \"g\\\\h\" 'i\\ j'",
       "a\\b|c\\xd|e\\ f|g\\h|i\\ j"},
      {"a\\\tb", "a\\|b"},
      {"a\"b c\"d e'f\"g'h", "ab cd|ef\"gh"},
      {"x\\#y #z", "x\\#y"},
      {"\"#q\" r a#b#c x\t#y", "#q|r|a#b#c|x"},
      {"a\\", "a\\"},
      {"\"a\" b\"\" c", "a|b|c"},
      {"  ab\tcd  ", "ab|cd"},
      {"#only", ""},
      {"'unterminated", "!"},
      {"ok \"unterminated", "ok!"},
      {"\"a\\\" b", "!"},
      {"'b c\\'", "!"},
      {"x 'y # z", "x!"},
  };
  char got[256], out[4];
  const char *s, *e;
  size_t i;
  int cut = 0;

  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    split(cases[i][0], got, sizeof(got));
    if (strcmp(got, cases[i][1]) != 0)
      test_fail(__FILE__, __LINE__, "split [%s]: got [%s], want [%s]",
                cases[i][0], got, cases[i][1]);
  }
  /* A NUL ends the line, as it ends ssh's C string. */
  s = "a\0b c";
  e = s + 5;
  ASSERT_EQ(sshmuxd_sshcfg_arg(&s, e, out, sizeof(out), NULL), 1);
  ASSERT_STR_EQ(out, "a");
  ASSERT_EQ(sshmuxd_sshcfg_arg(&s, e, out, sizeof(out), NULL), 0);
  ASSERT(s == e);
  /* Cut after the unquoting, *cut set; not set for a shorter one. */
  s = "'a b c' 'd'";
  e = s + strlen(s);
  ASSERT_EQ(sshmuxd_sshcfg_arg(&s, e, out, sizeof(out), &cut), 1);
  ASSERT_STR_EQ(out, "a b");
  ASSERT_EQ(cut, 1);
  cut = 0;
  ASSERT_EQ(sshmuxd_sshcfg_arg(&s, e, out, sizeof(out), &cut), 1);
  ASSERT_STR_EQ(out, "d");
  ASSERT_EQ(cut, 0);
  /* No buffer at all. */
  s = "x 'y";
  e = s + 4;
  ASSERT_EQ(sshmuxd_sshcfg_arg(&s, e, NULL, 0, &cut), 1);
  ASSERT_EQ(sshmuxd_sshcfg_arg(&s, e, NULL, 0, &cut), SSHMUXD_SSHCFG_EQUOTE);
  ASSERT_EQ(cut, 1);
  return 0;
}
