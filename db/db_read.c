/* The admin API's pooled, synchronous read path (db_read.h). A slot is one
 * connection; a caller holds a slot from checkout to checkin, so a
 * connection is only ever used by one thread at a time, and the pool lock
 * is never held across a query or a connect. */
#include "db_read.h"

#include "db_internal.h"
#include "pl_error.h"
#include "pl_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DB_READ_WAIT_MS_DEFAULT 5000
#define DB_READ_STATEMENT_MS_DEFAULT 10000

struct db_read_slot {
    PGconn *conn;
    int ready; /* connected, set up and statements prepared */
    int busy;  /* checked out */
};

struct db_read_pool {
    char *conninfo;
    char *migrations_dir;
    int wait_ms;
    int statement_ms;
    int size;
    struct db_read_slot *slots;
    pthread_mutex_t lock;
    pthread_cond_t freed;
};

/* The users of a page are one more than asked for, to know whether a next
 * page exists; the JSON is built around them. `online` is whether the user
 * has a session row on any node. The prefix test keeps the lower bound on
 * the primary key (a string sorts after its prefixes in every collation),
 * so a page starts at the right place in the index. */
#define DB_READ_USER_FIELDS                                                              \
    "'username', u.username, 'display_name', u.display_name, 'disabled', u.disabled,"    \
    " 'created_at', u.created_at, 'last_login_at', u.last_login_at,"                     \
    " 'last_seen_at', u.last_seen_at"

/* A page of the archive in the order given (cmp: how the cursor bounds
 * it), for messages matching `where`. Parameters: $1 user, $2 peer, $3
 * room, $4 since, $5 until, $6 q, $7 cursor, $8 limit. A room's `room` is
 * its uuid when its JID has the group-{uuid} form. */
/* The filters every shape shares: the time range and the cursor. */
#define DB_READ_MSG_COMMON(cmp)                                                          \
    " AND ($4::timestamptz IS NULL OR m.created_at >= $4::timestamptz)"                  \
    " AND ($5::timestamptz IS NULL OR m.created_at < $5::timestamptz)"                   \
    " AND ($7::bigint IS NULL OR m.id " cmp " $7::bigint)"

/* A page around `rows`, a query of at most limit + 1 messages m in the
 * order given; the JSON is built around them. */
#define DB_READ_MSG_PAGE_OF(order, rows)                                                 \
    "WITH page AS ("                                                                     \
    " SELECT m.*, row_number() OVER (ORDER BY m.id " order ") AS rn FROM (" rows ") m)"  \
    " SELECT json_build_object("                                                         \
    " 'items', coalesce((SELECT json_agg(json_build_object(" DB_READ_MSG_FIELDS          \
    ") ORDER BY m.rn) FROM page m WHERE m.rn <= $8::int), '[]'::json),"                  \
    " 'next_cursor', (SELECT m.id::text FROM page m WHERE m.rn = $8::int"                \
    "  AND EXISTS (SELECT 1 FROM page WHERE rn > $8::int)))::text"

#define DB_READ_MSG_PAGE(order, cmp, where)                                              \
    DB_READ_MSG_PAGE_OF(order,                                                           \
                        "SELECT * FROM messages m WHERE " where DB_READ_MSG_COMMON(      \
                            cmp) " ORDER BY m.id " order " LIMIT $8::int + 1")

/* A user's messages, either direction: the first limit + 1 of what they
 * sent (messages_by_sender) and of what they received
 * (messages_by_recipient), each read in id order from its index, merged.
 * One scan with "sender = $1 OR recipient = $1" would read every message
 * of the user to sort them. UNION, not UNION ALL: a message to oneself is
 * in both. */
#define DB_READ_MSG_USER_PAGE(order, cmp)                                                \
    DB_READ_MSG_PAGE_OF(                                                                 \
        order,                                                                           \
        "(SELECT * FROM messages m WHERE m.sender = $1::text" DB_READ_MSG_COMMON(        \
            cmp) " AND $2::text IS NULL AND $3::text IS NULL AND $6::text IS NULL"       \
                 " ORDER BY m.id " order " LIMIT $8::int + 1)"                           \
                 " UNION (SELECT * FROM messages m WHERE m.kind = 'chat'"                \
                 " AND m.recipient = $1::text" DB_READ_MSG_COMMON(                       \
                     cmp) " ORDER BY m.id " order " LIMIT $8::int + 1)"                  \
                          " ORDER BY id " order " LIMIT $8::int + 1")

