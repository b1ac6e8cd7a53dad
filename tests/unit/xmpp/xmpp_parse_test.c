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

    /* A namespace name with '&' keeps it as one character (libxml2 hands
     * it over as "&#38;"; xmpp_parse_fuzz found it written back doubled). */
    n = parse_ok(p, "<a><x:y xmlns:x='u&amp;v'/><z xmlns='w&#38;'/></a>");
    assert_string_equal(n->children->ns, "u&v");
    assert_string_equal(n->children->next->ns, "w&");
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
    /* '&' reaches the tree however it was written, and only once decoded. */
    n = parse_ok(p, "<m a='&#38;' b='&amp;#38;' c='x&amp;&amp;y' d='&#x26;lt;'/>");
    assert_string_equal(xmpp_node_attr(n, "a"), "&");
    assert_string_equal(xmpp_node_attr(n, "b"), "&#38;");
    assert_string_equal(xmpp_node_attr(n, "c"), "x&&y");
    assert_string_equal(xmpp_node_attr(n, "d"), "&lt;");
    xmpp_node_free(n);
    /* Literal white space in a value is normalised to spaces (XML 1.0
     * section 3.3.3), character references to it are not. */
    n = parse_ok(p, "<m a='1\t2\n3' b='1&#9;2&#10;3'/>");
    assert_string_equal(xmpp_node_attr(n, "a"), "1 2 3");
    assert_string_equal(xmpp_node_attr(n, "b"), "1\t2\n3");
    xmpp_node_free(n);
}

static void test_text_runs(void **state)
{
    struct xmpp_parser *p = *state;
    /* Text, references and CDATA next to each other make one text node. */
    struct xmpp_node *n = parse_ok(p, "<m>a &amp; b<![CDATA[<c>]]>&#100;<e/> \n </m>");
    struct xmpp_node *t = n->children;
    assert_non_null(t);
    assert_null(t->name);
    assert_string_equal(t->text, "a & b<c>d");
    assert_non_null(t->next);
    assert_string_equal(t->next->name, "e");
    /* White space between elements is kept as text. */
    assert_non_null(t->next->next);
    assert_string_equal(t->next->next->text, " \n ");
    assert_null(t->next->next->next);
    assert_ptr_equal(n->last, t->next->next);
    xmpp_node_free(n);
    /* A long run of references stays one node. */
    struct pl_buf b = PL_BUF_INIT;
    pl_buf_append_str(&b, "<m>");
    for (int i = 0; i < 5000; i++)
        pl_buf_append_str(&b, "&amp;");
    pl_buf_append_str(&b, "</m>");
    n = parse_ok(p, b.data);
    assert_int_equal(strlen(n->children->text), 5000);
    assert_null(n->children->next);
    xmpp_node_free(n);
    pl_buf_free(&b);
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
    /* The reserved xml namespace holds no element that could be written
     * back (xmpp_parse_fuzz found <xml:cm/>). */
    malformed(p, "<xml:a/>");
    malformed(p, "<message><xml:body>x</xml:body></message>");
    malformed(p, "<a>\xff\xfe</a>");
    malformed(p, "<a>\xc0\xaf</a>");
    /* An embedded NUL byte is not XML. */
    expect_refused(p, "<a>x\0y</a>", 10, XMPP_PARSE_NOT_WELL_FORMED);
    malformed(p, "</a>");
}

/* RFC 7395 section 3.3.3: a frame is one element. libxml2 stops reading at
 * a NUL byte, so what follows one was silently dropped. */
static void test_one_element_per_frame(void **state)
{
    struct xmpp_parser *p = *state;
    static const char msg_nul[] = "<message><body>hi</body></message>\0<garbage";
    expect_refused(p, msg_nul, sizeof(msg_nul) - 1, XMPP_PARSE_NOT_WELL_FORMED);
    static const char open_nul[] = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' "
                                   "to='localhost' version='1.0'/>\0";
    expect_refused(p, open_nul, sizeof(open_nul) - 1, XMPP_PARSE_NOT_WELL_FORMED);
    static const char nul_ws[] = "<a/>\0   ";
    expect_refused(p, nul_ws, sizeof(nul_ws) - 1, XMPP_PARSE_NOT_WELL_FORMED);
    static const char nul_first[] = "\0<a/>";
    expect_refused(p, nul_first, sizeof(nul_first) - 1, XMPP_PARSE_NOT_WELL_FORMED);
    static const char decl_nul[] = "<?xml version='1.0'?>\0<a/>";
    expect_refused(p, decl_nul, sizeof(decl_nul) - 1, XMPP_PARSE_NOT_WELL_FORMED);
    malformed(p, "<a/> x");
    malformed(p, "<a/>\n<b/>");
    /* White space around the element is not content: XML allows it around
     * the root and RFC 7395 does not forbid it. */
    struct xmpp_node *n = parse_ok(p, "\r\n\t <a x='1'/> \n\n");
    assert_string_equal(n->name, "a");
    xmpp_node_free(n);
}

