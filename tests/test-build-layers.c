/* test-build-layers.c -- the module layering of docs/architecture.md holds:
 * scripts/check-layers.sh finds no include against the dependency order in
 * this tree, and (so that a clean result means something) the same script
 * run over a small tree of ours with one wrong include of each kind names
 * every one of them, FILE:LINE, while passing the right ones beside them;
 * and likewise for calls between the files of one module, which must go
 * down its layers (a call up or beside is named, a comment is not a call,
 * a file the order does not list is named).
 *
 * The source tree is found from the build directory ($SSHMUX_BUILD/..), as
 * test-build-docs.c finds the pages. */
#include <sys/stat.h>

#include "test.h"

#define ARRAY_N(a) (sizeof(a) / sizeof((a)[0]))

static const char *src_dir(void) {
  static char p[1024];
  snprintf(p, sizeof(p), "%s/..", test_build_dir());
  return p;
}

static const char *script(void) {
  static char p[1100];
  snprintf(p, sizeof(p), "%s/scripts/check-layers.sh", src_dir());
  return p;
}

TEST_IMPL(layers_tree_follows_the_order) {
  const char *argv[] = {"sh", script(), src_dir(), NULL};
  char *out = NULL, *err = NULL;
  int st = test_run_simple(argv, &out, &err);

  if (st != 0)
    test_fail(__FILE__, __LINE__, "check-layers exit %d:\n%s%s", st,
              out ? out : "", err ? err : "");
  ASSERT_STR_EQ(out, "");
  free(out);
  free(err);
  return 0;
}

/* One file of the fake tree: path under root, contents. */
typedef struct {
  const char *path, *text;
} fake_t;

static void make_tree(const char *root, const fake_t *f, size_t n) {
  static const char *const dirs[] = {
      "lib",       "lib/core",   "lib/crypto", "lib/server",     "lib/pool",
      "lib/relay", "lib/routes", "include",    "include/sshmux", "daemon",
      "tests",     "tests/fuzz", "examples",   "examples/demo"};
  char p[1400];

  ASSERT_EQ(mkdir(root, 0700), 0);
  for (size_t i = 0; i < ARRAY_N(dirs); i++) {
    snprintf(p, sizeof(p), "%s/%s", root, dirs[i]);
    ASSERT_EQ(mkdir(p, 0700), 0);
  }
  for (size_t i = 0; i < n; i++) {
    snprintf(p, sizeof(p), "%s/%s", root, f[i].path);
    ASSERT_EQ(test_write_file(p, f[i].text, 0600), 0);
  }
}

/* Write the fake tree f[0..n) under test_path("tree") and run the layer
 * check on it; its exit status, its output in *out and *err. */
static int check_tree(const fake_t *f, size_t n, char **out, char **err) {
  char root[1024];

  snprintf(root, sizeof(root), "%s", test_path("tree"));
  make_tree(root, f, n);
  return test_run_simple((const char *[]){"sh", script(), root, NULL}, out,
                         err);
}

