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
 * Authentication order: ssh-agent (SSH_AUTH_SOCK), identity files (an
 * encrypted one asks for its passphrase), keyboard-interactive, password.
 * libssh2 1.10 reports a partial success as a failure, so after a method
 * "fails" the remaining list is asked again; if it changed, the method
 * counted as a partial success and the chain continues. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

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

static int try_agent(sshmux__upconn_t *c) {
  const char *sock = getenv("SSH_AUTH_SOCK");
  LIBSSH2_AGENT *agent;
  struct libssh2_agent_publickey *id = NULL, *prev = NULL;
  int ok = 0;

  if (!c->pool->o.use_agent || sock == NULL || *sock == '\0')
    return -1;
  agent = libssh2_agent_init(c->s);
  if (agent == NULL)
    return -1;
  if (libssh2_agent_connect(agent) == 0 &&
      libssh2_agent_list_identities(agent) == 0) {
    while (!ok && libssh2_agent_get_identity(agent, &id, prev) == 0) {
      if (libssh2_agent_userauth(agent, c->user, id) == 0)
        ok = 1;
      prev = id;
      if (aborted(c))
        break;
    }
    libssh2_agent_disconnect(agent);
  }
  libssh2_agent_free(agent);
  return ok ? 0 : -1;
}

/* Is this private key file encrypted (OpenSSH cipher not "none", PEM
 * ENCRYPTED headers; crypto/userkey.c)?  Its first 64 KiB decide. */
static int key_encrypted(const char *path) {
  FILE *f = fopen(path, "r");
  char *text;
  size_t n;
  int enc;

  if (f == NULL)
    return 0;
  text = sshmux__malloc(65536);
  if (text == NULL) {
    fclose(f);
    return 0;
  }
  n = fread(text, 1, 65536, f);
  fclose(f);
  enc = sshmux__userkey_needs_passphrase(text, n) > 0;
  sshmux__free(text);
  return enc;
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

static int try_identities(sshmux__upconn_t *c, int *fatal) {
  char text[300];

  for (size_t i = 0; c->identities[i] != NULL; i++) {
    const char *key = c->identities[i];
    char pub[1100];
    struct stat st;
    char **answers = NULL;
    const char *pass = NULL;
    int rc;

    if (aborted(c))
      return -1;
    if (stat(key, &st) != 0) {
      SSHMUX__LOG_DEBUG("%s: identity %s missing", c->label, key);
      continue;
    }
    snprintf(pub, sizeof(pub), "%s.pub", key);
    if (key_encrypted(key)) {
      char name[200];
      snprintf(name, sizeof(name), "Passphrase for key %s", key);
      snprintf(text, sizeof(text), "Enter passphrase for key '%s': ", key);
      rc = ask_secret(c, SSHMUX_PROMPT_PASSPHRASE, name, text, &answers);
      if (rc != 0) {
        *fatal = werr(c, rc, "passphrase for %s not given: %s", key,
                      sshmux_strerror(rc));
        return -1;
      }
      pass = answers[0];
    }
    rc = libssh2_userauth_publickey_fromfile_ex(
        c->s, c->user, (unsigned)strlen(c->user),
        stat(pub, &st) == 0 ? pub : NULL, key, pass);
    sshmux__prompt_answers_free(answers, pass != NULL ? 1 : 0);
    if (rc == 0)
      return 0;
    if (rc == LIBSSH2_ERROR_FILE)
      SSHMUX__LOG_WARN("%s: cannot use identity %s: %s", c->label, key,
                       sshmux__ssh2_error(c->s, text, sizeof(text)));
    else if (rc != LIBSSH2_ERROR_AUTHENTICATION_FAILED &&
             rc != LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED) {
      *fatal = werr(c, sshmux__err_from_ssh2(rc), "%s: publickey: %s", c->label,
                    sshmux__ssh2_error(c->s, text, sizeof(text)));
      return -1;
    }
  }
  return -1;
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
    /* libssh2 frees these with the session allocator, i.e. ours.  A failed
     * prompt answers empty strings: the server then refuses the round. */
    const char *a = rc == 0 && answers != NULL ? answers[i] : "";
    responses[i].text = sshmux__strdup(a);
    responses[i].length = responses[i].text ? (unsigned)strlen(a) : 0;
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
  rc = libssh2_userauth_password_ex(c->s, c->user, (unsigned)strlen(c->user),
                                    pw, (unsigned)strlen(pw), NULL);
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
  m = libssh2_userauth_list(c->s, c->user, (unsigned)strlen(c->user));
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
      ok = try_agent(c);
      if (ok != 0)
        ok = try_identities(c, &fatal);
    } else if (!tried_kbd && has_method(methods, "keyboard-interactive")) {
      tried_kbd = 1;
      used = "keyboard-interactive";
      c->kbd_rounds = 0;
      c->kbd_rc = 0;
      libssh2_session_set_timeout(c->s, 0); /* a person types: see §1.2 */
      ok = libssh2_userauth_keyboard_interactive_ex(
               c->s, c->user, (unsigned)strlen(c->user), kbd_cb) == 0
               ? 0
               : -1;
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
      int rc = werr(c,
                    tried_pk || tried_kbd || tried_pw ? SSHMUX_EAUTH
                                                      : SSHMUX_ENOAUTHMETHOD,
                    "%s: authentication failed (server offers: %s)", c->label,
                    m ? m : "?");
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
  rc = libssh2_session_handshake(c->s, c->fd);
  if (rc != 0)
    return werr(c, aborted(c) ? SSHMUX_ECLOSED : sshmux__err_from_ssh2(rc),
                "SSH handshake with %s failed: %s", c->label,
                sshmux__ssh2_error(c->s, text, sizeof(text)));
  if ((rc = check_hostkey(c)) != 0)
    return rc;
  if ((rc = authenticate(c)) != 0)
    return rc;
  libssh2_session_set_blocking(c->s, 0);
  return 0;
}

void sshmux__upauth_main(void *arg) {
  sshmux__upconn_t *c = arg;
  int rc = run(c);

  if (rc != 0 && c->s != NULL) {
    libssh2_session_set_timeout(c->s, 2000);
    if (!aborted(c))
      libssh2_session_disconnect(c->s, "authentication failed");
    libssh2_session_free(c->s);
    c->s = NULL;
  }
  sshmux__free(c->info);
  c->info = NULL;
  c->worker_rc = rc;
  /* The last touch of c by this thread: the loop may free it after this. */
  sshmux__pool_post(c->pool, &c->done_ev);
}
