#!/usr/bin/env bats
# Hardening of the master, its files, the stats segment and the control
# port (issue 12): one case per item of the attack review, each a reproduction
# of the attack that must now fail.  Most need root (files owned by other
# users, other uids, pidfd_getfd(2)); they skip, saying so, without it.
# tests/lib/harden.py is the attacker.

load lib/common

HARDEN="$ROOT/tests/lib/harden.py"
ATTACK="$ROOT/tests/lib/attack.py"

setup() {
	SHM_TAG="relay-hardening.$$.$BATS_TEST_NUMBER"
}

teardown() {
	common_teardown
	rm -f "/dev/shm/$SHM_TAG" "/dev/shm/$SHM_TAG".*
	if [ -n "${NETNS:-}" ]; then
		ip netns del "$NETNS" 2>/dev/null || true
	fi
}

need_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
}

# victim: a root-only file of the test; victim_intact: still exactly so.
make_victim() {
	VICTIM="$BATS_TEST_TMPDIR/victim"
	printf 'root only\n' >"$VICTIM"
	chmod 600 "$VICTIM"
	VICTIM_STAT=$(stat -c '%u:%g %a %s %Y' "$VICTIM")
}
victim_intact() {
	[ "$(cat "$VICTIM")" = "root only" ] &&
	    [ "$(stat -c '%u:%g %a %s %Y' "$VICTIM")" = "$VICTIM_STAT" ]
}

# relay_to_file LOGFILE [OPTIONS]: a relay on port 0 logging to LOGFILE;
# sets RELAY_PID, RELAY_PORT, RELAY_LOG (= LOGFILE).
relay_to_file() {
	RELAY_LOG=$1; shift
	"$BIN/relay" --log-file "$RELAY_LOG" "$@" 0 \
	    >>"$BATS_TEST_TMPDIR/relay.err" 2>&1 3>&- &
	RELAY_PID=$!
	track "$RELAY_PID"
	wait_until 10 file_has 'listening on' "$RELAY_LOG" || {
		cat "$BATS_TEST_TMPDIR/relay.err" >&2
		return 1
	}
	RELAY_PORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$RELAY_LOG" | head -n 1)
}

# busy_worker: the worker that holds a connection to the control port.
busy_worker() {
	ss -Htnp state established "sport = :$RELAY_PORT" 2>/dev/null |
	    grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u | head -n 1
}

has_busy_worker() { [ -n "$(busy_worker)" ]; }

# idle_workers: the children of the master that hold no connection at all.
idle_workers() {
	local pid busy
	busy=$(ss -Htnp 2>/dev/null | grep -o 'pid=[0-9]*' | sort -u)
	for pid in $(relay_children); do
		grep -qx "pid=$pid" <<<"$busy" || echo "$pid"
	done
}

has_idle_worker() { [ -n "$(idle_workers)" ]; }

# uid_of PID: its effective uid.
uid_of() { awk '/^Uid:/ { print $3 }' "/proc/$1/status"; }

# ---- 1. the pidfile and the log file ----

