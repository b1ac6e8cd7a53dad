/* The admin API's room changes (chat_room_events.c): a DB_EVENT_ROOM reads
 * a loaded room again on its shard and tells the occupants what differs;
 * a change while a reload is out asks for one more; a room gone is
 * destroyed; a DB_EVENT_ROOM_MESSAGE is one frame to every seat, tagged,
 * but not to a seat whose history already brought it. */
#include "chat_room_fixture.h"

/* alice (owner) and bob (member by joining) in ROOM, past their history. */
static void two(struct fx *fx, struct fx_client **a, struct fx_client **b)
{
    *a = rx_owner(fx);
    *b = fx_online(fx, "bob", "B", 0);
    rx_join_loaded(fx, *b, "bob", NULL);
    fx_skip_all(*a);
    fx_skip_all(*b);
}

static void room_event(struct fx *fx, const char *jid)
{
    struct db_job *job = db_job_new(DB_EVENT_ROOM);
    assert_non_null(job);
    job->u.room_event.jid = rx_strdup(jid);
    job->status = PL_OK;
    chat_server_complete(fx->cs, job);
}

/* Completes the next reload as the store would: found (with this name and
 * members-only flag, alice owner and bob's affiliation) or not. */
static void reload_done(struct fx *fx, int found, const char *name, int members_only,
                        const char *bob_aff)
{
    char *shard = NULL;
    struct db_job *job = fx_take(fx, DB_JOB_ROOM_LOAD, &shard);
    assert_string_equal(shard, ROOM); /* after the room's other jobs */
    free(shard);
    struct db_room_load_job *l = &job->u.room_load;
    job->status = PL_OK;
    l->found = found;
    if (found) {
        snprintf(l->id, sizeof(l->id), "%s", ROOM_ID);
        l->name = name ? rx_strdup(name) : NULL;
        l->members_only = members_only;
        l->public_room = 1;
        l->change_subject = 1;
        l->affs = calloc(2, sizeof(*l->affs));
        l->affs[0].username = rx_strdup("alice");
        l->affs[0].affiliation = rx_strdup("owner");
        l->naffs = 1;
        if (bob_aff) {
            l->affs[1].username = rx_strdup("bob");
            l->affs[1].affiliation = rx_strdup(bob_aff);
            l->naffs = 2;
        }
    }
    chat_server_complete(fx->cs, job);
}

static int status_message(struct xmpp_node *m, int code)
{
    int ok = strcmp(m->name, "message") == 0 && rx_has_code(m, code);
    xmpp_node_free(m);
    return ok;
}

static void test_config_and_ban(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a, *b;
    two(fx, &a, &b);
    room_event(fx, "other@conference.localhost"); /* not loaded here: nothing */
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_LOAD), 0);
    room_event(fx, ROOM);
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_LOAD), 1);
    room_event(fx, ROOM); /* again while it is out: one more afterwards */
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_LOAD), 1);
    reload_done(fx, 1, "New name", 0, "outcast");
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_LOAD), 1);
    struct chat_room *r = pl_map_get(&fx->cs->rooms, ROOM);
    assert_string_equal(r->name, "New name");
    /* 104 first, then bob banned: 301 to both */
    assert_true(status_message(fx_next(a, NULL), 104));
    struct xmpp_node *p = rx_presence(a, "bob");
    assert_string_equal(xmpp_node_attr(p, "type"), "unavailable");
    assert_true(rx_has_code(p, 301));
    assert_string_equal(rx_item_attr(p, "affiliation"), "outcast");
    xmpp_node_free(p);
    assert_true(status_message(fx_next(b, NULL), 104));
    p = rx_presence(b, "bob");
    assert_true(rx_has_code(p, 301) && rx_has_code(p, 110));
    xmpp_node_free(p);
    assert_null(chat_room_occupant(r, "bob"));
    /* the second read finds nothing new: nobody is told anything twice */
    reload_done(fx, 1, "New name", 0, "outcast");
    assert_int_equal(fx_unseen(a), 0);
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_LOAD), 0);
}

