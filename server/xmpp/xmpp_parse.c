/* One RFC 7395 frame into an xmpp_node tree, with libxml2 hardened for the
 * restricted XML of RFC 6120 section 11.1.
 *
 * One xmlParserCtxt is kept per parser and reused for every frame
 * (xmlCtxtReadMemory resets it). libxml2 only parses: the SAX2 callbacks
 * build the xmpp_node tree, and no xmlDoc is made. Restricted constructs
 * are caught in the SAX2 callbacks, before libxml2 acts on them: the
 * DOCTYPE is refused when its name is read, so the entity declarations of a
 * "billion laughs" are never parsed; every entity reference other than the
 * five predefined ones reaches getEntity (libxml2 resolves the predefined
 * ones itself and never asks), and is refused there, defined or not.
 * Errors go to a structured handler that records them, so nothing is
 * printed on stderr.
 *
 * Before libxml2 sees a frame, one linear pass (frame_scan) refuses a NUL
 * byte and counts attributes, elements and depth against the limits of
 * xmpp_parse.h. It has to come first: libxml2 2.9 compares each attribute
 * of a start tag with every earlier one before any callback runs, so the
 * cost of one element grows with the square of its attributes (with the
 * tree built by libxml2 and copied attribute by attribute, 6,000 of them in
 * one 59 KB frame took 170 ms of CPU). */
#include "xmpp_parse.h"
#include "pl_buf.h"
#include "pl_error.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The context's dictionary keeps every name it has seen; past this many we
 * start a fresh context so a stream of random names cannot grow it forever. */
#define PARSE_DICT_MAX 8192

#define PARSE_STR_(x) #x
#define PARSE_STR(x) PARSE_STR_(x)

/* Never substitute entities (no XML_PARSE_NOENT), never load a DTD, never
 * touch the network; CDATA sections become plain text. */
#define PARSE_OPTIONS                                                                    \
    (XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

struct xmpp_parser {
    xmlParserCtxtPtr ctxt;
    int restricted;    /* a restricted construct was seen in this frame */
    int last_error;    /* libxml2's first error code in this frame, for debugging */
    unsigned renewals; /* contexts replaced because the dictionary grew */
    /* The tree of the frame being parsed (SAX2 callbacks below). */
    const char *default_ns;
    struct xmpp_node *root;
    struct xmpp_node *stack[XMPP_PARSE_MAX_DEPTH]; /* open elements, root first */
    size_t depth;
    struct pl_buf text; /* text since the last tag, not yet a node */
    int build_rc;       /* why a callback stopped the parser, or PL_OK */
};

static struct xmpp_parser *parser_of(void *ctx)
{
    xmlParserCtxtPtr ctxt = ctx;
    return ctxt->_private;
}

static void parse_refuse(void *ctx)
{
    xmlParserCtxtPtr ctxt = ctx;
    struct xmpp_parser *p = parser_of(ctx);
    p->restricted = 1;
    xmlStopParser(ctxt);
}

static void on_error(void *ctx, xmlErrorPtr err)
{
    struct xmpp_parser *p = parser_of(ctx);
    if (p && !p->last_error && err)
        p->last_error = err->code;
}

static void on_internal_subset(void *ctx, const xmlChar *name, const xmlChar *ext_id,
                               const xmlChar *sys_id)
{
    parse_refuse(ctx);
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type,
                           const xmlChar *public_id, const xmlChar *system_id,
                           xmlChar *content)
{
    parse_refuse(ctx);
}

static void on_unparsed_entity_decl(void *ctx, const xmlChar *name,
                                    const xmlChar *public_id, const xmlChar *system_id,
                                    const xmlChar *notation)
{
    parse_refuse(ctx);
}

static void on_notation_decl(void *ctx, const xmlChar *name, const xmlChar *public_id,
                             const xmlChar *system_id)
{
    parse_refuse(ctx);
}

static void on_element_decl(void *ctx, const xmlChar *name, int type,
                            xmlElementContentPtr content)
{
    parse_refuse(ctx);
}

static void on_attribute_decl(void *ctx, const xmlChar *elem, const xmlChar *fullname,
                              int type, int def, const xmlChar *default_value,
                              xmlEnumerationPtr tree)
{
    parse_refuse(ctx);
    xmlFreeEnumeration(tree); /* ownership passes to the callback */
}

static xmlEntityPtr on_get_entity(void *ctx, const xmlChar *name)
{
    parse_refuse(ctx);
    return NULL;
}

static void on_reference(void *ctx, const xmlChar *name)
{
    parse_refuse(ctx);
}

static void on_comment(void *ctx, const xmlChar *value)
{
    parse_refuse(ctx);
}

static void on_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
    parse_refuse(ctx);
}

