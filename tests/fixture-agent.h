/* fixture-agent.h -- a real OpenSSH ssh-agent for tests.
 *
 * test_agent_start() runs `ssh-agent -D -a SOCK` in the foreground (a
 * child of the test, killed with it) and waits for its socket.  With an
 * askpass program, the agent's environment gets SSH_ASKPASS=PROG and
 * SSH_ASKPASS_REQUIRE=force, so keys added with `ssh-add -c` are confirmed
 * (or refused) by that program, as a person would through a desktop
 * pop-up: ssh-agent runs it with the question as its argument and allows
 * the signature when it exits 0 printing nothing or "yes".
 *
 * test_agent_add() runs the real `ssh-add` against the agent. */
#ifndef SSHMUX_FIXTURE_AGENT_H
#define SSHMUX_FIXTURE_AGENT_H

typedef struct {
  int pid;
  char sock[600]; /* the agent's socket: SSH_AUTH_SOCK */
  char log[600];
} test_agent;

/* Start an agent whose socket is <test dir>/NAME.sock; askpass may be
 * NULL.  0, or -1 after printing why. */
int test_agent_start(test_agent *a, const char *name, const char *askpass);
/* ssh-add [-c] KEY (confirm != 0 adds -c); 0 or -1 after printing why. */
int test_agent_add(test_agent *a, const char *key, int confirm);
/* ssh-add -D: remove every key; 0 or -1. */
int test_agent_clear(test_agent *a);
/* Kill and reap the agent; safe to call twice. */
void test_agent_stop(test_agent *a);
/* Write an askpass script at path that appends its question to
 * path.asked, sleeps delay_s seconds, then exits with status. */
int test_agent_askpass_script(const char *path, int delay_s, int status);

#endif
