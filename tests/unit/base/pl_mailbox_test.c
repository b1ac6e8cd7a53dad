#include "pl_error.h"
#include "pl_mailbox.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

struct item {
    struct pl_mailbox_item link;
    int value;
};

static void test_fifo_and_max(void **state)
{
    struct pl_mailbox mb;
    assert_int_equal(pl_mailbox_init(&mb), PL_OK);
    struct item items[5];
    for (int i = 0; i < 5; i++) {
        items[i].value = i;
        assert_int_equal(pl_mailbox_push(&mb, &items[i].link), i == 0);
    }
    assert_int_equal(pl_mailbox_count(&mb), 5);
    struct pl_mailbox_item *got = pl_mailbox_take(&mb, 2);
    assert_ptr_equal(got, &items[0].link);
    assert_ptr_equal(got->next, &items[1].link);
    assert_null(got->next->next);
    got = pl_mailbox_take(&mb, 0);
    int expect = 2;
    for (; got; got = got->next)
        assert_int_equal(((struct item *)got)->value, expect++);
    assert_int_equal(expect, 5);
    assert_null(pl_mailbox_take(&mb, 0));
    pl_mailbox_destroy(&mb);
}

static void test_wait_timeout_and_close(void **state)
{
    struct pl_mailbox mb;
    pl_mailbox_init(&mb);
    assert_null(pl_mailbox_wait(&mb, 0, 10));
    pl_mailbox_close(&mb);
    assert_null(pl_mailbox_wait(&mb, 0, -1));
    pl_mailbox_destroy(&mb);
}

#define PRODUCED 10000

static void *producer(void *arg)
{
    struct pl_mailbox *mb = arg;
    for (int i = 0; i < PRODUCED; i++) {
        struct item *it = malloc(sizeof(*it));
        it->value = i;
        pl_mailbox_push(mb, &it->link);
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct pl_mailbox mb;
    pl_mailbox_init(&mb);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, producer, &mb);
    int received = 0;
    while (received < 2 * PRODUCED) {
        struct pl_mailbox_item *got = pl_mailbox_wait(&mb, 64, 1000);
        assert_non_null(got);
        while (got) {
            struct pl_mailbox_item *next = got->next;
            free(got);
            received++;
            got = next;
        }
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(pl_mailbox_count(&mb), 0);
    pl_mailbox_destroy(&mb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_and_max),
        cmocka_unit_test(test_wait_timeout_and_close),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
