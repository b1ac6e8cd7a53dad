/* Shared between the chat_*.c files; not for other layers.
 *
 * The layer is a router and one file per feature (DESIGN.md, "How the chat
 * layer grows"): chat_route.c decides where a stanza goes and hands it to
 * the feature that owns it; chat_session.c is the registry; each feature
 * file owns its state and its jobs; chat_server.c holds them together and
 * dispatches store completions. */
#ifndef CHAT_INTERNAL_H
#define CHAT_INTERNAL_H

#include "chat.h"
#include "pl_frame.h"
#include "pl_map.h"

#include <stdint.h>

/* ---- written-frame tags -------------------------------------------------
 * A frame queued with a tag is reported back when the transport has
 * written it. The tag says what the frame was, so that only the write of a
 * stored direct message moves its delivery state; copies (carbons, archive
 * results, room echoes) will carry kinds of their own that do not. */
enum chat_tag_kind {
    CHAT_TAG_NONE = 0, /* untagged: nobody is told */
    CHAT_TAG_MESSAGE,  /* a stored direct message routed live */
    CHAT_TAG_BACKLOG,  /* a stored direct message from the offline queue */
    CHAT_TAG_CARBON,   /* an XEP-0280 copy: moves no delivery state */
    CHAT_TAG_ROOM,     /* a room message to an occupant: moves the member's
                          room position, never a delivery state */
    CHAT_TAG__COUNT
};

#define CHAT_TAG_SHIFT 56
#define CHAT_TAG_VALUE_MASK ((UINT64_C(1) << CHAT_TAG_SHIFT) - 1)

/* A tag of this kind carrying `value` (an archive id: below 2^56). */
static inline uint64_t chat_tag(enum chat_tag_kind kind, int64_t value)
{
    return ((uint64_t)kind << CHAT_TAG_SHIFT) | ((uint64_t)value & CHAT_TAG_VALUE_MASK);
}

static inline enum chat_tag_kind chat_tag_kind(uint64_t tag)
{
    uint64_t k = tag >> CHAT_TAG_SHIFT;
    return k < CHAT_TAG__COUNT ? (enum chat_tag_kind)k : CHAT_TAG_NONE;
}

static inline int64_t chat_tag_value(uint64_t tag)
{
    return (int64_t)(tag & CHAT_TAG_VALUE_MASK);
}

/* ---- sessions ---------------------------------------------------------- */

enum chat_offline_state { CHAT_OFFLINE_NONE, CHAT_OFFLINE_LOADING, CHAT_OFFLINE_DONE };

/* A live stored message held back while the session's offline queue loads,
 * so that stored messages arrive first and in order. Held by reference to
 * the frame every recipient shares; the bytes held per session are bounded
 * (chat_offline.c). */
struct chat_held {
    struct chat_held *next;
    int64_t id;
    struct pl_frame *frame; /* a reference */
};

struct chat_user;
struct chat_csi_held;
struct chat_deferred;
struct chat_directed;

struct chat_session {
    struct chat_server *cs;
    struct xmpp_stream *stream; /* borrowed: the transport owns it */
    struct chat_user *user;
    struct chat_session *next_in_user;
    uint64_t serial; /* tells a store completion whether it is still ours */
    char *resource;
    char *via;     /* the session's name in deliveries.delivered_via */
    int wrote;     /* a stored message was written to it */
    int available; /* initial presence sent, not yet unavailable */
    int priority;
    enum chat_offline_state offline;
    int reload; /* messages went back to stored while loading: load again */
    /* The offline batch being sent, paced by what the socket takes so a
     * large backlog never overflows the send queue. */
    struct db_offline_msg *backlog; /* owned, taken from the load job */
    size_t *backlog_len;            /* bytes queued per sent entry; 0: skipped */
    size_t backlog_count;
    size_t backlog_sent;  /* entries queued to the stream */
    size_t backlog_acked; /* entries the transport has written */
    size_t inflight;      /* bytes queued and not yet written */
    struct chat_held *held_head;
    struct chat_held *held_tail;
    size_t held_bytes; /* sizes of the held frames */
    /* Live messages came while loading and were not held (over the bound):
     * they are still `stored`, so the queue is loaded once more, after
     * `cursor`, the last archive id the loads returned. */
    int missed;
    int64_t cursor;
    /* Stanzas from the client that wait for the user's roster and
     * blocklist to load (chat_roster.c). */
    struct chat_deferred *deferred_head;
    struct chat_deferred *deferred_tail;
    size_t ndeferred;
    /* The last available presence, `from` stamped and no `to`: what
     * probes and new subscribers get (chat_presence.c). NULL while not
     * available. */
    struct pl_frame *presence;
    struct chat_directed *directed; /* JIDs given directed presence */
    size_t ndirected;
    int roster_interested; /* fetched the roster: gets roster pushes */
    int block_interested;  /* fetched the blocklist: gets its pushes */
    int carbons;           /* XEP-0280 enabled */

