#include "pl_config.h"
#include "pl_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static void clear_env(void)
{
    const char *names[] = {"DATABASE_URL",         "PARLEY_DOMAIN",
                           "PARLEY_MUC_DOMAIN",    "PARLEY_XMPP_ADDR",
                           "PARLEY_JWT_SECRET",    "PARLEY_MAX_STANZA_SIZE",
                           "PARLEY_STORE_WORKERS", "PARLEY_AUTH_TIMEOUT"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unsetenv(names[i]);
}

static void test_defaults(void **state)
{
    clear_env();
    struct pl_config cfg;
    char err[256];
    assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_OK);
    assert_string_equal(cfg.domain, "localhost");
    assert_string_equal(cfg.muc_domain, "conference.localhost");
    assert_string_equal(cfg.xmpp_host, "127.0.0.1");
    assert_int_equal(cfg.xmpp_port, 5280);
    assert_int_equal(cfg.api_port, 8080);
    assert_int_equal(cfg.max_stanza_size, 65536);
    assert_int_equal(cfg.auth_timeout, 10);
    assert_null(cfg.jwt_secret);
    assert_string_equal(cfg.jwt_alg, "HS256");
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    char node[300];
    snprintf(node, sizeof(node), "%s:5280", host);
    assert_string_equal(cfg.node_name, node);
    pl_config_free(&cfg);
}

static void test_file_then_env(void **state)
{
    clear_env();
    char path[] = "/tmp/parley-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# a comment\n"
                       "PARLEY_DOMAIN = chat.example\n"
                       "PARLEY_XMPP_ADDR = \"[::1]:7000\"\n"
                       "PARLEY_JWT_SECRET = from-file\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    setenv("PARLEY_JWT_SECRET", "from-env", 1);
    struct pl_config cfg;
    char err[256];
    assert_int_equal(pl_config_load(&cfg, path, err, sizeof(err)), PL_OK);
    assert_string_equal(cfg.domain, "chat.example");
    assert_string_equal(cfg.muc_domain, "conference.chat.example");
    assert_string_equal(cfg.xmpp_host, "::1");
    assert_int_equal(cfg.xmpp_port, 7000);
    assert_string_equal(cfg.jwt_secret, "from-env");
    pl_config_free(&cfg);
    unlink(path);
    clear_env();
}

static void test_rejects(void **state)
{
    clear_env();
    struct pl_config cfg;
    char err[256];
    setenv("PARLEY_XMPP_ADDR", "nope", 1);
    assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_EINVAL);
    assert_non_null(strstr(err, "PARLEY_XMPP_ADDR"));
    clear_env();
    setenv("PARLEY_MAX_STANZA_SIZE", "-5", 1);
    assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_EINVAL);
    clear_env();

    char path[] = "/tmp/parley-config-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "PARLEY_DOMIAN = typo\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(pl_config_load(&cfg, path, err, sizeof(err)), PL_EINVAL);
    assert_non_null(strstr(err, "PARLEY_DOMIAN"));
    unlink(path);
    assert_int_equal(pl_config_load(&cfg, "/nonexistent/parley.conf", err, sizeof(err)),
                     PL_EIO);
}

static void test_auth_timeout(void **state)
{
    clear_env();
    struct pl_config cfg;
    char err[256];
    setenv("PARLEY_AUTH_TIMEOUT", "3", 1);
    assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_OK);
    assert_int_equal(cfg.auth_timeout, 3);
    pl_config_free(&cfg);
    const char *bad[] = {"0", "-1", "3601", "ten", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("PARLEY_AUTH_TIMEOUT", bad[i], 1);
        if (pl_config_load(&cfg, NULL, err, sizeof(err)) != PL_EINVAL)
            fail_msg("PARLEY_AUTH_TIMEOUT=%s accepted", bad[i]);
        assert_non_null(strstr(err, "PARLEY_AUTH_TIMEOUT"));
    }
    clear_env();
}

