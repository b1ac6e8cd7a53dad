/* The rooms' jobs through the real runner (db_jobs_run) against
 * PARLEY_TEST_DATABASE_URL: load, create, store, join and catch-up,
 * positions (batched), affiliations, configuration, subject, list and
 * destruction. Includes db_job_room.c to reach its statics. */
#include "../../../db/db_job_room.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_test_db.h"
#include "db_test_jobs.h"

/* ---- without a database ---- */

static void test_table_rows(void **state)
{
    (void)state;
    /* one statement each; positions are the one batched kind here */
    static const struct db_test_kind kinds[] = {
        {DB_JOB_ROOM_LOAD, NULL, 1, DB_TEST_SEND},
        {DB_JOB_ROOM_CREATE, NULL, 1, DB_TEST_SEND},
        {DB_JOB_ROOM_MSG_STORE, NULL, 1, DB_TEST_SEND},
        {DB_JOB_ROOM_JOIN, "room_join", 1, DB_TEST_SEND},
        {DB_JOB_ROOM_POSITION, NULL, 1, DB_TEST_BATCH},
        {DB_JOB_ROOM_AFFILIATIONS, NULL, 1, DB_TEST_SEND},
        {DB_JOB_ROOM_CONFIG, NULL, 1, DB_TEST_SEND},
        {DB_JOB_ROOM_SUBJECT, NULL, 1, DB_TEST_SEND},
        {DB_JOB_ROOM_DESTROY, NULL, 1, DB_TEST_SEND},
        {DB_JOB_ROOM_LIST, NULL, 1, DB_TEST_SEND},
        {DB_JOB_MAM_QUERY, NULL, 1, DB_TEST_SEND},
    };
    db_test_check_kinds(kinds, sizeof(kinds) / sizeof(kinds[0]));
}

static void test_array_and_numbers(void **state)
{
    (void)state;
    struct pl_buf arr = PL_BUF_INIT;
    assert_int_equal(pl_buf_append_str(&arr, "{"), PL_OK);
    assert_int_equal(db_room_array_add(&arr, "a\"b"), PL_OK);
    assert_int_equal(db_room_array_add(&arr, NULL), PL_OK);
    assert_int_equal(pl_buf_append_str(&arr, "}"), PL_OK);
    assert_string_equal(arr.data, "{\"a\\\"b\",NULL}");
    pl_buf_free(&arr);
    int64_t v;
    assert_int_equal(db_room_parse_i64("42", &v), PL_OK);
    assert_true(v == 42);
    assert_int_equal(db_room_parse_i64("4x", &v), PL_EINVAL);
}

/* Every payload filled and freed: the assertion is ASan's leak check. */
static void test_free_every_payload_sanitizer_checked(void **state)
{
    (void)state;
    struct db_job *j = db_job_new(DB_JOB_ROOM_LOAD);
    j->u.room_load.jid = xstrdup("r@c");
    j->u.room_load.name = xstrdup("n");
    j->u.room_load.affs = calloc(1, sizeof(*j->u.room_load.affs));
    j->u.room_load.affs[0].username = xstrdup("a");
    j->u.room_load.affs[0].affiliation = xstrdup("owner");
    j->u.room_load.naffs = 1;
    db_job_free(j);
    j = db_job_new(DB_JOB_ROOM_AFFILIATIONS);
    j->u.room_affiliations.room_id = xstrdup("x");
    j->u.room_affiliations.count = 1;
    j->u.room_affiliations.usernames = calloc(1, sizeof(char *));
    j->u.room_affiliations.usernames[0] = xstrdup("a");
    j->u.room_affiliations.affiliations = calloc(1, sizeof(char *));
    db_job_free(j);
    j = db_job_new(DB_JOB_ROOM_LIST);
    j->u.room_list.username = xstrdup("a");
    db_job_free(j);
    j = db_job_new(DB_JOB_MAM_QUERY);
    j->u.mam.owner = xstrdup("a@x");
    j->u.mam.ids = calloc(2, sizeof(int64_t));
    j->u.mam.queryid = xstrdup("q");
    db_job_free(j);
}

