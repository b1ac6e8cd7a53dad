/* The PEP jobs (db_job_pep.c): each sent through the batch runner against
 * PARLEY_TEST_DATABASE_URL and its answer read back, as the store does.
 * Freeing every field needs no database. */
#include "../../../db/db_job_pep.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_test_db.h"

#define BOOKMARKS "urn:xmpp:bookmarks:1"
#define MDS "urn:xmpp:mds:displayed:0"

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

/* Every string filled, then freed: the assertion is ASan's leak check. */
static void test_free_every_field_sanitizer_checked(void **state)
{
    (void)state;
    struct db_job *j = db_job_new(DB_JOB_PEP_GET);
    j->u.pep.owner = xstrdup("a");
    j->u.pep.owner_jid = xstrdup("a@x");
    j->u.pep.node = xstrdup(BOOKMARKS);
    j->u.pep.item = xstrdup("r@m");
    j->u.pep.payload = xstrdup("<conference/>");
    j->u.pep.by = xstrdup("a@x");
    j->u.pep.items = calloc(1, sizeof(*j->u.pep.items));
    j->u.pep.items[0].id = xstrdup("r@m");
    j->u.pep.items[0].payload = xstrdup("<x/>");
    j->u.pep.items[0].name = xstrdup("R");
    j->u.pep.items[0].by = xstrdup("a@x");
    j->u.pep.count = 1;
    db_job_free(j);
}

/* ---- against the database ---- */

struct ctx {
    PGconn *conn;
    char a[48], a_jid[64], b_jid[64], room[64];
};

static int setup(void **state)
{
    *state = NULL;
    const char *url = db_test_url();
    if (!url)
        return 0;
    const char *file = __FILE__;
    const char *cut = strstr(file, "tests/unit/db/");
    assert_non_null(cut);
    char dir[4096], err[512];
    snprintf(dir, sizeof(dir), "%.*smigrations", (int)(cut - file), file);
    if (db_migrate(url, dir, err, sizeof(err)) != PL_OK)
        fail_msg("db_migrate: %s", err);
    struct ctx *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    int ok;
    c->conn = db_conn_open(url, &ok);
    assert_true(ok);
    assert_int_equal(db_jobs_prepare(c->conn), PL_OK);
    *state = c;
    return 0;
}

static int fresh(void **state)
{
    struct ctx *c = *state;
    if (!c)
        return 0;
    static int n;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(c->a, sizeof(c->a), "pa%ld%ld%d", (long)getpid(), ts.tv_nsec % 100000, ++n);
    snprintf(c->a_jid, sizeof(c->a_jid), "%s@x", c->a);
    snprintf(c->b_jid, sizeof(c->b_jid), "pb%ld%d@x", (long)getpid(), n);
    snprintf(c->room, sizeof(c->room), "pr%ld%ld%d@m", (long)getpid(),
             ts.tv_nsec % 100000, n);
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    if (c) {
        PQfinish(c->conn);
        free(c);
    }
    return 0;
}

static void run(struct ctx *c, struct db_job *job)
{
    struct db_job *jobs[1] = {job};
    job->status = PL_OK;
    assert_int_equal(db_jobs_run(c->conn, "n", jobs, 1), PL_OK);
    assert_int_equal(job->status, PL_OK);
}

/* One value of a query with up to two text parameters. */
static char *query(struct ctx *c, const char *sql, const char *p1, const char *p2)
{
    const char *p[2] = {p1, p2};
    PGresult *res = PQexecParams(c->conn, sql,
                                 p2   ? 2
                                 : p1 ? 1
                                      : 0,
                                 NULL, p, NULL, NULL, 0);
    assert_true(PQresultStatus(res) == PGRES_TUPLES_OK ||
                PQresultStatus(res) == PGRES_COMMAND_OK);
    char *v = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0
                  ? xstrdup(PQgetvalue(res, 0, 0))
                  : NULL;
    PQclear(res);
    return v;
}

static struct db_job *pep(struct ctx *c, enum db_job_kind kind, const char *node,
                          const char *item)
{
    struct db_job *j = db_job_new(kind);
    j->u.pep.owner = xstrdup(c->a);
    j->u.pep.owner_jid = xstrdup(c->a_jid);
    j->u.pep.node = xstrdup(node);
    j->u.pep.item = item ? xstrdup(item) : NULL;
    j->u.pep.max = 2;
    return j;
}

static void test_bookmarks_publish_get_retract(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    struct db_job *j = pep(c, DB_JOB_PEP_PUBLISH, BOOKMARKS, "one@m");
    j->u.pep.payload = xstrdup("<conference xmlns='urn:xmpp:bookmarks:1' name='One'/>");
    run(c, j);
    assert_int_equal(j->u.pep.result, 'o');
    db_job_free(j);
    j = pep(c, DB_JOB_PEP_PUBLISH, BOOKMARKS, "two@m");
    j->u.pep.payload = xstrdup("<conference xmlns='urn:xmpp:bookmarks:1'/>");
    run(c, j);
    assert_int_equal(j->u.pep.result, 'o');
    db_job_free(j);
    /* max 2: a third is refused, a second publish of one is a replacement */
    j = pep(c, DB_JOB_PEP_PUBLISH, BOOKMARKS, "three@m");
    j->u.pep.payload = xstrdup("<conference xmlns='urn:xmpp:bookmarks:1'/>");
    run(c, j);
    assert_int_equal(j->u.pep.result, 'f');
    db_job_free(j);
    j = pep(c, DB_JOB_PEP_PUBLISH, BOOKMARKS, "one@m");
    j->u.pep.payload = xstrdup("<conference xmlns='urn:xmpp:bookmarks:1' name='Uno'/>");
    run(c, j);
    assert_int_equal(j->u.pep.result, 'o');
    db_job_free(j);

    j = pep(c, DB_JOB_PEP_GET, BOOKMARKS, NULL);
    run(c, j);
    assert_int_equal(j->u.pep.count, 2);
    int uno = 0;
    for (size_t i = 0; i < j->u.pep.count; i++)
        uno |= strcmp(j->u.pep.items[i].id, "one@m") == 0 &&
               strstr(j->u.pep.items[i].payload, "Uno") != NULL;
    assert_true(uno);
    db_job_free(j);

    j = pep(c, DB_JOB_PEP_RETRACT, BOOKMARKS, "two@m");
    run(c, j);
    assert_true(j->u.pep.found);
    db_job_free(j);
    j = pep(c, DB_JOB_PEP_RETRACT, BOOKMARKS, "two@m");
    run(c, j);
    assert_false(j->u.pep.found);
    db_job_free(j);
}

