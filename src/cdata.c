/*
** cdata.c -- instances: aligned allocation, owning objects and views,
** keep-alive, Lua <-> C value conversion by type, the "ctypes.CData"
** metamethods and the from_* constructors.
*/
#define _POSIX_C_SOURCE 200809L  /* strnlen */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ctypes.h"

#define CDATA_MT "ctypes.CData"

/* the metatable is also kept under this key: lookups by name cost a string
** comparison on the hottest paths (making and recognising instances) */
static const char cdata_mt_key = 'c';

/* sets the metatable of the new object on top: the one at mtidx (an
** upvalue holding it), or (0) the one in the registry */
static void setcdatamt (lua_State *L, int mtidx) {
  if (mtidx != 0) lua_pushvalue(L, mtidx);
  else lua_rawgetp(L, LUA_REGISTRYINDEX, &cdata_mt_key);
  lua_setmetatable(L, -2);
}


/* {======================================================================
** Allocation
** ======================================================================= */

/* What Lua guarantees for the memory of a userdata: the alignment of the
** members of LUAI_MAXALIGN (lua_Number, double, void *, lua_Integer,
** long). It is 8 on x86-64 but 4 on i386, where double and long long are
** 4-aligned inside structures, so there the memory's address modulo 8
** depends on the number of user values (Lua's UValue is 12 bytes there). */
typedef union { lua_Number n; double u; void *s; lua_Integer i; long l; } UdAlign;
#define CT_UDALIGN _Alignof(UdAlign)
_Static_assert(sizeof(ct_CData) % CT_UDALIGN == 0,
               "the CData header keeps the userdata memory's alignment");

/* the offset of a compact object's value (ctypes.h, ct_CData) */
#define COMPACTOFF(align) \
  ((offsetof(ct_CData, flags) + sizeof(unsigned) + (align) - 1) & \
   ~((align) - 1))
_Static_assert(COMPACTOFF(1) < (1u << (sizeof(unsigned) * CHAR_BIT - \
                                       CT_CD_OFFSHIFT)),
               "the compact offset fits in the flags");

/* can instances of t that own their memory be compact? */
static int compactable (const ct_Type *t) {
  return (t->flags & CT_ANCHORED) && t->align > 0 && t->align <= CT_UDALIGN;
}


/* the user values of an instance: function objects their own; views all
** three; owners the type, and the keep slot unless they are scalars that
** cannot hold a pointer (those keep anything in the side table). Those are
** compact (no user value at all) when their type is anchored and Lua's
** alignment of userdata memory is enough for them (ctypes.h, ct_CData). */
static int nuvfor (const ct_Type *t, int view) {
  if (t->kind == CT_FUNC) return CT_NUV_FUNC;
  if (view) return CT_UV_N;
  if (t->kind != CT_SIMPLE || t->scalar == CT_CHAR_P ||
      t->scalar == CT_WCHAR_P || t->scalar == CT_VOID_P)
    return CT_UV_KEEP;
  return compactable(t) ? 0 : CT_UV_TYPE;
}


/* Sizes from here up are allocated in protected mode: a failed allocation
** is a MemoryError, not Lua's bare "not enough memory" (smaller ones take
** the direct path, as fast as before). */
#define BIGALLOC ((size_t)1 << 16)

static int protnewudata (lua_State *L) {
  size_t size = *(const size_t *)lua_touserdata(L, 1);
  lua_newuserdatauv(L, size, (int)lua_tointeger(L, 2));
  return 1;
}


void *ct_newudata (lua_State *L, size_t size, int nuv, size_t want) {
  if (size < BIGALLOC)
    return lua_newuserdatauv(L, size, nuv);
  lua_pushcfunction(L, protnewudata);
  lua_pushlightuserdata(L, &size);
  lua_pushinteger(L, nuv);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK)
    ct_error(L, "MemoryError", "cannot allocate %I bytes", (lua_Integer)want);
  return lua_touserdata(L, -1);
}


static void zero (void *p, size_t size) {
  switch (size) {      /* scalars: the compiler's stores, not a call */
    case 1: memset(p, 0, 1); break;
    case 2: memset(p, 0, 2); break;
    case 4: memset(p, 0, 4); break;
    case 8: memset(p, 0, 8); break;
    default: memset(p, 0, size); break;
  }
}

