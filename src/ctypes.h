/*
** ctypes.h -- the one internal header of lua-ctypes' C core.
** Everything shared between the C files is declared here; everything
** else is static. Only luaopen_ctypes_core is exported from the module.
*/
#ifndef CTYPES_H
#define CTYPES_H

#include <assert.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <wchar.h>
#include <ffi.h>
#include <lua.h>
#include <lauxlib.h>
#include "compat53.h"   /* the 5.4 API used here, for Lua 5.3 */

#define CT_EXPORT __attribute__((visibility("default")))

/* Everything declared from here to the end of this header is internal to the
** module, whatever flags build it (LuaRocks' builtin backend cannot add
** -fvisibility=hidden): only CT_EXPORT symbols leave the shared object. The
** system headers above stay outside the pragma. */
#pragma GCC visibility push(hidden)


/* {======================================================================
** Type kinds and the scalar table
** ======================================================================= */

typedef enum {
  CT_SIMPLE,    /* one of the scalar types below (c_int, c_char_p, ...) */
  CT_POINTER,   /* POINTER(T): pointee in CT_TUV_PROTO */
  CT_ARRAY,     /* T * n: element in CT_TUV_PROTO, count in length */
  CT_STRUCT,    /* Structure: fields in CT_TUV_FIELDS */
  CT_UNION,     /* Union: fields in CT_TUV_FIELDS */
  CT_FUNC       /* CFUNCTYPE(...): a function pointer type */
} ct_Kind;

/*
** The scalar table: X(CODE, name, C type, libffi type).
** Aliases (c_int32 = c_int, c_size_t = c_ulong, ...) are made in module.c
** from sizes, as ctypes does; they are the same type objects.
*/
#if CHAR_MIN < 0
#define CT_FFI_CHAR ffi_type_schar
#else   /* plain char is unsigned (aarch64, s390x): s390x callers extend it */
#define CT_FFI_CHAR ffi_type_uchar
#endif
#define CT_SCALARS(X) \
  X(BOOL,       c_bool,       _Bool,              ffi_type_uint8) \
  X(CHAR,       c_char,       char,               CT_FFI_CHAR) \
  X(WCHAR,      c_wchar,      wchar_t,            ffi_type_sint32) \
  X(BYTE,       c_byte,       signed char,        ffi_type_schar) \
  X(UBYTE,      c_ubyte,      unsigned char,      ffi_type_uchar) \
  X(SHORT,      c_short,      short,              ffi_type_sshort) \
  X(USHORT,     c_ushort,     unsigned short,     ffi_type_ushort) \
  X(INT,        c_int,        int,                ffi_type_sint) \
  X(UINT,       c_uint,       unsigned int,       ffi_type_uint) \
  X(LONG,       c_long,       long,               ffi_type_slong) \
  X(ULONG,      c_ulong,      unsigned long,      ffi_type_ulong) \
  X(LONGLONG,   c_longlong,   long long,          ffi_type_sint64) \
  X(ULONGLONG,  c_ulonglong,  unsigned long long, ffi_type_uint64) \
  X(FLOAT,      c_float,      float,              ffi_type_float) \
  X(DOUBLE,     c_double,     double,             ffi_type_double) \
  X(LONGDOUBLE, c_longdouble, long double,        ffi_type_longdouble) \
  X(CHAR_P,     c_char_p,     char *,             ffi_type_pointer) \
  X(WCHAR_P,    c_wchar_p,    wchar_t *,          ffi_type_pointer) \
  X(VOID_P,     c_void_p,     void *,             ffi_type_pointer)

typedef enum {
#define CT_X_ENUM(code, name, ctype, ffit) CT_##code,
  CT_SCALARS(CT_X_ENUM)
#undef CT_X_ENUM
  CT_NSCALARS
} ct_Scalar;

/* } ====================================================================== */


/* {======================================================================
** Type descriptors: the plain C struct at the start of a type userdata
** (metatable "ctypes.Type"). Lua references live in its uservalues.
** ======================================================================= */

/* ct_Type.flags */
#define CT_INCOMPLETE 0x01  /* struct/union declared without _fields_ yet */
#define CT_FINAL      0x02  /* _fields_ assigned: layout can no longer change */
#define CT_SWAPPED    0x08  /* fields stored in the non-native byte order */
#define CT_ANCHORED   0x10  /* kept alive for the life of the state in the
                               registry at [anchor]: instances need not
                               keep it (ct_anchortype) */

/* Arrays and structures nest at most this deep: initialising, copying and
** classifying a value recurse once per level on the C stack (pointers and
** function types end a chain) */
#define CT_MAXDEPTH 1000

typedef struct ct_Type {
  ct_Kind kind;
  int scalar;          /* ct_Scalar for CT_SIMPLE; -1 otherwise */
  unsigned flags;
  unsigned depth;      /* arrays: element's + 1; structs/unions: deepest
                          member's (or base's) + 1; others 0 */
  size_t size;
  size_t align;
  size_t length;       /* CT_ARRAY: number of elements */
  ffi_type *ffi;       /* by-value libffi type; NULL until built (aggregates:
                          call.c builds it lazily, storage in CT_TUV_EXT) */
  void *ext;           /* kind-specific C data, owned by the CT_TUV_EXT value */
  struct ct_Type *proto;  /* CT_POINTER/CT_ARRAY: the element type (the one
                             in CT_TUV_PROTO, which keeps it alive) */
  const struct ct_FieldMap *fmap;  /* CT_STRUCT/CT_UNION with _fields_: name
                             -> Field for instance access (struct.c; owned
                             by the CT_TUV_FIELDS table); NULL otherwise */
  int anchor;          /* CT_ANCHORED: its registry index (luaL_ref) */
} ct_Type;

/* uservalue slots of a type userdata */
enum {
  CT_TUV_NAME = 1,  /* string: tostring(T) */
  CT_TUV_PROTO,     /* element (array), pointee (pointer), restype (func, nil
                       = void), base type (derived struct) */
  CT_TUV_FIELDS,    /* struct/union: { [1..n] = Field, [name] = Field };
                       func: argtypes sequence */
  CT_TUV_CACHE,     /* { [n] = T * n } */
  CT_TUV_BODY,      /* struct/union: class body (methods, _pack_, ...);
                       func: options table */
  CT_TUV_EXT,       /* userdata owning ext/ffi storage, or nil */
  CT_TUV_POINTER,   /* POINTER(T), once made (one API call away: pointer(x)
                       asks for it every time) */
  CT_TUV_N = CT_TUV_POINTER
};

