/* test-routes.c -- the routes file: the example loads with every
 * value right; each validation error is refused with the exact FILE:LINE;
 * chains, cycles, defaults; the forwarding and env policies. */
#include <unistd.h>

#include <uv.h>

#include "routes/routes.h"
#include "test.h"

static const char example[] =
    "[defaults]          ; optional: idle_timeout = 600, max_lifetime = "
    "43200, keepalive = 15\n"
    "[jump]              ; the default jump host\n"
    "host = bastion.example.com\n"
    "port = 22\n"
    "user = jumpuser\n"
    "[jumps.eu]          ; optional named jump hosts\n"
    "host = eu-bastion.example.com\n"
    "user = ops\n"
    "[routes.webserver]\n"
    "host = 10.0.0.10\n"
    "port = 22\n"
    "user = deploy\n"
    "identity = ~/.ssh/id_ed25519   ; optional\n"
    "[routes.external]\n"
    "host = 203.0.113.50\n"
    "user = ops\n"
    "direct = true       ; bypasses the jump host\n";

/* Load text from a real file (through the public loader). */
static int load(const char *text, sshmux_routes_t **r, char *err) {
  ASSERT_EQ(test_write_file(test_path("r.ini"), text, 0600), 0);
  return sshmux_routes_load(r, test_path("r.ini"), "/home/u", err,
                            SSHMUX_ROUTES_ERR_MAX);
}

static sshmux_routes_t *load_ok(const char *text) {
  char err[SSHMUX_ROUTES_ERR_MAX] = "";
  sshmux_routes_t *r = NULL;
  int rc = load(text, &r, err);

  if (rc != 0)
    test_fail(__FILE__, __LINE__, "load failed (%s): %s", sshmux_err_name(rc),
              err);
  ASSERT(r != NULL);
  return r;
}

/* The text must be refused with exactly "<path>:<line>: <...problem...>". */
static void expect_error_at(const char *text, size_t len, int line,
                            const char *problem) {
  char err[SSHMUX_ROUTES_ERR_MAX] = "", want[1100];
  sshmux_routes_t *r = (sshmux_routes_t *)&r; /* must be reset to NULL */
  FILE *f = fopen(test_path("r.ini"), "wb");

  ASSERT(f != NULL);
  ASSERT_EQ(fwrite(text, 1, len, f), len);
  ASSERT_EQ(fclose(f), 0);
  ASSERT_ERR(
      sshmux_routes_load(&r, test_path("r.ini"), "/home/u", err, sizeof(err)),
      SSHMUX_ECONFIG);
  ASSERT(r == NULL);
  snprintf(want, sizeof(want), "%s:%d: ", test_path("r.ini"), line);
  if (strncmp(err, want, strlen(want)) != 0)
    test_fail(__FILE__, __LINE__, "error \"%s\" does not start with \"%s\"",
              err, want);
  ASSERT_STR_CONTAINS(err, problem);
}

static void expect_error(const char *text, int line, const char *problem) {
  expect_error_at(text, strlen(text), line, problem);
}

#define ROUTE "[routes.a]\nhost = h\nuser = u\n"

/* A route's idle timeout, maximum lifetime, keepalive (seconds) and
 * accept_new_hostkey. */
static void expect_timers(const sshmux_route_t *rt, int idle, int lifetime,
                          int keepalive, int accept_new) {
  ASSERT_EQ(sshmux_route_idle_timeout(rt), idle);
  ASSERT_EQ(sshmux_route_max_lifetime(rt), lifetime);
  ASSERT_EQ(sshmux_route_keepalive(rt), keepalive);
  ASSERT_EQ(sshmux_route_accept_new_hostkey(rt), accept_new);
}

