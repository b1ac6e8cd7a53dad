#include "ws_server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void test_development_rule(void **state)
{
    assert_true(ws_origin_allowed(NULL, "http://localhost"));
    assert_true(ws_origin_allowed(NULL, "http://localhost:3000"));
    assert_true(ws_origin_allowed(NULL, "http://127.0.0.1:8080"));
    assert_false(ws_origin_allowed(NULL, "http://localhost.evil.example"));
    assert_false(ws_origin_allowed(NULL, "http://localhost:30x0"));
    assert_false(ws_origin_allowed(NULL, "http://localhost:"));
    assert_false(ws_origin_allowed(NULL, "https://evil.example"));
    assert_false(ws_origin_allowed(NULL, "http://127.0.0.10"));
}

static void test_configured_list(void **state)
{
    const char *list = "https://chat.example.com, https://admin.example.com";
    assert_true(ws_origin_allowed(list, "https://chat.example.com"));
    assert_true(ws_origin_allowed(list, "https://admin.example.com"));
    assert_false(ws_origin_allowed(list, "https://chat.example.co"));
    assert_false(ws_origin_allowed(list, "https://chat.example.com.evil"));
    assert_false(ws_origin_allowed(list, "http://localhost:3000"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_development_rule),
        cmocka_unit_test(test_configured_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