TEST_IMPL(layers_check_refuses_wrong_includes) {
  static const fake_t tree[] = {
      /* Headers that exist, so includes resolve. */
      {"lib/core/core.h", "/* core */\n"},
      {"lib/core/buf.h", "/* a core facet */\n"},
      {"lib/crypto/crypto.h", "#include \"core/core.h\"\n"},
      {"lib/server/server-int.h", "#include \"crypto/crypto.h\"\n"},
      {"lib/pool/pool-int.h", "#include \"sshmux/pool.h\"\n"},
      {"lib/relay/relay-int.h", "#include \"core/core.h\"\n"
                                "#include \"sshmux/relay.h\"\n"},
      {"include/sshmux.h", "#include \"sshmux/pool.h\"\n"},
      {"include/sshmux/pool.h", "/* public */\n"},
      {"include/sshmux/relay.h", "#include \"pool.h\"\n"},
      {"include/sshmux/server.h", "/* public */\n"},
      /* Wrong, one of each kind (the line numbers are asserted). */
      {"lib/core/buf.c", "#include \"core/core.h\"\n"
                         "#include \"crypto/crypto.h\"\n"},
      {"lib/pool/conn.c", "#include \"pool/pool-int.h\"\n"
                          "#include \"server/server-int.h\"\n"},
      {"lib/relay/menu.c", "#include \"relay/relay-int.h\"\n"
                           "#include \"core/buf.h\"\n"},
      {"lib/server/transport.c", "#include \"server/server-int.h\"\n"
                                 "#include \"sshmux/pool.h\"\n"},
      {"lib/routes/umb.c", "#include \"sshmux.h\"\n"},
      {"lib/crypto/hash.c", "#include \"../core/core.h\"\n"},
      {"daemon/d.c", "#include \"core/core.h\"\n"
                     "#include \"pool/pool-int.h\"\n"},
      {"tests/test-relay-x.c", "#include \"sshmux.h\"\n"
                               "#include \"pool/pool-int.h\"\n"},
      {"examples/demo/main.c", "#include \"sshmux.h\"\n"
                               "#include \"core/core.h\"\n"},
      /* Right: a module's own private header, an interface header from
       * below, a public header from below, tests named for the module. */
      {"lib/relay/relay.c", "#include \"relay/relay-int.h\"\n"
                            "#include \"core/core.h\"\n"
                            "#include \"sshmux/pool.h\"\n"
                            "#include \"sshmux/server.h\"\n"},
      {"tests/test-pool-x.c", "#include \"pool/pool-int.h\"\n"},
      {"tests/fuzz/fuzz-server-y.c", "#include \"server/server-int.h\"\n"},
  };
  static const char *const want[] = {
      "lib/core/buf.c:2: ",      "lib/pool/conn.c:2: ",
      "lib/relay/menu.c:2: ",    "lib/server/transport.c:2: ",
      "lib/routes/umb.c:1: ",    "lib/crypto/hash.c:1: ",
      "daemon/d.c:2: ",          "tests/test-relay-x.c:2: ",
      "examples/demo/main.c:2: "};
  char *out = NULL, *err = NULL;
  size_t lines = 0;

  ASSERT_EQ(check_tree(tree, ARRAY_N(tree), &out, &err), 1);
  ASSERT(out != NULL);
  for (size_t i = 0; i < ARRAY_N(want); i++)
    ASSERT_STR_CONTAINS(out, want[i]);
  /* The reasons name what is wrong. */
  ASSERT_STR_CONTAINS(out, "module core may not depend on module crypto");
  ASSERT_STR_CONTAINS(out, "module pool may not depend on module server");
  ASSERT_STR_CONTAINS(out, "private to module core");
  ASSERT_STR_CONTAINS(out, "umbrella");
  /* Nothing else: the right includes pass. */
  for (const char *p = out; *p; p++)
    lines += *p == '\n';
  if (lines != ARRAY_N(want))
    test_fail(__FILE__, __LINE__, "%zu complaints, want %zu:\n%s", lines,
              ARRAY_N(want), out);
  ASSERT(strstr(out, "lib/relay/relay.c") == NULL);
  ASSERT(strstr(out, "tests/test-pool-x.c") == NULL);
  ASSERT(strstr(out, "fuzz-server-y.c") == NULL);
  free(out);
  free(err);
  return 0;
}

TEST_IMPL(layers_check_refuses_calls_up_a_module) {
  static const fake_t tree[] = {
      {"lib/server/conn.c",
       "void sshmux__conn_ref(int *c) {\n"
       "  (*c)++;\n"
       "}\n"
       "/* a comment naming sshmux__server_pass() is not a call */\n"
       "void sshmux__conn_fail(int *c) {\n"
       "  sshmux__server_pass(c);\n" /* up: wrong, line 6 */
       "  c[0] = 0;\n"
       "}\n"},
      {"lib/server/transport.c", "int sshmux__transport_input(int *c,\n"
                                 "                            int n) {\n"
                                 "  sshmux__conn_ref(c);\n" /* down: right */
                                 "  return n;\n"
                                 "}\n"},
      {"lib/server/auth.c", "void sshmux__auth_x(int *c) {\n"
                            "  sshmux__chan_y(c);\n" /* beside: wrong */
                            "}\n"},
      {"lib/server/channel.c", "void sshmux__chan_y(int *c) {\n"
                               "  (void)c;\n"
                               "}\n"},
      {"lib/server/server.c",
       "void sshmux__server_pass(int *c);\n"
       "void sshmux__server_pass(int *c) {\n"
       "  (void)sshmux__transport_input(c, 1);\n" /* down: right */
       "  sshmux__conn_fail(c);\n"
       "}\n"},
      {"lib/server/stray.c", "void sshmux__stray(void) {\n}\n"},
  };
  char *out = NULL, *err = NULL;
  size_t lines = 0;

  ASSERT_EQ(check_tree(tree, ARRAY_N(tree), &out, &err), 1);
  ASSERT(out != NULL);
  ASSERT_STR_CONTAINS(out, "lib/server/conn.c:6: calls sshmux__server_pass() "
                           "of lib/server/server.c, a layer above it");
  ASSERT_STR_CONTAINS(out, "lib/server/auth.c:2: calls sshmux__chan_y() of "
                           "lib/server/channel.c, a layer beside it");
  ASSERT_STR_CONTAINS(out, "lib/server/stray.c:1: a file of module server "
                           "that its layer order does not name");
  for (const char *p = out; *p; p++)
    lines += *p == '\n';
  if (lines != 3)
    test_fail(__FILE__, __LINE__, "%zu complaints, want 3:\n%s", lines, out);
  free(out);
  free(err);
  return 0;
}
