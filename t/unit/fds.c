/* Test helper: counting open descriptors (see fds.h). */
#include "t/unit/fds.h"

#include <check.h>
#include <dirent.h>

int
fds_open(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the DIR's own */
}
