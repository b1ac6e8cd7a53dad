/* Blocking (XEP-0191): the blocklist iqs (get, block, unblock, unblock
 * all), its pushes to the resources that fetched it, the presence that
 * stops (or starts again) when someone is blocked (or unblocked), and the
 * checks the other features make. The list is loaded with the roster
 * (chat_roster.c) into chat_user.blocked; every change is a store job and
 * is applied to the map when it completes. Messages to an offline user
 * from someone they block are refused by the store itself
 * (parley_store_message), so nothing of theirs waits for later. */
#include "chat_internal.h"

#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XMPP_NS_BLOCKING "urn:xmpp:blocking"
#define XMPP_NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"

/* Most items one block or unblock may carry: each is a row and a push. */
#define CHAT_BLOCK_ITEMS_MAX 1000

struct block_ctx {
    struct xmpp_node *iq;
    enum db_block_op op;
    char **jids; /* normalised; for REMOVE_ALL, what the list held */
    size_t njids;
};

static void ctx_free(void *data)
{
    struct block_ctx *c = data;
    if (!c)
        return;
    xmpp_node_free(c->iq);
    for (size_t i = 0; i < c->njids; i++)
        free(c->jids[i]);
    free(c->jids);
    free(c);
}

int chat_block_blocks(const struct chat_user *u, const char *jid)
{
    if (!u || u->blocked.count == 0 || !jid)
        return 0;
    if (pl_map_get(&u->blocked, jid))
        return 1;
    /* XEP-0191 matches as XEP-0016 does: full JID, bare JID, domain/resource,
     * domain. */
    const char *slash = strchr(jid, '/');
    const char *at = strchr(jid, '@');
    if (at && slash && at > slash)
        at = NULL; /* an '@' in the resource */
    size_t bare_len = slash ? (size_t)(slash - jid) : strlen(jid);
    const char *domain = at ? at + 1 : jid;
    char buf[3 * 1024 + 3];
    if (bare_len >= sizeof(buf))
        return 0;
    if (slash) {
        memcpy(buf, jid, bare_len);
        buf[bare_len] = '\0';
        if (pl_map_get(&u->blocked, buf))
            return 1;
    }
    if (at) {
        size_t dlen = (size_t)(jid + bare_len - domain);
        memcpy(buf, domain, dlen);
        buf[dlen] = '\0';
        if (pl_map_get(&u->blocked, buf))
            return 1;
        if (slash && strlen(domain) < sizeof(buf)) {
            memcpy(buf, domain, strlen(domain) + 1); /* domain/resource */
            if (pl_map_get(&u->blocked, buf))
                return 1;
        }
    }
    return 0;
}

int chat_block_between(const struct chat_user *a, const char *a_jid,
                       const struct chat_user *b, const char *b_jid)
{
    return chat_block_blocks(a, b_jid) || chat_block_blocks(b, a_jid);
}

void chat_block_reply_blocked(struct chat_server *cs, struct chat_session *s,
                              const struct xmpp_node *orig)
{
    struct xmpp_node *err =
        xmpp_stanza_error_reply(orig, cs->domain, "cancel", "not-acceptable");
    if (!err)
        return;
    /* The error element is the reply's last child. */
    if (err->last && xmpp_node_add(err->last, "blocked", XMPP_NS_BLOCKING_ERRORS))
        xmpp_stream_send(s->stream, err, 0);
    xmpp_node_free(err);
}

/* ---- the iqs ----------------------------------------------------------- */

static void send_and_free(struct chat_session *s, struct xmpp_node *n)
{
    if (n)
        xmpp_stream_send(s->stream, n, 0);
    xmpp_node_free(n);
}

struct list_ctx {
    struct xmpp_node *list;
    int ok;
};

static void list_item(const char *key, void *value, void *arg)
{
    struct list_ctx *l = arg;
    struct xmpp_node *it = l->ok ? xmpp_node_add(l->list, "item", NULL) : NULL;
    l->ok = it && xmpp_node_set_attr(it, "jid", key) == PL_OK;
}

static void blocklist_get(struct chat_server *cs, struct chat_session *s,
                          const struct xmpp_stanza *st)
{
    struct xmpp_node *res = xmpp_stanza_iq_result(st->node, s->user->bare_jid);
    struct list_ctx l = {res ? xmpp_node_add(res, "blocklist", XMPP_NS_BLOCKING) : NULL,
                         1};
    if (!l.list) {
        xmpp_node_free(res);
        chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        return;
    }
    pl_map_each(&s->user->blocked, list_item, &l);
    if (!l.ok) {
        xmpp_node_free(res);
        chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        return;
    }
    s->block_interested = 1; /* section 3.1: it gets the pushes from now */
    send_and_free(s, res);
}

