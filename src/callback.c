/*
** callback.c -- Lua functions as C function pointers: F(lua_function) for a
** CFUNCTYPE type F.
**
** Design (doc/callbacks.md has the user's view):
** - Each callback object (a CT_FUNC CData whose payload is the code address)
**   holds a closure userdata ("ctypes.Closure") in CT_UV_CLOSURE. The closure
**   userdata points to a malloc'd cb_State that owns the code (a libffi
**   closure, or on x86-64 Linux one of our register stubs); its uservalues
**   hold the Lua function, the function type (which owns the ffi_cif libffi
**   keeps a pointer to) and what results must keep alive.
** - The trampoline never uses a lua_State saved at creation: it runs Lua only
**   on ct_active_L, the state making the innermost foreign call on this OS
**   thread (set by call.c), and only if the callback belongs to that state's
**   universe. It finds the Lua function through a per-state table with weak
**   values, by the callback's integer id (no luaL_ref per callback: nothing
**   can leak, the callback object stays collectable). The trampoline copies
**   that table from the stack of a thread of ours (no registry lookup).
** - Plain-number callbacks called in the callback window (a foreign call of
**   ct_func_call in progress, ctypes.h) take cb_fast, which makes the same
**   checks with the fewest Lua API calls: the first callback of the call
**   leaves the message handler, the funcs table and its function on the
**   stack for the next ones. The closure userdata is not on the stack
**   during such a call: st->inflight makes release and collection leave
**   what the call still needs to its end (cb_settle). Anything unusual goes
**   to the general code (cb_trampoline), which keeps the userdata on the
**   stack.
** - POINTER(T) arguments come from the per-state pointer cache (ptrcache.c):
**   cb_fast looks them up unprotected in the current table the window keeps
**   at cb_win + 3; a miss runs the whole call protected (cb_rest).
** - Errors never unwind through C: the Lua function runs under lua_pcall with
**   a traceback handler; the callback returns its error value and the first
**   error is stored in the per-state record, then re-raised by
**   ct_callback_raise when the foreign call returns (call.c checks
**   ct_cb_pending).
** - A call that cannot run Lua (foreign OS thread, no foreign call in
**   progress, another Lua state, after collection in debug mode) touches no
**   Lua state: it returns the error value, prints a report to stderr (unless
**   silenced) and records it in atomics that ctypes.callback_errors() reads.
** - Release (ctypes.release(cb), <close>) drops the Lua function at once; the
**   code stays valid until the object is collected, so a later call from C
**   returns the error value and reports, never touching freed memory.
*/
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE   /* MAP_ANONYMOUS */

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctypes.h"




/* With CT_WIN_SET in ct_active_L (ctypes.h), the stack index of the message
** handler the first callback of the foreign call left; the funcs table is
** at cb_win + 1 and at cb_win + 2 the Lua function of cb_last (or nil).
** Whatever runs Lua in a window (cb_fast, cb_trampoline) leaves both right
** when it returns: nested foreign calls change them. Release and collection
** clear cb_last too (never a stale pointer). */
static CT_TLS int cb_win;
static CT_TLS const void *cb_last;
/* the epoch (ct_PtrCache.epoch) of the pointer cache's current table that
** the window keeps at cb_win + 3 */
static CT_TLS unsigned cb_winep;

#define CLOSURE_MT "ctypes.Closure"
#define SHARED_MT  "ctypes.CallbackState"

/* registry keys (addresses of statics) */
static const char KEY_SHARED = 'S';  /* the per-state cb_Shared userdata */
static const char KEY_AUTO = 'A';    /* weak keys: Lua function -> { [F] =
                                        its callback of type F } */

/* collected callbacks whose code stays valid (reporting late calls from C)
** before it may be reused: the last this many */
#define CB_QUARANTINE 256

/* uservalues of a closure userdata */
enum {
  CB_UV_FUNC = 1,   /* the Lua function (nil once released) */
  CB_UV_FTYPE,      /* the CFUNCTYPE type: owns the cif libffi points to */
  CB_UV_ARGTYPES,   /* argtypes sequence of the type */
  CB_UV_RESTYPE,    /* restype (nil/false = void) */
  CB_UV_ONERROR,    /* onerror handler or nil */
  CB_UV_KEEP,       /* what the last result points into (c_char_p, ...) */
  CB_UV_ERRKEEP,    /* what the error value points into */
  CB_NUV = CB_UV_ERRKEEP
};

/* uservalues of the shared userdata */
enum {
  SH_UV_PENDING = 1,  /* the first stored error of the current call, or nil */
  SH_UV_GRAVE,        /* debug mode: st -> function type of tombstones */
  SH_UV_FREE,         /* free ids of the funcs table (a stack) */
  SH_UV_HOLDER,       /* the thread holding the funcs table (cb_fast) */
  SH_NUV = SH_UV_HOLDER
};

/* callbacks of at most this many plain-number or pointer arguments take
** cb_fast */
#define CB_MAXFAST 16

/* cb_State.acode of a POINTER(T) argument (no ct_Scalar code) */
#define CB_APTR 0xFF

/* cb_State.rfast: results cb_fast stores inline (RF_OTHER: fastresult);
** RF_INT: an integer type, stored as the Lua integer shifted left by rsh
** and back, arithmetically if rsgn (widened to a whole ffi_arg) */
enum { RF_OTHER, RF_VOID, RF_INT };

/* cb_State.status */
enum { CB_LIVE, CB_RELEASED, CB_DEAD };

/* how a result is stored for libffi: integral results narrower than ffi_arg
** must be widened to a whole ffi_arg (libffi's closure contract) */
enum { RET_VOID, RET_SINT, RET_UINT, RET_RAW };

struct cb_State;

/* x86-64 System V: callbacks whose arguments all travel in registers and
** whose result comes back in rax or xmm0 get a stub of our own instead of a
** libffi closure (libffi classifies every argument again on every call);
** abi_x64.c makes the stubs */
#if CT_X64_DIRECT
#define CB_NREGS (CT_X64_NGPR + CT_X64_NSSE)
#endif

/* Per Lua state (universe). The atomics are written by any OS thread; the
** plain fields only by the thread running that Lua state. */
typedef struct cb_Shared {
  atomic_int nlost;        /* unraisable reports since the last fetch */
  atomic_int msgstate;     /* 0 empty, 1 being written, 2 ready */
  atomic_int report;       /* print unraisable reports to stderr */
  atomic_int debug;        /* report callbacks collected without release */
  atomic_int direct;       /* use our own stubs where they apply */
  int npending;            /* errors stored during the current call */
  int funcsref;            /* registry index of the funcs table: weak values,
                              [2 id - 1] = function, [2 id] = closure ud
                              (integer keys: the cheapest lookups) */
  const void *registry;    /* the registry's identity: tells our universe
                              from another */
  lua_State *mainL;        /* the main thread: it lives as long as this
                              record, so being it proves the universe */
  lua_State *holder;       /* a thread of ours (SH_UV_HOLDER) whose stack
                              slot 1 holds the funcs table: cb_trampoline
                              copies it from there (no allocation, no
                              registry lookup); cb_fast reads the registry,
                              once per window */
  lua_Integer nextid;      /* ids ever handed out */
  ct_PtrCache pc;          /* the pointer cache (ptrcache.c) */
  struct cb_State *graves; /* debug mode: closures kept as tombstones */
  struct cb_State *qhead, *qtail;  /* quarantine, oldest first */
  int nq;
#if CT_X64_DIRECT
  ct_X64Chunk *chunks;     /* stubs of direct callbacks */
  int nodirect;            /* stubs could not be made: libffi only */
#endif
  char msg[512];           /* the first unraisable report */
} cb_Shared;

