-- ctypes.util: find_library(name), as Python's ctypes.util on Linux.
--
-- Where a library is looked for, in order:
--   1. the loader cache (`ldconfig -p`), entries built for this process's
--      architecture (checked in each file's ELF header, so /lib32 and other
--      multilib entries never answer for a 64-bit Lua);
--   2. the directories of LD_LIBRARY_PATH, then the standard directories
--      (/lib/<triplet>, /usr/lib/<triplet>, /lib64, /usr/lib64, /lib,
--      /usr/lib): files lib<name>.so and lib<name>.so.*;
--   3. the C compiler's linker (`gcc -Wl,-t -l<name>`), as ctypes does.
-- The answer is the library's SONAME (read from its ELF dynamic section), a
-- name dlopen finds by itself, or -- for a library found by the linker in a
-- directory the loader does not search -- its absolute path. nil when
-- nothing is found.
local type, ipairs, error, tostring = type, ipairs, error, tostring
local io_open, io_popen, os_getenv, os_tmpname, os_remove =
  io.open, io.popen, os.getenv, os.tmpname, os.remove
local string_unpack = string.unpack
local math_type = math.type
local table_concat = table.concat

local M = {}

-- {==================================================================
-- ELF files: header, architecture, SONAME
-- ===================================================================

-- The ELF header of an open file: { class = 1|2, E = "<"|">",
-- machine = e_machine, f = file } or nil if it is not ELF.
local function elf_open(path)
  local f = io_open(path, "rb")
  if not f then return nil end
  local h = f:read(64)
  if not h or #h < 52 or h:sub(1, 4) ~= "\127ELF" then
    f:close()
    return nil
  end
  local class, data = h:byte(5), h:byte(6)
  if (class ~= 1 and class ~= 2) or (data ~= 1 and data ~= 2) or
     (class == 2 and #h < 64) then
    f:close()
    return nil
  end
  local E = data == 1 and "<" or ">"
  return { class = class, E = E, machine = string_unpack(E .. "I2", h, 19),
           h = h, f = f }
end

-- The architecture of this process (the Lua interpreter), or nil when
-- /proc is not there: then every architecture is accepted.
local self_arch
do
  local e = elf_open("/proc/self/exe")
  if e then
    e.f:close()
    self_arch = { class = e.class, E = e.E, machine = e.machine }
  end
end

local function same_arch(e)
  return self_arch == nil or (e.class == self_arch.class and
    e.E == self_arch.E and e.machine == self_arch.machine)
end

-- Reads n bytes at offset off of the file, or nil.
local function read_at(f, off, n)
  if off < 0 or not f:seek("set", off) then return nil end
  local s = f:read(n)
  if not s or #s < n then return nil end
  return s
end

-- The DT_SONAME of an open ELF file, or nil. Uses the program headers, as
-- the loader does: PT_DYNAMIC gives the dynamic entries, DT_STRTAB an
-- address that the PT_LOAD segments map back to a file offset.
local function elf_soname(e)
  local E, h, f = e.E, e.h, e.f
  local wide = e.class == 2
  local addr = wide and "I8" or "I4"
  local phoff, phentsize, phnum
  if wide then
    phoff = string_unpack(E .. "I8", h, 33)
    phentsize, phnum = string_unpack(E .. "I2I2", h, 55)
  else
    phoff = string_unpack(E .. "I4", h, 29)
    phentsize, phnum = string_unpack(E .. "I2I2", h, 43)
  end
  if phnum == 0 or phentsize < (wide and 56 or 32) then return nil end
  local ph = read_at(f, phoff, phentsize * phnum)
  if not ph then return nil end
  local loads, dyn_off, dyn_size = {}, nil, nil
  for i = 0, phnum - 1 do
    local base = i * phentsize + 1
    local ptype, offset, vaddr, filesz
    if wide then
      ptype = string_unpack(E .. "I4", ph, base)
      offset, vaddr = string_unpack(E .. "I8I8", ph, base + 8)
      filesz = string_unpack(E .. "I8", ph, base + 32)
    else
      ptype, offset, vaddr = string_unpack(E .. "I4I4I4", ph, base)
      filesz = string_unpack(E .. "I4", ph, base + 16)
    end
    if ptype == 1 then                                  -- PT_LOAD
      loads[#loads + 1] = { vaddr = vaddr, offset = offset, size = filesz }
    elseif ptype == 2 then                              -- PT_DYNAMIC
      dyn_off, dyn_size = offset, filesz
    end
  end
  if not dyn_off or dyn_size > 1 << 20 then return nil end
  local dyn = read_at(f, dyn_off, dyn_size)
  if not dyn then return nil end
  local entry = wide and 16 or 8
  local tagfmt = E .. (wide and "i8" or "i4") .. addr
  local strtab, soname
  for base = 1, #dyn - entry + 1, entry do
    local tag, val = string_unpack(tagfmt, dyn, base)
    if tag == 0 then break                              -- DT_NULL
    elseif tag == 5 then strtab = val                   -- DT_STRTAB
    elseif tag == 14 then soname = val                  -- DT_SONAME
    end
  end
  if not strtab or not soname then return nil end
  for _, l in ipairs(loads) do
    if strtab >= l.vaddr and strtab < l.vaddr + l.size then
      if not f:seek("set", strtab - l.vaddr + l.offset + soname) then
        return nil
      end
      return (f:read(256) or ""):match("^([^%z]+)%z")
    end
  end
  return nil
end

-- For a library file: ok (an ELF file of this architecture), its SONAME.
local function inspect(path)
  local e = elf_open(path)
  if not e then return false end
  local ok = same_arch(e)
  local soname = ok and elf_soname(e) or nil
  e.f:close()
  return ok, soname
end

-- }==================================================================


-- {==================================================================
-- Helpers
-- ===================================================================

local function quote(s)
  return "'" .. s:gsub("'", [['\'']]) .. "'"
end

local function escape(s)   -- literal text in a Lua pattern
  return (s:gsub("%p", "%%%0"))
end

local function run(cmd)
  local p = io_popen(cmd, "r")
  if not p then return "" end
  local out = p:read("a") or ""
  p:close()
  return out
end

local function exists(path)
  local f = io_open(path, "rb")
  if f then f:close() return true end
  return false
end

-- "/a/b/../c/" -> "/a/c" (lexically; used to compare directories)
local function normalize(path)
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." then
      if #parts > 0 then parts[#parts] = nil end
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  return "/" .. table_concat(parts, "/")
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

-- The directories dlopen searches without a cache entry: LD_LIBRARY_PATH
-- (read at start-up, as the loader does) and the standard ones.
local function search_dirs()
  local dirs, seen = {}, {}
  local function add(d)
    if d ~= "" and d:sub(1, 1) == "/" then
      d = normalize(d)
      if not seen[d] then seen[d] = true; dirs[#dirs + 1] = d end
    end
  end
  for d in (os_getenv("LD_LIBRARY_PATH") or ""):gmatch("[^:;]+") do add(d) end
  -- multiarch directories (x86_64-linux-gnu, aarch64-linux-gnu, ...): the
  -- ELF check skips the ones of other architectures
  local multi = run("for d in /lib/*-linux-* /usr/lib/*-linux-*; do " ..
                    "[ -d \"$d\" ] && printf '%s\\n' \"$d\"; done 2>/dev/null")
  for d in multi:gmatch("[^\n]+") do add(d) end
  for _, d in ipairs({ "/lib64", "/usr/lib64", "/lib", "/usr/lib" }) do add(d) end
  return dirs, seen
end

-- The name to give back for a library file found in directory dir.
local function answer(path, soname, loader_dirs)
  local dir = normalize(dirname(path))
  if soname and soname:find("/", 1, true) == nil then
    if loader_dirs[dir] and exists(dir .. "/" .. soname) then return soname end
    if exists(dir .. "/" .. soname) then return dir .. "/" .. soname end
  end
  if loader_dirs[dir] then return path:match("[^/]+$") end
  return exists(normalize(path)) and normalize(path) or path
end

-- }==================================================================


-- {==================================================================
-- The three searches
-- ===================================================================

local function from_ldconfig(name)
  local out = run("export LC_ALL=C LANG=C; /sbin/ldconfig -p 2>/dev/null || " ..
                  "ldconfig -p 2>/dev/null")
  local pat = "^%s+(lib" .. escape(name) .. "%.%S+)%s+%(([^)]*)%)%s+=>%s+(.-)%s*$"
  for line in out:gmatch("[^\n]+") do
    local entry, _, path = line:match(pat)
    if entry then
      local ok, soname = inspect(path)
      if ok then return soname or entry end
    end
  end
  return nil
end

local function from_dirs(name, dirs, loader_dirs)
  local list = {}
  for _, d in ipairs(dirs) do list[#list + 1] = quote(d) end
  local lib = quote("lib" .. name .. ".so")
  -- lib<name>.so first (a development link), then the versioned files
  local out = run("for d in " .. table_concat(list, " ") .. "; do " ..
                  "for f in \"$d\"/" .. lib .. " \"$d\"/" .. lib .. ".*; do " ..
                  "[ -f \"$f\" ] && printf '%s\\n' \"$f\"; done; done 2>/dev/null")
  for path in out:gmatch("[^\n]+") do
    local ok, soname = inspect(path)
    if ok then return answer(path, soname, loader_dirs) end
  end
  return nil
end

local function from_linker(name, loader_dirs)
  local tmp = os_tmpname()
  local out = run("LC_ALL=C LANG=C; export LC_ALL LANG; " ..
                  "cc=$(command -v gcc || command -v cc) && " ..
                  "\"$cc\" -Wl,-t -o " .. quote(tmp) .. " -l" .. quote(name) ..
                  " 2>&1")
  os_remove(tmp)
  local pat = "[^()%s]*lib" .. escape(name) .. "%.[^()%s]*"
  for path in out:gmatch(pat) do
    local ok, soname = inspect(path)
    if ok then return answer(path, soname, loader_dirs) end
  end
  return nil
end

-- }==================================================================


function M.find_library(name)
  if type(name) ~= "string" then
    local got = math_type(name) or type(name)
    if got == "userdata" then got = tostring(name) end
    error("TypeError: find_library: name must be a string, got " ..
          (got == "float" and "number" or got), 2)
  end
  if name == "" or name:find("[/%z]") then return nil end
  local found = from_ldconfig(name)
  if found then return found end
  local dirs, loader_dirs = search_dirs()
  return from_dirs(name, dirs, loader_dirs) or from_linker(name, loader_dirs)
end

return M
