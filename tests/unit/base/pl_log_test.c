/* pl_log: level names, the level filter, and the line format (connection
 * id, JID, message) as written to stderr, read back through a pipe. */
#include "pl_error.h"
#include "pl_log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void test_parse_level(void **state)
{
    enum pl_log_level l = PL_LOG_ERROR;
    assert_int_equal(pl_log_parse_level("debug", &l), PL_OK);
    assert_int_equal(l, PL_LOG_DEBUG);
    assert_int_equal(pl_log_parse_level("warn", &l), PL_OK);
    assert_int_equal(l, PL_LOG_WARN);
    assert_int_equal(pl_log_parse_level("error", &l), PL_OK);
    assert_int_equal(pl_log_parse_level("info", &l), PL_OK);
    assert_int_equal(l, PL_LOG_INFO);
    assert_int_equal(pl_log_parse_level("INFO", &l), PL_EINVAL);
    assert_int_equal(pl_log_parse_level("", &l), PL_EINVAL);
    assert_int_equal(l, PL_LOG_INFO); /* untouched on failure */
}

/* Runs the logging calls with stderr on a pipe; returns what was written. */
static void capture(char *out, size_t outlen, void (*calls)(void))
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    close(fds[1]);
    calls();
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    ssize_t n = read(fds[0], out, outlen - 1);
    close(fds[0]);
    out[n > 0 ? n : 0] = '\0';
}

static void log_some(void)
{
    pl_log_set_level(PL_LOG_WARN);
    pl_info(7, "alice@localhost", "not shown %d", 1);
    pl_warn(7, "alice@localhost/web", "shown %d", 2);
    pl_error(0, NULL, "no connection");
}

static void test_filter_and_format(void **state)
{
    char buf[2048];
    capture(buf, sizeof(buf), log_some);
    assert_null(strstr(buf, "not shown"));
    const char *w = strstr(buf, "WARN  conn=7 jid=alice@localhost/web shown 2\n");
    assert_non_null(w);
    assert_non_null(strstr(buf, "ERROR conn=0 jid=- no connection\n"));
    /* Each line starts with a UTC time with milliseconds. */
    assert_true(strlen(buf) > 24);
    assert_int_equal(buf[4], '-');
    assert_int_equal(buf[10], 'T');
    assert_int_equal(buf[23], 'Z');
}

static void log_long(void)
{
    pl_log_set_level(PL_LOG_DEBUG);
    char big[4000];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pl_debug(1, NULL, "%s", big);
}

/* A message longer than the line buffer is cut, never overflows. */
static void test_long_message_cut(void **state)
{
    char buf[8192];
    capture(buf, sizeof(buf), log_long);
    char *nl = strchr(buf, '\n');
    assert_non_null(nl);
    size_t ys = 0;
    for (char *p = buf; p < nl; p++)
        ys += *p == 'y';
    assert_int_equal(ys, 1023);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_level),
        cmocka_unit_test(test_filter_and_format),
        cmocka_unit_test(test_long_message_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
