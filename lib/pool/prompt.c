/* prompt.c -- the prompt object: a question asked by a login worker thread
 * and answered, later, by a person through the embedder on the loop thread.
 *
 * libssh2 1.10 calls its keyboard-interactive callback synchronously and
 * sends the answers the moment it returns, so the worker has to wait inside
 * it; this file is that wait.  A prompt is reference counted (the worker,
 * and whoever holds the event or the embedder's handle) and carries its own
 * mutex and condition variable, so it may outlive both the connection and
 * the pool: an embedder answering a prompt after the pool closed just gets
 * SSHMUX_ECLOSED.  The worker waits until answered, cancelled, aborted
 * (connection or pool closing) or the deadline passes; the loop thread never
 * waits on anything here.
 *
 * Answering or cancelling releases the embedder's reference, which may be
 * the last one, so a second answer cannot look inside the prompt to see it
 * was already answered.  Prompts handed to the embedder are therefore kept
 * in a small process-wide registry; answer and cancel first take the prompt
 * out of it and touch nothing when it is not there (a second call, or a
 * pointer never handed out). */
#include <string.h>

#include "pool/pool-int.h"

typedef enum {
  P_WAITING = 0,
  P_ANSWERED,
  P_CANCELLED,
  P_NOPROMPTER,
  P_TIMEOUT,
  P_ABORTED,
  P_INVALID
} pstate_t;

struct sshmux_prompt_s {
  uv_mutex_t mu;
  uv_cond_t cv;
  int refs;       /* under mu */
  pstate_t state; /* under mu */
  int delivered;  /* handed to the embedder (under mu) */
  int released;   /* the embedder answered or cancelled (under mu) */
  sshmux__prompt_t *reg_next; /* registry link while handed out (reg.mu) */
  sshmux_prompt_kind_t kind;
  char *target, *name, *instruction, *notice, *hk_type, *hk_fp;
  size_t n;
  char **texts;
  int *echo;
  char **answers; /* secret; under mu until taken by the worker */
  uint64_t deadline_ns;
  sshmux__event_t ev_deliver, ev_withdraw;
};

/* Prompts handed to the embedder and not yet answered or cancelled.  A
 * person answers a handful at a time, so a list is enough. */
static struct {
  uv_mutex_t mu;
  int ok; /* the mutex exists */
  sshmux__prompt_t *head;
} reg;
static uv_once_t reg_once = UV_ONCE_INIT;

static void reg_init(void) {
  reg.ok = uv_mutex_init(&reg.mu) == 0;
}

/* Adds p to the registry; 0 or SSHMUX_ENOMEM (no mutex: fail closed). */
static int reg_add(sshmux__prompt_t *p) {
  uv_once(&reg_once, reg_init);
  if (!reg.ok)
    return SSHMUX_ENOMEM;
  uv_mutex_lock(&reg.mu);
  p->reg_next = reg.head;
  reg.head = p;
  uv_mutex_unlock(&reg.mu);
  return 0;
}

/* Takes p out of the registry: 1 when it was there (the caller now holds
 * the embedder's reference), 0 when not (p must not be dereferenced). */
static int reg_take(const sshmux_prompt_t *p) {
  int found = 0;

  uv_once(&reg_once, reg_init);
  if (!reg.ok)
    return 0;
  uv_mutex_lock(&reg.mu);
  for (sshmux__prompt_t **pp = &reg.head; *pp != NULL; pp = &(*pp)->reg_next)
    if (*pp == p) {
      *pp = p->reg_next;
      found = 1;
      break;
    }
  uv_mutex_unlock(&reg.mu);
  return found;
}

