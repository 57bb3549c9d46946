/* pool/agent.c -- an ssh-agent client (draft-miller-ssh-agent) for the
 * login worker: list the agent's keys, and have it sign with one of them.
 *
 * Why not libssh2's agent API: libssh2 1.10 always asks for a SHA-1
 * "ssh-rsa" signature (flags 0) and takes the algorithm name from the key
 * blob, so RSA keys in the agent cannot log in to OpenSSH >= 8.8; and its
 * reads loop forever on a silent agent.  Here the sign request carries
 * SSH_AGENT_RSA_SHA2_512 / _256 (RFC 8332 §3: the agent returns an
 * "rsa-sha2-*" signature over the same "ssh-rsa" key), and every read and
 * write is bounded: the socket is non-blocking, polled in short slices
 * that also check the worker's abort flag, with a deadline per request --
 * long for a signature, since a key added with `ssh-add -c` makes the agent
 * ask a person (through its askpass) before it answers.
 *
 * Runs only on the login worker's thread; replies are capped at
 * AGENT_MAX_LEN (OpenSSH's own limit) and parsed with the bounds-checked
 * readers. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pool/pool-int.h"

#define AGENT_MAX_LEN (256 * 1024)
#define AGENT_MAX_KEYS 1024
#define SLICE_MS 200

#define SSH_AGENT_FAILURE 5
#define SSH_AGENTC_REQUEST_IDENTITIES 11
#define SSH_AGENT_IDENTITIES_ANSWER 12
#define SSH_AGENTC_SIGN_REQUEST 13
#define SSH_AGENT_SIGN_RESPONSE 14
#define SSH_AGENT_RSA_SHA2_256 2 /* sign-request flags */
#define SSH_AGENT_RSA_SHA2_512 4

struct sshmux__agent {
  int fd;
  int (*cancelled)(void *);
  void *cdata;
  size_t n;
  sshmux__agent_key_t *keys;
};

static int wait_fd(sshmux__agent_t *a, short ev, uint64_t deadline) {
  for (;;) {
    struct pollfd p = {a->fd, ev, 0};
    uint64_t now = uv_hrtime() / 1000000u;
    int r;
    if (a->cancelled != NULL && a->cancelled(a->cdata))
      return SSHMUX_ECLOSED;
    if (now >= deadline)
      return SSHMUX_ETIMEOUT;
    r = poll(&p, 1,
             (int)(deadline - now < SLICE_MS ? deadline - now : SLICE_MS));
    if (r > 0)
      return 0;
    if (r < 0 && errno != EINTR)
      return uv_translate_sys_error(errno);
  }
}

static int xfer(sshmux__agent_t *a, int out, uint8_t *p, size_t n,
                uint64_t deadline) {
  while (n > 0) {
    ssize_t r = out ? send(a->fd, p, n, MSG_NOSIGNAL) : recv(a->fd, p, n, 0);
    if (r > 0) {
      p += r;
      n -= (size_t)r;
      continue;
    }
    if (r == 0)
      return SSHMUX_EDISCONNECTED; /* the agent hung up */
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return uv_translate_sys_error(errno);
    if ((r = wait_fd(a, out ? POLLOUT : POLLIN, deadline)) != 0)
      return (int)r;
  }
  return 0;
}

/* Send req (type + body, without the length) and read one reply into
 * reply (an owned buffer, reset first). */
static int transact(sshmux__agent_t *a, const sshmux__buf_t *req,
                    sshmux__buf_t *reply, unsigned timeout_ms) {
  uint64_t deadline = uv_hrtime() / 1000000u + timeout_ms;
  uint8_t hdr[4], *dst;
  uint32_t len;
  int r;

  sshmux__store_be32(hdr, (uint32_t)req->len);
  if ((r = xfer(a, 1, hdr, 4, deadline)) != 0 ||
      (r = xfer(a, 1, req->data, req->len, deadline)) != 0 ||
      (r = xfer(a, 0, hdr, 4, deadline)) != 0)
    return r;
  len = sshmux__load_be32(hdr);
  if (len == 0 || len > AGENT_MAX_LEN)
    return SSHMUX_EPROTO;
  sshmux__buf_reset(reply);
  if ((r = sshmux__buf_put_space(reply, len, &dst)) != 0)
    return r;
  return xfer(a, 0, dst, len, deadline);
}

void sshmux__agent_close(sshmux__agent_t *a) {
  if (a == NULL)
    return;
  if (a->fd >= 0)
    close(a->fd);
  for (size_t i = 0; i < a->n; i++) {
    sshmux__free(a->keys[i].blob);
    sshmux__free(a->keys[i].comment);
  }
  sshmux__free(a->keys);
  sshmux__free(a);
}

