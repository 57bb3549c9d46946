/* test-routes-build.c -- routes without a file (sshmux_routes_new and the
 * add/remove functions): hops built in memory resolve like the file's; each
 * bad value is refused with the same words the file loader uses, at the
 * caller's ORIGIN:LINE; a failed addition leaves the object as it was; a
 * jump in use cannot be removed. */
#include "test.h"

#define ORIGIN "fleet.conf"

static sshmux_routes_t *new_routes(void) {
  sshmux_routes_t *r = NULL;

  ASSERT_EQ(sshmux_routes_new(&r, ORIGIN, "/home/u"), 0);
  ASSERT(r != NULL);
  return r;
}

TEST_IMPL(routes_build_basic) {
  sshmux_routes_t *r = new_routes();
  char err[SSHMUX_ROUTES_ERR_MAX] = "";
  const char *const jump[] = {"host", "bastion.example.com", "user", "jumpuser",
                              NULL};
  const char *const web[] = {"host",      "10.0.0.10", "user",
                             "deploy",    "identity",  "~/.ssh/id",
                             "keepalive", "5",         "forward_allow",
                             "db:5432",   NULL};
  const char *const ext[] = {"host",   "203.0.113.50", "user", "ops",
                             "direct", "true",         NULL};
  const sshmux_route_t *w, *hops[SSHMUX_ROUTES_MAX_CHAIN];
  size_t n = 0;

  ASSERT_STR_EQ(sshmux_routes_path(r), ORIGIN);
  ASSERT_EQ(sshmux_routes_count(r), 0);
  ASSERT_EQ(sshmux_routes_jump_count(r), 0);
  /* A route added before the default jump goes through it once it exists,
   * as a route file's order does not matter either. */
  ASSERT_EQ(sshmux_routes_add_route(r, "web", web, 7, err, sizeof(err)), 0);
  w = sshmux_routes_find(r, "web");
  ASSERT(w != NULL);
  ASSERT(sshmux_route_via(w) == NULL);
  ASSERT_EQ(sshmux_routes_add_jump(r, SSHMUX_ROUTES_DEFAULT_JUMP, jump, 3, err,
                                   sizeof(err)),
            0);
  ASSERT_EQ(sshmux_routes_add_route(r, "ext", ext, 0, err, sizeof(err)), 0);
  ASSERT_STR_EQ(err, ""); /* untouched on success */
  ASSERT_EQ(sshmux_routes_count(r), 2);
  ASSERT(sshmux_routes_get(r, 0) == w);
  ASSERT(sshmux_route_via(w) == sshmux_routes_find_jump(r, "default"));
  ASSERT_STR_EQ(sshmux_route_host(w), "10.0.0.10");
  ASSERT_EQ(sshmux_route_port(w), 22);
  ASSERT_STR_EQ(sshmux_route_user(w), "deploy");
  ASSERT_STR_EQ(sshmux_route_identity(w), "/home/u/.ssh/id");
  ASSERT_EQ(sshmux_route_keepalive(w), 5);
  ASSERT_EQ(sshmux_route_idle_timeout(w), 600); /* the built-in default */
  ASSERT_EQ(sshmux_route_line(w), 7);
  ASSERT_EQ(sshmux_route_line(sshmux_routes_find(r, "ext")), 0);
  ASSERT(sshmux_route_via(sshmux_routes_find(r, "ext")) == NULL);
  ASSERT_EQ(sshmux_routes_forward_allowed(w, "db", 5432), 1);
  ASSERT_EQ(sshmux_routes_forward_allowed(w, "localhost", 80), 0);
  ASSERT_EQ(sshmux_route_chain(w, hops, SSHMUX_ROUTES_MAX_CHAIN, &n), 0);
  ASSERT_EQ(n, 2);
  ASSERT_STR_EQ(sshmux_route_host(hops[0]), "bastion.example.com");
  sshmux_routes_free(r);
  return 0;
}

/* One bad setting, in a file and in memory: the problem text after
 * "WHERE:LINE: " must be the same. */
typedef struct {
  const char *key, *value;
} kv_t;

