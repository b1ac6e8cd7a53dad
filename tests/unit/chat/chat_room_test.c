/* The room registry and presence (chat_room.c): a room loaded by a job on
 * first use with stanzas waiting meanwhile (bounded), created by a join,
 * presence both ways in XEP-0045's order, seats of one occupant, leaving
 * and the end of a session, the positions that written room frames move
 * (coalesced), and a room dropped from memory when empty. */
#include "chat_room_fixture.h"

#include "../../../server/chat/chat_room.c"

static void test_load_then_create(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = fx_online(fx, "alice", "A", 0);
    rx_send_join(a, "alice", NULL);
    /* nothing answers before the room is known */
    assert_int_equal(fx_unseen(a), 0);
    char *shard = NULL;
    struct db_job *load = fx_take(fx, DB_JOB_ROOM_LOAD, &shard);
    assert_string_equal(load->u.room_load.jid, ROOM);
    assert_string_equal(shard, ROOM);
    free(shard);
    chat_server_complete(fx->cs, load); /* found = 0 */
    struct db_job *create = rx_peek(fx, DB_JOB_ROOM_CREATE);
    assert_string_equal(create->u.room_load.jid, ROOM);
    assert_string_equal(create->u.room_load.localpart, "group-1");
    assert_string_equal(create->u.room_load.creator, "alice");
    /* a second stanza while creating waits too */
    assert_int_equal(fx_sendf(a, "<iq type='get' id='i1' to='" ROOM "'>"
                                 "<query xmlns='" XMPP_NS_DISCO_INFO "'/></iq>"),
                     PL_OK);
    assert_int_equal(fx_unseen(a), 0);
    static const char *const owner[] = {"alice", "owner", NULL};
    rx_complete_room(fx, DB_JOB_ROOM_CREATE, 1, owner);
    struct xmpp_node *self = rx_presence(a, "alice");
    assert_true(rx_has_code(self, 110));
    assert_true(rx_has_code(self, 201));
    assert_true(rx_has_code(self, 100));
    assert_string_equal(rx_item_attr(self, "affiliation"), "owner");
    assert_string_equal(rx_item_attr(self, "role"), "moderator");
    assert_string_equal(xmpp_node_attr(self, "to"), "alice@localhost/A");
    xmpp_node_free(self);
    /* the waiting disco came after the join */
    struct xmpp_node *info = fx_next(a, NULL);
    assert_string_equal(xmpp_node_attr(info, "type"), "result");
    xmpp_node_free(info);
    /* the owner is no new member: the join does not make one */
    struct db_job *j = fx_take(fx, DB_JOB_ROOM_JOIN, NULL);
    assert_false(j->u.room_join.make_member);
    assert_int_equal(j->u.room_join.after_id, -1);
    assert_string_equal(j->u.room_join.room_id, ROOM_ID);
    db_job_free(j);
}

