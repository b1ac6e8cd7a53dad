/* The admin API's token: the credentials of an `Authorization: Bearer`
 * header (RFC 6750 section 2.1). Only that header: the admin API never
 * takes the auth_token cookie, so no cross-site request rides on it. */
#ifndef AUTH_BEARER_H
#define AUTH_BEARER_H

/* The token of "Bearer X" (scheme case-insensitive, spaces around it
 * allowed), newly allocated in *token (the caller frees it). PL_ENOENT
 * when the header is NULL, of another scheme, or has empty credentials;
 * PL_ENOMEM. Nothing is logged: the value is a credential. */
int auth_bearer_token(const char *authorization, char **token);

#endif
