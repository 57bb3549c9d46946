/* server/auth.c -- user authentication for the server (RFC 4252), publickey
 * only, and the authorized_keys parser that decides which keys are allowed.
 *
 * Shaped after dropbear's svr-auth.c / svr-authpubkey.c: the service
 * request, then USERAUTH_REQUESTs dispatched on the method name.  Every
 * method but publickey gets FAILURE("publickey") -- password and
 * keyboard-interactive are never offered.  For publickey the query (no
 * signature) is answered with PK_OK echoing the client's fields byte for
 * byte, and the signed request is verified over session_id || request
 * (ssh-server.md §3.3).  Refused keys and bad signatures count towards a
 * limit, after which the client is disconnected (reason 14).
 *
 * authorized_keys follows OpenSSH's format: blank lines and '#' comments
 * are skipped, each line is "[options] keytype base64 [comment]".  Options
 * that only take rights away and that the library enforces (no-pty,
 * no-port-forwarding, no-agent-forwarding, no-X11-forwarding, no-user-rc,
 * restrict) are honoured; a key whose line carries any other option
 * (command=, from=, permitopen=, environment=, ...) is REFUSED, because
 * accepting it without the restriction would silently grant more than the
 * administrator wrote.
 *
 * The file is checked for every key offered, on the loop thread, so its
 * text is cached: each check costs one lstat(), and the file is read again
 * (sshmux_file_read, with its symlink refusal) only when its device, inode,
 * size, mtime or ctime changed -- any edit, replacement or chmod. */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "server/server-int.h"
#include "sshmux/file.h"

#define AUTH_FIELD_MAX 1024u
#define KEY_BLOB_MAX 16384u
#define AK_FILE_MAX (4u * 1024u * 1024u)

/* ---- authorized_keys ---- */

static int is_key_type(const char *s, size_t n) {
  static const char *const types[] = {
      "ssh-ed25519",
      "ecdsa-sha2-nistp256",
      "ecdsa-sha2-nistp384",
      "ecdsa-sha2-nistp521",
      "ssh-rsa",
      "ssh-dss",
      "sk-ecdsa-sha2-nistp256@openssh.com",
      "sk-ssh-ed25519@openssh.com",
  };
  size_t i;

  for (i = 0; i < SSHMUX__ARRAY_SIZE(types); i++)
    if (strlen(types[i]) == n && memcmp(types[i], s, n) == 0)
      return 1;
  /* Certificates: recognised so the line parses, refused later. */
  return n > 21 && memcmp(s + n - 21, "-cert-v01@openssh.com", 21) == 0;
}

/* Parse the options field [s, e): 0 and *flags when every option is one we
 * honour; 1 when an option we do not honour is present (*bad names it);
 * -1 when malformed. */
static int parse_options(const char *s, const char *e, unsigned *flags,
                         char *bad, size_t badsz) {
  *flags = 0;
  while (s < e) {
    const char *name = s;
    size_t nl;
    while (s < e && (isalnum((unsigned char)*s) || *s == '-' || *s == '_'))
      s++;
    nl = (size_t)(s - name);
    if (nl == 0)
      return -1;
    if (s < e && *s == '=') {
      /* A quoted value: a backslash escapes a quote (OpenSSH). */
      s++;
      if (s >= e || *s != '"')
        return -1;
      s++;
      while (s < e && *s != '"') {
        if (*s == '\\' && s + 1 < e && s[1] == '"')
          s++;
        s++;
      }
      if (s >= e)
        return -1;
      s++;
      snprintf(bad, badsz, "%.*s", (int)nl, name);
      return 1; /* every option with a value restricts in a way we skip */
    }
#define OPT(str) (nl == strlen(str) && strncasecmp(name, str, nl) == 0)
    if (OPT("no-pty"))
      *flags |= SSHMUX__AK_NO_PTY;
    else if (OPT("no-port-forwarding"))
      *flags |= SSHMUX__AK_NO_PORT_FWD;
    else if (OPT("no-agent-forwarding"))
      *flags |= SSHMUX__AK_NO_AGENT_FWD;
    else if (OPT("no-x11-forwarding"))
      *flags |= SSHMUX__AK_NO_X11_FWD;
    else if (OPT("no-user-rc"))
      ; /* we never run rc files */
    else if (OPT("restrict"))
      *flags |= SSHMUX__AK_NO_PTY | SSHMUX__AK_NO_PORT_FWD |
                SSHMUX__AK_NO_AGENT_FWD | SSHMUX__AK_NO_X11_FWD;
    else {
      snprintf(bad, badsz, "%.*s", (int)nl, name);
      return 1;
    }
#undef OPT
    if (s < e) {
      if (*s != ',')
        return -1;
      s++;
      if (s == e)
        return -1;
    }
  }
  return 0;
}

