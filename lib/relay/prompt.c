/* relay/prompt.c -- a login's question asked in the terminal of the client
 * whose session is waiting for that login (sshmux_relay_ask, relay.h).
 *
 * A session channel is normally held "opening" until its upstream channel
 * is open, so while the login runs the client has sent no pty-req yet and
 * there is no terminal to write to.  When the embedder offers a prompt,
 * every session channel waiting for that login (sshmux_upchan_awaits_prompt)
 * is therefore accepted at once and put in hold mode (menu.c): its requests
 * are kept and replayed once the upstream opens.  The first of them whose
 * start request shows a pty gets the question: a banner naming the target,
 * the server's name and instruction, then each question, read with minimal
 * line editing (backspace, ^U), echoed only when the server allows it; ^C
 * (or ^D on an empty line) cancels the prompt and ends that session with
 * status 130.  Only one terminal asks a given prompt; the other sessions
 * waiting for the same login just wait.  If the asking session goes away,
 * the question moves to the next waiting session with a pty; when no
 * waiting session has one, the prompt goes back to the embedder through its
 * declined callback (never from inside sshmux_relay_ask).
 *
 * Everything shown comes from the prompt, whose remote-supplied strings
 * the pool sanitised already; it is passed through the sanitiser again here
 * and line breaks become CR LF for the raw-mode terminal.  Answers live in
 * buffers wiped when the prompt is answered or dropped. */
#include <string.h>

#include "relay/relay-int.h"

#define ASK_MAX_ANSWERS 16
#define ASK_LINE_MAX 512

struct sshmux__rask {
  sshmux__link_t link; /* relay->asks */
  sshmux_relay_t *relay;
  sshmux_prompt_t *p;  /* the embedder's reference, ours while held */
  sshmux__rchan_t *on; /* the channel asking; NULL while none is */
  sshmux_relay_declined_cb declined;
  void *data;
  size_t asked; /* answers collected */
  char *answers[ASK_MAX_ANSWERS];
  char line[ASK_LINE_MAX];
  size_t len;
  int cr; /* the last key was CR: a LF right after it is part of it */
};

static void out(sshmux__rchan_t *rc, const char *s, size_t n) {
  if (rc->down != NULL && !rc->down_closing && n > 0)
    (void)sshmux_server_channel_write(rc->down, SSHMUX_STREAM_STDOUT, s, n);
}

static void out_str(sshmux__rchan_t *rc, const char *s) {
  out(rc, s, strlen(s));
}

/* Text for the terminal: sanitised, "\n" as CR LF. */
static void out_text(sshmux__rchan_t *rc, const char *s) {
  char *clean = sshmux__sanitize(s, strlen(s), 1);
  const char *p, *nl;

  if (clean == NULL)
    return;
  for (p = clean; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
    out(rc, p, (size_t)(nl - p));
    out_str(rc, "\r\n");
  }
  out_str(rc, p);
  sshmux__free(clean);
}

static void wipe_input(sshmux__rask_t *a) {
  size_t i;

  for (i = 0; i < ASK_MAX_ANSWERS; i++)
    if (a->answers[i] != NULL) {
      sshmux__free_secret(a->answers[i], strlen(a->answers[i]));
      a->answers[i] = NULL;
    }
  sshmux__wipe(a->line, sizeof(a->line));
  a->len = 0;
  a->asked = 0;
  a->cr = 0;
}

/* Forget a (its prompt already released or handed back). */
static void ask_free(sshmux__rask_t *a) {
  if (a->on != NULL)
    a->on->ask = NULL;
  sshmux__list_remove(&a->link);
  wipe_input(a);
  sshmux__free(a);
}

static int hostkey(const sshmux__rask_t *a) {
  return sshmux_prompt_kind(a->p) == SSHMUX_PROMPT_HOSTKEY;
}

