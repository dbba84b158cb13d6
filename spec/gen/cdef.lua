-- spec/gen/cdef.lua: seeded random C record declarations *as text* for the
-- cdef differential test (spec/cdef_diff_spec.lua): structures and unions
-- with nested anonymous and named untagged members, bit fields, arrays,
-- __attribute__((packed)) and __attribute__((aligned(n))) on records and
-- members.
--
--   local gen = require("spec.gen.cdef")
--   local recs = gen.generate(seed, count)   -- { {name, kind, text, checks} }
--   gen.csource(recs)          -- a C program printing gcc's report
--   gen.report(ctypes, recs, types)          -- the same report from types
--
-- Report lines: "T3 size=24 align=8", "T3.f7 off=16" for every named
-- member reachable from T3 (through anonymous members too), "T3.f9
-- bits=00f0..." for named bit fields (the object's bytes after storing all
-- ones into a zeroed one).
local layout = require("spec.gen.layout")

local M = {}
local format, concat = string.format, table.concat

-- log2 of the largest aligned(n) cdef supports on a member of a packed
-- record: the largest integer alignment, long long's (8; 4 on i386), from
-- the fixture
local PACKED_MAX = require("spec.helper").platform.longlong_align == 8 and 3 or 2

local SCALARS, BITTYPES = {}, {}
for _, s in ipairs(layout.SCALARS) do
  SCALARS[#SCALARS + 1] = s
  if s.bits then BITTYPES[#BITTYPES + 1] = s end
end

-- one record body: returns lines (without the braces) and the checks
-- (members reachable by name: { name, bits = scalar or nil })
local function body(r, st, depth, out, reach, indent, packed)
  local n = r.int(1, 6)
  for _ = 1, n do
    local roll = r.int(1, 100)
    if roll <= 15 and depth < 3 then               -- an anonymous record
      local kind = r.chance(0.5) and "union" or "struct"
      local attrs = ""
      local inner = r.chance(0.15)
      if inner then attrs = " __attribute__((packed))" end
      out[#out + 1] = indent .. kind .. attrs .. " {"
      body(r, st, depth + 1, out, reach, indent .. "  ", inner)
      out[#out + 1] = indent .. "};"
    elseif roll <= 22 and depth < 3 then           -- a named untagged one
      local kind = r.chance(0.5) and "union" or "struct"
      out[#out + 1] = indent .. kind .. " {"
      body(r, st, depth + 1, out, {}, indent .. "  ", false)  -- not reachable
      st.n = st.n + 1
      local name = "f" .. st.n
      local dims = r.chance(0.2) and format("[%d]", r.int(1, 3)) or ""
      out[#out + 1] = indent .. "} " .. name .. dims .. ";"
      reach[#reach + 1] = { name }
    elseif roll <= 55 then                          -- a bit field
      local s = r.pick(BITTYPES)
      local w = r.int(0, s.bits)
      if w == 0 or r.chance(0.1) then
        out[#out + 1] = format("%s%s : %d;", indent, s.c, w)
      else
        st.n = st.n + 1
        local name = "f" .. st.n
        out[#out + 1] = format("%s%s %s : %d;", indent, s.c, name, w)
        reach[#reach + 1] = { name, bits = s }
      end
    else                                            -- a scalar or array
      local s = r.pick(SCALARS)
      st.n = st.n + 1
      local name = "f" .. st.n
      local dims = ""
      if r.chance(0.2) then
        dims = format("[%d]", r.int(1, 4))
        if r.chance(0.3) then dims = dims .. format("[%d]", r.int(1, 3)) end
      end
      local sp = s.c:sub(-1) == "*" and "" or " "
      local attr = ""
      if r.chance(0.12) then
        -- an aligned member: up to 8 anywhere (the largest integer
        -- alignment: 4 on i386), 16 and 32 outside packing (doc/cdef.md)
        local al = 1 << r.int(0, packed and PACKED_MAX or 5)
        attr = format(" __attribute__((aligned(%d)))", al)
      end
      out[#out + 1] = format("%s%s%s%s%s%s;", indent, s.c, sp, name, dims, attr)
      reach[#reach + 1] = { name }
    end
  end
end

function M.generate(seed, count)
  local r = layout.rng(seed)
  local recs = {}
  for i = 1, count do
    local name = "T" .. i
    local kind = r.chance(0.3) and "union" or "struct"
    local pre, post = "", ""
    local packed = r.chance(0.25)
    if packed then pre = "__attribute__((packed)) " end
    if r.chance(0.12) then
      post = format(" __attribute__((aligned(%d)))", 1 << r.int(0, 5))
    end
    local out, reach = {}, {}
    local st = { n = 0 }
    out[1] = format("%s %s%s {", kind, pre, name)
    body(r, st, 1, out, reach, "  ", packed)
    out[#out + 1] = "}" .. post .. ";"
    recs[i] = { name = name, kind = kind, text = concat(out, "\n"),
                reach = reach }
  end
  return recs
end

function M.csource(recs)
  local out = {
    "#include <stddef.h>",
    "#include <stdio.h>",
    "#include <string.h>",
  }
  for _, d in ipairs(recs) do out[#out + 1] = d.text end
  out[#out + 1] = "int main(void) {"
  for _, d in ipairs(recs) do
    local T = d.kind .. " " .. d.name
    out[#out + 1] = "  {"
    out[#out + 1] = format("    %s v; size_t i;", T)
    out[#out + 1] = format(
      "    printf(\"%s size=%%zu align=%%zu\\n\", sizeof(%s), _Alignof(%s));",
      d.name, T, T)
    for _, m in ipairs(d.reach) do
      if m.bits then
        out[#out + 1] = "    memset(&v, 0, sizeof v);"
        out[#out + 1] = format("    v.%s = %s;", m[1],
                               m.bits.lua == "c_bool" and "1" or "-1")
        out[#out + 1] = format("    printf(\"%s.%s bits=\");", d.name, m[1])
        out[#out + 1] = "    for (i = 0; i < sizeof v; i++) " ..
          "printf(\"%02x\", ((unsigned char *)&v)[i]);"
        out[#out + 1] = "    printf(\"\\n\");"
      else
        out[#out + 1] = format("    printf(\"%s.%s off=%%zu\\n\", " ..
          "offsetof(%s, %s));", d.name, m[1], T, m[1])
      end
    end
    out[#out + 1] = "    (void)v; (void)i;"
    out[#out + 1] = "  }"
  end
  out[#out + 1] = "  return 0;"
  out[#out + 1] = "}"
  return concat(out, "\n") .. "\n"
end

function M.report(ctypes, recs, types)
  local out = {}
  for i, d in ipairs(recs) do
    local T = types[i]
    local size = ctypes.sizeof(T)
    out[#out + 1] = format("%s size=%d align=%d", d.name, size,
                           ctypes.alignment(T))
    for _, m in ipairs(d.reach) do
      if m.bits then
        local v = T()
        v[m[1]] = m.bits.lua == "c_bool" or -1
        local s = ctypes.string_at(ctypes.addressof(v), size)
        out[#out + 1] = format("%s.%s bits=%s", d.name, m[1],
          (s:gsub(".", function(c) return format("%02x", c:byte()) end)))
      else
        out[#out + 1] = format("%s.%s off=%d", d.name, m[1], T[m[1]].offset)
      end
    end
  end
  return concat(out, "\n") .. "\n"
end

return M