static void test_presence_order_and_broadcast(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = rx_owner(fx);
    struct fx_client *b = fx_online(fx, "bob", "B", 0);
    rx_send_join(b, "bob", NULL);
    /* loaded already: no second load */
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_LOAD), 0);
    struct xmpp_node *p = rx_presence(b, "alice");
    assert_false(rx_has_code(p, 110));
    assert_null(xmpp_node_attr(p, "to"));
    xmpp_node_free(p);
    p = rx_presence(b, "bob");
    assert_true(rx_has_code(p, 110));
    assert_false(rx_has_code(p, 201));
    assert_string_equal(rx_item_attr(p, "affiliation"), "member");
    assert_string_equal(rx_item_attr(p, "jid"), "bob@localhost");
    xmpp_node_free(p);
    /* alice sees bob */
    p = rx_presence(a, "bob");
    assert_false(rx_has_code(p, 110));
    struct xmpp_node *oid = xmpp_node_child(p, "occupant-id", XMPP_NS_OCCUPANT_ID);
    assert_non_null(oid);
    assert_int_equal(strlen(xmpp_node_attr(oid, "id")), 32);
    xmpp_node_free(p);
    /* joining an open room makes a member */
    struct db_job *j = fx_take(fx, DB_JOB_ROOM_JOIN, NULL);
    assert_true(j->u.room_join.make_member);
    assert_string_equal(j->u.room_join.username, "bob");
    assert_int_equal(j->u.room_join.limit, fx->cs->room_catchup_max);
    chat_server_complete(fx->cs, j);
    rx_expect_subject(b);
    assert_int_equal(fx_unseen(b), 0);

    /* bob leaves: he is told with 110, alice sees him go */
    assert_int_equal(fx_send(b, "<presence type='unavailable' to='" ROOM "/bob'/>"),
                     PL_OK);
    p = rx_presence(b, "bob");
    assert_string_equal(xmpp_node_attr(p, "type"), "unavailable");
    assert_true(rx_has_code(p, 110));
    xmpp_node_free(p);
    p = rx_presence(a, "bob");
    assert_string_equal(xmpp_node_attr(p, "type"), "unavailable");
    assert_string_equal(rx_item_attr(p, "role"), "none");
    xmpp_node_free(p);
}

static void test_nick_and_membership_refusals(void **state)
{
    struct fx *fx = *state;
    static const char *const affs[] = {"alice", "owner", "eve", "outcast", NULL};
    struct fx_client *e = fx_online(fx, "eve", "E", 0);
    struct fx_client *b = fx_online(fx, "bob", "B", 0);
    /* another nick than the username, once the room is known */
    rx_send_join(b, "bobby", NULL);
    assert_int_equal(fx_unseen(b), 0);
    rx_complete_room(fx, DB_JOB_ROOM_LOAD, 0, affs);
    fx_expect_error(b, "presence", "cancel", "not-acceptable");
    /* nobody in it: not kept in memory */
    assert_null(pl_map_get(&fx->cs->rooms, ROOM));
    /* an outcast */
    rx_send_join(e, "eve", NULL);
    rx_complete_room(fx, DB_JOB_ROOM_LOAD, 0, affs);
    fx_expect_error(e, "presence", "auth", "forbidden");
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_JOIN), 0);
    /* a join without a nick */
    assert_int_equal(fx_send(b, "<presence to='" ROOM "'/>"), PL_OK);
    rx_complete_room(fx, DB_JOB_ROOM_LOAD, 0, affs);
    fx_expect_error(b, "presence", "modify", "jid-malformed");
    /* members-only: bob has no affiliation */
    rx_send_join(b, "bob", NULL);
    struct chat_room *r = pl_map_get(&fx->cs->rooms, ROOM);
    assert_non_null(r);
    rx_complete_room(fx, DB_JOB_ROOM_LOAD, 0, affs);
    /* (the load says open: this join made him a member) */
    fx_skip_all(b);
    fx_complete_all(fx, DB_JOB_ROOM_JOIN);
    r = pl_map_get(&fx->cs->rooms, ROOM);
    r->members_only = 1;
    chat_room_set_aff(r, "carol", CHAT_AFF_NONE);
    struct fx_client *c = fx_online(fx, "carol", "C", 0);
    rx_send_join(c, "carol", NULL);
    fx_expect_error(c, "presence", "auth", "registration-required");
    assert_int_equal(fx_unseen(e), 0);
}

/* A second resource shares the occupant: nobody else sees it arrive or
 * go; its history is the recent messages, not a catch-up. */
