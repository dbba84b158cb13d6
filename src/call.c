/*
** call.c -- the call path: argument conversion, the call (through libffi;
** on x86-64 also directly, abi.h), results, paramflags and errcheck, and
** ctypes' private errno. func.c prepares the signatures.
*/
#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "ctypes.h"

/* the lua_State of the innermost foreign call on this thread (callbacks run
** Lua only on it; its low bits: the callback window, ctypes.h) and the flag
** the trampoline sets to have us re-raise */
CT_TLS lua_State *ct_active_L;
CT_TLS int ct_cb_pending;

/* ctypes' private errno (ctypes.h) */
CT_TLS int ct_errno;
/* set by ctypes._calls_direct(false): every call goes through libffi (the
** differential test checks both paths against gcc-compiled C) */
static CT_TLS int ct_nodirect;


/* {======================================================================
** Argument conversion
** ======================================================================= */


#define NLOCAL 16   /* arguments handled with storage on the C stack */
#if CT_ABI_X64
#define LOWSIZE sizeof(ct_Low)
#else
#define LOWSIZE 0
#endif

/* per-call arrays */
typedef struct Frame {
  ct_Slot *slot;
  void **av;
  ffi_type **at;
#if CT_ABI_X64
  ct_Low *lw;
#endif
} Frame;


/* } ====================================================================== */


/* {======================================================================
** The call: the direct path (x86-64 SysV, everything in registers) and
** libffi
** ======================================================================= */



/* pushes the result from the return buffer; the sig userdata is at sigidx,
** a preallocated result (CT_RK_BIG) at bigidx. Returns the number pushed. */
static int pushresult (lua_State *L, ct_CallSig *s, void *rbuf, int sigidx,
                       int bigidx) {
  switch (s->rk) {
    case CT_RK_VOID: return 0;
    case CT_RK_SCALAR: ct_fast_push(L, s->rscalar, rbuf); return 1;
    case CT_RK_BIG: lua_pushvalue(L, bigidx); return 1;
    case CT_RK_CALLABLE:
      lua_getiuservalue(L, sigidx, 1);   /* restype(the int result) */
      ct_fast_push(L, CT_INT, rbuf);
      lua_call(L, 1, 1);
      return 1;
    default:
      lua_getiuservalue(L, sigidx, 1);
      ct_pushvalue(L, lua_gettop(L), rbuf, 0);
      lua_remove(L, -2);
      return 1;
  }
}


/* the foreign call itself: errno swap and the active lua_State around it,
** nothing else (no allocation, no Lua) between the swaps. The state goes
** with CT_WIN_OPEN: only ct_func_call's frame may open the callback window
** (ctypes.h), whose callbacks leave slots on its stack without asking. */
#define AROUND(L, s, CALL) do { \
    lua_State *saved_ = ct_active_L; \
    ct_assert(((uintptr_t)(L) & CT_WIN_BITS) == 0); \
    ct_active_L = (lua_State *)((uintptr_t)(L) | CT_WIN_OPEN); \
    if ((s)->s.flags & CT_SIG_USE_ERRNO) { \
      int t_ = errno; errno = ct_errno; \
      CALL; \
      ct_errno = errno; errno = t_; \
    } \
    else { CALL; } \
    ct_active_L = saved_; \
  } while (0)


static void checkpending (lua_State *L) {
  if (ct_cb_pending) ct_callback_raise(L);
}


static int nullfunc (lua_State *L) {
  return ct_error(L, "ValueError", "NULL function pointer called");
}


static int general (lua_State *L, ct_Call *ci, void *fn, int n)
  __attribute__((noinline));


/* every call the paths below do not take, and every call they give up on
** (they give up before anything has happened) */
static int slowcall (lua_State *L, ct_Call *ci, ct_CData *cd, int n) {
  void *fn = *(void **)ct_cdptr(cd);
  if (fn == NULL) return nullfunc(L);
  return general(L, ci, fn, n);
}


#if CT_X64_DIRECT
/* The fast paths: a register-only signature with argtypes, the exact
** count, no errcheck or paramflags, and arguments that convert without
** help (ct_call_prepare chooses one per function object). Each converts
** straight into registers and calls; anything else (and any argument that
** needs more than the quick checks) goes to slowcall, which starts over:
** nothing here has side effects before the call. */

