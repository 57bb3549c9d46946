/* sshmuxd.h -- what the daemon's files share: the subcommand table entry
 * and the commands (main.c dispatches), the common options, the paths
 * every command agrees on and the daemon's own logging (all three in the
 * leaf base.c), helpers (util.c), routes to pool targets (targets.c) and
 * the control socket.  sshmuxd is one process per invocation, so the resolved
 * paths and the log sink are plain process globals set up once by main(). */
#ifndef SSHMUXD_H
#define SSHMUXD_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

#include <uv.h>

#include "sshmux.h"

#if defined(__GNUC__)
#define SSHMUXD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SSHMUXD_PRINTF(f, a)
#endif

/* ---- subcommands (main.c) ---- */

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv); /* argv[0] is the command name */
  const char *summary;
} sshmuxd_cmd_t;

int sshmuxd_cmd_check_config(int argc, char **argv);
int sshmuxd_cmd_setup_config(int argc, char **argv);
int sshmuxd_cmd_import_config(int argc, char **argv); /* import_config.c */
int sshmuxd_cmd_install(int argc, char **argv);
int sshmuxd_cmd_uninstall(int argc, char **argv);
int sshmuxd_cmd_serve(int argc, char **argv); /* serve.c */
/* The terminal prompter (prompt_tty.c): the pool's prompts asked on the
 * terminal that runs serve; every prompt is cancelled without one. */
int sshmuxd_tty_prompter_start(uv_loop_t *loop, sshmux_pool_t *pool);
void sshmuxd_tty_prompter_stop(void);
/* 1 when the prompter has a terminal to ask on.  take/withdraw are its
 * prompt handler, for a dispatcher (the control socket) that hands it the
 * prompts nobody else answers. */
int sshmuxd_tty_prompter_active(void);
void sshmuxd_tty_prompter_take(sshmux_prompt_t *p, void *data);
void sshmuxd_tty_prompter_withdraw(sshmux_prompt_t *p, void *data);

/* ---- errors, options and set-up every command shares (base.c) ----
 * base.c is the daemon's leaf: it calls nothing else of the daemon's, and
 * main.c and every command call it (with paths and log, below). */

/* Exit codes: 0 ok, 1 the command failed, 2 bad usage. */
#define SSHMUXD_EXIT_FAIL 1
#define SSHMUXD_EXIT_USAGE 2

/* Options every subcommand takes; put SSHMUXD_COMMON_LONGOPTS in its
 * getopt_long table and hand unknown option values to
 * sshmuxd_common_option(). */
enum { OPT_SSH_DIR = 1000, OPT_LOG_LEVEL, OPT_HELP, OPT_FIRST_PRIVATE };
/* clang-format off */
#define SSHMUXD_COMMON_LONGOPTS                                                \
  {"ssh-dir", required_argument, NULL, OPT_SSH_DIR},                           \
  {"log-level", required_argument, NULL, OPT_LOG_LEVEL},                       \
  {"help", no_argument, NULL, OPT_HELP}
/* clang-format on */
#define SSHMUXD_COMMON_HELP                                                    \
  "  --ssh-dir DIR     the SSH directory (default: $SSHMUX_SSH_DIR, else "     \
  "~/.ssh)\n"                                                                  \
  "  --log-level L     error, warn, info, debug or trace (default: "           \
  "$SSHMUX_LOG, else info)\n"                                                  \
  "  -h, --help        this text\n"
/* Handles a common option: 0 if handled, 1 if --help was asked (the caller
 * prints its usage and exits 0), SSHMUXD_EXIT_USAGE after printing an
 * error, -1 if c is not a common option. */
int sshmuxd_common_option(int c, const char *arg);
/* The option loop every subcommand runs: getopt_long over argv with
 * shortopts/opts (opts include SSHMUXD_COMMON_LONGOPTS); each option that
 * is not a common one goes to fn (which returns 0, or SSHMUXD_EXIT_USAGE
 * after printing why).  Stray arguments are refused.  Then the paths are
 * resolved.  Returns 0 to go on, -1 when --help was printed (exit 0), or
 * the exit code. */
int sshmuxd_parse_args(int argc, char **argv, const char *shortopts,
                       const struct option *opts,
                       int (*fn)(int c, const char *arg, void *ctx),
                       void (*usage)(FILE *f, void *ctx), void *ctx);
/* Load the routes file (config, or the default when NULL; path receives
 * the one used), printing the FILE:LINE error.  0 or SSHMUXD_EXIT_FAIL. */
int sshmuxd_load_routes(const char *config, char *path, size_t size,
                        sshmux_routes_t **routes);
