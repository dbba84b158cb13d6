/*
** array.c -- arrays and pointers (indexing, contents, .value/.raw of
** character arrays, iteration), byref() references, and the memory
** functions: sizeof, alignment, addressof, pointer, POINTER, cast,
** is_null, memmove, memset, string_at, wstring_at, resize.
*/
#define _POSIX_C_SOURCE 200809L  /* strnlen */
#include <stdint.h>
#include <string.h>
#include <wchar.h>

#include "ctypes.h"

#define BYREF_MT "ctypes.CArgObject"

typedef struct ct_ByRef {
  void *ptr;     /* address of the referenced object plus offset */
  size_t avail;  /* bytes of the object from there on (0 if the offset
                    lies outside it): what memory functions may touch */
} ct_ByRef;


/* pushes the element/pointee type of the cdata at idx; returns it */
static ct_Type *pushproto (lua_State *L, int idx) {
  ct_Type *e;
  lua_getiuservalue(L, idx, CT_UV_TYPE);
  lua_getiuservalue(L, -1, CT_TUV_PROTO);
  lua_remove(L, -2);
  e = ct_totype(L, -1);
  return e;
}


static int ischarlike (const ct_Type *e, int code) {
  return e != NULL && e->kind == CT_SIMPLE && e->scalar == code;
}


/* an integer index at idx, or -1 with *isint = 0 */
static lua_Integer toindex (lua_State *L, int idx, int *isint) {
  lua_Integer i = ct_tointegerx(L, idx, isint);
  if (!*isint && lua_type(L, idx) == LUA_TNUMBER)
    ct_error(L, "TypeError", "indices must be integers, got number %f",
             lua_tonumber(L, idx));
  return i;
}


/* address of element i of the array/pointer cdata at 1 (type at top) */
static void *elemaddr (lua_State *L, ct_CData *cd, ct_Type *e, lua_Integer i) {
  if (cd->type->kind == CT_ARRAY) {
    if (i < 0 || (lua_Unsigned)i >= cd->type->length)
      ct_error(L, "IndexError", "invalid index %I (valid: 0 to %I)", i,
               (lua_Integer)cd->type->length - 1);
    return (char *)cd->ptr + (size_t)i * e->size;
  }
  else {
    char *base = (char *)ct_pointervalue(cd);
    if (base == NULL)
      ct_error(L, "ValueError", "NULL pointer access");
    if (e->flags & CT_INCOMPLETE)
      ct_error(L, "TypeError", "%s is an incomplete type (_fields_ not set)",
               ct_typename(L, -1));
    return base + i * (ptrdiff_t)e->size;
  }
}


/* {======================================================================
** Indexing
** ======================================================================= */

int ct_array_index (lua_State *L) {
  ct_CData *cd = (ct_CData *)lua_touserdata(L, 1);
  ct_Type *e = cd->type->proto;
  int isint;
  lua_Integer i;
  /* the hot case, p[i] / a[i] of a scalar, touches no stack slot */
  if (lua_isinteger(L, 2) && e->kind == CT_SIMPLE && !(e->flags & CT_SWAPPED)) {
    char *base;
    i = lua_tointeger(L, 2);
    if (cd->type->kind == CT_ARRAY) {
      if (i >= 0 && (lua_Unsigned)i < cd->type->length) {
        ct_scalar_push(L, e->scalar, (char *)cd->ptr + (size_t)i * e->size);
        return 1;
      }
    }
    else if ((base = (char *)ct_pointervalue(cd)) != NULL) {
      ct_scalar_push(L, e->scalar, base + i * (ptrdiff_t)e->size);
      return 1;
    }
  }
  e = pushproto(L, 1);                                /* 3: element type */
  i = toindex(L, 2, &isint);
  if (isint) {
    void *p = elemaddr(L, cd, e, i);
    ct_pushvalue(L, 3, p, 1);
    return 1;
  }
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    if (cd->type->kind == CT_POINTER) {
      if (strcmp(k, "contents") == 0) {
        void *p = ct_pointervalue(cd);
        if (p == NULL)
          return ct_error(L, "ValueError", "NULL pointer access");
        ct_newview(L, 3, p, 1);
        return 1;
      }
    }
    else if (ischarlike(e, CT_CHAR)) {
      if (strcmp(k, "value") == 0) {
        lua_pushlstring(L, (const char *)cd->ptr,
                        strnlen((const char *)cd->ptr, cd->type->length));
        return 1;
      }
      if (strcmp(k, "raw") == 0) {
        lua_pushlstring(L, (const char *)cd->ptr, cd->type->length);
        return 1;
      }
    }
    else if (ischarlike(e, CT_WCHAR) && strcmp(k, "value") == 0) {
      ct_pushwstring(L, (const wchar_t *)cd->ptr,
                     ct_wcsnlen((const wchar_t *)cd->ptr, cd->type->length));
      return 1;
    }
  }
  return ct_error(L, "AttributeError", "'%s' object has no attribute '%s'",
                  ct_cdname(L, 1), luaL_tolstring(L, 2, NULL));
}


