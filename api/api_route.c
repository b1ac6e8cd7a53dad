/* The route table and the path rules. A path is split and decoded once,
 * strictly (api_path_parse), then matched segment by segment against the
 * table, exactly and case-sensitively: there is no prefix match, so no
 * spelling of a path reaches a handler other than its own, and whether a
 * token is needed is a property of the route found, never of a path prefix
 * (the class of Openfire's CVE-2023-32315). */
#include "api_internal.h"

#include "pl_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The query parameters of each list: anything else is a 400. */
static const char *const page_params[] = {"limit", "cursor", NULL};
static const char *const users_params[] = {"q", "limit", "cursor", NULL};
static const char *const messages_params[] = {"user", "peer",  "room",  "since",  "until",
                                              "q",    "order", "limit", "cursor", NULL};
static const char *const export_params[] = {"user",  "peer",   "room", "since",
                                            "until", "format", NULL};
static const char *const uploads_params[] = {"user", "room", "limit", "cursor", NULL};

const struct api_route api_routes[] = {
    {"GET", "/healthz", api_health_alive, API_ROUTE_PUBLIC, "/healthz", NULL},
    {"GET", "/readyz", api_health_ready, API_ROUTE_PUBLIC, "/readyz", NULL},
    {"GET", "/.well-known/host-meta", api_hostmeta_xrd, API_ROUTE_PUBLIC,
     "/.well-known/host-meta", NULL},
    {"GET", "/.well-known/host-meta.json", api_hostmeta_jrd, API_ROUTE_PUBLIC,
     "/.well-known/host-meta.json", NULL},
    {"GET", "/metrics", api_health_metrics, API_ROUTE_METRICS, "/metrics", NULL},
    {"GET", "/api/v1/openapi.yaml", api_health_openapi, API_ROUTE_PUBLIC,
     "/api/v1/openapi.yaml", NULL},
    {"GET", "/api/v1/users", api_users_list, 0, "/api/v1/users", users_params},
    {"POST", "/api/v1/users", api_users_create, API_ROUTE_BODY, "/api/v1/users", NULL},
    {"GET", "/api/v1/users/{user}", api_users_get, 0, "/api/v1/users/{user}", NULL},
    {"PATCH", "/api/v1/users/{user}", api_users_update, API_ROUTE_BODY,
     "/api/v1/users/{user}", NULL},
    {"DELETE", "/api/v1/users/{user}", api_users_delete, 0, "/api/v1/users/{user}", NULL},
    {"GET", "/api/v1/users/{user}/sessions", api_sessions_of_user, 0,
     "/api/v1/users/{user}/sessions", page_params},
    {"DELETE", "/api/v1/users/{user}/sessions", api_sessions_kick_all, 0,
     "/api/v1/users/{user}/sessions", NULL},
    {"DELETE", "/api/v1/users/{user}/sessions/{resource}", api_sessions_kick_one, 0,
     "/api/v1/users/{user}/sessions/{resource}", NULL},
    {"GET", "/api/v1/sessions", api_sessions_list, 0, "/api/v1/sessions", page_params},
    {"GET", "/api/v1/messages", api_messages_list, 0, "/api/v1/messages",
     messages_params},
    {"POST", "/api/v1/messages", api_messages_send, API_ROUTE_BODY, "/api/v1/messages",
     NULL},
    {"GET", "/api/v1/messages/{id}", api_messages_get, 0, "/api/v1/messages/{id}", NULL},
    {"GET", "/api/v1/export", api_export_get, 0, "/api/v1/export", export_params},
    {"GET", "/api/v1/rooms", api_rooms_list, 0, "/api/v1/rooms", page_params},
    {"POST", "/api/v1/rooms", api_rooms_create, API_ROUTE_BODY, "/api/v1/rooms", NULL},
    {"GET", "/api/v1/rooms/{room}", api_rooms_get, 0, "/api/v1/rooms/{room}", NULL},
    {"PATCH", "/api/v1/rooms/{room}", api_rooms_update, API_ROUTE_BODY,
     "/api/v1/rooms/{room}", NULL},
    {"DELETE", "/api/v1/rooms/{room}", api_rooms_delete, 0, "/api/v1/rooms/{room}", NULL},
    {"PUT", "/api/v1/rooms/{room}/members/{user}", api_rooms_member_set, API_ROUTE_BODY,
     "/api/v1/rooms/{room}/members/{user}", NULL},
    {"DELETE", "/api/v1/rooms/{room}/members/{user}", api_rooms_member_remove, 0,
     "/api/v1/rooms/{room}/members/{user}", NULL},
    {"GET", "/api/v1/stats", api_stats_get, 0, "/api/v1/stats", NULL},
    {"GET", "/api/v1/audit", api_audit_list, 0, "/api/v1/audit", page_params},
    {"GET", "/api/v1/uploads", api_uploads_list, 0, "/api/v1/uploads", uploads_params},
    {"DELETE", "/api/v1/uploads/{id}", api_uploads_delete, 0, "/api/v1/uploads/{id}",
     NULL},
};
const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);

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

