/* The jobs the XMPP loop hands to the store, and the events the store hands
 * back in the same shape. A job is one struct db_job: the kind, the
 * submitter's opaque fields, and the kind's payload in `u`. Each kind is
 * described once in db_jobs.c (its name, statements, send, read and free);
 * a new kind is a new payload struct here, a member of `u` and a row of
 * that table. No libpq type appears here: the loop sees plain structs. */
#ifndef DB_JOBS_H
#define DB_JOBS_H

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
    DB_EVENT_KICK,         /* not submitted: the admin API closes a user's
                              sessions, or one of them (parley_admin) */
    DB_EVENT_MESSAGE,      /* not submitted: the admin API stored a message
                              for a recipient who may be online here */
    DB_JOB__COUNT,         /* not a kind: the number of kinds */
};

/* An offline load returns at most this many messages, oldest first; when
 * `count` equals it, more may be waiting: load again after the last id.
 * Small enough that a batch of large messages held in memory while it is
 * sent stays modest. */
#define DB_OFFLINE_BATCH 200

/* The payloads, one per kind. Strings are owned by the job (db_job_free
 * frees them); "out" fields are set by the worker. */

struct db_login_job {
    char *username;
    int disabled; /* out */
};

struct db_msg_store_job {
    char *sender;          /* bare JID */
    char *recipient;       /* bare JID */
    char *stanza_id;       /* client's id, may be NULL */
    char *body;            /* may be NULL */
    char *stanza_xml;      /* serialised stanza, `from` stamped */
    int64_t id;            /* out: archive id */
    int64_t created_at_us; /* out */
    /* out: 0 if this was a retry of a message already stored (same sender,
     * recipient, stanza id and body, within the store's window). Also 0 for
     * the submitter's own message when a batch's commit outcome was unknown
     * (connection lost at COMMIT) and the rerun found the row: treat 0 as
     * "stored", never as "drop it". */
    int inserted;
    /* out: the recipient's delivery row is still `stored`, so the message
     * is routed (a retry must not be lost, nor a delivered message sent
     * twice). */
    int pending;
};

struct db_mark_delivered_job {
    int64_t message_id;
    char *recipient; /* bare JID */
    char *via;       /* the session it was written to */
};

struct db_mark_received_job {
    char *sender;    /* bare JID of the original message's sender */
    char *stanza_id; /* the original message's id */
    char *recipient; /* bare JID of who sent the receipt */
    int updated;     /* out: rows changed */
};

struct db_offline_msg {
    int64_t id;            /* archive id */
    int64_t created_at_us; /* microseconds since the epoch */
    char *stanza_xml;      /* the stanza as stored, `from` stamped */
};

struct db_offline_load_job {
    char *recipient;             /* bare JID */
    int64_t after_id;            /* only archive ids above this */
    struct db_offline_msg *msgs; /* out, oldest first */
    size_t count;                /* out */
};

struct db_presence_job {
    char *full_jid;
    char *username;
    char *resource;
    char *address; /* the client's IP address, may be NULL */
    int gone;      /* 1: the session ended, delete the row */
    int available; /* else: upsert the row, available or not */
    char *show;    /* may be NULL */
    char *status;  /* may be NULL */
    int priority;
};

struct db_session_end_job {
    char *via;       /* the session, as given to MARK_DELIVERED */
    char *recipient; /* its bare JID */
    int clean;       /* 1: the client closed it; 0: it died */
    int requeued;    /* out: rows put back to `stored` */
};

struct db_user_state_event {
    char *username;
    int disabled;
};

struct db_kick_event {
    char *username;
    char *resource; /* NULL: every session of the user */
};

/* A message still `stored` for its recipient when the listener read it. */
struct db_message_event {
    int64_t id;
    char *recipient;       /* bare JID */
    char *stanza_xml;      /* as stored, `from` stamped */
    int64_t created_at_us; /* microseconds since the epoch */
};

struct db_job {
    struct pl_mailbox_item item; /* must stay first */
    enum db_job_kind kind;
    int status;         /* set by the worker: PL_OK or a PL_E* code */
    void *owner;        /* opaque to the store: for the submitter */
    uint64_t owner_gen; /* opaque to the store: for the submitter */
    union {
        struct db_login_job login;              /* DB_JOB_USER_LOGIN */
        struct db_msg_store_job msg;            /* DB_JOB_MSG_STORE */
        struct db_mark_delivered_job delivered; /* DB_JOB_MARK_DELIVERED */
        struct db_mark_received_job received;   /* DB_JOB_MARK_RECEIVED */
        struct db_offline_load_job offline;     /* DB_JOB_OFFLINE_LOAD */
        struct db_presence_job presence;        /* DB_JOB_PRESENCE */
        struct db_session_end_job session_end;  /* DB_JOB_SESSION_END */
        struct db_user_state_event user_state;  /* DB_EVENT_USER_STATE */
        struct db_kick_event kick;              /* DB_EVENT_KICK */
        struct db_message_event message;        /* DB_EVENT_MESSAGE */
    } u;
};

/* A zeroed job of this kind; NULL on ENOMEM or a kind that is not one. */
struct db_job *db_job_new(enum db_job_kind kind);
/* Frees the job and every string and array it holds; NULL is a no-op. */
void db_job_free(struct db_job *job);
/* The kind's name for logs ("msg_store"); "unknown" for a value that is not
 * a kind. Static storage. */
const char *db_job_name(enum db_job_kind kind);

#endif
