/*
** struct.c -- structures and unions: instances (p.x, p.x = v through the
** field map), field access (bit fields included), initialisers, type
** objects (T.x, T._fields_ = ..., the Structure/Union constructors) and
** Field descriptors. Laying the type out is layout.c's; the byte-swapped
** twins its fields get are type.c's.
*/
#include <stdint.h>
#include <string.h>

#include "ctypes.h"

#define FIELD_MT "ctypes.Field"

#define ISAGG(t) ((t)->kind == CT_STRUCT || (t)->kind == CT_UNION)


/* {======================================================================
** Small helpers
** ======================================================================= */

/* the name of the field at fidx (stays referenced by the field) */
static const char *fieldname (lua_State *L, int fidx) {
  const char *s;
  lua_getiuservalue(L, fidx, 2);
  s = lua_tostring(L, -1);
  lua_pop(L, 1);
  return s != NULL ? s : "?";
}


ct_Field *ct_tofield (lua_State *L, int idx) {
  return (ct_Field *)luaL_testudata(L, idx, FIELD_MT);
}


int ct_describefield (lua_State *L, int idx) {
  if (ct_tofield(L, idx) == NULL) return 0;
  lua_pushfstring(L, "Field '%s'", fieldname(L, idx));
  return 1;
}


/* a member read and written as text: a character array, but not one of
** byte-swapped c_wchar (a swapped structure's), which stays an array */
static int textmember (const ct_Type *ft) {
  return ct_chararray(ft) && !(ft->proto->flags & CT_SWAPPED);
}


static int signedscalar (int code) {
  return code == CT_BYTE || code == CT_SHORT || code == CT_INT ||
         code == CT_LONG || code == CT_LONGLONG;
}

/* } ====================================================================== */


/* {======================================================================
** Bits: bit fields are read and written by absolute bit position, so a
** field straddling storage units (possible under _pack_) needs no special
** case. Little endian numbers bits from the LSB of each byte, big endian
** (a swapped struct here) from the MSB, with the field's MSB first: that is
** how gcc lays bit fields out on big-endian targets.
** ======================================================================= */

static uint64_t getbits (const unsigned char *p, uint64_t pos, unsigned w,
                         int big) {
  uint64_t v = 0;
  unsigned got = 0;
  while (got < w) {
    uint64_t bp = pos + got;
    unsigned sh = (unsigned)(bp & 7), n = 8 - sh, chunk;
    if (n > w - got) n = w - got;
    if (!big) {
      chunk = (p[bp >> 3] >> sh) & ((1u << n) - 1);
      v |= (uint64_t)chunk << got;
    }
    else {
      chunk = (p[bp >> 3] >> (8 - sh - n)) & ((1u << n) - 1);
      v = (n == 64 ? 0 : v << n) | chunk;
    }
    got += n;
  }
  return v;
}


static void setbits (unsigned char *p, uint64_t pos, unsigned w, int big,
                     uint64_t v) {
  unsigned done = 0;
  while (done < w) {
    uint64_t bp = pos + done;
    unsigned sh = (unsigned)(bp & 7), n = 8 - sh, mask, chunk, s;
    if (n > w - done) n = w - done;
    mask = (1u << n) - 1;
    if (!big) {
      chunk = (unsigned)(v >> done) & mask;
      s = sh;
    }
    else {
      /* the highest remaining bits of v go first */
      chunk = (unsigned)(v >> (w - done - n)) & mask;
      s = 8 - sh - n;
    }
    p[bp >> 3] = (unsigned char)((p[bp >> 3] & ~(mask << s)) | (chunk << s));
    done += n;
  }
}


/* a scalar of `size` bytes at p as an unsigned 64-bit value */
static uint64_t loadunsigned (const void *p, size_t size) {
  switch (size) {
    case 1: return *(const uint8_t *)p;
    case 2: return *(const uint16_t *)p;
    case 4: return *(const uint32_t *)p;
    default: return *(const uint64_t *)p;
  }
}

/* } ====================================================================== */


