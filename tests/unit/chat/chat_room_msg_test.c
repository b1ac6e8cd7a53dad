/* Room messages and history (chat_room_msg.c): stored before anyone gets
 * them, the reflection serialised once and the same frame queued to every
 * seat with a CHAT_TAG_ROOM tag, retries, refusals, live markers and chat
 * states, the subject; and the history of a join: delayed, paced by the
 * socket, live messages held meanwhile (bounded, then loaded again). */
#include "chat_room_fixture.h"

/* alice (owner) and bob in ROOM, both past their history. */
static void two(struct fx *fx, struct fx_client **a, struct fx_client **b)
{
    *a = rx_owner(fx);
    *b = fx_online(fx, "bob", "B", 0);
    rx_join_loaded(fx, *b, "bob", NULL);
    fx_skip_all(*a);
    fx_skip_all(*b);
}

static void say(struct fx_client *c, const char *id, const char *body)
{
    assert_int_equal(fx_sendf(c,
                              "<message type='groupchat' to='" ROOM "' id='%s'>"
                              "<body>%s</body></message>",
                              id, body),
                     PL_OK);
}

static void store_ok(struct fx *fx, int64_t id, int inserted)
{
    struct db_job *job = fx_take(fx, DB_JOB_ROOM_MSG_STORE, NULL);
    job->status = PL_OK;
    job->u.room_msg.id = id;
    job->u.room_msg.inserted = inserted;
    chat_server_complete(fx->cs, job);
}

static void test_stored_then_reflected_once(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a, *b;
    two(fx, &a, &b);
    say(b, "m1", "hello room");
    /* nothing reaches anyone before the store answers */
    assert_int_equal(fx_unseen(a) + fx_unseen(b), 0);
    char *shard = NULL;
    struct db_job *job = fx_take(fx, DB_JOB_ROOM_MSG_STORE, &shard);
    assert_string_equal(shard, ROOM);
    free(shard);
    assert_string_equal(job->u.room_msg.room, ROOM);
    assert_string_equal(job->u.room_msg.sender, "bob@localhost");
    assert_string_equal(job->u.room_msg.stanza_id, "m1");
    assert_string_equal(job->u.room_msg.body, "hello room");
    /* what is stored is the reflection: from room/nick, no `to`, the
     * occupant id, no stanza-id */
    struct xmpp_node *stored = NULL;
    enum xmpp_parse_error why;
    const char *xml = job->u.room_msg.stanza_xml;
    assert_int_equal(
        xmpp_parse(fx->check, xml, strlen(xml), XMPP_NS_CLIENT, &stored, &why), PL_OK);
    assert_string_equal(xmpp_node_attr(stored, "from"), ROOM "/bob");
    assert_null(xmpp_node_attr(stored, "to"));
    assert_non_null(xmpp_node_child(stored, "occupant-id", XMPP_NS_OCCUPANT_ID));
    assert_null(xmpp_node_child(stored, "stanza-id", XMPP_NS_SID));
    xmpp_node_free(stored);
    job->status = PL_OK;
    job->u.room_msg.id = 77;
    job->u.room_msg.inserted = 1;
    chat_server_complete(fx->cs, job);
    /* the same frame to both, the sender included */
    assert_int_equal(fx_unseen(a), 1);
    assert_int_equal(fx_unseen(b), 1);
    assert_ptr_equal(a->frames[a->seen].shared, b->frames[b->seen].shared);
    uint64_t tag;
    struct xmpp_node *m = fx_next(a, &tag);
    assert_int_equal(tag, chat_tag(CHAT_TAG_ROOM, 77));
    struct xmpp_node *sid = xmpp_node_child(m, "stanza-id", XMPP_NS_SID);
    assert_string_equal(xmpp_node_attr(sid, "id"), "77");
    assert_string_equal(xmpp_node_attr(sid, "by"), ROOM);
    assert_string_equal(xmpp_node_attr(m, "from"), ROOM "/bob");
    xmpp_node_free(m);
    fx_skip_all(b);
    /* a retry (already stored): only its sender gets it again */
    say(b, "m1", "hello room");
    store_ok(fx, 77, 0);
    assert_int_equal(fx_unseen(a), 0);
    assert_int_equal(fx_unseen(b), 1);
}

