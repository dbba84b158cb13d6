/*
** ptrcache.c -- the pointer cache of callback arguments: a POINTER(T)
** argument is handed to the Lua function as an object made earlier for the
** same address, when that object still is exactly what a new one would be.
** callback.c asks it (ct_ptrcache_* in ctypes.h); the state is the
** ct_PtrCache its per-state record embeds.
**
** A pointer object is a value (an address of a type) plus what it keeps
** alive, so an object made for the same address earlier may stand for a new
** one if it still has the same type, that address as its value, its memory
** not moved by resize() (ct_ptrcache_lookup checks all three). An object the
** user changed (`.contents = x`, memmove through addressof, a view written
** through) no longer holds the address and is not handed out for it again;
** the next call with that address makes a new object, which replaces it in
** the cache.
**
** The cache belongs to the Lua state (every callback shares it) and has two
** tables, keyed by the address as an integer (registry, pc->curref and
** pc->oldref):
**   current  strong values: the objects handed out since the last rotation
**   old      weak values (or nil): those of the rotation before
** A rotation (rotate) happens once per garbage-collection cycle, when a
** sentinel object is finalized: the current table becomes the old one
** (weak), and a new current table starts. An object found in the old table
** moves back into the current one. So a cached object outlives the user's
** last reference to it and the last call that handed it out by one or two
** collection cycles, never longer, and a program that keeps sorting the
** same array allocates no new pointer objects between cycles: most
** comparator calls find both arguments in the current table. Lua clears a
** weak entry before its object is freed, so the old table never hands out
** a collected object.
**
** Finding an object in the current table neither allocates nor raises
** (ct_ptrcache_find: the callback window's fast path does it unprotected);
** looking in the old table, moving an object and making one allocate, and
** run protected (ct_ptrcache_make's callers).
*/
#include "ctypes.h"


/* registry keys (addresses of statics) */
static const char KEY_WEAKV = 'V';     /* { __mode = "v" } */
static const char KEY_PTYPES = 'T';    /* weak values: light userdata
                                          ct_Type * -> the type */
static const char KEY_SENTINEL = 'Z';  /* the sentinels' metatable */

/* ct_ptrcache_make */
#define PC_SAMPLE 64
#define PC_EARLY 1024


/* after a miss in the current table at cidx: pushes the object for address
** a of pointer argument i (0-based; its type t) from the old table at oidx
** (ct_ptrcache_pushold), or a new one, and puts it into the current table
** (allocates: protected callers only). The type comes from the callback's
** argtypes at atidx, or (atidx 0: its closure userdata is gone, it was
** collected during its own call) from the weak table of pointer argument
** types (ct_ptrcache_types). While the cache does not pay (pc->caching 0),
** only one new object in PC_SAMPLE goes into it (each kept object costs the
** allocator more than the object alone), and the old table is not
** searched. Caching stops at a rotation (rotate decides) or as soon as
** PC_EARLY arguments were not found since the last one and fewer than one
** in three were. */
void ct_ptrcache_make (lua_State *L, ct_PtrCache *pc, int cidx, int oidx,
                       int atidx, int i, const ct_Type *t, void *a) {
  int keep;
  /* a period that starts with too few finds stops caching at once */
  if (pc->caching && pc->nmiss >= PC_EARLY && pc->nhit * 2 < pc->nmiss)
    pc->caching = 0;
  keep = pc->caching || pc->nmiss % PC_SAMPLE == 0;
  pc->nmiss++;
  if (!pc->caching || lua_isnil(L, oidx) ||
      !ct_ptrcache_lookup(L, oidx, t, a)) {
    if (atidx == 0 || lua_rawgeti(L, atidx, i + 1) != LUA_TUSERDATA) {
      if (atidx != 0) lua_pop(L, 1);
      lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_PTYPES);
      lua_rawgetp(L, -1, t);                           /* ptypes, type */
      lua_replace(L, -2);
    }
    ct_assert(ct_totype(L, -1) == t);
    ct_pushcopy(L, t, -1, &a);                         /* type, obj */
    lua_replace(L, -2);                                /* obj */
  }
  if (keep) {
    lua_pushvalue(L, -1);
    lua_rawseti(L, cidx, (lua_Integer)(uintptr_t)a);
    if (pc->ncur < INT_MAX) pc->ncur++;
  }
}


