-- Memory functions: addressof, memmove, memset, string_at, wstring_at,
-- from_address, from_buffer, from_buffer_copy, resize, keep-alive.
local ctypes = require("ctypes")
local helper = require("spec.helper")

local c_int, c_char = ctypes.c_int, ctypes.c_char

describe("memory functions", function()
  it("memmove copies between objects, strings and addresses", function()
    local dst = ctypes.create_string_buffer(8)
    local r = ctypes.memmove(dst, "hello", 5)
    assert.are.equal(ctypes.addressof(dst), r)
    assert.are.equal("hello", dst.value)
    local src = (c_int * 2)(1, 2)
    local d2 = (c_int * 2)()
    ctypes.memmove(ctypes.addressof(d2), src, 8)
    assert.are.same({1, 2}, {d2[0], d2[1]})
  end)

  it("memmove and memset refuse sizes beyond known objects", function()
    local dst = ctypes.create_string_buffer(4)
    assert.has_error(function() ctypes.memmove(dst, "hello", 6) end,
                     "ValueError: memmove: 6 bytes do not fit in argument 1 (4 bytes)")
    assert.has_error(function() ctypes.memmove(ctypes.create_string_buffer(10), "hi", 4) end,
                     "ValueError: memmove: 4 bytes do not fit in argument 2 (3 bytes)")
    assert.has_error(function() ctypes.memset(dst, 0, 5) end,
                     "ValueError: memset: 5 bytes do not fit in argument 1 (4 bytes)")
    assert.has_error(function() ctypes.memmove("x", dst, 1) end,
                     "TypeError: memmove: argument 1 must be writable memory, got string")
    assert.has_error(function() ctypes.memmove(nil, dst, 1) end,
                     "ValueError: memmove: NULL pointer access")
    assert.has_error(function() ctypes.memset(dst, 0, -1) end,
                     "ValueError: memset: size must be >= 0, got -1")
    assert.has_error(function() ctypes.memset(dst, "a", 1) end,
                     "TypeError: memset: argument 2 must be an integer, got string")
    assert.has_error(function() ctypes.memset({}, 0, 1) end,
                     "TypeError: memset: argument 1 must be a pointer, an address or a ctypes instance, got table")
  end)

  it("bound byref() arguments by the object they refer to", function()
    local x = c_int(0)
    assert.has_error(function() ctypes.memset(ctypes.byref(x), 255, 40) end,
                     "ValueError: memset: 40 bytes do not fit in argument 1 (4 bytes)")
    assert.has_error(function() ctypes.memmove(ctypes.byref(x, 2), "abc", 3) end,
                     "ValueError: memmove: 3 bytes do not fit in argument 1 (2 bytes)")
    assert.has_error(function() ctypes.memmove(ctypes.byref(x, -4), "abcd", 1) end,
                     "ValueError: memmove: 1 bytes do not fit in argument 1 (0 bytes)")
    assert.has_error(function() ctypes.string_at(ctypes.byref(x, math.maxinteger), 1) end,
                     "ValueError: string_at: 1 bytes do not fit in argument 1 (0 bytes)")
    ctypes.memset(ctypes.byref(x, 2), 255, 2)      -- the high half (low on s390x)
    assert.are.equal(helper.platform.big_endian and 0xffff or -65536, x.value)
    assert.are.equal("\0\0", ctypes.string_at(ctypes.byref(x), 2))
  end)

  it("memset fills bytes", function()
    local a = (ctypes.c_uint8 * 4)()
    ctypes.memset(a, 0x1ff, 3)
    assert.are.same({255, 255, 255, 0}, {a[0], a[1], a[2], a[3]})
  end)

  it("string_at reads bytes from objects, pointers and addresses", function()
    local b = ctypes.create_string_buffer("hello\0world", 12)
    assert.are.equal("hello", ctypes.string_at(b))
    assert.are.equal("hello\0wor", ctypes.string_at(b, 9))
    assert.are.equal("hel", ctypes.string_at(ctypes.addressof(b), 3))
    local p = ctypes.c_char_p("text")
    assert.are.equal("text", ctypes.string_at(p))
    local unterminated = (c_char * 3)("abc")
    assert.are.equal("abc", ctypes.string_at(unterminated))
    assert.has_error(function() ctypes.string_at(nil) end,
                     "ValueError: string_at: NULL pointer access")
    assert.has_error(function() ctypes.string_at(b, 13) end,
                     "ValueError: string_at: 13 bytes do not fit in argument 1 (12 bytes)")
    assert.has_error(function() ctypes.string_at(ctypes.c_void_p()) end,
                     "ValueError: string_at: NULL pointer access")
  end)

  it("wstring_at reads wide strings as UTF-8", function()
    local u = ctypes.create_unicode_buffer("añb€")
    assert.are.equal("añb€", ctypes.wstring_at(u))
    assert.are.equal("añ", ctypes.wstring_at(u, 2))
    assert.are.equal("añb€", ctypes.wstring_at(ctypes.c_wchar_p("añb€")))
    assert.has_error(function() ctypes.wstring_at(u, 6) end,
                     "ValueError: wstring_at: 6 characters do not fit in argument 1 (5 characters)")
    assert.has_error(function() ctypes.wstring_at("abc") end,
                     "TypeError: wstring_at: argument 1 must be a pointer, an address or a ctypes instance, got string")
  end)

  it("reads wide text at odd addresses", function()
    -- wchar_t loads at an odd address were misaligned (a UBSan report)
    local buf = ctypes.create_string_buffer(16)
    ctypes.memmove(ctypes.byref(buf, 1), string.pack("=i4i4i4", 104, 105, 0), 12)
    assert.are.equal("hi", ctypes.wstring_at(ctypes.addressof(buf) + 1))
    assert.are.equal("h", ctypes.wstring_at(ctypes.byref(buf, 1), 1))
    assert.are.equal("hi", (ctypes.c_wchar * 3).from_buffer(buf, 1).value)
    assert.are.equal("hi", ctypes.cast(ctypes.addressof(buf) + 1, ctypes.c_wchar_p).value)
    assert.are.equal("h", ctypes.c_wchar.from_buffer(buf, 1).value)
  end)
end)

