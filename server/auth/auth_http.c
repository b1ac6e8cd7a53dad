/* The token's place in an HTTP request (auth_http.h). Nothing here is
 * logged: the values are credentials. */
#include "auth_http.h"
#include "pl_error.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 6265 section 4.1.1: a cookie-octet, what a cookie value may hold
 * (no white space, DQUOTE, comma, semicolon, backslash or control byte). */
static int is_cookie_octet(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
           (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

/* RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" /
 * "~" / "+" / "/" ) *"=". */
static int is_b64token(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'z') ||
                     (p[i] >= '0' && p[i] <= '9') || strchr("-._~+/", p[i])))
        i++;
    if (i == 0)
        return 0;
    while (i < n && p[i] == '=')
        i++;
    return i == n;
}

/* The value of the auth_token cookie in a Cookie header, newly allocated
 * in *out (NULL if absent or empty). */
static int cookie_token(const char *header, char **out)
{
    const char *p = header;
    size_t name_len = strlen(AUTH_HTTP_COOKIE);
    *out = NULL;
    while (p && *p) {
        while (is_space(*p) || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (eq) {
            size_t nlen = (size_t)(eq - p);
            while (nlen && is_space(p[nlen - 1]))
                nlen--;
            if (nlen == name_len && memcmp(p, AUTH_HTTP_COOKIE, name_len) == 0) {
                const char *v = eq + 1;
                size_t vlen = n - (size_t)(v - p);
                while (vlen && is_space(*v)) {
                    v++;
                    vlen--;
                }
                while (vlen && is_space(v[vlen - 1]))
                    vlen--;
                /* RFC 6265 allows a value in double quotes. */
                if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                    v++;
                    vlen -= 2;
                }
                /* A value outside the cookie syntax (an unpaired quote, a
                 * space or a comma inside) is no token: the Authorization
                 * header may still carry one. */
                for (size_t i = 0; i < vlen; i++)
                    if (!is_cookie_octet((unsigned char)v[i]))
                        return PL_OK;
                if (!vlen)
                    return PL_OK;
                *out = strndup(v, vlen);
                return *out ? PL_OK : PL_ENOMEM;
            }
        }
        p = end;
    }
    return PL_OK;
}

/* The credentials of "Bearer X", newly allocated in *out (NULL if the
 * scheme is another or the credentials are empty). */
static int bearer_token(const char *header, char **out)
{
    const char *p = header;
    *out = NULL;
    while (is_space(*p))
        p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || !is_space(p[6]))
        return PL_OK;
    p += 6;
    while (is_space(*p))
        p++;
    size_t n = strlen(p);
    while (n && is_space(p[n - 1]))
        n--;
    if (!n || !is_b64token(p, n))
        return PL_OK;
    *out = strndup(p, n);
    return *out ? PL_OK : PL_ENOMEM;
}

int auth_token_from_headers(const char *cookie_header, const char *authorization_header,
                            char **token)
{
    char *t = NULL;
    int rc = cookie_header ? cookie_token(cookie_header, &t) : PL_OK;
    if (rc == PL_OK && !t && authorization_header)
        rc = bearer_token(authorization_header, &t);
    if (rc != PL_OK)
        return rc;
    if (!t)
        return PL_ENOENT;
    *token = t;
    return PL_OK;
}
