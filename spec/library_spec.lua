-- Libraries: CDLL, the RTLD_* constants, symbol lookup, lifetimes (__close,
-- __gc, lua_close), T.in_dll, the cdll loader and ctypes.util.find_library.
local ctypes = require("ctypes")
local util = require("ctypes.util")
local helper = require("spec.helper")

local CDLL = ctypes.CDLL
local c_int, c_double, c_char_p, c_void_p, c_ubyte =
  ctypes.c_int, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_ubyte

-- A scratch directory for libraries built by the specs.
local tmpdir
local function scratch()
  tmpdir = tmpdir or helper.tmpdir("library-spec")
  return tmpdir
end

-- Builds dir/file from C source with gcc; extra: more gcc arguments.
local function build(dir, file, source, extra)
  local c = dir .. "/" .. file .. ".c"
  local f = assert(io.open(c, "w"))
  f:write(source)
  f:close()
  local ok, out = helper.run("gcc -shared -fPIC -o " .. helper.quote(dir .. "/" .. file) ..
                             " " .. helper.quote(c) .. " " .. (extra or ""))
  assert(ok, out)
  return dir .. "/" .. file
end

-- A private copy of the fixture: the specs watch it being mapped and unmapped.
local function fixture_copy() return helper.fixture_copy(scratch()) end
local mapped = helper.mapped

-- Runs Lua code in a child lua5.4 (same module paths); env: "VAR=value ".
-- Under `make asan` the child gets the sanitizer runtimes and also the shim
-- that drops LD_PRELOAD once it runs, so the tools find_library starts (gcc,
-- ldconfig) are not sanitized and do not report their own leaks.
local function child(code, env)
  local vars = "LUA_PATH=" .. helper.quote(helper.lua_path) ..
               " LUA_CPATH=" .. helper.quote(helper.lua_cpath)
  if helper.asan then
    vars = "LD_PRELOAD=" .. helper.quote(os.getenv("CTYPES_ASAN_PRELOAD") .. " " ..
                                         helper.build_dir .. "/noinherit.so") .. " " .. vars
  end
  return helper.run((env or "") .. vars .. " " .. helper.lua .. " -e " .. helper.quote(code))
end

teardown(function()
  if tmpdir then helper.run("rm -rf " .. helper.quote(tmpdir)) end
end)


