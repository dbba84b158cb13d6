-- spec/gen/layout.lua: a seeded generator of random structure and union
-- declarations for the layout differential test (spec/layout_diff_spec.lua).
--
--   local gen = require("spec.gen.layout")
--   local decls = gen.generate(seed, count[, big])  -- deterministic for a
--                              seed; big: BigEndianStructure/Union, declared
--                              in C with scalar_storage_order("big-endian")
--   gen.csource(decls)         -- a C program printing gcc's layout report
--   gen.build(ctypes, decls)   -- the same types built with lua-ctypes
--   gen.report(ctypes, decls, types)  -- lua-ctypes' report, same format
--   gen.gcc_run(helper, csource)      -- compiles and runs a C program with
--                              gcc in a temp dir; returns its output
--   gen.compare(decls, creport, lreport)  -- line count, first differences
--   gen.rng(seed)              -- the generator's random numbers
--
-- The report has one line per type ("T7 size=12 align=4"), per plain
-- field ("T7.f0 off=0") and per named bit field ("T7.f2 bits=00e0..."): the
-- bytes of a zeroed object after setting that field to all ones, in hex,
-- which pins every bit position without trusting either side's idea of
-- how bit fields are numbered. A plain scalar field also gets a "val=" line:
-- the bytes after storing a known value (byte order, float encoding); an
-- array of scalars, after storing it into its last element.
local M = {}

local concat, format, insert = table.concat, string.format, table.insert

