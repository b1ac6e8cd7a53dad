/* What tests/unit/chat/chat_fixture.h takes from cmocka, for the chat
 * harnesses that include that fixture (chat_stream_fuzz.c) without
 * linking cmocka: a check that fails is a broken harness set-up, so it
 * aborts, which libFuzzer reports as a crash. Found before the real
 * <cmocka.h> by the include path of the chat_* harnesses only. */
#ifndef PARLEY_FUZZ_CMOCKA_SHIM_H
#define PARLEY_FUZZ_CMOCKA_SHIM_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define fx_shim_check(c, what)                                                           \
    do {                                                                                 \
        if (!(c)) {                                                                      \
            fprintf(stderr, "%s:%d: fixture check failed: %s\n", __FILE__, __LINE__,     \
                    what);                                                               \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#define assert_true(c) fx_shim_check((c), #c)
#define assert_false(c) fx_shim_check(!(c), "!" #c)
#define assert_non_null(p) fx_shim_check((p) != NULL, #p " != NULL")
#define assert_null(p) fx_shim_check((p) == NULL, #p " == NULL")
#define assert_int_equal(a, b) fx_shim_check((intmax_t)(a) == (intmax_t)(b), #a " == " #b)
#define assert_ptr_equal(a, b)                                                           \
    fx_shim_check((const void *)(a) == (const void *)(b), #a " == " #b)
#define assert_string_equal(a, b)                                                        \
    fx_shim_check((a) != NULL && (b) != NULL && strcmp((a), (b)) == 0, #a " eq " #b)
#define fail_msg(...)                                                                    \
    do {                                                                                 \
        fprintf(stderr, __VA_ARGS__);                                                    \
        fputc('\n', stderr);                                                             \
        abort();                                                                         \
    } while (0)

#endif
