#!/usr/bin/env bats
# What users fear: garbage on the control port, a crashed worker, a frozen
# backend, a client that stops reading, a shutdown, too many clients.
# Every wait has a deadline; every process is ended by PID in teardown.

load lib/common

teardown() {
	common_teardown
}

# garbage_case LO HI REASON SEND-CLOSE-ARGS...: with a relay (--prefork 2)
# and one registered echoserver, open a connection to the control port,
# send the bytes SEND-CLOSE-ARGS describe, and check: the relay closes it
# after LO..HI seconds, logs the connection's address with REASON, the
# worker goes back to the pool without anything dying, and both the old
# tunnel and a new registration work.
garbage_case() {
	local lo=$1 hi=$2 why=$3; shift 3
	start_relay --prefork 2 --register-timeout 1000
	ECHO_NAME=old start_echoserver --no-reconnect
	local old_port=$TUNNEL_PORT
	run echo_check --bytes 10000
	[ "$status" -eq 0 ]
	wait_until 5 pool_is 3

	run python3 "$PY" send-close 127.0.0.1 "$RELAY_PORT" --timeout 5 "$@"
	echo "$output"
	[ "$status" -eq 0 ]
	local addr secs
	addr=$(field local "$output")
	secs=$(field after "$output")
	[[ "$addr" == 127.0.0.1:* ]]
	seconds_between "$lo" "$hi" "$secs"
	wait_until 5 grep -qF "backend $addr dropped before registering: $why" "$RELAY_LOG"

	# Back to the pool: no worker died, the busy one is idle again.  (The
	# exact pool size has its own test below.)
	wait_until 5 pool_between 3 4
	run grep -E 'idle worker [0-9]|killed by signal|registering\)' "$RELAY_LOG"
	[ "$status" -eq 1 ]
	alive "$RELAY_PID"

	# The tunnel registered before still echoes, and a new backend can
	# register and echo.
	TUNNEL_PORT=$old_port run echo_check --bytes 100000
	[ "$status" -eq 0 ]
	ECHO_NAME=new start_echoserver --no-reconnect
	[ "$TUNNEL_PORT" != "$old_port" ]
	run echo_check --bytes 100000
	[ "$status" -eq 0 ]
}

@test "garbage on the control port: random bytes are refused, nothing else disturbed" {
	# 0xff first: an impossible yamux version, whatever the rest is.
	garbage_case 0 2 "session error: bad version" \
	    --hex ff --random 4096 --seed 42
}

@test "garbage on the control port: an HTTP request is refused" {
	garbage_case 0 2 "session error: bad version" \
	    --text 'GET / HTTP/1.1\r\nHost: relay\r\nUser-Agent: bats\r\n\r\n'
}

@test "garbage on the control port: a truncated yamux header times out" {
	# 5 bytes of a valid WindowUpdate+SYN header for stream 1, then silence.
	garbage_case 0.9 3 "registration timed out" --hex 0001000100
}

@test "garbage on the control port: a silent connection times out" {
	garbage_case 0.9 3 "registration timed out"
}

@test "the idle pool is back to --prefork after rejected registrations" {
	start_relay --prefork 2 --register-timeout 1000
	start_echoserver --no-reconnect
	wait_until 5 pool_is 3
	local i
	for i in 1 2 3; do
		run python3 "$PY" send-close 127.0.0.1 "$RELAY_PORT" --timeout 5 \
		    --hex ff --random 100 --seed "$i"
		[ "$status" -eq 0 ]
	done
	wait_until 5 count_is 3 'dropped before registering' "$RELAY_LOG"
	# 2 idle workers + the echoserver's
	wait_until 5 pool_is 3
}

