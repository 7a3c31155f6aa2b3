#!/usr/bin/env bats
# The relay and echoserver: the original's features on loopback.

load lib/common

setup() {
	start_relay --prefork 2
}

teardown() {
	common_teardown
}

@test "relay logs the control port it bound and the echo works" {
	start_echoserver
	[ "$TUNNEL_HOST" = 127.0.0.1 ]
	run echo_check --bytes 12
	[ "$status" -eq 0 ]
	grep -q "registered, tunnel 127.0.0.1:$TUNNEL_PORT" "$RELAY_LOG"
}

@test "binary data with all 256 byte values passes unchanged" {
	start_echoserver
	run echo_check --bytes 65536 --chunk 1
	[ "$status" -eq 0 ]
	run echo_check --bytes 1000000 --chunk 4097 --seed 7
	[ "$status" -eq 0 ]
}

@test "a 100 MB transfer arrives with the same checksum" {
	start_echoserver
	run echo_check --bytes 100000000 --chunk 262144 --timeout 60
	[ "$status" -eq 0 ]
	[[ "$output" == "ok 100000000 "* ]]
}

@test "half-close: a client that shuts down its write side still gets the echo" {
	start_echoserver
	run echo_check --bytes 3000000 --halfclose
	[ "$status" -eq 0 ]
	run echo_check --bytes 0 --halfclose
	[ "$status" -eq 0 ]
}

@test "50 concurrent clients on one tunnel" {
	start_echoserver
	run python3 "$PY" parallel 127.0.0.1 "$TUNNEL_PORT" --clients 50 --bytes 200000
	[ "$status" -eq 0 ]
}

@test "5 backends: own tunnel ports, one worker each, idle pool at its size" {
	local i ports=() pids=()
	for i in 1 2 3 4 5; do
		ECHO_NAME=echo$i start_echoserver
		ports+=("$TUNNEL_PORT")
	done
	# five distinct ports
	[ "$(printf '%s\n' "${ports[@]}" | sort -u | wc -l)" -eq 5 ]
	for p in "${ports[@]}"; do
		TUNNEL_PORT=$p run echo_check --bytes 10000
		[ "$status" -eq 0 ]
		pid=$(worker_of_port "$p")
		[ -n "$pid" ]
		# the worker is a child of the master
		[ "$(ps -o ppid= -p "$pid" | tr -d ' ')" = "$RELAY_PID" ]
		pids+=("$pid")
	done
	[ "$(printf '%s\n' "${pids[@]}" | sort -u | wc -l)" -eq 5 ]
	# 5 busy workers plus the idle pool of 2
	wait_until 5 pool_is 7
}

@test "registration refused when the tunnel port range is exhausted" {
	stop_all
	local base
	base=$(free_port)
	start_relay --ports "$((base))-$((base))"
	start_echoserver
	run echo_check --bytes 100
	[ "$status" -eq 0 ]
	run "$BIN/echoserver" 127.0.0.1 "$RELAY_PORT"
	[ "$status" -eq 69 ]
	[[ "$output" == *"no free tunnel port"* ]]
	# the master keeps serving: the first tunnel still works
	run echo_check --bytes 100
	[ "$status" -eq 0 ]
	alive "$RELAY_PID"
}

@test "a plain yamux client (no hello) gets the tunnel address" {
	run python3 - "$RELAY_PORT" <<'PY'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
# WindowUpdate + SYN on stream 1, as hashicorp's Open() sends it
s.sendall(struct.pack(">BBHII", 0, 1, 1, 1, 0))
buf = b""
addr = b""
fin = False
while not fin:
    b = s.recv(65536)
    if not b:
        break
    buf += b
    while len(buf) >= 12:
        v, t, f, sid, ln = struct.unpack(">BBHII", buf[:12])
        if t == 0:
            if len(buf) < 12 + ln:
                break
            addr += buf[12:12 + ln]
            buf = buf[12 + ln:]
        else:
            buf = buf[12:]
        if f & 4 and sid == 1:
            fin = True
print(addr.decode())
PY
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^127\.0\.0\.1:[0-9]+$ ]]
}

@test "bad invocations exit 64 with a usage line" {
	run "$BIN/relay"
	[ "$status" -eq 64 ]
	[[ "$output" == *"usage: relay"* ]]
	run "$BIN/relay" --bogus 0
	[ "$status" -eq 64 ]
	run "$BIN/relay" --ports 10-5 0
	[ "$status" -eq 64 ]
	run "$BIN/relay" notaport
	[ "$status" -eq 64 ]
	run "$BIN/echoserver" 127.0.0.1
	[ "$status" -eq 64 ]
	[[ "$output" == *"usage: echoserver"* ]]
	run "$BIN/echoserver" --port 0 127.0.0.1 1
	[ "$status" -eq 64 ]
}

@test "echoserver exits 69 when the relay is unreachable" {
	local p
	p=$(free_port)
	run "$BIN/echoserver" 127.0.0.1 "$p"
	[ "$status" -eq 69 ]
	[[ "$output" == *"cannot reach relay"* ]]
}

@test "--help and --version" {
	run "$BIN/relay" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--alive-timeout"* ]]
	run "$BIN/relay" -V
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^relay\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "no lost wake-up: 16 parallel transfers with a 1 MiB backend window all finish" {
	# Keepalive pings would unstick a stalled session after 30 s: none here,
	# so a wake-up lost anywhere shows as a client timing out.
	stop_all
	start_relay --keepalive 0
	start_echoserver --keepalive 0 --window 1048576
	local i
	for i in 1 2 3 4 5 6; do
		run "$BIN/relaybench" bulk --conns 16 --seconds 0.5 --timeout 10 \
		    127.0.0.1 "$TUNNEL_PORT"
		echo "$output"
		[ "$status" -eq 0 ]
	done
}