TEST_IMPL(routes_example_parses) {
  sshmux_routes_t *r = load_ok(example);
  const sshmux_route_t *web, *ext, *jump, *eu;

  ASSERT_STR_EQ(sshmux_routes_path(r), test_path("r.ini"));
  ASSERT_EQ(sshmux_routes_count(r), 2);
  ASSERT_EQ(sshmux_routes_jump_count(r), 2);
  web = sshmux_routes_get(r, 0);
  ext = sshmux_routes_get(r, 1);
  ASSERT(sshmux_routes_get(r, 2) == NULL);
  ASSERT(sshmux_routes_find(r, "webserver") == web);
  ASSERT(sshmux_routes_find(r, "external") == ext);
  ASSERT(sshmux_routes_find(r, "nope") == NULL);
  jump = sshmux_routes_find_jump(r, SSHMUX_ROUTES_DEFAULT_JUMP);
  eu = sshmux_routes_find_jump(r, "eu");
  ASSERT(jump == sshmux_routes_jump_get(r, 0));
  ASSERT(eu == sshmux_routes_jump_get(r, 1));

  ASSERT_STR_EQ(sshmux_route_name(web), "webserver");
  ASSERT_EQ(sshmux_route_is_jump(web), 0);
  ASSERT_STR_EQ(sshmux_route_host(web), "10.0.0.10");
  ASSERT_EQ(sshmux_route_port(web), 22);
  ASSERT_STR_EQ(sshmux_route_user(web), "deploy");
  ASSERT_STR_EQ(sshmux_route_identity(web), "/home/u/.ssh/id_ed25519");
  ASSERT(sshmux_route_via(web) == jump);
  ASSERT_EQ(sshmux_route_line(web), 9);
  expect_timers(web, 600, 43200, 15, 0);
  ASSERT_STR_EQ(sshmux_route_forward_allow_text(web), "loopback");
  ASSERT_STR_EQ(sshmux_route_env_allow_text(web), "LANG,LC_*,TERM,COLORTERM");

  ASSERT_STR_EQ(sshmux_route_host(ext), "203.0.113.50");
  ASSERT_STR_EQ(sshmux_route_user(ext), "ops");
  ASSERT(sshmux_route_identity(ext) == NULL);
  ASSERT(sshmux_route_via(ext) == NULL);

  ASSERT_STR_EQ(sshmux_route_name(jump), "default");
  ASSERT_EQ(sshmux_route_is_jump(jump), 1);
  ASSERT_STR_EQ(sshmux_route_host(jump), "bastion.example.com");
  ASSERT_STR_EQ(sshmux_route_user(jump), "jumpuser");
  ASSERT(sshmux_route_via(jump) == NULL);
  ASSERT_STR_EQ(sshmux_route_host(eu), "eu-bastion.example.com");
  ASSERT_EQ(sshmux_route_port(eu), 22);
  ASSERT(sshmux_route_via(eu) == NULL);
  ASSERT(sshmux_routes_askpass(r) == NULL);
  ASSERT_EQ(sshmux_routes_notify(r), 0);
  ASSERT_EQ(sshmux_routes_control_master(r), 1);
  sshmux_routes_free(r);
  return 0;
}

/* Each name in yes (NULL-terminated) is an environment variable the route
 * passes on, each in no one it refuses. */
static void expect_env(const sshmux_route_t *rt, const char *const *yes,
                       const char *const *no) {
  for (; *yes != NULL; yes++)
    if (sshmux_routes_env_allowed(rt, *yes) != 1)
      test_fail(__FILE__, __LINE__, "%s refused", *yes);
  for (; *no != NULL; no++)
    if (sshmux_routes_env_allowed(rt, *no) != 0)
      test_fail(__FILE__, __LINE__, "%s allowed", *no);
}

TEST_IMPL(routes_defaults_and_overrides) {
  sshmux_routes_t *r =
      load_ok("[routes.a]\nhost = h\nuser = u\nidle_timeout = 5\n"
              "[defaults]\nidle_timeout = 60\nmax_lifetime = 0\n"
              "keepalive = 7\naccept_new_hostkey = yes\n"
              "env_allow = LANG, MY_*\naskpass = /usr/bin/ssh-askpass\n"
              "notify = on\ncontrol_master = off\n"
              "[routes.b]\nhost = ::1\nport = 2222\nuser = u\n"
              "accept_new_hostkey = false\nenv_allow = none\n"
              "identity = /k/id\n");
  const sshmux_route_t *a = sshmux_routes_find(r, "a");
  const sshmux_route_t *b = sshmux_routes_find(r, "b");

  /* a's own idle timeout over the defaults', b's defaults. */
  expect_timers(a, 5, 0, 7, 1);
  expect_timers(b, 60, 0, 7, 0);
  ASSERT_STR_EQ(sshmux_route_host(b), "::1");
  ASSERT_EQ(sshmux_route_port(b), 2222);
  ASSERT_STR_EQ(sshmux_route_identity(b), "/k/id");
  ASSERT_STR_EQ(sshmux_routes_askpass(r), "/usr/bin/ssh-askpass");
  ASSERT_EQ(sshmux_routes_notify(r), 1);
  ASSERT_EQ(sshmux_routes_control_master(r), 0);
  /* No [jump]: routes go direct. */
  ASSERT(sshmux_route_via(a) == NULL);
  /* env: defaults' list for a, none for b. */
  expect_env(a, (const char *[]){"LANG", "MY_VAR", NULL},
             (const char *[]){"MY", "TERM", NULL});
  expect_env(b, (const char *[]){NULL}, (const char *[]){"LANG", NULL});
  sshmux_routes_free(r);
  return 0;
}

