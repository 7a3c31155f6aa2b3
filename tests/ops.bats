#!/usr/bin/env bats
# Operations: daemon mode, pidfile, log file and SIGHUP, graceful drain,
# a second signal, install, --help/--version, usage errors.

load lib/common

teardown() {
	common_teardown
	# A daemon is not our child: end it by its pidfile.
	if [ -s "$BATS_TEST_TMPDIR/relay.pid" ]; then
		local pid
		pid=$(cat "$BATS_TEST_TMPDIR/relay.pid")
		kill -9 "$pid" 2>/dev/null || true
		pkill -9 -P "$pid" 2>/dev/null || true
	fi
}

@test "daemon mode: detaches, writes the pidfile, logs to the log file, refuses a second instance" {
	local port pidf="$BATS_TEST_TMPDIR/relay.pid" logf="$BATS_TEST_TMPDIR/daemon.log"
	port=$(free_port_block 5)
	run "$BIN/relay" -d --pidfile "$pidf" --log-file "$logf" \
	    --ports "$((port + 1))-$((port + 5))" "$port"
	[ "$status" -eq 0 ]
	[ -s "$pidf" ]
	local pid
	pid=$(cat "$pidf")
	alive "$pid"
	# detached: a session leader of its own, working directory /
	[ "$(ps -o sid= -p "$pid" | tr -d ' ')" = "$pid" ]
	[ "$(readlink "/proc/$pid/cwd")" = / ]
	grep -q "listening on 127.0.0.1:$port" "$logf"
	# it serves
	RELAY_PORT=$port start_echoserver
	run echo_check --bytes 1000
	[ "$status" -eq 0 ]
	grep -q "worker\[$TUNNEL_PORT\] info: backend .* registered" "$logf"
	# a second instance with the same pidfile is refused
	run "$BIN/relay" -d --pidfile "$pidf" "$(free_port)"
	[ "$status" -eq 69 ]
	[[ "$output" == *"already running (pid $pid"* ]]
	# SIGHUP reopens the log file (rotation)
	mv "$logf" "$logf.1"
	kill -HUP "$pid"
	wait_until 5 file_has 'log file reopened' "$logf"
	run echo_check --bytes 10
	[ "$status" -eq 0 ]
	wait_until 5 file_has 'worker\[[0-9]+\] info: client .* closed' "$logf"
	# SIGTERM: exits, removes the pidfile and the stats segment
	kill -TERM "$pid"
	wait_until 15 dead "$pid"
	[ ! -e "$pidf" ]
	[ ! -e "/dev/shm/relay.$port" ]
	grep -q 'exiting' "$logf"
}

@test "daemon mode without --log-file logs to syslog; a bad log file is refused" {
	run "$BIN/relay" --log-file /nonexistent/dir/relay.log 0
	[ "$status" -eq 69 ]
	[[ "$output" == *"cannot open log file"* ]]
	local pidf="$BATS_TEST_TMPDIR/relay.pid"
	run "$BIN/relay" -d --pidfile "$pidf" 0
	[ "$status" -eq 0 ]
	local pid
	pid=$(cat "$pidf")
	alive "$pid"
	# its standard descriptors are /dev/null, its log a syslog socket
	[ "$(readlink "/proc/$pid/fd/2")" = /dev/null ]
	kill -TERM "$pid"
	wait_until 15 dead "$pid"
	[ ! -e "$pidf" ]
}

