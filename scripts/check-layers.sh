#!/bin/sh
# scripts/check-layers.sh [ROOT] -- the module layering rule, checked.
#
# Every #include "..." under lib/, daemon/, examples/ and tests/ of ROOT
# (default: this checkout) is resolved to the module it belongs to, and must
# go down the dependency order that docs/architecture.md draws:
#
#   core <- crypto <- knownhosts, server ; core <- routes
#   core, crypto, knownhosts <- pool ; core, pool, server, routes <- relay
#   every module's interface <- daemon, tests ; public headers <- examples
#
# A module's interface is lib/M/M.h (only where other modules need more than
# the public header) and its public headers in include/sshmux/; every other
# header under lib/M/ is private to M.  Tests may include M's private
# headers only from files named for M: tests/test-M-*.c, tests/M-harness.*,
# tests/fuzz/fuzz-M-*.c.  The umbrella "sshmux.h" is for programs (daemon,
# examples, tests), not for the library's own files.
#
# Inside a module the files are layered too (each module's private header
# states the order, bottom first): a file may call a function defined in a
# file of a lower layer, never one of its own layer or above.  The orders
# are the `order` table of the second check below; calls are found by name
# (sshmux_* and sshmux__* followed by "(", comments and strings skipped),
# so calls through a function-pointer table -- how a lower layer reaches a
# higher one -- pass, as they should.
#
# Prints one line per offending include or call, FILE:LINE: what and why,
# and exits 1 if there is any (0 when clean, 2 on usage errors).  POSIX sh
# + awk.
set -eu

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
[ -d "$root/lib" ] || {
	echo "check-layers: $root has no lib/" >&2
	exit 2
}
cd "$root"

files=$(find lib daemon examples tests -type f \( -name '*.c' -o -name '*.h' \) \
	2>/dev/null | LC_ALL=C sort)
[ -n "$files" ] || exit 0
bad=0