static void test_store_failure_and_refusals(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a, *b;
    two(fx, &a, &b);
    say(b, "f1", "will fail");
    struct db_job *job = fx_take(fx, DB_JOB_ROOM_MSG_STORE, NULL);
    job->status = PL_EIO;
    chat_server_complete(fx->cs, job);
    fx_expect_error(b, "message", "wait", "internal-server-error");
    assert_int_equal(fx_unseen(a), 0);
    /* a private message to an occupant (XEP-0045 section 7.5): to alice's
     * session from room/bob, not stored */
    fx_skip_all(a);
    assert_int_equal(fx_send(b, "<message type='chat' to='" ROOM "/alice' id='p'>"
                                "<body>psst</body></message>"),
                     PL_OK);
    uint64_t tag;
    struct xmpp_node *pm = fx_next(a, &tag);
    assert_int_equal(tag, 0);
    assert_string_equal(xmpp_node_attr(pm, "from"), ROOM "/bob");
    assert_string_equal(xmpp_node_attr(pm, "type"), "chat");
    assert_non_null(xmpp_node_child(pm, "x", XMPP_NS_MUC_USER));
    xmpp_node_free(pm);
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_MSG_STORE), 0);
    /* a groupchat to an occupant */
    assert_int_equal(fx_send(b, "<message type='groupchat' to='" ROOM "/alice' id='g'>"
                                "<body>psst</body></message>"),
                     PL_OK);
    fx_expect_error(b, "message", "modify", "bad-request");
    /* not groupchat to the room */
    assert_int_equal(
        fx_send(b, "<message to='" ROOM "' id='n'><body>hi</body></message>"), PL_OK);
    fx_expect_error(b, "message", "cancel", "feature-not-implemented");
    /* someone who has not joined */
    struct fx_client *c = fx_online(fx, "carol", "C", 0);
    say(c, "c1", "outsider");
    fx_expect_error(c, "message", "cancel", "not-acceptable");
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_MSG_STORE), 0);
    /* a visitor */
    struct chat_room *r = pl_map_get(&fx->cs->rooms, ROOM);
    chat_room_occupant(r, "bob")->role = CHAT_ROLE_VISITOR;
    say(b, "v1", "silenced");
    fx_expect_error(b, "message", "auth", "forbidden");
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_MSG_STORE), 0);
}

/* Chat states and markers go live and are not stored; a displayed marker
 * moves the member's displayed position. */
static void test_markers_and_states(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a, *b;
    two(fx, &a, &b);
    assert_int_equal(fx_send(b, "<message type='groupchat' to='" ROOM "'>"
                                "<displayed xmlns='" XMPP_NS_MARKERS
                                "' id='55'/></message>"),
                     PL_OK);
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_MSG_STORE), 0);
    struct db_job *p = fx_take(fx, DB_JOB_ROOM_POSITION, NULL);
    assert_int_equal(p->u.room_position.displayed_id, 55);
    assert_int_equal(p->u.room_position.delivered_id, 0);
    assert_string_equal(p->u.room_position.username, "bob");
    chat_server_complete(fx->cs, p);
    uint64_t tag;
    struct xmpp_node *m = fx_next(a, &tag);
    assert_int_equal(tag, 0); /* moves nothing when written */
    assert_string_equal(xmpp_node_attr(m, "from"), ROOM "/bob");
    xmpp_node_free(m);
    /* a marker that names no archive id of ours moves nothing */
    fx_skip_all(a);
    fx_skip_all(b);
    assert_int_equal(fx_send(b, "<message type='groupchat' to='" ROOM "'>"
                                "<displayed xmlns='" XMPP_NS_MARKERS
                                "' id='abc'/></message>"),
                     PL_OK);
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_POSITION), 0);
}

static void test_subject(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a, *b;
    two(fx, &a, &b);
    assert_int_equal(fx_send(b, "<message type='groupchat' to='" ROOM "'>"
                                "<subject>Plans</subject></message>"),
                     PL_OK);
    struct db_job *j = fx_take(fx, DB_JOB_ROOM_SUBJECT, NULL);
    assert_string_equal(j->u.room_subject.subject, "Plans");
    assert_string_equal(j->u.room_subject.by, "bob");
    assert_int_equal(fx_unseen(a), 0); /* after the commit */
    j->status = PL_OK;
    chat_server_complete(fx->cs, j);
    struct xmpp_node *m = fx_next(a, NULL);
    assert_string_equal(xmpp_node_attr(m, "from"), ROOM "/bob");
    char *t = xmpp_node_text(xmpp_node_child(m, "subject", XMPP_NS_CLIENT));
    assert_string_equal(t, "Plans");
    free(t);
    xmpp_node_free(m);
    /* only moderators when the room says so */
    pl_map_get(&fx->cs->rooms, ROOM);
    ((struct chat_room *)pl_map_get(&fx->cs->rooms, ROOM))->change_subject = 0;
    fx_skip_all(b);
    assert_int_equal(fx_send(b, "<message type='groupchat' to='" ROOM "'>"
                                "<subject>Mine</subject></message>"),
                     PL_OK);
    fx_expect_error(b, "message", "auth", "forbidden");
}

/* The history of a join: each with a delay from the room and the room's
 * stanza id, tagged so that its write moves the position; a live message
 * that comes meanwhile after the subject, a duplicate of the history
 * dropped. */
