/*
** call.c -- foreign functions: function objects (argtypes, restype,
** errcheck, paramflags), prototypes (CFUNCTYPE), by-value libffi types of
** aggregates, the call path (a direct register-only path on x86-64 SysV and
** libffi for everything else) and ctypes' private errno.
*/
#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "ctypes.h"

/* the lua_State of the innermost foreign call on this thread (callbacks run
** Lua only on it; its low bits: the callback window, ctypes.h) and the flag
** the trampoline sets to have us re-raise */
CT_TLS lua_State *ct_active_L;
CT_TLS int ct_cb_pending;

/* ctypes' private errno, swapped with the real one around calls that use it */
static CT_TLS int ct_errno;
/* set by ctypes._calls_direct(false): every call goes through libffi (the
** differential test checks both paths against gcc-compiled C) */
static CT_TLS int ct_nodirect;

/* registry keys */
static const char protocache_key = 'p';/* weak values: signature -> F */
static const char deffunc_key = 'd';   /* flags -> default function type */



#if !CT_ABI_X64
/* {======================================================================
** By-value libffi types of aggregates (portable): built from the fields,
** classified by libffi
** ======================================================================= */

/* Every member of a struct or union (nested aggregates and arrays
** flattened) marks the bytes it covers in a byte map: integer, or a
** floating type with its first byte flagged. Where members of a union
** disagree (a float over an int, a float over a double) the bytes are
** integer: no target passes such a union in floating registers except
** x86-64, which has its own description (abi_x64.c). The map then becomes
** libffi elements in order: each complete floating leaf as itself, the
** integer runs as the widest unsigned integers that fit, so that libffi's
** own layout reproduces every offset; size and alignment are the type's.
** Aggregates larger than AGG_BIG bytes travel in memory everywhere: one
** element stands for their bytes. */
enum { B_PAD, B_INT, B_FLOAT, B_DOUBLE, B_LDOUBLE };
#define B_START 0x80
#define AGG_BIG 256

static ffi_type *const bytekind[] = {
  NULL, NULL, &ffi_type_float, &ffi_type_double, &ffi_type_longdouble
};

static void markint (unsigned char *map, size_t off, size_t n) {
  memset(map + off, B_INT, n);
}

static void markfloat (unsigned char *map, size_t off, int k) {
  size_t i, n = bytekind[k]->size;
  for (i = 0; i < n; i++) {
    unsigned char want = (unsigned char)(k | (i == 0 ? B_START : 0));
    if (map[off + i] == B_PAD) map[off + i] = want;
    else if (map[off + i] != want) map[off + i] = B_INT;
  }
}

/* marks the bytes of the type at tidx placed at byte offset off */
static void markbytes (lua_State *L, int tidx, size_t off, unsigned char *map) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, tidx);
  tidx = lua_absindex(L, tidx);
  luaL_checkstack(L, 4, NULL);             /* recursive for nested types */
  switch (t->kind) {
    case CT_SIMPLE:
      switch (t->scalar) {
        case CT_FLOAT: markfloat(map, off, B_FLOAT); break;
        case CT_DOUBLE: markfloat(map, off, B_DOUBLE); break;
        case CT_LONGDOUBLE: markfloat(map, off, B_LDOUBLE); break;
        default: markint(map, off, t->size); break;
      }
      break;
    case CT_ARRAY: {
      size_t i;
      lua_getiuservalue(L, tidx, CT_TUV_PROTO);
      for (i = 0; i < t->length && t->proto->size > 0; i++)
        markbytes(L, -1, off + i * t->proto->size, map);
      lua_pop(L, 1);
      break;
    }
    case CT_STRUCT: case CT_UNION: {
      lua_Integer i, n;
      if (CT_ABI_UNION_INT && t->kind == CT_UNION) {   /* abi.h */
        markint(map, off, t->size);
        break;
      }
      lua_getiuservalue(L, tidx, CT_TUV_FIELDS);
      n = lua_istable(L, -1) ? luaL_len(L, -1) : 0;
      for (i = 1; i <= n; i++) {
        ct_Field *f;
        lua_rawgeti(L, -1, i);
        f = ct_tofield(L, -1);
        if (f != NULL && (f->flags & CT_F_BITS)) {
          /* bit fields are integer bytes over the storage they occupy */
          if (f->bit_size > 0) {
            size_t first, last;
            if (f->flags & CT_F_SWAPPED) {
              first = off + f->offset;
              last = first + f->size - 1;
            }
            else {
              first = off + f->bitpos / 8;
              last = off + (f->bitpos + f->bit_size - 1) / 8;
            }
            markint(map, first, last - first + 1);
          }
        }
        else if (f != NULL) {
          lua_getiuservalue(L, -1, 1);          /* the field's type */
          markbytes(L, -1, off + f->offset, map);
          lua_pop(L, 1);
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
      break;
    }
    default:                                  /* pointers, functions */
      markint(map, off, t->size);
      break;
  }
}

/* floating leaves that are incomplete (overlapped) or misaligned become
** integer bytes */
static void settlemap (unsigned char *map, size_t size) {
  size_t i = 0;
  while (i < size) {
    int k = map[i] & ~B_START;
    if (k >= B_FLOAT) {
      size_t n = bytekind[k]->size, j;
      int ok = (map[i] & B_START) && i + n <= size &&
               i % bytekind[k]->alignment == 0;
      for (j = 1; ok && j < n; j++) ok = map[i + j] == k;
      if (ok) { i += n; continue; }
      map[i] = B_INT;
      for (j = i + 1; j < size && (map[j] & ~B_START) == k &&
                      !(map[j] & B_START); j++)
        map[j] = B_INT;
    }
    i++;
  }
}

#define ALIGNUP(x, a) (((x) + (a) - 1) / (a) * (a))

/* the elements for the byte map (el NULL: count only) */
static size_t mapelements (const unsigned char *map, size_t size,
                           ffi_type **el) {
  static ffi_type *const ints[] = {
    &ffi_type_uint64, &ffi_type_uint32, &ffi_type_uint16, &ffi_type_uint8
  };
  size_t i = 0, pos = 0, n = 0;
  while (i < size) {
    ffi_type *ft = NULL;
    int k = map[i] & ~B_START;
    if (k == B_PAD) { i++; continue; }
    if (k >= B_FLOAT) {
      ft = bytekind[k];
      if (ALIGNUP(pos, ft->alignment) != i) ft = NULL;
    }
    else {
      size_t c, j;
      for (c = 0; c < 4 && ft == NULL; c++) {
        int fits = i + ints[c]->size <= size && i % ints[c]->alignment == 0 &&
                   ALIGNUP(pos, ints[c]->alignment) == i;
        for (j = 0; fits && j < ints[c]->size; j++)
          fits = map[i + j] == B_INT || map[i + j] == B_PAD;
        if (fits) ft = ints[c];
      }
    }
    if (ft == NULL) {             /* a byte of its own: padding or packed */
      if (pos < i) { if (el) el[n] = &ffi_type_uint8; n++; pos++; continue; }
      ft = &ffi_type_uint8;
    }
    if (el) el[n] = ft;
    n++;
    pos = i + ft->size;
    i = pos;
  }
  return n;
}


/* the libffi type of the struct/union type at tidx, kept alive by the
** type (CT_TUV_EXT: nothing else uses an aggregate's) */
static ffi_type *aggtype (lua_State *L, int tidx) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, tidx);
  ffi_type *ft;
  ffi_type **el;
  size_t n;
  tidx = lua_absindex(L, tidx);
  if (t->size == 0 || t->size > AGG_BIG) n = t->size > 0;
  else {
    unsigned char *map = (unsigned char *)lua_newuserdatauv(L, t->size, 0);
    memset(map, B_PAD, t->size);
    markbytes(L, tidx, 0, map);
    settlemap(map, t->size);
    n = mapelements(map, t->size, NULL);
    ft = (ffi_type *)lua_newuserdatauv(L, sizeof(ffi_type) +
                                       (n + 1) * sizeof(ffi_type *), 0);
    el = (ffi_type **)(ft + 1);
    mapelements(map, t->size, el);
    lua_remove(L, -2);                                  /* the map */
    goto done;
  }
  ft = (ffi_type *)lua_newuserdatauv(L, sizeof(ffi_type) + 2 *
                                     sizeof(ffi_type *), 0);
  el = (ffi_type **)(ft + 1);
  el[0] = &ffi_type_uint8;
 done:
  el[n] = NULL;
  ft->size = t->size;
  ft->alignment = (unsigned short)(t->align > 0 ? t->align : 1);
  ft->type = FFI_TYPE_STRUCT;
  ft->elements = el;
#if CT_ABI_A64_BYREFALIGN
  /* abi.h: an aggregate passed by reference is described with at most a
  ** pointer's alignment (homogeneous float aggregates go by value) */
  if (t->size > 16 && ft->alignment > sizeof(void *)) {
    size_t i;
    int hfa = n <= 4 && el[0]->type != FFI_TYPE_STRUCT;
    for (i = 0; hfa && i < n; i++)
      hfa = el[i] == el[0] && (el[i]->type == FFI_TYPE_FLOAT ||
                               el[i]->type == FFI_TYPE_DOUBLE ||
                               el[i]->type == FFI_TYPE_LONGDOUBLE);
    if (!hfa) ft->alignment = sizeof(void *);
  }
#endif
  lua_setiuservalue(L, tidx, CT_TUV_EXT);
  t->ffi = ft;
  return ft;
}

/* } ====================================================================== */
#endif

ffi_type *ct_ffitype (lua_State *L, int tidx) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, tidx);
  if (t->ffi != NULL) return t->ffi;
  switch (t->kind) {
    case CT_STRUCT: case CT_UNION:
      ct_checkcomplete(L, tidx);
#if CT_ABI_X64
      return ct_x64_aggtype(L, tidx);
#else
      return aggtype(L, tidx);
#endif
    case CT_SIMPLE:   /* set by scalar.c; not reached */
      return &ffi_type_sint;
    default:          /* pointers, functions; arrays decay to pointers */
      return &ffi_type_pointer;
  }
}


/* } ====================================================================== */


/* {======================================================================
** Signatures: everything about a call that depends only on the types,
** prepared once (ct_Sig is the part the callbacks read)
** ======================================================================= */

/* fast argument converters */
enum {
  FC_GEN, FC_I8, FC_U8, FC_I16, FC_U16, FC_I32, FC_U32, FC_I64, FC_BOOL,
  FC_FLOAT, FC_DOUBLE, FC_CHARP, FC_VOIDP, FC_PTR, FC_AGG
};

