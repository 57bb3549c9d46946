/* examples/common/common.h -- what the example programs share: a terminal
 * prompter, "user@host[:port]" parsing, a route's chain as pool targets,
 * and the orderly shutdown of a proxy (relay, then pool, then signals).
 *
 * The prompter answers the pool's prompt callbacks through a person on this
 * program's stdin.
 *
 * Prompts queue up; the first one is on screen.  stdin is read line by line
 * through libuv (a tty or a pipe), so typing never blocks the loop; input
 * of secrets is not echoed on a terminal.  Every prompt handed over is
 * answered or cancelled exactly once, which is what releases it (see
 * sshmux/prompt.h).  When stdin is neither a terminal nor a pipe, or once
 * it reaches EOF, every prompt is cancelled: the login fails closed.
 *
 * The pieces are not specific to any one example, so they are compiled
 * into each of them (the Makefile links examples/common/ into every
 * examples/NAME program). */
#ifndef EXAMPLES_COMMON_H
#define EXAMPLES_COMMON_H

#include <uv.h>

#include "sshmux.h"

/* Read stdin on loop and install the prompt handler on pool.  tag prefixes
 * every line shown ("fleet-exec").  Returns 1 when stdin can answer, 0
 * when every prompt will be refused (a note is printed to stderr). */
int prompter_start(uv_loop_t *loop, sshmux_pool_t *pool, const char *tag);
/* Stop reading stdin and cancel every queued prompt (before closing the
 * pool).  Safe to call twice. */
void prompter_stop(void);
/* Number of prompts waiting for the person (e.g. to pause a progress
 * line while one is on screen). */
size_t prompter_pending(void);
/* Turn echo back on if a secret was being typed (at exit). */
void prompter_restore_tty(void);

/* "user@host[:port]" into its parts: user < 64, host < 256 bytes, made of
 * [A-Za-z0-9._-] only (so nothing typed can add lines to a routes file or
 * options to ssh).  0, or -1 for anything else. */
int parse_hop(const char *s, char user[64], char host[256], int *port);

/* Add to r the hop name (a jump if is_jump, else a route) for "user@host
 * [:port]", with identity (an absolute path, may be NULL); a route goes
 * through the jump named jump, or directly when jump is NULL.  The keys of
 * a routes file's section, checked by the same code (sshmux_routes_add_*):
 * errors are printed as "TAG: ORIGIN:LINE: problem".  0 or -1. */
int routes_add_hop(sshmux_routes_t *r, int is_jump, const char *name,
                   const char *arg, const char *identity, const char *jump,
                   int line, const char *tag);

/* The targets for a route and its jumps: the library's own
 * sshmux_relay_route_targets (sshmux/relay.h). */
typedef sshmux_route_targets_t route_targets_t;
#define route_targets(c, route) sshmux_relay_route_targets((c), (route))

/* A proxy's lifetime on one loop (jump-proxy, mini-proxy): SIGINT or
 * SIGTERM closes the relay first (it borrows the pool), then stops the
 * prompter, closes the pool, and last the signal handles, so the loop
 * ends when nothing is left.  Errors are printed as "TAG: what: why". */
typedef struct {
  uv_loop_t *loop;
  sshmux_pool_t *pool;
  sshmux_relay_t *relay; /* NULL once closed */
  uv_signal_t sigint, sigterm;
  int have_signals, stopping;
  const char *tag; /* "mini-proxy" */
} proxy_t;
/* On the default loop: the signal handles (not started yet, so every
 * path can close them), then the pool (known_hosts NULL-terminated, or
 * NULL for the user's own), answered through this terminal (the
 * prompter).  0, or -1 after printing why. */
int proxy_open(proxy_t *p, const char *tag, const char *const *known_hosts);
/* The relay on the pool, with the routes and mode the program set in
 * ropts, into p->relay.  0, or -1 after printing why. */
int proxy_relay(proxy_t *p, const sshmux_relay_options_t *ropts);
/* Start listening for SIGINT and SIGTERM.  0, or -1 after printing why. */
int proxy_signals_start(proxy_t *p);
/* The end of main, after the loop ran (ok) or on any failure (!ok):
 * close whatever is left in the order above and run the loop until it
 * is closed, restore the terminal, free routes (after the relay, which
 * borrowed them; may be NULL), close the loop.  Returns main's exit
 * code: 0 if ok, else 1. */
int proxy_end(proxy_t *p, int ok, sshmux_routes_t *routes);
/* A log callback: "[libsshmux LEVEL] message" on stderr. */
void proxy_log(sshmux_log_level_t level, const char *msg, void *data);

#endif
