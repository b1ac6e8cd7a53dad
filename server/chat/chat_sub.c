/* The presence subscription state machine of RFC 6121 Appendix A, as plain
 * functions of a state: no socket, no database, no allocation. A state is
 * what one roster row holds (the owner's view of one contact):
 * subscription to/from, pending out (`ask`), pending in, a pre-approval
 * (section 3.4) and whether the row is in the roster the owner sees.
 *
 * Both ends of every exchange are accounts of this server (there are no
 * server-to-server links), so an exchange is the sender's outbound
 * transition (A.2) followed by the recipient's inbound one (A.3), and the
 * answers the server gives on the recipient's behalf (section 3.1.3:
 * auto-reply `subscribed` when the sender is already subscribed or was
 * pre-approved) go straight back through the sender's inbound transition.
 * chat_subscription.c reads the two rows, calls chat_sub_exchange and writes
 * the result. */
#include "chat_internal.h"

const char *chat_sub_type_name(enum chat_sub_type type)
{
    switch (type) {
    case CHAT_SUB_SUBSCRIBE:
        return "subscribe";
    case CHAT_SUB_SUBSCRIBED:
        return "subscribed";
    case CHAT_SUB_UNSUBSCRIBE:
        return "unsubscribe";
    case CHAT_SUB_UNSUBSCRIBED:
        return "unsubscribed";
    case CHAT_SUB_REMOVE:
        break;
    }
    return "remove";
}

const char *chat_sub_subscription(unsigned state)
{
    switch (state & (CHAT_SUB_TO | CHAT_SUB_FROM)) {
    case CHAT_SUB_TO:
        return "to";
    case CHAT_SUB_FROM:
        return "from";
    case CHAT_SUB_TO | CHAT_SUB_FROM:
        return "both";
    default:
        return "none";
    }
}

/* A row that is neither in the roster nor holding a request is no row. */
static unsigned normalise(unsigned state)
{
    if (!(state & (CHAT_SUB_LISTED | CHAT_SUB_PENDING_IN)))
        return 0;
    return state;
}

unsigned chat_sub_outbound(unsigned state, enum chat_sub_type type)
{
    unsigned s = state;
    switch (type) {
    case CHAT_SUB_SUBSCRIBE:
        /* A.2.1: pending out unless already subscribed to; the contact
         * joins the roster (section 3.1.2). */
        if (!(s & CHAT_SUB_TO))
            s |= CHAT_SUB_PENDING_OUT;
        s |= CHAT_SUB_LISTED;
        break;
    case CHAT_SUB_UNSUBSCRIBE:
        /* A.2.2: the subscription to the contact and its request go. */
        s &= ~(CHAT_SUB_TO | CHAT_SUB_PENDING_OUT);
        break;
    case CHAT_SUB_SUBSCRIBED:
        /* A.2.3: a pending request is approved; without one it is a
         * pre-approval (section 3.4). Either way the contact is in the
         * roster now. */
        if (s & CHAT_SUB_PENDING_IN)
            s = (s & ~(CHAT_SUB_PENDING_IN | CHAT_SUB_APPROVED)) | CHAT_SUB_FROM;
        else if (!(s & CHAT_SUB_FROM))
            s |= CHAT_SUB_APPROVED;
        s |= CHAT_SUB_LISTED;
        break;
    case CHAT_SUB_UNSUBSCRIBED:
        /* A.2.4: a request is denied or the contact's subscription
         * cancelled; a pre-approval is withdrawn too (section 3.4). */
        s &= ~(CHAT_SUB_FROM | CHAT_SUB_PENDING_IN | CHAT_SUB_APPROVED);
        break;
    case CHAT_SUB_REMOVE:
        return 0;
    }
    return normalise(s);
}

unsigned chat_sub_inbound(unsigned state, enum chat_sub_type type, unsigned *actions)
{
    unsigned s = state;
    unsigned act = 0;
    switch (type) {
    case CHAT_SUB_SUBSCRIBE:
        /* A.3.1 and section 3.1.3. */
        if (s & CHAT_SUB_FROM) {
            act = CHAT_SUB_AUTO_REPLY; /* already subscribed: say so again */
        } else if (s & CHAT_SUB_APPROVED) {
            s = (s & ~CHAT_SUB_APPROVED) | CHAT_SUB_FROM;
            act = CHAT_SUB_AUTO_REPLY; /* pre-approved: approved now */
        } else {
            /* New, or again while pending: the owner is asked (again). */
            s |= CHAT_SUB_PENDING_IN;
            act = CHAT_SUB_DELIVER;
        }
        break;
    case CHAT_SUB_UNSUBSCRIBE:
        /* A.3.2: the sender no longer wants the owner's presence. */
        if (s & (CHAT_SUB_FROM | CHAT_SUB_PENDING_IN)) {
            s &= ~(CHAT_SUB_FROM | CHAT_SUB_PENDING_IN);
            act = CHAT_SUB_DELIVER;
        }
        break;
    case CHAT_SUB_SUBSCRIBED:
        /* A.3.3: only an approval the owner asked for counts. */
        if (s & CHAT_SUB_PENDING_OUT) {
            s = (s & ~CHAT_SUB_PENDING_OUT) | CHAT_SUB_TO;
            act = CHAT_SUB_DELIVER;
        }
        break;
    case CHAT_SUB_UNSUBSCRIBED:
        /* A.3.4: the owner's subscription or request ends. */
        if (s & (CHAT_SUB_TO | CHAT_SUB_PENDING_OUT)) {
            s &= ~(CHAT_SUB_TO | CHAT_SUB_PENDING_OUT);
            act = CHAT_SUB_DELIVER;
        }
        break;
    case CHAT_SUB_REMOVE:
        break; /* not a stanza: never arrives */
    }
    if (actions)
        *actions = act;
    return normalise(s);
}

/* The contact receives `type`; what it sends back on its own goes to the
 * user. */
static void to_contact(struct chat_sub_exchange *x, enum chat_sub_type type)
{
    unsigned act = 0;
    x->contact_new = chat_sub_inbound(x->contact_new, type, &act);
    if (act & CHAT_SUB_DELIVER)
        x->to_contact |= 1u << type;
    if (act & CHAT_SUB_AUTO_REPLY) {
        unsigned back = 0;
        x->user_new = chat_sub_inbound(x->user_new, CHAT_SUB_SUBSCRIBED, &back);
        if (back & CHAT_SUB_DELIVER)
            x->to_user |= 1u << CHAT_SUB_SUBSCRIBED;
    }
}

void chat_sub_exchange(struct chat_sub_exchange *x, enum chat_sub_type type,
                       int contact_blocks_user)
{
    unsigned before = x->user_old;
    x->user_new = chat_sub_outbound(x->user_old, type);
    x->contact_new = x->contact_old;
    x->to_contact = 0;
    x->to_user = 0;
    if (contact_blocks_user)
        return; /* XEP-0191: nothing of the user's reaches the contact */
    if (type != CHAT_SUB_REMOVE) {
        to_contact(x, type);
        return;
    }
    /* Section 2.5.2: removing an item cancels both directions, each only
     * if there was something to cancel. */
    if (before & (CHAT_SUB_TO | CHAT_SUB_PENDING_OUT))
        to_contact(x, CHAT_SUB_UNSUBSCRIBE);
    if (before & (CHAT_SUB_FROM | CHAT_SUB_PENDING_IN))
        to_contact(x, CHAT_SUB_UNSUBSCRIBED);
}
