/* pool-harness.h -- a small harness for the upstream pool tests: a private
 * uv loop run with a hard time bound, a pool on it with test options, a
 * scriptable prompt handler, and "run this command on a session channel
 * and collect everything" jobs. */
#ifndef SSHMUX_POOL_HARNESS_H
#define SSHMUX_POOL_HARNESS_H

#include <uv.h>

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

/* Default pool options for tests: the fixture's known_hosts, no agent. */
void ph_options(sshmux_pool_options_t *o, const char *known_hosts);
/* A target for the fixture sshd s using its client key. */
void ph_target(sshmux_target_t *t, test_sshd *s);

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
/* Close a running job's channel now; job->done when closed. */
void ph_job_close(ph_job_t *job);
/* Send sig to every connection sshd serves (each is its own session
 * group, child of the listener; SIGKILL also reaches the commands they
 * run); returns how many connections. */
int ph_signal_sessions(const test_sshd *s, int sig);
/* Stop sshd and everything it started (sessions, their commands). */
void ph_sshd_stop(test_sshd *s);
/* Count lines of the sshd log containing needle. */
int ph_log_count(const test_sshd *s, const char *needle);

#endif