@test "pidfile and log file: planted links and FIFOs are refused, the victim untouched, also on SIGHUP" {
	need_root
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	make_victim
	local d="$BATS_TEST_TMPDIR"
	ln -s "$VICTIM" "$d/pid.link"
	ln -s "$VICTIM" "$d/log.link"
	ln "$VICTIM" "$d/log.hard"
	mkfifo "$d/fifo"

	run timeout 10 "$BIN/relay" --user nobody --pidfile "$d/pid.link" 0
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "$output" == *"pidfile $d/pid.link is a symbolic link"* ]]
	victim_intact
	run timeout 10 "$BIN/relay" --user nobody --log-file "$d/log.link" 0
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "$output" == *"cannot open log file $d/log.link: it is a symbolic link"* ]]
	victim_intact
	# A hard link to the victim: appending (and the chown) would hit it.
	run timeout 10 "$BIN/relay" --user nobody --log-file "$d/log.hard" 0
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "$output" == *"it has other hard links"* ]]
	victim_intact
	# A FIFO: refused, not waited on.
	run timeout 10 "$BIN/relay" --log-file "$d/fifo" 0
	[ "$status" -eq 69 ]
	[[ "$output" == *"not a regular file"* ]]
	run timeout 10 "$BIN/relay" --pidfile "$d/fifo" 0
	[ "$status" -eq 69 ]
	[[ "$output" == *"not a regular file"* ]]

	# A stale pidfile is replaced; both files are handed to --user by
	# descriptor.
	mkdir "$d/run"
	echo 2147483000 >"$d/run/relay.pid"
	relay_to_file "$d/run/relay.log" --user nobody --pidfile "$d/run/relay.pid"
	[ "$(cat "$d/run/relay.pid")" = "$RELAY_PID" ]
	[ "$(stat -c %U "$d/run/relay.pid")" = nobody ]
	[ "$(stat -c %U "$d/run/relay.log")" = nobody ]
	stop_all

	# SIGHUP after the log was replaced by a link to the victim (root
	# without --user: the master reopens as root).
	relay_to_file "$d/relay.log" --prefork 1
	mv "$d/relay.log" "$d/relay.log.1"
	ln -s "$VICTIM" "$d/relay.log"
	kill -HUP "$RELAY_PID"
	wait_until 5 file_has "log file $d/relay.log not reopened: it is a symbolic link; still logging to the old one" "$d/relay.log.1"
	victim_intact
	# still logging, to the old file
	start_echoserver --no-reconnect
	wait_until 5 file_has 'registered, tunnel' "$d/relay.log.1"
	victim_intact
}

# ---- 2. the shared-memory segment ----

@test "stats segment: a FIFO or another user's file under its name is refused at once, saying what to do" {
	need_root
	local seg="/dev/shm/$SHM_TAG" t0
	mkfifo "$seg"
	t0=$SECONDS
	run timeout 10 "$BIN/relay" --stats "/$SHM_TAG" 0
	echo "$output"
	[ "$status" -eq 69 ]
	[ $((SECONDS - t0)) -le 2 ]
	[[ "$output" == *"not a regular file"* ]]
	[[ "$output" == *"remove it as root (rm $seg) or start the relay with --stats NAME"* ]]
	# -d: the command that starts the daemon reports it too, at once
	t0=$SECONDS
	run timeout 10 "$BIN/relay" -d --stats "/$SHM_TAG" 0
	[ "$status" -eq 69 ]
	[ $((SECONDS - t0)) -le 2 ]
	rm -f "$seg"

	# A header naming a live process (init), planted by another user.
	make_segment "$seg" 1
	chown 65534:65534 "$seg"
	t0=$SECONDS
	run timeout 10 "$BIN/relay" --stats "/$SHM_TAG" 0
	echo "$output"
	[ "$status" -eq 69 ]
	[ $((SECONDS - t0)) -le 2 ]
	[[ "$output" == *"belongs to uid 65534, not to the relay's user (uid 0)"* ]]
	[[ "$output" == *"--stats NAME"* ]]
	[ -e "$seg" ]
	# relaystat does not take it for a relay's either
	run "$BIN/relaystat" --stats "/$SHM_TAG"
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "$output" == *"someone may have planted it"* ]]
	# Given another name, the relay starts.
	start_relay --prefork 1 --stats "/$SHM_TAG.2"
	[ -e "/dev/shm/$SHM_TAG.2" ]
}

