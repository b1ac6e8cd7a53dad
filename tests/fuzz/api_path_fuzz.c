/* The admin API's path and query rules on arbitrary request targets: never
 * a crash, and whatever api_path_parse accepts has no segment a server or
 * a proxy could read another way (empty, '.', '..', a '/', '\' or ';', a
 * control byte), and whatever api_query_parse accepts has each name once.
 * The input is a target: the path, then '?' and the query. */
#include "api_internal.h"
#include "pl_error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"user",  "peer",  "room",   "since",  "until", "q",
                                    "order", "limit", "cursor", "format", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *t = malloc(size + 1);
    if (!t)
        return 0;
    memcpy(t, data, size);
    t[size] = '\0';
    size_t n = strlen(t); /* a NUL ends the target, as in a request line */
    char *q = memchr(t, '?', n);
    size_t plen = q ? (size_t)(q - t) : n;
    struct api_path p;
    if (api_path_parse(t, plen, &p) == PL_OK) {
        for (size_t i = 0; i < p.nsegs; i++) {
            const char *s = p.segs[i];
            if (!*s || !strcmp(s, ".") || !strcmp(s, "..") || strpbrk(s, "/\\;"))
                abort();
            for (const unsigned char *c = (const unsigned char *)s; *c; c++)
                if (*c < 0x20 || *c == 0x7f)
                    abort();
        }
        const struct api_route *r;
        const char *params[API_SEGS_MAX];
        size_t np;
        char allow[64];
        if (api_route_find(api_routes, api_nroutes, "GET", &p, &r, params, &np, allow,
                           sizeof(allow)) == PL_OK &&
            (!r || np > API_SEGS_MAX))
            abort();
        api_path_free(&p);
    } else if (p.nsegs) {
        abort(); /* a refusal leaves nothing behind */
    }
    if (q) {
        struct api_query qs;
        const char *bad;
        if (api_query_parse(q + 1, names, &qs, &bad) == PL_OK) {
            for (size_t i = 0; i < qs.n; i++)
                for (size_t j = i + 1; j < qs.n; j++)
                    if (!strcmp(qs.params[i].name, qs.params[j].name))
                        abort();
            int limit;
            if (api_query_limit(&qs, &limit) == PL_OK &&
                (limit < 1 || limit > API_LIMIT_MAX))
                abort();
        }
        api_query_free(&qs);
    }
    free(t);
    return 0;
}
