/* The upgrade's header parsing (Cookie and Authorization): the input is the
 * cookie header, a NUL, then the authorization header. */
#include "auth_jwt.h"
#include "pl_error.h"
#include "xmpp_stream.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct xmpp_env env;
    if (!env.verifier) {
        struct auth_verifier *v = NULL;
        struct auth_config ac = {.alg = "HS256", .secret = "fuzzing-secret-0123456789"};
        char err[128];
        if (auth_verifier_new(&ac, &v, err, sizeof(err)) != PL_OK)
            abort();
        env.domain = "localhost";
        env.verifier = v;
    }
    char *buf = malloc(size + 2);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = '\0';
    const char *cookie = buf;
    const char *authz = buf + strlen(buf) + 1;
    char *user = NULL;
    if (xmpp_upgrade_auth(&env, cookie, *authz ? authz : NULL, 1800000000L, &user) ==
        PL_OK)
        abort(); /* no signed token in random input */
    free(user);
    free(buf);
    return 0;
}