#define DB_READ_MSG_FIELDS                                                               \
    "'id', m.id, 'kind', m.kind, 'from', m.sender, 'to', m.recipient,"                   \
    " 'room', coalesce(substring(m.room from '^group-([0-9a-f-]{36})@'), m.room),"       \
    " 'body', m.body, 'stanza_id', m.stanza_id, 'created_at', m.created_at"

/* A conversation: both directions are one range of messages_conversation. */
#define DB_READ_MSG_CONV                                                                 \
    "m.kind = 'chat' AND parley_pair_key(m.sender, m.recipient) ="                       \
    " parley_pair_key($1::text, $2::text) AND ((m.sender = $1::text AND"                 \
    " m.recipient = $2::text) OR (m.sender = $2::text AND m.recipient = $1::text))"      \
    " AND $3::text IS NULL AND $6::text IS NULL"
#define DB_READ_MSG_ROOM                                                                 \
    "m.kind = 'groupchat' AND m.room = $3::text AND ($1::text IS NULL OR m.sender = "    \
    "$1::text)"                                                                          \
    " AND $2::text IS NULL AND $6::text IS NULL"
#define DB_READ_MSG_ALL                                                                  \
    "$1::text IS NULL AND $2::text IS NULL AND $3::text IS NULL AND $6::text IS NULL"
/* Full text, through messages_body_fulltext (0004); the other filters narrow it. */
#define DB_READ_MSG_TEXT                                                                 \
    "to_tsvector('simple', coalesce(m.body, '')) @@ websearch_to_tsquery('simple', "     \
    "$6::text)"                                                                          \
    " AND ($1::text IS NULL OR ($2::text IS NULL AND (m.sender = $1::text"               \
    "  OR m.recipient = $1::text)) OR (m.kind = 'chat'"                                  \
    "  AND parley_pair_key(m.sender, m.recipient) = parley_pair_key($1::text, $2::text)" \
    "  AND ((m.sender = $1::text AND m.recipient = $2::text)"                            \
    "  OR (m.sender = $2::text AND m.recipient = $1::text))))"                           \
    " AND ($3::text IS NULL OR (m.kind = 'groupchat' AND m.room = $3::text))"

/* A full-text page, in two tries. First the newest DB_READ_MSG_TEXT_WINDOW
 * messages past the cursor, walked in id order on the primary key, their
 * bodies tested: a common word fills the page from them at once. Only when
 * they hold fewer than limit + 1 matches, the matches come from
 * messages_body_fulltext as a bitmap, the other filters narrow them, and a
 * top-N sort on m.id + 0 (which no index provides, so the planner cannot
 * choose to walk the primary key and test every body it passes: a word in
 * 1 of 500 messages took ~90 ms on 1 M that way) keeps limit + 1. A window
 * holding limit + 1 matches holds the first limit + 1 of them in order, so
 * both tries give the same rows as ORDER BY m.id, the cursor unchanged; the
 * second runs only when the first came short (a one-time filter). Words in
 * 1 of 8 messages: 208 ms by the bitmap alone on 1 M, under 1 ms by the
 * window. */
#define DB_READ_MSG_TEXT_WINDOW "2000"
#define DB_READ_MSG_TEXT_PAGE(order, cmp, open_end)                                      \
    DB_READ_MSG_PAGE_OF(                                                                 \
        order,                                                                           \
        "WITH hits AS MATERIALIZED (SELECT * FROM (SELECT * FROM messages m"             \
        " WHERE m.id " cmp " coalesce($7::bigint, " open_end ")"                         \
        " ORDER BY m.id " order " LIMIT " DB_READ_MSG_TEXT_WINDOW ") m"                  \
        " WHERE " DB_READ_MSG_TEXT DB_READ_MSG_COMMON(                                   \
            cmp) " ORDER BY m.id " order " LIMIT $8::int + 1)"                           \
                 " SELECT * FROM hits WHERE (SELECT count(*) FROM hits) > $8::int"       \
                 " UNION ALL SELECT * FROM (SELECT * FROM messages m "                   \
                 "WHERE " DB_READ_MSG_TEXT DB_READ_MSG_COMMON(                           \
                     cmp) " ORDER BY m.id + 0 " order " LIMIT $8::int + 1) w"            \
                          " WHERE (SELECT count(*) FROM hits) <= $8::int")

