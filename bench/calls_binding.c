/*
** calls_binding.c -- the yardstick for bench/calls.lua: three small C
** functions, exported so that lua-ctypes can load them with CDLL, and a
** hand-written Lua C binding of the same three functions (luaopen_
** calls_binding), written the way one would by hand: luaL_check*, the call,
** lua_push*. Both sides call the same code through the same kind of call.
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
    {NULL, NULL}
  };
  luaL_newmetatable(L, VEC2_MT);
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  return 1;
}