/* an owning instance of the type t (at tidx, absolute); compact when it
** has no user value (nuvfor) and the type's size */
static ct_CData *newcdata (lua_State *L, int tidx, ct_Type *t, size_t size,
                           int nuv, int mtidx) {
  ct_CData *cd;
  size_t align, extra;
  uintptr_t a;
  align = t->align > 0 ? t->align : 1;
  if (nuv == 0 && size == t->size && compactable(t)) {
    size_t off = COMPACTOFF(align);
    cd = (ct_CData *)lua_newuserdatauv(L, off + size, 0);
    cd->type = t;
    cd->flags = CT_CD_OWNS | CT_CD_COMPACT | (unsigned)off << CT_CD_OFFSHIFT;
    zero((char *)cd + off, size);
    setcdatamt(L, mtidx);
    return cd;
  }
  /* Lua aligns userdata memory only as LUAI_MAXALIGN's members need
  ** (CT_UDALIGN); the header keeps that alignment, so only stricter types
  ** need slack */
  extra = align > CT_UDALIGN ? align - 1 : 0;
  if (size > SIZE_MAX - sizeof(ct_CData) - extra)
    ct_error(L, "MemoryError", "cannot allocate %I bytes", (lua_Integer)size);
  cd = (ct_CData *)ct_newudata(L, sizeof(ct_CData) + size + extra, nuv, size);
  a = (uintptr_t)(cd + 1);
  a = (a + align - 1) & ~(uintptr_t)(align - 1);
  cd->type = t;
  cd->ptr = (void *)a;
  cd->size = size;
  cd->flags = CT_CD_OWNS;
  zero(cd->ptr, size);
  setcdatamt(L, mtidx);
  lua_pushvalue(L, tidx);
  lua_setiuservalue(L, -2, CT_UV_TYPE);
  return cd;
}


ct_CData *ct_newcdata_sized (lua_State *L, int tidx, size_t size, int nuv) {
  ct_Type *t;
  tidx = lua_absindex(L, tidx);
  t = (ct_Type *)lua_touserdata(L, tidx);
  if (nuv == CT_UV_N) nuv = nuvfor(t, 0);
  return newcdata(L, tidx, t, size, nuv, 0);
}


ct_CData *ct_newcdata (lua_State *L, int tidx) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, tidx);
  if (t->flags & CT_INCOMPLETE) ct_checkcomplete(L, tidx);
  return newcdata(L, lua_absindex(L, tidx), t, t->size, nuvfor(t, 0), 0);
}


ct_CData *ct_newview (lua_State *L, int tidx, void *ptr, int baseidx) {
  ct_Type *t;
  ct_CData *cd;
  tidx = lua_absindex(L, tidx);
  if (baseidx != 0) baseidx = lua_absindex(L, baseidx);
  t = (ct_Type *)lua_touserdata(L, tidx);
  ct_checkcomplete(L, tidx);
  cd = (ct_CData *)lua_newuserdatauv(L, sizeof(ct_CData), nuvfor(t, 1));
  cd->type = t;
  cd->ptr = ptr;
  cd->size = t->size;
  cd->flags = 0;
  setcdatamt(L, 0);
  lua_pushvalue(L, tidx);
  lua_setiuservalue(L, -2, CT_UV_TYPE);
  if (baseidx != 0) {
    lua_pushvalue(L, baseidx);
    lua_setiuservalue(L, -2, CT_UV_BASE);
  }
  return cd;
}


ct_CData *ct_tocdata (lua_State *L, int idx) {
  void *ud = ct_testudata(L, idx, &cdata_mt_key);
  return ud != NULL ? ct_cdof(ud) : NULL;
}


void ct_pushcdtype (lua_State *L, int idx) {
  const ct_CData *cd = (const ct_CData *)lua_touserdata(L, idx);
  if (cd->flags & CT_CD_COMPACT)     /* no user values; moved or not */
    lua_rawgeti(L, LUA_REGISTRYINDEX, ct_cdof((void *)cd)->type->anchor);
  else
    lua_getiuservalue(L, idx, CT_UV_TYPE);
}


ct_CData *ct_checkinstance (lua_State *L, int idx, const char *fname) {
  ct_CData *cd = ct_tocdata(L, idx);
  if (cd == NULL) {
    const char *got = ct_describe(L, idx);
    ct_error(L, "TypeError", "%s: argument %d must be a ctypes instance, "
             "got %s", fname, idx, got);
  }
  return cd;
}


