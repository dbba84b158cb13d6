/*
** array.c -- arrays and pointers: indexing, contents, .value/.raw of
** character arrays, iteration, construction and initialisers.
*/
#define _POSIX_C_SOURCE 200809L  /* strnlen */
#include <stdint.h>
#include <string.h>
#include <wchar.h>

#include "ctypes.h"

/* pushes the element/pointee type of the cdata at idx; returns it */
static ct_Type *pushproto (lua_State *L, int idx) {
  ct_Type *e;
  ct_pushcdtype(L, idx);
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
    /* ipairs(a) ends here: arrays are 0-based, so say how to iterate */
    if (i < 0 || (lua_Unsigned)i >= cd->type->length) {
      if (cd->type->length == 0)
        ct_error(L, "IndexError", "invalid index %I (the array is empty)", i);
      ct_error(L, "IndexError", "invalid index %I (valid: 0 to %I; iterate "
               "with pairs(a) or for i = 0, #a - 1)", i,
               (lua_Integer)cd->type->length - 1);
    }
    return (char *)ct_cdptr(cd) + (size_t)i * e->size;
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

int ct_array_index (lua_State *L, ct_CData *cd) {
  ct_Type *e;
  int isint;
  lua_Integer i;
  /* the hot case, p[i] / a[i] of a scalar, was tried by the caller
  ** (ct_array_fastelem) */
  e = pushproto(L, 1);                                /* 3: element type */
  i = toindex(L, 2, &isint);
  if (isint) {
    void *p = elemaddr(L, cd, e, i);
    ct_pushvalue(L, 3, p, 1);
    return 1;
  }
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    if (strcmp(k, "_type_") == 0)          /* class attributes, as ctypes */
      return 1;                            /* (the element type, at 3) */
    if (strcmp(k, "_length_") == 0 && cd->type->kind == CT_ARRAY) {
      lua_pushinteger(L, (lua_Integer)cd->type->length);
      return 1;
    }
    if (cd->type->kind == CT_POINTER) {
      if (strcmp(k, "contents") == 0) {
        void *p = ct_pointervalue(cd);
        if (p == NULL)
          return ct_error(L, "ValueError", "NULL pointer access");
        ct_newview(L, 3, p, 1);
        return 1;
      }
    }
    else if (ct_chararray(cd->type) && strcmp(k, "value") == 0) {
      ct_array_pushstring(L, cd->type, ct_cdptr(cd));
      return 1;
    }
    else if (ischarlike(e, CT_CHAR) && strcmp(k, "raw") == 0) {
      lua_pushlstring(L, (const char *)ct_cdptr(cd), cd->type->length);
      return 1;
    }
  }
  return ct_error(L, "AttributeError", "'%s' object has no attribute '%s'",
                  ct_cdname(L, 1), luaL_tolstring(L, 2, NULL));
}


int ct_chararray (const ct_Type *t) {
  const ct_Type *e = t->proto;
  if (t->kind != CT_ARRAY || e->kind != CT_SIMPLE) return 0;
  return e->scalar == CT_CHAR || e->scalar == CT_WCHAR ? e->scalar : 0;
}


void ct_array_pushstring (lua_State *L, const ct_Type *t, const void *p) {
  if (t->proto->scalar == CT_WCHAR)
    ct_pushwstring(L, (const wchar_t *)p,
                   ct_wcsnlen((const wchar_t *)p, t->length));
  else
    lua_pushlstring(L, (const char *)p, strnlen((const char *)p, t->length));
}


