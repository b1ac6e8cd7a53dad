/* The migrator: applies migrations/NNNN_name.sql in name order, each in one
 * transaction with its schema_migrations row. Blocking libpq, for the CLI and
 * start-up only. A session advisory lock makes nodes that start together
 * migrate one after the other; the second then finds nothing to do.
 * These statements run once per process, so they are sent unnamed
 * (PQexecParams) rather than prepared.
 *
 * Each row records the SHA-256 of the file's bytes, computed by PostgreSQL's
 * sha256() (11 and later) from the bytes sent as a binary parameter, so db/
 * needs no hashing library of its own. A file whose checksum no longer
 * matches its row was edited after it was applied: the database was built
 * from other SQL than the file says, so both db_migrate and
 * db_migrations_current refuse it, naming the file. */
#include "db_internal.h"
#include "pl_error.h"

#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "parley" in ASCII: the key of the migration advisory lock. */
#define DB_MIGRATE_LOCK_KEY "111533846078329"

struct db_migration_list {
    char **names; /* file names, sorted */
    size_t count;
};

static void db_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void db_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    /* libpq messages end with a newline; an err string is one line. */
    size_t n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
}

/* NNNN_name.sql: four digits, an underscore, a name, ".sql". */
int db_migration_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len < 4 + 1 + 1 + 4)
        return 0;
    for (int i = 0; i < 4; i++) {
        if (!isdigit((unsigned char)name[i]))
            return 0;
    }
    return name[4] == '_' && strcmp(name + len - 4, ".sql") == 0;
}

static int db_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void db_migration_list_free(struct db_migration_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->names[i]);
    free(list->names);
    list->names = NULL;
    list->count = 0;
}

/* Lists dir's migrations in order; two files with one number are refused,
 * since their order would be an accident. */
static int db_migration_list_read(const char *dir, struct db_migration_list *list,
                                  char *err, size_t errlen)
{
    list->names = NULL;
    list->count = 0;
    DIR *d = opendir(dir);
    if (!d) {
        db_err(err, errlen, "cannot open migrations directory %s", dir);
        return PL_ENOENT;
    }
    int rc = PL_OK;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!db_migration_name_valid(de->d_name))
            continue;
        if (list->count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **names = realloc(list->names, ncap * sizeof(*names));
            if (!names) {
                rc = PL_ENOMEM;
                goto out;
            }
            list->names = names;
            cap = ncap;
        }
        list->names[list->count] = strdup(de->d_name);
        if (!list->names[list->count]) {
            rc = PL_ENOMEM;
            goto out;
        }
        list->count++;
    }
    if (list->count > 0)
        qsort(list->names, list->count, sizeof(*list->names), db_name_cmp);
    for (size_t i = 1; i < list->count; i++) {
        if (strncmp(list->names[i - 1], list->names[i], 4) == 0) {
            db_err(err, errlen, "two migrations numbered %.4s: %s and %s", list->names[i],
                   list->names[i - 1], list->names[i]);
            rc = PL_EINVAL;
            goto out;
        }
    }
out:
    closedir(d);
    if (rc != PL_OK) {
        if (rc == PL_ENOMEM)
            db_err(err, errlen, "out of memory listing %s", dir);
        db_migration_list_free(list);
    }
    return rc;
}

/* The version recorded for a file: its name without ".sql". */
static void db_migration_version(const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%.*s", (int)(strlen(name) - 4), name);
}

/* The file's bytes, NUL-terminated; *len is their number. */
static char *db_file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = NULL;
    if (fseek(f, 0, SEEK_END) != 0)
        goto out;
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    text = malloc((size_t)n + 1);
    if (!text)
        goto out;
    if (fread(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        text = NULL;
        goto out;
    }
    text[n] = '\0';
    *len = (size_t)n;
out:
    fclose(f);
    return text;
}

/* A migration file as read, with its checksum. */
struct db_migration_file {
    char path[4096];
    char *text;
    size_t len;
    char checksum[65]; /* sha256, lower-case hex */
};

