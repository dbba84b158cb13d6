/*
** conv.c -- the conversion layer: every Lua -> C store and C -> Lua load by
** type descriptor (stores into memory, call arguments, callback results;
** loads of results, callback arguments, memory), with the one message form
** "expected <T>, got <what>" that callers number by argument. The scalar
** rules themselves are scalar.c's (ct_scalar_set/ct_scalar_push and the
** inline fast halves in ctypes.h that the hot paths of call.c and
** callback.c use).
*/
#include <stdint.h>
#include <string.h>

#include "ctypes.h"


/* {======================================================================
** Stores and loads by descriptor
** ======================================================================= */

static ct_Type *prototype (lua_State *L, int tidx) {
  ct_Type *e;
  lua_getiuservalue(L, tidx, CT_TUV_PROTO);
  e = ct_totype(L, -1);
  lua_pop(L, 1);   /* the type keeps it alive */
  return e;
}


/* A table initialiser for an aggregate: built in a temporary instance, whose
** keep table holds whatever the initialiser made the memory point into; the
** caller keeps that instance (pushed) alive with the copy. */
static int fromtable (lua_State *L, int tidx, void *p, int idx,
                      int (*init) (lua_State *, int, void *, int, int)) {
  ct_CData *tmp = ct_newcdata(L, tidx);
  init(L, tidx, tmp->ptr, idx, lua_gettop(L));
  memcpy(p, tmp->ptr, tmp->size);
  return CT_CONV_KEEPTOP;
}


int ct_tocvalue (lua_State *L, int tidx, void *p, int idx) {
  ct_Type *t;
  ct_CData *cd;
  tidx = lua_absindex(L, tidx);
  idx = lua_absindex(L, idx);
  t = (ct_Type *)lua_touserdata(L, tidx);
  if (t->kind == CT_SIMPLE) {
    if (t->flags & CT_SWAPPED) {       /* big/little-endian twin of a scalar */
      unsigned char tmp[sizeof(long double)];
      int r = ct_scalar_set(L, t->scalar, tmp, idx, tidx);
      if (r != CT_CONV_FAIL) {            /* a rejected value changes nothing */
        ct_bswap(tmp, t->size);
        memcpy(p, tmp, t->size);
      }
      return r;
    }
    return ct_scalar_set(L, t->scalar, p, idx, tidx);
  }
  cd = lua_type(L, idx) == LUA_TUSERDATA ? ct_tocdata(L, idx) : NULL;
  if (cd != NULL && cd->type == t) {       /* the same type: copy */
    memcpy(p, cd->ptr, t->size);
    return ct_ispointerlike(t) ? CT_CONV_KEEPARG : CT_CONV_OK;
  }
  switch (t->kind) {
    case CT_POINTER: {
      ct_Type *e = prototype(L, tidx);
      if (lua_isnil(L, idx)) { ct_storeptr(p, NULL); return CT_CONV_OK; }
      if (cd != NULL) {
        if (cd->type == e) {             /* an instance: its address */
          ct_storeptr(p, cd->ptr);
          return CT_CONV_KEEPARG;
        }
        if (cd->type->kind == CT_ARRAY) {
          lua_getiuservalue(L, idx, CT_UV_TYPE);
          if (prototype(L, -1) == e) {
            lua_pop(L, 1);
            ct_storeptr(p, cd->ptr);
            return CT_CONV_KEEPARG;
          }
          lua_pop(L, 1);
        }
      }
      else if (lua_type(L, idx) == LUA_TUSERDATA) {
        void *a = ct_tobyref(L, idx);
        if (a != NULL) {                 /* byref(obj): obj must be a T */
          ct_CData *o;
          lua_getiuservalue(L, idx, 1);
          o = ct_tocdata(L, -1);
          lua_pop(L, 1);
          if (o != NULL && o->type == e) {
            ct_storeptr(p, a);
            return CT_CONV_KEEPARG;
          }
        }
      }
      return ct_pushexpected(L, tidx, idx);
    }
    case CT_ARRAY:
      if (lua_istable(L, idx))
        return fromtable(L, tidx, p, idx, ct_array_init);
      if (lua_type(L, idx) == LUA_TSTRING) {
        ct_Type *e = prototype(L, tidx);
        if (e->kind == CT_SIMPLE && (e->scalar == CT_CHAR ||
                                     e->scalar == CT_WCHAR))
          return ct_array_init(L, tidx, p, idx, idx);
      }
      return ct_pushexpected(L, tidx, idx);
    case CT_STRUCT: case CT_UNION:
      if (lua_istable(L, idx))
        return fromtable(L, tidx, p, idx, ct_struct_init);
      return ct_pushexpected(L, tidx, idx);
    case CT_FUNC:
      if (lua_isnil(L, idx)) { ct_storeptr(p, NULL); return CT_CONV_OK; }
      return ct_pushexpected(L, tidx, idx);
    default:
      return ct_pushexpected(L, tidx, idx);
  }
}


