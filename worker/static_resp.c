/* The static-file route handler: precompressed variants, validators and conditional requests
 * (RFC 9110 13), ranges (RFC 9110 14), directory listings, and the header block. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/ev.h"
#include "worker/httpdate.h"
#include "worker/ofc.h"
#include "worker/path.h"
#include "worker/range.h"
#include "worker/req_internal.h"
#include "worker/resp.h"
#include "worker/route.h"
#include "worker/static.h"

static int root_fd = -1;      /* the document root, opened by the worker */
static const struct cfg *cfg; /* the worker's configuration */

void
static_resp_init(int root, const struct cfg *config)
{
    root_fd = root;
    cfg = config;
    static_init(root);
}

/* What the handler knows about the representation it is about to send: an open file cache
 * entry (one reference held) and the content coding of a precompressed variant. */
struct rep {
    struct ofc_entry *e;
    const char *encoding; /* "gzip", "br" or NULL */
};

/* The entry for `key`: from the cache, or opened now (by `open`) and put in it. Misses are
 * entries too (status 404 or 403). Returns NULL with *status for what is not cached: a
 * directory (301, or a listing in *dir) and server-side failures (500, 503). */
static struct ofc_entry *
lookup(const char *key, const char *rel, const char *suffix, int *status, struct static_file *dir)
{
    struct ofc_entry *e = ofc_get(key, ev_now());
    struct static_file f;
    if (e)
        return e;
    if (suffix)
        *status = static_open_variant(root_fd, cfg, rel, suffix, &f) == 0 ? 200 : 404;
    else
        *status = static_open(root_fd, cfg, rel, &f);
    if (*status == 200 && f.is_dir) {
        *dir = f;
        return NULL;
    }
    if (*status == 200)
        e = ofc_put(key, 200, f.fd, &f.st, f.name, ev_now());
    else if (*status == 404 || *status == 403)
        e = ofc_put(key, *status, -1, NULL, rel, ev_now());
    if (e == NULL && (*status == 200 || *status == 404 || *status == 403))
        *status = 503;
    return e;
}

/* Walk a comma-separated list; calls `each` on every trimmed element until it returns true. */
static bool
list_any(const struct http_span *v, bool (*each)(const char *p, size_t n, const void *arg),
         const void *arg)
{
    const char *s = v->p, *end = v->p + v->n;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        const char *t = e;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (t > s && each(s, (size_t)(t - s), arg))
            return true;
        s = e + 1;
    }
    return false;
}

/* If-None-Match: weak comparison, "*" matches any current representation. */
static bool
etag_weak_eq(const char *p, size_t n, const void *arg)
{
    const char *ours = arg;
    if (n == 1 && p[0] == '*')
        return true;
    if (n > 2 && p[0] == 'W' && p[1] == '/') {
        p += 2;
        n -= 2;
    }
    return n == strlen(ours) && memcmp(p, ours, n) == 0;
}

/* If-Match: strong comparison (a weak tag never matches). */
static bool
etag_strong_eq(const char *p, size_t n, const void *arg)
{
    const char *ours = arg;
    if (n == 1 && p[0] == '*')
        return true;
    return n == strlen(ours) && memcmp(p, ours, n) == 0;
}

static bool
date_header(const struct http_req *req, enum http_known name, time_t *t)
{
    const struct http_span *v = http_header_known(req, name);
    return v && httpdate_parse(v->p, v->n, t) == 0;
}

/* RFC 9110 13.2.2: the order in which preconditions are evaluated. Returns 0 (go on), 304 or
 * 412. */
static int
preconditions(const struct http_req *req, const struct rep *r)
{
    const struct http_span *im = http_header_known(req, HH_IF_MATCH);
    const struct http_span *inm = http_header_known(req, HH_IF_NONE_MATCH);
    time_t t;
    bool get_or_head = req->verb == VERB_GET || req->verb == VERB_HEAD;

    if (im) {
        if (!list_any(im, etag_strong_eq, r->e->etag))
            return 412;
    } else if (date_header(req, HH_IF_UNMODIFIED_SINCE, &t) && r->e->mtime.tv_sec > t) {
        return 412;
    }
    if (inm) {
        if (list_any(inm, etag_weak_eq, r->e->etag))
            return get_or_head ? 304 : 412;
    } else if (get_or_head && date_header(req, HH_IF_MODIFIED_SINCE, &t) &&
               r->e->mtime.tv_sec <= t) {
        return 304;
    }
    return 0;
}

/* If-Range: the Range applies only when the validator still matches (strong ETag, or exactly
 * the Last-Modified date). */
