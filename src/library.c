/*
** library.c -- shared libraries: CDLL (dlopen/dlsym/dlclose), the
** per-library cache of function objects, T.in_dll for global variables and
** the RTLD_* constants.
**
** A library is a userdata with a metatable of its own: a copy of
** "ctypes.Library" (marked under libmt_key) whose __index is the library's
** symbol cache, so that lib.f for a function already made is one table
** lookup by the Lua VM, no metamethod call; the cache's own __index
** (lib_miss, the library as upvalue) makes the others.
**   uservalue 1  its name (string), or nil for the process itself
**   uservalue 2  symbol cache { [name] = function object } (emptied when
**                the library is closed or finalized)
**   uservalue 3  keep-alive table shared by every in_dll view (created
**                lazily): what is stored into a global variable lives as
**                long as the library, not only as long as one view of it
*/
#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "ctypes.h"

#define LIB_MT "ctypes.Library"
#define DETECTOR_MT "ctypes.LibraryDetector"

/* Lib.flags, besides CT_SIG_USE_ERRNO (given to its function objects) */
#define LIB_CLOSED 0x100   /* __close called: no more lookups */

typedef struct Lib {
  void *handle;     /* dlopen handle; NULL until opened and after __gc */
  unsigned flags;
} Lib;

enum { LIB_UV_NAME = 1, LIB_UV_SYMS, LIB_UV_KEEP, LIB_NUV = LIB_UV_KEEP };

/* key marking a library's metatable */
static const char libmt_key = 'l';
/* registry: the newest "closing detector" (see lib_detector) */
static const char detector_key = 'd';
/* registry: true once lua_close has started finalizing */
static const char closing_key = 'c';


/* {======================================================================
** Helpers
** ======================================================================= */

/* pushes the name used in messages: the name given to CDLL, or CDLL(nil) */
static const char *libname (lua_State *L, int idx) {
  if (lua_getiuservalue(L, idx, LIB_UV_NAME) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushliteral(L, "CDLL(nil)");
  }
  return lua_tostring(L, -1);
}


/* the library at idx, or NULL */
static Lib *tolib (lua_State *L, int idx) {
  Lib *lib = (Lib *)lua_touserdata(L, idx);
  if (lib != NULL && lua_getmetatable(L, idx)) {
    int is = lua_rawgetp(L, -1, &libmt_key) == LUA_TBOOLEAN;
    lua_pop(L, 2);
    if (is) return lib;
  }
  return NULL;
}


int ct_describelib (lua_State *L, int idx) {
  if (tolib(L, idx) == NULL) return 0;
  if (lua_getiuservalue(L, idx, LIB_UV_NAME) == LUA_TSTRING) {
    lua_pushfstring(L, "CDLL '%s'", lua_tostring(L, -1));
    lua_remove(L, -2);
  }
  else {
    lua_pop(L, 1);
    lua_pushliteral(L, "CDLL(nil)");
  }
  return 1;
}


/* the library at idx, open; errors name the function (what) */
static Lib *checklib (lua_State *L, int idx, const char *what) {
  Lib *lib = tolib(L, idx);
  if (lib == NULL) {
    const char *got = ct_describe(L, idx);
    ct_error(L, "TypeError", "%s: expected a library (CDLL), got %s",
             what, got);
  }
  /* a finalized library can come back through another object's __gc */
  if ((lib->flags & LIB_CLOSED) || lib->handle == NULL)
    ct_error(L, "ValueError", "%s: library is closed", libname(L, idx));
  return lib;
}


/* the symbol name at idx: a string without embedded zeros */
static const char *checksymname (lua_State *L, int idx, const char *prefix) {
  size_t len;
  const char *s;
  if (lua_type(L, idx) != LUA_TSTRING) {
    const char *got = ct_describe(L, idx);
    ct_error(L, "TypeError", "%ssymbol name must be a string, got %s",
             prefix, got);
  }
  s = lua_tolstring(L, idx, &len);
  if (strlen(s) != len)
    ct_error(L, "ValueError", "%sembedded zero byte in symbol name", prefix);
  return s;
}


