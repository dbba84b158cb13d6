-- The hot paths (issue 14): field access through the field map, element
-- stores, scalar construction, lib.f from the symbol cache and the compact
-- objects decide exactly as the general paths and as Python's ctypes do.
-- Expected values come from Python 3's ctypes (python3 -c ...).
local ctypes = require("ctypes")
local helper = require("spec.helper")

local c_int, c_ubyte, c_float, c_double, c_longlong =
  ctypes.c_int, ctypes.c_ubyte, ctypes.c_float, ctypes.c_double,
  ctypes.c_longlong

-- has the userdata the n-th user value? (Lua 5.4: debug.getuservalue adds
-- true; Lua 5.3: the core keeps them in one table, with their number in n)
local function has_uv(u, n)
  if _VERSION == "Lua 5.3" then
    local t = debug.getuservalue(u)
    return type(t) == "table" and n <= t.n
  end
  return select(2, debug.getuservalue(u, n)) == true
end

describe("field access (field map)", function()
  local S = ctypes.Structure("S", { _fields_ = {
    { "x", c_int }, { "b", c_ubyte }, { "f", c_float }, { "d", c_double },
    { "q", c_longlong },
  } })

  it("stores and reads native scalars as ctypes does", function()
    local s = S()
    s.x = 2 ^ 32 // 1 + 5; assert.are.equal(5, s.x)
    s.x = -2 ^ 31 // 1 - 1; assert.are.equal(2147483647, s.x)
    s.b = 300; assert.are.equal(44, s.b)
    s.b = -1; assert.are.equal(255, s.b)
    s.f = 0.1; assert.are.equal(0.10000000149011612, s.f)
    s.f = 3; assert.are.equal(3.0, s.f)
    assert.are.equal("float", math.type(s.f))
    s.d = 2 ^ 53 // 1 + 1; assert.are.equal(9007199254740992.0, s.d)
    s.q = math.maxinteger; assert.are.equal(math.maxinteger, s.q)
    s.x = s.x + 1
    assert.are.equal(-2147483648, s.x)
  end)

  it("leaves values it does not convert, and errors, to the general path", function()
    local s = S()
    s.x = 7.0                        -- an integral float: accepted
    assert.are.equal(7, s.x)
    assert.has_error(function() s.x = "a" end,
                     "TypeError: field 'x': expected c_int, got string")
    assert.has_error(function() s.x = 1.5 end,
                     "TypeError: field 'x': expected c_int, got number 1.5")
    assert.has_error(function() s.x = nil end,
                     "TypeError: field 'x': expected c_int, got nil")
    assert.has_error(function() s.y = 1 end,
                     "AttributeError: 'S' object has no attribute 'y'")
    assert.has_error(function() return s.y end,
                     "AttributeError: 'S' object has no attribute 'y'")
    assert.has_error(function() s[1] = 2 end,
                     "AttributeError: 'S' object has no attribute '1'")
    assert.are.equal(7, s.x)
  end)

  it("finds long names, bases, promoted and union members", function()
    local long = ("n"):rep(60)
    local L = ctypes.Structure("L", { _fields_ = { { long, c_int }, { "y", c_int } } })
    local l = L()
    -- a long name built at run time is another string object: the table
    -- path finds it
    local key = ("n"):rep(30) .. ("n"):rep(30)
    l[key] = 9
    l.y = 4
    assert.are.same({ 9, 4 }, { l[long], l.y })
    local Base = ctypes.Structure("Base", { _fields_ = { { "a", c_int } } })
    local D = ctypes.Structure("D", { _base_ = Base, _fields_ = { { "b", c_int } } })
    local d = D()
    d.a, d.b = 1, 2
    assert.are.same({ 1, 2 }, { d.a, d.b })
    local In = ctypes.Structure("In", { _fields_ = { { "u", c_int }, { "v", c_int } } })
    local O = ctypes.Structure("O", { _anonymous_ = { "in" },
      _fields_ = { { "k", c_int }, { "in", In } } })
    local o = O()
    o.v = 5
    assert.are.same({ 5, 5 }, { o.v, o["in"].v })
    local U = ctypes.Union("U", { _fields_ = { { "i", c_int }, { "f", c_float } } })
    local u = U()
    u.f = 1.0
    assert.are.equal(1065353216, u.i)
  end)

  it("reads and writes through views of the same memory", function()
    local s = S()
    local v = S.from_buffer(s)
    v.x = 11
    assert.are.equal(11, s.x)
  end)
end)