static void test_second_session(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = rx_owner(fx);
    struct fx_client *a2 = fx_online(fx, "alice", "A2", 0);
    struct fx_client *b = fx_online(fx, "bob", "B", 0);
    rx_join_loaded(fx, b, "bob", NULL);
    fx_skip_all(a);
    fx_skip_all(b);
    rx_send_join(a2, "alice", NULL);
    struct xmpp_node *p = rx_presence(a2, "bob");
    xmpp_node_free(p);
    p = rx_presence(a2, "alice");
    assert_true(rx_has_code(p, 110));
    xmpp_node_free(p);
    assert_int_equal(fx_unseen(b), 0);
    struct db_job *j = fx_take(fx, DB_JOB_ROOM_JOIN, NULL);
    assert_int_equal(j->u.room_join.after_id, 0);
    assert_int_equal(j->u.room_join.limit, CHAT_ROOM_FIRST_HISTORY);
    chat_server_complete(fx->cs, j);
    fx_skip_all(a2);
    /* one session leaves: no presence for bob */
    assert_int_equal(fx_send(a2, "<presence type='unavailable' to='" ROOM "/alice'/>"),
                     PL_OK);
    assert_int_equal(fx_unseen(b), 0);
    /* the connection of the other just dies: bob sees alice go */
    fx_disconnect(a);
    p = rx_presence(b, "alice");
    assert_string_equal(xmpp_node_attr(p, "type"), "unavailable");
    xmpp_node_free(p);
}

/* Written room frames move the member's position; at most one position
 * job per occupant is out, the next one carries the latest. */
static void test_positions_coalesced(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = rx_owner(fx);
    struct chat_room *r = pl_map_get(&fx->cs->rooms, ROOM);
    struct chat_session *s = xmpp_stream_user(a->s);
    struct pl_frame *f = pl_frame_new("<message/>", 10);
    for (int64_t id = 10; id < 13; id++)
        assert_int_equal(chat_room_send_tagged(s, r, id, f), PL_OK);
    pl_frame_unref(f);
    assert_int_equal(r->refs, 3);
    for (size_t i = a->seen; i < a->nframes; i++)
        assert_int_equal(chat_tag_kind(a->frames[i].tag), CHAT_TAG_ROOM);
    xmpp_stream_written(a->s, chat_tag(CHAT_TAG_ROOM, 10));
    xmpp_stream_written(a->s, chat_tag(CHAT_TAG_ROOM, 11));
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_POSITION), 1);
    /* never a delivery state */
    assert_int_equal(fx_count(fx, DB_JOB_MARK_DELIVERED), 0);
    char *shard = NULL;
    struct db_job *p = fx_take(fx, DB_JOB_ROOM_POSITION, &shard);
    assert_string_equal(shard, ROOM);
    free(shard);
    assert_int_equal(p->u.room_position.delivered_id, 10);
    assert_string_equal(p->u.room_position.username, "alice");
    chat_server_complete(fx->cs, p);
    p = fx_take(fx, DB_JOB_ROOM_POSITION, NULL);
    assert_int_equal(p->u.room_position.delivered_id, 11);
    chat_server_complete(fx->cs, p);
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_POSITION), 0);
    /* the last one is saved when she leaves, the room's reference drops */
    xmpp_stream_written(a->s, chat_tag(CHAT_TAG_ROOM, 12));
    p = fx_take(fx, DB_JOB_ROOM_POSITION, NULL);
    assert_int_equal(p->u.room_position.delivered_id, 12);
    chat_server_complete(fx->cs, p);
    assert_int_equal(r->refs, 0);
}

/* Frames still queued when the room empties keep it until written; the
 * write still counts for the member who left. */
static void test_room_dropped_when_empty(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = rx_owner(fx);
    struct chat_room *r = pl_map_get(&fx->cs->rooms, ROOM);
    struct pl_frame *f = pl_frame_new("<message/>", 10);
    assert_int_equal(chat_room_send_tagged(xmpp_stream_user(a->s), r, 42, f), PL_OK);
    pl_frame_unref(f);
    assert_int_equal(fx_send(a, "<presence type='unavailable' to='" ROOM "/alice'/>"),
                     PL_OK);
    assert_null(pl_map_get(&fx->cs->rooms, ROOM));
    assert_true(r->detached);
    xmpp_stream_written(a->s, chat_tag(CHAT_TAG_ROOM, 42));
    struct db_job *p = fx_take(fx, DB_JOB_ROOM_POSITION, NULL);
    assert_int_equal(p->u.room_position.delivered_id, 42);
    db_job_free(p);
}

