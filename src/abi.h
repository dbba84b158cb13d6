/*
** abi.h -- the target boundary of lua-ctypes' C core (included by ctypes.h).
**
** The portable core calls C and receives callbacks through libffi alone,
** as libffi documents it: aggregate ffi_types built from their fields
** (call.c), libffi's own classification, integer results narrower than
** ffi_arg read from the whole ffi_arg slot, narrow callback results stored
** as a whole ffi_arg. That path is compiled on every target.
**
** A target adds, behind macros decided here and nowhere else, two kinds of
** code. Today there is one target, x86-64 System V (src/abi_x64.c):
**
** CT_ABI_X64 -- what libffi needs to be told on that target to pass what
**   gcc passes (correctness; always on for the target, PORTABLE or not):
**   - the classification of by-value types (psABI 3.2.3) and each
**     aggregate's libffi type built from it (libffi's x86-64 classifier has
**     no notion of unions, bit fields or unaligned members);
**   - register placement, one function for calls and callbacks;
**   - the workaround for libffi 3.4.4's register-copy bug, applied only
**     when a probe shows that the loaded libffi has the bug.
** CT_X64_DIRECT -- speed (off with `make PORTABLE=1`, -DCT_PORTABLE):
**   - the direct register call (no libffi for register-only signatures)
**     and the hot paths of the call;
**   - the callback stubs and their entry assembly.
**
** Adding a target: decide CT_ABI_<T> below from the compiler's macros, put
** its code in src/abi_<t>.c under #if CT_ABI_<T>, and guard its uses in
** call.c/callback.c with the same macro (DEVELOPERS.md, "ABI boundary").
** A target that needs nothing beyond libffi needs no code at all.
*/
#ifndef CT_ABI_H
#define CT_ABI_H

/* x86-64 System V on an ELF system with GCC-compatible inline assembly */
#if defined(__x86_64__) && defined(__ELF__) && defined(__GNUC__) && \
    !defined(_WIN32)
#define CT_ABI_X64 1
#else
#define CT_ABI_X64 0
#endif

#if CT_ABI_X64 && !defined(CT_PORTABLE)
#define CT_X64_DIRECT 1
#else
#define CT_X64_DIRECT 0
#endif

/* AArch64 (AAPCS64, not Apple's variant): libffi 3.4.4 puts the pointer to
** an aggregate passed by reference (larger than 16 bytes, not a homogeneous
** float aggregate) on the stack at the aggregate's alignment instead of the
** pointer's, so after an 8-byte stack argument the callee finds it 8 bytes
** off. Such aggregates are described to libffi with a pointer's alignment,
** the only use libffi makes of it for them (call.c, aggtype). */
#if defined(__aarch64__) && !defined(__APPLE__)
#define CT_ABI_A64_BYREFALIGN 1
#else
#define CT_ABI_A64_BYREFALIGN 0
#endif

/* s390x: gcc passes a structure whose only member is a float or double in
** a floating-point register, never a union: unions are described to libffi
** as integer bytes (call.c, markbytes). */
#if defined(__s390x__)
#define CT_ABI_UNION_INT 1
#else
#define CT_ABI_UNION_INT 0
#endif


/* the bytes a (non-empty) bit field's bits occupy, [*first, *last] from
** the start of its structure (a swapped one: its whole storage unit): both
** lowerings (the x86-64 classification, libffi types built from the
** fields) make them integer bytes */
static inline void ct_abi_bitbytes (const ct_Field *f, size_t *first,
                                    size_t *last) {
  if (f->flags & CT_F_SWAPPED) {
    *first = f->offset;
    *last = f->offset + f->size - 1;
  }
  else {
    *first = f->bitpos / 8;
    *last = (f->bitpos + f->bit_size - 1) / 8;
  }
}

#if CT_ABI_X64
/* {======================================================================
** x86-64 System V: classification, placement (abi_x64.c)
** ======================================================================= */

enum { CT_CL_NONE, CT_CL_INT, CT_CL_SSE, CT_CL_X87, CT_CL_X87UP, CT_CL_MEM };