static bool
if_range_holds(const struct http_req *req, const struct rep *r)
{
    const struct http_span *v = http_header_known(req, HH_IF_RANGE);
    time_t t;
    if (v == NULL)
        return true;
    if (v->n > 0 && (v->p[0] == '"' || v->p[0] == 'W'))
        return v->n == strlen(r->e->etag) && memcmp(v->p, r->e->etag, v->n) == 0;
    return httpdate_parse(v->p, v->n, &t) == 0 && t == r->e->mtime.tv_sec;
}

/* Accept-Encoding: is `coding` acceptable (listed with q > 0, or covered by "*")? */
struct coding_q {
    const char *name;
    int *q; /* -1 unknown, else q x 1000 */
};

static bool
coding_entry(const char *p, size_t n, const void *arg)
{
    const struct coding_q *cq = arg;
    size_t nl = strlen(cq->name);
    const char *semi = memchr(p, ';', n);
    size_t tl = semi ? (size_t)(semi - p) : n;
    while (tl > 0 && (p[tl - 1] == ' ' || p[tl - 1] == '\t'))
        tl--;
    if (!(tl == nl && strncasecmp(p, cq->name, nl) == 0))
        return false;
    int q = 1000;
    if (semi) {
        const char *qp = semi + 1, *end = p + n;
        while (qp < end && (*qp == ' ' || *qp == '\t'))
            qp++;
        if (end - qp >= 3 && (qp[0] == 'q' || qp[0] == 'Q') && qp[1] == '=') {
            q = (qp[2] == '1') ? 1000 : 0;
            if (qp[2] == '0' && end - qp > 4 && qp[3] == '.')
                for (int i = 4, scale = 100; i < end - qp && i < 7; i++, scale /= 10)
                    if (qp[i] >= '0' && qp[i] <= '9')
                        q += (qp[i] - '0') * scale;
        }
    }
    *cq->q = q;
    return true;
}

static bool
accepts(const struct http_req *req, const char *coding)
{
    const struct http_span *ae = http_header_known(req, HH_ACCEPT_ENCODING);
    int q = -1, star = -1;
    if (ae == NULL)
        return false;
    struct coding_q named = {coding, &q}, any = {"*", &star};
    list_any(ae, coding_entry, &named);
    if (q >= 0)
        return q > 0;
    list_any(ae, coding_entry, &any);
    return star > 0;
}

/* gzip_static: swap in FILE.br or FILE.gz when the client takes it. */
static void
pick_variant(const struct http_req *req, struct rep *r)
{
    static const struct {
        const char *coding, *suffix;
    } variants[] = {{"br", ".br"}, {"gzip", ".gz"}};
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        char key[CFG_PATH_MAX + 8];
        int status;
        struct static_file unused;
        if (!accepts(req, variants[i].coding))
            continue;
        snprintf(key, sizeof(key), "%s%s", r->e->name, variants[i].suffix);
        struct ofc_entry *v = lookup(key, r->e->name, variants[i].suffix, &status, &unused);
        if (v == NULL)
            continue;
        if (v->status != 200) {
            ofc_release(v);
            continue;
        }
        ofc_release(r->e);
        r->e = v;
        r->encoding = variants[i].coding;
        return;
    }
}

static void
put_content_type(struct resp *out, const char *name)
{
    const char *type = mime_type(name, cfg->default_type);
    if (cfg->charset[0] && strncmp(type, "text/", 5) == 0)
        resp_header(out, "Content-Type: %s; charset=%s", type, cfg->charset);
    else
        resp_header(out, "Content-Type: %s", type);
}

static void
put_validators(struct resp *out, const struct rep *r)
{
    resp_header(out, "ETag: %s", r->e->etag);
    resp_header(out, "Last-Modified: %s", r->e->last_modified);
    if (cfg->gzip_static)
        resp_header(out, "Vary: Accept-Encoding");
    if (r->encoding)
        resp_header(out, "Content-Encoding: %s", r->encoding);
}

/* A multipart boundary nobody can predict, so no file can be made to contain it: a per-worker
 * random key mixed with a counter (splitmix64). */
static unsigned long long
boundary_token(void)
{
    static uint64_t state;
    if (state == 0 && getrandom(&state, sizeof(state), 0) != sizeof(state))
        state = (uint64_t)ev_now() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (unsigned long long)(z ^ (z >> 31));
}

/* The header lines of a 200 for this representation: the same for every request while the
 * entry lives, so they are formatted once and kept with the open file cache entry (a variant
 * has its own entry, hence its own block). */