TEST_IMPL(routes_env_default_allowlist) {
  sshmux_routes_t *r = load_ok(ROUTE);
  const sshmux_route_t *a = sshmux_routes_find(r, "a");

  expect_env(a, (const char *[]){"LANG", "LC_ALL", "TERM", "COLORTERM", NULL},
             (const char *[]){"LD_PRELOAD", "LANGUAGE", "PATH", NULL});
  sshmux_routes_free(r);
  return 0;
}

TEST_IMPL(routes_chain_resolves) {
  sshmux_routes_t *r = load_ok("[jumps.A]\nhost = a\nuser = u\njump = B\n"
                               "[jumps.B]\nhost = b\nuser = u\njump = C\n"
                               "[jumps.C]\nhost = c\nuser = u\n"
                               "[jump]\nhost = d\nuser = u\n"
                               "[routes.r]\nhost = r\nuser = u\njump = A\n"
                               "[routes.s]\nhost = s\nuser = u\n"
                               "[jumps.E]\nhost = e\nuser = u\n"
                               "jump = default\n"
                               "[routes.t]\nhost = t\nuser = u\njump = E\n");
  const sshmux_route_t *hops[SSHMUX_ROUTES_MAX_CHAIN];
  size_t n = 0;

  ASSERT_OK(sshmux_route_chain(sshmux_routes_find(r, "r"), hops,
                               SSHMUX_ROUTES_MAX_CHAIN, &n));
  ASSERT_EQ(n, 4);
  ASSERT_STR_EQ(sshmux_route_name(hops[0]), "C");
  ASSERT_STR_EQ(sshmux_route_name(hops[1]), "B");
  ASSERT_STR_EQ(sshmux_route_name(hops[2]), "A");
  ASSERT_STR_EQ(sshmux_route_name(hops[3]), "r");
  ASSERT_ERR(sshmux_route_chain(sshmux_routes_find(r, "r"), hops, 3, &n),
             SSHMUX_ETOOLONG);
  /* A route without jump = goes through [jump]. */
  ASSERT_OK(sshmux_route_chain(sshmux_routes_find(r, "s"), hops, 16, &n));
  ASSERT_EQ(n, 2);
  ASSERT_STR_EQ(sshmux_route_name(hops[0]), "default");
  /* jump = default names [jump] explicitly. */
  ASSERT_OK(sshmux_route_chain(sshmux_routes_find(r, "t"), hops, 16, &n));
  ASSERT_EQ(n, 3);
  ASSERT_STR_EQ(sshmux_route_name(hops[0]), "default");
  ASSERT_STR_EQ(sshmux_route_name(hops[1]), "E");
  /* A jump does not implicitly go through [jump]. */
  ASSERT(sshmux_route_via(sshmux_routes_find_jump(r, "C")) == NULL);
  sshmux_routes_free(r);
  return 0;
}

TEST_IMPL(routes_cycle_refused) {
  expect_error("[jumps.A]\nhost = a\nuser = u\njump = B\n"
               "[jumps.B]\nhost = b\nuser = u\njump = A\n" ROUTE,
               8, "jump cycle: A -> B -> A");
  expect_error("[jump]\nhost = a\nuser = u\njump = default\n", 4,
               "jump cycle: default -> default");
  return 0;
}

TEST_IMPL(routes_chain_too_long) {
  char text[8192];
  size_t off = 0;
  int i;

  for (i = 0; i < 20; i++)
    off += (size_t)snprintf(text + off, sizeof(text) - off,
                            "[jumps.j%d]\nhost = h\nuser = u\njump = j%d\n", i,
                            i + 1);
  snprintf(text + off, sizeof(text) - off, "[jumps.j20]\nhost = h\nuser = u\n");
  expect_error(text, 1, "jump chain longer than 16 hops");
  return 0;
}

