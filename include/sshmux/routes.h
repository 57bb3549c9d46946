/* sshmux/routes.h -- the routes file: which upstream a local user name
 * stands for, through which jump hosts, with which limits and policies.
 *
 * The file is INI (parsed with inih) and is loaded all-or-nothing into an
 * immutable, fully validated object: every later question (lookup, chain,
 * policy) is answered from memory and cannot fail on bad input.  A config
 * that does not validate yields no object at all and one error message
 * naming FILE:LINE and the problem.  The object is read-only after loading,
 * so any number of threads may query it; sshmux_routes_free() must not race
 * with readers.
 *
 * The format (sections and keys in any order; ';' or '#' start a comment
 * line, " ;" an inline comment):
 *
 *   [defaults]            ; optional
 *   idle_timeout = 600    ; seconds an unused upstream stays open (0 = ever)
 *   max_lifetime = 43200  ; seconds an upstream may live at all (0 = no cap)
 *   keepalive = 15        ; seconds between keepalives (0 = off)
 *   accept_new_hostkey = false
 *   env_allow = LANG,LC_*,TERM,COLORTERM   ; env a session may pass on
 *   askpass = /usr/bin/ssh-askpass          ; optional, absolute path
 *   notify = false        ; desktop notification per new session
 *   control_master = true ; setup-config gives ssh a local ControlMaster
 *
 *   [jump]                ; the default jump host (name "default")
 *   host = bastion.example.com
 *   port = 22             ; default 22
 *   user = jumpuser
 *
 *   [jumps.eu]            ; a named jump; may chain: jump = NAME
 *   host = eu-bastion.example.com
 *   user = ops
 *
 *   [routes.webserver]    ; reached through the default jump
 *   host = 10.0.0.10
 *   user = deploy
 *   identity = ~/.ssh/id_ed25519
 *
 *   [routes.external]
 *   host = 203.0.113.50
 *   user = ops
 *   direct = true         ; bypass the default jump
 *
 * Routes and jumps take host, port, user, identity, identity_agent, jump,
 * idle_timeout, max_lifetime, keepalive, accept_new_hostkey and
 * forward_allow; routes
 * also take direct and env_allow.  A route goes through its `jump`, else
 * directly if `direct = true`, else through [jump] if there is one.  A jump
 * goes through its own `jump` only (never implicitly through [jump]);
 * `jump = default` names [jump] explicitly.
 *
 * identity = PATH names the hop's key (absolute or ~/); then only that key
 * is offered, from the agent if it holds it (the .pub next to PATH is
 * enough) else from the file -- OpenSSH's IdentitiesOnly.  Without it,
 * every key the agent holds is offered in the agent's order.
 * identity_agent = PATH (absolute or ~/, under 108 bytes) is the agent
 * socket for this hop instead of SSH_AUTH_SOCK; `none` uses no agent.
 *
 * forward_allow = ENTRY,... says where port forwarding (direct-tcpip) and
 * socket forwarding (direct-streamlocal) through this hop may go.  ENTRY is
 * HOST:PORT, [IPV6]:PORT, HOST or PORT may be `*`; `loopback` (localhost,
 * 127.0.0.0/8 and ::1 on any port); an absolute socket path; or `none`
 * alone.  Without the key the default is `loopback`: the upstream's own
 * loopback only, which is what editors' remote servers and `ssh -L
 * PORT:localhost:PORT` need, and nothing lateral.  Hosts are compared as
 * strings (case-insensitively), never resolved: a name that resolves to an
 * allowed address is still refused.
 *
 * Strictness: names match ^[A-Za-z0-9._-]+$; a line may not start or end
 * with white space (so no continuation lines), may not contain CR, NUL or
 * other control characters except tab, and must be shorter than inih's line
 * limit (SSHMUX_ROUTES_MAX_LINE); unknown sections and keys, duplicate
 * sections and keys, a missing host or user, bad ports, numbers and
 * booleans, unknown jump names and jump cycles are errors.
 *
 * Routes without a file: sshmux_routes_new() makes an empty object and
 * sshmux_routes_add_route() / sshmux_routes_add_jump() add hops given as
 * the file's key = value pairs, checked by the same code as the file's
 * lines, so the rules and the words of every error are the same; errors
 * read "ORIGIN:LINE: problem" with the origin and line the caller gives
 * (its own config file, "command line", ...).  The object is valid after
 * every call: an add that does not validate changes nothing, and a jump
 * still in use cannot be removed.  Add a jump before the hops that name it.
 * Changing an object is not thread-safe against its readers, and removing a
 * hop frees it: change routes only on the thread that uses them, and never
 * remove a hop whose sshmux_route_t another object (a relay session) still
 * holds. */
