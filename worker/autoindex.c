/* Directory listings for autoindex = on, written to a memfd so the page costs no worker heap
 * however large the directory, and goes out with sendfile like any file. */
#include <dirent.h>
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

#define AUTOINDEX_MAX 10000 /* entries listed at most; the page says when it stopped */

struct entry {
    char *name;
    bool dir;
    off_t size;
    time_t mtime;
};

static int
by_name(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->dir != y->dir)
        return x->dir ? -1 : 1; /* directories first */
    return strcmp(x->name, y->name);
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

static int
collect(int dir_fd, bool dotfiles, struct entry **out, int *count, bool *truncated)
{
    int fd = dup(dir_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct entry *v = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *truncated = false;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (de->d_name[0] == '.' &&
            (!dotfiles || !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")))
            continue;
        if (fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (n == AUTOINDEX_MAX) {
            *truncated = true;
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct entry *grown = realloc(v, (size_t)cap * sizeof(*v));
            if (grown == NULL)
                break;
            v = grown;
        }
        if ((v[n].name = strdup(de->d_name)) == NULL)
            break;
        v[n].dir = S_ISDIR(st.st_mode);
        v[n].size = st.st_size;
        v[n].mtime = st.st_mtim.tv_sec;
        n++;
    }
    closedir(d);
    qsort(v, (size_t)n, sizeof(*v), by_name);
    *out = v;
    *count = n;
    return 0;
}

int
autoindex_build(int dir_fd, const char *shown_path, size_t shown_len, bool dotfiles, off_t *size)
{
    struct entry *v = NULL;
    int n = 0;
    bool truncated;
    char shown[CFG_PATH_MAX];

    if (collect(dir_fd, dotfiles, &v, &n, &truncated) < 0)
        return -1;
    snprintf(shown, sizeof(shown), "%.*s", (int)shown_len, shown_path);
    int mfd = memfd_create("sluice-autoindex", MFD_CLOEXEC);
    int wfd = mfd >= 0 ? dup(mfd) : -1;
    FILE *f = wfd >= 0 ? fdopen(wfd, "w") : NULL;
    if (f == NULL) {
        if (wfd >= 0)
            close(wfd);
        if (mfd >= 0)
            close(mfd);
        mfd = -1;
        goto out;
    }
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ", f);
    put_html(f, shown);
    fputs("</title></head><body><h1>Index of ", f);
    put_html(f, shown);
    fputs("</h1><table>\n<tr><th>Name</th><th>Last modified</th><th>Size</th></tr>\n"
          "<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n",
          f);
    for (int i = 0; i < n; i++) {
        char date[HTTPDATE_LEN + 1];
        httpdate_format(v[i].mtime, date);
        fputs("<tr><td><a href=\"", f);
        put_href(f, v[i].name);
        fputs(v[i].dir ? "/\">" : "\">", f);
        put_html(f, v[i].name);
        fprintf(f, "%s</a></td><td>%s</td><td>", v[i].dir ? "/" : "", date);
        if (v[i].dir)
            fputs("-", f);
        else
            fprintf(f, "%lld", (long long)v[i].size);
        fputs("</td></tr>\n", f);
    }
    fprintf(f, "</table>%s</body></html>\n",
            truncated ? "<p>(listing stopped at 10000 entries)</p>" : "");
    if (fclose(f) != 0) {
        close(mfd);
        mfd = -1;
        goto out;
    }
    struct stat st;
    if (fstat(mfd, &st) < 0) {
        close(mfd);
        mfd = -1;
        goto out;
    }
    *size = st.st_size;
out:
    for (int i = 0; i < n; i++)
        free(v[i].name);
    free(v);
    return mfd;
}