typedef struct cb_State {
  atomic_int status;       /* CB_LIVE, CB_RELEASED, CB_DEAD */
  ffi_closure *closure;    /* libffi closure, or NULL */
#if CT_X64_DIRECT
  ct_X64Stub stub;         /* or a stub */
  unsigned char off[CB_NREGS];  /* argument offsets in ct_X64Regs */
  unsigned char retoff;    /* result offset in ct_X64Regs */
  unsigned char sse;       /* some argument or the result uses xmm */
#endif
  void *code;              /* the C function pointer */
  ct_Sig *sig;             /* owned by the type in CB_UV_FTYPE */
  cb_Shared *shared;
  lua_Integer id;          /* its slots in the funcs table; 0 = none */
  pthread_t thread;        /* the OS thread that created it */
  struct cb_State *next;   /* tombstone list */
  int fast;                /* all arguments and the result are plain numbers */
  int nfast;               /* cb_fast: the number of arguments, or -1 */
  int hasptr;              /* some argument is a POINTER(T) */
  unsigned char acode[CB_MAXFAST];  /* cb_fast: their ct_Scalar codes, or
                                       CB_APTR */
  /* cb_fast with registers: every argument an integer in a general register
  ** (allint); its value is the register shifted left by ash[i] and back,
  ** arithmetically if asgn[i] */
  unsigned char allint;
  unsigned char ash[CB_MAXFAST];
  unsigned char asgn[CB_MAXFAST];
  /* cb_fast calls in progress: the closure userdata is not on the stack
  ** during them, so release and collection leave to the last of them what
  ** the call still uses (idhold: the funcs entries and id; zombie: the
  ** code, this record and the function type) */
  int inflight;
  unsigned char idhold, zombie;
  int onerror;             /* the type has an onerror handler */
  int retmode;             /* RET_* */
  int rfast;               /* RF_*: how cb_fast stores the result */
  unsigned char rsh, rsgn; /* RF_INT: the shift, signed */
  int retcode;             /* ct_Scalar of a CT_SIMPLE result, else -1 */
  size_t retsize;          /* bytes of the result */
  size_t storesize;        /* bytes written to libffi's result buffer */
  char name[64];           /* the type's name, for reports */
  max_align_t errval[];    /* the error value, already in stored form */
} cb_State;

static void setentries (lua_State *L, cb_State *st, int fidx, int udidx);
static void cb_freecode (cb_State *st);

/* the closure userdata */
typedef struct cb_Box {
  cb_State *st;
} cb_Box;

/* what the protected slow path needs */
typedef struct cb_Frame {
  cb_State *st;
  void *ret;
  void **args;
} cb_Frame;


/* {======================================================================
** Results: Lua value -> libffi result buffer
** ======================================================================= */

/* stores the result value at v (ret->size bytes) into libffi's buffer */
static void storeret (const cb_State *st, void *ret, const void *v) {
  switch (st->retmode) {
    case RET_SINT: {
      ffi_sarg x;
      switch (st->retsize) {
        case 1: x = *(const int8_t *)v; break;
        case 2: x = *(const int16_t *)v; break;
        default: x = *(const int32_t *)v; break;
      }
      memcpy(ret, &x, sizeof x);
      break;
    }
    case RET_UINT: {
      ffi_arg x;
      switch (st->retsize) {
        case 1: x = *(const uint8_t *)v; break;
        case 2: x = *(const uint16_t *)v; break;
        default: x = *(const uint32_t *)v; break;
      }
      memcpy(ret, &x, sizeof x);
      break;
    }
    case RET_RAW:
      if (v != ret) memcpy(ret, v, st->retsize);
      break;
    default: break;
  }
}


static void storeerrval (const cb_State *st, void *ret) {
  if (st->retmode != RET_VOID)
    memcpy(ret, st->errval, st->storesize);
}


typedef union cb_Scalar {
  _Bool b; char c; wchar_t w; signed char sc; unsigned char uc;
  short s; unsigned short us; int i; unsigned u; long l; unsigned long ul;
  long long ll; unsigned long long ull; float f; double d; long double ld;
  void *p;
} cb_Scalar;


/* The fast result conversion: the plain values of ctypes.h's ct_fast_set
** (nothing that can raise, allocate or needs keeping alive). Returns 0 when
** the general (protected) path must decide. */
static int fastresult (lua_State *L, const cb_State *st, void *ret) {
  cb_Scalar v;
  if (ct_fast_set(L, st->retcode, &v, -1) != CT_FAST_DONE) return 0;
  storeret(st, ret, &v);
  return 1;
}


/* General result conversion (may raise: runs protected). The value is on
** top; the closure userdata at udidx. */
static void slowresult (lua_State *L, const cb_State *st, int udidx,
                        void *ret) {
  int vidx = lua_gettop(L), rtidx, r;
  cb_Scalar v;
  void *dst = st->retmode == RET_RAW && st->retcode < 0 ? ret : (void *)&v;
  lua_getiuservalue(L, udidx, CB_UV_RESTYPE);
  rtidx = lua_gettop(L);
  r = ct_tocvalue(L, rtidx, dst, vidx);
  if (r == CT_CONV_FAIL)
    ct_error(L, "TypeError", "callback result: %s", lua_tostring(L, -1));
  /* what the result points into lives until the next call */
  if (r == CT_CONV_KEEPARG) lua_pushvalue(L, vidx);
  else if (r != CT_CONV_KEEPTOP) lua_pushnil(L);
  lua_setiuservalue(L, udidx, CB_UV_KEEP);
  storeret(st, ret, dst);
  lua_settop(L, vidx);
}

/* } ====================================================================== */


/* {======================================================================
** Reports that cannot reach Lua (any OS thread)
** ======================================================================= */

static void cb_record (cb_State *st, const char *what, const char *why) {
  cb_Shared *sh = st->shared;
  int expect = 0;
  atomic_fetch_add(&sh->nlost, 1);
  if (atomic_compare_exchange_strong(&sh->msgstate, &expect, 1)) {
    snprintf(sh->msg, sizeof sh->msg, "callback %s at %p %s", st->name,
             st->code, why);
    atomic_store(&sh->msgstate, 2);
  }
  if (atomic_load(&sh->report))
    fprintf(stderr, "ctypes: %s callback function %s at %p: %s\n", what,
            st->name, st->code, why);
}


static void cb_lost (cb_State *st, const char *why) {
  cb_record(st, "exception ignored on calling", why);
}

/* } ====================================================================== */


/* {======================================================================
** The trampoline
** ======================================================================= */

/* message handler: the error with the callback's traceback; a non-string
** error object passes through unchanged */
static int cb_msgh (lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL || lua_type(L, 1) != LUA_TSTRING) return 1;
  if (strstr(msg, "attempt to yield across a C-call boundary") != NULL)
    msg = lua_pushfstring(L, "RuntimeError: cannot yield from inside a "
                          "callback (%s)", msg);
  luaL_traceback(L, L, msg, 1);
  return 1;
}


/* pushes the closure userdata of st (nil once released) */
static void pushud (lua_State *L, const cb_State *st) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->shared->funcsref);
  lua_rawgeti(L, -1, 2 * st->id);
  lua_remove(L, -2);
}