/* The presence settings: defaults, the file, the environment, bad values. */
static void test_presence_settings(void **state)
{
    const char *names[] = {"PARLEY_MAX_SESSIONS_PER_USER", "PARLEY_MAX_ROSTER_ITEMS",
                           "PARLEY_TEAM_ROSTER"};
    for (size_t i = 0; i < 3; i++)
        unsetenv(names[i]);
    clear_env();
    struct pl_config cfg;
    char err[256];
    assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_OK);
    assert_int_equal(cfg.max_sessions_per_user, 10);
    assert_int_equal(cfg.max_roster_items, 1000);
    assert_int_equal(cfg.team_roster, 0);
    pl_config_free(&cfg);

    char path[] = "/tmp/parley-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "PARLEY_MAX_SESSIONS_PER_USER = 3\n"
                       "PARLEY_MAX_ROSTER_ITEMS = 50\n"
                       "PARLEY_TEAM_ROSTER = true\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    setenv("PARLEY_MAX_ROSTER_ITEMS", "70", 1);
    assert_int_equal(pl_config_load(&cfg, path, err, sizeof(err)), PL_OK);
    assert_int_equal(cfg.max_sessions_per_user, 3);
    assert_int_equal(cfg.max_roster_items, 70);
    assert_int_equal(cfg.team_roster, 1);
    pl_config_free(&cfg);
    unlink(path);

    const char *bad[][2] = {{"PARLEY_MAX_SESSIONS_PER_USER", "0"},
                            {"PARLEY_MAX_SESSIONS_PER_USER", "-1"},
                            {"PARLEY_MAX_ROSTER_ITEMS", "lots"},
                            {"PARLEY_MAX_ROSTER_ITEMS", "2000000"},
                            {"PARLEY_TEAM_ROSTER", "maybe"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        for (size_t j = 0; j < 3; j++)
            unsetenv(names[j]);
        setenv(bad[i][0], bad[i][1], 1);
        assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_EINVAL);
        assert_non_null(strstr(err, bad[i][0]));
    }
    for (size_t i = 0; i < 3; i++)
        unsetenv(names[i]);
}

/* The rooms' and the archive's settings: defaults, values, bounds. */
static void test_rooms_and_archive(void **state)
{
    const char *names[] = {"PARLEY_ROOM_CREATION", "PARLEY_ROOM_CATCHUP_MAX",
                           "PARLEY_MAM_MAX_PAGE"};
    clear_env();
    for (size_t i = 0; i < 3; i++)
        unsetenv(names[i]);
    struct pl_config cfg;
    char err[256];
    assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_OK);
    assert_int_equal(cfg.room_creation_admins, 0);
    assert_int_equal(cfg.room_catchup_max, 1000);
    assert_int_equal(cfg.mam_max_page, 250);
    pl_config_free(&cfg);
    setenv("PARLEY_ROOM_CREATION", "admins", 1);
    setenv("PARLEY_ROOM_CATCHUP_MAX", "30", 1);
    setenv("PARLEY_MAM_MAX_PAGE", "1000", 1);
    assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_OK);
    assert_int_equal(cfg.room_creation_admins, 1);
    assert_int_equal(cfg.room_catchup_max, 30);
    assert_int_equal(cfg.mam_max_page, 1000);
    pl_config_free(&cfg);
    const char *bad[][2] = {{"PARLEY_ROOM_CREATION", "owners"},
                            {"PARLEY_ROOM_CATCHUP_MAX", "0"},
                            {"PARLEY_ROOM_CATCHUP_MAX", "10001"},
                            {"PARLEY_MAM_MAX_PAGE", "1001"},
                            {"PARLEY_MAM_MAX_PAGE", "ten"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (size_t k = 0; k < 3; k++)
            unsetenv(names[k]);
        setenv(bad[i][0], bad[i][1], 1);
        assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_EINVAL);
        assert_non_null(strstr(err, bad[i][0]));
    }
    for (size_t i = 0; i < 3; i++)
        unsetenv(names[i]);
}

/* XEP-0198's settings: defaults, values (0 turns a request rule off),
 * bounds. */
