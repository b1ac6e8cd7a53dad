/* The migrator. File naming and ordering need no database; applying and
 * checksums do: those tests skip unless PARLEY_TEST_DATABASE_URL is set (and
 * fail if PARLEY_TEST_REQUIRE_DB is), and run in a schema of their own
 * (PGOPTIONS search_path) that they drop at the end. */
#include "../../../db/db_migrate.c"

#include <openssl/evp.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_test_db.h"

struct ctx {
    const char *url;
    char schema[64];
    char dir[256];
    PGconn *conn;
};

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void make_dir(char *out, size_t len)
{
    snprintf(out, len, "/tmp/parley-migrate-XXXXXX");
    assert_non_null(mkdtemp(out));
}

/* ---- without a database ---- */

static void test_name_valid(void **state)
{
    (void)state;
    assert_true(db_migration_name_valid("0001_init.sql"));
    assert_true(db_migration_name_valid("0042_rooms_and_members.sql"));
    assert_false(db_migration_name_valid("0001_.sql"));
    assert_false(db_migration_name_valid("001_init.sql"));
    assert_false(db_migration_name_valid("0001-init.sql"));
    assert_false(db_migration_name_valid("0001_init.sql~"));
    assert_false(db_migration_name_valid("0001_init.SQL"));
    assert_false(db_migration_name_valid("abcd_init.sql"));
    assert_false(db_migration_name_valid("README.md"));
    assert_false(db_migration_name_valid(""));
}

static void test_list_sorted_and_filtered(void **state)
{
    (void)state;
    char dir[64];
    make_dir(dir, sizeof(dir));
    write_file(dir, "0010_later.sql", "");
    write_file(dir, "0002_second.sql", "");
    write_file(dir, "0001_first.sql", "");
    write_file(dir, "notes.txt", "");
    write_file(dir, "0003_draft.sql.bak", "");
    struct db_migration_list list;
    char err[256];
    assert_int_equal(db_migration_list_read(dir, &list, err, sizeof(err)), PL_OK);
    assert_int_equal(list.count, 3);
    assert_string_equal(list.names[0], "0001_first.sql");
    assert_string_equal(list.names[1], "0002_second.sql");
    assert_string_equal(list.names[2], "0010_later.sql");
    char version[64];
    db_migration_version(list.names[0], version, sizeof(version));
    assert_string_equal(version, "0001_first");
    db_migration_list_free(&list);
    remove_dir(dir);
}

static void test_list_refuses_duplicate_numbers(void **state)
{
    (void)state;
    char dir[64];
    make_dir(dir, sizeof(dir));
    write_file(dir, "0001_a.sql", "");
    write_file(dir, "0001_b.sql", "");
    struct db_migration_list list;
    char err[256];
    assert_int_equal(db_migration_list_read(dir, &list, err, sizeof(err)), PL_EINVAL);
    assert_non_null(strstr(err, "0001_a.sql"));
    assert_int_equal(list.count, 0);
    remove_dir(dir);
}

static void test_line_of(void **state)
{
    (void)state;
    const char *text = "a\nbb\nccc";
    assert_int_equal(db_line_of(text, 1), 1);
    assert_int_equal(db_line_of(text, 3), 2);
    assert_int_equal(db_line_of(text, 6), 3);
}

/* ---- against the database ---- */

static PGresult *sql(struct ctx *c, const char *query)
{
    PGresult *res = PQexec(c->conn, query);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)
        fail_msg("%s: %s", query, PQresultErrorMessage(res));
    return res;
}

