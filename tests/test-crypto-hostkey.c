/* test-crypto-hostkey.c -- host keys (lib/crypto/hostkey.c): signatures
 * checked by python3-cryptography, the key file format proven both ways
 * with ssh-keygen (it reads ours, we read its), the refusals (RSA, other
 * curves, passphrases, tampering, truncation) and the safe-file rules on
 * save (0600, symlink refused). */
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "fixture-sshd.h"
#include "pyref.h"
#include "test.h"

/* Verifies "keyblob sigblob data" lines (hex) with python3-cryptography,
 * parsing the SSH blobs itself; prints ok or bad per line. */
static const char py_verify[] =
    "import sys, struct\n"
    "from cryptography.hazmat.primitives.asymmetric.ed25519 import "
    "Ed25519PublicKey\n"
    "from cryptography.hazmat.primitives.asymmetric import ec, utils\n"
    "from cryptography.hazmat.primitives import hashes\n"
    "def rd(b):\n"
    "    n = struct.unpack('>I', b[:4])[0]\n"
    "    assert len(b) >= 4 + n\n"
    "    return b[4:4 + n], b[4 + n:]\n"
    "for line in sys.stdin:\n"
    "    kb, sb, data = [bytes.fromhex(x) for x in line.split()]\n"
    "    try:\n"
    "        kt, rest = rd(kb)\n"
    "        st, srest = rd(sb)\n"
    "        sig, tail = rd(srest)\n"
    "        assert kt == st and not tail\n"
    "        if kt == b'ssh-ed25519':\n"
    "            pk, rest = rd(rest)\n"
    "            assert not rest\n"
    "            Ed25519PublicKey.from_public_bytes(pk).verify(sig, data)\n"
    "        else:\n"
    "            assert kt == b'ecdsa-sha2-nistp256'\n"
    "            curve, rest = rd(rest)\n"
    "            q, rest = rd(rest)\n"
    "            assert curve == b'nistp256' and not rest\n"
    "            r, s2 = rd(sig)\n"
    "            s, tail = rd(s2)\n"
    "            assert not tail and r[0] < 0x80 and s[0] < 0x80\n"
    "            pub = ec.EllipticCurvePublicKey.from_encoded_point("
    "ec.SECP256R1(), q)\n"
    "            pub.verify(utils.encode_dss_signature("
    "int.from_bytes(r, 'big'), int.from_bytes(s, 'big')), data, "
    "ec.ECDSA(hashes.SHA256()))\n"
    "        print('ok')\n"
    "    except Exception as e:\n"
    "        print('bad', type(e).__name__)\n";

static void verify_line(char **in, size_t *len, const sshmux__hostkey_t *hk,
                        const uint8_t *data, size_t n, int corrupt) {
  sshmux__buf_t blob, sig;

  sshmux__buf_init(&blob, 4096);
  sshmux__buf_init(&sig, 4096);
  ASSERT_OK(sshmux__hostkey_public_blob(hk, &blob));
  ASSERT_OK(sshmux__hostkey_sign(hk, data, n, &sig));
  if (corrupt)
    sig.data[sig.len - 1] ^= 1;
  hex_append(in, len, blob.data, blob.len);
  str_appendf(in, len, " ");
  hex_append(in, len, sig.data, sig.len);
  str_appendf(in, len, " ");
  hex_append(in, len, data, n);
  str_appendf(in, len, "\n");
  sshmux__buf_free(&blob);
  sshmux__buf_free(&sig);
}

TEST_IMPL(hostkey_sign_verified_by_python) {
  sshmux__key_type_t types[] = {SSHMUX__KEY_ED25519, SSHMUX__KEY_ECDSA_P256};
  char *in = NULL, *out = NULL;
  size_t len = 0;
  uint8_t data[200];
  int r;

  if ((r = pyref_available()) != 0)
    return r;
  for (size_t t = 0; t < 2; t++) {
    for (int round = 0; round < 3; round++) {
      sshmux__hostkey_t *hk;
      ASSERT_OK(sshmux__hostkey_generate(&hk, types[t]));
      ASSERT_STR_EQ(sshmux__hostkey_alg(hk),
                    t == 0 ? "ssh-ed25519" : "ecdsa-sha2-nistp256");
      sshmux__random(data, sizeof(data));
      /* An exchange-hash-sized message, a longer one, and a corrupted
       * signature that the checker must call bad.  ECDSA: the second and
       * third signatures use the group the key kept from the first. */
      verify_line(&in, &len, hk, data, 32, 0);
      verify_line(&in, &len, hk, data, sizeof(data), 0);
      verify_line(&in, &len, hk, data, 32, 1);
      sshmux__hostkey_free(hk);
    }
  }
  pyref_run(py_verify, in, &out);
  ASSERT_STR_EQ(out, "ok\nok\nbad InvalidSignature\nok\nok\nbad "
                     "InvalidSignature\nok\nok\nbad InvalidSignature\n"
                     "ok\nok\nbad InvalidSignature\nok\nok\nbad "
                     "InvalidSignature\nok\nok\nbad InvalidSignature\n");
  free(in);
  free(out);
  return 0;
}

