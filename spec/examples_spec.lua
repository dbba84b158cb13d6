-- The examples: each examples/*.lua runs in a fresh lua5.4 and prints
-- exactly the lines below (values checked against C and Python's zlib and
-- time modules when they were written; walk.lua builds its own tree;
-- netdb.lua's against the same getaddrinfo calls in C, sqlite3.lua's
-- against Python's sqlite3 module, sha256.lua's against Python's hashlib).
local helper = require("spec.helper")

-- LONG_MAX of the C compiler that built the fixture
local LONG_MAX = helper.platform.long_max

local expected = {
  ["netdb.lua"] = {
    'getaddrinfo("localhost", "8080"), AF_INET:',
    "  AF_INET SOCK_STREAM/tcp 127.0.0.1 port 8080 canonname localhost",
    "  AF_INET SOCK_DGRAM/udp 127.0.0.1 port 8080",
    "  AF_INET SOCK_RAW/0 127.0.0.1 port 8080",
    'getaddrinfo("::1", "443"), SOCK_STREAM:',
    "  AF_INET6 SOCK_STREAM/tcp ::1 port 443",
    'getaddrinfo("192.0.2.7", NULL, NULL): 3 entries, first 192.0.2.7 port 0',
    'getaddrinfo("not an address"), AI_NUMERICHOST:',
    "  error: Name or service not known",
  },
  ["quickstart.lua"] = {
    "loaded libm.so.6",
    "cos(0) = 1.0, cos(pi) = -1.0, pow(2, 10) = 1024.0",
    "strlen(\"hello, world\") = 12",
    "snprintf wrote 39 bytes: a hexagon has 6 sides and 6.283 radians",
    "div(47, 5) = { quot = 9, rem = 2 }",
    "qsort: -3 0 5 7 19 23 42 88",
    "strtol overflowed to " .. LONG_MAX .. ": errno 34 (Numerical result out of range)",
  },
  ["sha256.lua"] = {
    "loaded libcrypto.so.3",
    'sha256("") = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    'sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    'sha256("The quick brown fox jumps over the lazy dog") = ' ..
      "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592",
    "sha256 of 4 bytes with zeros: " ..
      "3d1f57c984978ef98a18378c8166c1cb8ede02c03eeb6aee7e2f121dfeee3e56 (32 bytes)",
    'sha512("abc") = ddaf35a193617abacc417349ae20413112e6fa4e89a97ea2' ..
      "0a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    'EVP_get_digestbyname("no-such-digest") = nil',
    "sha256 of a million 'a', in 1000 updates = " ..
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
    "one-shot, same input = cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
  },
  ["sqlite3.lua"] = {
    "loaded libsqlite3.so.0",
    "opened :memory:, handle is not NULL: true",
    "inserted 3 rows",
    "row: integer 1, integer 9007199254740993, text \"alpha\", float 3.25, blob x'0001feff'",
    "row: integer 2, integer -1099511627776, text \"naïve\", float -0.5, blob x''",
    "row: integer 3, null NULL, null NULL, null NULL, null NULL",
    "exec: id=1 eman=ahpla",
    "exec: id=2 eman=evïan",
    "exec: id=3 eman=NULL",
    "exec called back 3 times",
    "duplicate key: false, UNIQUE constraint failed: item.id",
    'bad SQL: false, near "SELEC": syntax error',
    "closed; sqlite released reverse(): true",
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
