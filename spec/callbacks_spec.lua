-- Callbacks: CFUNCTYPE(restype, argtypes...)(lua_function) as a real C
-- function pointer (doc/callbacks.md).
local ctypes = require("ctypes")
local helper = require("spec.helper")

local lib = ctypes.CDLL(helper.fixture)
local libc = ctypes.CDLL(nil)
local CFUNCTYPE, POINTER = ctypes.CFUNCTYPE, ctypes.POINTER
local c_int, c_double, c_char_p = ctypes.c_int, ctypes.c_double, ctypes.c_char_p

-- a fixture function with its signature declared (through a prototype, so
-- each spec gets its own function object)
local function cfunc(name, restype, argtypes)
  local addr = ctypes.cast(lib[name], ctypes.c_void_p).value
  return CFUNCTYPE(restype, table.unpack(argtypes))(addr)
end

-- runs fn with unraisable reports silenced; restores the settings
local function quietly(fn)
  local old = ctypes.callback_config({ report = false })
  local ok, err = pcall(fn)
  ctypes.callback_config(old)
  if not ok then error(err, 0) end
end

-- long's size and limits (the fixture's sizeof(long))
local LONG8 = helper.platform.long_size == 8
local LONG_MAX, LONG_MIN = helper.platform.long_max, helper.platform.long_min
local ULONG_MAX = helper.platform.ulong_max
-- fx_cb_big's long: one that needs all of a 64-bit long, or most of a 32-bit one
local BIGLONG = LONG8 and 3000000000 or 2000000000

local IntCB = CFUNCTYPE(c_int, c_int)
local call_n = cfunc("fx_cb_call_n", c_int, { IntCB, c_int })
local store = cfunc("fx_cb_store", nil, { IntCB })
local call_stored = cfunc("fx_cb_call_stored", c_int, { c_int })

