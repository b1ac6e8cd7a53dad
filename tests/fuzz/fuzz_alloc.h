/* Allocation failure injection for the *_oom harnesses: their link wraps
 * malloc, calloc, realloc, strdup and strndup (ld --wrap) for the code
 * linked statically into them, and libxml2 (a shared library, which --wrap
 * does not reach) allocates through the same countdown by xmlMemSetup,
 * set in LLVMFuzzerInitialize before any parser exists. While armed the
 * nth allocation from then on, ours or libxml2's, fails, once.
 * PARLEY_FUZZ_ALLOC_STATS=1 prints at exit how many inputs were armed and
 * how many allocations failed, ours and libxml2's. */
#ifndef PARLEY_FUZZ_ALLOC_H
#define PARLEY_FUZZ_ALLOC_H

#include <stddef.h>
#include <stdint.h>

/* Takes the first two bytes of the input (little endian) as the allocation
 * to fail (0: none) and arms; *data and *size lose those bytes. An input
 * shorter than two bytes arms nothing. */
void fuzz_alloc_arm_from(const uint8_t **data, size_t *size);
/* Arms: the nth allocation from now fails (0: none). */
void fuzz_alloc_arm(unsigned n);
/* Every allocation succeeds again. */
void fuzz_alloc_disarm(void);

#endif
