/* What the job tests (db_jobs_test, db_job_roster_test, db_job_room_test)
 * share: the job table's rows checked from a table of what each kind should
 * be, a checked strdup, and the connection their database tests run on
 * (migrated, the store's statements prepared). Include after cmocka.h and
 * db_test_db.h, and after the db/ source or db_internal.h. */
#ifndef DB_TEST_JOBS_H
#define DB_TEST_JOBS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline char *xstrdup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

/* How a kind is run: by a worker one job at a time (send), by a worker per
 * batch (send_batch), or not by a worker at all (an event: no statements). */
enum db_test_run { DB_TEST_SEND, DB_TEST_BATCH, DB_TEST_EVENT };

/* One row of what a kind should be; name NULL and nstmts -1 are not
 * checked. */
struct db_test_kind {
    enum db_job_kind kind;
    const char *name;
    int nstmts;
    enum db_test_run run;
};

/* What every row of the table must be: named (a name no other row has),
 * freed, sent one way or the other but never both, its statements named
 * and holding SQL, and run by a worker exactly when it has statements. */
static inline void db_test_check_row(enum db_job_kind k)
{
    const struct db_job_desc *d = db_job_desc_get(k);
    assert_non_null(d);
    assert_non_null(d->name);
    assert_non_null(d->free);
    assert_string_equal(db_job_name(k), d->name);
    assert_false(d->send && d->send_batch);
    for (int j = 0; j < (int)k; j++)
        assert_string_not_equal(d->name, db_job_desc_get((enum db_job_kind)j)->name);
    for (size_t i = 0; i < d->nstmts; i++) {
        assert_non_null(d->stmts[i].name);
        assert_non_null(strstr(d->stmts[i].sql, " "));
    }
    assert_int_equal(db_job_submittable(k), d->nstmts > 0);
}

/* Every row of the table, then what is not a kind. */
static inline void db_test_check_table(void)
{
    for (int k = 0; k < DB_JOB__COUNT; k++)
        db_test_check_row((enum db_job_kind)k);
    assert_null(db_job_desc_get(DB_JOB__COUNT));
    assert_null(db_job_desc_get((enum db_job_kind) - 1));
    assert_false(db_job_submittable(DB_JOB__COUNT));
    assert_string_equal(db_job_name(DB_JOB__COUNT), "unknown");
}

/* The rows given, each checked as every row is and against what it
 * should be. */
static inline void db_test_check_kinds(const struct db_test_kind *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct db_test_kind *want = &rows[i];
        const struct db_job_desc *d = db_job_desc_get(want->kind);
        db_test_check_row(want->kind);
        if (want->name)
            assert_string_equal(db_job_name(want->kind), want->name);
        if (want->nstmts >= 0)
            assert_int_equal(d->nstmts, want->nstmts);
        switch (want->run) {
        case DB_TEST_SEND:
            assert_true(db_job_submittable(want->kind));
            assert_non_null(d->send);
            assert_null(d->send_batch);
            break;
        case DB_TEST_BATCH:
            assert_true(db_job_submittable(want->kind));
            assert_non_null(d->send_batch);
            assert_null(d->send);
            break;
        case DB_TEST_EVENT:
            assert_false(db_job_submittable(want->kind));
            break;
        }
    }
}

/* A connection to the test database, migrated with this checkout's
 * migrations/ (found from the test's own path, file: __FILE__) and with the
 * store's statements prepared; NULL when the database tests skip. */
static inline PGconn *db_test_jobs_connect(const char *file)
{
    const char *url = db_test_url();
    if (!url)
        return NULL;
    const char *cut = strstr(file, "tests/unit/db/");
    assert_non_null(cut);
    char dir[4096], err[512];
    snprintf(dir, sizeof(dir), "%.*smigrations", (int)(cut - file), file);
    if (db_migrate(url, dir, err, sizeof(err)) != PL_OK)
        fail_msg("db_migrate: %s", err);
    int ok;
    PGconn *conn = db_conn_open(url, &ok);
    assert_true(ok);
    assert_int_equal(db_jobs_prepare(conn), PL_OK);
    return conn;
}

#endif
