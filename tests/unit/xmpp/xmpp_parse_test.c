/* The hardened frame parser: well-formed input, namespaces, attributes,
 * entities, and every restricted or malformed case of RFC 6120 section 11. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "pl_error.h"
/* Included to see the parser's context being renewed. */
#include "xmpp_parse.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int setup(void **state)
{
    struct xmpp_parser *p = NULL;
    assert_int_equal(xmpp_parser_new(&p), PL_OK);
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    xmpp_parser_free(*state);
    return 0;
}

static struct xmpp_node *parse_ok(struct xmpp_parser *p, const char *xml)
{
    struct xmpp_node *n = NULL;
    enum xmpp_parse_error why = XMPP_PARSE_NOT_WELL_FORMED;
    int rc = xmpp_parse(p, xml, strlen(xml), XMPP_NS_CLIENT, &n, &why);
    if (rc != PL_OK)
        fail_msg("refused (%d, why %d): %s", rc, (int)why, xml);
    assert_int_equal(why, XMPP_PARSE_OK);
    assert_non_null(n);
    return n;
}

static void expect_refused(struct xmpp_parser *p, const char *xml, size_t len,
                           enum xmpp_parse_error expected)
{
    struct xmpp_node *n = (struct xmpp_node *)1;
    enum xmpp_parse_error why = XMPP_PARSE_OK;
    int rc = xmpp_parse(p, xml, len, XMPP_NS_CLIENT, &n, &why);
    if (rc != PL_EINVAL || why != expected)
        fail_msg("expected %d, got rc %d why %d: %s", (int)expected, rc, (int)why, xml);
    assert_null(n);
}

static void restricted(struct xmpp_parser *p, const char *xml)
{
    expect_refused(p, xml, strlen(xml), XMPP_PARSE_RESTRICTED);
}

static void malformed(struct xmpp_parser *p, const char *xml)
{
    expect_refused(p, xml, strlen(xml), XMPP_PARSE_NOT_WELL_FORMED);
}

static void test_simple(void **state)
{
    struct xmpp_parser *p = *state;
    struct xmpp_node *n =
        parse_ok(p, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' "
                    "version='1.0'/>");
    assert_string_equal(n->name, "open");
    assert_string_equal(n->ns, XMPP_NS_FRAMING);
    assert_int_equal(n->nattrs, 2); /* xmlns is not an attribute */
    assert_string_equal(xmpp_node_attr(n, "to"), "localhost");
    assert_string_equal(xmpp_node_attr(n, "version"), "1.0");
    assert_null(n->children);
    xmpp_node_free(n);
}

static void test_namespaces(void **state)
{
    struct xmpp_parser *p = *state;
    struct xmpp_node *n =
        parse_ok(p, "<message to='a@b'><body>x</body>"
                    "<r:request xmlns:r='urn:xmpp:receipts'><inner/></r:request>"
                    "<q xmlns='urn:other'><deep/><none xmlns=''/></q></message>");
    assert_string_equal(n->ns, XMPP_NS_CLIENT); /* default_ns */
    struct xmpp_node *body = xmpp_node_child(n, "body", XMPP_NS_CLIENT);
    assert_non_null(body);
    struct xmpp_node *req = xmpp_node_child(n, "request", XMPP_NS_RECEIPTS);
    assert_non_null(req);
    assert_string_equal(req->name, "request");
    /* An unprefixed child of a prefixed element is in the default namespace. */
    assert_string_equal(req->children->ns, XMPP_NS_CLIENT);
    struct xmpp_node *q = xmpp_node_child(n, "q", "urn:other");
    assert_non_null(q);
    assert_string_equal(q->children->ns, "urn:other");
    assert_string_equal(q->children->next->ns, XMPP_NS_CLIENT);
    xmpp_node_free(n);

    /* With no default namespace, unqualified elements have none. */
    enum xmpp_parse_error why;
    const char *xml = "<a><b xmlns='urn:x'/></a>";
    assert_int_equal(xmpp_parse(p, xml, strlen(xml), NULL, &n, &why), PL_OK);
    assert_null(n->ns);
    assert_string_equal(n->children->ns, "urn:x");
    xmpp_node_free(n);
}