/* the slow path, run protected: (frame) -> () */
static int cb_body (lua_State *L) {
  cb_Frame *fr = (cb_Frame *)lua_touserdata(L, 1);
  cb_State *st = fr->st;
  const ct_Sig *sig = st->sig;
  /* (frame, closure userdata, function, argtypes, the pointer cache's
  ** current and old tables) */
  int i, udidx = 2, atidx = 4, cidx = 5;
  if (lua_type(L, udidx) != LUA_TUSERDATA)  /* released meanwhile */
    return ct_error(L, "ValueError", "callback called after release");
  lua_getiuservalue(L, udidx, CB_UV_ARGTYPES);
  ct_ptrcache_pushcur(L, &st->shared->pc);
  ct_ptrcache_pushold(L, &st->shared->pc);
  luaL_checkstack(L, sig->nargs + 8, "too many callback arguments");
  lua_pushvalue(L, 3);
  for (i = 0; i < sig->nargs; i++) {
    const ct_Type *t = sig->args[i];
    if (t->kind == CT_SIMPLE)
      ct_scalar_push(L, t->scalar, fr->args[i]);
    else if (t->kind == CT_POINTER) {  /* cached or new, as in cb_fast */
      void *a = ct_loadptr(fr->args[i]);
      if (ct_ptrcache_lookup(L, cidx, t, a)) ct_ptrcache_hit(&st->shared->pc);
      else ct_ptrcache_make(L, &st->shared->pc, cidx, cidx + 1, atidx, i, t, a);
    }
    else {  /* structures, unions, functions: a CData copy */
      lua_rawgeti(L, atidx, i + 1);
      ct_pushcopy(L, t, -1, fr->args[i]);   /* ct_pushvalue's, t known */
      lua_replace(L, -2);
    }
  }
  lua_call(L, sig->nargs, 1);
  if (st->retmode != RET_VOID && !fastresult(L, st, fr->ret))
    slowresult(L, st, udidx, fr->ret);
  return 0;
}


/* the fast path's result did not convert plainly: (frame, value, closure
** userdata) -> (). The userdata is the one the caller keeps on its stack
** for the call (the funcs table no longer has it if the Lua function
** released its own callback). */
static int cb_convert (lua_State *L) {
  cb_Frame *fr = (cb_Frame *)lua_touserdata(L, 1);
  lua_pushvalue(L, 2);
  slowresult(L, fr->st, 3, fr->ret);
  return 0;
}


/* onerror handler: (frame, err) -> true if it handled the error */
static int cb_onerror (lua_State *L) {
  cb_Frame *fr = (cb_Frame *)lua_touserdata(L, 1);
  int udidx;
  pushud(L, fr->st);
  udidx = lua_gettop(L);
  if (lua_type(L, udidx) != LUA_TUSERDATA) return 0;
  lua_getiuservalue(L, udidx, CB_UV_ONERROR);
  if (!lua_isfunction(L, -1)) return 0;
  lua_pushvalue(L, 2);
  lua_call(L, 1, 1);
  if (lua_isnil(L, -1) || fr->st->retmode == RET_VOID)
    storeerrval(fr->st, fr->ret);
  else
    slowresult(L, fr->st, udidx, fr->ret);
  lua_pushboolean(L, 1);
  return 1;
}


static int cb_released (lua_State *L) {
  return ct_error(L, "ValueError", "callback called after release");
}


static int cb_collected (lua_State *L) {
  const cb_State *st = (const cb_State *)lua_touserdata(L, 1);
  return ct_error(L, "ValueError", "callback %s garbage-collected during its "
                  "own call: its result cannot be converted", st->name);
}


/* error value on top of L's stack: the first one is kept for ct_callback_raise
** (no allocation here: the slot is a uservalue) */
static void cb_store (lua_State *L, cb_State *st) {
  cb_Shared *sh = st->shared;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_SHARED);
  if (sh->npending++ == 0) {
    lua_pushvalue(L, -2);
    lua_setiuservalue(L, -2, SH_UV_PENDING);
  }
  lua_pop(L, 2);
  ct_cb_pending = 1;
}


/* An error stored by an earlier callback of the same foreign call must not
** be raised by a foreign call nested in this one: it is set aside while this
** callback runs (pushed on the stack) and put back, still first, after. */
static int cb_setaside (lua_State *L, cb_Shared *sh) {
  int n = sh->npending;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_SHARED);
  lua_getiuservalue(L, -1, SH_UV_PENDING);
  lua_pushnil(L);
  lua_setiuservalue(L, -3, SH_UV_PENDING);
  lua_remove(L, -2);
  sh->npending = 0;
  ct_cb_pending = 0;
  return n;
}


static void cb_putback (lua_State *L, cb_Shared *sh, int n, int idx) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_SHARED);
  lua_pushvalue(L, idx);
  lua_setiuservalue(L, -2, SH_UV_PENDING);
  lua_pop(L, 1);
  sh->npending += n;
  ct_cb_pending = 1;
}


/* the result at vidx did not convert plainly: converts it protected, with
** the handler at hidx and the closure userdata at udidx */
static int cb_convertp (lua_State *L, cb_Frame *fr, int hidx, int vidx,
                        int udidx) {
  lua_pushcfunction(L, cb_convert);
  lua_pushlightuserdata(L, fr);
  lua_pushvalue(L, vidx);
  lua_pushvalue(L, udidx);
  return lua_pcall(L, 3, 0, hidx);
}


/* the Lua function (or the result conversion) failed, the error on top:
** the error value, then onerror decides, or the error is stored */
static void cb_failed (lua_State *L, cb_State *st, cb_Frame *fr, int hidx,
                       int status) {
  int r = LUA_ERRRUN;
  storeerrval(st, fr->ret);
  if (st->onerror && status == CB_LIVE) {
    /* err on top: onerror(err) decides */
    int eidx = lua_gettop(L);
    lua_pushcfunction(L, cb_onerror);
    lua_pushlightuserdata(L, fr);
    lua_pushvalue(L, eidx);
    r = lua_pcall(L, 2, 1, hidx);
    if (r == LUA_OK && !lua_toboolean(L, -1)) {
      lua_pop(L, 1);  /* no handler after all: keep the error */
      r = LUA_ERRRUN;
    }
    else if (r != LUA_OK)  /* onerror failed: its error replaces ours */
      storeerrval(st, fr->ret);
  }
  if (r != LUA_OK) cb_store(L, st);
}


/* whether L belongs to the universe of sh: its main thread lives as long as
** sh, so being it is proof; other threads compare the registry */
static inline int cb_ours (lua_State *L, const cb_Shared *sh) {
  return L == sh->mainL ||
         lua_topointer(L, LUA_REGISTRYINDEX) == sh->registry;
}


/* use_errno callbacks, as CPython's: ctypes' private errno and the real one
** are swapped before the Lua function runs and again after it */
static void cb_swaperrno (void) {
  int t = errno;
  errno = ct_errno;
  ct_errno = t;
}


/* whether the running frame of L is a C function (another binding calling
** back from its own lua_CFunction): only then may a callback entered
** outside a window run Lua (ctypes.h, W3). Reads the frame, allocates
** nothing. */
static int cb_cframe (lua_State *L) {
  lua_Debug ar;
  if (!lua_getstack(L, 0, &ar)) return 0;
  if (!lua_getinfo(L, "S", &ar)) return 0;
  return ar.what[0] == 'C';
}




/* What is left to do once no cb_fast call of st is in progress any more
** (its status changed meanwhile): a released callback's funcs entries and
** id; a collected one's code, record and function type. */
static int cb_settle_body (lua_State *L) {
  cb_State *st = (cb_State *)lua_touserdata(L, 1);
  if (st->zombie) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_SHARED);
    lua_getiuservalue(L, -1, SH_UV_GRAVE);
    lua_pushnil(L);
    lua_rawsetp(L, -2, st);
  }
  else setentries(L, st, 0, 0);  /* may grow the free-id list */
  return 0;
}

static void __attribute__((noinline)) cb_settle (lua_State *L, cb_State *st) {
  /* C frames are below: the Lua part runs protected (on a memory error
  ** an entry stays behind, which is harmless) */
  lua_checkstack(L, 4);
  lua_pushcfunction(L, cb_settle_body);
  lua_pushlightuserdata(L, st);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);
  st->idhold = 0;
  if (st->zombie) {
    if (cb_last == st) cb_last = NULL;
    cb_freecode(st);
    free(st);
  }
}


