#include "pl_error.h"
#include "pl_map.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

static void test_put_get_remove(void **state)
{
    struct pl_map m = PL_MAP_INIT;
    int values[1000];
    char key[32];
    for (int i = 0; i < 1000; i++) {
        values[i] = i;
        snprintf(key, sizeof(key), "user%d@localhost", i);
        assert_int_equal(pl_map_put(&m, key, &values[i]), PL_OK);
    }
    assert_int_equal(m.count, 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "user%d@localhost", i);
        int *v = pl_map_get(&m, key);
        assert_non_null(v);
        assert_int_equal(*v, i);
    }
    assert_null(pl_map_get(&m, "nobody"));
    assert_ptr_equal(pl_map_remove(&m, "user7@localhost"), &values[7]);
    assert_null(pl_map_get(&m, "user7@localhost"));
    assert_null(pl_map_remove(&m, "user7@localhost"));
    assert_int_equal(m.count, 999);
    pl_map_free(&m);
}

static void test_replace(void **state)
{
    struct pl_map m = PL_MAP_INIT;
    int a = 1, b = 2;
    assert_int_equal(pl_map_put(&m, "k", &a), PL_OK);
    assert_int_equal(pl_map_put(&m, "k", &b), PL_OK);
    assert_int_equal(m.count, 1);
    assert_ptr_equal(pl_map_get(&m, "k"), &b);
    pl_map_free(&m);
}

static void count_entry(const char *key, void *value, void *arg)
{
    (*(int *)arg) += *(int *)value;
}

static void test_each_and_empty(void **state)
{
    struct pl_map m = PL_MAP_INIT;
    assert_null(pl_map_get(&m, "x"));
    assert_null(pl_map_remove(&m, "x"));
    int one = 1, sum = 0;
    pl_map_put(&m, "a", &one);
    pl_map_put(&m, "b", &one);
    pl_map_each(&m, count_entry, &sum);
    assert_int_equal(sum, 2);
    pl_map_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_remove),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_each_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
