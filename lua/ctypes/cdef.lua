-- ctypes.cdef: C declarations as they appear in headers, turned into
-- ordinary lua-ctypes types, constants and function objects.
--
--   local ns = ctypes.cdef(source [, lib])
--   ns["struct tag"], ns.typedef_name, ns.ENUMERATOR, ns.DEFINE, ns.func
--   ns:cdef(more [, lib]), ns:typeof("struct node *[4]")
--
-- A hand-written lexer and recursive-descent parser (nothing here is on a
-- hot path). Every error is "CDefError: <line>:<col>: <what>, near
-- '<token>'"; a failed call adds nothing to the namespace.
local type, error, pcall, tostring, setmetatable, getmetatable,
      rawset, pairs, ipairs, next =
      type, error, pcall, tostring, setmetatable, getmetatable,
      rawset, pairs, ipairs, next
local string_byte, string_char, string_sub, string_find, string_format =
      string.byte, string.char, string.sub, string.find, string.format
local math_type, math_ult = math.type, math.ult
local concat = table.concat

local M = {}

local ct   -- the ctypes module, taken when first needed (it requires us)
local function ctypes()
  ct = ct or package.loaded["ctypes"] or require("ctypes")
  return ct
end

local MAXDEPTH = 200       -- nesting of parentheses, declarators, records

-- {==================================================================
-- Errors
-- ===================================================================

-- errors travel as tables inside a cdef call and become strings at its
-- boundary
local Err = {}
Err.__index = Err
Err.__tostring = function(e) return e.msg end

-- a token as messages show it: control bytes escaped, long ones cut
local function tokentext(tok)
  if tok == nil or tok.t == "eof" then return "<eof>" end
  local s = tok.text or ""
  if #s > 40 then s = s:sub(1, 37) .. "..." end
  return (s:gsub("%c", function(c) return string_format("\\%d", c:byte()) end))
end

local function fail(tok, what)
  error(setmetatable({ msg = string_format("CDefError: %d:%d: %s, near '%s'",
    tok.line, tok.col, what, tokentext(tok)) }, Err), 0)
end

-- }==================================================================