static void test_stream_management(void **state)
{
    const char *names[] = {"PARLEY_SM_RESUME_TIMEOUT", "PARLEY_SM_MAX_UNACKED",
                           "PARLEY_SM_REQUEST_EVERY", "PARLEY_SM_REQUEST_SECS"};
    clear_env();
    for (size_t i = 0; i < 4; i++)
        unsetenv(names[i]);
    struct pl_config cfg;
    char err[256];
    assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_OK);
    assert_int_equal(cfg.sm_resume_timeout, 300);
    assert_int_equal(cfg.sm_max_unacked, 1000);
    assert_int_equal(cfg.sm_request_every, 5);
    assert_int_equal(cfg.sm_request_secs, 30);
    pl_config_free(&cfg);
    setenv("PARLEY_SM_RESUME_TIMEOUT", "60", 1);
    setenv("PARLEY_SM_MAX_UNACKED", "50", 1);
    setenv("PARLEY_SM_REQUEST_EVERY", "0", 1);
    setenv("PARLEY_SM_REQUEST_SECS", "0", 1);
    assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_OK);
    assert_int_equal(cfg.sm_resume_timeout, 60);
    assert_int_equal(cfg.sm_max_unacked, 50);
    assert_int_equal(cfg.sm_request_every, 0);
    assert_int_equal(cfg.sm_request_secs, 0);
    pl_config_free(&cfg);
    const char *bad[][2] = {{"PARLEY_SM_RESUME_TIMEOUT", "0"},
                            {"PARLEY_SM_MAX_UNACKED", "0"},
                            {"PARLEY_SM_MAX_UNACKED", "many"},
                            {"PARLEY_SM_REQUEST_EVERY", "-1"},
                            {"PARLEY_SM_REQUEST_SECS", "2000000"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        for (size_t j = 0; j < 4; j++)
            unsetenv(names[j]);
        setenv(bad[i][0], bad[i][1], 1);
        assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_EINVAL);
        assert_non_null(strstr(err, bad[i][0]));
    }
    for (size_t i = 0; i < 4; i++)
        unsetenv(names[i]);
}

static void test_addr_and_loopback(void **state)
{
    char *host = NULL;
    int port = 0;
    assert_int_equal(pl_config_split_addr("0.0.0.0:5280", &host, &port), PL_OK);
    assert_string_equal(host, "0.0.0.0");
    assert_int_equal(port, 5280);
    free(host);
    assert_int_equal(pl_config_split_addr(":80", &host, &port), PL_EINVAL);
    assert_int_equal(pl_config_split_addr("host:99999", &host, &port), PL_EINVAL);
    assert_true(pl_config_is_loopback("127.0.0.1"));
    assert_true(pl_config_is_loopback("localhost"));
    assert_true(pl_config_is_loopback("::1"));
    assert_false(pl_config_is_loopback("0.0.0.0"));
    assert_false(pl_config_is_loopback("10.0.0.1"));
}

static void test_upload_settings(void **state)
{
    const char *names[] = {"PARLEY_UPLOAD",           "PARLEY_UPLOAD_DIR",
                           "PARLEY_UPLOAD_MAX_BYTES", "PARLEY_UPLOAD_QUOTA_BYTES",
                           "PARLEY_UPLOAD_SLOT_TTL",  "PARLEY_UPLOAD_URL",
                           "PARLEY_UPLOAD_SECRET"};
    const size_t n = sizeof(names) / sizeof(names[0]);
    for (size_t i = 0; i < n; i++)
        unsetenv(names[i]);
    struct pl_config cfg;
    char err[256];
    assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_OK);
    assert_int_equal(cfg.upload_enabled, 1);
    assert_string_equal(cfg.upload_dir, ".local/uploads");
    assert_true(cfg.upload_max == 50LL * 1024 * 1024);
    assert_true(cfg.upload_quota == 1LL << 30);
    assert_int_equal(cfg.upload_ttl, 300);
    assert_null(cfg.upload_url);
    assert_null(cfg.upload_secret);
    pl_config_free(&cfg);

    setenv("PARLEY_UPLOAD", "0", 1);
    setenv("PARLEY_UPLOAD_DIR", "/srv/files", 1);
    setenv("PARLEY_UPLOAD_MAX_BYTES", "1000", 1);
    setenv("PARLEY_UPLOAD_QUOTA_BYTES", "5000", 1);
    setenv("PARLEY_UPLOAD_SLOT_TTL", "60", 1);
    setenv("PARLEY_UPLOAD_URL", "https://chat.example.org", 1);
    setenv("PARLEY_UPLOAD_SECRET", "s3cret", 1);
    assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_OK);
    assert_int_equal(cfg.upload_enabled, 0);
    assert_string_equal(cfg.upload_dir, "/srv/files");
    assert_true(cfg.upload_max == 1000);
    assert_true(cfg.upload_quota == 5000);
    assert_int_equal(cfg.upload_ttl, 60);
    assert_string_equal(cfg.upload_url, "https://chat.example.org");
    assert_string_equal(cfg.upload_secret, "s3cret");
    pl_config_free(&cfg);

    const char *bad[][2] = {{"PARLEY_UPLOAD", "maybe"},
                            {"PARLEY_UPLOAD_MAX_BYTES", "0"},
                            {"PARLEY_UPLOAD_MAX_BYTES", "-1"},
                            {"PARLEY_UPLOAD_QUOTA_BYTES", "lots"},
                            {"PARLEY_UPLOAD_SLOT_TTL", "86401"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (size_t k = 0; k < n; k++)
            unsetenv(names[k]);
        setenv(bad[i][0], bad[i][1], 1);
        assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_EINVAL);
        assert_non_null(strstr(err, bad[i][0]));
    }
    for (size_t i = 0; i < n; i++)
        unsetenv(names[i]);
}

