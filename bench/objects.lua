-- bench/objects.lua: the cost of the objects a program touches most,
-- lua-ctypes against a hand-written Lua C binding doing the same operations
-- (bench/objects_binding.c, built by `make bench` into
-- build/bench/objects_binding.so, which lua-ctypes also loads with CDLL):
--   field  s.x = s.x + 1 on a structure { int x, y }
--          (binding: a userdata struct with __index/__newindex)
--   array  a[i] = i, then s = s + a[i], on a c_int * 1000000, per element
--          (binding: an int array userdata, bounds checked)
--   new    c_int(i): a new scalar object (binding: a boxed int userdata)
--   pointer  pointer(x) of a c_int (binding: a userdata holding an int *
--          and, as its user value, the boxed int it points into)
--   bytes  bytes per c_int object (collectgarbage("count"), the GC stopped)
--   qsort  libc qsort of 100000 ints with a Lua comparator taking
--          (POINTER(c_int), POINTER(c_int)), per comparison, against a
--          hand-written C comparator that lua_calls a Lua comparator with
--          the two *ints* (less the cost of filling the array)
--   lib    lib.bench_add_i(i, 1): the library lookup on every call
--          (binding: ns.add_i(i, 1) in the module table)
-- A row may have a structural floor beside: the same shape as lua-ctypes
-- (qsort: pointer objects read with p[0] through __index, the comparator
-- called protected) written by hand as cheaply as that shape allows
-- (binding.sortp). It is what no FFI with that shape can go below; its
-- ratio to the hand-written binding says how much of lua-ctypes' ratio the
-- shape costs.
-- Time: rounds where lua-ctypes, the binding and the empty loop each run
-- once, in turns; ns per operation from the best times, net of the loop;
-- the ratio is the median over the rounds of the two sides' ratio in that
-- round, net of the loop. Instructions (when valgrind is installed):
-- callgrind on runs of n and 2n operations in a child process, the
-- difference per operation, net of the loop's. Python's ctypes
-- (bench/support/objects.py) and LuaJIT's interpreter with its ffi
-- (`luajit -joff bench/support/objects_luajit.lua`) run the same loops when
-- installed; their ratios are to the binding's figures of this run.
-- Environment: BENCH_RUNS (rounds), BENCH_SCALE (multiplies the timed
-- lengths), BENCH_CALLGRIND=0 (no instruction counts), BENCH_OTHERS=0 (no
-- Python/LuaJIT columns), BENCH_ROWS=field,new (only these rows).
local ctypes = require("ctypes")
local binding = require("objects_binding")

local fmt, getenv = string.format, os.getenv
local script = debug.getinfo(1, "S").source:gsub("^@", "")
local here = script:match("^(.*/)") or "./"
local H = dofile(here .. "support/harness.lua")

local RUNS = tonumber(getenv("BENCH_RUNS")) or 7
local SCALE = tonumber(getenv("BENCH_SCALE")) or 1
local LUA = arg and arg[-1] or "lua5.4"

local c_int, c_size_t, c_void_p = ctypes.c_int, ctypes.c_size_t,
                                  ctypes.c_void_p
local so = assert(package.searchpath("objects_binding", package.cpath))
local lib = ctypes.CDLL(so)
local libc = ctypes.CDLL(nil)

lib.bench_add_i.argtypes = { c_int, c_int }
lib.bench_add_i.restype = c_int
lib.bench_fill.argtypes = { c_void_p, c_int }
lib.bench_fill.restype = nil
lib.bench_sorted.argtypes = { c_void_p, c_int }
lib.bench_sorted.restype = c_int

local S = ctypes.Structure("S", { _fields_ = { { "x", c_int }, { "y", c_int } } })
local NA = 1000000                       -- array length
local NQ = 100000                        -- ints sorted
local s_ct, s_ref = S(), binding.vec()
local a_ct, a_ref = (c_int * NA)(), binding.ints(NA)
local q_ct, q_ref = (c_int * NQ)(), binding.ints(NQ)

local P = ctypes.POINTER(c_int)
local CMP = ctypes.CFUNCTYPE(c_int, P, P)
local qsort = libc.qsort
qsort.argtypes = { c_void_p, c_size_t, c_size_t, CMP }
qsort.restype = nil
local cmp_ptr = CMP(function(a, b) return a[0] - b[0] end)
local function cmp_int(a, b) return a - b end
local function cmp_ptr_floor(a, b) return a[0] - b[0] end

