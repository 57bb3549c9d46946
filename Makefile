# libsshmux / sshmuxd -- top-level GNU Makefile.
#
# One Makefile, no generated build system.  Sources are picked up by
# wildcard: every lib/MODULE/*.c goes into the library, every examples/NAME/*.c into
# examples/NAME, every tests/test-*.c into the test runner (tests register
# themselves with TEST_IMPL, see tests/test.h).  Objects live under $(B)/.
#
#   make            library, daemon, examples
#   make check      install missing deps, build, run every test
#   make asan       the same suite under ASan + UBSan (build-asan/)
#   make demo       install missing deps, build, show the pool at work
#   make install    PREFIX=/usr/local DESTDIR=
#   make format / format-check
#   make check-layers   includes follow the module order (also in check)
#   V=1             show full commands

VERSION_MAJOR := 0
VERSION_MINOR := 1
VERSION_PATCH := 0
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=

B ?= build
CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif
PKG_CONFIG ?= pkg-config
UNAME_S := $(shell uname -s)

PKGS := libssh2 libuv inih libsodium
DEP_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
DEP_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lmbedcrypto -lpthread

OPT ?= -O2
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wformat=2 -Wno-format-nonliteral -Wvla -Werror
CFLAGS ?= $(OPT) -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -fPIC -fvisibility=hidden \
	-Iinclude -Ilib $(DEP_CFLAGS) $(SAN) $(CFLAGS)
ALL_LDFLAGS := $(SAN) $(LDFLAGS)

ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2)
endif

LIB_SRCS := $(sort $(wildcard lib/*/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
DAEMON_SRCS := $(sort $(wildcard daemon/*.c))
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(B)/%.o)
# examples/common/ is not a program: its files are linked into every one.
EXAMPLES := $(filter-out common,$(notdir $(wildcard examples/*)))
EXAMPLE_COMMON_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(wildcard examples/common/*.c))
EXAMPLE_BINS := $(EXAMPLES:%=$(B)/examples/%)
TEST_SRCS := $(sort $(wildcard tests/test-*.c))
TEST_SUPPORT_SRCS := $(filter-out tests/runner.c,$(filter-out $(TEST_SRCS),$(wildcard tests/*.c)))
TEST_OBJS := $(TEST_SRCS:%.c=$(B)/%.o) $(TEST_SUPPORT_SRCS:%.c=$(B)/%.o)
TEST_TOOLS_SRCS := $(sort $(wildcard tests/tools/*.c))
TEST_TOOLS := $(TEST_TOOLS_SRCS:tests/tools/%.c=$(B)/tests/tools/%)
# The bench's delay proxy is also a test tool (test-pool-window.c).
TEST_TOOLS += $(B)/bench/delay-proxy
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/%.c=%)
FUZZ_REPLAYS := $(FUZZ_NAMES:%=$(B)/tests/fuzz-replay/%)
HEADERS := $(wildcard include/*.h include/sshmux/*.h lib/*/*.h)

STATIC := $(B)/libsshmux.a
SONAME := libsshmux.so.$(VERSION_MAJOR)
SHARED := $(B)/$(SONAME)
ifeq ($(UNAME_S),Darwin)
SHARED_LDFLAGS := -dynamiclib -install_name $(LIBDIR)/libsshmux.$(VERSION_MAJOR).dylib
else
SHARED_LDFLAGS := -shared -Wl,-soname,$(SONAME) -Wl,--version-script=lib/libsshmux.map \
	-Wl,--no-undefined
endif

.PHONY: all lib daemon examples tests check asan demo install uninstall clean \
	format format-check abi-baseline deps deps-build bench fuzz fuzz-run check-layers
.DEFAULT_GOAL := all
# Objects made through pattern-rule chains (tests/tools/NAME.o) are not
# throw-away intermediates: deleting them raced with a parallel build.
.SECONDARY:

all: lib daemon examples
lib: $(STATIC) $(SHARED) $(B)/libsshmux.pc
daemon: $(B)/sshmuxd
examples: $(EXAMPLE_BINS)
tests: $(B)/tests/run-tests $(TEST_TOOLS) $(FUZZ_REPLAYS) all

$(B)/%.o: %.c $(HEADERS) $(B)/.flags
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Rebuild everything when the flags change (asan vs plain in one tree).
$(B)/.flags: FORCE
	@mkdir -p $(B)
	@echo '$(ALL_CFLAGS) $(ALL_LDFLAGS)' | cmp -s - $@ || echo '$(ALL_CFLAGS) $(ALL_LDFLAGS)' > $@
FORCE:

$(STATIC): $(LIB_OBJS)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(SHARED): $(LIB_OBJS) lib/libsshmux.map
	$(call say,LD,$@)
	$(Q)$(CC) $(SHARED_LDFLAGS) $(ALL_LDFLAGS) -o $@ $(LIB_OBJS) $(DEP_LIBS)
	$(Q)ln -sf $(SONAME) $(B)/libsshmux.so

$(B)/libsshmux.pc: pkgconfig/libsshmux.pc.in Makefile
	$(call say,GEN,$@)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

$(B)/sshmuxd: $(DAEMON_OBJS) $(STATIC)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(DAEMON_OBJS) $(STATIC) $(DEP_LIBS)

.SECONDEXPANSION:
# Example objects live under $(B)/obj/ so that $(B)/examples/NAME can be
# the program itself.
$(B)/obj/examples/%.o: examples/%.c $(HEADERS) $(wildcard examples/common/*.h) $(B)/.flags
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -Iexamples -c -o $@ $<

$(B)/examples/%: $$(addprefix $(B)/obj/,$$(subst .c,.o,$$(wildcard examples/$$*/*.c))) $(EXAMPLE_COMMON_OBJS) $(STATIC)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(STATIC) $(DEP_LIBS)

