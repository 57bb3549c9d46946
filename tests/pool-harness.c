/* pool-harness.c -- see pool-harness.h. */
#include <dirent.h>
#include <stddef.h>
#include <signal.h>
#include <string.h>

#include "pool-harness.h"

static int timed_out;

static void on_timeout(uv_timer_t *t) {
  (void)t;
  timed_out = 1;
}

static void on_prompt(sshmux_prompt_t *p, void *data) {
  ph_t *h = data;
  ph_prompt_rec_t *r =
      &h->prompts[h->nprompts < PH_MAX_PROMPTS ? h->nprompts
                                               : PH_MAX_PROMPTS - 1];
  const char *answers[8] = {0};
  int d;

  memset(r, 0, sizeof(*r));
  r->kind = sshmux_prompt_kind(p);
  snprintf(r->target, sizeof(r->target), "%s", sshmux_prompt_target(p));
  snprintf(r->name, sizeof(r->name), "%s", sshmux_prompt_name(p));
  snprintf(r->instruction, sizeof(r->instruction), "%s",
           sshmux_prompt_instruction(p));
  r->count = sshmux_prompt_count(p);
  if (r->count > 0)
    snprintf(r->text, sizeof(r->text), "%s", sshmux_prompt_text(p, 0));
  if (sshmux_prompt_notice(p) != NULL)
    snprintf(r->notice, sizeof(r->notice), "%s", sshmux_prompt_notice(p));
  if (sshmux_prompt_hostkey_fingerprint(p) != NULL)
    snprintf(r->fingerprint, sizeof(r->fingerprint), "%s",
             sshmux_prompt_hostkey_fingerprint(p));
  ASSERT(sshmux_prompt_time_left(p) > 0);
  h->nprompts++;
  d = h->decide != NULL ? h->decide(h, p, answers) : 0;
  if (d > 0)
    ASSERT_OK(sshmux_prompt_answer(p, answers, sshmux_prompt_count(p)));
  else if (d == 0)
    sshmux_prompt_cancel(p);
  else
    h->pending = p;
}

static void on_withdrawn(sshmux_prompt_t *p, void *data) {
  ph_t *h = data;
  (void)p;
  h->withdrawn++;
}

const char *ph_known_hosts(test_sshd *const *s, int n) {
  const char *path = test_path("known_hosts");
  FILE *f = fopen(path, "w");

  ASSERT(f != NULL);
  for (int i = 0; i < n; i++) {
    char *kh = test_read_file(s[i]->known_hosts, NULL);
    ASSERT(kh != NULL);
    fputs(kh, f);
    free(kh);
  }
  fclose(f);
  return path;
}

void ph_options(sshmux_pool_options_t *o, const char *known_hosts) {
  static const char *kh[2];
  sshmux_pool_options_init(o);
  kh[0] = known_hosts;
  kh[1] = NULL;
  o->known_hosts = known_hosts ? kh : NULL;
  o->use_agent = 0;
}

void ph_target(sshmux_target_t *t, test_sshd *s) {
  sshmux_target_init(t);
  t->user = s->user;
  t->host = s->addr;
  t->port = s->port;
  ph_identity(t, s->client_key);
}

void ph_fixture(ph_t *h, const test_sshd_opts *so) {
  ASSERT_OK(test_sshd_start(&h->s, so));
  ph_options(&h->o, h->s.known_hosts);
  ph_target(&h->t, &h->s);
}

void ph_setup(ph_t *h, const test_sshd_opts *so) {
  ph_fixture(h, so);
  ph_init(h, &h->o);
}

void ph_otp_fixture(ph_t *h, test_otp_sshd *otp, const test_otp_opts *oo,
                    const test_sshd_opts *so) {
  test_otp_opts o = {0};
  test_sshd_opts s = {0};

  if (oo != NULL)
    o = *oo;
  if (so != NULL)
    s = *so;
  s.name = "otpd";
  o.sshd = &s;
  ASSERT_OK(test_otp_sshd_start(otp, &o));
  ph_options(&h->o, otp->sshd.known_hosts);
  ph_target(&h->t, &otp->sshd);
}

