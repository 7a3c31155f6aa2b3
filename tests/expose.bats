#!/usr/bin/env bats
# relayexpose: real TCP services (python's http.server, curl) through the
# relay, reconnects, and tunnel ports that survive them.

load lib/common

setup() {
	start_relay --prefork 2 --linger 30
}

teardown() {
	common_teardown
}

# start_service NAME PORTVAR CMD...: a local service that prints
# "listening on" (tcpserver.py) or logs to stderr (http.server).
start_tcpserver() {
	local mode=$1 port
	port=$(free_port)
	python3 "$ROOT/tests/lib/tcpserver.py" "$port" "$mode" \
	    >"$BATS_TEST_TMPDIR/srv.log" 2>&1 3>&- &
	SRV_PID=$!
	track "$SRV_PID"
	SRV_PORT=$port
	wait_until 10 grep -q "listening on" "$BATS_TEST_TMPDIR/srv.log"
}

start_http() {
	mkdir -p "$BATS_TEST_TMPDIR/www"
	head -c 50000000 /dev/urandom >"$BATS_TEST_TMPDIR/www/big.bin"
	SRV_PORT=$(free_port)
	(cd "$BATS_TEST_TMPDIR/www" && exec python3 -m http.server "$SRV_PORT" \
	    --bind 127.0.0.1 >"$BATS_TEST_TMPDIR/http.log" 2>&1 3>&-) &
	SRV_PID=$!
	track "$SRV_PID"
	wait_until 10 port_is_open "$SRV_PORT"
}

start_expose() {
	start_backend "${EXPOSE_NAME:-expose}" "$BIN/relayexpose" "$@" \
	    127.0.0.1 "$RELAY_PORT" "127.0.0.1:$SRV_PORT"
}

@test "curl downloads a 50 MB file through the tunnel, checksum equal; 20 in parallel" {
	start_http
	start_expose --name web
	local want got i
	want=$(sha256sum <"$BATS_TEST_TMPDIR/www/big.bin" | cut -d' ' -f1)
	got=$(curl -sf -m 60 "http://127.0.0.1:$TUNNEL_PORT/big.bin" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ]
	local pids=()
	for i in $(seq 20); do
		curl -sf -m 60 "http://127.0.0.1:$TUNNEL_PORT/big.bin" -o "$BATS_TEST_TMPDIR/dl.$i" 3>&- &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	for i in $(seq 20); do
		got=$(sha256sum <"$BATS_TEST_TMPDIR/dl.$i" | cut -d' ' -f1)
		[ "$got" = "$want" ]
	done
}

@test "a server that closes first" {
	start_tcpserver greet-close
	start_expose
	run python3 - "$TUNNEL_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
data = b""
while True:
    b = s.recv(100)
    if not b:
        break
    data += b
assert data == b"hello\n", data
print("ok")
PY
	[ "$status" -eq 0 ]
	wait_until 5 grep -q "backend closed first" "$RELAY_LOG"
}

@test "a client that closes first, and a client that half-closes" {
	start_tcpserver read-reply
	start_expose
	# half-close: the reply comes after our EOF
	run python3 - "$TUNNEL_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"x" * 100000)
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    b = s.recv(100)
    if not b:
        break
    data += b
assert data == b"got 100000 bytes\n", data
print("ok")
PY
	[ "$status" -eq 0 ]
	# the client closes first, entirely
	start_tcpserver echo
	EXPOSE_NAME=e2 start_expose
	run python3 - "$TUNNEL_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"ping")
assert s.recv(4) == b"ping"
s.close()
print("ok")
PY
	[ "$status" -eq 0 ]
	wait_until 5 grep -q "client closed first" "$RELAY_LOG"
}

@test "target down: the client is closed promptly; the tunnel works once it is back" {
	SRV_PORT=$(free_port)
	start_expose
	run python3 "$PY" expect-close 127.0.0.1 "$TUNNEL_PORT" --timeout 5
	[ "$status" -eq 0 ]
	grep -q "Connection refused" "$BATS_TEST_TMPDIR/expose.err"
	alive "$BACKEND_PID"
	python3 "$ROOT/tests/lib/tcpserver.py" "$SRV_PORT" echo \
	    >"$BATS_TEST_TMPDIR/srv.log" 2>&1 3>&- &
	track $!
	wait_until 10 grep -q "listening on" "$BATS_TEST_TMPDIR/srv.log"
	run echo_check --bytes 100000
	[ "$status" -eq 0 ]
}

