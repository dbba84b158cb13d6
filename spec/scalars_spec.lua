-- Scalar types: construction, .value, wrapping, strict conversion, names.
local ctypes = require("ctypes")
local helper = require("spec.helper")

describe("scalar instances", function()
  it("start zeroed and take an initial value", function()
    assert.are.equal(0, ctypes.c_int().value)
    assert.are.equal(42, ctypes.c_int(42).value)
    assert.are.equal(0.0, ctypes.c_double().value)
    assert.are.equal(false, ctypes.c_bool().value)
    assert.is_nil(ctypes.c_char_p().value)
    assert.is_nil(ctypes.c_void_p().value)
    assert.are.equal("\0", ctypes.c_char().value)
  end)

  it("read and write .value", function()
    local i = ctypes.c_int(1)
    i.value = -7
    assert.are.equal(-7, i.value)
    local d = ctypes.c_double(1.25)
    d.value = 3
    assert.are.equal(3.0, d.value)
    assert.are.equal("float", math.type(d.value))
  end)

  it("wrap integers modulo 2^N as ctypes does", function()
    assert.are.equal(1, ctypes.c_ubyte(257).value)
    assert.are.equal(-56, ctypes.c_int8(200).value)
    assert.are.equal(-1, ctypes.c_short(65535).value)
    assert.are.equal(65535, ctypes.c_ushort(-1).value)
    assert.are.equal(4294967295, ctypes.c_uint(-1).value)
    assert.are.equal(-2147483648, ctypes.c_int(2147483648).value)
    assert.are.equal(0, ctypes.c_int(4294967296).value)
    assert.are.equal(math.mininteger, ctypes.c_int64(math.mininteger).value)
  end)

  it("read 64-bit unsigned values above maxinteger as wrapped integers", function()
    assert.are.equal(-1, ctypes.c_uint64(-1).value)
    assert.are.equal(string.unpack("j", string.pack("J", -2)),
                     ctypes.c_ulonglong(-2).value)
    assert.are.equal(math.mininteger, ctypes.c_uint64(2^63).value)
  end)

  it("accept floats with an exact integer value", function()
    assert.are.equal(3, ctypes.c_int(3.0).value)
    assert.are.equal("integer", math.type(ctypes.c_int(3.0).value))
    assert.are.equal(-1, ctypes.c_long(-1.0).value)
  end)

  it("reject non-integral floats, strings, booleans and tables for integers", function()
    assert.has_error(function() ctypes.c_int(1.5) end,
                     "TypeError: expected c_int, got number 1.5")
    assert.has_error(function() ctypes.c_uint8("1") end,
                     "TypeError: expected c_ubyte, got string")
    assert.has_error(function() ctypes.c_long(true) end,
                     "TypeError: expected c_long, got boolean")
    assert.has_error(function() ctypes.c_short({}) end,
                     "TypeError: expected c_short, got table")
    assert.has_error(function() ctypes.c_int(0/0) end,
                     "TypeError: expected c_int, got number " .. tostring(0/0))
    local i = ctypes.c_int(5)
    assert.has_error(function() i.value = 2.5 end,
                     "TypeError: expected c_int, got number 2.5")
    assert.are.equal(5, i.value)
  end)

  it("reject too many arguments", function()
    assert.has_error(function() ctypes.c_int(1, 2) end,
                     "TypeError: c_int() takes at most 1 argument (2 given)")
  end)

  it("copy from an instance of the same type only", function()
    assert.are.equal(9, ctypes.c_int(ctypes.c_int(9)).value)
    assert.has_error(function() ctypes.c_int(ctypes.c_short(9)) end,
                     "TypeError: expected c_int, got c_short instance")
  end)

  it("convert floats", function()
    assert.are.equal(0.5, ctypes.c_float(0.5).value)
    assert.are.equal(16777216.0, ctypes.c_float(16777217).value)
    assert.are.equal(1/3, ctypes.c_double(1/3).value)
    assert.are.equal(2.5, ctypes.c_longdouble(2.5).value)
    assert.has_error(function() ctypes.c_double("1") end,
                     "TypeError: expected c_double, got string")
    assert.has_error(function() ctypes.c_float(nil) end,
                     "TypeError: expected c_float, got nil")
  end)

  it("c_bool takes booleans and integers and reads a boolean", function()
    assert.are.equal(true, ctypes.c_bool(true).value)
    assert.are.equal(true, ctypes.c_bool(5).value)
    assert.are.equal(false, ctypes.c_bool(0).value)
    assert.has_error(function() ctypes.c_bool("yes") end,
                     "TypeError: expected c_bool, got string")
  end)

  it("c_bool reads any non-zero byte as true", function()
    local U = ctypes.Union("BoolByte", { _fields_ = { { "b", ctypes.c_bool }, { "u", ctypes.c_ubyte } } })
    local u = U()
    u.u = 2
    assert.are.equal(true, u.b)
    u.u = 0
    assert.are.equal(false, u.b)
  end)

  it("c_char is a 1-byte string, settable from an integer", function()
    assert.are.equal("A", ctypes.c_char("A").value)
    assert.are.equal("A", ctypes.c_char(65).value)
    assert.are.equal("\255", ctypes.c_char(-1).value)
    assert.has_error(function() ctypes.c_char("AB") end,
                     "TypeError: expected c_char, got a string of length 2")
    assert.has_error(function() ctypes.c_char("") end,
                     "TypeError: expected c_char, got a string of length 0")
  end)

  it("c_wchar is one UTF-8 character", function()
    assert.are.equal("é", ctypes.c_wchar("é").value)
    assert.are.equal("€", ctypes.c_wchar(0x20AC).value)
    assert.are.equal(0x20AC, string.unpack("i4", string.pack("i4", 0x20AC)))
    assert.has_error(function() ctypes.c_wchar("ab") end,
                     "TypeError: expected c_wchar, got a string of length 2")
  end)

  it("c_char_p holds a Lua string, nil or an address", function()
    local s = ctypes.c_char_p("hello")
    assert.are.equal("hello", s.value)
    s.value = nil
    assert.is_nil(s.value)
    s.value = "again"
    assert.are.equal("again", s.value)
    assert.has_error(function() ctypes.c_char_p(1.5) end,
                     "TypeError: expected c_char_p, got number 1.5")
    assert.has_error(function() ctypes.c_char_p(ctypes.c_int(1)) end,
                     "TypeError: expected c_char_p, got c_int instance")
  end)

  it("c_char_p keeps its string alive", function()
    local s = ctypes.c_char_p(("x"):rep(100) .. tostring(os.time()))
    local expect = ("x"):rep(100) .. tostring(os.time())
    collectgarbage("collect"); collectgarbage("collect")
    assert.are.equal(expect:sub(1, 100), s.value:sub(1, 100))
    assert.are.equal(#expect, #s.value)
  end)

  it("c_char_p points at a char buffer", function()
    local buf = ctypes.create_string_buffer("abc")
    local p = ctypes.c_char_p(buf)
    assert.are.equal("abc", p.value)
    buf[0] = "z"
    assert.are.equal("zbc", p.value)
  end)

  it("c_wchar_p converts UTF-8 both ways", function()
    local w = ctypes.c_wchar_p("héllo €")
    assert.are.equal("héllo €", w.value)
    assert.are.equal("héllo €", ctypes.wstring_at(w))
    assert.has_error(function() ctypes.c_wchar_p("\255") end,
                     "TypeError: expected c_wchar_p, got a string that is not valid UTF-8")
  end)

  it("c_void_p holds an integer address or nil", function()
    assert.are.equal(4096, ctypes.c_void_p(4096).value)
    assert.is_nil(ctypes.c_void_p(nil).value)
    local i = ctypes.c_int(1)
    assert.are.equal(ctypes.addressof(i), ctypes.c_void_p(i).value)
    assert.has_error(function() ctypes.c_void_p("x") end,
                     "TypeError: expected c_void_p, got string")
  end)

  it("have ctypes-like tostring", function()
    assert.are.equal("c_int(42)", tostring(ctypes.c_int(42)))
    assert.are.equal("c_double(1.5)", tostring(ctypes.c_double(1.5)))
    assert.are.equal("c_double(2.0)", tostring(ctypes.c_double(2)))
    assert.are.equal("c_bool(true)", tostring(ctypes.c_bool(true)))
    assert.are.equal('c_char("A")', tostring(ctypes.c_char("A")))
    assert.are.equal('c_char("\\0")', tostring(ctypes.c_char()))
    assert.are.equal('c_char_p("a\\"b")', tostring(ctypes.c_char_p('a"b')))
    assert.are.equal("c_char_p(nil)", tostring(ctypes.c_char_p()))
    assert.are.equal("c_void_p(16)", tostring(ctypes.c_void_p(16)))
  end)

  it("reject unknown attributes on read and write", function()
    local i = ctypes.c_int(1)
    assert.has_error(function() return i.valu end,
                     "AttributeError: 'c_int' object has no attribute 'valu'")
    assert.has_error(function() i.x = 1 end,
                     "AttributeError: 'c_int' object has no attribute 'x'")
    assert.has_error(function() return #i end,
                     "TypeError: object of type 'c_int' has no len()")
    assert.has_error(function() i() end,
                     "TypeError: 'c_int' object is not callable")
  end)

  it("own memory aligned for long double (16 bytes on x86-64)", function()
    local align = helper.oracle("alignof", "c_longdouble")
    for _ = 1, 20 do
      local ld = ctypes.c_longdouble(1)
      assert.are.equal(0, ctypes.addressof(ld) % align)
    end
  end)
end)