void sshmux__prompt_answers_free(char **answers, size_t n) {
  if (answers == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    if (answers[i] != NULL)
      sshmux__free_secret(answers[i], strlen(answers[i]));
  sshmux__free(answers);
}

static void prompt_free(sshmux__prompt_t *p) {
  sshmux__prompt_answers_free(p->answers, p->n);
  for (size_t i = 0; i < p->n && p->texts != NULL; i++)
    sshmux__free(p->texts[i]);
  sshmux__free(p->texts);
  sshmux__free(p->echo);
  sshmux__free(p->target);
  sshmux__free(p->name);
  sshmux__free(p->instruction);
  sshmux__free(p->notice);
  sshmux__free(p->hk_type);
  sshmux__free(p->hk_fp);
  uv_cond_destroy(&p->cv);
  uv_mutex_destroy(&p->mu);
  sshmux__free(p);
}

static void prompt_unref(sshmux__prompt_t *p) {
  int last;

  uv_mutex_lock(&p->mu);
  last = --p->refs == 0;
  uv_mutex_unlock(&p->mu);
  if (last)
    prompt_free(p);
}

static char *dup_or_empty(const char *s) {
  return sshmux__strdup(s != NULL ? s : "");
}

static sshmux__prompt_t *prompt_new(sshmux__upconn_t *c,
                                    const sshmux__prompt_req_t *r) {
  sshmux__prompt_t *p = sshmux__calloc(1, sizeof(*p));
  uint64_t tmo = c->pool->o.prompt_timeout_ms;

  if (p == NULL)
    return NULL;
  if (uv_mutex_init(&p->mu) != 0) {
    sshmux__free(p);
    return NULL;
  }
  if (uv_cond_init(&p->cv) != 0) {
    uv_mutex_destroy(&p->mu);
    sshmux__free(p);
    return NULL;
  }
  p->kind = r->kind;
  p->n = r->n;
  p->target = dup_or_empty(c->label);
  p->name = dup_or_empty(r->name);
  p->instruction = dup_or_empty(r->instruction);
  if (c->overflow)
    p->notice = sshmux__asprintf(
        "%s refused more sessions on the existing connection (limit %u): "
        "a NEW login is needed for this session",
        c->label, c->learned_limit);
  if (r->hk_type != NULL) {
    p->hk_type = sshmux__strdup(r->hk_type);
    p->hk_fp = sshmux__strdup(r->hk_fp);
  }
  if (r->n > 0) {
    p->texts = sshmux__calloc(r->n, sizeof(char *));
    p->echo = sshmux__calloc(r->n, sizeof(int));
    if (p->texts != NULL && p->echo != NULL)
      for (size_t i = 0; i < r->n; i++) {
        p->texts[i] = dup_or_empty(r->texts[i]);
        p->echo[i] = r->echo[i];
        if (p->texts[i] == NULL)
          goto fail;
      }
    else
      goto fail;
  }
  if (p->target == NULL || p->name == NULL || p->instruction == NULL ||
      (c->overflow && p->notice == NULL) ||
      (r->hk_type != NULL && (p->hk_type == NULL || p->hk_fp == NULL)))
    goto fail;
  p->deadline_ns = uv_hrtime() + tmo * 1000000u;
  p->refs = 1;
  p->ev_deliver.kind = SSHMUX__EV_PROMPT;
  p->ev_deliver.ptr = p;
  p->ev_withdraw.kind = SSHMUX__EV_WITHDRAW;
  p->ev_withdraw.ptr = p;
  return p;
fail:
  prompt_free(p);
  return NULL;
}

int sshmux__prompt_ask(sshmux__upconn_t *c, const sshmux__prompt_req_t *req,
                       char ***answers) {
  sshmux_pool_t *pool = c->pool;
  sshmux__prompt_t *p = prompt_new(c, req);
  int rc = 0, withdraw;

  *answers = NULL;
  if (p == NULL)
    return SSHMUX_ENOMEM;
  uv_mutex_lock(&pool->mu);
  if (c->abort) {
    uv_mutex_unlock(&pool->mu);
    prompt_free(p);
    return SSHMUX_ECLOSED;
  }
  c->cur_prompt = p;
  p->refs++; /* the event's, then the embedder's */
  uv_mutex_unlock(&pool->mu);
  sshmux__pool_post(pool, &p->ev_deliver);

  uv_mutex_lock(&p->mu);
  while (p->state == P_WAITING) {
    uint64_t now = uv_hrtime();
    if (now >= p->deadline_ns) {
      p->state = P_TIMEOUT;
      break;
    }
    (void)uv_cond_timedwait(&p->cv, &p->mu, p->deadline_ns - now);
  }
  switch (p->state) {
  case P_ANSWERED:
    *answers = p->answers;
    p->answers = NULL;
    break;
  case P_CANCELLED:
    rc = SSHMUX_EPROMPT_CANCELLED;
    break;
  case P_NOPROMPTER:
    rc = SSHMUX_ENOPROMPTER;
    break;
  case P_TIMEOUT:
    rc = SSHMUX_EPROMPT_TIMEOUT;
    break;
  case P_INVALID:
    rc = SSHMUX_EINVAL;
    break;
  default:
    rc = SSHMUX_ECLOSED;
    break;
  }
  withdraw = p->delivered && !p->released;
  if (withdraw)
    p->refs++;
  uv_mutex_unlock(&p->mu);

  uv_mutex_lock(&pool->mu);
  c->cur_prompt = NULL;
  uv_mutex_unlock(&pool->mu);
  if (withdraw)
    sshmux__pool_post(pool, &p->ev_withdraw);
  prompt_unref(p);
  return rc;
}

void sshmux__prompt_abort_locked(sshmux__prompt_t *p) {
  uv_mutex_lock(&p->mu);
  if (p->state == P_WAITING) {
    p->state = P_ABORTED;
    uv_cond_signal(&p->cv);
  }
  uv_mutex_unlock(&p->mu);
}

void sshmux__prompt_event(sshmux_pool_t *pool, sshmux__event_t *ev) {
  sshmux__prompt_t *p = ev->ptr;
  int deliver = 0, withdrawn = 0;

  uv_mutex_lock(&p->mu);
  if (ev->kind == SSHMUX__EV_PROMPT) {
    if (p->state == P_WAITING) {
      if (pool->prompt_cb == NULL || pool->closing) {
        p->state = pool->closing ? P_ABORTED : P_NOPROMPTER;
        uv_cond_signal(&p->cv);
      } else if (reg_add(p) != 0) {
        p->state = P_ABORTED;
        uv_cond_signal(&p->cv);
      } else {
        p->delivered = 1;
        deliver = 1;
      }
    }
  } else {
    withdrawn = p->delivered && !p->released;
  }
  uv_mutex_unlock(&p->mu);
  if (deliver) {
    /* The event's reference is now the embedder's. */
    pool->prompt_cb(p, pool->prompt_data);
    return;
  }
  if (withdrawn && pool->withdrawn_cb != NULL)
    pool->withdrawn_cb(p, pool->prompt_data);
  prompt_unref(p);
}

void sshmux__prompt_event_drop(sshmux__event_t *ev) {
  sshmux__prompt_t *p = ev->ptr;

  if (ev->kind == SSHMUX__EV_PROMPT)
    sshmux__prompt_abort_locked(p);
  prompt_unref(p);
}

sshmux_prompt_kind_t sshmux_prompt_kind(const sshmux_prompt_t *p) {
  return p->kind;
}
const char *sshmux_prompt_target(const sshmux_prompt_t *p) {
  return p->target;
}
const char *sshmux_prompt_name(const sshmux_prompt_t *p) {
  return p->name;
}
const char *sshmux_prompt_instruction(const sshmux_prompt_t *p) {
  return p->instruction;
}
size_t sshmux_prompt_count(const sshmux_prompt_t *p) {
  return p->n;
}
const char *sshmux_prompt_text(const sshmux_prompt_t *p, size_t i) {
  return i < p->n ? p->texts[i] : NULL;
}
int sshmux_prompt_echo(const sshmux_prompt_t *p, size_t i) {
  return i < p->n ? p->echo[i] : 0;
}
uint64_t sshmux_prompt_time_left(const sshmux_prompt_t *p) {
  uint64_t now = uv_hrtime();
  return now >= p->deadline_ns ? 0 : (p->deadline_ns - now) / 1000000u;
}
const char *sshmux_prompt_notice(const sshmux_prompt_t *p) {
  return p->notice;
}
const char *sshmux_prompt_hostkey_type(const sshmux_prompt_t *p) {
  return p->hk_type;
}
const char *sshmux_prompt_hostkey_fingerprint(const sshmux_prompt_t *p) {
  return p->hk_fp;
}

/* Common tail of answer and cancel, called with the prompt already taken
 * out of the registry: set the outcome if the worker still waits, release
 * the embedder's reference. */
static int prompt_finish(sshmux_prompt_t *p, pstate_t st, char **answers) {
  int rc = 0;

  uv_mutex_lock(&p->mu);
  p->released = 1;
  if (p->state == P_WAITING) {
    p->state = st;
    if (st == P_ANSWERED) {
      p->answers = answers;
      answers = NULL;
    }
    if (st == P_INVALID)
      rc = SSHMUX_EINVAL;
    uv_cond_signal(&p->cv);
  } else {
    rc = p->state == P_TIMEOUT ? SSHMUX_EPROMPT_TIMEOUT : SSHMUX_ECLOSED;
  }
  uv_mutex_unlock(&p->mu);
  sshmux__prompt_answers_free(answers, p->n);
  prompt_unref(p);
  return rc;
}

int sshmux_prompt_answer(sshmux_prompt_t *p, const char *const *answers,
                         size_t n) {
  char **copy = NULL;

  /* Not handed out, or already answered or cancelled: p may be freed. */
  if (p == NULL || !reg_take(p))
    return SSHMUX_EINVAL;
  if (n != p->n || (n > 0 && answers == NULL))
    return prompt_finish(p, P_INVALID, NULL);
  if (n > 0) {
    copy = sshmux__calloc(n, sizeof(char *));
    if (copy == NULL) {
      (void)prompt_finish(p, P_CANCELLED, NULL);
      return SSHMUX_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
      copy[i] = sshmux__strdup(answers[i] != NULL ? answers[i] : "");
      if (copy[i] == NULL) {
        sshmux__prompt_answers_free(copy, n);
        (void)prompt_finish(p, P_CANCELLED, NULL);
        return SSHMUX_ENOMEM;
      }
    }
  }
  return prompt_finish(p, P_ANSWERED, copy);
}

void sshmux_prompt_cancel(sshmux_prompt_t *p) {
  if (p != NULL && reg_take(p))
    (void)prompt_finish(p, P_CANCELLED, NULL);
}
