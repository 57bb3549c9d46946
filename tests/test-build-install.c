/* test-build-install.c -- `make install` into a DESTDIR lays out the library,
 * headers, pkg-config file and daemon, and a program compiled against the
 * installed tree through pkg-config links and runs.  Then every example
 * program (examples/NAME/ with examples/common/) is compiled the way an
 * embedder would, with nothing but `pkg-config --cflags --libs libsshmux`
 * pointing at that tree (and -Iexamples for examples/common/; nothing of
 * the library's source tree, no static archive),
 * and runs its --help against the installed shared library. */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

TEST_IMPL_T(install_destdir_and_pkgconfig, 120) {
  char src[512], dest[512], cmd[8192];
  const char *b = test_build_dir();
  const char *sh[] = {"sh", "-c", cmd, NULL};
  char *out = NULL, *err = NULL;
  int st;

  TEST_REQUIRE_PROGRAM("pkg-config");
  TEST_REQUIRE_PROGRAM("make");
  /* Only the default build: installing rebuilds with the tree's flags. */
  if (strlen(b) < 6 || strcmp(b + strlen(b) - 6, "/build") != 0) {
    fprintf(stderr, "skipped: install is checked in the default build only\n");
    return TEST_SKIP;
  }
  snprintf(src, sizeof(src), "%.*s", (int)(strlen(b) - 6), b);
  snprintf(dest, sizeof(dest), "%s", test_path("dest"));
  snprintf(cmd, sizeof(cmd),
           "make -s -C '%s' install PREFIX=/opt/sshmux DESTDIR='%s' >/dev/null"
           " && test -f '%s/opt/sshmux/lib/libsshmux.a'"
           " && test -f '%s/opt/sshmux/include/sshmux.h'"
           " && test -x '%s/opt/sshmux/bin/sshmuxd'"
           " && test -L '%s/opt/sshmux/lib/libsshmux.so'",
           src, dest, dest, dest, dest, dest);
  st = test_run_simple(sh, &out, &err);
  if (st != 0)
    fprintf(stderr, "%s\n%s\n", out, err);
  ASSERT_EQ(st, 0);
  free(out);
  free(err);
  ASSERT_OK(test_write_file(test_path("p.c"),
                            "#include <sshmux.h>\n#include <stdio.h>\n"
                            "int main(void) { puts(sshmux_version_string());"
                            " return 0; }\n",
                            0644));
  snprintf(cmd, sizeof(cmd),
           "export PKG_CONFIG_PATH='%s/opt/sshmux/lib/pkgconfig' "
           "PKG_CONFIG_SYSROOT_DIR='%s'; "
           "cc -o p p.c $(pkg-config --cflags --libs libsshmux) && "
           "LD_LIBRARY_PATH='%s/opt/sshmux/lib' ./p",
           dest, dest, dest);
  out = err = NULL;
  st = test_run_simple(sh, &out, &err);
  if (st != 0)
    fprintf(stderr, "%s\n%s\n", out, err);
  ASSERT_EQ(st, 0);
  ASSERT_STR_CONTAINS(out, sshmux_version_string());
  free(out);
  free(err);

  /* Every example, against the installed tree only. */
  {
    char exdir[700];
    DIR *d;
    struct dirent *de;
    int n = 0;

    snprintf(exdir, sizeof(exdir), "%s/examples", src);
    d = opendir(exdir);
    ASSERT(d != NULL);
    while ((de = readdir(d)) != NULL) {
      if (de->d_name[0] == '.' || strcmp(de->d_name, "common") == 0)
        continue;
      snprintf(cmd, sizeof(cmd),
               "export PKG_CONFIG_PATH='%s/opt/sshmux/lib/pkgconfig' "
               "PKG_CONFIG_SYSROOT_DIR='%s'; "
               "cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o 'ex-%s' "
               "-I'%s' '%s/%s'/*.c '%s'/common/*.c "
               "$(pkg-config --cflags --libs libsshmux) && "
               "LD_LIBRARY_PATH='%s/opt/sshmux/lib' ./'ex-%s' --help && "
               "LD_LIBRARY_PATH='%s/opt/sshmux/lib' ldd ./'ex-%s' | "
               "grep -q '%s/opt/sshmux/lib/libsshmux.so'",
               dest, dest, de->d_name, exdir, exdir, de->d_name, exdir, dest,
               de->d_name, dest, de->d_name, dest);
      out = err = NULL;
      st = test_run_simple(sh, &out, &err);
      if (st != 0)
        fprintf(stderr, "example %s: %s\n%s\n", de->d_name, out, err);
      ASSERT_EQ(st, 0);
      ASSERT_STR_CONTAINS(out, "usage");
      free(out);
      free(err);
      n++;
    }
    closedir(d);
    ASSERT_GE(n, 4); /* echo-server, fleet-exec, jump-proxy, mini-proxy */
  }
  return 0;
}
