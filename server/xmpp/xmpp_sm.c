/* XEP-0198's counters, queue, handled count and resume decision (see
 * xmpp_sm.h). Pure: no I/O, no clock. */
#include "xmpp_sm.h"

#include "pl_error.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum xmpp_sm_ack xmpp_sm_ack_check(uint32_t acked, uint32_t sent, uint32_t h)
{
    /* Unsigned subtraction is modulo 2^32: the distances are right across
     * a wrap of either counter. */
    uint32_t unacked = sent - acked;
    uint32_t ahead = h - acked;
    if (ahead <= unacked)
        return XMPP_SM_ACK_OK;
    uint32_t behind = acked - h;
    return behind < UINT32_C(0x80000000) ? XMPP_SM_ACK_BACKWARDS : XMPP_SM_ACK_TOO_HIGH;
}

int xmpp_sm_parse_h(const char *text, uint32_t *out)
{
    if (!text || !*text)
        return PL_EINVAL;
    uint64_t v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return PL_EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > UINT32_MAX)
            return PL_EINVAL;
    }
    *out = (uint32_t)v;
    return PL_OK;
}

/* ---- the queue of unacknowledged stanzas ---- */

int xmpp_sm_queue_push(struct xmpp_sm_queue *q, struct pl_frame *frame, uint64_t tag)
{
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        struct xmpp_sm_item *items = malloc(cap * sizeof(*items));
        if (!items)
            return PL_ENOMEM;
        for (size_t i = 0; i < q->count; i++)
            items[i] = q->items[(q->head + i) % q->cap];
        free(q->items);
        q->items = items;
        q->cap = cap;
        q->head = 0;
    }
    struct xmpp_sm_item *it = &q->items[(q->head + q->count) % q->cap];
    it->frame = pl_frame_ref(frame);
    it->tag = tag;
    q->count++;
    return PL_OK;
}

const struct xmpp_sm_item *xmpp_sm_queue_at(const struct xmpp_sm_queue *q, size_t i)
{
    return &q->items[(q->head + i) % q->cap];
}

void xmpp_sm_queue_pop(struct xmpp_sm_queue *q, size_t n,
                       void (*fn)(void *arg, uint64_t tag), void *arg)
{
    if (n > q->count)
        n = q->count;
    for (size_t i = 0; i < n; i++) {
        struct xmpp_sm_item *it = &q->items[q->head];
        uint64_t tag = it->tag;
        pl_frame_unref(it->frame);
        it->frame = NULL;
        q->head = (q->head + 1) % q->cap;
        q->count--;
        if (fn)
            fn(arg, tag);
    }
    if (q->count == 0 && q->cap > 64) {
        /* Give back what a burst grew; an idle session keeps little. */
        free(q->items);
        q->items = NULL;
        q->cap = 0;
        q->head = 0;
    }
}

void xmpp_sm_queue_free(struct xmpp_sm_queue *q)
{
    xmpp_sm_queue_pop(q, q->count, NULL, NULL);
    free(q->items);
    q->items = NULL;
    q->cap = q->head = q->count = 0;
}

/* ---- client stanzas handled ---- */

int xmpp_sm_in_begin(struct xmpp_sm_inbound *in, uint32_t *seq)
{
    if (in->npending == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 4;
        uint32_t *p = realloc(in->pending, cap * sizeof(*p));
        if (!p)
            return PL_ENOMEM;
        in->pending = p;
        in->cap = cap;
    }
    *seq = ++in->received;
    in->pending[in->npending++] = *seq;
    return PL_OK;
}

void xmpp_sm_in_done(struct xmpp_sm_inbound *in, uint32_t seq)
{
    for (size_t i = 0; i < in->npending; i++) {
        if (in->pending[i] == seq) {
            memmove(&in->pending[i], &in->pending[i + 1],
                    (in->npending - i - 1) * sizeof(*in->pending));
            in->npending--;
            break;
        }
    }
    if (in->npending == 0 && in->cap > 16) {
        free(in->pending);
        in->pending = NULL;
        in->cap = 0;
    }
}

uint32_t xmpp_sm_in_handled(const struct xmpp_sm_inbound *in)
{
    /* pending is in arrival order: everything before its first is done. */
    return in->npending ? in->pending[0] - 1 : in->received;
}

