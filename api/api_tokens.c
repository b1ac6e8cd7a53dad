/* The admin tokens verified lately, so that a dashboard or a monitor asking
 * every second does not have libjwt check the same signature each time
 * (HMAC or RSA, and the claims parsed with jansson: about a quarter of a
 * request's CPU in a profile of GET /api/v1/sessions).
 *
 * A token is kept, with its subject, only once auth_verify has accepted it
 * with "role": "admin", and only until its `exp` (without the verifier's
 * leeway: past `exp` the verifier decides again). The cache is a few slots
 * replaced in turn, under one lock held for a few compares; tokens are
 * compared whole, in constant time for tokens of one length. */
#include "api_internal.h"

#include "pl_error.h"

#include <stdlib.h>
#include <string.h>

int api_same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

void api_token_cache_init(struct api_token_cache *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
}

static void slot_clear(struct api_token_slot *s)
{
    if (s->token)
        explicit_bzero(s->token, strlen(s->token));
    free(s->token);
    free(s->actor);
    memset(s, 0, sizeof(*s));
}

void api_token_cache_free(struct api_token_cache *c)
{
    for (size_t i = 0; i < API_TOKEN_CACHE_SLOTS; i++)
        slot_clear(&c->slot[i]);
    pthread_mutex_destroy(&c->lock);
}

int api_token_cache_get(struct api_token_cache *c, const char *token, long now,
                        char **actor)
{
    *actor = NULL;
    int rc = PL_ENOENT;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < API_TOKEN_CACHE_SLOTS; i++) {
        struct api_token_slot *s = &c->slot[i];
        if (!s->token || !api_same_secret(token, s->token))
            continue;
        if (now >= s->expires) {
            slot_clear(s); /* expired: the verifier says why */
            break;
        }
        *actor = strdup(s->actor);
        rc = *actor ? PL_OK : PL_ENOMEM;
        break;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void api_token_cache_put(struct api_token_cache *c, const char *token, long expires,
                         const char *actor)
{
    char *t = strdup(token), *a = strdup(actor);
    if (!t || !a) {
        free(t);
        free(a);
        return; /* not cached: verified again next time */
    }
    pthread_mutex_lock(&c->lock);
    /* Two threads may verify one token at once: it takes one slot. */
    struct api_token_slot *s = NULL;
    for (size_t i = 0; i < API_TOKEN_CACHE_SLOTS && !s; i++)
        if (c->slot[i].token && strcmp(c->slot[i].token, token) == 0)
            s = &c->slot[i];
    if (!s) {
        s = &c->slot[c->next];
        c->next = (c->next + 1) % API_TOKEN_CACHE_SLOTS;
    }
    slot_clear(s);
    s->token = t;
    s->actor = a;
    s->expires = expires;
    pthread_mutex_unlock(&c->lock);
}
