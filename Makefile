# linesvr — plain Makefile. `make` builds, `make test` runs every test
# (normal and ASan+UBSan builds), `make run` serves a sample file,
# `make install` installs, `make deb` builds a Debian package.

# Install layout (see README "Operating linesvr"). STRIP is install's
# strip flag: `make install STRIP=` installs binaries with their symbols.
PREFIX     ?= /usr/local
DESTDIR    ?=
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
STATEDIR   ?= $(LOCALSTATEDIR)/lib/linesvr
STRIP      ?= -s
CC      ?= cc
OPT     ?= -O2 -g
B       ?= build
SANFLAGS ?=

# OpenBSD-style warning set. `make test` (and so CI) adds -Werror to
# keep the code clean; a release build does not, so a newer compiler's
# new warning does not break it.
WERROR ?=
WARN = -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-qual \
       -Wstrict-prototypes -Wmissing-prototypes -Wmissing-declarations \
       -Wsign-compare -Wformat=2 -Wundef $(WERROR)
# _GNU_SOURCE: Linux interfaces the server uses on purpose (accept4,
# SO_REUSEPORT, MADV_HUGEPAGE, getrandom, inotify); everything else is
# C11 + POSIX. LINESVR_SYSCONFDIR: where the installed config lives,
# for --help.
DEFS = -D_GNU_SOURCE -DLINESVR_SYSCONFDIR=\"$(SYSCONFDIR)\"
CFLAGS  ?=
CPPFLAGS ?=
ALL_CFLAGS = -std=c11 $(DEFS) -Iinclude $(OPT) $(WARN) $(SANFLAGS) \
       -MMD -MP $(CPPFLAGS) $(CFLAGS)
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

.PHONY: all deps check-deps check-unit-deps check-fuzz-deps test \
    tests-build asan run bench soak clean install uninstall deb fuzz \
    fuzz-build fuzz-smoke FORCE
all: $(PROGS) $(NULLSVR)

# A build only checks its dependencies and says how to install what is
# missing; `make deps` installs the build dependencies, `make test` and
# `make run` install theirs too (scripts/install-deps.sh, apt-get).
deps:
	@scripts/install-deps.sh build
check-deps:
	@CC="$(CC)" scripts/install-deps.sh --check build
check-unit-deps:
	@CC="$(CC)" scripts/install-deps.sh --check unit
check-fuzz-deps:
	@scripts/install-deps.sh --check fuzz

# Objects depend on the flags they were compiled with (a stamp file), so
# changing OPT, CFLAGS or WERROR rebuilds them: `make test` after `make`
# recompiles with -Werror instead of trusting objects built without it.
define flags_stamp
	@mkdir -p $(@D)
	@printf '%s\n' '$(subst ','\'',$1)' | cmp -s - $@ || \
	    printf '%s\n' '$(subst ','\'',$1)' > $@
endef
$(B)/cflags: FORCE
	$(call flags_stamp,$(CC) $(ALL_CFLAGS))

$(B)/obj/%.o: src/%.c $(B)/cflags | check-deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<
$(B)/obj/lt_%.o: loadtest/%.c $(B)/cflags | check-deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Iloadtest -c -o $@ $<
# Tests may also include a module's private header (src/index_format.h).
$(B)/obj/tests/%.o: tests/%.c $(B)/cflags | check-unit-deps
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

# -Werror reaches every sub-make and script through the environment.
test: export WERROR = -Werror
test:
	@scripts/install-deps.sh test
	@$(MAKE) --no-print-directory tests-build
	@$(MAKE) --no-print-directory asan
	@tests/run.sh build build/asan
	@scripts/man-lint.sh
	@scripts/check-unit.sh build
	@tests/install.sh
	@tests/deb.sh
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
FUZZ_CFLAGS = -std=c11 $(DEFS) -Iinclude -Iloadtest -O1 -g \
       $(WARN) \
       -fsanitize=address,undefined -fno-sanitize-recover=all \
       -fno-omit-frame-pointer -MMD -MP
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN = $(FUZZ_SRC:tests/fuzz/%.c=$(FB)/%)
# Kept between builds: make would delete them as intermediates.
.SECONDARY: $(FUZZ_SRC:tests/fuzz/%.c=$(FB)/obj/%.o)
FUZZ_LIB_OBJ = $(LIB_SRC:src/%.c=$(FB)/obj/%.o)

$(FB)/cflags: FORCE
	$(call flags_stamp,$(FUZZ_CC) $(FUZZ_CFLAGS))
$(FB)/obj/%.o: src/%.c $(FB)/cflags | check-fuzz-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FB)/obj/lt_%.o: loadtest/%.c $(FB)/cflags | check-fuzz-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FB)/obj/fuzz_%.o: tests/fuzz/fuzz_%.c $(FB)/cflags | check-fuzz-deps
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

fuzz:
	@$(MAKE) --no-print-directory fuzz-build
	@tests/fuzz/run.sh $(FB) $(FUZZ_SECONDS) $(FUZZ_BIN)

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz-build
	@tests/fuzz/run.sh $(FB) $(FUZZ_SMOKE_SECONDS) $(FUZZ_BIN)

run:
	@scripts/install-deps.sh run
	@$(MAKE) --no-print-directory all
	@scripts/run.sh

# Three replicas of data/sample.txt behind HAProxy on 127.0.0.1:10497, in
# the background: scripts/cluster.sh status | restart-rolling | stop.
.PHONY: cluster
cluster:
	@scripts/install-deps.sh cluster
	@$(MAKE) --no-print-directory all
	@B=$(B) scripts/cluster.sh start $(CLUSTER_REPLICAS)

