#include "pl_mailbox.h"
#include "pl_error.h"

#include <errno.h>
#include <time.h>

int pl_mailbox_init(struct pl_mailbox *mb)
{
    mb->head = mb->tail = NULL;
    mb->count = 0;
    mb->closed = 0;
    if (pthread_mutex_init(&mb->lock, NULL) != 0)
        return PL_EIO;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&mb->ready, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_destroy(&mb->lock);
        return PL_EIO;
    }
    return PL_OK;
}

void pl_mailbox_destroy(struct pl_mailbox *mb)
{
    pthread_cond_destroy(&mb->ready);
    pthread_mutex_destroy(&mb->lock);
}

int pl_mailbox_push(struct pl_mailbox *mb, struct pl_mailbox_item *item)
{
    item->next = NULL;
    pthread_mutex_lock(&mb->lock);
    int was_empty = mb->head == NULL;
    if (mb->tail)
        mb->tail->next = item;
    else
        mb->head = item;
    mb->tail = item;
    mb->count++;
    pthread_cond_signal(&mb->ready);
    pthread_mutex_unlock(&mb->lock);
    return was_empty;
}

/* Caller holds the lock. */
static struct pl_mailbox_item *take_locked(struct pl_mailbox *mb, size_t max)
{
    struct pl_mailbox_item *first = mb->head;
    if (!first)
        return NULL;
    if (max == 0 || max >= mb->count) {
        mb->head = mb->tail = NULL;
        mb->count = 0;
        return first;
    }
    struct pl_mailbox_item *last = first;
    for (size_t i = 1; i < max; i++)
        last = last->next;
    mb->head = last->next;
    last->next = NULL;
    mb->count -= max;
    return first;
}

struct pl_mailbox_item *pl_mailbox_take(struct pl_mailbox *mb, size_t max)
{
    pthread_mutex_lock(&mb->lock);
    struct pl_mailbox_item *items = take_locked(mb, max);
    pthread_mutex_unlock(&mb->lock);
    return items;
}

struct pl_mailbox_item *pl_mailbox_wait(struct pl_mailbox *mb, size_t max, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&mb->lock);
    while (!mb->head && !mb->closed && timeout_ms != 0) {
        int rc;
        if (timeout_ms < 0)
            rc = pthread_cond_wait(&mb->ready, &mb->lock);
        else
            rc = pthread_cond_timedwait(&mb->ready, &mb->lock, &deadline);
        if (rc == ETIMEDOUT)
            break;
    }
    struct pl_mailbox_item *items = take_locked(mb, max);
    pthread_mutex_unlock(&mb->lock);
    return items;
}

void pl_mailbox_close(struct pl_mailbox *mb)
{
    pthread_mutex_lock(&mb->lock);
    mb->closed = 1;
    pthread_cond_broadcast(&mb->ready);
    pthread_mutex_unlock(&mb->lock);
}

size_t pl_mailbox_count(struct pl_mailbox *mb)
{
    pthread_mutex_lock(&mb->lock);
    size_t n = mb->count;
    pthread_mutex_unlock(&mb->lock);
    return n;
}
