/* pl_frame: copies, headroom, reference counting (ASan reports a double free
 * or a leak if the count is wrong; the assertions check the bytes). */
#include "pl_frame.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_new_copies_and_terminates(void **state)
{
    char src[] = "<message/>";
    struct pl_frame *f = pl_frame_new(src, strlen(src));
    assert_non_null(f);
    src[1] = 'X'; /* the frame has its own copy */
    assert_int_equal(f->len, 10);
    assert_string_equal(pl_frame_data(f), "<message/>");
    assert_ptr_equal(pl_frame_payload(f), (unsigned char *)pl_frame_data(f));
    assert_true(pl_frame_payload(f) - f->mem == PL_FRAME_HEADROOM);
    pl_frame_unref(f);
}

static void test_empty_frame(void **state)
{
    struct pl_frame *f = pl_frame_new(NULL, 0);
    assert_non_null(f);
    assert_int_equal(f->len, 0);
    assert_string_equal(pl_frame_data(f), "");
    pl_frame_unref(f);
}

static void test_refs_keep_the_frame_until_the_last(void **state)
{
    struct pl_frame *f = pl_frame_new("abc", 3);
    assert_ptr_equal(pl_frame_ref(f), f);
    assert_ptr_equal(pl_frame_ref(f), f);
    assert_int_equal(f->refs, 3);
    pl_frame_unref(f);
    pl_frame_unref(f);
    assert_int_equal(f->refs, 1);
    /* The headroom is scratch space: writing it leaves the data alone. */
    memset(f->mem, 0xff, PL_FRAME_HEADROOM);
    assert_string_equal(pl_frame_data(f), "abc");
    pl_frame_unref(f);
    pl_frame_unref(NULL);
}

static void test_refuses_an_impossible_size(void **state)
{
    assert_null(pl_frame_new("x", SIZE_MAX - 8));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_copies_and_terminates),
        cmocka_unit_test(test_empty_frame),
        cmocka_unit_test(test_refs_keep_the_frame_until_the_last),
        cmocka_unit_test(test_refuses_an_impossible_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
