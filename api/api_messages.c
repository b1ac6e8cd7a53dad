/* The archive: /api/v1/messages (filtered, cursor-paged, full text),
 * /api/v1/messages/{id} (one message with its delivery state per
 * recipient), and POST /api/v1/messages, which stores a direct message with
 * the XMPP path's own SQL and tells the loops, so an online recipient gets
 * it at once and an offline one at their next login. */
#include "api_internal.h"

#include "db_read.h"
#include "pl_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A body is stored in the archive and sent as XML text: only characters
 * XML 1.0 allows (section 2.2) can be. *bad gets the reason. */
static int body_ok(const char *s, size_t n, const char **bad)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == 0 || (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')) {
            *bad = "a control character";
            return 0;
        }
        /* U+FFFE and U+FFFF (EF BF BE/BF) are not XML characters either. */
        if (p[i] == 0xef && i + 2 < n && p[i + 1] == 0xbf && (p[i + 2] & 0xfe) == 0xbe) {
            *bad = "U+FFFE or U+FFFF";
            return 0;
        }
    }
    return 1;
}

static char *room_jid(const struct api_server *srv, const char *uuid)
{
    const char *muc = api_server_config(srv)->muc_domain;
    size_t n = strlen(uuid) + strlen(muc) + 8;
    char *jid = malloc(n);
    if (jid)
        snprintf(jid, n, "group-%s@%s", uuid, muc);
    return jid;
}

void api_messages_filter_free(struct api_msg_filter *f)
{
    free(f->user);
    free(f->peer);
    free(f->room);
    memset(f, 0, sizeof(*f));
}

int api_messages_filter(const struct api_server *srv, const struct api_request *req,
                        struct api_msg_filter *f, struct api_reply *rep)
{
    memset(f, 0, sizeof(*f));
    const struct api_query *q = &req->query;
    const char *user = api_query_get(q, "user"), *peer = api_query_get(q, "peer");
    const char *room = api_query_get(q, "room");
    static const char *const users[2] = {"user", "peer"};
    const char *vals[2] = {user, peer};
    for (int i = 0; i < 2; i++) {
        if (vals[i] && api_parse_username(vals[i]) != PL_OK) {
            api_problem(rep, 400, "invalid-parameter", users[i],
                        "%s must be a username (a lower-case XMPP localpart)", users[i]);
            return PL_EINVAL;
        }
    }
    if (peer && !user) {
        api_problem(rep, 400, "invalid-parameter", "peer",
                    "peer names the other side of user's conversation: give user too");
        return PL_EINVAL;
    }
    if (room && api_parse_uuid(room) != PL_OK) {
        api_problem(rep, 400, "invalid-parameter", "room", "room must be a room's uuid");
        return PL_EINVAL;
    }
    if (room && peer) {
        api_problem(rep, 400, "invalid-parameter", "room",
                    "room and peer cannot be given together");
        return PL_EINVAL;
    }
    static const char *const times[2] = {"since", "until"};
    for (int i = 0; i < 2; i++) {
        const char *t = api_query_get(q, times[i]);
        if (t && api_parse_time(t) != PL_OK) {
            api_problem(
                rep, 400, "invalid-parameter", times[i],
                "%s must be an RFC 3339 date-time (2026-01-31T12:00:00Z) or a date",
                times[i]);
            return PL_EINVAL;
        }
    }
    f->since = api_query_get(q, "since");
    f->until = api_query_get(q, "until");
    if ((user && !(f->user = api_user_jid(srv, user))) ||
        (peer && !(f->peer = api_user_jid(srv, peer))) ||
        (room && !(f->room = room_jid(srv, room)))) {
        api_messages_filter_free(f);
        api_problem(rep, 500, "internal", NULL, "out of memory");
        return PL_ENOMEM;
    }
    return PL_OK;
}

void api_messages_list(struct api_server *srv, struct api_request *req,
                       struct api_reply *rep)
{
    struct db_read_msg_filter df = {0};
    if (api_query_limit(&req->query, &df.limit) != PL_OK) {
        api_problem(rep, 400, "invalid-parameter", "limit",
                    "limit must be an integer from 1 (larger is capped at %d)",
                    API_LIMIT_MAX);
        return;
    }
    const char *order = api_query_get(&req->query, "order");
    if (order && strcmp(order, "newest") != 0 && strcmp(order, "oldest") != 0) {
        api_problem(rep, 400, "invalid-parameter", "order",
                    "order is newest (the default) or oldest");
        return;
    }
    const char *cursor = api_query_get(&req->query, "cursor");
    if (cursor && api_parse_id(cursor, &df.cursor) != PL_OK) {
        api_problem(rep, 400, "invalid-parameter", "cursor",
                    "cursor must be a next_cursor this API answered");
        return;
    }
    const char *text = api_query_get(&req->query, "q");
    if (text && (!*text || strlen(text) > 256)) {
        api_problem(rep, 400, "invalid-parameter", "q",
                    "q must be 1 to 256 bytes of search words");
        return;
    }
    struct api_msg_filter f;
    if (api_messages_filter(srv, req, &f, rep) != PL_OK)
        return;
    df.user = f.user;
    df.peer = f.peer;
    df.room = f.room;
    df.since = f.since;
    df.until = f.until;
    df.q = text;
    df.oldest_first = order && strcmp(order, "oldest") == 0;
    char *json = NULL;
    int rc = db_read_messages_list(api_server_pool(srv), &df, &json);
    api_messages_filter_free(&f);
    if (rc != PL_OK)
        api_problem_db(rep, rc, "messages");
    else
        api_reply_json(rep, 200, json);
}

