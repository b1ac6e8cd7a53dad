/* Connection helpers shared by the workers, the listener and the migrator. */
#include "db_internal.h"
#include "pl_error.h"
#include "pl_log.h"

#include <string.h>
#include <time.h>

/* libpq prints notices (e.g. "no transaction in progress") on stderr by
 * default; they belong in the log, and only at debug level. */
static void db_conn_notice(void *arg, const char *message)
{
    (void)arg;
    pl_debug(0, NULL, "postgres: %.*s", (int)strcspn(message, "\n"), message);
}

PGconn *db_conn_open(const char *conninfo, int *ok)
{
    /* expand_dbname: conninfo may be a URI or key=value string; naming the
     * application lets pg_stat_activity tell parleyd's connections apart. */
    const char *keys[] = {"dbname", "fallback_application_name", NULL};
    const char *vals[] = {conninfo ? conninfo : "", "parleyd", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    *ok = 0;
    if (!conn)
        return NULL;
    PQsetNoticeProcessor(conn, db_conn_notice, NULL);
    *ok = PQstatus(conn) == CONNECTION_OK;
    return conn;
}

const char *db_conn_error(PGconn *conn, char *buf, size_t len)
{
    const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
    size_t n = strcspn(msg, "\n");
    if (n >= len)
        n = len - 1;
    memcpy(buf, msg, n);
    buf[n] = '\0';
    return buf;
}

int64_t db_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void db_sleep_ms(struct db_store *st, int ms)
{
    while (ms > 0) {
        if (st && atomic_load(&st->stopping))
            return;
        int step = ms < 50 ? ms : 50;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

uint64_t db_shard_hash(const char *key)
{
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}