/* ---- against the database ---- */

struct ctx {
    PGconn *conn;
    char tag[32];
    char jid[96];
};

static int setup(void **state)
{
    *state = NULL;
    PGconn *conn = db_test_jobs_connect(__FILE__);
    if (!conn)
        return 0;
    struct ctx *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->conn = conn;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(c->tag, sizeof(c->tag), "r%ld%ld", (long)getpid(),
             (long)(ts.tv_nsec % 100000));
    snprintf(c->jid, sizeof(c->jid), "%s@conference.x", c->tag);
    *state = c;
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

static void run1(struct ctx *c, struct db_job *job)
{
    struct db_job *jobs[1] = {job};
    assert_int_equal(db_jobs_run(c->conn, "n", jobs, 1), PL_OK);
    assert_int_equal(job->status, PL_OK);
}

static struct db_job *load_job(struct ctx *c, int create, const char *creator)
{
    struct db_job *j = db_job_new(create ? DB_JOB_ROOM_CREATE : DB_JOB_ROOM_LOAD);
    j->u.room_load.jid = xstrdup(c->jid);
    if (create) {
        j->u.room_load.localpart = xstrdup(c->tag);
        j->u.room_load.creator = creator ? xstrdup(creator) : NULL;
    }
    return j;
}

static struct db_job *msg_job(struct ctx *c, const char *sender, const char *id,
                              const char *body)
{
    struct db_job *j = db_job_new(DB_JOB_ROOM_MSG_STORE);
    j->u.room_msg.room = xstrdup(c->jid);
    j->u.room_msg.sender = xstrdup(sender);
    j->u.room_msg.stanza_id = id ? xstrdup(id) : NULL;
    j->u.room_msg.body = xstrdup(body);
    j->u.room_msg.stanza_xml = xstrdup("<message type='groupchat'/>");
    return j;
}

static struct db_job *join_job(const char *room_id, const char *user, int limit,
                               int64_t after)
{
    struct db_job *j = db_job_new(DB_JOB_ROOM_JOIN);
    j->u.room_join.room_id = xstrdup(room_id);
    j->u.room_join.username = xstrdup(user);
    j->u.room_join.make_member = 1;
    j->u.room_join.limit = limit;
    j->u.room_join.first_limit = 20;
    j->u.room_join.after_id = after;
    return j;
}

/* A missing room, then created (the creator owner), created again (not
 * twice), loaded. */
static void test_load_and_create(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    struct db_job *j = load_job(c, 0, NULL);
    run1(c, j);
    assert_false(j->u.room_load.found);
    db_job_free(j);

    j = load_job(c, 1, "alice");
    run1(c, j);
    assert_true(j->u.room_load.found);
    assert_true(j->u.room_load.created);
    assert_int_equal(strlen(j->u.room_load.id), 36);
    assert_int_equal(j->u.room_load.naffs, 1);
    assert_string_equal(j->u.room_load.affs[0].username, "alice");
    assert_string_equal(j->u.room_load.affs[0].affiliation, "owner");
    assert_false(j->u.room_load.members_only);
    assert_true(j->u.room_load.public_room);
    char id[40];
    snprintf(id, sizeof(id), "%s", j->u.room_load.id);
    db_job_free(j);

    j = load_job(c, 1, "bob");
    run1(c, j);
    assert_true(j->u.room_load.found);
    assert_false(j->u.room_load.created);
    assert_string_equal(j->u.room_load.id, id);
    assert_int_equal(j->u.room_load.naffs, 1);
    db_job_free(j);

    j = load_job(c, 0, NULL);
    run1(c, j);
    assert_true(j->u.room_load.found);
    assert_string_equal(j->u.room_load.id, id);
    db_job_free(j);
}

static char *room_id(struct ctx *c)
{
    struct db_job *j = load_job(c, 1, "alice");
    run1(c, j);
    char *id = xstrdup(j->u.room_load.id);
    db_job_free(j);
    return id;
}

/* Stored once per retry; a first-time member gets the last 20 and starts
 * at the end; a returning one gets what came after their position, which
 * the batched positions move forward only. */
static void test_store_join_positions(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    char *id = room_id(c);
    int64_t first = 0, last = 0;
    for (int i = 0; i < 25; i++) {
        char sid[16], body[16];
        snprintf(sid, sizeof(sid), "s%d", i);
        snprintf(body, sizeof(body), "b%d", i);
        struct db_job *m = msg_job(c, "alice@x", sid, body);
        run1(c, m);
        assert_true(m->u.room_msg.inserted);
        if (!first)
            first = m->u.room_msg.id;
        last = m->u.room_msg.id;
        db_job_free(m);
    }
    /* a true retry is the message already stored */
    struct db_job *m = msg_job(c, "alice@x", "s24", "b24");
    run1(c, m);
    assert_false(m->u.room_msg.inserted);
    assert_true(m->u.room_msg.id == last);
    db_job_free(m);

    struct db_job *j = join_job(id, "bob", 1000, -1);
    run1(c, j);
    assert_int_equal(j->u.room_join.count, 20);
    assert_true(j->u.room_join.msgs[19].id == last);
    assert_true(j->u.room_join.msgs[0].id < j->u.room_join.msgs[1].id);
    db_job_free(j);

    /* three more, then bob's position moves to the first of them */
    int64_t more[3];
    for (int i = 0; i < 3; i++) {
        m = msg_job(c, "alice@x", NULL, "later");
        run1(c, m);
        more[i] = m->u.room_msg.id;
        db_job_free(m);
    }
    struct db_job *p1 = db_job_new(DB_JOB_ROOM_POSITION);
    p1->u.room_position.room_id = xstrdup(id);
    p1->u.room_position.username = xstrdup("bob");
    p1->u.room_position.delivered_id = more[0];
    struct db_job *p2 = db_job_new(DB_JOB_ROOM_POSITION);
    p2->u.room_position.room_id = xstrdup(id);
    p2->u.room_position.username = xstrdup("bob");
    p2->u.room_position.delivered_id = first; /* backward: ignored */
    struct db_job *batch[2] = {p1, p2};
    assert_int_equal(db_jobs_run(c->conn, "n", batch, 2), PL_OK);
    assert_int_equal(p1->status, PL_OK);
    assert_int_equal(p2->status, PL_OK);
    db_job_free(p1);
    db_job_free(p2);

    j = join_job(id, "bob", 1000, -1);
    run1(c, j);
    assert_int_equal(j->u.room_join.count, 2);
    assert_true(j->u.room_join.msgs[0].id == more[1]);
    assert_true(j->u.room_join.msgs[1].id == more[2]);
    db_job_free(j);

    /* from an explicit id, at most the limit, the most recent ones */
    j = join_job(id, "bob", 5, 0);
    run1(c, j);
    assert_int_equal(j->u.room_join.count, 5);
    assert_true(j->u.room_join.msgs[4].id == more[2]);
    db_job_free(j);
    free(id);
}

static void test_affiliations_config_subject_list_destroy(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    char *id = room_id(c);
    struct db_job *a = db_job_new(DB_JOB_ROOM_AFFILIATIONS);
    a->u.room_affiliations.room_id = xstrdup(id);
    a->u.room_affiliations.count = 2;
    a->u.room_affiliations.usernames = calloc(2, sizeof(char *));
    a->u.room_affiliations.affiliations = calloc(2, sizeof(char *));
    a->u.room_affiliations.reasons = calloc(2, sizeof(char *));
    a->u.room_affiliations.usernames[0] = xstrdup("carol");
    a->u.room_affiliations.affiliations[0] = xstrdup("outcast");
    a->u.room_affiliations.reasons[0] = xstrdup("spam");
    a->u.room_affiliations.usernames[1] = xstrdup("dave");
    a->u.room_affiliations.affiliations[1] = xstrdup("admin");
    run1(c, a);
    assert_false(a->u.room_affiliations.conflict);
    assert_null(a->u.room_affiliations.previous[0]);
    assert_null(a->u.room_affiliations.previous[1]);
    db_job_free(a);

    /* the last owner stays */
    a = db_job_new(DB_JOB_ROOM_AFFILIATIONS);
    a->u.room_affiliations.room_id = xstrdup(id);
    a->u.room_affiliations.count = 1;
    a->u.room_affiliations.usernames = calloc(1, sizeof(char *));
    a->u.room_affiliations.affiliations = calloc(1, sizeof(char *));
    a->u.room_affiliations.usernames[0] = xstrdup("alice");
    run1(c, a);
    assert_true(a->u.room_affiliations.conflict);
    db_job_free(a);

    struct db_job *cfg = db_job_new(DB_JOB_ROOM_CONFIG);
    cfg->u.room_config.room_id = xstrdup(id);
    cfg->u.room_config.name = xstrdup("Team");
    cfg->u.room_config.members_only = 1;
    cfg->u.room_config.public_room = 0;
    cfg->u.room_config.change_subject = 0;
    run1(c, cfg);
    db_job_free(cfg);
    struct db_job *s = db_job_new(DB_JOB_ROOM_SUBJECT);
    s->u.room_subject.room_id = xstrdup(id);
    s->u.room_subject.subject = xstrdup("Plans");
    s->u.room_subject.by = xstrdup("alice");
    run1(c, s);
    db_job_free(s);

    struct db_job *l = load_job(c, 0, NULL);
    run1(c, l);
    assert_string_equal(l->u.room_load.name, "Team");
    assert_null(l->u.room_load.description);
    assert_true(l->u.room_load.members_only);
    assert_false(l->u.room_load.public_room);
    assert_false(l->u.room_load.change_subject);
    assert_string_equal(l->u.room_load.subject, "Plans");
    assert_string_equal(l->u.room_load.subject_by, "alice");
    /* alice (owner), bob (a member since he joined), carol, dave */
    assert_int_equal(l->u.room_load.naffs, 4);
    db_job_free(l);

    /* hidden now: carol (an outcast) does not see it, dave does */
    struct db_job *li = db_job_new(DB_JOB_ROOM_LIST);
    li->u.room_list.username = xstrdup("carol");
    run1(c, li);
    for (size_t i = 0; i < li->u.room_list.count; i++)
        assert_string_not_equal(li->u.room_list.jids[i], c->jid);
    db_job_free(li);
    li = db_job_new(DB_JOB_ROOM_LIST);
    li->u.room_list.username = xstrdup("dave");
    run1(c, li);
    int seen = 0;
    for (size_t i = 0; i < li->u.room_list.count; i++)
        seen += strcmp(li->u.room_list.jids[i], c->jid) == 0;
    assert_int_equal(seen, 1);
    db_job_free(li);

    struct db_job *d = db_job_new(DB_JOB_ROOM_DESTROY);
    d->u.room_destroy.room_id = xstrdup(id);
    run1(c, d);
    assert_true(d->u.room_destroy.destroyed);
    db_job_free(d);
    l = load_job(c, 0, NULL);
    run1(c, l);
    assert_false(l->u.room_load.found);
    db_job_free(l);
    free(id);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_table_rows),
        cmocka_unit_test(test_array_and_numbers),
        cmocka_unit_test(test_free_every_payload_sanitizer_checked),
    };
    const struct CMUnitTest with_db[] = {
        cmocka_unit_test(test_load_and_create),
        cmocka_unit_test(test_store_join_positions),
        cmocka_unit_test(test_affiliations_config_subject_list_destroy),
    };
    int failed = cmocka_run_group_tests_name("db_job_room_pure", pure, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("db_job_room_postgres", with_db, setup, teardown);
    return failed;
}