# The benchmark matrix, then the target table (scripts/targets.sh):
# make bench [BENCH_ARGS="--with-redis --with-memcached ..."]
# [TARGETS_ARGS="--pin --with-index-build ..."].
bench: all
	@B=$(B) TARGETS_ARGS='$(TARGETS_ARGS)' scripts/bench.sh $(BENCH_ARGS)

# A long verified mixed load (not part of `make test`): make soak
# SOAK_MINUTES=N [SOAK_WARMUP=S] [SOAK_ARGS="--out DIR ..."].
soak: all
	@scripts/soak.sh $(if $(SOAK_MINUTES),--minutes $(SOAK_MINUTES)) \
	    $(if $(SOAK_WARMUP),--warmup $(SOAK_WARMUP)) $(SOAK_ARGS)

# The installed config serves the sample text installed beside the
# program's data and keeps its index in STATEDIR, the unit's
# StateDirectory= (writable by the service); the installed unit runs the
# installed binary with it. Both are made from the tree's files by
# changing paths only; the recipe fails if a path was not found.
IB = $(B)/install
INI_FILE = file = $(DATADIR)/linesvr/sample.txt
INI_PATH = path = $(STATEDIR)/sample.txt.lidx
$(IB)/linesvr.ini: conf/linesvr.ini FORCE
	@mkdir -p $(@D)
	@sed -e '/^\[server\]/,/^\[/s|^file *=[^;]*|$(INI_FILE) |' \
	    -e '/^\[index\]/,/^\[/s|^path *=[^;]*|$(INI_PATH) |' \
	    conf/linesvr.ini > $@
	@grep -q '^$(INI_FILE) ' $@ && grep -q '^$(INI_PATH) ' $@ || \
	    { echo "install: conf/linesvr.ini has no [server] file or" \
	    "[index] path line to set" >&2; rm -f $@; exit 1; }
$(IB)/linesvr.service: scripts/linesvr.service FORCE
	@mkdir -p $(@D)
	@sed -e 's|/usr/\(local/\)\{0,1\}bin/linesvr|$(BINDIR)/linesvr|g' \
	    -e 's|/etc/linesvr/|$(SYSCONFDIR)/linesvr/|g' \
	    scripts/linesvr.service > $@

# Binaries, man pages, the sample text and the unit are replaced on every
# install; the config never is: a config already there, changed or not,
# is kept (the new default is $(IB)/linesvr.ini).
MAN_PAGES = $(wildcard man/*.[158])
CONF = $(DESTDIR)$(SYSCONFDIR)/linesvr/linesvr.ini
install: all $(IB)/linesvr.ini $(IB)/linesvr.service
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/linesvr \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/linesvr \
	    $(DESTDIR)$(STATEDIR) $(sort $(foreach p,$(MAN_PAGES), \
	    $(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(p)))))
	install -m 755 $(STRIP) $(PROGS) $(DESTDIR)$(BINDIR)/
	$(foreach p,$(MAN_PAGES),install -m 644 $(p) \
	    $(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(p)))/ &&) true
	install -m 644 conf/sample.txt $(DESTDIR)$(DATADIR)/linesvr/
	install -m 644 $(IB)/linesvr.service $(DESTDIR)$(UNITDIR)/
	@if [ -e $(CONF) ]; then \
	    echo "install: keeping $(CONF) (the new default: $(IB)/linesvr.ini)"; \
	else \
	    echo "install -m 644 $(IB)/linesvr.ini $(CONF)"; \
	    install -m 644 $(IB)/linesvr.ini $(CONF); \
	fi

# Removes what install added, except a config that differs from the one
# this tree installs (changed by its user: kept, as dpkg -r keeps
# conffiles) and indexes built in STATEDIR.
uninstall: $(IB)/linesvr.ini
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(PROGS))) \
	    $(DESTDIR)$(DATADIR)/linesvr/sample.txt \
	    $(DESTDIR)$(UNITDIR)/linesvr.service \
	    $(foreach p,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/man$(subst \
	    .,,$(suffix $(p)))/$(notdir $(p)))
	@if cmp -s $(IB)/linesvr.ini $(CONF); then \
	    echo "rm -f $(CONF)"; rm -f $(CONF); \
	elif [ -e $(CONF) ]; then \
	    echo "uninstall: keeping $(CONF): it was changed"; \
	fi
	-@rmdir $(DESTDIR)$(DATADIR)/linesvr $(DESTDIR)$(SYSCONFDIR)/linesvr \
	    $(DESTDIR)$(STATEDIR) 2>/dev/null

# make deb: the Debian package (debian/, debhelper), built from a copy of
# the tree in $(B)/deb/linesvr, so that dpkg-buildpackage writes the
# .deb, .buildinfo and .changes into $(B)/deb/, not beside the checkout.
# The package is built as a user's `make deb` builds it, whatever make
# invoked this one: no -Werror, no make flags or variables passed down.
DEB_JOBS ?= 2
deb:
	@command -v dh >/dev/null || { echo "linesvr: make deb needs" \
	    "debhelper (apt-get install debhelper; make test installs it)" >&2; \
	    exit 1; }
	rm -rf $(B)/deb
	mkdir -p $(B)/deb/linesvr
	tar -cf - --exclude=./.git --exclude=./build --exclude=./$(B) \
	    --exclude=./data --exclude=./results --exclude='*.lidx' . | \
	    tar -xf - -C $(B)/deb/linesvr
	cd $(B)/deb/linesvr && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    -u WERROR dpkg-buildpackage -b -uc -us -J$(DEB_JOBS)
	@ls $(B)/deb/*.deb

clean:
	rm -rf build

# (Not the package build's copy of the tree in build/deb.)
-include $(shell find build -path build/deb -prune -o -name '*.d' -print \
    2>/dev/null)
