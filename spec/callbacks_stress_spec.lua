-- Seeded random programs of callbacks that call each other through foreign
-- calls, release each other, fail and collect garbage mid-call, checked
-- against a model of the rules in doc/callbacks.md written in plain Lua:
-- the result of each top-level foreign call, or its error (first line and
-- the number of further errors). Half the callbacks take the fast path
-- (c_int arguments), half the general one (a c_wchar argument: the same
-- registers, but a string in Lua); some results are c_int instances, which
-- need the general conversion. CTYPES_SEED picks other programs.
local ctypes = require("ctypes")
local helper = require("spec.helper")

local lib = ctypes.CDLL(helper.fixture)
local CFUNCTYPE, c_int, c_void_p = ctypes.CFUNCTYPE, ctypes.c_int, ctypes.c_void_p
local IntCB = CFUNCTYPE(c_int, c_int)
-- wchar_t is a 32-bit int here: C calls it as int (*)(int)
local WCharCB = CFUNCTYPE(c_int, ctypes.c_wchar)

-- functions of their own (not the library's shared attribute objects),
-- made from prototypes with (name, library): they keep the library loaded
local c_call_n = CFUNCTYPE(c_int, c_void_p, c_int)({ "fx_cb_call_n", lib })
local c_call_two =
  CFUNCTYPE(c_int, c_void_p, c_void_p, c_int)({ "fx_cb_call_two", lib })
local c_call_three = CFUNCTYPE(c_int, c_void_p, c_void_p, c_void_p, c_int)(
  { "fx_cb_call_three", lib })

local SEED = tonumber(os.getenv("CTYPES_SEED")) or 20261202
local TRIALS = tonumber(os.getenv("CTYPES_STRESS_TRIALS")) or 1000
local NCB = 6

-- a small deterministic generator (both sides draw the same numbers in the
-- same order, since C calls back in a fixed order)
local function newrng(seed)
  local s = seed
  return function(n)
    s = (s * 1103515245 + 12345) % 2147483648
    return s % n
  end
end

-- What every callback does, for both sides: env supplies the foreign calls,
-- release and garbage collection.
local function body(env, id, i)
  local r = env.rng(20)
  if r < 3 and env.depth < 3 then
    local a, b, c = env.rng(NCB) + 1, env.rng(NCB) + 1, env.rng(NCB) + 1
    local n, how = env.rng(3) + 1, env.rng(3)
    local v
    env.depth = env.depth + 1
    if how == 0 then v = env.call_two(a, b, n)
    elseif how == 1 then v = env.call_three(a, b, c, n)
    else v = env.call_n(a, n) end
    env.depth = env.depth - 1
    return v % 50
  elseif r < 5 then
    env.release(env.rng(NCB) + 1)
  elseif r < 7 then
    error(("boom %d %d"):format(id, i))
  elseif r < 9 then
    env.gc()
  elseif r < 11 then
    return env.box((id * 3 + i) % 50)
  end
  return (id * 7 + i) % 50
end

-- the model: foreign calls simulated in Lua with lua-ctypes' error rules
local function model(seed)
  local env = { rng = newrng(seed), depth = 0 }
  local released = {}
  -- one simulated callback call inside a foreign call with error list errs
  local function callback(id, i, errs)
    if released[id] then
      errs[#errs + 1] = "ValueError: callback called after release"
      return 0
    end
    local ok, v = pcall(body, env, id, i)
    if ok then return v end
    errs[#errs + 1] = tostring(v):match("^[^\n]*")
    return 0
  end
  -- the end of a foreign call: the first error raised with the count of
  -- the others, as ct_callback_raise words it
  local function finish(errs, v)
    if #errs == 0 then return v end
    local msg = errs[1]
    if #errs > 1 then
      msg = msg .. ("\n(%d more callback error%s during this call)"):format(
        #errs - 1, #errs > 2 and "s" or "")
    end
    error(msg, 0)
  end
  function env.call_two(a, b, n)
    local errs, sum = {}, 0
    for i = 0, n - 1 do
      sum = sum + callback(a, i, errs) * 1000
      sum = sum + callback(b, i, errs)
    end
    return finish(errs, sum)
  end
  function env.call_three(a, b, c, n)
    local errs, sum = {}, 0
    for i = 0, n - 1 do
      sum = sum + callback(a, i, errs) * 10000
      sum = sum + callback(b, i, errs) * 100
      sum = sum + callback(c, i, errs)
    end
    return finish(errs, sum)
  end
  function env.call_n(a, n)
    local errs, sum = {}, 0
    for i = 0, n - 1 do sum = sum + callback(a, i, errs) end
    return finish(errs, sum)
  end
  function env.release(id) released[id] = true end
  function env.gc() end
  function env.box(v) return v end
  return env
end

-- the real thing
local function real(seed)
  local env = { rng = newrng(seed), depth = 0 }
  local cbs = {}
  for id = 1, NCB do
    if id <= NCB // 2 then
      cbs[id] = IntCB(function(i) return body(env, id, i) end)
    else
      cbs[id] = WCharCB(function(w) return body(env, id, utf8.codepoint(w)) end)
    end
  end
  function env.call_two(a, b, n) return c_call_two(cbs[a], cbs[b], n) end
  function env.call_three(a, b, c, n)
    return c_call_three(cbs[a], cbs[b], cbs[c], n)
  end
  function env.call_n(a, n) return c_call_n(cbs[a], n) end
  function env.release(id) ctypes.release(cbs[id]) end
  function env.gc() collectgarbage("step", 0) end
  function env.box(v) return c_int(v) end
  return env
end

-- the outcome of one top-level call: the value, or the error's first line
-- and the "(n more ...)" count that ends it
local function outcome(env, a, b, c, n)
  local ok, v = pcall(env.call_three, a, b, c, n)
  if ok then return "value " .. v end
  v = tostring(v)
  local more = v:match("\n%((%d+) more callback errors? during this call%)$")
  return ("error %s [%s more]"):format(v:match("^[^\n]*"), more or "0")
end

for _, direct in ipairs({ true, false }) do
  describe(("callbacks under random programs (seed %d, %s)"):format(SEED,
           direct and "stubs" or "libffi closures"), function()
    it("agree with the model", function()
      local old = ctypes.callback_config({ direct = direct, report = false })
      local pick = newrng(SEED)
      local values, errors = 0, 0
      for trial = 1, TRIALS do
        local seed = pick(1000000) + 1
        local a, b, c, n = pick(NCB) + 1, pick(NCB) + 1, pick(NCB) + 1, pick(4) + 1
        local want = outcome(model(seed), a, b, c, n)
        local got = outcome(real(seed), a, b, c, n)
        if got ~= want then
          ctypes.callback_config(old)
          error(("trial %d (seed %d): got %s, want %s"):format(trial, seed,
                got, want), 0)
        end
        if want:match("^value") then values = values + 1
        else errors = errors + 1 end
      end
      ctypes.callback_config(old)
      -- the programs exercise both outcomes
      assert.is_true(values > TRIALS / 10, "values: " .. values)
      assert.is_true(errors > TRIALS / 10, "errors: " .. errors)
    end)
  end)
end
