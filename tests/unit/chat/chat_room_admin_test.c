/* Iqs to rooms (chat_room_admin.c): disco, self-ping, the owner's form
 * (served, submitted after checking every field, refused otherwise),
 * kicks, affiliation changes applied after they are stored, destruction,
 * and the room's archive for members only. */
#include "chat_room_fixture.h"

static void two(struct fx *fx, struct fx_client **a, struct fx_client **b)
{
    *a = rx_owner(fx);
    *b = fx_online(fx, "bob", "B", 0);
    rx_join_loaded(fx, *b, "bob", NULL);
    fx_skip_all(*a);
    fx_skip_all(*b);
}

static struct xmpp_node *result(struct fx_client *c)
{
    struct xmpp_node *r = fx_next(c, NULL);
    assert_string_equal(r->name, "iq");
    assert_string_equal(xmpp_node_attr(r, "type"), "result");
    return r;
}

static void test_disco_and_ping(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a, *b;
    two(fx, &a, &b);
    assert_int_equal(fx_send(b, "<iq type='get' id='i' to='" ROOM "'>"
                                "<query xmlns='" XMPP_NS_DISCO_INFO "'/></iq>"),
                     PL_OK);
    struct xmpp_node *r = result(b);
    struct xmpp_node *q = xmpp_node_child(r, "query", XMPP_NS_DISCO_INFO);
    int open = 0, mam = 0, oid = 0;
    for (struct xmpp_node *f = q->children; f; f = f->next) {
        const char *v =
            f->name && !strcmp(f->name, "feature") ? xmpp_node_attr(f, "var") : "";
        open += !strcmp(v, "muc_open");
        mam += !strcmp(v, XMPP_NS_MAM);
        oid += !strcmp(v, XMPP_NS_OCCUPANT_ID);
    }
    assert_int_equal(open + mam + oid, 3);
    xmpp_node_free(r);
    /* disco#items: the occupants */
    assert_int_equal(fx_send(b, "<iq type='get' id='j' to='" ROOM "'>"
                                "<query xmlns='" XMPP_NS_DISCO_ITEMS "'/></iq>"),
                     PL_OK);
    r = result(b);
    assert_int_equal(
        fx_count_children(xmpp_node_child(r, "query", XMPP_NS_DISCO_ITEMS), "item", NULL),
        2);
    xmpp_node_free(r);
    /* self-ping: to one's own occupant JID */
    assert_int_equal(fx_send(b, "<iq type='get' id='p' to='" ROOM "/bob'>"
                                "<ping xmlns='urn:xmpp:ping'/></iq>"),
                     PL_OK);
    r = result(b);
    assert_string_equal(xmpp_node_attr(r, "from"), ROOM "/bob");
    xmpp_node_free(r);
    /* to someone else's: not passed on */
    assert_int_equal(fx_send(b, "<iq type='get' id='q' to='" ROOM "/alice'>"
                                "<ping xmlns='urn:xmpp:ping'/></iq>"),
                     PL_OK);
    fx_expect_error(b, "iq", "cancel", "service-unavailable");
    /* not joined */
    struct fx_client *c = fx_online(fx, "carol", "C", 0);
    assert_int_equal(fx_send(c, "<iq type='get' id='r' to='" ROOM "/carol'>"
                                "<ping xmlns='urn:xmpp:ping'/></iq>"),
                     PL_OK);
    fx_expect_error(c, "iq", "cancel", "not-acceptable");
}

#define SUBMIT(fields)                                                                   \
    "<iq type='set' id='c' to='" ROOM "'><query xmlns='" XMPP_NS_MUC_OWNER "'>"          \
    "<x xmlns='jabber:x:data' type='submit'>" fields "</x></query></iq>"
#define FIELD(var, value) "<field var='" var "'><value>" value "</value></field>"

