/* daemon-helpers.h -- running build/sshmuxd in a throwaway home for the
 * tests/test-daemon-*.c files.  Every run gets HOME, XDG_CONFIG_HOME and
 * XDG_RUNTIME_DIR inside the test's own directory, SSHMUX_NO_ENABLE=1 (no
 * service manager is ever called) and SSHMUX_SSH_DIR/SSHMUX_LOG cleared,
 * so nothing can reach the real user's files or session. */
#ifndef SSHMUX_DAEMON_HELPERS_H
#define SSHMUX_DAEMON_HELPERS_H

#include "test.h"

/* Create <test dir>/home/.ssh (0700) and an empty runtime dir. */
void dtest_setup(void);
/* Paths inside the throwaway home / its .ssh (static rotation of 8). */
const char *dtest_home_path(const char *rel);
const char *dtest_ssh_path(const char *name);
/* Absolute path of build/sshmuxd (static). */
const char *dtest_sshmuxd(void);
/* Run build/sshmuxd with args (NULL-terminated, without argv[0]) and extra
 * NAME=VALUE environment entries (may be NULL); captures stdout and
 * stderr (caller frees; NULL to discard).  Returns the exit status. */
int dtest_run(const char *const *args, const char *const *env, char **out,
              char **err);
/* dtest_run(args) without extra environment must exit with status, its
 * stdout holding out_needle and its stderr err_needle (each may be NULL:
 * not checked). */
void dtest_expect(const char *const *args, int status, const char *out_needle,
                  const char *err_needle);
/* Set the same throwaway environment in this test process (for
 * test_spawn), plus PATH=<test dir>/bin only, so any program sshmuxd runs
 * by name is one the test put there. */
void dtest_setenv_isolated(void);
/* Write <test dir>/bin/systemctl: a fake that appends its arguments to
 * <test dir>/calls and, for daemon-reload when FAKE_SLEEP is set, writes
 * its pid to <test dir>/sleep.pid and sleeps. */
void dtest_fake_systemctl(void);
/* Write a file, failing the test on error. */
void dtest_write(const char *path, const char *text);

#endif
