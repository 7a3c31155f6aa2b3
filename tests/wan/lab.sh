#!/usr/bin/env bash
# The WAN lab: two network namespaces, "near" and "far", joined by
# bin/wanlink through a TUN device in each, so that everything between them
# crosses an emulated long, fat, lossy link.  See docs/WANLAB.md.
#
# As a library (source it; functions and variables start with wanlab_ /
# WANLAB_):
#   wanlab_check                 can a lab be made here?  If not, prints why
#                                on stdout (for bats' skip) and returns 1
#   wanlab_up [WANLINK OPTIONS]  make a lab; the options go to wanlink
#                                (e.g. --delay 25 --rate 200M --loss 0.1)
#   wanlab_near CMD... / wanlab_far CMD...
#                                run CMD in that namespace (foreground)
#   wanlab_spawn near|far NAME CMD...
#                                run CMD in the background there, output to
#                                $WANLAB_DIR/NAME.out and NAME.err; sets
#                                WANLAB_PID; ended by wanlab_down
#   wanlab_wait SECS CMD...      poll CMD until it succeeds or SECS pass
#   wanlab_stats                 the link's counters now (one line per
#                                direction, from wanlink on SIGUSR1)
#   wanlab_info                  the lab's parameters, one "key: value" a line
#   wanlab_down                  end every process, the link, the namespaces
# After wanlab_up: WANLAB_NEAR, WANLAB_FAR (namespace names), WANLAB_NEAR_IP
# and WANLAB_FAR_IP (their addresses), WANLAB_DIR (logs; removed by
# wanlab_down unless WANLAB_KEEP=1), WANLAB_WANLINK_PID.
#
# Settings, from the environment:
#   WANLAB_MAX_SECONDS  the lab's lifetime bound (default 1200)
#   WANLAB_OWNER        a PID: the lab ends when it exits (default $BASHPID,
#                       the shell that calls wanlab_up)
#   WANLAB_CC           TCP congestion control to set in both namespaces
#                       (default: keep what a new namespace inherits)
#   WANLAB_REALTIME     1 (default): wanlink runs under SCHED_FIFO, so
#                       other work on the machine does not delay its
#                       releases; 0: an ordinary process
#
# Clean-up never depends on the caller behaving: a keeper process holds
# wanlink in the foreground and, however wanlink ends (wanlab_down, its
# owner exiting -- even by SIGKILL --, --max-seconds, a crash), kills what
# runs in the namespaces and deletes them.  wanlab_up also removes labs
# left by owners that no longer exist.
#
# As a command:
#   bash tests/wan/lab.sh check [--loss PCT] [--seconds S]
#       makes a 50 ms / 200 Mbit/s lab and verifies it: ping RTT, a plain
#       TCP bulk echo across it, the loss counters
#   bash tests/wan/lab.sh reap
#       removes labs whose owner is gone

WANLAB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WANLAB_BIN="$WANLAB_ROOT/bin"
WANLAB_WANLINK="$WANLAB_BIN/wanlink"
WANLAB_NEAR_IP=198.18.0.1
WANLAB_FAR_IP=198.18.0.2
WANLAB_DEV=wan0
# The TUN device's own queue is not the emulated bottleneck (wanlink's is):
# it only absorbs the moments wanlink is not scheduled, which would
# otherwise be losses the model knows nothing of.
WANLAB_TXQLEN=10000

wanlab_say() { printf 'wanlab: %s\n' "$*" >&2; }

# Every function may be called under set -e (bats tests): each turns it
# off for itself ("local -") and returns a status that means what it says.

# wanlab_wait SECS CMD...: poll CMD until it succeeds; 1 after SECS.
wanlab_wait() {
	local limit=$1 deadline
	shift
	deadline=$((SECONDS + limit))
	until "$@"; do
		((SECONDS >= deadline)) && return 1
		sleep 0.02
	done
}

