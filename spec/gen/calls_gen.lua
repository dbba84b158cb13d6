-- Generator for the call differential test (spec/calls_diff_spec.lua).
--
-- From a seed it makes random C signatures (scalars of every kind, structs
-- and unions of 1-32 bytes with float/double mixes, arrays, bit fields,
-- packed layouts, long double, variadic tails) and the C source of one
-- function per signature. Each C function folds every argument value into a
-- 64-bit checksum (stored in diff_hash) and returns a value derived from the
-- checksum. The Lua side passes known values, computes the same checksum and
-- the same derived value, and compares: gcc is the oracle.
local M = {}

-- long is 32 or 64 bits wide, as the target has it
-- and pointers are 32 or 64 bits wide
local PTR_MAX = require("ctypes").sizeof(require("ctypes").c_void_p) == 8
                and math.maxinteger or 0xFFFFFFFF
local concat, fmt, unpack = table.concat, string.format, table.unpack
local spack, sunpack = string.pack, string.unpack

-- the target's facts, from the fixture (gcc): long's width, char's sign
local PLATFORM = require("spec.helper").platform
local LONGBITS = 8 * PLATFORM.long_size

-- scalar kinds: ctypes name, C type, class, bits, signed
local SCALARS = {
  { ct = "c_bool",       c = "_Bool",              k = "bool" },
  { ct = "c_char",       c = "char",               k = "int", bits = 8,
    signed = PLATFORM.char_signed, char = true },
  { ct = "c_byte",       c = "signed char",        k = "int", bits = 8,  signed = true },
  { ct = "c_ubyte",      c = "unsigned char",      k = "int", bits = 8 },
  { ct = "c_short",      c = "short",              k = "int", bits = 16, signed = true },
  { ct = "c_ushort",     c = "unsigned short",     k = "int", bits = 16 },
  { ct = "c_int",        c = "int",                k = "int", bits = 32, signed = true },
  { ct = "c_uint",       c = "unsigned int",       k = "int", bits = 32 },
  { ct = "c_long",       c = "long",               k = "int", bits = LONGBITS, signed = true },
  { ct = "c_ulong",      c = "unsigned long",      k = "int", bits = LONGBITS },
  { ct = "c_longlong",   c = "long long",          k = "int", bits = 64, signed = true },
  { ct = "c_ulonglong",  c = "unsigned long long", k = "int", bits = 64 },
  { ct = "c_float",      c = "float",              k = "float" },
  { ct = "c_double",     c = "double",             k = "float" },
  { ct = "c_longdouble", c = "long double",        k = "float", ld = true },
  { ct = "c_void_p",     c = "void *",             k = "ptr" },
}
local BYNAME = {}
for _, s in ipairs(SCALARS) do BYNAME[s.ct] = s end

-- weights: common register kinds more often, long double rarely
local PICK = {
  "c_int", "c_int", "c_double", "c_double", "c_float", "c_float", "c_long",
  "c_char", "c_short", "c_ubyte", "c_uint", "c_ulong", "c_bool", "c_byte",
  "c_ushort", "c_longlong", "c_ulonglong", "c_void_p", "c_float", "c_double",
  "c_longdouble",
}
local FIELDPICK = {
  "c_int", "c_float", "c_float", "c_double", "c_double", "c_char", "c_short",
  "c_long", "c_ubyte", "c_uint", "c_bool", "c_void_p", "c_ushort",
}

local P = 0x100000001b3
local function mix(h, v) return (h ~ v) * P end

local function dbits(x) return (sunpack("<i8", spack("<d", x))) end

-- an integer of `bits` bits (signed or not) as C would hold it, as a Lua int
local function wrap(v, bits, signed)
  if bits == 64 then return v end
  local m = (1 << bits) - 1
  v = v & m
  if signed and v >= (1 << (bits - 1)) then v = v - (1 << bits) end
  return v
end

local function derive(h, j) return h * (2 * j + 1) + j end

-- {k=...} value the C side produces from 64-bit d
local function fromderived(s, d)
  if s.k == "bool" then return (d & 1) ~= 0
  elseif s.k == "int" then
    local v = wrap(d, s.bits, s.signed)
    if s.char then return string.char(v & 0xFF) end
    return v
  elseif s.k == "float" then return (d & 0xFFFFF) / 4
  else
    if PTR_MAX ~= math.maxinteger then d = d & PTR_MAX end
    if d == 0 then return nil end
    return d
  end
