#!/usr/bin/env bats
# The data path under the conditions users meet: backends that close when
# done, clients that reset, slow uplinks, late ACKs, full buffers, strangers
# on the control port.  Each case was a reproduced failure of an earlier
# relay; docs/DATAPATH.md tells how a byte and a FIN travel.

load lib/common

PEER="$ROOT/tests/lib/yamuxpeer.py"

setup() { :; }
teardown() { common_teardown; }

# peer NAME MODE ARGS...: the raw yamux backend in the background; waits
# for its "registered" line.  Sets PEER_PID, TUNNEL_PORT.
peer() {
	local name=$1 mode=$2; shift 2
	python3 "$PEER" "$mode" 127.0.0.1 "$RELAY_PORT" "$@" \
	    >"$BATS_TEST_TMPDIR/$name.out" 2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	PEER_PID=$!
	track "$PEER_PID"
	wait_until 10 file_has '^(registered|refused) ' "$BATS_TEST_TMPDIR/$name.out" || {
		cat "$BATS_TEST_TMPDIR/$name.err" >&2
		return 1
	}
	TUNNEL_PORT=$(sed -n 's/^registered .*:\([0-9]*\)$/\1/p' "$BATS_TEST_TMPDIR/$name.out")
	[ -n "$TUNNEL_PORT" ]
}

# lazy NAME ARGS...: a tunnel client that reads nothing until NAME.go.
lazy() {
	local name=$1; shift
	bg_client "$name" lazy-read 127.0.0.1 "$TUNNEL_PORT" \
	    --ready "$BATS_TEST_TMPDIR/$name.ready" --go "$BATS_TEST_TMPDIR/$name.go" \
	    --rcvbuf 4096 --timeout 30 "$@"
	wait_until 5 test -s "$BATS_TEST_TMPDIR/$name.ready"
}

# sendq_empty PORT: the connections to local port PORT have nothing unsent
# or unacknowledged (twice in a row, a moment apart).
sendq_empty() {
	local q
	q=$(ss -Htn "( sport = :$1 )" | awk '{ s += $3 } END { print s + 0 }')
	[ "$q" -eq 0 ] || return 1
	sleep 0.2	# a second look, not synchronisation
	q=$(ss -Htn "( sport = :$1 )" | awk '{ s += $3 } END { print s + 0 }')
	[ "$q" -eq 0 ]
}

# lazy_target NAME PORT: a TCP server on PORT that accepts one connection,
# reads nothing until NAME.go exists, then reads to the end and prints
# "got N SHA256 end=eof|reset" to NAME.out.  Sets TARGET_PID.
lazy_target() {
	python3 - "$2" "$BATS_TEST_TMPDIR/$1" >"$BATS_TEST_TMPDIR/$1.out" 2>&1 3>&- <<'PY' &
import hashlib, os, socket, sys, time
port, base = int(sys.argv[1]), sys.argv[2]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
ls.bind(("127.0.0.1", port)); ls.listen(1)
open(base + ".listening", "w").close()
c, _ = ls.accept()
deadline = time.monotonic() + 30
while not os.path.exists(base + ".go") and time.monotonic() < deadline:
    time.sleep(0.02)
h, n, end = hashlib.sha256(), 0, "eof"
try:
    while True:
        b = c.recv(65536)
        if not b: break
        h.update(b); n += len(b)
except ConnectionResetError:
    end = "reset"
print("got %d %s end=%s" % (n, h.hexdigest(), end), flush=True)
PY
	TARGET_PID=$!
	track "$TARGET_PID"
	wait_until 5 test -e "$BATS_TEST_TMPDIR/$1.listening"
}

# cpu_ticks PID: user + system clock ticks the process has used.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