/* the lowering of one argument or result: n eightbytes in registers of the
** classes c[0..n-1]; n == 0: memory (stack, or hidden pointer for returns);
** x87: a lone long double (st0 when returned, memory as an argument)
** (six bytes: it is in every argument record of a signature) */
typedef struct ct_Low {
  unsigned char n, x87, agg, split;
  unsigned char c[2];
} ct_Low;

#define CT_X64_NGPR 6
#define CT_X64_NSSE 8

/* the libffi type of the struct/union type at tidx, built from its
** classification and kept alive by the type (CT_TUV_EXT) */
ffi_type *ct_x64_aggtype (lua_State *L, int tidx);
/* the lowering of any type used as an argument or result */
ct_Low ct_x64_typelow (lua_State *L, int tidx);
/* the lowering of a scalar (or pointer-like) type; n == 0 for long double */
ct_Low ct_x64_scalarlow (const ct_Type *t);
/* the lowering of an argument from its libffi type (one that ct_ffitype or
** the scalar table made) */
ct_Low ct_x64_ffilow (const ffi_type *ft);

/* Decides which arguments travel in registers, as the ABI assigns them in
** order (an aggregate that does not fit whole goes to the stack and later
** ones may still take registers), and records in reg[i] (unless NULL) the
** first register of each (a general register index for CT_CL_INT, an SSE
** register index otherwise). hidden: the result goes through a hidden pointer (takes rdi).
** Sets *split if some argument hits libffi's register-copy bug (and the
** loaded libffi has it), marking it lw[i].split. Returns 1 if every
** argument is in registers. Used by calls and callbacks alike. */
int ct_x64_place (ct_Low *lw, int n, int hidden, int *gpr, int *sse,
                  int *split, unsigned char *reg);
/* where the direct call finds the result */
enum {
  CT_RD_VOID, CT_RD_INT, CT_RD_SSE, CT_RD_X87, CT_RD_II, CT_RD_SS, CT_RD_IS,
  CT_RD_SI, CT_RD_MEM
};
int ct_x64_rd (const ct_Low *rlow);   /* CT_RD_* of a result lowering */
/* the libffi types after the workaround: split arguments become one scalar
** per eightbyte; returns the count */
int ct_x64_splittypes (const ct_Low *lw, ffi_type *const *at, int n,
                       ffi_type **out);

/* } ====================================================================== */
#endif


#if CT_X64_DIRECT
/* {======================================================================
** x86-64 System V: registers, the direct call, callback stubs
** ======================================================================= */

/* the register image of eightbyte j of an object of size sz at p */
static inline uint64_t ct_x64_eightbyte (const void *p, size_t sz, int j) {
  uint64_t u = 0;
  size_t n = sz - 8 * (size_t)j;
  memcpy(&u, (const char *)p + 8 * j, n < 8 ? n : 8);
  return u;
}
/* the register image of a scalar argument of the libffi type code fftype
** at p: integers sign or zero extended to 64 bits, a float in the low half
** (the only place that widens arguments for the direct call) */
static inline uint64_t ct_x64_regimage (const void *p, unsigned fftype) {
  uint64_t u = 0;
  switch (fftype) {
    case FFI_TYPE_SINT8: return (uint64_t)(int64_t)*(const int8_t *)p;
    case FFI_TYPE_UINT8: return *(const uint8_t *)p;
    case FFI_TYPE_SINT16: return (uint64_t)(int64_t)*(const int16_t *)p;
    case FFI_TYPE_UINT16: return *(const uint16_t *)p;
    case FFI_TYPE_SINT32: case FFI_TYPE_INT:
      return (uint64_t)(int64_t)*(const int32_t *)p;
    case FFI_TYPE_UINT32: return *(const uint32_t *)p;
    case FFI_TYPE_FLOAT: memcpy(&u, p, 4); return u;
    default: memcpy(&u, p, 8); return u;
  }
}
/* calls fn with six integer registers g and nsse SSE registers x; the
** result (by rd) goes to ret (16 bytes); inline: it is the call itself */
typedef struct { uint64_t a, b; } ct_R_II;   /* rax, rdx */
typedef struct { double a, b; } ct_R_SS;     /* xmm0, xmm1 */
typedef struct { uint64_t a; double b; } ct_R_IS;   /* rax, xmm0 */
typedef struct { double a; uint64_t b; } ct_R_SI;   /* xmm0, rax */

