/* The path rules and the route table: every spelling that could reach
 * another handler is refused, exact matches find their route, a path with
 * other methods is 405 with the list, and every route of the table is
 * reachable by its own pattern. No server, no database. */
#include "api_internal.h"
#include "pl_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The handlers are never called here; the table only needs their
 * addresses, which the real files provide through pl_api. */

static int parse(const char *raw, struct api_path *p)
{
    return api_path_parse(raw, strlen(raw), p);
}

static void test_path_splits_and_decodes(void **state)
{
    (void)state;
    struct api_path p;
    assert_int_equal(parse("/api/v1/users/al%69ce", &p), PL_OK);
    assert_int_equal(p.nsegs, 4);
    assert_string_equal(p.segs[0], "api");
    assert_string_equal(p.segs[3], "alice");
    api_path_free(&p);
    assert_int_equal(parse("/", &p), PL_OK);
    assert_int_equal(p.nsegs, 0);
    api_path_free(&p);
    /* A resource may hold what a localpart may not. */
    assert_int_equal(parse("/api/v1/users/a/sessions/web%20%3F%40x", &p), PL_OK);
    assert_string_equal(p.segs[5], "web ?@x");
    api_path_free(&p);
}

static void test_path_refuses_ambiguous_spellings(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",        "api/v1", "//",      "/api//v1",   "/api/",     "/.",
        "/..",     "/a/./b", "/a/../b", "/a/%2e",     "/a/%2E%2e", "/a/.%2e",
        "/a%2fb",  "/a%2Fb", "/a%5cb",  "/a\\b",      "/a;b",      "/a%3bb",
        "/a%00",   "/a%0a",  "/a%",     "/a%4",       "/a%zz",     "/a/%u002e",
        "/a%2500", "/a\tb",  "/a\x7f",  "http://x/a", "*",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct api_path p;
        int rc = parse(bad[i], &p);
        if (rc != PL_EINVAL)
            fail_msg("'%s' was not refused (%d)", bad[i], rc);
        assert_int_equal(p.nsegs, 0);
    }
}

static void test_path_has_a_segment_bound(void **state)
{
    (void)state;
    struct api_path p;
    assert_int_equal(parse("/1/2/3/4/5/6/7/8", &p), PL_OK);
    api_path_free(&p);
    assert_int_equal(parse("/1/2/3/4/5/6/7/8/9", &p), PL_ETOOBIG);
    assert_int_equal(p.nsegs, 0);
}

static int find(const char *method, const char *path, const struct api_route **r,
                const char **params, size_t *np, char *allow)
{
    struct api_path p;
    if (parse(path, &p) != PL_OK)
        fail_msg("%s does not parse", path);
    int rc =
        api_route_find(api_routes, api_nroutes, method, &p, r, params, np, allow, 64);
    /* params point into p: copy what the test checks before freeing */
    static char keep[API_SEGS_MAX][64];
    for (size_t i = 0; rc == PL_OK && i < *np; i++) {
        snprintf(keep[i], sizeof(keep[i]), "%s", params[i]);
        params[i] = keep[i];
    }
    api_path_free(&p);
    return rc;
}

static void test_routes_match_exactly(void **state)
{
    (void)state;
    const struct api_route *r;
    const char *params[API_SEGS_MAX];
    size_t np;
    char allow[64];
    assert_int_equal(find("GET", "/api/v1/users", &r, params, &np, allow), PL_OK);
    assert_ptr_equal(r->handler, api_users_list);
    assert_int_equal(np, 0);
    assert_int_equal(
        find("DELETE", "/api/v1/users/bob/sessions/web-1", &r, params, &np, allow),
        PL_OK);
    assert_ptr_equal(r->handler, api_sessions_kick_one);
    assert_int_equal(np, 2);
    assert_string_equal(params[0], "bob");
    assert_string_equal(params[1], "web-1");
    assert_int_equal(find("GET", "/healthz", &r, params, &np, allow), PL_OK);
    assert_true(r->flags & API_ROUTE_PUBLIC);
    assert_int_equal(find("GET", "/api/v1/users", &r, params, &np, allow), PL_OK);
    assert_false(r->flags & API_ROUTE_PUBLIC);
    static const char *const none[] = {
        "/API/v1/users",      "/api/v1/Users",      "/api/v1",
        "/api/v1/users/a/b",  "/healthz/x",         "/",
        "/api/v1/users.json", "/api/v1/openapi.yml"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        if (find("GET", none[i], &r, params, &np, allow) != PL_ENOENT)
            fail_msg("%s matched a route", none[i]);
}

static void test_other_methods_are_listed(void **state)
{
    (void)state;
    const struct api_route *r;
    const char *params[API_SEGS_MAX];
    size_t np;
    char allow[64];
    assert_int_equal(find("PUT", "/api/v1/users", &r, params, &np, allow), PL_ESTATE);
    assert_string_equal(allow, "GET, POST");
    assert_null(r);
    assert_int_equal(find("POST", "/api/v1/users/x", &r, params, &np, allow), PL_ESTATE);
    assert_string_equal(allow, "GET, PATCH, DELETE");
    assert_int_equal(find("HEAD", "/healthz", &r, params, &np, allow), PL_ESTATE);
    assert_string_equal(allow, "GET");
    assert_int_equal(find("get", "/healthz", &r, params, &np, allow), PL_ESTATE);
}

/* Every route is found by its own pattern (with {x} filled in), and only
 * public ones are the probes, the document and XEP-0156 discovery. */
static void test_every_route_is_reachable(void **state)
{
    (void)state;
    for (size_t i = 0; i < api_nroutes; i++) {
        char path[256] = "";
        const char *p = api_routes[i].pattern;
        while (*p) {
            if (*p == '{') {
                strcat(path, "x1");
                p = strchr(p, '}') + 1;
            } else {
                strncat(path, p, 1);
                p++;
            }
        }
        const struct api_route *r;
        const char *params[API_SEGS_MAX];
        size_t np;
        char allow[64];
        assert_int_equal(find(api_routes[i].method, path, &r, params, &np, allow), PL_OK);
        assert_ptr_equal(r, &api_routes[i]);
        int public = (api_routes[i].flags & API_ROUTE_PUBLIC) != 0;
        int probe = strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
                    strcmp(path, "/api/v1/openapi.yaml") == 0 ||
                    strncmp(path, "/.well-known/host-meta", 22) == 0;
        assert_int_equal(public, probe);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_splits_and_decodes),
        cmocka_unit_test(test_path_refuses_ambiguous_spellings),
        cmocka_unit_test(test_path_has_a_segment_bound),
        cmocka_unit_test(test_routes_match_exactly),
        cmocka_unit_test(test_other_methods_are_listed),
        cmocka_unit_test(test_every_route_is_reachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
