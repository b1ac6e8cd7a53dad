/* The user's own PEP (chat_pep.c) with a recording store: the jobs a get,
 * a publish and a retraction make, their answers and the notifications to
 * the user's available resources, and every refusal made before the
 * store is asked. */
#include "chat_fixture.h"

#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_EVENT "http://jabber.org/protocol/pubsub#event"
#define NS_ERRORS "http://jabber.org/protocol/pubsub#errors"
#define BOOKMARKS "urn:xmpp:bookmarks:1"
#define MDS "urn:xmpp:mds:displayed:0"

#define PUBLISH(node, id, payload, options)                                              \
    "<iq type='set' id='p'><pubsub xmlns='" NS_PUBSUB "'><publish node='" node "'>"      \
    "<item id='" id "'>" payload "</item></publish>" options "</pubsub></iq>"

/* The error's XEP-0060 condition is there. */
static void expect_pubsub_error(struct fx_client *c, const char *type,
                                const char *condition, const char *pubsub_condition)
{
    struct xmpp_node *n = fx_next(c, NULL);
    fx_assert_stanza_error(n, "iq", type, condition);
    if (pubsub_condition)
        assert_non_null(xmpp_node_child(xmpp_node_child(n, "error", XMPP_NS_CLIENT),
                                        pubsub_condition, NS_ERRORS));
    xmpp_node_free(n);
}

static void test_publish_answers_and_notifies(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = fx_online(fx, "alice", "A", 0);
    struct fx_client *b = fx_online(fx, "alice", "B", 0);
    struct fx_client *c = fx_login(fx, "alice", "C"); /* never available */
    assert_int_equal(
        fx_send(a, PUBLISH(BOOKMARKS, "Room@Conference.Localhost",
                           "<conference xmlns='" BOOKMARKS "' autojoin='true'/>", "")),
        PL_OK);
    char *shard = NULL;
    struct db_job *job = fx_take(fx, DB_JOB_PEP_PUBLISH, &shard);
    assert_string_equal(shard, "alice@localhost");
    free(shard);
    assert_string_equal(job->u.pep.owner, "alice");
    assert_string_equal(job->u.pep.node, BOOKMARKS);
    assert_string_equal(job->u.pep.item, "room@conference.localhost");
    assert_non_null(strstr(job->u.pep.payload, "autojoin='true'"));
    assert_int_equal(fx_unseen(a), 0);
    job->status = PL_OK;
    job->u.pep.result = 'o';
    chat_server_complete(fx->cs, job);
    struct xmpp_node *r = fx_next(a, NULL);
    assert_string_equal(xmpp_node_attr(r, "type"), "result");
    xmpp_node_free(r);
    for (struct fx_client *x = a; x; x = x == a ? b : NULL) {
        struct xmpp_node *m = fx_next(x, NULL);
        assert_string_equal(m->name, "message");
        assert_string_equal(xmpp_node_attr(m, "from"), "alice@localhost");
        struct xmpp_node *items =
            xmpp_node_child(xmpp_node_child(m, "event", NS_EVENT), "items", NS_EVENT);
        assert_string_equal(xmpp_node_attr(items, "node"), BOOKMARKS);
        struct xmpp_node *it = xmpp_node_child(items, "item", NS_EVENT);
        assert_string_equal(xmpp_node_attr(it, "id"), "room@conference.localhost");
        assert_non_null(xmpp_node_child(it, "conference", BOOKMARKS));
        xmpp_node_free(m);
    }
    assert_int_equal(fx_unseen(c), 0);

    /* full, and an unknown message: refused, nobody notified */
    assert_int_equal(
        fx_send(a, PUBLISH(MDS, "bob@localhost",
                           "<displayed xmlns='" MDS "'><stanza-id xmlns='urn:xmpp:"
                           "sid:0' id='42' by='alice@localhost'/></displayed>",
                           "")),
        PL_OK);
    job = fx_take(fx, DB_JOB_PEP_PUBLISH, NULL);
    assert_int_equal(job->u.pep.pos, 42);
    assert_string_equal(job->u.pep.by, "alice@localhost");
    assert_null(job->u.pep.payload);
    job->status = PL_OK;
    job->u.pep.result = 'u';
    chat_server_complete(fx->cs, job);
    expect_pubsub_error(a, "modify", "bad-request", "invalid-payload");
    assert_int_equal(fx_unseen(b), 0);
}

