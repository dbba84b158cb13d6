/*
** abi_x64.c -- the x86-64 System V target (abi.h): classification of
** by-value types and their libffi types, register placement for calls and
** callbacks, the direct register call, the probe for libffi 3.4.4's
** register-copy bug, and the callback stubs with their entry assembly.
*/
#define _DEFAULT_SOURCE   /* MAP_ANONYMOUS */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ctypes.h"

#if CT_ABI_X64

/* {======================================================================
** Classification of by-value types (psABI 3.2.3)
** ======================================================================= */

/* the storage of an aggregate's libffi type, kept alive with its type */
typedef struct AggFFI {
  ffi_type ft;
  ffi_type *el[3];
  ffi_type fake;       /* a long double aligned to 1: makes libffi classify
                          the aggregate as MEMORY, as the ABI does */
  ct_Low low;
} AggFFI;


static unsigned char merge (unsigned char a, unsigned char b) {
  if (a == b) return a;
  if (a == CT_CL_NONE) return b;
  if (b == CT_CL_NONE) return a;
  if (a == CT_CL_MEM || b == CT_CL_MEM) return CT_CL_MEM;
  if (a == CT_CL_INT || b == CT_CL_INT) return CT_CL_INT;
  if (a == CT_CL_X87 || a == CT_CL_X87UP || b == CT_CL_X87 || b == CT_CL_X87UP)
    return CT_CL_MEM;
  return CT_CL_SSE;
}


static void mergeat (unsigned char cls[2], size_t off, unsigned char c) {
  if (off / 8 < 2) cls[off / 8] = merge(cls[off / 8], c);
}


static unsigned char scalarclass (int code) {
  switch (code) {
    case CT_FLOAT: case CT_DOUBLE: return CT_CL_SSE;
    case CT_LONGDOUBLE: return CT_CL_X87;
    default: return CT_CL_INT;
  }
}


/* merges the classes of the type at tidx placed at byte offset off of an
** aggregate of at most 16 bytes into cls */
static void classify (lua_State *L, int tidx, size_t off, unsigned char cls[2]) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, tidx);
  tidx = lua_absindex(L, tidx);
  luaL_checkstack(L, 4, NULL);             /* recursive for nested types */
  if (t->align > 1 && off % t->align != 0) {   /* unaligned: MEMORY */
    cls[0] = CT_CL_MEM;
    return;
  }
  switch (t->kind) {
    case CT_SIMPLE: {
      unsigned char c = scalarclass(t->scalar);
      mergeat(cls, off, c);
      if (c == CT_CL_X87) mergeat(cls, off + 8, CT_CL_X87UP);
      break;
    }
    case CT_POINTER: case CT_FUNC:
      mergeat(cls, off, CT_CL_INT);
      break;
    case CT_ARRAY: {
      size_t i;
      ct_Type *e;
      lua_getiuservalue(L, tidx, CT_TUV_PROTO);
      e = (ct_Type *)lua_touserdata(L, -1);
      for (i = 0; i < t->length && e->size > 0; i++)
        classify(L, -1, off + i * e->size, cls);
      lua_pop(L, 1);
      break;
    }
    case CT_STRUCT: case CT_UNION: {
      lua_Integer i, n;
      lua_getiuservalue(L, tidx, CT_TUV_FIELDS);
      n = lua_istable(L, -1) ? luaL_len(L, -1) : 0;
      for (i = 1; i <= n; i++) {
        ct_Field *f;
        lua_rawgeti(L, -1, i);
        f = ct_tofield(L, -1);
        if (f != NULL) {
          if (f->flags & CT_F_BITS) {
            /* bit fields are INTEGER over the bytes their bits occupy */
            if (f->bit_size > 0) {
              size_t first, last;
              ct_abi_bitbytes(f, &first, &last);
              mergeat(cls, off + first, CT_CL_INT);
              mergeat(cls, off + last, CT_CL_INT);
            }
          }
          else {
            lua_getiuservalue(L, -1, 1);          /* the field's type */
            classify(L, -1, off + f->offset, cls);
            lua_pop(L, 1);
          }
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
      break;
    }
  }
}


/* the lowering of an aggregate type (struct/union) at tidx */
static ct_Low aggregatelow (lua_State *L, int tidx) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, tidx);
  ct_Low low;
  unsigned char cls[2] = {CT_CL_NONE, CT_CL_NONE};
  size_t i, nw = (t->size + 7) / 8;
  memset(&low, 0, sizeof low);
  low.agg = 1;
  if (t->size == 0 || t->size > 16) return low;   /* MEMORY */
  classify(L, tidx, 0, cls);
  for (i = 0; i < nw; i++) {
    if (cls[i] == CT_CL_MEM) return low;
    if (cls[i] == CT_CL_X87UP && (i == 0 || cls[i - 1] != CT_CL_X87)) return low;
    if (cls[i] == CT_CL_NONE) cls[i] = CT_CL_SSE;   /* padding only */
  }
  if (cls[0] == CT_CL_X87) {
    if (nw == 2 && cls[1] == CT_CL_X87UP) low.x87 = 1;
    return low;
  }
  low.n = (unsigned char)nw;
  low.c[0] = cls[0];
  low.c[1] = nw > 1 ? cls[1] : CT_CL_NONE;
  return low;
}


