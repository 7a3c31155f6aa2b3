#!/usr/bin/env bash
# The `make bench` driver: the relay against a direct echo server, on
# loopback, every byte verified by relaybench.
#
#   tests/bench/run.sh [--quick] [--strict] [--results FILE]
#
# Starts `relaybench serve` (direct), a relay and an echoserver registered
# with it, and a second relay with keys (--key, --authorized-keys) with an
# echoserver registered over an encrypted session (the "noise" target of
# the bulk cases), then runs each case against them, alternating order,
# for several rounds; measures the relay's memory (PSS from /proc) idle and
# holding 10,000 clients through one tunnel; times registrations; in full
# mode registers 500 backends at once over encrypted sessions and echoes
# through each.  Every JSON
# line goes to the results file (default bin/bench-results.jsonl); the table
# of medians and ratios to direct is printed by tests/bench/report.py.
#
# Exit status: 0 when every run verified all its bytes, 1 when one did not
# (or, with --strict, when a target was missed), 70 when the setup failed.
set -u

cd "$(dirname "$0")/../.." || exit 70
ROOT=$PWD
BIN=$ROOT/bin
QUICK=0
STRICT=
RESULTS=$BIN/bench-results.jsonl

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--strict) STRICT=--strict ;;
	--results) RESULTS=$2; shift ;;
	-h|--help)
		sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0 ;;
	*) echo "run.sh: unknown argument: $1" >&2; exit 64 ;;
	esac
	shift
done

if [ "$QUICK" = 1 ]; then
	ROUNDS=2 BULK_S=1.5 RTT_N=5000 RATE_S=1.5 SCALE=0
else
	ROUNDS=5 BULK_S=4 RTT_N=20000 RATE_S=4 SCALE=500
fi
HOLD=10000
REG_N=50

for b in relay echoserver relaybench relaykey; do
	if [ ! -x "$BIN/$b" ]; then
		echo "run.sh: $BIN/$b is missing: run make first" >&2
		exit 70
	fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/relaybench.XXXXXX") || exit 70
PIDS=()
SCALE_PIDS=()
FAILED=0
START_S=$SECONDS

# Every process we started, by PID; then the temporary directory.
cleanup() {
	local pid
	for pid in "${SCALE_PIDS[@]}" "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${SCALE_PIDS[@]}" "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*" >&2; }
