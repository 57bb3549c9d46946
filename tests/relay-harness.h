/* relay-harness.h -- `build/sshmuxd serve` for the relay tests: a throwaway
 * SSH dir (a local client key in sshmux-authorized-keys, the upstreams'
 * known_hosts, a routes file), the daemon started in the background on a
 * free port, and an ssh_config that reaches each route through it with the
 * real OpenSSH client (ControlMaster off, BatchMode, the daemon's host key
 * accepted on first use into a private known_hosts). */
#ifndef SSHMUX_RELAY_HARNESS_H
#define SSHMUX_RELAY_HARNESS_H

#include "fixture-sshd.h"
#include "test.h"

typedef struct {
  char dir[512];    /* the SSH dir */
  char routes[600]; /* routes file */
  char cfg[600];    /* ssh_config for the clients */
  char log[600];    /* serve's stdout/stderr */
  char key[600];    /* the local client's private key */
  int pid, port;
  int nroutes;
  int in_tmux;         /* started by rh_start_tmux: not our child */
  char names[16][32];  /* Host NAME -> User NAME in the ssh_config */
  char top[64];        /* rh_init_short's directory under /tmp, or "" */
  char setup_cfg[600]; /* the config setup-config wrote (rh_setup_config) */
} rh_t;

/* Make the SSH dir; known_hosts gets the fixture's lines for every
 * upstream sshd given later with rh_route. */
void rh_init(rh_t *h);
/* rh_init() with the SSH dir at dir (which must not exist yet), for a test
 * that needs short paths (socket paths fit in 108 bytes). */
void rh_init_in(rh_t *h, const char *dir);
/* rh_init_in() at TOP/ssh, TOP a new directory /tmp/sshmux-rh-XXXXXX
 * (h->top): short enough for setup-config's ControlMaster sockets
 * (SSHDIR/sshmux-cm/%C must fit sun_path).  rh_remove_short removes it. */
void rh_init_short(rh_t *h);
void rh_remove_short(rh_t *h);
/* After rh_start: the local key as the SSH dir's id_ed25519 (which
 * setup-config names), then `sshmuxd setup-config --ssh-dir DIR --config
 * ROUTES --port PORT` (it must succeed); h->setup_cfg is its config. */
void rh_setup_config(rh_t *h);
/* ssh -F h->setup_cfg -o BatchMode=yes words...: what a user's plain
 * `ssh route` does with the files setup-config wrote (rotation as
 * rh_ssh). */
const char *const *rh_ssh_setup(rh_t *h, const char *const *words);
/* Start a fixture sshd s (default options), rh_init(h), and
 * rh_route(h, route, s, extra): the usual start of a relay test. */
void rh_setup(rh_t *h, test_sshd *s, const char *route, const char *extra);
/* rh_setup(h, s, route, extra), then rh_start(h, NULL): a serve with one
 * route to a fresh fixture sshd.  rh_teardown ends both. */
void rh_setup_start(rh_t *h, test_sshd *s, const char *route,
                    const char *extra);
/* Add [routes.NAME] for sshd s (direct, the fixture's client key) with
 * extra INI lines (may be NULL; each ending in "\n"). */
void rh_route(rh_t *h, const char *name, test_sshd *s, const char *extra);
/* Also give the ssh_config a Host block with User = name (a route
 * written with rh_routes_text, or an unknown name). */
void rh_name(rh_t *h, const char *name);
/* Append raw text to the routes file (jumps, defaults). */
void rh_routes_text(rh_t *h, const char *text);
/* Append the known_hosts lines of s. */
void rh_known(rh_t *h, test_sshd *s);
/* Start `sshmuxd serve --port 0 --ssh-dir DIR --config ROUTES [extra
 * args]`, wait for its "serving on" line, write the ssh_config (Host *
 * -> 127.0.0.1:port, User = the host name given). */
void rh_start(rh_t *h, const char *const *extra_args);
/* Start sshd s that accepts an ed25519 key encrypted with passphrase
 * (written to key_path), and add [routes.NAME] for it with that identity
 * and NO known_hosts entry: logging in asks to trust the host key, then
 * the passphrase. */
void rh_route_encrypted(rh_t *h, const char *name, test_sshd *s,
                        const char *key_path, const char *passphrase);
/* Stop it (SIGTERM: an orderly shutdown) and fail the test if its log
 * holds a sanitizer report. */
void rh_stop(rh_t *h);
/* rh_stop(h), then test_sshd_stop(s): the end of what rh_setup_start (or
 * rh_setup and rh_start) began. */
void rh_teardown(rh_t *h, test_sshd *s);
/* The same, but running in a new tmux session "srv" on socket sock, with
 * the terminal as its stdin/stderr (for its prompter); stdout is tee'd to
 * the log. */
void rh_start_tmux(rh_t *h, const char *sock);
/* 1 under `make asan` (its allocator inflates memory figures). */
int rh_sanitized(void);
/* ssh -F cfg [opts...] route [cmd]: a NULL-terminated argv in a static
 * buffer rotation (4 held at once). */
const char *const *rh_ssh(rh_t *h, const char *const *words);
/* Run rh_ssh(h, words) with no stdin, its stdout and stderr captured into
 * fresh buffers (out, err may be NULL: not kept), bounded by timeout_ms
 * (0 = 30 s); its exit status (-1 on timeout); fails the test if it
 * cannot run. */
int rh_run(rh_t *h, const char *const *words, char **out, char **err,
           int timeout_ms);
/* Dump serve's log to stderr. */
void rh_dump(rh_t *h);
/* sshmuxd's VmRSS in KiB (from /proc), or -1. */
long rh_rss_kib(rh_t *h);
/* Poll rh_rss_kib (every 100 ms, at most 10 s) until it is below limit
 * KiB; the last value read. */
long rh_rss_below(rh_t *h, long limit);

#endif
