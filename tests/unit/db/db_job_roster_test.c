/* The roster, subscription, initial-presence, blocking and marker jobs
 * (db_job_roster.c): each sent through the batch runner against
 * PARLEY_TEST_DATABASE_URL and its answer read back, as the store does.
 * The kinds' table rows and freeing every kind filled in need no
 * database. */
#include "../../../db/db_job_roster.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_test_db.h"
#include "db_test_jobs.h"

/* The roster kinds' rows: one statement each, sent one job at a time. */
static void test_table_rows(void **state)
{
    (void)state;
    static const struct db_test_kind kinds[] = {
        {DB_JOB_ROSTER_LOAD, "roster_load", 1, DB_TEST_SEND},
        {DB_JOB_ROSTER_SET, "roster_set", 1, DB_TEST_SEND},
        {DB_JOB_ROSTER_PAIR, "roster_pair", 1, DB_TEST_SEND},
        {DB_JOB_ROSTER_APPLY, "roster_apply", 1, DB_TEST_SEND},
        {DB_JOB_PRESENCE_INITIAL, "presence_initial", 1, DB_TEST_SEND},
        {DB_JOB_BLOCK_SET, "block_set", 1, DB_TEST_SEND},
        {DB_JOB_MARK_DISPLAYED, "mark_displayed", 1, DB_TEST_SEND},
    };
    db_test_check_kinds(kinds, sizeof(kinds) / sizeof(kinds[0]));
}

/* Every string of every kind filled, then freed: the assertion is ASan's
 * leak check, hence the name. */
static void test_free_every_kind_sanitizer_checked(void **state)
{
    (void)state;
    struct db_job *j = db_job_new(DB_JOB_ROSTER_LOAD);
    j->u.roster_load.owner = xstrdup("a");
    j->u.roster_load.items = calloc(1, sizeof(*j->u.roster_load.items));
    j->u.roster_load.items[0].jid = xstrdup("b@x");
    j->u.roster_load.items[0].name = xstrdup("B");
    j->u.roster_load.items[0].groups = xstrdup("g");
    j->u.roster_load.count = 1;
    j->u.roster_load.blocked = calloc(1, sizeof(char *));
    j->u.roster_load.blocked[0] = xstrdup("c@x");
    j->u.roster_load.nblocked = 1;
    db_job_free(j);
    j = db_job_new(DB_JOB_ROSTER_SET);
    j->u.roster_set.owner = xstrdup("a");
    j->u.roster_set.contact = xstrdup("b@x");
    j->u.roster_set.name = xstrdup("B");
    j->u.roster_set.groups = xstrdup("g");
    db_job_free(j);
    j = db_job_new(DB_JOB_ROSTER_PAIR);
    j->u.roster_pair.a_owner = xstrdup("a");
    j->u.roster_pair.a_contact = xstrdup("b@x");
    j->u.roster_pair.b_owner = xstrdup("b");
    j->u.roster_pair.b_contact = xstrdup("a@x");
    j->u.roster_pair.a.name = xstrdup("B");
    j->u.roster_pair.b.groups = xstrdup("g");
    db_job_free(j);
    j = db_job_new(DB_JOB_ROSTER_APPLY);
    j->u.roster_apply.a_owner = xstrdup("a");
    j->u.roster_apply.a_contact = xstrdup("b@x");
    j->u.roster_apply.a_request = xstrdup("<presence/>");
    j->u.roster_apply.b_owner = xstrdup("b");
    j->u.roster_apply.b_contact = xstrdup("a@x");
    j->u.roster_apply.b_request = xstrdup("<presence/>");
    db_job_free(j);
    j = db_job_new(DB_JOB_PRESENCE_INITIAL);
    j->u.presence_initial.owner = xstrdup("a");
    j->u.presence_initial.owner_jid = xstrdup("a@x");
    j->u.presence_initial.contacts = calloc(1, sizeof(*j->u.presence_initial.contacts));
    j->u.presence_initial.contacts[0].jid = xstrdup("b@x");
    j->u.presence_initial.contacts[0].status = xstrdup("out");
    j->u.presence_initial.ncontacts = 1;
    j->u.presence_initial.requests = calloc(1, sizeof(*j->u.presence_initial.requests));
    j->u.presence_initial.requests[0].jid = xstrdup("c@x");
    j->u.presence_initial.requests[0].stanza_xml = xstrdup("<presence/>");
    j->u.presence_initial.nrequests = 1;
    db_job_free(j);
    j = db_job_new(DB_JOB_BLOCK_SET);
    j->u.block_set.owner = xstrdup("a");
    j->u.block_set.jids = xstrdup("b@x");
    db_job_free(j);
    j = db_job_new(DB_JOB_MARK_DISPLAYED);
    j->u.displayed.sender = xstrdup("a@x");
    j->u.displayed.stanza_id = xstrdup("1");
    j->u.displayed.recipient = xstrdup("b@x");
    db_job_free(j);
}

