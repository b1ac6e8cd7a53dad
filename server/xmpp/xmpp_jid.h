/* JIDs (RFC 7622). The localpart is normalised: ASCII letters are lower-cased
 * and the characters RFC 7622 forbids in a localpart ("&'/:<>@, space,
 * controls) are rejected; the domain is lower-cased; the resource is kept as
 * given but may not contain control characters. Each part is at most 1023
 * bytes of valid UTF-8. */
#ifndef XMPP_JID_H
#define XMPP_JID_H

#include <stddef.h>

struct xmpp_jid {
    char *local;    /* NULL if absent */
    char *domain;   /* never NULL after a successful parse */
    char *resource; /* NULL if absent */
};

/* Parses and normalises s into out (owned strings). PL_EINVAL if malformed. */
int xmpp_jid_parse(const char *s, struct xmpp_jid *out);
/* Normalises a bare localpart (a username) into a new string; PL_EINVAL if
 * it is empty or has a forbidden character. */
int xmpp_jid_normalize_local(const char *local, char **out);
/* "local@domain" (or "domain"), newly allocated; NULL on ENOMEM. */
char *xmpp_jid_bare(const struct xmpp_jid *j);
/* "local@domain/resource" (parts that are absent are left out). */
char *xmpp_jid_full(const struct xmpp_jid *j);
void xmpp_jid_free(struct xmpp_jid *j);

#endif
