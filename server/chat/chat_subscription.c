/* Presence subscriptions between local accounts (RFC 6121 section 3), and
 * the roster remove that cancels them (section 2.5.2).
 *
 * One exchange is two store jobs: DB_JOB_ROSTER_PAIR reads the user's row
 * for the contact and the contact's row for the user; the loop runs them
 * through the state machine (chat_sub.c); DB_JOB_ROSTER_APPLY writes both
 * new states, only if neither row changed since the read (each row's
 * version is the token), else the exchange starts over from the read. Then
 * the effects: the two users' maps, roster pushes, the stanzas each side's
 * resources get, and the presence that starts or stops flowing. A request
 * to a contact who is offline stays in the contact's row and is delivered
 * at their next initial presence (chat_presence.c). Both jobs go to the
 * pair's shard, so the exchanges of one pair run in order. */
#include "chat_internal.h"

#include "pl_buf.h"
#include "pl_error.h"
#include "pl_log.h"

#include <stdlib.h>
#include <string.h>

/* Times an exchange is read again after losing a race before it gives up. */
#define CHAT_SUB_TRIES 5

struct sub_ctx {
    enum chat_sub_type type;
    char *a_user; /* who started it (username) */
    char *a_bare;
    char *b_user; /* the contact's username; NULL if not an account here */
    char *b_bare;
    struct xmpp_node *stanza; /* what the contact gets: from a_bare, to b_bare */
    struct xmpp_node *iq;     /* a remove, to answer */
    int tries;
    struct chat_sub_exchange x;
    char *a_name, *a_groups; /* a's row as read, for its push */
    char *b_name, *b_groups;
};

static void ctx_free(void *data)
{
    struct sub_ctx *c = data;
    if (!c)
        return;
    free(c->a_user);
    free(c->a_bare);
    free(c->b_user);
    free(c->b_bare);
    xmpp_node_free(c->stanza);
    xmpp_node_free(c->iq);
    free(c->a_name);
    free(c->a_groups);
    free(c->b_name);
    free(c->b_groups);
    free(c);
}

/* The shard of a pair: one key whichever side starts. */
static char *pair_key(const char *a, const char *b)
{
    struct pl_buf k = PL_BUF_INIT;
    int lt = strcmp(a, b) < 0;
    if (pl_buf_appendf(&k, "%s|%s", lt ? a : b, lt ? b : a) != PL_OK) {
        pl_buf_free(&k);
        return NULL;
    }
    return pl_buf_steal(&k, NULL);
}

/* Ends a failed exchange: the remove it served is answered. */
static void fail(struct chat_server *cs, struct chat_session *s, struct sub_ctx *c,
                 const char *why)
{
    pl_error(0, c->a_bare, "subscription exchange with %s failed: %s", c->b_bare, why);
    if (s && c->iq)
        chat_reply_error(cs, s, c->iq, "wait", "internal-server-error");
}

/* Submits the read of the pair for c, on behalf of (user, serial); takes
 * c. */
static void submit_pair(struct chat_server *cs, const char *user, uint64_t serial,
                        struct sub_ctx *c)
{
    struct db_job *job = db_job_new(DB_JOB_ROSTER_PAIR);
    struct chat_op *op = job ? chat_op_new(cs, NULL) : NULL;
    char *key = pair_key(c->a_bare, c->b_bare);
    struct db_roster_pair_job *p = job ? &job->u.roster_pair : NULL;
    if (!op || !key || !(op->user = strdup(user)) || !(p->a_owner = strdup(c->a_user)) ||
        !(p->a_contact = strdup(c->b_bare)) ||
        (c->b_user && !(p->b_owner = strdup(c->b_user))) ||
        !(p->b_contact = strdup(c->a_bare))) {
        fail(cs, op ? chat_session_by_serial(cs, user, serial) : NULL, c,
             "out of memory");
        ctx_free(c);
        chat_op_free(cs, op);
        db_job_free(job);
        free(key);
        return;
    }
    op->serial = serial;
    op->data = c;
    op->data_free = ctx_free;
    job->owner = op;
    chat_submit(cs, job, key);
    free(key);
}

void chat_subscription_start(struct chat_server *cs, struct chat_session *s,
                             const char *contact, enum chat_sub_type type,
                             struct xmpp_node *stanza, struct xmpp_node *iq)
{
    struct sub_ctx *c = calloc(1, sizeof(*c));
    char name[1024];
    int local = chat_local_user(cs, contact, name, sizeof(name)) == PL_OK;
    if (!c || !(c->a_user = strdup(s->user->username)) ||
        !(c->a_bare = strdup(s->user->bare_jid)) || !(c->b_bare = strdup(contact)) ||
        (local && !(c->b_user = strdup(name)))) {
        if (iq)
            chat_reply_error(cs, s, iq, "wait", "resource-constraint");
        xmpp_node_free(stanza);
        xmpp_node_free(iq);
        ctx_free(c);
        return;
    }
    c->type = type;
    c->stanza = stanza;
    c->iq = iq;
    submit_pair(cs, s->user->username, s->serial, c);
}

