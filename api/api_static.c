/* The web admin's files at / (web-admin/, and uPlot's built files from
 * node_modules at /vendor/uplot/). Only GET and HEAD, only paths that
 * api_path_parse accepted (no dot segments, no encoded separators), only
 * file names of the extensions below, and only regular files whose real
 * path (symbolic links resolved) lies inside the folder they are served
 * from: no spelling of a path reads anything else. The pages are public
 * (they hold no data); every datum they show comes from /api/v1 with the
 * token. */
#include "api_internal.h"

#include "pl_error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files over this are not ours: the folder holds small modules. */
#define API_STATIC_MAX (4 * 1024 * 1024)

/* No inline script or style element, nothing from another origin; the
 * page talks only to this API. uPlot sets element styles from script,
 * which style-src does not govern. */
static const char api_static_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

static const struct {
    const char *ext;
    const char *type;
} api_static_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".json", "application/json"},
};

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return NULL;
    for (size_t i = 0; i < sizeof(api_static_types) / sizeof(api_static_types[0]); i++)
        if (strcmp(dot, api_static_types[i].ext) == 0)
            return api_static_types[i].type;
    return NULL;
}

/* Reads root/rel into rep if it is a regular file inside root. */
static int serve_file(const char *root, const char *rel, const char *if_none_match,
                      struct api_reply *rep)
{
    const char *type = type_of(rel);
    if (!type)
        return PL_ENOENT;
    char want[PATH_MAX], real_root[PATH_MAX], real[PATH_MAX];
    if (snprintf(want, sizeof(want), "%s/%s", root, rel) >= (int)sizeof(want))
        return PL_ENOENT;
    if (!realpath(root, real_root) || !realpath(want, real))
        return PL_ENOENT;
    size_t n = strlen(real_root);
    if (strncmp(real, real_root, n) != 0 || real[n] != '/')
        return PL_ENOENT;
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return PL_ENOENT;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > API_STATIC_MAX) {
        close(fd);
        return PL_ENOENT;
    }
    snprintf(rep->etag, sizeof(rep->etag), "\"%llx-%llx\"",
             (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st.st_mtim.tv_nsec);
    rep->status = 200;
    rep->content_type = type;
    rep->csp = api_static_csp;
    /* Revalidated every time (a 304 when unchanged): an upgrade is seen at
     * the next load, never a page from one build with modules of another. */
    rep->cache_control = "no-cache";
    if (if_none_match && strcmp(if_none_match, rep->etag) == 0) {
        close(fd);
        rep->status = 304;
        return PL_OK;
    }
    size_t size = (size_t)st.st_size;
    char *body = malloc(size ? size : 1);
    size_t got = 0;
    while (body && got < size) {
        ssize_t r = read(fd, body + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!body || got != size) {
        free(body);
        /* Untouched, as the caller expects of a failure: a problem goes
         * out without this file's headers. */
        rep->status = 0;
        rep->content_type = NULL;
        rep->csp = NULL;
        rep->cache_control = NULL;
        rep->etag[0] = '\0';
        return PL_EIO;
    }
    rep->body = body;
    rep->len = size;
    return PL_OK;
}

int api_static_reply(const char *web_dir, const char *modules_dir,
                     const struct api_path *path, const char *if_none_match,
                     struct api_reply *rep)
{
    if (!web_dir)
        return PL_ENOENT;
    if (path->nsegs == 0)
        return serve_file(web_dir, "index.html", if_none_match, rep);
    if (strcmp(path->segs[0], "api") == 0)
        return PL_ENOENT; /* the API's own 404s stay problem documents */
    char rel[PATH_MAX];
    size_t used = 0;
    size_t first = 0;
    const char *root = web_dir;
    char vendor[PATH_MAX];
    if (strcmp(path->segs[0], "vendor") == 0) {
        if (!modules_dir || path->nsegs < 3 || strcmp(path->segs[1], "uplot") != 0)
            return PL_ENOENT;
        if (snprintf(vendor, sizeof(vendor), "%s/uplot/dist", modules_dir) >=
            (int)sizeof(vendor))
            return PL_ENOENT;
        root = vendor;
        first = 2;
    }
    for (size_t i = first; i < path->nsegs; i++) {
        const char *s = path->segs[i];
        /* Hidden files (".git", editors' swap files) are not served. */
        if (s[0] == '.' || strchr(s, '/'))
            return PL_ENOENT;
        int w = snprintf(rel + used, sizeof(rel) - used, "%s%s", i > first ? "/" : "", s);
        if (w < 0 || (size_t)w >= sizeof(rel) - used)
            return PL_ENOENT;
        used += (size_t)w;
    }
    return serve_file(root, rel, if_none_match, rep);
}
