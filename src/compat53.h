/*
** compat53.h -- the Lua 5.4 API that lua-ctypes uses, for Lua 5.3.
** Included by ctypes.h after <lauxlib.h>; empty for Lua 5.4.
**
** A 5.3 userdata has one user value: the n user values of 5.4 live in a
** table held there (created by lua_newuserdatauv when n > 0). As in 5.4,
** reading a value the userdata does not have pushes nil and answers
** LUA_TNONE, and setting one answers 0.
*/
#ifndef CTYPES_COMPAT53_H
#define CTYPES_COMPAT53_H

#if LUA_VERSION_NUM == 503

static inline void *ct53_newuserdatauv (lua_State *L, size_t size, int nuv) {
  void *p = lua_newuserdata(L, size);
  if (nuv > 0) {
    lua_createtable(L, nuv, 0);
    lua_pushinteger(L, nuv);
    lua_setfield(L, -2, "n");     /* how many user values it has */
    lua_setuservalue(L, -2);
  }
  return p;
}

/* pushes the user-value table of the userdata at idx (absolute) and
** answers whether it has user value n; when not, nothing is left pushed */
static inline int ct53_uvtable (lua_State *L, int idx, int n) {
  lua_Integer count;
  if (lua_type(L, idx) != LUA_TUSERDATA) return 0;
  if (lua_getuservalue(L, idx) != LUA_TTABLE) { lua_pop(L, 1); return 0; }
  lua_getfield(L, -1, "n");
  count = lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (n < 1 || n > count) { lua_pop(L, 1); return 0; }
  return 1;
}

static inline int ct53_getiuservalue (lua_State *L, int idx, int n) {
  int t;
  idx = lua_absindex(L, idx);
  if (!ct53_uvtable(L, idx, n)) { lua_pushnil(L); return LUA_TNONE; }
  t = lua_rawgeti(L, -1, n);
  lua_remove(L, -2);
  return t;
}

static inline int ct53_setiuservalue (lua_State *L, int idx, int n) {
  idx = lua_absindex(L, idx);
  if (!ct53_uvtable(L, idx, n)) { lua_pop(L, 1); return 0; }
  lua_insert(L, -2);               /* table, value */
  lua_rawseti(L, -2, n);
  lua_pop(L, 1);
  return 1;
}

/* "<tname> expected, got <type>" for argument arg, as 5.4 words it */
static inline int ct53_typeerror (lua_State *L, int arg, const char *tname) {
  const char *got;
  if (luaL_getmetafield(L, arg, "__name") == LUA_TSTRING)
    got = lua_tostring(L, -1);
  else if (lua_type(L, arg) == LUA_TLIGHTUSERDATA)
    got = "light userdata";
  else
    got = luaL_typename(L, arg);
  return luaL_argerror(L, arg,
                       lua_pushfstring(L, "%s expected, got %s", tname, got));
}

#define lua_newuserdatauv(L, size, nuv)  ct53_newuserdatauv(L, size, nuv)
#define lua_getiuservalue(L, idx, n)     ct53_getiuservalue(L, idx, n)
#define lua_setiuservalue(L, idx, n)     ct53_setiuservalue(L, idx, n)
#define luaL_typeerror(L, arg, tname)    ct53_typeerror(L, arg, tname)

#endif

#endif
