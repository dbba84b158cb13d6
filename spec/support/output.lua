-- busted output handler: busted's usual terminal output, plus the counts
-- written to the file named by $CTYPES_COUNTS (if set) for
-- spec/support/summary.lua.  Selected by `output` in .busted; `busted -o X`
-- still picks any other handler.
--
-- The counts file is marked "incomplete" from the start of the suite until
-- its end, so a run that dies half-way (crash, sanitizer abort) is never
-- read as a clean one.  Pending tests are counted: the suite has none by rule.
local io, os, require, string = io, os, require, string

return function(options)
  local busted = require("busted")

  local inner = os.getenv("CTYPES_BUSTED_OUTPUT")
  if not inner then
    local ok, term = pcall(require, "term")
    local tty = ok and term.isatty and term.isatty(io.stdout)
    inner = tty and "utfTerminal" or "plainTerminal"
  end
  local handler = require("busted.outputHandlers." .. inner)(options)

  local path = os.getenv("CTYPES_COUNTS")
  if path == "" then path = nil end

  local function write(text)
    if not path then return end
    local f = io.open(path, "w")
    if f then
      f:write(text)
      f:close()
    end
  end

  local function counts()
    return string.format("passed=%d failed=%d errors=%d pending=%d\n",
      handler.successesCount, handler.failuresCount,
      handler.errorsCount, handler.pendingsCount)
  end

  busted.subscribe({ "suite", "start" }, function()
    write("incomplete\n")
    return nil, true
  end)

  -- Kept current while the suite runs, still marked incomplete, so that a
  -- run that dies shows how far it got.  These run after the base
  -- handler's own (priority 1) bookkeeping.
  busted.subscribe({ "test", "end" }, function()
    write("incomplete " .. counts())
    return nil, true
  end)

  busted.subscribe({ "suite", "end" }, function()
    write(counts())
    return nil, true
  end)

  return handler
end
