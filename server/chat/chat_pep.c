/* A minimal personal eventing service (XEP-0163) on the user's own bare
 * JID, with exactly the two nodes clients need of it:
 *
 * - urn:xmpp:bookmarks:1 (XEP-0402): the items the user publishes, kept in
 *   PostgreSQL (pep_items), and the rooms the user is a member of offered
 *   as bookmarks with autojoin, so that a new device opens every channel
 *   of the team at once; a retraction of an offered room keeps it out.
 * - urn:xmpp:mds:displayed:0 (XEP-0490): no items of its own. A publish
 *   moves the read position the server keeps for unread counts (0003's
 *   direct_read_positions, 0004's room_positions) as a cumulative XEP-0333
 *   marker does, and the items are read back from those positions, so the
 *   badge clears on every device whichever way it was read.
 *
 * get items, publish (with the publish-options XEP-0402 and XEP-0490 ask
 * for) and retract; everything else of XEP-0060 is feature-not-implemented
 * and advertised nowhere, so a client that needs more falls back.
 * Notifications go to every available resource of the user, not filtered
 * by entity capabilities' +notify (XEP-0163 section 4.3.1 allows a server
 * to send them to all of them; both clients of these nodes want them). */
#include "chat_internal.h"

#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XMPP_NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define XMPP_NS_PUBSUB_EVENT "http://jabber.org/protocol/pubsub#event"
#define XMPP_NS_PUBSUB_ERRORS "http://jabber.org/protocol/pubsub#errors"
#define XMPP_NS_PUBLISH_OPTIONS "http://jabber.org/protocol/pubsub#publish-options"
#define XMPP_NS_DATA "jabber:x:data"
#define CHAT_PEP_BOOKMARKS "urn:xmpp:bookmarks:1"
#define CHAT_PEP_MDS "urn:xmpp:mds:displayed:0"

/* One item's payload as stored: a bookmark is a few hundred bytes. */
#define CHAT_PEP_PAYLOAD_MAX 8192
/* Bookmarks one user keeps: a team's rooms are far fewer. */
#define CHAT_PEP_ITEMS_MAX 1000

static int node_known(const char *node)
{
    return node &&
           (strcmp(node, CHAT_PEP_BOOKMARKS) == 0 || strcmp(node, CHAT_PEP_MDS) == 0);
}

/* A stanza error with XEP-0060's own condition (NULL: none) and, for
 * feature-not-implemented, the feature. */
static void reply(struct chat_server *cs, struct chat_session *s,
                  const struct xmpp_node *iq, const char *type, const char *condition,
                  const char *pubsub_condition, const char *feature)
{
    struct xmpp_node *err =
        xmpp_stanza_error_reply(iq, s->user->bare_jid, type, condition);
    if (!err)
        return;
    struct xmpp_node *c =
        pubsub_condition && err->last
            ? xmpp_node_add(err->last, pubsub_condition, XMPP_NS_PUBSUB_ERRORS)
            : NULL;
    if (!pubsub_condition ||
        (c && (!feature || xmpp_node_set_attr(c, "feature", feature) == PL_OK)))
        xmpp_stream_send(s->stream, err, 0);
    xmpp_node_free(err);
    (void)cs;
}

static struct xmpp_node *first_element(const struct xmpp_node *n)
{
    for (struct xmpp_node *c = n ? n->children : NULL; c; c = c->next)
        if (c->name)
            return c;
    return NULL;
}

static size_t count_elements(const struct xmpp_node *n)
{
    size_t k = 0;
    for (struct xmpp_node *c = n ? n->children : NULL; c; c = c->next)
        k += c->name != NULL;
    return k;
}

/* The first <value/> of a data form field, or NULL (allocated). */
static char *field_value(const struct xmpp_node *field)
{
    struct xmpp_node *v = xmpp_node_child(field, "value", XMPP_NS_DATA);
    return v ? xmpp_node_text(v) : NULL;
}

/* XEP-0060 section 7.1.5: the publish-options must all hold for the node.
 * They do for what XEP-0402 and XEP-0490 ask (kept, as many as the node
 * takes, never sent on presence, the owner alone); anything else would
 * not, and is refused (precondition-not-met) rather than ignored. */
