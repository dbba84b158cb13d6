-- Arrays: T * n instances, 0-based bounds-checked indexing, initialisers,
-- character arrays, multi-dimensional arrays, views, iteration.
local ctypes = require("ctypes")
local helper = require("spec.helper")

local c_int, c_char, c_double = ctypes.c_int, ctypes.c_char, ctypes.c_double

describe("arrays", function()
  it("start zeroed and index from 0 to #a - 1", function()
    local a = (c_int * 3)()
    assert.are.equal(3, #a)
    assert.are.same({0, 0, 0}, {a[0], a[1], a[2]})
    a[0], a[2] = 5, -1
    assert.are.same({5, 0, -1}, {a[0], a[1], a[2]})
  end)

  it("raise IndexError outside the bounds", function()
    local a = (c_int * 3)()
    assert.has_error(function() return a[3] end,
                     "IndexError: invalid index 3 (valid: 0 to 2; iterate with " ..
                     "pairs(a) or for i = 0, #a - 1)")
    assert.has_error(function() return a[-1] end,
                     "IndexError: invalid index -1 (valid: 0 to 2; iterate with " ..
                     "pairs(a) or for i = 0, #a - 1)")
    assert.has_error(function() a[3] = 1 end,
                     "IndexError: invalid index 3 (valid: 0 to 2; iterate with " ..
                     "pairs(a) or for i = 0, #a - 1)")
    assert.has_error(function() return (c_int * 0)()[0] end,
                     "IndexError: invalid index 0 (the array is empty)")
    assert.has_error(function() return a[0.5] end,
                     "TypeError: indices must be integers, got number 0.5")
    assert.has_error(function() return a.value end,
                     "AttributeError: 'c_int_Array_3' object has no attribute 'value'")
  end)

  it("take positional initialisers or one table", function()
    local A = c_int * 4
    local a = A(1, 2)
    assert.are.same({1, 2, 0, 0}, {a[0], a[1], a[2], a[3]})
    local b = A({4, 3, 2, 1})
    assert.are.same({4, 3, 2, 1}, {b[0], b[1], b[2], b[3]})
    local c = A{}
    assert.are.equal(0, c[0])
    assert.has_error(function() A(1, 2, 3, 4, 5) end,
                     "IndexError: too many initializers for c_int_Array_4 (5 given)")
    assert.has_error(function() A({1, 2, 3, 4, 5}) end,
                     "IndexError: too many initializers for c_int_Array_4 (5 given)")
    assert.has_error(function() A(1, "x") end,
                     "TypeError: expected c_int, got string")
    assert.has_error(function() (c_int * 0)(1) end,
                     "IndexError: too many initializers for c_int_Array_0 (1 given)")
  end)

  it("check element types on store", function()
    local a = (c_double * 2)()
    a[1] = 2
    assert.are.equal(2.0, a[1])
    assert.has_error(function() a[0] = "1" end,
                     "TypeError: expected c_double, got string")
  end)

  it("say how to iterate when ipairs runs past the end", function()
    -- ipairs starts at 1 and reads until an error: the message says how to
    -- iterate a 0-based array
    local a = (c_int * 3)(7, 8, 9)
    local seen = {}
    local ok, e = pcall(function()
      for i, v in ipairs(a) do seen[#seen + 1] = i .. "=" .. v end
    end)
    assert.is_false(ok)
    assert.are.equal("1=8 2=9", table.concat(seen, " "))
    assert.are.equal("IndexError: invalid index 3 (valid: 0 to 2; iterate with " ..
                     "pairs(a) or for i = 0, #a - 1)", e)
  end)

  it("have _type_ and _length_, as ctypes' array instances", function()
    local a = (c_int * 3)()
    assert.are.equal(c_int, a._type_)
    assert.are.equal(3, a._length_)
    local m = ((c_int * 2) * 4)()
    assert.are.same({ c_int * 2, 4, c_int, 2 },
                    { m._type_, m._length_, m[0]._type_, m[0]._length_ })
    assert.are.equal(c_int, ctypes.pointer(c_int(1))._type_)
    assert.has_error(function() a._length_ = 4 end,
                     "AttributeError: 'c_int_Array_3' object attribute '_length_' is read-only")
  end)

  it("iterate with pairs from index 0", function()
    local a = (c_int * 3)(7, 8, 9)
    local seen = {}
    for i, v in pairs(a) do seen[#seen + 1] = i .. "=" .. v end
    assert.are.equal("0=7 1=8 2=9", table.concat(seen, " "))
    local n = 0
    for _ in pairs((c_int * 0)()) do n = n + 1 end
    assert.are.equal(0, n)
    assert.has_error(function() pairs(c_int(1)) end,
                     "TypeError: 'c_int' object is not iterable")
    -- the iterator itself is a plain function: any state is checked
    local next_ = pairs(a)
    assert.has_error(function() next_({}, 0) end,
                     "TypeError: array iterator: expected an array instance, got table")
    assert.has_error(function() next_(ctypes.POINTER(c_int)(), -1) end,
                     "TypeError: array iterator: expected an array instance, got LP_c_int instance")
    assert.has_error(function() next_(a, "0") end,
                     "TypeError: array iterator: index must be an integer, got string")
    assert.is_nil(next_(a, math.maxinteger))
    assert.is_nil(next_(a, -2))
    assert.are.same({ 2, 9 }, { next_(a, 1.0) })
  end)

  it("are multi-dimensional: (T * 3) * 2 is T[2][3]", function()
    local M = (c_int * 3) * 2
    local m = M({1, 2, 3}, {4, 5, 6})
    assert.are.equal(2, #m)
    assert.are.equal(3, #m[0])
    assert.are.equal(6, m[1][2])
    m[1][0] = 40
    assert.are.equal(40, m[1][0])
    local flat = ctypes.cast(m, ctypes.POINTER(c_int))
    assert.are.equal(40, flat[3])
    local n = M{{1, 2}, {3}}
    assert.are.same({1, 2, 0, 3}, {n[0][0], n[0][1], n[0][2], n[1][0]})
  end)

  it("nest deeply, initialised from nested tables", function()
    -- 50 levels overflowed the Lua stack before (memory corruption)
    local T, init = c_int, 7
    for _ = 1, 1000 do T, init = T * 1, { init } end
    local v = T(init)
    for _ = 1, 1000 do v = v[0] end
    assert.are.equal(7, v)
    assert.has_error(function() return T * 1 end,
      "ValueError: array type nested too deeply (more than 1000 levels of " ..
      "arrays and structures)")
  end)

  it("give views for aggregate elements that keep the array alive", function()
    local row
    do
      local m = ((c_int * 2) * 2)({1, 2}, {3, 4})
      row = m[1]
    end
    helper.gc()
    local junk = {}
    for i = 1, 500 do junk[i] = ((c_int * 2) * 2)({9, 9}, {9, 9}) end
    assert.are.equal(4, row[1])
  end)

  it("assign whole rows from tables or same-type arrays", function()
    local m = ((c_int * 2) * 2)()
    m[0] = {5, 6}
    m[1] = (c_int * 2)(7, 8)
    assert.are.same({5, 6, 7, 8}, {m[0][0], m[0][1], m[1][0], m[1][1]})
    assert.has_error(function() m[0] = (c_int * 3)() end,
                     "TypeError: expected c_int_Array_2, got c_int_Array_3 instance")
  end)
end)

describe("character arrays", function()
  it("have .value up to the first NUL and .raw for all bytes", function()
    local a = (c_char * 6)("hi")
    assert.are.equal("hi", a.value)
    assert.are.equal("hi\0\0\0\0", a.raw)
    a.raw = "abcdef"
    assert.are.equal("abcdef", a.value)
    a.value = "xy"
    assert.are.equal("xy\0def", a.raw)
    assert.are.equal("x", a[0])
    a[1] = "Z"
    assert.are.equal("xZ", a.value)
  end)

  it("reject strings that do not fit", function()
    local a = (c_char * 3)()
    assert.has_error(function() a.value = "abcd" end,
                     "ValueError: string too long (4 bytes, at most 3)")
    assert.has_error(function() (c_char * 2)("abc") end,
                     "ValueError: string too long (3 bytes, at most 2)")
    assert.has_error(function() a.value = 5 end,
                     "TypeError: expected string, got integer")
  end)

  it("wchar arrays hold UTF-8 text", function()
    local w = (ctypes.c_wchar * 8)("héllo")
    assert.are.equal("héllo", w.value)
    assert.are.equal("é", w[1])
    w.value = "€"
    assert.are.equal("€", w.value)
    assert.has_error(function() w.value = "123456789" end,
                     "ValueError: string too long (9 characters, at most 8)")
  end)

  it("wchar .value writes the text and a NUL, and leaves the rest (as ctypes)", function()
    -- Python: b = (c_wchar * 4)(*"abcd"); b.value = "x"; list(b) ==
    -- ['x', '\x00', 'c', 'd'] (it zeroed the rest before)
    local b = (ctypes.c_wchar * 4)("abcd")
    b.value = "x"
    assert.are.same({ "x", "\0", "c", "d" }, { b[0], b[1], b[2], b[3] })
    assert.are.equal("x", b.value)
    b.value = "wxyz"                     -- exactly full: no NUL
    assert.are.same({ "w", "x", "y", "z" }, { b[0], b[1], b[2], b[3] })
    b.value = "a\0b"                     -- all of it, then a NUL
    assert.are.same({ "a", "\0", "b", "\0" }, { b[0], b[1], b[2], b[3] })
    assert.has_error(function() b.value = "wxyz1" end,
                     "ValueError: string too long (5 characters, at most 4)")
    assert.are.same({ "a", "\0", "b", "\0" }, { b[0], b[1], b[2], b[3] })
  end)

  it("are made by create_string_buffer and create_unicode_buffer", function()
    local b = ctypes.create_string_buffer("abc")
    assert.are.equal(4, #b)
    assert.are.equal("abc\0", b.raw)
    assert.matches("^<c_char_Array_4 object at 0x%x+>$", tostring(b))
    local z = ctypes.create_string_buffer(8)
    assert.are.equal(8, ctypes.sizeof(z))
    assert.are.equal("", z.value)
    local s = ctypes.create_string_buffer("abc", 10)
    assert.are.equal(10, #s)
    local u = ctypes.create_unicode_buffer("añb")
    assert.are.equal(4, #u)
    assert.are.equal(16, ctypes.sizeof(u))
    assert.are.equal("añb", u.value)
    assert.are.equal(5, #ctypes.create_unicode_buffer(5))
  end)

  it("buffer constructors reject bad input", function()
    assert.has_error(function() ctypes.create_string_buffer("abc", 2) end,
                     "ValueError: create_string_buffer: string too long (3, buffer of 2)")
    assert.has_error(function() ctypes.create_string_buffer(-1) end,
                     "ValueError: create_string_buffer: size must be >= 0, got -1")
    assert.has_error(function() ctypes.create_string_buffer({}) end,
                     "TypeError: create_string_buffer: expected a string or an integer size, got table")
    assert.has_error(function() ctypes.create_string_buffer(1.5) end,
                     "TypeError: create_string_buffer: expected a string or an integer size, got number")
    assert.has_error(function() ctypes.create_unicode_buffer("\255") end,
                     "ValueError: create_unicode_buffer: string is not valid UTF-8")
  end)

  it("arrays of byte-swapped elements store in their order, and not at all on error", function()
    local BE = ctypes.BigEndianStructure("BEArr", { _fields_ = { { "a", c_int * 2 } } })
    local s = BE()
    s.a[0] = 0x01020304
    assert.are.equal("\1\2\3\4", ctypes.string_at(s, 4))
    assert.are.equal(0x01020304, s.a[0])
    -- (on a big-endian machine the element type is the native c_int)
    assert.has_error(function() s.a[0] = "x" end, "TypeError: expected " ..
                     (helper.platform.big_endian and "c_int" or "c_int_be") .. ", got string")
    assert.are.equal("\1\2\3\4", ctypes.string_at(s, 4))
  end)
end)
