/* The parley_user_state payload parser (no database needed; the listener
 * itself is exercised by db_store_test against PostgreSQL). */
#include "db_internal.h"
#include "pl_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

static void test_parse_disabled_and_enabled(void **state)
{
    (void)state;
    char *name = NULL;
    int disabled = -1;
    assert_int_equal(db_user_state_parse("alice:1", &name, &disabled), PL_OK);
    assert_string_equal(name, "alice");
    assert_int_equal(disabled, 1);
    free(name);
    assert_int_equal(db_user_state_parse("bob.smith:0", &name, &disabled), PL_OK);
    assert_string_equal(name, "bob.smith");
    assert_int_equal(disabled, 0);
    free(name);
}

static void test_parse_refuses_garbage(void **state)
{
    (void)state;
    static const char *const bad[] = {"",        "alice",    "alice:",   ":1",
                                      "alice:2", "alice:10", "alice:1 ", "alice;1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *name = (char *)1;
        int disabled = -1;
        assert_int_equal(db_user_state_parse(bad[i], &name, &disabled), PL_EINVAL);
        assert_null(name);
        assert_int_equal(disabled, -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_disabled_and_enabled),
        cmocka_unit_test(test_parse_refuses_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