static void test_config_form(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a, *b;
    two(fx, &a, &b);
    assert_int_equal(fx_send(b, "<iq type='get' id='f' to='" ROOM "'>"
                                "<query xmlns='" XMPP_NS_MUC_OWNER "'/></iq>"),
                     PL_OK);
    fx_expect_error(b, "iq", "auth", "forbidden");
    assert_int_equal(fx_send(a, "<iq type='get' id='f' to='" ROOM "'>"
                                "<query xmlns='" XMPP_NS_MUC_OWNER "'/></iq>"),
                     PL_OK);
    struct xmpp_node *r = result(a);
    struct xmpp_node *x = xmpp_node_child(xmpp_node_child(r, "query", XMPP_NS_MUC_OWNER),
                                          "x", XMPP_NS_DATA);
    assert_string_equal(xmpp_node_attr(x, "type"), "form");
    assert_true(fx_count_children(x, "field", NULL) >= 6);
    xmpp_node_free(r);

    /* refused: nothing is submitted */
    const char *bad[] = {
        SUBMIT(FIELD("muc#roomconfig_nosuch", "1")),
        SUBMIT(FIELD("muc#roomconfig_membersonly", "perhaps")),
        SUBMIT(
            "<field var='muc#roomconfig_membersonly' type='text-single'><value>1</value>"
            "</field>"),
        SUBMIT(FIELD("FORM_TYPE", "urn:example")),
        SUBMIT("<field var='muc#roomconfig_publicroom'/>"),
        "<iq type='set' id='c' to='" ROOM "'><query xmlns='" XMPP_NS_MUC_OWNER "'>"
        "<x xmlns='jabber:x:data' type='result'/></query></iq>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(fx_send(a, bad[i]), PL_OK);
        fx_expect_error(a, "iq", "modify", "bad-request");
    }
    assert_int_equal(fx_send(a, SUBMIT(FIELD("muc#roomconfig_whois", "moderators"))),
                     PL_OK);
    fx_expect_error(a, "iq", "cancel", "not-acceptable");
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_CONFIG), 0);

    assert_int_equal(
        fx_send(a, SUBMIT(FIELD("FORM_TYPE", "http://jabber.org/protocol/muc#roomconfig")
                              FIELD("muc#roomconfig_roomname", "Team")
                                  FIELD("muc#roomconfig_membersonly", "true")
                                      FIELD("muc#roomconfig_changesubject", "0"))),
        PL_OK);
    struct db_job *j = fx_take(fx, DB_JOB_ROOM_CONFIG, NULL);
    assert_string_equal(j->u.room_config.name, "Team");
    assert_null(j->u.room_config.description);
    assert_true(j->u.room_config.members_only);
    assert_true(j->u.room_config.public_room); /* unchanged */
    assert_false(j->u.room_config.change_subject);
    assert_int_equal(fx_unseen(a), 0); /* answered after the commit */
    j->status = PL_OK;
    chat_server_complete(fx->cs, j);
    r = result(a);
    xmpp_node_free(r);
    /* everyone gets 104; bob (a member) stays */
    struct xmpp_node *m = fx_next(b, NULL);
    struct xmpp_node *ux = xmpp_node_child(m, "x", XMPP_NS_MUC_USER);
    assert_string_equal(xmpp_node_attr(xmpp_node_child(ux, "status", NULL), "code"),
                        "104");
    xmpp_node_free(m);
    struct chat_room *room = pl_map_get(&fx->cs->rooms, ROOM);
    assert_string_equal(room->name, "Team");
    assert_true(room->members_only);
    assert_non_null(chat_room_occupant(room, "bob"));
}

static void test_kick_and_ban(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a, *b;
    two(fx, &a, &b);
    struct fx_client *c = fx_online(fx, "carol", "C", 0);
    rx_join_loaded(fx, c, "carol", NULL);
    fx_skip_all(a);
    fx_skip_all(b);
    fx_skip_all(c);
    /* a participant may not kick */
    assert_int_equal(fx_send(c, "<iq type='set' id='k' to='" ROOM "'>"
                                "<query xmlns='" XMPP_NS_MUC_ADMIN "'>"
                                "<item nick='bob' role='none'/></query></iq>"),
                     PL_OK);
    fx_expect_error(c, "iq", "auth", "forbidden");
    assert_int_equal(fx_unseen(b), 0);
    /* nobody of that nick */
    assert_int_equal(fx_send(a, "<iq type='set' id='k' to='" ROOM "'>"
                                "<query xmlns='" XMPP_NS_MUC_ADMIN "'>"
                                "<item nick='zed' role='none'/></query></iq>"),
                     PL_OK);
    fx_expect_error(a, "iq", "cancel", "item-not-found");
    /* the owner kicks bob */
    assert_int_equal(
        fx_send(a, "<iq type='set' id='k' to='" ROOM "'>"
                   "<query xmlns='" XMPP_NS_MUC_ADMIN "'>"
                   "<item nick='bob' role='none'><reason>calm down</reason></item>"
                   "</query></iq>"),
        PL_OK);
    struct xmpp_node *p = rx_presence(c, "bob");
    assert_string_equal(xmpp_node_attr(p, "type"), "unavailable");
    assert_true(rx_has_code(p, 307));
    xmpp_node_free(p);
    p = rx_presence(b, "bob");
    assert_true(rx_has_code(p, 307));
    assert_true(rx_has_code(p, 110));
    struct xmpp_node *it =
        xmpp_node_child(xmpp_node_child(p, "x", XMPP_NS_MUC_USER), "item", NULL);
    assert_string_equal(xmpp_node_attr(xmpp_node_child(it, "actor", NULL), "nick"),
                        "alice");
    xmpp_node_free(p);
    fx_skip_all(a);
    /* a ban of carol: applied after it is stored */
    assert_int_equal(fx_send(a, "<iq type='set' id='b' to='" ROOM "'>"
                                "<query xmlns='" XMPP_NS_MUC_ADMIN "'>"
                                "<item jid='carol@localhost' affiliation='outcast'/>"
                                "</query></iq>"),
                     PL_OK);
    assert_int_equal(fx_unseen(c), 0);
    struct db_job *j = fx_take(fx, DB_JOB_ROOM_AFFILIATIONS, NULL);
    assert_int_equal(j->u.room_affiliations.count, 1);
    assert_string_equal(j->u.room_affiliations.usernames[0], "carol");
    assert_string_equal(j->u.room_affiliations.affiliations[0], "outcast");
    j->status = PL_OK;
    chat_server_complete(fx->cs, j);
    p = rx_presence(c, "carol");
    assert_true(rx_has_code(p, 301));
    assert_string_equal(rx_item_attr(p, "affiliation"), "outcast");
    xmpp_node_free(p);
    assert_int_equal(chat_room_aff(pl_map_get(&fx->cs->rooms, ROOM), "carol"),
                     CHAT_AFF_OUTCAST);
    /* a remote JID is nobody of ours */
    assert_int_equal(fx_send(a, "<iq type='set' id='x' to='" ROOM "'>"
                                "<query xmlns='" XMPP_NS_MUC_ADMIN "'>"
                                "<item jid='eve@example.org' affiliation='member'/>"
                                "</query></iq>"),
                     PL_OK);
    fx_skip_all(a);
    assert_int_equal(fx_count(fx, DB_JOB_ROOM_AFFILIATIONS), 0);
}

