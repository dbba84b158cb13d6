/*
** stubs.c -- TEMPORARY weak stand-ins for parts still being written, so the
** core builds and loads meanwhile. Each real definition overrides its stub;
** this file goes away when every part has landed.
*/
#include "ctypes.h"

#define STUB(name) \
  __attribute__((weak)) int name (lua_State *L) { \
    return ct_error(L, "NotImplementedError", #name); }
#define STUBV(name) \
  __attribute__((weak)) void name (lua_State *L) { (void)L; }

STUB(ct_struct_index)
STUB(ct_struct_newindex)
STUB(ct_struct_new)
STUB(ct_struct_typenewindex)
STUB(ct_func_index)
STUB(ct_func_newindex)
STUB(ct_func_call)
STUB(ct_functype_new)
STUB(ct_callback_close)
STUB(ct_callback_raise)
STUBV(ct_open_struct)
STUBV(ct_open_library)
STUBV(ct_open_call)
STUBV(ct_open_callback)

__attribute__((weak)) int ct_struct_typeindex (lua_State *L) {
  (void)L; return 0;
}
__attribute__((weak)) int ct_struct_init (lua_State *L, int tidx, void *p,
                                          int idx, int cdidx) {
  (void)tidx; (void)p; (void)idx; (void)cdidx;
  return ct_error(L, "NotImplementedError", "ct_struct_init");
}
__attribute__((weak)) _Thread_local lua_State *ct_active_L;
__attribute__((weak)) _Thread_local int ct_cb_pending;
__attribute__((weak)) ct_CData *ct_func_new (lua_State *L, void *addr,
                                             int ownidx, unsigned flags) {
  (void)addr; (void)ownidx; (void)flags;
  ct_error(L, "NotImplementedError", "ct_func_new");
  return NULL;
}
__attribute__((weak)) ct_Sig *ct_newsig (lua_State *L, int retidx,
                                         int argsidx, unsigned flags) {
  (void)retidx; (void)argsidx; (void)flags;
  ct_error(L, "NotImplementedError", "ct_newsig");
  return NULL;
}
__attribute__((weak)) ffi_type *ct_ffitype (lua_State *L, int tidx) {
  (void)tidx;
  ct_error(L, "NotImplementedError", "ct_ffitype");
  return NULL;
}
__attribute__((weak)) int ct_callback_new (lua_State *L, int tidx, int fidx) {
  (void)tidx; (void)fidx;
  return ct_error(L, "NotImplementedError", "ct_callback_new");
}
