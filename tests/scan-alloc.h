/* scan-alloc.h -- an allocator for sshmux_replace_allocator() that keeps
 * every block the library frees aside, unreleased and untouched, until
 * scan_alloc_check() has looked in it for the secrets a test registered.
 * Used by test-server-secrets.c, test-pool-secrets.c and test-pool-auth.c to
 * prove that keys, hashes and answers are wiped before their memory is
 * released. Thread-safe (the pool logs in on worker threads). */
#ifndef SSHMUX_SCAN_ALLOC_H
#define SSHMUX_SCAN_ALLOC_H

#include <stddef.h>

/* Replace the library's allocator; call before its first allocation. */
void scan_alloc_install(void);
/* A secret to look for (copied).  Up to 16 bytes it is looked for whole;
 * longer, by its first and its last 16 bytes.  At least 7 bytes. */
void scan_alloc_needle(const char *name, const void *p, size_t n);
/* Scan every block freed since the last call for every needle known now
 * (a later secret cannot be in a block freed before it existed), then
 * really free them. */
void scan_alloc_check(void);
/* After the last scan_alloc_check(): more than min_scanned blocks were
 * scanned (the scan saw the library's blocks) and none held a needle;
 * fails the test at the caller's line, naming `what` ("secrets", "the
 * one-time code"), otherwise.  Prints the number scanned. */
#define SCAN_ALLOC_EXPECT_CLEAN(min_scanned, what)                             \
  scan_alloc_expect_clean_at(__FILE__, __LINE__, (min_scanned), (what))
void scan_alloc_expect_clean_at(const char *file, int line, size_t min_scanned,
                                const char *what);

#endif
