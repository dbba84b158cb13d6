/*
** objects_binding.c -- the yardstick for bench/objects.lua: a hand-written
** Lua C binding of the objects lua-ctypes makes, written the way a careful
** hand-written binding is: the metatable compared by address with the one
** held as an upvalue (no registry lookup by name), keys, indexes and values
** checked (luaL_check*, explicit bounds checks):
**   vec     a userdata struct { int x, y; } with __index/__newindex
**   ints    an int array userdata: a[i], a[i] = v, 0-based, bounds checked
**   int     a boxed int: int(v), .value
**   sort    qsort of an int array with a comparator that lua_calls a Lua
**           function with the two ints (a hand-written *int* comparator),
**           or with a plain C comparator (what qsort costs on its own)
**   add_i   int bench_add_i(int, int), exported so that lua-ctypes, Python's
**           ctypes and LuaJIT's ffi can load it too (found in the module
**           table: a namespace lookup on every call)
** and one structural floor, not a yardstick:
**   sortp   qsort of an int array with the comparator shaped as lua-ctypes
**           must shape it: each argument a pointer object read with p[0],
**           the Lua comparator called protected; written as cheaply as that
**           shape allows (see "sortp" below)
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

/* {=============================== the C side ========================== */

__attribute__((noinline, visibility("default")))
int bench_add_i (int a, int b) { return a + b; }

/* fills n ints with the same pseudo-random sequence every bench uses
** (seed 12345, x = (x * 1103515245 + 12345) mod 2^31, value x mod 10^6) */
__attribute__((noinline, visibility("default")))
void bench_fill (int *a, int n) {
  uint64_t seed = 12345;
  int i;
  for (i = 0; i < n; i++) {
    seed = (seed * 1103515245u + 12345u) % 2147483648u;
    a[i] = (int)(seed % 1000000u);
  }
}

/* 1 if sorted */
__attribute__((noinline, visibility("default")))
int bench_sorted (const int *a, int n) {
  int i;
  for (i = 1; i < n; i++)
    if (a[i - 1] > a[i]) return 0;
  return 1;
}

static int (*volatile p_add) (int, int) = bench_add_i;

/* } */


/* the userdata at 1 if its metatable is upvalue 1, else an error */
static void *checkself (lua_State *L, const char *what) {
  void *p = lua_touserdata(L, 1);
  if (p != NULL && lua_getmetatable(L, 1)) {
    int same = lua_rawequal(L, -1, lua_upvalueindex(1));
    lua_pop(L, 1);
    if (same) return p;
  }
  luaL_typeerror(L, 1, what);
  return NULL;
}

/* {=============================== vec ================================= */

#define VEC_MT "objects_binding.vec"

typedef struct { int x, y; } Vec;

static int vec_new (lua_State *L) {
  int x = (int)luaL_optinteger(L, 1, 0);
  int y = (int)luaL_optinteger(L, 2, 0);
  Vec *v = (Vec *)lua_newuserdatauv(L, sizeof *v, 0);
  v->x = x;
  v->y = y;
  luaL_setmetatable(L, VEC_MT);
  return 1;
}

static int *vec_field (lua_State *L, Vec *v) {
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "x") == 0) return &v->x;
  if (strcmp(k, "y") == 0) return &v->y;
  luaL_error(L, "vec has no field '%s'", k);
  return NULL;
}

static int vec_index (lua_State *L) {
  Vec *v = (Vec *)checkself(L, "vec");
  lua_pushinteger(L, *vec_field(L, v));
  return 1;
}

static int vec_newindex (lua_State *L) {
  Vec *v = (Vec *)checkself(L, "vec");
  int *p = vec_field(L, v);
  *p = (int)luaL_checkinteger(L, 3);
  return 0;
}

/* } */


/* {=============================== ints ================================ */

#define INTS_MT "objects_binding.ints"

typedef struct { lua_Integer n; int a[1]; } Ints;

static int ints_new (lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  Ints *a;
  luaL_argcheck(L, n >= 1 && n <= 100000000, 1, "bad length");
  a = (Ints *)lua_newuserdatauv(L, offsetof(Ints, a) + (size_t)n * sizeof(int),
                                0);
  a->n = n;
  memset(a->a, 0, (size_t)n * sizeof(int));
  luaL_setmetatable(L, INTS_MT);
  return 1;
}

static int *ints_slot (lua_State *L, Ints *a) {
  lua_Integer i = luaL_checkinteger(L, 2);
  if (i < 0 || i >= a->n) luaL_error(L, "index %d out of range", (int)i);
  return &a->a[i];
}

