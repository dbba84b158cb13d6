/*
** scalar.c -- the scalar kinds: one table (CT_SCALARS in ctypes.h) gives
** names, sizes, alignments and libffi types; strict Lua <-> C conversion.
*/
#include <float.h>
#include <math.h>
#include <stdalign.h>
#include <stdbool.h>
#include <string.h>

#include "ctypes.h"


/* {======================================================================
** Integers: wrap modulo 2^N as ctypes does; accept floats only when they
** hold an exact integer value.
** ======================================================================= */

/* Memory may be unaligned (members of packed structures): every access
** goes through memcpy, which is one move on x86-64. */
#define STORE(T, p, v) do { T v_ = (v); memcpy((p), &v_, sizeof v_); } while (0)
#define LOAD(T, p, dst) do { T v_; memcpy(&v_, (p), sizeof v_); dst = v_; } while (0)

/* x87 long double: 10 significant bytes in 16; the padding is left alone,
** as a C assignment leaves it */
#if LDBL_MANT_DIG == 64 && (defined(__x86_64__) || defined(__i386__))
#define LDBL_BYTES 10
#else
#define LDBL_BYTES sizeof(long double)
#endif
#define STORE_LDBL(p, v) do { long double v_ = (v); memcpy((p), &v_, LDBL_BYTES); } while (0)

/* the integer scalars: X(CODE, C type) */
#define CT_INTEGERS(X) \
  X(BYTE, signed char) X(UBYTE, unsigned char) \
  X(SHORT, short) X(USHORT, unsigned short) \
  X(INT, int) X(UINT, unsigned int) \
  X(LONG, long) X(ULONG, unsigned long) \
  X(LONGLONG, long long) X(ULONGLONG, unsigned long long)

/* Lua value -> 64-bit pattern; 0 if not an integer value. Floats from
** -2^63 up to (but excluding) 2^64 with an integral value are accepted. */
static int tointbits (lua_State *L, int idx, uint64_t *out) {
  lua_Integer v;
  if (ct_fast_tointeger(L, idx, &v)) {     /* the common case (ctypes.h) */
    *out = (uint64_t)v;
    return 1;
  }
  if (lua_type(L, idx) == LUA_TNUMBER) {
    lua_Number n = lua_tonumber(L, idx);
    if (n != floor(n)) return 0;
    if (n >= -9223372036854775808.0 && n < 9223372036854775808.0) {
      *out = (uint64_t)(int64_t)n;
      return 1;
    }
    if (n >= 0 && n < 18446744073709551616.0) {
      *out = (uint64_t)n;
      return 1;
    }
  }
  return 0;
}


/* encode one code point as UTF-8 into buf (at least 4 bytes) */
static size_t utf8enc (char *buf, uint32_t c) {
  if (c < 0x80) { buf[0] = (char)c; return 1; }
  if (c < 0x800) {
    buf[0] = (char)(0xC0 | (c >> 6));
    buf[1] = (char)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    buf[0] = (char)(0xE0 | (c >> 12));
    buf[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    buf[2] = (char)(0x80 | (c & 0x3F));
    return 3;
  }
  buf[0] = (char)(0xF0 | (c >> 18));
  buf[1] = (char)(0x80 | ((c >> 12) & 0x3F));
  buf[2] = (char)(0x80 | ((c >> 6) & 0x3F));
  buf[3] = (char)(0x80 | (c & 0x3F));
  return 4;
}


/* decode one UTF-8 code point at s[0..len); returns its length, 0 if bad */
static size_t utf8dec (const unsigned char *s, size_t len, uint32_t *out) {
  uint32_t c = s[0];
  size_t n, i;
  if (c < 0x80) { *out = c; return 1; }
  else if ((c & 0xE0) == 0xC0) { n = 2; c &= 0x1F; }
  else if ((c & 0xF0) == 0xE0) { n = 3; c &= 0x0F; }
  else if ((c & 0xF8) == 0xF0) { n = 4; c &= 0x07; }
  else return 0;
  if (n > len) return 0;
  for (i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3F);
  }
  if (c > 0x10FFFF || (n == 2 && c < 0x80) || (n == 3 && c < 0x800) ||
      (n == 4 && c < 0x10000) || (c >= 0xD800 && c <= 0xDFFF))
    return 0;
  *out = c;
  return n;
}


