/* JSON bodies against a declared field spec (api_body.c): unknown members,
 * wrong types, missing required ones and duplicate keys are one 400 naming
 * the field, in one place. */
#include "api_internal.h"
#include "pl_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const struct api_field fields[] = {
    {"username", API_FIELD_STRING, 1},
    {"display_name", API_FIELD_STRING_NULL, 0},
    {"disabled", API_FIELD_BOOL, 0},
};

/* Parses body; returns the status of the problem (0: parsed) and frees. */
static int body_status(const char *body, const char **field)
{
    struct api_request req = {.body = body, .body_len = body ? strlen(body) : 0};
    struct api_reply rep = {0};
    json_t *root, *v[3];
    int rc = api_body_parse(&req, fields, 3, &root, v, &rep);
    int status = rc == PL_OK ? 0 : rep.status;
    static char keep[64];
    keep[0] = '\0';
    if (rep.body) {
        json_t *doc = json_loads(rep.body, 0, NULL);
        assert_non_null(doc);
        const char *f = json_string_value(json_object_get(doc, "field"));
        if (f)
            snprintf(keep, sizeof(keep), "%s", f);
        assert_string_equal(json_string_value(json_object_get(doc, "title")) ? "t" : "",
                            "t");
        json_decref(doc);
    }
    *field = keep;
    json_decref(root);
    api_reply_free(&rep);
    return status;
}

static void test_body_spec(void **state)
{
    (void)state;
    const char *field;
    assert_int_equal(body_status("{\"username\":\"a\",\"display_name\":null}", &field),
                     0);
    assert_int_equal(body_status("{\"username\":\"a\",\"disabled\":true}", &field), 0);
    assert_int_equal(body_status("{\"username\":\"a\",\"admin\":true}", &field), 400);
    assert_string_equal(field, "admin");
    assert_int_equal(body_status("{\"username\":1}", &field), 400);
    assert_string_equal(field, "username");
    assert_int_equal(body_status("{\"username\":\"a\",\"disabled\":\"no\"}", &field),
                     400);
    assert_string_equal(field, "disabled");
    assert_int_equal(body_status("{\"display_name\":\"x\"}", &field), 400);
    assert_string_equal(field, "username");
    assert_int_equal(body_status("{\"username\":\"a\",\"username\":\"b\"}", &field), 400);
    assert_int_equal(body_status("[1]", &field), 400);
    assert_int_equal(body_status("{", &field), 400);
    assert_int_equal(body_status("", &field), 400);
    assert_int_equal(body_status(NULL, &field), 400);
}

/* A body whose bytes are not UTF-8: jansson's error text quotes them, and
 * the problem document must still be JSON (found by api_body_fuzz). */
static void test_body_not_utf8(void **state)
{
    (void)state;
    struct api_request req = {.body = "{\"us\\\xcc\x91\x9e", .body_len = 8};
    struct api_reply rep = {0};
    json_t *root, *v[3];
    assert_int_equal(api_body_parse(&req, fields, 3, &root, v, &rep), PL_EINVAL);
    assert_int_equal(rep.status, 400);
    assert_non_null(rep.body);
    json_t *doc = json_loads(rep.body, 0, NULL);
    assert_non_null(doc);
    assert_non_null(json_string_value(json_object_get(doc, "detail")));
    json_decref(doc);
    api_reply_free(&rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_spec),
        cmocka_unit_test(test_body_not_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