/* how results come back */
enum {
  RK_VOID, RK_SCALAR, RK_OBJ, RK_BIG, RK_CALLABLE
};

typedef struct Arg {
  ct_Type *t;
#if CT_ABI_X64
  ct_Low low;
#endif
  unsigned char fc;     /* FC_* */
  unsigned char hasfp;  /* the type's body defines from_param */
} Arg;

typedef struct Sig {
  ct_Sig s;             /* first: ct_Sig * and Sig * are the same pointer */
  unsigned char untyped;/* no argtypes: arguments convert by Lua type */
  unsigned char rk;     /* RK_* */
  unsigned char rscalar;/* RK_SCALAR: the scalar code */
  size_t rsize;
  Arg *a;
#if CT_ABI_X64
  unsigned char direct; /* all fixed arguments in registers */
  unsigned char fast;   /* direct, and a result the hot path can push */
  unsigned char hotint; /* fast, only int/long arguments, result in rax */
  unsigned char hotdbl; /* fast, only double arguments (at most 4) */
  const void *cdmt;     /* the "ctypes.CData" metatable (identity only) */
  unsigned char split;  /* some argument needs the libffi bug workaround */
  unsigned char rd;     /* CT_RD_* */
  ct_Low rlow;
  ffi_cif *callcif;     /* &s.cif, or &scif when split */
  ffi_cif scif;
  int nsplit;           /* libffi arguments of scif */
  ffi_type **satypes;
#endif
} Sig;


static unsigned char fastconv (const ct_Type *t) {
  switch (t->kind) {
    case CT_SIMPLE:
      switch (t->scalar) {
        case CT_BYTE: return FC_I8;
        case CT_UBYTE: return FC_U8;
        case CT_SHORT: return FC_I16;
        case CT_USHORT: return FC_U16;
        case CT_INT: return FC_I32;
        case CT_UINT: return FC_U32;
        case CT_LONG: case CT_ULONG: case CT_LONGLONG: case CT_ULONGLONG:
          return FC_I64;
        case CT_BOOL: return FC_BOOL;
        case CT_FLOAT: return FC_FLOAT;
        case CT_DOUBLE: return FC_DOUBLE;
        case CT_CHAR_P: return FC_CHARP;
        case CT_VOID_P: return FC_VOIDP;
        default: return FC_GEN;
      }
    case CT_POINTER: return FC_PTR;
    case CT_STRUCT: case CT_UNION: return FC_AGG;
    default: return FC_GEN;
  }
}


static int hasfromparam (lua_State *L, int tidx) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, tidx);
  int r = 0;
  if (t->kind != CT_STRUCT && t->kind != CT_UNION) return 0;
  if (lua_getiuservalue(L, tidx, CT_TUV_BODY) == LUA_TTABLE) {
    lua_getfield(L, -1, "from_param");
    r = lua_isfunction(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return r;
}


static void checkargtype (lua_State *L, int idx, lua_Integer i) {
  ct_Type *t = ct_totype(L, idx);
  if (t == NULL) {
    const char *got = ct_describe(L, idx);
    ct_error(L, "TypeError", "argtypes: item %I must be a ctypes type, got %s",
             i, got);
  }
  if ((t->kind == CT_STRUCT || t->kind == CT_UNION) &&
      (t->flags & CT_INCOMPLETE))
    ct_error(L, "TypeError", "argtypes: item %I: %s is an incomplete type",
             i, ct_typename(L, idx));
  if (t->kind == CT_SIMPLE && t->scalar < 0)
    ct_error(L, "TypeError", "argtypes: item %I: bad type", i);
}


static void checkrestype (lua_State *L, int idx) {
  ct_Type *t;
  if (lua_isnoneornil(L, idx) || lua_isfunction(L, idx) ||
      (lua_isboolean(L, idx) && !lua_toboolean(L, idx)))
    return;
  t = ct_totype(L, idx);
  if (t == NULL) {
    const char *got = ct_describe(L, idx);
    ct_error(L, "TypeError", "restype must be a ctypes type, a function or "
             "nil, got %s", got);
  }
  if (t->kind == CT_ARRAY)
    ct_error(L, "TypeError", "restype: %s: a function cannot return an array",
             ct_typename(L, idx));
  if ((t->kind == CT_STRUCT || t->kind == CT_UNION) &&
      (t->flags & CT_INCOMPLETE))
    ct_error(L, "TypeError", "restype: %s is an incomplete type",
             ct_typename(L, idx));
}


ct_Sig *ct_newsig (lua_State *L, int retidx, int argsidx, unsigned flags) {
  lua_Integer n = 0, i;
  Sig *s;
  size_t sz;
  char *mem;
  ffi_status st;
#if CT_ABI_X64
  int gpr, sse, split, allreg, hidden;
  ct_Low *lw;
#endif
  retidx = lua_absindex(L, retidx);
  if (argsidx != 0) {
    argsidx = lua_absindex(L, argsidx);
    if (!lua_istable(L, argsidx)) {
      const char *got = ct_describe(L, argsidx);
      ct_error(L, "TypeError", "argtypes must be a table (sequence) of types "
               "or nil, got %s", got);
    }
    n = luaL_len(L, argsidx);
    if (n > 1024)
      ct_error(L, "ValueError", "argtypes: too many arguments (%I)", n);
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, argsidx, i);
      checkargtype(L, -1, i);
      lua_pop(L, 1);
    }
  }
  checkrestype(L, retidx);
  /* Sig, then ct_Type *args[n], ffi_type *atypes[n], Arg a[n], and on
  ** x86-64 ffi_type *satypes[2n], ct_Low lw[n] */
  sz = sizeof(Sig) + (size_t)n * (2 * sizeof(void *) + sizeof(Arg));
#if CT_ABI_X64
  sz += (size_t)n * (sizeof(ct_Low) + 2 * sizeof(void *));
#endif
  s = (Sig *)lua_newuserdatauv(L, sz, 2);
  memset(s, 0, sz);
  mem = (char *)(s + 1);
  s->s.flags = flags;
  s->s.nargs = (int)n;
  /* pointers first, the byte-sized ct_Low records last: all aligned */
  s->s.args = (ct_Type **)mem; mem += (size_t)n * sizeof(void *);
  s->s.atypes = (ffi_type **)mem; mem += (size_t)n * sizeof(void *);
#if CT_ABI_X64
  s->satypes = (ffi_type **)mem; mem += 2 * (size_t)n * sizeof(void *);
#endif
  s->a = (Arg *)mem; mem += (size_t)n * sizeof(Arg);
#if CT_ABI_X64
  lw = (ct_Low *)mem;
  luaL_getmetatable(L, "ctypes.CData");
  s->cdmt = lua_topointer(L, -1);
  lua_pop(L, 1);
#endif
  s->untyped = argsidx == 0;
  /* uservalues: 1 = restype (false = void), 2 = private argtypes copy */
  if (lua_isnoneornil(L, retidx)) lua_pushboolean(L, 0);
  else lua_pushvalue(L, retidx);
  lua_setiuservalue(L, -2, 1);
  if (argsidx != 0) {
    lua_createtable(L, (int)n, 0);
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, argsidx, i);
      lua_rawseti(L, -2, i);
    }
    lua_setiuservalue(L, -2, 2);
  }
  /* arguments */
  lua_getiuservalue(L, -1, 2);                      /* sig, args */
  for (i = 0; i < n; i++) {
    Arg *a = &s->a[i];
    lua_rawgeti(L, -1, i + 1);
    a->t = (ct_Type *)lua_touserdata(L, -1);
    s->s.args[i] = a->t;
    s->s.atypes[i] = ct_ffitype(L, -1);
    a->fc = fastconv(a->t);
    a->hasfp = (unsigned char)hasfromparam(L, -1);
    if (a->hasfp) a->fc = FC_GEN;
#if CT_ABI_X64
    lw[i] = ct_x64_typelow(L, -1);
#endif
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  /* result */
  s->rk = RK_VOID;
  s->s.rtype = &ffi_type_void;
  if (lua_isfunction(L, retidx)) {
    /* ctypes' callable restype: called with the int result */
    s->rk = RK_CALLABLE;
    s->rscalar = CT_INT;
    s->s.rtype = &ffi_type_sint;
  }
  else if (ct_totype(L, retidx) != NULL) {
    ct_Type *rt = (ct_Type *)lua_touserdata(L, retidx);
    s->s.ret = rt;
    s->s.rtype = ct_ffitype(L, retidx);
    s->rsize = rt->size;
    if (rt->kind == CT_SIMPLE) {
      s->rk = RK_SCALAR;
      s->rscalar = (unsigned char)rt->scalar;
    }
    else if ((rt->kind == CT_STRUCT || rt->kind == CT_UNION) && rt->size > 16)
      s->rk = RK_BIG;
    else
      s->rk = RK_OBJ;
#if CT_ABI_X64
    {
      /* libffi reads a one-long-double aggregate from rax:rdx; it comes
      ** back in st0 exactly like a plain long double */
      ct_Low rlow = ct_x64_typelow(L, retidx);
      if (rlow.x87 && rlow.agg) s->s.rtype = &ffi_type_longdouble;
    }
#endif
  }
#if CT_ABI_X64
  /* the registers: direct calls and the hot paths */
  if (s->s.ret != NULL) s->rlow = ct_x64_typelow(L, retidx);
  else {
    memset(&s->rlow, 0, sizeof s->rlow);
    s->rlow.n = 1;                     /* void, or the callable's int */
    s->rlow.c[0] = CT_CL_INT;
  }
  s->rd = (unsigned char)(s->rk == RK_VOID ? CT_RD_VOID : ct_x64_rd(&s->rlow));
  hidden = s->rd == CT_RD_MEM;
  allreg = ct_x64_place(lw, (int)n, hidden, &gpr, &sse, &split, NULL);
  (void)gpr; (void)sse;
  for (i = 0; i < n; i++) s->a[i].low = lw[i];
  s->split = (unsigned char)split;
#if CT_X64_DIRECT
  s->direct = (unsigned char)(allreg && !s->untyped);
  s->fast = (unsigned char)(s->direct && s->rk != RK_BIG &&
                            s->rk != RK_CALLABLE);
  s->hotint = (unsigned char)(s->fast && n <= CT_X64_NGPR &&
                              (s->rk == RK_VOID || (s->rk == RK_SCALAR &&
                               s->rd == CT_RD_INT)));
  for (i = 0; i < n && s->hotint; i++) {
    unsigned char fc = s->a[i].fc;
    if (fc != FC_I32 && fc != FC_U32 && fc != FC_I64) s->hotint = 0;
  }
  /* and for up to four doubles, with a double, int-class or no result */
  s->hotdbl = (unsigned char)(s->fast && n <= 4 &&
                              (s->rk == RK_VOID || (s->rk == RK_SCALAR &&
                               (s->rd == CT_RD_INT ||
                                s->rscalar == CT_DOUBLE))));
  for (i = 0; i < n && s->hotdbl; i++)
    if (s->a[i].fc != FC_DOUBLE) s->hotdbl = 0;
  if (s->rk == RK_VOID) s->rscalar = CT_VOID_P;
#else
  (void)allreg;
#endif
#endif
  st = ffi_prep_cif(&s->s.cif, FFI_DEFAULT_ABI, (unsigned)n, s->s.rtype,
                    s->s.atypes);
  if (st != FFI_OK)
    ct_error(L, "TypeError", "libffi cannot prepare this signature (%d)",
             (int)st);
#if CT_ABI_X64
  s->callcif = &s->s.cif;
  if (split) {
    s->nsplit = ct_x64_splittypes(lw, s->s.atypes, (int)n, s->satypes);
    st = ffi_prep_cif(&s->scif, FFI_DEFAULT_ABI, (unsigned)s->nsplit,
                      s->s.rtype, s->satypes);
    if (st != FFI_OK)
      ct_error(L, "TypeError", "libffi cannot prepare this signature (%d)",
               (int)st);
    s->callcif = &s->scif;
  }
#endif
  return &s->s;
}

