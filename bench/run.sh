#!/bin/sh
# bench/run.sh BUILD_DIR -- sshmuxd side by side with OpenSSH, in one run,
# against one throwaway sshd on 127.0.0.1, reported as ratios:
#
#   warm latency   `ssh route true` through a warm sshmuxd vs `ssh host true`
#                  over an OpenSSH ControlMaster (target <= 1.10x)
#   bulk           256 MiB up and down through sshmuxd vs a direct ssh
#                  (target >= 0.90x of the direct throughput)
#   idle memory    sshmuxd's RSS growth per idle session (target <= 64 KiB)
#
# Bulk is the best of 3 runs each.  Then, as root, the 256 MiB-each-way SHA-256 proof through a jump host in
# network namespaces (the relay_jump_bulk test at full size).
#
# Knobs: BENCH_MB (256), BENCH_RUNS (20 latency samples, median), BENCH_IDLE (50
# idle sessions).  Not part of `make check`; run with `make bench`.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

B=${1:?usage: bench/run.sh BUILD_DIR}
MB=${BENCH_MB:-256}
RUNS=${BENCH_RUNS:-20}
IDLE=${BENCH_IDLE:-50}
SSHD=/usr/sbin/sshd
for p in "$SSHD" ssh ssh-keygen python3; do
  command -v "$p" >/dev/null || { echo "bench: $p is missing" >&2; exit 1; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/sshmux-bench.XXXXXX")
# The bench's sshmuxd gets its own control socket, so it neither meets the
# user's own daemon nor the test it runs at the end.
export XDG_RUNTIME_DIR="$W/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -S "$W/cm.sock" ] && ssh -S "$W/cm.sock" -O exit x 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now() { date +%s.%N; }
# Seconds (float) that "$@" takes.
timed() { local t0 t1; t0=$(now); "$@" </dev/null; t1=$(now); echo "$t1 - $t0" | bc -l; }
ratio() { echo "scale=3; $1 / $2" | bc -l; }

# ---- the upstream sshd ----
mkdir -p "$W/sshd" "$W/sshdir"
chmod 700 "$W/sshdir"
ssh-keygen -q -t ed25519 -N '' -f "$W/sshd/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -f "$W/sshd/id_ed25519"
ssh-keygen -q -t ed25519 -N '' -f "$W/local_key"
cp "$W/sshd/id_ed25519.pub" "$W/sshd/authorized_keys"
[ "$(id -u)" = 0 ] && mkdir -p /run/sshd
SPORT=$(free_port)
cat >"$W/sshd/sshd_config" <<EOF
ListenAddress 127.0.0.1:$SPORT
HostKey $W/sshd/host_ed25519
AuthorizedKeysFile $W/sshd/authorized_keys
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
MaxSessions 200
MaxStartups 200:30:400
Subsystem sftp internal-sftp
LogLevel ERROR
SetEnv HOME=$W/sshd
EOF
"$SSHD" -D -f "$W/sshd/sshd_config" -E "$W/sshd/log" &
PIDS+=($!)
# A second sshd (same keys) for the idle sessions, so that their upstream
# channels, closed while their remote commands still run, do not share a
# connection with the bulk transfers.
SPORT2=$(free_port)
sed "s/^ListenAddress .*/ListenAddress 127.0.0.1:$SPORT2/" "$W/sshd/sshd_config" \
  >"$W/sshd/sshd_config2"
"$SSHD" -D -f "$W/sshd/sshd_config2" -E "$W/sshd/log2" &
PIDS+=($!)
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$SPORT) 2>/dev/null &&
    (exec 3<>/dev/tcp/127.0.0.1/$SPORT2) 2>/dev/null && break
  sleep 0.05
done
echo "[127.0.0.1]:$SPORT $(cut -d' ' -f1-2 "$W/sshd/host_ed25519.pub")" >"$W/known_hosts"
echo "[127.0.0.1]:$SPORT2 $(cut -d' ' -f1-2 "$W/sshd/host_ed25519.pub")" >>"$W/known_hosts"
USER_=$(id -un)

# ---- sshmuxd ----
cp "$W/known_hosts" "$W/sshdir/known_hosts"
cp "$W/local_key.pub" "$W/sshdir/sshmux-authorized-keys"
cat >"$W/sshdir/sshmux-routes.ini" <<EOF
[routes.r1]
host = 127.0.0.1
port = $SPORT
user = $USER_
identity = $W/sshd/id_ed25519
direct = true

[routes.idle]
host = 127.0.0.1
port = $SPORT2
user = $USER_
identity = $W/sshd/id_ed25519
direct = true
EOF
"$B/sshmuxd" serve --port 0 --ssh-dir "$W/sshdir" --log-level warn \
  >"$W/serve.log" 2>&1 </dev/null &
SMPID=$!
PIDS+=($SMPID)
for _ in $(seq 200); do
  grep -q "serving on" "$W/serve.log" 2>/dev/null && break
  sleep 0.05
