/* tmux.h -- driving a program in a real terminal for tests: tmux runs it,
 * capture-pane reads the screen (send-keys is a plain tmux call). */
#ifndef SSHMUX_TEST_TMUX_H
#define SSHMUX_TEST_TMUX_H

/* The visible text of pane `target` on tmux server socket `sock`; a fresh
 * allocation (free it), NULL if tmux failed. */
char *test_tmux_capture(const char *sock, const char *target);
/* Wait until that pane shows `what`; after ms, print the pane under the
 * label and fail the test. */
void test_tmux_wait(const char *sock, const char *target, const char *what,
                    int ms, const char *label);
/* Type keys (literally) into that pane, then Enter; fails the test if
 * tmux does. */
void test_tmux_type(const char *sock, const char *target, const char *keys);

/* <test dir>/tmux.sock, the socket a test's own tmux server uses. */
const char *test_tmux_sock(void);
/* Run `tmux -S sock ARGS...` (args NULL-terminated, at most 20); its exit
 * status. */
int test_tmux_run(const char *sock, const char *const *args);

#endif