/* "<a a0='v' a1='v' …/>" with n attributes (values hold '=' and '>', which
 * are not attribute syntax there). */
static void attrs_frame(struct pl_buf *b, const char *root, int n)
{
    pl_buf_reset(b);
    pl_buf_appendf(b, "<%s", root);
    for (int i = 0; i < n; i++)
        pl_buf_appendf(b, " a%d='x=%d>'", i, i);
    pl_buf_append_str(b, "/>");
}

static void test_attribute_limit(void **state)
{
    struct xmpp_parser *p = *state;
    struct pl_buf b = PL_BUF_INIT;
    attrs_frame(&b, "m", XMPP_PARSE_MAX_ATTRS);
    struct xmpp_node *n = parse_ok(p, b.data);
    assert_int_equal(n->nattrs, XMPP_PARSE_MAX_ATTRS);
    assert_string_equal(xmpp_node_attr(n, "a63"), "x=63>");
    assert_string_equal(n->attrs[0].name, "a0");
    xmpp_node_free(n);
    attrs_frame(&b, "m", XMPP_PARSE_MAX_ATTRS + 1);
    expect_refused(p, b.data, b.len, XMPP_PARSE_TOO_MANY_ATTRS);
    /* Namespace declarations are counted apart: 64 attributes and 16
     * declarations pass, and the tree written back parses again. */
    pl_buf_reset(&b);
    pl_buf_append_str(&b, "<m xmlns = 'urn:a'");
    for (int i = 1; i < XMPP_PARSE_MAX_NAMESPACES; i++)
        pl_buf_appendf(&b, " xmlns:p%d='urn:%d'", i, i);
    for (int i = 0; i < XMPP_PARSE_MAX_ATTRS; i++)
        pl_buf_appendf(&b, "\na%d\t=\"%d\"", i, i);
    pl_buf_append_str(&b, "><xmlnsish xmlnsx='1'/></m>");
    n = parse_ok(p, b.data);
    assert_int_equal(n->nattrs, XMPP_PARSE_MAX_ATTRS);
    assert_string_equal(xmpp_node_attr(n->children, "xmlnsx"), "1");
    struct pl_buf out = PL_BUF_INIT;
    assert_int_equal(xmpp_node_serialize(n, NULL, &out), PL_OK);
    xmpp_node_free(n);
    n = parse_ok(p, out.data);
    assert_int_equal(n->nattrs, XMPP_PARSE_MAX_ATTRS);
    xmpp_node_free(n);
    pl_buf_free(&out);
    pl_buf_reset(&b);
    pl_buf_append_str(&b, "<m xmlns='urn:a'");
    for (int i = 1; i < XMPP_PARSE_MAX_NAMESPACES + 1; i++)
        pl_buf_appendf(&b, " xmlns:p%d='urn:%d'", i, i);
    pl_buf_append_str(&b, "/>");
    expect_refused(p, b.data, b.len, XMPP_PARSE_TOO_MANY_NAMESPACES);
    /* On a child as on the root, with double quotes too. */
    pl_buf_reset(&b);
    pl_buf_append_str(&b, "<m><body>text</body><x");
    for (int i = 0; i < XMPP_PARSE_MAX_ATTRS + 1; i++)
        pl_buf_appendf(&b, " b%d=\"%d\"", i, i);
    pl_buf_append_str(&b, "></x></m>");
    expect_refused(p, b.data, b.len, XMPP_PARSE_TOO_MANY_ATTRS);
    pl_buf_free(&b);
}

/* 5,000 attributes in one element cost libxml2 time that grows with their
 * square: the frame is refused before libxml2 reads any of it, so none of
 * its names reach the parser's dictionary and libxml2 reports nothing. */
static void test_many_attributes_refused_before_libxml2(void **state)
{
    struct xmpp_parser *p = *state;
    struct pl_buf b = PL_BUF_INIT;
    attrs_frame(&b, "message", 5000);
    struct xmpp_node *warm = parse_ok(p, "<message a0='1'/>");
    xmpp_node_free(warm);
    int dict_before = xmlDictSize(p->ctxt->dict);
    expect_refused(p, b.data, b.len, XMPP_PARSE_TOO_MANY_ATTRS);
    assert_int_equal(xmlDictSize(p->ctxt->dict), dict_before);
    assert_int_equal(p->last_error, 0);
    pl_buf_free(&b);
}