/* May rc be asked a's question (or is it at least still waiting)? */
static int candidate(const sshmux__rchan_t *rc, const sshmux_prompt_t *p) {
  return rc->type == SSHMUX_CHANNEL_SESSION && rc->route != NULL &&
         rc->down != NULL && !rc->down_closing && rc->up != NULL &&
         !rc->up_open && !rc->up_closing &&
         sshmux_upchan_awaits_prompt(rc->up, p);
}

static void show_question(sshmux__rask_t *a) {
  sshmux__rchan_t *rc = a->on;

  if (hostkey(a)) {
    out_str(rc, "Trust it and remember it? (yes/no): ");
    return;
  }
  out_text(rc, sshmux_prompt_text(a->p, a->asked));
}

/* Put a on rc: the banner and the first question.  An information-only
 * round is shown and answered at once (a is freed then). */
static void place(sshmux__rask_t *a, sshmux__rchan_t *rc) {
  const sshmux_prompt_t *p = a->p;

  a->on = rc;
  rc->ask = a;
  wipe_input(a);
  out_str(rc, "\r\n=== sshmux: login to ");
  out_text(rc, sshmux_prompt_target(p));
  out_str(rc, " ===\r\n");
  if (sshmux_prompt_notice(p) != NULL) {
    out_text(rc, sshmux_prompt_notice(p));
    out_str(rc, "\r\n");
  }
  if (*sshmux_prompt_name(p) != '\0') {
    out_text(rc, sshmux_prompt_name(p));
    out_str(rc, "\r\n");
  }
  if (*sshmux_prompt_instruction(p) != '\0') {
    out_text(rc, sshmux_prompt_instruction(p));
    out_str(rc, "\r\n");
  }
  if (hostkey(a)) {
    out_str(rc, "The upstream host key is not known: ");
    out_text(rc, sshmux_prompt_hostkey_type(p) ? sshmux_prompt_hostkey_type(p)
                                               : "");
    out_str(rc, " ");
    out_text(rc, sshmux_prompt_hostkey_fingerprint(p)
                     ? sshmux_prompt_hostkey_fingerprint(p)
                     : "");
    out_str(rc, "\r\n");
  } else if (sshmux_prompt_count(p) == 0 ||
             sshmux_prompt_count(p) > ASK_MAX_ANSWERS) {
    /* Nothing to type (or more than we take: refused, never half
     * answered). */
    if (sshmux_prompt_count(p) == 0)
      (void)sshmux_prompt_answer(a->p, NULL, 0);
    else
      sshmux_prompt_cancel(a->p);
    ask_free(a);
    return;
  }
  SSHMUX__LOG_INFO("relay: asking the prompt for %s on a client's terminal",
                   sshmux_prompt_target(p));
  show_question(a);
}

/* Try to place a on a waiting session with a pty.  Returns 1 when placed
 * (a may be freed already), 2 when some waiting session's pty is not known
 * yet (wait), 0 when no waiting session can ever take it. */
static int evaluate(sshmux__rask_t *a) {
  sshmux_relay_t *r = a->relay;
  sshmux__link_t *l;
  int pending = 0;

  for (l = r->chans.next; l != &r->chans; l = l->next) {
    sshmux__rchan_t *rc = SSHMUX__CONTAINER_OF(l, sshmux__rchan_t, link);
    if (rc->menu == NULL || !candidate(rc, a->p))
      continue;
    if (!sshmux__relay_menu_started(rc)) {
      pending = 1;
      continue;
    }
    if (sshmux__relay_menu_has_pty(rc) && rc->ask == NULL) {
      place(a, rc);
      return 1;
    }
  }
  return pending ? 2 : 0;
}

static void decline(sshmux__rask_t *a) {
  sshmux_relay_t *r = a->relay;
  sshmux_prompt_t *p = a->p;
  sshmux_relay_declined_cb cb = a->declined;
  void *data = a->data;

  ask_free(a);
  SSHMUX__LOG_DEBUG("relay: no waiting session with a terminal for the "
                    "prompt of %s",
                    sshmux_prompt_target(p));
  if (cb != NULL)
    cb(r, p, data);
  else
    sshmux_prompt_cancel(p);
}

