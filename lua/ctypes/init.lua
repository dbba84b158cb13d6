-- ctypes: the public module. The C core (ctypes.core) does the work; the
-- Lua modules below add what is clearer in Lua. Each returns a table of
-- public names, merged here. Nothing here is on a hot path.
local pairs, ipairs = pairs, ipairs

local M = {}
for _, part in ipairs({
  (require("ctypes.core")),
  (require("ctypes.library")),
  (require("ctypes.handle")),
  { cdef = require("ctypes.cdef").cdef },
}) do
  -- names starting with "_" are the core's private entry points (for the
  -- Lua modules and the specs): they stay in ctypes.core only
  for k, v in pairs(part) do
    if type(k) ~= "string" or k:sub(1, 1) ~= "_" then M[k] = v end
  end
end

return M