    /* rooms (chat_room.c) */
    struct chat_seat *seats;         /* the rooms it joined (chat_room.c) */
    struct chat_room_echoes *echoes; /* room frames queued, not yet written */

    /* XEP-0352 (chat_csi.c): what waits while the client is inactive */
    struct chat_csi_held *csi_held;
};

/* Everyone online under one username. */
/* The roster and blocklist of an online user, as the loop keeps them. */
enum chat_lists { CHAT_LISTS_NONE, CHAT_LISTS_LOADING, CHAT_LISTS_READY };

struct chat_user {
    char *username;
    char *bare_jid;
    struct chat_session *sessions;
    /* Loaded when the first session binds (chat_roster.c); the user's
     * stanzas wait until then. `lists_gen` changes with every change
     * applied to them, so a load that raced one is known to be stale. */
    enum chat_lists lists;
    uint64_t lists_gen;
    struct pl_map roster;  /* contact bare JID -> (void *)(uintptr_t)state */
    struct pl_map blocked; /* blocked JID -> (void *)1 */
    size_t rooms;          /* rooms the user is an occupant of (the limit) */
};

/* ---- store jobs -------------------------------------------------------- */

/* The context of a store job that answers a session (and of one that
 * carries a stanza): the job's owner, kept by chat so that it outlives the
 * sessions it mentions. The session is found again by name and serial when
 * the job completes; it may be gone by then. chat_server_complete frees the
 * op after the feature's completion handler ran. */
struct chat_op {
    struct chat_op *prev;
    struct chat_op *next;
    char *user;                 /* whose session submitted the job; NULL if none */
    uint64_t serial;            /* that session's serial */
    struct xmpp_stanza *stanza; /* MSG_STORE: the stanza to route */
    char *to_user;              /* MSG_STORE: the recipient's username */
    char *to_resource;          /* MSG_STORE: the resource addressed, or NULL */
    void *data;                 /* a feature's own context, freed with data_free */
    void (*data_free)(void *data);

    /* rooms and the archive */
    struct xmpp_node *request; /* rooms, archive: a copy of the stanza to answer */
    char *room;                /* rooms: the room's bare JID */
};

/* ---- the server -------------------------------------------------------- */

struct chat_server {
    char *domain;
    char *muc_domain;
    char *node;
    uint64_t boot;      /* start time in microseconds: session names are unique */
    size_t send_window; /* offline bytes queued ahead of the socket; also the
                           most live bytes held per session while it loads */
    struct chat_store store;
    struct xmpp_parser *parser; /* for stored stanzas */
    struct pl_map users;        /* username -> struct chat_user */
    struct pl_map disabled;     /* username -> (void *)1 */
    uint64_t next_serial;
    struct chat_op *ops;        /* every op whose job is out */
    struct pl_metrics *metrics; /* may be NULL */
    int max_sessions;           /* per user; bind past it: resource-constraint */
    int max_roster_items;       /* listed items one roster may hold */
    int team_roster;            /* every user of the domain in everyone's roster */
    uint64_t next_gen;          /* for chat_user.lists_gen */
    uint64_t next_push;         /* ids of roster and blocklist pushes */