describe("CDLL", function()
  it("has the dlopen mode constants of Linux, DEFAULT_MODE local", function()
    assert.are.equal(0x100, ctypes.RTLD_GLOBAL)
    assert.are.equal(0, ctypes.RTLD_LOCAL)
    assert.are.equal(ctypes.RTLD_LOCAL, ctypes.DEFAULT_MODE)
  end)

  it("CDLL(nil) is the process itself", function()
    local lib = CDLL(nil)
    assert.is_nil(lib._name)
    assert.are.equal("integer", math.type(lib._handle))
    assert.are_not.equal(0, lib._handle)
    assert.matches("^<CDLL nil, handle 0x%x+ at 0x%x+>$", tostring(lib))
    -- libc is part of the process
    assert.is_not_nil(c_void_p.in_dll(lib, "environ").value)
  end)

  it("loads a library by name or path, with _name and _handle", function()
    local libm = CDLL("libm.so.6")
    assert.are.equal("libm.so.6", libm._name)
    assert.matches("^<CDLL 'libm%.so%.6', handle 0x%x+ at 0x%x+>$", tostring(libm))
    local fx = CDLL(helper.fixture)
    assert.are.equal(helper.fixture, fx._name)
    -- the loader counts references: the same library, the same handle
    local again = CDLL(helper.fixture)
    assert.are_not.equal(fx, again)
    assert.are.equal(fx._handle, again._handle)
  end)

  it("takes a mode or an options table", function()
    assert.are.equal("libm.so.6", CDLL("libm.so.6", ctypes.RTLD_GLOBAL)._name)
    assert.are.equal("libm.so.6", CDLL("libm.so.6", nil)._name)
    local lib = CDLL("libm.so.6", { mode = ctypes.RTLD_LOCAL, use_errno = true })
    assert.are.equal("libm.so.6", lib._name)
    assert.are.equal("libm.so.6", CDLL("libm.so.6", { use_errno = false })._name)
    assert.are.equal("libm.so.6", CDLL("libm.so.6", {})._name)
  end)

  it("RTLD_GLOBAL puts the symbols in the process's global scope", function()
    local dir = scratch()
    local a = build(dir, "libctglobala.so", "int ctglob_a = 5;\n")
    local b = build(dir, "libctglobalb.so", "int ctglob_b = 6;\n")
    local keep = { CDLL(a), CDLL(b) }
    assert.has_error(function() c_int.in_dll(CDLL(nil), "ctglob_a") end,
                     "ValueError: CDLL(nil): undefined symbol: ctglob_a")
    keep[3] = CDLL(a, ctypes.RTLD_GLOBAL)
    keep[4] = CDLL(b, { mode = ctypes.RTLD_GLOBAL })
    assert.are.equal(5, c_int.in_dll(CDLL(nil), "ctglob_a").value)
    assert.are.equal(6, c_int.in_dll(CDLL(nil), "ctglob_b").value)
  end)

  it("binds every symbol at load time, as ctypes does (RTLD_NOW)", function()
    local path = build(scratch(), "libctunresolved.so",
                       "extern int ct_no_such_function(void);\n" ..
                       "int f(void) { return ct_no_such_function(); }\n")
    assert.has_error(function() CDLL(path) end,
                     "OSError: " .. path .. ": undefined symbol: ct_no_such_function")
  end)

  it("says which library could not be loaded and why", function()
    assert.has_error(function() CDLL("libnope.so") end,
                     "OSError: libnope.so: cannot open shared object file: No such file or directory")
    assert.has_error(function() CDLL("/nonexistent/libnope.so") end,
                     "OSError: /nonexistent/libnope.so: cannot open shared object file: No such file or directory")
    assert.has_error(function() CDLL("/etc/passwd") end,
                     "OSError: /etc/passwd: invalid ELF header")
    assert.has_error(function() return ctypes.cdll.libnope end,
                     "OSError: libnope: cannot open shared object file: No such file or directory")
  end)

  it("names the library when the loader's reason names another file", function()
    local dir = scratch()
    build(dir, "libctdep.so", "int ct_dep(void) { return 1; }\n")
    local main = build(dir, "libctmain.so", "extern int ct_dep(void);\n" ..
                       "int ct_main(void) { return ct_dep(); }\n",
                       "-L" .. helper.quote(dir) .. " -lctdep")
    os.remove(dir .. "/libctdep.so")
    assert.has_error(function() CDLL(main) end,
                     "OSError: " .. main .. ": libctdep.so: cannot open shared object file: No such file or directory")
  end)

  it("rejects bad arguments with exact messages", function()
    assert.has_error(function() CDLL() end,
                     "TypeError: CDLL: name must be a string or nil, got no value")
    assert.has_error(function() CDLL(42) end,
                     "TypeError: CDLL: name must be a string or nil, got integer")
    assert.has_error(function() CDLL(ctypes.c_int(1)) end,
                     "TypeError: CDLL: name must be a string or nil, got c_int instance")
    assert.has_error(function() CDLL("libm.so.6\0x") end,
                     "ValueError: CDLL: embedded zero byte in name")
    assert.has_error(function() CDLL("libm.so.6", "global") end,
                     "TypeError: CDLL: mode must be an integer or an options table, got string")
    assert.has_error(function() CDLL("libm.so.6", 1.5) end,
                     "TypeError: CDLL: mode must be an integer, got number")
    assert.has_error(function() CDLL("libm.so.6", 2^40) end,
                     "TypeError: CDLL: mode must be an integer, got number")
    assert.has_error(function() CDLL("libm.so.6", { mode = "1" }) end,
                     "TypeError: CDLL: option 'mode' must be an integer, got string")
    assert.has_error(function() CDLL("libm.so.6", { use_errno = 1 }) end,
                     "TypeError: CDLL: option 'use_errno' must be a boolean, got integer")
    assert.has_error(function() CDLL("libm.so.6", { use_ernno = true }) end,
                     "TypeError: CDLL: unknown option 'use_ernno'")
    assert.has_error(function() CDLL("libm.so.6", { true }) end,
                     "TypeError: CDLL: unknown option '1'")
    assert.has_error(function() CDLL("libm.so.6", 0x7fff0000) end,
                     "OSError: libm.so.6: invalid mode parameter")
  end)

  it("names the argument that got the library in a method call by mistake", function()
    -- z:crc32("abc", 3) for z.crc32("abc", 3): the library is argument 1
    local z = CDLL("libz.so.1")
    local crc32 = z.crc32
    crc32.restype = ctypes.c_ulong
    crc32.argtypes = { ctypes.c_ulong, ctypes.c_char_p, ctypes.c_uint }
    assert.has_error(function() z:crc32("abc", 3) end,
                     "ArgumentError: argument 1: expected c_ulong, got CDLL 'libz.so.1'")
    assert.are.equal(891568578, z.crc32(0, "abc", 3))
  end)

  it("a failed load leaves nothing behind", function()
    for _ = 1, 200 do
      assert.has_error(function() CDLL("libnope.so") end)
    end
    helper.gc()
  end)
end)