/* Skip an options field: up to white space outside quotes. */
static const char *skip_options(const char *s, const char *e) {
  int q = 0;

  while (s < e && (q || (*s != ' ' && *s != '\t'))) {
    if (*s == '\\' && q && s + 1 < e)
      s++;
    else if (*s == '"')
      q = !q;
    s++;
  }
  return q ? NULL : s;
}

static const char *skip_ws(const char *s, const char *e) {
  while (s < e && (*s == ' ' || *s == '\t'))
    s++;
  return s;
}

static const char *token_end(const char *s, const char *e) {
  while (s < e && *s != ' ' && *s != '\t')
    s++;
  return s;
}

/* One line [s, e): 1 listed and usable, 0 not this key, -1 this key but
 * refused (options). */
static int match_line(const char *s, const char *e, int lineno,
                      const uint8_t *blob, size_t blob_len, unsigned *flags,
                      uint8_t *dec) {
  const char *opt_s = NULL, *opt_e = NULL, *t, *te, *b64, *b64e;
  char type[128], bad[64];
  size_t dlen;
  int r;

  s = skip_ws(s, e);
  if (s == e || *s == '#')
    return 0;
  te = token_end(s, e);
  if (!is_key_type(s, (size_t)(te - s))) {
    opt_s = s;
    opt_e = skip_options(s, e);
    if (opt_e == NULL)
      return 0;
    s = skip_ws(opt_e, e);
    te = token_end(s, e);
    if (!is_key_type(s, (size_t)(te - s)))
      return 0;
  }
  t = s;
  b64 = skip_ws(te, e);
  b64e = token_end(b64, e);
  if (b64e == b64)
    return 0;
  if (sshmux__base64_decode(b64, (size_t)(b64e - b64), dec, KEY_BLOB_MAX,
                            &dlen) != 0)
    return 0;
  if (dlen != blob_len || memcmp(dec, blob, blob_len) != 0)
    return 0;
  /* The blob must name the same type as the line. */
  if (sshmux__pubkey_blob_type(dec, dlen, type, sizeof(type)) != 0 ||
      strlen(type) != (size_t)(te - t) || memcmp(type, t, strlen(type)) != 0)
    return 0;
  if (opt_s == NULL) {
    *flags = 0;
    return 1;
  }
  r = parse_options(opt_s, opt_e, flags, bad, sizeof(bad));
  if (r == 0)
    return 1;
  if (r > 0)
    SSHMUX__LOG_WARN("authorized_keys line %d: option \"%s\" is not "
                     "supported; key refused",
                     lineno, bad);
  else
    SSHMUX__LOG_WARN("authorized_keys line %d: malformed options; key "
                     "refused",
                     lineno);
  return -1;
}

int sshmux__authkeys_match(const char *text, size_t len, const uint8_t *blob,
                           size_t blob_len, unsigned *flags) {
  const char *s = text, *e = text + len;
  uint8_t *dec;
  int lineno = 0, r = 0;

  *flags = 0;
  dec = sshmux__malloc(KEY_BLOB_MAX);
  if (dec == NULL)
    return 0;
  while (s < e) {
    const char *nl = memchr(s, '\n', (size_t)(e - s));
    const char *le = nl ? nl : e;
    lineno++;
    if (le > s && le[-1] == '\r')
      le--;
    r = match_line(s, le, lineno, blob, blob_len, flags, dec);
    if (r != 0)
      break; /* the first line listing the key decides, as in OpenSSH */
    s = nl ? nl + 1 : e;
  }
  sshmux__free(dec);
  return r == 1;
}

