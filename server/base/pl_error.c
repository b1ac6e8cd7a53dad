#include "pl_error.h"

const char *pl_strerror(int err)
{
    switch (err) {
    case PL_OK:
        return "ok";
    case PL_ENOMEM:
        return "out of memory";
    case PL_EINVAL:
        return "invalid input";
    case PL_ENOENT:
        return "not found";
    case PL_EIO:
        return "i/o error";
    case PL_ETOOBIG:
        return "too big";
    case PL_EDENIED:
        return "denied";
    case PL_EEXIST:
        return "already exists";
    case PL_ESTATE:
        return "wrong state";
    case PL_AGAIN:
        return "try again";
    }
    return "unknown error";
}
