-- bench/calls.lua: the cost of a foreign call, lua-ctypes against a
-- hand-written Lua C binding of the same C functions (bench/calls_binding.c,
-- built by `make bench` into build/bench/calls_binding.so, which lua-ctypes
-- loads with CDLL):
--   add   int add(int, int)
--   six   double six(int, double, const int *, long, double, int)
--   dot   double dot(Vec2, Vec2), Vec2 = struct { double x, y } by value
-- Prints ns per call (the best of several rounds, both sides in the same
-- process, back to back in each round) and their ratio (the median of the
-- rounds' ratios, with best over best beside it)
-- and, when valgrind is installed, instructions per call measured with
-- callgrind (stable on a noisy machine), with the ratios and the targets.
-- add has a structural floor beside: the binding's add as a function
-- object (a userdata called through its metatable's __call, as every FFI's
-- function objects with attributes are), what no such object can go below.
-- Environment: BENCH_N (calls per timed run), BENCH_RUNS, BENCH_CALLGRIND=0
-- to skip the callgrind part.
local ctypes = require("ctypes")
local binding = require("calls_binding")

local H = dofile((debug.getinfo(1, "S").source:gsub("^@", ""):match("^(.*/)")
                  or "./") .. "support/harness.lua")

local fmt, getenv = string.format, os.getenv
local N = tonumber(getenv("BENCH_N")) or 2000000
local RUNS = tonumber(getenv("BENCH_RUNS")) or 7

local c_int, c_double, c_long, c_void_p =
  ctypes.c_int, ctypes.c_double, ctypes.c_long, ctypes.c_void_p

local lib = ctypes.CDLL(assert(package.searchpath("calls_binding",
                                                  package.cpath)))
local Vec2 = ctypes.Structure("Vec2", {
  _fields_ = { { "x", c_double }, { "y", c_double } },
})

local add = lib.bench_add
add.argtypes = { c_int, c_int }
add.restype = c_int

local six = lib.bench_six
six.argtypes = { c_int, c_double, c_void_p, c_long, c_double, c_int }
six.restype = c_double

local dot = lib.bench_dot
dot.argtypes = { Vec2, Vec2 }
dot.restype = c_double

local cell = ctypes.c_int(7)
local addr = ctypes.addressof(cell)
local v1, v2 = Vec2(1.5, 2.5), Vec2(3.0, 4.0)
local b1, b2 = binding.vec2(1.5, 2.5), binding.vec2(3.0, 4.0)

-- each case: the loop for lua-ctypes and for the binding, and the targets
-- (time; instructions, if itarget says otherwise)
local CASES = {
  { name = "add", target = 1.3, itarget = 1.45,
    ct = function(n) local f, s = add, 0
      for i = 1, n do s = f(i, 1) end return s end,
    ref = function(n) local f, s = binding.add, 0
      for i = 1, n do s = f(i, 1) end return s end,
    floor = function(n) local f, s = binding.addobj(), 0
      for i = 1, n do s = f(i, 1) end return s end },
  { name = "six", target = 1.4,
    ct = function(n) local f, s, a = six, 0, addr
      for i = 1, n do s = f(i, 0.5, a, 3, 0.25, 2) end return s end,
    ref = function(n) local f, s, a = binding.six, 0, addr
      for i = 1, n do s = f(i, 0.5, a, 3, 0.25, 2) end return s end },
  { name = "dot", target = 2.0,
    ct = function(n) local f, s = dot, 0
      for _ = 1, n do s = f(v1, v2) end return s end,
    ref = function(n) local f, s = binding.dot, 0
      for _ = 1, n do s = f(b1, b2) end return s end },
}

-- the two sides must compute the same thing
assert(add(40, 2) == binding.add(40, 2) and binding.addobj()(40, 2) == 42)
assert(six(1, 0.5, addr, 3, 0.25, 2) == binding.six(1, 0.5, addr, 3, 0.25, 2))
assert(dot(v1, v2) == binding.dot(b1, b2))

-- child mode for callgrind: bench/calls.lua --child <case> <ct|ref|floor> <n>
if arg and arg[1] == "--child" then
  for _, c in ipairs(CASES) do
    if c.name == arg[2] then
      c[arg[3]](tonumber(arg[4]))
      os.exit(0)
    end
  end
  os.exit(1)
end

-- RUNS rounds of both sides back to back (so that a slow moment of the
-- machine does not fall on one side only): the best time of each, and the
-- median over the rounds of their ratio in the round
-- (and the floor, if the case has one, in the same rounds)
local function race(fa, fb, n, ff)
  local ta, tb, tf = H.race(RUNS, function() fa(n) end, function() fb(n) end,
                            ff and function() ff(n) end)
  return ta.best, tb.best, H.ratio(ta, tb), tf and tf.best, tf and H.ratio(tf, tb)
end

print(fmt("calls: %d calls per run, %d rounds", N, RUNS))
for _, c in ipairs(CASES) do
  local tct, tref, ratio, tfl, rfl = race(c.ct, c.ref, N, c.floor)
  local nct, nref = tct / N * 1e9, tref / N * 1e9
  print(fmt("calls %-4s time   lua-ctypes %6.1f ns/call  hand-written %6.1f " ..
            "ns/call  ratio %.2f (target <= %s; best/best %.2f)", c.name,
            nct, nref, ratio, c.target, nct / nref))
  if tfl then
    print(fmt("calls %-4s time   structural floor %6.1f ns/call  ratio %.2f",
              c.name, tfl / N * 1e9, rfl))
  end
end

-- instructions per call: the difference between two run lengths removes the
-- start-up cost; what remains is the loop body (call and loop step)
local script = debug.getinfo(1, "S").source:gsub("^@", "")
local function instructions(case, side, n)
  return H.instructions({ "lua5.4", script, "--child", case, side, n })
end

if getenv("BENCH_CALLGRIND") == "0" then return end
if not H.have("valgrind") then
  print("calls: valgrind not installed, no instruction counts")
  return
end
local N1, N2 = 20000, 220000
for _, c in ipairs(CASES) do
  local r = {}
  for _, side in ipairs({ "ct", "ref" }) do
    local a, b = instructions(c.name, side, N1), instructions(c.name, side, N2)
    r[side] = a and b and (b - a) / (N2 - N1)
  end
  if r.ct and r.ref then
    print(fmt("calls %-4s instr  lua-ctypes %6.0f /call   hand-written %6.0f " ..
              "/call   ratio %.2f (target <= %s)", c.name, r.ct, r.ref,
              r.ct / r.ref, c.itarget or c.target))
    if c.floor then
      local a, b = instructions(c.name, "floor", N1), instructions(c.name, "floor", N2)
      if a and b then
        local f = (b - a) / (N2 - N1)
        print(fmt("calls %-4s instr  structural floor %6.0f /call   ratio %.2f",
                  c.name, f, f / r.ref))
      end
    end
  else
    print(fmt("calls %-4s instr  callgrind failed", c.name))
  end
end