/* .value/.raw of character arrays: strings that must fit */
static void setchars (lua_State *L, ct_CData *cd, int israw) {
  size_t len;
  const char *s;
  if (lua_type(L, 3) != LUA_TSTRING) {
    const char *got = ct_describe(L, 3);
    ct_error(L, "TypeError", "expected string, got %s", got);
  }
  s = lua_tolstring(L, 3, &len);
  if (len > cd->type->length)
    ct_error(L, "ValueError", "string too long (%I bytes, at most %I)",
             (lua_Integer)len, (lua_Integer)cd->type->length);
  memcpy(cd->ptr, s, len);
  if (!israw && len < cd->type->length)
    ((char *)cd->ptr)[len] = '\0';
}


int ct_array_newindex (lua_State *L) {
  ct_CData *cd = (ct_CData *)lua_touserdata(L, 1);
  ct_Type *e = pushproto(L, 1);                       /* 4: element type */
  int isint;
  lua_Integer i = toindex(L, 2, &isint);
  if (isint) {
    void *p = elemaddr(L, cd, e, i);
    ct_setvalue(L, 1, 4, p, 3, NULL);
    return 0;
  }
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    if (cd->type->kind == CT_POINTER) {
      if (strcmp(k, "contents") == 0) {
        ct_CData *v = ct_tocdata(L, 3);
        if (v == NULL || v->type != e) {
          const char *got = ct_describe(L, 3);
          return ct_error(L, "TypeError", "expected %s instance, got %s",
                          ct_typename(L, 4), got);
        }
        ct_storeptr(cd->ptr, v->ptr);
        ct_keep(L, 1, cd->ptr, 3);
        return 0;
      }
    }
    else if (ischarlike(e, CT_CHAR)) {
      if (strcmp(k, "value") == 0) { setchars(L, cd, 0); return 0; }
      if (strcmp(k, "raw") == 0) { setchars(L, cd, 1); return 0; }
    }
    else if (ischarlike(e, CT_WCHAR) && strcmp(k, "value") == 0) {
      lua_getiuservalue(L, 1, CT_UV_TYPE);           /* 5: array type */
      ct_array_init(L, 5, cd->ptr, 3, 1);
      return 0;
    }
  }
  return ct_error(L, "AttributeError", "'%s' object has no attribute '%s'",
                  ct_cdname(L, 1), luaL_tolstring(L, 2, NULL));
}


