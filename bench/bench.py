#!/usr/bin/python3
"""bench/bench.py BUILD_DIR -- sshmuxd side by side with OpenSSH, one run.

Started by bench/run.sh (`make bench`).  Everything runs on 127.0.0.1 against
throwaway OpenSSH sshds (a target, a jump host, one for idle sessions) with
their own keys and HOME; sshmuxd is the one in BUILD_DIR.  Pairs are timed
INTERLEAVED (A B C A B C ...) by BUILD_DIR/bench/timeit, which waits for each
command with a blocking wait4(); this script only orchestrates and counts.

Sections (BENCH_ONLY="warm jump ..." runs a subset, in this order):
  warm       warm attach: sshmuxd (raw config / as setup-config writes it,
             with its local ControlMaster / written with --no-control-master
             / raw behind a hand-started master) vs ControlMaster warm vs
             cold direct ssh; handshake alone with examples/echo-server;
             `ssh -V`
  jump       the same through a jump host (ControlMaster over ProxyJump)
  rss        sshmuxd RSS per idle open session (BENCH_IDLE = 50), on a
             fresh daemon (freed bulk buffers would hide the growth)
  delay      the delay proxy (25 ms one way) on the upstream hop: its RTT,
             warm attach and throughput through it, vs the window/RTT bound
  bulk       BENCH_BULK_MB (1024) MiB down and up: sshmuxd vs direct vs
             ControlMaster, CPU seconds per GiB of every process
  sftp       BENCH_SFTP_MB (256) MiB get and put
  many       BENCH_MANY (200) concurrent `ssh route 'echo N'`
  stability  BENCH_INSTANCES (10) fresh daemons x BENCH_PER (20) sessions
  proof      as root: relay_jump_bulk at BENCH_DELAY_MB (256) MiB each way
             through a jump host in network namespaces, SHA-256 compared
Results: docs/benchmarks.md (between the bench markers; the prose around
them is kept), docs/benchmarks.png, and BUILD_DIR/bench/results.json.
Knobs: BENCH_RUNS (15 rounds for latency), BENCH_BULK_RUNS (3),
BENCH_DELAY_MS (25), BENCH_OUT (docs/benchmarks.md).  BENCH_BASELINE=DIR also
starts DIR's sshmuxd (the build before a change) on the same upstreams and
interleaves it with ours in the warm and jump sections: before/after rows.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import free_port, keygen, med, proc_cpu, sshd_config, stop_all, tree_cpu, wait_port  # noqa: E402

B = os.path.abspath(sys.argv[1])
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEIT = os.path.join(B, "bench", "timeit")
PROXY = os.path.join(B, "bench", "delay-proxy")
ALL = "warm jump rss delay bulk sftp many stability proof".split()
ONLY = os.environ.get("BENCH_ONLY", " ".join(ALL)).split()
RUNS = int(os.environ.get("BENCH_RUNS", "15"))
BULK_MB = int(os.environ.get("BENCH_BULK_MB", "1024"))
BULK_RUNS = int(os.environ.get("BENCH_BULK_RUNS", "3"))
SFTP_MB = int(os.environ.get("BENCH_SFTP_MB", "256"))
DELAY_MB = int(os.environ.get("BENCH_DELAY_MB", "256"))
WINDOW_MAX_MIB = 16  # lib/pool/pool-int.h, SSHMUX__CHAN_WINDOW_MAX
DELAY_MS = int(os.environ.get("BENCH_DELAY_MS", "25"))
MANY = int(os.environ.get("BENCH_MANY", "200"))
IDLE = int(os.environ.get("BENCH_IDLE", "50"))
INSTANCES = int(os.environ.get("BENCH_INSTANCES", "10"))
PER = int(os.environ.get("BENCH_PER", "20"))
BASE = os.environ.get("BENCH_BASELINE")  # another build dir: before/after rows
OUT = os.environ.get("BENCH_OUT", os.path.join(ROOT, "docs", "benchmarks.md"))

for s in ONLY:
    if s not in ALL:
        sys.exit("bench: unknown section %r (known: %s)" % (s, " ".join(ALL)))

W = tempfile.mkdtemp(prefix="sshmux-bench.", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
os.chmod(W, 0o700)
os.environ["XDG_RUNTIME_DIR"] = W + "/run"
os.mkdir(W + "/run", 0o700)
PROCS = []
RESULTS = {"sections": {}}
ROWS = []  # (section, what, A, B, ratio-or-None, target text, met-or-None)
NOTES = []


def log(*a):
    print("bench:", *a, flush=True)


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, **kw)


def start(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    PROCS.append(p)
    return p


def cleanup():
    if os.path.exists(W + "/cfg-setup"):  # setup-config's masters (they would end with sshmuxd)
        for h in ("r1", "rj"):
            subprocess.run(["ssh", "-F", W + "/cfg-setup", "-O", "exit", h],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop_all(PROCS)
    for cm in ("cm-direct", "cm-jump", "cm-slow", "cm-relay", "cm-relay-jump"):
        if os.path.exists("%s/%s.sock" % (W, cm)):
            subprocess.run(["ssh", "-F", W + "/cfg", "-S", "%s/%s.sock" % (W, cm), "-O", "exit", "direct"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(W, ignore_errors=True)


# ---------------------------------------------------------------- statistics

def pct(v, p):
    v = sorted(v)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))  # nearest rank
    return v[k]


def summary(v):
    return {"n": len(v), "median": med(v), "min": min(v), "max": max(v),
            "p90": pct(v, 90), "p99": pct(v, 99)}


def fmt_ms(s):
    return "%.1f ms (%.1f–%.1f, p90 %.1f)" % (s["median"], s["min"], s["max"], s["p90"])


# ------------------------------------------------------------------ timing

def spec_line(name, argv, feed=0, drain=0):
    return "\t".join([name, str(feed), str(drain)] + list(argv))


def interleave(cmds, rounds, tag, cpu_of=None):
    """cmds: [(name, argv, feed, drain)].  Returns {name: [ (ms, user, sys,
    status, outbytes, extra_cpu) ]}.  cpu_of: {label: pid-or-callable} whose
    CPU is sampled around each single run (then each run is its own timeit
    call; the duration is still timeit's)."""
    res = {c[0]: [] for c in cmds}
    out = "%s/%s.tsv" % (W, tag)
    if cpu_of is None:
        with open(W + "/spec", "w") as f:
            for c in cmds:
                f.write(spec_line(c[0], c[1], c[2], c[3]) + "\n")
        sh(TIMEIT, "rounds", str(rounds), W + "/spec", out)
        lines = [(l.rstrip("\n").split("\t"), {}) for l in open(out)]
    else:
        lines = []
        for _ in range(rounds):
            for c in cmds:
                with open(W + "/spec", "w") as f:
                    f.write(spec_line(c[0], c[1], c[2], c[3]) + "\n")
                before = {k: v() for k, v in cpu_of.items()}
                sh(TIMEIT, "rounds", "1", W + "/spec", out)
                after = {k: v() for k, v in cpu_of.items()}
                lines.append((open(out).read().rstrip("\n").split("\t"),
                              {k: after[k] - before[k] for k in cpu_of}))
    for f, extra in lines:
        res[f[1]].append((float(f[2]), float(f[3]), float(f[4]), int(f[5]), int(f[6]), extra))
    for name, runs in res.items():
        bad = [r for r in runs if r[3] != 0]
        if bad:
            log("WARNING: %s: %d of %d runs failed (status %d)" % (name, len(bad), len(runs), bad[0][3]))
            NOTES.append("%s: %d of %d runs failed" % (name, len(bad), len(runs)))
    return res


def ms_of(runs):
    return [r[0] for r in runs if r[3] == 0]


def paired_ratio(a, b):
    """Median over rounds of A_i / B_i (each pair ran back to back)."""
    r = [x[0] / y[0] for x, y in zip(a, b) if x[3] == 0 and y[3] == 0 and y[0] > 0]
    return med(r)


def row(section, what, a, b, ratio, target, met):
    ROWS.append((section, what, a, b, ratio, target, met))


# ------------------------------------------------------------------ set-up

def sshd(name, port):
    d = "%s/%s" % (W, name)
    os.mkdir(d)
    with open(d + "/sshd_config", "w") as f:
        f.write(sshd_config(port, W + "/host_ed25519", W + "/authorized_keys",
                            "PermitRootLogin prohibit-password\n"
                            "AllowTcpForwarding yes\n"
                            "MaxStartups 400:30:800\n"
                            "SetEnv HOME=%s\n" % d))
    if os.getuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)
    p = start(["/usr/sbin/sshd", "-D", "-f", d + "/sshd_config", "-E", d + "/log"])
    wait_port(port, "sshd " + name)
    return p


