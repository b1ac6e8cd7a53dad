/* The web admin's files (api_static.c): a file inside the folder is served
 * with its type, CSP, caching and ETag (304 when it matches); the index at
 * "/"; nothing outside the folder, whether through a symbolic link (to a file
 * or to a directory), a hidden file, an unknown type, a directory or a
 * vendor path other than uPlot's; /api/... never falls back to a file. */
#include "api_internal.h"
#include "pl_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char top[256], web[300], mods[300];

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    char path[512];
    snprintf(top, sizeof(top), "/tmp/parley-static-XXXXXX");
    if (!mkdtemp(top))
        return -1;
    snprintf(web, sizeof(web), "%s/web", top);
    snprintf(mods, sizeof(mods), "%s/node_modules", top);
    mkdir(web, 0755);
    snprintf(path, sizeof(path), "%s/pages", web);
    mkdir(path, 0755);
    mkdir(mods, 0755);
    snprintf(path, sizeof(path), "%s/uplot", mods);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/uplot/dist", mods);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/other", mods);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/index.html", web);
    put(path, "<!doctype html><title>x</title>");
    snprintf(path, sizeof(path), "%s/pages/users.js", web);
    put(path, "export {};\n");
    snprintf(path, sizeof(path), "%s/.secret.js", web);
    put(path, "hidden");
    snprintf(path, sizeof(path), "%s/notes.txt", web);
    put(path, "no type");
    snprintf(path, sizeof(path), "%s/secret.js", top);
    put(path, "outside");
    snprintf(path, sizeof(path), "%s/uplot/dist/uPlot.esm.js", mods);
    put(path, "export default 1;\n");
    snprintf(path, sizeof(path), "%s/other/x.js", mods);
    put(path, "other package");
    /* Links out of the folder: to a file, and to a directory. */
    char target[512];
    snprintf(target, sizeof(target), "%s/secret.js", top);
    snprintf(path, sizeof(path), "%s/link.js", web);
    if (symlink(target, path) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/up", web);
    if (symlink(top, path) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    return system(cmd) == 0 ? 0 : -1;
}

/* GET of raw (a path api_path_parse accepts) into rep; returns the code. */
static int get(const char *raw, const char *inm, struct api_reply *rep)
{
    struct api_path p;
    memset(rep, 0, sizeof(*rep));
    assert_int_equal(api_path_parse(raw, strlen(raw), &p), PL_OK);
    int rc = api_static_reply(web, mods, &p, inm, rep);
    api_path_free(&p);
    return rc;
}

static void test_serves_files_with_headers(void **state)
{
    (void)state;
    struct api_reply rep;
    assert_int_equal(get("/", NULL, &rep), PL_OK);
    assert_int_equal(rep.status, 200);
    assert_string_equal(rep.content_type, "text/html; charset=utf-8");
    assert_non_null(strstr(rep.csp, "script-src 'self'"));
    assert_null(strstr(rep.csp, "unsafe-inline"));
    assert_string_equal(rep.cache_control, "no-cache");
    assert_int_equal(rep.len, strlen("<!doctype html><title>x</title>"));
    assert_memory_equal(rep.body, "<!doctype html>", 15);
    char etag[48];
    snprintf(etag, sizeof(etag), "%s", rep.etag);
    assert_true(etag[0] == '"');
    api_reply_free(&rep);
    assert_int_equal(get("/", etag, &rep), PL_OK);
    assert_int_equal(rep.status, 304);
    assert_null(rep.body);
    api_reply_free(&rep);
    assert_int_equal(get("/pages/users.js", NULL, &rep), PL_OK);
    assert_string_equal(rep.content_type, "text/javascript; charset=utf-8");
    api_reply_free(&rep);
    assert_int_equal(get("/vendor/uplot/uPlot.esm.js", NULL, &rep), PL_OK);
    assert_int_equal(rep.status, 200);
    assert_int_equal(rep.len, strlen("export default 1;\n"));
    api_reply_free(&rep);
}

static void test_nothing_outside_the_folder(void **state)
{
    (void)state;
    struct api_reply rep;
    static const char *const refused[] = {
        "/link.js",           /* a symbolic link to a file outside */
        "/up/secret.js",      /* through a link to a directory outside */
        "/.secret.js",        /* hidden */
        "/notes.txt",         /* a type not served */
        "/pages",             /* a directory */
        "/missing.js",        /* nothing there */
        "/vendor/other/x.js", /* only uPlot's files */
        "/vendor/uplot",      /* not a file */
        "/api/v1/index.html", /* the API's paths stay the API's */
        "/api",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        int rc = get(refused[i], NULL, &rep);
        if (rc != PL_ENOENT)
            fail_msg("%s was served (rc %d)", refused[i], rc);
        assert_null(rep.body);
        assert_int_equal(rep.status, 0);
    }
    /* No folder configured: nothing at all. */
    struct api_path p;
    assert_int_equal(api_path_parse("/", 1, &p), PL_OK);
    memset(&rep, 0, sizeof(rep));
    assert_int_equal(api_static_reply(NULL, NULL, &p, NULL, &rep), PL_ENOENT);
    api_path_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serves_files_with_headers),
        cmocka_unit_test(test_nothing_outside_the_folder),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