/* ---- messages ---- */

static int send_failure(sshmux_server_conn_t *conn) {
  sshmux__pkt_t p;
  int r;

  if ((r = sshmux__pkt_begin(conn, &p, SSH_MSG_USERAUTH_FAILURE)) != 0 ||
      (r = sshmux__buf_put_cstring(p.b, "publickey")) != 0 ||
      (r = sshmux__buf_put_bool(p.b, 0)) != 0)
    return r;
  return sshmux__pkt_end(conn, &p);
}

/* A refused attempt: FAILURE, or DISCONNECT once the limit is passed. */
static int refuse(sshmux_server_conn_t *conn, int counts) {
  int r;

  if (counts && ++conn->auth_failures >= conn->srv->max_auth_tries) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE,
                      "too many authentication failures");
    return SSHMUX_EAUTH;
  }
  if ((r = send_failure(conn)) != 0) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_BY_APPLICATION, "out of memory");
    return r;
  }
  return 0;
}

int sshmux__auth_service_request(sshmux_server_conn_t *conn, sshmux__buf_t *b) {
  const uint8_t *name;
  size_t n;
  sshmux__pkt_t p;
  int r;

  if (sshmux__buf_get_string(b, AUTH_FIELD_MAX, &name, &n) != 0 || n != 12 ||
      memcmp(name, "ssh-userauth", 12) != 0 ||
      conn->state != SSHMUX__CONN_AUTH) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_SERVICE_NOT_AVAILABLE,
                      "service not available");
    return SSHMUX_EPROTO;
  }
  conn->service_ok = 1;
  if ((r = sshmux__pkt_begin(conn, &p, SSH_MSG_SERVICE_ACCEPT)) != 0 ||
      (r = sshmux__buf_put_cstring(p.b, "ssh-userauth")) != 0 ||
      (r = sshmux__pkt_end(conn, &p)) != 0) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_BY_APPLICATION, "out of memory");
    return r;
  }
  return 0;
}

/* Does the key type of the blob fit the algorithm named? */
static int alg_fits_key(const char *alg, const char *type) {
  if (strcmp(type, "ssh-rsa") == 0)
    return strcmp(alg, "rsa-sha2-256") == 0 || strcmp(alg, "rsa-sha2-512") == 0;
  return strcmp(alg, type) == 0;
}

void sshmux__authkeys_drop(sshmux_server_t *srv) {
  sshmux__free(srv->ak.text);
  memset(&srv->ak, 0, sizeof(srv->ak));
}

/* The authorized_keys text (owned by srv), from the cache when the file is
 * unchanged.  0 or a negative error (file missing, unreadable, too big). */
static int authkeys_text(sshmux_server_t *srv, const char **text, size_t *len) {
  struct stat st;
  char *data = NULL;
  size_t n = 0;
  int64_t mt, ct;
  int r;

  if (lstat(srv->authorized_keys, &st) != 0) {
    sshmux__authkeys_drop(srv);
    return uv_translate_sys_error(errno);
  }
  mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  ct = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
  if (srv->ak.text == NULL || srv->ak.dev != (uint64_t)st.st_dev ||
      srv->ak.ino != (uint64_t)st.st_ino ||
      srv->ak.size != (uint64_t)st.st_size || srv->ak.mtime_ns != mt ||
      srv->ak.ctime_ns != ct) {
    sshmux__authkeys_drop(srv);
    /* StrictModes: a file someone else could write lists keys someone else
     * chose.  Checked on every re-read; replacing or editing the file (the
     * only way to change what it says) changes what lstat() reports. */
    if ((r = sshmux_path_check_perms(srv->authorized_keys, geteuid())) != 0 ||
        (r = sshmux_file_read(srv->authorized_keys, AK_FILE_MAX, &data, &n)) !=
            0)
      return r;
    /* Described by the stat before the read: a change during the read
     * makes the next check differ and read again. */
    srv->ak.text = data;
    srv->ak.len = n;
    srv->ak.dev = (uint64_t)st.st_dev;
    srv->ak.ino = (uint64_t)st.st_ino;
    srv->ak.size = (uint64_t)st.st_size;
    srv->ak.mtime_ns = mt;
    srv->ak.ctime_ns = ct;
  }
  *text = srv->ak.text;
  *len = srv->ak.len;
  return 0;
}