/* up to four double arguments, a double, int-class or no result; a
** double-only callee reads xmm0..xmm3 and ignores the rest */
static int hotdbl (lua_State *L, ct_Call *ci, ct_CData *cd, int n)
  __attribute__((noinline));
static int hotdbl (lua_State *L, ct_Call *ci, ct_CData *cd, int n) {
  ct_CallSig *s = ci->sig;
  void *fn;
  double d0 = 0, d1 = 0, d2 = 0, d3 = 0;
  switch (n) {   /* numbers only (strings go the strict way) */
#define DARG(k) if (!ct_fast_todouble(L, k + 2, &d##k)) goto slow;
    case 4: DARG(3) /* FALLTHROUGH */
    case 3: DARG(2) /* FALLTHROUGH */
    case 2: DARG(1) /* FALLTHROUGH */
    case 1: DARG(0) /* FALLTHROUGH */
    default: break;
#undef DARG
  }
  fn = *(void **)ct_cdptr(cd);
  if (fn == NULL) return nullfunc(L);
  if (s->rscalar == CT_DOUBLE) {
    double r;
    AROUND(L, s, r = ((double (*) (double, double, double, double))fn)
                     (d0, d1, d2, d3));
    if (ct_cb_pending) ct_callback_raise(L);
    ct_fast_push(L, CT_DOUBLE, &r);
    return 1;
  }
  else {
    uint64_t r;
    AROUND(L, s, r = ((uint64_t (*) (double, double, double, double))fn)
                     (d0, d1, d2, d3));
    if (ct_cb_pending) ct_callback_raise(L);
    if (s->rk == CT_RK_VOID) return 0;
    ct_fast_push(L, s->rscalar, &r);
    return 1;
  }
 slow:
  return slowcall(L, ci, cd, n);
}


/* any other mix of arguments in registers: each converted by its rule's
** plain values into the register func.c chose for it (ct_Arg.r). The
** records are walked by threaded dispatch (GCC's labels as values, which
** this target's compilers have): each converter jumps to the next one's,
** the CT_FC_END record after the last to the call. */
static int directpath (lua_State *L, ct_Call *ci, ct_CData *cd, int n)
  __attribute__((noinline));