/* A room as the lists show it. */
#define DB_READ_ROOM_FIELDS                                                              \
    "'id', r.id, 'jid', r.jid, 'name', r.name, 'description', r.description,"            \
    " 'members_only', r.members_only, 'public', r.public,"                               \
    " 'message_count', (SELECT count(*) FROM messages m"                                 \
    "  WHERE m.kind = 'groupchat' AND m.room = r.jid),"                                  \
    " 'last_activity_at', (SELECT m.created_at FROM messages m"                          \
    "  WHERE m.kind = 'groupchat' AND m.room = r.jid ORDER BY m.id DESC LIMIT 1),"       \
    " 'occupant_count', (SELECT count(DISTINCT o.username) FROM room_occupants o"        \
    "  WHERE o.room_id = r.id)"

static const struct db_stmt db_read_stmts[] = {
    /* db_read_users_list */
    {"read_users_list",
     "WITH page AS ("
     " SELECT u.*, row_number() OVER (ORDER BY u.username) AS rn FROM ("
     "  SELECT * FROM users u"
     "  WHERE u.deleted_at IS NULL"
     "  AND ($1::text IS NULL OR (u.username >= $1 AND starts_with(u.username, $1)))"
     "  AND ($2::text IS NULL OR u.username > $2)"
     "  ORDER BY u.username LIMIT $3::int + 1) u)"
     " SELECT json_build_object("
     " 'items', coalesce((SELECT json_agg(json_build_object(" DB_READ_USER_FIELDS ","
     "  'online', EXISTS (SELECT 1 FROM sessions s WHERE s.username = u.username))"
     "  ORDER BY u.username) FROM page u WHERE u.rn <= $3::int), '[]'::json),"
     " 'next_cursor', (SELECT u.username FROM page u WHERE u.rn = $3::int"
     "  AND EXISTS (SELECT 1 FROM page WHERE rn > $3::int)))::text"},
    /* db_read_user_get */
    {"read_user_get",
     "SELECT json_build_object(" DB_READ_USER_FIELDS ","
     " 'sessions', coalesce((SELECT json_agg(json_build_object("
     "  'full_jid', s.full_jid, 'resource', s.resource, 'node', s.node,"
     "  'available', s.available, 'show', s.show, 'status', s.status,"
     "  'priority', s.priority, 'address', s.address, 'since', s.since)"
     "  ORDER BY s.since, s.full_jid)"
     "  FROM sessions s WHERE s.username = u.username), '[]'::json))::text"
     " FROM users u WHERE u.username = $1 AND u.deleted_at IS NULL"},
    /* db_read_sessions_list */
    {"read_sessions_list",
     "WITH page AS ("
     " SELECT s.*, row_number() OVER (ORDER BY s.full_jid) AS rn FROM ("
     "  SELECT * FROM sessions s"
     "  WHERE ($1::text IS NULL OR s.username = $1::text)"
     "  AND ($2::text IS NULL OR s.full_jid > $2::text)"
     "  ORDER BY s.full_jid LIMIT $3::int + 1) s)"
     " SELECT CASE WHEN $1::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u"
     "  WHERE u.username = $1::text AND u.deleted_at IS NULL) THEN NULL"
     " ELSE json_build_object("
     " 'items', coalesce((SELECT json_agg(json_build_object("
     "  'full_jid', s.full_jid, 'username', s.username, 'resource', s.resource,"
     "  'node', s.node, 'available', s.available, 'show', s.show, 'status', s.status,"
     "  'priority', s.priority, 'address', s.address, 'since', s.since)"
     "  ORDER BY s.rn) FROM page s WHERE s.rn <= $3::int), '[]'::json),"
     " 'next_cursor', (SELECT s.full_jid FROM page s WHERE s.rn = $3::int"
     "  AND EXISTS (SELECT 1 FROM page WHERE rn > $3::int)))::text END"},
    /* db_read_messages_list: one statement per shape of filter and order,
     * so each uses its index (a generic plan of one statement with every
     * filter optional would scan); the unused parameters are NULL. */
    {"read_messages_conv_desc", DB_READ_MSG_PAGE("DESC", "<", DB_READ_MSG_CONV)},
    {"read_messages_conv_asc", DB_READ_MSG_PAGE("ASC", ">", DB_READ_MSG_CONV)},
    {"read_messages_user_desc", DB_READ_MSG_USER_PAGE("DESC", "<")},
    {"read_messages_user_asc", DB_READ_MSG_USER_PAGE("ASC", ">")},
    {"read_messages_room_desc", DB_READ_MSG_PAGE("DESC", "<", DB_READ_MSG_ROOM)},
    {"read_messages_room_asc", DB_READ_MSG_PAGE("ASC", ">", DB_READ_MSG_ROOM)},
    {"read_messages_all_desc", DB_READ_MSG_PAGE("DESC", "<", DB_READ_MSG_ALL)},
    {"read_messages_all_asc", DB_READ_MSG_PAGE("ASC", ">", DB_READ_MSG_ALL)},
    {"read_messages_text_desc",
     DB_READ_MSG_TEXT_PAGE("DESC", "<", "9223372036854775807")},
    {"read_messages_text_asc", DB_READ_MSG_TEXT_PAGE("ASC", ">", "0")},
    /* db_read_message_get */
    {"read_message_get", "SELECT parley_admin_message_json($1::bigint)::text"},
    /* db_read_stats */
    {"read_stats",
     "SELECT json_build_object("
     " 'users', (SELECT count(*) FROM users WHERE deleted_at IS NULL),"
     " 'online_users', (SELECT count(DISTINCT username) FROM sessions),"
     " 'sessions', (SELECT count(*) FROM sessions),"
     " 'rooms', (SELECT count(*) FROM rooms),"
     " 'messages_last_hour', (SELECT count(*) FROM messages"
     "  WHERE created_at > now() - interval '1 hour'),"
     " 'messages_last_day', (SELECT count(*) FROM messages"
     "  WHERE created_at > now() - interval '1 day'),"
     /* The web admin's chart: 60 counts, one a minute, the last is the
      * minute now running. */
     " 'messages_per_minute', (SELECT json_agg(coalesce(c.n, 0) ORDER BY g.m)"
     "  FROM generate_series(date_trunc('minute', now()) - interval '59 minutes',"
     "  date_trunc('minute', now()), interval '1 minute') g(m)"
     "  LEFT JOIN (SELECT date_trunc('minute', created_at) AS m, count(*) AS n"
     "  FROM messages WHERE created_at >= date_trunc('minute', now()) - interval '59 "
     "minutes'"
     "  GROUP BY 1) c ON c.m = g.m),"
     /* deliveries_unsettled holds every row still `stored` (and the
      * delivered ones whose session lives): the join keeps the former. */
     " 'offline_waiting', (SELECT count(*) FROM deliveries_unsettled u"
     "  JOIN deliveries d ON d.message_id = u.message_id AND d.recipient = u.recipient"
     "  WHERE d.state = 'stored'),"
     " 'oldest_undelivered_seconds', coalesce((SELECT extract(epoch FROM"
     "  clock_timestamp() - m.created_at)::float8 FROM messages m"
     "  WHERE m.id = (SELECT min(u.message_id) FROM deliveries_unsettled u"
     "  JOIN deliveries d ON d.message_id = u.message_id AND d.recipient = u.recipient"
     "  WHERE d.state = 'stored')), 0))::text"},
    /* db_read_user_state: $1 the bare JID, $2 the username. */
    {"read_user_state",
     "SELECT json_build_object("
     " 'last_presence', (SELECT json_build_object('resource', p.resource,"
     "  'available', p.available, 'show', p.show, 'status', p.status,"
     "  'priority', p.priority, 'at', p.at) FROM presence_last p WHERE p.jid = $1::text),"
     " 'unread', json_build_object("
     "  'peers', coalesce((SELECT json_agg(json_build_object('peer', c.peer,"
     "   'unread', c.unread) ORDER BY c.peer) FROM parley_unread_counts($1::text) c),"
     "   '[]'::json),"
     "  'rooms', coalesce((SELECT json_agg(json_build_object('room', r.id, 'jid', r.jid,"
     "   'unread', parley_room_unread(r.id, $2::text)) ORDER BY r.jid)"
     "   FROM room_positions p JOIN rooms r ON r.id = p.room_id"
     "   WHERE p.username = $2::text), '[]'::json)))::text"},
    /* db_read_rooms_list: by JID; the count and the last activity come
     * from messages_room's (room, id) range of each room on the page; the
     * member count (outcasts are banned, not members) from the room's
     * affiliations. */
    {"read_rooms_list",
     "WITH page AS ("
     " SELECT r.*, row_number() OVER (ORDER BY r.jid) AS rn FROM ("
     "  SELECT * FROM rooms r WHERE ($1::text IS NULL OR r.jid > $1::text)"
     "  ORDER BY r.jid LIMIT $2::int + 1) r)"
     " SELECT json_build_object("
     " 'items', coalesce((SELECT json_agg(json_build_object(" DB_READ_ROOM_FIELDS ","
     "  'member_count', (SELECT count(*) FROM room_affiliations a"
     "   WHERE a.room_id = r.id AND a.affiliation <> 'outcast'))"
     "  ORDER BY r.rn) FROM page r WHERE r.rn <= $2::int), '[]'::json),"
     " 'next_cursor', (SELECT r.jid FROM page r WHERE r.rn = $2::int"
     "  AND EXISTS (SELECT 1 FROM page WHERE rn > $2::int)))::text"},
    /* db_read_room_get */
    {"read_room_get",
     "SELECT json_build_object(" DB_READ_ROOM_FIELDS ","
     " 'subject', r.subject, 'change_subject', r.change_subject,"
     " 'created_by', r.created_by, 'created_at', r.created_at,"
     " 'members', coalesce((SELECT json_agg(json_build_object("
     "  'username', a.username, 'affiliation', a.affiliation, 'reason', a.reason,"
     "  'updated_at', a.updated_at) ORDER BY a.username)"
     "  FROM room_affiliations a WHERE a.room_id = r.id), '[]'::json),"
     " 'occupants', parley_room_occupants_json(r.id))::text"
     " FROM rooms r WHERE r.id = $1::uuid"},
    /* db_read_audit_list */
    {"read_audit_list",
     "WITH page AS ("
     " SELECT a.*, row_number() OVER (ORDER BY a.id DESC) AS rn FROM ("
     "  SELECT * FROM admin_audit a WHERE ($1::bigint IS NULL OR a.id < $1::bigint)"
     "  ORDER BY a.id DESC LIMIT $2::int + 1) a)"
     " SELECT json_build_object("
     " 'items', coalesce((SELECT json_agg(json_build_object("
     "  'id', a.id, 'at', a.at, 'actor', a.actor, 'action', a.action,"
     "  'target', a.target, 'details', a.details) ORDER BY a.rn)"
     "  FROM page a WHERE a.rn <= $2::int), '[]'::json),"
     " 'next_cursor', (SELECT a.id::text FROM page a WHERE a.rn = $2::int"
     "  AND EXISTS (SELECT 1 FROM page WHERE rn > $2::int)))::text"},
};