/* } ====================================================================== */


/* {======================================================================
** Instances (CData): one userdata (metatable "ctypes.CData"), the header
** below, then the payload aligned for the type.
** ======================================================================= */

/* ct_CData.flags */
#define CT_CD_OWNS     0x01  /* the memory is this object's own payload/buffer */
#define CT_CD_RESIZED  0x02  /* ptr is a resize() buffer held in its keep table */
#define CT_CD_COMPACT  0x04  /* compact object: no ptr/size fields (below) */
#define CT_CD_MOVED    0x08  /* compact object resize() moved: see `moved` */
#define CT_CD_OFFSHIFT 24    /* compact: flags >> this = offset of the value */

/* Two layouts share the first two fields. A full header has all four. A
** compact object -- an owning instance of a scalar type that cannot hold a
** pointer and is anchored for the life of the state (ct_anchortype), such
** as c_int(5) -- ends after `flags`: its value follows at the offset kept
** in the top bits of flags (12 for a c_int on a 64-bit target), size is its
** type's, and it has no user values (48 bytes in all for a c_int, as much
** as Lua's own userdata header and the int). Read the memory and size
** through ct_cdptr/ct_cdsize, never the fields. resize() cannot grow a
** compact object in place: it gives it a full header of its own, kept in
** its keep table, and points `moved` at it (CT_CD_MOVED); ct_cdof resolves
** that, so every ct_CData obtained from a userdata goes through ct_cdof. */
typedef struct ct_CData {
  union {
    ct_Type *type;            /* descriptor (not CT_CD_MOVED) */
    struct ct_CData *moved;   /* CT_CD_MOVED: the full header to use */
  };
  unsigned flags;
  /* compact objects end here */
  void *ptr;            /* the C memory */
  size_t size;          /* bytes at ptr (sizeof(obj); grows with resize) */
} ct_CData;

/* the header to use for the instance memory ud */
static inline ct_CData *ct_cdof (void *ud) {
  ct_CData *cd = (ct_CData *)ud;
  return (cd->flags & CT_CD_MOVED) ? cd->moved : cd;
}
/* its C memory and its size in bytes */
static inline void *ct_cdptr (const ct_CData *cd) {
  return (cd->flags & CT_CD_COMPACT)
             ? (void *)((char *)cd + (cd->flags >> CT_CD_OFFSHIFT)) : cd->ptr;
}
static inline size_t ct_cdsize (const ct_CData *cd) {
  return (cd->flags & CT_CD_COMPACT) ? cd->type->size : cd->size;
}

/* uservalue slots of a CData. Views have all three; objects that own their
** memory only what they can need: the type, and the keep slot unless they
** are scalars that cannot hold a pointer (one user value, or none at all
** when compact: c_int(5)).
** Keep tables of objects without the slot (rare: resize, a pointer stored
** through a view of a scalar) live in a weak-keyed side table: always use
** ct_pushkeep, never the slot directly. */
enum {
  CT_UV_TYPE = 1,   /* the type userdata */
  CT_UV_KEEP,       /* roots: table of objects kept alive by stores into
                       this object (ctypes' _objects); created lazily */
  CT_UV_BASE,       /* views: what keeps the memory alive (base object) */
  CT_UV_N = CT_UV_BASE
};
/* CT_FUNC instances (function objects and callbacks) have more; the
** signature (argtypes, restype) lives in the call info only */
enum {
  CT_UV_CALLINFO = CT_UV_N + 1,  /* func.c: ct_Call userdata (uservalue 1:
                       the signature userdata, 2: paramflags) */
  CT_UV_ERRCHECK,   /* func.c: errcheck function or nil */
  CT_UV_OWNER,      /* func.c: the library the symbol came from */
  CT_UV_CLOSURE,    /* callback.c: closure userdata (owns the libffi closure
                       and holds the Lua function) */
  CT_NUV_FUNC = CT_UV_CLOSURE
};

/* } ====================================================================== */


/* {======================================================================
** Conversion results (ct_tocvalue, ct_scalar_set)
** ======================================================================= */
#define CT_CONV_FAIL    (-1)  /* error message pushed ("expected X, got Y") */
#define CT_CONV_OK        0   /* done, nothing to keep alive */
#define CT_CONV_KEEPARG   1   /* memory now points into the Lua value at idx:
                                 keep that value alive */
#define CT_CONV_KEEPTOP   2   /* memory now points into a new object pushed on
                                 top of the stack: keep it alive (caller pops) */

/* } ====================================================================== */


/* lua_tointegerx without string coercion: only numbers with an integer
** value count (conversions are strict) */
static inline lua_Integer ct_tointegerx (lua_State *L, int idx, int *isnum) {
  if (lua_type(L, idx) != LUA_TNUMBER) { *isnum = 0; return 0; }
  return lua_tointegerx(L, idx, isnum);
}

/* pointer slots may be unaligned (packed structures): memcpy, one move */
static inline void *ct_loadptr (const void *slot) {
  void *a;
  memcpy(&a, slot, sizeof a);
  return a;
}
static inline void ct_storeptr (void *slot, const void *a) {
  memcpy(slot, &a, sizeof a);
}

/* Metatables recognised by address carry that address (a static key) as
** a light userdata at [1] (ct_markmetatable): a userdata is one of ours
** when its metatable has the mark, which one array lookup in the metatable
** finds (a registry lookup by key and a comparison cost twice as much). Lua
** code cannot read or copy the mark: the metatables are protected
** (__metatable) and the key is the address of a static of this module. */
static inline void *ct_testudata (lua_State *L, int idx, const void *key) {
  void *p = lua_touserdata(L, idx);
  if (p != NULL && lua_getmetatable(L, idx)) {
    int same = lua_rawgeti(L, -1, 1) == LUA_TLIGHTUSERDATA &&
               lua_touserdata(L, -1) == key;
    lua_pop(L, 2);
    if (same) return p;
  }
  return NULL;
}
/* marks the metatable at idx for ct_testudata(..., key) and stores it in
** the registry under key */
void ct_markmetatable (lua_State *L, int idx, const void *key);

