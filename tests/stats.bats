#!/usr/bin/env bats
# The statistics table and relaystat: exact counters, rows under the right
# backend, crashed workers' rows reclaimed, a lock-free reader under load,
# the three output formats, --watch, and bad invocations.
#
# Clients that must be counted exactly hold their connection open after a
# complete echo (tcpclient.py hold-after-echo), so every byte has been read
# and written by the relay before relaystat looks.  The stats helpers
# (stats_snap, snap_get, snap_rows...) are in lib/common.bash.

load lib/common
bats_require_minimum_version 1.5.0

READER="$BIN/statsreader"

setup() {
	SHM_TAG="relaytest.$$.$BATS_TEST_NUMBER"
}

teardown() {
	common_teardown
	rm -f "/dev/shm/$SHM_TAG" "/dev/shm/$SHM_TAG.2"
}

# fingerprint PUBKEY: SSH's form of a key's fingerprint, computed here
# rather than by the relay: "SHA256:" and the unpadded base64 of the
# SHA-256 of the 32 key bytes.
fingerprint() {
	python3 -c '
import base64, hashlib, sys
raw = base64.b64decode(sys.argv[1], validate=True)
assert len(raw) == 32
print("SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("="))' "$1"
}

# client_bytes_are ADDR N: a fresh snapshot lists client ADDR with N bytes
# in and N out.  (A worker counts a write once write() returns: the echo
# may reach the client a moment before the count, hence the wait.)
client_bytes_are() {
	stats_snap && [ "$(snap_get client addr="$1" in)" = "$2" ] &&
	    [ "$(snap_get client addr="$1" out)" = "$2" ]
}

@test "exact bytes per client while connected (0 B, 1 B, 50 MB), then in the backend's totals" {
	start_relay --prefork 2
	start_echoserver --no-reconnect
	local port=$TUNNEL_PORT n a
	local sizes=(0 1 50000000) pids=()
	for n in "${sizes[@]}"; do
		hold_client "c$n" "$port" "$n"
		pids+=("$BG_PID")
	done
	for n in "${sizes[@]}"; do
		wait_until 60 test -s "$BATS_TEST_TMPDIR/c$n.ready"
	done
	for n in "${sizes[@]}"; do
		wait_until 5 client_bytes_are "$(ready_addr "c$n")" "$n"
	done
	stats_snap
	cat "$SNAP"
	[ "$(snap_rows client port="$port")" -eq 3 ]

	for n in "${sizes[@]}"; do
		a=$(ready_addr "c$n")
		[ "$(snap_get client addr="$a" in)" = "$n" ]
		[ "$(snap_get client addr="$a" out)" = "$n" ]
		[ "$(snap_get client addr="$a" tunnel)" = "$port" ]
	done
	[ "$(snap_rows backend)" -eq 1 ]
	[ "$(snap_get backend port="$port" clients_now)" = 3 ]
	[ "$(snap_get backend port="$port" clients_total)" = 3 ]
	[ "$(snap_get backend port="$port" untracked)" = 0 ]
	[ "$(snap_get backend port="$port" in)" = 50000001 ]
	[ "$(snap_get backend port="$port" out)" = 50000001 ]
	[ "$(snap_get relay backends_now)" = 1 ]
	[ "$(snap_get relay backends_total)" = 1 ]
	[ "$(snap_get relay registrations_refused)" = 0 ]
	wait_until 5 snap_is relay workers_idle 2

	# Close them all: rows gone, totals keep every byte.
	kill "${pids[@]}"
	wait_until 10 count_is 3 "on tunnel port $port closed:" "$RELAY_LOG"
	for n in "${sizes[@]}"; do
		a=$(ready_addr "c$n")
		grep -qF "client $a on tunnel port $port closed: $n bytes in, $n bytes out," "$RELAY_LOG"
	done
	stats_snap
	cat "$SNAP"
	[ "$(snap_rows client)" -eq 0 ]
	[ "$(snap_get backend port="$port" rows)" = 0 ]
	[ "$(snap_get backend port="$port" clients_now)" = 0 ]
	[ "$(snap_get backend port="$port" clients_total)" = 3 ]
	[ "$(snap_get backend port="$port" in)" = 50000001 ]
	[ "$(snap_get backend port="$port" out)" = 50000001 ]
	[ "$(snap_get relay backends_now)" = 1 ]
	[ "$(snap_get relay workers_idle)" = 2 ]
}

@test "three backends with clients at once: every client row under its own backend" {
	start_relay --prefork 2
	local -A port worker baddr
	local k i a
	for k in a b c; do
		ECHO_NAME=$k start_echoserver --no-reconnect --name "$k"
		port[$k]=$TUNNEL_PORT
		baddr[$k]=$(sed -n "s/.*backend \([^ ]*\) registered as $k, .*/\1/p" "$RELAY_LOG")
		[ -n "${baddr[$k]}" ]
	done
	wait_until 5 pool_is 5
	for k in a b c; do
		worker[$k]=$(worker_of_port "${port[$k]}")
		[ -n "${worker[$k]}" ]
	done
	# Two clients per backend, each with its own byte count.
	local -A bytes
	bytes=([a]=1000 [b]=2000 [c]=3000)
	for k in a b c; do
		for i in 1 2; do
			hold_client "$k$i" "${port[$k]}" $((bytes[$k] + i))
		done
	done
	for k in a b c; do
		for i in 1 2; do
			wait_until 10 test -s "$BATS_TEST_TMPDIR/$k$i.ready"
			wait_until 5 client_bytes_are "$(ready_addr "$k$i")" $((bytes[$k] + i))
		done
	done
	stats_snap
	cat "$SNAP"

	[ "$(snap_rows backend)" -eq 3 ]
	[ "$(snap_rows client)" -eq 6 ]
	for k in a b c; do
		local p=${port[$k]}
		[ "$(snap_get backend port="$p" name)" = "$k" ]
		[ "$(snap_get backend port="$p" pid)" = "${worker[$k]}" ]
		[ "$(snap_get backend port="$p" addr)" = "${baddr[$k]}" ]
		[ "$(snap_get backend port="$p" clients_now)" = 2 ]
		[ "$(snap_get backend port="$p" in)" = $((2 * bytes[$k] + 3)) ]
		# exactly its two clients, with its own tunnel port
		[ "$(snap_rows client port="$p")" -eq 2 ]
		[ "$(snap_rows client port="$p" tunnel="$p")" -eq 2 ]
		for i in 1 2; do
			a=$(ready_addr "$k$i")
			[ "$(snap_get client addr="$a" port)" = "$p" ]
			[ "$(snap_get client addr="$a" name)" = "$k" ]
			[ "$(snap_get client addr="$a" pid)" = "${worker[$k]}" ]
			[ "$(snap_get client addr="$a" tunnel)" = "$p" ]
			[ "$(snap_get client addr="$a" in)" = $((bytes[$k] + i)) ]
			[ "$(snap_get client addr="$a" out)" = $((bytes[$k] + i)) ]
		done
	done
	[ "$(snap_get relay backends_now)" = 3 ]
	[ "$(snap_get relay backends_total)" = 3 ]
}

@test "a worker killed with SIGKILL leaves the table; its slot is reused (--max-backends 2)" {
	start_relay --prefork 1 --max-backends 2
	ECHO_NAME=a start_echoserver --no-reconnect
	local a_port=$TUNNEL_PORT
	ECHO_NAME=b start_echoserver --no-reconnect
	local b_port=$TUNNEL_PORT
	hold_client held "$a_port" 5000
	wait_until 10 test -s "$BATS_TEST_TMPDIR/held.ready"
	stats_snap
	[ "$(snap_rows backend)" -eq 2 ]
	[ "$(snap_rows client port="$a_port")" -eq 1 ]
	[ "$(snap_get relay backends_now)" = 2 ]

	# Full: a third backend is refused, and counted.
	run timeout 10 "$BIN/echoserver" --no-reconnect 127.0.0.1 "$RELAY_PORT"
	echo "$output"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
	[[ "$output" == *"refused"* ]]
	wait_until 5 snap_is relay registrations_refused 1
	[ "$(snap_rows backend)" -eq 2 ]

	local w
	w=$(worker_of_port "$a_port")
	[ -n "$w" ]
	[ "$(snap_get backend port="$a_port" pid)" = "$w" ]
	kill -KILL "$w"
	wait_until 5 snap_count_is 0 backend port="$a_port"
	cat "$SNAP"
	[ "$(snap_rows backend)" -eq 1 ]
	[ "$(snap_rows backend port="$b_port")" -eq 1 ]
	[ "$(snap_rows client)" -eq 0 ]
	wait_until 5 snap_is relay backends_now 1
	[ "$(snap_get relay backends_total)" = 2 ]

	# The freed slot takes a new backend, with fresh counters.
	ECHO_NAME=c start_echoserver --no-reconnect
	local c_port=$TUNNEL_PORT
	run echo_check --bytes 7777
	[ "$status" -eq 0 ]
	wait_until 5 snap_is backend port="$c_port" clients_total 1
	cat "$SNAP"
	[ "$(snap_rows backend)" -eq 2 ]
	[ "$(snap_rows backend port="$b_port")" -eq 1 ]
	[ "$(snap_get backend port="$c_port" pid)" = "$(worker_of_port "$c_port")" ]
	[ "$(snap_get backend port="$c_port" in)" = 7777 ]
	[ "$(snap_get backend port="$c_port" out)" = 7777 ]
	[ "$(snap_get relay backends_now)" = 2 ]
	[ "$(snap_get relay backends_total)" = 3 ]
	[ "$(snap_get relay registrations_refused)" = 1 ]
}

# The client rows of a backend number --max-clients, which is also the cap
# on its concurrent clients, so the table cannot overflow: check that at the
# limit every client is listed, a refused one leaves no trace, and closed
# clients' rows are reused (clients_untracked stays 0).
@test "client rows at --max-clients: all listed, refused ones not counted, rows reused, none untracked" {
	start_relay --prefork 1 --max-clients 3
	start_echoserver --no-reconnect
	local port=$TUNNEL_PORT round i pids
	for round in 1 2; do
		pids=()
		for i in 1 2 3; do
			hold_client "r$round.$i" "$port" $((100 * i))
			pids+=("$BG_PID")
		done
		for i in 1 2 3; do
			wait_until 10 test -s "$BATS_TEST_TMPDIR/r$round.$i.ready"
			wait_until 5 client_bytes_are "$(ready_addr "r$round.$i")" $((100 * i))
		done
		# one more is refused
		run python3 "$PY" expect-close 127.0.0.1 "$port" --timeout 5
		[ "$status" -eq 0 ]
		wait_until 5 count_is "$round" 'refused: 3 clients is the limit' "$RELAY_LOG"

		stats_snap
		cat "$SNAP"
		[ "$(snap_rows client port="$port")" -eq 3 ]
		for i in 1 2 3; do
			[ "$(snap_get client addr="$(ready_addr "r$round.$i")" in)" = $((100 * i)) ]
		done
		[ "$(snap_get backend port="$port" clients_now)" = 3 ]
		[ "$(snap_get backend port="$port" clients_total)" = $((3 * round)) ]
		[ "$(snap_get backend port="$port" untracked)" = 0 ]

		kill "${pids[@]}"
		wait_until 10 count_is $((3 * round)) "on tunnel port $port closed:" "$RELAY_LOG"
		stats_snap
		[ "$(snap_rows client)" -eq 0 ]
		[ "$(snap_get backend port="$port" clients_now)" = 0 ]
	done
	[ "$(snap_get backend port="$port" in)" = 1200 ]
	[ "$(snap_get backend port="$port" untracked)" = 0 ]
}

@test "a lock-free reader at >= 1000 reads/s sees consistent rows during heavy traffic" {
	[ -x "$READER" ] || skip "bin/statsreader not built (make bin/statsreader)"
	start_relay --prefork 1 --max-backends 4 --max-clients 64
	ECHO_NAME=a start_echoserver --no-reconnect --name a
	local a_port=$TUNNEL_PORT
	ECHO_NAME=b start_echoserver --no-reconnect --name b
	local b_port=$TUNNEL_PORT
	local stop="$BATS_TEST_TMPDIR/stop" ready="$BATS_TEST_TMPDIR/reader.ready"

	"$READER" --seconds 120 --until "$stop" --ready "$ready" \
	    "/relay.$RELAY_PORT" >"$BATS_TEST_TMPDIR/reader.out" \
	    2>"$BATS_TEST_TMPDIR/reader.err" 3>&- &
	local reader=$!
	track "$reader"
	wait_until 5 test -s "$ready"

	# 8 clients x 20 MB, four per backend, plus short clients coming and
	# going (row churn) on both.
	local t0=$SECONDS
	bg_client pa parallel 127.0.0.1 "$a_port" --clients 4 --bytes 20000000 --timeout 60
	local pa=$BG_PID
	bg_client pb parallel 127.0.0.1 "$b_port" --clients 4 --bytes 20000000 --timeout 60
	local pb=$BG_PID
	bg_client churn parallel 127.0.0.1 "$a_port" --clients 40 --bytes 20000 --timeout 60
	local churn=$BG_PID
	wait_until 90 all_dead "$pa" "$pb" "$churn"
	local rc
	for p in "$pa" "$pb" "$churn"; do
		rc=0
		wait "$p" || rc=$?
		[ "$rc" -eq 0 ]
	done
	touch "$stop"
	# (a diagnostic: the traffic takes ~2 s; the slowest client per the log)
	echo "# traffic $((SECONDS - t0)) s, slowest client $(grep -o 'out, [0-9.]* s,' "$RELAY_LOG" |
	    awk '{ print $2 }' | sort -n | tail -n 1) s" >&3
	wait_until 5 dead "$reader"
	rc=0
	wait "$reader" || rc=$?
	cat "$BATS_TEST_TMPDIR/reader.out" "$BATS_TEST_TMPDIR/reader.err"
	echo "# $(cat "$BATS_TEST_TMPDIR/reader.out")" >&3
	[ "$rc" -eq 0 ]
	local out
	out=$(cat "$BATS_TEST_TMPDIR/reader.out")
	local rate seen bytes
	rate=$(sed -n 's/.*reads_per_s=\([0-9]*\).*/\1/p' <<<"$out")
	seen=$(sed -n 's/.*clients_seen=\([0-9]*\).*/\1/p' <<<"$out")
	bytes=$(sed -n 's/.*max_backend_bytes_in=\([0-9]*\).*/\1/p' <<<"$out")
	[ "$rate" -ge 1000 ]
	# it did watch the traffic: the big clients and some of the churn
	[ "$seen" -ge 8 ]
	[ "$bytes" -ge 80000000 ]
	[[ "$out" == *" violations=0"* ]]
}

