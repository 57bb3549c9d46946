/* fixture-netns.c -- network namespaces as separate hosts for tests; see
 * fixture-netns.h for the topology and the guarantees.  The namespaces and
 * links are made with iproute2's `ip` (so what a test does can be replayed
 * by hand); entering a namespace to probe it or set a sysctl is done with
 * setns(2) in a forked child, which is faster than another `ip netns exec`
 * and needs no other program. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture-netns.h"
#include "test.h"

#define MAX_TOPOS 4
/* 10.231.0.0/16 holds 8192 /29 slots. */
#define SLOTS 8192

static test_netns_topo *live[MAX_TOPOS];
static int atexit_done;
static int counter;

static void teardown_all(void) {
  for (int i = 0; i < MAX_TOPOS; i++)
    if (live[i] != NULL)
      test_netns_teardown(live[i]);
}

static void track(test_netns_topo *t, int add) {
  if (!atexit_done) {
    atexit(teardown_all);
    atexit_done = 1;
  }
  for (int i = 0; i < MAX_TOPOS; i++) {
    if (add && live[i] == NULL) {
      live[i] = t;
      return;
    }
    if (!add && live[i] == t) {
      live[i] = NULL;
      return;
    }
  }
}

/* Run `ip ARGS...`; 0 on success, else -1 with ip's message printed (unless
 * quiet). */
static int ip(int quiet, ...) {
  const char *argv[24];
  char *err = NULL;
  va_list ap;
  int n = 0, st;

  argv[n++] = "ip";
  va_start(ap, quiet);
  while (n < 23 && (argv[n] = va_arg(ap, const char *)) != NULL)
    n++;
  va_end(ap);
  argv[n] = NULL;
  st = test_run_simple(argv, NULL, &err);
  if (st != 0 && !quiet) {
    fprintf(stderr, "netns fixture: ip");
    for (int i = 1; i < n; i++)
      fprintf(stderr, " %s", argv[i]);
    fprintf(stderr, " -> %d: %s", st, err ? err : "");
  }
  free(err);
  return st == 0 ? 0 : -1;
}

/* Fork a child that enters namespace ns (NULL: stays) and returns fn(arg)'s
 * result as its exit status (0 = success). */
static int in_netns(const char *ns, int (*fn)(void *), void *arg) {
  pid_t pid = fork();
  int st;

  if (pid < 0)
    return -1;
  if (pid == 0) {
    if (ns != NULL) {
      char path[128];
      int fd;
      snprintf(path, sizeof(path), "/run/netns/%s", ns);
      fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) != 0)
        _exit(2);
      close(fd);
    }
    _exit(fn(arg) == 0 ? 0 : 1);
  }
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

typedef struct {
  const char *addr;
  int port, banner, timeout_ms;
} wait_args;

static int do_wait(void *p) {
  wait_args *w = p;
  return test_wait_addr(w->addr, w->port, w->banner, w->timeout_ms);
}

int test_netns_wait_addr(const char *ns, const char *addr, int port,
                         int ssh_banner, int timeout_ms) {
  wait_args w = {addr, port, ssh_banner, timeout_ms};
  return in_netns(ns, do_wait, &w);
}

static int do_forwarding(void *p) {
  const char *v = p;
  /* /proc/sys/net shows the namespace of the process that opens it. */
  int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
  int ok = fd >= 0 && write(fd, v, 1) == 1;
  if (fd >= 0)
    close(fd);
  return ok ? 0 : -1;
}

int test_netns_forwarding(test_netns_topo *t, int on) {
  return in_netns(t->ns_j, do_forwarding, on ? "1" : "0");
}

/* Remove namespaces named by a test process that no longer exists. */
static void collect_stale(void) {
  DIR *d = opendir("/run/netns");
  struct dirent *e;

  if (d == NULL)
    return;
  while ((e = readdir(d)) != NULL) {
    int pid, n;
    char role;
    if (sscanf(e->d_name, "sshmux-%d-%d-%c", &pid, &n, &role) != 3 ||
        pid <= 0 || pid == getpid())
      continue;
    if (kill(pid, 0) != 0 && errno == ESRCH)
      ip(1, "netns", "del", e->d_name, NULL);
  }
  closedir(d);
}

/* The dotted quad of 10.231.0.0 + off. */
static void addr_at(unsigned off, char *out, size_t n) {
  struct in_addr a;
  a.s_addr = htonl((10u << 24) | (231u << 16) | (off & 0xffff));
  inet_ntop(AF_INET, &a, out, (socklen_t)n);
}

/* Is the /29 slot free in this namespace (no address or route in it)? */
static int slot_free(unsigned slot) {
  const char *argv[] = {"ip",   "-4",    "-o",  "route",
                        "show", "table", "all", NULL};
  const char *argv2[] = {"ip", "-4", "-o", "addr", "show", NULL};
  char *out = NULL, *out2 = NULL, needle[24];
  unsigned off = slot * 8;
  int free_ = 1;

  if (test_run_simple(argv, &out, NULL) != 0 ||
      test_run_simple(argv2, &out2, NULL) != 0) {
    free(out);
    free(out2);
    return 0;
  }
  for (unsigned i = 0; i < 8 && free_; i++) {
    char a[16];
    addr_at(off + i, a, sizeof(a));
    snprintf(needle, sizeof(needle), "%s/", a);
    if (strstr(out, needle) || strstr(out2, needle))
      free_ = 0;
    snprintf(needle, sizeof(needle), "%s ", a);
    if (strstr(out, needle) || strstr(out2, needle))
      free_ = 0;
  }
  free(out);
  free(out2);
  return free_;
}

