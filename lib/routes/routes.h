/* routes/routes.h -- the routes module's interface for the rest of the
 * library and the daemon: loading from a buffer already in memory (so the
 * fuzz target and the file loader share one code path), and the name rule
 * (so import-config checks names with the loader's own). */
#ifndef SSHMUX_ROUTES_INT_H
#define SSHMUX_ROUTES_INT_H

#include <stddef.h>

#include "sshmux/routes.h"

/* As sshmux_routes_load(), but parsing data[0..len) (which need not be
 * NUL-terminated and may contain NUL bytes, which are refused); filename is
 * used in messages and kept as the object's path. */
int sshmux__routes_load_buffer(sshmux_routes_t **routes, const char *data,
                               size_t len, const char *filename,
                               const char *home, char *err, size_t err_size);

/* 1 if s may name a route or a jump ([routes.NAME] / [jumps.NAME]): 1-64
 * characters of A-Z a-z 0-9 . _ -; else 0. */
int sshmux__routes_name_valid(const char *s);

#endif
