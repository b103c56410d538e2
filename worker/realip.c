/* The client a trusted peer names (see realip.h). */
#include "worker/realip.h"

#include <string.h>
#include <strings.h>

enum walk { WALK_ON, WALK_FOUND, WALK_STOP };

static bool
blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* One element (p, n), blanks not yet trimmed. *last is the last good address read. */
static enum walk
element(const struct cidr *trusted, int ntrusted, const char *p, size_t n,
        struct sockaddr_storage *last, bool *have)
{
    while (n > 0 && blank(p[0]))
        p++, n--;
    while (n > 0 && blank(p[n - 1]))
        n--;
    if (n == 0)
        return WALK_ON; /* "a, ,b" and a trailing comma: empty list elements are allowed */
    struct sockaddr_storage a;
    if (cidr_addr_parse(p, n, &a) < 0)
        return WALK_STOP;
    *last = a;
    *have = true;
    return cidr_match(trusted, ntrusted, (const struct sockaddr *)&a) ? WALK_ON : WALK_FOUND;
}

/* One field line, its elements from the right. */
static enum walk
line(const struct cidr *trusted, int ntrusted, const struct http_span *v,
     struct sockaddr_storage *last, bool *have)
{
    size_t end = v->n;
    for (;;) {
        size_t start = end;
        while (start > 0 && v->p[start - 1] != ',')
            start--;
        enum walk w = element(trusted, ntrusted, v->p + start, end - start, last, have);
        if (w != WALK_ON || start == 0)
            return w;
        end = start - 1; /* before the comma */
    }
}

bool
realip_pick(const struct cidr *trusted, int n, const struct http_header *h, int nh,
            const char *name, struct sockaddr_storage *out)
{
    size_t name_len = strlen(name);
    struct sockaddr_storage last;
    bool have = false;
    /* The lines of a field are one list in order: the last line holds its right-most part. */
    for (int i = nh - 1; i >= 0; i--) {
        if (h[i].name.n != name_len || strncasecmp(h[i].name.p, name, name_len) != 0)
            continue;
        if (line(trusted, n, &h[i].value, &last, &have) != WALK_ON)
            break;
    }
    if (have)
        *out = last;
    return have;
}