/* the iterator pairs(a) returns; Lua code can call it with anything */
static int array_next (lua_State *L) {
  ct_CData *cd = ct_tocdata(L, 1);
  int isint;
  lua_Integer i;
  if (cd == NULL || cd->type->kind != CT_ARRAY) {
    const char *got = ct_describe(L, 1);
    return ct_error(L, "TypeError", "array iterator: expected an array "
                    "instance, got %s", got);
  }
  i = ct_tointegerx(L, 2, &isint);
  if (!isint) {
    const char *got = ct_describe(L, 2);
    return ct_error(L, "TypeError", "array iterator: index must be an "
                    "integer, got %s", got);
  }
  /* the next index after i, without overflow at math.maxinteger */
  if (i < -1 || i == LUA_MAXINTEGER ||
      (lua_Unsigned)(i + 1) >= cd->type->length)
    return 0;
  i++;
  lua_pushinteger(L, i);
  lua_pushinteger(L, i);
  lua_gettable(L, 1);
  return 2;
}


int ct_array_pairs (lua_State *L) {
  lua_pushcfunction(L, array_next);
  lua_pushvalue(L, 1);
  lua_pushinteger(L, -1);
  return 3;
}

/* } ====================================================================== */


/* {======================================================================
** Construction and initialisers
** ======================================================================= */

/* Initialise the array of type tidx at p from the table or string at idx;
** cdidx is the object whose root keeps stored references alive. */
int ct_array_init (lua_State *L, int tidx, void *p, int idx, int cdidx) {
  ct_Type *t, *e;
  lua_Integer n, i;
  tidx = lua_absindex(L, tidx);
  idx = lua_absindex(L, idx);
  cdidx = lua_absindex(L, cdidx);
  luaL_checkstack(L, 8, NULL);     /* recursive for arrays of aggregates */
  t = (ct_Type *)lua_touserdata(L, tidx);
  lua_getiuservalue(L, tidx, CT_TUV_PROTO);            /* element type */
  e = (ct_Type *)lua_touserdata(L, -1);
  if (lua_type(L, idx) == LUA_TSTRING && ischarlike(e, CT_CHAR)) {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (len > t->length)
      ct_error(L, "ValueError", "string too long (%I bytes, at most %I)",
               (lua_Integer)len, (lua_Integer)t->length);
    memcpy(p, s, len);
    memset((char *)p + len, 0, t->length - len);
  }
  else if (lua_type(L, idx) == LUA_TSTRING && ischarlike(e, CT_WCHAR)) {
    size_t len;
    wchar_t *w = ct_towstring(L, idx, &len);
    if (w == NULL)
      ct_error(L, "ValueError", "string is not valid UTF-8");
    if (len > t->length)
      ct_error(L, "ValueError", "string too long (%I characters, at most %I)",
               (lua_Integer)len, (lua_Integer)t->length);
    memcpy(p, w, len * sizeof(wchar_t));
    memset((char *)p + len * sizeof(wchar_t), 0,
           (t->length - len) * sizeof(wchar_t));
    lua_pop(L, 1);
  }
  else {
    if (!lua_istable(L, idx)) {
      ct_pushexpected(L, tidx, idx);
      ct_error(L, "TypeError", "%s", lua_tostring(L, -1));
    }
    n = (lua_Integer)lua_rawlen(L, idx);
    if ((lua_Unsigned)n > t->length)
      ct_error(L, "IndexError", "too many initializers for %s (%I given)",
               ct_typename(L, tidx), n);
    for (i = 0; i < n; i++) {
      lua_rawgeti(L, idx, i + 1);
      ct_setvalue(L, cdidx, -2, (char *)p + (size_t)i * e->size, -1, NULL);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return CT_CONV_OK;
}


/* Is the single argument at idx an initialiser for the whole array? A
** string, or a table that is a sequence ({} included); a table with only
** named keys initialises element 0 (an array of structures). */
static int wholeinit (lua_State *L, int idx) {
  int empty;
  if (lua_type(L, idx) == LUA_TSTRING) return 1;
  if (!lua_istable(L, idx)) return 0;
  if (lua_rawlen(L, idx) > 0) return 1;
  lua_pushnil(L);
  empty = !lua_next(L, idx);
  lua_settop(L, lua_gettop(L) - (empty ? 0 : 2));
  return empty;
}


/* T(...) for arrays and pointers */
int ct_array_new (lua_State *L) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, 1);
  int n = lua_gettop(L) - 1;
  ct_CData *cd = ct_newcdata(L, 1);                   /* n + 2: the object */
  int obj = lua_gettop(L);
  if (t->kind == CT_POINTER) {
    if (n > 1)
      return ct_error(L, "TypeError", "%s() takes at most 1 argument (%d "
                      "given)", ct_typename(L, 1), n);
    if (n == 1)
      ct_setvalue(L, obj, 1, cd->ptr, 2, NULL);
    return 1;
  }
  if (n == 1 && wholeinit(L, 2)) {
    ct_array_init(L, 1, cd->ptr, 2, obj);
    return 1;
  }
  lua_settop(L, obj);
  if ((lua_Unsigned)n > t->length)
    return ct_error(L, "IndexError", "too many initializers for %s (%d given)",
                    ct_typename(L, 1), n);
  {
    ct_Type *e;
    int i;
    lua_getiuservalue(L, 1, CT_TUV_PROTO);            /* obj + 1 */
    e = (ct_Type *)lua_touserdata(L, -1);
    for (i = 0; i < n; i++)
      ct_setvalue(L, obj, obj + 1, (char *)cd->ptr + (size_t)i * e->size,
                  2 + i, NULL);
    lua_settop(L, obj);
  }
  return 1;
}

