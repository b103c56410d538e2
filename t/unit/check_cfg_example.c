/* etc/sluice.ini against the key table: it must load as shipped, and document every key with
 * its built-in default on a line of its own, so tools and tests can edit a key by its line.
 * doc/sluice.ini.5 must describe every key too. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"

#define EXAMPLE "etc/sluice.ini"
#define MANPAGE "doc/sluice.ini.5"

START_TEST(test_example_loads)
{
    struct cfg *cfg = malloc(sizeof(*cfg));
    char err[CFG_ERR_MAX] = "";
    ck_assert_ptr_nonnull(cfg);
    ck_assert_msg(cfg_load(cfg, EXAMPLE, err, sizeof(err)) == 0, "%s", err);
    free(cfg);
}
END_TEST

/* Is there a line "key = value" or "; key = value" in the file? */
static int
find_line(const char *key, char *value, size_t valuelen)
{
    FILE *f = fopen(EXAMPLE, "r");
    char line[512];
    int found = 0;
    ck_assert_ptr_nonnull(f);
    while (!found && fgets(line, sizeof(line), f)) {
        char *p = line;
        if (*p == ';')
            for (p++; *p == ' '; p++)
                ;
        size_t kl = strlen(key);
        if (strncmp(p, key, kl) != 0 || strncmp(p + kl, " = ", 3) != 0)
            continue;
        p += kl + 3;
        p[strcspn(p, "\r\n")] = '\0';
        snprintf(value, valuelen, "%s", p);
        found = 1;
    }
    fclose(f);
    return found;
}

START_TEST(test_example_documents_every_key)
{
    const char *def, *doc;
    const char *name;
    int n = 0;
    for (int i = 0; (name = cfg_key_name(i, &def, &doc)) != NULL; i++, n++) {
        char value[256];
        ck_assert_msg(find_line(name, value, sizeof(value)), "%s: no '%s = ...' line", EXAMPLE,
                      name);
        /* Unset-by-default keys show an example value instead. */
        if (def[0] != '\0')
            ck_assert_msg(strcmp(value, def) == 0, "%s: %s = %s, but the default is %s", EXAMPLE,
                          name, value, def);
    }
    ck_assert_int_ge(n, 16);
}
END_TEST

/* Each key has an entry in the man page's KEYS section: a line "\fBKEY\fR = ...". */
START_TEST(test_manpage_documents_every_key)
{
    FILE *f = fopen(MANPAGE, "r");
    static char text[1 << 17];
    ck_assert_msg(f != NULL, "%s: cannot open (tests run from the repository root)", MANPAGE);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    ck_assert_uint_lt(n, sizeof(text) - 1);
    text[n] = '\0';
    const char *name;
    for (int i = 0; (name = cfg_key_name(i, NULL, NULL)) != NULL; i++) {
        char entry[128];
        snprintf(entry, sizeof(entry), "\n\\fB%s\\fR = ", name);
        ck_assert_msg(strstr(text, entry) != NULL, "%s: no entry for %s", MANPAGE, name);
    }
}
END_TEST

Suite *
cfg_example_suite(void)
{
    Suite *s = suite_create("cfg_example");
    TCase *tc = tcase_create("example");
    tcase_add_test(tc, test_example_loads);
    tcase_add_test(tc, test_example_documents_every_key);
    tcase_add_test(tc, test_manpage_documents_every_key);
    suite_add_tcase(s, tc);
    return s;
}