@test "stats segment: mode 0640 for the --stats-group only; relaystat refuses a copy planted by another user" {
	need_root
	start_relay --prefork 1
	[ "$(stat -c '%a %u %g' "/dev/shm/relay.$RELAY_PORT")" = "640 0 0" ]
	stop_all
	start_relay --prefork 1 --stats-group 4242
	local seg="/dev/shm/relay.$RELAY_PORT"
	[ "$(stat -c '%a %u %g' "$seg")" = "640 0 4242" ]
	start_echoserver --no-reconnect --name seen
	# not a member: cannot read; a member: can
	run setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN/relaystat" "$RELAY_PORT"
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "$output" == *"Permission denied"* ]]
	run setpriv --reuid=65534 --regid=65534 --groups=4242 "$BIN/relaystat" "$RELAY_PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *seen* ]]
	# A copy of the live relay's segment, owned by someone else.
	cp "$seg" "/dev/shm/$SHM_TAG"
	chown 65534:65534 "/dev/shm/$SHM_TAG"
	run "$BIN/relaystat" --stats "/$SHM_TAG"
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "$output" == *"belongs to uid 65534, the relay (pid $RELAY_PID) runs as uid 0"* ]]
	stop_all
	# With --user, the segment is that user's (it removes it at exit).
	start_relay --prefork 1 --user nobody
	[ "$(stat -c '%a %U' "/dev/shm/relay.$RELAY_PORT")" = "640 nobody" ]
	run "$BIN/relaystat" "$RELAY_PORT"
	[ "$status" -eq 0 ]
}

# ---- 3. process identities ----

@test "identities: workers run as --worker-user and cannot signal the master; no core dumps; no worker holds the secret" {
	need_root
	command -v setpriv >/dev/null || skip "setpriv is not installed"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	local sf="$BATS_TEST_TMPDIR/secret" secret hex psk w pid
	secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	hex=$(printf '%s' "$secret" | od -An -tx1 | tr -d ' \n')
	psk=$(python3 -c 'import hashlib, sys; print(hashlib.blake2s(b"relay-psk-1" + sys.argv[1].encode()).hexdigest())' "$secret")
	(umask 077 && printf '%s\n' "$secret" >"$sf")
	# Workers as the master's user: the master runs the handshakes, so
	# no worker, serving or idle, holds the secret or the key made from
	# it (the master does: the search finds what is there), and every
	# worker is sandboxed.
	start_relay --prefork 2 --user nobody --secret-file "$sf"
	start_echoserver --no-reconnect --secret-file "$sf"
	w=$(worker_of_port "$TUNNEL_PORT")
	pid=$(idle_workers | head -n 1)
	for p in "$w" "$pid"; do
		run python3 "$HARDEN" find "$p" "$hex"
		[ "$output" = found=0 ]
		run python3 "$HARDEN" find "$p" "$psk"
		[ "$output" = found=0 ]
	done
	run python3 "$HARDEN" find "$RELAY_PID" "$psk"
	[ "$output" != found=0 ]
	for pid in $(relay_children); do
		grep -qx $'NoNewPrivs:\t1' "/proc/$pid/status"
		grep -qx $'Seccomp:\t2' "/proc/$pid/status"
	done
	stop_all

	# Workers of their own: another uid than the master's.
	start_relay --prefork 2 --user nobody --worker-user 65533:65533 --secret-file "$sf"
	start_echoserver --no-reconnect --secret-file "$sf"
	run echo_check --bytes 10000
	[ "$status" -eq 0 ]
	grep -q 'workers run as 65533:65533 (uid 65533, gid 65533)' "$RELAY_LOG"
	[ "$(uid_of "$RELAY_PID")" = 65534 ]
	for pid in $(relay_children); do
		[ "$(uid_of "$pid")" = 65533 ]
		grep -qx $'Gid:\t65533\t65533\t65533\t65533' "/proc/$pid/status"
		grep -qx $'NoNewPrivs:\t1' "/proc/$pid/status"
		grep -qx $'Seccomp:\t2' "/proc/$pid/status"
		grep -qx $'CapEff:\t0000000000000000' "/proc/$pid/status"
		grep -qx $'CapPrm:\t0000000000000000' "/proc/$pid/status"
	done
	# The master kept only what starting and ending workers takes:
	# CAP_KILL, CAP_SETGID, CAP_SETUID.
	grep -qx $'CapEff:\t00000000000000e0' "/proc/$RELAY_PID/status"
	# A process with a worker's ids cannot signal the master.
	run setpriv --reuid=65533 --regid=65533 --clear-groups kill -0 "$RELAY_PID"
	[ "$status" -ne 0 ]
	[[ "$output" == *"not permitted"* ]]
	# Not dumpable (so /proc/PID belongs to root) and no core files, for
	# the master and the workers.
	for pid in "$RELAY_PID" $(relay_children); do
		[ "$(stat -c %u "/proc/$pid/environ")" = 0 ]
		grep -qE '^Max core file size +0 +0 ' "/proc/$pid/limits"
	done
	stop_all

	# A secret file that another user owns (and so could rewrite).
	chown 65534 "$sf"
	run "$BIN/relay" --secret-file "$sf" 0
	echo "$output"
	[ "$status" -eq 64 ]
	[[ "$output" == *"belongs to uid 65534"* ]]
}

