/*
** type.c -- type objects: creation, names, the POINTER(T) and T * n
** caches, the byte-swapped twins, and the metamethods of "ctypes.Type".
*/
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "ctypes.h"

#define TYPE_MT "ctypes.Type"

/* registry keys: addresses of statics */
static const char typemethods_key = 'm';   /* name -> function(T, ...) */
static const char scalartypes_key = 's';   /* code -> scalar type object */
static const char type_mt_key = 't';       /* the metatable, by address */
/* { [native scalar type] = its byte-swapped twin } */
static const char twins_key = 'w';


ct_Type *ct_newtype (lua_State *L, ct_Kind kind, const char *name) {
  ct_Type *t = (ct_Type *)lua_newuserdatauv(L, sizeof(ct_Type), CT_TUV_N);
  memset(t, 0, sizeof *t);
  t->kind = kind;
  t->scalar = -1;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &type_mt_key);
  lua_setmetatable(L, -2);
  lua_pushstring(L, name);
  lua_setiuservalue(L, -2, CT_TUV_NAME);
  return t;
}


ct_Type *ct_totype (lua_State *L, int idx) {
  return (ct_Type *)ct_testudata(L, idx, &type_mt_key);
}


ct_Type *ct_checktype (lua_State *L, int idx) {
  ct_Type *t = ct_totype(L, idx);
  if (t == NULL) {
    const char *got = ct_describe(L, idx);
    ct_error(L, "TypeError", "argument %d must be a ctypes type, got %s", idx,
             got);
  }
  return t;
}


const char *ct_typename (lua_State *L, int tidx) {
  const char *s;
  lua_getiuservalue(L, tidx, CT_TUV_NAME);
  s = lua_tostring(L, -1);
  lua_pop(L, 1);  /* the name stays referenced by the type */
  return s != NULL ? s : "?";
}


void ct_checkcompletefor (lua_State *L, int tidx, const char *fname) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, tidx);
  if (t->flags & CT_INCOMPLETE)
    ct_error(L, "TypeError", "%s%s%s is an incomplete type (_fields_ not set)",
             fname != NULL ? fname : "", fname != NULL ? ": " : "",
             ct_typename(L, tidx));
}


void ct_checkcomplete (lua_State *L, int tidx) {
  ct_checkcompletefor(L, tidx, NULL);
}


int ct_ispointerlike (const ct_Type *t) {
  switch (t->kind) {
    case CT_POINTER: case CT_FUNC: return 1;
    case CT_SIMPLE:
      return t->scalar == CT_CHAR_P || t->scalar == CT_WCHAR_P ||
             t->scalar == CT_VOID_P;
    default: return 0;
  }
}


/* pushes the cache table of the type at tidx, creating it on first use */
static void getcache (lua_State *L, int tidx) {
  if (lua_getiuservalue(L, tidx, CT_TUV_CACHE) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, tidx, CT_TUV_CACHE);
  }
}


void ct_pointertype (lua_State *L, int tidx) {
  ct_Type *pt;
  if (lua_getiuservalue(L, tidx, CT_TUV_POINTER) != LUA_TNIL) return;
  lua_pop(L, 1);
  tidx = lua_absindex(L, tidx);
  pt = ct_newtype(L, CT_POINTER, lua_pushfstring(L, "LP_%s",
                                                 ct_typename(L, tidx)));
  lua_remove(L, -2);                          /* P */
  pt->size = sizeof(void *);
  pt->align = alignof(void *);
  pt->ffi = &ffi_type_pointer;
  pt->proto = (ct_Type *)lua_touserdata(L, tidx);
  lua_pushvalue(L, tidx);
  lua_setiuservalue(L, -2, CT_TUV_PROTO);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, tidx, CT_TUV_POINTER);
}


void ct_arraytype (lua_State *L, int tidx, lua_Integer n) {
  ct_Type *et, *at;
  tidx = lua_absindex(L, tidx);
  et = (ct_Type *)lua_touserdata(L, tidx);
  if (n < 0)
    ct_error(L, "ValueError", "array length must be >= 0, not %I", n);
  ct_checkcomplete(L, tidx);
  if (et->size != 0 && (lua_Unsigned)n > SIZE_MAX / 2 / et->size)
    ct_error(L, "OverflowError", "array too large");
  if (et->depth >= CT_MAXDEPTH)
    ct_error(L, "ValueError", "array type nested too deeply (more than %d "
             "levels of arrays and structures)", CT_MAXDEPTH);
  getcache(L, tidx);
  if (lua_rawgeti(L, -1, n) != LUA_TNIL) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  at = ct_newtype(L, CT_ARRAY, lua_pushfstring(L, "%s_Array_%I",
                                               ct_typename(L, tidx), n));
  lua_remove(L, -2);                          /* cache, A */
  at->depth = et->depth + 1;
  at->length = (size_t)n;
  at->size = et->size * (size_t)n;
  at->align = et->align;
  at->proto = et;
  lua_pushvalue(L, tidx);
  lua_setiuservalue(L, -2, CT_TUV_PROTO);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, n);
  lua_remove(L, -2);
}