@test "relay restarted while relayexpose runs: it reconnects by itself" {
	stop_all
	local cport
	cport=$(free_port_block 20)
	start_relay_port "$cport" --ports "$((cport + 1))-$((cport + 20))"
	start_tcpserver echo
	start_expose --name again
	run echo_check --bytes 10000
	[ "$status" -eq 0 ]
	kill "$RELAY_PID"
	wait_until 10 dead "$RELAY_PID"
	start_relay_port "$cport" --ports "$((cport + 1))-$((cport + 20))"
	# the new tunnel address is printed again
	wait_until 20 lines_at_least "$BATS_TEST_TMPDIR/expose.out" 2
	local addr
	addr=$(sed -n 2p "$BATS_TEST_TMPDIR/expose.out")
	TUNNEL_PORT=${addr##*:}
	run echo_check --bytes 10000
	[ "$status" -eq 0 ]
}

@test "backend cut: same name within the linger time keeps the port and serves the waiting client" {
	start_tcpserver echo
	start_expose --name keep
	local port=$TUNNEL_PORT pid=$BACKEND_PID
	kill "$pid"
	wait_until 10 grep -q "tunnel port $port of backend 'keep' kept" "$RELAY_LOG"
	# a client arrives during the gap: it waits in the listen queue
	python3 "$PY" echo 127.0.0.1 "$port" --bytes 5000 \
	    >"$BATS_TEST_TMPDIR/gap.out" 2>&1 3>&- &
	local cpid=$!
	track "$cpid"
	EXPOSE_NAME=expose2 start_expose --name keep
	[ "$TUNNEL_PORT" = "$port" ]
	wait_until 20 dead "$cpid"
	grep -q "^ok 5000 " "$BATS_TEST_TMPDIR/gap.out"
}

@test "after the linger time without its backend the port is free" {
	stop_all
	start_relay --linger 1
	start_tcpserver echo
	start_expose --name brief
	local port=$TUNNEL_PORT
	kill "$BACKEND_PID"
	wait_until 10 grep -q "tunnel port $port of backend 'brief' freed" "$RELAY_LOG"
	port_is_free "$port"
}

@test "--port taken or outside the range: clear error, exit 69" {
	stop_all
	local base
	base=$(free_port_block 3)
	start_relay --ports "$base-$((base + 3))"
	start_tcpserver echo
	start_expose --port "$((base + 2))"
	[ "$TUNNEL_PORT" = "$((base + 2))" ]
	run "$BIN/relayexpose" --no-reconnect --port "$((base + 2))" 127.0.0.1 "$RELAY_PORT" "127.0.0.1:$SRV_PORT"
	[ "$status" -eq 69 ]
	[[ "$output" == *"error"*"port $((base + 2)) is taken"* ]] || [[ "$output" == *"port $((base + 2)) is taken"* ]]
	run "$BIN/relayexpose" --no-reconnect --port "$((base + 10))" 127.0.0.1 "$RELAY_PORT" "127.0.0.1:$SRV_PORT"
	[ "$status" -eq 69 ]
	[[ "$output" == *"outside the tunnel range"* ]]
	run "$BIN/echoserver" --port "$((base + 2))" 127.0.0.1 "$RELAY_PORT"
	[ "$status" -eq 69 ]
}

@test "relayexpose: bad invocations exit 64 with a usage line" {
	run "$BIN/relayexpose" 127.0.0.1 1
	[ "$status" -eq 64 ]
	[[ "$output" == *"usage: relayexpose"* ]]
	run "$BIN/relayexpose" 127.0.0.1 1 nohostport
	[ "$status" -eq 64 ]
	run "$BIN/relayexpose" --name 'bad name' 127.0.0.1 1 127.0.0.1:2
	[ "$status" -eq 64 ]
}
