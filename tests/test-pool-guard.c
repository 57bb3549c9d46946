/* test-pool-guard.c -- the guard that turns libssh2 1.10's assertions into
 * a dropped connection (pool/loop.c, pool-int.h): an abort() inside a
 * guarded call comes back as SSHMUX__SSH2_TRIPPED on the same thread, the
 * guard nests and works on other threads, and an abort that is not
 * libssh2's -- outside any guard, inside an embedder callback run
 * unguarded, or a SIGABRT sent by kill(2) even inside a guarded call --
 * still ends the process.
 * The real trigger, a hostile upstream whose bytes make libssh2 assert
 * during the login, is replayed from fuzz-pool-upstream's corpus
 * (regress-libssh2-assert-in-login) by fuzz_corpora_replay. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "pool/pool-int.h"
#include "test.h"

static int calls;

static int aborts(void *arg) {
  (void)arg;
  calls++;
  abort();
  return 0; /* not reached */
}

static int returns_arg(void *arg) {
  calls++;
  return *(int *)arg;
}

static int nested(void *arg) {
  int inner = sshmux__ssh2_guarded(aborts, NULL);
  (void)arg;
  /* The inner trip leaves the outer guard in place. */
  return inner == SSHMUX__SSH2_TRIPPED ? 7 : -1;
}

static int embedder_aborts(void *arg) {
  (void)arg;
  SSHMUX__EMBEDDER_CALL(abort());
  return 0;
}

static int kill_self(void *arg) {
  (void)arg;
  kill(getpid(), SIGABRT);
  usleep(200 * 1000);
  return 0;
}

/* Run fn in a child process; its wait status. */
static int in_child(int (*fn)(void *), int guarded) {
  int st = 0;
  pid_t pid = fork();

  ASSERT(pid >= 0);
  if (pid == 0) {
    if (guarded)
      (void)sshmux__ssh2_guarded(fn, NULL);
    else
      (void)fn(NULL);
    _exit(0);
  }
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  return st;
}

static void thread_main(void *arg) {
  *(int *)arg = sshmux__ssh2_guarded(aborts, NULL);
}

TEST_IMPL(pool_guard_libssh2_abort) {
  int v = 42, st, from_thread = 0;
  uv_thread_t t;

  /* A guarded call returns its value; an abort inside comes back. */
  ASSERT_EQ(sshmux__ssh2_guarded(returns_arg, &v), 42);
  ASSERT_EQ(sshmux__ssh2_guarded(aborts, NULL), SSHMUX__SSH2_TRIPPED);
  ASSERT_EQ(sshmux__ssh2_guarded(aborts, NULL), SSHMUX__SSH2_TRIPPED);
  ASSERT_EQ(calls, 3);
  /* Nested: the inner guard catches, the outer goes on. */
  ASSERT_EQ(sshmux__ssh2_guarded(nested, NULL), 7);
  /* Another thread has guards of its own (auth workers run there). */
  ASSERT_EQ(uv_thread_create(&t, thread_main, &from_thread), 0);
  ASSERT_EQ(uv_thread_join(&t), 0);
  ASSERT_EQ(from_thread, SSHMUX__SSH2_TRIPPED);
  /* Still caught after all that: the handler stays in place, and the
   * thread's signal mask is as it was (SIGABRT not left blocked). */
  ASSERT_EQ(sshmux__ssh2_guarded(aborts, NULL), SSHMUX__SSH2_TRIPPED);
  {
    sigset_t now;
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, NULL, &now), 0);
    ASSERT_EQ(sigismember(&now, SIGABRT), 0);
  }

  /* Not libssh2's: an abort outside any guard, an embedder's abort inside
   * a guarded pass, and a SIGABRT from kill(2) end the process. */
  st = in_child(aborts, 0);
  ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
  st = in_child(embedder_aborts, 1);
  ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
  st = in_child(kill_self, 0);
  ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
  /* kill(2) is never taken for libssh2's, even inside a guarded call. */
  st = in_child(kill_self, 1);
  ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
  return 0;
}