/* libxml2 builds nothing: the SAX2 callbacks below make the xmpp_node tree
 * directly. Its own tree builder searches every element's and attribute's
 * namespace prefix through the declarations of all ancestors with string
 * comparisons, which grows with depth times declarations. */

/* Text of the current run, kept until an element starts or ends so that
 * adjacent pieces (text, entities, CDATA) become one text node. */
static int build_flush_text(struct xmpp_parser *p)
{
    if (!p->text.len)
        return PL_OK;
    /* The run's buffer becomes the node's text: a long body is not copied
     * once more. */
    struct xmpp_node *t = calloc(1, sizeof(*t));
    if (!t)
        return PL_ENOMEM;
    t->text = pl_buf_steal(&p->text, NULL);
    xmpp_node_append(p->stack[p->depth - 1], t);
    return PL_OK;
}

static void build_fail(struct xmpp_parser *p, int rc)
{
    if (!p->build_rc)
        p->build_rc = rc;
    xmlStopParser(p->ctxt);
}

/* An attribute value as libxml2 hands it to SAX2 without entity
 * substitution: every reference is resolved except '&', which comes as
 * "&#38;" (and a raw '&' cannot occur), so that is all there is to undo. */
static char *attr_value(const xmlChar *value, const xmlChar *value_end)
{
    size_t len = (size_t)(value_end - value);
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        out[n++] = (char)value[i];
        if (value[i] == '&' && len - i >= 5 && memcmp(value + i, "&#38;", 5) == 0)
            i += 4;
    }
    out[n] = '\0';
    return out;
}

/* The attributes of a new element: namespaced ones other than xml:* are
 * dropped, because the tree does not keep prefix declarations and writing
 * such an attribute back would produce an undeclared prefix. libxml2 has
 * refused duplicates, so each is appended without a lookup. */
static int build_attrs(struct xmpp_node *n, int count, const xmlChar **attrs)
{
    if (count <= 0)
        return PL_OK;
    n->attrs = calloc((size_t)count, sizeof(*n->attrs));
    if (!n->attrs)
        return PL_ENOMEM;
    for (int i = 0; i < count; i++) {
        const xmlChar **a = attrs + 5 * i; /* localname, prefix, URI, value, end */
        const char *local = (const char *)a[0];
        const char *prefix = (const char *)a[1];
        if (prefix && strcmp(prefix, "xml") != 0)
            continue;
        char *name;
        if (prefix) {
            size_t len = strlen("xml:") + strlen(local) + 1;
            name = malloc(len);
            if (name)
                snprintf(name, len, "xml:%s", local);
        } else {
            name = strdup(local);
        }
        char *value = attr_value(a[3], a[4]);
        if (!name || !value) {
            free(name);
            free(value);
            return PL_ENOMEM;
        }
        n->attrs[n->nattrs].name = name;
        n->attrs[n->nattrs].value = value;
        n->nattrs++;
    }
    return PL_OK;
}