static void db_migration_file_free(struct db_migration_file *mf)
{
    free(mf->text);
    mf->text = NULL;
}

/* Reads dir/name and has the server hash its bytes. */
static int db_migration_file_read(PGconn *conn, const char *dir, const char *name,
                                  struct db_migration_file *mf, char *err, size_t errlen)
{
    snprintf(mf->path, sizeof(mf->path), "%s/%s", dir, name);
    mf->text = db_file_read(mf->path, &mf->len);
    if (!mf->text) {
        db_err(err, errlen, "cannot read %s", mf->path);
        return PL_EIO;
    }
    const char *params[1] = {mf->text};
    int lengths[1] = {(int)mf->len};
    int formats[1] = {1}; /* binary: the bytes exactly as they are */
    PGresult *res = PQexecParams(conn, "SELECT encode(sha256($1::bytea), 'hex')", 1, NULL,
                                 params, lengths, formats, 0);
    int rc = PL_OK;
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
        strlen(PQgetvalue(res, 0, 0)) == 64) {
        memcpy(mf->checksum, PQgetvalue(res, 0, 0), 65);
    } else {
        db_err(err, errlen, "computing the checksum of %s: %s", name,
               res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        rc = PL_EIO;
        db_migration_file_free(mf);
    }
    PQclear(res);
    return rc;
}

