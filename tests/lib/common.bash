# Shared helpers of the bats tests: start the real binaries on loopback with
# free ports, wait on log lines or files with deadlines (never bare sleeps),
# and clean up every process a test started, by PID, even on failure.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${RELAY_TEST_BIN:-$ROOT/bin}"
PY="$ROOT/tests/lib/tcpclient.py"
PIDS=()

# wait_until TIMEOUT_S CMD...: poll CMD until it succeeds or time runs out.
wait_until() {
	local limit=$1; shift
	local deadline=$((SECONDS + limit))
	until "$@"; do
		if ((SECONDS >= deadline)); then
			echo "timed out after ${limit}s waiting for: $*" >&2
			return 1
		fi
		sleep 0.05
	done
}

# track PID: remember a process to end in teardown.
track() { PIDS+=("$1"); }

# start_relay [OPTIONS]: relay on port 0 with any free tunnel port; sets
# RELAY_PID, RELAY_LOG, RELAY_PORT.
start_relay() {
	RELAY_LOG="$BATS_TEST_TMPDIR/relay.log"
	: >"$RELAY_LOG"
	"$BIN/relay" "$@" 0 >>"$RELAY_LOG" 2>&1 3>&- &
	RELAY_PID=$!
	track "$RELAY_PID"
	wait_until 10 grep -q 'listening on' "$RELAY_LOG" || {
		cat "$RELAY_LOG" >&2
		return 1
	}
	RELAY_PORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$RELAY_LOG" | head -n 1)
	[ -n "$RELAY_PORT" ]
}

# start_relay_port PORT [OPTIONS]: the same on a given control port.
start_relay_port() {
	local port=$1; shift
	RELAY_LOG="$BATS_TEST_TMPDIR/relay.log"
	: >"$RELAY_LOG"
	"$BIN/relay" "$@" "$port" >>"$RELAY_LOG" 2>&1 3>&- &
	RELAY_PID=$!
	track "$RELAY_PID"
	wait_until 10 grep -q 'listening on' "$RELAY_LOG" || {
		cat "$RELAY_LOG" >&2
		return 1
	}
	RELAY_PORT=$port
}