wanlab_check() {
	local -
	set +e
	if [ "$(id -u)" != 0 ]; then
		echo "the WAN lab needs root (network namespaces, TUN devices)"
		return 1
	fi
	if ! command -v ip >/dev/null 2>&1; then
		echo "the WAN lab needs iproute2 (ip)"
		return 1
	fi
	if [ ! -c /dev/net/tun ]; then
		echo "the WAN lab needs /dev/net/tun"
		return 1
	fi
	if [ ! -x "$WANLAB_WANLINK" ]; then
		echo "$WANLAB_WANLINK is missing: run make"
		return 1
	fi
	local probe="wanlab-probe-$BASHPID" why
	if ! why=$(ip netns add "$probe" 2>&1); then
		echo "cannot create a network namespace: $why"
		return 1
	fi
	if ! why=$(ip -n "$probe" tuntap add dev "$WANLAB_DEV" mode tun 2>&1); then
		ip netns del "$probe" 2>/dev/null
		echo "cannot create a TUN device in a namespace: $why"
		return 1
	fi
	ip netns del "$probe"
	return 0
}

# wanlab__destroy NS...: end every process in the namespaces, delete them.
# Only labs' own namespaces are passed here, so what runs in them is ours.
wanlab__destroy() {
	local -
	set +e
	local ns pids deadline
	for ns in "$@"; do
		[ -e "/run/netns/$ns" ] || continue
		pids=$(ip netns pids "$ns" 2>/dev/null) || true
		[ -z "$pids" ] || kill -TERM $pids 2>/dev/null || true
	done
	deadline=$((SECONDS + 5))
	for ns in "$@"; do
		[ -e "/run/netns/$ns" ] || continue
		while pids=$(ip netns pids "$ns" 2>/dev/null) && [ -n "$pids" ]; do
			if ((SECONDS >= deadline)); then
				kill -KILL $pids 2>/dev/null || true
				sleep 0.05
				continue
			fi
			sleep 0.02
		done
		ip netns del "$ns" 2>/dev/null || true
	done
	return 0
}

# wanlab_reap: labs whose owner (the PID in their name) has exited.
wanlab_reap() {
	local -
	set +e
	local ns owner
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' |
	    grep -E '^wanlab-[0-9]+-[0-9]+-(near|far)$'); do
		owner=${ns#wanlab-}
		owner=${owner%%-*}
		if ! kill -0 "$owner" 2>/dev/null; then
			wanlab_say "removing $ns (its owner $owner is gone)"
			wanlab__destroy "$ns"
		fi
	done
}

# The keeper: wanlink in the foreground, then the namespaces' end.
wanlab__keeper() {
	local wl=
	trap '[ -n "$wl" ] && kill -TERM "$wl" 2>/dev/null' INT TERM HUP
	local rt=
	[ "${WANLAB_REALTIME:-1}" = 1 ] && rt=--realtime
	"$WANLAB_WANLINK" --owner "$WANLAB_OWNER" $rt \
	    --max-seconds "$WANLAB_MAX_SECONDS" "$@" \
	    "$WANLAB_NEAR" "$WANLAB_DEV" "$WANLAB_FAR" "$WANLAB_DEV" \
	    >"$WANLAB_DIR/wanlink.out" 2>"$WANLAB_DIR/wanlink.err" &
	wl=$!
	echo "$wl" >"$WANLAB_DIR/wanlink.pid"
	# wait returns early on a trapped signal: wait again until it is gone.
	while kill -0 "$wl" 2>/dev/null; do
		wait "$wl"
	done
	wait "$wl" 2>/dev/null
	echo "$?" >"$WANLAB_DIR/wanlink.status"
	for ns in "$WANLAB_NEAR" "$WANLAB_FAR"; do
		ip -n "$ns" -s link show "$WANLAB_DEV" 2>/dev/null |
		    awk -v ns="$ns" '/TX:/ { getline; print ns, "tx_dropped=" $4 }'
	done >"$WANLAB_DIR/devices.out"
	wanlab__destroy "$WANLAB_NEAR" "$WANLAB_FAR"
	# An owner killed outright leaves its files: take them too.
	kill -0 "$WANLAB_OWNER" 2>/dev/null || rm -rf "$WANLAB_DIR"
}

