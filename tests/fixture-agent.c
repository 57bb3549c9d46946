/* fixture-agent.c -- a real ssh-agent for tests; see fixture-agent.h. */
#include <unistd.h>

#include "fixture-agent.h"
#include "test.h"

int test_agent_start(test_agent *a, const char *name, const char *askpass) {
  char sockname[200], logname[200], env_askpass[700];
  test_argv_t argv = {0};

  memset(a, 0, sizeof(*a));
  if (test_which("ssh-agent") == NULL || test_which("ssh-add") == NULL) {
    fprintf(stderr, "fixture: ssh-agent/ssh-add not found\n");
    return -1;
  }
  snprintf(sockname, sizeof(sockname), "%s.sock", name);
  snprintf(logname, sizeof(logname), "%s.log", name);
  snprintf(a->sock, sizeof(a->sock), "%s", test_path(sockname));
  snprintf(a->log, sizeof(a->log), "%s", test_path(logname));
  unlink(a->sock);
  test_argv_add(&argv, "env", NULL);
  if (askpass != NULL) {
    snprintf(env_askpass, sizeof(env_askpass), "SSH_ASKPASS=%s", askpass);
    test_argv_add(&argv, env_askpass, "SSH_ASKPASS_REQUIRE=force", NULL);
  }
  test_argv_add(&argv, "ssh-agent", "-D", "-a", a->sock, NULL);
  a->pid = test_spawn(argv.v, a->log);
  if (a->pid <= 0)
    return -1;
  for (int i = 0; i < 200 && access(a->sock, F_OK) != 0; i++)
    usleep(50000);
  if (access(a->sock, F_OK) != 0) {
    fprintf(stderr, "fixture: ssh-agent did not create %s\n", a->sock);
    test_agent_stop(a);
    return -1;
  }
  return 0;
}

static int ssh_add(test_agent *a, const char *const *args) {
  char env_sock[700];
  const char *env[] = {env_sock, "SSH_ASKPASS_REQUIRE=never", NULL};
  test_argv_t argv = {0};
  char *err = NULL;
  test_cmd_t c;
  int st = -1;

  snprintf(env_sock, sizeof(env_sock), "SSH_AUTH_SOCK=%s", a->sock);
  test_argv_add(&argv, "ssh-add", NULL);
  test_argv_addv(&argv, args);
  memset(&c, 0, sizeof(c));
  c.argv = argv.v;
  c.env = env;
  c.err = &err;
  if (test_run(&c, &st) != 0 || st != 0) {
    fprintf(stderr, "fixture: ssh-add failed (%d): %s\n", st, err ? err : "");
    free(err);
    return -1;
  }
  free(err);
  return 0;
}

int test_agent_add(test_agent *a, const char *key, int confirm) {
  if (confirm)
    return ssh_add(a, (const char *[]){"-c", key, NULL});
  return ssh_add(a, (const char *[]){key, NULL});
}

int test_agent_clear(test_agent *a) {
  return ssh_add(a, (const char *[]){"-D", NULL});
}

void test_agent_stop(test_agent *a) {
  if (a->pid > 0) {
    test_kill(a->pid);
    a->pid = 0;
  }
}

int test_agent_askpass_script(const char *path, int delay_s, int status) {
  char text[1400];

  snprintf(text, sizeof(text),
           "#!/bin/sh\n"
           "printf '%%s\\n' \"$*\" >> '%s.asked'\n"
           "sleep %d\n"
           "exit %d\n",
           path, delay_s, status);
  return test_write_file(path, text, 0755);
}
