/* test-crypto-pubkey.c -- user signature verification (lib/crypto/pubkey.c)
 * with keys made by ssh-keygen at test time and raw SSH signature blobs
 * made from those key files by python3-cryptography (an implementation
 * independent of ours), plus every refusal: flipped bits, mismatched
 * algorithms, SHA-1 ssh-rsa, small RSA, certificates, security keys and
 * malformed blobs. */
#include <unistd.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "fixture-sshd.h"
#include "pyref.h"
#include "test.h"

/* Input lines "keyfile alg datahex mode"; output "datahex sigblobhex".
 * mode "strip": keep extending the data until the raw RSA signature starts
 * with a zero byte, and drop it, as some clients do. */
static const char py_sign[] =
    "import sys, struct\n"
    "from cryptography.hazmat.primitives import serialization, hashes\n"
    "from cryptography.hazmat.primitives.asymmetric import ec, ed25519, "
    "padding, utils\n"
    "def s(b): return struct.pack('>I', len(b)) + b\n"
    "def mp(x): return s(x.to_bytes(x.bit_length() // 8 + 1, 'big'))\n"
    "for line in sys.stdin:\n"
    "    path, alg, data, mode = line.split()\n"
    "    data = bytes.fromhex(data)\n"
    "    k = serialization.load_ssh_private_key(open(path, 'rb').read(), "
    "None)\n"
    "    while True:\n"
    "        if isinstance(k, ed25519.Ed25519PrivateKey):\n"
    "            raw = k.sign(data)\n"
    "        elif isinstance(k, ec.EllipticCurvePrivateKey):\n"
    "            h = {256: hashes.SHA256(), 384: hashes.SHA384(), "
    "521: hashes.SHA512()}[k.curve.key_size]\n"
    "            r, t = utils.decode_dss_signature(k.sign(data, ec.ECDSA(h)))\n"
    "            raw = mp(r) + mp(t)\n"
    "        else:\n"
    "            h = {'rsa-sha2-256': hashes.SHA256(), 'rsa-sha2-512': "
    "hashes.SHA512(), 'ssh-rsa': hashes.SHA1()}[alg]\n"
    "            raw = k.sign(data, padding.PKCS1v15(), h)\n"
    "        if mode != 'strip' or raw[0] == 0:\n"
    "            break\n"
    "        data += b'x'\n"
    "    if mode == 'strip':\n"
    "        raw = raw.lstrip(b'\\0')\n"
    "    print(data.hex(), (s(alg.encode()) + s(raw)).hex())\n";

typedef struct {
  const char *file, *alg, *mode;
  uint8_t *data, *sig;
  size_t data_len, sig_len;
} signed_t;

static signed_t sg[] = {
    {"ed", "ssh-ed25519", "plain", NULL, NULL, 0, 0},
    {"p256", "ecdsa-sha2-nistp256", "plain", NULL, NULL, 0, 0},
    {"p384", "ecdsa-sha2-nistp384", "plain", NULL, NULL, 0, 0},
    {"p521", "ecdsa-sha2-nistp521", "plain", NULL, NULL, 0, 0},
    {"rsa", "rsa-sha2-256", "plain", NULL, NULL, 0, 0},
    {"rsa", "rsa-sha2-512", "plain", NULL, NULL, 0, 0},
    {"rsa", "ssh-rsa", "plain", NULL, NULL, 0, 0},
    {"rsa1024", "rsa-sha2-256", "plain", NULL, NULL, 0, 0},
    {"rsa", "rsa-sha2-256", "strip", NULL, NULL, 0, 0},
};
#define N_OK 6 /* the first six are valid and accepted */

typedef struct {
  uint8_t blob[2048];
  size_t len;
} blob_t;

static void keygen(const char *type, const char *bits, const char *name) {
  const char *argv[] = {"ssh-keygen", "-q", "-t", type, "-b", bits, "-N",
                        "",           "-C", "t",  "-f", NULL, NULL};
  argv[11] = test_path(name);
  unlink(argv[11]);
  ASSERT_EQ(test_run_simple(argv, NULL, NULL), 0);
}

static void read_pub(const char *name, blob_t *b) {
  char path[700], *pub, *b64, *sp;

  snprintf(path, sizeof(path), "%s.pub", test_path(name));
  pub = test_read_file(path, NULL);
  ASSERT(pub != NULL);
  b64 = strchr(pub, ' ') + 1;
  sp = strpbrk(b64, " \n");
  ASSERT(sp != NULL);
  ASSERT_OK(sshmux__base64_decode(b64, (size_t)(sp - b64), b->blob,
                                  sizeof(b->blob), &b->len));
  free(pub);
}