/* what cb_fast leaves to the general code: a result that is no plain
** integer, or a pcall status r != LUA_OK; the result or the error is on
** top, the handler at hidx */
static void __attribute__((noinline))
cb_fastrest (lua_State *L, cb_State *st, void *ret, int r, int hidx) {
  int vidx = lua_gettop(L);
  cb_Frame fr;
  fr.st = st; fr.ret = ret; fr.args = NULL;
  if (!lua_checkstack(L, 8)) {
    cb_lost(st, "called with the Lua stack exhausted");
    storeerrval(st, ret);
    return;
  }
  if (r == LUA_OK && !fastresult(L, st, ret)) {
    /* the general conversion wants the closure userdata; it is gone if
    ** the object was collected during the call */
    if (atomic_load_explicit(&st->status, memory_order_relaxed) == CB_DEAD)
      lua_pushnil(L);
    else pushud(L, st);
    if (lua_type(L, -1) == LUA_TUSERDATA)
      r = cb_convertp(L, &fr, hidx, vidx, vidx + 1);
    else {  /* the message made protected: it allocates */
      lua_pushcfunction(L, cb_collected);
      lua_pushlightuserdata(L, st);
      r = lua_pcall(L, 1, 0, 0);
    }
  }
  if (r != LUA_OK) cb_failed(L, st, &fr, hidx, CB_LIVE);
}


/* what cb_rest needs to push the arguments */
typedef struct cb_Rest {
  cb_State *st;
  void **args;
  const char *regs;
  int miss;              /* the argument cb_fast did not find */
} cb_Rest;


/* cb_fast's pointer argument rf->miss is not in the current table: the call
** runs protected. (current table, function, closure userdata or nil, rf)
** -> result: pushes the arguments, making pointer objects as needed, and
** calls the function. */
static int cb_rest (lua_State *L) {
  const cb_Rest *rf = (const cb_Rest *)lua_touserdata(L, 4);
  cb_State *st = rf->st;
  cb_Shared *sh = st->shared;
  int n = st->nfast, i, atidx = 0;
  luaL_checkstack(L, n + 8, "too many callback arguments");
  lua_settop(L, 3);
  if (lua_type(L, 3) == LUA_TUSERDATA) {
    lua_getiuservalue(L, 3, CB_UV_ARGTYPES);
    lua_replace(L, 3);
    atidx = 3;
  }
  ct_ptrcache_pushold(L, &sh->pc);       /* current, function, argtypes, old */
  lua_pushvalue(L, 2);
  for (i = 0; i < n; i++) {
    const void *a;
#if CT_X64_DIRECT
    a = rf->regs != NULL ? (const void *)(rf->regs + st->off[i]) : rf->args[i];
#else
    a = rf->args[i];
#endif
    if (st->acode[i] != CB_APTR)
      ct_fast_push(L, st->acode[i], a);
    else {
      const ct_Type *t = st->sig->args[i];
      void *p = ct_loadptr(a);
      if (i != rf->miss && ct_ptrcache_lookup(L, 1, t, p))
        ct_ptrcache_hit(&sh->pc);
      else ct_ptrcache_make(L, &sh->pc, 1, 4, atidx, i, t, p);
    }
  }
  lua_call(L, n, 1);
  return 1;
}


/* The common case, kept lean: a live callback whose arguments are plain
** numbers or pointers and whose result is a plain number, called in the
** callback window of its universe (a foreign call of ct_func_call in
** progress, no Lua running: ctypes.h), with no error of this call stored
** yet. The first callback of the call leaves the message handler, the
** funcs table, its Lua function and its pointer cache on the stack
** (cb_win): the next ones push nothing else, and a callback called again
** finds its function and cache there. It makes the same checks as
** cb_trampoline in the same order; when one does not pass it returns 0 with
** nothing changed but those slots, and cb_trampoline decides and reports.
** Nothing before the protected call allocates or raises: a pointer argument
** found in the cache is pushed from it; when one is not, the call runs
** protected (cb_rest), which makes what is missing (its failure is an error
** of the callback).
** The arguments are at args[i], or with regs at regs + st->off[i]. */
static inline __attribute__((always_inline))
int cb_fast (cb_State *st, void *ret, void **args, const char *regs) {
  uintptr_t a = (uintptr_t)ct_active_L;
  lua_State *L = (lua_State *)(a & ~CT_WIN_BITS);
  int w, n = st->nfast, i, r;
  unsigned ep;
  lua_Integer iv;
  /* stack use: the window (5 slots), then the n arguments and up to 5
  ** more for making a pointer object: n + 10 at most (ctypes.h, W6:
  ** CT_CB_SLACK) */
  if (!(a & CT_WIN_BITS) || n < 0 || ct_cb_pending ||
      atomic_load_explicit(&st->status, memory_order_acquire) != CB_LIVE ||
      !cb_ours(L, st->shared) ||
      (n > CT_CB_SLACK - 10 && !lua_checkstack(L, n + 10)))
    return 0;
  if (a & CT_WIN_OPEN) {  /* the first callback of this foreign call: the
                             handler, the funcs table, the last function,
                             its cache and the function again stay for the
                             next ones */
    lua_pushcfunction(L, cb_msgh);
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->shared->funcsref);
    lua_pushnil(L);
    ct_ptrcache_pushcur(L, &st->shared->pc);
    lua_pushnil(L);
    cb_win = w = lua_gettop(L) - 4;
    cb_winep = st->shared->pc.epoch;
    cb_last = NULL;
    ct_active_L = (lua_State *)((uintptr_t)L | CT_WIN_SET);
  }
  else w = cb_win;
  ct_assert(lua_gettop(L) == w + 4);   /* ctypes.h, W2 */
  /* the top (w + 4) is a copy of cb_last's function, ready for the call */
  if (st != cb_last) {
    if (lua_rawgeti(L, w + 1, 2 * st->id - 1) != LUA_TFUNCTION) {
      lua_settop(L, w + 4);  /* being collected, or released meanwhile */
      return 0;
    }
    lua_copy(L, -1, w + 2);
    lua_replace(L, w + 4);
    cb_last = st;
  }
  /* the pointer cache's current table, at w + 3 (a rotation replaced it) */
  ep = cb_winep;
  if (st->hasptr && ep != st->shared->pc.epoch) {
    ct_ptrcache_pushcur(L, &st->shared->pc);
    lua_replace(L, w + 3);
    cb_winep = ep = st->shared->pc.epoch;
  }
  ct_active_L = L;  /* Lua runs: no window until it returns (W3) */
  st->inflight++;
  ct_assert(st->inflight > 0);
#if CT_X64_DIRECT
  if (regs != NULL && st->allint) {
    /* the register, sign or zero extended (ct_extend) */
#define IARG(k) do { \
      uint64_t v_; \
      memcpy(&v_, regs + st->off[k], sizeof v_); \
      lua_pushinteger(L, (lua_Integer)ct_extend(v_, st->ash[k], st->asgn[k])); \
    } while (0)
    switch (n) {  /* the usual counts straight, the rest in a loop */
      case 0: break;
      case 1: IARG(0); break;
      case 2: IARG(0); IARG(1); break;
      case 3: IARG(0); IARG(1); IARG(2); break;
      default: for (i = 0; i < n; i++) IARG(i); break;
    }
#undef IARG
  }
  else