describe("element stores", function()
  it("wrap and round as ctypes does", function()
    local a = (ctypes.c_short * 3)()
    a[0] = 70000
    a[1] = -32769
    assert.are.same({ 4464, 32767 }, { a[0], a[1] })
    local b = (c_float * 2)()
    b[0] = 1 / 3
    assert.are.equal(0.3333333432674408, b[0])
    local p = (c_int * 2)()
    local q = ctypes.cast(p, ctypes.POINTER(c_int))
    q[1] = 2 ^ 33 // 1 + 9
    assert.are.equal(9, p[1])
  end)

  it("keep bounds, type and NULL checks", function()
    local a = (c_int * 3)()
    assert.has_error(function() a[3] = 1 end, "IndexError: invalid index 3 " ..
                     "(valid: 0 to 2; iterate with pairs(a) or for i = 0, #a - 1)")
    assert.has_error(function() a[-1] = 1 end, "IndexError: invalid index -1 " ..
                     "(valid: 0 to 2; iterate with pairs(a) or for i = 0, #a - 1)")
    assert.has_error(function() a[0] = "z" end, "TypeError: expected c_int, got string")
    assert.has_error(function() a[0] = 0.5 end, "TypeError: expected c_int, got number 0.5")
    assert.has_error(function() a[1.5] = 1 end,
                     "TypeError: indices must be integers, got number 1.5")
    local np = ctypes.POINTER(c_int)()
    assert.has_error(function() np[0] = 1 end, "ValueError: NULL pointer access")
    assert.are.same({ 0, 0, 0 }, { a[0], a[1], a[2] })
  end)
end)