$(B)/tests/tools/%: $(B)/tests/tools/%.o $(STATIC)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(STATIC) $(DEP_LIBS)

# The test list is generated from the TEST_IMPL lines of the test files.
$(B)/tests/list.h: $(TEST_SRCS) scripts/gen-test-list.sh
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)
	$(Q)sh scripts/gen-test-list.sh $(TEST_SRCS) > $@.tmp && mv $@.tmp $@

$(B)/tests/runner.o: tests/runner.c $(B)/tests/list.h $(HEADERS) tests/test.h $(B)/.flags
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -I$(B)/tests -Itests -c -o $@ $<

$(B)/tests/%.o: tests/%.c $(HEADERS) $(wildcard tests/*.h tests/fuzz/*.h) $(B)/.flags
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests -Idaemon -c -o $@ $<

# The daemon's pure parsers (daemon/sshcfg.c) are unit-tested directly.
TEST_DAEMON_OBJS := $(B)/daemon/sshcfg.o
$(B)/tests/run-tests: $(B)/tests/runner.o $(TEST_OBJS) $(TEST_DAEMON_OBJS) $(STATIC)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(DEP_LIBS)

# libFuzzer targets: one tests/fuzz/fuzz-NAME.c per parser, built with clang
# (ASan + UBSan) into build-fuzz/fuzz/NAME.  `make fuzz-run` runs each for
# FUZZ_SECONDS (FUZZ_TARGETS: a subset) on build-fuzz/corpus/NAME, seeded
# from tests/fuzz/corpus/NAME/, and fails on any crash, leak or timeout
# (scripts/fuzz-run.sh).  The same sources are also linked, with the
# ordinary compiler, to tests/fuzz/replay.c as $(B)/tests/fuzz-replay/NAME:
# `make check` replays every committed corpus through them (the test
# fuzz_corpora_replay), so no libFuzzer is needed for that.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_MAKE = $(MAKE) --no-print-directory B=build-fuzz CC=clang OPT=-O1 \
	SAN='-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer'
fuzz:
	@$(FUZZ_MAKE) $(FUZZ_NAMES:%=build-fuzz/fuzz/%)
fuzz-run: fuzz
	@sh scripts/fuzz-run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

$(B)/fuzz/%: tests/fuzz/%.c $(STATIC) $(HEADERS) $(wildcard tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	$(call say,FUZZ,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/fuzz -fsanitize=fuzzer -o $@ $< $(STATIC) \
		$(DEP_LIBS)

# fuzz-daemon-sshcfg compiles daemon/sshcfg.c in (#include): rebuild both
# of its forms when that changes.
$(B)/fuzz/fuzz-daemon-sshcfg $(B)/tests/fuzz/fuzz-daemon-sshcfg.o: \
	daemon/sshcfg.c daemon/sshcfg.h

$(B)/tests/fuzz-replay/%: $(B)/tests/fuzz/%.o $(B)/tests/fuzz/replay.o $(STATIC)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(DEP_LIBS)

# The module layering (docs/architecture.md); make check runs it too, as
# the test layers_tree_follows_the_order.
check-layers:
	@sh scripts/check-layers.sh

deps:
	@sh scripts/deps.sh

deps-build:
	@sh scripts/deps.sh --build-only

TEST_JOBS ?= 2
check: deps
	@$(MAKE) --no-print-directory tests
	@SSHMUX_BUILD=$(abspath $(B)) $(B)/tests/run-tests -j $(TEST_JOBS) $(TESTS)

asan: deps
	@$(MAKE) --no-print-directory B=build-asan OPT=-O1 \
		SAN='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined' tests
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 SSHMUX_TEST_TIMEOUT_SCALE=3 \
		SSHMUX_BUILD=$(abspath build-asan) build-asan/tests/run-tests -j $(TEST_JOBS) $(TESTS)

demo: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh $(abspath $(B))

# The bench's own tools (stopwatch, delay proxy): built for `make bench` only.
BENCH_TOOLS := $(patsubst bench/%.c,$(B)/bench/%,$(wildcard bench/*.c))
$(B)/bench/%: bench/%.c $(B)/.flags
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(DEP_LIBS)

bench: deps
	@$(MAKE) --no-print-directory tests $(BENCH_TOOLS)
	@sh bench/run.sh $(abspath $(B))

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/sshmux $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man3
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libsshmux.so
	install -m 644 include/sshmux.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 include/sshmux/*.h $(DESTDIR)$(INCLUDEDIR)/sshmux/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
		pkgconfig/libsshmux.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libsshmux.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/libsshmux.pc
	install -m 755 $(B)/sshmuxd $(DESTDIR)$(BINDIR)/
	for m in docs/man/*.8; do [ -f "$$m" ] && install -m 644 "$$m" $(DESTDIR)$(MANDIR)/man8/; done; true
	for m in docs/man/*.3; do [ -f "$$m" ] && install -m 644 "$$m" $(DESTDIR)$(MANDIR)/man3/; done; true

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libsshmux.a $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/libsshmux.so $(DESTDIR)$(INCLUDEDIR)/sshmux.h \
		$(DESTDIR)$(LIBDIR)/pkgconfig/libsshmux.pc $(DESTDIR)$(BINDIR)/sshmuxd
	rm -rf $(DESTDIR)$(INCLUDEDIR)/sshmux

FORMAT_FILES = $(wildcard include/*.h include/sshmux/*.h lib/*/*.[ch] daemon/*.[ch] \
	examples/*/*.[ch] tests/*.[ch] tests/tools/*.c tests/fuzz/*.[ch] bench/*.c)
# The ABI baseline tests/test-build-abi.c compares against (docs/ABI.md):
# renew it only when a release deliberately changes the ABI.
abi-baseline: lib
	abidw --no-corpus-path --headers-dir include --drop-private-types \
		$(SHARED) > abi/libsshmux.so.$(VERSION_MAJOR).abi

format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run -Werror $(FORMAT_FILES)

clean:
	rm -rf build build-asan build-fuzz