static void same_error(const char *key, const char *value, int want_rc) {
  char ini[1024], ferr[SSHMUX_ROUTES_ERR_MAX] = "",
                  merr[SSHMUX_ROUTES_ERR_MAX] = "", prefix[700];
  /* host and user are there, unless the bad key is one of them. */
  const char *bh = strcmp(key, "host") == 0 ? "port" : "host";
  const char *bhv = strcmp(key, "host") == 0 ? "22" : "h.example";
  const char *bu = strcmp(key, "user") == 0 ? "port" : "user";
  const char *buv = strcmp(key, "user") == 0 ? "22" : "u";
  const char *settings[] = {bh, bhv, bu, buv, key, value, NULL};
  sshmux_routes_t *f = NULL, *m = new_routes();
  int rc;

  /* The file: the bad key is on line 4. */
  snprintf(ini, sizeof(ini), "[routes.x]\n%s = %s\n%s = %s\n%s = %s\n", bh, bhv,
           bu, buv, key, value);
  ASSERT_EQ(test_write_file(test_path("r.ini"), ini, 0600), 0);
  ASSERT_ERR(
      sshmux_routes_load(&f, test_path("r.ini"), "/home/u", ferr, sizeof(ferr)),
      SSHMUX_ECONFIG);
  snprintf(prefix, sizeof(prefix), "%s:4: ", test_path("r.ini"));
  ASSERT_EQ(strncmp(ferr, prefix, strlen(prefix)), 0);
  /* In memory, at the caller's line 4. */
  rc = sshmux_routes_add_route(m, "x", settings, 4, merr, sizeof(merr));
  ASSERT_EQ(rc, want_rc);
  ASSERT_EQ(strncmp(merr, ORIGIN ":4: ", strlen(ORIGIN ":4: ")), 0);
  ASSERT_STR_EQ(merr + strlen(ORIGIN ":4: "), ferr + strlen(prefix));
  ASSERT_EQ(sshmux_routes_count(m), 0);
  sshmux_routes_free(m);
}

TEST_IMPL(routes_build_errors_match_file) {
  static const kv_t bad[] = {
      {"port", "0"},
      {"port", "22x"},
      {"host", "bad!host"},
      {"user", "-oProxyCommand"},
      {"identity", "relative/key"},
      {"identity", "~root/key"},
      {"jump", "nosuch"},
      {"jump", "default"},
      {"idle_timeout", "-1"},
      {"direct", "maybe"},
      {"forward_allow", "db"},
      {"forward_allow", "none,loopback"},
      {"env_allow", "1X"},
      {"askpass", "/usr/bin/ssh-askpass"}, /* [defaults] only */
      {"colour", "blue"},
  };

  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    same_error(bad[i].key, bad[i].value, SSHMUX_ECONFIG);
  return 0;
}

TEST_IMPL(routes_build_refusals_leave_object_unchanged) {
  sshmux_routes_t *r = new_routes();
  char err[SSHMUX_ROUTES_ERR_MAX] = "";
  const char *const a[] = {"host", "a.example", "user", "u", NULL};
  const char *const self[] = {"host", "s.example", "user", "u",
                              "jump", "self",      NULL};
  const char *const nohost[] = {"user", "u", NULL};
  const char *const nl[] = {"host", "a.example", "user", "u\nhost = x", NULL};
  const char *const odd[] = {"host", "a.example", "user", NULL};
  char longval[300];
  const char *const lng[] = {"host", longval, "user", "u", NULL};

  ASSERT_EQ(sshmux_routes_add_jump(r, "a", a, 1, err, sizeof(err)), 0);
  ASSERT_EQ(sshmux_routes_add_route(r, "web", a, 2, err, sizeof(err)), 0);
  /* A name taken by a hop of the same kind (a route may share a jump's). */
  ASSERT_ERR(sshmux_routes_add_route(r, "web", a, 9, err, sizeof(err)),
             SSHMUX_EEXISTS);
  ASSERT_STR_EQ(err, ORIGIN ":9: duplicate route 'web'");
  ASSERT_EQ(sshmux_routes_add_route(r, "a", a, 3, err, sizeof(err)), 0);
  /* A jump through itself: a cycle, reported like the file's. */
  ASSERT_ERR(sshmux_routes_add_jump(r, "self", self, 5, err, sizeof(err)),
             SSHMUX_ECONFIG);
  ASSERT_STR_EQ(err, ORIGIN ":5: jump cycle: self -> self");
  ASSERT_ERR(sshmux_routes_add_route(r, "x", nohost, 0, err, sizeof(err)),
             SSHMUX_ECONFIG);
  ASSERT_STR_EQ(err, ORIGIN ": route 'x' has no 'host'");
  /* What a file's line reader stops never gets in another way. */
  ASSERT_ERR(sshmux_routes_add_route(r, "x", nl, 0, err, sizeof(err)),
             SSHMUX_ECONFIG);
  ASSERT_STR_CONTAINS(err, "control character in value of 'user'");
  memset(longval, 'a', sizeof(longval) - 1);
  longval[sizeof(longval) - 1] = '\0';
  ASSERT_ERR(sshmux_routes_add_route(r, "x", lng, 0, err, sizeof(err)),
             SSHMUX_ECONFIG);
  ASSERT_STR_CONTAINS(err, "longer than");
  ASSERT_ERR(sshmux_routes_add_route(r, "bad name", a, 0, err, sizeof(err)),
             SSHMUX_ECONFIG);
  ASSERT_STR_CONTAINS(err, "invalid route name 'bad name'");
  ASSERT_ERR(sshmux_routes_add_route(r, "x", odd, 0, err, sizeof(err)),
             SSHMUX_EINVAL);
  ASSERT_ERR(sshmux_routes_add_route(r, NULL, a, 0, err, sizeof(err)),
             SSHMUX_EINVAL);
  ASSERT_ERR(sshmux_routes_add_route(NULL, "x", a, 0, err, sizeof(err)),
             SSHMUX_EINVAL);
  ASSERT_ERR(sshmux_routes_add_route(r, "x", NULL, 0, err, sizeof(err)),
             SSHMUX_EINVAL);
  /* err may be NULL. */
  ASSERT_ERR(sshmux_routes_add_route(r, "x", nohost, 0, NULL, 0),
             SSHMUX_ECONFIG);
  ASSERT_EQ(sshmux_routes_count(r), 2);
  ASSERT_EQ(sshmux_routes_jump_count(r), 1);
  ASSERT(sshmux_routes_find(r, "x") == NULL);
  ASSERT(sshmux_routes_find_jump(r, "self") == NULL);
  ASSERT(sshmux_route_via(sshmux_routes_find(r, "web")) == NULL);
  sshmux_routes_free(r);
  return 0;
}

