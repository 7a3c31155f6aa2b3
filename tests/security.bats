#!/usr/bin/env bats
# Hostile input, authentication and limits.  Every attack runs while an
# honest tunnel (A) carries a paced, checksummed transfer: the attack must
# get its expected answer (a log line, GoAway(1), a closed connection), the
# transfer must end with every byte intact, and the relay must then accept a
# new registration.  tests/lib/attack.py is the attacker (a raw yamux
# backend, or a flood of the control or a tunnel port).

load lib/common

ATTACK="$ROOT/tests/lib/attack.py"
PACED="$ROOT/tests/lib/paced.py"
HONEST_BYTES=20000000		# 20 MB at about 10 MB/s: 2 s
HONEST_RATE=10000000

teardown() {
	common_teardown
}

# ---- helpers ----

# Options every backend of the test gets (a secret file, for instance).
BACKEND_OPTS=()

# honest_start [RELAY OPTIONS]: a relay, an echoserver as tunnel A, and a
# paced checksummed transfer through it in the background (PACED_PID),
# running once its first bytes have come back.  Sets HONEST_PORT.
honest_start() {
	start_relay --prefork 2 "$@"
	ECHO_NAME=honest start_echoserver --no-reconnect "${BACKEND_OPTS[@]}"
	HONEST_PORT=$TUNNEL_PORT
	HONEST_BACKEND=$BACKEND_PID
	python3 "$PACED" 127.0.0.1 "$HONEST_PORT" "$HONEST_BYTES" \
	    "$HONEST_RATE" "$BATS_TEST_TMPDIR/paced.ready" \
	    >"$BATS_TEST_TMPDIR/paced.out" 2>"$BATS_TEST_TMPDIR/paced.err" 3>&- &
	PACED_PID=$!
	track "$PACED_PID"
	wait_until 10 test -e "$BATS_TEST_TMPDIR/paced.ready"
}

# honest_finish: the transfer through tunnel A ended with every byte back
# unchanged; the relay and A's backend live; A still echoes; a new backend
# registers and echoes.
honest_finish() {
	wait_until 30 dead "$PACED_PID"
	local st=0
	wait "$PACED_PID" || st=$?
	cat "$BATS_TEST_TMPDIR/paced.out" "$BATS_TEST_TMPDIR/paced.err"
	[ "$st" -eq 0 ]
	grep -qE "^ok $HONEST_BYTES [0-9a-f]{64}\$" "$BATS_TEST_TMPDIR/paced.out"
	alive "$RELAY_PID"
	alive "$HONEST_BACKEND"
	TUNNEL_PORT=$HONEST_PORT run echo_check --bytes 100000
	[ "$status" -eq 0 ]
	ECHO_NAME=after start_echoserver --no-reconnect "${BACKEND_OPTS[@]}"
	[ "$TUNNEL_PORT" != "$HONEST_PORT" ]
	run echo_check --bytes 100000
	[ "$status" -eq 0 ]
}

# attack ATTACK [ARGS...]: run attack.py against the control port (bounded
# by timeout); $output and $status as `run` sets them.
attack() {
	local what=$1; shift
	run timeout 60 python3 "$ATTACK" "$what" 127.0.0.1 "$RELAY_PORT" "$@"
	echo "$output"
}

