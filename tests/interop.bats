#!/usr/bin/env bats
# Wire compatibility with hashicorp/yamux, both ways: the Go backend
# (yamux client) through our relay, and our echoserver through the Go relay.
# The Go programs live in ../shared/interop (read-only); we build them into
# bin/interop.

load lib/common

INTEROP="${INTEROP:-$BIN/interop}"

setup_file() {
	# bats 1.8.2 cannot skip from setup_file: leave a reason for setup().
	export INTEROP_SKIP=
	if [ -x "$INTEROP/yamux_backend" ] && [ -x "$INTEROP/yamux_relay" ]; then
		return 0
	fi
	if ! command -v go >/dev/null 2>&1; then
		INTEROP_SKIP="Go interop programs not built and 'go' is missing (apt-get install golang-go golang-github-hashicorp-yamux-dev)"
		return 0
	fi
	make -C "$ROOT/../shared/interop" OUT="$INTEROP" >&2
}

setup() {
	[ -z "$INTEROP_SKIP" ] || skip "$INTEROP_SKIP"
}

teardown() {
	common_teardown
}

# start_go_relay: the Go relay on a free control port P (its tunnel ports are
# P+1..P+20); sets RELAY_PID, RELAY_LOG, RELAY_PORT.
start_go_relay() {
	local try base
	RELAY_LOG="$BATS_TEST_TMPDIR/go_relay.log"
	for try in 1 2 3; do
		base=$(free_port_block 20)
		: >"$RELAY_LOG"
		"$INTEROP/yamux_relay" "$base" >>"$RELAY_LOG" 2>&1 3>&- &
		RELAY_PID=$!
		track "$RELAY_PID"
		# It either logs its control port or dies (port taken meanwhile).
		wait_until 10 eval 'file_has "control port 127\.0\.0\.1:$base\$" "$RELAY_LOG" || dead "$RELAY_PID"'
		if file_has "control port 127\.0\.0\.1:$base\$" "$RELAY_LOG"; then
			RELAY_PORT=$base
			return 0
		fi
	done
	cat "$RELAY_LOG" >&2
	return 1
}

# start_echod: a plain TCP echo server; sets ECHOD_PORT.
start_echod() {
	local out="$BATS_TEST_TMPDIR/echod.out"
	python3 "$ROOT/tests/lib/echod.py" >"$out" 2>"$BATS_TEST_TMPDIR/echod.err" 3>&- &
	track $!
	wait_until 10 test -s "$out"
	ECHOD_PORT=$(head -n 1 "$out")
	[ -n "$ECHOD_PORT" ]
}

# ---- the Go backend through our relay ----

@test "Go backend registers with our relay (plain yamux, no hello) and echoes" {
	start_relay --prefork 2
	start_backend gobackend "$INTEROP/yamux_backend" 127.0.0.1 "$RELAY_PORT"
	[ "$TUNNEL_HOST" = 127.0.0.1 ]
	grep -q "registered, tunnel 127.0.0.1:$TUNNEL_PORT" "$RELAY_LOG"
	run echo_check --bytes 12
	[ "$status" -eq 0 ]
	run echo_check --bytes 1000000 --chunk 4097 --seed 3
	[ "$status" -eq 0 ]
	# the Go side closes its stream after our FIN: half-close both ways
	run echo_check --bytes 300000 --halfclose
	[ "$status" -eq 0 ]
	alive "$BACKEND_PID"
}

@test "Go backend through our relay: a 100 MB transfer arrives with the same checksum" {
	start_relay --prefork 1
	start_backend gobackend "$INTEROP/yamux_backend" 127.0.0.1 "$RELAY_PORT"
	run echo_check --bytes 100000000 --chunk 262144 --timeout 60
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "ok 100000000 "* ]]
	# Go tears the session down on a window violation: it must still be up.
	run echo_check --bytes 1000
	[ "$status" -eq 0 ]
	alive "$BACKEND_PID"
	run grep -E 'gone|ended' "$RELAY_LOG"
	[ "$status" -eq 1 ]
}

