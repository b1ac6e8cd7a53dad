/* The element tree and the hand-written serialiser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pl_error.h"
#include "xmpp_node.h"
#include "xmpp_parse.h"

#include <stdlib.h>
#include <string.h>

static char *serialize(const struct xmpp_node *n, const char *parent_ns)
{
    struct pl_buf b = PL_BUF_INIT;
    assert_int_equal(xmpp_node_serialize(n, parent_ns, &b), PL_OK);
    return pl_buf_steal(&b, NULL);
}

static struct xmpp_node *parse(const char *xml)
{
    struct xmpp_parser *p = NULL;
    struct xmpp_node *n = NULL;
    enum xmpp_parse_error why;
    assert_int_equal(xmpp_parser_new(&p), PL_OK);
    assert_int_equal(xmpp_parse(p, xml, strlen(xml), XMPP_NS_CLIENT, &n, &why), PL_OK);
    xmpp_parser_free(p);
    return n;
}

static void test_build_and_query(void **state)
{
    struct xmpp_node *m = xmpp_node_new("message", XMPP_NS_CLIENT);
    assert_non_null(m);
    assert_int_equal(xmpp_node_set_attr(m, "type", "chat"), PL_OK);
    assert_int_equal(xmpp_node_set_attr(m, "to", "bob@localhost"), PL_OK);
    assert_int_equal(xmpp_node_set_attr(m, "type", "normal"), PL_OK);
    assert_string_equal(xmpp_node_attr(m, "type"), "normal");
    assert_int_equal(m->nattrs, 2);
    assert_int_equal(xmpp_node_set_attr(m, "type", NULL), PL_OK);
    assert_null(xmpp_node_attr(m, "type"));
    assert_string_equal(xmpp_node_attr(m, "to"), "bob@localhost");
    assert_int_equal(xmpp_node_set_attr(m, "nothing", NULL), PL_OK);

    struct xmpp_node *body = xmpp_node_add(m, "body", XMPP_NS_CLIENT);
    assert_int_equal(xmpp_node_add_text(body, "hello "), PL_OK);
    assert_int_equal(xmpp_node_add_text(body, "world"), PL_OK);
    struct xmpp_node *req = xmpp_node_add(m, "request", XMPP_NS_RECEIPTS);
    assert_ptr_equal(xmpp_node_child(m, "body", NULL), body);
    assert_ptr_equal(xmpp_node_child(m, "body", XMPP_NS_CLIENT), body);
    assert_null(xmpp_node_child(m, "body", XMPP_NS_RECEIPTS));
    assert_ptr_equal(xmpp_node_child_ns(m, XMPP_NS_RECEIPTS), req);
    char *text = xmpp_node_text(body);
    assert_string_equal(text, "hello world");
    free(text);
    text = xmpp_node_text(m);
    assert_string_equal(text, "");
    free(text);

    struct xmpp_node *copy = xmpp_node_copy(m);
    xmpp_node_unlink(m, body);
    assert_ptr_equal(m->children, req);
    assert_ptr_equal(m->last, req);
    xmpp_node_unlink(m, req);
    assert_null(m->children);
    assert_null(m->last);
    xmpp_node_free(body);
    xmpp_node_free(req);

    char *s = serialize(copy, NULL);
    assert_string_equal(s, "<message xmlns='jabber:client' to='bob@localhost'>"
                           "<body>hello world</body>"
                           "<request xmlns='urn:xmpp:receipts'/></message>");
    free(s);
    s = serialize(m, NULL);
    assert_string_equal(s, "<message xmlns='jabber:client' to='bob@localhost'/>");
    free(s);
    xmpp_node_free(copy);
    xmpp_node_free(m);
}

static void test_body_injection_is_text(void **state)
{
    struct xmpp_node *m = xmpp_node_new("message", XMPP_NS_CLIENT);
    struct xmpp_node *body = xmpp_node_add(m, "body", NULL);
    xmpp_node_add_text(body, "</body></message><message>");
    char *s = serialize(m, NULL);
    assert_string_equal(
        s, "<message xmlns='jabber:client'><body>&lt;/body&gt;&lt;/message&gt;"
           "&lt;message&gt;</body></message>");
    /* It parses back to one message whose body is the same text. */
    struct xmpp_node *back = parse(s);
    char *text = xmpp_node_text(xmpp_node_child(back, "body", XMPP_NS_CLIENT));
    assert_string_equal(text, "</body></message><message>");
    assert_null(back->children->next);
    free(text);
    xmpp_node_free(back);
    free(s);
    xmpp_node_free(m);
}

