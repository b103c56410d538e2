/* Directory listings for autoindex = on, written to a memfd so the page costs no worker heap
 * however large the directory, and goes out with sendfile like any file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "worker/httpdate.h"
#include "worker/static.h"

/* Entries listed at most. A larger directory lists the first AUTOINDEX_MAX in the page's order
 * and says how many more there are, so the page is the same whatever order readdir gives. */
#define AUTOINDEX_MAX 10000

struct entry {
    char *name;
    bool dir;
    off_t size;
    time_t mtime;
};

/* The page's order: directories first, then bytewise by name. */
static int
by_name(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->dir != y->dir)
        return x->dir ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The entries kept so far: a max-heap under by_name once it holds AUTOINDEX_MAX, so the largest
 * kept entry is at v[0] and a smaller newcomer replaces it in O(log n). Memory stays within
 * AUTOINDEX_MAX entries and names of at most NAME_MAX bytes, whatever the directory holds. */
struct listing {
    struct entry *v;
    int n, cap;
    long long omitted; /* entries seen but not kept */
};

static void
sift_down(struct entry *v, int n, int i)
{
    for (;;) {
        int big = i, l = 2 * i + 1, r = l + 1;
        if (l < n && by_name(&v[l], &v[big]) > 0)
            big = l;
        if (r < n && by_name(&v[r], &v[big]) > 0)
            big = r;
        if (big == i)
            return;
        struct entry t = v[i];
        v[i] = v[big];
        v[big] = t;
        i = big;
    }
}

/* Append below the cap; the moment the cap is reached, heapify once. */
static int
append(struct listing *l, const struct entry *e)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 64;
        if (cap > AUTOINDEX_MAX)
            cap = AUTOINDEX_MAX;
        struct entry *grown = realloc(l->v, (size_t)cap * sizeof(*l->v));
        if (grown == NULL)
            return -1;
        l->v = grown;
        l->cap = cap;
    }
    if ((l->v[l->n].name = strdup(e->name)) == NULL)
        return -1;
    l->v[l->n].dir = e->dir;
    l->v[l->n].size = e->size;
    l->v[l->n].mtime = e->mtime;
    if (++l->n == AUTOINDEX_MAX)
        for (int i = AUTOINDEX_MAX / 2 - 1; i >= 0; i--)
            sift_down(l->v, l->n, i);
    return 0;
}

/* Is the entry (its type known, not yet stat'ed) one the listing keeps? */
static bool
wanted(const struct listing *l, const char *name, bool dir)
{
    struct entry key = {.name = (char *)name, .dir = dir};
    return l->n < AUTOINDEX_MAX || by_name(&key, &l->v[0]) < 0;
}

static int
keep(struct listing *l, const struct entry *e)
{
    if (l->n < AUTOINDEX_MAX)
        return append(l, e);
    /* Full: e sorts before the largest kept entry (wanted said so), which drops out. */
    char *name = strdup(e->name);
    if (name == NULL)
        return -1;
    free(l->v[0].name);
    l->v[0] = *e;
    l->v[0].name = name;
    sift_down(l->v, l->n, 0);
    l->omitted++;
    return 0;
}

static void
listing_free(struct listing *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
}

/* Is this directory entry a directory? From d_type when the file system gives it, else
 * fstatat; -1 when it vanished. A symlink is not: the listing does not look through links. */
static int
entry_is_dir(int dir_fd, const struct dirent *de)
{
    struct stat st;
    if (de->d_type != DT_UNKNOWN)
        return de->d_type == DT_DIR;
    if (fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -1;
    return S_ISDIR(st.st_mode);
}

/* Read the directory into `l`: the first AUTOINDEX_MAX entries in the page's order, sorted,
 * and the count of the others. Only kept entries are stat'ed, so a huge directory costs one
 * readdir pass and at most a few fstatat per kept entry. Returns 0, or -1 with errno. */
static int
collect(int dir_fd, bool dotfiles, struct listing *l)
{
    int fd = dup(dir_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    int rc = 0;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    rewinddir(d); /* the dup shares dir_fd's offset, which an earlier listing may have moved */
    for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
        struct stat st;
        if (de->d_name[0] == '.' &&
            (!dotfiles || !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")))
            continue;
        int dir = entry_is_dir(dir_fd, de);
        if (dir < 0)
            continue;
        if (!wanted(l, de->d_name, dir)) {
            l->omitted++;
            continue;
        }
        if (fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* gone since readdir */
        struct entry e = {de->d_name, S_ISDIR(st.st_mode), st.st_size, st.st_mtim.tv_sec};
        if (e.dir != (dir == 1) && !wanted(l, e.name, e.dir)) {
            l->omitted++; /* replaced by another type since readdir */
            continue;
        }
        if (keep(l, &e) < 0) {
            rc = -1;
            break;
        }
    }
    if (de == NULL && errno != 0)
        rc = -1;
    int saved = errno;
    closedir(d);
    errno = saved;
    if (rc == 0)
        qsort(l->v, (size_t)l->n, sizeof(*l->v), by_name);
    return rc;
}

static void
put_html(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void
put_href(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c))
            fputc(c, f);
        else
            fprintf(f, "%%%02X", c);
    }
}

static void
write_page(FILE *f, const char *shown, const struct listing *l)
{
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ", f);
    put_html(f, shown);
    fputs("</title></head><body><h1>Index of ", f);
    put_html(f, shown);
    fputs("</h1><table>\n<tr><th>Name</th><th>Last modified</th><th>Size</th></tr>\n"
          "<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n",
          f);
    for (int i = 0; i < l->n; i++) {
        const struct entry *e = &l->v[i];
        char date[HTTPDATE_LEN + 1];
        httpdate_format(e->mtime, date);
        fputs("<tr><td><a href=\"", f);
        put_href(f, e->name);
        fputs(e->dir ? "/\">" : "\">", f);
        put_html(f, e->name);
        fprintf(f, "%s</a></td><td>%s</td><td>", e->dir ? "/" : "", date);
        if (e->dir)
            fputs("-", f);
        else
            fprintf(f, "%lld", (long long)e->size);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    if (l->omitted > 0)
        fprintf(f, "<p>%lld more (the listing shows the first %d by name)</p>\n", l->omitted,
                AUTOINDEX_MAX);
    fputs("</body></html>\n", f);
}

int
autoindex_build(int dir_fd, const char *shown_path, size_t shown_len, bool dotfiles, off_t *size)
{
    struct listing l = {0};
    char shown[CFG_PATH_MAX];
    struct stat st;
    FILE *f = NULL;
    int mfd = -1, wfd = -1;

    if (collect(dir_fd, dotfiles, &l) < 0)
        goto fail;
    snprintf(shown, sizeof(shown), "%.*s", (int)shown_len, shown_path);
    if ((mfd = memfd_create("sluice-autoindex", MFD_CLOEXEC)) < 0 || (wfd = dup(mfd)) < 0 ||
        (f = fdopen(wfd, "w")) == NULL)
        goto fail;
    wfd = -1; /* f owns it */
    write_page(f, shown, &l);
    int rc = fclose(f);
    f = NULL;
    if (rc != 0 || fstat(mfd, &st) < 0)
        goto fail;
    *size = st.st_size;
    listing_free(&l);
    return mfd;

fail:
    if (f)
        fclose(f);
    if (wfd >= 0)
        close(wfd);
    if (mfd >= 0)
        close(mfd);
    listing_free(&l);
    return -1;
}