TEST_IMPL(routes_error_unknown_section) {
  expect_error(ROUTE "[server]\nport = 1\n", 4, "unknown section [server]");
  expect_error("[routes]\n", 1, "unknown section [routes]");
  return 0;
}

TEST_IMPL(routes_error_unknown_key) {
  expect_error(ROUTE "hostname = x\n", 4, "unknown key 'hostname'");
  expect_error("[defaults]\nhost = x\n", 2,
               "key 'host' is not valid in a [defaults] section");
  expect_error("[jump]\nhost = x\nuser = u\ndirect = true\n", 4,
               "key 'direct' is not valid in a jump section");
  expect_error(ROUTE "control_master = false\n", 4,
               "key 'control_master' is not valid in a route section");
  expect_error("host = x\n", 1, "'host' outside any section");
  return 0;
}

TEST_IMPL(routes_error_missing_host_user) {
  expect_error("[routes.a]\nuser = u\n\n[routes.b]\nhost = h\n", 1,
               "route 'a' has no 'host'");
  expect_error(ROUTE "\n[routes.b]\nhost = h\n", 5, "route 'b' has no 'user'");
  expect_error(ROUTE "[jump]\n", 4, "jump 'default' has no 'host'");
  return 0;
}

TEST_IMPL(routes_error_bad_port) {
  expect_error(ROUTE "port = 0\n", 4, "bad port '0'");
  expect_error(ROUTE "port = 65536\n", 4, "bad port '65536'");
  expect_error(ROUTE "port = 22x\n", 4, "bad port '22x'");
  expect_error(ROUTE "port = -1\n", 4, "bad port '-1'");
  return 0;
}

TEST_IMPL(routes_error_bad_bool_number) {
  expect_error(ROUTE "direct = maybe\n", 4,
               "bad value 'maybe' for direct (expected true or false)");
  expect_error(ROUTE "idle_timeout = 10s\n", 4,
               "bad value '10s' for idle_timeout");
  expect_error("[defaults]\nkeepalive = 99999999999\n", 2,
               "bad value '99999999999' for keepalive");
  return 0;
}

TEST_IMPL(routes_error_unknown_jump) {
  expect_error("\n" ROUTE "jump = nowhere\n", 5, "unknown jump 'nowhere'");
  expect_error(ROUTE "jump = default\n", 4,
               "unknown jump 'default' (there is no [jump] section)");
  expect_error(ROUTE "jump = bad/name\n", 4, "bad jump name 'bad/name'");
  expect_error(ROUTE "direct = true\n[jumps.x]\nhost = h\nuser = u\n"
                     "[routes.b]\nhost = h\nuser = u\njump = x\n"
                     "direct = yes\n",
               12, "route 'b' says both 'direct = true' and 'jump'");
  return 0;
}

TEST_IMPL(routes_error_duplicates) {
  expect_error(ROUTE "user = v\n", 4, "duplicate key 'user' (first on line 3)");
  expect_error(ROUTE "[routes.a]\n", 4,
               "duplicate section [routes.a] (first on line 1)");
  expect_error("[defaults]\n[defaults]\n", 2, "duplicate section [defaults]");
  expect_error("[jump]\nhost = h\nuser = u\n[jump]\n", 4,
               "duplicate section [jump]");
  expect_error("[jumps.default]\n", 1, "reserved");
  return 0;
}

TEST_IMPL(routes_error_bad_names) {
  expect_error("[routes.we b]\n", 1, "invalid name 'we b'");
  expect_error("[routes.a/b]\n", 1, "invalid name 'a/b'");
  expect_error("[routes.]\n", 1, "invalid name ''");
  expect_error("[routes.a\n", 1, "section header without ']'");
  expect_error("[routes.a] x\n", 1, "unexpected text after section header");
  return 0;
}