static void
put_file_head(struct resp *out, const struct rep *r)
{
    struct ofc_entry *e = r->e;
    if (e->head == NULL) {
        /* Once per entry, not per request: a scratch block from the heap is fine here. */
        struct resp *tmp = malloc(sizeof(struct resp) + 1024);
        if (tmp == NULL) {
            out->overflow = true;
            return;
        }
        resp_init(tmp, 1024, 1024 + 2 * CFG_PATH_MAX);
        put_content_type(tmp, e->name);
        put_validators(tmp, r);
        resp_header(tmp, "Accept-Ranges: bytes");
        resp_header(tmp, "Content-Length: %lld", (long long)e->size);
        if (!tmp->overflow && (e->head = malloc(tmp->len)) != NULL) {
            memcpy(e->head, tmp->buf, tmp->len);
            e->head_len = tmp->len;
        }
        if (e->head == NULL) {
            resp_body(out, tmp->buf, tmp->len);
            out->overflow |= tmp->overflow;
        }
        resp_release(tmp);
        free(tmp);
        if (e->head == NULL)
            return;
    }
    resp_body(out, e->head, e->head_len);
}

/* The header of one part of a multipart/byteranges body into `buf`; returns its length. The
 * same text is counted for Content-Length and then sent. */
static int
part_header(char *buf, size_t len, const char *boundary, const char *type_line,
            const struct range *rg, off_t size)
{
    return snprintf(
        buf, len, "\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes %lld-%lld/%lld\r\n\r\n",
        boundary, type_line, (long long)rg->first, (long long)rg->last, (long long)size);
}

/* 206 with one range, or multipart/byteranges with several. */
static void
put_ranges(const struct http_req *req, const struct rep *r, const struct range *rg, int n,
           struct resp *out)
{
    off_t size = r->e->size;
    resp_start(out, 206);
    put_validators(out, r);
    resp_header(out, "Accept-Ranges: bytes");
    if (n == 1) {
        put_content_type(out, r->e->name);
        resp_header(out, "Content-Range: bytes %lld-%lld/%lld", (long long)rg[0].first,
                    (long long)rg[0].last, (long long)size);
        resp_header(out, "Content-Length: %lld", (long long)(rg[0].last - rg[0].first + 1));
        resp_end(out, req);
        resp_add_part(out, rg[0].first, rg[0].last - rg[0].first + 1, r->e->data);
        return;
    }
    /* The boundary only has to be absent from the part headers; the body is binary-safe
     * because every part's length is fixed by its Content-Range. */
    char boundary[40], type_line[256];
    const char *type = mime_type(r->e->name, cfg->default_type);
    snprintf(boundary, sizeof(boundary), "sluice-%016llx", boundary_token());
    if (cfg->charset[0] && strncmp(type, "text/", 5) == 0)
        snprintf(type_line, sizeof(type_line), "%s; charset=%s", type, cfg->charset);
    else
        snprintf(type_line, sizeof(type_line), "%s", type);

    /* Content-Length: the part headers, the part bodies and the closing delimiter. */
    long long total = 0;
    char head[512];
    for (int i = 0; i < n; i++)
        total += part_header(head, sizeof(head), boundary, type_line, &rg[i], size) +
                 (rg[i].last - rg[i].first + 1);
    total += snprintf(head, sizeof(head), "\r\n--%s--\r\n", boundary);
    resp_header(out, "Content-Type: multipart/byteranges; boundary=%s", boundary);
    resp_header(out, "Content-Length: %lld", total);
    resp_end(out, req);
    for (int i = 0; i < n; i++) {
        int hl = part_header(head, sizeof(head), boundary, type_line, &rg[i], size);
        resp_body(out, head, (size_t)hl);
        resp_add_part(out, rg[i].first, rg[i].last - rg[i].first + 1, r->e->data);
    }
    int tl = snprintf(head, sizeof(head), "\r\n--%s--\r\n", boundary);
    resp_body(out, head, (size_t)tl);
}

static void
put_not_modified(const struct http_req *req, const struct rep *r, struct resp *out)
{
    resp_start(out, 304);
    put_validators(out, r);
    resp_end(out, req);
}

