-- Bit fields: {name, T, bits} entries, laid out as gcc does (mixed base
-- types, fields that move to the next unit, zero-width and unnamed fields,
-- _pack_, unions, big endian), read with sign extension, written with
-- wrapping, and checked against C's own reads and writes in the fixture.
local ctypes = require("ctypes")
local helper = require("spec.helper")

local c_int, c_uint, c_short, c_char, c_byte, c_ubyte, c_bool =
  ctypes.c_int, ctypes.c_uint, ctypes.c_short, ctypes.c_char, ctypes.c_byte,
  ctypes.c_ubyte, ctypes.c_bool
local c_longlong = ctypes.c_longlong
local POINTER, sizeof, alignment = ctypes.POINTER, ctypes.sizeof,
  ctypes.alignment

local lib = ctypes.CDLL(helper.fixture)

local oracle = helper.oracle

-- mirrors struct fx_Bits in spec/fixtures/fx_struct.c
local Bits = ctypes.Structure("Bits", { _fields_ = {
  { "a", c_uint, 3 },
  { "b", c_int, 5 },
  { "c", c_ubyte, 4 },
  { "d", c_short, 9 },
  { "e", c_longlong, 40 },
  { "", c_int, 0 },
  { "f", c_uint, 1 },
  { "g", c_bool, 1 },
  { "", c_int, 4 },
  { "h", c_byte, 7 },
} })

-- Platform facts from the fixture (gcc): c_longlong's name (it is c_long
-- where long has 64 bits, as in ctypes) and alignment, and where bit fields
-- start in their unit.
local LL = helper.platform.long_size == 8 and "c_long" or "c_longlong"
local LLA = helper.platform.longlong_align
local MSB = helper.platform.bits_msb_first

-- "ofs=B:S" in a Field's repr, for a bit field that gcc put at bits
-- [pos, pos + bits) of its storage unit (unitbits wide) at byte B: S is the
-- shift of the field's lowest bit in that unit, as ctypes reports it
local function ofs(B, pos, bits, unitbits)
  return ("ofs=%d:%d"):format(B, MSB and unitbits - pos - bits or pos)
end