/* Parse a --port value; 0 and *port, or SSHMUXD_EXIT_USAGE. */
int sshmuxd_parse_port(const char *arg, int *port);
/* Print "sshmuxd: " + message to stderr. */
void sshmuxd_err(const char *fmt, ...) SSHMUXD_PRINTF(1, 2);

/* ---- paths (base.c) ---- */

/* Resolve the paths: the home directory ($HOME, else the password
 * database), the SSH dir (--ssh-dir, else $SSHMUX_SSH_DIR, else
 * ~/.ssh; made absolute), the config home ($XDG_CONFIG_HOME, else
 * ~/.config).  0 or -1 after printing why. */
int sshmuxd_paths_init(void);
void sshmuxd_paths_set_ssh_dir(const char *dir);
const char *sshmuxd_home(void);
const char *sshmuxd_ssh_dir(void);
/* 1 if the SSH dir was chosen explicitly (option or environment). */
int sshmuxd_ssh_dir_is_explicit(void);
const char *sshmuxd_config_home(void);
/* dir + "/" + name into out; -1 (after printing) if it does not fit. */
int sshmuxd_join(char *out, size_t size, const char *dir, const char *name);
/* The default routes file: <ssh dir>/sshmux-routes.ini. */
int sshmuxd_default_routes(char *out, size_t size);
/* This program's absolute path, for service files. */
int sshmuxd_self_path(char *out, size_t size);

/* ---- logging (base.c) ---- */

/* The level chosen by --log-level or $SSHMUX_LOG (default info). */
void sshmuxd_log_set_level(sshmux_log_level_t level);
sshmux_log_level_t sshmuxd_log_level(void);
/* Open <ssh dir>/sshmux.log (0600, appended, symlinks refused), rotating it
 * to sshmux.log.old when it reaches 5 MB ($SSHMUX_LOG_MAX_BYTES overrides
 * the limit, for tests), hook it to the library's logging and install the
 * fatal-signal handler.  Without a usable file, messages go to stderr
 * only.  0, or a negative error (the command still runs). */
int sshmuxd_log_open(void);
void sshmuxd_log_close(void);
void sshmuxd_log(sshmux_log_level_t level, const char *fmt, ...)
    SSHMUXD_PRINTF(2, 3);

/* ---- helpers (util.c) ---- */

/* Run argv (PATH searched) with stdin/stdout/stderr on /dev/null, wait, and
 * return its exit status (or -1 if it could not run or was killed). */
int sshmuxd_run_quiet(const char *const *argv);
/* Start argv fully detached: new session, stdio on /dev/null, no fds
 * inherited, not waited for (double fork).  0 or -1. */
int sshmuxd_spawn_detached(const char *const *argv);
/* A growable string. */
typedef struct {
  char *s;
  size_t len, cap;
  int oom;
} sshmuxd_str_t;
void sshmuxd_str_add(sshmuxd_str_t *b, const char *data, size_t n);
void sshmuxd_str_printf(sshmuxd_str_t *b, const char *fmt, ...)
    SSHMUXD_PRINTF(2, 3);
void sshmuxd_str_free(sshmuxd_str_t *b);
/* 1 if path exists and holds exactly data[0..len). */
int sshmuxd_file_equals(const char *path, const char *data, size_t len);

/* ---- routes to pool targets (targets.c) ---- */

/* The pool targets for one hop of the routes file and every jump before
 * it: the library's own builder (sshmux_relay_route_targets), so connect
 * streams share the relay's pooled connections. */
typedef sshmux_route_targets_t sshmuxd_chain_t;
#define sshmuxd_chain_build(c, route) sshmux_relay_route_targets((c), (route))
/* Pool options for the daemon: the SSH dir's known_hosts.  Keepalive is
 * per target (sshmuxd_chain_build: each route's keepalive, which already
 * falls back to [defaults]). */
void sshmuxd_pool_options(sshmux_pool_options_t *o,
                          const sshmux_routes_t *routes);

/* ---- control IPC (ipc_path.c, ipc.c, ctl.c, askpass.c) ---- */

/* Most simultaneous control clients, and stream (connect) clients. */
#define SSHMUXD_IPC_MAX_CLIENTS 64
#define SSHMUXD_IPC_MAX_STREAMS 512
/* A request line's limit is SSHMUX__LINE_MAX (8 KiB); a client that sends
 * no complete line for this long is disconnected. */
#define SSHMUXD_IPC_READ_TIMEOUT_MS 30000
/* Replies and events a client has not read yet, beyond which it is
 * dropped (a stalled client never grows the daemon). */
#define SSHMUXD_IPC_MAX_QUEUED (1024 * 1024)
/* Largest reply line a client accepts. */
#define SSHMUXD_IPC_MAX_REPLY (4 * 1024 * 1024)

