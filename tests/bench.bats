#!/usr/bin/env bats
# relaybench: every mode against its own echo server and through the relay,
# quickly; its exit codes; and that it notices a wrong echo.

load lib/common

teardown() {
	common_teardown
}

# start_serve: relaybench's direct echo server on a free port; sets
# SERVE_PORT.
start_serve() {
	local out="$BATS_TEST_TMPDIR/serve.log"
	"$BIN/relaybench" serve --timeout 120 0 >"$out" 2>&1 3>&- &
	track $!
	wait_until 10 grep -q '^listening on ' "$out" || {
		cat "$out" >&2
		return 1
	}
	SERVE_PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out")
	[ -n "$SERVE_PORT" ]
}

# json_ok: the output is one JSON object whose "errors" is 0.
json_ok() {
	python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["errors"] == 0, d
' "$1"
}

@test "relaybench: every mode against its own echo server, valid JSON, no errors" {
	start_serve
	run "$BIN/relaybench" bulk --conns 4 --bytes 4M --label smoke 127.0.0.1 "$SERVE_PORT"
	[ "$status" -eq 0 ]
	json_ok "$output"
	[[ "$output" == *'"label":"smoke"'* ]]
	[[ "$output" == *'"bytes":16777216'* ]]
	run "$BIN/relaybench" bulk --seconds 0.3 --write-size 1000 127.0.0.1 "$SERVE_PORT"
	[ "$status" -eq 0 ]
	json_ok "$output"
	run "$BIN/relaybench" rtt --count 500 --size 64 127.0.0.1 "$SERVE_PORT"
	[ "$status" -eq 0 ]
	json_ok "$output"
	[[ "$output" == *'"count":500'* ]]
	run "$BIN/relaybench" connrate --parallel 4 --count 200 127.0.0.1 "$SERVE_PORT"
	[ "$status" -eq 0 ]
	json_ok "$output"
	[[ "$output" == *'"conns":200'* ]]
	run "$BIN/relaybench" hold --conns 300 --hold-seconds 0.2 127.0.0.1 "$SERVE_PORT"
	[ "$status" -eq 0 ]
	json_ok "${lines[-1]}"
	[[ "$output" == *'"verified":300'*'"rechecked":300'* ]]
}

@test "relaybench: through the relay, and register times a plain yamux client" {
	start_relay
	start_echoserver
	run "$BIN/relaybench" bulk --conns 2 --bytes 2M 127.0.0.1 "$TUNNEL_PORT"
	[ "$status" -eq 0 ]
	json_ok "$output"
	run "$BIN/relaybench" rtt --count 200 127.0.0.1 "$TUNNEL_PORT"
	[ "$status" -eq 0 ]
	json_ok "$output"
	run "$BIN/relaybench" connrate --count 100 127.0.0.1 "$TUNNEL_PORT"
	[ "$status" -eq 0 ]
	json_ok "$output"
	run "$BIN/relaybench" register --count 3 --interval 20 127.0.0.1 "$RELAY_PORT"
	[ "$status" -eq 0 ]
	json_ok "$output"
	[[ "$output" =~ \"tunnel\":\"127\.0\.0\.1:[0-9]+\" ]]
}

@test "relaybench: usage errors exit 64, no server exits 69" {
	run "$BIN/relaybench"
	[ "$status" -eq 64 ]
	run "$BIN/relaybench" bulk --bogus 127.0.0.1 1
	[ "$status" -eq 64 ]
	[[ "$output" == *"usage: relaybench"* ]]
	run "$BIN/relaybench" bulk --parallel 2 127.0.0.1 1
	[ "$status" -eq 64 ]
	[[ "$output" == *"--parallel does not apply to bulk"* ]]
	run "$BIN/relaybench" bulk --bytes 1M --seconds 1 127.0.0.1 1
	[ "$status" -eq 64 ]
	run "$BIN/relaybench" nosuchmode 127.0.0.1 1
	[ "$status" -eq 64 ]
	run "$BIN/relaybench" rtt 127.0.0.1 notaport
	[ "$status" -eq 64 ]
	run "$BIN/relaybench" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--until-file"* ]]
	local p
	p=$(free_port)
	run "$BIN/relaybench" bulk --seconds 1 127.0.0.1 "$p"
	[ "$status" -eq 69 ]
	[[ "$output" == *"cannot connect"* ]]
}

@test "relaybench: an echo that changes one byte is caught (exit 1, mismatch)" {
	local out="$BATS_TEST_TMPDIR/flip.log"
	# Echoes everything, but byte 100000 of each connection comes back
	# with its low bit flipped.
	python3 - >"$out" 2>&1 3>&- <<'PY' &
import socket, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
print("listening on 127.0.0.1:%d" % s.getsockname()[1], flush=True)
def serve(c):
    n = 0
    while True:
        b = c.recv(65536)
        if not b:
            break
        if n <= 100000 < n + len(b):
            b = bytearray(b)
            b[100000 - n] ^= 1
            b = bytes(b)
        n += len(b)
        c.sendall(b)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
	track $!
	wait_until 10 grep -q '^listening on ' "$out"
	local port
	port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out")
	run "$BIN/relaybench" bulk --bytes 1M 127.0.0.1 "$port"
	[ "$status" -eq 1 ]
	[[ "$output" == *"echoed byte 100000 is"* ]]
	[[ "$output" == *'"mismatch":1'* ]]
	# Small messages below the flipped byte pass; the check is exact.
	run "$BIN/relaybench" rtt --count 100 --warmup 0 --size 64 127.0.0.1 "$port"
	[ "$status" -eq 0 ]
}
