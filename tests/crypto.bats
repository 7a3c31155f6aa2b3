#!/usr/bin/env bats
# The crypto of the encrypted sessions, beyond the unit tests' RFC and
# Noise vectors: differential tests against independent implementations
# (Python's cryptography and hashlib, and a Noise state machine written in
# Python), the constant-time check under valgrind, the unit tests under
# valgrind, and relaykey(1).

load lib/common

DRV="$ROOT/bin/cryptodrv"

teardown() {
	common_teardown
}

# need_python: PYC is a python3 that has the cryptography package.
need_python() {
	local py
	for py in python3 /usr/bin/python3; do
		command -v "$py" >/dev/null 2>&1 || continue
		if "$py" -c 'import cryptography' 2>/dev/null; then
			PYC=$py
			return 0
		fi
	done
	skip "no python3 with the cryptography package (apt-get install python3-cryptography)"
}

need_valgrind() {
	command -v valgrind >/dev/null 2>&1 ||
		skip "valgrind is not installed (apt-get install valgrind)"
}

@test "primitives agree with Python's cryptography and hashlib on thousands of random inputs" {
	need_python
	[ -x "$DRV" ] || { echo "bin/cryptodrv missing: make all" >&2; return 1; }
	run timeout 120 "$PYC" "$ROOT/tests/diff/diff_crypto.py" "$DRV"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == ok:* ]]
}

@test "Noise IK and NNpsk0 sessions interoperate with an independent Python implementation, across rekeys" {
	need_python
	[ -x "$DRV" ] || { echo "bin/cryptodrv missing: make all" >&2; return 1; }
	run timeout 120 "$PYC" "$ROOT/tests/diff/diff_noise.py" "$DRV"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == ok* ]]
	[[ "$output" == *"13 broken sessions refused as expected"* ]]
}

@test "no branch or memory index depends on a secret (valgrind ctgrind check)" {
	need_valgrind
	[ -f /usr/include/valgrind/memcheck.h ] ||
		skip "valgrind/memcheck.h is missing (apt-get install valgrind)"
	[ -x "$BIN/ctcheck" ] || { echo "bin/ctcheck missing: make all" >&2; return 1; }
	# The check must see a deliberate leak of either kind...
	run timeout 60 valgrind -q --error-exitcode=99 "$BIN/ctcheck" --leak-branch
	[ "$status" -eq 99 ]
	[[ "$output" == *"Conditional jump or move depends on uninitialised"* ]]
	run timeout 60 valgrind -q --error-exitcode=99 "$BIN/ctcheck" --leak-index
	[ "$status" -eq 99 ]
	[[ "$output" == *"Use of uninitialised value of size"* ]]
	# ...and none in the real code.
	run timeout 120 valgrind -q --error-exitcode=99 "$BIN/ctcheck"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ctcheck: done"* ]]
}

@test "the crypto unit tests are clean under valgrind memcheck" {
	need_valgrind
	local t
	for t in test_crypto test_noise test_keys; do
		run timeout 120 valgrind -q --error-exitcode=99 --leak-check=full \
		    --errors-for-leak-kinds=definite "$BIN/$t"
		[ "$status" -eq 0 ] || { echo "$output" >&2; return 1; }
	done
}

# ---- relaykey ----

@test "relaykey generate writes a 0600 key file, prints its public key, never overwrites" {
	local k="$BATS_TEST_TMPDIR/relay.key" pub
	run "$BIN/relaykey" generate "$k"
	[ "$status" -eq 0 ]
	pub=$output
	[[ "$pub" =~ ^[A-Za-z0-9+/]{43}=$ ]]
	[ "$(stat -c %a "$k")" = 600 ]
	[ "$(stat -c %s "$k")" = 45 ]
	run "$BIN/relaykey" public "$k"
	[ "$status" -eq 0 ]
	[ "$output" = "$pub" ]
	# a second generate into the same file is refused and changes nothing
	local before
	before=$(cat "$k")
	run "$BIN/relaykey" generate "$k"
	[ "$status" -eq 69 ]
	[[ "$output" == "relaykey: key file $k exists: not overwriting it" ]]
	[ "$(cat "$k")" = "$before" ]
	# not through a symbolic link either, even a dangling one
	ln -s "$BATS_TEST_TMPDIR/target" "$BATS_TEST_TMPDIR/link"
	run "$BIN/relaykey" generate "$BATS_TEST_TMPDIR/link"
	[ "$status" -eq 69 ]
	[ ! -e "$BATS_TEST_TMPDIR/target" ]
	# two keys differ
	run "$BIN/relaykey" generate "$BATS_TEST_TMPDIR/other.key"
	[ "$status" -eq 0 ]
	[ "$output" != "$pub" ]
}

