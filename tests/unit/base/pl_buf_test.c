/* The growable buffer: always NUL-terminated, binary-safe, growth,
 * formatting, handing the bytes over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "pl_buf.h"
#include "pl_error.h"

static void test_empty(void **state)
{
    struct pl_buf b = PL_BUF_INIT;
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    /* Appending nothing still gives a terminated string. */
    assert_int_equal(pl_buf_append(&b, "", 0), PL_OK);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    pl_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    /* Reset and free of a buffer never used. */
    pl_buf_reset(&b);
    pl_buf_free(&b);
    assert_null(b.data);
}

static void test_append(void **state)
{
    struct pl_buf b = PL_BUF_INIT;
    assert_int_equal(pl_buf_append_str(&b, "hello"), PL_OK);
    assert_int_equal(pl_buf_append(&b, ", world!!", 7), PL_OK);
    assert_int_equal(b.len, 12);
    assert_string_equal(b.data, "hello, world");
    /* Binary data with NUL bytes is kept, and terminated after. */
    assert_int_equal(pl_buf_append(&b, "a\0b", 3), PL_OK);
    assert_int_equal(b.len, 15);
    assert_memory_equal(b.data + 12, "a\0b", 3);
    assert_int_equal(b.data[15], '\0');
    pl_buf_free(&b);
}

static void test_growth(void **state)
{
    struct pl_buf b = PL_BUF_INIT;
    assert_int_equal(pl_buf_reserve(&b, 10), PL_OK);
    assert_int_equal(b.cap, 64); /* the first allocation */
    size_t caps = 0, last = b.cap;
    char chunk[100];
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(pl_buf_append(&b, chunk, sizeof(chunk)), PL_OK);
        assert_true(b.cap > b.len);
        assert_int_equal(b.data[b.len], '\0');
        if (b.cap != last) {
            /* Doubling: few reallocations for 100 KB. */
            assert_true(b.cap >= 2 * last);
            last = b.cap;
            caps++;
        }
    }
    assert_int_equal(b.len, 100000);
    assert_true(caps <= 12);
    /* A reservation within the capacity changes nothing. */
    char *data = b.data;
    assert_int_equal(pl_buf_reserve(&b, b.cap - b.len - 1), PL_OK);
    assert_ptr_equal(b.data, data);
    pl_buf_free(&b);
}

static void test_appendf(void **state)
{
    struct pl_buf b = PL_BUF_INIT;
    assert_int_equal(pl_buf_appendf(&b, "%s=%d", "n", 42), PL_OK);
    assert_int_equal(pl_buf_appendf(&b, ";%05.1f", 3.14159), PL_OK);
    assert_string_equal(b.data, "n=42;003.1");
    assert_int_equal(b.len, strlen("n=42;003.1"));
    /* Longer than the first allocation in one go. */
    assert_int_equal(pl_buf_appendf(&b, "%300s", "end"), PL_OK);
    assert_int_equal(b.len, 10 + 300);
    assert_string_equal(b.data + b.len - 3, "end");
    pl_buf_free(&b);
}

static void test_steal_and_reset(void **state)
{
    struct pl_buf b = PL_BUF_INIT;
    size_t len = 99;
    /* Stealing an unused buffer gives an empty string, not NULL. */
    char *s = pl_buf_steal(&b, &len);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    pl_buf_append_str(&b, "abc");
    s = pl_buf_steal(&b, &len);
    assert_string_equal(s, "abc");
    assert_int_equal(len, 3);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    free(s);
    /* Reset keeps the allocation for the next use. */
    pl_buf_append_str(&b, "0123456789");
    size_t cap = b.cap;
    pl_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(b.cap, cap);
    pl_buf_append_str(&b, "z");
    assert_string_equal(b.data, "z");
    s = pl_buf_steal(&b, NULL);
    assert_string_equal(s, "z");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),           cmocka_unit_test(test_append),
        cmocka_unit_test(test_growth),          cmocka_unit_test(test_appendf),
        cmocka_unit_test(test_steal_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
