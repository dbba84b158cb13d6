-- spec/gen/misuse.lua: a seeded random misuse generator for lua-ctypes
-- (spec/misuse_spec.lua).
--
-- The contract it checks: misuse gets a clear error, never a crash; memory
-- that Lua still reaches is never freed. Every public entry point of
-- require("ctypes") is called with values drawn from a pool (nil, booleans,
-- integers from 0 to math.mininteger, floats with nan and inf, strings with
-- zero bytes, tables, functions, coroutines, type objects, instances of
-- every kind, byref objects, function objects, callbacks, libraries). Each
-- call runs under pcall; an error must be a string naming a ctypes
-- exception (M.EXCEPTIONS), in the form "<ExceptionName>: <function or
-- argument>: <what>" (Lua's "bad argument #n to 'name' (...)" only from
-- the few functions listed in M.ARGERROR_FUNCS).
-- Garbage collections are interleaved, and lifetime probes (objects reached
-- only through pointers, fields, views, keep tables) are checked after them.
--
-- What the generator never does, because C itself could not check it: read
-- or write through a wild address. Integers reach pointer slots only in
-- objects whose results are thrown away unread; memory functions get sizes
-- that fit the memory unless ctypes knows the size; pointers are indexed at
-- 0 only; from_address and in_dll get valid addresses and names only with
-- types that fit; C functions called with random arguments (abs, fxc_add,
-- ...) never dereference them and never return long double; callbacks
-- called by C have the signature C calls them with (or the call is
-- refused), and those returning char * never return an integer (an
-- address); a callback C keeps is kept alive. Under AddressSanitizer
-- (opts.asan) absurd allocation sizes are ones Lua refuses itself, and
-- RTLD_DEEPBIND is left out (the sanitizer aborts on it).
--
--   local misuse = require("spec.gen.misuse")
--   local result = misuse.run{ seed = 1, steps = 500, fixture = path,
--                              asan = false, skip = { action = true },
--                              trace = function(step, label, args) end,
--                              observe = function(action, ok, err) end }
--   result.calls, result.errors, result.actions = { [action] = count },
--   result.failures = { { step =, label =, why = }, ... }
--   misuse.check(err)  -> nil if err is an acceptable error, else why not
--   misuse.ACTIONS, misuse.EXCEPTIONS
local M = {}

local ctypes = require("ctypes")
local util = require("ctypes.util")

local type, tostring, pcall, select, pairs, ipairs, error, rawequal =
  type, tostring, pcall, select, pairs, ipairs, error, rawequal
local getmetatable, setmetatable = getmetatable, setmetatable
local math_type, maxint, minint = math.type, math.maxinteger, math.mininteger
local fmt, concat, unpack = string.format, table.concat, table.unpack
local co_create, co_resume, co_yield =
  coroutine.create, coroutine.resume, coroutine.yield

-- {==================================================================
-- What an acceptable error looks like
-- ===================================================================

M.EXCEPTIONS = {
  "TypeError", "ValueError", "IndexError", "AttributeError", "ArgumentError",
  "OverflowError", "OSError", "MemoryError", "RuntimeError",
}
local EXC = {}
for _, e in ipairs(M.EXCEPTIONS) do EXC[e] = true end

-- text that must never appear in a message: internals
M.FORBIDDEN = { "NotImplementedError", "(null)", "to '?'", "%s", "%d" }

-- errors the pool's own functions raise (a callback, errcheck or from_param
-- that fails on purpose): passed through by ctypes, so acceptable
M.USER_MARK = "misuse-user-error"
M.USER_TABLE = setmetatable({}, { __tostring = function() return M.USER_MARK end })

-- the functions that still raise Lua's "bad argument #n to 'name' (...)"
-- (src/callback.c's release and callback_config); every other one names its
-- ctypes exception
M.ARGERROR_FUNCS = { release = true, callback_config = true }

function M.check(err)
  if rawequal(err, M.USER_TABLE) then return nil end
  if type(err) ~= "string" then
    return "non-string error (" .. type(err) .. ")"
  end
  if err:find(M.USER_MARK, 1, true) then return nil end
  -- a pool function that yields while no coroutine runs: Lua's own error
  -- in user code, passed through unchanged
  if err:find("attempt to yield from outside a coroutine", 1, true) then return nil end
  for _, bad in ipairs(M.FORBIDDEN) do
    if err:find(bad, 1, true) then return "message contains " .. bad end
  end
  -- error(msg, 2) in the Lua layer prefixes the caller's position
  local msg = err:gsub("^[^\n:]*:%d+: ", "", 1)
  local exc = msg:match("^(%u%a+): ")
  if exc then
    if not EXC[exc] then return "unknown exception name " .. exc end
    if exc == "ArgumentError" and not msg:match("^ArgumentError: argument [1-9]%d*: %S") then
      return "ArgumentError without an argument number"
    end
    if #msg < #exc + 4 then return "empty message" end
    -- ctypes objects are named by their ctypes names
    if msg:find("userdata", 1, true) then return "message says userdata" end
    return nil
  end
  local n, name = msg:match("^bad argument #(%d+) to '([^']+)' %(.+%)")
  if not n then
    n = msg:match("^calling '([^']+)' on bad self")
    if n then return nil end
    return "no exception name"
  end
  name = name:gsub("^ctypes%.core%.", ""):gsub("^ctypes%.", "")
  if not M.ARGERROR_FUNCS[name] then
    return "bad argument to '" .. name .. "' (not <ExceptionName>: ...)"
  end
  if tonumber(n) < 1 or tonumber(n) > 8 then return "argument number #" .. n end
  return nil
end

-- }==================================================================