@test "output formats: --prometheus is valid, --json parses, the table names the backend, --bytes is exact" {
	start_relay --prefork 1
	start_echoserver --no-reconnect --name alpha
	local port=$TUNNEL_PORT
	hold_client c1 "$port" 1234567
	wait_until 30 test -s "$BATS_TEST_TMPDIR/c1.ready"
	local a
	a=$(ready_addr c1)
	wait_until 5 client_bytes_are "$a" 1234567

	"$BIN/relaystat" --prometheus "$RELAY_PORT" >"$BATS_TEST_TMPDIR/prom.txt"
	cat "$BATS_TEST_TMPDIR/prom.txt"
	python3 "$ROOT/tests/prom_check.py" -e relay_backend_bytes_in_total \
	    -e relay_client_bytes_in_total -e relay_backends \
	    "$BATS_TEST_TMPDIR/prom.txt"
	grep -qE "^relay_client_bytes_in_total\{.*client=\"$a\".*\} 1234567\$" "$BATS_TEST_TMPDIR/prom.txt"
	grep -qE "^relay_client_bytes_out_total\{.*client=\"$a\".*\} 1234567\$" "$BATS_TEST_TMPDIR/prom.txt"
	grep -qE "^relay_backend_bytes_in_total\{tunnel_port=\"$port\",.*\} 1234567\$" "$BATS_TEST_TMPDIR/prom.txt"

	"$BIN/relaystat" --json "$RELAY_PORT" >"$BATS_TEST_TMPDIR/stats.json"
	python3 -m json.tool "$BATS_TEST_TMPDIR/stats.json" >/dev/null
	python3 "$STATSFLAT" "$BATS_TEST_TMPDIR/stats.json"

	run "$BIN/relaystat" "$RELAY_PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$port"*alpha* ]]
	[[ "$output" == *"$a"* ]]
	# human units by default, not the exact count
	[[ "$output" != *1234567* ]]
	[[ "$output" == *MiB* ]]

	run "$BIN/relaystat" --bytes "$RELAY_PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qE "client +$a .* 1234567 +1234567( |\$)" <<<"$output"
	grep -qE "^ *$port +alpha .* 1234567 +1234567( |\$)" <<<"$output"

	# A plain session has no key: "" in JSON, no label, no KEY column.
	grep -qF "\"name\":\"alpha\",\"key\":\"\"," "$BATS_TEST_TMPDIR/stats.json"
	stats_snap
	[ "$(snap_get backend port="$port" key)" = - ]
	[ "$(grep -c 'key=' "$BATS_TEST_TMPDIR/prom.txt")" -eq 0 ]
	[[ "$output" != *KEY* ]]
	grep -qE "^ *$port +alpha +127\.0\.0\.1:" <<<"$output"
}