def machine():
    cpu = "?"
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip()
            break
    flags = open("/proc/cpuinfo").read()
    aes = "aes" in re.findall(r"^flags\s*:(.*)$", flags, re.M)[0].split() if "flags" in flags else False
    mem = int(open("/proc/meminfo").readline().split()[1]) // 1024
    ver = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    l2 = subprocess.run(["pkg-config", "--modversion", "libssh2"], capture_output=True, text=True).stdout.strip()
    uv = subprocess.run(["pkg-config", "--modversion", "libuv"], capture_output=True, text=True).stdout.strip()
    mb = "?"
    try:
        mb = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libmbedcrypto7"],
                            capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "aes_ni": aes, "mem_mib": mem,
            "kernel": os.uname().release, "openssh": ver, "libssh2": l2, "libuv": uv,
            "mbedtls": mb, "load_start": open("/proc/loadavg").read().split()[:3]}


def setup():
    keygen(W + "/host_ed25519")
    keygen(W + "/id_up")
    shutil.copy(W + "/id_up.pub", W + "/authorized_keys")
    global T, J, I, D, SSHD_T, SSHD_J, SSHD_I, USER
    USER = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    T, J, I = free_port(), free_port(), free_port()
    SSHD_T = sshd("target", T)
    SSHD_J = sshd("jump", J)
    SSHD_I = sshd("idle", I)
    hk = " ".join(open(W + "/host_ed25519.pub").read().split()[:2])
    with open(W + "/known_hosts", "w") as f:
        for p in (T, J, I):
            f.write("[127.0.0.1]:%d %s\n" % (p, hk))
    # the delay proxy in front of the target (the upstream hop only)
    px = start([PROXY, "--to", str(T), "--delay-ms", str(DELAY_MS)],
               stdout=subprocess.PIPE, text=True)
    D = int(px.stdout.readline().split()[-1])
    # and one that delays nothing: the same path and processes, no latency
    # (the bound for the delayed download, the proxy's own CPU included)
    px0 = start([PROXY, "--to", str(T), "--delay-ms", "0"], stdout=subprocess.PIPE, text=True)
    D0 = int(px0.stdout.readline().split()[-1])
    with open(W + "/known_hosts", "a") as f:
        f.write("[127.0.0.1]:%d %s\n" % (D, hk))
        f.write("[127.0.0.1]:%d %s\n" % (D0, hk))
    # sshmuxd's SSH dir
    sd = W + "/sshdir"
    os.mkdir(sd, 0o700)
    shutil.copy(W + "/known_hosts", sd + "/known_hosts")
    keygen(sd + "/id_ed25519")
    shutil.copy(sd + "/id_ed25519.pub", sd + "/sshmux-authorized-keys")
    with open(sd + "/sshmux-routes.ini", "w") as f:
        f.write("""[jump]
host = 127.0.0.1
port = {J}
user = {U}
identity = {W}/id_up

[routes.r1]
host = 127.0.0.1
port = {T}
user = {U}
identity = {W}/id_up
direct = true

[routes.rj]
host = 127.0.0.1
port = {T}
user = {U}
identity = {W}/id_up

[routes.rslow]
host = 127.0.0.1
port = {D}
user = {U}
identity = {W}/id_up
direct = true

[routes.rzero]
host = 127.0.0.1
port = {D0}
user = {U}
identity = {W}/id_up
direct = true

[routes.idle]
host = 127.0.0.1
port = {I}
user = {U}
identity = {W}/id_up
direct = true
""".format(J=J, T=T, D=D, D0=D0, I=I, U=USER, W=W))
    # echo-server: the client handshake with our server, nothing upstream
    global ECHO
    ECHO = free_port()
    start([B + "/examples/echo-server", "--port", str(ECHO), "--host-key", W + "/echo_hostkey",
           "--authorized-keys", sd + "/id_ed25519.pub", "--answer-ms", "0"], stdout=subprocess.DEVNULL,
          stderr=subprocess.DEVNULL)
    wait_port(ECHO, "echo-server")
    with open(W + "/cfg", "w") as f:
        for r in ("r1", "rj", "rslow", "rzero", "idle"):
            f.write("Host %s\n  User %s\n" % (r, r))
        f.write("""Host r1 rj rslow rzero idle
  HostName 127.0.0.1
  Port MPORT
  IdentityFile {sd}/id_ed25519
  UserKnownHostsFile {W}/relay_known_hosts
  StrictHostKeyChecking accept-new
Host echo
  HostName 127.0.0.1
  Port {E}
  IdentityFile {sd}/id_ed25519
  UserKnownHostsFile {W}/echo_known_hosts
  StrictHostKeyChecking accept-new
Host direct
  HostName 127.0.0.1
  Port {T}
Host jumped
  HostName 127.0.0.1
  Port {T}
  ProxyJump jumphost
Host jumphost
  HostName 127.0.0.1
  Port {J}
Host slow
  HostName 127.0.0.1
  Port {D}
Host direct jumped jumphost slow
  User {U}
  IdentityFile {W}/id_up
  UserKnownHostsFile {W}/known_hosts
  StrictHostKeyChecking yes
Host *
  IdentitiesOnly yes
  BatchMode yes
  ControlMaster no
  ControlPath none
  LogLevel ERROR
""".format(sd=sd, W=W, E=ECHO, T=T, J=J, D=D, U=USER))
    start_daemon()
    if BASE:
        global SM_BASE
        shutil.copytree(sd, W + "/sshdir-base")
        os.mkdir(W + "/run-base", 0o700)
        logf = open(W + "/serve-base.log", "w")
        SM_BASE = start([os.path.abspath(BASE) + "/sshmuxd", "serve", "--port", "0", "--ssh-dir",
                         W + "/sshdir-base", "--log-level", "warn"], stdout=logf,
                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                        env=dict(os.environ, XDG_RUNTIME_DIR=W + "/run-base"))
        end = time.monotonic() + 20
        while not re.search(r"serving on 127\.0\.0\.1:(\d+)", open(W + "/serve-base.log").read()):
            if time.monotonic() > end:
                sys.exit("bench: the baseline sshmuxd did not start")
            time.sleep(0.05)
        bport = re.search(r"serving on 127\.0\.0\.1:(\d+)", open(W + "/serve-base.log").read()).group(1)
        with open(W + "/cfg") as f:
            c = f.read()
        with open(W + "/cfg", "w") as f:
            for r in ("r1", "rj"):
                f.write("Host %s-base\n  User %s\n  HostName 127.0.0.1\n  Port %s\n"
                        "  IdentityFile %s/id_ed25519\n  UserKnownHostsFile %s/relay_known_hosts\n"
                        "  StrictHostKeyChecking accept-new\n" % (r, r, bport, sd, W))
            f.write(c)
        for h in ("r1-base", "rj-base"):
            sh("ssh", "-F", W + "/cfg", h, "true")
    # the client config `sshmuxd setup-config` writes (into sshmuxd's SSH dir), with its
    # local ControlMaster; and the same written with --no-control-master, into a copy of the
    # SSH dir (the same keys; its routes file, its own sshmux-hosts.conf and config)
    nd = W + "/sshdir-nocm"
    shutil.copytree(sd, nd, ignore=shutil.ignore_patterns("sshmux-cm", "sshmux.log*", "config",
                                                          "sshmux-hosts.conf"))
    sh(B + "/sshmuxd", "setup-config", "--ssh-dir", nd, "--port", str(MPORT), "--no-control-master",
       "--log-level", "error", stdout=subprocess.DEVNULL)
    sh(B + "/sshmuxd", "setup-config", "--ssh-dir", sd, "--port", str(MPORT),
       "--log-level", "error", stdout=subprocess.DEVNULL)
    if "ControlMaster auto" not in open(sd + "/sshmux-hosts.conf").read():
        sys.exit("bench: setup-config wrote no ControlMaster (is %s too long for its sockets?)" % sd)
    if "Control" in open(nd + "/sshmux-hosts.conf").read():
        sys.exit("bench: setup-config --no-control-master wrote Control lines")
    for name, d in (("cfg-setup", sd), ("cfg-setup-nocm", nd)):
        with open(W + "/" + name, "w") as f:
            f.write("Include %s/config\nHost *\n  BatchMode yes\n  LogLevel ERROR\n" % d)
    for cm, host in (("cm-direct", "direct"), ("cm-jump", "jumped"), ("cm-slow", "slow"),
                     ("cm-relay", "r1"), ("cm-relay-jump", "rj")):
        sh("ssh", "-F", W + "/cfg", "-o", "ControlMaster=yes", "-o",
           "ControlPath=%s/%s.sock" % (W, cm), "-o", "ControlPersist=yes", "-fN", host)
    for h in ("r1", "rj", "rslow", "rzero", "echo"):  # warm: logins, known_hosts
        sh("ssh", "-F", W + "/cfg", h, "true")
    for c in ("cfg-setup", "cfg-setup-nocm"):  # for cfg-setup: its masters start here
        for h in ("r1", "rj"):
            sh("ssh", "-F", W + "/" + c, h, "true")


