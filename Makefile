# relay: a generic TCP relay.  See README.md.
VERSION	:= $(shell cat VERSION)
CC	?= cc
CFLAGS	?= -O2 -g
WARN	 = -Wall -Wextra -Werror
CPPFLAGS_ALL = -std=c11 -D_GNU_SOURCE -DRELAY_VERSION=\"$(VERSION)\" -Iinclude
LDLIBS	 = -lrt
# Bind every symbol at start: the lazy resolver spills vector registers
# (key bytes among them) onto the stack, where a forked worker would find
# them; relro then leaves the binding table read-only.
LDFLAGS	+= -Wl,-z,relro,-z,now
PREFIX	?= /usr/local
DESTDIR	?=
BIN	 = bin
OBJ	 = $(BIN)/obj
FUZZ_SECONDS ?= 60
PORT	?= 9000
# The Go programs on hashicorp/yamux (bench-wan compares with them).
INTEROP	?= ../shared/interop

PROGS	 = $(BIN)/relay $(BIN)/echoserver $(BIN)/relayexpose $(BIN)/relaystat \
	   $(BIN)/relaybench $(BIN)/relaykey
TESTS	 = $(BIN)/test_mux $(BIN)/test_stats $(BIN)/test_proto $(BIN)/test_auth \
	   $(BIN)/test_crypto $(BIN)/test_noise $(BIN)/test_keys $(BIN)/test_proxy
FUZZERS	 = $(BIN)/fuzz_mux $(BIN)/fuzz_hello $(BIN)/fuzz_proc \
	   $(BIN)/fuzz_noise $(BIN)/fuzz_keys $(BIN)/fuzz_proxy
# Test tools: the differential tests' driver, the crypto benchmark and,
# where valgrind's header is installed, the constant-time check.
CTCHECK	 = $(if $(wildcard /usr/include/valgrind/memcheck.h),$(BIN)/ctcheck)
TOOLS	 = $(BIN)/cryptodrv $(BIN)/cryptobench $(CTCHECK)

CORE	 = mux session conn ev net log hs noise keys $(CRYPTO)
RELAY_O	 = relay master worker proc stats hello auth sandbox proxy $(CORE)
BACKEND	 = backend hello auth proxy $(CORE)
CRYPTO	 = crypto x25519 chacha blake2s
KEYS	 = keys auth hello $(CRYPTO)

all: $(PROGS) $(TESTS) $(BIN)/statsreader $(BIN)/wanlink $(TOOLS)