describe("from_address, from_buffer, from_buffer_copy", function()
  it("from_address makes a view of foreign memory", function()
    local a = (c_int * 3)(1, 2, 3)
    local v = c_int.from_address(ctypes.addressof(a) + 4)
    assert.are.equal(2, v.value)
    v.value = 20
    assert.are.equal(20, a[1])
    -- T:from_address(...) works too
    assert.are.equal(3, c_int:from_address(ctypes.addressof(a) + 8).value)
    assert.has_error(function() c_int.from_address(0) end,
                     "ValueError: from_address: NULL pointer access")
    assert.has_error(function() c_int.from_address("1") end,
                     "TypeError: from_address: address must be an integer, got string")
  end)

  it("from_buffer shares memory and keeps the buffer alive", function()
    local v
    do
      local buf = ctypes.create_string_buffer(16)
      ctypes.memmove(buf, string.pack("=i4i4", 7, 9), 8)
      v = c_int.from_buffer(buf, 4)
    end
    helper.gc()
    local junk = {}
    for i = 1, 500 do junk[i] = ctypes.create_string_buffer(16) end
    assert.are.equal(9, v.value)
    local buf = ctypes.create_string_buffer(8)
    local w = (c_int * 2).from_buffer(buf)
    w[1] = 0x41
    assert.are.equal("A", buf[helper.platform.big_endian and 7 or 4])
  end)

  it("from_buffer checks its arguments", function()
    local buf = ctypes.create_string_buffer(6)
    assert.has_error(function() ctypes.c_double.from_buffer(buf) end,
                     "ValueError: from_buffer: Buffer size too small (6 instead of at least 8 bytes)")
    assert.has_error(function() c_int.from_buffer(buf, 4) end,
                     "ValueError: from_buffer: Buffer size too small (6 instead of at least 8 bytes)")
    assert.has_error(function() c_int.from_buffer(buf, -1) end,
                     "ValueError: from_buffer: offset cannot be negative")
    -- an offset whose sum with the size is beyond math.maxinteger (it read
    -- "at least -9223372036854775805 bytes" before)
    assert.has_error(function() c_int.from_buffer(buf, math.maxinteger) end,
                     "ValueError: from_buffer: Buffer size too small (6 bytes, offset 9223372036854775807)")
    assert.has_error(function() c_int.from_buffer_copy("abcd", math.maxinteger - 3) end,
                     "ValueError: from_buffer_copy: Buffer size too small (4 bytes, offset 9223372036854775804)")
    assert.has_error(function() c_int.from_buffer_copy("abcd", math.maxinteger - 4) end,
                     "ValueError: from_buffer_copy: Buffer size too small " ..
                     "(4 instead of at least 9223372036854775807 bytes)")
    assert.has_error(function() c_int.from_buffer("abcd") end,
                     "TypeError: from_buffer: expected a writable ctypes instance, got string")
  end)

  it("from_buffer_copy copies from strings and objects", function()
    local v = c_int.from_buffer_copy(string.pack("=i4", -5))
    assert.are.equal(-5, v.value)
    local src = (c_int * 2)(3, 4)
    local c = c_int.from_buffer_copy(src, 4)
    assert.are.equal(4, c.value)
    src[1] = 40
    assert.are.equal(4, c.value)
    assert.has_error(function() c_int.from_buffer_copy("abc") end,
                     "ValueError: from_buffer_copy: Buffer size too small (3 instead of at least 4 bytes)")
    assert.has_error(function() c_int.from_buffer_copy(42) end,
                     "TypeError: from_buffer_copy: expected a string or ctypes instance, got integer")
  end)

  it("from_param passes instances and converts values", function()
    local i = c_int(3)
    assert.are.equal(i, c_int.from_param(i))
    assert.are.equal(4, c_int.from_param(4).value)
    assert.has_error(function() c_int.from_param("4") end,
                     "TypeError: expected c_int, got string")
    local P = ctypes.POINTER(c_int)
    local arr = (c_int * 2)()
    assert.are.equal(arr, P.from_param(arr))
    assert.has_error(function() P.from_param(5) end,
                     "TypeError: expected LP_c_int, got integer")
  end)
end)