/* The decision for (user, key): the embedder's callback, else the
 * authorized_keys file. */
static int key_allowed(sshmux_server_conn_t *conn, const char *user,
                       const char *alg, const uint8_t *blob, size_t blob_len,
                       const char *fp, int is_signed, unsigned *flags) {
  sshmux_server_t *srv = conn->srv;
  sshmux_server_auth_info_t info;
  int authorized = -1, ok;

  *flags = 0;
  if (srv->authorized_keys != NULL) {
    const char *text = NULL;
    size_t len = 0;
    int r = authkeys_text(srv, &text, &len);
    if (r == 0) {
      authorized = sshmux__authkeys_match(text, len, blob, blob_len, flags);
    } else {
      SSHMUX__LOG_WARN("server: cannot read %s: %s", srv->authorized_keys,
                       sshmux_strerror(r));
      authorized = 0;
    }
  }
  if (srv->cbs.auth == NULL)
    return authorized == 1;
  memset(&info, 0, sizeof(info));
  info.user = user;
  info.key_alg = alg;
  info.key_blob = blob;
  info.key_len = blob_len;
  info.fingerprint = fp;
  info.authorized = authorized;
  info.is_signed = is_signed;
  sshmux__conn_ref(conn);
  ok = srv->cbs.auth(conn, &info, srv->cbs.auth_data) != 0;
  sshmux__conn_unref(conn);
  return ok && !conn->closing;
}

static int auth_publickey(sshmux_server_conn_t *conn, sshmux__buf_t *b,
                          const char *user, const char *shown,
                          const uint8_t *pl) {
  const uint8_t *alg_p, *blob, *sig = NULL;
  size_t alg_n, blob_len, sig_len = 0, sig_off;
  char alg[SSHMUX__SRV_NAME_MAX], type[SSHMUX__SRV_NAME_MAX], fp[64];
  sshmux__buf_t data;
  sshmux__pkt_t p;
  unsigned flags;
  int is_signed, r;

  if (sshmux__buf_get_bool(b, &is_signed) != 0 ||
      sshmux__buf_get_string(b, AUTH_FIELD_MAX, &alg_p, &alg_n) != 0 ||
      sshmux__buf_get_string(b, KEY_BLOB_MAX, &blob, &blob_len) != 0)
    goto malformed;
  sig_off = b->pos;
  if (is_signed && sshmux__buf_get_string(b, KEY_BLOB_MAX, &sig, &sig_len) != 0)
    goto malformed;
  if (alg_n == 0 || alg_n >= sizeof(alg) || memchr(alg_p, '\0', alg_n))
    return refuse(conn, 1);
  memcpy(alg, alg_p, alg_n);
  alg[alg_n] = '\0';
  /* ssh-rsa (SHA-1), certificates and sk- keys are not verified (§3.3). */
  if (!sshmux__sig_alg_supported(alg) ||
      sshmux__pubkey_blob_type(blob, blob_len, type, sizeof(type)) != 0 ||
      !alg_fits_key(alg, type)) {
    SSHMUX__LOG_DEBUG("server: %s:%d key algorithm %s refused", conn->peer,
                      conn->peer_port, alg);
    return refuse(conn, 1);
  }
  if (sshmux__fingerprint_sha256(blob, blob_len, fp, sizeof(fp)) != 0)
    return refuse(conn, 1);
  if (!key_allowed(conn, user, alg, blob, blob_len, fp, is_signed, &flags)) {
    if (conn->closing)
      return SSHMUX_ECLOSED;
    SSHMUX__LOG_INFO("server: %s:%d key %s refused for user \"%s\"", conn->peer,
                     conn->peer_port, fp, shown);
    return refuse(conn, 1);
  }
  if (!is_signed) {
    /* PK_OK echoes both fields exactly as received (§3.3). */
    if ((r = sshmux__pkt_begin(conn, &p, SSH_MSG_USERAUTH_PK_OK)) != 0 ||
        (r = sshmux__buf_put_string(p.b, alg_p, alg_n)) != 0 ||
        (r = sshmux__buf_put_string(p.b, blob, blob_len)) != 0 ||
        (r = sshmux__pkt_end(conn, &p)) != 0) {
      sshmux__conn_fail(conn, SSH_DISCONNECT_BY_APPLICATION, "out of memory");
      return r;
    }
    return 0;
  }
  /* Signed data: string session_id || the request up to the signature. */
  sshmux__buf_init(&data, SSHMUX__SRV_IN_PACKET_MAX + 128);
  sshmux__buf_set_secret(&data); /* it begins with the session id */
  r = sshmux__buf_put_string(&data, conn->session_id, conn->session_id_len);
  if (r == 0)
    r = sshmux__buf_put_bytes(&data, pl, sig_off);
  if (r == 0)
    r = sshmux__pubkey_verify(alg, blob, blob_len, sig, sig_len, data.data,
                              data.len);
  sshmux__buf_free(&data);
  if (r != 0) {
    SSHMUX__LOG_INFO("server: %s:%d signature by %s for \"%s\" refused: %s",
                     conn->peer, conn->peer_port, fp, shown,
                     sshmux_strerror(r));
    return refuse(conn, 1);
  }
  sshmux__free(conn->user);
  conn->user = sshmux__strdup(user);
  if (conn->user == NULL) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_BY_APPLICATION, "out of memory");
    return SSHMUX_ENOMEM;
  }
  snprintf(conn->fingerprint, sizeof(conn->fingerprint), "%s", fp);
  conn->ak_flags = flags;
  if ((r = sshmux__pkt_begin(conn, &p, SSH_MSG_USERAUTH_SUCCESS)) != 0 ||
      (r = sshmux__pkt_end(conn, &p)) != 0) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_BY_APPLICATION, "out of memory");
    return r;
  }
  SSHMUX__LOG_INFO("server: %s:%d accepted \"%s\" with %s", conn->peer,
                   conn->peer_port, shown, fp);
  conn->srv->ops->authed(conn);
  return 0;
