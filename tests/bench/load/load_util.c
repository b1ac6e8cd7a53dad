/* Clocks, tokens, /proc sampling and small string helpers for parley-load. */
#define _GNU_SOURCE
#include "load.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

uint64_t load_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* base64url without padding (RFC 7515 §2); OpenSSL's encoder writes the
 * standard alphabet, translated here. */
static size_t b64url(const unsigned char *in, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    for (int i = 0; i < len; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    out[len] = '\0';
    return (size_t)len;
}

int load_token_make(const struct load_opts *o, const char *user, char *out, size_t cap)
{
    char payload[512];
    long now = (long)time(NULL);
    int n = snprintf(payload, sizeof payload,
                     "{\"sub\":\"%s\",\"iat\":%ld,\"exp\":%ld%s%s%s%s%s%s}", user, now,
                     now + 6 * 3600, o->issuer ? ",\"iss\":\"" : "",
                     o->issuer ? o->issuer : "", o->issuer ? "\"" : "",
                     o->audience ? ",\"aud\":\"" : "", o->audience ? o->audience : "",
                     o->audience ? "\"" : "");
    if (n < 0 || (size_t)n >= sizeof payload)
        return -1;
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char input[1024];
    size_t len = b64url((const unsigned char *)header, sizeof header - 1, input);
    input[len++] = '.';
    len += b64url((const unsigned char *)payload, (size_t)n, input + len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), o->secret, (int)strlen(o->secret), (unsigned char *)input,
              len, mac, &maclen))
        return -1;
    char sig[128];
    size_t slen = b64url(mac, maclen, sig);
    if (len + 1 + slen + 1 > cap)
        return -1;
    memcpy(out, input, len);
    out[len] = '.';
    memcpy(out + len + 1, sig, slen + 1);
    return 0;
}

long load_proc_rss_kb(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* utime + stime of /proc/PID/stat in ms, and the parent pid through `ppid`.
 * The command name may hold spaces: fields are counted after its ')'. */
static long stat_cpu_ms(const char *pid, long *ppid)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *p = strrchr(text, ')');
    if (!p)
        return -1;
    p += 2;
    long field[16] = {0};
    /* fields after ')': state(0) ppid(1) ... utime(11) stime(12) */
    for (int i = 0; i < 13 && *p; i++) {
        field[i] = i == 0 ? 0 : strtol(p, NULL, 10);
        p = strchr(p, ' ');
        if (!p)
            break;
        p++;
    }
    if (ppid)
        *ppid = field[1];
    long hz = sysconf(_SC_CLK_TCK);
    return (field[11] + field[12]) * 1000 / (hz > 0 ? hz : 100);
}

long load_proc_cpu_ms(pid_t pid)
{
    if (pid <= 0)
        return -1;
    char s[24];
    snprintf(s, sizeof s, "%d", (int)pid);
    return stat_cpu_ms(s, NULL);
}

long load_proc_tree_cpu_ms(pid_t parent)
{
    if (parent <= 0)
        return -1;
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    long total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        long ppid = 0;
        long ms = stat_cpu_ms(e->d_name, &ppid);
        if (ms < 0)
            continue;
        if (atol(e->d_name) == parent || ppid == parent)
            total += ms;
    }
    closedir(d);
    return total;
}

long load_self_cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

void load_buf_put(struct load_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            perror("parley-load: realloc");
            exit(2);
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void load_buf_consume(struct load_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void load_buf_free(struct load_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

const char *load_find(const char *f, size_t n, const char *needle)
{
    return memmem(f, n, needle, strlen(needle));
}

/* The value of attribute `name` (quoted either way) in the first element of
 * frame `f`, copied NUL-terminated into `out`; 0 when found. */
int load_attr(const char *f, size_t n, const char *name, char *out, size_t cap)
{
    const char *end = memchr(f, '>', n);
    size_t lim = end ? (size_t)(end - f) : n;
    size_t nl = strlen(name);
    for (size_t i = 1; i + nl + 2 < lim; i++) {
        if (f[i - 1] != ' ' || memcmp(f + i, name, nl) != 0 || f[i + nl] != '=')
            continue;
        char q = f[i + nl + 1];
        if (q != '\'' && q != '"')
            continue;
        const char *v = f + i + nl + 2;
        const char *ve = memchr(v, q, lim - (size_t)(v - f));
        if (!ve || (size_t)(ve - v) >= cap)
            return -1;
        memcpy(out, v, (size_t)(ve - v));
        out[ve - v] = '\0';
        return 0;
    }
    return -1;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The p-th percentile (nearest rank) of v[0..n), which it sorts. */
uint32_t load_percentile_us(uint32_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_u32);
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}
