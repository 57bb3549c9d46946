/* safefile.h -- internal entry points of lib/core/safefile.c beyond the public
 * sshmux/file.h. */
#ifndef SSHMUX_SAFEFILE_H
#define SSHMUX_SAFEFILE_H

#include <stddef.h>

/* sshmux_file_read() with a choice: follow != 0 opens through symlinks
 * (and skips the ancestor walk).  Only for files the library merely reads
 * and that users commonly keep as symlinks, e.g. ~/.ssh/known_hosts from a
 * dotfiles repository, as OpenSSH itself does; everything it writes stays
 * symlink-free. */
int sshmux__file_read_ex(const char *path, size_t max, int follow, char **data,
                         size_t *len);

#endif