def start_daemon():
    global SM, MPORT
    logf = open(W + "/serve.log", "w")
    # In a session of its own, as it runs for real (`sshmuxd install`: a
    # systemd user service or a login item), and as sshd's connection
    # processes and a backgrounded ControlMaster (ControlPersist: daemon())
    # do: with the kernel's autogroup scheduling a process in the bench's
    # own session shares one CPU share with every ssh client the bench
    # starts (docs/benchmarks.md, issue 9 section 6).
    SM = start([B + "/sshmuxd", "serve", "--port", "0", "--ssh-dir", W + "/sshdir",
                "--log-level", "warn"], stdout=logf, stderr=subprocess.STDOUT,
               stdin=subprocess.DEVNULL, start_new_session=True)
    end = time.monotonic() + 20
    while time.monotonic() < end:
        m = re.search(r"serving on 127\.0\.0\.1:(\d+)", open(W + "/serve.log").read())
        if m:
            MPORT = int(m.group(1))
            break
        time.sleep(0.05)
    else:
        sys.exit("bench: sshmuxd did not start:\n" + open(W + "/serve.log").read())
    cfg = W + "/cfg"
    if os.path.exists(cfg):
        s = re.sub(r"(Host r1 rj rslow rzero idle\n  HostName 127.0.0.1\n  Port )\S+",
                   r"\g<1>%d" % MPORT, open(cfg).read())
        open(cfg, "w").write(s)
    # and what setup-config wrote (a restart picks a new port)
    for d in ("sshdir", "sshdir-nocm"):
        hc = "%s/%s/sshmux-hosts.conf" % (W, d)
        if os.path.exists(hc):
            s = re.sub(r"(\n    Port )\d+", r"\g<1>%d" % MPORT, open(hc).read())
            open(hc, "w").write(s)