/* {======================================================================
** The field map: p.x finds its Field without the Lua API. Field names are
** short strings (interned, so one name is one address while the field
** table holds it as a key); the map is an open-addressing table from those
** addresses to the Fields, made when _fields_ is committed and owned by the
** field table (under fmap_key). A name that is not found (a long string, a
** method, a typo) takes the table path, which decides as before.
** ======================================================================= */

typedef struct FieldSlot {
  const char *key;     /* the name's address (lua_tostring), NULL = free */
  const ct_Field *f;
} FieldSlot;

struct ct_FieldMap {
  size_t mask;         /* slots - 1 (a power of two, at least twice the
                          names) */
  FieldSlot slot[1];
};

static const char fmap_key = 'm';

static size_t fmaphash (const char *k, size_t mask) {
  return (size_t)(((uint64_t)(uintptr_t)k * 0x9E3779B97F4A7C15u) >> 32) & mask;
}

/* the Field named by the string at top: string keys of the field table */
static void fmapput (struct ct_FieldMap *m, const char *k, const ct_Field *f) {
  size_t i = fmaphash(k, m->mask);
  while (m->slot[i].key != NULL) i = (i + 1) & m->mask;
  m->slot[i].key = k;
  m->slot[i].f = f;
}

/* builds the map of the field table at fidx, stores it there and returns
** it (the caller sets the type's fmap once the table is the type's) */
const struct ct_FieldMap *ct_buildfieldmap (lua_State *L, int fidx) {
  size_t n = 0, cap = 4;
  struct ct_FieldMap *m;
  fidx = lua_absindex(L, fidx);
  lua_pushnil(L);
  lua_rawsetp(L, fidx, &fmap_key);     /* a base's map copied along: not ours */
  lua_pushnil(L);
  while (lua_next(L, fidx)) {
    if (lua_type(L, -2) == LUA_TSTRING && ct_tofield(L, -1) != NULL) n++;
    lua_pop(L, 1);
  }
  while (cap < 2 * n) cap *= 2;
  m = (struct ct_FieldMap *)lua_newuserdatauv(L, offsetof(struct ct_FieldMap,
                                              slot) + cap * sizeof(FieldSlot), 0);
  m->mask = cap - 1;
  memset(m->slot, 0, cap * sizeof(FieldSlot));
  lua_pushnil(L);
  while (lua_next(L, fidx)) {
    ct_Field *f;
    if (lua_type(L, -2) == LUA_TSTRING && (f = ct_tofield(L, -1)) != NULL)
      fmapput(m, lua_tostring(L, -2), f);
    lua_pop(L, 1);
  }
  lua_rawsetp(L, fidx, &fmap_key);
  return m;
}

/* the Field named by the string k, or NULL (then ask the field table) */
static const ct_Field *fmapget (const struct ct_FieldMap *m, const char *k) {
  size_t i;
  if (m == NULL) return NULL;
  for (i = fmaphash(k, m->mask); m->slot[i].key != NULL; i = (i + 1) & m->mask)
    if (m->slot[i].key == k) return m->slot[i].f;
  return NULL;
}

/* a field read and written here without the table: a plain scalar in the
** native byte order (no bit field), as getfield's common case */
static int plainfield (const ct_Field *f) {
  return f != NULL && !(f->flags & (CT_F_BITS | CT_F_SWAPPED)) &&
         f->type->kind == CT_SIMPLE && !(f->type->flags & CT_SWAPPED);
}

/* } ====================================================================== */


/* {======================================================================
** Field access
** ======================================================================= */

