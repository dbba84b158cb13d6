-- zlib.lua: checksums and a compress/uncompress round trip with the system
-- zlib (libz.so.1, part of every Debian system), found by its short name.
local ctypes = require("ctypes")
local util = require("ctypes.util")

local c_int, c_ulong, c_uint, c_char_p, c_void_p =
  ctypes.c_int, ctypes.c_ulong, ctypes.c_uint, ctypes.c_char_p, ctypes.c_void_p

local libz = ctypes.CDLL(util.find_library("z"))
print("loaded " .. libz._name)

-- uLong crc32(uLong crc, const Bytef *buf, uInt len); adler32 alike
for _, name in ipairs({ "crc32", "adler32" }) do
  local f = libz[name]
  f.argtypes, f.restype = { c_ulong, c_char_p, c_uint }, c_ulong
end
local text = "The quick brown fox jumps over the lazy dog"
print(("crc32   = 0x%08x"):format(libz.crc32(0, text, #text)))
print(("adler32 = 0x%08x"):format(libz.adler32(1, text, #text)))

-- uLong compressBound(uLong sourceLen)
-- int compress2(Bytef *dest, uLongf *destLen, const Bytef *source,
--               uLong sourceLen, int level)
-- int uncompress(Bytef *dest, uLongf *destLen, const Bytef *source,
--                uLong sourceLen)
libz.compressBound.argtypes = { c_ulong }
libz.compressBound.restype = c_ulong
libz.compress2.argtypes = { c_void_p, ctypes.POINTER(c_ulong), c_char_p, c_ulong, c_int }
libz.uncompress.argtypes = { c_void_p, ctypes.POINTER(c_ulong), c_void_p, c_ulong }

local Z_OK, Z_BEST_COMPRESSION = 0, 9
local source = ("lua-ctypes calls C without a compiler. "):rep(50)

local packed = ctypes.create_string_buffer(libz.compressBound(#source))
local packed_len = c_ulong(ctypes.sizeof(packed))
assert(libz.compress2(packed, ctypes.byref(packed_len), source, #source,
                      Z_BEST_COMPRESSION) == Z_OK)
print(("compressed %d bytes to %d"):format(#source, packed_len.value))

local unpacked = ctypes.create_string_buffer(#source)
local unpacked_len = c_ulong(#source)
assert(libz.uncompress(unpacked, ctypes.byref(unpacked_len), packed,
                       packed_len.value) == Z_OK)
print(("uncompressed %d bytes, same as the source: %s")
      :format(unpacked_len.value, tostring(unpacked.raw == source)))