static void test_last_owner_and_destroy(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a, *b;
    two(fx, &a, &b);
    assert_int_equal(fx_send(a, "<iq type='set' id='o' to='" ROOM "'>"
                                "<query xmlns='" XMPP_NS_MUC_ADMIN "'>"
                                "<item jid='alice@localhost' affiliation='member'/>"
                                "</query></iq>"),
                     PL_OK);
    struct db_job *j = fx_take(fx, DB_JOB_ROOM_AFFILIATIONS, NULL);
    j->status = PL_OK;
    j->u.room_affiliations.conflict = 1;
    chat_server_complete(fx->cs, j);
    fx_expect_error(a, "iq", "cancel", "conflict");
    assert_int_equal(chat_room_aff(pl_map_get(&fx->cs->rooms, ROOM), "alice"),
                     CHAT_AFF_OWNER);

    assert_int_equal(fx_send(b, "<iq type='set' id='d' to='" ROOM "'>"
                                "<query xmlns='" XMPP_NS_MUC_OWNER
                                "'><destroy/></query></iq>"),
                     PL_OK);
    fx_expect_error(b, "iq", "auth", "forbidden");
    assert_int_equal(
        fx_send(a, "<iq type='set' id='d' to='" ROOM "'>"
                   "<query xmlns='" XMPP_NS_MUC_OWNER "'>"
                   "<destroy jid='other@conference.localhost'><reason>moved</reason>"
                   "</destroy></query></iq>"),
        PL_OK);
    j = fx_take(fx, DB_JOB_ROOM_DESTROY, NULL);
    assert_string_equal(j->u.room_destroy.room_id, ROOM_ID);
    j->status = PL_OK;
    chat_server_complete(fx->cs, j);
    struct xmpp_node *p = rx_presence(b, "bob");
    assert_string_equal(xmpp_node_attr(p, "type"), "unavailable");
    struct xmpp_node *d =
        xmpp_node_child(xmpp_node_child(p, "x", XMPP_NS_MUC_USER), "destroy", NULL);
    assert_string_equal(xmpp_node_attr(d, "jid"), "other@conference.localhost");
    xmpp_node_free(p);
    assert_null(pl_map_get(&fx->cs->rooms, ROOM));
}

static void test_archive_members_only(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a, *b;
    two(fx, &a, &b);
    struct fx_client *c = fx_online(fx, "carol", "C", 0);
    const char *q =
        "<iq type='set' id='m' to='" ROOM "'><query xmlns='" XMPP_NS_MAM "'/></iq>";
    assert_int_equal(fx_send(c, q), PL_OK);
    fx_expect_error(c, "iq", "auth", "forbidden");
    assert_int_equal(fx_count(fx, DB_JOB_MAM_QUERY), 0);
    assert_int_equal(fx_send(b, q), PL_OK);
    struct db_job *j = rx_peek(fx, DB_JOB_MAM_QUERY);
    assert_true(j->u.mam.room);
    assert_string_equal(j->u.mam.owner, ROOM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_disco_and_ping, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_config_form, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kick_and_ban, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_last_owner_and_destroy, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_archive_members_only, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
