-- ctypes.memory: buffer constructors, clearer in Lua than in C.
local core = require("ctypes.core")

local type, error, tostring = type, error, tostring
local math_type, utf8_len = math.type, utf8.len
local c_char, c_wchar = core.c_char, core.c_wchar

-- how messages name a value (ctypes objects by their ctypes repr)
local function describe(v)
  local t = math_type(v) or type(v)
  if t == "userdata" then return tostring(v) end
  return t == "float" and "number" or t
end

local M = {}

local function buffer(fname, elem, length_of, init, size)
  if size ~= nil and math_type(size) ~= "integer" then
    error(("TypeError: %s: size must be an integer, got %s")
          :format(fname, describe(size)), 3)
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
        :format(fname, describe(init)), 3)
end

function M.create_string_buffer(init, size)
  return buffer("create_string_buffer", c_char, function(s) return #s end,
                init, size)
end

function M.create_unicode_buffer(init, size)
  return buffer("create_unicode_buffer", c_wchar, utf8_len, init, size)
end

return M
