#!/usr/bin/env python3
"""Bulk upload vs download through sshmuxd and direct ssh, interleaved.

usage: bench/updown.py [-n MIB] [-r ROUNDS] [-d up|down] [--keep] NAME=SSHMUXD_BINARY ...

Starts one throwaway sshd on loopback and one `sshmuxd serve` per binary
given (e.g. old=/tmp/sshmuxd.old new=build/sshmuxd), then runs, for each
round, every daemon and direct ssh, down then up, back to back.  Prints per
run the wall time and the CPU seconds of the ssh client (wait4 rusage), of
sshmuxd (/proc/PID/stat) and of the sshd tree, then medians and the
median over rounds of the per-round time ratio direct/daemon (> 1 means
faster than direct).  A NAME ending in _sid starts that daemon in a session
of its own (setsid), as `sshmuxd install` runs it: with autogroup
scheduling (sched_autogroup_enabled) it then no longer shares one CPU share
with the ssh clients, as sshd's per-connection processes (also setsid)
never do.  --keep leaves everything running and prints the
config, for strace/perf by hand (Ctrl-C ends it).
"""
import os, re, shutil, signal, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import free_port, keygen, med, proc_cpu, sshd_config, stop_all, tree_cpu, wait_port  # noqa: E402

args = sys.argv[1:]
MIB, ROUNDS, KEEP, DIRS = 256, 5, False, ("down", "up")
daemons = []
while args:
    a = args.pop(0)
    if a == "-n":
        MIB = int(args.pop(0))
    elif a == "-r":
        ROUNDS = int(args.pop(0))
    elif a == "-d":
        DIRS = (args.pop(0),)
    elif a == "--keep":
        KEEP = True
    else:
        k, v = a.split("=", 1)
        daemons.append((k, os.path.abspath(v)))
W = tempfile.mkdtemp(prefix="updown.", dir="/dev/shm")
PROCS = []
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))


def main():
    USER = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    keygen(W + "/hk")
    keygen(W + "/id_up")
    shutil.copy(W + "/id_up.pub", W + "/authorized_keys")
    T = free_port()
    open(W + "/sshd_config", "w").write(sshd_config(T, W + "/hk", W + "/authorized_keys"))
    if os.getuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", W + "/sshd_config", "-E", W + "/sshd.log"])
    PROCS.append(sshd)
    wait_port(T, "sshd")
    hk = " ".join(open(W + "/hk.pub").read().split()[:2])
    open(W + "/known_hosts", "w").write("[127.0.0.1]:%d %s\n" % (T, hk))
    cfg = ["Host direct\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  IdentityFile %s/id_up\n"
           "  UserKnownHostsFile %s/known_hosts\n" % (T, USER, W, W)]
    pids = {}
    for name, binary in daemons:
        sd = "%s/sd-%s" % (W, name)
        os.mkdir(sd, 0o700)
        os.mkdir(sd + "/run", 0o700)
        shutil.copy(W + "/known_hosts", sd + "/known_hosts")
        keygen(sd + "/id_ed25519")
        shutil.copy(sd + "/id_ed25519.pub", sd + "/sshmux-authorized-keys")
        open(sd + "/sshmux-routes.ini", "w").write(
            "[routes.r1]\nhost = 127.0.0.1\nport = %d\nuser = %s\nidentity = %s/id_up\ndirect = true\n"
            % (T, USER, W))
        log = sd + "/serve.log"
        env = dict(os.environ, XDG_RUNTIME_DIR=sd + "/run")
        p = subprocess.Popen([binary, "serve", "--port", "0", "--ssh-dir", sd, "--log-level", "warn"],
                             stdout=open(log, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env, start_new_session=name.endswith("_sid"))
        PROCS.append(p)
        for _ in range(400):
            m = re.search(r"serving on 127\.0\.0\.1:(\d+)", open(log).read())
            if m:
                break
            time.sleep(0.05)
        else:
            sys.exit(open(log).read())
        pids[name] = p.pid
        cfg.append("Host %s\n  HostName 127.0.0.1\n  Port %s\n  User r1\n  IdentityFile %s/id_ed25519\n"
                   "  UserKnownHostsFile %s/kh\n  StrictHostKeyChecking accept-new\n"
                   % (name, m.group(1), sd, sd))
    cfg.append("Host *\n  IdentitiesOnly yes\n  BatchMode yes\n  ControlMaster no\n  ControlPath none\n"
               "  LogLevel ERROR\n")
    open(W + "/cfg", "w").write("".join(cfg))
    hosts = [n for n, _ in daemons] + ["direct"]
    for h in hosts:
        subprocess.run(["ssh", "-F", W + "/cfg", h, "true"], check=True)
    if KEEP:
        print("cfg: %s/cfg  sshd %d  daemons %s" % (W, sshd.pid, pids), flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
        return
    n = MIB << 20
    res = {}

    def run(h, d):
        before = {k: proc_cpu(v) for k, v in pids.items()}
        sb = tree_cpu(sshd.pid)
        t0 = time.monotonic()
        if d == "down":
            ssh = subprocess.Popen(["ssh", "-F", W + "/cfg", h, "head -c %d /dev/zero" % n],
                                   stdout=subprocess.PIPE)
            got = 0
            while True:
                b = ssh.stdout.read1(1 << 20)
                if not b:
                    break
                got += len(b)
        else:
            head = subprocess.Popen(["head", "-c", str(n), "/dev/zero"], stdout=subprocess.PIPE)
            ssh = subprocess.Popen(["ssh", "-F", W + "/cfg", h, "cat >/dev/null"], stdin=head.stdout)
            head.stdout.close()
            got = n
        _, st, ru = os.wait4(ssh.pid, 0)
        ssh.returncode = 0
        dt = time.monotonic() - t0
        if d == "up":
            head.wait()
        time.sleep(0.05)  # let sshd's session children be reaped
        mux = proc_cpu(pids[h]) - before[h] if h in pids else 0.0
        sd = tree_cpu(sshd.pid) - sb
        ok = st == 0 and got == n
        return dt, ru.ru_utime + ru.ru_stime, mux, sd, ok

    for r in range(ROUNDS):
        for d in DIRS:
            for h in hosts:
                dt, cl, mux, sd, ok = run(h, d)
                res.setdefault((h, d), []).append((dt, cl, mux, sd))
                print("round %d %-6s %-4s %6.2f s %6.1f MiB/s  cpu client %.2f sshmuxd %.2f sshd %.2f%s"
                      % (r, h, d, dt, MIB / dt, cl, mux, sd, "" if ok else "  FAILED"), flush=True)
    print("\nload %s" % open("/proc/loadavg").read().strip())
    print("%-8s %-4s %8s %8s   CPU s/GiB: %7s %7s %7s  %s" % ("route", "dir", "s", "MiB/s", "client",
                                                             "sshmuxd", "sshd", "ratio direct/this"))
    g = MIB / 1024
    for d in DIRS:
        for h in hosts:
            v = res[(h, d)]
            ratio = med([a[0] / b[0] for a, b in zip(res[("direct", d)], v)])
            print("%-8s %-4s %8.2f %8.1f   %18.2f %7.2f %7.2f  %.2f" % (
                h, d, med([x[0] for x in v]), MIB / med([x[0] for x in v]),
                med([x[1] for x in v]) / g, med([x[2] for x in v]) / g, med([x[3] for x in v]) / g, ratio))


try:
    main()
finally:
    stop_all(PROCS)
    shutil.rmtree(W, ignore_errors=True)