static void test_attributes(void **state)
{
    struct xmpp_parser *p = *state;
    struct xmpp_node *n =
        parse_ok(p, "<message xmlns:f='urn:foreign' xml:lang='de' type=\"chat\" f:x='1' "
                    "a='&lt;&amp;&gt;&quot;&apos;&#65;&#x42;'/>");
    assert_string_equal(xmpp_node_attr(n, "xml:lang"), "de");
    assert_string_equal(xmpp_node_attr(n, "type"), "chat");
    assert_string_equal(xmpp_node_attr(n, "a"), "<&>\"'AB");
    /* A foreign-prefixed attribute cannot be written back: dropped. */
    assert_null(xmpp_node_attr(n, "f:x"));
    assert_null(xmpp_node_attr(n, "x"));
    assert_null(xmpp_node_attr(n, "xmlns:f"));
    assert_int_equal(n->nattrs, 3);
    xmpp_node_free(n);
}

static void test_text_entities(void **state)
{
    struct xmpp_parser *p = *state;
    struct xmpp_node *n = parse_ok(p, "<body>a &amp; b &lt; c &gt; d &quot;&apos; "
                                      "&#65;&#x263A; <![CDATA[<x>&amp;]]></body>");
    char *t = xmpp_node_text(n);
    assert_string_equal(t, "a & b < c > d \"' A\xe2\x98\xba <x>&amp;");
    free(t);
    xmpp_node_free(n);
    /* Whitespace around the root and a UTF-8 BOM are accepted. */
    n = parse_ok(p, "\xef\xbb\xbf <presence/>\n");
    assert_string_equal(n->name, "presence");
    xmpp_node_free(n);
}

static void test_restricted(void **state)
{
    struct xmpp_parser *p = *state;
    restricted(p, "<!DOCTYPE message><message/>");
    restricted(p, "<!DOCTYPE message SYSTEM 'http://example.com/x.dtd'><message/>");
    restricted(p, "<!DOCTYPE message [<!ELEMENT message ANY>]><message/>");
    restricted(p, "<!DOCTYPE m [<!ENTITY e 'x'>]><m>&e;</m>");
    restricted(p, "<!DOCTYPE m [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><m>&e;</m>");
    restricted(p, "<m>&foo;</m>");
    restricted(p, "<m a='&foo;'/>");
    restricted(p, "<m>&nbsp;</m>");
    restricted(p, "<m><!-- a comment --></m>");
    restricted(p, "<!-- before --><m/>");
    restricted(p, "<m/><!-- after -->");
    restricted(p, "<m><?pi data?></m>");
    restricted(p, "<?pi data?><m/>");
    restricted(p, "<m/><?pi data?>");
    restricted(p, "<?xml-stylesheet href='x'?><m/>");
    restricted(p, "<?xml version='1.0'?><?xml version='1.0'?><m/>");
    restricted(p, "<?xml version='1.0' encoding='UTF-16'?><m/>");
}