static void db_read_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void db_read_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    err[strcspn(err, "\n")] = '\0';
}

int db_read_open(const struct db_read_config *cfg, struct db_read_pool **out)
{
    *out = NULL;
    if (!cfg || cfg->size < 1 || cfg->size > DB_READ_POOL_MAX || cfg->wait_ms < 0 ||
        cfg->statement_ms < 0)
        return PL_EINVAL;
    struct db_read_pool *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return PL_ENOMEM;
    pool->conninfo = strdup(cfg->conninfo ? cfg->conninfo : "");
    pool->migrations_dir = cfg->migrations_dir ? strdup(cfg->migrations_dir) : NULL;
    pool->slots = calloc((size_t)cfg->size, sizeof(*pool->slots));
    if (!pool->conninfo || (cfg->migrations_dir && !pool->migrations_dir) ||
        !pool->slots) {
        free(pool->conninfo);
        free(pool->migrations_dir);
        free(pool->slots);
        free(pool);
        return PL_ENOMEM;
    }
    pool->size = cfg->size;
    pool->wait_ms = cfg->wait_ms ? cfg->wait_ms : DB_READ_WAIT_MS_DEFAULT;
    pool->statement_ms =
        cfg->statement_ms ? cfg->statement_ms : DB_READ_STATEMENT_MS_DEFAULT;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->freed, NULL);
    *out = pool;
    return PL_OK;
}