/* The hot half of ct_scalar_set: stores the Lua number at idx into the
** integer or floating scalar `code` at p exactly as ct_scalar_set would
** (integers wrap modulo 2^N, floats are rounded) and returns 1; returns 0,
** storing nothing, for every other value or code (the caller then takes
** the general path, which converts or raises the error). */
static inline int ct_fastset (lua_State *L, int code, void *p, int idx) {
  if (lua_isinteger(L, idx)) {
    uint64_t u = (uint64_t)lua_tointeger(L, idx);
    switch (code) {
#define CT_FS_INT(CODE, T) \
      case CT_##CODE: { T v = (T)u; memcpy(p, &v, sizeof v); return 1; }
      CT_FS_INT(BYTE, signed char) CT_FS_INT(UBYTE, unsigned char)
      CT_FS_INT(SHORT, short) CT_FS_INT(USHORT, unsigned short)
      CT_FS_INT(INT, int) CT_FS_INT(UINT, unsigned int)
      CT_FS_INT(LONG, long) CT_FS_INT(ULONG, unsigned long)
      CT_FS_INT(LONGLONG, long long) CT_FS_INT(ULONGLONG, unsigned long long)
#undef CT_FS_INT
      case CT_FLOAT: {
        float v = (float)(lua_Integer)u;
        memcpy(p, &v, sizeof v);
        return 1;
      }
      case CT_DOUBLE: {
        double v = (double)(lua_Integer)u;
        memcpy(p, &v, sizeof v);
        return 1;
      }
      default: return 0;
    }
  }
  if (lua_type(L, idx) == LUA_TNUMBER) {
    lua_Number n = lua_tonumber(L, idx);
    if (code == CT_FLOAT) { float v = (float)n; memcpy(p, &v, sizeof v); return 1; }
    if (code == CT_DOUBLE) { double v = n; memcpy(p, &v, sizeof v); return 1; }
  }
  return 0;
}

/* error.c: every error goes through these. They never return. */
int ct_error (lua_State *L, const char *exc, const char *fmt, ...);
int ct_argerror (lua_State *L, int argn, const char *fmt, ...);
/* "expected <T>, got <what>" pushed on the stack; returns CT_CONV_FAIL */
int ct_pushexpected (lua_State *L, int tidx, int idx);
/* pushes (and returns) a short description of the Lua value at idx for
** "got ...": "nil", "string", "integer", "number", "table",
** "c_int instance", "type c_int", "byref(c_int)", "CDLL 'libm.so.6'",
** "Field 'x'", ...: ctypes objects by their ctypes names, never
** "userdata" */
const char *ct_describe (lua_State *L, int idx);
/* for ct_describe: each pushes the name of the object at idx and returns 1
** if it is of its kind, else returns 0 (module.c, library.c, struct.c) */
int ct_describebyref (lua_State *L, int idx);   /* "byref(c_int[, off])" */
int ct_describelib (lua_State *L, int idx);     /* "CDLL 'name'" */
int ct_describefield (lua_State *L, int idx);   /* "Field 'name'" */

/* type.c */
ct_Type *ct_newtype (lua_State *L, ct_Kind kind, const char *name);
ct_Type *ct_totype (lua_State *L, int idx);
/* the type at idx or "TypeError: argument <idx> must be a ctypes type, got
** ..." (type methods: T is always there, bound) */
ct_Type *ct_checktype (lua_State *L, int idx);
const char *ct_typename (lua_State *L, int tidx);
void ct_pointertype (lua_State *L, int tidx);            /* pushes POINTER(T) */
void ct_arraytype (lua_State *L, int tidx, lua_Integer n); /* pushes T * n */
void ct_pushscalartype (lua_State *L, int code);         /* pushes c_int, ... */
void ct_checkcomplete (lua_State *L, int tidx);   /* TypeError if incomplete */
/* the same from the function fname: "TypeError: <fname>: T is an
** incomplete type (_fields_ not set)" */
void ct_checkcompletefor (lua_State *L, int tidx, const char *fname);
int ct_ispointerlike (const ct_Type *t);  /* holds one address: pointers,
                                   c_void_p, c_char_p, c_wchar_p, functions */
void ct_settypemethod (lua_State *L, const char *name, lua_CFunction f);
/* creates the metatable `name` (an existing one is a bug) with funcs;
** getmetatable() on its objects returns `name` (__metatable) */
void ct_newmetatable (lua_State *L, const char *name, const luaL_Reg *funcs);
void ct_registerscalar (lua_State *L, int code, int tidx);
/* keeps the type at tidx alive for the life of the state, at registry
** index t->anchor (CT_ANCHORED) */
void ct_anchortype (lua_State *L, int tidx);
/* cdata.c, once "ctypes.CData" (at mtidx) exists: T(...) gets it as an
** upvalue */
void ct_type_setcdatamt (lua_State *L, int mtidx);
void ct_open_type (lua_State *L);

/* The scalar rules' fast halves: scalar.c's ct_scalar_set/ct_scalar_push
** start with them, and the hot paths of call.c (direct calls) and
** callback.c (arguments, results) use them, so that each rule is written
** once. Each takes the common case and returns 0, having changed nothing,
** where the general routine must decide. */