/* Accept the sessions waiting for a's login that are still held opening:
 * their requests (pty or not) follow, and are kept until the upstream
 * opens.  Sessions that came after a was placed wait, unaccepted, as
 * usual; they are held here when a needs a new place. */
static void hold_waiting(sshmux__rask_t *a) {
  sshmux_relay_t *r = a->relay;
  sshmux__link_t *l;

  for (l = r->chans.next; l != &r->chans; l = l->next) {
    sshmux__rchan_t *rc = SSHMUX__CONTAINER_OF(l, sshmux__rchan_t, link);
    if (!candidate(rc, a->p) || rc->down_accepted)
      continue;
    if (sshmux__relay_menu_hold(rc) != 0)
      continue; /* out of memory: it just waits as before */
    if (sshmux_server_channel_accept(rc->down) != 0) {
      sshmux__relay_menu_free(rc);
      continue;
    }
    rc->down_accepted = 1;
  }
}

/* Look at every unplaced prompt again: place it, or hand it back. */
static void recheck(sshmux_relay_t *r) {
  sshmux__link_t *l;

again:
  for (l = r->asks.next; l != &r->asks; l = l->next) {
    sshmux__rask_t *a = SSHMUX__CONTAINER_OF(l, sshmux__rask_t, link);
    int st;
    if (a->on != NULL)
      continue;
    hold_waiting(a);
    st = evaluate(a);
    if (st == 2)
      continue;
    if (st == 0)
      decline(a);
    goto again; /* the list changed */
  }
}

int sshmux_relay_ask(sshmux_relay_t *r, sshmux_prompt_t *p,
                     sshmux_relay_declined_cb declined, void *data) {
  sshmux__rask_t *a;
  sshmux__link_t *l;
  int st, any = 0;

  if (r == NULL || p == NULL)
    return SSHMUX_EINVAL;
  if (r->closing)
    return SSHMUX_ENOTFOUND;
  for (l = r->chans.next; l != &r->chans; l = l->next) {
    sshmux__rchan_t *rc = SSHMUX__CONTAINER_OF(l, sshmux__rchan_t, link);
    if (candidate(rc, p))
      any = 1;
  }
  if (!any)
    return SSHMUX_ENOTFOUND;
  if ((a = sshmux__calloc(1, sizeof(*a))) == NULL)
    return SSHMUX_ENOMEM;
  a->relay = r;
  a->p = p;
  a->declined = declined;
  a->data = data;
  sshmux__list_push(&r->asks, &a->link);
  hold_waiting(a);
  st = evaluate(a);
  if (st == 0) {
    ask_free(a); /* nobody can take it: still the caller's */
    return SSHMUX_ENOTFOUND;
  }
  return 0;
}

int sshmux_relay_withdraw(sshmux_relay_t *r, sshmux_prompt_t *p) {
  sshmux__link_t *l;

  if (r == NULL || p == NULL)
    return 0;
  for (l = r->asks.next; l != &r->asks; l = l->next) {
    sshmux__rask_t *a = SSHMUX__CONTAINER_OF(l, sshmux__rask_t, link);
    if (a->p != p)
      continue;
    if (a->on != NULL)
      out_str(a->on, "\r\nsshmux: the question was withdrawn (no answer in "
                     "time, or the login ended)\r\n");
    ask_free(a);
    sshmux_prompt_cancel(p); /* releases our reference */
    return 1;
  }
  return 0;
}

void sshmux__relay_prompt_ready(sshmux__rchan_t *rc) {
  recheck(rc->relay);
}

