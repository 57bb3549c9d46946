/* test-build-abi.c -- the shared library's ABI hygiene: only sshmux_ symbols
 * are exported (no sshmux__ internals, no dependency symbols), the SONAME is
 * the major version, and every exported function is declared in a public header
 * (curl's meta-test habit), and no public macro is defined in two headers. */
#include "test.h"

static char *lib_path(void) {
  static char p[1024];
  snprintf(p, sizeof(p), "%s/libsshmux.so.%d", test_build_dir(),
           SSHMUX_VERSION_MAJOR);
  return p;
}

TEST_IMPL(abi_exports_only_sshmux) {
  const char *argv[] = {"nm", "-D", "--defined-only", lib_path(), NULL};
  char *out = NULL, *line, *save = NULL;
  int n = 0;

  TEST_REQUIRE_PROGRAM("nm");
  ASSERT_EQ(test_run_simple(argv, &out, NULL), 0);
  for (line = strtok_r(out, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    const char *name = strrchr(line, ' ');
    name = name ? name + 1 : line;
    if (strncmp(name, "sshmux_", 7) != 0 || strncmp(name, "sshmux__", 8) == 0)
      test_fail(__FILE__, __LINE__, "unexpected export: %s", line);
    n++;
  }
  ASSERT_GT(n, 5);
  free(out);
  return 0;
}

TEST_IMPL(abi_soname_is_major) {
  const char *argv[] = {"objdump", "-p", lib_path(), NULL};
  char *out = NULL;
  char want[64];

  TEST_REQUIRE_PROGRAM("objdump");
  ASSERT_EQ(test_run_simple(argv, &out, NULL), 0);
  snprintf(want, sizeof(want), "libsshmux.so.%d", SSHMUX_VERSION_MAJOR);
  ASSERT_STR_CONTAINS(out, "SONAME");
  ASSERT_STR_CONTAINS(strstr(out, "SONAME"), want);
  free(out);
  return 0;
}

TEST_IMPL(abi_exports_declared_in_headers) {
  const char *nm[] = {"nm", "-D", "--defined-only", lib_path(), NULL};
  const char *cat[] = {"sh", "-c", "cat \"$0\"/../include/sshmux/*.h", NULL,
                       NULL};
  char *syms = NULL, *hdrs = NULL, *line, *save = NULL;
  char dir[1024];

  TEST_REQUIRE_PROGRAM("nm");
  snprintf(dir, sizeof(dir), "%s", test_build_dir());
  cat[3] = dir;
  ASSERT_EQ(test_run_simple(nm, &syms, NULL), 0);
  ASSERT_EQ(test_run_simple(cat, &hdrs, NULL), 0);
  for (line = strtok_r(syms, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char pat[256];
    const char *name = strrchr(line, ' ');
    name = name ? name + 1 : line;
    snprintf(pat, sizeof(pat), "%s(", name);
    if (strstr(hdrs, pat) == NULL)
      test_fail(__FILE__, __LINE__, "%s is exported but not declared", name);
  }
  free(syms);
  free(hdrs);
  return 0;
}

/* A public macro is defined in exactly one header (two headers that agree
 * today may disagree tomorrow; the embedder includes both). */
TEST_IMPL(abi_macros_defined_once) {
  const char *sh[] = {
      "sh", "-c",
      "cd \"$0\"/../include/sshmux && grep -o '^#define SSHMUX_[A-Za-z0-9_]*' "
      "*.h | sort -u | cut -d: -f2 | sort | uniq -d",
      NULL, NULL};
  char *out = NULL;
  char dir[1024];

  snprintf(dir, sizeof(dir), "%s", test_build_dir());
  sh[3] = dir;
  ASSERT_EQ(test_run_simple(sh, &out, NULL), 0);
  if (out != NULL && out[0] != '\0')
    test_fail(__FILE__, __LINE__, "defined in more than one header:\n%s", out);
  free(out);
  return 0;
}