static int directpath (lua_State *L, ct_Call *ci, ct_CData *cd, int n) {
  static const void *const conv[] = {
    [CT_FC_GEN] = &&slow, [CT_FC_I8] = &&i8, [CT_FC_U8] = &&u8,
    [CT_FC_I16] = &&i16, [CT_FC_U16] = &&u16, [CT_FC_I32] = &&i32,
    [CT_FC_U32] = &&u32, [CT_FC_I64] = &&i64, [CT_FC_BOOL] = &&b,
    [CT_FC_FLOAT] = &&f, [CT_FC_DOUBLE] = &&d, [CT_FC_CHARP] = &&charp,
    [CT_FC_VOIDP] = &&voidp, [CT_FC_PTR] = &&obj, [CT_FC_AGG] = &&obj,
    [CT_FC_END] = &&call
  };
  ct_CallSig *s = ci->sig;
  const ct_Arg *a = s->a;
  void *fn;
  uint64_t g[CT_X64_NGPR] = {0, 0, 0, 0, 0, 0};
  double x[CT_X64_NSSE];
  alignas(16) unsigned char rbuf[16];
  int idx = 2;
  /* a MEMORY-class result (at most 16 bytes here: packed, unaligned):
  ** the callee writes it where the hidden first argument points */
  if (s->rd == CT_RD_MEM) g[0] = (uint64_t)(uintptr_t)rbuf;
#define NEXT() do { a++; idx++; goto *conv[a->fc]; } while (0)
  goto *conv[a->fc];
  /* the scalar rules' plain values (ctypes.h's ct_fast_set, one label
  ** each: the code is a constant), then the register image (abi.h); a Lua
  ** string stays alive on the stack */
#define FSCALAR(LABEL, CODE, FFT, SSE) \
 LABEL: { \
    uint64_t v_ = 0, u_; \
    if (!ct_fast_set(L, CODE, &v_, idx)) goto slow; \
    u_ = ct_x64_regimage(&v_, FFT); \
    if (SSE) memcpy(&x[a->r[0]], &u_, 8); else g[a->r[0]] = u_; \
    NEXT(); \
  }
  FSCALAR(i8, CT_BYTE, FFI_TYPE_SINT8, 0)
  FSCALAR(u8, CT_UBYTE, FFI_TYPE_UINT8, 0)
  FSCALAR(i16, CT_SHORT, FFI_TYPE_SINT16, 0)
  FSCALAR(u16, CT_USHORT, FFI_TYPE_UINT16, 0)
  FSCALAR(i32, CT_INT, FFI_TYPE_SINT32, 0)
  FSCALAR(u32, CT_UINT, FFI_TYPE_UINT32, 0)
  FSCALAR(i64, CT_LONGLONG, FFI_TYPE_SINT64, 0)
  FSCALAR(b, CT_BOOL, FFI_TYPE_UINT8, 0)
  FSCALAR(charp, CT_CHAR_P, FFI_TYPE_POINTER, 0)
  FSCALAR(voidp, CT_VOID_P, FFI_TYPE_POINTER, 0)
  FSCALAR(f, CT_FLOAT, FFI_TYPE_FLOAT, 1)
  FSCALAR(d, CT_DOUBLE, FFI_TYPE_DOUBLE, 1)
#undef FSCALAR
 obj: {   /* CT_FC_PTR, CT_FC_AGG */
    void *ud = lua_touserdata(L, idx);
    ct_CData *p;
    int j, iscd;
    /* a CData (its metatable compared by address) of exactly the
    ** declared type */
    if (ud == NULL || !lua_getmetatable(L, idx)) goto slow;
    iscd = lua_topointer(L, -1) == s->cdmt;
    lua_pop(L, 1);
    if (!iscd || (p = ct_cdof(ud))->type != a->t) goto slow;
    if (a->fc == CT_FC_PTR)
      g[a->r[0]] = (uint64_t)(uintptr_t)ct_pointervalue(p);
    else {
      for (j = 0; j < a->low.n; j++) {
        uint64_t u = ct_x64_eightbyte(ct_cdptr(p), a->t->size, j);
        if (a->low.c[j] == CT_CL_INT) g[a->r[j]] = u;
        else memcpy(&x[a->r[j]], &u, 8);
      }
    }
    NEXT();
  }
#undef NEXT
 call:
  fn = *(void **)ct_cdptr(cd);
  if (fn == NULL) return nullfunc(L);
  if (s->rscalar == CT_DOUBLE && s->rk == CT_RK_SCALAR) {   /* xmm0 */
    double r;
    AROUND(L, s, r = CT_DCALL(double, fn, g, x, s->nsse));
    checkpending(L);
    ct_fast_push(L, CT_DOUBLE, &r);
    return 1;
  }
  AROUND(L, s, ct_x64_call(fn, s->rd, g, x, s->nsse, rbuf));
  checkpending(L);
  if (s->rk == CT_RK_SCALAR) {
    ct_fast_push(L, s->rscalar, rbuf);
    return 1;
  }
  if (s->rk == CT_RK_VOID) return 0;
  lua_getiuservalue(L, 1, CT_UV_CALLINFO);
  lua_getiuservalue(L, -1, 1);
  return pushresult(L, s, rbuf, lua_gettop(L), 0);
 slow:
  return slowcall(L, ci, cd, n);
}
#endif


/* the fast paths (ct_Call.path) */
enum { PATH_DBL, PATH_DIRECT };

/* the call path's choice for a function object, made once when its
** signature or flags change: one comparison per call decides */
void ct_call_prepare (ct_Call *ci) {
  ci->intn = ci->fastn = -1;
  ci->path = PATH_DIRECT;
#if CT_X64_DIRECT
  {
    ct_CallSig *s = ci->sig;
    /* exactly the declared arguments (a prototype's CT_CI_EXACT then
    ** changes nothing), nothing to do after the call */
    if (!s->fast || (ci->flags & (CT_CI_ERRCHECK | CT_CI_PARAMFLAGS)))
      return;
    if (s->hotint) ci->intn = s->s.nargs;
    else ci->fastn = s->s.nargs;
    ci->path = s->hotdbl ? PATH_DBL : PATH_DIRECT;
  }
#endif
}


/* obj(...): the path ct_call_prepare chose when the argument count is the
** one it was chosen for (and direct calls are on), else the general one.
** The int-only path is here, in this frame: up to six int/long arguments,
** nothing but rax back. The callee reads only the low 32 bits of an int
** register, so the Lua integer goes as it is (narrower types are not on
** this path). */
/* the address a function object calls: its payload. A function object
** is never compact (cdata.c's nuvfor), so its ptr field is there */
#define FNADDR(cd) (*(void **)(cd)->ptr)