/* {======================================================================
** Byte-swapped twins (c_int_be on this little-endian host), as ctypes'
** __ctype_be__: the type a field gets inside a swapped struct.
** ======================================================================= */

/* pushes the other-endian version of the type at tidx or raises an error
** naming field `name` */
void ct_otherendian (lua_State *L, int tidx, const char *name) {
  ct_Type *t;
  tidx = lua_absindex(L, tidx);
  t = (ct_Type *)lua_touserdata(L, tidx);
  luaL_checkstack(L, 6, NULL);              /* recursive for arrays */
  switch (t->kind) {
    case CT_STRUCT: case CT_UNION:
      lua_pushvalue(L, tidx);   /* kept as it is, as ctypes does */
      return;
    case CT_ARRAY: {
      lua_getiuservalue(L, tidx, CT_TUV_PROTO);
      ct_otherendian(L, -1, name);
      ct_arraytype(L, -1, (lua_Integer)t->length);
      lua_replace(L, -3);
      lua_pop(L, 1);
      return;
    }
    case CT_SIMPLE:
      if (t->size == 1 || (t->flags & CT_SWAPPED)) {
        lua_pushvalue(L, tidx);
        return;
      }
      if (t->scalar != CT_CHAR_P && t->scalar != CT_WCHAR_P &&
          t->scalar != CT_VOID_P && t->scalar != CT_LONGDOUBLE) {
        ct_Type *w;
        lua_rawgetp(L, LUA_REGISTRYINDEX, &twins_key);
        lua_pushvalue(L, tidx);
        if (lua_rawget(L, -2) != LUA_TNIL) {
          lua_remove(L, -2);
          return;
        }
        lua_pop(L, 1);
        w = ct_newtype(L, CT_SIMPLE, lua_pushfstring(L, "%s%s",
                       ct_typename(L, tidx), ct_hostbig() ? "_le" : "_be"));
        lua_remove(L, -2);
        w->scalar = t->scalar;
        w->size = t->size;
        w->align = t->align;
        w->ffi = t->ffi;
        w->flags = CT_SWAPPED;
        ct_anchortype(L, -1);                 /* as the twins table */
        lua_pushvalue(L, tidx);
        lua_pushvalue(L, -2);
        lua_rawset(L, -4);                    /* twins[T] = W */
        lua_remove(L, -2);
        return;
      }
      break;
    default: break;
  }
  ct_error(L, "TypeError", "field '%s': This type does not support other "
           "endian: %s", name, ct_typename(L, tidx));
}

/* } ====================================================================== */


void ct_pushscalartype (lua_State *L, int code) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &scalartypes_key);
  lua_rawgeti(L, -1, code);
  lua_remove(L, -2);
}


/* scalar.c registers each scalar type here as it makes it */
void ct_anchortype (lua_State *L, int tidx) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, tidx);
  lua_pushvalue(L, tidx);
  /* an integer key: instances find their type there (ct_pushcdtype) with
  ** the cheapest lookup of the registry */
  t->anchor = luaL_ref(L, LUA_REGISTRYINDEX);
  t->flags |= CT_ANCHORED;
}


void ct_registerscalar (lua_State *L, int code, int tidx) {
  tidx = lua_absindex(L, tidx);
  ct_anchortype(L, tidx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &scalartypes_key);
  lua_pushvalue(L, tidx);
  lua_rawseti(L, -2, code);
  lua_pop(L, 1);
}


void ct_newmetatable (lua_State *L, const char *name, const luaL_Reg *funcs) {
  int n = 0;
  if (luaL_getmetatable(L, name) != LUA_TNIL)
    luaL_error(L, "metatable '%s' exists already", name);
  lua_pop(L, 1);
  while (funcs[n].name != NULL) n++;
  /* luaL_newmetatable's table, made with room for four times its keys and
  ** the metamethods first: it never grows, so nothing is moved after it is
  ** placed, and the metamethods the VM looks up on every access (listed
  ** first: __index, __newindex, __call) rarely share a node's chain (one
  ** lookup step more per access when they do, as the string hash seed
  ** decides) */
  lua_createtable(L, 0, 4 * (n + 2));
  luaL_setfuncs(L, funcs, 0);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, name);
  /* getmetatable(obj) gives the name, not the table: the metamethods trust
  ** their first argument (checking it would cost the hot paths), so Lua
  ** code must not be able to call them with anything else */
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
}


void ct_markmetatable (lua_State *L, int idx, const void *key) {
  idx = lua_absindex(L, idx);
  lua_pushlightuserdata(L, (void *)key);
  lua_rawseti(L, idx, 1);
  lua_pushvalue(L, idx);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}


void ct_settypemethod (lua_State *L, const char *name, lua_CFunction f) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &typemethods_key);
  lua_pushcfunction(L, f);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}