static void test_element_limit(void **state)
{
    struct xmpp_parser *p = *state;
    struct pl_buf b = PL_BUF_INIT;
    /* The root and 1,023 children: 1,024 elements. */
    pl_buf_append_str(&b, "<m>");
    for (int i = 1; i < XMPP_PARSE_MAX_ELEMENTS; i++)
        pl_buf_append_str(&b, i % 2 ? "<c/>" : "<c a='1'></c>");
    pl_buf_append_str(&b, "</m>");
    struct xmpp_node *n = parse_ok(p, b.data);
    size_t count = 0;
    for (struct xmpp_node *c = n->children; c; c = c->next)
        count++;
    assert_int_equal(count, XMPP_PARSE_MAX_ELEMENTS - 1);
    xmpp_node_free(n);
    pl_buf_reset(&b);
    pl_buf_append_str(&b, "<m>");
    for (int i = 0; i < XMPP_PARSE_MAX_ELEMENTS; i++)
        pl_buf_append_str(&b, "<c/>");
    pl_buf_append_str(&b, "</m>");
    expect_refused(p, b.data, b.len, XMPP_PARSE_TOO_MANY_ELEMENTS);
    /* Descendants count, not only children. */
    pl_buf_reset(&b);
    pl_buf_append_str(&b, "<m>");
    for (int i = 0; i < XMPP_PARSE_MAX_ELEMENTS / 2; i++)
        pl_buf_append_str(&b, "<c><d/></c>");
    pl_buf_append_str(&b, "</m>");
    expect_refused(p, b.data, b.len, XMPP_PARSE_TOO_MANY_ELEMENTS);
    /* Markup inside CDATA is text, and '>' in text is fine. */
    pl_buf_reset(&b);
    pl_buf_append_str(&b, "<m>a > b<![CDATA[");
    for (int i = 0; i < 2 * XMPP_PARSE_MAX_ELEMENTS; i++)
        pl_buf_append_str(&b, "<c x='1' y='2'>]");
    pl_buf_append_str(&b, "]]></m>");
    n = parse_ok(p, b.data);
    char *t = xmpp_node_text(n);
    assert_int_equal(strlen(t), strlen("a > b") + 2 * XMPP_PARSE_MAX_ELEMENTS * 16);
    free(t);
    xmpp_node_free(n);
    pl_buf_free(&b);
}

static void test_depth_limit(void **state)
{
    struct xmpp_parser *p = *state;
    struct pl_buf b = PL_BUF_INIT;
    for (int i = 0; i < XMPP_PARSE_MAX_DEPTH; i++)
        pl_buf_append_str(&b, "<d>");
    pl_buf_append_str(&b, "<empty/>x");
    for (int i = 0; i < XMPP_PARSE_MAX_DEPTH; i++)
        pl_buf_append_str(&b, "</d>");
    /* 64 levels of <d> and an empty element inside: 65 levels. */
    expect_refused(p, b.data, b.len, XMPP_PARSE_TOO_DEEP);
    /* 64 levels, with siblings after each end tag, which add no depth. */
    pl_buf_reset(&b);
    for (int i = 0; i < XMPP_PARSE_MAX_DEPTH - 1; i++)
        pl_buf_append_str(&b, "<d>");
    pl_buf_append_str(&b, "<leaf/>");
    for (int i = 0; i < XMPP_PARSE_MAX_DEPTH - 1; i++)
        pl_buf_append_str(&b, "<s/></d>");
    struct xmpp_node *n = parse_ok(p, b.data);
    int depth = 1;
    for (struct xmpp_node *c = n; c->children && c->children->name; c = c->children)
        depth++;
    assert_int_equal(depth, XMPP_PARSE_MAX_DEPTH);
    xmpp_node_free(n);
    pl_buf_free(&b);
}

static void test_error_strings(void **state)
{
    assert_null(xmpp_parse_error_str(XMPP_PARSE_OK));
    assert_string_equal(xmpp_parse_error_str(XMPP_PARSE_TOO_MANY_ATTRS),
                        "more than 64 attributes on an element");
    assert_string_equal(xmpp_parse_error_str(XMPP_PARSE_TOO_MANY_NAMESPACES),
                        "more than 16 namespace declarations on an element");
    assert_string_equal(xmpp_parse_error_str(XMPP_PARSE_TOO_MANY_ELEMENTS),
                        "more than 1024 elements in a stanza");
    assert_string_equal(xmpp_parse_error_str(XMPP_PARSE_TOO_DEEP),
                        "elements nested more than 64 deep");
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
        cmocka_unit_test_setup_teardown(test_text_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restricted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xml_declaration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_billion_laughs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_well_formed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_element_per_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attribute_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_attributes_refused_before_libxml2,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_element_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
        cmocka_unit_test(test_error_strings),
        cmocka_unit_test_setup_teardown(test_long_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
