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
    /* rosters, presence, blocking and markers (db_job_roster.c) */
    DB_JOB_ROSTER_LOAD,      /* a user's roster rows, version and blocklist */
    DB_JOB_ROSTER_SET,       /* an item's name and groups (a roster set) */
    DB_JOB_ROSTER_PAIR,      /* the two rows of a subscription exchange */
    DB_JOB_ROSTER_APPLY,     /* an exchange's outcome, if both rows are unchanged */
    DB_JOB_PRESENCE_INITIAL, /* contacts' last presences and waiting requests */
    DB_JOB_BLOCK_SET,        /* block, unblock, unblock all (XEP-0191) */
    DB_JOB_MARK_DISPLAYED,   /* an XEP-0333 displayed marker, cumulative */
    DB_EVENT_USER_STATE,     /* not submitted: the store reports a user's
                                disabled flag changing (and at start, every
                                disabled user) */
    DB_EVENT_KICK,           /* not submitted: the admin API closes a user's
                                sessions, or one of them (parley_admin) */
    DB_EVENT_MESSAGE,        /* not submitted: the admin API stored a message
                                for a recipient who may be online here */
    /* rooms and the archive (db_job_room.c, db_job_mam.c) */
    DB_JOB_ROOM_LOAD,         /* a room and its affiliations, on first use */
    DB_JOB_ROOM_CREATE,       /* an instant room, its creator the owner */
    DB_JOB_ROOM_MSG_STORE,    /* store a room message once */
    DB_JOB_ROOM_JOIN,         /* membership, position, history to send */
    DB_JOB_ROOM_POSITION,     /* move members' positions forward */
    DB_JOB_ROOM_AFFILIATIONS, /* set users' affiliations */
    DB_JOB_ROOM_CONFIG,       /* the owner's configuration form */
    DB_JOB_ROOM_SUBJECT,      /* the subject */
    DB_JOB_ROOM_DESTROY,      /* delete a room (its archive stays) */
    DB_JOB_ROOM_LIST,         /* the rooms a user may see */
    DB_JOB_MAM_QUERY,         /* one page of an archive (XEP-0313) */
    /* the user's own PEP nodes (db_job_pep.c) */
    DB_JOB_PEP_GET,     /* a node's items: bookmarks, displayed positions */
    DB_JOB_PEP_PUBLISH, /* one item; a displayed position moves the read state */
    DB_JOB_PEP_RETRACT, /* one bookmark */
    /* file upload (db_upload.c) */
    DB_JOB_UPLOAD_SLOT, /* an XEP-0363 slot, if the quota allows it */
    /* room changes the admin API made (parley_admin, 0008) */
    DB_EVENT_ROOM,         /* not submitted: a room's configuration or
                              affiliations changed, or it was deleted */
    DB_EVENT_ROOM_MESSAGE, /* not submitted: the admin API stored a message
                              in a room that may be loaded here */
    DB_JOB_ROOM_OCCUPANT,  /* a session joined or left a room (the API's
                              occupants, 0008) */
    /* stream management (XEP-0198; payload: delivered) */
    DB_JOB_MARK_ACKED, /* stored -> delivered and settled: the client's <a h/> */

    DB_JOB__COUNT, /* not a kind: the number of kinds */
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

/* An edit a stored message carries (db_job_edit.c, parley_store_edit in
 * migrations/0009_message_edits.sql): an XEP-0308 correction, an XEP-0424
 * retraction, an XEP-0425 moderation, XEP-0444 reactions, and an XEP-0461
 * reply's reference. A message job with one (DB_EDIT_SET) is stored and
 * applied in one statement; `refused` then says why nothing was stored. */