static void on_start_element(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                             const xmlChar *uri, int nb_namespaces,
                             const xmlChar **namespaces, int nb_attributes,
                             int nb_defaulted, const xmlChar **attributes)
{
    struct xmpp_parser *p = parser_of(ctx);
    if (p->build_rc)
        return;
    /* frame_scan has counted this already; the check keeps the stack safe
     * whatever it counted. A second root is refused by libxml2 itself. */
    if (p->depth == XMPP_PARSE_MAX_DEPTH) {
        build_fail(p, PL_ETOOBIG);
        return;
    }
    if (p->depth == 0 && p->root) {
        build_fail(p, PL_EINVAL);
        return;
    }
    /* An element in the reserved xml namespace (<xml:a/>) is refused: the
     * tree keeps no prefixes, and that namespace may not be declared as a
     * default (Namespaces in XML 1.0, section 3), so it could not be
     * written back. Found by xmpp_parse_fuzz. */
    if (uri && xmlStrEqual(uri, XML_XML_NAMESPACE)) {
        build_fail(p, PL_EINVAL);
        return;
    }
    int rc = p->depth ? build_flush_text(p) : PL_OK;
    /* A namespace name comes like an attribute value: '&' as "&#38;"
     * (xmpp_parse_fuzz found "u&amp;" written back as "u&amp;#38;"). */
    char *uri_value = NULL;
    if (rc == PL_OK && uri && strchr((const char *)uri, '&')) {
        uri_value = attr_value(uri, uri + strlen((const char *)uri));
        if (!uri_value)
            rc = PL_ENOMEM;
    }
    const char *ns = uri_value ? uri_value : uri ? (const char *)uri : p->default_ns;
    struct xmpp_node *n = rc == PL_OK ? xmpp_node_new((const char *)localname, ns) : NULL;
    free(uri_value);
    if (!n) {
        build_fail(p, PL_ENOMEM);
        return;
    }
    if (p->depth)
        xmpp_node_append(p->stack[p->depth - 1], n);
    else
        p->root = n;
    p->stack[p->depth++] = n;
    /* Defaulted attributes come only from a DTD, which is refused. */
    rc = build_attrs(n, nb_attributes - nb_defaulted, attributes);
    if (rc != PL_OK)
        build_fail(p, rc);
}

static void on_end_element(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                           const xmlChar *uri)
{
    struct xmpp_parser *p = parser_of(ctx);
    if (p->build_rc || !p->depth)
        return;
    int rc = build_flush_text(p);
    if (rc != PL_OK)
        build_fail(p, rc);
    p->depth--;
}

/* Text, the predefined entities and character references, CDATA sections
 * (XML_PARSE_NOCDATA sends them here) and white space between elements. */
static void on_characters(void *ctx, const xmlChar *ch, int len)
{
    struct xmpp_parser *p = parser_of(ctx);
    if (p->build_rc || !p->depth || len <= 0)
        return;
    if (pl_buf_append(&p->text, ch, (size_t)len) != PL_OK)
        build_fail(p, PL_ENOMEM);
}

static int parser_ctxt_make(struct xmpp_parser *p)
{
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt)
        return PL_ENOMEM;
    xmlSAXHandlerPtr sax = ctxt->sax;
    sax->internalSubset = on_internal_subset;
    sax->externalSubset = on_internal_subset;
    sax->entityDecl = on_entity_decl;
    sax->unparsedEntityDecl = on_unparsed_entity_decl;
    sax->notationDecl = on_notation_decl;
    sax->elementDecl = on_element_decl;
    sax->attributeDecl = on_attribute_decl;
    sax->getEntity = on_get_entity;
    sax->getParameterEntity = on_get_entity;
    sax->reference = on_reference;
    sax->comment = on_comment;
    sax->processingInstruction = on_pi;
    sax->resolveEntity = NULL;
    sax->startElementNs = on_start_element;
    sax->endElementNs = on_end_element;
    sax->characters = on_characters;
    sax->ignorableWhitespace = on_characters;
    sax->cdataBlock = NULL;
    /* No xmlDoc: the tree is built by the callbacks. */
    sax->startDocument = NULL;
    sax->endDocument = NULL;
    sax->startElement = NULL;
    sax->endElement = NULL;
    sax->serror = on_error;
    sax->warning = NULL;
    sax->error = NULL;
    sax->fatalError = NULL;
    ctxt->_private = p;
    p->ctxt = ctxt;
    return PL_OK;
}

int xmpp_parser_new(struct xmpp_parser **out)
{
    xmlInitParser();
    struct xmpp_parser *p = calloc(1, sizeof(*p));
    if (!p)
        return PL_ENOMEM;
    int rc = parser_ctxt_make(p);
    if (rc != PL_OK) {
        free(p);
        return rc;
    }
    *out = p;
    return PL_OK;
}

void xmpp_parser_free(struct xmpp_parser *p)
{
    if (!p)
        return;
    xmlFreeParserCtxt(p->ctxt);
    pl_buf_free(&p->text);
    free(p);
}

/* The length of an acceptable XML declaration at the start of data (and the
 * white space after it), or 0 if it is not one we accept. */
