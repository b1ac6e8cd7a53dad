/* The JWT verifier on arbitrary tokens: never crashes, and never accepts a
 * token without a subject (random input cannot carry a valid signature). */
#include "auth_jwt.h"
#include "pl_error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct auth_verifier *v;
    if (!v) {
        struct auth_config ac = {.alg = "HS256", .secret = "fuzzing-secret-0123456789"};
        char err[128];
        if (auth_verifier_new(&ac, &v, err, sizeof(err)) != PL_OK)
            abort();
    }
    char *token = malloc(size + 1);
    if (!token)
        return 0;
    memcpy(token, data, size);
    token[size] = '\0';
    struct auth_claims claims = {0};
    enum auth_result why;
    if (auth_verify(v, token, 1800000000L, &claims, &why) == PL_OK) {
        if (!claims.subject || !*claims.subject)
            abort();
        auth_claims_free(&claims);
    }
    free(token);
    return 0;
}
