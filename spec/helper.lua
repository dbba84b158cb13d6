-- Shared by the specs:  local helper = require("spec.helper")
--
--   helper.fixture     absolute path of the C fixture library (the ASan build
--                      under `make asan`)
--   helper.root        absolute path of the repository
--   helper.build_dir   build/ or build-asan/ (absolute), holds ctypes/core.so
--   helper.fxmod()     the fixture's Lua C module (spec/fixtures/lua/fxmod.c)
--   helper.asan        true under `make asan`
--   helper.lua         the interpreter under test, for child processes:
--                      $CTYPES_LUA (make test LUA=lua5.3, make test-cross) or
--                      lua5.4
--   helper.lua_command(args)   shell command running helper.lua with the same
--                      module paths (and, under ASan, the sanitizer runtimes)
--   helper.preload     LD_PRELOAD for such a child ("" outside ASan)
--   helper.run(cmd)    runs a shell command: ok, output (stdout+stderr), code
--   helper.quote(s)    a string quoted for the shell
--   helper.tmpdir(name)  a new scratch directory /tmp/ctypes-<name>.XXXXXX
--   helper.gc()        two full collections
--   helper.fixture_copy(dir)   a private copy of the fixture in dir (its own
--                      dlopen reference count)
--   helper.mapped(path)  whether this process has path mapped
--   helper.oracle(kind, name)  the fixture's fx_<kind>_<name>() (gcc's
--                      sizeof/alignof/offsetof numbers)
--   helper.platform    platform facts from the fixture (spec/fixtures/
--                      fx_platform.c), never hard-coded: big_endian,
--                      bits_msb_first, char_signed, s16d_by_reference,
--                      s16d_result_in_memory (booleans), long_size,
--                      pointer_size, longlong_align, double_align,
--                      longdouble_size (numbers); long_max, long_min,
--                      ulong_max (ULONG_MAX as Lua sees it: -1 where long has
--                      64 bits) from long_size
local M = {}

local getenv = os.getenv

local function dirname(p)
  return p:match("^(.*)/[^/]*$") or "."
end

local function absolute(p)
  if p:sub(1, 1) == "/" then return p end
  local ok, lfs = pcall(require, "lfs")
  local cwd = ok and lfs.currentdir() or getenv("PWD") or "."
  p = p:gsub("^%./", "")
  if p == "." or p == "" then return cwd end
  return cwd .. "/" .. p
end

-- The repository is the parent of this file's directory.
local source = debug.getinfo(1, "S").source:gsub("^@", "")
M.root = absolute(dirname(dirname(source)))

local build = getenv("CTYPES_BUILD_DIR")
if build == nil or build == "" then build = "build" end
M.build_dir = build:sub(1, 1) == "/" and build or (M.root .. "/" .. build)
M.asan = (getenv("CTYPES_ASAN_PRELOAD") or "") ~= ""

local fixture = getenv("CTYPES_FIXTURE")
if fixture == nil or fixture == "" then
  fixture = M.root .. "/spec/fixtures/libfixture.so"
end
M.fixture = fixture

function M.fxmod()
  return assert(package.loadlib(M.build_dir .. "/fxmod.so", "luaopen_fxmod"))()
end

M.lua = getenv("CTYPES_LUA")
if M.lua == nil or M.lua == "" then M.lua = "lua5.4" end
M.lua_path = M.root .. "/lua/?.lua;" .. M.root .. "/lua/?/init.lua;;"
M.lua_cpath = M.build_dir .. "/?.so;;"