static void test_members_only_and_affiliation(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a, *b;
    two(fx, &a, &b);
    /* bob's membership removed in an open room: he stays, affiliation none */
    room_event(fx, ROOM);
    reload_done(fx, 1, NULL, 0, NULL);
    struct xmpp_node *p = rx_presence(a, "bob");
    assert_null(xmpp_node_attr(p, "type"));
    assert_string_equal(rx_item_attr(p, "affiliation"), "none");
    xmpp_node_free(p);
    fx_skip_all(b);
    assert_int_equal(fx_unseen(a), 0); /* no 104: the configuration is the same */
    /* members-only: bob is not a member and goes with 322 */
    room_event(fx, ROOM);
    reload_done(fx, 1, NULL, 1, NULL);
    assert_true(status_message(fx_next(a, NULL), 104));
    p = rx_presence(a, "bob");
    assert_string_equal(xmpp_node_attr(p, "type"), "unavailable");
    assert_true(rx_has_code(p, 322));
    xmpp_node_free(p);
    /* alice, an owner, is told of no change of her own */
    assert_int_equal(fx_unseen(a), 0);
}

static void test_gone(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a, *b;
    two(fx, &a, &b);
    room_event(fx, ROOM);
    reload_done(fx, 0, NULL, 0, NULL);
    for (struct fx_client *c = a; c; c = c == a ? b : NULL) {
        int self = 0, other = 0;
        while (fx_unseen(c)) {
            struct xmpp_node *p = fx_next(c, NULL);
            assert_string_equal(xmpp_node_attr(p, "type"), "unavailable");
            struct xmpp_node *x = xmpp_node_child(p, "x", XMPP_NS_MUC_USER);
            assert_non_null(xmpp_node_child(x, "destroy", NULL));
            if (rx_has_code(p, 110))
                self++;
            else
                other++;
            xmpp_node_free(p);
        }
        assert_int_equal(self, 1);
        assert_true(other <= 1);
    }
    assert_null(pl_map_get(&fx->cs->rooms, ROOM));
}

static void room_message(struct fx *fx, int64_t id, const char *from)
{
    struct db_job *job = db_job_new(DB_EVENT_ROOM_MESSAGE);
    assert_non_null(job);
    char buf[256];
    snprintf(buf, sizeof(buf),
             "<message xmlns='jabber:client' from='%s' type='groupchat' id='api-1'>"
             "<body>from rest</body></message>",
             from);
    job->u.room_message.id = id;
    job->u.room_message.room = rx_strdup(ROOM);
    job->u.room_message.stanza_xml = rx_strdup(buf);
    job->status = PL_OK;
    chat_server_complete(fx->cs, job);
}

static void test_message(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a, *b;
    two(fx, &a, &b);
    room_message(fx, 90, ROOM "/alice");
    assert_int_equal(fx_unseen(a), 1);
    assert_int_equal(fx_unseen(b), 1);
    assert_ptr_equal(a->frames[a->seen].shared, b->frames[b->seen].shared);
    uint64_t tag;
    struct xmpp_node *m = fx_next(a, &tag);
    assert_int_equal(tag, chat_tag(CHAT_TAG_ROOM, 90));
    struct xmpp_node *sid = xmpp_node_child(m, "stanza-id", XMPP_NS_SID);
    assert_string_equal(xmpp_node_attr(sid, "id"), "90");
    assert_string_equal(xmpp_node_attr(sid, "by"), ROOM);
    assert_non_null(xmpp_node_child(m, "occupant-id", XMPP_NS_OCCUPANT_ID));
    xmpp_node_free(m);
    fx_skip_all(b);
    /* a seat whose history already brought it does not get it again */
    struct chat_room *r = pl_map_get(&fx->cs->rooms, ROOM);
    chat_room_occupant(r, "bob")->seats->cursor = 95;
    room_message(fx, 91, ROOM);
    assert_int_equal(fx_unseen(a), 1);
    assert_int_equal(fx_unseen(b), 0);
    /* a room not loaded here: nothing */
    fx_skip_all(a);
    struct db_job *job = db_job_new(DB_EVENT_ROOM_MESSAGE);
    job->u.room_message.id = 92;
    job->u.room_message.room = rx_strdup("other@conference.localhost");
    job->u.room_message.stanza_xml = rx_strdup("<message xmlns='jabber:client'/>");
    chat_server_complete(fx->cs, job);
    assert_int_equal(fx_unseen(a) + fx_unseen(b), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_and_ban, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_members_only_and_affiliation, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_gone, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_message, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
