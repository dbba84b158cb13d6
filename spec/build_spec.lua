-- The rock: `luarocks make` installs ctypes into a fresh tree, offline, and
-- the installed module works and does not link liblua.
local helper = require("spec.helper")
local q = helper.quote
-- the Lua version under test (the rock is built and the core compiled for it)
local V = _VERSION:match("%d+%.%d+")

-- the names a shared object exports (defined dynamic symbols)
local function exported(path)
  local ok, out = helper.run("nm -D --defined-only " .. q(path))
  assert(ok, out)
  local names = {}
  for name in out:gmatch("%S+ %u (%S+)") do names[#names + 1] = name end
  return names
end

-- the libraries a shared object needs (its DT_NEEDED entries, one a line):
-- readelf reads the ELF file of any architecture, where ldd runs the loader
-- (which fails on a cross-built one)
local function needed(path)
  local ok, out = helper.run("readelf -d " .. q(path))
  local names = {}
  for name in out:gmatch("%(NEEDED%)%s+Shared library: %[([^%]]+)%]") do
    names[#names + 1] = name
  end
  return ok, table.concat(names, "\n")
end

describe("the ctypes rock", function()
  local tmp, tree, ok_make, make_out

  setup(function()
    local ok, out = helper.run("mktemp -d /tmp/ctypes-rock.XXXXXX")
    assert(ok, out)
    tmp = out:match("^%s*(.-)%s*$")
    tree = tmp .. "/tree"
    -- Build from a copy of the sources: `luarocks make` compiles in place
    -- and must not leave objects in (or race a `make` on) the work tree.
    local root = helper.root
    assert(helper.run("mkdir -p " .. q(tmp .. "/src") .. " && cp -r " ..
      q(root .. "/src") .. " " .. q(root .. "/lua") .. " " ..
      q(root .. "/rockspec") .. " " .. q(tmp .. "/src")))
    ok_make, make_out = helper.run("cd " .. q(tmp .. "/src") ..
      " && luarocks --lua-version " .. V .. " make rockspec/ctypes-scm-1.rockspec" ..
      " --tree " .. q(tree))
  end)

  teardown(function()
    if tmp and tmp:match("^/tmp/ctypes%-rock%.") then
      helper.run("rm -rf " .. q(tmp))
    end
  end)

  it("installs with luarocks make into a fresh tree", function()
    assert.is_true(ok_make, make_out)
    assert.matches("ctypes scm%-1 is now installed", make_out)
    for _, f in ipairs({
      "/lib/lua/" .. V .. "/ctypes/core.so",
      "/share/lua/" .. V .. "/ctypes/init.lua",
      "/share/lua/" .. V .. "/ctypes/memory.lua",
      "/share/lua/" .. V .. "/ctypes/struct.lua",
      "/share/lua/" .. V .. "/ctypes/library.lua",
      "/share/lua/" .. V .. "/ctypes/util.lua",
    }) do
      local fh = io.open(tree .. f, "rb")
      assert.is_truthy(fh, "not installed: " .. f)
      fh:close()
    end
  end)

  it("is usable with require('ctypes') from that tree alone", function()
    assert.is_true(ok_make, make_out)
    -- Only the tree on the paths, and run outside the repository, so
    -- nothing from the work tree can be picked up.
    local lpath = tree .. "/share/lua/" .. V .. "/?.lua;" ..
                  tree .. "/share/lua/" .. V .. "/?/init.lua"
    local cpath = tree .. "/lib/lua/" .. V .. "/?.so"
    local code = [[
      local ctypes = require("ctypes")
      local util = require("ctypes.util")
      io.write(package.searchpath("ctypes.core", package.cpath), " ",
               ctypes.sizeof(ctypes.c_int), " ", ctypes.c_int(42).value, " ",
               type(util.find_library))
    ]]
    local ok, out = helper.run("cd " .. q(tmp) .. " && LUA_PATH=" .. q(lpath) ..
      " LUA_CPATH=" .. q(cpath) .. " " .. helper.lua .. " -e " .. q(code))
    assert.is_true(ok, out)
    assert.equal(tree .. "/lib/lua/" .. V .. "/ctypes/core.so 4 42 function", out)
  end)

  it("builds a core.so that links libffi and not liblua", function()
    assert.is_true(ok_make, make_out)
    local ok, out = needed(tree .. "/lib/lua/" .. V .. "/ctypes/core.so")
    assert.is_true(ok, out)
    assert.matches("libffi%.so", out)
    assert.is_nil(out:find("liblua", 1, true), out)
  end)

  it("exports only luaopen_ctypes_core from the rock's core.so too", function()
    -- LuaRocks builds with its own flags (no -fvisibility=hidden): the
    -- header's visibility pragma keeps the ct_* functions internal.
    assert.is_true(ok_make, make_out)
    assert.same({ "luaopen_ctypes_core" },
                exported(tree .. "/lib/lua/" .. V .. "/ctypes/core.so"))
  end)
end)

describe("rockspec/ctypes-scm-1.rockspec", function()
  -- A rockspec cannot glob: this catches a source added or removed without
  -- updating it.
  local function ls(pattern)
    local ok, out = helper.run("cd " .. q(helper.root) .. " && ls -1 " .. pattern)
    assert(ok, out)
    local list = {}
    for name in out:gmatch("[^\n]+") do list[#list + 1] = name end
    table.sort(list)
    return list
  end

  local spec = {}
  assert(loadfile(helper.root .. "/rockspec/ctypes-scm-1.rockspec", "t", spec))()

  it("builds ctypes.core from every src/*.c", function()
    local core = spec.build.modules["ctypes.core"]
    local sources = { table.unpack(core.sources) }
    table.sort(sources)
    assert.same(ls("src/*.c"), sources)
    assert.same({ "ffi" }, core.libraries)
    assert.same({ library = "ffi" }, spec.external_dependencies.FFI)
  end)

  it("installs every lua/ctypes/*.lua under its module name", function()
    local expected = {}
    for _, file in ipairs(ls("lua/ctypes/*.lua")) do
      local base = file:match("^lua/ctypes/(.-)%.lua$")
      expected[base == "init" and "ctypes" or ("ctypes." .. base)] = file
    end
    local got = {}
    for name, m in pairs(spec.build.modules) do
      if type(m) == "string" then got[name] = m end
    end
    assert.same(expected, got)
  end)
end)

describe("the C core", function()
  it("compiles without a warning (-std=c11 -O2 -Wall -Wextra)", function()
    -- The same flags as the Makefile; every file in parallel, into /dev/null.
    local ok, out = helper.run("cd " .. q(helper.root) .. " && " ..
      "flags=\"-std=c11 -O2 -fPIC -Wall -Wextra -fvisibility=hidden " ..
      "$(pkg-config --cflags lua" .. V .. " libffi)\"; " ..
      "for f in src/*.c; do gcc $flags -c \"$f\" -o /dev/null & done; wait")
    assert.is_true(ok, out)
    assert.equal("", out)
  end)
end)

describe("make's core.so", function()
  it("links libffi and not liblua", function()
    local ok, out = needed(helper.build_dir .. "/ctypes/core.so")
    assert.is_true(ok, out)
    assert.matches("libffi%.so", out)
    assert.is_nil(out:find("liblua", 1, true), out)
  end)

  it("exports luaopen_ctypes_core and nothing else", function()
    assert.same({ "luaopen_ctypes_core" },
                exported(helper.build_dir .. "/ctypes/core.so"))
  end)
end)

describe("the test summary (spec/support)", function()
  local tmp

  setup(function()
    local ok, out = helper.run("mktemp -d /tmp/ctypes-summary.XXXXXX")
    assert(ok, out)
    tmp = out:match("^%s*(.-)%s*$")
  end)

  teardown(function()
    if tmp and tmp:match("^/tmp/ctypes%-summary%.") then
      helper.run("rm -rf " .. q(tmp))
    end
  end)

  local function write(name, text)
    local f = assert(io.open(tmp .. "/" .. name, "w"))
    f:write(text)
    f:close()
    return tmp .. "/" .. name
  end

  -- runs summary.lua; returns its last line and whether it exited 0
  local function summary(args)
    local ok, out = helper.run(helper.lua .. " " ..
      q(helper.root .. "/spec/support/summary.lua") .. " " .. args)
    return out:match("([^\n]*)$"), ok, out
  end

  it("sums passes and counts failures, errors and pending as failed", function()
    local a = write("a", "passed=3 failed=1 errors=1 pending=1\n")
    local b = write("b", "passed=2 failed=0 errors=0 pending=0\n")
    local line, ok = summary(q(a) .. " " .. q(b))
    assert.equal("5 passed, 3 failed", line)
    assert.is_false(ok)
    line, ok = summary(q(b))
    assert.equal("2 passed, 0 failed", line)
    assert.is_true(ok)
  end)

  it("fails a run that did not finish, or did not run, or ran nothing", function()
    local c = write("c", "incomplete passed=7 failed=0 errors=0 pending=0\n")
    local line, ok, out = summary(q(c))
    assert.equal("7 passed, 1 failed", line)
    assert.is_false(ok)
    assert.matches("the run did not finish", out)
    line, ok = summary(q(tmp .. "/missing"))
    assert.equal("0 passed, 1 failed", line)
    assert.is_false(ok)
    local z = write("z", "passed=0 failed=0 errors=0 pending=0\n")
    line, ok, out = summary(q(z))
    assert.equal("0 passed, 0 failed", line)
    assert.is_false(ok)
    assert.matches("no test ran", out)
  end)

  it("fails on a sanitizer report or an unexplained exit status", function()
    local b = write("b", "passed=2 failed=0 errors=0 pending=0\n")
    assert(helper.run("mkdir -p " .. q(tmp .. "/logs")))
    local line, ok = summary("--reports " .. q(tmp .. "/logs") .. " " .. q(b))
    assert.equal("2 passed, 0 failed", line)
    assert.is_true(ok)
    write("logs/asan.123", "==123==ERROR: LeakSanitizer: detected memory leaks\n")
    local out
    line, ok, out = summary("--reports " .. q(tmp .. "/logs") .. " --status 1 " .. q(b))
    assert.equal("2 passed, 1 failed", line)  -- the report explains the status
    assert.is_false(ok)
    assert.matches("LeakSanitizer", out)
    line, ok = summary("--status 1 " .. q(b))
    assert.equal("2 passed, 1 failed", line)
    assert.is_false(ok)
  end)

  it("gets its counts from busted through spec/support/output.lua", function()
    assert(helper.run("mkdir -p " .. q(tmp .. "/specs")))
    write("specs/good_spec.lua", [[
      describe("good", function()
        it("passes", function() assert.equal(1, 1) end)
        it("passes too", function() assert.is_true(true) end)
      end)]])
    write("specs/bad_spec.lua", [[
      describe("bad", function()
        it("fails", function() assert.equal(1, 2) end)
        it("errors", function() error("boom") end)
      end)]])
    write("specs/broken_spec.lua", "describe(\"broken\", function(\n")
    local counts = tmp .. "/counts"
    local ok = helper.run("cd " .. q(tmp) .. " && CTYPES_COUNTS=" .. q(counts) ..
      " busted --lua=" .. helper.lua .. " -o " ..
      q(helper.root .. "/spec/support/output.lua") .. " specs")
    assert.is_false(ok)
    local f = assert(io.open(counts))
    local text = f:read("a")
    f:close()
    assert.equal("passed=2 failed=1 errors=2 pending=0\n", text)
  end)
end)

describe("README.md", function()
  it("has an example that runs and prints what its comments say", function()
    local f = assert(io.open(helper.root .. "/README.md"))
    local text = f:read("a")
    f:close()
    local code = assert(text:match("```lua\n(.-)```"), "no lua block")
    local expected = {}
    for line in code:gmatch("[^\n]+") do
      local shown = line:match("%-%->%s*(.-)%s*$")
      if shown then expected[#expected + 1] = shown end
    end
    assert.is_true(#expected >= 2)
    local script = os.tmpname()
    local sf = assert(io.open(script, "w"))
    sf:write(code)
    sf:close()
    local ok, out = helper.run(helper.lua_command(q(script)))
    os.remove(script)
    assert.is_true(ok, out)
    assert.equal(table.concat(expected, "\n"), out)
  end)
end)
