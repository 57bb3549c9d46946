/* test-build-install.c -- `make install` into a DESTDIR lays out the library,
 * headers, pkg-config file and daemon, and a program compiled against the
 * installed tree through pkg-config links and runs. */
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
  return 0;
}
