#!/usr/bin/env bash
# `make bench-wan`: the relay against direct TCP over an emulated WAN link.
#
#   tests/wan/bench.sh [--quick] [--results FILE] [--loss "0 0.1"]
#
# For each loss rate, a fresh lab (tests/wan/lab.sh): 25 ms each way
# (50 ms round trip), 200 Mbit/s each way, a one-BDP drop-tail queue.  In
# "far": the direct echo server (relaybench serve) and the backends; in
# "near": the relays and every client.  So direct and tunnelled traffic
# cross the link the same number of times.  Targets:
#   direct     relaybench serve in far, reached across the link
#   relay      bin/relay on its defaults, echoserver registered across it
#   relay-noise  the same over an encrypted session (relay --key and
#              --authorized-keys, echoserver --key and --relay-key)
#   go-yamux   hashicorp/yamux (bin/interop/yamux_relay and yamux_backend),
#              when built and nft is there (its relay binds 127.0.0.1 only)
# Each round runs every case against every target, the order rotating:
#   bulk1       bulk echo, 1 connection
#   bulk8       bulk echo, 8 connections
#   rtt_idle    64 B ping-pong on an otherwise idle link (all targets at
#               once: a few hundred bytes per round trip do not load it)
#   rtt_loaded  64 B ping-pong beside 4 bulk connections to the same
#               target (through the same tunnel, so the same session)
# then records the peak RSS (VmHWM) of the relay workers, the backends and
# the direct server, and the link's own counters.  relaybench verifies
# every echoed byte; a run that does not get them all back (a stall ends
# in its --timeout) is a failure, reported as such, never averaged.
# JSON lines go to the results file (default bin/wan-results.jsonl); the
# tables are printed by tests/wan/report.py.
#
# Exit status: 0 every run verified, 1 a run failed, 70 set-up failed,
# 77 the lab cannot be made here (the reason is printed).
set -u

cd "$(dirname "$0")/../.." || exit 70
ROOT=$PWD
BIN=$ROOT/bin
QUICK=0
RESULTS=$BIN/wan-results.jsonl
LOSSES="0 0.1"

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--results) RESULTS=$2; shift ;;
	--loss) LOSSES=$2; shift ;;
	-h|--help)
		sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0 ;;
	*) echo "bench.sh: unknown argument: $1" >&2; exit 64 ;;
	esac
	shift
done

DELAY_MS=25
RATE=200M
if [ "$QUICK" = 1 ]; then
	ROUNDS=1 BULK_S=3 IDLE_N=40 LOADED_S=3
else
	ROUNDS=3 BULK_S=10 IDLE_N=150 LOADED_S=6
fi

. "$ROOT/tests/wan/lab.sh"

for b in relay echoserver relaybench relaykey wanlink; do
	if [ ! -x "$BIN/$b" ]; then
		echo "bench.sh: $BIN/$b is missing: run make first" >&2
		exit 70
	fi
done
if ! why=$(wanlab_check); then
	echo "bench.sh: skipped: $why"
	exit 77
fi

