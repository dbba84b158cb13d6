# lua-ctypes build.  Targets:
#   make          check/install system packages, build build/ctypes/core.so
#                 and spec/fixtures/libfixture.so
#   make test     the whole busted suite under lua5.4
#   make test LUA=lua5.3   the same against Lua 5.3 (build-lua5.3/)
#   make test-cross ARCH=aarch64|s390x|i386 [SMOKE=1]   cross-built, under
#                 qemu-user (doc/platforms.md)
#   make demo     run examples/quickstart.lua against the fresh build
#   make asan     core + fixture under ASan/UBSan, whole suite, leaks checked
#   make test PORTABLE=1   the core built with every target-specific path
#                 compiled out (libffi only: src/abi.h), the whole suite
#   make bench    every bench/*.lua (bench/*.c are built as Lua C modules)
#   make dist     the release: build/dist/ctypes-$(VERSION).tar.gz from the
#                 checkout, its rockspec, a .src.rock and a binary .rock
#   make lint     luacheck over lua/ spec/ examples/ bench/ (.luacheckrc)
#   make clean
#
# The module links libffi (found with pkg-config) and never liblua: the Lua
# API symbols come from the interpreter that loads it.

# Use gcc unless CC was set explicitly (make's built-in default is "cc").
ifeq ($(origin CC),default)
CC = gcc
endif
LUA        ?= lua5.4
BUSTED     ?= busted
PKG_CONFIG ?= pkg-config

