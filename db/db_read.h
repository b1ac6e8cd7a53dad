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
#include <stdint.h>

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

/* What the presence and unread tables hold of one user (jid: the bare
 * JID): {"last_presence": {"resource", "available", "show", "status",
 * "priority", "at"} or null, "unread": {"peers": [{"peer", "unread"}...],
 * "rooms": [{"room", "jid", "unread"}...]}}. Peers with nothing unread are
 * left out; rooms are those the user has a position in. */
int db_read_user_state(struct db_read_pool *pool, const char *jid, const char *username,
                       char **json);

/* Live sessions, by full JID: everyone's (username NULL) or one user's,
 * after cursor (a full JID), at most limit. *json is {"items":
 * [{"full_jid", "username", "resource", "node", "available", "show",
 * "status", "priority", "address", "since"}...], "next_cursor"}; PL_ENOENT
 * when username names no user. */
int db_read_sessions_list(struct db_read_pool *pool, const char *username,
                          const char *cursor, int limit, char **json);

/* Which messages db_read_messages_list pages through. JIDs are bare; the
 * caller has checked since/until (RFC 3339). At most one of `peer` and
 * `room`; `peer` only with `user`. */
struct db_read_msg_filter {
    const char *user;  /* sent or received by this JID (room messages: sent) */
    const char *peer;  /* with user: their conversation */
    const char *room;  /* a room's bare JID */
    const char *since; /* created_at >= since, or NULL */
    const char *until; /* created_at < until, or NULL */
    const char *q;     /* full text over the body (websearch syntax), or NULL */
    int oldest_first;  /* 0: newest first */
    int64_t cursor;    /* an archive id from next_cursor; 0: from the start */
    int limit;         /* 1 to DB_READ_LIST_MAX */
};

/* One page of the archive: {"items": [{"id", "kind", "from", "to", "room",
 * "body", "stanza_id", "created_at"}...], "next_cursor"}. */
int db_read_messages_list(struct db_read_pool *pool, const struct db_read_msg_filter *f,
                          char **json);
/* One message with its delivery state per recipient: the fields above and
 * "deliveries": [{"recipient", "state", "delivered_at", "received_at",
 * "displayed_at"}...]; PL_ENOENT if there is no such id. */
int db_read_message_get(struct db_read_pool *pool, int64_t id, char **json);
/* {"users", "online_users", "sessions", "messages_last_hour",
 * "messages_last_day", "offline_waiting", "oldest_undelivered_seconds"}. */
int db_read_stats(struct db_read_pool *pool, char **json);
/* The audit log, newest first, after cursor (an audit id; 0: the newest):
 * {"items": [{"id", "at", "actor", "action", "target", "details"}...],
 * "next_cursor"}. */
int db_read_audit_list(struct db_read_pool *pool, int64_t cursor, int limit, char **json);

/* One page of rooms, by JID, after cursor (a room JID; NULL: from the
 * start): {"items": [{"id", "jid", "name", "description", "members_only",
 * "public", "message_count", "last_activity_at"}...], "next_cursor"}. */
int db_read_rooms_list(struct db_read_pool *pool, const char *cursor, int limit,
                       char **json);
/* One room by id (a uuid the caller has checked): the fields above and
 * "subject", "change_subject", "created_by", "created_at", "members":
 * [{"username", "affiliation", "reason", "updated_at"}...]; PL_ENOENT if
 * there is no such room. Live occupants are the loop's memory, which the
 * API never reads, so they are not here. */
int db_read_room_get(struct db_read_pool *pool, const char *id, char **json);

/* Admin changes (db_admin.c). Each runs in one read-write transaction with
 * its audit row (actor: the admin token's `sub`) and, when the XMPP loops
 * must act, its NOTIFY, which PostgreSQL delivers at commit. */

/* Creates a user (disabled: 0 or 1); *json is the user as
 * db_read_users_list shows one. PL_EEXIST if the username is taken. */
int db_admin_user_create(struct db_read_pool *pool, const char *actor,
                         const char *username, const char *display_name, int disabled,
                         char **json);
/* Sets display_name (when set_display_name; NULL clears it) and disabled
 * (when set_disabled); PL_ENOENT if there is no such user. */
int db_admin_user_update(struct db_read_pool *pool, const char *actor,
                         const char *username, int set_display_name,
                         const char *display_name, int set_disabled, int disabled,
                         char **json);
/* Deletes a user: disabled everywhere and hidden, the archive kept.
 * PL_ENOENT if there is no such user. */
int db_admin_user_delete(struct db_read_pool *pool, const char *actor,
                         const char *username);
/* Asks every node to close the user's sessions (resource NULL) or one.
 * *sessions: how many the sessions table has; PL_ENOENT for no user. */
int db_admin_kick(struct db_read_pool *pool, const char *actor, const char *username,
                  const char *resource, int *sessions);
/* Stores a direct message from `from` (a bare JID) to `to` (a local bare
 * JID) as the XMPP path does, and tells the loops; *json is the message as
 * db_read_message_get shows it. */
int db_admin_send(struct db_read_pool *pool, const char *actor, const char *from,
                  const char *to, const char *body, char **json);
/* Creates a room group-{uuid}@muc_domain (name, description: NULL for
 * none) with members_json (a JSON array of usernames, or NULL) as members;
 * *json is {"id", "jid", "name", "description", "members_only",
 * "members": [username...]}. */