/* pushes the value of field f (userdata at fidx) of the object at cdidx
** whose memory starts at base */
static void getfield (lua_State *L, int fidx, const ct_Field *f, char *base,
                      int cdidx) {
  const ct_Type *ft = f->type;
  if (f->flags & CT_F_BITS) {
    uint64_t v;
    if (f->flags & CT_F_UNNAMED) { lua_pushnil(L); return; }
    v = getbits((unsigned char *)base, f->bitpos, f->bit_size,
                (f->flags & CT_F_SWAPPED) ? !ct_hostbig() : ct_hostbig());
    if (ft->scalar == CT_BOOL)
      lua_pushboolean(L, v != 0);
    else {
      if (signedscalar(ft->scalar) && f->bit_size < 64 &&
          ((v >> (f->bit_size - 1)) & 1))
        v |= ~(uint64_t)0 << f->bit_size;
      lua_pushinteger(L, (lua_Integer)v);
    }
    return;
  }
  if (ft->kind == CT_SIMPLE && !(ft->flags & CT_SWAPPED)) {
    ct_scalar_push(L, ft->scalar, base + f->offset);   /* the common case */
    return;
  }
  if (textmember(ft)) {          /* text, as ctypes reads bytes/str members */
    ct_array_pushstring(L, ft, base + f->offset);
    return;
  }
  /* byte-swapped twins, pointers and views of aggregates */
  lua_getiuservalue(L, fidx, 1);
  ct_pushvalue(L, -1, base + f->offset, cdidx);
  lua_remove(L, -2);
}


/* the chain of enclosing fields of a nested initialiser, for messages
** ("field 'a.x'"); lives on the C stack */
typedef struct Path {
  const struct Path *up;
  const char *name;
} Path;

static void addpath (luaL_Buffer *b, const Path *p) {
  if (p == NULL) return;
  addpath(b, p->up);
  luaL_addstring(b, p->name);
  luaL_addchar(b, '.');
}

/* raises "TypeError: field 'up.name': <message on top>" */
static void convfail (lua_State *L, int fidx, const Path *up) {
  luaL_Buffer b;
  const char *msg = lua_tostring(L, -1);
  luaL_buffinit(L, &b);
  addpath(&b, up);
  luaL_addstring(&b, fieldname(L, fidx));
  luaL_pushresult(&b);
  ct_error(L, "TypeError", "field '%s': %s", lua_tostring(L, -1), msg);
}


static void initagg (lua_State *L, int tidx, char *p, int idx, int cdidx,
                     const Path *up);

