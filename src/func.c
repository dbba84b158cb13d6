/*
** func.c -- function objects and their signatures: by-value libffi types of
** aggregates, signature preparation (ct_newsig: everything about a call
** that depends only on the types, prepared once), argtypes/restype/
** errcheck/paramflags, prototypes (CFUNCTYPE). call.c makes the calls.
*/
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "ctypes.h"

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
            ct_abi_bitbytes(f, &first, &last);             /* abi.h */
            markint(map, off + first, last - first + 1);
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

static unsigned char fastconv (const ct_Type *t) {
  switch (t->kind) {
    case CT_SIMPLE:
      switch (t->scalar) {
        case CT_BYTE: return CT_FC_I8;
        case CT_UBYTE: return CT_FC_U8;
        case CT_SHORT: return CT_FC_I16;
        case CT_USHORT: return CT_FC_U16;
        case CT_INT: return CT_FC_I32;
        case CT_UINT: return CT_FC_U32;
        case CT_LONG: case CT_ULONG: case CT_LONGLONG: case CT_ULONGLONG:
          return CT_FC_I64;
        case CT_BOOL: return CT_FC_BOOL;
        case CT_FLOAT: return CT_FC_FLOAT;
        case CT_DOUBLE: return CT_FC_DOUBLE;
        case CT_CHAR_P: return CT_FC_CHARP;
        case CT_VOID_P: return CT_FC_VOIDP;
        default: return CT_FC_GEN;
      }
    case CT_POINTER: return CT_FC_PTR;
    case CT_STRUCT: case CT_UNION: return CT_FC_AGG;
    default: return CT_FC_GEN;
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


/* whether the value at idx (not a ctypes type) is a from_param adapter: a
** table or userdata whose from_param is callable, as ctypes accepts in
** argtypes */
static int isadapter (lua_State *L, int idx) {
  int t = lua_type(L, idx), r;
  if (t != LUA_TTABLE && t != LUA_TUSERDATA) return 0;
  luaL_checkstack(L, 2, NULL);
  if (lua_getfield(L, idx, "from_param") == LUA_TFUNCTION) r = 1;
  else r = luaL_getmetafield(L, -1, "__call") != LUA_TNIL &&
           (lua_pop(L, 1), 1);
  lua_pop(L, 1);
  return r;
}


/* checks argtypes item i at idx; returns 1 if it is a from_param adapter
** (allowed: adapters are accepted) */
static int checkargtype (lua_State *L, int idx, lua_Integer i, int allowed) {
  ct_Type *t = ct_totype(L, idx);
  if (t == NULL) {
    const char *got;
    if (allowed && isadapter(L, idx)) return 1;
    got = ct_describe(L, idx);
    ct_error(L, "TypeError", "argtypes: item %I must be a ctypes type%s, "
             "got %s", i, allowed ? " or have a from_param method" : "", got);
  }
  if ((t->kind == CT_STRUCT || t->kind == CT_UNION) &&
      (t->flags & CT_INCOMPLETE))
    ct_error(L, "TypeError", "argtypes: item %I: %s is an incomplete type",
             i, ct_typename(L, idx));
  if (t->kind == CT_SIMPLE && t->scalar < 0)
    ct_error(L, "TypeError", "argtypes: item %I: bad type", i);
  return 0;
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
  int nadapt = 0;
  ct_CallSig *s;
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
    if (!ct_isdatatable(L, argsidx)) {
      const char *got = ct_describe(L, argsidx);
      ct_error(L, "TypeError", "argtypes must be a table (sequence) of types "
               "or nil, got %s", got);
    }
    n = luaL_len(L, argsidx);
    if (n > CT_MAXARGS)
      ct_error(L, "ArgumentError", "argtypes: too many arguments (%I), "
               "maximum is %d", n, CT_MAXARGS);
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, argsidx, i);
      nadapt += checkargtype(L, -1, i, (flags & CT_SIG_ADAPTERS) != 0);
      lua_pop(L, 1);
    }
  }
  checkrestype(L, retidx);
  /* ct_CallSig, then ct_Type *args[n], ffi_type *atypes[n], ct_Arg a[n + 1]
  ** (a CT_FC_END record last), and on x86-64 ffi_type *satypes[2n],
  ** ct_Low lw[n] */
  sz = sizeof(ct_CallSig) + (size_t)n * (2 * sizeof(void *) + sizeof(ct_Arg))
       + sizeof(ct_Arg);
