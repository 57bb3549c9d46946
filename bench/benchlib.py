"""benchlib.py -- the helpers bench.py (`make bench`) and updown.py share:
loopback ports, host keys, CPU seconds from /proc, medians.  No state and
no side effects at import, so either script can use it."""
import os
import socket
import subprocess
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, what, secs=10):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("bench: %s did not listen on %d" % (what, port))


def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path],
                   check=True)


def proc_cpu(pid):
    """utime+stime+cutime+cstime of pid, seconds (0 when gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            f = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in f[11:15]) / HZ
    except OSError:
        return 0.0


def tree_cpu(root):
    """CPU seconds of root and every live descendant; reaped descendants are in
    their parents' cutime/cstime, so the sum covers the whole tree."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    total, todo = 0.0, [root]
    while todo:
        p = todo.pop()
        total += proc_cpu(p)
        todo.extend(kids.get(p, []))
    return total


def med(v):
    v = sorted(v)
    n = len(v)
    return float("nan") if n == 0 else (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2)


def sshd_config(port, host_key, authorized_keys, extra=""):
    """A loopback sshd's configuration: one host key, one authorized_keys,
    public keys only, sftp, room for the bench's many sessions; extra lines
    after."""
    return """ListenAddress 127.0.0.1:{port}
HostKey {hk}
AuthorizedKeysFile {ak}
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
MaxSessions 400
Subsystem sftp internal-sftp
LogLevel ERROR
""".format(port=port, hk=host_key, ak=authorized_keys) + extra


def stop_all(procs):
    """Terminate every process of procs still running; kill what is left
    after 5 s."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
