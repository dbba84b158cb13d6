-- Layout differential test: seeded random structure and union declarations
-- (spec/gen/layout.lua), laid out by gcc in a C program compiled here and
-- by lua-ctypes; every size, alignment, offset, bit position and stored
-- byte pattern must agree.
local helper = require("spec.helper")
local ctypes = require("ctypes")
local gen = require("spec.gen.layout")

local SEED, COUNT = 20261201, 600

-- compiles and runs the C side; returns its report
local function gcc_report(decls)
  return gen.gcc_run(helper, gen.csource(decls))
end

local compare = gen.compare

local function check(big)
  local decls = gen.generate(SEED + (big and 1 or 0), COUNT, big)
  local creport = gcc_report(decls)
  local types = gen.build(ctypes, decls)
  local lreport, problems = gen.report(ctypes, decls, types)
  local n, msgs = compare(decls, creport, lreport)
  assert.are.same({}, msgs)
  assert.are.same({}, problems)
  assert.are.equal(creport, lreport)
  return decls, n
end

describe("layout differential test against gcc", function()
  it("generates the same declarations for the same seed", function()
    local a = gen.csource(gen.generate(SEED, 50))
    local b = gen.csource(gen.generate(SEED, 50))
    assert.are.equal(a, b)
    assert.are_not.equal(a, gen.csource(gen.generate(SEED + 7, 50)))
  end)

  it("covers what it claims: unions, _pack_, bit fields, nesting", function()
    local decls = gen.generate(SEED, COUNT)
    local seen = { union = 0, pack = 0, align = 0, bits = 0, zero = 0,
                   unnamed = 0, nested = 0, array = 0 }
    local packs = {}
    for _, d in ipairs(decls) do
      if d.union then seen.union = seen.union + 1 end
      if d.pack then seen.pack = seen.pack + 1; packs[d.pack] = true end
      if d.align then seen.align = seen.align + 1 end
      for _, f in ipairs(d.fields) do
        if f.bits then seen.bits = seen.bits + 1 end
        if f.bits == 0 then seen.zero = seen.zero + 1 end
        if f.bits and f.bits > 0 and f.name == "" then
          seen.unnamed = seen.unnamed + 1
        end
        if f.ref then seen.nested = seen.nested + 1 end
        if f.dims then seen.array = seen.array + 1 end
      end
    end
    assert.are.equal(COUNT, #decls)
    for k, v in pairs(seen) do assert.is_true(v >= 20, k .. ": " .. v) end
    for _, p in ipairs({ 1, 2, 4, 8 }) do assert.is_true(packs[p]) end
  end)

  it("agrees with gcc on 600 random native structures and unions", function()
    local _, n = check(false)
    assert.is_true(n > 3000)
  end)

  it("agrees with gcc on 600 random big-endian structures and unions " ..
     "(scalar_storage_order)", function()
    local _, n = check(true)
    assert.is_true(n > 3000)
  end)
end)
