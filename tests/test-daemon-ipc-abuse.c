/* test-daemon-ipc-abuse.c -- the control socket under abuse, with a real
 * daemon and a real ssh session through it the whole time: a line over
 * 8 KiB, a client that never finishes its line, 100 idle clients, random
 * bytes, and malformed requests.  Each gets an error reply or is dropped;
 * none stops the daemon from answering `status` or from carrying ssh
 * sessions, and an ssh session opened before the abuse is still working
 * after it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc-helpers.h"

/* The daemon still answers status, and a new ssh session works. */
static void still_serving(test_sshd *t) {
  const char *status[] = {"status", "--json", NULL};
  char *out = NULL;

  ipct_run_expect(status, "\"ok\":true");
  ASSERT_EQ(ipct_ssh_proxy(t, NULL, "echo fine", &out, NULL), 0);
  ASSERT_STR_EQ(out, "fine\n");
  free(out);
}

TEST_IMPL_T(daemon_ipc_abuse, 120) {
  test_sshd j, t;
  int fds[100], fd, i, bg, pid;
  char *r, *big, *log;

  TEST_REQUIRE_OPENSSH();
  ipct_jump_target(&j, &t, 1);
  /* A short read timeout so the never-ending line is cut within the test
   * (the default is 30 s). */
  ASSERT_EQ(setenv("SSHMUX_IPC_READ_TIMEOUT_MS", "1500", 1), 0);
  pid = ipct_start();
  still_serving(&t);
  /* A session that spans all the abuse: it reads a line from its stdin,
   * which comes only at the end. */
  bg = ipct_ssh_proxy_spawn(&t, NULL, "sleep 6; echo survived",
                            test_path("long.log"));

  /* 1. An over-long line: an error reply, then the same connection still
   * works. */
  fd = ipct_raw_connect();
  ASSERT(fd >= 0);
  big = malloc(20001);
  memset(big, 'x', 20000);
  big[20000] = '\0';
  r = ipct_request(fd, big, 5000);
  ASSERT(r != NULL);
  ASSERT_STR_CONTAINS(r, "\"ok\":false");
  ASSERT_STR_CONTAINS(r, "SSHMUX_ETOOLONG");
  free(r);
  r = ipct_request(fd, "{\"cmd\":\"status\",\"id\":5}", 5000);
  ASSERT(r != NULL);
  ASSERT_STR_CONTAINS(r, "{\"id\":5,\"ok\":true");
  free(r);
  /* Malformed requests, each with its error, on one connection. */
  {
    static const char *bad[] = {"not json",
                                "[1,2]",
                                "{\"cmd\":12}",
                                "{\"cmd\":\"nope\"}",
                                "{\"cmd\":\"answer\"}",
                                "{\"cmd\":\"answer\",\"prompt\":99}",
                                "{\"cmd\":\"cancel\",\"prompt\":-1}",
                                "{\"cmd\":\"connect\"}",
                                "{\"cmd\":\"connect\",\"host\":\"h\",\"port\":"
                                "70000}",
                                "{\"cmd\":\"connect\",\"host\":\"10.9.9.9\","
                                "\"port\":22}",
                                "{\"cmd\":\"status\",\"cmd\":\"stop\"}",
                                "{\"cmd\":\"status\"\x01}",
                                "{\"cmd\":\"st\\u0000op\"}",
                                NULL};
    for (i = 0; bad[i] != NULL; i++) {
      r = ipct_request(fd, bad[i], 5000);
      if (r == NULL || strstr(r, "\"ok\":false") == NULL)
        test_fail(__FILE__, __LINE__, "%s -> %s", bad[i], r ? r : "(none)");
      if (strstr(bad[i], "10.9.9.9") != NULL)
        ASSERT_STR_CONTAINS(r, "forward_allow");
      free(r);
    }
  }
  close(fd);
  still_serving(&t);

  /* 2. A client that never sends a newline is dropped after the read
   * timeout; meanwhile the daemon serves others. */
  fd = ipct_raw_connect();
  ASSERT(fd >= 0);
  ASSERT_EQ(write(fd, "{\"cmd\":\"sta", 11), 11);
  still_serving(&t);
  {
    /* An error line, then EOF. */
    char buf[512];
    ssize_t n = 0, k;
    struct pollfd p = {fd, POLLIN, 0};
    uint64_t end = test_now_ms() + 10000;
    while (test_now_ms() < end) {
      if (poll(&p, 1, 200) <= 0)
        continue;
      k = read(fd, buf + n, sizeof(buf) - 1 - (size_t)n);
      if (k <= 0)
        break;
      n += k;
    }
    buf[n] = '\0';
    ASSERT(test_now_ms() < end);
    ASSERT_STR_CONTAINS(buf, "SSHMUX_ETIMEOUT");
  }
  close(fd);

  /* 3. 100 idle clients: the oldest are dropped to make room, and the
   * daemon still answers a newcomer. */
  for (i = 0; i < 100; i++) {
    fds[i] = ipct_raw_connect();
    ASSERT(fds[i] >= 0);
  }
  still_serving(&t);
  fd = ipct_raw_connect();
  r = ipct_request(fd, "{\"cmd\":\"status\"}", 5000);
  ASSERT(r != NULL);
  ASSERT_STR_CONTAINS(r, "\"ok\":true");
  /* Never more than the bound at once. */
  ASSERT_STR_CONTAINS(r, "\"clients\":64,");
  free(r);
  close(fd);
  for (i = 0; i < 100; i++)
    close(fds[i]);

  /* 4. Random bytes (newlines included), from several clients at once. */
  {
    int ufd = open("/dev/urandom", O_RDONLY);
    char *junk = malloc(65536);
    ASSERT(ufd >= 0 && junk != NULL);
    for (i = 0; i < 4; i++) {
      ASSERT_EQ(read(ufd, junk, 65536), 65536);
      fds[i] = ipct_raw_connect();
      ASSERT(fds[i] >= 0);
      ASSERT_EQ(write(fds[i], junk, 65536), 65536);
    }
    close(ufd);
    free(junk);
    still_serving(&t);
    for (i = 0; i < 4; i++)
      close(fds[i]);
  }
  free(big);

  /* 5. A client that sends requests and never reads the replies is
   * dropped once 1 MiB of them wait for it. */
  {
    static const char req[] = "{\"cmd\":\"status\"}\n";
    char *many = malloc(20000 * (sizeof(req) - 1));
    size_t off = 0, len = 20000 * (sizeof(req) - 1);
    uint64_t end = test_now_ms() + 20000;
    int dropped = 0;
    ASSERT(many != NULL);
    for (i = 0; i < 20000; i++)
      memcpy(many + (size_t)i * (sizeof(req) - 1), req, sizeof(req) - 1);
    fd = ipct_raw_connect();
    ASSERT(fd >= 0);
    while (off < len && test_now_ms() < end) {
      ssize_t w = send(fd, many + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w > 0) {
        off += (size_t)w;
      } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        usleep(10000);
      } else {
        dropped = 1; /* EPIPE / ECONNRESET: the daemon let go of us */
        break;
      }
    }
    still_serving(&t);
    if (!dropped) {
      /* Everything was accepted; the daemon must still have dropped us
       * (more than 1 MiB of replies waited): reading gives at most the
       * socket buffers' worth, then EOF. */
      char buf[65536];
      size_t total = 0;
      ssize_t k;
      struct pollfd p = {fd, POLLIN, 0};
      while (poll(&p, 1, 5000) > 0 && (k = read(fd, buf, sizeof(buf))) > 0)
        total += (size_t)k;
      ASSERT_LT(total, 20000 * 400);
    }
    close(fd);
    free(many);
    log = test_read_file(dtest_ssh_path("sshmux.log"), NULL);
    ASSERT_STR_CONTAINS(log, "does not read its replies");
    free(log);
  }

  /* The session opened before all this finished normally. */
  ASSERT_EQ(ipct_wait_exit(bg, 30000), 0);
  log = test_read_file(test_path("long.log"), NULL);
  ASSERT_STR_CONTAINS(log, "survived");
  free(log);
  still_serving(&t);
  ipct_stop_clean(pid);
  test_sshd_stop(&j);
  test_sshd_stop(&t);
  return 0;
}
