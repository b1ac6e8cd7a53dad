/* What the files of db/ share and nobody else sees: the store's structs, the
 * connection helpers and the job runner. Only db/ includes libpq. */
#ifndef DB_INTERNAL_H
#define DB_INTERNAL_H

#include "db_jobs.h"
#include "db_migrate.h"
#include "db_store.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The most jobs one worker puts in one transaction. */
#define DB_BATCH_MAX 256
/* Reconnect back-off bounds. */
#define DB_BACKOFF_MIN_MS 100
#define DB_BACKOFF_MAX_MS 2000
/* Once stopping, how long a worker keeps trying to reach the database for the
 * jobs it still holds before failing them with PL_EIO. */
#define DB_STOP_GRACE_MS 3000
/* How often the listener looks at the stop flag. */
#define DB_LISTEN_POLL_MS 200

struct db_worker {
    struct db_store *st;
    int index;
    PGconn *conn;
    int conn_ok; /* connected and statements prepared */
    struct pl_mailbox jobs;
    pthread_t thread;
};

struct db_store {
    char *conninfo;
    char *node;
    void (*wake)(void *ctx);
    void *wake_ctx;
    struct pl_metrics *metrics; /* may be NULL */

    int nworkers;
    int nmailboxes; /* worker mailboxes initialised, for cleanup */
    int nthreads;   /* worker threads started, for cleanup */
    struct db_worker *workers;

    struct pl_mailbox completed;
    int completed_inited;

    PGconn *listen_conn;
    pthread_t listener;
    int listener_started;

    atomic_long queued; /* jobs submitted and not yet taken by a worker */
    atomic_int stopping;
    atomic_llong stop_ms; /* monotonic ms at which stopping began */
};

/* db_conn.c */

/* Opens a connection (blocking). Always returns the PGconn (NULL only on
 * ENOMEM) so a failed one can later be PQreset; *ok says if it is usable. */
PGconn *db_conn_open(const char *conninfo, int *ok);
/* Monotonic milliseconds. */
int64_t db_now_ms(void);
/* Sleeps ms, waking early (every 50 ms at most) once the store is stopping. */
void db_sleep_ms(struct db_store *st, int ms);
/* 64-bit FNV-1a of a NUL-terminated key. */
uint64_t db_shard_hash(const char *key);
/* The first line of libpq's last error, for logs. */
const char *db_conn_error(PGconn *conn, char *buf, size_t len);

/* db_jobs.c */

/* A named prepared statement, tagged in its comment with its caller. */
struct db_stmt {
    const char *name;
    const char *sql;
};

/* What the store knows of one job kind: the table in db_jobs.c has one
 * entry per kind, indexed by it. */
struct db_job_desc {
    const char *name; /* for logs */
    /* The statements this kind prepares on every connection. */
    const struct db_stmt *stmts;
    size_t nstmts;
    /* Queues the job's one statement: PL_OK, or PL_AGAIN when libpq refused
     * it (connection gone). NULL for a kind sent per batch or not run by a
     * worker. */
    int (*send)(PGconn *conn, const char *node, struct db_job *job);
    /* Queues one statement for every job of this kind among jobs[0..n):
     * PL_OK (*sent says whether there was one) or PL_AGAIN. NULL unless the
     * kind goes per batch; its jobs then share that statement's outcome. */
    int (*send_batch)(PGconn *conn, struct db_job **jobs, size_t n, int *sent);
    /* Fills the job's out fields from its statement's result; returns the
     * job's status. NULL: nothing to read. */
    int (*read)(struct db_job *job, const PGresult *res);
    /* Frees what the payload holds (not the job). */
    void (*free)(struct db_job *job);
};

/* The kind's entry; NULL when kind is not one. */
const struct db_job_desc *db_job_desc_get(enum db_job_kind kind);
/* 1 if a worker runs jobs of this kind (it has a send or a send_batch). */
int db_job_submittable(enum db_job_kind kind);
/* Prepares every store statement on conn: after each (re)connect. */
int db_jobs_prepare(PGconn *conn);
/* Ends the sessions `node` had in an earlier run (at start: it has none yet). */
int db_jobs_node_restart(PGconn *conn, const char *node);

/* Runs n jobs in one transaction in pipeline mode: BEGIN, one prepared
 * statement per job, COMMIT, one sync. Fills the jobs' out fields.
 * Returns PL_OK when committed; PL_EIO when an SQL error aborted the batch
 * and the connection is clean again (rolled back); PL_AGAIN when the
 * connection is gone or in an unknown state and must be reset. */
int db_jobs_run(PGconn *conn, const char *node, struct db_job **jobs, size_t n);

/* db_job_roster.c: the jobs of rosters, subscriptions, initial presence,
 * blocking and markers. Their rows of db_jobs.c's table are
 * DB_JOB_ROSTER_DESCS, so that the table stays one place. */
