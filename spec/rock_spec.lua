-- The release: `make dist` builds the tarball, the .src.rock and a binary
-- .rock from the checkout; each rock installs into a fresh tree with no
-- network, and require("ctypes") from that tree calls C.
local helper = require("spec.helper")
local q = helper.quote

local VERSION = "0.1.0-1"
-- the Lua version under test (make test LUA=lua5.3 installs for 5.3)
local V = _VERSION:match("%d+%.%d+")
local NAME = "ctypes-0.1.0"
-- the platform LuaRocks names binary rocks by ("linux-x86_64" here)
local PLATFORM = (function()
  local ok, out = helper.run("luarocks --lua-version " .. V .. " config arch")
  assert(ok, out)
  return out:match("^%s*(.-)%s*$")
end)()

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function lines(text)
  local t = {}
  for line in text:gmatch("[^\n]+") do t[#t + 1] = line end
  return t
end

-- A command with the network cut off: a new network namespace (only a
-- loopback that is down) when user namespaces are allowed; otherwise every
-- proxy variable points at a closed port (curl and wget, which LuaRocks
-- downloads with, honour them).
local offline
local function without_network(cmd)
  if offline == nil then
    offline = helper.run("unshare -rn true") and "unshare -rn sh -c " or false
  end
  if offline then return offline .. q(cmd) end
  local dead = "http://127.0.0.1:9"
  return "http_proxy=" .. dead .. " https_proxy=" .. dead .. " HTTP_PROXY=" ..
    dead .. " HTTPS_PROXY=" .. dead .. " ftp_proxy=" .. dead .. " " .. cmd
end

-- the Lua under test with only `tree` on the module paths, run outside the repository
local function lua_in(tree, dir, code)
  local lpath = tree .. "/share/lua/" .. V .. "/?.lua;" .. tree .. "/share/lua/" .. V .. "/?/init.lua"
  local cpath = tree .. "/lib/lua/" .. V .. "/?.so"
  return helper.run("cd " .. q(dir) .. " && LUA_PATH=" .. q(lpath) ..
    " LUA_CPATH=" .. q(cpath) .. " " .. helper.lua .. " -e " .. q(code))
end

-- a real call through the installed module: libc's snprintf and strlen
local CALL = [[
  local ctypes = require("ctypes")
  local libc = ctypes.CDLL(nil)
  local buf = ctypes.create_string_buffer(32)
  libc.snprintf.argtypes = { ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p }
  libc.snprintf(buf, 32, "%s %d", "rock", 42)
  io.write(package.searchpath("ctypes.core", package.cpath), " ",
           buf.value, " ", libc.strlen(buf))
]]

describe("make dist", function()
  local tmp, dist, ok_dist, dist_out

  setup(function()
    tmp = helper.tmpdir("dist")
    dist = tmp .. "/dist"
    -- DIST= keeps the checkout's build/dist as it is
    ok_dist, dist_out = helper.run("cd " .. q(helper.root) ..
      " && make -s dist LUA_VERSION=" .. V .. " DIST=" .. q(dist))
  end)

  teardown(function()
    if tmp and tmp:match("^/tmp/ctypes%-dist%.") then
      helper.run("rm -rf " .. q(tmp))
    end
  end)

  it("builds the tarball, the rockspec, a .src.rock and a binary .rock", function()
    assert.is_true(ok_dist, dist_out)
    local ok, out = helper.run("cd " .. q(dist) .. " && ls -1")
    assert.is_true(ok, out)
    assert.same({ NAME .. "-1." .. PLATFORM .. ".rock", NAME .. "-1.rockspec",
                  NAME .. "-1.src.rock", NAME .. ".tar.gz" }, lines(out))
    -- the .src.rock is what `luarocks pack` writes: the rockspec and the
    -- tarball, unchanged
    ok, out = helper.run("cd " .. q(tmp) .. " && mkdir src.rock && cd src.rock && unzip -q " ..
      q(dist .. "/" .. NAME .. "-1.src.rock") .. " && ls -1")
    assert.is_true(ok, out)
    assert.same({ NAME .. "-1.rockspec", NAME .. ".tar.gz" }, lines(out))
    assert.equal(read(dist .. "/" .. NAME .. ".tar.gz"),
                 read(tmp .. "/src.rock/" .. NAME .. ".tar.gz"))
    assert.equal(read(helper.root .. "/rockspec/" .. NAME .. "-1.rockspec"),
                 read(tmp .. "/src.rock/" .. NAME .. "-1.rockspec"))
  end)

  it("puts the checkout's files under ctypes-0.1.0/ in the tarball", function()
    assert.is_true(ok_dist, dist_out)
    local ok, out = helper.run("tar tzf " .. q(dist .. "/" .. NAME .. ".tar.gz"))
    assert.is_true(ok, out)
    local have = {}
    for _, name in ipairs(lines(out)) do
      assert.equal(NAME .. "/", name:sub(1, #NAME + 1))
      have[name:sub(#NAME + 2)] = true
    end
    -- what every checkout has, and in a git checkout every file git tracks
    local ok2, files = helper.run("cd " .. q(helper.root) .. " && ls -1 Makefile LICENSE " ..
      "README.md .busted .luacheckrc rockspec/*.rockspec src/*.c src/*.h lua/ctypes/*.lua " ..
      "spec/*.lua spec/fixtures/*.c doc/*.md examples/*.lua && " ..
      "if git rev-parse --git-dir >/dev/null 2>&1; then git ls-files; fi")
    assert.is_true(ok2, files)
    for _, name in ipairs(lines(files)) do
      local fh = io.open(helper.root .. "/" .. name)
      if fh then
        fh:close()
        assert.is_true(have[name] == true, "not in the tarball: " .. name)
      end
    end
    -- nothing built
    for name in pairs(have) do
      assert.is_nil(name:match("%.so$") or name:match("%.o$") or name:match("^build"), name)
    end
  end)

  it("makes the same tarball twice from the same checkout", function()
    assert.is_true(ok_dist, dist_out)
    local again = tmp .. "/again"
    local ok, out = helper.run("cd " .. q(helper.root) ..
      " && make -s dist LUA_VERSION=" .. V .. " DIST=" .. q(again))
    assert.is_true(ok, out)
    local a, b = read(dist .. "/" .. NAME .. ".tar.gz"), read(again .. "/" .. NAME .. ".tar.gz")
    -- (compared without printing the bytes when they differ)
    assert.is_true(a == b, ("the tarballs differ: %d and %d bytes"):format(#a, #b))
  end)

  it("installs the .src.rock into a fresh tree with no network", function()
    assert.is_true(ok_dist, dist_out)
    local tree = tmp .. "/tree-src"
    local ok, out = helper.run(without_network("cd " .. q(tmp) ..
      " && luarocks --lua-version " .. V .. " install --tree " .. q(tree) .. " " ..
      q(dist .. "/" .. NAME .. "-1.src.rock")))
    assert.is_true(ok, out)
    assert.matches("ctypes " .. VERSION:gsub("%-", "%%-") .. " is now installed", out)
    ok, out = lua_in(tree, tmp, CALL)
    assert.is_true(ok, out)
    assert.equal(tree .. "/lib/lua/" .. V .. "/ctypes/core.so rock 42 7", out)
    -- `luarocks pack` of the installed rock gives a binary rock again
    ok, out = helper.run("cd " .. q(tmp) .. " && luarocks --lua-version " .. V .. " pack --tree " ..
      q(tree) .. " ctypes " .. VERSION .. " && unzip -l " .. q(NAME .. "-1." .. PLATFORM .. ".rock"))
    assert.is_true(ok, out)
    assert.matches("lib/ctypes/core%.so", out)
    assert.matches("lua/ctypes/init%.lua", out)
  end)

  it("installs the binary .rock into a fresh tree with no network", function()
    assert.is_true(ok_dist, dist_out)
    local tree = tmp .. "/tree-bin"
    local ok, out = helper.run(without_network("cd " .. q(tmp) ..
      " && luarocks --lua-version " .. V .. " install --tree " .. q(tree) .. " " ..
      q(dist .. "/" .. NAME .. "-1." .. PLATFORM .. ".rock")))
    assert.is_true(ok, out)
    assert.matches("ctypes " .. VERSION:gsub("%-", "%%-") .. " is now installed", out)
    assert.is_nil(out:find("gcc", 1, true), out)   -- nothing compiled
    -- every Lua module of the checkout is in the tree
    local ok2, list = helper.run("cd " .. q(helper.root) .. " && ls lua/ctypes/*.lua")
    assert.is_true(ok2, list)
    for _, file in ipairs(lines(list)) do
      local fh = io.open(tree .. "/share/lua/" .. V .. "/ctypes/" .. file:match("[^/]+$"))
      assert.is_truthy(fh, "not installed: " .. file)
      fh:close()
    end
    ok, out = lua_in(tree, tmp, CALL)
    assert.is_true(ok, out)
    assert.equal(tree .. "/lib/lua/" .. V .. "/ctypes/core.so rock 42 7", out)
  end)

  it("would fail without the network cut off if it had tried to download", function()
    -- the cut-off itself works: a download through it fails
    local ok, out = helper.run(without_network(
      "curl -sS -m 5 -o /dev/null http://deb.debian.org/ || wget -q -T 5 -O /dev/null http://deb.debian.org/"))
    assert.is_false(ok, out)
  end)
end)

describe("the rockspecs", function()
  local function load(name)
    local env = {}
    assert(loadfile(helper.root .. "/rockspec/" .. name, "t", env))()
    return env
  end

  it("name no path of this machine", function()
    for _, name in ipairs({ "ctypes-scm-1.rockspec", NAME .. "-1.rockspec" }) do
      local text = read(helper.root .. "/rockspec/" .. name)
      assert.is_nil(text:find("file:///", 1, true), name)
      assert.is_nil(text:find(helper.root, 1, true), name)
      assert.is_nil(text:find("/work/", 1, true), name)
      assert.is_nil(text:find("/tmp/", 1, true), name)
    end
  end)

  it("agree on everything but version and source", function()
    local scm, rel = load("ctypes-scm-1.rockspec"), load(NAME .. "-1.rockspec")
    assert.equal("scm-1", scm.version)
    assert.equal(VERSION, rel.version)
    assert.same({ url = NAME .. ".tar.gz", dir = NAME }, rel.source)
    for _, key in ipairs({ "package", "rockspec_format", "description", "dependencies",
                           "external_dependencies", "build", "test" }) do
      assert.same(scm[key], rel[key], key)
    end
    assert.same({ "lua >= 5.3, < 5.5" }, rel.dependencies)
  end)

  it("match the Makefile's VERSION", function()
    local mk = read(helper.root .. "/Makefile")
    assert.equal("0.1.0", mk:match("\nVERSION%s*:=%s*(%S+)"))
    assert.equal("1", mk:match("\nROCKREV%s*:=%s*(%S+)"))
  end)
end)