    /* rooms and the archive (chat_room*.c, chat_mam.c) */
    struct pl_map rooms;      /* room bare JID -> struct chat_room (chat_room.c) */
    int room_creation_admins; /* only the admin API creates rooms */
    int room_catchup_max;     /* messages a returning member gets at most */
    int mam_max_page;         /* the largest archive page */

    /* file upload (chat_upload.c) */
    char *upload_url; /* NULL: no upload service */
    const struct auth_upload_key *upload_key;
    int64_t upload_max;
    int64_t upload_quota;
    int upload_ttl;
    int offline_queue_max;  /* PARLEY_LIMIT_OFFLINE_QUEUE; 0: none */
    int store_queue_max;    /* PARLEY_LIMIT_STORE_QUEUE; 0: none */
    int room_occupants_max; /* PARLEY_LIMIT_ROOM_OCCUPANTS; 0: none */
    int rooms_per_user_max; /* PARLEY_LIMIT_ROOMS_PER_USER; 0: none */
    int room_message_rate;  /* PARLEY_LIMIT_ROOM_MESSAGE_RATE; 0: none */
};

/* chat_route.c: where a stanza goes, decided once. */
enum chat_dest {
    CHAT_DEST_SERVER,       /* this server's domain itself */
    CHAT_DEST_ACCOUNT,      /* a local account, bare or full JID */
    CHAT_DEST_ROOM_SERVICE, /* the room service or a room on it */
    CHAT_DEST_REMOTE,       /* another domain: no server-to-server links */
};
/* Classifies a JID as a destination. */
enum chat_dest chat_route_classify_jid(const struct chat_server *cs,
                                       const struct xmpp_jid *to);
/* Classifies st's destination (no `to`: the sender's own account). */
enum chat_dest chat_route_classify(const struct chat_server *cs,
                                   const struct xmpp_stanza *st);
/* Dispatches a stanza from a bound session to the feature that owns it
 * (takes st). */
void chat_route_stanza(struct chat_server *cs, struct chat_session *s,
                       struct xmpp_stanza *st);
/* Sends a frame to the sessions of u that RFC 6121 picks for a message:
 * the addressed resource if it is connected; otherwise (a bare JID, or a
 * resource that is gone) every available resource of the highest
 * non-negative priority. A stored message (id > 0) goes through the offline
 * ordering of each session. Returns how many sessions got it. */
int chat_route_message(struct chat_user *u, const char *resource, int64_t id,
                       struct pl_frame *frame);

/* chat_session.c */
void chat_user_free(struct chat_user *u);
struct chat_user *chat_user_find(struct chat_server *cs, const char *username);
struct chat_session *chat_session_find(struct chat_user *u, const char *resource);
struct chat_session *chat_session_by_serial(struct chat_server *cs, const char *username,
                                            uint64_t serial);
int chat_session_allowed(void *ctx, const char *username);
int chat_session_bind(void *ctx, struct xmpp_stream *stream, const char *requested,
                      char **resource);
void chat_session_closed(void *ctx, struct xmpp_stream *stream);
void chat_user_state(struct chat_server *cs, const char *username, int disabled);
void chat_session_login_done(struct chat_server *cs, struct db_job *job,
                             struct chat_op *op);
void chat_session_end_done(struct chat_server *cs, struct db_job *job);
/* Ends s (its presence row, the registry) and closes its stream with a
 * stream error. */
void chat_session_kick(struct chat_server *cs, struct chat_session *s,
                       const char *condition, const char *text);

/* chat_admin.c: what the admin API asks of this node's sessions, through
 * the store's listener (PostgreSQL NOTIFY): kicks and stored messages. */
void chat_admin_kick(struct chat_server *cs, const struct db_kick_event *ev);
void chat_admin_message(struct chat_server *cs, const struct db_message_event *ev);
/* chat_room_events.c: the admin API's room changes (0008): a room to read
 * again, and a message it stored in a room. */
