/* The upload SQL through db_upload.c against PARLEY_TEST_DATABASE_URL: a
 * slot within the quota and one over it (open slots count), a PUT claimed
 * once, refused for another size or type, the file found only once
 * stored, a failed PUT freeing the slot, the room link trigger, the admin
 * list with its total and the audited delete. Includes db_upload.c to
 * reach its statics. */
#include "../../../db/db_upload.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_test_db.h"

struct ctx {
    PGconn *conn;
    struct db_read_pool *pool;
    char owner[64], key1[40], key2[40], key3[40];
};

static int setup(void **state)
{
    *state = NULL;
    const char *url = db_test_url();
    if (!url)
        return 0;
    const char *file = __FILE__;
    const char *cut = strstr(file, "tests/unit/db/");
    char dir[4096], err[512];
    snprintf(dir, sizeof(dir), "%.*smigrations", (int)(cut - file), file);
    if (db_migrate(url, dir, err, sizeof(err)) != PL_OK)
        fail_msg("db_migrate: %s", err);
    struct ctx *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    int ok;
    c->conn = db_conn_open(url, &ok);
    assert_true(ok);
    assert_int_equal(db_jobs_prepare(c->conn), PL_OK);
    struct db_read_config cfg = {.conninfo = url, .size = 2};
    assert_int_equal(db_read_open(&cfg, &c->pool), PL_OK);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long tag = (long)getpid() * 100000 + (long)(ts.tv_nsec % 100000);
    snprintf(c->owner, sizeof(c->owner), "up%ld", tag);
    snprintf(c->key1, sizeof(c->key1), "%016lx%016lx", tag, 1L);
    snprintf(c->key2, sizeof(c->key2), "%016lx%016lx", tag, 2L);
    snprintf(c->key3, sizeof(c->key3), "%016lx%016lx", tag, 3L);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    if (c) {
        const char *p[1] = {c->owner};
        PQclear(PQexecParams(c->conn, "DELETE FROM uploads WHERE owner = $1", 1, NULL, p,
                             NULL, NULL, 0));
        PQclear(PQexecParams(c->conn, "DELETE FROM admin_audit WHERE target = $1", 1,
                             NULL, p, NULL, NULL, 0));
        db_read_close(c->pool);
        PQfinish(c->conn);
        free(c);
    }
    return 0;
}

static struct db_job *slot(struct ctx *c, const char *key, int64_t size, int64_t quota)
{
    struct db_job *j = db_job_new(DB_JOB_UPLOAD_SLOT);
    assert_non_null(j);
    j->u.upload_slot.owner = strdup(c->owner);
    j->u.upload_slot.name = strdup("a b.png");
    j->u.upload_slot.content_type = strdup("image/png");
    j->u.upload_slot.path_key = strdup(key);
    j->u.upload_slot.size = size;
    j->u.upload_slot.quota = quota;
    j->u.upload_slot.ttl_s = 300;
    struct db_job *jobs[1] = {j};
    assert_int_equal(db_jobs_run(c->conn, "n", jobs, 1), PL_OK);
    assert_int_equal(j->status, PL_OK);
    return j;
}

static void test_slots_and_quota(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    struct db_job *j = slot(c, c->key1, 600, 1000);
    assert_true(j->u.upload_slot.id > 0);
    assert_int_equal(j->u.upload_slot.used, 0);
    assert_true(j->u.upload_slot.expires_us > (int64_t)time(NULL) * 1000000);
    db_job_free(j);
    /* the open slot counts: 600 + 500 is over 1000 */
    j = slot(c, c->key2, 500, 1000);
    assert_int_equal(j->u.upload_slot.id, 0);
    assert_int_equal(j->u.upload_slot.used, 600);
    db_job_free(j);
    j = slot(c, c->key2, 400, 1000);
    assert_true(j->u.upload_slot.id > 0);
    db_job_free(j);
}