def stop_daemon():
    SM.terminate()
    SM.wait(10)


ENV_OPT = "-oSetEnv=LANG=C.UTF-8"  # an env request, whatever the bench's own environment


def ssh(host, *cmd, cfg=None, cm=None):
    a = ["ssh", "-F", cfg or W + "/cfg"]
    if cm:
        a += ["-o", "ControlPath=%s/%s.sock" % (W, cm)]
    return a + [host] + list(cmd)


def cm_pid(cm):
    r = subprocess.run(["ssh", "-F", W + "/cfg", "-S", "%s/%s.sock" % (W, cm), "-O", "check", "direct"],
                       capture_output=True, text=True)
    m = re.search(r"pid=(\d+)", r.stderr + r.stdout)
    return int(m.group(1)) if m else 0


# ------------------------------------------------------------------ sections

def sec_warm():
    # setup-config's masters (ControlPersist 300) are started if an earlier section outlasted them
    sh(*ssh("r1", "true", cfg=W + "/cfg-setup"))
    cmds = [("sshmuxd", ssh("r1", "true"), 0, 0),
            ("sshmuxd-setup-config", ssh("r1", "true", cfg=W + "/cfg-setup"), 0, 0),
            ("sshmuxd-setup-config-no-cm", ssh("r1", "true", cfg=W + "/cfg-setup-nocm"), 0, 0),
            ("sshmuxd-setup-config-no-cm-ed25519",
             ssh("-oHostKeyAlgorithms=ssh-ed25519", "r1", "true", cfg=W + "/cfg-setup-nocm"), 0, 0),
            ("sshmuxd-behind-cm", ssh("r1", "true", cm="cm-relay"), 0, 0),
            ("controlmaster", ssh("direct", "true", cm="cm-direct"), 0, 0),
            ("cold-direct", ssh("direct", "true"), 0, 0),
            ("echo-server", ssh("echo", "true"), 0, 0),
            ("ssh-V", ["ssh", "-V"], 0, 0)]
    if BASE:
        cmds.append(("sshmuxd-before", ssh("r1-base", "true"), 0, 0))
    r = interleave(cmds, RUNS, "warm")
    s = {k: summary(ms_of(v)) for k, v in r.items()}
    RESULTS["sections"]["warm"] = s
    cm = s["controlmaster"]
    for k, label in (("sshmuxd", "warm `ssh r true`, raw config (no setup-config, no local master)"),
                     ("sshmuxd-setup-config", "warm `ssh r true`, setup-config's config (with its local "
                      "ControlMaster, as shipped)"),
                     ("sshmuxd-setup-config-no-cm", "warm `ssh r true`, setup-config's config with "
                      "--no-control-master")):
        rt = paired_ratio(r[k], r["controlmaster"])
        row("warm", label, ("sshmuxd+CM " if k == "sshmuxd-setup-config" else "sshmuxd ") + fmt_ms(s[k]),
            "ControlMaster " + fmt_ms(cm), rt, "≤ 1.10×, p90 ≤ 1.25× CM median",
            rt <= 1.10 and s[k]["p90"] <= 1.25 * cm["median"])
    row("warm", "setup-config's config with --no-control-master: ECDSA host key first (as written) vs "
        "Ed25519", "ECDSA " + fmt_ms(s["sshmuxd-setup-config-no-cm"]),
        "Ed25519 " + fmt_ms(s["sshmuxd-setup-config-no-cm-ed25519"]),
        paired_ratio(r["sshmuxd-setup-config-no-cm"], r["sshmuxd-setup-config-no-cm-ed25519"]), "", None)
    rt = paired_ratio(r["sshmuxd-behind-cm"], r["controlmaster"])
    row("warm", "warm `ssh r true`, raw config behind a local ControlMaster started by hand (`ssh -M`)",
        "sshmuxd+CM " + fmt_ms(s["sshmuxd-behind-cm"]), "ControlMaster " + fmt_ms(cm), rt, "≤ 1.10×",
        rt <= 1.10)
    rc = paired_ratio(r["cold-direct"], r["sshmuxd"])
    row("warm", "cold direct `ssh` vs warm sshmuxd", "cold " + fmt_ms(s["cold-direct"]),
        "sshmuxd " + fmt_ms(s["sshmuxd"]), rc, "≥ 5× (cold / warm)", rc >= 5)
    row("warm", "breakdown: `ssh` to examples/echo-server (our server, no upstream)",
        "echo-server " + fmt_ms(s["echo-server"]), "`ssh -V` " + fmt_ms(s["ssh-V"]),
        paired_ratio(r["echo-server"], r["ssh-V"]), "", None)
    if BASE:
        row("warm", "before → after this change (%s vs this build)" % os.path.basename(os.path.abspath(BASE)),
            "after " + fmt_ms(s["sshmuxd"]), "before " + fmt_ms(s["sshmuxd-before"]),
            paired_ratio(r["sshmuxd"], r["sshmuxd-before"]), "", None)
    NOTES.append("client CPU per warm attach (user+sys of the `ssh` process, median; less noisy "
                 "than wall time on a busy machine): " + ", ".join(
                     "%s %.1f ms" % (k, med([(x[1] + x[2]) * 1e3 for x in v if x[3] == 0]))
                     for k, v in r.items()))
    up = s["sshmuxd"]["median"] - s["echo-server"]["median"]
    NOTES.append("warm attach breakdown (medians): `ssh -V` (client start-up) %.1f ms; "
                 "client handshake with our server (echo-server) %.1f ms; the rest of a "
                 "warm sshmuxd attach (relay + upstream channel open, exec, exit) %.1f ms; "
                 "ControlMaster's whole attach %.1f ms."
                 % (s["ssh-V"]["median"], s["echo-server"]["median"], up, cm["median"]))