void db_read_close(struct db_read_pool *pool)
{
    if (!pool)
        return;
    for (int i = 0; i < pool->size; i++)
        PQfinish(pool->slots[i].conn);
    pthread_cond_destroy(&pool->freed);
    pthread_mutex_destroy(&pool->lock);
    free(pool->slots);
    free(pool->conninfo);
    free(pool->migrations_dir);
    free(pool);
}

/* A free slot, marked busy; NULL (PL_AGAIN) when none came free in time. */
static struct db_read_slot *db_read_checkout(struct db_read_pool *pool)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += pool->wait_ms / 1000;
    deadline.tv_nsec += (long)(pool->wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    struct db_read_slot *slot = NULL;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        /* A slot that is connected first: a reconnect is slow. */
        for (int i = 0; i < pool->size && !slot; i++)
            if (!pool->slots[i].busy && pool->slots[i].ready)
                slot = &pool->slots[i];
        for (int i = 0; i < pool->size && !slot; i++)
            if (!pool->slots[i].busy)
                slot = &pool->slots[i];
        if (slot) {
            slot->busy = 1;
            break;
        }
        if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&pool->lock);
    return slot;
}

static void db_read_checkin(struct db_read_pool *pool, struct db_read_slot *slot)
{
    pthread_mutex_lock(&pool->lock);
    slot->busy = 0;
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}

