/*
** callbacks_ref.c -- the hand-written binding bench/callbacks.lua measures
** lua-ctypes callbacks against: C comparators that lua_call the same Lua
** function directly. Also exports the C driver both sides use.
*/
#include <stdlib.h>

#include <lua.h>
#include <lauxlib.h>

/* the state and stack slots the hand-written comparators use (a bench
** binding, one sort at a time) */
static lua_State *ref_L;
static int ref_fidx, ref_mtidx;
static long ref_count;

/* the C driver both sides call: f(i, n - i) for i in 0..n-1 */
long bench_drive_ii (int (*f)(int, int), int n) {
  long sum = 0;
  int i;
  for (i = 0; i < n; i++) sum += f(i, n - i);
  return sum;
}

static int cmp_ii (int a, int b) {
  lua_State *L = ref_L;
  int r;
  lua_pushvalue(L, ref_fidx);
  lua_pushinteger(L, a);
  lua_pushinteger(L, b);
  lua_call(L, 2, 1);
  r = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return r;
}

/* the same, protected as any callback that must not unwind through C
** frames has to be: lua_pcall with a traceback message handler */
static int ref_msgh (lua_State *L) {
  luaL_traceback(L, L, lua_tostring(L, 1), 1);
  return 1;
}

static int cmp_ii_safe (int a, int b) {
  lua_State *L = ref_L;
  int r = 0;
  lua_pushcfunction(L, ref_msgh);
  lua_pushvalue(L, ref_fidx);
  lua_pushinteger(L, a);
  lua_pushinteger(L, b);
  if (lua_pcall(L, 2, 1, -4) == LUA_OK)
    r = (int)lua_tointeger(L, -1);
  lua_pop(L, 2);
  return r;
}

/* a boxed int pointer: box[0] reads the int */
static int box_index (lua_State *L) {
  int **p = (int **)lua_touserdata(L, 1);
  if (lua_tointeger(L, 2) != 0) return luaL_error(L, "bad index");
  lua_pushinteger(L, **p);
  return 1;
}

static void pushbox (lua_State *L, const int *p) {
  const int **b = (const int **)lua_newuserdatauv(L, sizeof(int *), 0);
  *b = p;
  lua_pushvalue(L, ref_mtidx);
  lua_setmetatable(L, -2);
}

static int cmp_ptr (const void *a, const void *b) {
  lua_State *L = ref_L;
  int r;
  ref_count++;
  lua_pushvalue(L, ref_fidx);
  pushbox(L, (const int *)a);
  pushbox(L, (const int *)b);
  lua_call(L, 2, 1);
  r = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return r;
}

/* drive_ii(fn, n) -> sum */
static int ref_drive_ii (lua_State *L) {
  int n = (int)luaL_checkinteger(L, 2);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  ref_L = L;
  ref_fidx = 1;
  lua_pushinteger(L, (lua_Integer)bench_drive_ii(cmp_ii, n));
  return 1;
}

/* drive_ii_safe(fn, n) -> sum, through the protected comparator */
static int ref_drive_ii_safe (lua_State *L) {
  int n = (int)luaL_checkinteger(L, 2);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  ref_L = L;
  ref_fidx = 1;
  lua_pushinteger(L, (lua_Integer)bench_drive_ii(cmp_ii_safe, n));
  return 1;
}

/* sort_ptr(address, n, fn) -> number of comparisons */
static int ref_sort_ptr (lua_State *L) {
  int *base = (int *)(intptr_t)luaL_checkinteger(L, 1);
  size_t n = (size_t)luaL_checkinteger(L, 2);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_settop(L, 3);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, box_index);
  lua_setfield(L, -2, "__index");
  ref_L = L;
  ref_fidx = 3;
  ref_mtidx = 4;
  ref_count = 0;
  qsort(base, n, sizeof(int), cmp_ptr);
  lua_pushinteger(L, ref_count);
  return 1;
}

int luaopen_callbacks_ref (lua_State *L) {
  luaL_Reg funcs[] = {
    { "drive_ii", ref_drive_ii },
    { "drive_ii_safe", ref_drive_ii_safe },
    { "sort_ptr", ref_sort_ptr },
    { NULL, NULL }
  };
  luaL_newlib(L, funcs);
  return 1;
}
