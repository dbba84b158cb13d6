-- cdef differential test: random C declarations as text, parsed by
-- ctypes.cdef and compiled by gcc (spec/gen/layout.lua, spec/gen/cdef.lua);
-- every size, alignment, offset and bit position must agree. Then the
-- declarations of real headers (zlib, <time.h>, <sys/stat.h>, sqlite3),
-- checked against gcc with the real header and used against the real
-- libraries.
local helper = require("spec.helper")
local ctypes = require("ctypes")
local layout = require("spec.gen.layout")
local gencdef = require("spec.gen.cdef")

local SEED = 20261202
local cdef, sizeof, alignment, POINTER = ctypes.cdef, ctypes.sizeof,
  ctypes.alignment, ctypes.POINTER

-- runs a C program printing "name value" lines; returns { name = value }
local function cnumbers(src)
  local out = layout.gcc_run(helper, src)
  local t = {}
  for k, v in out:gmatch("(%S+) (%-?%d+)") do t[k] = tonumber(v) end
  return t
end

-- gcc's sizeof, _Alignof and offsetof for a header's types
local function oracle(includes, T, fields)
  local src = { "#include <stddef.h>", "#include <stdio.h>" }
  for _, h in ipairs(includes) do src[#src + 1] = "#include <" .. h .. ">" end
  src[#src + 1] = "int main(void) {"
  src[#src + 1] = ('  printf("sizeof %%zu\\nalign %%zu\\n", sizeof(%s), ' ..
                   '_Alignof(%s));'):format(T, T)
  for _, f in ipairs(fields) do
    src[#src + 1] = ('  printf("%s %%zu\\n", offsetof(%s, %s));'):format(f, T, f)
  end
  src[#src + 1] = "  return 0;\n}\n"
  return cnumbers(table.concat(src, "\n"))
end

local function check_layout(includes, cname, T, fields)
  local want = oracle(includes, cname, fields)
  assert.are.equal(want.sizeof, sizeof(T), cname .. " size")
  assert.are.equal(want.align, alignment(T), cname .. " align")
  for _, f in ipairs(fields) do
    assert.are.equal(want[f], T[f].offset, cname .. "." .. f)
  end
end

describe("cdef differential test against gcc", function()
  -- the layout generator's declarations, as C text: #pragma pack(push, n)
  -- for _pack_, __attribute__((aligned(n))), bit fields, zero-width and
  -- unnamed bit fields, arrays (GNU zero-length too), nested records
  local function layout_check(seed, count, packedattr)
    local decls = layout.generate(seed, count)
    local texts = {}
    for i, d in ipairs(decls) do
      local t = layout.cdecl(decls, d)
      if packedattr and d.pack == 1 then
        -- the attribute instead of the pragma
        t = t:gsub("^#pragma pack%(push, 1%)\n", "")
             :gsub("\n#pragma pack%(pop%)$", "")
             :gsub("^(%a+) ", "%1 __attribute__((packed)) ")
      end
      texts[i] = t
    end
    -- the C program: the generator's (its includes and dump() helper, its
    -- main), with our texts as declarations
    local gsrc = layout.csource(decls)
    local body = gsrc:match("\nint main%(void%).*$")
    local helpers = gsrc:match("^(.-\n})\n")            -- up to dump()
    local csrc = helpers .. "\n" .. table.concat(texts, "\n") .. body
    local ns = cdef(table.concat(texts, "\n"))
    local types = {}
    for i, d in ipairs(decls) do
      types[i] = ns[(d.union and "union " or "struct ") .. d.name]
    end
    local creport = layout.gcc_run(helper, csrc)
    local lreport, problems = layout.report(ctypes, decls, types)
    local n, msgs = layout.compare(decls, creport, lreport,
                                   function(_, i) return texts[i] end)
    assert.are.same({}, msgs)
    assert.are.same({}, problems)
    assert.are.equal(creport, lreport)
    local packed = 0
    for _, t in ipairs(texts) do
      if t:find("__attribute__((packed))", 1, true) then packed = packed + 1 end
    end
    return n, packed
  end

  it("agrees on 400 random records with #pragma pack and aligned", function()
    local n = layout_check(SEED, 400, false)
    assert.is_true(n > 2000)
  end)

  it("agrees on 400 random records with __attribute__((packed))", function()
    local n, packed = layout_check(SEED + 1, 400, true)
    assert.is_true(n > 2000)
    assert.is_true(packed >= 20, "packed: " .. packed)
  end)

  it("agrees on 400 random records with nested anonymous members and " ..
     "aligned members",
     function()
    local recs = gencdef.generate(SEED + 2, 400)
    local texts, anon, packed, aligned = {}, 0, 0, 0
    for i, d in ipairs(recs) do
      texts[i] = d.text
      for _ in d.text:gmatch("\n%s+%a+[^\n]-{\n") do anon = anon + 1 end
      if d.text:find("packed", 1, true) then packed = packed + 1 end
      for _ in d.text:gmatch("[%w%]] __attribute__%(%(aligned%(%d+%)%)%);") do aligned = aligned + 1 end
    end
    local ns = cdef(table.concat(texts, "\n"))
    local types = {}
    for i, d in ipairs(recs) do types[i] = ns[d.kind .. " " .. d.name] end
    local creport = layout.gcc_run(helper, gencdef.csource(recs))
    local lreport = gencdef.report(ctypes, recs, types)
    local n, msgs = layout.compare(recs, creport, lreport,
                                   function(ds, i) return ds[i].text end)
    assert.are.same({}, msgs)
    assert.are.equal(creport, lreport)
    assert.is_true(n > 1500)
    assert.is_true(anon >= 100, "nested records: " .. anon)
    assert.is_true(packed >= 50, "packed: " .. packed)
    assert.is_true(aligned >= 50, "aligned members: " .. aligned)
  end)

  it("generates the same text for the same seed", function()
    local a = gencdef.generate(SEED, 30)
    local b = gencdef.generate(SEED, 30)
    for i = 1, 30 do assert.are.equal(a[i].text, b[i].text) end
  end)
end)


describe("cdef with real headers", function()
  it("zlib: z_stream as gcc lays it out, deflate/inflate round trip",
     function()
    local z = cdef([[
      typedef unsigned char  Byte;
      typedef unsigned int   uInt;
      typedef unsigned long  uLong;
      typedef Byte  Bytef;
      typedef void *voidpf;
      typedef voidpf (*alloc_func)(voidpf opaque, uInt items, uInt size);
      typedef void   (*free_func)(voidpf opaque, voidpf address);
      struct internal_state;
      typedef struct z_stream_s {
          const Bytef *next_in;  /* next input byte */
          uInt     avail_in;     /* number of bytes available at next_in */
          uLong    total_in;     /* total number of input bytes read so far */
          Bytef    *next_out;    /* next output byte will go here */
          uInt     avail_out;    /* remaining free space at next_out */
          uLong    total_out;    /* total number of bytes output so far */
          const char *msg;       /* last error message, NULL if no error */
          struct internal_state *state; /* not visible by applications */
          alloc_func zalloc;     /* used to allocate the internal state */
          free_func  zfree;      /* used to free the internal state */
          voidpf     opaque;     /* private data object passed to zalloc and zfree */
          int     data_type;
          uLong   adler;
          uLong   reserved;
      } z_stream;
      typedef z_stream *z_streamp;
      #define Z_NO_FLUSH      0
      #define Z_FINISH        4
      #define Z_OK            0
      #define Z_STREAM_END    1
      #define Z_DEFAULT_COMPRESSION  (-1)
      #define ZEXPORT
      extern const char * ZEXPORT zlibVersion(void);
      extern int ZEXPORT deflateInit_(z_streamp strm, int level,
                                       const char *version, int stream_size);
      extern int ZEXPORT deflate(z_streamp strm, int flush);
      extern int ZEXPORT deflateEnd(z_streamp strm);
      extern int ZEXPORT inflateInit_(z_streamp strm,
                                       const char *version, int stream_size);
      extern int ZEXPORT inflate(z_streamp strm, int flush);
      extern int ZEXPORT inflateEnd(z_streamp strm);
      extern uLong ZEXPORT compressBound(uLong sourceLen);
    ]], ctypes.CDLL("libz.so.1"))
    check_layout({ "zlib.h" }, "z_stream", z.z_stream,
      { "next_in", "avail_in", "total_in", "next_out", "avail_out",
        "total_out", "msg", "state", "zalloc", "zfree", "opaque",
        "data_type", "adler", "reserved" })
    local text = string.rep("lua-ctypes reads C declarations. ", 40)
    local src = ctypes.create_string_buffer(text)
    local bound = z.compressBound(#text)
    local packed = (ctypes.c_ubyte * bound)()
    local s = z.z_stream()
    s.next_in = ctypes.cast(src, POINTER(ctypes.c_ubyte))
    s.avail_in = #text
    s.next_out = packed
    s.avail_out = bound
    local version = z.zlibVersion()
    assert.are.equal(z.Z_OK, z.deflateInit_(s, z.Z_DEFAULT_COMPRESSION,
                                            version, sizeof(z.z_stream)))
    assert.are.equal(z.Z_STREAM_END, z.deflate(s, z.Z_FINISH))
    local n = s.total_out
    assert.are.equal(#text, s.total_in)
    assert.is_true(n < #text // 4)
    assert.are.equal(z.Z_OK, z.deflateEnd(s))
    local back = ctypes.create_string_buffer(#text + 1)
    local t = z.z_stream()
    t.next_in = packed
    t.avail_in = n
    t.next_out = ctypes.cast(back, POINTER(ctypes.c_ubyte))
    t.avail_out = #text
    assert.are.equal(z.Z_OK, z.inflateInit_(t, version, sizeof(z.z_stream)))
    assert.are.equal(z.Z_STREAM_END, z.inflate(t, z.Z_NO_FLUSH))
    assert.are.equal(z.Z_OK, z.inflateEnd(t))
    assert.are.equal(text, back.value)
  end)

  it("<time.h>: struct tm with mktime, timegm, gmtime_r and strftime",
     function()
    local tm = cdef([[
      struct tm {
        int tm_sec; int tm_min; int tm_hour; int tm_mday; int tm_mon;
        int tm_year; int tm_wday; int tm_yday; int tm_isdst;
        long int tm_gmtoff;
        const char *tm_zone;
      };
      extern time_t mktime (struct tm *__tp);
      extern time_t timegm (struct tm *__tp);
      extern struct tm *gmtime_r (const time_t *__restrict __timer,
                                  struct tm *__restrict __tp);
      extern struct tm *localtime_r (const time_t *__restrict __timer,
                                     struct tm *__restrict __tp);
      extern size_t strftime (char *__restrict __s, size_t __maxsize,
                              const char *__restrict __format,
                              const struct tm *__restrict __tp);
    ]], ctypes.CDLL(nil))
    local TM = tm["struct tm"]
    check_layout({ "time.h" }, "struct tm", TM,
      { "tm_sec", "tm_year", "tm_isdst", "tm_gmtoff", "tm_zone" })
    local t = TM{ tm_year = 124, tm_mon = 0, tm_mday = 2, tm_hour = 3,
                  tm_min = 4, tm_sec = 5 }
    assert.are.equal(1704164645, tm.timegm(t))    -- Python's calendar.timegm
    assert.are.equal(2, t.tm_wday)                -- normalised: a Tuesday
    local buf = ctypes.create_string_buffer(64)
    assert.are.equal(19, tm.strftime(buf, 64, "%Y-%m-%d %H:%M:%S", t))
    assert.are.equal("2024-01-02 03:04:05", buf.value)
    -- mktime and localtime_r are inverses, whatever the time zone
    local l = TM{ tm_year = 99, tm_mon = 11, tm_mday = 31, tm_hour = 12,
                  tm_isdst = -1 }
    local when = ctypes.c_long(tm.mktime(l))
    local back = TM()
    assert.are.equal(ctypes.addressof(back),
                     ctypes.addressof(tm.localtime_r(when, back).contents))
    assert.are.same({ 99, 11, 31, 12 },
      { back.tm_year, back.tm_mon, back.tm_mday, back.tm_hour })
    local g = TM()
    tm.gmtime_r(ctypes.c_long(86400 * 365), g)
    assert.are.same({ 71, 0, 1 }, { g.tm_year, g.tm_mon, g.tm_mday })
  end)

  -- the whole header as the target's gcc preprocesses it (struct stat
  -- differs between targets: member order, padding, 32-bit fields on i386)
  it("<sys/stat.h>: the preprocessed header, struct stat as gcc lays it " ..
     "out, and stat()", function()
    local ok, text = helper.run("printf '#include <sys/stat.h>\\n' | gcc -E -P -x c -")
    assert(ok, text)
    local st = cdef(text .. [[
      #define S_IFMT  0170000
      #define S_IFREG 0100000
      #define S_IFDIR 0040000
    ]], ctypes.CDLL(nil))
    local ST = st["struct stat"]
    check_layout({ "sys/stat.h" }, "struct stat", ST,
      { "st_dev", "st_ino", "st_mode", "st_nlink", "st_uid", "st_rdev",
        "st_size", "st_blksize", "st_blocks", "st_atim", "st_mtim", "st_ctim" })
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(string.rep("x", 1234))
    f:close()
    local buf = ST()
    assert.are.equal(0, st.stat(path, buf))
    assert.are.equal(1234, buf.st_size)
    assert.are.equal(st.S_IFREG, buf.st_mode & st.S_IFMT)
    os.remove(path)
    assert.are.equal(0, st.stat("/", buf))
    assert.are.equal(st.S_IFDIR, buf.st_mode & st.S_IFMT)
  end)

  it("sqlite3: open, exec with a callback and a handle, prepared " ..
     "statements", function()
    local sq = cdef([[
      #define SQLITE_API
      typedef struct sqlite3 sqlite3;
      typedef struct sqlite3_stmt sqlite3_stmt;
      typedef long long int sqlite_int64;
      typedef sqlite_int64 sqlite3_int64;
      typedef void (*sqlite3_destructor_type)(void*);
      #define SQLITE_OK           0   /* Successful result */
      #define SQLITE_ERROR        1   /* Generic error */
      #define SQLITE_ROW         100  /* sqlite3_step() has another row ready */
      #define SQLITE_DONE        101  /* sqlite3_step() has finished executing */
      #define SQLITE_STATIC      ((sqlite3_destructor_type)0)
      #define SQLITE_TRANSIENT   ((sqlite3_destructor_type)-1)
      SQLITE_API const char *sqlite3_libversion(void);
      SQLITE_API int sqlite3_open(
        const char *filename,   /* Database filename (UTF-8) */
        sqlite3 **ppDb          /* OUT: SQLite db handle */
      );
      SQLITE_API int sqlite3_close(sqlite3*);
      SQLITE_API int sqlite3_exec(
        sqlite3*,                                  /* An open database */
        const char *sql,                           /* SQL to be evaluated */
        int (*callback)(void*,int,char**,char**),  /* Callback function */
        void *,                                    /* 1st argument to callback */
        char **errmsg                              /* Error msg written here */
      );
      SQLITE_API void sqlite3_free(void*);
      SQLITE_API const char *sqlite3_errmsg(sqlite3*);
      SQLITE_API int sqlite3_prepare_v2(
        sqlite3 *db,            /* Database handle */
        const char *zSql,       /* SQL statement, UTF-8 encoded */
        int nByte,              /* Maximum length of zSql in bytes. */
        sqlite3_stmt **ppStmt,  /* OUT: Statement handle */
        const char **pzTail     /* OUT: Pointer to unused portion of zSql */
      );
      SQLITE_API int sqlite3_bind_int64(sqlite3_stmt*, int, sqlite3_int64);
      SQLITE_API int sqlite3_bind_text(sqlite3_stmt*,int,const char*,int,void(*)(void*));
      SQLITE_API int sqlite3_step(sqlite3_stmt*);
      SQLITE_API sqlite3_int64 sqlite3_column_int64(sqlite3_stmt*, int iCol);
      SQLITE_API const unsigned char *sqlite3_column_text(sqlite3_stmt*, int iCol);
      SQLITE_API int sqlite3_finalize(sqlite3_stmt *pStmt);
    ]], ctypes.CDLL("libsqlite3.so.0"))
    assert.matches("^3%.%d+%.%d+", sq.sqlite3_libversion())
    local db = POINTER(sq.sqlite3)()
    assert.are.equal(sq.SQLITE_OK, sq.sqlite3_open(":memory:", ctypes.byref(db)))
    local err = ctypes.c_char_p()
    assert.are.equal(sq.SQLITE_OK, sq.sqlite3_exec(db,
      "create table t(k integer, v text);" ..
      "insert into t values (1, 'one'), (2, 'two'), (3, 'three');",
      nil, nil, ctypes.byref(err)))
    -- rows collected into a Lua table that C carries as void *userdata
    local rows = {}
    local h = ctypes.new_handle(rows)
    local rc = sq.sqlite3_exec(db, "select k, v from t order by k",
      function(ud, n, values, names)
        local t = ctypes.from_handle(ud)
        t[#t + 1] = values[0] .. "=" .. values[1]
        assert.are.equal(2, n)
        assert.are.equal("v", names[1])
        return 0
      end, h, ctypes.byref(err))
    assert.are.equal(sq.SQLITE_OK, rc)
    assert.are.same({ "1=one", "2=two", "3=three" }, rows)
    -- a syntax error: the message comes back through char **errmsg
    assert.are.equal(sq.SQLITE_ERROR, sq.sqlite3_exec(db, "selec nothing",
      nil, nil, ctypes.byref(err)))
    assert.matches("syntax error", err.value)
    sq.sqlite3_free(err)
    -- a prepared statement with bound parameters
    local stmt = POINTER(sq.sqlite3_stmt)()
    assert.are.equal(sq.SQLITE_OK, sq.sqlite3_prepare_v2(db,
      "select v, k * ? from t where k >= ? order by k", -1,
      ctypes.byref(stmt), nil))
    assert.are.equal(sq.SQLITE_OK, sq.sqlite3_bind_int64(stmt, 1, 1 << 40))
    assert.are.equal(sq.SQLITE_OK, sq.sqlite3_bind_int64(stmt, 2, 2))
    local got = {}
    while sq.sqlite3_step(stmt) == sq.SQLITE_ROW do
      local text = ctypes.cast(sq.sqlite3_column_text(stmt, 0), ctypes.c_char_p)
      got[#got + 1] = text.value .. ":" .. sq.sqlite3_column_int64(stmt, 1)
    end
    assert.are.same({ "two:" .. (2 << 40), "three:" .. (3 << 40) }, got)
    assert.are.equal(sq.SQLITE_OK, sq.sqlite3_finalize(stmt))
    assert.are.equal(-1, sq.SQLITE_TRANSIENT)
    assert.are.equal(sq.SQLITE_OK, sq.sqlite3_close(db))
  end)
end)
