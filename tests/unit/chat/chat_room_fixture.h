/* Helpers of the room and archive tests (chat_room*_test.c, chat_mam_test.c)
 * on top of chat_fixture.h: rooms made through their jobs, completed as the
 * store would. */
#ifndef CHAT_ROOM_FIXTURE_H
#define CHAT_ROOM_FIXTURE_H

#include "chat_fixture.h"
#include "chat_room.h"

#define ROOM "group-1@conference.localhost"
#define ROOM_ID "00000000-0000-4000-8000-000000000001"

static inline char *rx_strdup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

/* The oldest recorded job of this kind, left where it is. */
static inline struct db_job *rx_peek(struct fx *fx, enum db_job_kind kind)
{
    for (size_t i = 0; i < fx->njobs; i++)
        if (fx->jobs[i].job->kind == kind)
            return fx->jobs[i].job;
    fail_msg("no recorded job of kind %d", (int)kind);
    return NULL;
}

/* Completes the next ROOM_LOAD or ROOM_CREATE as found, with one
 * affiliation per (username, affiliation) pair given (NULL-terminated). */
static inline void rx_complete_room(struct fx *fx, enum db_job_kind kind, int created,
                                    const char *const *affs)
{
    struct db_job *job = fx_take(fx, kind, NULL);
    struct db_room_load_job *l = &job->u.room_load;
    job->status = PL_OK;
    l->found = 1;
    l->created = created;
    snprintf(l->id, sizeof(l->id), "%s", ROOM_ID);
    l->public_room = 1;
    l->change_subject = 1;
    size_t n = 0;
    while (affs && affs[2 * n])
        n++;
    l->affs = n ? calloc(n, sizeof(*l->affs)) : NULL;
    for (size_t i = 0; i < n; i++) {
        l->affs[i].username = rx_strdup(affs[2 * i]);
        l->affs[i].affiliation = rx_strdup(affs[2 * i + 1]);
    }
    l->naffs = n;
    chat_server_complete(fx->cs, job);
}

/* Completes the next ROOM_JOIN with these archived room messages (ids and
 * bodies "h<id>", from room/alice), oldest first. */
static inline void rx_complete_history(struct fx *fx, const int64_t *ids, size_t n)
{
    struct db_job *job = fx_take(fx, DB_JOB_ROOM_JOIN, NULL);
    job->status = PL_OK;
    job->u.room_join.count = n;
    job->u.room_join.msgs = n ? calloc(n, sizeof(*job->u.room_join.msgs)) : NULL;
    for (size_t i = 0; i < n; i++) {
        char buf[256];
        snprintf(buf, sizeof(buf),
                 "<message xmlns='jabber:client' type='groupchat' from='" ROOM "/alice' "
                 "id='h%lld'><body>h%lld</body></message>",
                 (long long)ids[i], (long long)ids[i]);
        job->u.room_join.msgs[i].id = ids[i];
        job->u.room_join.msgs[i].created_at_us = STAMP_US;
        job->u.room_join.msgs[i].stanza_xml = rx_strdup(buf);
    }
    chat_server_complete(fx->cs, job);
}

static inline void rx_send_join(struct fx_client *c, const char *nick,
                                const char *history)
{
    assert_int_equal(fx_sendf(c,
                              "<presence to='" ROOM "/%s'><x xmlns='" XMPP_NS_MUC
                              "'>%s</x></presence>",
                              nick, history ? history : ""),
                     PL_OK);
}

/* The next frame is a presence from room/nick; returns it (caller frees). */
static inline struct xmpp_node *rx_presence(struct fx_client *c, const char *nick)
{
    struct xmpp_node *p = fx_next(c, NULL);
    assert_string_equal(p->name, "presence");
    char want[128];
    snprintf(want, sizeof(want), ROOM "/%s", nick);
    assert_string_equal(xmpp_node_attr(p, "from"), want);
    return p;
}

/* 1 if the presence's muc#user <x/> has this status code. */
static inline int rx_has_code(const struct xmpp_node *p, int code)
{
    struct xmpp_node *x = xmpp_node_child(p, "x", XMPP_NS_MUC_USER);
    char buf[8];
    snprintf(buf, sizeof(buf), "%d", code);
    for (struct xmpp_node *s = x ? x->children : NULL; s; s = s->next)
        if (s->name && strcmp(s->name, "status") == 0 && xmpp_node_attr(s, "code") &&
            strcmp(xmpp_node_attr(s, "code"), buf) == 0)
            return 1;
    return 0;
}

static inline const char *rx_item_attr(const struct xmpp_node *p, const char *attr)
{
    struct xmpp_node *x = xmpp_node_child(p, "x", XMPP_NS_MUC_USER);
    struct xmpp_node *it = x ? xmpp_node_child(x, "item", NULL) : NULL;
    return it ? xmpp_node_attr(it, attr) : NULL;
}

/* The next frame is the join's closing subject message. */
static inline void rx_expect_subject(struct fx_client *c)
{
    struct xmpp_node *m = fx_next(c, NULL);
    assert_string_equal(m->name, "message");
    assert_non_null(xmpp_node_child(m, "subject", XMPP_NS_CLIENT));
    xmpp_node_free(m);
}

/* alice online and in ROOM, which her join created (the load finds
 * nothing, the create makes her owner), her history done; her frames so
 * far skipped. */
static inline struct fx_client *rx_owner(struct fx *fx)
{
    static const char *const owner[] = {"alice", "owner", NULL};
    struct fx_client *a = fx_online(fx, "alice", "A", 0);
    rx_send_join(a, "alice", NULL);
    fx_complete_all(fx, DB_JOB_ROOM_LOAD); /* not found */
    rx_complete_room(fx, DB_JOB_ROOM_CREATE, 1, owner);
    rx_complete_history(fx, NULL, 0);
    fx_skip_all(a);
    return a;
}

/* A room that exists, loaded with these affiliations. `c` joins it; its
 * history (none) is completed. */
static inline void rx_join_loaded(struct fx *fx, struct fx_client *c, const char *nick,
                                  const char *const *affs)
{
    rx_send_join(c, nick, NULL);
    if (fx_count(fx, DB_JOB_ROOM_LOAD))
        rx_complete_room(fx, DB_JOB_ROOM_LOAD, 0, affs);
    rx_complete_history(fx, NULL, 0);
}

#endif
