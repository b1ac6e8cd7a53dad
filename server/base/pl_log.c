#include "pl_log.h"
#include "pl_error.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The log sink's level: set once before threads start (STYLE.md rule 7). */
static enum pl_log_level min_level = PL_LOG_INFO;

void pl_log_set_level(enum pl_log_level level)
{
    min_level = level;
}

int pl_log_parse_level(const char *name, enum pl_log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum pl_log_level)i;
            return PL_OK;
        }
    }
    return PL_EINVAL;
}

void pl_log(enum pl_log_level level, uint64_t conn_id, const char *jid, const char *fmt,
            ...)
{
    static const char *const tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < min_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    /* One fprintf per line: stdio locks the stream, so lines never interleave. */
    fprintf(stderr, "%s.%03ldZ %-5s conn=%llu jid=%s %s\n", when, ts.tv_nsec / 1000000,
            tags[level], (unsigned long long)conn_id, jid ? jid : "-", msg);
}
