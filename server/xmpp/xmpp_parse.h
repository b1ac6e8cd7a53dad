/* Parsing one RFC 7395 frame (one complete element) into an xmpp_node tree,
 * with libxml2 hardened for XMPP: no DTD, no entity declarations or
 * references beyond the predefined five, no comments, no processing
 * instructions (RFC 6120 section 11.1), no network access. One parser is
 * reused for every connection of a thread; it is not thread-safe. */
#ifndef XMPP_PARSE_H
#define XMPP_PARSE_H

#include "xmpp_node.h"

#include <stddef.h>

struct xmpp_parser;

enum xmpp_parse_error {
    XMPP_PARSE_OK = 0,
    XMPP_PARSE_NOT_WELL_FORMED, /* stream error not-well-formed */
    XMPP_PARSE_RESTRICTED,      /* stream error restricted-xml */
};

int xmpp_parser_new(struct xmpp_parser **out);
void xmpp_parser_free(struct xmpp_parser *p);

/* Parses data[0..len) as one element. Elements with no namespace are put in
 * `default_ns` (may be NULL). On success *out is a new tree the caller frees;
 * otherwise returns PL_EINVAL with the reason in *why. */
int xmpp_parse(struct xmpp_parser *p, const char *data, size_t len,
               const char *default_ns, struct xmpp_node **out,
               enum xmpp_parse_error *why);

#endif