static int sql_count(struct ctx *c, const char *query)
{
    PGresult *res = sql(c, query);
    int n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

static int setup(void **state)
{
    *state = NULL;
    const char *url = db_test_url();
    if (!url)
        return 0;
    struct ctx *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->url = url;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(c->schema, sizeof(c->schema), "migrate_test_%ld_%ld", (long)getpid(),
             (long)(ts.tv_nsec % 100000));
    /* Every connection of this process, the migrator's included, works in
     * the test's schema. */
    char opts[128];
    snprintf(opts, sizeof(opts), "-c search_path=%s", c->schema);
    setenv("PGOPTIONS", opts, 1);
    c->conn = PQconnectdb(url);
    assert_int_equal(PQstatus(c->conn), CONNECTION_OK);
    char q[256];
    snprintf(q, sizeof(q), "CREATE SCHEMA %s", c->schema);
    PQclear(sql(c, q));
    make_dir(c->dir, sizeof(c->dir));
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    if (!c)
        return 0;
    char q[256];
    PQclear(PQexec(c->conn, "SET client_min_messages = warning"));
    snprintf(q, sizeof(q), "DROP SCHEMA %s CASCADE", c->schema);
    PQclear(PQexec(c->conn, q));
    PQfinish(c->conn);
    remove_dir(c->dir);
    free(c);
    return 0;
}

struct race {
    struct ctx *c;
    int rc;
    char err[256];
};

static void *race_main(void *arg)
{
    struct race *r = arg;
    r->rc = db_migrate(r->c->url, r->c->dir, r->err, sizeof(r->err));
    return NULL;
}

static void test_apply_in_order_once(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    char err[256];
    write_file(c->dir, "0001_first.sql", "CREATE TABLE t_first (x int);\n");
    /* pg_sleep widens the window in which a second migrator could clash */
    write_file(c->dir, "0002_second.sql",
               "SELECT pg_sleep(0.2);\nINSERT INTO t_first VALUES (2);\n");
    assert_int_equal(db_migrations_current(c->url, c->dir, err, sizeof(err)), PL_ESTATE);
    assert_non_null(strstr(err, "no migration applied"));

    /* two nodes migrating at once: the lock puts them one after the other */
    struct race a = {.c = c}, b = {.c = c};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, race_main, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, race_main, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    if (a.rc != PL_OK)
        fail_msg("first migrator: %s", a.err);
    if (b.rc != PL_OK)
        fail_msg("second migrator: %s", b.err);
    assert_int_equal(sql_count(c, "SELECT count(*) FROM t_first"), 1);
    assert_int_equal(sql_count(c, "SELECT count(*) FROM schema_migrations"), 2);
    assert_int_equal(db_migrations_current(c->url, c->dir, err, sizeof(err)), PL_OK);

    /* a new file is pending until applied */
    write_file(c->dir, "0003_third.sql", "INSERT INTO t_first VALUES (3);\n");
    assert_int_equal(db_migrations_current(c->url, c->dir, err, sizeof(err)), PL_ESTATE);
    assert_non_null(strstr(err, "0003_third.sql"));
    assert_int_equal(db_migrate(c->url, c->dir, err, sizeof(err)), PL_OK);
    assert_int_equal(sql_count(c, "SELECT count(*) FROM t_first"), 2);
}

static void test_failed_file_leaves_nothing(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    char err[256];
    write_file(c->dir, "0004_broken.sql",
               "CREATE TABLE t_half (x int);\n"
               "INSERT INTO t_first VALUES (4);\n"
               "CREATE TABLEE t_oops (x int);\n");
    assert_int_equal(db_migrate(c->url, c->dir, err, sizeof(err)), PL_EIO);
    assert_non_null(strstr(err, "0004_broken.sql line 3"));
    assert_non_null(strstr(err, "syntax error"));
    /* the whole file rolled back, and it is not recorded */
    assert_int_equal(sql_count(c, "SELECT count(*) FROM t_first"), 2);
    assert_int_equal(sql_count(c, "SELECT count(to_regclass('t_half'))"), 0);
    assert_int_equal(
        sql_count(c,
                  "SELECT count(*) FROM schema_migrations WHERE version = '0004_broken'"),
        0);
    assert_int_equal(db_migrations_current(c->url, c->dir, err, sizeof(err)), PL_ESTATE);
}

/* The SHA-256 of a file, hex, computed here with OpenSSL: the migrator has
 * PostgreSQL compute it, so this is an independent check. */
static void file_sha256(const char *dir, const char *name, char out[65])
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    size_t len = 0;
    char *text = db_file_read(path, &len);
    assert_non_null(text);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    assert_int_equal(EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL), 1);
    assert_int_equal(mdlen, 32);
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    free(text);
}

