-- Pointers: POINTER(T) instances, pointer(), contents, indexing, cast,
-- byref, is_null, NULL access.
local ctypes = require("ctypes")
local helper = require("spec.helper")

local c_int, POINTER = ctypes.c_int, ctypes.POINTER
local IntP = POINTER(c_int)

describe("pointers", function()
  it("are NULL when made without a target", function()
    local p = IntP()
    assert.is_true(ctypes.is_null(p))
    assert.has_error(function() return p.contents end, "ValueError: NULL pointer access")
    assert.has_error(function() return p[0] end, "ValueError: NULL pointer access")
    assert.has_error(function() p[0] = 1 end, "ValueError: NULL pointer access")
  end)

  it("point at an object with pointer() and POINTER(T)(obj)", function()
    local x = c_int(5)
    local p = ctypes.pointer(x)
    assert.matches("^<LP_c_int object at 0x%x+>$", tostring(p))
    assert.are.equal("LP_c_int", tostring(IntP))
    assert.is_false(ctypes.is_null(p))
    assert.are.equal(5, p.contents.value)
    assert.are.equal(5, p[0])
    local q = IntP(x)
    q[0] = 11
    assert.are.equal(11, x.value)
    assert.are.equal(ctypes.addressof(x), ctypes.addressof(p.contents))
  end)

  it("share memory through contents", function()
    local x = c_int(1)
    local p = ctypes.pointer(x)
    local c = p.contents
    c.value = 99
    assert.are.equal(99, x.value)
  end)

  it("re-target with p.contents = obj, type-checked", function()
    local a, b = c_int(1), c_int(2)
    local p = ctypes.pointer(a)
    p.contents = b
    assert.are.equal(2, p[0])
    p[0] = 20
    assert.are.equal(20, b.value)
    assert.are.equal(1, a.value)
    assert.has_error(function() p.contents = ctypes.c_long(1) end,
                     "TypeError: expected c_int instance, got c_long instance")
    assert.has_error(function() p.contents = 3 end,
                     "TypeError: expected c_int instance, got integer")
  end)

  it("keep their target alive", function()
    local p = ctypes.pointer(c_int(1234))
    local q = IntP()
    q.contents = c_int(4321)
    helper.gc()
    local junk = {}
    for i = 1, 1000 do junk[i] = c_int(i) end
    assert.are.equal(1234, p[0])
    assert.are.equal(4321, q.contents.value)
  end)

  it("index like C arrays (no bounds known)", function()
    local arr = (c_int * 4)(10, 20, 30, 40)
    local p = ctypes.cast(arr, IntP)
    assert.are.equal(30, p[2])
    p[3] = 41
    assert.are.equal(41, arr[3])
    assert.has_error(function() return p.x end,
                     "AttributeError: 'LP_c_int' object has no attribute 'x'")
    assert.has_error(function() return p[1.5] end,
                     "TypeError: indices must be integers, got number 1.5")
  end)

  it("accept arrays of the pointee type and same-type pointers", function()
    local arr = (c_int * 2)(7, 8)
    local p = IntP(arr)
    assert.are.equal(8, p[1])
    local q = IntP(p)
    assert.are.equal(7, q[0])
    assert.has_error(function() IntP(ctypes.c_short(1)) end,
                     "TypeError: expected LP_c_int, got c_short instance")
    assert.has_error(function() IntP(1, 2) end,
                     "TypeError: LP_c_int() takes at most 1 argument (2 given)")
  end)

  it("cast between pointer types, from integers and c_void_p", function()
    local x = ctypes.c_uint32(0x01020304)
    local bp = ctypes.cast(ctypes.pointer(x), POINTER(ctypes.c_uint8))
    -- the lowest-addressed byte: 4 on little-endian machines
    assert.are.equal(helper.platform.big_endian and 1 or 4, bp[0])
    local addr = ctypes.addressof(x)
    assert.are.equal(0x01020304, ctypes.cast(addr, POINTER(ctypes.c_uint32))[0])
    local vp = ctypes.c_void_p(addr)
    assert.are.equal(0x01020304, ctypes.cast(vp, POINTER(ctypes.c_uint32)).contents.value)
    assert.are.equal(addr, ctypes.cast(bp, ctypes.c_void_p).value)
    assert.is_true(ctypes.is_null(ctypes.cast(nil, IntP)))
    assert.has_error(function() ctypes.cast(x, c_int) end,
                     "TypeError: cast: argument 2 must be a pointer type, got c_int")
    assert.has_error(function() ctypes.cast(1.5, IntP) end,
                     "TypeError: cast: argument 1 must be a pointer, an address or a ctypes instance, got number")
    assert.has_error(function() ctypes.cast(x, 5) end,
                     "TypeError: cast: argument 2 must be a pointer type, got integer")
  end)

  it("keep the source of a cast alive", function()
    local p = ctypes.cast((c_int * 3)(1, 2, 3), IntP)
    helper.gc()
    local junk = {}
    for i = 1, 500 do junk[i] = (c_int * 3)(9, 9, 9) end
    assert.are.equal(3, p[2])
  end)

  it("tell NULL with is_null", function()
    assert.is_true(ctypes.is_null(ctypes.c_void_p()))
    assert.is_false(ctypes.is_null(ctypes.c_char_p("x")))
    assert.is_true(ctypes.is_null(nil))
    assert.has_error(function() ctypes.is_null(c_int(0)) end,
                     "TypeError: is_null: expected a pointer instance, got c_int instance")
  end)

  it("pointers to pointers", function()
    local x = c_int(3)
    local p = ctypes.pointer(x)
    local pp = ctypes.pointer(p)
    assert.are.equal("LP_LP_c_int", tostring(POINTER(IntP)))
    assert.are.equal(3, pp[0][0])
    pp[0][0] = 4
    assert.are.equal(4, x.value)
  end)
end)

