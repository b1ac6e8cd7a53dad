/* XEP-0363 on the chat side (chat_upload.c): the service in the server's
 * disco#info, a slot request checked and handed to the store, its answer
 * signed, the refusals over the size and over the quota, malformed
 * requests, and a session gone before its slot came back. */
#include "chat_fixture.h"

#include "auth_upload.h"

#define UP "urn:xmpp:http:upload:0"

static struct auth_upload_key key;

/* The fixture's server with an upload service (it has none by default). */
static struct fx *with_upload(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(auth_upload_key_init(&key, NULL, "chat-upload-secret"), PL_OK);
    fx->cs->upload_url = strdup("http://files.example:8080");
    assert_non_null(fx->cs->upload_url);
    fx->cs->upload_key = &key;
    fx->cs->upload_max = 1000;
    fx->cs->upload_quota = 5000;
    return fx;
}

static void test_disco_advertises_the_service(void **state)
{
    struct fx *fx = with_upload(state);
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    assert_int_equal(fx_send(alice,
                             "<iq type='get' id='d1' to='localhost'><query "
                             "xmlns='http://jabber.org/protocol/disco#info'/></iq>"),
                     PL_OK);
    struct xmpp_node *r = fx_next(alice, NULL);
    struct xmpp_node *q = xmpp_node_child(r, "query", XMPP_NS_DISCO_INFO);
    assert_non_null(q);
    int store = 0, feature = 0, max = 0;
    for (struct xmpp_node *c = q->children; c; c = c->next) {
        if (!c->name)
            continue;
        if (strcmp(c->name, "identity") == 0 &&
            strcmp(xmpp_node_attr(c, "category"), "store") == 0 &&
            strcmp(xmpp_node_attr(c, "type"), "file") == 0)
            store = 1;
        if (strcmp(c->name, "feature") == 0 && strcmp(xmpp_node_attr(c, "var"), UP) == 0)
            feature = 1;
        if (strcmp(c->name, "x") == 0 && strcmp(c->ns, "jabber:x:data") == 0) {
            for (struct xmpp_node *f = c->children; f; f = f->next) {
                const char *var = f->name ? xmpp_node_attr(f, "var") : NULL;
                if (var && strcmp(var, "max-file-size") == 0) {
                    char *v = xmpp_node_text(xmpp_node_child(f, "value", NULL));
                    max = atoi(v);
                    free(v);
                }
            }
        }
    }
    assert_true(store && feature);
    assert_int_equal(max, 1000);
    xmpp_node_free(r);
    /* Not on an account. */
    assert_int_equal(fx_send(alice,
                             "<iq type='get' id='d2' to='bob@localhost'><query "
                             "xmlns='http://jabber.org/protocol/disco#info'/></iq>"),
                     PL_OK);
    r = fx_next(alice, NULL);
    q = xmpp_node_child(r, "query", XMPP_NS_DISCO_INFO);
    for (struct xmpp_node *c = q->children; c; c = c->next)
        assert_false(c->name && strcmp(c->name, "x") == 0);
    xmpp_node_free(r);
}

static void test_slot_signed(void **state)
{
    struct fx *fx = with_upload(state);
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    assert_int_equal(fx_send(alice,
                             "<iq type='get' id='s1' to='localhost'><request xmlns='" UP
                             "' filename='my/pic?.png' size='640' "
                             "content-type='image/png'/></iq>"),
                     PL_OK);
    assert_int_equal(fx_unseen(alice), 0); /* the store answers first */
    char *shard = NULL;
    struct db_job *job = fx_take(fx, DB_JOB_UPLOAD_SLOT, &shard);
    assert_string_equal(shard, "alice@localhost");
    free(shard);
    struct db_upload_slot_job *j = &job->u.upload_slot;
    assert_string_equal(j->owner, "alice");
    assert_string_equal(j->name, "my_pic_.png");
    assert_string_equal(j->content_type, "image/png");
    assert_int_equal(j->size, 640);
    assert_int_equal(j->quota, 5000);
    assert_true(auth_upload_pathkey_valid(j->path_key));
    char pathkey[AUTH_UPLOAD_PATHKEY_LEN];
    snprintf(pathkey, sizeof(pathkey), "%s", j->path_key);
    j->id = 9;
    j->expires_us = INT64_C(2000000000) * 1000000;
    chat_server_complete(fx->cs, job);

    struct xmpp_node *r = fx_next(alice, NULL);
    assert_string_equal(xmpp_node_attr(r, "type"), "result");
    assert_string_equal(xmpp_node_attr(r, "id"), "s1");
    struct xmpp_node *slot = xmpp_node_child(r, "slot", UP);
    assert_non_null(slot);
    const char *put = xmpp_node_attr(xmpp_node_child(slot, "put", NULL), "url");
    const char *get = xmpp_node_attr(xmpp_node_child(slot, "get", NULL), "url");
    char want[256];
    snprintf(want, sizeof(want), "http://files.example:8080/upload/%s/my_pic_.png",
             pathkey);
    assert_string_equal(get, want);
    assert_int_equal(strncmp(put, want, strlen(want)), 0);
    const char *sig = strstr(put, "&s=");
    assert_non_null(sig);
    assert_non_null(strstr(put, "?e=2000000000&s="));
    assert_int_equal(auth_upload_verify(&key, pathkey, "my_pic_.png", 640, "image/png",
                                        2000000000, sig + 3),
                     PL_OK);
    assert_int_equal(auth_upload_verify(&key, pathkey, "my_pic_.png", 641, "image/png",
                                        2000000000, sig + 3),
                     PL_EDENIED);
    xmpp_node_free(r);
}