TEST_IMPL(routes_error_raw_lines) {
  static const char nul[] = ROUTE "port = 2\0002\n";
  char longline[400];

  expect_error(ROUTE "port = 22\r\n", 4, "carriage return");
  expect_error("[routes.a]\r\nhost = h\n", 1, "carriage return");
  expect_error_at(nul, sizeof(nul) - 1, 4, "NUL byte");
  expect_error(ROUTE "port = 22 \n", 4, "trailing white space");
  expect_error(ROUTE "port = 22\t\n", 4, "trailing white space");
  expect_error(ROUTE "  port = 22\n", 4, "line starts with white space");
  expect_error(ROUTE "port = \x1b[1m\n", 4, "control character 0x1b");
  expect_error(ROUTE "port =\n", 4, "empty value for 'port'");
  expect_error(ROUTE "port 22\n", 4, "syntax error");
  /* The first error in the file is the one reported. */
  expect_error("[routes.a]\nhost\nuser = u\nbogus = 1\n", 2, "syntax error");
  expect_error("[routes.a]\nhost ; = x\n", 2, "syntax error");
  memset(longline, 'x', sizeof(longline));
  memcpy(longline, "[routes.a]\nhost = ", 18);
  strcpy(longline + 300, "\nuser = u\n");
  expect_error(longline, 2, "line longer than");
  return 0;
}

TEST_IMPL(routes_error_bad_values) {
  expect_error(ROUTE "identity = id_rsa\n", 4,
               "identity 'id_rsa' must be an absolute path or start with ~/");
  expect_error(ROUTE "identity = ~bob/id\n", 4, "only ~/ is expanded");
  expect_error(ROUTE "forward_allow = db:5432,,x:1\n", 4, "empty item");
  expect_error(ROUTE "forward_allow = db\n", 4, "bad forward_allow item 'db'");
  expect_error(ROUTE "forward_allow = ::1:22\n", 4, "bad forward_allow item");
  expect_error(ROUTE "forward_allow = loopback,none\n", 4,
               "'none' must be the only forward_allow item");
  expect_error("[routes.a]\nhost = -oProxyCommand=x\n", 2, "bad host");
  expect_error("[routes.a]\nhost = h\nuser = -x\n", 3, "bad user");
  expect_error("[defaults]\nenv_allow = LD-PRELOAD\n", 2,
               "bad env_allow item 'LD-PRELOAD'");
  expect_error("[defaults]\naskpass = ssh-askpass\n", 2,
               "askpass must be an absolute path");
  return 0;
}

TEST_IMPL(routes_good_syntax_variants) {
  /* Comments, blank lines, a BOM, tabs inside, ':' separators, a last line
   * without newline. */
  sshmux_routes_t *r = load_ok("\xef\xbb\xbf; comment\n# comment\n\n"
                               "   \n[routes.a]\t; inline\nhost\t=\th\n"
                               "user: u\nport = 2022");
  const sshmux_route_t *a = sshmux_routes_find(r, "a");

  ASSERT_STR_EQ(sshmux_route_host(a), "h");
  ASSERT_STR_EQ(sshmux_route_user(a), "u");
  ASSERT_EQ(sshmux_route_port(a), 2022);
  sshmux_routes_free(r);
  /* An empty file is a valid file with no routes. */
  r = load_ok("");
  ASSERT_EQ(sshmux_routes_count(r), 0);
  sshmux_routes_free(r);
  return 0;
}

