-- Foreign functions: function objects, conversions, every scalar in and out,
-- many arguments, aggregates by value, variadic calls, prototypes,
-- paramflags, errcheck. The C side is spec/fixtures/fx_call.c (and libc).
local ctypes = require("ctypes")
local helper = require("spec.helper")

local c_int, c_uint, c_long, c_double, c_float, c_char_p, c_void_p =
  ctypes.c_int, ctypes.c_uint, ctypes.c_long, ctypes.c_double,
  ctypes.c_float, ctypes.c_char_p, ctypes.c_void_p

local lib = ctypes.CDLL(helper.fixture)
local libc = ctypes.CDLL(nil)

local bothpaths = helper.bothpaths

local Point = ctypes.Structure("Point", {
  _fields_ = { { "x", c_int }, { "y", c_int } },
})

describe("function objects", function()
  it("come from a library with restype c_int and no argtypes", function()
    local f = lib.fxc_add
    assert.are.equal(5, f(2, 3))
    assert.are.equal(c_int, f.restype)
    assert.is_nil(f.argtypes)
    assert.is_nil(f.errcheck)
    assert.matches("^<_FuncPtr object at 0x%x+>$", tostring(f))
  end)

  it("hold the function's address alone: sizeof, resize and a call after it", function()
    local F = ctypes.CFUNCTYPE(c_int, c_int, c_int)
    local f = F(lib.fxc_add)
    assert.are.equal(ctypes.sizeof(c_void_p), ctypes.sizeof(f))
    assert.are.equal(ctypes.cast(lib.fxc_add, c_void_p).value,
                     ctypes.cast(f, c_void_p).value)
    -- resize moves the address to a buffer of 9 bytes; the call info made
    -- after that (argtypes) must not be written into it (asan checks)
    ctypes.resize(f, ctypes.sizeof(c_void_p) + 1)
    assert.are.equal(ctypes.sizeof(c_void_p) + 1, ctypes.sizeof(f))
    f.argtypes = { c_int, c_int }
    assert.are.equal(5, f(2, 3))
    local g = lib.fxc_add
    ctypes.resize(g, ctypes.sizeof(c_void_p) + 1)
    g.restype = c_int
    assert.are.equal(7, g(3, 4))
  end)

  it("keep argtypes as a copy and restype as given", function()
    local f = lib.fxc_six
    f.argtypes = { c_int, c_double, ctypes.POINTER(c_int), c_long, c_double, c_int }
    f.restype = c_double
    local at = f.argtypes
    assert.are.equal(6, #at)
    assert.are.equal(c_double, at[2])
    at[2] = c_int                     -- a copy: the function is unchanged
    assert.are.equal(c_double, f.argtypes[2])
    assert.are.equal(c_double, f.restype)
    local cell = ctypes.c_int(10)
    assert.are.equal(1 + 5 + 30 + 16 + 2.5 + 36, f(1, 2.5, cell, 4, 0.5, 6))
    assert.are.equal(1 + 5 + 30 + 16 + 2.5 + 36, f(1, 2.5, ctypes.byref(cell), 4, 0.5, 6))
    assert.are.equal(1 + 5 + 0 + 16 + 2.5 + 36, f(1, 2.5, nil, 4, 0.5, 6))
  end)

  it("validate argtypes, restype and errcheck when set", function()
    local f = lib.fxc_id_int
    assert.has_error(function() f.argtypes = { c_int, "x" } end,
      "TypeError: argtypes: item 2 must be a ctypes type or have a from_param method, got string")
    assert.has_error(function() f.argtypes = 5 end,
      "TypeError: argtypes must be a table (sequence) of types or nil, got integer")
    assert.has_error(function() f.restype = "x" end,
      "TypeError: restype must be a ctypes type, a function or nil, got string")
    assert.has_error(function() f.restype = c_int * 2 end,
      "TypeError: restype: c_int_Array_2: a function cannot return an array")
    assert.has_error(function() f.errcheck = 5 end,
      "TypeError: errcheck must be a function or nil, got integer")
    local Inc = ctypes.Structure("Inc")
    assert.has_error(function() f.argtypes = { Inc } end,
      "TypeError: argtypes: item 1: Inc is an incomplete type")
    -- a failed assignment leaves the function as it was
    assert.is_nil(f.argtypes)
    assert.are.equal(c_int, f.restype)
  end)

  it("have release(), which does nothing for foreign functions", function()
    local f = lib.fxc_add
    f.argtypes = nil
    f:release()
    assert.are.equal(3, f(1, 2))
  end)

  it("reject unknown attributes", function()
    assert.has_error(function() return lib.fxc_add.nope end,
      "AttributeError: '_FuncPtr' object has no attribute 'nope'")
    assert.has_error(function() lib.fxc_add.nope = 1 end,
      "AttributeError: '_FuncPtr' object has no attribute 'nope'")
  end)

  it("go back to conversion by Lua type when argtypes is set to nil", function()
    local f = lib.fxc_id_double
    f.restype = c_double
    f.argtypes = { c_double }
    assert.are.equal(3.0, f(3))            -- converted to double
    f.argtypes = nil
    assert.are.equal(2.5, f(2.5))
  end)

  it("return nothing for restype nil (void)", function()
    local store, load = lib.fxc_store, lib.fxc_load
    store.restype = nil
    assert.is_nil(store.restype)
    assert.are.equal(0, select("#", store(77)))
    assert.are.equal(77, load())
  end)
end)

describe("conversions without argtypes", function()
  it("pass integers as int, floats as double, strings as char *", function()
    assert.are.equal(-7, lib.fxc_id_int(-7))
    local d = lib.fxc_id_double
    d.restype = c_double
    d.argtypes = nil
    assert.are.equal(0.25, d(0.25))
    assert.are.equal(5, lib.fxc_strlen("hello"))
  end)

  it("pass nil as NULL and booleans as int", function()
    assert.are.equal(-1, lib.fxc_strlen(nil))
    assert.are.equal(1, lib.fxc_is_null(nil))
    assert.are.equal(1, lib.fxc_id_int(true))
    assert.are.equal(0, lib.fxc_id_int(false))
  end)

  it("pass CData by their C value, and arrays, pointers, byref as addresses", function()
    local d = lib.fxc_id_double
    d.restype, d.argtypes = c_double, nil
    assert.are.equal(1.5, d(ctypes.c_double(1.5)))
    local m = lib.fxc_mid_float
    m.restype = c_double
    assert.are.equal(1 + 5 + 3, m(1, ctypes.c_float(2.5), 3.0))
    local cell = ctypes.c_int(9)
    assert.are.equal(9, lib.fxc_deref(ctypes.byref(cell)))
    assert.are.equal(9, lib.fxc_deref(ctypes.pointer(cell)))
    local arr = (c_int * 3)(4, 5, 6)
    assert.are.equal(4, lib.fxc_deref(arr))
    assert.are.equal(11, lib.fxc_point_sum(Point(5, 6)))   -- by value
    assert.are.equal(0, lib.fxc_is_null(lib.fxc_add))      -- its address
  end)

  it("pass a c_bool holding any non-zero byte as 1, and unaligned scalars", function()
    -- a c_bool's byte set to 11 (memset) was loaded as _Bool (UB) and
    -- passed as 11; a scalar viewed at an odd offset was loaded unaligned
    local b = ctypes.c_bool(true)
    ctypes.memset(b, 11, 1)
    local vsum = lib.fxc_vsum
    vsum.argtypes = { c_int }
    assert.are.equal(1, vsum(1, b))                       -- promoted
    assert.are.equal(1, lib.fxc_id_int(b))                -- as is
    local idb = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_bool)({ "fxc_id_bool", lib })
    assert.are.equal(true, idb(b))
    local buf = ctypes.create_string_buffer(8)
    local sh = ctypes.c_short.from_buffer(buf, 1)
    sh.value = -2
    local f = ctypes.c_float.from_buffer(buf, 3)
    f.value = 0.5
    assert.are.equal(-2, vsum(1, sh))
    local vd = lib.fxc_vdsum
    vd.argtypes, vd.restype = { c_int }, c_double
    assert.are.equal(0.5, vd(1, f))
  end)

  it("refuse what has no C form, and ints that do not fit", function()
    assert.has_error(function() lib.fxc_id_int({}) end,
      "ArgumentError: argument 1: TypeError: Don't know how to convert parameter 1 (table)")
    assert.has_error(function() lib.fxc_add(1, print) end,
      "ArgumentError: argument 2: TypeError: Don't know how to convert parameter 2 (function)")
    assert.has_error(function() lib.fxc_id_int(1 << 40) end,
      "ArgumentError: argument 1: OverflowError: int too long to convert " ..
      "(1099511627776 does not fit in c_int; declare argtypes)")
    assert.are.equal(-1, lib.fxc_id_int(0xFFFFFFFF))   -- the bit pattern
  end)

  it("use _as_parameter_", function()
    assert.are.equal(12, lib.fxc_add({ _as_parameter_ = 10 }, 2))
  end)
end)