static void test_escaping(void **state)
{
    struct xmpp_node *n = xmpp_node_new("x", "urn:a");
    xmpp_node_set_attr(n, "v", "a&b<c>d\"e'f\ng\rh\ti");
    xmpp_node_add_text(n, "1 & 2 < 3 > 0 \"q\" 'a' ]]>\r\n");
    char *s = serialize(n, NULL);
    assert_string_equal(
        s, "<x xmlns='urn:a' v='a&amp;b&lt;c&gt;d&quot;e&apos;f&#10;g&#13;h&#9;i'>"
           "1 &amp; 2 &lt; 3 &gt; 0 \"q\" 'a' ]]&gt;&#13;\n</x>");
    struct xmpp_node *back = parse(s);
    assert_string_equal(xmpp_node_attr(back, "v"), "a&b<c>d\"e'f\ng\rh\ti");
    char *text = xmpp_node_text(back);
    /* A CR in text survives the round trip (a literal one would be read
     * back as LF). */
    assert_string_equal(text, "1 & 2 < 3 > 0 \"q\" 'a' ]]>\r\n");
    free(text);
    xmpp_node_free(back);
    free(s);
    xmpp_node_free(n);
}

static void test_namespace_declarations(void **state)
{
    struct xmpp_node *iq = xmpp_node_new("iq", XMPP_NS_CLIENT);
    struct xmpp_node *q = xmpp_node_add(iq, "query", XMPP_NS_DISCO_INFO);
    xmpp_node_add(q, "identity", XMPP_NS_DISCO_INFO);
    xmpp_node_add(q, "feature", NULL);
    xmpp_node_add(iq, "ping", XMPP_NS_PING);
    /* Top level: the namespace is declared. */
    char *s = serialize(iq, NULL);
    assert_string_equal(
        s, "<iq xmlns='jabber:client'>"
           "<query xmlns='http://jabber.org/protocol/disco#info'>"
           "<identity/><feature/></query><ping xmlns='urn:xmpp:ping'/></iq>");
    free(s);
    /* Inside a parent in the same namespace: not repeated. */
    s = serialize(iq, XMPP_NS_CLIENT);
    assert_string_equal(
        s, "<iq><query xmlns='http://jabber.org/protocol/disco#info'>"
           "<identity/><feature/></query><ping xmlns='urn:xmpp:ping'/></iq>");
    free(s);
    /* ns NULL inherits: nothing declared. */
    struct xmpp_node *bare = xmpp_node_new("presence", NULL);
    s = serialize(bare, NULL);
    assert_string_equal(s, "<presence/>");
    free(s);
    xmpp_node_free(bare);
    xmpp_node_free(iq);
}

static void test_round_trip(void **state)
{
    const char *in =
        "<message xmlns='jabber:client' to='bob@localhost' type='chat' id='m1' "
        "xml:lang='en'><body>Hi &amp; bye &#233;t&#xe9;</body>"
        "<x:request xmlns:x='urn:xmpp:receipts'/>"
        "<active xmlns='http://jabber.org/protocol/chatstates'><![CDATA[<raw>]]></active>"
        "</message>";
    struct xmpp_node *a = parse(in);
    char *s1 = serialize(a, NULL);
    struct xmpp_node *b = parse(s1);
    char *s2 = serialize(b, NULL);
    assert_string_equal(s1, s2);
    assert_string_equal(
        s1, "<message xmlns='jabber:client' to='bob@localhost' type='chat' "
            "id='m1' xml:lang='en'><body>Hi &amp; bye \xc3\xa9t\xc3\xa9</body>"
            "<request xmlns='urn:xmpp:receipts'/>"
            "<active xmlns='http://jabber.org/protocol/chatstates'>"
            "&lt;raw&gt;</active></message>");
    free(s1);
    free(s2);
    xmpp_node_free(a);
    xmpp_node_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_and_query),
        cmocka_unit_test(test_body_injection_is_text),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_namespace_declarations),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