TEST_IMPL(routes_forward_allow) {
  sshmux_routes_t *r = load_ok(
      "[routes.dflt]\nhost = h\nuser = u\n"
      "[routes.list]\nhost = h\nuser = u\n"
      "forward_allow = db.internal:5432, *:443, [::1]:22, 10.0.0.5:*, "
      "/run/app.sock\n"
      "[routes.none]\nhost = h\nuser = u\nforward_allow = none\n"
      "[routes.lb]\nhost = h\nuser = u\nforward_allow = loopback,x:1\n");
  const sshmux_route_t *d = sshmux_routes_find(r, "dflt");
  const sshmux_route_t *l = sshmux_routes_find(r, "list");
  const sshmux_route_t *n = sshmux_routes_find(r, "none");
  const sshmux_route_t *lb = sshmux_routes_find(r, "lb");

  /* Default: the upstream's own loopback, any port, nothing else. */
  ASSERT_EQ(sshmux_routes_forward_allowed(d, "localhost", 8080), 1);
  ASSERT_EQ(sshmux_routes_forward_allowed(d, "LOCALHOST", 1), 1);
  ASSERT_EQ(sshmux_routes_forward_allowed(d, "127.0.0.1", 65535), 1);
  ASSERT_EQ(sshmux_routes_forward_allowed(d, "127.1.2.3", 22), 1);
  ASSERT_EQ(sshmux_routes_forward_allowed(d, "::1", 22), 1);
  ASSERT_EQ(sshmux_routes_forward_allowed(d, "::ffff:127.0.0.1", 22), 1);
  ASSERT_EQ(sshmux_routes_forward_allowed(d, "10.0.0.1", 22), 0);
  ASSERT_EQ(sshmux_routes_forward_allowed(d, "localhost.evil.com", 22), 0);
  ASSERT_EQ(sshmux_routes_forward_allowed(d, "127.1", 22), 0);
  ASSERT_EQ(sshmux_routes_forward_allowed(d, "0127.0.0.1", 22), 0);
  ASSERT_EQ(sshmux_routes_forward_allowed(d, "localhost", 0), 0);
  ASSERT_EQ(sshmux_routes_forward_allowed(d, "localhost", 70000), 0);
  ASSERT_EQ(sshmux_routes_forward_allowed(d, "/tmp/sock", 0), 0);
  ASSERT_EQ(sshmux_routes_forward_allowed(d, "", 22), 0);
  ASSERT_EQ(sshmux_routes_forward_allowed(d, NULL, 22), 0);
  /* An explicit list replaces the default. */
  ASSERT_EQ(sshmux_routes_forward_allowed(l, "db.internal", 5432), 1);
  ASSERT_EQ(sshmux_routes_forward_allowed(l, "DB.Internal", 5432), 1);
  ASSERT_EQ(sshmux_routes_forward_allowed(l, "db.internal", 5433), 0);
  ASSERT_EQ(sshmux_routes_forward_allowed(l, "anything.example", 443), 1);
  ASSERT_EQ(sshmux_routes_forward_allowed(l, "::1", 22), 1);
  ASSERT_EQ(sshmux_routes_forward_allowed(l, "::1", 23), 0);
  ASSERT_EQ(sshmux_routes_forward_allowed(l, "10.0.0.5", 1), 1);
  ASSERT_EQ(sshmux_routes_forward_allowed(l, "10.0.0.50", 1), 0);
  ASSERT_EQ(sshmux_routes_forward_allowed(l, "localhost", 8080), 0);
  ASSERT_EQ(sshmux_routes_forward_allowed(l, "/run/app.sock", 0), 1);
  ASSERT_EQ(sshmux_routes_forward_allowed(l, "/run/app.sock2", 0), 0);
  ASSERT_EQ(sshmux_routes_forward_allowed(l, "/run/app.sock", 443), 0);
  ASSERT_STR_EQ(sshmux_route_forward_allow_text(n), "none");
  ASSERT_EQ(sshmux_routes_forward_allowed(n, "localhost", 22), 0);
  ASSERT_EQ(sshmux_routes_forward_allowed(lb, "127.0.0.1", 80), 1);
  ASSERT_EQ(sshmux_routes_forward_allowed(lb, "x", 1), 1);
  ASSERT_EQ(sshmux_routes_forward_allowed(lb, "x", 2), 0);
  sshmux_routes_free(r);
  return 0;
}

TEST_IMPL(routes_file_errors) {
  char err[SSHMUX_ROUTES_ERR_MAX] = "";
  sshmux_routes_t *r = NULL;
  char *big;

  ASSERT_ERR(
      sshmux_routes_load(&r, test_path("missing.ini"), NULL, err, sizeof(err)),
      UV_ENOENT);
  ASSERT(r == NULL);
  ASSERT_STR_CONTAINS(err, "missing.ini: ");
  ASSERT_EQ(test_write_file(test_path("real.ini"), ROUTE, 0600), 0);
  ASSERT_EQ(symlink(test_path("real.ini"), test_path("link.ini")), 0);
  ASSERT_ERR(
      sshmux_routes_load(&r, test_path("link.ini"), NULL, err, sizeof(err)),
      SSHMUX_ESYMLINK);
  ASSERT(r == NULL);
  big = malloc(SSHMUX_ROUTES_MAX_FILE + 2);
  ASSERT(big != NULL);
  memset(big, '\n', SSHMUX_ROUTES_MAX_FILE + 1);
  big[SSHMUX_ROUTES_MAX_FILE + 1] = '\0';
  ASSERT_EQ(test_write_file(test_path("big.ini"), big, 0600), 0);
  free(big);
  ASSERT_ERR(
      sshmux_routes_load(&r, test_path("big.ini"), NULL, err, sizeof(err)),
      SSHMUX_ETOOLONG);
  ASSERT_STR_CONTAINS(err, "file too large");
  /* ~ without a home is an error, not a guess. */
  ASSERT_EQ(test_write_file(test_path("r.ini"), ROUTE "identity = ~/k\n", 0600),
            0);
  ASSERT_ERR(sshmux_routes_load(&r, test_path("r.ini"), NULL, err, sizeof(err)),
             SSHMUX_ECONFIG);
  ASSERT_STR_CONTAINS(err, "r.ini:4: identity '~/k': no home directory");
  /* A tiny error buffer truncates, never overflows. */
  ASSERT_ERR(sshmux_routes_load(&r, test_path("r.ini"), NULL, err, 4),
             SSHMUX_ECONFIG);
  ASSERT_EQ(strlen(err), 3);
  return 0;
}