#if CT_ABI_X64
  sz += (size_t)n * (sizeof(ct_Low) + 2 * sizeof(void *));
#endif
  s = (ct_CallSig *)lua_newuserdatauv(L, sz, 2);
  memset(s, 0, sz);
  mem = (char *)(s + 1);
  s->s.flags = flags & ~(unsigned)CT_SIG_ADAPTERS;
  s->s.nargs = (int)n;
  /* pointers first, the byte-sized ct_Low records last: all aligned */
  s->s.args = (ct_Type **)mem; mem += (size_t)n * sizeof(void *);
  s->s.atypes = (ffi_type **)mem; mem += (size_t)n * sizeof(void *);
#if CT_ABI_X64
  s->satypes = (ffi_type **)mem; mem += 2 * (size_t)n * sizeof(void *);
#endif
  s->a = (ct_Arg *)mem; mem += (size_t)(n + 1) * sizeof(ct_Arg);
  s->a[n].fc = CT_FC_END;
#if CT_ABI_X64
  lw = (ct_Low *)mem;
  luaL_getmetatable(L, "ctypes.CData");
  s->cdmt = lua_topointer(L, -1);
  lua_pop(L, 1);
#endif
  s->untyped = argsidx == 0;
  s->adapters = nadapt > 0;
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
    ct_Arg *a = &s->a[i];
    lua_rawgeti(L, -1, i + 1);
    if (ct_totype(L, -1) == NULL) {      /* a from_param adapter: its result
                                            converts by its own type */
      a->t = NULL;
      a->adapter = 1;
      a->fc = CT_FC_GEN;
      s->s.atypes[i] = &ffi_type_pointer;  /* per call (general()) */
#if CT_ABI_X64
      lw[i] = ct_x64_ffilow(&ffi_type_pointer);
#endif
      lua_pop(L, 1);
      continue;
    }
    a->t = (ct_Type *)lua_touserdata(L, -1);
    s->s.args[i] = a->t;
    s->s.atypes[i] = ct_ffitype(L, -1);
    a->fc = fastconv(a->t);
    a->hasfp = (unsigned char)hasfromparam(L, -1);
    if (a->hasfp) a->fc = CT_FC_GEN;
#if CT_ABI_X64
    lw[i] = ct_x64_typelow(L, -1);