-- {==================================================================
-- Deterministic random numbers (splitmix64 on Lua integers)
-- ===================================================================

local function new_rng(seed)
  local s = seed
  local function next64()
    s = s + 0x9E3779B97F4A7C15
    local z = s
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    return z ~ (z >> 31)
  end
  local r = {}
  function r.int(n) return (next64() >> 1) % n + 1 end          -- 1..n
  function r.range(a, b) return a + (next64() >> 1) % (b - a + 1) end
  function r.pick(t) return t[(next64() >> 1) % #t + 1] end
  function r.chance(p) return (next64() >> 11) / 9007199254740992.0 < p end
  return r
end

-- }==================================================================


-- {==================================================================
-- Describing values for reports
-- ===================================================================

local function ctname(v)
  local ok, s = pcall(tostring, v)
  if not ok then return "?" end
  return s
end

local function describe(v)
  local t = type(v)
  if t == "number" then
    if math_type(v) == "integer" then return tostring(v) end
    return fmt("%.17g", v)
  elseif t == "string" then
    return fmt("%q", #v > 24 and v:sub(1, 24) .. "..." or v):gsub("\n", "n")
  elseif t == "userdata" then
    if M.cbname and M.cbname[v] then return M.cbname[v] end
    local s = ctname(v)
    return (s:gsub(" at 0x%x+", ""):gsub("%(0x%x+%)", "(addr)"))
  elseif t == "table" then
    if rawequal(v, M.USER_TABLE) then return "USER_TABLE" end
    return "table"
  end
  return t
end

local function describe_args(args)
  local parts = {}
  for i = 1, args.n do parts[i] = describe(args[i]) end
  return concat(parts, ", ")
end

-- }==================================================================


-- {==================================================================
-- The world: types and objects built with valid operations
-- ===================================================================

local S = ctypes   -- short
local core = require("ctypes.core")
local SCALARS = {
  "c_bool", "c_char", "c_wchar", "c_byte", "c_ubyte", "c_short", "c_ushort",
  "c_int", "c_uint", "c_long", "c_ulong", "c_longlong", "c_ulonglong",
  "c_size_t", "c_ssize_t", "c_int8", "c_int16", "c_int32", "c_int64",
  "c_uint8", "c_uint16", "c_uint32", "c_uint64", "c_float", "c_double",
  "c_longdouble", "c_char_p", "c_wchar_p", "c_void_p", "c_voidp",
}
local POINTERLIKE_SCALARS = { c_char_p = true, c_wchar_p = true, c_void_p = true, c_voidp = true }
local STRINGPTR = { [ctypes.c_char_p] = true, [ctypes.c_wchar_p] = true }

-- plain Lua values
local INTEGERS = {
  0, 1, -1, 2, 3, 4, 7, 8, 16, 31, 32, 33, 64, 255, 256, 65535, 65536,
  0x7fffffff, 0x80000000, -0x80000000, 0xffffffff, 0x100000000,
  1 << 48, 1 << 53, 1 << 62, maxint, minint, maxint - 1, minint + 1, -2, -255,
}
local FLOATS = {
  0.0, -0.0, 1.0, 2.0, 1.5, -1.5, 0.5, 1e300, -1e300, 1e-300, math.huge,
  -math.huge, 0 / 0, 2.0 ^ 63, -(2.0 ^ 63), 2.0 ^ 64, 3.0, 255.0, 4294967296.0,
}
local STRINGS = {
  "", "a", "ab", "abc", "abc\0def", "\0", "0", "10", "-1", "1.5", "x",
  "c_int", "value", "contents", "raw", "_fields_", "_pack_", "argtypes",
  "restype", "errcheck", "__index", "__gc", "_name", "_handle", "_obj",
  "\xff\xfe", "h\xc3\xa9llo", "\xed\xa0\x80", string.rep("z", 300), "abs",
  "nope", "fx_lib_int", "libm.so.6", "libc.so.6", "/nonexistent/lib.so",
  "release", "from_param", "x", "y", "_type_", "_length_", "norm", "offset",
  "size", "type", "bit_size", "bit_offset", "name", "in_dll",
}

local function user_error() error(M.USER_MARK, 2) end

-- close(v): what the end of `do local x <close> = v end` does.  Lua 5.4 runs
-- that very code (compiled from a string: 5.3 cannot parse it); Lua 5.3
-- calls the __close metamethod the same way, after 5.4's check.
local close = (_VERSION ~= "Lua 5.3") and
  load("return function(v) local x <close> = v end")() or
  function(v)
    if v == nil or v == false then return end
    local mt = debug.getmetatable(v)
    local h = type(mt) == "table" and rawget(mt, "__close") or nil
    if h == nil then error("variable 'x' got a non-closable value", 2) end
    h(v, nil)
  end

local World = {}
World.__index = World

local world_counter = 0

-- builds the types and objects of one world; r is the random source
local function new_world(r, fixture)
  world_counter = world_counter + 1
  local w = setmetatable({}, World)
  local n = world_counter
  local c_int, c_char, c_double = S.c_int, S.c_char, S.c_double
  local P = S.POINTER(c_int)
  w.fixture = fixture
  w.lib = S.CDLL(fixture)
  w.libc = S.CDLL(nil)

  -- types
  local T = {}
  for _, name in ipairs(SCALARS) do T[#T + 1] = S[name] end
  local A4 = c_int * 4
  local C8 = c_char * 8
  local W4 = S.c_wchar * 4
  local A23 = (c_int * 2) * 3
  local A0 = c_int * 0
  local D3 = c_double * 3
  local PP = S.POINTER(P)
  local PC = S.POINTER(c_char)
  local PD = S.POINTER(c_double)
  local Point = S.Structure("MPoint" .. n, {
    _fields_ = { { "x", c_int }, { "y", c_int } },
    norm = function(self) return self.x * self.x + self.y * self.y end,
  })
  local Bits = S.Structure("MBits" .. n, {
    _fields_ = { { "a", c_int, 3 }, { "b", S.c_uint, 5 }, { "", c_int, 0 },
                 { "c", S.c_short, 7 }, { "f", S.c_bool, 1 } },
  })
  local U = S.Union("MU" .. n, {
    _fields_ = { { "i", c_int }, { "d", c_double }, { "b", c_char * 8 } },
  })
  local Packed = S.Structure("MPacked" .. n, {
    _pack_ = 1,
    _fields_ = { { "c", c_char }, { "i", c_int }, { "a", S.c_short * 3 } },
  })
  local BE = S.BigEndianStructure("MBE" .. n, {
    _fields_ = { { "i", c_int }, { "a", S.c_ushort * 2 }, { "b", S.c_uint, 4 } },
  })
  local Nest = S.Structure("MNest" .. n, {
    _fields_ = { { "p", Point }, { "arr", c_int * 3 }, { "u", U } },
    _anonymous_ = { "u" },
  })
  local Derived = S.Structure("MDerived" .. n, {
    _base_ = Point, _fields_ = { { "z", c_int } },
  })
  local S16d = S.Structure("MS16d" .. n, { _fields_ = { { "a", c_double }, { "b", c_double } } })
  local Inc = S.Structure("MInc" .. n)
  local PInc = S.POINTER(Inc)
  local Node = S.Structure("MNode" .. n)
  local PNode = S.POINTER(Node)
  Node._fields_ = { { "v", c_int }, { "next", PNode } }
  local CB_ii = S.CFUNCTYPE(c_int, c_int, c_int)
  local CB_i = S.CFUNCTYPE(c_int, c_int)
  local CB_v = S.CFUNCTYPE(nil, c_int)
  local CMP = S.CFUNCTYPE(c_int, P, P)
  local CB_pt = S.CFUNCTYPE(Point, Point, c_int)
  local CB_d = S.CFUNCTYPE(c_double, c_double)
  local CB_err = S.CFUNCTYPE(c_int, c_int, c_int, { error = -1 })
  local CB_onerr = S.CFUNCTYPE(c_int, c_int, c_int, {
    onerror = function(e) return 7 end })
  local CB_errno = S.CFUNCTYPE(c_int, c_int, c_int, { use_errno = true })
  local CB_str = S.CFUNCTYPE(S.c_char_p, c_int)
  -- a structure whose body converts arguments (from_param(cls, value))
  local FP = S.Structure("MFP" .. n, {
    _fields_ = { { "x", c_int } },
    -- (T.from_param(v) gives it v alone: it must not rely on cls)
    from_param = function(cls, v)
      local k = r.int(5)
      if k == 1 then return w.t.FP(3) elseif k == 2 then user_error()
      elseif k == 3 then return v elseif k == 4 then return { x = 1 } end
      return w:any()
    end,
  })
  local Ptrs = S.Structure("MPtrs" .. n, {
    _fields_ = { { "p", P }, { "s", S.c_char_p }, { "w", S.c_wchar_p },
                 { "v", S.c_void_p }, { "f", CB_ii } },
  })
  for _, t in ipairs({ A4, C8, W4, A23, A0, D3, P, PP, PC, PD, Point, Bits, U,
                       Packed, BE, Nest, Derived, S16d, Inc, PInc, Node, PNode,
                       CB_ii, CB_i, CB_v, CMP, CB_pt, CB_d, CB_err, CB_onerr,
                       CB_errno, CB_str, FP, Ptrs, Point * 2, Bits * 2, S.c_longdouble * 2,
                       S.c_char_p * 2, P * 2 }) do
    T[#T + 1] = t
  end
  w.types = T
  w.t = { A4 = A4, C8 = C8, W4 = W4, A23 = A23, A0 = A0, D3 = D3, P = P,
          PP = PP, PC = PC, PD = PD, Point = Point, Bits = Bits, U = U,
          Packed = Packed, BE = BE, Nest = Nest, Derived = Derived,
          S16d = S16d, Inc = Inc, PInc = PInc, Node = Node, PNode = PNode,
          CB_ii = CB_ii, CB_i = CB_i, CB_v = CB_v, CMP = CMP, CB_pt = CB_pt,
          CB_d = CB_d, CB_err = CB_err, CB_onerr = CB_onerr,
          CB_errno = CB_errno, CB_str = CB_str, FP = FP, Ptrs = Ptrs }
  w.structtypes = { Point, Bits, U, Packed, BE, Nest, Derived, S16d, Node, Ptrs }
  w.functypes = { CB_ii, CB_i, CB_v, CMP, CB_pt, CB_d, CB_err, CB_onerr, CB_errno, CB_str }

  -- scratch: instances of pointer-free types; anything may be written
  -- into them. meta[obj] = { size = bytes of valid memory }
  local scratch = {}
  local function sc(o) scratch[#scratch + 1] = o end
  sc(c_int(5)); sc(c_double(1.5)); sc(c_char("a")); sc(S.c_bool(true))
  sc(S.c_wchar("\xc3\xa9")); sc(S.c_longdouble(2.5)); sc(S.c_ubyte(200))
  sc(S.c_int8(-3)); sc(S.c_uint64(-1)); sc(S.c_float(0.25)); sc(S.c_short(-7))
  sc(A4(1, 2, 3, 4)); sc(C8("hi")); sc(W4("ab")); sc(A23({ { 1, 2 }, { 3, 4 }, { 5, 6 } }))
  sc(A0()); sc(D3(0.5)); sc(Point(1, 2)); sc(Bits{ a = 1, b = 2, c = 3 })
  sc(U{ i = 5 }); sc(Packed{ c = "z", i = 9 }); sc(BE{ i = 1 }); sc(Nest())
  sc(Derived(1, 2, 3)); sc(S16d(1.5, 2.5)); sc((Point * 2)({ x = 1 }, { x = 2 }))
  sc((Bits * 2)()); sc((S.c_longdouble * 2)(1, 2))
  sc(S.create_string_buffer(10)); sc(S.create_string_buffer("text"))
  sc(S.create_unicode_buffer("w\xc3\xa9"))
  local grown = c_int(3); S.resize(grown, 64); sc(grown)
  local nest = Nest(); sc(nest.p); sc(nest.arr)       -- views of a base
  local a23 = A23(); sc(a23[1])
  sc(c_int.from_buffer(A4(7, 8, 9, 10), 4))
  sc(Point.from_buffer_copy("\1\0\0\0\2\0\0\0"))
  sc(S.c_ulong(7)); sc(S.c_uint(9))
  -- views at odd offsets: every access must cope with unaligned memory
  local odd = S.create_string_buffer(64)
  sc(S.c_short.from_buffer(odd, 1)); sc(c_int.from_buffer(odd, 3))
  sc(c_double.from_buffer(odd, 5)); sc(S.c_longdouble.from_buffer(odd, 17))
  sc(S.c_float.from_buffer(odd, 13)); sc(Point.from_buffer(odd, 33))
  sc(S16d.from_buffer(odd, 41)); sc(A4.from_buffer(odd, 7)); sc(S.c_bool.from_buffer(odd, 9))
  sc(S.c_wchar.from_buffer(odd, 11))
  w.scratch = scratch

  -- ptrs: pointer-containing objects whose pointers are valid. Reads of
  -- anything; writes never with integers. size = bytes valid at the
  -- pointer value (nil: NULL or unknown)
  local ptrs, psize = {}, {}
  local function pt(o, size) ptrs[#ptrs + 1] = o; psize[o] = size end
  local x = c_int(11)
  pt(P(), nil)
  pt(S.pointer(x), 4)
  pt(S.pointer(c_int(12)), 4)                    -- only the pointer keeps it
  pt(P(A4(1, 2, 3, 4)), 16)
  pt(S.cast(A4(5, 6, 7, 8), P), 16)
  pt(P(S.byref(c_int(13))), 4)
  pt(PP(S.pointer(c_int(14))), 8)
  pt(PC(C8("str")), 8)
  pt(PD(c_double(0.5)), 8)
  pt(S.c_char_p("dyn" .. n), 4 + #tostring(n))
  pt(S.c_char_p(), nil)
  pt(S.c_wchar_p("w" .. n), nil)
  pt(S.c_void_p(S.addressof(x)), 4)
  pt(S.c_void_p(), nil)
  pt(S.cast(Point(3, 4), S.c_void_p), 8)
  pt(PInc(), nil)
  local node2 = Node{ v = 2 }
  local node1 = Node{ v = 1, next = S.pointer(node2) }
  pt(node1, 16); node2 = nil
  pt(Ptrs{ p = S.pointer(c_int(15)), s = "keep" .. n, w = "wide", f = CB_ii(function(a, b) return a + b end) }, 40)
  pt(Ptrs(), 40)
  pt((S.c_char_p * 2)("a" .. n, "b"), 16)
  pt((P * 2)(S.pointer(c_int(1))), 16)
  -- pointers stored at odd offsets
  local oddp = S.create_string_buffer(64)
  local pv = P.from_buffer(oddp, 3)
  pv.contents = c_int(16)
  pt(pv, 4)
  local sv = S.c_char_p.from_buffer(oddp, 13)
  sv.value = "odd" .. n
  pt(sv, 4 + #tostring(n))
  pt(Ptrs.from_buffer(oddp, 21), 40)
  w.ptrs, w.psize = ptrs, psize
  w.x = x

  -- functions safe to call with any arguments of any declared types
  w.lib_safe = {}
  -- (each taken now: a library is a table of attributes, and the fuzzer's
  -- `lib[k] = v` may later put anything under "abs")
  local function safe(lib, name)
    w.lib_safe[#w.lib_safe + 1] = { lib = lib, name = name, f = lib[name] }
  end
  safe(w.libc, "abs"); safe(w.libc, "labs")
  -- (not fxc_sum14i, fxc_mix12, fxc_point_sum: their C arithmetic
  -- overflows signed integers for big arguments, which UBSan reports)
  -- (nor long double results: declared as another type they stay on the
  -- x87 register stack, and after eight of them every long double in the
  -- process reads NaN)
  -- (fxc_norm2 and fxc_twice_S16d take and return a struct of two doubles:
  -- only where the ABI moves it without a pointer, see fx_platform.c)
  local PF = require("spec.helper").platform
  for _, f in ipairs({ "fxc_add", "fxc_mid_float", "fxc_sum14d",
                       "fxc_is_null", "fxc_norm2", "fxc_null_ptr",
                       "fxc_twice_S16d", "fxc_get_errno", "fxc_set_errno" }) do
    if not ((f == "fxc_norm2" or f == "fxc_twice_S16d") and PF.s16d_by_reference) and
       not (f == "fxc_twice_S16d" and PF.s16d_result_in_memory) then
      safe(w.lib, f)
    end
  end

  -- Lua functions (callback bodies, errcheck, restype callables, ...)
  local funcs = {
    function(a, b) return (math_type(a) == "integer" and math_type(b) == "integer") and ((a + b) & 0xffff) or 0 end,
    function() user_error() end,
    function() error(M.USER_TABLE) end,
    function() end,
    function() return "x" end,
    function() return {} end,
    function() return 1, 2, 3 end,
    function() return 1.5 end,
    function() return nil end,
    function() return true end,
    function() collectgarbage() return 1 end,
    function(...) return ... end,
    function() co_yield(1) return 2 end,
    function() return w.scratch[1] end,
    function() return Point(1, 2) end,
    function() return { x = 1, y = 2 } end,
    function() return 2 ^ 40 end,
    function() return minint end,
    ctypes.sizeof,
    function(...) return tostring((...)) end,
  }
  w.funcs = funcs

  -- callbacks of every world function type, some released
  local cbs = {}
  w.cb_by_type = {}
  local tname = {}
  for k, v in pairs(w.t) do tname[v] = k end
  w.cbname = {}
  local function addcb(F, f)
    local cb = F(f)
    local fi = "?"
    for i, g in ipairs(funcs) do if g == f then fi = i end end
    w.cbname[cb] = fmt("cb#%d:%s(f%s)", #cbs + 1, tname[F] or "?", fi)
    cbs[#cbs + 1] = cb
    w.cb_by_type[F] = w.cb_by_type[F] or {}
    local list = w.cb_by_type[F]
    list[#list + 1] = cb
    return cb
  end
  -- bodies for callbacks returning char *: an integer result would be an
  -- address C reads (the caller's word, as c_char_p(address))
  w.strfuncs = {
    function(k) return ("s"):rep(math_type(k) and k % 100 or 3) .. "!" end,
    function() return nil end, function() user_error() end,
    function() error(M.USER_TABLE) end, function() return "x" end,
    function() return {} end, function() return 1.5 end,
    function() return true end, function() co_yield(1) return "y" end,
    function() collectgarbage() return ("t"):rep(9) end,
    function() return w.ptrs[10] end,               -- a c_char_p instance
  }
  for _, F in ipairs(w.functypes) do
    for _ = 1, 2 do addcb(F, r.pick(F == CB_str and w.strfuncs or funcs)) end
  end
  addcb(CB_ii, function(a, b) return a end)
  addcb(CB_ii, function(a, b) return w:misuse_nested() end)
  addcb(CB_ii, function(a, b) return w:reenter(a) end)
  local rel = addcb(CB_ii, funcs[1]); S.release(rel)
  local rel2 = addcb(CB_i, funcs[1]); rel2:release()
  w.self_release = addcb(CB_ii, function(a, b) w.self_release:release() return 1 end)
  addcb(CMP, function(pa, pb) return pa[0] - pb[0] end)
  addcb(CB_pt, function(p, k) return Point(p.x + k, p.y) end)
  addcb(CB_str, w.strfuncs[1])
  addcb(CB_str, function(k) collectgarbage() return ("t" .. tostring(k)):rep(2) end)
  w.callbacks = cbs

  -- foreign function objects safe to call (their real signature is known)
  local ff = {}
  for _, s in ipairs(w.lib_safe) do ff[#ff + 1] = s.f end
  ff[#ff + 1] = CB_ii(w.lib.fxc_add)
  ff[#ff + 1] = CB_i(w.libc.abs)
  w.foreign = ff
  w.isforeign = {}
  for _, f in ipairs(ff) do w.isforeign[f] = true end

  -- libraries
  local function closed()
    local l = S.CDLL(fixture)
    close(l)
    return l
  end
  w.libs = { w.lib, w.libc, S.CDLL("libm.so.6"), closed(),
             S.CDLL(fixture, { use_errno = true }) }

  -- byref objects and field descriptors
  w.byrefs = { S.byref(c_int(1)), S.byref(A4()), S.byref(Point(), 4), S.byref(x) }
  w.byref_size = { 4, 16, 4, 4 }
  w.fields = { Point.x, Point.y, Bits.a, Bits.f, U.b, Nest.p, Packed.i, BE.b, Ptrs.s }

  -- other userdata and values
  w.others = { io.stdout, co_create(function() end), co_create(function() co_yield() end),
               setmetatable({}, { __index = function() user_error() end }),
               setmetatable({}, { __call = function() return 1 end }),
               { 1, 2, 3 }, { x = 1, y = 2 }, { {} }, {}, { _as_parameter_ = 5 },
               { _as_parameter_ = w.scratch[1] }, { [1] = "a", [3] = "c" },
               { "x", c_int }, { { "x", c_int } }, M.USER_TABLE }
  w.r = r
  w.probes = {}
  return w
end

-- }==================================================================


-- {==================================================================
-- Drawing values
-- ===================================================================

-- any value at all
function World:any()
  local r = self.r
  local k = r.int(15)
  if k == 1 then return nil
  elseif k == 2 then return r.chance(0.5)
  elseif k == 3 then return r.pick(INTEGERS)
  elseif k == 4 then return r.pick(FLOATS)
  elseif k == 5 then return r.pick(STRINGS)
  elseif k == 6 then return r.pick(self.types)
  elseif k == 7 or k == 8 then return r.pick(self.scratch)
  elseif k == 9 then return r.pick(self.ptrs)
  elseif k == 10 then return r.pick(self.callbacks)
  elseif k == 11 then return r.pick(self.foreign)
  elseif k == 12 then return r.pick(self.libs)
  elseif k == 13 then return r.pick(self.byrefs)
  elseif k == 14 then return r.pick(self.fields)
  else
    if r.chance(0.5) then return r.pick(self.funcs) end
    return r.pick(self.others)
  end
end

-- any value but integers (and floats with an integer value): nothing that
-- could become a wild address in a pointer slot; no mutable character
-- memory (a c_char_p slot would read it up to a NUL that may be gone) and
-- no zero-length arrays (a pointer to them points past their memory)
function World:nonint()
  for _ = 1, 20 do
    local v = self:any()
    local mt = math_type(v)
    if not (mt == "integer" or (mt == "float" and v == math.floor(v) and v == v)) then
      if not self:ischarmem(v) then return v end
    end
  end
  return nil
end

function World:ischarmem(v)
  if type(v) ~= "userdata" then return false end
  local ok = pcall(function() return v._type_ end)
  if not ok then
    -- instances: their type's element/pointee
    local okt, s = pcall(tostring, v)
    if not okt then return false end
    return s:find("c_char_Array", 1, true) ~= nil or s:find("c_wchar_Array", 1, true) ~= nil
        or s:find("LP_c_char", 1, true) ~= nil or s:find("LP_c_wchar", 1, true) ~= nil
        or s:find("_Array_0", 1, true) ~= nil
  end
  return false
end

-- a size that is allocated: small, or more than any machine has (2^48 and
-- up: never a real terabyte). Under AddressSanitizer every failed
-- allocation is a report, so there only sizes Lua itself refuses as too
-- big (math.maxinteger) stand for the absurd ones.
function World:allocsize(n)
  if math_type(n) == "float" and n == math.floor(n) and n > 4096 then
    n = n < 2.0 ^ 63 and math.tointeger(n) or maxint   -- 4294967296.0 counts
  end
  if math_type(n) ~= "integer" or n <= 4096 then return n end
  if n < (1 << 48) then return 4096 end
  if self.asan then return maxint end
  return n
end

-- several values
function World:anyargs(max)
  local n = self.r.range(0, max or 3)
  local t = { n = n }
  for i = 1, n do t[i] = self:any() end
  return t
end

-- an index or key for an instance: integers only where they are safe
function World:key(obj, isptr)
  local r = self.r
  local k = r.int(6)
  if k == 1 then
    if isptr then return r.pick({ 0, 0.0, -0.0 }) end
    return r.pick({ 0, 1, 2, 3, 4, 7, 8, -1, 100, maxint, minint, 1.0, 3.0 })
  elseif k == 2 then
    return r.pick({ 1.5, -0.5, 0 / 0, math.huge, -math.huge, 1e300 })
  elseif k == 3 then
    return r.pick({ "value", "raw", "contents", "_obj", "argtypes", "restype",
                    "errcheck", "release", "x", "y", "z", "a", "b", "c", "f",
                    "i", "d", "p", "s", "w", "v", "arr", "u", "next", "norm",
                    "_fields_", "_type_", "_length_", "_objects", "" })
  else
    local v = self:any()
    if math_type(v) and isptr then return "value" end
    return v
  end
end

-- }==================================================================


-- {==================================================================
-- Actions: each returns label, function, args (args.n set)
-- ===================================================================

-- each called through a local of its own name, as ctypes.name(...) would
-- be: Lua names the function in "bad argument" messages from the call site
local PLAINCALL = setmetatable({}, { __index = function(t, name)
  local f = load(("local %s = ...; return function(...) return %s(...) end")
                 :format(name, name))(S[name] or util[name])
  t[name] = f
  return f
end })

local A = {}       -- name -> function(w) -> label, fn, args
local WEIGHTS = {} -- name -> weight

local function pack(...) return { n = select("#", ...), ... } end

-- T(...)
A.construct = function(w)
  local T = w.r.pick(w.types)
  local args = w:anyargs(3)
  return "T(...) " .. describe(T), function(...) local _ = T(...) end, args
end
WEIGHTS.construct = 8

-- T(table) with random table contents
A.construct_table = function(w)
  local r = w.r
  local T = r.pick(w.types)
  local t = {}
  for _ = 1, r.range(0, 3) do
    local k = w:key()
    if r.chance(0.5) or k == nil or k ~= k then t[#t + 1] = w:any() else t[k] = w:any() end
  end
  return "T{...} " .. describe(T), function(tt) local _ = T(tt) end, pack(t)
end
WEIGHTS.construct_table = 4

-- T * n, n * T, (T * n)()
A.arraytype = function(w)
  local r = w.r
  local T, v = r.pick(w.types), w:any()
  if r.chance(0.5) then
    return "T * v", function(a, b) local _ = a * b end, pack(T, v)
  end
  return "v * T", function(a, b) local _ = a * b end, pack(v, T)
end
WEIGHTS.arraytype = 4

-- T.attr, T.attr = v (on a fresh structure type for assignments)
A.typeattr = function(w)
  local r = w.r
  local T = r.pick(w.types)
  local k = r.chance(0.5) and r.pick(STRINGS) or w:any()
  if r.chance(0.5) then
    return "T[k]", function(t, kk) local _ = t[kk] end, pack(T, k)
  end
  local F = S.Structure("MFresh", { _fields_ = { { "x", S.c_int } } })
  local I = S.Structure("MFreshInc")
  local tgt = r.pick({ F, I, T })
  if tgt == T then k = r.pick({ "_fields_", "x", "_type_", "value", 1, "y" }) end
  if tgt == T and w.t.Node == T then tgt = F end     -- keep the world usable
  local v = r.chance(0.3) and w:fieldsbody() or w:any()
  return "T[k] = v " .. describe(tgt), function(t, kk, vv)
    t[kk] = vv
    local _ = t()   -- use what it made
  end, pack(tgt, k, v)
end
WEIGHTS.typeattr = 5

-- a random _fields_ list: mostly well-formed entries with bad parts
function World:fieldsbody()
  local r = self.r
  local f = {}
  for i = 1, r.range(0, 4) do
    local k = r.int(10)
    local name = r.chance(0.8) and ("f" .. i) or self:any()
    local T = r.chance(0.8) and r.pick(self.types) or self:any()
    if k <= 5 then f[i] = { name, T }
    elseif k <= 8 then
      f[i] = { name, r.pick({ S.c_int, S.c_uint, S.c_short, S.c_bool, S.c_char, S.c_longlong, T }),
               r.pick({ 0, 1, 3, 7, 8, 31, 32, 33, 64, 65, -1, 1.5, "3", maxint }) }
    elseif k == 9 then f[i] = self:any()
    else f[i] = { name } end
  end
  if r.chance(0.1) then return self:any() end
  return f
end

-- Structure/Union/... with a random body, then use of the type
A.struct_define = function(w)
  local r = w.r
  local ctor = r.pick({ "Structure", "Union", "BigEndianStructure", "LittleEndianStructure",
                        "BigEndianUnion", "LittleEndianUnion" })
  local name = r.chance(0.85) and "MRand" or w:any()
  local body
  if r.chance(0.1) then body = w:any()
  else
    body = { _fields_ = w:fieldsbody() }
    if r.chance(0.3) then body._pack_ = r.pick({ 0, 1, 2, 3, 4, 8, 16, 32, -1, 1.5, "1", maxint, 1 << 40 }) end
    if r.chance(0.2) then body._align_ = r.pick({ 0, 1, 2, 3, 4, 8, 64, -8, 1.5, maxint, 1 << 30 }) end
    if r.chance(0.2) then body._anonymous_ = r.chance(0.5) and { "f1" } or w:any() end
    if r.chance(0.2) then body._base_ = r.chance(0.5) and r.pick(w.structtypes) or w:any() end
    if r.chance(0.2) then body.meth = w:any() end
    if r.chance(0.1) then body._fields_ = nil end
  end
  local write = w:any()
  return ctor .. "(name, body)", function(nm, b, wv)
    local T = S[ctor](nm, b)
    local okc = pcall(function() return S.sizeof(T) end)
    if not okc then
      T._fields_ = w:fieldsbody()
    end
    S.sizeof(T); S.alignment(T)
    local o = T()
    -- read everything of a zeroed instance (pointers are NULL)
    local fields = {}
    for _, v in pairs(type(b) == "table" and rawget(b, "_fields_") or {}) do
      if type(v) == "table" and type(v[1]) == "string" then fields[#fields + 1] = v[1] end
    end
    for _, fname in ipairs(fields) do
      local ok, fd = pcall(function() return T[fname] end)
      if ok and fd ~= nil then local _ = tostring(fd) end
      pcall(function() local _ = o[fname] end)
    end
    local _ = tostring(o), tostring(T), T * 2, S.POINTER(T)
    -- writes last: nothing reads the object afterwards
    for _, fname in ipairs(fields) do o[fname] = wv end
  end, pack(name, body, write)
end
WEIGHTS.struct_define = 6

-- obj[k] on world objects
A.index = function(w)
  local r = w.r
  local k = r.int(5)
  local obj, isptr
  if k <= 2 then obj = r.pick(w.scratch)
  elseif k == 3 then obj, isptr = r.pick(w.ptrs), true
  elseif k == 4 then obj = r.pick(w.callbacks)
  else obj = r.pick(w.foreign) end
  local key = w:key(obj, isptr)
  return "obj[k] " .. describe(obj), function(o, kk)
    local v = o[kk]
    -- a pointer read gives a view or value: look at it (valid memory)
    if type(v) == "userdata" then local _ = tostring(v) end
  end, pack(obj, key)
end
WEIGHTS.index = 10

-- obj[k] = v
A.newindex = function(w)
  local r = w.r
  local obj, isptr, v
  if r.chance(0.6) then obj, v = r.pick(w.scratch), w:any()
  else obj, isptr, v = r.pick(w.ptrs), true, w:nonint() end
  local key = w:key(obj, isptr)
  if isptr and (key == "value") and obj == w.ptrs[1] then key = "contents" end
  -- a pointer re-targeted: how much memory is behind it is unknown now
  if isptr and (key == "value" or key == "contents") then w.psize[obj] = nil end
  return "obj[k] = v " .. describe(obj), function(o, kk, vv) o[kk] = vv end,
    pack(obj, key, v)
end
WEIGHTS.newindex = 10

-- function objects: argtypes/restype/errcheck set to random values
A.funcattr = function(w)
  local r = w.r
  local f = r.chance(0.5) and r.pick(w.foreign) or r.pick(w.callbacks)
  local key = r.pick({ "argtypes", "restype", "errcheck", "release", "x", 1, "_name" })
  local v
  local k = r.int(4)
  if k == 1 then
    v = {}
    for i = 1, r.range(0, 3) do v[i] = r.chance(0.8) and r.pick(w.types) or w:any() end
  else v = w:any() end
  return "f[k] = v", function(ff, kk, vv) ff[kk] = vv end, pack(f, key, v)
end
WEIGHTS.funcattr = 5

-- restypes that cannot make a call read a wild address
local function saferestype(w, T)
  -- string results are read up to a NUL; a long double result pops the x87
  -- stack, which these functions never pushed
  if T == S.c_char_p or T == S.c_wchar_p or T == S.c_longdouble then return false end
  return true
end

-- calls of C functions that never dereference their arguments
A.call = function(w)
  local r = w.r
  local s = r.pick(w.lib_safe)
  local f = s.f
  local argtypes, restype = "keep", "keep"
  if r.chance(0.5) then
    if r.chance(0.3) then argtypes = nil
    else
      argtypes = {}
      for i = 1, r.range(0, 4) do argtypes[i] = r.pick(w.types) end
    end
  end
  if r.chance(0.5) then
    restype = r.chance(0.2) and r.pick(w.funcs) or r.pick(w.types)
    if type(restype) == "userdata" and not saferestype(w, restype) then restype = S.c_int end
  end
  local errcheck = "keep"
  if r.chance(0.2) then errcheck = r.chance(0.5) and r.pick(w.funcs) or nil end
  local args = w:anyargs(5)
  -- no callbacks or function objects as arguments: without the right
  -- argtypes they would be called with anything
  for i = 1, args.n do
    local v = args[i]
    if type(v) == "userdata" then
      local ok, st = pcall(tostring, v)
      if ok and (st:find("CFunctionType", 1, true) or st:find("_FuncPtr", 1, true)) then args[i] = 0 end
    end
  end
  return "call " .. s.name, function(...)
    local ok, rt = pcall(function() return f.restype end)
    if ok and type(rt) == "userdata" and not saferestype(w, rt) then f.restype = S.c_int end
    if argtypes ~= "keep" then f.argtypes = argtypes end
    if restype ~= "keep" then f.restype = restype end
    if errcheck ~= "keep" then f.errcheck = errcheck end
    return f(...)
  end, args
end
WEIGHTS.call = 10

-- C calling callbacks: the prototypes declare what C really takes
local CFIX = {
  { "fx_cb_apply_ii", "c_int", { "CB_ii", "c_int", "c_int" } },
  { "fx_cb_call_n", "c_int", { "CB_i", "c_int" } },
  { "fx_cb_void", nil, { "CB_v", "c_int" } },
  { "fx_cb_point_sum", "c_int", { "CB_pt", "c_int" } },
  { "fx_cb_apply_ii", "c_int", { "CB_err", "c_int", "c_int" } },
  { "fx_cb_apply_ii", "c_int", { "CB_onerr", "c_int", "c_int" } },
  { "fx_cb_apply_ii", "c_int", { "CB_errno", "c_int", "c_int" } },
  { "fx_cb_double", "c_double", { "CB_d", "c_double" } },
  -- from another OS thread: no Lua may run, the error value comes back
  { "fx_cb_thread", "c_int", { "CB_i", "c_int" } },
  -- kept by C, called later (the world resets it to NULL when it goes)
  { "fx_cb_store", nil, { "CB_i" } },
  { "fx_cb_call_stored", "c_int", { "c_int" } },
  -- a string result C copies into a buffer the call passes
  { "fx_cb_str_result", "c_int", { "CB_str", "c_int", "c_void_p", "c_int" } },
}

function World:cfunc(spec)
  local key = spec[1] .. "/" .. spec[3][1]
  self.cfuncs = self.cfuncs or {}
  if self.cfuncs[key] then return self.cfuncs[key] end
  local function ty(name) return self.t[name] or S[name] end
  local argtypes = {}
  for i, a in ipairs(spec[3]) do argtypes[i] = ty(a) end
  local F = S.CFUNCTYPE(spec[2] and ty(spec[2]) or nil, unpack(argtypes))
  local f = F({ spec[1], self.lib })
  self.cfuncs[key] = f
  return f
end

A.ccallback = function(w)
  local r = w.r
  local spec = r.pick(CFIX)
  local f = w:cfunc(spec)
  local FT = w.t[spec[3][1]] or w.t.CB_i
  local cbv
  local k = r.int(6)
  if k <= 2 then cbv = r.pick(w.cb_by_type[FT] or w.callbacks)
  elseif k == 3 then cbv = r.pick(w.callbacks)        -- maybe the wrong type
  elseif k == 4 then cbv = r.pick(w.funcs)            -- a temporary callback
  else
    cbv = w:any()
    -- NULL would crash C; a library function is taken on trust (its real
    -- signature is C's business) and would be called with other arguments
    if cbv == nil or w.isforeign[cbv] then cbv = w.funcs[1] end
  end
  if spec[1] == "fx_cb_store" and (type(cbv) == "function" or w.isforeign[cbv]) then
    -- C keeps it: a temporary callback (or a library's function) would be
    -- gone when it is called, which the caller must prevent (as in ctypes)
    cbv = r.pick(w.cb_by_type[w.t.CB_i])
  end
  if spec[1] == "fx_cb_str_result" and type(cbv) == "function" then
    cbv = r.pick(w.strfuncs)
  end
  if spec[1] == "fx_cb_str_result" then
    -- the buffer and its size are the caller's word: always right here
    local buf = S.create_string_buffer(16)
    return "ccallback fx_cb_str_result", function(cb, nn)
      local got = f(cb, nn, buf, 16)
      local _ = buf.value
      return got
    end, pack(cbv, r.chance(0.8) and r.pick({ 0, 1, 5, 40 }) or w:any())
  end
  if spec[1] == "fx_cb_call_stored" then
    cbv = r.chance(0.7) and r.pick({ 0, 1, 5 }) or w:any()
    if type(cbv) == "function" then cbv = 3 end
  end
  local args = pack(cbv)
  for i = 2, #spec[3] do
    local v = r.chance(0.7) and r.pick({ 0, 1, 2, 5, -3, 1000 }) or w:any()
    if i == 2 and spec[1] == "fx_cb_call_stored" then v = cbv end
    if spec[1] == "fx_cb_call_n" and math_type(v) == "integer" and (v > 5 or v < 0) then v = 3 end
    if spec[1] == "fx_cb_call_n" and math_type(v) == "float" then v = 2 end
    -- fx_cb_point_sum computes r.x * 100 + r.y in int: keep k small
    if spec[1] == "fx_cb_point_sum" and math_type(v) and not (v >= -1000 and v <= 1000) then v = 7 end
    args[i] = v
  end
  args.n = #spec[3]
  if r.chance(0.2) then
    -- from a coroutine: a yield inside the callback must be refused
    return "ccallback(co) " .. spec[1], function(...)
      local co = co_create(function(...) return f(...) end)
      local res = pack(co_resume(co, ...))
      if not res[1] then error(res[2], 0) end
      return unpack(res, 2, res.n)
    end, args
  end
  return "ccallback " .. spec[1], f, args
end
WEIGHTS.ccallback = 8

-- callbacks and function objects called from Lua
A.callobj = function(w)
  local r = w.r
  local obj = r.chance(0.7) and r.pick(w.callbacks) or r.pick(w.scratch)
  if r.chance(0.2) then obj = r.pick(w.ptrs) end
  if r.chance(0.2) then obj = r.pick(w.types) end
  local args = w:anyargs(4)
  -- a zero-length array passes as a pointer to no element, which a
  -- callback taking POINTER(c_int) reads (C's rules: the caller's word)
  for i = 1, args.n do
    if type(args[i]) == "userdata" and tostring(args[i]):find("_Array_0 ", 1, true) then args[i] = nil end
  end
  if r.chance(0.2) then
    -- a callback or safe foreign function seen through another function
    -- type: F(f) and cast(f, F) refuse what would be called wrongly
    local F = r.pick(w.functypes)
    if F == w.t.CB_str then F = w.t.CB_i end     -- a char * result is read
    local f = r.chance(0.5) and r.pick(w.callbacks) or r.pick(w.foreign)
    local viacast = r.chance(0.5)
    return (viacast and "cast(f, F)(...) " or "F(f)(...) ") .. describe(f), function(...)
      local g = viacast and S.cast(f, F) or F(f)
      return g(...)
    end, args
  end
  return "obj(...) " .. describe(obj), function(...) return obj(...) end, args
end
WEIGHTS.callobj = 6

-- CFUNCTYPE with random types and options
A.cfunctype = function(w)
  local r = w.r
  local args = { n = 0 }
  for i = 1, r.range(0, 4) do
    args[i] = r.chance(0.7) and r.pick(w.types) or w:any()
    args.n = i
  end
  if r.chance(0.3) then
    args.n = args.n + 1
    local opts = {}
    local k = r.pick({ "use_errno", "error", "onerror", "nope", 1 })
    opts[k] = w:any()
    args[args.n] = opts
  end
  local use = w:any()
  if math_type(use) then use = nil end   -- F(address) makes a wild function
  return "CFUNCTYPE(...)", function(...)
    local F = S.CFUNCTYPE(...)
    local _ = tostring(F), S.sizeof(F), S.POINTER(F)
    local ok, obj = pcall(F, use)
    if ok and obj ~= nil then local _ = tostring(obj) end
    if not ok then error(obj, 0) end
  end, args
end
WEIGHTS.cfunctype = 4

-- F({name, lib}, paramflags) and friends
A.funcspec = function(w)
  local r = w.r
  local F = r.pick(w.functypes)
  local spec
  local k = r.int(5)
  if k == 1 then spec = { r.pick(STRINGS), r.pick(w.libs) }
  elseif k == 2 then spec = { w:any(), w:any() }
  elseif k == 3 then spec = { "fxc_add", w.lib, "extra" }
  elseif k == 4 then spec = w:any()
  else spec = { "fxc_add", r.pick(w.libs) } end
  if math_type(spec) then spec = "x" end
  local pf = nil
  if r.chance(0.5) then
    pf = r.chance(0.5) and w:any() or { { r.pick({ 0, 1, 2, 3, 4, 8, -1, "1", 1.5 }), w:any(), w:any() }, w:any() }
  end
  return "F(spec, pf)", function(s, p) local _ = F(s, p) end, pack(spec, pf)
end
WEIGHTS.funcspec = 3

-- libraries: CDLL, lookups, attributes, loaders
A.library = function(w)
  local r = w.r
  local k = r.int(8)
  if k == 1 then
    local name = r.chance(0.3) and r.pick({ w.fixture, "libm.so.6", nil }) or w:any()
    local mode = r.chance(0.5) and nil or (r.chance(0.5) and w:any() or
      { mode = w:any(), use_errno = w:any(), [r.pick({ "nope", 1, "mode" })] = w:any() })
    -- RTLD_DEEPBIND (8) is refused by AddressSanitizer's runtime (it aborts)
    local function nodeep(m)
      local i = math_type(m) and math.tointeger(m)
      if w.asan and i then return i & ~8 end
      return m
    end
    mode = nodeep(mode)
    if type(mode) == "table" then mode.mode = nodeep(rawget(mode, "mode")) end
    return "CDLL(name, mode)", function(n, m) local l = S.CDLL(n, m); local _ = tostring(l) end, pack(name, mode)
  elseif k <= 3 then
    local lib = r.pick(w.libs)
    local key = r.chance(0.5) and r.pick(STRINGS) or w:any()
    return "lib[k] " .. describe(key), function(l, kk) local f = l[kk]; local _ = tostring(f) end, pack(lib, key)
  elseif k == 4 then
    local lib = r.pick(w.libs)
    return "lib[k] = v", function(l, kk, v) l[kk] = v end, pack(lib, w:any(), w:any())
  elseif k == 5 then
    local name = r.chance(0.5) and r.pick(STRINGS) or w:any()
    if name == "abc" then name = "_abc" end
    return "cdll[name]", function(n) local _ = S.cdll[n] end, pack(name)
  elseif k == 6 then
    local args = w:anyargs(2)
    if w.asan and math_type(args[2]) and math.tointeger(args[2]) then args[2] = math.tointeger(args[2]) & ~8 end
    return "cdll.LoadLibrary", function(...) local _ = S.cdll.LoadLibrary(...) end, args
  elseif k == 7 then
    return "LibraryLoader", function(v) local L = S.LibraryLoader(v); local _ = L[w:any()] end, pack(w:any())
  else
    -- in_dll: the right type for a real name, or bad names/libraries
    local T = r.pick(w.types)
    local lib = r.pick(w.libs)
    local name = r.pick(STRINGS)
    if r.chance(0.3) then T, lib, name = S.c_int, w.lib, "fx_lib_int" end
    if name == "fx_lib_int" and T ~= S.c_int then name = "nope" end
    if r.chance(0.2) then lib = w:any() end
    if r.chance(0.2) then name = w:any() end
    return "in_dll", function(t, l, n)
      local v = t.in_dll(l, n)
      if n == "fx_lib_int" and t == S.c_int then local _ = tostring(v) end
    end, pack(T, lib, name)
  end
end
WEIGHTS.library = 6

-- the module functions with arbitrary arguments
local PLAIN = { "sizeof", "alignment", "addressof", "byref", "pointer",
                "POINTER", "cast", "is_null", "get_errno", "set_errno",
                "release", "callback_errors", "create_string_buffer",
                "create_unicode_buffer" }
A.plain = function(w)
  local name = w.r.pick(PLAIN)
  local args = w:anyargs(3)
  -- "release" of a world callback is fine (it reports later calls)
  if name == "create_string_buffer" or name == "create_unicode_buffer" then
    -- sizes: small or absurd, never a real gigabyte
    for i = 1, args.n do args[i] = w:allocsize(args[i]) end
  end
  return name, function(...)
    local res = pack(PLAINCALL[name](...))
    -- results that are pointers into valid memory: look at them
    if name == "pointer" or name == "byref" or name == "sizeof" then
      for i = 1, res.n do local _ = tostring(res[i]) end
    end
  end, args
end
WEIGHTS.plain = 10

-- resize with any sizes
A.resize = function(w)
  local r = w.r
  local obj = r.chance(0.8) and r.pick(w.scratch) or w:any()
  local n = r.chance(0.6) and r.pick({ 0, 1, 4, 8, 16, 63, 64, 100, 256 }) or w:any()
  n = w:allocsize(n)
  return "resize", PLAINCALL.resize, pack(obj, n)
end
WEIGHTS.resize = 3

-- a memory argument: value, bytes known to be valid there (0 for junk)
function World:memarg(writable)
  local r = self.r
  local k = r.int(7)
  if k <= 3 then
    local o = r.pick(self.scratch)
    return o, S.sizeof(o), true
  elseif k == 4 and not writable then
    local s = r.pick(STRINGS)
    return s, #s + 1, true
  elseif k == 5 then
    local o = r.pick(self.scratch)
    return S.addressof(o), S.sizeof(o), false
  elseif k == 6 and not writable then
    local o = r.pick(self.ptrs)
    return o, self.psize[o] or 0, false
  elseif k == 6 then
    -- byref(obj[, offset]): ctypes knows the object's size
    local i = r.int(#self.byrefs)
    return self.byrefs[i], self.byref_size[i], true
  else
    local v = self:nonint()
    if type(v) == "userdata" then
      -- what ctypes cannot bound: not a memory argument here
      local ok, sz = pcall(S.sizeof, v)
      if ok and not self.psize[v] and not POINTERLIKE_SCALARS[tostring(v):match("^(c_%a+_?%a*)%(") or ""] then
        for _, o in ipairs(self.scratch) do if o == v then return v, sz, true end end
      end
      return nil, 0, true
    end
    return v, 0, true
  end
end

-- a size for n valid bytes: within them when ctypes cannot check, else any
function World:size(valid, checked)
  local r = self.r
  if checked and r.chance(0.4) then
    return r.pick({ -1, -100, minint, maxint, 1 << 62, valid + 1, valid * 2 + 8, 1.5, "4", 0 / 0, nil, {} })
  end
  if not checked and r.chance(0.3) then
    -- (not -1 or nil: string_at would read up to a NUL)
    return r.pick({ -2, minint, 1.5, "4", 0 / 0, {}, true })
  end
  return r.range(0, valid)
end

A.memfunc = function(w)
  local r = w.r
  local k = r.int(4)
  if k == 1 then
    local d, dn, dc = w:memarg(true)
    local s, sn, scheck = w:memarg(false)
    local n = w:size(math.min(dn, sn), dc and scheck)
    return "memmove", PLAINCALL.memmove, pack(d, s, n)
  elseif k == 2 then
    local d, dn, dc = w:memarg(true)
    return "memset", PLAINCALL.memset, pack(d, w:any(), w:size(dn, dc))
  elseif k == 3 then
    local a, an, ac = w:memarg(false)
    if r.chance(0.3) and (type(a) == "string" or ac) then
      if type(a) == "userdata" then
        return "string_at(obj)", PLAINCALL.string_at, pack(a)
      end
      return "string_at(s)", PLAINCALL.string_at, pack(a, r.pick({ -1, nil }))
    end
    return "string_at", PLAINCALL.string_at, pack(a, w:size(an, ac))
  else
    local a, an, ac = w:memarg(false)
    local n = w:size(an // 4, ac)
    if math_type(n) == "integer" and n > an // 4 and not ac then n = an // 4 end
    if type(a) == "string" then n = w:size(#a // 4, true) end
    if r.chance(0.2) and type(a) == "userdata" and ac then return "wstring_at(obj)", PLAINCALL.wstring_at, pack(a) end
    return "wstring_at", PLAINCALL.wstring_at, pack(a, n)
  end
end
WEIGHTS.memfunc = 8

-- from_address (valid addresses only), from_buffer, from_buffer_copy,
-- from_param
A.classmethod = function(w)
  local r = w.r
  local T = r.pick(w.types)
  local k = r.int(4)
  if k == 1 then
    local o = r.pick(w.scratch)
    local addr = S.addressof(o)
    local okT, tsz = pcall(S.sizeof, T)
    if not okT or tsz > S.sizeof(o) or r.chance(0.3) then addr = w:nonint() end
    if r.chance(0.1) then addr = 0 end
    return "from_address", function(t, a)
      local v = t.from_address(a)
      -- a view of valid memory: look at it (unless it is a string pointer
      -- made of random bytes)
      if not STRINGPTR[t] then local _ = tostring(v) end
    end, pack(T, addr)
  elseif k == 2 then
    return "from_buffer", function(...)
      local v = T.from_buffer(...)
      if not STRINGPTR[T] then local _ = tostring(v) end
    end, pack(r.chance(0.8) and r.pick(w.scratch) or w:any(),
              r.chance(0.5) and nil or r.pick({ 0, 1, 4, 8, -1, 1.5, maxint, "1" }))
  elseif k == 3 then
    local src = r.chance(0.3) and r.pick(STRINGS) or (r.chance(0.7) and r.pick(w.scratch) or w:any())
    if r.chance(0.2) then
      -- T:method(...) and T.method(OtherT, ...)
      local first = r.chance(0.5) and T or r.pick(w.types)
      return "from_buffer_copy(T, ...)", function(...) local _ = T.from_buffer_copy(first, ...) end,
        pack(src, r.chance(0.5) and nil or r.pick({ 0, 1, 4, -1 }))
    end
    return "from_buffer_copy", function(...) local _ = T.from_buffer_copy(...) end,
      pack(src, r.chance(0.5) and nil or r.pick({ 0, 1, 4, 8, -1, 1.5, maxint }))
  else
    local v = r.chance(0.5) and w:nonint() or w:any()
    return "from_param " .. describe(T), function(vv) local _ = T.from_param(vv) end, pack(v)
  end
end
WEIGHTS.classmethod = 6

-- tostring, #, pairs, iterators with bad state
A.meta = function(w)
  local r = w.r
  local k = r.int(5)
  local obj = w:any()
  if k == 1 then
    -- tostring of anything that is not a wild pointer
    return "tostring", function(o) return tostring(o) end, pack(obj)
  elseif k == 2 then
    -- instances have a length operator (the others are plain userdata)
    obj = r.pick({ r.pick(w.scratch), r.pick(w.ptrs), r.pick(w.callbacks), r.pick(w.foreign) })
    return "#obj", function(o) return #o end, pack(obj)
  elseif k == 3 then
    local o = r.pick(w.scratch)
    return "pairs(obj)", function(oo)
      local n = 0
      for _, v in pairs(oo) do n = n + 1; if type(v) == "userdata" then local _ = tostring(v) end end
      return n
    end, pack(o)
  elseif k == 4 then
    -- the iterator pairs() returns, called by hand with a bad state
    local o = r.pick(w.scratch)
    local st = r.chance(0.5) and o or w:any()
    if r.chance(0.3) then st = r.pick(w.scratch) end
    local ctl = r.pick({ -1, 0, 1, maxint, minint, -2, 1.5, "0", nil })
    return "pairs iterator", function(oo, s, c)
      local okp, f = pcall(pairs, oo)
      if not okp then error(f, 0) end
      local _, v2 = f(s, c)
      if type(v2) == "userdata" then local _ = tostring(v2) end
    end, pack(o, st, ctl)
  elseif r.chance(0.3) then
    -- a closed library refuses lookups; what it gave stays callable
    return "<close> lib", function()
      local l = S.CDLL(w.fixture)
      local f = l.fxc_add
      close(l)
      l = nil  -- luacheck: ignore (drops the reference for the collector)
      collectgarbage()
      if f(3, 4) ~= 7 then error("function of a closed library broken") end
      local l2 = S.CDLL(w.fixture)
      local _ = l2._name
      close(l2)
    end, pack()
  else
    -- <close> on instances and callbacks
    local o = r.chance(0.5) and r.pick(w.scratch) or r.pick(w.callbacks)
    return "<close>", function(oo) close(oo) end, pack(o)
  end
end
WEIGHTS.meta = 6

-- metamethods called directly, with the wrong object (getmetatable gives
-- them to any Lua code)
A.rawmeta = function(w)
  local r = w.r
  local holder = r.pick({ r.pick(w.scratch), r.pick(w.types), r.pick(w.libs),
                          r.pick(w.byrefs), r.pick(w.fields), r.pick(w.callbacks) })
  local mt = getmetatable(holder)
  if type(mt) ~= "table" then
    return "getmetatable", function() return mt end, pack()
  end
  -- a metatable within reach: its metamethods can be called with anything
  w.exposed = w.exposed or describe(holder)
  local names = {}
  for k, v in pairs(mt) do if type(v) == "function" and k ~= "__gc" then names[#names + 1] = k end end
  table.sort(names)
  if #names == 0 then return "nometa", function() end, pack() end
  local mm = r.pick(names)
  local args = w:anyargs(3)
  if r.chance(0.5) then args[1] = w:any(); args.n = math.max(args.n, 1) end
  return "metamethod " .. mm, function(...) return mt[mm](...) end, args
end
WEIGHTS.rawmeta = 3

-- the core module's own functions (ctypes.core is a public module too),
-- the structure and union constructors among them
local STRUCT_CTORS = { Structure = true, Union = true, BigEndianStructure = true,
                       LittleEndianStructure = true, BigEndianUnion = true,
                       LittleEndianUnion = true }
A.core = function(w)
  local names = {}
  for k, v in pairs(core) do if type(v) == "function" then names[#names + 1] = k end end
  table.sort(names)
  local name = w.r.pick(names)
  local args = w:anyargs(3)
  if STRUCT_CTORS[name] and w.r.chance(0.7) then
    args = pack(w.r.chance(0.8) and "MCore" or w:any(),
                w.r.chance(0.7) and { _fields_ = w:fieldsbody() } or w:any())
  end
  if name == "CFUNCTYPE" or name == "release" or name == "_calls_direct" or
     name == "callback_config" then
    return "core." .. name, function() end, pack()        -- covered elsewhere
  end
  if name == "create_string_buffer" or name == "resize" then
    for i = 1, args.n do args[i] = w:allocsize(args[i]) end
  end
  if name == "memmove" or name == "memset" or name == "string_at" or
     name == "wstring_at" or name == "CDLL" then
    return "core." .. name, function() end, pack()        -- sizes: see memfunc
  end
  local f = load(("local %s = ...; return function(...) return %s(...) end")
                 :format(name, name))(core[name])
  return "core." .. name, function(...) local _ = f(...) end, args
end
WEIGHTS.core = 3

-- deeply nested types: arrays of arrays, pointers to pointers, structures
-- in structures, initialised from nested tables
A.deep = function(w)
  local r = w.r
  local depth = r.pick({ 10, 100, 999, 1000, 1001, 1500 })
  local kind = r.int(3)
  return "deep " .. kind .. " " .. depth, function()
    local T, init = S.c_int, 7
    for i = 1, depth do
      if kind == 1 then T, init = T * 1, { init }
      elseif kind == 2 then T = S.POINTER(T)
      else
        T = S.Structure("D" .. i, { _fields_ = { { "m", T } } })
        init = { init }
      end
    end
    local o = kind == 2 and T() or T(init)
    local _ = tostring(o), tostring(T), S.sizeof(T)
    if kind ~= 2 then
      local v = o
      for _ = 1, depth do v = kind == 1 and v[0] or v.m end
      if v ~= 7 then error("deep value lost: " .. tostring(v)) end
      local copy = T.from_buffer_copy(o)
      local _ = copy
    end
  end, pack()
end
WEIGHTS.deep = 1

-- errno, callback settings, find_library
A.misc = function(w)
  local r = w.r
  local k = r.int(5)
  if k == 1 then
    return "set_errno", PLAINCALL.set_errno, pack(w:any())
  elseif k == 2 then
    local opts = w:any()
    if r.chance(0.6) then opts = { [r.pick({ "report", "debug", "direct", "nope", 1 })] = w:any() } end
    return "callback_config", function(o)
      local old = S.callback_config()
      local ok, e = pcall(S.callback_config, o)
      S.callback_config(old)
      if not ok then error(e, 0) end
    end, pack(opts)
  elseif k == 3 then
    -- find_library runs ldconfig: only inputs it refuses or answers at once
    local v = w:any()
    if type(v) == "string" then v = r.pick({ "", "a/b", "x\0y" }) end
    return "find_library", PLAINCALL.find_library, pack(v)
  elseif k == 4 then
    return "callback_errors", PLAINCALL.callback_errors, w:anyargs(2)
  else
    return "_calls_direct", function(v) local old = core._calls_direct(v); core._calls_direct(old) end, pack(w:any())
  end
end
WEIGHTS.misc = 3

-- field descriptors
A.field = function(w)
  local r = w.r
  local fd = r.pick(w.fields)
  if r.chance(0.6) then
    local key = r.pick({ "name", "offset", "size", "type", "bit_size", "bit_offset", "x", 1 })
    if r.chance(0.3) then key = w:any() end
    return "field[k]", function(f, k) local v = f[k]; return tostring(v) end, pack(fd, key)
  end
  return "field[k] = v", function(f, k, v) f[k] = v end, pack(fd, w:key(), w:any())
end
WEIGHTS.field = 3

-- lifetime probes: an object reached only through another one; checked
-- after collections
A.probe = function(w)
  local r = w.r
  local n = r.range(1, 1 << 30)
  local k = r.int(12)
  local probe
  if k == 10 then
    -- a pointer value copied out of a slot, the slot then cleared
    local a, b = (w.t.P * 1)(S.pointer(S.c_int(n))), (w.t.P * 1)()
    b[0] = a[0]
    a[0] = nil
    probe = function() return b[0][0] == n end
  elseif k == 11 then
    -- assigned to itself, then resized (old buffers and copied slots)
    local s = S.c_char_p(("r" .. n):rep(2))
    s.value = s
    S.resize(s, 16); S.resize(s, 24)
    probe = function() return s.value == ("r" .. n):rep(2) end
  elseif k == 12 then
    local o = w.t.Ptrs{ s = "m" .. n, p = S.pointer(S.c_int(n)) }
    local q = w.t.Ptrs()
    q.s, q.p = o.s, o.p
    o.p = nil
    o = nil
    probe = function() return q.s == "m" .. n and q.p[0] == n end
  elseif k == 1 then
    local p = S.pointer(S.c_int(n))
    probe = function() return p.contents.value == n and p[0] == n end
  elseif k == 2 then
    local s = S.c_char_p(("s" .. n):rep(3))
    probe = function() return s.value == ("s" .. n):rep(3) end
  elseif k == 3 then
    local o = w.t.Ptrs{ p = S.pointer(S.c_int(n)), s = "f" .. n, w = "w" .. n }
    probe = function() return o.p[0] == n and o.s == "f" .. n and o.w == "w" .. n end
  elseif k == 4 then
    local v = w.t.Nest{ p = { n, 1 } }.p                 -- a view of a temporary
    probe = function() return v.x == n end
  elseif k == 5 then
    local v = S.c_int.from_buffer((S.c_int * 2)(1, n), 4)
    probe = function() return v.value == n end
  elseif k == 6 then
    local c = S.cast((S.c_int * 2)(n, 2), w.t.P)
    probe = function() return c[0] == n and c[1] == 2 end
  elseif k == 7 then
    local pp = w.t.PP(S.pointer(S.c_int(n)))
    probe = function() return pp[0][0] == n end
  elseif k == 8 then
    local o = S.c_int(n)
    S.resize(o, 32)
    local view = S.cast(o, w.t.P)
    S.resize(o, 64)
    probe = function() return view[0] == n and o.value == n end
  else
    local cb = w.t.CB_i(function(a) return a + 1 end)
    local holder = w.t.Ptrs()
    local f = w:cfunc({ "fx_cb_call_n", "c_int", { "CB_i", "c_int" } })
    local node = (w.t.CB_i * 1)(cb)
    cb = nil
    probe = function() return f(node[0], 2) == 3 and holder.s == nil end
  end
  w.probes[#w.probes + 1] = probe
  if #w.probes > 40 then table.remove(w.probes, 1) end
  return "probe", probe, pack()
end
WEIGHTS.probe = 3

local NAMES = {}
for name in pairs(A) do NAMES[#NAMES + 1] = name end
table.sort(NAMES)
M.ACTIONS = NAMES
local TOTAL = 0
for _, name in ipairs(NAMES) do TOTAL = TOTAL + WEIGHTS[name] end

function World:pickaction()
  local skip = self.skip
  for _ = 1, 100 do
    local x = self.r.int(TOTAL)
    for _, name in ipairs(NAMES) do
      x = x - WEIGHTS[name]
      if x <= 0 then
        if not (skip and skip[name]) then return name end
        break
      end
    end
  end
  return "plain"
end

-- the world is going: a callback stored in C must not outlive it, so
-- stores through other paths (a nested action) are cleared too
function World:forget()
  self.cfuncs = nil
end

-- a nested misuse action (inside a callback): at most two deep
function World:misuse_nested()
  if (self.depth or 0) >= 2 then return 0 end
  self.depth = (self.depth or 0) + 1
  local name = self:pickaction()
  local ok, _, fn, args = pcall(A[name], self)
  local res = 0
  if ok then
    local ok2, e = pcall(fn, unpack(args, 1, args.n))
    if not ok2 then
      self.depth = self.depth - 1
      error(e, 0)
    end
  end
  self.depth = self.depth - 1
  return res
end

-- a callback that calls C again (which calls it back), two levels deep
function World:reenter(a)
  if (self.depth or 0) >= 2 then return 1 end
  self.depth = (self.depth or 0) + 1
  local f = self:cfunc(CFIX[1])
  local ok, e = pcall(f, self.r.pick(self.cb_by_type[self.t.CB_ii]), 1, 2)
  self.depth = self.depth - 1
  if not ok then error(e, 0) end
  return e
end

-- }==================================================================


-- {==================================================================
-- The runner
-- ===================================================================

-- opts: seed, steps, fixture, trace(step, label, argsdesc) (optional),
-- gc_every (default 25), world_every (default 400)
function M.run(opts)
  local r = new_rng(opts.seed)
  local steps = opts.steps or 500
  local gc_every = opts.gc_every or 25
  local world_every = opts.world_every or 400
  local trace = opts.trace
  local result = { calls = 0, errors = 0, failures = {}, actions = {} }
  local function fail(step, label, why)
    if #result.failures < 20 then
      result.failures[#result.failures + 1] = { step = step, label = label, why = why }
    end
  end
  local oldcfg = S.callback_config({ report = false, debug = false })
  local olddirect = core._calls_direct()
  local w
  for step = 1, steps do
    if w == nil or step % world_every == 0 then
      -- C may hold a callback of the old world: drop it before the world
      if w then
        local store = w:cfunc(CFIX[10])
        store(nil)
        w:forget()
      end
      w = new_world(r, opts.fixture)
      w.skip = opts.skip
      w.asan = opts.asan
      M.cbname = w.cbname
      collectgarbage()
    end
    local name = w:pickaction()
    local ok, label, fn, args = pcall(A[name], w)
    if not ok then
      fail(step, name, "generator error: " .. tostring(label))
    else
      if r.chance(0.05) and name ~= "ccallback" then
        -- trailing extra arguments: nothing may count on the stack's top
        -- (no numbers: a size or address out of the generator's control)
        for _ = 1, r.range(1, 2) do
          local v = w:nonint()
          if math_type(v) then v = true end
          args.n = args.n + 1; args[args.n] = v
        end
      end
      local desc = label .. "(" .. describe_args(args) .. ")"
      if trace then trace(step, desc, args) end
      local ok2, err = pcall(fn, unpack(args, 1, args.n))
      result.calls = result.calls + 1
      if opts.observe then opts.observe(name, ok2, err) end
      result.actions[name] = (result.actions[name] or 0) + 1
      if not ok2 then
        result.errors = result.errors + 1
        local why = M.check(err)
        if why then fail(step, desc, why .. ": " .. describe(err)) end
      end
      if name == "probe" and ok2 and not err then
        fail(step, desc, "lifetime probe failed at creation")
      end
    end
    if w.exposed then
      fail(step, "getmetatable", "metatable of " .. w.exposed .. " within reach")
      w.exposed = false
    end
    w.depth = 0
    -- drain errors from callbacks that ran outside a call
    S.callback_errors()
    if step % gc_every == 0 then
      collectgarbage(r.chance(0.5) and "collect" or "step")
      for i, probe in ipairs(w.probes) do
        local okp, good = pcall(probe)
        if not okp or not good then
          fail(step, "probe " .. i, "lifetime probe failed after a collection: " .. tostring(good))
        end
      end
    end
  end
  if w then w:cfunc(CFIX[10])(nil); w:forget() end
  S.callback_config(oldcfg)
  core._calls_direct(olddirect)
  S.callback_errors()
  return result
end

-- }==================================================================

return M
