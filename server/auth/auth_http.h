/* Where an HTTP request carries its JWT: the `auth_token` cookie (browsers,
 * which cannot set headers on a WebSocket) or "Authorization: Bearer"
 * (other clients). Shared by the WebSocket upgrade and the admin API. */
#ifndef AUTH_HTTP_H
#define AUTH_HTTP_H

#include "auth_jwt.h"

/* The cookie that carries the token. */
#define AUTH_HTTP_COOKIE "auth_token"
/* Room for the largest token auth_verify accepts in each header, so a
 * transport can size its request buffer: "Bearer " and white space around
 * it; the cookie beside the site's other cookies. */
#define AUTH_HTTP_AUTHORIZATION_MAX (AUTH_TOKEN_MAX + 64)
#define AUTH_HTTP_COOKIE_MAX (AUTH_TOKEN_MAX + 2048)

/* The token of a request: the auth_token cookie's value from the Cookie
 * header (RFC 6265 syntax, "a=b; auth_token=XYZ", optionally in double
 * quotes) or, if there is none, the credentials of an Authorization header
 * with the Bearer scheme (RFC 6750 section 2.1, scheme case-insensitive).
 * Either header may be NULL. On PL_OK *token is a new string the caller
 * frees (after wiping it: it is a credential); PL_ENOENT when neither
 * header carries one; PL_ENOMEM. */
int auth_token_from_headers(const char *cookie_header, const char *authorization_header,
                            char **token);

#endif
