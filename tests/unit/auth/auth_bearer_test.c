/* The admin API's Bearer token extraction. */
#include "auth_bearer.h"
#include "pl_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

static void test_bearer(void **state)
{
    (void)state;
    char *t = NULL;
    assert_int_equal(auth_bearer_token("Bearer abc.def.ghi", &t), PL_OK);
    assert_string_equal(t, "abc.def.ghi");
    free(t);
    assert_int_equal(auth_bearer_token("  bearer \t x.y.z  ", &t), PL_OK);
    assert_string_equal(t, "x.y.z");
    free(t);
    static const char *const none[] = {
        "",           "Bearer", "Bearer ", "Basic YWxhZGRpbjo=", "Bearerx.y.z",
        "Bearer a b", "Token a"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        t = (char *)1;
        assert_int_equal(auth_bearer_token(none[i], &t), PL_ENOENT);
        assert_null(t);
    }
    assert_int_equal(auth_bearer_token(NULL, &t), PL_ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_bearer)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