static blob_t keys[6];
static const char *const key_files[6] = {"ed",   "p256", "p384",
                                         "p521", "rsa",  "rsa1024"};

static const blob_t *key_of(const char *file) {
  for (int i = 0; i < 6; i++)
    if (strcmp(key_files[i], file) == 0)
      return &keys[i];
  ASSERT(0);
  return NULL;
}

/* Make the keys and the signatures; 0, or a skip code. */
static int setup(void) {
  char *in = NULL, *out = NULL, *line, *save = NULL, *sp;
  size_t inlen = 0;
  uint8_t data[48];
  int r;

  TEST_REQUIRE_PROGRAM("ssh-keygen");
  if ((r = pyref_available()) != 0)
    return r;
  keygen("ed25519", "256", "ed");
  keygen("ecdsa", "256", "p256");
  keygen("ecdsa", "384", "p384");
  keygen("ecdsa", "521", "p521");
  keygen("rsa", "2048", "rsa");
  keygen("rsa", "1024", "rsa1024");
  for (int i = 0; i < 6; i++)
    read_pub(key_files[i], &keys[i]);
  for (size_t i = 0; i < SSHMUX__ARRAY_SIZE(sg); i++) {
    /* What a client signs: session id, request fields... any bytes. */
    sshmux__random(data, sizeof(data));
    str_appendf(&in, &inlen, "%s %s ", test_path(sg[i].file), sg[i].alg);
    hex_append(&in, &inlen, data, sizeof(data));
    str_appendf(&in, &inlen, " %s\n", sg[i].mode);
  }
  pyref_run(py_sign, in, &out);
  line = strtok_r(out, "\n", &save);
  for (size_t i = 0; i < SSHMUX__ARRAY_SIZE(sg); i++) {
    ASSERT(line != NULL);
    sp = strchr(line, ' ');
    ASSERT(sp != NULL);
    sg[i].data_len = (size_t)(sp - line) / 2;
    sg[i].sig_len = strlen(sp + 1) / 2;
    sg[i].data = malloc(sg[i].data_len);
    sg[i].sig = malloc(sg[i].sig_len + 1);
    hex_decode(line, sg[i].data, sg[i].data_len);
    hex_decode(sp + 1, sg[i].sig, sg[i].sig_len);
    line = strtok_r(NULL, "\n", &save);
  }
  free(in);
  free(out);
  return 0;
}

static void teardown(void) {
  for (size_t i = 0; i < SSHMUX__ARRAY_SIZE(sg); i++) {
    free(sg[i].data);
    free(sg[i].sig);
  }
}

static int verify_as(size_t i, const char *alg) {
  const blob_t *k = key_of(sg[i].file);
  return sshmux__pubkey_verify(alg, k->blob, k->len, sg[i].sig, sg[i].sig_len,
                               sg[i].data, sg[i].data_len);
}

TEST_IMPL(pubkey_verify_valid_and_tampered) {
  int r;

  if ((r = setup()) != 0)
    return r;
  for (size_t i = 0; i < N_OK; i++) {
    const blob_t *k = key_of(sg[i].file);
    ASSERT_OK(verify_as(i, sg[i].alg));
    /* A flipped bit in the signed data, or in the signature's last byte
     * (Ed25519 S, ECDSA s, RSA signature), is a failed authentication. */
    sg[i].data[sg[i].data_len / 2] ^= 0x10;
    ASSERT_ERR(verify_as(i, sg[i].alg), SSHMUX_EAUTH);
    sg[i].data[sg[i].data_len / 2] ^= 0x10;
    sg[i].sig[sg[i].sig_len - 1] ^= 0x01;
    ASSERT_ERR(verify_as(i, sg[i].alg), SSHMUX_EAUTH);
    sg[i].sig[sg[i].sig_len - 1] ^= 0x01;
    /* And one bit in the key itself. */
    {
      blob_t kk = *k;
      kk.blob[kk.len - 2] ^= 0x04;
      r = sshmux__pubkey_verify(sg[i].alg, kk.blob, kk.len, sg[i].sig,
                                sg[i].sig_len, sg[i].data, sg[i].data_len);
      /* ECDSA: the point usually leaves the curve (malformed key). */
      ASSERT(r == SSHMUX_EAUTH || r == SSHMUX_EBADFORMAT);
    }
    ASSERT_OK(verify_as(i, sg[i].alg));
  }
  /* RSA signature with its leading zero byte dropped: padded back. */
  ASSERT_LT(sg[8].sig_len, 4 + 12 + 4 + 256);
  ASSERT_OK(verify_as(8, "rsa-sha2-256"));
  teardown();
  return 0;
}