void chat_room_event(struct chat_server *cs, const struct db_room_event *ev);
void chat_room_event_message(struct chat_server *cs,
                             const struct db_room_message_event *ev);

/* chat_message.c */
void chat_message_handle(struct chat_server *cs, struct chat_session *s,
                         struct xmpp_stanza *st);
void chat_message_stored(struct chat_server *cs, struct db_job *job, struct chat_op *op);
/* A stored message (tag of kind MESSAGE or BACKLOG) was written to s. */
void chat_message_written(struct chat_server *cs, struct chat_session *s, int64_t id);
/* Submits `kind` (DB_JOB_MARK_DELIVERED, or DB_JOB_MARK_ACKED for stream
 * management's acks) for stored message `id` to s, on the recipient's
 * shard: after its store, before a later load. */
void chat_message_mark(struct chat_server *cs, struct chat_session *s, int64_t id,
                       enum db_job_kind kind);

/* chat_presence.c */
void chat_presence_handle(struct chat_server *cs, struct chat_session *s,
                          struct xmpp_stanza *st);
/* The session's row: written at bind (not available), deleted at the end. */
void chat_presence_bound(struct chat_server *cs, struct chat_session *s);
void chat_presence_gone(struct chat_server *cs, struct chat_session *s);

/* chat_offline.c: the paced offline backlog. */
/* Starts loading what is stored for s (after its initial presence). */
void chat_offline_start(struct chat_server *cs, struct chat_session *s);
/* A stored message for s, routed live: sent now, or held while s loads. */
void chat_offline_deliver(struct chat_session *s, int64_t id, struct pl_frame *frame);
void chat_offline_loaded(struct chat_server *cs, struct db_job *job, struct chat_op *op);
/* Messages of `username` went back to `stored`: load them again for the
 * sessions that are online and past their first load. */
void chat_offline_requeued(struct chat_server *cs, const char *username);
/* The transport wrote the backlog frame of archive id `id` to s. */
void chat_offline_written(struct chat_server *cs, struct chat_session *s, int64_t id);
/* Frees what is left of s's backlog and held messages. */
void chat_offline_free(struct chat_session *s);

/* chat_iq.c */
void chat_iq_handle(struct chat_server *cs, struct chat_session *s,
                    struct xmpp_stanza *st, enum chat_dest dest);

/* chat_route.c: 1 if a message routed with chat_route_message(u, resource)
 * reaches s (carbons go to the other sessions). */
int chat_route_is_target(const struct chat_user *u, const char *resource,
                         const struct chat_session *s);
/* chat_room*.c: the room service (XEP-0045). */
struct chat_seat;
struct chat_room_echoes;
/* A stanza to the room service or a room on it (takes st). */
void chat_room_stanza(struct chat_server *cs, struct chat_session *s,
                      struct xmpp_stanza *st);
/* s sent presence without `to` (broadcast): its rooms see the change, and
 * unavailable leaves them (RFC 6121 section 4.5.2). Borrows st. */
void chat_room_own_presence(struct chat_server *cs, struct chat_session *s,
                            const struct xmpp_stanza *st);
/* s is ending: it leaves every room (idempotent). */
void chat_room_session_gone(struct chat_server *cs, struct chat_session *s);
/* A room frame (tag CHAT_TAG_ROOM) was written to s. */
void chat_room_written(struct chat_server *cs, struct chat_session *s, int64_t id);
/* A room job completed. */
void chat_room_complete(struct chat_server *cs, struct db_job *job, struct chat_op *op);
void chat_room_free_all(struct chat_server *cs);
/* The service shuts down: every occupant's sessions get their own
 * unavailable presence with status 332 (XEP-0045). */
void chat_room_shutdown(struct chat_server *cs);

/* chat_mam.c: the archive (XEP-0313). */
/* An archive iq (urn:xmpp:mam:2) for the user's own archive (room NULL) or
 * for a room's, already allowed (borrows st). */
void chat_mam_handle(struct chat_server *cs, struct chat_session *s,
                     const struct xmpp_stanza *st, const char *room);
