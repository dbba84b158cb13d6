-- Structures and unions: definition, layout against the C compiler (the
-- fixture's fx_sizeof_*/fx_offsetof_* oracles), field descriptors, field
-- access, methods, initialisers, incomplete types, _pack_/_align_,
-- _anonymous_, deriving, byte order and keep-alive of stored references.
local ctypes = require("ctypes")
local helper = require("spec.helper")

local c_int, c_short, c_char, c_double, c_float = ctypes.c_int, ctypes.c_short,
  ctypes.c_char, ctypes.c_double, ctypes.c_float
local c_longlong, c_size_t, c_char_p = ctypes.c_longlong, ctypes.c_size_t,
  ctypes.c_char_p
local POINTER, sizeof, alignment = ctypes.POINTER, ctypes.sizeof,
  ctypes.alignment

local lib = ctypes.CDLL(helper.fixture)

local oracle = helper.oracle
local BIG = helper.platform.big_endian     -- gcc's byte order (fixture)

-- a fixture function taking one pointer argument
local function cfunc(name, restype, ...)
  local f = lib[name]
  f.restype = restype
  f.argtypes = { ... }
  return f
end

local Point = ctypes.Structure("Point", {
  _fields_ = { { "x", c_int }, { "y", c_int } },
  norm2 = function(self) return self.x * self.x + self.y * self.y end,
  moved = function(self, dx, dy) return self.x + dx, self.y + dy end,
})
local Rect = ctypes.Structure("Rect", {
  _fields_ = { { "a", Point }, { "b", Point } },
})

describe("structures", function()
  describe("layout", function()
    it("matches the C compiler for plain, nested and mixed members", function()
      assert.are.equal(oracle("sizeof", "Point"), sizeof(Point))
      assert.are.equal(oracle("alignof", "Point"), alignment(Point))
      assert.are.equal(oracle("offsetof", "Point_y"), Point.y.offset)
      assert.are.equal(oracle("sizeof", "Rect"), sizeof(Rect))
      assert.are.equal(oracle("offsetof", "Rect_b"), Rect.b.offset)
      local Mixed = ctypes.Structure("Mixed", { _fields_ = {
        { "c", c_char }, { "d", c_double }, { "s", c_short }, { "i", c_int },
        { "tail", c_char * 3 } } })
      assert.are.equal(oracle("sizeof", "Mixed"), sizeof(Mixed))
      assert.are.equal(oracle("alignof", "Mixed"), alignment(Mixed))
      for _, f in ipairs({ "d", "s", "i", "tail" }) do
        assert.are.equal(oracle("offsetof", "Mixed_" .. f), Mixed[f].offset)
      end
    end)

    it("follows _pack_ as #pragma pack(n)", function()
      local P1 = ctypes.Structure("Pack1", { _pack_ = 1, _fields_ = {
        { "c", c_char }, { "i", c_int }, { "s", c_short }, { "d", c_double } } })
      assert.are.equal(oracle("sizeof", "Pack1"), sizeof(P1))
      assert.are.equal(oracle("alignof", "Pack1"), alignment(P1))
      for _, f in ipairs({ "i", "s", "d" }) do
        assert.are.equal(oracle("offsetof", "Pack1_" .. f), P1[f].offset)
      end
      local P2 = ctypes.Structure("Pack2", { _pack_ = 2, _fields_ = {
        { "c", c_char }, { "i", c_int }, { "c2", c_char },
        { "ll", c_longlong } } })
      assert.are.equal(oracle("sizeof", "Pack2"), sizeof(P2))
      assert.are.equal(oracle("alignof", "Pack2"), alignment(P2))
      for _, f in ipairs({ "i", "c2", "ll" }) do
        assert.are.equal(oracle("offsetof", "Pack2_" .. f), P2[f].offset)
      end
      assert.are.same({ 15, 1 }, { sizeof(P1), alignment(P1) })
    end)

    it("raises the alignment with _align_ as __attribute__((aligned))", function()
      local A = ctypes.Structure("Aligned", { _align_ = 16, _fields_ = {
        { "c", c_char }, { "i", c_int } } })
      assert.are.equal(oracle("sizeof", "Aligned"), sizeof(A))
      assert.are.equal(oracle("alignof", "Aligned"), alignment(A))
      assert.are.same({ 16, 16 }, { sizeof(A), alignment(A) })
      -- a smaller _align_ than the natural one changes nothing
      local B = ctypes.Structure("B", { _align_ = 2, _fields_ = { { "i", c_int } } })
      assert.are.same({ 4, 4 }, { sizeof(B), alignment(B) })
    end)

    it("rejects a _pack_ or _align_ that is not 0 or a power of two", function()
      local fields = { { "i", c_int } }
      assert.has_error(function()
        ctypes.Structure("S", { _pack_ = 3, _fields_ = fields })
      end, "ValueError: _pack_ must be 0 or a power of two, got 3")
      assert.has_error(function()
        ctypes.Structure("S", { _pack_ = -2, _fields_ = fields })
      end, "ValueError: _pack_ must be 0 or a power of two, got -2")
      assert.has_error(function()
        ctypes.Structure("S", { _pack_ = "1", _fields_ = fields })
      end, "TypeError: _pack_ must be an integer, got string")
      assert.has_error(function()
        ctypes.Structure("S", { _pack_ = 1.5, _fields_ = fields })
      end, "TypeError: _pack_ must be an integer, got number")
      assert.has_error(function()
        ctypes.Structure("S", { _align_ = 12, _fields_ = fields })
      end, "ValueError: _align_ must be 0 or a power of two, got 12")
      assert.has_error(function()
        ctypes.Structure("S", { _align_ = 2^29, _fields_ = fields })
      end, "ValueError: _align_ must be at most 268435456, got 536870912")
      local S = ctypes.Structure("S", { _pack_ = 0, _fields_ = fields })
      assert.are.equal(4, alignment(S))
    end)

    it("gives an empty structure size 0 and alignment 1", function()
      local E = ctypes.Structure("E", { _fields_ = {} })
      assert.are.same({ 0, 1 }, { sizeof(E), alignment(E) })
      assert.are.equal("<E object at", tostring(E()):sub(1, 12))
    end)
  end)

  describe("field descriptors", function()
    it("carry name, offset, size and type, and print like ctypes'", function()
      assert.are.equal("y", Point.y.name)
      assert.are.equal(4, Point.y.offset)
      assert.are.equal(4, Point.y.size)
      assert.are.equal(c_int, Point.y.type)
      assert.are.equal("<Field type=c_int, ofs=4, size=4>", tostring(Point.y))
      assert.are.equal("<Field type=Point, ofs=8, size=8>", tostring(Rect.b))
      assert.is_false(Point.y.is_bitfield)
      assert.are.same({ 0, 32 }, { Point.y.bit_offset, Point.y.bit_size })
    end)

    it("tell which are anonymous (is_anonymous, Python 3.13)", function()
      local In = ctypes.Structure("In", { _fields_ = { { "v", c_int } } })
      local Out = ctypes.Structure("Out", {
        _fields_ = { { "a", c_int }, { "in", In } }, _anonymous_ = { "in" } })
      assert.are.same({ false, true, false },
                      { Out.a.is_anonymous, Out["in"].is_anonymous, Out.v.is_anonymous })
      assert.is_false(Point.x.is_anonymous)
    end)

    it("are read-only and have no other attributes", function()
      assert.has_error(function() Point.y.offset = 0 end,
        "AttributeError: Field attributes are read-only (setting 'offset')")
      assert.has_error(function() return Point.y.nope end,
        "AttributeError: 'Field' object has no attribute 'nope'")
    end)

    it("leave the type's own attributes and the given _fields_", function()
      local fields = { { "v", c_int } }
      local S = ctypes.Structure("S", { _fields_ = fields, K = 42 })
      assert.are.equal(fields, S._fields_)
      assert.are.equal(42, S.K)
      assert.is_nil(S._pack_)
      assert.has_error(function() return S.nope end,
        "AttributeError: type S has no attribute 'nope'")
      assert.has_error(function() S.v = 1 end,
        "AttributeError: cannot replace field 'v' of S")
      assert.has_error(function() S[1] = 1 end,
        "AttributeError: attribute name must be a string, got integer")
    end)
  end)

  describe("instances", function()
    it("are aligned for their type, whatever user values they carry", function()
      -- (i386: Lua aligns userdata memory to 4 only, and where the memory
      -- starts modulo 8 depends on the number of user values, which differs
      -- between scalars, owning structures and views)
      local types = { ctypes.c_double, ctypes.c_longlong, ctypes.c_longdouble }
      for _, a in ipairs({ 8, 16, 32 }) do
        types[#types + 1] = ctypes.Structure("A" .. a, {
          _align_ = a, _fields_ = { { "x", ctypes.c_int } } })
      end
      local Holder = ctypes.Structure("Holder", { _fields_ = {
        { "pad", ctypes.c_char }, { "s", types[#types] } } })
      for _, T in ipairs(types) do
        local al = ctypes.alignment(T)
        for _ = 1, 8 do
          local objs = { T(), T.from_buffer_copy(T()), (T * 2)() }
          for _, o in ipairs(objs) do
            assert.are.equal(0, ctypes.addressof(o) % al, tostring(T))
          end
          local p = ctypes.pointer(T())
          assert.are.equal(0, ctypes.addressof(p) % ctypes.alignment(ctypes.POINTER(T)))
        end
      end
      assert.are.equal(0, ctypes.addressof(Holder().s) % 32)
    end)

    it("start zeroed and read and write their fields", function()
      local p = Point()
      assert.are.same({ 0, 0 }, { p.x, p.y })
      p.x, p.y = 5, -7
      assert.are.same({ 5, -7 }, { p.x, p.y })
      assert.are.equal(-2, cfunc("fx_point_sum", c_int, POINTER(Point))(p))
      p.x = 2^31 + 1        -- wraps like ctypes
      assert.are.equal(-2147483647, p.x)
    end)

    it("see what C wrote (in_dll)", function()
      local g = Point.in_dll(lib, "fx_point_global")
      assert.are.same({ 3, -4 }, { g.x, g.y })
      local r = Rect.in_dll(lib, "fx_rect_global")
      assert.are.same({ 1, 2, 30, 40 }, { r.a.x, r.a.y, r.b.x, r.b.y })
    end)

    it("give views for aggregate fields that share memory", function()
      local r = Rect()
      local b = r.b
      b.x = 9
      assert.are.equal(9, r.b.x)
      r.b.y = 11
      assert.are.equal(11, b.y)
      cfunc("fx_rect_move", nil, POINTER(Rect), c_int, c_int)(r, 1, 100)
      assert.are.same({ 1, 100, 10, 111 }, { r.a.x, r.a.y, b.x, b.y })
      assert.are.equal(ctypes.addressof(r) + 8, ctypes.addressof(b))
    end)

    it("keep the container alive through a field view", function()
      local b = Rect(Point(1, 2), Point(3, 4)).b
      helper.gc()
      local junk = {}
      for i = 1, 1000 do junk[i] = Rect(Point(i, i), Point(i, i)) end
      helper.gc()
      assert.are.same({ 3, 4 }, { b.x, b.y })
      local arr = ctypes.Structure("HasArr", { _fields_ = {
        { "v", c_int * 3 } } }){ v = { 7, 8, 9 } }.v
      helper.gc()
      assert.are.same({ 7, 8, 9 }, { arr[0], arr[1], arr[2] })
    end)

    it("call methods from the body with the instance as self", function()
      local p = Point(3, 4)
      assert.are.equal(25, p:norm2())
      assert.are.same({ 4, 6 }, { p:moved(1, 2) })
      assert.are.equal(Point.norm2, p.norm2)
      assert.has_error(function() p.norm2 = 1 end,
        "AttributeError: 'Point' object attribute 'norm2' is read-only")
    end)

    it("take methods added to the type later", function()
      local S = ctypes.Structure("S", { _fields_ = { { "v", c_int } } })
      function S:twice() return self.v * 2 end
      assert.are.equal(14, S(7):twice())
    end)

    it("reject unknown names on read and on write", function()
      local p = Point()
      assert.has_error(function() return p.z end,
        "AttributeError: 'Point' object has no attribute 'z'")
      assert.has_error(function() p.z = 1 end,
        "AttributeError: 'Point' object has no attribute 'z'")
      assert.has_error(function() return p[1] end,
        "AttributeError: 'Point' object has no attribute '1'")
      assert.has_error(function() p[1] = 0 end,
        "AttributeError: 'Point' object has no attribute '1'")
    end)

    it("reject values of the wrong type, naming field and types", function()
      local p = Point(1, 2)
      assert.has_error(function() p.x = "s" end,
        "TypeError: field 'x': expected c_int, got string")
      assert.has_error(function() p.x = 1.5 end,
        "TypeError: field 'x': expected c_int, got number 1.5")
      assert.has_error(function() p.y = {} end,
        "TypeError: field 'y': expected c_int, got table")
      local r = Rect()
      assert.has_error(function() r.a = 5 end,
        "TypeError: field 'a': expected Point, got integer")
      assert.has_error(function() r.a = Rect() end,
        "TypeError: field 'a': expected Point, got Rect instance")
      assert.are.same({ 1, 2 }, { p.x, p.y })
    end)

    it("copy a structure assigned to a structure field", function()
      local r, p = Rect(), Point(5, 6)
      r.a = p
      p.x = 0
      assert.are.same({ 5, 6 }, { r.a.x, r.a.y })
      r.b = r.a
      assert.are.same({ 5, 6 }, { r.b.x, r.b.y })
    end)

    it("assign a table to an aggregate field, all or nothing", function()
      local r = Rect(Point(1, 2), Point(3, 4))
      r.a = { x = 10 }
      assert.are.same({ 10, 0 }, { r.a.x, r.a.y })
      r.b = { 7, 8 }
      assert.are.same({ 7, 8 }, { r.b.x, r.b.y })
      assert.has_error(function() r.b = { 1, "two" } end,
        "TypeError: field 'b.y': expected c_int, got string")
      assert.are.same({ 7, 8 }, { r.b.x, r.b.y })
    end)
  end)

  describe("initialisers", function()
    it("take positional values in field order", function()
      local p = Point(3, 4)
      assert.are.same({ 3, 4 }, { p.x, p.y })
      local q = Point(3)
      assert.are.same({ 3, 0 }, { q.x, q.y })
    end)

    it("take one table by name, by position or both", function()
      local p = Point{ x = 3, y = 4 }
      assert.are.same({ 3, 4 }, { p.x, p.y })
      local q = Point{ y = 9 }
      assert.are.same({ 0, 9 }, { q.x, q.y })
      local r = Point{ 5, 6 }
      assert.are.same({ 5, 6 }, { r.x, r.y })
      local s = Point{ 5, y = 6 }
      assert.are.same({ 5, 6 }, { s.x, s.y })
      local e = Point{}
      assert.are.same({ 0, 0 }, { e.x, e.y })
    end)

    it("take nested tables for nested structures and arrays", function()
      local r = Rect{ a = { x = 1, y = 2 }, b = { 3, 4 } }
      assert.are.same({ 1, 2, 3, 4 }, { r.a.x, r.a.y, r.b.x, r.b.y })
      local r2 = Rect({ 5, 6 }, Point(7, 8))
      assert.are.same({ 5, 6, 7, 8 }, { r2.a.x, r2.a.y, r2.b.x, r2.b.y })
      local Poly = ctypes.Structure("Poly", { _fields_ = {
        { "n", c_int }, { "pts", Point * 3 }, { "m", (c_short * 2) * 2 } } })
      local poly = Poly{ n = 2, pts = { { 1, 2 }, { x = 3, y = 4 } },
                         m = { { 1, 2 }, { 3, 4 } } }
      assert.are.same({ 2, 1, 2, 3, 4, 0, 0 }, { poly.n, poly.pts[0].x,
        poly.pts[0].y, poly.pts[1].x, poly.pts[1].y, poly.pts[2].x,
        poly.pts[2].y })
      assert.are.same({ 1, 2, 3, 4 }, { poly.m[0][0], poly.m[0][1],
        poly.m[1][0], poly.m[1][1] })
    end)

    it("reject too many values, duplicates and unknown names", function()
      assert.has_error(function() Point(1, 2, 3) end,
        "TypeError: too many initializers for Point (3 given, at most 2)")
      assert.has_error(function() Point{ 1, 2, 3 } end,
        "TypeError: too many initializers for Point (3 given, at most 2)")
      assert.has_error(function() Point{ 1, x = 2 } end,
        "TypeError: duplicate values for field 'x'")
      assert.has_error(function() Point{ z = 2 } end,
        "AttributeError: 'Point' object has no attribute 'z'")
      assert.has_error(function() Point{ [true] = 2 } end,
        "TypeError: Point initializer: bad key true (field names are strings)")
      assert.has_error(function() Point("a") end,
        "TypeError: field 'x': expected c_int, got string")
      assert.has_error(function() Rect{ a = { x = "no" } } end,
        "TypeError: field 'a.x': expected c_int, got string")
      local Outer = ctypes.Structure("Outer", { _fields_ = { { "r", Rect } } })
      assert.has_error(function() Outer{ r = { b = { 1, {} } } } end,
        "TypeError: field 'r.b.y': expected c_int, got table")
      assert.has_error(function() Rect(1) end,
        "TypeError: field 'a': expected Point, got integer")
    end)
  end)

  describe("character array members", function()
    local Rec = ctypes.Structure("Rec", { _fields_ = {
      { "id", c_int }, { "name", c_char * 5 }, { "w", ctypes.c_wchar * 4 } } })
    local function bytes(r) return ctypes.string_at(ctypes.addressof(r) + Rec.name.offset, 5) end

    it("read as strings up to the first NUL, as ctypes reads bytes/str", function()
      local r = Rec{ id = 1, name = "abc", w = "h\u{e9}" }
      assert.are.equal("abc", r.name)            -- was an array view
      assert.is_true(r.name == "abc")
      assert.are.equal("h\u{e9}", r.w)
      r.name = "abcde"                           -- full: no NUL to stop at
      assert.are.equal("abcde", r.name)
      -- the array itself stays reachable as a view, as in Python
      local view = (c_char * 5).from_buffer(r, Rec.name.offset)
      assert.are.equal("abcde", view.raw)
      view[0] = "X"
      assert.are.equal("Xbcde", r.name)
      -- unions and anonymous members read the same way
      local U = ctypes.Union("TextU", { _fields_ = { { "i", c_int }, { "s", c_char * 4 } } })
      assert.are.equal("AB", U((string.unpack("=i4", "AB\0\0"))).s)   -- either byte order
    end)

    it("store strings as ctypes' member setters do", function()
      -- Python: x.name = b"#####"; x.name = b"a\0b\0" leaves b"a\0###"
      local r = Rec()
      r.name = "#####"
      r.name = "a\0b\0"
      assert.are.equal("a\0###", bytes(r))       -- it copied past the NUL before
      assert.are.equal("a", r.name)
      r.name = "#####"
      r.name = "ab"
      assert.are.equal("ab\0##", bytes(r))
      assert.has_error(function() r.name = "abcdef" end,
                       "ValueError: string too long (6 bytes, at most 5)")
      assert.are.equal("ab\0##", bytes(r))
      -- c_wchar members: the text and a NUL if there is room, the rest kept
      r.w = "abcd"
      r.w = "x"
      local w = (ctypes.c_wchar * 4).from_buffer(r, Rec.w.offset)
      assert.are.same({ "x", "\0", "c", "d" }, { w[0], w[1], w[2], w[3] })
      assert.has_error(function() r.w = "abcde" end,
                       "ValueError: string too long (5 characters, at most 4)")
      -- other values are still refused naming the field
      assert.has_error(function() r.name = 5 end,
                       "TypeError: field 'name': expected c_char_Array_5, got integer")
    end)
  end)

  describe("unions", function()
    local Value = ctypes.Union("Value", { _fields_ = {
      { "i", c_int }, { "d", c_double }, { "bytes", c_char * 12 } } })

    it("overlay every field at offset 0, sized like C", function()
      assert.are.equal(oracle("sizeof", "Value"), sizeof(Value))
      assert.are.equal(oracle("alignof", "Value"), alignment(Value))
      assert.are.same({ 0, 0, 0 }, { Value.i.offset, Value.d.offset,
                                     Value.bytes.offset })
      local v = Value()
      v.d = 1.0
      -- the first 4 bytes of 1.0: its low half, its high half on s390x
      assert.are.equal(BIG and 0x3ff00000 or 0, v.i)
      v.i = 0x41424344
      assert.are.equal(BIG and "ABCD" or "DCBA", v.bytes)   -- c_char members read as text
    end)

    it("initialise like a structure (by name is the useful form)", function()
      assert.are.equal(2.5, Value{ d = 2.5 }.d)
      assert.are.equal(7, Value(7).i)
    end)
  end)

  describe("incomplete types", function()
    it("are completed once by assigning _fields_, for linked lists", function()
      local Node = ctypes.Structure("Node")
      local PNode = POINTER(Node)
      assert.has_error(function() return sizeof(Node) end,
        "TypeError: sizeof: Node is an incomplete type (_fields_ not set)")
      assert.has_error(function() return alignment(Node) end,
        "TypeError: alignment: Node is an incomplete type (_fields_ not set)")
      assert.has_error(function() return Node.from_buffer_copy("12345678") end,
        "TypeError: from_buffer_copy: Node is an incomplete type (_fields_ not set)")
      assert.has_error(function() Node() end,
        "TypeError: Node is an incomplete type (_fields_ not set)")
      assert.is_nil(Node._fields_)
      Node._fields_ = { { "value", c_int }, { "next", PNode } }
      assert.are.equal(oracle("sizeof", "Node"), sizeof(Node))
      local c = Node(3)
      local b = Node(2, ctypes.pointer(c))
      local a = Node(1, ctypes.pointer(b))
      assert.are.equal(6, cfunc("fx_node_sum", c_int, PNode)(a))
      assert.are.equal(3, a.next.contents.next.contents.value)
      assert.has_error(function() Node._fields_ = { { "x", c_int } } end,
        "AttributeError: _fields_ is final (Node already has its fields)")
    end)

    it("can take the body first and _pack_ before _fields_", function()
      local S = ctypes.Structure("S", { hello = function() return "hi" end })
      S._pack_ = 1
      S._fields_ = { { "c", c_char }, { "i", c_int } }
      assert.are.same({ 5, 1 }, { sizeof(S), S.i.offset })
      assert.are.equal("hi", S().hello())
      assert.has_error(function() S._pack_ = 2 end,
        "AttributeError: _pack_ must be set before _fields_")
    end)

    it("cannot contain themselves or other incomplete types by value", function()
      local Node = ctypes.Structure("Node")
      assert.has_error(function()
        Node._fields_ = { { "v", c_int }, { "self", Node } }
      end, "TypeError: field 'self': Node cannot contain itself by value " ..
           "(use POINTER(Node))")
      local Other = ctypes.Structure("Other")
      assert.has_error(function()
        ctypes.Structure("S", { _fields_ = { { "o", Other } } })
      end, "TypeError: field 'o': Other is an incomplete type (_fields_ not set)")
      -- a failed assignment leaves the type incomplete, ready for another
      Node._fields_ = { { "v", c_int } }
      assert.are.equal(4, sizeof(Node))
    end)
  end)

  describe("bad definitions", function()
    it("name the problem", function()
      assert.has_error(function() ctypes.Structure(42, {}) end,
        "TypeError: Structure: name must be a string, got integer")
      assert.has_error(function() ctypes.Union("U", 5) end,
        "TypeError: Union: body must be a table, got integer")
      assert.has_error(function() ctypes.Structure("S", { _fields_ = 5 }) end,
        "TypeError: _fields_ must be a table of {name, type[, bits]} " ..
        "entries, got integer")
      assert.has_error(function() ctypes.Structure("S", { _fields_ = { "x" } }) end,
        "TypeError: _fields_[1] must be a table {name, type[, bits]}, got string")
      assert.has_error(function()
        ctypes.Structure("S", { _fields_ = { { 1, c_int } } })
      end, "TypeError: _fields_[1]: field name must be a string, got integer")
      assert.has_error(function()
        ctypes.Structure("S", { _fields_ = { { "x", "int" } } })
      end, "TypeError: field 'x': expected a ctypes type, got string")
      assert.has_error(function()
        ctypes.Structure("S", { _fields_ = { { "x", c_int(1) } } })
      end, "TypeError: field 'x': expected a ctypes type, got c_int instance")
      assert.has_error(function()
        ctypes.Structure("S", { _fields_ = { { "x", c_int }, { "x", c_short } } })
      end, "TypeError: duplicate field name 'x' in S")
      assert.has_error(function()
        ctypes.Structure("S", { _fields_ = { { "", c_int } } })
      end, "ValueError: _fields_[1]: empty field name (only bit fields may " ..
           "be unnamed)")
      -- a field type above 2^56 bytes; a 32-bit machine cannot make the array
      if helper.platform.pointer_size == 8 then
        assert.has_error(function()
          ctypes.Structure("S", { _fields_ = { { "big", c_char * 2^40 * 2^20 } } })
        end, "OverflowError: field 'big': type too large")
      else
        assert.has_error(function() return c_char * 2^40 * 2^20 end,
                         "OverflowError: array too large")
      end
      assert.has_error(function()
        ctypes.Structure("S", { _anonymous_ = "u", _fields_ = {} })
      end, "TypeError: _anonymous_ must be a table of field names, got string")
    end)
  end)

  describe("the constructors", function()
    it("are the core's, one per variant; no private helper is public", function()
      local core = require("ctypes.core")
      for _, k in ipairs({ "Structure", "Union", "BigEndianStructure",
                           "LittleEndianStructure", "BigEndianUnion",
                           "LittleEndianUnion" }) do
        assert.are.equal("function", type(core[k]), k)
        assert.are.equal(core[k], ctypes[k], k)
      end
      assert.is_nil(rawget(core, "_struct_define"))
      assert.is_nil(rawget(ctypes, "_struct_define"))
      assert.are.equal(sizeof(c_double),
                       sizeof(ctypes.BigEndianUnion("BU", { _fields_ = {
                         { "a", c_int }, { "b", c_double } } })))
      -- the Lua modules are tables of public names, merged into ctypes
      assert.are.equal(ctypes.cdll, require("ctypes.library").cdll)
    end)
  end)

  describe("deep nesting", function()
    it("works up to 1000 levels and refuses more", function()
      local T, init = c_int, 7
      for i = 1, 1000 do
        T = ctypes.Structure("Deep" .. i, { _fields_ = { { "m", T } } })
        init = { init }
      end
      local v = T(init)
      for _ = 1, 1000 do v = v.m end
      assert.are.equal(7, v)
      -- initialising, copying and passing recurse once per level in C
      assert.has_error(function()
        ctypes.Structure("Deeper", { _fields_ = { { "m", T } } })
      end, "ValueError: field 'm': type nested too deeply (more than 1000 " ..
           "levels of arrays and structures)")
      assert.has_error(function() return T * 1 end,
        "ValueError: array type nested too deeply (more than 1000 levels " ..
        "of arrays and structures)")
    end)

    it("does not count deriving as nesting", function()
      local B = ctypes.Structure("Gen0", { _fields_ = { { "x0", c_int } } })
      for i = 1, 1500 do
        B = ctypes.Structure("Gen" .. i, { _base_ = B, _fields_ = { { "x" .. i, c_int } } })
      end
      assert.are.equal(1501 * 4, ctypes.sizeof(B))
      assert.are.equal(1501 * 4, ctypes.sizeof(B * 1) // 1)
    end)
  end)

  describe("_anonymous_", function()
    local Parts = ctypes.Structure("Parts", { _fields_ = {
      { "lo", c_short }, { "hi", c_short } } })
    local U = ctypes.Union("U", { _fields_ = {
      { "i", c_int }, { "f", c_float }, { "parts", Parts } } })
    local XY = ctypes.Structure("XY", { _fields_ = { { "x", c_char }, { "y", c_char } } })
    local Anon = ctypes.Structure("Anon", {
      _anonymous_ = { "u", "s" },
      _fields_ = { { "tag", c_int }, { "u", U }, { "s", XY } },
    })

    it("makes the members' fields reachable directly", function()
      assert.are.equal(oracle("sizeof", "Anon"), sizeof(Anon))
      assert.are.equal(oracle("offsetof", "Anon_u"), Anon.u.offset)
      assert.are.equal(oracle("offsetof", "Anon_s"), Anon.s.offset)
      assert.are.equal(Anon.u.offset, Anon.i.offset)
      assert.are.equal(Anon.s.offset + 1, Anon.y.offset)
      local a = Anon.in_dll(lib, "fx_anon_global")
      assert.are.same({ 7, 0x1234, 0x5678, "x", "y" },
                      { a.tag, a.parts.lo, a.u.parts.hi, a.x, a.y })
      local b = Anon{ tag = 1, i = 0x00020001, y = "q" }
      -- hi, the second short of i: its high half (its low half on s390x)
      assert.are.same({ 1, BIG and 1 or 2, "q" }, { b.tag, b.u.parts.hi, b.s.y })
      b.parts = { hi = 9 }
      assert.are.equal(9, cfunc("fx_anon_hi", c_int, POINTER(Anon))(b))
    end)

    it("promotes the fields of nested anonymous members, not their names", function()
      -- CPython's test_anon test_nested: Y.a.offset == Y.b.offset == 4 (it
      -- was "duplicate field name '_'"); gcc's C11 anonymous members agree
      local ANON_S = ctypes.Structure("ANON_S", { _fields_ = { { "a", c_int } } })
      local ANON_U = ctypes.Union("ANON_U", {
        _fields_ = { { "_", ANON_S }, { "b", c_int } }, _anonymous_ = { "_" } })
      local Y = ctypes.Structure("Y", {
        _fields_ = { { "x", c_int }, { "_", ANON_U }, { "y", c_int } },
        _anonymous_ = { "_" } })
      assert.are.same({ 0, 4, 4, 4, 8, 12 }, { Y.x.offset, Y.a.offset, Y.b.offset,
                                               Y._.offset, Y.y.offset, sizeof(Y) })
      assert.are.same({ oracle("offsetof", "AnonNest_a"), oracle("offsetof", "AnonNest_b"),
                        oracle("offsetof", "AnonNest_y"), oracle("sizeof", "AnonNest") },
                      { Y.a.offset, Y.b.offset, Y.y.offset, sizeof(Y) })
      local y = Y()
      y.a = 5
      assert.are.same({ 5, 5, 5 }, { y.b, y._.b, y._._.a })
      local z = Y{ x = 1, b = 7, y = 3 }
      assert.are.same({ 1, 7, 3 }, { z.x, z.a, z.y })
    end)

    it("rejects names that are not aggregate fields", function()
      assert.has_error(function()
        ctypes.Structure("S", { _anonymous_ = { "u" }, _fields_ = { { "i", c_int } } })
      end, "AttributeError: 'u' is specified in _anonymous_ but not in _fields_")
      assert.has_error(function()
        ctypes.Structure("S", { _anonymous_ = { "i" }, _fields_ = { { "i", c_int } } })
      end, "TypeError: _anonymous_ field 'i' must be a structure or union, " ..
           "got c_int")
      assert.has_error(function()
        ctypes.Structure("S", { _anonymous_ = { "u", "u2" }, _fields_ = {
          { "u", U }, { "u2", U } } })
      end, "TypeError: duplicate field name 'i' in S (from anonymous 'u2')")
    end)
  end)

  describe("deriving with _base_", function()
    local Base = ctypes.Structure("Base", {
      _fields_ = { { "name", c_char * 5 }, { "id", c_short } },
      describe = function(self) return self.name .. "#" .. self.id end,
      kind = function() return "base" end,
    })
    local Derived = ctypes.Structure("Derived", {
      _base_ = Base,
      _fields_ = { { "extra", c_int }, { "flag", c_char } },
      kind = function() return "derived" end,
    })

    it("appends the new fields after the base's, as a ctypes subclass", function()
      assert.are.equal(oracle("sizeof", "Derived"), sizeof(Derived))
      assert.are.equal(oracle("alignof", "Derived"), alignment(Derived))
      assert.are.equal(oracle("offsetof", "Derived_extra"), Derived.extra.offset)
      assert.are.equal(oracle("offsetof", "Derived_flag"), Derived.flag.offset)
      assert.are.equal(Base.id, Derived.id)
      assert.are.equal(Base, Derived._base_)
    end)

    it("initialises base fields first and inherits methods", function()
      local d = Derived("abc", 7, 42, "\1")
      assert.are.equal(7000 + 420 + 1,
                       cfunc("fx_derived_check", c_int, POINTER(Derived))(d))
      assert.are.equal("abc#7", d:describe())
      assert.are.equal("derived", d.kind())
      assert.are.equal("base", Base().kind())
      assert.has_error(function()
        ctypes.Structure("D", { _base_ = c_int, _fields_ = {} })
      end, "TypeError: _base_ must be a structure type, got type c_int")
      assert.has_error(function()
        ctypes.Structure("D", { _base_ = ctypes.Structure("I"), _fields_ = {} })
      end, "TypeError: _base_ I is an incomplete type (_fields_ not set)")
      assert.has_error(function()
        ctypes.Structure("D", { _base_ = Base, _fields_ = { { "id", c_int } } })
      end, "TypeError: duplicate field name 'id' in D")
    end)
  end)

  describe("deriving unions", function()
    it("overlays the new members on the base's", function()
      local U1 = ctypes.Union("U1", { _fields_ = { { "i", c_int } } })
      local U2 = ctypes.Union("U2", { _base_ = U1, _fields_ = {
        { "d", c_double }, { "c", c_char } } })
      assert.are.same({ 8, helper.platform.double_align, 0, 0 },
                      { sizeof(U2), alignment(U2), U2.i.offset, U2.d.offset })
      local u = U2{ i = 0x41 }
      assert.are.equal(BIG and "\0" or "A", u.c)   -- i's first byte
      assert.has_error(function()
        ctypes.Union("U3", { _base_ = Point, _fields_ = {} })
      end, "TypeError: _base_ must be a union type, got type Point")
      local P3 = ctypes.Structure("P3", { _base_ = ctypes.Structure("P1", {
        _pack_ = 1, _fields_ = { { "c", c_char } } }), _fields_ = {
        { "i", c_int } } })
      assert.are.same({ 5, 1 }, { sizeof(P3), P3.i.offset })   -- _pack_ inherited
    end)
  end)

  describe("byte order", function()
    local BE = ctypes.BigEndianStructure("BE", { _fields_ = {
      { "s", c_short }, { "a", ctypes.c_uint, 4 }, { "b", ctypes.c_uint, 12 },
      { "i", c_int }, { "d", c_double } } })

    it("stores BigEndianStructure fields big-endian, laid out like C", function()
      assert.are.equal(oracle("sizeof", "BE"), sizeof(BE))
      assert.are.equal(oracle("offsetof", "BE_i"), BE.i.offset)
      assert.are.equal(oracle("offsetof", "BE_d"), BE.d.offset)
      local g = BE.in_dll(lib, "fx_be_global")
      assert.are.same({ -2, 9, 0xabc, 0x01020304, 1.5 },
                      { g.s, g.a, g.b, g.i, g.d })
      local v = BE{ s = 0x0102, i = -5, b = 0x123 }
      assert.are.equal("\1\2", ctypes.string_at(ctypes.addressof(v), 2))
      assert.are.equal(-5, cfunc("fx_be_get_i", c_int, POINTER(BE))(v))
      assert.are.equal(0x123, cfunc("fx_be_get_b", ctypes.c_uint, POINTER(BE))(v))
      -- on a big-endian machine the types are the native ones, as in ctypes
      assert.are.equal(BIG and "c_short" or "c_short_be", tostring(BE.s.type))
      assert.are.equal("<Field type=" .. (BIG and "c_uint" or "c_uint_be") ..
                       ", ofs=0:12, bits=4>", tostring(BE.a))
    end)

    it("turns arrays into arrays of the byte-swapped type", function()
      local BA = ctypes.BigEndianStructure("BA", { _fields_ = {
        { "a", c_short * 2 }, { "m", (c_int * 2) * 1 } } })
      assert.are.equal(BIG and "c_short_Array_2" or "c_short_be_Array_2", tostring(BA.a.type))
      local v = BA{ a = { 0x0102, 0x0304 } }
      v.m[0][1] = 0x05060708
      assert.are.equal("\1\2\3\4\0\0\0\0\5\6\7\8",
                       ctypes.string_at(ctypes.addressof(v), 12))
      assert.are.same({ 0x0102, 0x0304, 0x05060708 }, { v.a[0], v.a[1], v.m[0][1] })
    end)

    it("keeps LittleEndianStructure native here, unions too", function()
      local LE = ctypes.LittleEndianStructure("LE", { _fields_ = { { "i", c_int } } })
      local v = LE(0x01020304)
      assert.are.equal("\4\3\2\1", ctypes.string_at(ctypes.addressof(v), 4))
      local BU = ctypes.BigEndianUnion("BU", { _fields_ = {
        { "i", c_int }, { "c", c_char * 4 } } })
      assert.are.equal("\1\2\3\4", BU(0x01020304).c)
      local LU = ctypes.LittleEndianUnion("LU", { _fields_ = {
        { "i", c_int }, { "c", c_char * 4 } } })
      assert.are.equal("\4\3\2\1", LU(0x01020304).c)
    end)

    it("refuses types without another byte order, as ctypes", function()
      -- the other byte order: big-endian, little-endian on s390x
      local Other = BIG and ctypes.LittleEndianStructure or ctypes.BigEndianStructure
      assert.has_error(function()
        Other("S", { _fields_ = { { "p", c_char_p } } })
      end, "TypeError: field 'p': This type does not support other endian: c_char_p")
      assert.has_error(function()
        Other("S", { _fields_ = { { "p", POINTER(c_int) } } })
      end, "TypeError: field 'p': This type does not support other endian: LP_c_int")
      -- nested structures are taken as they are
      local S = Other("S", { _fields_ = { { "p", Point } } })
      assert.are.equal(Point, S.p.type)
    end)
  end)

  describe("keep-alive of stored references", function()
    local Named = ctypes.Structure("Named", { _fields_ = {
      { "name", c_char_p }, { "where", POINTER(c_int) } } })
    local len = cfunc("fx_named_len", c_size_t, POINTER(Named))
    local where = cfunc("fx_named_where", c_int, POINTER(Named))

    local function churn()
      helper.gc()
      local junk = {}
      for i = 1, 2000 do junk[i] = ("x"):rep(i % 50 + 20) .. i end
      helper.gc()
    end

    it("keeps strings and objects stored into pointer fields", function()
      local n = Named()
      n.name = ("abc"):rep(10) .. tostring(n)
      n.where = c_int(77)
      churn()
      assert.are.equal(30 + #tostring(n), len(n))
      assert.are.equal(77, where(n))
      local m = Named{ name = ("q"):rep(40), where = ctypes.pointer(c_int(5)) }
      churn()
      assert.are.same({ 40, 5 }, { len(m), where(m) })
    end)

    it("keeps the converted copy of a wide string", function()
      local W = ctypes.Structure("W", { _fields_ = { { "w", ctypes.c_wchar_p } } })
      local w = W{ w = "h\u{e9}llo " .. ("\u{2603}"):rep(20) }
      churn()
      assert.are.equal("h\u{e9}llo " .. ("\u{2603}"):rep(20), w.w)
      w.w = nil
      assert.is_nil(w.w)
    end)

    it("keeps them through nested structures and copies", function()
      local Outer = ctypes.Structure("Outer", { _fields_ = {
        { "pad", c_int }, { "n", Named } } })
      local o = Outer()
      o.n = { name = ("z"):rep(33), where = c_int(8) }
      churn()
      assert.are.same({ 33, 8 }, { len(o.n), where(o.n) })
      local o2 = Outer()
      do
        local src = Named{ name = ("w"):rep(21), where = c_int(9) }
        o2.n = src
      end
      churn()
      assert.are.same({ 21, 9 }, { len(o2.n), where(o2.n) })
      o2.n.name = nil
      assert.are.equal(0, len(o2.n))
    end)
  end)
end)