/* integer types take numbers with an integer value, never strings (floats
** beyond the int64 range: the general routine) */
static inline int ct_fast_tointeger (lua_State *L, int idx, lua_Integer *v) {
  int ok;
  if (lua_isinteger(L, idx)) {      /* the common case first: two calls */
    *v = lua_tointegerx(L, idx, NULL);
    return 1;
  }
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  *v = lua_tointegerx(L, idx, &ok);
  return ok;
}
/* floating types take any number, never a string; an integer converts
** straight to the C type (for double that is what lua_tonumber does; a
** float must not be rounded twice) */
static inline int ct_fast_todouble (lua_State *L, int idx, double *d) {
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  *d = (double)lua_tonumber(L, idx);
  return 1;
}
static inline int ct_fast_tofloat (lua_State *L, int idx, float *f) {
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  *f = lua_isinteger(L, idx) ? (float)lua_tointeger(L, idx)
                             : (float)lua_tonumber(L, idx);
  return 1;
}
/* stores: the plain Lua values of every scalar rule that needs no
** allocation and cannot fail halfway, stored at p (any alignment) as the
** scalar `code`. Returns 0 (nothing changed: ct_scalar_set decides),
** CT_FAST_DONE, or CT_FAST_KEEP (p now points into the Lua string at idx,
** which must stay alive). ct_scalar_set starts with it; call.c's direct
** path and callback.c's results use it instead of rules of their own. */
#define CT_FAST_DONE 1
#define CT_FAST_KEEP 2
static inline int ct_fast_set (lua_State *L, int code, void *p, int idx) {
  lua_Integer v;
  switch (code) {
#define CT_FAST_INT(CODE, T) \
    case CT_##CODE: { T x_; \
      if (!ct_fast_tointeger(L, idx, &v)) return 0; \
      x_ = (T)v; memcpy(p, &x_, sizeof x_); return CT_FAST_DONE; }
    CT_FAST_INT(BYTE, signed char)
    CT_FAST_INT(UBYTE, unsigned char)
    CT_FAST_INT(SHORT, short)
    CT_FAST_INT(USHORT, unsigned short)
    CT_FAST_INT(INT, int)
    CT_FAST_INT(UINT, unsigned int)
    CT_FAST_INT(LONG, long)
    CT_FAST_INT(ULONG, unsigned long)
    CT_FAST_INT(LONGLONG, long long)
    CT_FAST_INT(ULONGLONG, unsigned long long)
#undef CT_FAST_INT
    case CT_BOOL: {
      _Bool b;
      if (!lua_isboolean(L, idx)) return 0;
      b = lua_toboolean(L, idx);
      memcpy(p, &b, sizeof b);
      return CT_FAST_DONE;
    }
    case CT_FLOAT: {
      float f;
      if (!ct_fast_tofloat(L, idx, &f)) return 0;
      memcpy(p, &f, sizeof f);
      return CT_FAST_DONE;
    }
    case CT_DOUBLE: {
      double d;
      if (!ct_fast_todouble(L, idx, &d)) return 0;
      memcpy(p, &d, sizeof d);
      return CT_FAST_DONE;
    }
    case CT_CHAR_P:
      if (lua_type(L, idx) == LUA_TSTRING) {
        ct_storeptr(p, lua_tostring(L, idx));
        return CT_FAST_KEEP;
      }
      /* FALLTHROUGH */
    case CT_VOID_P: case CT_WCHAR_P:
      if (lua_isnil(L, idx)) { ct_storeptr(p, NULL); return CT_FAST_DONE; }
      if (lua_isinteger(L, idx)) {
        ct_storeptr(p, (void *)(intptr_t)lua_tointeger(L, idx));
        return CT_FAST_DONE;
      }
      return 0;
    default:
      return 0;
  }
}
void ct_scalar_push (lua_State *L, int code, const void *p);
/* loads: the most common scalars inline, the rest by ct_scalar_push (p may
** be unaligned, as the address a pointer holds: each load is a memcpy, one
** move where the target allows it) */
static inline void ct_fast_push (lua_State *L, int code, const void *p) {
  switch (code) {
#define CT_FP_LOAD(CODE, T, PUSH, LT) \
    case CT_##CODE: { T v; memcpy(&v, p, sizeof v); PUSH(L, (LT)v); break; }
    CT_FP_LOAD(INT, int, lua_pushinteger, lua_Integer)
    CT_FP_LOAD(LONG, long, lua_pushinteger, lua_Integer)
    CT_FP_LOAD(LONGLONG, long long, lua_pushinteger, lua_Integer)
    CT_FP_LOAD(DOUBLE, double, lua_pushnumber, lua_Number)
#undef CT_FP_LOAD
    default: ct_scalar_push(L, code, p); break;
  }
}

/* scalar.c */
int ct_scalar_set (lua_State *L, int code, void *p, int idx, int tidx);
void ct_bswap (void *p, size_t n);
/* UTF-8 <-> wchar_t */
void ct_pushwstring (lua_State *L, const wchar_t *w, size_t n);
/* wcsnlen for wide text at any address (max = SIZE_MAX: unbounded) */
size_t ct_wcsnlen (const wchar_t *w, size_t max);
wchar_t *ct_towstring (lua_State *L, int idx, size_t *n); /* pushes buffer */
void ct_open_scalar (lua_State *L);

/* cdata.c */
ct_CData *ct_newcdata (lua_State *L, int tidx);   /* owning, zeroed, pushed */
/* nuv: the instance's user values; CT_UV_N gives an owning object what
** its type needs (fewer for scalars, see the slots above) */
ct_CData *ct_newcdata_sized (lua_State *L, int tidx, size_t size, int nuv);
/* lua_newuserdatauv(L, size, nuv), but a failed allocation is
** "MemoryError: cannot allocate <want> bytes" */
void *ct_newudata (lua_State *L, size_t size, int nuv, size_t want);
ct_CData *ct_newview (lua_State *L, int tidx, void *ptr, int baseidx);
ct_CData *ct_tocdata (lua_State *L, int idx);
/* pushes the type userdata of the instance at idx (its CT_UV_TYPE, or the
** anchored type of a compact object): read it only through this */
void ct_pushcdtype (lua_State *L, int idx);
/* the instance at idx or "TypeError: <fname>: argument <idx> must be a
** ctypes instance, got ..." */
ct_CData *ct_checkinstance (lua_State *L, int idx, const char *fname);
/* pushes the keep table of the object at idx itself (not its root's) and
** returns 1; when it has none, a new one if create, else nil and 0 */
int ct_pushkeep (lua_State *L, int idx, int create);
void ct_keep (lua_State *L, int cdidx, const void *addr, int validx);
/* ct_keep for a new pointer object on top (it keeps nothing yet) whose
** memory now holds the address of the instance at validx */
void ct_keepnew (lua_State *L, int validx);
/* ct_keep for CT_CONV_KEEPARG stores: a pointer value copied from a
** pointer-like instance keeps what keeps that instance's target alive */
void ct_keepvalue (lua_State *L, int cdidx, const void *addr, int validx);
void ct_rebasekeeps (lua_State *L, int srcidx, const void *sp, size_t size,
                     int cdidx, void *dp);
