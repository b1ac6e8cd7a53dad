/* The archive over XMPP (chat_mam.c): XEP-0082 stamps, a query checked
 * into its store job (form, RSM, caps) or refused, and the page answered
 * with <result/>s and a <fin/> whose `complete`, `first` and `last` follow
 * the page, cut when it would overflow the send window. */
#include "chat_room_fixture.h"

static void test_stamps(void **state)
{
    (void)state;
    int64_t us = 0, unit = 0;
    assert_int_equal(chat_parse_stamp("2023-11-14T22:13:20Z", &us), PL_OK);
    assert_true(us == INT64_C(1700000000000000));
    assert_int_equal(chat_parse_stamp_unit("2023-11-14T22:13:20.123Z", &us, &unit),
                     PL_OK);
    assert_true(us == INT64_C(1700000000123000));
    assert_true(unit == 1000);
    assert_int_equal(chat_parse_stamp("2023-11-14T23:13:20.123456+01:00", &us), PL_OK);
    assert_true(us == INT64_C(1700000000123456));
    const char *bad[] = {
        "2023-11-14",           "2023-11-14T22:13:20",   "yesterday",
        "2023-13-14T22:13:20Z", "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20Zjunk"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        assert_int_equal(chat_parse_stamp(bad[i], &us), PL_EINVAL);
}

#define QUERY(inner)                                                                     \
    "<iq type='set' id='q1'><query xmlns='" XMPP_NS_MAM "' queryid='f27'>" inner         \
    "</query></iq>"
#define FORM(fields)                                                                     \
    "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"       \
    "<value>" XMPP_NS_MAM "</value></field>" fields "</x>"
#define FIELD(var, value) "<field var='" var "'><value>" value "</value></field>"

static void test_query_into_job(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = fx_online(fx, "alice", "A", 0);
    assert_int_equal(
        fx_send(a, QUERY(FORM(FIELD("with", "bob@localhost/phone")
                                  FIELD("start", "2023-11-14T22:13:20Z")
                                      FIELD("end", "2023-11-15T00:00:00.5Z")
                                          FIELD("{urn:xmpp:fulltext:0}fulltext",
                                                "budget")) "<set xmlns='" XMPP_NS_RSM
                                                           "'><max>1000000</max>"
                                                           "<after>41</after></set>")),
        PL_OK);
    char *shard = NULL;
    struct db_job *j = fx_take(fx, DB_JOB_MAM_QUERY, &shard);
    assert_string_equal(shard, "alice@localhost");
    free(shard);
    const struct db_mam_query_job *q = &j->u.mam;
    assert_false(q->room);
    assert_string_equal(q->owner, "alice@localhost");
    assert_string_equal(q->with, "bob@localhost"); /* the archive keeps bare JIDs */
    assert_true(q->has_start && q->start_us == INT64_C(1700000000000000));
    /* end: inclusive to the precision given (a tenth of a second here) */
    assert_true(q->has_end && q->end_us % 1000000 == 599999);
    assert_string_equal(q->text, "budget");
    assert_int_equal(q->max, fx->cs->mam_max_page); /* a million, capped */
    assert_true(q->has_after && q->after_id == 41);
    assert_string_equal(q->queryid, "f27");
    db_job_free(j);

    /* the last page, and exact ids */
    assert_int_equal(
        fx_send(a, QUERY("<set xmlns='" XMPP_NS_RSM "'><max>10</max><before/></set>")),
        PL_OK);
    j = fx_take(fx, DB_JOB_MAM_QUERY, NULL);
    assert_true(j->u.mam.last_page);
    assert_int_equal(j->u.mam.max, 10);
    db_job_free(j);
    assert_int_equal(
        fx_send(a, QUERY(FORM("<field var='ids'><value>5</value><value>9</value>"
                              "</field>"))),
        PL_OK);
    j = fx_take(fx, DB_JOB_MAM_QUERY, NULL);
    assert_int_equal(j->u.mam.nids, 2);
    assert_true(j->u.mam.ids[1] == 9);
    db_job_free(j);
}

static void test_refusals(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = fx_online(fx, "alice", "A", 0);
    struct {
        const char *xml, *type, *cond;
    } cases[] = {
        {QUERY("<x xmlns='jabber:x:data' type='form'/>"), "modify", "bad-request"},
        {QUERY(FORM(FIELD("colour", "blue"))), "modify", "bad-request"},
        {QUERY(FORM(FIELD("start", "soon"))), "modify", "bad-request"},
        {QUERY(FORM(FIELD("start", "2024-01-02T00:00:00Z")
                        FIELD("end", "2024-01-01T00:00:00Z"))),
         "modify", "bad-request"},
        {QUERY(FORM(FIELD("after-id", "x1"))), "cancel", "item-not-found"},
        {QUERY("<set xmlns='" XMPP_NS_RSM "'><after>-3</after></set>"), "cancel",
         "item-not-found"},
        {QUERY("<set xmlns='" XMPP_NS_RSM "'><max>many</max></set>"), "modify",
         "bad-request"},
        {QUERY("<set xmlns='" XMPP_NS_RSM "'><index>3</index></set>"), "cancel",
         "feature-not-implemented"},
        {QUERY("<surprise/>"), "modify", "bad-request"},
        {"<iq type='set' id='q1' to='bob@localhost'><query xmlns='" XMPP_NS_MAM
         "'/></iq>",
         "auth", "forbidden"},
        {"<iq type='set' id='p'><prefs xmlns='" XMPP_NS_MAM "' default='roster'/></iq>",
         "cancel", "not-allowed"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        assert_int_equal(fx_send(a, cases[i].xml), PL_OK);
        fx_expect_error(a, "iq", cases[i].type, cases[i].cond);
    }
    assert_int_equal(fx_count(fx, DB_JOB_MAM_QUERY), 0);
    assert_false(a->closed);
}

/* Completes the next query with messages of these ids, `more` as given. */
static void complete_page(struct fx *fx, const int64_t *ids, size_t n, int more,
                          size_t pad)
{
    struct db_job *j = fx_take(fx, DB_JOB_MAM_QUERY, NULL);
    j->status = PL_OK;
    j->u.mam.count = n;
    j->u.mam.more = more;
    j->u.mam.msgs = n ? calloc(n, sizeof(*j->u.mam.msgs)) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct pl_buf b = PL_BUF_INIT;
        assert_int_equal(pl_buf_appendf(&b,
                                        "<message xmlns='jabber:client' type='chat' "
                                        "from='bob@localhost/B' to='alice@localhost'>"
                                        "<body>m%lld %*s</body></message>",
                                        (long long)ids[i], (int)pad, ""),
                         PL_OK);
        j->u.mam.msgs[i].id = ids[i];
        j->u.mam.msgs[i].created_at_us = STAMP_US;
        j->u.mam.msgs[i].stanza_xml = pl_buf_steal(&b, NULL);
    }
    chat_server_complete(fx->cs, j);
}

static struct xmpp_node *fin_of(struct fx_client *c)
{
    struct xmpp_node *r = fx_next(c, NULL);
    assert_string_equal(r->name, "iq");
    assert_string_equal(xmpp_node_attr(r, "type"), "result");
    return r;
}

static const char *set_text(struct xmpp_node *iq, const char *name, char **keep)
{
    struct xmpp_node *fin = xmpp_node_child(iq, "fin", XMPP_NS_MAM);
    struct xmpp_node *set = xmpp_node_child(fin, "set", XMPP_NS_RSM);
    struct xmpp_node *c = xmpp_node_child(set, name, NULL);
    *keep = c ? xmpp_node_text(c) : NULL;
    return *keep;
}

static void test_page_answer(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = fx_online(fx, "alice", "A", 0);
    fx->cs->send_window = 1 << 20; /* no page is cut here (see the next test) */
    assert_int_equal(fx_send(a, QUERY("<set xmlns='" XMPP_NS_RSM "'><max>3</max></set>")),
                     PL_OK);
    const int64_t ids[] = {4, 7, 9};
    complete_page(fx, ids, 3, 1, 0);
    for (size_t i = 0; i < 3; i++) {
        struct xmpp_node *m = fx_next(a, NULL);
        assert_string_equal(xmpp_node_attr(m, "to"), "alice@localhost/A");
        assert_string_equal(xmpp_node_attr(m, "from"), "alice@localhost");
        struct xmpp_node *r = xmpp_node_child(m, "result", XMPP_NS_MAM);
        assert_string_equal(xmpp_node_attr(r, "queryid"), "f27");
        char id[8];
        snprintf(id, sizeof(id), "%lld", (long long)ids[i]);
        assert_string_equal(xmpp_node_attr(r, "id"), id);
        struct xmpp_node *f = xmpp_node_child(r, "forwarded", XMPP_NS_FORWARD);
        assert_string_equal(
            xmpp_node_attr(xmpp_node_child(f, "delay", XMPP_NS_DELAY), "stamp"),
            STAMP_TEXT);
        assert_non_null(xmpp_node_child(f, "message", XMPP_NS_CLIENT));
        xmpp_node_free(m);
    }
    struct xmpp_node *iq = fin_of(a);
    struct xmpp_node *fin = xmpp_node_child(iq, "fin", XMPP_NS_MAM);
    assert_null(xmpp_node_attr(fin, "complete")); /* more follows */
    char *first, *last;
    assert_string_equal(set_text(iq, "first", &first), "4");
    assert_string_equal(set_text(iq, "last", &last), "9");
    free(first);
    free(last);
    xmpp_node_free(iq);

    /* the last page: complete */
    assert_int_equal(
        fx_send(a, QUERY("<set xmlns='" XMPP_NS_RSM "'><after>9</after></set>")), PL_OK);
    const int64_t tail[] = {12};
    complete_page(fx, tail, 1, 0, 0);
    fx_skip_all(a);
    a->seen--;
    iq = fin_of(a);
    assert_string_equal(
        xmpp_node_attr(xmpp_node_child(iq, "fin", XMPP_NS_MAM), "complete"), "true");
    xmpp_node_free(iq);

    /* an empty page: complete, no first/last */
    assert_int_equal(fx_send(a, QUERY("")), PL_OK);
    complete_page(fx, NULL, 0, 0, 0);
    iq = fin_of(a);
    assert_null(set_text(iq, "first", &first));
    xmpp_node_free(iq);

    /* an unknown RSM id */
    assert_int_equal(
        fx_send(a, QUERY("<set xmlns='" XMPP_NS_RSM "'><after>5</after></set>")), PL_OK);
    struct db_job *j = fx_take(fx, DB_JOB_MAM_QUERY, NULL);
    j->status = PL_OK;
    j->u.mam.unknown_id = 1;
    chat_server_complete(fx->cs, j);
    fx_expect_error(a, "iq", "cancel", "item-not-found");
    /* a failed query */
    assert_int_equal(fx_send(a, QUERY("")), PL_OK);
    j = fx_take(fx, DB_JOB_MAM_QUERY, NULL);
    j->status = PL_EIO;
    chat_server_complete(fx->cs, j);
    fx_expect_error(a, "iq", "wait", "internal-server-error");
}

/* A page never queues more than half the send window: the rest is the
 * next page, and the page is not complete. Paging backward, what is cut
 * is the oldest part. */
static void test_page_cut_to_the_window(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = fx_online(fx, "alice", "A", 0);
    assert_int_equal(fx_send(a, QUERY("<set xmlns='" XMPP_NS_RSM "'><before/></set>")),
                     PL_OK);
    const int64_t ids[] = {1, 2, 3, 4, 5, 6};
    complete_page(fx, ids, 6, 0, 300); /* each result well over 300 bytes */
    size_t sent = fx_unseen(a) - 1;
    assert_true(sent >= 1 && sent < 6);
    for (size_t i = 0; i < sent; i++) {
        struct xmpp_node *m = fx_next(a, NULL);
        char id[8];
        snprintf(id, sizeof(id), "%zu", 6 - sent + 1 + i);
        assert_string_equal(
            xmpp_node_attr(xmpp_node_child(m, "result", XMPP_NS_MAM), "id"), id);
        xmpp_node_free(m);
    }
    struct xmpp_node *iq = fin_of(a);
    assert_null(xmpp_node_attr(xmpp_node_child(iq, "fin", XMPP_NS_MAM), "complete"));
    xmpp_node_free(iq);

    /* flip-page: the same page, newest first */
    assert_int_equal(
        fx_send(a, QUERY("<set xmlns='" XMPP_NS_RSM "'><max>2</max><before/></set>"
                         "<flip-page/>")),
        PL_OK);
    const int64_t two[] = {8, 9};
    complete_page(fx, two, 2, 1, 0);
    struct xmpp_node *m = fx_next(a, NULL);
    assert_string_equal(xmpp_node_attr(xmpp_node_child(m, "result", XMPP_NS_MAM), "id"),
                        "9");
    xmpp_node_free(m);
}

static void test_prefs_and_form(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = fx_online(fx, "alice", "A", 0);
    assert_int_equal(
        fx_send(a, "<iq type='get' id='p'><prefs xmlns='" XMPP_NS_MAM "'/></iq>"), PL_OK);
    struct xmpp_node *r = fin_of(a);
    assert_string_equal(
        xmpp_node_attr(xmpp_node_child(r, "prefs", XMPP_NS_MAM), "default"), "always");
    xmpp_node_free(r);
    assert_int_equal(fx_send(a, "<iq type='set' id='p'><prefs xmlns='" XMPP_NS_MAM
                                "' default='always'><always/><never/></prefs></iq>"),
                     PL_OK);
    r = fin_of(a);
    xmpp_node_free(r);
    assert_int_equal(
        fx_send(a, "<iq type='get' id='f'><query xmlns='" XMPP_NS_MAM "'/></iq>"), PL_OK);
    r = fin_of(a);
    struct xmpp_node *x =
        xmpp_node_child(xmpp_node_child(r, "query", XMPP_NS_MAM), "x", XMPP_NS_DATA);
    assert_int_equal(fx_count_children(x, "field", NULL), 8);
    xmpp_node_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stamps),
        cmocka_unit_test_setup_teardown(test_query_into_job, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_page_answer, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_page_cut_to_the_window, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_prefs_and_form, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
