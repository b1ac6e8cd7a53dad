/* Rosters (RFC 6121 section 2) with XEP-0237 versions: the roster get,
 * set and remove, roster pushes to the resources that fetched the roster,
 * and what the loop keeps of an online user's roster and blocklist.
 *
 * The rows live in PostgreSQL. When a user's first session binds, the loop
 * loads the user's rows and blocklist (DB_JOB_ROSTER_LOAD) into two maps
 * on the chat_user: who gets the user's presence, whose presence the user
 * gets, who is blocked. Until that load is in, the user's stanzas wait
 * (chat_roster_defer): the initial presence in particular needs to know
 * whom to tell. From then on every change the loop makes is applied to the
 * maps when its job completes; a load that ran while a change completed
 * is stale and is run again (`lists_gen`).
 *
 * A roster get reads the rows again (names and groups are not kept in
 * memory). A remove goes through the subscription exchange
 * (chat_subscription.c), since it cancels subscriptions both ways. */
#include "chat_internal.h"

#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XMPP_NS_ROSTER "jabber:iq:roster"

/* How many stanzas of one session may wait for its user's lists: a
 * client sends a handful right after bind; more is not a client waiting. */
#define CHAT_DEFERRED_MAX 256
/* RFC 6121 section 2.3.3: a configured limit on names and groups. */
#define CHAT_ROSTER_TEXT_MAX 1023
/* Loads that found the lists changed under them before one is used. */
#define CHAT_ROSTER_LOAD_TRIES 4

struct chat_deferred {
    struct chat_deferred *next;
    struct xmpp_stanza *st;
};

/* The context of a load: for the maps, and for a get when `iq` is set. */
struct load_ctx {
    uint64_t gen;
    int tries;
    struct xmpp_node *iq; /* the get to answer, or NULL */
    char *ver;            /* the client's XEP-0237 version, or NULL */
};

struct set_ctx {
    struct xmpp_node *iq;
    char *contact;
    char *name;
    char *groups;
};

int chat_local_user(const struct chat_server *cs, const char *bare, char *buf, size_t len)
{
    const char *at = strchr(bare, '@');
    if (!at || strcmp(at + 1, cs->domain) != 0 || (size_t)(at - bare) >= len ||
        at == bare)
        return PL_EINVAL;
    memcpy(buf, bare, (size_t)(at - bare));
    buf[at - bare] = '\0';
    return PL_OK;
}

/* ---- the maps ---------------------------------------------------------- */

void chat_roster_user_free(struct chat_user *u)
{
    pl_map_free(&u->roster);
    pl_map_free(&u->blocked);
}

unsigned chat_roster_state(const struct chat_server *cs, const struct chat_user *u,
                           const char *contact)
{
    unsigned state = (unsigned)(uintptr_t)pl_map_get(&u->roster, contact);
    if (cs->team_roster && strcmp(contact, u->bare_jid) != 0) {
        char name[1024];
        if (chat_local_user(cs, contact, name, sizeof(name)) == PL_OK)
            state = CHAT_SUB_TO | CHAT_SUB_FROM | CHAT_SUB_LISTED;
    }
    return state;
}

void chat_roster_cache_set(struct chat_server *cs, struct chat_user *u,
                           const char *contact, unsigned state)
{
    u->lists_gen = ++cs->next_gen;
    if (u->lists != CHAT_LISTS_READY)
        return; /* the load in flight is stale now and runs again */
    if (!state)
        pl_map_remove(&u->roster, contact);
    else if (pl_map_put(&u->roster, contact, (void *)(uintptr_t)state) != PL_OK)
        pl_error(0, u->bare_jid, "out of memory keeping the roster");
}

struct each_ctx {
    struct chat_server *cs;
    unsigned mask;
    void (*fn)(struct chat_server *cs, struct chat_user *contact, void *arg);
    void *arg;
};

static void each_entry(const char *key, void *value, void *arg)
{
    struct each_ctx *e = arg;
    char name[1024];
    if (!((unsigned)(uintptr_t)value & e->mask) ||
        chat_local_user(e->cs, key, name, sizeof(name)) != PL_OK)
        return;
    struct chat_user *c = chat_user_find(e->cs, name);
    if (c)
        e->fn(e->cs, c, e->arg);
}

