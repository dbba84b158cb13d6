-- bench/callbacks.lua: the cost of a C -> Lua callback.
--   1. libc qsort of N ints with a Lua comparator taking POINTER(c_int)
--      arguments, against a hand-written C comparator that lua_calls the
--      same Lua function with boxed pointers (bench/callbacks_ref.c);
--   2. a callback with plain int arguments, called M times by one C driver
--      (bench_drive_ii, in the same module), against a hand-written C
--      function that lua_calls the same Lua function.
-- Both sides run in the same process, in rounds where each runs once, in
-- turns. The times printed are the best of each side; the ratio is the
-- median over the rounds of the two sides' ratio in that round (robust to a
-- slow moment of the machine), with best over best beside it.
local ctypes = require("ctypes")
local ref = require("callbacks_ref")

local H = dofile((debug.getinfo(1, "S").source:gsub("^@", ""):match("^(.*/)")
                  or "./") .. "support/harness.lua")

local fmt, getenv = string.format, os.getenv
local N = tonumber(getenv("BENCH_N")) or 100000
local M = tonumber(getenv("BENCH_M")) or 1000000
-- runs per side: the short c_int runs (about 25 ms) take more of them
local RUNS = tonumber(getenv("BENCH_RUNS")) or 7
local RUNS_INT = tonumber(getenv("BENCH_RUNS")) or 21

local c_int, c_long, c_size_t, c_void_p =
  ctypes.c_int, ctypes.c_long, ctypes.c_size_t, ctypes.c_void_p
local P = ctypes.POINTER(c_int)

local reflib = ctypes.CDLL(assert(package.searchpath("callbacks_ref",
                                                     package.cpath)))
local libc = ctypes.CDLL(nil)

-- rounds in which every function runs once, in turns, and the median of
-- the same-round ratios (bench/support/harness.lua)
local race, ratio = H.race, H.ratio

-- ns per call from the best times; the ratio as above, and best over best
-- for comparison
local function report(what, calls, ct, hw, base, target)
  local z = base and base.best or 0
  local ns_ct, ns_ref = (ct.best - z) / calls * 1e9, (hw.best - z) / calls * 1e9
  print(fmt("callbacks %-14s %9d calls  lua-ctypes %7.1f ns/call  " ..
            "hand-written %7.1f ns/call  ratio %.2f (target <= %.1f; " ..
            "best/best %.2f)", what, calls, ns_ct, ns_ref,
            ratio(ct, hw, base), target, ns_ct / ns_ref))
end

-- 1. qsort with POINTER(c_int) arguments ---------------------------------
local arr = (c_int * N)()
local function fill()
  local seed = 12345
  for i = 0, N - 1 do
    seed = (seed * 1103515245 + 12345) % 2147483648
    arr[i] = seed % 1000000
  end
end
local function check()
  for i = 1, N - 1 do
    assert(arr[i - 1] <= arr[i], "not sorted")
  end
end

local function cmp_ptr(a, b) return a[0] - b[0] end

local CMP = ctypes.CFUNCTYPE(c_int, P, P)
local qsort = libc.qsort
qsort.argtypes = { c_void_p, c_size_t, c_size_t, CMP }
qsort.restype = nil
local cmp = CMP(cmp_ptr)
local addr = ctypes.addressof(arr)

-- both sort (checked once, outside the timing)
fill(); local ncmp = ref.sort_ptr(addr, N, cmp_ptr); check()
fill(); qsort(arr, N, 4, cmp); check()
local t_ref, t_ct, t_fill = race(RUNS, function()
  fill()
  ref.sort_ptr(addr, N, cmp_ptr)
end, function()
  fill()
  qsort(arr, N, 4, cmp)
end, fill)
report("POINTER(c_int)", ncmp, t_ct, t_ref, t_fill, 3.0)

-- 2. plain int arguments --------------------------------------------------
local function cmp_ii(a, b) return a - b end
local II = ctypes.CFUNCTYPE(c_int, c_int, c_int)
local drive = reflib.bench_drive_ii
drive.argtypes = { II, c_int }
drive.restype = c_long
local cb = II(cmp_ii)
local r1, r2, r3
local t_safe
-- the third: the same hand-written binding made safe the way every callback
-- here must be (lua_pcall with a traceback handler instead of lua_call, so a
-- Lua error cannot unwind through the C driver). No target: information.
t_ref, t_ct, t_safe = race(RUNS_INT,
                           function() r1 = ref.drive_ii(cmp_ii, M) end,
                           function() r2 = drive(cb, M) end,
                           function() r3 = ref.drive_ii_safe(cmp_ii, M) end)
assert(r1 == r2 and r1 == r3, "different sums")
report("c_int", M, t_ct, t_ref, nil, 1.5)
print(fmt("callbacks %-14s %9d calls  lua-ctypes %7.1f ns/call  " ..
          "hand-written with lua_pcall %7.1f ns/call  ratio %.2f (information)",
          "c_int (pcall)", M, t_ct.best / M * 1e9, t_safe.best / M * 1e9,
          ratio(t_ct, t_safe)))