#endif
  for (i = 0; i < n; i++) {
    const void *a;
#if CT_X64_DIRECT
    a = regs != NULL ? (const void *)(regs + st->off[i]) : args[i];
#else
    (void)regs;
    a = args[i];
#endif
    if (st->acode[i] != CB_APTR)
      ct_fast_push(L, st->acode[i], a);
    else {
      void *p = ct_loadptr(a);
      if (ct_ptrcache_lookup(L, w + 3, st->sig->args[i], p))
        ct_ptrcache_hit(&st->shared->pc);
      else {  /* not cached: the call runs protected (cb_rest) */
        cb_Rest rf;
        rf.st = st; rf.args = args; rf.regs = regs; rf.miss = i;
        lua_settop(L, w + 4);
        lua_pushcfunction(L, cb_rest);
        lua_pushvalue(L, w + 3);
        lua_pushvalue(L, w + 2);
        lua_rawgeti(L, w + 1, 2 * st->id);     /* the closure userdata */
        lua_pushlightuserdata(L, &rf);
        r = lua_pcall(L, 4, 1, w);
        lua_replace(L, w + 4);  /* the result or error, as the plain call */
        goto called;
      }
    }
  }
  r = lua_pcall(L, n, 1, w);
 called:
  if (r == LUA_OK) {
    switch (st->rfast) {  /* the common results inline */
      case RF_INT:
        if (ct_fast_tointeger(L, -1, &iv)) {
          /* (T)iv, then widened as storeret() does: the shifts */
          uint64_t x = ct_extend((uint64_t)iv, st->rsh, st->rsgn);
          if (sizeof(ffi_arg) >= sizeof x || st->retsize > sizeof(ffi_arg))
            memcpy(ret, &x, sizeof x);
          else {  /* a whole ffi_arg (libffi's contract): the value's type
                     fits in it, so is no wider than 32 bits */
            ffi_arg y = (ffi_arg)x;
            memcpy(ret, &y, sizeof y);
          }
          goto done;
        }
        break;
      case RF_VOID: goto done;
      default: break;
    }
  }
  cb_fastrest(L, st, ret, r, w);
  lua_settop(L, w + 4);
 done:
  lua_copy(L, w + 2, w + 4);  /* the function again, over the result */
  ct_active_L = (lua_State *)((uintptr_t)L | CT_WIN_SET);
  cb_win = w;
  cb_winep = ep;
  /* nested calls may have changed cb_last; st's function is still at
  ** w + 2 (if st was released meanwhile, its status
  ** keeps it from being used; if it was collected, cb_settle frees it and
  ** clears cb_last) */
  cb_last = st;
  if (--st->inflight == 0 && (st->idhold | st->zombie)) cb_settle(L, st);
  return 1;
}


static void cb_trampoline (ffi_cif *cif, void *ret, void **args, void *ud) {
  cb_State *st = (cb_State *)ud;
  int status = atomic_load_explicit(&st->status, memory_order_acquire);
  lua_State *L, *active;
  int base, top, hidx, r, win, saved = 0, useerrno;
  unsigned winep;
  cb_Frame fr;
  (void)cif;
  if (cb_fast(st, ret, args, NULL)) return;
  if (status == CB_DEAD) {
    cb_lost(st, "called after it was garbage-collected");
    storeerrval(st, ret);
    return;
  }
  active = ct_active_L;
  L = (lua_State *)((uintptr_t)active & ~CT_WIN_BITS);
  if (L == NULL) {
    int same = pthread_equal(pthread_self(), st->thread);
    if (status == CB_RELEASED)
      cb_lost(st, same ? "called after release, while no foreign call from "
                         "Lua is in progress"
                       : "called after release, from a foreign thread");
    else
      cb_lost(st, same ? "called while no foreign call from Lua is in "
                         "progress"
                       : "called from a foreign thread");
    storeerrval(st, ret);
    return;
  }
  if (!((uintptr_t)active & CT_WIN_BITS) && !cb_cframe(L)) {
    /* ctypes.h, W3: Lua code of this state is running (a signal handler
    ** interrupted it): touching the state now could break it */
    cb_lost(st, status == CB_RELEASED ? "called after release, while Lua "
                "code runs (from a signal handler?)"
              : "called while Lua code runs (from a signal handler?)");
    storeerrval(st, ret);
    return;
  }
  if (!lua_checkstack(L, st->sig->nargs + 10)) {
    cb_lost(st, "called with the Lua stack exhausted");
    storeerrval(st, ret);
    return;
  }
  /* st must belong to L's universe; then the funcs table, from our holder
  ** thread (no allocation; no registry lookup) */
  base = lua_gettop(L);
  if (!cb_ours(L, st->shared)) {
    cb_lost(st, "called during a foreign call of another Lua state");
    storeerrval(st, ret);
    return;
  }
  lua_pushvalue(st->shared->holder, 1);
  lua_xmove(st->shared->holder, L, 1);
  top = base + 1;
  if (ct_cb_pending) {
    saved = cb_setaside(L, st->shared);
    top++;
  }
  fr.st = st; fr.ret = ret; fr.args = args;
  win = cb_win;
  winep = cb_winep;
  ct_active_L = L;  /* Lua runs: no window until it returns */
  useerrno = (st->sig->flags & CT_SIG_USE_ERRNO) != 0;
  if (useerrno) cb_swaperrno();  /* what C left in errno, for get_errno() */
  lua_pushcfunction(L, cb_msgh);
  hidx = top + 1;
  if (status == CB_RELEASED) {
    lua_pushcfunction(L, cb_released);
    r = lua_pcall(L, 0, 0, 0);
  }
  else if (st->fast) {
    int i, nargs = st->sig->nargs;
    /* the closure userdata stays on the stack during the call: the object
    ** cannot be collected (and st freed) while its Lua function runs */
    lua_rawgeti(L, base + 1, 2 * st->id);
    if (lua_rawgeti(L, base + 1, 2 * st->id - 1) != LUA_TFUNCTION) {
      /* released by a nested call */
      lua_settop(L, hidx);
      lua_pushcfunction(L, cb_released);
      r = lua_pcall(L, 0, 0, 0);
      goto done;
    }
    for (i = 0; i < nargs; i++)
      ct_fast_push(L, st->sig->args[i]->scalar, args[i]);
    r = lua_pcall(L, nargs, 1, hidx);
    if (r == LUA_OK && st->retmode != RET_VOID && !fastresult(L, st, ret))
      r = cb_convertp(L, &fr, hidx, lua_gettop(L), hidx + 1);
  }
  else {
    lua_pushcfunction(L, cb_body);
    lua_pushlightuserdata(L, &fr);
    lua_rawgeti(L, base + 1, 2 * st->id);
    lua_rawgeti(L, base + 1, 2 * st->id - 1);
    r = lua_pcall(L, 3, 0, hidx);
  }
 done:
  if (r != LUA_OK) cb_failed(L, st, &fr, hidx, status);
  if (useerrno) cb_swaperrno();  /* set_errno() in the callback: C sees it */
  if (saved) cb_putback(L, st->shared, saved, top);
  lua_settop(L, base);
  ct_active_L = active;
  cb_win = win;
  cb_winep = winep;
  cb_last = NULL;  /* nested calls may have set it for another window */
}

/* } ====================================================================== */


#if CT_X64_DIRECT
/* {======================================================================
** The C side of the register entries (abi_x64.c)
** ======================================================================= */

/* The result goes where the entry reloads rax (gpr[0]) and xmm0 (xmm[0])
** from; the arguments have been read by then. */
void ct_x64_cb_regs (void *state, ct_X64Regs *r) {
  cb_State *st = (cb_State *)state;
  void *args[CB_NREGS];
  int i, n;
  if (r == NULL) __builtin_unreachable();  /* it is the entry's rsp: lets
                                             cb_fast drop its args[] path */
  if (cb_fast(st, (char *)r + st->retoff, NULL, (const char *)r)) return;
  n = st->sig->nargs;
  for (i = 0; i < n; i++) args[i] = (char *)r + st->off[i];
  cb_trampoline(NULL, (char *)r + st->retoff, args, st);
}

/* signatures with at most five arguments, all in general registers, and
** the result (if any) in rax: an ordinary C function of the five argument
** registers and the state */
uint64_t ct_x64_cb_gpr5 (uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
                         uint64_t a4, void *state) {
  cb_State *st = (cb_State *)state;
  uint64_t g[5], rv = 0;
  void *args[5];
  int i, n;
  g[0] = a0; g[1] = a1; g[2] = a2; g[3] = a3; g[4] = a4;
  if (cb_fast(st, &rv, NULL, (const char *)g)) return rv;
  n = st->sig->nargs;
  for (i = 0; i < n; i++) args[i] = (char *)g + st->off[i];
  cb_trampoline(NULL, &rv, args, st);
  return rv;
}


