-- spec/gen/callbacks_gen.lua: random callback signatures for the
-- differential spec (spec/callbacks_diff_spec.lua).
--
-- generate(seed, count) returns { c = <C source>, cases = { ... } }. For
-- case i the C source defines
--     int gen_cb_<i>(R (*f)(A1, ..., An))
-- which calls f with known argument values and returns 1 if f returned the
-- expected value, else 0. The case lists the argument and result types (as
-- descriptors the spec turns into ctypes types), the argument values the
-- Lua callback must receive and the value it must return.
local M = {}

local fmt, concat = string.format, table.concat

-- long's width: the fixture's sizeof(long) (gcc)
local LONGBITS = 8 * require("spec.helper").platform.long_size

-- scalar descriptors: ctypes name, C type, value generator kind
local SCALARS = {
  { "c_bool", "_Bool", "bool" },
  { "c_byte", "signed char", "int", 8, true },
  { "c_ubyte", "unsigned char", "int", 8, false },
  { "c_short", "short", "int", 16, true },
  { "c_ushort", "unsigned short", "int", 16, false },
  { "c_int", "int", "int", 32, true },
  { "c_uint", "unsigned int", "int", 32, false },
  { "c_long", "long", "int", LONGBITS, true },
  { "c_ulong", "unsigned long", "int", LONGBITS, false },
  { "c_longlong", "long long", "int", 64, true },
  { "c_ulonglong", "unsigned long long", "int", 64, false },
  { "c_float", "float", "float" },
  { "c_double", "double", "double" },
  { "c_void_p", "void *", "ptr" },
  { "c_char_p", "char *", "str" },
}
-- what may appear inside generated structures
local FIELD_SCALARS = { 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13 }

local function rng(seed)
  -- a small LCG, so the cases do not depend on math.random's algorithm
  local s = seed % 2147483648
  return function(n)
    s = (s * 1103515245 + 12345) % 2147483648
    return (s >> 8) % n + 1
  end
end

-- a random value of scalar descriptor d: the Lua value and its C literal
local function value(r, d)
  local kind = d[3]
  if kind == "bool" then
    local b = r(2) == 1
    return b, b and "1" or "0"
  elseif kind == "int" then
    local bits, signed = d[4], d[5]
    local v
    local pick = r(4)
    if pick == 1 then v = 0
    elseif pick == 2 then  -- an extreme
      if signed then v = r(2) == 1 and -(1 << (bits - 1)) or (1 << (bits - 1)) - 1
      else v = bits == 64 and -1 or (1 << bits) - 1 end
    else
      v = r(1 << 20) * r(1 << 20) * r(64)
      if bits < 64 then
        v = v % (1 << bits)
        if signed and v >= (1 << (bits - 1)) then v = v - (1 << bits) end
      elseif signed and r(2) == 1 then v = -v end
    end
    -- C: an unsigned hex literal cast to the type (exact for every value)
    return v, fmt("(%s)0x%xULL", d[2], v)
  elseif kind == "float" then
    local v = (r(2000) - 1000) / 8      -- exact in float
    return v, fmt("(float)%.17g", v)
  elseif kind == "double" then
    local v = (r(2000000) - 1000000) / 64 + r(1000) * 1e6
    return v, fmt("%.17g", v)
  elseif kind == "ptr" then
    if r(5) == 1 then return nil, "(void *)0" end
    local v = r(1 << 30) * 16
    return v, fmt("(void *)0x%xULL", v)
  else  -- str
    if r(6) == 1 then return nil, "(char *)0" end
    local t = {}
    for i = 1, r(12) - 1 do t[i] = string.char(96 + r(26)) end
    local s = concat(t)
    return s, fmt("(char *)\"%s\"", s)
  end
end

-- a C expression comparing the C value `expr` with the literal `lit` of
-- scalar descriptor d
local function cmpscalar(d, expr, lit)
  if d[3] == "str" then
    if lit == "(char *)0" then return fmt("(%s == 0)", expr) end
    return fmt("(%s != 0 && strcmp(%s, %s) == 0)", expr, expr, lit)
  end
  return fmt("(%s == %s)", expr, lit)
end

function M.generate(seed, count)
  local r = rng(seed)
  local out = { "#include <string.h>\n#include <stdint.h>\n" }
  local cases = {}
  local nstruct = 0

  local function newstruct()
    nstruct = nstruct + 1
    local name = "GenS" .. nstruct
    local fields = {}
    local decl = { "typedef struct {" }
    for j = 1, r(4) do
      local d = SCALARS[FIELD_SCALARS[r(#FIELD_SCALARS)]]
      fields[j] = { "f" .. j, d }
      decl[#decl + 1] = fmt(" %s f%d;", d[2], j)
    end
    decl[#decl + 1] = fmt(" } %s;\n", name)
    out[#out + 1] = concat(decl)
    return { struct = name, fields = fields }
  end

  -- a random type descriptor: a scalar or (one time in five) a structure
  local function randtype(forret)
    if r(5) == 1 then return newstruct() end
    local d = SCALARS[r(#SCALARS)]
    if forret and d[3] == "str" and r(2) == 1 then d = SCALARS[6] end
    return { scalar = d }
  end

  -- value of type t: Lua value, C expression
  local function randvalue(t)
    if t.scalar then return value(r, t.scalar) end
    local lv, cv = {}, {}
    for j, f in ipairs(t.fields) do
      local v, c = value(r, f[2])
      lv[f[1]] = v
      cv[j] = c
    end
    return lv, fmt("(%s){ %s }", t.struct, concat(cv, ", "))
  end

  local function ctype(t) return t.scalar and t.scalar[2] or t.struct end

  for i = 1, count do
    local c = { args = {}, values = {} }
    if r(6) == 1 then c.ret = nil else c.ret = randtype(true) end
    local nargs = r(9) - 1
    if r(8) == 1 then nargs = nargs + 8 end  -- some beyond the registers
    local cargs, cvals = {}, {}
    for j = 1, nargs do
      local t = randtype(false)
      c.args[j] = t
      c.values[j], cvals[j] = randvalue(t)
      cargs[j] = ctype(t)
    end
    local rtype = c.ret and ctype(c.ret) or "void"
    local lines = {}
    lines[#lines + 1] = fmt("int gen_cb_%d (%s (*f)(%s)) {", i, rtype,
                            nargs == 0 and "void" or concat(cargs, ", "))
    local call = fmt("f(%s)", concat(cvals, ", "))
    if c.ret == nil then
      lines[#lines + 1] = fmt("  %s;\n  return 1;\n}\n", call)
    else
      local rl, rc = randvalue(c.ret)
      c.result = rl
      lines[#lines + 1] = fmt("  %s r = %s;", rtype, call)
      if c.ret.scalar then
        -- the literal is an expression: compare through a variable
        lines[#lines + 1] = fmt("  %s want = %s;", rtype, rc)
        lines[#lines + 1] = fmt("  return %s;\n}\n",
                                cmpscalar(c.ret.scalar, "r", c.ret.scalar[3] == "str" and rc or "want"))
      else
        lines[#lines + 1] = fmt("  %s want = %s;", rtype, rc)
        local cmp = {}
        for j in ipairs(c.ret.fields) do
          cmp[j] = fmt("r.f%d == want.f%d", j, j)
        end
        lines[#lines + 1] = fmt("  return %s;\n}\n", concat(cmp, " && "))
      end
    end
    out[#out + 1] = concat(lines, "\n")
    cases[i] = c
  end
  return { c = concat(out, "\n"), cases = cases }
end

return M
