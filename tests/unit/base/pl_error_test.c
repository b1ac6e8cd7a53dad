/* pl_strerror: every code has its own text, unknown codes one of their own. */
#include "pl_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_every_code_distinct(void **state)
{
    const int codes[] = {PL_OK,      PL_ENOMEM,  PL_EINVAL, PL_ENOENT, PL_EIO,
                         PL_ETOOBIG, PL_EDENIED, PL_EEXIST, PL_ESTATE, PL_AGAIN};
    size_t n = sizeof(codes) / sizeof(codes[0]);
    for (size_t i = 0; i < n; i++) {
        const char *a = pl_strerror(codes[i]);
        assert_non_null(a);
        assert_string_not_equal(a, "unknown error");
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(a, pl_strerror(codes[j]));
    }
    assert_string_equal(pl_strerror(PL_OK), "ok");
    assert_string_equal(pl_strerror(PL_ENOMEM), "out of memory");
}

static void test_unknown_code(void **state)
{
    assert_string_equal(pl_strerror(-1000), "unknown error");
    assert_string_equal(pl_strerror(7), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_distinct),
        cmocka_unit_test(test_unknown_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