describe("resize", function()
  it("grows an object's memory, keeping its contents", function()
    local a = (c_int * 2)(1, 2)
    ctypes.resize(a, 32)
    assert.are.equal(32, ctypes.sizeof(a))
    assert.are.same({1, 2}, {a[0], a[1]})
    local extra = ctypes.cast(a, ctypes.POINTER(c_int))
    extra[7] = 8
    assert.are.equal(8, extra[7])
    ctypes.resize(a, 64)
    assert.are.equal(8, ctypes.cast(a, ctypes.POINTER(c_int))[7])
  end)

  it("keeps the new memory alive whatever extra arguments it gets", function()
    -- resize(obj, n, extra) kept `extra` instead of the new buffer, which
    -- the next collection freed under the object
    local s = ctypes.c_short(-7)
    ctypes.resize(s, 3, true)
    helper.gc()
    local junk = {}
    for i = 1, 200 do junk[i] = ctypes.create_string_buffer(4) end
    assert.are.equal(-7, s.value)
    assert.are.equal(3, ctypes.sizeof(s))
  end)

  it("keeps what pointer slots point to across resizes", function()
    -- the second resize kept the old buffer under its own address, the key
    -- of the pointer slot at its start: the string was freed
    local s = ctypes.c_char_p()
    ctypes.resize(s, 16)
    s.value = ("abc"):rep(2)
    ctypes.resize(s, 32)
    helper.gc()
    assert.are.equal("abcabc", s.value)
    -- a view of the old memory dropping its slot's string leaves the copy's
    local t = ctypes.c_char_p()
    ctypes.resize(t, 16)
    local old = ctypes.c_char_p.from_buffer(t)
    t.value = ("xyz"):rep(2)
    ctypes.resize(t, 32)
    old.value = nil
    helper.gc()
    assert.are.equal("xyzxyz", t.value)
    assert.is_nil(old.value)
  end)

  it("refuses views and sizes below the type's", function()
    local a = (c_int * 2)()
    assert.has_error(function() ctypes.resize(a, 4) end, "ValueError: resize: minimum size is 8")
    assert.has_error(function() ctypes.resize(c_int.from_buffer(a), 8) end,
                     "ValueError: resize: cannot resize a view; only objects that own their memory can be resized")
    assert.has_error(function() ctypes.resize(a, -8) end,
                     "ValueError: resize: size must be >= 0, got -8")
  end)

  it("reports memory it cannot get as MemoryError", function()
    -- sizes Lua refuses before asking the allocator (no sanitizer report)
    local big = math.maxinteger
    assert.has_error(function() ctypes.resize(c_int(), big) end,
                     "MemoryError: cannot allocate 9223372036854775807 bytes")
    if helper.platform.pointer_size == 8 then
      assert.has_error(function() ctypes.create_string_buffer(big) end,
                       "MemoryError: cannot allocate 9223372036854775807 bytes")
      assert.has_error(function() (ctypes.c_short * (big // 2))() end,
                       "MemoryError: cannot allocate 9223372036854775806 bytes")
    else
      -- with a 32-bit size_t (i386) no array type has that many bytes: the
      -- type is refused, as a longer one is on a 64-bit target
      assert.has_error(function() ctypes.create_string_buffer(big) end,
                       "OverflowError: array too large")
      assert.has_error(function() (ctypes.c_short * (big // 2))() end,
                       "OverflowError: array too large")
      assert.has_error(function() ctypes.resize(c_int(), 0xFFFFFFFF) end,
                       "MemoryError: cannot allocate 4294967295 bytes")
    end
    -- and on every target, the error 64-bit gives for an impossible size
    assert.has_error(function() ctypes.create_unicode_buffer(big) end,
                     "OverflowError: array too large")
    if not helper.asan then
      -- more than any address space; the sanitizer would report the attempt
      assert.has_error(function() ctypes.resize(c_int(), 1 << 50) end,
                       "MemoryError: cannot allocate 1125899906842624 bytes")
    end
    local a = (c_int * 2)(1, 2)
    ctypes.resize(a, 1 << 17)                 -- big, but there
    assert.are.equal(1 << 17, ctypes.sizeof(a))
    assert.are.same({ 1, 2 }, { a[0], a[1] })
  end)
end)

describe("keep-alive", function()
  it("stores into pointer slots keep their source alive", function()
    local arr = (ctypes.c_char_p * 2)()
    arr[0] = "first " .. tostring(math.random())
    local expect = arr[0]
    local holder = (ctypes.POINTER(c_int) * 1)()
    holder[0] = ctypes.pointer(c_int(77))
    helper.gc()
    local junk = {}
    for i = 1, 500 do junk[i] = ("y"):rep(40) .. i end
    assert.are.equal(expect, arr[0])
    assert.are.equal(77, holder[0][0])
  end)

  it("aggregates copied into a slot bring their keep-alives along", function()
    local Pair = ctypes.Structure("KeepPair", {
      _fields_ = { {"a", ctypes.c_char_p}, {"b", ctypes.c_char_p} } })
    local arr = (Pair * 2)()
    arr[0] = { a = "x" .. tostring(math.random()), b = "y" .. tostring(math.random()) }
    local b0 = arr[0].b
    arr[0].a = "z"                      -- same address as arr[0] itself
    local src = Pair("p" .. tostring(math.random()), "q" .. tostring(math.random()))
    local q = src.b
    arr[1] = src
    src = nil
    helper.gc()
    local junk = {}
    for i = 1, 500 do junk[i] = ("w"):rep(30) .. i end
    assert.are.equal(b0, arr[0].b)
    assert.are.equal("z", arr[0].a)
    assert.are.equal(q, arr[1].b)
    arr[1] = arr[0]                     -- within one root
    helper.gc()
    assert.are.equal(b0, arr[1].b)
  end)
end)

describe("keep-alive of copied pointer values", function()
  local P = ctypes.POINTER(c_int)
  local function churn()
    helper.gc()
    local junk = {}
    for i = 1, 500 do junk[i] = c_int(i) end
    return junk
  end

  it("survives assigning a pointer to itself", function()
    -- the slot's own keep entry was replaced by the instance, and the
    -- string (or target) it kept was freed
    local s = ctypes.c_char_p(("q"):rep(5))
    s.value = s
    local a = (P * 2)(ctypes.pointer(c_int(5)))
    a[0] = a[0]
    churn()
    assert.are.equal("qqqqq", s.value)
    assert.are.equal(5, a[0][0])
  end)

  it("does not depend on the source slot after the copy", function()
    local a, b = (P * 1)(ctypes.pointer(c_int(7))), (P * 1)()
    b[0] = a[0]
    a[0] = nil
    local S = ctypes.Structure("KeepCopy", { _fields_ = { { "p", P }, { "s", ctypes.c_char_p } } })
    local x, y = S{ p = ctypes.pointer(c_int(9)), s = ("s"):rep(3) }, S()
    y.p, y.s = x.p, ctypes.c_char_p.from_buffer(x, S.s.offset)
    x.p, x.s = nil, nil
    churn()
    assert.are.equal(7, b[0][0])
    assert.are.equal(9, y.p[0])
    assert.are.equal("sss", y.s)
  end)
end)