/* Stores the value at vidx into field f (userdata at fidx) of the object at
** cdidx whose memory starts at base. `fresh`: the object is being
** initialised (a new or temporary instance): nested aggregates are then
** filled in place; otherwise a table goes through a temporary so that a
** failing assignment changes nothing. */
static void setfield (lua_State *L, int fidx, const ct_Field *f, char *base,
                      int vidx, int cdidx, int fresh, const Path *up) {
  const ct_Type *ft = f->type;
  char *p = base + f->offset;
  int ftidx, r;
  Path me;
  fidx = lua_absindex(L, fidx);
  vidx = lua_absindex(L, vidx);
  cdidx = lua_absindex(L, cdidx);
  luaL_checkstack(L, 8, NULL);
  if (f->flags & CT_F_BITS) {
    union { long double ld; uint64_t u[2]; unsigned char b[16]; } tmp;
    uint64_t v;
    if (f->flags & CT_F_UNNAMED) return;
    memset(&tmp, 0, sizeof tmp);
    lua_getiuservalue(L, fidx, 1);
    if (ct_scalar_set(L, ft->scalar, tmp.b, vidx, lua_gettop(L)) ==
        CT_CONV_FAIL)
      convfail(L, fidx, up);
    lua_pop(L, 1);
    v = loadunsigned(tmp.b, ft->size);
    if (f->bit_size < 64) v &= ((uint64_t)1 << f->bit_size) - 1;
    setbits((unsigned char *)base, f->bitpos, f->bit_size,
            (f->flags & CT_F_SWAPPED) ? !ct_hostbig() : ct_hostbig(), v);
    return;
  }
  lua_getiuservalue(L, fidx, 1);
  ftidx = lua_gettop(L);
  if (f->flags & CT_F_SWAPPED) {
    /* a byte-swapped scalar, converted aside so that a rejected value
    ** leaves the member untouched */
    union { long double ld; uint64_t u[2]; unsigned char b[16]; } tmp;
    memset(&tmp, 0, sizeof tmp);
    if (ct_scalar_set(L, ft->scalar, tmp.b, vidx, ftidx) == CT_CONV_FAIL)
      convfail(L, fidx, up);
    ct_bswap(tmp.b, ft->size);
    memcpy(p, tmp.b, ft->size);
    lua_settop(L, ftidx - 1);
    return;
  }
  if ((ISAGG(ft) || ft->kind == CT_ARRAY) && ct_isdatatable(L, vidx)) {
    me.up = up;
    me.name = fieldname(L, fidx);
    if (fresh) {
      memset(p, 0, ft->size);
      initagg(L, ftidx, p, vidx, cdidx, &me);
    }
    else {                     /* build it aside, then copy it in */
      ct_CData *tmp = ct_newcdata(L, ftidx);
      initagg(L, ftidx, (char *)ct_cdptr(tmp), vidx, lua_gettop(L), &me);
      memcpy(p, ct_cdptr(tmp), ft->size);
      ct_rebasekeeps(L, -1, ct_cdptr(tmp), ft->size, cdidx, p);
    }
    lua_settop(L, ftidx - 1);
    return;
  }
  if (ISAGG(ft) || ft->kind == CT_ARRAY) {
    ct_CData *src = lua_type(L, vidx) == LUA_TUSERDATA ?
                    ct_tocdata(L, vidx) : NULL;
    if (src != NULL && src->type == ft) {      /* the same type: a copy */
      if (ct_cdptr(src) != p) {
        memmove(p, ct_cdptr(src), ft->size);
        ct_rebasekeeps(L, vidx, ct_cdptr(src), ft->size, cdidx, p);
      }
      lua_settop(L, ftidx - 1);
      return;
    }
  }
  if (lua_type(L, vidx) == LUA_TSTRING && textmember(ft)) {
    /* as ctypes' member setters: c_char members up to and including the
    ** first NUL, c_wchar ones the text and a NUL if there is room; the rest
    ** is kept */
    ct_array_setstring(L, ft, p, vidx, ct_chararray(ft) == CT_CHAR ?
                       CT_STR_MEMBER : CT_STR_VALUE);
    lua_settop(L, ftidx - 1);
    return;
  }
  r = ct_tocvalue(L, ftidx, p, vidx);
  switch (r) {
    case CT_CONV_FAIL: convfail(L, fidx, up); break;
    case CT_CONV_KEEPARG: ct_keepvalue(L, cdidx, p, vidx); break;
    case CT_CONV_KEEPTOP: ct_keep(L, cdidx, p, -1); break;
    default:
      /* a pointer slot overwritten with a plain value drops what it kept */
      if (ct_ispointerlike(ft)) ct_keep(L, cdidx, p, 0);
      break;
  }
  lua_settop(L, ftidx - 1);
}

/* } ====================================================================== */


/* {======================================================================
** Initialisers
** ======================================================================= */

static int tooMany (lua_State *L, int tidx, lua_Integer given,
                    lua_Integer most) {
  return ct_error(L, "TypeError", "too many initializers for %s (%I given, "
                  "at most %I)", ct_typename(L, tidx), given, most);
}


/* number of fields positional initialisers fill (named ones) */
static lua_Integer countnamed (lua_State *L, int fieldsidx) {
  lua_Integer i, n = (lua_Integer)lua_rawlen(L, fieldsidx), c = 0;
  for (i = 1; i <= n; i++) {
    ct_Field *f;
    lua_rawgeti(L, fieldsidx, i);
    f = (ct_Field *)lua_touserdata(L, -1);
    if (!(f->flags & CT_F_UNNAMED)) c++;
    lua_pop(L, 1);
  }
  return c;
}


/* Positional values at first..first+n-1 fill the named fields in order.
** Returns the index in the field list of the last field filled. */
static lua_Integer initpos (lua_State *L, int tidx, char *p, int fieldsidx,
                            int first, lua_Integer n, int cdidx, int fromtab,
                            const Path *up) {
  lua_Integer i, j = 0, nf = (lua_Integer)lua_rawlen(L, fieldsidx);
  if (n > 0 && n > countnamed(L, fieldsidx))
    tooMany(L, tidx, n, countnamed(L, fieldsidx));
  for (i = 0; i < n; i++) {
    ct_Field *f;
    do {
      lua_rawgeti(L, fieldsidx, ++j);
      f = (ct_Field *)lua_touserdata(L, -1);
      if (!(f->flags & CT_F_UNNAMED)) break;
      lua_pop(L, 1);
    } while (j < nf);
    if (fromtab) lua_rawgeti(L, first, i + 1);
    else lua_pushvalue(L, first + (int)i);
    setfield(L, -2, f, p, -1, cdidx, 1, up);
    lua_pop(L, 2);
  }
  return j;
}


