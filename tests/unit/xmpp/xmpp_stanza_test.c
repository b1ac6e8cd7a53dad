/* The error and result replies of RFC 6120 section 8, and freeing a
 * stanza. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pl_buf.h"
#include "pl_error.h"
#include "xmpp_stanza.h"

#include <stdlib.h>
#include <string.h>

static char *serialize(const struct xmpp_node *n)
{
    struct pl_buf b = PL_BUF_INIT;
    assert_int_equal(xmpp_node_serialize(n, NULL, &b), PL_OK);
    return pl_buf_steal(&b, NULL);
}

/* <message id='m1' to='bob@localhost' from='alice@localhost/web'
 *  type='chat'><body>hi</body><x xmlns='urn:example'/></message> */
static struct xmpp_node *message(int with_to, int with_id)
{
    struct xmpp_node *m = xmpp_node_new("message", XMPP_NS_CLIENT);
    if (with_id)
        xmpp_node_set_attr(m, "id", "m1");
    if (with_to)
        xmpp_node_set_attr(m, "to", "bob@localhost");
    xmpp_node_set_attr(m, "from", "alice@localhost/web");
    xmpp_node_set_attr(m, "type", "chat");
    xmpp_node_add_text(xmpp_node_add(m, "body", NULL), "hi");
    xmpp_node_add(m, "x", "urn:example");
    return m;
}

static void test_error_reply(void **state)
{
    struct xmpp_node *m = message(1, 1);
    struct xmpp_node *r =
        xmpp_stanza_error_reply(m, "localhost", "cancel", "service-unavailable");
    assert_non_null(r);
    char *s = serialize(r);
    /* Addressed back, the payload copied, the error last. */
    assert_string_equal(
        s, "<message xmlns='jabber:client' id='m1' type='error' to='alice@localhost/web' "
           "from='bob@localhost'><body>hi</body><x xmlns='urn:example'/>"
           "<error type='cancel'><service-unavailable "
           "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
    free(s);
    /* The original is untouched (children copied, not moved). */
    s = serialize(m);
    assert_null(strstr(s, "error"));
    assert_non_null(strstr(s, "<body>hi</body>"));
    free(s);
    xmpp_node_free(r);
    xmpp_node_free(m);
}

static void test_error_reply_defaults(void **state)
{
    /* No `to`: the reply comes from the server; no id: none in the reply. */
    struct xmpp_node *m = message(0, 0);
    struct xmpp_node *r =
        xmpp_stanza_error_reply(m, "localhost", "modify", "bad-request");
    assert_string_equal(xmpp_node_attr(r, "from"), "localhost");
    assert_string_equal(xmpp_node_attr(r, "to"), "alice@localhost/web");
    assert_string_equal(xmpp_node_attr(r, "type"), "error");
    assert_null(xmpp_node_attr(r, "id"));
    struct xmpp_node *e = xmpp_node_child(r, "error", NULL);
    assert_non_null(e);
    assert_string_equal(xmpp_node_attr(e, "type"), "modify");
    assert_non_null(xmpp_node_child(e, "bad-request", XMPP_NS_STANZAS));
    xmpp_node_free(r);
    /* No `from` either (before binding, say): no `to` in the reply. */
    xmpp_node_set_attr(m, "from", NULL);
    r = xmpp_stanza_error_reply(m, "localhost", "cancel", "not-allowed");
    assert_null(xmpp_node_attr(r, "to"));
    xmpp_node_free(r);
    xmpp_node_free(m);
}

static void test_iq_result(void **state)
{
    struct xmpp_node *iq = xmpp_node_new("iq", XMPP_NS_CLIENT);
    xmpp_node_set_attr(iq, "id", "q7");
    xmpp_node_set_attr(iq, "type", "get");
    xmpp_node_set_attr(iq, "from", "alice@localhost/web");
    xmpp_node_add(iq, "ping", "urn:xmpp:ping");
    struct xmpp_node *r = xmpp_stanza_iq_result(iq, "localhost");
    char *s = serialize(r);
    /* Empty: a result carries no payload unless the handler adds one. */
    assert_string_equal(s, "<iq xmlns='jabber:client' id='q7' type='result' "
                           "to='alice@localhost/web' from='localhost'/>");
    free(s);
    xmpp_node_free(r);
    xmpp_node_free(iq);
}

static void test_stanza_free(void **state)
{
    xmpp_stanza_free(NULL);
    /* A stanza owns its node and its parsed `to` (ASan checks the rest). */
    struct xmpp_stanza *st = calloc(1, sizeof(*st));
    st->node = message(1, 1);
    assert_int_equal(xmpp_jid_parse("bob@localhost/phone", &st->to), PL_OK);
    st->has_to = 1;
    st->id = xmpp_node_attr(st->node, "id");
    assert_string_equal(st->id, "m1");
    xmpp_stanza_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_reply),
        cmocka_unit_test(test_error_reply_defaults),
        cmocka_unit_test(test_iq_result),
        cmocka_unit_test(test_stanza_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
