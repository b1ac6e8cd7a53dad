/* The log sink: level names, the minimum level, and the line format
 * (time, level, connection id, JID, message) on stderr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pl_error.h"
#include "pl_log.h"

/* Runs fn with stderr going to a file; returns what was written. */
static char *capture(void (*fn)(void))
{
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    dup2(fileno(tmp), STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    long n = ftell(tmp);
    if (n < 0)
        n = 0;
    rewind(tmp);
    char *out = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(out, 1, (size_t)n, tmp), (size_t)n);
    fclose(tmp);
    return out;
}

static void test_parse_level(void **state)
{
    enum pl_log_level l = PL_LOG_ERROR;
    assert_int_equal(pl_log_parse_level("debug", &l), PL_OK);
    assert_int_equal(l, PL_LOG_DEBUG);
    assert_int_equal(pl_log_parse_level("info", &l), PL_OK);
    assert_int_equal(l, PL_LOG_INFO);
    assert_int_equal(pl_log_parse_level("warn", &l), PL_OK);
    assert_int_equal(l, PL_LOG_WARN);
    assert_int_equal(pl_log_parse_level("error", &l), PL_OK);
    assert_int_equal(l, PL_LOG_ERROR);
    assert_int_equal(pl_log_parse_level("INFO", &l), PL_EINVAL);
    assert_int_equal(pl_log_parse_level("warning", &l), PL_EINVAL);
    assert_int_equal(pl_log_parse_level("", &l), PL_EINVAL);
    assert_int_equal(l, PL_LOG_ERROR); /* untouched on failure */
}

static void write_lines(void)
{
    pl_info(7, "alice@localhost/web", "hello %d", 42);
    pl_debug(1, NULL, "not shown at info");
    pl_warn(0, NULL, "no connection");
}

static void test_format(void **state)
{
    pl_log_set_level(PL_LOG_INFO);
    char *out = capture(write_lines);
    /* 2026-01-02T03:04:05.678Z INFO  conn=7 jid=alice@localhost/web hello 42 */
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_int_equal(out[4], '-');
    assert_int_equal(out[10], 'T');
    assert_int_equal(out[23], 'Z');
    assert_memory_equal(out + 24, " INFO  conn=7 jid=alice@localhost/web hello 42\n",
                        strlen(" INFO  conn=7 jid=alice@localhost/web hello 42\n"));
    assert_null(strstr(out, "not shown"));
    assert_non_null(strstr(nl + 1, " WARN  conn=0 jid=- no connection\n"));
    free(out);
}

static void write_debug(void)
{
    pl_debug(3, NULL, "now shown");
    pl_error(3, NULL, "%s", "always");
}

static void test_levels(void **state)
{
    pl_log_set_level(PL_LOG_DEBUG);
    char *out = capture(write_debug);
    assert_non_null(strstr(out, " DEBUG conn=3 jid=- now shown\n"));
    assert_non_null(strstr(out, " ERROR conn=3 jid=- always\n"));
    free(out);
    pl_log_set_level(PL_LOG_ERROR);
    out = capture(write_lines);
    assert_string_equal(out, "");
    free(out);
    pl_log_set_level(PL_LOG_INFO);
}

static void write_long(void)
{
    char big[3000];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pl_info(0, NULL, "%s", big);
}

static void test_long_message_truncated(void **state)
{
    char *out = capture(write_long);
    /* One line still, cut at the sink's 1 KB message buffer. */
    assert_non_null(strchr(out, '\n'));
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    assert_true(strlen(out) < 1100);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_level),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_long_message_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