/* the struct/union of type tidx at p from the table at idx: the sequence
** part fills fields in order, string keys name fields */
static void inittable (lua_State *L, int tidx, char *p, int idx, int cdidx,
                       const Path *up) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx), last;
  int fieldsidx;
  luaL_checkstack(L, 10, NULL);
  lua_getiuservalue(L, tidx, CT_TUV_FIELDS);
  fieldsidx = lua_gettop(L);
  last = initpos(L, tidx, p, fieldsidx, idx, n, cdidx, 1, up);
  lua_pushnil(L);
  while (lua_next(L, idx)) {                     /* k, v */
    int isint;
    lua_Integer k = ct_tointegerx(L, -2, &isint);
    ct_Field *f;
    if (isint && k >= 1 && k <= n) {
      lua_pop(L, 1);
      continue;
    }
    if (lua_type(L, -2) != LUA_TSTRING) {
      lua_pushvalue(L, -2);
      ct_error(L, "TypeError", "%s initializer: bad key %s (field names are "
               "strings)", ct_typename(L, tidx), luaL_tolstring(L, -1, NULL));
    }
    lua_pushvalue(L, -2);
    lua_rawget(L, fieldsidx);                    /* k, v, field */
    f = ct_tofield(L, -1);
    if (f == NULL)
      ct_error(L, "AttributeError", "'%s' object has no attribute '%s'",
               ct_typename(L, tidx), lua_tostring(L, -3));
    if (last > 0) {              /* given by position already? */
      lua_Integer j;
      for (j = 1; j <= last; j++) {
        int same;
        lua_rawgeti(L, fieldsidx, j);
        same = lua_rawequal(L, -1, -2);
        lua_pop(L, 1);
        if (same)
          ct_error(L, "TypeError", "duplicate values for field '%s'",
                   lua_tostring(L, -3));
      }
    }
    setfield(L, -1, f, p, -2, cdidx, 1, up);
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
}


/* an aggregate (struct, union or array) of type tidx at p from the value at
** idx, keeping references in cdidx */
static void initagg (lua_State *L, int tidx, char *p, int idx, int cdidx,
                     const Path *up) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, tidx);
  if (t->kind == CT_ARRAY)
    ct_array_init(L, tidx, p, idx, cdidx);
  else
    inittable(L, tidx, p, idx, cdidx, up);
}


int ct_struct_init (lua_State *L, int tidx, void *p, int idx, int cdidx) {
  tidx = lua_absindex(L, tidx);
  idx = lua_absindex(L, idx);
  cdidx = lua_absindex(L, cdidx);
  if (!ct_isdatatable(L, idx)) {
    ct_pushexpected(L, tidx, idx);
    ct_error(L, "TypeError", "%s", lua_tostring(L, -1));
  }
  inittable(L, tidx, (char *)p, idx, cdidx, NULL);
  return CT_CONV_OK;
}


/* T(...): positional values, or one table (by name and/or position) */
int ct_struct_new (lua_State *L) {
  int n = lua_gettop(L) - 1, obj;
  ct_CData *cd = ct_newcdata(L, 1);
  obj = lua_gettop(L);
  if (n == 1 && ct_isdatatable(L, 2))
    inittable(L, 1, (char *)ct_cdptr(cd), 2, obj, NULL);
  else if (n > 0) {
    lua_getiuservalue(L, 1, CT_TUV_FIELDS);
    initpos(L, 1, (char *)ct_cdptr(cd), obj + 1, 2, n, obj, 0, NULL);
  }
  lua_settop(L, obj);
  return 1;
}

/* } ====================================================================== */


/* {======================================================================
** Instances: p.x, p.x = v, p:method()
** ======================================================================= */

