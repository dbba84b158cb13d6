/*
** memory.c -- the memory functions: memmove, memset, string_at,
** wstring_at, resize (each takes addresses, instances, byref() references
** or strings, and checks sizes against the memory it knows about), and the
** buffers create_string_buffer and create_unicode_buffer.
*/
#define _POSIX_C_SOURCE 200809L  /* strnlen */
#include <stdint.h>
#include <string.h>
#include <wchar.h>

#include "ctypes.h"


/* An address for a memory function, with the number of bytes known to be
** behind it (SIZE_MAX when unknown). Strings are read-only. */
static void *memarg (lua_State *L, int idx, const char *fname, int writable,
                     size_t *avail) {
  void *a;
  ct_CData *cd = ct_tocdata(L, idx);
  *avail = SIZE_MAX;
  if (lua_type(L, idx) == LUA_TSTRING) {
    if (writable)
      ct_error(L, "TypeError", "%s: argument %d must be writable memory, "
               "got string", fname, idx);
    *avail = lua_rawlen(L, idx) + 1;
  }
  if (!ct_toaddress(L, idx, &a)) {
    const char *got = ct_describe(L, idx);
    ct_error(L, "TypeError", "%s: argument %d must be a pointer, an address "
             "or a ctypes instance, got %s", fname, idx, got);
  }
  if (cd != NULL && !ct_ispointerlike(cd->type))
    *avail = ct_cdsize(cd);
  else if (cd == NULL && lua_type(L, idx) == LUA_TUSERDATA)
    ct_tobyrefsized(L, idx, avail);   /* byref(obj[, offset]): what is
                                         left of obj */
  return a;
}


/* a size argument, unconverted: where size_t is narrower than lua_Integer
** (i386), a size beyond SIZE_MAX must fail as one that does not fit, not
** wrap around */
static lua_Unsigned checksize (lua_State *L, int idx, const char *fname) {
  int isnum;
  lua_Integer n = ct_tointegerx(L, idx, &isnum);
  if (!isnum) {
    const char *got = ct_describe(L, idx);
    ct_error(L, "TypeError", "%s: argument %d must be an integer, got %s",
             fname, idx, got);
  }
  if (n < 0)
    ct_error(L, "ValueError", "%s: size must be >= 0, got %I", fname, n);
  return (lua_Unsigned)n;
}


static void checkfits (lua_State *L, const char *fname, int idx, void *a,
                       size_t avail, lua_Unsigned n) {
  if (n > 0 && a == NULL)
    ct_error(L, "ValueError", "%s: NULL pointer access", fname);
  if (n > (lua_Unsigned)avail)
    ct_error(L, "ValueError", "%s: %I bytes do not fit in argument %d (%I "
             "bytes)", fname, (lua_Integer)n, idx, (lua_Integer)avail);
}


static int ct_memmove (lua_State *L) {
  size_t dn, sn;
  lua_Unsigned n;
  void *d = memarg(L, 1, "memmove", 1, &dn);
  void *s = memarg(L, 2, "memmove", 0, &sn);
  n = checksize(L, 3, "memmove");
  checkfits(L, "memmove", 1, d, dn, n);
  checkfits(L, "memmove", 2, s, sn, n);
  if (n > 0) memmove(d, s, (size_t)n);   /* n <= dn: it fits a size_t */
  lua_pushinteger(L, (lua_Integer)(intptr_t)d);
  return 1;
}


static int ct_memset (lua_State *L) {
  size_t dn;
  lua_Unsigned n;
  void *d = memarg(L, 1, "memset", 1, &dn);
  int isnum;
  lua_Integer c = ct_tointegerx(L, 2, &isnum);
  if (!isnum) {
    const char *got = ct_describe(L, 2);
    return ct_error(L, "TypeError", "memset: argument 2 must be an integer, "
                    "got %s", got);
  }
  n = checksize(L, 3, "memset");
  checkfits(L, "memset", 1, d, dn, n);
  if (n > 0) memset(d, (int)(unsigned char)c, (size_t)n);
  lua_pushinteger(L, (lua_Integer)(intptr_t)d);
  return 1;
}


