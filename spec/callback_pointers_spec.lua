-- Callbacks with POINTER(T) arguments: the pointer cache (doc/callbacks.md,
-- "Pointer arguments"). A pointer object is a value (an address of a type)
-- plus what it keeps alive; a callback may hand its Lua function the same
-- object again for the same address, never one that holds anything else.
local ctypes = require("ctypes")
local helper = require("spec.helper")

local lib = ctypes.CDLL(helper.fixture)
local libc = ctypes.CDLL(nil)
local CFUNCTYPE, POINTER = ctypes.CFUNCTYPE, ctypes.POINTER
local c_int, c_uint, c_void_p, c_size_t =
  ctypes.c_int, ctypes.c_uint, ctypes.c_void_p, ctypes.c_size_t
local P = POINTER(c_int)
local CMP = CFUNCTYPE(c_int, P, P)

local qsort = libc.qsort
qsort.argtypes = { c_void_p, c_size_t, c_size_t, CMP }
qsort.restype = nil
local bsearch = libc.bsearch
bsearch.argtypes = { c_void_p, c_void_p, c_size_t, c_size_t, CMP }
bsearch.restype = c_void_p

-- the address a pointer object holds
local function value_of(p)
  return ctypes.cast(p, c_void_p).value
end

local function ints(t)
  local a = (c_int * #t)()
  for i, v in ipairs(t) do a[i - 1] = v end
  return a
end

local function totable(a)
  local t = {}
  for i = 0, #a - 1 do t[#t + 1] = a[i] end
  return t
end

-- runs a Lua script in a new process (a new Lua state: an empty cache)
local function child(script)
  local prelude = "local ctypes = require('ctypes'); "
  local ok, out = helper.run(helper.lua_command("-e " ..
                                                helper.quote(prelude .. script)))
  assert(ok, out)
  return out
end

-- child() with P = POINTER(c_int), CMP = CFUNCTYPE(c_int, P, P<opts>) and
-- libc's qsort declared for CMP (opts: Lua source, "" or ", {...}")
local function qsort_child(opts, script)
  return child(([[
    local P = ctypes.POINTER(ctypes.c_int)
    local CMP = ctypes.CFUNCTYPE(ctypes.c_int, P, P%s)
    local libc = ctypes.CDLL(nil)
    local qsort = libc.qsort
    qsort.argtypes = { ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, CMP }
    qsort.restype = nil
  ]]):format(opts) .. script)
end

describe("callbacks with pointer arguments", function()

  it("read the right values, also from objects handed out again", function()
    local a = ints({ 50, 20, 90, 10, 70, 30, 80, 60, 40, 0 })
    local base = ctypes.addressof(a)
    local calls = 0
    local cmp = CMP(function(x, y)
      calls = calls + 1
      -- each object reads what C has at the address it holds right now
      local ax, ay = value_of(x), value_of(y)
      assert.equal(ctypes.c_int.from_address(ax).value, x[0])
      assert.equal(ctypes.c_int.from_address(ay).value, y.contents.value)
      assert.is_true(ax >= base and ax < base + 40 and (ax - base) % 4 == 0)
      return x[0] - y[0]
    end)
    for _ = 1, 3 do
      for i, v in ipairs({ 50, 20, 90, 10, 70, 30, 80, 60, 40, 0 }) do
        a[i - 1] = v
      end
      qsort(a, 10, 4, cmp)
      assert.same({ 0, 10, 20, 30, 40, 50, 60, 70, 80, 90 }, totable(a))
    end
    assert.is_true(calls >= 3 * 9)
  end)

  it("see the value C wrote since the last call at the same address", function()
    local f = lib.fx_cb_ptr
    local CB = CFUNCTYPE(c_int, P, c_int)
    f.argtypes = { CB, c_int }
    f.restype = c_int
    local seen = {}
    local cb = CB(function(p, k)
      seen[#seen + 1] = p[0]
      p[0] = p[0] + 1
      return k
    end)
    assert.equal(2042, f(cb, 41))
    assert.equal(2008, f(cb, 7))
    assert.equal(2000, f(cb, -1))
    assert.same({ 41, 7, -1 }, seen)
  end)

  it("give the same object for the same address (a new Lua state)", function()
    local out = qsort_child("", [[
      local a = (ctypes.c_int * 8)(8, 7, 6, 5, 4, 3, 2, 1)
      local byaddr, objects, args = {}, 0, 0
      local cmp = CMP(function(x, y)
        for _, p in ipairs({ x, y }) do
          local k = ctypes.cast(p, ctypes.c_void_p).value
          args = args + 1
          if byaddr[k] == nil then byaddr[k] = p; objects = objects + 1 end
          assert(rawequal(byaddr[k], p), "another object for the same address")
        end
        return x[0] - y[0]
      end)
      qsort(a, 8, 4, cmp)
      qsort(a, 8, 4, cmp)
      print(objects, args > objects)
    ]])
    assert.equal("8\ttrue", out)
  end)

  it("never change an object the Lua function kept", function()
    local a = ints({ 3, 1, 2, 5, 4 })
    local base = ctypes.addressof(a)
    local kept, addrs = {}, {}
    local cmp = CMP(function(x, y)
      kept[#kept + 1] = x
      addrs[#addrs + 1] = value_of(x)
      kept[#kept + 1] = y
      addrs[#addrs + 1] = value_of(y)
      return x[0] - y[0]
    end)
    qsort(a, 5, 4, cmp)
    helper.gc()
    -- more calls with the same addresses, and with others
    local b = ints({ 9, 8, 7, 6, 5, 4, 3, 2 })
    qsort(a, 5, 4, cmp)
    qsort(b, 8, 4, cmp)
    for i, p in ipairs(kept) do
      assert.equal(addrs[i], value_of(p))
    end
    -- and each reads its address now
    for i = 1, 4 do
      assert.equal(ctypes.c_int.from_address(addrs[i]).value, kept[i][0])
    end
    assert.same({ 1, 2, 3, 4, 5 }, totable(a))
    assert.is_true(addrs[1] >= base and addrs[1] < base + 20)
  end)

  it("keep what .contents = stores alive, and are then not handed out again",
     function()
    local a = ints({ 2, 1 })
    local first, target
    local got = {}
    local cmp = CMP(function(x, y)
      got[#got + 1] = x
      if first == nil then
        first = x
        x.contents = c_int(1234)   -- referenced by nothing else
        target = value_of(x)
        return 1
      end
      return x[0] - y[0]
    end)
    qsort(a, 2, 4, cmp)
    assert.is_not_nil(first)
    helper.gc()
    -- the stored object is kept alive by the pointer object, as always
    assert.equal(1234, first[0])
    assert.equal(target, value_of(first))
    assert.are_not.equal(ctypes.addressof(a), target)
    -- the next call at the same address gets another object holding it
    a[0], a[1] = 5, 6
    qsort(a, 2, 4, cmp)
    local second = got[#got]
    assert.is_false(rawequal(first, second))
    assert.equal(ctypes.addressof(a), value_of(second))
    assert.equal(5, second[0])
    helper.gc()
    assert.equal(1234, first[0])
  end)

  it("are not handed out again after resize() or a write through a view",
     function()
    -- (the last call of each sort is the sort's own: sanitizers' qsort
    -- calls the comparator once more first)
    local a = ints({ 2, 1 })
    local last
    local cmp = CMP(function(x, y)
      last = x
      return x[0] - y[0]
    end)
    qsort(a, 2, 4, cmp)
    local p = last
    local addr = value_of(p)
    assert.equal(ctypes.addressof(a), addr)
    ctypes.resize(p, 2 * ctypes.sizeof(P))
    a[0], a[1] = 2, 1
    qsort(a, 2, 4, cmp)
    local q = last
    assert.is_false(rawequal(p, q))
    assert.equal(ctypes.sizeof(P), ctypes.sizeof(q))
    assert.equal(addr, value_of(q))
    -- a view of q's memory moves it elsewhere: q is no longer that address
    c_void_p.from_buffer(q).value = ctypes.addressof(a) + 4
    a[0], a[1] = 2, 1
    qsort(a, 2, 4, cmp)
    local r = last
    assert.is_false(rawequal(q, r))
    assert.equal(addr, value_of(r))
    assert.equal(ctypes.addressof(a) + 4, value_of(q))
    assert.equal(2, q[0])
    assert.equal(1, r[0])
  end)

  it("have the argument's type, whatever other callbacks saw there", function()
    local U = POINTER(c_uint)
    local UCMP = CFUNCTYPE(c_int, U, U)
    local uqsort = ctypes.CFUNCTYPE(nil, c_void_p, c_size_t, c_size_t, UCMP)(
      ctypes.cast(libc.qsort, c_void_p).value)
    local a = ints({ -1, 1, -2, 2 })
    qsort(a, 4, 4, CMP(function(x, y)
      assert.equal("LP_c_int", tostring(x):match("^<(%S+)"))
      return x[0] - y[0]
    end))
    assert.same({ -2, -1, 1, 2 }, totable(a))
    uqsort(a, 4, 4, UCMP(function(x, y)
      assert.equal("LP_c_uint", tostring(x):match("^<(%S+)"))
      assert.is_true(x[0] >= 0 and y[0] >= 0)
      return x[0] < y[0] and -1 or x[0] > y[0] and 1 or 0
    end))
    assert.same({ 1, 2, -2, -1 }, totable(a))
  end)

  it("pass NULL as a NULL pointer object", function()
    local a = ints({ 1, 2, 3 })
    local nulls = 0
    local cmp = CMP(function(key, elem)
      if ctypes.is_null(key) then
        nulls = nulls + 1
        local ok, err = pcall(function() return key[0] end)
        assert.is_false(ok)
        assert.matches("ValueError: NULL pointer access$", err)
        return 0
      end
      return key[0] - elem[0]
    end)
    assert.equal(ctypes.addressof(a) + 4, bsearch(nil, a, 3, 4, cmp))
    assert.equal(ctypes.addressof(a) + 4, bsearch(nil, a, 3, 4, cmp))
    assert.equal(2, nulls)
  end)

  it("report errors at the return of the foreign call, C not unwound", function()
    local a = ints({ 4, 3, 2, 1 })
    local n = 0
    local cmp = CMP(function(x, y)
      n = n + 1
      if n == 2 then error("boom in comparator") end
      return x[0] - y[0]
    end)
    local ok, err = pcall(qsort, a, 4, 4, cmp)
    assert.is_false(ok)
    assert.matches("boom in comparator", err)
    assert.is_true(n >= 3)   -- qsort went on, with the error value 0
    -- an error on a call whose arguments were all cached
    local bad = CMP(function(x, y)
      if x[0] == 3 then error("bad " .. y[0]) end
      return x[0] - y[0]
    end)
    a[0], a[1], a[2], a[3] = 1, 3, 2, 4
    ok, err = pcall(qsort, a, 4, 4, bad)
    assert.is_false(ok)
    assert.matches("bad %d", err)
  end)

  it("stay right under collections, also during the callback", function()
    local N = 2000
    local a = (c_int * N)()
    local function fill(seed)
      for i = 0, N - 1 do
        seed = (seed * 1103515245 + 12345) % 2147483648
        a[i] = seed % 1000
      end
    end
    local calls = 0
    local cmp = CMP(function(x, y)
      calls = calls + 1
      if calls % 997 == 0 then collectgarbage() end
      if calls % 101 == 0 then collectgarbage("step") end
      return x[0] - y[0]
    end)
    for round = 1, 4 do
      fill(round)
      qsort(a, N, 4, cmp)
      for i = 1, N - 1 do
        if a[i - 1] > a[i] then error("not sorted at " .. i) end
      end
      helper.gc()
    end
    -- a generational collector too (Lua 5.4)
    if _VERSION ~= "Lua 5.3" then
      local old = collectgarbage("generational")
      fill(7)
      qsort(a, N, 4, cmp)
      collectgarbage(old)
      for i = 1, N - 1 do
        assert.is_true(a[i - 1] <= a[i])
      end
    end
  end)

  it("let an object no one else uses go two collections after its last use",
     function()
    -- the cache keeps the objects of the current cycle; the end of each
    -- collection cycle makes them weakly kept, the next one frees them
    local out = qsort_child("", [[
      local a = (ctypes.c_int * 4)(5, 3, 9, 1)
      local seen, n = setmetatable({}, { __mode = "v" }), 0
      local cmp = CMP(function(x, y)
        seen[n + 1], seen[n + 2], n = x, y, n + 2
        return x[0] - y[0]
      end)
      local function live()
        local k = 0
        for _ in pairs(seen) do k = k + 1 end
        return k
      end
      qsort(a, 4, 4, cmp)
      local before = live()
      collectgarbage()
      collectgarbage()
      print(a[0], a[3], before > 0, live())
    ]])
    assert.equal("1\t9\ttrue\t0", out)
  end)

  it("use the cache on the general path too (use_errno callbacks)", function()
    local out = qsort_child(", { use_errno = true }", [[
      local a = (ctypes.c_int * 6)(6, 5, 4, 3, 2, 1)
      local byaddr, objects = {}, 0
      local cmp = CMP(function(x, y)
        for _, p in ipairs({ x, y }) do
          local k = ctypes.cast(p, ctypes.c_void_p).value
          if byaddr[k] == nil then byaddr[k] = p; objects = objects + 1 end
          assert(rawequal(byaddr[k], p), "another object for the same address")
        end
        return x[0] - y[0]
      end)
      qsort(a, 6, 4, cmp)
      print(objects, a[0], a[5])
    ]])
    assert.equal("6\t1\t6", out)
  end)
end)
