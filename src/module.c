/*
** module.c -- luaopen_ctypes_core: the module table, then each file's part
** in dependency order (type objects before the scalars that use them).
*/
#include "ctypes.h"

CT_EXPORT int luaopen_ctypes_core (lua_State *L);

int luaopen_ctypes_core (lua_State *L) {
  lua_newtable(L);
  ct_open_type(L);
  ct_open_scalar(L);
  ct_open_cdata(L);
  ct_open_array(L);
  ct_open_struct(L);
  ct_open_library(L);
  ct_open_call(L);
  ct_open_callback(L);
  ct_open_handle(L);
  return 1;
}