/* } ====================================================================== */


/* {======================================================================
** Function objects
** ======================================================================= */

/* per-object call info: uservalue 1 = the Sig userdata, 2 = paramflags */
#define CI_ERRCHECK   0x01
#define CI_PARAMFLAGS 0x02
#define CI_EXACT      0x04   /* made by a prototype: no variadic extras */

typedef struct Call {
  Sig *sig;
  unsigned flags;
  int hotn;      /* the argument count when the int-only hot path applies,
                    else -1 */
  int hotdn;     /* the same for the double-only hot path */
} Call;


/* the argument counts of the hot paths (after any change of the flags) */
static void sethot (Call *ci) {
#if CT_X64_DIRECT
  ci->hotn = (ci->sig->hotint && ci->flags == 0) ? ci->sig->s.nargs : -1;
  ci->hotdn = (ci->sig->hotdbl && ci->flags == 0) ? ci->sig->s.nargs : -1;
#else
  ci->hotn = ci->hotdn = -1;
#endif
}


/* pushes the default type of library functions (restype c_int, arguments
** by their Lua types) for the given CT_SIG_* flags */
static void deffunctype (lua_State *L, unsigned flags) {
  ct_Type *t;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &deffunc_key);
  if (lua_rawgeti(L, -1, (lua_Integer)flags) != LUA_TNIL) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);                                   /* cache */
  t = ct_newtype(L, CT_FUNC, "_FuncPtr");          /* cache, F */
  t->size = sizeof(void *);
  t->align = alignof(void *);
  t->ffi = &ffi_type_pointer;
  t->flags = CT_FINAL;
  ct_pushscalartype(L, CT_INT);                    /* cache, F, c_int */
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, -3, CT_TUV_PROTO);
  t->ext = ct_newsig(L, -1, 0, flags);             /* cache, F, c_int, sig */
  lua_setiuservalue(L, -3, CT_TUV_EXT);
  lua_pop(L, 1);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, (lua_Integer)flags);
  lua_remove(L, -2);
}


/* makes the call info of the function object at idx from the signature
** userdata on top (popped); returns it */
static Call *setcallinfo (lua_State *L, int idx, unsigned cflags) {
  Call *ci;
  ct_CData *cd;
  idx = lua_absindex(L, idx);
  cd = (ct_CData *)lua_touserdata(L, idx);
  ci = (Call *)lua_newuserdatauv(L, sizeof(Call), 2);   /* sig, ci */
  ci->sig = (Sig *)lua_touserdata(L, -2);
  ci->flags = cflags;
  sethot(ci);
  if (cd->flags & CT_CD_CALLINFO) ((Call **)cd->ptr)[1] = ci;
  lua_insert(L, -2);                                    /* ci, sig */
  lua_setiuservalue(L, -2, 1);                          /* ci */
  lua_setiuservalue(L, idx, CT_UV_CALLINFO);
  return ci;
}


/* a new function object of the CT_FUNC type at tidx: its payload holds
** the address and, after it, the Call pointer that spares the call path a
** uservalue lookup */
static ct_CData *newfuncobj (lua_State *L, int tidx, void *addr) {
  ct_CData *cd = ct_newcdata_sized(L, tidx, 2 * sizeof(void *), CT_NUV_FUNC);
  cd->size = sizeof(void *);
  cd->flags |= CT_CD_CALLINFO;
  ((void **)cd->ptr)[0] = addr;
  ((void **)cd->ptr)[1] = NULL;
  return cd;
}


/* the call info of the function object at idx (made from its type's
** signature for objects that have none yet: views, callbacks) */
static Call *getcallinfo (lua_State *L, int idx) {
  Call *ci;
  if (lua_getiuservalue(L, idx, CT_UV_CALLINFO) == LUA_TUSERDATA) {
    ci = (Call *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    return ci;
  }
  lua_pop(L, 1);
  lua_getiuservalue(L, idx, CT_UV_TYPE);
  if (lua_getiuservalue(L, -1, CT_TUV_EXT) != LUA_TUSERDATA ||
      ((ct_Type *)lua_touserdata(L, -2))->ext == NULL)
    ct_error(L, "TypeError", "%s has no signature", ct_typename(L, -2));
  lua_remove(L, -2);
  ci = setcallinfo(L, idx, CI_EXACT);
  return ci;
}


ct_CData *ct_func_new (lua_State *L, void *addr, int ownidx, unsigned flags) {
  ct_CData *cd;
  if (ownidx != 0) ownidx = lua_absindex(L, ownidx);
  deffunctype(L, flags);                               /* F */
  cd = newfuncobj(L, -1, addr);                        /* F, f */
  if (ownidx != 0) {
    lua_pushvalue(L, ownidx);
    lua_setiuservalue(L, -2, CT_UV_OWNER);
  }
  lua_getiuservalue(L, -2, CT_TUV_EXT);                /* F, f, sig */
  setcallinfo(L, -2, 0);
  lua_remove(L, -2);                                   /* f */
  return cd;
}


/* rebuilds the signature of the function object at 1 from restype at
** retidx and argtypes at argsidx (0: untyped) */
static void resig (lua_State *L, int retidx, int argsidx) {
  Call *ci;
  retidx = lua_absindex(L, retidx);
  if (argsidx != 0) argsidx = lua_absindex(L, argsidx);
  ci = getcallinfo(L, 1);
  unsigned flags = ci->sig->s.flags;
  unsigned cflags = ci->flags;
  lua_getiuservalue(L, 1, CT_UV_CALLINFO);
  lua_getiuservalue(L, -1, 2);                       /* ci, paramflags */
  ct_newsig(L, retidx, argsidx, flags);              /* ci, pf, sig */
  if ((cflags & CI_PARAMFLAGS) && lua_istable(L, -2)) {
    lua_Integer n = luaL_len(L, -2);
    if (n != ((Sig *)lua_touserdata(L, -1))->s.nargs)
      ct_error(L, "ValueError", "paramflags must have the same length as "
               "argtypes (%I, not %d)", n,
               ((Sig *)lua_touserdata(L, -1))->s.nargs);
  }
  ci = setcallinfo(L, 1, cflags);                    /* ci, pf */
  lua_getiuservalue(L, 1, CT_UV_CALLINFO);
  lua_insert(L, -2);
  lua_setiuservalue(L, -2, 2);
  lua_pop(L, 2);
}


/* pushes a fresh copy of the sequence at idx (nil stays nil) */
static void copyseq (lua_State *L, int idx) {
  lua_Integer i, n;
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) { lua_pushnil(L); return; }
  n = luaL_len(L, idx);
  lua_createtable(L, (int)n, 0);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    lua_rawseti(L, -2, i);
  }
}


static int noattr (lua_State *L) {
  const char *name, *key;
  lua_getiuservalue(L, 1, CT_UV_TYPE);
  name = ct_typename(L, -1);
  key = luaL_tolstring(L, 2, NULL);
  return ct_error(L, "AttributeError", "'%s' object has no attribute '%s'",
                  name, key);
}


int ct_func_index (lua_State *L) {
  const char *k = lua_tostring(L, 2);
  if (lua_type(L, 2) == LUA_TSTRING) {
    if (strcmp(k, "argtypes") == 0) {
      getcallinfo(L, 1);
      lua_getiuservalue(L, 1, CT_UV_CALLINFO);
      lua_getiuservalue(L, -1, 1);
      lua_getiuservalue(L, -1, 2);
      copyseq(L, -1);
      return 1;
    }
    if (strcmp(k, "restype") == 0) {
      getcallinfo(L, 1);
      lua_getiuservalue(L, 1, CT_UV_CALLINFO);
      lua_getiuservalue(L, -1, 1);
      if (lua_getiuservalue(L, -1, 1) == LUA_TBOOLEAN) lua_pushnil(L);
      return 1;
    }
    if (strcmp(k, "errcheck") == 0) {
      lua_getiuservalue(L, 1, CT_UV_ERRCHECK);
      return 1;
    }
    if (strcmp(k, "release") == 0) {
      /* cb:release() frees a callback now (nothing for foreign functions) */
      lua_pushcfunction(L, ct_callback_close);
      return 1;
    }
  }
  return noattr(L);
}


/* Can a function object of type `from` be passed where the function type
** `to` is expected? Its own type, one with the same signature, or a
** library function (declared by the user on the object, not by a
** prototype: the user vouches for it, as for an address). */
static int samesig (const ct_Type *to, const ct_Type *from) {
  const Sig *a = (const Sig *)to->ext, *b = (const Sig *)from->ext;
  int i;
  if (to == from || b == NULL || b->untyped) return 1;
  if (a == NULL || a->untyped) return 0;
  if (a->s.nargs != b->s.nargs || a->s.ret != b->s.ret) return 0;
  for (i = 0; i < a->s.nargs; i++)
    if (a->s.args[i] != b->s.args[i]) return 0;
  return 1;
}