@test "key mode: the backend's key fingerprint in the table (short), --json and --prometheus (whole)" {
	local k="$BATS_TEST_TMPDIR" rpub bpub fp short
	rpub=$("$BIN/relaykey" generate "$k/relay.key")
	bpub=$("$BIN/relaykey" generate "$k/be.key")
	printf '%s name=keyed\n' "$bpub" >"$k/authorized"
	fp=$(fingerprint "$bpub")
	[[ "$fp" =~ ^SHA256:[A-Za-z0-9+/]{43}$ ]]
	short="${fp:0:15}...${fp: -4}"

	start_relay --prefork 1 --key "$k/relay.key" --authorized-keys "$k/authorized"
	start_echoserver --no-reconnect --name keyed --key "$k/be.key" --relay-key "$rpub"
	local port=$TUNNEL_PORT
	# The relay logs the same fingerprint as computed here.
	grep -qF "registered as keyed with key $fp, tunnel" "$RELAY_LOG"
	hold_client c1 "$port" 4321
	wait_until 30 test -s "$BATS_TEST_TMPDIR/c1.ready"
	local a
	a=$(ready_addr c1)
	wait_until 5 client_bytes_are "$a" 4321

	# JSON: the whole fingerprint under "key", next to the name.
	cat "$SNAP"
	[ "$(snap_get backend port="$port" key)" = "$fp" ]
	[ "$(snap_get backend port="$port" name)" = keyed ]
	grep -qF "\"name\":\"keyed\",\"key\":\"$fp\"," "$BATS_TEST_TMPDIR/stats.json"

	# Prometheus: valid, and every series of the backend, its clients'
	# included, carries key="SHA256:...".
	"$BIN/relaystat" --prometheus "$RELAY_PORT" >"$BATS_TEST_TMPDIR/prom.txt"
	cat "$BATS_TEST_TMPDIR/prom.txt"
	python3 "$ROOT/tests/prom_check.py" -e relay_backend_info \
	    -e relay_backend_bytes_in_total -e relay_client_bytes_in_total \
	    "$BATS_TEST_TMPDIR/prom.txt"
	python3 - "$BATS_TEST_TMPDIR/prom.txt" "$port" "$fp" <<'PY'
import sys
path, port, fp = sys.argv[1:]
mine = [l for l in open(path) if l.startswith("relay_") and
        '{tunnel_port="%s",' % port in l]
assert len(mine) >= 10, mine
bad = [l for l in mine if ',key="%s",' % fp not in l and
       ',key="%s"}' % fp not in l]
assert not bad, bad
PY
	grep -qF "relay_backend_info{tunnel_port=\"$port\",backend=\"keyed\",key=\"$fp\"," "$BATS_TEST_TMPDIR/prom.txt"
	grep -qF "relay_client_bytes_in_total{tunnel_port=\"$port\",backend=\"keyed\",key=\"$fp\",client=\"$a\"} 4321" "$BATS_TEST_TMPDIR/prom.txt"

	# Table: a KEY column after BACKEND with the short form; the client
	# line keeps its address under ADDRESS.
	run "$BIN/relaystat" --bytes "$RELAY_PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	awk -v port="$port" -v short="$short" -v a="$a" '
	    $1 == "TUNNEL" { hdr = ($2 == "BACKEND" && $3 == "KEY" &&
		$4 == "ADDRESS") }
	    $1 == port { row = ($2 == "keyed" && $3 == short &&
		$4 ~ /^127\.0\.0\.1:/) }
	    $1 == "client" { cli = ($2 == a && $4 == 4321 && $5 == 4321) }
	    END { exit !(hdr && row && cli) }' <<<"$output"
	[[ "$output" != *"$fp"* ]]
	# the address column starts where the header says, on both lines
	local col
	col=$(awk '$1 == "TUNNEL" { print index($0, "ADDRESS") }' <<<"$output")
	[ "$(awk -v port="$port" '$1 == port { print index($0, "127.0.0.1:") }' <<<"$output")" = "$col" ]
	[ "$(awk -v a="$a" '$1 == "client" { print index($0, a) }' <<<"$output")" = "$col" ]
}