# ---- 3b. the sandbox ----

@test "sandbox: a worker that makes a forbidden system call is killed (SIGSYS) and logged; the relay goes on" {
	local sc port w names=(kill tgkill tkill ptrace process_vm_readv
	    process_vm_writev pidfd_open pidfd_getfd pidfd_send_signal open
	    openat execve fork setuid prctl socket connect mprotect_exec
	    fcntl_setown ioctl_setown)
	RELAY_TEST_SANDBOX_VIOLATION=1 start_relay --prefork 2
	ECHO_NAME=honest start_echoserver --no-reconnect
	local honest=$TUNNEL_PORT
	for sc in "${names[@]}"; do
		# Its worker dies before the tunnel address leaves: the backend
		# may or may not see it.
		timeout 10 "$BIN/echoserver" --no-reconnect --name "sandbox-test-$sc" \
		    127.0.0.1 "$RELAY_PORT" >/dev/null 2>&1 3>&- || true
		wait_until 5 file_has "name sandbox-test-$sc on tunnel port [0-9]+ ended: worker [0-9]+ killed by the sandbox \(SIGSYS\): forbidden system call" "$RELAY_LOG"
		alive "$RELAY_PID"
	done
	run grep -c 'was allowed' "$RELAY_LOG"
	[ "$output" -eq 0 ]
	# The other tunnel and new registrations are unharmed.
	TUNNEL_PORT=$honest run echo_check --bytes 100000
	[ "$status" -eq 0 ]
	ECHO_NAME=after start_echoserver --no-reconnect
	run echo_check --bytes 100000
	[ "$status" -eq 0 ]
	run grep -cE 'idle worker [0-9]|workers keep dying' "$RELAY_LOG"
	[ "$output" -eq 0 ]
}

# ---- 4. messages from workers ----

