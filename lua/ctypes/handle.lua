-- ctypes.handle: handles that carry a Lua value through a `void *`
-- (new_handle, from_handle) and finalizers attached to C memory (gc).
-- Nothing here is on a hot path.
--
-- A handle is a c_void_p instance whose value is the address of its own
-- payload: an address no other live object has. A table from addresses to
-- handles (weak values) finds the handle again; a table from handles to
-- values (weak keys: an ephemeron) keeps the value exactly as long as the
-- handle.
--
-- ctypes.gc(obj, f) returns a view of obj's memory (src/handle.c) that
-- keeps obj alive. A sentinel table with __gc, reachable only through the
-- view (an ephemeron entry), runs f(obj) when the view is collected; the
-- instances' __close runs it through src/handle.c's hook table.
local type, error, pcall, setmetatable, getmetatable, tostring =
  type, error, pcall, setmetatable, getmetatable, tostring
local math_type, string_format = math.type, string.format
local io_stderr = io.stderr

local core = require("ctypes.core")
local c_void_p, addressof, cast, is_null = core.c_void_p, core.addressof,
  core.cast, core.is_null
local gc_view, hooks = core._gc_view, core._gc_hooks
local core_errors, core_config = core.callback_errors, core.callback_config

local M = {}

local function describe(v)
  local t = math_type(v)
  if t == "float" then return "number" end
  if t then return t end
  -- (a library is a table whose protected metatable says so)
  if type(v) == "userdata" or getmetatable(v) == "ctypes.Library" then
    local ok, s = pcall(tostring, v)
    if ok and type(s) == "string" then
      return (s:match("^([%w_]+)%(") or s:match("^<([%w_]+)") or
              s:match("^([%w_]+)")) .. " instance"
    end
  end
  return type(v)
end

-- {==================================================================
-- Handles
-- ===================================================================

local live = setmetatable({}, { __mode = "v" })     -- address -> handle
local values = setmetatable({}, { __mode = "k" })   -- handle -> value
local NIL = {}                                      -- stands for nil

function M.new_handle(value)
  local h = c_void_p()
  local addr = addressof(h)
  h.value = addr
  live[addr] = h
  if value == nil then value = NIL end
  values[h] = value
  return h
end

function M.from_handle(p)
  local addr
  if math_type(p) == "integer" then
    addr = p
  elseif p == nil then
    addr = nil
  elseif type(p) == "userdata" and pcall(is_null, p) then
    -- a pointer instance (c_void_p, a handle, POINTER(T), c_char_p, ...)
    local ok, v = pcall(cast, p, c_void_p)
    if not ok then
      error("TypeError: from_handle: expected an address (integer, " ..
            "c_void_p or pointer), got " .. describe(p), 2)
    end
    addr = v.value
  else
    error("TypeError: from_handle: expected an address (integer, " ..
          "c_void_p or pointer), got " .. describe(p), 2)
  end
  if addr == nil then
    error("ValueError: from_handle: NULL is not a live handle", 2)
  end
  local h = live[addr]
  local v = h and values[h]
  if v == nil then
    error(string_format("ValueError: from_handle: 0x%x is not a live handle",
                        addr), 2)
  end
  if v == NIL then return nil end
  return v
end

-- }==================================================================


-- {==================================================================
-- Errors in finalizers: reported like callback errors that cannot reach
-- Lua (stderr unless callback_config{report = false}; counted by
-- callback_errors)
-- ===================================================================

local lost_n, lost_first = 0, nil

local function drain()
  local n, first = core_errors()
  if n > 0 then
    lost_n = lost_n + n
    if lost_first == nil then lost_first = first end
  end
end

local function lost(obj, err)
  drain()
  local what = describe(obj)
  local msg = tostring(err)
  lost_n = lost_n + 1
  if lost_first == nil then
    lost_first = "finalizer of " .. what .. " failed: " .. msg
  end
  if core_config().report then
    io_stderr:write("ctypes: exception ignored on calling finalizer of ",
                    what, ": ", msg, "\n")
  end
end

function M.callback_errors()
  drain()
  local n, first = lost_n, lost_first
  lost_n, lost_first = 0, nil
  return n, first
end

-- }==================================================================


-- {==================================================================
-- Finalizers
-- ===================================================================

local finalizers = setmetatable({}, { __mode = "k" })  -- view -> sentinel

local function run(s)
  if s.done then return end
  s.done = true
  local ok, err = pcall(s.fn, s.obj)
  if not ok then lost(s.obj, err) end
end

local Sentinel = { __gc = run }

local function onclose(view)
  local s = finalizers[view]
  finalizers[view] = nil
  hooks[view] = nil
  if s then run(s) end
end

local function callable(f)
  if type(f) == "function" then return true end
  if type(f) == "userdata" then
    -- foreign function objects (and callbacks): their tostring says so
    local ok, s = pcall(tostring, f)
    return ok and type(s) == "string" and
           (s:match("^<_FuncPtr object") or s:match("^<CFunctionType object"))
           ~= nil
  end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil
end

function M.gc(obj, finalizer)
  if finalizer == nil then
    local ok = pcall(addressof, obj)
    if not ok then
      error("TypeError: gc: expected a ctypes instance, got " ..
            describe(obj), 2)
    end
    local s = finalizers[obj]
    if s then
      s.done = true
      finalizers[obj] = nil
      hooks[obj] = nil
    end
    return obj
  end
  if not callable(finalizer) then
    error("TypeError: gc: finalizer must be a function, a function object " ..
          "or nil, got " .. describe(finalizer), 2)
  end
  local ok, view = pcall(gc_view, obj)
  if not ok then error((tostring(view):gsub("^[^:\n]*:%d+: ", "")), 2) end
  finalizers[view] = setmetatable({ obj = obj, fn = finalizer }, Sentinel)
  hooks[view] = onclose
  return view
end

-- }==================================================================

return M