def sec_jump():
    sh(*ssh("rj", "true", cfg=W + "/cfg-setup"))  # its master, if the warm section outlasted it
    cmds = [("sshmuxd-jump", ssh("rj", "true"), 0, 0),
            ("sshmuxd-jump-setup-config", ssh("rj", "true", cfg=W + "/cfg-setup"), 0, 0),
            ("sshmuxd-jump-behind-cm", ssh("rj", "true", cm="cm-relay-jump"), 0, 0),
            ("controlmaster-jump", ssh("jumped", "true", cm="cm-jump"), 0, 0),
            ("cold-jump", ssh("jumped", "true"), 0, 0)]
    if BASE:
        cmds.append(("sshmuxd-jump-before", ssh("rj-base", "true"), 0, 0))
    r = interleave(cmds, RUNS, "jump")
    s = {k: summary(ms_of(v)) for k, v in r.items()}
    RESULTS["sections"]["jump"] = s
    if BASE:
        row("jump", "before → after this change, through the jump",
            "after " + fmt_ms(s["sshmuxd-jump"]), "before " + fmt_ms(s["sshmuxd-jump-before"]),
            paired_ratio(r["sshmuxd-jump"], r["sshmuxd-jump-before"]), "", None)
    NOTES.append("client CPU per attach through the jump (user+sys of `ssh`, and of its "
                 "ProxyJump child for ControlMaster's cold case): " + ", ".join(
                     "%s %.1f ms" % (k, med([(x[1] + x[2]) * 1e3 for x in v if x[3] == 0]))
                     for k, v in r.items()))
    cmj = "ControlMaster over ProxyJump " + fmt_ms(s["controlmaster-jump"])
    rt = paired_ratio(r["sshmuxd-jump"], r["controlmaster-jump"])
    row("jump", "warm `ssh r true` through a jump host, raw config (no local master)",
        "sshmuxd " + fmt_ms(s["sshmuxd-jump"]), cmj, rt, "≤ 1.10×", rt <= 1.10)
    rt = paired_ratio(r["sshmuxd-jump-setup-config"], r["controlmaster-jump"])
    row("jump", "same, setup-config's config (with its local ControlMaster, as shipped)",
        "sshmuxd+CM " + fmt_ms(s["sshmuxd-jump-setup-config"]), cmj, rt, "≤ 1.10×", rt <= 1.10)
    rt = paired_ratio(r["sshmuxd-jump-behind-cm"], r["controlmaster-jump"])
    row("jump", "same, raw config behind a local ControlMaster started by hand (`ssh -M`)",
        "sshmuxd+CM " + fmt_ms(s["sshmuxd-jump-behind-cm"]), cmj, rt, "≤ 1.10×", rt <= 1.10)
    rc = paired_ratio(r["cold-jump"], r["sshmuxd-jump"])
    row("jump", "cold `ssh -J` vs warm sshmuxd through the jump",
        "cold " + fmt_ms(s["cold-jump"]), "sshmuxd " + fmt_ms(s["sshmuxd-jump"]), rc,
        "≥ 5×", rc >= 5)


def measure_rtt(port, n=20):
    c = socket.create_connection(("127.0.0.1", port))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    v = []
    for _ in range(n):
        t = time.perf_counter()
        c.sendall(b"x")
        if not c.recv(16):
            break
        v.append((time.perf_counter() - t) * 1e3)
    c.close()
    return v


