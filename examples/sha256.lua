-- sha256.lua: message digests with OpenSSL's libcrypto (libcrypto.so.3,
-- Debian's libssl3): a one-shot EVP_Digest writing into a buffer with its
-- length as an out parameter (byref), a digest looked up by name (a string
-- in), and a streaming digest through an EVP_MD_CTX handle, freed by the
-- collector as a last resort.
local ctypes = require("ctypes")
local util = require("ctypes.util")

local c_int, c_uint, c_size_t, c_char_p, c_void_p =
  ctypes.c_int, ctypes.c_uint, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p
local POINTER, byref = ctypes.POINTER, ctypes.byref

local crypto = ctypes.CDLL(util.find_library("crypto"))
print("loaded " .. crypto._name)

local EVP_MAX_MD_SIZE = 64              -- <openssl/evp.h>

local function declare(name, restype, ...)
  local f = crypto[name]
  f.restype, f.argtypes = restype, { ... }
  return f
end

-- const EVP_MD *EVP_sha256(void): an opaque pointer, kept as c_void_p
local EVP_sha256 = declare("EVP_sha256", c_void_p)
-- const EVP_MD *EVP_get_digestbyname(const char *name)
local EVP_get_digestbyname = declare("EVP_get_digestbyname", c_void_p, c_char_p)
-- int EVP_Digest(const void *data, size_t count, unsigned char *md,
--                unsigned int *size, const EVP_MD *type, ENGINE *impl)
local EVP_Digest = declare("EVP_Digest", c_int, c_char_p, c_size_t, c_char_p,
                           POINTER(c_uint), c_void_p, c_void_p)

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- digest(md, data) -> the digest as lowercase hex
local function digest(md, data)
  local out = ctypes.create_string_buffer(EVP_MAX_MD_SIZE)
  local size = c_uint()                 -- unsigned int *size: filled in
  assert(EVP_Digest(data, #data, out, byref(size), md, nil) == 1)
  -- .raw is every byte of the buffer (.value would stop at a zero byte)
  return hex(out.raw:sub(1, size.value)), size.value
end

local sha256 = EVP_sha256()
for _, text in ipairs({ "", "abc", "The quick brown fox jumps over the lazy dog" }) do
  print(("sha256(%q) = %s"):format(text, digest(sha256, text)))
end

-- Lua strings may hold any bytes: #data counts them all
local h, n = digest(sha256, "\0\1\2\255")
print(("sha256 of 4 bytes with zeros: %s (%d bytes)"):format(h, n))

-- a digest by name; NULL (nil) for an unknown name
local sha512 = EVP_get_digestbyname("sha512")
print("sha512(\"abc\") = " .. digest(sha512, "abc"))
print("EVP_get_digestbyname(\"no-such-digest\") = " .. tostring(EVP_get_digestbyname("no-such-digest")))

-- Streaming: an EVP_MD_CTX from EVP_MD_CTX_new, updated chunk by chunk.
local EVP_MD_CTX_new = declare("EVP_MD_CTX_new", c_void_p)
local EVP_MD_CTX_free = declare("EVP_MD_CTX_free", nil, c_void_p)
local EVP_DigestInit_ex = declare("EVP_DigestInit_ex", c_int, c_void_p, c_void_p, c_void_p)
local EVP_DigestUpdate = declare("EVP_DigestUpdate", c_int, c_void_p, c_char_p, c_size_t)
local EVP_DigestFinal_ex = declare("EVP_DigestFinal_ex", c_int, c_void_p, c_char_p, POINTER(c_uint))

-- A Lua object owning the handle: closed explicitly (or by <close>), and
-- by __gc if the program forgets
local Hasher = {}
Hasher.__index = Hasher
function Hasher.new(md)
  local self = setmetatable({ ctx = assert(EVP_MD_CTX_new()) }, Hasher)
  assert(EVP_DigestInit_ex(self.ctx, md, nil) == 1)
  return self
end
function Hasher:update(data)
  assert(EVP_DigestUpdate(self.ctx, data, #data) == 1)
  return self
end
function Hasher:final()
  local out, size = ctypes.create_string_buffer(EVP_MAX_MD_SIZE), c_uint()
  assert(EVP_DigestFinal_ex(self.ctx, out, byref(size)) == 1)
  return hex(out.raw:sub(1, size.value))
end
function Hasher:close()
  if self.ctx then EVP_MD_CTX_free(self.ctx); self.ctx = nil end
end
Hasher.__close, Hasher.__gc = Hasher.close, Hasher.close

do
  -- (with Lua 5.4, `local hasher <close> = ...` closes it at the block's end)
  local hasher = Hasher.new(sha256)
  for _ = 1, 1000 do hasher:update(("a"):rep(1000)) end
  print("sha256 of a million 'a', in 1000 updates = " .. hasher:final())
  hasher:close()
end
print("one-shot, same input = " .. digest(sha256, ("a"):rep(1000000)))