@test "a backend that sends, FINs and closes: the client gets every byte, then a clean EOF" {
	start_relay
	peer p closer --bytes 262144
	lazy c
	# The backend has sent its window's worth, FINed and closed.
	wait_until 10 file_has '^closed$' "$BATS_TEST_TMPDIR/p.out"
	local sha
	sha=$(awk '/^sent / { print $4 }' "$BATS_TEST_TMPDIR/p.out")
	touch "$BATS_TEST_TMPDIR/c.go"
	wait_until 10 dead "$BG_PID"
	cat "$BATS_TEST_TMPDIR/c.out"
	grep -qx "got 262144 $sha end=eof" "$BATS_TEST_TMPDIR/c.out"
	grep -qE "client 127\.0\.0\.1:[0-9]+ on tunnel port $TUNNEL_PORT closed: 0 bytes in, 262144 bytes out, .*, backend closed first" "$RELAY_LOG"
}

@test "a backend that closes without FINing its stream: the client gets every byte, then a reset" {
	start_relay
	peer p closer --bytes 200000 --no-fin
	lazy c
	wait_until 10 file_has '^closed$' "$BATS_TEST_TMPDIR/p.out"
	touch "$BATS_TEST_TMPDIR/c.go"
	wait_until 10 dead "$BG_PID"
	cat "$BATS_TEST_TMPDIR/c.out"
	# everything that was sent, and a reset: never a clean EOF after a cut
	grep -qE '^got 200000 [0-9a-f]{64} end=reset$' "$BATS_TEST_TMPDIR/c.out"
	grep -qF "cut: the session ended before the stream did" "$RELAY_LOG"
}

@test "a client that never reads cannot hold a finished backend's worker past the drain time" {
	start_relay --drain-timeout 1
	peer p closer --bytes 262144
	lazy c
	wait_until 10 file_has '^closed$' "$BATS_TEST_TMPDIR/p.out"
	local w
	# the worker delivers for at most --drain-timeout, then resets
	wait_until 5 grep -qF "not delivered within the drain time" "$RELAY_LOG"
	wait_until 5 pool_is 2
	touch "$BATS_TEST_TMPDIR/c.go"
	wait_until 10 dead "$BG_PID"
	grep -qE 'end=reset$' "$BATS_TEST_TMPDIR/c.out"
}

@test "relayexpose: a relay session that ends delivers everything to the target, then FIN" {
	start_relay
	local tport
	tport=$(free_port)
	lazy_target t "$tport"
	local tpid=$TARGET_PID
	start_backend x "$BIN/relayexpose" --no-reconnect 127.0.0.1 "$RELAY_PORT" "127.0.0.1:$tport"
	local xpid=$BACKEND_PID
	# A client sends 200000 bytes and its EOF; the relay passes both on.
	python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(bytes(range(256)) * 781 + bytes(64))
s.shutdown(socket.SHUT_WR)
s.settimeout(30)
try:
    while s.recv(65536): pass
except OSError: pass
' "$TUNNEL_PORT" 3>&- &
	track $!
	# The relay has all of it, and relayexpose all the relay sent.
	wait_until 10 bash -c "'$BIN/relaystat' --json $RELAY_PORT | grep -q '\"bytes_in\":200000'"
	wait_until 10 sendq_empty "$RELAY_PORT"
	# The relay's side ends (its worker dies: the kernel closes the
	# connection in good order).  relayexpose holds what the target has
	# not read yet, and must deliver it, then FIN.
	kill -KILL "$(worker_of_port "$TUNNEL_PORT")"
	touch "$BATS_TEST_TMPDIR/t.go"
	wait_until 15 dead "$tpid"
	cat "$BATS_TEST_TMPDIR/t.out"
	local want
	want=$(python3 -c 'import hashlib; print(hashlib.sha256(bytes(range(256)) * 781 + bytes(64)).hexdigest())')
	grep -qx "got 200000 $want end=eof" "$BATS_TEST_TMPDIR/t.out"
	wait_until 15 dead "$xpid"
}