/* The items' JIDs, normalised, into c. PL_EINVAL: an item without a JID
 * (bad-request); PL_ENOENT: one that is not a JID (jid-malformed). */
static int collect(const struct xmpp_node *payload, struct block_ctx *c)
{
    size_t n = 0;
    for (const struct xmpp_node *it = payload->children; it; it = it->next)
        n += it->name && strcmp(it->name, "item") == 0;
    if (n > CHAT_BLOCK_ITEMS_MAX)
        return PL_ETOOBIG;
    c->jids = n ? calloc(n, sizeof(*c->jids)) : NULL;
    if (n && !c->jids)
        return PL_ENOMEM;
    for (const struct xmpp_node *it = payload->children; it; it = it->next) {
        if (!it->name || strcmp(it->name, "item") != 0)
            continue;
        const char *jid = xmpp_node_attr(it, "jid");
        if (!jid)
            return PL_EINVAL;
        struct xmpp_jid j;
        if (xmpp_jid_parse(jid, &j) != PL_OK)
            return PL_ENOENT;
        char *norm = xmpp_jid_full(&j);
        xmpp_jid_free(&j);
        if (!norm)
            return PL_ENOMEM;
        int dup = 0;
        for (size_t i = 0; i < c->njids && !dup; i++)
            dup = strcmp(c->jids[i], norm) == 0;
        if (dup)
            free(norm);
        else
            c->jids[c->njids++] = norm;
    }
    return PL_OK;
}

static void collect_all(const char *key, void *value, void *arg)
{
    struct block_ctx *c = arg;
    char *copy = strdup(key);
    if (copy)
        c->jids[c->njids++] = copy;
}

static void blocklist_set(struct chat_server *cs, struct chat_session *s,
                          const struct xmpp_stanza *st, const struct xmpp_node *payload,
                          int block)
{
    struct block_ctx *c = calloc(1, sizeof(*c));
    struct db_job *job = c ? db_job_new(DB_JOB_BLOCK_SET) : NULL;
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    struct pl_buf jids = PL_BUF_INIT;
    int rc = op ? collect(payload, c) : PL_ENOMEM;
    if (rc == PL_OK && block && c->njids == 0)
        rc = PL_EINVAL; /* section 3.2: a block names at least one JID */
    if (rc == PL_OK && !block && c->njids == 0) {
        /* unblock everything: what the list holds now, for the pushes and
         * the presence that follows */
        c->op = DB_BLOCK_REMOVE_ALL;
        size_t n = s->user->blocked.count;
        if (n && !(c->jids = calloc(n, sizeof(*c->jids))))
            rc = PL_ENOMEM;
        else
            pl_map_each(&s->user->blocked, collect_all, c);
    } else if (rc == PL_OK) {
        c->op = block ? DB_BLOCK_ADD : DB_BLOCK_REMOVE;
        for (size_t i = 0; rc == PL_OK && i < c->njids; i++)
            if ((i && pl_buf_append(&jids, (char[]){DB_LIST_SEP}, 1) != PL_OK) ||
                pl_buf_append_str(&jids, c->jids[i]) != PL_OK)
                rc = PL_ENOMEM;
    }
    if (rc == PL_OK && (!(c->iq = xmpp_node_copy(st->node)) ||
                        !(job->u.block_set.owner = strdup(s->user->username))))
        rc = PL_ENOMEM;
    if (rc != PL_OK) {
        if (rc == PL_EINVAL)
            chat_reply_error(cs, s, st->node, "modify", "bad-request");
        else if (rc == PL_ENOENT)
            chat_reply_error(cs, s, st->node, "modify", "jid-malformed");
        else if (rc == PL_ETOOBIG)
            chat_reply_error(cs, s, st->node, "modify", "not-acceptable");
        else
            chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        ctx_free(c);
        chat_op_free(cs, op);
        db_job_free(job);
        pl_buf_free(&jids);
        return;
    }
    job->u.block_set.op = c->op;
    job->u.block_set.jids = pl_buf_steal(&jids, NULL);
    op->data = c;
    op->data_free = ctx_free;
    job->owner = op;
    chat_submit(cs, job, s->user->bare_jid);
}

