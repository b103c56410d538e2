/* Content types by file extension: the mime_types file when configured (loaded once per worker,
 * sorted for binary search), then a built-in table of common types, then default_type. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "worker/static.h"

struct ext_type {
    const char *ext;
    const char *type;
};

static const struct ext_type builtin[] = {
    {"html", "text/html"},      {"htm", "text/html"},         {"css", "text/css"},
    {"js", "text/javascript"},  {"mjs", "text/javascript"},   {"json", "application/json"},
    {"txt", "text/plain"},      {"md", "text/markdown"},      {"csv", "text/csv"},
    {"xml", "application/xml"}, {"svg", "image/svg+xml"},     {"png", "image/png"},
    {"jpg", "image/jpeg"},      {"jpeg", "image/jpeg"},       {"gif", "image/gif"},
    {"webp", "image/webp"},     {"avif", "image/avif"},       {"ico", "image/x-icon"},
    {"woff", "font/woff"},      {"woff2", "font/woff2"},      {"ttf", "font/ttf"},
    {"otf", "font/otf"},        {"wasm", "application/wasm"}, {"pdf", "application/pdf"},
    {"zip", "application/zip"}, {"gz", "application/gzip"},   {"tar", "application/x-tar"},
    {"mp4", "video/mp4"},       {"webm", "video/webm"},       {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},       {"wav", "audio/wav"},
};

static struct ext_type *loaded; /* from mime_types, sorted by ext */
static size_t nloaded;

static int
by_ext(const void *a, const void *b)
{
    return strcasecmp(((const struct ext_type *)a)->ext, ((const struct ext_type *)b)->ext);
}

int
mime_load(const char *path)
{
    FILE *f = fopen(path, "re");
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    if (f == NULL)
        return -1;
    while (getline(&line, &cap, f) > 0) {
        char *save = NULL;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *type = strtok_r(line, " \t\r\n", &save);
        if (type == NULL || strchr(type, '/') == NULL)
            continue;
        char *ext;
        const char *type_copy = NULL;
        while ((ext = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
            if (nloaded == alloc) {
                alloc = alloc ? alloc * 2 : 256;
                struct ext_type *grown = realloc(loaded, alloc * sizeof(*loaded));
                if (grown == NULL)
                    goto fail;
                loaded = grown;
            }
            if (type_copy == NULL && (type_copy = strdup(type)) == NULL)
                goto fail;
            if ((loaded[nloaded].ext = strdup(ext)) == NULL)
                goto fail;
            loaded[nloaded++].type = type_copy;
        }
    }
    free(line);
    fclose(f);
    qsort(loaded, nloaded, sizeof(*loaded), by_ext);
    log_debug("mime_types: %zu extensions from %s", nloaded, path);
    return 0;
fail:
    free(line);
    fclose(f);
    return -1;
}

const char *
mime_type(const char *name, const char *default_type)
{
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash + 1 : name, '.');
    if (dot == NULL || dot[1] == '\0')
        return default_type;
    struct ext_type key = {dot + 1, NULL};
    if (nloaded) {
        const struct ext_type *hit = bsearch(&key, loaded, nloaded, sizeof(*loaded), by_ext);
        if (hit)
            return hit->type;
    }
    for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
        if (strcasecmp(dot + 1, builtin[i].ext) == 0)
            return builtin[i].type;
    return default_type;
}
