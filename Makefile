# lua-ctypes build.  Targets:
#   make          check/install system packages, build build/ctypes/core.so
#                 and spec/fixtures/libfixture.so
#   make test     the whole busted suite under lua5.4
#   make demo     run examples/quickstart.lua against the fresh build
#   make asan     core + fixture under ASan/UBSan, whole suite, leaks checked
#   make test PORTABLE=1   the core built with every target-specific path
#                 compiled out (libffi only: src/abi.h), the whole suite
#   make bench    every bench/*.lua (bench/*.c are built as Lua C modules)
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
# rockspec spec).
DEB_PKGS = lua5.4 liblua5.4-dev libffi-dev pkg-config lua-busted luarocks gcc libc6-dev make

.PHONY: all build deps test demo asan asan-build bench clean

all: deps build

build: $(CORE) $(FIXTURE) $(FXMOD)

# ---------------------------------------------------------------- deps ----
# Fast when everything is present (no apt call).  As root, installs what is
# missing; otherwise prints the exact command and fails.
deps:
	@missing=""; \
	command -v $(LUA) >/dev/null 2>&1 || missing="$$missing lua5.4"; \
	command -v $(BUSTED) >/dev/null 2>&1 || missing="$$missing busted"; \
	command -v $(PKG_CONFIG) >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	command -v luarocks >/dev/null 2>&1 || missing="$$missing luarocks"; \
	if command -v $(CC) >/dev/null 2>&1; then \
	  printf '#include <lua.h>\n#include <lauxlib.h>\n' | $(CC) -E -I/usr/include/lua5.4 -x c - >/dev/null 2>&1 \
	    || missing="$$missing lua5.4-headers"; \
	  printf '#include <ffi.h>\n' | $(CC) -E -x c - >/dev/null 2>&1 || missing="$$missing ffi.h"; \
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
	@rm -f build/counts build/summary
	@status=0; CTYPES_COUNTS=build/counts $(BUSTED) --lua=$(LUA) || status=$$?; \
	$(LUA) spec/support/summary.lua --label test --status $$status --out build/summary build/counts

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

clean:
	rm -rf build build-asan $(FIXTURE) spec/fixtures/*.o
