-- Handles (ctypes.new_handle / from_handle): a Lua value carried by C as a
-- void *; finalizers (ctypes.gc) attached to C memory. `<close>` is in
-- spec/gc_close_54_spec.lua (Lua 5.4 only).
local ctypes = require("ctypes")
local helper = require("spec.helper")

local c_void_p, c_int, POINTER = ctypes.c_void_p, ctypes.c_int, ctypes.POINTER
local lib = ctypes.CDLL(helper.fixture)
local fx = ctypes.cdef([[
  typedef void (*fx_cdef_visit)(int value, void *userdata);
  int fx_cdef_each(const int *items, int n, fx_cdef_visit visit, void *userdata);
  struct fx_cdef_holder { void *userdata; int (*get)(void *userdata); };
  int fx_cdef_call_holder(const struct fx_cdef_holder *h);
  void *fx_cdef_echo(void *p);
  void *fx_cdef_make(void *(*make)(int), int n);
  void fx_cdef_release(void *p);
  extern int fx_cdef_released;
  extern void *fx_cdef_last_released;
]], lib)
local libc = ctypes.cdef([[
  void *malloc(size_t size);
  void free(void *p);
  void qsort_r(void *base, size_t nmemb, size_t size,
               int (*compar)(const void *, const void *, void *), void *arg);
]], ctypes.CDLL(nil))

local function errof(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "no error")
  return (tostring(err):gsub("^[^:\n]*:%d+: ", ""))
end

