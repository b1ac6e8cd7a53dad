#include "pl_buf.h"
#include "pl_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pl_buf_reserve(struct pl_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return PL_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return PL_ENOMEM;
    b->data = p;
    b->cap = cap;
    return PL_OK;
}

int pl_buf_append(struct pl_buf *b, const void *data, size_t len)
{
    if (pl_buf_reserve(b, len) != PL_OK)
        return PL_ENOMEM;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return PL_OK;
}

int pl_buf_append_str(struct pl_buf *b, const char *s)
{
    return pl_buf_append(b, s, strlen(s));
}

int pl_buf_appendf(struct pl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return PL_EINVAL;
    if (pl_buf_reserve(b, (size_t)n) != PL_OK)
        return PL_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return PL_OK;
}

char *pl_buf_steal(struct pl_buf *b, size_t *len)
{
    if (!b->data) {
        if (pl_buf_reserve(b, 0) != PL_OK)
            return NULL;
        b->data[0] = '\0';
    }
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void pl_buf_reset(struct pl_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void pl_buf_free(struct pl_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