/* } ====================================================================== */


/* {======================================================================
** byref()
** ======================================================================= */

void *ct_tobyref (lua_State *L, int idx) {
  ct_ByRef *r = (ct_ByRef *)luaL_testudata(L, idx, BYREF_MT);
  return r != NULL ? r->ptr : NULL;
}


static int ct_byref (lua_State *L) {
  ct_CData *cd = ct_tocdata(L, 1);
  lua_Integer off = 0;
  ct_ByRef *r;
  if (cd == NULL) {
    const char *got = ct_describe(L, 1);
    return ct_error(L, "TypeError", "byref() argument must be a ctypes "
                    "instance, not %s", got);
  }
  if (!lua_isnoneornil(L, 2)) {
    int isnum;
    off = ct_tointegerx(L, 2, &isnum);
    if (!isnum) {
      const char *got = ct_describe(L, 2);
      return ct_error(L, "TypeError", "byref() offset must be an integer, "
                      "got %s", got);
    }
  }
  r = (ct_ByRef *)lua_newuserdatauv(L, sizeof(ct_ByRef), 1);
  /* any offset is allowed, as in ctypes: integer arithmetic, no pointer
  ** overflow */
  r->ptr = (void *)((uintptr_t)cd->ptr + (uintptr_t)off);
  r->avail = (off >= 0 && (lua_Unsigned)off <= cd->size)
             ? cd->size - (size_t)off : 0;
  luaL_setmetatable(L, BYREF_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  return 1;
}


static int byref_index (lua_State *L) {
  if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "_obj") == 0) {
    lua_getiuservalue(L, 1, 1);
    return 1;
  }
  return ct_error(L, "AttributeError", "'CArgObject' object has no attribute "
                  "'%s'", luaL_tolstring(L, 2, NULL));
}


static int byref_tostring (lua_State *L) {
  ct_ByRef *r = (ct_ByRef *)lua_touserdata(L, 1);
  lua_pushfstring(L, "<cparam 'P' (%p)>", r->ptr);
  return 1;
}

/* } ====================================================================== */


/* {======================================================================
** The memory functions
** ======================================================================= */

static int ct_sizeof (lua_State *L) {
  ct_CData *cd;
  if (ct_totype(L, 1) != NULL) {
    ct_checkcomplete(L, 1);
    lua_pushinteger(L, (lua_Integer)((ct_Type *)lua_touserdata(L, 1))->size);
    return 1;
  }
  if ((cd = ct_tocdata(L, 1)) != NULL) {
    lua_pushinteger(L, (lua_Integer)cd->size);
    return 1;
  }
  {
    const char *got = ct_describe(L, 1);
    return ct_error(L, "TypeError", "sizeof: expected a ctypes type or "
                    "instance, got %s", got);
  }
}


