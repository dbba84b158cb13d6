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
  init(L, tidx, ct_cdptr(tmp), idx, lua_gettop(L));
  memcpy(p, ct_cdptr(tmp), ct_cdsize(tmp));
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
    memcpy(p, ct_cdptr(cd), t->size);
    return ct_ispointerlike(t) ? CT_CONV_KEEPARG : CT_CONV_OK;
  }
  switch (t->kind) {
    case CT_POINTER: {
      ct_Type *e = prototype(L, tidx);
      if (lua_isnil(L, idx)) { ct_storeptr(p, NULL); return CT_CONV_OK; }
      if (cd != NULL) {
        if (cd->type == e) {             /* an instance: its address */
          ct_storeptr(p, ct_cdptr(cd));
          return CT_CONV_KEEPARG;
        }
        if (cd->type->kind == CT_ARRAY) {
          ct_pushcdtype(L, idx);
          if (prototype(L, -1) == e) {
            lua_pop(L, 1);
            ct_storeptr(p, ct_cdptr(cd));
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
      if (ct_isdatatable(L, idx))
        return fromtable(L, tidx, p, idx, ct_array_init);
      if (lua_type(L, idx) == LUA_TSTRING) {
        ct_Type *e = prototype(L, tidx);
        if (e->kind == CT_SIMPLE && (e->scalar == CT_CHAR ||
                                     e->scalar == CT_WCHAR))
          return ct_array_init(L, tidx, p, idx, idx);
      }
      return ct_pushexpected(L, tidx, idx);
    case CT_STRUCT: case CT_UNION:
      if (ct_isdatatable(L, idx))
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
      ct_rebasekeeps(L, r == CT_CONV_KEEPTOP ? -1 : idx, ct_cdptr(src), t->size,
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
  else
    ct_pushcopy(L, t, tidx, p);
}

/* } ====================================================================== */


/* {======================================================================
** Call arguments (ctypes' from_param): the declared type's rules plus what
** C code would pass
** ======================================================================= */

#define MAXASPARAM 32   /* _as_parameter_ chains: longer ones are an error */

/* Replaces the value at idx by its _as_parameter_, repeatedly (tables); the
** values pushed stay on the stack. Returns the index of the value to
** convert, or 0 with a message pushed: a chain that comes back to a table
** it passed (a cycle) or is longer than MAXASPARAM. */
static int asparam (lua_State *L, int idx) {
  const void *seen[MAXASPARAM];
  int depth = 0, i;
  while (lua_type(L, idx) == LUA_TTABLE) {
    const void *p = lua_topointer(L, idx);
    for (i = 0; i < depth; i++) {
      if (seen[i] == p) {
        lua_pushfstring(L, "ValueError: _as_parameter_ cycle: %s at step %d "
                        "is the value of step %d", luaL_typename(L, idx),
                        depth, i);
        return 0;
      }
    }
    if (depth == MAXASPARAM) {
      lua_pushfstring(L, "ValueError: _as_parameter_ chain longer than %d",
                      MAXASPARAM);
      return 0;
    }
    seen[depth++] = p;
    luaL_checkstack(L, 2, "too many arguments");
    if (lua_getfield(L, idx, "_as_parameter_") == LUA_TNIL) {
      lua_pop(L, 1);
      break;
    }
    idx = lua_gettop(L);
  }
  return idx;
}


/* the object a byref() at idx refers to, if it is one: its type (the object
** pushed is popped again; the byref keeps it alive) and the address */
static const ct_Type *byrefof (lua_State *L, int idx, void **addr) {
  ct_CData *o;
  if (lua_type(L, idx) != LUA_TUSERDATA ||
      (*addr = ct_tobyref(L, idx)) == NULL)
    return NULL;
  lua_getiuservalue(L, idx, 1);
  o = ct_tocdata(L, -1);
  lua_pop(L, 1);
  return o != NULL ? o->type : NULL;
}


/* whether t is the character type code (c_char, c_wchar) or an array of
** it */
static int ischars (const ct_Type *t, int code) {
  if (t != NULL && t->kind == CT_ARRAY) t = t->proto;
  return t != NULL && t->kind == CT_SIMPLE && t->scalar == code;
}


/* What parameters accept beyond a store into the type (ctypes' from_param):
** c_void_p: byref() of anything and a Lua string (its bytes, kept by the
** stack for the call); c_char_p/c_wchar_p: byref() of a character or a
** character array; POINTER(c_char)/POINTER(c_wchar): a Lua string and a
** c_char_p/c_wchar_p instance; POINTER(struct or union): a table
** initialiser (a temporary passed by reference). Returns 1 with the pointer
** in slot->p, 0 if the general rules decide. */
static int paramextra (lua_State *L, const ct_Type *t, int tidx, int idx,
                       ct_CData *cd, ct_Slot *slot) {
  void *a;
  const ct_Type *o;
  if (t->kind == CT_SIMPLE) {
    switch (t->scalar) {
      case CT_VOID_P:
        if (lua_type(L, idx) == LUA_TSTRING) {
          slot->p = (void *)lua_tostring(L, idx);
          return 1;
        }
        if (cd == NULL && byrefof(L, idx, &a) != NULL) {
          slot->p = a;
          return 1;
        }
        return 0;
      case CT_CHAR_P: case CT_WCHAR_P:
        o = cd == NULL ? byrefof(L, idx, &a) : NULL;
        if (ischars(o, t->scalar == CT_CHAR_P ? CT_CHAR : CT_WCHAR)) {
          slot->p = a;
          return 1;
        }
        return 0;
      default:
        return 0;
    }
  }
  if (t->kind == CT_POINTER) {
    const ct_Type *e = t->proto;
    if (e->kind == CT_SIMPLE && (e->scalar == CT_CHAR ||
                                 e->scalar == CT_WCHAR)) {
      int wide = e->scalar == CT_WCHAR;
      if (lua_type(L, idx) == LUA_TSTRING) {
        if (!wide) slot->p = (void *)lua_tostring(L, idx);
        else if ((slot->p = ct_towstring(L, idx, NULL)) == NULL)
          return 0;                   /* not UTF-8: the general message */
        return 1;
      }
      if (cd != NULL && cd->type->kind == CT_SIMPLE &&
          cd->type->scalar == (wide ? CT_WCHAR_P : CT_CHAR_P)) {
        slot->p = ct_pointervalue(cd);
        return 1;
      }
      return 0;
    }
    if ((e->kind == CT_STRUCT || e->kind == CT_UNION) && ct_isdatatable(L, idx)) {
      ct_CData *tmp;
      lua_getiuservalue(L, tidx, CT_TUV_PROTO);
      tmp = ct_newcdata(L, -1);
      if (ct_tocvalue(L, -2, ct_cdptr(tmp), idx) == CT_CONV_FAIL)
        return -1;                   /* the message on top, for the caller */
      /* the temporary and what it points into stay on the stack */
      slot->p = ct_cdptr(tmp);
      return 1;
    }
  }
  return 0;
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
  if (idx == 0) ct_argerror(L, argn, "%s", lua_tostring(L, -1));
  cd = lua_type(L, idx) == LUA_TUSERDATA ? ct_tocdata(L, idx) : NULL;
  if ((t->kind == CT_SIMPLE && (t->scalar == CT_VOID_P ||
                                t->scalar == CT_CHAR_P ||
                                t->scalar == CT_WCHAR_P)) ||
      t->kind == CT_POINTER) {
    r = paramextra(L, t, tidx, idx, cd, slot);
    if (r > 0) return slot;
    if (r < 0) ct_argerror(L, argn, "%s", lua_tostring(L, -1));
  }
  switch (t->kind) {
    case CT_STRUCT: case CT_UNION:
      if (cd != NULL && cd->type == t) return ct_cdptr(cd);
      if (ct_isdatatable(L, idx)) {
        ct_CData *tmp = ct_newcdata(L, tidx);
        r = ct_tocvalue(L, tidx, ct_cdptr(tmp), idx);
        if (r == CT_CONV_FAIL) break;
        /* what the initialiser made it point into stays on the stack */
        return ct_cdptr(tmp);
      }
      ct_pushexpected(L, tidx, idx);
      r = CT_CONV_FAIL;
      break;
    case CT_ARRAY:
      /* arrays pass as pointers to their first element */
      if (cd != NULL && cd->type == t) { slot->p = ct_cdptr(cd); return slot; }
      if (ct_isdatatable(L, idx) || lua_type(L, idx) == LUA_TSTRING) {
        ct_CData *tmp = ct_newcdata(L, tidx);
        r = ct_tocvalue(L, tidx, ct_cdptr(tmp), idx);
        if (r == CT_CONV_FAIL) break;
        slot->p = ct_cdptr(tmp);
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
          ct_pushcdtype(L, idx);
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
        ct_pushcdtype(L, idx);
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
  if (idx == 0) ct_argerror(L, argn, "%s", lua_tostring(L, -1));
  switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        if (v < INT32_MIN || v > (lua_Integer)UINT32_MAX)
          ct_argerror(L, argn, "OverflowError: int too long to convert (%I "
                      "does not fit in c_int; %s)", v, promote
                      ? "pass a variadic long as c_long(...) or "
                        "c_longlong(...)" : "declare argtypes");
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
            memcpy(slot, ct_cdptr(cd), t->size);
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
            ct_pushcdtype(L, idx);
            *ft = ct_ffitype(L, -1);
            lua_pop(L, 1);
            return ct_cdptr(cd);
          case CT_ARRAY:
            slot->p = ct_cdptr(cd);
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


/* T.from_param(value) (cdata.c's type method; 1 = T, 2 = value): the value
** as a parameter of T would take it, after its _as_parameter_ chain: an
** instance of T as it is; for pointer types and c_void_p/c_char_p/
** c_wchar_p, the value itself if a parameter of T accepts it (what only
** parameters accept included: byref() for c_void_p, ...); otherwise a new
** T made from the value. */
int ct_conv_fromparam (lua_State *L) {
  ct_Type *t = ct_checktype(L, 1);
  ct_CData *cd;
  ct_Slot slot;
  int idx, r;
  lua_settop(L, 2);
  idx = asparam(L, 2);
  if (idx == 0) return lua_error(L);
  cd = lua_type(L, idx) == LUA_TUSERDATA ? ct_tocdata(L, idx) : NULL;
  if (cd != NULL && cd->type == t) {
    lua_pushvalue(L, idx);
    return 1;
  }
  if (t->kind == CT_POINTER || t->kind == CT_FUNC ||
      (t->kind == CT_SIMPLE && ct_ispointerlike(t))) {
    int top = lua_gettop(L);
    r = paramextra(L, t, 1, idx, cd, &slot);
    if (r < 0) return ct_error(L, "TypeError", "%s", lua_tostring(L, -1));
    lua_settop(L, top);
    if (r > 0) {
      lua_pushvalue(L, idx);
      return 1;
    }
    r = ct_tocvalue(L, 1, &slot, idx);
    if (r == CT_CONV_FAIL)
      return ct_error(L, "TypeError", "%s", lua_tostring(L, -1));
    lua_settop(L, top);
    if (t->kind != CT_SIMPLE) {
      lua_pushvalue(L, idx);
      return 1;
    }
  }
  /* otherwise an instance made from the value */
  lua_pushvalue(L, 1);
  lua_pushvalue(L, idx);
  lua_call(L, 1, 1);
  return 1;
}


/* an argument whose argtypes entry (at aidx) is a from_param adapter:
** adapter.from_param(adapter, value), and what it returns converts by its
** own type (as without argtypes); *ft its libffi type */
void *ct_conv_adapted (lua_State *L, int argn, int aidx, int idx,
                       ct_Slot *slot, ffi_type **ft) {
  aidx = lua_absindex(L, aidx);
  idx = lua_absindex(L, idx);
  luaL_checkstack(L, 4, "too many arguments");
  lua_getfield(L, aidx, "from_param");
  lua_pushvalue(L, aidx);
  lua_pushvalue(L, idx);
  lua_call(L, 2, 1);
  return ct_conv_vararg(L, argn, lua_gettop(L), slot, ft, 0);
}
