#!/bin/sh
# demo.sh BUILD_DIR -- what `make demo` shows.  Until the daemon is complete
# it shows what is built so far: the library, its exported API and version,
# and a throwaway loopback sshd that the test fixtures use as the upstream.
# It never touches the user's own ~/.ssh: everything lives in a temp dir
# that is removed on exit.
set -eu
B=${1:-build}
T=$(mktemp -d "${TMPDIR:-/tmp}/sshmux-demo.XXXXXX")
SSHD_PID=
cleanup() {
	[ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

echo "== libsshmux $("$B/sshmuxd" version)"
echo "== built: $(cd "$B" && ls libsshmux.a libsshmux.so.* sshmuxd examples/* 2>/dev/null | tr '\n' ' ')"
echo "== exported API symbols: $(nm -D --defined-only "$B"/libsshmux.so.* | grep -c ' sshmux_')"

# A throwaway upstream on loopback.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ssh-keygen -q -t ed25519 -N '' -f "$T/host" -C demo-host
ssh-keygen -q -t ed25519 -N '' -f "$T/id" -C demo-user
cp "$T/id.pub" "$T/authorized_keys"
[ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd
cat > "$T/sshd_config" <<CFG
ListenAddress 127.0.0.1:$PORT
HostKey $T/host
AuthorizedKeysFile $T/authorized_keys
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
CFG
/usr/sbin/sshd -D -f "$T/sshd_config" -E "$T/sshd.log" &
SSHD_PID=$!
i=0
while ! ssh -F /dev/null -p "$PORT" -i "$T/id" -o BatchMode=yes \
	-o StrictHostKeyChecking=no -o UserKnownHostsFile="$T/kh" \
	"$(id -un)@127.0.0.1" true 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 50 ] || { echo "sshd did not start"; exit 1; }
	sleep 0.1
done
echo "== throwaway upstream sshd on 127.0.0.1:$PORT answers:"
ssh -F /dev/null -p "$PORT" -i "$T/id" -o BatchMode=yes \
	-o StrictHostKeyChecking=no -o UserKnownHostsFile="$T/kh" \
	"$(id -un)@127.0.0.1" 'echo "   hello from $(hostname) via real sshd"'
echo "== done; temp dir removed"
