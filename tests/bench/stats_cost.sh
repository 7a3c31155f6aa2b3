#!/usr/bin/env bash
# What the shared-memory counters cost: the relay against the same relay
# built with -DRELAY_NO_STATS (bin/nostats/relay), bulk echo with 1 and 16
# connections, alternating, medians of several rounds.
#
#   tests/bench/stats_cost.sh [--quick] [--results FILE]
#
# Prints one line per case: MiB/s with and without counters and how much
# faster the build without them is (the target: at most 2%).
set -u
cd "$(dirname "$0")/../.." || exit 70
BIN=$PWD/bin
ROUNDS=5 SECS=3
RESULTS=$BIN/bench-results.jsonl
while [ $# -gt 0 ]; do
	case $1 in
	--quick) ROUNDS=2 SECS=1.5 ;;
	--results) RESULTS=$2; shift ;;
	*) echo "stats_cost.sh: unknown argument: $1" >&2; exit 64 ;;
	esac
	shift
done
for b in "$BIN/relay" "$BIN/nostats/relay" "$BIN/echoserver" "$BIN/relaybench"; do
	[ -x "$b" ] || { echo "stats_cost.sh: $b is missing: run make bench" >&2; exit 70; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/statscost.XXXXXX") || exit 70
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for FILE PATTERN: up to 10 s.
wait_for() {
	local i
	for i in $(seq 200); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "stats_cost.sh: timed out waiting for '$2' in $1" >&2
	return 1
}

# start NAME RELAYBIN: a relay and an echoserver; sets TUN_NAME.
start() {
	local name=$1 relay=$2 port tun
	"$relay" 0 >"$T/$name.relay.log" 2>&1 &
	PIDS+=($!)
	wait_for "$T/$name.relay.log" 'listening on' || exit 70
	port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$T/$name.relay.log")
	"$BIN/echoserver" -q 127.0.0.1 "$port" >"$T/$name.echo.out" 2>&1 &
	PIDS+=($!)
	wait_for "$T/$name.echo.out" ':' || exit 70
	tun=$(head -n 1 "$T/$name.echo.out")
	eval "TUN_$name=\$tun"
}
start stats "$BIN/relay"
start nostats "$BIN/nostats/relay"

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

for conns in 1 16; do
	: >"$T/stats.$conns" ; : >"$T/nostats.$conns"
	for r in $(seq "$ROUNDS"); do
		order="stats nostats"
		[ $((r % 2)) = 0 ] && order="nostats stats"
		for which in $order; do
			eval "tun=\$TUN_$which"
			out=$("$BIN/relaybench" bulk --conns "$conns" --seconds "$SECS" \
			    --label "$which" "${tun%:*}" "${tun##*:}") || {
				echo "stats_cost.sh: bulk through $which failed" >&2
				exit 1
			}
			echo "$out" >>"$RESULTS"
			echo "$out" | sed -n 's/.*"mib_per_s":\([0-9.]*\).*/\1/p' >>"$T/$which.$conns"
		done
	done
	with=$(median <"$T/stats.$conns")
	without=$(median <"$T/nostats.$conns")
	awk -v c="$conns" -v a="$with" -v b="$without" -v r="$ROUNDS" 'BEGIN {
		d = (b / a - 1) * 100
		printf "bulk echo, %d connection%s [%d rounds]: %.1f MiB/s with counters, %.1f without: %+.1f%% %s\n",
		    c, c == 1 ? "" : "s", r, a, b, d, d <= 2 ? "(target <= +2%: met)" : "(target <= +2%: NOT met)"
	}'
done