static void test_get_builds_offered_and_displayed_items(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = fx_online(fx, "alice", "A", 0);
    assert_int_equal(fx_send(a, "<iq type='get' id='g'><pubsub xmlns='" NS_PUBSUB
                                "'><items node='" BOOKMARKS "'/></pubsub></iq>"),
                     PL_OK);
    struct db_job *job = fx_take(fx, DB_JOB_PEP_GET, NULL);
    job->status = PL_OK;
    job->u.pep.items = calloc(2, sizeof(*job->u.pep.items));
    job->u.pep.count = 2;
    job->u.pep.items[0].id = strdup("team@conference.localhost");
    job->u.pep.items[0].name = strdup("Team");
    job->u.pep.items[1].id = strdup("mine@conference.localhost");
    job->u.pep.items[1].payload =
        strdup("<conference xmlns='" BOOKMARKS "' name='Mine' autojoin='false'/>");
    chat_server_complete(fx->cs, job);
    struct xmpp_node *r = fx_next(a, NULL);
    struct xmpp_node *items =
        xmpp_node_child(xmpp_node_child(r, "pubsub", NS_PUBSUB), "items", NS_PUBSUB);
    assert_int_equal(fx_count_children(items, "item", NS_PUBSUB), 2);
    struct xmpp_node *offered = xmpp_node_child(xmpp_node_child(items, "item", NS_PUBSUB),
                                                "conference", BOOKMARKS);
    assert_string_equal(xmpp_node_attr(offered, "autojoin"), "true");
    assert_string_equal(xmpp_node_attr(offered, "name"), "Team");
    char *nick = xmpp_node_text(xmpp_node_child(offered, "nick", BOOKMARKS));
    assert_string_equal(nick, "alice");
    free(nick);
    xmpp_node_free(r);

    assert_int_equal(fx_send(a, "<iq type='get' id='g2'><pubsub xmlns='" NS_PUBSUB
                                "'><items node='" MDS "'/></pubsub></iq>"),
                     PL_OK);
    job = fx_take(fx, DB_JOB_PEP_GET, NULL);
    job->status = PL_OK;
    job->u.pep.items = calloc(1, sizeof(*job->u.pep.items));
    job->u.pep.count = 1;
    job->u.pep.items[0].id = strdup("bob@localhost");
    job->u.pep.items[0].by = strdup("alice@localhost");
    job->u.pep.items[0].pos = 7;
    chat_server_complete(fx->cs, job);
    r = fx_next(a, NULL);
    items = xmpp_node_child(xmpp_node_child(r, "pubsub", NS_PUBSUB), "items", NS_PUBSUB);
    struct xmpp_node *sid = xmpp_node_child(
        xmpp_node_child(xmpp_node_child(items, "item", NS_PUBSUB), "displayed", MDS),
        "stanza-id", "urn:xmpp:sid:0");
    assert_string_equal(xmpp_node_attr(sid, "id"), "7");
    xmpp_node_free(r);
}

static void test_refusals_ask_no_store(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = fx_online(fx, "alice", "A", 0);
    const char *conf = "<conference xmlns='" BOOKMARKS "'/>";
    char buf[2048];
    snprintf(buf, sizeof(buf), PUBLISH("storage:bookmarks", "r@m", "%s", ""), conf);
    assert_int_equal(fx_send(a, buf), PL_OK);
    expect_pubsub_error(a, "cancel", "feature-not-implemented", "unsupported");
    snprintf(buf, sizeof(buf),
             PUBLISH(BOOKMARKS, "r@m", "%s",
                     "<publish-options><x xmlns='jabber:x:data' type='submit'>"
                     "<field var='pubsub#access_model'><value>open</value></field>"
                     "</x></publish-options>"),
             conf);
    assert_int_equal(fx_send(a, buf), PL_OK);
    expect_pubsub_error(a, "cancel", "conflict", "precondition-not-met");
    snprintf(buf, sizeof(buf), PUBLISH(BOOKMARKS, "r@m/res", "%s", ""), conf);
    assert_int_equal(fx_send(a, buf), PL_OK);
    expect_pubsub_error(a, "modify", "bad-request", "invalid-payload");
    assert_int_equal(
        fx_send(a, PUBLISH(MDS, "b@localhost", "<displayed xmlns='" MDS "'/>", "")),
        PL_OK);
    expect_pubsub_error(a, "modify", "bad-request", "invalid-payload");
    assert_int_equal(fx_send(a, "<iq type='set' id='s'><pubsub xmlns='" NS_PUBSUB
                                "'><subscribe node='" BOOKMARKS
                                "' jid='alice@localhost'/></pubsub></iq>"),
                     PL_OK);
    expect_pubsub_error(a, "cancel", "feature-not-implemented", "unsupported");
    assert_int_equal(fx_send(a, "<iq type='set' id='r'><pubsub xmlns='" NS_PUBSUB
                                "'><retract node='" MDS
                                "'><item id='b@localhost'/></retract></pubsub></iq>"),
                     PL_OK);
    expect_pubsub_error(a, "cancel", "feature-not-implemented", "unsupported");
    assert_int_equal(fx_send(a, "<iq type='get' id='i'><pubsub xmlns='" NS_PUBSUB
                                "'><items node='urn:xmpp:avatar:data'/></pubsub></iq>"),
                     PL_OK);
    expect_pubsub_error(a, "cancel", "item-not-found", NULL);
    assert_int_equal(fx_count(fx, DB_JOB_PEP_PUBLISH) + fx_count(fx, DB_JOB_PEP_GET) +
                         fx_count(fx, DB_JOB_PEP_RETRACT),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_publish_answers_and_notifies, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_get_builds_offered_and_displayed_items,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refusals_ask_no_store, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
