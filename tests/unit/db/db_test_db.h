/* The database the db tests run against. scripts/test names one in
 * PARLEY_TEST_DATABASE_URL and sets PARLEY_TEST_REQUIRE_DB=1: then a test
 * that finds no database fails instead of skipping, so a broken set-up
 * cannot pass as "skipped". Run by hand without either, the database tests
 * skip. Include after cmocka.h. */
#ifndef DB_TEST_DB_H
#define DB_TEST_DB_H

#include <stdlib.h>
#include <string.h>

/* 1 when the environment asks for the database tests to run. */
static inline int db_test_required(void)
{
    const char *req = getenv("PARLEY_TEST_REQUIRE_DB");
    return req && *req && strcmp(req, "0") != 0;
}

/* The URL, or NULL to skip; fails the calling setup when required and
 * missing. */
static inline const char *db_test_url(void)
{
    const char *url = getenv("PARLEY_TEST_DATABASE_URL");
    if (url && *url)
        return url;
    if (db_test_required())
        fail_msg("PARLEY_TEST_REQUIRE_DB is set but PARLEY_TEST_DATABASE_URL is not: "
                 "the database tests would be skipped");
    return NULL;
}

#endif
