-- Turns busted counts (written by spec/support/output.lua) into the one
-- summary line "N passed, N failed".
--
--   lua5.4 spec/support/summary.lua [--label L] [--status N] [--reports DIR]
--                                   [--out FILE] COUNTS...
--
-- failed = failures + errors + pending, plus one for each of: a counts file
-- that is missing, each sanitizer report file in DIR, a run that died
-- half-way without a report saying why (the tests it finished still
-- count), and a non-zero exit status that nothing above explains.
-- --out writes "passed=N failed=N" for .ci/run.  Exits non-zero when
-- anything failed or nothing passed.
local label, status, reports, out = "test", 0, nil, nil
local files = {}

local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--label" then label = arg[i + 1]; i = i + 1
  elseif a == "--status" then status = tonumber(arg[i + 1]) or 1; i = i + 1
  elseif a == "--reports" then reports = arg[i + 1]; i = i + 1
  elseif a == "--out" then out = arg[i + 1]; i = i + 1
  else files[#files + 1] = a end
  i = i + 1
end

local passed, failed, died = 0, 0, 0
io.write("\n")  -- a crashed run may have left busted's progress line open
local function note(msg) io.write(label, ": ", msg, "\n") end

for _, name in ipairs(files) do
  local f = io.open(name, "r")
  local text = f and f:read("a") or ""
  if f then f:close() end
  local p = text:match("passed=(%d+)")
  if text:match("^incomplete") then
    died = died + 1
    note("the run did not finish (" .. name .. ": " ..
         text:gsub("^incomplete%s*", ""):gsub("%s+$", "") .. "); the crash " ..
         "or sanitizer report (\"runtime error\", \"ERROR:\") is above")
  elseif not p then
    failed = failed + 1
    note("no results (" .. name .. " missing): busted did not run")
  end
  if p then
    passed = passed + tonumber(p)
    local bad = 0
    for _, key in ipairs({ "failed", "errors", "pending" }) do
      bad = bad + tonumber(text:match(key .. "=(%d+)") or 0)
    end
    local pend = tonumber(text:match("pending=(%d+)") or 0)
    if pend > 0 then note(pend .. " pending test(s) counted as failed") end
    failed = failed + bad
  end
end

local reported = 0
if reports then
  local p = io.popen('ls -1 "' .. reports .. '" 2>/dev/null')
  local list = p:read("a")
  p:close()
  for name in list:gmatch("[^\n]+") do
    local path = reports .. "/" .. name
    local f = io.open(path, "r")
    local text = f and f:read("a") or ""
    if f then f:close() end
    failed = failed + 1
    reported = reported + 1
    note("sanitizer report " .. path .. ":")
    io.write(text, "\n")
  end
end

-- A run that died counts once, unless a sanitizer report already says why.
if died > 0 and reported == 0 then failed = failed + died end

if status ~= 0 and failed == 0 then
  failed = failed + 1
  note("busted exited with status " .. status)
end

if out then
  local f = assert(io.open(out, "w"))
  f:write(string.format("passed=%d failed=%d\n", passed, failed))
  f:close()
end

if passed + failed == 0 then note("no test ran") end
io.write(string.format("%d passed, %d failed\n", passed, failed))
os.exit((failed == 0 and passed > 0) and 0 or 1)
