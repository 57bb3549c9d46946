#!/usr/bin/python3
"""make-seeds.py -- writes the seed corpora of the structure-aware server
fuzz targets (fuzz-server-kex, -auth, -channel, -global) and of fuzz-core-buf and
fuzz-pool-ptymodes, the hostile-upstream programs of fuzz-pool-upstream, and
the `ssh -G` outputs and ssh_config files of fuzz-daemon-sshcfg (made with
the installed ssh), into tests/fuzz/corpus/NAME/.  Run from the top of the tree:
    /usr/bin/python3 tests/fuzz/make-seeds.py [GROUP...]
(GROUP: kex auth channel global small upstream sshcfg; default all of
them.)
Input format (fuzz-server.h): a flags byte, then records [u16 BE length]
[payload]; the target frames each payload as a packet.  Signatures are made
with python3-cryptography over the session identifier of the test shortcut
(32 bytes of 0x5a), with throwaway keys made here.  The output is committed;
re-running it changes only the randomised signatures and ECDH points."""
import os
import struct

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

OUT = "tests/fuzz/corpus"
SID = b"\x5a" * 32


def u32(v):
    return struct.pack(">I", v)


def s(b):
    if isinstance(b, str):
        b = b.encode()
    return u32(len(b)) + b


def mpint(v):
    if v == 0:
        return u32(0)
    b = v.to_bytes((v.bit_length() + 8) // 8, "big")
    if b[0] == 0 and len(b) > 1 and not b[1] & 0x80:
        b = b[1:]
    return s(b)


def boolean(v):
    return b"\x01" if v else b"\x00"


def nl(*names):
    return s(",".join(names))


def records(flags, *payloads):
    out = bytes([flags])
    for p in payloads:
        out += struct.pack(">H", len(p)) + p
    return out


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- key exchange ----
def kexinit(kex, hostkey, ciphers, macs, follows=False):
    return (bytes([20]) + os.urandom(16) + nl(*kex) + nl(*hostkey) +
            nl(*ciphers) + nl(*ciphers) + nl(*macs) + nl(*macs) + nl("none") +
            nl("none") + nl() + nl() + boolean(follows) + u32(0))


KEX_OPENSSH = ["sntrup761x25519-sha512@openssh.com", "curve25519-sha256",
               "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256",
               "ext-info-c", "kex-strict-c-v00@openssh.com"]
HK = ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256"]
CIPH = ["chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr",
        "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]
MACS = ["umac-64-etm@openssh.com", "hmac-sha2-256-etm@openssh.com",
        "hmac-sha2-512-etm@openssh.com", "hmac-sha2-256"]


def x25519_pub():
    return x25519.X25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def p256_pub():
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def kex_seeds():
    t = "fuzz-server-kex"
    ecdh = bytes([30]) + s(x25519_pub())
    newkeys = bytes([21])
    write(t, "openssh", records(0, kexinit(KEX_OPENSSH, HK, CIPH, MACS), ecdh,
                                newkeys) + os.urandom(64))
    write(t, "p256", records(0, kexinit(["ecdh-sha2-nistp256"],
                                        ["ecdsa-sha2-nistp256"], ["aes128-ctr"],
                                        ["hmac-sha2-256-etm@openssh.com"]),
                             bytes([30]) + s(p256_pub()), newkeys))
    write(t, "gcm", records(0, kexinit(["curve25519-sha256", "ext-info-c"],
                                       ["ssh-ed25519"],
                                       ["aes256-gcm@openssh.com"], ["hmac-sha2-256"]),
                            ecdh, newkeys))
    # A wrong guess: the packet that follows must be ignored.
    write(t, "guess-right", records(0, kexinit(["curve25519-sha256", "ecdh-sha2-nistp256"],
                                               ["ssh-ed25519"], CIPH, MACS, True),
                                    ecdh, newkeys))
    write(t, "guess-wrong-p256", records(0, kexinit(["ecdh-sha2-nistp256", "curve25519-sha256"],
                                                    ["ssh-ed25519"], CIPH, MACS, True),
                                         ecdh, bytes([30]) + s(p256_pub()), newkeys))
    write(t, "guess-wrong", records(0, kexinit(["sntrup761x25519-sha512@openssh.com",
                                                "curve25519-sha256"],
                                               ["ssh-ed25519"], CIPH, MACS, True),
                                    bytes([30]) + s(os.urandom(1190)), ecdh, newkeys))
    write(t, "noalgo", records(0, kexinit(["diffie-hellman-group1-sha1"], ["ssh-dss"],
                                          ["3des-cbc"], ["hmac-md5"])))
    write(t, "ignore-debug", records(0, bytes([2]) + s("x"),
                                     bytes([4, 1]) + s("dbg") + s(""),
                                     kexinit(KEX_OPENSSH[:4], HK, CIPH, MACS),
                                     bytes([2]) + s("y"), ecdh, newkeys))
    write(t, "rekey", records(1, kexinit(["curve25519-sha256"], HK, CIPH, MACS),
                              bytes([2]) + s("ignored"), ecdh, newkeys))


# ---- user authentication ----
def ed_key():
    k = ed25519.Ed25519PrivateKey.generate()
    pub = k.public_key().public_bytes(serialization.Encoding.Raw,
                                      serialization.PublicFormat.Raw)
    blob = s("ssh-ed25519") + s(pub)
    return "ssh-ed25519", blob, lambda m: s("ssh-ed25519") + s(k.sign(m))


def ec_key(curve, name, h):
    k = ec.generate_private_key(curve)
    q = k.public_key().public_bytes(serialization.Encoding.X962,
                                    serialization.PublicFormat.UncompressedPoint)
    alg = "ecdsa-sha2-" + name
    blob = s(alg) + s(name) + s(q)

    def sign(m):
        r, ss = decode_dss_signature(k.sign(m, ec.ECDSA(h)))
        return s(alg) + s(mpint(r) + mpint(ss))
    return alg, blob, sign


rsa_k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_blob = s("ssh-rsa") + mpint(rsa_k.public_key().public_numbers().e) + \
    mpint(rsa_k.public_key().public_numbers().n)


def rsa_key(alg, h):
    return alg, rsa_blob, lambda m: s(alg) + s(rsa_k.sign(m, padding.PKCS1v15(), h))


def userauth(user, alg, blob, sign):
    body = bytes([50]) + s(user) + s("ssh-connection") + s("publickey") + \
        boolean(sign is not None) + s(alg) + s(blob)
    if sign is None:
        return body
    return body + s(sign(s(SID) + body))


def session_open(cid=0):
    return bytes([90]) + s("session") + u32(cid) + u32(2 * 1024 * 1024) + u32(32768)


def auth_seeds():
    t = "fuzz-server-auth"
    keys = {"ed25519": ed_key(),
            "nistp256": ec_key(ec.SECP256R1(), "nistp256", hashes.SHA256()),
            "nistp384": ec_key(ec.SECP384R1(), "nistp384", hashes.SHA384()),
            "nistp521": ec_key(ec.SECP521R1(), "nistp521", hashes.SHA512()),
            "rsa-sha2-256": rsa_key("rsa-sha2-256", hashes.SHA256()),
            "rsa-sha2-512": rsa_key("rsa-sha2-512", hashes.SHA512()),
            "ssh-rsa-sha1": rsa_key("ssh-rsa", hashes.SHA1())}
    none = bytes([50]) + s("me") + s("ssh-connection") + s("none")
    for name, (alg, blob, sign) in keys.items():
        write(t, name, records(0, none, userauth("me", alg, blob, None),
                               userauth("me", alg, blob, sign), session_open(),
                               userauth("me", alg, blob, sign)))
    alg, blob, sign = keys["ed25519"]
    write(t, "refused", records(1, userauth("me", alg, blob, sign)))
    write(t, "authorized-keys", records(2, userauth("me", alg, blob, None)))
    write(t, "close-in-callback", records(3, userauth("me", alg, blob, sign)))
    pw = bytes([50]) + s("me") + s("ssh-connection") + s("password") + \
        boolean(False) + s("hunter2")
    kbd = bytes([50]) + s("me") + s("ssh-connection") + \
        s("keyboard-interactive") + s("") + s("")
    hb = bytes([50]) + s("me") + s("ssh-connection") + s("hostbased") + \
        s("ssh-ed25519") + s(blob) + s("h") + s("me") + s("sig")
    svc = bytes([50]) + s("me") + s("ssh-bogus") + s("none")
    write(t, "other-methods", records(0, pw, kbd, hb, svc, none))
    cert = s("ssh-ed25519-cert-v01@openssh.com") + s(os.urandom(32)) + blob[19:]
    sk = s("sk-ssh-ed25519@openssh.com") + blob[19:] + s("ssh:")
    write(t, "cert-sk", records(0, userauth("me", "ssh-ed25519-cert-v01@openssh.com",
                                            cert, sign),
                                userauth("me", "sk-ssh-ed25519@openssh.com", sk, sign),
                                userauth("me", "rsa-sha2-256", blob, sign)))
    write(t, "twenty-failures", records(1, *[userauth("me", alg, blob, sign)] * 21))


# ---- channels ----
def chreq(cid, typ, want, body=b""):
    return bytes([98]) + u32(cid) + s(typ) + boolean(want) + body


def modes(*pairs):
    return s(b"".join(bytes([op]) + u32(v) for op, v in pairs) + b"\x00")


def channel_seeds():
    t = "fuzz-server-channel"
    pty = chreq(0, "pty-req", True, s("xterm-256color") + u32(80) + u32(24) +
                u32(640) + u32(480) +
                modes((1, 3), (2, 28), (3, 127), (53, 1), (128, 38400), (129, 38400)))
    env = chreq(0, "env", True, s("LANG") + s("C.UTF-8"))
    env2 = chreq(0, "env", False, s("LD_PRELOAD") + s("/tmp/x.so"))
    winch = chreq(0, "window-change", False, u32(132) + u32(50) + u32(0) + u32(0))
    sig = chreq(0, "signal", False, s("INT"))
    brk = chreq(0, "break", True, u32(500))
    x11 = chreq(0, "x11-req", True, boolean(False) + s("MIT-MAGIC-COOKIE-1") +
                s("00" * 16) + u32(0))
    agent = chreq(0, "auth-agent-req@openssh.com", True)
    data = bytes([94]) + u32(0) + s("hello\n")
    ext = bytes([95]) + u32(0) + u32(1) + s("err")
    adj = bytes([93]) + u32(0) + u32(65536)
    eof = bytes([96]) + u32(0)
    close = bytes([97]) + u32(0)
    write(t, "shell", records(0x05, session_open(), pty, env, env2, x11, agent,
                              chreq(0, "shell", True), data, winch, sig, brk, ext,
                              adj, eof, close))
    write(t, "exec-signal", records(0x17, session_open(),
                                    chreq(0, "exec", True, s("\x1b]0;owned\x07uptime")),
                                    data, eof))
    write(t, "subsystem", records(0x23, session_open(), session_open(1),
                                  chreq(1, "subsystem", True, s("sftp")),
                                  bytes([94]) + u32(1) + s("\x00\x00\x00\x05\x01\x00\x00\x00\x03"),
                                  chreq(0, "exec", True, s("true")),
                                  chreq(0, "exec", True, s("second")),
                                  bytes([97]) + u32(1), close))
    tcp = bytes([90]) + s("direct-tcpip") + u32(2) + u32(65536) + u32(16384) + \
        s("127.0.0.1") + u32(22) + s("127.0.0.1") + u32(5555)
    sl = bytes([90]) + s("direct-streamlocal@openssh.com") + u32(3) + u32(65536) + \
        u32(16384) + s("/run/x.sock") + s("") + u32(0)
    x11o = bytes([90]) + s("x11") + u32(4) + u32(65536) + u32(16384) + s("1.2.3.4") + u32(6000)
    fwd = bytes([90]) + s("forwarded-tcpip") + u32(5) + u32(65536) + u32(16384) + \
        s("a") + u32(1) + s("b") + u32(2)
    bogus = bytes([90]) + s("bogus") + u32(6) + u32(0) + u32(0)
    write(t, "opens", records(0x0c, tcp, sl, x11o, fwd, bogus,
                              bytes([94]) + u32(2) + s("GET / HTTP/1.0\r\n\r\n"),
                              bytes([93]) + u32(2) + u32(0xffffffff),
                              bytes([93]) + u32(2) + u32(0xffffffff),
                              bytes([96]) + u32(2), bytes([97]) + u32(2)))
    write(t, "requests", records(0x02, session_open(),
                                 chreq(0, "keepalive@openssh.com", True),
                                 chreq(0, "eow@openssh.com", False),
                                 chreq(0, "exit-status", False, u32(3)),
                                 chreq(0, "winadj@putty.projects.tartarus.org", True),
                                 chreq(0, "unknown", True),
                                 chreq(7, "shell", True),
                                 bytes([99]) + u32(0), bytes([100]) + u32(0)))
    big = bytes([94]) + u32(0) + s(os.urandom(32000))
    write(t, "window", records(0x0c, bytes([90]) + s("session") + u32(0) + u32(64) + u32(16),
                               chreq(0, "shell", True), big, big, adj, big))


def global_seeds():
    t = "fuzz-server-global"
    def g(typ, want, body=b""):
        return bytes([80]) + s(typ) + boolean(want) + body
    fwd = g("tcpip-forward", True, s("127.0.0.1") + u32(0))
    fwd2 = g("tcpip-forward", True, s("localhost") + u32(8080))
    cancel = g("cancel-tcpip-forward", True, s("127.0.0.1") + u32(8080))
    slf = g("streamlocal-forward@openssh.com", True, s("/tmp/s"))
    slc = g("cancel-streamlocal-forward@openssh.com", False, s("/tmp/s"))
    ka = g("keepalive@openssh.com", True)
    nms = g("no-more-sessions@openssh.com", False)
    prove = g("hostkeys-prove-00@openssh.com", True, s(b"\x00\x00\x00\x0bssh-ed25519"))
    for mode in range(4):
        write(t, "mode%d" % mode, records(mode, fwd, fwd2, ka, cancel, slf, slc,
                                          prove, session_open(), nms, session_open(1)))
    write(t, "hostkeys", records(0, g("hostkeys-00@openssh.com", False, s("blob")),
                                 g("x" * 64, True), g("", True)))


def small_seeds():
    # fuzz-pool-ptymodes: TERM length, then modes.
    m = b"".join(bytes([op]) + u32(v) for op, v in
                 [(1, 3), (2, 28), (52, 0), (37, 0), (128, 38400), (129, 38400)] +
                 [(op, 1) for op in range(30, 60)]) + b"\x00"
    write("fuzz-pool-ptymodes", "xterm", bytes([14]) + m)
    write("fuzz-pool-ptymodes", "long-term", bytes([200]) + m)
    write("fuzz-pool-ptymodes", "junk", bytes([5]) + m[:17] + b"\xff" + m[17:40])
    # fuzz-core-buf: k operation bytes, then data.
    data = u32(3) + b"abc" + u32(1) + b"\x80" + u32(2) + b"\x00\x80" + \
        s("curve25519-sha256,a") + b"\x01" + struct.pack(">Q", 7) + b"xyz"
    ops = bytes([0x75, 0x56, 0x77, 0x77, 0x58, 0x01, 0x03, 0x44, 0x09, 0x0b, 0x2c, 0x0a, 0x02])
    write("fuzz-core-buf", "mixed", bytes([len(ops)]) + ops + data)
    write("fuzz-core-buf", "caps", bytes([6, 0x15, 0x05, 0x75, 0x1b, 0x7b, 0x7c]) + u32(300) + b"x" * 300)


# fuzz-pool-upstream: a flags byte (the embedder), then the upstream's
# program (tests/fuzz/fuzz-server-upstream.h has the operations).
(U_WAIT, U_BANNER, U_FAILURE, U_SUCCESS, U_INFO, U_DEBUG, U_DISCONNECT,
 U_HANGUP, U_CONFIRM, U_OPENFAIL, U_CHSUCCESS, U_CHFAILURE, U_DATA, U_EXT,
 U_WINADJ, U_EOF, U_CLOSE, U_STATUS, U_SIGNAL, U_CHREQ, U_RAW, U_RECIPIENT,
 U_GLOBAL) = range(23)
M_PK, M_KBD, M_PW, M_HB, M_NONE, M_GSS = (1 << i for i in range(6))
ESC = b"\x1b]0;pwned\x07\x1b[2J\x1b[31m\xc2\x9b1m\x07\x08\r"


def ustr(b):
    """A program string: short ones as they are."""
    if isinstance(b, str):
        b = b.encode()
    assert len(b) < 0xfe
    return bytes([len(b)]) + b


def ubig(n16, fill):
    """n16 * 16 bytes of fill."""
    return b"\xff" + struct.pack(">H", n16) + bytes([fill])


def urep(n, b):
    """b (short) repeated n times."""
    return b"\xfe" + struct.pack(">H", n) + ustr(b)


def info(name, instr, prompts, count=None):
    out = bytes([U_INFO]) + name + instr + ustr("")
    n = len(prompts) if count is None else count
    out += bytes([n]) if n < 0xff else b"\xff" + u32(n)
    for text, echo in prompts:
        out += text + bytes([echo])
    return out


def op(*parts):
    return b"".join(bytes([p]) if isinstance(p, int) else p for p in parts)


# What most programs do up to the channel: banner, keyboard-interactive
# with escapes, success, then the open confirmed.
KBD_LOGIN = op(U_BANNER, ustr(ESC + b"banner\n"), ustr(""),
               U_FAILURE, M_KBD | M_PW, 0, U_WAIT,
               info(ustr(ESC + b"name"), ustr(ESC + b"instruction\n"),
                    [(ustr(ESC + b"Code\xff\xfe: "), 0),
                     (urep(600, b"L\x1b[2J"), 1)]), U_WAIT,
               U_SUCCESS, U_WAIT)
CONFIRM = op(U_CONFIRM, u32(2 << 20), u32(32768), U_WAIT)


def upstream_seeds():
    t = "fuzz-pool-upstream"
    exec_reply = op(U_CHSUCCESS, U_DATA, ustr("output-ok\n"),
                    U_EXT, 0, ustr(ESC + b"stderr\n"))
    write(t, "escapes", bytes([0]) + KBD_LOGIN + CONFIRM + exec_reply + op(
        U_SIGNAL, urep(40, b"KILL\x1b]0;x\x07"), 1,
        urep(500, ESC + b"core dumped"), ustr(""),
        U_EOF, U_CLOSE, U_DATA, ustr(b"after-close" + ESC), U_EOF, U_WAIT))
    write(t, "exit-status", bytes([0x03]) + KBD_LOGIN + CONFIRM + op(
        U_CHSUCCESS, U_CHSUCCESS, U_DATA, ustr("$ "), U_STATUS, u32(3),
        U_EOF, U_CLOSE, U_WAIT))
    # Prompts: information-only rounds, then one; a huge prompt (more
    # than libssh2 takes in one packet, and one under that); 90 questions;
    # rounds that never end; answers late, cancelled, the wrong number.
    rounds0 = b"".join(info(ustr("i%d" % i), ustr(ESC + b"info\n"), []) + op(U_WAIT)
                       for i in range(3))
    write(t, "info-rounds", bytes([0x08]) + op(U_FAILURE, M_KBD, 0, U_WAIT) + rounds0 +
          info(ustr(""), ustr(""), [(ustr("OTP: "), 0)]) + op(U_WAIT, U_SUCCESS, U_WAIT) +
          CONFIRM + exec_reply + op(U_STATUS, u32(0), U_CLOSE, U_WAIT))
    write(t, "huge-prompt", bytes([0]) + op(U_FAILURE, M_KBD, 0, U_WAIT) +
          info(ubig(2300, ord("H")), ubig(4000, 0x9b),
               [(ubig(2400, 0x1b), 0), (ubig(16000, ord("X")), 0)]) + op(U_WAIT))
    write(t, "big-prompt", bytes([0x10]) + op(U_FAILURE, M_KBD, 0, U_WAIT) +
          info(ubig(200, ord("N")), ubig(300, ord("\n")),
               [(ubig(1000, 0xc3), 1)]) + op(U_WAIT, U_FAILURE, M_PW, 0, U_WAIT,
                                               U_SUCCESS, U_WAIT))
    write(t, "many-prompts", bytes([0]) + op(U_FAILURE, M_KBD, 0, U_WAIT) +
          info(ustr("n"), ustr("i"), [(ustr("q"), 0)] * 90) + op(U_WAIT))
    write(t, "count-mismatch", bytes([0x18]) + op(U_FAILURE, M_KBD, 0, U_WAIT) +
          info(ustr("n"), ustr("i"), [(ustr("q"), 0)] * 3, count=0xffffff00) +
          op(U_WAIT))
    write(t, "rounds-forever", bytes([0]) + op(U_FAILURE, M_KBD, 0, U_WAIT) +
          (info(ustr(""), ustr("again"), [(ustr("code: "), 0)]) + op(U_WAIT)) * 70)
    # Password (asked, given), partial success, method lists of garbage.
    write(t, "password", bytes([0]) + op(U_FAILURE, M_PW | M_HB, 0, U_WAIT,
                                         U_SUCCESS, U_WAIT) + CONFIRM + exec_reply +
          op(U_CLOSE, U_WAIT))
    write(t, "partial", bytes([0x20]) + op(U_FAILURE, M_PK | M_PW | M_KBD, 0, U_WAIT,
                                           U_FAILURE, M_KBD, 1, U_WAIT) +
          info(ustr("second factor"), ustr(""), [(ustr("OTP: "), 0)]) +
          op(U_WAIT, U_FAILURE, 0x80, ustr(ESC + b",password,,\xff"), 1, U_WAIT,
             U_SUCCESS, U_WAIT) + CONFIRM + op(U_CHFAILURE, U_CLOSE, U_WAIT))
    write(t, "no-methods", bytes([0]) + op(U_DEBUG, 3, ustr(ESC + b"debug"),
                                           U_FAILURE, 0x80, ustr(ESC), 0, U_WAIT))
    # The channel: refused, windows, wrong ids, floods, a DISCONNECT.
    write(t, "open-failure", bytes([0x20]) + op(U_FAILURE, M_PW, 0, U_WAIT, U_SUCCESS,
                                                U_WAIT, U_OPENFAIL, u32(4),
                                                ustr(ESC + b"no sessions"), ustr(""),
                                                U_WAIT))
    write(t, "window", bytes([0x24]) + op(U_FAILURE, M_PW, 0, U_WAIT, U_SUCCESS, U_WAIT,
                                          U_CONFIRM, u32(0), u32(16), U_WAIT,
                                          U_CHSUCCESS, U_WINADJ, u32(1000), U_WAIT,
                                          U_WINADJ, u32(0xffffffff), U_WAIT,
                                          U_WINADJ, u32(50000), U_WAIT, U_WAIT,
                                          U_STATUS, u32(0), U_CLOSE, U_WAIT))
    write(t, "wrong-ids", bytes([0x20]) + op(U_FAILURE, M_PW, 0, U_WAIT, U_SUCCESS, U_WAIT,
                                             U_RECIPIENT, u32(99), U_CONFIRM, u32(1 << 20),
                                             u32(32768), U_RECIPIENT, u32(0xffffffff),
                                             U_CONFIRM, u32(1 << 20), u32(32768), U_WAIT,
                                             U_RECIPIENT, u32(5), U_DATA, ustr("x"),
                                             U_CLOSE, U_RECIPIENT, u32(0xffffffff),
                                             U_CHSUCCESS, U_DATA, ustr("ok"),
                                             U_RAW, 98 - 50, ustr(u32(0) + s("keepalive@openssh.com") + b"\x01"),
                                             U_GLOBAL, ustr(ESC), 1, U_WAIT))
    write(t, "flood", bytes([0xa0]) + op(U_FAILURE, M_PW, 0, U_WAIT, U_SUCCESS, U_WAIT,
                                         U_CONFIRM, u32(1 << 20), u32(32768), U_WAIT,
                                         U_CHSUCCESS) +
          op(U_DATA, ubig(4000, ord("F"))) * 12 + op(U_EXT, 0, ubig(2000, ord("E")),
                                                     U_EXT, 0x80, u32(7), ustr("t7"),
                                                     U_STATUS, u32(0), U_CLOSE, U_WAIT))
    write(t, "disconnect", bytes([0x60]) + op(U_FAILURE, M_PW, 0, U_WAIT, U_SUCCESS, U_WAIT)
          + CONFIRM + op(U_CHSUCCESS, U_DATA, ustr("partial"),
                         U_CHREQ, ustr("keepalive@openssh.com"), 1, ustr(""),
                         U_CHREQ, ustr(ESC), 1, ustr(u32(1)),
                         U_DISCONNECT, u32(11), ustr(ESC + b"bye")))
    write(t, "hangup", bytes([0]) + op(U_FAILURE, M_KBD, 0, U_WAIT, U_HANGUP))
    write(t, "empty", bytes([0]))


# fuzz-daemon-sshcfg: plain text, each input read both as `ssh -G` output
# and as ssh_config lines.  The -G seeds are the real output of the
# installed ssh for the hosts of SSH_CONFIG (a throwaway HOME; Include,
# Match, ProxyJump chains, quoted IdentityFile/IdentityAgent with spaces,
# ProxyCommand), so re-running changes them with the OpenSSH version and
# the user running it; the others are hand-made edges of the parser.
SSH_CONFIG = """# written by tests/fuzz/make-seeds.py sshcfg
Include conf.d/*.conf
Host jump1
\tHostName 10.0.0.1
\tUser ops
\tPort 2222
Host jump2
  HostName=jump2.example.net
  ProxyJump jump1
Host target
    HostName target.internal
    ProxyJump ops@jump1:2222,jump2
    IdentityFile "~/my keys/id_ed25519"
    IdentityFile ~/.ssh/id_work
    IdentityAgent "~/agent dir/agent.sock"
    HostKeyAlias target-alias
Host pc
    HostName pc.example
    ProxyCommand ssh -W %h:%p jump1 -o "User=x y"
    User "quoted user"
Match host matched.example user root
    Port 443
    IdentityFile %d/.ssh/id_%r@%h
Host *.lan lanhost
    User lanuser
    IdentityAgent none
    ProxyJump none
"""
SSH_INCLUDED = """Host inc
\tHostName included.example
\tPort 8022
\tUser incuser
\tIdentityFile ~/.ssh/inc_%u
"""
# Single quotes, backslash escapes, a trailing comment, an unterminated
# quote, '=' in its forms, CRLF, tabs.
SSH_ODD = (b"Host alpha 'b c' # trailing comment\r\n"
           b"\tHostName\t=\tdiv.example\r\n"
           b"Host back\\ slash \"\" \"q\"uo\"ted\" \"open\r\n"
           b"  Include=~/.ssh/conf.d/*.conf \"~/with space/x\"\n"
           b"=novalue\n\n   \t\nHOST==x\r\r\nmAtCh all\n# comment\n")

# How ssh splits arguments (OpenSSH 9.2 misc.c argv_split, checked with
# `ssh -G`): each rule, and its edges, on Host and Include lines.
SSH_SPLIT = (b"Host alpha 'b c' # trailing comment\n"
             b"Host back\\ slash it\\'s \"q\\\"t\" 'a\\'b' 'x\"y' a\"b c\"d "
             b"e'f\"g'h\n"
             b"Host a\\\\b c\\xd \"e\\ f\" 'i\\ j' a\\\tb x\\#y #z\n"
             b"Host \"#q\" r a#b#c x\t#y 'not closed\n"
             b"Include \"~/a dir/*.conf\" 'single q/x' #c \"open\n"
             b"Host ok \"a\\\" b\n"
             b"Host= '' \"\" b\"\" '#'c\n"
             b"Host x\x00y 'z\n"
             b"Host end\\")


def sshcfg_seeds():
    import subprocess
    import tempfile
    t = "fuzz-daemon-sshcfg"
    with tempfile.TemporaryDirectory() as home:
        os.makedirs(os.path.join(home, ".ssh", "conf.d"))
        cfg = os.path.join(home, ".ssh", "config")
        with open(cfg, "w") as f:
            f.write(SSH_CONFIG)
        with open(os.path.join(home, ".ssh", "conf.d", "a.conf"), "w") as f:
            f.write(SSH_INCLUDED)
        env = dict(os.environ, HOME=home)
        for host in ["jump1", "jump2", "target", "pc", "matched.example", "inc",
                     "x.lan"]:
            out = subprocess.run(["ssh", "-F", cfg, "-G", host], env=env,
                                 check=True, capture_output=True).stdout
            write(t, "sshg-" + host.split(".")[0], out)
    write(t, "config-main", SSH_CONFIG.encode())
    write(t, "config-included", SSH_INCLUDED.encode())
    write(t, "config-odd", SSH_ODD)
    write(t, "config-split", SSH_SPLIT)
    # A backslash as the last byte of the arguments, before a CR the line
    # drops and at the end of the input; a NUL inside a quote.
    write(t, "regress-escape-at-end", b"Host a\\\r\nHost 'b c\\'\r\n"
          b"Host d\\")
    write(t, "regress-nul-in-quote", b"Host 'a\x00b' c\nHost \"\x00\" d\n")
    ok = b"user u\nhostname h.example\nport 22\n"
    write(t, "sshg-crlf", ok.replace(b"\n", b"\r\n"))
    write(t, "sshg-missing-port", b"User U\nHostName h\n")
    write(t, "sshg-twice", ok + b"hostname again\n")
    write(t, "sshg-port-65536", b"user u\nhostname h\nport 65536")
    write(t, "sshg-port-6-digits", b"user u\nhostname h\nport 000022\n")
    write(t, "sshg-17-ids", ok + b"".join(b"identityfile ~/.ssh/k%d\n" % i
                                          for i in range(17)))
    write(t, "sshg-long-value", ok + b"proxycommand " + b"x" * 1023 + b"\n" +
          b"hostkeyalias " + b"y" * 1024 + b"\n")
    write(t, "sshg-nul-tab", b"user a\tb\nhostname h\x00\nport 1\n")
    # The input at exactly SSHMUXD_SSHG_MAX_INPUT bytes and one more.
    write(t, "big-boundary", b"#!big\n" + ok + b"IdentityFile\t\t~/k")


GROUPS = {"kex": "kex_seeds", "auth": "auth_seeds", "channel": "channel_seeds",
          "global": "global_seeds", "small": "small_seeds",
          "upstream": "upstream_seeds", "sshcfg": "sshcfg_seeds"}

if __name__ == "__main__":
    import sys
    for g in sys.argv[1:] or GROUPS:
        globals()[GROUPS[g]]()