/* dlsym with the error ctypes raises (AttributeError for functions,
** ValueError for in_dll). A symbol whose address is NULL is as good as
** missing: a function object or view of NULL could only crash. */
static void *libsym (lua_State *L, int libidx, Lib *lib, const char *name,
                     const char *exc) {
  void *addr = dlsym(lib->handle, name);
  if (addr == NULL) {
    dlerror();   /* consume the loader's message: ours names the library
                    as the user gave it, not its resolved path */
    ct_error(L, exc, "%s: undefined symbol: %s", libname(L, libidx), name);
  }
  return addr;
}


void *ct_lib_sym (lua_State *L, int idx, const char *name, const char *what) {
  Lib *lib = checklib(L, idx, what);
  return libsym(L, idx, lib, name, "AttributeError");
}

/* } ====================================================================== */


/* {======================================================================
** CDLL(name | nil [, mode | {mode=, use_errno=}])
** ======================================================================= */

/* Finalizers run newest first when lua_close finalizes everything. Each
** CDLL therefore makes a fresh detector, newer than every library, and
** keeps the newest in the registry: a detector finalized while it is still
** the registered one can only be lua_close at work, and it marks the state
** as closing before any library's __gc runs. Older detectors are garbage
** and finalize silently. */
static int lib_detector (lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &detector_key);
  if (lua_rawequal(L, 1, -1)) {
    lua_pushboolean(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &closing_key);
  }
  return 0;
}


static void newdetector (lua_State *L) {
  lua_newuserdatauv(L, 1, 0);
  luaL_setmetatable(L, DETECTOR_MT);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &detector_key);
}


static int getmode (lua_State *L, int idx, const char *what) {
  int isnum;
  lua_Integer m = ct_tointegerx(L, idx, &isnum);
  if (!isnum || m < INT_MIN || m > INT_MAX) {
    const char *got = ct_describe(L, idx);
    ct_error(L, "TypeError", "CDLL: %s must be an integer, got %s", what, got);
  }
  return (int)m;
}


/* options table at idx -> *mode, *flags; unknown keys are errors (a typo
** such as use_ernno must not pass silently) */
static void getoptions (lua_State *L, int idx, int *mode, unsigned *flags) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {                    /* key, value */
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
    if (strcmp(k, "mode") == 0)
      *mode = getmode(L, -1, "option 'mode'");
    else if (strcmp(k, "use_errno") == 0) {
      if (!lua_isboolean(L, -1)) {
        const char *got = ct_describe(L, -1);
        ct_error(L, "TypeError", "CDLL: option 'use_errno' must be a "
                 "boolean, got %s", got);
      }
      if (lua_toboolean(L, -1)) *flags |= CT_SIG_USE_ERRNO;
    }
    else {
      lua_pushvalue(L, -2);
      ct_error(L, "TypeError", "CDLL: unknown option '%s'",
               luaL_tolstring(L, -1, NULL));
    }
    lua_pop(L, 1);
  }
}


static int lib_index (lua_State *L);

/* a miss in the symbol cache (cache, key): lib_index with the library */
static int lib_miss (lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_replace(L, 1);
  return lib_index(L);
}


/* gives the new library at top its metatable and symbol cache */
static void setlibmt (lua_State *L) {
  lua_createtable(L, 0, 8);                      /* lib, mt */
  luaL_getmetatable(L, LIB_MT);                  /* lib, mt, template */
  lua_pushnil(L);
  while (lua_next(L, -2)) {                      /* ..., template, k, v */
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -5);
  }
  lua_pop(L, 1);                                 /* lib, mt */
  lua_pushboolean(L, 1);
  lua_rawsetp(L, -2, &libmt_key);
  lua_newtable(L);                               /* lib, mt, cache */
  lua_createtable(L, 0, 1);                      /* lib, mt, cache, cmt */
  lua_pushvalue(L, -4);
  lua_pushcclosure(L, lib_miss, 1);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);                       /* lib, mt, cache */
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, -4, LIB_UV_SYMS);
  lua_setfield(L, -2, "__index");                /* lib, mt */
  lua_setmetatable(L, -2);                       /* lib */
}


/* empties the symbol cache of the library at idx (closed or finalized:
** no function is found there any more) */
static void clearsyms (lua_State *L, int idx) {
  if (lua_getiuservalue(L, idx, LIB_UV_SYMS) == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {                    /* cache, k, v */
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, -4);                         /* an existing field: allowed */
    }
  }
  lua_pop(L, 1);
}