/* wide text may sit at any address (a view at an odd offset, an address
** given to wstring_at): characters are read with memcpy */
size_t ct_wcsnlen (const wchar_t *w, size_t max) {
  const unsigned char *b = (const unsigned char *)w;
  size_t i;
  for (i = 0; i < max; i++) {
    wchar_t c;
    memcpy(&c, b + i * sizeof c, sizeof c);
    if (c == 0) break;
  }
  return i;
}


void ct_pushwstring (lua_State *L, const wchar_t *w, size_t n) {
  luaL_Buffer b;
  size_t i;
  luaL_buffinit(L, &b);
  for (i = 0; i < n; i++) {
    char *p = luaL_prepbuffsize(&b, 4);
    wchar_t wc;
    uint32_t c;
    memcpy(&wc, (const unsigned char *)w + i * sizeof wc, sizeof wc);
    c = (uint32_t)wc;
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = 0xFFFD;
    luaL_addsize(&b, utf8enc(p, c));
  }
  luaL_pushresult(&b);
}


/* UTF-8 string at idx -> a NUL-terminated wchar_t buffer (a userdata pushed
** on the stack); *n gets the number of characters. NULL if not valid UTF-8
** (nothing pushed). */
wchar_t *ct_towstring (lua_State *L, int idx, size_t *n) {
  size_t len, i = 0, k = 0;
  const unsigned char *s = (const unsigned char *)lua_tolstring(L, idx, &len);
  wchar_t *w;
  /* count first so the buffer is exact */
  while (i < len) {
    uint32_t c;
    size_t step = utf8dec(s + i, len - i, &c);
    if (step == 0) return NULL;
    i += step; k++;
  }
  w = (wchar_t *)lua_newuserdatauv(L, (k + 1) * sizeof(wchar_t), 0);
  for (i = 0, k = 0; i < len; k++) {
    uint32_t c;
    i += utf8dec(s + i, len - i, &c);
    w[k] = (wchar_t)c;
  }
  w[k] = 0;
  if (n) *n = k;
  return w;
}


void ct_bswap (void *p, size_t n) {
  unsigned char *b = (unsigned char *)p;
  size_t i;
  for (i = 0; i < n / 2; i++) {
    unsigned char c = b[i];
    b[i] = b[n - 1 - i];
    b[n - 1 - i] = c;
  }
}

/* } ====================================================================== */