static void test_waiting_is_bounded(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = fx_online(fx, "alice", "A", 0);
    for (int i = 0; i < CHAT_ROOM_WAIT_MAX + 2; i++)
        assert_int_equal(fx_sendf(a,
                                  "<iq type='get' id='w%d' to='" ROOM "'>"
                                  "<ping xmlns='urn:xmpp:ping'/></iq>",
                                  i),
                         PL_OK);
    /* the two over the bound are refused at once */
    fx_expect_error(a, "iq", "wait", "resource-constraint");
    fx_expect_error(a, "iq", "wait", "resource-constraint");
    /* a failed load refuses everything waiting */
    struct db_job *load = fx_take(fx, DB_JOB_ROOM_LOAD, NULL);
    load->status = PL_EIO;
    chat_server_complete(fx->cs, load);
    assert_int_equal(fx_unseen(a), CHAT_ROOM_WAIT_MAX);
    fx_expect_error(a, "iq", "wait", "internal-server-error");
    assert_null(pl_map_get(&fx->cs->rooms, ROOM));
}

/* The service itself: disco#info, and #items from the store. */
static void test_service(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a = fx_online(fx, "alice", "A", 0);
    assert_int_equal(fx_send(a, "<iq type='get' id='d1' to='conference.localhost'>"
                                "<query xmlns='" XMPP_NS_DISCO_ITEMS "'/></iq>"),
                     PL_OK);
    struct db_job *l = fx_take(fx, DB_JOB_ROOM_LIST, NULL);
    assert_string_equal(l->u.room_list.username, "alice");
    l->status = PL_OK;
    l->u.room_list.count = 1;
    l->u.room_list.jids = calloc(1, sizeof(char *));
    l->u.room_list.names = calloc(1, sizeof(char *));
    l->u.room_list.jids[0] = rx_strdup(ROOM);
    l->u.room_list.names[0] = rx_strdup("Team");
    chat_server_complete(fx->cs, l);
    struct xmpp_node *res = fx_next(a, NULL);
    struct xmpp_node *q = xmpp_node_child(res, "query", XMPP_NS_DISCO_ITEMS);
    struct xmpp_node *it = xmpp_node_child(q, "item", NULL);
    assert_string_equal(xmpp_node_attr(it, "jid"), ROOM);
    assert_string_equal(xmpp_node_attr(it, "name"), "Team");
    xmpp_node_free(res);
    /* presence to the service itself has no room to join */
    assert_int_equal(fx_send(a, "<presence to='conference.localhost/alice'/>"), PL_OK);
    fx_expect_error(a, "presence", "modify", "jid-malformed");
}

static void test_affiliation_names(void **state)
{
    (void)state;
    enum chat_aff a;
    assert_int_equal(chat_aff_parse("admin", &a), PL_OK);
    assert_int_equal(a, CHAT_AFF_ADMIN);
    assert_string_equal(chat_aff_name(CHAT_AFF_OUTCAST), "outcast");
    assert_int_equal(chat_aff_parse("king", &a), PL_EINVAL);
    assert_string_equal(chat_role_name(CHAT_ROLE_MODERATOR), "moderator");
    char x[40], y[40];
    struct chat_room r1 = {.jid = "a@c"}, r2 = {.jid = "b@c"};
    occupant_id(&r1, "alice", x, sizeof(x));
    occupant_id(&r2, "alice", y, sizeof(y));
    assert_string_not_equal(x, y);
    occupant_id(&r1, "alice", y, sizeof(y));
    assert_string_equal(x, y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_then_create, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_presence_order_and_broadcast, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_nick_and_membership_refusals, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_second_session, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_positions_coalesced, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_room_dropped_when_empty, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_waiting_is_bounded, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_service, fx_setup, fx_teardown),
        cmocka_unit_test(test_affiliation_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
