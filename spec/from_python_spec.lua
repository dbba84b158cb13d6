-- doc/from-python.md: every row of the idioms table runs.  The Lua column is
-- taken from the page (its code spans, joined by newlines), run after the
-- page's prelude and the row's setup below, and what it made is checked
-- against values from Python's ctypes doing the same (python3, when the rows
-- were written) or from C.  A row without a check here, or a check without
-- its row, fails.
local helper = require("spec.helper")

local PRELUDE = [[
local ctypes = require("ctypes")
local c_int, c_char_p = ctypes.c_int, ctypes.c_char_p
local libc = ctypes.CDLL(nil)
]]

-- keyed by the Python column, exactly as on the page:
--   pre: Lua run before the row's code; post: an expression list returned
--   after it; want: the values post must give
local rows = {
  ["`from ctypes import *`"] = {
    post = "type(ctypes), type(ctypes.c_int), ctypes.sizeof(ctypes.c_int)",
    want = { "table", "userdata", 4 } },
  ['`libm = CDLL("libm.so.6")`'] = {
    post = "libm._name", want = { "libm.so.6" } },
  ["`CDLL(None)`"] = {
    post = "libc._name, (pcall(ctypes.CDLL))", want = { nil, false } },
  ['`cdll.LoadLibrary("libm.so.6")`'] = {
    post = "libm._name, libm ~= ctypes.cdll.LoadLibrary('libm.so.6')",
    want = { "libm.so.6", true } },
  ["`cdll.libm` (attribute access on the loader)"] = {
    post = "libm._name, libm == ctypes.cdll['libm.so.6']", want = { "libm.so.6", true } },
  ['`ctypes.util.find_library("m")`'] = {
    post = "name", want = { "libm.so.6" } },
  ['`libc.strlen`, `libc["strlen"]`'] = {
    post = "strlen == libc['strlen'], strlen('four')", want = { true, 4 } },
  ["`f.argtypes = [c_char_p, c_int]`"] = {
    post = "#libc.atoi.argtypes, libc.atoi.argtypes[1] == c_char_p, libc.atoi('42')",
    want = { 1, true, 42 } },
  ["`f.restype = c_double`"] = {
    pre = "libc.atof.argtypes = { c_char_p }",
    post = "libc.atof('2.5')", want = { 2.5 } },
  ["`f.restype = None`"] = {
    pre = "libc.srand.argtypes = { ctypes.c_uint }",
    post = "select('#', libc.srand(1))", want = { 0 } },
  ['`f(b"bytes")`, `bytes` results'] = {
    post = "n", want = { 5 } },
  ["`str` for `c_wchar_p`"] = {
    post = "w.value, ctypes.sizeof(ctypes.c_wchar)", want = { "héllo", 4 } },
  ["`None` for NULL"] = {
    post = "p.value, tostring(p)", want = { nil, "c_char_p(nil)" } },
  ["`c_int(42).value`"] = { post = "v, math.type(v)", want = { 42, "integer" } },
  ["`repr(c_int(42))`"] = { post = "s", want = { "c_int(42)" } },
  ["`sizeof(c_long)`, `alignment(c_long)`"] = {
    -- C's long, as string.pack knows it (8 bytes on x86-64)
    post = "n == string.packsize('l'), ctypes.alignment(ctypes.c_long) == string.packsize('l')",
    want = { true, true } },
  ["`(c_int * 3)(1, 2, 3)`"] = {
    post = "tostring(c_int * 3), a[0], a[1], a[2], (c_int * 3){1, 2, 3}[2]",
    want = { "c_int_Array_3", 1, 2, 3, 3 } },
  ["`len(a)`"] = { pre = "local a = (c_int * 5)()", post = "n", want = { 5 } },
  ["`a[0]`"] = {
    pre = "local a = (c_int * 3)(7, 8, 9)",
    post = "first, select(2, pcall(function() return a[3] end))",
    want = { 7, "IndexError: invalid index 3 (valid: 0 to 2; " ..
      "iterate with pairs(a) or for i = 0, #a - 1)" } },
  ["`for x in a:`"] = {
    pre = "local a = (c_int * 3)(5, 6, 7)",
    post = "printed", want = { "0 5\n1 6\n2 7\n" } },
  ["`a[1:3]` (a list)"] = {
    pre = "local a = (c_int * 5)(1, 2, 3, 4, 5)",
    post = "#part, part[1], part[2]", want = { 2, 2, 3 } },
  ["`a[1:3]` as memory"] = {
    pre = "local a = (c_int * 5)(1, 2, 3, 4, 5)",
    -- writing through the view writes a
    post = "#view, view[0], view[1], (function() view[0] = 20; return a[1] end)()",
    want = { 2, 2, 3, 20 } },
  ["`buf[1:3]` of a char array"] = {
    pre = 'local buf = ctypes.create_string_buffer("hello", 10)',
    post = "bytes", want = { "el" } },
  ['`create_string_buffer(b"hi", 10)`'] = {
    post = "buf.value, buf.raw, ctypes.sizeof(buf)", want = { "hi", "hi" .. ("\0"):rep(8), 10 } },
  ["`byref(x)`"] = {
    -- long strtol(const char *, char **end, int): end is an out parameter
    pre = "local x = c_char_p()\n" ..
          "libc.strtol.argtypes = { c_char_p, ctypes.POINTER(c_char_p), c_int }",
    post = "libc.strtol('42abc', r, 10), x.value", want = { 42, "abc" } },
  ["`pointer(x)`"] = {
    pre = "local x = c_int(5)",
    post = "p[0], tostring(ctypes.POINTER(c_int)), (function() x = nil; collectgarbage(); return p[0] end)()",
    want = { 5, "LP_c_int", 5 } },
  ["`POINTER(c_int)`"] = {
    post = "tostring(IntP), IntP == ctypes.POINTER(c_int), ctypes.is_null(IntP())",
    want = { "LP_c_int", true, true } },
  ["`p.contents`"] = {
    pre = "local x = c_int(5); local p = ctypes.pointer(x)",
    post = "target.value, (function() target.value = 6; return x.value end)()",
    want = { 5, 6 } },
  ["`p[0]`"] = {
    pre = "local x = c_int(5); local p = ctypes.pointer(x)",
    post = "x.value", want = { 7 } },
  ["`if p:` / `bool(p)`"] = {
    pre = "local p = ctypes.POINTER(c_int)()",
    post = "set, (p and true)", want = { false, true } },
  ["`cast(obj, c_void_p).value`"] = {
    pre = "local x = c_int(5); local p = ctypes.pointer(x)",
    post = "addr == ctypes.addressof(x), math.type(addr)", want = { true, "integer" } },
  ["`addressof(x)`"] = {
    pre = "local x = c_int(5)",
    post = "math.type(addr), c_int.from_address(addr).value", want = { "integer", 5 } },
  ['`class Point(Structure): _fields_ = [("x", c_int), ("y", c_int)]`'] = {
    post = "tostring(Point), ctypes.sizeof(Point), tostring(Point.y)",
    want = { "Point", 8, "<Field type=c_int, ofs=4, size=4>" } },
  ["`Point(1, 2)`, `Point(x=1, y=2)`"] = {
    pre = 'local Point = ctypes.Structure("Point", { _fields_ = { {"x", c_int}, {"y", c_int} } })',
    post = "p.x, p.y, q.x, q.y", want = { 1, 2, 1, 2 } },
  ["methods in the class body"] = {
    pre = 'local Point = ctypes.Structure("Point", { _fields_ = { {"x", c_int}, {"y", c_int} } })',
    post = "Point(3, 4):sum()", want = { 7 } },
  ['subclassing: `class Point3(Point): _fields_ = [("z", c_int)]`'] = {
    pre = 'local Point = ctypes.Structure("Point", { _fields_ = { {"x", c_int}, {"y", c_int} } })',
    post = "Point3(1, 2, 3).z, Point3.z.offset, ctypes.sizeof(Point3)", want = { 3, 8, 12 } },
  ["`class Node(Structure): pass`, then `Node._fields_ = [...]`"] = {
    post = "ctypes.sizeof(Node) == ctypes.sizeof(ctypes.c_void_p), ctypes.is_null(Node().next)",
    want = { true, true } },
  ['`_pack_ = 1`, bit field `("f", c_uint, 3)`'] = {
    -- gcc (#pragma pack(1)): struct { unsigned f:3; double d; } is 9 bytes,
    -- d at 1; Python 3.11's ctypes says 12 and 4 (see doc/structures.md).
    -- f fills its unit from the most significant bit where gcc does
    -- (s390x): bits 29-31, counted from the unit's least significant bit
    post = "ctypes.sizeof(Packed), Packed.d.offset, tostring(Packed.f)",
    want = { 9, 1, ("<Field type=c_uint, ofs=0:%d, bits=3>"):format(
      helper.platform.bits_msb_first and 29 or 0) } },
  ["`Point.y.offset`"] = {
    pre = 'local Point = ctypes.Structure("Point", { _fields_ = { {"x", c_int}, {"y", c_int} } })',
    post = "off", want = { 4 } },
  ["`class U(Union)`, `BigEndianStructure`"] = {
    post = "ctypes.sizeof(U), U{ f = 1.0 }.i, " ..
           "ctypes.BigEndianStructure('B', { _fields_ = { {'i', c_int} } })(1).i",
    want = { 4, 0x3f800000, 1 } },
  ["`CFUNCTYPE(c_int, c_int, c_int)`"] = {
    post = "tostring(BinOp), BinOp == ctypes.CFUNCTYPE(c_int, c_int, c_int)",
    want = { "CFunctionType", true } },
  ["`BinOp(py_function)`, `@CFUNCTYPE(...)`"] = {
    pre = "local BinOp = ctypes.CFUNCTYPE(c_int, c_int, c_int)",
    post = "add(2, 3), ctypes.cast(add, ctypes.c_void_p).value ~= nil", want = { 5, true } },
  ["`errcheck`"] = {
    post = "libc.atoi('21')", want = { 42 } },
  ['`paramflags`: `proto(("sincos", libm), ((1, "x"), (2, "sin"), (2, "cos")))`'] = {
    pre = "local c_double = ctypes.c_double; local DoubleP = ctypes.POINTER(c_double)\n" ..
          "local libm = ctypes.CDLL('libm.so.6')",
    post = "sincos(0)", want = { 0.0, 1.0 } },
  ["`CDLL(name, use_errno=True)`, `get_errno()`"] = {
    -- strtol sets errno to ERANGE (34) on overflow
    pre = "ctypes.set_errno(0)",
    post = "(function() lc.strtol.argtypes = { c_char_p, ctypes.c_void_p, c_int }\n" ..
           "lc.strtol.restype = ctypes.c_long\n" ..
           "lc.strtol('99999999999999999999', nil, 10) return ctypes.get_errno() end)()",
    want = { 34 } },
  ["`except ctypes.ArgumentError`"] = {
    post = "ok, err", want = { false,
      "ArgumentError: argument 1: TypeError: Don't know how to convert parameter 1 (table)" } },
  ["`memmove`, `memset`, `string_at(addr, n)`"] = {
    pre = 'local buf = ctypes.create_string_buffer("hello")',
    post = "s, ctypes.memset(buf, 65, 1) == ctypes.addressof(buf), buf.value",
    want = { "he", true, "Aello" } },
  ["`c_int.from_buffer(buf, 4)`"] = {
    pre = "local buf = (ctypes.c_ubyte * 8)(0, 0, 0, 0, 1, 1, 0, 0)",
    post = "i.value, select(2, pcall(c_int.from_buffer, 'a string'))",
    -- the bytes 1, 1, 0, 0 as the target's int (0x01010000 on big-endian)
    want = { helper.platform.big_endian and 0x01010000 or 257,
             "TypeError: from_buffer: expected a writable ctypes instance, got string" } },
  ['`c_int.in_dll(lib, "name")`'] = {
    post = "v.value", want = { 1 } },         -- glibc's opterr starts at 1
  ["`_as_parameter_`"] = { post = "n", want = { 3 } },
  ["`from_param` classmethod"] = {
    pre = "local f = libc.abs",
    post = "(function() f.argtypes = { Q }; local ok, e = pcall(f, 5)\n" ..
           "return ok, e end)()",
    want = { true, 5 } },
}

local function page()
  local f = assert(io.open(helper.root .. "/doc/from-python.md"))
  local text = f:read("a")
  f:close()
  local idioms = assert(text:match("\n## Idioms\n(.-)\n## "), "no Idioms section")
  local list = {}
  for line in idioms:gmatch("[^\n]+") do
    local py, lua = line:match("^| (.-) | (`.-`) |.*|$")
    if py and py ~= "Python ctypes" then
      local code = {}
      for span in lua:gmatch("`(.-)`") do code[#code + 1] = span end
      list[#list + 1] = { python = py, code = table.concat(code, "\n") }
    end
  end
  return list
end

describe("doc/from-python.md", function()
  local list = page()

  it("has a check here for every row, and a row for every check", function()
    assert.is_true(#list >= 45)
    local seen = {}
    for _, row in ipairs(list) do
      assert.is_truthy(rows[row.python], "no check for row " .. row.python)
      seen[row.python] = true
    end
    for python in pairs(rows) do
      assert.is_true(seen[python] == true, "no row on the page for " .. python)
    end
  end)

  for _, row in ipairs(list) do
    local check = rows[row.python]
    if check then
      it("runs: " .. row.python, function()
        local printed = {}
        local env = setmetatable({
          print = function(...)
            local t = table.pack(...)
            for i = 1, t.n do t[i] = tostring(t[i]) end
            printed[#printed + 1] = table.concat(t, " ") .. "\n"
          end,
        }, { __index = _G })
        local chunk = PRELUDE .. (check.pre or "") .. "\n" .. row.code ..
          "\nprinted = table.concat(printed_lines)\nreturn " .. check.post
        env.printed_lines = printed
        local fn = assert(load(chunk, "=from-python", "t", env))
        local got = table.pack(fn())
        assert.same(check.want, { table.unpack(got, 1, #check.want) })
        assert.equal(#check.want, got.n)
      end)
    end
  end
end)
