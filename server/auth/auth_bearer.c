/* The Bearer token of an Authorization header (auth_bearer.h). */
#include "auth_bearer.h"
#include "pl_error.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

int auth_bearer_token(const char *authorization, char **token)
{
    *token = NULL;
    if (!authorization)
        return PL_ENOENT;
    const char *p = authorization;
    while (is_space(*p))
        p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || !is_space(p[6]))
        return PL_ENOENT;
    p += 6;
    while (is_space(*p))
        p++;
    size_t n = strlen(p);
    while (n && is_space(p[n - 1]))
        n--;
    /* token68 (RFC 7235): one word; a space inside is not a token. */
    if (!n || memchr(p, ' ', n) || memchr(p, '\t', n))
        return PL_ENOENT;
    *token = strndup(p, n);
    return *token ? PL_OK : PL_ENOMEM;
}