static void recorded_checksum(struct ctx *c, const char *version, char out[65])
{
    char q[256];
    snprintf(q, sizeof(q),
             "SELECT coalesce(checksum, '') FROM schema_migrations WHERE version = '%s'",
             version);
    PGresult *res = sql(c, q);
    assert_int_equal(PQntuples(res), 1);
    snprintf(out, 65, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
}

static void test_checksums_recorded_and_edits_refused(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    char err[512], want[65], got[65];
    char path[512];
    snprintf(path, sizeof(path), "%s/0004_broken.sql", c->dir);
    unlink(path); /* left by the test before */
    assert_int_equal(db_migrate(c->url, c->dir, err, sizeof(err)), PL_OK);
    file_sha256(c->dir, "0001_first.sql", want);
    recorded_checksum(c, "0001_first", got);
    assert_string_equal(got, want);
    file_sha256(c->dir, "0003_third.sql", want);
    recorded_checksum(c, "0003_third", got);
    assert_string_equal(got, want);

    /* an applied file edited, even by a comment: refused at start and by
     * migrate, naming the file; what is pending is not applied on top */
    write_file(c->dir, "0001_first.sql", "CREATE TABLE t_first (x int); -- edited\n");
    write_file(c->dir, "0005_more.sql", "CREATE TABLE t_more (x int);\n");
    assert_int_equal(db_migrations_current(c->url, c->dir, err, sizeof(err)), PL_ESTATE);
    assert_non_null(strstr(err, "0001_first.sql"));
    assert_non_null(strstr(err, "changed after it was applied"));
    err[0] = '\0';
    assert_int_equal(db_migrate(c->url, c->dir, err, sizeof(err)), PL_ESTATE);
    assert_non_null(strstr(err, "0001_first.sql"));
    assert_int_equal(sql_count(c, "SELECT count(to_regclass('t_more'))"), 0);
    recorded_checksum(c, "0001_first", got);
    assert_string_not_equal(got, "");

    /* restored byte for byte: accepted again, and the pending one applies */
    write_file(c->dir, "0001_first.sql", "CREATE TABLE t_first (x int);\n");
    assert_int_equal(db_migrate(c->url, c->dir, err, sizeof(err)), PL_OK);
    assert_int_equal(sql_count(c, "SELECT count(to_regclass('t_more'))"), 1);
    assert_int_equal(db_migrations_current(c->url, c->dir, err, sizeof(err)), PL_OK);
}

static void test_checksums_filled_in_for_older_databases(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    char err[512], want[65], got[65];
    /* a database migrated before checksums were kept: no column at all */
    PQclear(sql(c, "ALTER TABLE schema_migrations DROP COLUMN checksum"));
    assert_int_equal(db_migrations_current(c->url, c->dir, err, sizeof(err)), PL_OK);
    assert_int_equal(db_migrate(c->url, c->dir, err, sizeof(err)), PL_OK);
    assert_int_equal(
        sql_count(c, "SELECT count(*) FROM schema_migrations WHERE checksum IS NULL"), 0);
    file_sha256(c->dir, "0002_second.sql", want);
    recorded_checksum(c, "0002_second", got);
    assert_string_equal(got, want);

    /* a row without one (the column added, the row older): taken as it is
     * until migrate fills it in; an edited file is not caught before that,
     * and is caught after */
    PQclear(sql(
        c, "UPDATE schema_migrations SET checksum = NULL WHERE version = '0005_more'"));
    assert_int_equal(db_migrations_current(c->url, c->dir, err, sizeof(err)), PL_OK);
    assert_int_equal(db_migrate(c->url, c->dir, err, sizeof(err)), PL_OK);
    file_sha256(c->dir, "0005_more.sql", want);
    recorded_checksum(c, "0005_more", got);
    assert_string_equal(got, want);
    write_file(c->dir, "0005_more.sql", "CREATE TABLE t_more (y int);\n");
    assert_int_equal(db_migrations_current(c->url, c->dir, err, sizeof(err)), PL_ESTATE);
    assert_non_null(strstr(err, "0005_more.sql"));
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_list_sorted_and_filtered),
        cmocka_unit_test(test_list_refuses_duplicate_numbers),
        cmocka_unit_test(test_line_of),
    };
    /* in order: the second builds on the first */
    const struct CMUnitTest with_db[] = {
        cmocka_unit_test(test_apply_in_order_once),
        cmocka_unit_test(test_failed_file_leaves_nothing),
        cmocka_unit_test(test_checksums_recorded_and_edits_refused),
        cmocka_unit_test(test_checksums_filled_in_for_older_databases),
    };
    int failed = cmocka_run_group_tests_name("db_migrate_files", pure, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("db_migrate_postgres", with_db, setup, teardown);
    return failed;
}
