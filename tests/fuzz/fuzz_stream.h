/* The stream harnesses' shared part (xmpp_stream_fuzz.c and
 * xmpp_stream_oom_fuzz.c): a stream whose upgrade authenticated "fuzz",
 * stub hooks for the chat layer (replies go through the serialiser), and a
 * run over NUL-separated frames with a registry of resumable sessions per
 * input (a stream left resumable is ended with it). */
#ifndef FUZZ_STREAM_H
#define FUZZ_STREAM_H

#include "auth_jwt.h"
#include "pl_error.h"
#include "xmpp_sm.h"
#include "xmpp_stream.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int io_write(void *ctx, struct pl_frame *frame, uint64_t tag)
{
    (void)ctx;
    (void)frame;
    (void)tag;
    return PL_OK;
}

static void io_close(void *ctx)
{
    (void)ctx;
}

static int hook_allowed(void *ctx, const char *username)
{
    (void)ctx;
    return strcmp(username, "fuzz") == 0;
}

static int hook_bind(void *ctx, struct xmpp_stream *s, const char *requested,
                     char **resource)
{
    (void)ctx;
    (void)s;
    *resource = strdup(requested ? requested : "web-fuzz");
    return *resource ? PL_OK : PL_ENOMEM;
}

static void hook_stanza(void *ctx, struct xmpp_stream *s, struct xmpp_stanza *st)
{
    (void)ctx;
    /* The chat layer sends replies: exercise the serialiser on the way. */
    xmpp_stream_send(s, st->node, 0);
    xmpp_stanza_free(st);
}

static void hook_written(void *ctx, struct xmpp_stream *s, uint64_t tag)
{
    (void)ctx;
    (void)s;
    (void)tag;
}

static void hook_closed(void *ctx, struct xmpp_stream *s)
{
    (void)ctx;
    (void)s;
}

/* One input: frames separated by NUL bytes. `arm` (may be NULL) may take
 * bytes off the front first; `disarm` runs before the stream is freed. */
static int fuzz_stream_run(const uint8_t *data, size_t size,
                           void (*arm)(const uint8_t **, size_t *), void (*disarm)(void))
{
    static struct xmpp_env env;
    static const struct xmpp_stream_io io = {io_write, io_close};
    if (!env.parser) {
        struct auth_verifier *v = NULL;
        struct auth_config ac = {.alg = "HS256", .secret = "fuzzing-secret-0123456789"};
        char err[128];
        if (xmpp_parser_new(&env.parser) != PL_OK ||
            auth_verifier_new(&ac, &v, err, sizeof(err)) != PL_OK)
            abort();
        env.domain = "localhost";
        env.max_stanza_size = 65536;
        env.verifier = v;
        env.hooks = (struct xmpp_stream_hooks){.user_allowed = hook_allowed,
                                               .bind = hook_bind,
                                               .stanza = hook_stanza,
                                               .written = hook_written,
                                               .closed = hook_closed};
    }
    static const struct xmpp_sm_config smc = {300, 1000, 5, 30, 90};
    if (xmpp_sm_registry_new(&smc, &env.sm) != PL_OK)
        abort();
    struct xmpp_stream *s = NULL;
    if (xmpp_stream_new(&env, &io, NULL, 1, "fuzz", &s) != PL_OK)
        abort();
    if (arm)
        arm(&data, &size);
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        size_t len = (size_t)((nul ? nul : end) - p);
        if (xmpp_stream_input(s, p, len) != PL_OK)
            break;
        p += len + 1;
    }
    if (disarm)
        disarm();
    xmpp_stream_free(s);
    xmpp_stream_sm_shutdown(env.sm);
    env.sm = NULL;
    return 0;
}

#endif
