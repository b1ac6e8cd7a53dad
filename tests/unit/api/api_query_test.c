/* Query parameters and the value checks: unknown and repeated names,
 * escapes, limit's default, cap and floor, ids, times, uuids, usernames. */
#include "api_internal.h"
#include "pl_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *const allowed[] = {"q", "limit", "cursor", NULL};

static void test_query_decodes(void **state)
{
    (void)state;
    struct api_query q;
    const char *bad;
    assert_int_equal(api_query_parse("q=a+b%26c&limit=5&&cursor", allowed, &q, &bad),
                     PL_OK);
    assert_int_equal(q.n, 3);
    assert_string_equal(api_query_get(&q, "q"), "a b&c");
    assert_string_equal(api_query_get(&q, "limit"), "5");
    assert_string_equal(api_query_get(&q, "cursor"), "");
    assert_null(api_query_get(&q, "other"));
    api_query_free(&q);
    assert_int_equal(api_query_parse(NULL, allowed, &q, &bad), PL_OK);
    assert_int_equal(q.n, 0);
    assert_int_equal(api_query_parse("", NULL, &q, &bad), PL_OK);
    api_query_free(&q);
}

static void test_query_refuses(void **state)
{
    (void)state;
    struct api_query q;
    const char *bad;
    assert_int_equal(api_query_parse("q=1&nope=2", allowed, &q, &bad), PL_ENOENT);
    assert_string_equal(bad, "nope");
    api_query_free(&q);
    assert_int_equal(api_query_parse("Q=1", allowed, &q, &bad), PL_ENOENT);
    assert_string_equal(bad, "Q");
    api_query_free(&q);
    assert_int_equal(api_query_parse("q=1&q=2", allowed, &q, &bad), PL_EINVAL);
    assert_string_equal(bad, "q");
    api_query_free(&q);
    static const char *const malformed[] = {"q=%",   "q=%4",    "q=%zz",
                                            "q=%00", "q=a%0ab", "q%=1"};
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        assert_int_equal(api_query_parse(malformed[i], allowed, &q, &bad), PL_EINVAL);
        assert_null(bad);
        api_query_free(&q);
    }
    assert_int_equal(api_query_parse("x", NULL, &q, &bad), PL_ENOENT);
    api_query_free(&q);
}

static int limit_of(const char *raw, int *limit)
{
    struct api_query q;
    const char *bad;
    assert_int_equal(api_query_parse(raw, allowed, &q, &bad), PL_OK);
    int rc = api_query_limit(&q, limit);
    api_query_free(&q);
    return rc;
}

static void test_limit(void **state)
{
    (void)state;
    int limit;
    assert_int_equal(limit_of("", &limit), PL_OK);
    assert_int_equal(limit, 50);
    assert_int_equal(limit_of("limit=1", &limit), PL_OK);
    assert_int_equal(limit, 1);
    assert_int_equal(limit_of("limit=500", &limit), PL_OK);
    assert_int_equal(limit, 500);
    assert_int_equal(limit_of("limit=501", &limit), PL_OK);
    assert_int_equal(limit, 500);
    assert_int_equal(limit_of("limit=999999999999999999", &limit), PL_OK);
    assert_int_equal(limit, 500);
    static const char *const bad[] = {
        "limit=0",   "limit=-1",  "limit=",   "limit=abc",
        "limit=1.5", "limit=1e3", "limit=+5", "limit=9999999999999999999",
        "limit= 5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (limit_of(bad[i], &limit) != PL_EINVAL)
            fail_msg("%s was taken", bad[i]);
}

static void test_values(void **state)
{
    (void)state;
    int64_t id;
    assert_int_equal(api_parse_id("42", &id), PL_OK);
    assert_int_equal(id, 42);
    static const char *const bad_ids[] = {
        "", "0", "-1", "01", "1a", "1 ", "9999999999999999999"};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++)
        assert_int_equal(api_parse_id(bad_ids[i], &id), PL_EINVAL);

    static const char *const times[] = {
        "2026-01-31", "2026-01-31T12:00:00Z", "2026-01-31t12:00:00.123456z",
        "2026-01-31T12:00:00+05:30", "2026-01-31T23:59:60-00:00"};
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
        assert_int_equal(api_parse_time(times[i]), PL_OK);
    static const char *const bad_times[] = {"",
                                            "yesterday",
                                            "2026-13-01",
                                            "2026-01-32",
                                            "2026-1-1",
                                            "2026-01-31T12:00",
                                            "2026-01-31T12:00:00",
                                            "2026-01-31T25:00:00Z",
                                            "2026-01-31T12:00:00.Z",
                                            "2026-01-31 12:00:00Z",
                                            "2026-01-31T12:00:00Z'",
                                            "2026-01-31'; DROP TABLE users; --"};
    for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++)
        if (api_parse_time(bad_times[i]) != PL_EINVAL)
            fail_msg("%s was taken for a time", bad_times[i]);

    assert_int_equal(api_parse_uuid("0b7e8d4e-0000-4000-8000-00000000000a"), PL_OK);
    assert_int_equal(api_parse_uuid("0B7E8D4E-0000-4000-8000-00000000000A"), PL_EINVAL);
    assert_int_equal(api_parse_uuid("0b7e8d4e00004000800000000000000a"), PL_EINVAL);
    assert_int_equal(api_parse_uuid("0b7e8d4e-0000-4000-8000-00000000000a0"), PL_EINVAL);

    assert_int_equal(api_parse_username("alice"), PL_OK);
    assert_int_equal(api_parse_username("a.b-c_d;e%f"), PL_OK);
    static const char *const bad_users[] = {"",    "Alice", "a b", "a@b", "a/b", "a:b",
                                            "a'b", "a\"b",  "a&b", "a<b", "a>b"};
    for (size_t i = 0; i < sizeof(bad_users) / sizeof(bad_users[0]); i++)
        assert_int_equal(api_parse_username(bad_users[i]), PL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_decodes),
        cmocka_unit_test(test_query_refuses),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
