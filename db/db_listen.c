/* The listener thread: tells the loop which users are disabled. At start and
 * after every reconnect it reports each disabled user (a notification sent
 * while it was disconnected is lost, the table is not), then forwards each
 * parley_user_state notification. A user re-enabled while the listener was
 * disconnected is not reported: the loop only acts on "disabled".
 *
 * It also forwards the admin API's requests (channel parley_admin, sent by
 * the functions of 0005_admin.sql at commit): a kick becomes a
 * DB_EVENT_KICK; a message id becomes a DB_EVENT_MESSAGE with the stored
 * stanza, read here (this thread may block; the loop may not) and only
 * while it is still `stored` for its recipient. A request sent while the
 * listener is disconnected is lost: a kick then waits for the next, and a
 * message for the recipient's next login, as an offline message.
 *
 * Room changes (0008): "room:JID" becomes a DB_EVENT_ROOM (the loop reads
 * the room again if it has it loaded) and "room-message:ID" a
 * DB_EVENT_ROOM_MESSAGE with the stored room message, read here. Lost while
 * disconnected: the room keeps its old state in memory until it is next
 * loaded, and the message is in the room's history for the next join. */
#include "db_internal.h"
#include "pl_error.h"
#include "pl_log.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int db_user_state_parse(const char *payload, char **username, int *disabled)
{
    *username = NULL;
    const char *colon = strrchr(payload, ':');
    if (!colon || colon == payload || (colon[1] != '0' && colon[1] != '1') ||
        colon[2] != '\0')
        return PL_EINVAL;
    size_t len = (size_t)(colon - payload);
    char *name = malloc(len + 1);
    if (!name)
        return PL_ENOMEM;
    memcpy(name, payload, len);
    name[len] = '\0';
    *username = name;
    *disabled = colon[1] == '1';
    return PL_OK;
}

int db_admin_event_parse(const char *payload, char **username, char **resource,
                         int64_t *id)
{
    *username = *resource = NULL;
    *id = 0;
    if (strncmp(payload, "message:", 8) == 0) {
        const char *p = payload + 8;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (*p < '1' || *p > '9' || errno || *end || v < 1)
            return PL_EINVAL;
        *id = v;
        return PL_OK;
    }
    if (strncmp(payload, "kick:", 5) != 0 || !payload[5] || payload[5] == '/')
        return PL_EINVAL;
    const char *user = payload + 5;
    /* A localpart has no '/' (RFC 7622): the first one ends it. */
    const char *slash = strchr(user, '/');
    if (slash && !slash[1])
        return PL_EINVAL;
    *username = slash ? strndup(user, (size_t)(slash - user)) : strdup(user);
    if (slash && *username)
        *resource = strdup(slash + 1);
    if (!*username || (slash && !*resource)) {
        free(*username);
        *username = NULL;
        return PL_ENOMEM;
    }
    return PL_OK;
}

int db_room_event_parse(const char *payload, char **jid, int64_t *id)
{
    *jid = NULL;
    *id = 0;
    if (strncmp(payload, "room-message:", 13) == 0) {
        const char *p = payload + 13;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (*p < '1' || *p > '9' || errno || *end || v < 1)
            return PL_EINVAL;
        *id = v;
        return PL_OK;
    }
    if (strncmp(payload, "room:", 5) != 0 || !payload[5] || !strchr(payload + 5, '@') ||
        strchr(payload + 5, '/'))
        return PL_EINVAL;
    *jid = strdup(payload + 5);
    return *jid ? PL_OK : PL_ENOMEM;
}

/* One stored message as the admin statements read it: (its recipient or
 * room, its stanza, created_at in microseconds). 0 if read; 1 if there is
 * no such row (delivered already, or gone); -1 on failure (logged). */
