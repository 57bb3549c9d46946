/* pool/auth.c -- the login worker: SSH handshake, host-key policy and user
 * authentication of one upstream connection, in a thread of its own.
 *
 * Why a thread: libssh2 1.10 calls the keyboard-interactive callback
 * synchronously and sends the answers as soon as it returns, so an OTP
 * typed by a person minutes later can only be waited for by blocking
 * inside the callback.  The worker owns the session and the fd exclusively
 * from session creation until it posts "done"; it runs libssh2 in blocking
 * mode (libssh2 polls the fd itself), waits for prompts on a condition
 * variable (prompt.c), and leaves the session quiescent and non-blocking for
 * the loop to take over.  The loop aborts a worker by shutting the fd down
 * and cancelling its prompt; the worker then fails fast.
 *
 * Host keys (our known_hosts reader, not libssh2's): known and matching ->
 * go on; changed -> refuse, always; @revoked -> refuse; unknown -> ask
 * (HOSTKEY prompt with the SHA256 fingerprint) unless the target says
 * accept_new_hostkey and no @cert-authority line names the host; an
 * accepted key is appended atomically and a failed append refuses the
 * connection.
 *
 * Authentication order: public keys, keyboard-interactive, password.
 * Public keys: the target's identity files only, when it names any
 * (through the agent when it holds the key, else our own copy of the
 * private key: OpenSSH's IdentitiesOnly), else every key of the agent
 * (identity_agent, or SSH_AUTH_SOCK).  Every signature is ours or the
 * agent's (pool/agent.c), handed to libssh2_userauth_publickey(): RSA as
 * rsa-sha2-512/256 (see offer() for what libssh2 1.10 puts on the wire).
 * An encrypted key asks for its passphrase once per pool (the decrypted key
 * is cached, never the passphrase).  libssh2 1.10 reports a partial
 * success as a failure, so after a method "fails" the remaining list is
 * asked again; if it changed, the method counted as a partial success and
 * the chain continues. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "knownhosts/knownhosts.h"
#include "pool/pool-int.h"
#include "core/core.h"
#include "crypto/crypto.h"

#define HANDSHAKE_TIMEOUT_MS 30000

static int werr(sshmux__upconn_t *c, int rc, const char *fmt, ...)
    SSHMUX__PRINTF(3, 4);
static int werr(sshmux__upconn_t *c, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->worker_err, sizeof(c->worker_err), fmt, ap);
  va_end(ap);
  return rc;
}

static int aborted(sshmux__upconn_t *c) {
  int a;
  uv_mutex_lock(&c->pool->mu);
  a = c->abort;
  uv_mutex_unlock(&c->pool->mu);
  return a;
}

static const char *keytype_name(int type) {
  switch (type) {
  case LIBSSH2_HOSTKEY_TYPE_RSA:
    return "ssh-rsa";
  case LIBSSH2_HOSTKEY_TYPE_DSS:
    return "ssh-dss";
  case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
    return "ecdsa-sha2-nistp256";
  case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
    return "ecdsa-sha2-nistp384";
  case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
    return "ecdsa-sha2-nistp521";
  case LIBSSH2_HOSTKEY_TYPE_ED25519:
    return "ssh-ed25519";
  default:
    return NULL;
  }
}

static int check_hostkey(sshmux__upconn_t *c) {
  sshmux_pool_t *p = c->pool;
  size_t len = 0;
  int type = 0, rc;
  const char *blob = libssh2_session_hostkey(c->s, &len, &type);
  const char *kt = keytype_name(type);
  char fp[64];
  sshmux__kh_result_t res;
  int accept = 0;

  if (blob == NULL || kt == NULL)
    return werr(c, SSHMUX_EUNSUPPORTED, "%s: unsupported host key type",
                c->label);
  rc = sshmux__fingerprint_sha256((const uint8_t *)blob, len, fp, sizeof(fp));
  if (rc != 0)
    return werr(c, rc, "%s: cannot fingerprint the host key", c->label);
  memset(&res, 0, sizeof(res));
  rc = sshmux__known_hosts_check((const char *const *)p->known_hosts,
                                 p->n_known_hosts, c->host, c->port, kt,
                                 (const uint8_t *)blob, len, &res);
  if (rc != 0)
    return werr(c, rc, "%s: cannot check known hosts", c->label);
  switch (res.status) {
  case SSHMUX__KH_MATCH:
    return 0;
  case SSHMUX__KH_REVOKED:
    return werr(c, SSHMUX_EHOSTKEY_REVOKED,
                "host key of %s (%s %s) is marked @revoked in %s line %d; "
                "refusing to connect",
                c->label, kt, fp, res.file, res.line);
  case SSHMUX__KH_CHANGED:
    return werr(c, SSHMUX_EHOSTKEY_CHANGED,
                "REMOTE HOST KEY CHANGED for %s: it presents %s %s, which "
                "differs from the key in %s line %d. Someone could be "
                "intercepting the connection; refusing to connect",
                c->label, kt, fp, res.file, res.line);
  case SSHMUX__KH_NOTFOUND:
    break;
  }
  if (res.cert_authority)
    SSHMUX__LOG_WARN("%s: a @cert-authority line names this host, but host "
                     "certificates cannot be verified; the plain key needs "
                     "explicit confirmation",
                     c->label);
  if (c->accept_new && !res.cert_authority) {
    accept = 1;
    SSHMUX__LOG_INFO("%s: accepting new host key %s %s (accept_new_hostkey)",
                     c->label, kt, fp);
  } else {
    char name[400], instr[400];
    char **answers = NULL;
    sshmux__prompt_req_t req;
    memset(&req, 0, sizeof(req));
    snprintf(name, sizeof(name),
             "The authenticity of host %s can't be established.", c->label);
    snprintf(instr, sizeof(instr), "%s key fingerprint is %s.%s", kt, fp,
             res.cert_authority ? " (A @cert-authority line names this host; "
                                  "certificates are NOT verified.)"
                                : "");
    req.kind = SSHMUX_PROMPT_HOSTKEY;
    req.name = name;
    req.instruction = instr;
    req.hk_type = kt;
    req.hk_fp = fp;
    rc = sshmux__prompt_ask(c, &req, &answers);
    sshmux__prompt_answers_free(answers, 0);
    if (rc == SSHMUX_ENOPROMPTER)
      return werr(c, rc,
                  "host key of %s is unknown (%s %s) and no prompt handler "
                  "is set to confirm it",
                  c->label, kt, fp);
    if (rc == SSHMUX_EPROMPT_CANCELLED)
      return werr(c, SSHMUX_EHOSTKEY_REJECTED,
                  "host key of %s (%s %s) was not accepted", c->label, kt, fp);
    if (rc != 0)
      return werr(c, rc, "host key of %s (%s %s) not confirmed: %s", c->label,
                  kt, fp, sshmux_strerror(rc));
    accept = 1;
  }
  if (accept) {
    if (p->known_hosts_write == NULL)
      return werr(c, SSHMUX_ECONFIG,
                  "no known_hosts file to record the key of %s in", c->label);
    rc = sshmux__known_hosts_add(p->known_hosts_write, c->host, c->port, kt,
                                 (const uint8_t *)blob, len);
    if (rc != 0)
      return werr(c, rc,
                  "cannot record the host key of %s in %s (%s); refusing to "
                  "connect",
                  c->label, p->known_hosts_write, sshmux_strerror(rc));
  }
  return 0;
}

static void add_method(sshmux__upconn_t *c, const char *m) {
  size_t n = strlen(c->auth_methods);
  if (strstr(c->auth_methods, m) != NULL)
    return;
  snprintf(c->auth_methods + n, sizeof(c->auth_methods) - n, "%s%s",
           n ? "," : "", m);
}

static int has_method(const char *list, const char *m) {
  size_t n = strlen(m);
  for (const char *p = list; p != NULL && *p;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == n && strncmp(p, m, n) == 0)
      return 1;
    p = e ? e + 1 : NULL;
  }
  return 0;
}

/* Ask one secret (passphrase or password), echo off. */
static int ask_secret(sshmux__upconn_t *c, sshmux_prompt_kind_t kind,
                      const char *name, const char *text, char ***answers) {
  sshmux__prompt_req_t req;
  const char *texts[1] = {text};
  int echo[1] = {0};

  memset(&req, 0, sizeof(req));
  req.kind = kind;
  req.name = name;
  req.instruction = "";
  req.n = 1;
  req.texts = texts;
  req.echo = echo;
  return sshmux__prompt_ask(c, &req, answers);
}