die() {
	say "run.sh: $*"
	local f
	for f in "$T"/*.log "$T"/*.err; do
		[ -s "$f" ] || continue
		say "--- $f"
		tail -n 20 "$f" >&2
	done
	exit 70
}

# wait_for SECS CMD...: poll CMD until it succeeds, or fail after SECS.
wait_for() {
	local limit=$1; shift
	local deadline=$((SECONDS + limit))
	until "$@"; do
		((SECONDS >= deadline)) && return 1
		sleep 0.02
	done
}

file_has() { grep -qE -- "$1" "$2" 2>/dev/null; }

# pss_kib PID: proportional set size (KiB) from smaps_rollup.
pss_kib() {
	awk '/^Pss:/ { s += $2 } END { print s + 0 }' "/proc/$1/smaps_rollup" \
	    2>/dev/null || echo 0
}

# worker_of_port PORT: the relay child holding the tunnel port's listener
# (the others are idle pool workers or other backends' workers).
worker_of_port() {
	local pid
	for pid in $(pgrep -P "$RELAY_PID"); do
		if ss -Htlnp "sport = :$1" 2>/dev/null | grep -q "pid=$pid,"; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}

# A JSON line from the driver itself.
emit() { printf '%s\n' "$1" >>"$RESULTS"; }

# tag CASE ROUND: put the case and round in front of relaybench's fields.
tag() { sed "s/^{/{\"case\":\"$1\",\"round\":$2,/"; }

# run_case CASE ROUND TARGET PORT MODE [OPTIONS]: one relaybench run.
run_case() {
	local cs=$1 round=$2 target=$3 port=$4 out rc
	shift 4
	out=$("$BIN/relaybench" "$@" --label "$target" 127.0.0.1 "$port" \
	    2>>"$T/bench.err")
	rc=$?
	[ -n "$out" ] && printf '%s\n' "$out" | tag "$cs" "$round" >>"$RESULTS"
	if [ "$rc" != 0 ]; then
		FAILED=1
		say "  $cs against $target failed (exit $rc): $out"
		tail -n 3 "$T/bench.err" >&2
	fi
	return 0
}

# ---- set-up ----

# 10,000 clients take 10,000 descriptors in relaybench and in the worker.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt $((HOLD + 200)) ]; then
	HOLD=$((NOFILE - 200))
	say "run.sh: ulimit -n is $NOFILE: holding $HOLD clients, not 10000"
fi

mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS" || exit 70

"$BIN/relaybench" serve --timeout 1800 0 >"$T/serve.out" 2>"$T/serve.err" 3>&- &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
wait_for 10 file_has 'listening on' "$T/serve.out" || die "relaybench serve did not start"
DIRECT_PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$T/serve.out")

# 500 backends registering at once, all from 127.0.0.1, need more than the
# default caps on connections still registering (--max-pending 64, of them
# --max-pending-per-addr 8 from one address).
"$BIN/relay" --max-clients 20000 --max-backends 600 --max-pending 600 \
    --max-pending-per-addr 600 0 >"$T/relay.log" 2>&1 3>&- &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
wait_for 10 file_has 'listening on' "$T/relay.log" || die "the relay did not start"
RELAY_PORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$T/relay.log" | head -n 1)

# The keyed relay: its key, one backend key allowed to register unnamed.
"$BIN/relaykey" generate "$T/relay.key" >"$T/relay.pub" 2>"$T/relaykey.err" &&
    "$BIN/relaykey" generate "$T/backend.key" >"$T/backend.pub" 2>>"$T/relaykey.err" ||
    die "relaykey failed"
RELAY_PUB=$(cat "$T/relay.pub")
cp "$T/backend.pub" "$T/authorized_keys"
"$BIN/relay" --max-clients 20000 --max-backends 600 --max-pending 600 \
    --max-pending-per-addr 600 --key "$T/relay.key" \
    --authorized-keys "$T/authorized_keys" 0 >"$T/relay-noise.log" 2>&1 3>&- &
NOISE_RELAY_PID=$!
PIDS+=("$NOISE_RELAY_PID")
wait_for 10 file_has 'listening on' "$T/relay-noise.log" || die "the keyed relay did not start"
NOISE_PORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$T/relay-noise.log" | head -n 1)
KEY_OPTS=(--key "$T/backend.key" --relay-key "$RELAY_PUB")

# start_echo NAME [PORT [OPTIONS]]: an echoserver; sets ECHO_PID and
# ECHO_TUNNEL (its port).
start_echo() {
	local name=$1 port=${2:-$RELAY_PORT}
	shift 2 2>/dev/null || shift
	"$BIN/echoserver" "$@" 127.0.0.1 "$port" >"$T/$name.out" 2>"$T/$name.err" 3>&- &
	ECHO_PID=$!
	PIDS+=("$ECHO_PID")
	wait_for 10 test -s "$T/$name.out" || die "echoserver $name did not register"
	ECHO_TUNNEL=$(sed -n '1s/.*:\([0-9]*\)$/\1/p' "$T/$name.out")
}
start_echo noise "$NOISE_PORT" "${KEY_OPTS[@]}"
NOISE_TUNNEL=$ECHO_TUNNEL
start_echo echo
TUNNEL_PORT=$ECHO_TUNNEL
ECHO1_PID=$ECHO_PID
WORKER_PID=$(worker_of_port "$TUNNEL_PORT") || die "no worker holds tunnel port $TUNNEL_PORT"

say "relaybench: direct 127.0.0.1:$DIRECT_PORT (pid $SERVE_PID); relay control" \
    "port $RELAY_PORT (pid $RELAY_PID), tunnel 127.0.0.1:$TUNNEL_PORT" \
    "(worker $WORKER_PID, echoserver $ECHO1_PID)"
emit "{\"case\":\"setup\",\"quick\":$QUICK,\"rounds\":$ROUNDS,\"nproc\":$(nproc),\"kernel\":\"$(uname -r)\",\"date\":\"$(date -u +%FT%TZ)\"}"

# ---- throughput, latency, connection rate ----

for round in $(seq 1 "$ROUNDS"); do
	say "round $round of $ROUNDS"
	if ((round % 2)); then order="direct relay noise"; else order="noise relay direct"; fi
	for cs in bulk1 bulk16 rtt64 connrate8; do
		for target in $order; do
			case $target in
			direct) port=$DIRECT_PORT ;;
			relay) port=$TUNNEL_PORT ;;
			noise)
				# Encryption's cost is measured on the bulk cases.
				case $cs in bulk*) ;; *) continue ;; esac
				port=$NOISE_TUNNEL ;;
			esac
			case $cs in
			bulk1) run_case "$cs" "$round" "$target" "$port" \
			    bulk --conns 1 --seconds "$BULK_S" ;;
			bulk16) run_case "$cs" "$round" "$target" "$port" \
			    bulk --conns 16 --seconds "$BULK_S" ;;
			rtt64) run_case "$cs" "$round" "$target" "$port" \
			    rtt --size 64 --count "$RTT_N" ;;
			connrate8) run_case "$cs" "$round" "$target" "$port" \
			    connrate --parallel 8 --seconds "$RATE_S" ;;
			esac
		done
	done
done

# ---- registration latency (a plain yamux client, the pool pre-forked) ----

say "registration: $REG_N samples"
run_case register 1 relay "$RELAY_PORT" register --count "$REG_N" --interval 50
say "registration over an encrypted session: $REG_N samples"
run_case register_noise 1 noise "$NOISE_PORT" register --count "$REG_N" \
    --interval 50 "${KEY_OPTS[@]}"

# ---- memory: idle, then holding HOLD clients through one tunnel ----

# hold_and_measure TARGET PORT PID...: hold HOLD clients on PORT; sets
# IDLE_KIB and BUSY_KIB (the PSS of each PID before and while holding) and
# HELD (how many clients were held and verified).
hold_and_measure() {
	local target=$1 port=$2 pid hp
	shift 2
	IDLE_KIB=() BUSY_KIB=() HELD=0
	for pid in "$@"; do IDLE_KIB+=("$(pss_kib "$pid")"); done
	: >"$T/hold.flag"
	: >"$T/hold-$target.err"
	"$BIN/relaybench" hold --conns "$HOLD" --concurrency 200 --hold-seconds 300 \
	    --until-file "$T/hold.flag" --timeout 120 --label "$target" \
	    127.0.0.1 "$port" >"$T/hold-$target.json" 2>"$T/hold-$target.err" 3>&- &
	hp=$!
	PIDS+=("$hp")
	if wait_for 150 file_has '^relaybench: holding' "$T/hold-$target.err"; then
		sleep 0.5	# let the last echoes leave every buffer
		for pid in "$@"; do BUSY_KIB+=("$(pss_kib "$pid")"); done
	else
		for pid in "$@"; do BUSY_KIB+=(0); done
	fi
	HELD=$(sed -n 's/^relaybench: holding \([0-9]*\) of.*/\1/p' "$T/hold-$target.err")
	HELD=${HELD:-0}
	rm -f "$T/hold.flag"
	if ! wait "$hp"; then
		FAILED=1
		say "  hold against $target failed: $(cat "$T/hold-$target.json")"
		grep -m 3 '^relaybench: connection' "$T/hold-$target.err" >&2
	fi
	tag hold 1 <"$T/hold-$target.json" >>"$RESULTS"
}

