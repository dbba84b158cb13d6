-- bench/support/harness.lua: what the bench/*.lua scripts share (loaded
-- with dofile, not a bench itself: `make bench` runs only bench/*.lua).
--   race(runs, f1, f2, ...)   rounds in which every f runs once, in turns
--                              (so that a slow moment of the machine does not
--                              fall on one side only): per f, its time in
--                              each round (t[round]) and the best (t.best)
--   ratio(a, b, base)         the median over the rounds of a's time over
--                              b's in the same round (less base's, if given)
--   median(list)
--   have(command)             true if the command is on PATH
--   instructions(argv)        instructions (callgrind) of running argv, a
--                              list of words (quoted for the shell here)
--   per_op(run, n1, n2, ops)  instructions per operation: run(n) gives the
--                              instructions of a run of n, ops(n) its number
--                              of operations (default n); the difference of
--                              two run lengths removes the start-up cost
local M = {}

local clock = os.clock

function M.median(r)
  local s = {}
  for i = 1, #r do s[i] = r[i] end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

function M.race(runs, ...)
  local fs, ts = { ... }, {}
  for i = 1, #fs do ts[i] = { best = math.huge } end
  for round = 1, runs do
    for i, f in ipairs(fs) do
      local t0 = clock()
      f()
      local t = clock() - t0
      ts[i][round] = t
      if t < ts[i].best then ts[i].best = t end
    end
  end
  return table.unpack(ts)
end

function M.ratio(a, b, base)
  local r = {}
  for k = 1, #a do
    local z = base and base[k] or 0
    r[k] = (a[k] - z) / (b[k] - z)
  end
  return M.median(r)
end

local function quote(s)
  s = tostring(s)
  if s:match("^[%w%./_=:,+-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

function M.have(cmd)
  local p = io.popen("command -v " .. quote(cmd) .. " 2>/dev/null")
  local out = p:read("a")
  p:close()
  return out ~= ""
end

function M.instructions(argv)
  local out = os.tmpname()
  local words = {}
  for i, w in ipairs(argv) do words[i] = quote(w) end
  local cmd = "valgrind --tool=callgrind --callgrind-out-file=" .. out ..
              " " .. table.concat(words, " ") .. " >/dev/null 2>&1"
  local ok = os.execute(cmd)
  local f = io.open(out)
  local ir
  if ok and f then
    for line in f:lines() do
      local s = line:match("^summary:%s*(%d+)") or line:match("^totals:%s*(%d+)")
      if s then ir = tonumber(s) end
    end
  end
  if f then f:close() end
  os.remove(out)
  return ir
end

function M.per_op(run, n1, n2, ops)
  ops = ops or function(n) return n end
  local a, b = run(n1), run(n2)
  if not (a and b) then return nil end
  return (b - a) / (ops(n2) - ops(n1))
end

-- the path of the running script's directory (with a trailing slash)
function M.dir(level)
  local src = debug.getinfo((level or 1) + 1, "S").source:gsub("^@", "")
  return src:match("^(.*/)") or "./"
end

return M
