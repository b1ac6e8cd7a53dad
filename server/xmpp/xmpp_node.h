/* A parsed XML element as a plain tree, so that the chat layer can read and
 * build stanzas without libxml2. Strings are UTF-8, unescaped, owned by the
 * node. Children are elements and text nodes in document order. */
#ifndef XMPP_NODE_H
#define XMPP_NODE_H

#include "pl_buf.h"

#include <stddef.h>

#define XMPP_NS_CLIENT "jabber:client"
#define XMPP_NS_STREAM "http://etherx.jabber.org/streams"
#define XMPP_NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"
#define XMPP_NS_STREAMS "urn:ietf:params:xml:ns:xmpp-streams"
#define XMPP_NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define XMPP_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define XMPP_NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define XMPP_NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define XMPP_NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define XMPP_NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define XMPP_NS_PING "urn:xmpp:ping"
#define XMPP_NS_RECEIPTS "urn:xmpp:receipts"
#define XMPP_NS_DELAY "urn:xmpp:delay"
#define XMPP_NS_SID "urn:xmpp:sid:0"

struct xmpp_attr {
    char *name;  /* as written, e.g. "type" or "xml:lang" */
    char *value; /* unescaped */
};

struct xmpp_node {
    char *name; /* element local name; NULL for a text node */
    char *ns;   /* namespace URI of the element (resolved), or NULL */
    char *text; /* a text node's content; NULL for elements */
    struct xmpp_attr *attrs;
    size_t nattrs;
    struct xmpp_node *children; /* first child */
    struct xmpp_node *last;     /* last child, for appending */
    struct xmpp_node *next;     /* next sibling */
};

/* New element; copies name and ns (ns may be NULL). NULL on ENOMEM. */
struct xmpp_node *xmpp_node_new(const char *name, const char *ns);
/* Frees the node, its attributes and its children (not its siblings). */
void xmpp_node_free(struct xmpp_node *n);
/* Deep copy of n (without its siblings). */
struct xmpp_node *xmpp_node_copy(const struct xmpp_node *n);

/* Sets (copies) or replaces an attribute; value NULL removes it. */
int xmpp_node_set_attr(struct xmpp_node *n, const char *name, const char *value);
/* The attribute's value or NULL; borrowed from the node. */
const char *xmpp_node_attr(const struct xmpp_node *n, const char *name);

/* Appends `child` (takes ownership) and returns it for chaining. */
struct xmpp_node *xmpp_node_append(struct xmpp_node *parent, struct xmpp_node *child);
/* Appends a new child element; returns it or NULL. */
struct xmpp_node *xmpp_node_add(struct xmpp_node *parent, const char *name,
                                const char *ns);
/* Appends a text node (copies text); an empty text adds nothing. */
int xmpp_node_add_text(struct xmpp_node *parent, const char *text);
/* Unlinks `child` from `parent` without freeing it. */
void xmpp_node_unlink(struct xmpp_node *parent, struct xmpp_node *child);

/* First child element with this name and namespace (ns NULL: any). */
struct xmpp_node *xmpp_node_child(const struct xmpp_node *n, const char *name,
                                  const char *ns);
/* First child element in namespace ns, whatever its name. */
struct xmpp_node *xmpp_node_child_ns(const struct xmpp_node *n, const char *ns);
/* The concatenated text of n's direct text children, newly allocated
 * ("" if none); NULL only on ENOMEM. */
char *xmpp_node_text(const struct xmpp_node *n);

/* Serialises n as XML into out. A namespace is declared where it differs
 * from the parent's; `parent_ns` is the namespace in scope (NULL at the top,
 * so the element's own namespace is declared). Attribute values and text are
 * escaped, so any content comes out as text. */
int xmpp_node_serialize(const struct xmpp_node *n, const char *parent_ns,
                        struct pl_buf *out);

#endif