/* The control directory and socket: $XDG_RUNTIME_DIR/sshmux/control when
 * XDG_RUNTIME_DIR is an absolute path, else /tmp/sshmux-UID/control.
 * 0, or -1 after printing why (path too long). */
int sshmuxd_control_paths(char *dir, size_t dsize, char *sock, size_t ssize);
/* Check a directory of ours that guards sockets: a real directory (no
 * symlink anywhere on its path), owned by us, mode exactly 0700.  With
 * create, make it first if missing.  0, or a negative error after printing
 * why, naming it as what (fail closed: nothing is chmod-ed or replaced). */
int sshmuxd_private_dir_check(const char *what, const char *dir, int create);
/* sshmuxd_private_dir_check() of the control directory. */
int sshmuxd_control_dir_check(const char *dir, int create);
/* Connect to the running daemon (after checking the directory).  Returns
 * a blocking socket fd, or a negative error: UV_ENOENT / UV_ECONNREFUSED
 * when no daemon runs (printing nothing when quiet). */
int sshmuxd_control_connect(int quiet);

typedef struct sshmuxd_ipc_s sshmuxd_ipc_t;
typedef struct {
  uv_loop_t *loop;
  sshmux_pool_t *pool;           /* borrowed; prompts are routed here */
  const sshmux_routes_t *routes; /* borrowed: askpass, notify, connect */
  void (*on_stop)(void *data);   /* `stop` was asked (after the reply) */
  void *data;
  int port; /* the local server's port, shown by status (0: none) */
  /* Where a prompt goes when no agent is subscribed and no askpass is
   * configured (serve's terminal), instead of being refused; withdrawals
   * of prompts handed there go to fallback_withdrawn.  May be NULL. */
  sshmux_prompt_cb fallback;
  sshmux_prompt_cb fallback_withdrawn;
} sshmuxd_ipc_config_t;
/* Take the per-user instance lock, replace a stale socket, bind and
 * listen, and install the pool's prompt handler.  SSHMUX_EBUSY (after
 * printing which daemon runs) when another daemon owns the socket;
 * other negative errors after printing why. */
int sshmuxd_ipc_start(const sshmuxd_ipc_config_t *cfg, sshmuxd_ipc_t **out);
/* Close every client and stream, cancel pending prompts, release the
 * lock and remove the socket; memory is freed once the handles are closed
 * (run the loop). */
void sshmuxd_ipc_close(sshmuxd_ipc_t *ipc);
/* The local server's port, once it listens (shown by status). */
void sshmuxd_ipc_set_port(sshmuxd_ipc_t *ipc, int port);
/* serve's relay, once it exists (NULL again before it closes): a prompt
 * that no agent or configured askpass takes is offered to the terminal of
 * the client session waiting for its login (sshmux_relay_ask). */
void sshmuxd_ipc_set_relay(sshmuxd_ipc_t *ipc, sshmux_relay_t *relay);

int sshmuxd_cmd_status(int argc, char **argv);
int sshmuxd_cmd_stop(int argc, char **argv);
int sshmuxd_cmd_lock(int argc, char **argv);
int sshmuxd_cmd_unlock(int argc, char **argv);
int sshmuxd_cmd_prompt(int argc, char **argv);
int sshmuxd_cmd_connect(int argc, char **argv);
int sshmuxd_cmd_control_daemon(int argc, char **argv);

/* Run an SSH_ASKPASS-compatible program (absolute path, no shell) with
 * text as its argument; confirm sets SSH_ASKPASS_PROMPT=confirm (a yes/no
 * question answered by the exit status).  cb gets 0 and the answer (its
 * stdout without the trailing newline; NULL for confirm) or a negative
 * error; at most SSHMUXD_ASKPASS_MAX bytes and timeout_ms are allowed.
 * The answer is wiped after cb returns. */
#define SSHMUXD_ASKPASS_MAX 1024
typedef struct sshmuxd_askpass_s sshmuxd_askpass_t;
typedef void (*sshmuxd_askpass_cb)(int status, const char *answer, void *data);
int sshmuxd_askpass_run(uv_loop_t *loop, const char *program, const char *text,
                        int confirm, uint64_t timeout_ms, sshmuxd_askpass_cb cb,
                        void *data, sshmuxd_askpass_t **out);
/* Kill it; cb is not called any more. */
void sshmuxd_askpass_cancel(sshmuxd_askpass_t *a);
/* A desktop notification through notify-send when it is on PATH (no
 * shell; not waited for).  Silently nothing otherwise. */
void sshmuxd_notify(uv_loop_t *loop, const char *summary, const char *body);

#endif
