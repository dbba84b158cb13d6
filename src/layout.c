/*
** layout.c -- the layout engine: T._fields_ = {...} is checked and laid
** out in one pass over _fields_ with gcc's rules on each target (_base_,
** _pack_, _align_, bit fields, _anonymous_), and only then committed to
** the type. The Fields it makes are struct.c's objects.
*/
#include <stdint.h>
#include <string.h>

#include "ctypes.h"

/* the largest _align_/_pack_ (gcc: "requested alignment exceeds
** maximum 268435456") */
#define MAXALIGN ((lua_Integer)1 << 28)

/* largest type we lay out: keeps every bit count inside 64 bits */
#define MAXSIZE ((uint64_t)1 << 56)
/* n > MAXSIZE, as a function: with a 32-bit size_t, `size > MAXSIZE` draws
** -Wtype-limits */
static int toolarge (uint64_t n) { return n > MAXSIZE; }


/* {======================================================================
** Small helpers
** ======================================================================= */

static uint64_t roundup (uint64_t n, uint64_t m) {
  return m <= 1 ? n : (n + m - 1) / m * m;
}


static int ispow2 (lua_Integer n) {
  return n > 0 && (n & (n - 1)) == 0;
}


/* scalar codes a bit field may have (ctypes: the integer types and bool) */
static int bitscalar (const ct_Type *t) {
  if (t->kind != CT_SIMPLE) return 0;
  switch (t->scalar) {
    case CT_BOOL: case CT_BYTE: case CT_UBYTE: case CT_SHORT: case CT_USHORT:
    case CT_INT: case CT_UINT: case CT_LONG: case CT_ULONG:
    case CT_LONGLONG: case CT_ULONGLONG:
      return 1;
    default: return 0;
  }
}

/* } ====================================================================== */


/* {======================================================================
** Layout: one pass over _fields_, gcc's rules (stor-layout.c) for x86-64:
** - a plain member is aligned to its type's alignment, capped by _pack_;
** - a bit field goes at the next free bit; without _pack_ it moves to the
**   next boundary of its type's alignment if it would otherwise span more
**   units of that alignment than its type has (under #pragma pack it never
**   moves);
** - a named bit field raises the record's alignment to its type's
**   (capped by _pack_); unnamed ones do not;
** - a zero-width bit field aligns the next bit to its type's alignment,
**   whatever _pack_ says, and does not raise the record's alignment;
** - a union puts everything at 0; a bit field occupies ceil(bits/8) bytes.
** On aarch64 (gcc's TARGET_ALIGN_ANON_BITFIELD) unnamed bit fields raise
** the record's alignment as named ones do, zero-width ones to their type's
** alignment whatever _pack_ says.
** ======================================================================= */

#if defined(__aarch64__)
#define ANON_BITS_ALIGN 1
#else
#define ANON_BITS_ALIGN 0
#endif

typedef struct Layout {
  int isunion;
  int big;           /* bit numbering of a swapped struct on this host */
  uint64_t pack;     /* 0: none */
  uint64_t bitpos;   /* struct: next free bit */
  uint64_t size;     /* union: largest member in bytes */
  uint64_t align;
} Layout;