/* An RFC 6121 subscription type, or -1. */
static int sub_type(const char *type)
{
    static const char *const names[] = {"subscribe", "subscribed", "unsubscribe",
                                        "unsubscribed"};
    for (int i = 0; i < 4; i++)
        if (strcmp(type, names[i]) == 0)
            return i;
    return -1;
}

void chat_subscription_handle(struct chat_server *cs, struct chat_session *s,
                              struct xmpp_stanza *st)
{
    int type = st->type ? sub_type(st->type) : -1;
    char *contact = type >= 0 ? xmpp_jid_bare(&st->to) : NULL;
    if (!contact) {
        xmpp_stanza_free(st);
        return;
    }
    if (strcmp(contact, s->user->bare_jid) == 0) {
        /* One's own presence is not a subscription: the server sends it to
         * one's resources anyway (section 4.2.2). */
        chat_reply_error(cs, s, st->node, "cancel", "not-allowed");
    } else if (chat_block_blocks(s->user, contact)) {
        chat_block_reply_blocked(cs, s, st->node); /* XEP-0191 section 3.4 */
    } else {
        /* Section 3.1.2: the server stamps the user's bare JID and
         * addresses the contact's bare JID. */
        struct xmpp_node *out = xmpp_node_copy(st->node);
        if (out && (xmpp_node_set_attr(out, "from", s->user->bare_jid) != PL_OK ||
                    xmpp_node_set_attr(out, "to", contact) != PL_OK)) {
            xmpp_node_free(out);
            out = NULL;
        }
        if (out)
            chat_subscription_start(cs, s, contact, (enum chat_sub_type)type, out, NULL);
        else
            pl_error(xmpp_stream_conn_id(s->stream), s->user->bare_jid,
                     "out of memory handling a subscription");
    }
    free(contact);
    xmpp_stanza_free(st);
}

/* Sends n (one frame) to every available session of u. */
static void to_available(struct chat_user *u, const struct xmpp_node *n)
{
    struct pl_frame *f = NULL;
    for (struct chat_session *s = u ? u->sessions : NULL; s; s = s->next_in_user) {
        if (!s->available)
            continue;
        if (!f && !(f = chat_frame(n)))
            return;
        xmpp_stream_send_frame(s->stream, f, 0);
    }
    pl_frame_unref(f);
}

/* <presence type=TYPE from=FROM to=TO/>: what the server says for someone. */
static struct xmpp_node *sub_presence(enum chat_sub_type type, const char *from,
                                      const char *to)
{
    struct xmpp_node *p = xmpp_node_new("presence", XMPP_NS_CLIENT);
    if (p && (xmpp_node_set_attr(p, "type", chat_sub_type_name(type)) != PL_OK ||
              xmpp_node_set_attr(p, "from", from) != PL_OK ||
              xmpp_node_set_attr(p, "to", to) != PL_OK)) {
        xmpp_node_free(p);
        p = NULL;
    }
    return p;
}

/* What changes once both rows are written (or nothing needed writing). */
static void effects(struct chat_server *cs, struct chat_session *s, struct sub_ctx *c,
                    int64_t a_ver, int64_t b_ver)
{
    const struct chat_sub_exchange *x = &c->x;
    struct chat_user *ua = chat_user_find(cs, c->a_user);
    struct chat_user *ub = c->b_user ? chat_user_find(cs, c->b_user) : NULL;
    unsigned listed = CHAT_SUB_LISTED;
    if (x->user_new != x->user_old && ua) {
        chat_roster_cache_set(cs, ua, c->b_bare, x->user_new);
        if ((x->user_old | x->user_new) & listed)
            chat_roster_push(cs, ua, c->b_bare, x->user_new, c->a_name, c->a_groups,
                             a_ver);
    }
    if (x->contact_new != x->contact_old && ub) {
        chat_roster_cache_set(cs, ub, c->a_bare, x->contact_new);
        if ((x->contact_old | x->contact_new) & listed)
            chat_roster_push(cs, ub, c->a_bare, x->contact_new, c->b_name, c->b_groups,
                             b_ver);
    }
    /* The stanzas each side gets (3.1.3, 3.1.6, 3.2.3, 3.3.3). */
    for (int t = CHAT_SUB_SUBSCRIBE; t <= CHAT_SUB_UNSUBSCRIBED; t++) {
        if (!(x->to_contact & (1u << t)))
            continue;
        if (t == (int)c->type && c->stanza) {
            to_available(ub, c->stanza);
        } else {
            struct xmpp_node *p =
                sub_presence((enum chat_sub_type)t, c->a_bare, c->b_bare);
            to_available(ub, p);
            xmpp_node_free(p);
        }
    }
    if (x->to_user & (1u << CHAT_SUB_SUBSCRIBED)) {
        struct xmpp_node *p = sub_presence(CHAT_SUB_SUBSCRIBED, c->b_bare, c->a_bare);
        to_available(ua, p);
        xmpp_node_free(p);
    }
    /* Presence starts or stops flowing (3.1.5, 3.2.2, 3.3.2). */
    if (ua && ub) {
        unsigned to_was = x->user_old & CHAT_SUB_TO, to_is = x->user_new & CHAT_SUB_TO;
        unsigned from_was = x->user_old & CHAT_SUB_FROM,
                 from_is = x->user_new & CHAT_SUB_FROM;
        if (to_is && !to_was)
            chat_presence_share(cs, ub, ua);
        else if (to_was && !to_is)
            chat_presence_withdraw(cs, ub, ua);
        if (from_is && !from_was)
            chat_presence_share(cs, ua, ub);
        else if (from_was && !from_is)
            chat_presence_withdraw(cs, ua, ub);
    }
    if (s && c->iq) {
        struct xmpp_node *res = xmpp_stanza_iq_result(c->iq, s->user->bare_jid);
        if (res)
            xmpp_stream_send(s->stream, res, 0);
        xmpp_node_free(res);
    }
}

