/* See fuzz_alloc.h. The harness is single threaded while armed. */
#include "fuzz_alloc.h"

#include <libxml/xmlmemory.h>
#include <stdio.h>
#include <stdlib.h>
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

/* PARLEY_FUZZ_ALLOC_STATS: the inputs armed, and the allocations failed,
 * ours (the --wrap'ed calls) and libxml2's (xmlMemSetup). */
static unsigned long n_armed, n_failed_ours, n_failed_xml;

/* 1 if this allocation is the one to fail. */
static int fail(void)
{
    if (countdown == 0)
        return 0;
    return --countdown == 0;
}

static int fail_ours(void)
{
    if (!fail())
        return 0;
    n_failed_ours++;
    return 1;
}

/* libxml2's allocator: the same countdown, the real allocator (a call
 * from here to malloc would be wrapped, and counted, again). */
static int fail_xml(void)
{
    if (!fail())
        return 0;
    n_failed_xml++;
    return 1;
}

static void *xml_malloc(size_t n)
{
    return fail_xml() ? NULL : __real_malloc(n);
}

/* Not failed: libxml2 2.9.14 (Debian 12) does not survive its own
 * buffers failing to grow. A realloc failing in xmlBufGrow, under
 * xmlParserInputGrow in xmlParseDocument, is followed by a NULL read in
 * xmlParseDocument itself (corpus: libxml2-bufgrow-*; with this failing,
 * 150,000 runs of either _oom harness find it within seconds). Ours is
 * not the code to fix, so only libxml2's malloc and strdup fail. */
static void *xml_realloc(void *p, size_t n)
{
    return __real_realloc(p, n);
}

static char *xml_strdup(const char *s)
{
    return fail_xml() ? NULL : __real_strdup(s);
}

static void xml_free(void *p)
{
    free(p);
}

static void print_stats(void)
{
    fprintf(stderr,
            "fuzz_alloc: %lu inputs armed, %lu allocations failed: %lu ours, %lu "
            "libxml2's\n",
            n_armed, n_failed_ours + n_failed_xml, n_failed_ours, n_failed_xml);
}

/* libFuzzer calls this once, before any input, so before the harness's
 * first xmpp_parser_new and its xmlInitParser (which xmlMemSetup must
 * precede). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (xmlMemSetup(xml_free, xml_malloc, xml_realloc, xml_strdup) != 0)
        abort();
    const char *stats = getenv("PARLEY_FUZZ_ALLOC_STATS");
    if (stats && strcmp(stats, "1") == 0)
        atexit(print_stats);
    return 0;
}

void fuzz_alloc_arm(unsigned n)
{
    countdown = n;
    if (n)
        n_armed++;
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
    if (countdown)
        n_armed++;
    *data += 2;
    *size -= 2;
}

void *__wrap_malloc(size_t n)
{
    return fail_ours() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    return fail_ours() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fail_ours() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return fail_ours() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return fail_ours() ? NULL : __real_strndup(s, n);
}
