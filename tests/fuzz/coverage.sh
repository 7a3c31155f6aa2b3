#!/usr/bin/env bash
# Line coverage of the parsers reached by each fuzz target's corpus.
#
#   tests/fuzz/coverage.sh [CORPUS_ROOT]
#
# CORPUS_ROOT holds one folder per target (mux, hello, ... proxy); the
# default is bin/corpus, where make fuzz keeps what it found.  Each target
# is rebuilt with clang's source-based coverage, run once over its corpus,
# and llvm-cov reports the lines of the code under test.
set -eu
cd "$(dirname "$0")/../.."
root=${1:-bin/corpus}
out=bin/fuzzcov
mkdir -p "$out"
flags="-std=c11 -D_GNU_SOURCE -Iinclude -g -O1 -fsanitize=fuzzer"
cov="-fprofile-instr-generate -fcoverage-mapping"
crypto="src/crypto.c src/x25519.c src/chacha.c src/blake2s.c"
for t in mux hello proc noise keys proxy; do
	[ -d "$root/$t" ] || { echo "no corpus in $root/$t" >&2; continue; }
	# what the code under test links (only src/$t.c is reported)
	case $t in
	proc) extra=src/hello.c ;;
	noise) extra=$crypto ;;
	keys) extra="src/auth.c src/hello.c $crypto" ;;
	*) extra= ;;
	esac
	clang $flags $cov -o "$out/cov_$t" "tests/fuzz/fuzz_$t.c" "src/$t.c" \
	    $extra
	LLVM_PROFILE_FILE="$out/$t.profraw" "$out/cov_$t" -runs=0 \
	    "$root/$t" >/dev/null 2>&1
	llvm-profdata merge -sparse -o "$out/$t.profdata" "$out/$t.profraw"
	printf '%-6s ' "$t"
	llvm-cov report "$out/cov_$t" -instr-profile="$out/$t.profdata" \
	    "src/$t.c" | awk '/^TOTAL|src\// { print "lines", $(NF-3), "of", $(NF-5), "covered, branches", $NF; exit }'
done
