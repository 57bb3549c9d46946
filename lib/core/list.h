/* core/list.h -- the intrusive doubly linked list every module uses for its
 * queues (the pool's connections, channels and events, the relay's channels):
 * a list is a sentinel head; a link that is in no list points at itself, so
 * removing twice is harmless and "am I queued?" is one comparison. */
#ifndef SSHMUX_CORE_LIST_H
#define SSHMUX_CORE_LIST_H

/* ---- intrusive doubly linked list (head is a sentinel) ---- */
typedef struct sshmux__link {
  struct sshmux__link *prev, *next;
} sshmux__link_t;

static inline void sshmux__list_init(sshmux__link_t *h) {
  h->prev = h->next = h;
}
static inline int sshmux__list_empty(const sshmux__link_t *h) {
  return h->next == h;
}
static inline void sshmux__list_push(sshmux__link_t *h, sshmux__link_t *l) {
  l->prev = h->prev;
  l->next = h;
  h->prev->next = l;
  h->prev = l;
}
static inline void sshmux__list_push_front(sshmux__link_t *h,
                                           sshmux__link_t *l) {
  l->next = h->next;
  l->prev = h;
  h->next->prev = l;
  h->next = l;
}
static inline void sshmux__list_remove(sshmux__link_t *l) {
  l->prev->next = l->next;
  l->next->prev = l->prev;
  l->prev = l->next = l;
}
/* Move every element of src to dst (dst's old contents are forgotten: it
 * must be empty or unused); src is left empty.  O(1). */
static inline void sshmux__list_take(sshmux__link_t *dst, sshmux__link_t *src) {
  sshmux__list_init(dst);
  if (sshmux__list_empty(src))
    return;
  dst->next = src->next;
  dst->prev = src->prev;
  dst->next->prev = dst;
  dst->prev->next = dst;
  sshmux__list_init(src);
}
/* A link that is in no list points at itself. */
static inline int sshmux__list_linked(const sshmux__link_t *l) {
  return l->next != l;
}

#endif