int ct_func_call (lua_State *L) {
  /* resolved (ct_cdof) only off the hot path: a function object made by
  ** func.c is never compact, and no other object has CT_CD_CALLINFO */
  ct_CData *cd = (ct_CData *)lua_touserdata(L, 1);
  ct_Call *ci, **slot = ct_func_cislot(cd);
  int n;
  if (slot != NULL && *slot != NULL)
    ci = *slot;
  else {
    cd = ct_cdof(cd);
    /* also fit to be the CData __call itself: other kinds are an error */
    if (cd->type->kind != CT_FUNC) {
      ct_pushcdtype(L, 1);
      return ct_error(L, "TypeError", "'%s' object is not callable",
                      ct_typename(L, -1));
    }
    ci = ct_func_callinfo(L, 1);
  }
  n = lua_gettop(L) - 1;
#if CT_X64_DIRECT
  if (n == ci->intn && !ct_nodirect) {
    ct_CallSig *s = ci->sig;
    void *fn;
    lua_Integer a0, a1, a2, a3, a4, a5;
    uint64_t r;
    typedef lua_Integer I;
    /* the integer rule's plain values (ctypes.h's ct_fast_tointeger; the
    ** callee casts to its type); the rest the strict way */
#define ARG(k) do { if (!ct_fast_tointeger(L, k + 2, &a##k)) goto slow; \
                  } while (0)
    switch (n) {
      case 0:
        if ((fn = FNADDR(cd)) == NULL) return nullfunc(L);
        AROUND(L, s, r = ((uint64_t (*) (void))fn)());
        break;
      case 1:
        ARG(0);
        if ((fn = FNADDR(cd)) == NULL) return nullfunc(L);
        AROUND(L, s, r = ((uint64_t (*) (I))fn)(a0));
        break;
      case 2:
        ARG(0); ARG(1);
        if ((fn = FNADDR(cd)) == NULL) return nullfunc(L);
        AROUND(L, s, r = ((uint64_t (*) (I, I))fn)(a0, a1));
        break;
      case 3:
        ARG(0); ARG(1); ARG(2);
        if ((fn = FNADDR(cd)) == NULL) return nullfunc(L);
        AROUND(L, s, r = ((uint64_t (*) (I, I, I))fn)(a0, a1, a2));
        break;
      case 4:
        ARG(0); ARG(1); ARG(2); ARG(3);
        if ((fn = FNADDR(cd)) == NULL) return nullfunc(L);
        AROUND(L, s, r = ((uint64_t (*) (I, I, I, I))fn)(a0, a1, a2, a3));
        break;
      case 5:
        ARG(0); ARG(1); ARG(2); ARG(3); ARG(4);
        if ((fn = FNADDR(cd)) == NULL) return nullfunc(L);
        AROUND(L, s, r = ((uint64_t (*) (I, I, I, I, I))fn)(a0, a1, a2, a3,
                                                              a4));
        break;
      default:
        ARG(0); ARG(1); ARG(2); ARG(3); ARG(4); ARG(5);
        if ((fn = FNADDR(cd)) == NULL) return nullfunc(L);
        AROUND(L, s, r = ((uint64_t (*) (I, I, I, I, I, I))fn)(a0, a1, a2,
                                                                 a3, a4, a5));
        break;
    }
#undef ARG
    if (ct_cb_pending) ct_callback_raise(L);
    if (s->rscalar == CT_INT) {  /* ct_fast_push's first case, unswitched */
      int ri = (int)r;                    /* the low bytes (in a register) */
      ct_fast_push(L, CT_INT, &ri);
      return 1;
    }
    if (s->rk == CT_RK_VOID) return 0;
    ct_fast_push(L, s->rscalar, &r);      /* the low bytes: little endian */
    return 1;
  }
  if (n == ci->fastn && !ct_nodirect)
    return ci->path == PATH_DBL ? hotdbl(L, ci, cd, n)
                                : directpath(L, ci, cd, n);
 slow:
#endif
  return slowcall(L, ci, cd, n);
}


