/* The read path for the admin API: a pool of PostgreSQL connections that
 * the API's threads (never the XMPP loop) use synchronously. Each call
 * takes a free connection (waiting a bounded time when all are in use),
 * runs one named prepared statement and gives the connection back; a
 * connection found broken is reset and the statement run once more. A
 * query whose answer is JSON builds it in SQL (json_build_object,
 * json_agg) and returns it as one string, so the API layer passes it on
 * or parses it without a row-by-row mapping. The connections are read-only
 * (default_transaction_read_only) and speak UTC. No libpq type appears
 * here. Thread-safe. */
#ifndef DB_READ_H
#define DB_READ_H

#include <stddef.h>

/* The most connections a pool may have, and the largest list page. */
#define DB_READ_POOL_MAX 64
#define DB_READ_LIST_MAX 500

struct db_read_pool;

struct db_read_config {
    const char *conninfo;
    const char *migrations_dir; /* for db_read_health */
    int size;                   /* connections, 1 to DB_READ_POOL_MAX */
    int wait_ms;                /* how long a call waits for a free connection; 0: 5000 */
    int statement_ms;           /* statement_timeout of each query; 0: 10000 */
};

/* Makes the pool; connects lazily, so a database that is down now is not
 * an error here (calls fail with PL_EIO until it is up). Copies cfg. */
int db_read_open(const struct db_read_config *cfg, struct db_read_pool **out);
/* Closes every connection and frees the pool; no call may be running. NULL
 * is a no-op. */
void db_read_close(struct db_read_pool *pool);

/* PL_OK when the database answers and every migration of migrations_dir is
 * applied and unchanged; PL_EIO (unreachable) or PL_ESTATE (migrations),
 * with a one-line reason in err. For /readyz. */
int db_read_health(struct db_read_pool *pool, char *err, size_t errlen);

/* One page of users, by username: those starting with q (NULL or "": all)
 * after cursor (NULL: from the start), at most limit (1 to
 * DB_READ_LIST_MAX, else PL_EINVAL). *json (the caller frees it) is
 * {"items": [{"username", "display_name", "disabled", "created_at",
 * "last_login_at", "last_seen_at", "online"}...], "next_cursor": the cursor
 * of the next page or null}. */
int db_read_users_list(struct db_read_pool *pool, const char *q, const char *cursor,
                       int limit, char **json);
/* One user with its live sessions: {"username", "display_name", "disabled",
 * "created_at", "last_login_at", "last_seen_at", "sessions": [{"full_jid",
 * "resource", "node", "available", "show", "status", "priority",
 * "address", "since"}...]}; PL_ENOENT if there is no such user. *json is
 * the caller's. */
int db_read_user_get(struct db_read_pool *pool, const char *username, char **json);

#endif