static ffi_type *eightbytetype (unsigned char c, size_t bytes) {
  if (c == CT_CL_SSE) return bytes <= 4 ? &ffi_type_float : &ffi_type_double;
  if (bytes <= 1) return &ffi_type_uint8;
  if (bytes <= 2) return &ffi_type_uint16;
  if (bytes <= 4) return &ffi_type_uint32;
  return &ffi_type_uint64;
}


/* Builds the libffi type of an aggregate from the classification of its
** eightbytes rather than from its fields: libffi has no notion of unions or
** bit fields, and this way what libffi does is what the ABI says. */
ffi_type *ct_x64_aggtype (lua_State *L, int tidx) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, tidx);
  AggFFI *a;
  tidx = lua_absindex(L, tidx);
  a = (AggFFI *)lua_newuserdatauv(L, sizeof(AggFFI), 0);
  memset(a, 0, sizeof *a);
  a->low = aggregatelow(L, tidx);
  a->ft.size = t->size;
  a->ft.alignment = (unsigned short)(t->align > 0 ? t->align : 1);
  a->ft.type = FFI_TYPE_STRUCT;
  a->ft.elements = a->el;
  if (a->low.x87)
    a->el[0] = &ffi_type_longdouble;
  else if (a->low.n > 0) {
    int i;
    for (i = 0; i < a->low.n; i++)
      a->el[i] = eightbytetype(a->low.c[i], t->size - 8 * (size_t)i);
  }
  else if (t->size > 16)
    a->el[0] = &ffi_type_uint64;   /* libffi: > 2 words, not SSE: MEMORY */
  else {
    /* a float merged with an x87 word gives MEMORY in libffi too */
    a->fake.size = 16;
    a->fake.alignment = 1;
    a->fake.type = FFI_TYPE_LONGDOUBLE;
    a->el[0] = &ffi_type_float;
    a->el[1] = &a->fake;
  }
  /* the type holds the storage (nothing else uses a struct's CT_TUV_EXT) */
  lua_setiuservalue(L, tidx, CT_TUV_EXT);
  t->ffi = &a->ft;
  return t->ffi;
}


ct_Low ct_x64_scalarlow (const ct_Type *t) {
  ct_Low low;
  memset(&low, 0, sizeof low);
  if (t->kind == CT_SIMPLE && t->scalar == CT_LONGDOUBLE) {
    low.x87 = 1;
    return low;
  }
  low.n = 1;
  low.c[0] = t->kind == CT_SIMPLE ? scalarclass(t->scalar) : CT_CL_INT;
  return low;
}


ct_Low ct_x64_ffilow (const ffi_type *ft) {
  ct_Low low;
  if (ft->type == FFI_TYPE_STRUCT) return ((const AggFFI *)ft)->low;
  memset(&low, 0, sizeof low);
  if (ft->type == FFI_TYPE_LONGDOUBLE) low.x87 = 1;
  else {
    low.n = 1;
    low.c[0] = ft->type == FFI_TYPE_FLOAT || ft->type == FFI_TYPE_DOUBLE
               ? CT_CL_SSE : CT_CL_INT;
  }
  return low;
}


ct_Low ct_x64_typelow (lua_State *L, int tidx) {
  ct_Type *t = (ct_Type *)lua_touserdata(L, tidx);
  if (t->kind == CT_STRUCT || t->kind == CT_UNION) {
    ct_ffitype(L, tidx);
    return ((AggFFI *)t->ffi)->low;
  }
  return ct_x64_scalarlow(t);
}

/* } ====================================================================== */


/* {======================================================================
** Register placement (calls and callbacks)
** ======================================================================= */

/* libffi 3.4.4 copies an aggregate larger than 8 bytes whose first
** eightbyte is INTEGER and lands in the last integer register whole into
** that register's slot, overwriting the first SSE register (fixed upstream
** in libffi PR #848). The probe calls a function where the bug shows: a
** double in xmm0, five integers, then such an aggregate (r9 and xmm1). */
typedef struct ProbeAgg { uint64_t a; double b; } ProbeAgg;

