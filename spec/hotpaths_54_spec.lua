-- The hot paths (issue 14) where Lua 5.4 syntax is needed: lib.f from the
-- symbol cache ends when the library is closed (<close>).
local ctypes = require("ctypes")
local helper = require("spec.helper")

describe("lib.f from the symbol cache", function()
  it("is the same object each time and ends when the library closes", function()
    local saved
    do
      local lib <close> = ctypes.CDLL(helper.fixture)
      local f = lib.fx_lib_get_int
      assert.are.equal(f, lib.fx_lib_get_int)
      assert.are.equal(42, f())
      saved = lib
    end
    assert.has_error(function() return saved.fx_lib_get_int end,
                     "ValueError: " .. helper.fixture .. ": library is closed")
  end)
end)