static int ints_index (lua_State *L) {
  Ints *a = (Ints *)checkself(L, "ints");
  lua_pushinteger(L, *ints_slot(L, a));
  return 1;
}

static int ints_newindex (lua_State *L) {
  Ints *a = (Ints *)checkself(L, "ints");
  int *p = ints_slot(L, a);
  *p = (int)luaL_checkinteger(L, 3);
  return 0;
}

static int ints_len (lua_State *L) {
  Ints *a = (Ints *)checkself(L, "ints");
  lua_pushinteger(L, a->n);
  return 1;
}

/* the address of the first element (for qsort from lua-ctypes' side) */
static int ints_address (lua_State *L) {
  Ints *a = (Ints *)luaL_checkudata(L, 1, INTS_MT);
  lua_pushinteger(L, (lua_Integer)(intptr_t)a->a);
  return 1;
}

/* } */


/* {=============================== int ================================= */

#define INT_MT "objects_binding.int"

static int int_new (lua_State *L) {
  int v = (int)luaL_checkinteger(L, 1);
  int *p = (int *)lua_newuserdatauv(L, sizeof(int), 0);
  *p = v;
  luaL_setmetatable(L, INT_MT);
  return 1;
}

static int int_index (lua_State *L) {
  int *p = (int *)checkself(L, "int");
  if (strcmp(luaL_checkstring(L, 2), "value") != 0)
    return luaL_error(L, "int has no field '%s'", lua_tostring(L, 2));
  lua_pushinteger(L, *p);
  return 1;
}

/* ref(box): a pointer to a boxed int's value that keeps the box alive (its
** user value), as pointer(x) does */
#define REF_MT "objects_binding.ref"

static int ref_new (lua_State *L) {
  int *target = (int *)luaL_checkudata(L, 1, INT_MT);
  int **p = (int **)lua_newuserdatauv(L, sizeof(int *), 1);
  *p = target;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, REF_MT);
  return 1;
}

/* } */


/* {=============================== sort ================================ */

/* the state and stack slot the comparator uses (one sort at a time) */
static lua_State *sort_L;
static int sort_fidx;
static long sort_count;

static int cmp_lua (const void *a, const void *b) {
  lua_State *L = sort_L;
  int r;
  sort_count++;
  lua_pushvalue(L, sort_fidx);
  lua_pushinteger(L, *(const int *)a);
  lua_pushinteger(L, *(const int *)b);
  lua_call(L, 2, 1);
  r = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return r;
}

static int cmp_c (const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  sort_count++;
  return (x > y) - (x < y);
}

/* sort(ints, n, fn) -> number of comparisons (sorts the first n; fn nil: a
** C comparator) */
static int l_sort (lua_State *L) {
  Ints *a = (Ints *)luaL_checkudata(L, 1, INTS_MT);
  lua_Integer n = luaL_checkinteger(L, 2);
  int c = lua_isnoneornil(L, 3);
  luaL_argcheck(L, n >= 0 && n <= a->n, 2, "bad count");
  if (!c) luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_settop(L, 3);
  sort_L = L;
  sort_fidx = 3;
  sort_count = 0;
  qsort(a->a, (size_t)n, sizeof(int), c ? cmp_c : cmp_lua);
  lua_pushinteger(L, sort_count);
  return 1;
}

/* The floor of the qsort row's shape, written as cheaply as it can be
** while still safe: each comparator argument is a pointer object (a
** userdata holding an int *) that the Lua function reads with p[0] through
** __index, found again by address in a table (made on a miss, protected:
** making one allocates), and the Lua function is called with lua_pcall, as
** no Lua error may unwind through qsort's frames (an error compares equal).
** It checks less than lua-ctypes must: its objects cannot change address
** or type (no .contents =, no resize), so a cached one is not checked
** again, and p[0] has no NULL or type check. */
#define PTR_MT "objects_binding.ptr"

static int sortp_cidx;  /* the cache table's stack slot */

static int ptr_index (lua_State *L) {
  int *const *u = (int *const *)lua_touserdata(L, 1);  /* its metatable is
                                                          protected */
  lua_Integer i = luaL_checkinteger(L, 2);
  lua_pushinteger(L, (*u)[i]);
  return 1;
}

/* (cache, address) -> a new pointer object, kept in the cache */
static int ptr_make (lua_State *L) {
  lua_Integer a = lua_tointeger(L, 2);
  const int **u = (const int **)lua_newuserdatauv(L, sizeof *u, 0);
  *u = (const int *)(uintptr_t)a;
  luaL_setmetatable(L, PTR_MT);
  lua_pushvalue(L, -1);
  lua_rawseti(L, 1, a);
  return 1;
}

