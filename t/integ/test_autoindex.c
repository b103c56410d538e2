/* Integration tests of autoindex listings past their entry cap: a directory with more entries
 * than a page lists gets the first ones in the page's order (directories first, then by name),
 * whatever order the file system returns them in, and a line saying how many more there are.
 * A real sluice, raw sockets. Smaller listings are in test_static.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CAP 10000 /* worker/autoindex.c's AUTOINDEX_MAX */
#define NFILES (CAP + 50)

/* <root>/big: NFILES empty files "f00000".. created in a scrambled order (so no file system
 * order is the sorted one by chance), three directories that sort after every file by name but
 * come first on the page, and a dot-file. */
static void
make_big_dir(const struct srv *s)
{
    char path[SRV_PATH_MAX * 2];
    snprintf(path, sizeof(path), "%s/big", s->root);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    for (int i = 0; i < NFILES; i++) {
        int k = (int)(((long long)i * 7919) % NFILES); /* 7919: prime, coprime with NFILES */
        snprintf(path, sizeof(path), "%s/big/f%05d", s->root, k);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        ck_assert_msg(fd >= 0, "create %s", path);
        close(fd);
    }
    for (int i = 2; i >= 0; i--) {
        snprintf(path, sizeof(path), "%s/big/zz%d", s->root, i);
        ck_assert_int_eq(mkdir(path, 0755), 0);
    }
    srv_write_file(s, "big/.hidden", "h", 1);
}

/* The hrefs of the page's rows, after "../", in order, into names (malloc'd array of pointers
 * into `html`, each NUL-terminated in place). Returns the count. */
static int
hrefs(char *html, char ***names)
{
    static const char row[] = "<tr><td><a href=\"";
    int n = 0, cap = 0;
    *names = NULL;
    for (char *p = html; (p = strstr(p, row)) != NULL;) {
        p += sizeof(row) - 1;
        char *end = strchr(p, '"');
        ck_assert_ptr_nonnull(end);
        *end = '\0';
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            *names = realloc(*names, (size_t)cap * sizeof(**names));
            ck_assert_ptr_nonnull(*names);
        }
        (*names)[n++] = p;
        p = end + 1;
    }
    ck_assert_msg(n > 0 && strcmp((*names)[0], "../") == 0, "no ../ row first");
    return n;
}

/* GET /big/ must list `first` (names in page order, NULL-terminated), then the files from
 * f00000 on, CAP rows in all, then "<omitted> more". HEAD must announce the same length, and a
 * second GET must give the same page. */
static void
expect_big_listing(const struct srv *s, const char *const *first, int omitted)
{
    struct http_resp r, again, head;
    ck_assert_int_eq(http_fetch(s->port, "GET", "/big/", NULL, &r), 200);
    ck_assert_ptr_nonnull(r.body);
    ck_assert_int_eq(http_fetch(s->port, "GET", "/big/", NULL, &again), 200);
    ck_assert_msg(again.body_len == r.body_len && memcmp(again.body, r.body, r.body_len) == 0,
                  "two listings of the same directory differ");
    ck_assert_int_eq(http_fetch(s->port, "HEAD", "/big/", NULL, &head), 200);
    char len[32];
    snprintf(len, sizeof(len), "%zu", r.body_len);
    http_assert_header(&head, "Content-Length", len);

    char more[64];
    snprintf(more, sizeof(more), ">%d more ", omitted);
    ck_assert_msg(strstr(r.body, more) != NULL, "no '%s' in the page's end:\n%s", more,
                  r.body + (r.body_len > 400 ? r.body_len - 400 : 0));

    char **names;
    int n = hrefs(r.body, &names);
    ck_assert_int_eq(n, CAP + 1);
    int i = 1;
    for (; *first; first++, i++)
        ck_assert_msg(strcmp(names[i], *first) == 0, "row %d: %s, want %s", i, names[i], *first);
    for (int f = 0; i < n; i++, f++) {
        char want[16];
        snprintf(want, sizeof(want), "f%05d", f);
        ck_assert_msg(strcmp(names[i], want) == 0, "row %d: %s, want %s", i, names[i], want);
    }
    free(names);
    http_resp_free(&r);
    http_resp_free(&again);
    http_resp_free(&head);
}

START_TEST(autoindex_cap_lists_first_names_sorted)
{
    struct srv s;
    static const char *const first[] = {"zz0/", "zz1/", "zz2/", NULL};
    srv_init(&s);
    make_big_dir(&s);
    srv_write_config(&s, "autoindex = on\n");
    srv_spawn(&s);
    /* NFILES + 3 directories listed, the dot-file not: 53 beyond the cap. */
    expect_big_listing(&s, first, NFILES + 3 - CAP);
    srv_stop(&s);
}
END_TEST

START_TEST(autoindex_cap_counts_dotfiles_when_served)
{
    struct srv s;
    static const char *const first[] = {"zz0/", "zz1/", "zz2/", ".hidden", NULL};
    srv_init(&s);
    make_big_dir(&s);
    srv_write_config(&s, "autoindex = on\nserve_dotfiles = on\n");
    srv_spawn(&s);
    expect_big_listing(&s, first, NFILES + 4 - CAP);
    srv_stop(&s);
}
END_TEST

Suite *
integ_autoindex_suite(void)
{
    Suite *s = suite_create("integ_autoindex");
    TCase *tc = tcase_create("cap");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, autoindex_cap_lists_first_names_sorted);
    tcase_add_test(tc, autoindex_cap_counts_dotfiles_when_served);
    suite_add_tcase(s, tc);
    return s;
}
