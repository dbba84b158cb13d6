/*
** library.c -- shared libraries: CDLL (dlopen/dlsym/dlclose), the
** per-library cache of function objects, T.in_dll for global variables and
** the RTLD_* constants.
**
** A library is a Lua table: its symbol cache { [name] = function object }
** (and whatever attributes the user sets), so that lib.f for a function
** already made is one plain table access by the Lua VM, as for a field of
** a module table. Nothing of lua-ctypes lives in it under any key: its
** state is in its metatable, a copy of "ctypes.Library" of its own (the
** copy is protected by __metatable, so Lua code can neither read it nor
** replace it):
**   mt[&libmt_key]  the library's Lib userdata (below), which also marks
**                   the table as a library
**   mt.__index      lib_index, the Lib userdata as upvalue: a miss in the
**                   cache makes the function object and caches it
**   mt.__newindex, __tostring, __close, __gc  (from the template)
** The Lib userdata has no metatable; the library table's __gc releases
** the handle. Its user values:
**   1  the library's name (string), or nil for the process itself
**   2  keep-alive table shared by every in_dll view (created lazily): what
**      is stored into a global variable lives as long as the library, not
**      only as long as one view of it
** Function objects and in_dll views keep the table alive (their owner or
** base), and the table its metatable and so the Lib userdata.
*/
#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "ctypes.h"

#define LIB_MT "ctypes.Library"
#define DETECTOR_MT "ctypes.LibraryDetector"

/* Lib.flags, besides CT_SIG_USE_ERRNO (given to its function objects) */
#define LIB_CLOSED 0x100   /* __close or __gc called: no more lookups */

typedef struct Lib {
  void *handle;     /* dlopen handle; NULL until opened and after __gc */
  unsigned flags;
} Lib;

enum { LIB_UV_NAME = 1, LIB_UV_KEEP, LIB_NUV = LIB_UV_KEEP };

/* key of the Lib userdata in a library's metatable */
static const char libmt_key = 'l';
/* registry: the newest "closing detector" (see lib_detector) */
static const char detector_key = 'd';
/* registry: true once lua_close has started finalizing */
static const char closing_key = 'c';


/* {======================================================================
** Helpers
** ======================================================================= */

/* If the value at idx is a library (table), pushes its Lib userdata and
** returns it; else pushes nothing and returns NULL. */
static Lib *pushlib (lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TTABLE && lua_getmetatable(L, idx)) {
    if (lua_rawgetp(L, -1, &libmt_key) == LUA_TUSERDATA) {   /* mt, ud */
      lua_remove(L, -2);
      return (Lib *)lua_touserdata(L, -1);
    }
    lua_pop(L, 2);
  }
  return NULL;
}


int ct_islib (lua_State *L, int idx) {
  if (pushlib(L, idx) == NULL) return 0;
  lua_pop(L, 1);
  return 1;
}


/* pushes the name used in messages, from the Lib userdata at uidx: the
** name given to CDLL, or CDLL(nil) */
static const char *libname (lua_State *L, int uidx) {
  if (lua_getiuservalue(L, uidx, LIB_UV_NAME) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushliteral(L, "CDLL(nil)");
  }
  return lua_tostring(L, -1);
}


int ct_describelib (lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (pushlib(L, idx) == NULL) return 0;
  if (lua_getiuservalue(L, -1, LIB_UV_NAME) == LUA_TSTRING)
    lua_pushfstring(L, "CDLL '%s'", lua_tostring(L, -1));
  else
    lua_pushliteral(L, "CDLL(nil)");
  lua_replace(L, -3);                            /* name, ud, s -> s, name */
  lua_pop(L, 1);
  return 1;
}


static int isclosed (const Lib *lib) {
  /* a finalized library can come back through another object's __gc */
  return (lib->flags & LIB_CLOSED) || lib->handle == NULL;
}