void sshmux__relay_prompt_detach(sshmux__rchan_t *rc) {
  sshmux__rask_t *a = rc->ask;

  if (a != NULL) {
    rc->ask = NULL;
    a->on = NULL;
    wipe_input(a);
  }
  if (!sshmux__list_empty(&rc->relay->asks))
    recheck(rc->relay);
}

void sshmux__relay_prompt_close_all(sshmux_relay_t *r) {
  while (!sshmux__list_empty(&r->asks)) {
    sshmux__rask_t *a =
        SSHMUX__CONTAINER_OF(r->asks.next, sshmux__rask_t, link);
    sshmux_prompt_t *p = a->p;
    ask_free(a);
    sshmux_prompt_cancel(p);
  }
}

/* ^C: the person said no.  The prompt is cancelled (the login fails for
 * every session waiting on it) and this session ends. */
static void cancel(sshmux__rask_t *a) {
  sshmux__rchan_t *rc = a->on;
  sshmux_prompt_t *p = a->p;

  out_str(rc, "^C\r\n");
  ask_free(a);
  sshmux_prompt_cancel(p);
  sshmux__relay_note(rc, "sshmux: login cancelled");
  sshmux__relay_finish(rc, 130);
}

/* Enter: store the answer; answer the prompt once all are in. */
static void submit(sshmux__rask_t *a) {
  sshmux__rchan_t *rc = a->on;
  size_t n = sshmux_prompt_count(a->p);

  out_str(rc, "\r\n");
  if (hostkey(a)) {
    int yes = a->len == 3 && memcmp(a->line, "yes", 3) == 0;
    sshmux_prompt_t *p = a->p;
    ask_free(a);
    if (yes)
      (void)sshmux_prompt_answer(p, NULL, 0);
    else
      sshmux_prompt_cancel(p);
    return;
  }
  a->line[a->len] = '\0';
  a->answers[a->asked] = sshmux__strdup(a->line);
  sshmux__wipe(a->line, sizeof(a->line));
  a->len = 0;
  if (a->answers[a->asked] == NULL) {
    sshmux_prompt_t *p = a->p;
    ask_free(a);
    sshmux_prompt_cancel(p);
    return;
  }
  if (++a->asked < n) {
    show_question(a);
    return;
  }
  {
    sshmux_prompt_t *p = a->p;
    (void)sshmux_prompt_answer(p, (const char *const *)a->answers, n);
    ask_free(a); /* wipes our copies */
  }
}

size_t sshmux__relay_prompt_input(sshmux__rchan_t *rc, const char *buf,
                                  size_t len) {
  sshmux__rask_t *a = rc->ask;
  size_t i;

  for (i = 0; i < len && a != NULL; i++) {
    unsigned char c = (unsigned char)buf[i];
    int echo = hostkey(a) || sshmux_prompt_echo(a->p, a->asked);

    if (c == '\n' && a->cr) {
      a->cr = 0;
      continue;
    }
    a->cr = c == '\r';
    if (c == 3 || (c == 4 && a->len == 0)) {
      cancel(a);
      return len; /* the session ends: the rest is dropped */
    }
    if (c == '\r' || c == '\n') {
      submit(a);
      a = rc->ask;
      if (a == NULL)
        return i + 1 + (c == '\r' && i + 1 < len && buf[i + 1] == '\n');
      continue;
    }
    if (c == 127 || c == 8) {
      if (a->len > 0) {
        a->line[--a->len] = '\0';
        if (echo)
          out_str(rc, "\b \b");
      }
    } else if (c == 21) { /* ^U */
      for (; a->len > 0; a->len--)
        if (echo)
          out_str(rc, "\b \b");
      sshmux__wipe(a->line, sizeof(a->line));
    } else if (c >= 0x20 && c != 0x7f && a->len + 1 < sizeof(a->line)) {
      a->line[a->len++] = (char)c;
      if (echo)
        out(rc, (const char *)&buf[i], 1);
    }
  }
  return i;
}
