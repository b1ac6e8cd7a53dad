/* The stream state machine with an allocation failing: the first two bytes
 * name it (fuzz_alloc.h), the rest is as in xmpp_stream_fuzz.c (frames
 * separated by NUL bytes, to a stream whose upgrade authenticated "fuzz").
 * A failure must end in an error or a closed stream: no crash, no leak. */
#include "fuzz_alloc.h"
#include "fuzz_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_stream_run(data, size, fuzz_alloc_arm_from, fuzz_alloc_disarm);
}