static int lib_CDLL (lua_State *L) {
  const char *name = NULL;
  int mode = RTLD_LOCAL;
  unsigned flags = 0;
  Lib *lib;
  if (!lua_isnil(L, 1)) {
    size_t len;
    if (lua_type(L, 1) != LUA_TSTRING) {
      const char *got = ct_describe(L, 1);
      return ct_error(L, "TypeError", "CDLL: name must be a string or nil, "
                      "got %s", got);
    }
    name = lua_tolstring(L, 1, &len);
    if (strlen(name) != len)
      return ct_error(L, "ValueError", "CDLL: embedded zero byte in name");
  }
  switch (lua_type(L, 2)) {
    case LUA_TNONE: case LUA_TNIL: break;
    case LUA_TNUMBER: mode = getmode(L, 2, "mode"); break;
    case LUA_TTABLE: getoptions(L, 2, &mode, &flags); break;
    default: {
      const char *got = ct_describe(L, 2);
      return ct_error(L, "TypeError", "CDLL: mode must be an integer or an "
                      "options table, got %s", got);
    }
  }
  /* liolib's habit: the userdata exists, closed, with its metatable, before
  ** the handle does, so an error anywhere after dlopen leaks nothing */
  lib = (Lib *)lua_newuserdatauv(L, sizeof(Lib), LIB_NUV);
  lib->handle = NULL;
  lib->flags = flags;
  setlibmt(L);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, LIB_UV_NAME);
  newdetector(L);
  /* as ctypes: symbols are bound now, so a library with unresolved symbols
  ** fails here rather than at some later call */
  lib->handle = dlopen(name, mode | RTLD_NOW);
  if (lib->handle == NULL) {
    const char *reason = dlerror();
    size_t n = name != NULL ? strlen(name) : 0;
    if (reason == NULL) reason = "cannot open library";
    /* glibc's reason starts with the name in most cases; make sure the
    ** message always does */
    if (name != NULL && !(strncmp(reason, name, n) == 0 && reason[n] == ':'))
      return ct_error(L, "OSError", "%s: %s", name, reason);
    return ct_error(L, "OSError", "%s", reason);
  }
  return 1;
}

/* } ====================================================================== */


/* {======================================================================
** Metamethods of libraries
** ======================================================================= */

/* (lib, key): what the symbol cache does not have (the VM looked there
** first) */
static int lib_index (lua_State *L) {
  Lib *lib = (Lib *)lua_touserdata(L, 1);
  const char *k;
  void *addr;
  lua_settop(L, 2);
  k = checksymname(L, 2, "");
  if (k[0] == '_') {
    size_t n = lua_rawlen(L, 2);
    if (strcmp(k, "_name") == 0) {
      lua_getiuservalue(L, 1, LIB_UV_NAME);
      return 1;
    }
    if (strcmp(k, "_handle") == 0) {
      lua_pushinteger(L, (lua_Integer)(intptr_t)lib->handle);
      return 1;
    }
    /* as ctypes' CDLL.__getattr__: __x__ names are never symbols (tools
    ** probe them); any other name, _exit included, is looked up */
    if (n >= 2 && k[1] == '_' && k[n - 1] == '_' && k[n - 2] == '_')
      return ct_error(L, "AttributeError", "%s", k);
  }
  checklib(L, 1, "CDLL");
  if (lua_getiuservalue(L, 1, LIB_UV_SYMS) != LUA_TTABLE)
    return luaL_error(L, "library without a symbol cache");
  lua_pushvalue(L, 2);
  if (lua_rawget(L, -2) != LUA_TNIL)            /* cache, f */
    return 1;
  lua_pop(L, 1);                                /* cache */
  addr = libsym(L, 1, lib, k, "AttributeError");
  ct_func_new(L, addr, 1, lib->flags & CT_SIG_USE_ERRNO);  /* cache, f */
  lua_pushvalue(L, 2);
  lua_pushvalue(L, -2);
  lua_rawset(L, -4);                            /* cache[k] = f */
  return 1;
}


static int lib_newindex (lua_State *L) {
  const char *k = luaL_tolstring(L, 2, NULL);
  return ct_error(L, "AttributeError", "cannot set attribute '%s' of library "
                  "%s", k, libname(L, 1));
}


