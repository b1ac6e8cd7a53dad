/* The stream state machine: the input is a sequence of frames separated by
 * NUL bytes, fed to a stream whose upgrade authenticated "fuzz". Frames
 * that open, authenticate and bind are in the seed corpus, so the fuzzer
 * reaches the stanza paths; stream management (XEP-0198) and CSI are
 * offered, with a registry of resumable sessions per input (a stream left
 * resumable is ended with it). */
#include "fuzz_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_stream_run(data, size, NULL, NULL);
}
