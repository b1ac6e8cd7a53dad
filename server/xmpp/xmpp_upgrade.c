/* Authentication of the WebSocket upgrade (PROTOCOL.md, Authentication):
 * the JWT comes from the auth_token cookie, or from a Bearer header for
 * clients that cannot set cookies. Tokens are never logged. */
#include "xmpp_stream.h"
#include "auth_http.h"
#include "auth_jwt.h"
#include "pl_error.h"
#include "pl_log.h"

#include <stdlib.h>
#include <string.h>

int xmpp_upgrade_auth(const struct xmpp_env *env, const char *cookie_header,
                      const char *authorization_header, long now, char **username)
{
    long expires = 0;
    return xmpp_upgrade_auth_expiry(env, cookie_header, authorization_header, now,
                                    username, &expires);
}

int xmpp_upgrade_auth_expiry(const struct xmpp_env *env, const char *cookie_header,
                             const char *authorization_header, long now, char **username,
                             long *expires)
{
    char *token = NULL;
    char *user = NULL;
    struct auth_claims claims = {0};
    enum auth_result why = AUTH_OK;
    int rc = PL_EDENIED;
    if (auth_token_from_headers(cookie_header, authorization_header, &token) == PL_ENOMEM)
        goto done;
    if (auth_verify(env->verifier, token, now, &claims, &why) != PL_OK) {
        pl_info(0, NULL, "upgrade refused: %s", auth_result_str(why));
        goto done;
    }
    /* The subject is the account name as it is: one that preparation
     * would change (case, fullwidth forms, invisible characters) is
     * refused rather than mapped onto another account. */
    if (!claims.subject || xmpp_jid_check_username(claims.subject) != PL_OK) {
        pl_info(0, NULL, "upgrade refused: token subject is not a prepared username");
        goto done;
    }
    user = strdup(claims.subject);
    if (!user)
        goto done;
    if (env->hooks.user_allowed && env->hooks.user_allowed(env->hooks.ctx, user) != 1) {
        pl_info(0, user, "upgrade refused: user disabled");
        goto done;
    }
    *username = user;
    *expires = claims.expires;
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