static int read_stored(PGconn *conn, const char *stmt, int64_t id, char **who,
                       char **stanza_xml, int64_t *created_at_us)
{
    char idbuf[24];
    snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
    const char *p[1] = {idbuf};
    PGresult *res = PQexecPrepared(conn, stmt, 1, p, NULL, NULL, 0);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        pl_warn(0, NULL, "db: %s for message %s failed", stmt, idbuf);
        PQclear(res);
        return -1;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 1;
    }
    *who = strdup(PQgetvalue(res, 0, 0));
    *stanza_xml = strdup(PQgetvalue(res, 0, 1));
    *created_at_us = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    PQclear(res);
    if (!*who || !*stanza_xml) {
        pl_error(0, NULL, "db: out of memory reporting admin message %s", idbuf);
        free(*who);
        free(*stanza_xml);
        *who = *stanza_xml = NULL;
        return -1;
    }
    return 0;
}

/* Reads room message `id` and hands it to the loop. */
static void db_listen_room_message(struct db_store *st, PGconn *conn, int64_t id)
{
    struct db_job *job = db_job_new(DB_EVENT_ROOM_MESSAGE);
    if (!job) {
        pl_error(0, NULL, "db: out of memory reporting an admin room message");
        return;
    }
    job->u.room_message.id = id;
    if (read_stored(conn, "admin_room_message", id, &job->u.room_message.room,
                    &job->u.room_message.stanza_xml,
                    &job->u.room_message.created_at_us) != 0) {
        db_job_free(job); /* a room message is stored before its notification */
        return;
    }
    job->status = PL_OK;
    db_store_complete(st, job);
}

/* A room payload of parley_admin: 1 if it was one (handled), else 0. */
static int db_listen_room(struct db_store *st, PGconn *conn, const char *payload)
{
    if (strncmp(payload, "room", 4) != 0)
        return 0;
    char *jid;
    int64_t id;
    int rc = db_room_event_parse(payload, &jid, &id);
    if (rc == PL_EINVAL)
        return 0;
    if (rc != PL_OK) {
        pl_error(0, NULL, "db: out of memory reporting a room change");
        return 1;
    }
    if (!jid) {
        db_listen_room_message(st, conn, id);
        return 1;
    }
    struct db_job *job = db_job_new(DB_EVENT_ROOM);
    if (!job) {
        pl_error(0, jid, "db: out of memory reporting a room change");
        free(jid);
        return 1;
    }
    job->u.room_event.jid = jid;
    job->status = PL_OK;
    db_store_complete(st, job);
    return 1;
}

/* Reads message `id` (if still stored for its recipient) and hands it to
 * the loop. */
static void db_listen_message(struct db_store *st, PGconn *conn, int64_t id)
{
    struct db_job *job = db_job_new(DB_EVENT_MESSAGE);
    if (!job) {
        pl_error(0, NULL, "db: out of memory reporting an admin message");
        return;
    }
    job->u.message.id = id;
    if (read_stored(conn, "admin_message", id, &job->u.message.recipient,
                    &job->u.message.stanza_xml, &job->u.message.created_at_us) != 0) {
        db_job_free(job);
        return;
    }
    job->status = PL_OK;
    db_store_complete(st, job);
}

static void db_listen_admin(struct db_store *st, PGconn *conn, const char *payload)
{
    char *username, *resource;
    int64_t id;
    if (db_listen_room(st, conn, payload))
        return;
    if (db_admin_event_parse(payload, &username, &resource, &id) != PL_OK) {
        pl_warn(0, NULL, "db: ignoring parley_admin payload '%s'", payload);
        return;
    }
    if (!username) {
        db_listen_message(st, conn, id);
        return;
    }
    struct db_job *job = db_job_new(DB_EVENT_KICK);
    if (!job) {
        free(username);
        free(resource);
        return;
    }
    job->u.kick.username = username;
    job->u.kick.resource = resource;
    job->status = PL_OK;
    db_store_complete(st, job);
}

/* Hands one user's state to the loop; takes ownership of username. */
static void db_listen_report(struct db_store *st, char *username, int disabled)
{
    struct db_job *job = db_job_new(DB_EVENT_USER_STATE);
    if (!job) {
        pl_error(0, username, "db: out of memory reporting a user's state");
        free(username);
        return;
    }
    job->u.user_state.username = username;
    job->u.user_state.disabled = disabled;
    job->status = PL_OK;
    db_store_complete(st, job);
}

