/* Edits (chat_edit.c, chat_react.c): what a message edits, read into the
 * store job (kind, the id named, the reaction set, a reply's reference);
 * bad edits refused before anything is stored; a refusal by the store
 * answered with its condition and nothing routed; a stored correction
 * routed like any message. */
#include "chat_fixture.h"

static int parse(struct fx *fx, const char *xml, struct db_edit *e, const char **cond)
{
    struct xmpp_node *n = NULL;
    enum xmpp_parse_error why;
    assert_int_equal(xmpp_parse(fx->check, xml, strlen(xml), XMPP_NS_CLIENT, &n, &why),
                     PL_OK);
    int rc =
        chat_edit_parse(n, xmpp_node_child(n, "body", XMPP_NS_CLIENT) != NULL, e, cond);
    xmpp_node_free(n);
    return rc;
}

static void test_parse(void **state)
{
    struct fx *fx = *state;
    struct db_edit e;
    const char *cond;
    assert_int_equal(parse(fx, "<message><body>x</body></message>", &e, &cond), 0);
    assert_false(DB_EDIT_SET(&e));

    assert_int_equal(parse(fx,
                           "<message><body>x</body><replace "
                           "xmlns='urn:xmpp:message-correct:0' id='m1'/></message>",
                           &e, &cond),
                     1);
    assert_string_equal(e.kind, "correct");
    assert_string_equal(e.ref, "m1");
    db_edit_free(&e);

    assert_int_equal(
        parse(fx,
              "<message><retract xmlns='urn:xmpp:message-retract:1' id='m2'/>"
              "</message>",
              &e, &cond),
        1);
    assert_string_equal(e.kind, "retract");
    db_edit_free(&e);

    /* a set: distinct, in order, joined */
    assert_int_equal(parse(fx,
                           "<message><reactions xmlns='urn:xmpp:reactions:0' id='m3'>"
                           "<reaction>a</reaction><reaction>b</reaction>"
                           "<reaction>a</reaction></reactions></message>",
                           &e, &cond),
                     1);
    assert_string_equal(e.kind, "react");
    assert_string_equal(e.reactions, "a\x1f"
                                     "b");
    db_edit_free(&e);
    assert_int_equal(
        parse(fx, "<message><reactions xmlns='urn:xmpp:reactions:0' id='m3'/></message>",
              &e, &cond),
        1);
    assert_string_equal(e.reactions, "");
    db_edit_free(&e);

    assert_int_equal(parse(fx,
                           "<message><body>yes</body><reply xmlns='urn:xmpp:reply:0' "
                           "id='q' to='a@localhost/r'/></message>",
                           &e, &cond),
                     1);
    assert_null(e.kind);
    assert_string_equal(e.reply_ref, "q");
    assert_string_equal(e.reply_to, "a@localhost/r");
    db_edit_free(&e);
}

static void test_parse_refused(void **state)
{
    struct fx *fx = *state;
    struct db_edit e;
    const char *cond;
    /* a correction without text */
    assert_int_equal(
        parse(fx,
              "<message><replace xmlns='urn:xmpp:message-correct:0' id='m'/></message>",
              &e, &cond),
        PL_EINVAL);
    assert_string_equal(cond, "bad-request");
    /* no id, two edits, a client's own moderation */
    assert_int_equal(
        parse(fx, "<message><retract xmlns='urn:xmpp:message-retract:1'/></message>", &e,
              &cond),
        PL_EINVAL);
    assert_int_equal(parse(fx,
                           "<message><body>x</body><replace "
                           "xmlns='urn:xmpp:message-correct:0' id='m'/><retract "
                           "xmlns='urn:xmpp:message-retract:1' id='m'/></message>",
                           &e, &cond),
                     PL_EINVAL);
    assert_int_equal(parse(fx,
                           "<message><retract xmlns='urn:xmpp:message-retract:1' id='m'>"
                           "<moderated xmlns='urn:xmpp:message-moderate:1'/></retract>"
                           "</message>",
                           &e, &cond),
                     PL_EINVAL);
    assert_string_equal(cond, "bad-request");
    /* one reaction over the limit */
    char xml[4096];
    size_t off = (size_t)snprintf(
        xml, sizeof(xml), "<message><reactions xmlns='urn:xmpp:reactions:0' id='m'>");
    for (int i = 0; i <= CHAT_REACTIONS_MAX; i++)
        off +=
            (size_t)snprintf(xml + off, sizeof(xml) - off, "<reaction>r%d</reaction>", i);
    snprintf(xml + off, sizeof(xml) - off, "</reactions></message>");
    assert_int_equal(parse(fx, xml, &e, &cond), PL_EINVAL);
    assert_string_equal(cond, "not-acceptable");
    assert_false(DB_EDIT_SET(&e));
}

/* A correction goes to the store with its edit; the store's refusal is the
 * sender's error, and the recipient gets nothing. */
static void test_refused_by_store(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);
    assert_int_equal(
        fx_send(bob, "<message to='alice@localhost' type='chat' id='c1'><body>x"
                     "</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/>"
                     "</message>"),
        PL_OK);
    struct db_job *job = fx_take(fx, DB_JOB_MSG_STORE, NULL);
    assert_string_equal(job->u.msg.edit.kind, "correct");
    assert_string_equal(job->u.msg.edit.ref, "m1");
    job->status = PL_OK;
    job->u.msg.edit.refused = strdup("forbidden");
    chat_server_complete(fx->cs, job);
    fx_expect_error(bob, "message", "auth", "forbidden");
    assert_int_equal(fx_unseen(alice), 0);
}

/* A stored reaction (no body) is routed to the recipient like a message. */
static void test_stored_reaction_routed(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    struct fx_client *bob = fx_online(fx, "bob", "B", 0);
    (void)bob;
    assert_int_equal(
        fx_send(bob, "<message to='alice@localhost' type='chat' id='x1'><reactions "
                     "xmlns='urn:xmpp:reactions:0' id='m1'><reaction>y</reaction>"
                     "</reactions></message>"),
        PL_OK);
    fx_store_ok(fx, 77);
    struct xmpp_node *m = fx_next(alice, NULL);
    assert_non_null(xmpp_node_child(m, "reactions", XMPP_NS_REACTIONS));
    assert_non_null(xmpp_node_child(m, "stanza-id", XMPP_NS_SID));
    xmpp_node_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_parse_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refused_by_store, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stored_reaction_routed, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
