/* ssh2-client -- a tiny libssh2 client, the libssh2 peer of the server
 * interop tests (test-server-interop.c).
 *
 *   ssh2-client HOST PORT USER KEY COMMAND [--stdin]
 *
 * Authenticates with KEY (and KEY.pub), runs COMMAND, copies stdout and
 * stderr of the channel to its own, feeds its stdin to the channel with
 * --stdin, and exits with the remote exit status (255 when there is none
 * or on any error, with a message on stderr).  It prints the host key type
 * the server chose on stderr as "hostkey: TYPE" when SSH2_CLIENT_VERBOSE is
 * set.  Blocking mode: it is a test tool, not loop code. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libssh2.h>

static int die(LIBSSH2_SESSION *s, const char *what) {
  char *msg = NULL;
  if (s != NULL)
    libssh2_session_last_error(s, &msg, NULL, 0);
  fprintf(stderr, "ssh2-client: %s: %s\n", what, msg ? msg : "failed");
  return 255;
}

static void drain(LIBSSH2_CHANNEL *ch) {
  char buf[16384];
  ssize_t n;

  while ((n = libssh2_channel_read(ch, buf, sizeof(buf))) > 0)
    fwrite(buf, 1, (size_t)n, stdout);
  while ((n = libssh2_channel_read_stderr(ch, buf, sizeof(buf))) > 0)
    fwrite(buf, 1, (size_t)n, stderr);
}

int main(int argc, char **argv) {
  struct sockaddr_in sin;
  LIBSSH2_SESSION *s;
  LIBSSH2_CHANNEL *ch;
  char pub[4096], buf[16384];
  int fd, rc, status, type;
  size_t len;
  const char *hk;

  if (argc < 6) {
    fprintf(stderr, "usage: ssh2-client HOST PORT USER KEY COMMAND "
                    "[--stdin]\n");
    return 2;
  }
  snprintf(pub, sizeof(pub), "%s.pub", argv[4]);
  if (libssh2_init(0) != 0)
    return die(NULL, "init");
  fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)atoi(argv[2]));
  inet_pton(AF_INET, argv[1], &sin.sin_addr);
  if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
    perror("ssh2-client: connect");
    return 255;
  }
  s = libssh2_session_init();
  if (s == NULL || libssh2_session_handshake(s, fd) != 0)
    return die(s, "handshake");
  hk = libssh2_session_hostkey(s, &len, &type);
  if (getenv("SSH2_CLIENT_VERBOSE") != NULL)
    fprintf(stderr, "hostkey: %d %s\n", type, hk ? "present" : "none");
  if (libssh2_userauth_publickey_fromfile(s, argv[3], pub, argv[4], NULL) != 0)
    return die(s, "authentication");
  ch = libssh2_channel_open_session(s);
  if (ch == NULL)
    return die(s, "channel");
  if (libssh2_channel_exec(ch, argv[5]) != 0)
    return die(s, "exec");
  if (argc > 6 && strcmp(argv[6], "--stdin") == 0) {
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
      size_t off = 0;
      while (off < n) {
        ssize_t w = libssh2_channel_write(ch, buf + off, n - off);
        if (w < 0)
          return die(s, "write");
        off += (size_t)w;
      }
    }
    libssh2_channel_send_eof(ch);
  }
  while (!libssh2_channel_eof(ch)) {
    ssize_t n = libssh2_channel_read(ch, buf, sizeof(buf));
    if (n > 0)
      fwrite(buf, 1, (size_t)n, stdout);
    else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN)
      return die(s, "read");
    drain(ch);
  }
  drain(ch);
  fflush(stdout);
  rc = libssh2_channel_close(ch);
  if (rc == 0)
    libssh2_channel_wait_closed(ch);
  status = libssh2_channel_get_exit_status(ch);
  libssh2_channel_free(ch);
  libssh2_session_disconnect(s, "bye");
  libssh2_session_free(s);
  close(fd);
  libssh2_exit();
  return status;
}