say "memory: a fresh backend idle, then $HOLD clients held through its tunnel"
start_echo mem
MEM_ECHO_PID=$ECHO_PID
MEM_PORT=$ECHO_TUNNEL
MEM_WORKER=$(worker_of_port "$MEM_PORT") || die "no worker holds tunnel port $MEM_PORT"
sleep 0.2
W_TRAFFIC=$(pss_kib "$WORKER_PID")
hold_and_measure relay "$MEM_PORT" "$RELAY_PID" "$MEM_WORKER" "$MEM_ECHO_PID"
emit "{\"case\":\"mem\",\"target\":\"relay\",\"master_idle_kib\":${IDLE_KIB[0]},\"worker_idle_kib\":${IDLE_KIB[1]},\"echoserver_idle_kib\":${IDLE_KIB[2]},\"master_hold_kib\":${BUSY_KIB[0]},\"worker_hold_kib\":${BUSY_KIB[1]},\"echoserver_hold_kib\":${BUSY_KIB[2]},\"worker_after_traffic_kib\":$W_TRAFFIC,\"clients\":$HELD,\"want_clients\":$HOLD}"
hold_and_measure direct "$DIRECT_PORT" "$SERVE_PID"
emit "{\"case\":\"mem\",\"target\":\"direct\",\"idle_kib\":${IDLE_KIB[0]},\"hold_kib\":${BUSY_KIB[0]},\"clients\":$HELD,\"want_clients\":$HOLD}"
kill "$MEM_ECHO_PID" 2>/dev/null