end

-- the C expression giving a T from uint64_t expression e
local function cfromderived(s, e)
  if s.k == "bool" then return fmt("(_Bool)((%s) & 1)", e)
  elseif s.k == "int" then return fmt("(%s)(%s)", s.c, e)
  elseif s.k == "float" then
    return fmt("(%s)((double)((%s) & 0xFFFFF) / 4)", s.c, e)
  else return fmt("(void *)(uintptr_t)(%s)", e) end
end

-- the C expression folding value e of scalar s into h
local function chash(s, e)
  if s.k == "float" then return fmt("h = mix(h, dbits((double)(%s)));", e)
  elseif s.k == "ptr" then return fmt("h = mix(h, (uint64_t)(uintptr_t)(%s));", e)
  elseif s.k == "bool" then return fmt("h = mix(h, (uint64_t)(%s));", e)
  -- plain char is signed or not as the target has it (s.signed, from gcc)
  elseif s.signed then return fmt("h = mix(h, (uint64_t)(int64_t)(%s));", e)
  else return fmt("h = mix(h, (uint64_t)(%s));", e) end
end

-- a random Lua value for scalar s, and its checksum word
local function randvalue(rnd, s)
  if s.k == "bool" then
    local b = rnd(0, 1) == 1
    return b, b and 1 or 0
  elseif s.k == "int" then
    local v
    if s.bits == 64 then v = rnd(math.mininteger, math.maxinteger)
    else
      v = rnd(0, (1 << s.bits) - 1)
      v = wrap(v, s.bits, s.signed)
    end
    return v, v
  elseif s.k == "float" then
    local v = rnd(-40000, 40000) / 8
    return v, dbits(v)
  else
    local v = rnd(1, PTR_MAX)
    return v, v
  end
end