int ph_answer_code(ph_t *h, sshmux_prompt_t *p, const char **answers) {
  ASSERT_EQ(sshmux_prompt_kind(p), SSHMUX_PROMPT_KBDINT);
  ASSERT_EQ(sshmux_prompt_count(p), 1);
  ASSERT_EQ(sshmux_prompt_echo(p, 0), 0);
  if (h->decide_data == NULL)
    return -1;
  answers[0] = h->decide_data;
  return 1;
}

void ph_teardown(ph_t *h) {
  ph_close(h);
  ph_sshd_stop(&h->s);
}

void ph_sshd_encrypted_key(test_sshd *s, int max_sessions,
                           const char *passphrase, char *key, size_t keysz) {
  snprintf(key, keysz, "%s", test_path("id_enc"));
  ASSERT_OK(test_keygen("ed25519", key, passphrase));
  test_sshd_start_with_key(s, &(test_sshd_opts){.max_sessions = max_sessions},
                           key);
}

void ph_identity(sshmux_target_t *t, const char *key) {
  static char paths[4][600];
  static const char *ids[4][2];
  static int next;
  int i = next++ % 4;

  snprintf(paths[i], sizeof(paths[i]), "%s", key);
  ids[i][0] = paths[i];
  ids[i][1] = NULL;
  t->identity_files = ids[i];
}

sshmux_upchan_spec_t ph_spec(sshmux_upchan_type_t type) {
  sshmux_upchan_spec_t spec;

  memset(&spec, 0, sizeof(spec));
  spec.type = type;
  return spec;
}

void ph_chain(sshmux_target_t *t, test_sshd *const *s, int n) {
  for (int i = 0; i < n; i++) {
    ph_target(&t[i], s[i]);
    if (i > 0)
      t[i].jump = &t[i - 1];
  }
}

static void log_to_stderr(sshmux_log_level_t level, const char *msg,
                          void *data) {
  (void)data;
  fprintf(stderr, "[%llu %s] %s\n", (unsigned long long)test_now_ms(),
          sshmux_log_level_name(level), msg);
}

void ph_init(ph_t *h, const sshmux_pool_options_t *o) {
  /* PH_LOG=trace|debug|... shows the library's log on stderr. */
  if (getenv("PH_LOG") != NULL) {
    sshmux_log_level_t lv = SSHMUX_LOG_TRACE;
    (void)sshmux_log_level_parse(getenv("PH_LOG"), &lv);
    sshmux_set_log_cb(log_to_stderr, lv, NULL);
  }
  memset(h, 0, offsetof(ph_t, s)); /* not the fixture */
  ASSERT_OK(uv_loop_init(&h->loop));
  ASSERT_OK(sshmux_pool_new(&h->loop, o, &h->pool));
  sshmux_pool_set_data(h->pool, h);
}

void ph_prompts(ph_t *h, ph_decide_fn decide, void *data) {
  h->decide = decide;
  h->decide_data = data;
  sshmux_pool_set_prompt_handler(h->pool, on_prompt, on_withdrawn, h);
}

void ph_run_until(ph_t *h, const int *flag, int timeout_ms) {
  uv_timer_t t;

  timed_out = 0;
  uv_timer_init(&h->loop, &t);
  uv_timer_start(&t, on_timeout, (uint64_t)timeout_ms, 0);
  while (!*flag && !timed_out)
    uv_run(&h->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&h->loop, UV_RUN_NOWAIT);
  if (!*flag)
    test_fail(__FILE__, __LINE__, "timed out after %d ms", timeout_ms);
}