# wanlab__ns_setup NS ADDR PEER: lo, the TUN device, its address and route.
wanlab__ns_setup() {
	local ns=$1 addr=$2 peer=$3
	ip netns add "$ns" &&
	ip -n "$ns" link set lo up &&
	ip -n "$ns" tuntap add dev "$WANLAB_DEV" mode tun &&
	ip -n "$ns" link set "$WANLAB_DEV" mtu 1500 txqueuelen "$WANLAB_TXQLEN" &&
	ip -n "$ns" addr add "$addr" peer "$peer" dev "$WANLAB_DEV" &&
	ip -n "$ns" link set "$WANLAB_DEV" up || return 1
	# An IPv4 lab: no router solicitations or DAD in the counters.
	ip netns exec "$ns" sysctl -qw \
	    "net.ipv6.conf.$WANLAB_DEV.disable_ipv6=1" 2>/dev/null || true
	if [ -n "${WANLAB_CC:-}" ]; then
		ip netns exec "$ns" sysctl -qw \
		    "net.ipv4.tcp_congestion_control=$WANLAB_CC" || {
			wanlab_say "cannot set congestion control $WANLAB_CC in" \
			    "a namespace (only the host's" \
			    "net.ipv4.tcp_allowed_congestion_control may be)"
			return 1
		}
	fi
	return 0
}

wanlab_up() {
	local -
	set +e
	WANLAB_OWNER=${WANLAB_OWNER:-$BASHPID}
	WANLAB_MAX_SECONDS=${WANLAB_MAX_SECONDS:-1200}
	WANLAB_ARGS="$*"
	wanlab_reap
	local serial=$RANDOM
	WANLAB_NEAR="wanlab-$WANLAB_OWNER-$serial-near"
	WANLAB_FAR="wanlab-$WANLAB_OWNER-$serial-far"
	WANLAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/wanlab.XXXXXX") || return 1
	: >"$WANLAB_DIR/pids"
	if ! wanlab__ns_setup "$WANLAB_NEAR" "$WANLAB_NEAR_IP" "$WANLAB_FAR_IP" ||
	    ! wanlab__ns_setup "$WANLAB_FAR" "$WANLAB_FAR_IP" "$WANLAB_NEAR_IP"; then
		wanlab_say "could not set up the namespaces"
		wanlab__destroy "$WANLAB_NEAR" "$WANLAB_FAR"
		rm -rf "$WANLAB_DIR"
		return 1
	fi
	export WANLAB_OWNER WANLAB_MAX_SECONDS WANLAB_NEAR WANLAB_FAR WANLAB_DIR
	wanlab__keeper "$@" </dev/null >/dev/null 2>&1 3>&- &
	WANLAB_KEEPER_PID=$!
	if ! wanlab_wait 10 grep -q '^wanlink: forwarding' \
	    "$WANLAB_DIR/wanlink.out" 2>/dev/null; then
		wanlab_say "wanlink did not start:"
		cat "$WANLAB_DIR/wanlink.err" >&2 2>/dev/null
		wanlab_down >/dev/null
		return 1
	fi
	WANLAB_WANLINK_PID=$(cat "$WANLAB_DIR/wanlink.pid")
	export WANLAB_KEEPER_PID WANLAB_WANLINK_PID
	return 0
}

wanlab_near() { ip netns exec "$WANLAB_NEAR" "$@"; }
wanlab_far() { ip netns exec "$WANLAB_FAR" "$@"; }

wanlab_spawn() {
	local -
	set +e
	local side=$1 name=$2 ns
	shift 2
	case $side in
	near) ns=$WANLAB_NEAR ;;
	far) ns=$WANLAB_FAR ;;
	*) wanlab_say "wanlab_spawn: near or far, not $side"; return 64 ;;
	esac
	ip netns exec "$ns" "$@" </dev/null >"$WANLAB_DIR/$name.out" \
	    2>"$WANLAB_DIR/$name.err" 3>&- &
	WANLAB_PID=$!
	echo "$WANLAB_PID" >>"$WANLAB_DIR/pids"
}

