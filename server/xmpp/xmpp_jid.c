/* JID parsing and normalisation (RFC 7622), restricted to what Parley needs:
 * ASCII case mapping rather than full PRECIS, which keeps the code small and
 * still refuses every character that could confuse routing or XML. */
#include "xmpp_jid.h"
#include "pl_error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JID_PART_MAX 1023

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n >= len - i)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

static int is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Copies s[0..len) into a new string, checking it as a localpart. */
static int local_norm(const char *s, size_t len, char **out)
{
    if (len == 0 || len > JID_PART_MAX || !utf8_valid((const unsigned char *)s, len))
        return PL_EINVAL;
    char *r = malloc(len + 1);
    if (!r)
        return PL_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_ctl(c) || c == ' ' || strchr("\"&'/:<>@", c)) {
            free(r);
            return PL_EINVAL;
        }
        r[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (char)c;
    }
    r[len] = '\0';
    *out = r;
    return PL_OK;
}

/* A domain is a host name or an IP literal; besides the parts RFC 7622
 * forbids we refuse characters that could never be in one, and empty labels. */
static int domain_norm(const char *s, size_t len, char **out)
{
    /* RFC 7622 section 3.2: a trailing dot is stripped before comparison. */
    if (len > 1 && s[len - 1] == '.')
        len--;
    if (len == 0 || len > JID_PART_MAX || !utf8_valid((const unsigned char *)s, len))
        return PL_EINVAL;
    if (s[0] == '.')
        return PL_EINVAL;
    char *r = malloc(len + 1);
    if (!r)
        return PL_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_ctl(c) || c == ' ' || strchr("\"&'/<>@\\", c) ||
            (c == '.' && i + 1 < len && s[i + 1] == '.')) {
            free(r);
            return PL_EINVAL;
        }
        r[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (char)c;
    }
    r[len] = '\0';
    *out = r;
    return PL_OK;
}

static int resource_copy(const char *s, size_t len, char **out)
{
    if (len == 0 || len > JID_PART_MAX || !utf8_valid((const unsigned char *)s, len))
        return PL_EINVAL;
    for (size_t i = 0; i < len; i++)
        if (is_ctl((unsigned char)s[i]))
            return PL_EINVAL;
    char *r = strndup(s, len);
    if (!r)
        return PL_ENOMEM;
    *out = r;
    return PL_OK;
}

int xmpp_jid_parse(const char *s, struct xmpp_jid *out)
{
    struct xmpp_jid j = {NULL, NULL, NULL};
    int rc = PL_EINVAL;
    if (!s)
        goto err;
    size_t len = strlen(s);
    /* RFC 7622 section 3.1: the resource starts at the first '/', the
     * localpart ends at the first '@' before it. */
    const char *slash = memchr(s, '/', len);
    size_t bare_len = slash ? (size_t)(slash - s) : len;
    const char *at = memchr(s, '@', bare_len);
    const char *dom = at ? at + 1 : s;
    size_t dom_len = bare_len - (size_t)(dom - s);
    if (at) {
        rc = local_norm(s, (size_t)(at - s), &j.local);
        if (rc != PL_OK)
            goto err;
    }
    rc = domain_norm(dom, dom_len, &j.domain);
    if (rc != PL_OK)
        goto err;
    if (slash) {
        rc = resource_copy(slash + 1, len - bare_len - 1, &j.resource);
        if (rc != PL_OK)
            goto err;
    }
    *out = j;
    return PL_OK;
err:
    xmpp_jid_free(&j);
    return rc;
}

int xmpp_jid_normalize_local(const char *local, char **out)
{
    if (!local)
        return PL_EINVAL;
    return local_norm(local, strlen(local), out);
}

static char *jid_join(const struct xmpp_jid *j, int with_resource)
{
    if (!j->domain)
        return NULL;
    size_t n = strlen(j->domain) + 1;
    if (j->local)
        n += strlen(j->local) + 1;
    if (with_resource && j->resource)
        n += strlen(j->resource) + 1;
    char *r = malloc(n);
    if (!r)
        return NULL;
    r[0] = '\0';
    if (j->local) {
        strcat(r, j->local);
        strcat(r, "@");
    }
    strcat(r, j->domain);
    if (with_resource && j->resource) {
        strcat(r, "/");
        strcat(r, j->resource);
    }
    return r;
}

char *xmpp_jid_bare(const struct xmpp_jid *j)
{
    return jid_join(j, 0);
}

char *xmpp_jid_full(const struct xmpp_jid *j)
{
    return jid_join(j, 1);
}

void xmpp_jid_free(struct xmpp_jid *j)
{
    if (!j)
        return;
    free(j->local);
    free(j->domain);
    free(j->resource);
    j->local = NULL;
    j->domain = NULL;
    j->resource = NULL;
}