static int64_t max_file_size(struct xmpp_node *r)
{
    struct xmpp_node *e = xmpp_node_child(r, "error", NULL);
    assert_non_null(e);
    assert_non_null(xmpp_node_child(e, "not-acceptable", XMPP_NS_STANZAS));
    struct xmpp_node *ftl = xmpp_node_child(e, "file-too-large", UP);
    assert_non_null(ftl);
    char *v = xmpp_node_text(xmpp_node_child(ftl, "max-file-size", NULL));
    int64_t n = atoll(v);
    free(v);
    return n;
}

static void test_too_large_and_over_quota(void **state)
{
    struct fx *fx = with_upload(state);
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    assert_int_equal(fx_send(alice,
                             "<iq type='get' id='b' to='localhost'><request xmlns='" UP
                             "' filename='big.iso' size='1001'/></iq>"),
                     PL_OK);
    struct xmpp_node *r = fx_next(alice, NULL);
    assert_int_equal(max_file_size(r), 1000);
    xmpp_node_free(r);
    assert_int_equal(fx_count(fx, DB_JOB_UPLOAD_SLOT), 0);

    assert_int_equal(fx_send(alice,
                             "<iq type='get' id='q' to='localhost'><request xmlns='" UP
                             "' filename='a.bin' size='900'/></iq>"),
                     PL_OK);
    struct db_job *job = fx_take(fx, DB_JOB_UPLOAD_SLOT, NULL);
    assert_string_equal(job->u.upload_slot.content_type, "application/octet-stream");
    job->u.upload_slot.id = 0;
    job->u.upload_slot.used = 4300;
    chat_server_complete(fx->cs, job);
    r = fx_next(alice, NULL);
    assert_int_equal(max_file_size(r), 700);
    xmpp_node_free(r);
}

static void test_bad_requests(void **state)
{
    struct fx *fx = with_upload(state);
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    static const char *const bad[] = {
        "filename='x' size='0'",
        "filename='x' size='-1'",
        "filename='x' size='1e3'",
        "filename='' size='5'",
        "filename='..' size='5'",
        "size='5'",
        "filename='x'",
        "filename='x' size='5' content-type='nope'",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(fx_sendf(alice,
                                  "<iq type='get' id='x%zu' to='localhost'><request "
                                  "xmlns='" UP "' %s/></iq>",
                                  i, bad[i]),
                         PL_OK);
        fx_expect_error(alice, "iq", "modify", "bad-request");
    }
    /* A set is not how a slot is asked for. */
    assert_int_equal(fx_send(alice,
                             "<iq type='set' id='t' to='localhost'><request xmlns='" UP
                             "' filename='a' size='5'/></iq>"),
                     PL_OK);
    fx_expect_error(alice, "iq", "modify", "bad-request");
    assert_int_equal(fx_count(fx, DB_JOB_UPLOAD_SLOT), 0);
}

static void test_no_service_and_gone_session(void **state)
{
    struct fx *fx = *state; /* no upload service */
    struct fx_client *alice = fx_online(fx, "alice", "A", 0);
    assert_int_equal(fx_send(alice,
                             "<iq type='get' id='n' to='localhost'><request xmlns='" UP
                             "' filename='a' size='5'/></iq>"),
                     PL_OK);
    fx_expect_error(alice, "iq", "cancel", "feature-not-implemented");

    with_upload(state);
    assert_int_equal(fx_send(alice,
                             "<iq type='get' id='g' to='localhost'><request xmlns='" UP
                             "' filename='a' size='5'/></iq>"),
                     PL_OK);
    struct db_job *job = fx_take(fx, DB_JOB_UPLOAD_SLOT, NULL);
    fx_disconnect(alice);
    job->u.upload_slot.id = 3;
    chat_server_complete(fx->cs, job); /* nobody to answer: nothing happens */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_disco_advertises_the_service, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_slot_signed, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_too_large_and_over_quota, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_no_service_and_gone_session, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