static int options_hold(const struct xmpp_node *pubsub)
{
    struct xmpp_node *po = xmpp_node_child(pubsub, "publish-options", XMPP_NS_PUBSUB);
    struct xmpp_node *x = po ? xmpp_node_child(po, "x", XMPP_NS_DATA) : NULL;
    if (!x)
        return 1;
    int ok = 1;
    for (struct xmpp_node *f = x->children; ok && f; f = f->next) {
        if (!f->name || strcmp(f->name, "field") != 0)
            continue;
        const char *var = xmpp_node_attr(f, "var");
        char *v = field_value(f);
        if (!var || !v)
            ok = 0;
        else if (strcmp(var, "FORM_TYPE") == 0)
            ok = strcmp(v, XMPP_NS_PUBLISH_OPTIONS) == 0;
        else if (strcmp(var, "pubsub#persist_items") == 0)
            ok = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
        else if (strcmp(var, "pubsub#max_items") == 0)
            ok = strcmp(v, "max") == 0;
        else if (strcmp(var, "pubsub#send_last_published_item") == 0)
            ok = strcmp(v, "never") == 0;
        else if (strcmp(var, "pubsub#access_model") == 0)
            ok = strcmp(v, "whitelist") == 0;
        else
            ok = 0;
        free(v);
    }
    return ok;
}

/* An item id that is a bare JID, normalised (allocated); NULL if not. */
static char *bare_id(const char *id)
{
    struct xmpp_jid j;
    if (!id || xmpp_jid_parse(id, &j) != PL_OK)
        return NULL;
    char *bare = !j.resource && j.local ? xmpp_jid_bare(&j) : NULL;
    xmpp_jid_free(&j);
    return bare;
}

static int parse_pos(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || errno || end == s || *end != '\0' || v <= 0)
        return PL_EINVAL;
    *out = v;
    return PL_OK;
}

/* A job for s on `node`, the iq kept to answer; NULL on ENOMEM. */
static struct db_job *new_job(struct chat_server *cs, struct chat_session *s,
                              enum db_job_kind kind, const struct xmpp_stanza *st,
                              const char *node)
{
    struct db_job *job = db_job_new(kind);
    struct chat_op *op = job ? chat_op_new(cs, s) : NULL;
    if (!op || !(op->request = xmpp_node_copy(st->node)) ||
        !(job->u.pep.owner = strdup(s->user->username)) ||
        !(job->u.pep.owner_jid = strdup(s->user->bare_jid)) ||
        !(job->u.pep.node = strdup(node))) {
        chat_op_free(cs, op);
        db_job_free(job);
        return NULL;
    }
    job->owner = op;
    return job;
}

static void items_get(struct chat_server *cs, struct chat_session *s,
                      const struct xmpp_stanza *st, const struct xmpp_node *items)
{
    const char *node = xmpp_node_attr(items, "node");
    if (!node) {
        reply(cs, s, st->node, "modify", "bad-request", "nodeid-required", NULL);
        return;
    }
    if (!node_known(node)) {
        reply(cs, s, st->node, "cancel", "item-not-found", NULL, NULL);
        return;
    }
    struct db_job *job = new_job(cs, s, DB_JOB_PEP_GET, st, node);
    if (!job) {
        reply(cs, s, st->node, "wait", "resource-constraint", NULL, NULL);
        return;
    }
    chat_submit(cs, job, s->user->bare_jid);
}