@test "relayexpose: a relay session cut mid-stream: the target gets what arrived, then a reset" {
	start_relay
	local tport
	tport=$(free_port)
	lazy_target t "$tport"
	local tpid=$TARGET_PID
	start_backend x "$BIN/relayexpose" --no-reconnect 127.0.0.1 "$RELAY_PORT" "127.0.0.1:$tport"
	# A client sends more than can be in flight; it is never all through.
	bg_client f flood 127.0.0.1 "$TUNNEL_PORT" --bytes 50000000 --progress "$BATS_TEST_TMPDIR/f.progress" --stall 0.5 --timeout 20
	wait_until 15 file_has '^stalled' "$BATS_TEST_TMPDIR/f.progress"
	# The relay's worker dies with the stream half done: relayexpose sees
	# the connection end without the stream's FIN.
	kill -KILL "$(worker_of_port "$TUNNEL_PORT")"
	touch "$BATS_TEST_TMPDIR/t.go"
	wait_until 15 dead "$tpid"
	cat "$BATS_TEST_TMPDIR/t.out"
	# whatever came, then a reset: a truncated stream never looks complete
	grep -qE '^got [0-9]+ [0-9a-f]{64} end=reset$' "$BATS_TEST_TMPDIR/t.out"
}

@test "a stranger's flood does not poison the pooled workers: the next backends register" {
	start_relay --prefork 2
	run python3 "$PEER" synflood 127.0.0.1 "$RELAY_PORT" --count 1100 --timeout 10
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"closed=1"* ]]
	wait_until 5 grep -qF "stream flood" "$RELAY_LOG"
	local i
	for i in 1 2 3 4; do
		ECHO_NAME=e$i start_echoserver --no-reconnect
		run echo_check --bytes 1000
		[ "$status" -eq 0 ]
	done
	[ "$(grep -c ' registered, tunnel ' "$RELAY_LOG")" -eq 4 ]
}

@test "a client that half-closes and then resets: the stream is reset at once, no spinning" {
	start_relay
	peer p silent --hold 20
	bg_client c reset-after 127.0.0.1 "$TUNNEL_PORT" --text 'hello' --halfclose \
	    --ready "$BATS_TEST_TMPDIR/c.ready" --go "$BATS_TEST_TMPDIR/c.go"
	wait_until 5 file_has '^open [0-9]+$' "$BATS_TEST_TMPDIR/p.out"
	local sid
	sid=$(sed -n 's/^open \([0-9]*\)$/\1/p' "$BATS_TEST_TMPDIR/p.out")
	local w
	w=$(worker_of_port "$TUNNEL_PORT")
	[ -n "$w" ]
	touch "$BATS_TEST_TMPDIR/c.go"
	# the backend hears of it (RST) although it never wrote to the client
	wait_until 3 file_has "^rst $sid\$" "$BATS_TEST_TMPDIR/p.out"
	# and the worker sleeps: under a fifth of a second of CPU in one second
	local t0 t1
	t0=$(cpu_ticks "$w")
	sleep 1	# a measurement window, not synchronisation
	t1=$(cpu_ticks "$w")
	echo "worker used $((t1 - t0)) ticks in 1 s"
	[ $((t1 - t0)) -lt $(($(getconf CLK_TCK) / 5)) ]
}

@test "a slow uplink (300 KB/s) with bulk clients: the session survives; a frozen backend is still found" {
	start_relay --keepalive 1 --alive-timeout 1500
	local pport
	python3 "$ROOT/tests/lib/pacer.py" 127.0.0.1 "$RELAY_PORT" --rate 300000 --max-seconds 60 \
	    >"$BATS_TEST_TMPDIR/pacer.out" 2>&1 3>&- &
	track $!
	wait_until 5 file_has '^listening on ' "$BATS_TEST_TMPDIR/pacer.out"
	pport=$(sed -n 's/^listening on //p' "$BATS_TEST_TMPDIR/pacer.out")
	start_backend e "$BIN/echoserver" --no-reconnect --keepalive 1 127.0.0.1 "$pport"
	local epid=$BACKEND_PID
	# 12 clients push 96 KB each both ways through 300 KB/s: seconds of
	# saturation, with a keepalive every second and a 1.5 s alive timeout.
	run python3 "$PY" parallel 127.0.0.1 "$TUNNEL_PORT" --clients 12 --bytes 98304 --timeout 40
	echo "$output"
	[ "$status" -eq 0 ]
	! grep -qE "gone:|sent nothing" "$RELAY_LOG"
	# A frozen backend behind the same link: found within the alive
	# timeout of a new client (plus what the link still had in flight).
	kill -STOP "$epid"
	run python3 "$PY" send-close 127.0.0.1 "$TUNNEL_PORT" --text 'hello?' --timeout 6
	echo "$output"
	[ "$status" -eq 0 ]
	# (the deadline may have started with the keepalive before it)
	seconds_between 0 4 "$(field after "$output")"
	wait_until 3 grep -qF "gone: backend sent nothing for 1500 ms after a ping (alive timeout)" "$RELAY_LOG"
	kill -CONT "$epid"
}