describe("symbols", function()
  local fx = CDLL(helper.fixture)

  it("lib.f and lib[\"f\"] are one cached function object per library", function()
    local f = fx.fx_lib_get_int
    assert.are.equal(f, fx.fx_lib_get_int)
    assert.are.equal(f, fx["fx_lib_get_int"])
    assert.are_not.equal(f, CDLL(helper.fixture).fx_lib_get_int)
    -- what is set on it stays set
    fx.fx_lib_get_double.restype = c_double
    assert.are.equal(2.5, fx.fx_lib_get_double())
    assert.are.equal(c_double, fx["fx_lib_get_double"].restype)
  end)

  it("libraries opened with use_errno give functions that swap errno", function()
    local function strtol(lib)
      local f = lib.strtol
      f.argtypes = { c_char_p, c_void_p, c_int }
      f.restype = ctypes.c_long
      return f
    end
    local with = strtol(CDLL(nil, { use_errno = true }))
    local without = strtol(CDLL(nil))
    ctypes.set_errno(0)
    local LONG_MAX = helper.platform.long_max
    assert.are.equal(LONG_MAX, with("99999999999999999999", nil, 10))
    assert.are.equal(34, ctypes.get_errno())          -- ERANGE
    ctypes.set_errno(0)
    assert.are.equal(LONG_MAX, without("99999999999999999999", nil, 10))
    assert.are.equal(0, ctypes.get_errno())
  end)

  it("a missing symbol names the symbol and the library", function()
    assert.has_error(function() return fx.fx_no_such_symbol end,
                     "AttributeError: " .. helper.fixture .. ": undefined symbol: fx_no_such_symbol")
    assert.has_error(function() return CDLL("libm.so.6")["nope"] end,
                     "AttributeError: libm.so.6: undefined symbol: nope")
    assert.has_error(function() return CDLL(nil).ct_nope end,
                     "AttributeError: CDLL(nil): undefined symbol: ct_nope")
  end)

  it("looks names with a leading underscore up, except __x__ ones (as ctypes)", function()
    assert.has_error(function() return fx._fx_private end,
                     "AttributeError: " .. helper.fixture .. ": undefined symbol: _fx_private")
    assert.has_error(function() return fx.__index end,
                     "AttributeError: " .. helper.fixture .. ": undefined symbol: __index")
    assert.has_error(function() return fx.__index__ end, "AttributeError: __index__")
    assert.has_error(function() return fx.__call__ end, "AttributeError: __call__")
    assert.has_error(function() return fx.__ end, "AttributeError: __")
    -- _name and _handle are attributes, not symbols
    assert.are.equal(helper.fixture, fx._name)
  end)

  it("rejects names that are not strings or hold a zero byte", function()
    assert.has_error(function() return fx[1] end,
                     "TypeError: symbol name must be a string, got integer")
    assert.has_error(function() return fx[c_int] end,
                     "TypeError: symbol name must be a string, got type c_int")
    assert.has_error(function() return fx["fx_lib_int\0x"] end,
                     "ValueError: embedded zero byte in symbol name")
  end)

  it("takes attributes as a ctypes CDLL does, but not _name or _handle", function()
    -- more in spec/library_table_spec.lua
    local lib = CDLL(helper.fixture)
    lib.fx_lib_int = 1
    assert.are.equal(1, lib.fx_lib_int)
    assert.has_error(function() CDLL(nil)._name = "x" end,
                     "AttributeError: cannot set attribute '_name' of library CDLL(nil)")
  end)
end)


