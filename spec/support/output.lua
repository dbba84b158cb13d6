-- busted output handler: busted's usual terminal output, plus the counts
-- written to the file named by $CTYPES_COUNTS (if set) for
-- spec/support/summary.lua.  Selected by `output` in .busted; `busted -o X`
-- still picks any other handler.
--
-- The counts file holds "incomplete" from the start of the suite until its
-- end, so a run that dies half-way (crash, sanitizer abort) is never read
-- as a clean one.  Pending tests are counted: the suite has none by rule.
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

  busted.subscribe({ "suite", "start" }, function()
    write("incomplete\n")
    return nil, true
  end)

  -- Runs after the base handler's own suite-end bookkeeping; all test
  -- counters are final by then.
  busted.subscribe({ "suite", "end" }, function()
    write(string.format("passed=%d failed=%d errors=%d pending=%d\n",
      handler.successesCount, handler.failuresCount,
      handler.errorsCount, handler.pendingsCount))
    return nil, true
  end)

  return handler
end