/* the library at idx, open; pushes its Lib userdata; errors name the
** function (what) */
static Lib *checklib (lua_State *L, int idx, const char *what) {
  Lib *lib = pushlib(L, idx);
  if (lib == NULL) {
    const char *got = ct_describe(L, idx);
    ct_error(L, "TypeError", "%s: expected a library (CDLL), got %s",
             what, got);
  }
  if (isclosed(lib))
    ct_error(L, "ValueError", "%s: library is closed", libname(L, -1));
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
** ValueError for in_dll); uidx is the Lib userdata. A symbol whose address
** is NULL is as good as missing: a function object or view of NULL could
** only crash. */
static void *libsym (lua_State *L, int uidx, Lib *lib, const char *name,
                     const char *exc) {
  void *addr = dlsym(lib->handle, name);
  if (addr == NULL) {
    dlerror();   /* consume the loader's message: ours names the library
                    as the user gave it, not its resolved path */
    ct_error(L, exc, "%s: undefined symbol: %s", libname(L, uidx), name);
  }
  return addr;
}


void *ct_lib_sym (lua_State *L, int idx, const char *name, const char *what,
                  unsigned *flags) {
  Lib *lib = checklib(L, idx, what);             /* ud */
  void *addr = libsym(L, -1, lib, name, "AttributeError");
  lua_pop(L, 1);
  if (flags != NULL) *flags = lib->flags & CT_SIG_USE_ERRNO;
  return addr;
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

/* Pushes a new library table for the Lib userdata at top (ud -> lib): its
** metatable is a copy of the template with the userdata under libmt_key
** and the __index closure. The metatable is complete (__gc included)
** before it is set: Lua marks the table for finalization only then. */
static void newlibtable (lua_State *L) {
  lua_newtable(L);                               /* ud, lib */
  lua_createtable(L, 0, 10);                     /* ud, lib, mt */
  luaL_getmetatable(L, LIB_MT);                  /* ud, lib, mt, template */
  lua_pushnil(L);
  while (lua_next(L, -2)) {                      /* ..., template, k, v */
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -5);
  }
  lua_pop(L, 1);                                 /* ud, lib, mt */
  lua_pushvalue(L, -3);
  lua_rawsetp(L, -2, &libmt_key);                /* mt[&libmt_key] = ud */
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, lib_index, 1);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);                       /* ud, lib */
  lua_remove(L, -2);                             /* lib */
}


/* empties the library table at idx (closed or finalized: no function is
** found there any more, and no attribute) */
static void clearsyms (lua_State *L, int idx) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {                     /* k, v */
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushnil(L);
    lua_rawset(L, idx);                          /* an existing field: allowed */
  }
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
    case LUA_TTABLE:
      if (pushlib(L, 2) == NULL) {   /* a library is no options table */
        getoptions(L, 2, &mode, &flags);
        break;
      }
      /* FALLTHROUGH */
    default: {
      const char *got = ct_describe(L, 2);
      return ct_error(L, "TypeError", "CDLL: mode must be an integer or an "
                      "options table, got %s", got);
    }
  }
  lua_settop(L, 1);
  /* liolib's habit: the library exists, closed, with its metatable, before
  ** the handle does, so an error anywhere after dlopen leaks nothing */
  lib = (Lib *)lua_newuserdatauv(L, sizeof(Lib), LIB_NUV);
  lib->handle = NULL;
  lib->flags = flags;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, LIB_UV_NAME);
  newlibtable(L);
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

/* (lib, key), the Lib userdata as upvalue: what the library table does not
** have (the VM looked there first) */
static int lib_index (lua_State *L) {
  Lib *lib = (Lib *)lua_touserdata(L, lua_upvalueindex(1));
  const char *k;
  void *addr;
  lua_settop(L, 2);
  k = checksymname(L, 2, "");
  if (k[0] == '_') {
    size_t n = lua_rawlen(L, 2);
    if (strcmp(k, "_name") == 0) {
      lua_getiuservalue(L, lua_upvalueindex(1), LIB_UV_NAME);
      return 1;
    }
    if (strcmp(k, "_handle") == 0) {
      lua_pushinteger(L, (lua_Integer)(intptr_t)lib->handle);
      return 1;
    }
    /* a library is a table: lua-ctypes asks any table passed as an
    ** argument for its _as_parameter_ (ctypes asks any object), which
    ** a library has only if the user sets one */
    if (strcmp(k, "_as_parameter_") == 0) return 0;
    /* as ctypes' CDLL.__getattr__: __x__ names are never symbols (tools
    ** probe them); any other name, _exit included, is looked up */
    if (n >= 2 && k[1] == '_' && k[n - 1] == '_' && k[n - 2] == '_')
      return ct_error(L, "AttributeError", "%s", k);
  }
  if (isclosed(lib))
    return ct_error(L, "ValueError", "%s: library is closed",
                    libname(L, lua_upvalueindex(1)));
  addr = libsym(L, lua_upvalueindex(1), lib, k, "AttributeError");
  ct_func_new(L, addr, 1, lib->flags & CT_SIG_USE_ERRNO);  /* f */
  lua_pushvalue(L, 2);
  lua_pushvalue(L, -2);
  lua_rawset(L, 1);                              /* lib[k] = f */
  return 1;
}