struct team_ctx {
    struct chat_user *self;
    struct each_ctx *e;
};

static void each_team(const char *key, void *value, void *arg)
{
    struct team_ctx *t = arg;
    if (value != t->self)
        t->e->fn(t->e->cs, value, t->e->arg);
}

void chat_roster_each_online(struct chat_server *cs, struct chat_user *u, unsigned mask,
                             void (*fn)(struct chat_server *cs, struct chat_user *contact,
                                        void *arg),
                             void *arg)
{
    struct each_ctx e = {cs, mask, fn, arg};
    if (cs->team_roster) {
        /* Everyone is `both`: every other online user, once. */
        struct team_ctx t = {u, &e};
        pl_map_each(&cs->users, each_team, &t);
        return;
    }
    pl_map_each(&u->roster, each_entry, &e);
}

/* ---- waiting stanzas --------------------------------------------------- */

void chat_roster_defer(struct chat_server *cs, struct chat_session *s,
                       struct xmpp_stanza *st)
{
    struct chat_deferred *d =
        s->ndeferred < CHAT_DEFERRED_MAX ? malloc(sizeof(*d)) : NULL;
    if (!d) {
        const char *type = st->type ? st->type : "";
        if (st->kind != XMPP_STANZA_PRESENCE && strcmp(type, "error") != 0 &&
            strcmp(type, "result") != 0)
            chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        xmpp_stanza_free(st);
        return;
    }
    d->next = NULL;
    d->st = st;
    if (s->deferred_tail)
        s->deferred_tail->next = d;
    else
        s->deferred_head = d;
    s->deferred_tail = d;
    s->ndeferred++;
}

void chat_roster_session_free(struct chat_session *s)
{
    struct chat_deferred *d = s->deferred_head;
    while (d) {
        struct chat_deferred *next = d->next;
        xmpp_stanza_free(d->st);
        free(d);
        d = next;
    }
    s->deferred_head = s->deferred_tail = NULL;
    s->ndeferred = 0;
}

/* The lists are in: what waited is handled now, in order. */
static void replay(struct chat_server *cs, struct chat_user *u)
{
    for (struct chat_session *s = u->sessions; s; s = s->next_in_user) {
        while (s->deferred_head && s->user) {
            struct chat_deferred *d = s->deferred_head;
            s->deferred_head = d->next;
            if (!s->deferred_head)
                s->deferred_tail = NULL;
            s->ndeferred--;
            struct xmpp_stanza *st = d->st;
            free(d);
            chat_route_stanza(cs, s, st);
        }
    }
}

/* ---- loading ----------------------------------------------------------- */

static void load_ctx_free(void *data)
{
    struct load_ctx *l = data;
    if (!l)
        return;
    xmpp_node_free(l->iq);
    free(l->ver);
    free(l);
}

/* Submits a load for u on behalf of s (NULL: none); takes ctx. */
static void submit_load(struct chat_server *cs, struct chat_user *u,
                        struct chat_session *s, struct load_ctx *ctx)
{
    struct db_job *job = db_job_new(DB_JOB_ROSTER_LOAD);
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    if (op && !s && !(op->user = strdup(u->username))) {
        chat_op_free(cs, op);
        op = NULL;
    }
    if (!op || !(job->u.roster_load.owner = strdup(u->username)) ||
        (ctx->iq && cs->team_roster &&
         !(job->u.roster_load.team_domain = strdup(cs->domain)))) {
        pl_error(0, u->bare_jid, "out of memory loading the roster");
        if (ctx->iq && s)
            chat_reply_error(cs, s, ctx->iq, "wait", "resource-constraint");
        load_ctx_free(ctx);
        chat_op_free(cs, op);
        db_job_free(job);
        return;
    }
    ctx->gen = u->lists_gen;
    op->data = ctx;
    op->data_free = load_ctx_free;
    job->owner = op;
    chat_submit(cs, job, u->bare_jid);
}

