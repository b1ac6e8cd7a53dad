#include "pl_frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pl_frame *pl_frame_new(const void *data, size_t len)
{
    if (len > SIZE_MAX - sizeof(struct pl_frame) - PL_FRAME_HEADROOM - 1)
        return NULL;
    struct pl_frame *f = malloc(sizeof(*f) + PL_FRAME_HEADROOM + len + 1);
    if (!f)
        return NULL;
    f->refs = 1;
    f->len = len;
    if (len)
        memcpy(f->mem + PL_FRAME_HEADROOM, data, len);
    f->mem[PL_FRAME_HEADROOM + len] = '\0';
    return f;
}

struct pl_frame *pl_frame_ref(struct pl_frame *f)
{
    f->refs++;
    return f;
}

void pl_frame_unref(struct pl_frame *f)
{
    if (f && --f->refs == 0)
        free(f);
}