/* gives st a stub; 0 if none can be made */
static int cb_stub (cb_Shared *sh, cb_State *st) {
  int entry = st->sse ? CT_X64_ENTRY_ALL
            : st->sig->nargs <= 5 ? CT_X64_ENTRY_G5 : CT_X64_ENTRY_GPR;
  if (sh->nodirect) return 0;
  st->code = ct_x64_stub_new(&sh->chunks, &st->stub, st, entry);
  if (st->code == NULL) {
    sh->nodirect = 1;  /* e.g. no executable mappings allowed */
    return 0;
  }
  return 1;
}

/* } ====================================================================== */
#endif


/* {======================================================================
** Creation, release, collection
** ======================================================================= */

static cb_Shared *getshared (lua_State *L) {
  cb_Shared *sh;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_SHARED);
  sh = (cb_Shared *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (sh == NULL) ct_error(L, "RuntimeError", "callbacks not initialised");
  return sh;
}


/* whether t is an integer scalar; then *sh and *sgn are what ct_extend
** needs to widen a 64-bit word holding it */
static int intshift (const ct_Type *t, unsigned char *sh, unsigned char *sgn) {
  if (t->kind != CT_SIMPLE) return 0;
  switch (t->scalar) {
    case CT_BYTE: case CT_SHORT: case CT_INT: case CT_LONG: case CT_LONGLONG:
      *sgn = 1;
      break;
    case CT_UBYTE: case CT_USHORT: case CT_UINT: case CT_ULONG:
    case CT_ULONGLONG:
      *sgn = 0;
      break;
    default: return 0;
  }
  *sh = (unsigned char)(64 - 8 * t->size);
  return 1;
}


static int fastscalar (int code) {
  switch (code) {
    case CT_CHAR: case CT_WCHAR: case CT_CHAR_P: case CT_WCHAR_P: return 0;
    default: return 1;
  }
}


static int retmode (const ct_Type *t) {
  if (t == NULL) return RET_VOID;
  if (t->kind == CT_SIMPLE && t->size < sizeof(ffi_arg)) {
    switch (t->scalar) {
      case CT_FLOAT: return RET_RAW;
      case CT_BOOL: case CT_UBYTE: case CT_USHORT: case CT_UINT:
#if CHAR_MIN == 0
      case CT_CHAR:     /* plain char is unsigned (aarch64, s390x) */
#endif
#if WCHAR_MIN == 0
      case CT_WCHAR:    /* wchar_t is unsigned (aarch64) */
#endif
        return RET_UINT;
      default: return RET_SINT;
    }
  }
  return RET_RAW;
}


/* the funcs table entries of st: with udidx != 0 a new id and [2 id - 1] =
** the function at fidx, [2 id] = the closure userdata at udidx; with udidx
** 0 they are removed and the id is freed */
static void setentries (lua_State *L, cb_State *st, int fidx, int udidx) {
  cb_Shared *sh = st->shared;
  lua_Integer n;
  if (udidx == 0 && st->id == 0) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, sh->funcsref);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_SHARED);
  lua_getiuservalue(L, -1, SH_UV_FREE);             /* funcs, sh, free */
  n = (lua_Integer)lua_rawlen(L, -1);
  if (udidx != 0) {
    if (n > 0) {
      lua_rawgeti(L, -1, n);
      st->id = lua_tointeger(L, -1);
      lua_pop(L, 1);
      lua_pushnil(L);
      lua_rawseti(L, -2, n);
    }
    else st->id = ++sh->nextid;
    lua_pushvalue(L, fidx);
    lua_rawseti(L, -4, 2 * st->id - 1);
    lua_pushvalue(L, udidx);
    lua_rawseti(L, -4, 2 * st->id);
  }
  else {
    lua_pushnil(L);
    lua_rawseti(L, -4, 2 * st->id - 1);
    lua_pushnil(L);
    lua_rawseti(L, -4, 2 * st->id);
    lua_pushinteger(L, st->id);
    lua_rawseti(L, -2, n + 1);
    st->id = 0;
  }
  lua_pop(L, 3);
}


int ct_callback_new (lua_State *L, int tidx, int fidx) {
  ct_Type *t;
  ct_Sig *sig;
  ct_CData *cd;
  cb_Box *box;
  cb_State *st;
  cb_Shared *sh;
  size_t errsize;
  int cdidx, udidx, optidx, i, fastargs;
  tidx = lua_absindex(L, tidx);
  fidx = lua_absindex(L, fidx);
  t = ct_totype(L, tidx);
  if (t == NULL || t->kind != CT_FUNC || t->ext == NULL)
    return ct_error(L, "TypeError", "expected a function pointer type, got %s",
                    ct_describe(L, tidx));
  if (lua_type(L, fidx) != LUA_TFUNCTION)
    return ct_error(L, "TypeError", "callback: expected a Lua function, got %s",
                    ct_describe(L, fidx));
  sig = (ct_Sig *)t->ext;
  sh = getshared(L);
  luaL_checkstack(L, 8, NULL);
  cd = ct_newcdata_sized(L, tidx, sizeof(void *), CT_NUV_FUNC);
  cdidx = lua_gettop(L);
  /* the userdata first, in a safe empty state (liolib's habit): a failure
  ** below leaves nothing that __gc cannot handle */
  box = (cb_Box *)lua_newuserdatauv(L, sizeof(cb_Box), CB_NUV);
  box->st = NULL;
  luaL_setmetatable(L, CLOSURE_MT);
  udidx = lua_gettop(L);
  errsize = sig->ret != NULL ? sig->ret->size : 0;
  if (errsize < sizeof(ffi_arg)) errsize = sizeof(ffi_arg);
  st = (cb_State *)calloc(1, sizeof(cb_State) + errsize);
  if (st == NULL)
    return ct_error(L, "MemoryError", "cannot allocate a callback");
  box->st = st;
  atomic_init(&st->status, CB_RELEASED);  /* until prepared */
  st->sig = sig;
  st->shared = sh;
  st->thread = pthread_self();
  st->retmode = retmode(sig->ret);
  st->retsize = sig->ret != NULL ? sig->ret->size : 0;
  st->storesize = st->retmode == RET_SINT || st->retmode == RET_UINT
                  ? sizeof(ffi_arg) : st->retsize;
  st->retcode = sig->ret != NULL && sig->ret->kind == CT_SIMPLE
                ? sig->ret->scalar : -1;
  snprintf(st->name, sizeof st->name, "%s", ct_typename(L, tidx));
  st->fast = st->retcode >= 0 || sig->ret == NULL;
  if (st->retcode >= 0 && !fastscalar(st->retcode)) st->fast = 0;
  fastargs = st->fast;   /* the result is a plain number or void */
  for (i = 0; i < sig->nargs; i++) {
    const ct_Type *at = sig->args[i];
    if (at->kind == CT_POINTER) st->hasptr = 1;
    if (at->kind != CT_SIMPLE || !fastscalar(at->scalar)) {
      st->fast = 0;
      if (at->kind != CT_POINTER) fastargs = 0;
    }
  }
  /* use_errno callbacks take the general path, which swaps errno */
  st->nfast = fastargs && sig->nargs <= CB_MAXFAST &&
              !(sig->flags & CT_SIG_USE_ERRNO) ? sig->nargs : -1;
  st->rfast = sig->ret == NULL ? RF_VOID
            : intshift(sig->ret, &st->rsh, &st->rsgn) ? RF_INT : RF_OTHER;
  st->allint = 1;
  for (i = 0; i < st->nfast; i++) {
    st->acode[i] = sig->args[i]->kind == CT_POINTER
                   ? CB_APTR : (unsigned char)sig->args[i]->scalar;
    if (!intshift(sig->args[i], &st->ash[i], &st->asgn[i])) st->allint = 0;
  }
  lua_pushvalue(L, fidx);
  lua_setiuservalue(L, udidx, CB_UV_FUNC);
  lua_pushvalue(L, tidx);
  lua_setiuservalue(L, udidx, CB_UV_FTYPE);
  lua_getiuservalue(L, tidx, CT_TUV_FIELDS);
  if (st->hasptr) ct_ptrcache_types(L, sig, -1);
  lua_setiuservalue(L, udidx, CB_UV_ARGTYPES);
  lua_getiuservalue(L, tidx, CT_TUV_PROTO);
  lua_setiuservalue(L, udidx, CB_UV_RESTYPE);
  /* options: { error = value, onerror = function } */
  lua_getiuservalue(L, tidx, CT_TUV_BODY);
  optidx = lua_gettop(L);
  if (lua_istable(L, optidx)) {
    if (lua_getfield(L, optidx, "onerror") != LUA_TNIL) {
      if (lua_type(L, -1) != LUA_TFUNCTION)
        return ct_error(L, "TypeError", "CFUNCTYPE option 'onerror': expected "
                        "a function, got %s", ct_describe(L, -1));
      st->onerror = 1;
      lua_setiuservalue(L, udidx, CB_UV_ONERROR);
    }
    else lua_pop(L, 1);
    if (lua_getfield(L, optidx, "error") != LUA_TNIL) {
      int eidx = lua_gettop(L), r;
      cb_Scalar v;
      void *dst = st->retmode == RET_RAW && st->retcode < 0
                  ? (void *)st->errval : (void *)&v;
      if (sig->ret == NULL)
        return ct_error(L, "TypeError", "CFUNCTYPE option 'error': the "
                        "callback returns void");
      lua_getiuservalue(L, tidx, CT_TUV_PROTO);
      r = ct_tocvalue(L, -1, dst, eidx);
      if (r == CT_CONV_FAIL)
        return ct_error(L, "TypeError", "CFUNCTYPE option 'error': %s",
                        lua_tostring(L, -1));
      if (r == CT_CONV_KEEPARG) lua_pushvalue(L, eidx);
      else if (r != CT_CONV_KEEPTOP) lua_pushnil(L);
      lua_setiuservalue(L, udidx, CB_UV_ERRKEEP);
      storeret(st, st->errval, dst);
    }
    lua_settop(L, optidx);
  }
  lua_settop(L, udidx);
#if CT_X64_DIRECT
  if (!(atomic_load(&sh->direct) &&
        ct_x64_cbplace(sig, st->off, &st->retoff, &st->sse) &&
        cb_stub(sh, st)))
#endif
  {
    st->closure = (ffi_closure *)ffi_closure_alloc(sizeof(ffi_closure),
                                                   &st->code);
    if (st->closure == NULL)
      return ct_error(L, "MemoryError", "cannot allocate a callback closure");
    if (ffi_prep_closure_loc(st->closure, &sig->cif, cb_trampoline, st,
                             st->code) != FFI_OK)
      return ct_error(L, "RuntimeError", "cannot prepare a callback closure");
  }
  memcpy(ct_cdptr(cd), &st->code, sizeof(void *));
  setentries(L, st, fidx, udidx);
  atomic_store_explicit(&st->status, CB_LIVE, memory_order_release);
  lua_setiuservalue(L, cdidx, CT_UV_CLOSURE);
  lua_settop(L, cdidx);
  return 1;
}