int ct_tocvalue (lua_State *L, int tidx, void *p, int idx);
/* ct_tocvalue + keep-alive in cdidx's root + "TypeError: <what>: ..." on
** failure (what may be NULL) */
void ct_setvalue (lua_State *L, int cdidx, int tidx, void *p, int idx,
                  const char *what);
int ct_simple_new (lua_State *L);       /* T(...) for scalars */
void ct_pushvalue (lua_State *L, int tidx, const void *p, int baseidx);
/* conv.c: the value of the scalar type t at p (any byte order) */
void ct_pushscalarvalue (lua_State *L, const ct_Type *t, const void *p);
int ct_toaddress (lua_State *L, int idx, void **out);
void *ct_pointervalue (const ct_CData *cd);   /* pointer-like: the address */
const char *ct_cdname (lua_State *L, int idx);   /* name of its type */
void ct_open_cdata (lua_State *L);

/* array.c: arrays and pointers */
/* __index/__newindex by kind: cd is the header of the instance at 1 */
int ct_array_index (lua_State *L, ct_CData *cd);

/* The hot case of ct_array_index/ct_array_newindex, inline in the CData
** __index/__newindex: the address of element i of p[i] or a[i] for a
** native-order scalar element, an integer i, a non-NULL pointer or an
** index in bounds; else NULL with nothing done, and the general path makes
** every check again and raises where one fails (NULL, out of bounds, any
** other key). The caller loads (ct_fast_push) or stores (ct_fastset, a
** plain number) the element's scalar, t->proto->scalar. */
static inline char *ct_array_fastelem (lua_State *L, const ct_CData *cd) {
  const ct_Type *t = cd->type, *e = t->proto;
  char *base;
  lua_Integer i;
  if (e->kind != CT_SIMPLE || (e->flags & CT_SWAPPED) || !lua_isinteger(L, 2))
    return NULL;
  i = lua_tointegerx(L, 2, NULL);
  if (t->kind == CT_POINTER)
    return (base = (char *)ct_loadptr(ct_cdptr(cd))) != NULL
               ? base + i * (ptrdiff_t)e->size : NULL;
  return i >= 0 && (lua_Unsigned)i < t->length
             ? (char *)ct_cdptr(cd) + (size_t)i * e->size : NULL;
}

int ct_array_newindex (lua_State *L, ct_CData *cd);
int ct_array_new (lua_State *L);        /* T(...) for arrays and pointers */
int ct_array_init (lua_State *L, int tidx, void *p, int idx, int cdidx);
int ct_array_pairs (lua_State *L);      /* __pairs: 0-based (i, v) */
/* a string stored into a character array (c_char * n, c_wchar * n) of
** type t at p, as ctypes' setters do; the rest of the array is kept. A
** value that is not a string is a TypeError. */
#define CT_STR_VALUE   0   /* .value, c_wchar members: the text, a NUL if
                              there is room */
#define CT_STR_RAW     1   /* .raw: all bytes, no NUL added */
#define CT_STR_MEMBER  2   /* c_char members: up to and including the
                              first NUL */
#define CT_STR_INIT    3   /* initialisers: the text, the rest zeroed */
void ct_array_setstring (lua_State *L, const ct_Type *t, void *p, int idx,
                         int how);
/* CT_CHAR or CT_WCHAR if t is a character array type, else 0 */
int ct_chararray (const ct_Type *t);
/* pushes the text of the character array of type t at p: up to the first
** NUL, at most its length */
void ct_array_pushstring (lua_State *L, const ct_Type *t, const void *p);

/* module.c: luaopen, sizeof/alignment/addressof/byref/pointer/POINTER/
** cast/is_null */
void *ct_tobyref (lua_State *L, int idx);  /* byref() object -> address */
/* the same, and the bytes of the referenced object from there on in
** *avail (untouched when idx is not a byref() object) */
void *ct_tobyrefsized (lua_State *L, int idx, size_t *avail);

/* memory.c: memmove, memset, string_at, wstring_at, resize,
** create_string_buffer, create_unicode_buffer */
void ct_open_memory (lua_State *L);

/* {======================================================================
** Structures and unions: struct.c (instances, field access, initialisers,
** type objects, Fields), layout.c (T._fields_ = ...: the layout engine)
** and type.c (the byte-swapped twins a swapped structure's fields get)
** ======================================================================= */

/* A Field is a userdata "ctypes.Field" (uservalue 1: its type, 2: its name).
** CT_TUV_FIELDS of a struct/union: [1..n] = every _fields_ entry in order
** (a base type's first; unnamed bit fields too, name ""), [name] = Field for
** the named ones (plus those promoted from _anonymous_ members). */
#define CT_F_BITS     0x01  /* bit field (bit_size may be 0: zero width) */
#define CT_F_UNNAMED  0x02  /* unnamed bit field: padding, no access */
#define CT_F_SWAPPED  0x04  /* stored in the non-native byte order */
#define CT_F_ANON     0x08  /* listed in _anonymous_ (is_anonymous) */
typedef struct ct_Field {
  ct_Type *type;       /* the field's type (kept by uservalue 1) */
  size_t offset;       /* byte offset (bit fields: of the storage unit) */
  size_t size;         /* sizeof the field's type */
  size_t bitpos;       /* bit fields: first bit from the start of the
                          struct (big endian: counted from the MSB side) */
  unsigned bit_size;   /* bit fields: width */
  unsigned bit_offset; /* bit fields: shift of the field's lowest bit in the
                          storage unit read as an integer of its type */
  unsigned flags;      /* CT_F_* */
} ct_Field;
/* struct.c: instances, field access, initialisers, type objects, Fields */
ct_Field *ct_tofield (lua_State *L, int idx);   /* NULL if not a Field */
/* for layout.c: a new Field (pushed); the field map of a new field table */
ct_Field *ct_newfield (lua_State *L, const ct_Field *from);
const struct ct_FieldMap *ct_buildfieldmap (lua_State *L, int fidx);
int ct_struct_index (lua_State *L, ct_CData *cd);
int ct_struct_newindex (lua_State *L, ct_CData *cd);
int ct_struct_new (lua_State *L);        /* T(...) */
int ct_struct_typeindex (lua_State *L);  /* T.field, T.method; 0 if none */
int ct_struct_typenewindex (lua_State *L);
int ct_struct_init (lua_State *L, int tidx, void *p, int idx, int cdidx);
void ct_open_struct (lua_State *L);

