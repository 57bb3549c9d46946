/* test-core-encode.c -- base64 (RFC 4648 vectors, strictness) and the SHA256
 * fingerprint against ssh-keygen's own output. */
#include "core/core.h"
#include "crypto/crypto.h"
#include "fixture-sshd.h"
#include "test.h"

TEST_IMPL(encode_base64_vectors) {
  static const char *const plain[] = {"",     "f",     "fo",    "foo",
                                      "foob", "fooba", "foobar"};
  static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  char out[64];
  uint8_t dec[64];
  size_t n;

  for (size_t i = 0; i < SSHMUX__ARRAY_SIZE(plain); i++) {
    sshmux__base64_encode((const uint8_t *)plain[i], strlen(plain[i]), out);
    ASSERT_STR_EQ(out, enc[i]);
    ASSERT_OK(
        sshmux__base64_decode(enc[i], strlen(enc[i]), dec, sizeof(dec), &n));
    ASSERT_EQ(n, strlen(plain[i]));
    ASSERT_MEM_EQ(dec, plain[i], n);
  }
  ASSERT_ERR(sshmux__base64_decode("Zm9v!", 5, dec, sizeof(dec), &n),
             SSHMUX_EBADFORMAT);
  ASSERT_ERR(sshmux__base64_decode("Z", 1, dec, sizeof(dec), &n),
             SSHMUX_EBADFORMAT);
  ASSERT_ERR(sshmux__base64_decode("Zh==", 4, dec, sizeof(dec), &n),
             SSHMUX_EBADFORMAT); /* non-canonical trailing bits */
  ASSERT_ERR(sshmux__base64_decode("Zm9vYmFy", 8, dec, 5, &n), SSHMUX_ETOOLONG);
  return 0;
}

TEST_IMPL(encode_fingerprint_matches_ssh_keygen) {
  const char *argv[] = {"ssh-keygen", "-l", "-E", "sha256", "-f", NULL, NULL};
  char *pub, *out = NULL, *sp, *b64;
  uint8_t blob[1024];
  size_t n;
  char fp[64];
  char path[600];

  TEST_REQUIRE_PROGRAM("ssh-keygen");
  snprintf(path, sizeof(path), "%s", test_path("k"));
  ASSERT_OK(test_keygen("ed25519", path, NULL));
  strcat(path, ".pub");
  pub = test_read_file(path, NULL);
  ASSERT(pub != NULL);
  b64 = strchr(pub, ' ') + 1;
  sp = strchr(b64, ' ');
  ASSERT(sp != NULL);
  ASSERT_OK(
      sshmux__base64_decode(b64, (size_t)(sp - b64), blob, sizeof(blob), &n));
  ASSERT_OK(sshmux__fingerprint_sha256(blob, n, fp, sizeof(fp)));
  argv[5] = path;
  ASSERT_EQ(test_run_simple(argv, &out, NULL), 0);
  ASSERT_STR_CONTAINS(out, fp);
  free(out);
  free(pub);
  return 0;
}