/* pushes the body attribute `key` (at kidx) of the type at tidx or of its
** bases; returns its Lua type (LUA_TNIL: none, nothing left pushed) */
static int bodyattr (lua_State *L, int tidx, int kidx) {
  int depth = 0;
  kidx = lua_absindex(L, kidx);
  lua_pushvalue(L, tidx);
  for (;;) {                                     /* T */
    lua_getiuservalue(L, -1, CT_TUV_BODY);       /* T, body */
    if (lua_istable(L, -1)) {
      lua_pushvalue(L, kidx);
      if (lua_rawget(L, -2) != LUA_TNIL) {       /* T, body, v */
        lua_replace(L, -3);
        lua_pop(L, 1);
        return lua_type(L, -1);
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);                               /* T */
    if (lua_getiuservalue(L, -1, CT_TUV_PROTO) != LUA_TUSERDATA ||
        ++depth > 1000) {
      lua_pop(L, 2);
      return LUA_TNIL;
    }
    lua_remove(L, -2);                           /* base */
  }
}


/* (obj, key) */
int ct_struct_index (lua_State *L, ct_CData *cd) {
  if (lua_type(L, 2) == LUA_TSTRING) {           /* the hot case: p.x */
    const ct_Field *f = fmapget(cd->type->fmap, lua_tostring(L, 2));
    if (plainfield(f)) {
      ct_scalar_push(L, f->type->scalar, (char *)ct_cdptr(cd) + f->offset);
      return 1;
    }
  }
  lua_settop(L, 2);
  ct_pushcdtype(L, 1);           /* 3: T */
  if (lua_type(L, 2) == LUA_TSTRING) {
    ct_Field *f;
    lua_getiuservalue(L, 3, CT_TUV_FIELDS);      /* 4: fields */
    lua_pushvalue(L, 2);
    /* string keys of the (private) field table hold only Fields */
    f = lua_istable(L, 4) && lua_rawget(L, 4) == LUA_TUSERDATA ?
        (ct_Field *)lua_touserdata(L, 5) : NULL;  /* 5: field? */
    if (f != NULL) {
      getfield(L, 5, f, (char *)ct_cdptr(cd), 1);
      return 1;
    }
    if (bodyattr(L, 3, 2) != LUA_TNIL)
      return 1;
  }
  return ct_error(L, "AttributeError", "'%s' object has no attribute '%s'",
                  ct_typename(L, 3), luaL_tolstring(L, 2, NULL));
}


/* (obj, key, value) */
int ct_struct_newindex (lua_State *L, ct_CData *cd) {
  if (lua_type(L, 2) == LUA_TSTRING) {           /* the hot case: p.x = n */
    const ct_Field *f = fmapget(cd->type->fmap, lua_tostring(L, 2));
    if (plainfield(f) &&
        ct_fastset(L, f->type->scalar, (char *)ct_cdptr(cd) + f->offset, 3))
      return 0;
  }
  lua_settop(L, 3);
  ct_pushcdtype(L, 1);           /* 4: T */
  if (lua_type(L, 2) == LUA_TSTRING) {
    ct_Field *f;
    lua_getiuservalue(L, 4, CT_TUV_FIELDS);      /* 5: fields */
    lua_pushvalue(L, 2);
    f = lua_istable(L, 5) && lua_rawget(L, 5) == LUA_TUSERDATA ?
        (ct_Field *)lua_touserdata(L, 6) : NULL;  /* 6: field? */
    if (f != NULL) {
      setfield(L, 6, f, (char *)ct_cdptr(cd), 3, 1, 0, NULL);
      return 0;
    }
    if (bodyattr(L, 4, 2) != LUA_TNIL)
      return ct_error(L, "AttributeError", "'%s' object attribute '%s' is "
                      "read-only", ct_typename(L, 4), lua_tostring(L, 2));
  }
  return ct_error(L, "AttributeError", "'%s' object has no attribute '%s'",
                  ct_cdname(L, 1), luaL_tolstring(L, 2, NULL));
}

/* } ====================================================================== */


/* {======================================================================
** Type objects: T.field, T.method, T._fields_ = {...}
** ======================================================================= */

static int isoption (const char *k) {
  return strcmp(k, "_fields_") == 0 || strcmp(k, "_pack_") == 0 ||
         strcmp(k, "_align_") == 0 || strcmp(k, "_anonymous_") == 0 ||
         strcmp(k, "_base_") == 0;
}


/* (T, key): pushes the value and returns 1, or returns 0 */
int ct_struct_typeindex (lua_State *L) {
  const char *k;
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  k = lua_tostring(L, 2);
  if (isoption(k)) {       /* the type's own: nil when not given */
    lua_getiuservalue(L, 1, CT_TUV_BODY);
    lua_getfield(L, -1, k);
    return 1;
  }
  if (lua_getiuservalue(L, 1, CT_TUV_FIELDS) == LUA_TTABLE) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) != LUA_TNIL) return 1;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return bodyattr(L, 1, 2) != LUA_TNIL;
}


