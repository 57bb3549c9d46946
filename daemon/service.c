/* service.c -- `sshmuxd install` / `uninstall`: run `sshmuxd serve` at
 * login, the way the platform expects.
 *
 *   systemd   ~/.config/systemd/user/sshmuxd.service, then
 *             `systemctl --user enable --now` (where a user instance runs:
 *             $XDG_RUNTIME_DIR/systemd/private exists);
 *   autostart ~/.config/autostart/sshmuxd.desktop (XDG), started now;
 *   launchd   ~/Library/LaunchAgents/org.sshmux.sshmuxd.plist (macOS),
 *             `launchctl load -w`.
 * ~/.config is $XDG_CONFIG_HOME when set.  Files are written atomically
 * (symlinks refused) and only when their content changes.  The service
 * runs detached: stdin is /dev/null and stdout/stderr go nowhere a caller
 * could wait on (the daemon logs to sshmux.log).
 *
 * --no-enable (or SSHMUX_NO_ENABLE=1, which the tests set) writes and
 * removes the files but never calls systemctl/launchctl or starts
 * anything, so tests in a throwaway HOME cannot touch the real session. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "sshmuxd.h"

#define UNIT_NAME "sshmuxd.service"
#define DESKTOP_NAME "sshmuxd.desktop"
#define LAUNCHD_LABEL "org.sshmux.sshmuxd"
#define MAX_ARGS 8

typedef enum { M_AUTO, M_SYSTEMD, M_AUTOSTART, M_LAUNCHD } method_t;

typedef struct {
  method_t method;
  int install; /* install, else uninstall */
  int no_enable;
  const char *config;
  const char *port;
  const char *argv[MAX_ARGS + 1]; /* the service's command line */
  char self[PATH_MAX];
  char unit[PATH_MAX], desktop[PATH_MAX], plist[PATH_MAX];
} svc_t;

static void usage(FILE *f, int install) {
  if (install)
    fprintf(f,
            "usage: sshmuxd install [--method systemd|autostart|launchd] "
            "[--no-enable]\n"
            "                      [--config FILE] [--port N] [options]\n"
            "\n"
            "Run `sshmuxd serve` at login: a systemd user unit where a "
            "systemd user\n"
            "session runs (enabled and started now), else an XDG autostart "
            "entry\n"
            "(started now), or a launchd agent on macOS.\n"
            "\n"
            "  --method M        force the mechanism instead of detecting it\n"
            "  --no-enable       write the files only; start and enable "
            "nothing\n"
            "                    (also SSHMUX_NO_ENABLE=1)\n"
            "  --config FILE     routes file the service uses\n"
            "  --port N          port the service listens "
            "on\n" SSHMUXD_COMMON_HELP);
  else
    fprintf(f, "usage: sshmuxd uninstall [--no-enable] [options]\n"
               "\n"
               "Stop and disable the login service and remove the files "
               "install wrote.\n"
               "\n"
               "  --no-enable       remove the files only; call no service "
               "manager\n" SSHMUXD_COMMON_HELP);
}

