-- Type objects: sizes and alignments against the C compiler, names,
-- aliases, and the POINTER / array caches.
local ctypes = require("ctypes")
local helper = require("spec.helper")

local scalar_names = {
  "c_bool", "c_char", "c_wchar", "c_byte", "c_ubyte", "c_short", "c_ushort",
  "c_int", "c_uint", "c_long", "c_ulong", "c_longlong", "c_ulonglong",
  "c_size_t", "c_ssize_t", "c_float", "c_double", "c_longdouble",
  "c_char_p", "c_wchar_p", "c_void_p",
}

describe("the ctypes module", function()
  it("holds no private names (the core keeps its _-prefixed entry points)", function()
    local private = {}
    for k in pairs(ctypes) do
      if type(k) == "string" and k:sub(1, 1) == "_" then private[#private + 1] = k end
    end
    table.sort(private)
    assert.are.same({}, private)
    assert.are.equal("function", type(require("ctypes.core")._calls_direct))
  end)
end)

describe("type objects", function()
  it("have the sizes string.pack gives for the same C types", function()
    local packed = {
      c_byte = "b", c_ubyte = "B", c_short = "h", c_ushort = "H",
      c_int = "i", c_uint = "I", c_long = "l", c_ulong = "L",
      c_longlong = "j", c_ulonglong = "J", c_size_t = "T",
      c_float = "f", c_double = "d", c_void_p = "T",
    }
    for name, fmt in pairs(packed) do
      assert.are.equal(string.packsize(fmt), ctypes.sizeof(ctypes[name]), name)
    end
    -- string.pack's "!" capped at the compiler's alignment of double lays
    -- out a char then a double as the compiler does (4-byte aligned doubles
    -- on i386)
    local fmt = "!" .. helper.platform.double_align .. " b d"
    assert.are.equal(helper.oracle("sizeof", "CharDouble"), string.packsize(fmt))
    assert.are.equal(ctypes.alignment(ctypes.c_double) + 8, string.packsize(fmt))
  end)

  it("have the sizes and alignments gcc gives (fixture oracle)", function()
    for _, name in ipairs(scalar_names) do
      assert.are.equal(helper.oracle("sizeof", name), ctypes.sizeof(ctypes[name]), name)
      assert.are.equal(helper.oracle("alignof", name), ctypes.alignment(ctypes[name]), name)
    end
  end)

  it("are named as in ctypes", function()
    assert.are.equal("c_int", tostring(ctypes.c_int))
    assert.are.equal("c_int_Array_4", tostring(ctypes.c_int * 4))
    assert.are.equal("LP_c_int", tostring(ctypes.POINTER(ctypes.c_int)))
    assert.are.equal("LP_LP_c_char", tostring(ctypes.POINTER(ctypes.POINTER(ctypes.c_char))))
    assert.are.equal("c_double_Array_3_Array_2", tostring((ctypes.c_double * 3) * 2))
    assert.are.equal("LP_c_int_Array_2", tostring(ctypes.POINTER(ctypes.c_int * 2)))
  end)

  it("make aliases the same objects, as ctypes does", function()
    assert.are.equal(ctypes.c_int, ctypes.c_int32)
    assert.are.equal(ctypes.c_uint, ctypes.c_uint32)
    assert.are.equal(ctypes.c_byte, ctypes.c_int8)
    assert.are.equal(ctypes.c_ubyte, ctypes.c_uint8)
    assert.are.equal(ctypes.c_short, ctypes.c_int16)
    assert.are.equal(ctypes.c_ushort, ctypes.c_uint16)
    -- 64-bit: long on LP64, long long on ILP32 (i386)
    local lp64 = helper.platform.long_size == 8
    assert.are.equal(lp64 and ctypes.c_long or ctypes.c_longlong, ctypes.c_int64)
    assert.are.equal(lp64 and ctypes.c_ulong or ctypes.c_ulonglong, ctypes.c_uint64)
    -- long is pointer-sized on LP64 and ILP32
    assert.are.equal(ctypes.c_ulong, ctypes.c_size_t)
    assert.are.equal(ctypes.c_long, ctypes.c_ssize_t)
    assert.are.equal(ctypes.c_void_p, ctypes.c_voidp)
    -- long long is long on LP64, as in ctypes; a type of its own on ILP32
    assert.are.equal(lp64, ctypes.c_long == ctypes.c_longlong)
    assert.are.equal(lp64, ctypes.c_ulong == ctypes.c_ulonglong)
  end)

  it("cache T * n and n * T", function()
    local A = ctypes.c_int * 4
    assert.are.equal(A, ctypes.c_int * 4)
    assert.are.equal(A, 4 * ctypes.c_int)
    assert.are_not.equal(A, ctypes.c_int * 5)
    assert.are.equal(16, ctypes.sizeof(A))
    assert.are.equal(4, ctypes.alignment(A))
    assert.are.equal(4, A._length_)
    assert.are.equal(ctypes.c_int, A._type_)
    local M = (ctypes.c_int * 3) * 2
    assert.are.equal(24, ctypes.sizeof(M))
    assert.are.equal(ctypes.c_int * 3, M._type_)
    assert.are.equal(0, ctypes.sizeof(ctypes.c_int * 0))
  end)

  it("cache POINTER(T)", function()
    local P = ctypes.POINTER(ctypes.c_double)
    assert.are.equal(P, ctypes.POINTER(ctypes.c_double))
    assert.are.equal(ctypes.c_double, P._type_)
    assert.are.equal(helper.platform.pointer_size, ctypes.sizeof(P))
    assert.are.equal(P, ctypes.POINTER(ctypes.c_double))
  end)

  it("give ctypes' format codes as _type_ of scalars", function()
    assert.are.equal("i", ctypes.c_int._type_)
    assert.are.equal("d", ctypes.c_double._type_)
    assert.are.equal("z", ctypes.c_char_p._type_)
    assert.are.equal("P", ctypes.c_void_p._type_)
  end)

  it("reject bad array lengths and bad arguments", function()
    assert.has_error(function() return ctypes.c_int * -1 end,
                     "ValueError: array length must be >= 0, not -1")
    assert.has_error(function() return ctypes.c_int * 1.5 end,
                     "TypeError: array length must be an integer, got number")
    assert.has_error(function() return ctypes.c_int * "3" end,
                     "TypeError: array length must be an integer, got string")
    assert.has_error(function() return ctypes.c_int * (1 << 62) end,
                     "OverflowError: array too large")
    assert.has_error(function() ctypes.POINTER(42) end,
                     "TypeError: POINTER: expected a ctypes type, got integer")
    assert.has_error(function() ctypes.sizeof("c_int") end,
                     "TypeError: sizeof: expected a ctypes type or instance, got string")
    assert.has_error(function() ctypes.alignment(nil) end,
                     "TypeError: alignment: expected a ctypes type or instance, got nil")
  end)

  it("name every ctypes object by its ctypes name in messages, never userdata", function()
    local function got(v)
      local ok, e = pcall(ctypes.sizeof, v)
      assert.is_false(ok)
      return (e:gsub("^TypeError: sizeof: expected a ctypes type or instance, got ", ""))
    end
    local arr = (ctypes.c_int * 2)()
    local P = ctypes.Structure("NamedPoint", { _fields_ = { { "x", ctypes.c_int } } })
    assert.are.equal("byref(c_int)", got(ctypes.byref(ctypes.c_int(1))))
    assert.are.equal("byref(c_int_Array_2, 4)", got(ctypes.byref(arr, 4)))
    assert.are.equal("CDLL '" .. helper.fixture .. "'", got(ctypes.CDLL(helper.fixture)))
    assert.are.equal("CDLL(nil)", got(ctypes.CDLL(nil)))
    assert.are.equal("Field 'x'", got(P.x))
    assert.are.equal("FILE*", got(io.stdout))
    assert.are.equal("thread", got(coroutine.create(print)))
    -- instances and types in the messages of other functions
    assert.has_error(function() ctypes.POINTER(arr) end,
                     "TypeError: POINTER: expected a ctypes type, got c_int_Array_2 instance")
    assert.has_error(function() ctypes.POINTER(ctypes.byref(arr)) end,
                     "TypeError: POINTER: expected a ctypes type, got byref(c_int_Array_2)")
    assert.has_error(function() ctypes.c_int(P(1)) end,
                     "TypeError: expected c_int, got NamedPoint instance")
    assert.has_error(function() ctypes.create_string_buffer(ctypes.c_float(0.25)) end,
                     "TypeError: create_string_buffer: expected a string or an integer " ..
                     "size, got c_float instance")
  end)

  it("reject unknown attributes and assignments", function()
    assert.has_error(function() return ctypes.c_int.nope end,
                     "AttributeError: type c_int has no attribute 'nope'")
    assert.has_error(function() ctypes.c_int.nope = 1 end,
                     "AttributeError: cannot set attribute 'nope' of type c_int")
  end)

  it("keep their metatables out of reach of Lua code", function()
    -- the metamethods trust their first argument: getmetatable(x).__tostring(5)
    -- crashed before
    local P = ctypes.Structure("MetaPoint", { _fields_ = { { "x", ctypes.c_int } } })
    assert.are.equal("ctypes.Type", getmetatable(ctypes.c_int))
    assert.are.equal("ctypes.CData", getmetatable(ctypes.c_int(1)))
    assert.are.equal("ctypes.CArgObject", getmetatable(ctypes.byref(ctypes.c_int(1))))
    assert.are.equal("ctypes.Field", getmetatable(P.x))
    assert.are.equal("ctypes.Library", getmetatable(ctypes.CDLL(nil)))
  end)

  it("give sizeof of instances, resized ones included", function()
    assert.are.equal(4, ctypes.sizeof(ctypes.c_int(1)))
    assert.are.equal(40, ctypes.sizeof((ctypes.c_double * 5)()))
  end)
end)