@test "forged worker messages: refused, the worker killed, rate-limited; the master keeps serving" {
	need_root
	python3 -c 'import os; os.pidfd_open' 2>/dev/null || skip "python3 has no os.pidfd_open"
	start_relay --prefork 4
	# A worker registering a connection that sent half a header.
	python3 "$PY" send-close 127.0.0.1 "$RELAY_PORT" --hex 00 --timeout 20 \
	    >/dev/null 2>&1 3>&- &
	track $!
	local w pid n
	wait_until 5 has_busy_worker
	w=$(busy_worker)
	run python3 "$HARDEN" forge "$w" badname
	echo "$output"
	[[ "$output" == "result sent=1 "* ]]
	# Killed by the master at once (or else by us: the master then logs
	# the name it recorded).
	wait_until 3 dead "$w" || kill -9 "$w"
	wait_until 5 file_has "worker $w" "$RELAY_LOG"
	run grep -c '^FORGED' "$RELAY_LOG"
	[ "$output" -eq 0 ]
	grep -q "worker $w sent a bad message (backend name); killed" "$RELAY_LOG"
	# An escape in the address, a REGISTERED out of turn, a descriptor.
	local kind why
	for kind in badaddr registered withfd; do
		case $kind in
		badaddr) why='address' ;;
		registered) why='registered without a port' ;;
		withfd) why='descriptor' ;;
		esac
		wait_until 5 has_idle_worker
		w=$(idle_workers | head -n 1)
		run python3 "$HARDEN" forge "$w" "$kind"
		echo "$output"
		wait_until 5 dead "$w"
		grep -q "worker $w sent a bad message ($why); killed" "$RELAY_LOG"
	done
	# Nothing the messages carried reached the log.
	run grep -c 'FORGED\|pwned' "$RELAY_LOG"
	[ "$output" -eq 0 ]
	run grep -c $'\x1b' "$RELAY_LOG"
	[ "$output" -eq 0 ]

	# Four workers flood their channels at once: each is killed at its
	# first message (the master reads at most a few per wake-up, so a
	# flood cannot hold it), the lines stay few, and the relay serves.
	wait_until 10 pool_is 4
	local before flooded t0
	flooded=($(idle_workers))
	[ "${#flooded[@]}" -eq 4 ]
	before=$(wc -l <"$RELAY_LOG")
	t0=$SECONDS
	for pid in "${flooded[@]}"; do
		python3 "$HARDEN" forge "$pid" flood --count 20000 --seconds 5 \
		    >"$BATS_TEST_TMPDIR/flood.$pid" 2>&1 3>&- &
		track $!
	done
	wait_until 5 all_dead "${flooded[@]}"
	[ $((SECONDS - t0)) -le 3 ]
	for pid in "${flooded[@]}"; do
		wait_until 10 test -s "$BATS_TEST_TMPDIR/flood.$pid"
		cat "$BATS_TEST_TMPDIR/flood.$pid"
		grep -q 'error=EPIPE\|error=ECONNRESET\|error=ECONNREFUSED' "$BATS_TEST_TMPDIR/flood.$pid"
	done
	start_echoserver --no-reconnect
	run echo_check --bytes 10000
	[ "$status" -eq 0 ]
	n=$(($(wc -l <"$RELAY_LOG") - before))
	echo "$n log lines during the flood"
	[ "$n" -le 20 ]
	[ "$(grep -c 'sent a bad message (message type); killed' "$RELAY_LOG")" -le 5 ]
	alive "$RELAY_PID"
}

# ---- 5. no shared memory to corrupt ----

@test "shared memory: no mapping a worker can write but the stats table; registrations go on" {
	need_root
	local sf="$BATS_TEST_TMPDIR/secret" pid line
	(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$sf")
	start_relay --prefork 3 --secret-file "$sf"
	wait_until 5 pool_is 3
	# Every writable shared mapping of every worker but the stats table:
	# there must be none; were there one, a live pid written over it (as
	# over the old cache's lock word) must not stop registrations.
	local shared=0
	for pid in $(relay_children); do
		while read -r line; do
			echo "worker $pid: $line"
			case "$line" in
			*"/dev/shm/relay.$RELAY_PORT"*) continue ;;
			esac
			shared=$((shared + 1))
			python3 "$HARDEN" scribble "$pid" "${line%%-*}" || true
		done < <(python3 "$HARDEN" maps "$pid")
	done
	local i
	for i in 1 2 3; do
		ECHO_NAME="r$i" start_echoserver --no-reconnect --secret-file "$sf" --name "r$i"
		run echo_check --bytes 1000
		[ "$status" -eq 0 ]
	done
	[ "$shared" -eq 0 ]
}

# ---- 6. holding every registration place ----