static int systemd_user_running(void) {
  const char *rt = getenv("XDG_RUNTIME_DIR");
  char p[PATH_MAX];
  struct stat st;

  if (rt == NULL || rt[0] != '/' ||
      snprintf(p, sizeof(p), "%s/systemd/private", rt) >= (int)sizeof(p))
    return 0;
  return stat(p, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Arguments we put in service files must need no escaping in any of the
 * three formats; refuse the few characters that would. */
static int arg_ok(const char *a) {
  for (; *a != '\0'; a++)
    if ((unsigned char)*a < 0x20 || *a == 0x7f || strchr("\"\\`$%'", *a))
      return 0;
  return 1;
}

static int build_argv(svc_t *s) {
  size_t n = 0, i;

  if (sshmuxd_self_path(s->self, sizeof(s->self)) != 0) {
    sshmuxd_err("cannot find this program's own path");
    return -1;
  }
  s->argv[n++] = s->self;
  s->argv[n++] = "serve";
  if (sshmuxd_ssh_dir_is_explicit()) {
    s->argv[n++] = "--ssh-dir";
    s->argv[n++] = sshmuxd_ssh_dir();
  }
  if (s->config != NULL) {
    s->argv[n++] = "--config";
    s->argv[n++] = s->config;
  }
  if (s->port != NULL) {
    s->argv[n++] = "--port";
    s->argv[n++] = s->port;
  }
  s->argv[n] = NULL;
  for (i = 0; i < n; i++) {
    if (!arg_ok(s->argv[i])) {
      sshmuxd_err("'%s' contains a quote, backslash, '$', '%%' or a control "
                  "character; refusing to put it in a service file",
                  s->argv[i]);
      return -1;
    }
  }
  return 0;
}

static void add_exec(sshmuxd_str_t *b, const svc_t *s, int quote_all) {
  size_t i;

  for (i = 0; s->argv[i] != NULL; i++) {
    const char *a = s->argv[i];
    if (quote_all || strchr(a, ' ') != NULL)
      sshmuxd_str_printf(b, "%s\"%s\"", i ? " " : "", a);
    else
      sshmuxd_str_printf(b, "%s%s", i ? " " : "", a);
  }
}

static void xml_escaped(sshmuxd_str_t *b, const char *a) {
  for (; *a != '\0'; a++) {
    if (*a == '&')
      sshmuxd_str_printf(b, "&amp;");
    else if (*a == '<')
      sshmuxd_str_printf(b, "&lt;");
    else if (*a == '>')
      sshmuxd_str_printf(b, "&gt;");
    else
      sshmuxd_str_add(b, a, 1);
  }
}

static void build_file(sshmuxd_str_t *b, const svc_t *s, method_t m) {
  size_t i;

  switch (m) {
  case M_SYSTEMD:
    sshmuxd_str_printf(b, "# Written by `sshmuxd install`; removed by "
                          "`sshmuxd uninstall`.\n"
                          "[Unit]\n"
                          "Description=sshmuxd: SSH connection multiplexer\n"
                          "Documentation=man:sshmuxd(8)\n"
                          "\n"
                          "[Service]\n"
                          "Type=simple\n"
                          "ExecStart=");
    add_exec(b, s, 1);
    sshmuxd_str_printf(b, "\nStandardInput=null\n"
                          "StandardOutput=null\n"
                          "StandardError=journal\n"
                          "Restart=on-failure\n"
                          "RestartSec=5\n"
                          "\n"
                          "[Install]\n"
                          "WantedBy=default.target\n");
    break;
  case M_AUTOSTART:
    sshmuxd_str_printf(b, "# Written by `sshmuxd install`; removed by "
                          "`sshmuxd uninstall`.\n"
                          "[Desktop Entry]\n"
                          "Type=Application\n"
                          "Name=sshmuxd\n"
                          "Comment=SSH connection multiplexer\n"
                          "Exec=");
    add_exec(b, s, 0);
    sshmuxd_str_printf(b, "\nTerminal=false\n"
                          "NoDisplay=true\n"
                          "X-GNOME-Autostart-enabled=true\n");
    break;
  default:
    sshmuxd_str_printf(
        b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
           "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
           "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
           "<!-- Written by `sshmuxd install`; removed by `sshmuxd "
           "uninstall`. -->\n"
           "<plist version=\"1.0\">\n<dict>\n"
           "  <key>Label</key>\n  <string>" LAUNCHD_LABEL "</string>\n"
           "  <key>ProgramArguments</key>\n  <array>\n");
    for (i = 0; s->argv[i] != NULL; i++) {
      sshmuxd_str_printf(b, "    <string>");
      xml_escaped(b, s->argv[i]);
      sshmuxd_str_printf(b, "</string>\n");
    }
    sshmuxd_str_printf(b, "  </array>\n"
                          "  <key>RunAtLoad</key>\n  <true/>\n"
                          "  <key>KeepAlive</key>\n  <dict>\n"
                          "    <key>SuccessfulExit</key>\n    <false/>\n"
                          "  </dict>\n"
                          "  <key>StandardInPath</key>\n"
                          "  <string>/dev/null</string>\n"
                          "  <key>StandardOutPath</key>\n"
                          "  <string>/dev/null</string>\n"
                          "  <key>StandardErrorPath</key>\n"
                          "  <string>/dev/null</string>\n"
                          "</dict>\n</plist>\n");
    break;
  }
}

static int paths(svc_t *s) {
  char dir[PATH_MAX];

  if (sshmuxd_join(dir, sizeof(dir), sshmuxd_config_home(), "systemd/user") !=
          0 ||
      sshmuxd_join(s->unit, sizeof(s->unit), dir, UNIT_NAME) != 0 ||
      sshmuxd_join(dir, sizeof(dir), sshmuxd_config_home(), "autostart") != 0 ||
      sshmuxd_join(s->desktop, sizeof(s->desktop), dir, DESKTOP_NAME) != 0 ||
      sshmuxd_join(dir, sizeof(dir), sshmuxd_home(), "Library/LaunchAgents") !=
          0 ||
      sshmuxd_join(s->plist, sizeof(s->plist), dir, LAUNCHD_LABEL ".plist") !=
          0)
    return -1;
  return 0;
}

static int parent_dir(const char *path) {
  char dir[PATH_MAX];
  char *slash;
  int r;

  snprintf(dir, sizeof(dir), "%s", path);
  slash = strrchr(dir, '/');
  if (slash == NULL || slash == dir)
    return 0;
  *slash = '\0';
  r = sshmux_dir_ensure(dir, 0700);
  if (r != 0)
    sshmuxd_err("%s: %s", dir, sshmux_strerror(r));
  return r;
}

static int install_file(const char *path, const sshmuxd_str_t *b) {
  int r;

  if (b->oom) {
    sshmuxd_err("out of memory");
    return -1;
  }
  if (sshmuxd_file_equals(path, b->s, b->len)) {
    printf("%s is up to date\n", path);
    return 0;
  }
  if (parent_dir(path) != 0)
    return -1;
  r = sshmux_file_write_atomic(path, b->s, b->len, 0644);
  if (r != 0) {
    sshmuxd_err("writing %s: %s", path, sshmux_strerror(r));
    return -1;
  }
  printf("wrote %s\n", path);
  sshmuxd_log(SSHMUX_LOG_INFO, "install: wrote %s", path);
  return 0;
}

static int run_checked(const char *const *argv) {
  int st = sshmuxd_run_quiet(argv);

  if (st != 0) {
    sshmuxd_err("`%s %s %s%s%s` failed (status %d)", argv[0], argv[1], argv[2],
                argv[3] ? " " : "", argv[3] ? argv[3] : "", st);
    return -1;
  }
  return 0;
}

static void usage_cb(FILE *f, void *ctx) {
  usage(f, ((svc_t *)ctx)->install);
}

static int option(int c, const char *arg, void *ctx) {
  svc_t *s = ctx;
  int port;

  if (c == 'n') {
    s->no_enable = 1;
    return 0;
  }
  if (!s->install) {
    sshmuxd_err("uninstall takes no such option");
    return SSHMUXD_EXIT_USAGE;
  }
  switch (c) {
  case 'm':
    if (strcmp(arg, "systemd") == 0)
      s->method = M_SYSTEMD;
    else if (strcmp(arg, "autostart") == 0)
      s->method = M_AUTOSTART;
    else if (strcmp(arg, "launchd") == 0)
      s->method = M_LAUNCHD;
    else {
      sshmuxd_err("--method: expected systemd, autostart or launchd");
      return SSHMUXD_EXIT_USAGE;
    }
    return 0;
  case 'c':
    s->config = arg;
    return 0;
  case 'p':
    if (sshmuxd_parse_port(arg, &port) != 0)
      return SSHMUXD_EXIT_USAGE;
    s->port = arg;
    return 0;
  default:
    return SSHMUXD_EXIT_USAGE;
  }
}

static int parse(int argc, char **argv, svc_t *s, int install) {
  static const struct option opts[] = {{"method", required_argument, NULL, 'm'},
                                       {"no-enable", no_argument, NULL, 'n'},
                                       {"config", required_argument, NULL, 'c'},
                                       {"port", required_argument, NULL, 'p'},
                                       SSHMUXD_COMMON_LONGOPTS,
                                       {NULL, 0, NULL, 0}};
  const char *ne = getenv("SSHMUX_NO_ENABLE");
  int r;

  memset(s, 0, sizeof(*s));
  s->install = install;
  s->no_enable = ne != NULL && *ne != '\0' && strcmp(ne, "0") != 0;
  r = sshmuxd_parse_args(argc, argv, "h", opts, option, usage_cb, s);
  if (r != 0)
    return r;
  return paths(s) == 0 ? 0 : SSHMUXD_EXIT_FAIL;
}

int sshmuxd_cmd_install(int argc, char **argv) {
  svc_t s;
  sshmuxd_str_t b = {0};
  char cfgabs[PATH_MAX], cwd[PATH_MAX];
  const char *path;
  method_t m;
  int r = parse(argc, argv, &s, 1), rc = SSHMUXD_EXIT_FAIL;

  if (r != 0)
    return r < 0 ? 0 : r;
  /* The service starts in "/": a relative --config must be made absolute. */
  if (s.config != NULL && s.config[0] != '/') {
    if (getcwd(cwd, sizeof(cwd)) == NULL ||
        sshmuxd_join(cfgabs, sizeof(cfgabs), cwd, s.config) != 0)
      return SSHMUXD_EXIT_FAIL;
    s.config = cfgabs;
  }
  m = s.method;
  if (m == M_AUTO) {
#if defined(__APPLE__)
    m = M_LAUNCHD;
#else
    m = systemd_user_running() ? M_SYSTEMD : M_AUTOSTART;
#endif
  }
  if (build_argv(&s) != 0)
    return SSHMUXD_EXIT_FAIL;
  sshmuxd_log_open(); /* only if the SSH dir exists: never created here */
  path = m == M_SYSTEMD ? s.unit : m == M_AUTOSTART ? s.desktop : s.plist;
  build_file(&b, &s, m);
  if (install_file(path, &b) != 0)
    goto out;
  if (s.no_enable) {
    printf("not enabling or starting anything (--no-enable)\n");
    rc = 0;
    goto out;
  }
  if (m == M_SYSTEMD) {
    const char *reload[] = {"systemctl", "--user", "daemon-reload", NULL};
    const char *enable[] = {"systemctl", "--user",  "enable",
                            "--now",     UNIT_NAME, NULL};
    if (run_checked(reload) != 0 || run_checked(enable) != 0)
      goto out;
    printf("enabled and started %s (systemctl --user status %s)\n", UNIT_NAME,
           UNIT_NAME);
  } else if (m == M_LAUNCHD) {
    const char *unload[] = {"launchctl", "unload", s.plist, NULL};
    const char *load[] = {"launchctl", "load", "-w", s.plist, NULL};
    (void)sshmuxd_run_quiet(unload); /* an older copy may be loaded */
    if (run_checked(load) != 0)
      goto out;
    printf("loaded %s\n", LAUNCHD_LABEL);
  } else {
    if (sshmuxd_spawn_detached(s.argv) != 0) {
      sshmuxd_err("could not start %s serve", s.self);
      goto out;
    }
    printf("started sshmuxd serve in the background; it starts at every "
           "login from now on\n");
  }
  sshmuxd_log(SSHMUX_LOG_INFO, "install: enabled (%s)", path);
  rc = 0;
out:
  sshmuxd_str_free(&b);
  return rc;
}

int sshmuxd_cmd_uninstall(int argc, char **argv) {
  svc_t s;
  const char *files[3];
  size_t i;
  int r = parse(argc, argv, &s, 0), removed = 0, rc = 0;
  struct stat st;

  if (r != 0)
    return r < 0 ? 0 : r;
  files[0] = s.unit;
  files[1] = s.desktop;
  files[2] = s.plist;
  sshmuxd_log_open();
  if (!s.no_enable && lstat(s.unit, &st) == 0 && systemd_user_running()) {
    const char *disable[] = {"systemctl", "--user",  "disable",
                             "--now",     UNIT_NAME, NULL};
    if (run_checked(disable) == 0)
      printf("stopped and disabled %s\n", UNIT_NAME);
  }
#if defined(__APPLE__)
  if (!s.no_enable && lstat(s.plist, &st) == 0) {
    const char *unload[] = {"launchctl", "unload", "-w", s.plist, NULL};
    (void)sshmuxd_run_quiet(unload);
  }
#endif
  for (i = 0; i < 3; i++) {
    if (unlink(files[i]) == 0) {
      printf("removed %s\n", files[i]);
      sshmuxd_log(SSHMUX_LOG_INFO, "uninstall: removed %s", files[i]);
      removed++;
    } else if (errno != ENOENT) {
      sshmuxd_err("removing %s: %s", files[i], strerror(errno));
      rc = SSHMUXD_EXIT_FAIL;
    }
  }
  if (removed > 0 && !s.no_enable && systemd_user_running()) {
    const char *reload[] = {"systemctl", "--user", "daemon-reload", NULL};
    (void)sshmuxd_run_quiet(reload);
  }
  if (removed == 0 && rc == 0)
    printf("nothing to uninstall\n");
  else if (rc == 0 && s.no_enable)
    printf("not stopping anything (--no-enable)\n");
  return rc;
}