static void
put_listing(const struct http_req *req, struct http_span path, struct static_file *dir,
            struct resp *out, struct ofc_entry **file)
{
    off_t size;
    int fd = autoindex_build(dir->fd, path.p, path.n, cfg->serve_dotfiles, &size);
    close(dir->fd);
    if (fd < 0) {
        resp_error(out, req, 500, NULL);
        return;
    }
    resp_start(out, 200);
    resp_header(out, "Content-Type: text/html; charset=utf-8");
    resp_header(out, "Content-Length: %lld", (long long)size);
    resp_header(out, "Cache-Control: no-cache");
    resp_end(out, req);
    if (req->verb == VERB_HEAD || size == 0) {
        close(fd);
        return;
    }
    /* A private entry (never in the cache) owns the memfd and closes it when the response
     * is done. */
    struct stat st = {.st_size = size};
    if ((*file = ofc_put_private(200, fd, &st, dir->name)) == NULL) {
        resp_error(out, req, 503, NULL);
        return;
    }
    resp_add_part(out, 0, size, NULL);
}

/* A directory named without its trailing '/': send the client to the slash form, query kept.
 * The Location is built from the normalised path, percent-encoded, never from the target as
 * written: "//evil.example/x/..%2f..%2fsub" must lead to "/sub/", not to another host. The
 * normalised path has no empty segment and '\\' is encoded, so it never starts with "//" or
 * "/\\". */
static void
redirect_slash(const struct http_req *req, const char *rel, struct http_span query,
               struct resp *out)
{
    char loc[3 * CFG_PATH_MAX + 1];
    if (path_encode(rel, loc, sizeof(loc)) < 0) {
        resp_error(out, req, 500, NULL); /* cannot happen: 3 x CFG_PATH_MAX always fits */
        return;
    }
    resp_start(out, 301);
    resp_header(out, "Location: /%s/%s%.*s", loc, query.n ? "?" : "", (int)query.n,
                query.p ? query.p : "");
    resp_header(out, "Content-Length: 0");
    resp_end(out, req);
}

/* The handler's hook. The seam has routed the request on its normalised path (r->rel), so the
 * path is not normalised again here. */
static enum req_result
static_request(struct req *r)
{
    const struct http_req *req = &r->http;
    struct resp *out = r->out;
    struct ofc_entry **file = &r->file;
    const char *rel = r->rel;
    struct rep rp = {.encoding = NULL};
    struct static_file dir;
    int status = 200;

    r->phase = REQ_ANSWERED; /* every path below builds a complete answer */
    /* The dot-file rule is checked before the cache: it depends on the path alone. */
    if (!cfg->serve_dotfiles && static_is_dotpath(rel)) {
        resp_error(out, req, 404, NULL);
        return REQ_DONE;
    }
    rp.e = lookup(rel, rel, NULL, &status, &dir);
    if (rp.e == NULL) {
        if (status == 301)
            redirect_slash(req, rel, r->query, out);
        else if (status == 200)
            put_listing(req, r->path, &dir, out, file);
        else
            resp_error(out, req, status, NULL);
        return REQ_DONE;
    }
    if (rp.e->status != 200) {
        resp_error(out, req, rp.e->status, NULL);
        ofc_release(rp.e);
        return REQ_DONE;
    }
    if (cfg->gzip_static)
        pick_variant(req, &rp);

    int pre = preconditions(req, &rp);
    if (pre) {
        if (pre == 304)
            put_not_modified(req, &rp, out);
        else
            resp_error(out, req, 412, NULL);
        ofc_release(rp.e);
        return REQ_DONE;
    }

    const struct http_span *range = http_header_known(req, HH_RANGE);
    if (range && req->verb == VERB_GET && if_range_holds(req, &rp)) {
        struct range rg[64];
        int n = 0;
        int max = cfg->max_ranges < 64 ? cfg->max_ranges : 64;
        switch (range_parse(range->p, range->n, rp.e->size, rg, max, &n)) {
        case RANGE_OK:
            put_ranges(req, &rp, rg, n, out);
            *file = rp.e;
            return REQ_DONE;
        case RANGE_UNSATISFIABLE: {
            char cr[64];
            snprintf(cr, sizeof(cr), "Content-Range: bytes */%lld", (long long)rp.e->size);
            ofc_release(rp.e);
            resp_error(out, req, 416, cr);
            return REQ_DONE;
        }
        case RANGE_IGNORE:
            break;
        }
    }

    resp_start(out, 200);
    put_file_head(out, &rp);
    resp_end(out, req);
    if (req->verb == VERB_HEAD || rp.e->size == 0) {
        ofc_release(rp.e);
        return REQ_DONE;
    }
    *file = rp.e;
    resp_add_part(out, 0, rp.e->size, rp.e->data);
    return REQ_DONE;
}

const struct handler static_handler = {
    .name = "static",
    .verbs = 1u << VERB_GET | 1u << VERB_HEAD | 1u << VERB_OPTIONS,
    .allow = "GET, HEAD, OPTIONS",
    .body = REQ_BODY_DISCARD,
    .request = static_request,
};
