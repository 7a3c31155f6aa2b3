#!/usr/bin/env bats
# Operations documents: the manual pages render cleanly and document every
# option each program's --help prints, and contrib/relay.service keeps its
# hardening.

load lib/common

PAGES=(relay.8 relaystat.1 echoserver.1 relayexpose.1 relaykey.1)

teardown() {
	common_teardown
}

need_groff() {
	command -v groff >/dev/null 2>&1 ||
		skip "groff is not installed (apt-get install groff)"
}

# man_text PAGE: the page's source with the escapes that matter for a text
# search undone: \- is a hyphen, font changes and \% \& \c vanish.
man_text() {
	sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f\[[A-Z]*\]//g' \
	    -e 's/\\[%&c]//g' "$ROOT/man/$1"
}

# help_longopts PROG: every long option its --help prints, one a line.
help_longopts() {
	"$BIN/$1" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u
}

# page_of PROG: its manual page.
page_of() {
	case $1 in
	relay) echo relay.8 ;;
	*) echo "$1.1" ;;
	esac
}

# unit_has LINE: contrib/relay.service has LINE, uncommented, exactly.
unit_has() {
	grep -qxF -- "$1" "$ROOT/contrib/relay.service"
}

@test "every manual page renders with groff -ww without a warning" {
	need_groff
	local p dev err
	for p in "${PAGES[@]}"; do
		[ -f "$ROOT/man/$p" ] || { echo "man/$p is missing" >&2; return 1; }
		# the default device, then a terminal's
		for dev in "" -Tutf8; do
			err=$(groff -ww -z $dev -man "$ROOT/man/$p" 2>&1) || {
				echo "groff $dev failed on man/$p: $err" >&2
				return 1
			}
			[ -z "$err" ] || { echo "man/$p $dev: $err" >&2; return 1; }
		done
	done
}

@test "every manual page renders with man -l without a warning, at 80 and 60 columns" {
	command -v man >/dev/null 2>&1 ||
		skip "man is not installed (apt-get install man-db)"
	need_groff
	local p w err
	for p in "${PAGES[@]}"; do
		for w in 80 60; do
			err=$(LC_ALL=C.UTF-8 MANWIDTH=$w MAN_KEEP_FORMATTING= \
			    man --warnings -l "$ROOT/man/$p" 2>&1 >/dev/null)
			[ -z "$err" ] || {
				echo "man -l man/$p ($w columns): $err" >&2
				return 1
			}
		done
	done
}

@test "every manual page has the sections an operator looks for" {
	local p s
	for p in "${PAGES[@]}"; do
		for s in NAME SYNOPSIS DESCRIPTION OPTIONS 'EXIT STATUS' \
		    FILES EXAMPLES 'SEE ALSO'; do
			grep -qxE "\.SH \"?$s\"?" "$ROOT/man/$p" || {
				echo "man/$p has no .SH $s" >&2
				return 1
			}
		done
		# the exit codes of the command-line contract
		for s in 64 69 70; do
			grep -A1 -x '\.TP' "$ROOT/man/$p" | grep -qx "\.B $s" || {
				echo "man/$p does not list exit status $s" >&2
				return 1
			}
		done
	done
	grep -qx '\.SH SIGNALS' "$ROOT/man/relay.8"
	for s in SIGTERM SIGINT SIGHUP; do
		man_text relay.8 | grep -q "$s"
	done
}

@test "every long option of every program's --help is in its manual page" {
	local prog page opt missing=()
	for prog in relay relaystat echoserver relayexpose relaykey; do
		[ -x "$BIN/$prog" ] || { echo "bin/$prog missing: make all" >&2; return 1; }
		page=$(page_of "$prog")
		for opt in $(help_longopts "$prog"); do
			# as an option, not as part of a longer one
			man_text "$page" | grep -qE -- "(^|[^a-z-])$opt([^a-z-]|\$)" ||
				missing+=("$prog $opt (man/$page)")
		done
	done
	[ "${#missing[@]}" -eq 0 ] || {
		printf 'not documented: %s\n' "${missing[@]}" >&2
		return 1
	}
}

@test "relay(8) documents the full option set, each under its own item" {
	local opt
	for opt in --listen --ports --advertise --prefork --alive-timeout \
	    --keepalive --register-timeout --max-pending --max-backends \
	    --max-clients --max-streams --max-unacked --session-buffer \
	    --stream-rate --linger --window --buffer --stats --secret-file \
	    --user --daemon --pidfile --log-file --drain-timeout --verbose \
	    --quiet --help --version --max-pending-per-addr --max-startups \
	    --first-byte-timeout --worker-user --stats-group; do
		# an option item: a .TP line followed by the option
		man_text relay.8 | grep -A1 -x '\.TP' |
		    grep -qE -- "^\.B[IR]? .*$opt([^a-z-]|\$)" || {
			echo "relay.8 has no item for $opt" >&2
			return 1
		}
	done
	for opt in --name --port --reconnect --no-reconnect --keepalive \
	    --connect-timeout --window --buffer --secret-file --verbose \
	    --quiet --help --version; do
		man_text echoserver.1 | grep -A1 -x '\.TP' |
		    grep -qE -- "^\.B[IR]? .*$opt([^a-z-]|\$)"
		man_text relayexpose.1 | grep -A1 -x '\.TP' |
		    grep -qE -- "^\.B[IR]? .*$opt([^a-z-]|\$)"
	done
	for opt in --json --prometheus --watch --bytes --stats --help \
	    --version; do
		man_text relaystat.1 | grep -A1 -x '\.TP' |
		    grep -qE -- "^\.B[IR]? .*$opt([^a-z-]|\$)"
	done
}