/* The callback of the function type at tidx for the Lua function at fidx
** passed where a function pointer is expected: one per (function, type),
** alive as long as the Lua function is (C may keep the pointer, as
** signal() or sqlite3_create_function do: the same function passed again
** is the same C code). Pushes it. */
int ct_callback_auto (lua_State *L, int tidx, int fidx) {
  tidx = lua_absindex(L, tidx);
  fidx = lua_absindex(L, fidx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_AUTO);          /* auto */
  lua_pushvalue(L, fidx);
  if (lua_rawget(L, -2) != LUA_TTABLE) {                 /* auto, bytype */
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, fidx);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  lua_pushvalue(L, tidx);
  if (lua_rawget(L, -2) != LUA_TUSERDATA) {              /* auto, bytype, cb */
    lua_pop(L, 1);
    ct_callback_new(L, tidx, fidx);
    lua_pushvalue(L, tidx);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  lua_replace(L, -3);
  lua_pop(L, 1);
  return 1;
}


/* the closure userdata of the callback at idx, pushed; NULL (nothing pushed)
** if the value is no callback */
static cb_Box *tobox (lua_State *L, int idx) {
  ct_CData *cd = ct_tocdata(L, idx);
  cb_Box *box;
  if (cd == NULL || cd->type->kind != CT_FUNC) return NULL;
  lua_getiuservalue(L, idx, CT_UV_CLOSURE);
  box = (cb_Box *)luaL_testudata(L, -1, CLOSURE_MT);
  if (box == NULL) lua_pop(L, 1);
  return box;
}


static void cb_release (lua_State *L, cb_Box *box, int udidx) {
  cb_State *st = box->st;
  if (st == NULL || atomic_load(&st->status) != CB_LIVE) return;
  atomic_store_explicit(&st->status, CB_RELEASED, memory_order_release);
  if (cb_last == st) cb_last = NULL;
  if (st->inflight > 0) {
    /* released by its own Lua function (or one it called) during a cb_fast
    ** call: the function goes now, the userdata entry and the id when the
    ** last such call ends (cb_settle); it may still convert its result */
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->shared->funcsref);
    lua_pushnil(L);
    lua_rawseti(L, -2, 2 * st->id - 1);
    lua_pop(L, 1);
    st->idhold = 1;
  }
  else setentries(L, st, 0, 0);
  lua_pushnil(L);
  lua_setiuservalue(L, udidx, CB_UV_FUNC);
  lua_pushnil(L);
  lua_setiuservalue(L, udidx, CB_UV_ONERROR);
  lua_pushnil(L);
  lua_setiuservalue(L, udidx, CB_UV_KEEP);
}


/* __close of function objects and cb:release(): releases a callback; does
** nothing for other function objects */
int ct_callback_close (lua_State *L) {
  cb_Box *box = tobox(L, 1);
  if (box != NULL) cb_release(L, box, lua_gettop(L));
  return 0;
}


/* ctypes.release(cb) */
static int cb_release_api (lua_State *L) {
  cb_Box *box = tobox(L, 1);
  if (box == NULL)
    return ct_error(L, "TypeError", "release: expected a callback, got %s",
                    ct_describe(L, 1));
  cb_release(L, box, lua_gettop(L));
  return 0;
}


static int cb_hascode (const cb_State *st) {
#if CT_X64_DIRECT
  if (st->stub.chunk != NULL) return 1;
#endif
  return st->closure != NULL;
}


static void cb_freecode (cb_State *st) {
#if CT_X64_DIRECT
  ct_x64_stub_free(&st->stub);
#endif
  if (st->closure != NULL) ffi_closure_free(st->closure);
  st->closure = NULL;
}


/* A collected callback's code is not freed at once: C may still hold its
** address, and a new callback would get the same code, so that a late call
** would run a different Lua function. It stays, reporting such calls
** ("called after it was garbage-collected"), until CB_QUARANTINE callbacks
** collected after it; its function type (which owns the cif libffi reads)
** stays with it. The closure userdata is at 1. */
static void cb_quarantine (lua_State *L, cb_State *st) {
  cb_Shared *sh = st->shared;
  atomic_store(&st->status, CB_DEAD);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_SHARED);
  lua_getiuservalue(L, -1, SH_UV_GRAVE);
  lua_getiuservalue(L, 1, CB_UV_FTYPE);
  lua_rawsetp(L, -2, st);
  st->next = NULL;
  if (sh->qtail != NULL) sh->qtail->next = st; else sh->qhead = st;
  sh->qtail = st;
  if (++sh->nq > CB_QUARANTINE) {
    cb_State *o = sh->qhead;
    sh->qhead = o->next;
    sh->nq--;
    lua_pushnil(L);
    lua_rawsetp(L, -2, o);
    cb_freecode(o);
    free(o);
  }
  lua_pop(L, 2);
}


