/* knownhosts.h -- our own reader of OpenSSH known_hosts files (we do not use
 * libssh2's: it lacks negation, @revoked, wildcards with ports and clear
 * errors) and the atomic appender for accepted keys.
 *
 * Host names are matched as OpenSSH does: "host" when port is 22, else
 * "[host]:port"; several comma-separated patterns per line; `*` and `?`
 * wildcards; `!pattern` negation (a negated match rejects the line);
 * hashed entries "|1|base64(salt)|base64(HMAC-SHA1(salt, name))".
 * Markers: "@revoked" (the key is refused for every host the line names, or
 * for all hosts with "*") and "@cert-authority" (we do not verify
 * certificates; its presence for a host is reported so the caller can warn
 * and fail closed on non-interactive acceptance).  Lines may be long (up to
 * 16 KiB); longer, malformed or unsupported lines are skipped with a debug
 * log naming file and line, never fatal. */
#ifndef SSHMUX_KNOWNHOSTS_H
#define SSHMUX_KNOWNHOSTS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  SSHMUX__KH_NOTFOUND = 0, /* no line names this host with this key type */
  SSHMUX__KH_MATCH = 1,    /* a line names host and exactly this key */
  SSHMUX__KH_CHANGED = 2,  /* lines name the host with the same key type but
                              a different key, and none with this key */
  SSHMUX__KH_REVOKED = 3   /* this key is @revoked: always refuse */
} sshmux__kh_status_t;

typedef struct {
  sshmux__kh_status_t status;
  int cert_authority; /* some @cert-authority line names this host */
  char file[512];     /* where the deciding line is ("" when NOTFOUND) */
  int line;
} sshmux__kh_result_t;

/* Check host:port presenting (keytype, blob) against the files in order
 * (missing files are skipped silently; unreadable ones, and files over
 * 64 MiB, logged and skipped).  Files are read through symlinks, as ssh
 * does (known_hosts often lives in a dotfiles repository); only writing
 * refuses them.  The host is compared case-insensitively.  REVOKED in
 * any file wins; then MATCH; then CHANGED; else NOTFOUND.  Returns 0 and
 * fills *res, or a negative error for invalid arguments. */
int sshmux__known_hosts_check(const char *const *files, size_t nfiles,
                              const char *host, int port, const char *keytype,
                              const uint8_t *blob, size_t bloblen,
                              sshmux__kh_result_t *res);

/* The same check over one file already in memory, data[0..len) (name is
 * used only in logs and res->file).  The scanner behind the function
 * above; exposed for the fuzz target and the tests. */
int sshmux__known_hosts_check_mem(const char *name, const char *data,
                                  size_t len, const char *host, int port,
                                  const char *keytype, const uint8_t *blob,
                                  size_t bloblen, sshmux__kh_result_t *res);

/* Append "NAME keytype base64(blob)\n" for host:port to file atomically
 * (sshmux_file_append_atomic, 0600 when created; the directory is created
 * 0700 if missing; a symlinked file is SSHMUX_ESYMLINK).  NAME is the
 * lower-cased lookup name, not hashed.  host must be printable ASCII
 * without white space or any of , # * ? ! [ ] | and not start with '@', so
 * that the line can never become a pattern, negation, hashed name, marker
 * or comment (SSHMUX_EINVAL). */
int sshmux__known_hosts_add(const char *file, const char *host, int port,
                            const char *keytype, const uint8_t *blob,
                            size_t bloblen);

#endif