describe("library lifetime", function()
  it("is unloaded when collected, not before", function()
    local path = fixture_copy()
    local lib = CDLL(path)
    assert.is_true(mapped(path))
    helper.gc()
    assert.is_true(mapped(path))
    lib = nil
    helper.gc()
    assert.is_false(mapped(path))
  end)

  -- `<close>` (Lua 5.4 syntax) and what a closed library keeps loaded:
  -- spec/close_54_spec.lua

  it("stays loaded during lua_close for finalizers that call into it", function()
    local path = fixture_copy()
    local ok, out = child(([[
      local ctypes = require("ctypes")
      local holder = setmetatable({}, { __gc = function(o)
        io.write("finalizer called ", o.f(), "\n")
      end })
      holder.f = ctypes.CDLL(%q).fx_lib_get_int
      print("loaded")
    ]]):format(path))
    assert.is_true(ok, out)
    assert.are.equal("loaded\nfinalizer called 42", out)
  end)

  it("stays loaded during lua_close for finalizers that still use it", function()
    -- the holder's finalizer is older than the library, so lua_close runs
    -- it after the library's __gc: the library must still be there
    local path = fixture_copy()
    local ok, out = child(([[
      local ctypes = require("ctypes")
      local holder = setmetatable({}, { __gc = function(o)
        io.write("finalizer read ", o.view.value, "\n")
      end })
      local lib = ctypes.CDLL(%q)
      holder.view = ctypes.c_int.in_dll(lib, "fx_lib_int")
      print("loaded")
    ]]):format(path))
    assert.is_true(ok, out)
    assert.are.equal("loaded\nfinalizer read 42", out)
  end)
end)


