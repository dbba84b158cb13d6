-- Hostile input for the new entry points: every prefix of valid
-- declarations, seeded random mutations of them and pathological strings
-- must give a CDefError (or parse, when the text happens to be valid C),
-- never another error, a crash or a hang; new_handle/from_handle/gc with
-- every kind of value give TypeError/ValueError or work.
local ctypes = require("ctypes")
local helper = require("spec.helper")
local layout = require("spec.gen.layout")
local gencdef = require("spec.gen.cdef")

local SEED = 20261203

-- valid sources: the shapes cdef knows, each on a few lines
local VALID = {
  [[
typedef struct point { int x, y; } point_t, *point_p;
#define N (sizeof(point_t) * 2)
enum color { RED, GREEN = 5, BLUE = GREEN << 1 };
struct rec {
  char tag;
  union { int i; float f; struct { short lo, hi; }; };
  unsigned flags : 3, : 0, mode : 5;
  struct rec *next;
  double grid[N][3];
  int (*cb)(const void *, void *restrict);
  char name[];
};
]],
  [[
#pragma pack(push, 2)
struct __attribute__((packed, aligned(8))) p { char c; long double d; };
#pragma pack(pop)
extern const char *greeting;
void (*signal(int sig, void (*func)(int)))(int);
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int plus(int, int) __asm__("fx_plus");
_Static_assert(sizeof(struct p) == (1 + sizeof(long double) + 7) / 8 * 8, "p");
#define S "a" "\x42\n"
#define EMPTY
EMPTY int e(void);
]],
}

local function check(src, what)
  local ok, err = pcall(ctypes.cdef, src)
  if ok then return true end
  err = tostring(err)
  assert(err:match("^CDefError: %d+:%d+: .*, near '.*'$") or
         err:match("^CDefError: "),
         what .. ": not a CDefError: " .. err .. "\nsource: " .. src)
  return false
end

