/* The migrator: migrations/NNNN_name.sql applied in order, each in one
 * transaction with its schema_migrations row, which records the file's
 * SHA-256. Migrations are append-only: a database migrated from a file
 * that has since changed is refused, naming the file. Blocking libpq: for
 * the CLI and for start-up, never the loop. */
#ifndef DB_MIGRATE_H
#define DB_MIGRATE_H

#include <stddef.h>

/* Applies the migrations in `dir` that the schema_migrations table does not
 * list. First checks the ones it lists against their recorded checksum
 * (PL_ESTATE naming the file when one differs), and records the checksum of
 * those applied before checksums were kept. err gets a one-line reason. */
int db_migrate(const char *conninfo, const char *dir, char *err, size_t errlen);
/* PL_OK if every migration in `dir` is applied and none has changed since
 * (PL_ESTATE otherwise, PL_EIO when the database cannot be reached). Reads
 * only: a migration applied before checksums were kept is taken as it is
 * until the next db_migrate records its checksum. */
int db_migrations_current(const char *conninfo, const char *dir, char *err,
                          size_t errlen);

#endif
