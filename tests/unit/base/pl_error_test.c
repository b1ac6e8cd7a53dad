/* Error codes: negative and distinct, each with its own description. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pl_error.h"

static void test_descriptions(void **state)
{
    const int codes[] = {PL_OK,      PL_ENOMEM,  PL_EINVAL, PL_ENOENT, PL_EIO,
                         PL_ETOOBIG, PL_EDENIED, PL_EEXIST, PL_ESTATE, PL_AGAIN};
    const size_t n = sizeof(codes) / sizeof(codes[0]);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            assert_true(codes[i] < 0);
        const char *s = pl_strerror(codes[i]);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown error");
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(codes[i], codes[j]);
            assert_string_not_equal(s, pl_strerror(codes[j]));
        }
    }
    assert_string_equal(pl_strerror(PL_OK), "ok");
    assert_string_equal(pl_strerror(PL_ETOOBIG), "too big");
    assert_string_equal(pl_strerror(1), "unknown error");
    assert_string_equal(pl_strerror(-1000), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_descriptions)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
