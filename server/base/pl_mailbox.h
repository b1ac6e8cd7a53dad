/* A cross-thread queue of intrusive items: many producers, one consumer.
 * The loop thread hands jobs to store workers and workers hand completions
 * back through these. An item belongs to whoever holds it: the producer gives
 * it up on push, the consumer receives it from take. */
#ifndef PL_MAILBOX_H
#define PL_MAILBOX_H

#include <pthread.h>
#include <stddef.h>

struct pl_mailbox_item {
    struct pl_mailbox_item *next;
};

struct pl_mailbox {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct pl_mailbox_item *head;
    struct pl_mailbox_item *tail;
    size_t count;
    int closed;
};

int pl_mailbox_init(struct pl_mailbox *mb);
void pl_mailbox_destroy(struct pl_mailbox *mb);
/* Appends; returns 1 if the mailbox was empty before, 0 otherwise, so a
 * producer knows when the consumer needs waking. */
int pl_mailbox_push(struct pl_mailbox *mb, struct pl_mailbox_item *item);
/* Takes up to `max` items in FIFO order (0 = all) without waiting; returns
 * the chain (linked by next, NULL-terminated) or NULL when empty. */
struct pl_mailbox_item *pl_mailbox_take(struct pl_mailbox *mb, size_t max);
/* Like pl_mailbox_take, but waits up to timeout_ms (-1 = forever) for an item.
 * Returns NULL on timeout or once the mailbox is closed and empty. */
struct pl_mailbox_item *pl_mailbox_wait(struct pl_mailbox *mb, size_t max,
                                        int timeout_ms);
/* Wakes every waiter; later waits return at once when empty. */
void pl_mailbox_close(struct pl_mailbox *mb);
size_t pl_mailbox_count(struct pl_mailbox *mb);

#endif