/* Builds the effective argument list for a function with paramflags at
** stack positions base..base+nargs-1 and returns base. outs receives, per
** argument, 1 for an out parameter. */
static int applyparamflags (lua_State *L, ct_CallSig *s, int pfidx, int n,
                            unsigned char *outs) {
  int nargs = s->s.nargs, i, given = 0, required = 0, base;
  lua_Integer flag;
  /* count the in parameters */
  for (i = 0; i < nargs; i++) {
    lua_rawgeti(L, pfidx, i + 1);
    lua_rawgeti(L, -1, 1);
    flag = lua_tointeger(L, -1);
    if (flag == 0 || (flag & 1) || !(flag & 2)) {
      required++;
    }
    lua_pop(L, 2);
  }
  if (n > required)
    ct_error(L, "TypeError", "this function takes at most %d argument%s (%d "
             "given)", required, required == 1 ? "" : "s", n);
  base = lua_gettop(L) + 1;
  for (i = 0; i < nargs; i++) {
    lua_rawgeti(L, pfidx, i + 1);                 /* entry */
    lua_rawgeti(L, -1, 1);
    flag = lua_tointeger(L, -1);
    lua_pop(L, 1);
    outs[i] = 0;
    if ((flag & 2) && !(flag & 1)) {
      /* out: the caller (general) puts a new instance here */
      outs[i] = 1;
      lua_pop(L, 1);                              /* (entry) */
      lua_pushnil(L);
      continue;
    }
    if ((flag & 3) == 3) outs[i] = 2;   /* in and out: returned too */
    if (given < n) {
      lua_pushvalue(L, 2 + given);
      given++;
    }
    else if (lua_rawgeti(L, -1, 3), !lua_isnil(L, -1)) {
      /* the default */
    }
    else if (flag & 4) {
      lua_pop(L, 1);
      lua_pushinteger(L, 0);
    }
    else {
      lua_pop(L, 1);
      lua_rawgeti(L, -1, 2);
      if (lua_isstring(L, -1))
        ct_error(L, "TypeError", "required argument '%s' missing",
                 lua_tostring(L, -1));
      ct_error(L, "TypeError", "not enough arguments");
    }
    lua_remove(L, -2);                            /* the value */
  }
  return base;
}