static int ct_alignment (lua_State *L) {
  ct_Type *t = ct_totype(L, 1);
  ct_CData *cd;
  if (t == NULL && (cd = ct_tocdata(L, 1)) != NULL)
    t = cd->type;
  if (t == NULL) {
    const char *got = ct_describe(L, 1);
    return ct_error(L, "TypeError", "alignment: expected a ctypes type or "
                    "instance, got %s", got);
  }
  if (t->flags & CT_INCOMPLETE)
    ct_checkcomplete(L, 1);
  lua_pushinteger(L, (lua_Integer)t->align);
  return 1;
}


static ct_CData *checkinstance (lua_State *L, int idx, const char *fname) {
  ct_CData *cd = ct_tocdata(L, idx);
  if (cd == NULL) {
    const char *got = ct_describe(L, idx);
    ct_error(L, "TypeError", "%s: argument %d must be a ctypes instance, "
             "got %s", fname, idx, got);
  }
  return cd;
}


static int ct_addressof (lua_State *L) {
  ct_CData *cd = checkinstance(L, 1, "addressof");
  lua_pushinteger(L, (lua_Integer)(intptr_t)cd->ptr);
  return 1;
}


static int ct_POINTER (lua_State *L) {
  ct_checktype(L, 1);
  ct_pointertype(L, 1);
  return 1;
}


static int ct_pointer (lua_State *L) {
  ct_CData *cd = checkinstance(L, 1, "pointer");
  ct_CData *p;
  lua_getiuservalue(L, 1, CT_UV_TYPE);
  ct_pointertype(L, -1);
  p = ct_newcdata(L, -1);
  ct_storeptr(p->ptr, cd->ptr);
  ct_keep(L, -1, p->ptr, 1);
  return 1;
}


static int ct_cast (lua_State *L) {
  ct_Type *t = ct_checktype(L, 2);
  void *a;
  ct_CData *r;
  if (!ct_ispointerlike(t)) {
    return ct_error(L, "TypeError", "cast: argument 2 must be a pointer type, "
                    "got %s", ct_typename(L, 2));
  }
  if (t->kind == CT_FUNC)
    ct_checkcallback(L, 2, 1, "cast");
  if (!ct_toaddress(L, 1, &a)) {
    const char *got = ct_describe(L, 1);
    return ct_error(L, "TypeError", "cast: argument 1 must be a pointer, an "
                    "address or a ctypes instance, got %s", got);
  }
  r = ct_newcdata(L, 2);
  ct_storeptr(r->ptr, a);
  if (lua_type(L, 1) == LUA_TUSERDATA || lua_type(L, 1) == LUA_TSTRING)
    ct_keep(L, -1, r->ptr, 1);
  return 1;
}


static int ct_is_null (lua_State *L) {
  ct_CData *cd;
  if (lua_isnil(L, 1)) {
    lua_pushboolean(L, 1);
    return 1;
  }
  cd = ct_tocdata(L, 1);
  if (cd == NULL || !ct_ispointerlike(cd->type)) {
    const char *got = ct_describe(L, 1);
    return ct_error(L, "TypeError", "is_null: expected a pointer instance, "
                    "got %s", got);
  }
  lua_pushboolean(L, ct_pointervalue(cd) == NULL);
  return 1;
}