TEST_IMPL(routes_buffer_loader) {
  sshmux_routes_t *r = NULL;
  char err[SSHMUX_ROUTES_ERR_MAX];

  ASSERT_OK(sshmux__routes_load_buffer(&r, ROUTE, strlen(ROUTE), "mem", NULL,
                                       err, sizeof(err)));
  ASSERT_STR_EQ(sshmux_routes_path(r), "mem");
  sshmux_routes_free(r);
  ASSERT_ERR(
      sshmux__routes_load_buffer(&r, "[x]\n", 4, "mem", NULL, err, sizeof(err)),
      SSHMUX_ECONFIG);
  ASSERT_STR_CONTAINS(err, "mem:1: unknown section [x]");
  return 0;
}

/* identity_agent: an absolute or ~/ socket path, or none; per hop (jumps
 * too), never in [defaults]; NULL when not set (SSH_AUTH_SOCK). */
TEST_IMPL(routes_identity_agent) {
  sshmux_routes_t *r = load_ok("[jumps.j]\nhost = b\nuser = ops\n"
                               "identity_agent = /run/agent.sock\n"
                               "[routes.a]\nhost = h\nuser = u\njump = j\n"
                               "identity_agent = ~/.ssh/agent.sock\n"
                               "[routes.b]\nhost = h\nuser = u\n"
                               "identity_agent = none\n"
                               "[routes.c]\nhost = h\nuser = u\n");
  ASSERT_STR_EQ(sshmux_route_identity_agent(sshmux_routes_find_jump(r, "j")),
                "/run/agent.sock");
  ASSERT_STR_EQ(sshmux_route_identity_agent(sshmux_routes_find(r, "a")),
                "/home/u/.ssh/agent.sock");
  ASSERT_STR_EQ(sshmux_route_identity_agent(sshmux_routes_find(r, "b")),
                "none");
  ASSERT(sshmux_route_identity_agent(sshmux_routes_find(r, "c")) == NULL);
  sshmux_routes_free(r);
  expect_error(ROUTE "identity_agent = agent.sock\n", 4,
               "identity_agent 'agent.sock' must be an absolute path or start "
               "with ~/");
  expect_error(ROUTE "identity_agent = $SSH_AUTH_SOCK\n", 4,
               "environment variables are not expanded");
  expect_error(ROUTE "identity_agent = /a\nidentity_agent = /b\n", 5,
               "duplicate key 'identity_agent'");
  expect_error("[defaults]\nidentity_agent = /a\n", 2, "identity_agent");
  /* Routes built without a file take it through the same checks. */
  {
    char err[SSHMUX_ROUTES_ERR_MAX] = "";
    ASSERT_OK(sshmux_routes_new(&r, "cli", "/home/u"));
    ASSERT_OK(sshmux_routes_add_route(r, "x",
                                      (const char *[]){"host", "h", "user", "u",
                                                       "identity_agent",
                                                       "~/a.sock", NULL},
                                      0, err, sizeof(err)));
    ASSERT_STR_EQ(sshmux_route_identity_agent(sshmux_routes_find(r, "x")),
                  "/home/u/a.sock");
    ASSERT_EQ(sshmux_routes_add_route(r, "y",
                                      (const char *[]){"host", "h", "user", "u",
                                                       "identity_agent",
                                                       "rel.sock", NULL},
                                      3, err, sizeof(err)),
              SSHMUX_ECONFIG);
    ASSERT_STR_CONTAINS(err, "cli:3: identity_agent 'rel.sock'");
    sshmux_routes_free(r);
  }
  {
    char text[400];
    snprintf(text, sizeof(text), ROUTE "identity_agent = /%0120d\n", 0);
    expect_error(text, 4, "shorter than 108 bytes");
  }
  return 0;
}