malformed:
  sshmux__conn_fail(conn, SSH_DISCONNECT_PROTOCOL_ERROR,
                    "malformed USERAUTH_REQUEST");
  return SSHMUX_EPROTO;
}

int sshmux__auth_request(sshmux_server_conn_t *conn, sshmux__buf_t *b,
                         const uint8_t *payload, size_t plen) {
  char *user = NULL;
  const uint8_t *svc, *method;
  size_t svc_n, method_n;
  int r;

  (void)plen;
  if (!conn->service_ok) {
    sshmux__conn_fail(conn, SSH_DISCONNECT_SERVICE_NOT_AVAILABLE,
                      "userauth before service request");
    return SSHMUX_EPROTO;
  }
  if (conn->state == SSHMUX__CONN_OPEN)
    return 0; /* after SUCCESS, further requests are ignored (§5.1) */
  if (sshmux__buf_get_cstring(b, 256, &user) != 0 ||
      sshmux__buf_get_string(b, AUTH_FIELD_MAX, &svc, &svc_n) != 0 ||
      sshmux__buf_get_string(b, AUTH_FIELD_MAX, &method, &method_n) != 0) {
    sshmux__free(user);
    sshmux__conn_fail(conn, SSH_DISCONNECT_PROTOCOL_ERROR,
                      "malformed USERAUTH_REQUEST");
    return SSHMUX_EPROTO;
  }
  if (svc_n != 14 || memcmp(svc, "ssh-connection", 14) != 0) {
    r = refuse(conn, 1);
  } else if (method_n == 9 && memcmp(method, "publickey", 9) == 0) {
    /* The name is the client's: logs get a sanitised copy. */
    char *shown = sshmux__sanitize(user, strlen(user), 0);
    r = auth_publickey(conn, b, user, shown ? shown : "?", payload);
    sshmux__free(shown);
  } else {
    /* "none" is the usual opening probe and costs nothing; password,
     * keyboard-interactive, hostbound and the rest count as failures. */
    int probe = method_n == 4 && memcmp(method, "none", 4) == 0;
    r = refuse(conn, !probe);
  }
  sshmux__free(user);
  return r;
}
