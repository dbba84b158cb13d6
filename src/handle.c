/*
** handle.c -- the C half of three things the Lua layer builds
** (lua/ctypes/handle.lua, lua/ctypes/cdef.lua):
**   _gc_view(obj)        a view of obj's memory that keeps obj alive, for
**                        ctypes.gc;
**   _gc_hooks            a table (weak keys) { [view] = function(view) }
**                        consulted by the instances' __close, so that a
**                        `<close>` variable holding a ctypes.gc object runs
**                        its finalizer (the CData metatable is shared, and
**                        Lua code cannot reach it);
**   _libfunc(lib, name)  a new, uncached library function object for the
**                        symbol (cdef's variadic functions: the library's
**                        cached lib.name stays untouched) and whether the
**                        library has use_errno.
*/
#include "ctypes.h"


/* _gc_view(obj) -> a view of obj (same type, same memory) whose base is
** obj */
static int handle_gc_view (lua_State *L) {
  ct_CData *cd = ct_tocdata(L, 1);
  if (cd == NULL) {
    const char *got = ct_describe(L, 1);
    return ct_error(L, "TypeError", "gc: expected a ctypes instance, got %s",
                    got);
  }
  if (cd->type->kind == CT_FUNC)
    return ct_error(L, "TypeError", "gc: function objects cannot have "
                    "finalizers (got %s instance)", ct_cdname(L, 1));
  ct_pushcdtype(L, 1);
  ct_newview(L, -1, ct_cdptr(cd), 1);
  return 1;
}


/* the instances' __close: upvalue 1 the hooks, upvalue 2 the previous
** __close. A hook runs first (it never raises: it reports), then the
** previous metamethod. */
static int handle_close (lua_State *L) {
  lua_settop(L, 2);
  lua_pushvalue(L, 1);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) {
    lua_pushvalue(L, 1);
    lua_call(L, 1, 0);
  }
  else lua_pop(L, 1);
  if (lua_isnil(L, lua_upvalueindex(2))) return 0;
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_insert(L, 1);
  lua_call(L, 2, 0);
  return 0;
}


/* _libfunc(lib, name) -> a new function object of lib's symbol (default
** restype, no argtypes), use_errno of lib */
static int handle_libfunc (lua_State *L) {
  void *addr;
  const char *name;
  unsigned flags;
  lua_settop(L, 2);
  if (lua_type(L, 2) != LUA_TSTRING) {
    const char *got = ct_describe(L, 2);
    return ct_error(L, "TypeError", "_libfunc: name must be a string, got %s",
                    got);
  }
  name = lua_tostring(L, 2);
  /* checks lib and symbol; use_errno from the library itself (lib[name]
  ** may be anything the user assigned) */
  addr = ct_lib_sym(L, 1, name, "_libfunc", &flags);
  ct_func_new(L, addr, 1, flags);
  lua_pushboolean(L, (flags & CT_SIG_USE_ERRNO) != 0);
  return 2;
}


void ct_open_handle (lua_State *L) {
  /* M on top */
  lua_pushcfunction(L, handle_gc_view);
  lua_setfield(L, -2, "_gc_view");
  lua_pushcfunction(L, handle_libfunc);
  lua_setfield(L, -2, "_libfunc");
  /* hooks: weak keys, so a hook never keeps its view alive */
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);                     /* M, hooks */
  luaL_getmetatable(L, "ctypes.CData");        /* M, hooks, mt */
  if (lua_istable(L, -1)) {
    lua_pushvalue(L, -2);
    lua_getfield(L, -2, "__close");            /* M, hooks, mt, hooks, old */
    lua_pushcclosure(L, handle_close, 2);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  lua_setfield(L, -2, "_gc_hooks");
}
