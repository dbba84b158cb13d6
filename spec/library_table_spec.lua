-- A library is a Lua table (issue 14: lib.f is one table access): the
-- table is its symbol cache and its attributes (lib.x = v, as on a ctypes
-- CDLL), its state lives out of reach in its protected metatable, and
-- wherever lua-ctypes reads a table given as data a library is refused as
-- it was when libraries were userdata.
local ctypes = require("ctypes")
local helper = require("spec.helper")

local CDLL, CFUNCTYPE = ctypes.CDLL, ctypes.CFUNCTYPE
local c_int, c_void_p = ctypes.c_int, ctypes.c_void_p
local fixture = helper.fixture
local desc = "CDLL '" .. fixture .. "'"

-- close(v): what the end of `do local x <close> = v end` does (Lua 5.4 runs
-- that code; under Lua 5.3 the __close metamethod is called the same way)
local close = (_VERSION ~= "Lua 5.3") and
  load("return function(v) local x <close> = v end")() or
  function(v) debug.getmetatable(v).__close(v, nil) end


describe("a library is a table", function()
  it("holds the function objects looked up so far, and nothing else", function()
    local lib = CDLL(fixture)
    assert.are.equal("table", type(lib))
    assert.is_nil(next(lib))
    local f = lib.fx_lib_get_int
    assert.are.equal(f, rawget(lib, "fx_lib_get_int"))
    local keys = {}
    for k, v in pairs(lib) do keys[#keys + 1] = k; assert.are.equal(f, v) end
    assert.are.same({ "fx_lib_get_int" }, keys)
    -- _name and _handle are not stored: they are no symbols, nor state
    assert.are.equal(fixture, lib._name)
    assert.is_nil(rawget(lib, "_name"))
    assert.is_nil(rawget(lib, "_handle"))
    assert.are.equal(0, #lib)
  end)

  it("keeps its metatable to itself", function()
    local lib = CDLL(fixture)
    assert.are.equal("ctypes.Library", getmetatable(lib))
    assert.has_error(function() setmetatable(lib, nil) end,
                     "cannot change a protected metatable")
    assert.are.equal(42, lib.fx_lib_get_int())
  end)

  it("finds a user's symbol names, whatever they are, never internal state", function()
    local lib = CDLL(fixture)
    for _, name in ipairs({ "handle", "flags", "name", "keep", "cache",
                            "closed", "__index", "__gc", "_libmt" }) do
      assert.has_error(function() return lib[name] end,
                       "AttributeError: " .. fixture .. ": undefined symbol: " .. name)
    end
    assert.is_nil(next(lib))
  end)

  it("has no _as_parameter_ unless one is set (it is asked for as a table)", function()
    local lib = CDLL(fixture)
    assert.is_nil(lib._as_parameter_)
    local f = lib.fx_lib_get_int
    assert.has_error(function() f(lib) end,
                     "ArgumentError: argument 1: TypeError: Don't know how to convert parameter 1 (" .. desc .. ")")
    lib._as_parameter_ = 5
    local abs = CDLL(nil).abs
    assert.are.equal(5, abs(lib))
  end)
end)


describe("library attributes (lib.x = v, as on a ctypes CDLL)", function()
  it("sets, replaces and removes attributes in the same table as the cache", function()
    local lib = CDLL(fixture)
    lib.answer = 42
    assert.are.equal(42, lib.answer)
    -- replacing a cached function; removing it makes a new one next time
    local f = lib.fx_lib_get_int
    f.restype = ctypes.c_long
    lib.fx_lib_get_int = "mine"
    assert.are.equal("mine", lib.fx_lib_get_int)
    lib.fx_lib_get_int = nil
    local g = lib.fx_lib_get_int
    assert.are_not.equal(f, g)
    assert.are.equal(c_int, g.restype)
    assert.are.equal(42, g())
    -- nil for a name that is not there changes nothing
    lib.nothing = nil
    assert.is_nil(rawget(lib, "nothing"))
  end)

  it("an attribute does not change what CFUNCTYPE, in_dll and cdef find", function()
    local lib = CDLL(fixture)
    lib.fx_lib_get_int = 7
    lib.fx_lib_int = 8
    assert.are.equal(42, CFUNCTYPE(c_int)({ "fx_lib_get_int", lib })())
    assert.are.equal(42, c_int.in_dll(lib, "fx_lib_int").value)
    assert.are.equal(42, ctypes.cdef("int fx_lib_get_int(void);", lib).fx_lib_get_int())
    assert.are.equal(7, lib.fx_lib_get_int)
    -- cdef takes use_errno from the library, not from what lib.name holds
    local libc = CDLL(nil, { use_errno = true })
    libc.strtol = 1
    local ns = ctypes.cdef("long strtol(const char *s, char **end, int base);", libc)
    ctypes.set_errno(0)
    assert.are.equal(helper.platform.long_max, ns.strtol("99999999999999999999", nil, 10))
    assert.are.equal(34, ctypes.get_errno())          -- ERANGE, swapped out
    assert.are.equal(1, libc.strtol)
  end)

  it("refuses non-string names, _name and _handle", function()
    local lib = CDLL(fixture)
    assert.has_error(function() lib[1] = 2 end,
                     "TypeError: attribute name must be a string, got integer")
    assert.has_error(function() lib[c_int] = 2 end,
                     "TypeError: attribute name must be a string, got type c_int")
    assert.has_error(function() lib._name = "x" end,
                     "AttributeError: cannot set attribute '_name' of library " .. fixture)
    assert.has_error(function() CDLL(nil)._handle = 0 end,
                     "AttributeError: cannot set attribute '_handle' of library CDLL(nil)")
    assert.are.equal(fixture, lib._name)
    assert.is_nil(next(lib))
  end)

  it("a closed library drops its attributes and takes no new ones", function()
    local lib = CDLL(fixture)
    lib.answer = 42
    local f = lib.fx_lib_get_int
    close(lib)
    assert.is_nil(next(lib))
    assert.has_error(function() lib.answer = 1 end,
                     "ValueError: " .. fixture .. ": library is closed")
    assert.has_error(function() return lib.answer end,
                     "ValueError: " .. fixture .. ": library is closed")
    lib.answer = nil                       -- nothing to take
    assert.are.equal(42, f())              -- what it gave still works
  end)
end)


describe("a library where a table of data is read", function()
  local lib = CDLL(fixture)
  local P = ctypes.Structure("LibTableP", { _fields_ = { { "x", c_int } } })

  it("is not an initializer", function()
    assert.has_error(function() return P(lib) end,
                     "TypeError: field 'x': expected c_int, got " .. desc)
    assert.has_error(function() return (c_int * 2)(lib) end,
                     "TypeError: expected c_int, got " .. desc)
    local Q = ctypes.Structure("LibTableQ", { _fields_ = { { "p", P }, { "a", c_int * 2 } } })
    local q = Q()
    assert.has_error(function() q.p = lib end,
                     "TypeError: field 'p': expected LibTableP, got " .. desc)
    assert.has_error(function() q.a = lib end,
                     "TypeError: field 'a': expected c_int_Array_2, got " .. desc)
  end)

  it("is not a structure, array or pointer argument", function()
    local f = CDLL(fixture).fx_lib_set_int
    f.argtypes = { P }
    assert.has_error(function() f(lib) end,
                     "ArgumentError: argument 1: expected LibTableP, got " .. desc)
    f.argtypes = { c_int * 2 }
    assert.has_error(function() f(lib) end,
                     "ArgumentError: argument 1: expected c_int_Array_2, got " .. desc)
    f.argtypes = { ctypes.POINTER(P) }
    assert.has_error(function() f(lib) end,
                     "ArgumentError: argument 1: expected LP_LibTableP, got " .. desc)
    f.argtypes = { c_void_p }
    assert.has_error(function() f(lib) end,
                     "ArgumentError: argument 1: expected c_void_p, got " .. desc)
  end)

  it("is not argtypes, paramflags, options or a function spec", function()
    local f = CDLL(fixture).fx_lib_get_int
    assert.has_error(function() f.argtypes = lib end,
                     "TypeError: argtypes must be a table (sequence) of types or nil, got " .. desc)
    assert.has_error(function() CFUNCTYPE(c_int, lib) end,
                     "TypeError: argtypes: item 1 must be a ctypes type, got " .. desc)
    local F = CFUNCTYPE(c_int, c_int)
    assert.has_error(function() F(lib) end,
                     "TypeError: argument must be a function, an integer address or " ..
                     "{name, library}, got " .. desc)
    assert.has_error(function() F(lib, {}) end,
                     "TypeError: paramflags need a {name, library} function spec")
    assert.has_error(function() F({ "fx_lib_get_int", lib }, lib) end,
                     "TypeError: paramflags must be a table, got " .. desc)
    assert.has_error(function() F({ "fx_lib_get_int", lib }, { lib }) end,
                     "TypeError: paramflags: item 1 must be a table {flag[, name[, default]]}")
    assert.has_error(function() CDLL(fixture, lib) end,
                     "TypeError: CDLL: mode must be an integer or an options table, got " .. desc)
    assert.has_error(function() ctypes.callback_config(lib) end,
                     "TypeError: callback_config: expected a table of options, got " .. desc)
  end)

  it("is not a structure body or _fields_", function()
    assert.has_error(function() ctypes.Structure("LibTableR", lib) end,
                     "TypeError: Structure: body must be a table, got " .. desc)
    local R = ctypes.Structure("LibTableS")
    assert.has_error(function() R._fields_ = lib end,
                     "TypeError: _fields_ must be a table of {name, type[, bits]} entries, got " .. desc)
    assert.has_error(function() R._fields_ = { lib } end,
                     "TypeError: _fields_[1] must be a table {name, type[, bits]}, got " .. desc)
    assert.has_error(function()
      ctypes.Structure("LibTableT", { _fields_ = { { "x", c_int } }, _anonymous_ = lib })
    end, "TypeError: _anonymous_ must be a table of field names, got " .. desc)
  end)

  it("is named as a library by the Lua layer", function()
    assert.has_error(function() return ctypes.cdll[lib] end,
                     "TypeError: library name must be a string, got " .. tostring(lib))
    assert.has_error(function() ctypes.cdef("int x;", {}) end,
                     "TypeError: cdef: lib must be a library (CDLL), got table")
    assert.has_error(function() ctypes.gc(lib, print) end,
                     "TypeError: gc: expected a ctypes instance, got " .. desc)
    assert.has_error(function() ctypes.gc(lib) end,
                     "TypeError: gc: expected a ctypes instance, got CDLL instance")
  end)
end)