static int db_read_exec_ok(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return ok;
}

/* Connects (or resets) the slot's connection and sets it up: read-only,
 * UTC, the statement timeout, the statements. */
static int db_read_connect(struct db_read_pool *pool, struct db_read_slot *slot)
{
    slot->ready = 0;
    if (slot->conn) {
        PQreset(slot->conn);
    } else {
        int ok;
        slot->conn = db_conn_open(pool->conninfo, &ok);
        if (!slot->conn)
            return PL_ENOMEM;
    }
    if (PQstatus(slot->conn) != CONNECTION_OK)
        return PL_EIO;
    char timeout[64];
    snprintf(timeout, sizeof(timeout), "SET statement_timeout = %d", pool->statement_ms);
    /* No parallel workers: on the message path's cores, a worker's start
     * costs an admin read more than it saves (a full-text page: 7 ms
     * alone, 16-32 ms with two workers, 1 M messages), and the API is not
     * to take the store's CPU. */
    if (!db_read_exec_ok(slot->conn, "SET default_transaction_read_only = on") ||
        !db_read_exec_ok(slot->conn, "SET max_parallel_workers_per_gather = 0") ||
        !db_read_exec_ok(slot->conn, "SET TIME ZONE 'UTC'") ||
        !db_read_exec_ok(slot->conn, timeout))
        return PL_EIO;
    /* The reads of this file, then the admin changes of db_admin.c. */
    const struct db_stmt *sets[2] = {db_read_stmts, db_admin_stmts};
    size_t counts[2] = {sizeof(db_read_stmts) / sizeof(db_read_stmts[0]),
                        db_admin_nstmts};
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < counts[k]; i++) {
            PGresult *res =
                PQprepare(slot->conn, sets[k][i].name, sets[k][i].sql, 0, NULL);
            int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
            if (!ok)
                pl_error(0, NULL, "db: preparing %s: %s", sets[k][i].name,
                         res ? PQresultErrorMessage(res) : "no result");
            PQclear(res);
            if (!ok)
                return PL_EIO;
        }
    }
    slot->ready = 1;
    return PL_OK;
}

/* Whether a failed result was the connection's fault (retry on a fresh
 * one) rather than the statement's. */
static int db_read_conn_lost(PGconn *conn, const PGresult *res)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return 1;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return !state || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0;
}

/* Runs a prepared statement that answers at most one row of one text
 * column. *out gets a copy of it (NULL when there is no row). With
 * `write`, the statement runs in a READ WRITE transaction (the pool's
 * connections default to read-only) and is committed. */