describe("scalar construction", function()
  it("converts as ctypes does", function()
    assert.are.equal(7, c_int(2 ^ 40 // 1 + 7).value)
    assert.are.equal(4294967295, ctypes.c_uint(-1).value)
    assert.are.equal(0.10000000149011612, c_float(0.1).value)
    assert.are.equal(-56, ctypes.c_byte(200).value)
    assert.are.equal("float", math.type(c_double(1).value))
    assert.are.equal(3, c_int(3.0).value)
    assert.has_error(function() return c_int("x") end, "TypeError: expected c_int, got string")
    assert.has_error(function() return c_int(0.5) end, "TypeError: expected c_int, got number 0.5")
  end)
end)

describe("compact objects", function()
  it("have the user values they can need", function()
    local n = c_int(5)
    assert.is_false(has_uv(n, 1))          -- a scalar without pointers:
                                           -- none (its type is anchored)
    assert.is_true(has_uv(ctypes.c_char_p(), 2))   -- one that can keep
    local p = ctypes.pointer(n)
    assert.is_true(has_uv(p, 2))
    assert.is_false(has_uv(p, 3))          -- an owner: no base
    local v = c_int.from_buffer(n)
    assert.is_true(has_uv(v, 3))           -- a view: its base
  end)

  it("keep what a view of a scalar stores, as long as the scalar lives", function()
    local roots = {}
    for i = 1, 50 do
      local root = c_longlong()
      ctypes.c_char_p.from_buffer(root).value = "text " .. i .. (" "):rep(40)
      roots[i] = root
    end
    helper.gc()
    for i = 1, 50 do
      assert.are.equal("text " .. i .. (" "):rep(40),
                       ctypes.c_char_p.from_buffer(roots[i]).value)
    end
  end)

  it("let the scalar and what it keeps go together", function()
    local watch = setmetatable({}, { __mode = "v" })
    do
      local root = c_longlong()
      local target = c_int(3)
      ctypes.POINTER(c_int).from_buffer(root).contents = target
      watch[1], watch[2] = root, target
    end
    helper.gc()
    assert.is_nil(watch[1])
    assert.is_nil(watch[2])
  end)

  it("keep the old memory of a resized scalar", function()
    local n = c_int(41)
    local v = c_int.from_buffer(n)          -- points into the first buffer
    ctypes.resize(n, 16)
    helper.gc()
    assert.are.equal(41, v.value)
    assert.are.equal(16, ctypes.sizeof(n))
  end)

  it("cost what Lua's own userdata of the same bytes costs", function()
    -- a compact c_int is its type's address, its flags and the int, with no
    -- user value: 48 bytes on a 64-bit target (Lua 5.4), 12 more than a
    -- bare boxed int
    local fxmod = helper.fxmod()
    local function bytes(make, arg)
      local k, keep = 2000, {}
      for i = 1, k do keep[i] = false end   -- sized beforehand
      collectgarbage("collect")
      collectgarbage("stop")
      local before = collectgarbage("count")
      for i = 1, k do keep[i] = make(arg) end
      local per = (collectgarbage("count") - before) * 1024 / k
      collectgarbage("restart")
      return per
    end
    local ps = helper.platform.pointer_size
    assert.are.equal(bytes(fxmod.newud, ps + 8), bytes(c_int, 5))
    if ps == 8 and _VERSION == "Lua 5.4" then
      assert.are.equal(48, bytes(c_int, 5))
    end
  end)

  it("behave as full objects for every scalar type", function()
    local cases = {
      { ctypes.c_bool, true }, { ctypes.c_char, "x" }, { ctypes.c_byte, -5 },
      { ctypes.c_ubyte, 250 }, { ctypes.c_short, -300 },
      { ctypes.c_ushort, 65000 }, { c_int, -70000 }, { ctypes.c_uint, 4000000000 },
      { ctypes.c_long, -9 }, { ctypes.c_ulong, 9 }, { c_longlong, -(1 << 40) },
      { ctypes.c_ulonglong, 1 << 40 }, { c_float, 1.5 }, { c_double, -2.25 },
      { ctypes.c_longdouble, 0.5 }, { ctypes.c_wchar, "\u{e9}" },
    }
    for _, c in ipairs(cases) do
      local T, v = c[1], c[2]
      local x = T(v)
      assert.are.equal(v, x.value)
      assert.are.equal(ctypes.sizeof(T), ctypes.sizeof(x))
      local p = ctypes.pointer(x)
      assert.are.equal(v, p.contents.value)
      assert.are.equal(ctypes.addressof(x), ctypes.addressof(p.contents))
      assert.are.equal(0, ctypes.addressof(x) % ctypes.alignment(T))
      local copy = T.from_buffer_copy(ctypes.string_at(ctypes.addressof(x),
                                                       ctypes.sizeof(T)))
      assert.are.equal(v, copy.value)
      assert.are.equal(tostring(T(v)), tostring(x))
    end
    assert.are.equal("c_int(-70000)", tostring(c_int(-70000)))
    assert.has_error(function() return c_int(1).nope end,
                     "AttributeError: 'c_int' object has no attribute 'nope'")
    assert.has_error(function() return #c_int(1) end,
                     "TypeError: object of type 'c_int' has no len()")
  end)

  it("move to a header of their own when resized, again and again", function()
    local n = c_int(41)
    local v = c_int.from_buffer(n)          -- the first memory
    ctypes.resize(n, 16)
    assert.are.equal(41, n.value)
    n.value = 7
    assert.are.same({ 7, 41 }, { n.value, v.value })
    assert.are.equal("c_int(7)", tostring(n))
    local wide = (c_int * 4).from_buffer(n)
    wide[3] = 9
    ctypes.resize(n, 32)                    -- a second move, full header
    ctypes.resize(n, 24)                    -- shrinking is a resize too
    helper.gc()
    assert.are.same({ 7, 41, 24 }, { n.value, v.value, ctypes.sizeof(n) })
    assert.are.equal(9, (c_int * 4).from_buffer(n)[3])
    assert.are.equal(9, wide[3] + 0 * wide[0])   -- the old buffer lives on
    local p = ctypes.pointer(n)
    p[0] = 8
    assert.are.equal(8, n.value)
    assert.are.equal(ctypes.addressof(n), ctypes.cast(ctypes.byref(n), ctypes.c_void_p).value)
    assert.has_error(function() ctypes.resize(n, 2) end,
                     "ValueError: resize: minimum size is 4")
    -- passed by reference to C: the moved memory
    local lib = ctypes.CDLL(helper.fixture)
    local f = lib.fxc_six
    f.argtypes = { c_int, c_double, ctypes.POINTER(c_int), ctypes.c_long, c_double, c_int }
    f.restype = c_double
    n.value = 10
    assert.are.equal(1 + 5 + 30 + 16 + 2.5 + 36, f(1, 2.5, n, 4, 0.5, 6))
  end)
end)

describe("lib.f from the symbol cache", function()
  -- closing with <close>: spec/hotpaths_54_spec.lua
  it("finds nothing in the cache of a finalized library that comes back", function()
    local back
    do
      local lib = ctypes.CDLL(helper.fixture)
      assert.are.equal(42, lib.fx_lib_get_int())       -- cached
      lib.mine = 1                                      -- an attribute
      setmetatable({}, { __gc = function() back = lib end })
    end
    helper.gc()
    assert.is_not_nil(back)
    assert.is_nil(next(back))                           -- the table is empty
    assert.has_error(function() return back.fx_lib_get_int end,
                     "ValueError: " .. helper.fixture .. ": library is closed")
    assert.has_error(function() back.mine = 2 end,
                     "ValueError: " .. helper.fixture .. ": library is closed")
    assert.has_error(function() return back[1] end,
                     "TypeError: symbol name must be a string, got integer")
  end)
end)