void *ct_pointervalue (const ct_CData *cd) {
  return ct_loadptr(ct_cdptr(cd));
}

/* } ====================================================================== */


/* {======================================================================
** Keep-alive: ctypes' _objects. Stores that make C memory point into a Lua
** object record that object in the root's keep table, keyed by the address
** of the slot, so overwriting the slot drops the old object.
** ======================================================================= */

/* pushes the root of the object at idx: the end of its chain of bases */
static void pushroot (lua_State *L, int idx) {
  lua_pushvalue(L, idx);                            /* obj */
  for (;;) {
    if (lua_getiuservalue(L, -1, CT_UV_BASE) == LUA_TUSERDATA &&
        ct_tocdata(L, -1) != NULL) {                /* obj, base */
      lua_remove(L, -2);
      continue;
    }
    lua_pop(L, 1);                                  /* root */
    return;
  }
}


/* the side table: object -> keep table for objects made without the keep
** slot (weak keys: an entry lives as long as its object) */
static const char sidekeep_key = 'k';

int ct_pushkeep (lua_State *L, int idx, int create) {
  int t;
  idx = lua_absindex(L, idx);
  t = lua_getiuservalue(L, idx, CT_UV_KEEP);
  if (t == LUA_TTABLE) return 1;
  if (t == LUA_TUSERDATA) {        /* the one entry ct_keep made directly */
    const ct_CData *cd = ct_cdof(lua_touserdata(L, idx));
    lua_createtable(L, 0, 2);                       /* kept, keep */
    lua_insert(L, -2);                              /* keep, kept */
    lua_rawseti(L, -2, (lua_Integer)(uintptr_t)ct_cdptr(cd));
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, idx, CT_UV_KEEP);
    return 1;
  }
  lua_pop(L, 1);
  if (t == LUA_TNONE) {                             /* no slot */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &sidekeep_key);
    lua_pushvalue(L, idx);
    if (lua_rawget(L, -2) == LUA_TTABLE) {          /* side, keep */
      lua_remove(L, -2);
      return 1;
    }
    lua_pop(L, 2);
    if (!create) { lua_pushnil(L); return 0; }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &sidekeep_key);
    lua_pushvalue(L, idx);
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, -1);
    lua_insert(L, -4);                              /* keep, side, obj, keep */
    lua_rawset(L, -3);
    lua_pop(L, 1);                                  /* keep */
    return 1;
  }
  if (!create) { lua_pushnil(L); return 0; }
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, idx, CT_UV_KEEP);
  return 1;
}


/* The keep slot of an owner may hold, instead of a table, the one object
** kept for the pointer slot at the start of its memory (pointer(x), a
** pointer's .contents): no table until something else must be kept
** (ct_pushkeep makes it then, so readers see a table). Returns 1 when it
** did the store at addr that way. */
static int keepdirect (lua_State *L, int cdidx, const void *addr,
                       int validx) {
  const ct_CData *cd = ct_cdof(lua_touserdata(L, cdidx));
  int t, obj = validx != 0 && lua_type(L, validx) == LUA_TUSERDATA;
  if (!(cd->flags & CT_CD_OWNS) || addr != ct_cdptr(cd)) return 0;
  t = lua_getiuservalue(L, cdidx, CT_UV_KEEP);
  lua_pop(L, 1);
  if (!(obj || validx == 0) || (t != LUA_TNIL && t != LUA_TUSERDATA))
    return 0;      /* a string (or more entries): the table */
  if (obj) lua_pushvalue(L, validx); else lua_pushnil(L);
  lua_setiuservalue(L, cdidx, CT_UV_KEEP);
  return 1;
}


void ct_keepnew (lua_State *L, int validx) {
  ct_assert(ct_cdof(lua_touserdata(L, -1))->type->kind == CT_POINTER &&
            lua_type(L, validx) == LUA_TUSERDATA);
  lua_pushvalue(L, validx);                  /* keepdirect's first store */
  lua_setiuservalue(L, -2, CT_UV_KEEP);
}


