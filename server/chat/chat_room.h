/* What the room files (chat_room.c, chat_room_msg.c, chat_room_admin.c)
 * and the archive (chat_mam.c) share; nothing outside server/chat/ sees
 * it.
 *
 * A room in the loop's memory is a struct chat_room, loaded from the store
 * on first use (a job, never a blocking call) and dropped again when its
 * last occupant has left. An occupant is one user in the room (the nick is
 * the username); each of their sessions in the room is a seat, so a second
 * resource of the same user shares the occupant (multi-session nick
 * sharing). Frames to occupants are serialised once and queued to every
 * seat with a CHAT_TAG_ROOM tag; when the transport reports one written,
 * the member's delivered position moves forward (a store job, coalesced:
 * at most one per occupant in flight). */
#ifndef CHAT_ROOM_H
#define CHAT_ROOM_H

#include "chat_internal.h"
#include "pl_limit.h"

#include <stddef.h>
#include <stdint.h>

#define XMPP_NS_MUC "http://jabber.org/protocol/muc"
#define XMPP_NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define XMPP_NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"
#define XMPP_NS_MUC_ADMIN "http://jabber.org/protocol/muc#admin"
#define XMPP_NS_MUC_CONFIG "http://jabber.org/protocol/muc#roomconfig"
#define XMPP_NS_MUC_INFO "http://jabber.org/protocol/muc#roominfo"
#define XMPP_NS_SELF_PING "http://jabber.org/protocol/muc#self-ping-optimization"
#define XMPP_NS_OCCUPANT_ID "urn:xmpp:occupant-id:0"
#define XMPP_NS_MAM "urn:xmpp:mam:2"
#define XMPP_NS_MAM_EXT "urn:xmpp:mam:2#extended"
#define XMPP_NS_RSM "http://jabber.org/protocol/rsm"
#define XMPP_NS_DATA "jabber:x:data"
#define XMPP_NS_FORWARD "urn:xmpp:forward:0"
#define XMPP_NS_MARKERS "urn:xmpp:chat-markers:0"
#define XMPP_NS_FULLTEXT "urn:xmpp:fulltext:0"

/* A first-time member's history (XEP-0045 leaves it to the service; 20 is
 * what ejabberd and Prosody send). */
#define CHAT_ROOM_FIRST_HISTORY 20
/* Stanzas held for a room that is still loading, per room. */
#define CHAT_ROOM_WAIT_MAX 256

/* Ordered: a higher affiliation may do what a lower one may. */
enum chat_aff {
    CHAT_AFF_NONE,
    CHAT_AFF_OUTCAST,
    CHAT_AFF_MEMBER,
    CHAT_AFF_ADMIN,
    CHAT_AFF_OWNER
};
enum chat_role {
    CHAT_ROLE_NONE,
    CHAT_ROLE_VISITOR,
    CHAT_ROLE_PARTICIPANT,
    CHAT_ROLE_MODERATOR
};

enum chat_room_state {
    CHAT_ROOM_LOADING,  /* the load job is out; stanzas wait */
    CHAT_ROOM_CREATING, /* the create job is out; stanzas wait */
    CHAT_ROOM_READY,    /* loaded */
    CHAT_ROOM_MISSING,  /* no such room in the store */
};

/* A stanza that came while the room was loading, and whose session it was. */
struct chat_room_wait {
    struct chat_room_wait *next;
    char *user;
    uint64_t serial;
    struct xmpp_stanza *st;
};

struct chat_occupant;

struct chat_room {
    char *jid;       /* bare JID, the key in cs->rooms */
    char *localpart; /* its localpart */
    char id[40];     /* the store's uuid (READY) */
    enum chat_room_state state;
    int detached;  /* no longer in cs->rooms: freed when refs reach 0 */
    int draining;  /* handing out waiting stanzas: not freed meanwhile */
    unsigned refs; /* room frames queued to sessions and not written */
    char *creator; /* CREATING: who asked */
    char *name;
    char *description;
    char *subject;
    char *subject_by;
    int members_only;
    int public_room;
    int change_subject;
    struct pl_map affs; /* username -> (void *)(uintptr_t)enum chat_aff */
    struct chat_occupant *occupants;
    size_t noccupants;
    struct chat_room_wait *wait_head;
    struct chat_room_wait *wait_tail;
    size_t nwait;
    /* The admin API changed the room in the store (chat_room_events.c): */
    int reloading; /* a reload (DB_JOB_ROOM_LOAD while READY) is out */
    int stale;     /* changed again since that reload or the load was sent */
};

struct chat_seat;

struct chat_occupant {
    struct chat_room *room;
    struct chat_occupant *next;
    char *nick;     /* the username */
    char *bare_jid; /* user@domain */
    char occupant_id[40];
    enum chat_role role;
    struct chat_seat *seats;
    /* The children of the user's last available presence to the room
     * (show, status, ...), as the other occupants see them; NULL: none. */
    struct xmpp_node *presence;
    int64_t delivered; /* highest archive id written to one of its seats */
    int64_t saved;     /* highest one a position job was submitted for */
    int saving;        /* a position job is out */