/* pushes "restype(argtype, ...)" for the function type at tidx */
static void pushsig (lua_State *L, int tidx) {
  lua_Integer i, n = 0;
  int top;
  tidx = lua_absindex(L, tidx);
  lua_getiuservalue(L, tidx, CT_TUV_FIELDS);          /* argtypes */
  top = lua_gettop(L);
  if (lua_getiuservalue(L, tidx, CT_TUV_PROTO) == LUA_TUSERDATA)
    lua_pushstring(L, ct_typename(L, -1));
  else lua_pushliteral(L, "void");
  lua_remove(L, -2);
  lua_pushliteral(L, "(");
  if (lua_istable(L, top)) n = (lua_Integer)lua_rawlen(L, top);
  for (i = 1; i <= n; i++) {
    luaL_checkstack(L, 3, NULL);
    if (i > 1) lua_pushliteral(L, ", ");
    lua_rawgeti(L, top, i);
    lua_pushstring(L, ct_totype(L, -1) ? ct_typename(L, -1) : "?");
    lua_remove(L, -2);
    lua_concat(L, lua_gettop(L) - top);               /* argtypes, sig so far */
  }
  lua_pushliteral(L, ")");
  lua_concat(L, lua_gettop(L) - top);
  lua_remove(L, top);
}


void ct_checkcallback (lua_State *L, int tidx, int idx, const char *what) {
  ct_CData *o = ct_tocdata(L, idx);
  ct_Type *t = (ct_Type *)lua_touserdata(L, tidx);
  tidx = lua_absindex(L, tidx);
  idx = lua_absindex(L, idx);
  if (o == NULL || o->type->kind != CT_FUNC || t->kind != CT_FUNC ||
      samesig(t, o->type))
    return;
  if (lua_getiuservalue(L, idx, CT_UV_CLOSURE) == LUA_TNIL) {
    lua_pop(L, 1);
    return;                          /* a foreign function: the user's word */
  }
  lua_getiuservalue(L, idx, CT_UV_TYPE);
  pushsig(L, tidx);
  pushsig(L, -2);
  ct_error(L, "TypeError", "%s: expected a function %s, got a callback %s",
           what, lua_tostring(L, -2), lua_tostring(L, -1));
}


/* A callback's C code converts its arguments and result by its type's
** signature, whatever the object says: argtypes/restype set on it (for
** calls from Lua) may only repeat that signature, else those calls would
** hand it, say, integers it reads as pointers. Raises otherwise. */
static void checkfixed (lua_State *L, int isargs) {
  const Sig *s;
  int same = 1;
  if (lua_getiuservalue(L, 1, CT_UV_CLOSURE) == LUA_TNIL ||
      lua_getiuservalue(L, 1, CT_UV_TYPE) != LUA_TUSERDATA ||
      (s = (const Sig *)((ct_Type *)lua_touserdata(L, -1))->ext) == NULL) {
    lua_settop(L, 3);
    return;                                    /* not a callback */
  }
  if (isargs) {
    lua_Integer i, n = lua_istable(L, 3) ? (lua_Integer)lua_rawlen(L, 3) : -1;
    if (n != s->s.nargs) same = 0;
    for (i = 1; same && i <= n; i++) {
      lua_rawgeti(L, 3, i);
      same = ct_totype(L, -1) == s->s.args[i - 1] && s->s.args[i - 1] != NULL;
      lua_pop(L, 1);
    }
  }
  else if (lua_isnil(L, 3) || (lua_isboolean(L, 3) && !lua_toboolean(L, 3)))
    same = s->s.ret == NULL;
  else
    same = s->s.ret != NULL && ct_totype(L, 3) == s->s.ret;
  if (!same) {
    pushsig(L, -1);
    ct_error(L, "TypeError", "%s of a callback %s fixed by its prototype %s",
             isargs ? "argtypes" : "restype", isargs ? "are" : "is",
             lua_tostring(L, -1));
  }
  lua_settop(L, 3);
}


int ct_func_newindex (lua_State *L) {
  const char *k = lua_tostring(L, 2);
  if (lua_type(L, 2) == LUA_TSTRING) {
    if (strcmp(k, "argtypes") == 0) {
      checkfixed(L, 1);
      getcallinfo(L, 1);
      lua_getiuservalue(L, 1, CT_UV_CALLINFO);
      lua_getiuservalue(L, -1, 1);
      lua_getiuservalue(L, -1, 1);                   /* ci, sig, restype */
      resig(L, -1, lua_isnil(L, 3) ? 0 : 3);
      lua_settop(L, 3);
      if (lua_isnil(L, 3)) lua_pushnil(L); else copyseq(L, 3);
      lua_setiuservalue(L, 1, CT_UV_ARGTYPES);
      return 0;
    }
    if (strcmp(k, "restype") == 0) {
      int hasargs;
      checkfixed(L, 0);
      getcallinfo(L, 1);
      lua_getiuservalue(L, 1, CT_UV_CALLINFO);
      lua_getiuservalue(L, -1, 1);
      hasargs = lua_getiuservalue(L, -1, 2) == LUA_TTABLE;  /* ci, sig, at */
      resig(L, 3, hasargs ? -1 : 0);
      lua_settop(L, 3);
      if (lua_isnil(L, 3)) lua_pushboolean(L, 0);
      lua_setiuservalue(L, 1, CT_UV_RESTYPE);
      return 0;
    }
    if (strcmp(k, "errcheck") == 0) {
      Call *ci;
      if (!lua_isnil(L, 3) && !lua_isfunction(L, 3) &&
          !luaL_getmetafield(L, 3, "__call")) {
        const char *got = ct_describe(L, 3);
        return ct_error(L, "TypeError", "errcheck must be a function or nil, "
                        "got %s", got);
      }
      lua_settop(L, 3);
      ci = getcallinfo(L, 1);
      if (lua_isnil(L, 3)) ci->flags &= ~(unsigned)CI_ERRCHECK;
      else ci->flags |= CI_ERRCHECK;
      sethot(ci);
      lua_setiuservalue(L, 1, CT_UV_ERRCHECK);
      return 0;
    }
  }
  return noattr(L);
}

/* } ====================================================================== */


/* {======================================================================
** Argument conversion
** ======================================================================= */

/* one argument's storage: big enough and aligned for any scalar and for
** aggregates of up to 16 bytes */
typedef union Slot {
  ffi_arg i;
  int64_t l;
  double d;
  float f;
  long double ld;
  void *p;
  unsigned char b[16];
} Slot;

#define NLOCAL 16   /* arguments handled with storage on the C stack */
#if CT_ABI_X64
#define LOWSIZE sizeof(ct_Low)
#else
#define LOWSIZE 0
#endif

/* per-call arrays */
typedef struct Frame {
  Slot *slot;
  void **av;
  ffi_type **at;
#if CT_ABI_X64
  ct_Low *lw;
#endif
} Frame;


/* replaces the value at idx by its _as_parameter_ (tables, repeatedly);
** returns the index of the value to convert */
static int asparam (lua_State *L, int idx) {
  int depth = 0;
  while (lua_type(L, idx) == LUA_TTABLE) {
    luaL_checkstack(L, 2, "too many arguments");
    if (lua_getfield(L, idx, "_as_parameter_") == LUA_TNIL) {
      lua_pop(L, 1);
      break;
    }
    idx = lua_gettop(L);
    if (++depth > 16) break;
  }
  return idx;
}


/* Converts the Lua value at idx to an argument of the type at tidx (argument
** number argn). The value goes to slot, or stays in memory that the stack
** keeps alive; returns its address. Objects the value points into stay on
** the stack until the call returns. */
static void *convtyped (lua_State *L, int argn, int tidx, const Arg *a,
                        int idx, Slot *slot) {
  ct_Type *t = a->t;
  ct_CData *cd;
  int r;
  tidx = lua_absindex(L, tidx);
  if (a->hasfp) {              /* the body's from_param(T, value) */
    lua_getiuservalue(L, tidx, CT_TUV_BODY);
    lua_getfield(L, -1, "from_param");
    lua_remove(L, -2);
    lua_pushvalue(L, tidx);
    lua_pushvalue(L, idx);
    lua_call(L, 2, 1);
    idx = lua_gettop(L);
  }
  idx = asparam(L, idx);
  cd = lua_type(L, idx) == LUA_TUSERDATA ? ct_tocdata(L, idx) : NULL;
  switch (t->kind) {
    case CT_STRUCT: case CT_UNION:
      if (cd != NULL && cd->type == t) return cd->ptr;
      if (lua_istable(L, idx)) {
        ct_CData *tmp = ct_newcdata(L, tidx);
        r = ct_tocvalue(L, tidx, tmp->ptr, idx);
        if (r == CT_CONV_FAIL) break;
        /* what the initialiser made it point into stays on the stack */
        return tmp->ptr;
      }
      ct_pushexpected(L, tidx, idx);
      r = CT_CONV_FAIL;
      break;
    case CT_ARRAY:
      /* arrays pass as pointers to their first element */
      if (cd != NULL && cd->type == t) { slot->p = cd->ptr; return slot; }
      if (lua_istable(L, idx) || lua_type(L, idx) == LUA_TSTRING) {
        ct_CData *tmp = ct_newcdata(L, tidx);
        r = ct_tocvalue(L, tidx, tmp->ptr, idx);
        if (r == CT_CONV_FAIL) break;
        slot->p = tmp->ptr;
        return slot;
      }
      ct_pushexpected(L, tidx, idx);
      r = CT_CONV_FAIL;
      break;
    case CT_FUNC:
      if (lua_isfunction(L, idx)) {
        /* a callback living as long as this call */
        ct_CData *cb;
        ct_callback_new(L, tidx, idx);
        cb = ct_tocdata(L, -1);
        if (cb == NULL)
          ct_argerror(L, argn, "cannot make a callback");
        slot->p = ct_pointervalue(cb);
        return slot;
      }
      if (cd != NULL && cd->type->kind == CT_FUNC) {
        if (!samesig(t, cd->type)) {
          /* C would call it with the wrong arguments: a callback would read
          ** them as what they are not (pointers...), its closure would
          ** store the wrong result */
          lua_getiuservalue(L, idx, CT_UV_TYPE);
          pushsig(L, tidx);
          pushsig(L, -2);
          ct_argerror(L, argn, "expected a function %s, got a function %s",
                      lua_tostring(L, -2), lua_tostring(L, -1));
        }
        slot->p = ct_pointervalue(cd);
        return slot;
      }
      r = ct_tocvalue(L, tidx, slot, idx);
      break;
    case CT_POINTER:
      if (cd != NULL && cd->type->kind == CT_POINTER) {
        /* any pointer to the same pointee type */
        lua_getiuservalue(L, tidx, CT_TUV_PROTO);
        lua_getiuservalue(L, idx, CT_UV_TYPE);
        lua_getiuservalue(L, -1, CT_TUV_PROTO);
        r = lua_rawequal(L, -1, -3);
        lua_pop(L, 3);
        if (r) { slot->p = ct_pointervalue(cd); return slot; }
      }
      r = ct_tocvalue(L, tidx, slot, idx);
      break;
    default:
      r = ct_tocvalue(L, tidx, slot, idx);
      break;
  }
  if (r == CT_CONV_FAIL)
    ct_argerror(L, argn, "%s", lua_tostring(L, -1));
  /* CT_CONV_KEEPTOP: the new object stays on the stack for the call */
  return slot;
}


