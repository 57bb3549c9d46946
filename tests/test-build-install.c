/* test-build-install.c -- `make install` into a DESTDIR lays out the library,
 * headers, pkg-config file and daemon, and a program compiled against the
 * installed tree through pkg-config links and runs.  Then every example
 * program (examples/NAME/ with examples/common/) is compiled the way an
 * embedder would, with nothing but `pkg-config --cflags --libs libsshmux`
 * pointing at that tree (and -Iexamples for examples/common/; nothing of
 * the library's source tree, no static archive),
 * and runs its --help against the installed shared library. */
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

/* Each example (examples/NAME/, not common/) builds against the
 * installed tree in DESTDIR dest, its --help runs, and it links the
 * installed shared library: 1 for one built, 0 for what is no example. */
static int build_example(const char *path, const char *name, void *dest) {
  char cmd[8192], what[300];
  const char *sh[] = {"sh", "-c", cmd, NULL};
  char *out = NULL, *err = NULL;
  int st;

  if (name[0] == '.' || strcmp(name, "common") == 0)
    return 0;
  snprintf(cmd, sizeof(cmd),
           "export PKG_CONFIG_PATH='%s/opt/sshmux/lib/pkgconfig' "
           "PKG_CONFIG_SYSROOT_DIR='%s'; "
           "cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o 'ex-%s' "
           "-I'%s/..' '%s'/*.c '%s'/../common/*.c "
           "$(pkg-config --cflags --libs libsshmux) && "
           "LD_LIBRARY_PATH='%s/opt/sshmux/lib' ./'ex-%s' --help && "
           "LD_LIBRARY_PATH='%s/opt/sshmux/lib' ldd ./'ex-%s' | "
           "grep -q '%s/opt/sshmux/lib/libsshmux.so'",
           (char *)dest, (char *)dest, name, path, path, path, (char *)dest,
           name, (char *)dest, name, (char *)dest);
  st = test_run_status(&(test_cmd_t){.argv = sh, .out = &out, .err = &err});
  snprintf(what, sizeof(what), "example %s", name);
  test_expect_result(what, st, 0, out, err, "usage", NULL);
  return 1;
}

TEST_IMPL_T(install_destdir_and_pkgconfig, 120) {
  char src[512], dest[512], cmd[8192], exdir[700];
  const char *b = test_build_dir();
  const char *sh[] = {"sh", "-c", cmd, NULL};

  TEST_REQUIRE_PROGRAMS("pkg-config", "make");
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
  test_expect_run(sh, 0, NULL, NULL);
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
  test_expect_run(sh, 0, sshmux_version_string(), NULL);

  /* Every example, against the installed tree only. */
  snprintf(exdir, sizeof(exdir), "%s/examples", src);
  /* echo-server, fleet-exec, jump-proxy, mini-proxy */
  ASSERT_GE(test_dir_each(exdir, build_example, dest), 4);
  return 0;
}
