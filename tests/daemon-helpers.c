/* daemon-helpers.c -- see daemon-helpers.h. */
#include <sys/stat.h>
#include <unistd.h>

#include "daemon-helpers.h"

void dtest_setup(void) {
  ASSERT_EQ(mkdir(test_path("home"), 0700), 0);
  ASSERT_EQ(mkdir(test_path("home/.ssh"), 0700), 0);
  ASSERT_EQ(mkdir(test_path("run"), 0700), 0);
}

const char *dtest_home_path(const char *rel) {
  static char buf[8][1024];
  static int slot;
  char *out = buf[slot++ & 7];

  snprintf(out, sizeof(buf[0]), "%s/%s", test_path("home"), rel);
  return out;
}

const char *dtest_ssh_path(const char *name) {
  char rel[512];

  snprintf(rel, sizeof(rel), ".ssh/%s", name);
  return dtest_home_path(rel);
}

const char *dtest_sshmuxd(void) {
  static char p[1100];
  char real[1024];

  if (realpath(test_build_dir(), real) == NULL)
    snprintf(real, sizeof(real), "%s", test_build_dir());
  snprintf(p, sizeof(p), "%s/sshmuxd", real);
  return p;
}

int dtest_run(const char *const *args, const char *const *env, char **out,
              char **err) {
  static char home[1100], xdg[1100], run[1100], prog[1100];
  const char *envv[32];
  test_argv_t argv = {0};
  test_cmd_t c = {0};
  size_t m = 0;
  int st = -1;

  snprintf(prog, sizeof(prog), "%s/sshmuxd", test_build_dir());
  snprintf(home, sizeof(home), "HOME=%s", test_path("home"));
  snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s", test_path("home/.config"));
  snprintf(run, sizeof(run), "XDG_RUNTIME_DIR=%s", test_path("run"));
  test_argv_add(&argv, prog, NULL);
  test_argv_addv(&argv, args);
  envv[m++] = home;
  envv[m++] = xdg;
  envv[m++] = run;
  envv[m++] = "SSHMUX_NO_ENABLE=1";
  envv[m++] = "SSHMUX_SSH_DIR=";
  envv[m++] = "SSHMUX_LOG=";
  while (env != NULL && *env != NULL && m < 31)
    envv[m++] = *env++;
  envv[m] = NULL;
  c.argv = argv.v;
  c.env = envv;
  c.out = out;
  c.err = err;
  c.timeout_ms = 20000;
  ASSERT_EQ(test_run(&c, &st), 0);
  return st;
}

void dtest_write(const char *path, const char *text) {
  ASSERT_EQ(test_write_file(path, text, 0600), 0);
}

void dtest_expect(const char *const *args, int status, const char *out_needle,
                  const char *err_needle) {
  char *out = NULL, *err = NULL;
  int st = dtest_run(args, NULL, &out, &err);

  test_expect_result(args[0], st, status, out, err, out_needle, err_needle);
}

void dtest_setenv_isolated(void) {
  ASSERT_EQ(setenv("HOME", test_path("home"), 1), 0);
  ASSERT_EQ(setenv("XDG_CONFIG_HOME", test_path("home/.config"), 1), 0);
  ASSERT_EQ(setenv("XDG_RUNTIME_DIR", test_path("run"), 1), 0);
  ASSERT_EQ(setenv("PATH", test_path("bin"), 1), 0);
  ASSERT_EQ(unsetenv("SSHMUX_SSH_DIR"), 0);
  ASSERT_EQ(unsetenv("SSHMUX_LOG"), 0);
}

void dtest_fake_systemctl(void) {
  mkdir(test_path("bin"), 0700);
  test_write_fmt(
      test_path("bin/systemctl"), 0700,
      "#!/bin/sh\n"
      "echo \"$*\" >> '%s'\n"
      "if [ \"$2\" = daemon-reload ] && [ -n \"$FAKE_SLEEP\" ]; then\n"
      "  echo $$ > '%s'\n"
      "  exec /bin/sleep 30\n"
      "fi\n"
      "exit 0\n",
      test_path("calls"), test_path("sleep.pid"));
}