@test "graceful drain: a 20 MB transfer in progress finishes after SIGTERM, new clients are refused, exit 0" {
	start_relay --drain-timeout 10
	start_echoserver
	local ready="$BATS_TEST_TMPDIR/paced.ready"
	python3 "$ROOT/tests/lib/paced.py" 127.0.0.1 "$TUNNEL_PORT" 20000000 8000000 "$ready" \
	    >"$BATS_TEST_TMPDIR/paced.out" 2>&1 3>&- &
	local cpid=$!
	track "$cpid"
	wait_until 10 test -s "$ready"
	local t0=$SECONDS
	kill -TERM "$RELAY_PID"
	wait_until 5 file_has 'draining 1 client' "$RELAY_LOG"
	# no new clients
	wait_until 5 port_is_free "$TUNNEL_PORT"
	# the transfer completes, checksum equal
	wait_until 20 dead "$cpid"
	local rc=0
	wait "$cpid" || rc=$?
	cat "$BATS_TEST_TMPDIR/paced.out"
	[ "$rc" -eq 0 ]
	grep -q '^ok 20000000 ' "$BATS_TEST_TMPDIR/paced.out"
	# the relay exits 0 within the drain time
	wait_until 12 dead "$RELAY_PID"
	rc=0
	wait "$RELAY_PID" || rc=$?
	[ "$rc" -eq 0 ]
	[ $((SECONDS - t0)) -le 12 ]
	# the echoserver saw GoAway(0) and exited 0
	wait_until 5 dead "$BACKEND_PID"
	rc=0
	wait "$BACKEND_PID" || rc=$?
	[ "$rc" -eq 0 ]
}

@test "a second signal exits at once" {
	start_relay --drain-timeout 60
	start_echoserver
	bg_client held hold 127.0.0.1 "$TUNNEL_PORT" --ready "$BATS_TEST_TMPDIR/held.ready" --timeout 60
	wait_until 5 test -s "$BATS_TEST_TMPDIR/held.ready"
	local kids
	kids=($(relay_children))
	kill -TERM "$RELAY_PID"
	wait_until 5 file_has 'draining 1 client' "$RELAY_LOG"
	alive "$RELAY_PID"
	kill -INT "$RELAY_PID"
	wait_until 5 dead "$RELAY_PID"
	grep -q 'second signal' "$RELAY_LOG"
	wait_until 5 all_dead "${kids[@]}"
	[ ! -e "/dev/shm/relay.$RELAY_PORT" ]
}

@test "make install into a DESTDIR, and uninstall" {
	local d="$BATS_TEST_TMPDIR/root"
	run make -C "$ROOT" install DESTDIR="$d" PREFIX=/usr/local
	[ "$status" -eq 0 ]
	local p
	for p in relay echoserver relayexpose relaystat; do
		[ -x "$d/usr/local/bin/$p" ]
	done
	[ -f "$d/usr/local/share/man/man8/relay.8" ]
	for p in relaystat echoserver relayexpose; do
		[ -f "$d/usr/local/share/man/man1/$p.1" ]
	done
	run "$d/usr/local/bin/relay" --version
	[ "$status" -eq 0 ]
	if command -v groff >/dev/null; then
		run groff -ww -z -man "$d/usr/local/share/man/man8/relay.8"
		[ "$status" -eq 0 ]
		[ -z "$output" ]
	fi
	run make -C "$ROOT" uninstall DESTDIR="$d" PREFIX=/usr/local
	[ "$status" -eq 0 ]
	[ ! -e "$d/usr/local/bin/relay" ]
	[ ! -e "$d/usr/local/share/man/man8/relay.8" ]
}

@test "every program: --help lists options with defaults, --version prints the tree's version" {
	local v p
	v=$(cat "$ROOT/VERSION")
	for p in relay echoserver relayexpose relaystat; do
		run "$BIN/$p" --version
		[ "$status" -eq 0 ]
		[ "$output" = "$p $v" ]
		run "$BIN/$p" --help
		[ "$status" -eq 0 ]
		[[ "$output" == *"usage: $p"* ]]
		[[ "$output" == *"default"* ]]
	done
}

@test "every program: a bad option gives exit 64 and a usage line" {
	local p
	for p in relay echoserver relayexpose relaystat; do
		run "$BIN/$p" --no-such-option
		[ "$status" -eq 64 ]
		[[ "$output" == *"usage: $p"* ]]
	done
	run "$BIN/relay" --drain-timeout x 0
	[ "$status" -eq 64 ]
	run "$BIN/relay" --max-pending 0 0
	[ "$status" -eq 64 ]
}