@test "--watch 0.2 redraws until SIGINT, then exits 0" {
	start_relay --prefork 1
	start_echoserver --no-reconnect --name watched
	run timeout --preserve-status -s INT 1.5 "$BIN/relaystat" --watch 0.2 "$RELAY_PORT"
	echo "$output" | cat -v
	[ "$status" -eq 0 ]
	local frames
	frames=$(grep -o '(^C to quit)' <<<"$output" | wc -l)
	echo "frames: $frames"
	[ "$frames" -ge 2 ]
	[ "$(grep -o 'watched' <<<"$output" | wc -l)" -ge 2 ]
	[[ "$output" == *"$TUNNEL_PORT"* ]]
}

@test "bad invocations: usage errors exit 64, no relay or a foreign segment exit 69" {
	run --separate-stderr "$BIN/relaystat" --no-such-option
	echo "$output$stderr"
	[ "$status" -eq 64 ]
	grep -q '^usage: relaystat' <<<"$output$stderr"

	run --separate-stderr "$BIN/relaystat" 9000 9001
	[ "$status" -eq 64 ]
	grep -q '^usage: relaystat' <<<"$output$stderr"

	# nobody on that port: one line on stderr, nothing on stdout
	local port
	port=$(free_port)
	[ ! -e "/dev/shm/relay.$port" ]
	run --separate-stderr "$BIN/relaystat" "$port"
	echo "$stderr"
	[ "$status" -eq 69 ]
	[ -z "$output" ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == *"$port"* ]]

	[ ! -e /dev/shm/nonexistent ]
	run --separate-stderr "$BIN/relaystat" --stats /nonexistent
	[ "$status" -eq 69 ]
	[ "${#stderr_lines[@]}" -eq 1 ]

	# garbage, too small and big enough
	printf 'not a relay segment\n' >"/dev/shm/$SHM_TAG"
	run --separate-stderr "$BIN/relaystat" --stats "/$SHM_TAG"
	echo "$stderr"
	[ "$status" -eq 69 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	head -c 65536 /dev/urandom >"/dev/shm/$SHM_TAG"
	run --separate-stderr "$BIN/relaystat" --json --stats "/$SHM_TAG"
	echo "$stderr"
	[ "$status" -eq 69 ]
	[ -z "$output" ]
	[ "${#stderr_lines[@]}" -eq 1 ]

	# A hand-made header naming a process that is not a relay is refused
	# as planted; one naming a "relay" of the segment's owner is accepted
	# (so the next cases fail for the right reason), but not with another
	# ABI version or a dead master.
	[ -n "$STATS_ABI" ]
	make_segment "/dev/shm/$SHM_TAG" $$
	run --separate-stderr "$BIN/relaystat" --json --stats "/$SHM_TAG"
	echo "$stderr"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"someone may have planted it"* ]]
	cp /bin/sleep "$BATS_TEST_TMPDIR/relay"
	"$BATS_TEST_TMPDIR/relay" 60 3>&- &
	local lookalike=$!
	track "$lookalike"
	make_segment "/dev/shm/$SHM_TAG" "$lookalike"
	run --separate-stderr "$BIN/relaystat" --json --stats "/$SHM_TAG"
	echo "$output$stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == *"\"pid\":$lookalike,"* ]]
	make_segment "/dev/shm/$SHM_TAG" "$lookalike" $((STATS_ABI + 1))
	run --separate-stderr "$BIN/relaystat" --stats "/$SHM_TAG"
	echo "$stderr"
	[ "$status" -eq 69 ]
	[[ "$stderr" == *ABI* ]]
	make_segment "/dev/shm/$SHM_TAG" 2147483000
	run --separate-stderr "$BIN/relaystat" --stats "/$SHM_TAG"
	echo "$stderr"
	[ "$status" -eq 69 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	rm -f "/dev/shm/$SHM_TAG"
}

