/* sshmux/prompt.h -- questions the library needs a person to answer while
 * it logs in upstream: keyboard-interactive rounds (OTP codes), the
 * passphrase of an encrypted identity file, a password, and whether to
 * trust an unknown host key.
 *
 * The pool hands each prompt to the embedder's handler (set with
 * sshmux_pool_set_prompt_handler) on the loop thread and keeps serving
 * everything else while a person types; the embedder answers later, from
 * the loop thread, with sshmux_prompt_answer() or sshmux_prompt_cancel().
 * Exactly one of the two must be called for every prompt handed out: that
 * call releases the embedder's reference, after which the prompt must not
 * be touched.  A prompt may be withdrawn before it is answered (deadline,
 * connection lost, pool closed): the handler's `withdrawn` callback says so,
 * answering afterwards returns SSHMUX_EPROMPT_TIMEOUT or SSHMUX_ECLOSED and
 * still releases it.
 *
 * The callback contract (as in every header; docs/ABI.md): each prompt is
 * handed to the handler once, and `withdrawn` is called at most once for
 * it and only before the embedder released it; the handler may answer,
 * cancel, or close the pool from inside either callback; neither is called
 * after the pool's close callback.
 *
 * Every string here that came from a remote server (name, instruction,
 * prompt texts) has been passed through the sanitiser: no terminal escapes,
 * no control characters other than newline.  The strings belong to the
 * prompt and live as long as it does. */
#ifndef SSHMUX_PROMPT_H
#define SSHMUX_PROMPT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sshmux_prompt_s sshmux_prompt_t;

typedef enum {
  SSHMUX_PROMPT_KBDINT = 1,     /* keyboard-interactive round (OTP, PAM) */
  SSHMUX_PROMPT_PASSPHRASE = 2, /* passphrase of an encrypted identity file */
  SSHMUX_PROMPT_PASSWORD = 3,   /* password authentication */
  SSHMUX_PROMPT_HOSTKEY = 4     /* trust this unknown host key? */
} sshmux_prompt_kind_t;

/* Called on the loop thread with a new prompt; data is the handler's. */
typedef void (*sshmux_prompt_cb)(sshmux_prompt_t *prompt, void *data);

SSHMUX_EXTERN sshmux_prompt_kind_t sshmux_prompt_kind(const sshmux_prompt_t *p);
/* "user@host:port" of the upstream that asks, with " via jump,..." when it
 * is reached through jump hosts.  Show it prominently: it is what the user
 * is about to trust with a secret. */
SSHMUX_EXTERN const char *sshmux_prompt_target(const sshmux_prompt_t *p);
/* Keyboard-interactive name and instruction (possibly ""); for the other
 * kinds a short text of ours ("Passphrase for key FILE", the host key's
 * type and fingerprint, ...). */
SSHMUX_EXTERN const char *sshmux_prompt_name(const sshmux_prompt_t *p);
SSHMUX_EXTERN const char *sshmux_prompt_instruction(const sshmux_prompt_t *p);
/* Number of answers wanted (0 for an information-only round, which is
 * answered with sshmux_prompt_answer(p, NULL, 0)), each question's text and
 * whether the answer may be echoed. */
SSHMUX_EXTERN size_t sshmux_prompt_count(const sshmux_prompt_t *p);
SSHMUX_EXTERN const char *sshmux_prompt_text(const sshmux_prompt_t *p,
                                             size_t i);
SSHMUX_EXTERN int sshmux_prompt_echo(const sshmux_prompt_t *p, size_t i);
/* Milliseconds left before the prompt is withdrawn (0 when expired). */
SSHMUX_EXTERN uint64_t sshmux_prompt_time_left(const sshmux_prompt_t *p);
/* Non-NULL when this login is a NEW connection opened because the existing
 * one refused more sessions (MaxSessions): say so to the user. */
SSHMUX_EXTERN const char *sshmux_prompt_notice(const sshmux_prompt_t *p);
/* HOSTKEY prompts: key type ("ssh-ed25519") and "SHA256:..." fingerprint;
 * NULL for other kinds. */
SSHMUX_EXTERN const char *sshmux_prompt_hostkey_type(const sshmux_prompt_t *p);
SSHMUX_EXTERN const char *
sshmux_prompt_hostkey_fingerprint(const sshmux_prompt_t *p);

/* Answer with n strings (n must equal sshmux_prompt_count; for HOSTKEY,
 * answering means "trust it", n = 0).  The strings are copied and the
 * copies wiped after use.  Releases the prompt.  Returns 0, SSHMUX_EINVAL
 * (wrong n: the prompt is cancelled and released anyway),
 * SSHMUX_EPROMPT_TIMEOUT or SSHMUX_ECLOSED when it had been withdrawn,
 * SSHMUX_ENOMEM when the answers could not be copied (the prompt is then
 * cancelled and released).
 * A second answer or cancel of the same prompt (or a pointer never handed
 * out) returns SSHMUX_EINVAL without touching the prompt. */
SSHMUX_EXTERN int sshmux_prompt_answer(sshmux_prompt_t *p,
                                       const char *const *answers, size_t n);
/* Refuse to answer (the login fails with SSHMUX_EPROMPT_CANCELLED; a
 * HOSTKEY prompt rejects the key).  Releases the prompt; a second call is
 * ignored. */
SSHMUX_EXTERN void sshmux_prompt_cancel(sshmux_prompt_t *p);

#ifdef __cplusplus
}
#endif
#endif