#if CT_ABI_X64
/* The foreign call of general() on x86-64: register-only calls go direct
** (unless turned off for the differential tests, or PORTABLE), the rest
** through libffi, with the workaround for libffi's register-copy bug where
** it applies. */
static void x64call (lua_State *L, ct_CallSig *s, Frame *fr, int na, void *fn,
                     void *rvalue, void *rbuf) {
  int nfixed = s->s.nargs, i, direct, split, gpr, sse;
  int hidden = s->rd == CT_RD_MEM;
  if (na == nfixed && !s->untyped && !s->adapters) {
    direct = s->direct;
    split = s->split;
    for (i = 0; i < na; i++) fr->lw[i] = s->a[i].low;
  }
  else {
    for (i = 0; i < na; i++)
      fr->lw[i] = i < nfixed && !s->untyped && !s->a[i].adapter ? s->a[i].low
                                            : ct_x64_ffilow(fr->at[i]);
    direct = ct_x64_place(fr->lw, na, hidden, &gpr, &sse, &split, NULL);
  }
  (void)gpr; (void)sse;
#if CT_X64_DIRECT
  if (ct_nodirect) direct = 0;
  if (direct) {
    uint64_t g[CT_X64_NGPR] = {0, 0, 0, 0, 0, 0};
    double x[CT_X64_NSSE];
    int gi = 0, xi = 0, j;
    if (hidden) g[gi++] = (uint64_t)(uintptr_t)rvalue;
    for (i = 0; i < na; i++) {
      const ct_Low *lw = &fr->lw[i];
      ffi_type *ft = fr->at[i];
      if (ft->type == FFI_TYPE_STRUCT) {
        for (j = 0; j < lw->n; j++) {
          uint64_t u = ct_x64_eightbyte(fr->av[i], ft->size, j);
          if (lw->c[j] == CT_CL_INT) g[gi++] = u;
          else memcpy(&x[xi++], &u, 8);
        }
      }
      else {
        uint64_t u = ct_x64_regimage(fr->av[i], ft->type);
        if (lw->c[0] == CT_CL_INT) g[gi++] = u;
        else memcpy(&x[xi++], &u, 8);
      }
    }
    AROUND(L, s, ct_x64_call(fn, s->rd, g, x, xi, rbuf));
  }
  else
#else
  (void)direct; (void)rbuf;
#endif
  {
    ffi_cif cif, *cp;
    void **av = fr->av;
    void *sav[2 * NLOCAL];
    ffi_type *sat[2 * NLOCAL];
    ct_Slot spad[NLOCAL];
    if (split) {
      /* libffi bug workaround: split arguments go as one scalar per
      ** eightbyte, read from a zero-padded copy */
      int k = 0, m = 0;
      void **bav = sav;
      ffi_type **bat = sat;
      ct_Slot *pad = spad;
      if (na > NLOCAL) {
        char *mm = (char *)lua_newuserdatauv(L, (size_t)na * (4 * sizeof(void *)
                                             + sizeof(ct_Slot)) + 16, 0);
        mm = (char *)(((uintptr_t)mm + 15) & ~(uintptr_t)15);
        pad = (ct_Slot *)mm; mm += (size_t)na * sizeof(ct_Slot);
        bav = (void **)mm; mm += 2 * (size_t)na * sizeof(void *);
        bat = (ffi_type **)mm;
      }
      for (i = 0; i < na; i++) {
        if (fr->lw[i].split) {
          memset(&pad[m], 0, sizeof(ct_Slot));
          memcpy(&pad[m], fr->av[i], fr->at[i]->size);
          bav[k] = &pad[m];
          bat[k++] = fr->lw[i].c[0] == CT_CL_INT ? &ffi_type_uint64 :
                                              &ffi_type_double;
          bav[k] = pad[m].b + 8;
          bat[k++] = fr->lw[i].c[1] == CT_CL_INT ? &ffi_type_uint64 :
                                              &ffi_type_double;
          m++;
        }
        else {
          bav[k] = fr->av[i];
          bat[k++] = fr->at[i];
        }
      }
      av = bav;
      if (na == nfixed && !s->untyped && !s->adapters) cp = s->callcif;
      else {
        int nf = k;   /* fixed libffi arguments, after splitting */
        if (!s->untyped) {
          int q;
          nf = 0;
          for (q = 0; q < nfixed; q++) nf += fr->lw[q].split ? 2 : 1;
        }
        if ((s->untyped || na == nfixed ?
                        ffi_prep_cif(&cif, FFI_DEFAULT_ABI, (unsigned)k,
                                       s->s.rtype, bat)
                        : ffi_prep_cif_var(&cif, FFI_DEFAULT_ABI, (unsigned)nf,
                                           (unsigned)k, s->s.rtype, bat))
            != FFI_OK)
          ct_error(L, "TypeError", "libffi cannot prepare this call");
        cp = &cif;
      }
    }
    else if (na == nfixed && !s->untyped && !s->adapters) cp = &s->s.cif;
    else {
      ffi_status st = s->untyped || na == nfixed ?
        ffi_prep_cif(&cif, FFI_DEFAULT_ABI, (unsigned)na, s->s.rtype, fr->at) :
        ffi_prep_cif_var(&cif, FFI_DEFAULT_ABI, (unsigned)nfixed,
                         (unsigned)na, s->s.rtype, fr->at);
      if (st != FFI_OK)
        ct_error(L, "TypeError", "libffi cannot prepare this call");
      cp = &cif;
    }
    AROUND(L, s, ffi_call(cp, FFI_FN(fn), rvalue, av));
  }
}
#endif