static void place (Layout *ly, ct_Field *f, const ct_Type *ft, int bits,
                   int named) {
  uint64_t A = ft->align > 0 ? ft->align : 1;
  uint64_t a = (ly->pack != 0 && ly->pack < A) ? ly->pack : A;
  uint64_t A8 = A * 8, S8 = (uint64_t)ft->size * 8, unit, in;
  if (bits < 0) {                                 /* a plain member */
    if (ly->isunion) {
      f->offset = 0;
      if (ft->size > ly->size) ly->size = ft->size;
    }
    else {
      ly->bitpos = roundup(ly->bitpos, a * 8);
      f->offset = (size_t)(ly->bitpos / 8);
      ly->bitpos += S8;
    }
    if (a > ly->align) ly->align = a;
    return;
  }
  f->flags |= CT_F_BITS;
  f->bit_size = (unsigned)bits;
  if (bits == 0) {
    if (!ly->isunion) ly->bitpos = roundup(ly->bitpos, A8);
    f->bitpos = ly->isunion ? 0 : (size_t)ly->bitpos;
    f->offset = f->bitpos / 8;
    f->bit_offset = 0;
    if (ANON_BITS_ALIGN && A > ly->align) ly->align = A;
    return;
  }
  if (ly->isunion) {
    f->bitpos = 0;
    if ((uint64_t)(bits + 7) / 8 > ly->size) ly->size = (bits + 7) / 8;
  }
  else {
    if (ly->pack == 0 &&
        (ly->bitpos % A8 + bits + A8 - 1) / A8 > S8 / A8)
      ly->bitpos = roundup(ly->bitpos, A8);
    f->bitpos = (size_t)ly->bitpos;
    ly->bitpos += (uint64_t)bits;
  }
  if ((named || ANON_BITS_ALIGN) && a > ly->align) ly->align = a;
  /* storage unit for .offset/.bit_offset: the aligned object of the
  ** field's type holding it (as ctypes reports), or, for a field that
  ** straddles such units under _pack_, the byte where it starts */
  unit = f->bitpos / A8 * A8;
  if (f->bitpos + bits > unit + S8) unit = f->bitpos / 8 * 8;
  f->offset = (size_t)(unit / 8);
  in = f->bitpos - unit;
  if (!ly->big)
    f->bit_offset = (unsigned)in;
  else   /* the lowest bit's shift in the big-endian unit */
    f->bit_offset = in + bits <= S8 ? (unsigned)(S8 - in - bits) : 0;
}

/* } ====================================================================== */


/* {======================================================================
** _fields_ and the options that shape the layout
** ======================================================================= */

/* option from the body (or inherited from the base's body): an integer
** that is 0 or a power of two */
static uint64_t powoption (lua_State *L, int bodyidx, const char *key,
                           int baseidx) {
  lua_Integer n;
  int isint;
  int ty = lua_getfield(L, bodyidx, key);
  if (ty == LUA_TNIL && baseidx != 0) {
    lua_pop(L, 1);
    lua_getiuservalue(L, baseidx, CT_TUV_BODY);
    lua_getfield(L, -1, key);
    lua_remove(L, -2);
    ty = lua_type(L, -1);
  }
  if (ty == LUA_TNIL) { lua_pop(L, 1); return 0; }
  n = ct_tointegerx(L, -1, &isint);
  if (!isint) {
    const char *got = ct_describe(L, -1);
    ct_error(L, "TypeError", "%s must be an integer, got %s", key, got);
  }
  if (n != 0 && !ispow2(n))
    ct_error(L, "ValueError", "%s must be 0 or a power of two, got %I",
             key, n);
  /* gcc's limit for aligned(n); a _pack_ above 16 changes nothing */
  if (n > MAXALIGN)
    ct_error(L, "ValueError", "%s must be at most %I, got %I", key,
             (lua_Integer)MAXALIGN, n);
  lua_pop(L, 1);
  return (uint64_t)n;
}


/* fields[k] = a copy of the inner field f, relative to this type; the
** stack ends with k, f (left there) */
static void promote1 (lua_State *L, int tidx, int fieldsidx,
                      const ct_Field *af, const char *aname) {
  const ct_Field *in = ct_tofield(L, -1);
  ct_Field *nf;
  lua_pushvalue(L, -2);
  if (lua_rawget(L, fieldsidx) != LUA_TNIL)
    ct_error(L, "TypeError", "duplicate field name '%s' in %s (from "
             "anonymous '%s')", lua_tostring(L, -3), ct_typename(L, tidx),
             aname);
  lua_pop(L, 1);
  nf = ct_newfield(L, in);                       /* k, f, new */
  nf->offset += af->offset;
  nf->bitpos += af->offset * 8;
  lua_getiuservalue(L, -2, 1);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, -3);
  lua_setiuservalue(L, -2, 2);
  lua_pushvalue(L, -3);
  lua_insert(L, -2);
  lua_rawset(L, fieldsidx);                      /* fields[k] = new */
}


