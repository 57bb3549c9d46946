/* scan-alloc.c -- see scan-alloc.h.  Test support code only. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan-alloc.h"
#include "test.h"

typedef union blk {
  struct {
    union blk *next;
    size_t size;
  } h;
  max_align_t align;
} blk_t;

typedef struct {
  char name[48];
  unsigned char bytes[64];
  size_t len;
} needle_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static blk_t *freed; /* newest first */
static size_t scanned;
static needle_t needles[64];
static size_t nneedles;
static char hits[4096];

static void *q_malloc(size_t n) {
  blk_t *b = malloc(sizeof(blk_t) + n);
  if (b == NULL)
    return NULL;
  b->h.next = NULL;
  b->h.size = n;
  return b + 1;
}

static void q_free(void *p) {
  blk_t *b;
  if (p == NULL)
    return;
  b = (blk_t *)p - 1;
  pthread_mutex_lock(&lock);
  b->h.next = freed;
  freed = b;
  pthread_mutex_unlock(&lock);
}

static size_t q_size(void *p) {
  return ((blk_t *)p - 1)->h.size;
}

static void *q_calloc(size_t c, size_t n) {
  return test_calloc_with(q_malloc, c, n);
}

/* Never in place: the old block goes aside like any freed one. */
static void *q_realloc(void *p, size_t n) {
  return test_realloc_with(q_malloc, q_free, q_size, p, n);
}

void scan_alloc_install(void) {
  ASSERT_OK(sshmux_replace_allocator(q_malloc, q_realloc, q_calloc, q_free));
}

void scan_alloc_needle(const char *name, const void *p, size_t n) {
  needle_t *nd;
  ASSERT_GE(n, 7);
  ASSERT_LE(n, sizeof(needles[0].bytes));
  pthread_mutex_lock(&lock);
  ASSERT_LT(nneedles, sizeof(needles) / sizeof(needles[0]));
  nd = &needles[nneedles++];
  snprintf(nd->name, sizeof(nd->name), "%s", name);
  memcpy(nd->bytes, p, n);
  nd->len = n;
  pthread_mutex_unlock(&lock);
}

static void scan_block(const unsigned char *p, size_t n) {
  size_t i;

  for (i = 0; i < nneedles; i++) {
    const needle_t *nd = &needles[i];
    size_t w = nd->len < 16 ? nd->len : 16;
    const unsigned char *at = memmem(p, n, nd->bytes, w);
    if (at == NULL && nd->len > 16)
      at = memmem(p, n, nd->bytes + nd->len - 16, 16);
    if (at != NULL) {
      char line[160];
      snprintf(line, sizeof(line),
               "%.47s in a freed block of %zu bytes (offset %zu); ", nd->name,
               n, (size_t)(at - p));
      if (strlen(hits) + strlen(line) < sizeof(hits))
        strcat(hits, line);
    }
  }
}

void scan_alloc_check(void) {
  pthread_mutex_lock(&lock);
  while (freed != NULL) {
    blk_t *b = freed;
    freed = b->h.next;
    scan_block((const unsigned char *)(b + 1), b->h.size);
    scanned++;
    free(b);
  }
  pthread_mutex_unlock(&lock);
}

void scan_alloc_expect_clean_at(const char *file, int line, size_t min_scanned,
                                const char *what) {
  printf("# %zu freed blocks scanned\n", scanned);
  if (scanned <= min_scanned)
    test_fail(file, line, "only %zu freed blocks scanned (at least %zu)",
              scanned, min_scanned + 1);
  if (hits[0] != '\0')
    test_fail(file, line, "%s left in freed memory: %s", what, hits);
}