static PGconn *db_migrate_connect(const char *conninfo, char *err, size_t errlen)
{
    int ok;
    PGconn *conn = db_conn_open(conninfo, &ok);
    if (!ok) {
        char msg[256];
        db_err(err, errlen, "cannot connect to the database: %s",
               db_conn_error(conn, msg, sizeof(msg)));
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

/* Runs a parameterless command; on failure writes "what: error" to err. */
static int db_exec(PGconn *conn, const char *sql, const char *what, char *err,
                   size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? PL_OK : PL_EIO;
    if (rc != PL_OK)
        db_err(err, errlen, "%s: %s", what,
               res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    PQclear(res);
    return rc;
}

/* 1 if schema_migrations has the checksum column (a database migrated
 * before checksums were kept has not, until the next db_migrate); 0 if
 * not; negative on error. */
static int db_checksum_column(PGconn *conn, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, "SELECT count(*) FROM pg_attribute"
                                 " WHERE attrelid = to_regclass('schema_migrations')"
                                 " AND attname = 'checksum' AND NOT attisdropped");
    int rc;
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        rc = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
    } else {
        db_err(err, errlen, "reading schema_migrations: %s",
               res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        rc = PL_EIO;
    }
    PQclear(res);
    return rc;
}

/* 1 if version is recorded, 0 if not, negative on error. When recorded,
 * `checksum` gets the recorded one, "" when there is none (applied before
 * checksums were kept, or with_checksum 0: no such column yet). */
static int db_migration_applied(PGconn *conn, const char *version, int with_checksum,
                                char checksum[65], char *err, size_t errlen)
{
    const char *params[1] = {version};
    PGresult *res = PQexecParams(
        conn,
        with_checksum
            ? "SELECT coalesce(checksum, '') FROM schema_migrations WHERE version = $1"
            : "SELECT '' FROM schema_migrations WHERE version = $1",
        1, NULL, params, NULL, NULL, 0);
    int rc;
    checksum[0] = '\0';
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
        rc = PQntuples(res) > 0;
        if (rc)
            snprintf(checksum, 65, "%s", PQgetvalue(res, 0, 0));
    } else {
        db_err(err, errlen, "reading schema_migrations: %s",
               res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        rc = PL_EIO;
    }
    PQclear(res);
    return rc;
}

/* PL_ESTATE, with the reason in err, when an applied file has changed. */
static int db_checksum_check(const char *name, const char *recorded, const char *actual,
                             char *err, size_t errlen)
{
    if (!recorded[0] || strcmp(recorded, actual) == 0)
        return PL_OK;
    db_err(err, errlen,
           "migration %s was changed after it was applied (sha256 %.12s... recorded, "
           "%.12s... now): migrations are append-only, so restore the file as it was "
           "and put the change in a new migration",
           name, recorded, actual);
    return PL_ESTATE;
}

/* Records the checksum of a migration applied before checksums were kept. */
static int db_checksum_record(PGconn *conn, const char *version, const char *checksum,
                              char *err, size_t errlen)
{
    const char *params[2] = {version, checksum};
    PGresult *res = PQexecParams(conn,
                                 "UPDATE schema_migrations SET checksum = $2"
                                 " WHERE version = $1 AND checksum IS NULL",
                                 2, NULL, params, NULL, NULL, 0);
    int rc = res && PQresultStatus(res) == PGRES_COMMAND_OK ? PL_OK : PL_EIO;
    if (rc != PL_OK)
        db_err(err, errlen, "recording the checksum of %s: %s", version,
               res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    PQclear(res);
    return rc;
}

/* The line of text that holds 1-based character position pos. */
static int db_line_of(const char *text, long pos)
{
    int line = 1;
    for (long i = 0; i < pos - 1 && text[i]; i++) {
        if (text[i] == '\n')
            line++;
    }
    return line;
}

/* Applies one file and records it with its checksum, in one transaction. */
static int db_migration_apply(PGconn *conn, const struct db_migration_file *mf,
                              const char *name, const char *version, char *err,
                              size_t errlen)
{
    const char *sql = mf->text;
    int rc = db_exec(conn, "BEGIN", "BEGIN", err, errlen);
    if (rc != PL_OK)
        return rc;
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *pos =
            res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
        const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
        if (pos)
            db_err(err, errlen, "%s line %d: %s", name, db_line_of(sql, atol(pos)), msg);
        else
            db_err(err, errlen, "%s: %s", name, msg);
        PQclear(res);
        rc = PL_EIO;
        goto rollback;
    }
    PQclear(res);
    const char *params[2] = {version, mf->checksum};
    res = PQexecParams(
        conn, "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)", 2,
        NULL, params, NULL, NULL, 0);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        db_err(err, errlen, "recording %s: %s", version,
               res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        PQclear(res);
        rc = PL_EIO;
        goto rollback;
    }
    PQclear(res);
    return db_exec(conn, "COMMIT", name, err, errlen);
rollback:
    /* The error is already in err; a failed rollback changes nothing for it. */
    PQclear(PQexec(conn, "ROLLBACK"));
    return rc;
}

/* Reads the migration files of `dir` and connects: the start of both
 * db_migrate and db_migrations_current. On failure nothing is left open. */
static int db_migrate_open(const char *conninfo, const char *dir,
                           struct db_migration_list *list, PGconn **conn, char *err,
                           size_t errlen)
{
    db_err(err, errlen, "%s", "");
    int rc = db_migration_list_read(dir, list, err, errlen);
    if (rc != PL_OK)
        return rc;
    *conn = db_migrate_connect(conninfo, err, errlen);
    if (!*conn) {
        db_migration_list_free(list);
        return PL_EIO;
    }
    return PL_OK;
}

int db_migrate(const char *conninfo, const char *dir, char *err, size_t errlen)
{
    struct db_migration_list list;
    PGconn *conn = NULL;
    struct db_migration_file *files = NULL;
    int rc = db_migrate_open(conninfo, dir, &list, &conn, err, errlen);
    if (rc != PL_OK)
        return rc;
    /* Held until the connection closes: released even if we crash. */
    rc = db_exec(conn, "SELECT pg_advisory_lock(" DB_MIGRATE_LOCK_KEY ")",
                 "taking the migration lock", err, errlen);
    if (rc != PL_OK)
        goto out;
    rc = db_exec(conn, "SET client_min_messages = warning", "setting up", err, errlen);
    if (rc != PL_OK)
        goto out;
    rc = db_exec(conn,
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version text PRIMARY KEY,"
                 " applied_at timestamptz NOT NULL DEFAULT now(),"
                 " checksum text)",
                 "creating schema_migrations", err, errlen);
    if (rc != PL_OK)
        goto out;
    /* A table created before checksums were kept. */
    rc = db_exec(conn,
                 "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text",
                 "adding schema_migrations.checksum", err, errlen);
    if (rc != PL_OK)
        goto out;
    rc = PL_ENOMEM;
    files = calloc(list.count ? list.count : 1, sizeof(*files));
    if (!files) {
        db_err(err, errlen, "out of memory");
        goto out;
    }
    /* Every applied file is checked before anything is applied: a changed
     * one means the schema is not what the files say, and building more on
     * it would only hide that. */
    int *pending = calloc(list.count ? list.count : 1, sizeof(*pending));
    if (!pending) {
        db_err(err, errlen, "out of memory");
        goto out;
    }
    rc = PL_OK;
    for (size_t i = 0; i < list.count && rc == PL_OK; i++) {
        char version[256], recorded[65];
        db_migration_version(list.names[i], version, sizeof(version));
        rc = db_migration_file_read(conn, dir, list.names[i], &files[i], err, errlen);
        if (rc != PL_OK)
            break;
        int applied = db_migration_applied(conn, version, 1, recorded, err, errlen);
        if (applied < 0) {
            rc = applied;
        } else if (!applied) {
            pending[i] = 1;
        } else if (!recorded[0]) {
            rc = db_checksum_record(conn, version, files[i].checksum, err, errlen);
        } else {
            rc = db_checksum_check(list.names[i], recorded, files[i].checksum, err,
                                   errlen);
        }
    }
    for (size_t i = 0; i < list.count && rc == PL_OK; i++) {
        char version[256];
        db_migration_version(list.names[i], version, sizeof(version));
        if (pending[i])
            rc = db_migration_apply(conn, &files[i], list.names[i], version, err, errlen);
    }
    free(pending);
out:
    for (size_t i = 0; files && i < list.count; i++)
        db_migration_file_free(&files[i]);
    free(files);
    PQfinish(conn);
    db_migration_list_free(&list);
    return rc;
}

/* The check of db_migrations_current on an open connection; db_read's
 * health check shares it. */
int db_migrations_check(PGconn *conn, const char *dir, char *err, size_t errlen)
{
    struct db_migration_list list;
    db_err(err, errlen, "%s", "");
    int rc = db_migration_list_read(dir, &list, err, errlen);
    if (rc != PL_OK)
        return rc;
    PGresult *res = PQexec(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        db_err(err, errlen, "checking schema_migrations: %s",
               res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        rc = PL_EIO;
        goto out;
    }
    if (PQgetvalue(res, 0, 0)[0] != 't') {
        if (list.count > 0) {
            db_err(err, errlen, "no migration applied (run parleyd migrate)");
            rc = PL_ESTATE;
        }
        goto out;
    }
    int with_checksum = db_checksum_column(conn, err, errlen);
    if (with_checksum < 0) {
        rc = with_checksum;
        goto out;
    }
    for (size_t i = 0; i < list.count && rc == PL_OK; i++) {
        char version[256], recorded[65];
        db_migration_version(list.names[i], version, sizeof(version));
        int applied =
            db_migration_applied(conn, version, with_checksum, recorded, err, errlen);
        if (applied < 0) {
            rc = applied;
        } else if (!applied) {
            db_err(err, errlen, "migration %s is not applied (run parleyd migrate)",
                   list.names[i]);
            rc = PL_ESTATE;
        } else if (recorded[0]) {
            struct db_migration_file mf;
            rc = db_migration_file_read(conn, dir, list.names[i], &mf, err, errlen);
            if (rc == PL_OK) {
                rc = db_checksum_check(list.names[i], recorded, mf.checksum, err, errlen);
                db_migration_file_free(&mf);
            }
        }
    }
out:
    PQclear(res);
    db_migration_list_free(&list);
    return rc;
}

int db_migrations_current(const char *conninfo, const char *dir, char *err, size_t errlen)
{
    db_err(err, errlen, "%s", "");
    PGconn *conn = db_migrate_connect(conninfo, err, errlen);
    if (!conn)
        return PL_EIO;
    int rc = db_migrations_check(conn, dir, err, errlen);
    PQfinish(conn);
    return rc;
}