static double probe_fn (double x, long a, long b, long c, long d, long e,
                        ProbeAgg s) {
  (void)a; (void)b; (void)c; (void)d; (void)e; (void)s;
  return x;
}

/* 1 if the loaded libffi has the bug; probed once per thread */
static int ffibug (void) {
  static CT_TLS signed char bug = -1;
  if (bug < 0) {
    ffi_type *el[3] = { &ffi_type_uint64, &ffi_type_double, NULL };
    ffi_type agg;
    ffi_type *at[7];
    void *av[7];
    ffi_cif cif;
    double x = 1.5, r = 0;
    long i5 = 5;
    ProbeAgg s = { 7, 2.5 };
    int i;
    memset(&agg, 0, sizeof agg);
    agg.type = FFI_TYPE_STRUCT;
    agg.elements = el;
    at[0] = &ffi_type_double; av[0] = &x;
    for (i = 1; i <= 5; i++) { at[i] = &ffi_type_slong; av[i] = &i5; }
    at[6] = &agg; av[6] = &s;
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 7, &ffi_type_double, at) != FFI_OK)
      bug = 1;                           /* cannot tell: stay on the safe side */
    else {
      ffi_call(&cif, FFI_FN(probe_fn), &r, av);
      bug = r != x;
    }
  }
  return bug;
}


int ct_x64_place (ct_Low *lw, int n, int hidden, int *gpr, int *sse,
                  int *split, unsigned char *reg) {
  int gi = hidden, xi = 0, allreg = 1, i;
  *split = 0;
  for (i = 0; i < n; i++) {
    int ng = 0, nx = 0, j;
    lw[i].split = 0;
    if (lw[i].n == 0) { allreg = 0; continue; }
    for (j = 0; j < lw[i].n; j++) {
      if (lw[i].c[j] == CT_CL_INT) ng++; else nx++;
    }
    if (gi + ng > CT_X64_NGPR || xi + nx > CT_X64_NSSE) {
      allreg = 0;
      continue;
    }
    if (lw[i].agg && lw[i].n == 2 && lw[i].c[0] == CT_CL_INT &&
        gi == CT_X64_NGPR - 1 && ffibug()) {
      lw[i].split = 1;
      *split = 1;
    }
    if (reg != NULL) reg[i] = (unsigned char)(lw[i].c[0] == CT_CL_INT ? gi : xi);
    gi += ng;
    xi += nx;
  }
  *gpr = gi;
  *sse = xi;
  return allreg;
}


int ct_x64_rd (const ct_Low *rlow) {
  if (rlow->x87) return CT_RD_X87;
  if (rlow->n == 0) return CT_RD_MEM;
  if (rlow->n == 1) return rlow->c[0] == CT_CL_INT ? CT_RD_INT : CT_RD_SSE;
  if (rlow->c[0] == CT_CL_INT)
    return rlow->c[1] == CT_CL_INT ? CT_RD_II : CT_RD_IS;
  return rlow->c[1] == CT_CL_INT ? CT_RD_SI : CT_RD_SS;
}


int ct_x64_splittypes (const ct_Low *lw, ffi_type *const *at, int n,
                       ffi_type **out) {
  int i, k = 0;
  for (i = 0; i < n; i++) {
    if (lw[i].split) {
      out[k++] = lw[i].c[0] == CT_CL_INT ? &ffi_type_uint64 : &ffi_type_double;
      out[k++] = lw[i].c[1] == CT_CL_INT ? &ffi_type_uint64 : &ffi_type_double;
    }
    else out[k++] = at[i];
  }
  return k;
}

/* } ====================================================================== */
#endif


#if CT_X64_DIRECT
/* {======================================================================
** Callback placement
** ======================================================================= */

