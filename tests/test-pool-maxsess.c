/* test-pool-maxsess.c -- an upstream with MaxSessions 2 and a target whose
 * only key is passphrase-protected (the pool keeps a decrypted key, so the
 * test changes the file after the first answer to make the second login
 * ask too): the third concurrent session is served by a second connection,
 * and the prompt of that second login says why a new login is needed.
 * Also: an encrypted key asks its passphrase through the prompt API, a
 * wrong one is asked again (three tries, as ssh) and then fails cleanly,
 * and no prompt handler means SSHMUX_ENOPROMPTER.  The prompt
 * API's edges: a second answer or cancel is refused without touching the
 * (possibly freed) prompt, and an answer that cannot be copied (out of
 * memory) says SSHMUX_ENOMEM. */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "pool-harness.h"

static int answer_pw(ph_t *h, sshmux_prompt_t *p, const char **answers) {
  (void)h;
  ASSERT_EQ(sshmux_prompt_kind(p), SSHMUX_PROMPT_PASSPHRASE);
  ASSERT_EQ(sshmux_prompt_count(p), 1);
  ASSERT_EQ(sshmux_prompt_echo(p, 0), 0);
  answers[0] = h->decide_data;
  return 1;
}

/* answer_pw, then give the key file a new mtime: the pool's decrypted copy
 * is then stale and the next login asks again. */
static int answer_pw_touch(ph_t *h, sshmux_prompt_t *p, const char **answers) {
  struct timespec ts[2] = {{0, UTIME_OMIT}, {0, 0}};
  if (h->nprompts == 1) {
    ts[1].tv_sec = time(NULL) + 100;
    ASSERT_EQ(utimensat(AT_FDCWD, h->t.identity_files[0], ts, 0), 0);
  }
  return answer_pw(h, p, answers);
}

/* The sshd (MaxSessions max_sessions), pool options for it, a target
 * whose only key is encrypted with "correct horse"; no pool yet. */
static void start_with_encrypted_key(ph_t *h, int max_sessions) {
  char key[600];

  ph_sshd_encrypted_key(&h->s, max_sessions, "correct horse", key, sizeof(key));
  ph_options(&h->o, h->s.known_hosts);
  ph_target(&h->t, &h->s);
  ph_identity(&h->t, key);
}

TEST_IMPL_T(pool_maxsessions_second_connection, 90) {
  sshmux_conn_stats_t cs[4];
  static ph_job_t j[3];
  size_t n;
  int overflow = 0, limit = 0;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  start_with_encrypted_key(&h, 2);
  ph_init(&h, &h.o);
  ph_prompts(&h, answer_pw_touch, "correct horse");
  for (int i = 0; i < 3; i++)
    ph_exec(&h, &h.t, "sleep 1; echo served", &j[i]);
  ph_run_jobs(&h, j, 3, 60000);
  for (int i = 0; i < 3; i++) {
    PH_ASSERT_OPENED(&j[i]);
    ASSERT_STR_EQ(j[i].out, "served\n");
  }
  /* Two logins, two prompts (the file changed in between); only the
   * second announces itself. */
  ASSERT_EQ(h.nprompts, 2);
  ASSERT_STR_EQ(h.prompts[0].notice, "");
  ASSERT_STR_CONTAINS(h.prompts[1].notice, "refused more sessions");
  ASSERT_STR_CONTAINS(h.prompts[1].notice, "NEW login");
  ASSERT_STR_CONTAINS(h.prompts[1].target, h.s.addr);
  ASSERT_EQ(test_sshd_log_count(&h.s, "Accepted publickey"), 2);
  ASSERT_OK(sshmux_pool_stats(h.pool, NULL, cs, 4, &n));
  ASSERT_EQ(n, 2);
  for (size_t i = 0; i < n; i++) {
    overflow += cs[i].overflow;
    if (cs[i].learned_limit == 2)
      limit++;
  }
  ASSERT_EQ(overflow, 1);
  ASSERT_EQ(limit, 2);
  ph_teardown(&h);
  return 0;
}

TEST_IMPL_T(pool_passphrase_wrong_and_no_prompter, 60) {
  ph_job_t a;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  start_with_encrypted_key(&h, 0);

  /* No handler: fail closed, clearly. */
  ph_init(&h, &h.o);
  ph_exec_wait(&h, &h.t, "true", &a, 10000);
  ASSERT_EQ(a.open_status, SSHMUX_ENOPROMPTER);
  ASSERT_STR_CONTAINS(a.errmsg, "passphrase");

  /* Wrong passphrase: the login fails, nothing is kept. */
  ph_prompts(&h, answer_pw, "wrong");
  ph_exec_wait(&h, &h.t, "true", &a, 10000);
  ASSERT_EQ(a.open_status, SSHMUX_EAUTH);
  ASSERT_STR_CONTAINS(a.errmsg, "wrong passphrase");
  ASSERT_EQ(h.nprompts, 3); /* asked three times, as ssh does */
  {
    size_t n;
    ASSERT_OK(sshmux_pool_stats(h.pool, NULL, NULL, 0, &n));
    ASSERT_EQ(n, 0);
  }
  /* Right passphrase: served. */
  h.decide_data = "correct horse";
  ph_exec_wait(&h, &h.t, "echo ok", &a, 10000);
  ASSERT_STR_EQ(a.out, "ok\n");
  ASSERT_EQ(h.nprompts, 4);
  ph_teardown(&h);
  return 0;
}