describe("cdef with hostile input", function()
  it("parses the valid sources", function()
    for i, src in ipairs(VALID) do
      local ok, err = pcall(ctypes.cdef, src)
      assert(ok, "source " .. i .. ": " .. tostring(err))
    end
  end)

  -- the valid sources as single declarations, each depending only on the
  -- ones before it
  local function declarations(src)
    local list, cur = {}, {}
    for line in src:gmatch("[^\n]+") do
      cur[#cur + 1] = line
      if line:match("^#") or line:match(";%s*$") and not line:match("^%s") then
        list[#list + 1] = table.concat(cur, "\n")
        cur = {}
      end
    end
    assert(#cur == 0, "unfinished: " .. table.concat(cur, "\n"))
    return list
  end

  it("gives a CDefError for every prefix of a valid declaration, and " ..
     "adds nothing", function()
    local n = 0
    local sources = { VALID[1], VALID[2] }
    for _, d in ipairs(gencdef.generate(SEED, 12)) do sources[#sources + 1] = d.text end
    for _, src in ipairs(sources) do
      local ns = ctypes.cdef("")
      for _, decl in ipairs(declarations(src)) do
        for k = 1, #decl - 1 do
          local prefix = decl:sub(1, k)
          n = n + 1
          local ok = check(prefix, "prefix " .. k)
          if not decl:match("^#") and prefix:find("%S") then
            assert(not ok, "prefix parsed: " .. prefix)
          end
          -- and the same text added to a namespace that needs it (where
          -- EMPTY alone is nothing)
          if not decl:match("^#") and prefix:find("%S") and
             not prefix:match("^EMPTY%s*$") then
            local ok2, err = pcall(ns.cdef, ns, prefix)
            assert(not ok2, "prefix added: " .. prefix)
            assert.matches("^CDefError: %d+:%d+: ", tostring(err))
          end
        end
        ns:cdef(decl)
      end
    end
    assert.is_true(n > 2000, "prefixes: " .. n)
  end)

  it("gives a CDefError for random mutations of valid sources", function()
    local r = layout.rng(SEED)
    local pieces = { "(", ")", "[", "]", "{", "}", ";", ",", "*", ":", "...",
      "int", "struct", "union", "enum", "typedef", "void", "const", "x",
      "0", "-1", "1 << 63", "0x", "'", "\"", "/*", "#define", "#pragma pack(",
      "__attribute__((", "sizeof(", "\0", "\n#", "\\\n", "9999999999999999999999",
      "__asm__(", "_Static_assert(", "long long long", "unsigned float" }
    local n = 0
    for _ = 1, 600 do
      local src = VALID[r.int(1, #VALID)]
      for _ = 1, r.int(1, 4) do
        local at = r.int(1, #src)
        local roll = r.int(1, 3)
        if roll == 1 then                         -- delete a span
          src = src:sub(1, at - 1) .. src:sub(at + r.int(1, 8))
        elseif roll == 2 then                     -- insert a piece
          src = src:sub(1, at - 1) .. r.pick(pieces) .. src:sub(at)
        else                                      -- duplicate a span
          local b = math.min(#src, at + r.int(1, 30))
          src = src:sub(1, b) .. src:sub(at, b) .. src:sub(b + 1)
        end
      end
      check(src, "mutation")
      n = n + 1
    end
    assert.are.equal(600, n)
  end)

  it("gives a CDefError quickly for pathological strings", function()
    local cases = {
      { "int " .. ("*"):rep(100000) .. "x;",
        "1:205: too many levels of pointers, near '*'" },
      { "int x" .. ("[1]"):rep(5000) .. ";",
        "1:609: declarator nested too deeply, near '['" },
      { ("("):rep(100000), "1:1: expected a type, near '('" },
      { "enum { A = " .. ("("):rep(1000) .. "1" .. (")"):rep(1000) .. "};",
        "1:112: declaration nested too deeply, near '('" },
      { "struct s {" .. ("struct {"):rep(300),
        "1:1611: declaration nested too deeply, near 'struct'" },
      { "typedef int t" .. ("(void)"):rep(1000) .. ";",
        "1:1220: declarator nested too deeply, near '('" },
      { "\0\1\2", "1:1: unexpected character, near '\\0'" },
      { "int x" .. ("[2]"):rep(150) .. ";",
        -- each [2] doubles the size: it passes SIZE_MAX / 2 at the 62nd
        -- (64-bit size_t), 32 dimensions earlier on i386
        ("1:%d: OverflowError: array too large, near '['"):format(
          273 + 3 * (64 - 8 * helper.platform.pointer_size)) },
      { ("x"):rep(100) .. ";", "1:1: unknown type name '" .. ("x"):rep(100) ..
        "', near '" .. ("x"):rep(37) .. "...'" },
    }
    local t0 = os.clock()
    for _, c in ipairs(cases) do
      local ok, err = pcall(ctypes.cdef, c[1])
      assert.is_false(ok)
      assert.are.equal("CDefError: " .. c[2],
                       (tostring(err):gsub("^[^:\n]*:%d+: ", "")))
    end
    assert.is_true(os.clock() - t0 < 10, "too slow: " .. (os.clock() - t0))
    -- long but valid: a 100000-term constant expression
    local ns = ctypes.cdef("#define A " .. ("1+"):rep(100000) .. "1")
    assert.are.equal(100001, ns.A)
  end)

  it("handles and gc refuse every kind of wrong value with an error",
     function()
    local pool = { nil, true, 0, -1, math.mininteger, 1.5, 0 / 0, "", "x\0y",
      {}, tostring, coroutine.create(print), ctypes.c_int, ctypes.c_int(1),
      (ctypes.c_int * 2)(), ctypes.c_void_p(8), ctypes.POINTER(ctypes.c_int)(),
      ctypes.byref(ctypes.c_int(1)), ctypes.CDLL(nil),
      ctypes.new_handle(1), ctypes.CFUNCTYPE(nil)(function() end) }
    local n = 0
    local old = ctypes.callback_config({ report = false })
    for i = 1, 21 do
      local v = pool[i]
      for _, call in ipairs({
        function() return ctypes.from_handle(v) end,
        function() return ctypes.gc(v, nil) end,
        function() return ctypes.gc(v, function() end) end,
        function() return ctypes.gc(ctypes.c_int(1), v) end,
        function() return ctypes.new_handle(v) end,
        function() return ctypes.cdef("int x;", v) end,
        function() return ctypes.cdef(v) end,
        function() local ns = ctypes.cdef(""); return ns[v] end,
        function() local ns = ctypes.cdef(""); return ns:typeof(v) end,
      }) do
        local ok, err = pcall(call)
        if not ok then
          n = n + 1
          assert.matches("^[%w_]*Error: ", tostring(err):gsub("^[^:\n]*:%d+: ", ""))
        end
      end
    end
    collectgarbage()
    collectgarbage()
    ctypes.callback_config(old)
    ctypes.callback_errors()
    assert.is_true(n > 100)
  end)
end)
