-- The examples: each examples/*.lua runs in a fresh lua5.4 and prints
-- exactly the lines below (values checked against C and Python's zlib and
-- time modules when they were written; walk.lua builds its own tree).
local helper = require("spec.helper")

-- LONG_MAX of the C compiler that built the fixture
local LONG_MAX = helper.platform.long_max

local expected = {
  ["quickstart.lua"] = {
    "loaded libm.so.6",
    "cos(0) = 1.0, cos(pi) = -1.0, pow(2, 10) = 1024.0",
    "strlen(\"hello, world\") = 12",
    "snprintf wrote 39 bytes: a hexagon has 6 sides and 6.283 radians",
    "div(47, 5) = { quot = 9, rem = 2 }",
    "qsort: -3 0 5 7 19 23 42 88",
    "strtol overflowed to " .. LONG_MAX .. ": errno 34 (Numerical result out of range)",
  },
  ["time.lua"] = {
    "gmtime_r returned its second argument: true",
    "1700000000 is 2023-11-14 22:13:20 GMT",
    "day 318 of the year, weekday 2",
    "strftime (38 bytes): Tuesday 14 November 2023, 22:13:20 GMT",
    "100 days and 30 hours later: 2024-02-24 04:13:20 (1708748000 seconds, 8748000 more)",
    "that is a Saturday",
  },
  ["walk.lua"] = {
    "mkdtemp filled in its buffer: true",
    "walked 7 entries: 3 files, 4 directories, deepest level 3",
    "seen: README skip src src/lib src/lib/util.c src/main.c",
    "removed 9 entries; the directory is gone: true",
  },
  ["zlib.lua"] = {
    "loaded libz.so.1",
    "crc32   = 0x414fa339",
    "adler32 = 0x5bdc0fda",
    "compressed 1950 bytes to 65",
    "uncompressed 1950 bytes, same as the source: true",
  },
}

local function examples()
  local ok, out = helper.run("ls " .. helper.quote(helper.root .. "/examples"))
  assert(ok, out)
  local list = {}
  for name in out:gmatch("[^\n]+") do
    if name:match("%.lua$") then list[#list + 1] = name end
  end
  table.sort(list)
  return list
end

describe("examples", function()
  it("every example has its expected output here", function()
    local names = {}
    for name in pairs(expected) do names[#names + 1] = name end
    table.sort(names)
    assert.are.same(names, examples())
  end)

  for _, name in ipairs(examples()) do
    it(name .. " prints what it should", function()
      -- run from the examples directory's parent, as `make demo` does
      local ok, out, code = helper.run("cd " .. helper.quote(helper.root) .. " && " ..
                                       helper.lua_command(helper.quote("examples/" .. name)))
      assert.are.equal(0, code, out)
      assert.is_true(ok)
      local lines = {}
      for line in (out .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
      if lines[#lines] == "" then lines[#lines] = nil end
      assert.are.same(expected[name], lines)
    end)
  end
end)
