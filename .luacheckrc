-- luacheck settings (`make lint`: lua/ spec/ examples/ bench/).
-- Lua 5.4 everywhere; the specs also see busted's globals.
std = "lua54"
max_line_length = 120

-- Values set to nil to drop the last reference before a collection, and
-- tables filled only to make garbage: the point of the assignment is the
-- collector, which luacheck cannot see.
local function gc_ignores(names)
  local ignores = {}
  for _, name in ipairs(names) do
    ignores[#ignores + 1] = "231/" .. name   -- set, never read
    ignores[#ignores + 1] = "241/" .. name   -- mutated, never read
    ignores[#ignores + 1] = "311/" .. name   -- value unused (x = nil)
  end
  return ignores
end

files["spec"] = {
  std = "+busted",
  ignore = gc_ignores({ "junk", "keep", "fn", "lib", "it", "src", "node2", "o", "cb" }),
}

-- The handle and ctypes.gc spec drops handles, gc'ed objects and the
-- objects those keep alive (h = nil, g = nil, ...) to watch the collector;
-- these names are too common to ignore across spec/ (this adds to the
-- settings above).
files["spec/handles_spec.lua"] = {
  ignore = gc_ignores({ "h", "h2", "g", "arr", "p", "mem" }),
}

-- The misuse generator calls entry points for their errors and side
-- effects: `local _ = a, b, c` evaluates all three (531), and the actions
-- are functions of one shape whose arguments some of them ignore (212).
files["spec/gen/misuse.lua"] = {
  ignore = { "212", "531" },
}