done
MPORT=$(sed -n 's/.*serving on 127.0.0.1:\([0-9]*\).*/\1/p' "$W/serve.log")
[ -n "$MPORT" ] || { cat "$W/serve.log"; exit 1; }

cat >"$W/cfg" <<EOF
Host r1
  HostName 127.0.0.1
  Port $MPORT
  User r1
  IdentityFile $W/local_key
  UserKnownHostsFile $W/relay_known_hosts
  StrictHostKeyChecking accept-new
Host idle
  HostName 127.0.0.1
  Port $MPORT
  User idle
  IdentityFile $W/local_key
  UserKnownHostsFile $W/relay_known_hosts
  StrictHostKeyChecking accept-new
Host direct
  HostName 127.0.0.1
  Port $SPORT
  User $USER_
  IdentityFile $W/sshd/id_ed25519
  UserKnownHostsFile $W/known_hosts
  StrictHostKeyChecking yes
Host *
  IdentitiesOnly yes
  BatchMode yes
  ControlMaster no
  ControlPath none
  LogLevel ERROR
EOF
S="ssh -F $W/cfg"

echo "sshmuxd bench: $(date -u +%FT%TZ), $(nproc) cpus, $MB MiB bulk, $RUNS latency runs"

# ---- idle memory per session (first, before bulk buffers exist) ----
$S r1 true
$S idle true
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$SMPID/status"; }
sleep 0.5
RSS0=$(rss)
for i in $(seq "$IDLE"); do
  $S idle "echo up-$i; sleep 600" >"$W/idle.$i" 2>/dev/null </dev/null &
  PIDS+=($!)
done
for _ in $(seq 600); do
  n=$(cat "$W"/idle.* 2>/dev/null | grep -c '^up-' || true)
  [ "$n" -ge "$IDLE" ] && break
  sleep 0.1
done
sleep 1
RSS1=$(rss)
PER=$(( (RSS1 - RSS0) / IDLE ))
for p in "${PIDS[@]:3}"; do kill "$p" 2>/dev/null || true; done
echo "idle sessions: $n up; sshmuxd RSS $RSS0 KiB -> $RSS1 KiB: ${PER} KiB per session (target <= 64 KiB)"

# ---- warm latency ----
$S -o ControlMaster=yes -o ControlPath="$W/cm.sock" -o ControlPersist=yes -fN direct
$S -o ControlPath="$W/cm.sock" direct true
# Median seconds of RUNS runs of "$@" (the median resists a busy machine).
lat() {
  for _ in $(seq "$RUNS"); do timed "$@"; done | sort -n |
    awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}
L_RELAY=$(lat $S r1 true)
L_CM=$(lat $S -o ControlPath="$W/cm.sock" direct true)
L_DIRECT=$(lat $S direct true)
printf 'warm `ssh true`:  sshmuxd %.1f ms, ControlMaster %.1f ms, new ssh %.1f ms\n' \
  "$(echo "$L_RELAY*1000" | bc -l)" "$(echo "$L_CM*1000" | bc -l)" "$(echo "$L_DIRECT*1000" | bc -l)"
R_LAT=$(ratio "$L_RELAY" "$L_CM")
echo "  ratio sshmuxd / ControlMaster: ${R_LAT}x (target <= 1.10x)"

# ---- bulk ----
BYTES=$((MB * 1024 * 1024))
up() { head -c "$BYTES" /dev/zero | $S "$1" 'cat > /dev/null'; }
down() { $S "$1" "head -c $BYTES /dev/zero" >/dev/null; }
# Best of 3 for each: noise only ever makes a transfer slower.
best() { for _ in 1 2 3; do timed "$@"; done | sort -n | head -1; }
T_UP_D=$(best up direct)
T_UP_R=$(best up r1)
T_DN_D=$(best down direct)
T_DN_R=$(best down r1)
mbps() { echo "scale=1; $MB / $1" | bc -l; }
printf 'bulk up:    direct %s MiB/s, sshmuxd %s MiB/s  -> %sx (target >= 0.90x)\n' \
  "$(mbps "$T_UP_D")" "$(mbps "$T_UP_R")" "$(ratio "$T_UP_D" "$T_UP_R")"
printf 'bulk down:  direct %s MiB/s, sshmuxd %s MiB/s  -> %sx (target >= 0.90x)\n' \
  "$(mbps "$T_DN_D")" "$(mbps "$T_DN_R")" "$(ratio "$T_DN_D" "$T_DN_R")"

# ---- 256 MiB each way through a jump host, SHA-256 checked ----
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
  echo "jump-host bulk proof ($MB MiB each way, sha256):"
  SSHMUX_TEST_BULK_MB=$MB SSHMUX_BUILD="$B" "$B/tests/run-tests" relay_jump_bulk |
    sed 's/^/  /'
else
  echo "jump-host bulk proof skipped (needs root and ip)"
fi
