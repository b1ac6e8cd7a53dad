/* The pure parts of api_upload.c: which targets are uploads, Range parsing
 * against a file's size, and the Content-Disposition of a served file.
 * Includes api_upload.c to reach its statics; the PUT and GET themselves
 * are tested end to end (tests/e2e/55-upload.test.mjs). */
#include "../../../api/api_upload.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static void test_match(void **state)
{
    assert_true(api_upload_match("/upload/abc/def"));
    assert_false(api_upload_match("/upload"));
    assert_false(api_upload_match("/uploads/x"));
    assert_false(api_upload_match("/api/v1/uploads"));
    assert_false(api_upload_match(NULL));
}

static void test_ranges(void **state)
{
    uint64_t a = 0, b = 0;
    assert_int_equal(parse_range(NULL, 100, &a, &b), 0);
    assert_int_equal(parse_range("bytes=0-9", 100, &a, &b), 1);
    assert_true(a == 0 && b == 9);
    assert_int_equal(parse_range("bytes=90-", 100, &a, &b), 1);
    assert_true(a == 90 && b == 99);
    assert_int_equal(parse_range("bytes=50-500", 100, &a, &b), 1);
    assert_true(a == 50 && b == 99);
    assert_int_equal(parse_range("bytes=-10", 100, &a, &b), 1);
    assert_true(a == 90 && b == 99);
    assert_int_equal(parse_range("bytes=-1000", 100, &a, &b), 1);
    assert_true(a == 0 && b == 99);
    /* Unsatisfiable. */
    assert_int_equal(parse_range("bytes=100-", 100, &a, &b), -1);
    assert_int_equal(parse_range("bytes=-0", 100, &a, &b), -1);
    /* Forms served whole instead (RFC 9110 lets a server ignore Range). */
    assert_int_equal(parse_range("bytes=0-1,5-6", 100, &a, &b), 0);
    assert_int_equal(parse_range("bytes=9-3", 100, &a, &b), 0);
    assert_int_equal(parse_range("items=0-3", 100, &a, &b), 0);
    assert_int_equal(parse_range("bytes=x-3", 100, &a, &b), 0);
    assert_int_equal(parse_range("bytes=3-x", 100, &a, &b), 0);
    assert_int_equal(parse_range("bytes=-", 100, &a, &b), 0);
    assert_int_equal(parse_range("bytes= 1-2", 100, &a, &b), 0);
}

static void test_disposition(void **state)
{
    char *d = disposition("image/png", "cat pic.png");
    assert_string_equal(
        d, "inline; filename=\"cat pic.png\"; filename*=UTF-8''cat%20pic.png");
    free(d);
    d = disposition("text/html", "x\"y\\z.html");
    assert_string_equal(d, "attachment; filename=\"x_y_z.html\"; "
                           "filename*=UTF-8''x%22y%5Cz.html");
    free(d);
    d = disposition("application/pdf", "\xc3\xa9t\xc3\xa9.pdf");
    assert_string_equal(d, "attachment; filename=\"__t__.pdf\"; "
                           "filename*=UTF-8''%C3%A9t%C3%A9.pdf");
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_disposition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