/* Checks one bookmark or displayed position and fills the job's item. */
static int check_payload(struct db_job *job, const char *node,
                         const struct xmpp_node *payload)
{
    struct db_pep_job *p = &job->u.pep;
    if (strcmp(node, CHAT_PEP_BOOKMARKS) == 0) {
        if (!payload->ns || strcmp(payload->name, "conference") != 0 ||
            strcmp(payload->ns, CHAT_PEP_BOOKMARKS) != 0)
            return PL_EINVAL;
        struct pl_buf xml = PL_BUF_INIT;
        if (xmpp_node_serialize(payload, NULL, &xml) != PL_OK) {
            pl_buf_free(&xml);
            return PL_ENOMEM;
        }
        if (xml.len > CHAT_PEP_PAYLOAD_MAX) {
            pl_buf_free(&xml);
            return PL_ETOOBIG;
        }
        p->payload = pl_buf_steal(&xml, NULL);
        return p->payload ? PL_OK : PL_ENOMEM;
    }
    /* XEP-0490 section 4: <displayed/> with the <stanza-id/> of the last
     * message displayed, by the archive that gave it. */
    struct xmpp_node *sid = payload->ns && strcmp(payload->name, "displayed") == 0 &&
                                    strcmp(payload->ns, CHAT_PEP_MDS) == 0
                                ? xmpp_node_child(payload, "stanza-id", XMPP_NS_SID)
                                : NULL;
    const char *by = sid ? xmpp_node_attr(sid, "by") : NULL;
    if (!by || parse_pos(xmpp_node_attr(sid, "id"), &p->pos) != PL_OK)
        return PL_EINVAL;
    p->by = bare_id(by);
    return p->by ? PL_OK : PL_EINVAL;
}

static void publish(struct chat_server *cs, struct chat_session *s,
                    const struct xmpp_stanza *st, const struct xmpp_node *pubsub,
                    const struct xmpp_node *pub)
{
    const char *node = xmpp_node_attr(pub, "node");
    if (!node) {
        reply(cs, s, st->node, "modify", "bad-request", "nodeid-required", NULL);
        return;
    }
    if (!node_known(node)) {
        /* Only the nodes above exist; no other is created. */
        reply(cs, s, st->node, "cancel", "feature-not-implemented", "unsupported",
              "auto-create");
        return;
    }
    struct xmpp_node *item = xmpp_node_child(pub, "item", XMPP_NS_PUBSUB);
    if (!item || count_elements(pub) != 1) {
        reply(cs, s, st->node, "modify", "bad-request", "item-required", NULL);
        return;
    }
    struct xmpp_node *payload = first_element(item);
    if (!payload || count_elements(item) != 1) {
        reply(cs, s, st->node, "modify", "bad-request", "invalid-payload", NULL);
        return;
    }
    if (!options_hold(pubsub)) {
        reply(cs, s, st->node, "cancel", "conflict", "precondition-not-met", NULL);
        return;
    }
    /* Both nodes name their items by a JID: the room's, the peer's. */
    char *id = bare_id(xmpp_node_attr(item, "id"));
    if (!id) {
        reply(cs, s, st->node, "modify", "bad-request", "invalid-payload", NULL);
        return;
    }
    struct db_job *job = new_job(cs, s, DB_JOB_PEP_PUBLISH, st, node);
    int rc = job ? check_payload(job, node, payload) : PL_ENOMEM;
    if (rc == PL_OK) {
        job->u.pep.item = id;
        id = NULL;
        job->u.pep.max = CHAT_PEP_ITEMS_MAX;
        chat_submit(cs, job, s->user->bare_jid);
    } else {
        if (rc == PL_EINVAL)
            reply(cs, s, st->node, "modify", "bad-request", "invalid-payload", NULL);
        else if (rc == PL_ETOOBIG)
            reply(cs, s, st->node, "modify", "not-acceptable", "payload-too-big", NULL);
        else
            reply(cs, s, st->node, "wait", "resource-constraint", NULL, NULL);
        if (job)
            chat_op_free(cs, job->owner);
        db_job_free(job);
    }
    free(id);
}

static void retract(struct chat_server *cs, struct chat_session *s,
                    const struct xmpp_stanza *st, const struct xmpp_node *r)
{
    const char *node = xmpp_node_attr(r, "node");
    if (!node) {
        reply(cs, s, st->node, "modify", "bad-request", "nodeid-required", NULL);
        return;
    }
    if (!node_known(node)) {
        reply(cs, s, st->node, "cancel", "item-not-found", NULL, NULL);
        return;
    }
    if (strcmp(node, CHAT_PEP_MDS) == 0) {
        /* A read position does not go back. */
        reply(cs, s, st->node, "cancel", "feature-not-implemented", "unsupported",
              "retract-items");
        return;
    }
    struct xmpp_node *item = xmpp_node_child(r, "item", XMPP_NS_PUBSUB);
    char *id = item ? bare_id(xmpp_node_attr(item, "id")) : NULL;
    if (!id) {
        reply(cs, s, st->node, "modify", "bad-request", "item-required", NULL);
        return;
    }
    struct db_job *job = new_job(cs, s, DB_JOB_PEP_RETRACT, st, node);
    if (!job) {
        free(id);
        reply(cs, s, st->node, "wait", "resource-constraint", NULL, NULL);
        return;
    }
    job->u.pep.item = id;
    chat_submit(cs, job, s->user->bare_jid);
}

