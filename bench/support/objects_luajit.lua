-- bench/support/objects_luajit.lua: the loops of bench/objects.lua with
-- LuaJIT's ffi, run by it under `luajit -joff` (the interpreter; not a bench
-- itself).
--   luajit -joff objects_luajit.lua <objects_binding.so> [--rows a,b]
--     [--scale x] [--runs n]
--     prints "<row> <seconds> <n>" per row (best of the runs, net of the
--     same loop doing nothing, or of filling the array for qsort) and
--     "bytes <B per int object>"
--   luajit -joff objects_luajit.lua <objects_binding.so> --child <row>
--     <run|base> <n>     runs one loop (for callgrind)
local ffi = require("ffi")

local so = arg[1]
local opts = { ["--rows"] = "field,array,new,pointer,qsort,lib", ["--scale"] = "1",
               ["--runs"] = "7" }
local child
local i = 2
while arg[i] do
  if arg[i] == "--child" then
    child = { arg[i + 1], arg[i + 2], tonumber(arg[i + 3]) }
    i = i + 4
  else
    opts[arg[i]] = arg[i + 1]
    i = i + 2
  end
end

ffi.cdef [[
typedef struct { int x, y; } bench_S;
int bench_add_i (int a, int b);
void bench_fill (int *a, int n);
int bench_sorted (const int *a, int n);
void qsort (void *base, size_t n, size_t size,
            int (*cmp) (const int *, const int *));
]]
-- ffi.load opens with RTLD_LAZY: the module's Lua API references stay
-- unresolved (never called)
local lib = ffi.load(so)
local C = ffi.C

local NA, NQ = 1000000, 100000
local s = ffi.new("bench_S")
local a = ffi.new("int[?]", NA)
local q = ffi.new("int[?]", NQ)
local cmp = ffi.cast("int (*)(const int *, const int *)",
                     function(x, y) return x[0] - y[0] end)
local int_t = ffi.typeof("int")
local int_p = ffi.typeof("int *")

local function loop(n) for _ = 1, n do end end
local function loop2(n)
  for _ = 0, n - 1 do end
  for _ = 0, n - 1 do end
end

local ROWS = {
  field = { function(n) local o = s
    for _ = 1, n do o.x = o.x + 1 end end, loop, 2000000 },
  array = { function(n) local b, t = a, 0
    for k = 0, n - 1 do b[k] = k end
    for k = 0, n - 1 do t = t + b[k] end
    return t end, loop2, NA },
  new = { function(n) local T, o = int_t
    for k = 1, n do o = T(k) end return o end, loop, 1000000 },
  -- a pointer cdata to a boxed int (LuaJIT's pointers keep nothing alive)
  pointer = { function(n) local P, x, o = int_p, ffi.new("int[1]", 5)
    for _ = 1, n do o = P(x) end return o end, loop, 1000000 },
  qsort = { function(n) lib.bench_fill(q, n); C.qsort(q, n, 4, cmp) end,
            function(n) lib.bench_fill(q, n) end, NQ },
  lib = { function(n) local l, t = lib, 0
    for k = 1, n do t = l.bench_add_i(k, 1) end return t end, loop, 2000000 },
}

if child then
  local r = ROWS[child[1]]
  if child[2] == "run" then r[1](child[3]) else r[2](child[3]) end
  os.exit(0)
end

ROWS.qsort[1](NQ)
assert(lib.bench_sorted(q, NQ) == 1)

local clock = os.clock
local scale, runs = tonumber(opts["--scale"]), tonumber(opts["--runs"])
for name in opts["--rows"]:gmatch("[^,]+") do
  local r = ROWS[name]
  if r then
    local n = math.max(1, math.floor(r[3] * scale))
    if name == "array" then n = math.min(n, NA) end
    if name == "qsort" then n = math.min(n, NQ) end
    local br, bb = math.huge, math.huge
    for _ = 1, runs do
      local t0 = clock()
      r[1](n)
      local t1 = clock()
      r[2](n)
      local t2 = clock()
      br = math.min(br, t1 - t0)
      bb = math.min(bb, t2 - t1)
    end
    print(string.format("%s %.9f %d", name, br - bb, n))
  end
end

local K = 100000
local keep = {}
for k = 1, K do keep[k] = false end
collectgarbage("collect")
collectgarbage("stop")
local before = collectgarbage("count")
for k = 1, K do keep[k] = int_t(k) end
local after = collectgarbage("count")
collectgarbage("restart")
assert(keep[K])                          -- all kept until here
print(string.format("bytes %.1f", (after - before) * 1024 / K))