void xmpp_sm_in_free(struct xmpp_sm_inbound *in)
{
    free(in->pending);
    in->pending = NULL;
    in->npending = in->cap = 0;
}

/* ---- sessions and the registry ---- */

int xmpp_sm_registry_new(const struct xmpp_sm_config *cfg, struct xmpp_sm_registry **out)
{
    struct xmpp_sm_registry *reg = calloc(1, sizeof(*reg));
    if (!reg)
        return PL_ENOMEM;
    reg->cfg = *cfg;
    *out = reg;
    return PL_OK;
}

void xmpp_sm_registry_free(struct xmpp_sm_registry *reg)
{
    if (!reg)
        return;
    while (reg->head)
        xmpp_sm_forget(reg->head);
    pl_map_free(&reg->by_id);
    free(reg);
}

struct xmpp_sm *xmpp_sm_new(struct xmpp_sm_registry *reg, const char *username)
{
    struct xmpp_sm *sm = calloc(1, sizeof(*sm));
    if (!sm)
        return NULL;
    sm->username = strdup(username);
    if (!sm->username) {
        free(sm);
        return NULL;
    }
    sm->refs = 1;
    sm->reg = reg;
    return sm;
}

struct xmpp_sm *xmpp_sm_ref(struct xmpp_sm *sm)
{
    sm->refs++;
    return sm;
}

void xmpp_sm_unref(struct xmpp_sm *sm)
{
    if (!sm || --sm->refs > 0)
        return;
    xmpp_sm_forget(sm);
    xmpp_sm_queue_free(&sm->queue);
    xmpp_sm_in_free(&sm->in);
    free(sm->r_at);
    free(sm->username);
    free(sm);
}

int xmpp_sm_enable(struct xmpp_sm *sm, int resume, long now)
{
    if (sm->enabled)
        return PL_EEXIST;
    struct xmpp_sm_registry *reg = sm->reg;
    if (resume && reg) {
        unsigned char raw[32];
        if (RAND_bytes(raw, sizeof(raw)) != 1)
            return PL_EIO;
        for (size_t i = 0; i < sizeof(raw); i++)
            snprintf(sm->id + 2 * i, 3, "%02x", raw[i]);
        if (pl_map_put(&reg->by_id, sm->id, sm) != PL_OK) {
            sm->id[0] = '\0';
            return PL_ENOMEM;
        }
        sm->resumable = 1;
    }
    if (reg) {
        sm->next = reg->head;
        if (reg->head)
            reg->head->prev = sm;
        reg->head = sm;
        reg->count++;
    }
    sm->enabled = 1;
    sm->last_rx = now;
    return PL_OK;
}

void xmpp_sm_forget(struct xmpp_sm *sm)
{
    struct xmpp_sm_registry *reg = sm->reg;
    if (!reg || !sm->enabled)
        return;
    if (sm->resumable && pl_map_get(&reg->by_id, sm->id) == sm)
        pl_map_remove(&reg->by_id, sm->id);
    sm->resumable = 0;
    if (sm->prev)
        sm->prev->next = sm->next;
    else if (reg->head == sm)
        reg->head = sm->next;
    if (sm->next)
        sm->next->prev = sm->prev;
    sm->prev = sm->next = NULL;
    sm->reg = NULL;
    reg->count--;
}

int xmpp_sm_expired(const struct xmpp_sm *sm, long now)
{
    long window = sm->reg ? sm->reg->cfg.resume_timeout : 0;
    return sm->detached_at && now - sm->detached_at >= window * 1000;
}

enum xmpp_sm_resume xmpp_sm_lookup(struct xmpp_sm_registry *reg, const char *previd,
                                   const char *username, long now, struct xmpp_sm **out)
{
    *out = NULL;
    struct xmpp_sm *sm = reg && previd ? pl_map_get(&reg->by_id, previd) : NULL;
    if (!sm || !sm->resumable)
        return XMPP_SM_RESUME_UNKNOWN;
    if (strcmp(sm->username, username) != 0)
        return XMPP_SM_RESUME_OTHER_USER;
    if (xmpp_sm_expired(sm, now))
        return XMPP_SM_RESUME_EXPIRED;
    *out = sm;
    return XMPP_SM_RESUME_OK;
}
