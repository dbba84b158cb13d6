-- sqlite3.lua: an in-memory SQLite database through libsqlite3 (Debian's
-- libsqlite3-0): an out parameter through byref (the sqlite3 * that
-- sqlite3_open fills in), prepared statements binding and reading every
-- column type, sqlite3_exec calling a Lua function for each row, an SQL
-- function written in Lua, and errors turned into Lua errors with
-- sqlite3_errmsg.
local ctypes = require("ctypes")
local util = require("ctypes.util")

local c_int, c_int64, c_double, c_char_p, c_void_p =
  ctypes.c_int, ctypes.c_int64, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p
local POINTER, byref = ctypes.POINTER, ctypes.byref

local sqlite = ctypes.CDLL(util.find_library("sqlite3"))
print("loaded " .. sqlite._name)

-- from sqlite3.h
local SQLITE_OK, SQLITE_ROW, SQLITE_DONE = 0, 100, 101
local SQLITE_UTF8, SQLITE_DETERMINISTIC = 1, 0x800
local TYPES = { "INTEGER", "FLOAT", "TEXT", "BLOB", "NULL" }
-- SQLITE_TRANSIENT, ((sqlite3_destructor_type)-1): sqlite copies the bytes
-- before the call returns, so a Lua string can be passed as it is
local SQLITE_TRANSIENT = c_void_p(-1)

-- declare(name, restype, argtypes...): the C prototype of sqlite.name
local function declare(name, restype, ...)
  local f = sqlite[name]
  f.restype, f.argtypes = restype, { ... }
  return f
end

-- Handles are opaque pointers: c_void_p is enough, and an out parameter
-- `sqlite3 **` is a c_void_p passed by reference.
local sqlite3_open = declare("sqlite3_open", c_int, c_char_p, POINTER(c_void_p))
local sqlite3_close = declare("sqlite3_close", c_int, c_void_p)
local sqlite3_errmsg = declare("sqlite3_errmsg", c_char_p, c_void_p)

local db = c_void_p()
assert(sqlite3_open(":memory:", byref(db)) == SQLITE_OK)
print("opened :memory:, handle is not NULL: " .. tostring(db.value ~= nil))