/* (T, key, value) */
int ct_struct_typenewindex (lua_State *L) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, 1);
  const char *k;
  lua_settop(L, 3);
  if (lua_type(L, 2) != LUA_TSTRING) {
    const char *got = ct_describe(L, 2);
    return ct_error(L, "AttributeError", "attribute name must be a string, "
                    "got %s", got);
  }
  k = lua_tostring(L, 2);
  if (strcmp(k, "_fields_") == 0) {
    ct_setfields(L, 1, 3);
    return 0;
  }
  if (isoption(k)) {
    if (t->flags & CT_FINAL)
      return ct_error(L, "AttributeError", "%s must be set before _fields_",
                      k);
  }
  else if (lua_getiuservalue(L, 1, CT_TUV_FIELDS) == LUA_TTABLE) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) != LUA_TNIL)
      return ct_error(L, "AttributeError", "cannot replace field '%s' of %s",
                      k, ct_typename(L, 1));
  }
  lua_settop(L, 3);
  lua_getiuservalue(L, 1, CT_TUV_BODY);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_rawset(L, -3);
  return 0;
}


/* the structure and union constructors: flags of each variant */
#define CTOR_UNION   0x01   /* a union, not a structure */
#define CTOR_BIG     0x02   /* fields in big-endian byte order */
#define CTOR_LITTLE  0x04   /* fields in little-endian byte order */

static const struct { const char *name; unsigned flags; } ctors[] = {
  {"Structure", 0},
  {"Union", CTOR_UNION},
  {"BigEndianStructure", CTOR_BIG},
  {"LittleEndianStructure", CTOR_LITTLE},
  {"BigEndianUnion", CTOR_UNION | CTOR_BIG},
  {"LittleEndianUnion", CTOR_UNION | CTOR_LITTLE},
};


/* ctypes.Structure(name[, body]) and the other variants: upvalue 1 is the
** variant's index in ctors[] */
static int struct_define (lua_State *L) {
  int v = (int)lua_tointeger(L, lua_upvalueindex(1));
  const char *ctor = ctors[v].name;
  unsigned flags = ctors[v].flags;
  int swapped = (flags & (ct_hostbig() ? CTOR_LITTLE : CTOR_BIG)) != 0;
  ct_Type *t;
  if (lua_type(L, 1) != LUA_TSTRING) {
    const char *got = ct_describe(L, 1);
    return ct_error(L, "TypeError", "%s: name must be a string, got %s",
                    ctor, got);
  }
  if (!lua_isnoneornil(L, 2) && !ct_isdatatable(L, 2)) {
    const char *got = ct_describe(L, 2);
    return ct_error(L, "TypeError", "%s: body must be a table, got %s",
                    ctor, got);
  }
  lua_settop(L, 2);
  t = ct_newtype(L, (flags & CTOR_UNION) ? CT_UNION : CT_STRUCT,
                 lua_tostring(L, 1));
  t->flags = CT_INCOMPLETE | (swapped ? CT_SWAPPED : 0);
  t->align = 1;                                  /* 3: T */
  lua_newtable(L);                               /* 4: its own body copy */
  if (lua_istable(L, 2)) {
    lua_pushnil(L);
    while (lua_next(L, 2)) {
      if (lua_type(L, -2) == LUA_TSTRING &&
          strcmp(lua_tostring(L, -2), "_fields_") == 0) {
        lua_pop(L, 1);   /* stored once the layout succeeded */
        continue;
      }
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, 4);
    }
  }
  lua_setiuservalue(L, 3, CT_TUV_BODY);
  if (lua_istable(L, 2) && lua_getfield(L, 2, "_fields_") != LUA_TNIL)
    ct_setfields(L, 3, -1);
  lua_settop(L, 3);
  return 1;
}