@test "control port: silent connections from 127.0.0.2 do not keep a backend on 127.0.0.1 from registering" {
	start_relay --prefork 2
	# More than --max-pending (64), replaced as soon as they are closed.
	timeout 30 python3 "$HARDEN" silent 127.0.0.1 "$RELAY_PORT" \
	    --source 127.0.0.2 --count 80 --seconds 12 --reopen \
	    --ready "$BATS_TEST_TMPDIR/attacker.ready" \
	    >"$BATS_TEST_TMPDIR/attacker.out" 2>&1 3>&- &
	local att=$! i
	track "$att"
	wait_until 5 test -s "$BATS_TEST_TMPDIR/attacker.ready"
	wait_until 5 file_has 'backend 127\.0\.0\.2:[0-9]+ refused' "$RELAY_LOG"
	for i in 1 2 3 4 5; do
		ECHO_NAME="honest$i" start_echoserver --no-reconnect
		run echo_check --bytes 1000
		[ "$status" -eq 0 ]
		kill "$BACKEND_PID"
	done
	alive "$att"
	grep -qE 'backend 127\.0\.0\.2:[0-9]+ refused: 8 connections from its address are still registering \(--max-pending-per-addr\)' "$RELAY_LOG"
	# None of the attacker's connections ever reached a worker.
	run grep -c 'handed to worker\|127\.0\.0\.2.*dropped before registering: session' "$RELAY_LOG"
	[ "$output" -eq 0 ]
}

@test "control port: IPv6 addresses count per /64 against --max-pending-per-addr (in a network namespace)" {
	need_root
	command -v ip >/dev/null || skip "iproute2 is not installed"
	NETNS="relay-hardening-$$"
	ip netns add "$NETNS" 2>/dev/null || { NETNS=; skip "cannot create a network namespace"; }
	local a
	ip -n "$NETNS" link set lo up
	for a in 2001:db8::1 2001:db8::2 2001:db8::3 2001:db8:0:1::1; do
		ip -n "$NETNS" addr add "$a/64" dev lo nodad
	done
	RELAY_LOG="$BATS_TEST_TMPDIR/relay.log"
	ip netns exec "$NETNS" "$BIN/relay" --prefork 1 -l 2001:db8::1 0 \
	    >"$RELAY_LOG" 2>&1 3>&- &
	RELAY_PID=$!
	track "$RELAY_PID"
	wait_until 10 file_has 'listening on' "$RELAY_LOG"
	RELAY_PORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$RELAY_LOG" | head -n 1)
	# Two addresses of one /64 share its 8 places; another /64 has its own.
	for a in 2001:db8::2 2001:db8::3 2001:db8:0:1::1; do
		ip netns exec "$NETNS" timeout 20 python3 "$HARDEN" silent \
		    2001:db8::1 "$RELAY_PORT" --source "$a" --count 8 --seconds 1.5 \
		    --check-after 1 >"$BATS_TEST_TMPDIR/s$a.out" 2>&1 3>&- &
		track $!
	done
	local n1 n2 n3
	for a in 2001:db8::2 2001:db8::3 2001:db8:0:1::1; do
		wait_until 10 file_has '^result' "$BATS_TEST_TMPDIR/s$a.out"
		cat "$BATS_TEST_TMPDIR/s$a.out"
	done
	n1=$(sed -n 's/^held_after=//p' "$BATS_TEST_TMPDIR/s2001:db8::2.out")
	n2=$(sed -n 's/^held_after=//p' "$BATS_TEST_TMPDIR/s2001:db8::3.out")
	n3=$(sed -n 's/^held_after=//p' "$BATS_TEST_TMPDIR/s2001:db8:0:1::1.out")
	[ $((n1 + n2)) -eq 8 ]
	[ "$n3" -eq 8 ]
	grep -q 'refused: 8 connections from its address are still registering' "$RELAY_LOG"
}