describe("tostring of string pointers", function()
  it("never reads an address the object does not keep alive (ctypes' repr)", function()
    -- it read the string at address 42 before: SIGSEGV. In a child, so that
    -- a crash is a failure, not the end of the run.
    local ok, out = helper.run(helper.lua_command("-e " .. helper.quote([[
      local ctypes = require("ctypes")
      io.write(tostring(ctypes.c_char_p(42)), " ", tostring(ctypes.c_wchar_p(42)))
    ]])))
    assert.is_true(ok, out)
    assert.are.equal("c_char_p(42) c_wchar_p(42)", out)   -- Python: the same
    -- C's memory (here a character array's, not NUL-terminated) is not read
    local chars = (ctypes.c_char * 3)("abc")
    local p = ctypes.c_char_p(chars)
    assert.are.equal(("c_char_p(%d)"):format(ctypes.addressof(chars)), tostring(p))
    local w = ctypes.create_unicode_buffer("ab")
    assert.are.equal(("c_wchar_p(%d)"):format(ctypes.addressof(w)),
                     tostring(ctypes.c_wchar_p(w)))
    -- text the object keeps alive itself is shown, also through views
    assert.are.equal('c_char_p("hi")', tostring(ctypes.c_char_p("hi")))
    assert.are.equal('c_wchar_p("h\195\169")', tostring(ctypes.c_wchar_p("h\u{e9}")))
    local S = ctypes.Structure("StrPtrs", { _fields_ = { { "p", ctypes.c_char_p } } })
    local s = S("kept")
    local v = ctypes.c_char_p.from_buffer(s)
    assert.are.equal('c_char_p("kept")', tostring(v))
    -- re-pointed by a write of an address: shown as that address
    v.value = 42
    assert.are.equal("c_char_p(42)", tostring(v))
  end)
end)

describe("byref", function()
  it("references an object, with an optional offset", function()
    local arr = (c_int * 2)(1, 2)
    local r = ctypes.byref(arr)
    assert.are.equal(arr, r._obj)
    assert.matches("^<cparam 'P' %(0x%x+%)>$", tostring(r))
    local p = IntP(ctypes.byref(c_int(5)))
    assert.are.equal(5, p[0])
  end)

  it("is type-checked where a pointer is expected", function()
    assert.has_error(function() IntP(ctypes.byref(ctypes.c_double(1))) end,
                     "TypeError: expected LP_c_int, got byref(c_double)")
  end)

  it("rejects non-instances", function()
    assert.has_error(function() ctypes.byref(5) end,
                     "TypeError: byref: argument 1 must be a ctypes instance, got integer")
    assert.has_error(function() ctypes.byref(c_int(1), "4") end,
                     "TypeError: byref: argument 2 must be an integer, got string")
    assert.has_error(function() ctypes.pointer("x") end,
                     "TypeError: pointer: argument 1 must be a ctypes instance, got string")
    assert.has_error(function() ctypes.addressof({}) end,
                     "TypeError: addressof: argument 1 must be a ctypes instance, got table")
  end)
end)