# res KEY: KEY's value on the result line of the last attack.
res() {
	grep '^result ' <<<"$output" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# peer: the attacker's address (its end of the connection) from $output.
peer() {
	grep -o 'local [0-9.:]*' <<<"$output" | head -n 1 | cut -d' ' -f2
}

# tunnel_of: the tunnel port the attacker registered ("registered H:P").
tunnel_of() {
	sed -n 's/^registered [^ ]*:\([0-9]*\) .*/\1/p' <<<"$output"
}

# backend_attack ATTACK REASON [ARGS...]: a registered malicious backend
# performs ATTACK while A's transfer runs; the relay must answer GoAway(1),
# close the connection, log "backend ADDR gone: session error: REASON"
# (ADDR the attacker's), and nothing else must suffer.
backend_attack() {
	local what=$1 why=$2; shift 2
	honest_start
	attack "$what" --timeout 5 "$@"
	[ "$status" -eq 0 ]
	[[ "$output" == *"registered "* ]]
	[ "$(res goaway)" = 1 ]
	[ "$(res closed)" = 1 ]
	wait_until 5 grep -qF "backend $(peer) gone: session error: $why; closing" "$RELAY_LOG"
	local attack_output=$output
	honest_finish
	output=$attack_output	# for the caller's own checks
}

# cpu_ticks PID: user + system time of PID in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# make_secret NAME: a random secret in BATS_TEST_TMPDIR/NAME, mode 600;
# sets SF (its path) and SECRET (its contents).
make_secret() {
	SF="$BATS_TEST_TMPDIR/$1"
	SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	(umask 077 && printf '%s\n' "$SECRET" >"$SF")
}

# ---- malformed frames from a registered backend ----

@test "random bytes: from a registered backend GoAway(1) and close; before registering dropped" {
	backend_attack random "bad version" --bytes 65536 --seed 7
	run python3 "$PY" send-close 127.0.0.1 "$RELAY_PORT" --random 4096 \
	    --hex ff --timeout 5
	[ "$status" -eq 0 ]
	wait_until 5 grep -q "dropped before registering: session error: bad version" "$RELAY_LOG"
}

@test "truncated header: a registered backend that stops mid-header is dropped by the keepalive" {
	honest_start --keepalive 1 --alive-timeout 1000 --register-timeout 1000
	attack truncated --timeout 6
	[ "$status" -eq 0 ]
	[ "$(res closed)" = 1 ]
	wait_until 5 grep -qF "backend $(peer) gone: backend sent nothing for 1000 ms after a ping (alive timeout)" "$RELAY_LOG"
	# Before registering: 5 bytes of a header, then silence.
	run python3 "$PY" send-close 127.0.0.1 "$RELAY_PORT" --hex 0001000100 --timeout 5
	[ "$status" -eq 0 ]
	wait_until 5 grep -q "dropped before registering: registration timed out" "$RELAY_LOG"
	honest_finish
}

@test "maximal lengths: Data of 2^32-1 bytes ends the session; a hello over 512 bytes is refused" {
	backend_attack maxlen "data beyond window"
	local long
	long=$(printf 'x%.0s' $(seq 600))
	attack register --hello-text "relay-hello 1 pad=$long\\n" --timeout 5
	[[ "$output" == *"refused error: registration hello too long"* ]]
	[ "$(res closed)" = 1 ]
}

@test "a window update that overflows 2^32-1: GoAway(1), the attacker's client closed" {
	backend_attack winoverflow "window overflow"
	# the session failed: its clients are reset, never closed cleanly
	[ "$(res client_end)" = reset ]
}

@test "duplicate SYN: after registering and while registering" {
	backend_attack dupsyn "duplicate SYN"
	attack dupsyn --before --timeout 5
	[ "$(res goaway)" = 1 ]
	[ "$(res closed)" = 1 ]
	wait_until 5 grep -qF "backend $(peer) dropped before registering: session error: duplicate SYN" "$RELAY_LOG"
}

@test "a SYN with the relay's (even) stream id parity: GoAway(1)" {
	backend_attack parity "SYN with wrong stream id parity"
}

@test "a second FIN on a stream: GoAway(1), the attacker's client closed" {
	backend_attack secondfin "second FIN"
	# the first FIN was good: the client had its clean end before the
	# session failed on the second
	[ "$(res client_end)" = eof ]
}

@test "frames for unknown streams are skipped: the session lives on and answers a ping" {
	honest_start
	attack unknown --timeout 5
	[ "$status" -eq 0 ]
	[ "$(res alive)" = 1 ]
	[ "$(res goaway)" = none ]
	[ "$(res closed)" = 0 ]
	# It ends only when we hang up, and for that reason.
	wait_until 5 grep -qF "backend $(peer) gone: backend closed the connection" "$RELAY_LOG"
	honest_finish
}

@test "a ping flood (100,000 pings) is answered in full; the session and tunnel A live" {
	honest_start
	attack pingflood --count 100000 --timeout 20
	[ "$status" -eq 0 ]
	[ "$(res pongs)" -ge 100000 ]
	[ "$(res alive)" = 1 ]
	[ "$(res closed)" = 0 ]
	honest_finish
}

@test "10,000 streams opened by a backend: a stream flood ends that session only" {
	honest_start
	attack streams --count 10000 --timeout 10
	[ "$status" -eq 0 ]
	[ "$(res goaway)" = 1 ]
	[ "$(res closed)" = 1 ]
	wait_until 5 grep -qF "backend $(peer) gone: stream flood: more than 1000 stream opens and resets in a second; closing 0 clients" "$RELAY_LOG"
	honest_finish
}

@test "10,000 streams under a high --stream-rate: every one reset, the session lives" {
	honest_start --stream-rate 100000
	attack streams --count 10000 --timeout 10
	[ "$status" -eq 0 ]
	[ "$(res rst)" -eq 10000 ]
	[ "$(res alive)" = 1 ]
	[ "$(res goaway)" = none ]
	run grep -c 'stream flood' "$RELAY_LOG"
	[ "$output" -eq 0 ]
	honest_finish
}

# ---- floods of the control port and of a tunnel port ----

@test "slow-loris registrations: each dropped at --register-timeout, real backends register meanwhile" {
	# All 40 from one address: lift the per-address cap and the random
	# early drop (--max-pending alone) to see every one time out.
	honest_start --register-timeout 1500 --max-pending-per-addr 64 \
	    --max-pending 64
	timeout 30 python3 "$ATTACK" slowloris 127.0.0.1 "$RELAY_PORT" \
	    --count 40 --interval 0.1 --timeout 6 \
	    >"$BATS_TEST_TMPDIR/loris.out" 2>&1 3>&- &
	local loris=$!
	track "$loris"
	wait_until 5 pool_between 42 100
	# A real backend registers while 40 connections trickle their hellos.
	ECHO_NAME=during start_echoserver --no-reconnect
	run echo_check --bytes 10000
	[ "$status" -eq 0 ]
	wait_until 15 dead "$loris"
	output=$(cat "$BATS_TEST_TMPDIR/loris.out")
	echo "$output"
	[ "$(res closed)" = 40 ]
	python3 -c 'import sys; f, l = map(float, sys.argv[1:]); sys.exit(not (1.4 <= f and l < 4))' \
	    "$(res first)" "$(res last)"
	run grep -c 'did not register within 1500 ms' "$RELAY_LOG"
	[ "$output" -eq 40 ]
	honest_finish
}

@test "5,000 connections to the control port in a burst: all closed, the cap logged, service goes on" {
	# One address: lift the per-address cap to reach the global one.
	honest_start --register-timeout 1000 --max-pending-per-addr 64 \
	    --max-pending 64
	attack burst --count 5000 --timeout 15
	[ "$status" -eq 0 ]
	[ "$(res connected)" -eq 5000 ]
	[ "$(res closed)" -eq 5000 ]
	grep -qE 'master warning: backend 127\.0\.0\.1:[0-9]+ refused: 64 connections are still registering' "$RELAY_LOG"
	# Rate-limited: one line a second at most, not one per connection.
	[ "$(grep -c 'connections are still registering' "$RELAY_LOG")" -le 20 ]
	honest_finish
}

@test "a client flood on a tunnel port beyond --max-clients: refused and logged, tunnel A intact" {
	honest_start --max-clients 20
	run timeout 30 python3 "$ATTACK" clientflood 127.0.0.1 "$HONEST_PORT" \
	    --count 300 --hold 1 --timeout 10
	echo "$output"
	[ "$status" -eq 0 ]
	# A's transfer is one client: 19 places were left for the flood.
	[ "$(res open)" -eq 19 ]
	[ "$(res closed)" -eq 281 ]
	[ "$(grep -c 'refused: 20 clients is the limit' "$RELAY_LOG")" -eq 281 ]
	honest_finish
}

# ---- authentication ----

@test "auth: a plain hello to a relay with a secret gets 'error: this relay takes only encrypted sessions', one log line" {
	local sf
	make_secret secret
	sf=$SF
	BACKEND_OPTS=(--secret-file "$sf")
	honest_start --secret-file "$sf"
	attack register --name thief --timeout 5
	[[ "$output" == "refused error: this relay takes only encrypted sessions local "* ]]
	[ "$(res closed)" = 1 ]
	local addr
	addr=$(peer)
	[ "$(grep -c "backend $addr: this relay takes only encrypted sessions\$" "$RELAY_LOG")" -eq 1 ]
	[ "$(grep -c "$addr" "$RELAY_LOG")" -eq 1 ]
	# Our own echoserver without the secret: refused, exit 69.
	run "$BIN/echoserver" --no-reconnect 127.0.0.1 "$RELAY_PORT"
	[ "$status" -eq 69 ]
	[[ "$output" == *"this relay takes only encrypted sessions"* ]]
	[ "$(grep -c ': this relay takes only encrypted sessions$' "$RELAY_LOG")" -eq 2 ]
	honest_finish
}

@test "auth: a wrong secret fails the handshake: exit 69, one log line" {
	local sf wrong
	make_secret wrong
	wrong=$SF
	make_secret secret
	sf=$SF
	BACKEND_OPTS=(--secret-file "$sf")
	honest_start --secret-file "$sf"
	run "$BIN/echoserver" --no-reconnect --secret-file "$wrong" 127.0.0.1 "$RELAY_PORT"
	[ "$status" -eq 69 ]
	[[ "$output" == *"a wrong secret"* ]]
	[ "$(grep -c 'handshake failed: message 1 did not authenticate (a wrong secret?)' "$RELAY_LOG")" -eq 1 ]
	honest_finish
}

@test "auth: a plain hashicorp backend (no hello) is refused when a secret is set" {
	local sf
	make_secret secret
	sf=$SF
	BACKEND_OPTS=(--secret-file "$sf")
	honest_start --secret-file "$sf"
	attack register --plain --timeout 5
	[[ "$output" == "refused error: this relay takes only encrypted sessions local "* ]]
	[ "$(res closed)" = 1 ]
	grep -qF "backend $(peer): this relay takes only encrypted sessions" "$RELAY_LOG"
	if [ -x "$BIN/interop/yamux_backend" ]; then
		run timeout 10 "$BIN/interop/yamux_backend" 127.0.0.1 "$RELAY_PORT"
		echo "$output"
		[ "$status" -ne 0 ]
		[[ "$output" == *"this relay takes only encrypted sessions"* ]]
		[ "$(grep -c 'this relay takes only encrypted sessions' "$RELAY_LOG")" -eq 2 ]
	fi
	honest_finish
}

@test "auth: the secret appears in no log and no command line (relay -vv, echoserver -v)" {
	local sf good bad
	make_secret wrong
	bad=$SECRET
	make_secret secret
	sf=$SF
	good=$SECRET
	start_relay --prefork 2 -vv --secret-file "$sf"
	start_backend good "$BIN/echoserver" -v --no-reconnect --secret-file "$sf" 127.0.0.1 "$RELAY_PORT"
	run echo_check --bytes 10000
	[ "$status" -eq 0 ]
	run "$BIN/echoserver" -v --no-reconnect --secret-file "$BATS_TEST_TMPDIR/wrong" 127.0.0.1 "$RELAY_PORT"
	[ "$status" -eq 69 ]
	echo "$output" >"$BATS_TEST_TMPDIR/bad.log"
	grep -q 'handshake failed' "$RELAY_LOG"
	run ps -eo args
	[ "$status" -eq 0 ]
	grep -qF -- "--secret-file $sf" <<<"$output"
	[[ "$output" != *"$good"* ]]
	[ -n "$good" ] && [ -n "$bad" ]
	run grep -lF -e "$good" -e "$bad" "$BATS_TEST_TMPDIR"/*.log "$BATS_TEST_TMPDIR"/*.err "$BATS_TEST_TMPDIR"/*.out
	[ "$status" -eq 1 ]
	# Nor any MAC: no run of 64 hex digits in the logs.
	run grep -lE '[0-9a-f]{64}' "$BATS_TEST_TMPDIR"/*.log "$BATS_TEST_TMPDIR"/*.err
	[ "$status" -eq 1 ]
}

@test "a non-loopback listen address in plain mode draws a warning; none with a secret" {
	start_relay --prefork 1 -l 0.0.0.0
	grep -qE "warning: listening on 0\.0\.0\.0:$RELAY_PORT in plain mode \(without --key or --secret-file\)" "$RELAY_LOG"
	stop_all
	make_secret secret
	start_relay --prefork 1 -l 0.0.0.0 --secret-file "$SF"
	run grep -c 'in plain mode' "$RELAY_LOG"
	[ "$output" -eq 0 ]
	stop_all
	start_relay --prefork 1
	run grep -c 'in plain mode' "$RELAY_LOG"
	[ "$output" -eq 0 ]
}

@test "a secret file readable by others is refused (exit 64) by the relay and the backends" {
	local sf
	make_secret secret
	sf=$SF
	chmod 644 "$sf"
	run "$BIN/relay" --secret-file "$sf" 0
	echo "$output"
	[ "$status" -eq 64 ]
	[[ "$output" == *"$sf"* ]]
	[[ "$output" == *"chmod 600"* ]]
	[[ "$output" != *"$SECRET"* ]]
	run "$BIN/echoserver" --secret-file "$sf" 127.0.0.1 1
	[ "$status" -eq 64 ]
	[[ "$output" == *"$sf"* ]]
	run "$BIN/relayexpose" --secret-file "$sf" 127.0.0.1 1 127.0.0.1:1
	[ "$status" -eq 64 ]
	[[ "$output" != *"$SECRET"* ]]
}

# ---- limits ----

@test "--max-pending 4 and 50 silent connections: refused beyond 4, a real backend registers after the timeout" {
	honest_start --max-pending 4 --register-timeout 1000
	timeout 30 python3 "$ATTACK" burst 127.0.0.1 "$RELAY_PORT" --count 50 \
	    --timeout 8 >"$BATS_TEST_TMPDIR/silent.out" 2>&1 3>&- &
	local silent=$!
	track "$silent"
	wait_until 5 file_has 'refused: 4 connections are still registering' "$RELAY_LOG"
	# Four hold a place until they time out (in the master: they never
	# sent a byte); then the relay takes real backends again (the silent
	# ones that remain keep being refused).
	wait_until 5 file_has 'nothing received within 1000 ms' "$RELAY_LOG"
	ECHO_NAME=real start_echoserver --no-reconnect
	run echo_check --bytes 10000
	[ "$status" -eq 0 ]
	wait_until 15 dead "$silent"
	output=$(cat "$BATS_TEST_TMPDIR/silent.out")
	echo "$output"
	[ "$(res closed)" -eq 50 ]
	[ "$(grep -c 'nothing received within 1000 ms' "$RELAY_LOG")" -eq 4 ]
	honest_finish
}

@test "--max-backends 2: a third backend gets 'error: relay is full', exit 69" {
	honest_start --max-backends 2
	ECHO_NAME=second start_echoserver --no-reconnect
	local second=$BACKEND_PID second_port=$TUNNEL_PORT
	run "$BIN/echoserver" --no-reconnect 127.0.0.1 "$RELAY_PORT"
	[ "$status" -eq 69 ]
	[[ "$output" == *"relay is full"* ]]
	attack register --timeout 5
	[[ "$output" == "refused error: relay is full"* ]]
	[ "$(res closed)" = 1 ]
	kill "$second"	# room for honest_finish's new backend
	wait_until 5 file_has "on tunnel port $second_port ended" "$RELAY_LOG"
	honest_finish
}

@test "--max-streams 5: a sixth client is refused; --max-unacked 4: backend-opened streams reset, no flood" {
	honest_start --max-streams 5 --max-unacked 4
	# The honest transfer first, so that the count below is exact.
	wait_until 30 file_has '^ok ' "$BATS_TEST_TMPDIR/paced.out"
	local i held=()
	for i in 1 2 3 4 5; do
		hold_client "h$i" "$HONEST_PORT" 1000
		held+=("$BG_PID")
		wait_until 5 test -s "$BATS_TEST_TMPDIR/h$i.ready"
	done
	# Five held clients: five streams; the sixth is refused.
	run python3 "$PY" expect-close 127.0.0.1 "$HONEST_PORT" --timeout 5
	[ "$status" -eq 0 ]
	grep -q 'refused: cannot open a stream: too many streams' "$RELAY_LOG"
	# A backend opening 50 streams at once (fewer than --stream-rate):
	# each reset at once, so never more than 4 unaccepted; its session
	# lives on.
	attack streams --count 50 --timeout 5
	[ "$status" -eq 0 ]
	[ "$(res rst)" -eq 50 ]
	[ "$(res alive)" = 1 ]
	[ "$(grep -c 'stream flood' "$RELAY_LOG")" -eq 0 ]
	kill "${held[@]}"
	wait_until 5 count_is 5 "on tunnel port $HONEST_PORT closed: 1000 bytes in, 1000 bytes out" "$RELAY_LOG"
	honest_finish
}

@test "--stream-rate 100: 1000 fast stream opens end that session with the flood line, A unharmed" {
	honest_start --stream-rate 100
	attack streams --count 1000 --timeout 5
	[ "$status" -eq 0 ]
	[ "$(res goaway)" = 1 ]
	[ "$(res closed)" = 1 ]
	wait_until 5 grep -qF "backend $(peer) gone: stream flood: more than 100 stream opens and resets in a second" "$RELAY_LOG"
	honest_finish
}

@test "--session-buffer 4 MB: a backend that floods clients who never read cannot grow the worker past it" {
	honest_start --window 8388608 --session-buffer 4000000
	timeout 30 python3 "$ATTACK" unread 127.0.0.1 "$RELAY_PORT" --count 8 \
	    --bytes 100000 --window 8388608 --hold 4 --timeout 10 \
	    --ready "$BATS_TEST_TMPDIR/unread.ready" \
	    >"$BATS_TEST_TMPDIR/unread.out" 2>&1 3>&- &
	local att=$!
	track "$att"
	wait_until 10 test -s "$BATS_TEST_TMPDIR/unread.ready"
	local port worker
	port=$(cut -d: -f2 "$BATS_TEST_TMPDIR/unread.ready")
	worker=$(worker_of_port "$port")
	# 8 streams x 8 MB: the kernel takes some, the worker would buffer
	# the rest but for the limit.  Its peak RSS, while the session lasts:
	local hwm=0 h
	while alive "$att" && [ -e "/proc/$worker/status" ]; do
		# The worker may exit between the test and the read.
		h=$(awk '/^VmHWM:/ { print $2 }' "/proc/$worker/status" \
		    2>/dev/null || true)
		[ -z "$h" ] || hwm=$h
		sleep 0.1
	done
	wait_until 15 dead "$att"
	output=$(cat "$BATS_TEST_TMPDIR/unread.out")
	echo "$output"
	echo "worker peak RSS ${hwm} kB"
	[ "$(res sent)" -eq $((8 * 8388608)) ]
	[ "$(res goaway)" = none ]	# the session itself lives
	[ "$(res rst)" -ge 1 ]
	grep -q 'session buffer full' "$RELAY_LOG"
	[ "$hwm" -gt 0 ] && [ "$hwm" -lt 16000 ]
	honest_finish
}

@test "EMFILE: the relay backs off without spinning, existing tunnels unharmed, service resumes" {
	# 128: see the next test for 64.
	RELAY_LOG="$BATS_TEST_TMPDIR/relay.log"
	: >"$RELAY_LOG"
	prlimit --nofile=128:128 "$BIN/relay" --prefork 2 --max-pending 1000 \
	    --register-timeout 3000 0 >>"$RELAY_LOG" 2>&1 3>&- &
	RELAY_PID=$!
	track "$RELAY_PID"
	wait_until 10 grep -q 'listening on' "$RELAY_LOG"
	RELAY_PORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$RELAY_LOG" | head -n 1)
	ECHO_NAME=honest start_echoserver --no-reconnect
	HONEST_PORT=$TUNNEL_PORT
	HONEST_BACKEND=$BACKEND_PID
	python3 "$PACED" 127.0.0.1 "$HONEST_PORT" "$HONEST_BYTES" \
	    "$HONEST_RATE" "$BATS_TEST_TMPDIR/paced.ready" \
	    >"$BATS_TEST_TMPDIR/paced.out" 2>"$BATS_TEST_TMPDIR/paced.err" 3>&- &
	PACED_PID=$!
	track "$PACED_PID"
	wait_until 10 test -e "$BATS_TEST_TMPDIR/paced.ready"
	local worker
	worker=$(worker_of_port "$HONEST_PORT")

	# 200 clients on tunnel A: its worker runs out of descriptors.
	timeout 30 python3 "$ATTACK" clientflood 127.0.0.1 "$HONEST_PORT" \
	    --count 200 --hold 3 --timeout 5 >"$BATS_TEST_TMPDIR/flood.out" 2>&1 3>&- &
	local flood=$!
	track "$flood"
	wait_until 5 file_has "accept on tunnel port $HONEST_PORT; pausing 100 ms: Too many open files" "$RELAY_LOG"
	local w0 m0 w1 m1 hz
	hz=$(getconf CLK_TCK)
	w0=$(cpu_ticks "$worker"); m0=$(cpu_ticks "$RELAY_PID")
	sleep 2
	w1=$(cpu_ticks "$worker"); m1=$(cpu_ticks "$RELAY_PID")
	echo "worker $((w1 - w0)) ticks, master $((m1 - m0)) ticks in 2 s (hz $hz)"
	# Less than 20% of the 2 s (the paced transfer itself costs some).
	[ $((w1 - w0)) -lt $((hz * 2 / 5)) ]
	[ $((m1 - m0)) -lt $((hz * 2 / 5)) ]
	wait_until 15 dead "$flood"
	# Once they are gone, tunnel A takes clients again.
	TUNNEL_PORT=$HONEST_PORT run echo_check --bytes 100000
	[ "$status" -eq 0 ]

	# 300 connections to the control port: the master runs out.
	timeout 30 python3 "$ATTACK" burst 127.0.0.1 "$RELAY_PORT" --count 300 \
	    --timeout 6 >"$BATS_TEST_TMPDIR/burst.out" 2>&1 3>&- &
	local burst=$!
	track "$burst"
	wait_until 5 file_has 'Too many open files' "$RELAY_LOG"
	m0=$(cpu_ticks "$RELAY_PID")
	sleep 2
	m1=$(cpu_ticks "$RELAY_PID")
	echo "master $((m1 - m0)) ticks in 2 s with the control port flooded"
	[ $((m1 - m0)) -lt $((hz * 2 / 5)) ]
	wait_until 15 dead "$burst"
	cat "$BATS_TEST_TMPDIR/burst.out"
	honest_finish
}

@test "EMFILE: workers start and serve under a descriptor limit of 64" {
	RELAY_LOG="$BATS_TEST_TMPDIR/relay.log"
	: >"$RELAY_LOG"
	prlimit --nofile=64:64 "$BIN/relay" --prefork 2 0 >>"$RELAY_LOG" 2>&1 3>&- &
	RELAY_PID=$!
	track "$RELAY_PID"
	wait_until 10 grep -q 'listening on' "$RELAY_LOG"
	RELAY_PORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$RELAY_LOG" | head -n 1)
	start_echoserver --no-reconnect
	run python3 "$ATTACK" clientflood 127.0.0.1 "$TUNNEL_PORT" --count 100 \
	    --hold 2 --timeout 4
	grep -q "accept on tunnel port $TUNNEL_PORT; pausing 100 ms" "$RELAY_LOG"
	run echo_check --bytes 100000
	[ "$status" -eq 0 ]
	run grep -c 'exited with status 70' "$RELAY_LOG"
	[ "$output" -eq 0 ]
}

@test "--user nobody: workers run as nobody, echo works, a worker holds no files but the log" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	honest_start --user nobody
	local worker pid fd target bad=
	worker=$(worker_of_port "$HONEST_PORT")
	for pid in $(relay_children); do
		[ "$(ps -o user= -p "$pid")" = nobody ]
	done
	[ "$(ps -o user= -p "$worker")" = nobody ]
	# Every descriptor of the busy worker: sockets, epoll and the like,
	# the standard streams (the log, here a file of the test).
	for fd in /proc/"$worker"/fd/*; do
		target=$(readlink "$fd") || continue
		case "$target" in
		socket:*|anon_inode:*|pipe:*|/dev/null) ;;
		"$RELAY_LOG") ;;
		*) bad="$bad ${fd##*/}=$target" ;;
		esac
	done
	echo "unexpected descriptors:$bad"
	[ -z "$bad" ]
	honest_finish
	for pid in $(relay_children); do
		[ "$(ps -o user= -p "$pid")" = nobody ]
	done
}