@test "a backend that ACKs one stream late: only that client is reset; the others keep working" {
	start_relay --alive-timeout 800
	peer p lateack --late 2 --delay 3 --hold 20
	# the first client is served and stays connected
	bg_client one hold 127.0.0.1 "$TUNNEL_PORT" --ready "$BATS_TEST_TMPDIR/one.ready" --bytes 1000 --timeout 20
	local one=$BG_PID
	wait_until 5 test -s "$BATS_TEST_TMPDIR/one.ready"
	# the second is never ACKed in time: reset after the alive timeout
	run python3 "$PY" send-close 127.0.0.1 "$TUNNEL_PORT" --text 'late' --timeout 5
	echo "$output"
	[ "$status" -eq 0 ]
	seconds_between 0.7 3 "$(field after "$output")"
	wait_until 3 grep -qF "open timeout" "$RELAY_LOG"
	# the session lives: the first client is still there, a third works
	alive "$one"
	run echo_check --bytes 100000
	[ "$status" -eq 0 ]
	! grep -qF "gone:" "$RELAY_LOG"
}

@test "--session-buffer: the streams that hold the most are reset, not the one receiving" {
	start_relay --session-buffer 250000
	peer p flood --bytes 2000000 --hold 25 --progress "$BATS_TEST_TMPDIR/p.progress"
	# A client that never reads: its stream fills the window (256 KiB).
	lazy slow1
	wait_until 10 grep -qE '^[0-9]+ 262144$' "$BATS_TEST_TMPDIR/p.progress"
	# A client that reads everything gets everything.
	run timeout 30 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(20); n = 0
while n < 2000000:
    b = s.recv(1 << 20)
    if not b: break
    n += len(b)
print("read", n)
' "$TUNNEL_PORT"
	echo "$output"
	[ "$output" = "read 2000000" ]
	# A second slow client: together they hold more than the limit, so
	# the biggest holder is reset.
	lazy slow2
	wait_until 10 file_has '^rst [0-9]+$' "$BATS_TEST_TMPDIR/p.out"
	grep -qF "session buffer full" "$RELAY_LOG"
}

@test "--session-buffer counts the bytes of streams that have ended, until they are written" {
	start_relay --session-buffer 350000
	peer p closer --bytes 262144 --streams 4 --timeout 30
	local i
	for i in 1 2 3 4; do
		lazy c$i --halfclose
	done
	wait_until 15 file_has '^closed$' "$BATS_TEST_TMPDIR/p.out"
	for i in 1 2 3 4; do
		touch "$BATS_TEST_TMPDIR/c$i.go"
	done
	for i in 1 2 3 4; do
		wait_until 10 test -s "$BATS_TEST_TMPDIR/c$i.out"
	done
	cat "$BATS_TEST_TMPDIR"/c?.out
	# 4 x 256 KiB (less what the kernel queues) held for clients that do
	# not read, over a limit of 350000: some are reset, and whoever is not
	# gets all of it
	[ "$(grep -c 'end=reset$' "$BATS_TEST_TMPDIR"/c?.out | awk -F: '{ s += $2 } END { print s }')" -ge 2 ]
	! grep -vqE '^got (262144 [0-9a-f]{64} end=eof|[0-9]+ [0-9a-f]{64} end=reset)$' "$BATS_TEST_TMPDIR"/c?.out
	grep -qF "session buffer full" "$RELAY_LOG"
}