# wanlab_stats: the counters now, "wanlink: stats DIR k=v..." lines.
wanlab_stats() {
	local -
	set +e
	local before
	before=$(grep -c '^wanlink: cpu' "$WANLAB_DIR/wanlink.out" || true)
	kill -USR1 "$WANLAB_WANLINK_PID" 2>/dev/null || return 1
	wanlab_wait 5 wanlab__more_than "$before" || return 1
	grep -E '^wanlink: (stats|cpu)' "$WANLAB_DIR/wanlink.out" | tail -n 3
}
wanlab__more_than() {
	[ "$(grep -c '^wanlink: cpu' "$WANLAB_DIR/wanlink.out")" -gt "$1" ]
}

# wanlab_stat DIR KEY [STATS]: one counter of a direction (ab = near to
# far) from wanlab_stats output (given, or fetched now).
wanlab_stat() {
	local text=${3:-$(wanlab_stats)}
	printf '%s\n' "$text" | awk -v dir="$1" -v key="$2" '
	    $2 == "stats" && $3 == dir {
		for (i = 4; i <= NF; i++)
			if (index($i, key "=") == 1)
				print substr($i, length(key) + 2)
	    }'
}

wanlab_info() {
	local -
	set +e
	local cpu
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	echo "kernel: $(uname -sr)"
	echo "cpu: ${cpu:-unknown} x $(nproc)"
	echo "link: $(sed -n 's/^wanlink: forwarding [^:]*: //p' "$WANLAB_DIR/wanlink.out")"
	echo "addresses: near $WANLAB_NEAR_IP, far $WANLAB_FAR_IP, mtu $(ip -n \
	    "$WANLAB_NEAR" -o link show "$WANLAB_DEV" |
	    sed -n 's/.* mtu \([0-9]*\).*/\1/p')"
	echo "congestion_control: $(wanlab_near sysctl -n net.ipv4.tcp_congestion_control)"
	echo "tcp_rmem: $(wanlab_near sysctl -n net.ipv4.tcp_rmem | tr '\t' ' ')"
	echo "tcp_wmem: $(wanlab_near sysctl -n net.ipv4.tcp_wmem | tr '\t' ' ')"
	echo "host_congestion_control: $(sysctl -n net.ipv4.tcp_congestion_control)"
	echo "host_allowed_congestion_control: $(sysctl -n net.ipv4.tcp_allowed_congestion_control)"
}

wanlab_down() {
	local -
	set +e
	local pid deadline
	[ -n "${WANLAB_DIR:-}" ] && [ -d "$WANLAB_DIR" ] || return 0
	for pid in $(cat "$WANLAB_DIR/pids" 2>/dev/null); do
		kill -TERM "$pid" 2>/dev/null
	done
	deadline=$((SECONDS + 5))
	for pid in $(cat "$WANLAB_DIR/pids" 2>/dev/null); do
		while kill -0 "$pid" 2>/dev/null; do
			if ((SECONDS >= deadline)); then
				kill -KILL "$pid" 2>/dev/null
				break
			fi
			sleep 0.02
		done
		wait "$pid" 2>/dev/null
	done
	if [ -n "${WANLAB_KEEPER_PID:-}" ]; then
		[ -n "${WANLAB_WANLINK_PID:-}" ] &&
		    kill -TERM "$WANLAB_WANLINK_PID" 2>/dev/null
		deadline=$((SECONDS + 15))
		while kill -0 "$WANLAB_KEEPER_PID" 2>/dev/null; do
			if ((SECONDS >= deadline)); then
				kill -TERM "$WANLAB_KEEPER_PID" 2>/dev/null
				break
			fi
			sleep 0.02
		done
		wait "$WANLAB_KEEPER_PID" 2>/dev/null
	fi
	# Whatever the keeper could not do.
	wanlab__destroy "$WANLAB_NEAR" "$WANLAB_FAR"
	grep -E '^wanlink: (stats|cpu)' "$WANLAB_DIR/wanlink.out" 2>/dev/null |
	    tail -n 3
	cat "$WANLAB_DIR/devices.out" 2>/dev/null
	if [ "${WANLAB_KEEP:-0}" = 1 ]; then
		wanlab_say "logs kept in $WANLAB_DIR"
	else
		rm -rf "$WANLAB_DIR"
	fi
	WANLAB_DIR= WANLAB_KEEPER_PID= WANLAB_WANLINK_PID=
}