void chat_roster_bound(struct chat_server *cs, struct chat_session *s)
{
    struct chat_user *u = s->user;
    if (u->lists != CHAT_LISTS_NONE)
        return;
    struct load_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) {
        /* Without the lists nothing the user sends would be handled:
         * better an empty roster than a session that hangs. */
        pl_error(0, u->bare_jid, "out of memory loading the roster: it stays empty");
        u->lists = CHAT_LISTS_READY;
        return;
    }
    if (!u->lists_gen)
        u->lists_gen = ++cs->next_gen; /* a user seen again is a new one */
    u->lists = CHAT_LISTS_LOADING;
    submit_load(cs, u, NULL, ctx);
}

/* Replaces u's maps with what the load read. */
static void fill_maps(struct chat_user *u, const struct db_roster_load_job *l)
{
    pl_map_free(&u->roster);
    pl_map_free(&u->blocked);
    for (size_t i = 0; i < l->count; i++)
        if (l->items[i].state &&
            pl_map_put(&u->roster, l->items[i].jid,
                       (void *)(uintptr_t)l->items[i].state) != PL_OK)
            pl_error(0, u->bare_jid, "out of memory keeping the roster");
    for (size_t i = 0; i < l->nblocked; i++)
        if (pl_map_put(&u->blocked, l->blocked[i], (void *)1) != PL_OK)
            pl_error(0, u->bare_jid, "out of memory keeping the blocklist");
}

static struct xmpp_node *item_node(struct xmpp_node *query, const char *jid,
                                   unsigned state, const char *name, const char *groups)
{
    struct xmpp_node *it = xmpp_node_add(query, "item", NULL);
    if (!it || xmpp_node_set_attr(it, "jid", jid) != PL_OK)
        return NULL;
    if (!state || !(state & CHAT_SUB_LISTED))
        return xmpp_node_set_attr(it, "subscription", "remove") == PL_OK ? it : NULL;
    if ((name && xmpp_node_set_attr(it, "name", name) != PL_OK) ||
        xmpp_node_set_attr(it, "subscription", chat_sub_subscription(state)) != PL_OK ||
        ((state & CHAT_SUB_PENDING_OUT) &&
         xmpp_node_set_attr(it, "ask", "subscribe") != PL_OK) ||
        ((state & CHAT_SUB_APPROVED) &&
         xmpp_node_set_attr(it, "approved", "true") != PL_OK))
        return NULL;
    for (const char *g = groups; g && *g;) {
        const char *end = strchr(g, DB_LIST_SEP);
        size_t n = end ? (size_t)(end - g) : strlen(g);
        char *one = strndup(g, n);
        struct xmpp_node *gn = one ? xmpp_node_add(it, "group", NULL) : NULL;
        int ok = gn && xmpp_node_add_text(gn, one) == PL_OK;
        free(one);
        if (!ok)
            return NULL;
        g = end ? end + 1 : g + n;
    }
    return it;
}

/* 1 if the load has a listed row for jid. */
static int listed_in(const struct db_roster_load_job *l, const char *jid)
{
    for (size_t i = 0; i < l->count; i++)
        if ((l->items[i].state & CHAT_SUB_LISTED) && strcmp(l->items[i].jid, jid) == 0)
            return 1;
    return 0;
}

static void answer_get(struct chat_server *cs, struct chat_session *s,
                       const struct load_ctx *ctx, const struct db_roster_load_job *l)
{
    char ver[24];
    snprintf(ver, sizeof(ver), "%" PRId64, l->ver);
    s->roster_interested = 1;
    struct xmpp_node *res = xmpp_stanza_iq_result(ctx->iq, s->user->bare_jid);
    if (!res)
        return;
    /* XEP-0237: the client has this version: an empty result, and the
     * pushes that follow carry whatever changes. The team roster is not
     * versioned (who is online changes it), so it is always sent whole. */
    if (ctx->ver && strcmp(ctx->ver, ver) == 0 && !cs->team_roster) {
        xmpp_stream_send(s->stream, res, 0);
        xmpp_node_free(res);
        return;
    }
    struct xmpp_node *q = xmpp_node_add(res, "query", XMPP_NS_ROSTER);
    int ok = q && xmpp_node_set_attr(q, "ver", ver) == PL_OK;
    for (size_t i = 0; ok && i < l->count; i++) {
        const struct db_roster_item *it = &l->items[i];
        if (!(it->state & CHAT_SUB_LISTED))
            continue; /* a request only: not in the roster */
        unsigned state = chat_roster_state(cs, s->user, it->jid) | it->state;
        ok = item_node(q, it->jid, state, it->name, it->groups) != NULL;
    }
    /* The team roster: everyone else of the domain, `both`, in a group
     * named after the domain (ejabberd's shared roster @all@ is the model),
     * unless the user has a row of their own for them. */
    for (size_t i = 0; ok && i < l->nteam; i++)
        if (!listed_in(l, l->team[i].jid))
            ok = item_node(q, l->team[i].jid,
                           CHAT_SUB_TO | CHAT_SUB_FROM | CHAT_SUB_LISTED, l->team[i].name,
                           cs->domain) != NULL;
    if (ok)
        xmpp_stream_send(s->stream, res, 0);
    else
        chat_reply_error(cs, s, ctx->iq, "wait", "resource-constraint");
    xmpp_node_free(res);
}

