/* The store: worker threads, each with its own PostgreSQL connection, that
 * run jobs handed over by the XMPP loop. A worker takes every job waiting for
 * it, runs them in one transaction in libpq pipeline mode and commits once
 * (group commit), then hands the jobs back as completions and calls the
 * `wake` callback so the loop drains them. A job whose batch failed is
 * retried, alone, until the database answers: every job is idempotent.
 * Jobs with the same shard key go to the same worker, so they run in order.
 * No libpq type appears here: the loop sees plain structs. */
#ifndef DB_STORE_H
#define DB_STORE_H

#include "pl_mailbox.h"

#include <stddef.h>
#include <stdint.h>

enum db_job_kind {
    DB_JOB_USER_LOGIN,     /* provision the user on first login */
    DB_JOB_MSG_STORE,      /* store a direct message and its delivery row */
    DB_JOB_MARK_DELIVERED, /* stored -> delivered */
    DB_JOB_MARK_RECEIVED,  /* -> received, by the real recipient only */
    DB_JOB_OFFLINE_LOAD,   /* everything still `stored` for a recipient */
    DB_JOB_PRESENCE,       /* upsert or delete a session's row */
    DB_JOB_SESSION_END,    /* settle or requeue what a session was written */
    DB_EVENT_USER_STATE,   /* not submitted: the store reports a user's
                              disabled flag changing (and at start, every
                              disabled user) */
};

/* An offline load returns at most this many messages, oldest first; when
 * `count` equals it, more may be waiting: load again after the last id.
 * Small enough that a batch of large messages held in memory while it is
 * sent stays modest. */
#define DB_OFFLINE_BATCH 200

struct db_offline_msg {
    int64_t id;            /* archive id */
    int64_t created_at_us; /* microseconds since the epoch */
    char *stanza_xml;      /* the stanza as stored, `from` stamped */
};

struct db_job {
    struct pl_mailbox_item item; /* must stay first */
    enum db_job_kind kind;
    int status;         /* set by the worker: PL_OK or a PL_E* code */
    void *owner;        /* opaque to the store: for the submitter */
    uint64_t owner_gen; /* opaque to the store: for the submitter */
    union {
        struct {
            char *username;
            int disabled; /* out */
        } login;
        struct {
            char *sender;          /* bare JID */
            char *recipient;       /* bare JID */
            char *stanza_id;       /* client's id, may be NULL */
            char *body;            /* may be NULL */
            char *stanza_xml;      /* serialised stanza, `from` stamped */
            int64_t id;            /* out: archive id */
            int64_t created_at_us; /* out */
            /* out: 0 if (sender, stanza_id) existed. Also 0 for the
             * submitter's own message when a batch's commit outcome was
             * unknown (connection lost at COMMIT) and the rerun found the
             * row: treat 0 as "stored", never as "drop it". */
            int inserted;
            /* out: the recipient's delivery row is still `stored`, so the
             * message is routed (a retry must not be lost, nor a delivered
             * message sent twice). */
            int pending;
        } msg;
        struct {
            int64_t message_id;
            char *recipient; /* bare JID */
            char *via;       /* the session it was written to */
        } delivered;
        struct {
            char *sender;    /* bare JID of the original message's sender */
            char *stanza_id; /* the original message's id */
            char *recipient; /* bare JID of who sent the receipt */
            int updated;     /* out: rows changed */
        } received;
        struct {
            char *recipient;             /* bare JID */
            int64_t after_id;            /* only archive ids above this */
            struct db_offline_msg *msgs; /* out, oldest first */
            size_t count;                /* out */
        } offline;
        struct {
            char *full_jid;
            char *username;
            char *resource;
            char *address; /* the client's IP address, may be NULL */
            int gone;      /* 1: the session ended, delete the row */
            int available; /* else: upsert the row, available or not */
            char *show;    /* may be NULL */
            char *status;  /* may be NULL */
            int priority;
        } presence;
        struct {
            char *via;       /* the session, as given to MARK_DELIVERED */
            char *recipient; /* its bare JID */
            int clean;       /* 1: the client closed it; 0: it died */
            int requeued;    /* out: rows put back to `stored` */
        } session_end;
        struct {
            char *username;
            int disabled;
        } user_state;
    } u;
};

struct db_store;

struct db_store_config {
    const char *conninfo;
    const char *node;        /* this node's name in the sessions table */
    int workers;             /* >= 1 */
    void (*wake)(void *ctx); /* called from a worker thread when completions wait */
    void *wake_ctx;
};

/* Connects the workers (waiting for the database if it is not up yet is the
 * caller's choice: this fails with PL_EIO when it cannot connect), ends this
 * node's sessions of an earlier run (their rows go, and what was written to
 * them but not settled goes back to `stored`), and starts the threads. */
int db_store_start(const struct db_store_config *cfg, struct db_store **out);
/* Takes ownership of job until it comes back from db_store_take_completed.
 * `shard_key` picks the worker (NULL: worker 0). Thread-safe. */
void db_store_submit(struct db_store *st, struct db_job *job, const char *shard_key);
/* The completed jobs, oldest first, linked through item.next; NULL if none.
 * The caller frees each with db_job_free. */
struct db_job *db_store_take_completed(struct db_store *st);
/* Finishes the jobs already submitted, then stops the threads and frees. */
void db_store_stop(struct db_store *st);

/* A zeroed job of this kind; NULL on ENOMEM. */
struct db_job *db_job_new(enum db_job_kind kind);
/* Frees the job and every string and array it holds. */
void db_job_free(struct db_job *job);

/* Applies the migrations in `dir` (NNNN_name.sql, in order) that the
 * schema_migrations table does not list, each in its own transaction.
 * Blocking: for the CLI and for start-up, never the loop. */
int db_migrate(const char *conninfo, const char *dir, char *err, size_t errlen);
/* PL_OK if every migration in `dir` is applied. */
int db_migrations_current(const char *conninfo, const char *dir, char *err,
                          size_t errlen);

#endif