@test "Go backend through our relay: 50 concurrent clients" {
	start_relay --prefork 1
	start_backend gobackend "$INTEROP/yamux_backend" 127.0.0.1 "$RELAY_PORT"
	run python3 "$PY" parallel 127.0.0.1 "$TUNNEL_PORT" --clients 50 --bytes 200000
	echo "$output"
	[ "$status" -eq 0 ]
	alive "$BACKEND_PID"
}

@test "Go backend with -forward to a local TCP service through our relay" {
	start_echod
	start_relay --prefork 1
	start_backend gobackend "$INTEROP/yamux_backend" -forward "127.0.0.1:$ECHOD_PORT" 127.0.0.1 "$RELAY_PORT"
	run echo_check --bytes 2000000
	[ "$status" -eq 0 ]
	run python3 "$PY" parallel 127.0.0.1 "$TUNNEL_PORT" --clients 20 --bytes 100000
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "the Go backend's session ending frees its tunnel port in our relay" {
	start_relay --prefork 1
	start_backend gobackend "$INTEROP/yamux_backend" 127.0.0.1 "$RELAY_PORT"
	local port=$TUNNEL_PORT
	run echo_check --bytes 1000
	[ "$status" -eq 0 ]
	kill "$BACKEND_PID"
	wait_until 5 grep -qF "on tunnel port $port ended" "$RELAY_LOG"
	wait_until 5 port_is_free "$port"
	wait_until 5 pool_is 1
}

# ---- our echoserver through the Go relay ----
# The Go relay closes the client connection as soon as the client half-closes,
# so clients here read the whole echo before closing (no --halfclose).

@test "echoserver registers with the Go relay and echoes" {
	start_go_relay
	start_echoserver --no-reconnect
	[ "$TUNNEL_HOST" = 127.0.0.1 ]
	[ "$TUNNEL_PORT" -gt "$RELAY_PORT" ] && [ "$TUNNEL_PORT" -le $((RELAY_PORT + 20)) ]
	grep -q "registered, tunnel 127.0.0.1:$TUNNEL_PORT" "$RELAY_LOG"
	run echo_check --bytes 12
	[ "$status" -eq 0 ]
	run echo_check --bytes 1000000 --chunk 4097 --seed 3
	[ "$status" -eq 0 ]
	alive "$BACKEND_PID"
}

@test "echoserver through the Go relay: a 100 MB transfer arrives with the same checksum" {
	start_go_relay
	start_echoserver --no-reconnect
	run echo_check --bytes 100000000 --chunk 262144 --timeout 60
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "ok 100000000 "* ]]
	run echo_check --bytes 1000
	[ "$status" -eq 0 ]
	alive "$BACKEND_PID"
	# hashicorp logs protocol errors (window violations, bad frames)
	run grep -iE '\[ERR\]|protocol|window' "$RELAY_LOG"
	[ "$status" -eq 1 ]
}

@test "echoserver through the Go relay: 50 concurrent clients" {
	start_go_relay
	start_echoserver --no-reconnect
	run python3 "$PY" parallel 127.0.0.1 "$TUNNEL_PORT" --clients 50 --bytes 200000
	echo "$output"
	[ "$status" -eq 0 ]
	alive "$BACKEND_PID"
}

@test "relayexpose through the Go relay forwards to a local TCP service" {
	start_echod
	start_go_relay
	start_backend expose "$BIN/relayexpose" --no-reconnect 127.0.0.1 "$RELAY_PORT" "127.0.0.1:$ECHOD_PORT"
	run echo_check --bytes 2000000
	[ "$status" -eq 0 ]
	run python3 "$PY" parallel 127.0.0.1 "$TUNNEL_PORT" --clients 20 --bytes 100000
	echo "$output"
	[ "$status" -eq 0 ]
}