static int ct_string_at (lua_State *L) {
  size_t avail, n;
  const char *a = (const char *)memarg(L, 1, "string_at", 0, &avail);
  if (a == NULL)
    return ct_error(L, "ValueError", "string_at: NULL pointer access");
  if (lua_isnoneornil(L, 2) || (lua_isinteger(L, 2) && lua_tointeger(L, 2) == -1))
    n = avail == SIZE_MAX ? strlen(a) : (size_t)strnlen(a, avail);
  else {
    lua_Unsigned un = checksize(L, 2, "string_at");
    checkfits(L, "string_at", 1, (void *)a, avail, un);
    n = (size_t)un;
  }
  lua_pushlstring(L, a, n);
  return 1;
}


static int ct_wstring_at (lua_State *L) {
  size_t avail, n;
  const wchar_t *a = (const wchar_t *)memarg(L, 1, "wstring_at", 0, &avail);
  if (a == NULL)
    return ct_error(L, "ValueError", "wstring_at: NULL pointer access");
  if (lua_type(L, 1) == LUA_TSTRING)
    return ct_error(L, "TypeError", "wstring_at: argument 1 must be a pointer, "
                    "an address or a ctypes instance, got string");
  if (avail != SIZE_MAX) avail /= sizeof(wchar_t);
  if (lua_isnoneornil(L, 2) || (lua_isinteger(L, 2) && lua_tointeger(L, 2) == -1))
    n = ct_wcsnlen(a, avail);
  else {
    lua_Unsigned un = checksize(L, 2, "wstring_at");
    if (un > (lua_Unsigned)avail)
      return ct_error(L, "ValueError", "wstring_at: %I characters do not fit "
                      "in argument 1 (%I characters)", (lua_Integer)un,
                      (lua_Integer)avail);
    n = (size_t)un;
  }
  ct_pushwstring(L, a, n);
  return 1;
}


static int ct_resize (lua_State *L) {
  ct_CData *cd = ct_checkinstance(L, 1, "resize");
  lua_Unsigned un = checksize(L, 2, "resize");
  size_t align = cd->type->align > 0 ? cd->type->align : 1;
  size_t n;
  uintptr_t a;
  void *buf, *old;
  size_t copied;
  if (!(cd->flags & CT_CD_OWNS))
    return ct_error(L, "ValueError", "resize: cannot resize a view; only "
                    "objects that own their memory can be resized");
  if (un < (lua_Unsigned)cd->type->size)
    return ct_error(L, "ValueError", "resize: minimum size is %I",
                    (lua_Integer)cd->type->size);
  /* more than the address space (beyond SIZE_MAX on i386) */
  if (un > (lua_Unsigned)(SIZE_MAX - (align - 1)))
    return ct_error(L, "MemoryError", "cannot allocate %I bytes",
                    (lua_Integer)un);
  n = (size_t)un;
  if (n <= ct_cdsize(cd) && !(cd->flags & CT_CD_RESIZED)) {
    if (!(cd->flags & CT_CD_COMPACT))   /* a compact one is at its minimum */
      cd->size = n;   /* shrinking within the payload */
    return 0;
  }
  lua_settop(L, 2);   /* extra arguments would shift the buffer's index */
  if (cd->flags & CT_CD_COMPACT) {
    /* no room for ptr and size: a full header of its own (ctypes.h,
    ** ct_CData), kept in its keep table; the old value stays where it was,
    ** after the first field, for views of it */
    ct_CData *full = (ct_CData *)lua_newuserdatauv(L, sizeof *full, 0);
    full->type = cd->type;
    full->flags = CT_CD_OWNS;
    full->ptr = ct_cdptr(cd);
    full->size = ct_cdsize(cd);
    ct_pushkeep(L, 1, 1);
    lua_insert(L, -2);
    lua_setfield(L, -2, "header");
    lua_settop(L, 2);
    cd->moved = full;
    cd->flags |= CT_CD_MOVED;
    cd = full;
  }
  old = ct_cdptr(cd);
  copied = ct_cdsize(cd) < n ? ct_cdsize(cd) : n;
  buf = ct_newudata(L, n + align - 1, 0, n);             /* 3: new buffer */
  a = ((uintptr_t)buf + align - 1) & ~(uintptr_t)(align - 1);
  memset((void *)a, 0, n);
  memcpy((void *)a, old, copied);
  ct_pushkeep(L, 1, 1);                                     /* 4: keep */
  /* the old memory stays alive with the object (views may point into it),
  ** keyed by the buffer itself: integer keys are the addresses of pointer
  ** slots, and the old buffer's address is its first slot's (keeping the
  ** buffer there dropped what that slot kept) */
  if (cd->flags & CT_CD_RESIZED) {
    lua_getfield(L, 4, "resized");
    lua_pushboolean(L, 1);
    lua_rawset(L, 4);
  }
  lua_pushvalue(L, 3);
  lua_setfield(L, 4, "resized");
  cd->ptr = (void *)a;
  cd->size = n;
  cd->flags |= CT_CD_RESIZED;
  /* the copied pointer slots keep what the old ones kept (a view of the
  ** old memory may overwrite those) */
  ct_rebasekeeps(L, 1, old, copied, 1, (void *)a);
  return 0;
}