/* ---- against the database ---- */

struct ctx {
    PGconn *conn;
    char a[48], b[48]; /* two fresh usernames */
    char a_jid[64], b_jid[64];
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
    *state = c;
    return 0;
}

/* Fresh names per test, so tests do not see each other's rows. */
static int fresh(void **state)
{
    struct ctx *c = *state;
    if (!c)
        return 0;
    static int n;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(c->a, sizeof(c->a), "ra%ld%ld%d", (long)getpid(), ts.tv_nsec % 100000, ++n);
    snprintf(c->b, sizeof(c->b), "rb%ld%ld%d", (long)getpid(), ts.tv_nsec % 100000, n);
    snprintf(c->a_jid, sizeof(c->a_jid), "%s@x", c->a);
    snprintf(c->b_jid, sizeof(c->b_jid), "%s@x", c->b);
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

static struct db_job *load(struct ctx *c, const char *owner)
{
    struct db_job *j = db_job_new(DB_JOB_ROSTER_LOAD);
    j->u.roster_load.owner = xstrdup(owner);
    run(c, j);
    return j;
}

static struct db_job *roster_set(struct ctx *c, const char *contact, const char *name,
                                 const char *groups, int max)
{
    struct db_job *j = db_job_new(DB_JOB_ROSTER_SET);
    j->u.roster_set.owner = xstrdup(c->a);
    j->u.roster_set.contact = xstrdup(contact);
    j->u.roster_set.name = name ? xstrdup(name) : NULL;
    j->u.roster_set.groups = xstrdup(groups);
    j->u.roster_set.max = max;
    run(c, j);
    return j;
}

/* A set adds a listed item with its groups and bumps the version; the load
 * gives the rows back with the version; a new item past the limit is
 * refused, an existing one may still change. */
static void test_roster_set_and_load(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    struct db_job *s = roster_set(c, c->b_jid, "Bee",
                                  "Work\x1f"
                                  "Friends, close",
                                  2);
    assert_false(s->u.roster_set.refused);
    assert_int_equal(s->u.roster_set.state, 32);
    assert_true(s->u.roster_set.ver == 1);
    db_job_free(s);

    struct db_job *l = load(c, c->a);
    assert_true(l->u.roster_load.ver == 1);
    assert_int_equal(l->u.roster_load.count, 1);
    struct db_roster_item *it = &l->u.roster_load.items[0];
    assert_string_equal(it->jid, c->b_jid);
    assert_string_equal(it->name, "Bee");
    assert_string_equal(it->groups, "Work\x1f"
                                    "Friends, close");
    assert_int_equal(it->state, 32);
    assert_int_equal(l->u.roster_load.nblocked, 0);
    db_job_free(l);

    s = roster_set(c, "z1@x", NULL, "", 2);
    assert_false(s->u.roster_set.refused);
    db_job_free(s);
    s = roster_set(c, "z2@x", NULL, "", 2);
    assert_true(s->u.roster_set.refused);
    db_job_free(s);
    s = roster_set(c, c->b_jid, NULL, "", 2);
    assert_false(s->u.roster_set.refused);
    assert_true(s->u.roster_set.ver == 3);
    db_job_free(s);
    l = load(c, c->a);
    assert_int_equal(l->u.roster_load.count, 2);
    for (size_t i = 0; i < 2; i++)
        if (strcmp(l->u.roster_load.items[i].jid, c->b_jid) == 0) {
            assert_null(l->u.roster_load.items[i].name);
            assert_string_equal(l->u.roster_load.items[i].groups, "");
        }
    db_job_free(l);
}

static struct db_job *pair(struct ctx *c)
{
    struct db_job *j = db_job_new(DB_JOB_ROSTER_PAIR);
    j->u.roster_pair.a_owner = xstrdup(c->a);
    j->u.roster_pair.a_contact = xstrdup(c->b_jid);
    j->u.roster_pair.b_owner = xstrdup(c->b);
    j->u.roster_pair.b_contact = xstrdup(c->a_jid);
    run(c, j);
    return j;
}

static struct db_job *apply(struct ctx *c, int64_t a_old, int a_new, int64_t b_old,
                            int b_new, const char *b_request)
{
    struct db_job *j = db_job_new(DB_JOB_ROSTER_APPLY);
    j->u.roster_apply.a_owner = xstrdup(c->a);
    j->u.roster_apply.a_contact = xstrdup(c->b_jid);
    j->u.roster_apply.a_old = a_old;
    j->u.roster_apply.a_new = a_new;
    j->u.roster_apply.b_owner = xstrdup(c->b);
    j->u.roster_apply.b_contact = xstrdup(c->a_jid);
    j->u.roster_apply.b_old = b_old;
    j->u.roster_apply.b_new = b_new;
    j->u.roster_apply.b_request = b_request ? xstrdup(b_request) : NULL;
    run(c, j);
    return j;
}

/* The exchange's write applies only to rows still at the versions read: a
 * second writer with the same old versions is refused, and the pair read
 * again shows the first one's states. */
static void test_pair_and_apply_compare_and_set(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    struct db_job *p = pair(c);
    assert_int_equal(p->u.roster_pair.a.state, 0);
    assert_true(p->u.roster_pair.a.ver == 0);
    assert_int_equal(p->u.roster_pair.b.state, 0);
    assert_false(p->u.roster_pair.b_blocks_a);
    db_job_free(p);

    /* a subscribes: a's row None + Pending Out, b's an unlisted request */
    struct db_job *w = apply(c, 0, 32 | 4, 0, 8, "<presence type='subscribe'/>");
    assert_true(w->u.roster_apply.applied);
    assert_true(w->u.roster_apply.a_ver == 1);
    assert_true(w->u.roster_apply.b_ver == 1);
    db_job_free(w);
    w = apply(c, 0, 32 | 4, 0, 8, NULL);
    assert_false(w->u.roster_apply.applied);
    db_job_free(w);

    p = pair(c);
    assert_int_equal(p->u.roster_pair.a.state, 32 | 4);
    assert_true(p->u.roster_pair.a.ver == 1);
    assert_int_equal(p->u.roster_pair.b.state, 8);
    int64_t a_ver = p->u.roster_pair.a.ver, b_ver = p->u.roster_pair.b.ver;
    db_job_free(p);

    /* the request is waiting for b's next login */
    struct db_job *i = db_job_new(DB_JOB_PRESENCE_INITIAL);
    i->u.presence_initial.owner = xstrdup(c->b);
    i->u.presence_initial.owner_jid = xstrdup(c->b_jid);
    run(c, i);
    assert_int_equal(i->u.presence_initial.nrequests, 1);
    assert_string_equal(i->u.presence_initial.requests[0].jid, c->a_jid);
    assert_string_equal(i->u.presence_initial.requests[0].stanza_xml,
                        "<presence type='subscribe'/>");
    assert_int_equal(i->u.presence_initial.ncontacts, 0);
    db_job_free(i);

    /* b approves: a `to`, b `from` (listed); a side left alone keeps its
     * version */
    w = apply(c, a_ver, 32 | 1, b_ver, 32 | 2, NULL);
    assert_true(w->u.roster_apply.applied);
    db_job_free(w);
    w = apply(c, 2, -1, 2, 0, NULL); /* b's row goes; a's stays */
    assert_true(w->u.roster_apply.applied);
    assert_true(w->u.roster_apply.a_ver == 0);
    db_job_free(w);
    p = pair(c);
    assert_int_equal(p->u.roster_pair.a.state, 32 | 1);
    assert_int_equal(p->u.roster_pair.b.state, 0);
    db_job_free(p);

    /* a's contacts with their last presence: none recorded for b yet */
    i = db_job_new(DB_JOB_PRESENCE_INITIAL);
    i->u.presence_initial.owner = xstrdup(c->a);
    i->u.presence_initial.owner_jid = xstrdup(c->a_jid);
    run(c, i);
    assert_int_equal(i->u.presence_initial.ncontacts, 1);
    assert_string_equal(i->u.presence_initial.contacts[0].jid, c->b_jid);
    assert_false(i->u.presence_initial.contacts[0].known);
    db_job_free(i);
}

/* Blocking: the list comes back with the roster load, the pair says so,
 * and a message from a blocked sender is not stored (id 0). */
static void test_block_set_and_its_effects(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    char jids[200];
    snprintf(jids, sizeof(jids),
             "%s\x1f"
             "evil.example",
             c->a_jid);
    struct db_job *b = db_job_new(DB_JOB_BLOCK_SET);
    b->u.block_set.owner = xstrdup(c->b);
    b->u.block_set.op = DB_BLOCK_ADD;
    b->u.block_set.jids = xstrdup(jids);
    run(c, b);
    assert_int_equal(b->u.block_set.changed, 2);
    db_job_free(b);

    struct db_job *l = load(c, c->b);
    assert_int_equal(l->u.roster_load.nblocked, 2);
    db_job_free(l);
    struct db_job *p = pair(c);
    assert_true(p->u.roster_pair.b_blocks_a);
    db_job_free(p);

    struct db_job *m = db_job_new(DB_JOB_MSG_STORE);
    m->u.msg.sender = xstrdup(c->a_jid);
    m->u.msg.recipient = xstrdup(c->b_jid);
    m->u.msg.stanza_id = xstrdup("blk1");
    m->u.msg.body = xstrdup("hi");
    m->u.msg.stanza_xml = xstrdup("<message/>");
    run(c, m);
    assert_true(m->u.msg.id == 0);
    assert_false(m->u.msg.inserted);
    assert_false(m->u.msg.pending);
    db_job_free(m);

    b = db_job_new(DB_JOB_BLOCK_SET);
    b->u.block_set.owner = xstrdup(c->b);
    b->u.block_set.op = DB_BLOCK_REMOVE;
    b->u.block_set.jids = xstrdup(c->a_jid);
    run(c, b);
    assert_int_equal(b->u.block_set.changed, 1);
    db_job_free(b);
    b = db_job_new(DB_JOB_BLOCK_SET);
    b->u.block_set.owner = xstrdup(c->b);
    b->u.block_set.op = DB_BLOCK_REMOVE_ALL;
    run(c, b);
    assert_int_equal(b->u.block_set.changed, 1);
    db_job_free(b);
    l = load(c, c->b);
    assert_int_equal(l->u.roster_load.nblocked, 0);
    db_job_free(l);
}

/* A displayed marker moves that message and the earlier ones of the same
 * sender to the marker's sender; a marker from someone else moves none. */
static void test_mark_displayed(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    for (int i = 1; i <= 3; i++) {
        struct db_job *m = db_job_new(DB_JOB_MSG_STORE);
        char id[16];
        snprintf(id, sizeof(id), "d%d", i);
        m->u.msg.sender = xstrdup(c->a_jid);
        m->u.msg.recipient = xstrdup(c->b_jid);
        m->u.msg.stanza_id = xstrdup(id);
        m->u.msg.body = xstrdup(id);
        m->u.msg.stanza_xml = xstrdup("<message/>");
        run(c, m);
        assert_true(m->u.msg.id > 0);
        db_job_free(m);
    }
    struct db_job *d = db_job_new(DB_JOB_MARK_DISPLAYED);
    d->u.displayed.sender = xstrdup(c->a_jid);
    d->u.displayed.stanza_id = xstrdup("d2");
    d->u.displayed.recipient = xstrdup("someone-else@x");
    run(c, d);
    assert_int_equal(d->u.displayed.updated, 0);
    db_job_free(d);
    d = db_job_new(DB_JOB_MARK_DISPLAYED);
    d->u.displayed.sender = xstrdup(c->a_jid);
    d->u.displayed.stanza_id = xstrdup("d2");
    d->u.displayed.recipient = xstrdup(c->b_jid);
    run(c, d);
    assert_int_equal(d->u.displayed.updated, 2);
    db_job_free(d);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_table_rows),
        cmocka_unit_test(test_free_every_kind_sanitizer_checked),
    };
    const struct CMUnitTest with_db[] = {
        cmocka_unit_test_setup(test_roster_set_and_load, fresh),
        cmocka_unit_test_setup(test_pair_and_apply_compare_and_set, fresh),
        cmocka_unit_test_setup(test_block_set_and_its_effects, fresh),
        cmocka_unit_test_setup(test_mark_displayed, fresh),
    };
    int failed = cmocka_run_group_tests_name("db_job_roster_pure", pure, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("db_job_roster_postgres", with_db, setup, teardown);
    return failed;
}
