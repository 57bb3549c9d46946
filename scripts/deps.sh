#!/bin/sh
# scripts/deps.sh -- install what libsshmux needs to build and test, from the
# distribution's own packages.  Idempotent: silent when nothing is missing.
# Works as root or through sudo; says clearly what to do when it can do neither.
set -eu

DEB_BUILD="build-essential pkg-config libssh2-1-dev libmbedtls-dev libuv1-dev
libinih-dev libsodium-dev libcmocka-dev"
DEB_TEST="openssh-server openssh-client putty-tools dropbear-bin python3-paramiko
libssh2-1-dev libpam-oath oathtool iproute2 curl tmux procps python3 bc groff-base gnuplot-nox abigail-tools
xvfb zenity xdotool x11-apps"
BREW="libssh2 mbedtls libuv inih libsodium cmocka pkg-config"

case "$(uname -s)" in
Darwin)
	missing=""
	for p in $BREW; do
		brew list --versions "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "deps.sh: missing Homebrew packages:$missing" >&2
		echo "deps.sh: run: brew install$missing" >&2
		exit 1
	fi
	exit 0
	;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps.sh: not a Debian-like system; install the equivalents of:" >&2
	echo "  $DEB_BUILD $DEB_TEST" >&2
	exit 1
fi

want="$DEB_BUILD"
[ "${1:-}" = "--build-only" ] || want="$want $DEB_TEST"

missing=""
for p in $want; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	SUDO="sudo -n"
else
	echo "deps.sh: these packages are missing:$missing" >&2
	echo "deps.sh: not root and no password-less sudo; run as root:" >&2
	echo "  apt-get install -y$missing" >&2
	exit 1
fi

echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps.sh: done"
