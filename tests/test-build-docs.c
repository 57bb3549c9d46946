/* test-build-docs.c -- the manual pages keep up with the library (curl's
 * meta-test habit): every function the shared object exports has a man(3)
 * page in docs/man/, either its own NAME.3 or a name in some page's NAME
 * section; every page's SYNOPSIS names only functions that exist; every
 * ".so" link page points at a page that exists and names its link; and
 * every real page formats without a single warning under
 * `groff -man -Tutf8 -ww` (groff-base, from scripts/deps.sh).  Also: every
 * line of docs/security.md's checklist names existing tests, and every
 * security_* test is on a line.
 *
 * The pages are found from the build directory ($SSHMUX_BUILD/..), as
 * test-build-abi.c finds the headers, so the test also runs for build-asan/. */
#include <dirent.h>

#include "test.h"

#define MAX_PAGES 512
#define MAX_SYMS 1024

typedef struct {
  char file[256]; /* "sshmux_pool_new.3" */
  char *text;     /* whole file */
  int is_link;    /* a one-line ".so man3/OTHER.3" */
} page_t;

typedef struct {
  page_t pages[MAX_PAGES];
  size_t npages;
  char *syms[MAX_SYMS]; /* exported sshmux_* functions */
  size_t nsyms;
  char *nm_out;
  char dir[1024]; /* docs/man */
} docs_t;

static int cmp_page(const void *a, const void *b) {
  return strcmp(((const page_t *)a)->file, ((const page_t *)b)->file);
}

static void load_pages(docs_t *d) {
  DIR *dp;
  struct dirent *de;

  snprintf(d->dir, sizeof(d->dir), "%s/../docs/man", test_build_dir());
  dp = opendir(d->dir);
  if (dp == NULL)
    test_fail(__FILE__, __LINE__, "cannot open %s", d->dir);
  while ((de = readdir(dp)) != NULL) {
    size_t n = strlen(de->d_name);
    char path[1400];
    page_t *p;

    if (n < 3 || strcmp(de->d_name + n - 2, ".3") != 0)
      continue;
    ASSERT_LT(d->npages, MAX_PAGES);
    ASSERT_LT(n, sizeof(p->file));
    p = &d->pages[d->npages++];
    snprintf(p->file, sizeof(p->file), "%s", de->d_name);
    snprintf(path, sizeof(path), "%s/%s", d->dir, de->d_name);
    p->text = test_read_file(path, NULL);
    ASSERT(p->text != NULL);
    p->is_link = strncmp(p->text, ".so ", 4) == 0;
  }
  closedir(dp);
  qsort(d->pages, d->npages, sizeof(d->pages[0]), cmp_page);
  ASSERT_GT(d->npages, 10);
}