@test "a worker killed with SIGKILL: clients closed, port freed and reusable, others unharmed" {
	start_relay --prefork 2
	ECHO_NAME=a start_echoserver --no-reconnect
	local a_port=$TUNNEL_PORT a_pid=$BACKEND_PID
	ECHO_NAME=b start_echoserver --no-reconnect
	local b_port=$TUNNEL_PORT
	wait_until 5 pool_is 4
	local w
	w=$(worker_of_port "$a_port")
	[ -n "$w" ]

	# A client of a, bridged (one echo round trip) and waiting.
	bg_client held hold 127.0.0.1 "$a_port" --ready "$BATS_TEST_TMPDIR/held.ready" --timeout 10
	local held=$BG_PID
	wait_until 5 test -s "$BATS_TEST_TMPDIR/held.ready"

	kill -KILL "$w"
	# its client sees EOF or a reset
	wait_until 5 dead "$held"
	local rc=0
	wait "$held" || rc=$?
	cat "$BATS_TEST_TMPDIR/held.out" "$BATS_TEST_TMPDIR/held.err"
	[ "$rc" -eq 0 ]
	# the master says why, frees the port, refills the pool
	wait_until 5 grep -qF "on tunnel port $a_port ended: worker $w killed by signal 9" "$RELAY_LOG"
	wait_until 5 port_is_free "$a_port"
	wait_until 5 dead "$a_pid"
	wait_until 5 pool_is 3
	alive "$RELAY_PID"

	# the other tunnel is unharmed
	TUNNEL_PORT=$b_port run echo_check --bytes 1000000
	[ "$status" -eq 0 ]

	# the freed port can be registered again, by number
	ECHO_NAME=a2 start_echoserver --no-reconnect --port "$a_port"
	[ "$TUNNEL_PORT" = "$a_port" ]
	run echo_check --bytes 1000000
	[ "$status" -eq 0 ]
	wait_until 5 pool_is 4
	TUNNEL_PORT=$b_port run echo_check --bytes 1000
	[ "$status" -eq 0 ]
}

@test "a frozen backend (SIGSTOP): a new client is closed within the alive timeout, tunnel torn down" {
	start_relay --prefork 2 --alive-timeout 500 --keepalive 0
	start_echoserver --no-reconnect --keepalive 0
	local port=$TUNNEL_PORT be=$BACKEND_PID
	run echo_check --bytes 10000
	[ "$status" -eq 0 ]
	local w
	w=$(worker_of_port "$port")
	[ -n "$w" ]
	local baddr
	baddr=$(sed -n "s/.*backend \([^ ]*\) registered, tunnel 127.0.0.1:$port\$/\1/p" "$RELAY_LOG")
	[ -n "$baddr" ]

	kill -STOP "$be"
	run python3 "$PY" send-close 127.0.0.1 "$port" --text 'hello?' --timeout 3
	echo "$output"
	[ "$status" -eq 0 ]
	# not before the alive timeout, well before 3 s
	seconds_between 0.45 3 "$(field after "$output")"

	wait_until 3 grep -qF "backend $baddr gone: backend sent nothing for 500 ms after a ping (alive timeout); closing 1 client" "$RELAY_LOG"
	wait_until 3 grep -qF "backend $baddr on tunnel port $port ended: worker $w exited with status 0" "$RELAY_LOG"
	grep -qE "client 127\.0\.0\.1:[0-9]+ on tunnel port $port closed: 6 bytes in, 0 bytes out" "$RELAY_LOG"
	wait_until 3 port_is_free "$port"
	wait_until 3 dead "$w"
	wait_until 5 pool_is 2
	alive "$RELAY_PID"
}

