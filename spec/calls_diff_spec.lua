-- Differential test of the call path against gcc: hundreds of seeded random
-- signatures (spec/gen/calls_gen.lua), compiled by gcc in this run; every
-- argument must arrive intact (checksum) and every result come back right,
-- through the direct register path and through libffi alike, with argtypes
-- and without.
local ctypes = require("ctypes")
local helper = require("spec.helper")
local gen = require("spec.gen.calls_gen")

-- two generated libraries: { generation seed, signatures, variadic ones }
local SETS = {
  { seed = 20261201, nsig = 500, nvar = 60 },
  { seed = 7, nsig = 300, nvar = 20 },
}

describe("calls differential test against gcc", function()
  local dir

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(helper.run("mkdir -p " .. helper.quote(dir)))
    for i, set in ipairs(SETS) do
      set.g = gen.generate(set.seed, set.nsig, set.nvar)
      local src = dir .. "/calls_diff" .. i .. ".c"
      local f = assert(io.open(src, "w"))
      f:write(set.g.source)
      f:close()
      local so = dir .. "/libcallsdiff" .. i .. ".so"
      local ok, out = helper.run("gcc -O2 -fPIC -shared -w -o " .. helper.quote(so) ..
                                 " " .. helper.quote(src))
      assert(ok, out)
      set.lib = ctypes.CDLL(so)
    end
  end)

  teardown(function()
    require("ctypes.core")._calls_direct(true)
    if dir then helper.run("rm -rf " .. helper.quote(dir)) end
  end)

  it("generates the promised amount of cases", function()
    for _, set in ipairs(SETS) do
      assert.are.equal(set.nsig, #set.g.sigs)
      assert.are.equal(set.nvar, #set.g.vars)
    end
  end)

  for i, set in ipairs(SETS) do
    local name = ("set %d (seed %d, %d signatures + %d variadic)"):format(
      i, set.seed, set.nsig, set.nvar)

    it(name .. ": agrees through the direct path", function()
      require("ctypes.core")._calls_direct(true)
      assert.are.same({}, gen.run(ctypes, set.lib, set.g, set.seed))
    end)

    it(name .. ": agrees through libffi alone", function()
      require("ctypes.core")._calls_direct(false)
      local fails = gen.run(ctypes, set.lib, set.g, set.seed + 1)
      require("ctypes.core")._calls_direct(true)
      assert.are.same({}, fails)
    end)

    it(name .. ": agrees without argtypes (instances of each type)", function()
      for _, direct in ipairs({ true, false }) do
        require("ctypes.core")._calls_direct(direct)
        local fails = gen.run(ctypes, set.lib, set.g, set.seed + 3, true)
        require("ctypes.core")._calls_direct(true)
        assert.are.same({}, fails)
      end
    end)

    it(name .. ": agrees with other values", function()
      assert.are.same({}, gen.run(ctypes, set.lib, set.g, set.seed + 2))
    end)
  end
end)
