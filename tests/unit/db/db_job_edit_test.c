/* The edit statement's pure parts: the reaction set as an array literal
 * (quotes and backslashes escaped, the empty set "{}") and freeing an
 * edit. The SQL it calls is tested by tests/sql/30-edits.sql and end to
 * end by tests/e2e/50-54. Includes db_job_edit.c to reach its statics. */
#include "../../../db/db_job_edit.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void check_array(const char *joined, const char *want)
{
    struct pl_buf arr = PL_BUF_INIT;
    assert_int_equal(reactions_array(joined, &arr), PL_OK);
    assert_int_equal(pl_buf_append(&arr, "", 1), PL_OK);
    assert_string_equal(arr.data, want);
    pl_buf_free(&arr);
}

static void test_reactions_array(void **state)
{
    (void)state;
    check_array("", "{}");
    check_array(NULL, "{}");
    check_array("\xf0\x9f\x91\x8d", "{\"\xf0\x9f\x91\x8d\"}");
    check_array("a\x1f"
                "b\x1f"
                "c",
                "{\"a\",\"b\",\"c\"}");
    check_array("q\"\x1f\\", "{\"q\\\"\",\"\\\\\"}");
}

static void test_edit_free_clears(void **state)
{
    (void)state;
    struct db_edit e = {0};
    e.kind = strdup("react");
    e.ref = strdup("m1");
    e.reactions = strdup("x");
    e.refused = strdup("item-not-found");
    assert_true(DB_EDIT_SET(&e));
    db_edit_free(&e);
    assert_null(e.kind);
    assert_null(e.refused);
    assert_false(DB_EDIT_SET(&e));
    db_edit_free(&e); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reactions_array),
        cmocka_unit_test(test_edit_free_clears),
    };
    return cmocka_run_group_tests_name("db_job_edit", tests, NULL, NULL);
}