#ifndef SSHMUX_ROUTES_H
#define SSHMUX_ROUTES_H

#include <stddef.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sshmux_routes sshmux_routes_t;
/* One hop description: a route or a jump.  Owned by its sshmux_routes_t and
 * valid until that is freed. */
typedef struct sshmux_route sshmux_route_t;

/* Size of an error buffer that never truncates a message in practice. */
#define SSHMUX_ROUTES_ERR_MAX 512
/* Longest accepted line, without its newline. */
#define SSHMUX_ROUTES_MAX_LINE 197
/* Largest accepted file. */
#define SSHMUX_ROUTES_MAX_FILE (1024 * 1024)
/* Most hops in a chain, the route itself included. */
#define SSHMUX_ROUTES_MAX_CHAIN 16
/* The name of the [jump] section's jump. */
#define SSHMUX_ROUTES_DEFAULT_JUMP "default"

/* Load and validate path (read through sshmux_file_read: symlinks refused,
 * at most SSHMUX_ROUTES_MAX_FILE bytes).  home expands a leading "~/" in
 * identity and identity_agent values (NULL: such values are an error).  On
 * success *routes owns everything (free with sshmux_routes_free) and err is
 * untouched; on failure *routes is NULL, nothing is kept, and err (if not NULL)
 * receives "FILE:LINE: problem" or "FILE: problem".  Returns 0, SSHMUX_ECONFIG
 * for an invalid file, or the error that prevented reading it. */
SSHMUX_EXTERN int sshmux_routes_load(sshmux_routes_t **routes, const char *path,
                                     const char *home, char *err,
                                     size_t err_size);
/* NULL is a no-op. */
SSHMUX_EXTERN void sshmux_routes_free(sshmux_routes_t *routes);

/* An empty routes object (no routes, no jumps, built-in defaults).  origin
 * names it in error messages and is what sshmux_routes_path() returns; home
 * expands "~/" in identity and identity_agent values (NULL: such values are
 * an error).  Both
 * are copied.  Returns 0, SSHMUX_EINVAL or SSHMUX_ENOMEM; free the object
 * with sshmux_routes_free(). */
SSHMUX_EXTERN int sshmux_routes_new(sshmux_routes_t **routes,
                                    const char *origin, const char *home);

/* Add the route (or jump) name, set by settings: a NULL-terminated list of
 * key, value pairs with the keys and value syntax of a [routes.NAME]
 * ([jumps.NAME]) section, e.g. {"host", "10.0.0.10", "user", "deploy",
 * NULL}.  The jump named SSHMUX_ROUTES_DEFAULT_JUMP is the file's [jump]:
 * routes without jump or direct go through it, also those added before it.
 * line is where the caller's own source says this (> 0), or 0 for none;
 * errors read "ORIGIN:LINE: problem" (or "ORIGIN: problem" for line 0),
 * as sshmux_routes_load() writes them.  Works on loaded objects too.
 * Returns 0; SSHMUX_EEXISTS for a name already used by a hop of the same
 * kind; SSHMUX_ECONFIG for anything the file would refuse (bad name, key
 * or value, missing host or user, unknown jump, cycle, too long a chain);
 * SSHMUX_ENOMEM; SSHMUX_EINVAL for NULL arguments or an odd list.  On any
 * error the object is unchanged. */
SSHMUX_EXTERN int sshmux_routes_add_route(sshmux_routes_t *routes,
                                          const char *name,
                                          const char *const *settings, int line,
                                          char *err, size_t err_size);
SSHMUX_EXTERN int sshmux_routes_add_jump(sshmux_routes_t *routes,
                                         const char *name,
                                         const char *const *settings, int line,
                                         char *err, size_t err_size);

/* Remove and free a route: every pointer to it becomes invalid, and later
 * routes move down one index.  Returns 0 or SSHMUX_ENOTFOUND. */
SSHMUX_EXTERN int sshmux_routes_remove_route(sshmux_routes_t *routes,
                                             const char *name);
/* Remove and free a jump that no hop goes through.  Returns 0,
 * SSHMUX_ENOTFOUND, or SSHMUX_EBUSY with "ORIGIN: jump 'X' is used by
 * route 'Y'" in err (if not NULL). */
SSHMUX_EXTERN int sshmux_routes_remove_jump(sshmux_routes_t *routes,
                                            const char *name, char *err,
                                            size_t err_size);

/* The path it was loaded from, or the origin given to sshmux_routes_new. */
SSHMUX_EXTERN const char *sshmux_routes_path(const sshmux_routes_t *routes);

/* Routes in file order: i in [0, count). */
SSHMUX_EXTERN size_t sshmux_routes_count(const sshmux_routes_t *routes);
SSHMUX_EXTERN const sshmux_route_t *
sshmux_routes_get(const sshmux_routes_t *routes, size_t i);
/* The route with this name, or NULL.  A linear scan: route files are
 * small and lookups happen once per session. */