void ct_setvalue (lua_State *L, int cdidx, int tidx, void *p, int idx,
                  const char *what) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, tidx);
  int r;
  cdidx = lua_absindex(L, cdidx);
  idx = lua_absindex(L, idx);
  r = ct_tocvalue(L, tidx, p, idx);
  if (r == CT_CONV_FAIL) {
    if (what != NULL)
      ct_error(L, "TypeError", "%s: %s", what, lua_tostring(L, -1));
    ct_error(L, "TypeError", "%s", lua_tostring(L, -1));
  }
  if (t->kind == CT_ARRAY || t->kind == CT_STRUCT || t->kind == CT_UNION) {
    /* an aggregate copied in from an instance (or the temporary a table
    ** initialiser was built in): its pointers' keep-alives move along */
    ct_CData *src = ct_tocdata(L, r == CT_CONV_KEEPTOP ? -1 : idx);
    if (src != NULL)
      ct_rebasekeeps(L, r == CT_CONV_KEEPTOP ? -1 : idx, src->ptr, t->size,
                     cdidx, p);
    if (r == CT_CONV_KEEPTOP) lua_pop(L, 1);
    return;
  }
  switch (r) {
    case CT_CONV_KEEPARG:
      ct_keepvalue(L, cdidx, p, idx);
      break;
    case CT_CONV_KEEPTOP:
      ct_keep(L, cdidx, p, -1);
      lua_pop(L, 1);
      break;
    default:
      /* a pointer slot overwritten with a plain value drops what it kept */
      if (ct_ispointerlike(t))
        ct_keep(L, cdidx, p, 0);
      break;
  }
}


/* the value of a scalar at p, honouring a non-native byte order */
void ct_pushscalarvalue (lua_State *L, const ct_Type *t, const void *p) {
  if (t->flags & CT_SWAPPED) {
    unsigned char tmp[sizeof(long double)];
    memcpy(tmp, p, t->size);
    ct_bswap(tmp, t->size);
    ct_scalar_push(L, t->scalar, tmp);
  }
  else
    ct_scalar_push(L, t->scalar, p);
}


void ct_pushvalue (lua_State *L, int tidx, const void *p, int baseidx) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, tidx);
  if (t->kind == CT_SIMPLE)
    ct_pushscalarvalue(L, t, p);
  else if (baseidx != 0)
    ct_newview(L, tidx, (void *)p, baseidx);
  else {
    ct_CData *cd = ct_newcdata(L, tidx);
    memcpy(cd->ptr, p, t->size);
  }
}

/* } ====================================================================== */


/* {======================================================================
** Call arguments (ctypes' from_param): the declared type's rules plus what
** C code would pass
** ======================================================================= */

/* replaces the value at idx by its _as_parameter_ (tables, repeatedly);
** returns the index of the value to convert */
static int asparam (lua_State *L, int idx) {
  int depth = 0;
  while (lua_type(L, idx) == LUA_TTABLE) {
    luaL_checkstack(L, 2, "too many arguments");
    if (lua_getfield(L, idx, "_as_parameter_") == LUA_TNIL) {
      lua_pop(L, 1);
      break;
    }
    idx = lua_gettop(L);
    if (++depth > 16) break;
  }
  return idx;
}


