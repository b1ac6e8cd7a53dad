/* XEP-0198 stream management, the part with no socket: the 32-bit
 * counters and the checks of a peer's `h`, the queue of stanzas sent and
 * not yet acknowledged, the count of client stanzas handled (a stanza is
 * handled when the chat layer lets go of it: for a stored message, after
 * its commit), and the registry of resumable sessions with the resume
 * decision. xmpp_stream.c puts it on the wire; everything here takes the
 * time as an argument (monotonic milliseconds), so the unit tests drive it
 * without a clock.
 *
 * No library does this: XEP-0198 implementations live inside each
 * server's stream code (ejabberd's mod_stream_mgmt, Prosody's
 * mod_smacks), none of them as a C library. */
#ifndef XMPP_SM_H
#define XMPP_SM_H

#include "pl_frame.h"
#include "pl_map.h"

#include <stddef.h>
#include <stdint.h>

#define XMPP_NS_SM "urn:xmpp:sm:3"
#define XMPP_NS_CSI "urn:xmpp:csi:0"

struct xmpp_stream;

/* What a peer's `h` says, against what was sent to it. */
enum xmpp_sm_ack {
    XMPP_SM_ACK_OK,        /* covers 0..unacked stanzas more */
    XMPP_SM_ACK_TOO_HIGH,  /* more than was ever sent */
    XMPP_SM_ACK_BACKWARDS, /* less than the peer acknowledged before */
};

/* `acked`: the last h the peer gave; `sent`: stanzas sent so far; both
 * counted modulo 2^32 as XEP-0198 section 4 says, so a wrap is no error.
 * A value behind `acked` by less than 2^31 is BACKWARDS, anything else
 * beyond `sent` TOO_HIGH. */
enum xmpp_sm_ack xmpp_sm_ack_check(uint32_t acked, uint32_t sent, uint32_t h);

/* Parses an `h` attribute: decimal digits only, at most 2^32 - 1.
 * PL_EINVAL for NULL, empty, a sign, spaces or anything else. */
int xmpp_sm_parse_h(const char *text, uint32_t *out);

/* One stanza sent and not acknowledged: its frame (a reference) and the
 * written-frame tag it was queued with. */
struct xmpp_sm_item {
    struct pl_frame *frame;
    uint64_t tag;
};

/* A ring of the unacknowledged stanzas, oldest first. Empty it holds no
 * memory, so an idle session costs only the struct. */
struct xmpp_sm_queue {
    struct xmpp_sm_item *items;
    size_t cap;
    size_t head;
    size_t count;
};

/* Appends (takes a reference of its own on frame). */
int xmpp_sm_queue_push(struct xmpp_sm_queue *q, struct pl_frame *frame, uint64_t tag);
/* The i-th oldest (i < count). */
const struct xmpp_sm_item *xmpp_sm_queue_at(const struct xmpp_sm_queue *q, size_t i);
/* Drops the n oldest (n <= count), calling fn(arg, tag) for each first
 * (fn may be NULL). */
void xmpp_sm_queue_pop(struct xmpp_sm_queue *q, size_t n,
                       void (*fn)(void *arg, uint64_t tag), void *arg);
void xmpp_sm_queue_free(struct xmpp_sm_queue *q);

/* Client stanzas: received, and those received that are still being
 * handled (in arrival order). The handled count is what <a h/> says: every
 * stanza before the oldest one still pending. */
struct xmpp_sm_inbound {
    uint32_t received;
    uint32_t *pending;
    size_t npending;
    size_t cap;
};

/* A new stanza arrived and is pending; its sequence number (the value of
 * `received` after it). */
int xmpp_sm_in_begin(struct xmpp_sm_inbound *in, uint32_t *seq);
/* The stanza `seq` is handled. */
void xmpp_sm_in_done(struct xmpp_sm_inbound *in, uint32_t seq);
/* The handled count. */
uint32_t xmpp_sm_in_handled(const struct xmpp_sm_inbound *in);
void xmpp_sm_in_free(struct xmpp_sm_inbound *in);