-- {==================================================================
-- Lexer: the source becomes a list of tokens
--   { t = "id"|"num"|"str"|"chr"|"op"|"pp"|"eof", v = value,
--     text = source text, line, col }
-- A preprocessor line is one "pp" token: v = directive name, args = its
-- tokens.
-- ===================================================================

local OPS3 = { ["..."] = true, ["<<="] = true, [">>="] = true }
local OPS2 = {
  ["<<"] = true, [">>"] = true, ["<="] = true, [">="] = true, ["=="] = true,
  ["!="] = true, ["&&"] = true, ["||"] = true, ["->"] = true, ["++"] = true,
  ["--"] = true, ["##"] = true, ["+="] = true, ["-="] = true, ["*="] = true,
  ["/="] = true, ["%="] = true, ["&="] = true, ["|="] = true, ["^="] = true,
}
local OPS1 = "{}()[];,*:=<>+-/%&|^~!?.#"

local ESC = { n = 10, t = 9, r = 13, a = 7, b = 8, f = 12, v = 11,
              ["\\"] = 92, ["'"] = 39, ['"'] = 34, ["?"] = 63 }

-- reads the escape at s[i] (just after the backslash); returns the byte
-- value and the next index
local function escape(s, i, tok)
  local c = string_sub(s, i, i)
  if ESC[c] then return ESC[c], i + 1 end
  if c:match("[0-7]") then
    local d = s:match("^[0-7][0-7]?[0-7]?", i)
    return tonumber(d, 8) & 0xFF, i + #d
  end
  if c == "x" then
    local d = s:match("^%x+", i + 1)
    if not d then fail(tok, "invalid escape sequence '\\x'") end
    return tonumber(d, 16) & 0xFF, i + 1 + #d
  end
  fail(tok, "invalid escape sequence '\\" .. c .. "'")
end

local function lex(src)
  local toks = {}
  local i, n, line, linestart = 1, #src, 1, 1
  local atline = true      -- only blanks since the line began
  local function here(at)
    return { line = line, col = at - linestart + 1,
             t = "op", text = string_sub(src, at, at) }
  end
  local pp = nil            -- the pp token being filled, or nil
  local ppstart
  local function endpp()
    if pp then
      local outer = pp
      pp = nil
      outer.args = ppstart
      ppstart = nil
    end
  end
  local out = toks          -- where tokens go (a directive's own list)
  while true do
    if i > n then break end
    local c = string_byte(src, i)
    if c == 10 then                                    -- newline
      if pp then
        endpp(); out = toks
      end
      i = i + 1; line = line + 1; linestart = i; atline = true
    elseif c == 32 or c == 9 or c == 13 or c == 12 or c == 11 then
      i = i + 1
    elseif c == 92 and string_byte(src, i + 1) == 10 then  -- continuation
      i = i + 2; line = line + 1; linestart = i
    elseif c == 92 and string_sub(src, i + 1, i + 2) == "\r\n" then
      i = i + 3; line = line + 1; linestart = i
    elseif c == 47 and string_byte(src, i + 1) == 42 then  -- /* */
      local j = string_find(src, "*/", i + 2, true)
      if not j then fail(here(i), "unterminated comment") end
      for _ in string_sub(src, i, j):gmatch("\n") do line = line + 1 end
      local lastnl = nil
      local k = i
      while true do
        local p = string_find(src, "\n", k, true)
        if not p or p > j then break end
        lastnl = p; k = p + 1
      end
      if lastnl then linestart = lastnl + 1 end
      i = j + 2
    elseif c == 47 and string_byte(src, i + 1) == 47 then  -- //
      local j = string_find(src, "\n", i, true)
      i = j or n + 1
    elseif c == 35 and atline and not pp then              -- # directive
      local col = i - linestart + 1
      local _, e, name = string_find(src, "^#[ \t]*([%a_][%w_]*)", i)
      local tok = { t = "pp", v = name or "", line = line, col = col,
                    text = name and string_sub(src, i, e) or "#" }
      toks[#toks + 1] = tok
      if not name then
        -- a lone '#' (null directive) or '#' followed by something else
        if string_find(src, "^#[ \t]*\r?\n", i) or string_find(src, "^#[ \t]*$", i) then
          toks[#toks] = nil
          i = i + 1
        else
          fail(tok, "invalid preprocessor directive")
        end
      else
        pp = tok; ppstart = {}; out = ppstart
        i = e + 1
      end
      atline = false
    else
      atline = false
      local col = i - linestart + 1
      if (c >= 65 and c <= 90) or (c >= 97 and c <= 122) or c == 95 then
        local s, e = string_find(src, "^[%a_][%w_]*", i)
        local word = string_sub(src, s, e)
        -- L"..." and L'x': wide literals are not supported
        local nx = string_byte(src, e + 1)
        if (word == "L" or word == "u8" or word == "u" or word == "U") and
           (nx == 34 or nx == 39) then
          fail({ line = line, col = col, t = "id", text = word },
               "wide and unicode character literals are not supported")
        end
        local tok = { t = "id", v = word, text = word, line = line, col = col }
        out[#out + 1] = tok
        i = e + 1
      elseif (c >= 48 and c <= 57) or
             (c == 46 and (string_byte(src, i + 1) or 0) >= 48 and
              (string_byte(src, i + 1) or 0) <= 57) then
        local s, e = string_find(src, "^[%w_.]+", i)
        -- exponents with signs: 1e+5
        while string_find(src, "^[eEpP][+-]", e) and
              string_find(src, "^[+-][%w_.]", e + 1) do
          local _, e2 = string_find(src, "^[+-][%w_.]+", e + 1)
          e = e2
        end
        local text = string_sub(src, s, e)
        out[#out + 1] = { t = "num", text = text, line = line, col = col }
        i = e + 1
      elseif c == 34 then                                    -- "string"
        local tok = { t = "str", line = line, col = col }
        local j, buf = i + 1, {}
        while true do
          local b = string_byte(src, j)
          if b == nil or b == 10 then
            tok.text = string_sub(src, i, j - 1)
            fail(tok, "unterminated string literal")
          elseif b == 34 then break
          elseif b == 92 then
            local v
            tok.text = string_sub(src, i, j + 1)
            v, j = escape(src, j + 1, tok)
            buf[#buf + 1] = string_char(v)
          else
            buf[#buf + 1] = string_char(b); j = j + 1
          end
        end
        tok.text = string_sub(src, i, j)
        tok.v = concat(buf)
        out[#out + 1] = tok
        i = j + 1
      elseif c == 39 then                                    -- 'c'
        local tok = { t = "chr", line = line, col = col }
        local j, v = i + 1, nil
        local b = string_byte(src, j)
        tok.text = string_sub(src, i, j + 1)
        if b == 92 then v, j = escape(src, j + 1, tok)
        elseif b ~= nil and b ~= 39 and b ~= 10 then v, j = b, j + 1 end
        tok.text = string_sub(src, i, j)
        if v == nil or string_byte(src, j) ~= 39 then
          fail(tok, "invalid character literal")
        end
        if v >= 128 then v = v - 256 end     -- char is signed (x86-64)
        tok.v = v
        out[#out + 1] = tok
        i = j + 1
      else
        local three, two = string_sub(src, i, i + 2), string_sub(src, i, i + 1)
        local op
        if OPS3[three] then op = three
        elseif OPS2[two] then op = two
        elseif string_find(OPS1, string_char(c), 1, true) then
          op = string_char(c)
        else
          fail({ line = line, col = col, t = "op", text = string_char(c) },
               "unexpected character")
        end
        out[#out + 1] = { t = "op", v = op, text = op, line = line, col = col }
        i = i + #op
      end
    end
  end
  endpp()
  toks[#toks + 1] = { t = "eof", text = "<eof>", line = line,
                      col = n + 1 - linestart + 1 }
  return toks
end

-- }==================================================================


-- {==================================================================
-- Built-in names and scalar specifiers
-- ===================================================================

-- typedef names known without a typedef (glibc x86-64 / LP64 sizes)
local BUILTIN = {
  size_t = "c_size_t", ssize_t = "c_ssize_t",
  int8_t = "c_int8", int16_t = "c_int16", int32_t = "c_int32",
  int64_t = "c_int64", uint8_t = "c_uint8", uint16_t = "c_uint16",
  uint32_t = "c_uint32", uint64_t = "c_uint64",
  intptr_t = "c_ssize_t", uintptr_t = "c_size_t", ptrdiff_t = "c_ssize_t",
  off_t = "c_long", time_t = "c_long", wchar_t = "c_wchar",
  bool = "c_bool",
}

local KEYWORDS = {}
for w in ([[auto break case char const continue default do double else enum
  extern float for goto if inline int long register restrict return short
  signed sizeof static struct switch typedef union unsigned void volatile
  while _Bool _Complex _Imaginary _Alignas _Alignof _Atomic _Noreturn
  _Static_assert _Thread_local __attribute__ __attribute __restrict
  __restrict__ __const __const__ __volatile__ __volatile __inline __inline__
  __extension__ __asm__ __asm asm __signed__ __signed __int128 __alignof__
  __alignof typeof __typeof__ __typeof __thread]]):gmatch("%S+") do
  KEYWORDS[w] = true
end

local QUALIFIERS = {
  const = true, volatile = true, restrict = true, __restrict = true,
  __restrict__ = true, __const = true, __const__ = true,
  __volatile__ = true, __volatile = true,
}
local STORAGE = {
  typedef = "typedef", extern = "extern", static = "static",
  inline = true, __inline = true, __inline__ = true, _Noreturn = true,
  register = true, auto = true, __extension__ = true,
}
local BASIC = {
  void = true, char = true, short = true, int = true, long = true,
  float = true, double = true, signed = true, unsigned = true,
  _Bool = true, __signed__ = true, __signed = true,
}

-- attributes that change a layout: supported on records only
local LAYOUT_ATTR = {
  aligned = true, __aligned__ = true, packed = true, __packed__ = true,
  mode = true, __mode__ = true, vector_size = true, __vector_size__ = true,
  scalar_storage_order = true, __scalar_storage_order__ = true,
  transparent_union = true, __transparent_union__ = true,
}

-- }==================================================================


-- {==================================================================
-- Integer constant expressions: values are { v = integer, u = unsigned,
-- l = 64 bits } with C's (LP64) conversions
-- ===================================================================

local function norm(v, u, l)
  if not l then
    v = v & 0xFFFFFFFF
    if not u and v >= 0x80000000 then v = v - 0x100000000 end
  end
  return { v = v, u = u, l = l }
end

local function int(v) return norm(v, false, false) end

-- the type of a binary arithmetic result
local function common(a, b)
  local l = a.l or b.l
  local u
  if l then u = (a.l and a.u) or (b.l and b.u) or false
  else u = a.u or b.u end
  return u, l
end

local function lt(a, b, u, l)
  if u and l then return math_ult(a, b) end
  if u then return (a & 0xFFFFFFFF) < (b & 0xFFFFFFFF) end
  return a < b
end

local function udiv(n, d)
  if d < 0 then
    if math_ult(n, d) then return 0, n end
    return 1, n - d
  end
  local q = ((n >> 1) // d) << 1
  local r = n - q * d
  if not math_ult(r, d) then q = q + 1; r = r - d end
  return q, r
end

local function sdiv(a, b)
  local q = a // b
  if a % b ~= 0 and ((a < 0) ~= (b < 0)) then q = q + 1 end
  return q, a - q * b
end

-- an integer literal's value and type (C11 6.4.4.1 on LP64)
local function literal(tok)
  local text = tok.text
  local digits, suffix = text:match("^(0[xX]%x+)([uUlL]*)$")
  local base = 16
  if not digits then
    digits, suffix = text:match("^(0[bB][01]+)([uUlL]*)$")
    base = 2
  end
  if not digits then
    digits, suffix = text:match("^(0[0-7]*)([uUlL]*)$")
    base = 8
  end
  if not digits then
    digits, suffix = text:match("^([1-9]%d*)([uUlL]*)$")
    base = 10
  end
  if not digits then
    if text:match("^[%d.]") and text:find("[.eEpP]") and
       not text:find("^0[xX]") or text:find("^0[xX][%x.]*[pP]") then
      fail(tok, "floating constants are not supported in constant expressions")
    end
    fail(tok, "invalid integer constant '" .. text .. "'")
  end
  local lsuf = suffix:lower()
  if not (lsuf == "" or lsuf == "u" or lsuf == "l" or lsuf == "ul" or
          lsuf == "lu" or lsuf == "ll" or lsuf == "ull" or lsuf == "llu") or
     suffix:find("lL") or suffix:find("Ll") then
    fail(tok, "invalid integer suffix '" .. suffix .. "'")
  end
  -- the value, checking for overflow of 64 bits
  local body = digits
  if base == 16 or base == 2 then body = digits:sub(3) end
  local v = 0
  for k = 1, #body do
    local d = tonumber(body:sub(k, k), 16)
    -- v * base + d must fit in 64 unsigned bits
    local hi = udiv(-1 - d, base)
    if math_ult(hi, v) then fail(tok, "integer constant is too large") end
    v = v * base + d
  end
  local u = lsuf:find("u") ~= nil
  local l = lsuf:find("l") ~= nil
  local fits_int = v >= 0 and v <= 0x7FFFFFFF
  local fits_uint = v >= 0 and v <= 0xFFFFFFFF
  local fits_long = v >= 0
  if base == 10 and not u then
    if not l and fits_int then return norm(v, false, false) end
    if fits_long then return norm(v, false, true) end
    fail(tok, "integer constant is too large for its type")
  end
  if not u then
    if not l and fits_int then return norm(v, false, false) end
    if not l and fits_uint then return norm(v, true, false) end
    if fits_long then return norm(v, false, true) end
    return norm(v, true, true)
  end
  if not l and fits_uint then return norm(v, true, false) end
  return norm(v, true, true)
end

-- }==================================================================


-- {==================================================================
-- The parser state
-- ===================================================================

local P = {}
P.__index = P

function P:peek(k) return self.toks[self.pos + (k or 0)] end
function P:next()
  local t = self.toks[self.pos]
  if t.t ~= "eof" then self.pos = self.pos + 1 end
  return t
end
function P:isop(op, k)
  local t = self.toks[self.pos + (k or 0)]
  return t.t == "op" and t.v == op
end
function P:isid(word, k)
  local t = self.toks[self.pos + (k or 0)]
  return t.t == "id" and t.v == word
end
function P:accept(op)
  if self:isop(op) then return self:next() end
  return nil
end
function P:expect(op, what)
  if self:isop(op) then return self:next() end
  fail(self:peek(), "expected '" .. op .. "'" .. (what and (" " .. what) or ""))
end
function P:deeper()
  self.depth = self.depth + 1
  if self.depth > MAXDEPTH then fail(self:peek(), "declaration nested too deeply") end
end
function P:shallower() self.depth = self.depth - 1 end

-- a ctypes call that may fail: its error becomes a CDefError at tok
local function guard(tok, f, ...)
  local r = table.pack(pcall(f, ...))
  if not r[1] then
    local e = r[2]
    if getmetatable(e) == Err then error(e, 0) end
    local msg = tostring(e):gsub("^[^:\n]*:%d+: ", "")
    fail(tok, msg)
  end
  return table.unpack(r, 2, r.n)
end

-- name lookups: what this call declared so far, then the namespace
function P:typedef(name)
  local e = self.names[name]
  if e == nil then e = self.ns.names[name] end
  if e ~= nil then
    if e.kind == "typedef" then return e.T end
    return nil
  end
  local b = BUILTIN[name]
  if b then return ctypes()[b] end
  return nil
end

function P:name(name)
  local e = self.names[name]
  if e == nil then e = self.ns.names[name] end
  return e
end

function P:tag(key)
  local e = self.tags[key]
  if e == nil then e = self.ns.tags[key] end
  return e
end

-- does the current token begin a type (specifiers)?
function P:starts_type(k)
  local t = self:peek(k)
  if t.t ~= "id" then return false end
  local w = t.v
  if BASIC[w] or QUALIFIERS[w] or w == "struct" or w == "union" or
     w == "enum" or w == "__attribute__" or w == "__attribute" or
     w == "_Complex" or w == "__int128" or w == "_Atomic" or
     w == "typeof" or w == "__typeof__" or w == "__typeof" or
     w == "__extension__" or w == "_Alignas" then
    return true
  end
  return (not KEYWORDS[w]) and self:typedef(w) ~= nil
end

-- }==================================================================


-- {==================================================================
-- Types between the parser and ctypes: ctypes type objects, plus
--   VOID                          void
--   { func = true, ret, args, variadic, names }   a function type
-- ===================================================================

local kindof
local VOID = setmetatable({}, { __tostring = function() return "void" end })

local function isfunc(T) return type(T) == "table" and T.func == true end

-- ids give every type object a stable key for signatures
local ids = setmetatable({}, { __mode = "k" })
local nextid = 0
local function tid(T)
  if T == VOID then return "void" end
  if T == nil then return "nil" end
  local id = ids[T]
  if not id then nextid = nextid + 1; id = nextid; ids[T] = id end
  return "#" .. id
end

-- describes a type for messages
local function tname(T)
  if T == VOID then return "void" end
  if isfunc(T) then return "function type" end
  return tostring(T)
end

-- "array", "pointer", "func", "scalar", "record" for a ctypes type
function kindof(T)
  if type(T) ~= "userdata" then return nil end
  if pcall(function() return T._length_ end) then return "array" end
  local ok, t = pcall(function() return T._type_ end)
  if ok and type(t) == "string" then return "scalar" end
  if ok then return "pointer" end
  if tostring(T) == "CFunctionType" then return "func" end
  return "record"
end

function P:pointer(T, tok)
  local c = ctypes()
  if T == VOID then return c.c_void_p end
  if isfunc(T) then return self:functype(T, tok) end
  if type(T) == "table" and T.flexible then T = self:array(T.elem, 0, tok) end
  if T == c.c_char then return c.c_char_p end
  if T == c.c_wchar then return c.c_wchar_p end
  return guard(tok, c.POINTER, T)
end

-- CFUNCTYPE for a function type (a variadic one has no ctypes prototype:
-- it is a plain c_void_p). Like the other parser methods that need no
-- parser state, it is called as self:functype(...) and ignores self (`_`).
function P.functype(_, F, tok)
  local c = ctypes()
  if F.variadic then return c.c_void_p end
  local args = {}
  for i, a in ipairs(F.args) do args[i] = a end
  local ret = F.ret
  if ret == VOID then ret = nil end
  local n = #args
  return guard(tok, function() return c.CFUNCTYPE(ret, table.unpack(args, 1, n)) end)
end

function P.array(_, T, n, tok)
  if T == VOID then fail(tok, "array of void") end
  if isfunc(T) then fail(tok, "array of functions") end
  return guard(tok, function() return T * n end)
end

-- }==================================================================


-- {==================================================================
-- Constant expressions
-- ===================================================================

-- the integer a cast converts to: bits and signedness ("bool" for _Bool)
function P:cast_target(tok)
  local T = self:typename()
  local c = ctypes()
  if T == VOID or isfunc(T) or type(T) ~= "userdata" then
    fail(tok, "invalid cast in a constant expression")
  end
  if T == c.c_float or T == c.c_double or T == c.c_longdouble then
    fail(tok, "floating types are not supported in constant expressions")
  end
  if T == c.c_bool then return "bool" end
  local SIGNED = { [c.c_char] = 8, [c.c_byte] = 8, [c.c_short] = 16,
                   [c.c_int] = 32, [c.c_long] = 64, [c.c_longlong] = 64,
                   [c.c_wchar] = 32 }
  local UNSIGNED = { [c.c_ubyte] = 8, [c.c_ushort] = 16, [c.c_uint] = 32,
                     [c.c_ulong] = 64, [c.c_ulonglong] = 64,
                     [c.c_void_p] = 64, [c.c_char_p] = 64, [c.c_wchar_p] = 64 }
  if SIGNED[T] then return SIGNED[T], false end
  if UNSIGNED[T] then return UNSIGNED[T], true end
  if kindof(T) == "pointer" or kindof(T) == "func" then return 64, true end
  fail(tok, "invalid cast to " .. tostring(T) .. " in a constant expression")
end

local BINPREC = {
  ["||"] = 1, ["&&"] = 2, ["|"] = 3, ["^"] = 4, ["&"] = 5,
  ["=="] = 6, ["!="] = 6, ["<"] = 7, [">"] = 7, ["<="] = 7, [">="] = 7,
  ["<<"] = 8, [">>"] = 8, ["+"] = 9, ["-"] = 9, ["*"] = 10, ["/"] = 10,
  ["%"] = 10,
}

function P.binop(_, op, a, b, tok)
  if op == "&&" then return int((a.v ~= 0 and b.v ~= 0) and 1 or 0) end
  if op == "||" then return int((a.v ~= 0 or b.v ~= 0) and 1 or 0) end
  if op == "<<" or op == ">>" then
    -- the result has the (promoted) left operand's type
    local width = a.l and 64 or 32
    local n = b.v
    if (b.u and b.l and n < 0) or n < 0 or n >= width then
      fail(tok, "shift count out of range")
    end
    if op == "<<" then return norm(a.v << n, a.u, a.l) end
    if a.u or a.v >= 0 then
      local v = a.l and a.v or (a.u and (a.v & 0xFFFFFFFF) or a.v)
      return norm(v >> n, a.u, a.l)
    end
    return norm(~((~a.v) >> n), a.u, a.l)
  end
  local u, l = common(a, b)
  local x, y = a.v, b.v
  if u and not l then x, y = x & 0xFFFFFFFF, y & 0xFFFFFFFF end
  if op == "+" then return norm(x + y, u, l)
  elseif op == "-" then return norm(x - y, u, l)
  elseif op == "*" then return norm(x * y, u, l)
  elseif op == "/" or op == "%" then
    if y == 0 then fail(tok, "division by zero in a constant expression") end
    local q, r
    if u and l then q, r = udiv(x, y) else q, r = sdiv(x, y) end
    return norm(op == "/" and q or r, u, l)
  elseif op == "&" then return norm(x & y, u, l)
  elseif op == "|" then return norm(x | y, u, l)
  elseif op == "^" then return norm(x ~ y, u, l)
  elseif op == "==" then return int(x == y and 1 or 0)
  elseif op == "!=" then return int(x ~= y and 1 or 0)
  elseif op == "<" then return int(lt(x, y, u, l) and 1 or 0)
  elseif op == ">" then return int(lt(y, x, u, l) and 1 or 0)
  elseif op == "<=" then return int(lt(y, x, u, l) and 0 or 1)
  elseif op == ">=" then return int(lt(x, y, u, l) and 0 or 1)
  end
  fail(tok, "unsupported operator '" .. op .. "'")
end

function P:unary()
  local t = self:peek()
  self:deeper()
  local r
  if t.t == "op" and (t.v == "-" or t.v == "+" or t.v == "~" or t.v == "!") then
    self:next()
    local a = self:unary()
    if t.v == "-" then r = norm(-a.v, a.u, a.l)
    elseif t.v == "+" then r = a
    elseif t.v == "~" then r = norm(~a.v, a.u, a.l)
    else r = int(a.v == 0 and 1 or 0) end
  elseif t.t == "id" and (t.v == "sizeof" or t.v == "_Alignof" or
         t.v == "__alignof__" or t.v == "__alignof" or t.v == "alignof") then
    self:next()
    self:expect("(", "after " .. t.v)
    if not self:starts_type() then
      fail(self:peek(), t.v .. " needs a type name in parentheses")
    end
    local tt = self:peek()
    local T = self:typename()
    self:expect(")")
    if T == VOID or isfunc(T) then fail(tt, t.v .. " of " .. tname(T)) end
    local c = ctypes()
    local v = guard(tt, t.v == "sizeof" and c.sizeof or c.alignment, T)
    -- gcc's __alignof__ is a type's preferred alignment: 8 for the 8-byte
    -- scalars that i386 aligns to 4 in records (double, long long)
    if (t.v == "__alignof__" or t.v == "__alignof") and v == 4 and
       (T == c.c_double or T == c.c_longlong or T == c.c_ulonglong) then
      v = 8
    end
    r = norm(v, true, true)
  elseif t.t == "op" and t.v == "(" then
    if self:starts_type(1) then                              -- a cast
      self:next()
      local bits, unsigned = self:cast_target(t)
      self:expect(")")
      local a = self:unary()
      if bits == "bool" then r = int(a.v ~= 0 and 1 or 0)
      elseif bits < 32 then
        local v = a.v & ((1 << bits) - 1)
        if not unsigned and v >= (1 << (bits - 1)) then v = v - (1 << bits) end
        r = int(v)
      else r = norm(a.v, unsigned, bits == 64) end
    else
      self:next()
      r = self:expr()
      self:expect(")")
    end
  else
    r = self:primary()
  end
  self:shallower()
  return r
end

function P:primary()
  local t = self:next()
  if t.t == "num" then return literal(t) end
  if t.t == "chr" then return int(t.v) end
  if t.t == "id" then
    local e = self:name(t.v)
    if e and e.kind == "const" and math_type(e.value) == "integer" then
      return e.ival or norm(e.value, false, true)
    end
    if e and e.kind == "const" then
      fail(t, "'" .. t.v .. "' is not an integer constant")
    end
    fail(t, "'" .. t.v .. "' is not a constant")
  end
  fail(t, "expected a constant expression")
end

function P:binary(minprec)
  local a = self:unary()
  while true do
    local t = self:peek()
    local prec = t.t == "op" and BINPREC[t.v]
    if not prec or prec < minprec then return a end
    self:next()
    self:deeper()
    local b = self:binary(prec + 1)
    self:shallower()
    a = self:binop(t.v, a, b, t)
  end
end

function P:expr()
  self:deeper()
  local c = self:binary(1)
  if self:isop("?") then
    self:next()
    local a = self:expr()
    self:expect(":")
    local b = self:expr()
    c = (c.v ~= 0) and a or b
  end
  self:shallower()
  return c
end

-- an integer constant expression: its Lua value
function P:const()
  return self:expr().v
end

-- }==================================================================


-- {==================================================================
-- Attributes: __attribute__((name, name(args), ...))
-- ===================================================================

-- parses one or more attribute groups into list (entries {name, args, tok})
function P:attributes(list)
  while self:isid("__attribute__") or self:isid("__attribute") do
    self:next()
    self:expect("(", "after __attribute__")
    self:expect("(", "after __attribute__(")
    while not self:isop(")") do
      local t = self:next()
      if t.t ~= "id" then fail(t, "expected an attribute name") end
      local a = { name = t.v, tok = t }
      if self:isop("(") then
        self:next()
        -- arguments: kept as tokens up to the matching parenthesis
        local depth, args = 1, {}
        while true do
          local u = self:peek()
          if u.t == "eof" then fail(u, "expected ')'") end
          self:next()
          if u.t == "op" and u.v == "(" then depth = depth + 1
          elseif u.t == "op" and u.v == ")" then
            depth = depth - 1
            if depth == 0 then break end
          end
          args[#args + 1] = u
        end
        a.args = args
      end
      list[#list + 1] = a
      if not self:accept(",") then break end
    end
    self:expect(")")
    self:expect(")")
  end
  return list
end

-- asm("symbol") after a declarator: the symbol's name in the library
function P:asmlabel()
  if self:isid("__asm__") or self:isid("__asm") or self:isid("asm") then
    self:next()
    self:expect("(")
    local parts = {}
    while self:peek().t == "str" do parts[#parts + 1] = self:next().v end
    if #parts == 0 then fail(self:peek(), "expected a string literal") end
    self:expect(")")
    return concat(parts)
  end
  return nil
end

local function attrname(a) return (a.name:gsub("^__(.-)__$", "%1")) end

-- the value of aligned(n) (16, the largest alignment, without n)
function P:aligned_value(a)
  if not (a.args and #a.args > 0) then return 16 end
  local sub = setmetatable({ toks = {}, pos = 1, depth = self.depth,
                             ns = self.ns, names = self.names,
                             tags = self.tags, sigs = self.sigs,
                             records = self.records }, P)
  for i, t in ipairs(a.args) do sub.toks[i] = t end
  sub.toks[#sub.toks + 1] = { t = "eof", text = "<eof>",
    line = a.tok.line, col = a.tok.col }
  local v = sub:const()
  if sub:peek().t ~= "eof" then fail(sub:peek(), "expected ')'") end
  if v <= 0 or v & (v - 1) ~= 0 then
    fail(a.tok, "requested alignment is not a positive power of 2")
  end
  if v > 1 << 28 then fail(a.tok, "requested alignment is too large") end
  return v
end

-- the record options of a list of attributes: pack, align
function P:record_attrs(attrs, opts)
  for _, a in ipairs(attrs) do
    local n = attrname(a)
    if n == "packed" then opts.packed = true
    elseif n == "aligned" then
      local v = self:aligned_value(a)
      if not opts.align or v > opts.align then opts.align = v end
    elseif LAYOUT_ATTR[n] then
      fail(a.tok, "attribute '" .. a.name .. "' is not supported")
    end
  end
end

-- the alignment a member's attributes ask for (nil: none)
function P:member_align(attrs, n)
  for _, a in ipairs(attrs) do
    local name = attrname(a)
    if name == "aligned" then
      local v = self:aligned_value(a)
      if not n or v > n then n = v end
    elseif LAYOUT_ATTR[name] then
      fail(a.tok, "attribute '" .. a.name .. "' is not supported on a member")
    end
  end
  return n
end

-- attributes where no layout may change
local function plain_attrs(attrs, where)
  for _, a in ipairs(attrs) do
    if LAYOUT_ATTR[attrname(a)] then
      fail(a.tok, "attribute '" .. a.name .. "' is not supported on " .. where)
    end
  end
end

-- }==================================================================


-- {==================================================================
-- Declaration specifiers
-- ===================================================================

-- returns spec = { T = base type, storage = "typedef"|"extern"|..., attrs,
-- tok = first token }
function P:specifiers(allow_storage)
  local spec = { attrs = {}, tok = self:peek() }
  local count = {}
  local base = nil          -- a struct/union/enum/typedef type
  local nbasic = 0
  while true do
    local t = self:peek()
    if t.t ~= "id" then break end
    local w = t.v
    if QUALIFIERS[w] then self:next()
    elseif w == "__attribute__" or w == "__attribute" then
      self:attributes(spec.attrs)
    elseif STORAGE[w] then
      if not allow_storage and w ~= "__extension__" then
        fail(t, "storage class '" .. w .. "' not allowed here")
      end
      self:next()
      if STORAGE[w] ~= true then
        if spec.storage and spec.storage ~= STORAGE[w] then
          fail(t, "more than one storage class")
        end
        spec.storage = STORAGE[w]
      end
    elseif w == "_Complex" or w == "_Imaginary" then
      fail(t, "complex types are not supported")
    elseif w == "__int128" then
      fail(t, "__int128 is not supported")
    elseif w == "_Atomic" then
      fail(t, "_Atomic is not supported")
    elseif w == "_Alignas" then
      -- _Alignas(constant) or _Alignas(type): members only (checked there)
      self:next()
      self:expect("(", "after _Alignas")
      local v
      if self:starts_type() then
        local tt = self:peek()
        local T = self:typename()
        if T == VOID or isfunc(T) then fail(tt, "_Alignas of " .. tname(T)) end
        v = guard(tt, ctypes().alignment, T)
      else
        local vt = self:peek()
        v = self:const()
        if v < 0 or (v ~= 0 and v & (v - 1) ~= 0) then
          fail(vt, "requested alignment is not a power of 2")
        end
      end
      self:expect(")")
      if v > 0 and (not spec.alignas or v > spec.alignas) then spec.alignas = v end
      spec.alignas_tok = spec.alignas_tok or t
    elseif w == "typeof" or w == "__typeof__" or w == "__typeof" then
      fail(t, "typeof is not supported")
    elseif w == "__thread" or w == "_Thread_local" then
      fail(t, "thread-local variables are not supported")
    elseif BASIC[w] then
      if base then fail(t, "invalid combination of type specifiers") end
      self:next()
      if w == "__signed__" or w == "__signed" then w = "signed" end
      count[w] = (count[w] or 0) + 1
      nbasic = nbasic + 1
      self:basic(count, t)            -- refuses a bad combination here
    elseif w == "struct" or w == "union" then
      if base or nbasic > 0 then fail(t, "invalid combination of type specifiers") end
      local untagged
      base, untagged = self:record()
      spec.untagged = untagged
    elseif w == "enum" then
      if base or nbasic > 0 then fail(t, "invalid combination of type specifiers") end
      base = self:enum()
    elseif not KEYWORDS[w] and base == nil and nbasic == 0 and
           self:typedef(w) ~= nil then
      self:next()
      base = self:typedef(w)
      spec.typedefname = w
    else
      break
    end
  end
  if base then
    spec.T = base
  elseif nbasic > 0 then
    spec.T = self:basic(count, spec.tok)
  else
    local t = self:peek()
    if t.t == "id" and not KEYWORDS[t.v] then
      fail(t, "unknown type name '" .. t.v .. "'")
    end
    fail(t, "expected a type")
  end
  return spec
end

function P.basic(_, count, tok)
  local c = ctypes()
  local function bad() fail(tok, "invalid combination of type specifiers") end
  -- every specifier given must be one of allowed
  local function only(allowed)
    for k in pairs(count) do
      if not allowed[k] then bad() end
    end
  end
  for k, v in pairs(count) do
    if v > 1 and not (k == "long" and v == 2) then bad() end
  end
  if count.signed and count.unsigned then bad() end
  local u = count.unsigned
  if count.void then
    if next(count, next(count)) ~= nil or count.void ~= 1 then bad() end
    return VOID
  end
  if count._Bool then
    only({ _Bool = true })
    return c.c_bool
  end
  if count.float then
    only({ float = true })
    return c.c_float
  end
  if count.double then
    only({ double = true, long = true })
    if (count.long or 0) > 1 then bad() end
    return count.long and c.c_longdouble or c.c_double
  end
  if count.char then
    only({ char = true, signed = true, unsigned = true })
    if u then return c.c_ubyte end
    if count.signed then return c.c_byte end
    return c.c_char
  end
  if count.short then
    only({ short = true, int = true, signed = true, unsigned = true })
    return u and c.c_ushort or c.c_short
  end
  if count.long then   -- 1 or 2 (more was refused above)
    only({ long = true, int = true, signed = true, unsigned = true })
    if count.long == 2 then return u and c.c_ulonglong or c.c_longlong end
    return u and c.c_ulong or c.c_long
  end
  only({ int = true, signed = true, unsigned = true })
  return u and c.c_uint or c.c_int
end

-- }==================================================================


-- {==================================================================
-- Declarators: a declarator is parsed into { name, tok, ops } where ops
-- are applied innermost first to the base type: {"ptr"}, {"array", n},
-- {"func", args, variadic}
-- ===================================================================

-- pointers with their qualifiers and attributes
function P:pointers()
  local n = 0
  while self:isop("*") do
    local t = self:next()
    n = n + 1
    if n > MAXDEPTH then fail(t, "too many levels of pointers") end
    while true do
      local q = self:peek()
      if q.t == "id" and QUALIFIERS[q.v] then self:next()
      elseif q.t == "id" and (q.v == "__attribute__" or q.v == "__attribute") then
        local list = self:attributes({})
        plain_attrs(list, "a pointer")
      else break end
    end
  end
  return n
end

-- does a '(' at the current position open a nested declarator (rather
-- than a parameter list)?
function P:nested_declarator()
  if not self:isop("(") then return false end
  local t = self:peek(1)
  if t.t == "op" and (t.v == "*" or t.v == "(" or t.v == "[") then
    return t.v ~= "[" -- '(' '[' cannot start a parameter list, nor a declarator
  end
  if t.t == "id" and (t.v == "__attribute__" or t.v == "__attribute") then
    return true
  end
  if t.t == "id" and not self:starts_type(1) and not KEYWORDS[t.v] then
    return true
  end
  return false
end

-- abstract: true (no name allowed), false (a name required), "maybe"
function P:declarator(abstract)
  self:deeper()
  local d = { ops = {} }
  local nptr = self:pointers()
  local inner = nil
  while self:isid("__attribute__") or self:isid("__attribute") do
    plain_attrs(self:attributes({}), "a declarator")
  end
  if self:nested_declarator() then
    self:next()
    inner = self:declarator(abstract)
    self:expect(")")
    d.name, d.tok = inner.name, inner.tok
  elseif self:peek().t == "id" and not KEYWORDS[self:peek().v] then
    if abstract == true then
      fail(self:peek(), "unexpected name '" .. self:peek().v .. "' in a type name")
    end
    d.tok = self:next()
    d.name = d.tok.v
  else
    if abstract == false then
      local t = self:peek()
      if t.t == "id" and KEYWORDS[t.v] then
        fail(t, "expected a name, got keyword '" .. t.v .. "'")
      end
      fail(t, "expected a name")
    end
    d.tok = self:peek()
  end
  -- suffixes, left to right
  local suffixes = {}
  while true do
    if #suffixes > MAXDEPTH then fail(self:peek(), "declarator nested too deeply") end
    if self:isop("[") then
      local t = self:next()
      while self:peek().t == "id" and (QUALIFIERS[self:peek().v] or self:peek().v == "static") do
        self:next()
      end
      if self:isop("]") then
        self:next()
        suffixes[#suffixes + 1] = { "array", nil, tok = t }
      else
        local et = self:peek()
        local n = self:const()
        if n < 0 then fail(et, "array size is negative") end
        self:expect("]")
        suffixes[#suffixes + 1] = { "array", n, tok = t }
      end
    elseif self:isop("(") then
      local t = self:next()
      local args, variadic, names = self:parameters()
      suffixes[#suffixes + 1] = { "func", args, variadic, tok = t, names = names }
    else
      break
    end
  end
  -- the type is built from the base: pointers first, then the suffixes
  -- from the rightmost one, then the nested declarator's operations
  for _ = 1, nptr do d.ops[#d.ops + 1] = { "ptr", tok = d.tok } end
  for k = #suffixes, 1, -1 do d.ops[#d.ops + 1] = suffixes[k] end
  if inner then
    for _, op in ipairs(inner.ops) do d.ops[#d.ops + 1] = op end
  end
  self:shallower()
  return d
end

-- applies the declarator's operations to the base type
function P:apply(base, d)
  local T = base
  for _, op in ipairs(d.ops) do
    local kind, tok = op[1], op.tok or d.tok
    if kind == "ptr" then
      T = self:pointer(T, tok)
    elseif kind == "array" then
      if isfunc(T) then fail(tok, "array of functions") end
      if T == VOID then fail(tok, "array of void") end
      if type(T) == "table" and T.flexible then
        fail(tok, "array type has incomplete element type")
      end
      if op[2] == nil then
        T = { flexible = true, elem = T }
      else
        if not self:complete_type(T) then
          fail(tok, "array type has incomplete element type " .. tname(T))
        end
        T = self:array(T, op[2], tok)
      end
    else -- func
      if isfunc(T) then fail(tok, "function returning a function") end
      if type(T) == "table" and T.flexible then fail(tok, "function returning an array") end
      if kindof(T) == "array" then fail(tok, "function returning an array") end
      T = { func = true, ret = T, args = op[2], variadic = op[3], names = op.names }
    end
  end
  return T
end

-- the parameter list after '(' : argument types, variadic, names
function P:parameters()
  local args, names = {}, {}
  if self:isop(")") then self:next(); return args, false, names end
  if self:isid("void") and self:isop(")", 1) then
    self:next(); self:next()
    return args, false, names
  end
  while true do
    if self:isop("...") then
      local t = self:next()
      if #args == 0 then fail(t, "a variadic function needs a named parameter before '...'") end
      self:expect(")")
      return args, true, names
    end
    local spec = self:specifiers(false)
    if spec.storage then fail(spec.tok, "storage class in a parameter") end
    if spec.alignas_tok then fail(spec.alignas_tok, "_Alignas is only supported on members") end
    local d = self:declarator("maybe")
    plain_attrs(self:attributes({}), "a parameter")
    local T = self:apply(spec.T, d)
    T = self:param_adjust(T, d.tok)
    if T == VOID then
      fail(d.tok, "parameter of type void")
    end
    args[#args + 1] = T
    names[#names + 1] = d.name or false
    if self:isop(")") then self:next(); return args, false, names end
    self:expect(",", "or ')' in a parameter list")
  end
end

-- arrays and functions as parameters are pointers
function P:param_adjust(T, tok)
  if type(T) == "table" and T.flexible then return self:pointer(T.elem, tok) end
  if isfunc(T) then return self:functype(T, tok) end
  if kindof(T) == "array" then return self:pointer(T._type_, tok) end
  return T
end

-- a type name: specifiers and an abstract declarator
function P:typename()
  local spec = self:specifiers(false)
  if spec.alignas_tok then fail(spec.alignas_tok, "_Alignas is only supported on members") end
  local d = self:declarator(true)
  local T = self:apply(spec.T, d)
  if type(T) == "table" and T.flexible then
    fail(d.tok, "array of unknown size in a type name")
  end
  return T
end

-- }==================================================================


-- {==================================================================
-- Records: struct and union
-- ===================================================================

local function signature(fields, opts)
  local parts = { tostring(opts.pack or 0), tostring(opts.align or 0) }
  for _, f in ipairs(fields) do
    parts[#parts + 1] = (f.anon and "" or f[1]) .. ":" .. (f.sig or tid(f[2])) .. ":" ..
                        tostring(f[3])
  end
  return concat(parts, ";")
end

function P.newrecord(_, kind, name, tok)
  local c = ctypes()
  return guard(tok, kind == "struct" and c.Structure or c.Union, name)
end

-- struct/union specifier; returns its type and whether it was an untagged
-- definition (a candidate anonymous member)
function P:record()
  local kw = self:next()                         -- struct / union
  local kind = kw.v
  local attrs = self:attributes({})
  local tagtok, tag = nil, nil
  if self:peek().t == "id" and not KEYWORDS[self:peek().v] then
    tagtok = self:next()
    tag = tagtok.v
  end
  local key = tag and (kind .. " " .. tag)
  local otherkey = tag and ((kind == "struct" and "union " or "struct ") .. tag)
  if not self:isop("{") then
    if not tag then fail(self:peek(), "expected '{' or a tag after '" .. kind .. "'") end
    plain_attrs(attrs, "a " .. kind .. " reference")
    -- a reference (or a forward declaration): the tag's type, made
    -- incomplete when new
    local e = self:tag(key)
    if e then return e.T end
    if self:tag(otherkey) then
      fail(tagtok, "'" .. tag .. "' defined as the wrong kind of tag")
    end
    local T = self:newrecord(kind, tag, tagtok)
    self.tags[key] = { T = T, complete = false, kind = kind }
    return T
  end
  local brace = self:next()
  self:deeper()
  -- the tag is known (incomplete) inside its own body
  local T, redefine = nil, nil
  if tag then
    if self:tag(otherkey) then
      fail(tagtok, "'" .. tag .. "' defined as the wrong kind of tag")
    end
    local e = self:tag(key)
    if e and e.complete then
      redefine = e                   -- compared with the new body below
    elseif e and not self.tags[key] and self.dry then
      -- completing a type of the namespace: the trial run uses a stand-in
      T = self:newrecord(kind, tag, tagtok)
      self.tags[key] = { T = T, complete = false, kind = kind }
      self.completes_old = true
    elseif e then
      T = e.T
      if not self.tags[key] then
        self.tags[key] = { T = T, complete = false, kind = kind }
      end
    else
      T = self:newrecord(kind, tag, tagtok)
      self.tags[key] = { T = T, complete = false, kind = kind }
    end
    if self.defining[key] then
      fail(tagtok, "nested redefinition of '" .. key .. "'")
    end
    if not redefine then self.defining[key] = true end
  end
  -- the members
  local fields, anon, names = {}, {}, {}
  local maxalign, bigpad = 0, nil
  local opts = {}
  if self.pack then opts.pack = self.pack end
  while not self:isop("}") do
    local t = self:peek()
    if t.t == "eof" then fail(t, "expected '}'") end
    if t.t == "pp" then
      self:next()
      self:directive(t)
      if self.pack then opts.pack = self.pack else opts.pack = nil end
    elseif self:isop(";") then
      self:next()                        -- an empty declaration (GNU)
    else
      local spec = self:specifiers(false)
      if spec.storage then fail(spec.tok, "storage class in a member") end
      local specalign = self:member_align(spec.attrs, spec.alignas)
      if self:isop(";") then
        -- an anonymous struct or union member
        local st = self:next()
        if not spec.untagged then
          fail(st, "declaration does not declare anything")
        end
        if specalign then fail(st, "an aligned anonymous member is not supported") end
        self.nanon = self.nanon + 1
        local name = "_anon" .. self.nanon
        names[name] = true
        fields[#fields + 1] = { name, spec.T, sig = self.sigs[spec.T], anon = true }
        anon[#anon + 1] = name
      else
        while true do
          local d, bits
          if self:isop(":") then
            d = { ops = {}, tok = self:peek() }
          else
            d = self:declarator(false)
          end
          local malign = self:member_align(self:attributes({}), specalign)
          local FT = self:apply(spec.T, d)
          if self:isop(":") then
            self:next()
            local bt = self:peek()
            bits = self:const()
            if bits < 0 then fail(bt, "negative width in bit field") end
            if bits == 0 and d.name then
              fail(bt, "zero width for bit field '" .. d.name .. "'")
            end
            local c = ctypes()
            if FT == c.c_char then FT = c.c_byte end   -- char is signed
            if FT == c.c_wchar then FT = c.c_int end   -- wchar_t is int
            local BITS = { [c.c_bool] = 1, [c.c_byte] = 8, [c.c_ubyte] = 8,
              [c.c_short] = 16, [c.c_ushort] = 16, [c.c_int] = 32,
              [c.c_uint] = 32, [c.c_long] = 64, [c.c_ulong] = 64,
              [c.c_longlong] = 64, [c.c_ulonglong] = 64 }
            if not BITS[FT] then
              fail(bt, "bit field '" .. (d.name or "") .. "' has invalid type " .. tname(FT))
            end
            if bits > BITS[FT] then
              fail(bt, "width of bit field '" .. (d.name or "") .. "' exceeds its type")
            end
          end
          malign = self:member_align(self:attributes({}), malign)
          if FT == VOID then fail(d.tok, "member of type void") end
          if isfunc(FT) then fail(d.tok, "member of function type") end
          if type(FT) == "table" and FT.flexible then
            -- a flexible array member: zero elements (must be last)
            if not self:isop(";") or not self:isop("}", 1) then
              fail(d.tok, "flexible array member not at the end of the " .. kind)
            end
            FT = self:array(FT.elem, 0, d.tok)
          end
          local name = d.name or ""
          if name ~= "" then
            if names[name] then fail(d.tok, "duplicate member '" .. name .. "'") end
            names[name] = true
          end
          if bits == nil and not self:complete_type(FT) then
            fail(d.tok, "member '" .. name .. "' has incomplete type " .. tname(FT))
          end
          if malign then
            -- aligned(n) on a member: an unnamed zero-width bit field of a
            -- type aligned to n moves it (whatever the packing), the
            -- record's _align_ takes n; beyond 8, a zero-length array of an
            -- n-aligned empty record (not under packing)
            if bits then fail(d.tok, "aligned bit fields are not supported") end
            local eff = malign
            if opts.pack and opts.pack < eff then eff = opts.pack end
            if eff > 1 then
              -- the integer type of that alignment (none of 8 on i386)
              local c, pad = ctypes(), nil
              for _, n in ipairs({ "c_short", "c_int", "c_long", "c_longlong" }) do
                if c.alignment(c[n]) == eff then pad = c[n] break end
              end
              if pad then
                fields[#fields + 1] = { "", pad, 0 }
              else
                bigpad = bigpad or d.tok
                self.nanon = self.nanon + 1
                local pname = "_align" .. self.nanon
                names[pname] = true
                fields[#fields + 1] = { pname, self:aligner(eff, d.tok) * 0,
                                        anon = true }
              end
              if eff > maxalign then maxalign = eff end
            end
          end
          fields[#fields + 1] = { name, FT, bits, sig = self.sigs[FT] }
          if not self:accept(",") then break end
        end
        self:expect(";", "after a member")
      end
    end
  end
  local close = self:next()                      -- '}'
  self:attributes(attrs)
  self:record_attrs(attrs, opts)
  if opts.packed then opts.pack = 1 end
  if bigpad and opts.pack then
    local c, most = ctypes(), 0      -- the largest integer alignment (4 on i386)
    for _, n in ipairs({ "c_short", "c_int", "c_long", "c_longlong" }) do
      if c.alignment(c[n]) > most then most = c.alignment(c[n]) end
    end
    fail(bigpad, "aligned(n) above " .. most .. " on a member of a packed " .. kind ..
         " is not supported")
  end
  if maxalign > 1 and (opts.align or 0) < maxalign then opts.align = maxalign end
  local sig = kind .. "{" .. signature(fields, opts) .. "}"
  if tag then self.defining[key] = nil end
  if redefine then
    if redefine.sig ~= sig then
      fail(tagtok, "redefinition of '" .. key .. "' with a different body")
    end
    self:shallower()
    return redefine.T
  end
  if not tag then
    -- untagged: named after the typedef or member it is declared for
    local hint = self:peek()
    local name = (hint.t == "id" and not KEYWORDS[hint.v]) and hint.v or
                 (kind .. "_anon")
    T = self:newrecord(kind, name, brace)
  end
  -- lay it out
  local ok, err = pcall(function()
    if opts.pack then T._pack_ = opts.pack end
    if opts.align then T._align_ = opts.align end
    if #anon > 0 then T._anonymous_ = anon end
    local list = {}
    for i, f in ipairs(fields) do list[i] = { f[1], f[2], f[3] } end
    T._fields_ = list
  end)
  if not ok then
    local msg = tostring(err):gsub("^[^:\n]*:%d+: ", "")
    fail(tagtok or close, msg)
  end
  if tag then
    local entry = self.tags[key]
    entry.complete = true
    entry.sig = sig
  else
    self.sigs[T] = sig
  end
  self.records[T] = true
  self:shallower()
  return T, not tag
end

-- an empty record aligned to n (n-aligned zero-length arrays of it)
local aligners = {}
function P.aligner(_, n, tok)
  if not aligners[n] then
    aligners[n] = guard(tok, ctypes().Structure, "_aligned_" .. n,
                        { _fields_ = {}, _align_ = n })
  end
  return aligners[n]
end

function P.complete_type(_, T)
  if type(T) ~= "userdata" then return true end
  local ok = pcall(ctypes().sizeof, T)
  return ok
end

-- }==================================================================


-- {==================================================================
-- Enumerations
-- ===================================================================

function P:enum()
  self:next()                                    -- enum
  local attrs = self:attributes({})
  local tagtok, tag = nil, nil
  if self:peek().t == "id" and not KEYWORDS[self:peek().v] then
    tagtok = self:next()
    tag = tagtok.v
  end
  local key = tag and ("enum " .. tag)
  if not self:isop("{") then
    if not tag then fail(self:peek(), "expected '{' or a tag after 'enum'") end
    local e = self:tag(key)
    if e then return e.T end
    fail(tagtok, "unknown enum '" .. tag .. "' (enums cannot be declared before their definition)")
  end
  self:next()
  local values, list = {}, {}
  local v = int(-1)
  local first = true
  while not self:isop("}") do
    local t = self:next()
    if t.t ~= "id" or KEYWORDS[t.v] then fail(t, "expected an enumerator name") end
    plain_attrs(self:attributes({}), "an enumerator")
    if self:accept("=") then
      v = self:expr()
    else
      v = self:binop("+", v, int(1), t)
      if first then v = int(0) end
    end
    first = false
    self:define_const(t, t.v, v.v, v)
    list[#list + 1] = v.v
    values[#values + 1] = t.v .. "=" .. v.v
    if not self:accept(",") then break end
  end
  self:expect("}", "after the enumerators")
  self:attributes(attrs)
  local packed = false
  for _, a in ipairs(attrs) do
    local n = attrname(a)
    if n == "packed" then packed = true
    elseif LAYOUT_ATTR[n] then fail(a.tok, "attribute '" .. a.name .. "' is not supported on an enum") end
  end
  -- gcc's underlying type: unsigned int when no value is negative, int
  -- otherwise; wider (long) when the values need it; with packed, the
  -- smallest that holds them
  local lo, hi = 0, 0
  for _, x in ipairs(list) do
    if x < lo then lo = x end
    if x > hi then hi = x end
  end
  local c = ctypes()
  local T
  local neg = lo < 0
  local function fits(bits)
    if neg then return lo >= -(1 << (bits - 1)) and hi < (1 << (bits - 1)) end
    return bits == 64 or hi < (1 << bits)
  end
  if packed and fits(8) then T = neg and c.c_byte or c.c_ubyte
  elseif packed and fits(16) then T = neg and c.c_short or c.c_ushort
  elseif fits(32) then T = neg and c.c_int or c.c_uint
  else T = neg and c.c_long or c.c_ulong end
  if tag then
    local sig = concat(values, ",")
    local e = self:tag(key)
    if e then
      if e.sig ~= sig then fail(tagtok, "redefinition of 'enum " .. tag .. "' with different values") end
    else
      self.tags[key] = { T = T, complete = true, kind = "enum", sig = sig }
    end
  end
  return T
end

-- }==================================================================


-- {==================================================================
-- Names: constants, typedefs, functions, variables
-- ===================================================================

local RESERVED = { cdef = true, typeof = true }

function P:declare(tok, name, entry)
  if RESERVED[name] then
    fail(tok, "'" .. name .. "' cannot be declared (a method of the namespace)")
  end
  local old = self:name(name)
  if old == nil and BUILTIN[name] then
    local T = ctypes()[BUILTIN[name]]
    old = { kind = "typedef", T = T, key = tid(T) }
  end
  if old then
    if old.kind ~= entry.kind then
      fail(tok, "'" .. name .. "' redeclared as a different kind of name")
    end
    if old.key ~= entry.key then
      if entry.kind == "typedef" then
        fail(tok, "conflicting types for typedef '" .. name .. "'")
      elseif entry.kind == "const" then
        fail(tok, "redefinition of constant '" .. name .. "' with a different value")
      else
        fail(tok, "conflicting types for '" .. name .. "'")
      end
    end
    return
  end
  self.names[name] = entry
end

function P:define_const(tok, name, value, ival)
  local key = type(value) .. ":" .. tostring(value)
  self:declare(tok, name, { kind = "const", value = value, ival = ival, key = key })
end

local function typekey(P_, T)
  if T == VOID then return "void" end
  if isfunc(T) then
    local parts = { typekey(P_, T.ret) }
    for _, a in ipairs(T.args) do parts[#parts + 1] = typekey(P_, a) end
    return "fn(" .. concat(parts, ",") .. (T.variadic and ",..." or "") .. ")"
  end
  return P_.sigs[T] or tid(T)
end

-- one top-level declaration
function P:declaration()
  local spec = self:specifiers(true)
  if spec.alignas_tok then fail(spec.alignas_tok, "_Alignas is only supported on members") end
  if self:isop(";") then
    self:next()
    plain_attrs(spec.attrs, "a declaration")
    return
  end
  local storage = spec.storage
  while true do
    local d = self:declarator(false)
    local asm = self:asmlabel()
    local attrs = self:attributes({})
    local T = self:apply(spec.T, d)
    if storage == "typedef" then
      plain_attrs(spec.attrs, "a typedef")
      plain_attrs(attrs, "a typedef")
      if type(T) == "table" and T.flexible then
        fail(d.tok, "typedef of an array of unknown size is not supported")
      end
      self:declare(d.tok, d.name, { kind = "typedef", T = T, key = typekey(self, T) })
    elseif isfunc(T) then
      plain_attrs(attrs, "a function")
      if self:isop("{") then fail(self:peek(), "function definitions are not supported") end
      local entry = { kind = "func", F = T, tok = d.tok, symbol = asm or d.name,
                      lib = self.lib, key = typekey(self, T) .. "@" .. (asm or d.name) }
      self:declare(d.tok, d.name, entry)
    else
      plain_attrs(spec.attrs, "a variable")
      plain_attrs(attrs, "a variable")
      if T == VOID then fail(d.tok, "variable '" .. d.name .. "' declared void") end
      if self:isop("=") then fail(self:peek(), "initializers are not supported") end
      if type(T) == "table" and T.flexible then
        fail(d.tok, "variable '" .. d.name .. "' has an array type of unknown size")
      end
      if not self:complete_type(T) then
        fail(d.tok, "variable '" .. d.name .. "' has incomplete type " .. tname(T))
      end
      local entry = { kind = "var", T = T, symbol = asm or d.name, lib = self.lib,
                      key = typekey(self, T) .. "@" .. (asm or d.name) }
      self:declare(d.tok, d.name, entry)
    end
    if not self:accept(",") then break end
  end
  self:expect(";", "after a declaration")
end

-- removes the identifier name from the tokens still to parse
function P:drop(name)
  local toks, j = self.toks, self.pos
  for k = self.pos, #toks do
    local t = toks[k]
    if not (t.t == "id" and t.v == name) then
      toks[j] = t
      j = j + 1
    end
  end
  for k = #toks, j, -1 do toks[k] = nil end
end

-- a preprocessor line
function P:directive(tok)
  local name = tok.v
  local args = tok.args or {}
  local sub = setmetatable({ toks = {}, pos = 1, depth = 0, ns = self.ns,
    names = self.names, tags = self.tags, sigs = self.sigs,
    records = self.records }, P)
  for i, t in ipairs(args) do sub.toks[i] = t end
  local last = args[#args] or tok
  sub.toks[#sub.toks + 1] = { t = "eof", text = "<eof>", line = last.line,
    col = last.col + #last.text }
  if name == "define" then
    local nt = sub:next()
    if nt.t ~= "id" then fail(nt, "expected a macro name after #define") end
    if KEYWORDS[nt.v] then fail(nt, "cannot #define keyword '" .. nt.v .. "'") end
    local after = sub:peek()
    if after.t == "op" and after.v == "(" and after.line == nt.line and
       after.col == nt.col + #nt.text then
      fail(after, "function-like macros are not supported")
    end
    if after.t == "eof" then
      -- an empty macro (SQLITE_API, ZEXPORT): the name disappears from
      -- the declarations that follow
      self:declare(nt, nt.v, { kind = "macro", key = "empty" })
      self:drop(nt.v)
      return
    end
    if after.t == "str" then
      local parts = {}
      while sub:peek().t == "str" do parts[#parts + 1] = sub:next().v end
      if sub:peek().t ~= "eof" then
        fail(sub:peek(), "#define " .. nt.v .. ": expected the end of the line")
      end
      self:define_const(nt, nt.v, concat(parts))
      return
    end
    local v = sub:expr()
    if sub:peek().t ~= "eof" then
      fail(sub:peek(), "#define " .. nt.v .. ": expected the end of the line")
    end
    self:define_const(nt, nt.v, v.v, v)
  elseif name == "pragma" then
    local t = sub:next()
    if t.t == "id" and t.v == "pack" then
      sub:expect("(")
      local stack = self.packstack
      if sub:isop(")") then
        self.pack = nil
      elseif sub:isid("push") then
        sub:next()
        stack[#stack + 1] = self.pack or false
        if sub:accept(",") then
          local nt = sub:peek()
          local n = sub:const()
          if n <= 0 or n & (n - 1) ~= 0 or n > 16 then
            fail(nt, "#pragma pack: alignment must be 1, 2, 4, 8 or 16")
          end
          self.pack = n
        end
      elseif sub:isid("pop") then
        local pt = sub:next()
        if #stack == 0 then fail(pt, "#pragma pack(pop) without a push") end
        local p = stack[#stack]
        stack[#stack] = nil
        self.pack = p or nil
      else
        local nt = sub:peek()
        local n = sub:const()
        if n <= 0 or n & (n - 1) ~= 0 or n > 16 then
          fail(nt, "#pragma pack: alignment must be 1, 2, 4, 8 or 16")
        end
        self.pack = n
      end
      sub:expect(")")
      if sub:peek().t ~= "eof" then fail(sub:peek(), "expected the end of the line") end
    elseif t.t == "id" and t.v == "once" then
      return
    else
      fail(t, "unsupported #pragma")
    end
  else
    fail(tok, "unsupported preprocessor directive '#" .. name .. "'")
  end
end

function P:unit()
  while true do
    local t = self:peek()
    if t.t == "eof" then return end
    if t.t == "pp" then
      self:next()
      self:directive(t)
    elseif self:isop(";") then
      self:next()
    else
      if t.t == "id" and (t.v == "_Static_assert" or t.v == "static_assert") then
        self:next()
        self:expect("(")
        local et = self:peek()
        local v = self:const()
        local msg = "static assertion failed"
        if self:accept(",") then
          local st = self:next()
          if st.t ~= "str" then fail(st, "expected a string literal") end
          msg = msg .. ": \"" .. st.v .. "\""
        end
        self:expect(")")
        self:expect(";")
        if v == 0 then fail(et, msg) end
      else
        self:declaration()
      end
    end
  end
end

-- }==================================================================


-- {==================================================================
-- Namespaces
-- ===================================================================

local State = setmetatable({}, { __mode = "k" })   -- ns -> its state
local NS = {}                                       -- the metatable

local function checklib(lib, fname)
  if lib == nil then return end
  local ok = getmetatable(lib) == "ctypes.Library" and
             pcall(function() return lib._handle end)
  local s = ok and tostring(lib) or ""
  if not (ok and s:match("^<CDLL")) then
    local got = math_type(lib) or type(lib)
    if got == "float" then got = "number" end
    if type(lib) == "userdata" then got = tostring(lib):match("^[%w_]+") or "userdata" end
    error("TypeError: " .. fname .. ": lib must be a library (CDLL), got " ..
          got, 3)
  end
end

-- a function object for a declaration
local function makefunc(name, e)
  local c = ctypes()
  local lib = e.lib
  if lib == nil then
    error("AttributeError: cdef: function '" .. name .. "' was declared " ..
          "without a library", 3)
  end
  local F = e.F
  local args, n = {}, #F.args
  for i, a in ipairs(F.args) do args[i] = a end
  local ret = F.ret
  if ret == VOID then ret = nil end
  local core = require("ctypes.core")
  local ok, f
  if F.variadic or not core._libfunc then
    ok, f = pcall(function()
      local g = core._libfunc and core._libfunc(lib, e.symbol) or lib[e.symbol]
      g.argtypes = args
      g.restype = ret
      return g
    end)
  else
    ok, f = pcall(function()
      local _, use_errno = core._libfunc(lib, e.symbol)
      local opt = use_errno and { use_errno = true } or nil
      args[n + 1] = opt
      local Fn = c.CFUNCTYPE(ret, table.unpack(args, 1, opt and n + 1 or n))
      return Fn({ e.symbol, lib })
    end)
  end
  if not ok then error((tostring(f):gsub("^[^:\n]*:%d+: ", "")), 3) end
  return f
end

local function makevar(name, e)
  if e.lib == nil then
    error("AttributeError: cdef: variable '" .. name .. "' was declared " ..
          "without a library", 3)
  end
  local ok, v = pcall(function() return e.T.in_dll(e.lib, e.symbol) end)
  if not ok then
    local msg = tostring(v):gsub("^[^:\n]*:%d+: ", "")
    msg = msg:gsub("^ValueError: ", "AttributeError: ")
    error(msg, 3)
  end
  return v
end

NS.__index = function(ns, key)
  local st = State[ns]
  if key == "cdef" then return M.ns_cdef end
  if key == "typeof" then return M.ns_typeof end
  if type(key) ~= "string" then
    local got = math_type(key) or type(key)
    if got == "float" then got = "number" end
    error("TypeError: cdef namespace: key must be a string, got " .. got, 2)
  end
  local tag = st.tags[key]
  if tag then return tag.T end
  local e = st.names[key]
  if e == nil then
    error("AttributeError: cdef namespace has no declaration '" .. key .. "'", 2)
  end
  if e.kind == "typedef" then
    if e.T == VOID then return nil end
    if isfunc(e.T) then                 -- a function type: its CFUNCTYPE
      return P.functype(nil, e.T, { line = 0, col = 0, t = "eof" })
    end
    return e.T
  elseif e.kind == "const" then return e.value
  elseif e.kind == "macro" then return nil
  elseif e.kind == "func" then
    local f = makefunc(key, e)
    rawset(ns, key, f)
    return f
  else
    local v = makevar(key, e)
    rawset(ns, key, v)
    return v
  end
end

NS.__newindex = function(_, key)
  error("AttributeError: cdef namespace: cannot set '" .. tostring(key) ..
        "' (declare it with ns:cdef)", 2)
end

NS.__tostring = function(ns)
  return string_format("<cdef namespace at %s>", tostring(State[ns].id))
end

NS.__metatable = "cdef namespace"

local function newparser(st, toks, lib, dry)
  return setmetatable({
    toks = toks, pos = 1, depth = 0, ns = st, lib = lib, dry = dry,
    names = {}, tags = {}, sigs = {}, defining = {}, nanon = 0,
    records = st.records, pack = st.pack,
    packstack = { table.unpack(st.packstack or {}) },
  }, P)
end

-- parses and declares source into the namespace state st (transactional)
local function run(st, ns, source, lib, fname)
  if type(source) ~= "string" then
    local got = math_type(source) or type(source)
    if got == "float" then got = "number" end
    error("TypeError: " .. fname .. ": source must be a string, got " .. got, 3)
  end
  checklib(lib, fname)
  local function attempt(dry)
    local p
    local ok, err = pcall(function()
      local toks = lex(source)
      p = newparser(st, toks, lib, dry)
      p.sigs = setmetatable({}, { __index = st.sigs })
      for name, e in pairs(st.names) do
        if e.kind == "macro" then p:drop(name) end
      end
      p:unit()
    end)
    if not ok then
      if getmetatable(err) == Err then error(err.msg, 4) end
      -- anything else is ours: still a CDefError, never a crash
      error("CDefError: " .. tostring(err), 4)
    end
    return p
  end
  local p = attempt(true)
  if p.completes_old then p = attempt(false) end
  -- commit
  st.pack, st.packstack = p.pack, p.packstack
  for k, v in pairs(p.sigs) do st.sigs[k] = v end
  for key, e in pairs(p.tags) do
    st.tags[key] = e
    rawset(ns, key, nil)
  end
  for name, e in pairs(p.names) do
    st.names[name] = e
    if e.kind == "const" then rawset(ns, name, e.value)
    elseif e.kind == "typedef" and type(e.T) == "userdata" then rawset(ns, name, e.T)
    end
  end
end

local counter = 0

function M.cdef(source, lib)
  counter = counter + 1
  local ns = setmetatable({}, NS)
  local st = { names = {}, tags = {}, sigs = {}, records = setmetatable({}, { __mode = "k" }),
               lib = lib, id = counter }
  State[ns] = st
  run(st, ns, source, lib, "cdef")
  return ns
end

function M.ns_cdef(ns, source, lib)
  local st = State[ns]
  if st == nil then
    error("TypeError: ns:cdef: expected a cdef namespace, got " ..
          (math_type(ns) or type(ns)), 2)
  end
  if lib == nil then lib = st.lib end
  run(st, ns, source, lib, "ns:cdef")
  return ns
end

function M.ns_typeof(ns, source)
  local st = State[ns]
  if st == nil then
    error("TypeError: ns:typeof: expected a cdef namespace, got " ..
          (math_type(ns) or type(ns)), 2)
  end
  if type(source) ~= "string" then
    local got = math_type(source) or type(source)
    if got == "float" then got = "number" end
    error("TypeError: ns:typeof: expected a string, got " .. got, 2)
  end
  local T
  local ok, err = pcall(function()
    local p = newparser(st, lex(source), st.lib, true)
    p.sigs = setmetatable({}, { __index = st.sigs })
    if p:peek().t == "eof" then fail(p:peek(), "expected a type name") end
    T = p:typename()
    if p:peek().t ~= "eof" then fail(p:peek(), "expected the end of the type name") end
    if T == VOID then fail(p:peek(), "void has no ctypes type") end
    if isfunc(T) then
      if T.variadic then fail(p:peek(), "variadic function types have no ctypes type") end
      T = p:functype(T, p:peek())
    end
  end)
  if not ok then
    if getmetatable(err) == Err then error(err.msg, 2) end
    error("CDefError: " .. tostring(err), 2)
  end
  return T
end

-- }==================================================================

return M