/* An address for a memory function, with the number of bytes known to be
** behind it (SIZE_MAX when unknown). Strings are read-only. */
static void *memarg (lua_State *L, int idx, const char *fname, int writable,
                     size_t *avail) {
  void *a;
  ct_CData *cd = ct_tocdata(L, idx);
  *avail = SIZE_MAX;
  if (lua_type(L, idx) == LUA_TSTRING) {
    if (writable)
      ct_error(L, "TypeError", "%s: argument %d must be writable memory, "
               "got string", fname, idx);
    *avail = lua_rawlen(L, idx) + 1;
  }
  if (!ct_toaddress(L, idx, &a)) {
    const char *got = ct_describe(L, idx);
    ct_error(L, "TypeError", "%s: argument %d must be a pointer, an address "
             "or a ctypes instance, got %s", fname, idx, got);
  }
  if (cd != NULL && !ct_ispointerlike(cd->type))
    *avail = cd->size;
  else if (cd == NULL && lua_type(L, idx) == LUA_TUSERDATA) {
    /* byref(obj[, offset]): what is left of obj */
    ct_ByRef *r = (ct_ByRef *)luaL_testudata(L, idx, BYREF_MT);
    if (r != NULL) *avail = r->avail;
  }
  return a;
}


static size_t checksize (lua_State *L, int idx, const char *fname) {
  int isnum;
  lua_Integer n = ct_tointegerx(L, idx, &isnum);
  if (!isnum) {
    const char *got = ct_describe(L, idx);
    ct_error(L, "TypeError", "%s: argument %d must be an integer, got %s",
             fname, idx, got);
  }
  if (n < 0)
    ct_error(L, "ValueError", "%s: size must be >= 0, got %I", fname, n);
  return (size_t)n;
}


static void checkfits (lua_State *L, const char *fname, int idx, void *a,
                       size_t avail, size_t n) {
  if (n > 0 && a == NULL)
    ct_error(L, "ValueError", "NULL pointer access");
  if (n > avail)
    ct_error(L, "ValueError", "%s: %I bytes do not fit in argument %d (%I "
             "bytes)", fname, (lua_Integer)n, idx, (lua_Integer)avail);
}


static int ct_memmove (lua_State *L) {
  size_t dn, sn, n;
  void *d = memarg(L, 1, "memmove", 1, &dn);
  void *s = memarg(L, 2, "memmove", 0, &sn);
  n = checksize(L, 3, "memmove");
  checkfits(L, "memmove", 1, d, dn, n);
  checkfits(L, "memmove", 2, s, sn, n);
  if (n > 0) memmove(d, s, n);
  lua_pushinteger(L, (lua_Integer)(intptr_t)d);
  return 1;
}


static int ct_memset (lua_State *L) {
  size_t dn, n;
  void *d = memarg(L, 1, "memset", 1, &dn);
  int isnum;
  lua_Integer c = ct_tointegerx(L, 2, &isnum);
  if (!isnum) {
    const char *got = ct_describe(L, 2);
    return ct_error(L, "TypeError", "memset: argument 2 must be an integer, "
                    "got %s", got);
  }
  n = checksize(L, 3, "memset");
  checkfits(L, "memset", 1, d, dn, n);
  if (n > 0) memset(d, (int)(unsigned char)c, n);
  lua_pushinteger(L, (lua_Integer)(intptr_t)d);
  return 1;
}


static int ct_string_at (lua_State *L) {
  size_t avail, n;
  const char *a = (const char *)memarg(L, 1, "string_at", 0, &avail);
  if (a == NULL)
    return ct_error(L, "ValueError", "NULL pointer access");
  if (lua_isnoneornil(L, 2) || (lua_isinteger(L, 2) && lua_tointeger(L, 2) == -1))
    n = avail == SIZE_MAX ? strlen(a) : (size_t)strnlen(a, avail);
  else {
    n = checksize(L, 2, "string_at");
    checkfits(L, "string_at", 1, (void *)a, avail, n);
  }
  lua_pushlstring(L, a, n);
  return 1;
}