-- errcheck turns a result code into a Lua error carrying sqlite's own
-- message (it runs after every call, with the call's arguments)
local function check(rc)
  if rc ~= SQLITE_OK and rc ~= SQLITE_ROW and rc ~= SQLITE_DONE then
    error(sqlite3_errmsg(db), 0)
  end
  return rc
end
local function checked(name, ...)
  local f = declare(name, c_int, ...)
  f.errcheck = check
  return f
end

local prepare = checked("sqlite3_prepare_v2", c_void_p, c_char_p, c_int,
                        POINTER(c_void_p), c_void_p)
local step = checked("sqlite3_step", c_void_p)
local reset = checked("sqlite3_reset", c_void_p)
local finalize = checked("sqlite3_finalize", c_void_p)
local bind_int = checked("sqlite3_bind_int", c_void_p, c_int, c_int)
local bind_int64 = checked("sqlite3_bind_int64", c_void_p, c_int, c_int64)
local bind_double = checked("sqlite3_bind_double", c_void_p, c_int, c_double)
local bind_text = checked("sqlite3_bind_text", c_void_p, c_int, c_char_p, c_int, c_void_p)
local bind_blob = checked("sqlite3_bind_blob", c_void_p, c_int, c_char_p, c_int, c_void_p)
local bind_null = checked("sqlite3_bind_null", c_void_p, c_int)
local column_type = declare("sqlite3_column_type", c_int, c_void_p, c_int)
local column_int64 = declare("sqlite3_column_int64", c_int64, c_void_p, c_int)
local column_double = declare("sqlite3_column_double", c_double, c_void_p, c_int)
-- const unsigned char *: c_char_p gives a Lua string (a copy), nil for NULL
local column_text = declare("sqlite3_column_text", c_char_p, c_void_p, c_int)
-- a blob may hold zero bytes: take its address and its length
local column_blob = declare("sqlite3_column_blob", c_void_p, c_void_p, c_int)
local column_bytes = declare("sqlite3_column_bytes", c_int, c_void_p, c_int)

-- a prepared statement for sql (the sqlite3_stmt * is an out parameter)
local function statement(sql)
  local stmt = c_void_p()
  prepare(db, sql, #sql, byref(stmt), nil)
  return stmt
end

-- sqlite3_exec(db, sql, callback, arg, &errmsg) calls back for every row:
-- int (*)(void *arg, int ncolumns, char **values, char **names)
local EXEC_CB = ctypes.CFUNCTYPE(c_int, c_void_p, c_int, POINTER(c_char_p), POINTER(c_char_p))
local exec = checked("sqlite3_exec", c_void_p, c_char_p, EXEC_CB, c_void_p, c_void_p)

exec(db, [[CREATE TABLE item (id INTEGER PRIMARY KEY, big INTEGER,
                              name TEXT, score REAL, data BLOB)]], nil, nil, nil)

-- INSERT through one prepared statement: bind, step, reset
local insert = statement("INSERT INTO item VALUES (?, ?, ?, ?, ?)")
local rows = {
  { 1, 9007199254740993, "alpha", 3.25, "\0\1\254\255" },
  { 2, -1 << 40, "naïve", -0.5, "" },
  { 3, nil, nil, nil, nil },
}
for _, r in ipairs(rows) do
  bind_int(insert, 1, r[1])
  if r[2] then bind_int64(insert, 2, r[2]) else bind_null(insert, 2) end
  if r[3] then bind_text(insert, 3, r[3], #r[3], SQLITE_TRANSIENT) else bind_null(insert, 3) end
  if r[4] then bind_double(insert, 4, r[4]) else bind_null(insert, 4) end
  if r[5] then bind_blob(insert, 5, r[5], #r[5], SQLITE_TRANSIENT) else bind_null(insert, 5) end
  assert(step(insert) == SQLITE_DONE)
  reset(insert)
end
finalize(insert)
print(("inserted %d rows"):format(#rows))

-- SELECT: each column read by its type
local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end
local select = statement("SELECT id, big, name, score, data FROM item ORDER BY id")
while step(select) == SQLITE_ROW do
  local out = {}
  for col = 0, 4 do
    local t = column_type(select, col)
    local v
    if TYPES[t] == "INTEGER" then v = tostring(column_int64(select, col))
    elseif TYPES[t] == "FLOAT" then v = tostring(column_double(select, col))
    elseif TYPES[t] == "TEXT" then v = ("%q"):format(column_text(select, col))
    elseif TYPES[t] == "BLOB" then
      -- the address first, then the length (sqlite's order); a zero-length
      -- blob has a NULL address, which string_at refuses
      local p = column_blob(select, col)
      local n = column_bytes(select, col)
      v = "x'" .. (n > 0 and hex(ctypes.string_at(p, n)) or "") .. "'"
    else v = "NULL" end
    out[#out + 1] = TYPES[t]:lower() .. " " .. v
  end
  print("row: " .. table.concat(out, ", "))
end
finalize(select)

-- An SQL function written in Lua:
--   void xFunc(sqlite3_context *, int argc, sqlite3_value **argv)
-- sqlite keeps the function pointer until the database is closed (or the
-- function is redefined): the callback object must stay alive that long.
-- sqlite3_create_function_v2's xDestroy tells when sqlite lets go.
local XFUNC = ctypes.CFUNCTYPE(nil, c_void_p, c_int, POINTER(c_void_p))
local XDESTROY = ctypes.CFUNCTYPE(nil, c_void_p)
local value_type = declare("sqlite3_value_type", c_int, c_void_p)
local value_text = declare("sqlite3_value_text", c_char_p, c_void_p)
local result_text = declare("sqlite3_result_text", nil, c_void_p, c_char_p, c_int, c_void_p)
local result_null = declare("sqlite3_result_null", nil, c_void_p)
local create_function = checked("sqlite3_create_function_v2", c_void_p, c_char_p, c_int,
                                c_int, c_void_p, XFUNC, c_void_p, c_void_p, XDESTROY)

local released = false
local callbacks = {   -- alive until sqlite has called xDestroy
  reverse = XFUNC(function(context, argc, argv)
    assert(argc == 1)
    local value = argv[0]                 -- a sqlite3_value *
    if TYPES[value_type(value)] == "NULL" then
      result_null(context)
    else
      local chars = {}                    -- text is UTF-8: reverse characters
      for _, c in utf8.codes(value_text(value)) do table.insert(chars, 1, utf8.char(c)) end
      local s = table.concat(chars)
      result_text(context, s, #s, SQLITE_TRANSIENT)
    end
  end),
  destroy = XDESTROY(function() released = true end),
}
create_function(db, "reverse", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nil,
                callbacks.reverse, nil, nil, callbacks.destroy)

-- sqlite3_exec with a Lua callback; `values` and `names` are char **:
-- values[i] is a Lua string, or nil for SQL NULL
local seen = 0
local function each_row(_, ncolumns, values, names)
  local out = {}
  for i = 0, ncolumns - 1 do
    out[#out + 1] = names[i] .. "=" .. (values[i] or "NULL")
  end
  print("exec: " .. table.concat(out, " "))
  seen = seen + 1
  return 0                              -- non-zero would abort the query
end
exec(db, "SELECT id, reverse(name) AS eman FROM item ORDER BY id", each_row, nil, nil)
print(("exec called back %d times"):format(seen))

-- Errors: a failing call raises sqlite's message (errcheck above)
local ok, err = pcall(exec, db, "INSERT INTO item (id) VALUES (1)", nil, nil, nil)
print("duplicate key: " .. tostring(ok) .. ", " .. err)
ok, err = pcall(statement, "SELEC name FROM item")
print("bad SQL: " .. tostring(ok) .. ", " .. err)

assert(sqlite3_close(db) == SQLITE_OK)
print("closed; sqlite released reverse(): " .. tostring(released))