@test "relay --stats NAME: relaystat --stats NAME reads it, the segment is removed at exit" {
	local seg="$SHM_TAG.2"
	start_relay --prefork 1 --stats "/$seg"
	[ -e "/dev/shm/$seg" ]
	[ ! -e "/dev/shm/relay.$RELAY_PORT" ]
	start_echoserver --no-reconnect --name named
	run "$BIN/relaystat" --json --stats "/$seg"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"\"control_port\":$RELAY_PORT,"* ]]
	[[ "$output" == *"\"pid\":$RELAY_PID,"* ]]
	[[ "$output" == *"\"tunnel_port\":$TUNNEL_PORT,\"name\":\"named\""* ]]
	# not under the default name
	run "$BIN/relaystat" "$RELAY_PORT"
	[ "$status" -eq 69 ]

	kill -TERM "$RELAY_PID"
	wait_until 10 dead "$RELAY_PID"
	local rc=0
	wait "$RELAY_PID" || rc=$?
	[ "$rc" -eq 0 ]
	[ ! -e "/dev/shm/$seg" ]
	run "$BIN/relaystat" --stats "/$seg"
	[ "$status" -eq 69 ]
}

@test "rtt_us is set once the backend answers the ping that follows its registration" {
	start_relay --prefork 1 --keepalive 0
	start_echoserver --no-reconnect
	local port=$TUNNEL_PORT

	rtt_set() {
		stats_snap && python3 -c '
import json, sys
b = json.load(open(sys.argv[1]))["backends"][0]
sys.exit(not 0 < b["rtt_us"] < 1000000)' "$BATS_TEST_TMPDIR/stats.json"
	}
	wait_until 6 rtt_set
	"$BIN/relaystat" --prometheus "$RELAY_PORT" >"$BATS_TEST_TMPDIR/prom.txt"
	python3 "$ROOT/tests/prom_check.py" -e relay_backend_rtt_seconds "$BATS_TEST_TMPDIR/prom.txt"
	grep -E "^relay_backend_rtt_seconds\{tunnel_port=\"$port\"," "$BATS_TEST_TMPDIR/prom.txt"
	run "$BIN/relaystat" "$RELAY_PORT"
	echo "$output"
	# the RTT column shows a duration, not "-"
	grep -E "^ *$port .*[0-9.]+ ?(us|ms|s)\$" <<<"$output"
}