void chat_mam_done(struct chat_server *cs, struct db_job *job, struct chat_op *op);

/* chat_upload.c: XEP-0363 HTTP File Upload, served by the domain. */
#define XMPP_NS_HTTP_UPLOAD "urn:xmpp:http:upload:0"
/* Adds the upload service's identity, feature and max-file-size form to
 * the server's disco#info query (nothing without a service). */
int chat_upload_disco(struct chat_server *cs, struct xmpp_node *query);
/* A slot request (`req`, the iq's payload in the upload namespace) to the
 * server; borrows st. */
void chat_upload_request(struct chat_server *cs, struct chat_session *s,
                         const struct xmpp_stanza *st, const struct xmpp_node *req);
void chat_upload_slot_done(struct chat_server *cs, struct db_job *job,
                           struct chat_op *op);

/* Helpers shared by the features (chat_server.c). */
/* An op for a job submitted on behalf of s (NULL: no session). */
struct chat_op *chat_op_new(struct chat_server *cs, struct chat_session *s);
void chat_op_free(struct chat_server *cs, struct chat_op *op);
/* The session that submitted op's job, if it is still there. */
struct chat_session *chat_op_session(struct chat_server *cs, const struct chat_op *op);
/* Submits a job (takes it). */
void chat_submit(struct chat_server *cs, struct db_job *job, const char *shard_key);
/* 1 (and counted) when the store has PARLEY_LIMIT_STORE_QUEUE jobs waiting:
 * a new message is then refused with <wait/><resource-constraint/> rather
 * than held in memory while the database is slow or away. */
int chat_store_full(struct chat_server *cs);
/* Replies to st on s with a stanza error. */
void chat_reply_error(struct chat_server *cs, struct chat_session *s,
                      const struct xmpp_node *orig, const char *type,
                      const char *condition);
/* Appends <stanza-id xmlns='urn:xmpp:sid:0' id=ID by=BY/>. */
int chat_add_stanza_id(struct xmpp_node *msg, int64_t id, const char *by);
/* XEP-0082 UTC timestamp with milliseconds from microseconds since the epoch. */
void chat_format_stamp(int64_t us, char *out, size_t outlen);
/* Serialises n once into a new frame (one reference); NULL on failure. */
struct pl_frame *chat_frame(const struct xmpp_node *n);
/* "user@domain" for a local username (allocated); NULL on ENOMEM. */
char *chat_bare_jid(const struct chat_server *cs, const char *username);
/* The username part of a local bare JID (allocated); NULL if none. */
char *chat_username_of(const char *bare_jid);

/* ---- presence subscriptions (chat_sub.c): RFC 6121 Appendix A ---------- */

/* One roster row's state, as bits; the database stores the same bits
 * (parley_roster_state in migrations/0003_presence.sql). 0 is "no row". */
enum {
    CHAT_SUB_TO = 1,          /* the owner receives the contact's presence */
    CHAT_SUB_FROM = 2,        /* the contact receives the owner's presence */
    CHAT_SUB_PENDING_OUT = 4, /* the owner asked (`ask='subscribe'`) */
    CHAT_SUB_PENDING_IN = 8,  /* the contact asked; the owner has not answered */
    CHAT_SUB_APPROVED = 16,   /* pre-approved (section 3.4) */
    CHAT_SUB_LISTED = 32,     /* in the roster the owner sees */
};

enum chat_sub_type {
    CHAT_SUB_SUBSCRIBE,
    CHAT_SUB_SUBSCRIBED,
    CHAT_SUB_UNSUBSCRIBE,
    CHAT_SUB_UNSUBSCRIBED,
    CHAT_SUB_REMOVE, /* not a stanza: the owner removes the item (2.5.2) */
};

/* What an inbound transition asks the server to do. */
enum {
    CHAT_SUB_DELIVER = 1,    /* the owner's resources get the stanza */
    CHAT_SUB_AUTO_REPLY = 2, /* answer `subscribed` for the owner (3.1.3) */
};

