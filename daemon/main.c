/* main.c -- sshmuxd's command line: finds the subcommand in one table and
 * hands over to the module that implements it, after the set-up every
 * command shares (log level from the environment, options common to all).
 * The daemon is a thin program on top of libsshmux; everything
 * protocol-shaped lives in the library.  A new subcommand is one line in
 * the table below plus its own file. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "sshmuxd.h"

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const sshmuxd_cmd_t commands[] = {
    {"check-config", sshmuxd_cmd_check_config,
     "load the routes file and print it, or the FILE:LINE error"},
    {"import-config", sshmuxd_cmd_import_config,
     "make routes of the Host entries of ~/.ssh/config (ssh -G)"},
    {"setup-config", sshmuxd_cmd_setup_config,
     "write sshmux-hosts.conf and Include it from the SSH config"},
    {"install", sshmuxd_cmd_install,
     "run sshmuxd at login (systemd user unit, XDG autostart, launchd)"},
    {"uninstall", sshmuxd_cmd_uninstall, "undo install"},
    {"serve", sshmuxd_cmd_serve,
     "run the multiplexer in the foreground on 127.0.0.1"},
    {"status", sshmuxd_cmd_status,
     "show the running daemon's upstream connections (--json)"},
    {"stop", sshmuxd_cmd_stop, "stop the running daemon"},
    {"lock", sshmuxd_cmd_lock, "refuse new sessions; open ones go on"},
    {"unlock", sshmuxd_cmd_unlock, "accept new sessions again"},
    {"prompt", sshmuxd_cmd_prompt,
     "answer the daemon's OTP/passphrase/host-key questions"},
    {"connect", sshmuxd_cmd_connect,
     "ProxyCommand: stdio to host:port through the pooled jump"},
    {"control-daemon", sshmuxd_cmd_control_daemon,
     "the pool and control socket without the local server"},
    {"version", cmd_version, "print the version"},
    {"help", cmd_help, "this text, or `help COMMAND` for a command's"},
};

static void usage(FILE *f) {
  size_t i;

  fprintf(f, "usage: sshmuxd <command> [options]\n\ncommands:\n");
  for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\n`sshmuxd COMMAND --help` describes a command's options.\n");
}

static const sshmuxd_cmd_t *find(const char *name) {
  size_t i;

  for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

static int cmd_version(int argc, char **argv) {
  (void)argc, (void)argv;
  printf("sshmuxd %s\n", sshmux_version_string());
  return 0;
}

static int cmd_help(int argc, char **argv) {
  const sshmuxd_cmd_t *c;
  char *args[3];

  if (argc < 2) {
    usage(stdout);
    return 0;
  }
  if ((c = find(argv[1])) == NULL || c->run == cmd_help) {
    sshmuxd_err("unknown command '%s'", argv[1]);
    return SSHMUXD_EXIT_USAGE;
  }
  args[0] = argv[1];
  args[1] = "--help";
  args[2] = NULL;
  return c->run(2, args);
}

int main(int argc, char **argv) {
  const sshmuxd_cmd_t *c;
  const char *env = getenv("SSHMUX_LOG");
  sshmux_log_level_t level;
  int rc;

  /* Writes to a closed pipe must come back as errors, not kill us. */
  signal(SIGPIPE, SIG_IGN);
  if (env != NULL && *env != '\0') {
    if (sshmux_log_level_parse(env, &level) == 0)
      sshmuxd_log_set_level(level);
    else
      sshmuxd_err("SSHMUX_LOG: unknown level '%s', using info", env);
  }
  if (argc < 2) {
    usage(stderr);
    return SSHMUXD_EXIT_USAGE;
  }
  if (strcmp(argv[1], "--version") == 0)
    return cmd_version(1, argv + 1);
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
    return cmd_help(1, argv + 1);
  if ((c = find(argv[1])) == NULL) {
    sshmuxd_err("unknown command '%s'", argv[1]);
    usage(stderr);
    return SSHMUXD_EXIT_USAGE;
  }
  rc = c->run(argc - 1, argv + 1);
  sshmuxd_log_close();
  return rc;
}