enum {
    DB_ROSTER_STMT_LOAD,
    DB_ROSTER_STMT_SET,
    DB_ROSTER_STMT_PAIR,
    DB_ROSTER_STMT_APPLY,
    DB_ROSTER_STMT_PRESENCE_INITIAL,
    DB_ROSTER_STMT_BLOCK_SET,
    DB_ROSTER_STMT_DISPLAYED,
    DB_ROSTER_NSTMTS
};
extern const struct db_stmt db_roster_stmts[DB_ROSTER_NSTMTS];
int db_roster_load_send(PGconn *conn, const char *node, struct db_job *job);
int db_roster_load_read(struct db_job *job, const PGresult *res);
void db_roster_load_free(struct db_job *job);
int db_roster_set_send(PGconn *conn, const char *node, struct db_job *job);
int db_roster_set_read(struct db_job *job, const PGresult *res);
void db_roster_set_free(struct db_job *job);
int db_roster_pair_send(PGconn *conn, const char *node, struct db_job *job);
int db_roster_pair_read(struct db_job *job, const PGresult *res);
void db_roster_pair_free(struct db_job *job);
int db_roster_apply_send(PGconn *conn, const char *node, struct db_job *job);
int db_roster_apply_read(struct db_job *job, const PGresult *res);
void db_roster_apply_free(struct db_job *job);
int db_presence_initial_send(PGconn *conn, const char *node, struct db_job *job);
int db_presence_initial_read(struct db_job *job, const PGresult *res);
void db_presence_initial_free(struct db_job *job);
int db_block_set_send(PGconn *conn, const char *node, struct db_job *job);
int db_block_set_read(struct db_job *job, const PGresult *res);
void db_block_set_free(struct db_job *job);
int db_displayed_send(PGconn *conn, const char *node, struct db_job *job);
int db_displayed_read(struct db_job *job, const PGresult *res);
void db_displayed_free(struct db_job *job);

#define DB_ROSTER_DESC(kind, name, stmt, fn)                                             \
    [kind] = {name, &db_roster_stmts[stmt], 1, fn##_send, NULL, fn##_read, fn##_free}
#define DB_JOB_ROSTER_DESCS                                                              \
    DB_ROSTER_DESC(DB_JOB_ROSTER_LOAD, "roster_load", DB_ROSTER_STMT_LOAD,               \
                   db_roster_load),                                                      \
        DB_ROSTER_DESC(DB_JOB_ROSTER_SET, "roster_set", DB_ROSTER_STMT_SET,              \
                       db_roster_set),                                                   \
        DB_ROSTER_DESC(DB_JOB_ROSTER_PAIR, "roster_pair", DB_ROSTER_STMT_PAIR,           \
                       db_roster_pair),                                                  \
        DB_ROSTER_DESC(DB_JOB_ROSTER_APPLY, "roster_apply", DB_ROSTER_STMT_APPLY,        \
                       db_roster_apply),                                                 \
        DB_ROSTER_DESC(DB_JOB_PRESENCE_INITIAL, "presence_initial",                      \
                       DB_ROSTER_STMT_PRESENCE_INITIAL, db_presence_initial),            \
        DB_ROSTER_DESC(DB_JOB_BLOCK_SET, "block_set", DB_ROSTER_STMT_BLOCK_SET,          \
                       db_block_set),                                                    \
        DB_ROSTER_DESC(DB_JOB_MARK_DISPLAYED, "mark_displayed",                          \
                       DB_ROSTER_STMT_DISPLAYED, db_displayed)

/* db_upload.c: the XEP-0363 slot job. */
extern const struct db_stmt db_upload_slot_stmts[1];
int db_upload_slot_send(PGconn *conn, const char *node, struct db_job *job);
int db_upload_slot_read(struct db_job *job, const PGresult *res);
void db_upload_slot_free(struct db_job *job);

/* db_listen.c */

/* The listener thread: LISTEN parley_user_state, report disabled users. */
void *db_listen_main(void *arg);
/* Parses a notification payload "username:1" / "username:0". Copies the
 * username into a new string on success (*username owned by the caller). */
int db_user_state_parse(const char *payload, char **username, int *disabled);
/* Parses a parley_admin payload: "kick:USER" (*resource NULL),
 * "kick:USER/RESOURCE", or "message:ID" (*id set, *username NULL).
 * Strings are new (the caller's); PL_EINVAL for anything else. */
int db_admin_event_parse(const char *payload, char **username, char **resource,
                         int64_t *id);
/* Parses a room payload of parley_admin (0008): "room:JID" (*jid set, new)
 * or "room-message:ID" (*id set, *jid NULL). PL_EINVAL for anything else,
 * PL_ENOMEM. */
int db_room_event_parse(const char *payload, char **jid, int64_t *id);

/* db_migrate.c */

/* 1 if name looks like a migration file: NNNN_name.sql. */
int db_migration_name_valid(const char *name);
/* db_migrations_current on an open connection (the read pool's health
 * check uses its own). */
int db_migrations_check(PGconn *conn, const char *dir, char *err, size_t errlen);

/* db_read.c, for db_admin.c: the read pool's one call. Runs a prepared
 * statement answering at most one text value (*out: a copy, NULL for no
 * row); with `write`, in a READ WRITE transaction that it commits. */
struct db_read_pool;
int db_read_call(struct db_read_pool *pool, const char *stmt, int n,
                 const char *const *params, int write, char **out);

/* db_admin.c: its statements, prepared on every read-pool connection. */
extern const struct db_stmt db_admin_stmts[];
extern const size_t db_admin_nstmts;

/* db_store.c */

/* Hands a completed job (or event) to the loop and wakes it if needed. */
void db_store_complete(struct db_store *st, struct db_job *job);

#endif