/* is the name at nameidx in the _anonymous_ list of the type at tidx? */
static int listedanonymous (lua_State *L, int tidx, int nameidx) {
  int found = 0;
  nameidx = lua_absindex(L, nameidx);
  if (lua_getiuservalue(L, tidx, CT_TUV_BODY) != LUA_TTABLE) {
    lua_pop(L, 1);
    return 0;
  }
  if (lua_getfield(L, -1, "_anonymous_") == LUA_TTABLE) {  /* body, anon */
    lua_Integer k, n = (lua_Integer)lua_rawlen(L, -1);
    for (k = 1; k <= n && !found; k++) {
      lua_rawgeti(L, -1, k);
      found = lua_rawequal(L, -1, nameidx);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 2);
  return found;
}


/* _anonymous_: the fields of the listed members become reachable by name,
** with offsets relative to this type. fieldsidx: the new field table. */
static void promote (lua_State *L, int tidx, int bodyidx, int fieldsidx) {
  lua_Integer i, n;
  if (lua_getfield(L, bodyidx, "_anonymous_") == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (!ct_isdatatable(L, -1)) {
    const char *got = ct_describe(L, -1);
    ct_error(L, "TypeError", "_anonymous_ must be a table of field names, "
             "got %s", got);
  }
  n = (lua_Integer)lua_rawlen(L, -1);
  for (i = 1; i <= n; i++) {
    int aidx, itidx;
    lua_Integer j;
    ct_Field *af;
    const char *aname;
    lua_rawgeti(L, -1, i);                       /* anon, name */
    if (lua_type(L, -1) != LUA_TSTRING) {
      const char *got = ct_describe(L, -1);
      ct_error(L, "TypeError", "_anonymous_[%d] must be a field name, got %s",
               (int)i, got);
    }
    aname = lua_tostring(L, -1);
    lua_pushvalue(L, -1);
    lua_rawget(L, fieldsidx);                    /* anon, name, field */
    af = ct_tofield(L, -1);
    if (af == NULL)
      ct_error(L, "AttributeError", "'%s' is specified in _anonymous_ but "
               "not in _fields_", aname);
    aidx = lua_gettop(L);
    lua_getiuservalue(L, aidx, 1);               /* ..., field type */
    itidx = lua_gettop(L);
    if ((af->type->kind != CT_STRUCT && af->type->kind != CT_UNION) ||
        (af->flags & CT_F_BITS))
      ct_error(L, "TypeError", "_anonymous_ field '%s' must be a structure "
               "or union, got %s", aname, ct_typename(L, itidx));
    af->flags |= CT_F_ANON;
    lua_getiuservalue(L, itidx, CT_TUV_FIELDS);  /* ..., inner fields */
    lua_newtable(L);                             /* ..., inner, seen */
    /* the inner type's own fields in order first, so that messages do not
    ** depend on table order; then what it promoted itself */
    for (j = 1; j <= (lua_Integer)lua_rawlen(L, -2); j++) {
      lua_rawgeti(L, -2, j);                     /* ..., inner, seen, f */
      lua_pushvalue(L, -1);
      lua_pushboolean(L, 1);
      lua_rawset(L, -4);
      lua_getiuservalue(L, -1, 2);               /* ..., f, name */
      /* an anonymous member of the inner type itself gives its fields (it
      ** promoted them: they come below), not its name, as in ctypes */
      if (lua_rawlen(L, -1) > 0 && !listedanonymous(L, itidx, -1)) {
        lua_insert(L, -2);                       /* ..., name, f */
        promote1(L, tidx, fieldsidx, af, aname);
      }
      lua_pop(L, 2);
    }
    lua_pushnil(L);
    while (lua_next(L, -3)) {                    /* ..., seen, k, f */
      if (lua_type(L, -2) == LUA_TSTRING) {
        lua_pushvalue(L, -1);
        if (lua_rawget(L, -4) == LUA_TNIL) {     /* not seen yet */
          lua_pop(L, 1);
          promote1(L, tidx, fieldsidx, af, aname);
        }
        else lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
    lua_settop(L, aidx - 2);                     /* anon */
  }
  lua_pop(L, 1);
}


/* T._fields_ = fields (at fidx): checks everything, lays the type out and
** only then commits, so a failed assignment leaves T as it was */
void ct_setfields (lua_State *L, int tidx, int fidx) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, tidx);
  Layout ly;
  unsigned depth = 0;
  lua_Integer i, n;
  int bodyidx, baseidx = 0, newidx, top = lua_gettop(L);
  uint64_t alignopt, size;
  const ct_Type *base = NULL;
  const struct ct_FieldMap *fmap;
  tidx = lua_absindex(L, tidx);
  fidx = lua_absindex(L, fidx);
  luaL_checkstack(L, 20, NULL);
  if (t->flags & CT_FINAL)
    ct_error(L, "AttributeError", "_fields_ is final (%s already has its "
             "fields)", ct_typename(L, tidx));
  if (!ct_isdatatable(L, fidx)) {
    const char *got = ct_describe(L, fidx);
    ct_error(L, "TypeError", "_fields_ must be a table of {name, type[, "
             "bits]} entries, got %s", got);
  }
  lua_getiuservalue(L, tidx, CT_TUV_BODY);
  bodyidx = lua_gettop(L);
  memset(&ly, 0, sizeof ly);
  ly.isunion = t->kind == CT_UNION;
  ly.big = (t->flags & CT_SWAPPED) ? !ct_hostbig() : ct_hostbig();
  ly.align = 1;
  /* _base_: a complete type of the same kind and byte order */
  if (lua_getfield(L, bodyidx, "_base_") != LUA_TNIL) {
    base = ct_totype(L, -1);
    if (base == NULL || base->kind != t->kind) {
      const char *got = ct_describe(L, -1);
      ct_error(L, "TypeError", "_base_ must be a %s type, got %s",
               t->kind == CT_UNION ? "union" : "structure", got);
    }
    if (base->flags & CT_INCOMPLETE)
      ct_error(L, "TypeError", "_base_ %s is an incomplete type (_fields_ "
               "not set)", ct_typename(L, -1));
    if ((base->flags & CT_SWAPPED) != (t->flags & CT_SWAPPED))
      ct_error(L, "TypeError", "_base_ %s has a different byte order",
               ct_typename(L, -1));
    baseidx = lua_gettop(L);
    if (ly.isunion) ly.size = base->size;
    else ly.bitpos = (uint64_t)base->size * 8;
    ly.align = base->align > 0 ? base->align : 1;
    depth = base->depth - 1;        /* its fields are ours: not a level */
  }
  else lua_pop(L, 1);
  ly.pack = powoption(L, bodyidx, "_pack_", baseidx);
  alignopt = powoption(L, bodyidx, "_align_", 0);
  /* the new field table starts with a copy of the base's */
  lua_newtable(L);
  newidx = lua_gettop(L);
  if (baseidx != 0) {
    lua_getiuservalue(L, baseidx, CT_TUV_FIELDS);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, newidx);
    }
    lua_pop(L, 1);
  }
  n = (lua_Integer)lua_rawlen(L, fidx);
  for (i = 1; i <= n; i++) {
    int eidx, ftidx, bits = -1, named;
    const char *name;
    ct_Type *ft;
    ct_Field *f;
    lua_rawgeti(L, fidx, i);
    eidx = lua_gettop(L);
    if (!ct_isdatatable(L, eidx)) {
      const char *got = ct_describe(L, eidx);
      ct_error(L, "TypeError", "_fields_[%d] must be a table {name, type[, "
               "bits]}, got %s", (int)i, got);
    }
    if (lua_rawgeti(L, eidx, 1) != LUA_TSTRING) {
      const char *got = ct_describe(L, -1);
      ct_error(L, "TypeError", "_fields_[%d]: field name must be a string, "
               "got %s", (int)i, got);
    }
    name = lua_tostring(L, -1);                 /* eidx + 1 */
    lua_rawgeti(L, eidx, 2);                    /* eidx + 2 */
    ft = ct_totype(L, -1);
    if (ft == NULL) {
      const char *got = ct_describe(L, -1);
      ct_error(L, "TypeError", "field '%s': expected a ctypes type, got %s",
               name, got);
    }
    if (ft == t)
      ct_error(L, "TypeError", "field '%s': %s cannot contain itself by value "
               "(use POINTER(%s))", name, ct_typename(L, tidx),
               ct_typename(L, tidx));
    if (ft->flags & CT_INCOMPLETE)
      ct_error(L, "TypeError", "field '%s': %s is an incomplete type "
               "(_fields_ not set)", name, ct_typename(L, -1));
    if (toolarge(ft->size))
      ct_error(L, "OverflowError", "field '%s': type too large", name);
    if (ft->depth >= CT_MAXDEPTH)
      ct_error(L, "ValueError", "field '%s': type nested too deeply (more "
               "than %d levels of arrays and structures)", name, CT_MAXDEPTH);
    if (ft->depth > depth) depth = ft->depth;
    if (lua_rawgeti(L, eidx, 3) != LUA_TNIL) {  /* eidx + 3 */
      int isint;
      lua_Integer b = ct_tointegerx(L, -1, &isint);
      if (!isint) {
        const char *got = ct_describe(L, -1);
        ct_error(L, "TypeError", "field '%s': number of bits must be an "
                 "integer, got %s", name, got);
      }
      if (!bitscalar(ft))
        ct_error(L, "TypeError", "bit fields not allowed for type %s",
                 ct_typename(L, eidx + 2));
      if (b < 0 || (uint64_t)b > (ft->scalar == CT_BOOL ? 1 : ft->size * 8))
        ct_error(L, "ValueError", "number of bits invalid for bit field "
                 "'%s'", name);
      bits = (int)b;
    }
    lua_pop(L, 1);
    if (name[0] == '\0' && bits < 0)
      ct_error(L, "ValueError", "_fields_[%d]: empty field name (only bit "
               "fields may be unnamed)", (int)i);
    named = name[0] != '\0' && bits != 0;
    if (named) {
      lua_pushvalue(L, eidx + 1);
      if (lua_rawget(L, newidx) != LUA_TNIL)
        ct_error(L, "TypeError", "duplicate field name '%s' in %s", name,
                 ct_typename(L, tidx));
      lua_pop(L, 1);
    }
    if (t->flags & CT_SWAPPED) {                 /* eidx + 3: field type */
      ct_otherendian(L, eidx + 2, name);
      ft = (ct_Type *)lua_touserdata(L, -1);
    }
    else lua_pushvalue(L, eidx + 2);
    ftidx = lua_gettop(L);
    f = ct_newfield(L, NULL);
    f->type = ft;
    f->size = ft->size;
    place(&ly, f, ft, bits, named);
    if (!named && bits >= 0) f->flags |= CT_F_UNNAMED;
    if ((bits > 0 && (t->flags & CT_SWAPPED)) ||
        (bits < 0 && ft->kind == CT_SIMPLE && (ft->flags & CT_SWAPPED)))
      f->flags |= CT_F_SWAPPED;
    if (ly.bitpos > MAXSIZE * 8 || ly.size > MAXSIZE)
      ct_error(L, "OverflowError", "structure too large");
    lua_pushvalue(L, ftidx);
    lua_setiuservalue(L, -2, 1);
    lua_pushstring(L, named ? name : "");
    lua_setiuservalue(L, -2, 2);
    lua_pushvalue(L, -1);
    lua_rawseti(L, newidx, (lua_Integer)lua_rawlen(L, newidx) + 1);
    if (named) {
      lua_pushvalue(L, eidx + 1);
      lua_insert(L, -2);
      lua_rawset(L, newidx);
    }
    lua_settop(L, newidx);
  }
  promote(L, tidx, bodyidx, newidx);
  if (alignopt > ly.align) ly.align = alignopt;
  size = ly.isunion ? ly.size : (ly.bitpos + 7) / 8;
  size = roundup(size, ly.align);
  fmap = ct_buildfieldmap(L, newidx);   /* allocates: before the commit */
  /* commit */
  t->size = (size_t)size;
  t->align = (size_t)ly.align;
  t->depth = depth + 1;
  t->flags = (t->flags & ~CT_INCOMPLETE) | CT_FINAL;
  t->fmap = fmap;
  lua_pushvalue(L, newidx);
  lua_setiuservalue(L, tidx, CT_TUV_FIELDS);
  if (baseidx != 0) {
    lua_pushvalue(L, baseidx);
    lua_setiuservalue(L, tidx, CT_TUV_PROTO);
  }
  lua_pushvalue(L, fidx);
  lua_setfield(L, bodyidx, "_fields_");
  lua_settop(L, top);
}

/* } ====================================================================== */
