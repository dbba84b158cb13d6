-- ctypes.library: library loaders (ctypes' LibraryLoader and `cdll`).
-- CDLL itself, symbol lookup and in_dll live in C (src/library.c); a
-- loader only decides when to call it and caches what it made.
local core = require("ctypes.core")

local type, error, rawset, setmetatable, getmetatable, select, tostring =
  type, error, rawset, setmetatable, getmetatable, select, tostring
local math_type = math.type

-- how messages name a value (ctypes objects by their ctypes repr; a
-- library is a table whose protected metatable says so)
local function describe(v)
  local t = math_type(v) or type(v)
  if t == "userdata" or getmetatable(v) == "ctypes.Library" then
    return tostring(v)
  end
  return t == "float" and "number" or t
end

local M = {}

-- LibraryLoader(dlltype): loader[name] loads dlltype(name) once and
-- caches it; loader.LoadLibrary(name, ...) loads a new one every time.
local function LibraryLoader(dlltype)
  if type(dlltype) ~= "function" and
     not (type(dlltype) == "table" and getmetatable(dlltype) and
          getmetatable(dlltype).__call) then
    error("TypeError: LibraryLoader: expected a library type such as " ..
          "CDLL, got " .. describe(dlltype), 2)
  end
  local loader = {}
  -- loader.LoadLibrary(name) and loader:LoadLibrary(name) both work
  loader.LoadLibrary = function(...)
    if select("#", ...) > 0 and (...) == loader then
      return dlltype(select(2, ...))
    end
    return dlltype(...)
  end
  return setmetatable(loader, {
    __index = function(self, name)
      if type(name) ~= "string" then
        error("TypeError: library name must be a string, got " ..
              describe(name), 2)
      end
      -- as ctypes: no library is named like a private attribute
      if name:sub(1, 1) == "_" then
        error("AttributeError: " .. name, 2)
      end
      local lib = dlltype(name)
      rawset(self, name, lib)
      return lib
    end,
    __tostring = function() return "<LibraryLoader>" end,
  })
end

M.LibraryLoader = LibraryLoader
M.cdll = LibraryLoader(core.CDLL)

return M