function M.quote(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

-- Under `make asan` LD_PRELOAD is removed from the environment once lua5.4
-- has started (so gcc, sh, ... run by specs are not sanitized and do not
-- report their own leaks); a Lua child that loads the ASan core needs the
-- runtimes again, and the same shim.
-- helper.preload: the LD_PRELOAD value such a child needs ("" outside ASan).
M.preload = M.asan and (getenv("CTYPES_ASAN_PRELOAD") .. " " .. M.build_dir ..
  "/noinherit.so") or ""

function M.lua_command(args)
  local env = "LUA_PATH=" .. M.quote(M.lua_path) ..
              " LUA_CPATH=" .. M.quote(M.lua_cpath)
  if M.asan then
    env = "LD_PRELOAD=" .. M.quote(M.preload) .. " " .. env
  end
  return env .. " " .. M.lua .. " " .. args
end

function M.run(cmd)
  local p = assert(io.popen("(" .. cmd .. ") 2>&1; printf '\\n__status=%d\\n' $?", "r"))
  local out = p:read("a")
  p:close()
  local code = tonumber(out:match("\n__status=(%d+)\n?$")) or -1
  out = out:gsub("\n?\n__status=%d+\n?$", "")
  return code == 0, out, code
end

-- A new scratch directory /tmp/ctypes-<name>.XXXXXX (the caller removes it)
function M.tmpdir(name)
  local ok, out = M.run("mktemp -d /tmp/ctypes-" .. name .. ".XXXXXX")
  assert(ok, out)
  return out:match("^%s*(.-)%s*$")
end

function M.gc()
  collectgarbage("collect")
  collectgarbage("collect")
end

-- runs f(direct) twice: with the register call paths (direct = true) and
-- with them switched off, every call through libffi (direct = false)
function M.bothpaths(f)
  local core = require("ctypes.core")
  for _, direct in ipairs({ true, false }) do
    core._calls_direct(direct)
    local ok, err = pcall(f, direct)
    core._calls_direct(true)
    if not ok then error(err, 0) end
  end
end

-- A private copy of the fixture: its own dlopen reference count, so that a
-- spec can watch it being mapped and unmapped.
local copies = 0
function M.fixture_copy(dir)
  copies = copies + 1
  local path = dir .. "/libfxcopy" .. copies .. ".so"
  local ok, out = M.run("cp " .. M.quote(M.fixture) .. " " .. M.quote(path))
  assert(ok, out)
  return path
end

function M.mapped(path)
  local f = assert(io.open("/proc/self/maps", "r"))
  local maps = f:read("a")
  f:close()
  return maps:find(path, 1, true) ~= nil
end

-- The C compiler's number for a fixture declaration: the fixture exports
-- `size_t fx_<kind>_<name>(void)` (kind: sizeof, alignof, offsetof_<T>, ...).
local fixture_lib
function M.oracle(kind, name)
  local ctypes = require("ctypes")
  fixture_lib = fixture_lib or ctypes.CDLL(M.fixture)
  local f = fixture_lib["fx_" .. kind .. "_" .. name]
  f.restype = ctypes.c_size_t
  f.argtypes = {}
  return f()
end

local facts = {
  big_endian = { "platform", "big_endian", true },
  bits_msb_first = { "platform", "bits_msb_first", true },
  char_signed = { "platform", "char_signed", true },
  s16d_by_reference = { "platform", "s16d_by_reference", true },
  s16d_result_in_memory = { "platform", "s16d_result_in_memory", true },
  long_size = { "sizeof", "c_long" },
  pointer_size = { "sizeof", "c_void_p" },
  longlong_align = { "alignof", "c_longlong" },
  double_align = { "alignof", "c_double" },
  longdouble_size = { "sizeof", "c_longdouble" },
}
local derived = {
  long_max = function(p) return (1 << (8 * p.long_size - 1)) - 1 end,
  long_min = function(p) return -p.long_max - 1 end,
  ulong_max = function(p) return p.long_size == 8 and -1 or (1 << (8 * p.long_size)) - 1 end,
}
M.platform = setmetatable({}, { __index = function(t, k)
  if derived[k] then
    local v = derived[k](t)
    rawset(t, k, v)
    return v
  end
  local f = facts[k]
  if not f then error("helper.platform: no fact " .. tostring(k), 2) end
  local v = M.oracle(f[1], f[2])
  if f[3] then v = v ~= 0 end
  rawset(t, k, v)
  return v
end })

return M