@test "control port: a connection that sends nothing is closed at --first-byte-timeout by the master, no worker involved" {
	# The default (3 s), well before --register-timeout (10 s).
	start_relay --prefork 1
	wait_until 5 pool_is 1
	run python3 "$PY" send-close 127.0.0.1 "$RELAY_PORT" --timeout 12
	echo "$output"
	[ "$status" -eq 0 ]
	local secs addr
	secs=$(sed -n 's/^closed after \([0-9.]*\) s .*/\1/p' <<<"$output")
	python3 -c 'import sys; s = float(sys.argv[1]); sys.exit(not 2.9 <= s < 4.5)' "$secs"
	stop_all
	start_relay --prefork 1 --first-byte-timeout 1000
	wait_until 5 pool_is 1
	run python3 "$PY" send-close 127.0.0.1 "$RELAY_PORT" --timeout 5
	echo "$output"
	[ "$status" -eq 0 ]
	secs=$(sed -n 's/^closed after \([0-9.]*\) s .*/\1/p' <<<"$output")
	addr=$(sed -n 's/.* local \([0-9.:]*\) .*/\1/p' <<<"$output")
	python3 -c 'import sys; s = float(sys.argv[1]); sys.exit(not 0.9 <= s < 2.5)' "$secs"
	grep -qF "backend $addr dropped before registering: registration timed out (nothing received within 1000 ms)" "$RELAY_LOG"
	# the pool never moved: no worker was busy with it
	pool_is 1
	run grep -c 'did not register within' "$RELAY_LOG"
	[ "$output" -eq 0 ]
}

@test "control port: --max-startups drops at random between START and FULL, all beyond FULL" {
	# The default 32:30:64: 48 silent connections from six addresses,
	# eight each (the per-address cap): some refused at random past 32.
	start_relay --prefork 1
	local i held=0
	for i in 3 4 5 6 7 8; do
		timeout 20 python3 "$HARDEN" silent 127.0.0.1 "$RELAY_PORT" \
		    --source "127.0.0.$i" --count 8 --seconds 2 --check-after 1.5 \
		    >"$BATS_TEST_TMPDIR/s$i.out" 2>&1 3>&- &
		track $!
	done
	for i in 3 4 5 6 7 8; do
		wait_until 10 file_has '^result' "$BATS_TEST_TMPDIR/s$i.out"
		held=$((held + $(sed -n 's/^held_after=//p' "$BATS_TEST_TMPDIR/s$i.out")))
	done
	echo "held $held of 48"
	[ "$held" -ge 32 ] && [ "$held" -lt 48 ]
	grep -q 'refused: [0-9]* connections are still registering (random early drop, --max-startups)' "$RELAY_LOG"
	stop_all

	start_relay --prefork 1 --max-startups 4:50:12 --max-pending-per-addr 100
	run timeout 20 python3 "$HARDEN" silent 127.0.0.1 "$RELAY_PORT" \
	    --source 127.0.0.3 --count 200 --seconds 1.5 --check-after 1
	echo "$output"
	local held
	held=$(sed -n 's/^held_after=//p' <<<"$output")
	[ "$held" -ge 4 ] && [ "$held" -le 12 ]
	grep -q 'refused: [0-9]* connections are still registering (random early drop, --max-startups)' "$RELAY_LOG"
	grep -q 'refused: 12 connections are still registering' "$RELAY_LOG"
	run "$BIN/relay" --max-startups 8:30:4 0
	[ "$status" -eq 64 ]
	run "$BIN/relay" --max-startups 4:30:12 --max-pending 10 0
	[ "$status" -eq 64 ]
}

# ---- 7. log floods before registering ----

@test "log flood: a client reconnecting with garbage or plain hellos for 3 s leaves a bounded log" {
	local sf="$BATS_TEST_TMPDIR/secret" before n
	(umask 077 && echo s3cret >"$sf")
	start_relay --prefork 2 --secret-file "$sf"
	wait_until 5 pool_is 2
	before=$(wc -l <"$RELAY_LOG")
	run timeout 20 python3 "$HARDEN" flood 127.0.0.1 "$RELAY_PORT" --seconds 3
	echo "$output"
	n=$(($(wc -l <"$RELAY_LOG") - before))
	echo "$n lines"
	[ "$(sed -n 's/^result connections=//p' <<<"$output")" -ge 100 ]
	[ "$n" -le 80 ]
	wait_until 3 file_has 'similar lines suppressed' "$RELAY_LOG"
	before=$(wc -l <"$RELAY_LOG")
	run timeout 20 python3 "$HARDEN" flood 127.0.0.1 "$RELAY_PORT" --seconds 3 \
	    --hello-text 'relay-hello 1 name=x\n'
	echo "$output"
	n=$(($(wc -l <"$RELAY_LOG") - before))
	echo "$n lines"
	[ "$n" -le 80 ]
	grep -q 'master warning: backend 127.0.0.1:[0-9]*: this relay takes only encrypted sessions' "$RELAY_LOG"
	# and the relay still serves
	start_echoserver --no-reconnect --secret-file "$sf"
	run echo_check --bytes 1000
	[ "$status" -eq 0 ]
}