/* } ====================================================================== */


/* {======================================================================
** "ctypes.Field"
** ======================================================================= */

/* new Field userdata (pushed), copying `from` if given */
ct_Field *ct_newfield (lua_State *L, const ct_Field *from) {
  ct_Field *f = (ct_Field *)lua_newuserdatauv(L, sizeof(ct_Field), 2);
  if (from != NULL) *f = *from;
  else memset(f, 0, sizeof *f);
  luaL_setmetatable(L, FIELD_MT);
  return f;
}


static int field_index (lua_State *L) {
  ct_Field *f = (ct_Field *)luaL_checkudata(L, 1, FIELD_MT);
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "";
  int bits = (f->flags & CT_F_BITS) != 0;
  if (strcmp(k, "name") == 0) lua_getiuservalue(L, 1, 2);
  else if (strcmp(k, "type") == 0) lua_getiuservalue(L, 1, 1);
  else if (strcmp(k, "offset") == 0 || strcmp(k, "byte_offset") == 0)
    lua_pushinteger(L, (lua_Integer)f->offset);
  else if (strcmp(k, "size") == 0 || strcmp(k, "byte_size") == 0)
    lua_pushinteger(L, (lua_Integer)f->size);
  else if (strcmp(k, "bit_size") == 0)
    lua_pushinteger(L, bits ? (lua_Integer)f->bit_size
                            : (lua_Integer)f->size * 8);
  else if (strcmp(k, "bit_offset") == 0)
    lua_pushinteger(L, bits ? (lua_Integer)f->bit_offset : 0);
  else if (strcmp(k, "is_bitfield") == 0) lua_pushboolean(L, bits);
  else if (strcmp(k, "is_anonymous") == 0)
    lua_pushboolean(L, (f->flags & CT_F_ANON) != 0);
  else {
    lua_settop(L, 2);
    return ct_error(L, "AttributeError", "'Field' object has no attribute "
                    "'%s'", luaL_tolstring(L, 2, NULL));
  }
  return 1;
}


static int field_newindex (lua_State *L) {
  return ct_error(L, "AttributeError", "Field attributes are read-only "
                  "(setting '%s')", luaL_tolstring(L, 2, NULL));
}


static int field_tostring (lua_State *L) {
  ct_Field *f = (ct_Field *)luaL_checkudata(L, 1, FIELD_MT);
  const char *tn;
  lua_getiuservalue(L, 1, 1);
  tn = ct_typename(L, -1);
  if (f->flags & CT_F_BITS)
    lua_pushfstring(L, "<Field type=%s, ofs=%I:%I, bits=%I>", tn,
                    (lua_Integer)f->offset, (lua_Integer)f->bit_offset,
                    (lua_Integer)f->bit_size);
  else
    lua_pushfstring(L, "<Field type=%s, ofs=%I, size=%I>", tn,
                    (lua_Integer)f->offset, (lua_Integer)f->size);
  return 1;
}

/* } ====================================================================== */


void ct_open_struct (lua_State *L) {
  static const luaL_Reg meta[] = {
    {"__index", field_index},
    {"__newindex", field_newindex},
    {"__tostring", field_tostring},
    {NULL, NULL}
  };
  size_t i;
  ct_newmetatable(L, FIELD_MT, meta);
  for (i = 0; i < sizeof ctors / sizeof ctors[0]; i++) {
    lua_pushinteger(L, (lua_Integer)i);
    lua_pushcclosure(L, struct_define, 1);
    lua_setfield(L, -2, ctors[i].name);
  }
}