def sec_delay():
    # 1. the proxy's added RTT, against a TCP echo service (same binary, delay)
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    eport = ls.getsockname()[1]

    def echo():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
            c.close()
    threading.Thread(target=echo, daemon=True).start()
    px = start([PROXY, "--to", str(eport), "--delay-ms", str(DELAY_MS)],
               stdout=subprocess.PIPE, text=True)
    pport = int(px.stdout.readline().split()[-1])
    direct = summary(measure_rtt(eport))
    via = summary(measure_rtt(pport))
    px.terminate()
    ls.close()
    added = via["median"] - direct["median"]
    RESULTS["sections"]["delay_rtt"] = {"direct": direct, "proxy": via, "added_ms": added}
    row("delay", "delay proxy's RTT (1-byte ping-pong, TCP echo)",
        "through it " + fmt_ms(via), "direct " + fmt_ms(direct), None,
        "added ≈ %d ms" % (2 * DELAY_MS), abs(added - 2 * DELAY_MS) < 0.2 * DELAY_MS)
    rtt_s = via["median"] / 1e3
    # 2. warm attach through it
    cmds = [("sshmuxd-slow", ssh("rslow", "true"), 0, 0),
            ("controlmaster-slow", ssh("slow", "true", cm="cm-slow"), 0, 0),
            ("cold-slow", ssh("slow", "true"), 0, 0),
            # what Debian's /etc/ssh/ssh_config does (SendEnv LANG LC_*) for
            # anyone with a locale: one env request before the exec
            ("sshmuxd-slow-env", ssh(ENV_OPT, "rslow", "true"), 0, 0),
            ("controlmaster-slow-env", ssh(ENV_OPT, "slow", "true", cm="cm-slow"), 0, 0)]
    r = interleave(cmds, max(5, RUNS // 2), "slow")
    s = {k: summary(ms_of(v)) for k, v in r.items()}
    RESULTS["sections"]["delay_warm"] = s
    rt = paired_ratio(r["sshmuxd-slow"], r["controlmaster-slow"])
    row("delay", "warm `ssh r true`, %d ms RTT upstream" % round(via["median"]),
        "sshmuxd " + fmt_ms(s["sshmuxd-slow"]), "ControlMaster " + fmt_ms(s["controlmaster-slow"]),
        rt, "≤ 1.10×", rt <= 1.10)
    rt = paired_ratio(r["sshmuxd-slow-env"], r["controlmaster-slow-env"])
    row("delay", "same, the client sending LANG (Debian's default `SendEnv LANG LC_*`)",
        "sshmuxd " + fmt_ms(s["sshmuxd-slow-env"]),
        "ControlMaster " + fmt_ms(s["controlmaster-slow-env"]), rt, "≤ 1.10×", rt <= 1.10)
    # 3. throughput through it, against direct ssh, against OpenSSH's 2 MiB
    #    window/RTT bound, and against what the path can carry with the
    #    window sshmuxd grows to: the smaller of WINDOW_MAX/RTT and the same
    #    download through the same proxy delaying nothing (the CPU bound of
    #    this path on this machine, the proxy's own CPU included)
    n = DELAY_MB << 20
    cmds = [("sshmuxd-slow-down", ssh("rslow", "head -c %d /dev/zero" % n), 0, 1),
            ("direct-slow-down", ssh("slow", "head -c %d /dev/zero" % n), 0, 1),
            ("sshmuxd-zero-down", ssh("rzero", "head -c %d /dev/zero" % n), 0, 1)]
    r = interleave(cmds, max(1, BULK_RUNS - 1), "slowbulk")
    bound = 2 * 1024 * 1024 / rtt_s / 2**20
    RESULTS["sections"]["delay_bulk"] = {k: [x[0] for x in v] for k, v in r.items()}
    res = {}
    for k, v in r.items():
        ok = [x for x in v if x[3] == 0 and x[4] == n]
        if len(ok) != len(v):
            NOTES.append("%s: %d of %d transfers short or failed" % (k, len(v) - len(ok), len(v)))
        res[k] = max(DELAY_MB / (x[0] / 1e3) for x in ok) if ok else float("nan")
    slow, direct, fast = res["sshmuxd-slow-down"], res["direct-slow-down"], res["sshmuxd-zero-down"]
    row("delay", "%d MiB download over the %d ms path (best run, MiB/s)"
        % (DELAY_MB, round(via["median"])),
        "sshmuxd %.1f" % slow, "direct ssh %.1f" % direct, slow / direct, "≥ 0.90×", slow / direct >= 0.9)
    row("delay", "same, vs OpenSSH's 2 MiB-window/RTT bound (%.1f MiB/s)" % bound,
        "sshmuxd %.1f" % slow, "bound %.1f" % bound, slow / bound, "", None)
    grown = WINDOW_MAX_MIB / rtt_s
    reach = min(grown, fast)
    row("delay", "same, vs what the path carries with sshmuxd's grown window: min(%d MiB/RTT = %.0f, "
        "the same download through the proxy set to 0 ms = %.1f) MiB/s" % (WINDOW_MAX_MIB, grown, fast),
        "sshmuxd %.1f" % slow, "bound %.1f" % reach, slow / reach, "≥ 0.90× of bound", slow / reach >= 0.9)


def bulk_cpu_sources(cm):
    src = {"sshmuxd": lambda: proc_cpu(SM.pid), "sshd": lambda: tree_cpu(SSHD_T.pid)}
    pid = cm_pid(cm)
    if pid:
        src["cm-master"] = lambda: proc_cpu(pid)
    return src


def sec_bulk():
    n = BULK_MB << 20
    cmds = []
    for d in ("down", "up"):
        for name, host, cm, cfg in (("sshmuxd", "r1", None, None), ("direct", "direct", None, None),
                                    ("controlmaster", "direct", "cm-direct", None),
                                    ("sshmuxd-setup", "r1", None, W + "/cfg-setup")):
            cmd = "head -c %d /dev/zero" % n if d == "down" else "cat >/dev/null"
            cmds.append(("%s-%s" % (name, d), ssh(host, cmd, cm=cm, cfg=cfg),
                         n if d == "up" else 0, 1 if d == "down" else 0))
    r = interleave(cmds, BULK_RUNS, "bulk", cpu_of=bulk_cpu_sources("cm-direct"))
    out = {}
    for k, v in r.items():
        ok = [x for x in v if x[3] == 0 and (k.endswith("up") or x[4] == n)]
        if len(ok) != len(v):
            NOTES.append("%s: %d of %d transfers short or failed" % (k, len(v) - len(ok), len(v)))
        mbs = [BULK_MB / (x[0] / 1e3) for x in ok]
        gib = BULK_MB / 1024
        cpu = {"ssh client": med([(x[1] + x[2]) / gib for x in ok])}
        for lbl in ok[0][5] if ok else []:
            cpu[lbl] = med([x[5][lbl] / gib for x in ok])
        out[k] = {"mib_s": mbs, "best": max(mbs) if mbs else float("nan"),
                  "median": med(mbs), "cpu_s_per_gib": cpu}
    RESULTS["sections"]["bulk"] = out
    hwm = 0
    for l in open("/proc/%d/status" % SM.pid):
        if l.startswith("VmHWM:"):
            hwm = int(l.split()[1])
    NOTES.append("sshmuxd peak RSS (VmHWM) after %d × %d MiB each way: %d KiB "
                 "(the rss section, before any bulk, shows the idle size)"
                 % (BULK_RUNS, BULK_MB, hwm))
    for d in ("down", "up"):
        a, b, c = out["sshmuxd-" + d], out["direct-" + d], out["controlmaster-" + d]
        rt = paired_ratio(r["direct-" + d], r["sshmuxd-" + d])  # time ratio = throughput ratio
        row("bulk", "%d MiB %s, MiB/s (median of %d)" % (BULK_MB, "download" if d == "down" else "upload", BULK_RUNS),
            "sshmuxd %.0f" % a["median"], "direct ssh %.0f, ControlMaster %.0f" % (b["median"], c["median"]),
            rt, "≥ 0.90× direct", rt >= 0.90)
        row("bulk", "same, vs ControlMaster (no handshake either side)", "sshmuxd %.0f" % a["median"],
            "ControlMaster %.0f" % c["median"], paired_ratio(r["controlmaster-" + d], r["sshmuxd-" + d]),
            "", None)
        e = out["sshmuxd-setup-" + d]
        rt = paired_ratio(r["direct-" + d], r["sshmuxd-setup-" + d])
        row("bulk", "same, setup-config's config (its local master; aes256-gcm to sshmuxd)",
            "sshmuxd+CM %.0f" % e["median"], "direct ssh %.0f" % b["median"], rt, "≥ 0.90× direct", rt >= 0.90)
        for k, v in (("sshmuxd", a), ("direct", b), ("controlmaster", c)):
            NOTES.append("CPU s per GiB, %s %s: %s" % (k, d, ", ".join(
                "%s %.2f" % (p, s) for p, s in v["cpu_s_per_gib"].items()
                if not (k != "controlmaster" and p == "cm-master") and not (k != "sshmuxd" and p == "sshmuxd"))))


def sec_sftp():
    n = SFTP_MB << 20
    big = W + "/big"
    with open(big, "wb") as f:
        f.truncate(n)
    cmds = []
    for d, line in (("get", "get %s /dev/null\n" % big), ("put", "put %s /dev/null\n" % big)):
        bf = "%s/sftp-%s" % (W, d)
        open(bf, "w").write(line)
        for name, host, cm, cfg in (("sshmuxd", "r1", None, None), ("direct", "direct", None, None),
                                    ("controlmaster", "direct", "cm-direct", None),
                                    ("sshmuxd-setup", "r1", None, W + "/cfg-setup")):
            a = ["sftp", "-q", "-b", bf, "-F", cfg or W + "/cfg"]
            if cm:
                a += ["-o", "ControlPath=%s/%s.sock" % (W, cm)]
            cmds.append(("%s-%s" % (name, d), a + [host], 0, 0))
    r = interleave(cmds, BULK_RUNS, "sftp")
    out = {k: [SFTP_MB / (x[0] / 1e3) for x in v if x[3] == 0] for k, v in r.items()}
    RESULTS["sections"]["sftp"] = out
    for d in ("get", "put"):
        rt = paired_ratio(r["direct-" + d], r["sshmuxd-" + d])
        row("sftp", "sftp %s %d MiB, MiB/s (median of %d)" % (d, SFTP_MB, BULK_RUNS),
            "sshmuxd %.0f" % med(out["sshmuxd-" + d]),
            "direct %.0f, ControlMaster %.0f" % (med(out["direct-" + d]), med(out["controlmaster-" + d])),
            rt, "≥ 0.90× direct", rt >= 0.90)
        rt = paired_ratio(r["direct-" + d], r["sshmuxd-setup-" + d])
        row("sftp", "same, setup-config's config (its local master; aes256-gcm to sshmuxd)",
            "sshmuxd+CM %.0f" % med(out["sshmuxd-setup-" + d]), "direct %.0f" % med(out["direct-" + d]),
            rt, "≥ 0.90× direct", rt >= 0.90)


def sec_many():
    res = {}
    for name, argv in (("sshmuxd", ssh("r1", "echo {}")),
                       ("controlmaster", ssh("direct", "echo {}", cm="cm-direct"))):
        d = "%s/many-%s" % (W, name)
        os.mkdir(d)
        sh(TIMEIT, "parallel", str(MANY), d, d + ".tsv", *argv)
        ok, ms = 0, []
        for l in open(d + ".tsv"):
            i, t, st = l.split()
            ms.append(float(t))
            if st == "0" and open("%s/%s.out" % (d, i)).read() == i + "\n":
                ok += 1
        res[name] = {"ok": ok, "n": MANY, **summary(ms)}
    RESULTS["sections"]["many"] = res
    a, c = res["sshmuxd"], res["controlmaster"]
    row("many", "%d concurrent `ssh r 'echo N'`: right answers, p50 / p99 attach" % MANY,
        "sshmuxd %d/%d, %.0f / %.0f ms (max %.0f)" % (a["ok"], MANY, a["median"], a["p99"], a["max"]),
        "ControlMaster %d/%d, %.0f / %.0f ms (max %.0f)" % (c["ok"], MANY, c["median"], c["p99"], c["max"]),
        a["p99"] / c["p99"], "all succeed", a["ok"] == MANY)


def rss(pid):
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])
    return 0


