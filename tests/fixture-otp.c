/* fixture-otp.c -- the OTP-asking sshd (PAM + pam_oath in a private mount
 * namespace); see fixture-otp.h. */
#include <errno.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture-otp.h"
#include "core/core.h"
#include "test.h"

/* `unshare -m` gives sshd a private mount namespace; inside it, before
 * exec'ing sshd, our PAM directory is bound over /etc/pam.d.  $0 is that
 * directory, "$@" the sshd command line the sshd fixture appends. */
static const char bind_script[] =
    "mount --bind \"$0\" /etc/pam.d && exec \"$@\"";

int test_otp_sshd_start(test_otp_sshd *o, const test_otp_opts *opts) {
  static const test_otp_opts defaults;
  test_sshd_opts so;
  uint8_t key[20];
  char path[700], pam[1500], users[200], prepend[400];
  const char *wrap[9];
  struct passwd *pw;

  if (opts == NULL)
    opts = &defaults;
  memset(o, 0, sizeof(*o));
  memset(&so, 0, sizeof(so));
  if (opts->sshd != NULL) {
    so = *opts->sshd;
    if (so.wrap != NULL || so.prepend_config != NULL) {
      fprintf(stderr, "otp fixture: wrap/prepend_config are its own\n");
      return -1;
    }
  }
  o->window = opts->window > 0 ? opts->window : 5;
  o->with_pubkey = opts->with_pubkey;

  sshmux__random(key, sizeof(key));
  for (size_t i = 0; i < sizeof(key); i++)
    snprintf(o->secret + 2 * i, 3, "%02x", key[i]);

  if (so.name == NULL)
    so.name = "otp-sshd";
  snprintf(path, sizeof(path), "%s-pam.d", so.name);
  snprintf(o->pam_dir, sizeof(o->pam_dir), "%s", test_path(path));
  if (mkdir(o->pam_dir, 0755) != 0 && errno != EEXIST) {
    perror("otp fixture: mkdir");
    return -1;
  }
  /* The sshd fixture logs in as the current user; pam_oath must know that
   * name before sshd starts. */
  pw = getpwuid(getuid());
  if (pw == NULL) {
    fprintf(stderr, "otp fixture: no passwd entry for uid %d\n", (int)getuid());
    return -1;
  }
  snprintf(o->usersfile, sizeof(o->usersfile), "%s.users.oath", o->pam_dir);
  snprintf(users, sizeof(users), "HOTP %s - %s\n", pw->pw_name, o->secret);
  if (test_write_file(o->usersfile, users, 0600) != 0)
    return -1;
  snprintf(pam, sizeof(pam),
           "# sshmux test PAM stack: one-time codes only (fixture-otp.c)\n"
           "auth     required pam_oath.so usersfile=%s window=%d digits=6\n"
           "account  required pam_permit.so\n"
           "session  required pam_permit.so\n"
           "password required pam_deny.so\n",
           o->usersfile, o->window);
  snprintf(path, sizeof(path), "%s/sshd", o->pam_dir);
  if (test_write_file(path, pam, 0644) != 0)
    return -1;

  snprintf(prepend, sizeof(prepend),
           "UsePAM yes\n"
           "KbdInteractiveAuthentication yes\n"
           "PermitRootLogin yes\n"
           "AuthenticationMethods %s\n",
           o->with_pubkey ? "publickey,keyboard-interactive"
           : opts->either ? "any"
                          : "keyboard-interactive");
  wrap[0] = "unshare";
  wrap[1] = "-m";
  wrap[2] = "--propagation";
  wrap[3] = "private";
  wrap[4] = "sh";
  wrap[5] = "-c";
  wrap[6] = bind_script;
  wrap[7] = o->pam_dir;
  wrap[8] = NULL;
  so.wrap = wrap;
  so.prepend_config = prepend;
  return test_sshd_start(&o->sshd, &so);
}

void test_otp_sshd_stop(test_otp_sshd *o) {
  test_sshd_stop(&o->sshd);
}

/* Codes for counters counter..counter+extra, one per line, from oathtool. */
static char *codes(const test_otp_sshd *o, int extra) {
  char c[32], w[16];
  const char *argv[] = {"oathtool", "--hotp", "-d", "6",       "-c",
                        c,          "-w",     w,    o->secret, NULL};
  char *out = NULL;

  snprintf(c, sizeof(c), "%llu", (unsigned long long)o->counter);
  snprintf(w, sizeof(w), "%d", extra);
  if (test_run_simple(argv, &out, NULL) != 0) {
    free(out);
    return NULL;
  }
  return out;
}

int test_otp_next_code(test_otp_sshd *o, char out[7]) {
  char *all = codes(o, 0);

  if (all == NULL || strlen(all) < 6) {
    free(all);
    return -1;
  }
  memcpy(out, all, 6);
  out[6] = '\0';
  free(all);
  o->counter++;
  return 0;
}

int test_otp_wrong_code(test_otp_sshd *o, char out[7]) {
  char *all = codes(o, o->window + 1);
  unsigned v;

  if (all == NULL || strlen(all) < 6) {
    free(all);
    return -1;
  }
  /* Start half-way round from the next valid code; step until the value
   * is none of the window's codes. */
  v = ((unsigned)strtoul(all, NULL, 10) + 500000u) % 1000000u;
  for (;;) {
    snprintf(out, 7, "%06u", v);
    if (strstr(all, out) == NULL)
      break;
    v = (v + 1) % 1000000u;
  }
  free(all);
  return 0;
}

int test_otp_askpass(const char *path, const char *code) {
  char script[128];

  snprintf(script, sizeof(script), "#!/bin/sh\necho %s\n", code);
  if (test_write_file(path, script, 0700) != 0)
    return -1;
  return chmod(path, 0700);
}

const char *const *test_otp_ssh_argv(test_otp_sshd *o, const char *command) {
  static test_argv_t a;
  /* ssh keeps the first value of an option: these win over the
   * fixture's BatchMode=yes. */
  const char *first[] = {
      "-o",
      "BatchMode=no",
      "-o",
      "KbdInteractiveAuthentication=yes",
      "-o",
      o->with_pubkey ? "PreferredAuthentications=publickey,keyboard-interactive"
                     : "PreferredAuthentications=keyboard-interactive",
      "-o",
      "NumberOfPasswordPrompts=1",
      NULL};

  return test_sshd_ssh_argv(&a, &o->sshd, first, command);
}

const char *const *test_otp_env(const char *askpass) {
  static char var[700];
  static const char *env[4];

  snprintf(var, sizeof(var), "SSH_ASKPASS=%s", askpass);
  env[0] = var;
  env[1] = "SSH_ASKPASS_REQUIRE=force";
  env[2] = "DISPLAY=:0"; /* older ssh wants one even when forced */
  env[3] = NULL;
  return env;
}