/* A string stored into the character array of type t at p, as ctypes
** does: CT_STR_RAW (.raw) copies all its bytes; CT_STR_VALUE (.value,
** c_wchar members too) copies them and a NUL if there is room;
** CT_STR_MEMBER (c_char members) copies up to and including the first NUL.
** The rest of the array is left as it was, except under CT_STR_INIT (an
** initialiser: the text, then zeros). */
void ct_array_setstring (lua_State *L, const ct_Type *t, void *p, int idx,
                         int how) {
  size_t len;
  if (lua_type(L, idx) != LUA_TSTRING) {
    const char *got = ct_describe(L, idx);
    ct_error(L, "TypeError", "expected string, got %s", got);
  }
  if (t->proto->scalar == CT_WCHAR) {
    wchar_t *w = ct_towstring(L, idx, &len);
    if (w == NULL)
      ct_error(L, "ValueError", "string is not valid UTF-8");
    if (len > t->length)
      ct_error(L, "ValueError", "string too long (%I characters, at most %I)",
               (lua_Integer)len, (lua_Integer)t->length);
    memcpy(p, w, (len < t->length ? len + 1 : len) * sizeof(wchar_t));
    lua_pop(L, 1);
    if (how == CT_STR_INIT && len < t->length)
      memset((wchar_t *)p + len, 0, (t->length - len) * sizeof(wchar_t));
  }
  else {
    const char *s = lua_tolstring(L, idx, &len);
    if (how == CT_STR_MEMBER) len = strlen(s);
    if (len > t->length)
      ct_error(L, "ValueError", "string too long (%I bytes, at most %I)",
               (lua_Integer)len, (lua_Integer)t->length);
    memcpy(p, s, len);
    if (how == CT_STR_INIT)
      memset((char *)p + len, 0, t->length - len);
    else if (how != CT_STR_RAW && len < t->length)
      ((char *)p)[len] = '\0';
  }
}


int ct_array_newindex (lua_State *L, ct_CData *cd) {
  ct_Type *e;
  int isint;
  lua_Integer i;
  /* the hot case, p[i] = n / a[i] = n of a number scalar, was tried by the
  ** caller (ct_array_fastelem) */
  e = pushproto(L, 1);                                /* 4: element type */
  i = toindex(L, 2, &isint);
  if (isint) {
    void *p = elemaddr(L, cd, e, i);
    ct_setvalue(L, 1, 4, p, 3, NULL);
    return 0;
  }
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    if (strcmp(k, "_type_") == 0 ||
        (strcmp(k, "_length_") == 0 && cd->type->kind == CT_ARRAY))
      return ct_error(L, "AttributeError", "'%s' object attribute '%s' is "
                      "read-only", ct_cdname(L, 1), k);
    if (cd->type->kind == CT_POINTER) {
      if (strcmp(k, "contents") == 0) {
        ct_CData *v = ct_tocdata(L, 3);
        if (v == NULL || v->type != e) {
          const char *got = ct_describe(L, 3);
          return ct_error(L, "TypeError", "expected %s instance, got %s",
                          ct_typename(L, 4), got);
        }
        ct_storeptr(ct_cdptr(cd), ct_cdptr(v));
        ct_keep(L, 1, ct_cdptr(cd), 3);
        return 0;
      }
    }
    else if (ischarlike(e, CT_CHAR)) {
      if (strcmp(k, "value") == 0) {
        ct_array_setstring(L, cd->type, ct_cdptr(cd), 3, CT_STR_VALUE);
        return 0;
      }
      if (strcmp(k, "raw") == 0) {
        ct_array_setstring(L, cd->type, ct_cdptr(cd), 3, CT_STR_RAW);
        return 0;
      }
    }
    else if (ct_chararray(cd->type) == CT_WCHAR && strcmp(k, "value") == 0) {
      ct_array_setstring(L, cd->type, ct_cdptr(cd), 3, CT_STR_VALUE);
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
  if (lua_type(L, idx) == LUA_TSTRING && ct_chararray(t))
    ct_array_setstring(L, t, p, idx, CT_STR_INIT);
  else {
    if (!ct_isdatatable(L, idx)) {
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
  if (!ct_isdatatable(L, idx)) return 0;
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
      ct_setvalue(L, obj, 1, ct_cdptr(cd), 2, NULL);
    return 1;
  }
  if (n == 1 && wholeinit(L, 2)) {
    ct_array_init(L, 1, ct_cdptr(cd), 2, obj);
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
      ct_setvalue(L, obj, obj + 1, (char *)ct_cdptr(cd) + (size_t)i * e->size,
                  2 + i, NULL);
    lua_settop(L, obj);
  }
  return 1;
}

/* } ====================================================================== */
