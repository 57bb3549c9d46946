/* sshmux/file.h -- safe files: atomic writes, symlink refusal and
 * OpenSSH-style StrictModes checks.  The library writes every file it owns
 * (host keys, known_hosts additions, the daemon's config fragments) through
 * these, and embedders may use them for theirs.
 *
 * Paths are refused with SSHMUX_ESYMLINK when the target or any directory on
 * the way from it up to "/" is a symbolic link, and with SSHMUX_EPERM when a
 * StrictModes check fails.  These are POSIX-only for now; on Windows they
 * return UV_ENOSYS until an ACL-based equivalent is written. */
#ifndef SSHMUX_FILE_H
#define SSHMUX_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Atomically replace path with data[0..len): a temp file with a random
 * name in the same directory (O_CREAT|O_EXCL|O_NOFOLLOW, the given mode),
 * write, fsync, rename over path, fsync the directory.  On any failure the
 * old file is untouched and the temp file removed.  Symlinks refused. */
SSHMUX_EXTERN int sshmux_file_write_atomic(const char *path, const void *data,
                                           size_t len, int mode);
/* Atomically append: the new file is the old contents (or nothing) plus
 * data, written as above; a missing trailing newline in the old contents
 * is supplied.  The old file's mode is kept if it exists. */
SSHMUX_EXTERN int sshmux_file_append_atomic(const char *path, const void *data,
                                            size_t len, int mode);
/* Read at most max bytes of a regular file (O_NOFOLLOW, symlinks on the
 * path refused) into a fresh NUL-terminated allocation owned by the caller
 * (free with sshmux_free()).  SSHMUX_ETOOLONG if larger than max. */
SSHMUX_EXTERN int sshmux_file_read(const char *path, size_t max, char **data,
                                   size_t *len);
/* SSHMUX_ESYMLINK if path or any ancestor directory is a symlink; 0 if
 * none is; UV_ENOENT if the path does not exist (ancestors that exist are
 * still checked: a missing leaf is reported only after them). */
SSHMUX_EXTERN int sshmux_path_check_symlinks(const char *path);
/* StrictModes: path and every ancestor up to "/" must be owned by uid or
 * root and not writable by group or others (a sticky, root-owned directory
 * such as /tmp is accepted, as OpenSSH's safe_path does not, but the
 * daemon's own directories never live directly in one).  SSHMUX_EPERM
 * otherwise, with the offending path logged. */
SSHMUX_EXTERN int sshmux_path_check_perms(const char *path, uid_t uid);
/* mkdir -p with the given mode for created directories; refuses symlinks;
 * an existing final directory must be owned by us and not group/world
 * writable (SSHMUX_EPERM). */
SSHMUX_EXTERN int sshmux_dir_ensure(const char *path, int mode);
/* Free memory the library allocated for the caller. */
SSHMUX_EXTERN void sshmux_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif
