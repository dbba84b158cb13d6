-- quickstart.lua: load libc and libm, declare a few of their functions and
-- call them -- no C compiler, no binding code. Run with `make demo`.
local ctypes = require("ctypes")
local util = require("ctypes.util")

local c_int, c_double, c_char_p, c_size_t =
  ctypes.c_int, ctypes.c_double, ctypes.c_char_p, ctypes.c_size_t

-- The process itself holds libc; libm is found by its short name.
local libc = ctypes.CDLL(nil)
local libm = ctypes.CDLL(util.find_library("m"))
print("loaded " .. libm._name)

-- double cos(double), double pow(double, double)
local cos, pow = libm.cos, libm.pow
cos.argtypes, cos.restype = { c_double }, c_double
pow.argtypes, pow.restype = { c_double, c_double }, c_double
print(("cos(0) = %.1f, cos(pi) = %.1f, pow(2, 10) = %.1f")
      :format(cos(0), cos(math.pi), pow(2, 10)))

-- size_t strlen(const char *)
local strlen = libc.strlen
strlen.argtypes, strlen.restype = { c_char_p }, c_size_t
print("strlen(\"hello, world\") = " .. strlen("hello, world"))

-- int snprintf(char *, size_t, const char *, ...): the arguments after the
-- declared ones are variadic and convert by their Lua type
local snprintf = libc.snprintf
snprintf.argtypes = { c_char_p, c_size_t, c_char_p }
local buf = ctypes.create_string_buffer(64)
local n = snprintf(buf, ctypes.sizeof(buf), "%s has %d sides and %.3f radians",
                   "a hexagon", 6, 2 * math.pi)
print(("snprintf wrote %d bytes: %s"):format(n, buf.value))

-- div_t div(int, int): a structure returned by value
local div_t = ctypes.Structure("div_t", {
  _fields_ = { { "quot", c_int }, { "rem", c_int } },
})
local div = libc.div
div.argtypes, div.restype = { c_int, c_int }, div_t
local d = div(47, 5)
print(("div(47, 5) = { quot = %d, rem = %d }"):format(d.quot, d.rem))

-- void qsort(void *, size_t, size_t, int (*)(const void *, const void *)),
-- with a Lua function as the comparator
local IntP = ctypes.POINTER(c_int)
local CMP = ctypes.CFUNCTYPE(c_int, IntP, IntP)
local qsort = libc.qsort
qsort.argtypes = { ctypes.c_void_p, c_size_t, c_size_t, CMP }
qsort.restype = nil
local numbers = (c_int * 8)(42, 7, -3, 19, 0, 88, 5, 23)
local by_value = CMP(function(a, b) return a[0] - b[0] end)
qsort(numbers, #numbers, ctypes.sizeof(c_int), by_value)
local sorted = {}
for i = 0, #numbers - 1 do sorted[#sorted + 1] = numbers[i] end
print("qsort: " .. table.concat(sorted, " "))

-- errno: functions of a library opened with use_errno swap it in and out
local libc_errno = ctypes.CDLL(nil, { use_errno = true })
local strtol = libc_errno.strtol
strtol.argtypes, strtol.restype = { c_char_p, ctypes.c_void_p, c_int }, ctypes.c_long
local strerror = libc.strerror
strerror.argtypes, strerror.restype = { c_int }, c_char_p
ctypes.set_errno(0)
local big = strtol("123456789012345678901234567890", nil, 10)
print(("strtol overflowed to %d: errno %d (%s)")
      :format(big, ctypes.get_errno(), strerror(ctypes.get_errno())))