void chat_roster_loaded(struct chat_server *cs, struct db_job *job, struct chat_op *op)
{
    struct load_ctx *ctx = op ? op->data : NULL;
    struct chat_user *u = op && op->user ? chat_user_find(cs, op->user) : NULL;
    struct chat_session *s = ctx && ctx->iq ? chat_op_session(cs, op) : NULL;
    if (!u || !ctx)
        return; /* gone: the next login loads again */
    const struct db_roster_load_job *l = &job->u.roster_load;
    if (job->status != PL_OK) {
        pl_error(0, u->bare_jid, "loading the roster failed: %s",
                 pl_strerror(job->status));
        if (s)
            chat_reply_error(cs, s, ctx->iq, "wait", "internal-server-error");
        if (u->lists == CHAT_LISTS_LOADING) {
            u->lists = CHAT_LISTS_READY; /* empty, rather than a hung session */
            replay(cs, u);
        }
        return;
    }
    int stale = ctx->gen != u->lists_gen;
    if (stale && ctx->tries + 1 < CHAT_ROSTER_LOAD_TRIES && (!ctx->iq || s)) {
        /* A change completed while this read: it may not be in it. */
        op->data = NULL;
        ctx->tries++;
        submit_load(cs, u, s, ctx);
        return;
    }
    if (stale && ctx->iq && !s)
        return;
    if (stale)
        pl_warn(0, u->bare_jid,
                "roster kept changing while loading; using the last read");
    /* Ready maps follow every change already; a stale read would undo one. */
    if (!stale || u->lists == CHAT_LISTS_LOADING)
        fill_maps(u, l);
    int was_loading = u->lists == CHAT_LISTS_LOADING;
    u->lists = CHAT_LISTS_READY;
    if (s)
        answer_get(cs, s, ctx, l);
    if (was_loading)
        replay(cs, u);
}

/* ---- get, set, remove -------------------------------------------------- */

static void roster_get(struct chat_server *cs, struct chat_session *s,
                       const struct xmpp_stanza *st, const struct xmpp_node *query)
{
    struct load_ctx *ctx = calloc(1, sizeof(*ctx));
    const char *ver = xmpp_node_attr(query, "ver");
    if (!ctx || !(ctx->iq = xmpp_node_copy(st->node)) ||
        (ver && !(ctx->ver = strdup(ver)))) {
        load_ctx_free(ctx);
        chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        return;
    }
    submit_load(cs, s->user, s, ctx);
}

static void set_ctx_free(void *data)
{
    struct set_ctx *c = data;
    if (!c)
        return;
    xmpp_node_free(c->iq);
    free(c->contact);
    free(c->name);
    free(c->groups);
    free(c);
}

/* The item's groups joined by DB_LIST_SEP into out; PL_EINVAL for a
 * duplicate group, PL_ETOOBIG for one over the limit. Empty groups are
 * left out (they name nothing). */