SSHMUX_EXTERN const sshmux_route_t *
sshmux_routes_find(const sshmux_routes_t *routes, const char *name);

/* Jumps in file order ([jump] is named SSHMUX_ROUTES_DEFAULT_JUMP). */
SSHMUX_EXTERN size_t sshmux_routes_jump_count(const sshmux_routes_t *routes);
SSHMUX_EXTERN const sshmux_route_t *
sshmux_routes_jump_get(const sshmux_routes_t *routes, size_t i);
SSHMUX_EXTERN const sshmux_route_t *
sshmux_routes_find_jump(const sshmux_routes_t *routes, const char *name);

/* Settings of [defaults] that are not per route.  askpass is NULL unless
 * set; notify is 0 or 1; control_master is 1 unless set to false (it is
 * read by `sshmuxd setup-config` only: whether the Host blocks it writes
 * give OpenSSH clients a local ControlMaster). */
SSHMUX_EXTERN const char *sshmux_routes_askpass(const sshmux_routes_t *routes);
SSHMUX_EXTERN int sshmux_routes_notify(const sshmux_routes_t *routes);
SSHMUX_EXTERN int sshmux_routes_control_master(const sshmux_routes_t *routes);

/* A hop's settings, with [defaults] already applied.  identity is NULL when
 * not set (the caller then uses its default keys), otherwise an absolute
 * path.  Times are seconds, 0 meaning "never"/"off". */
SSHMUX_EXTERN const char *sshmux_route_name(const sshmux_route_t *route);
SSHMUX_EXTERN int sshmux_route_is_jump(const sshmux_route_t *route);
SSHMUX_EXTERN const char *sshmux_route_host(const sshmux_route_t *route);
SSHMUX_EXTERN int sshmux_route_port(const sshmux_route_t *route);
SSHMUX_EXTERN const char *sshmux_route_user(const sshmux_route_t *route);
SSHMUX_EXTERN const char *sshmux_route_identity(const sshmux_route_t *route);
/* identity_agent: NULL when not set (use SSH_AUTH_SOCK), "none", or an
 * absolute socket path. */
SSHMUX_EXTERN const char *
sshmux_route_identity_agent(const sshmux_route_t *route);
SSHMUX_EXTERN unsigned sshmux_route_idle_timeout(const sshmux_route_t *route);
SSHMUX_EXTERN unsigned sshmux_route_max_lifetime(const sshmux_route_t *route);
SSHMUX_EXTERN unsigned sshmux_route_keepalive(const sshmux_route_t *route);
SSHMUX_EXTERN int sshmux_route_accept_new_hostkey(const sshmux_route_t *route);
/* The hop this one is reached through, or NULL when it is connected to
 * directly. */
SSHMUX_EXTERN const sshmux_route_t *
sshmux_route_via(const sshmux_route_t *route);
/* The line of its section header in the file, or the line given when it
 * was added in memory (0 for none). */
SSHMUX_EXTERN int sshmux_route_line(const sshmux_route_t *route);
/* The policies as text, for display: the value as written, or the default
 * ("loopback", and for env "LANG,LC_*,TERM,COLORTERM"). */
SSHMUX_EXTERN const char *
sshmux_route_forward_allow_text(const sshmux_route_t *route);
SSHMUX_EXTERN const char *
sshmux_route_env_allow_text(const sshmux_route_t *route);

/* The full chain to reach route, in connection order: hops[0] is the hop
 * to connect to first (the outermost jump), hops[*n - 1] is route itself.
 * max must be at least the chain length (SSHMUX_ROUTES_MAX_CHAIN always
 * is); SSHMUX_ETOOLONG otherwise.  Never fails for a loaded object. */
SSHMUX_EXTERN int sshmux_route_chain(const sshmux_route_t *route,
                                     const sshmux_route_t **hops, size_t max,
                                     size_t *n);

/* 1 if a forwarding channel through route to host:port is allowed by its
 * forward_allow, else 0.  For direct-streamlocal pass the socket path as
 * host and port 0: only absolute-path entries match it. */
SSHMUX_EXTERN int sshmux_routes_forward_allowed(const sshmux_route_t *route,
                                                const char *host, int port);
/* 1 if a session on route may pass the environment variable name on (its
 * env_allow, else [defaults]' env_allow, else LANG,LC_*,TERM,COLORTERM;
 * an entry ending in '*' matches by prefix), else 0. */
SSHMUX_EXTERN int sshmux_routes_env_allowed(const sshmux_route_t *route,
                                            const char *name);

#ifdef __cplusplus
}
#endif
#endif