TEST_IMPL(hostkey_ecdsa_deterministic) {
  /* RFC 6979: the same key and message give the same signature; a different
   * message a different one. */
  sshmux__hostkey_t *hk;
  sshmux__buf_t a, b, c;

  ASSERT_OK(sshmux__hostkey_generate(&hk, SSHMUX__KEY_ECDSA_P256));
  sshmux__buf_init(&a, 1024);
  sshmux__buf_init(&b, 1024);
  sshmux__buf_init(&c, 1024);
  ASSERT_OK(sshmux__hostkey_sign(hk, (const uint8_t *)"hello", 5, &a));
  ASSERT_OK(sshmux__hostkey_sign(hk, (const uint8_t *)"hello", 5, &b));
  ASSERT_OK(sshmux__hostkey_sign(hk, (const uint8_t *)"hellp", 5, &c));
  ASSERT_EQ(a.len, b.len);
  ASSERT_MEM_EQ(a.data, b.data, a.len);
  ASSERT(a.len != c.len || memcmp(a.data, c.data, a.len) != 0);
  sshmux__buf_free(&a);
  sshmux__buf_free(&b);
  sshmux__buf_free(&c);
  sshmux__hostkey_free(hk);
  return 0;
}

/* The "alg base64" part of a public key line (up to the second space). */
static char *key_part(const char *line) {
  const char *sp = strchr(line, ' ');
  const char *end;

  ASSERT(sp != NULL);
  end = strpbrk(sp + 1, " \n");
  if (end == NULL)
    end = sp + 1 + strlen(sp + 1);
  return strndup(line, (size_t)(end - line));
}

TEST_IMPL(hostkey_ours_read_by_ssh_keygen) {
  const char *names[] = {"ed", "ec"};
  sshmux__key_type_t types[] = {SSHMUX__KEY_ED25519, SSHMUX__KEY_ECDSA_P256};

  TEST_REQUIRE_PROGRAM("ssh-keygen");
  for (int t = 0; t < 2; t++) {
    const char *argv[] = {"ssh-keygen", "-y", "-f", NULL, NULL};
    char path[600], pubpath[620];
    char *out = NULL, *line, *pub, *a, *b, *c;
    sshmux__hostkey_t *hk;
    struct stat st;

    snprintf(path, sizeof(path), "%s", test_path(names[t]));
    snprintf(pubpath, sizeof(pubpath), "%s.pub", path);
    ASSERT_OK(sshmux__hostkey_generate(&hk, types[t]));
    ASSERT_OK(sshmux__hostkey_save(hk, path, "test@sshmux"));
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0600);
    ASSERT_EQ(stat(pubpath, &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0644);

    argv[3] = path;
    ASSERT_EQ(test_run_simple(argv, &out, NULL), 0);
    ASSERT_OK(sshmux__hostkey_openssh_public(hk, NULL, &line));
    pub = test_read_file(pubpath, NULL);
    ASSERT(pub != NULL);
    a = key_part(out);
    b = key_part(line);
    c = key_part(pub);
    ASSERT_STR_EQ(a, b);
    ASSERT_STR_EQ(c, b);
    ASSERT_STR_CONTAINS(pub, " test@sshmux\n");
    ASSERT_STR_CONTAINS(out, "test@sshmux"); /* ssh-keygen read our comment */
    free(a);
    free(b);
    free(c);
    free(out);
    free(pub);
    sshmux__free(line);
    sshmux__hostkey_free(hk);
  }
  return 0;
}