static void test_limits(void **state)
{
    (void)state;
    clear_env();
    const char *names[] = {"PARLEY_LIMIT_PENDING_PER_IP", "PARLEY_LIMIT_CONNECT_RATE",
                           "PARLEY_LIMIT_SESSION_BYTES", "PARLEY_UPGRADE_TIMEOUT",
                           "PARLEY_LIMIT_OFFLINE_QUEUE"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unsetenv(names[i]);
    struct pl_config cfg;
    char err[256];
    assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_OK);
    assert_int_equal(cfg.limit_pending_per_ip, 20);
    assert_int_equal(cfg.limit_connect_rate, 20);
    assert_int_equal(cfg.limit_connect_burst, 200);
    assert_int_equal(cfg.limit_auth_failures, 5);
    assert_int_equal(cfg.limit_offline_queue, 10000);
    assert_int_equal(cfg.limit_session_bytes, 64 * 1024);
    assert_int_equal(cfg.upgrade_timeout, 10);
    assert_int_equal(cfg.limit_api_rate, 50);
    assert_int_equal(cfg.session_expiry_close, 0);
    pl_config_free(&cfg);
    setenv("PARLEY_SESSION_EXPIRY", "close", 1);
    assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_OK);
    assert_int_equal(cfg.session_expiry_close, 1);
    pl_config_free(&cfg);
    setenv("PARLEY_SESSION_EXPIRY", "drop", 1);
    assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_EINVAL);
    unsetenv("PARLEY_SESSION_EXPIRY");
    /* 0 turns a limit off (unlike the other counts, which refuse 0). */
    setenv("PARLEY_LIMIT_PENDING_PER_IP", "0", 1);
    setenv("PARLEY_LIMIT_SESSION_BYTES", "0", 1);
    setenv("PARLEY_LIMIT_OFFLINE_QUEUE", "7", 1);
    assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_OK);
    assert_int_equal(cfg.limit_pending_per_ip, 0);
    assert_int_equal(cfg.limit_session_bytes, 0);
    assert_int_equal(cfg.limit_offline_queue, 7);
    pl_config_free(&cfg);
    const char *bad[][2] = {{"PARLEY_LIMIT_CONNECT_RATE", "-1"},
                            {"PARLEY_LIMIT_CONNECT_RATE", "ten"},
                            {"PARLEY_LIMIT_CONNECT_RATE", ""},
                            {"PARLEY_UPGRADE_TIMEOUT", "0"},
                            {"PARLEY_UPGRADE_TIMEOUT", "99999"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (size_t j = 0; j < sizeof(names) / sizeof(names[0]); j++)
            unsetenv(names[j]);
        setenv(bad[i][0], bad[i][1], 1);
        assert_int_equal(pl_config_load(&cfg, NULL, err, sizeof(err)), PL_EINVAL);
        assert_non_null(strstr(err, bad[i][0]));
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unsetenv(names[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_then_env),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_auth_timeout),
        cmocka_unit_test(test_addr_and_loopback),
        cmocka_unit_test(test_stream_management),
        cmocka_unit_test(test_presence_settings),
        cmocka_unit_test(test_rooms_and_archive),
        cmocka_unit_test(test_upload_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