@test "relaykey fingerprint of a public key and of a key file agree, in SSH's format" {
	local k="$BATS_TEST_TMPDIR/k" pub fp
	pub=$("$BIN/relaykey" generate "$k")
	run "$BIN/relaykey" fingerprint "$k"
	[ "$status" -eq 0 ]
	fp=$output
	[[ "$fp" =~ ^SHA256:[A-Za-z0-9+/]{43}$ ]]
	run "$BIN/relaykey" fingerprint "$pub"
	[ "$status" -eq 0 ]
	[ "$output" = "$fp" ]
	# RFC 7748's Alice, fingerprint computed with Python's hashlib
	run "$BIN/relaykey" fingerprint hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=
	[ "$status" -eq 0 ]
	[ "$output" = "SHA256:MAyclgO5Kks57TlYv5JAEUgE20/TcwEsDKR0MtY0Ja4" ]
	if command -v python3 >/dev/null; then
		run python3 -c 'import base64, hashlib, sys
k = base64.b64decode(sys.argv[1])
print("SHA256:" + base64.b64encode(hashlib.sha256(k).digest()).decode().rstrip("="))' "$pub"
		[ "$output" = "$fp" ]
	fi
}

@test "relaykey refuses unusable key files with exit 69 and a reason" {
	local d=$BATS_TEST_TMPDIR
	"$BIN/relaykey" generate "$d/k" >/dev/null
	chmod 640 "$d/k"
	run "$BIN/relaykey" public "$d/k"
	[ "$status" -eq 69 ]
	[ "$output" = "relaykey: key file $d/k must not be accessible by group or others (chmod 600)" ]
	chmod 600 "$d/k"
	ln -s "$d/k" "$d/link"
	run "$BIN/relaykey" public "$d/link"
	[ "$status" -eq 69 ]
	[[ "$output" == *"is a symbolic link"* ]]
	printf 'not a key\n' >"$d/bad" && chmod 600 "$d/bad"
	run "$BIN/relaykey" public "$d/bad"
	[ "$status" -eq 69 ]
	[[ "$output" == *"must hold exactly one key"* ]]
	run "$BIN/relaykey" public "$d"
	[ "$status" -eq 69 ]
	[[ "$output" == *"is not a regular file"* ]]
	run "$BIN/relaykey" public "$d/missing"
	[ "$status" -eq 69 ]
	[[ "$output" == *"cannot be opened"* ]]
	run "$BIN/relaykey" fingerprint "$d/bad"
	[ "$status" -eq 69 ]
	if [ "$(id -u)" = 0 ]; then
		cp "$d/k" "$d/theirs" && chown 65534 "$d/theirs"
		run "$BIN/relaykey" public "$d/theirs"
		[ "$status" -eq 69 ]
		[[ "$output" == *"is owned by uid 65534"* ]]
	fi
}

@test "relaykey usage errors exit 64; --help and --version exit 0" {
	run "$BIN/relaykey"
	[ "$status" -eq 64 ]
	[[ "${lines[0]}" == "relaykey: no command" ]]
	run "$BIN/relaykey" frobnicate x
	[ "$status" -eq 64 ]
	[[ "${lines[0]}" == "relaykey: unknown command 'frobnicate'" ]]
	run "$BIN/relaykey" public
	[ "$status" -eq 64 ]
	run "$BIN/relaykey" public a b
	[ "$status" -eq 64 ]
	run "$BIN/relaykey" --bogus
	[ "$status" -eq 64 ]
	run "$BIN/relaykey" fingerprint "$BATS_TEST_TMPDIR/nothing-here"
	[ "$status" -eq 64 ]
	[[ "${lines[0]}" == *"is neither a public key"* ]]
	run "$BIN/relaykey" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"generate FILE"* ]]
	run "$BIN/relaykey" -V
	[ "$status" -eq 0 ]
	[ "$output" = "relaykey $(cat "$ROOT/VERSION")" ]
	# a file name that starts with '-' after the command is a file
	cd "$BATS_TEST_TMPDIR"
	run "$BIN/relaykey" generate -k
	[ "$status" -eq 0 ]
	[ -f "$BATS_TEST_TMPDIR/-k" ]
}