static int join_groups(const struct xmpp_node *item, struct pl_buf *out)
{
    if (pl_buf_append(out, "", 0) != PL_OK)
        return PL_ENOMEM;
    for (const struct xmpp_node *g = item->children; g; g = g->next) {
        if (!g->name || strcmp(g->name, "group") != 0 || !g->ns ||
            strcmp(g->ns, XMPP_NS_ROSTER) != 0)
            continue;
        char *text = xmpp_node_text(g);
        if (!text)
            return PL_ENOMEM;
        int rc = PL_OK;
        size_t n = strlen(text);
        if (n > CHAT_ROSTER_TEXT_MAX)
            rc = PL_ETOOBIG;
        for (const char *p = out->data; rc == PL_OK && n && p && *p;) {
            const char *end = strchr(p, DB_LIST_SEP);
            size_t len = end ? (size_t)(end - p) : strlen(p);
            if (len == n && memcmp(p, text, n) == 0)
                rc = PL_EINVAL; /* RFC 6121 section 2.3.3: bad-request */
            p = end ? end + 1 : p + len;
        }
        if (rc == PL_OK && n &&
            ((out->len && pl_buf_append(out, (char[]){DB_LIST_SEP}, 1) != PL_OK) ||
             pl_buf_append(out, text, n) != PL_OK))
            rc = PL_ENOMEM;
        free(text);
        if (rc != PL_OK)
            return rc;
    }
    return PL_OK;
}

static void roster_set(struct chat_server *cs, struct chat_session *s,
                       const struct xmpp_stanza *st, const struct xmpp_node *query)
{
    /* RFC 6121 section 2.3.3: exactly one item, with a valid bare JID. */
    const struct xmpp_node *item = NULL;
    int items = 0;
    for (const struct xmpp_node *c = query->children; c; c = c->next)
        if (c->name) {
            items++;
            if (strcmp(c->name, "item") == 0 && c->ns &&
                strcmp(c->ns, XMPP_NS_ROSTER) == 0)
                item = c;
        }
    const char *jid_attr = item ? xmpp_node_attr(item, "jid") : NULL;
    if (items != 1 || !item || !jid_attr) {
        chat_reply_error(cs, s, st->node, "modify", "bad-request");
        return;
    }
    struct xmpp_jid j;
    if (xmpp_jid_parse(jid_attr, &j) != PL_OK) {
        chat_reply_error(cs, s, st->node, "modify", "jid-malformed");
        return;
    }
    int full = j.resource != NULL;
    char *bare = xmpp_jid_bare(&j);
    xmpp_jid_free(&j);
    if (!bare) {
        chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        return;
    }
    const char *sub = xmpp_node_attr(item, "subscription");
    int remove = sub && strcmp(sub, "remove") == 0;
    if (full) {
        /* Roster items are bare JIDs (RFC 6121 section 2.1.2.1). */
        chat_reply_error(cs, s, st->node, "modify", "bad-request");
    } else if (strcmp(bare, s->user->bare_jid) == 0) {
        /* The user is not their own contact: their presence goes to their
         * resources anyway (section 4.2.2). */
        chat_reply_error(cs, s, st->node, "cancel", "not-allowed");
    } else if (remove) {
        if (!((unsigned)(uintptr_t)pl_map_get(&s->user->roster, bare) & CHAT_SUB_LISTED))
            chat_reply_error(cs, s, st->node, "cancel", "item-not-found"); /* 2.5.3 */
        else
            chat_subscription_start(cs, s, bare, CHAT_SUB_REMOVE, NULL,
                                    xmpp_node_copy(st->node));
    } else {
        const char *name = xmpp_node_attr(item, "name");
        struct pl_buf groups = PL_BUF_INIT;
        int rc = join_groups(item, &groups);
        if (rc == PL_OK && name && strlen(name) > CHAT_ROSTER_TEXT_MAX)
            rc = PL_ETOOBIG;
        struct set_ctx *ctx = rc == PL_OK ? calloc(1, sizeof(*ctx)) : NULL;
        struct db_job *job = ctx ? db_job_new(DB_JOB_ROSTER_SET) : NULL;
        struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
        if (rc == PL_EINVAL) {
            chat_reply_error(cs, s, st->node, "modify", "bad-request");
        } else if (rc == PL_ETOOBIG) {
            chat_reply_error(cs, s, st->node, "modify", "not-acceptable");
        } else if (!op || !(ctx->iq = xmpp_node_copy(st->node)) ||
                   !(ctx->contact = strdup(bare)) ||
                   (name && !(ctx->name = strdup(name))) ||
                   !(ctx->groups = strdup(groups.data ? groups.data : "")) ||
                   !(job->u.roster_set.owner = strdup(s->user->username)) ||
                   !(job->u.roster_set.contact = strdup(bare)) ||
                   (name && !(job->u.roster_set.name = strdup(name))) ||
                   !(job->u.roster_set.groups = strdup(ctx->groups))) {
            chat_reply_error(cs, s, st->node, "wait", "resource-constraint");
        } else {
            job->u.roster_set.max = cs->max_roster_items;
            op->data = ctx;
            op->data_free = set_ctx_free;
            job->owner = op;
            chat_submit(cs, job, s->user->bare_jid);
            ctx = NULL;
            op = NULL;
            job = NULL;
        }
        set_ctx_free(ctx);
        chat_op_free(cs, op);
        db_job_free(job);
        pl_buf_free(&groups);
    }
    free(bare);
}