/* Decode the blob of a .pub file. */
static size_t pub_blob(const char *pubpath, uint8_t *blob, size_t cap) {
  char *pub = test_read_file(pubpath, NULL), *b64, *sp;
  size_t n;

  ASSERT(pub != NULL);
  b64 = strchr(pub, ' ') + 1;
  sp = strpbrk(b64, " \n");
  ASSERT(sp != NULL);
  ASSERT_OK(sshmux__base64_decode(b64, (size_t)(sp - b64), blob, cap, &n));
  free(pub);
  return n;
}

TEST_IMPL(hostkey_theirs_loaded) {
  const char *types[] = {"ed25519", "ecdsa"};
  char *in = NULL, *out = NULL;
  size_t inlen = 0;
  int r;

  TEST_REQUIRE_PROGRAM("ssh-keygen");
  if ((r = pyref_available()) != 0)
    return r;
  for (int t = 0; t < 2; t++) {
    char path[600], pubpath[620], copy[620];
    uint8_t want[1024];
    size_t wn;
    sshmux__hostkey_t *hk, *hk2;
    sshmux__buf_t blob, blob2;

    snprintf(path, sizeof(path), "%s", test_path(types[t]));
    snprintf(pubpath, sizeof(pubpath), "%s.pub", path);
    snprintf(copy, sizeof(copy), "%s.copy", path);
    ASSERT_OK(test_keygen(types[t], path, NULL));
    ASSERT_OK(sshmux__hostkey_load(&hk, path));
    wn = pub_blob(pubpath, want, sizeof(want));
    sshmux__buf_init(&blob, 1024);
    ASSERT_OK(sshmux__hostkey_public_blob(hk, &blob));
    ASSERT_EQ(blob.len, wn);
    ASSERT_MEM_EQ(blob.data, want, wn);
    /* It signs as that key (python checks against ssh-keygen's blob). */
    verify_line(&in, &inlen, hk, (const uint8_t *)"exchange hash", 13, 0);
    /* Saved again by us and reloaded, it is still the same key, and the
     * comment survived. */
    ASSERT_OK(sshmux__hostkey_save(hk, copy, NULL));
    ASSERT_OK(sshmux__hostkey_load(&hk2, copy));
    sshmux__buf_init(&blob2, 1024);
    ASSERT_OK(sshmux__hostkey_public_blob(hk2, &blob2));
    ASSERT_EQ(blob2.len, wn);
    ASSERT_MEM_EQ(blob2.data, want, wn);
    {
      char pp[640], *pub;
      snprintf(pp, sizeof(pp), "%s.pub", copy);
      pub = test_read_file(pp, NULL);
      ASSERT_STR_CONTAINS(pub, " sshmux-test\n");
      free(pub);
    }
    sshmux__buf_free(&blob);
    sshmux__buf_free(&blob2);
    sshmux__hostkey_free(hk);
    sshmux__hostkey_free(hk2);
  }
  pyref_run(py_verify, in, &out);
  ASSERT_STR_EQ(out, "ok\nok\n");
  free(in);
  free(out);
  return 0;
}