void chat_pep_iq(struct chat_server *cs, struct chat_session *s,
                 const struct xmpp_stanza *st, const struct xmpp_node *pubsub)
{
    int get = strcmp(st->type, "get") == 0;
    const struct xmpp_node *what = first_element(pubsub);
    if (!get && what && strcmp(what->name, "publish-options") == 0)
        what = xmpp_node_child(pubsub, "publish", XMPP_NS_PUBSUB);
    if (!what || !what->ns || strcmp(what->ns, XMPP_NS_PUBSUB) != 0 ||
        strcmp(pubsub->name, "pubsub") != 0)
        reply(cs, s, st->node, "modify", "bad-request", NULL, NULL);
    else if (get && strcmp(what->name, "items") == 0)
        items_get(cs, s, st, what);
    else if (!get && strcmp(what->name, "publish") == 0)
        publish(cs, s, st, pubsub, what);
    else if (!get && strcmp(what->name, "retract") == 0)
        retract(cs, s, st, what);
    else /* subscriptions, configuration, affiliations...: not here */
        reply(cs, s, st->node, "cancel", "feature-not-implemented", "unsupported",
              what->name);
}

/* ---- after the store --------------------------------------------------- */

/* An item's payload as the node holds it (new), or NULL on failure. */
static struct xmpp_node *item_payload(struct chat_server *cs, const struct chat_user *u,
                                      const char *node, const struct db_pep_item *it)
{
    struct xmpp_node *n = NULL;
    if (it->payload) {
        enum xmpp_parse_error why;
        if (xmpp_parse(cs->parser, it->payload, strlen(it->payload), XMPP_NS_CLIENT, &n,
                       &why) != PL_OK)
            pl_error(0, u->bare_jid, "a stored bookmark of %s does not parse", it->id);
        return n;
    }
    char pos[24];
    snprintf(pos, sizeof(pos), "%" PRId64, it->pos);
    int ok;
    if (strcmp(node, CHAT_PEP_BOOKMARKS) == 0) {
        /* A room the user is a member of: opened on every device. */
        n = xmpp_node_new("conference", CHAT_PEP_BOOKMARKS);
        struct xmpp_node *nick = n ? xmpp_node_add(n, "nick", CHAT_PEP_BOOKMARKS) : NULL;
        ok = nick && xmpp_node_set_attr(n, "autojoin", "true") == PL_OK &&
             (!it->name || xmpp_node_set_attr(n, "name", it->name) == PL_OK) &&
             xmpp_node_add_text(nick, u->username) == PL_OK;
    } else {
        n = xmpp_node_new("displayed", CHAT_PEP_MDS);
        struct xmpp_node *sid = n ? xmpp_node_add(n, "stanza-id", XMPP_NS_SID) : NULL;
        ok = sid && it->by && xmpp_node_set_attr(sid, "id", pos) == PL_OK &&
             xmpp_node_set_attr(sid, "by", it->by) == PL_OK;
    }
    if (!ok) {
        xmpp_node_free(n);
        n = NULL;
    }
    return n;
}

/* 1 if the get asked for this item: all of them, or those it names. */
static int wanted(const struct xmpp_node *items, const char *id)
{
    int any = 0;
    for (struct xmpp_node *c = items->children; c; c = c->next) {
        if (!c->name || strcmp(c->name, "item") != 0)
            continue;
        any = 1;
        const char *want = xmpp_node_attr(c, "id");
        if (want && strcmp(want, id) == 0)
            return 1;
    }
    return !any;
}