-- {======================================================================
-- Aggregates
-- ======================================================================

-- an aggregate: { name, union, pack, fields = { {name, s, n (array), bits} } }
local function genagg(rnd, idx, aggs)
  local a = { name = "A" .. idx, union = rnd(1, 7) == 1, fields = {} }
  a.pack = not a.union and rnd(1, 8) == 1
  local nf = a.union and rnd(1, 3) or rnd(1, 5)
  local bitrun = false
  for i = 1, nf do
    local f = { name = "f" .. i }
    local r = rnd(1, 10)
    if r == 1 and not a.union then
      -- bit field
      f.s = BYNAME[rnd(0, 1) == 1 and "c_int" or "c_uint"]
      f.bits = rnd(1, 15)
      bitrun = true
    elseif r == 2 then
      f.s = BYNAME[({ "c_char", "c_float", "c_short", "c_int", "c_ubyte" })[rnd(1, 5)]]
      f.n = rnd(2, 4)
    elseif r == 3 and idx > 1 then
      f.sub = aggs[rnd(1, idx - 1)]      -- a nested aggregate
    else
      f.s = BYNAME[FIELDPICK[rnd(1, #FIELDPICK)]]
      if rnd(1, 40) == 1 then f.s = BYNAME.c_longdouble end
    end
    a.fields[i] = f
  end
  a.hasbits = bitrun
  return a
end

local function cdecl(a)
  local out = {}
  if a.pack then out[#out + 1] = "#pragma pack(push, 1)" end
  out[#out + 1] = fmt("typedef %s {", a.union and "union" or "struct")
  for _, f in ipairs(a.fields) do
    if f.bits then
      out[#out + 1] = fmt("  %s %s : %d;", f.s.c, f.name, f.bits)
    elseif f.n then
      out[#out + 1] = fmt("  %s %s[%d];", f.s.c, f.name, f.n)
    elseif f.sub then
      out[#out + 1] = fmt("  %s %s;", f.sub.name, f.name)
    else
      out[#out + 1] = fmt("  %s %s;", f.s.c, f.name)
    end
  end
  out[#out + 1] = fmt("} %s;", a.name)
  if a.pack then out[#out + 1] = "#pragma pack(pop)" end
  out[#out + 1] = fmt("size_t diff_sizeof_%s (void) { return sizeof(%s); }",
                      a.name, a.name)
  return concat(out, "\n")
end

-- the fields a union uses: only the first member is set and read
local function usedfields(a)
  if a.union then return { a.fields[1] } end
  return a.fields
end

-- the scalar leaves of an aggregate, in order: { path = {keys}, c = ".f1[2]",
-- s = scalar, bits = width or nil }
local function leaves(a, path, cpath, out)
  out = out or {}
  for _, f in ipairs(usedfields(a)) do
    local p = { table.unpack(path or {}) }
    p[#p + 1] = f.name
    local cp = (cpath or "") .. "." .. f.name
    if f.sub then leaves(f.sub, p, cp, out)
    elseif f.n then
      for k = 0, f.n - 1 do
        local pk = { table.unpack(p) }
        pk[#pk + 1] = k
        out[#out + 1] = { path = pk, c = fmt("%s[%d]", cp, k), s = f.s }
      end
    else
      out[#out + 1] = { path = p, c = cp, s = f.s, bits = f.bits }
    end
  end
  return out
end

-- C statements hashing aggregate expression e
local function chashagg(a, e, out)
  for _, lf in ipairs(leaves(a)) do
    out[#out + 1] = "  " .. chash(lf.s, e .. lf.c)
  end
end

-- } ======================================================================

-- a signature: { ret = s | agg | nil, args = { s | agg }, var = {...} }
local function pickarg(rnd, aggs)
  if rnd(1, 4) == 1 then
    return { agg = aggs[rnd(1, #aggs)] }
  end
  return { s = BYNAME[PICK[rnd(1, #PICK)]] }
end

-- math.random(a, b), also for ranges wider than math.maxinteger, which Lua
-- 5.3 refuses ("interval too large"): there a 64-bit value is built from
-- 16-bit draws until one falls in the range (more than half do).  Lua 5.4
-- draws exactly as math.random does.
local function draw(a, b)
  local ok, v = pcall(math.random, a, b)
  if ok then return v end
  while true do
    local x = 0
    for _ = 1, 4 do x = (x << 16) | math.random(0, 0xffff) end
    if x >= a and x <= b then return x end
  end
end

function M.generate(seed, nsig, nvar)
  math.randomseed(seed)
  local rnd = draw
  local aggs = {}
  for i = 1, 40 do aggs[i] = genagg(rnd, i, aggs) end
  local sigs = {}
  for i = 1, nsig do
    local sig = { id = i, args = {} }
    local na = rnd(0, 3) == 0 and rnd(7, 18) or rnd(0, 7)
    for j = 1, na do sig.args[j] = pickarg(rnd, aggs) end
    local r = rnd(1, 10)
    if r == 1 then sig.ret = nil
    else sig.ret = pickarg(rnd, aggs) end
    sigs[i] = sig
  end
  -- variadic: int n, then promoted values (int, long, double, pointer)
  local vars = {}
  local VK = { "int", "long", "double", "ptr" }
  for i = 1, nvar do
    local v = { id = i, kinds = {} }
    for j = 1, rnd(0, 14) do v.kinds[j] = VK[rnd(1, 4)] end
    vars[i] = v
  end
  -- C source
  local c = {
    "#include <stdint.h>", "#include <stddef.h>", "#include <string.h>",
    "#include <stdarg.h>",
    "static uint64_t mix (uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ULL; }",
    "static uint64_t dbits (double d) { uint64_t u; memcpy(&u, &d, 8); return u; }",
    "static uint64_t g_hash;",
    "uint64_t diff_hash (void) { return g_hash; }",
  }
  for _, a in ipairs(aggs) do c[#c + 1] = cdecl(a) end
  local function ctype(x) return x.agg and x.agg.name or x.s.c end
  for _, sig in ipairs(sigs) do
    local params = {}
    for j, a in ipairs(sig.args) do params[j] = fmt("%s a%d", ctype(a), j) end
    if #params == 0 then params[1] = "void" end
    c[#c + 1] = fmt("%s diff_f%d (%s) {", sig.ret and ctype(sig.ret) or "void",
                    sig.id, concat(params, ", "))
    c[#c + 1] = fmt("  uint64_t h = %dULL;", sig.id)
    for j, a in ipairs(sig.args) do
      if a.agg then chashagg(a.agg, "a" .. j, c)
      else c[#c + 1] = "  " .. chash(a.s, "a" .. j) end
    end
    c[#c + 1] = "  g_hash = h;"
    if sig.ret and sig.ret.agg then
      local ag = sig.ret.agg
      c[#c + 1] = fmt("  %s r; memset(&r, 0, sizeof r);", ag.name)
      for j, lf in ipairs(leaves(ag)) do
        c[#c + 1] = fmt("  r%s = %s;", lf.c,
                        cfromderived(lf.s, fmt("derive(h, %d)", j)))
      end
      c[#c + 1] = "  return r;"
    elseif sig.ret then
      c[#c + 1] = fmt("  return %s;", cfromderived(sig.ret.s, "derive(h, 0)"))
    end
    c[#c + 1] = "}"
  end
  for _, v in ipairs(vars) do
    c[#c + 1] = fmt("uint64_t diff_v%d (int n, ...) {", v.id)
    c[#c + 1] = fmt("  uint64_t h = %dULL; va_list ap; va_start(ap, n);", v.id)
    c[#c + 1] = "  h = mix(h, (uint64_t)(int64_t)n);"
    for _, k in ipairs(v.kinds) do
      if k == "int" then c[#c + 1] = "  h = mix(h, (uint64_t)(int64_t)va_arg(ap, int));"
      elseif k == "long" then c[#c + 1] = "  h = mix(h, (uint64_t)va_arg(ap, long));"
      elseif k == "double" then c[#c + 1] = "  h = mix(h, dbits(va_arg(ap, double)));"
      else c[#c + 1] = "  h = mix(h, (uint64_t)(uintptr_t)va_arg(ap, void *));" end
    end
    c[#c + 1] = "  va_end(ap); return h;"
    c[#c + 1] = "}"
  end
  -- derive() must exist before use: put it after the helpers
  table.insert(c, 8, "static uint64_t derive (uint64_t h, int j) { return h * (uint64_t)(2 * j + 1) + (uint64_t)j; }")
  return { source = concat(c, "\n") .. "\n", sigs = sigs, aggs = aggs, vars = vars }
end

-- {======================================================================
-- Running
-- ======================================================================

-- makes the ctypes types of the aggregates; returns problems (layout)
local function maketypes(ctypes, lib, gen)
  local bad = {}
  for _, a in ipairs(gen.aggs) do
    local fields = {}
    for i, f in ipairs(a.fields) do
      local T = f.sub and f.sub.T or ctypes[f.s.ct]
      if f.n then T = T * f.n end
      fields[i] = f.bits and { f.name, T, f.bits } or { f.name, T }
    end
    local body = { _fields_ = fields }
    if a.pack then body._pack_ = 1 end
    a.T = (a.union and ctypes.Union or ctypes.Structure)(a.name, body)
    local f = lib["diff_sizeof_" .. a.name]
    f.restype = ctypes.c_size_t
    if f() ~= ctypes.sizeof(a.T) then
      bad[#bad + 1] = fmt("%s: sizeof %d, gcc %d", a.name, ctypes.sizeof(a.T), f())
    end
  end
  return bad
end

-- steps n keys along path from obj, an instance of aggregate type T; an
-- array member through a view of it (c_char members read as text)
local function walk(obj, T, path, n)
  for i = 1, n do
    local k = path[i]
    if type(k) == "number" then obj = obj[k]
    else
      local F = T[k]
      if type(path[i + 1]) == "number" then obj = F.type.from_buffer(obj, F.offset)
      else obj = obj[k] end
      T = F.type
    end
  end
  return obj
end

local function getpath(obj, T, path) return walk(obj, T, path, #path) end

local function setpath(obj, T, path, v)
  walk(obj, T, path, #path - 1)[path[#path]] = v
end

-- a random instance of aggregate a and its checksum words appended to hs
local function randagg(rnd, a, hs)
  local obj = a.T()
  for _, lf in ipairs(leaves(a)) do
    local v, w
    if lf.bits then
      v = wrap(rnd(0, (1 << lf.bits) - 1), lf.bits, lf.s.signed)
      w = v
    else
      v, w = randvalue(rnd, lf.s)
      if lf.s.char then v = v & 0xFF; w = wrap(v, 8, lf.s.signed) end
    end
    setpath(obj, a.T, lf.path, v)
    hs[#hs + 1] = w
  end
  return obj
end

local function same(a, b)
  if a == b then return true end
  if type(a) == "number" and type(b) == "number" then return a == b end
  return false
end

-- compares a returned aggregate with what the C side derived from h
local function checkagg(a, r, h)
  for j, lf in ipairs(leaves(a)) do
    local d = derive(h, j)
    local want = lf.bits and wrap(d, lf.bits, lf.s.signed) or fromderived(lf.s, d)
    local got = getpath(r, a.T, lf.path)
    if lf.s.char and type(got) == "number" then got = string.char(got & 0xFF) end
    if not same(got, want) then
      return fmt("field %s: got %s, want %s", lf.c, tostring(got), tostring(want))
    end
  end
end

local function describe(sig)
  local t = {}
  for j, a in ipairs(sig.args) do t[j] = a.agg and a.agg.name or a.s.ct end
  return fmt("diff_f%d(%s) -> %s", sig.id, concat(t, ", "),
             sig.ret and (sig.ret.agg and sig.ret.agg.name or sig.ret.s.ct) or "void")
end

-- runs every signature once; returns the list of failures. With untyped
-- set, argtypes stay nil and every argument is an instance of its type, so
-- the signature is rebuilt from the values at each call.
function M.run(ctypes, lib, gen, seed, untyped)
  local fails = maketypes(ctypes, lib, gen)
  math.randomseed(seed)
  local rnd = draw
  local hashf = lib.diff_hash
  hashf.restype = ctypes.c_uint64
  for _, sig in ipairs(gen.sigs) do
    local f = lib["diff_f" .. sig.id]
    local at, vals, hs = {}, {}, {}
    for j, a in ipairs(sig.args) do
      if a.agg then
        at[j] = a.agg.T
        vals[j] = randagg(rnd, a.agg, hs)
      else
        at[j] = ctypes[a.s.ct]
        local v, w = randvalue(rnd, a.s)
        if a.s.char then
          v = string.char(v & 0xFF)
        end
        vals[j] = untyped and at[j](v) or v
        hs[#hs + 1] = w
      end
    end
    f.argtypes = not untyped and at or nil
    if sig.ret == nil then f.restype = nil
    else f.restype = sig.ret.agg and sig.ret.agg.T or ctypes[sig.ret.s.ct] end
    local h = sig.id
    for _, w in ipairs(hs) do h = mix(h, w) end
    local ok, r = pcall(f, unpack(vals, 1, #sig.args))
    if not ok then
      fails[#fails + 1] = describe(sig) .. ": error " .. tostring(r)
    else
      local gh = hashf()
      if gh ~= h then
        fails[#fails + 1] = fmt("%s: checksum %x, want %x", describe(sig), gh, h)
      elseif sig.ret and sig.ret.agg then
        local e = checkagg(sig.ret.agg, r, h)
        if e then fails[#fails + 1] = describe(sig) .. ": " .. e end
      elseif sig.ret then
        local want = fromderived(sig.ret.s, derive(h, 0))
        if not same(r, want) then
          fails[#fails + 1] = fmt("%s: returned %s, want %s", describe(sig),
                                  tostring(r), tostring(want))
        end
      end
    end
  end
  -- variadic: argtypes {c_int}, the rest by their Lua types or as c_long
  for _, v in ipairs(untyped and {} or gen.vars) do
    local f = lib["diff_v" .. v.id]
    f.argtypes = { ctypes.c_int }
    f.restype = ctypes.c_uint64
    local vals, h = { #v.kinds }, mix(v.id, #v.kinds)
    for j, k in ipairs(v.kinds) do
      local x
      if k == "int" then x = rnd(-2147483648, 2147483647); h = mix(h, x)
      elseif k == "long" then
        local n = LONGBITS == 64 and rnd(math.mininteger, math.maxinteger)
                  or rnd(-2147483648, 2147483647)
        x = ctypes.c_long(n); h = mix(h, n)
      elseif k == "double" then
        x = rnd(-4000, 4000) / 4
        if rnd(0, 1) == 1 then x = ctypes.c_float(x) end  -- promoted
        h = mix(h, dbits(type(x) == "number" and x or x.value))
      else
        local n = rnd(1, PTR_MAX)
        x = ctypes.c_void_p(n); h = mix(h, n)
      end
      vals[j + 1] = x
    end
    local ok, r = pcall(f, unpack(vals, 1, #v.kinds + 1))
    if not ok then fails[#fails + 1] = fmt("diff_v%d: error %s", v.id, tostring(r))
    elseif r ~= h then
      fails[#fails + 1] = fmt("diff_v%d (%s): %x, want %x", v.id,
                              concat(v.kinds, ","), r, h)
    end
  end
  return fails
end

-- } ======================================================================

return M