# wanlab_forward_local PORT: in near, connections from far to
# $WANLAB_NEAR_IP:PORT reach 127.0.0.1:PORT (for servers that bind only the
# loopback address, such as the Go interop relay).  Needs nft.
wanlab_forward_local() {
	local -
	set +e
	command -v nft >/dev/null 2>&1 || return 1
	wanlab_near sysctl -qw "net.ipv4.conf.$WANLAB_DEV.route_localnet=1" &&
	wanlab_near nft -f - <<EOF
table ip wanlab {
	chain pre {
		type nat hook prerouting priority -100;
		iifname "$WANLAB_DEV" tcp dport $1 dnat to 127.0.0.1:$1
	}
	chain post {
		type nat hook postrouting priority 100;
	}
}
EOF
}

# ---- lab.sh check: verify the lab itself ----

wanlab__cmd_check() {
	local loss=0 secs=10 rtt min avg out mib stats
	while [ $# -gt 0 ]; do
		case $1 in
		--loss) loss=$2; shift ;;
		--seconds) secs=$2; shift ;;
		*) wanlab_say "check: unknown argument $1"; return 64 ;;
		esac
		shift
	done
	local why
	if ! why=$(wanlab_check); then
		echo "skip: $why"
		return 0
	fi
	trap 'wanlab_down >/dev/null' EXIT
	trap 'exit 130' INT TERM
	wanlab_up --delay 25 --rate 200M --loss "$loss" || return 70
	wanlab_info
	if command -v ping >/dev/null 2>&1; then
		rtt=$(wanlab_near ping -n -q -c 20 -i 0.05 "$WANLAB_FAR_IP" |
		    sed -n 's/^rtt [^=]*= //p')
		echo "ping (20, 84 B): min/avg/max/mdev $rtt"
	else
		echo "ping: not installed (apt-get install iputils-ping)"
	fi
	wanlab_spawn far serve "$WANLAB_BIN/relaybench" serve \
	    --listen "$WANLAB_FAR_IP" --timeout 300 0
	wanlab_wait 10 grep -q 'listening on' "$WANLAB_DIR/serve.out" || return 70
	local port
	port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$WANLAB_DIR/serve.out")
	before=$(wanlab_stats)
	for c in 1 8; do
		out=$(wanlab_near "$WANLAB_BIN/relaybench" bulk -c "$c" \
		    -s "$secs" --timeout $((secs * 6)) "$WANLAB_FAR_IP" "$port")
		echo "direct bulk echo, $c conn: $out"
	done
	stats=$(wanlab_stats)
	printf '%s\n' "$stats"
	for d in ab ba; do
		awk -v d="$d" -v pre="$(printf '%s\n' "$before" | grep " stats $d ")" '
		    function val(s, k,   n, i, a) {
			n = split(s, a, " ")
			for (i = 1; i <= n; i++)
				if (index(a[i], k "=") == 1)
					return substr(a[i], length(k) + 2)
			return 0
		    }
		    $2 == "stats" && $3 == d {
			fw = val($0, "forwarded") - val(pre, "forwarded")
			lo = val($0, "lost") - val(pre, "lost")
			qd = val($0, "queue_dropped") - val(pre, "queue_dropped")
			printf "%s: %d forwarded, %d lost (%.3f %% of the wire), %d queue drops\n",
			    d, fw, lo, (fw + lo) ? 100 * lo / (fw + lo) : 0, qd
		    }' <<<"$stats"
	done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case ${1:-} in
	check) shift; wanlab__cmd_check "$@" ;;
	reap) wanlab_reap ;;
	*) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 64 ;;
	esac
fi
