/* One log function for the whole server. Every line carries the connection id
 * (0 when there is none) and the JID (NULL when there is none). Tokens,
 * passwords and message bodies are never logged above PL_LOG_DEBUG. */
#ifndef PL_LOG_H
#define PL_LOG_H

#include <stdint.h>

enum pl_log_level { PL_LOG_DEBUG, PL_LOG_INFO, PL_LOG_WARN, PL_LOG_ERROR };

/* Sets the minimum level written; call before any thread starts. */
void pl_log_set_level(enum pl_log_level level);
/* Parses "debug", "info", "warn" or "error"; PL_EINVAL otherwise. */
int pl_log_parse_level(const char *name, enum pl_log_level *out);

void pl_log(enum pl_log_level level, uint64_t conn_id, const char *jid, const char *fmt,
            ...) __attribute__((format(printf, 4, 5)));

#define pl_debug(cid, jid, ...) pl_log(PL_LOG_DEBUG, (cid), (jid), __VA_ARGS__)
#define pl_info(cid, jid, ...) pl_log(PL_LOG_INFO, (cid), (jid), __VA_ARGS__)
#define pl_warn(cid, jid, ...) pl_log(PL_LOG_WARN, (cid), (jid), __VA_ARGS__)
#define pl_error(cid, jid, ...) pl_log(PL_LOG_ERROR, (cid), (jid), __VA_ARGS__)

#endif