/* Lua value at idx -> the scalar `code` at p. tidx names the type for
** messages. Returns CT_CONV_*. */
int ct_scalar_set (lua_State *L, int code, void *p, int idx, int tidx) {
  uint64_t u;
  switch (ct_fast_set(L, code, p, idx)) {    /* plain values (ctypes.h) */
    case CT_FAST_DONE: return CT_CONV_OK;
    case CT_FAST_KEEP: return CT_CONV_KEEPARG;
    default: break;
  }
  idx = lua_absindex(L, idx);
  /* an instance of the same scalar type: copy its value */
  if (lua_type(L, idx) == LUA_TUSERDATA) {
    ct_CData *cd = ct_tocdata(L, idx);
    if (cd != NULL && cd->type == (ct_Type *)lua_touserdata(L, tidx)) {
      memcpy(p, ct_cdptr(cd), cd->type->size);
      if (code == CT_BOOL)        /* any non-zero byte is true: store 1 */
        *(unsigned char *)p = *(unsigned char *)p != 0;
      if (code == CT_CHAR_P || code == CT_WCHAR_P) {
        /* share what keeps its target alive */
        return CT_CONV_KEEPARG;
      }
      return CT_CONV_OK;
    }
  }
  switch (code) {
#define INTCASE(CODE, T) \
    case CT_##CODE: \
      if (!tointbits(L, idx, &u)) return ct_pushexpected(L, tidx, idx); \
      STORE(T, p, (T)u); return CT_CONV_OK;
    CT_INTEGERS(INTCASE)
#undef INTCASE
    case CT_BOOL:
      if (lua_isboolean(L, idx))
        STORE(_Bool, p, lua_toboolean(L, idx));
      else if (tointbits(L, idx, &u))
        STORE(_Bool, p, (u != 0));
      else return ct_pushexpected(L, tidx, idx);
      return CT_CONV_OK;
    case CT_CHAR:
      if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (len != 1) goto badlen;
        STORE(char, p, s[0]);
      }
      else if (tointbits(L, idx, &u))
        STORE(char, p, (char)u);
      else return ct_pushexpected(L, tidx, idx);
      return CT_CONV_OK;
    case CT_WCHAR:
      if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        uint32_t c;
        const char *s = lua_tolstring(L, idx, &len);
        if (len == 0 || utf8dec((const unsigned char *)s, len, &c) != len)
          goto badlen;
        STORE(wchar_t, p, (wchar_t)c);
      }
      else if (tointbits(L, idx, &u))
        STORE(wchar_t, p, (wchar_t)u);
      else return ct_pushexpected(L, tidx, idx);
      return CT_CONV_OK;
    case CT_FLOAT: {
      float f;
      if (!ct_fast_tofloat(L, idx, &f)) return ct_pushexpected(L, tidx, idx);
      STORE(float, p, f);
      return CT_CONV_OK;
    }
    case CT_DOUBLE: {
      double d;
      if (!ct_fast_todouble(L, idx, &d)) return ct_pushexpected(L, tidx, idx);
      STORE(double, p, d);
      return CT_CONV_OK;
    }
    case CT_LONGDOUBLE:
      if (lua_type(L, idx) != LUA_TNUMBER) return ct_pushexpected(L, tidx, idx);
      if (lua_isinteger(L, idx))
        STORE_LDBL(p, (long double)lua_tointeger(L, idx));
      else STORE_LDBL(p, (long double)lua_tonumber(L, idx));
      return CT_CONV_OK;
    case CT_CHAR_P:
      if (lua_type(L, idx) == LUA_TSTRING) {
        STORE(const char *, p, lua_tostring(L, idx));
        return CT_CONV_KEEPARG;
      }
      goto pointer;
    case CT_WCHAR_P:
      if (lua_type(L, idx) == LUA_TSTRING) {
        wchar_t *w = ct_towstring(L, idx, NULL);
        if (w == NULL)
          return (lua_pushfstring(L, "expected %s, got a string that is not "
                                  "valid UTF-8", ct_typename(L, tidx)),
                  CT_CONV_FAIL);
        STORE(wchar_t *, p, w);
        return CT_CONV_KEEPTOP;
      }
      goto pointer;
    case CT_VOID_P:
    pointer: {
      void *addr;
      if (lua_isnoneornil(L, idx)) { STORE(void *, p, NULL); return CT_CONV_OK; }
      if (lua_isinteger(L, idx)) {
        STORE(void *, p, (void *)(intptr_t)lua_tointeger(L, idx));
        return CT_CONV_OK;
      }
      if (lua_type(L, idx) == LUA_TUSERDATA && ct_tocdata(L, idx) != NULL) {
        ct_CData *cd = ct_tocdata(L, idx);
        const ct_Type *t = cd->type;
        int ok;
        if (code == CT_VOID_P)
          ok = 1;
        else {
          /* char * / wchar_t *: the matching arrays and pointers only */
          int want = code == CT_CHAR_P ? CT_CHAR : CT_WCHAR;
          const ct_Type *e = NULL;
          if (t->kind == CT_ARRAY || t->kind == CT_POINTER) {
            ct_pushcdtype(L, idx);
            lua_getiuservalue(L, -1, CT_TUV_PROTO);
            e = ct_totype(L, -1);
            lua_pop(L, 2);
          }
          ok = e != NULL && e->kind == CT_SIMPLE && e->scalar == want;
        }
        if (ok && ct_toaddress(L, idx, &addr)) {
          STORE(void *, p, addr);
          return CT_CONV_KEEPARG;
        }
      }
      return ct_pushexpected(L, tidx, idx);
    }
  }
  return ct_pushexpected(L, tidx, idx);
 badlen:
  lua_pushfstring(L, "expected %s, got a string of length %d",
                  ct_typename(L, tidx), (int)luaL_len(L, idx));
  return CT_CONV_FAIL;
}