struct db_edit {
    char *kind;         /* "correct", "retract", "moderate", "react"; NULL: none */
    char *ref;          /* the id of the message edited */
    char *reactions;    /* react: the new set joined by DB_LIST_SEP; "" for none */
    char *reason;       /* moderate: may be NULL */
    char *moderated_by; /* moderate: the moderator's occupant JID */
    char *reply_ref;    /* XEP-0461: the id replied to, or NULL */
    char *reply_to;     /* its JID, may be NULL */
    char *refused;      /* out: a stanza error condition; NULL: stored */
};
#define DB_EDIT_SET(e) ((e)->kind != NULL || (e)->reply_ref != NULL)
/* Frees an edit's strings and zeroes it (db_job_edit.c). */
void db_edit_free(struct db_edit *e);

struct db_msg_store_job {
    char *sender;          /* bare JID */
    char *recipient;       /* bare JID */
    char *stanza_id;       /* client's id, may be NULL */
    char *body;            /* may be NULL */
    char *stanza_xml;      /* serialised stanza, `from` stamped */
    int64_t id;            /* out: archive id; 0 when nothing was stored because
                              the recipient blocks the sender (XEP-0191) */
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
    struct db_edit edit; /* what it edits, if anything */
    /* in: PARLEY_LIMIT_OFFLINE_QUEUE for a recipient who is offline (0:
     * no check, the recipient is online). When that many already wait,
     * nothing is stored and id is -1. */
    int offline_limit;
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
    int64_t idle_since_us; /* XEP-0319: idle since (microseconds); 0: active */
};

struct db_session_end_job {
    char *via;       /* the session, as given to MARK_DELIVERED */
    char *recipient; /* its bare JID */
    int clean;       /* 1: the client closed it; 0: it died */
    int requeued;    /* out: rows put back to `stored` */
};

/* Lists of strings travel as one string with this separator (ASCII unit
 * separator), which XML text cannot contain, so no escaping is needed. */
#define DB_LIST_SEP '\x1f'

/* A roster row. `state` has the bits of parley_roster_state (chat's
 * CHAT_SUB_*): 1 to, 2 from, 4 pending out, 8 pending in, 16 approved,
 * 32 listed; 0 is "no row". */
struct db_roster_item {
    char *jid;    /* the contact's bare JID (NULL in a pair's sides) */
    char *name;   /* may be NULL */
    char *groups; /* group names joined by DB_LIST_SEP; "" for none */
    unsigned state;
    int64_t ver; /* roster version of the row's last change; 0: no row */
};

struct db_roster_load_job {
    char *owner;                  /* username */
    char *team_domain;            /* the team roster's domain, or NULL */
    int64_t ver;                  /* out: the roster's version */
    struct db_roster_item *items; /* out: every row, listed or not */
    size_t count;                 /* out */
    char **blocked;               /* out: the blocklist's JIDs */
    size_t nblocked;              /* out */
    struct db_roster_item *team;  /* out: with team_domain, everyone else */
    size_t nteam;                 /* out */
};

struct db_roster_set_job {
    char *owner;    /* username */
    char *contact;  /* bare JID */
    char *name;     /* may be NULL */
    char *groups;   /* joined by DB_LIST_SEP; "" for none */
    int max;        /* most listed items the roster may hold */
    int refused;    /* out: 1 when a new item would pass `max` */
    unsigned state; /* out: the row's state after the set */
    int64_t ver;    /* out: the roster's new version */
};

struct db_roster_pair_job {
    char *a_owner, *a_contact;  /* a's row for its contact */
    char *b_owner, *b_contact;  /* and the other way round */
    struct db_roster_item a, b; /* out (jid NULL) */
    int b_blocks_a;             /* out: b's blocklist has b_contact or its domain */
};

/* For each side: `new_state` -1 leaves the row alone, 0 deletes it, else
 * the row becomes that state; `request` (may be NULL: keep) is the
 * subscribe stanza kept while pending in. */
struct db_roster_apply_job {
    char *a_owner, *a_contact;
    int64_t a_old; /* the version read; 0: there was no row */
    int a_new;
    char *a_request;
    char *b_owner, *b_contact;
    int64_t b_old;
    int b_new;
    char *b_request;
    int applied;          /* out: 0 when a row had changed: read again */
    int64_t a_ver, b_ver; /* out: the new roster versions (0: side left alone) */
};

