-- ctypes.memory: buffer constructors, clearer in Lua than in C.
local core = require("ctypes.core")

local type, error, math_type, utf8_len = type, error, math.type, utf8.len
local c_char, c_wchar = core.c_char, core.c_wchar

local M = {}

local function buffer(fname, elem, length_of, init, size)
  if size ~= nil and math_type(size) ~= "integer" then
    error(("TypeError: %s: size must be an integer, got %s")
          :format(fname, math_type(size) and "number" or type(size)), 3)
  end
  if type(init) == "string" then
    local n = length_of(init)
    if n == nil then
      error(("ValueError: %s: string is not valid UTF-8"):format(fname), 3)
    end
    size = size or n + 1
    if size < n then
      error(("ValueError: %s: string too long (%d, buffer of %d)")
            :format(fname, n, size), 3)
    end
    return (elem * size)(init)
  elseif math_type(init) == "integer" and size == nil then
    if init < 0 then
      error(("ValueError: %s: size must be >= 0, got %d"):format(fname, init), 3)
    end
    return (elem * init)()
  end
  error(("TypeError: %s: expected a string or an integer size, got %s")
        :format(fname, math_type(init) and "number" or type(init)), 3)
end

function M.create_string_buffer(init, size)
  return buffer("create_string_buffer", c_char, function(s) return #s end,
                init, size)
end

function M.create_unicode_buffer(init, size)
  return buffer("create_unicode_buffer", c_wchar, utf8_len, init, size)
end

return M