/* ---- public keys ---- */

#define KEYFILE_MAX (64 * 1024)
#define PASSPHRASE_TRIES 3 /* as ssh's NumberOfPasswordPrompts */
#define AGENT_LIST_TIMEOUT_MS 10000

static void note(sshmux__upconn_t *c, const char *fmt, ...)
    SSHMUX__PRINTF(2, 3);
static void note(sshmux__upconn_t *c, const char *fmt, ...) {
  size_t n = strlen(c->auth_note);
  va_list ap;

  if (n + 3 >= sizeof(c->auth_note))
    return;
  if (n > 0) {
    memcpy(c->auth_note + n, "; ", 3);
    n += 2;
  }
  va_start(ap, fmt);
  vsnprintf(c->auth_note + n, sizeof(c->auth_note) - n, fmt, ap);
  va_end(ap);
}

static int cancelled(void *data) {
  return aborted(data);
}

/* The user's own key file: symlinks are followed (as ssh does), the size
 * is bounded, and the text lands in a secret allocation. */
static int read_key_file(const char *path, char **text, size_t *len,
                         struct stat *st) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  size_t got = 0;
  char *buf;

  if (fd < 0)
    return uv_translate_sys_error(errno);
  if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_size < 0 ||
      st->st_size > KEYFILE_MAX) {
    close(fd);
    return SSHMUX_EINVAL;
  }
  buf = sshmux__malloc((size_t)st->st_size + 1);
  if (buf == NULL) {
    close(fd);
    return SSHMUX_ENOMEM;
  }
  while (got < (size_t)st->st_size) {
    ssize_t r = read(fd, buf + got, (size_t)st->st_size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  buf[got] = '\0';
  *text = buf;
  *len = got;
  return 0;
}

/* The blob of PATH.pub ("type base64 [comment]"), or SSHMUX_ENOTFOUND. */
static int read_pub_blob(const char *key, sshmux__buf_t *out) {
  char pub[1100], *text = NULL, *b, *e;
  struct stat st;
  size_t len = 0, n = 0;
  uint8_t *dst;
  int r;

  snprintf(pub, sizeof(pub), "%s.pub", key);
  if (read_key_file(pub, &text, &len, &st) != 0)
    return SSHMUX_ENOTFOUND;
  r = SSHMUX_EBADFORMAT;
  b = strchr(text, ' ');
  if (b != NULL) {
    b++;
    e = b + strcspn(b, " \t\r\n");
    if (e > b && sshmux__buf_put_space(out, (size_t)(e - b), &dst) == 0) {
      r = sshmux__base64_decode(b, (size_t)(e - b), dst, (size_t)(e - b), &n);
      out->len = r == 0 ? (size_t)(dst - out->data) + n : 0;
    }
  }
  sshmux__free_secret(text, len);
  return r;
}

/* The RSA signature algorithms to offer, best first.  libssh2 1.10 does
 * not send ext-info-c, so the server never tells us its server-sig-algs
 * (RFC 8308): OpenSSH >= 7.2 accepts both SHA-2 variants (and 8.8+ no
 * SHA-1), so one offer of rsa-sha2-512 is enough there; for other servers
 * rsa-sha2-256 is tried too.  SHA-1 "ssh-rsa" never (OpenSSH 9's own
 * client does not offer it either). */
static void rsa_algs(sshmux__upconn_t *c, const char **algs) {
  const char *b = libssh2_session_banner_get(c->s);
  const char *v = b != NULL ? strstr(b, "OpenSSH_") : NULL;
  int major = 0, minor = 0;

  if (v != NULL)
    sscanf(v + 8, "%d.%d", &major, &minor);
  algs[0] = "rsa-sha2-512";
  algs[1] = major > 7 || (major == 7 && minor >= 2) ? NULL : "rsa-sha2-256";
  algs[2] = NULL;
}

typedef struct {
  sshmux__upconn_t *c;
  const char *alg;
  sshmux__agent_t *agent; /* signing by the agent, with the real blob */
  const uint8_t *blob;
  size_t blob_len;
  const sshmux__userkey_t *key; /* or with our own copy of the key */
  int err;                      /* why our callback failed */
} signer_t;

static LIBSSH2_USERAUTH_PUBLICKEY_SIGN_FUNC(sign_cb) {
  signer_t *x = *abstract;
  sshmux__buf_t out;
  int r;

  (void)session;
  sshmux__buf_init(&out, 64 * 1024);
  if (x->agent != NULL)
    r = sshmux__agent_sign(x->agent, x->blob, x->blob_len, data, data_len,
                           x->alg, x->c->pool->o.prompt_timeout_ms, &out);
  else
    r = sshmux__userkey_sign(x->key, x->alg, data, data_len, &out);
  if (r == 0) {
    /* libssh2 frees it with the session allocator: it must come from
     * sshmux__ssh2_alloc (its blocks carry their size, to be wiped). */
    *sig = sshmux__ssh2_alloc(out.len, NULL);
    if (*sig == NULL)
      r = SSHMUX_ENOMEM;
    else {
      memcpy(*sig, out.data, out.len);
      *sig_len = out.len;
    }
  }
  sshmux__buf_free(&out);
  x->err = r;
  return r == 0 ? 0 : -1;
}

/* ---- the login's reads, guarded ----
 * Each libssh2 call of the login that reads from the server runs under the
 * guard (pool-int.h) alone, so that when libssh2 1.10 fails an assertion
 * on what the server sent, only libssh2's frames are left behind: nothing
 * of ours (a method list, a key, a prompt's answers) is skipped unfreed or
 * unwiped.  The session is broken from then on -- its I/O fails, every
 * later call returns at once -- and the login ends saying why. */
enum { GC_HANDSHAKE, GC_LIST, GC_PUBKEY, GC_PASSWORD, GC_KBD };

typedef struct {
  sshmux__upconn_t *c;
  int what;
  const unsigned char *blob; /* GC_PUBKEY */
  size_t blob_len;
  void **sign_abs;
  const char *pw; /* GC_PASSWORD */
  char *list;     /* GC_LIST: libssh2's reply */
} ssh2_call_t;

static LIBSSH2_USERAUTH_KBDINT_RESPONSE_FUNC(kbd_cb);

/* The I/O of a session libssh2 aborted in (ssh2_broken): nothing moves. */
static LIBSSH2_SEND_FUNC(broken_send) {
  (void)socket, (void)buffer, (void)length, (void)flags, (void)abstract;
  return -EPIPE;
}

static LIBSSH2_RECV_FUNC(broken_recv) {
  (void)socket, (void)buffer, (void)length, (void)flags, (void)abstract;
  return -ECONNRESET;
}

static int ssh2_call(void *arg) {
  ssh2_call_t *x = arg;
  sshmux__upconn_t *c = x->c;
  unsigned ul = (unsigned)strlen(c->user);

  switch (x->what) {
  case GC_HANDSHAKE:
    return libssh2_session_handshake(c->s, c->fd);
  case GC_LIST:
    x->list = libssh2_userauth_list(c->s, c->user, ul);
    return 0;
  case GC_PUBKEY:
    return libssh2_userauth_publickey(c->s, c->user, x->blob, x->blob_len,
                                      sign_cb, x->sign_abs);
  case GC_PASSWORD:
    return libssh2_userauth_password_ex(c->s, c->user, ul, x->pw,
                                        (unsigned)strlen(x->pw), NULL);
  default:
    return libssh2_userauth_keyboard_interactive_ex(c->s, c->user, ul, kbd_cb);
  }
}

static int guarded(ssh2_call_t *x) {
  sshmux__upconn_t *c = x->c;
  int rc;

  x->list = NULL;
  if (c->ssh2_broken)
    return LIBSSH2_ERROR_SOCKET_RECV;
  rc = sshmux__ssh2_guarded(ssh2_call, x);
  if (rc != SSHMUX__SSH2_TRIPPED)
    return rc;
  c->ssh2_broken = 1;
  libssh2_session_callback_set(c->s, LIBSSH2_CALLBACK_SEND,
                               (void *)broken_send);
  libssh2_session_callback_set(c->s, LIBSSH2_CALLBACK_RECV,
                               (void *)broken_recv);
  return LIBSSH2_ERROR_SOCKET_RECV;
}

/* Offer one key for one signature algorithm.  Returns 1 when the server
 * took it, 0 when it refused (or signing failed: try the next key), < 0
 * when the connection is unusable (*fatal set).
 *
 * RFC 8332 §3.2 wants the request to name the signature algorithm
 * ("rsa-sha2-512") and to carry the key blob in "ssh-rsa" form.
 * libssh2_userauth_publickey() in 1.10 has no separate algorithm field: it
 * copies the blob's own type string into the request's algorithm name and
 * into the signature's.  Given the real "ssh-rsa" blob it would therefore
 * announce SHA-1 "ssh-rsa", which OpenSSH >= 8.8 refuses before even
 * asking for the signature.  So for rsa-sha2-* the blob handed to libssh2
 * is relabelled "rsa-sha2-512" + e + n: the algorithm name and the
 * signature's name are then right, and the blob's inner type is the one
 * deviation from §3.2.  OpenSSH accepts it (its key parser maps the
 * rsa-sha2-* names to KEY_RSA, and the signature covers the blob as
 * sent); stricter servers may refuse it -- docs/pool.md "Known limits".
 * The agent always gets the real blob. */
static int offer(sshmux__upconn_t *c, signer_t *x, const char *what,
                 int *fatal) {
  sshmux__buf_t wire;
  char type[64], text[300];
  void *abs = x;
  int rc;

  if (sshmux__pubkey_blob_type(x->blob, x->blob_len, type, sizeof(type)) != 0)
    return 0;
  sshmux__buf_init(&wire, 64 * 1024);
  if (strcmp(type, x->alg) != 0) {
    size_t skip = 4 + strlen(type);
    rc = sshmux__buf_put_cstring(&wire, x->alg);
    if (rc == 0)
      rc = sshmux__buf_put_bytes(&wire, x->blob + skip, x->blob_len - skip);
  } else {
    rc = sshmux__buf_put_bytes(&wire, x->blob, x->blob_len);
  }
  if (rc != 0) {
    sshmux__buf_free(&wire);
    *fatal = werr(c, rc, "%s: out of memory", c->label);
    return rc;
  }
  x->err = 0;
  /* The agent may ask a person first (ssh-add -c): libssh2's timeout
   * counts from the start of the call (libssh2-1.10.md §1.2), so it must
   * cover the agent's own deadline (prompt_timeout_ms) too. */
  libssh2_session_set_timeout(c->s, x->agent != NULL
                                        ? (long)c->pool->o.prompt_timeout_ms +
                                              HANDSHAKE_TIMEOUT_MS
                                        : HANDSHAKE_TIMEOUT_MS);
  rc = guarded(&(ssh2_call_t){.c = c,
                              .what = GC_PUBKEY,
                              .blob = wire.data,
                              .blob_len = wire.len,
                              .sign_abs = &abs});
  libssh2_session_set_timeout(c->s, HANDSHAKE_TIMEOUT_MS);
  sshmux__buf_free(&wire);
  if (rc == 0) {
    SSHMUX__LOG_DEBUG("%s: logged in with %s (%s)", c->label, what, x->alg);
    return 1;
  }
  if (x->err == SSHMUX_ECLOSED || aborted(c)) {
    *fatal = werr(c, SSHMUX_ECLOSED, "%s: login aborted", c->label);
    return SSHMUX_ECLOSED;
  }
  if (x->err != 0) {
    SSHMUX__LOG_INFO("%s: %s could not sign (%s): %s", c->label, what, x->alg,
                     sshmux_strerror(x->err));
    return 0;
  }
  if (rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED ||
      rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED) {
    SSHMUX__LOG_DEBUG("%s: %s (%s) not accepted", c->label, what, x->alg);
    return 0;
  }
  *fatal = werr(c, sshmux__err_from_ssh2(rc), "%s: publickey: %s", c->label,
                sshmux__ssh2_error(c->s, text, sizeof(text)));
  return *fatal;
}

/* Offer a key (blob) with every algorithm that fits it. */
static int offer_key(sshmux__upconn_t *c, signer_t *x, const char *what,
                     int *fatal) {
  const char *algs[3];
  char type[64];
  int r = 0;

  if (sshmux__pubkey_blob_type(x->blob, x->blob_len, type, sizeof(type)) != 0)
    return 0;
  if (strcmp(type, "ssh-rsa") == 0) {
    rsa_algs(c, algs);
  } else if (strcmp(type, "ssh-ed25519") == 0 ||
             strcmp(type, "ecdsa-sha2-nistp256") == 0 ||
             strcmp(type, "ecdsa-sha2-nistp384") == 0 ||
             strcmp(type, "ecdsa-sha2-nistp521") == 0) {
    algs[0] = type; /* these keys have one signature algorithm: their type */
    algs[1] = NULL;
  } else {
    /* Certificates, security keys (sk-*), DSA: libssh2 1.10 cannot
     * present them correctly. */
    SSHMUX__LOG_DEBUG("%s: skipping %s (%s keys are not supported)", c->label,
                      what, type);
    return 0;
  }
  for (int i = 0; algs[i] != NULL && r == 0; i++) {
    x->alg = algs[i];
    r = offer(c, x, what, fatal);
  }
  return r;
}

/* ---- decrypted keys, cached for the pool's life ---- */

typedef struct {
  sshmux__link_t link; /* pool->keycache, under pool->mu */
  char *path;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
  sshmux__userkey_t *key; /* NULL while `loading` */
  int loading;            /* a worker is asking for the passphrase */
} cached_key_t;

static int same_file(const cached_key_t *e, const struct stat *st) {
  return e->dev == st->st_dev && e->ino == st->st_ino &&
         e->size == st->st_size && e->mtime.tv_sec == st->st_mtim.tv_sec &&
         e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void cached_free(cached_key_t *e) {
  sshmux__userkey_free(e->key);
  sshmux__free(e->path);
  sshmux__free(e);
}

void sshmux__keycache_clear(sshmux_pool_t *p) {
  while (!sshmux__list_empty(&p->keycache)) {
    cached_key_t *e = (cached_key_t *)p->keycache.next;
    sshmux__list_remove(&e->link);
    cached_free(e);
  }
}

/* Under pool->mu. */
static cached_key_t *cache_find(sshmux_pool_t *p, const char *path) {
  for (sshmux__link_t *l = p->keycache.next; l != &p->keycache; l = l->next)
    if (strcmp(((cached_key_t *)l)->path, path) == 0)
      return (cached_key_t *)l;
  return NULL;
}

/* Ask for the passphrase of an encrypted key (up to PASSPHRASE_TRIES
 * times while it is wrong) and decrypt it.  0 with *key, or < 0: the key
 * is skipped (a note says why), unless the login was aborted. */
static int decrypt_with_prompt(sshmux__upconn_t *c, const char *path,
                               const char *text, size_t len,
                               sshmux__userkey_t **key) {
  char name[300], qtext[400];
  int r = SSHMUX_EAUTH;

  snprintf(name, sizeof(name), "Passphrase for key %s", path);
  for (int i = 0; i < PASSPHRASE_TRIES && r == SSHMUX_EAUTH; i++) {
    char **answers = NULL;
    snprintf(qtext, sizeof(qtext),
             i == 0 ? "Enter passphrase for key '%s': "
                    : "Bad passphrase, try again for '%s': ",
             path);
    r = ask_secret(c, SSHMUX_PROMPT_PASSPHRASE, name, qtext, &answers);
    if (r != 0) {
      if (r != SSHMUX_ECLOSED) {
        note(c, "key %s skipped: passphrase not given (%s)", path,
             sshmux_strerror(r));
        if (c->skip_rc == 0)
          c->skip_rc = r;
      }
      return r;
    }
    r = sshmux__userkey_parse(key, text, len, answers[0]);
    sshmux__prompt_answers_free(answers, 1);
  }
  if (r == SSHMUX_EAUTH)
    note(c, "key %s skipped: wrong passphrase", path);
  return r;
}

/* Our own copy of the private key in path.  *owned: the caller frees it
 * (unencrypted keys are read afresh each login; decrypted ones are kept in
 * the pool's cache and shared). */
static int load_identity(sshmux__upconn_t *c, const char *path,
                         sshmux__userkey_t **key, int *owned) {
  sshmux_pool_t *p = c->pool;
  char *text = NULL;
  size_t len = 0;
  struct stat st;
  cached_key_t *e;
  int r, enc;

  *key = NULL;
  *owned = 0;
  if ((r = read_key_file(path, &text, &len, &st)) != 0)
    return r;
  enc = sshmux__userkey_needs_passphrase(text, len);
  if (enc <= 0) {
    r = enc < 0 ? enc : sshmux__userkey_parse(key, text, len, NULL);
    *owned = r == 0;
    sshmux__free_secret(text, len);
    return r;
  }
  /* Encrypted: the cache, or one worker asks while the others wait. */
  for (;;) {
    uv_mutex_lock(&p->mu);
    e = cache_find(p, path);
    if (e != NULL && !e->loading && !same_file(e, &st)) {
      sshmux__list_remove(&e->link); /* the file changed: ask again */
      cached_free(e);
      e = NULL;
    }
    if (e == NULL)
      break;
    if (!e->loading) {
      *key = e->key;
      uv_mutex_unlock(&p->mu);
      sshmux__free_secret(text, len);
      SSHMUX__LOG_DEBUG("%s: key %s already decrypted", c->label, path);
      return 0;
    }
    uv_mutex_unlock(&p->mu);
    if (aborted(c)) {
      sshmux__free_secret(text, len);
      return SSHMUX_ECLOSED;
    }
    uv_sleep(100);
  }
  e = sshmux__calloc(1, sizeof(*e));
  if (e == NULL || (e->path = sshmux__strdup(path)) == NULL) {
    uv_mutex_unlock(&p->mu);
    sshmux__free(e);
    sshmux__free_secret(text, len);
    return SSHMUX_ENOMEM;
  }
  e->loading = 1;
  e->dev = st.st_dev;
  e->ino = st.st_ino;
  e->size = st.st_size;
  e->mtime = st.st_mtim;
  sshmux__list_push(&p->keycache, &e->link);
  uv_mutex_unlock(&p->mu);

  r = decrypt_with_prompt(c, path, text, len, key);
  sshmux__free_secret(text, len);
  uv_mutex_lock(&p->mu);
  if (r == 0) {
    e->key = *key;
    e->loading = 0;
  } else {
    sshmux__list_remove(&e->link);
    cached_free(e);
  }
  uv_mutex_unlock(&p->mu);
  return r;
}

/* Which agent, if any: the target's identity_agent, else $SSH_AUTH_SOCK
 * when the pool's use_agent is set. */
static const char *agent_path(sshmux__upconn_t *c) {
  const char *s;

  if (c->identity_agent != NULL)
    return strcmp(c->identity_agent, "none") == 0 ? NULL : c->identity_agent;
  if (!c->pool->o.use_agent)
    return NULL;
  s = getenv("SSH_AUTH_SOCK");
  return s != NULL && *s != '\0' ? s : NULL;
}

static sshmux__agent_t *open_agent(sshmux__upconn_t *c) {
  const char *path = agent_path(c);
  sshmux__agent_t *a = NULL;
  int r;

  if (path == NULL)
    return NULL;
  r = sshmux__agent_open(&a, path, cancelled, c, AGENT_LIST_TIMEOUT_MS);
  if (r != 0) {
    if (r != SSHMUX_ECLOSED)
      SSHMUX__LOG_WARN("%s: ssh-agent at %s is not usable (%s); trying the "
                       "next method",
                       c->label, path, sshmux_strerror(r));
    return NULL;
  }
  SSHMUX__LOG_DEBUG("%s: ssh-agent at %s holds %zu keys", c->label, path,
                    sshmux__agent_count(a));
  return a;
}

/* Does the agent hold this blob?  Its index, or -1. */
static long agent_find(const sshmux__agent_t *a, const uint8_t *blob,
                       size_t n) {
  for (size_t i = 0; a != NULL && i < sshmux__agent_count(a); i++) {
    const sshmux__agent_key_t *k = sshmux__agent_key(a, i);
    if (k->blob_len == n && memcmp(k->blob, blob, n) == 0)
      return (long)i;
  }
  return -1;
}

/* One identity file: through the agent if it holds that key (only the
 * .pub is needed then), else with our own copy of the private key. */
static int try_identity(sshmux__upconn_t *c, sshmux__agent_t *agent,
                        const char *path, int *fatal) {
  sshmux__buf_t pub;
  signer_t x;
  char what[400], text[300];
  sshmux__userkey_t *key = NULL;
  int owned = 0, r;
  long ai;

  memset(&x, 0, sizeof(x));
  x.c = c;
  sshmux__buf_init(&pub, 64 * 1024);
  snprintf(what, sizeof(what), "key %s", path);
  if (agent != NULL && read_pub_blob(path, &pub) == 0 &&
      (ai = agent_find(agent, pub.data, pub.len)) >= 0) {
    x.agent = agent;
    x.blob = pub.data;
    x.blob_len = pub.len;
    snprintf(what, sizeof(what), "key %s (from the agent)", path);
    r = offer_key(c, &x, what, fatal);
    sshmux__buf_free(&pub);
    return r;
  }
  sshmux__buf_reset(&pub);
  r = load_identity(c, path, &key, &owned);
  if (r == UV_ENOENT) {
    SSHMUX__LOG_DEBUG("%s: identity %s missing", c->label, path);
    r = 0;
  } else if (r == SSHMUX_ECLOSED) {
    *fatal = werr(c, r, "%s: login aborted", c->label);
  } else if (r == SSHMUX_EPROMPT_CANCELLED || r == SSHMUX_ENOPROMPTER ||
             r == SSHMUX_EPROMPT_TIMEOUT || r == SSHMUX_EAUTH) {
    r = 0; /* noted; the next key or method */
  } else if (r != 0) {
    snprintf(text, sizeof(text), "%s", sshmux_strerror(r));
    SSHMUX__LOG_WARN("%s: cannot use identity %s: %s", c->label, path, text);
    note(c, "key %s skipped: %s", path, text);
    r = 0;
  } else if ((r = sshmux__userkey_public_blob(key, &pub)) == 0) {
    x.key = key;
    x.blob = pub.data;
    x.blob_len = pub.len;
    r = offer_key(c, &x, what, fatal);
  } else {
    *fatal = werr(c, r, "%s: out of memory", c->label);
  }
  if (owned)
    sshmux__userkey_free(key);
  sshmux__buf_free(&pub);
  return r;
}

/* publickey: 0 when logged in (or partially), -1 otherwise (*fatal set when
 * the connection is unusable).  A route naming identities tries only those
 * (OpenSSH's IdentitiesOnly: agent keys matching them, else the files);
 * otherwise every agent key in the agent's order. */
static int try_publickey(sshmux__upconn_t *c, int *fatal) {
  sshmux__agent_t *agent = open_agent(c);
  int r = 0;

  if (c->identities[0] != NULL) {
    for (size_t i = 0; c->identities[i] != NULL && r == 0; i++)
      r = try_identity(c, agent, c->identities[i], fatal);
  } else {
    for (size_t i = 0;
         agent != NULL && i < sshmux__agent_count(agent) && r == 0; i++) {
      const sshmux__agent_key_t *k = sshmux__agent_key(agent, i);
      char what[300], *cm = sshmux__sanitize(k->comment, strlen(k->comment), 0);
      signer_t x;
      memset(&x, 0, sizeof(x));
      x.c = c;
      x.agent = agent;
      x.blob = k->blob;
      x.blob_len = k->blob_len;
      snprintf(what, sizeof(what), "agent key %zu (%s)", i + 1,
               cm != NULL ? cm : "");
      sshmux__free(cm);
      r = offer_key(c, &x, what, fatal);
    }
  }
  sshmux__agent_close(agent);
  return r > 0 ? 0 : -1;
}

static char *clean(const char *s, int len, int nl) {
  return sshmux__sanitize(s != NULL ? s : "",
                          s != NULL && len > 0 ? (size_t)len : 0, nl);
}

/* What a keyboard-interactive round may ask of a person. */
#define KBD_MAX_PROMPTS 32
#define KBD_MAX_INFO 8192
#define KBD_MAX_ROUNDS 64

static LIBSSH2_USERAUTH_KBDINT_RESPONSE_FUNC(kbd_cb) {
  sshmux__upconn_t *c = *abstract;
  char *nm = clean(name, name_len, 0),
       *in = clean(instruction, instruction_len, 1);
  char **texts = NULL, **answers = NULL;
  int *echo = NULL;
  int rc = SSHMUX_ENOMEM;

  if (nm == NULL || in == NULL)
    goto out;
  if (++c->kbd_rounds > KBD_MAX_ROUNDS) {
    /* A server that never concludes would keep this login (and its worker
     * thread) forever: libssh2 has no way out of the exchange but a dead
     * socket, so make it one. */
    SSHMUX__LOG_WARN("%s: keyboard-interactive: more than %d rounds, "
                     "giving up",
                     c->label, KBD_MAX_ROUNDS);
    (void)shutdown(c->fd, SHUT_RDWR);
    rc = SSHMUX_EPROTO;
    goto out;
  }
  if (num_prompts > KBD_MAX_PROMPTS) {
    /* Nobody answers thousands of questions: a server asking them is
     * flooding the person's screen.  The round is answered empty. */
    SSHMUX__LOG_WARN("%s: keyboard-interactive: %d questions at once, "
                     "refused (at most %d)",
                     c->label, num_prompts, KBD_MAX_PROMPTS);
    rc = SSHMUX_EPROTO;
    goto out;
  }
  if (num_prompts <= 0) {
    /* Information only: nothing to answer; shown with the next prompt.
     * Bounded: a server sending round after round of it gets the first
     * KBD_MAX_INFO bytes shown. */
    char *joined =
        c->info != NULL && strlen(c->info) + strlen(in) > KBD_MAX_INFO
            ? NULL
            : sshmux__asprintf("%s%s%s", c->info ? c->info : "",
                               c->info && *in ? "\n" : "", in);
    if (joined != NULL) {
      sshmux__free(c->info);
      c->info = joined;
    }
    rc = 0;
    goto out;
  }
  texts = sshmux__calloc((size_t)num_prompts, sizeof(char *));
  echo = sshmux__calloc((size_t)num_prompts, sizeof(int));
  if (texts == NULL || echo == NULL)
    goto out;
  for (int i = 0; i < num_prompts; i++) {
    texts[i] = clean((const char *)prompts[i].text, (int)prompts[i].length, 0);
    echo[i] = prompts[i].echo != 0;
    if (texts[i] == NULL)
      goto out;
  }
  if (c->info != NULL) {
    char *joined = sshmux__asprintf("%s%s%s", c->info, *in ? "\n" : "", in);
    if (joined == NULL)
      goto out;
    sshmux__free(in);
    in = joined;
    sshmux__free(c->info);
    c->info = NULL;
  }
  {
    sshmux__prompt_req_t req;
    memset(&req, 0, sizeof(req));
    req.kind = SSHMUX_PROMPT_KBDINT;
    req.name = nm;
    req.instruction = in;
    req.n = (size_t)num_prompts;
    req.texts = (const char *const *)texts;
    req.echo = echo;
    rc = sshmux__prompt_ask(c, &req, &answers);
  }
out:
  if (rc != 0 && c->kbd_rc == 0)
    c->kbd_rc = rc;
  for (int i = 0; i < num_prompts; i++) {
    /* libssh2 frees these with the session allocator, so they come from
     * it (which wipes them, answers being one-time codes and passwords).
     * A failed prompt answers empty strings: the server then refuses the
     * round. */
    const char *a = rc == 0 && answers != NULL ? answers[i] : "";
    size_t al = strlen(a);
    responses[i].text = sshmux__ssh2_alloc(al + 1, NULL);
    if (responses[i].text != NULL)
      memcpy(responses[i].text, a, al + 1);
    responses[i].length = responses[i].text ? (unsigned)al : 0;
  }
  sshmux__prompt_answers_free(answers,
                              (size_t)(num_prompts > 0 ? num_prompts : 0));
  for (int i = 0; texts != NULL && i < num_prompts; i++)
    sshmux__free(texts[i]);
  sshmux__free(texts);
  sshmux__free(echo);
  sshmux__free(nm);
  sshmux__free(in);
}

static int try_password(sshmux__upconn_t *c, int *fatal) {
  char **answers = NULL;
  const char *pw = c->password;
  char text[300];
  int rc;

  if (pw == NULL) {
    snprintf(text, sizeof(text), "%s@%s's password: ", c->user, c->host);
    rc = ask_secret(c, SSHMUX_PROMPT_PASSWORD, "Password authentication", text,
                    &answers);
    if (rc != 0) {
      *fatal = werr(c, rc, "password for %s not given: %s", c->label,
                    sshmux_strerror(rc));
      return -1;
    }
    pw = answers[0];
  }
  rc = guarded(&(ssh2_call_t){.c = c, .what = GC_PASSWORD, .pw = pw});
  sshmux__prompt_answers_free(answers, answers != NULL ? 1 : 0);
  return rc == 0 ? 0 : -1;
}

/* libssh2 1.10 keeps the reply of libssh2_userauth_list() in the session
 * and overwrites that pointer, without freeing it, on the next call (only
 * the last one is freed with the session).  We copy the list at once, and
 * free the previous reply just before asking again: the next call replaces
 * the session's pointer before it reads anything. */
static char *list_methods(sshmux__upconn_t *c, char **prev_raw) {
  char *m;

  if (*prev_raw != NULL) {
    libssh2_free(c->s, *prev_raw);
    *prev_raw = NULL;
  }
  {
    ssh2_call_t call = {.c = c, .what = GC_LIST};
    (void)guarded(&call);
    m = call.list;
  }
  *prev_raw = m;
  return m != NULL ? sshmux__strdup(m) : NULL;
}

static int authenticate(sshmux__upconn_t *c) {
  char *raw = NULL;
  char *methods = list_methods(c, &raw);
  int tried_pk = 0, tried_kbd = 0, tried_pw = 0, fatal = 0;
  char text[300];

  for (int round = 0; round < 8; round++) {
    const char *used = NULL;
    char *before;
    int ok = -1;

    if (libssh2_userauth_authenticated(c->s)) {
      if (!*c->auth_methods)
        add_method(c, "none");
      sshmux__free(methods);
      return 0;
    }
    if (methods == NULL) {
      int e = libssh2_session_last_errno(c->s);
      return werr(c, e ? sshmux__err_from_ssh2(e) : SSHMUX_EAUTH,
                  "%s: cannot list authentication methods: %s", c->label,
                  sshmux__ssh2_error(c->s, text, sizeof(text)));
    }
    if (aborted(c)) {
      sshmux__free(methods);
      return werr(c, SSHMUX_ECLOSED, "%s: login aborted", c->label);
    }
    if (!tried_pk && has_method(methods, "publickey")) {
      tried_pk = 1;
      used = "publickey";
      ok = try_publickey(c, &fatal);
    } else if (!tried_kbd && has_method(methods, "keyboard-interactive")) {
      tried_kbd = 1;
      used = "keyboard-interactive";
      c->kbd_rounds = 0;
      c->kbd_rc = 0;
      libssh2_session_set_timeout(c->s, 0); /* a person types: see §1.2 */
      ok = guarded(&(ssh2_call_t){.c = c, .what = GC_KBD}) == 0 ? 0 : -1;
      libssh2_session_set_timeout(c->s, HANDSHAKE_TIMEOUT_MS);
      if (ok != 0 && c->kbd_rc != 0)
        fatal = werr(c, c->kbd_rc, "%s: keyboard-interactive: %s", c->label,
                     c->kbd_rc == SSHMUX_ENOPROMPTER
                         ? "a prompt is needed but no prompt handler is set"
                         : sshmux_strerror(c->kbd_rc));
    } else if (!tried_pw && has_method(methods, "password")) {
      tried_pw = 1;
      used = "password";
      ok = try_password(c, &fatal);
    } else {
      char *m = sshmux__sanitize(methods, strlen(methods), 0);
      int rc =
          werr(c,
               c->skip_rc != 0                     ? c->skip_rc
               : tried_pk || tried_kbd || tried_pw ? SSHMUX_EAUTH
                                                   : SSHMUX_ENOAUTHMETHOD,
               "%s: authentication failed (server offers: %s)%s%s", c->label,
               m ? m : "?", *c->auth_note ? "; " : "", c->auth_note);
      sshmux__free(m);
      sshmux__free(methods);
      return rc;
    }
    if (fatal) {
      sshmux__free(methods);
      return fatal;
    }
    if (ok == 0 && libssh2_userauth_authenticated(c->s)) {
      add_method(c, used);
      continue;
    }
    /* Failure or partial success: ask again what is left. */
    before = methods;
    methods = list_methods(c, &raw);
    if (methods == NULL && libssh2_userauth_authenticated(c->s)) {
      add_method(c, used);
      sshmux__free(before);
      continue;
    }
    if (methods != NULL && strcmp(before, methods) != 0 &&
        !has_method(methods, used))
      add_method(c, used); /* partial success */
    sshmux__free(before);
  }
  sshmux__free(methods);
  return werr(c, SSHMUX_EAUTH, "%s: authentication failed", c->label);
}

/* Plain socket I/O that counts the bytes, so the stats include the
 * handshake and login (the loop's queue callbacks replace these at the
 * hand-off). */
static LIBSSH2_SEND_FUNC(count_send) {
  sshmux__upconn_t *c = *abstract;
  ssize_t r = send(socket, buffer, length, flags);
  if (r < 0)
    return -errno;
  if (socket == c->fd)
    c->w_bytes_out += (uint64_t)r;
  return r;
}

static LIBSSH2_RECV_FUNC(count_recv) {
  sshmux__upconn_t *c = *abstract;
  ssize_t r = recv(socket, buffer, length, flags);
  if (r < 0)
    return -errno;
  if (socket == c->fd && r > 0) {
    c->w_bytes_in += (uint64_t)r;
    if (c->tcp) { /* the login's round trips wait on ACKs too */
      c->rx_reads++;
      sshmux__upconn_quickack(c);
    }
  }
  return r;
}

static int run(sshmux__upconn_t *c) {
  char text[300];
  int rc;

  c->s = libssh2_session_init_ex(sshmux__ssh2_alloc, sshmux__ssh2_free,
                                 sshmux__ssh2_realloc, c);
  if (c->s == NULL)
    return werr(c, SSHMUX_ENOMEM, "cannot create an SSH session");
  libssh2_session_method_pref(
      c->s, LIBSSH2_METHOD_KEX,
      "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,"
      "ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group16-sha512,"
      "diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,"
      "diffie-hellman-group-exchange-sha256");
  libssh2_session_method_pref(c->s, LIBSSH2_METHOD_HOSTKEY,
                              "ssh-ed25519,ecdsa-sha2-nistp256,"
                              "ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
                              "ssh-rsa");
  libssh2_session_method_pref(c->s, LIBSSH2_METHOD_CRYPT_CS,
                              "aes128-ctr,aes256-ctr,aes192-ctr");
  libssh2_session_method_pref(c->s, LIBSSH2_METHOD_CRYPT_SC,
                              "aes128-ctr,aes256-ctr,aes192-ctr");
  libssh2_session_method_pref(c->s, LIBSSH2_METHOD_MAC_CS,
                              "hmac-sha2-256,hmac-sha2-512");
  libssh2_session_method_pref(c->s, LIBSSH2_METHOD_MAC_SC,
                              "hmac-sha2-256,hmac-sha2-512");
  libssh2_session_callback_set(c->s, LIBSSH2_CALLBACK_SEND, (void *)count_send);
  libssh2_session_callback_set(c->s, LIBSSH2_CALLBACK_RECV, (void *)count_recv);
  libssh2_session_set_blocking(c->s, 1);
  /* The pool's connect timeout covers the handshake too: a server that
   * accepts TCP and then says nothing fails within it. */
  libssh2_session_set_timeout(c->s, (long)c->pool->o.connect_timeout_ms);
  rc = guarded(&(ssh2_call_t){.c = c, .what = GC_HANDSHAKE});
  if (rc != 0)
    return werr(c, aborted(c) ? SSHMUX_ECLOSED : sshmux__err_from_ssh2(rc),
                "SSH handshake with %s failed: %s", c->label,
                sshmux__ssh2_error(c->s, text, sizeof(text)));
  c->handshake_done = 1;
  if ((rc = check_hostkey(c)) != 0)
    return rc;
  if ((rc = authenticate(c)) != 0)
    return rc;
  libssh2_session_set_blocking(c->s, 0);
  return 0;
}

static int end_session(void *arg) {
  sshmux__upconn_t *c = arg;

  if (!c->ssh2_broken) {
    libssh2_session_set_timeout(c->s, 2000);
    /* Only over an established transport: after a failed key exchange
     * there is nothing to say it on, and libssh2 1.10 crashes trying
     * when the exchange failed for memory (found by test-oom). */
    if (!aborted(c) && c->handshake_done)
      libssh2_session_disconnect(c->s, "authentication failed");
  }
  libssh2_session_free(c->s);
  return 0;
}

void sshmux__upauth_main(void *arg) {
  sshmux__upconn_t *c = arg;
  int rc = run(c);

  if (c->ssh2_broken) {
    /* Whatever the login made of it (a failure, or even a success on a
     * list read that came back empty), the session is unusable. */
    rc = werr(c, SSHMUX_EPROTO,
              "%s: malformed data from the server made libssh2 fail an "
              "assertion; connection dropped",
              c->label);
  }
  if (rc != 0 && c->s != NULL) {
    /* A second abort while freeing leaves the rest of the session to
     * the arena below (only OpenSSL's cipher contexts are lost). */
    (void)sshmux__ssh2_guarded(end_session, c);
    c->s = NULL;
    sshmux__upconn_arena_done(c);
  }
  sshmux__free(c->info);
  c->info = NULL;
  c->worker_rc = rc;
  /* The last touch of c by this thread: the loop may free it after this. */
  sshmux__pool_post(c->pool, &c->done_ev);
}