struct db_presence_contact {
    char *jid;     /* a contact the owner is subscribed to */
    int known;     /* a last presence is recorded */
    int available; /* it was available (the contact is online somewhere) */
    char *show;    /* may be NULL */
    char *status;  /* may be NULL */
    int64_t at_us; /* when, microseconds since the epoch */
    /* XEP-0319: since when it was idle (microseconds); 0: not known idle */
    int64_t idle_us;
};

struct db_presence_request {
    char *jid;        /* who asks */
    char *stanza_xml; /* the subscribe stanza as kept; may be NULL */
};

struct db_presence_initial_job {
    char *owner;                          /* username */
    char *owner_jid;                      /* its bare JID */
    struct db_presence_contact *contacts; /* out */
    size_t ncontacts;                     /* out */
    struct db_presence_request *requests; /* out */
    size_t nrequests;                     /* out */
};

enum db_block_op { DB_BLOCK_ADD, DB_BLOCK_REMOVE, DB_BLOCK_REMOVE_ALL };

struct db_block_set_job {
    char *owner; /* username */
    enum db_block_op op;
    char *jids;  /* joined by DB_LIST_SEP (unused for REMOVE_ALL) */
    int changed; /* out: rows added or removed */
};

struct db_mark_displayed_job {
    char *sender;    /* bare JID of the displayed message's sender */
    char *stanza_id; /* the displayed message's id */
    char *recipient; /* bare JID of who sent the marker */
    int updated;     /* out: rows moved to `displayed` */
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

/* ---- rooms and the archive (db_job_room.c, db_job_mam.c) ---- */

/* DB_EVENT_ROOM: the room to read again. */
struct db_room_event {
    char *jid; /* the room's bare JID */
};

/* DB_JOB_ROOM_OCCUPANT: one session in one room, or no longer. The node
 * is the store's. */
struct db_room_occupant_job {
    char *room_id; /* uuid */
    char *session; /* the session's name (chat_session.via) */
    char *username;
    char *resource;
    int present; /* 1: joined; 0: left */
};

/* DB_EVENT_ROOM_MESSAGE: a room message as stored. */
struct db_room_message_event {
    int64_t id;
    char *room;            /* the room's bare JID */
    char *stanza_xml;      /* as stored: from room/nick (or the room), no `to` */
    int64_t created_at_us; /* microseconds since the epoch */
};

struct db_room_affiliation {
    char *username;
    char *affiliation; /* "owner", "admin", "member" or "outcast" */
};

/* DB_JOB_ROOM_LOAD and DB_JOB_ROOM_CREATE. */
struct db_room_load_job {
    char *jid;       /* the room's bare JID */
    char *localpart; /* CREATE: its localpart */
    char *creator;   /* CREATE: the username that becomes owner, or NULL */
    int found;       /* out: the room exists (CREATE: always, on success) */
    int created;     /* out, CREATE: this job created it */
    char id[40];     /* out: its uuid */
    char *name;      /* out, the strings may be NULL */
    char *description;
    char *subject;
    char *subject_by;
    int members_only; /* out */
    int public_room;  /* out */
    int change_subject;
    struct db_room_affiliation *affs; /* out */
    size_t naffs;
};

struct db_room_msg_job {
    char *room;            /* the room's bare JID */
    char *sender;          /* bare JID */
    char *stanza_id;       /* client's id, may be NULL */
    char *body;            /* may be NULL */
    char *stanza_xml;      /* the reflected stanza, without its stanza-id */
    int64_t id;            /* out: archive id */
    int64_t created_at_us; /* out */
    int inserted;          /* out: 0 for a retry of a message stored before */
    struct db_edit edit;   /* what it edits, if anything */
};

struct db_room_join_job {
    char *room_id; /* uuid */
    char *username;
    int make_member;  /* an open room: joining makes a member */
    int limit;        /* the most messages returned */
    int first_limit;  /* a first-time member's history */
    int64_t since_us; /* none older than this (microseconds); 0: no bound */
    /* Messages after this id (from 0: the recent ones), not from the
     * member's position; -1: from the position (catch-up). */
    int64_t after_id;
    struct db_offline_msg *msgs; /* out, oldest first */
    size_t count;                /* out */
};

/* Batched: every position job of a transaction is one statement. */
struct db_room_position_job {
    char *room_id; /* uuid */
    char *username;
    int64_t delivered_id; /* 0: unchanged */
    int64_t displayed_id; /* 0: unchanged */
};

struct db_room_affiliations_job {
    char *room_id; /* uuid */
    size_t count;
    char **usernames;
    char **affiliations; /* an entry NULL: none */
    char **reasons;      /* entries may be NULL */
    char **previous;     /* out: count entries, NULL for none */
    int conflict;        /* out: refused, the last owner would go */
};

struct db_room_config_job {
    char *room_id;
    char *name;        /* NULL: none */
    char *description; /* NULL: none */
    int members_only;
    int public_room;
    int change_subject;
};

struct db_room_subject_job {
    char *room_id;
    char *subject; /* NULL: cleared */
    char *by;      /* the nick */
};

struct db_room_destroy_job {
    char *room_id;
    int destroyed; /* out */
};

struct db_room_list_job {
    char *username;
    size_t count; /* out */
    char **jids;  /* out */
    char **names; /* out, entries may be NULL */
};

/* DB_JOB_MAM_QUERY: what XEP-0313 and XEP-0059 ask, already checked. The
 * rows come back in archive order: up to max, plus one more when the page
 * is not the last one in its direction (`more`). */
struct db_mam_query_job {
    int room;    /* 0: a user's direct messages; 1: a room's */
    char *owner; /* the user's or the room's bare JID */
    char *with;  /* a bare JID, or NULL */
    int has_start, has_end;
    int64_t start_us, end_us; /* inclusive, microseconds */
    int has_after, has_before;
    int64_t after_id, before_id; /* exclusive archive id bounds */
    int last_page;               /* RSM's empty <before/> */
    int64_t *ids;                /* exactly these, or NULL */
    size_t nids;
    char *text; /* XEP-0431 full text, or NULL */
    int max;
    char *queryid;               /* not sent: for the submitter */
    int flip;                    /* not sent: XEP-0313 flip-page */
    struct db_offline_msg *msgs; /* out */
    size_t count;                /* out */
    int more;                    /* out: a row beyond the page was found */
    int unknown_id;              /* out: an RSM id names no message here */
};

/* ---- the user's own PEP nodes (db_job_pep.c) ---- */

/* One item of a node, as parley_pep_get returns it. */
struct db_pep_item {
    char *id;      /* the item id: a room's or a peer's bare JID */
    char *payload; /* bookmarks: the published XML; NULL for an offered room */
    char *name;    /* an offered room's name; may be NULL */
    char *by;      /* displayed positions: the archive of `pos` */
    int64_t pos;   /* displayed positions: the archive id displayed */
};

/* DB_JOB_PEP_GET, DB_JOB_PEP_PUBLISH and DB_JOB_PEP_RETRACT. */
struct db_pep_job {
    char *owner;     /* username */
    char *owner_jid; /* its bare JID */
    char *node;      /* urn:xmpp:bookmarks:1 or urn:xmpp:mds:displayed:0 */
    char *item;      /* PUBLISH, RETRACT: the item id */
    char *payload;   /* PUBLISH, bookmarks: the item's payload as XML */
    char *by;        /* PUBLISH, displayed: the stanza-id's `by` */
    int64_t pos;     /* PUBLISH, displayed: the stanza-id's archive id */
    int max;         /* PUBLISH: the most items a node holds */
    /* out, PUBLISH: 'o' published; 'f' the node is full; 'u' the
     * stanza-id names no message of that conversation */
    char result;
    int found;                 /* out, RETRACT: the item was there */
    struct db_pep_item *items; /* out, GET */
    size_t count;              /* out, GET */
};

/* DB_JOB_UPLOAD_SLOT: a slot row, granted when the owner's files, PUTs
 * under way and open slots leave room for `size` under `quota`. */
struct db_upload_slot_job {
    char *owner;        /* username */
    char *name;         /* the file name, checked by the submitter */
    char *content_type; /* checked by the submitter */
    char *path_key;     /* the random of the URL (auth_upload_pathkey) */
    int64_t size;
    int64_t quota;
    int ttl_s;          /* how long the PUT URL lasts */
    int64_t id;         /* out: the upload's id; 0: over the quota */
    int64_t used;       /* out: what the owner used before this slot */
    int64_t expires_us; /* out: the PUT URL's end, microseconds since the epoch */
};

struct db_job {
    struct pl_mailbox_item item; /* must stay first */
    enum db_job_kind kind;
    int status;         /* set by the worker: PL_OK or a PL_E* code */
    void *owner;        /* opaque to the store: for the submitter */
    uint64_t owner_gen; /* opaque to the store: for the submitter */
    union {
        struct db_login_job login;                       /* DB_JOB_USER_LOGIN */
        struct db_msg_store_job msg;                     /* DB_JOB_MSG_STORE */
        struct db_mark_delivered_job delivered;          /* DB_JOB_MARK_DELIVERED */
        struct db_mark_received_job received;            /* DB_JOB_MARK_RECEIVED */
        struct db_offline_load_job offline;              /* DB_JOB_OFFLINE_LOAD */
        struct db_presence_job presence;                 /* DB_JOB_PRESENCE */
        struct db_session_end_job session_end;           /* DB_JOB_SESSION_END */
        struct db_roster_load_job roster_load;           /* DB_JOB_ROSTER_LOAD */
        struct db_roster_set_job roster_set;             /* DB_JOB_ROSTER_SET */
        struct db_roster_pair_job roster_pair;           /* DB_JOB_ROSTER_PAIR */
        struct db_roster_apply_job roster_apply;         /* DB_JOB_ROSTER_APPLY */
        struct db_presence_initial_job presence_initial; /* DB_JOB_PRESENCE_INITIAL */
        struct db_block_set_job block_set;               /* DB_JOB_BLOCK_SET */
        struct db_mark_displayed_job displayed;          /* DB_JOB_MARK_DISPLAYED */
        struct db_user_state_event user_state;           /* DB_EVENT_USER_STATE */
        struct db_kick_event kick;                       /* DB_EVENT_KICK */
        struct db_message_event message;                 /* DB_EVENT_MESSAGE */