static void db_listen_forward(struct db_store *st, PGconn *conn)
{
    PGnotify *note;
    while ((note = PQnotifies(conn)) != NULL) {
        if (strcmp(note->relname, "parley_admin") == 0) {
            db_listen_admin(st, conn, note->extra);
            PQfreemem(note);
            continue;
        }
        char *username;
        int disabled;
        if (db_user_state_parse(note->extra, &username, &disabled) == PL_OK)
            db_listen_report(st, username, disabled);
        else
            pl_warn(0, NULL, "db: ignoring parley_user_state payload '%s'", note->extra);
        PQfreemem(note);
    }
}

/* LISTEN first, then read the table: a change between the two is then seen
 * twice at worst, never missed. */
static int db_listen_setup(struct db_store *st, PGconn *conn)
{
    PGresult *res = PQexec(conn, "LISTEN parley_user_state");
    int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok)
        return PL_EIO;
    res = PQexec(conn, "LISTEN parley_admin");
    ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok)
        return PL_EIO;
    /* db_listen_message */
    res = PQprepare(conn, "admin_message",
                    "SELECT m.recipient, m.stanza, (extract(epoch FROM m.created_at)"
                    " * 1000000)::bigint FROM messages m JOIN deliveries d"
                    " ON d.message_id = m.id AND d.recipient = m.recipient"
                    " WHERE m.id = $1::bigint AND m.kind = 'chat' AND d.state = 'stored'",
                    0, NULL);
    ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok)
        return PL_EIO;
    /* db_listen_room_message */
    res = PQprepare(conn, "admin_room_message",
                    "SELECT m.room, m.stanza, (extract(epoch FROM m.created_at)"
                    " * 1000000)::bigint FROM messages m"
                    " WHERE m.id = $1::bigint AND m.kind = 'groupchat'",
                    0, NULL);
    ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok)
        return PL_EIO;
    /* db_listen_setup */
    res = PQprepare(conn, "disabled_users", "SELECT username FROM users WHERE disabled",
                    0, NULL);
    ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok)
        return PL_EIO;
    res = PQexecPrepared(conn, "disabled_users", 0, NULL, NULL, NULL, 0);
    ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
    for (int i = 0; ok && i < PQntuples(res); i++) {
        char *name = strdup(PQgetvalue(res, i, 0));
        if (name)
            db_listen_report(st, name, 1);
    }
    PQclear(res);
    if (!ok)
        return PL_EIO;
    /* Notifications that came in with those answers are already buffered:
     * poll() would not see them. */
    db_listen_forward(st, conn);
    return PL_OK;
}

void *db_listen_main(void *arg)
{
    struct db_store *st = arg;
    PGconn *conn = st->listen_conn;
    int ready = 0; /* connected and listening */
    int delay = DB_BACKOFF_MIN_MS;
    char err[256];
    while (!atomic_load(&st->stopping)) {
        if (!ready) {
            if (PQstatus(conn) == CONNECTION_OK && db_listen_setup(st, conn) == PL_OK) {
                ready = 1;
                delay = DB_BACKOFF_MIN_MS;
                continue;
            }
            pl_warn(0, NULL, "db: listener not connected (%s), retrying in %d ms",
                    db_conn_error(conn, err, sizeof(err)), delay);
            db_sleep_ms(st, delay);
            delay = delay * 2 > DB_BACKOFF_MAX_MS ? DB_BACKOFF_MAX_MS : delay * 2;
            /* A fresh connection even if this one looked fine: setup failed. */
            if (!atomic_load(&st->stopping))
                PQreset(conn);
            continue;
        }
        struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
        int n = poll(&pfd, 1, DB_LISTEN_POLL_MS);
        if (n < 0 && errno != EINTR) {
            ready = 0;
            continue;
        }
        if (n <= 0)
            continue;
        if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK) {
            pl_warn(0, NULL, "db: listener lost its connection: %s",
                    db_conn_error(conn, err, sizeof(err)));
            ready = 0;
            continue;
        }
        db_listen_forward(st, conn);
    }
    return NULL;
}