describe("bit fields", function()
  it("are laid out like gcc's: mixed types, moves, zero width, padding", function()
    assert.are.equal(oracle("sizeof", "Bits"), sizeof(Bits))
    assert.are.equal(oracle("alignof", "Bits"), alignment(Bits))
    assert.are.equal("<Field type=c_uint, " .. ofs(0, 0, 3, 32) .. ", bits=3>", tostring(Bits.a))
    assert.are.equal("<Field type=c_int, " .. ofs(0, 3, 5, 32) .. ", bits=5>", tostring(Bits.b))
    assert.are.equal("<Field type=c_ubyte, " .. ofs(1, 0, 4, 8) .. ", bits=4>", tostring(Bits.c))
    -- 9 bits do not fit the rest of the short at bit 12: bit 16
    assert.are.equal("<Field type=c_short, " .. ofs(2, 0, 9, 16) .. ", bits=9>",
                     tostring(Bits.d))
    -- 40 bits at bit 25 would span two aligned long longs: the next long
    -- long boundary (bit 64; bit 32 where long long is 4-byte aligned)
    assert.are.equal("<Field type=" .. LL .. ", " .. ofs(LLA, 0, 40, 64) .. ", bits=40>",
                     tostring(Bits.e))
    -- int :0 moves f from the end of e (bit 104) to the next int boundary
    -- (bit 128; 72 to 96 on i386)
    local F = (LLA * 8 + 40 + 31) // 32 * 4
    assert.are.equal("<Field type=c_uint, " .. ofs(F, 0, 1, 32) .. ", bits=1>",
                     tostring(Bits.f))
    assert.are.equal("<Field type=c_bool, " .. ofs(F, 1, 1, 8) .. ", bits=1>", tostring(Bits.g))
    -- after 4 unnamed bits, h (7 bits at bit 6 of byte F) would span two
    -- bytes
    assert.are.equal("<Field type=c_byte, " .. ofs(F + 1, 0, 7, 8) .. ", bits=7>",
                     tostring(Bits.h))
    assert.are.same({ F + 1, MSB and 1 or 0, 7, 1, true }, { Bits.h.offset,
      Bits.h.bit_offset, Bits.h.bit_size, Bits.h.size, Bits.h.is_bitfield })
    assert.are.equal(c_byte, Bits.h.type)
  end)

  it("read what C stored, sign-extended for signed types", function()
    local g = Bits.in_dll(lib, "fx_bits_global")
    assert.are.same({ 5, -11, 9, -200, -123456789012, 1, true, -50 },
                    { g.a, g.b, g.c, g.d, g.e, g.f, g.g, g.h })
  end)

  it("write values that C reads back", function()
    local get = lib.fx_bits_get
    get.restype, get.argtypes = c_longlong, { POINTER(Bits), c_int }
    local b = Bits{ a = 7, b = -16, c = 15, d = 255, e = 2^39 - 1, f = 1,
                    g = true, h = 63 }
    local want = { 7, -16, 15, 255, 2^39 - 1, 1, 1, 63 }
    for i = 1, 8 do assert.are.equal(want[i], get(b, i)) end
    b.d = -256
    b.e = -(2^39)
    b.g = false
    assert.are.same({ -256, -(2^39), 0 }, { get(b, 4), get(b, 5), get(b, 7) })
    -- neighbours are untouched
    assert.are.same({ 7, -16, 15, 1, 63 },
                    { get(b, 1), get(b, 2), get(b, 3), get(b, 6), get(b, 8) })
  end)

  it("read what C wrote through a pointer", function()
    local set = lib.fx_bits_set
    set.restype, set.argtypes = nil, { POINTER(Bits), c_int, c_longlong }
    local b = Bits()
    local vals = { 6, -3, 10, -1, 99999999999, 1, 1, -64 }
    for i = 1, 8 do set(b, i, vals[i]) end
    assert.are.same({ 6, -3, 10, -1, 99999999999, 1, true, -64 },
                    { b.a, b.b, b.c, b.d, b.e, b.f, b.g, b.h })
  end)

  it("wrap values that do not fit, as ctypes does", function()
    local b = Bits()
    b.a = 9               -- 0b1001 in 3 bits
    b.b = 16              -- the sign bit of 5 bits
    b.c = -1
    b.h = 64
    assert.are.same({ 1, -16, 15, -64 }, { b.a, b.b, b.c, b.h })
    assert.has_error(function() b.a = 1.5 end,
      "TypeError: field 'a': expected c_uint, got number 1.5")
    assert.has_error(function() b.b = "x" end,
      "TypeError: field 'b': expected c_int, got string")
  end)

  it("keep unnamed and zero-width fields out of reach", function()
    assert.has_error(function() return Bits[""] end,
      "AttributeError: type Bits has no attribute ''")
    assert.has_error(function() return Bits().x end,
      "AttributeError: 'Bits' object has no attribute 'x'")
    -- positional initialisers skip them
    local b = Bits(1, 2, 3, 4, 5, 0, true, 7)
    assert.are.same({ 1, 2, 3, 4, 5, 0, true, 7 },
                    { b.a, b.b, b.c, b.d, b.e, b.f, b.g, b.h })
    -- unnamed bit fields and alignment: as gcc (on x86-64 they do not raise
    -- it, on aarch64 they do)
    local U = ctypes.Structure("U", { _fields_ = { { "c", c_char },
                                                   { "", c_int, 4 } } })
    assert.are.same({ oracle("sizeof", "AnonBits"), oracle("alignof", "AnonBits") },
                    { sizeof(U), alignment(U) })
    local Z = ctypes.Structure("Z", { _fields_ = { { "c", c_char },
      { "", c_int, 0 }, { "d", c_char } } })
    assert.are.same({ oracle("sizeof", "ZeroBits"), oracle("alignof", "ZeroBits"),
                      oracle("offsetof", "ZeroBits_d") },
                    { sizeof(Z), alignment(Z), Z.d.offset })
  end)

  it("pack tightly and straddle under _pack_", function()
    local PB = ctypes.Structure("PackedBits", { _pack_ = 1, _fields_ = {
      { "c", c_char }, { "a", c_int, 20 }, { "b", c_int, 20 },
      { "s", c_short, 3 } } })
    assert.are.equal(oracle("sizeof", "PackedBits"), sizeof(PB))
    assert.are.equal(oracle("alignof", "PackedBits"), alignment(PB))
    local g = PB.in_dll(lib, "fx_packedbits_global")
    assert.are.same({ "z", -500000, 300000, -2 }, { g.c, g.a, g.b, g.s })
    local get = lib.fx_packedbits_get
    get.restype, get.argtypes = c_longlong, { POINTER(PB), c_int }
    local p = PB{ c = "q", a = 524287, b = -524288, s = 3 }
    assert.are.same({ 524287, -524288, 3 }, { get(p, 1), get(p, 2), get(p, 3) })
    -- b starts at bit 28 and ends at bit 47: it straddles int units, and
    -- is reported from the byte where it starts
    assert.are.equal("<Field type=c_int, " .. ofs(3, 4, 20, 32) .. ", bits=20>",
                     tostring(PB.b))
  end)

  it("share bit 0 in unions, sized by their widest member", function()
    local BU = ctypes.Union("BitsU", { _fields_ = {
      { "a", c_uint, 3 }, { "b", c_int, 12 }, { "c", c_longlong, 33 } } })
    assert.are.equal(oracle("sizeof", "BitsU"), sizeof(BU))
    assert.are.equal(oracle("alignof", "BitsU"), alignment(BU))
    local u = BU()
    u.b = -1
    -- b's 12 bits are c's lowest 12 where bit fields start at the least
    -- significant bit of their unit, and c's highest 12 (of 33) where they
    -- start at the most significant one (s390x)
    assert.are.same({ 7, -1, MSB and -(1 << 21) or 4095 }, { u.a, u.b, u.c })
    assert.are.equal("<Field type=" .. LL .. ", " .. ofs(0, 0, 33, 64) .. ", bits=33>",
                     tostring(BU.c))
  end)

  it("fill big-endian structures from the most significant bit", function()
    local BE = ctypes.BigEndianStructure("BEB", { _fields_ = {
      { "a", c_ubyte, 3 }, { "b", c_ubyte, 5 }, { "c", ctypes.c_ushort, 12 } } })
    local v = BE(5, 1, 0xabc)
    -- gcc with scalar_storage_order("big-endian") stores a100abc0: c does
    -- not fit the rest of the first short
    assert.are.equal("\xa1\x00\xab\xc0", ctypes.string_at(ctypes.addressof(v), 4))
    assert.are.same({ 5, 1, 0xabc }, { v.a, v.b, v.c })
    -- (on a big-endian machine the field's type is the native c_ushort)
    local T = helper.platform.big_endian and "c_ushort" or "c_ushort_be"
    assert.are.equal("<Field type=" .. T .. ", ofs=2:4, bits=12>", tostring(BE.c))
  end)

  it("reject bad widths and types that cannot be bit fields", function()
    local function def(...)
      local entry = { ... }
      return function()
        ctypes.Structure("S", { _fields_ = { entry } })
      end
    end
    assert.has_error(def("x", ctypes.c_float, 3),
      "TypeError: bit fields not allowed for type c_float")
    assert.has_error(def("x", c_char, 3),
      "TypeError: bit fields not allowed for type c_char")
    assert.has_error(def("x", c_int * 2, 3),
      "TypeError: bit fields not allowed for type c_int_Array_2")
    assert.has_error(def("x", c_int, 33),
      "ValueError: number of bits invalid for bit field 'x'")
    assert.has_error(def("x", c_int, -1),
      "ValueError: number of bits invalid for bit field 'x'")
    assert.has_error(def("x", c_bool, 2),
      "ValueError: number of bits invalid for bit field 'x'")
    assert.has_error(def("x", c_int, 2.5),
      "TypeError: field 'x': number of bits must be an integer, got number")
    assert.has_error(def("x", c_int, "3"),
      "TypeError: field 'x': number of bits must be an integer, got string")
    local S = ctypes.Structure("S", { _fields_ = { { "x", c_longlong, 64 } } })
    local s = S(-1)
    assert.are.equal(-1, s.x)
  end)
end)