# ---- includes go down the module order ----
# shellcheck disable=SC2086
awk '
BEGIN {
	# What each library module may depend on (besides itself).
	deps["core"] = ""
	deps["crypto"] = "core"
	deps["knownhosts"] = "core crypto"
	deps["server"] = "core crypto"
	deps["routes"] = "core"
	deps["pool"] = "core crypto knownhosts"
	deps["relay"] = "core pool server routes"
	# Which module each public header belongs to.
	pub["sshmux/common.h"] = "core"
	pub["sshmux/version.h"] = "core"
	pub["sshmux/file.h"] = "core"
	pub["sshmux/server.h"] = "server"
	pub["sshmux/pool.h"] = "pool"
	pub["sshmux/prompt.h"] = "pool"
	pub["sshmux/routes.h"] = "routes"
	pub["sshmux/relay.h"] = "relay"
	bad = 0
}
function dirname(p,   i) {
	i = match(p, /\/[^\/]*$/)
	return i ? substr(p, 1, i - 1) : "."
}
function basename(p,   i) {
	i = match(p, /\/[^\/]*$/)
	return i ? substr(p, i + 1) : p
}
function exists(p,   line, r) {
	if (p in seen) return seen[p]
	r = (getline line < p) >= 0
	close(p)
	seen[p] = r
	return r
}
function allowed(from, to,   n, i, a) {
	if (from == to) return 1
	n = split(deps[from], a, " ")
	for (i = 1; i <= n; i++) if (a[i] == to) return 1
	return 0
}
function complain(msg) {
	printf "%s:%d: %s\n", FILENAME, FNR, msg
	bad = 1
}
# The kind of file doing the including: a library module, or a program part.
function owner(f,   p) {
	if (f ~ /^lib\/[a-z0-9_]+\//) {
		p = substr(f, 5)
		return "lib:" substr(p, 1, index(p, "/") - 1)
	}
	if (f ~ /^daemon\//) return "daemon"
	if (f ~ /^examples\//) return "example"
	return "test"
}
# Is tests/ file f named for module m?
function test_of(f, m,   b) {
	b = basename(f)
	return index(b, "test-" m "-") == 1 || b == "test-" m ".c" ||
	    index(b, "fuzz-" m "-") == 1 || b == "fuzz-" m ".c" ||
	    index(b, m "-harness.") == 1
}
FNR == 1 { who = owner(FILENAME) }
/^[ \t]*#[ \t]*include[ \t]*"/ {
	h = $0
	sub(/^[^"]*"/, "", h)
	sub(/".*$/, "", h)
	if (h ~ /(^|\/)\.\.(\/|$)/ && substr(who, 1, 4) == "lib:") { complain("includes \"" h "\": no ../ paths in the library; write MODULE/FILE.h"); next }
	# Resolve: the including file'"'"'s own directory first, then -Ilib, -Iinclude.
	target = ""
	if (exists(dirname(FILENAME) "/" h)) target = dirname(FILENAME) "/" h
	else if (exists("lib/" h)) target = "lib/" h
	else if (exists("include/" h)) target = "include/" h
	if (target == "") next   # a generated or system-side header (list.h)
	if (target ~ /^(tests|daemon|examples)\//) {
		if (who == "example" && target !~ /^examples\//)
			complain("includes \"" h "\": examples use only the installed public headers")
		else if (substr(who, 1, 4) == "lib:")
			complain("includes \"" h "\": the library never includes program files")
		next
	}
	if (target == "include/sshmux.h") {
		if (substr(who, 1, 4) == "lib:")
			complain("includes the umbrella \"sshmux.h\": a library file names the public headers it uses (sshmux/NAME.h)")
		next
	}
	if (target ~ /^include\//) {
		m = pub[substr(target, 9)]
		if (m == "") { complain("includes \"" h "\": a public header that no module owns (add it to scripts/check-layers.sh)"); next }
		if (substr(who, 1, 4) == "lib:" && !allowed(substr(who, 5), m))
			complain("includes \"" h "\": module " substr(who, 5) " may not depend on module " m " (allowed: " (deps[substr(who, 5)] == "" ? "none" : deps[substr(who, 5)]) ")")
		next
	}
	# A library header lib/M/NAME.h.
	p = substr(target, 5)
	m = substr(p, 1, index(p, "/") - 1)
	if (!(m in deps)) { complain("includes \"" h "\": lib/" m "/ is not a known module (add it to scripts/check-layers.sh and docs/architecture.md)"); next }
	iface = (p == m "/" m ".h")
	if (substr(who, 1, 4) == "lib:") {
		me = substr(who, 5)
		if (me == m) next
		if (!allowed(me, m))
			complain("includes \"" h "\": module " me " may not depend on module " m " (allowed: " (deps[me] == "" ? "none" : deps[me]) ")")
		else if (!iface)
			complain("includes \"" h "\": private to module " m "; other modules include only " m "/" m ".h")
		next
	}
	if (who == "example") { complain("includes \"" h "\": examples use only the installed public headers"); next }
	if (iface) next
	if (who == "test" && test_of(FILENAME, m)) next
	complain("includes \"" h "\": private to module " m " (" (who == "test" ? "only tests/test-" m "-*.c, tests/" m "-harness.* and tests/fuzz/fuzz-" m "-*.c may" : "programs use a module'"'"'s interface lib/M/M.h, where it has one, or the public API") ")")
}
END { exit bad }
' $files || bad=1

# ---- calls between the files of one module go down its layers ----
lib_c=$(find lib -mindepth 2 -maxdepth 2 -type f -name '*.c' | LC_ALL=C sort)
# shellcheck disable=SC2086
[ -z "$lib_c" ] || awk '
BEGIN {
	# Per module: layers bottom first, separated by "|"; files in one layer
	# do not call each other.  A module not listed is not checked.
	order["core"] = "alloc log | error | version | buf encode jsonl sanitize safefile"
	order["crypto"] = "hash | bcrypt codec kex pubkey | userkey | hostkey"
	order["server"] = "conn | transport | auth channel | server"
	order["relay"] = "bridge | menu | prompt | relay"
	order["pool"] = "loop | prompt agent | auth chan | conn | pool"
	# Named calls up the stack that a module states in its private header
	# would go in allow["lib/M/FILE.c NAME"] = 1; there are none.
	for (m in order) {
		n = split(order[m], layers, "|")
		for (i = 1; i <= n; i++) {
			k = split(layers[i], names, " ")
			for (j = 1; j <= k; j++) rank[m "/" names[j]] = i
		}
	}
	bad = 0
}
function modfile(f,   p) {   # "lib/pool/conn.c" -> "pool/conn"
	p = substr(f, 5)
	sub(/\.c$/, "", p)
	return p
}
FNR == 1 { nfiles++; fname[nfiles] = FILENAME; incomment = 0; pending = "" }
{
	line = $0
	# Strip comments (also across lines) and string literals.
	out = ""
	while (line != "") {
		if (incomment) {
			e = index(line, "*/")
			if (!e) { line = ""; break }
			line = substr(line, e + 2); incomment = 0; continue
		}
		b = index(line, "/*")
		if (!b) { out = out line; break }
		out = out substr(line, 1, b - 1); line = substr(line, b + 2); incomment = 1
	}
	gsub(/"([^"\\]|\\.)*"/, "\"\"", out)
	sub(/\/\/.*/, "", out)
	code[FILENAME, FNR] = out
	nlines[FILENAME] = FNR
	# A definition: a non-static line at column 0 naming sshmux_*( whose
	# statement ends in "{" rather than ";".
	if (pending != "") {
		if (out ~ /;[ \t]*$/) pending = ""
		else if (out ~ /\{[ \t]*$/) { def[pending] = FILENAME; pending = "" }
	} else if (out ~ /^[a-z]/ && out !~ /^(static|typedef|extern)/ &&
	    match(out, /sshmux_[a-z0-9_]*\(/)) {
		nm = substr(out, RSTART, RLENGTH - 1)
		if (out ~ /\{[ \t]*$/) def[nm] = FILENAME
		else if (out !~ /;[ \t]*$/) pending = nm
	}
}
END {
	for (fi = 1; fi <= nfiles; fi++) {
		f = fname[fi]
		mf = modfile(f)
		m = substr(mf, 1, index(mf, "/") - 1)
		if (!(m in order)) continue
		if (!(mf in rank)) {
			printf "%s:1: a file of module %s that its layer order does not name (add it to scripts/check-layers.sh and the module'"'"'s private header)\n", f, m
			bad = 1
			continue
		}
		for (ln = 1; ln <= nlines[f]; ln++) {
			rest = code[f, ln]
			while (match(rest, /sshmux_[a-z0-9_]*[ \t]*\(/)) {
				nm = substr(rest, RSTART, RLENGTH)
				sub(/[ \t]*\($/, "", nm)
				rest = substr(rest, RSTART + RLENGTH)
				g = def[nm]
				if (g == "" || g == f) continue
				mg = modfile(g)
				if (substr(mg, 1, index(mg, "/") - 1) != m || !(mg in rank)) continue
				if (rank[mg] < rank[mf] || ((f " " nm) in allow)) continue
				printf "%s:%d: calls %s() of %s, a layer %s it in module %s (order: %s); call down, or up through a table the top installs\n", f, ln, nm, g, (rank[mg] == rank[mf] ? "beside" : "above"), m, order[m]
				bad = 1
			}
		}
	}
	exit bad
}
' $lib_c || bad=1
exit $bad
