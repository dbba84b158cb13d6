-- ctypes.gc and `<close>` (Lua 5.4 only: a Lua 5.3 run leaves this file
-- out). The finalizer runs once at the end of the block, not again when the
-- object is collected; closing other instances behaves as before.
local ctypes = require("ctypes")
local helper = require("spec.helper")

local c_int = ctypes.c_int

describe("ctypes.gc with <close>", function()
  it("runs the finalizer at the end of the block, once", function()
    local calls, got = 0, nil
    local x = c_int(5)
    do
      local g <close> = ctypes.gc(x, function(o) calls = calls + 1; got = o end)
      g.value = 9
      assert.are.equal(0, calls)
    end
    assert.are.equal(1, calls)
    assert.are.equal(x, got)
    assert.are.equal(9, x.value)
    helper.gc()
    assert.are.equal(1, calls)
  end)

  it("runs nothing after ctypes.gc(obj, nil)", function()
    local calls = 0
    do
      local g <close> = ctypes.gc(c_int(1), function() calls = calls + 1 end)
      ctypes.gc(g, nil)
    end
    helper.gc()
    assert.are.equal(0, calls)
  end)

  it("reports a finalizer error at close instead of raising it", function()
    local old = ctypes.callback_config({ report = false })
    ctypes.callback_errors()
    local ok = pcall(function()
      local _ <close> = ctypes.gc(c_int(1), function() error("late", 0) end)
    end)
    local n, first = ctypes.callback_errors()
    ctypes.callback_config(old)
    assert.is_true(ok)
    assert.are.equal(1, n)
    assert.are.equal("finalizer of c_int instance failed: late", first)
  end)

  it("leaves <close> on other instances as it was (callbacks release)",
     function()
    local F = ctypes.CFUNCTYPE(c_int, c_int)
    local keep
    do
      local cb <close> = F(function(v) return v + 1 end)
      keep = cb
      local plain <close> = c_int(3)
      assert.are.equal(3, plain.value)
    end
    local call = ctypes.cast(keep, F)
    local ok, err = pcall(call, 1)
    assert.is_false(ok)
    assert.matches("callback called after release", tostring(err))
  end)
end)