def sec_rss():
    stop_daemon()
    start_daemon()
    sh(*ssh("r1", "true"))
    sh(*ssh("idle", "true"))
    time.sleep(0.5)
    r0 = rss(SM.pid)
    kids = []
    for i in range(IDLE):
        f = open("%s/idle.%d" % (W, i), "w")
        kids.append(subprocess.Popen(ssh("idle", "echo up-%d; exec sleep 600" % i), stdout=f,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL))
    end = time.monotonic() + 60
    up = 0
    while time.monotonic() < end:
        up = sum(1 for i in range(IDLE) if open("%s/idle.%d" % (W, i)).read().startswith("up-"))
        if up >= IDLE:
            break
        time.sleep(0.1)
    time.sleep(1)
    r1 = rss(SM.pid)
    for k in kids:
        k.terminate()
    for k in kids:
        k.wait()
    per = (r1 - r0) / max(1, up)
    RESULTS["sections"]["rss"] = {"before_kib": r0, "after_kib": r1, "sessions": up, "per_kib": per}
    row("rss", "sshmuxd RSS per open idle session (%d sessions)" % up,
        "%.1f KiB" % per, "%d → %d KiB" % (r0, r1), None, "≤ 64 KiB", per <= 64 and up == IDLE)


def sec_stability():
    inst = []
    allr = []
    for i in range(INSTANCES):
        stop_daemon()
        start_daemon()
        sh(*ssh("r1", "true"))  # the cold login of this instance
        r = interleave([("sshmuxd", ssh("r1", "true"), 0, 0),
                        ("controlmaster", ssh("direct", "true", cm="cm-direct"), 0, 0)],
                       PER, "stab%d" % i)
        v = ms_of(r["sshmuxd"])
        allr.append(paired_ratio(r["sshmuxd"], r["controlmaster"]))
        inst.append({"sshmuxd": summary(v), "controlmaster": summary(ms_of(r["controlmaster"]))})
    RESULTS["sections"]["stability"] = inst
    worst = max(x["sshmuxd"]["p99"] for x in inst)
    p50s = [x["sshmuxd"]["median"] for x in inst]
    row("stability", "%d fresh daemons × %d warm attaches: per-instance p50 range, worst p99" % (INSTANCES, PER),
        "sshmuxd p50 %.1f–%.1f ms, worst p99 %.1f ms" % (min(p50s), max(p50s), worst),
        "ControlMaster p50 %.1f ms" % med([x["controlmaster"]["median"] for x in inst]),
        med(allr), "no instance stalls (p99 ≤ 2× p50)",
        all(x["sshmuxd"]["p99"] <= 2 * x["sshmuxd"]["median"] for x in inst))


