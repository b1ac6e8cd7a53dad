/* Parsing one RFC 7395 frame (one complete element) into an xmpp_node tree,
 * with libxml2 hardened for XMPP: no DTD, no entity declarations or
 * references beyond the predefined five, no comments, no processing
 * instructions (RFC 6120 section 11.1), no network access. A frame is the
 * one element, optionally preceded by an XML declaration and surrounded by
 * white space; anything else in it (a NUL byte, text, a second element) is
 * not well-formed. The tree's size is bounded by the limits below, checked
 * before libxml2 builds anything. One parser is reused for every connection
 * of a thread; it is not thread-safe. */
#ifndef XMPP_PARSE_H
#define XMPP_PARSE_H

#include "xmpp_node.h"

#include <stddef.h>

struct xmpp_parser;

/* Attributes of one element, namespace declarations not included (the
 * serialiser adds one, so what it writes of a tree parses again). */
#define XMPP_PARSE_MAX_ATTRS 64
/* Namespace declarations (xmlns, xmlns:prefix) on one element. */
#define XMPP_PARSE_MAX_NAMESPACES 16
/* Elements in one frame, the root and all its descendants. */
#define XMPP_PARSE_MAX_ELEMENTS 1024
/* Levels of nesting in one frame, the root being the first. */
#define XMPP_PARSE_MAX_DEPTH 64

enum xmpp_parse_error {
    XMPP_PARSE_OK = 0,
    XMPP_PARSE_NOT_WELL_FORMED, /* stream error not-well-formed */
    XMPP_PARSE_RESTRICTED,      /* stream error restricted-xml */
    /* Over one of the limits above: stream error policy-violation. */
    XMPP_PARSE_TOO_MANY_ATTRS,
    XMPP_PARSE_TOO_MANY_NAMESPACES,
    XMPP_PARSE_TOO_MANY_ELEMENTS,
    XMPP_PARSE_TOO_DEEP,
};

int xmpp_parser_new(struct xmpp_parser **out);
void xmpp_parser_free(struct xmpp_parser *p);

/* Parses data[0..len) as one element. Elements with no namespace are put in
 * `default_ns` (may be NULL). On success *out is a new tree the caller frees;
 * otherwise returns PL_EINVAL with the reason in *why. */
int xmpp_parse(struct xmpp_parser *p, const char *data, size_t len,
               const char *default_ns, struct xmpp_node **out,
               enum xmpp_parse_error *why);
/* A short constant description of a refusal, for a stream error's text;
 * NULL for XMPP_PARSE_OK. */
const char *xmpp_parse_error_str(enum xmpp_parse_error why);

#endif