static char *take(char **p)
{
    char *v = *p;
    *p = NULL;
    return v;
}

void chat_subscription_paired(struct chat_server *cs, struct db_job *job,
                              struct chat_op *op)
{
    struct sub_ctx *c = op ? op->data : NULL;
    if (!c)
        return;
    struct chat_session *s = chat_op_session(cs, op);
    struct db_roster_pair_job *p = &job->u.roster_pair;
    if (job->status != PL_OK) {
        fail(cs, s, c, pl_strerror(job->status));
        return;
    }
    c->x.user_old = p->a.state;
    c->x.contact_old = c->b_user ? p->b.state : 0;
    chat_sub_exchange(&c->x, c->type, p->b_blocks_a || !c->b_user);
    free(c->a_name);
    free(c->a_groups);
    free(c->b_name);
    free(c->b_groups);
    c->a_name = take(&p->a.name);
    c->a_groups = take(&p->a.groups);
    c->b_name = take(&p->b.name);
    c->b_groups = take(&p->b.groups);
    const struct chat_sub_exchange *x = &c->x;
    if (x->user_new == x->user_old && x->contact_new == x->contact_old) {
        effects(cs, s, c, 0, 0); /* nothing to write: a request again, say */
        return;
    }
    struct db_job *w = db_job_new(DB_JOB_ROSTER_APPLY);
    struct chat_op *wop = w ? chat_op_new(cs, NULL) : NULL;
    char *key = pair_key(c->a_bare, c->b_bare);
    struct db_roster_apply_job *a = w ? &w->u.roster_apply : NULL;
    struct pl_buf req = PL_BUF_INIT;
    int want_req = (x->to_contact & (1u << CHAT_SUB_SUBSCRIBE)) && c->stanza &&
                   x->contact_new != x->contact_old;
    if (!wop || !key || !(wop->user = strdup(op->user)) ||
        !(a->a_owner = strdup(c->a_user)) || !(a->a_contact = strdup(c->b_bare)) ||
        (c->b_user && !(a->b_owner = strdup(c->b_user))) ||
        !(a->b_contact = strdup(c->a_bare)) ||
        (want_req && (xmpp_node_serialize(c->stanza, NULL, &req) != PL_OK ||
                      !(a->b_request = pl_buf_steal(&req, NULL))))) {
        fail(cs, s, c, "out of memory");
        pl_buf_free(&req);
        chat_op_free(cs, wop);
        db_job_free(w);
        free(key);
        return;
    }
    a->a_old = p->a.ver;
    a->a_new = x->user_new != x->user_old ? (int)x->user_new : -1;
    a->b_old = c->b_user ? p->b.ver : 0;
    a->b_new = x->contact_new != x->contact_old ? (int)x->contact_new : -1;
    wop->serial = op->serial;
    wop->data = c;
    wop->data_free = ctx_free;
    op->data = NULL;
    w->owner = wop;
    chat_submit(cs, w, key);
    free(key);
}

void chat_subscription_applied(struct chat_server *cs, struct db_job *job,
                               struct chat_op *op)
{
    struct sub_ctx *c = op ? op->data : NULL;
    if (!c)
        return;
    struct chat_session *s = chat_op_session(cs, op);
    if (job->status != PL_OK) {
        fail(cs, s, c, pl_strerror(job->status));
        return;
    }
    const struct db_roster_apply_job *a = &job->u.roster_apply;
    if (!a->applied) {
        /* Someone else's change got there between the read and the write:
         * read again and decide from what is there now. */
        if (++c->tries >= CHAT_SUB_TRIES) {
            fail(cs, s, c, "the rows kept changing");
            return;
        }
        op->data = NULL;
        submit_pair(cs, op->user, op->serial, c);
        return;
    }
    effects(cs, s, c, a->a_ver, a->b_ver);
}