/* {======================================================================
** Metamethods of type objects
** ======================================================================= */

/* T(...): upvalue 1 is the "ctypes.CData" metatable, which the scalar
** constructor gives its object without a registry lookup (the closure is
** made by ct_type_setcdatamt once that metatable exists) */
static int type_call (lua_State *L) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, 1);
  switch (t->kind) {
    case CT_SIMPLE: return ct_simple_new(L);
    case CT_POINTER: case CT_ARRAY: return ct_array_new(L);
    case CT_STRUCT: case CT_UNION: return ct_struct_new(L);
    case CT_FUNC: return ct_functype_new(L);
  }
  return 0;
}


/* A type method called as T.m(...) or T:m(...): the bound closure has T as
** upvalue 2 and the method as upvalue 1; a leading T argument is dropped. */
static int type_boundmethod (lua_State *L) {
  if (lua_rawequal(L, 1, lua_upvalueindex(2)))
    lua_remove(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_insert(L, 2);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}


static const char *const scalar_codes[CT_NSCALARS] = {
  "?", "c", "u", "b", "B", "h", "H", "i", "I", "l", "L", "q", "Q",
  "f", "d", "g", "z", "Z", "P"
};


static int type_index (lua_State *L) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, 1);
  if ((t->kind == CT_STRUCT || t->kind == CT_UNION) && ct_struct_typeindex(L))
    return 1;
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &typemethods_key);
    if (lua_getfield(L, -1, k) == LUA_TFUNCTION) {   /* methods, m */
      getcache(L, 1);                                /* methods, m, cache */
      lua_pushvalue(L, 2);
      if (lua_rawget(L, -2) == LUA_TNIL) {            /* bind it once */
        lua_pop(L, 1);
        lua_pushvalue(L, -2);
        lua_pushvalue(L, 1);
        lua_pushcclosure(L, type_boundmethod, 2);
        lua_pushvalue(L, 2);
        lua_pushvalue(L, -2);
        lua_rawset(L, -4);
      }
      return 1;
    }
    lua_pop(L, 2);
    if (strcmp(k, "_type_") == 0) {
      if (t->kind == CT_SIMPLE) {
        lua_pushstring(L, scalar_codes[t->scalar]);
        return 1;
      }
      if (t->kind == CT_POINTER || t->kind == CT_ARRAY) {
        lua_getiuservalue(L, 1, CT_TUV_PROTO);
        return 1;
      }
    }
    else if (strcmp(k, "_length_") == 0 && t->kind == CT_ARRAY) {
      lua_pushinteger(L, (lua_Integer)t->length);
      return 1;
    }
    else if (strcmp(k, "__name") == 0 || strcmp(k, "__index") == 0) {
      /* luaL_tolstring and friends probe these on metatables only */
      return 0;
    }
  }
  lua_pushvalue(L, 2);
  return ct_error(L, "AttributeError", "type %s has no attribute '%s'",
                  ct_typename(L, 1), luaL_tolstring(L, -1, NULL));
}


static int type_newindex (lua_State *L) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, 1);
  if (t->kind == CT_STRUCT || t->kind == CT_UNION)
    return ct_struct_typenewindex(L);
  return ct_error(L, "AttributeError", "cannot set attribute '%s' of type %s",
                  luaL_tolstring(L, 2, NULL), ct_typename(L, 1));
}


static int type_mul (lua_State *L) {
  int tidx = ct_totype(L, 1) != NULL ? 1 : 2;
  int nidx = 3 - tidx;
  int isnum;
  lua_Integer n = ct_tointegerx(L, nidx, &isnum);
  if (!isnum) {
    const char *got = ct_describe(L, nidx);
    return ct_error(L, "TypeError", "array length must be an integer, got %s",
                    got);
  }
  ct_arraytype(L, tidx, n);
  return 1;
}


static int type_tostring (lua_State *L) {
  lua_getiuservalue(L, 1, CT_TUV_NAME);
  return 1;
}


/* } ====================================================================== */


void ct_type_setcdatamt (lua_State *L, int mtidx) {
  mtidx = lua_absindex(L, mtidx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &type_mt_key);
  lua_pushvalue(L, mtidx);
  lua_pushcclosure(L, type_call, 1);
  lua_setfield(L, -2, "__call");
  lua_pop(L, 1);
}


void ct_open_type (lua_State *L) {
  static const luaL_Reg meta[] = {
    {"__call", type_call},
    {"__index", type_index},
    {"__newindex", type_newindex},
    {"__mul", type_mul},
    {"__tostring", type_tostring},
    {NULL, NULL}
  };
  ct_newmetatable(L, TYPE_MT, meta);
  luaL_getmetatable(L, TYPE_MT);
  ct_markmetatable(L, -1, &type_mt_key);
  lua_pop(L, 1);
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &typemethods_key);
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &scalartypes_key);
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &twins_key);
}
