/* The chat layer: sessions, routing of messages, presence, receipts,
 * offline delivery and the iqs the server answers. It runs on the XMPP loop
 * thread only and never blocks: whatever touches the database is a store job
 * whose completion comes back through chat_server_drain. */
#ifndef CHAT_H
#define CHAT_H

#include "db_jobs.h"
#include "pl_metrics.h"
#include "xmpp_stream.h"

struct chat_server;
struct auth_upload_key;

struct chat_config {
    const char *domain;         /* borrowed for the server's lifetime */
    const char *muc_domain;     /* borrowed */
    const char *node;           /* this node's name, prefix of its session names */
    size_t send_window;         /* bytes of offline backlog queued ahead of a
                                   socket (0: 256 KiB); keep it under the
                                   transport's send-queue bound */
    struct pl_metrics *metrics; /* sessions, stanzas, messages stored; may be NULL */
    int max_sessions_per_user;  /* 0: 10 */
    int max_roster_items;       /* 0: 1000 */
    int team_roster;            /* 1: everyone of the domain in every roster */

    /* rooms and the archive */
    int room_creation_admins; /* 1: only the admin API creates rooms */
    int room_catchup_max;     /* messages a returning member gets (0: 1000) */
    int mam_max_page;         /* the largest archive page (0: 250) */

    /* file upload (XEP-0363, chat_upload.c) */
    const char *upload_url; /* the URLs' base ("http://host:port"); NULL: no service */
    const struct auth_upload_key *upload_key; /* signs PUT URLs; borrowed */
    int64_t upload_max;                       /* the largest file (0: 50 MiB) */
    int64_t upload_quota;                     /* bytes per user (0: 1 GiB) */
    int upload_ttl;                           /* seconds a PUT URL lasts (0: 300) */
    int offline_queue_max;  /* PARLEY_LIMIT_OFFLINE_QUEUE (0: no bound) */
    int store_queue_max;    /* PARLEY_LIMIT_STORE_QUEUE (0: no bound) */
    int room_occupants_max; /* PARLEY_LIMIT_ROOM_OCCUPANTS (0: none) */
    int rooms_per_user_max; /* PARLEY_LIMIT_ROOMS_PER_USER (0: none) */
    int room_message_rate;  /* PARLEY_LIMIT_ROOM_MESSAGE_RATE: a second (0: none) */
};

/* Where chat sends its jobs: db_store_submit at wiring, a recorder in unit
 * tests. Takes ownership of the job; it comes back through
 * chat_server_complete. */
struct chat_store {
    void (*submit)(void *ctx, struct db_job *job, const char *shard_key);
    size_t (*queued)(void *ctx); /* jobs not yet taken by a worker; may be NULL */
    void *ctx;
};

int chat_server_new(const struct chat_config *cfg, struct chat_server **out);
/* The store is started after the transport (its wake-ups go to the loop), so
 * it is attached here, before the loop runs. Copied. */
void chat_server_set_store(struct chat_server *cs, const struct chat_store *store);
/* Fills the hooks every stream calls into. */
void chat_server_hooks(struct chat_server *cs, struct xmpp_stream_hooks *hooks);
/* Handles one completed store job (or store event) and frees it; on the
 * loop. */
void chat_server_complete(struct chat_server *cs, struct db_job *job);
/* The server is shutting down (on the loop, before streams are closed):
 * room occupants get status 332 (XEP-0045). */
void chat_server_stopping(struct chat_server *cs);
/* Frees what is left (call after the transport and the store are gone). */
void chat_server_free(struct chat_server *cs);

#endif