/* Converts the Lua value at idx by its Lua type (no argtypes, or a variadic
** extra when promote is set: C's default argument promotions). */
static void *convuntyped (lua_State *L, int argn, int idx, Slot *slot,
                          ffi_type **ft, int promote) {
  *ft = &ffi_type_pointer;
  idx = asparam(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        if (v < INT32_MIN || v > (lua_Integer)UINT32_MAX)
          ct_argerror(L, argn, "OverflowError: int too long to convert (%I "
                      "does not fit in c_int; declare argtypes)", v);
        slot->i = 0;
        *(int *)slot = (int)(int64_t)v;
        *ft = &ffi_type_sint;
      }
      else {
        slot->d = lua_tonumber(L, idx);
        *ft = &ffi_type_double;
      }
      return slot;
    case LUA_TSTRING:
      slot->p = (void *)lua_tostring(L, idx);
      return slot;
    case LUA_TNIL:
      slot->p = NULL;
      return slot;
    case LUA_TBOOLEAN:
      slot->i = 0;
      *(int *)slot = lua_toboolean(L, idx);
      *ft = &ffi_type_sint;
      return slot;
    case LUA_TUSERDATA: {
      ct_CData *cd = ct_tocdata(L, idx);
      if (cd != NULL) {
        ct_Type *t = cd->type;
        switch (t->kind) {
          case CT_SIMPLE:
            if (ct_ispointerlike(t)) {
              slot->p = ct_pointervalue(cd);
              return slot;
            }
            /* the bytes go through the slot: the instance may be unaligned
            ** (from_buffer at an odd offset), and a c_bool may hold any
            ** byte (any non-zero byte is true; C wants 0 or 1) */
            slot->i = 0;
            memcpy(slot, cd->ptr, t->size);
            if (t->scalar == CT_BOOL) slot->b[0] = slot->b[0] != 0;
            *ft = t->ffi;
            if (promote) {
              if (t->scalar == CT_FLOAT) {
                float f;
                memcpy(&f, slot, sizeof f);
                slot->d = (double)f;
                *ft = &ffi_type_double;
              }
              else if (t->size < sizeof(int)) {
                int v;
                short sh;
                unsigned short ush;
                switch (t->scalar) {
                  case CT_BOOL: v = slot->b[0]; break;
                  case CT_CHAR: v = (char)slot->b[0]; break;
                  case CT_BYTE: v = (signed char)slot->b[0]; break;
                  case CT_UBYTE: v = slot->b[0]; break;
                  case CT_SHORT: memcpy(&sh, slot, sizeof sh); v = sh; break;
                  default: memcpy(&ush, slot, sizeof ush); v = ush; break;
                }
                slot->i = 0;
                *(int *)slot = v;
                *ft = &ffi_type_sint;
              }
            }
            return slot;
          case CT_STRUCT: case CT_UNION:
            lua_getiuservalue(L, idx, CT_UV_TYPE);
            *ft = ct_ffitype(L, -1);
            lua_pop(L, 1);
            return cd->ptr;
          case CT_ARRAY:
            slot->p = cd->ptr;
            return slot;
          default:             /* pointers, functions */
            slot->p = ct_pointervalue(cd);
            return slot;
        }
      }
      slot->p = ct_tobyref(L, idx);
      if (slot->p != NULL) return slot;
      break;
    }
    default: break;
  }
  ct_argerror(L, argn, "TypeError: Don't know how to convert parameter %d "
              "(%s)", argn, ct_describe(L, idx));
  return NULL;
}



/* } ====================================================================== */


/* {======================================================================
** The call: the direct path (x86-64 SysV, everything in registers) and
** libffi
** ======================================================================= */



/* pushes the result from the return buffer; the sig userdata is at sigidx,
** a preallocated result (RK_BIG) at bigidx. Returns the number pushed. */
static int pushresult (lua_State *L, Sig *s, void *rbuf, int sigidx,
                       int bigidx) {
  switch (s->rk) {
    case RK_VOID: return 0;
    case RK_SCALAR: ct_scalar_push(L, s->rscalar, rbuf); return 1;
    case RK_BIG: lua_pushvalue(L, bigidx); return 1;
    case RK_CALLABLE:
      lua_getiuservalue(L, sigidx, 1);
      lua_pushinteger(L, *(int *)rbuf);
      lua_call(L, 1, 1);
      return 1;
    default:
      lua_getiuservalue(L, sigidx, 1);
      ct_pushvalue(L, lua_gettop(L), rbuf, 0);
      lua_remove(L, -2);
      return 1;
  }
}


/* the foreign call itself: errno swap and the active lua_State around it,
** nothing else (no allocation, no Lua) between the swaps. The state goes
** with CT_WIN_OPEN: only ct_func_call's frame may open the callback window
** (ctypes.h), whose callbacks leave slots on its stack without asking. */
#define AROUND(L, s, CALL) do { \
    lua_State *saved_ = ct_active_L; \
    ct_active_L = (lua_State *)((uintptr_t)(L) | CT_WIN_OPEN); \
    if ((s)->s.flags & CT_SIG_USE_ERRNO) { \
      int t_ = errno; errno = ct_errno; \
      CALL; \
      ct_errno = errno; errno = t_; \
    } \
    else { CALL; } \
    ct_active_L = saved_; \
  } while (0)


static void checkpending (lua_State *L) {
  if (ct_cb_pending) ct_callback_raise(L);
}


static int nullfunc (lua_State *L) {
  return ct_error(L, "ValueError", "NULL function pointer called");
}


static int general (lua_State *L, Call *ci, void *fn, int n)
  __attribute__((noinline));


#if CT_X64_DIRECT
/* the register-only path for any mix of arguments the quick checks accept;
** -1: start over in general() */
static int directpath (lua_State *L, ct_CData *cd, Sig *s, int n)
  __attribute__((noinline));
static int directpath (lua_State *L, ct_CData *cd, Sig *s, int n) {
    void *fn = *(void **)cd->ptr;
    uint64_t g[CT_X64_NGPR];
    double x[CT_X64_NSSE];
    alignas(16) unsigned char rbuf[16];
    int i, gi = 0, xi = 0;
    /* a MEMORY-class result (at most 16 bytes here: packed, unaligned):
    ** the callee writes it where the hidden first argument points */
    if (s->rd == CT_RD_MEM) g[gi++] = (uint64_t)(uintptr_t)rbuf;
    for (i = 0; i < n; i++) {
      const Arg *a = &s->a[i];
      int idx = i + 2, ok;
      lua_Integer v;
      switch (a->fc) {
#define FINT(FC, T) \
        case FC: \
          v = lua_tointegerx(L, idx, &ok); \
          if (!ok || lua_type(L, idx) != LUA_TNUMBER) return -1; \
          g[gi++] = (uint64_t)(int64_t)(T)v; \
          break;
        FINT(FC_I8, signed char)
        FINT(FC_U8, unsigned char)
        FINT(FC_I16, short)
        FINT(FC_U16, unsigned short)
        FINT(FC_I32, int)
        FINT(FC_U32, unsigned int)
        FINT(FC_I64, int64_t)
#undef FINT
        case FC_BOOL:
          if (!lua_isboolean(L, idx)) return -1;
          g[gi++] = (uint64_t)lua_toboolean(L, idx);
          break;
        case FC_DOUBLE: {
          lua_Number d = lua_tonumberx(L, idx, &ok);
          if (!ok || lua_type(L, idx) != LUA_TNUMBER) return -1;
          x[xi++] = (double)d;
          break;
        }
        case FC_FLOAT: {
          float f;
          double d = 0;
          lua_Number nv = lua_tonumberx(L, idx, &ok);
          if (!ok || lua_type(L, idx) != LUA_TNUMBER) return -1;
          f = (float)nv;
          memcpy(&d, &f, sizeof f);
          x[xi++] = d;
          break;
        }
        case FC_CHARP:
          if (lua_type(L, idx) == LUA_TSTRING)
            g[gi++] = (uint64_t)(uintptr_t)lua_tostring(L, idx);
          else if (lua_isnil(L, idx)) g[gi++] = 0;
          else return -1;
          break;
        case FC_VOIDP:
          if (lua_isinteger(L, idx)) g[gi++] = (uint64_t)lua_tointeger(L, idx);
          else if (lua_isnil(L, idx)) g[gi++] = 0;
          else return -1;
          break;
        case FC_PTR: case FC_AGG: {
          ct_CData *p = (ct_CData *)lua_touserdata(L, idx);
          int j, iscd;
          /* a CData (its metatable compared by address) of exactly the
          ** declared type */
          if (p == NULL || !lua_getmetatable(L, idx)) return -1;
          iscd = lua_topointer(L, -1) == s->cdmt;
          lua_pop(L, 1);
          if (!iscd || p->type != a->t) return -1;
          if (a->fc == FC_PTR) {
            g[gi++] = (uint64_t)(uintptr_t)ct_pointervalue(p);
            break;
          }
          for (j = 0; j < a->low.n; j++) {
            uint64_t u = ct_x64_eightbyte(p->ptr, a->t->size, j);
            if (a->low.c[j] == CT_CL_INT) g[gi++] = u;
            else memcpy(&x[xi++], &u, 8);
          }
          break;
        }
        default:
          return -1;
      }
    }
    for (; gi < CT_X64_NGPR; gi++) g[gi] = 0;
    if (fn == NULL) return nullfunc(L);
    AROUND(L, s, ct_x64_call(fn, s->rd, g, x, xi, rbuf));
    checkpending(L);
    if (s->rk == RK_SCALAR) {
      if (s->rscalar == CT_INT) lua_pushinteger(L, *(int *)rbuf);
      else if (s->rscalar == CT_DOUBLE) lua_pushnumber(L, *(double *)rbuf);
      else ct_scalar_push(L, s->rscalar, rbuf);
      return 1;
    }
    if (s->rk == RK_VOID) return 0;
    lua_getiuservalue(L, 1, CT_UV_CALLINFO);
    lua_getiuservalue(L, -1, 1);
    return pushresult(L, s, rbuf, lua_gettop(L), 0);
  }
