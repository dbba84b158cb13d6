-- walk.lua: libc's nftw walks a directory tree and calls a Lua function for
-- every entry -- a callback taking a string, pointers and an int, whose
-- result steers the walk. mkdtemp fills a buffer, mkdir and remove are
-- called from inside the callback (a foreign call within a callback).
local ctypes = require("ctypes")

local c_int, c_char_p, c_void_p, c_uint =
  ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_uint
local libc = ctypes.CDLL(nil)

-- <ftw.h> on glibc
local FTW_F, FTW_D, FTW_DP = 0, 1, 5                 -- typeflag values
local FTW_PHYS, FTW_DEPTH, FTW_ACTIONRETVAL = 1, 8, 16
local FTW_CONTINUE, FTW_SKIP_SUBTREE = 0, 2
local FTW = ctypes.Structure("FTW", {
  _fields_ = { { "base", c_int }, { "level", c_int } },
})

-- int (*)(const char *path, const struct stat *sb, int typeflag, struct FTW *)
local VISIT = ctypes.CFUNCTYPE(c_int, c_char_p, c_void_p, c_int,
                               ctypes.POINTER(FTW))
local nftw = libc.nftw
nftw.argtypes = { c_char_p, VISIT, c_int, c_int }
nftw.restype = c_int

local mkdtemp = libc.mkdtemp
mkdtemp.argtypes = { c_char_p }   -- writes into the buffer it is given
mkdtemp.restype = c_char_p
local mkdir = libc.mkdir
mkdir.argtypes = { c_char_p, c_uint }
mkdir.restype = c_int
local remove = libc.remove
remove.argtypes = { c_char_p }
remove.restype = c_int

-- a fresh directory: mkdtemp replaces the XXXXXX in place
local template = ctypes.create_string_buffer("/tmp/walk-XXXXXX")
local root = assert(mkdtemp(template), "mkdtemp failed")
print("mkdtemp filled in its buffer: " .. tostring(template.value == root))

-- the tree: three directories, one of them skipped below, and five files
for _, dir in ipairs({ "src", "src/lib", "skip" }) do
  assert(mkdir(root .. "/" .. dir, tonumber("755", 8)) == 0)
end
for _, file in ipairs({ "README", "src/main.c", "src/lib/util.c",
                        "skip/a.tmp", "skip/b.tmp" }) do
  assert(io.open(root .. "/" .. file, "w")):close()
end

-- walk it: count what is seen, skip the "skip" directory's contents
local files, dirs, deepest, seen = 0, 0, 0, {}
local visit = VISIT(function(path, _, typeflag, ftw)
  local level = ftw.contents.level
  if level > deepest then deepest = level end
  seen[#seen + 1] = path:sub(#root + 2)
  if typeflag == FTW_D then
    dirs = dirs + 1
    if path:sub(ftw.contents.base + 1) == "skip" then return FTW_SKIP_SUBTREE end
  elseif typeflag == FTW_F then
    files = files + 1
  end
  return FTW_CONTINUE
end)
assert(nftw(root, visit, 8, FTW_PHYS | FTW_ACTIONRETVAL) == 0)
table.sort(seen)
print(("walked %d entries: %d files, %d directories, deepest level %d"):format(
  #seen, files, dirs, deepest))
print("seen: " .. table.concat(seen, " ", 2))   -- seen[1] is the root ("")

-- remove it all: depth first, so a directory comes after its contents; the
-- callback calls remove() itself
local removed = 0
local cleanup = VISIT(function(path, _, typeflag)
  assert(typeflag == FTW_F or typeflag == FTW_DP)
  if remove(path) == 0 then removed = removed + 1 end
  return FTW_CONTINUE
end)
assert(nftw(root, cleanup, 8, FTW_PHYS | FTW_DEPTH) == 0)
ctypes.release(visit)
ctypes.release(cleanup)
print(("removed %d entries; the directory is gone: %s"):format(removed,
  tostring(io.open(root) == nil)))