/* The presence type's name ("subscribe"...); "remove" for CHAT_SUB_REMOVE. */
const char *chat_sub_type_name(enum chat_sub_type type);
/* "none", "to", "from" or "both". */
const char *chat_sub_subscription(unsigned state);
/* Appendix A.2: the owner sends `type` to the contact; returns the owner's
 * row's new state (0: the row goes). */
unsigned chat_sub_outbound(unsigned state, enum chat_sub_type type);
/* Appendix A.3: `type` arrives for the owner from the contact; returns the
 * new state and sets *actions (CHAT_SUB_DELIVER, CHAT_SUB_AUTO_REPLY; may
 * be NULL). */
unsigned chat_sub_inbound(unsigned state, enum chat_sub_type type, unsigned *actions);

/* One exchange between two local accounts: the user's row for the contact
 * and the contact's row for the user, before and after. */
struct chat_sub_exchange {
    unsigned user_old, contact_old; /* in */
    unsigned user_new, contact_new; /* out */
    unsigned to_contact;            /* out: bits 1 << type delivered to the contact */
    unsigned to_user;               /* out: bits 1 << type delivered to the user
                                       (the server's answers for the contact) */
};
/* Runs the user's `type` (or CHAT_SUB_REMOVE) through both rows. When the
 * contact blocks the user, only the user's row changes. */
void chat_sub_exchange(struct chat_sub_exchange *x, enum chat_sub_type type,
                       int contact_blocks_user);

/* ---- rosters (chat_roster.c): RFC 6121 section 2, XEP-0237 ----------- */

/* At bind: loads the user's roster and blocklist unless they are loaded or
 * loading; the user's stanzas wait until they are (chat_roster_defer). */
void chat_roster_bound(struct chat_server *cs, struct chat_session *s);
/* A stanza from s while its user's lists load: kept in order and handled
 * once they are (takes st). */
void chat_roster_defer(struct chat_server *cs, struct chat_session *s,
                       struct xmpp_stanza *st);
void chat_roster_loaded(struct chat_server *cs, struct db_job *job, struct chat_op *op);
/* A jabber:iq:roster get or set from s for its own roster; st stays the
 * caller's. */
void chat_roster_iq(struct chat_server *cs, struct chat_session *s,
                    const struct xmpp_stanza *st, const struct xmpp_node *query);
void chat_roster_set_done(struct chat_server *cs, struct db_job *job, struct chat_op *op);
/* The state of u's row for `contact` (a bare JID), 0 if none; with the
 * team roster, every other user of the domain is `both`. */
unsigned chat_roster_state(const struct chat_server *cs, const struct chat_user *u,
                           const char *contact);
/* u's row for `contact` is now `state` (0: gone) in the database. */
void chat_roster_cache_set(struct chat_server *cs, struct chat_user *u,
                           const char *contact, unsigned state);
/* Calls fn for every online user whose row in u's roster has one of the
 * bits of mask (with the team roster: every other online user). */
void chat_roster_each_online(struct chat_server *cs, struct chat_user *u, unsigned mask,
                             void (*fn)(struct chat_server *cs, struct chat_user *contact,
                                        void *arg),
                             void *arg);
/* Pushes one item (state 0 or not listed: a removal) to u's interested
 * resources. `groups` is joined by DB_LIST_SEP. */
void chat_roster_push(struct chat_server *cs, struct chat_user *u, const char *contact,
                      unsigned state, const char *name, const char *groups, int64_t ver);
void chat_roster_user_free(struct chat_user *u);
void chat_roster_session_free(struct chat_session *s);
/* The username of a bare JID of this domain into buf; PL_EINVAL if it is
 * not one (or does not fit). */
int chat_local_user(const struct chat_server *cs, const char *bare, char *buf,
                    size_t len);

/* ---- subscriptions (chat_subscription.c): RFC 6121 section 3 --------- */

/* A subscribe, subscribed, unsubscribe or unsubscribed to an account
 * (takes st). */
void chat_subscription_handle(struct chat_server *cs, struct chat_session *s,
                              struct xmpp_stanza *st);