static int closure_gc (lua_State *L) {
  cb_Box *box = (cb_Box *)lua_touserdata(L, 1);
  cb_State *st = box->st;
  if (st == NULL) return 0;
  box->st = NULL;
  if (cb_last == st) cb_last = NULL;
  setentries(L, st, 0, 0);
  if (cb_hascode(st)) {
    cb_Shared *sh = st->shared;
    if (atomic_load(&sh->debug)) {
      /* keep the code and the cif alive until the state closes: a later
      ** call from C reports instead of jumping into freed memory */
      int live = atomic_exchange(&st->status, CB_DEAD) == CB_LIVE;
      st->next = sh->graves;
      sh->graves = st;
      lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_SHARED);
      lua_getiuservalue(L, -1, SH_UV_GRAVE);
      lua_getiuservalue(L, 1, CB_UV_FTYPE);
      lua_rawsetp(L, -2, st);
      if (live)  /* released ones were declared done with */
        cb_record(st, "debug:", "garbage-collected without release while C "
                  "may still hold it");
      return 0;
    }
    if (st->inflight > 0) {
      /* collected during its own cb_fast call (nothing else held it): that
      ** call still returns through the code and reads st, libffi reads the
      ** cif the function type owns; the last such call frees them */
      atomic_store(&st->status, CB_DEAD);
      st->zombie = 1;
      lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_SHARED);
      lua_getiuservalue(L, -1, SH_UV_GRAVE);
      lua_getiuservalue(L, 1, CB_UV_FTYPE);
      lua_rawsetp(L, -2, st);
      return 0;
    }
    cb_quarantine(L, st);
    return 0;
  }
  free(st);
  return 0;
}



static int shared_gc (lua_State *L) {
  cb_Shared *sh = (cb_Shared *)lua_touserdata(L, 1);
  while (sh->qhead != NULL) {
    cb_State *st = sh->qhead;
    sh->qhead = st->next;
    cb_freecode(st);
    free(st);
  }
  while (sh->graves != NULL) {
    cb_State *st = sh->graves;
    sh->graves = st->next;
    cb_freecode(st);
    free(st);
  }
#if CT_X64_DIRECT
  ct_x64_stubs_close(&sh->chunks);
#endif
  return 0;
}


/* ct_callback_raise: call.c calls it after a foreign call when ct_cb_pending
** is set. Raises the first stored error (with the callback's traceback);
** returns 0 if there is none. */
int ct_callback_raise (lua_State *L) {
  cb_Shared *sh;
  int n;
  ct_cb_pending = 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_SHARED);
  sh = (cb_Shared *)lua_touserdata(L, -1);
  if (sh == NULL) { lua_pop(L, 1); return 0; }
  n = sh->npending;
  sh->npending = 0;
  lua_getiuservalue(L, -1, SH_UV_PENDING);
  lua_pushnil(L);
  lua_setiuservalue(L, -3, SH_UV_PENDING);
  lua_remove(L, -2);
  if (n == 0 || lua_isnil(L, -1)) { lua_pop(L, 1); return 0; }
  if (n > 1 && lua_type(L, -1) == LUA_TSTRING) {
    lua_pushfstring(L, "\n(%d more callback error%s during this call)",
                    n - 1, n > 2 ? "s" : "");
    lua_concat(L, 2);
  }
  return lua_error(L);
}

/* } ====================================================================== */


/* {======================================================================
** Module functions
** ======================================================================= */

/* ctypes.callback_errors() -> n, first message (or nil); resets both */
static int cb_errors (lua_State *L) {
  cb_Shared *sh = getshared(L);
  int n = atomic_exchange(&sh->nlost, 0);
  lua_pushinteger(L, n);
  if (atomic_load(&sh->msgstate) == 2) {
    lua_pushstring(L, sh->msg);
    atomic_store(&sh->msgstate, 0);
  }
  else lua_pushnil(L);
  return 2;
}


/* ctypes.callback_config([{report =, debug =, direct = boolean}]) ->
** the previous settings */
static int cb_config (lua_State *L) {
  static const char *const names[] = { "report", "debug", "direct" };
  cb_Shared *sh = getshared(L);
  atomic_int *slots[3];
  int old[3], i;
  slots[0] = &sh->report; slots[1] = &sh->debug; slots[2] = &sh->direct;
  for (i = 0; i < 3; i++) old[i] = atomic_load(slots[i]);
  if (!lua_isnoneornil(L, 1)) {
    if (!ct_isdatatable(L, 1))
      return ct_error(L, "TypeError", "callback_config: expected a table of "
                      "options, got %s", ct_describe(L, 1));
    lua_pushnil(L);
    while (lua_next(L, 1)) {  /* check everything before changing anything */
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
      for (i = 0; i < 3 && strcmp(k, names[i]) != 0; i++) ;
      if (i == 3) {
        lua_pushvalue(L, -2);
        return ct_error(L, "TypeError", "callback_config: unknown option '%s'",
                        luaL_tolstring(L, -1, NULL));
      }
      if (!lua_isboolean(L, -1))
        return ct_error(L, "TypeError", "callback_config: option '%s': "
                        "expected boolean, got %s", k, ct_describe(L, -1));
      lua_pop(L, 1);
    }
    for (i = 0; i < 3; i++) {
      if (lua_getfield(L, 1, names[i]) != LUA_TNIL)
        atomic_store(slots[i], lua_toboolean(L, -1));
      lua_pop(L, 1);
    }
  }
  lua_createtable(L, 0, 3);
  for (i = 0; i < 3; i++) {
    lua_pushboolean(L, old[i]);
    lua_setfield(L, -2, names[i]);
  }
  return 1;
}


void ct_open_callback (lua_State *L) {
  cb_Shared *sh;
  static const luaL_Reg closure_meta[] = {
    { "__gc", closure_gc }, { NULL, NULL }
  };
  static const luaL_Reg shared_meta[] = {
    { "__gc", shared_gc }, { NULL, NULL }
  };
  /* M on top */
  ct_newmetatable(L, CLOSURE_MT, closure_meta);
  ct_newmetatable(L, SHARED_MT, shared_meta);
  /* the per-state record; created before any closure, so finalized after
  ** all of them at lua_close */
  sh = (cb_Shared *)lua_newuserdatauv(L, sizeof(cb_Shared), SH_NUV);
  memset(sh, 0, sizeof *sh);
  atomic_init(&sh->nlost, 0);
  atomic_init(&sh->msgstate, 0);
  atomic_init(&sh->report, 1);
  atomic_init(&sh->debug, 0);
  atomic_init(&sh->direct, 1);
  luaL_setmetatable(L, SHARED_MT);
  lua_newtable(L);
  lua_setiuservalue(L, -2, SH_UV_GRAVE);
  lua_newtable(L);
  lua_setiuservalue(L, -2, SH_UV_FREE);
  /* the funcs table: weak values; integer keys in the array part */
  lua_createtable(L, 64, 0);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  sh->registry = lua_topointer(L, LUA_REGISTRYINDEX);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  sh->mainL = lua_tothread(L, -1);
  lua_pop(L, 1);
  sh->holder = lua_newthread(L);         /* sh, funcs, holder */
  lua_pushvalue(L, -2);
  lua_xmove(L, sh->holder, 1);
  lua_setiuservalue(L, -3, SH_UV_HOLDER);
  sh->funcsref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_SHARED);
  lua_newtable(L);                       /* the auto-wrapped callbacks */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_AUTO);
  ct_ptrcache_open(L, &sh->pc);
  lua_pushcfunction(L, cb_release_api);
  lua_setfield(L, -2, "release");
  lua_pushcfunction(L, cb_errors);
  lua_setfield(L, -2, "callback_errors");
  lua_pushcfunction(L, cb_config);
  lua_setfield(L, -2, "callback_config");
}

/* } ====================================================================== */