void ct_scalar_push (lua_State *L, int code, const void *p) {
  switch (code) {
    /* any non-zero byte is true: union members may hold other bytes */
    case CT_BOOL: lua_pushboolean(L, *(const unsigned char *)p != 0); break;
    case CT_CHAR: lua_pushlstring(L, (const char *)p, 1); break;
    case CT_WCHAR: {
      wchar_t w;
      LOAD(wchar_t, p, w);
      ct_pushwstring(L, &w, 1);
      break;
    }
#define INTCASE(CODE, T) \
    case CT_##CODE: { T v; LOAD(T, p, v); lua_pushinteger(L, (lua_Integer)v); \
                      break; }
    CT_INTEGERS(INTCASE)
#undef INTCASE
    case CT_FLOAT: { float f; LOAD(float, p, f); lua_pushnumber(L, f); break; }
    case CT_DOUBLE: { double d; LOAD(double, p, d); lua_pushnumber(L, d); break; }
    case CT_LONGDOUBLE: {
      long double d = 0;
      memcpy(&d, p, LDBL_BYTES);
      lua_pushnumber(L, (lua_Number)d);
      break;
    }
    case CT_CHAR_P: {
      const char *s;
      LOAD(const char *, p, s);
      if (s == NULL) lua_pushnil(L); else lua_pushstring(L, s);
      break;
    }
    case CT_WCHAR_P: {
      const wchar_t *w;
      LOAD(const wchar_t *, p, w);
      if (w == NULL) lua_pushnil(L);
      else ct_pushwstring(L, w, ct_wcsnlen(w, SIZE_MAX));
      break;
    }
    case CT_VOID_P: {
      void *a;
      LOAD(void *, p, a);
      if (a == NULL) lua_pushnil(L);
      else lua_pushinteger(L, (lua_Integer)(uintptr_t)a);
      break;
    }
  }
}


void ct_open_scalar (lua_State *L) {
  static const struct {
    const char *name;
    size_t size, align;
    ffi_type *ffi;
  } scalars[CT_NSCALARS] = {
#define CT_X_ROW(code, name, ctype, ffit) \
    { #name, sizeof(ctype), alignof(ctype), &ffit },
    CT_SCALARS(CT_X_ROW)
#undef CT_X_ROW
  };
  /* aliases, as ctypes makes them: fixed-width names by size */
  const struct { const char *alias, *name; } aliases[] = {
    {"c_voidp", "c_void_p"},
    {"c_int8", "c_byte"}, {"c_uint8", "c_ubyte"},
    {"c_int16", "c_short"}, {"c_uint16", "c_ushort"},
    {"c_int32", "c_int"}, {"c_uint32", "c_uint"},
    {"c_int64", sizeof(long) == 8 ? "c_long" : "c_longlong"},
    {"c_uint64", sizeof(long) == 8 ? "c_ulong" : "c_ulonglong"},
    {"c_size_t", "c_ulong"}, {"c_ssize_t", "c_long"},
    {NULL, NULL}
  };
  int i;
  for (i = 0; i < CT_NSCALARS; i++) {
    ct_Type *t;
    /* long long is long where they have one size (LP64), as in ctypes */
    if ((i == CT_LONGLONG || i == CT_ULONGLONG) &&
        sizeof(long long) == sizeof(long)) {
      lua_getfield(L, -1, i == CT_LONGLONG ? "c_long" : "c_ulong");
      lua_setfield(L, -2, scalars[i].name);
      ct_pushscalartype(L, i == CT_LONGLONG ? CT_LONG : CT_ULONG);
      ct_registerscalar(L, i, -1);
      lua_pop(L, 1);
      continue;
    }
    t = ct_newtype(L, CT_SIMPLE, scalars[i].name);
    t->scalar = i;
    t->size = scalars[i].size;
    t->align = scalars[i].align;
    t->ffi = scalars[i].ffi;
    t->flags = CT_FINAL;
    ct_registerscalar(L, i, -1);
    lua_setfield(L, -2, scalars[i].name);
  }
  for (i = 0; aliases[i].alias != NULL; i++) {
    lua_getfield(L, -1, aliases[i].name);
    lua_setfield(L, -2, aliases[i].alias);
  }
}
