/* Error codes shared by every layer: 0 is success, failures are negative.
 * PL_AGAIN means "not yet": the caller retries when told to. */
#ifndef PL_ERROR_H
#define PL_ERROR_H

enum {
    PL_OK = 0,
    PL_ENOMEM = -1,  /* allocation failed */
    PL_EINVAL = -2,  /* malformed input or argument */
    PL_ENOENT = -3,  /* no such thing */
    PL_EIO = -4,     /* I/O or system call failure */
    PL_ETOOBIG = -5, /* input over a configured limit */
    PL_EDENIED = -6, /* refused by policy or authentication */
    PL_EEXIST = -7,  /* already there */
    PL_ESTATE = -8,  /* not allowed in the current state */
    PL_AGAIN = -9,   /* not yet: try again later */
};

/* A short constant description of a PL_E* code. */
const char *pl_strerror(int err);

#endif
