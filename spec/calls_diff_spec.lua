-- Differential test of the call path against gcc: hundreds of seeded random
-- signatures (spec/gen/calls_gen.lua), compiled by gcc in this run; every
-- argument must arrive intact (checksum) and every result come back right,
-- through the direct register path and through libffi alike.
local ctypes = require("ctypes")
local helper = require("spec.helper")
local gen = require("spec.gen.calls_gen")

local SEED, NSIG, NVAR = 20261201, 500, 60

describe("calls differential test against gcc", function()
  local g, lib, dir

  setup(function()
    g = gen.generate(SEED, NSIG, NVAR)
    dir = os.tmpname()
    os.remove(dir)
    assert(helper.run("mkdir -p " .. helper.quote(dir)))
    local src = dir .. "/calls_diff.c"
    local f = assert(io.open(src, "w"))
    f:write(g.source)
    f:close()
    local so = dir .. "/libcallsdiff.so"
    local ok, out = helper.run("gcc -O2 -fPIC -shared -w -o " .. helper.quote(so) ..
                               " " .. helper.quote(src))
    assert(ok, out)
    lib = ctypes.CDLL(so)
  end)

  teardown(function()
    ctypes._calls_direct(true)
    if dir then helper.run("rm -rf " .. helper.quote(dir)) end
  end)

  it("generates the promised amount of cases", function()
    assert.are.equal(NSIG, #g.sigs)
    assert.are.equal(NVAR, #g.vars)
  end)

  it("agrees on every signature through the direct path", function()
    ctypes._calls_direct(true)
    local fails = gen.run(ctypes, lib, g, SEED)
    assert.are.same({}, fails)
  end)

  it("agrees on every signature through libffi alone", function()
    ctypes._calls_direct(false)
    local fails = gen.run(ctypes, lib, g, SEED + 1)
    ctypes._calls_direct(true)
    assert.are.same({}, fails)
  end)

  it("agrees without argtypes, every argument an instance of its type", function()
    for _, direct in ipairs({ true, false }) do
      ctypes._calls_direct(direct)
      local fails = gen.run(ctypes, lib, g, SEED + 3, true)
      ctypes._calls_direct(true)
      assert.are.same({}, fails)
    end
  end)

  it("agrees with a second seed", function()
    local fails = gen.run(ctypes, lib, g, SEED + 2)
    assert.are.same({}, fails)
  end)
end)