/* lib.k = v: as on a ctypes CDLL, an attribute of the library object, in
** the same table as the cached functions (lib.f = nil drops f from the
** cache, and the next lib.f makes a new function object). The VM calls
** this only for keys the table does not hold. */
static int lib_newindex (lua_State *L) {
  Lib *lib = pushlib(L, 1);                      /* ud */
  const char *k;
  if (lib == NULL) return luaL_typeerror(L, 1, LIB_MT);
  if (lua_type(L, 2) != LUA_TSTRING) {
    const char *got = ct_describe(L, 2);
    return ct_error(L, "TypeError", "attribute name must be a string, got %s",
                    got);
  }
  k = lua_tostring(L, 2);
  if (strcmp(k, "_name") == 0 || strcmp(k, "_handle") == 0)
    return ct_error(L, "AttributeError", "cannot set attribute '%s' of "
                    "library %s", k, libname(L, -1));
  if (lua_isnil(L, 3)) return 0;                 /* nothing to remove */
  if (isclosed(lib))
    return ct_error(L, "ValueError", "%s: library is closed",
                    libname(L, -1));
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 0;
}


static int lib_tostring (lua_State *L) {
  Lib *lib = pushlib(L, 1);                      /* ud */
  int named;
  const char *name, *q;
  if (lib == NULL) return luaL_typeerror(L, 1, LIB_MT);
  named = lua_getiuservalue(L, -1, LIB_UV_NAME) == LUA_TSTRING;
  name = named ? lua_tostring(L, -1) : "nil";
  q = named ? "'" : "";
  if (isclosed(lib))
    lua_pushfstring(L, "<CDLL %s%s%s (closed)>", q, name, q);
  else
    lua_pushfstring(L, "<CDLL %s%s%s, handle %p at %p>", q, name, q,
                    lib->handle, lua_topointer(L, 1));
  return 1;
}


/* Closing ends the library's use from Lua: lookups and in_dll raise. The
** handle itself is released by __gc, which cannot run while a function
** object or an in_dll view still needs the code or data (they keep the
** library alive): unmapping under them could only crash. */
static int lib_close (lua_State *L) {
  Lib *lib = pushlib(L, 1);
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
  Lib *lib = pushlib(L, 1);
  void *h;
  int closing;
  if (lib == NULL) return 0;
  h = lib->handle;
  lib->handle = NULL;
  lib->flags |= LIB_CLOSED;
  /* a library that comes back through another object's __gc finds no
  ** function of the unmapped code in its table */
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
  int uidx;
  ct_checktype(L, 1);
  lib = checklib(L, 2, "in_dll");
  lua_pop(L, 1);                 /* argument 3 may be none: "got no value" */
  name = checksymname(L, 3, "in_dll: ");
  ct_checkcompletefor(L, 1, "in_dll");
  pushlib(L, 2);
  uidx = lua_gettop(L);                          /* its Lib userdata */
  addr = libsym(L, uidx, lib, name, "ValueError");  /* as ctypes' in_dll */
  ct_newview(L, 1, addr, 2);                     /* keeps the library alive */
  /* The view's base is the library, not a CData, so the view is a root for
  ** keep-alive stores (a string assigned to a c_char_p global). Giving every
  ** view of this library the same table, keyed by address as ct_keep does,
  ** makes the stored value live as long as the variable can point to it. */
  if (lua_getiuservalue(L, uidx, LIB_UV_KEEP) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, uidx, LIB_UV_KEEP);
  }
  lua_setiuservalue(L, -2, CT_UV_KEEP);
  return 1;
}

/* } ====================================================================== */


void ct_open_library (lua_State *L) {
  /* the template of the libraries' metatables (newlibtable adds the
  ** __index closure and the Lib userdata to each copy) */
  static const luaL_Reg meta[] = {
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