#endif


/* The hot path: a register-only signature with argtypes, the exact count,
** no errcheck or paramflags, and arguments that convert without help. It
** converts straight into register images and calls; anything else (and
** any argument that needs more than the quick checks below) goes to
** general(), which starts over: nothing here has side effects. */
int ct_func_call (lua_State *L) {
  ct_CData *cd = (ct_CData *)lua_touserdata(L, 1);
  Call *ci;
  Sig *s;
  int n;
  if ((cd->flags & (CT_CD_CALLINFO | CT_CD_RESIZED)) == CT_CD_CALLINFO &&
      ((Call **)cd->ptr)[1] != NULL)
    ci = ((Call **)cd->ptr)[1];
  else {
    /* also fit to be the CData __call itself: other kinds are an error */
    if (cd->type->kind != CT_FUNC) {
      lua_getiuservalue(L, 1, CT_UV_TYPE);
      return ct_error(L, "TypeError", "'%s' object is not callable",
                      ct_typename(L, -1));
    }
    ci = getcallinfo(L, 1);
  }
  s = ci->sig;
  n = lua_gettop(L) - 1;
#if CT_X64_DIRECT
  /* hotter still: up to six int/long arguments, nothing but rax back. The
  ** callee reads only the low 32 bits of an int register, so the Lua
  ** integer goes as it is (narrower types are not on this path). */
  if (n == ci->hotn && !ct_nodirect) {
    void *fn = *(void **)cd->ptr;
    lua_Integer a0, a1, a2, a3, a4, a5;
    uint64_t r;
    typedef lua_Integer I;
    /* integers only (strings and floats go the strict way) */
#define ARG(k) do { if (!lua_isinteger(L, k + 2)) goto slow; \
                    a##k = lua_tointegerx(L, k + 2, NULL); } while (0)
    switch (n) {
      case 0:
        if (fn == NULL) return nullfunc(L);
        AROUND(L, s, r = ((uint64_t (*) (void))fn)());
        break;
      case 1:
        ARG(0);
        if (fn == NULL) return nullfunc(L);
        AROUND(L, s, r = ((uint64_t (*) (I))fn)(a0));
        break;
      case 2:
        ARG(0); ARG(1);
        if (fn == NULL) return nullfunc(L);
        AROUND(L, s, r = ((uint64_t (*) (I, I))fn)(a0, a1));
        break;
      case 3:
        ARG(0); ARG(1); ARG(2);
        if (fn == NULL) return nullfunc(L);
        AROUND(L, s, r = ((uint64_t (*) (I, I, I))fn)(a0, a1, a2));
        break;
      case 4:
        ARG(0); ARG(1); ARG(2); ARG(3);
        if (fn == NULL) return nullfunc(L);
        AROUND(L, s, r = ((uint64_t (*) (I, I, I, I))fn)(a0, a1, a2, a3));
        break;
      case 5:
        ARG(0); ARG(1); ARG(2); ARG(3); ARG(4);
        if (fn == NULL) return nullfunc(L);
        AROUND(L, s, r = ((uint64_t (*) (I, I, I, I, I))fn)(a0, a1, a2, a3,
                                                              a4));
        break;
      default:
        ARG(0); ARG(1); ARG(2); ARG(3); ARG(4); ARG(5);
        if (fn == NULL) return nullfunc(L);
        AROUND(L, s, r = ((uint64_t (*) (I, I, I, I, I, I))fn)(a0, a1, a2,
                                                                 a3, a4, a5));
        break;
    }
#undef ARG
    if (ct_cb_pending) ct_callback_raise(L);
    if (s->rscalar == CT_INT) {
      lua_pushinteger(L, (int)r);
      return 1;
    }
    if (s->rk == RK_VOID) return 0;
    ct_scalar_push(L, s->rscalar, &r);
    return 1;
  }
  if (n == ci->hotdn && !ct_nodirect) {
    void *fn = *(void **)cd->ptr;
    double d0 = 0, d1 = 0, d2 = 0, d3 = 0;
    switch (n) {   /* numbers only (strings go the strict way) */
#define DARG(k) if (lua_type(L, k + 2) != LUA_TNUMBER) goto slow; \
                d##k = (double)lua_tonumber(L, k + 2);
      case 4: DARG(3) /* FALLTHROUGH */
      case 3: DARG(2) /* FALLTHROUGH */
      case 2: DARG(1) /* FALLTHROUGH */
      case 1: DARG(0) /* FALLTHROUGH */
      default: break;
#undef DARG
    }
    if (fn == NULL) return nullfunc(L);
    /* a double-only callee reads xmm0..xmm3 and ignores the rest */
    if (s->rscalar == CT_DOUBLE) {
      double r;
      AROUND(L, s, r = ((double (*) (double, double, double, double))fn)
                       (d0, d1, d2, d3));
      if (ct_cb_pending) ct_callback_raise(L);
      lua_pushnumber(L, r);
      return 1;
    }
    else {
      uint64_t r;
      AROUND(L, s, r = ((uint64_t (*) (double, double, double, double))fn)
                       (d0, d1, d2, d3));
      if (ct_cb_pending) ct_callback_raise(L);
      if (s->rk == RK_VOID) return 0;
      ct_scalar_push(L, s->rscalar, &r);
      return 1;
    }
  }
  if (s->fast && ci->flags == 0 && n == s->s.nargs && !ct_nodirect) {
    int r = directpath(L, cd, s, n);
    if (r >= 0) return r;
  }
 slow:
#endif
  (void)s;
  if (*(void **)cd->ptr == NULL) return nullfunc(L);
  return general(L, ci, *(void **)cd->ptr, n);
}


/* Builds the effective argument list for a function with paramflags at
** stack positions base..base+nargs-1 and returns base. outs receives, per
** argument, 1 for an out parameter. */
static int applyparamflags (lua_State *L, Sig *s, int pfidx, int n,
                            unsigned char *outs) {
  int nargs = s->s.nargs, i, given = 0, required = 0, base;
  lua_Integer flag;
  /* count the in parameters */
  for (i = 0; i < nargs; i++) {
    lua_rawgeti(L, pfidx, i + 1);
    lua_rawgeti(L, -1, 1);
    flag = lua_tointeger(L, -1);
    if (flag == 0 || (flag & 1) || !(flag & 2)) {
      required++;
    }
    lua_pop(L, 2);
  }
  if (n > required)
    ct_error(L, "TypeError", "this function takes at most %d argument%s (%d "
             "given)", required, required == 1 ? "" : "s", n);
  base = lua_gettop(L) + 1;
  for (i = 0; i < nargs; i++) {
    lua_rawgeti(L, pfidx, i + 1);                 /* entry */
    lua_rawgeti(L, -1, 1);
    flag = lua_tointeger(L, -1);
    lua_pop(L, 1);
    outs[i] = 0;
    if ((flag & 2) && !(flag & 1)) {
      /* out: the caller (general) puts a new instance here */
      outs[i] = 1;
      lua_pop(L, 1);                              /* (entry) */
      lua_pushnil(L);
      continue;
    }
    if ((flag & 3) == 3) outs[i] = 2;   /* in and out: returned too */
    if (given < n) {
      lua_pushvalue(L, 2 + given);
      given++;
    }
    else if (lua_rawgeti(L, -1, 3), !lua_isnil(L, -1)) {
      /* the default */
    }
    else if (flag & 4) {
      lua_pop(L, 1);
      lua_pushinteger(L, 0);
    }
    else {
      lua_pop(L, 1);
      lua_rawgeti(L, -1, 2);
      if (lua_isstring(L, -1))
        ct_error(L, "TypeError", "required argument '%s' missing",
                 lua_tostring(L, -1));
      ct_error(L, "TypeError", "not enough arguments");
    }
    lua_remove(L, -2);                            /* the value */
  }
  return base;
}