# ---- scale: SCALE backends registered at once, each echoing ----

if [ "$SCALE" -gt 0 ]; then
	say "scale: $SCALE backends at once, encrypted (keys)"
	mkdir -p "$T/scale"
	t0=$(date +%s%N)
	for i in $(seq 1 "$SCALE"); do
		"$BIN/echoserver" --no-reconnect "${KEY_OPTS[@]}" 127.0.0.1 \
		    "$NOISE_PORT" >"$T/scale/$i.out" 2>"$T/scale/$i.err" 3>&- &
		SCALE_PIDS+=($!)
	done
	all_registered() {
		local n
		n=$(find "$T/scale" -name '*.out' -size +0 | wc -l)
		[ "$n" -ge "$SCALE" ]
	}
	wait_for 120 all_registered
	t1=$(date +%s%N)
	registered=$(find "$T/scale" -name '*.out' -size +0 | wc -l)
	# Every registered backend echoes, 16 at a time.
	for f in "$T"/scale/*.out; do
		[ -s "$f" ] && sed -n '1s/.*:\([0-9]*\)$/\1/p' "$f"
	done >"$T/scale.ports"
	echoed=$(xargs -P 16 -I{} sh -c '"$1" connrate --count 1 --parallel 1 \
	    --size 1000 --timeout 20 -q 127.0.0.1 "$2" >/dev/null && echo ok' \
	    sh "$BIN/relaybench" {} <"$T/scale.ports" | grep -c ok)
	workers=0 wsum=0
	for pid in $(pgrep -P "$NOISE_RELAY_PID"); do
		workers=$((workers + 1))
		wsum=$((wsum + $(pss_kib "$pid")))
	done
	emit "{\"case\":\"scale\",\"target\":\"relay\",\"backends\":$SCALE,\"registered\":$registered,\"echoed\":$echoed,\"register_all_s\":$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'),\"workers\":$workers,\"worker_pss_avg_kib\":$((workers ? wsum / workers : 0)),\"master_kib\":$(pss_kib "$NOISE_RELAY_PID"),\"encrypted\":1}"
	[ "$registered" -eq "$SCALE" ] && [ "$echoed" -eq "$SCALE" ] || {
		FAILED=1
		say "  scale: $registered of $SCALE registered, $echoed echoed"
	}
	for pid in "${SCALE_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${SCALE_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	SCALE_PIDS=()
fi

# ---- report ----

emit "{\"case\":\"end\",\"seconds\":$((SECONDS - START_S)),\"failed\":$FAILED}"
python3 "$ROOT/tests/bench/report.py" $STRICT "$RESULTS"
rc=$?
say "results: $RESULTS ($((SECONDS - START_S)) s)"
[ "$FAILED" = 1 ] && exit 1
exit "$rc"
