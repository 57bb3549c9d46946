/* test-build-abi.c -- the shared library's ABI hygiene: only sshmux_ symbols
 * are exported (no sshmux__ internals, no dependency symbols), the SONAME is
 * the major version, and every exported function is declared in a public header
 * (curl's meta-test habit), and no public macro is defined in two headers. */
#include <ctype.h>

#include "test.h"

static char *lib_path(void) {
  static char p[1024];
  snprintf(p, sizeof(p), "%s/libsshmux.so.%d", test_build_dir(),
           SSHMUX_VERSION_MAJOR);
  return p;
}

/* The shared library's defined dynamic symbols, one "ADDR T NAME" a line,
 * in a fresh buffer (nm must exist: TEST_REQUIRE_PROGRAM first). */
static char *exported(void) {
  const char *argv[] = {
      "nm",       "-D", "--defined-only", "--without-symbol-versions",
      lib_path(), NULL};
  char *out = NULL;

  ASSERT_EQ(test_run_simple(argv, &out, NULL), 0);
  return out;
}

/* Every public header (include/sshmux/NAME.h), one after the other, in a
 * fresh buffer. */
static char *public_headers(void) {
  const char *cat[] = {"sh", "-c", "cat \"$0\"/../include/sshmux/*.h",
                       test_build_dir(), NULL};
  char *out = NULL;

  ASSERT_EQ(test_run_simple(cat, &out, NULL), 0);
  return out;
}

/* The next line of a symbol listing (nm -D, objdump -T) and in *name its
 * last word, the symbol; NULL after the last.  *text is the listing the
 * first time (it is cut up, as strtok_r does, with *save), then NULL.
 * The version nodes of the map in nm's listing (" A LIBSSHMUX_...") are
 * not symbols and are passed over. */
static char *next_symbol(char **text, char **save, const char **name) {
  char *line;

  while ((line = strtok_r(*text, "\n", save)) != NULL) {
    *text = NULL;
    if (strstr(line, " A LIBSSHMUX_") == NULL)
      break;
  }
  *text = NULL;
  if (line != NULL) {
    *name = strrchr(line, ' ');
    *name = *name != NULL ? *name + 1 : line;
  }
  return line;
}

/* Every symbol of the listing text (freed here) that counts (counts NULL:
 * all) must be ok, else the test fails with problem and its line; more
 * than min must count. */
static void every_symbol(char *text, int (*counts)(const char *, const char *),
                         int (*ok)(const char *, const char *),
                         const char *problem, int min) {
  char *rest = text, *line, *save = NULL;
  const char *name;
  int n = 0;

  while ((line = next_symbol(&rest, &save, &name)) != NULL) {
    if (counts != NULL && !counts(line, name))
      continue;
    if (!ok(line, name))
      test_fail(__FILE__, __LINE__, "%s: %s", problem, line);
    n++;
  }
  ASSERT_GT(n, min);
  free(text);
}

/* sshmux_ but not sshmux__ (internal). */
static int public_name(const char *line, const char *name) {
  (void)line;
  return strncmp(name, "sshmux_", 7) == 0 && strncmp(name, "sshmux__", 8) != 0;
}