@test "a client that stops reading: others get full service, the worker's memory stays bounded" {
	start_relay --prefork 1
	start_echoserver --no-reconnect
	local port=$TUNNEL_PORT w
	w=$(worker_of_port "$port")
	[ -n "$w" ]
	local rss0
	rss0=$(vm_rss_kb "$w")

	local prog="$BATS_TEST_TMPDIR/flood.progress"
	bg_client flood flood 127.0.0.1 "$port" --bytes 50000000 --progress "$prog" --stall 0.5 --timeout 60
	# The relay must push back: the sender stalls well before 50 MB.
	wait_until 20 file_has '^stalled' "$prog"

	# Meanwhile the other clients of the same backend are served in full.
	run echo_check --bytes 5000000 --timeout 20
	[ "$status" -eq 0 ]
	run python3 "$PY" parallel 127.0.0.1 "$port" --clients 10 --bytes 500000 --timeout 20
	[ "$status" -eq 0 ]

	local rss sent
	rss=$(vm_rss_kb "$w")
	read -r _ sent <"$prog"
	echo "# worker VmRSS ${rss0} kB idle, ${rss} kB with a stalled client" \
	    "(it sent ${sent} bytes of 50000000)" >&3
	# still stalled, not done: nothing swallowed the 50 MB
	file_has '^stalled' "$prog"
	[ "$sent" -lt 50000000 ]
	[ "$rss" -lt 16384 ]
	alive "$(cat "$BATS_TEST_TMPDIR/echo.pid")"
}

@test "SIGTERM to the master: workers exit, ports freed, exit code 0" {
	# The held client would be given the drain time to finish: keep it short.
	start_relay --prefork 2 --drain-timeout 1
	ECHO_NAME=a start_echoserver --no-reconnect
	local a_port=$TUNNEL_PORT a_pid=$BACKEND_PID
	ECHO_NAME=b start_echoserver --no-reconnect
	local b_port=$TUNNEL_PORT b_pid=$BACKEND_PID
	bg_client held hold 127.0.0.1 "$a_port" --ready "$BATS_TEST_TMPDIR/held.ready" --timeout 10
	local held=$BG_PID
	wait_until 5 test -s "$BATS_TEST_TMPDIR/held.ready"
	wait_until 5 pool_is 4
	local kids
	kids=($(relay_children))
	[ "${#kids[@]}" -eq 4 ]
	[ -e "/dev/shm/relay.$RELAY_PORT" ]

	kill -TERM "$RELAY_PID"
	wait_until 10 dead "$RELAY_PID"
	local rc=0
	wait "$RELAY_PID" || rc=$?
	[ "$rc" -eq 0 ]
	grep -q 'exiting' "$RELAY_LOG"

	# no process left behind, nothing listening, the stats segment gone
	wait_until 5 all_dead "${kids[@]}"
	[ -z "$(pgrep -P "$RELAY_PID")" ]
	port_is_free "$RELAY_PORT"
	port_is_free "$a_port"
	port_is_free "$b_port"
	[ ! -e "/dev/shm/relay.$RELAY_PORT" ]
	# the connected client was closed, the backends saw the session end
	wait_until 5 dead "$held"
	rc=0
	wait "$held" || rc=$?
	[ "$rc" -eq 0 ]
	wait_until 5 all_dead "$a_pid" "$b_pid"
}

@test "--max-clients 2: a third client is closed, the first two keep working" {
	start_relay --prefork 1 --max-clients 2
	start_echoserver --no-reconnect
	run python3 - 127.0.0.1 "$TUNNEL_PORT" <<'PY'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])

def roundtrip(s, msg):
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        b = s.recv(65536)
        if not b:
            sys.exit("closed during the echo")
        got += b
    if got != msg:
        sys.exit("echo differs")

a = socket.create_connection((host, port), timeout=5)
roundtrip(a, b"a" * 100000)
b = socket.create_connection((host, port), timeout=5)
roundtrip(b, b"b" * 100000)
c = socket.create_connection((host, port), timeout=5)
try:
    c.sendall(b"c" * 1000)
    if c.recv(1000):
        sys.exit("the third client got data")
except (ConnectionResetError, BrokenPipeError):
    pass
except socket.timeout:
    sys.exit("the third client was not closed within 5 s")
roundtrip(a, b"A" * 100000)
roundtrip(b, b"B" * 100000)
print("ok")
PY
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q 'refused: 2 clients is the limit' "$RELAY_LOG"
	# Once they are gone, there is room again.
	wait_until 5 count_is 2 "on tunnel port $TUNNEL_PORT closed:" "$RELAY_LOG"
	run python3 "$PY" parallel 127.0.0.1 "$TUNNEL_PORT" --clients 2 --bytes 100000
	[ "$status" -eq 0 ]
}