    /* PARLEY_LIMIT_ROOM_MESSAGE_RATE */
    struct pl_bucket rate;
};

enum chat_seat_phase {
    CHAT_SEAT_LOADING, /* the join job is out */
    CHAT_SEAT_SENDING, /* history being sent, paced by the socket */
    CHAT_SEAT_LIVE,
};

/* One session in one room. While its history loads and is sent, live room
 * messages are held (by reference to their shared frame, bounded as the
 * offline backlog is) and sent after it. */
struct chat_seat {
    struct chat_occupant *occ;
    struct chat_session *session;
    struct chat_seat *next_in_occ;
    struct chat_seat *next_in_session;
    enum chat_seat_phase phase;
    int recent;       /* a second session: recent history, not catch-up */
    int limit;        /* messages at most */
    int64_t since_us; /* none older (0: no bound) */
    long maxchars;    /* bytes of history at most (-1: no bound) */
    struct db_offline_msg *backlog;
    size_t *backlog_len;
    size_t backlog_count, backlog_sent, backlog_acked;
    size_t inflight;
    struct chat_held *held_head;
    struct chat_held *held_tail;
    size_t held_bytes;
    int missed;            /* live messages were not held: load again after them */
    int64_t cursor;        /* the last archive id the history loads returned */
    int64_t lowest_missed; /* the first live message not held (0: none) */
    uint64_t gen;          /* tells a history job's answer whether it is ours */
    int recorded;          /* a room_occupants row was asked for (0008) */
};

/* The room frames queued to one session, in order, with their rooms: what
 * the transport reports written comes back in the same order. */
struct chat_room_echo {
    int64_t id;
    struct chat_room *room; /* a reference */
};
struct chat_room_echoes {
    struct chat_room_echo *q;
    size_t head, len, cap;
};

/* chat_room.c */
enum chat_aff chat_room_aff(const struct chat_room *r, const char *username);
void chat_room_set_aff(struct chat_room *r, const char *username, enum chat_aff aff);
const char *chat_aff_name(enum chat_aff aff);
int chat_aff_parse(const char *name, enum chat_aff *out);
const char *chat_role_name(enum chat_role role);
struct chat_occupant *chat_room_occupant(const struct chat_room *r, const char *nick);
/* s's seat in r, or NULL. */
struct chat_seat *chat_room_seat(const struct chat_room *r, const struct chat_session *s);
/* "room@service/nick", allocated. */
char *chat_room_occupant_jid(const struct chat_room *r, const char *nick);
/* Queues a room frame to one seat: held while the seat catches up, else
 * written with a CHAT_TAG_ROOM tag (id > 0) or untagged (id 0). */
void chat_room_send_seat(struct chat_server *cs, struct chat_seat *seat, int64_t id,
                         struct pl_frame *f);
/* The same frame to every seat of every occupant. */
void chat_room_broadcast(struct chat_server *cs, struct chat_room *r, int64_t id,
                         struct pl_frame *f);
/* Queues a frame with a CHAT_TAG_ROOM tag to s and remembers the room, so
 * that the write moves the member's position. */
int chat_room_send_tagged(struct chat_session *s, struct chat_room *r, int64_t id,
                          struct pl_frame *f);
/* The presence of occ as the room shows it: its show/status, the muc#user
 * item, the status codes given (count of them), the occupant id; type
 * "unavailable" or NULL. `to` may be NULL (a shared frame). */
struct xmpp_node *chat_room_presence(const struct chat_room *r,
                                     const struct chat_occupant *occ, const char *type,
                                     const char *to, const int *codes, size_t ncodes);
/* Removes occ from r, telling everyone: unavailable presence with the codes
 * (and the self code 110 to its own seats). `extra` may be NULL or an
 * element whose children are copied in: <actor/> and <reason/> into the
 * muc#user <item/>, anything else (<destroy/>) into the muc#user <x/>. */
void chat_room_remove(struct chat_server *cs, struct chat_room *r,
                      struct chat_occupant *occ, const int *codes, size_t ncodes,
                      const struct xmpp_node *extra);
/* The room's affiliation of occ changed: everyone sees its new presence. */
void chat_room_occupant_changed(struct chat_server *cs, struct chat_room *r,
                                struct chat_occupant *occ);
/* Frees the room if nobody needs it in memory any more. */
void chat_room_release(struct chat_server *cs, struct chat_room *r);
/* A position job for (r, username): delivered and/or displayed. */
void chat_room_position(struct chat_server *cs, const struct chat_room *r,
                        const char *username, int64_t delivered, int64_t displayed);

/* XEP-0421: the occupant id of (r, username), into out (at least 33 bytes). */
void chat_room_occupant_id(const struct chat_room *r, const char *username, char *out,
                           size_t outlen);

/* chat_room_events.c: the admin API's room changes, read again from the
 * store, told to the occupants as the XMPP path would. */