void ct_keep (lua_State *L, int cdidx, const void *addr, int validx) {
  validx = validx != 0 ? lua_absindex(L, validx) : 0;
  cdidx = lua_absindex(L, cdidx);
  if (keepdirect(L, cdidx, addr, validx)) return;
  pushroot(L, cdidx);
  if (!ct_pushkeep(L, -1, validx != 0)) {           /* root, nil */
    lua_pop(L, 2);                                  /* nothing to clear */
    return;
  }                                                 /* root, keep */
  lua_pushinteger(L, (lua_Integer)(uintptr_t)addr);
  if (validx != 0) lua_pushvalue(L, validx); else lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 2);
}


/* A store made the pointer slot at addr (of the object at cdidx) hold what
** the value at validx gave. When that is the pointer value of a
** pointer-like instance (not its address), what keeps the target alive is
** that instance's own slot entry in its root's keep table: keep that, so
** the store does not depend on the source slot staying as it is (a[0] =
** a[0] dropped the target; so did b[0] = a[0] and then a[0] = nil). The
** instance itself when no entry exists (callbacks own their code, library
** functions keep their library, addresses keep nothing). */
void ct_keepvalue (lua_State *L, int cdidx, const void *addr, int validx) {
  ct_CData *src;
  cdidx = lua_absindex(L, cdidx);
  validx = lua_absindex(L, validx);
  src = lua_type(L, validx) == LUA_TUSERDATA ? ct_tocdata(L, validx) : NULL;
  if (src != NULL && ct_ispointerlike(src->type) &&
      ct_loadptr(addr) != ct_cdptr(src)) {
    luaL_checkstack(L, 4, NULL);
    pushroot(L, validx);                             /* root */
    if (ct_pushkeep(L, -1, 0)) {
      if (lua_rawgeti(L, -1, (lua_Integer)(uintptr_t)ct_cdptr(src)) != LUA_TNIL) {
        ct_keep(L, cdidx, addr, -1);                 /* root, keep, kept */
        lua_pop(L, 3);
        return;
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  }
  ct_keep(L, cdidx, addr, validx);
}


/* After `size` bytes were copied from sp (memory of the object at srcidx)
** to dp (memory of the object at cdidx): the copy keeps alive what the
** original's pointers kept alive, slot by slot. */
void ct_rebasekeeps (lua_State *L, int srcidx, const void *sp, size_t size,
                     int cdidx, void *dp) {
  uintptr_t lo = (uintptr_t)sp;
  srcidx = lua_absindex(L, srcidx);
  cdidx = lua_absindex(L, cdidx);
  luaL_checkstack(L, 6, NULL);
  pushroot(L, srcidx);
  if (ct_pushkeep(L, -1, 0)) {
    /* collect first: source and copy may share their root (a[1] = a[0]),
    ** and a table must not get new keys while lua_next walks it */
    lua_newtable(L);                             /* root, keep, moved */
    lua_pushnil(L);
    while (lua_next(L, -3)) {                    /* root, keep, moved, k, v */
      if (lua_isinteger(L, -2)) {
        uintptr_t a = (uintptr_t)lua_tointeger(L, -2);
        if (a >= lo && a - lo < size) {
          lua_pushinteger(L, (lua_Integer)((uintptr_t)dp + (a - lo)));
          lua_insert(L, -2);
          lua_rawset(L, -4);
          continue;
        }
      }
      lua_pop(L, 1);
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {                    /* ..., moved, k, v */
      ct_keep(L, cdidx, (void *)(uintptr_t)lua_tointeger(L, -2), -1);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
}

/* } ====================================================================== */


/* {======================================================================
** Conversion by type
** ======================================================================= */

/* the type userdata of the cdata at idx and of its element/pointee */
/* the value of a scalar instance (conv.c: any byte order) */
static void pushscalar (lua_State *L, const ct_Type *t, const void *p) {
  ct_pushscalarvalue(L, t, p);
}


int ct_toaddress (lua_State *L, int idx, void **out) {
  switch (lua_type(L, idx)) {
    case LUA_TNIL: *out = NULL; return 1;
    case LUA_TNUMBER:
      if (!lua_isinteger(L, idx)) return 0;
      *out = (void *)(intptr_t)lua_tointeger(L, idx);
      return 1;
    case LUA_TSTRING:
      *out = (void *)lua_tostring(L, idx);
      return 1;
    case LUA_TUSERDATA: {
      ct_CData *cd = ct_tocdata(L, idx);
      if (cd != NULL) {
        *out = ct_ispointerlike(cd->type) ? ct_pointervalue(cd) : ct_cdptr(cd);
        return 1;
      }
      *out = ct_tobyref(L, idx);
      return *out != NULL;
    }
    default: return 0;
  }
}

/* } ====================================================================== */


/* {======================================================================
** "ctypes.CData" metamethods
** ======================================================================= */

const char *ct_cdname (lua_State *L, int idx) {
  const char *s;
  ct_pushcdtype(L, idx);
  s = ct_typename(L, -1);
  lua_pop(L, 1);
  return s;
}


static int noattr (lua_State *L) {
  return ct_error(L, "AttributeError", "'%s' object has no attribute '%s'",
                  ct_cdname(L, 1), luaL_tolstring(L, 2, NULL));
}


static int cdata_index (lua_State *L) {
  ct_CData *cd = ct_cdof(lua_touserdata(L, 1));
  switch (cd->type->kind) {
    case CT_SIMPLE:
      if (lua_type(L, 2) == LUA_TSTRING &&
          strcmp(lua_tostring(L, 2), "value") == 0) {
        pushscalar(L, cd->type, ct_cdptr(cd));
        return 1;
      }
      return noattr(L);
    case CT_POINTER: case CT_ARRAY: {
      const char *p = ct_array_fastelem(L, cd);
      if (p == NULL) return ct_array_index(L, cd);
      ct_fast_push(L, cd->type->proto->scalar, p);
      return 1;
    }
    case CT_STRUCT: case CT_UNION: return ct_struct_index(L, cd);
    case CT_FUNC: return ct_func_index(L);
  }
  return 0;
}


static int cdata_newindex (lua_State *L) {
  ct_CData *cd = ct_cdof(lua_touserdata(L, 1));
  switch (cd->type->kind) {
    case CT_SIMPLE:
      if (lua_type(L, 2) == LUA_TSTRING &&
          strcmp(lua_tostring(L, 2), "value") == 0) {
        ct_pushcdtype(L, 1);
        ct_setvalue(L, 1, 4, ct_cdptr(cd), 3, NULL);
        return 0;
      }
      return noattr(L);
    case CT_POINTER: case CT_ARRAY: {
      char *p = ct_array_fastelem(L, cd);
      if (p == NULL || !ct_fastset(L, cd->type->proto->scalar, p, 3))
        return ct_array_newindex(L, cd);
      return 0;
    }
    case CT_STRUCT: case CT_UNION: return ct_struct_newindex(L, cd);
    case CT_FUNC: return ct_func_newindex(L);
  }
  return 0;
}


static int cdata_close (lua_State *L) {
  ct_CData *cd = ct_cdof(lua_touserdata(L, 1));
  if (cd->type->kind == CT_FUNC)
    return ct_callback_close(L);
  return 0;
}


static int cdata_len (lua_State *L) {
  ct_CData *cd = ct_cdof(lua_touserdata(L, 1));
  if (cd->type->kind == CT_ARRAY) {
    lua_pushinteger(L, (lua_Integer)cd->type->length);
    return 1;
  }
  return ct_error(L, "TypeError", "object of type '%s' has no len()",
                  ct_cdname(L, 1));
}


static int cdata_pairs (lua_State *L) {
  ct_CData *cd = ct_cdof(lua_touserdata(L, 1));
  if (cd->type->kind == CT_ARRAY)
    return ct_array_pairs(L);
  return ct_error(L, "TypeError", "'%s' object is not iterable",
                  ct_cdname(L, 1));
}


/* a Lua string literal as it would be written in Lua source */
static void addquoted (luaL_Buffer *b, const char *s, size_t len) {
  size_t i;
  luaL_addchar(b, '"');
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      luaL_addchar(b, '\\');
      luaL_addchar(b, (char)c);
    }
    else if (c < 32 || c == 127) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\%d", c);
      luaL_addstring(b, buf);
    }
    else luaL_addchar(b, (char)c);
  }
  luaL_addchar(b, '"');
}


/* For tostring of the c_char_p or c_wchar_p at idx: pushes its text and
** returns 1 only when the object keeps that text alive itself (the Lua
** string, or the converted wide buffer, kept for its slot and still where
** the slot points), read within the kept object's bounds. Anything else
** (an address given as an integer, C's memory, a character array) is
** never read: tostring shows the address, as ctypes' repr does. */
static int pushowntext (lua_State *L, int idx, const ct_CData *cd) {
  const void *a = ct_pointervalue(cd);
  int found = 0;
  if (a == NULL) return 0;
  pushroot(L, idx);
  if (ct_pushkeep(L, -1, 0)) {   /* root, keep */
    int ty = lua_rawgeti(L, -1, (lua_Integer)(uintptr_t)ct_cdptr(cd));
    size_t n = lua_rawlen(L, -1);
    if (cd->type->scalar == CT_CHAR_P && ty == LUA_TSTRING &&
        lua_tostring(L, -1) == a) {
      lua_pushlstring(L, (const char *)a, strnlen((const char *)a, n));
      found = 1;
    }
    else if (cd->type->scalar == CT_WCHAR_P && ty == LUA_TUSERDATA &&
             ct_tocdata(L, -1) == NULL && lua_touserdata(L, -1) == a) {
      ct_pushwstring(L, (const wchar_t *)a,
                     ct_wcsnlen((const wchar_t *)a, n / sizeof(wchar_t)));
      found = 1;
    }
    if (found) lua_replace(L, -4);          /* text, keep, kept */
    lua_pop(L, 1);
  }
  lua_pop(L, found ? 1 : 2);
  return found;
}


static int cdata_tostring (lua_State *L) {
  ct_CData *cd = ct_cdof(lua_touserdata(L, 1));
  const char *name = ct_cdname(L, 1);
  if (cd->type->kind == CT_SIMPLE) {
    luaL_Buffer b;
    int code = cd->type->scalar;
    if ((code == CT_CHAR_P || code == CT_WCHAR_P) && !pushowntext(L, 1, cd)) {
      void *a = ct_pointervalue(cd);                     /* not read */
      if (a == NULL) lua_pushnil(L);
      else lua_pushinteger(L, (lua_Integer)(uintptr_t)a);
    }
    else if (code != CT_CHAR_P && code != CT_WCHAR_P)
      pushscalar(L, cd->type, ct_cdptr(cd));                  /* value */
    luaL_buffinit(L, &b);
    luaL_addstring(&b, name);
    luaL_addchar(&b, '(');
    if (lua_type(L, 2) == LUA_TSTRING) {
      size_t len;
      const char *s = lua_tolstring(L, 2, &len);
      addquoted(&b, s, len);
    }
    else {
      luaL_tolstring(L, 2, NULL);
      luaL_addvalue(&b);
    }
    luaL_addchar(&b, ')');
    luaL_pushresult(&b);
    return 1;
  }
  lua_pushfstring(L, "<%s object at %p>", name, ct_cdptr(cd));
  return 1;
}

/* } ====================================================================== */


/* {======================================================================
** Constructors: T(v) for scalars, T.from_address/from_buffer/...
** ======================================================================= */

int ct_simple_new (lua_State *L) {
  int n = lua_gettop(L) - 1;
  ct_Type *t = (ct_Type *)lua_touserdata(L, 1);   /* scalars are complete */
  ct_CData *cd;
  if (n > 1)
    return ct_error(L, "TypeError", "%s() takes at most 1 argument (%d given)",
                    ct_typename(L, 1), n);
  /* the metatable from type_call's upvalue: no registry lookup */
  cd = newcdata(L, 1, t, t->size, nuvfor(t, 0), lua_upvalueindex(1));
  /* the hot case, a number into a native integer or floating type */
  if (n == 1 && !(cd->type->flags & CT_SWAPPED) &&
      ct_fastset(L, cd->type->scalar, ct_cdptr(cd), 2))
    return 1;
  if (n == 1)
    ct_setvalue(L, -1, 1, ct_cdptr(cd), 2, NULL);
  return 1;
}


static lua_Integer checkoffset (lua_State *L, int idx, const char *fname) {
  int isnum;
  lua_Integer off;
  if (lua_isnoneornil(L, idx)) return 0;
  off = ct_tointegerx(L, idx, &isnum);
  if (!isnum) {
    const char *got = ct_describe(L, idx);
    ct_error(L, "TypeError", "%s: offset must be an integer, got %s", fname,
             got);
  }
  if (off < 0)
    ct_error(L, "ValueError", "%s: offset cannot be negative", fname);
  return off;
}


/* "Buffer size too small": len bytes where off + need are wanted */
static int toosmall (lua_State *L, const char *fname, size_t len, size_t need,
                     lua_Integer off) {
  if ((lua_Unsigned)off > (lua_Unsigned)LUA_MAXINTEGER - need)
    return ct_error(L, "ValueError", "%s: Buffer size too small (%I bytes, "
                    "offset %I)", fname, (lua_Integer)len, off);
  return ct_error(L, "ValueError", "%s: Buffer size too small (%I instead of "
                  "at least %I bytes)", fname, (lua_Integer)len,
                  (lua_Integer)need + off);
}


static int type_from_address (lua_State *L) {
  int isnum;
  lua_Integer a;
  ct_checktype(L, 1);
  a = ct_tointegerx(L, 2, &isnum);
  if (!isnum) {
    const char *got = ct_describe(L, 2);
    return ct_error(L, "TypeError", "from_address: address must be an "
                    "integer, got %s", got);
  }
  if (a == 0)
    return ct_error(L, "ValueError", "from_address: NULL pointer access");
  ct_checkcompletefor(L, 1, "from_address");
  ct_newview(L, 1, (void *)(intptr_t)a, 0);
  return 1;
}


static int type_from_buffer (lua_State *L) {
  ct_Type *t = ct_checktype(L, 1);
  ct_CData *src = ct_tocdata(L, 2);
  lua_Integer off;
  ct_checkcompletefor(L, 1, "from_buffer");
  if (src == NULL) {
    const char *got = ct_describe(L, 2);
    return ct_error(L, "TypeError", "from_buffer: expected a writable ctypes "
                    "instance, got %s", got);
  }
  off = checkoffset(L, 3, "from_buffer");
  /* off compared unconverted: it may exceed SIZE_MAX (i386) */
  if (ct_cdsize(src) < t->size || (lua_Unsigned)off > ct_cdsize(src) - t->size)
    return toosmall(L, "from_buffer", ct_cdsize(src), t->size, off);
  ct_newview(L, 1, (char *)ct_cdptr(src) + off, 2);
  return 1;
}


static int type_from_buffer_copy (lua_State *L) {
  ct_Type *t = ct_checktype(L, 1);
  const void *p;
  size_t len;
  lua_Integer off;
  ct_CData *cd;
  ct_checkcompletefor(L, 1, "from_buffer_copy");
  if (lua_type(L, 2) == LUA_TSTRING)
    p = lua_tolstring(L, 2, &len);
  else {
    ct_CData *src = ct_tocdata(L, 2);
    if (src == NULL) {
      const char *got = ct_describe(L, 2);
      return ct_error(L, "TypeError", "from_buffer_copy: expected a string or "
                      "ctypes instance, got %s", got);
    }
    p = ct_cdptr(src);
    len = ct_cdsize(src);
  }
  off = checkoffset(L, 3, "from_buffer_copy");
  if (len < t->size || (lua_Unsigned)off > len - t->size)
    return toosmall(L, "from_buffer_copy", len, t->size, off);
  cd = ct_newcdata(L, 1);
  memcpy(ct_cdptr(cd), (const char *)p + off, t->size);
  return 1;
}


/* conv.c has the parameter rules */
static int type_from_param (lua_State *L) {
  return ct_conv_fromparam(L);
}

/* } ====================================================================== */


void ct_open_cdata (lua_State *L) {
  static const luaL_Reg meta[] = {
    {"__index", cdata_index},
    {"__newindex", cdata_newindex},
    {"__call", ct_func_call},   /* it checks the kind: the hot path */
    {"__close", cdata_close},
    {"__len", cdata_len},
    {"__pairs", cdata_pairs},
    {"__tostring", cdata_tostring},
    {NULL, NULL}
  };
  ct_newmetatable(L, CDATA_MT, meta);
  lua_newtable(L);                                  /* the side keep table */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &sidekeep_key);
  luaL_getmetatable(L, CDATA_MT);
  ct_markmetatable(L, -1, &cdata_mt_key);
  ct_type_setcdatamt(L, -1);      /* T(...) makes instances with it */
  lua_pop(L, 1);
  ct_settypemethod(L, "from_address", type_from_address);
  ct_settypemethod(L, "from_buffer", type_from_buffer);
  ct_settypemethod(L, "from_buffer_copy", type_from_buffer_copy);
  ct_settypemethod(L, "from_param", type_from_param);
}