/* Converts the Lua value at idx to an argument of the type at tidx (argument
** number argn). The value goes to slot, or stays in memory that the stack
** keeps alive; returns its address. Objects the value points into stay on
** the stack until the call returns. */
void *ct_conv_arg (lua_State *L, int argn, int tidx, const ct_Arg *a,
                        int idx, ct_Slot *slot) {
  ct_Type *t = a->t;
  ct_CData *cd;
  int r;
  tidx = lua_absindex(L, tidx);
  if (a->hasfp) {              /* the body's from_param(T, value) */
    lua_getiuservalue(L, tidx, CT_TUV_BODY);
    lua_getfield(L, -1, "from_param");
    lua_remove(L, -2);
    lua_pushvalue(L, tidx);
    lua_pushvalue(L, idx);
    lua_call(L, 2, 1);
    idx = lua_gettop(L);
  }
  idx = asparam(L, idx);
  cd = lua_type(L, idx) == LUA_TUSERDATA ? ct_tocdata(L, idx) : NULL;
  switch (t->kind) {
    case CT_STRUCT: case CT_UNION:
      if (cd != NULL && cd->type == t) return cd->ptr;
      if (lua_istable(L, idx)) {
        ct_CData *tmp = ct_newcdata(L, tidx);
        r = ct_tocvalue(L, tidx, tmp->ptr, idx);
        if (r == CT_CONV_FAIL) break;
        /* what the initialiser made it point into stays on the stack */
        return tmp->ptr;
      }
      ct_pushexpected(L, tidx, idx);
      r = CT_CONV_FAIL;
      break;
    case CT_ARRAY:
      /* arrays pass as pointers to their first element */
      if (cd != NULL && cd->type == t) { slot->p = cd->ptr; return slot; }
      if (lua_istable(L, idx) || lua_type(L, idx) == LUA_TSTRING) {
        ct_CData *tmp = ct_newcdata(L, tidx);
        r = ct_tocvalue(L, tidx, tmp->ptr, idx);
        if (r == CT_CONV_FAIL) break;
        slot->p = tmp->ptr;
        return slot;
      }
      ct_pushexpected(L, tidx, idx);
      r = CT_CONV_FAIL;
      break;
    case CT_FUNC:
      if (lua_isfunction(L, idx)) {
        /* the function's callback of this type (it lives as long as the
        ** function: callback.c) */
        ct_CData *cb;
        ct_callback_auto(L, tidx, idx);
        cb = ct_tocdata(L, -1);
        if (cb == NULL)
          ct_argerror(L, argn, "cannot make a callback");
        slot->p = ct_pointervalue(cb);
        return slot;
      }
      if (cd != NULL && cd->type->kind == CT_FUNC) {
        if (!ct_func_samesig(t, cd->type)) {
          /* C would call it with the wrong arguments: a callback would read
          ** them as what they are not (pointers...), its closure would
          ** store the wrong result */
          lua_getiuservalue(L, idx, CT_UV_TYPE);
          ct_func_pushsig(L, tidx);
          ct_func_pushsig(L, -2);
          ct_argerror(L, argn, "expected a function %s, got a function %s",
                      lua_tostring(L, -2), lua_tostring(L, -1));
        }
        slot->p = ct_pointervalue(cd);
        return slot;
      }
      r = ct_tocvalue(L, tidx, slot, idx);
      break;
    case CT_POINTER:
      if (cd != NULL && cd->type->kind == CT_POINTER) {
        /* any pointer to the same pointee type */
        lua_getiuservalue(L, tidx, CT_TUV_PROTO);
        lua_getiuservalue(L, idx, CT_UV_TYPE);
        lua_getiuservalue(L, -1, CT_TUV_PROTO);
        r = lua_rawequal(L, -1, -3);
        lua_pop(L, 3);
        if (r) { slot->p = ct_pointervalue(cd); return slot; }
      }
      r = ct_tocvalue(L, tidx, slot, idx);
      break;
    default:
      r = ct_tocvalue(L, tidx, slot, idx);
      break;
  }
  if (r == CT_CONV_FAIL)
    ct_argerror(L, argn, "%s", lua_tostring(L, -1));
  /* CT_CONV_KEEPTOP: the new object stays on the stack for the call */
  return slot;
}


