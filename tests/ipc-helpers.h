/* ipc-helpers.h -- running `sshmuxd control-daemon` (the pool and the
 * control socket) as a real process in a throwaway HOME and
 * XDG_RUNTIME_DIR, talking to it with the real CLI, raw socket clients
 * and ssh with `sshmuxd connect` as its ProxyCommand. */
#ifndef SSHMUX_IPC_HELPERS_H
#define SSHMUX_IPC_HELPERS_H

#include "daemon-helpers.h"
#include "fixture-otp.h"
#include "fixture-sshd.h"

/* dtest_setup() plus HOME, XDG_CONFIG_HOME and XDG_RUNTIME_DIR set in this
 * process (children inherit them), SSHMUX_SSH_DIR/SSHMUX_LOG unset; PATH
 * is kept (ssh is needed). */
void ipct_env(void);
/* The control directory and socket for this environment. */
const char *ipct_control_dir(void);
const char *ipct_control_sock(void);
/* Write home/.ssh/sshmux-routes.ini. */
void ipct_routes(const char *text);
/* Routes text: [jump] = s (its client key), optional extra text. */
const char *ipct_routes_for_jump(test_sshd *j, const char *extra);
/* Append s's known_hosts lines to home/.ssh/known_hosts. */
void ipct_known_hosts(test_sshd *s);
/* Start sshds "jump" (j) and "target" (t), then ipct_env() and routes
 * with [jump] = j; known: j's host keys go to known_hosts too. */
void ipct_jump_target(test_sshd *j, test_sshd *t, int known);
/* The same with an OTP-asking jump (publickey, then a one-time code) and
 * a plain "target"; extra is appended to the routes text (may be NULL). */
void ipct_otp_jump_target(test_otp_sshd *o, test_sshd *t, const char *extra);
/* A login that waits for its answer, seen as a script sees it: start
 * `sshmuxd prompt --list --json --wait --timeout 60`, once it is
 * subscribed run cmd through t in the background (log bg.log, its pid in
 * *bg), and return what the lister printed (fresh allocation). */
char *ipct_listed_prompt(test_sshd *t, const char *cmd, int *bg);
/* A background ssh (ipct_ssh_proxy_spawn with test_path(log)) must exit 0
 * within 30 s and its log hold needle (the daemon's log shown if not). */
void ipct_bg_ok(int pid, const char *log, const char *needle);
/* Poll `sshmuxd ARGS` (every 50 ms, at most ms) until its stdout holds
 * needle; fails the test otherwise. */
void ipct_wait_output(const char *const *args, const char *needle, int ms);
/* `sshmuxd ARGS` must exit 0 with needle in its stdout. */
void ipct_run_expect(const char *const *args, const char *needle);
/* ipct_ssh_proxy(t, via, "echo WORD") must exit 0 printing WORD. */
void ipct_ssh_echo(test_sshd *t, const char *via, const char *word);
/* Spawn `sshmuxd control-daemon` (output to test_path("daemon.log")) and
 * wait until it answers status; returns its pid. */
int ipct_start(void);
/* Start without waiting; returns the pid. */
int ipct_spawn(void);
/* `sshmuxd stop`, then the daemon pid must exit 0 and its output hold no
 * sanitizer report (so `make asan` checks the daemon, leaks included). */
void ipct_stop_clean(int pid);
/* Print the daemon's output and log file to stderr. */
void ipct_dump(void);
/* test_wait_exit (the name the daemon tests use). */
int ipct_wait_exit(int pid, int timeout_ms);
/* Run sshmuxd args (NULL-terminated, no argv[0]) with stdin in (may be
 * NULL); captures out/err (may be NULL).  Returns the exit status. */
int ipct_run(const char *const *args, const char *in, char **out, char **err);
/* ssh to t through `sshmuxd connect %h:%p [via]` as ProxyCommand, running
 * cmd; returns the exit status, stdout in *out (may be NULL). */
int ipct_ssh_proxy(test_sshd *t, const char *via, const char *cmd, char **out,
                   char **err);
/* The same, started in the background (stdout+stderr to log); the pid. */
int ipct_ssh_proxy_spawn(test_sshd *t, const char *via, const char *cmd,
                         const char *log);
/* Wait (10 s at most) until `status` counts n subscribed agents. */
void ipct_wait_agents(int n);
/* `sshmuxd prompt --answer ID` with answer on stdin; fails the test
 * unless it succeeds. */
void ipct_answer(const char *id, const char *answer);
/* A raw connection to the control socket (blocking fd), or -1. */
int ipct_raw_connect(void);
/* Send line (newline added) on fd and read one reply line (fresh
 * allocation), waiting up to timeout_ms; NULL on failure. */
char *ipct_request(int fd, const char *line, int timeout_ms);
/* Run /usr/bin/python3 -c code with json on stdin; its exit status and
 * stdout in *out (may be NULL). */
int ipct_python(const char *code, const char *json, char **out);

#endif