/* layout.c: T._fields_ = the table at fidx (T at tidx) */
void ct_setfields (lua_State *L, int tidx, int fidx);
/* type.c: pushes the byte-swapped twin of the type at tidx (c_int_be on a
** little-endian host) for the field `name` of a swapped structure */
void ct_otherendian (lua_State *L, int tidx, const char *name);

/* is this host big-endian? (a constant once inlined) */
static inline int ct_hostbig (void) {
  const union { uint16_t u; unsigned char c[2]; } probe = { 0x0102 };
  return probe.c[0] == 0x01;
}

/* } ====================================================================== */


/* library.c */
void ct_open_library (lua_State *L);
/* the address of symbol name in the library (CDLL) at idx, for function
** objects made from {name, lib}: "TypeError: <what>: expected a library
** (CDLL), got ..." if idx is not one, "ValueError: <lib>: library is
** closed", "AttributeError: <lib>: undefined symbol: <name>". The caller
** keeps the library alive (ct_func_new's ownidx). *flags (if not NULL)
** gets the library's CT_SIG_USE_ERRNO. */
void *ct_lib_sym (lua_State *L, int idx, const char *name, const char *what,
                  unsigned *flags);
/* A library is a Lua table (its symbol cache, so that lib.f is one table
** access): 1 if the value at idx is one. Every place that reads a table
** the user gives as data (initializers, argtypes, paramflags, options)
** tests it with ct_isdatatable, so a library given there is the error it
** was when libraries were userdata, not an empty table. */
int ct_islib (lua_State *L, int idx);
#define ct_isdatatable(L, idx)  (lua_istable(L, (idx)) && !ct_islib(L, (idx)))

/* call.c: function objects, the call path, errno.
** A CT_FUNC type's ext is its prepared signature. */
#define CT_SIG_USE_ERRNO  0x01
/* ct_newsig only (never stored): argtypes may hold from_param adapters */
#define CT_SIG_ADAPTERS   0x100
/* the most arguments of a call or a signature, as in ctypes */
#define CT_MAXARGS 1024
/* ct_CData.flags bit set only by func.c on the function objects it makes
** (ct_func_cislot, below) */
#define CT_CD_CALLINFO    0x100
typedef struct ct_Sig {
  unsigned flags;      /* CT_SIG_* */
  int nargs;           /* fixed arguments */
  ct_Type *ret;        /* NULL = void */
  ct_Type **args;      /* nargs descriptors */
  ffi_cif cif;         /* prepared for the fixed arguments */
  ffi_type *rtype;
  ffi_type **atypes;   /* nargs libffi types */
} ct_Sig;
/* pushes a userdata owning a prepared ct_Sig: restype at retidx (nil or
** false = void), argtypes sequence at argsidx (0 = none) */
ct_Sig *ct_newsig (lua_State *L, int retidx, int argsidx, unsigned flags);
int ct_func_index (lua_State *L);
int ct_func_newindex (lua_State *L);
int ct_func_call (lua_State *L);         /* obj(...) */
int ct_functype_new (lua_State *L);      /* F(...) */
ffi_type *ct_ffitype (lua_State *L, int tidx);  /* by-value type, built once */
/* pushes a new function object for the C function at addr, with the default
** restype c_int and no argtypes; ownidx (0 = none) is kept alive (the
** library); flags are CT_SIG_* (use_errno from the library) */
ct_CData *ct_func_new (lua_State *L, void *addr, int ownidx, unsigned flags);
/* TypeError "<what>: expected a function R(A...), got a callback R2(B...)"
** if the value at idx is a callback whose signature is not that of the
** function type at tidx (its C code would read the arguments as what they
** are not); foreign functions and other values pass */
void ct_checkcallback (lua_State *L, int tidx, int idx, const char *what);
void ct_open_call (lua_State *L);

/* {======================================================================
** The callback window: every invariant call.c and callback.c share
** ======================================================================= */

/* Thread-locals shared by call.c (which defines them) and callback.c. The
** initial-exec model makes each access one instruction instead of a
** __tls_get_addr call (the few bytes come from the static TLS surplus that
** the dynamic loader keeps for modules loaded later). */
#define CT_TLS _Thread_local __attribute__((tls_model("initial-exec")))

/* W1. ct_active_L is NULL, or the lua_State making the innermost foreign
**     call on this OS thread. Callbacks run Lua only on it, and only if
**     they belong to its universe (callback.c, cb_ours).
** W2. Its two low bits (free: a lua_State is allocated, so aligned) are the
**     window. CT_WIN_OPEN: set only by call.c around ct_func_call's foreign
**     call (AROUND), when no Lua code runs, the running Lua frame is
**     ct_func_call's and the stack has at least CT_CB_SLACK free slots above
**     its top: general() asks for them with luaL_checkstack, the hot paths
**     push nothing and have LUA_MINSTACK (W6). CT_WIN_SET: the first
**     callback of that foreign call (cb_fast) has left its message handler,
**     the funcs table, a Lua function, the pointer cache's current table
**     and a copy of the function at cb_win..cb_win+4 (callback.c) for the
**     next ones; the next ones leave nothing else.
** W3. No bit means no window: while a callback's own Lua code runs (and
**     outside foreign calls) the bits are clear. A callback entered then
**     takes the general path, which runs Lua only when the running frame
**     of that state is a C function (another binding calling back from its
**     own C function); entered in the middle of Lua code (a signal handler)
**     it runs no Lua and reports, as a call from a foreign thread does.
** W4. The slots callbacks leave above the foreign call's stack top stay
**     until ct_func_call returns (lua_settop to the top of the call).
** W5. A cb_fast call does not keep its closure userdata on the stack:
**     release and collection during it defer what that call still uses to
**     its end (cb_State.inflight, idhold, zombie; cb_settle).
** W6. The hot paths rely on the LUA_MINSTACK free slots Lua gives every C
**     function: */
#define CT_CB_SLACK 16
_Static_assert(LUA_MINSTACK >= CT_CB_SLACK,
               "the callback window needs LUA_MINSTACK >= CT_CB_SLACK");
