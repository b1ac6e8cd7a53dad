/* Shared between the chat_*.c files; not for other layers. */
#ifndef CHAT_INTERNAL_H
#define CHAT_INTERNAL_H

#include "chat.h"
#include "pl_map.h"

#include <stdint.h>

enum chat_offline_state { CHAT_OFFLINE_NONE, CHAT_OFFLINE_LOADING, CHAT_OFFLINE_DONE };

/* A live message held back while the session's offline queue loads, so
 * that stored messages arrive first and in order. */
struct chat_held {
    struct chat_held *next;
    int64_t id;
    char *bytes;
    size_t len;
};

struct chat_user;

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
};

/* Everyone online under one username. */
struct chat_user {
    char *username;
    char *bare_jid;
    struct chat_session *sessions;
};

/* The context of a store job: the job's owner, kept by chat so that it
 * outlives the sessions it mentions. */
struct chat_op {
    struct chat_op *prev;
    struct chat_op *next;
    struct xmpp_stanza *stanza; /* MSG_STORE: the stanza to route */
    char *to_user;              /* MSG_STORE: the recipient's username */
    char *to_resource;          /* MSG_STORE: the resource addressed, or NULL */
    char *sender_user;          /* whose session submitted it */
    uint64_t sender_serial;
};

struct chat_server {
    char *domain;
    char *muc_domain;
    char *node;
    uint64_t boot;      /* start time in microseconds: session names are unique */
    size_t send_window; /* offline bytes queued ahead of the socket */
    struct chat_store store;
    struct xmpp_parser *parser; /* for stored stanzas */
    struct pl_map users;        /* username -> struct chat_user */
    struct pl_map disabled;     /* username -> (void *)1 */
    uint64_t next_serial;
    struct chat_op *ops; /* every op whose job is out */
};

/* chat_session.c */
struct chat_user *chat_user_find(struct chat_server *cs, const char *username);
struct chat_session *chat_session_find(struct chat_user *u, const char *resource);
struct chat_session *chat_session_by_serial(struct chat_server *cs, const char *username,
                                            uint64_t serial);
void chat_user_state(struct chat_server *cs, const char *username, int disabled);

/* chat_message.c */
void chat_message_handle(struct chat_server *cs, struct chat_session *s,
                         struct xmpp_stanza *st);
void chat_message_stored(struct chat_server *cs, struct db_job *job);
void chat_message_written(struct chat_server *cs, struct chat_session *s, uint64_t tag);

/* chat_presence.c */
void chat_presence_handle(struct chat_server *cs, struct chat_session *s,
                          struct xmpp_stanza *st);
void chat_offline_loaded(struct chat_server *cs, struct db_job *job);
/* Messages of `username` went back to `stored`: load them again for the
 * sessions that are online and past their first load. */
void chat_offline_requeued(struct chat_server *cs, const char *username);
/* The transport wrote the frame tagged `tag` to s: send more of the backlog. */
void chat_offline_written(struct chat_server *cs, struct chat_session *s, uint64_t tag);
/* Frees what is left of s's backlog and held messages. */
void chat_offline_free(struct chat_session *s);
/* The session's row: written at bind (not available), deleted at the end. */
void chat_presence_bound(struct chat_server *cs, struct chat_session *s);
void chat_presence_gone(struct chat_server *cs, struct chat_session *s);

/* chat_iq.c */
void chat_iq_handle(struct chat_server *cs, struct chat_session *s,
                    struct xmpp_stanza *st);

/* Helpers shared by the handlers (chat_server.c). */
struct chat_op *chat_op_new(struct chat_server *cs, struct chat_session *s);
void chat_op_free(struct chat_server *cs, struct chat_op *op);
/* Submits a job (takes it); on ENOMEM of the caller, use db_job_free. */
void chat_submit(struct chat_server *cs, struct db_job *job, const char *shard_key);
/* Replies to st on s with a stanza error. */
void chat_reply_error(struct chat_server *cs, struct chat_session *s,
                      const struct xmpp_node *orig, const char *type,
                      const char *condition);
/* Appends <stanza-id xmlns='urn:xmpp:sid:0' id=ID by=BY/>. */
int chat_add_stanza_id(struct xmpp_node *msg, int64_t id, const char *by);
/* XEP-0082 UTC timestamp with milliseconds from microseconds since the epoch. */
void chat_format_stamp(int64_t us, char *out, size_t outlen);

#endif