$(OBJ)/%.o: src/%.c include/*.h src/*.h | $(OBJ)
	$(CC) $(CPPFLAGS_ALL) $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<
$(OBJ)/test_%.o: tests/unit/test_%.c tests/unit/unit.h include/*.h | $(OBJ)
	$(CC) $(CPPFLAGS_ALL) -Itests/unit $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<
$(OBJ):
	mkdir -p $@

$(BIN)/relay: $(RELAY_O:%=$(OBJ)/%.o)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/echoserver: $(OBJ)/echoserver.o $(BACKEND:%=$(OBJ)/%.o)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/relayexpose: $(OBJ)/relayexpose.o $(BACKEND:%=$(OBJ)/%.o)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/relaystat: $(OBJ)/relaystat.o $(OBJ)/stats.o
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/relaybench: $(OBJ)/relaybench.o $(OBJ)/net.o $(OBJ)/hs.o $(OBJ)/noise.o \
    $(KEYS:%=$(OBJ)/%.o)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/relaykey: $(OBJ)/relaykey.o $(KEYS:%=$(OBJ)/%.o)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# A reader of the stats ABI for the tests: checks every row it reads.
$(BIN)/statsreader: $(OBJ)/statsreader.o $(OBJ)/stats.o
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(OBJ)/statsreader.o: tests/lib/statsreader.c include/*.h | $(OBJ)
	$(CC) $(CPPFLAGS_ALL) $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<
# The WAN link emulator of tests/wan (a test tool, not installed).
$(BIN)/wanlink: tests/wan/wanlink.c | $(OBJ)
	$(CC) $(CPPFLAGS_ALL) $(CPPFLAGS) $(CFLAGS) $(WARN) $(LDFLAGS) -o $@ \
	    tests/wan/wanlink.c -lm -pthread
$(BIN)/test_mux: $(OBJ)/test_mux.o $(OBJ)/mux.o
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/test_stats: $(OBJ)/test_stats.o $(OBJ)/stats.o
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/test_proto: $(OBJ)/test_proto.o $(OBJ)/hello.o $(OBJ)/proc.o
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/test_proxy: $(OBJ)/test_proxy.o $(OBJ)/proxy.o
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/test_auth: $(OBJ)/test_auth.o $(OBJ)/auth.o
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/test_crypto: $(OBJ)/test_crypto.o $(CRYPTO:%=$(OBJ)/%.o)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/test_noise: $(OBJ)/test_noise.o $(OBJ)/noise.o $(CRYPTO:%=$(OBJ)/%.o)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/test_keys: $(OBJ)/test_keys.o $(KEYS:%=$(OBJ)/%.o)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The driver the differential tests (tests/diff/*.py) talk to.
$(BIN)/cryptodrv: $(OBJ)/cryptodrv.o $(OBJ)/noise.o $(KEYS:%=$(OBJ)/%.o)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(OBJ)/cryptodrv.o: tests/diff/cryptodrv.c include/*.h | $(OBJ)
	$(CC) $(CPPFLAGS_ALL) $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<
$(BIN)/cryptobench: $(OBJ)/cryptobench.o $(OBJ)/noise.o $(CRYPTO:%=$(OBJ)/%.o)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(OBJ)/cryptobench.o: tests/bench/cryptobench.c include/*.h | $(OBJ)
	$(CC) $(CPPFLAGS_ALL) $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<
# The constant-time check: the code under test built with CRYPTO_CTGRIND
# (its declassification points visible to valgrind), optimised as shipped.
CT_SRC	 = noise keys auth hello $(CRYPTO)
$(OBJ)/ct:
	mkdir -p $@
$(OBJ)/ct/%.o: src/%.c include/*.h src/*.h | $(OBJ)/ct
	$(CC) $(CPPFLAGS_ALL) -DCRYPTO_CTGRIND $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<
$(OBJ)/ct/ctcheck.o: tests/ct/ctcheck.c include/*.h | $(OBJ)/ct
	$(CC) $(CPPFLAGS_ALL) -DCRYPTO_CTGRIND $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<
$(BIN)/ctcheck: $(OBJ)/ct/ctcheck.o $(CT_SRC:%=$(OBJ)/ct/%.o)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# make run: the relay on its defaults, in the foreground.
run: $(PROGS)
	$(BIN)/relay $(PORT)

# Benchmarks against a direct loopback echo: the table of ratios.
# The relay with its counters compiled out, to show what they cost.
$(BIN)/nostats/relay: src/*.c include/*.h
	$(MAKE) BIN=$(BIN)/nostats CFLAGS="$(CFLAGS) -DRELAY_NO_STATS" \
	    $(BIN)/nostats/relay
bench: $(PROGS) $(BIN)/nostats/relay
	bash tests/bench/run.sh
	bash tests/bench/stats_cost.sh
bench-quick: $(PROGS) $(BIN)/nostats/relay
	bash tests/bench/run.sh --quick
	bash tests/bench/stats_cost.sh --quick
# Throughput of the primitives and handshakes per second, on one core.
crypto-bench: $(BIN)/cryptobench
	$(BIN)/cryptobench

# The relay over an emulated WAN link (50 ms, 200 Mbit/s, 0 and 0.1 %
# loss): tests/wan/bench.sh, about 14 minutes; -quick is a smoke run.
bench-wan: $(PROGS) $(BIN)/wanlink
	-$(MAKE) -C $(INTEROP) OUT="$(CURDIR)/$(BIN)/interop" >/dev/null 2>&1
	bash tests/wan/bench.sh
bench-wan-quick: $(PROGS) $(BIN)/wanlink
	-$(MAKE) -C $(INTEROP) OUT="$(CURDIR)/$(BIN)/interop" >/dev/null 2>&1
	bash tests/wan/bench.sh --quick

test: all
	@sh tests/run.sh $(TESTS)

# All unit tests under AddressSanitizer and UndefinedBehaviorSanitizer.
asan:
	$(MAKE) BIN=bin/asan CC=clang \
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    bin/asan/test_mux bin/asan/test_stats bin/asan/test_proto \
	    bin/asan/test_auth bin/asan/test_crypto bin/asan/test_noise \
	    bin/asan/test_keys bin/asan/test_proxy
	@ASAN_OPTIONS=detect_leaks=1 sh tests/run.sh --unit-only \
	    bin/asan/test_mux bin/asan/test_stats bin/asan/test_proto \
	    bin/asan/test_auth bin/asan/test_crypto bin/asan/test_noise \
	    bin/asan/test_keys bin/asan/test_proxy

# The code under test gets coverage instrumentation; the harness (its
# checking model) only the sanitizers, so its loops do not slow the search.
FUZZFLAGS = -std=c11 -D_GNU_SOURCE -Iinclude -g -O1 -fsanitize=address,undefined
FUZZCOV	 = $(FUZZFLAGS) -fsanitize=fuzzer-no-link
FUZZLINK = $(FUZZFLAGS) -fsanitize=fuzzer
$(BIN)/fuzz_mux: tests/fuzz/fuzz_mux.c src/mux.c include/mux.h
	@mkdir -p $(BIN)
	clang $(FUZZFLAGS) -c -o $(BIN)/fuzz_mux.h.o tests/fuzz/fuzz_mux.c
	clang $(FUZZCOV) -c -o $(BIN)/fuzz_mux.t.o src/mux.c
	clang $(FUZZLINK) -o $@ $(BIN)/fuzz_mux.h.o $(BIN)/fuzz_mux.t.o
$(BIN)/fuzz_hello: tests/fuzz/fuzz_hello.c src/hello.c include/hello.h
	@mkdir -p $(BIN)
	clang $(FUZZFLAGS) -c -o $(BIN)/fuzz_hello.h.o tests/fuzz/fuzz_hello.c
	clang $(FUZZCOV) -c -o $(BIN)/fuzz_hello.t.o src/hello.c
	clang $(FUZZLINK) -o $@ $(BIN)/fuzz_hello.h.o $(BIN)/fuzz_hello.t.o
$(BIN)/fuzz_proxy: tests/fuzz/fuzz_proxy.c src/proxy.c include/proxy.h
	@mkdir -p $(BIN)
	clang $(FUZZFLAGS) -c -o $(BIN)/fuzz_proxy.h.o tests/fuzz/fuzz_proxy.c
	clang $(FUZZCOV) -c -o $(BIN)/fuzz_proxy.t.o src/proxy.c
	clang $(FUZZLINK) -o $@ $(BIN)/fuzz_proxy.h.o $(BIN)/fuzz_proxy.t.o
$(BIN)/fuzz_proc: tests/fuzz/fuzz_proc.c src/proc.c src/hello.c include/proc.h
	@mkdir -p $(BIN)
	clang $(FUZZFLAGS) -c -o $(BIN)/fuzz_proc.h.o tests/fuzz/fuzz_proc.c
	clang $(FUZZCOV) -c -o $(BIN)/fuzz_proc.t.o src/proc.c
	clang $(FUZZCOV) -c -o $(BIN)/fuzz_proc.t2.o src/hello.c
	clang $(FUZZLINK) -o $@ $(BIN)/fuzz_proc.h.o $(BIN)/fuzz_proc.t.o \
	    $(BIN)/fuzz_proc.t2.o
# The primitives under the fuzz targets get the sanitizers, not coverage:
# the search is about the parsers and state machines above them.
FUZZ_CRYPTO = $(CRYPTO:%=src/%.c)
$(BIN)/fuzz_noise: tests/fuzz/fuzz_noise.c src/noise.c $(FUZZ_CRYPTO) \
    include/noise.h include/crypto.h src/crypto_impl.h
	@mkdir -p $(BIN)/fuzzobj/noise
	clang $(FUZZFLAGS) -c -o $(BIN)/fuzz_noise.h.o tests/fuzz/fuzz_noise.c
	clang $(FUZZCOV) -c -o $(BIN)/fuzz_noise.t.o src/noise.c
	for f in $(CRYPTO); do clang $(FUZZFLAGS) -c \
	    -o $(BIN)/fuzzobj/noise/$$f.o src/$$f.c || exit 1; done
	clang $(FUZZLINK) -o $@ $(BIN)/fuzz_noise.h.o $(BIN)/fuzz_noise.t.o \
	    $(CRYPTO:%=$(BIN)/fuzzobj/noise/%.o)
$(BIN)/fuzz_keys: tests/fuzz/fuzz_keys.c src/keys.c src/auth.c src/hello.c \
    $(FUZZ_CRYPTO) include/keys.h include/crypto.h src/crypto_impl.h
	@mkdir -p $(BIN)/fuzzobj/keys
	clang $(FUZZFLAGS) -c -o $(BIN)/fuzz_keys.h.o tests/fuzz/fuzz_keys.c
	clang $(FUZZCOV) -c -o $(BIN)/fuzz_keys.t.o src/keys.c
	for f in auth hello $(CRYPTO); do clang $(FUZZFLAGS) -c \
	    -o $(BIN)/fuzzobj/keys/$$f.o src/$$f.c || exit 1; done
	clang $(FUZZLINK) -o $@ $(BIN)/fuzz_keys.h.o $(BIN)/fuzz_keys.t.o \
	    $(patsubst %,$(BIN)/fuzzobj/keys/%.o,auth hello $(CRYPTO))

# Every fuzz target for FUZZ_SECONDS each, on a copy of its seed corpus.
fuzz: $(FUZZERS)
	@set -e; for f in $(FUZZERS); do \
	    t=$$(basename $$f | sed 's/^fuzz_//'); \
	    mkdir -p $(BIN)/corpus/$$t; \
	    cp -n tests/fuzz/corpus/$$t/* $(BIN)/corpus/$$t/ 2>/dev/null || true; \
	    echo "== $$f for $(FUZZ_SECONDS) s"; \
	    if ! $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=$(BIN)/ $(BIN)/corpus/$$t >$(BIN)/fuzz_$$t.log 2>&1; then \
	        tail -n 40 $(BIN)/fuzz_$$t.log; exit 1; fi; \
	    grep -E '^#[0-9]+ +DONE|^stat::number_of_executed_units' $(BIN)/fuzz_$$t.log; \
	done

install: $(PROGS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 man/relaystat.1 man/echoserver.1 man/relayexpose.1 \
	    man/relaybench.1 man/relaykey.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/relay.8 $(DESTDIR)$(PREFIX)/share/man/man8/

uninstall:
	rm -f $(PROGS:$(BIN)/%=$(DESTDIR)$(PREFIX)/bin/%)
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/relaystat.1 \
	    $(DESTDIR)$(PREFIX)/share/man/man1/echoserver.1 \
	    $(DESTDIR)$(PREFIX)/share/man/man1/relayexpose.1 \
	    $(DESTDIR)$(PREFIX)/share/man/man1/relaybench.1 \
	    $(DESTDIR)$(PREFIX)/share/man/man1/relaykey.1 \
	    $(DESTDIR)$(PREFIX)/share/man/man8/relay.8

fuzz-cov:
	bash tests/fuzz/coverage.sh

clean:
	rm -rf $(BIN)/obj $(BIN)/asan $(BIN)/interop $(BIN)/nostats $(PROGS) \
	    $(TESTS) $(BIN)/statsreader $(BIN)/wanlink $(BIN)/bench-results.jsonl $(BIN)/wan-results.jsonl \
	    $(BIN)/cryptodrv $(BIN)/cryptobench $(BIN)/ctcheck $(BIN)/fuzzobj \
	    $(FUZZERS) $(BIN)/fuzz_*.o $(BIN)/fuzz_*.log $(BIN)/corpus $(BIN)/fuzzcov $(BIN)/crash-* $(BIN)/leak-* $(BIN)/timeout-*

.PHONY: all run test bench bench-quick bench-wan bench-wan-quick crypto-bench asan fuzz fuzz-cov install uninstall clean