int ct_x64_cbplace (const ct_Sig *sig, unsigned char *off,
                    unsigned char *retoff, unsigned char *sse) {
  ct_Low lw[CT_X64_NGPR + CT_X64_NSSE];
  unsigned char reg[CT_X64_NGPR + CT_X64_NSSE];
  int i, gpr, nsse, split;
  const ct_Type *t = sig->ret;
  if (sig->nargs > CT_X64_NGPR + CT_X64_NSSE) return 0;
  *sse = 0;
  for (i = 0; i < sig->nargs; i++) {
    t = sig->args[i];
    if (t->kind == CT_STRUCT || t->kind == CT_UNION || t->kind == CT_ARRAY)
      return 0;
    lw[i] = ct_x64_scalarlow(t);
    if (lw[i].n != 1) return 0;                    /* long double */
  }
  if (!ct_x64_place(lw, sig->nargs, 0, &gpr, &nsse, &split, reg)) return 0;
  for (i = 0; i < sig->nargs; i++) {
    if (lw[i].c[0] == CT_CL_INT)
      off[i] = (unsigned char)(offsetof(ct_X64Regs, gpr) + 8 * reg[i]);
    else {
      off[i] = (unsigned char)(offsetof(ct_X64Regs, xmm) + 8 * reg[i]);
      *sse = 1;
    }
  }
  t = sig->ret;
  if (t == NULL)
    *retoff = (unsigned char)offsetof(ct_X64Regs, gpr);
  else {
    ct_Low r;
    if (t->kind == CT_STRUCT || t->kind == CT_UNION) return 0;
    r = ct_x64_scalarlow(t);
    if (r.n != 1) return 0;
    if (r.c[0] == CT_CL_INT) *retoff = (unsigned char)offsetof(ct_X64Regs, gpr);
    else {
      *retoff = (unsigned char)offsetof(ct_X64Regs, xmm);
      *sse = 1;
    }
  }
  return 1;
}

/* } ====================================================================== */


/* {======================================================================
** The direct call
** ======================================================================= */

/* } ====================================================================== */


/* {======================================================================
** Callback stubs
** ======================================================================= */

#define CHUNK 128          /* stubs per chunk (one page of code) */
#define STUBSIZE 32

/* a chunk: CHUNK stubs in one read+execute page, followed by a read+write
** page of CHUNK data slots { state, entry }; stub i loads slot i's state
** into r10 and jumps to slot i's entry */
struct ct_X64Chunk {
  ct_X64Chunk *next;
  unsigned char *mem;         /* the two pages */
  size_t page;
  int nfree;
  unsigned short free[CHUNK];
};

/* The common entries: r10 = the state. ENTRY_ALL saves the argument
** registers in a ct_X64Regs on the stack (rsp is 16-byte aligned after the
** subtraction: it was 8 mod 16 at entry), calls ct_x64_cb_regs and returns
** the result in both rax and xmm0 (the caller reads the one it expects);
** ENTRY_GPR the same with the integer registers only; ENTRY_G5 passes the
** state as the sixth integer argument of ct_x64_cb_gpr5. Each starts with
** endbr64 (the stubs reach them by an indirect jump). */
__asm__(
  "  .text\n"
  "  .p2align 4\n"
  "  .globl ct_x64_entry_all\n"
  "  .hidden ct_x64_entry_all\n"
  "  .type ct_x64_entry_all, @function\n"
  "ct_x64_entry_all:\n"
  "  .cfi_startproc\n"
  "  endbr64\n"
  "  subq $120, %rsp\n"
  "  .cfi_def_cfa_offset 128\n"
  "  movq %rdi, 0(%rsp)\n"
  "  movq %rsi, 8(%rsp)\n"
  "  movq %rdx, 16(%rsp)\n"
  "  movq %rcx, 24(%rsp)\n"
  "  movq %r8, 32(%rsp)\n"
  "  movq %r9, 40(%rsp)\n"
  "  movsd %xmm0, 48(%rsp)\n"
  "  movsd %xmm1, 56(%rsp)\n"
  "  movsd %xmm2, 64(%rsp)\n"
  "  movsd %xmm3, 72(%rsp)\n"
  "  movsd %xmm4, 80(%rsp)\n"
  "  movsd %xmm5, 88(%rsp)\n"
  "  movsd %xmm6, 96(%rsp)\n"
  "  movsd %xmm7, 104(%rsp)\n"
  "  movq %r10, %rdi\n"
  "  movq %rsp, %rsi\n"
  "  call ct_x64_cb_regs\n"
  "  movq 0(%rsp), %rax\n"
  "  movsd 48(%rsp), %xmm0\n"
  "  addq $120, %rsp\n"
  "  .cfi_def_cfa_offset 8\n"
  "  ret\n"
  "  .cfi_endproc\n"
  "  .size ct_x64_entry_all, .-ct_x64_entry_all\n"
  "  .p2align 4\n"
  "  .globl ct_x64_entry_gpr\n"
  "  .hidden ct_x64_entry_gpr\n"
  "  .type ct_x64_entry_gpr, @function\n"
  "ct_x64_entry_gpr:\n"
  "  .cfi_startproc\n"
  "  endbr64\n"
  "  subq $120, %rsp\n"
  "  .cfi_def_cfa_offset 128\n"
  "  movq %rdi, 0(%rsp)\n"
  "  movq %rsi, 8(%rsp)\n"
  "  movq %rdx, 16(%rsp)\n"
  "  movq %rcx, 24(%rsp)\n"
  "  movq %r8, 32(%rsp)\n"
  "  movq %r9, 40(%rsp)\n"
  "  movq %r10, %rdi\n"
  "  movq %rsp, %rsi\n"
  "  call ct_x64_cb_regs\n"
  "  movq 0(%rsp), %rax\n"
  "  addq $120, %rsp\n"
  "  .cfi_def_cfa_offset 8\n"
  "  ret\n"
  "  .cfi_endproc\n"
  "  .size ct_x64_entry_gpr, .-ct_x64_entry_gpr\n"
  "  .p2align 4\n"
  "  .globl ct_x64_entry_g5\n"
  "  .hidden ct_x64_entry_g5\n"
  "  .type ct_x64_entry_g5, @function\n"
  "ct_x64_entry_g5:\n"
  "  .cfi_startproc\n"
  "  endbr64\n"
  "  movq %r10, %r9\n"
  "  jmp ct_x64_cb_gpr5\n"
  "  .cfi_endproc\n"
  "  .size ct_x64_entry_g5, .-ct_x64_entry_g5\n"
);
extern void ct_x64_entry_all (void);
extern void ct_x64_entry_gpr (void);
extern void ct_x64_entry_g5 (void);


