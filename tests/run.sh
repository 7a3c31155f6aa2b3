#!/bin/sh
# Runs the C unit tests given as arguments, then every bats file in tests/
# (unless --unit-only), and ends with one line "N passed, N failed".
# Exits non-zero on any failure.
cd "$(dirname "$0")/.." || exit 70
unit_only=0
if [ "$1" = "--unit-only" ]; then
	unit_only=1
	shift
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
for t in "$@"; do
	echo "== $t"
	"$t" >"$out.1" 2>&1 || status=1
	cat "$out.1"
	grep -E '^(ok|not ok) ' "$out.1" >>"$out"
	rm -f "$out.1"
done
if [ "$unit_only" = 0 ]; then
	if ! command -v bats >/dev/null 2>&1; then
		echo "bats is not installed: 'apt-get install bats' (Debian) or" \
		    "'npm install -g bats' (npm), then run 'make test' again." >&2
		echo "not ok - bats missing" >>"$out"
		status=1
	else
		for f in tests/*.bats; do
			[ -e "$f" ] || continue
			echo "== $f"
			bats --tap "$f" >"$out.1" 2>&1 || status=1
			cat "$out.1"
			grep -E '^(ok|not ok) ' "$out.1" >>"$out"
			rm -f "$out.1"
		done
	fi
fi
passed=$(grep -c '^ok ' "$out")
failed=$(grep -c '^not ok ' "$out")
[ "$failed" -gt 0 ] && status=1
echo "$passed passed, $failed failed"
exit $status