void chat_block_iq(struct chat_server *cs, struct chat_session *s,
                   const struct xmpp_stanza *st, const struct xmpp_node *payload)
{
    int get = strcmp(st->type, "get") == 0;
    if (get && strcmp(payload->name, "blocklist") == 0)
        blocklist_get(cs, s, st);
    else if (!get && strcmp(payload->name, "block") == 0)
        blocklist_set(cs, s, st, payload, 1);
    else if (!get && strcmp(payload->name, "unblock") == 0)
        blocklist_set(cs, s, st, payload, 0);
    else
        chat_reply_error(cs, s, st->node, "modify", "bad-request");
}

/* ---- after the store --------------------------------------------------- */

static void push(struct chat_server *cs, struct chat_user *u, const struct block_ctx *c)
{
    int any = 0;
    for (struct chat_session *s = u->sessions; s; s = s->next_in_user)
        any |= s->block_interested;
    if (!any)
        return;
    char id[32];
    snprintf(id, sizeof(id), "push-%" PRIu64, ++cs->next_push);
    struct xmpp_node *iq = xmpp_node_new("iq", XMPP_NS_CLIENT);
    struct xmpp_node *what =
        iq ? xmpp_node_add(iq, c->op == DB_BLOCK_ADD ? "block" : "unblock",
                           XMPP_NS_BLOCKING)
           : NULL;
    int ok = what && xmpp_node_set_attr(iq, "type", "set") == PL_OK &&
             xmpp_node_set_attr(iq, "id", id) == PL_OK;
    /* Unblocking everything is pushed as an empty unblock (section 3.3). */
    for (size_t i = 0; ok && c->op != DB_BLOCK_REMOVE_ALL && i < c->njids; i++) {
        struct xmpp_node *it = xmpp_node_add(what, "item", NULL);
        ok = it && xmpp_node_set_attr(it, "jid", c->jids[i]) == PL_OK;
    }
    struct pl_frame *f = ok ? chat_frame(iq) : NULL;
    for (struct chat_session *s = f ? u->sessions : NULL; s; s = s->next_in_user)
        if (s->block_interested)
            xmpp_stream_send_frame(s->stream, f, 0);
    pl_frame_unref(f);
    xmpp_node_free(iq);
}

/* Presence between u and the local user a blocked (or unblocked) JID
 * names: blocked, each side's resources see the other go unavailable;
 * unblocked, presence flows again as the subscriptions say. */
static void presence_effects(struct chat_server *cs, struct chat_user *u, const char *jid,
                             int blocked)
{
    char bare[1024];
    size_t n = strcspn(jid, "/");
    if (n >= sizeof(bare))
        return;
    memcpy(bare, jid, n);
    bare[n] = '\0';
    char name[1024];
    struct chat_user *c = chat_local_user(cs, bare, name, sizeof(name)) == PL_OK
                              ? chat_user_find(cs, name)
                              : NULL;
    if (!c || c == u)
        return;
    unsigned state = chat_roster_state(cs, u, bare);
    if (blocked) {
        if (state & CHAT_SUB_FROM)
            chat_presence_withdraw(cs, u, c);
        if (state & CHAT_SUB_TO)
            chat_presence_withdraw(cs, c, u);
        return;
    }
    if (state & CHAT_SUB_FROM)
        chat_presence_share(cs, u, c);
    if (state & CHAT_SUB_TO)
        chat_presence_share(cs, c, u);
}

void chat_block_set_done(struct chat_server *cs, struct db_job *job, struct chat_op *op)
{
    struct block_ctx *c = op ? op->data : NULL;
    struct chat_session *s = chat_op_session(cs, op);
    if (!c)
        return;
    if (job->status != PL_OK) {
        pl_error(0, job->u.block_set.owner, "changing the blocklist failed: %s",
                 pl_strerror(job->status));
        if (s)
            chat_reply_error(cs, s, c->iq, "wait", "internal-server-error");
        return;
    }
    struct chat_user *u = chat_user_find(cs, job->u.block_set.owner);
    if (u) {
        u->lists_gen = ++cs->next_gen;
        if (c->op == DB_BLOCK_REMOVE_ALL)
            pl_map_free(&u->blocked);
        for (size_t i = 0; i < c->njids; i++) {
            if (c->op == DB_BLOCK_ADD &&
                pl_map_put(&u->blocked, c->jids[i], (void *)1) != PL_OK)
                pl_error(0, u->bare_jid, "out of memory keeping the blocklist");
            else if (c->op == DB_BLOCK_REMOVE)
                pl_map_remove(&u->blocked, c->jids[i]);
        }
        push(cs, u, c);
        for (size_t i = 0; i < c->njids; i++)
            presence_effects(cs, u, c->jids[i], c->op == DB_BLOCK_ADD);
    }
    if (s)
        send_and_free(s, xmpp_stanza_iq_result(c->iq, s->user->bare_jid));
}
