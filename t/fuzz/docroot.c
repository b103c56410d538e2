/* The fuzzer's document root (see docroot.h). Fixed mtimes keep ETags and listings the same
 * from run to run, so a crash replays byte for byte. */
#include "t/fuzz/docroot.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILES 16
#define FILE_MTIME 1700000000

static char base[PATH_MAX];
static char root[PATH_MAX + 8];
static struct docfile files[MAX_FILES];
static int nfiles;

static void
put_file(const char *rel, const char *data, size_t len)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", base, rel);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    if (strncmp(rel, "root/", 5) != 0)
        return;
    if (nfiles == MAX_FILES || (files[nfiles].data = malloc(len ? len : 1)) == NULL)
        abort();
    memcpy(files[nfiles].data, data, len);
    files[nfiles++].len = len;
}

static void
put_text(const char *rel, const char *text)
{
    put_file(rel, text, strlen(text));
}

/* A directory, a FIFO (fifo), or a symlink to `link_to`. */
static void
make_node(const char *rel, const char *link_to, bool fifo)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", base, rel);
    int rc = link_to ? symlink(link_to, path) : fifo ? mkfifo(path, 0644) : mkdir(path, 0755);
    if (rc < 0) {
        perror(path);
        exit(1);
    }
}

static int
touch_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    static const struct timespec t[2] = {{FILE_MTIME, 0}, {FILE_MTIME, 0}};
    (void)st, (void)flag, (void)ftw;
    utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW);
    return 0;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void
remove_tree(void)
{
    nftw(base, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
make_base(void)
{
    const char *tmp = getenv("TMPDIR");
    char templ[PATH_MAX];
    snprintf(templ, sizeof(templ), "%s/sluice-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    /* Absolute, because one of the escapes is an absolute symlink. */
    if (mkdtemp(templ) == NULL || realpath(templ, base) == NULL) {
        perror(templ);
        exit(1);
    }
    atexit(remove_tree);
    snprintf(root, sizeof(root), "%s/root", base);
}

static void
make_links(void)
{
    char outside_file[PATH_MAX + 64];
    snprintf(outside_file, sizeof(outside_file), "%s/outside/%s.txt", base, DOCROOT_MARKER);
    make_node("root/escape.txt", "../outside/" DOCROOT_MARKER ".txt", false);
    make_node("root/abs-escape.txt", outside_file, false);
    make_node("root/outdir", "../outside", false);
    make_node("root/alias.html", "index.html", false); /* stays inside: followed when allowed */
    make_node("root/self", "self", false);
    make_node("root/dangling", "nowhere", false);
}

const char *
docroot_make(void)
{
    static char big[100 * 1024];
    static const char *dirs[] = {"outside",      "outside/sub",      "root", "root/sub",
                                 "root/noindex", "root/.well-known", "body"};

    make_base();
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        make_node(dirs[i], NULL, false);
    put_text("outside/" DOCROOT_MARKER ".txt", DOCROOT_MARKER "\n");
    put_text("outside/sub/index.html", DOCROOT_MARKER " index\n");
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + (i * 7 + i / 251) % 26);
    put_file("root/big.bin", big, sizeof(big)); /* over small_file_max: sent with sendfile */
    put_text("root/big.bin.br", "brotli-ish bytes of big.bin\n");
    put_text("root/index.html", "<!DOCTYPE html>\n<title>sluice fuzz</title><p>root index</p>\n");
    put_text("root/index.html.gz", "\x1f\x8b gzip-ish bytes of index.html\n");
    put_text("root/sub/index.html", "<p>sub index</p>\n");
    put_text("root/sub/page.txt", "a page in sub\n");
    put_text("root/with space.txt", "a name with a space\n");
    put_text("root/empty.txt", "");
    put_text("root/noindex/style.css", "body { color: black }\n");
    put_text("root/.hidden", "a dot file\n");
    put_text("root/.well-known/security.txt", "Contact: mailto:security@example.org\n");
    make_node("root/fifo", NULL, true);
    make_links();
    nftw(base, touch_one, 16, FTW_PHYS);
    return root;
}

const char *
docroot_body_dir(void)
{
    static char dir[PATH_MAX + 8];
    snprintf(dir, sizeof(dir), "%s/body", base);
    return dir;
}

const struct docfile *
docroot_files(int *count)
{
    *count = nfiles;
    return files;
}
