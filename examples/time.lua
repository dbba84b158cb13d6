-- time.lua: libc's calendar functions with a struct tm -- gmtime_r fills a
-- structure through a pointer, strftime formats it into a buffer, timegm
-- normalises it and turns it back into seconds.
local ctypes = require("ctypes")

local c_int, c_long, c_char_p, c_size_t =
  ctypes.c_int, ctypes.c_long, ctypes.c_char_p, ctypes.c_size_t
local time_t = c_long            -- time_t is a long on Linux

-- struct tm as <time.h> declares it on glibc
local tm = ctypes.Structure("tm", {
  _fields_ = {
    { "tm_sec", c_int }, { "tm_min", c_int }, { "tm_hour", c_int },
    { "tm_mday", c_int }, { "tm_mon", c_int }, { "tm_year", c_int },
    { "tm_wday", c_int }, { "tm_yday", c_int }, { "tm_isdst", c_int },
    { "tm_gmtoff", c_long }, { "tm_zone", c_char_p },
  },
  -- a method: "2023-11-14 22:13:20"
  iso = function(self)
    return ("%04d-%02d-%02d %02d:%02d:%02d"):format(self.tm_year + 1900,
      self.tm_mon + 1, self.tm_mday, self.tm_hour, self.tm_min, self.tm_sec)
  end,
})

local libc = ctypes.CDLL(nil)

-- struct tm *gmtime_r(const time_t *, struct tm *)
local gmtime_r = libc.gmtime_r
gmtime_r.argtypes = { ctypes.POINTER(time_t), ctypes.POINTER(tm) }
gmtime_r.restype = ctypes.POINTER(tm)

-- size_t strftime(char *, size_t, const char *, const struct tm *)
local strftime = libc.strftime
strftime.argtypes = { c_char_p, c_size_t, c_char_p, ctypes.POINTER(tm) }
strftime.restype = c_size_t

-- time_t timegm(struct tm *)
local timegm = libc.timegm
timegm.argtypes = { ctypes.POINTER(tm) }
timegm.restype = time_t

local function format(t, fmt)
  local buf = ctypes.create_string_buffer(128)
  local n = strftime(buf, ctypes.sizeof(buf), fmt, ctypes.byref(t))
  return buf.value, n
end

local seconds = time_t(1700000000)
local t = tm()
local r = gmtime_r(ctypes.byref(seconds), ctypes.byref(t))
print(("gmtime_r returned its second argument: %s")
      :format(tostring(ctypes.addressof(r.contents) == ctypes.addressof(t))))
print("1700000000 is " .. t:iso() .. " " .. t.tm_zone)
print(("day %d of the year, weekday %d"):format(t.tm_yday + 1, t.tm_wday))
local text, n = format(t, "%A %d %B %Y, %H:%M:%S %Z")
print(("strftime (%d bytes): %s"):format(n, text))

-- out-of-range fields are normalised by timegm, in place
t.tm_mday = t.tm_mday + 100
t.tm_hour = t.tm_hour + 30
local later = timegm(ctypes.byref(t))
print(("100 days and 30 hours later: %s (%d seconds, %d more)")
      :format(t:iso(), later, later - seconds.value))
print((format(t, "that is a %A")))