describe("T.in_dll", function()
  local fx = CDLL(helper.fixture)

  it("reads and writes an int global", function()
    local v = c_int.in_dll(fx, "fx_lib_int")
    assert.are.equal(42, v.value)
    assert.are.equal("c_int(42)", tostring(v))
    v.value = 1234
    local w = c_int.in_dll(fx, "fx_lib_int")
    assert.are.equal(1234, w.value)
    assert.are.equal(ctypes.addressof(v), ctypes.addressof(w))
    v.value = 42
    assert.are.equal(42, w.value)
  end)

  it("shares the variable with C, both ways", function()
    local v = c_int.in_dll(fx, "fx_lib_int")
    v.value = -5
    assert.are.equal(-5, fx.fx_lib_get_int())
    fx.fx_lib_set_int(77)
    assert.are.equal(77, v.value)
    v.value = 42
    assert.are.equal(42, fx.fx_lib_get_int())
  end)

  it("reads and writes a double global", function()
    local v = c_double.in_dll(fx, "fx_lib_double")
    assert.are.equal(2.5, v.value)
    v.value = -0.125
    assert.are.equal(-0.125, c_double.in_dll(fx, "fx_lib_double").value)
    v.value = 2.5
  end)

  it("views an array global", function()
    local v = (c_ubyte * 4).in_dll(fx, "fx_lib_bytes")
    assert.are.same({ 1, 2, 3, 4 }, { v[0], v[1], v[2], v[3] })
    v[3] = 40
    assert.are.equal(40, (c_ubyte * 4).in_dll(fx, "fx_lib_bytes")[3])
    v[3] = 4
    assert.has_error(function() return v[4] end,
                     "IndexError: invalid index 4 (valid: 0 to 3; iterate with " ..
                     "pairs(a) or for i = 0, #a - 1)")
  end)

  it("reads char * globals as strings, NULL as nil", function()
    assert.are.equal("hello from C", c_char_p.in_dll(fx, "fx_lib_string").value)
    assert.is_nil(c_char_p.in_dll(fx, "fx_lib_nullstr").value)
  end)

  it("keeps a string stored into a char * global alive with the library", function()
    -- long strings are not interned: text() makes a new object each time
    local function text()
      return ("a string stored from Lua, long enough not to be interned: %d"):format(7)
    end
    local original = c_void_p.in_dll(fx, "fx_lib_string").value
    c_char_p.in_dll(fx, "fx_lib_string").value = text()
    -- the view that stored it is gone; the string must not be
    helper.gc()
    for i = 1, 1000 do local _ = text() .. i end
    helper.gc()
    assert.are.equal(text(), c_char_p.in_dll(fx, "fx_lib_string").value)
    fx.fx_lib_string_len.restype = ctypes.c_size_t
    assert.are.equal(#text(), fx.fx_lib_string_len())
    c_void_p.in_dll(fx, "fx_lib_string").value = original
    assert.are.equal("hello from C", c_char_p.in_dll(fx, "fx_lib_string").value)
  end)

  it("views a struct global; its fields read and write the C memory", function()
    local Point = ctypes.Structure("fx_lib_point", {
      _fields_ = { { "x", c_int }, { "y", c_int }, { "weight", c_double } },
    })
    local p = Point.in_dll(fx, "fx_lib_point")
    assert.are.same({ 3, 4, 0.5 }, { p.x, p.y, p.weight })
    p.x, p.weight = 30, 0.25
    local q = Point.in_dll(fx, "fx_lib_point")
    assert.are.same({ 30, 4, 0.25 }, { q.x, q.y, q.weight })
    fx.fx_lib_point_weight.restype = c_double
    assert.are.same({ 34, 0.25 }, { fx.fx_lib_point_sum(), fx.fx_lib_point_weight() })
    assert.are.equal(30, c_int.in_dll(fx, "fx_lib_point").value)
    p.x, p.weight = 3, 0.5
    assert.has_error(function() ctypes.Structure("fx_incomplete").in_dll(fx, "fx_lib_point") end,
                     "TypeError: in_dll: fx_incomplete is an incomplete type (_fields_ not set)")
  end)

  it("keeps a string stored through a struct field of a global alive", function()
    local function text()
      return ("a string stored through a field, long enough not to be interned: %d"):format(8)
    end
    local Holder = ctypes.Structure("Holder", { _fields_ = { { "s", c_char_p } } })
    local original = c_void_p.in_dll(fx, "fx_lib_string").value
    Holder.in_dll(fx, "fx_lib_string").s = text()
    helper.gc()
    for i = 1, 1000 do local _ = text() .. i end
    helper.gc()
    assert.are.equal(text(), c_char_p.in_dll(fx, "fx_lib_string").value)
    c_void_p.in_dll(fx, "fx_lib_string").value = original
  end)

  it("views a function pointer global; calling it calls its current target", function()
    local F = ctypes.CFUNCTYPE(c_int)
    local fnptr = F.in_dll(fx, "fx_lib_fnptr")
    assert.are.equal(42, fnptr())
    local raw = c_void_p.in_dll(fx, "fx_lib_fnptr")
    local original = raw.value
    raw.value = ctypes.cast(fx.fx_lib_answer, c_void_p).value
    assert.are.equal(4242, fnptr())
    raw.value = nil
    assert.has_error(function() fnptr() end, "ValueError: NULL function pointer called")
    raw.value = original
    assert.are.equal(42, fnptr())
  end)

  it("is a method of every type object, also with a colon", function()
    assert.are.equal(42, c_int:in_dll(fx, "fx_lib_int").value)
    local P = ctypes.POINTER(c_int)
    assert.is_true(ctypes.is_null(P.in_dll(fx, "fx_lib_nullstr")))
  end)

  it("raises ValueError for a missing symbol, as ctypes", function()
    assert.has_error(function() c_int.in_dll(fx, "fx_no_such_global") end,
                     "ValueError: " .. helper.fixture .. ": undefined symbol: fx_no_such_global")
  end)

  it("rejects bad arguments with exact messages", function()
    assert.has_error(function() c_int.in_dll(42, "fx_lib_int") end,
                     "TypeError: in_dll: expected a library (CDLL), got integer")
    assert.has_error(function() c_int.in_dll(nil, "fx_lib_int") end,
                     "TypeError: in_dll: expected a library (CDLL), got nil")
    assert.has_error(function() c_int.in_dll(fx) end,
                     "TypeError: in_dll: symbol name must be a string, got no value")
    assert.has_error(function() c_int.in_dll(fx, 3) end,
                     "TypeError: in_dll: symbol name must be a string, got integer")
    assert.has_error(function() c_int.in_dll(fx, "fx_lib_int\0") end,
                     "ValueError: in_dll: embedded zero byte in symbol name")
  end)
end)


describe("cdll", function()
  it("cdll[name] loads once and caches", function()
    local a = ctypes.cdll["libm.so.6"]
    assert.are.equal("libm.so.6", a._name)
    assert.are.equal(a, ctypes.cdll["libm.so.6"])
  end)

  it("cdll.LoadLibrary makes a new library each time", function()
    local a = ctypes.cdll.LoadLibrary("libm.so.6")
    local b = ctypes.cdll:LoadLibrary("libm.so.6")
    assert.are.equal("libm.so.6", a._name)
    assert.are.equal("libm.so.6", b._name)
    assert.are_not.equal(a, b)
    assert.are_not.equal(a, ctypes.cdll["libm.so.6"])
    local g = ctypes.cdll.LoadLibrary("libm.so.6", { use_errno = true })
    assert.are.equal("libm.so.6", g._name)
  end)

  it("refuses private names and non-strings, as ctypes", function()
    assert.has_error(function() return ctypes.cdll._foo end, "AttributeError: _foo")
    assert.has_error(function() return ctypes.cdll[1] end,
                     "TypeError: library name must be a string, got integer")
  end)

  it("LibraryLoader(CDLL) makes another loader", function()
    local loader = ctypes.LibraryLoader(CDLL)
    assert.are.equal("<LibraryLoader>", tostring(loader))
    assert.are.equal(loader["libm.so.6"], loader["libm.so.6"])
    assert.are_not.equal(loader["libm.so.6"], ctypes.cdll["libm.so.6"])
    assert.has_error(function() ctypes.LibraryLoader(1) end,
                     "TypeError: LibraryLoader: expected a library type such as CDLL, got integer")
  end)
end)


describe("ctypes.util.find_library", function()
  it("finds system libraries by their short name, as their SONAME", function()
    assert.are.equal("libm.so.6", util.find_library("m"))
    assert.are.equal("libc.so.6", util.find_library("c"))
    assert.are.equal("libz.so.1", util.find_library("z"))
    assert.are.equal("libffi.so.8", util.find_library("ffi"))
    assert.are.equal("libm.so.6", CDLL(util.find_library("m"))._name)
  end)

  it("returns nil for what does not exist", function()
    assert.is_nil(util.find_library("ctypes_no_such_library"))
    assert.is_nil(util.find_library("libm"))
    assert.is_nil(util.find_library(""))
    assert.is_nil(util.find_library("../m"))
    assert.is_nil(util.find_library("m\0"))
  end)

  it("rejects names that are not strings", function()
    assert.has_error(function() util.find_library(42) end,
                     "TypeError: find_library: name must be a string, got integer")
    assert.has_error(function() util.find_library() end,
                     "TypeError: find_library: name must be a string, got nil")
  end)

  describe("outside the loader cache", function()
    local dir
    setup(function()
      dir = scratch() .. "/ldpath"
      assert(helper.run("mkdir -p " .. helper.quote(dir)))
      local src = "int ctlt_value = 42;\n"
      -- a SONAME and a development link
      build(dir, "libctlt.so.3", src, "-Wl,-soname,libctlt.so.3")
      assert(helper.run("ln -sf libctlt.so.3 " .. helper.quote(dir .. "/libctlt.so")))
      -- only a versioned file
      build(dir, "libctver.so.5", src, "-Wl,-soname,libctver.so.5")
      -- no SONAME at all
      build(dir, "libctnoso.so", src)
      -- another architecture: e_machine changed to 0xBEEF
      local other = build(dir, "libctarch.so", src, "-Wl,-soname,libctarch.so")
      local f = assert(io.open(other, "r+b"))
      f:seek("set", 18)
      f:write("\xEF\xBE")
      f:close()
      -- a linker script, as libc.so is
      f = assert(io.open(dir .. "/libctscript.so", "w"))
      f:write("GROUP ( libctlt.so.3 )\n")
      f:close()
    end)

    local function find(name, env)
      local ok, out = child(([[
        local util = require("ctypes.util")
        local ctypes = require("ctypes")
        local name = util.find_library(%q)
        io.write(tostring(name))
        if name then
          io.write(" ", ctypes.c_int.in_dll(ctypes.CDLL(name), "ctlt_value").value)
        end
      ]]):format(name), env)
      assert.is_true(ok, out)
      return out
    end

    it("searches LD_LIBRARY_PATH and answers a name dlopen finds", function()
      local env = "LD_LIBRARY_PATH=" .. helper.quote("/nonexistent:" .. dir) .. " "
      assert.are.equal("libctlt.so.3 42", find("ctlt", env))
      assert.are.equal("libctver.so.5 42", find("ctver", env))
      assert.are.equal("libctnoso.so 42", find("ctnoso", env))
    end)

    it("skips other architectures and linker scripts", function()
      local env = "LD_LIBRARY_PATH=" .. helper.quote(dir) .. " "
      assert.are.equal("nil", find("ctarch", env))
      assert.are.equal("nil", find("ctscript", env))
    end)

    it("asks the linker last, answering a path dlopen can load", function()
      -- gcc searches LIBRARY_PATH, the loader does not: a path it must be
      local env = "LIBRARY_PATH=" .. helper.quote(dir) .. " "
      assert.are.equal(dir .. "/libctlt.so.3 42", find("ctlt", env))
      assert.are.equal("nil", find("ctlt", ""))
    end)
  end)
end)