TEST_IMPL(pubkey_refusals) {
  int r;

  if ((r = setup()) != 0)
    return r;
  /* The request names another algorithm than the signature: rsa-sha2-256
   * presented as rsa-sha2-512, Ed25519 as ECDSA, P-256 as P-384. */
  ASSERT_ERR(verify_as(4, "rsa-sha2-512"), SSHMUX_EAUTH);
  ASSERT_ERR(verify_as(0, "ecdsa-sha2-nistp256"), SSHMUX_EAUTH);
  ASSERT_ERR(verify_as(1, "ecdsa-sha2-nistp384"), SSHMUX_EAUTH);
  /* A P-256 signature against a P-384 key. */
  ASSERT_ERR(sshmux__pubkey_verify("ecdsa-sha2-nistp256", keys[2].blob,
                                   keys[2].len, sg[1].sig, sg[1].sig_len,
                                   sg[1].data, sg[1].data_len),
             SSHMUX_EAUTH);
  /* SHA-1 ssh-rsa: refused whether the request or the signature says so
   * (the signature itself is valid: python made it). */
  ASSERT_ERR(verify_as(6, "ssh-rsa"), SSHMUX_EUNSUPPORTED);
  ASSERT_ERR(verify_as(6, "rsa-sha2-256"), SSHMUX_EUNSUPPORTED);
  /* A valid signature by a 1024-bit RSA key. */
  ASSERT_ERR(verify_as(7, "rsa-sha2-256"), SSHMUX_EUNSUPPORTED);
  /* Unknown and refused algorithm names. */
  ASSERT_ERR(verify_as(0, "ssh-dss"), SSHMUX_EUNSUPPORTED);
  ASSERT_ERR(verify_as(0, "ssh-ed25519-cert-v01@openssh.com"),
             SSHMUX_EUNSUPPORTED);
  ASSERT_ERR(verify_as(0, "sk-ssh-ed25519@openssh.com"), SSHMUX_EUNSUPPORTED);

  /* A certificate made by ssh-keygen -s for the Ed25519 key, presented
   * with the plain key's valid signature. */
  {
    const char *ca[] = {"ssh-keygen", "-q", "-t", "ed25519", "-N",
                        "",           "-f", NULL, NULL};
    const char *sign[] = {"ssh-keygen", "-q", "-s", NULL, "-I",
                          "id",         "-n", "u",  NULL, NULL};
    char pub[700];
    blob_t cert;
    ca[7] = test_path("ca");
    ASSERT_EQ(test_run_simple(ca, NULL, NULL), 0);
    snprintf(pub, sizeof(pub), "%s.pub", test_path("ed"));
    sign[3] = test_path("ca");
    sign[8] = pub;
    ASSERT_EQ(test_run_simple(sign, NULL, NULL), 0);
    read_pub("ed-cert", &cert);
    ASSERT_ERR(sshmux__pubkey_verify("ssh-ed25519-cert-v01@openssh.com",
                                     cert.blob, cert.len, sg[0].sig,
                                     sg[0].sig_len, sg[0].data, sg[0].data_len),
               SSHMUX_EUNSUPPORTED);
    ASSERT_ERR(sshmux__pubkey_verify("ssh-ed25519", cert.blob, cert.len,
                                     sg[0].sig, sg[0].sig_len, sg[0].data,
                                     sg[0].data_len),
               SSHMUX_EUNSUPPORTED);
  }
  /* A security-key blob (PROTOCOL.u2f): the Ed25519 key plus an
   * application string, under the sk- type name. */
  {
    sshmux__buf_t b, kb;
    const uint8_t *pk;
    size_t pn;
    sshmux__buf_init(&b, 1024);
    sshmux__buf_view(&kb, keys[0].blob, keys[0].len);
    ASSERT_OK(sshmux__buf_get_string(&kb, 64, &pk, &pn));
    ASSERT_OK(sshmux__buf_get_string(&kb, 64, &pk, &pn));
    ASSERT_OK(sshmux__buf_put_cstring(&b, "sk-ssh-ed25519@openssh.com"));
    ASSERT_OK(sshmux__buf_put_string(&b, pk, pn));
    ASSERT_OK(sshmux__buf_put_cstring(&b, "ssh:"));
    ASSERT_ERR(sshmux__pubkey_verify("ssh-ed25519", b.data, b.len, sg[0].sig,
                                     sg[0].sig_len, sg[0].data, sg[0].data_len),
               SSHMUX_EUNSUPPORTED);
    sshmux__buf_free(&b);
  }
  teardown();
  return 0;
}