static void test_put_and_get(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    enum db_upload_state st;
    int64_t size = 0;
    char *type = NULL;
    assert_int_equal(
        db_upload_put_begin(c->pool, c->key1, "a b.png", 601, "image/png", 1, &st),
        PL_OK);
    assert_int_equal(st, DB_UPLOAD_SIZE);
    assert_int_equal(
        db_upload_put_begin(c->pool, c->key1, "a b.png", 600, "text/html", 1, &st),
        PL_OK);
    assert_int_equal(st, DB_UPLOAD_TYPE);
    assert_int_equal(
        db_upload_put_begin(c->pool, c->key1, "other.png", 600, "image/png", 1, &st),
        PL_OK);
    assert_int_equal(st, DB_UPLOAD_NONE);
    /* a check claims nothing */
    assert_int_equal(
        db_upload_put_begin(c->pool, c->key1, "a b.png", 600, "IMAGE/PNG", 0, &st),
        PL_OK);
    assert_int_equal(st, DB_UPLOAD_OK);
    assert_int_equal(
        db_upload_put_begin(c->pool, c->key1, "a b.png", 600, "image/png", 1, &st),
        PL_OK);
    assert_int_equal(st, DB_UPLOAD_OK);
    assert_int_equal(
        db_upload_put_begin(c->pool, c->key1, "a b.png", 600, "image/png", 1, &st),
        PL_OK);
    assert_int_equal(st, DB_UPLOAD_USED);
    assert_int_equal(db_upload_get(c->pool, c->key1, "a b.png", &size, &type), PL_ENOENT);
    assert_int_equal(db_upload_put_end(c->pool, c->key1, 1), PL_OK);
    assert_int_equal(db_upload_get(c->pool, c->key1, "a b.png", &size, &type), PL_OK);
    assert_int_equal(size, 600);
    assert_string_equal(type, "image/png");
    free(type);
    assert_int_equal(db_upload_get(c->pool, c->key1, "b.png", &size, &type), PL_ENOENT);

    /* a PUT that failed frees its slot for another */
    assert_int_equal(
        db_upload_put_begin(c->pool, c->key2, "a b.png", 400, "image/png", 1, &st),
        PL_OK);
    assert_int_equal(st, DB_UPLOAD_OK);
    assert_int_equal(db_upload_put_end(c->pool, c->key2, 0), PL_OK);
    assert_int_equal(
        db_upload_put_begin(c->pool, c->key2, "a b.png", 400, "image/png", 1, &st),
        PL_OK);
    assert_int_equal(st, DB_UPLOAD_OK);
}

static void test_expired_room_list_delete(void **state)
{
    struct ctx *c = *state;
    if (!c)
        skip();
    struct db_job *j = slot(c, c->key3, 10, 100000);
    assert_true(j->u.upload_slot.id > 0);
    int64_t id3 = j->u.upload_slot.id;
    db_job_free(j);
    const char *p[1] = {c->key3};
    PQclear(PQexecParams(c->conn,
                         "UPDATE uploads SET expires_at = now() - interval '1 s'"
                         " WHERE path_key = $1",
                         1, NULL, p, NULL, NULL, 0));
    enum db_upload_state st;
    assert_int_equal(
        db_upload_put_begin(c->pool, c->key3, "a b.png", 10, "image/png", 1, &st), PL_OK);
    assert_int_equal(st, DB_UPLOAD_EXPIRED);

    /* a room message with the link files key1 under the room */
    char room[128], body[256];
    snprintf(room, sizeof(room), "r%s@conference.x", c->owner);
    snprintf(body, sizeof(body), "http://h:1/upload/%s/a%%20b.png", c->key1);
    char sender[96];
    snprintf(sender, sizeof(sender), "%s@x", c->owner);
    const char *q[3] = {sender, room, body};
    PGresult *res =
        PQexecParams(c->conn,
                     "SELECT id FROM parley_room_store_message($1, $2, NULL, $3,"
                     " '<message/>')",
                     3, NULL, q, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    const char *k[1] = {c->key1};
    res = PQexecParams(c->conn, "SELECT room FROM uploads WHERE path_key = $1", 1, NULL,
                       k, NULL, NULL, 0);
    assert_string_equal(PQgetvalue(res, 0, 0), room);
    PQclear(res);
    const char *m[1] = {room};
    PQclear(PQexecParams(c->conn, "DELETE FROM messages WHERE room = $1", 1, NULL, m,
                         NULL, NULL, 0));

    char *json = NULL;
    assert_int_equal(db_upload_list(c->pool, c->owner, NULL, 0, 2, &json), PL_OK);
    assert_non_null(strstr(json, "\"total_bytes\" : 600"));
    assert_non_null(strstr(json, "\"next_cursor\" : \""));
    free(json);
    char *key = NULL;
    assert_int_equal(db_upload_delete(c->pool, "root", id3, &key), PL_OK);
    assert_string_equal(key, c->key3);
    free(key);
    assert_int_equal(db_upload_delete(c->pool, "root", id3, &key), PL_ENOENT);
    const char *o[1] = {c->owner};
    res = PQexecParams(c->conn,
                       "SELECT count(*) FROM admin_audit WHERE target = $1"
                       " AND action = 'upload.delete'",
                       1, NULL, o, NULL, NULL, 0);
    assert_string_equal(PQgetvalue(res, 0, 0), "1");
    PQclear(res);
}

int main(void)
{
    const struct CMUnitTest with_db[] = {
        cmocka_unit_test(test_slots_and_quota),
        cmocka_unit_test(test_put_and_get),
        cmocka_unit_test(test_expired_room_list_delete),
    };
    return cmocka_run_group_tests_name("db_upload_postgres", with_db, setup, teardown);
}