static void test_xml_declaration(void **state)
{
    struct xmpp_parser *p = *state;
    /* RFC 6120 section 11.5: a declaration of version 1.0 in UTF-8 may lead. */
    struct xmpp_node *n = parse_ok(p, "<?xml version='1.0'?><m a='1'/>");
    assert_string_equal(n->name, "m");
    xmpp_node_free(n);
    n = parse_ok(p, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<m/>");
    assert_string_equal(n->name, "m");
    xmpp_node_free(n);
    malformed(p, "<?xml version='1.0'?>");
}

static void test_billion_laughs(void **state)
{
    struct xmpp_parser *p = *state;
    struct pl_buf b = PL_BUF_INIT;
    /* lol9 expands to 10^9 "lol"s. */
    pl_buf_append_str(&b, "<!DOCTYPE lolz [<!ENTITY lol0 'lol'>");
    for (int i = 1; i <= 9; i++) {
        pl_buf_appendf(&b, "<!ENTITY lol%d '", i);
        for (int k = 0; k < 10; k++)
            pl_buf_appendf(&b, "&lol%d;", i - 1);
        pl_buf_append_str(&b, "'>");
    }
    pl_buf_append_str(&b, "]><lolz>&lol9;</lolz>");
    clock_t t0 = clock();
    expect_refused(p, b.data, b.len, XMPP_PARSE_RESTRICTED);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    assert_true(secs < 0.5);
    pl_buf_free(&b);
}

static void test_not_well_formed(void **state)
{
    struct xmpp_parser *p = *state;
    expect_refused(p, "", 0, XMPP_PARSE_NOT_WELL_FORMED);
    expect_refused(p, NULL, 0, XMPP_PARSE_NOT_WELL_FORMED);
    malformed(p, "   ");
    malformed(p, "hello");
    malformed(p, "<message>");
    malformed(p, "<message><body></message>");
    malformed(p, "<a/><b/>");
    malformed(p, "<a/>trailing");
    malformed(p, "<a/><");
    malformed(p, "<a b='1' b='2'/>");
    malformed(p, "<a b=1/>");
    malformed(p, "<a>&</a>");
    malformed(p, "<a>&#0;</a>");
    malformed(p, "<a>&#xD800;</a>");
    malformed(p, "<p:a/>");
    malformed(p, "<a p:b='1'/>");
    malformed(p, "<a>\xff\xfe</a>");
    malformed(p, "<a>\xc0\xaf</a>");
    /* An embedded NUL byte is not XML. */
    expect_refused(p, "<a>x\0y</a>", 10, XMPP_PARSE_NOT_WELL_FORMED);
    malformed(p, "</a>");
}

static void test_long_names(void **state)
{
    struct xmpp_parser *p = *state;
    struct pl_buf b = PL_BUF_INIT;
    pl_buf_append_str(&b, "<a xml:");
    for (int i = 0; i < 2000; i++)
        pl_buf_append_str(&b, "n");
    pl_buf_append_str(&b, "='v' ");
    for (int i = 0; i < 2000; i++)
        pl_buf_append_str(&b, "m");
    pl_buf_append_str(&b, "='w'/>");
    struct xmpp_node *n = parse_ok(p, b.data);
    assert_int_equal(n->nattrs, 2);
    assert_int_equal(strlen(n->attrs[0].name), 2004);
    assert_memory_equal(n->attrs[0].name, "xml:nnn", 7);
    assert_string_equal(n->attrs[0].value, "v");
    assert_int_equal(strlen(n->attrs[1].name), 2000);
    xmpp_node_free(n);
    pl_buf_free(&b);
}

static void test_reuse(void **state)
{
    struct xmpp_parser *p = *state;
    /* A failed frame leaves nothing behind for the next one. */
    malformed(p, "<a><b>");
    restricted(p, "<a>&x;");
    struct xmpp_node *n = parse_ok(p, "<c x='1'/>");
    assert_string_equal(n->name, "c");
    assert_null(n->children);
    xmpp_node_free(n);
    /* Many distinct names: the context is renewed and keeps working. */
    char xml[64];
    unsigned renewals = p->renewals;
    for (int i = 0; i < 10000; i++) {
        snprintf(xml, sizeof(xml), "<e%d a%d='v'/>", i, i);
        n = parse_ok(p, xml);
        xmpp_node_free(n);
    }
    /* (Not the context's address: malloc may hand the same one back.) */
    assert_true(p->renewals > renewals);
    assert_true(xmlDictSize(p->ctxt->dict) <= PARSE_DICT_MAX);
    n = parse_ok(p, "<last/>");
    xmpp_node_free(n);
    restricted(p, "<m><!-- x --></m>");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_simple, setup, teardown),
        cmocka_unit_test_setup_teardown(test_namespaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attributes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_entities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restricted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xml_declaration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_billion_laughs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_well_formed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
