/*
** calls_binding.c -- the yardstick for bench/calls.lua: three small C
** functions, exported so that lua-ctypes can load them with CDLL, and a
** hand-written Lua C binding of the same three functions (luaopen_
** calls_binding), written the way one would by hand: luaL_check*, the call,
** lua_push*. Both sides call the same code through the same kind of call.
** Beside it, not a yardstick: addobj(), the structural floor of a call
** through a function object (see below).
*/
#include <lua.h>
#include <lauxlib.h>
#include <stdint.h>

typedef struct { double x, y; } bench_Vec2;

__attribute__((noinline, visibility("default")))
int bench_add (int a, int b) { return a + b; }

__attribute__((noinline, visibility("default")))
double bench_six (int a, double b, const int *p, long c, double d, int e) {
  return a + b + (p ? *p : 0) + (double)c + d + e;
}

__attribute__((noinline, visibility("default")))
double bench_dot (bench_Vec2 v, bench_Vec2 w) { return v.x * w.x + v.y * w.y; }

/* function pointers so the binding calls through an indirect call too */
static int (*volatile p_add) (int, int) = bench_add;
static double (*volatile p_six) (int, double, const int *, long, double,
                                 int) = bench_six;
static double (*volatile p_dot) (bench_Vec2, bench_Vec2) = bench_dot;

static int l_add (lua_State *L) {
  int a = (int)luaL_checkinteger(L, 1);
  int b = (int)luaL_checkinteger(L, 2);
  lua_pushinteger(L, p_add(a, b));
  return 1;
}

static int l_six (lua_State *L) {
  int a = (int)luaL_checkinteger(L, 1);
  double b = luaL_checknumber(L, 2);
  const int *p = (const int *)(intptr_t)luaL_checkinteger(L, 3);
  long c = (long)luaL_checkinteger(L, 4);
  double d = luaL_checknumber(L, 5);
  int e = (int)luaL_checkinteger(L, 6);
  lua_pushnumber(L, p_six(a, b, p, c, d, e));
  return 1;
}

/* The floor of calling a function object, as ctypes' function objects
** are (they carry argtypes, restype ... so they are userdata, not Lua
** functions): addobj() is a userdata whose protected metatable's __call
** does what l_add does. Lua's own __call dispatch (finding the metamethod,
** moving the arguments up) and reading the object are what it adds. */
#define FOBJ_MT "calls_binding.fobj"

static int fobj_call (lua_State *L) {
  int (*const *f) (int, int) =
    (int (*const *) (int, int))lua_touserdata(L, 1);  /* protected: only
                                                          fobj objects */
  int a = (int)luaL_checkinteger(L, 2);
  int b = (int)luaL_checkinteger(L, 3);
  lua_pushinteger(L, (*f)(a, b));
  return 1;
}

static int l_addobj (lua_State *L) {
  int (**f) (int, int) =
    (int (**) (int, int))lua_newuserdatauv(L, sizeof *f, 0);
  *f = p_add;
  luaL_setmetatable(L, FOBJ_MT);
  return 1;
}

#define VEC2_MT "calls_binding.Vec2"

static int l_vec2 (lua_State *L) {
  bench_Vec2 *v = (bench_Vec2 *)lua_newuserdatauv(L, sizeof *v, 0);
  v->x = luaL_checknumber(L, 1);
  v->y = luaL_checknumber(L, 2);
  luaL_setmetatable(L, VEC2_MT);
  return 1;
}

static int l_dot (lua_State *L) {
  bench_Vec2 *v = (bench_Vec2 *)luaL_checkudata(L, 1, VEC2_MT);
  bench_Vec2 *w = (bench_Vec2 *)luaL_checkudata(L, 2, VEC2_MT);
  lua_pushnumber(L, p_dot(*v, *w));
  return 1;
}

__attribute__((visibility("default")))
int luaopen_calls_binding (lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"add", l_add}, {"six", l_six}, {"vec2", l_vec2}, {"dot", l_dot},
    {"addobj", l_addobj}, {NULL, NULL}
  };
  luaL_newmetatable(L, VEC2_MT);
  lua_pop(L, 1);
  luaL_newmetatable(L, FOBJ_MT);
  lua_pushcfunction(L, fobj_call);
  lua_setfield(L, -2, "__call");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  return 1;
}