# Deferred (=) on purpose: these run when a recipe needs them, i.e. after
# the deps step has had a chance to install pkg-config and the headers.
LUA_CFLAGS = $(shell $(PKG_CONFIG) --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
FFI_CFLAGS = $(shell $(PKG_CONFIG) --cflags libffi 2>/dev/null)
FFI_LIBS   = $(shell $(PKG_CONFIG) --libs libffi 2>/dev/null || echo -lffi)

CFLAGS      ?= -O2
WARN         = -Wall -Wextra
# -fno-plt: calls from the core to the Lua API and libffi go through the
# GOT, one jump less each (measured: about 10 instructions less per call or
# callback, callgrind). Symbol visibility: src/ctypes.h's pragma hides
# everything but luaopen_ctypes_core, whatever flags build the core.
CORE_CFLAGS  = -std=c11 -fPIC -fno-plt $(WARN) $(LUA_CFLAGS) $(FFI_CFLAGS) $(ABI_CFLAGS)
# PORTABLE=1: no target-specific path (src/abi.h); objects of each flavour
# in their own directory, the core relinked when the flavour changes
PORTABLE    ?=
ifeq ($(PORTABLE),1)
ABI_CFLAGS   = -DCT_PORTABLE
FLAVOR       = portable
# its own build directory (core, fxmod, objects, test counts): see BUILD_DIR
BUILD_DIR   ?= build-portable
else
ABI_CFLAGS   =
FLAVOR       = native
endif
FIX_CFLAGS   = -O2 -fPIC $(WARN)
FIX_LIBS     = -lm -lpthread
ASAN_FLAGS   = -fsanitize=address,undefined -fno-omit-frame-pointer -g -O1 -DCT_DEBUG

SRC      := $(sort $(wildcard src/*.c))
HDR      := $(wildcard src/*.h)
OBJ      := $(patsubst src/%.c,build/obj-$(FLAVOR)/%.o,$(SRC))
ASAN_OBJ := $(patsubst src/%.c,build-asan/obj-$(FLAVOR)/%.o,$(SRC))
FIX_SRC  := $(sort $(wildcard spec/fixtures/*.c))
FIX_HDR  := $(wildcard spec/fixtures/*.h)
BENCH_C  := $(sort $(wildcard bench/*.c))
BENCH_SO := $(patsubst bench/%.c,build/bench/%.so,$(BENCH_C))

CORE     := build/ctypes/core.so
FIXTURE  := spec/fixtures/libfixture.so
# the fixture's Lua C module ("another binding" calling back from its frames)
FXMOD_SRC    := spec/fixtures/lua/fxmod.c
FXMOD        := build/fxmod.so
ASAN_CORE    := build-asan/ctypes/core.so
ASAN_FIXTURE := build-asan/libfixture.so
ASAN_FXMOD   := build-asan/fxmod.so

# Paths for running Lua outside busted (demo, bench): the trailing ";;"
# keeps the system paths.
RUN_ENV = LUA_PATH='$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;' \
          LUA_CPATH='$(CURDIR)/build/?.so;$(CURDIR)/build/bench/?.so;;'

# Sanitizer run: the runtimes are preloaded into the (uninstrumented) lua5.4;
# every report goes to a file under build-asan/logs, and any file there fails
# the run (as does a non-zero exit status).  build-asan/noinherit.so removes
# LD_PRELOAD from lua5.4's environment once it runs, so tools started by specs
# (gcc, sh, luarocks) are not sanitized; spec/helper.lua re-adds the runtimes
# (CTYPES_ASAN_PRELOAD) for Lua children that load the ASan build.
ASAN_LOGS    = $(CURDIR)/build-asan/logs
ASAN_RT      = $(shell $(CC) -print-file-name=libasan.so) $(shell $(CC) -print-file-name=libubsan.so)
ASAN_SHIM    = build-asan/noinherit.so
ASAN_ENV     = LD_PRELOAD="$(ASAN_RT) $(CURDIR)/$(ASAN_SHIM)" CTYPES_ASAN_PRELOAD="$(ASAN_RT)" \
  ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:log_path=$(ASAN_LOGS)/asan" \
  LSAN_OPTIONS="suppressions=$(CURDIR)/spec/support/lsan.supp:print_suppressions=0" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$(ASAN_LOGS)/ubsan" \
  CTYPES_BUILD_DIR=build-asan CTYPES_FIXTURE="$(CURDIR)/$(ASAN_FIXTURE)"

# Debian packages that provide everything above (plus luarocks for the
# rockspec spec, the libraries examples/ load: libsqlite3.so.0 from
# libsqlite3-0, libcrypto.so.3 from libssl3; zlib.h for the cdef specs).
DEB_PKGS = lua5.4 liblua5.4-dev libffi-dev pkg-config lua-busted luarocks gcc libc6-dev make \
           zlib1g-dev libsqlite3-0 libssl3

# ------------------------------------------ other Lua, other targets ----
# `make test LUA=lua5.3` builds against Lua 5.3 into build-lua5.3/ (build/
# stays the 5.4 build) and runs the suite under lua5.3 without the specs that
# need 5.4 syntax (spec/*_54_spec.lua).  `make test-cross ARCH=...` (below)
# builds for another architecture into build-<arch>/.  BUILD_DIR, when set,
# receives ctypes/core.so, fxmod.so, obj/ and the test counts; a cross build
# also puts its fixture there (CROSS=1).
LUA_VERSION := $(patsubst lua%,%,$(notdir $(LUA)))
ifeq ($(LUA_VERSION),5.3)
BUILD_DIR   ?= build-lua5.3
LUA_CFLAGS   = $(shell $(PKG_CONFIG) --cflags lua5.3 2>/dev/null || echo -I/usr/include/lua5.3)
DEB_PKGS    += lua5.3 liblua5.3-dev
BUSTED_ARGS += --exclude-pattern=_54_spec
endif
ifneq ($(BUILD_DIR),)
CORE  := $(BUILD_DIR)/ctypes/core.so
OBJ   := $(patsubst src/%.c,$(BUILD_DIR)/obj/%.o,$(SRC))
FXMOD := $(BUILD_DIR)/fxmod.so
ifneq ($(CROSS),)
FIXTURE := $(BUILD_DIR)/libfixture.so
$(FIXTURE): | $(BUILD_DIR)/obj
$(BUILD_DIR)/obj:
	@mkdir -p $@
endif
# what the specs' child processes and helper.lua use
TEST_ENV     = CTYPES_LUA='$(LUA)' CTYPES_BUILD_DIR='$(CURDIR)/$(BUILD_DIR)' \
               CTYPES_FIXTURE='$(abspath $(FIXTURE))'
BUSTED_ARGS += --cpath='$(BUILD_DIR)/?.so'
$(BUILD_DIR)/obj/%.o: src/%.c $(HDR) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CORE_CFLAGS) -c -o $@ $<
endif
TEST_OUT = $(or $(BUILD_DIR),build)

.PHONY: all build deps test demo asan asan-build bench clean dist rock rock-install lint lint-summary

all: deps build

build: $(CORE) $(FIXTURE) $(FXMOD)

# ---------------------------------------------------------------- deps ----
# Fast when everything is present (no apt call).  As root, installs what is
# missing; otherwise prints the exact command and fails.
deps:
	@missing=""; \
	command -v $(LUA) >/dev/null 2>&1 || missing="$$missing $(LUA)"; \
	command -v $(BUSTED) >/dev/null 2>&1 || missing="$$missing busted"; \
	command -v $(PKG_CONFIG) >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	command -v luarocks >/dev/null 2>&1 || missing="$$missing luarocks"; \
	libs=$$( (ldconfig -p || /sbin/ldconfig -p) 2>/dev/null ); \
	for so in libsqlite3.so.0 libcrypto.so.3; do \
	  printf '%s\n' "$$libs" | grep -q "^[[:space:]]*$$so " || missing="$$missing $$so"; \
	done; \
	if command -v $(CC) >/dev/null 2>&1; then \
	  printf '#include <lua.h>\n#include <lauxlib.h>\n' | $(CC) -E $(LUA_CFLAGS) -x c - >/dev/null 2>&1 \
	    || missing="$$missing lua$(LUA_VERSION)-headers"; \
	  printf '#include <ffi.h>\n' | $(CC) -E -x c - >/dev/null 2>&1 || missing="$$missing ffi.h"; \
	  printf '#include <zlib.h>\n' | $(CC) -E -x c - >/dev/null 2>&1 || missing="$$missing zlib.h"; \
	else missing="$$missing gcc"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "deps: missing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "deps: apt-get update && apt-get install -y $(DEB_PKGS)"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -q && apt-get install -y -q $(DEB_PKGS) </dev/null || exit 1; \
	  else \
	    echo "deps: run as root:  sudo apt-get update && sudo apt-get install -y $(DEB_PKGS)"; \
	    exit 1; \
	  fi; \
	fi

# ---------------------------------------------------------------- core ----
# the flavour stamp: new whenever the flavour changes
build/flavor.$(FLAVOR) build-asan/flavor.$(FLAVOR):
	@mkdir -p $(@D)
	@rm -f $(@D)/flavor.*
	@touch $@

$(CORE): $(OBJ) build/flavor.$(FLAVOR) | deps
	@if [ -z "$(SRC)" ]; then echo "make: no C sources in src/ yet" >&2; exit 1; fi
	@mkdir -p $(@D)
	$(CC) -shared $(CFLAGS) $(LDFLAGS) -o $@ $(OBJ) $(FFI_LIBS)
	@if ldd $@ | grep -q liblua; then echo "error: $@ links liblua" >&2; rm -f $@; exit 1; fi

build/obj-$(FLAVOR)/%.o: src/%.c $(HDR) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CORE_CFLAGS) -c -o $@ $<

# The fixture: every spec/fixtures/*.c in one library (never a mock).
$(FIXTURE): $(FIX_SRC) $(FIX_HDR) | deps
	@if [ -z "$(FIX_SRC)" ]; then echo "make: no spec/fixtures/*.c yet, $@ not built"; exit 0; fi; \
	echo "$(CC) $(FIX_CFLAGS) -shared -o $@ $(FIX_SRC) $(FIX_LIBS)"; \
	$(CC) $(FIX_CFLAGS) -shared -o $@ $(FIX_SRC) $(FIX_LIBS)

$(FXMOD): $(FXMOD_SRC) | deps
	@mkdir -p $(@D)
	$(CC) $(FIX_CFLAGS) $(LUA_CFLAGS) -shared -o $@ $<

# ---------------------------------------------------------------- test ----
# spec/support/output.lua prints busted's usual output and writes the counts
# to $CTYPES_COUNTS; spec/support/summary.lua turns them into the last line.
test: deps build
	@rm -f $(TEST_OUT)/counts $(TEST_OUT)/summary
	@status=0; $(TEST_ENV) CTYPES_COUNTS=$(TEST_OUT)/counts $(BUSTED) --lua=$(LUA) $(BUSTED_ARGS) || status=$$?; \
	$(LUA) spec/support/summary.lua --label test --status $$status --out $(TEST_OUT)/summary $(TEST_OUT)/counts

demo: deps build
	$(RUN_ENV) $(LUA) examples/quickstart.lua

# ---------------------------------------------------------------- asan ----
asan-build: $(ASAN_CORE) $(ASAN_FIXTURE) $(ASAN_FXMOD) $(ASAN_SHIM)

$(ASAN_SHIM): spec/support/noinherit.c | deps
	@mkdir -p $(@D)
	$(CC) -O2 -fPIC $(WARN) -shared -o $@ $<

$(ASAN_CORE): $(ASAN_OBJ) build-asan/flavor.$(FLAVOR) | deps
	@if [ -z "$(SRC)" ]; then echo "make: no C sources in src/ yet" >&2; exit 1; fi
	@mkdir -p $(@D)
	$(CC) -shared $(ASAN_FLAGS) $(LDFLAGS) -o $@ $(ASAN_OBJ) $(FFI_LIBS)
	@if ldd $@ | grep -q liblua; then echo "error: $@ links liblua" >&2; rm -f $@; exit 1; fi

build-asan/obj-$(FLAVOR)/%.o: src/%.c $(HDR) | deps
	@mkdir -p $(@D)
	$(CC) $(ASAN_FLAGS) $(CORE_CFLAGS) -c -o $@ $<

$(ASAN_FIXTURE): $(FIX_SRC) $(FIX_HDR) | deps
	@mkdir -p $(@D)
	@if [ -z "$(FIX_SRC)" ]; then echo "make: no spec/fixtures/*.c yet, $@ not built"; exit 0; fi; \
	echo "$(CC) $(ASAN_FLAGS) -fPIC $(WARN) -shared -o $@ $(FIX_SRC) $(FIX_LIBS)"; \
	$(CC) $(ASAN_FLAGS) -fPIC $(WARN) -shared -o $@ $(FIX_SRC) $(FIX_LIBS)

$(ASAN_FXMOD): $(FXMOD_SRC) | deps
	@mkdir -p $(@D)
	$(CC) $(ASAN_FLAGS) -fPIC $(WARN) $(LUA_CFLAGS) -shared -o $@ $<

# busted is started directly under lua5.4 (not via --lua, which would run a
# second interpreter with the runtimes preloaded); --run=asan selects the
# build-asan/ cpath from .busted.
asan: deps asan-build
	@rm -rf $(ASAN_LOGS) build-asan/counts build-asan/summary; mkdir -p $(ASAN_LOGS)
	@status=0; $(ASAN_ENV) CTYPES_COUNTS=build-asan/counts \
	  $(LUA) "$$(command -v $(BUSTED))" --ignore-lua --run=asan || status=$$?; \
	$(LUA) spec/support/summary.lua --label asan --status $$status --reports $(ASAN_LOGS) \
	  --out build-asan/summary build-asan/counts

# --------------------------------------------------------------- bench ----
# bench/<name>.c is built to build/bench/<name>.so: a hand-written Lua C
# module (luaopen_<name>) that a bench/*.lua compares against; its exported C
# functions can also be loaded with CDLL, so both sides call the same code.
build/bench/%.so: bench/%.c | deps
	@mkdir -p $(@D)
	$(CC) -O2 -std=c11 -fPIC $(WARN) $(LUA_CFLAGS) -shared -o $@ $< -lm

bench: deps build $(BENCH_SO)
	@set -e; found=0; for f in bench/*.lua; do \
	  [ -e "$$f" ] || continue; found=1; \
	  echo "== $$f"; $(RUN_ENV) $(LUA) "$$f"; \
	done; [ $$found = 1 ] || echo "bench: no bench/*.lua yet"

# --------------------------------------------------------- test-cross ----
# make test-cross ARCH=aarch64|s390x|i386 [SMOKE=1] [SPECS="spec/a_spec.lua ..."]
# .ci/cross-setup.sh installs what is missing (root; fast when done): the
# cross gcc, qemu-user, the target's libffi/Lua (build-cross/sysroot/<arch>),
# binfmt_misc; then core, fixture and fxmod are built with the cross gcc into
# build-<arch>/ and each spec file runs in its own busted under the target's
# lua5.4 (qemu-user): a crash ends that file only, and counts as a failure.
# SMOKE=1 runs only SMOKE_<arch> (CI): the whole suite but its slowest
# files under qemu, whose subject is not the target's ABI or layout: build
# and rock (the Makefile and LuaRocks, 30-40 s each), callbacks_stress (GC
# stress, 40 s) and cdef_fuzz (the parser's hostile input, 25 s).  A
# whole-suite run (no SMOKE) includes them.
CROSS_DIR     = build-cross
SMOKE_SLOW    = spec/build_spec.lua spec/rock_spec.lua spec/callbacks_stress_spec.lua \
                spec/cdef_fuzz_spec.lua
SMOKE_ALL     = $(filter-out $(SMOKE_SLOW),$(sort $(wildcard spec/*_spec.lua)))
SMOKE_aarch64 = $(SMOKE_ALL)
SMOKE_s390x   = $(SMOKE_ALL)
SMOKE_i386    = $(SMOKE_ALL)
SPECS        ?= $(if $(SMOKE),$(SMOKE_$(ARCH)),$(sort $(wildcard spec/*_spec.lua)))

.PHONY: test-cross cross-run clean-cross
# the Lua 5.3 and cross builds, and the cross setup (sysroots, downloads)
clean-cross:
	rm -rf build-lua5.3 build-aarch64 build-s390x build-i386 $(CROSS_DIR)

test-cross:
	@case "$(ARCH)" in aarch64|s390x|i386) ;; \
	  *) echo "usage: make test-cross ARCH=aarch64|s390x|i386 [SMOKE=1]" >&2; exit 2;; esac
	@bash .ci/cross-setup.sh $(ARCH) $(CROSS_DIR)
	@set -a; . $(CROSS_DIR)/$(ARCH).env; set +a; \
	$(MAKE) --no-print-directory cross-run ARCH=$(ARCH) CROSS=1 BUILD_DIR=build-$(ARCH) \
	  CC=gcc PKG_CONFIG=false LUA="$$CTYPES_LUA" FFI_LIBS=-lffi \
	  LUA_CFLAGS=-I/usr/include/lua5.4 SPECS="$(SPECS)" \
	  LABEL=test-cross-$(ARCH)$(if $(SMOKE),-smoke)

# (run by test-cross, with the target's environment)
cross-run: deps build
	@rm -f $(BUILD_DIR)/counts.* $(BUILD_DIR)/summary
	@status=0; for f in $(SPECS); do \
	  n=$$(basename $$f .lua); echo "== $(ARCH): $$f"; \
	  $(TEST_ENV) CTYPES_COUNTS=$(BUILD_DIR)/counts.$$n $(BUSTED) --lua=$(LUA) $(BUSTED_ARGS) $$f \
	    || status=$$?; \
	done; \
	lua5.4 spec/support/summary.lua --label $(LABEL) --status $$status \
	  --out $(BUILD_DIR)/summary $(addprefix $(BUILD_DIR)/counts.,$(basename $(notdir $(SPECS))))

clean:
	rm -rf build build-asan $(FIXTURE) spec/fixtures/*.o
	@# what an older rockspec's builtin build left in the checkout
	rm -f src/*.o ctypes/core.so
	@if [ -d ctypes ]; then rmdir ctypes 2>/dev/null || true; fi

# ---------------------------------------------------------------- rock ----
# The rockspecs build with `type = "make"`: LuaRocks runs `make rock` and
# `make rock-install` here with its own variables (CFLAGS, LIBFLAG,
# LUA_INCDIR, FFI_*DIR, LUADIR, LIBDIR).  Objects go to build/rock/, never
# next to the sources, and every src/*.c and lua/ctypes/*.lua is taken, so
# the rockspecs list no files.  No deps step: LuaRocks has checked for
# libffi (external_dependencies) and the Lua headers.
LUA_INCDIR ?= /usr/include/lua5.4
FFI_INCDIR ?=
FFI_LIBDIR ?=
LIBFLAG    ?= -shared
ROCK_DIR   := build/rock
ROCK_OBJ   := $(patsubst src/%.c,$(ROCK_DIR)/obj/%.o,$(SRC))
ROCK_CORE  := $(ROCK_DIR)/ctypes/core.so
ROCK_CFLAGS = -std=c11 -fPIC $(WARN) -fvisibility=hidden -I$(LUA_INCDIR) \
  $(if $(FFI_INCDIR),-I$(FFI_INCDIR)) $(FFI_CFLAGS)

rock: $(ROCK_CORE)

$(ROCK_DIR)/obj/%.o: src/%.c $(HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ROCK_CFLAGS) -c -o $@ $<

$(ROCK_CORE): $(ROCK_OBJ)
	@mkdir -p $(@D)
	$(CC) $(LIBFLAG) $(CFLAGS) $(LDFLAGS) -o $@ $(ROCK_OBJ) \
	  $(if $(FFI_LIBDIR),-L$(FFI_LIBDIR)) -lffi

rock-install: $(ROCK_CORE)
	@if [ -z "$(LUADIR)" ] || [ -z "$(LIBDIR)" ]; then \
	  echo "rock-install: run by luarocks (LUADIR and LIBDIR unset)" >&2; exit 1; fi
	mkdir -p '$(LIBDIR)/ctypes' '$(LUADIR)/ctypes'
	cp $(ROCK_CORE) '$(LIBDIR)/ctypes/core.so'
	cp lua/ctypes/*.lua '$(LUADIR)/ctypes/'

# ---------------------------------------------------------------- dist ----
# The release tarball holds the checkout's files as git knows them (tracked,
# plus new files not ignored; their contents as they are in the work tree),
# under ctypes-$(VERSION)/, with fixed owners and times (the last commit's)
# so that the same tree gives the same bytes.  Beside it: its rockspec, the
# .src.rock (what `luarocks pack` makes of a rockspec: a zip of the rockspec
# and the tarball; built here with zip because `luarocks pack` resolves the
# rockspec's relative source.url in a temporary directory), and a binary
# .rock for this machine (`luarocks build --pack-binary-rock`, which
# installs nothing).
VERSION   := 0.1.0
ROCKREV   := 1
DIST      := build/dist
DIST_NAME := ctypes-$(VERSION)
DIST_SPEC := rockspec/$(DIST_NAME)-$(ROCKREV).rockspec
LUAROCKS  ?= luarocks

# Outside a git checkout (an unpacked release tarball), every file except
# what .gitignore names as built is taken, dated SOURCE_DATE_EPOCH (or 0).
dist: deps
	@grep -q '^version = "$(VERSION)-$(ROCKREV)"' $(DIST_SPEC) \
	  || { echo "dist: $(DIST_SPEC) is not version $(VERSION)-$(ROCKREV)" >&2; exit 1; }
	rm -rf $(DIST) && mkdir -p $(DIST)
	if command -v git >/dev/null 2>&1 && git rev-parse --git-dir >/dev/null 2>&1; then \
	  git ls-files -z --cached --others --exclude-standard; \
	  git log -1 --format=%ct > $(DIST)/mtime; \
	else \
	  find . \( -path ./build -o -path ./build-asan -o -path ./.git -o -path ./lua_modules \
	    -o -path ./.luarocks \) -prune -o -type f ! -name '*.o' ! -name '*.so' -print0 \
	    | sed -z 's,^\./,,'; \
	  echo "$${SOURCE_DATE_EPOCH:-0}" > $(DIST)/mtime; \
	fi > $(DIST)/files.all
	xargs -0 -r sh -c 'for f; do [ -f "$$f" ] && printf "%s\0" "$$f"; done' sh \
	  < $(DIST)/files.all | LC_ALL=C sort -z > $(DIST)/files
	tar --null --no-recursion -T $(DIST)/files --transform 's,^,$(DIST_NAME)/,' \
	  --owner=0 --group=0 --numeric-owner --mode='u+rw,go+r,go-w' \
	  --mtime="@$$(cat $(DIST)/mtime)" -cf $(DIST)/$(DIST_NAME).tar
	gzip -n9 $(DIST)/$(DIST_NAME).tar
	rm -f $(DIST)/files $(DIST)/files.all $(DIST)/mtime
	cp $(DIST_SPEC) $(DIST)/
	cd $(DIST) && zip -q -X $(DIST_NAME)-$(ROCKREV).src.rock \
	  $(DIST_NAME)-$(ROCKREV).rockspec $(DIST_NAME).tar.gz
	cd $(DIST) && $(LUAROCKS) --lua-version $(LUA_VERSION) build --pack-binary-rock \
	  $(DIST_NAME)-$(ROCKREV).src.rock
	@ls -l $(DIST)

# ---------------------------------------------------------------- lint ----
# luacheck (Debian's lua-check) over the Lua sources; settings in
# .luacheckrc.  Installs lua-check when missing, as the deps step does.
LUACHECK ?= luacheck
LINT_DIRS = lua spec examples bench

lint:
	@if ! command -v $(LUACHECK) >/dev/null 2>&1; then \
	  echo "lint: missing: luacheck"; \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "lint: apt-get update && apt-get install -y lua-check"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -q && apt-get install -y -q lua-check </dev/null || exit 1; \
	  else \
	    echo "lint: run as root:  sudo apt-get update && sudo apt-get install -y lua-check"; \
	    exit 1; \
	  fi; \
	fi
	$(LUACHECK) --no-color $(LINT_DIRS)

# lint as one check for .ci/run: "passed=N failed=N" in build/lint-summary
# and the line "N passed, N failed"
lint-summary:
	@mkdir -p build; if $(MAKE) --no-print-directory lint; then r="1 0"; else r="0 1"; fi; \
	set -- $$r; echo "passed=$$1 failed=$$2" > build/lint-summary; echo "$$1 passed, $$2 failed"
