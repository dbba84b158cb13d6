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
    tmp = helper.tmpdir("rock")
    tree = tmp .. "/tree"
    -- Build from a copy of the sources, so as not to race a `make` on the
    -- work tree; the copy shows what `luarocks make` leaves behind.
    local root = helper.root
    assert(helper.run("mkdir -p " .. q(tmp .. "/src") .. " && cp -r " ..
      q(root .. "/src") .. " " .. q(root .. "/lua") .. " " ..
      q(root .. "/rockspec") .. " " .. q(root .. "/Makefile") .. " " .. q(tmp .. "/src")))
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
    -- the core and every lua/ctypes/*.lua of the checkout
    local files = { "/lib/lua/" .. V .. "/ctypes/core.so" }
    local ok, list = helper.run("cd " .. q(helper.root) .. " && ls lua/ctypes/*.lua")
    assert(ok, list)
    for file in list:gmatch("[^\n]+") do
      files[#files + 1] = "/share/lua/" .. V .. "/ctypes/" .. file:match("[^/]+$")
    end
    assert.is_true(#files >= 6)
    for _, f in ipairs(files) do
      local fh = io.open(tree .. f, "rb")
      assert.is_truthy(fh, "not installed: " .. f)
      fh:close()
    end
  end)

  it("leaves no object or module beside the sources", function()
    assert.is_true(ok_make, make_out)
    local ok, out = helper.run("cd " .. q(tmp .. "/src") ..
      " && find . -name '*.o' -o -name '*.so' | grep -v '^./build/rock/' | sort")
    assert.is_true(ok, out)
    assert.equal("", out)
    ok, out = helper.run("cd " .. q(tmp .. "/src") .. " && ls -d ctypes src/*.o 2>&1")
    assert.is_false(ok, out)
    -- and `make clean` takes build/rock/ away with the rest of build/
    ok, out = helper.run("cd " .. q(tmp .. "/src") .. " && make -s clean && ls -d build 2>&1")
    assert.is_false(ok, out)
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
  -- A builtin rockspec would have to list every source file; this one hands
  -- the build to the Makefile (`make rock`, `make rock-install`), which
  -- takes every src/*.c and lua/ctypes/*.lua (the install above checks the
  -- Lua modules, the C core test below every src/*.c).
  local spec = {}
  assert(loadfile(helper.root .. "/rockspec/ctypes-scm-1.rockspec", "t", spec))()

  it("builds with the Makefile's rock targets and LuaRocks' variables", function()
    assert.equal("make", spec.build.type)
    assert.equal("rock", spec.build.build_target)
    assert.equal("rock-install", spec.build.install_target)
    assert.same({ LUADIR = "$(LUADIR)", LIBDIR = "$(LIBDIR)" }, spec.build.install_variables)
    assert.equal("$(LUA_INCDIR)", spec.build.build_variables.LUA_INCDIR)
    assert.same({ library = "ffi" }, spec.external_dependencies.FFI)
  end)

  it("compiles every src/*.c into the rock's core", function()
    local ok, out = helper.run("cd " .. q(helper.root) ..
      " && make -s -n -B rock LUA_INCDIR=/usr/include/lua5.4 | grep -o 'src/[a-z0-9_]*\\.c' | sort -u")
    assert.is_true(ok, out)
    local ok2, list = helper.run("cd " .. q(helper.root) .. " && ls -1 src/*.c | sort")
    assert.is_true(ok2, list)
    assert.equal(list, out)
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
    tmp = helper.tmpdir("summary")
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

-- the code of a page's ```lua blocks: the first one, or all of them in
-- order (one program)
local function lua_blocks(file, all)
  local f = assert(io.open(helper.root .. "/" .. file))
  local text = f:read("a")
  f:close()
  if not all then return assert(text:match("```lua\n(.-)```"), "no lua block") end
  local blocks = {}
  for block in text:gmatch("```lua\n(.-)```") do blocks[#blocks + 1] = block end
  assert(#blocks > 0, "no lua block")
  return table.concat(blocks)
end

-- runs code in a child lua5.4; its output must be the `-->` comments' text
local function runs_as_commented(code)
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
end

describe("doc/guide.md", function()
  it("has a first page whose code runs and prints what its comments say", function()
    runs_as_commented(lua_blocks("doc/guide.md", true))
  end)
end)

describe("README.md", function()
  it("has an example that runs and prints what its comments say", function()
    local code = lua_blocks("README.md")
    runs_as_commented(code)
  end)
end)