static size_t xml_decl_len(const char *data, size_t len)
{
    char decl[128];
    size_t n = 0;
    while (n + 1 < len && !(data[n] == '?' && data[n + 1] == '>'))
        n++;
    if (n + 1 >= len || n >= sizeof(decl) || (data[5] != ' ' && data[5] != '\t'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (c == '<' && i > 0)
            return 0;
        decl[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    decl[n] = '\0';
    const char *enc = strstr(decl, "encoding");
    if (!strstr(decl, "version") || (enc && !strstr(enc, "utf-8")))
        return 0;
    n += 2;
    while (n < len &&
           (data[n] == ' ' || data[n] == '\t' || data[n] == '\r' || data[n] == '\n'))
        n++;
    return n;
}

/* The first "]]>" in [p, end), or NULL. */
static const char *cdata_end(const char *p, const char *end)
{
    while (end - p >= 3) {
        const char *gt = memchr(p + 2, '>', (size_t)(end - p - 2));
        if (!gt)
            return NULL;
        if (gt[-1] == ']' && gt[-2] == ']')
            return gt - 2;
        p = gt - 1;
    }
    return NULL;
}

static int scan_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Whether the attribute whose '=' is at eq, in the start tag beginning at
 * tag, is a namespace declaration: its name (before optional white space)
 * is xmlns or xmlns:prefix. */
static int scan_is_xmlns(const char *tag, const char *eq)
{
    const char *name_end = eq;
    while (name_end > tag && scan_is_space(name_end[-1]))
        name_end--;
    const char *name = name_end;
    while (name > tag && !scan_is_space(name[-1]))
        name--;
    size_t n = (size_t)(name_end - name);
    return (n == 5 && memcmp(name, "xmlns", 5) == 0) ||
           (n > 6 && memcmp(name, "xmlns:", 6) == 0);
}

/* One pass over a frame before libxml2 parses it: a NUL byte (libxml2
 * would take it for the end of the input and drop what follows), and the
 * limits of xmpp_parse.h. The counts only need to be exact for well-formed
 * XML, since libxml2 refuses everything else: there '<' in content always
 * opens markup, and inside a start tag '=' only stands between an
 * attribute's name and its quoted value. The walk stops at the first
 * comment, DOCTYPE or processing instruction, because libxml2 is stopped
 * where one begins (restricted XML) and never reads past it. */
static enum xmpp_parse_error frame_scan(const char *data, size_t len)
{
    const char *p = data;
    const char *end = data + len;
    size_t elements = 0;
    size_t depth = 0;
    while ((p = memchr(p, '<', (size_t)(end - p))) && ++p < end) {
        if (*p == '!') {
            if (end - p < 8 || memcmp(p, "![CDATA[", 8) != 0)
                return XMPP_PARSE_OK;
            p = cdata_end(p + 8, end);
            if (!p)
                return XMPP_PARSE_OK;
            continue;
        }
        if (*p == '?')
            return XMPP_PARSE_OK;
        if (*p == '/') {
            depth -= depth > 0;
            continue;
        }
        if (++elements > XMPP_PARSE_MAX_ELEMENTS)
            return XMPP_PARSE_TOO_MANY_ELEMENTS;
        /* This element's level, whether it is empty or not. */
        if (depth + 1 > XMPP_PARSE_MAX_DEPTH)
            return XMPP_PARSE_TOO_DEEP;
        const char *tag = p;
        size_t attrs = 0;
        size_t namespaces = 0;
        while (p < end && *p != '>') {
            if (*p == '\'' || *p == '"') {
                const char *close = memchr(p + 1, *p, (size_t)(end - p - 1));
                if (!close)
                    return XMPP_PARSE_OK;
                p = close + 1;
                continue;
            }
            if (*p == '=') {
                if (!scan_is_xmlns(tag, p))
                    attrs++;
                else
                    namespaces++;
                if (attrs > XMPP_PARSE_MAX_ATTRS)
                    return XMPP_PARSE_TOO_MANY_ATTRS;
                if (namespaces > XMPP_PARSE_MAX_NAMESPACES)
                    return XMPP_PARSE_TOO_MANY_NAMESPACES;
            }
            p++;
        }
        if (p == end)
            return XMPP_PARSE_OK;
        depth += p[-1] != '/';
    }
    return XMPP_PARSE_OK;
}

const char *xmpp_parse_error_str(enum xmpp_parse_error why)
{
    switch (why) {
    case XMPP_PARSE_OK:
        return NULL;
    case XMPP_PARSE_NOT_WELL_FORMED:
        return "not well-formed";
    case XMPP_PARSE_RESTRICTED:
        return "restricted XML";
    case XMPP_PARSE_TOO_MANY_ATTRS:
        return "more than " PARSE_STR(XMPP_PARSE_MAX_ATTRS) " attributes on an element";
    case XMPP_PARSE_TOO_MANY_NAMESPACES:
        return "more than " PARSE_STR(
            XMPP_PARSE_MAX_NAMESPACES) " namespace declarations on an element";
    case XMPP_PARSE_TOO_MANY_ELEMENTS:
        return "more than " PARSE_STR(XMPP_PARSE_MAX_ELEMENTS) " elements in a stanza";
    case XMPP_PARSE_TOO_DEEP:
        return "elements nested more than " PARSE_STR(XMPP_PARSE_MAX_DEPTH) " deep";
    }
    return "refused";
}

int xmpp_parse(struct xmpp_parser *p, const char *data, size_t len,
               const char *default_ns, struct xmpp_node **out, enum xmpp_parse_error *why)
{
    enum xmpp_parse_error reason = XMPP_PARSE_NOT_WELL_FORMED;
    xmlDocPtr doc = NULL;
    int rc = PL_EINVAL;
    *out = NULL;
    if (!p->ctxt && parser_ctxt_make(p) != PL_OK) {
        if (why)
            *why = reason;
        return PL_ENOMEM;
    }
    if (!data || len == 0 || len > INT_MAX || memchr(data, '\0', len))
        goto err;
    /* RFC 6120 section 11.5 lets an entity send an XML declaration, and
     * some clients put one in front of their frames: it is skipped when it
     * declares nothing but version 1.0, UTF-8 and standalone. Any other
     * (another encoding, say) is refused like a processing instruction. */
    if (len >= 5 && memcmp(data, "<?xml", 5) == 0) {
        size_t skip = xml_decl_len(data, len);
        /* One declaration: libxml2 would take a second one as the first. */
        if (!skip || (len - skip >= 2 && memcmp(data + skip, "<?", 2) == 0)) {
            reason = XMPP_PARSE_RESTRICTED;
            goto err;
        }
        data += skip;
        len -= skip;
        if (len == 0)
            goto err;
    }
    reason = frame_scan(data, len);
    if (reason != XMPP_PARSE_OK)
        goto err;
    reason = XMPP_PARSE_NOT_WELL_FORMED;
    p->restricted = 0;
    p->last_error = 0;
    p->default_ns = default_ns;
    p->root = NULL;
    p->depth = 0;
    p->build_rc = PL_OK;
    pl_buf_reset(&p->text);
    p->ctxt->_private = p;
    doc = xmlCtxtReadMemory(p->ctxt, data, (int)len, NULL, "UTF-8", PARSE_OPTIONS);
    if (p->build_rc == PL_ENOMEM) {
        rc = PL_ENOMEM;
        goto done;
    }
    if (p->restricted) {
        reason = XMPP_PARSE_RESTRICTED;
        goto err;
    }
    if (p->build_rc == PL_ETOOBIG) {
        reason = XMPP_PARSE_TOO_DEEP;
        goto err;
    }
    if (p->build_rc != PL_OK)
        goto err;
    /* Comments and PIs outside the root also reach the SAX callbacks, so
     * the root is all there is when libxml2 found the frame well-formed. */
    if (!p->root || p->depth || !p->ctxt->wellFormed || !p->ctxt->nsWellFormed)
        goto err;
    *out = p->root;
    p->root = NULL;
    reason = XMPP_PARSE_OK;
    rc = PL_OK;
    goto done;
err:
    rc = PL_EINVAL;
done:
    xmpp_node_free(p->root);
    p->root = NULL;
    p->depth = 0;
    pl_buf_free(&p->text);
    /* Nothing sets one (startDocument is off); libxml2 would still free
     * what it made on its own. */
    xmlFreeDoc(doc);
    if (p->ctxt->myDoc && p->ctxt->myDoc != doc)
        xmlFreeDoc(p->ctxt->myDoc);
    p->ctxt->myDoc = NULL;
    if (p->ctxt->dict && xmlDictSize(p->ctxt->dict) > PARSE_DICT_MAX) {
        xmlFreeParserCtxt(p->ctxt);
        p->ctxt = NULL;
        p->renewals++;
        if (parser_ctxt_make(p) != PL_OK) {
            /* Keep the parser usable later: the next call retries. */
            xmpp_node_free(*out);
            *out = NULL;
            rc = PL_ENOMEM;
        }
    }
    if (why)
        *why = reason;
    return rc;
}
