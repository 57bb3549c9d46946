/* test-crypto-keyfile.c -- sshmux__userkey_needs_passphrase(), which the
 * pool asks before a login whether to ask for an identity's passphrase, on
 * real keys from ssh-keygen: OpenSSH format plain and protected (each key
 * type), PEM RSA/EC plain and protected, PKCS#8 protected, with LF and
 * CRLF line ends; and on what is not a key.  (Fuzzed, with the parser, by
 * tests/fuzz/fuzz-crypto-userkey.c.) */
#include <string.h>

#include "crypto/crypto.h"
#include "test.h"

/* ssh-keygen a key into the test dir; returns its text. */
static char *keygen(const char *name, const char *type, const char *format,
                    const char *pass, size_t *len) {
  const char *path = test_path(name);
  /* The smallest RSA size ssh-keygen makes: the test is about the file. */
  const char *bits = strcmp(type, "rsa") == 0 ? "1024" : "256";
  const char *argv[] = {"ssh-keygen", "-q", "-t", type,   "-b",
                        bits,         "-N", pass, "-C",   "test",
                        "-f",         path, "-m", format, NULL};
  char *text;

  ASSERT_EQ(test_run_simple(argv, NULL, NULL), 0);
  text = test_read_file(path, len);
  ASSERT(text != NULL);
  return text;
}

TEST_IMPL(crypto_keyfile_encrypted_detected) {
  static const struct {
    const char *type, *format, *pass;
    int enc;
  } keys[] = {{"ed25519", "RFC4716", "", 0},
              {"ed25519", "RFC4716", "secret pass", 1},
              {"ecdsa", "RFC4716", "", 0},
              {"ecdsa", "RFC4716", "secret pass", 1},
              {"rsa", "RFC4716", "", 0},
              {"rsa", "RFC4716", "secret pass", 1},
              {"rsa", "PEM", "", 0},
              {"rsa", "PEM", "secret pass", 1},
              {"ecdsa", "PEM", "", 0},
              {"ecdsa", "PEM", "secret pass", 1},
              {"ecdsa", "PKCS8", "secret pass", 1}};

  TEST_REQUIRE_PROGRAM("ssh-keygen");
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
    char name[32];
    size_t len;
    char *text;
    snprintf(name, sizeof(name), "key%zu", i);
    text = keygen(name, keys[i].type, keys[i].format, keys[i].pass, &len);
    if (sshmux__userkey_needs_passphrase(text, len) != keys[i].enc)
      test_fail(__FILE__, __LINE__, "%s %s key %s: expected %s", keys[i].type,
                keys[i].format, *keys[i].pass ? "with passphrase" : "plain",
                keys[i].enc ? "encrypted" : "not encrypted");
    /* CRLF line ends (a file copied from Windows) change nothing. */
    {
      char *crlf = malloc(2 * len + 1);
      size_t o = 0;
      ASSERT(crlf != NULL);
      for (size_t j = 0; j < len; j++) {
        if (text[j] == '\n')
          crlf[o++] = '\r';
        crlf[o++] = text[j];
      }
      ASSERT_EQ(sshmux__userkey_needs_passphrase(crlf, o), keys[i].enc);
      free(crlf);
    }
    free(text);
  }
  return 0;
}

TEST_IMPL(crypto_keyfile_not_a_key) {
  static const char *const texts[] = {
      "", "\n\n", "-----BEGIN OPENSSH PRIVATE KEY-----\n",
      "-----BEGIN OPENSSH PRIVATE KEY-----\n!!!!\n-----END OPENSSH PRIVATE "
      "KEY-----\n",
      /* Base64 of "openssh-key-v1\0" cut short before the cipher name. */
      "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n"};
  /* Never "ask for a passphrase" (0, or < 0: an unreadable OpenSSH
   * file, which the login then reports). */
  for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
    ASSERT_LE(sshmux__userkey_needs_passphrase(texts[i], strlen(texts[i])), 0);
  /* Bytes with NULs in them are fine too. */
  ASSERT_EQ(sshmux__userkey_needs_passphrase("\0Proc-Type: 4,ENCRYPTED\0", 24),
            1);
  return 0;
}