-- comparisons qsort makes on the first n of the filled array (the same for
-- every comparator with the same signs: glibc's qsort is deterministic)
local ncmp = setmetatable({}, { __index = function(t, n)
  binding.fill(q_ref, n)
  local c = binding.sort(q_ref, n)
  t[n] = c
  return c
end })

local function loop(n) for _ = 1, n do end end
local function loop2(n)
  for _ = 0, n - 1 do end
  for _ = 0, n - 1 do end
end

-- each row: what it measures, the timed length, the callgrind lengths, the
-- three sides (ct, ref, base = the loop or the part common to both), and
-- the number of operations of a run of length n
local ROWS = {
  { name = "field", what = "s.x = s.x + 1 on a structure", n = 2000000,
    cg = 20000, base = loop,
    ct = function(n) local s = s_ct
      for _ = 1, n do s.x = s.x + 1 end end,
    ref = function(n) local s = s_ref
      for _ = 1, n do s.x = s.x + 1 end end },
  { name = "array", what = "a[i] = i; sum + a[i] on c_int * 1e6", n = NA,
    cg = 100000, base = loop2,
    ct = function(n) local a, s = a_ct, 0
      for i = 0, n - 1 do a[i] = i end
      for i = 0, n - 1 do s = s + a[i] end
      return s end,
    ref = function(n) local a, s = a_ref, 0
      for i = 0, n - 1 do a[i] = i end
      for i = 0, n - 1 do s = s + a[i] end
      return s end },
  { name = "new", what = "new c_int(i) object", n = 1000000, cg = 50000,
    base = loop,
    ct = function(n) local T, o = c_int
      for i = 1, n do o = T(i) end return o end,
    ref = function(n) local T, o = binding.int
      for i = 1, n do o = T(i) end return o end },
  { name = "pointer", what = "pointer(x) to a c_int (keeps x alive)",
    n = 1000000, cg = 50000, base = loop,
    ct = function(n) local mk, x, o = ctypes.pointer, c_int(5)
      for _ = 1, n do o = mk(x) end return o end,
    ref = function(n) local mk, x, o = binding.ref, binding.int(5)
      for _ = 1, n do o = mk(x) end return o end },
  { name = "qsort", what = "qsort, POINTER(c_int) comparator, per compare",
    n = NQ, cg = 2000, ops = function(n) return ncmp[n] end,
    base = function(n) binding.fill(q_ref, n) end,
    ct = function(n)
      lib.bench_fill(q_ct, n)
      qsort(q_ct, n, 4, cmp_ptr) end,
    ref = function(n)
      binding.fill(q_ref, n)
      binding.sort(q_ref, n, cmp_int) end,
    floor = function(n)
      binding.fill(q_ref, n)
      binding.sortp(q_ref, n, cmp_ptr_floor) end },
  { name = "lib", what = "lib.add_i(i, 1), lookup every call", n = 2000000,
    cg = 20000, base = loop,
    ct = function(n) local l, s = lib, 0
      for i = 1, n do s = l.bench_add_i(i, 1) end return s end,
    ref = function(n) local l, s = binding, 0
      for i = 1, n do s = l.add_i(i, 1) end return s end },
}
local BYROW = {}
for _, r in ipairs(ROWS) do BYROW[r.name] = r end

-- child mode for callgrind: bench/objects.lua --child <row> <ct|ref|base|floor> <n>
if arg and arg[1] == "--child" then
  local r = assert(BYROW[arg[2]], "no such row")
  r[arg[3]](tonumber(arg[4]))
  os.exit(0)
end

-- only some rows: BENCH_ROWS=field,qsort
local want = getenv("BENCH_ROWS")
if want then
  local keep = {}
  for w in want:gmatch("[^,%s]+") do keep[w] = true end
  local rows = {}
  for _, r in ipairs(ROWS) do if keep[r.name] then rows[#rows + 1] = r end end
  ROWS = rows
end

-- both sides compute the same thing
do
  s_ct.x, s_ref.x = 41, 41
  s_ct.x = s_ct.x + 1; s_ref.x = s_ref.x + 1
  assert(s_ct.x == 42 and s_ref.x == 42)
  assert(BYROW.array.ct(1000) == BYROW.array.ref(1000))
  assert(c_int(7).value == binding.int(7).value)
  assert(lib.bench_add_i(40, 2) == binding.add_i(40, 2))
  BYROW.qsort.ct(NQ)
  assert(lib.bench_sorted(q_ct, NQ) == 1)
  local c = 0
  local count = CMP(function(a, b) c = c + 1; return a[0] - b[0] end)
  lib.bench_fill(q_ct, NQ)
  qsort(q_ct, NQ, 4, count)
  assert(c == ncmp[NQ], "different comparison counts")
  BYROW.qsort.ref(NQ)
  assert(binding.sorted(q_ref, NQ))
  binding.fill(q_ref, NQ)
  assert(binding.sortp(q_ref, NQ, cmp_ptr_floor) == ncmp[NQ])
  assert(binding.sorted(q_ref, NQ))
end

-- bytes per object: K objects kept in a table sized beforehand, GC stopped
local function bytes_per(make, k)
  local t = {}
  for i = 1, k do t[i] = false end
  collectgarbage("collect")
  collectgarbage("stop")
  local before = collectgarbage("count")
  for i = 1, k do t[i] = make(i) end
  local after = collectgarbage("count")
  collectgarbage("restart")
  assert(t[k])                           -- all kept until here
  return (after - before) * 1024 / k
end

-- the results: res[row][column] = { ns = , ir = } with columns ct, ref,
-- py, lj, floor (all per operation, net of the loop)
local res = {}
for _, r in ipairs(ROWS) do
  res[r.name] = { ct = {}, ref = {}, py = {}, lj = {}, floor = {} }
end

print(fmt("objects: %d rounds, lengths x%g (BENCH_SCALE); %s", RUNS, SCALE,
          "ns and instructions per operation, net of the loop"))
for _, r in ipairs(ROWS) do
  local n = math.max(1, math.floor(r.n * SCALE))
  if r.name == "array" then n = math.min(n, NA) end
  if r.name == "qsort" then n = math.min(n, NQ) end
  local ops = r.ops and r.ops(n) or n
  local tct, tref, tbase, tfloor = H.race(RUNS, function() r.ct(n) end,
                                          function() r.ref(n) end,
                                          function() r.base(n) end,
                                          r.floor and function() r.floor(n) end)
  local e = res[r.name]
  e.ct.ns = (tct.best - tbase.best) / ops * 1e9
  e.ref.ns = (tref.best - tbase.best) / ops * 1e9
  e.ratio = H.ratio(tct, tref, tbase)
  print(fmt("objects %-5s time   lua-ctypes %8.1f ns/op  hand-written %8.1f " ..
            "ns/op  ratio %.2f (best/best %.2f)", r.name, e.ct.ns, e.ref.ns,
            e.ratio, e.ct.ns / e.ref.ns))
  if tfloor then
    e.floor.ns = (tfloor.best - tbase.best) / ops * 1e9
    e.floor_ratio = H.ratio(tfloor, tref, tbase)
    print(fmt("objects %-5s time   structural floor %8.1f ns/op  ratio %.2f",
              r.name, e.floor.ns, e.floor_ratio))
  end
end

local K = 100000
local bytes = {
  ct = bytes_per(c_int, K),
  ref = bytes_per(binding.int, K),
}
print(fmt("objects bytes  lua-ctypes %5.0f B per c_int object  hand-written " ..
          "%5.0f B per boxed int", bytes.ct, bytes.ref))

-- instructions ------------------------------------------------------------
local CG = getenv("BENCH_CALLGRIND") ~= "0" and H.have("valgrind")
if getenv("BENCH_CALLGRIND") ~= "0" and not CG then
  print("objects: valgrind not installed, no instruction counts")
end

local function lua_ir(row, side)
  return function(n)
    return H.instructions({ LUA, script, "--child", row, side, n })
  end
end

if CG then
  for _, r in ipairs(ROWS) do
    local n1, n2 = r.cg, 2 * r.cg
    local base = H.per_op(lua_ir(r.name, "base"), n1, n2, r.ops)
    local ct = H.per_op(lua_ir(r.name, "ct"), n1, n2, r.ops)
    local ref = H.per_op(lua_ir(r.name, "ref"), n1, n2, r.ops)
    local e = res[r.name]
    if base and ct and ref then
      e.ct.ir, e.ref.ir, e.loop_ir = ct - base, ref - base, base
      print(fmt("objects %-5s instr  lua-ctypes %8.0f /op     hand-written " ..
                "%8.0f /op     ratio %.2f (loop %.0f /op)", r.name, e.ct.ir,
                e.ref.ir, e.ct.ir / e.ref.ir, base))
    else
      print(fmt("objects %-5s instr  callgrind failed", r.name))
    end
    local floor = r.floor and H.per_op(lua_ir(r.name, "floor"), n1, n2, r.ops)
    if floor and base and e.ref.ir then
      e.floor.ir = floor - base
      print(fmt("objects %-5s instr  structural floor %8.0f /op     ratio %.2f",
                r.name, e.floor.ir, e.floor.ir / e.ref.ir))
    end
  end
end

-- Python's ctypes and LuaJIT's interpreter ------------------------------------
-- Each prints, per row, "<row> <seconds, net of its loop, best of RUNS> <n>"
-- and "bytes <B per int object>"; in child mode (--child <row> <run|base>
-- <n>) it runs one loop, for callgrind.
local OTHERS = getenv("BENCH_OTHERS") ~= "0"
local names = {}
for _, r in ipairs(ROWS) do names[#names + 1] = r.name end

local function other(col, label, argv)
  local words = {}
  for i, w in ipairs(argv) do words[i] = w end
  words[#words + 1] = "--rows"
  words[#words + 1] = table.concat(names, ",")
  words[#words + 1] = "--scale"
  words[#words + 1] = tostring(SCALE)
  words[#words + 1] = "--runs"
  words[#words + 1] = tostring(RUNS)
  local cmd = {}
  for i, w in ipairs(words) do cmd[i] = "'" .. w .. "'" end
  local p = io.popen(table.concat(cmd, " ") .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  if not ok then
    print(fmt("objects: %s failed:\n%s", label, out))
    return false
  end
  for line in out:gmatch("[^\n]+") do
    local row, secs, n = line:match("^(%w+) ([%d.e+-]+) (%d+)$")
    if row and res[row] then
      local r = BYROW[row]
      local ops = r.ops and r.ops(tonumber(n)) or tonumber(n)
      res[row][col].ns = tonumber(secs) / ops * 1e9
    end
    local b = line:match("^bytes ([%d.]+)$")
    if b then bytes[col] = tonumber(b) end
  end
  for _, r in ipairs(ROWS) do
    local ns = res[r.name][col].ns
    if ns then
      print(fmt("objects %-5s time   %-12s %8.1f ns/op  ratio to hand-written " ..
                "%.2f", r.name, label, ns, ns / res[r.name].ref.ns))
    end
  end
  if bytes[col] then
    print(fmt("objects bytes  %-12s %5.0f B per int object", label, bytes[col]))
  end
  if CG then
    for _, r in ipairs(ROWS) do
      local function run(side)
        return function(n)
          local a = {}
          for i, w in ipairs(argv) do a[i] = w end
          for _, w in ipairs({ "--child", r.name, side, n }) do a[#a + 1] = w end
          return H.instructions(a)
        end
      end
      local n1, n2 = r.cg, 2 * r.cg
      local base = H.per_op(run("base"), n1, n2, r.ops)
      local v = H.per_op(run("run"), n1, n2, r.ops)
      if base and v then
        res[r.name][col].ir = v - base
        local ref = res[r.name].ref.ir
        print(fmt("objects %-5s instr  %-12s %8.0f /op     ratio to hand-written " ..
                  "%s (loop %.0f /op)", r.name, label, v - base,
                  ref and fmt("%.2f", (v - base) / ref) or "-", base))
      else
        print(fmt("objects %-5s instr  %-12s callgrind failed", r.name, label))
      end
    end
  end
  return true
end

local have_py, have_lj = false, false
if OTHERS then
  local py = H.have("python3") and io.popen(
    "python3 -c 'import sys, ctypes; print(sys.executable)' 2>/dev/null"):read("l")
  if py and py ~= "" then
    have_py = other("py", "Python", { py, here .. "support/objects.py", so })
  else
    print("objects: python3 (with ctypes) not installed, no Python column")
  end
  if H.have("luajit") then
    have_lj = other("lj", "LuaJIT -joff",
                    { "luajit", "-joff", here .. "support/objects_luajit.lua", so })
  else
    print("objects: luajit not installed, no LuaJIT column " ..
          "(Debian: apt-get install luajit)")
  end
end

-- summary: ratio to the hand-written binding, time / instructions
local function cell(e, ref)
  local t = e.ns and ref.ns and fmt("%.2f", e.ns / ref.ns) or "-"
  local i = e.ir and ref.ir and fmt("%.2f", e.ir / ref.ir) or "-"
  return t .. " / " .. i
end
print()
print("objects summary: ratio to the hand-written binding (time / callgrind " ..
      "instructions), lower is better")
local head = "| operation | lua-ctypes | structural floor |"
local sep = "|---|---|---|"
if have_py then head, sep = head .. " Python ctypes |", sep .. "---|" end
if have_lj then head, sep = head .. " LuaJIT -joff |", sep .. "---|" end
print(head)
print(sep)
for _, r in ipairs(ROWS) do
  local e = res[r.name]
  -- lua-ctypes' time ratio: the same-round median
  local line = fmt("| %s | %.2f / %s | %s |", r.what, e.ratio,
                   e.ct.ir and e.ref.ir and fmt("%.2f", e.ct.ir / e.ref.ir) or "-",
                   e.floor_ratio and fmt("%.2f / %s", e.floor_ratio,
                     e.floor.ir and fmt("%.2f", e.floor.ir / e.ref.ir) or "-")
                   or "-")
  if have_py then line = line .. " " .. cell(e.py, e.ref) .. " |" end
  if have_lj then line = line .. " " .. cell(e.lj, e.ref) .. " |" end
  print(line)
end
local line = fmt("| bytes per c_int object (hand-written %.0f B) | %.0f B | - |",
                 bytes.ref, bytes.ct)
if have_py then line = line .. fmt(" %s |", bytes.py and fmt("%.0f B", bytes.py) or "-") end
if have_lj then line = line .. fmt(" %s |", bytes.lj and fmt("%.0f B", bytes.lj) or "-") end
print(line)
