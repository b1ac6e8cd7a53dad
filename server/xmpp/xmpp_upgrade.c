/* Authentication of the WebSocket upgrade (PROTOCOL.md, Authentication):
 * the JWT comes from the auth_token cookie, or from a Bearer header for
 * clients that cannot set cookies. Tokens are never logged. */
#include "xmpp_stream.h"
#include "auth_jwt.h"
#include "pl_error.h"
#include "pl_log.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define UPGRADE_COOKIE "auth_token"

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The value of the auth_token cookie in a Cookie header
 * ("a=b; auth_token=XYZ; c=d"), newly allocated; NULL if absent. */
static char *upgrade_cookie_token(const char *header)
{
    const char *p = header;
    size_t name_len = strlen(UPGRADE_COOKIE);
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
            if (nlen == name_len && memcmp(p, UPGRADE_COOKIE, name_len) == 0) {
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
                return vlen ? strndup(v, vlen) : NULL;
            }
        }
        p = end;
    }
    return NULL;
}

/* The credentials of "Authorization: Bearer X" (scheme case-insensitive,
 * RFC 6750 section 2.1), newly allocated; NULL if absent. */
static char *upgrade_bearer_token(const char *header)
{
    const char *p = header;
    while (is_space(*p))
        p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || !is_space(p[6]))
        return NULL;
    p += 6;
    while (is_space(*p))
        p++;
    size_t n = strlen(p);
    while (n && is_space(p[n - 1]))
        n--;
    return n ? strndup(p, n) : NULL;
}

int xmpp_upgrade_auth(const struct xmpp_env *env, const char *cookie_header,
                      const char *authorization_header, long now, char **username)
{
    char *token = NULL;
    char *user = NULL;
    struct auth_claims claims = {0};
    enum auth_result why = AUTH_OK;
    int rc = PL_EDENIED;
    if (cookie_header)
        token = upgrade_cookie_token(cookie_header);
    if (!token && authorization_header)
        token = upgrade_bearer_token(authorization_header);
    if (auth_verify(env->verifier, token, now, &claims, &why) != PL_OK) {
        pl_info(0, NULL, "upgrade refused: %s", auth_result_str(why));
        goto done;
    }
    if (!claims.subject || xmpp_jid_normalize_local(claims.subject, &user) != PL_OK) {
        pl_info(0, NULL, "upgrade refused: token subject is not a valid username");
        goto done;
    }
    if (env->hooks.user_allowed && env->hooks.user_allowed(env->hooks.ctx, user) != 1) {
        pl_info(0, user, "upgrade refused: user disabled");
        goto done;
    }
    *username = user;
    user = NULL;
    rc = PL_OK;
done:
    if (token) {
        explicit_bzero(token, strlen(token));
        free(token);
    }
    free(user);
    auth_claims_free(&claims);
    return rc;
}
