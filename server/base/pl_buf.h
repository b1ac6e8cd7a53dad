/* A growable byte buffer, always NUL-terminated so it can be used as a string. */
#ifndef PL_BUF_H
#define PL_BUF_H

#include <stddef.h>

struct pl_buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
};

#define PL_BUF_INIT                                                                      \
    {                                                                                    \
        NULL, 0, 0                                                                       \
    }

/* Makes room for `extra` more bytes plus the terminator. */
int pl_buf_reserve(struct pl_buf *b, size_t extra);
int pl_buf_append(struct pl_buf *b, const void *data, size_t len);
int pl_buf_append_str(struct pl_buf *b, const char *s);
int pl_buf_appendf(struct pl_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Hands the bytes to the caller (who frees them) and empties the buffer. */
char *pl_buf_steal(struct pl_buf *b, size_t *len);
void pl_buf_reset(struct pl_buf *b);
void pl_buf_free(struct pl_buf *b);

#endif
