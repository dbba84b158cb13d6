-- luacheck settings (`make lint`: lua/ spec/ examples/ bench/).
-- Lua 5.4 everywhere; the specs also see busted's globals.
std = "lua54"
max_line_length = 120

-- Values set to nil to drop the last reference before a collection, and
-- tables filled only to make garbage: the point of the assignment is the
-- collector, which luacheck cannot see.
local gc_names = { "junk", "keep", "fn", "lib", "it", "src", "node2", "o", "cb" }
local gc_ignores = {}
for _, name in ipairs(gc_names) do
  gc_ignores[#gc_ignores + 1] = "231/" .. name   -- set, never read
  gc_ignores[#gc_ignores + 1] = "241/" .. name   -- mutated, never read
  gc_ignores[#gc_ignores + 1] = "311/" .. name   -- value unused (x = nil)
end

files["spec"] = {
  std = "+busted",
  ignore = gc_ignores,
}

-- The misuse generator calls entry points for their errors and side
-- effects: `local _ = a, b, c` evaluates all three (531), and the actions
-- are functions of one shape whose arguments some of them ignore (212).
files["spec/gen/misuse.lua"] = {
  ignore = { "212", "531" },
}
