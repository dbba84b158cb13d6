-- ctypes' private errno: swapped into the real errno right before a call of
-- a use_errno function and out of it right after.
local ctypes = require("ctypes")
local helper = require("spec.helper")

describe("errno", function()
  local elib = ctypes.CDLL(helper.fixture, { use_errno = true })
  local plain = ctypes.CDLL(helper.fixture)

  before_each(function() ctypes.set_errno(0) end)

  it("set_errno returns the old value, get_errno reads it", function()
    assert.are.equal(0, ctypes.set_errno(17))
    assert.are.equal(17, ctypes.get_errno())
    assert.are.equal(17, ctypes.set_errno(-3))
    assert.are.equal(-3, ctypes.get_errno())
  end)

  it("captures what a use_errno call leaves in errno", function()
    local se = elib.fxc_set_errno
    assert.are.equal(-1, se(33))
    assert.are.equal(33, ctypes.get_errno())
    -- Lua work in between does not disturb the private copy
    local junk = {}
    for i = 1, 1000 do junk[i] = tostring(i) end
    assert.are.equal(33, ctypes.get_errno())
  end)

  it("swaps the private value in before the call", function()
    local ge = elib.fxc_get_errno
    ctypes.set_errno(1234)
    assert.are.equal(1234, ge())
    assert.are.equal(1234, ctypes.get_errno())
  end)

  it("leaves it alone for functions without use_errno", function()
    ctypes.set_errno(5)
    plain.fxc_set_errno(99)
    assert.are.equal(5, ctypes.get_errno())
    -- and the real errno is not the private one
    assert.are_not.equal(5, plain.fxc_get_errno())
  end)

  it("restores the real errno after a use_errno call", function()
    plain.fxc_set_errno(7)                    -- real errno = 7
    elib.fxc_set_errno(42)                    -- private = 42, real back to 7
    assert.are.equal(7, plain.fxc_get_errno())
    assert.are.equal(42, ctypes.get_errno())
  end)

  it("works with libc and through both call paths", function()
    local libc = ctypes.CDLL(nil, { use_errno = true })
    local strtol = libc.strtol
    strtol.argtypes = { ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int }
    strtol.restype = ctypes.c_long
    for _, direct in ipairs({ true, false }) do
      require("ctypes.core")._calls_direct(direct)
      ctypes.set_errno(0)
      assert.are.equal(helper.platform.long_max, strtol("99999999999999999999", nil, 10))
      assert.are.equal(34, ctypes.get_errno())   -- ERANGE
      ctypes.set_errno(0)
      assert.are.equal(12, strtol("12", nil, 10))
      assert.are.equal(0, ctypes.get_errno())
    end
    require("ctypes.core")._calls_direct(true)
  end)

  it("comes with prototypes made with use_errno", function()
    local F = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, { use_errno = true })
    local f = F({ "fxc_set_errno", plain })
    f(61)
    assert.are.equal(61, ctypes.get_errno())
    local G = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)
    local g = G({ "fxc_set_errno", plain })
    g(62)
    assert.are.equal(61, ctypes.get_errno())
  end)

  it("keeps use_errno when argtypes or restype change", function()
    local se = elib.fxc_set_errno
    se.argtypes = { ctypes.c_int }
    se.restype = ctypes.c_long
    se(88)
    assert.are.equal(88, ctypes.get_errno())
  end)

  it("rejects values that are not C ints", function()
    assert.has_error(function() ctypes.set_errno("x") end,
      "TypeError: set_errno: expected an int, got string")
    assert.has_error(function() ctypes.set_errno("5") end,   -- strict, no coercion
      "TypeError: set_errno: expected an int, got string")
    assert.has_error(function() ctypes.set_errno(1 << 40) end,
      "TypeError: set_errno: expected an int, got integer")
  end)
end)
