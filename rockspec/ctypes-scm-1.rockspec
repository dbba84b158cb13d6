-- lua-ctypes: Python's ctypes for Lua 5.4, a C module on libffi.
--   luarocks --lua-version 5.4 make rockspec/ctypes-scm-1.rockspec
rockspec_format = "3.0"
package = "ctypes"
version = "scm-1"

source = {
  url = "git+file:///work/main",
  branch = "main",
}

description = {
  summary = "Python's ctypes for Lua 5.4: call C libraries without writing C",
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
  "lua >= 5.4, < 5.5",
}

-- Debian installs ffi.h in the multiarch directory
-- (/usr/include/x86_64-linux-gnu), where LuaRocks' header search does not
-- look, so the dependency is declared by its library only; the compiler
-- finds the header on its default path.
external_dependencies = {
  FFI = { library = "ffi" },
}

build = {
  type = "builtin",
  modules = {
    ["ctypes.core"] = {
      sources = {
        "src/module.c",
        "src/type.c",
        "src/scalar.c",
        "src/cdata.c",
        "src/array.c",
        "src/error.c",
        "src/struct.c",
        "src/call.c",
        "src/func.c",
        "src/conv.c",
        "src/library.c",
        "src/callback.c",
        "src/abi_x64.c",
      },
      libraries = { "ffi" },
      incdirs = { "src", "$(FFI_INCDIR)" },
      libdirs = { "$(FFI_LIBDIR)" },
    },
    ["ctypes"] = "lua/ctypes/init.lua",
    ["ctypes.memory"] = "lua/ctypes/memory.lua",
    ["ctypes.struct"] = "lua/ctypes/struct.lua",
    ["ctypes.library"] = "lua/ctypes/library.lua",
    ["ctypes.util"] = "lua/ctypes/util.lua",
  },
}