static void test_member_room_offered_until_retracted(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    char *id =
        query(c,
              "INSERT INTO rooms (jid, localpart, name) VALUES ($1, split_part($1, "
              "'@', 1), 'Team') RETURNING id",
              c->room, NULL);
    free(query(c,
               "INSERT INTO room_affiliations (room_id, username, affiliation)"
               " VALUES ($1::uuid, $2, 'member')",
               id, c->a));
    struct db_job *j = pep(c, DB_JOB_PEP_GET, BOOKMARKS, NULL);
    run(c, j);
    assert_int_equal(j->u.pep.count, 1);
    assert_string_equal(j->u.pep.items[0].id, c->room);
    assert_null(j->u.pep.items[0].payload);
    assert_string_equal(j->u.pep.items[0].name, "Team");
    db_job_free(j);
    j = pep(c, DB_JOB_PEP_RETRACT, BOOKMARKS, c->room);
    run(c, j);
    assert_true(j->u.pep.found);
    db_job_free(j);
    j = pep(c, DB_JOB_PEP_GET, BOOKMARKS, NULL);
    run(c, j);
    assert_int_equal(j->u.pep.count, 0);
    db_job_free(j);
    free(id);
}

static void test_displayed_moves_the_read_position(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    char *m1 = query(c,
                     "SELECT id FROM parley_store_message($1, $2, 'mds1', 'one',"
                     " '<message/>')",
                     c->b_jid, c->a_jid);
    char *m2 = query(c,
                     "SELECT id FROM parley_store_message($1, $2, 'mds2', 'two',"
                     " '<message/>')",
                     c->b_jid, c->a_jid);
    char *n = query(c, "SELECT count(*) FROM parley_unread_counts($1)", c->a_jid, NULL);
    assert_string_equal(n, "1");
    free(n);
    struct db_job *j = pep(c, DB_JOB_PEP_PUBLISH, MDS, c->b_jid);
    j->u.pep.by = xstrdup(c->a_jid);
    j->u.pep.pos = strtoll(m1, NULL, 10);
    run(c, j);
    assert_int_equal(j->u.pep.result, 'o');
    db_job_free(j);
    n = query(c, "SELECT unread FROM parley_unread_counts($1)", c->a_jid, NULL);
    assert_string_equal(n, "1");
    free(n);
    /* a stanza-id of another conversation, or by another archive: unknown */
    j = pep(c, DB_JOB_PEP_PUBLISH, MDS, "nobody@x");
    j->u.pep.by = xstrdup(c->a_jid);
    j->u.pep.pos = strtoll(m2, NULL, 10);
    run(c, j);
    assert_int_equal(j->u.pep.result, 'u');
    db_job_free(j);
    j = pep(c, DB_JOB_PEP_PUBLISH, MDS, c->b_jid);
    j->u.pep.by = xstrdup(c->b_jid);
    j->u.pep.pos = strtoll(m2, NULL, 10);
    run(c, j);
    assert_int_equal(j->u.pep.result, 'u');
    db_job_free(j);
    j = pep(c, DB_JOB_PEP_PUBLISH, MDS, c->b_jid);
    j->u.pep.by = xstrdup(c->a_jid);
    j->u.pep.pos = strtoll(m2, NULL, 10);
    run(c, j);
    assert_int_equal(j->u.pep.result, 'o');
    db_job_free(j);
    n = query(c, "SELECT count(*) FROM parley_unread_counts($1)", c->a_jid, NULL);
    assert_string_equal(n, "0");
    free(n);
    j = pep(c, DB_JOB_PEP_GET, MDS, NULL);
    run(c, j);
    assert_int_equal(j->u.pep.count, 1);
    assert_string_equal(j->u.pep.items[0].id, c->b_jid);
    assert_string_equal(j->u.pep.items[0].by, c->a_jid);
    assert_int_equal(j->u.pep.items[0].pos, strtoll(m2, NULL, 10));
    db_job_free(j);
    free(m1);
    free(m2);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_free_every_field_sanitizer_checked),
    };
    const struct CMUnitTest with_db[] = {
        cmocka_unit_test_setup(test_bookmarks_publish_get_retract, fresh),
        cmocka_unit_test_setup(test_member_room_offered_until_retracted, fresh),
        cmocka_unit_test_setup(test_displayed_moves_the_read_position, fresh),
    };
    int failed = cmocka_run_group_tests_name("db_job_pep_pure", pure, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("db_job_pep_postgres", with_db, setup, teardown);
    return failed;
}