int db_read_call(struct db_read_pool *pool, const char *stmt, int n,
                 const char *const *params, int write, char **out)
{
    *out = NULL;
    struct db_read_slot *slot = db_read_checkout(pool);
    if (!slot)
        return PL_AGAIN;
    int rc = PL_EIO;
    /* A connection that broke since its last use (the server restarted, an
     * idle timeout) fails the first try: reset it and try once more. A
     * write is tried again only when it failed before it could have run. */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!slot->ready) {
            rc = db_read_connect(pool, slot);
            if (rc != PL_OK)
                break;
        }
        PGresult *res;
        if (write) {
            res = PQexec(slot->conn, "BEGIN READ WRITE");
            int begun = res && PQresultStatus(res) == PGRES_COMMAND_OK;
            PQclear(res);
            if (!begun) {
                rc = PL_EIO;
                slot->ready = 0;
                continue;
            }
        }
        res = PQexecPrepared(slot->conn, stmt, n, params, NULL, NULL, 0);
        if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
            rc = PL_OK;
            if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) &&
                !(*out = strdup(PQgetvalue(res, 0, 0))))
                rc = PL_ENOMEM;
            PQclear(res);
            if (write) {
                res = PQexec(slot->conn, rc == PL_OK ? "COMMIT" : "ROLLBACK");
                if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
                    rc = PL_EIO;
                    free(*out);
                    *out = NULL;
                    slot->ready = PQstatus(slot->conn) == CONNECTION_OK;
                }
                PQclear(res);
            }
            break;
        }
        int lost = db_read_conn_lost(slot->conn, res);
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        if (!lost)
            pl_warn(0, NULL, "db: %s failed: %.*s", stmt,
                    (int)strcspn(PQresultErrorMessage(res), "\n"),
                    PQresultErrorMessage(res));
        /* A value the database refused (a check constraint, a bad cast) is
         * the caller's input, not an outage. */
        rc = state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
                 ? PL_EINVAL
                 : PL_EIO;
        PQclear(res);
        if (write && !lost) {
            res = PQexec(slot->conn, "ROLLBACK");
            PQclear(res);
        }
        if (lost)
            slot->ready = 0; /* reset before its next use */
        if (!lost || write)
            break; /* a write's outcome is unknown: not run twice */
    }
    db_read_checkin(pool, slot);
    return rc;
}

static int db_read_one(struct db_read_pool *pool, const char *stmt, int n,
                       const char *const *params, char **out)
{
    return db_read_call(pool, stmt, n, params, 0, out);
}

/* 1 if the database takes no writes: a standby, or read-only by default
 * for its sessions (the pool's own connections are read-only by choice, so
 * the default they would reset to is what tells). Checked on its own, as
 * the probe above is. */
static int db_read_only(PGconn *conn)
{
    PGresult *res =
        PQexec(conn, "SELECT CASE WHEN pg_is_in_recovery() OR reset_val = 'on' "
                     "THEN 'on' ELSE 'off' END FROM pg_settings "
                     "WHERE name = 'default_transaction_read_only'");
    int ro = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
             strcmp(PQgetvalue(res, 0, 0), "on") == 0;
    PQclear(res);
    return ro;
}

int db_read_health(struct db_read_pool *pool, char *err, size_t errlen)
{
    db_read_err(err, errlen, "%s", "");
    struct db_read_slot *slot = db_read_checkout(pool);
    if (!slot) {
        db_read_err(err, errlen, "every database connection is in use");
        return PL_AGAIN;
    }
    int rc = PL_OK;
    if (slot->ready) {
        /* Cheap proof that the connection still works. */
        PGresult *res = PQexec(slot->conn, "SELECT 1");
        if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
            slot->ready = 0;
        PQclear(res);
    }
    if (!slot->ready)
        rc = db_read_connect(pool, slot);
    if (rc == PL_OK && db_read_only(slot->conn)) {
        /* Reachable but refusing writes (a standby after a failover,
         * default_transaction_read_only): nothing could be stored. */
        db_read_err(err, errlen, "the database is read-only: messages cannot be stored");
        db_read_checkin(pool, slot);
        return PL_EIO;
    }
    if (rc != PL_OK) {
        char msg[256];
        db_read_err(err, errlen, "database not reachable: %s",
                    db_conn_error(slot->conn, msg, sizeof(msg)));
        rc = rc == PL_ENOMEM ? rc : PL_EIO;
    } else if (pool->migrations_dir) {
        rc = db_migrations_check(slot->conn, pool->migrations_dir, err, errlen);
        if (rc == PL_EIO && PQstatus(slot->conn) != CONNECTION_OK)
            slot->ready = 0;
    }
    db_read_checkin(pool, slot);
    return rc;
}

int db_read_users_list(struct db_read_pool *pool, const char *q, const char *cursor,
                       int limit, char **json)
{
    *json = NULL;
    if (limit < 1 || limit > DB_READ_LIST_MAX)
        return PL_EINVAL;
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *params[3] = {q && *q ? q : NULL, cursor && *cursor ? cursor : NULL, lim};
    int rc = db_read_one(pool, "read_users_list", 3, params, json);
    if (rc == PL_OK && !*json)
        rc = PL_EIO; /* the aggregate always answers one row */
    return rc;
}

int db_read_user_get(struct db_read_pool *pool, const char *username, char **json)
{
    *json = NULL;
    if (!username || !*username)
        return PL_EINVAL;
    const char *params[1] = {username};
    int rc = db_read_one(pool, "read_user_get", 1, params, json);
    if (rc == PL_OK && !*json)
        rc = PL_ENOENT;
    return rc;
}

