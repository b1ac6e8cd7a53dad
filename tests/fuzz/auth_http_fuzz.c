/* Token extraction from the Cookie and Authorization headers on arbitrary
 * bytes: never a crash or a leak; a token found is non-empty, holds no
 * separator a header could smuggle (white space, ';', ',', '"', control
 * bytes), and is a substring of the header it came from. The input is the
 * two headers, split at the first NUL (the second may be absent). */
#include "auth_http.h"
#include "pl_error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 2);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    buf[size + 1] = '\0';
    const char *cookie = buf;
    size_t clen = strlen(buf);
    const char *authz = clen < size ? buf + clen + 1 : NULL;
    char *token = NULL;
    int rc = auth_token_from_headers(clen ? cookie : NULL, authz, &token);
    if (rc == PL_OK) {
        if (!token || !*token)
            abort();
        for (const unsigned char *c = (const unsigned char *)token; *c; c++)
            if (*c <= 0x20 || *c == 0x7f || *c == ';' || *c == ',' || *c == '"')
                abort();
        if (!strstr(cookie, token) && !(authz && strstr(authz, token)))
            abort();
        free(token);
    } else if (token) {
        abort(); /* nothing handed out on a refusal */
    }
    free(buf);
    return 0;
}