/* Decodes one raw segment [s, s + n) into a new string; PL_EINVAL for
 * anything api_path_parse refuses. */
static int decode_segment(const char *s, size_t n, char **out)
{
    *out = NULL;
    if (n == 0)
        return PL_EINVAL; /* "//" or a trailing '/' */
    char *d = malloc(n + 1);
    if (!d)
        return PL_ENOMEM;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                goto bad; /* "%u002e", "%zz", a '%' at the end */
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
            /* Decoded separators and parameters are refused, not taken as
             * data: a proxy in front may have split on them, or may
             * decode once more. */
            if (c == '/' || c == '\\' || c == ';' || c == '%')
                goto bad;
        } else if (c == ';' || c == '\\') {
            goto bad;
        }
        if (c < 0x20 || c == 0x7f)
            goto bad;
        d[j++] = (char)c;
    }
    d[j] = '\0';
    if (strcmp(d, ".") == 0 || strcmp(d, "..") == 0)
        goto bad;
    *out = d;
    return PL_OK;
bad:
    free(d);
    return PL_EINVAL;
}

int api_path_parse(const char *raw, size_t len, struct api_path *out)
{
    memset(out, 0, sizeof(*out));
    if (!raw || len == 0 || raw[0] != '/')
        return PL_EINVAL;
    if (len == 1)
        return PL_OK;
    size_t start = 1;
    for (size_t i = 1; i <= len; i++) {
        if (i < len && raw[i] != '/')
            continue;
        if (out->nsegs == API_SEGS_MAX) {
            api_path_free(out);
            return PL_ETOOBIG;
        }
        int rc = decode_segment(raw + start, i - start, &out->segs[out->nsegs]);
        if (rc != PL_OK) {
            api_path_free(out);
            return rc;
        }
        out->nsegs++;
        start = i + 1;
    }
    return PL_OK;
}

void api_path_free(struct api_path *p)
{
    for (size_t i = 0; i < p->nsegs; i++) {
        free(p->segs[i]);
        p->segs[i] = NULL;
    }
    p->nsegs = 0;
}

/* Whether path matches pattern; fills params with the {x} segments. */
static int pattern_match(const char *pattern, const struct api_path *path,
                         const char **params, size_t *nparams)
{
    const char *p = pattern + 1;
    size_t seg = 0, np = 0;
    if (*p == '\0')
        return path->nsegs == 0;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (seg >= path->nsegs)
            return 0;
        if (n >= 2 && p[0] == '{' && p[n - 1] == '}') {
            params[np++] = path->segs[seg];
        } else if (strlen(path->segs[seg]) != n || memcmp(path->segs[seg], p, n) != 0) {
            return 0;
        }
        seg++;
        p += n;
        if (*p == '/')
            p++;
    }
    if (seg != path->nsegs)
        return 0;
    *nparams = np;
    return 1;
}

int api_route_find(const struct api_route *routes, size_t n, const char *method,
                   const struct api_path *path, const struct api_route **route,
                   const char **params, size_t *nparams, char *allow, size_t allowlen)
{
    *route = NULL;
    *nparams = 0;
    if (allowlen)
        allow[0] = '\0';
    int path_found = 0;
    const char *tmp[API_SEGS_MAX];
    size_t ntmp = 0;
    for (size_t i = 0; i < n; i++) {
        if (!pattern_match(routes[i].pattern, path, tmp, &ntmp))
            continue;
        if (strcmp(routes[i].method, method) == 0) {
            *route = &routes[i];
            memcpy(params, tmp, ntmp * sizeof(*tmp));
            *nparams = ntmp;
            return PL_OK;
        }
        if (allowlen) {
            size_t used = strlen(allow);
            snprintf(allow + used, allowlen - used, "%s%s", path_found ? ", " : "",
                     routes[i].method);
        }
        path_found = 1;
    }
    return path_found ? PL_ESTATE : PL_ENOENT;
}