START_S=$SECONDS
FAILED=0
trap 'wanlab_down >/dev/null 2>&1' EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*" >&2; }
die() {
	say "bench.sh: $*"
	local f
	for f in "$WANLAB_DIR"/*.err; do
		[ -s "$f" ] || continue
		say "--- $f"
		tail -n 10 "$f" >&2
	done
	exit 70
}
emit() { printf '%s\n' "$1" >>"$RESULTS"; }
# tag CASE ROUND: the case, round and loss before relaybench's own fields
# (its "label" names the target, its "target" is the address).
tag() {
	sed "s/^{/{\"case\":\"$1\",\"round\":$2,\"loss\":$LOSS,/"
}
port_of() { sed -n "${2:-1}s/.*:\([0-9]*\)\$/\1/p" "$1" | head -n 1; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# The relay's child holding the tunnel port's listener: its worker.
worker_of() {
	local relay=$1 port=$2 pid
	for pid in $(pgrep -P "$relay"); do
		if wanlab_near ss -Htlnp "sport = :$port" 2>/dev/null |
		    grep -q "pid=$pid,"; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}

# run CASE ROUND TARGET MODE [OPTIONS]: one relaybench run from near.
run() {
	local cs=$1 round=$2 target=$3 out rc
	shift 3
	out=$(wanlab_near "$BIN/relaybench" "$@" --label "$target" \
	    "${HOST[$target]}" "${PORT[$target]}" 2>>"$WANLAB_DIR/bench.err")
	rc=$?
	if [ -n "$out" ]; then
		printf '%s\n' "$out" | tag "$cs" "$round" >>"$RESULTS"
	else
		emit "{\"case\":\"$cs\",\"round\":$round,\"loss\":$LOSS,\"label\":\"$target\",\"errors\":1,\"failures\":{\"no_output\":1}}"
	fi
	if [ "$rc" != 0 ]; then
		FAILED=1
		say "  FAILED: $cs against $target (exit $rc): $out"
		tail -n 3 "$WANLAB_DIR/bench.err" >&2
	fi
	return 0
}

# rtt_loaded ROUND TARGET: 4 bulk connections and, beside them, the
# ping-pong, to the same target.
rtt_loaded() {
	local round=$1 target=$2 bp brc
	wanlab_near "$BIN/relaybench" bulk --conns 4 \
	    --seconds $((LOADED_S + 1)) --timeout $((LOADED_S * 4 + 60)) \
	    --label "$target" "${HOST[$target]}" "${PORT[$target]}" \
	    >"$WANLAB_DIR/load.json" 2>>"$WANLAB_DIR/bench.err" 3>&- &
	bp=$!
	# Two round trips unmeasured (connection set-up); not more: beside a
	# deep queue one round trip may take most of a second.
	run rtt_loaded "$round" "$target" rtt --size 64 --count 100000 \
	    --warmup 2 --seconds "$LOADED_S" --timeout $((LOADED_S * 4 + 30))
	wait "$bp"
	brc=$?
	tag rtt_loaded_bulk "$round" <"$WANLAB_DIR/load.json" \
	    >>"$RESULTS"
	if [ "$brc" != 0 ]; then
		FAILED=1
		say "  FAILED: the load beside rtt_loaded against $target" \
		    "(exit $brc): $(cat "$WANLAB_DIR/load.json")"
	fi
}

# rtt_idle ROUND: every target's ping-pong at once, each on its own
# connection: together they send a few hundred bytes per 50 ms.
rtt_idle() {
	local round=$1 t pids=() i=0 rc
	for t in "${TARGETS[@]}"; do
		wanlab_near "$BIN/relaybench" rtt --size 64 --count "$IDLE_N" \
		    --warmup 3 --timeout $((IDLE_N / 10 + 60)) --label "$t" \
		    "${HOST[$t]}" "${PORT[$t]}" >"$WANLAB_DIR/idle-$t.json" \
		    2>>"$WANLAB_DIR/bench.err" 3>&- &
		pids+=($!)
	done
	for t in "${TARGETS[@]}"; do
		wait "${pids[$i]}"
		rc=$?
		i=$((i + 1))
		tag rtt_idle "$round" <"$WANLAB_DIR/idle-$t.json" >>"$RESULTS"
		if [ "$rc" != 0 ]; then
			FAILED=1
			say "  FAILED: rtt_idle against $t (exit $rc)"
		fi
	done
}

steal_ticks() { awk '/^cpu / { print $9 + 0, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }

# ---- one lab per loss rate ----

mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS" || exit 70
emit "{\"case\":\"bench\",\"quick\":$QUICK,\"rounds\":$ROUNDS,\"bulk_s\":$BULK_S,\"idle_n\":$IDLE_N,\"loaded_s\":$LOADED_S,\"date\":\"$(date -u +%FT%TZ)\"}"

for LOSS in $LOSSES; do
	say "== loss $LOSS %: setting up the lab"
	wanlab_up --delay "$DELAY_MS" --rate "$RATE" --loss "$LOSS" --seed 1 ||
	    die "could not make the lab"
	declare -A HOST PORT PROC
	TARGETS=(direct relay relay-noise)

	wanlab_spawn far serve "$BIN/relaybench" serve --listen "$WANLAB_FAR_IP" \
	    --timeout 3600 0
	PROC[direct]=$WANLAB_PID
	wanlab_wait 10 grep -qs 'listening on' "$WANLAB_DIR/serve.out" ||
	    die "relaybench serve did not start"
	HOST[direct]=$WANLAB_FAR_IP PORT[direct]=$(port_of "$WANLAB_DIR/serve.out")

	# start_relay NAME [OPTIONS]: a relay in near and an echoserver in far
	# registered with it across the link (echoserver options: ECHO_OPTS).
	start_relay() {
		local name=$1 cport
		shift
		wanlab_spawn near "$name-relay" "$BIN/relay" --listen "$WANLAB_NEAR_IP" \
		    "$@" 0
		RELAY_PID=$WANLAB_PID
		wanlab_wait 10 grep -qs 'listening on' "$WANLAB_DIR/$name-relay.err" ||
		    die "relay $name did not start"
		cport=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' \
		    "$WANLAB_DIR/$name-relay.err" | head -n 1)
		wanlab_spawn far "$name-echo" "$BIN/echoserver" ${ECHO_OPTS:-} \
		    "$WANLAB_NEAR_IP" "$cport"
		PROC[$name-echo]=$WANLAB_PID
		wanlab_wait 15 test -s "$WANLAB_DIR/$name-echo.out" ||
		    die "echoserver $name did not register"
		HOST[$name]=$WANLAB_NEAR_IP
		PORT[$name]=$(port_of "$WANLAB_DIR/$name-echo.out")
		PROC[$name]=$(worker_of "$RELAY_PID" "${PORT[$name]}") ||
		    die "no worker holds tunnel port ${PORT[$name]}"
	}
	ECHO_OPTS= start_relay relay
	"$BIN/relaykey" generate "$WANLAB_DIR/relay.key" >"$WANLAB_DIR/relay.pub" &&
	    "$BIN/relaykey" generate "$WANLAB_DIR/echo.key" \
	    >"$WANLAB_DIR/authorized_keys" || die "relaykey failed"
	ECHO_OPTS="--key $WANLAB_DIR/echo.key --relay-key $(cat "$WANLAB_DIR/relay.pub")" \
	    start_relay relay-noise --key "$WANLAB_DIR/relay.key" \
	    --authorized-keys "$WANLAB_DIR/authorized_keys"

	GO_SKIP=
	if [ ! -x "$BIN/interop/yamux_relay" ] || [ ! -x "$BIN/interop/yamux_backend" ]; then
		GO_SKIP="bin/interop is not built (make -C /work/shared/interop OUT=\$PWD/bin/interop)"
	elif ! command -v nft >/dev/null 2>&1; then
		GO_SKIP="nft is missing (apt-get install nftables): the Go relay binds 127.0.0.1 only"
	else
		# Its tunnel ports are the next 20 after the control port.
		gport=$(wanlab_near python3 -c '
import socket
for base in range(20000, 30000, 21):
    try:
        ss = []
        for p in range(base, base + 21):
            s = socket.socket(); s.bind(("127.0.0.1", p)); ss.append(s)
        print(base); break
    except OSError:
        pass
')
		wanlab_spawn near go-relay "$BIN/interop/yamux_relay" -buf 0 "$gport"
		PROC[go-relay]=$WANLAB_PID
		if ! wanlab_wait 10 grep -qs 'control port' "$WANLAB_DIR/go-relay.err"; then
			GO_SKIP="yamux_relay did not start: $(tail -n 1 "$WANLAB_DIR/go-relay.err")"
		elif ! wanlab_forward_local "$gport"; then
			GO_SKIP="could not forward far's connections to 127.0.0.1:$gport (nft)"
		else
			wanlab_spawn far go-echo "$BIN/interop/yamux_backend" -buf 0 \
			    "$WANLAB_NEAR_IP" "$gport"
			PROC[go-echo]=$WANLAB_PID
			if wanlab_wait 15 test -s "$WANLAB_DIR/go-echo.out"; then
				HOST[go-yamux]=127.0.0.1
				PORT[go-yamux]=$(port_of "$WANLAB_DIR/go-echo.out")
				PROC[go-yamux]=${PROC[go-relay]}
				TARGETS+=(go-yamux)
			else
				GO_SKIP="yamux_backend did not register: $(tail -n 1 "$WANLAB_DIR/go-echo.err")"
			fi
		fi
	fi
	[ -n "$GO_SKIP" ] && say "  no go-yamux rows: $GO_SKIP"

	ping=
	if command -v ping >/dev/null 2>&1; then
		ping=$(wanlab_near ping -n -q -c 20 -i 0.05 "$WANLAB_FAR_IP" |
		    sed -n 's/^rtt [^=]*= \([0-9.\/]*\).*/\1/p')
	fi
	info=$(wanlab_info)
	field() { printf '%s\n' "$info" | sed -n "s/^$1: //p"; }
	emit "{\"case\":\"lab\",\"loss\":$LOSS,\"kernel\":\"$(field kernel)\",\"cpu\":\"$(field cpu)\",\"link\":\"$(field link)\",\"addresses\":\"$(field addresses)\",\"cc\":\"$(field congestion_control)\",\"tcp_rmem\":\"$(field tcp_rmem)\",\"tcp_wmem\":\"$(field tcp_wmem)\",\"host_cc\":\"$(field host_congestion_control)\",\"host_allowed_cc\":\"$(field host_allowed_congestion_control)\",\"ping_min_avg_max_mdev_ms\":\"$ping\",\"targets\":\"${TARGETS[*]}\",\"go_skip\":\"$GO_SKIP\"}"
	say "  targets: ${TARGETS[*]}; ping min/avg/max/mdev ${ping:-n/a} ms"

	read -r steal0 total0 < <(steal_ticks)
	stats0=$(wanlab_stats)
	for round in $(seq 1 "$ROUNDS"); do
		say "  round $round of $ROUNDS ($((SECONDS - START_S)) s)"
		n=${#TARGETS[@]}
		order=()
		for i in $(seq 0 $((n - 1))); do
			order+=("${TARGETS[$(((i + round - 1) % n))]}")
		done
		for t in "${order[@]}"; do
			run bulk1 "$round" "$t" bulk --conns 1 --seconds "$BULK_S" \
			    --timeout $((BULK_S * 4 + 60))
		done
		for t in "${order[@]}"; do
			run bulk8 "$round" "$t" bulk --conns 8 --seconds "$BULK_S" \
			    --timeout $((BULK_S * 4 + 60))
		done
		rtt_idle "$round"
		for t in "${order[@]}"; do
			rtt_loaded "$round" "$t"
		done
	done
	read -r steal1 total1 < <(steal_ticks)
	stats1=$(wanlab_stats)

	# Peak RSS of what served the runs.
	mem="{\"case\":\"mem\",\"loss\":$LOSS"
	for k in direct relay relay-echo relay-noise relay-noise-echo go-yamux go-echo; do
		[ -n "${PROC[$k]:-}" ] && mem+=",\"$k\":$(hwm_kib "${PROC[$k]}")"
	done
	emit "$mem}"
	link="{\"case\":\"link\",\"loss\":$LOSS,\"steal_pct\":$(awk -v a="$steal0" -v b="$steal1" -v c="$total0" -v d="$total1" 'BEGIN { printf "%.1f", (d > c) ? 100 * (b - a) / (d - c) : 0 }')"
	for d in ab ba; do
		for k in forwarded lost queue_dropped overflow errors; do
			a=$(wanlab_stat "$d" "$k" "$stats0")
			b=$(wanlab_stat "$d" "$k" "$stats1")
			link+=",\"${d}_$k\":$((${b:-0} - ${a:-0}))"
		done
		for k in late_p50_us late_p99_us late_max_us cpu_s; do
			link+=",\"${d}_$k\":$(wanlab_stat "$d" "$k" "$stats1")"
		done
	done
	wall=$(sed -n 's/.*wall_s=\([0-9.]*\).*/\1/p' <<<"$stats1")
	link+=",\"wall_s\":${wall:-0}"
	down=$(wanlab_down)
	for ns in near far; do
		drops=$(sed -n "s/^wanlab-.*-$ns tx_dropped=//p" <<<"$down")
		link+=",\"${ns}_tun_tx_dropped\":${drops:-null}"
	done
	emit "$link}"
	unset HOST PORT PROC
done

emit "{\"case\":\"end\",\"seconds\":$((SECONDS - START_S)),\"failed\":$FAILED}"
python3 "$ROOT/tests/wan/report.py" "$RESULTS"
rc=$?
say "results: $RESULTS ($((SECONDS - START_S)) s)"
[ "$FAILED" = 1 ] && exit 1
exit "$rc"