@test "IPv6: bracketed addresses in JSON, Prometheus and the table" {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null ||
	    skip "no IPv6 loopback"
	start_relay --prefork 1 --listen ::1
	start_backend v6 "$BIN/echoserver" --no-reconnect --name v6 ::1 "$RELAY_PORT"
	[ "$TUNNEL_HOST" = ::1 ]
	local port=$TUNNEL_PORT raw a
	bg_client c6 hold-after-echo ::1 "$port" --bytes 4242 \
	    --ready-file "$BATS_TEST_TMPDIR/c6.ready"
	wait_until 10 test -s "$BATS_TEST_TMPDIR/c6.ready"
	raw=$(ready_addr c6)
	a="[${raw%:*}]:${raw##*:}"
	wait_until 5 client_bytes_are "$a" 4242
	cat "$SNAP"
	[[ "$(snap_get backend port="$port" addr)" == "[::1]:"* ]]
	"$BIN/relaystat" --prometheus "$RELAY_PORT" >"$BATS_TEST_TMPDIR/prom.txt"
	python3 "$ROOT/tests/prom_check.py" -e relay_client_bytes_in_total "$BATS_TEST_TMPDIR/prom.txt"
	grep -qF "client=\"$a\"} 4242" "$BATS_TEST_TMPDIR/prom.txt"
	run "$BIN/relaystat" --bytes "$RELAY_PORT"
	echo "$output"
	grep -qE "client +\[::1\]:${raw##*:} .* 4242 +4242\$" <<<"$output"
}