static int general (lua_State *L, ct_Call *ci, void *fn, int n) {
  ct_CallSig *s = ci->sig;
  if (n > CT_MAXARGS)
    return ct_error(L, "ArgumentError", "too many arguments (%d), maximum is "
                    "%d", n, CT_MAXARGS);
  int nfixed = s->s.nargs, na, base, i, sigidx, bigidx = 0;
  int argsidx = 0, pfidx = 0, calltop;
  ct_Slot lslot[NLOCAL];
  void *lav[NLOCAL];
  ffi_type *lat[NLOCAL];
#if CT_ABI_X64
  ct_Low llw[NLOCAL];
#endif
  unsigned char louts[NLOCAL];
  unsigned char *outs = louts;
  Frame fr;
  alignas(16) unsigned char rbuf[32];
  void *rvalue = rbuf;
  /* per argument at most: its type, a from_param result, an
  ** _as_parameter_ value, a temporary and what keeps it alive */
  luaL_checkstack(L, 6 * (n > nfixed ? n : nfixed) + 20, "too many arguments");
  lua_getiuservalue(L, 1, CT_UV_CALLINFO);
  lua_getiuservalue(L, -1, 1);
  sigidx = lua_gettop(L);
  if (!s->untyped) {
    lua_getiuservalue(L, sigidx, 2);
    argsidx = lua_gettop(L);
  }
  base = 2;
  na = n;
  if (ci->flags & CT_CI_PARAMFLAGS) {
    lua_getiuservalue(L, sigidx - 1, 2);
    pfidx = lua_gettop(L);
    if (nfixed > NLOCAL)
      outs = (unsigned char *)lua_newuserdatauv(L, (size_t)nfixed, 0);
    base = applyparamflags(L, s, pfidx, n, outs);
    na = nfixed;
    for (i = 0; i < nfixed; i++) {
      if (outs[i] == 1) {
        /* out parameter: POINTER(T) gets a new T, an array type itself */
        lua_rawgeti(L, argsidx, i + 1);
        if (s->s.args[i] != NULL && s->s.args[i]->kind == CT_POINTER) {
          lua_getiuservalue(L, -1, CT_TUV_PROTO);
          lua_remove(L, -2);
        }
        else if (s->s.args[i] == NULL || s->s.args[i]->kind != CT_ARRAY) {
          ct_error(L, "TypeError", "'out' parameter %d must be a pointer "
                   "type, not %s", i + 1, ct_typename(L, -1));
        }
        ct_newcdata(L, -1);
        lua_remove(L, -2);
        lua_replace(L, base + i);
      }
    }
  }
  else if (!s->untyped) {
    if (n < nfixed)
      ct_error(L, "TypeError", "this function takes %s%d argument%s (%d "
               "given)", (ci->flags & CT_CI_EXACT) ? "" : "at least ", nfixed,
               nfixed == 1 ? "" : "s", n);
    if (n > nfixed && (ci->flags & CT_CI_EXACT))
      ct_error(L, "TypeError", "this function takes %d argument%s (%d given)",
               nfixed, nfixed == 1 ? "" : "s", n);
  }
  /* per-argument storage: on the C stack, or one scratch userdata */
  if (na <= NLOCAL) {
    fr.slot = lslot; fr.av = lav; fr.at = lat;
#if CT_ABI_X64
    fr.lw = llw;
#endif
  }
  else {
    size_t sz = (size_t)na * (sizeof(ct_Slot) + 2 * sizeof(void *) +
                              LOWSIZE) + 16;
    char *m = (char *)lua_newuserdatauv(L, sz, 0);
    m = (char *)(((uintptr_t)m + 15) & ~(uintptr_t)15);
    fr.slot = (ct_Slot *)m; m += (size_t)na * sizeof(ct_Slot);
    fr.av = (void **)m; m += (size_t)na * sizeof(void *);
    fr.at = (ffi_type **)m; m += (size_t)na * sizeof(void *);
#if CT_ABI_X64
    fr.lw = (ct_Low *)m;
#endif
  }
  for (i = 0; i < na; i++) {
    int idx = base + i;
    if (i < nfixed && !s->untyped) {
      lua_rawgeti(L, argsidx, i + 1);
      if (s->a[i].adapter)
        fr.av[i] = ct_conv_adapted(L, i + 1, lua_gettop(L), idx, &fr.slot[i],
                                   &fr.at[i]);
      else {
        fr.av[i] = ct_conv_arg(L, i + 1, lua_gettop(L), &s->a[i], idx,
                               &fr.slot[i]);
        fr.at[i] = s->s.atypes[i];
      }
    }
    else
      fr.av[i] = ct_conv_vararg(L, i + 1, idx, &fr.slot[i], &fr.at[i],
                             !s->untyped);
  }
  if (s->rk == CT_RK_BIG) {
    lua_getiuservalue(L, sigidx, 1);
    rvalue = ct_cdptr(ct_newcdata(L, -1));
    bigidx = lua_gettop(L);
  }
  /* the room callbacks may use without asking (the window, ctypes.h); what
  ** they leave above calltop goes after the call */
  luaL_checkstack(L, CT_CB_SLACK, "too many arguments");
  calltop = lua_gettop(L);
#if CT_ABI_X64
  x64call(L, s, &fr, na, fn, rvalue, rbuf);
#else
  {
    ffi_cif cif, *cp = &s->s.cif;
    if (na != nfixed || s->untyped || s->adapters) {
      ffi_status st = s->untyped || na == nfixed ?
        ffi_prep_cif(&cif, FFI_DEFAULT_ABI, (unsigned)na, s->s.rtype, fr.at) :
        ffi_prep_cif_var(&cif, FFI_DEFAULT_ABI, (unsigned)nfixed,
                         (unsigned)na, s->s.rtype, fr.at);
      if (st != FFI_OK)
        ct_error(L, "TypeError", "libffi cannot prepare this call");
      cp = &cif;
    }
    AROUND(L, s, ffi_call(cp, FFI_FN(fn), rvalue, fr.av));
  }
#endif
  /* integer results narrower than ffi_arg come back widened to a whole
  ** ffi_arg (libffi's contract, on every endianness) */
  if (s->rk == CT_RK_SCALAR || s->rk == CT_RK_CALLABLE)
    ct_ffiret_narrow(s->rscalar, rbuf);
  lua_settop(L, calltop);
  checkpending(L);
  {
    int top = lua_gettop(L), nres;
    nres = pushresult(L, s, rbuf, sigidx, bigidx);
    if (nres == 0) { lua_pushnil(L); }
    if (ci->flags & CT_CI_ERRCHECK) {
      /* errcheck(result, func, args) */
      lua_getiuservalue(L, 1, CT_UV_ERRCHECK);
      lua_insert(L, -2);
      lua_pushvalue(L, 1);
      lua_createtable(L, na, 0);
      for (i = 0; i < na; i++) {
        lua_pushvalue(L, base + i);
        lua_rawseti(L, -2, i + 1);
      }
      if (pfidx != 0) {
        int argtab = lua_gettop(L);
        lua_pushvalue(L, argtab);
        lua_insert(L, top + 1);                   /* keep args table */
        lua_call(L, 3, LUA_MULTRET);
        /* errcheck returning the args table: go on with the out values */
        if (lua_gettop(L) == top + 2 && lua_rawequal(L, -1, top + 1)) {
          lua_settop(L, top);
        }
        else return lua_gettop(L) - top - 1;
      }
      else {
        lua_call(L, 3, LUA_MULTRET);
        return lua_gettop(L) - top;
      }
    }
    if (pfidx != 0) {
      int nout = 0;
      lua_settop(L, top);
      for (i = 0; i < na; i++) {
        if (outs[i]) {
          /* the object's value for scalars (ctypes' __ctypes_from_outparam__),
          ** the object itself otherwise; in-out arguments as passed */
          ct_CData *o = ct_tocdata(L, base + i);
          if (o != NULL && o->type->kind == CT_SIMPLE)
            ct_pushscalarvalue(L, o->type, ct_cdptr(o));   /* any byte order */
          else lua_pushvalue(L, base + i);
          nout++;
        }
      }
      if (nout > 0) return nout;
      nres = pushresult(L, s, rbuf, sigidx, bigidx);
      return nres;
    }
    if (nres == 0) { lua_pop(L, 1); return 0; }
    return 1;
  }
}