TEST_IMPL(hostkey_refusals) {
  const char *rsa[] = {"ssh-keygen", "-q", "-t", "rsa", "-b", "2048",
                       "-N",         "",   "-f", NULL,  NULL};
  const char *p384[] = {"ssh-keygen", "-q", "-t", "ecdsa", "-b", "384",
                        "-N",         "",   "-f", NULL,    NULL};
  sshmux__hostkey_t *hk = NULL;
  char *text;
  size_t len;

  TEST_REQUIRE_PROGRAM("ssh-keygen");
  rsa[9] = test_path("rsa");
  ASSERT_EQ(test_run_simple(rsa, NULL, NULL), 0);
  ASSERT_ERR(sshmux__hostkey_load(&hk, test_path("rsa")), SSHMUX_EUNSUPPORTED);
  p384[9] = test_path("p384");
  ASSERT_EQ(test_run_simple(p384, NULL, NULL), 0);
  ASSERT_ERR(sshmux__hostkey_load(&hk, test_path("p384")), SSHMUX_EUNSUPPORTED);
  ASSERT_OK(test_keygen("ed25519", test_path("enc"), "secret passphrase"));
  ASSERT_ERR(sshmux__hostkey_load(&hk, test_path("enc")), SSHMUX_EUNSUPPORTED);
  ASSERT_ERR(sshmux__hostkey_load(&hk, test_path("missing")), UV_ENOENT);
  ASSERT_EQ(test_write_file(test_path("garbage"), "hello\n", 0600), 0);
  ASSERT_ERR(sshmux__hostkey_load(&hk, test_path("garbage")),
             SSHMUX_EBADFORMAT);
  /* A PEM (PKCS#8 / SEC1) key is not the OpenSSH format. */
  ASSERT_EQ(test_write_file(test_path("pem"),
                            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n"
                            "-----END EC PRIVATE KEY-----\n",
                            0600),
            0);
  ASSERT_ERR(sshmux__hostkey_load(&hk, test_path("pem")), SSHMUX_EBADFORMAT);

  /* Every truncation of a good file is refused, and single-character
   * changes of its base64 are refused unless they hit the free-text comment;
   * never a crash.  The public key in the header is cross-checked against
   * the private half, the two checkints against each other. */
  ASSERT_OK(test_keygen("ecdsa", test_path("good"), NULL));
  text = test_read_file(test_path("good"), &len);
  ASSERT(text != NULL);
  ASSERT_OK(sshmux__hostkey_parse(&hk, text, len));
  sshmux__hostkey_free(hk);
  for (size_t n = 0; n < len - 40; n++) {
    hk = NULL;
    ASSERT(sshmux__hostkey_parse(&hk, text, n) != 0);
    ASSERT(hk == NULL);
  }
  {
    size_t start = strlen("-----BEGIN OPENSSH PRIVATE KEY-----\n");
    int refused = 0, loaded = 0;
    for (size_t i = start; i < len - 40; i += 3) {
      char saved = text[i];
      if (saved == '\n')
        continue;
      text[i] = saved == 'A' ? 'B' : 'A';
      hk = NULL;
      if (sshmux__hostkey_parse(&hk, text, len) == 0) {
        loaded++;
        sshmux__hostkey_free(hk);
      } else {
        refused++;
      }
      text[i] = saved;
    }
    /* Only changes in the comment can load; it is a few bytes of ~400. */
    fprintf(stderr, "mutations: %d refused, %d loaded\n", refused, loaded);
    ASSERT_GT(refused, 10 * loaded);
  }
  free(text);
  return 0;
}

TEST_IMPL(hostkey_save_refuses_symlink) {
  sshmux__hostkey_t *hk;
  char *t;

  ASSERT_OK(sshmux__hostkey_generate(&hk, SSHMUX__KEY_ED25519));
  ASSERT_EQ(test_write_file(test_path("victim"), "keep me\n", 0644), 0);
  ASSERT_EQ(symlink(test_path("victim"), test_path("key")), 0);
  ASSERT_ERR(sshmux__hostkey_save(hk, test_path("key"), "x"), SSHMUX_ESYMLINK);
  t = test_read_file(test_path("victim"), NULL);
  ASSERT_STR_EQ(t, "keep me\n");
  free(t);
  /* A newline in the comment would break the .pub line. */
  ASSERT_ERR(sshmux__hostkey_save(hk, test_path("k2"), "a\nb"), SSHMUX_EINVAL);
  ASSERT(access(test_path("k2"), F_OK) != 0);
  sshmux__hostkey_free(hk);
  return 0;
}

TEST_IMPL(hostkey_load_or_create) {
  sshmux__hostkey_t *a, *b;
  sshmux__buf_t ba, bb;
  struct stat st;

  ASSERT_OK(sshmux__hostkey_load_or_create(&a, test_path("hk"),
                                           SSHMUX__KEY_ECDSA_P256));
  ASSERT_EQ(stat(test_path("hk"), &st), 0);
  ASSERT_EQ(st.st_mode & 0777, 0600);
  ASSERT_OK(
      sshmux__hostkey_load_or_create(&b, test_path("hk"), SSHMUX__KEY_ED25519));
  /* The second call loaded the first key instead of making a new one. */
  ASSERT_STR_EQ(sshmux__hostkey_alg(b), "ecdsa-sha2-nistp256");
  sshmux__buf_init(&ba, 1024);
  sshmux__buf_init(&bb, 1024);
  ASSERT_OK(sshmux__hostkey_public_blob(a, &ba));
  ASSERT_OK(sshmux__hostkey_public_blob(b, &bb));
  ASSERT_EQ(ba.len, bb.len);
  ASSERT_MEM_EQ(ba.data, bb.data, ba.len);
  sshmux__buf_free(&ba);
  sshmux__buf_free(&bb);
  sshmux__hostkey_free(a);
  sshmux__hostkey_free(b);
  return 0;
}