static void load_syms(docs_t *d) {
  char lib[1024];
  const char *argv[] = {
      "nm", "-D", "--defined-only", "--without-symbol-versions", lib, NULL};
  char *line, *save = NULL;

  snprintf(lib, sizeof(lib), "%s/libsshmux.so.%d", test_build_dir(),
           SSHMUX_VERSION_MAJOR);
  ASSERT_EQ(test_run_simple(argv, &d->nm_out, NULL), 0);
  for (line = strtok_r(d->nm_out, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    char *name = strrchr(line, ' ');
    name = name != NULL ? name + 1 : line;
    if (strncmp(name, "sshmux_", 7) != 0)
      continue;
    ASSERT_LT(d->nsyms, MAX_SYMS);
    d->syms[d->nsyms++] = name;
  }
  ASSERT_GT(d->nsyms, 50);
}

static void docs_free(docs_t *d) {
  for (size_t i = 0; i < d->npages; i++)
    free(d->pages[i].text);
  free(d->nm_out);
}

static const page_t *find_page(const docs_t *d, const char *file) {
  for (size_t i = 0; i < d->npages; i++)
    if (strcmp(d->pages[i].file, file) == 0)
      return &d->pages[i];
  return NULL;
}

static int is_sym(const docs_t *d, const char *name, size_t len) {
  for (size_t i = 0; i < d->nsyms; i++)
    if (strlen(d->syms[i]) == len && strncmp(d->syms[i], name, len) == 0)
      return 1;
  return 0;
}

/* The text of section `sh` (".SH NAME") up to the next ".SH", in a
 * buffer of `cap` bytes; empty if the page has no such section. */
static void section(const char *text, const char *sh, char *out, size_t cap) {
  const char *s = strstr(text, sh), *e;
  size_t n;

  out[0] = '\0';
  if (s == NULL)
    return;
  s += strlen(sh);
  e = strstr(s, "\n.SH ");
  n = e != NULL ? (size_t)(e - s) : strlen(s);
  if (n >= cap)
    n = cap - 1;
  memcpy(out, s, n);
  out[n] = '\0';
}

/* Whether `name` is one of the comma-separated names before "\-" in the
 * NAME section of page p. */
static int page_names(const page_t *p, const char *name) {
  char buf[8192];
  char *dash, *tok, *save = NULL;

  section(p->text, ".SH NAME\n", buf, sizeof(buf));
  dash = strstr(buf, "\\-");
  if (dash == NULL)
    return 0;
  *dash = '\0';
  for (tok = strtok_r(buf, ", \n", &save); tok != NULL;
       tok = strtok_r(NULL, ", \n", &save))
    if (strcmp(tok, name) == 0)
      return 1;
  return 0;
}

TEST_IMPL(docs_every_export_has_a_page) {
  static docs_t d;
  int missing = 0;

  TEST_REQUIRE_PROGRAM("nm");
  load_pages(&d);
  load_syms(&d);
  ASSERT(find_page(&d, "sshmux.3") != NULL); /* the overview */
  for (size_t i = 0; i < d.nsyms; i++) {
    char file[300];
    int found = 0;

    snprintf(file, sizeof(file), "%s.3", d.syms[i]);
    if (find_page(&d, file) != NULL)
      found = 1;
    for (size_t j = 0; !found && j < d.npages; j++)
      if (!d.pages[j].is_link && page_names(&d.pages[j], d.syms[i]))
        found = 1;
    if (!found) {
      fprintf(stderr, "# no man page for %s\n", d.syms[i]);
      missing++;
    }
  }
  ASSERT_EQ(missing, 0);
  docs_free(&d);
  return 0;
}

TEST_IMPL(docs_synopsis_names_only_real_functions) {
  static docs_t d;
  static char syn[16384];
  int bad = 0, checked = 0;

  TEST_REQUIRE_PROGRAM("nm");
  load_pages(&d);
  load_syms(&d);
  for (size_t i = 0; i < d.npages; i++) {
    const char *s;

    if (d.pages[i].is_link)
      continue;
    section(d.pages[i].text, ".SH SYNOPSIS\n", syn, sizeof(syn));
    /* Every "sshmux_xxx(" that is not a typedef'd callback "(*sshmux_x)(" is
     * a function declaration and must be exported. */
    for (s = strstr(syn, "sshmux_"); s != NULL; s = strstr(s + 1, "sshmux_")) {
      size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
      if (s[n] != '(' || (s >= syn + 2 && s[-1] == '*' && s[-2] == '('))
        continue;
      if (s > syn && (s[-1] == '_' || (s[-1] >= 'a' && s[-1] <= 'z')))
        continue;
      checked++;
      if (!is_sym(&d, s, n)) {
        fprintf(stderr, "# %s: SYNOPSIS declares %.*s, which is not exported\n",
                d.pages[i].file, (int)n, s);
        bad++;
      }
    }
  }
  ASSERT_EQ(bad, 0);
  ASSERT_GT(checked, 50);
  docs_free(&d);
  return 0;
}

TEST_IMPL(docs_link_pages_resolve) {
  static docs_t d;

  load_pages(&d);
  for (size_t i = 0; i < d.npages; i++) {
    const page_t *p = &d.pages[i], *target;
    char want[300], name[300];
    const char *t;

    if (!p->is_link)
      continue;
    /* Exactly ".so man3/TARGET.3\n", as man-db and `make install` expect. */
    ASSERT(strncmp(p->text, ".so man3/", 9) == 0);
    t = p->text + 9;
    ASSERT(strchr(t, '\n') != NULL && strchr(t, '\n')[1] == '\0');
    snprintf(want, sizeof(want), "%.*s", (int)(strchr(t, '\n') - t), t);
    target = find_page(&d, want);
    if (target == NULL || target->is_link)
      test_fail(__FILE__, __LINE__, "%s links to %s, which is not a page",
                p->file, want);
    snprintf(name, sizeof(name), "%.*s", (int)(strlen(p->file) - 2), p->file);
    if (!page_names(target, name))
      test_fail(__FILE__, __LINE__, "%s links to %s, whose NAME omits %s",
                p->file, want, name);
  }
  docs_free(&d);
  return 0;
}

/* Format one page with every groff warning enabled; the page passes only
 * when groff prints nothing on stderr. */
static int groff_clean(const char *path) {
  const char *argv[] = {"groff", "-man", "-Tutf8", "-ww", "-z", path, NULL};
  char *err = NULL;
  int st, ok;

  st = test_run_simple(argv, NULL, &err);
  ok = st == 0 && err != NULL && err[0] == '\0';
  if (!ok)
    fprintf(stderr, "# %s: groff exit %d:\n%s", path, st, err ? err : "");
  free(err);
  return ok;
}

TEST_IMPL(docs_pages_format_without_warnings) {
  static docs_t d;
  char path[1400];
  int bad = 0, n = 0;

  TEST_REQUIRE_PROGRAM("groff");
  load_pages(&d);
  for (size_t i = 0; i < d.npages; i++) {
    if (d.pages[i].is_link)
      continue;
    ASSERT(strncmp(d.pages[i].text, ".TH ", 4) == 0 ||
           strstr(d.pages[i].text, "\n.TH ") != NULL);
    snprintf(path, sizeof(path), "%s/%s", d.dir, d.pages[i].file);
    bad += !groff_clean(path);
    n++;
  }
  snprintf(path, sizeof(path), "%s/sshmuxd.8", d.dir);
  bad += !groff_clean(path);
  ASSERT_EQ(bad, 0);
  ASSERT_GT(n, 10);
  docs_free(&d);
  return 0;
}

/* docs/security.md's checklist: every line names tests that exist, and
 * every security_* test is on some line (so the checklist and the tests
 * written for it cannot drift apart). */
TEST_IMPL(docs_security_checklist_paired) {
  char path[1100], bin[1100];
  const char *argv[] = {bin, "-l", NULL};
  char *doc, *list = NULL, *sec, *line, *save = NULL;
  int lines = 0;

  snprintf(path, sizeof(path), "%s/../docs/security.md", test_build_dir());
  snprintf(bin, sizeof(bin), "%s/tests/run-tests", test_build_dir());
  doc = test_read_file(path, NULL);
  ASSERT(doc != NULL);
  ASSERT_EQ(test_run_simple(argv, &list, NULL), 0);
  ASSERT(list != NULL);
  sec = strstr(doc, "\n## Checklist");
  ASSERT(sec != NULL);
  {
    char *end = strstr(sec + 1, "\n## ");
    if (end != NULL)
      *end = '\0';
  }
  for (line = strtok_r(sec, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    const char *t;
    int names = 0;
    if (strncmp(line, "- ", 2) != 0)
      continue;
    lines++;
    t = strstr(line, " -- tests: ");
    if (t == NULL)
      test_fail(__FILE__, __LINE__, "checklist line without tests: %s", line);
    for (t = strchr(t, '`'); t != NULL; t = strchr(t, '`')) {
      const char *e = strchr(t + 1, '`');
      char name[128], want[140];
      ASSERT(e != NULL && (size_t)(e - t) < sizeof(name));
      snprintf(name, sizeof(name), "%.*s", (int)(e - t - 1), t + 1);
      /* `run-tests -l` prints "NAME (FILE)" a line. */
      snprintf(want, sizeof(want), "\n%s (", name);
      if (strncmp(list, want + 1, strlen(want + 1)) != 0 &&
          strstr(list, want) == NULL)
        test_fail(__FILE__, __LINE__, "checklist names unknown test %s", name);
      names++;
      t = e + 1;
    }
    if (names == 0)
      test_fail(__FILE__, __LINE__, "checklist line names no test: %s", line);
  }
  ASSERT_GE(lines, 25);
  /* Every security_* test is on a line of the checklist. */
  {
    char *l, *s2 = NULL;
    snprintf(path, sizeof(path), "%s/../docs/security.md", test_build_dir());
    free(doc);
    doc = test_read_file(path, NULL);
    for (l = strtok_r(list, "\n", &s2); l != NULL;
         l = strtok_r(NULL, "\n", &s2)) {
      char quoted[140];
      if (strncmp(l, "security_", 9) != 0)
        continue;
      snprintf(quoted, sizeof(quoted), "`%.*s`", (int)strcspn(l, " "), l);
      if (strstr(doc, quoted) == NULL)
        test_fail(__FILE__, __LINE__, "%s is on no line of the checklist", l);
    }
  }
  free(doc);
  free(list);
  return 0;
}
