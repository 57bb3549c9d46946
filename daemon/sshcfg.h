/* sshcfg.h -- reading OpenSSH client configuration text, for the commands
 * that work beside the user's ssh (import-config, setup-config).
 *
 * Two parsers, both pure functions over a caller's buffer: no allocation,
 * no I/O, no global state, only libc, so a fuzz target can drive them by
 * compiling daemon/sshcfg.c alone (tests/fuzz/fuzz-daemon-sshcfg.c does).
 *
 *  - sshmuxd_sshg_parse(): the output of `ssh -G HOST`, OpenSSH's own
 *    resolution of ssh_config (Include, Match, wildcards, first value
 *    wins) as one "keyword value" line per setting.  We never interpret
 *    ssh_config ourselves to decide what a host's settings are.
 *  - sshmuxd_sshcfg_line() / sshmuxd_sshcfg_arg(): one line of an
 *    ssh_config file split into keyword and arguments, for the places that
 *    only need to find Host, Match and Include lines; the arguments split
 *    as ssh splits them (quotes, escapes, a trailing comment), so the
 *    names found are the names ssh matches. */
#ifndef SSHMUXD_SSHCFG_H
#define SSHMUXD_SSHCFG_H

#include <stddef.h>

/* Largest `ssh -G` output accepted (OpenSSH 9 prints about 3 KiB). */
#define SSHMUXD_SSHG_MAX_INPUT (256 * 1024)
/* Longest value kept, without its NUL. */
#define SSHMUXD_SSHG_MAX_VALUE 1023
/* Most IdentityFile lines kept. */
#define SSHMUXD_SSHG_MAX_IDS 16

/* Errors of sshmuxd_sshg_parse (negative; err says which line and why). */
#define SSHMUXD_SSHG_ETOOBIG (-1)  /* more than SSHMUXD_SSHG_MAX_INPUT bytes */
#define SSHMUXD_SSHG_EVALUE (-2)   /* a kept value is unusable */
#define SSHMUXD_SSHG_EMISSING (-3) /* no hostname, user or port line */

/* The settings sshmuxd can use.  Strings are NUL-terminated and "" when
 * the keyword was absent; has_* say whether the line was there. */
typedef struct {
  char hostname[SSHMUXD_SSHG_MAX_VALUE + 1];
  char user[SSHMUXD_SSHG_MAX_VALUE + 1];
  int port; /* 1..65535 once parsed */
  char identity[SSHMUXD_SSHG_MAX_IDS][SSHMUXD_SSHG_MAX_VALUE + 1];
  size_t nidentity;
  char identityagent[SSHMUXD_SSHG_MAX_VALUE + 1];
  char proxyjump[SSHMUXD_SSHG_MAX_VALUE + 1];
  char proxycommand[SSHMUXD_SSHG_MAX_VALUE + 1];
  char hostkeyalias[SSHMUXD_SSHG_MAX_VALUE + 1];
  int has_identityagent, has_proxyjump, has_proxycommand, has_hostkeyalias;
} sshmuxd_sshg_t;

/* Parse `ssh -G` output data[0..len).
 *
 * Contract: reads only data[0..len) (which need not be NUL-terminated and
 * may hold any bytes), writes only *out and err[0..err_size), allocates
 * nothing, and runs in time linear in len.  A line is "keyword value" up
 * to '\n' (the last line may lack it); the keyword is matched
 * case-insensitively, one run of spaces/tabs separates it from the value.
 * Only hostname, user, port, identityfile (repeated), identityagent,
 * proxyjump, proxycommand and hostkeyalias are kept; every other line is
 * skipped unread, so whatever ssh prints there cannot matter.  A kept value
 * must be non-empty, at most SSHMUXD_SSHG_MAX_VALUE bytes, hold no byte
 * below 0x20 and no 0x7f (CR, NUL, tab, escapes: a value with them could
 * not be written into the routes file faithfully); a kept keyword other
 * than identityfile may appear once; port is decimal 1-65535; at most
 * SSHMUXD_SSHG_MAX_IDS identityfile lines.
 *
 * Returns 0 (*out complete), or SSHMUXD_SSHG_ETOOBIG / _EVALUE / _EMISSING
 * with "line N: problem" in err (if err_size > 0; always NUL-terminated);
 * *out is then unspecified. */
int sshmuxd_sshg_parse(const char *data, size_t len, sshmuxd_sshg_t *out,
                       char *err, size_t err_size);

/* One ssh_config line (start[0..len), without its '\n'; a trailing CR is
 * ignored): the keyword and where its arguments begin, after white space
 * and an optional '='. */
typedef struct {
  const char *keyword; /* points into the line; keyword_len bytes */
  size_t keyword_len;
  const char *args; /* points into the line; args_len bytes */
  size_t args_len;
} sshmuxd_sshcfg_line_t;
void sshmuxd_sshcfg_line(const char *start, size_t len,
                         sshmuxd_sshcfg_line_t *l);
/* 1 if the line's keyword is kw (ASCII, case-insensitive). */
int sshmuxd_sshcfg_is(const sshmuxd_sshcfg_line_t *l, const char *kw);
/* sshmuxd_sshcfg_arg(): an unterminated quote (see there). */
#define SSHMUXD_SSHCFG_EQUOTE (-1)

/* The next argument of [*s, e) (a line's args, or what is left of them
 * after earlier calls) into out, split as OpenSSH 9.2 splits ssh_config
 * arguments (misc.c argv_split(), terminate_on_comment set): blanks
 * separate arguments outside quotes; single and double quotes group words
 * anywhere in an argument and are removed; \\, \' and \" stand for the
 * byte after the backslash, and so does "\ " outside quotes (every other
 * backslash is kept as it is); a '#' where an argument would begin starts
 * a comment to the end of the line; a NUL byte ends the line.
 *
 * Contract: reads only [*s, e), writes only out[0..size) and *cut, and
 * allocates nothing; out may be NULL when size is 0.  A value longer than
 * size - 1 is cut to that (NUL-terminated when size > 0) and then, only
 * then, *cut is set to 1 when cut is not NULL (it is never cleared).
 * Returns 1 with *s just past the argument; 0 at the end of the arguments
 * (or at a comment), with *s = e and out untouched.
 *
 * An unterminated quote returns SSHMUXD_SSHCFG_EQUOTE, out holding "" and
 * *s = e.  ssh refuses such a line ("invalid quotes") and with it the whole
 * file, so no word on it is a Host name or Include path ssh uses: the
 * rest of the line gives nothing.  The arguments before it were already
 * returned, so a caller that must not act on them asks
 * sshmuxd_sshcfg_args_ok() first (import-config and setup-config do, and
 * skip the line, saying why). */
int sshmuxd_sshcfg_arg(const char **s, const char *e, char *out, size_t size,
                       int *cut);
/* 1 if every argument of [s, e) splits without an unterminated quote. */
int sshmuxd_sshcfg_args_ok(const char *s, const char *e);

#endif
