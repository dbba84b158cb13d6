-- ctypes.cdef: C declarations -> lua-ctypes types, constants, function
-- objects and variables. Layouts are checked against gcc (the fixture's
-- fx_sizeof_*/fx_offsetof_* of the same declarations); every error path
-- has its exact message.
local ctypes = require("ctypes")
local helper = require("spec.helper")

local cdef = ctypes.cdef
local sizeof, alignment, POINTER = ctypes.sizeof, ctypes.alignment,
  ctypes.POINTER
local oracle = helper.oracle
local lib = ctypes.CDLL(helper.fixture)

-- the same text as struct fx_cdef_rec in spec/fixtures/fx_cdef.c
local CDEF_REC = [[
struct fx_cdef_rec {
  char tag;
  union { int i; float f; struct { short lo, hi; }; };
  unsigned flags : 3, mode : 5;
  int : 0;
  signed char small : 2;
  struct fx_cdef_rec *next;
  double grid[2][3];
  int (*cb)(int, int);
  long double ld;
};
struct __attribute__((packed)) fx_cdef_packed { char c; int i; short s; };
struct fx_cdef_aligned { char c; } __attribute__((aligned(32)));
struct fx_cdef_flex { int n; double items[]; };
]]

-- the error message of f(...) without its position prefix
local function errof(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "no error")
  return (tostring(err):gsub("^[^:\n]*:%d+: ", ""))
end