#if CT_ABI_X64
/* The foreign call of general() on x86-64: register-only calls go direct
** (unless turned off for the differential tests, or PORTABLE), the rest
** through libffi, with the workaround for libffi's register-copy bug where
** it applies. */
static void x64call (lua_State *L, Sig *s, Frame *fr, int na, void *fn,
                     void *rvalue, void *rbuf) {
  int nfixed = s->s.nargs, i, direct, split, gpr, sse;
  int hidden = s->rd == CT_RD_MEM;
  if (na == nfixed && !s->untyped) {
    direct = s->direct;
    split = s->split;
    for (i = 0; i < na; i++) fr->lw[i] = s->a[i].low;
  }
  else {
    for (i = 0; i < na; i++)
      fr->lw[i] = i < nfixed && !s->untyped ? s->a[i].low
                                            : ct_x64_ffilow(fr->at[i]);
    direct = ct_x64_place(fr->lw, na, hidden, &gpr, &sse, &split, NULL);
  }
  (void)gpr; (void)sse;
#if CT_X64_DIRECT
  if (ct_nodirect) direct = 0;
  if (direct) {
    uint64_t g[CT_X64_NGPR] = {0, 0, 0, 0, 0, 0};
    double x[CT_X64_NSSE];
    int gi = 0, xi = 0, j;
    if (hidden) g[gi++] = (uint64_t)(uintptr_t)rvalue;
    for (i = 0; i < na; i++) {
      const ct_Low *lw = &fr->lw[i];
      ffi_type *ft = fr->at[i];
      if (ft->type == FFI_TYPE_STRUCT) {
        for (j = 0; j < lw->n; j++) {
          uint64_t u = ct_x64_eightbyte(fr->av[i], ft->size, j);
          if (lw->c[j] == CT_CL_INT) g[gi++] = u;
          else memcpy(&x[xi++], &u, 8);
        }
      }
      else {
        uint64_t u;
        switch (ft->type) {
          case FFI_TYPE_SINT8: u = (uint64_t)(int64_t)*(int8_t *)fr->av[i]; break;
          case FFI_TYPE_UINT8: u = *(uint8_t *)fr->av[i]; break;
          case FFI_TYPE_SINT16: u = (uint64_t)(int64_t)*(int16_t *)fr->av[i]; break;
          case FFI_TYPE_UINT16: u = *(uint16_t *)fr->av[i]; break;
          case FFI_TYPE_SINT32: case FFI_TYPE_INT:
            u = (uint64_t)(int64_t)*(int32_t *)fr->av[i]; break;
          case FFI_TYPE_UINT32: u = *(uint32_t *)fr->av[i]; break;
          case FFI_TYPE_FLOAT: u = 0; memcpy(&u, fr->av[i], 4); break;
          default: memcpy(&u, fr->av[i], 8); break;
        }
        if (lw->c[0] == CT_CL_INT) g[gi++] = u;
        else memcpy(&x[xi++], &u, 8);
      }
    }
    AROUND(L, s, ct_x64_call(fn, s->rd, g, x, xi, rbuf));
  }
  else
#else
  (void)direct; (void)rbuf;
#endif
  {
    ffi_cif cif, *cp;
    void **av = fr->av;
    void *sav[2 * NLOCAL];
    ffi_type *sat[2 * NLOCAL];
    Slot spad[NLOCAL];
    if (split) {
      /* libffi bug workaround: split arguments go as one scalar per
      ** eightbyte, read from a zero-padded copy */
      int k = 0, m = 0;
      void **bav = sav;
      ffi_type **bat = sat;
      Slot *pad = spad;
      if (na > NLOCAL) {
        char *mm = (char *)lua_newuserdatauv(L, (size_t)na * (4 * sizeof(void *)
                                             + sizeof(Slot)) + 16, 0);
        mm = (char *)(((uintptr_t)mm + 15) & ~(uintptr_t)15);
        pad = (Slot *)mm; mm += (size_t)na * sizeof(Slot);
        bav = (void **)mm; mm += 2 * (size_t)na * sizeof(void *);
        bat = (ffi_type **)mm;
      }
      for (i = 0; i < na; i++) {
        if (fr->lw[i].split) {
          memset(&pad[m], 0, sizeof(Slot));
          memcpy(&pad[m], fr->av[i], fr->at[i]->size);
          bav[k] = &pad[m];
          bat[k++] = fr->lw[i].c[0] == CT_CL_INT ? &ffi_type_uint64 :
                                              &ffi_type_double;
          bav[k] = pad[m].b + 8;
          bat[k++] = fr->lw[i].c[1] == CT_CL_INT ? &ffi_type_uint64 :
                                              &ffi_type_double;
          m++;
        }
        else {
          bav[k] = fr->av[i];
          bat[k++] = fr->at[i];
        }
      }
      av = bav;
      if (na == nfixed && !s->untyped) cp = s->callcif;
      else {
        int nf = k;   /* fixed libffi arguments, after splitting */
        if (!s->untyped) {
          int q;
          nf = 0;
          for (q = 0; q < nfixed; q++) nf += fr->lw[q].split ? 2 : 1;
        }
        if ((s->untyped ? ffi_prep_cif(&cif, FFI_DEFAULT_ABI, (unsigned)k,
                                       s->s.rtype, bat)
                        : ffi_prep_cif_var(&cif, FFI_DEFAULT_ABI, (unsigned)nf,
                                           (unsigned)k, s->s.rtype, bat))
            != FFI_OK)
          ct_error(L, "TypeError", "libffi cannot prepare this call");
        cp = &cif;
      }
    }
    else if (na == nfixed && !s->untyped) cp = &s->s.cif;
    else {
      ffi_status st = s->untyped ?
        ffi_prep_cif(&cif, FFI_DEFAULT_ABI, (unsigned)na, s->s.rtype, fr->at) :
        ffi_prep_cif_var(&cif, FFI_DEFAULT_ABI, (unsigned)nfixed,
                         (unsigned)na, s->s.rtype, fr->at);
      if (st != FFI_OK)
        ct_error(L, "TypeError", "libffi cannot prepare this call");
      cp = &cif;
    }
    AROUND(L, s, ffi_call(cp, FFI_FN(fn), rvalue, av));
  }
}
#endif


static int general (lua_State *L, Call *ci, void *fn, int n) {
  Sig *s = ci->sig;
  int nfixed = s->s.nargs, na, base, i, sigidx, bigidx = 0;
  int argsidx = 0, pfidx = 0, calltop;
  Slot lslot[NLOCAL];
  void *lav[NLOCAL];
  ffi_type *lat[NLOCAL];
#if CT_ABI_X64
  ct_Low llw[NLOCAL];
#endif
  unsigned char louts[NLOCAL];
  unsigned char *outs = louts;
  Frame fr;
  alignas(16) unsigned char rbuf[32];
  void *rvalue = rbuf;
  /* per argument at most: its type, a from_param result, an
  ** _as_parameter_ value, a temporary and what keeps it alive */
  luaL_checkstack(L, 6 * (n > nfixed ? n : nfixed) + 20, "too many arguments");
  lua_getiuservalue(L, 1, CT_UV_CALLINFO);
  lua_getiuservalue(L, -1, 1);
  sigidx = lua_gettop(L);
  if (!s->untyped) {
    lua_getiuservalue(L, sigidx, 2);
    argsidx = lua_gettop(L);
  }
  base = 2;
  na = n;
  if (ci->flags & CI_PARAMFLAGS) {
    lua_getiuservalue(L, sigidx - 1, 2);
    pfidx = lua_gettop(L);
    if (nfixed > NLOCAL)
      outs = (unsigned char *)lua_newuserdatauv(L, (size_t)nfixed, 0);
    base = applyparamflags(L, s, pfidx, n, outs);
    na = nfixed;
    for (i = 0; i < nfixed; i++) {
      if (outs[i] == 1) {
        /* out parameter: POINTER(T) gets a new T, an array type itself */
        lua_rawgeti(L, argsidx, i + 1);
        if (s->s.args[i]->kind == CT_POINTER) {
          lua_getiuservalue(L, -1, CT_TUV_PROTO);
          lua_remove(L, -2);
        }
        else if (s->s.args[i]->kind != CT_ARRAY) {
          ct_error(L, "TypeError", "'out' parameter %d must be a pointer "
                   "type, not %s", i + 1, ct_typename(L, -1));
        }
        ct_newcdata(L, -1);
        lua_remove(L, -2);
        lua_replace(L, base + i);
      }
    }
  }
  else if (!s->untyped) {
    if (n < nfixed)
      ct_error(L, "TypeError", "this function takes %s%d argument%s (%d "
               "given)", (ci->flags & CI_EXACT) ? "" : "at least ", nfixed,
               nfixed == 1 ? "" : "s", n);
    if (n > nfixed && (ci->flags & CI_EXACT))
      ct_error(L, "TypeError", "this function takes %d argument%s (%d given)",
               nfixed, nfixed == 1 ? "" : "s", n);
  }
  /* per-argument storage: on the C stack, or one scratch userdata */
  if (na <= NLOCAL) {
    fr.slot = lslot; fr.av = lav; fr.at = lat;
#if CT_ABI_X64
    fr.lw = llw;
#endif
  }
  else {
    size_t sz = (size_t)na * (sizeof(Slot) + 2 * sizeof(void *) +
                              LOWSIZE) + 16;
    char *m = (char *)lua_newuserdatauv(L, sz, 0);
    m = (char *)(((uintptr_t)m + 15) & ~(uintptr_t)15);
    fr.slot = (Slot *)m; m += (size_t)na * sizeof(Slot);
    fr.av = (void **)m; m += (size_t)na * sizeof(void *);
    fr.at = (ffi_type **)m; m += (size_t)na * sizeof(void *);
#if CT_ABI_X64
    fr.lw = (ct_Low *)m;
#endif
  }
  for (i = 0; i < na; i++) {
    int idx = base + i;
    if (i < nfixed && !s->untyped) {
      lua_rawgeti(L, argsidx, i + 1);
      fr.av[i] = convtyped(L, i + 1, lua_gettop(L), &s->a[i], idx,
                           &fr.slot[i]);
      fr.at[i] = s->s.atypes[i];
    }
    else
      fr.av[i] = convuntyped(L, i + 1, idx, &fr.slot[i], &fr.at[i],
                             !s->untyped);
  }
  if (s->rk == RK_BIG) {
    lua_getiuservalue(L, sigidx, 1);
    rvalue = ct_newcdata(L, -1)->ptr;
    bigidx = lua_gettop(L);
  }
  /* the room callbacks may use without asking (the window, ctypes.h); what
  ** they leave above calltop goes after the call */
  luaL_checkstack(L, CT_CB_SLACK, "too many arguments");
  calltop = lua_gettop(L);
#if CT_ABI_X64
  x64call(L, s, &fr, na, fn, rvalue, rbuf);
#else
  {
    ffi_cif cif, *cp = &s->s.cif;
    if (na != nfixed || s->untyped) {
      ffi_status st = s->untyped ?
        ffi_prep_cif(&cif, FFI_DEFAULT_ABI, (unsigned)na, s->s.rtype, fr.at) :
        ffi_prep_cif_var(&cif, FFI_DEFAULT_ABI, (unsigned)nfixed,
                         (unsigned)na, s->s.rtype, fr.at);
      if (st != FFI_OK)
        ct_error(L, "TypeError", "libffi cannot prepare this call");
      cp = &cif;
    }
    AROUND(L, s, ffi_call(cp, FFI_FN(fn), rvalue, fr.av));
  }
#endif
  /* integer results narrower than ffi_arg come back widened to a whole
  ** ffi_arg (libffi's contract, on every endianness) */
  if (s->rk == RK_SCALAR || s->rk == RK_CALLABLE)
    ct_ffiret_narrow(s->rscalar, rbuf);
  lua_settop(L, calltop);
  checkpending(L);
  {
    int top = lua_gettop(L), nres;
    nres = pushresult(L, s, rbuf, sigidx, bigidx);
    if (nres == 0) { lua_pushnil(L); }
    if (ci->flags & CI_ERRCHECK) {
      /* errcheck(result, func, args) */
      lua_getiuservalue(L, 1, CT_UV_ERRCHECK);
      lua_insert(L, -2);
      lua_pushvalue(L, 1);
      lua_createtable(L, na, 0);
      for (i = 0; i < na; i++) {
        lua_pushvalue(L, base + i);
        lua_rawseti(L, -2, i + 1);
      }
      if (pfidx != 0) {
        int argtab = lua_gettop(L);
        lua_pushvalue(L, argtab);
        lua_insert(L, top + 1);                   /* keep args table */
        lua_call(L, 3, LUA_MULTRET);
        /* errcheck returning the args table: go on with the out values */
        if (lua_gettop(L) == top + 2 && lua_rawequal(L, -1, top + 1)) {
          lua_settop(L, top);
        }
        else return lua_gettop(L) - top - 1;
      }
      else {
        lua_call(L, 3, LUA_MULTRET);
        return lua_gettop(L) - top;
      }
    }
    if (pfidx != 0) {
      int nout = 0;
      lua_settop(L, top);
      for (i = 0; i < na; i++) {
        if (outs[i]) {
          /* the object's value for scalars (ctypes' __ctypes_from_outparam__),
          ** the object itself otherwise; in-out arguments as passed */
          ct_CData *o = ct_tocdata(L, base + i);
          if (o != NULL && o->type->kind == CT_SIMPLE)
            ct_scalar_push(L, o->type->scalar, o->ptr);
          else lua_pushvalue(L, base + i);
          nout++;
        }
      }
      if (nout > 0) return nout;
      nres = pushresult(L, s, rbuf, sigidx, bigidx);
      return nres;
    }
    if (nres == 0) { lua_pop(L, 1); return 0; }
    return 1;
  }
}

