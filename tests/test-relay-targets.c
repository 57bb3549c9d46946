/* test-relay-targets.c -- sshmux_relay_route_targets(): the pool targets a
 * route's chain turns into, hop by hop, from a routes object built in
 * memory (the relay, sshmuxd's connect streams and the examples all use
 * this one builder, so their pooled connections are shared). */
#include "sshmux.h"
#include "test.h"

TEST_IMPL(relay_route_targets_chain) {
  sshmux_routes_t *r = NULL;
  char err[SSHMUX_ROUTES_ERR_MAX] = "";
  const char *const outer[] = {
      "host", "bastion.example.com", "user", "jumpuser", "port",
      "2222", "identity_agent",      "none", NULL};
  const char *const inner[] = {"host",  "10.0.0.1", "user",     "hop", "jump",
                               "outer", "identity", "/k/inner", NULL};
  const char *const web[] = {"host",
                             "10.0.0.10",
                             "user",
                             "deploy",
                             "jump",
                             "inner",
                             "identity",
                             "/k/web",
                             "identity_agent",
                             "/run/agent.sock",
                             "idle_timeout",
                             "420",
                             "max_lifetime",
                             "7200",
                             "keepalive",
                             "5",
                             "accept_new_hostkey",
                             "yes",
                             NULL};
  sshmux_route_targets_t c;
  const sshmux_target_t *t;

  ASSERT_OK(sshmux_routes_new(&r, "test", "/home/u"));
  ASSERT_EQ(sshmux_routes_add_jump(r, "outer", outer, 1, err, sizeof(err)), 0);
  ASSERT_EQ(sshmux_routes_add_jump(r, "inner", inner, 2, err, sizeof(err)), 0);
  if (sshmux_routes_add_route(r, "web", web, 3, err, sizeof(err)) != 0)
    test_fail(__FILE__, __LINE__, "add_route: %s", err);

  t = sshmux_relay_route_targets(&c, sshmux_routes_find(r, "web"));
  ASSERT(t != NULL);
  ASSERT_EQ(c.n, 3);
  ASSERT(t == &c.t[2]);
  /* The route itself, with every key it set. */
  ASSERT_STR_EQ(t->host, "10.0.0.10");
  ASSERT_STR_EQ(t->user, "deploy");
  ASSERT_EQ(t->port, 22);
  ASSERT(t->identity_files != NULL);
  ASSERT_STR_EQ(t->identity_files[0], "/k/web");
  ASSERT(t->identity_files[1] == NULL);
  ASSERT_STR_EQ(t->identity_agent, "/run/agent.sock");
  ASSERT_EQ(t->idle_timeout_s, 7 * 60);
  ASSERT_EQ(t->max_lifetime_s, 2 * 3600);
  ASSERT_EQ(t->keepalive_s, 5);
  ASSERT(t->accept_new_hostkey);
  /* The chain, first hop first, each pointing at the one before. */
  ASSERT(t->jump == &c.t[1]);
  ASSERT_STR_EQ(c.t[1].host, "10.0.0.1");
  ASSERT_STR_EQ(c.t[1].identity_files[0], "/k/inner");
  ASSERT(c.t[1].jump == &c.t[0]);
  ASSERT_STR_EQ(c.t[0].host, "bastion.example.com");
  ASSERT_EQ(c.t[0].port, 2222);
  ASSERT(c.t[0].identity_files == NULL);
  ASSERT_STR_EQ(c.t[0].identity_agent, "none");
  ASSERT(c.t[0].jump == NULL);

  /* A jump alone is a chain too; NULL arguments are refused. */
  t = sshmux_relay_route_targets(&c, sshmux_routes_find_jump(r, "inner"));
  ASSERT(t != NULL);
  ASSERT_EQ(c.n, 2);
  ASSERT_STR_EQ(t->host, "10.0.0.1");
  ASSERT(sshmux_relay_route_targets(&c, NULL) == NULL);
  ASSERT_EQ(c.n, 0);
  ASSERT(sshmux_relay_route_targets(NULL, sshmux_routes_find(r, "web")) ==
         NULL);
  sshmux_routes_free(r);
  return 0;
}