extern CT_TLS lua_State *ct_active_L;
#define CT_WIN_OPEN ((uintptr_t)1)
#define CT_WIN_SET  ((uintptr_t)2)
#define CT_WIN_BITS (CT_WIN_OPEN | CT_WIN_SET)
/* W7. Set by the callback trampoline when it stored an error to re-raise:
**     call.c checks it right after each foreign call returns and then calls
**     ct_callback_raise (no error unwinds through C frames). */
extern CT_TLS int ct_cb_pending;
/* ctypes' private errno (call.c): swapped with the real errno around the
** foreign calls of use_errno functions and around the Lua code of use_errno
** callbacks (CPython's order: in before, out after) */
extern CT_TLS int ct_errno;
/* debug builds (make asan) check the invariants where that is cheap */
#ifdef CT_DEBUG
#define ct_assert(c) assert(c)    /* <assert.h>: top of the header */
#else
#define ct_assert(c) ((void)0)
#endif

/* } ====================================================================== */


/* libffi returns integer results narrower than ffi_arg widened to a whole
** ffi_arg (on every endianness): narrows the one at p in place, so that the
** value starts at p as every other result does */
/* an integer of a C type 64 - sh bits wide in the low bits of a 64-bit
** word whose upper bits are undefined (a register) or must be made
** defined (a widened ffi_arg result): sign-extended if sgn, else
** zero-extended. Callbacks read register arguments and store inline
** integer results with it (callback.c: intshift gives sh and sgn). */
static inline uint64_t ct_extend (uint64_t v, unsigned sh, int sgn) {
  v <<= sh;
  return sgn ? (uint64_t)((int64_t)v >> sh) : v >> sh;
}

static inline void ct_ffiret_narrow (int code, void *p) {
  ffi_arg v;
  size_t n;
  switch (code) {
    case CT_BOOL: case CT_CHAR: case CT_BYTE: case CT_UBYTE: n = 1; break;
    case CT_SHORT: case CT_USHORT: n = sizeof(short); break;
    case CT_INT: case CT_UINT: n = sizeof(int); break;
    case CT_WCHAR: n = sizeof(wchar_t); break;
    default: return;
  }
  if (n >= sizeof(ffi_arg)) return;
  memcpy(&v, p, sizeof v);
  switch (n) {
    case 1: { uint8_t x = (uint8_t)v; memcpy(p, &x, 1); break; }
    case 2: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
    default: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
  }
}

/* callback.c */
int ct_callback_new (lua_State *L, int tidx, int fidx); /* F(lua_function) */
/* the callback of F for a Lua function passed as an argument: one per
** (function, F), alive as long as the function */
int ct_callback_auto (lua_State *L, int tidx, int fidx);
int ct_callback_close (lua_State *L);    /* __close / explicit release */
int ct_callback_raise (lua_State *L);    /* raise the pending error */
void ct_open_callback (lua_State *L);

/* {======================================================================
** The pointer cache of callback arguments (ptrcache.c, whose head states
** its invariants): one per Lua state, in callback.c's per-state record
** ======================================================================= */

typedef struct ct_PtrCache {
  int curref, oldref;      /* registry indices of the current and the old
                              table (false when there is none) */
  unsigned epoch;          /* rotations: the callback window refetches the
                              current table when this changed */
  int ncur;                /* objects put into the current table */
  int cursize;             /* the size it was made for */
  int caching;             /* the cache pays: every new object goes in */
  uint64_t nhit, nmiss;    /* found and not found since the rotation */
} ct_PtrCache;

