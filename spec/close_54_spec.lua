-- `<close>` (Lua 5.4 syntax; `make test LUA=lua5.3` leaves *_54_spec.lua
-- out): callbacks released and libraries closed at the end of a block, and
-- what a closed library keeps loaded.
local ctypes = require("ctypes")
local helper = require("spec.helper")

local CDLL, CFUNCTYPE, c_int = ctypes.CDLL, ctypes.CFUNCTYPE, ctypes.c_int
local mapped = helper.mapped

local fixlib = CDLL(helper.fixture)
local IntCB = CFUNCTYPE(c_int, c_int)
local function cfunc(name, restype, argtypes)
  local addr = ctypes.cast(fixlib[name], ctypes.c_void_p).value
  return CFUNCTYPE(restype, table.unpack(argtypes))(addr)
end
local store = cfunc("fx_cb_store", nil, { IntCB })
local call_stored = cfunc("fx_cb_call_stored", c_int, { c_int })

local tmpdir
local function fixture_copy()
  tmpdir = tmpdir or helper.tmpdir("close-spec")
  return helper.fixture_copy(tmpdir)
end

teardown(function()
  if tmpdir then helper.run("rm -rf " .. helper.quote(tmpdir)) end
end)


describe("callbacks and <close>", function()
  it("releases at the end of a <close> block", function()
    do
      local cb <close> = IntCB(function(x) return x * 2 end)
      store(cb)
      assert.equal(8, call_stored(4))
    end
    assert.has_error(function() call_stored(4) end, "ValueError: callback called after release")
    store(nil)
  end)

  it("release does nothing to foreign functions closed by <close>", function()
    do local _ <close> = fixlib.fx_cb_call_stored end
    assert.equal(-999, call_stored(1))
  end)
end)


describe("libraries and <close>", function()
  it("<close> ends lookups; _name stays readable", function()
    local path = fixture_copy()
    local saved
    do
      local lib <close> = CDLL(path)
      saved = lib
      assert.are.equal(42, c_int.in_dll(lib, "fx_lib_int").value)
    end
    assert.are.equal("<CDLL '" .. path .. "' (closed)>", tostring(saved))
    assert.are.equal(path, saved._name)
    assert.has_error(function() return saved.fx_lib_get_int end,
                     "ValueError: " .. path .. ": library is closed")
    assert.has_error(function() c_int.in_dll(saved, "fx_lib_int") end,
                     "ValueError: " .. path .. ": library is closed")
    saved = nil
    helper.gc()
    assert.is_false(mapped(path))
  end)


  -- take(lib) gets something from a library that is then closed; the
  -- library must stay mapped while that is reachable (use(it) works after a
  -- collection) and be unmapped once it is not.
  local function keeps_loaded(take, use)
    local path = fixture_copy()
    local it
    do
      local lib <close> = CDLL(path)
      it = take(lib)
    end
    helper.gc()
    assert.is_true(mapped(path))
    use(it)
    it = nil
    helper.gc()
    assert.is_false(mapped(path))
  end

  it("an in_dll view keeps its library loaded, even after <close>", function()
    keeps_loaded(function(lib) return c_int.in_dll(lib, "fx_lib_int") end,
                 function(view)
                   assert.are.equal(42, view.value)
                   view.value = 7
                   assert.are.equal(7, view.value)
                 end)
  end)

  it("a function object keeps its library loaded, even after <close>", function()
    keeps_loaded(function(lib) return lib.fx_lib_get_int end,
                 function(f) assert.are.equal(42, f()) end)
  end)

  it("a prototype made from {name, lib} keeps the library loaded", function()
    local F = ctypes.CFUNCTYPE(c_int)
    keeps_loaded(function(lib) return F({ "fx_lib_get_int", lib }) end,
                 function(f) assert.are.equal(42, f()) end)
    local path = fixture_copy()
    local closed
    do
      local lib <close> = CDLL(path)
      closed = lib
    end
    assert.has_error(function() F({ "fx_lib_get_int", closed }) end,
                     "ValueError: " .. path .. ": library is closed")
    assert.has_error(function() F({ "fx_nope", CDLL(path) }) end,
                     "AttributeError: " .. path .. ": undefined symbol: fx_nope")
    assert.has_error(function() F({ "fx_lib_get_int", 42 }) end,
                     "TypeError: CFUNCTYPE: expected a library (CDLL), got integer")
  end)
end)