/* Settings, from PARLEY_SM_* (pl_config). */
struct xmpp_sm_config {
    long resume_timeout;    /* seconds a dropped session may be resumed */
    uint32_t max_unacked;   /* unacknowledged stanzas before the session closes */
    uint32_t request_every; /* ask <r/> after this many unacknowledged stanzas */
    long request_secs;      /* ...or after this many seconds with some unacknowledged */
    long idle_secs;         /* ask <r/> after this much silence (before lws drops it) */
};

/* The stream management state of one session. Reference-counted: the
 * stream holds one, and every client stanza still being handled holds one
 * (its ticket), so a stanza freed after its stream (a commit that
 * completes after the drop) still finds it. */
struct xmpp_sm {
    int refs;
    struct xmpp_sm_registry *reg;
    struct xmpp_stream *stream;  /* the stream it is on now; NULL once it ended */
    struct xmpp_sm *prev, *next; /* the registry's list of enabled sessions */
    int enabled;
    int resumable;
    char id[65];            /* hex of 32 random bytes; "" when not resumable */
    char *username;         /* whose session: a resume by anyone else is refused */
    uint32_t sent;          /* stanzas sent since <enabled/> */
    uint32_t acked;         /* the client's last h */
    uint32_t since_request; /* stanzas sent since the last <r/> */
    long request_at;        /* when the last <r/> went out (ms); 0: none outstanding */
    long last_rx;           /* when the client last sent anything (ms) */
    long unacked_since;     /* when the queue last went from empty to not (ms) */
    long detached_at;       /* when the connection was lost (ms); 0 while attached */
    struct xmpp_sm_queue queue;
    struct xmpp_sm_inbound in;
    uint32_t *r_at; /* <r/>s waiting for the handled count to reach them */
    size_t nr, rcap;
};

struct xmpp_sm_registry {
    struct xmpp_sm_config cfg;
    struct xmpp_sm *head; /* every enabled session, attached or not */
    struct pl_map by_id;  /* resumption id -> struct xmpp_sm */
    size_t count;
};

int xmpp_sm_registry_new(const struct xmpp_sm_config *cfg, struct xmpp_sm_registry **out);
/* Frees the registry; the streams still in it must be gone (see
 * xmpp_stream_sm_shutdown). */
void xmpp_sm_registry_free(struct xmpp_sm_registry *reg);

/* A new state for username's stream (one reference, the caller's). */
struct xmpp_sm *xmpp_sm_new(struct xmpp_sm_registry *reg, const char *username);
struct xmpp_sm *xmpp_sm_ref(struct xmpp_sm *sm);
void xmpp_sm_unref(struct xmpp_sm *sm);
/* <enable/>: counting starts; with `resume`, a fresh unguessable id (from
 * OpenSSL's RAND_bytes) is registered. PL_EEXIST if already enabled. */
int xmpp_sm_enable(struct xmpp_sm *sm, int resume, long now);
/* Leaves the registry (no resumption from now on). */
void xmpp_sm_forget(struct xmpp_sm *sm);

/* Why a resumption was refused (all are item-not-found on the wire). */
enum xmpp_sm_resume {
    XMPP_SM_RESUME_OK,
    XMPP_SM_RESUME_UNKNOWN,    /* no such id (or after a restart) */
    XMPP_SM_RESUME_OTHER_USER, /* the id is someone else's */
    XMPP_SM_RESUME_EXPIRED,    /* dropped longer ago than the window */
};

/* The session `previd` names, if `username` may resume it at `now`. */
enum xmpp_sm_resume xmpp_sm_lookup(struct xmpp_sm_registry *reg, const char *previd,
                                   const char *username, long now, struct xmpp_sm **out);
/* 1 if a detached session's window has passed at `now`. */
int xmpp_sm_expired(const struct xmpp_sm *sm, long now);

#endif
