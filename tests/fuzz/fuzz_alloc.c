/* See fuzz_alloc.h. The harness is single threaded while armed. */
#include "fuzz_alloc.h"

#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static unsigned countdown; /* 0: disarmed */

/* 1 if this allocation is the one to fail. */
static int fail(void)
{
    if (countdown == 0)
        return 0;
    return --countdown == 0;
}

void fuzz_alloc_arm(unsigned n)
{
    countdown = n;
}

void fuzz_alloc_disarm(void)
{
    countdown = 0;
}

void fuzz_alloc_arm_from(const uint8_t **data, size_t *size)
{
    if (*size < 2) {
        countdown = 0;
        return;
    }
    countdown = (unsigned)(*data)[0] | (unsigned)(*data)[1] << 8;
    *data += 2;
    *size -= 2;
}

void *__wrap_malloc(size_t n)
{
    return fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    return fail() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fail() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return fail() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return fail() ? NULL : __real_strndup(s, n);
}