/* Every register-only call is made through a variadic pointer type taking
** six integer and eight double registers: the ABI assigns integer and SSE
** registers independently and in order, so the callee finds its arguments
** where it expects them, extra registers are ignored, and %al (the count of
** vector registers a variadic callee reads) is set by the compiler. Floats
** travel as the low half of a double's bit pattern. */
#define CT_DCALL(RT, fn, g, x, nsse) \
  ((nsse) == 0 ? \
   ((RT (*)(uint64_t, ...))(fn))(g[0], g[1], g[2], g[3], g[4], g[5]) : \
   ((RT (*)(uint64_t, ...))(fn))(g[0], g[1], g[2], g[3], g[4], g[5], \
                                 x[0], x[1], x[2], x[3], x[4], x[5], \
                                 x[6], x[7]))

static inline __attribute__((always_inline))
void ct_x64_call (void *fn, int rd, const uint64_t *g, const double *x,
                  int nsse, void *ret) {
  switch (rd) {
    case CT_RD_SSE: {
      double r = CT_DCALL(double, fn, g, x, nsse);
      memcpy(ret, &r, sizeof r);
      break;
    }
    case CT_RD_X87: {
      long double r = CT_DCALL(long double, fn, g, x, nsse);
      memcpy(ret, &r, sizeof r);
      break;
    }
    /* two eightbytes back, in the register classes the type names */
#define PAIR(RT) { RT r = CT_DCALL(RT, fn, g, x, nsse); \
                   memcpy(ret, &r.a, 8); memcpy((char *)ret + 8, &r.b, 8); }
    case CT_RD_II: PAIR(ct_R_II) break;
    case CT_RD_SS: PAIR(ct_R_SS) break;
    case CT_RD_IS: PAIR(ct_R_IS) break;
    case CT_RD_SI: PAIR(ct_R_SI) break;
#undef PAIR
    case CT_RD_MEM:   /* written through the hidden pointer; rax is that */
      (void)CT_DCALL(uint64_t, fn, g, x, nsse);
      break;
    default: {   /* void, integer class */
      uint64_t r = CT_DCALL(uint64_t, fn, g, x, nsse);
      memcpy(ret, &r, sizeof r);
      break;
    }
  }
}

/* the argument registers as the callback entries save them */
typedef struct ct_X64Regs {
  uint64_t gpr[CT_X64_NGPR];
  double xmm[CT_X64_NSSE];
} ct_X64Regs;
/* where a callback of sig finds its arguments when entered through a stub:
** off[i] the byte offset of argument i in ct_X64Regs, *retoff that of the
** result, *sse whether any of them is an SSE register; 0 if some argument
** or the result does not travel in one register */
int ct_x64_cbplace (const ct_Sig *sig, unsigned char *off,
                    unsigned char *retoff, unsigned char *sse);

/* Callback stubs: one per callback, CT_X64_CHUNK to a page of code; stub i
** loads its state into r10 and jumps to its entry. */
typedef struct ct_X64Chunk ct_X64Chunk;
typedef struct ct_X64Stub {
  ct_X64Chunk *chunk;       /* NULL: none */
  int slot;
} ct_X64Stub;
enum { CT_X64_ENTRY_ALL, CT_X64_ENTRY_GPR, CT_X64_ENTRY_G5 };
/* a stub for state with the given entry kind into *stub; returns its code
** address or NULL (no executable pages: use libffi) */
void *ct_x64_stub_new (ct_X64Chunk **chunks, ct_X64Stub *stub, void *state,
                       int entry);
void ct_x64_stub_free (ct_X64Stub *stub);
void ct_x64_stubs_close (ct_X64Chunk **chunks);
/* the C side of the entries (callback.c): ALL and GPR call ct_x64_cb_regs
** with the state and the saved registers (the result goes to gpr[0] or
** xmm[0]); G5 (at most five integer arguments, result in rax) is a C
** function of the five registers and the state */
void ct_x64_cb_regs (void *state, ct_X64Regs *r);
uint64_t ct_x64_cb_gpr5 (uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
                         uint64_t a4, void *state);

/* } ====================================================================== */
#endif

#endif
