/*
** module.c -- luaopen_ctypes_core and the module-level functions on types
** and instances: sizeof, alignment, addressof, byref (and its
** "ctypes.CArgObject" references), pointer, POINTER, cast, is_null.
** The memory functions are in memory.c.
*/
#include <stdint.h>
#include <string.h>

#include "ctypes.h"

#define BYREF_MT "ctypes.CArgObject"

/* its metatable's mark (ct_testudata); byref() has it as upvalue 1 */
static const char byref_mt_key = 'b';

typedef struct ct_ByRef {
  void *ptr;     /* address of the referenced object plus offset */
  size_t avail;  /* bytes of the object from there on (0 if the offset
                    lies outside it): what memory functions may touch */
} ct_ByRef;


/* {======================================================================
** byref()
** ======================================================================= */

void *ct_tobyref (lua_State *L, int idx) {
  ct_ByRef *r = (ct_ByRef *)ct_testudata(L, idx, &byref_mt_key);
  return r != NULL ? r->ptr : NULL;
}


void *ct_tobyrefsized (lua_State *L, int idx, size_t *avail) {
  ct_ByRef *r = (ct_ByRef *)ct_testudata(L, idx, &byref_mt_key);
  if (r == NULL) return NULL;
  *avail = r->avail;
  return r->ptr;
}


int ct_describebyref (lua_State *L, int idx) {
  ct_ByRef *r = (ct_ByRef *)ct_testudata(L, idx, &byref_mt_key);
  ct_CData *cd;
  if (r == NULL) return 0;
  lua_getiuservalue(L, idx, 1);                  /* the referenced object */
  cd = ct_tocdata(L, -1);
  if (cd != NULL && r->ptr != ct_cdptr(cd))
    lua_pushfstring(L, "byref(%s, %I)", ct_cdname(L, -1),
                    (lua_Integer)((uintptr_t)r->ptr - (uintptr_t)ct_cdptr(cd)));
  else
    lua_pushfstring(L, "byref(%s)", cd != NULL ? ct_cdname(L, -1) : "?");
  lua_remove(L, -2);
  return 1;
}


static int ct_byref (lua_State *L) {
  ct_CData *cd = ct_tocdata(L, 1);
  lua_Integer off = 0;
  ct_ByRef *r;
  if (cd == NULL) {
    const char *got = ct_describe(L, 1);
    return ct_error(L, "TypeError", "byref: argument 1 must be a ctypes "
                    "instance, got %s", got);
  }
  if (!lua_isnoneornil(L, 2)) {
    int isnum;
    off = ct_tointegerx(L, 2, &isnum);
    if (!isnum) {
      const char *got = ct_describe(L, 2);
      return ct_error(L, "TypeError", "byref: argument 2 must be an integer, "
                      "got %s", got);
    }
  }
  r = (ct_ByRef *)lua_newuserdatauv(L, sizeof(ct_ByRef), 1);
  /* any offset is allowed, as in ctypes: integer arithmetic, no pointer
  ** overflow */
  r->ptr = (void *)((uintptr_t)ct_cdptr(cd) + (uintptr_t)off);
  r->avail = (off >= 0 && (lua_Unsigned)off <= ct_cdsize(cd))
             ? ct_cdsize(cd) - (size_t)off : 0;
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setmetatable(L, -2);
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
** Types and instances
** ======================================================================= */

static int ct_sizeof (lua_State *L) {
  ct_CData *cd;
  if (ct_totype(L, 1) != NULL) {
    ct_checkcompletefor(L, 1, "sizeof");
    lua_pushinteger(L, (lua_Integer)((ct_Type *)lua_touserdata(L, 1))->size);
    return 1;
  }
  if ((cd = ct_tocdata(L, 1)) != NULL) {
    lua_pushinteger(L, (lua_Integer)ct_cdsize(cd));
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
    ct_checkcompletefor(L, 1, "alignment");
  lua_pushinteger(L, (lua_Integer)t->align);
  return 1;
}


static int ct_addressof (lua_State *L) {
  ct_CData *cd = ct_checkinstance(L, 1, "addressof");
  lua_pushinteger(L, (lua_Integer)(intptr_t)ct_cdptr(cd));
  return 1;
}


static int ct_POINTER (lua_State *L) {
  if (ct_totype(L, 1) == NULL) {
    const char *got = ct_describe(L, 1);
    return ct_error(L, "TypeError", "POINTER: expected a ctypes type, got %s",
                    got);
  }
  ct_pointertype(L, 1);
  return 1;
}


static int ct_pointer (lua_State *L) {
  ct_CData *cd = ct_checkinstance(L, 1, "pointer");
  ct_CData *p;
  ct_pushcdtype(L, 1);
  ct_pointertype(L, -1);
  p = ct_newcdata(L, -1);
  ct_storeptr(ct_cdptr(p), ct_cdptr(cd));
  ct_keepnew(L, 1);
  return 1;
}


static int ct_cast (lua_State *L) {
  ct_Type *t = ct_totype(L, 2);
  void *a;
  ct_CData *r;
  if (t == NULL || !ct_ispointerlike(t)) {
    const char *got = t != NULL ? ct_typename(L, 2) : ct_describe(L, 2);
    return ct_error(L, "TypeError", "cast: argument 2 must be a pointer type, "
                    "got %s", got);
  }
  if (t->kind == CT_FUNC)
    ct_checkcallback(L, 2, 1, "cast");
  if (!ct_toaddress(L, 1, &a)) {
    const char *got = ct_describe(L, 1);
    return ct_error(L, "TypeError", "cast: argument 1 must be a pointer, an "
                    "address or a ctypes instance, got %s", got);
  }
  r = ct_newcdata(L, 2);
  ct_storeptr(ct_cdptr(r), a);
  if (lua_type(L, 1) == LUA_TUSERDATA || lua_type(L, 1) == LUA_TSTRING)
    ct_keep(L, -1, ct_cdptr(r), 1);
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


/* } ====================================================================== */


CT_EXPORT int luaopen_ctypes_core (lua_State *L);

/* the module table, then each file's part in dependency order (type
** objects before the scalars that use them) */
int luaopen_ctypes_core (lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"sizeof", ct_sizeof},
    {"alignment", ct_alignment},
    {"addressof", ct_addressof},
    {"pointer", ct_pointer},
    {"POINTER", ct_POINTER},
    {"cast", ct_cast},
    {"is_null", ct_is_null},
    {NULL, NULL}
  };
  static const luaL_Reg byref_meta[] = {
    {"__index", byref_index},
    {"__tostring", byref_tostring},
    {NULL, NULL}
  };
  lua_newtable(L);
  ct_open_type(L);
  ct_open_scalar(L);
  ct_open_cdata(L);
  luaL_setfuncs(L, funcs, 0);
  ct_newmetatable(L, BYREF_MT, byref_meta);
  luaL_getmetatable(L, BYREF_MT);
  ct_markmetatable(L, -1, &byref_mt_key);
  lua_pushcclosure(L, ct_byref, 1);
  lua_setfield(L, -2, "byref");
  ct_open_memory(L);
  ct_open_struct(L);
  ct_open_library(L);
  ct_open_call(L);
  ct_open_callback(L);
  ct_open_handle(L);
  return 1;
}