static int keep_pending(ph_t *h, sshmux_prompt_t *p, const char **answers) {
  (void)h;
  (void)answers;
  ASSERT_EQ(sshmux_prompt_kind(p), SSHMUX_PROMPT_PASSPHRASE);
  return -1;
}

/* Runs a login until its passphrase prompt is pending. */
static void pending_prompt(ph_t *h, const sshmux_target_t *t, ph_job_t *a) {
  int n = h->nprompts;

  h->pending = NULL;
  memset(a, 0, sizeof(*a));
  ph_exec(h, t, "echo ok", a);
  for (int i = 0; i < 500 && h->pending == NULL; i++)
    ph_run_for(h, 20);
  ASSERT(h->pending != NULL);
  ASSERT_EQ(h->nprompts, n + 1);
}

/* Under make asan a second answer after the last reference went is a
 * heap-use-after-free unless it is refused without looking at the prompt. */
TEST_IMPL_T(pool_prompt_answer_twice, 60) {
  const char *ans[1] = {"correct horse"};
  sshmux_prompt_t *p;
  ph_job_t a;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  start_with_encrypted_key(&h, 0);
  h.o.prompt_timeout_ms = 300;
  ph_init(&h, &h.o);
  ph_prompts(&h, keep_pending, NULL);

  /* Withdrawn at its deadline: the embedder's reference is the last one,
   * the first answer frees the prompt, the second must not touch it. */
  pending_prompt(&h, &h.t, &a);
  p = h.pending;
  ph_run_until(&h, &h.withdrawn, 5000);
  ph_run_until(&h, &a.done, 5000);
  ASSERT_EQ(a.open_status, SSHMUX_EPROMPT_TIMEOUT);
  ASSERT_EQ(sshmux_prompt_answer(p, ans, 1), SSHMUX_EPROMPT_TIMEOUT);
  ASSERT_EQ(sshmux_prompt_answer(p, ans, 1), SSHMUX_EINVAL);
  sshmux_prompt_cancel(p); /* ignored */

  /* Cancelled twice while the worker waits: the login is cancelled once. */
  pending_prompt(&h, &h.t, &a);
  p = h.pending;
  sshmux_prompt_cancel(p);
  sshmux_prompt_cancel(p);
  ASSERT_EQ(sshmux_prompt_answer(p, ans, 1), SSHMUX_EINVAL);
  ph_run_until(&h, &a.done, 5000);
  ASSERT_EQ(a.open_status, SSHMUX_EPROMPT_CANCELLED);
  ASSERT_EQ(h.withdrawn, 1);
  ph_teardown(&h);
  return 0;
}

/* An allocator that fails the next allocation of one kind when armed. */
static atomic_int fail_calloc, fail_malloc;

static void *flaky_malloc(size_t n) {
  return atomic_exchange(&fail_malloc, 0) ? NULL : malloc(n);
}
static void *flaky_calloc(size_t c, size_t n) {
  return atomic_exchange(&fail_calloc, 0) ? NULL : calloc(c, n);
}

TEST_IMPL_T(pool_prompt_answer_enomem, 60) {
  const char *ans[1] = {"correct horse"};
  ph_job_t a;
  ph_t h;

  TEST_REQUIRE_PROGRAM("/usr/sbin/sshd");
  ASSERT_OK(
      sshmux_replace_allocator(flaky_malloc, realloc, flaky_calloc, free));
  start_with_encrypted_key(&h, 0);
  ph_init(&h, &h.o);
  ph_prompts(&h, keep_pending, NULL);

  /* The answer array (calloc), then the copy of the answer (malloc),
   * cannot be allocated. */
  for (int i = 0; i < 2; i++) {
    atomic_int *fail = i == 0 ? &fail_calloc : &fail_malloc;
    pending_prompt(&h, &h.t, &a);
    atomic_store(fail, 1);
    ASSERT_EQ(sshmux_prompt_answer(h.pending, ans, 1), SSHMUX_ENOMEM);
    ASSERT_EQ(atomic_load(fail), 0);
    ph_run_until(&h, &a.done, 5000);
    ASSERT_EQ(a.open_status, SSHMUX_EPROMPT_CANCELLED);
  }

  /* And a good answer still works. */
  pending_prompt(&h, &h.t, &a);
  ASSERT_OK(sshmux_prompt_answer(h.pending, ans, 1));
  ph_run_until(&h, &a.done, 10000);
  ASSERT_STR_EQ(a.out, "ok\n");
  ph_teardown(&h);
  return 0;
}