def sec_proof():
    if os.getuid() != 0 or shutil.which("ip") is None:
        NOTES.append("proof skipped (needs root and ip)")
        return
    r = subprocess.run([B + "/tests/run-tests", "relay_jump_bulk"], capture_output=True, text=True,
                       env=dict(os.environ, SSHMUX_TEST_BULK_MB=str(DELAY_MB), SSHMUX_BUILD=B))
    ok = r.returncode == 0 and "1 passed, 0 failed" in r.stdout
    RESULTS["sections"]["proof"] = {"ok": ok, "out": r.stdout[-2000:]}
    row("proof", "%d MiB each way through a jump host (netns), SHA-256 compared" % DELAY_MB,
        "identical" if ok else "FAILED", "", None, "passes", ok)


# ------------------------------------------------------------------ report

def plot(png):
    """Warm-attach medians with min/max bars, one group per comparison."""
    rows = []
    for sec, key, label in (("warm", "sshmuxd", "sshmuxd\\n(raw config)"),
                            ("warm", "sshmuxd-setup-config-no-cm", "setup-config\\n--no-control-master"),
                            ("warm", "sshmuxd-setup-config", "setup-config\\n(its local CM)"),
                            ("warm", "controlmaster", "ControlMaster"), ("warm", "echo-server", "echo-server\\nhandshake"),
                            ("warm", "ssh-V", "ssh -V"), ("jump", "sshmuxd-jump", "jump\\n(raw config)"),
                            ("jump", "sshmuxd-jump-setup-config", "jump, setup-\\nconfig (its CM)"),
                            ("jump", "controlmaster-jump", "CM over\\nProxyJump")):
        s = RESULTS["sections"].get(sec, {}).get(key)
        if s:
            rows.append((label, s["median"], s["min"], s["p90"]))
    if not rows or shutil.which("gnuplot") is None:
        return False
    dat = W + "/plot.dat"
    with open(dat, "w") as f:
        for i, (l, m, lo, hi) in enumerate(rows):
            f.write('%d "%s" %.3f %.3f %.3f\n' % (i, l, m, lo, hi))
    gp = """set terminal pngcairo size 1100,520 font ",10"
set output "{png}"
set title "Warm attach (ssh ROUTE true): median, bar = min..p90, ms (lower is better)"
set style fill solid 0.6
set boxwidth 0.6
set yrange [0:*]
set bmargin 5
set grid ytics
set xtics rotate by 0 scale 0
unset key
plot "{dat}" using 1:3:xtic(2) with boxes lc rgb "#4477aa", \\
     "{dat}" using 1:3:4:5 with yerrorbars lc rgb "black" pt 0, \\
     "{dat}" using 1:($3+2):(sprintf("%.1f",$3)) with labels offset 0,1
""".format(png=png, dat=dat)
    open(W + "/plot.gp", "w").write(gp)
    return subprocess.run(["gnuplot", W + "/plot.gp"]).returncode == 0


def report(mach, secs_run, wall):
    L = []
    L.append("<!-- bench:begin (written by `make bench`; edit the text outside these markers) -->")
    L.append("")
    L.append("### Last run")
    L.append("")
    L.append("`make bench` on %s UTC, sections: %s; %.0f s wall."
             % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()), " ".join(secs_run), wall))
    L.append("")
    L.append("Machine: %s, %d CPUs (AES-NI: %s), %d MiB RAM, Linux %s; %s; libssh2 %s, libuv %s, mbedTLS %s. "
             "Load average at start %s, at end %s. **This machine is shared with other engineers "
             "and was not idle**: absolute times carry their noise; the ratios come from "
             "interleaved runs (A B A B …) and are the median over rounds of the per-round ratio."
             % (mach["cpu"], mach["cpus"], "yes" if mach["aes_ni"] else "no", mach["mem_mib"], mach["kernel"],
                mach["openssh"], mach["libssh2"], mach["libuv"], mach["mbedtls"],
                " ".join(mach["load_start"]), " ".join(open("/proc/loadavg").read().split()[:3])))
    L.append("")
    L.append("| section | what | ours | theirs | ratio | target | met |")
    L.append("|---|---|---|---|---|---|---|")
    for sec, what, a, b, rt, tgt, met in ROWS:
        L.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            sec, what, a, b, "" if rt is None else "%.2f×" % rt, tgt,
            "" if met is None else ("yes" if met else "**no**")))
    L.append("")
    L.append("Latency cells: median (min–max, p90) over %d interleaved rounds. "
             "Throughput ratios are time ratios (direct time / sshmuxd time), so > 1 means faster." % RUNS)
    L.append("")
    for n in NOTES:
        L.append("- " + n)
    L.append("")
    if os.path.exists(os.path.join(os.path.dirname(OUT), "benchmarks.png")):
        L.append("![warm attach](benchmarks.png)")
        L.append("")
    L.append("<!-- bench:end -->")
    block = "\n".join(L)
    old = open(OUT).read() if os.path.exists(OUT) else "# Benchmarks\n\n"
    if "<!-- bench:begin" in old:
        new = re.sub(r"<!-- bench:begin.*?<!-- bench:end -->", lambda m: block, old, flags=re.S)
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    tmp = OUT + ".tmp"
    open(tmp, "w").write(new)
    os.replace(tmp, OUT)


def main():
    t0 = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    try:
        mach = machine()
        log("set-up in", W)
        setup()
        ran = []
        for s in ALL:
            if s in ONLY:
                t = time.monotonic()
                log("section", s)
                globals()["sec_" + s]()
                log("section %s took %.0f s" % (s, time.monotonic() - t))
                ran.append(s)
        RESULTS["machine"] = mach
        RESULTS["rows"] = ROWS
        RESULTS["notes"] = NOTES
        with open(os.path.join(B, "bench", "results.json"), "w") as f:
            json.dump(RESULTS, f, indent=1)
        if "warm" in ONLY:
            png = os.path.join(os.path.dirname(OUT), "benchmarks.png")
            if not plot(png):
                log("no plot (gnuplot missing or failed)")
        report(mach, ran, time.monotonic() - t0)
        for r in ROWS:
            log("%s | %s | %s | %s | %s | %s" % (r[0], r[1], r[2], r[3],
                                                  "" if r[4] is None else "%.2fx" % r[4],
                                                  "" if r[6] is None else ("met" if r[6] else "NOT MET")))
        for n in NOTES:
            log(n)
        log("wrote", OUT, "in %.0f s" % (time.monotonic() - t0))
    finally:
        cleanup()


if __name__ == "__main__":
    main()
