/* The chat server object: ops that outlive their sessions, completions
 * handed to the feature that submitted the job, written-frame tags by kind,
 * and the shared helpers. */
#include "chat_fixture.h"

static void test_tags(void **state)
{
    uint64_t t = chat_tag(CHAT_TAG_BACKLOG, 123456789);
    assert_int_equal(chat_tag_kind(t), CHAT_TAG_BACKLOG);
    assert_int_equal(chat_tag_value(t), 123456789);
    assert_int_equal(chat_tag_kind(chat_tag(CHAT_TAG_MESSAGE, 1)), CHAT_TAG_MESSAGE);
    /* The largest archive id a tag carries, and a plain number is no kind. */
    int64_t big = (INT64_C(1) << CHAT_TAG_SHIFT) - 1;
    assert_int_equal(chat_tag_value(chat_tag(CHAT_TAG_MESSAGE, big)), big);
    assert_int_equal(chat_tag_kind(42), CHAT_TAG_NONE);
    /* An unknown kind is none, not an out-of-range enum. */
    assert_int_equal(chat_tag_kind((uint64_t)0xff << CHAT_TAG_SHIFT), CHAT_TAG_NONE);
}

/* An op names its session; once that session is gone the completion finds
 * nobody, even if a new session of the same user took the resource. */
static void test_op_session_gone(void **state)
{
    struct fx *fx = *state;
    struct fx_client *a1 = fx_online(fx, "alice", "A", 0);
    struct chat_session *s1 = xmpp_stream_user(a1->s);
    struct chat_op *op = chat_op_new(fx->cs, s1);
    assert_non_null(op);
    assert_ptr_equal(chat_op_session(fx->cs, op), s1);
    struct fx_client *a2 = fx_online(fx, "alice", "A", 0); /* replaces a1 */
    assert_null(chat_op_session(fx->cs, op));
    assert_non_null(xmpp_stream_user(a2->s));
    chat_op_free(fx->cs, op);
    assert_null(chat_op_session(fx->cs, NULL));
}

/* A failed job that answers nobody is logged and freed; a store failure
 * tells the sender (nothing accepted is dropped silently). */
static void test_failed_completions(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    fx_chat(alice, "bob@localhost", "m1", "will fail");
    struct db_job *job = fx_take(fx, DB_JOB_MSG_STORE, NULL);
    job->status = PL_EIO;
    chat_server_complete(fx->cs, job);
    fx_expect_error(alice, "message", "wait", "internal-server-error");

    struct db_job *p = db_job_new(DB_JOB_PRESENCE);
    assert_non_null(p);
    p->status = PL_EIO;
    chat_server_complete(fx->cs, p);
    assert_int_equal(fx_unseen(alice), 0);
}

static void test_helpers(void **state)
{
    struct fx *fx = *state;
    char *bare = chat_bare_jid(fx->cs, "carol");
    assert_string_equal(bare, "carol@localhost");
    char *user = chat_username_of(bare);
    assert_string_equal(user, "carol");
    assert_null(chat_username_of("localhost"));
    free(bare);
    free(user);
    char stamp[40];
    chat_format_stamp(1700000000123456, stamp, sizeof(stamp));
    assert_string_equal(stamp, "2023-11-14T22:13:20.123Z");
}

static void test_free_with_jobs_out(void **state)
{
    struct fx *fx = *state;
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    fx_online(fx, "bob", "B", 0);
    fx_chat(alice, "bob@localhost", "m1", "in flight");
    fx_chat(alice, "bob@localhost", "m2", "in flight");
    assert_int_equal(fx_count(fx, DB_JOB_MSG_STORE), 2);
    /* Chat owns an op per job out, with the stanza to route. */
    assert_non_null(fx->cs->ops);
    assert_non_null(fx->cs->ops->stanza);
    assert_non_null(fx->cs->ops->next);
    assert_null(fx->cs->ops->next->next);
    /* fx_teardown frees the streams, drops the jobs, then frees chat,
     * which frees those ops (LeakSanitizer checks that nothing is left). */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tags),
        cmocka_unit_test_setup_teardown(test_op_session_gone, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_failed_completions, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_helpers, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_free_with_jobs_out, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