TEST_IMPL(pubkey_malformed) {
  uint8_t big[4096];
  int r;

  if ((r = setup()) != 0)
    return r;
  for (size_t i = 0; i < N_OK; i++) {
    const blob_t *k = key_of(sg[i].file);
    /* Every truncation of the key blob and of the signature blob. */
    for (size_t n = 0; n < k->len; n++)
      ASSERT_ERR(sshmux__pubkey_verify(sg[i].alg, k->blob, n, sg[i].sig,
                                       sg[i].sig_len, sg[i].data,
                                       sg[i].data_len),
                 SSHMUX_EBADFORMAT);
    for (size_t n = 0; n < sg[i].sig_len; n++)
      ASSERT_ERR(sshmux__pubkey_verify(sg[i].alg, k->blob, k->len, sg[i].sig, n,
                                       sg[i].data, sg[i].data_len),
                 SSHMUX_EBADFORMAT);
    /* A trailing byte after either blob. */
    memcpy(big, k->blob, k->len);
    big[k->len] = 0;
    ASSERT_ERR(sshmux__pubkey_verify(sg[i].alg, big, k->len + 1, sg[i].sig,
                                     sg[i].sig_len, sg[i].data, sg[i].data_len),
               SSHMUX_EBADFORMAT);
    memcpy(big, sg[i].sig, sg[i].sig_len);
    big[sg[i].sig_len] = 0;
    ASSERT_ERR(sshmux__pubkey_verify(sg[i].alg, k->blob, k->len, big,
                                     sg[i].sig_len + 1, sg[i].data,
                                     sg[i].data_len),
               SSHMUX_EBADFORMAT);
  }
  /* An ECDSA point off the curve: the last byte of y changed, which
   * leaves the curve with overwhelming probability (checked by the
   * other outcome not being success). */
  {
    blob_t kk = keys[1];
    kk.blob[kk.len - 1] ^= 0x01;
    ASSERT_ERR(sshmux__pubkey_verify("ecdsa-sha2-nistp256", kk.blob, kk.len,
                                     sg[1].sig, sg[1].sig_len, sg[1].data,
                                     sg[1].data_len),
               SSHMUX_EBADFORMAT);
  }
  teardown();
  return 0;
}

TEST_IMPL(pubkey_names) {
  uint8_t blob[64];
  char out[64];
  sshmux__buf_t b;

  ASSERT(sshmux__sig_alg_supported("ssh-ed25519"));
  ASSERT(sshmux__sig_alg_supported("ecdsa-sha2-nistp521"));
  ASSERT(sshmux__sig_alg_supported("rsa-sha2-512"));
  ASSERT(sshmux__sig_alg_supported("rsa-sha2-256"));
  ASSERT(!sshmux__sig_alg_supported("ssh-rsa"));
  ASSERT(!sshmux__sig_alg_supported("ssh-ed25519-cert-v01@openssh.com"));
  ASSERT(!sshmux__sig_alg_supported("sk-ecdsa-sha2-nistp256@openssh.com"));
  ASSERT(!sshmux__sig_alg_supported("ssh-ed2551"));
  /* Every advertised name is one we verify. */
  {
    char list[] = SSHMUX__SIG_ALGS, *save = NULL;
    for (char *n = strtok_r(list, ",", &save); n;
         n = strtok_r(NULL, ",", &save))
      ASSERT(sshmux__sig_alg_supported(n));
  }

  sshmux__buf_init(&b, sizeof(blob));
  ASSERT_OK(sshmux__buf_put_cstring(&b, "ssh-ed25519"));
  ASSERT_OK(sshmux__pubkey_blob_type(b.data, b.len, out, sizeof(out)));
  ASSERT_STR_EQ(out, "ssh-ed25519");
  ASSERT_ERR(sshmux__pubkey_blob_type(b.data, b.len, out, 11), SSHMUX_ETOOLONG);
  ASSERT_ERR(sshmux__pubkey_blob_type(b.data, b.len - 1, out, sizeof(out)),
             SSHMUX_EBADFORMAT);
  sshmux__buf_free(&b);
  return 0;
}
