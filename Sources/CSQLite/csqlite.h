// The part of the system SQLite's C API (libsqlite3, Debian's libsqlite3-dev) that SQLiteHandle calls, declared
// here rather than by including <sqlite3.h>.
//
// Why not the header itself: sqlite-nio's bundled copy (module VaporCSQLite, loaded into the same Swift module
// through sqlite-kit) defines the same structs (sqlite3_module, sqlite3_vtab, fts5_api, ...) with fields of other
// names, and clang refuses two definitions of one name across modules. The handles stay opaque here, the
// functions are SQLite's stable C ABI (signatures as in sqlite3.h 3.40), and the constants carry a CSQLITE_
// prefix so that they never meet the bundled header's macros.
#ifndef COFFER_CSQLITE_H
#define COFFER_CSQLITE_H

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;

int sqlite3_initialize(void);
int sqlite3_open_v2(const char *filename, sqlite3 **ppDb, int flags, const char *zVfs);
int sqlite3_close_v2(sqlite3 *db);
const char *sqlite3_errmsg(sqlite3 *db);
int sqlite3_prepare(sqlite3 *db, const char *zSql, int nByte, sqlite3_stmt **ppStmt, const char **pzTail);
int sqlite3_step(sqlite3_stmt *stmt);
int sqlite3_reset(sqlite3_stmt *stmt);
int sqlite3_clear_bindings(sqlite3_stmt *stmt);
int sqlite3_finalize(sqlite3_stmt *stmt);
int sqlite3_bind_int64(sqlite3_stmt *stmt, int index, long long value);
int sqlite3_bind_double(sqlite3_stmt *stmt, int index, double value);
int sqlite3_bind_null(sqlite3_stmt *stmt, int index);
int sqlite3_bind_text64(sqlite3_stmt *stmt, int index, const char *text, unsigned long long length,
                        void (*destructor)(void *), unsigned char encoding);
int sqlite3_bind_blob64(sqlite3_stmt *stmt, int index, const void *bytes, unsigned long long length,
                        void (*destructor)(void *));
int sqlite3_column_count(sqlite3_stmt *stmt);
const char *sqlite3_column_name(sqlite3_stmt *stmt, int column);
int sqlite3_column_type(sqlite3_stmt *stmt, int column);
long long sqlite3_column_int64(sqlite3_stmt *stmt, int column);
double sqlite3_column_double(sqlite3_stmt *stmt, int column);
const unsigned char *sqlite3_column_text(sqlite3_stmt *stmt, int column);
const void *sqlite3_column_blob(sqlite3_stmt *stmt, int column);
int sqlite3_column_bytes(sqlite3_stmt *stmt, int column);

// Result codes
#define CSQLITE_OK 0
#define CSQLITE_SCHEMA 17
#define CSQLITE_MISUSE 21
#define CSQLITE_ROW 100
#define CSQLITE_DONE 101
// sqlite3_open_v2 flags
#define CSQLITE_OPEN_READWRITE 0x00000002
#define CSQLITE_OPEN_CREATE 0x00000004
#define CSQLITE_OPEN_URI 0x00000040
#define CSQLITE_OPEN_FULLMUTEX 0x00010000
#define CSQLITE_OPEN_EXRESCODE 0x02000000
// Column types
#define CSQLITE_INTEGER 1
#define CSQLITE_FLOAT 2
#define CSQLITE_TEXT 3
#define CSQLITE_BLOB 4
#define CSQLITE_NULL 5
// Text encoding
#define CSQLITE_UTF8 1

#endif
