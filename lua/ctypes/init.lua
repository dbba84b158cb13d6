-- ctypes: the public module. The C core (ctypes.core) does the work; the
-- sugar modules below add what is clearer in Lua. Nothing here is on a hot
-- path.
local core = require("ctypes.core")

local pairs = pairs

local M = {}
for k, v in pairs(core) do M[k] = v end

require("ctypes.memory")(M, core)
require("ctypes.struct")(M, core)
require("ctypes.library")(M, core)
for k, v in pairs(require("ctypes.handle")) do M[k] = v end
M.cdef = require("ctypes.cdef").cdef

return M
