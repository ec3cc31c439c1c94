# linesvr — plain Makefile. `make` builds, `make test` runs every test
# (normal and ASan+UBSan builds), `make run` serves a sample file.

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
OPT     ?= -O2 -g
B       ?= build
SANFLAGS ?=

# OpenBSD-style warning set; -Werror keeps the default build clean.
WARN = -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wcast-qual \
       -Wstrict-prototypes -Wmissing-prototypes -Wmissing-declarations \
       -Wsign-compare -Wformat=2 -Wundef
# _GNU_SOURCE: Linux interfaces the server uses on purpose (accept4,
# SO_REUSEPORT, MADV_HUGEPAGE, getrandom, inotify); everything else is
# C11 + POSIX.
CFLAGS  ?=
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Iinclude $(OPT) $(WARN) $(SANFLAGS) \
       -MMD -MP $(CFLAGS)
LDLIBS_EV    = -lev -lm
LDLIBS_INI   = $(shell pkg-config --libs inih 2>/dev/null || echo -linih)
LDLIBS_CMOCKA = $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)
LDLIBS = $(LDLIBS_EV) $(LDLIBS_INI) -lpthread
LDFLAGS ?=

# Library modules: every src/*.c that is not a program's main.
MAINS    = src/main.c src/linesvr-index.c
LIB_SRC  = $(filter-out $(MAINS),$(wildcard src/*.c))
LIB_OBJ  = $(LIB_SRC:src/%.c=$(B)/obj/%.o)
BENCH_SRC = $(wildcard loadtest/*.c)
# nullsvr.c and gendata.c are programs of their own (linesvr-null,
# linesvr-gendata), not bench modules.
BENCH_LIB_SRC = $(filter-out loadtest/main.c loadtest/nullsvr.c \
    loadtest/gendata.c,$(BENCH_SRC))
BENCH_LIB_OBJ = $(BENCH_LIB_SRC:loadtest/%.c=$(B)/obj/lt_%.o)
UNIT_SRC = $(wildcard tests/test_*.c)
IT_SRC   = $(wildcard tests/it_*.c)
UNIT_BIN = $(UNIT_SRC:tests/%.c=$(B)/tests/%)
IT_BIN   = $(IT_SRC:tests/%.c=$(B)/tests/%)
PROGS    = $(B)/linesvr $(B)/linesvr-index $(B)/linesvr-gendata \
           $(if $(wildcard loadtest/main.c),$(B)/linesvr-bench)
# The benchmarks' reference server: built and tested, not installed.
NULLSVR  = $(B)/linesvr-null

.PHONY: all deps test test-unit test-it asan check-asan run bench soak clean \
    install fuzz fuzz-build fuzz-smoke
all: $(PROGS) $(NULLSVR)

deps:
	@scripts/install-deps.sh

$(B)/obj/%.o: src/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<
$(B)/obj/lt_%.o: loadtest/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Iloadtest -c -o $@ $<
# Tests may also include a module's private header (src/index_format.h).
$(B)/obj/tests/%.o: tests/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Iloadtest -Isrc -c -o $@ $<

$(B)/liblinesvr.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(B)/linesvr: $(B)/obj/main.o $(B)/liblinesvr.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/linesvr-index: $(B)/obj/linesvr-index.o $(B)/liblinesvr.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/linesvr-gendata: $(B)/obj/lt_gendata.o $(B)/obj/io.o
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ -lm
$(B)/linesvr-bench: $(B)/obj/lt_main.o $(BENCH_LIB_OBJ) $(B)/liblinesvr.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(NULLSVR): $(B)/obj/lt_nullsvr.o $(B)/liblinesvr.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ -lpthread

# Tests link every library module; the load generator's tests also link
# its modules, integration tests the harness.
$(B)/tests/test_bench_%: $(B)/obj/tests/test_bench_%.o $(BENCH_LIB_OBJ) \
    $(B)/liblinesvr.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_CMOCKA) $(LDLIBS)
$(B)/tests/test_%: $(B)/obj/tests/test_%.o $(B)/liblinesvr.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_CMOCKA) $(LDLIBS)
$(B)/tests/it_%: $(B)/obj/tests/it_%.o $(B)/obj/tests/harness.o $(B)/liblinesvr.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_CMOCKA) $(LDLIBS)
# The bench's integration test also checks its dial module directly.
$(B)/tests/it_bench: $(B)/obj/tests/it_bench.o $(B)/obj/tests/harness.o \
    $(BENCH_LIB_OBJ) $(B)/liblinesvr.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_CMOCKA) $(LDLIBS)

tests-build: $(PROGS) $(NULLSVR) $(UNIT_BIN) $(IT_BIN)

# The sanitizer build lives in build/asan and runs the same tests.
ASAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all \
             -fno-omit-frame-pointer
asan:
	@$(MAKE) --no-print-directory B=build/asan OPT="-O1 -g" \
	    SANFLAGS="$(ASAN_FLAGS)" tests-build

test: deps
	@$(MAKE) --no-print-directory tests-build
	@$(MAKE) --no-print-directory asan
	@tests/run.sh build build/asan
	@$(MAKE) --no-print-directory fuzz-smoke

# libFuzzer targets (tests/fuzz/fuzz_*.c), built with clang into
# build/fuzz: the modules with coverage and ASan+UBSan, each target linked
# with -fsanitize=fuzzer. `make fuzz` runs each for FUZZ_SECONDS; `make
# test` runs each for FUZZ_SMOKE_SECONDS, so a harness that no longer
# builds or crashes at once fails the tests. Corpora are copied to
# build/fuzz/run: nothing is written into the source tree.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 3
FB = $(B)/fuzz
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -Iinclude -Iloadtest -O1 -g \
       $(WARN) \
       -fsanitize=address,undefined -fno-sanitize-recover=all \
       -fno-omit-frame-pointer -MMD -MP
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN = $(FUZZ_SRC:tests/fuzz/%.c=$(FB)/%)
# Kept between builds: make would delete them as intermediates.
.SECONDARY: $(FUZZ_SRC:tests/fuzz/%.c=$(FB)/obj/%.o)
FUZZ_LIB_OBJ = $(LIB_SRC:src/%.c=$(FB)/obj/%.o)

$(FB)/obj/%.o: src/%.c | deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FB)/obj/lt_%.o: loadtest/%.c | deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FB)/obj/fuzz_%.o: tests/fuzz/fuzz_%.c | deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Isrc -fsanitize=fuzzer-no-link -c -o $@ $<
$(FB)/liblinesvr.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(FB)/fuzz_%: $(FB)/obj/fuzz_%.o $(FB)/liblinesvr.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ \
	    $(filter %.o,$^) $(FB)/liblinesvr.a $(LDLIBS)
# The bench's answer parser is not in the library.
$(FB)/fuzz_reply: $(FB)/obj/lt_reply.o

fuzz-build: $(FUZZ_BIN)

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@tests/fuzz/run.sh $(FB) $(FUZZ_SECONDS) $(FUZZ_BIN)

fuzz-smoke: deps
	@$(MAKE) --no-print-directory fuzz-build
	@tests/fuzz/run.sh $(FB) $(FUZZ_SMOKE_SECONDS) $(FUZZ_BIN)

run: all
	@scripts/run.sh

bench: all
	@scripts/bench.sh $(BENCH_ARGS)

# A long verified mixed load (not part of `make test`): make soak
# SOAK_MINUTES=N [SOAK_WARMUP=S] [SOAK_ARGS="--out DIR ..."].
soak: all
	@scripts/soak.sh $(if $(SOAK_MINUTES),--minutes $(SOAK_MINUTES)) \
	    $(if $(SOAK_WARMUP),--warmup $(SOAK_WARMUP)) $(SOAK_ARGS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/linesvr
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 conf/linesvr.ini $(DESTDIR)$(PREFIX)/share/linesvr/

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
