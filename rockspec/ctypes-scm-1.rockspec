-- lua-ctypes: Python's ctypes for Lua, a C module on libffi.
-- From a checkout (builds in build/rock/, installs from there):
--   luarocks --lua-version 5.4 make rockspec/ctypes-scm-1.rockspec
rockspec_format = "3.0"
package = "ctypes"
version = "scm-1"

-- `luarocks make` builds the checkout it runs in and never reads
-- source.url.  The project has no public repository yet: this relative URL
-- names the checkout's own directory; point it at the git URL once the
-- project is published.  Releases use ctypes-<version>-1.rockspec, whose
-- source is the tarball that `make dist` builds.
source = {
  url = "git+file://.",
}

description = {
  summary = "Python's ctypes for Lua: call C libraries without writing C",
  detailed = [[
lua-ctypes loads shared libraries, declares argtypes/restype, builds
structures, unions, arrays and pointers over real C memory, calls C
functions through libffi, captures errno and passes Lua functions to C as
callbacks, with no C compiler and no binding code.
]],
  license = "MIT",
  labels = { "ffi", "ctypes", "libffi" },
}

dependencies = {
  "lua >= 5.3, < 5.5",
}

-- Debian installs ffi.h in the multiarch directory
-- (/usr/include/x86_64-linux-gnu), where LuaRocks' header search does not
-- look, so the dependency is declared by its library only; the compiler
-- finds the header on its default path.
external_dependencies = {
  FFI = { library = "ffi" },
}

-- The Makefile's `rock` target compiles every src/*.c into build/rock/
-- (nothing is left beside the sources) and `rock-install` installs the
-- core and every lua/ctypes/*.lua: no file list to keep in step here.
build = {
  type = "make",
  build_target = "rock",
  build_variables = {
    CC = "$(CC)",
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    FFI_INCDIR = "$(FFI_INCDIR)",
    FFI_LIBDIR = "$(FFI_LIBDIR)",
  },
  install_target = "rock-install",
  install_variables = {
    LUADIR = "$(LUADIR)",
    LIBDIR = "$(LIBDIR)",
  },
}

-- `luarocks test rockspec/<this file>` in a checkout (or in the unpacked
-- release tarball): `make test` builds the core and the C test fixture,
-- then runs busted with .busted.  LuaRocks' own "busted" test type would
-- install busted as a rock (from the network) even where Debian's
-- lua-busted is there.
test = {
  type = "command",
  command = "make test",
}
