/* pool-harness.h -- a small harness for the upstream pool tests: a private
 * uv loop run with a hard time bound, a pool on it with test options, a
 * scriptable prompt handler, and "run this command on a session channel
 * and collect everything" jobs. */
#ifndef SSHMUX_POOL_HARNESS_H
#define SSHMUX_POOL_HARNESS_H

#include <uv.h>

#include "fixture-otp.h"
#include "fixture-sshd.h"
#include "sshmux.h"
#include "test.h"

#define PH_MAX_PROMPTS 16

typedef struct ph_s ph_t;

/* Decide a prompt: return 1 to answer with answers[0..n) (n must match),
 * 0 to cancel, -1 to keep it pending (the test answers later). */
typedef int (*ph_decide_fn)(ph_t *h, sshmux_prompt_t *p, const char **answers);

typedef struct {
  sshmux_prompt_kind_t kind;
  char target[300];
  char name[400];
  char instruction[600];
  char text[300];
  char notice[400];
  char fingerprint[100];
  size_t count;
} ph_prompt_rec_t;

struct ph_s {
  uv_loop_t loop;
  sshmux_pool_t *pool;
  ph_decide_fn decide;
  void *decide_data;
  int nprompts;
  ph_prompt_rec_t prompts[PH_MAX_PROMPTS];
  sshmux_prompt_t *pending; /* kept by decide() returning -1 */
  int withdrawn;
  int closed;
  /* The usual fixture, filled by ph_fixture()/ph_setup() and left alone
   * by ph_init() (tests with other sshds leave these unused): the sshd,
   * the pool options ph_init() is given, a target for the sshd. */
  test_sshd s;
  sshmux_pool_options_t o;
  sshmux_target_t t;
};

/* Options: known_hosts = {kh, NULL} (may be NULL), no agent. */
void ph_init(ph_t *h, const sshmux_pool_options_t *o);
/* Install the prompt handler (decide may be NULL: prompts are cancelled). */
void ph_prompts(ph_t *h, ph_decide_fn decide, void *data);
/* Run the loop until *flag becomes nonzero; fail after timeout_ms. */
void ph_run_until(ph_t *h, const int *flag, int timeout_ms);
/* Run the loop for ms milliseconds. */
void ph_run_for(ph_t *h, int ms);
/* Close the pool, run until it is gone, and close the loop (asserting no
 * handle is left). */
void ph_close(ph_t *h);

/* Start the fixture sshd h->s with so (may be NULL) and fill h->o
 * (ph_options for its known_hosts) and h->t (ph_target); no pool yet: the
 * test may change h->o, then calls ph_init(h, &h->o). */
void ph_fixture(ph_t *h, const test_sshd_opts *so);
/* ph_fixture(h, so), then ph_init(h, &h->o): the usual test setup. */
void ph_setup(ph_t *h, const test_sshd_opts *so);
/* The same with a one-time-code sshd (fixture-otp.h) instead of h->s:
 * start otp in the directory "otpd" with oo's choices (NULL: keyboard-
 * interactive only) and so's further sshd options (NULL: none; its name
 * is replaced), fill h->o (its known_hosts, no agent) and h->t (a target
 * for it); no pool yet. */
void ph_otp_fixture(ph_t *h, test_otp_sshd *otp, const test_otp_opts *oo,
                    const test_sshd_opts *so);
/* A decide function for one-time-code prompts: it asserts a keyboard-
 * interactive prompt of one question, not echoed, and answers it with
 * h->decide_data (the code), or keeps it pending while that is NULL. */
int ph_answer_code(ph_t *h, sshmux_prompt_t *p, const char **answers);
/* ph_close(h), then ph_sshd_stop(&h->s): the usual teardown. */
void ph_teardown(ph_t *h);
/* Start sshd s (max_sessions, 0 = default) with one more authorized key:
 * a new ed25519 pair at test_path("id_enc") (written to key[0..keysz))
 * whose private half is encrypted with passphrase. */