/* A default jump that does not validate must not leave the routes that
 * would have gone through it pointing at freed memory (ASan checks). */
TEST_IMPL(routes_build_failed_default_jump) {
  sshmux_routes_t *r = new_routes();
  char err[SSHMUX_ROUTES_ERR_MAX] = "";
  const char *const web[] = {"host", "w.example", "user", "u", NULL};
  const char *const badjump[] = {"host", "j.example", "user", "u",
                                 "jump", "nosuch",    NULL};
  const sshmux_route_t *hops[SSHMUX_ROUTES_MAX_CHAIN];
  size_t n = 0;

  ASSERT_EQ(sshmux_routes_add_route(r, "web", web, 0, err, sizeof(err)), 0);
  ASSERT_ERR(sshmux_routes_add_jump(r, "default", badjump, 2, err, sizeof(err)),
             SSHMUX_ECONFIG);
  ASSERT_STR_EQ(err,
                ORIGIN ":2: unknown jump 'nosuch' (no [jumps.nosuch] section)");
  ASSERT(sshmux_route_via(sshmux_routes_find(r, "web")) == NULL);
  ASSERT_EQ(sshmux_route_chain(sshmux_routes_find(r, "web"), hops,
                               SSHMUX_ROUTES_MAX_CHAIN, &n),
            0);
  ASSERT_EQ(n, 1);
  sshmux_routes_free(r);
  return 0;
}

