/*
** error.c -- the one way errors are made: "<ctypes exception>: <message>".
** Messages carry no position prefix: they come from C, and the Lua layer
** adds the user's position where it raises errors itself.
*/
#include <stdarg.h>
#include <stdio.h>

#include "ctypes.h"


int ct_error (lua_State *L, const char *exc, const char *fmt, ...) {
  va_list ap;
  luaL_checkstack(L, 4, NULL);
  lua_pushstring(L, exc);
  lua_pushliteral(L, ": ");
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 3);
  return lua_error(L);
}


int ct_argerror (lua_State *L, int argn, const char *fmt, ...) {
  va_list ap;
  luaL_checkstack(L, 4, NULL);
  lua_pushfstring(L, "ArgumentError: argument %d: ", argn);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  return lua_error(L);
}


const char *ct_describe (lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx))
        return lua_pushliteral(L, "integer");
      return lua_pushliteral(L, "number");
    case LUA_TUSERDATA:
      if (ct_tocdata(L, idx) != NULL) {
        const char *s;
        ct_pushcdtype(L, idx);
        s = lua_pushfstring(L, "%s instance", ct_typename(L, -1));
        lua_remove(L, -2);
        return s;
      }
      if (ct_totype(L, idx) != NULL)
        return lua_pushfstring(L, "type %s", ct_typename(L, idx));
      /* the other ctypes objects by their ctypes names, other modules'
      ** userdata by their metatable's __name (a FILE* for io.stdout) */
      if (ct_describebyref(L, idx) || ct_describefield(L, idx))
        return lua_tostring(L, -1);
      switch (luaL_getmetafield(L, idx, "__name")) {
        case LUA_TSTRING: return lua_tostring(L, -1);
        case LUA_TNIL: break;                  /* nothing pushed */
        default: lua_pop(L, 1); break;
      }
      break;
    case LUA_TTABLE:               /* a library is a table */
      if (ct_describelib(L, idx)) return lua_tostring(L, -1);
      break;
    case LUA_TLIGHTUSERDATA:
      return lua_pushliteral(L, "light userdata");
    default: break;
  }
  return lua_pushstring(L, luaL_typename(L, idx));
}


int ct_pushexpected (lua_State *L, int tidx, int idx) {
  tidx = lua_absindex(L, tidx);
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TNUMBER && !lua_isinteger(L, idx))
    lua_pushfstring(L, "expected %s, got number %f", ct_typename(L, tidx),
                    lua_tonumber(L, idx));
  else {
    ct_describe(L, idx);
    lua_pushfstring(L, "expected %s, got %s", ct_typename(L, tidx),
                    lua_tostring(L, -1));
    lua_remove(L, -2);
  }
  return CT_CONV_FAIL;
}