#endif
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  /* result */
  s->rk = CT_RK_VOID;
  s->s.rtype = &ffi_type_void;
  if (lua_isfunction(L, retidx)) {
    /* ctypes' callable restype: called with the int result */
    s->rk = CT_RK_CALLABLE;
    s->rscalar = CT_INT;
    s->s.rtype = &ffi_type_sint;
  }
  else if (ct_totype(L, retidx) != NULL) {
    ct_Type *rt = (ct_Type *)lua_touserdata(L, retidx);
    s->s.ret = rt;
    s->s.rtype = ct_ffitype(L, retidx);
    s->rsize = rt->size;
    if (rt->kind == CT_SIMPLE) {
      s->rk = CT_RK_SCALAR;
      s->rscalar = (unsigned char)rt->scalar;
    }
    else if ((rt->kind == CT_STRUCT || rt->kind == CT_UNION) && rt->size > 16)
      s->rk = CT_RK_BIG;
    else
      s->rk = CT_RK_OBJ;
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
  s->rd = (unsigned char)(s->rk == CT_RK_VOID ? CT_RD_VOID : ct_x64_rd(&s->rlow));
  hidden = s->rd == CT_RD_MEM;
  allreg = ct_x64_place(lw, (int)n, hidden, &gpr, &sse, &split, NULL);
  (void)gpr; (void)sse;
  for (i = 0; i < n; i++) s->a[i].low = lw[i];
  s->split = (unsigned char)split;
#if CT_X64_DIRECT
  s->direct = (unsigned char)(allreg && !s->untyped && !s->adapters);
  s->fast = (unsigned char)(s->direct && s->rk != CT_RK_BIG &&
                            s->rk != CT_RK_CALLABLE);
  s->hotint = (unsigned char)(s->fast && n <= CT_X64_NGPR &&
                              (s->rk == CT_RK_VOID || (s->rk == CT_RK_SCALAR &&
                               s->rd == CT_RD_INT)));
  for (i = 0; i < n && s->hotint; i++) {
    unsigned char fc = s->a[i].fc;
    if (fc != CT_FC_I32 && fc != CT_FC_U32 && fc != CT_FC_I64) s->hotint = 0;
  }
  /* and for up to four doubles, with a double, int-class or no result */
  s->hotdbl = (unsigned char)(s->fast && n <= 4 &&
                              (s->rk == CT_RK_VOID || (s->rk == CT_RK_SCALAR &&
                               (s->rd == CT_RD_INT ||
                                s->rscalar == CT_DOUBLE))));
  for (i = 0; i < n && s->hotdbl; i++)
    if (s->a[i].fc != CT_FC_DOUBLE) s->hotdbl = 0;
  if (s->rk == CT_RK_VOID) s->rscalar = CT_VOID_P;
  /* where each eightbyte travels: the ABI takes the registers of each
  ** class in order (all fit, or the call is not direct) */
  if (s->direct) {
    int gi = hidden, xi = 0, j;
    for (i = 0; i < n; i++)
      for (j = 0; j < lw[i].n; j++)
        s->a[i].r[j] = (unsigned char)(lw[i].c[j] == CT_CL_INT ? gi++ : xi++);
    s->nsse = (unsigned char)xi;
  }
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
static ct_Call *setcallinfo (lua_State *L, int idx, unsigned cflags) {
  ct_Call *ci;
  ct_CData *cd;
  idx = lua_absindex(L, idx);
  cd = ct_cdof(lua_touserdata(L, idx));
  ci = (ct_Call *)lua_newuserdatauv(L, sizeof(ct_Call), 2);   /* sig, ci */
  ci->sig = (ct_CallSig *)lua_touserdata(L, -2);
  ci->flags = cflags;
  ct_call_prepare(ci);
  if (ct_func_cislot(cd) != NULL) *ct_func_cislot(cd) = ci;
  lua_insert(L, -2);                                    /* ci, sig */
  lua_setiuservalue(L, -2, 1);                          /* ci */
  lua_setiuservalue(L, idx, CT_UV_CALLINFO);
  return ci;
}


/* a new function object of the CT_FUNC type at tidx: the ct_Call pointer
** that spares the call path a uservalue lookup, then the payload, the
** address (ctypes.h, ct_func_cislot) */
static ct_CData *newfuncobj (lua_State *L, int tidx, void *addr) {
  ct_CData *cd = ct_newcdata_sized(L, tidx, sizeof(ct_Call *) +
                                   sizeof(void *), CT_NUV_FUNC);
  ct_Call **slot = (ct_Call **)ct_cdptr(cd);
  *slot = NULL;
  cd->ptr = slot + 1;
  cd->size = sizeof(void *);
  cd->flags |= CT_CD_CALLINFO;
  ct_storeptr(ct_cdptr(cd), addr);
  return cd;
}


/* the call info of the function object at idx (made from its type's
** signature for objects that have none yet: views, callbacks) */
ct_Call *ct_func_callinfo (lua_State *L, int idx) {
  ct_Call *ci;
  if (lua_getiuservalue(L, idx, CT_UV_CALLINFO) == LUA_TUSERDATA) {
    ci = (ct_Call *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    return ci;
  }
  lua_pop(L, 1);
  ct_pushcdtype(L, idx);
  if (lua_getiuservalue(L, -1, CT_TUV_EXT) != LUA_TUSERDATA ||
      ((ct_Type *)lua_touserdata(L, -2))->ext == NULL)
    ct_error(L, "TypeError", "%s has no signature", ct_typename(L, -2));
  lua_remove(L, -2);
  ci = setcallinfo(L, idx, CT_CI_EXACT);
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
  ct_Call *ci;
  retidx = lua_absindex(L, retidx);
  if (argsidx != 0) argsidx = lua_absindex(L, argsidx);
  ci = ct_func_callinfo(L, 1);
  unsigned flags = ci->sig->s.flags;
  unsigned cflags = ci->flags;
  lua_getiuservalue(L, 1, CT_UV_CALLINFO);
  lua_getiuservalue(L, -1, 2);                       /* ci, paramflags */
  ct_newsig(L, retidx, argsidx, flags | CT_SIG_ADAPTERS);  /* ci, pf, sig */
  if ((cflags & CT_CI_PARAMFLAGS) && lua_istable(L, -2)) {
    lua_Integer n = luaL_len(L, -2);
    if (n != ((ct_CallSig *)lua_touserdata(L, -1))->s.nargs)
      ct_error(L, "ValueError", "paramflags must have the same length as "
               "argtypes (%I, not %d)", n,
               ((ct_CallSig *)lua_touserdata(L, -1))->s.nargs);
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
  ct_pushcdtype(L, 1);
  name = ct_typename(L, -1);
  key = luaL_tolstring(L, 2, NULL);
  return ct_error(L, "AttributeError", "'%s' object has no attribute '%s'",
                  name, key);
}


int ct_func_index (lua_State *L) {
  const char *k = lua_tostring(L, 2);
  if (lua_type(L, 2) == LUA_TSTRING) {
    if (strcmp(k, "argtypes") == 0) {
      ct_func_callinfo(L, 1);
      lua_getiuservalue(L, 1, CT_UV_CALLINFO);
      lua_getiuservalue(L, -1, 1);
      lua_getiuservalue(L, -1, 2);
      copyseq(L, -1);
      return 1;
    }
    if (strcmp(k, "restype") == 0) {
      ct_func_callinfo(L, 1);
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
int ct_func_samesig (const ct_Type *to, const ct_Type *from) {
  const ct_CallSig *a = (const ct_CallSig *)to->ext, *b = (const ct_CallSig *)from->ext;
  int i;
  if (to == from || b == NULL || b->untyped) return 1;
  if (a == NULL || a->untyped) return 0;
  if (a->s.nargs != b->s.nargs || a->s.ret != b->s.ret) return 0;
  for (i = 0; i < a->s.nargs; i++)
    if (a->s.args[i] != b->s.args[i]) return 0;
  return 1;
}


/* pushes "restype(argtype, ...)" for the function type at tidx */
void ct_func_pushsig (lua_State *L, int tidx) {
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
      ct_func_samesig(t, o->type))
    return;
  if (lua_getiuservalue(L, idx, CT_UV_CLOSURE) == LUA_TNIL) {
    lua_pop(L, 1);
    return;                          /* a foreign function: the user's word */
  }
  ct_pushcdtype(L, idx);
  ct_func_pushsig(L, tidx);
  ct_func_pushsig(L, -2);
  ct_error(L, "TypeError", "%s: expected a function %s, got a callback %s",
           what, lua_tostring(L, -2), lua_tostring(L, -1));
}


/* A callback's C code converts its arguments and result by its type's
** signature, whatever the object says: argtypes/restype set on it (for
** calls from Lua) may only repeat that signature, else those calls would
** hand it, say, integers it reads as pointers. Raises otherwise. */
static void checkfixed (lua_State *L, int isargs) {
  const ct_CallSig *s;
  int same = 1;
  if (lua_getiuservalue(L, 1, CT_UV_CLOSURE) == LUA_TNIL ||
      lua_getiuservalue(L, 1, CT_UV_TYPE) != LUA_TUSERDATA ||
      (s = (const ct_CallSig *)((ct_Type *)lua_touserdata(L, -1))->ext) == NULL) {
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
    ct_func_pushsig(L, -1);
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
      ct_func_callinfo(L, 1);
      lua_getiuservalue(L, 1, CT_UV_CALLINFO);
      lua_getiuservalue(L, -1, 1);
      lua_getiuservalue(L, -1, 1);                   /* ci, sig, restype */
      resig(L, -1, lua_isnil(L, 3) ? 0 : 3);
      return 0;
    }
    if (strcmp(k, "restype") == 0) {
      int hasargs;
      checkfixed(L, 0);
      ct_func_callinfo(L, 1);
      lua_getiuservalue(L, 1, CT_UV_CALLINFO);
      lua_getiuservalue(L, -1, 1);
      hasargs = lua_getiuservalue(L, -1, 2) == LUA_TTABLE;  /* ci, sig, at */
      resig(L, 3, hasargs ? -1 : 0);
      return 0;
    }
    if (strcmp(k, "errcheck") == 0) {
      ct_Call *ci;
      if (!lua_isnil(L, 3) && !lua_isfunction(L, 3) &&
          !luaL_getmetafield(L, 3, "__call")) {
        const char *got = ct_describe(L, 3);
        return ct_error(L, "TypeError", "errcheck must be a function or nil, "
                        "got %s", got);
      }
      lua_settop(L, 3);
      ci = ct_func_callinfo(L, 1);
      if (lua_isnil(L, 3)) ci->flags &= ~(unsigned)CT_CI_ERRCHECK;
      else ci->flags |= CT_CI_ERRCHECK;
      ct_call_prepare(ci);
      lua_setiuservalue(L, 1, CT_UV_ERRCHECK);
      return 0;
    }
  }
  return noattr(L);
}

/* } ====================================================================== */


/* {======================================================================
** Prototypes: CFUNCTYPE
** ======================================================================= */

/* ctypes.CFUNCTYPE(restype, argtype...[, {use_errno = true}]) */
static int func_CFUNCTYPE (lua_State *L) {
  int top = lua_gettop(L), nargs, i, argsidx, optidx = 0, nocache = 0;
  unsigned flags = 0;
  ct_Type *t;
  luaL_Buffer b;
  if (top < 1)
    return ct_error(L, "TypeError", "CFUNCTYPE() needs a restype (nil for "
                    "void)");
  if (top >= 2 && ct_isdatatable(L, top)) {
    optidx = top;
    lua_getfield(L, top, "use_errno");
    if (lua_toboolean(L, -1)) flags |= CT_SIG_USE_ERRNO;
    lua_pop(L, 1);
    /* options beyond use_errno (the callbacks' error/onerror) make the
    ** type unique: only plain signatures are cached */
    lua_pushnil(L);
    while (lua_next(L, top)) {
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2)
                                                     : "";
      lua_pop(L, 1);
      if (strcmp(k, "use_errno") == 0) continue;
      if (strcmp(k, "error") != 0 && strcmp(k, "onerror") != 0)
        return ct_error(L, "TypeError", "CFUNCTYPE: unknown option '%s'",
                        luaL_tolstring(L, -1, NULL));
      nocache = 1;
    }
    top--;
  }
  nargs = top - 1;
  checkrestype(L, 1);
  if (lua_isfunction(L, 1))
    return ct_error(L, "TypeError", "CFUNCTYPE: restype must be a ctypes "
                    "type or nil");
  for (i = 0; i < nargs; i++) checkargtype(L, 2 + i, i + 1, 0);
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
  if (!ct_isdatatable(L, idx)) {
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
    if (!ct_isdatatable(L, -1))
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
  ct_CallSig *s = (ct_CallSig *)t->ext;
  void *addr = NULL;
  int ownidx = 0, haspf;
  if (s == NULL)
    return ct_error(L, "TypeError", "abstract function type");
  haspf = !lua_isnoneornil(L, 3);
  if (haspf && !ct_isdatatable(L, 2))
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
      if (ct_islib(L, 2)) goto bad;               /* a library is a table */
      lua_rawgeti(L, 2, 1);
      lua_rawgeti(L, 2, 2);
      if (lua_type(L, -2) != LUA_TSTRING)
        return ct_error(L, "TypeError", "function spec must be {name, "
                        "library}");
      name = lua_tostring(L, -2);
      addr = ct_lib_sym(L, -1, name, "CFUNCTYPE", NULL);
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
  setcallinfo(L, -2, CT_CI_EXACT | (haspf ? CT_CI_PARAMFLAGS : 0));  /* pf, f */
  if (haspf) {
    lua_getiuservalue(L, -1, CT_UV_CALLINFO);      /* pf, f, ci */
    lua_pushvalue(L, -3);
    lua_setiuservalue(L, -2, 2);
    lua_pop(L, 1);
  }
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


void ct_open_func (lua_State *L) {
  lua_pushcfunction(L, func_CFUNCTYPE);
  lua_setfield(L, -2, "CFUNCTYPE");
  weakregistry(L, &protocache_key, "v");
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &deffunc_key);
}