describe("handles", function()
  it("are c_void_p instances that give their value back", function()
    local t = { "payload" }
    local h = ctypes.new_handle(t)
    assert.matches("^c_void_p%(%d+%)$", tostring(h))
    assert.are.equal(t, ctypes.from_handle(h))
    assert.are.equal(t, ctypes.from_handle(h.value))
    assert.are.equal(t, ctypes.from_handle(c_void_p(h.value)))
    assert.are.equal(t, ctypes.from_handle(ctypes.cast(h, POINTER(c_int))))
    -- any Lua value, nil and false included
    assert.is_nil(ctypes.from_handle(ctypes.new_handle(nil)))
    assert.is_false(ctypes.from_handle(ctypes.new_handle(false)))
    assert.are.equal("s", ctypes.from_handle(ctypes.new_handle("s")))
    local h1, h2 = ctypes.new_handle(1), ctypes.new_handle(1)
    assert.are_not.equal(h1.value, h2.value)
  end)

  it("keep the value alive exactly as long as the handle", function()
    local weak = setmetatable({}, { __mode = "v" })
    local h = ctypes.new_handle({})
    weak[1] = ctypes.from_handle(h)
    -- a value that refers to its own handle does not keep it alive
    local h2 = ctypes.new_handle({})
    ctypes.from_handle(h2).self = h2
    weak[2] = ctypes.from_handle(h2)
    helper.gc()
    assert.is_table(weak[1])
    assert.is_table(weak[2])
    local addr = h.value
    h, h2 = nil, nil
    helper.gc()
    assert.is_nil(weak[1])
    assert.is_nil(weak[2])
    assert.are.equal(("ValueError: from_handle: 0x%x is not a live handle")
      :format(addr), errof(ctypes.from_handle, addr))
  end)

  it("pass through C as arguments and come back as void * userdata",
     function()
    local items = (c_int * 4)(3, 1, 4, 1)
    local seen = {}
    local h = ctypes.new_handle(seen)
    assert.are.equal(4, fx.fx_cdef_each(items, 4, function(v, ud)
      local t = ctypes.from_handle(ud)
      t[#t + 1] = v
    end, h))
    assert.are.same({ 3, 1, 4, 1 }, seen)
    assert.are.equal(h.value, fx.fx_cdef_echo(h))
  end)

  it("work as structure members", function()
    local counter = { n = 41 }
    local holder = fx["struct fx_cdef_holder"]()
    local F = fx["struct fx_cdef_holder"].get.type
    local cb = F(function(ud)
      local c = ctypes.from_handle(ud)
      c.n = c.n + 1
      return c.n
    end)
    holder.get = cb
    -- the member holds the address only: keep the handle alive meanwhile
    local h = ctypes.new_handle(counter)
    holder.userdata = h
    assert.are.equal(42, fx.fx_cdef_call_holder(holder))
    assert.are.equal(43, fx.fx_cdef_call_holder(holder))
    assert.are.equal(h.value, holder.userdata)
  end)

  it("work as callback results", function()
    local made = {}
    local ret = fx.fx_cdef_make(function(n)
      made[n] = ctypes.new_handle("value " .. n)
      return made[n]
    end, 7)
    assert.are.equal("value 7", ctypes.from_handle(ret))
  end)

  it("carry a Lua comparison through qsort_r", function()
    local arr = (c_int * 6)(5, 2, 9, 1, 7, 3)
    local order = { descending = true, calls = 0 }
    libc.qsort_r(arr, 6, ctypes.sizeof(c_int), function(a, b, ud)
      local o = ctypes.from_handle(ud)
      o.calls = o.calls + 1
      local x = ctypes.cast(a, POINTER(c_int))[0]
      local y = ctypes.cast(b, POINTER(c_int))[0]
      if o.descending then x, y = y, x end
      return x < y and -1 or (x > y and 1 or 0)
    end, ctypes.new_handle(order))
    assert.are.same({ 9, 7, 5, 3, 2, 1 },
      { arr[0], arr[1], arr[2], arr[3], arr[4], arr[5] })
    assert.is_true(order.calls > 0)
  end)

  it("refuse what is not a live handle", function()
    assert.are.equal("ValueError: from_handle: NULL is not a live handle",
                     errof(ctypes.from_handle, nil))
    assert.are.equal("ValueError: from_handle: NULL is not a live handle",
                     errof(ctypes.from_handle, c_void_p()))
    assert.are.equal("ValueError: from_handle: 0x3039 is not a live handle",
                     errof(ctypes.from_handle, 12345))
    local x = c_int(1)
    assert.are.equal(("ValueError: from_handle: 0x%x is not a live handle")
      :format(ctypes.addressof(x)),
      errof(ctypes.from_handle, ctypes.pointer(x)))
    -- a handle whose value was changed is not found by that value
    local h = ctypes.new_handle(1)
    h.value = 16
    assert.are.equal("ValueError: from_handle: 0x10 is not a live handle",
                     errof(ctypes.from_handle, h))
    for _, bad in ipairs({ { "x", "string" }, { 1.5, "number" },
                           { {}, "table" }, { c_int(5), "c_int instance" },
                           { (c_int * 2)(), "c_int_Array_2 instance" } }) do
      assert.are.equal("TypeError: from_handle: expected an address " ..
        "(integer, c_void_p or pointer), got " .. bad[2],
        errof(ctypes.from_handle, bad[1]))
    end
  end)
end)


describe("ctypes.gc", function()
  it("returns an object sharing the memory, calling the finalizer once " ..
     "when collected", function()
    local calls, got = 0, nil
    local x = c_int(5)
    local g = ctypes.gc(x, function(o) calls = calls + 1; got = o end)
    assert.are.equal(ctypes.addressof(x), ctypes.addressof(g))
    assert.are.equal("c_int(5)", tostring(g))
    g.value = 6
    assert.are.equal(6, x.value)
    helper.gc()
    assert.are.equal(0, calls)
    g = nil
    helper.gc()
    assert.are.equal(1, calls)
    assert.are.equal(x, got)                 -- the original object
    helper.gc()
    assert.are.equal(1, calls)
  end)

  it("keeps the original object alive while the result lives", function()
    local weak = setmetatable({}, { __mode = "v" })
    local P = POINTER(c_int)
    local arr = (c_int * 3)(7, 8, 9)
    weak[1] = arr
    local g = ctypes.gc(arr, function() end)
    arr = nil
    helper.gc()
    assert.is_not_nil(weak[1])
    assert.are.equal(9, g[2])
    local p = ctypes.gc(ctypes.cast(weak[1], P), function() end)
    assert.are.equal(8, p[1])
  end)

  it("takes foreign functions: malloc'ed memory freed by free", function()
    local before = fx.fx_cdef_released.value
    local mem = ctypes.cast(libc.malloc(64), POINTER(ctypes.c_char))
    local addr = ctypes.cast(mem, c_void_p).value
    local p = ctypes.gc(mem, ctypes.cast(fx.fx_cdef_release,
                                          ctypes.CFUNCTYPE(nil, c_void_p)))
    p[0] = "x"
    p = nil
    mem = nil
    helper.gc()
    assert.are.equal(before + 1, fx.fx_cdef_released.value)
    assert.are.equal(addr, fx.fx_cdef_last_released.value)
    libc.free(addr)
    -- the form from the issue, a library function as the finalizer
    do
      local buf = ctypes.gc(ctypes.cast(libc.malloc(64), POINTER(ctypes.c_char)),
                            libc.free)
      buf[63] = "z"
    end
    helper.gc()
  end)

  it("is removed by ctypes.gc(obj, nil)", function()
    local calls = 0
    local g = ctypes.gc(c_int(1), function() calls = calls + 1 end)
    assert.are.equal(g, ctypes.gc(g, nil))
    g = nil
    helper.gc()
    assert.are.equal(0, calls)
    -- on an object without a finalizer it does nothing
    local x = c_int(2)
    assert.are.equal(x, ctypes.gc(x, nil))
  end)

  it("reports an error in a finalizer like a callback error, never " ..
     "raising it", function()
    local old = ctypes.callback_config({ report = false })
    ctypes.callback_errors()
    do local _ = ctypes.gc(c_int(3), function() error("boom", 0) end) end
    helper.gc()
    local n, first = ctypes.callback_errors()
    ctypes.callback_config(old)
    assert.are.equal(1, n)
    assert.are.equal("finalizer of c_int instance failed: boom", first)
    assert.are.same({ 0 }, { (ctypes.callback_errors()) })
    -- on stderr when reporting is on, and at lua_close too
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
      local ctypes = require("ctypes")
      do local _ = ctypes.gc(ctypes.c_int(3), function() error("boom", 0) end) end
      collectgarbage(); collectgarbage()
      KEEP = ctypes.gc(ctypes.c_int(4), function(o) print("closing", o.value) end)
      print("count", (ctypes.callback_errors()))
    ]])
    f:close()
    local ok, out = helper.run(helper.lua_command(helper.quote(script)))
    os.remove(script)
    assert.is_true(ok, out)
    assert.are.equal("ctypes: exception ignored on calling finalizer of " ..
      "c_int instance: boom\ncount\t1\nclosing\t4", out)
  end)

  it("checks its arguments", function()
    assert.are.equal("TypeError: gc: expected a ctypes instance, got " ..
                     "integer", errof(ctypes.gc, 42, print))
    assert.are.equal("TypeError: gc: expected a ctypes instance, got " ..
                     "table", errof(ctypes.gc, {}, nil))
    assert.are.equal("TypeError: gc: finalizer must be a function, a " ..
      "function object or nil, got integer", errof(ctypes.gc, c_int(1), 42))
    assert.are.equal("TypeError: gc: finalizer must be a function, a " ..
      "function object or nil, got c_int instance",
      errof(ctypes.gc, c_int(1), c_int(2)))
    assert.are.equal("TypeError: gc: function objects cannot have " ..
      "finalizers (got CFunctionType instance)",
      errof(ctypes.gc, fx.fx_cdef_echo, print))
  end)
end)