/* records the types of sig's pointer arguments (its argtypes sequence at
** atidx), for ct_ptrcache_make when the callback is gone */
void ct_ptrcache_types (lua_State *L, const ct_Sig *sig, int atidx) {
  int i;
  atidx = lua_absindex(L, atidx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_PTYPES);
  for (i = 0; i < sig->nargs; i++) {
    if (sig->args[i]->kind != CT_POINTER) continue;
    lua_rawgeti(L, atidx, i + 1);
    ct_assert(ct_totype(L, -1) == sig->args[i]);
    lua_rawsetp(L, -2, sig->args[i]);
  }
  lua_pop(L, 1);
}


/* the current table becomes the old one (weak values) and a new current
** table starts, sized for as many objects as the last one got. With
** nothing put into the current table since the last rotation, the old
** table goes, and a current table sized for more is replaced by an empty
** one. (false, not nil, marks "no old table": a nil would free the
** registry index for luaL_ref.) */
static void rotate (lua_State *L, ct_PtrCache *pc) {
  /* the period that ends decides whether the cache pays: when at least one
  ** pointer argument in three was found (while it did not pay, only the
  ** sample could be found: its finds count PC_SAMPLE times) */
  if (pc->nhit + pc->nmiss >= 64)
    pc->caching = pc->nhit * 3 * (pc->caching ? 1 : PC_SAMPLE) >=
                  pc->nhit + pc->nmiss;
  pc->nhit = pc->nmiss = 0;
  if (pc->ncur == 0) {
    lua_pushboolean(L, 0);
    lua_rawseti(L, LUA_REGISTRYINDEX, pc->oldref);
    if (pc->cursize == 0) return;
    lua_newtable(L);
  }
  else {
    lua_rawgeti(L, LUA_REGISTRYINDEX, pc->curref);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_WEAKV);
    lua_setmetatable(L, -2);
    lua_rawseti(L, LUA_REGISTRYINDEX, pc->oldref);
    lua_createtable(L, 0, pc->ncur);
  }
  lua_rawseti(L, LUA_REGISTRYINDEX, pc->curref);
  pc->cursize = pc->ncur;
  pc->ncur = 0;
  pc->epoch++;
}


/* a new sentinel: an empty table nothing refers to, whose finalizer runs
** once the collection cycle in progress (or the next) has finished */
static void arm (lua_State *L) {
  lua_createtable(L, 0, 0);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_SENTINEL);
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
}


/* the sentinel's __gc: a collection cycle has finished. Upvalue 1: the
** cache (light userdata; it lives in the per-state record, which the
** registry holds until the state closes, and at lua_close every finalizer
** runs before any memory is freed) */
static int sentinel_gc (lua_State *L) {
  rotate(L, (ct_PtrCache *)lua_touserdata(L, lua_upvalueindex(1)));
  arm(L);
  return 0;
}


/* sets up the cache pc of this state (zeroed by the caller): a weak
** metatable, the types, the two tables, the first sentinel */
void ct_ptrcache_open (lua_State *L, ct_PtrCache *pc) {
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_WEAKV);
  lua_newtable(L);
  lua_insert(L, -2);
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_PTYPES);
  lua_newtable(L);
  pc->curref = luaL_ref(L, LUA_REGISTRYINDEX);
  pc->caching = 1;
  lua_pushboolean(L, 0);
  pc->oldref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_createtable(L, 0, 1);
  lua_pushlightuserdata(L, pc);
  lua_pushcclosure(L, sentinel_gc, 1);
  lua_setfield(L, -2, "__gc");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_SENTINEL);
  arm(L);
}