describe("conversions with argtypes", function()
  local add = lib.fxc_add
  add.argtypes = { c_int, c_int }

  it("name the argument and both types", function()
    assert.has_error(function() add(1, "x") end,
      "ArgumentError: argument 2: expected c_int, got string")
    assert.has_error(function() add("10", 1) end,
      "ArgumentError: argument 1: expected c_int, got string")
    assert.has_error(function() add(1.5, 1) end,
      "ArgumentError: argument 1: expected c_int, got number 1.5")
    assert.has_error(function() add(1, {}) end,
      "ArgumentError: argument 2: expected c_int, got table")
    assert.has_error(function() add(1, c_double(2)) end,
      "ArgumentError: argument 2: expected c_int, got c_double instance")
    local ps = lib.fxc_point_sum
    ps.argtypes = { Point }
    local Other = ctypes.Structure("Other", { _fields_ = { { "x", c_int } } })
    assert.has_error(function() ps(Other()) end,
      "ArgumentError: argument 1: expected Point, got Other instance")
  end)

  it("refuse strings for doubles and for typed pointers", function()
    local d = lib.fxc_id_double
    d.argtypes, d.restype = { c_double }, c_double
    assert.are.equal(2.0, d(2))
    assert.has_error(function() d("1.5") end,
      "ArgumentError: argument 1: expected c_double, got string")
    local isnull = lib.fxc_is_null
    isnull.argtypes = { ctypes.POINTER(c_int) }
    assert.has_error(function() isnull("12") end,
      "ArgumentError: argument 1: expected LP_c_int, got string")
    -- c_void_p takes a string as ctypes takes bytes: its bytes' address
    isnull.argtypes = { c_void_p }
    assert.are.equal(0, isnull("12"))
  end)

  it("pass arrays, buffers and pointers where C expects pointers", function()
    local fill = lib.fxc_fill
    fill.argtypes = { c_int * 4, c_int }
    fill.restype = nil
    local arr = (c_int * 4)()
    fill(arr, 4)
    assert.are.same({ 0, 1, 4, 9 }, { arr[0], arr[1], arr[2], arr[3] })
    fill({ 1, 2, 3, 4 }, 4)                  -- a temporary array is fine
    local deref = lib.fxc_deref
    deref.argtypes = { ctypes.POINTER(c_int) }
    arr[0] = 4
    assert.are.equal(4, deref(arr))          -- an array of the pointee
    assert.are.equal(5, deref(ctypes.pointer(ctypes.c_int(5))))
    assert.has_error(function() deref(ctypes.pointer(c_double(1))) end,
      "ArgumentError: argument 1: expected LP_c_int, got LP_c_double instance")
    assert.has_error(function() deref(5) end,
      "ArgumentError: argument 1: expected LP_c_int, got integer")
    local len = lib.fxc_strlen
    len.argtypes = { c_char_p }
    assert.are.equal(3, len(ctypes.create_string_buffer("abc")))
    assert.are.equal(-1, len(nil))
    assert.are.equal(5, len(c_char_p("hello")))
  end)

  it("refuse function objects of another signature for a function type", function()
    local CB = ctypes.CFUNCTYPE(c_int, c_int, c_int)
    local P = ctypes.POINTER(c_int)
    local CMP = ctypes.CFUNCTYPE(c_int, P, P)
    local apply = CB and ctypes.CFUNCTYPE(c_int, CB, c_int, c_int)({ "fx_cb_apply_ii", lib })
    -- C would call it with two ints, which the callback would read as pointers
    assert.has_error(function() apply(CMP(function(a, b) return a[0] - b[0] end), 1, 2) end,
      "ArgumentError: argument 1: expected a function c_int(c_int, c_int), " ..
      "got a function c_int(LP_c_int, LP_c_int)")
    -- the same signature is fine, whatever the options; so is a library
    -- function (its signature is the caller's word, as for an address)
    local CBerr = ctypes.CFUNCTYPE(c_int, c_int, c_int, { error = -1 })
    assert.are.equal(7, apply(CBerr(function(a, b) return a + b end), 3, 4))
    assert.are.equal(7, apply(lib.fxc_add, 3, 4))
  end)

  it("accept integral floats, wrap out-of-range integers", function()
    bothpaths(function()
      assert.are.equal(5, add(2.0, 3))
      assert.are.equal(1, add((1 << 32) + 1, 0))       -- c_int wraps
      assert.are.equal(-2, add(0x7FFFFFFF, 0x7FFFFFFF))
    end)
    local u = lib.fxc_id_uint
    u.argtypes, u.restype = { c_uint }, c_uint
    bothpaths(function() assert.are.equal(4294967295, u(-1)) end)
    assert.are.equal(5, add(2.0, 3))
    local u8 = lib.fxc_id_ubyte
    u8.argtypes, u8.restype = { ctypes.c_ubyte }, ctypes.c_ubyte
    assert.are.equal(1, u8(257))
    assert.are.equal(255, u8(-1))
  end)

  it("extend plain char as the target's C does, in and out of callbacks", function()
    -- 0xF6 is 246 where char is unsigned (aarch64, s390x), -10 elsewhere;
    -- the s390x callee reads the register the caller extended
    local want = helper.platform.char_signed and -10 or 246
    local f = lib.fxc_char_u64
    f.argtypes, f.restype = { ctypes.c_char }, ctypes.c_ulonglong
    assert.are.equal(want, f("\xf6"))
    assert.are.equal(want, f(ctypes.c_char("\xf6")))
    local CB = ctypes.CFUNCTYPE(ctypes.c_char, ctypes.c_char)
    local g = lib.fxc_char_cb_u64
    g.argtypes, g.restype = { CB, ctypes.c_char }, ctypes.c_ulonglong
    local seen
    local cb = CB(function(c) seen = c; return c end)
    assert.are.equal(want, g(cb, "\xf6"))
    assert.are.equal("\xf6", seen)
    cb:release()
  end)

  it("check the argument count", function()
    assert.has_error(function() add(1) end,
      "TypeError: this function takes at least 2 arguments (1 given)")
    local one = lib.fxc_id_long
    one.argtypes = { c_long }
    assert.has_error(function() one() end,
      "TypeError: this function takes at least 1 argument (0 given)")
    local F = ctypes.CFUNCTYPE(c_int, c_int, c_int)
    local fixed = F({ "fxc_add", lib })
    assert.has_error(function() fixed(1, 2, 3) end,
      "TypeError: this function takes 2 arguments (3 given)")
    assert.has_error(function() fixed(1) end,
      "TypeError: this function takes 2 arguments (1 given)")
  end)

  it("pass extra arguments as variadic ones, promoted", function()
    local vsum = lib.fxc_vsum
    vsum.argtypes = { c_int }
    assert.are.equal(6, vsum(3, 1, 2, 3))
    assert.are.equal(0, vsum(0))
    local vd = lib.fxc_vdsum
    vd.argtypes, vd.restype = { c_int }, c_double
    assert.are.equal(1.0 + 4.0 + 9.0, vd(3, 1.0, 2.0, 3.0))
    assert.are.equal(1.5 + 5.0, vd(2, ctypes.c_float(1.5), 2.5))  -- float -> double
    local vl = lib.fxc_vlsum
    vl.argtypes, vl.restype = { c_int }, c_long
    -- a long beyond 32 bits where long has 64
    local big = 1 << (8 * helper.platform.long_size - 2)
    assert.are.equal(big + 2 * 7, vl(2, c_long(big), c_long(7)))
    -- short, char and bool promote to int
    assert.are.equal(-3 + 65 + 1, vsum(3, ctypes.c_short(-3), ctypes.c_char("A"),
                                       ctypes.c_bool(true)))
  end)

  it("call snprintf from libc into a string buffer", function()
    local snprintf = libc.snprintf
    snprintf.argtypes = { c_void_p, ctypes.c_size_t, c_char_p }
    local buf = ctypes.create_string_buffer(64)
    local big = 1 << (8 * helper.platform.long_size - 2)   -- 2^62, 2^30 on i386
    local n = snprintf(buf, 64, "%d|%s|%.3f|%ld|%c", 42, "hi", 3.14159,
                       c_long(big), 65)
    assert.are.equal("42|hi|3.142|" .. big .. "|A", buf.value)
    assert.are.equal(#buf.value, n)
  end)

  it("honour _as_parameter_ and a from_param in a structure body", function()
    assert.are.equal(8, add({ _as_parameter_ = 5 }, 3))
    local Pt = ctypes.Structure("Pt", {
      _fields_ = { { "x", c_int }, { "y", c_int } },
      from_param = function(cls, v)
        if type(v) == "number" then return cls(v, v) end
        return v
      end,
    })
    local ps = lib.fxc_point_sum
    ps.argtypes = { Pt }
    assert.are.equal(6, ps(3))
    assert.are.equal(7, ps(Pt(3, 4)))
  end)

  it("pass function objects where a function pointer or c_void_p is expected", function()
    local CB = ctypes.CFUNCTYPE(c_int, c_int, c_int)
    local apply = lib.fxc_apply
    apply.argtypes = { CB, c_int, c_int }
    assert.are.equal(11, apply(lib.fxc_add, 5, 6))
    assert.are.equal(30, apply(function(a, b) return a * b end, 5, 6))
    local isnull = lib.fxc_is_null
    isnull.argtypes = { c_void_p }
    assert.are.equal(0, isnull(lib.fxc_add))
    assert.are.equal(1, isnull(nil))
  end)
end)

describe("parameters accept what ctypes' from_param accepts", function()
  -- the values are python3's for the same calls
  local memcpy = libc.memcpy
  memcpy.argtypes = { c_void_p, c_void_p, ctypes.c_size_t }
  memcpy.restype = c_void_p

  it("c_void_p: byref(x) and byref(x, offset), and c_void_p.from_param(byref(x))", function()
    local src, dst = c_int(5), c_int(0)
    memcpy(ctypes.byref(dst), ctypes.byref(src), 4)
    assert.are.equal(5, dst.value)
    local buf = (ctypes.c_char * 8)()
    memcpy(ctypes.byref(buf, 2), ctypes.byref(ctypes.c_ubyte(5)), 1)
    assert.are.equal("\0\0\5\0\0\0\0\0", buf.raw)
    local p = c_void_p.from_param(ctypes.byref(src))
    assert.are.equal(ctypes.addressof(dst), memcpy(ctypes.byref(dst), p, 4))
  end)

  it("c_void_p: a Lua string, its bytes (kept alive for the call)", function()
    local buf = (ctypes.c_char * 8)()
    memcpy(ctypes.byref(buf, 2), "hi" .. "!", 3)
    assert.are.equal("\0\0hi!\0\0\0", buf.raw)
  end)

  it("POINTER(c_char): a Lua string and a c_char_p; POINTER(c_wchar): a string and a c_wchar_p", function()
    local strchr = libc.strchr
    strchr.argtypes, strchr.restype = { ctypes.POINTER(ctypes.c_char), c_int }, c_char_p
    assert.are.equal("cdef", strchr("abcdef", 99))
    assert.are.equal("def", strchr(c_char_p("abcdef"), 100))
    local wcslen = libc.wcslen
    wcslen.argtypes, wcslen.restype = { ctypes.POINTER(ctypes.c_wchar) }, ctypes.c_size_t
    assert.are.equal(5, wcslen("h\u{e9}llo"))
    assert.are.equal(3, wcslen(ctypes.c_wchar_p("abc")))
  end)

  it("c_char_p/c_wchar_p: byref(c_char(...))/byref(c_wchar(...)) and character arrays", function()
    local memchr = libc.memchr
    memchr.argtypes, memchr.restype = { c_char_p, c_int, ctypes.c_size_t }, c_void_p
    local ca = (ctypes.c_char * 3)("x", "a", "b")
    assert.are.equal(ctypes.addressof(ca) + 1, memchr(ca, 97, 3))
    local cc = ctypes.c_char("a")
    assert.are.equal(ctypes.addressof(cc), memchr(ctypes.byref(cc), 97, 1))
    local wmemchr = libc.wmemchr
    wmemchr.argtypes = { ctypes.c_wchar_p, ctypes.c_wchar, ctypes.c_size_t }
    wmemchr.restype = c_void_p
    local wc = ctypes.c_wchar("z")
    assert.are.equal(ctypes.addressof(wc), wmemchr(ctypes.byref(wc), "z", 1))
    local wcslen = libc.wcslen
    wcslen.argtypes, wcslen.restype = { ctypes.c_wchar_p }, ctypes.c_size_t
    assert.are.equal(2, wcslen((ctypes.c_wchar * 4)("a", "b")))
    assert.has_error(function() memchr(ctypes.byref(c_int(1)), 97, 1) end,
      "ArgumentError: argument 1: expected c_char_p, got byref(c_int)")
  end)

  it("POINTER(Struct): a table initialiser, a temporary passed by reference", function()
    local TS = ctypes.Structure("timespec", {
      _fields_ = { { "tv_sec", c_long }, { "tv_nsec", c_long } } })
    local nanosleep = libc.nanosleep
    nanosleep.argtypes = { ctypes.POINTER(TS), ctypes.POINTER(TS) }
    assert.are.equal(0, nanosleep({ tv_sec = 0, tv_nsec = 1000000 }, nil))
    assert.has_error(function() nanosleep({ tv_sec = "x" }, nil) end,
      "TypeError: field 'tv_sec': expected c_long, got string")
  end)

  it("_as_parameter_ recursively, in calls and in T.from_param; a cycle is an error", function()
    local chain = { _as_parameter_ = { _as_parameter_ = 7 } }
    local absf = libc.abs
    absf.argtypes, absf.restype = { c_int }, c_int
    assert.are.equal(7, absf(chain))
    assert.are.equal(7, c_int.from_param(chain).value)
    local loop = {}
    loop._as_parameter_ = loop
    assert.has_error(function() absf(loop) end,
      "ArgumentError: argument 1: ValueError: _as_parameter_ cycle: table at step 1 is the value of step 0")
    assert.has_error(function() c_int.from_param(loop) end,
      "ValueError: _as_parameter_ cycle: table at step 1 is the value of step 0")
  end)

  it("argtypes takes any object with a from_param method (an adapter), as ctypes", function()
    local absf = libc.abs
    local Doubler = { from_param = function(_, v) return c_int(v * 2) end }
    absf.argtypes, absf.restype = { Doubler }, c_int
    assert.are.equal(42, absf(-21))              -- python3: 42
    local Plus = setmetatable({}, { __index = {
      from_param = function(_, v) return v + 1 end } })
    absf.argtypes = { Plus }
    assert.are.equal(9, absf(-10))
    assert.are.same({ Plus }, absf.argtypes)
    local strlen = libc.strlen
    strlen.argtypes = { { from_param = function(_, v) return v .. "!!" end } }
    strlen.restype = ctypes.c_size_t
    assert.are.equal(5, strlen("abc"))
    assert.has_error(function() absf.argtypes = { {} } end,
      "TypeError: argtypes: item 1 must be a ctypes type or have a from_param method, got table")
    absf.argtypes = { c_int }
  end)

  it("a too large variadic integer suggests c_long(...) or c_longlong(...)", function()
    local vl = lib.fxc_vlsum
    vl.argtypes, vl.restype = { c_int }, c_long
    assert.has_error(function() vl(1, 1 << 40) end,
      "ArgumentError: argument 2: OverflowError: int too long to convert " ..
      "(1099511627776 does not fit in c_int; pass a variadic long as c_long(...) or c_longlong(...))")
  end)
end)


describe("every scalar type in and out", function()
  -- long's limits: the fixture's sizeof(long)
  local LONG_MAX, LONG_MIN = helper.platform.long_max, helper.platform.long_min
  local cases = {
    { "bool", { true, false }, { true, true } },   -- (_Bool)(x + 1)
    { "char", { "A", "\0", "\255" }, { "B", "\1", "\0" } },
    { "wchar", { "a", "\u{e9}", "\u{1F600}" }, { "b", "\u{ea}", "\u{1F601}" } },
    { "byte", { -128, 0, 127 }, { -127, 1, -128 } },
    { "ubyte", { 0, 200, 255 }, { 1, 201, 0 } },
    { "short", { -32768, 32767 }, { -32767, -32768 } },
    { "ushort", { 0, 65535 }, { 1, 0 } },
    { "int", { -2147483648, 2147483647 }, { -2147483647, -2147483648 } },
    { "uint", { 0, 4294967295 }, { 1, 0 } },
    { "long", { LONG_MIN, LONG_MAX }, { LONG_MIN + 1, LONG_MIN } },
    { "ulong", { 0, helper.platform.ulong_max }, { 1, 0 } },
    { "longlong", { -5, math.maxinteger }, { -4, math.mininteger } },
    { "ulonglong", { 7, -1 }, { 8, 0 } },
    { "float", { 1.5, -0.25, 16777216.0 }, { 2.5, 0.75, 16777216.0 } },
    { "double", { 1.5, -1e300, 2 ^ 53 }, { 2.5, -1e300, 2 ^ 53 } },
    { "longdouble", { 1.5, -1e300 }, { 2.5, -1e300 } },
  }
  for _, case in ipairs(cases) do
    local name, ins, nexts = case[1], case[2], case[3]
    it("c_" .. name, function()
      local T = ctypes["c_" .. name]
      local id, nx = lib["fxc_id_" .. name], lib["fxc_next_" .. name]
      id.argtypes, id.restype = { T }, T
      nx.argtypes, nx.restype = { T }, T
      bothpaths(function()
        for i, v in ipairs(ins) do
          assert.are.equal(v, id(v))
          assert.are.equal(nexts[i], nx(v))
          assert.are.equal(v, id(T(v)))        -- an instance of the type
        end
      end)
    end)
  end

  it("a float between other arguments", function()
    local m = lib.fxc_mid_float
    m.argtypes, m.restype = { c_int, c_float, c_double }, c_double
    bothpaths(function() assert.are.equal(1 + 5 + 3, m(1, 2.5, 3)) end)
  end)

  it("long double arithmetic", function()
    local f = lib.fxc_ld_add
    f.argtypes = { ctypes.c_longdouble, ctypes.c_longdouble }
    f.restype = ctypes.c_longdouble
    assert.are.equal(3.75, f(1.5, 2.25))
    local third = lib.fxc_ld_third
    third.restype = ctypes.c_longdouble
    assert.are.equal(1 / 3, third())
  end)

  it("strings come back as Lua strings, NULL as nil", function()
    local h, n, w = lib.fxc_hello, lib.fxc_null_str, lib.fxc_whello
    h.restype, n.restype, w.restype = c_char_p, c_char_p, ctypes.c_wchar_p
    assert.are.equal("hello", h())
    assert.is_nil(n())
    assert.are.equal("h\u{e9}llo", w())
    local wl = lib.fxc_wcslen
    wl.argtypes = { ctypes.c_wchar_p }
    assert.are.equal(5, wl("h\u{e9}llo"))
  end)

  it("pointers come back as pointer objects, c_void_p as an integer or nil", function()
    local ip = lib.fxc_int_ptr
    ip.restype = ctypes.POINTER(c_int)
    local p = ip()
    assert.are.equal(42, p.contents.value)
    assert.are.equal(42, p[0])
    local np = lib.fxc_null_ptr
    np.restype = c_void_p
    assert.is_nil(np())
    ip.restype = c_void_p
    assert.are.equal(ctypes.addressof(p.contents), ip())
  end)

  it("a callable restype receives the int result", function()
    local f = lib.fxc_add
    f.restype = function(v) return v * 10 end
    assert.are.equal(50, f(2, 3))
    f.restype = c_int
  end)
end)

describe("many arguments", function()
  it("14 integers, 14 doubles and 18 mixed", function()
    local si = lib.fxc_sum14i
    local at = {}
    for i = 1, 14 do at[i] = c_long end
    si.argtypes, si.restype = at, c_long
    local sd = lib.fxc_sum14d
    local atd = {}
    for i = 1, 14 do atd[i] = c_double end
    sd.argtypes, sd.restype = atd, c_double
    local m = lib.fxc_mix12
    m.argtypes = { c_int, c_double, ctypes.c_char, c_float, ctypes.c_short, c_double,
                   c_long, c_float, ctypes.c_ubyte, c_double, c_int, c_float, c_long,
                   c_double, c_int, c_float, c_double, c_int }
    m.restype = c_double
    local want, wantd, wantm = 0, 0, 0
    local args, argsd = {}, {}
    for i = 1, 14 do
      args[i] = i * 1000 + i
      argsd[i] = i + 0.5
      want = want + i * args[i]
      wantd = wantd + i * argsd[i]
    end
    for i = 1, 18 do wantm = wantm + i * i end
    bothpaths(function()
      assert.are.equal(want, si(table.unpack(args)))
      assert.are.equal(wantd, sd(table.unpack(argsd)))
      assert.are.equal(wantm, m(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                                16, 17, 18))
    end)
  end)
end)

describe("structures and unions by value", function()
  local c = ctypes
  local defs = {
    { "S1", { { "a", c.c_char } } },
    { "S2", { { "a", c.c_short } } },
    { "S3", { { "a", c.c_char * 3 } } },
    { "S4", { { "a", c.c_float } } },
    { "S8f", { { "a", c.c_float }, { "b", c.c_float } } },
    { "S8if", { { "a", c.c_int }, { "b", c.c_float } } },
    { "S12f", { { "a", c.c_float }, { "b", c.c_float }, { "c", c.c_float } } },
    { "S12lf", { { "a", c.c_long }, { "b", c.c_float } } },
    { "S16d", { { "a", c.c_double }, { "b", c.c_double } } },
    { "S16ld", { { "a", c.c_long }, { "b", c.c_double } } },
    { "S16dl", { { "a", c.c_double }, { "b", c.c_long } } },
    { "S16f", { { "a", c.c_float }, { "b", c.c_float }, { "c", c.c_float }, { "d", c.c_float } } },
    { "S16iid", { { "a", c.c_int }, { "b", c.c_int }, { "c", c.c_double } } },
    { "S20f", { { "a", c.c_float }, { "b", c.c_float }, { "c", c.c_float }, { "d", c.c_float },
                { "e", c.c_float } } },
    { "S24", { { "a", c.c_double }, { "b", c.c_long }, { "c", c.c_double } } },
    { "S32d", { { "a", c.c_double }, { "b", c.c_double }, { "c", c.c_double }, { "d", c.c_double } } },
  }
  local T = {}
  for _, d in ipairs(defs) do T[d[1]] = ctypes.Structure(d[1], { _fields_ = d[2] }) end

  for _, d in ipairs(defs) do
    local name, fields = d[1], d[2]
    it(name .. " (" .. ctypes.sizeof(T[name]) .. " bytes) in and out", function()
      local S = T[name]
      local sz = lib["fxc_sizeof_call_" .. name]
      sz.restype = ctypes.c_size_t
      assert.are.equal(sz(), ctypes.sizeof(S))
      local f = lib["fxc_twice_" .. name]
      f.argtypes, f.restype = { S }, S
      bothpaths(function()
        local s = S()
        if name == "S1" then s.a = "\20"
        elseif name == "S3" then s.a = "\1\2\3"   -- c_char members are text
        else
          for i, fd in ipairs(fields) do s[fd[1]] = i * 10 end
        end
        local r = f(s)
        if name == "S1" then assert.are.equal("\41", r.a)
        elseif name == "S3" then
          assert.are.equal("\2\5\8", r.a)
        else
          for i, fd in ipairs(fields) do
            assert.are.equal(i * 10 * 2 + i, r[fd[1]])
          end
        end
        -- the argument itself is untouched (passed by value)
        if name ~= "S1" and name ~= "S3" then
          assert.are.equal(10, s[fields[1][1]])
        end
      end)
    end)
  end

  it("from a table initialiser and between scalars", function()
    local ps = lib.fxc_point_sum
    ps.argtypes = { Point }
    assert.are.equal(7, ps({ 3, 4 }))
    assert.are.equal(7, ps({ x = 3, y = 4 }))
    local mk = lib.fxc_point_make
    mk.argtypes, mk.restype = { c_int, c_int }, Point
    local p = mk(5, -6)
    assert.are.equal(5, p.x)
    assert.are.equal(-6, p.y)
    local g = lib.fxc_agg_between
    g.argtypes = { c_int, T.S16ld, c_double, T.S8f, c_int }
    g.restype = c_double
    bothpaths(function()
      assert.are.equal(1 + 4 + 9 + 16 + 25 + 36 + 49, g(1, { 2, 3 }, 4, { 5, 6 }, 7))
    end)
  end)

  it("pins libffi 3.4.4's x86-64 bug: a 16-byte INTEGER/SSE struct in the 6th register", function()
    -- libffi copies the whole struct into the last integer register slot and
    -- overwrites the first SSE register (the double d); we split it.
    local f = lib.fxc_bug_case
    f.argtypes = { c_double, c_long, c_long, c_long, c_long, c_long, T.S16ld }
    f.restype = c_double
    bothpaths(function()
      assert.are.equal(1000 + 1 + 4 + 9 + 16 + 25 + 70 + 900,
                       f(1, 1, 2, 3, 4, 5, T.S16ld(7, 9)))
    end)
  end)

  it("unions", function()
    local Uif = ctypes.Union("Uif", { _fields_ = { { "i", c_int }, { "f", c_float } } })
    local Udl = ctypes.Union("Udl", { _fields_ = { { "d", c_double }, { "l", c_long } } })
    local Uc12 = ctypes.Union("Uc12", { _fields_ = { { "c", ctypes.c_char * 12 }, { "f", c_float } } })
    local PP = ctypes.Structure("PP", { _fields_ = { { "x", c_float }, { "y", c_float } } })
    local Upd = ctypes.Union("Upd", { _fields_ = { { "p", PP }, { "d", c_double } } })
    local uif, udl, uc, upd = lib.fxc_uif, lib.fxc_udl, lib.fxc_uc12, lib.fxc_upd
    uif.argtypes, uif.restype = { Uif, c_int }, Uif
    udl.argtypes, udl.restype = { Udl }, Udl
    uc.argtypes, uc.restype = { Uc12 }, Uc12
    upd.argtypes, upd.restype = { Upd }, Upd
    bothpaths(function()
      local x = Uif()
      x.f = 1.5
      assert.are.equal(3.0, uif(x, 0).f)
      x.i = 41
      assert.are.equal(42, uif(x, 1).i)
      local y = Udl()
      y.l = 6
      assert.are.equal(7, udl(y).l)
      local z = Uc12()
      z.c = "abcdefghijk"      -- a c_char member: the text and a NUL
      assert.are.equal("bcdefghijkl\1", uc(z).c)
      local w = Upd()
      w.p.x, w.p.y = 1, 2
      local r = upd(w)
      assert.are.equal(2, r.p.x)
      assert.are.equal(4, r.p.y)
    end)
  end)

  it("bit fields, packed and long double structures", function()
    local Bits = ctypes.Structure("Bits", {
      _fields_ = { { "a", c_uint, 3 }, { "b", c_uint, 5 }, { "c", c_int, 10 } } })
    local BitsF = ctypes.Structure("BitsF", {
      _fields_ = { { "f", c_float }, { "a", c_uint, 4 } } })
    local P5 = ctypes.Structure("P5", {
      _pack_ = 1, _fields_ = { { "c", ctypes.c_char }, { "i", c_int } } })
    local SLD = ctypes.Structure("SLD", { _fields_ = { { "x", ctypes.c_longdouble } } })
    local b, bf, p5, sld = lib.fxc_bits, lib.fxc_bitsf, lib.fxc_p5, lib.fxc_sld
    b.argtypes, b.restype = { Bits }, Bits
    bf.argtypes, bf.restype = { BitsF }, BitsF
    p5.argtypes, p5.restype = { P5, c_int }, P5
    sld.argtypes, sld.restype = { SLD }, SLD
    bothpaths(function()
      local r = b(Bits(1, 2, -5))
      assert.are.equal(2, r.a)
      assert.are.equal(4, r.b)
      assert.are.equal(-8, r.c)
      local rf = bf(BitsF(1.25, 3))
      assert.are.equal(2.5, rf.f)
      assert.are.equal(4, rf.a)
      -- built and checked through bytes: the int field is unaligned
      local rp = p5(P5.from_buffer_copy("a" .. string.pack("=i4", 40)), 2)
      assert.are.equal("b" .. string.pack("=i4", 42),
                       ctypes.string_at(ctypes.addressof(rp), 5))
      assert.are.equal("b", rp.c)
      assert.are.equal(42, rp.i)
      local mk = lib.fxc_p5_make
      mk.argtypes, mk.restype = { ctypes.c_char, c_int }, P5
      assert.are.equal("z" .. string.pack("=i4", -7),
                       ctypes.string_at(ctypes.addressof(mk("z", -7)), 5))
      assert.are.equal(2.5, sld(SLD(1.25)).x)
    end)
  end)

  it("pass deeply nested structures by value", function()
    -- classifying the eightbytes recursed without Lua stack room
    local Nest = c_int
    for i = 1, 200 do Nest = ctypes.Structure("Nest" .. i, { _fields_ = { { "m", Nest } } }) end
    local id = ctypes.CFUNCTYPE(c_int, Nest)({ "fxc_id_int", lib })
    local v = Nest()
    local inner = v
    for _ = 1, 199 do inner = inner.m end
    inner.m = 42
    assert.are.equal(42, id(v))
  end)
end)

describe("prototypes (CFUNCTYPE)", function()
  local F = ctypes.CFUNCTYPE(c_int, c_int, c_int)

  it("are cached per signature and options", function()
    assert.are.equal(F, ctypes.CFUNCTYPE(c_int, c_int, c_int))
    assert.are_not.equal(F, ctypes.CFUNCTYPE(c_int, c_int, c_long))
    assert.are_not.equal(F, ctypes.CFUNCTYPE(c_int, c_int, c_int, { use_errno = true }))
    assert.are.equal(ctypes.CFUNCTYPE(nil), ctypes.CFUNCTYPE(nil))
    assert.are.equal("CFunctionType", tostring(F))
    assert.are.equal(ctypes.sizeof(c_void_p), ctypes.sizeof(F))
  end)

  it("take at most 1024 arguments, as ctypes (ArgumentError beyond)", function()
    local ints = {}
    for i = 1, 1025 do ints[i] = c_int end
    assert.has_error(function() ctypes.CFUNCTYPE(c_int, table.unpack(ints)) end,
      "ArgumentError: argtypes: too many arguments (1025), maximum is 1024")
    local vsum = lib.fxc_vsum
    assert.has_error(function() vsum.argtypes = ints end,
      "ArgumentError: argtypes: too many arguments (1025), maximum is 1024")
    vsum.argtypes = { c_int }
    local args = { 1023 }
    for i = 2, 1024 do args[i] = 1 end
    assert.are.equal(1023, vsum(table.unpack(args)))
    args[1025] = 1
    assert.has_error(function() vsum(table.unpack(args)) end,
      "ArgumentError: too many arguments (1025), maximum is 1024")
  end)

  it("refuse unknown options", function()
    assert.has_error(function() ctypes.CFUNCTYPE(c_int, { use_errno = 1, nope = 2 }) end,
      "TypeError: CFUNCTYPE: unknown option 'nope'")
    assert.has_error(function() ctypes.CFUNCTYPE(c_int, c_int, { [1] = true }) end,
      "TypeError: CFUNCTYPE: unknown option '1'")
  end)

  it("make foreign functions from an address, a {name, library} or a function object", function()
    local addr = c_void_p(lib.fxc_add).value
    assert.are.equal(5, F(addr)(2, 3))
    assert.are.equal(7, F({ "fxc_add", lib })(3, 4))
    assert.are.equal(9, F(lib.fxc_add)(4, 5))
    local f = F({ "fxc_add", lib })
    assert.are.equal(c_int, f.restype)
    assert.are.same({ c_int, c_int }, f.argtypes)
    assert.has_error(function() f(1, "x") end,
      "ArgumentError: argument 2: expected c_int, got string")
  end)

  it("report bad specs, missing symbols and NULL", function()
    assert.has_error(function() F("x") end,
      "TypeError: argument must be a function, an integer address or {name, library}, got string")
    assert.has_error(function() F({ "fxc_nope", lib }) end,
      "AttributeError: " .. helper.fixture .. ": undefined symbol: fxc_nope")
    assert.has_error(function() F(1.5) end,
      "TypeError: function address must be an integer, got number")
    local null = F()
    assert.has_error(function() null(1, 2) end, "ValueError: NULL function pointer called")
    assert.has_error(function() ctypes.CFUNCTYPE(c_int, "x") end,
      "TypeError: argtypes: item 1 must be a ctypes type, got string")
  end)

  it("make callbacks from Lua functions", function()
    local cb = F(function(a, b) return a - b end)
    local apply = lib.fxc_apply
    apply.argtypes = { F, c_int, c_int }
    assert.are.equal(7, apply(cb, 10, 3))
    assert.are.equal(7, cb(10, 3))        -- and they are callable from Lua
  end)

  it("keep a callback's signature: argtypes, restype, F(cb), cast(cb, F)", function()
    -- its C code reads the arguments by its own type: calls from Lua with
    -- other argtypes handed it integers it read as pointers (crash)
    local P = ctypes.POINTER(c_int)
    local CMP = ctypes.CFUNCTYPE(c_int, P, P)
    local II = ctypes.CFUNCTYPE(c_int, c_int, c_int)
    local cb = CMP(function(a, b) return a[0] - b[0] end)
    assert.has_error(function() cb.argtypes = { c_int, c_int } end,
      "TypeError: argtypes of a callback are fixed by its prototype c_int(LP_c_int, LP_c_int)")
    assert.has_error(function() cb.argtypes = nil end,
      "TypeError: argtypes of a callback are fixed by its prototype c_int(LP_c_int, LP_c_int)")
    assert.has_error(function() cb.restype = c_double end,
      "TypeError: restype of a callback is fixed by its prototype c_int(LP_c_int, LP_c_int)")
    assert.has_error(function() II(cb) end,
      "TypeError: CFunctionType: expected a function c_int(c_int, c_int), " ..
      "got a callback c_int(LP_c_int, LP_c_int)")
    assert.has_error(function() ctypes.cast(cb, II) end,
      "TypeError: cast: expected a function c_int(c_int, c_int), " ..
      "got a callback c_int(LP_c_int, LP_c_int)")
    -- the same signature is fine; foreign functions take any (their
    -- signature is the caller's word)
    cb.argtypes, cb.restype = { P, P }, c_int
    assert.are.equal(2, cb(c_int(5), c_int(3)))
    assert.are.equal(2, ctypes.CFUNCTYPE(c_int, P, P, { error = 1 })(cb)(c_int(5), c_int(3)))
    local absf = ctypes.cast(libc.abs, II)
    absf.argtypes = { c_int }
    assert.are.equal(3, absf(-3))
  end)

  it("return out parameters as extra results (paramflags)", function()
    local D = ctypes.CFUNCTYPE(c_int, c_int, c_int, ctypes.POINTER(c_int), ctypes.POINTER(c_int))
    local divmod = D({ "fxc_divmod", lib }, { { 1, "a" }, { 1, "b" }, { 2, "q" }, { 2, "r" } })
    local q, r = divmod(17, 5)
    assert.are.equal(3, q)
    assert.are.equal(2, r)
    assert.has_error(function() divmod(1, 2, 3) end,
      "TypeError: this function takes at most 2 arguments (3 given)")
    assert.has_error(function() divmod(1) end,
      "TypeError: required argument 'b' missing")
    -- defaults: given, and zero (flag 4)
    local d2 = D({ "fxc_divmod", lib }, { { 1, "a" }, { 1, "b", 4 }, { 2 }, { 2 } })
    q, r = d2(9)
    assert.are.equal(2, q)
    assert.are.equal(1, r)
    -- in and out (flag 3): taken from the arguments and returned too
    local d3 = D({ "fxc_divmod", lib }, { { 1 }, { 1 }, { 3 }, { 2 } })
    local cell = ctypes.c_int(0)
    q, r = d3(23, 10, cell)
    assert.are.equal(2, q)
    assert.are.equal(3, r)
    assert.are.equal(2, cell.value)
    -- one out parameter of structure type: the object itself
    local PF = ctypes.CFUNCTYPE(c_int, c_int, ctypes.POINTER(Point))
    local po = PF({ "fxc_point_out", lib }, { { 1, "x" }, { 2, "p" } })
    local p = po(21)
    assert.are.equal(21, p.x)
    assert.are.equal(42, p.y)
  end)

  it("hand errcheck the result, the function and the arguments", function()
    local D = ctypes.CFUNCTYPE(c_int, c_int, c_int, ctypes.POINTER(c_int), ctypes.POINTER(c_int))
    local divmod = D({ "fxc_divmod", lib }, { { 1 }, { 1 }, { 2 }, { 2 } })
    local seen
    divmod.errcheck = function(result, func, args)
      seen = { result, func, #args, args[1], args[3].value }
      if result ~= 0 then error("division by zero", 0) end
      return args                  -- go on: the out values are returned
    end
    local q, r = divmod(17, 5)
    assert.are.equal(3, q)
    assert.are.equal(2, r)
    assert.are.same({ 0, divmod, 4, 17, 3 }, seen)
    assert.has_error(function() divmod(1, 0) end, "division by zero")
    divmod.errcheck = function(result) return "replaced", result end
    assert.are.same({ "replaced", 0 }, { divmod(4, 2) })
    divmod.errcheck = nil
    assert.are.same({ 2, 0 }, { divmod(4, 2) })
  end)

  it("validate paramflags", function()
    local D = ctypes.CFUNCTYPE(c_int, c_int, ctypes.POINTER(c_int))
    assert.has_error(function() D({ "fxc_divmod", lib }, { { 1 } }) end,
      "ValueError: paramflags must have the same length as argtypes (1, not 2)")
    assert.has_error(function() D({ "fxc_divmod", lib }, { { 1 }, { 9 } }) end,
      "ValueError: paramflags: item 2: flag must be 0, 1 (in), 2 (out), 4 (default zero) or a combination")
    assert.has_error(function() D({ "fxc_divmod", lib }, { { 1 }, { "2" } }) end,
      "ValueError: paramflags: item 2: flag must be 0, 1 (in), 2 (out), 4 (default zero) or a combination")
    assert.has_error(function() D(5, { { 1 }, { 2 } }) end,
      "TypeError: paramflags need a {name, library} function spec")
    local E = ctypes.CFUNCTYPE(c_int, c_int, c_int)
    local bad = E({ "fxc_add", lib }, { { 1 }, { 2 } })
    assert.has_error(function() bad(1) end,
      "TypeError: 'out' parameter 2 must be a pointer type, not c_int")
  end)
end)

describe("errcheck on library functions", function()
  it("replaces the result", function()
    local f = lib.fxc_add
    f.argtypes = { c_int, c_int }
    local got
    f.errcheck = function(result, func, args)
      got = { result, func, args[1], args[2] }
      return result * 2
    end
    assert.are.equal(10, f(2, 3))
    assert.are.same({ 5, f, 2, 3 }, got)
    f.errcheck = nil
    assert.are.equal(5, f(2, 3))
  end)
end)
