-- lua-ctypes 0.1.0: Python's ctypes for Lua, a C module on libffi.
-- The release: `make dist` writes build/dist/ctypes-0.1.0.tar.gz (the
-- source), this rockspec beside it, ctypes-0.1.0-1.src.rock (`luarocks
-- pack`) and a binary .rock; `luarocks install` of either rock needs no
-- network.
rockspec_format = "3.0"
package = "ctypes"
version = "0.1.0-1"

-- The tarball `make dist` builds, by its file name: LuaRocks fetches a URL
-- without a scheme from the directory it runs in (build/dist/ for `make
-- dist`), and a .src.rock carries the tarball itself.  Publish the tarball
-- and the .src.rock together.
source = {
  url = "ctypes-0.1.0.tar.gz",
  dir = "ctypes-0.1.0",
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
