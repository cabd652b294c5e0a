// The system SQLite (Debian's libsqlite3-dev, installed by scripts/install-deps): the one copy of SQLite that
// opens Coffer's database files. See Sources/CofferStorage/Database/SQLiteHandle.swift for why.
//
// sqlite-nio's bundled header (module VaporCSQLite, loaded into the same Swift module through sqlite-kit)
// defines these structs too, with fields of other names; clang refuses two definitions of one name. Coffer
// uses none of them, so here they take names of their own.
#define sqlite3_module coffer_sqlite3_module
#define Fts5ExtensionApi coffer_Fts5ExtensionApi
#define fts5_api coffer_fts5_api
#include <sqlite3.h>