describe("callbacks", function()

  describe("qsort", function()
    local P = POINTER(c_int)
    local CMP = CFUNCTYPE(c_int, P, P)
    local qsort = libc.qsort
    qsort.argtypes = { ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, CMP }
    qsort.restype = nil

    it("sorts with a Lua comparator taking POINTER(c_int) arguments", function()
      local arr = (c_int * 8)(5, -1, 9, 3, 3, 0, 12, -7)
      local calls = 0
      local cmp = CMP(function(a, b)
        calls = calls + 1
        assert(tostring(ctypes.POINTER(c_int)) == "LP_c_int")
        return a[0] - b[0]
      end)
      qsort(arr, 8, 4, cmp)
      local out = {}
      for i = 0, 7 do out[#out + 1] = arr[i] end
      assert.same({ -7, -1, 0, 3, 3, 5, 9, 12 }, out)
      assert.is_true(calls > 0)
    end)

    it("sorts descending through .contents", function()
      local arr = (c_int * 5)(1, 4, 2, 5, 3)
      qsort(arr, 5, 4, CMP(function(a, b)
        return b.contents.value - a.contents.value
      end))
      assert.same({ 5, 4, 3, 2, 1 }, { arr[0], arr[1], arr[2], arr[3], arr[4] })
    end)

    it("sorts 10000 ints", function()
      local n = 10000
      local arr = (c_int * n)()
      local seed = 7
      for i = 0, n - 1 do
        seed = (seed * 1103515245 + 12345) % 2147483648
        arr[i] = seed % 100000 - 50000
      end
      qsort(arr, n, 4, CMP(function(a, b) return a[0] - b[0] end))
      for i = 1, n - 1 do assert(arr[i - 1] <= arr[i]) end
    end)
  end)

  describe("scalar arguments and results", function()
    -- name, type, argument C passes, value the callback returns, what the
    -- call returns
    local cases = {
      { "bool", ctypes.c_bool, true, false, false },
      { "bool", ctypes.c_bool, false, true, true },
      { "char", ctypes.c_char, "a", "z", "z" },
      { "wchar", ctypes.c_wchar, "é", "ü", "ü" },
      { "byte", ctypes.c_byte, -128, 127, 127 },
      { "ubyte", ctypes.c_ubyte, 255, 1, 1 },
      { "short", ctypes.c_short, -32768, 32767, 32767 },
      { "ushort", ctypes.c_ushort, 65535, 2, 2 },
      { "int", ctypes.c_int, -2147483648, 2147483647, 2147483647 },
      { "uint", ctypes.c_uint, 4294967295, 3, 3 },
      { "long", ctypes.c_long, LONG_MIN, LONG_MAX, LONG_MAX },
      { "ulong", ctypes.c_ulong, ULONG_MAX, 4, 4 },
      { "longlong", ctypes.c_longlong, math.maxinteger, math.mininteger, math.mininteger },
      { "ulonglong", ctypes.c_ulonglong, math.mininteger, -2, -2 },
      { "float", ctypes.c_float, 1.5, -2.25, -2.25 },
      { "double", ctypes.c_double, 1e300, -1e-300, -1e-300 },
      { "longdouble", ctypes.c_longdouble, 0.5, 2.5, 2.5 },
      { "char_p", ctypes.c_char_p, "hello", "world", "world" },
      { "char_p", ctypes.c_char_p, nil, nil, nil },
      { "wchar_p", ctypes.c_wchar_p, "héllo", "wörld", "wörld" },
      { "void_p", ctypes.c_void_p, 0x1234, 0x5678, 0x5678 },
      { "void_p", ctypes.c_void_p, nil, nil, nil },
      -- wrapping results, as for any store into the type
      { "ubyte", ctypes.c_ubyte, 0, 257, 1 },
      { "int", ctypes.c_int, 0, 2^32 + 5, 5 },
      { "int", ctypes.c_int, 0, 7.0, 7 },
      { "bool", ctypes.c_bool, false, 2, true },
    }
    for _, c in ipairs(cases) do
      local name, T, arg, back, want = c[1], c[2], c[3], c[4], c[5]
      it(("%s: %s in, %s out"):format(name, tostring(arg), tostring(back)), function()
        local f = cfunc("fx_cb_" .. name, T, { CFUNCTYPE(T, T), T })
        local got
        local cb = CFUNCTYPE(T, T)(function(x) got = x; return back end)
        assert.equal(want, f(cb, arg))
        assert.equal(arg, got)
        assert.equal(math.type(arg), math.type(got))
      end)
    end

    it("widens narrow results as the C caller expects", function()
      local S = CFUNCTYPE(ctypes.c_short)
      local U = CFUNCTYPE(ctypes.c_ubyte)
      local B = CFUNCTYPE(ctypes.c_bool)
      local F = CFUNCTYPE(ctypes.c_float)
      assert.equal(1, cfunc("fx_cb_short_is", c_int, { S, c_int })(
        S(function() return -3 end), -3))
      assert.equal(1, cfunc("fx_cb_uchar_is", c_int, { U, c_int })(
        U(function() return 200 end), 200))
      assert.equal(1, cfunc("fx_cb_bool_is", c_int, { B, c_int })(
        B(function() return true end), 1))
      assert.equal(1, cfunc("fx_cb_float_is", c_int, { F, c_double })(
        F(function() return 0.1 end), 0.1))
    end)

    it("passes long double both ways", function()
      local LD = CFUNCTYPE(ctypes.c_longdouble, ctypes.c_longdouble)
      local f = cfunc("fx_cb_ld_half", c_int, { LD })
      assert.equal(1, f(LD(function(x) return x / 2 end)))
    end)

    it("runs void callbacks", function()
      local V = CFUNCTYPE(nil, c_int)
      local got
      cfunc("fx_cb_void", nil, { V, c_int })(V(function(x) got = x; return "ignored" end), 42)
      assert.equal(42, got)
    end)

    it("passes strings for c_char_p arguments", function()
      local S = CFUNCTYPE(c_int, c_char_p)
      local f = cfunc("fx_cb_strlen", c_int, { S, c_char_p })
      assert.equal(5, f(S(function(s) assert.equal("hello", s); return #s end), "hello"))
    end)

    it("keeps a c_char_p result alive until the next call", function()
      local S = CFUNCTYPE(c_char_p, c_int)
      local f = cfunc("fx_cb_str_result", c_int, { S, c_int, c_char_p, c_int })
      local buf = ctypes.create_string_buffer(32)
      local cb = S(function(n) return ("x"):rep(n) .. "!" end)
      assert.equal(6, f(cb, 5, buf, 32))
      helper.gc()
      assert.equal("xxxxx!", buf.value)
      assert.equal(-1, f(S(function() return nil end), 1, buf, 32))
    end)

    it("rejects a result of the wrong type with the callback's traceback", function()
      local ok, err = pcall(call_n, IntCB(function() return "nope" end), 1)
      assert.is_false(ok)
      assert.matches("^TypeError: callback result: expected c_int, got string\n"
                     .. "stack traceback:\n", err)
      ok, err = pcall(call_n, IntCB(function() return 1.5 end), 1)
      assert.is_false(ok)
      assert.matches("^TypeError: callback result: expected c_int, got number 1.5", err)
    end)
  end)

  describe("pointer and function arguments", function()
    it("passes pointer CData that read and write C memory", function()
      local CB = CFUNCTYPE(c_int, POINTER(c_int), c_int)
      local f = cfunc("fx_cb_ptr", c_int, { CB, c_int })
      local cb = CB(function(p, k)
        assert.equal("LP_c_int", tostring(ctypes.POINTER(c_int)))
        assert.equal(41, p[0])
        assert.equal(41, p.contents.value)
        p[0] = 77
        return k + 3
      end)
      assert.equal(5077, f(cb, 41))
    end)

    it("passes function pointers as callable function objects", function()
      local G = CFUNCTYPE(c_int, c_int)
      local CB = CFUNCTYPE(c_int, G, c_int)
      local f = cfunc("fx_cb_funarg", c_int, { CB, c_int })
      assert.equal(43, f(CB(function(g, x) return g(x) + 1 end), 21))
    end)
  end)

  describe("structures by value", function()
    local Point = ctypes.Structure("FxCbPoint", {
      _fields_ = { { "x", c_int }, { "y", c_int } } })
    local Big = ctypes.Structure("FxCbBig", {
      _fields_ = { { "a", ctypes.c_long }, { "b", ctypes.c_long },
                   { "c", ctypes.c_long }, { "d", c_double } } })
    local Mixed = ctypes.Structure("FxCbMixed", {
      _fields_ = { { "f", ctypes.c_float }, { "d", c_double } } })
    local Small = ctypes.Structure("FxCbSmall", {
      _fields_ = { { "c", ctypes.c_char }, { "s", ctypes.c_short } } })

    it("receives a copy and returns a structure instance", function()
      local CB = CFUNCTYPE(Point, Point, c_int)
      local f = cfunc("fx_cb_point", Point, { CB, c_int })
      local kept
      local r = f(CB(function(p, k)
        kept = p
        assert.equal(3, p.x); assert.equal(4, p.y)
        return Point(p.x * k, p.y * k)
      end), 10)
      assert.equal(30, r.x); assert.equal(40, r.y)
      helper.gc()
      assert.equal(3, kept.x)  -- an owning copy: valid after the call
    end)

    it("returns a structure from a table", function()
      local CB = CFUNCTYPE(Point, Point, c_int)
      local f = cfunc("fx_cb_point_sum", c_int, { CB, c_int })
      assert.equal(506, f(CB(function(p, k) return { x = p.x + 2, y = p.y + k } end), 2))
      assert.equal(-102, f(CB(function() return { -1, -2 } end), 0))
    end)

    it("passes structures that live in memory and in SSE registers", function()
      local BCB = CFUNCTYPE(Big, Big)
      local b = cfunc("fx_cb_big", Big, { BCB })(BCB(function(v)
        assert.same({ 1, -2, BIGLONG, 0.5 }, { v.a, v.b, v.c, v.d })
        return Big(v.d * 2, v.c, v.b, v.a + 0.25)
      end))
      assert.same({ 1, BIGLONG, -2, 1.25 }, { b.a, b.b, b.c, b.d })
      local MCB = CFUNCTYPE(Mixed, Mixed, Mixed)
      local m = cfunc("fx_cb_mixed", Mixed, { MCB })(MCB(function(x, y)
        return Mixed(x.f + y.f, x.d * y.d)
      end))
      assert.equal(1.0, m.f); assert.equal(18.0, m.d)
      local SCB = CFUNCTYPE(Small, Small)
      local s = cfunc("fx_cb_small", Small, { SCB })(SCB(function(v)
        assert.equal("a", v.c); assert.equal(-7, v.s)
        return Small("b", v.s * 3)
      end))
      assert.equal("b", s.c); assert.equal(-21, s.s)
    end)

    it("passes and returns unions", function()
      local UI = ctypes.Union("FxCbUnionI", { _fields_ = { { "i", c_int }, { "f", ctypes.c_float } } })
      local US = ctypes.Union("FxCbUnionS", {
        _fields_ = { { "f", ctypes.c_float * 2 }, { "d", c_double } } })
      local ICB = CFUNCTYPE(UI, UI)
      local SCB = CFUNCTYPE(US, US)
      assert.equal(43, cfunc("fx_cb_union_i", c_int, { ICB, c_int })(ICB(function(u)
        assert.equal(42, u.i)
        local r = UI(); r.i = u.i + 1; return r
      end), 42))
      assert.equal(-2.5, cfunc("fx_cb_union_s", c_double, { SCB, c_double })(SCB(function(u)
        assert.equal(1.25, u.d)
        local r = US(); r.d = u.d * -2; return r
      end), 1.25))
    end)

    it("returns a structure error value", function()
      local CB = CFUNCTYPE(Point, Point, c_int, { error = { x = -1, y = -2 },
                                                  onerror = function() end })
      local f = cfunc("fx_cb_point_sum", c_int, { CB, c_int })
      assert.equal(-100 - 2, f(CB(function() error("no") end), 0))
      assert.has_error(function()
        CFUNCTYPE(Point, c_int, { error = 5 })(print)
      end, "TypeError: CFUNCTYPE option 'error': expected FxCbPoint, got integer")
    end)

    it("rejects a result of the wrong structure type", function()
      local CB = CFUNCTYPE(Point, Point, c_int)
      local f = cfunc("fx_cb_point", Point, { CB, c_int })
      local ok, err = pcall(f, CB(function() return Small() end), 1)
      assert.is_false(ok)
      assert.matches("^TypeError: callback result: expected FxCbPoint, got FxCbSmall instance", err)
    end)
  end)

  describe("many arguments", function()
    it("passes fourteen mixed arguments in order", function()
      local CB = CFUNCTYPE(c_double, c_int, c_double, ctypes.c_long, ctypes.c_float,
        ctypes.c_short, c_double, c_int, c_double, ctypes.c_longlong, ctypes.c_float,
        c_int, c_double, ctypes.c_ubyte, c_double)
      local f = cfunc("fx_cb_many", c_double, { CB })
      local got
      local r = f(CB(function(...)
        got = { ... }
        local s = 0
        for i = 1, select("#", ...) do s = s + select(i, ...) end
        return s
      end))
      assert.same({ 1, 2.5, 3, 4.5, 5, 6.5, 7, 8.5, 9, 10.5, 11, 12.5, 13, 14.5 }, got)
      assert.equal(108.5, r)
    end)
  end)

  describe("calling from Lua and passing", function()
    it("runs a million times in one foreign call", function()
      local cb = IntCB(function(x) return x % 3 end)
      assert.equal(1650000, call_n(cb, 1650000))  -- 550000 x (0 + 1 + 2)
    end)

    it("is callable from Lua like a foreign function", function()
      local cb = IntCB(function(x) return x * 3 end)
      assert.equal(21, cb(7))
    end)

    it("passes as c_void_p and as its function type", function()
      local cb = IntCB(function(x) return x + 100 end)
      store(cb)
      assert.equal(105, call_stored(5))
      cfunc("fx_cb_store", nil, { ctypes.c_void_p })(cb)
      assert.equal(106, call_stored(6))
      store(nil)
    end)

    it("stays alive while Lua holds it", function()
      store(IntCB(function(x) return x end))
      store(nil)
      local cb = IntCB(function(x) return -x end)
      store(cb)
      helper.gc()
      assert.equal(-9, call_stored(9))
      store(nil)
    end)

    it("release rejects what is not a callback", function()
      assert.has_error(function() ctypes.release(42) end,
        "TypeError: release: expected a callback, got integer")
      assert.has_error(function() ctypes.release(lib.fx_cb_call_n) end,
        "TypeError: release: expected a callback, got _FuncPtr instance")
    end)
  end)

  describe("several callbacks in one foreign call", function()
    local call_two = cfunc("fx_cb_call_two", c_int, { IntCB, IntCB, c_int })
    local function both(fn)
      for _, direct in ipairs({ true, false }) do
        local old = ctypes.callback_config({ direct = direct })
        local ok, err = pcall(fn)
        ctypes.callback_config(old)
        if not ok then error(err, 0) end
      end
    end

    it("alternates two callbacks", function()
      both(function()
        local f = IntCB(function(i) return i + 1 end)
        local g = IntCB(function(i) return 2 * i end)
        assert.equal(10012, call_two(f, g, 4))   -- 1000 x (1+2+3+4) + 2 x 6
        assert.equal(10012, call_two(f, g, 4))
        assert.equal(12010, call_two(g, f, 4))
      end)
    end)

    it("passes one callback as both", function()
      both(function()
        local f = IntCB(function(i) return i end)
        assert.equal(6006, call_two(f, f, 4))
      end)
    end)

    it("runs the right functions across nested foreign calls", function()
      both(function()
        local g = IntCB(function() return 7 end)
        local f
        f = IntCB(function(i)
          if i == 0 then return 1 end
          return call_two(f, g, 1) + i   -- 1 x 1000 + 7, plus i
        end)
        -- 1000 + 7, 1008000 + 7, 1009000 + 7
        assert.equal(2018021, call_two(f, g, 3))
      end)
    end)

    it("leaves the results of the general call path intact", function()
      -- paramflags and errcheck take the general path; its out parameter
      -- and errcheck's arguments sit on the stack under what the callbacks
      -- leave there
      both(function()
        local S = CFUNCTYPE(c_int, IntCB, c_int, ctypes.POINTER(c_int))
        local sum_out = S({ "fx_cb_sum_out", lib }, { { 1, "f" }, { 1, "n" }, { 2, "sum" } })
        local cb = IntCB(function(i) return i * i end)
        assert.equal(285, sum_out(cb, 10))     -- 0 + 1 + 4 + ... + 81
        local seen
        sum_out.errcheck = function(result, func, args)
          seen = { result, func == sum_out, args[2], args[3].value }
          return args[3].value, result
        end
        assert.same({ 285, 10 }, { sum_out(cb, 10) })
        assert.same({ 10, true, 10, 285 }, seen)
        -- no argtypes: the callback goes as a pointer, the call through libffi
        local untyped = lib.fx_cb_sum_out
        local cell = c_int(0)
        assert.equal(4, untyped(cb, 4, ctypes.byref(cell)))
        assert.equal(14, cell.value)
      end)
    end)

    it("stops running a callback released during the foreign call", function()
      both(function()
        local runs, cb = 0, nil
        cb = IntCB(function(i)
          runs = runs + 1
          if i == 2 then cb:release() end
          return 1
        end)
        local ok, err = pcall(call_n, cb, 5)
        assert.is_false(ok)
        assert.equal(3, runs)
        assert.equal("ValueError: callback called after release\n" ..
                     "(1 more callback error during this call)", err)
      end)
    end)
  end)

  describe("called from another binding's C function", function()
    -- fxmod calls C function pointers from its own lua_CFunction frames
    local fxmod = helper.fxmod()
    local function addr(cb) return ctypes.cast(cb, ctypes.c_void_p).value end

    it("runs during a foreign call of lua-ctypes", function()
      local inner = IntCB(function(x) return x * 10 end)
      local outer = IntCB(function(x) return fxmod.call_ii(addr(inner), x) + 1 end)
      assert.equal(64, call_n(outer, 4))    -- 1 + 11 + 21 + 31
    end)

    it("runs from a frame whose stack is full", function()
      local inner = IntCB(function(x) return x + 1 end)
      local outer = IntCB(function(x) return fxmod.sum_ii(addr(inner), x) end)
      assert.equal(20, call_n(outer, 5))    -- 0 + 1 + 3 + 6 + 10
    end)

    it("raises its error at the foreign call's return", function()
      local inner = IntCB(function() error("inner failed") end)
      local outer = IntCB(function(x) return fxmod.call_ii(addr(inner), x) end)
      local ok, err = pcall(call_n, outer, 2)
      assert.is_false(ok)
      assert.matches("^[^\n]*callbacks_spec.lua:%d+: inner failed\nstack traceback:\n", err)
    end)

    it("reports when no foreign call is in progress", function()
      quietly(function()
        local cb = IntCB(function(x) return x end)
        ctypes.callback_errors()
        assert.equal(0, fxmod.call_ii(addr(cb), 5))
        local n, msg = ctypes.callback_errors()
        assert.equal(1, n)
        assert.matches("called while no foreign call from Lua is in progress$", msg)
      end)
    end)
  end)

  describe("errors", function()
    it("re-raises the first error at the foreign call's return, with its traceback", function()
      local calls = 0
      local cb = IntCB(function(i)
        calls = calls + 1
        if i >= 1 then error("boom " .. i) end
        return 1
      end)
      local ok, err = pcall(call_n, cb, 4)
      assert.is_false(ok)
      assert.equal(4, calls)   -- C went on: every call returned the error value
      assert.matches("^[^\n]*callbacks_spec.lua:%d+: boom 1\nstack traceback:\n", err)
      assert.matches("callbacks_spec.lua:%d+: in function", err)
      assert.matches("\n%(2 more callback errors during this call%)$", err)
      -- nothing left over: the next call is clean
      assert.equal(1, call_n(IntCB(function() return 1 end), 1))
    end)

    it("returns the declared error value to C", function()
      local S = CFUNCTYPE(c_char_p, c_int, { error = "oops" })
      local f = cfunc("fx_cb_str_result", c_int, { S, c_int, c_char_p, c_int })
      local buf = ctypes.create_string_buffer(16)
      local ok, err = pcall(f, S(function() error("bad", 0) end), 1, buf, 16)
      assert.is_false(ok)
      assert.matches("^bad\nstack traceback:\n", err)
      assert.equal("oops", buf.value)
    end)

    it("returns zero by default, or the error value, when onerror handles it", function()
      local seen = {}
      local handler = function(e) seen[#seen + 1] = e end
      local Z = CFUNCTYPE(c_int, c_int, { onerror = handler })
      local E = CFUNCTYPE(c_int, c_int, { error = -1, onerror = handler })
      local fn = function(i) if i == 1 then error("bad", 0) end return i * 10 end
      assert.equal(0 + 0 + 20, call_n(Z(fn), 3))
      assert.equal(0 - 1 + 20, call_n(E(fn), 3))
      assert.equal(2, #seen)
      assert.matches("^bad\nstack traceback:\n", seen[1])
    end)

    it("uses what onerror returns as the result", function()
      local CB = CFUNCTYPE(c_int, c_int, { onerror = function() return 7 end })
      assert.equal(7 + 7, call_n(CB(function() error("x") end), 2))
    end)

    it("raises onerror's own error", function()
      local CB = CFUNCTYPE(c_int, c_int, { onerror = function(e) error("handler: " .. e, 0) end })
      local ok, err = pcall(call_n, CB(function() error("first", 0) end), 1)
      assert.is_false(ok)
      assert.matches("^handler: first\nstack traceback:\n", err)
    end)

    it("checks the error and onerror options", function()
      assert.has_error(function() CFUNCTYPE(c_int, c_int, { error = "x" })(print) end,
        "TypeError: CFUNCTYPE option 'error': expected c_int, got string")
      assert.has_error(function() CFUNCTYPE(nil, c_int, { error = 1 })(print) end,
        "TypeError: CFUNCTYPE option 'error': the callback returns void")
      assert.has_error(function() CFUNCTYPE(c_int, { onerror = 1 })(print) end,
        "TypeError: CFUNCTYPE option 'onerror': expected a function, got integer")
    end)

    it("keeps error objects that are not strings", function()
      local obj = { code = 3 }
      local ok, err = pcall(call_n, IntCB(function() error(obj) end), 1)
      assert.is_false(ok)
      assert.equal(obj, err)
    end)

    it("lets a callback catch an error from a nested call", function()
      local inner = IntCB(function() error("inner", 0) end)
      local outer = IntCB(function(i)
        local ok, err = pcall(call_n, inner, 1)
        assert.is_false(ok)
        assert.matches("^inner\n", err)
        return i + 5
      end)
      assert.equal(5 + 6, call_n(outer, 2))
    end)

    it("does not raise an earlier callback's error in a nested call", function()
      local n = 0
      local cb = IntCB(function()
        n = n + 1
        if n == 1 then error("first", 0) end
        -- a nested foreign call succeeds although an error is stored
        return call_n(IntCB(function(j) return j end), 3)
      end)
      local ok, err = pcall(call_n, cb, 2)
      assert.is_false(ok)
      assert.matches("^first\nstack traceback:", err)
      assert.equal(2, n)
    end)

    it("raises a nested callback's error through the outer callback", function()
      local inner = IntCB(function() error("deep", 0) end)
      local outer = IntCB(function() return call_n(inner, 1) end)
      local ok, err = pcall(call_n, outer, 1)
      assert.is_false(ok)
      assert.matches("^deep\nstack traceback:\n", err)
    end)
  end)

  describe("threads", function()
    it("never runs Lua on a foreign thread: error value and a record", function()
      local ran = false
      local CB = CFUNCTYPE(c_int, c_int, { error = -5 })
      local cb = CB(function() ran = true; return 1 end)
      ctypes.callback_errors()
      local thread = cfunc("fx_cb_thread", c_int, { CB, c_int })
      quietly(function()
        assert.equal(-5, thread(cb, 3))
        assert.equal(-5, thread(cb, 4))
      end)
      assert.is_false(ran)
      local n, msg = ctypes.callback_errors()
      assert.equal(2, n)
      assert.matches("^callback .* at 0x%x+ called from a foreign thread$", msg)
      assert.same({ 0 }, { (ctypes.callback_errors()) })
      -- released: still no Lua, and the record says so
      ctypes.release(cb)
      quietly(function() assert.equal(-5, thread(cb, 5)) end)
      n, msg = ctypes.callback_errors()
      assert.equal(1, n)
      assert.matches(" called after release, from a foreign thread$", msg)
      assert.equal(3, call_n(IntCB(function() return 1 end), 3))  -- still fine here
    end)

    it("reports on stderr by default, and the process survives", function()
      local script = ([[
        local ctypes = require("ctypes")
        local lib = ctypes.CDLL(%q)
        local CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)
        local f = lib.fx_cb_thread
        f.argtypes = { CB, ctypes.c_int }
        f.restype = ctypes.c_int
        print("result", f(CB(function(x) return x end), 9))
        print("count", (ctypes.callback_errors()))
      ]]):format(helper.fixture)
      local ok, out = helper.run(helper.lua_command("-e " .. helper.quote(script)))
      assert.is_true(ok, out)
      assert.matches("ctypes: exception ignored on calling callback function [^\n]* at "
                     .. "0x%x+: called from a foreign thread\n", out)
      assert.matches("result\t0\n", out)
      assert.matches("count\t1", out)
    end)
  end)

  describe("coroutines", function()
    it("runs the Lua function on the coroutine that made the foreign call", function()
      local where
      local cb = IntCB(function() where = coroutine.running(); return 0 end)
      local co = coroutine.create(function() return call_n(cb, 1) end)
      assert.is_true((coroutine.resume(co)))
      assert.equal(co, where)
      call_n(cb, 1)
      assert.equal((coroutine.running()), where)
    end)

    it("makes yielding inside a callback a clear error", function()
      local cb = IntCB(function() coroutine.yield(1); return 0 end)
      local co = coroutine.create(function() return call_n(cb, 1) end)
      local ok, err = coroutine.resume(co)
      assert.is_false(ok)
      assert.matches("^RuntimeError: cannot yield from inside a callback %(attempt to yield "
                     .. "across a C%-call boundary%)\nstack traceback:\n", err)
      assert.equal("dead", coroutine.status(co))
      -- coroutines created inside the callback may yield freely
      local inner = IntCB(function(i)
        local g = coroutine.wrap(function() coroutine.yield(i + 1) end)
        return g()
      end)
      assert.equal(1 + 2 + 3, call_n(inner, 3))
    end)
  end)

  describe("use_errno", function()
    it("swaps ctypes' errno in before the Lua function and out after, as CPython's", function()
      local f = cfunc("fx_cb_errno", c_int, { CFUNCTYPE(c_int) })
      local function body()
        local e = ctypes.get_errno()
        ctypes.set_errno(9)
        return e
      end
      local E = CFUNCTYPE(c_int, { use_errno = true })
      ctypes.set_errno(3)
      -- C set errno to 7: the callback sees it, and C sees what it set
      assert.equal(7009, f(E(body)))
      assert.equal(3, ctypes.get_errno())
      -- without use_errno: ctypes' own errno, C's untouched (python3 gives
      -- 7009 and 3, then 3007 and 9)
      assert.equal(3007, f(CFUNCTYPE(c_int)(body)))
      assert.equal(9, ctypes.get_errno())
      ctypes.set_errno(0)
    end)
  end)

  describe("signals", function()
    local SIGH = CFUNCTYPE(nil, c_int)

    it("a handler entered in the middle of a callback's Lua code runs no Lua and reports", function()
      local f = cfunc("fx_cb_signal_during", c_int, { SIGH, IntCB, c_int })
      local ran = false
      local h = SIGH(function() ran = true end)
      local busy = IntCB(function()
        local x = 0
        for i = 1, 3e7 do x = x + i end   -- no C call, no allocation
        return x > 0 and 1 or 0
      end)
      quietly(function()
        ctypes.callback_errors()
        assert.equal(101, f(h, busy, 1000))   -- busy returned 1, one signal
        local n, msg = ctypes.callback_errors()
        assert.is_false(ran)
        assert.equal(1, n)
        assert.matches("called while Lua code runs %(from a signal handler%?%)$", msg)
      end)
    end)

    it("a handler that C calls during a foreign call (raise) runs", function()
      local SIGUSR1 = 10
      local signal, raise = libc.signal, libc.raise
      signal.argtypes, signal.restype = { c_int, SIGH }, ctypes.c_void_p
      raise.argtypes, raise.restype = { c_int }, c_int
      local got
      local h = SIGH(function(sig) got = sig end)
      signal(SIGUSR1, h)
      assert.equal(0, raise(SIGUSR1))
      signal(SIGUSR1, nil)                    -- SIG_DFL
      assert.equal(SIGUSR1, got)
    end)
  end)

  describe("late calls from C", function()
    it("into a collected callback run no Lua, even after new callbacks are made", function()
      quietly(function()
        store(function(_) return 42 end)      -- wrapped; nothing keeps it
        helper.gc()
        local keep = {}
        for i = 1, 40 do keep[i] = IntCB(function() return 1000 + i end) end
        ctypes.callback_errors()
        assert.equal(0, call_stored(1))       -- the error value of IntCB
        local n, msg = ctypes.callback_errors()
        assert.equal(1, n)
        assert.matches("called after it was garbage%-collected$", msg)
        store(nil)
      end)
    end)

    it("reach a Lua function passed directly as long as it lives", function()
      local fn = function(x) return x * 3 end
      store(fn)                               -- signal(), sqlite3_create_function...
      helper.gc()
      assert.equal(21, call_stored(7))
      store(fn)                               -- the same function: the same code
      assert.equal(9, call_stored(3))
      store(nil)
    end)
  end)

  describe("release", function()
    it("drops the Lua function; later calls from C return the error value and raise", function()
      local CB = CFUNCTYPE(c_int, c_int, { error = -9 })
      local s = cfunc("fx_cb_store", nil, { CB })
      local fn = function(x) return x end
      local weak = setmetatable({ fn }, { __mode = "v" })
      local cb = CB(fn)
      fn = nil
      s(cb)
      assert.equal(4, call_stored(4))
      ctypes.release(cb)
      ctypes.release(cb)  -- twice is fine
      helper.gc()
      assert.is_nil(weak[1])
      assert.has_error(function() call_stored(4) end, "ValueError: callback called after release")
      assert.has_error(function() cb(4) end, "ValueError: callback called after release")
      -- the C side got the error value
      local g = IntCB(function() return call_stored(1) end)
      local ok = pcall(call_n, g, 1)
      assert.is_false(ok)
      store(nil)
    end)

    it("releases with cb:release() too", function()
      local cb = IntCB(function(x) return x + 1 end)
      store(cb)
      assert.equal(2, call_stored(1))
      cb:release()
      assert.has_error(function() call_stored(1) end, "ValueError: callback called after release")
      store(nil)
      -- foreign functions: nothing happens
      lib.fx_cb_call_stored:release()
      assert.equal(-999, call_stored(1))
    end)

    it("converts the result of a callback that released itself", function()
      for _, direct in ipairs({ true, false }) do
        local old = ctypes.callback_config({ direct = direct })
        local cb
        -- a c_int instance is no plain number: the general conversion runs
        cb = IntCB(function(x) cb:release() return c_int(x + 1) end)
        ctypes.callback_config(old)
        store(cb)
        assert.equal(8, call_stored(7))
        assert.has_error(function() call_stored(7) end, "ValueError: callback called after release")
        store(nil)
      end
    end)

    -- `<close>` (Lua 5.4 syntax): spec/close_54_spec.lua

    it("reports a callback collected without release in debug mode", function()
      helper.gc()  -- earlier specs' callbacks go first, unreported
      local old = ctypes.callback_config({ debug = true, report = false })
      finally(function() ctypes.callback_config(old); store(nil) end)
      ctypes.callback_errors()
      -- in a function of its own: no register of this one keeps it alive
      local function make() store(IntCB(function(x) return x end)) end
      make()
      helper.gc()
      local n, msg = ctypes.callback_errors()
      assert.equal(1, n)
      assert.matches("^callback .* at 0x%x+ garbage%-collected without release while C may "
                     .. "still hold it$", msg)
      -- the code stays valid: a call returns the error value and is recorded
      assert.equal(0, call_stored(3))
      n, msg = ctypes.callback_errors()
      assert.equal(1, n)
      assert.matches("called after it was garbage%-collected$", msg)
      -- released callbacks are not reported when collected, but a call after
      -- collection is
      local function make_released()
        local cb = IntCB(function(x) return x end)
        store(cb)
        ctypes.release(cb)
      end
      make_released()
      helper.gc()
      assert.equal(0, (ctypes.callback_errors()))
      assert.equal(0, call_stored(3))
      n, msg = ctypes.callback_errors()
      assert.equal(1, n)
      assert.matches("called after it was garbage%-collected$", msg)
    end)

    it("completes a call during which its object is collected", function()
      for _, direct in ipairs({ true, false }) do
        local old = ctypes.callback_config({ direct = direct })
        local keep = {}
        -- the function lets go of its own callback object, which nothing
        -- else holds: it is collected while the function runs
        local function make(result)
          keep.cb = IntCB(function(x)
            keep.cb = nil
            store(nil)
            helper.gc()
            return result(x)
          end)
          store(keep.cb)
        end
        make(function(x) return x + 1 end)
        ctypes.callback_config(old)
        assert.equal(8, call_stored(7))
        assert.is_nil(keep.cb)
        helper.gc()
        -- a result that needs the object to convert can no longer convert:
        -- C gets the error value, Lua the error
        make(function(x) return c_int(x + 1) end)
        assert.has_error(function() call_stored(7) end,
          "ValueError: callback CFunctionType garbage-collected " ..
          "during its own call: its result cannot be converted")
        helper.gc()
      end
    end)

    it("checks callback_config's options", function()
      assert.same({ report = true, debug = false, direct = true }, ctypes.callback_config())
      assert.has_error(function() ctypes.callback_config({ loud = true }) end,
        "TypeError: callback_config: unknown option 'loud'")
      assert.has_error(function() ctypes.callback_config({ nope = true }) end,
        "TypeError: callback_config: unknown option 'nope'")
      assert.has_error(function() ctypes.callback_config({ debug = 1 }) end,
        "TypeError: callback_config: option 'debug': expected boolean, got integer")
      assert.has_error(function() ctypes.callback_config(true) end,
        "TypeError: callback_config: expected a table of options, got boolean")
    end)
  end)
end)
