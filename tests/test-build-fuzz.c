/* test-build-fuzz.c -- every libFuzzer target has a committed seed corpus,
 * and every corpus replays cleanly through its target's real code.  The
 * targets are also linked, with the ordinary compiler, to
 * tests/fuzz/replay.c as $SSHMUX_BUILD/tests/fuzz-replay/NAME (see the
 * Makefile); this test runs each over tests/fuzz/corpus/NAME/.  Under
 * `make asan` the replays carry ASan + UBSan, so a committed regression
 * input that crashes, leaks or trips a sanitizer again fails here.  It
 * needs no clang and takes well under a second per target. */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "test.h"

static const char *src_dir(void) {
  static char p[1024];
  snprintf(p, sizeof(p), "%s/..", test_build_dir());
  return p;
}

TEST_IMPL_T(fuzz_corpora_replay, 240) {
  char fuzzdir[1100];
  DIR *d;
  struct dirent *e;
  int targets = 0;

  snprintf(fuzzdir, sizeof(fuzzdir), "%s/tests/fuzz", src_dir());
  d = opendir(fuzzdir);
  ASSERT(d != NULL);
  while ((e = readdir(d)) != NULL) {
    char name[256], corpus[1400], bin[1400], want[1500];
    const char *argv[3];
    char *out = NULL, *err = NULL;
    size_t l = strlen(e->d_name);
    int files, st;

    if (strncmp(e->d_name, "fuzz-", 5) != 0 || l < 3 ||
        strcmp(e->d_name + l - 2, ".c") != 0 || l - 2 >= sizeof(name))
      continue;
    memcpy(name, e->d_name, l - 2);
    name[l - 2] = '\0';
    snprintf(corpus, sizeof(corpus), "%s/corpus/%s", fuzzdir, name);
    snprintf(bin, sizeof(bin), "%s/tests/fuzz-replay/%s", test_build_dir(),
             name);
    files = test_dir_files(corpus, "", NULL, 0);
    if (files <= 0)
      test_fail(__FILE__, __LINE__, "%s has no seed corpus in %s", name,
                corpus);
    argv[0] = bin;
    argv[1] = corpus;
    argv[2] = NULL;
    st = test_run_simple(argv, &out, &err);
    if (st != 0)
      test_fail(__FILE__, __LINE__, "%s on its corpus: exit %d\n%s%s", name, st,
                out ? out : "", err ? err : "");
    /* Every file was run, none skipped. */
    snprintf(want, sizeof(want), "%s: %d inputs\n", bin, files);
    ASSERT_STR_EQ(out, want);
    printf("# %s: %d inputs replayed\n", name, files);
    free(out);
    free(err);
    targets++;
  }
  closedir(d);
  /* The 8 targets this test was written with, and the 6 added with it. */
  ASSERT(targets >= 14);
  return 0;
}

/* The replay drives the real server code all the way: the ed25519 seed of
 * fuzz-server-auth logs in (its signature is valid for the shortcut's
 * session id) and the kex seed completes an exchange, as the library's own
 * log says (FUZZ_LOG=1, see tests/fuzz/fuzz-server-common.h); a missing
 * path is an error, not an empty run. */
TEST_IMPL(fuzz_replay_reaches_the_server) {
  char bin[1400], seed[1400];
  const char *argv[3] = {bin, seed, NULL};
  char *out = NULL, *err = NULL;

  setenv("FUZZ_LOG", "1", 1);
  snprintf(bin, sizeof(bin), "%s/tests/fuzz-replay/fuzz-server-auth",
           test_build_dir());
  snprintf(seed, sizeof(seed), "%s/tests/fuzz/corpus/fuzz-server-auth/ed25519",
           src_dir());
  ASSERT_EQ(test_run_simple(argv, &out, &err), 0);
  ASSERT(err != NULL && strstr(err, "accepted \"me\" with SHA256:") != NULL);
  free(out);
  free(err);
  snprintf(bin, sizeof(bin), "%s/tests/fuzz-replay/fuzz-server-kex",
           test_build_dir());
  snprintf(seed, sizeof(seed), "%s/tests/fuzz/corpus/fuzz-server-kex/p256",
           src_dir());
  ASSERT_EQ(test_run_simple(argv, &out, &err), 0);
  ASSERT(err != NULL &&
         strstr(err, "kex ecdh-sha2-nistp256, host key ecdsa-sha2-nistp256") !=
             NULL);
  free(out);
  free(err);
  snprintf(seed, sizeof(seed), "%s", test_path("missing"));
  ASSERT(test_run_simple(argv, &out, &err) != 0);
  free(out);
  free(err);
  return 0;
}