void chat_roster_set_done(struct chat_server *cs, struct db_job *job, struct chat_op *op)
{
    struct set_ctx *ctx = op ? op->data : NULL;
    struct chat_session *s = chat_op_session(cs, op);
    if (!ctx)
        return;
    const struct db_roster_set_job *r = &job->u.roster_set;
    if (job->status != PL_OK) {
        pl_error(0, r->owner, "roster set failed: %s", pl_strerror(job->status));
        if (s)
            chat_reply_error(cs, s, ctx->iq, "wait", "internal-server-error");
        return;
    }
    if (r->refused) {
        if (s)
            chat_reply_error(cs, s, ctx->iq, "wait", "resource-constraint");
        return;
    }
    struct chat_user *u = chat_user_find(cs, r->owner);
    if (u) {
        chat_roster_cache_set(cs, u, ctx->contact, r->state);
        /* RFC 6121 section 2.3.2: the push goes out before the result. */
        chat_roster_push(cs, u, ctx->contact, r->state, ctx->name, ctx->groups, r->ver);
    }
    if (s) {
        struct xmpp_node *res = xmpp_stanza_iq_result(ctx->iq, s->user->bare_jid);
        if (res)
            xmpp_stream_send(s->stream, res, 0);
        xmpp_node_free(res);
    }
}

void chat_roster_push(struct chat_server *cs, struct chat_user *u, const char *contact,
                      unsigned state, const char *name, const char *groups, int64_t ver)
{
    int any = 0;
    for (struct chat_session *s = u->sessions; s; s = s->next_in_user)
        any |= s->roster_interested;
    if (!any)
        return;
    char id[32], v[24];
    snprintf(id, sizeof(id), "push-%" PRIu64, ++cs->next_push);
    snprintf(v, sizeof(v), "%" PRId64, ver);
    /* One frame for every resource: no `to`, which a client reads as
     * addressed to itself (RFC 6120 section 8.1.1.1). */
    struct xmpp_node *iq = xmpp_node_new("iq", XMPP_NS_CLIENT);
    struct xmpp_node *q = iq ? xmpp_node_add(iq, "query", XMPP_NS_ROSTER) : NULL;
    struct pl_frame *f = NULL;
    if (q && xmpp_node_set_attr(iq, "type", "set") == PL_OK &&
        xmpp_node_set_attr(iq, "id", id) == PL_OK &&
        (!ver || xmpp_node_set_attr(q, "ver", v) == PL_OK) &&
        item_node(q, contact, state, name, groups))
        f = chat_frame(iq);
    for (struct chat_session *s = f ? u->sessions : NULL; s; s = s->next_in_user)
        if (s->roster_interested)
            xmpp_stream_send_frame(s->stream, f, 0);
    if (!f)
        pl_error(0, u->bare_jid, "out of memory pushing a roster item");
    pl_frame_unref(f);
    xmpp_node_free(iq);
}

void chat_roster_iq(struct chat_server *cs, struct chat_session *s,
                    const struct xmpp_stanza *st, const struct xmpp_node *query)
{
    if (strcmp(query->name, "query") != 0) {
        chat_reply_error(cs, s, st->node, "modify", "bad-request");
        return;
    }
    if (strcmp(st->type, "get") == 0)
        roster_get(cs, s, st, query);
    else
        roster_set(cs, s, st, query);
}