@test "numeric defaults in every --help match the manual pages" {
	run python3 - "$BIN" "$ROOT/man" <<'PY'
import os, re, subprocess, sys
bindir, mandir = sys.argv[1], sys.argv[2]
bad = []
for prog, page in (("relay", "relay.8"), ("echoserver", "echoserver.1"),
                   ("relayexpose", "relayexpose.1"),
                   ("relaystat", "relaystat.1")):
    help_text = subprocess.run([os.path.join(bindir, prog), "--help"],
                               capture_output=True, text=True,
                               check=True).stdout
    # option blocks of --help: the option line and its continuation lines
    blocks, cur = {}, None
    for line in help_text.splitlines():
        m = re.match(r"\s+(?:-\w, )?(--[a-z-]+)", line)
        if m:
            cur = m.group(1)
            blocks[cur] = line
        elif cur and line.startswith(" " * 20):
            blocks[cur] += " " + line.strip()
        else:
            cur = None
    src = open(os.path.join(mandir, page)).read()
    src = re.sub(r"\\f[BIRP]|\\[%&c]", "", src).replace("\\-", "-")
    items = re.split(r"^\.(?:TP|SH)\b.*$", src, flags=re.M)
    for opt, text in sorted(blocks.items()):
        m = re.search(r"\(default (\d+)\)", text)
        if not m:
            continue
        item = next((i for i in items if re.match(
            r"\s*\.B[IR]? .*" + re.escape(opt) + r"(?![a-z-])", i)), None)
        if item is None:
            bad.append(f"{prog} {opt}: no item in {page}")
        elif not re.search(r"Default: " + m.group(1) + r"\b", item):
            bad.append(f"{prog} {opt}: --help says {m.group(1)}, "
                       f"{page} does not")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "contrib/relay.service runs the relay in the foreground with a drain timeout" {
	local unit="$ROOT/contrib/relay.service"
	[ -f "$unit" ]
	unit_has 'Type=simple'
	grep -qE '^ExecStart=/usr/local/bin/relay .*--secret-file /etc/relay/secret( .*)? 9000$' "$unit"
	unit_has 'ExecReload=/bin/kill -HUP $MAINPID'
	unit_has 'KillSignal=SIGTERM'
	# SIGTERM to the master only: it drains and ends its workers itself
	unit_has 'KillMode=mixed'
	# stop timeout: the relay's drain timeout (10 s) plus a margin
	local t
	t=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$unit")
	[ -n "$t" ] && [ "$t" -gt 10 ]
	unit_has 'LimitNOFILE=65536'
	# the daemon never forks into the background under systemd
	! grep -qE '^ExecStart=.*( -d | --daemon )' "$unit"
}

@test "every option of the unit's ExecStart is one relay accepts" {
	local opt
	for opt in $(sed -n 's/^ExecStart=//p' "$ROOT/contrib/relay.service" |
	    grep -oE -- '--[a-z][a-z0-9-]*'); do
		help_longopts relay | grep -qxF -- "$opt" || {
			echo "relay --help has no $opt" >&2
			return 1
		}
	done
}

@test "contrib/relay.service keeps its hardening and leaves /dev/shm usable" {
	local unit="$ROOT/contrib/relay.service" k
	for k in NoNewPrivileges=yes PrivateTmp=yes ProtectSystem=strict \
	    ProtectHome=yes PrivateDevices=yes ProtectKernelTunables=yes \
	    ProtectKernelModules=yes ProtectControlGroups=yes \
	    LockPersonality=yes MemoryDenyWriteExecute=yes \
	    RestrictRealtime=yes SystemCallArchitectures=native; do
		unit_has "$k" || { echo "no $k" >&2; return 1; }
	done
	grep -qE '^RestrictAddressFamilies=' "$unit"
	for k in AF_INET AF_INET6 AF_UNIX; do
		grep -E '^RestrictAddressFamilies=' "$unit" | grep -qw "$k"
	done
	# an unprivileged user, fixed or dynamic
	grep -qE '^(User=[a-z_][a-z0-9_-]*|DynamicUser=yes)$' "$unit"
	# the statistics segment must stay visible to relaystat outside the unit
	! grep -qE '^PrivateIPC=(yes|true|on|1)$' "$unit"
	! grep -qE '^(InaccessiblePaths|ReadOnlyPaths|TemporaryFileSystem)=.*/dev/shm' "$unit"
	# binding ports below 1024 is an opt-in, left commented out; the
	# capabilities given are what starting workers as --worker-user takes
	! grep -E '^AmbientCapabilities=' "$unit" | grep -q CAP_NET_BIND_SERVICE
	! grep -E '^AmbientCapabilities=' "$unit" | tr ' =' '\n\n' |
	    grep -vxE 'AmbientCapabilities|CAP_SETUID|CAP_SETGID|CAP_KILL|' | grep -q .
	grep -qE '^#AmbientCapabilities=CAP_NET_BIND_SERVICE$' "$unit"
	# the comment explains why PrivateIPC= stays off
	grep -qE '^#.*PrivateIPC=' "$unit"
}

@test "systemd-analyze verify accepts contrib/relay.service" {
	command -v systemd-analyze >/dev/null 2>&1 ||
		skip "systemd-analyze is not installed"
	[ -x "$BIN/relay" ] || { echo "bin/relay missing: make all" >&2; return 1; }
	# The installed path /usr/local/bin/relay may not exist here: point
	# the copy at the built binary; man pages need not be installed.
	local unit="$BATS_TEST_TMPDIR/relay.service"
	sed "s#/usr/local/bin/relay#$BIN/relay#" "$ROOT/contrib/relay.service" >"$unit"
	run systemd-analyze verify --man=no "$unit"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}