describe("ctypes.cdef", function()
  describe("scalar types", function()
    it("maps each C scalar to the ctypes scalar of the same C type", function()
      local ns = cdef([[
        typedef char t_char; typedef signed char t_schar;
        typedef unsigned char t_uchar; typedef short t_short;
        typedef short int t_short2; typedef unsigned short t_ushort;
        typedef int t_int; typedef signed t_signed; typedef unsigned t_uint;
        typedef long t_long; typedef long int t_long2;
        typedef unsigned long t_ulong; typedef long long t_llong;
        typedef unsigned long long int t_ullong; typedef float t_float;
        typedef double t_double; typedef long double t_ldouble;
        typedef _Bool t_Bool; typedef bool t_bool; typedef wchar_t t_wchar;
        typedef size_t t_size; typedef ssize_t t_ssize;
        typedef int8_t t_i8; typedef int16_t t_i16; typedef int32_t t_i32;
        typedef int64_t t_i64; typedef uint8_t t_u8; typedef uint16_t t_u16;
        typedef uint32_t t_u32; typedef uint64_t t_u64;
        typedef intptr_t t_iptr; typedef uintptr_t t_uptr;
        typedef ptrdiff_t t_pdiff; typedef off_t t_off; typedef time_t t_time;
        typedef const volatile int t_cvint; typedef long unsigned t_lu;
      ]])
      local want = {
        t_char = "c_char", t_schar = "c_byte", t_uchar = "c_ubyte",
        t_short = "c_short", t_short2 = "c_short", t_ushort = "c_ushort",
        t_int = "c_int", t_signed = "c_int", t_uint = "c_uint",
        t_long = "c_long", t_long2 = "c_long", t_ulong = "c_ulong",
        t_llong = "c_longlong", t_ullong = "c_ulonglong",
        t_float = "c_float", t_double = "c_double",
        t_ldouble = "c_longdouble", t_Bool = "c_bool", t_bool = "c_bool",
        t_wchar = "c_wchar", t_size = "c_size_t", t_ssize = "c_ssize_t",
        t_i8 = "c_int8", t_i16 = "c_int16", t_i32 = "c_int32",
        t_i64 = "c_int64", t_u8 = "c_uint8", t_u16 = "c_uint16",
        t_u32 = "c_uint32", t_u64 = "c_uint64", t_iptr = "c_ssize_t",
        t_uptr = "c_size_t", t_pdiff = "c_ssize_t", t_off = "c_long",
        t_time = "c_long", t_cvint = "c_int", t_lu = "c_ulong",
      }
      for name, ctname in pairs(want) do
        assert.are.equal(ctypes[ctname], ns[name], name)
      end
      -- sizes as the platform's C (string.packsize is the C compiler's)
      assert.are.equal(oracle("sizeof", "off_t"), sizeof(ns.t_off))
      assert.are.equal(oracle("sizeof", "c_size_t"), sizeof(ns.t_size))
    end)

    it("maps pointers: char * to c_char_p, wchar_t * to c_wchar_p, " ..
       "void * to c_void_p, others to POINTER", function()
      local ns = cdef([[
        typedef char *a; typedef const char *b; typedef wchar_t *c;
        typedef void *d; typedef const void *e; typedef int *f;
        typedef unsigned char *g; typedef char **h; typedef void **i;
        typedef int *const *restrict j; typedef int (*k)[4];
        typedef int (*l)[];
      ]])
      assert.are.equal(ctypes.c_char_p, ns.a)
      assert.are.equal(ctypes.c_char_p, ns.b)
      assert.are.equal(ctypes.c_wchar_p, ns.c)
      assert.are.equal(ctypes.c_void_p, ns.d)
      assert.are.equal(ctypes.c_void_p, ns.e)
      assert.are.equal(POINTER(ctypes.c_int), ns.f)
      assert.are.equal(POINTER(ctypes.c_ubyte), ns.g)
      assert.are.equal(POINTER(ctypes.c_char_p), ns.h)
      assert.are.equal(POINTER(ctypes.c_void_p), ns.i)
      assert.are.equal(POINTER(POINTER(ctypes.c_int)), ns.j)
      assert.are.equal(POINTER(ctypes.c_int * 4), ns.k)
      assert.are.equal(POINTER(ctypes.c_int * 0), ns.l)
    end)

    it("makes arrays, multi-dimensional, sized by constant expressions",
       function()
      local ns = cdef([[
        #define N 3
        enum { M = N * 2 };
        typedef int grid[N][M + 1];
        typedef char name[sizeof(int) * 4];
        typedef double dd[(1 << 2) | 1][sizeof(long) * 2 / _Alignof(long)];
        typedef int e[0];
      ]])
      assert.are.equal((ctypes.c_int * 7) * 3, ns.grid)
      assert.are.equal(ctypes.c_char * 16, ns.name)
      assert.are.equal((ctypes.c_double * 2) * 5, ns.dd)
      assert.are.equal(ctypes.c_int * 0, ns.e)
    end)

    it("makes function pointer types CFUNCTYPE types", function()
      local ns = cdef([[
        typedef int (*cmp)(const void *, const void *);
        typedef void (*handler)(int);
        typedef int fn(int);                        /* a function type */
        typedef fn *fnp;
        typedef char *(*getter)(void);
        typedef void (*(*nested)(int))(double);
        typedef int (*vfn)(const char *, ...);
      ]])
      assert.are.equal(ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p,
                                        ctypes.c_void_p), ns.cmp)
      assert.are.equal(ctypes.CFUNCTYPE(nil, ctypes.c_int), ns.handler)
      assert.are.equal(ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int), ns.fnp)
      assert.are.equal(ns.fnp, ns.fn)            -- a function typedef
      assert.are.equal(ctypes.CFUNCTYPE(ctypes.c_char_p), ns.getter)
      assert.are.equal(ctypes.CFUNCTYPE(
        ctypes.CFUNCTYPE(nil, ctypes.c_double), ctypes.c_int), ns.nested)
      -- a variadic function pointer has no prototype: its address
      assert.are.equal(ctypes.c_void_p, ns.vfn)
      -- a callback of a declared type works as any other
      local cb = ns.cmp(function() return 1 end)
      assert.are.equal("<CFunctionType object",
                       tostring(cb):match("^<CFunctionType object"))
    end)
  end)

  describe("structures and unions", function()
    it("lay out as gcc does: nested anonymous members, bit fields, " ..
       "self-reference, arrays, function pointers, long double", function()
      local ns = cdef(CDEF_REC)
      local R = ns["struct fx_cdef_rec"]
      assert.are.equal(oracle("sizeof", "cdef_rec"), sizeof(R))
      assert.are.equal(oracle("alignof", "cdef_rec"), alignment(R))
      for _, f in ipairs({ "tag", "i", "hi", "next", "grid", "cb", "ld" }) do
        assert.are.equal(oracle("offsetof", "cdef_rec_" .. f), R[f].offset, f)
      end
      assert.are.equal(POINTER(R), R.next.type)
      assert.are.equal((ctypes.c_double * 3) * 2, R.grid.type)
      local P = ns["struct fx_cdef_packed"]
      assert.are.equal(oracle("sizeof", "cdef_packed"), sizeof(P))
      assert.are.equal(oracle("alignof", "cdef_packed"), alignment(P))
      assert.are.equal(oracle("offsetof", "cdef_packed_i"), P.i.offset)
      assert.are.equal(oracle("offsetof", "cdef_packed_s"), P.s.offset)
      assert.are.equal(1, P._pack_)
      local A = ns["struct fx_cdef_aligned"]
      assert.are.equal(oracle("sizeof", "cdef_aligned"), sizeof(A))
      assert.are.equal(oracle("alignof", "cdef_aligned"), alignment(A))
      assert.are.equal(32, A._align_)
      local F = ns["struct fx_cdef_flex"]
      assert.are.equal(oracle("sizeof", "cdef_flex"), sizeof(F))
      assert.are.equal(oracle("offsetof", "cdef_flex_items"), F.items.offset)
      assert.are.equal(ctypes.c_double * 0, F.items.type)
    end)

    it("fills a structure that C reads back field by field", function()
      local ns = cdef(CDEF_REC .. [[
        int fx_cdef_rec_check(const struct fx_cdef_rec *r);
      ]], lib)
      local r = ns["struct fx_cdef_rec"]()
      r.tag = "T"; r.hi = 7; r.flags = 5; r.mode = 17; r.small = -1
      r.grid[1][2] = 2.5
      r.next = ctypes.pointer(r)
      local F = ns["struct fx_cdef_rec"].cb.type
      local add = F(function(a, b) return a + b end)
      r.cb = add
      r.ld = 1.25
      assert.are.equal(1, ns.fx_cdef_rec_check(r))
      -- the anonymous members' fields are reachable by name
      r.i = string.unpack("=i4", string.pack("=i2i2", 3, 7))   -- either byte order
      assert.are.equal(3, r.lo)
      assert.are.equal(7, r.hi)
    end)

    it("aligns members with aligned(n) and _Alignas as gcc does", function()
      local ns = cdef([[
        struct fx_cdef_alignas {
          char c;
          int x __attribute__((aligned(8)));
          char d;
          _Alignas(16) char e;
          _Alignas(double) short f;
        };
        struct __attribute__((packed)) fx_cdef_packal {
          char c;
          int x __attribute__((aligned(4)));
          short s;
        };
        typedef struct {
          long long __max_align_ll __attribute__((__aligned__(__alignof__(long long))));
          long double __max_align_ld __attribute__((__aligned__(__alignof__(long double))));
        } max_align_t;
      ]])
      for _, t in ipairs({ { "cdef_alignas", { "x", "d", "e", "f" } },
                           { "cdef_packal", { "x", "s" } } }) do
        local T = ns["struct fx_" .. t[1]]
        assert.are.equal(oracle("sizeof", t[1]), sizeof(T))
        assert.are.equal(oracle("alignof", t[1]), alignment(T))
        for _, f in ipairs(t[2]) do
          assert.are.equal(oracle("offsetof", t[1] .. "_" .. f), T[f].offset, f)
        end
      end
      assert.are.equal(oracle("sizeof", "cdef_maxalign"), sizeof(ns.max_align_t))
      assert.are.equal(oracle("alignof", "cdef_maxalign"), alignment(ns.max_align_t))
    end)

    it("names untagged records after their typedef", function()
      local ns = cdef([[
        typedef struct { int x, y; } point_t;
        typedef union { int i; float f; } num_t;
      ]])
      assert.are.equal("point_t", tostring(ns.point_t))
      assert.are.equal("num_t", tostring(ns.num_t))
      local p = ns.point_t(1, 2)
      assert.are.equal(2, p.y)
      assert.are.equal(4, sizeof(ns.num_t))
    end)

    it("completes forward declarations later, in the same call or a " ..
       "later one", function()
      local ns = cdef([[
        struct later;
        typedef struct later later_t;
        struct holder { struct later *p; };
      ]])
      local L = ns["struct later"]
      assert.are.equal(L, ns.later_t)
      assert.are.equal(POINTER(L), ns["struct holder"].p.type)
      assert.are.equal("TypeError: sizeof: later is an incomplete type (_fields_ " ..
                       "not set)", errof(sizeof, L))
      ns:cdef("struct later { int a; double b; };")
      assert.are.equal(L, ns["struct later"])        -- the same type object
      assert.are.equal(oracle("sizeof", "cdef_later"), sizeof(L))
      local ns2 = cdef("struct a; struct b { struct a *pa; }; " ..
                       "struct a { struct b *pb; int v; };")
      assert.are.equal(POINTER(ns2["struct b"]), ns2["struct a"].pb.type)
      assert.are.equal(POINTER(ns2["struct a"]), ns2["struct b"].pa.type)
    end)

    it("honours #pragma pack as _pack_", function()
      local ns = cdef([[
        #pragma pack(push, 2)
        struct p2 { char c; double d; };
        #pragma pack(pop)
        struct p0 { char c; double d; };
        #pragma pack(1)
        struct p1 { char c; int i; };
        #pragma pack()
      ]])
      assert.are.equal(10, sizeof(ns["struct p2"]))
      assert.are.equal(2, ns["struct p2"]._pack_)
      assert.are.equal(8 + helper.platform.double_align, sizeof(ns["struct p0"]))
      assert.are.equal(5, sizeof(ns["struct p1"]))
    end)

    it("accepts const, volatile, restrict, attributes and _Static_assert",
       function()
      local ns = cdef([[
        struct __attribute__((__packed__, aligned(4))) q {
          const volatile char c; int *restrict p;
        } __attribute__((deprecated));
        _Static_assert(sizeof(struct q) == (1 + sizeof(int *) + 3) / 4 * 4,
                       "packed then aligned");
        extern int f(int x) __attribute__((nonnull)) __attribute__((pure));
      ]])
      assert.are.equal(oracle("sizeof", "cdef_q"), sizeof(ns["struct q"]))
      assert.are.equal(4, alignment(ns["struct q"]))
      assert.are.equal(1, ns["struct q"].p.offset)
    end)
  end)

  describe("constants", function()
    it("makes enumerators and #define'd integers and strings ns.NAME",
       function()
      local ns = cdef([[
        #define ANSWER 42
        #define MASK (0xF0u | 0x0F)
        #define NEG -5
        #define BIG 0xFFFFFFFFFFFFFFFF
        #define SHIFTED (1UL << 40)
        #define CH 'A'
        #define GREETING "hello, " "world\n"
        #define SAME ANSWER
        enum color { RED, GREEN = 5, BLUE, ALSO = BLUE + ANSWER };
        enum signs { MINUS = -1, ZERO };
        enum big { HUGE = 0x100000000 };
        enum __attribute__((packed)) small { S1 = 200 };
      ]])
      assert.are.equal(42, ns.ANSWER)
      assert.are.equal(255, ns.MASK)
      assert.are.equal(-5, ns.NEG)
      assert.are.equal(-1, ns.BIG)        -- 2^64 - 1, wrapped as ctypes does
      assert.are.equal(1 << 40, ns.SHIFTED)
      assert.are.equal(65, ns.CH)
      assert.are.equal("hello, world\n", ns.GREETING)
      assert.are.equal(42, ns.SAME)
      assert.are.equal(0, ns.RED)
      assert.are.equal(5, ns.GREEN)
      assert.are.equal(6, ns.BLUE)
      assert.are.equal(48, ns.ALSO)
      assert.are.equal(-1, ns.MINUS)
      assert.are.equal(0, ns.ZERO)
      -- gcc's underlying types
      assert.are.equal(ctypes.c_uint, ns["enum color"])
      assert.are.equal(ctypes.c_int, ns["enum signs"])
      assert.are.equal(ctypes.c_ulong, ns["enum big"])
      assert.are.equal(ctypes.c_ubyte, ns["enum small"])
    end)

    it("drops empty macros from the declarations that follow", function()
      local ns = cdef([[
        #define API
        #define EXPORT
        API int EXPORT fx_cdef_add(int a, int b);
      ]], lib)
      assert.are.equal(7, ns.fx_cdef_add(3, 4))
      assert.is_nil(ns.API)
      ns:cdef("API int fx_cdef_none(void);")
      assert.are.equal(99, ns.fx_cdef_none())
      assert.are.equal("CDefError: 1:9: 'API' redeclared as a different " ..
        "kind of name, near 'API'", errof(ns.cdef, ns, "#define API 1"))
    end)

    it("evaluates constant expressions with C's integer types", function()
      local ns = cdef([[
        enum {
          A = ~0u >> 28, B = -1 / 2, C = -7 % 3, D = (unsigned char)300,
          E = (signed char)200, F = 1 ? 10 : 20, G = !0 + !5,
          H = (3 > 2) && (2 >= 2) || 0, I = (int)sizeof(long double),
          J = (0x7fffffff + 1u) >> 31, K = -1 < 0u
        };
      ]])
      -- the values gcc gives for the same enumerators
      assert.are.same({ 15, 0, -1, 44, -56, 10, 1, 1, helper.platform.longdouble_size, 1, 0 },
        { ns.A, ns.B, ns.C, ns.D, ns.E, ns.F, ns.G, ns.H, ns.I, ns.J, ns.K })
    end)
  end)

  describe("functions and variables", function()
    it("binds declared functions of the library with their prototypes",
       function()
      local ns = cdef([[
        struct fx_cdef_point { int x, y; };
        int fx_cdef_add(int a, int b);
        struct fx_cdef_point fx_cdef_mkpoint(int, int);
        int fx_cdef_none(void);
        int fx_cdef_sum(int n, ...);
      ]], lib)
      assert.are.equal(5, ns.fx_cdef_add(2, 3))
      assert.are.same({ "c_int", "c_int" },
        { tostring(ns.fx_cdef_add.argtypes[1]),
          tostring(ns.fx_cdef_add.argtypes[2]) })
      local p = ns.fx_cdef_mkpoint(3, 4)
      assert.are.equal(4, p.y)
      assert.are.equal(ns["struct fx_cdef_point"], ns.fx_cdef_mkpoint.restype)
      assert.are.equal(99, ns.fx_cdef_none())
      -- exact arity for prototypes, variadic extras after '...'
      assert.are.equal("TypeError: this function takes 0 arguments " ..
                       "(1 given)", errof(ns.fx_cdef_none, 1))
      assert.are.equal("TypeError: this function takes 2 arguments " ..
                       "(3 given)", errof(ns.fx_cdef_add, 1, 2, 3))
      assert.are.equal(60, ns.fx_cdef_sum(3, 10, 20, 30))
      assert.are.equal("ArgumentError: argument 1: expected c_int, got " ..
                       "string", errof(ns.fx_cdef_add, "x", 1))
      -- the library's own (cached) function objects stay undeclared
      assert.is_nil(lib.fx_cdef_sum.argtypes)
      assert.are.equal(ns.fx_cdef_add, ns.fx_cdef_add)
    end)

    it("keeps the library's use_errno", function()
      local elib = ctypes.CDLL(helper.fixture, { use_errno = true })
      local ns = cdef("int fx_cdef_fail(int e); int fx_cdef_sum(int, ...);",
                      elib)
      ctypes.set_errno(0)
      assert.are.equal(-1, ns.fx_cdef_fail(34))
      assert.are.equal(34, ctypes.get_errno())
      local plain = cdef("int fx_cdef_fail(int e);", lib)
      ctypes.set_errno(0)
      plain.fx_cdef_fail(35)
      assert.are.equal(0, ctypes.get_errno())
    end)

    it("uses an asm label as the symbol name", function()
      local ns = cdef([[int plus(int, int) __asm__("fx_cdef_add");]], lib)
      assert.are.equal(9, ns.plus(4, 5))
    end)

    it("makes extern variables views of the library's globals", function()
      local ns = cdef([[
        struct fx_cdef_point { int x, y; };
        extern int fx_cdef_counter;
        extern struct fx_cdef_point fx_cdef_origin;
        extern const char *fx_cdef_greeting;
      ]], lib)
      assert.are.equal(7, ns.fx_cdef_counter.value)
      assert.are.equal(4, ns.fx_cdef_origin.y)
      assert.are.equal("hello", ns.fx_cdef_greeting.value)
      ns.fx_cdef_counter.value = 8
      assert.are.equal(8, ctypes.c_int.in_dll(lib, "fx_cdef_counter").value)
      ns.fx_cdef_counter.value = 7
    end)

    it("raises for a missing symbol only when it is used", function()
      local ns = cdef("int no_such_function(void); extern int no_such_var;",
                      lib)
      local name = tostring(lib._name)
      assert.are.equal("AttributeError: " .. name .. ": undefined " ..
        "symbol: no_such_function", errof(function() return ns.no_such_function end))
      assert.are.equal("AttributeError: " .. name .. ": undefined " ..
        "symbol: no_such_var", errof(function() return ns.no_such_var end))
      local v = cdef("int printf(const char *, ...);", ctypes.CDLL(nil))
      assert.are.equal("AttributeError: CDLL(nil): undefined symbol: " ..
        "nope", errof(function()
          return cdef("void nope(void);", ctypes.CDLL(nil)).nope end))
      assert.is_not_nil(v.printf)
    end)

    it("without a library, functions and variables are errors when used",
       function()
      local ns = cdef("int f(void); extern int v;")
      assert.are.equal("AttributeError: cdef: function 'f' was declared " ..
                       "without a library", errof(function() return ns.f end))
      assert.are.equal("AttributeError: cdef: variable 'v' was declared " ..
                       "without a library", errof(function() return ns.v end))
    end)
  end)

  describe("namespaces", function()
    it("adds declarations with ns:cdef that refer to earlier ones",
       function()
      local ns = cdef("typedef struct { int x, y; } point_t;\n#define K 2")
      assert.are.equal(ns, ns:cdef([[
        struct node { struct node *next; point_t p[K]; };
      ]]))
      local N = ns["struct node"]
      assert.are.equal(ns.point_t * 2, N.p.type)
      assert.are.equal(oracle("sizeof", "cdef_node"), sizeof(N))
      ns:cdef("int fx_cdef_add(int, int);", lib)
      assert.are.equal(3, ns.fx_cdef_add(1, 2))
    end)

    it("parses type names with ns:typeof", function()
      local ns = cdef("struct node { struct node *next; };")
      local N = ns["struct node"]
      assert.are.equal(POINTER(N) * 4, ns:typeof("struct node *[4]"))
      assert.are.equal(ctypes.c_int, ns:typeof("const int"))
      assert.are.equal(ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int),
                       ns:typeof("int (*)(int)"))
      assert.are.equal(ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int),
                       ns:typeof("int (int)"))
      assert.are.equal(POINTER(POINTER(ctypes.c_ulong)),
                       ns:typeof("unsigned long **"))
      assert.are.equal(ctypes.c_size_t, ns:typeof("size_t"))
    end)

    it("accepts identical redefinitions and refuses different ones",
       function()
      local ns = cdef([[
        typedef int myint; typedef int myint;
        struct s { int a; }; struct s { int a; };
        enum e { X = 1 }; enum e { X = 1 };
        #define D 3
        #define D 3
        int f(int); int f(int);
        typedef unsigned long size_t;
      ]])
      assert.are.equal(ctypes.c_int, ns.myint)
      local S = ns["struct s"]
      ns:cdef("struct s { int a; }; typedef int myint;")
      assert.are.equal(S, ns["struct s"])
      assert.are.equal("CDefError: 1:14: conflicting types for typedef " ..
        "'myint', near 'myint'", errof(ns.cdef, ns, "typedef long myint;"))
      assert.are.equal("CDefError: 1:8: redefinition of 'struct s' with a " ..
        "different body, near 's'", errof(ns.cdef, ns, "struct s { long a; };"))
      assert.are.equal("CDefError: 1:10: redefinition of constant 'X' with " ..
        "a different value, near 'X'", errof(ns.cdef, ns, "enum e { X = 2 };"))
      assert.are.equal("CDefError: 1:6: redefinition of 'enum e' with " ..
        "different values, near 'e'", errof(ns.cdef, ns, "enum e { X = 1, Y };"))
      assert.are.equal("CDefError: 1:9: redefinition of constant 'D' with " ..
        "a different value, near 'D'", errof(ns.cdef, ns, "#define D 4"))
      assert.are.equal("CDefError: 1:5: conflicting types for 'f', near " ..
        "'f'", errof(ns.cdef, ns, "int f(long);"))
      assert.are.equal("CDefError: 1:5: 'myint' redeclared as a different " ..
        "kind of name, near 'myint'", errof(ns.cdef, ns, "int myint(void);"))
      assert.are.equal("CDefError: 1:13: conflicting types for typedef " ..
        "'size_t', near 'size_t'", errof(cdef, "typedef int size_t;"))
    end)

    it("adds nothing from a failed call", function()
      local ns = cdef("struct fwd; typedef int keep;")
      local F = ns["struct fwd"]
      assert.are.equal("CDefError: 4:3: unknown type name 'oops', near " ..
        "'oops'", errof(ns.cdef, ns, [[
  struct fwd { int a; };
  typedef int newname;
#define NEWC 1
  oops x;]]))
      -- the forward declaration is still incomplete, nothing new exists
      assert.are.equal("TypeError: sizeof: fwd is an incomplete type (_fields_ not " ..
                       "set)", errof(sizeof, F))
      assert.are.equal("AttributeError: cdef namespace has no declaration " ..
        "'newname'", errof(function() return ns.newname end))
      assert.are.equal("AttributeError: cdef namespace has no declaration " ..
        "'NEWC'", errof(function() return ns.NEWC end))
      -- and a good call completes it
      ns:cdef("struct fwd { int a; };")
      assert.are.equal(4, sizeof(F))
    end)

    it("refuses writes and unknown or non-string keys", function()
      local ns = cdef("typedef int t;")
      assert.are.equal("AttributeError: cdef namespace: cannot set 'x' " ..
        "(declare it with ns:cdef)", errof(function() ns.x = 1 end))
      assert.are.equal("AttributeError: cdef namespace has no declaration " ..
        "'struct nope'", errof(function() return ns["struct nope"] end))
      assert.are.equal("TypeError: cdef namespace: key must be a string, " ..
        "got integer", errof(function() return ns[1] end))
    end)
  end)

  describe("bad input", function()
    it("checks its arguments", function()
      assert.are.equal("TypeError: cdef: source must be a string, got nil",
                       errof(cdef))
      assert.are.equal("TypeError: cdef: source must be a string, got " ..
                       "integer", errof(cdef, 42))
      assert.are.equal("TypeError: cdef: lib must be a library (CDLL), got " ..
                       "string", errof(cdef, "int x;", "libc"))
      assert.are.equal("TypeError: cdef: lib must be a library (CDLL), got " ..
                       "c_int", errof(cdef, "int x;", ctypes.c_int(1)))
      local ns = cdef("")
      assert.are.equal("TypeError: ns:cdef: source must be a string, got " ..
                       "table", errof(ns.cdef, ns, {}))
      assert.are.equal("TypeError: ns:cdef: expected a cdef namespace, got " ..
                       "string", errof(ns.cdef, "int x;"))
      assert.are.equal("TypeError: ns:typeof: expected a string, got nil",
                       errof(ns.typeof, ns))
      assert.are.equal("TypeError: ns:typeof: expected a cdef namespace, " ..
                       "got table", errof(ns.typeof, {}, "int"))
    end)

    -- every message: source, then the expected error
    local CASES = {
      { "int x", "1:6: expected ';' after a declaration, near '<eof>'" },
      { "foo x;", "1:1: unknown type name 'foo', near 'foo'" },
      { "struct { int a; ", "1:17: expected '}', near '<eof>'" },
      { "struct s { int a; } x", "1:22: expected ';' after a declaration, near '<eof>'" },
      { "int 3;", "1:5: expected a name, near '3'" },
      { "int int;", "1:5: invalid combination of type specifiers, near 'int'" },
      { "long long long x;", "1:11: invalid combination of type specifiers, near 'long'" },
      { "signed unsigned x;", "1:8: invalid combination of type specifiers, near 'unsigned'" },
      { "short double x;", "1:7: invalid combination of type specifiers, near 'double'" },
      { "struct s { int a; } int x;", "1:21: invalid combination of type specifiers, near 'int'" },
      { "int struct s x;", "1:5: invalid combination of type specifiers, near 'struct'" },
      { "void x;", "1:6: variable 'x' declared void, near 'x'" },
      { "int a[-1];", "1:7: array size is negative, near '-'" },
      { "int a[x];", "1:7: 'x' is not a constant, near 'x'" },
      { "int a[1/0];", "1:8: division by zero in a constant expression, near '/'" },
      { "int a[1 << 40];", "1:9: shift count out of range, near '<<'" },
      { "int a[1.5];", "1:7: floating constants are not supported in constant expressions, near '1.5'" },
      { "int a[0x1ffffffffffffffff];", "1:7: integer constant is too large, near '0x1ffffffffffffffff'" },
      { "int a[12q];", "1:7: invalid integer constant '12q', near '12q'" },
      { "typedef void v[2];", "1:15: array of void, near '['" },
      { "typedef int f(int)[2];", "1:14: function returning an array, near '('" },
      { "typedef int f(int)(int);", "1:14: function returning a function, near '('" },
      { "typedef int a[2](int);", "1:14: array of functions, near '['" },
      { "struct s { int a; int a; };", "1:23: duplicate member 'a', near 'a'" },
      { "struct s { struct s x; };", "1:21: member 'x' has incomplete type s, near 'x'" },
      { "struct s { int; };", "1:15: declaration does not declare anything, near ';'" },
      { "struct s { void v; };", "1:17: member of type void, near 'v'" },
      { "struct s { int f(int); };", "1:16: member of function type, near 'f'" },
      { "struct s { int a[]; int b; };", "1:16: flexible array member not at the end of the struct, near 'a'" },
      { "struct s { int a : -1; };", "1:20: negative width in bit field, near '-'" },
      { "struct s { int a : 0; };", "1:20: zero width for bit field 'a', near '0'" },
      { "struct s { int a : 33; };", "1:20: width of bit field 'a' exceeds its type, near '33'" },
      { "struct s { _Bool b : 2; };", "1:22: width of bit field 'b' exceeds its type, near '2'" },
      { "struct s { double d : 3; };", "1:23: bit field 'd' has invalid type c_double, near '3'" },
      { "struct s { int *p : 3; };", "1:21: bit field 'p' has invalid type LP_c_int, near '3'" },
      { "struct s { int a; } __attribute__((aligned(3)));",
        "1:36: requested alignment is not a positive power of 2, near 'aligned'" },
      { "struct s { int a __attribute__((packed)); };",
        "1:33: attribute 'packed' is not supported on a member, near 'packed'" },
      { "struct s { int a : 3 __attribute__((aligned(8))); };",
        "1:16: aligned bit fields are not supported, near 'a'" },
      { "struct __attribute__((packed)) s { int a __attribute__((aligned(16))); };",
        -- the largest integer alignment: long long's (4 on i386)
        ("1:40: aligned(n) above %d on a member of a packed struct is not supported, " ..
         "near 'a'"):format(helper.platform.longlong_align) },
      { "struct s { _Alignas(3) int a; };", "1:21: requested alignment is not a power of 2, near '3'" },
      { "_Alignas(8) int v;", "1:1: _Alignas is only supported on members, near '_Alignas'" },
      { "struct s { __attribute__((aligned(8))) struct { int a; }; };",
        "1:57: an aligned anonymous member is not supported, near ';'" },
      { "typedef int t __attribute__((mode(DI)));",
        "1:30: attribute 'mode' is not supported on a typedef, near 'mode'" },
      { "struct s; union s;", "1:17: 's' defined as the wrong kind of tag, near 's'" },
      { "struct s { struct s { int a; } b; };", "1:19: nested redefinition of 'struct s', near 's'" },
      { "enum e x;", "1:6: unknown enum 'e' (enums cannot be declared before their definition), near 'e'" },
      { "enum { A, B = A + }", "1:19: expected a constant expression, near '}'" },
      { "enum { 3 };", "1:8: expected an enumerator name, near '3'" },
      { "int f(...);", "1:7: a variadic function needs a named parameter before '...', near '...'" },
      { "int f(void x);", "1:12: parameter of type void, near 'x'" },
      { "int f(int) { return 0; }", "1:12: function definitions are not supported, near '{'" },
      { "int x = 3;", "1:7: initializers are not supported, near '='" },
      { "extern int a[];", "1:12: variable 'a' has an array type of unknown size, near 'a'" },
      { "struct s; extern struct s v;", "1:27: variable 'v' has incomplete type s, near 'v'" },
      { "int cdef(void);", "1:5: 'cdef' cannot be declared (a method of the namespace), near 'cdef'" },
      { "_Complex double z;", "1:1: complex types are not supported, near '_Complex'" },
      { "__int128 z;", "1:1: __int128 is not supported, near '__int128'" },
      { "static_assert(1 == 2, \"no\");", "1:15: static assertion failed: \"no\", near '1'" },
      { "#include <stdio.h>", "1:1: unsupported preprocessor directive '#include', near '#include'" },
      { "#define F(x) x", "1:10: function-like macros are not supported, near '('" },
      { "#define E\n#define E 1", "2:9: 'E' redeclared as a different kind of name, near 'E'" },
      { "#define X 1 2", "1:13: #define X: expected the end of the line, near '2'" },
      { "#define Y 1.5", "1:11: floating constants are not supported in constant expressions, near '1.5'" },
      { "#pragma pack(3)", "1:14: #pragma pack: alignment must be 1, 2, 4, 8 or 16, near '3'" },
      { "#pragma pack(pop)", "1:14: #pragma pack(pop) without a push, near 'pop'" },
      { "#pragma weak x", "1:9: unsupported #pragma, near 'weak'" },
      { "int a; /* open", "1:8: unterminated comment, near '/'" },
      { "#define S \"abc", "1:11: unterminated string literal, near '\"abc'" },
      { "int $x;", "1:5: unexpected character, near '$'" },
      { "#define C 'ab'", "1:11: invalid character literal, near ''ab'" },
      { "#define Q \"\\q\"", "1:11: invalid escape sequence '\\q', near '\"\\q'" },
      { "typedef int t; t t2; int t;", "1:26: 't' redeclared as a different kind of name, near 't'" },
    }

    it("raises CDefError: line:col: what, near 'token' for each mistake",
       function()
      for _, c in ipairs(CASES) do
        local ok, err = pcall(cdef, c[1])
        assert.is_false(ok, c[1])
        err = tostring(err):gsub("^[^:\n]*:%d+: ", "")
        assert.are.equal("CDefError: " .. c[2], err, c[1])
      end
    end)

    it("counts lines and columns across comments, continuations and " ..
       "directives", function()
      assert.are.equal("CDefError: 5:8: unknown type name 'bad', near 'bad'",
        errof(cdef, "/* one\n two */ int a;\n#define X \\\n  1\nint x; bad y;\n"))
      assert.are.equal("CDefError: 3:2: expected a name, near '}'",
        errof(cdef, "struct s {\n  int a;\n}}"))
    end)

    it("reports ns:typeof errors the same way", function()
      local ns = cdef("")
      assert.are.equal("CDefError: 1:1: expected a type name, near '<eof>'",
                       errof(ns.typeof, ns, ""))
      assert.are.equal("CDefError: 1:5: unexpected name 'x' in a type name, " ..
        "near 'x'", errof(ns.typeof, ns, "int x"))
      assert.are.equal("CDefError: 1:7: expected the end of the type name, " ..
        "near ')'", errof(ns.typeof, ns, "int * )"))
      assert.are.equal("CDefError: 1:5: void has no ctypes type, near " ..
        "'<eof>'", errof(ns.typeof, ns, "void"))
      assert.are.equal("CDefError: 1:1: unknown type name 'nope', near " ..
        "'nope'", errof(ns.typeof, ns, "nope *"))
    end)
  end)
end)
