#!/bin/sh
# demo.sh BUILD_DIR -- what `make demo` shows: sshmuxd at work, end to end,
# with nothing but throwaway parts.
#
# It starts two OpenSSH servers on 127.0.0.1 (a jump host and a target
# behind it), writes a routes file and runs `sshmuxd setup-config` in a
# temporary HOME, starts `sshmuxd serve`, then shows the first `ssh` (which
# logs in upstream) and the following ones (which reuse that login) with
# their times, an `sftp` session through the same connection, and
# `sshmuxd status`.  Everything lives in one temp dir that is removed on
# exit, every process it started is stopped, and the user's own ~/.ssh is
# never read or written (HOME, the SSH dir and XDG_RUNTIME_DIR all point
# into the temp dir; ssh gets -F).
set -eu
B=${1:-build}
SSHMUXD="$B/sshmuxd"
T=$(mktemp -d "${TMPDIR:-/tmp}/sshmux-demo.XXXXXX")
PIDS=
cleanup() {
	[ -x "$SSHMUXD" ] && HOME="$T/home" XDG_RUNTIME_DIR="$T/run" \
		"$SSHMUXD" stop >/dev/null 2>&1 || true
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

for prog in /usr/sbin/sshd ssh ssh-keygen sftp python3; do
	command -v "$prog" >/dev/null 2>&1 || {
		echo "demo: $prog is missing (run: sh scripts/deps.sh)" >&2
		exit 1
	}
done

# A throwaway user environment.
export HOME="$T/home" XDG_RUNTIME_DIR="$T/run" XDG_CONFIG_HOME="$T/home/.config"
unset SSH_AUTH_SOCK SSHMUX_SSH_DIR SSHMUX_LOG 2>/dev/null || true
SSHDIR="$HOME/.ssh"
mkdir -p "$SSHDIR" "$XDG_RUNTIME_DIR"
chmod 700 "$HOME" "$SSHDIR" "$XDG_RUNTIME_DIR"
ME=$(id -un)
ssh-keygen -q -t ed25519 -N '' -f "$SSHDIR/id_ed25519" -C demo-user
cp "$SSHDIR/id_ed25519.pub" "$SSHDIR/sshmux-authorized-keys"
[ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd

# Two upstream servers: a jump host and a target reached through it.
start_sshd() { # NAME -> prints its port
	name=$1
	port=$(free_port)
	mkdir -p "$T/$name"
	ssh-keygen -q -t ed25519 -N '' -f "$T/$name/host" -C "$name-host"
	cp "$SSHDIR/id_ed25519.pub" "$T/$name/authorized_keys"
	cat >"$T/$name/sshd_config" <<CFG
ListenAddress 127.0.0.1:$port
HostKey $T/$name/host
AuthorizedKeysFile $T/$name/authorized_keys
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
Subsystem sftp internal-sftp
# Sessions on this throwaway sshd get its directory as HOME, so the times
# shown are sshmuxd's and the account's own shell start-up files (which may
# take longer than the whole relay) stay out of them.
SetEnv HOME=$T/$name
CFG
	/usr/sbin/sshd -D -f "$T/$name/sshd_config" -E "$T/$name/sshd.log" &
	PIDS="$PIDS $!"
	printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$T/$name/host.pub")" \
		>>"$SSHDIR/known_hosts"
	echo "$port" >"$T/$name/port"
}
start_sshd jump
start_sshd target
JPORT=$(cat "$T/jump/port")
TPORT=$(cat "$T/target/port")

cat >"$SSHDIR/sshmux-routes.ini" <<INI
; demo routes: "demo" is the target, reached through the jump host
[jump]
host = 127.0.0.1
port = $JPORT
user = $ME
identity = ~/.ssh/id_ed25519

[routes.demo]
host = 127.0.0.1
port = $TPORT
user = $ME
identity = ~/.ssh/id_ed25519
INI

say "libsshmux $("$SSHMUXD" version | cut -d' ' -f2): upstream sshd on 127.0.0.1:$TPORT behind a jump host on 127.0.0.1:$JPORT"
echo "   (everything in $T; your ~/.ssh is not used)"
"$SSHMUXD" check-config | sed 's/^/   /'

PORT=$(free_port)
say "sshmuxd setup-config --port $PORT"
"$SSHMUXD" setup-config --port "$PORT" | sed 's/^/   /'

say "sshmuxd serve --port $PORT"
"$SSHMUXD" serve --port "$PORT" >"$T/serve.log" 2>&1 &
PIDS="$PIDS $!"
i=0
until grep -q "serving on" "$T/serve.log" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$T/serve.log"; echo "demo: serve did not start" >&2; exit 1; }
	sleep 0.1
done
sed 's/^/   /' "$T/serve.log"

SSH="ssh -F $SSHDIR/config -o IdentitiesOnly=yes -o BatchMode=yes"
run_timed() { # LABEL COMMAND...
	label=$1
	shift
	t0=$(now_ms)
	out=$("$@")
	t1=$(now_ms)
	printf '   %-34s %5d ms   -> %s\n' "$label" $((t1 - t0)) "$out"
}

say "the first ssh logs in upstream (jump, then target); the next ones reuse it"
run_timed "ssh demo (first: upstream login)" $SSH demo 'echo "hello from $(hostname) as $(id -un)"'
for n in 2 3 4 5; do
	run_timed "ssh demo (#$n: pooled)" $SSH demo 'echo "hello again"'
done
say "for comparison, a direct ssh to the target through the jump (new logins every time)"
DIRECT="-F /dev/null -o IdentitiesOnly=yes -o BatchMode=yes -i $SSHDIR/id_ed25519 -o UserKnownHostsFile=$SSHDIR/known_hosts -o StrictHostKeyChecking=yes"
run_timed "ssh via jump (direct, no sshmuxd)" ssh $DIRECT \
	-o "ProxyCommand=ssh $DIRECT -W %h:%p -p $JPORT $ME@127.0.0.1" \
	-p "$TPORT" "$ME@127.0.0.1" 'echo "hello directly"'

say "sftp through the same pooled connection"
head -c 1048576 /dev/urandom >"$T/payload"
cat >"$T/batch" <<B
put $T/payload $T/payload.up
get $T/payload.up $T/payload.down
ls -l $T/payload.up
B
t0=$(now_ms)
sftp -F "$SSHDIR/config" -o IdentitiesOnly=yes -b "$T/batch" demo 2>&1 | sed 's/^/   /'
t1=$(now_ms)
if cmp -s "$T/payload" "$T/payload.down"; then
	echo "   1 MiB up and back down, identical ($((t1 - t0)) ms)"
else
	echo "demo: sftp round trip differs" >&2
	exit 1
fi

say "sshmuxd status"
"$SSHMUXD" status | sed 's/^/   /'

say "sshmuxd stop"
"$SSHMUXD" stop | sed 's/^/   /'
say "done: servers stopped, $T removed"