static void get_done(struct chat_server *cs, struct chat_session *s, struct db_job *job,
                     const struct xmpp_node *iq)
{
    const struct db_pep_job *p = &job->u.pep;
    struct xmpp_node *pubsub = xmpp_node_child(iq, "pubsub", XMPP_NS_PUBSUB);
    struct xmpp_node *asked =
        pubsub ? xmpp_node_child(pubsub, "items", XMPP_NS_PUBSUB) : NULL;
    struct xmpp_node *res = asked ? xmpp_stanza_iq_result(iq, s->user->bare_jid) : NULL;
    struct xmpp_node *ps = res ? xmpp_node_add(res, "pubsub", XMPP_NS_PUBSUB) : NULL;
    struct xmpp_node *items = ps ? xmpp_node_add(ps, "items", NULL) : NULL;
    int ok = items && xmpp_node_set_attr(items, "node", p->node) == PL_OK;
    /* max_items (XEP-0060 section 6.5.7): the most recent N; these nodes
     * keep no order, so N of them. */
    const char *max_s = asked ? xmpp_node_attr(asked, "max_items") : NULL;
    long max = max_s ? strtol(max_s, NULL, 10) : -1;
    long sent = 0;
    for (size_t i = 0; ok && i < p->count && (max < 0 || sent < max); i++) {
        if (!wanted(asked, p->items[i].id))
            continue;
        struct xmpp_node *payload = item_payload(cs, s->user, p->node, &p->items[i]);
        if (!payload)
            continue; /* logged; the others still go */
        struct xmpp_node *it = xmpp_node_add(items, "item", NULL);
        ok = it && xmpp_node_set_attr(it, "id", p->items[i].id) == PL_OK;
        if (ok)
            xmpp_node_append(it, payload);
        else
            xmpp_node_free(payload);
        sent++;
    }
    if (ok)
        xmpp_stream_send(s->stream, res, 0);
    else
        reply(cs, s, iq, "wait", "resource-constraint", NULL, NULL);
    xmpp_node_free(res);
}

/* <message from=BARE type='headline'><event><items node=NODE>CHILD
 * </items></event></message> to every available resource of u: one frame
 * for all of them (no `to`, as presence does). Takes child. */
static void notify(struct chat_user *u, const char *node, struct xmpp_node *child)
{
    struct xmpp_node *m = child ? xmpp_node_new("message", XMPP_NS_CLIENT) : NULL;
    struct xmpp_node *ev = m ? xmpp_node_add(m, "event", XMPP_NS_PUBSUB_EVENT) : NULL;
    struct xmpp_node *items = ev ? xmpp_node_add(ev, "items", NULL) : NULL;
    int ok = items && xmpp_node_set_attr(m, "from", u->bare_jid) == PL_OK &&
             xmpp_node_set_attr(m, "type", "headline") == PL_OK &&
             xmpp_node_set_attr(items, "node", node) == PL_OK;
    if (ok) {
        xmpp_node_append(items, child);
        child = NULL;
    }
    struct pl_frame *f = ok ? chat_frame(m) : NULL;
    for (struct chat_session *t = f ? u->sessions : NULL; t; t = t->next_in_user)
        if (t->available)
            xmpp_stream_send_frame(t->stream, f, 0);
    if (!f)
        pl_error(0, u->bare_jid, "out of memory notifying a PEP change");
    pl_frame_unref(f);
    xmpp_node_free(child);
    xmpp_node_free(m);
}

