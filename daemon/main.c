/* main.c -- sshmuxd's command line: parses the subcommand and hands over to
 * the module that implements it.  The daemon is a thin program on top of
 * libsshmux; everything protocol-shaped lives in the library. */
#include <stdio.h>
#include <string.h>

#include "sshmux.h"

static void usage(FILE *f) {
  fprintf(f, "usage: sshmuxd <command> [options]\n"
             "\n"
             "commands:\n"
             "  version     print the version\n"
             "  help        this text\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
    printf("sshmuxd %s\n", sshmux_version_string());
    return 0;
  }
  if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "sshmuxd: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
