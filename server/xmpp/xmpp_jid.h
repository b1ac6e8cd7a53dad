/* JIDs. Localparts and resources are prepared with libidn's stringprep
 * profiles for XMPP (Nodeprep and Resourceprep, RFC 6122 appendices A and
 * B, what Prosody and ejabberd use): fullwidth and other compatibility
 * forms fold to their plain letters (NFKC), localparts are case-folded,
 * and spaces (in localparts), controls (C0 and C1), private-use,
 * non-characters, the characters "&'/:<>@ in localparts, and
 * right-to-left text mixed with left-to-right are refused. The invisible
 * characters that stringprep would silently delete (RFC 3454 table B.1:
 * zero-width space and joiners, soft hyphen, variation selectors, the BOM)
 * are refused too, as PRECIS (RFC 7622) does, so that a name never differs
 * from what is shown. The domain is lower-cased ASCII-wise. Each part is at
 * most 1023 bytes of valid UTF-8 after preparation. */
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
/* Checks a name that is to become an account (a token's `sub`): PL_OK only
 * if preparing it changes nothing and it has no code point unassigned in
 * stringprep's Unicode 3.2 (a stored string, RFC 3454 section 7), so that
 * two different names never reach one account. PL_EINVAL otherwise. */
int xmpp_jid_check_username(const char *name);
/* "local@domain" (or "domain"), newly allocated; NULL on ENOMEM. */
char *xmpp_jid_bare(const struct xmpp_jid *j);
/* "local@domain/resource" (parts that are absent are left out). */
char *xmpp_jid_full(const struct xmpp_jid *j);
void xmpp_jid_free(struct xmpp_jid *j);

#endif