@test "stream ids exhausted: the session ends, the backend reconnects, a waiting client is served" {
	RELAY_TEST_STREAM_ID=4294967290 start_relay --linger 10
	start_echoserver --name ids --reconnect
	local port=$TUNNEL_PORT
	run echo_check --bytes 100
	[ "$status" -eq 0 ]
	run echo_check --bytes 100
	[ "$status" -eq 0 ]
	# the ids are used up: this client waits for the next session
	run echo_check --bytes 100
	[ "$status" -eq 0 ]
	grep -qF "stream ids exhausted; ending the session so that the backend reconnects" "$RELAY_LOG"
	[ "$(grep -c "registered as ids, tunnel 127.0.0.1:$port" "$RELAY_LOG")" -ge 2 ]
	! grep -qF "refused: cannot open a stream" "$RELAY_LOG"
}

@test "GoAway(0) from a backend: new clients wait in the listen queue, none is accepted and closed" {
	start_relay
	peer p goaway --hold 30
	wait_until 5 grep -qF "sent GoAway(0)" "$RELAY_LOG"
	local i
	for i in 1 2 3; do
		bg_client w$i send-close 127.0.0.1 "$TUNNEL_PORT" --text 'x' --timeout 1.5
	done
	for i in 1 2 3; do
		wait_until 5 test -s "$BATS_TEST_TMPDIR/w$i.err"
	done
	# none was closed by the relay: each gave up waiting by itself
	cat "$BATS_TEST_TMPDIR"/w?.err
	[ "$(grep -c 'not closed within' "$BATS_TEST_TMPDIR"/w?.err | awk -F: '{ s += $2 } END { print s }')" -eq 3 ]
	! grep -qF "refused" "$RELAY_LOG"
}

@test "a GoAway the relay owes on a protocol error is delivered, ahead of queued data" {
	start_relay
	peer p badframe --ready "$BATS_TEST_TMPDIR/p.ready" --go "$BATS_TEST_TMPDIR/p.go" --timeout 20
	wait_until 5 test -s "$BATS_TEST_TMPDIR/p.ready"
	TUNNEL_PORT=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$BATS_TEST_TMPDIR/p.ready")
	# Clients push data the backend does not read: more than the kernel
	# takes on the backend's connection, so the relay queues the rest.
	timeout 30 python3 - "$TUNNEL_PORT" "$BATS_TEST_TMPDIR/f.stalled" 3>&- <<'PY' &
import os, select, socket, sys, time
port, flag = int(sys.argv[1]), sys.argv[2]
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(24)]
for s in socks:
    s.setblocking(False)
chunk, last, t0 = b"x" * 65536, time.monotonic(), time.monotonic()
while time.monotonic() - t0 < 25:
    moved = False
    for s in socks:
        try:
            if s.send(chunk) > 0:
                moved = True
        except BlockingIOError:
            pass
    if moved:
        last = time.monotonic()
    elif time.monotonic() - last > 0.5:
        open(flag, "w").close()
    select.select([], socks, [], 0.05)
PY
	track $!
	wait_until 20 test -e "$BATS_TEST_TMPDIR/f.stalled"
	touch "$BATS_TEST_TMPDIR/p.go"
	wait_until 10 file_has '^goaway=' "$BATS_TEST_TMPDIR/p.out"
	cat "$BATS_TEST_TMPDIR/p.out"
	grep -qx 'goaway=1 frames_ok=1' "$BATS_TEST_TMPDIR/p.out"
	wait_until 5 grep -qF "bad version" "$RELAY_LOG"
}

@test "a plain client that puts its SYN on a Data frame (rust-yamux) is not taken for a hello" {
	start_relay
	peer a register --syn-data --hold 5
	run echo_check --bytes 5000
	[ "$status" -eq 0 ]
	peer b register --syn-junk --hold 5
	run echo_check --bytes 5000
	[ "$status" -eq 0 ]
	# a hello is still a hello
	peer c register --name named --hold 5
	grep -qF "registered as named" "$RELAY_LOG"
}