/* Runs one exchange of s's user with `contact` (a bare JID): a stanza
 * (`stanza`, from and to set, delivered as the exchange says) or a roster
 * remove (`iq`, answered when done). Takes stanza and iq (either may be
 * NULL). */
void chat_subscription_start(struct chat_server *cs, struct chat_session *s,
                             const char *contact, enum chat_sub_type type,
                             struct xmpp_node *stanza, struct xmpp_node *iq);
void chat_subscription_paired(struct chat_server *cs, struct db_job *job,
                              struct chat_op *op);
void chat_subscription_applied(struct chat_server *cs, struct db_job *job,
                               struct chat_op *op);

/* ---- presence broadcast (chat_presence.c): RFC 6121 section 4 -------- */

/* Presence with a `to` that is not a subscription: directed (takes st). */
void chat_presence_directed(struct chat_server *cs, struct chat_session *s,
                            struct xmpp_stanza *st);
void chat_presence_initial_done(struct chat_server *cs, struct db_job *job,
                                struct chat_op *op);
/* from's current presence (each available session's) to to's available
 * sessions; unless blocked either way. */
void chat_presence_share(struct chat_server *cs, struct chat_user *from,
                         struct chat_user *to);
/* unavailable from each of from's available sessions to to's. */
void chat_presence_withdraw(struct chat_server *cs, struct chat_user *from,
                            struct chat_user *to);
void chat_presence_free(struct chat_session *s);

/* ---- blocking (chat_block.c): XEP-0191 ------------------------------- */

/* 1 if u's blocklist matches `jid` (full, bare or a domain). */
int chat_block_blocks(const struct chat_user *u, const char *jid);
/* 1 if either of two JIDs' users blocks the other; a user not online here
 * (or not loaded) counts as not blocking. */
int chat_block_between(const struct chat_user *a, const char *a_jid,
                       const struct chat_user *b, const char *b_jid);
/* urn:xmpp:blocking get or set from s; st stays the caller's. */
void chat_block_iq(struct chat_server *cs, struct chat_session *s,
                   const struct xmpp_stanza *st, const struct xmpp_node *payload);
void chat_block_set_done(struct chat_server *cs, struct db_job *job, struct chat_op *op);
/* not-acceptable with <blocked xmlns='urn:xmpp:blocking:errors'/>: s sent
 * something to a JID it blocks. */
void chat_block_reply_blocked(struct chat_server *cs, struct chat_session *s,
                              const struct xmpp_node *orig);

/* ---- carbons (chat_carbons.c): XEP-0280 ------------------------------- */

/* enable or disable from s; st stays the caller's. */
void chat_carbons_iq(struct chat_server *cs, struct chat_session *s,
                     const struct xmpp_stanza *st, const struct xmpp_node *payload);
/* 1 if a message is copied: `chat`, or `normal` with a body, without the
 * <private/> or <no-copy/> hints. */
int chat_carbons_eligible(const struct xmpp_node *msg);
/* Removes carbon wrappers a client put in a message: only the server
 * makes carbons, and one from another user is not the user's own. */
void chat_carbons_strip(struct xmpp_node *msg);
/* `received` copies of msg to u's carbon-enabled sessions that the
 * message routed to (u, resource) did not reach, `except` left out. */
void chat_carbons_received(struct chat_server *cs, struct chat_user *u,
                           const char *resource, const struct xmpp_node *msg,
                           const struct chat_session *except);
/* `sent` copies of msg to u's carbon-enabled sessions but `except` (the
 * one that sent it); `id` > 0 is the archive id, given to the copy as a
 * <stanza-id/> by u. */
void chat_carbons_sent(struct chat_server *cs, struct chat_user *u,
                       const struct chat_session *except, const struct xmpp_node *msg,
                       int64_t id);

/* ---- the user's own PEP nodes (chat_pep.c): XEP-0163, XEP-0402, XEP-0490 */

/* A http://jabber.org/protocol/pubsub iq from s to its own bare JID; st
 * stays the caller's. */