/* pushes the object cached at the table cidx for address a of the pointer
** type t and returns 1 if there is a valid one; else returns 0, the stack
** as it was. Never allocates, never raises. */
static inline int ct_ptrcache_lookup (lua_State *L, int cidx,
                                      const ct_Type *t, void *a) {
  if (lua_rawgeti(L, cidx, (lua_Integer)(uintptr_t)a) == LUA_TUSERDATA) {
    const ct_CData *cd = ct_cdof(lua_touserdata(L, -1));
    if (cd->type == t && !(cd->flags & CT_CD_RESIZED) &&
        ct_loadptr(ct_cdptr(cd)) == a)
      return 1;
  }
  lua_pop(L, 1);
  return 0;
}
/* counts a find of ct_ptrcache_lookup in the current table (a miss is
** counted by ct_ptrcache_make) */
static inline void ct_ptrcache_hit (ct_PtrCache *pc) {
  pc->nhit++;
}
/* pushes the current table */
static inline void ct_ptrcache_pushcur (lua_State *L, const ct_PtrCache *pc) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, pc->curref);
}
/* pushes the old table, or nil if there is none, for ct_ptrcache_make */
static inline void ct_ptrcache_pushold (lua_State *L, const ct_PtrCache *pc) {
  if (lua_rawgeti(L, LUA_REGISTRYINDEX, pc->oldref) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
}
/* after a miss in the current table at cidx: pushes an object for address
** a of pointer argument i and caches it (allocates: protected callers only;
** ptrcache.c has the rest) */
void ct_ptrcache_make (lua_State *L, ct_PtrCache *pc, int cidx, int oidx,
                       int atidx, int i, const ct_Type *t, void *a);
/* records the types of sig's pointer arguments (argtypes at atidx) */
void ct_ptrcache_types (lua_State *L, const ct_Sig *sig, int atidx);
/* sets up pc (zeroed) for this state; pc must live as long as the state */
void ct_ptrcache_open (lua_State *L, ct_PtrCache *pc);

/* } ====================================================================== */

/* handle.c: ctypes.gc's views and close hooks, cdef's library functions */
void ct_open_handle (lua_State *L);

/* the target boundary: ABI-specific paths (abi.h, abi_x64.c) */
#include "abi.h"

/* {======================================================================
** Function objects (func.c) and the call path (call.c): what both read.
** A CT_FUNC type's ext is its ct_CallSig; a function object's call info
** (ct_Call, CT_UV_CALLINFO) points to the signature it calls with.
** ======================================================================= */

/* fast argument converters */
enum {
  CT_FC_GEN, CT_FC_I8, CT_FC_U8, CT_FC_I16, CT_FC_U16, CT_FC_I32, CT_FC_U32, CT_FC_I64, CT_FC_BOOL,
  CT_FC_FLOAT, CT_FC_DOUBLE, CT_FC_CHARP, CT_FC_VOIDP, CT_FC_PTR, CT_FC_AGG,
  CT_FC_END   /* the record after the last argument (ct_CallSig.a[nargs]) */
};

/* how results come back */
enum {
  CT_RK_VOID, CT_RK_SCALAR, CT_RK_OBJ, CT_RK_BIG, CT_RK_CALLABLE
};

typedef struct ct_Arg {
  ct_Type *t;
#if CT_ABI_X64
  ct_Low low;
#endif
  unsigned char fc;     /* CT_FC_* */
  unsigned char hasfp;  /* the type's body defines from_param */
  unsigned char adapter;/* not a type but an object with from_param (t is
                           NULL): converts what from_param returns */
#if CT_ABI_X64
  unsigned char r[2];   /* direct calls: the register of each eightbyte,
                           an index among those of its class */
#endif
} ct_Arg;

typedef struct ct_CallSig {
  ct_Sig s;             /* first: ct_Sig * and ct_CallSig * are one pointer */
  unsigned char untyped;/* no argtypes: arguments convert by Lua type */
  unsigned char adapters;/* some argtypes are from_param adapters: the
                           libffi types are known per call */
  unsigned char rk;     /* CT_RK_* */
  unsigned char rscalar;/* CT_RK_SCALAR: the scalar code */
  size_t rsize;
  ct_Arg *a;
#if CT_ABI_X64
  unsigned char direct; /* all fixed arguments in registers */
  unsigned char fast;   /* direct, and a result the hot path can push */
  unsigned char hotint; /* fast, only int/long arguments, result in rax */
  unsigned char hotdbl; /* fast, only double arguments (at most 4) */
  unsigned char nsse;   /* direct: the SSE registers the arguments take */
  const void *cdmt;     /* the "ctypes.CData" metatable (identity only) */
  unsigned char split;  /* some argument needs the libffi bug workaround */
  unsigned char rd;     /* CT_RD_* */
  ct_Low rlow;
  ffi_cif *callcif;     /* &s.cif, or &scif when split */
  ffi_cif scif;
  int nsplit;           /* libffi arguments of scif */
  ffi_type **satypes;
#endif
} ct_CallSig;



/* per-object call info: uservalue 1 = the ct_CallSig userdata, 2 = paramflags */
#define CT_CI_ERRCHECK   0x01
#define CT_CI_PARAMFLAGS 0x02
#define CT_CI_EXACT      0x04   /* made by a prototype: no variadic extras */

typedef struct ct_Call {
  ct_CallSig *sig;
  unsigned flags;
  /* call.c's fast path for this signature and flags, chosen once by
  ** ct_call_prepare: the argument count of the int-only path (else -1),
  ** of the other paths (else -1), and which of those */
  int intn, fastn, path;
} ct_Call;
/* call.c: chooses ci->fast and ci->fastn (after any change of the
** signature or the flags) */
void ct_call_prepare (ct_Call *ci);

/* one argument's storage: big enough and aligned for any scalar and for
** aggregates of up to 16 bytes */
typedef union ct_Slot {
  ffi_arg i;
  int64_t l;
  double d;
  float f;
  long double ld;
  void *p;
  unsigned char b[16];
} ct_Slot;

/* A function object made by func.c (CT_CD_CALLINFO) is one userdata: the
** CData header, one ct_Call pointer, then the payload at cd->ptr, which is
** the function's address and nothing else (cd->size bytes). The pointer
** spares the call path a uservalue lookup; it is written only by func.c's
** setcallinfo, together with CT_UV_CALLINFO (which keeps the ct_Call
** alive). Once resize() has moved the payload (CT_CD_RESIZED) the slot is
** no longer there: NULL, and the uservalue decides. */
static inline ct_Call **ct_func_cislot (const ct_CData *cd) {
  if ((cd->flags & (CT_CD_CALLINFO | CT_CD_RESIZED)) != CT_CD_CALLINFO)
    return NULL;
  return (ct_Call **)cd->ptr - 1;   /* never compact: the field is there */
}

/* conv.c's ct_pushvalue loads a non-scalar (baseidx 0) with this; inline
** for callers that hold the descriptor t of the type at tidx (callback
** arguments): a new instance holding a copy of the t->size bytes at p
** (ct_newcdata without looking the type up twice more) */
static inline void ct_pushcopy (lua_State *L, const ct_Type *t, int tidx,
                                const void *p) {
  ct_CData *cd;
  if (t->flags & CT_INCOMPLETE) ct_checkcomplete(L, tidx);   /* raises */
  cd = ct_newcdata_sized(L, tidx, t->size, CT_UV_N);   /* nuv by kind */
  memcpy(ct_cdptr(cd), p, t->size);
}
/* conv.c: the Lua value at idx as argument argn of the declared type at
** tidx (a is its ct_Arg): the value goes to slot or stays in memory the
** stack keeps alive; returns its address ("ArgumentError: argument n: ..."
** if it does not convert). Objects it points into stay on the stack. */
void *ct_conv_arg (lua_State *L, int argn, int tidx, const ct_Arg *a,
                   int idx, ct_Slot *slot);
/* an argument whose argtypes entry at aidx is a from_param adapter: what
** its from_param returns, converted by its own type; *ft its libffi type */
void *ct_conv_adapted (lua_State *L, int argn, int aidx, int idx,
                       ct_Slot *slot, ffi_type **ft);
/* T.from_param(value): 1 = T, 2 = value (the parameter rules of T) */
int ct_conv_fromparam (lua_State *L);
/* the same without a declared type: by the Lua type (no argtypes), or with
** C's default promotions (promote: a variadic extra); *ft its libffi type */
void *ct_conv_vararg (lua_State *L, int argn, int idx, ct_Slot *slot,
                      ffi_type **ft, int promote);

/* the call info of the function object at idx (made from its type's
** signature for objects that have none yet: views, callbacks) */
ct_Call *ct_func_callinfo (lua_State *L, int idx);
/* can a function object of type `from` be passed where `to` is expected? */
int ct_func_samesig (const ct_Type *to, const ct_Type *from);
/* pushes "restype(argtype, ...)" for the function type at tidx */
void ct_func_pushsig (lua_State *L, int tidx);
void ct_open_func (lua_State *L);   /* CFUNCTYPE; called by ct_open_call */

/* } ====================================================================== */

#pragma GCC visibility pop

#endif