int db_admin_room_create(struct db_read_pool *pool, const char *actor,
                         const char *muc_domain, const char *name,
                         const char *description, int members_only,
                         const char *members_json, char **json);
/* Sets name and description (when set_*; NULL clears them), and
 * members_only and public (each -1: unchanged, else 0 or 1); PL_ENOENT if
 * there is no such room. A room a node has loaded is not told. */
int db_admin_room_update(struct db_read_pool *pool, const char *actor, const char *id,
                         int set_name, const char *name, int set_description,
                         const char *description, int members_only, int public_);
/* Deletes a room with its members and positions, its archive kept;
 * PL_ENOENT if there is no such room. */
int db_admin_room_delete(struct db_read_pool *pool, const char *actor, const char *id);
/* Sets username's affiliation ("owner", "admin", "member" or "outcast")
 * with the room; *json is the member as db_read_room_get lists one.
 * PL_ENOENT if there is no such room. */
int db_admin_room_member_set(struct db_read_pool *pool, const char *actor, const char *id,
                             const char *username, const char *affiliation, char **json);
/* Removes username's affiliation; PL_ENOENT if there is no such room or
 * member. */
int db_admin_room_member_remove(struct db_read_pool *pool, const char *actor,
                                const char *id, const char *username);
/* Stores a message to a room (id: its uuid) from `from` (a user's bare
 * JID, with username, who must be an owner, admin or member; or the
 * server's domain, username NULL) by the room path's own function
 * (parley_room_store_message). *json is the message as
 * db_read_message_get shows it. PL_ENOENT: no such room; PL_EDENIED: the
 * user is not a member. A node that has the room loaded does not see it
 * live: its members get it from the archive when they join again. */
int db_admin_room_send(struct db_read_pool *pool, const char *actor, const char *from,
                       const char *username, const char *id, const char *body,
                       char **json);
/* An audit row alone, for actions that change nothing else (an export).
 * details_json: a JSON object, or NULL. */
int db_admin_audit(struct db_read_pool *pool, const char *actor, const char *action,
                   const char *target, const char *details_json);

/* File upload (db_upload.c, migrations/0010_uploads.sql): what the
 * admin API's listener asks when it takes a PUT or serves a GET, and the
 * admin endpoints. Path keys are checked by the caller (32 hex digits). */

/* What a slot says of a PUT of name, size and content_type (NULL: none)
 * to its URL. */
enum db_upload_state {
    DB_UPLOAD_OK,      /* the slot takes it */
    DB_UPLOAD_NONE,    /* no such slot, or another name */
    DB_UPLOAD_SIZE,    /* another length than the slot's */
    DB_UPLOAD_TYPE,    /* another content type than the slot's */
    DB_UPLOAD_USED,    /* a PUT came before */
    DB_UPLOAD_EXPIRED, /* the slot's time is over */
};
/* Claims the slot when *state is DB_UPLOAD_OK (claim 1), or only says
 * what a PUT would get (claim 0). PL_OK with *state set, or PL_EIO. */
int db_upload_put_begin(struct db_read_pool *pool, const char *path_key, const char *name,
                        int64_t size, const char *content_type, int claim,
                        enum db_upload_state *state);
/* The PUT ended: ok 1 marks the file stored; 0 frees the slot again. */
int db_upload_put_end(struct db_read_pool *pool, const char *path_key, int ok);
/* A stored file: its size and content type (*content_type the caller's);
 * PL_ENOENT if none has that key and name. */
int db_upload_get(struct db_read_pool *pool, const char *path_key, const char *name,
                  int64_t *size, char **content_type);
/* One page of uploads, newest first: a user's (owner, a username), a
 * room's (room_id, a checked uuid) or all (both NULL), after cursor (an
 * upload id; 0: the newest). *json is {"items": [{"id", "owner", "room",
 * "room_id", "name", "size", "content_type", "created_at", "stored",
 * "stored_at"}...], "next_cursor", "total_bytes"}. */
int db_upload_list(struct db_read_pool *pool, const char *owner, const char *room_id,
                   int64_t cursor, int limit, char **json);
/* Deletes an upload with its audit row; *path_key (the caller's) names its
 * file. PL_ENOENT if there is no such upload. */
int db_upload_delete(struct db_read_pool *pool, const char *actor, int64_t id,
                     char **path_key);

/* Export (db_export.c): the messages of a user, a conversation or a room,
 * oldest first, read on a connection of its own in one snapshot (a
 * repeatable-read transaction), a batch of rows at a time after the last id
 * seen: memory stays the same however many rows there are. */
struct db_export;

struct db_export_filter {
    const char *user; /* bare JIDs, as in db_read_msg_filter */
    const char *peer;
    const char *room;
    const char *since;
    const char *until;
};

/* One row; the strings are borrowed until the next db_export_next (NULL
 * for SQL NULL). created_at is RFC 3339 UTC with microseconds. */
struct db_export_row {
    int64_t id;
    const char *kind;
    const char *sender;
    const char *recipient;
    const char *room;
    const char *stanza_id;
    const char *body;
    const char *created_at;
};

/* Connects and opens the snapshot. Copies the filter. */
int db_export_open(const char *conninfo, const struct db_export_filter *f,
                   struct db_export **out);
/* The next row: PL_OK, PL_ENOENT at the end, PL_EIO. */
int db_export_next(struct db_export *e, struct db_export_row *row);
/* Ends the transaction and the connection; NULL is a no-op. */
void db_export_close(struct db_export *e);

#endif