TEST_IMPL(routes_build_remove) {
  sshmux_routes_t *r = new_routes();
  char err[SSHMUX_ROUTES_ERR_MAX] = "";
  const char *const hop[] = {"host", "h.example", "user", "u", NULL};
  const char *const viaeu[] = {"host", "h.example", "user", "u",
                               "jump", "eu",        NULL};

  ASSERT_EQ(sshmux_routes_add_jump(r, "eu", hop, 0, err, sizeof(err)), 0);
  ASSERT_EQ(sshmux_routes_add_jump(r, "default", viaeu, 0, err, sizeof(err)),
            0);
  ASSERT_EQ(sshmux_routes_add_route(r, "a", hop, 0, err, sizeof(err)), 0);
  ASSERT_EQ(sshmux_routes_add_route(r, "b", hop, 0, err, sizeof(err)), 0);
  /* Jumps in use stay. */
  ASSERT_ERR(sshmux_routes_remove_jump(r, "eu", err, sizeof(err)),
             SSHMUX_EBUSY);
  ASSERT_STR_EQ(err, ORIGIN ": jump 'eu' is used by jump 'default'");
  ASSERT_ERR(sshmux_routes_remove_jump(r, "default", err, sizeof(err)),
             SSHMUX_EBUSY);
  ASSERT_STR_EQ(err, ORIGIN ": jump 'default' is used by route 'a'");
  ASSERT_ERR(sshmux_routes_remove_jump(r, "nosuch", err, sizeof(err)),
             SSHMUX_ENOTFOUND);
  ASSERT_ERR(sshmux_routes_remove_route(r, "nosuch"), SSHMUX_ENOTFOUND);
  ASSERT_ERR(sshmux_routes_remove_route(r, NULL), SSHMUX_EINVAL);
  /* Routes go; the later one moves down. */
  ASSERT_EQ(sshmux_routes_remove_route(r, "a"), 0);
  ASSERT_EQ(sshmux_routes_count(r), 1);
  ASSERT_STR_EQ(sshmux_route_name(sshmux_routes_get(r, 0)), "b");
  ASSERT_EQ(sshmux_routes_remove_route(r, "b"), 0);
  ASSERT_EQ(sshmux_routes_remove_jump(r, "default", err, sizeof(err)), 0);
  ASSERT_EQ(sshmux_routes_remove_jump(r, "eu", err, sizeof(err)), 0);
  ASSERT_EQ(sshmux_routes_jump_count(r), 0);
  /* And the name is free again. */
  ASSERT_EQ(sshmux_routes_add_route(r, "a", hop, 0, err, sizeof(err)), 0);
  sshmux_routes_free(r);
  return 0;
}

/* A loaded file can be extended: the new route may name the file's jumps
 * and errors name the file. */
TEST_IMPL(routes_build_extends_loaded_file) {
  sshmux_routes_t *r = NULL;
  char err[SSHMUX_ROUTES_ERR_MAX] = "", want[700];
  const char *const r2[] = {"host", "10.0.0.2", "user", "u", "jump",
                            "eu",   "identity", "~/k",  NULL};
  const char *const r3[] = {"host", "10.0.0.3", "user", "u",
                            "jump", "asia",     NULL};

  ASSERT_EQ(test_write_file(test_path("r.ini"),
                            "[jumps.eu]\nhost = eu.example\nuser = ops\n"
                            "[routes.one]\nhost = 10.0.0.1\nuser = u\n"
                            "direct = true\n",
                            0600),
            0);
  ASSERT_EQ(
      sshmux_routes_load(&r, test_path("r.ini"), "/home/u", err, sizeof(err)),
      0);
  ASSERT_EQ(sshmux_routes_add_route(r, "two", r2, 0, err, sizeof(err)), 0);
  ASSERT_STR_EQ(sshmux_route_identity(sshmux_routes_find(r, "two")),
                "/home/u/k");
  ASSERT(sshmux_route_via(sshmux_routes_find(r, "two")) ==
         sshmux_routes_find_jump(r, "eu"));
  ASSERT_ERR(sshmux_routes_add_route(r, "three", r3, 12, err, sizeof(err)),
             SSHMUX_ECONFIG);
  snprintf(want, sizeof(want),
           "%s:12: unknown jump 'asia' (no [jumps.asia] section)",
           test_path("r.ini"));
  ASSERT_STR_EQ(err, want);
  ASSERT_EQ(sshmux_routes_count(r), 2);
  sshmux_routes_free(r);
  return 0;
}

TEST_IMPL(routes_build_new_bad_args) {
  sshmux_routes_t *r = (sshmux_routes_t *)&r;

  ASSERT_ERR(sshmux_routes_new(NULL, ORIGIN, NULL), SSHMUX_EINVAL);
  ASSERT_ERR(sshmux_routes_new(&r, NULL, NULL), SSHMUX_EINVAL);
  ASSERT(r == NULL);
  /* Without a home, ~/ is refused as the file loader refuses it. */
  {
    char err[SSHMUX_ROUTES_ERR_MAX] = "";
    const char *const k[] = {"host", "h", "user", "u", "identity", "~/k", NULL};
    ASSERT_EQ(sshmux_routes_new(&r, ORIGIN, NULL), 0);
    ASSERT_ERR(sshmux_routes_add_route(r, "x", k, 1, err, sizeof(err)),
               SSHMUX_ECONFIG);
    ASSERT_STR_EQ(err, ORIGIN ":1: identity '~/k': no home directory to "
                              "expand ~ against");
    sshmux_routes_free(r);
  }
  return 0;
}