int db_read_sessions_list(struct db_read_pool *pool, const char *username,
                          const char *cursor, int limit, char **json)
{
    *json = NULL;
    if (limit < 1 || limit > DB_READ_LIST_MAX)
        return PL_EINVAL;
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *params[3] = {username && *username ? username : NULL,
                             cursor && *cursor ? cursor : NULL, lim};
    int rc = db_read_one(pool, "read_sessions_list", 3, params, json);
    if (rc == PL_OK && !*json)
        rc = params[0] ? PL_ENOENT : PL_EIO;
    return rc;
}

int db_read_messages_list(struct db_read_pool *pool, const struct db_read_msg_filter *f,
                          char **json)
{
    *json = NULL;
    if (f->limit < 1 || f->limit > DB_READ_LIST_MAX || (f->peer && !f->user) ||
        (f->peer && f->room) || f->cursor < 0)
        return PL_EINVAL;
    const char *shape = f->q      ? "text"
                        : f->room ? "room"
                        : f->peer ? "conv"
                        : f->user ? "user"
                                  : "all";
    char stmt[64], lim[16], cur[24];
    snprintf(stmt, sizeof(stmt), "read_messages_%s_%s", shape,
             f->oldest_first ? "asc" : "desc");
    snprintf(lim, sizeof(lim), "%d", f->limit);
    snprintf(cur, sizeof(cur), "%lld", (long long)f->cursor);
    const char *params[8] = {
        f->user, f->peer, f->room, f->since, f->until, f->q, f->cursor ? cur : NULL, lim};
    int rc = db_read_one(pool, stmt, 8, params, json);
    if (rc == PL_OK && !*json)
        rc = PL_EIO;
    return rc;
}

int db_read_message_get(struct db_read_pool *pool, int64_t id, char **json)
{
    *json = NULL;
    if (id < 1)
        return PL_EINVAL;
    char idbuf[24];
    snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
    const char *params[1] = {idbuf};
    int rc = db_read_one(pool, "read_message_get", 1, params, json);
    if (rc == PL_OK && !*json)
        rc = PL_ENOENT;
    return rc;
}

int db_read_stats(struct db_read_pool *pool, char **json)
{
    *json = NULL;
    int rc = db_read_one(pool, "read_stats", 0, NULL, json);
    if (rc == PL_OK && !*json)
        rc = PL_EIO;
    return rc;
}

int db_read_audit_list(struct db_read_pool *pool, int64_t cursor, int limit, char **json)
{
    *json = NULL;
    if (limit < 1 || limit > DB_READ_LIST_MAX || cursor < 0)
        return PL_EINVAL;
    char lim[16], cur[24];
    snprintf(lim, sizeof(lim), "%d", limit);
    snprintf(cur, sizeof(cur), "%lld", (long long)cursor);
    const char *params[2] = {cursor ? cur : NULL, lim};
    int rc = db_read_one(pool, "read_audit_list", 2, params, json);
    if (rc == PL_OK && !*json)
        rc = PL_EIO;
    return rc;
}

int db_read_rooms_list(struct db_read_pool *pool, const char *cursor, int limit,
                       char **json)
{
    *json = NULL;
    if (limit < 1 || limit > DB_READ_LIST_MAX)
        return PL_EINVAL;
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *params[2] = {cursor && *cursor ? cursor : NULL, lim};
    int rc = db_read_one(pool, "read_rooms_list", 2, params, json);
    if (rc == PL_OK && !*json)
        rc = PL_EIO; /* the aggregate always answers one row */
    return rc;
}

int db_read_room_get(struct db_read_pool *pool, const char *id, char **json)
{
    *json = NULL;
    if (!id || !*id)
        return PL_EINVAL;
    const char *params[1] = {id};
    int rc = db_read_one(pool, "read_room_get", 1, params, json);
    if (rc == PL_OK && !*json)
        rc = PL_ENOENT;
    return rc;
}

int db_read_user_state(struct db_read_pool *pool, const char *jid, const char *username,
                       char **json)
{
    *json = NULL;
    if (!jid || !*jid || !username || !*username)
        return PL_EINVAL;
    const char *params[2] = {jid, username};
    int rc = db_read_one(pool, "read_user_state", 2, params, json);
    if (rc == PL_OK && !*json)
        rc = PL_EIO; /* the object always answers one row */
    return rc;
}