-- A 64-bit LCG (Knuth's MMIX constants) on Lua's wrapping integers: the
-- same sequence on every Lua 5.4, unlike math.random across versions.
local function rng(seed)
  local state = seed
  local function nextint()
    state = state * 6364136223846793005 + 1442695040888963407
    return state >> 33                    -- 31 good bits, non-negative
  end
  local r = {}
  function r.int(lo, hi) return lo + nextint() % (hi - lo + 1) end
  function r.chance(p) return nextint() % 10000 < p * 10000 end
  function r.pick(list) return list[r.int(1, #list)] end
  return r
end
M.rng = rng

-- long's width in bits: the fixture's sizeof(long) (32 on i386)
local LONGBITS = 8 * require("spec.helper").platform.long_size

-- scalar field types: C spelling, ctypes name, bits allowed (max width)
local SCALARS = {
  { c = "char",               lua = "c_char" },
  { c = "signed char",        lua = "c_byte",      bits = 8 },
  { c = "unsigned char",      lua = "c_ubyte",     bits = 8 },
  { c = "short",              lua = "c_short",     bits = 16 },
  { c = "unsigned short",     lua = "c_ushort",    bits = 16 },
  { c = "int",                lua = "c_int",       bits = 32 },
  { c = "unsigned int",       lua = "c_uint",      bits = 32 },
  { c = "long",               lua = "c_long",      bits = LONGBITS },
  { c = "unsigned long",      lua = "c_ulong",     bits = LONGBITS },
  { c = "long long",          lua = "c_longlong",  bits = 64 },
  { c = "unsigned long long", lua = "c_ulonglong", bits = 64 },
  { c = "_Bool",              lua = "c_bool",      bits = 1 },
  { c = "float",              lua = "c_float" },
  { c = "double",             lua = "c_double" },
  { c = "long double",        lua = "c_longdouble" },
  { c = "void *",             lua = "c_void_p" },
  { c = "int *",              lua = "c_int", pointer = true },  -- POINTER
}
local BITTYPES, BIGSCALARS = {}, {}
for _, s in ipairs(SCALARS) do
  if s.bits then BITTYPES[#BITTYPES + 1] = s end
  -- ctypes has no other-endian pointers or long double
  if s.lua ~= "c_void_p" and s.lua ~= "c_longdouble" and not s.pointer then
    BIGSCALARS[#BIGSCALARS + 1] = s
  end
end

-- the value a "val=" line stores: C expression, Lua value
local VALUES = {
  c_char = { "'A'", "A" }, c_bool = { "1", true },
  c_float = { "1.5f", 1.5 }, c_double = { "-2.25", -2.25 },
  c_longdouble = { "3.5L", 3.5 }, c_void_p = { "(void *)0x12345678", 0x12345678 },
}
local function value(s)
  return VALUES[s.lua] or { "(" .. s.c .. ")0x0102030405060708ULL",
                            0x0102030405060708 }
end
M.SCALARS = SCALARS

local PACKS = { 1, 2, 4, 8, 1, 2, 4, 8, 16 }
local ALIGNS = { 1, 2, 4, 8, 16, 32 }

-- one field: { name, scalar = S | ref = index of an earlier decl,
--              dims = {outer, ..., inner} | nil, bits = n | nil }
local function genfield(r, decls, name, scalars)
  local f = { name = name }
  local roll = r.int(1, 100)
  if roll <= 40 then                                  -- a bit field
    local s = r.pick(BITTYPES)
    f.scalar = s
    local w = r.int(1, 100)
    if w <= 8 then f.bits = 0
    elseif w <= 30 then f.bits = s.bits                -- full width
    elseif w <= 45 then f.bits = r.int(1, math.min(s.bits, 3))
    else f.bits = r.int(1, s.bits) end
    -- unnamed: zero width always, other widths sometimes (padding)
    if f.bits == 0 or r.chance(0.1) then f.name = "" end
  elseif roll <= 70 or #decls == 0 then                 -- a scalar
    f.scalar = r.pick(scalars)
  else                                                 -- a nested type
    f.ref = r.int(math.max(1, #decls - 40), #decls)
    if decls[f.ref].est > 256 then f.ref = nil; f.scalar = r.pick(scalars) end
  end
  if not f.bits and r.chance(0.2) then                -- an array of it
    f.dims = { r.int(1, 4) }
    if r.chance(0.25) then f.dims[2] = r.int(1, 3) end
    if r.chance(0.08) then f.dims[#f.dims] = 0 end   -- GNU zero-length
  end
  -- a generous bound on the field's size keeps nesting from exploding
  f.est = f.ref and decls[f.ref].est or 16
  for _, n in ipairs(f.dims or {}) do f.est = f.est * n end
  return f
end


function M.generate(seed, count, big)
  local r = rng(seed)
  local decls = {}
  for i = 1, count do
    local d = { name = "T" .. i, fields = {}, big = big }
    d.union = r.chance(0.3)
    if r.chance(0.35) then d.pack = r.pick(PACKS) end
    if r.chance(0.08) then d.align = r.pick(ALIGNS) end
    -- clusters of bit fields are where compilers differ: favour them
    local nf = r.int(1, 9)
    d.est = 32
    for j = 1, nf do
      local f = genfield(r, decls, "f" .. (j - 1), big and BIGSCALARS or SCALARS)
      insert(d.fields, f)
      d.est = d.union and math.max(d.est, f.est + 32) or d.est + f.est + 32
    end
    decls[i] = d
  end
  return decls
end


local function zerolength(f)
  for _, n in ipairs(f.dims or {}) do
    if n == 0 then return true end
  end
  return false
end


local function ctypename(decls, f)
  if f.ref then
    local d = decls[f.ref]
    return (d.union and "union " or "struct ") .. d.name
  end
  return f.scalar.c
end


-- the C declaration of one decl (also used in failure messages)
function M.cdecl(decls, d)
  local out = {}
  if d.pack then out[#out + 1] = format("#pragma pack(push, %d)", d.pack) end
  out[#out + 1] = format("%s %s%s%s {", d.union and "union" or "struct",
    d.align and format("__attribute__((aligned(%d))) ", d.align) or "",
    d.big and "__attribute__((scalar_storage_order(\"big-endian\"))) " or "",
    d.name)
  for _, f in ipairs(d.fields) do
    local dims = ""
    for _, n in ipairs(f.dims or {}) do dims = dims .. "[" .. n .. "]" end
    if f.bits then
      out[#out + 1] = format("  %s %s : %d;", ctypename(decls, f), f.name,
                             f.bits)
    else
      out[#out + 1] = format("  %s %s%s;", ctypename(decls, f), f.name, dims)
    end
  end
  out[#out + 1] = "};"
  if d.pack then out[#out + 1] = "#pragma pack(pop)" end
  return concat(out, "\n")
end


function M.csource(decls)
  local out = {
    "#include <stddef.h>",
    "#include <stdio.h>",
    "#include <string.h>",
    "static void dump(const char *t, const char *f, const char *tag,",
    "                 const void *p, size_t n) {",
    "  const unsigned char *b = p; size_t i;",
    "  printf(\"%s.%s %s=\", t, f, tag);",
    "  for (i = 0; i < n; i++) printf(\"%02x\", b[i]);",
    "  printf(\"\\n\");",
    "}",
  }
  for _, d in ipairs(decls) do out[#out + 1] = M.cdecl(decls, d) end
  out[#out + 1] = "int main(void) {"
  for _, d in ipairs(decls) do
    local T = (d.union and "union " or "struct ") .. d.name
    out[#out + 1] = "  {"
    out[#out + 1] = format("    %s v;", T)
    out[#out + 1] = format(
      "    printf(\"%s size=%%zu align=%%zu\\n\", sizeof(%s), _Alignof(%s));",
      d.name, T, T)
    for _, f in ipairs(d.fields) do
      if f.bits then
        if f.name ~= "" then
          out[#out + 1] = "    memset(&v, 0, sizeof v);"
          out[#out + 1] = format("    v.%s = %s;", f.name,
                                 f.scalar.lua == "c_bool" and "1" or "-1")
          out[#out + 1] = format(
            "    dump(\"%s\", \"%s\", \"bits\", &v, sizeof v);", d.name, f.name)
        end
      else
        out[#out + 1] = format(
          "    printf(\"%s.%s off=%%zu\\n\", offsetof(%s, %s));",
          d.name, f.name, T, f.name)
        if f.scalar and not f.scalar.pointer and not zerolength(f) then
          -- a scalar, or the last element of an array of scalars
          local sub = ""
          for _, n in ipairs(f.dims or {}) do sub = sub .. "[" .. (n - 1) .. "]" end
          out[#out + 1] = "    memset(&v, 0, sizeof v);"
          out[#out + 1] = format("    v.%s%s = %s;", f.name, sub,
                                 value(f.scalar)[1])
          out[#out + 1] = format(
            "    dump(\"%s\", \"%s\", \"val\", &v, sizeof v);", d.name, f.name)
        end
      end
    end
    out[#out + 1] = "    (void)v;"
    out[#out + 1] = "  }"
  end
  out[#out + 1] = "  return 0;"
  out[#out + 1] = "}"
  return concat(out, "\n") .. "\n"
end


function M.build(ctypes, decls)
  local types = {}
  for i, d in ipairs(decls) do
    local fields = {}
    for _, f in ipairs(d.fields) do
      local T = f.ref and types[f.ref] or ctypes[f.scalar.lua]
      if f.scalar and f.scalar.pointer then T = ctypes.POINTER(T) end
      if f.dims then                    -- C's a[2][3] is (T * 3) * 2
        for k = #f.dims, 1, -1 do T = T * f.dims[k] end
      end
      fields[#fields + 1] = { f.name, T, f.bits }
    end
    local body = { _fields_ = fields, _pack_ = d.pack, _align_ = d.align }
    local ctor = d.union and "Union" or "Structure"
    if d.big then ctor = "BigEndian" .. ctor end
    types[i] = ctypes[ctor](d.name, body)
  end
  return types
end


local function hex(s)
  return (s:gsub(".", function(c) return format("%02x", c:byte()) end))
end


-- lua-ctypes' report; also checks that each bit field reads back as all
-- ones (-1 when signed, 2^w - 1 when not, true for c_bool)
function M.report(ctypes, decls, types)
  local out, problems = {}, {}
  for i, d in ipairs(decls) do
    local T = types[i]
    local size = ctypes.sizeof(T)
    out[#out + 1] = format("%s size=%d align=%d", d.name, size,
                           ctypes.alignment(T))
    for _, f in ipairs(d.fields) do
      if f.bits then
        if f.name ~= "" then
          local v = T()
          local ones = f.scalar.lua == "c_bool" or -1
          v[f.name] = ones
          local s = size > 0 and ctypes.string_at(ctypes.addressof(v), size)
                    or ""
          out[#out + 1] = format("%s.%s bits=%s", d.name, f.name, hex(s))
          local want = ones
          if f.scalar.lua ~= "c_bool" and f.scalar.lua:sub(1, 3) == "c_u"
             and f.bits < 64 then
            want = (1 << f.bits) - 1
          end
          if f.scalar.lua == "c_byte" or f.scalar.lua == "c_short" or
             f.scalar.lua == "c_int" or f.scalar.lua == "c_long" or
             f.scalar.lua == "c_longlong" then
            want = -1
          end
          if v[f.name] ~= want then
            problems[#problems + 1] = format("%s.%s reads back %s, not %s",
              d.name, f.name, tostring(v[f.name]), tostring(want))
          end
        end
      else
        out[#out + 1] = format("%s.%s off=%d", d.name, f.name,
                               T[f.name].offset)
        if f.scalar and not f.scalar.pointer and not zerolength(f) then
          local v = T()
          if f.dims then
            -- (a view of the member: c_char arrays read as text)
            local a = T[f.name].type.from_buffer(v, T[f.name].offset)
            for k = 1, #f.dims - 1 do a = a[f.dims[k] - 1] end
            a[f.dims[#f.dims] - 1] = value(f.scalar)[2]
          else
            v[f.name] = value(f.scalar)[2]
          end
          out[#out + 1] = format("%s.%s val=%s", d.name, f.name,
            hex(ctypes.string_at(ctypes.addressof(v), size)))
        end
      end
    end
  end
  return concat(out, "\n") .. "\n", problems
end


-- compiles and runs a C program (gcc, temp dir); returns its output
function M.gcc_run(helper, csource)
  local base = os.tmpname()
  local src, bin = base .. ".c", base .. ".bin"
  local f = assert(io.open(src, "w"))
  f:write(csource)
  f:close()
  local ok, out = helper.run("gcc -std=gnu11 -w -O0 -o " .. helper.quote(bin)
                             .. " " .. helper.quote(src))
  assert(ok, "gcc failed: " .. out)
  local p = assert(io.popen(helper.quote(bin), "r"))
  local report = p:read("a")
  p:close()
  os.remove(src); os.remove(bin); os.remove(base)
  return report
end


local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

-- compares two reports; on disagreement names the first types that differ
-- with their C declaration (cdecl(decls, i) gives it; default M.cdecl)
function M.compare(decls, creport, lreport, cdecl)
  cdecl = cdecl or function(ds, i) return M.cdecl(ds, ds[i]) end
  local cl, ll = lines(creport), lines(lreport)
  local msgs, seen = {}, {}
  for i = 1, math.max(#cl, #ll) do
    if cl[i] ~= ll[i] then
      local t = ((cl[i] or ll[i]):match("^T(%d+)"))
      if t and not seen[t] and #msgs < 5 then
        seen[t] = true
        msgs[#msgs + 1] = ("gcc:        %s\nlua-ctypes: %s\n%s"):format(
          tostring(cl[i]), tostring(ll[i]), cdecl(decls, tonumber(t)))
      end
    end
  end
  return #cl, msgs
end

return M
