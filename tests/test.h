/* test.h -- the test framework: how a test is declared, its asserts, and
 * the helpers every test file may use.
 *
 * A test is `TEST_IMPL(name) { ...; return 0; }` (or TEST_IMPL_T(name,
 * seconds) for a longer timeout than the default 60 s) in a file
 * tests/test-<feature>.c.  The build scans these lines; there is no list to
 * edit.  The runner (runner.c) runs each test in its own child process, in
 * its own fresh temporary directory (the current directory and $TMPDIR),
 * with a timeout, and kills the child's whole process group afterwards.
 *
 * A test returns 0 (pass), or TEST_SKIP after printing why.  Asserts print
 * both sides and exit the child with status 1.  TEST_REQUIRE_PROGRAM skips
 * when a peer program is missing -- except under CI (CI set in the
 * environment), where a missing peer is a failure. */
#ifndef SSHMUX_TEST_H
#define SSHMUX_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sshmux.h"

#define TEST_SKIP 77

#define TEST_IMPL(name)                                                        \
  int run_test_##name(void);                                                   \
  int run_test_##name(void)
#define TEST_IMPL_T(name, secs) TEST_IMPL(name)

void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

#define ASSERT(expr)                                                           \
  do {                                                                         \
    if (!(expr))                                                               \
      test_fail(__FILE__, __LINE__, "assertion failed: %s", #expr);            \
  } while (0)

#define ASSERT_INT_OP(a, op, b)                                                \
  do {                                                                         \
    int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                              \
    if (!(a_ op b_))                                                           \
      test_fail(__FILE__, __LINE__, "%s %s %s: %" PRId64 " vs %" PRId64, #a,   \
                #op, #b, a_, b_);                                              \
  } while (0)
#define ASSERT_EQ(a, b) ASSERT_INT_OP(a, ==, b)
#define ASSERT_NE(a, b) ASSERT_INT_OP(a, !=, b)
#define ASSERT_LT(a, b) ASSERT_INT_OP(a, <, b)
#define ASSERT_LE(a, b) ASSERT_INT_OP(a, <=, b)
#define ASSERT_GT(a, b) ASSERT_INT_OP(a, >, b)
#define ASSERT_GE(a, b) ASSERT_INT_OP(a, >=, b)

/* An sshmux/libuv return code: prints the error's name on failure. */
#define ASSERT_OK(expr)                                                        \
  do {                                                                         \
    int r_ = (expr);                                                           \
    if (r_ != 0)                                                               \
      test_fail(__FILE__, __LINE__, "%s returned %d (%s: %s)", #expr, r_,      \
                sshmux_err_name(r_), sshmux_strerror(r_));                     \
  } while (0)
#define ASSERT_ERR(expr, code)                                                 \
  do {                                                                         \
    int r_ = (expr), c_ = (code);                                              \
    if (r_ != c_)                                                              \
      test_fail(__FILE__, __LINE__, "%s returned %s, expected %s", #expr,      \
                sshmux_err_name(r_), sshmux_err_name(c_));                     \
  } while (0)

#define ASSERT_STR_EQ(a, b)                                                    \
  do {                                                                         \
    const char *a_ = (a), *b_ = (b);                                           \
    if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                       \
      test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", #a, #b,      \
                a_ ? a_ : "(null)", b_ ? b_ : "(null)");                       \
  } while (0)
#define ASSERT_STR_CONTAINS(hay, needle)                                       \
  do {                                                                         \
    const char *h_ = (hay), *n_ = (needle);                                    \
    if (h_ == NULL || strstr(h_, n_) == NULL)                                  \
      test_fail(__FILE__, __LINE__, "%s does not contain \"%s\": \"%s\"",      \
                #hay, n_, h_ ? h_ : "(null)");                                 \
  } while (0)
#define ASSERT_MEM_EQ(a, b, n)                                                 \
  do {                                                                         \
    if (memcmp((a), (b), (n)) != 0)                                            \
      test_fail(__FILE__, __LINE__, "%s and %s differ in %zu bytes", #a, #b,   \
                (size_t)(n));                                                  \
  } while (0)

/* In a test: return what `check` (a test_require_* call) says unless 0. */
#define TEST_REQUIRE_(check)                                                   \
  do {                                                                         \
    int r_ = (check);                                                          \
    if (r_ != 0)                                                               \
      return r_;                                                               \
  } while (0)
/* Skip (or, under CI, fail) unless `prog` is found on PATH or is an
 * absolute path that exists. */
#define TEST_REQUIRE_PROGRAM(prog) TEST_REQUIRE_(test_require_program(prog))
int test_require_program(const char *prog);
/* Skip (or, under CI, fail) unless running as root; why says what needs it
 * (network namespaces, PAM, chown).  Same convention as above. */
#define TEST_REQUIRE_ROOT(why) TEST_REQUIRE_(test_require_root(why))
int test_require_root(const char *why);
/* The check the fixtures' TEST_REQUIRE_* are made of: root (unless
 * why_root is NULL; it says what needs root), then every program of
 * progs (NULL-terminated) as TEST_REQUIRE_PROGRAM; the first unmet one
 * skips (under CI: fails). */
int test_require(const char *why_root, const char *const *progs);
#define TEST_REQUIRE_PROGRAMS(...)                                             \
  TEST_REQUIRE_(test_require(NULL, (const char *[]){__VA_ARGS__, NULL}))
/* Skip (or, under CI, fail) unless /usr/bin/python3 can import module
 * (e.g. "paramiko"). */
#define TEST_REQUIRE_PYTHON_MODULE(module)                                     \
  TEST_REQUIRE_(test_require_python_module(module))
int test_require_python_module(const char *module);
/* Full path of prog on PATH (or in /usr/sbin, /sbin), or NULL.  Static. */
const char *test_which(const char *prog);
/* 1 when running under CI. */
int test_in_ci(void);

/* The build directory ($SSHMUX_BUILD, set by the runner), e.g. to find
 * build/examples/echo-server.  Returns a static string. */
const char *test_build_dir(void);
/* A path inside the test's own temporary directory (static buffer
 * rotation: up to 8 results may be held at once). */
const char *test_path(const char *name);

/* Run argv[0] (searched on PATH) with the given stdin bytes, capturing
 * stdout and stderr into fresh NUL-terminated buffers (the caller frees
 * them; pass NULL to discard), with a timeout in milliseconds.  *status is
 * the exit code, or 128+signal if killed; -1 on timeout.  Returns 0 or a
 * negative errno. */
typedef struct {
  const char *const *argv;
  const void *in; /* stdin bytes, may be NULL (stdin is /dev/null) */
  size_t in_len;
  const char *in_file; /* or a file for stdin */
  char **out;          /* captured stdout (may be NULL) */
  size_t *out_len;
  char **err;             /* captured stderr (may be NULL) */
  int timeout_ms;         /* 0 = 30 s */
  const char *const *env; /* extra NAME=VALUE entries, NULL-terminated */
} test_cmd_t;
int test_run(const test_cmd_t *cmd, int *status);
/* test_run(cmd), failing the test if it cannot run; the exit status (-1
 * on timeout). */
int test_run_status(const test_cmd_t *cmd);
/* sh -c script (no stdin, output not captured: the script redirects it),
 * bounded by timeout_ms (0 = 30 s); its exit status, as test_run_status. */
int test_run_sh(const char *script, int timeout_ms);
/* Run argv with no stdin: it must exit with status, its stdout holding
 * out_needle and its stderr err_needle (each may be NULL: not checked);
 * both are printed when the status is not the one expected. */
void test_expect_run(const char *const *argv, int status,
                     const char *out_needle, const char *err_needle);
/* The checks of test_expect_run on a run already made (what names it):
 * st is its exit status, out and err its output, freed here. */
void test_expect_result(const char *what, int st, int status, char *out,
                        char *err, const char *out_needle,
                        const char *err_needle);
/* Wait (test_wait_text) until the file at path holds needle; after ms,
 * print the file and fail the test, saying what did not happen. */
void test_expect_text(const char *path, const char *needle, int ms,
                      const char *what);
/* Shorthand: run argv with no stdin; returns the exit status (or -1). The
 * captured stdout is returned in *out if out != NULL. */
int test_run_simple(const char *const *argv, char **out, char **err);

/* An argv built a word at a time, NULL-terminated all along (a.v is
 * ready for test_run).  Zero it first (test_argv_t a = {0}).  Words are
 * not copied, except those test_argv_ssh_opts formats into a itself. */
typedef struct {
  const char *v[64];
  int n;
  char port[16];
  char known_hosts[1100];
} test_argv_t;
/* Append the words given up to a NULL; fails the test when a is full. */
void test_argv_add(test_argv_t *a, ...) __attribute__((sentinel));
/* Append a NULL-terminated array of words (NULL: none). */
void test_argv_addv(test_argv_t *a, const char *const *words);
/* Append the options the tests give OpenSSH's ssh/scp/sftp for a server
 * on `port` whose host keys are in known_hosts: -F /dev/null PORT_FLAG
 * PORT [-i KEY] -o UserKnownHostsFile=KH -o StrictHostKeyChecking=yes -o
 * BatchMode=yes -o IdentitiesOnly=yes (port_flag "-p" for ssh, "-P" for
 * scp and sftp; key may be NULL). */
void test_argv_ssh_opts(test_argv_t *a, const char *port_flag, int port,
                        const char *key, const char *known_hosts);

/* SIGTERM to pid (test_spawn'ed, logging to log): it must exit 0 within
 * 15 s with no sanitizer report in its log (the log shown if not). */
void test_term_clean(int pid, const char *log);
/* Start a program in the background (in the test's process group, so the
 * runner kills it if the test dies), stdout and
 * stderr to the file `log` (or inherited if NULL).  Returns its pid. */
int test_spawn(const char *const *argv, const char *log);
/* Kill a spawned process (SIGCONT+SIGTERM, then SIGKILL after 2 s), reap. */
void test_kill(int pid);

/* Call fn(path, name, data) for every entry of dir but "." and ".."
 * (path is "dir/name"), in readdir order; how many calls returned nonzero
 * (fn NULL: how many entries).  Fails the test when dir cannot be read. */
typedef int (*test_dir_fn)(const char *path, const char *name, void *data);
int test_dir_each(const char *dir, test_dir_fn fn, void *data);
/* How many regular files in dir, not starting with '.', end in suffix
 * ("" for any); the path of the last one found in last[0..size) (last
 * may be NULL); -1 when dir cannot be read. */
int test_dir_files(const char *dir, const char *suffix, char *last,
                   size_t size);
/* Read a whole file into a fresh NUL-terminated buffer (NULL on error). */
char *test_read_file(const char *path, size_t *len);
/* Write the printf-formatted text to path with mode; fails the test on
 * error. */
void test_write_fmt(const char *path, int mode, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The public half of a key pair, key.pub (as ssh-keygen writes it:
 * "TYPE BASE64 COMMENT\n"), in a fresh buffer; fails the test when it
 * cannot be read. */
char *test_read_pub(const char *key);
/* Write authorized_keys file ak (0600) holding only key.pub. */
void test_authorize_key(const char *ak, const char *key);
/* Write known_hosts file kh holding only the public half of the host key
 * hostkey (hostkey.pub) for [127.0.0.1]:port: a client trusts that
 * server and no other. */
void test_trust_host_key(const char *kh, int port, const char *hostkey);
/* How many times needle occurs in text (0 for NULL), not overlapping. */
int test_count(const char *text, const char *needle);
/* The same for the file at path (0 if unreadable). */
int test_count_in_file(const char *path, const char *needle);
/* Wait until the file at path holds needle: 0, or -1 after ms. */
int test_wait_text(const char *path, const char *needle, int ms);
/* Reap pid within ms: its exit status, 128+signal, or -1 (timeout, or
 * not our child). */
int test_wait_exit(int pid, int ms);
/* Write a file with the given mode; returns 0 or -1. */
int test_write_file(const char *path, const char *data, int mode);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int test_free_port(void);
/* A TCP listener on a free port of 127.0.0.1 (the port in *port) with
 * listen(2)'s backlog; fails the test when it cannot be made. */
int test_listen_local(int backlog, int *port);
/* A blocking TCP socket connected to 127.0.0.1:port: its fd, or -1 (errno
 * set).  It does not fail the test, so a forked child may use it. */
int test_connect_local(int port);
/* Wait until something accepts TCP on 127.0.0.1:port and sends a line
 * starting with "SSH-" (if ssh_banner) or just accepts; 0 on success. */
int test_wait_port(int port, int ssh_banner, int timeout_ms);
/* The same for any IPv4 address (dotted quad).  Each connect attempt is
 * non-blocking and bounded by the time left, so an address whose packets
 * are dropped fails after timeout_ms rather than after TCP's own minutes;
 * this is also how a test shows an address is NOT reachable. */
int test_wait_addr(const char *addr, int port, int ssh_banner, int timeout_ms);

/* calloc and realloc for a test allocator (sshmux_replace_allocator),
 * made of its malloc m, its free f and size(p), the size of a block m
 * returned; realloc is never in place (a new block, the old one freed). */
void *test_calloc_with(void *(*m)(size_t), size_t count, size_t n);
void *test_realloc_with(void *(*m)(size_t), void (*f)(void *),
                        size_t (*size)(void *), void *p, size_t n);

/* Monotonic milliseconds. */
uint64_t test_now_ms(void);

#endif