/* pushes the pointer object for p; 0 if it could not be made */
static int pushptr (lua_State *L, const int *p) {
  lua_Integer a = (lua_Integer)(uintptr_t)p;
  if (lua_rawgeti(L, sortp_cidx, a) == LUA_TUSERDATA) return 1;
  lua_pop(L, 1);
  lua_pushcfunction(L, ptr_make);
  lua_pushvalue(L, sortp_cidx);
  lua_pushinteger(L, a);
  return lua_pcall(L, 2, 1, 0) == LUA_OK;
}

static int cmp_ptr (const void *a, const void *b) {
  lua_State *L = sort_L;
  int top = lua_gettop(L), r = 0, isnum;
  sort_count++;
  lua_pushvalue(L, sort_fidx);
  if (pushptr(L, (const int *)a) && pushptr(L, (const int *)b) &&
      lua_pcall(L, 2, 1, 0) == LUA_OK) {
    r = (int)lua_tointegerx(L, -1, &isnum);
    if (!isnum) r = 0;
  }
  lua_settop(L, top);
  return r;
}

/* sortp(ints, n, fn) -> number of comparisons: sort() with cmp_ptr */
static int l_sortp (lua_State *L) {
  Ints *a = (Ints *)luaL_checkudata(L, 1, INTS_MT);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0 && n <= a->n, 2, "bad count");
  luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_settop(L, 3);
  lua_getfield(L, LUA_REGISTRYINDEX, PTR_MT ".cache");  /* 4: the cache,
                                                           kept across sorts
                                                           as lua-ctypes'
                                                           is */
  luaL_checkstack(L, 8, NULL);
  sort_L = L;
  sort_fidx = 3;
  sortp_cidx = 4;
  sort_count = 0;
  qsort(a->a, (size_t)n, sizeof(int), cmp_ptr);
  lua_pushinteger(L, sort_count);
  return 1;
}

/* fill(ints, n): bench_fill on the first n */
static int l_fill (lua_State *L) {
  Ints *a = (Ints *)luaL_checkudata(L, 1, INTS_MT);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0 && n <= a->n, 2, "bad count");
  bench_fill(a->a, (int)n);
  return 0;
}

static int l_sorted (lua_State *L) {
  Ints *a = (Ints *)luaL_checkudata(L, 1, INTS_MT);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0 && n <= a->n, 2, "bad count");
  lua_pushboolean(L, bench_sorted(a->a, (int)n));
  return 1;
}

/* } */


static int l_add_i (lua_State *L) {
  int a = (int)luaL_checkinteger(L, 1);
  int b = (int)luaL_checkinteger(L, 2);
  lua_pushinteger(L, p_add(a, b));
  return 1;
}


/* the metatable `name` with the metamethods m, each with the metatable as
** upvalue 1 */
static void newmt (lua_State *L, const char *name, const luaL_Reg *m) {
  luaL_newmetatable(L, name);
  lua_pushvalue(L, -1);
  luaL_setfuncs(L, m, 1);
  lua_pop(L, 1);
}

__attribute__((visibility("default")))
int luaopen_objects_binding (lua_State *L) {
  static const luaL_Reg vec_m[] = {
    {"__index", vec_index}, {"__newindex", vec_newindex}, {NULL, NULL}
  };
  static const luaL_Reg ints_m[] = {
    {"__index", ints_index}, {"__newindex", ints_newindex},
    {"__len", ints_len}, {NULL, NULL}
  };
  static const luaL_Reg int_m[] = {
    {"__index", int_index}, {NULL, NULL}
  };
  static const luaL_Reg funcs[] = {
    {"vec", vec_new}, {"ints", ints_new}, {"int", int_new},
    {"address", ints_address}, {"sort", l_sort}, {"fill", l_fill},
    {"sorted", l_sorted}, {"add_i", l_add_i}, {"ref", ref_new},
    {"sortp", l_sortp}, {NULL, NULL}
  };
  static const luaL_Reg ptr_m[] = {
    {"__index", ptr_index}, {NULL, NULL}
  };
  newmt(L, VEC_MT, vec_m);
  newmt(L, INTS_MT, ints_m);
  newmt(L, INT_MT, int_m);
  {
    static const luaL_Reg none[] = {{NULL, NULL}};
    newmt(L, REF_MT, none);
  }
  newmt(L, PTR_MT, ptr_m);
  luaL_getmetatable(L, PTR_MT);
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, PTR_MT ".cache");
  luaL_newlib(L, funcs);
  return 1;
}