void ph_run_for(ph_t *h, int ms) {
  uv_timer_t t;

  timed_out = 0;
  uv_timer_init(&h->loop, &t);
  uv_timer_start(&t, on_timeout, (uint64_t)ms, 0);
  while (!timed_out)
    uv_run(&h->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&h->loop, UV_RUN_NOWAIT);
}

static void on_pool_closed(sshmux_pool_t *p, void *data) {
  ph_t *h = data;
  (void)p;
  h->closed = 1;
}

void ph_close(ph_t *h) {
  sshmux_pool_close(h->pool, on_pool_closed, h);
  ph_run_until(h, &h->closed, 10000);
  uv_run(&h->loop, UV_RUN_NOWAIT);
  ASSERT_OK(uv_loop_close(&h->loop));
}

static void job_closed_cb(sshmux_upchan_t *ch) {
  ph_job_t *j = sshmux_upchan_get_data(ch);
  j->done = 1;
}

static void job_data(sshmux_upchan_t *ch, int stream, const char *buf,
                     size_t len) {
  ph_job_t *j = sshmux_upchan_get_data(ch);
  if (stream == SSHMUX_STREAM_STDOUT) {
    ASSERT(j->out_len + len < sizeof(j->out));
    memcpy(j->out + j->out_len, buf, len);
    j->out_len += len;
    j->out[j->out_len] = '\0';
  } else {
    ASSERT(j->err_len + len < sizeof(j->err));
    memcpy(j->err + j->err_len, buf, len);
    j->err_len += len;
    j->err[j->err_len] = '\0';
  }
}

static void job_eof(sshmux_upchan_t *ch) {
  ph_job_t *j = sshmux_upchan_get_data(ch);
  j->eof = 1;
}

static void job_on_closed(sshmux_upchan_t *ch, int status) {
  ph_job_t *j = sshmux_upchan_get_data(ch);
  j->closed_status = status;
  j->exit_status = sshmux_upchan_exit_status(ch);
  if (sshmux_upchan_exit_signal(ch) != NULL)
    snprintf(j->exit_signal, sizeof(j->exit_signal), "%s",
             sshmux_upchan_exit_signal(ch));
  snprintf(j->errmsg, sizeof(j->errmsg), "%s", sshmux_upchan_last_error(ch));
  if (!j->keep_open)
    sshmux_upchan_close(ch, job_closed_cb);
  else
    j->done = 1;
}

static void job_exec_done(sshmux_upchan_t *ch, int status, void *data) {
  ph_job_t *j = data;
  (void)ch;
  j->exec_status = status;
}

static void job_open(sshmux_upchan_t *ch, int status) {
  ph_job_t *j = sshmux_upchan_get_data(ch);
  j->open_status = status;
  if (status < 0) {
    snprintf(j->errmsg, sizeof(j->errmsg), "%s", sshmux_upchan_last_error(ch));
    j->ch = NULL;
    j->done = 1;
    return;
  }
  ASSERT_OK(sshmux_upchan_exec(ch, j->cmd, job_exec_done, j));
  if (j->input != NULL) {
    ASSERT(sshmux_upchan_write(ch, j->input, strlen(j->input)) >= 0);
    ASSERT_OK(sshmux_upchan_send_eof(ch));
  }
}

void ph_job_close(ph_job_t *j) {
  ASSERT(j->ch != NULL && !j->done);
  sshmux_upchan_close(j->ch, job_closed_cb);
}

void ph_exec(ph_t *h, const sshmux_target_t *t, const char *cmd, ph_job_t *j) {
  static const sshmux_upchan_callbacks_t cbs = {job_data, job_eof,
                                                job_on_closed, NULL};
  sshmux_upchan_spec_t spec = ph_spec(SSHMUX_UPCHAN_SESSION);
  const char *input = j->input; /* callers zero the job, may set input */

  memset(j, 0, sizeof(*j));
  j->input = input;
  j->h = h;
  j->cmd = cmd;
  j->exit_status = -100;
  ASSERT_OK(
      sshmux_pool_open_channel(h->pool, t, &spec, &cbs, j, job_open, &j->ch));
}