int test_netns_setup(test_netns_topo *t) {
  unsigned slot = 0, base;
  int n = counter++, pid = (int)getpid(), tries;
  char cidr_root[24], cidr_j[24], cidr_jt[24], cidr_t[24];

  memset(t, 0, sizeof(*t));
  collect_stale();
  for (tries = 0; tries < 64; tries++) {
    slot = (unsigned)(pid * 7 + n * 131 + tries * 977) % SLOTS;
    if (slot_free(slot))
      break;
  }
  if (tries == 64) {
    fprintf(stderr, "netns fixture: no free 10.231.0.0/16 slot\n");
    return -1;
  }
  base = slot * 8;
  snprintf(t->ns_j, sizeof(t->ns_j), "sshmux-%d-%d-j", pid, n);
  snprintf(t->ns_t, sizeof(t->ns_t), "sshmux-%d-%d-t", pid, n);
  snprintf(t->if_root, sizeof(t->if_root), "sx%dr%d", pid, n);
  snprintf(t->if_j_root, sizeof(t->if_j_root), "sx%dj%d", pid, n);
  snprintf(t->if_j_t, sizeof(t->if_j_t), "sx%dk%d", pid, n);
  snprintf(t->if_t, sizeof(t->if_t), "sx%dt%d", pid, n);
  addr_at(base + 1, t->root_addr, sizeof(t->root_addr));
  addr_at(base + 2, t->j_addr, sizeof(t->j_addr));
  addr_at(base + 5, t->j_t_addr, sizeof(t->j_t_addr));
  addr_at(base + 6, t->t_addr, sizeof(t->t_addr));
  {
    char net[16];
    addr_at(base + 4, net, sizeof(net));
    snprintf(t->t_subnet, sizeof(t->t_subnet), "%s/30", net);
  }
  snprintf(cidr_root, sizeof(cidr_root), "%s/30", t->root_addr);
  snprintf(cidr_j, sizeof(cidr_j), "%s/30", t->j_addr);
  snprintf(cidr_jt, sizeof(cidr_jt), "%s/30", t->j_t_addr);
  snprintf(cidr_t, sizeof(cidr_t), "%s/30", t->t_addr);

  if (ip(0, "netns", "add", t->ns_j, NULL) != 0)
    return -1;
  t->up = 1;
  track(t, 1);
  if (ip(0, "netns", "add", t->ns_t, NULL) != 0 ||
      /* root <-> J */
      ip(0, "link", "add", t->if_root, "type", "veth", "peer", "name",
         t->if_j_root, "netns", t->ns_j, NULL) != 0 ||
      ip(0, "addr", "add", cidr_root, "dev", t->if_root, NULL) != 0 ||
      ip(0, "link", "set", t->if_root, "up", NULL) != 0 ||
      ip(0, "-n", t->ns_j, "link", "set", "lo", "up", NULL) != 0 ||
      ip(0, "-n", t->ns_j, "addr", "add", cidr_j, "dev", t->if_j_root, NULL) !=
          0 ||
      ip(0, "-n", t->ns_j, "link", "set", t->if_j_root, "up", NULL) != 0 ||
      /* J <-> T */
      ip(0, "-n", t->ns_j, "link", "add", t->if_j_t, "type", "veth", "peer",
         "name", t->if_t, "netns", t->ns_t, NULL) != 0 ||
      ip(0, "-n", t->ns_j, "addr", "add", cidr_jt, "dev", t->if_j_t, NULL) !=
          0 ||
      ip(0, "-n", t->ns_j, "link", "set", t->if_j_t, "up", NULL) != 0 ||
      ip(0, "-n", t->ns_t, "link", "set", "lo", "up", NULL) != 0 ||
      ip(0, "-n", t->ns_t, "addr", "add", cidr_t, "dev", t->if_t, NULL) != 0 ||
      ip(0, "-n", t->ns_t, "link", "set", t->if_t, "up", NULL) != 0 ||
      /* Routes that would make T reachable if J forwarded. */
      ip(0, "-n", t->ns_t, "route", "add", "default", "via", t->j_t_addr,
         NULL) != 0 ||
      ip(0, "route", "add", t->t_subnet, "via", t->j_addr, "dev", t->if_root,
         NULL) != 0 ||
      test_netns_forwarding(t, 0) != 0) {
    fprintf(stderr, "netns fixture: setup failed\n");
    test_netns_teardown(t);
    return -1;
  }
  return 0;
}

void test_netns_teardown(test_netns_topo *t) {
  if (!t->up)
    return;
  t->up = 0;
  track(t, 0);
  /* Deleting the root-side veth removes its peer in J and our route;
   * deleting the namespaces removes the J <-> T pair. */
  ip(1, "link", "del", t->if_root, NULL);
  ip(1, "netns", "del", t->ns_j, NULL);
  ip(1, "netns", "del", t->ns_t, NULL);
}