        /* rooms and the archive */
        struct db_room_load_job room_load;                 /* DB_JOB_ROOM_LOAD, _CREATE */
        struct db_room_msg_job room_msg;                   /* DB_JOB_ROOM_MSG_STORE */
        struct db_room_join_job room_join;                 /* DB_JOB_ROOM_JOIN */
        struct db_room_position_job room_position;         /* DB_JOB_ROOM_POSITION */
        struct db_room_affiliations_job room_affiliations; /* _AFFILIATIONS */
        struct db_room_config_job room_config;             /* DB_JOB_ROOM_CONFIG */
        struct db_room_subject_job room_subject;           /* DB_JOB_ROOM_SUBJECT */
        struct db_room_destroy_job room_destroy;           /* DB_JOB_ROOM_DESTROY */
        struct db_room_list_job room_list;                 /* DB_JOB_ROOM_LIST */
        struct db_mam_query_job mam;                       /* DB_JOB_MAM_QUERY */
        struct db_pep_job pep;                             /* DB_JOB_PEP_* */
        struct db_upload_slot_job upload_slot;             /* DB_JOB_UPLOAD_SLOT */
        struct db_room_event room_event;                   /* DB_EVENT_ROOM */
        struct db_room_message_event room_message;         /* DB_EVENT_ROOM_MESSAGE */
        struct db_room_occupant_job room_occupant;         /* DB_JOB_ROOM_OCCUPANT */
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