void ph_sshd_encrypted_key(test_sshd *s, int max_sessions,
                           const char *passphrase, char *key, size_t keysz);
/* Make (a copy of) key the only identity file of t (static storage, 4
 * held at once). */
void ph_identity(sshmux_target_t *t, const char *key);
/* A channel spec of this type, everything else zero. */
sshmux_upchan_spec_t ph_spec(sshmux_upchan_type_t type);

/* One known_hosts file (test_path("known_hosts")) naming the host keys
 * of s[0..n); returns its path. */
const char *ph_known_hosts(test_sshd *const *s, int n);
/* Default pool options for tests: the fixture's known_hosts, no agent. */
void ph_options(sshmux_pool_options_t *o, const char *known_hosts);
/* A target for the fixture sshd s using its client key. */
void ph_target(sshmux_target_t *t, test_sshd *s);
/* Targets t[i] for s[i], i < n, each reached through the one before it
 * (t[0] directly): a jump chain ending at t[n - 1]. */
void ph_chain(sshmux_target_t *t, test_sshd *const *s, int n);

typedef struct {
  ph_t *h;
  sshmux_upchan_t *ch;
  const char *cmd;
  const char *input; /* written then EOF, may be NULL */
  int open_status;
  int exec_status;
  int closed_status;
  int exit_status;
  char exit_signal[32];
  char out[65536];
  size_t out_len;
  char err[8192];
  size_t err_len;
  char errmsg[300];
  int eof;
  int done;
  int keep_open; /* do not close after on_closed (test closes) */
} ph_job_t;

/* Open a session channel on target and exec cmd; job->done when finished
 * (channel closed, or open failed). */
void ph_exec(ph_t *h, const sshmux_target_t *t, const char *cmd, ph_job_t *job);
/* ph_exec (job zeroed first), then run until job->done (bounded by
 * timeout_ms); returns job->open_status. */
int ph_exec_wait(ph_t *h, const sshmux_target_t *t, const char *cmd,
                 ph_job_t *job, int timeout_ms);
/* ph_exec "echo started; exec cat" (a session that stays open) and run
 * until "started" is out (at most 20 s). */
void ph_exec_started(ph_t *h, const sshmux_target_t *t, ph_job_t *job);
/* ph_fixture(h, so), a pool probing every 400 ms (dead after 3 missed),
 * and a session kept open on h->t (ph_exec_started into job). */
void ph_probed_session(ph_t *h, const test_sshd_opts *so, ph_job_t *job);
/* The upstream of ph_probed_session's job went silent at t0: run the loop
 * until the job ends (at most 10 s), which must be within max_ms of t0,
 * reaped as dead (SSHMUX_EDEAD), with no connection left in the pool;
 * returns how long it took. */
uint64_t ph_expect_reaped(ph_t *h, ph_job_t *job, uint64_t t0, int max_ms);
/* Run the loop until every jobs[0..n) is done; fail after timeout_ms. */
void ph_run_jobs(ph_t *h, ph_job_t *jobs, int n, int timeout_ms);
/* In a test: assert job->open_status is 0, printing job->errmsg if not. */
#define PH_ASSERT_OPENED(job)                                                  \
  do {                                                                         \
    if ((job)->open_status != 0)                                               \
      fprintf(stderr, "open failed: %s\n", (job)->errmsg);                     \
    ASSERT_OK((job)->open_status);                                             \
  } while (0)
/* Close a running job's channel now; job->done when closed. */
void ph_job_close(ph_job_t *job);
/* Send sig to every connection sshd serves (each is its own session
 * group, child of the listener; SIGKILL also reaches the commands they
 * run); returns how many connections. */
int ph_signal_sessions(const test_sshd *s, int sig);
/* Stop sshd and everything it started (sessions, their commands). */
void ph_sshd_stop(test_sshd *s);

#endif