# ---- 8. PORT 0 without --ports ----

@test "PORT 0 without --ports: a privileged port is refused; running as root without --user is warned about" {
	need_root
	port_is_free 81 || skip "port 81 is in use here"
	start_relay --prefork 1
	run "$BIN/echoserver" --no-reconnect --port 81 127.0.0.1 "$RELAY_PORT"
	echo "$output"
	port_is_free 81
	[ "$status" -eq 69 ]
	[[ "$output" == *"port 81 is privileged: without --ports only ports from 1024 up may be asked for"* ]]
	grep -q 'warning: running as root without --user' "$RELAY_LOG"
	# an unprivileged one is fine
	local p
	p=$(free_port)
	start_echoserver --no-reconnect --port "$p"
	[ "$TUNNEL_PORT" = "$p" ]
	stop_all
	start_relay --prefork 1 --user nobody
	run grep -c 'running as root' "$RELAY_LOG"
	[ "$output" -eq 0 ]
}

# ---- 9. a lingering reservation ----

@test "a refused request for another port keeps the name's lingering reservation and its waiting client" {
	local base
	base=$(free_port_block 5)
	start_relay_port "$base" --prefork 2 --ports "$((base + 1))-$((base + 5))" --linger 30
	ECHO_NAME=other start_echoserver --no-reconnect --port "$((base + 3))"
	ECHO_NAME=keep1 start_echoserver --no-reconnect --name keep --port "$((base + 2))"
	local port=$TUNNEL_PORT
	kill "$BACKEND_PID"
	wait_until 5 file_has "tunnel port $port of backend 'keep' kept for 30s" "$RELAY_LOG"
	# A client arrives meanwhile and waits in the listener's queue.
	bg_client waiting echo 127.0.0.1 "$port" --bytes 1000
	local waiting=$BG_PID
	# The same name asks for a port outside the range, then for another
	# backend's: both refused, the reservation stays.
	run "$BIN/echoserver" --no-reconnect --name keep --port "$((base + 9))" 127.0.0.1 "$RELAY_PORT"
	[ "$status" -eq 69 ]
	[[ "$output" == *"outside the tunnel range"* ]]
	run "$BIN/echoserver" --no-reconnect --name keep --port "$((base + 3))" 127.0.0.1 "$RELAY_PORT"
	[ "$status" -eq 69 ]
	[[ "$output" == *"port $((base + 3)) is taken"* ]]
	port_is_open "$port"
	run grep -c "tunnel port $port of backend 'keep' freed" "$RELAY_LOG"
	[ "$output" -eq 0 ]
	# The name comes back: same port, and the waiting client is served.
	ECHO_NAME=keep2 start_echoserver --no-reconnect --name keep
	[ "$TUNNEL_PORT" = "$port" ]
	wait_until 10 dead "$waiting"
	wait "$waiting"
	# Asking for another free port moves the reservation there.
	kill "$BACKEND_PID"
	wait_until 5 file_has "tunnel port $port of backend 'keep' kept for 30s" "$RELAY_LOG"
	ECHO_NAME=keep3 start_echoserver --no-reconnect --name keep --port "$((base + 4))"
	[ "$TUNNEL_PORT" = "$((base + 4))" ]
	wait_until 5 port_is_free "$port"
}
