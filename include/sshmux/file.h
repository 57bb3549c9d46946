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
 * name (".NAME.sshmux-HEX.tmp", from the CSPRNG) in the same directory,
 * created relative to that directory opened with O_NOFOLLOW, with
 * O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC and exactly the given mode (the umask
 * is not applied); write, fsync, rename over path, fsync the directory.
 * Symlinks on the path are refused (SSHMUX_ESYMLINK); an existing target
 * that is not a regular file is refused (UV_EISDIR for a directory,
 * SSHMUX_EINVAL otherwise).  On any failure before the rename the old file
 * is untouched and the temp file removed.  If only the final directory
 * fsync fails, the new contents are in place but their durability is not
 * guaranteed, and that error is returned.  Relative paths are taken
 * against the current directory. */
SSHMUX_EXTERN int sshmux_file_write_atomic(const char *path, const void *data,
                                           size_t len, int mode);
/* Atomically append: the new file is the old contents (or nothing) plus
 * data, written as above; a missing trailing newline in the old contents
 * is supplied.  The old file's mode is kept if it exists (mode applies
 * only to a new file), and so is its owner when the caller is root.  Files
 * over 64 MiB are refused (SSHMUX_ETOOLONG).  Atomic for readers, but two
 * concurrent appenders to the same file may lose one addition: serialise
 * them yourself. */
SSHMUX_EXTERN int sshmux_file_append_atomic(const char *path, const void *data,
                                            size_t len, int mode);
/* Read at most max bytes of a regular file (O_NOFOLLOW, symlinks on the
 * path refused) into a fresh NUL-terminated allocation owned by the caller
 * (free with sshmux_free()); len may be NULL.  SSHMUX_ETOOLONG if larger
 * than max, UV_EISDIR / SSHMUX_EINVAL if not a regular file, UV_ENOENT if
 * missing. */
SSHMUX_EXTERN int sshmux_file_read(const char *path, size_t max, char **data,
                                   size_t *len);
/* SSHMUX_ESYMLINK if path or any ancestor directory is a symlink; 0 if
 * none is; UV_ENOENT if the path does not exist (ancestors that exist are
 * still checked: a missing leaf is reported only after them).  Every
 * textual prefix of the absolute path is lstat()ed, from the target up to
 * "/"; a relative path is first taken against the current directory. */
SSHMUX_EXTERN int sshmux_path_check_symlinks(const char *path);
/* StrictModes: path and every ancestor up to "/" must be owned by uid or
 * root and not writable by group or others.  One exception, for ancestors
 * only: a directory owned by root with the sticky bit set (/tmp, /var/tmp)
 * is accepted although world-writable, because others can add names to it
 * but not rename or remove ours.  (OpenSSH's safe_path stops at the home
 * directory instead and so never meets /tmp.)  The target itself is never
 * excused, and a world-writable directory without the sticky bit, or one
 * not owned by root, always fails.  SSHMUX_EPERM on failure, with the
 * offending path logged at warn level; SSHMUX_ESYMLINK if a component is
 * a symlink; UV_ENOENT if missing (after checking the ancestors). */
SSHMUX_EXTERN int sshmux_path_check_perms(const char *path, uid_t uid);
/* mkdir -p with the given mode for created directories (the umask
 * applies); refuses symlinks anywhere on the path; a component that exists
 * but is not a directory is UV_ENOTDIR; the final directory, existing or
 * created, must be owned by the effective uid and not group/world writable
 * (SSHMUX_EPERM). */
SSHMUX_EXTERN int sshmux_dir_ensure(const char *path, int mode);
/* Free memory the library allocated for the caller. */
SSHMUX_EXTERN void sshmux_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif
