/* The plain element tree and its serialiser. */
#include "xmpp_node.h"
#include "pl_error.h"

#include <stdlib.h>
#include <string.h>

struct xmpp_node *xmpp_node_new(const char *name, const char *ns)
{
    struct xmpp_node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->name = strdup(name);
    if (!n->name)
        goto err;
    if (ns) {
        n->ns = strdup(ns);
        if (!n->ns)
            goto err;
    }
    return n;
err:
    xmpp_node_free(n);
    return NULL;
}

void xmpp_node_free(struct xmpp_node *n)
{
    if (!n)
        return;
    struct xmpp_node *c = n->children;
    while (c) {
        struct xmpp_node *next = c->next;
        xmpp_node_free(c);
        c = next;
    }
    for (size_t i = 0; i < n->nattrs; i++) {
        free(n->attrs[i].name);
        free(n->attrs[i].value);
    }
    free(n->attrs);
    free(n->name);
    free(n->ns);
    free(n->text);
    free(n);
}

static struct xmpp_node *node_new_text(const char *text)
{
    struct xmpp_node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->text = strdup(text);
    if (!n->text) {
        free(n);
        return NULL;
    }
    return n;
}

struct xmpp_node *xmpp_node_copy(const struct xmpp_node *n)
{
    struct xmpp_node *c = NULL;
    if (!n->name)
        return node_new_text(n->text);
    c = xmpp_node_new(n->name, n->ns);
    if (!c)
        return NULL;
    /* The names are already distinct: copied in one pass, not looked up. */
    if (n->nattrs) {
        c->attrs = calloc(n->nattrs, sizeof(*c->attrs));
        if (!c->attrs)
            goto err;
    }
    for (size_t i = 0; i < n->nattrs; i++) {
        c->attrs[i].name = strdup(n->attrs[i].name);
        c->attrs[i].value = strdup(n->attrs[i].value);
        c->nattrs++;
        if (!c->attrs[i].name || !c->attrs[i].value)
            goto err;
    }
    for (const struct xmpp_node *k = n->children; k; k = k->next) {
        struct xmpp_node *kc = xmpp_node_copy(k);
        if (!kc)
            goto err;
        xmpp_node_append(c, kc);
    }
    return c;
err:
    xmpp_node_free(c);
    return NULL;
}

int xmpp_node_set_attr(struct xmpp_node *n, const char *name, const char *value)
{
    for (size_t i = 0; i < n->nattrs; i++) {
        if (strcmp(n->attrs[i].name, name) != 0)
            continue;
        if (!value) {
            free(n->attrs[i].name);
            free(n->attrs[i].value);
            memmove(&n->attrs[i], &n->attrs[i + 1],
                    (n->nattrs - i - 1) * sizeof(n->attrs[0]));
            n->nattrs--;
            return PL_OK;
        }
        char *v = strdup(value);
        if (!v)
            return PL_ENOMEM;
        free(n->attrs[i].value);
        n->attrs[i].value = v;
        return PL_OK;
    }
    if (!value)
        return PL_OK;
    struct xmpp_attr *a = realloc(n->attrs, (n->nattrs + 1) * sizeof(*a));
    if (!a)
        return PL_ENOMEM;
    n->attrs = a;
    char *nm = strdup(name);
    char *v = strdup(value);
    if (!nm || !v) {
        free(nm);
        free(v);
        return PL_ENOMEM;
    }
    a[n->nattrs].name = nm;
    a[n->nattrs].value = v;
    n->nattrs++;
    return PL_OK;
}

const char *xmpp_node_attr(const struct xmpp_node *n, const char *name)
{
    for (size_t i = 0; i < n->nattrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return n->attrs[i].value;
    return NULL;
}

struct xmpp_node *xmpp_node_append(struct xmpp_node *parent, struct xmpp_node *child)
{
    child->next = NULL;
    if (parent->last)
        parent->last->next = child;
    else
        parent->children = child;
    parent->last = child;
    return child;
}

struct xmpp_node *xmpp_node_add(struct xmpp_node *parent, const char *name,
                                const char *ns)
{
    struct xmpp_node *c = xmpp_node_new(name, ns);
    if (!c)
        return NULL;
    return xmpp_node_append(parent, c);
}

int xmpp_node_add_text(struct xmpp_node *parent, const char *text)
{
    /* No empty text nodes: <a></a> and <a/> are the same element, and the
     * tree must say so (an empty CDATA section would otherwise differ). */
    if (!*text)
        return PL_OK;
    struct xmpp_node *t = node_new_text(text);
    if (!t)
        return PL_ENOMEM;
    xmpp_node_append(parent, t);
    return PL_OK;
}

void xmpp_node_unlink(struct xmpp_node *parent, struct xmpp_node *child)
{
    struct xmpp_node *prev = NULL;
    for (struct xmpp_node *c = parent->children; c; prev = c, c = c->next) {
        if (c != child)
            continue;
        if (prev)
            prev->next = c->next;
        else
            parent->children = c->next;
        if (parent->last == c)
            parent->last = prev;
        c->next = NULL;
        return;
    }
}

struct xmpp_node *xmpp_node_child(const struct xmpp_node *n, const char *name,
                                  const char *ns)
{
    for (struct xmpp_node *c = n->children; c; c = c->next) {
        if (!c->name || strcmp(c->name, name) != 0)
            continue;
        if (!ns || (c->ns && strcmp(c->ns, ns) == 0))
            return c;
    }
    return NULL;
}

struct xmpp_node *xmpp_node_child_ns(const struct xmpp_node *n, const char *ns)
{
    for (struct xmpp_node *c = n->children; c; c = c->next)
        if (c->name && c->ns && strcmp(c->ns, ns) == 0)
            return c;
    return NULL;
}

char *xmpp_node_text(const struct xmpp_node *n)
{
    struct pl_buf b = PL_BUF_INIT;
    /* Appending nothing still allocates and terminates the buffer, so an
     * element without text gives "". */
    if (pl_buf_append(&b, "", 0) != PL_OK)
        return NULL;
    for (const struct xmpp_node *c = n->children; c; c = c->next) {
        if (!c->name && pl_buf_append_str(&b, c->text) != PL_OK) {
            pl_buf_free(&b);
            return NULL;
        }
    }
    return pl_buf_steal(&b, NULL);
}

/* Escapes text (attr 0) or a single-quoted attribute value (attr 1). In
 * text only & and < must be escaped; > is escaped too so that "]]>" can
 * never appear, and CR because a parser turns a literal one into LF (XML
 * 1.0 section 2.11). In attributes, quotes are escaped too, and whitespace
 * becomes character references because a parser normalises literal
 * whitespace to spaces (XML 1.0 section 3.3.3), which would change the value. */
static int escape(struct pl_buf *out, const char *s, int attr)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = attr ? "&quot;" : NULL;
            break;
        case '\'':
            rep = attr ? "&apos;" : NULL;
            break;
        case '\n':
            rep = attr ? "&#10;" : NULL;
            break;
        case '\r':
            /* A literal CR becomes LF when read back (XML 1.0 section 2.11),
             * in text as well. */
            rep = "&#13;";
            break;
        case '\t':
            rep = attr ? "&#9;" : NULL;
            break;
        default:
            break;
        }
        if (!rep)
            continue;
        if (pl_buf_append(out, run, (size_t)(s - run)) != PL_OK ||
            pl_buf_append_str(out, rep) != PL_OK)
            return PL_ENOMEM;
        run = s + 1;
    }
    return pl_buf_append(out, run, (size_t)(s - run));
}

/* Written by hand rather than with libxml2's serialiser: the tree is our
 * own (no xmlDoc to hand over), and we need exact control over where xmlns
 * is declared (each RFC 7395 frame must stand alone) and over escaping.
 * An element whose ns is NULL inherits the namespace in scope, so callers
 * may build children without repeating the namespace. */
int xmpp_node_serialize(const struct xmpp_node *n, const char *parent_ns,
                        struct pl_buf *out)
{
    if (!n->name)
        return escape(out, n->text ? n->text : "", 0);
    const char *ns = n->ns ? n->ns : parent_ns;
    int rc = pl_buf_append_str(out, "<");
    if (rc == PL_OK)
        rc = pl_buf_append_str(out, n->name);
    if (rc == PL_OK && n->ns && (!parent_ns || strcmp(n->ns, parent_ns) != 0)) {
        rc = pl_buf_append_str(out, " xmlns='");
        if (rc == PL_OK)
            rc = escape(out, n->ns, 1);
        if (rc == PL_OK)
            rc = pl_buf_append_str(out, "'");
    }
    for (size_t i = 0; rc == PL_OK && i < n->nattrs; i++) {
        rc = pl_buf_append_str(out, " ");
        if (rc == PL_OK)
            rc = pl_buf_append_str(out, n->attrs[i].name);
        if (rc == PL_OK)
            rc = pl_buf_append_str(out, "='");
        if (rc == PL_OK)
            rc = escape(out, n->attrs[i].value, 1);
        if (rc == PL_OK)
            rc = pl_buf_append_str(out, "'");
    }
    if (rc != PL_OK)
        return rc;
    if (!n->children)
        return pl_buf_append_str(out, "/>");
    rc = pl_buf_append_str(out, ">");
    for (const struct xmpp_node *c = n->children; rc == PL_OK && c; c = c->next)
        rc = xmpp_node_serialize(c, ns, out);
    if (rc == PL_OK)
        rc = pl_buf_append_str(out, "</");
    if (rc == PL_OK)
        rc = pl_buf_append_str(out, n->name);
    if (rc == PL_OK)
        rc = pl_buf_append_str(out, ">");
    return rc;
}