/* } ====================================================================== */




/* create_string_buffer / create_unicode_buffer (init_or_size[, size]): a
** c_char (c_wchar) array from a string, sized #init + 1 (in characters)
** unless size says otherwise, or of `size` zeroed elements */
static int newbuffer (lua_State *L, const char *fname, int code) {
  lua_Integer size = 0;
  int sized = !lua_isnoneornil(L, 2), isnum;
  ct_CData *cd;
  if (sized) {
    size = ct_tointegerx(L, 2, &isnum);
    if (!isnum) {
      const char *got = ct_describe(L, 2);
      return ct_error(L, "TypeError", "%s: size must be an integer, got %s",
                      fname, got);
    }
  }
  lua_settop(L, 2);
  if (lua_type(L, 1) == LUA_TSTRING) {
    size_t n = lua_rawlen(L, 1);
    if (code == CT_WCHAR) {        /* characters, not bytes */
      if (ct_towstring(L, 1, &n) == NULL)
        return ct_error(L, "ValueError", "%s: string is not valid UTF-8",
                        fname);
      lua_pop(L, 1);
    }
    if (!sized) size = (lua_Integer)n + 1;
    if (size < (lua_Integer)n)
      return ct_error(L, "ValueError", "%s: string too long (%I, buffer of "
                      "%I)", fname, (lua_Integer)n, size);
  }
  else if (lua_isinteger(L, 1) && !sized) {
    size = lua_tointeger(L, 1);
    if (size < 0)
      return ct_error(L, "ValueError", "%s: size must be >= 0, got %I",
                      fname, size);
  }
  else {
    const char *got = ct_describe(L, 1);
    return ct_error(L, "TypeError", "%s: expected a string or an integer "
                    "size, got %s", fname, got);
  }
  ct_pushscalartype(L, code);
  ct_arraytype(L, -1, size);                            /* 4: the type */
  cd = ct_newcdata(L, 4);                               /* 5: the buffer */
  if (lua_type(L, 1) == LUA_TSTRING)
    ct_array_init(L, 4, ct_cdptr(cd), 1, 5);
  return 1;
}


static int ct_create_string_buffer (lua_State *L) {
  return newbuffer(L, "create_string_buffer", CT_CHAR);
}


static int ct_create_unicode_buffer (lua_State *L) {
  return newbuffer(L, "create_unicode_buffer", CT_WCHAR);
}


void ct_open_memory (lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"create_string_buffer", ct_create_string_buffer},
    {"create_unicode_buffer", ct_create_unicode_buffer},
    {"memmove", ct_memmove},
    {"memset", ct_memset},
    {"string_at", ct_string_at},
    {"wstring_at", ct_wstring_at},
    {"resize", ct_resize},
    {NULL, NULL}
  };
  luaL_setfuncs(L, funcs, 0);
}