static void test_history_then_live(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = rx_owner(fx);
    struct fx_client *b = fx_online(fx, "bob", "B", 0);
    rx_send_join(b, "bob", NULL);
    fx_skip_all(b);
    /* two live messages while bob's history loads: 11 is in it too */
    say(a, "l1", "live 11");
    store_ok(fx, 11, 1);
    say(a, "l2", "live 12");
    store_ok(fx, 12, 1);
    fx_skip_all(a);
    assert_int_equal(fx_unseen(b), 0);
    const int64_t ids[] = {10, 11};
    rx_complete_history(fx, ids, 2);
    for (int64_t id = 10; id <= 11; id++) {
        uint64_t tag;
        struct xmpp_node *m = fx_next(b, &tag);
        assert_int_equal(tag, chat_tag(CHAT_TAG_ROOM, id));
        struct xmpp_node *d = xmpp_node_child(m, "delay", XMPP_NS_DELAY);
        assert_non_null(d);
        assert_string_equal(xmpp_node_attr(d, "from"), ROOM);
        assert_string_equal(xmpp_node_attr(d, "stamp"), STAMP_TEXT);
        struct xmpp_node *sid = xmpp_node_child(m, "stanza-id", XMPP_NS_SID);
        assert_string_equal(xmpp_node_attr(sid, "by"), ROOM);
        xmpp_node_free(m);
        xmpp_stream_written(b->s, tag);
    }
    rx_expect_subject(b);
    uint64_t tag;
    struct xmpp_node *m = fx_next(b, &tag);
    assert_int_equal(tag, chat_tag(CHAT_TAG_ROOM, 12));
    assert_null(xmpp_node_child(m, "delay", XMPP_NS_DELAY));
    xmpp_node_free(m);
    assert_int_equal(fx_unseen(b), 0);
}

/* A long history is paced by what the socket takes; live messages over
 * the held bound are let go and loaded again after the history. */
static void test_history_paced_and_reloaded(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = rx_owner(fx);
    struct fx_client *b = fx_online(fx, "bob", "B", 0);
    rx_send_join(b, "bob", NULL);
    fx_skip_all(b);
    /* live messages larger than the held bound in all */
    char big[900];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 4; i++) {
        say(a, "big", big);
        store_ok(fx, 100 + i, 1);
    }
    fx_skip_all(a);
    int64_t ids[30];
    for (int i = 0; i < 30; i++)
        ids[i] = 50 + i;
    rx_complete_history(fx, ids, 30);
    /* not all at once: the window (FX_SEND_WINDOW bytes) is the limit */
    size_t first = fx_unseen(b);
    assert_true(first > 0 && first < 30);
    for (int i = 0; i < 30; i++) {
        uint64_t tag;
        struct xmpp_node *m = fx_next(b, &tag);
        assert_int_equal(tag, chat_tag(CHAT_TAG_ROOM, 50 + i));
        xmpp_node_free(m);
        xmpp_stream_written(b->s, tag);
    }
    /* the live ones were let go: loaded again after what was sent */
    struct db_job *j = rx_peek(fx, DB_JOB_ROOM_JOIN);
    assert_int_equal(j->u.room_join.after_id, 99);
    assert_false(j->u.room_join.make_member);
    const int64_t again[] = {100, 101, 102, 103};
    rx_complete_history(fx, again, 4);
    for (int i = 0; i < 4; i++) {
        uint64_t tag;
        struct xmpp_node *m = fx_next(b, &tag);
        assert_int_equal(tag, chat_tag(CHAT_TAG_ROOM, 100 + i));
        xmpp_node_free(m);
        xmpp_stream_written(b->s, tag);
    }
    rx_expect_subject(b);
    assert_int_equal(fx_unseen(b), 0);
}

/* maxchars keeps the newest messages that fit; maxstanzas='0' none. */
static void test_history_limits(void **state)
{
    struct fx *fx = *state;
    (void)rx_owner(fx);
    struct fx_client *b = fx_online(fx, "bob", "B", 0);
    rx_send_join(b, "bob", "<history maxchars='250'/>");
    fx_skip_all(b);
    const int64_t ids[] = {1, 2, 3};
    rx_complete_history(fx, ids, 3); /* each stored stanza is about 120 bytes */
    uint64_t tag;
    struct xmpp_node *m = fx_next(b, &tag);
    assert_int_equal(tag, chat_tag(CHAT_TAG_ROOM, 2));
    xmpp_node_free(m);
    xmpp_stream_written(b->s, tag);
    m = fx_next(b, &tag);
    assert_int_equal(tag, chat_tag(CHAT_TAG_ROOM, 3));
    xmpp_node_free(m);
    xmpp_stream_written(b->s, tag);
    rx_expect_subject(b);

    struct fx_client *c = fx_online(fx, "carol", "C", 0);
    rx_send_join(c, "carol", "<history maxstanzas='0' seconds='60'/>");
    struct db_job *j = rx_peek(fx, DB_JOB_ROOM_JOIN);
    assert_int_equal(j->u.room_join.limit, 0);
    assert_true(j->u.room_join.since_us > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stored_then_reflected_once, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_failure_and_refusals, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_markers_and_states, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_subject, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_history_then_live, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_history_paced_and_reloaded, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_history_limits, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