/* Converts the Lua value at idx by its Lua type (no argtypes, or a variadic
** extra when promote is set: C's default argument promotions). */
void *ct_conv_vararg (lua_State *L, int argn, int idx, ct_Slot *slot,
                          ffi_type **ft, int promote) {
  *ft = &ffi_type_pointer;
  idx = asparam(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        if (v < INT32_MIN || v > (lua_Integer)UINT32_MAX)
          ct_argerror(L, argn, "OverflowError: int too long to convert (%I "
                      "does not fit in c_int; declare argtypes)", v);
        slot->i = 0;
        *(int *)slot = (int)(int64_t)v;
        *ft = &ffi_type_sint;
      }
      else {
        slot->d = lua_tonumber(L, idx);
        *ft = &ffi_type_double;
      }
      return slot;
    case LUA_TSTRING:
      slot->p = (void *)lua_tostring(L, idx);
      return slot;
    case LUA_TNIL:
      slot->p = NULL;
      return slot;
    case LUA_TBOOLEAN:
      slot->i = 0;
      *(int *)slot = lua_toboolean(L, idx);
      *ft = &ffi_type_sint;
      return slot;
    case LUA_TUSERDATA: {
      ct_CData *cd = ct_tocdata(L, idx);
      if (cd != NULL) {
        ct_Type *t = cd->type;
        switch (t->kind) {
          case CT_SIMPLE:
            if (ct_ispointerlike(t)) {
              slot->p = ct_pointervalue(cd);
              return slot;
            }
            /* the bytes go through the slot: the instance may be unaligned
            ** (from_buffer at an odd offset), and a c_bool may hold any
            ** byte (any non-zero byte is true; C wants 0 or 1) */
            slot->i = 0;
            memcpy(slot, cd->ptr, t->size);
            if (t->scalar == CT_BOOL) slot->b[0] = slot->b[0] != 0;
            *ft = t->ffi;
            if (promote) {
              if (t->scalar == CT_FLOAT) {
                float f;
                memcpy(&f, slot, sizeof f);
                slot->d = (double)f;
                *ft = &ffi_type_double;
              }
              else if (t->size < sizeof(int)) {
                int v;
                short sh;
                unsigned short ush;
                switch (t->scalar) {
                  case CT_BOOL: v = slot->b[0]; break;
                  case CT_CHAR: v = (char)slot->b[0]; break;
                  case CT_BYTE: v = (signed char)slot->b[0]; break;
                  case CT_UBYTE: v = slot->b[0]; break;
                  case CT_SHORT: memcpy(&sh, slot, sizeof sh); v = sh; break;
                  default: memcpy(&ush, slot, sizeof ush); v = ush; break;
                }
                slot->i = 0;
                *(int *)slot = v;
                *ft = &ffi_type_sint;
              }
            }
            return slot;
          case CT_STRUCT: case CT_UNION:
            lua_getiuservalue(L, idx, CT_UV_TYPE);
            *ft = ct_ffitype(L, -1);
            lua_pop(L, 1);
            return cd->ptr;
          case CT_ARRAY:
            slot->p = cd->ptr;
            return slot;
          default:             /* pointers, functions */
            slot->p = ct_pointervalue(cd);
            return slot;
        }
      }
      slot->p = ct_tobyref(L, idx);
      if (slot->p != NULL) return slot;
      break;
    }
    default: break;
  }
  ct_argerror(L, argn, "TypeError: Don't know how to convert parameter %d "
              "(%s)", argn, ct_describe(L, idx));
  return NULL;
}

/* } ====================================================================== */