/* } ====================================================================== */


/* {======================================================================
** errno
** ======================================================================= */

static int call_get_errno (lua_State *L) {
  lua_pushinteger(L, ct_errno);
  return 1;
}


static int call_set_errno (lua_State *L) {
  int isnum;
  lua_Integer v = ct_tointegerx(L, 1, &isnum);   /* no string coercion */
  int old = ct_errno;
  if (!isnum || v < INT32_MIN || v > INT32_MAX) {
    const char *got = ct_describe(L, 1);
    return ct_error(L, "TypeError", "set_errno: expected an int, got %s", got);
  }
  ct_errno = (int)v;
  lua_pushinteger(L, old);
  return 1;
}


/* ctypes._calls_direct([on]): whether register-only calls skip libffi on
** this thread; returns the previous setting (a testing aid) */
static int call_direct (lua_State *L) {
  int old = !ct_nodirect;
  if (!lua_isnone(L, 1)) ct_nodirect = !lua_toboolean(L, 1);
  lua_pushboolean(L, old && CT_X64_DIRECT);
  return 1;
}

/* } ====================================================================== */


void ct_open_call (lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"get_errno", call_get_errno},
    {"set_errno", call_set_errno},
    {"_calls_direct", call_direct},
    {NULL, NULL}
  };
  luaL_setfuncs(L, funcs, 0);
  ct_open_func(L);
}