static int lib_tostring (lua_State *L) {
  Lib *lib = (Lib *)lua_touserdata(L, 1);
  int named = lua_getiuservalue(L, 1, LIB_UV_NAME) == LUA_TSTRING;
  const char *name = named ? lua_tostring(L, -1) : "nil";
  const char *q = named ? "'" : "";
  if ((lib->flags & LIB_CLOSED) || lib->handle == NULL)
    lua_pushfstring(L, "<CDLL %s%s%s (closed)>", q, name, q);
  else
    lua_pushfstring(L, "<CDLL %s%s%s, handle %p at %p>", q, name, q,
                    lib->handle, (void *)lib);
  return 1;
}


/* Closing ends the library's use from Lua: lookups and in_dll raise. The
** handle itself is released by __gc, which cannot run while a function
** object or an in_dll view still needs the code or data (they keep the
** library alive): unmapping under them could only crash. */
static int lib_close (lua_State *L) {
  Lib *lib = tolib(L, 1);
  if (lib == NULL) return luaL_typeerror(L, 1, LIB_MT);
  lib->flags |= LIB_CLOSED;
  clearsyms(L, 1);                        /* let the cached functions go */
  return 0;
}


/* Unreachable: nothing from Lua can use the library any more, so dlclose
** is safe -- except while lua_close finalizes everything, when objects
** older than the library (finalized after it) may still call into it; the
** process is ending its use of Lua then, and the handle is left open. */
static int lib_gc (lua_State *L) {
  Lib *lib = (Lib *)lua_touserdata(L, 1);
  void *h = lib->handle;
  int closing;
  lib->handle = NULL;
  lib->flags |= LIB_CLOSED;
  /* a library that comes back through another object's __gc finds no
  ** function of the unmapped code in its cache */
  clearsyms(L, 1);
  if (h == NULL) return 0;
  closing = lua_rawgetp(L, LUA_REGISTRYINDEX, &closing_key) != LUA_TNIL;
  lua_pop(L, 1);
  if (!closing) dlclose(h);
  return 0;
}

/* } ====================================================================== */


/* {======================================================================
** T.in_dll(lib, name): a view of a global variable
** ======================================================================= */

static int lib_in_dll (lua_State *L) {
  Lib *lib;
  const char *name;
  void *addr;
  ct_checktype(L, 1);
  lib = checklib(L, 2, "in_dll");
  name = checksymname(L, 3, "in_dll: ");
  ct_checkcompletefor(L, 1, "in_dll");
  addr = libsym(L, 2, lib, name, "ValueError");  /* as ctypes' in_dll */
  ct_newview(L, 1, addr, 2);                     /* keeps the library alive */
  /* The view's base is the library, not a CData, so the view is a root for
  ** keep-alive stores (a string assigned to a c_char_p global). Giving every
  ** view of this library the same table, keyed by address as ct_keep does,
  ** makes the stored value live as long as the variable can point to it. */
  if (lua_getiuservalue(L, 2, LIB_UV_KEEP) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 2, LIB_UV_KEEP);
  }
  lua_setiuservalue(L, -2, CT_UV_KEEP);
  return 1;
}

/* } ====================================================================== */


void ct_open_library (lua_State *L) {
  static const luaL_Reg meta[] = {
    {"__index", lib_index},
    {"__newindex", lib_newindex},
    {"__tostring", lib_tostring},
    {"__close", lib_close},
    {"__gc", lib_gc},
    {NULL, NULL}
  };
  static const luaL_Reg detector[] = {{"__gc", lib_detector}, {NULL, NULL}};
  ct_newmetatable(L, LIB_MT, meta);
  ct_newmetatable(L, DETECTOR_MT, detector);
  lua_pushcfunction(L, lib_CDLL);
  lua_setfield(L, -2, "CDLL");
  lua_pushinteger(L, RTLD_GLOBAL);
  lua_setfield(L, -2, "RTLD_GLOBAL");
  lua_pushinteger(L, RTLD_LOCAL);
  lua_setfield(L, -2, "RTLD_LOCAL");
  lua_pushinteger(L, RTLD_LOCAL);   /* ctypes' DEFAULT_MODE on Linux */
  lua_setfield(L, -2, "DEFAULT_MODE");
  ct_settypemethod(L, "in_dll", lib_in_dll);
}