/* A DB_JOB_ROOM_LOAD answered for a room that is READY: a reload. */
void chat_room_reloaded(struct chat_server *cs, struct chat_room *r, struct db_job *job);
/* The room was loading when it changed: read it again once it is READY. */
void chat_room_reload(struct chat_server *cs, struct chat_room *r);

/* chat_mam.c: an XEP-0082 date-time (with a zone: Z or +hh:mm) in
 * microseconds since the epoch; PL_EINVAL if it is not one. */
int chat_parse_stamp(const char *s, int64_t *us);
/* The same, and in *unit the precision it was given to (microseconds: 1
 * for six decimals, 1000 for three, 1000000 for none). */
int chat_parse_stamp_unit(const char *s, int64_t *us, int64_t *unit);

/* The checks of an archive query (<query/> of urn:xmpp:mam:2, its form and
 * XEP-0059 set) into q, which the caller owns (room: the room's JID, NULL for
 * a user's archive). PL_OK, or PL_EINVAL with the error to reply with. Pure:
 * reads only cs's domain, muc_domain and mam_max_page. */
int chat_mam_parse_query(struct chat_server *cs, const char *room,
                         const struct xmpp_node *payload, struct db_mam_query_job *q,
                         const char **type, const char **condition);

/* chat_room_msg.c */
void chat_room_message(struct chat_server *cs, struct chat_room *r,
                       struct chat_session *s, struct xmpp_stanza *st);
void chat_room_msg_stored(struct chat_server *cs, struct db_job *job, struct chat_op *op);
void chat_room_subject_done(struct chat_server *cs, struct db_job *job,
                            struct chat_op *op);
/* XEP-0045 section 7.5: a message to room/nick from seat's occupant (NULL:
 * not one), to every session of that occupant. Borrows st. */
void chat_room_private(struct chat_server *cs, struct chat_room *r,
                       struct chat_session *s, struct chat_seat *seat,
                       const struct xmpp_stanza *st);
/* The muc#user <x/> of a message if it carries an <invite/> or a
 * <decline/>, else NULL. */
const struct xmpp_node *chat_room_invitation(const struct xmpp_node *msg);
/* Section 7.8.2: a mediated invitation from an occupant. In a members-only
 * room (owners and admins only) the invitees become members first, then
 * the invitations go out. A <decline/> goes to the inviter. Borrows st. */
void chat_room_invite(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                      struct chat_seat *seat, const struct xmpp_stanza *st);
/* Sends the invitations of msg from the room to each invitee's sessions. */
void chat_room_invites_forward(struct chat_server *cs, struct chat_room *r,
                               const char *inviter, const struct xmpp_node *msg);
/* The subject message a joining session gets last. */
struct pl_frame *chat_room_subject_frame(const struct chat_room *r);
/* Starts the seat's history (after its self-presence). */
void chat_room_history_start(struct chat_server *cs, struct chat_seat *seat,
                             int make_member);
void chat_room_history_loaded(struct chat_server *cs, struct db_job *job,
                              struct chat_op *op);
/* The transport wrote the history frame `id` of seat. */
void chat_room_history_written(struct chat_server *cs, struct chat_seat *seat,
                               int64_t id);
/* A live frame for a seat that is catching up: held, or noted as missed. */
void chat_room_history_hold(struct chat_seat *seat, int64_t id, struct pl_frame *f);
void chat_room_history_free(struct chat_seat *seat);

/* chat_room_admin.c: iqs to rooms (disco, owner and admin use cases) */
void chat_room_iq(struct chat_server *cs, struct chat_room *r, struct chat_session *s,
                  struct xmpp_stanza *st);
void chat_room_affiliations_done(struct chat_server *cs, struct db_job *job,
                                 struct chat_op *op);
void chat_room_config_done(struct chat_server *cs, struct db_job *job,
                           struct chat_op *op);
void chat_room_destroy_done(struct chat_server *cs, struct db_job *job,
                            struct chat_op *op);
/* The room is gone from the store: every occupant gets the destruction
 * presence (XEP-0045 section 10.9, with the alternate venue and reason when
 * not NULL) and the room leaves memory once nobody needs it. */
void chat_room_destroyed(struct chat_server *cs, struct chat_room *r, const char *alt,
                         const char *reason, const char *by);
/* A status-only message from the room to every occupant (104...). */
void chat_room_status_message(struct chat_server *cs, struct chat_room *r, int code);
/* x data form helpers, shared with chat_mam.c */
struct xmpp_node *chat_form_field(struct xmpp_node *form, const char *var,
                                  const char *type, const char *label, const char *value);
/* The single <value/> of a field, allocated: NULL and *bad set when it has
 * none or several. */
char *chat_form_value(const struct xmpp_node *field, int *bad);
/* 1/true or 0/false (XEP-0004 boolean): PL_OK or PL_EINVAL. */
int chat_form_bool(const char *v, int *out);

#endif
