/* One RFC 7395 frame into an xmpp_node tree, with libxml2 hardened for the
 * restricted XML of RFC 6120 section 11.1.
 *
 * One xmlParserCtxt is kept per parser and reused for every frame
 * (xmlCtxtReadMemory resets it). Restricted constructs are caught in the
 * SAX2 callbacks, before libxml2 acts on them: the DOCTYPE is refused when
 * its name is read, so the entity declarations of a "billion laughs" are
 * never parsed; every entity reference other than the five predefined ones
 * reaches getEntity (libxml2 resolves the predefined ones itself and never
 * asks), and is refused there, defined or not. Errors go to a structured
 * handler that records them, so nothing is printed on stderr. */
#include "xmpp_parse.h"
#include "pl_error.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The context's dictionary keeps every name it has seen; past this many we
 * start a fresh context so a stream of random names cannot grow it forever. */
#define PARSE_DICT_MAX 8192

/* Never substitute entities (no XML_PARSE_NOENT), never load a DTD, never
 * touch the network; CDATA sections become plain text. */
#define PARSE_OPTIONS                                                                    \
    (XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

struct xmpp_parser {
    xmlParserCtxtPtr ctxt;
    int restricted;    /* a restricted construct was seen in this frame */
    int last_error;    /* libxml2's first error code in this frame, for debugging */
    unsigned renewals; /* contexts replaced because the dictionary grew */
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
    free(p);
}

/* An attribute's name as written. Namespaced attributes other than xml:*
 * are dropped: our tree does not keep prefix declarations, so writing such
 * an attribute back would produce an undeclared prefix. */
static const char *attr_prefix(xmlAttrPtr a, int *keep)
{
    *keep = 1;
    if (!a->ns)
        return NULL;
    if (a->ns->prefix && strcmp((const char *)a->ns->prefix, "xml") == 0)
        return "xml";
    *keep = 0;
    return NULL;
}

static int node_convert(xmlNodePtr x, const char *default_ns, struct xmpp_node **out)
{
    const char *ns = x->ns ? (const char *)x->ns->href : default_ns;
    struct xmpp_node *n = xmpp_node_new((const char *)x->name, ns);
    int rc = PL_ENOMEM;
    if (!n)
        goto err;
    for (xmlAttrPtr a = x->properties; a; a = a->next) {
        int keep;
        const char *prefix = attr_prefix(a, &keep);
        if (!keep)
            continue;
        xmlChar *value = xmlNodeGetContent((xmlNodePtr)a);
        xmlChar *name = prefix ? xmlBuildQName(a->name, BAD_CAST prefix, NULL, 0)
                               : xmlStrdup(a->name);
        if (!value || !name) {
            xmlFree(value);
            xmlFree(name);
            rc = PL_ENOMEM;
            goto err;
        }
        rc = xmpp_node_set_attr(n, (const char *)name, (const char *)value);
        xmlFree(value);
        xmlFree(name);
        if (rc != PL_OK)
            goto err;
    }
    for (xmlNodePtr c = x->children; c; c = c->next) {
        struct xmpp_node *child = NULL;
        switch (c->type) {
        case XML_ELEMENT_NODE:
            rc = node_convert(c, default_ns, &child);
            if (rc != PL_OK)
                goto err;
            xmpp_node_append(n, child);
            break;
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
            rc = xmpp_node_add_text(n, c->content ? (const char *)c->content : "");
            if (rc != PL_OK)
                goto err;
            break;
        default:
            /* Entity references, comments and PIs were refused by the SAX
             * callbacks; anything else here is not XMPP. */
            rc = PL_EINVAL;
            goto err;
        }
    }
    *out = n;
    return PL_OK;
err:
    xmpp_node_free(n);
    return rc;
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
    if (!data || len == 0 || len > INT_MAX)
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
    p->restricted = 0;
    p->last_error = 0;
    p->ctxt->_private = p;
    doc = xmlCtxtReadMemory(p->ctxt, data, (int)len, NULL, "UTF-8", PARSE_OPTIONS);
    if (p->restricted) {
        reason = XMPP_PARSE_RESTRICTED;
        goto err;
    }
    if (!doc || !p->ctxt->wellFormed || !p->ctxt->nsWellFormed || doc->intSubset ||
        doc->extSubset)
        goto err;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (!root)
        goto err;
    /* Comments and PIs outside the root also reach the SAX callbacks, so
     * only the root element is left. */
    rc = node_convert(root, default_ns, out);
    if (rc == PL_ENOMEM)
        goto done;
    if (rc != PL_OK) {
        reason = XMPP_PARSE_RESTRICTED;
        goto err;
    }
    reason = XMPP_PARSE_OK;
    goto done;
err:
    rc = PL_EINVAL;
done:
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
