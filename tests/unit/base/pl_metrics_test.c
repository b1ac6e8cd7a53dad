/* The counters and histograms the loop updates and /metrics reads. */
#include "pl_metrics.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void test_histogram_buckets(void **state)
{
    (void)state;
    struct pl_metrics m;
    memset(&m, 0, sizeof(m));
    pl_metrics_store_batch(&m, 1, 400);        /* bucket 1 job, 0.5 ms */
    pl_metrics_store_batch(&m, 3, 1500);       /* 4 jobs, 2 ms */
    pl_metrics_store_batch(&m, 1000, 5000000); /* +Inf both */
    assert_int_equal(pl_metrics_get(&m.store_batch.bucket[0]), 1);
    assert_int_equal(pl_metrics_get(&m.store_batch.bucket[2]), 1);
    assert_int_equal(pl_metrics_get(&m.store_batch.bucket[PL_METRICS_BATCH_BUCKETS]), 1);
    assert_int_equal(pl_metrics_get(&m.store_batch.count), 3);
    assert_int_equal(pl_metrics_get(&m.store_batch.sum), 1004);
    assert_int_equal(pl_metrics_get(&m.store_commit.bucket[0]), 1);
    assert_int_equal(pl_metrics_get(&m.store_commit.bucket[2]), 1);
    assert_int_equal(pl_metrics_get(&m.store_commit.bucket[PL_METRICS_COMMIT_BUCKETS]),
                     1);
    pl_metrics_store_batch(NULL, 1, 1); /* no metrics: nothing, no crash */
    pl_metrics_stanza_in(NULL, PL_METRICS_IQ);
    pl_metrics_stanza_in(&m, PL_METRICS_STANZA__COUNT); /* out of range: ignored */
    pl_metrics_stanza_out(&m, PL_METRICS_MESSAGE);
    assert_int_equal(pl_metrics_get(&m.stanzas_out[PL_METRICS_MESSAGE]), 1);
}

static void *bump(void *arg)
{
    struct pl_metrics *m = arg;
    for (int i = 0; i < 100000; i++)
        pl_metrics_stanza_in(m, PL_METRICS_MESSAGE);
    return NULL;
}

/* Two writers, no lock: no count is lost. */
static void test_concurrent_adds(void **state)
{
    (void)state;
    struct pl_metrics m;
    memset(&m, 0, sizeof(m));
    pthread_t a, b;
    pthread_create(&a, NULL, bump, &m);
    pthread_create(&b, NULL, bump, &m);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    assert_int_equal(pl_metrics_get(&m.stanzas_in[PL_METRICS_MESSAGE]), 200000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_concurrent_adds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