TEST_IMPL(abi_exports_only_sshmux) {
  TEST_REQUIRE_PROGRAM("nm");
  every_symbol(exported(), NULL, public_name, "unexpected export", 5);
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
  char *syms, *hdrs, *rest, *save = NULL;
  const char *name;

  TEST_REQUIRE_PROGRAM("nm");
  rest = syms = exported();
  hdrs = public_headers();
  while (next_symbol(&rest, &save, &name) != NULL) {
    char pat[256];
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

/* Every exported function carries a version from lib/libsshmux.map (no
 * unversioned or default-version export slipped past the map). */
/* An sshmux_ function (in .text) of objdump -T's listing. */
static int sshmux_function(const char *line, const char *name) {
  return strncmp(name, "sshmux_", 7) == 0 && strstr(line, ".text") != NULL;
}

static int versioned(const char *line, const char *name) {
  (void)name;
  return strstr(line, " LIBSSHMUX_0.") != NULL;
}

TEST_IMPL(abi_symbols_versioned) {
  const char *argv[] = {"objdump", "-T", lib_path(), NULL};
  char *out = NULL;

  TEST_REQUIRE_PROGRAM("objdump");
  ASSERT_EQ(test_run_simple(argv, &out, NULL), 0);
  every_symbol(out, sshmux_function, versioned, "export without a version",
               100);
  return 0;
}

/* And the other way round: every function a public header declares with
 * SSHMUX_EXTERN is exported -- a new function missing from the map's list
 * would link statically but not against the shared library. */
TEST_IMPL(abi_extern_functions_exported) {
  char *syms, *hdrs;
  int n = 0;

  TEST_REQUIRE_PROGRAM("nm");
  syms = exported();
  hdrs = public_headers();
  for (const char *p = hdrs; (p = strstr(p, "\nSSHMUX_EXTERN ")) != NULL; p++) {
    const char *paren = strchr(p, '('), *e = paren, *b;
    char name[128], pat[140];
    ASSERT(paren != NULL);
    while (e > p && e[-1] == ' ')
      e--;
    for (b = e; b > p && (isalnum((unsigned char)b[-1]) || b[-1] == '_'); b--)
      ;
    ASSERT_LT((size_t)(e - b), sizeof(name));
    snprintf(name, sizeof(name), "%.*s", (int)(e - b), b);
    snprintf(pat, sizeof(pat), " %s\n", name);
    if (strstr(syms, pat) == NULL)
      test_fail(__FILE__, __LINE__,
                "%s is declared SSHMUX_EXTERN but not exported (add it to "
                "lib/libsshmux.map)",
                name);
    n++;
  }
  ASSERT_GT(n, 100);
  free(syms);
  free(hdrs);
  return 0;
}

/* The ABI against the committed baseline (abi/libsshmux.so.0.abi, written
 * by `make abi-baseline` with abidw from abigail-tools): a function or
 * variable removed, or changed (its signature or a public type it reaches,
 * such as an options struct's layout), fails; additions are listed and
 * pass.  docs/ABI.md says when the baseline is renewed. */
TEST_IMPL_T(abi_matches_baseline, 120) {
  char base[1200], inc[1200];
  const char *argv[] = {"abidiff", "--headers-dir2", inc,
                        base,      lib_path(),       NULL};
  char *out = NULL;
  int st;

  TEST_REQUIRE_PROGRAM("abidiff");
  snprintf(base, sizeof(base), "%s/../abi/libsshmux.so.%d.abi",
           test_build_dir(), SSHMUX_VERSION_MAJOR);
  snprintf(inc, sizeof(inc), "%s/../include", test_build_dir());
  {
    test_cmd_t c = {.argv = argv, .out = &out, .timeout_ms = 100000};
    ASSERT_EQ(test_run(&c, &st), 0);
  }
  /* abidiff's status bits: 1 error, 2 usage, 4 ABI change, 8 incompatible. */
  if (st & 3)
    test_fail(__FILE__, __LINE__, "abidiff failed (%d): %s", st, out);
  /* Removed or changed functions and variables (a changed function is
   * one whose signature or a type it reaches changed) fail; additions
   * alone pass and are listed. */
  if ((st & 8) ||
      strstr(out, "Functions changes summary: 0 Removed, 0 Changed") == NULL ||
      strstr(out, "Variables changes summary: 0 Removed, 0 Changed") == NULL)
    test_fail(__FILE__, __LINE__, "ABI change against the baseline:\n%s", out);
  if (st & 4)
    fprintf(stderr, "# ABI additions since the baseline:\n%s", out);
  free(out);
  return 0;
}