static int ct_wstring_at (lua_State *L) {
  size_t avail, n;
  const wchar_t *a = (const wchar_t *)memarg(L, 1, "wstring_at", 0, &avail);
  if (a == NULL)
    return ct_error(L, "ValueError", "NULL pointer access");
  if (lua_type(L, 1) == LUA_TSTRING)
    return ct_error(L, "TypeError", "wstring_at: argument 1 must be a pointer, "
                    "an address or a ctypes instance, got string");
  if (avail != SIZE_MAX) avail /= sizeof(wchar_t);
  if (lua_isnoneornil(L, 2) || (lua_isinteger(L, 2) && lua_tointeger(L, 2) == -1))
    n = ct_wcsnlen(a, avail);
  else {
    n = checksize(L, 2, "wstring_at");
    if (n > avail)
      return ct_error(L, "ValueError", "wstring_at: %I characters do not fit "
                      "in argument 1 (%I characters)", (lua_Integer)n,
                      (lua_Integer)avail);
  }
  ct_pushwstring(L, a, n);
  return 1;
}


static int ct_resize (lua_State *L) {
  ct_CData *cd = checkinstance(L, 1, "resize");
  size_t n = checksize(L, 2, "resize");
  size_t align = cd->type->align > 0 ? cd->type->align : 1;
  uintptr_t a;
  void *buf, *old;
  size_t copied;
  if (!(cd->flags & CT_CD_OWNS))
    return ct_error(L, "ValueError", "resize: cannot resize a view; only "
                    "objects that own their memory can be resized");
  if (n < cd->type->size)
    return ct_error(L, "ValueError", "minimum size is %I",
                    (lua_Integer)cd->type->size);
  if (n <= cd->size && !(cd->flags & CT_CD_RESIZED)) {
    cd->size = n;   /* shrinking within the payload */
    return 0;
  }
  lua_settop(L, 2);   /* extra arguments would shift the buffer's index */
  old = cd->ptr;
  copied = cd->size < n ? cd->size : n;
  buf = ct_newudata(L, n + align - 1, 0, n);             /* 3: new buffer */
  a = ((uintptr_t)buf + align - 1) & ~(uintptr_t)(align - 1);
  memset((void *)a, 0, n);
  memcpy((void *)a, old, copied);
  if (lua_getiuservalue(L, 1, CT_UV_KEEP) != LUA_TTABLE) {   /* 4: keep */
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, CT_UV_KEEP);
  }
  /* the old memory stays alive with the object (views may point into it),
  ** keyed by the buffer itself: integer keys are the addresses of pointer
  ** slots, and the old buffer's address is its first slot's (keeping the
  ** buffer there dropped what that slot kept) */
  if (cd->flags & CT_CD_RESIZED) {
    lua_getfield(L, 4, "resized");
    lua_pushboolean(L, 1);
    lua_rawset(L, 4);
  }
  lua_pushvalue(L, 3);
  lua_setfield(L, 4, "resized");
  cd->ptr = (void *)a;
  cd->size = n;
  cd->flags |= CT_CD_RESIZED;
  /* the copied pointer slots keep what the old ones kept (a view of the
  ** old memory may overwrite those) */
  ct_rebasekeeps(L, 1, old, copied, 1, (void *)a);
  return 0;
}

/* } ====================================================================== */


void ct_open_array (lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"sizeof", ct_sizeof},
    {"alignment", ct_alignment},
    {"addressof", ct_addressof},
    {"byref", ct_byref},
    {"pointer", ct_pointer},
    {"POINTER", ct_POINTER},
    {"cast", ct_cast},
    {"is_null", ct_is_null},
    {"memmove", ct_memmove},
    {"memset", ct_memset},
    {"string_at", ct_string_at},
    {"wstring_at", ct_wstring_at},
    {"resize", ct_resize},
    {NULL, NULL}
  };
  static const luaL_Reg byref_meta[] = {
    {"__index", byref_index},
    {"__tostring", byref_tostring},
    {NULL, NULL}
  };
  luaL_setfuncs(L, funcs, 0);
  ct_newmetatable(L, BYREF_MT, byref_meta);
}
