-- netdb.lua: name resolution with libc's getaddrinfo: a structure filled in
-- as hints, an out parameter through byref (the list getaddrinfo
-- allocates), walking a linked list of struct addrinfo, casting a
-- struct sockaddr * by its family, inet_ntop writing into a string buffer,
-- and gai_strerror for errors.  Only /etc/hosts and numeric addresses are
-- used, no DNS: the output is the same on any Linux machine.
local ctypes = require("ctypes")

local c_int, c_uint16, c_uint32, c_char_p, c_void_p =
  ctypes.c_int, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_char_p,
  ctypes.c_void_p
local POINTER, byref, cast = ctypes.POINTER, ctypes.byref, ctypes.cast

-- <sys/socket.h>, <netdb.h>, <netinet/in.h> (glibc, Linux)
local AF_INET = 2
local SOCK_NAMES = { "SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW" }
local IPPROTO_NAMES = { [0] = "0", [6] = "tcp", [17] = "udp" }
local AI_CANONNAME, AI_NUMERICHOST = 0x2, 0x4
local INET6_ADDRSTRLEN = 46

-- struct sockaddr { sa_family_t sa_family; char sa_data[14]; }
local sockaddr = ctypes.Structure("sockaddr", { _fields_ = {
  { "sa_family", ctypes.c_ushort },
  { "sa_data", ctypes.c_char * 14 },
} })
-- struct sockaddr_in: port and address in network byte order
local sockaddr_in = ctypes.Structure("sockaddr_in", { _fields_ = {
  { "sin_family", ctypes.c_ushort },
  { "sin_port", c_uint16 },
  { "sin_addr", ctypes.c_ubyte * 4 },   -- struct in_addr
  { "sin_zero", ctypes.c_char * 8 },
} })
local sockaddr_in6 = ctypes.Structure("sockaddr_in6", { _fields_ = {
  { "sin6_family", ctypes.c_ushort },
  { "sin6_port", c_uint16 },
  { "sin6_flowinfo", c_uint32 },
  { "sin6_addr", ctypes.c_ubyte * 16 },  -- struct in6_addr
  { "sin6_scope_id", c_uint32 },
} })

-- struct addrinfo links to itself: declare it, then give it its fields
local addrinfo = ctypes.Structure("addrinfo")
addrinfo._fields_ = {
  { "ai_flags", c_int },
  { "ai_family", c_int },
  { "ai_socktype", c_int },
  { "ai_protocol", c_int },
  { "ai_addrlen", c_uint32 },           -- socklen_t
  { "ai_addr", POINTER(sockaddr) },
  { "ai_canonname", c_char_p },
  { "ai_next", POINTER(addrinfo) },
}
-- The layout gcc gives <netdb.h>'s declaration: five 4-byte fields,
-- padding up to the pointers' alignment, three pointers (on x86-64:
-- sizeof 48, ai_addr at 24, ai_next at 40; struct sockaddr_in is 16 bytes
-- and struct sockaddr_in6 28, on every Linux)
local ptr = ctypes.sizeof(c_void_p)
assert(addrinfo.ai_addr.offset == (20 + ptr - 1) // ptr * ptr)
assert(ctypes.sizeof(addrinfo) == addrinfo.ai_addr.offset + 3 * ptr)
assert(ctypes.sizeof(sockaddr_in) == 16 and ctypes.sizeof(sockaddr_in6) == 28)

local libc = ctypes.CDLL(nil)
-- int getaddrinfo(const char *node, const char *service,
--                 const struct addrinfo *hints, struct addrinfo **res)
local getaddrinfo = libc.getaddrinfo
getaddrinfo.argtypes = { c_char_p, c_char_p, POINTER(addrinfo), POINTER(POINTER(addrinfo)) }
getaddrinfo.restype = c_int
local freeaddrinfo = libc.freeaddrinfo
freeaddrinfo.argtypes, freeaddrinfo.restype = { POINTER(addrinfo) }, nil
local gai_strerror = libc.gai_strerror
gai_strerror.argtypes, gai_strerror.restype = { c_int }, c_char_p
-- const char *inet_ntop(int af, const void *src, char *dst, socklen_t size)
local inet_ntop = libc.inet_ntop
inet_ntop.argtypes = { c_int, c_void_p, c_char_p, c_uint32 }
inet_ntop.restype = c_char_p
local ntohs = libc.ntohs
ntohs.argtypes, ntohs.restype = { c_uint16 }, c_uint16

-- lookup(node, service, hints) -> a Lua table per addrinfo entry, or
-- nil and gai_strerror's message
local function lookup(node, service, hints)
  local res = POINTER(addrinfo)()       -- NULL; getaddrinfo sets it
  local rc = getaddrinfo(node, service, hints, byref(res))
  if rc ~= 0 then return nil, gai_strerror(rc) end
  local entries = {}
  local p = res
  while not ctypes.is_null(p) do
    local ai = p.contents
    -- the address: a struct sockaddr * to be read as its family says
    local text = ctypes.create_string_buffer(INET6_ADDRSTRLEN)
    local addr, port
    if ai.ai_family == AF_INET then
      local sin = cast(ai.ai_addr, POINTER(sockaddr_in)).contents
      addr = sin.sin_addr                 -- an array: passed as its address
      port = ntohs(sin.sin_port)
    else
      local sin6 = cast(ai.ai_addr, POINTER(sockaddr_in6)).contents
      addr = sin6.sin6_addr
      port = ntohs(sin6.sin6_port)
    end
    assert(inet_ntop(ai.ai_family, addr, text, ctypes.sizeof(text)) == text.value)
    entries[#entries + 1] = {
      family = ai.ai_family == AF_INET and "AF_INET" or "AF_INET6",
      socktype = SOCK_NAMES[ai.ai_socktype],
      protocol = IPPROTO_NAMES[ai.ai_protocol],
      address = text.value,
      port = port,
      canonname = ai.ai_canonname,        -- a Lua string, or nil for NULL
    }
    p = ai.ai_next
  end
  -- the list is getaddrinfo's memory: copy what is needed, then free it
  freeaddrinfo(res)
  return entries
end

local function show(title, entries, err)
  print(title)
  if not entries then print("  error: " .. err) return end
  for _, e in ipairs(entries) do
    print(("  %s %s/%s %s port %d%s"):format(e.family, e.socktype, e.protocol,
          e.address, e.port, e.canonname and (" canonname " .. e.canonname) or ""))
  end
end

-- IPv4 addresses of localhost, with the canonical name: one entry per
-- socket type, linked through ai_next
local hints = addrinfo()
hints.ai_family = AF_INET
hints.ai_flags = AI_CANONNAME
show('getaddrinfo("localhost", "8080"), AF_INET:', lookup("localhost", "8080", hints))

-- a numeric IPv6 address, stream sockets only; hints as a table
show('getaddrinfo("::1", "443"), SOCK_STREAM:',
     lookup("::1", "443", addrinfo{ ai_flags = AI_NUMERICHOST, ai_socktype = 1 }))

-- no hints at all (NULL), a numeric address with no service
local all = assert(lookup("192.0.2.7", nil, nil))
print(('getaddrinfo("192.0.2.7", NULL, NULL): %d entries, first %s port %d')
      :format(#all, all[1].address, all[1].port))

-- errors come back as a code for gai_strerror
show('getaddrinfo("not an address"), AI_NUMERICHOST:',
     lookup("not an address", "80", addrinfo{ ai_flags = AI_NUMERICHOST }))
