-- Misuse: the contract "misuse gets a clear error, never a crash; memory
-- that Lua still reaches is never freed", checked by a seeded random
-- generator (spec/gen/misuse.lua) that calls every public entry point of
-- require("ctypes") with values drawn from a pool of everything Lua has,
-- interleaving garbage collections and lifetime probes. A crash fails the
-- run; under `make asan` so does any sanitizer report.
--
-- Longer runs: CTYPES_MISUSE_SEEDS=1-200 CTYPES_MISUSE_STEPS=20000 busted
-- spec/misuse_spec.lua (a failure names the seed and step to replay).
local ctypes = require("ctypes")
local helper = require("spec.helper")
local misuse = require("spec.gen.misuse")

local function seeds()
  local spec = os.getenv("CTYPES_MISUSE_SEEDS") or "1-8"
  local a, b = spec:match("^(%d+)-(%d+)$")
  local list = {}
  if a then
    for s = tonumber(a), tonumber(b) do list[#list + 1] = s end
  else
    for s in spec:gmatch("%d+") do list[#list + 1] = tonumber(s) end
  end
  return list
end
local STEPS = tonumber(os.getenv("CTYPES_MISUSE_STEPS") or "") or 4000

describe("misuse", function()
  it("accepts exactly the allowed error forms", function()
    -- the ctypes exception names a message may start with
    assert.are.same({ "TypeError", "ValueError", "IndexError", "AttributeError",
                      "ArgumentError", "OverflowError", "OSError", "MemoryError",
                      "RuntimeError" }, misuse.EXCEPTIONS)
    local ok = {
      "TypeError: sizeof: expected a ctypes type or instance, got table",
      "ArgumentError: argument 2: expected c_int, got string",
      "spec/x.lua:3: ValueError: create_string_buffer: size must be >= 0, got -1",
      "TypeError: POINTER: expected a ctypes type, got integer",
      "bad argument #1 to 'callback_config' (table expected, got number)",
      "TypeError: Structure: name must be a string, got integer",
      "RuntimeError: cannot yield from inside a callback (attempt to yield " ..
        "across a C-call boundary)\nstack traceback:\n\t[C]: in ?",
      misuse.USER_MARK, misuse.USER_TABLE,
    }
    for _, e in ipairs(ok) do assert.is_nil(misuse.check(e), tostring(e)) end
    local bad = {
      { "attempt to index a nil value", "no exception name" },
      { "not enough memory", "no exception name" },
      { "NotImplementedError: x", "message contains NotImplementedError" },
      { "KeyError: x", "unknown exception name KeyError" },
      { "TypeError: sizeof: expected a ctypes type or instance, got userdata",
        "message says userdata" },
      { "ArgumentError: oops", "ArgumentError without an argument number" },
      { "bad argument #2 to '?' (number expected)", "message contains to '?'" },
      { "bad argument #4 to 'index' (x)", "bad argument to 'index' (not <ExceptionName>: ...)" },
      { "bad argument #1 to 'POINTER' (ctypes type expected, got integer)",
        "bad argument to 'POINTER' (not <ExceptionName>: ...)" },
      { {}, "non-string error (table)" },
      { 42, "non-string error (number)" },
    }
    for _, b in ipairs(bad) do assert.are.equal(b[2], misuse.check(b[1])) end
  end)

  for _, seed in ipairs(seeds()) do
    it(("seed %d: %d random calls, every error clear, no crash, lifetimes kept")
       :format(seed, STEPS), function()
      local res = misuse.run{ seed = seed, steps = STEPS, fixture = helper.fixture,
                              asan = helper.asan }
      local lines = {}
      for _, f in ipairs(res.failures) do
        lines[#lines + 1] = ("step %d: %s: %s"):format(f.step, f.label, f.why)
      end
      assert.are.equal("", table.concat(lines, "\n"))
      assert.are.equal(STEPS, res.calls)
      -- it misused: most calls failed, and every kind of action ran
      assert.is_true(res.errors > STEPS // 2, "errors: " .. res.errors)
      for _, name in ipairs(misuse.ACTIONS) do
        assert.is_true((res.actions[name] or 0) > 0, "action never ran: " .. name)
      end
    end)
  end

  it("leaves ctypes usable", function()
    collectgarbage()
    assert.are.equal(7, ctypes.CDLL(helper.fixture).fxc_add(3, 4))
    assert.are.equal(0, (ctypes.callback_errors()))
  end)
end)
