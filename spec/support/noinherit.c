/*
** Preloaded after the sanitizer runtimes by `make asan`: once lua5.4 has
** started (the runtimes are already initialised by then), drop LD_PRELOAD
** from the environment so that programs the specs start (sh, gcc, ldd,
** luarocks) are not sanitized themselves and do not report their own leaks
** as ours.  spec/helper.lua puts the runtimes back for Lua children that load
** the ASan build (CTYPES_ASAN_PRELOAD).
*/
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

__attribute__((constructor))
static void noinherit (void) {
  unsetenv("LD_PRELOAD");
}
