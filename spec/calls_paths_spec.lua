-- The call paths (issue 14): the path of a function object is chosen once,
-- when its signature or flags change, and every path gives the results and
-- the errors of the general one, word for word. Each case runs with the
-- register paths on and off (_calls_direct). The C side is
-- spec/fixtures/fx_call.c.
local ctypes = require("ctypes")
local helper = require("spec.helper")

local c_int, c_long, c_double, c_void_p =
  ctypes.c_int, ctypes.c_long, ctypes.c_double, ctypes.c_void_p

local lib = ctypes.CDLL(helper.fixture)

local bothpaths = helper.bothpaths

local ADD = ctypes.CFUNCTYPE(c_int, c_int, c_int)
local SIX = ctypes.CFUNCTYPE(c_double, c_int, c_double, c_void_p, c_long,
                             c_double, c_int)
local cell = c_int(7)
local addr = ctypes.addressof(cell)

describe("functions made from a prototype", function()
  it("convert and return as declared functions do", function()
    local add = ADD({ "fxc_add", lib })
    local six = SIX({ "fxc_six", lib })
    bothpaths(function()
      assert.are.equal(5, add(2, 3))
      assert.are.equal(-1, add(2.0, -3))
      assert.are.equal(-2147483648, add(2147483647, 1))
      assert.are.equal(48.25, six(1, 0.5, addr, 3, 0.25, 2))
      assert.are.equal(28.25, six(1, 1, nil, 3, 0.25, 2))
      assert.are.equal(48.25, six(1, 0.5, cell, 3, 0.25, 2))
      assert.are.equal(48.25, six(1, 0.5, ctypes.byref(cell), 3, 0.25, 2))
    end)
  end)

  it("raise the general path's errors for arguments and counts", function()
    local add = ADD({ "fxc_add", lib })
    local six = SIX({ "fxc_six", lib })
    bothpaths(function()
      assert.has_error(function() return add(2, "3") end,
                       "ArgumentError: argument 2: expected c_int, got string")
      assert.has_error(function() return add(2, 1.5) end,
                       "ArgumentError: argument 2: expected c_int, got " ..
                       "number 1.5")
      assert.has_error(function() return add(2) end,
                       "TypeError: this function takes 2 arguments (1 given)")
      assert.has_error(function() return add(2, 3, 4) end,
                       "TypeError: this function takes 2 arguments (3 given)")
      assert.has_error(function() return six(1, "0.5", addr, 3, 0.25, 2) end,
                       "ArgumentError: argument 2: expected c_double, got " ..
                       "string")
      assert.has_error(function() return six(1, 0.5, addr, 3.5, 0.25, 2) end,
                       "ArgumentError: argument 4: expected c_long, got " ..
                       "number 3.5")
      assert.has_error(function() return six(1, 0.5, {}, 3, 0.25, 2) end,
                       "ArgumentError: argument 3: expected c_void_p, got " ..
                       "table")
      assert.has_error(function() return six(1, 0.5, addr, 3, 0.25) end,
                       "TypeError: this function takes 6 arguments (5 given)")
      assert.has_error(function() return six(1, 0.5, addr, 3, 0.25, 2, 9) end,
                       "TypeError: this function takes 6 arguments (7 given)")
    end)
  end)
end)

describe("the path of a declared function", function()
  it("follows every change of argtypes, restype and errcheck", function()
    local f = lib.fxc_add
    bothpaths(function()
      f.argtypes = { c_int, c_int }
      f.restype = c_int
      assert.are.equal(5, f(2, 3))
      f.errcheck = function(r) return r * 10 end
      assert.are.equal(50, f(2, 3))
      f.errcheck = nil
      assert.are.equal(5, f(2, 3))
      f.restype = c_long           -- the int result read as a long
      assert.are.equal(5, f(2, 3) & 0xffffffff)
      f.restype = nil              -- void: no value
      assert.are.equal(0, select("#", f(2, 3)))
      f.restype = c_int
      f.argtypes = nil             -- by the Lua types, any count
      assert.are.equal(5, f(2, 3))
      assert.are.equal(5, f(2, 3, 4))
      f.argtypes = { c_int, c_int }
      assert.are.equal(5, f(2, 3, 4))   -- 4: a variadic extra
      assert.has_error(function() return f(2) end,
                       "TypeError: this function takes at least 2 arguments " ..
                       "(1 given)")
      assert.are.equal(5, f(2, 3))
    end)
  end)

  it("takes the general path for a count other than the declared one", function()
    local f = lib.fxc_six
    f.argtypes = { c_int, c_double, c_void_p, c_long, c_double }
    f.restype = c_double
    bothpaths(function()
      -- the sixth argument is variadic: an int by C's promotions
      assert.are.equal(48.25, f(1, 0.5, addr, 3, 0.25, 2))
      assert.has_error(function() return f(1, 0.5, addr, 3) end,
                       "TypeError: this function takes at least 5 " ..
                       "arguments (4 given)")
    end)
  end)

  it("raises a callback's error after a register call returns", function()
    local CB = ctypes.CFUNCTYPE(c_int, c_int, c_int)
    local cb = CB(function() error("boom", 0) end)
    local apply = lib.fxc_apply
    apply.argtypes = { c_void_p, c_int, c_int }   -- the address: no object
    apply.restype = c_int
    local fp = ctypes.cast(cb, c_void_p).value
    bothpaths(function()
      local ok, err = pcall(apply, fp, 2, 3)
      assert.is_false(ok)
      assert.matches("^boom\nstack traceback:\n", err)
      local mul = CB(function(a, b) return a * b end)
      assert.are.equal(6, apply(ctypes.cast(mul, c_void_p).value, 2, 3))
    end)
  end)

  it("calls a NULL function pointer on no path", function()
    local F = ctypes.CFUNCTYPE(c_double, c_int, c_double, c_void_p, c_long,
                               c_double, c_int)
    local g = F(0)
    local h = ADD(0)
    bothpaths(function()
      assert.has_error(function() return g(1, 0.5, nil, 3, 0.25, 2) end,
                       "ValueError: NULL function pointer called")
      assert.has_error(function() return h(1, 2) end,
                       "ValueError: NULL function pointer called")
    end)
  end)
end)
