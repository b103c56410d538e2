/* Dropping root (privs.h). The master keeps root (to bind and reopen logs); what it forks to run
 * configured code never does. */
#include "common/privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
privs_drop(const struct cfg *cfg, char *err, size_t errlen)
{
    if (cfg->user[0] == '\0' || geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(cfg->user);
    if (pw == NULL) {
        snprintf(err, errlen, "user '%s' does not exist", cfg->user);
        return -1;
    }
    gid_t gid = pw->pw_gid;
    if (cfg->group[0]) {
        struct group *gr = getgrnam(cfg->group);
        if (gr == NULL) {
            snprintf(err, errlen, "group '%s' does not exist", cfg->group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (initgroups(pw->pw_name, gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0) {
        snprintf(err, errlen, "dropping privileges to user '%s': %s", cfg->user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0 || seteuid(0) == 0) {
        snprintf(err, errlen, "still able to become root after dropping to '%s'", cfg->user);
        return -1;
    }
    return 0;
}