static void publish_done(struct chat_server *cs, struct chat_session *s,
                         struct db_job *job, const struct xmpp_node *iq)
{
    const struct db_pep_job *p = &job->u.pep;
    if (s && p->result == 'f') {
        reply(cs, s, iq, "wait", "resource-constraint", NULL, NULL);
        return;
    }
    if (s && p->result == 'u') {
        /* XEP-0490: the stanza-id names no message of that conversation. */
        reply(cs, s, iq, "modify", "bad-request", "invalid-payload", NULL);
        return;
    }
    if (p->result != 'o')
        return;
    if (s) {
        struct xmpp_node *res = xmpp_stanza_iq_result(iq, s->user->bare_jid);
        struct xmpp_node *ps = res ? xmpp_node_add(res, "pubsub", XMPP_NS_PUBSUB) : NULL;
        struct xmpp_node *pub = ps ? xmpp_node_add(ps, "publish", NULL) : NULL;
        struct xmpp_node *it = pub ? xmpp_node_add(pub, "item", NULL) : NULL;
        if (it && xmpp_node_set_attr(pub, "node", p->node) == PL_OK &&
            xmpp_node_set_attr(it, "id", p->item) == PL_OK)
            xmpp_stream_send(s->stream, res, 0);
        xmpp_node_free(res);
    }
    /* The item as published, its id normalised. */
    struct xmpp_node *ps = xmpp_node_child(iq, "pubsub", XMPP_NS_PUBSUB);
    struct xmpp_node *pub = ps ? xmpp_node_child(ps, "publish", XMPP_NS_PUBSUB) : NULL;
    struct xmpp_node *item = pub ? xmpp_node_child(pub, "item", XMPP_NS_PUBSUB) : NULL;
    struct xmpp_node *payload = first_element(item);
    struct xmpp_node *copy = xmpp_node_new("item", XMPP_NS_PUBSUB_EVENT);
    struct xmpp_node *pc = payload ? xmpp_node_copy(payload) : NULL;
    if (!copy || !pc || xmpp_node_set_attr(copy, "id", p->item) != PL_OK) {
        xmpp_node_free(copy);
        copy = NULL;
        xmpp_node_free(pc);
    } else {
        xmpp_node_append(copy, pc);
    }
    struct chat_user *u = chat_user_find(cs, p->owner);
    if (u)
        notify(u, p->node, copy);
    else
        xmpp_node_free(copy);
}

static void retract_done(struct chat_server *cs, struct chat_session *s,
                         struct db_job *job, const struct xmpp_node *iq)
{
    const struct db_pep_job *p = &job->u.pep;
    if (!p->found) {
        if (s)
            reply(cs, s, iq, "cancel", "item-not-found", NULL, NULL);
        return;
    }
    if (s) {
        struct xmpp_node *res = xmpp_stanza_iq_result(iq, s->user->bare_jid);
        if (res)
            xmpp_stream_send(s->stream, res, 0);
        xmpp_node_free(res);
    }
    /* XEP-0060 section 7.2.2.1: notified when the retraction asks. */
    struct xmpp_node *ps = xmpp_node_child(iq, "pubsub", XMPP_NS_PUBSUB);
    struct xmpp_node *r = ps ? xmpp_node_child(ps, "retract", XMPP_NS_PUBSUB) : NULL;
    const char *n = r ? xmpp_node_attr(r, "notify") : NULL;
    if (!n || (strcmp(n, "true") != 0 && strcmp(n, "1") != 0))
        return;
    struct chat_user *u = chat_user_find(cs, p->owner);
    struct xmpp_node *gone = u ? xmpp_node_new("retract", XMPP_NS_PUBSUB_EVENT) : NULL;
    if (gone && xmpp_node_set_attr(gone, "id", p->item) == PL_OK)
        notify(u, p->node, gone);
    else
        xmpp_node_free(gone);
}

void chat_pep_done(struct chat_server *cs, struct db_job *job, struct chat_op *op)
{
    struct chat_session *s = chat_op_session(cs, op);
    const struct xmpp_node *iq = op ? op->request : NULL;
    if (!iq)
        return;
    if (job->status != PL_OK) {
        pl_error(0, job->u.pep.owner, "%s on %s failed: %s", db_job_name(job->kind),
                 job->u.pep.node, pl_strerror(job->status));
        if (s)
            reply(cs, s, iq, "wait", "internal-server-error", NULL, NULL);
        return;
    }
    switch (job->kind) {
    case DB_JOB_PEP_GET:
        if (s)
            get_done(cs, s, job, iq);
        break;
    case DB_JOB_PEP_PUBLISH:
        publish_done(cs, s, job, iq);
        break;
    case DB_JOB_PEP_RETRACT:
        retract_done(cs, s, job, iq);
        break;
    default:
        break;
    }
}