/* a new chunk of stubs, or NULL */
static ct_X64Chunk *newchunk (ct_X64Chunk **chunks) {
  long pg = sysconf(_SC_PAGESIZE);
  size_t page;
  unsigned char *mem;
  ct_X64Chunk *c;
  int i;
  if (pg < CHUNK * STUBSIZE) return NULL;
  page = (size_t)pg;
  mem = (unsigned char *)mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return NULL;
  for (i = 0; i < CHUNK; i++) {
    /* endbr64; mov r10, [rip + d1]; jmp [rip + d2]; int3... -- the data
    ** slot of stub i lies exactly one page after it */
    unsigned char *p = mem + (size_t)i * STUBSIZE;
    int32_t d1 = (int32_t)(page - 11), d2 = (int32_t)(page + 8 - 17);
    memset(p, 0xcc, STUBSIZE);
    p[0] = 0xf3; p[1] = 0x0f; p[2] = 0x1e; p[3] = 0xfa;
    p[4] = 0x4c; p[5] = 0x8b; p[6] = 0x15; memcpy(p + 7, &d1, 4);
    p[11] = 0xff; p[12] = 0x25; memcpy(p + 13, &d2, 4);
  }
  if (mprotect(mem, page, PROT_READ | PROT_EXEC) != 0 ||
      (c = (ct_X64Chunk *)malloc(sizeof(ct_X64Chunk))) == NULL) {
    munmap(mem, 2 * page);
    return NULL;
  }
  c->mem = mem;
  c->page = page;
  c->nfree = CHUNK;
  for (i = 0; i < CHUNK; i++)
    c->free[i] = (unsigned short)(CHUNK - 1 - i);
  c->next = *chunks;
  *chunks = c;
  return c;
}


void *ct_x64_stub_new (ct_X64Chunk **chunks, ct_X64Stub *stub, void *state,
                       int entry) {
  ct_X64Chunk *c;
  void **data;
  void (*fn)(void) = entry == CT_X64_ENTRY_ALL ? ct_x64_entry_all
                   : entry == CT_X64_ENTRY_G5 ? ct_x64_entry_g5
                   : ct_x64_entry_gpr;
  for (c = *chunks; c != NULL && c->nfree == 0; c = c->next) ;
  if (c == NULL && (c = newchunk(chunks)) == NULL) return NULL;
  stub->chunk = c;
  stub->slot = c->free[--c->nfree];
  data = (void **)(c->mem + c->page + (size_t)stub->slot * STUBSIZE);
  data[0] = state;
  memcpy(&data[1], &fn, sizeof(void *));
  return c->mem + (size_t)stub->slot * STUBSIZE;
}


void ct_x64_stub_free (ct_X64Stub *stub) {
  if (stub->chunk != NULL) {
    stub->chunk->free[stub->chunk->nfree++] = (unsigned short)stub->slot;
    stub->chunk = NULL;
  }
}


void ct_x64_stubs_close (ct_X64Chunk **chunks) {
  while (*chunks != NULL) {
    ct_X64Chunk *c = *chunks;
    *chunks = c->next;
    munmap(c->mem, 2 * c->page);
    free(c);
  }
}

/* } ====================================================================== */
#endif