# start_backend NAME CMD...: run a backend whose first stdout line is the
# tunnel address; sets BACKEND_PID, TUNNEL_HOST, TUNNEL_PORT and
# NAME_PID/NAME_PORT style variables through the files in BATS_TEST_TMPDIR.
start_backend() {
	local name=$1; shift
	local out="$BATS_TEST_TMPDIR/$name.out" err="$BATS_TEST_TMPDIR/$name.err"
	: >"$out"
	"$@" >"$out" 2>"$err" 3>&- &
	BACKEND_PID=$!
	track "$BACKEND_PID"
	wait_until 10 test -s "$out" || {
		cat "$err" >&2
		return 1
	}
	local addr
	addr=$(head -n 1 "$out")
	TUNNEL_HOST=${addr%:*}
	TUNNEL_PORT=${addr##*:}
	TUNNEL_HOST=${TUNNEL_HOST#[}
	TUNNEL_HOST=${TUNNEL_HOST%]}
	echo "$BACKEND_PID" >"$BATS_TEST_TMPDIR/$name.pid"
	echo "$TUNNEL_PORT" >"$BATS_TEST_TMPDIR/$name.port"
}

start_echoserver() {
	start_backend "${ECHO_NAME:-echo}" "$BIN/echoserver" "$@" 127.0.0.1 "$RELAY_PORT"
}

# port_is_free PORT: nobody listens on 127.0.0.1:PORT.
port_is_free() {
	! (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
port_is_open() {
	(exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A free port to use for a test's own listener.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Worker PIDs of the relay (children of the master).
relay_children() {
	pgrep -P "$RELAY_PID" || true
}

# Idle workers have no tunnel: the worker of a backend is the one holding
# the tunnel port's listener.
worker_of_port() {
	local port=$1 pid
	for pid in $(relay_children); do
		if ss -Htlnp "sport = :$port" 2>/dev/null | grep -q "pid=$pid,"; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}

alive() { kill -0 "$1" 2>/dev/null; }
dead() { ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]; }

echo_check() {
	python3 "$PY" echo "${TUNNEL_HOST:-127.0.0.1}" "$TUNNEL_PORT" "$@"
}

# stop_all: end every process this test started.
stop_all() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -CONT "$pid" 2>/dev/null || true
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait_until 5 dead "$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
	done
	PIDS=()
}

common_teardown() {
	stop_all
	if [ -n "${BATS_TEST_COMPLETED:-}" ] && [ "$BATS_TEST_COMPLETED" = 1 ]; then
		return 0
	fi
	# On failure: show what the daemons said.
	local f
	for f in "$BATS_TEST_TMPDIR"/*.log "$BATS_TEST_TMPDIR"/*.err; do
		[ -e "$f" ] || continue
		echo "--- $f" >&3
		tail -n 40 "$f" >&3
	done
}

# ---- helpers of faults.bats, datapath.bats and interop.bats ----

# field WORD TEXT: the word after WORD in TEXT ("local 1.2.3.4:5" -> ...).
field() {
	local rest=${2#*"$1 "}
	echo "${rest%% *}"
}

# seconds_between LO HI SECS: LO <= SECS < HI (decimals allowed).
seconds_between() {
	python3 -c 'import sys; lo, hi, s = map(float, sys.argv[1:]); sys.exit(not lo <= s < hi)' "$@"
}

# pool_is N: the master has exactly N children (idle pool + one worker per
# registered backend).
pool_is() { [ "$(relay_children | wc -l)" -eq "$1" ]; }

# pool_between LO HI: the master has between LO and HI children.
pool_between() {
	local n
	n=$(relay_children | wc -l)
	[ "$n" -ge "$1" ] && [ "$n" -le "$2" ]
}

# file_has PATTERN FILE: grep -E, quietly (for wait_until).
file_has() { grep -qE -- "$1" "$2" 2>/dev/null; }

# all_dead PID...: none of the PIDs is alive (zombies count as dead).
all_dead() {
	local pid
	for pid in "$@"; do
		dead "$pid" || return 1
	done
}

# vm_rss_kb PID: resident set size of PID in KiB.
vm_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# bg_client NAME MODE ARGS...: run tcpclient.py in the background; its
# stdout/stderr go to NAME.out/NAME.err.  Sets BG_PID (the python process
# itself, so teardown ends it); once it is dead, `wait $BG_PID` gives its
# exit status.
bg_client() {
	local name=$1; shift
	python3 "$PY" "$@" >"$BATS_TEST_TMPDIR/$name.out" \
	    2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	BG_PID=$!
	track "$BG_PID"
}

# free_port_block N: a port P such that P..P+N are all free now (below the
# ephemeral range, so outgoing connections do not take them meanwhile).
free_port_block() {
	python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randrange(20000, 32000 - n)
    socks = []
    try:
        for p in range(base, base + n + 1):
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    sys.exit(0)
sys.exit(1)
PY
}

# lines_at_least FILE N: FILE has at least N lines (for wait_until).
lines_at_least() {
	[ -e "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]
}

# count_is N PATTERN FILE: FILE has exactly N lines matching PATTERN
# (grep -E), evaluated at each poll of wait_until.
count_is() { [ "$(grep -cE -- "$2" "$3" 2>/dev/null)" -eq "$1" ]; }

# ---- helpers of stats.bats ----

# The stats ABI version the programs under test were built with.
STATS_ABI=$(sed -n 's/^#define STATS_ABI_VERSION[[:space:]]*\([0-9]*\).*/\1/p' "$ROOT/include/stats_abi.h")

# make_segment PATH PID [ABI]: a stats segment by hand, for the foreign-
# segment cases: a header naming PID as its master, with ABI (default the
# current one) and the row sizes of include/stats_abi.h (header 128, backend
# row 384, client row 128 bytes), one backend slot, one client row.
make_segment() {
	python3 - "$1" "$2" "${3:-$STATS_ABI}" <<'PY'
import struct, sys, time
path, pid, abi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
hdr = struct.pack("<QIIIIIIqqII4Q", 0x3154535959414c52, abi, 128, 384, 128,
                  1, 1, pid, int(time.time()), 1, 0, 0, 0, 0, 0)
hdr += bytes(128 - len(hdr))
with open(path, "wb") as f:
    f.write(hdr + bytes(384 + 128))
PY
}

STATSFLAT="$ROOT/tests/lib/statsflat.py"

# stats_snap: one `relaystat --json` of the relay into $BATS_TEST_TMPDIR/
# stats.json, flattened by statsflat.py into $SNAP (one line per row:
# "relay k=v...", "backend k=v...", "client k=v...").
stats_snap() {
	SNAP="$BATS_TEST_TMPDIR/stats.flat"
	"$BIN/relaystat" --json "$RELAY_PORT" >"$BATS_TEST_TMPDIR/stats.json" &&
	    python3 "$STATSFLAT" "$BATS_TEST_TMPDIR/stats.json" >"$SNAP"
}

# snap_rows KIND [K=V...]: how many KIND lines of $SNAP have all the K=V.
snap_rows() {
	local kind=$1; shift
	awk -v kind="$kind" -v sel="$*" '
	    BEGIN { n = split(sel, want, " ") }
	    $1 == kind {
		for (i = 1; i <= n; i++) {
			ok = 0
			for (j = 2; j <= NF; j++)
				if ($j == want[i]) { ok = 1; break }
			if (!ok) next
		}
		count++
	    }
	    END { print count + 0 }' "$SNAP"
}

# snap_get KIND [K=V...] KEY: KEY's value on the one KIND line with all the
# K=V; fails (printing nothing) unless exactly one line matches.
snap_get() {
	local kind=$1 key=${*: -1}
	local sel=("${@:2:$#-2}")
	[ "$(snap_rows "$kind" "${sel[@]}")" -eq 1 ] || return 1
	awk -v kind="$kind" -v sel="${sel[*]}" -v key="$key" '
	    BEGIN { n = split(sel, want, " ") }
	    $1 == kind {
		for (i = 1; i <= n; i++) {
			ok = 0
			for (j = 2; j <= NF; j++)
				if ($j == want[i]) { ok = 1; break }
			if (!ok) next
		}
		for (j = 2; j <= NF; j++)
			if (index($j, key "=") == 1)
				print substr($j, length(key) + 2)
	    }' "$SNAP"
}

# snap_is KIND [K=V...] KEY VALUE: a fresh snapshot where KEY is VALUE
# (for wait_until).
snap_is() {
	local want=${*: -1}
	stats_snap && [ "$(snap_get "${@:1:$#-1}")" = "$want" ]
}

# snap_count_is N KIND [K=V...]: a fresh snapshot with N such lines.
snap_count_is() {
	local n=$1; shift
	stats_snap && [ "$(snap_rows "$@")" -eq "$n" ]
}

# hold_client NAME PORT BYTES: a background client that echoes BYTES
# through 127.0.0.1:PORT and then stays connected; once NAME.ready exists it
# holds the client's local address.  Sets BG_PID.
hold_client() {
	bg_client "$1" hold-after-echo 127.0.0.1 "$2" --bytes "$3" \
	    --ready-file "$BATS_TEST_TMPDIR/$1.ready"
}

# ready_addr NAME: the local address a hold_client wrote.
ready_addr() { cat "$BATS_TEST_TMPDIR/$1.ready"; }
