/* Query parameters, parsed from the raw query string against the names a
 * route allows, and the value checks every handler shares. Values are
 * checked here before they reach SQL (where they are parameters anyway),
 * so a bad one is a 400 naming it, not a database error. */
#include "api_internal.h"

#include "pl_error.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Form decoding of [s, s + n) into a new string: '+' is a space. */
static int form_decode(const char *s, size_t n, char **out)
{
    *out = NULL;
    char *d = malloc(n + 1);
    if (!d)
        return PL_ENOMEM;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(d);
                return PL_EINVAL;
            }
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        /* Tabs and newlines are not in any value this API takes. */
        if (c < 0x20 || c == 0x7f) {
            free(d);
            return PL_EINVAL;
        }
        d[j++] = (char)c;
    }
    d[j] = '\0';
    *out = d;
    return PL_OK;
}

void api_query_free(struct api_query *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->params[i].name);
        free(q->params[i].value);
    }
    memset(q, 0, sizeof(*q));
}

const char *api_query_get(const struct api_query *q, const char *name)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->params[i].name, name) == 0)
            return q->params[i].value;
    return NULL;
}

int api_query_parse(const char *raw, const char *const *allowed, struct api_query *out,
                    const char **bad)
{
    memset(out, 0, sizeof(*out));
    *bad = NULL;
    if (!raw)
        return PL_OK;
    const char *p = raw;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 0) {
            const char *eq = memchr(p, '=', n);
            size_t nlen = eq ? (size_t)(eq - p) : n;
            if (out->n == API_PARAMS_MAX) {
                api_query_free(out);
                return PL_ETOOBIG;
            }
            struct api_param *prm = &out->params[out->n];
            int rc = form_decode(p, nlen, &prm->name);
            if (rc == PL_OK)
                rc = eq ? form_decode(eq + 1, n - nlen - 1, &prm->value)
                        : ((prm->value = strdup("")) ? PL_OK : PL_ENOMEM);
            if (rc != PL_OK) {
                free(prm->name);
                free(prm->value);
                prm->name = prm->value = NULL;
                api_query_free(out);
                return rc;
            }
            out->n++;
            int known = 0;
            for (size_t i = 0; allowed && allowed[i]; i++)
                if (strcmp(allowed[i], prm->name) == 0)
                    known = 1;
            if (!known) {
                *bad = prm->name;
                return PL_ENOENT;
            }
            for (size_t i = 0; i + 1 < out->n; i++) {
                if (strcmp(out->params[i].name, prm->name) == 0) {
                    *bad = prm->name;
                    return PL_EINVAL;
                }
            }
        }
        p += n;
        if (*p == '&')
            p++;
    }
    return PL_OK;
}

int api_query_limit(const struct api_query *q, int *limit)
{
    const char *v = api_query_get(q, "limit");
    *limit = API_LIMIT_DEFAULT;
    if (!v)
        return PL_OK;
    if (!*v || strlen(v) > 18)
        return PL_EINVAL;
    for (const char *c = v; *c; c++)
        if (!isdigit((unsigned char)*c) && !(c == v && *c == '-'))
            return PL_EINVAL;
    long long n = strtoll(v, NULL, 10);
    if (n < 1)
        return PL_EINVAL;
    *limit = n > API_LIMIT_MAX ? API_LIMIT_MAX : (int)n;
    return PL_OK;
}

int api_parse_id(const char *s, int64_t *out)
{
    if (!s || !*s || strlen(s) > 18 || *s == '0')
        return PL_EINVAL;
    for (const char *c = s; *c; c++)
        if (!isdigit((unsigned char)*c))
            return PL_EINVAL;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno || v < 1)
        return PL_EINVAL;
    *out = v;
    return PL_OK;
}

/* n digits at s. */
static int digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

int api_parse_time(const char *s)
{
    if (!s || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2))
        return PL_EINVAL;
    int month = num(s + 5, 2), day = num(s + 8, 2);
    if (num(s, 4) < 1 || month < 1 || month > 12 || day < 1 || day > 31)
        return PL_EINVAL;
    const char *p = s + 10;
    if (!*p)
        return PL_OK;
    if ((*p != 'T' && *p != 't') || !digits(p + 1, 2) || p[3] != ':' ||
        !digits(p + 4, 2) || p[6] != ':' || !digits(p + 7, 2))
        return PL_EINVAL;
    if (num(p + 1, 2) > 23 || num(p + 4, 2) > 59 || num(p + 7, 2) > 60)
        return PL_EINVAL;
    p += 9;
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)p[n]))
            n++;
        if (n < 1 || n > 9)
            return PL_EINVAL;
        p += n;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return PL_OK;
    if ((*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' && digits(p + 4, 2) &&
        p[6] == '\0' && num(p + 1, 2) <= 23 && num(p + 4, 2) <= 59)
        return PL_OK;
    return PL_EINVAL;
}

int api_parse_uuid(const char *s)
{
    static const int groups[5] = {8, 4, 4, 4, 12};
    if (!s)
        return PL_EINVAL;
    for (int g = 0; g < 5; g++) {
        for (int i = 0; i < groups[g]; i++, s++)
            if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
                return PL_EINVAL;
        if (g < 4 && *s++ != '-')
            return PL_EINVAL;
    }
    return *s == '\0' ? PL_OK : PL_EINVAL;
}

int api_parse_username(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 1023)
        return PL_EINVAL;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        /* RFC 7622 section 3.3.1: these may not appear in a localpart. */
        if (*c <= 0x20 || *c == 0x7f || strchr("\"&'/:<>@", *c) ||
            (*c >= 'A' && *c <= 'Z'))
            return PL_EINVAL;
    }
    return PL_OK;
}