void api_messages_get(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep)
{
    int64_t id;
    if (api_parse_id(req->path_params[0], &id) != PL_OK) {
        api_problem(rep, 404, "not-found", NULL, "no such message");
        return;
    }
    char *json = NULL;
    int rc = db_read_message_get(api_server_pool(srv), id, &json);
    if (rc != PL_OK)
        api_problem_db(rep, rc, "message");
    else
        api_reply_json(rep, 200, json);
}

static const struct api_field send_fields[] = {
    {"from", API_FIELD_STRING, 0},
    {"to", API_FIELD_STRING, 0},
    {"room", API_FIELD_STRING, 0},
    {"body", API_FIELD_STRING, 1},
};

/* PL_OK when username names a user; a 404 naming field otherwise. */
static int user_exists(struct api_server *srv, const char *username, const char *field,
                       struct api_reply *rep)
{
    if (api_parse_username(username) != PL_OK) {
        api_problem(rep, 400, "invalid-field", field, "%s must be a username", field);
        return PL_EINVAL;
    }
    char *json = NULL;
    int rc = db_read_user_get(api_server_pool(srv), username, &json);
    free(json);
    if (rc == PL_ENOENT)
        api_problem(rep, 404, "not-found", field, "%s names no user", field);
    else if (rc != PL_OK)
        api_problem_db(rep, rc, "user");
    return rc;
}

/* A message to a room, stored as the room path stores one; its function
 * notifies `room-message:ID` at commit (0008), so every node that has the
 * room loaded sends it to the occupants there. */
static void send_room(struct api_server *srv, struct api_request *req,
                      struct api_reply *rep, const char *from_user, const char *room,
                      const char *body)
{
    if (api_parse_uuid(room) != PL_OK) {
        api_problem(rep, 400, "invalid-field", "room", "room must be a room's uuid");
        return;
    }
    if (from_user && user_exists(srv, from_user, "from", rep) != PL_OK)
        return;
    char *from =
        from_user ? api_user_jid(srv, from_user) : strdup(api_server_config(srv)->domain);
    if (!from) {
        api_problem(rep, 500, "internal", NULL, "out of memory");
        return;
    }
    char *json = NULL;
    int rc = db_admin_room_send(api_server_pool(srv), req->actor, from, from_user, room,
                                body, &json);
    free(from);
    if (rc == PL_EDENIED)
        api_problem(rep, 400, "invalid-field", "from",
                    "from is not a member of the room");
    else if (rc == PL_ENOENT)
        api_problem(rep, 404, "not-found", "room", "no such room");
    else if (rc != PL_OK)
        api_problem_db(rep, rc, "message");
    else
        api_reply_json(rep, 201, json);
}

void api_messages_send(struct api_server *srv, struct api_request *req,
                       struct api_reply *rep)
{
    json_t *root, *v[4];
    if (api_body_parse(req, send_fields, 4, &root, v, rep) != PL_OK)
        return;
    char *from = NULL, *to = NULL;
    const char *bad = NULL;
    if (!v[1] == !v[2]) {
        api_problem(rep, 400, "invalid-field", v[1] ? "room" : "to",
                    "give exactly one of to (a username) and room (a room's uuid)");
        goto done;
    }
    size_t blen = json_string_length(v[3]);
    if (blen == 0 || !body_ok(json_string_value(v[3]), blen, &bad)) {
        api_problem(rep, 400, "invalid-field", "body", "body must be non-empty text%s%s",
                    bad ? " without " : "", bad ? bad : "");
        goto done;
    }
    const char *from_user = v[0] ? json_string_value(v[0]) : NULL;
    if (v[2]) {
        send_room(srv, req, rep, from_user, json_string_value(v[2]),
                  json_string_value(v[3]));
        goto done;
    }
    const char *to_user = json_string_value(v[1]);
    if ((from_user && user_exists(srv, from_user, "from", rep) != PL_OK) ||
        user_exists(srv, to_user, "to", rep) != PL_OK)
        goto done;
    from =
        from_user ? api_user_jid(srv, from_user) : strdup(api_server_config(srv)->domain);
    to = api_user_jid(srv, to_user);
    if (!from || !to) {
        api_problem(rep, 500, "internal", NULL, "out of memory");
        goto done;
    }
    char *json = NULL;
    int rc = db_admin_send(api_server_pool(srv), req->actor, from, to,
                           json_string_value(v[3]), &json);
    if (rc != PL_OK)
        api_problem_db(rep, rc, "message");
    else
        api_reply_json(rep, 201, json);
done:
    free(from);
    free(to);
    json_decref(root);
}