int ph_exec_wait(ph_t *h, const sshmux_target_t *t, const char *cmd,
                 ph_job_t *job, int timeout_ms) {
  memset(job, 0, sizeof(*job));
  ph_exec(h, t, cmd, job);
  ph_run_until(h, &job->done, timeout_ms);
  return job->open_status;
}

void ph_exec_started(ph_t *h, const sshmux_target_t *t, ph_job_t *job) {
  memset(job, 0, sizeof(*job));
  ph_exec(h, t, "echo started; exec cat", job);
  for (int i = 0; i < 1000 && strstr(job->out, "started") == NULL; i++)
    ph_run_for(h, 20);
  ASSERT_STR_CONTAINS(job->out, "started");
}

void ph_probed_session(ph_t *h, const test_sshd_opts *so, ph_job_t *job) {
  ph_fixture(h, so);
  h->o.keepalive_ms = 400;
  h->o.keepalive_count = 3;
  ph_init(h, &h->o);
  ph_exec_started(h, &h->t, job);
}

uint64_t ph_expect_reaped(ph_t *h, ph_job_t *job, uint64_t t0, int max_ms) {
  uint64_t took;
  size_t n;

  ph_run_until(h, &job->done, 10000);
  took = test_now_ms() - t0;
  ASSERT_LT(took, max_ms);
  ASSERT_EQ(job->closed_status, SSHMUX_EDEAD);
  ASSERT_OK(sshmux_pool_stats(h->pool, NULL, NULL, 0, &n));
  ASSERT_EQ(n, 0);
  return took;
}

void ph_run_jobs(ph_t *h, ph_job_t *jobs, int n, int timeout_ms) {
  uint64_t end = test_now_ms() + (uint64_t)timeout_ms;
  int done = 0;

  while (!done) {
    ASSERT(test_now_ms() < end);
    ph_run_for(h, 50);
    done = 1;
    for (int i = 0; i < n; i++)
      done &= jobs[i].done;
  }
}

/* sshd forks a child per connection, which calls setsid(), and that child
 * runs commands that call setsid() again: killing the listener's process
 * group leaves sessions and their commands running (as sshd restarts are
 * meant to).  Walk /proc for every descendant of the listener we started;
 * signal the connection children (returned count) and, when sig is fatal,
 * everything below them too. */
static int ppid_of(int pid) {
  char path[64], buf[512], *p;
  int ppid = 0;
  FILE *f;

  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  if ((f = fopen(path, "r")) == NULL)
    return 0;
  if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL)
    sscanf(p + 2, "%*c %d", &ppid);
  fclose(f);
  return ppid;
}

int ph_signal_sessions(const test_sshd *s, int sig) {
  int pids[4096], ppids[4096], np = 0, n = 0;
  int family[512], nf = 0;
  DIR *d = opendir("/proc");
  struct dirent *e;

  if (d == NULL || s->pid <= 0) {
    if (d != NULL)
      closedir(d);
    return 0;
  }
  while ((e = readdir(d)) != NULL && np < 4096) {
    int pid = atoi(e->d_name);
    if (pid > 0) {
      pids[np] = pid;
      ppids[np++] = ppid_of(pid);
    }
  }
  closedir(d);
  family[nf++] = s->pid;
  for (int i = 0; i < nf; i++)
    for (int k = 0; k < np && nf < 512; k++)
      if (ppids[k] == family[i])
        family[nf++] = pids[k];
  for (int i = 1; i < nf; i++) {
    int child = ppid_of(family[i]) == s->pid;
    if (child)
      n++;
    if (child || sig == SIGKILL) {
      kill(-family[i], sig);
      kill(family[i], sig);
    }
  }
  return n;
}

void ph_sshd_stop(test_sshd *s) {
  ph_signal_sessions(s, SIGKILL);
  test_sshd_stop(s);
}