void chat_pep_iq(struct chat_server *cs, struct chat_session *s,
                 const struct xmpp_stanza *st, const struct xmpp_node *pubsub);
/* A DB_JOB_PEP_* job completed. */
void chat_pep_done(struct chat_server *cs, struct db_job *job, struct chat_op *op);
/* ---- edits (chat_edit.c, chat_react.c, chat_moderate.c): XEP-0308,
 * XEP-0424, XEP-0425, XEP-0444, XEP-0461 ------------------------------- */

#define XMPP_NS_CORRECT "urn:xmpp:message-correct:0"
#define XMPP_NS_RETRACT "urn:xmpp:message-retract:1"
#define XMPP_NS_RETRACT_TOMBSTONE "urn:xmpp:message-retract:1#tombstone"
#define XMPP_NS_MODERATE "urn:xmpp:message-moderate:1"
#define XMPP_NS_REACTIONS "urn:xmpp:reactions:0"
#define XMPP_NS_REPLY "urn:xmpp:reply:0"
/* The most distinct reactions one user keeps on one message, and the
 * longest one (an emoji sequence, not text). */
#define CHAT_REACTIONS_MAX 20
#define CHAT_REACTION_MAX_BYTES 64

/* What msg edits, into e (zeroed first): 1 if it carries an edit or a
 * reply reference, 0 if nothing, PL_EINVAL for one that is refused (*condition
 * the stanza error: bad-request, not-acceptable for too many reactions,
 * resource-constraint). has_body: msg has a <body/>. */
int chat_edit_parse(const struct xmpp_node *msg, int has_body, struct db_edit *e,
                    const char **condition);
/* 1 if the store refused the edit (nothing stored): orig is answered with
 * the store's condition on s (when s is not NULL). */
int chat_edit_refused(struct chat_server *cs, struct chat_session *s,
                      const struct xmpp_node *orig, const struct db_edit *e);
/* The set of an XEP-0444 <reactions/>, distinct, joined by DB_LIST_SEP
 * ("" for none) into *joined (allocated): PL_ETOOBIG past
 * CHAT_REACTIONS_MAX, PL_EINVAL for an empty or too long one. */
int chat_react_set(const struct xmpp_node *reactions, char **joined);
struct chat_room;
/* An XEP-0425 <moderate/> iq set from s to room r (q the child; borrows
 * st). */
void chat_moderate_iq(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                      const struct xmpp_stanza *st, const struct xmpp_node *q);
/* A room message job completed: 1 if it was a moderation that failed or
 * was refused (the moderator was answered; nothing to broadcast), 0 to go
 * on broadcasting it (its iq was answered). */
int chat_moderate_stored(struct chat_server *cs, struct db_job *job, struct chat_op *op);
/* ---- stream management (chat_sm.c): XEP-0198 -------------------------- */

/* hooks.acked: the client acknowledged the stanza queued with `tag`; a
 * stored message is `delivered` now. */
void chat_sm_acked(void *ctx, struct xmpp_stream *stream, uint64_t tag);
/* hooks.resumed: the session of `from` goes on on `to`. */
void chat_sm_resumed(void *ctx, struct xmpp_stream *from, struct xmpp_stream *to);
/* 1 if stored message `id` was sent to s and is not yet acknowledged (so a
 * load from the store, where it is still `stored`, skips it). */
int chat_sm_unacked(const struct chat_session *s, int64_t id);
/* chat_offline.c: acks came; a backlog waiting on stream management's
 * bound goes on. */
void chat_offline_acked(struct chat_server *cs, struct chat_session *s);

/* ---- client state indication (chat_csi.c): XEP-0352 ------------------- */

/* hooks.csi_hold: 1 if the frame is kept while the client is inactive. */
int chat_csi_hold(void *ctx, struct xmpp_stream *stream, struct pl_frame *frame,
                  uint64_t tag);
/* hooks.csi: <active/> sends what was held. */
void chat_csi_changed(void *ctx, struct xmpp_stream *stream, int active);
void chat_csi_free(struct chat_session *s);

#endif