static int list_keys(sshmux__agent_t *a, unsigned timeout_ms) {
  sshmux__buf_t req, rep;
  uint8_t type;
  uint32_t n;
  int r;

  sshmux__buf_init(&req, 16);
  sshmux__buf_init(&rep, AGENT_MAX_LEN);
  r = sshmux__buf_put_u8(&req, SSH_AGENTC_REQUEST_IDENTITIES);
  if (r == 0)
    r = transact(a, &req, &rep, timeout_ms);
  if (r != 0)
    goto out;
  r = SSHMUX_EPROTO;
  if (sshmux__buf_get_u8(&rep, &type) != 0 ||
      type != SSH_AGENT_IDENTITIES_ANSWER ||
      sshmux__buf_get_u32(&rep, &n) != 0 || n > AGENT_MAX_KEYS)
    goto out;
  a->keys = sshmux__calloc(n ? n : 1, sizeof(*a->keys));
  if (a->keys == NULL) {
    r = SSHMUX_ENOMEM;
    goto out;
  }
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *b;
    size_t bn;
    char *comment = NULL;
    if (sshmux__buf_get_string(&rep, AGENT_MAX_LEN, &b, &bn) != 0 ||
        sshmux__buf_get_cstring(&rep, AGENT_MAX_LEN, &comment) != 0 || bn == 0)
      goto out;
    a->keys[a->n].blob = sshmux__malloc(bn);
    if (a->keys[a->n].blob == NULL) {
      sshmux__free(comment);
      r = SSHMUX_ENOMEM;
      goto out;
    }
    memcpy(a->keys[a->n].blob, b, bn);
    a->keys[a->n].blob_len = bn;
    a->keys[a->n].comment = comment;
    a->n++;
  }
  r = 0;
out:
  sshmux__buf_free(&req);
  sshmux__buf_free(&rep);
  return r;
}

int sshmux__agent_open(sshmux__agent_t **out, const char *path,
                       int (*cancelled)(void *), void *cdata,
                       unsigned timeout_ms) {
  struct sockaddr_un sa;
  sshmux__agent_t *a;
  int r;

  *out = NULL;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof(sa.sun_path))
    return SSHMUX_ETOOLONG;
  memcpy(sa.sun_path, path, strlen(path) + 1);
  a = sshmux__calloc(1, sizeof(*a));
  if (a == NULL)
    return SSHMUX_ENOMEM;
  a->cancelled = cancelled;
  a->cdata = cdata;
  a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (a->fd < 0) {
    r = uv_translate_sys_error(errno);
    goto fail;
  }
  /* Non-blocking from the start: a local connect then succeeds or fails
   * at once (ENOENT, ECONNREFUSED, EACCES, or EAGAIN when the agent's
   * backlog is full -- a stuck agent), never waits. */
  if (fcntl(a->fd, F_SETFL, fcntl(a->fd, F_GETFL) | O_NONBLOCK) != 0 ||
      connect(a->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    r = uv_translate_sys_error(errno);
    goto fail;
  }
  if ((r = list_keys(a, timeout_ms)) != 0)
    goto fail;
  *out = a;
  return 0;
fail:
  sshmux__agent_close(a);
  return r;
}

size_t sshmux__agent_count(const sshmux__agent_t *a) {
  return a->n;
}

const sshmux__agent_key_t *sshmux__agent_key(const sshmux__agent_t *a,
                                             size_t i) {
  return i < a->n ? &a->keys[i] : NULL;
}

int sshmux__agent_sign(sshmux__agent_t *a, const uint8_t *blob, size_t bn,
                       const uint8_t *data, size_t n, const char *alg,
                       unsigned timeout_ms, sshmux__buf_t *sig) {
  sshmux__buf_t req, rep, sb;
  const uint8_t *s, *st;
  size_t sn, stn;
  uint32_t flags = 0;
  uint8_t type;
  int r;

  if (strcmp(alg, "rsa-sha2-512") == 0)
    flags = SSH_AGENT_RSA_SHA2_512;
  else if (strcmp(alg, "rsa-sha2-256") == 0)
    flags = SSH_AGENT_RSA_SHA2_256;
  sshmux__buf_init(&req, AGENT_MAX_LEN);
  sshmux__buf_init(&rep, AGENT_MAX_LEN);
  r = sshmux__buf_put_u8(&req, SSH_AGENTC_SIGN_REQUEST);
  if (r == 0)
    r = sshmux__buf_put_string(&req, blob, bn);
  if (r == 0)
    r = sshmux__buf_put_string(&req, data, n);
  if (r == 0)
    r = sshmux__buf_put_u32(&req, flags);
  if (r == 0)
    r = transact(a, &req, &rep, timeout_ms);
  if (r != 0)
    goto out;
  r = SSHMUX_EPROTO;
  if (sshmux__buf_get_u8(&rep, &type) != 0)
    goto out;
  if (type == SSH_AGENT_FAILURE) {
    /* Refused: not confirmed (ssh-add -c), key gone, agent locked. */
    r = SSHMUX_EAUTH;
    goto out;
  }
  if (type != SSH_AGENT_SIGN_RESPONSE ||
      sshmux__buf_get_string(&rep, AGENT_MAX_LEN, &s, &sn) != 0 ||
      sshmux__buf_remaining(&rep) != 0)
    goto out;
  /* The signature blob: string alg, string sig.  The agent must have
   * signed with the algorithm we asked for (an old agent ignoring the
   * flags would answer "ssh-rsa"). */
  sshmux__buf_view(&sb, s, sn);
  if (sshmux__buf_get_string(&sb, 64, &st, &stn) != 0 || stn != strlen(alg) ||
      memcmp(st, alg, stn) != 0 ||
      sshmux__buf_get_string(&sb, AGENT_MAX_LEN, &s, &sn) != 0 ||
      sshmux__buf_remaining(&sb) != 0)
    goto out;
  r = sshmux__buf_put_bytes(sig, s, sn);
out:
  sshmux__buf_free(&req);
  sshmux__buf_free(&rep);
  return r;
}