/* } ====================================================================== */


/* {======================================================================
** Prototypes: CFUNCTYPE
** ======================================================================= */

/* ctypes.CFUNCTYPE(restype, argtype...[, {use_errno = true}]) */
static int call_CFUNCTYPE (lua_State *L) {
  int top = lua_gettop(L), nargs, i, argsidx, optidx = 0, nocache = 0;
  unsigned flags = 0;
  ct_Type *t;
  luaL_Buffer b;
  if (top < 1)
    return ct_error(L, "TypeError", "CFUNCTYPE() needs a restype (nil for "
                    "void)");
  if (top >= 2 && lua_type(L, top) == LUA_TTABLE) {
    optidx = top;
    lua_getfield(L, top, "use_errno");
    if (lua_toboolean(L, -1)) flags |= CT_SIG_USE_ERRNO;
    lua_pop(L, 1);
    /* options beyond use_errno (the callbacks' error/onerror) make the
    ** type unique: only plain signatures are cached */
    lua_pushnil(L);
    while (lua_next(L, top)) {
      lua_pop(L, 1);
      if (lua_type(L, -1) != LUA_TSTRING ||
          strcmp(lua_tostring(L, -1), "use_errno") != 0)
        nocache = 1;
    }
    top--;
  }
  nargs = top - 1;
  checkrestype(L, 1);
  if (lua_isfunction(L, 1))
    return ct_error(L, "TypeError", "CFUNCTYPE: restype must be a ctypes "
                    "type or nil");
  for (i = 0; i < nargs; i++) checkargtype(L, 2 + i, i + 1);
  /* the cache key: the identities of the types and the flags */
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "%d:", (int)flags);
  luaL_addvalue(&b);
  for (i = 0; i <= nargs; i++) {
    if (lua_isnoneornil(L, 1 + i)) lua_pushliteral(L, "v,");
    else lua_pushfstring(L, "%p,", lua_touserdata(L, 1 + i));
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);                               /* key */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &protocache_key);
  lua_pushvalue(L, -2);
  if (lua_rawget(L, -2) != LUA_TNIL && !nocache) return 1;
  lua_pop(L, 1);                                     /* key, cache */
  lua_createtable(L, nargs, 0);
  for (i = 0; i < nargs; i++) {
    lua_pushvalue(L, 2 + i);
    lua_rawseti(L, -2, i + 1);
  }
  argsidx = lua_gettop(L);                           /* key, cache, args */
  t = ct_newtype(L, CT_FUNC, "CFunctionType");       /* ..., F */
  t->size = sizeof(void *);
  t->align = alignof(void *);
  t->ffi = &ffi_type_pointer;
  t->flags = CT_FINAL;
  lua_pushvalue(L, argsidx);
  lua_setiuservalue(L, -2, CT_TUV_FIELDS);
  if (!lua_isnoneornil(L, 1)) {
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, CT_TUV_PROTO);
  }
  /* the options: a copy, use_errno normalised to a boolean */
  lua_newtable(L);
  if (optidx != 0) {
    lua_pushnil(L);
    while (lua_next(L, optidx)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, -4);
    }
  }
  lua_pushboolean(L, (flags & CT_SIG_USE_ERRNO) != 0);
  lua_setfield(L, -2, "use_errno");
  lua_setiuservalue(L, -2, CT_TUV_BODY);
  t->ext = ct_newsig(L, 1, argsidx, flags);          /* ..., F, sig */
  lua_setiuservalue(L, -2, CT_TUV_EXT);
  if (!nocache) {
    lua_pushvalue(L, -4);                            /* key */
    lua_pushvalue(L, -2);
    lua_rawset(L, -5);                               /* cache[key] = F */
  }
  return 1;
}


/* validates paramflags at idx against the prototype at 1 and pushes the
** normalized table { {flag, name, default}, ... } */
static void checkparamflags (lua_State *L, int idx, int nargs) {
  lua_Integer n, i;
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) {
    const char *got = ct_describe(L, idx);
    ct_error(L, "TypeError", "paramflags must be a table, got %s", got);
  }
  n = luaL_len(L, idx);
  if (n != nargs)
    ct_error(L, "ValueError", "paramflags must have the same length as "
             "argtypes (%I, not %d)", n, nargs);
  lua_createtable(L, (int)n, 0);
  for (i = 1; i <= n; i++) {
    lua_Integer flag;
    int isnum;
    lua_rawgeti(L, idx, i);
    if (!lua_istable(L, -1))
      ct_error(L, "TypeError", "paramflags: item %I must be a table {flag[, "
               "name[, default]]}", i);
    lua_rawgeti(L, -1, 1);
    flag = ct_tointegerx(L, -1, &isnum);          /* no string coercion */
    if (!isnum || flag < 0 || (flag & ~(lua_Integer)7) != 0)
      ct_error(L, "ValueError", "paramflags: item %I: flag must be 0, 1 "
               "(in), 2 (out), 4 (default zero) or a combination", i);
    lua_pop(L, 1);
    lua_createtable(L, 3, 0);
    lua_pushinteger(L, flag);
    lua_rawseti(L, -2, 1);
    lua_rawgeti(L, -2, 2);
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
      ct_error(L, "TypeError", "paramflags: item %I: name must be a string", i);
    lua_rawseti(L, -2, 2);
    lua_rawgeti(L, -2, 3);
    lua_rawseti(L, -2, 3);
    lua_rawseti(L, -3, i);
    lua_pop(L, 1);
  }
}


int ct_functype_new (lua_State *L) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, 1);
  Sig *s = (Sig *)t->ext;
  void *addr = NULL;
  int ownidx = 0, haspf;
  if (s == NULL)
    return ct_error(L, "TypeError", "abstract function type");
  haspf = !lua_isnoneornil(L, 3);
  if (haspf && lua_type(L, 2) != LUA_TTABLE)
    return ct_error(L, "TypeError", "paramflags need a {name, library} "
                    "function spec");
  switch (lua_type(L, 2)) {
    case LUA_TFUNCTION:
      return ct_callback_new(L, 1, 2);
    case LUA_TNONE: case LUA_TNIL:
      break;
    case LUA_TNUMBER:
      if (!lua_isinteger(L, 2))
        return ct_error(L, "TypeError", "function address must be an "
                        "integer, got number");
      addr = (void *)(intptr_t)lua_tointeger(L, 2);
      break;
    case LUA_TUSERDATA: {
      /* another function object: the same address, this prototype */
      ct_CData *o = ct_tocdata(L, 2);
      if (o == NULL || o->type->kind != CT_FUNC) goto bad;
      ct_checkcallback(L, 1, 2, ct_typename(L, 1));
      addr = ct_pointervalue(o);
      ownidx = 2;
      break;
    }
    case LUA_TTABLE: {
      const char *name;
      lua_rawgeti(L, 2, 1);
      lua_rawgeti(L, 2, 2);
      if (lua_type(L, -2) != LUA_TSTRING)
        return ct_error(L, "TypeError", "function spec must be {name, "
                        "library}");
      name = lua_tostring(L, -2);
      addr = ct_lib_sym(L, -1, name, "CFUNCTYPE");
      ownidx = lua_gettop(L);
      break;
    }
    default: bad: {
      const char *got = ct_describe(L, 2);
      return ct_error(L, "TypeError", "argument must be a function, an "
                      "integer address or {name, library}, got %s", got);
    }
  }
  if (haspf)
    checkparamflags(L, 3, s->s.nargs);             /* ..., pf */
  else lua_pushnil(L);
  newfuncobj(L, 1, addr);                          /* pf, f */
  if (ownidx != 0) {
    lua_pushvalue(L, ownidx);
    lua_setiuservalue(L, -2, CT_UV_OWNER);
  }
  lua_getiuservalue(L, 1, CT_TUV_EXT);             /* pf, f, sig */
  setcallinfo(L, -2, CI_EXACT | (haspf ? CI_PARAMFLAGS : 0));  /* pf, f */
  if (haspf) {
    lua_getiuservalue(L, -1, CT_UV_CALLINFO);      /* pf, f, ci */
    lua_pushvalue(L, -3);
    lua_setiuservalue(L, -2, 2);
    lua_pop(L, 1);
  }
  return 1;
}

/* } ====================================================================== */


/* {======================================================================
** errno
** ======================================================================= */

static int call_get_errno (lua_State *L) {
  lua_pushinteger(L, ct_errno);
  return 1;
}


static int call_set_errno (lua_State *L) {
  int isnum;
  lua_Integer v = ct_tointegerx(L, 1, &isnum);   /* no string coercion */
  int old = ct_errno;
  if (!isnum || v < INT32_MIN || v > INT32_MAX) {
    const char *got = ct_describe(L, 1);
    return ct_error(L, "TypeError", "set_errno: expected an int, got %s", got);
  }
  ct_errno = (int)v;
  lua_pushinteger(L, old);
  return 1;
}


/* ctypes._calls_direct([on]): whether register-only calls skip libffi on
** this thread; returns the previous setting (a testing aid) */
static int call_direct (lua_State *L) {
  int old = !ct_nodirect;
  if (!lua_isnone(L, 1)) ct_nodirect = !lua_toboolean(L, 1);
  lua_pushboolean(L, old && CT_X64_DIRECT);
  return 1;
}

/* } ====================================================================== */


/* registry[key] = a new table with weak keys or values (mode) */
static void weakregistry (lua_State *L, const void *key, const char *mode) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushstring(L, mode);
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}


void ct_open_call (lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"CFUNCTYPE", call_CFUNCTYPE},
    {"get_errno", call_get_errno},
    {"set_errno", call_set_errno},
    {"_calls_direct", call_direct},
    {NULL, NULL}
  };
  luaL_setfuncs(L, funcs, 0);
  weakregistry(L, &protocache_key, "v");
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &deffunc_key);
}
