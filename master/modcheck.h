/* Validating application modules. The master never loads one (a worker would inherit that copy
 * and a reload would run old code): a short-lived child, dropped to `user`, copies each
 * module into a sealed memfd, dlopens that copy, checks its ABI and calls its `check` hook,
 * and passes the memfds back. A generation's workers dlopen those snapshots, so they all run
 * exactly what was validated, whatever happens to the file on disk afterwards. */
#ifndef SLUICE_MODCHECK_H
#define SLUICE_MODCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/cfg.h"

/* The snapshots of a configuration's modules: fd[i] for cfg->app[i], -1 when none. */
struct mod_set {
    int n;
    int fd[CFG_MAX_APPS];
};

/* Close every snapshot of `set` (NULL is fine) and empty it. */
void mod_set_close(struct mod_set *set);

/* Before the master's loop (-t, start): check cfg's modules and wait for the child, at most
 * module_check_timeout (poll; the child is killed past it). 0 with the snapshots in *out
 * (NULL: closed, -t), or -1 with "FILE:LINE: app "NAME": module PATH: REASON" in err. With
 * no application, 0 at once. */
int modcheck_run(const struct cfg *cfg, struct mod_set *out, char *err, size_t errlen);

/* On the master's loop (reload): start checking cfg's modules. `done` runs once, later, from
 * the loop: with the snapshots (set, the callee's to keep or close) or with the error (set
 * NULL). One check at a time. Returns 0, or -1 with err (done will not run). `cfg` must stay
 * valid until done. */
typedef void modcheck_done_fn(void *arg, struct mod_set *set, const char *err);
int modcheck_start(const struct cfg *cfg, modcheck_done_fn *done, void *arg, char *err,
                   size_t errlen);

/* A check is in flight. */
bool modcheck_busy(void);

/* Abandon the check in flight, if any (stop): the child is killed, and `done` runs now with
 * the error "stopping". */
void modcheck_cancel(void);

/* The child's records on its SOCK_SEQPACKET socket: a PROGRESS before each module (so a
 * timeout can name it), then one RESULT: app -1 with one sealed memfd per application
 * (SCM_RIGHTS), or the failing app and its reason in text. */
#define MODCHECK_MAGIC 0x736c6d63u /* "slmc" */
enum { MODCHECK_PROGRESS = 1, MODCHECK_RESULT = 2 };
struct modcheck_msg {
    uint32_t magic;
    uint32_t type;
    int32_t app;
    uint32_t nfd;
    char text[CFG_ERR_MAX];
};

/* The master's reading of one record from the child's socket `fd` for `cfg` (exposed for the
 * hostile tests). Nothing in it is trusted: a record of another size or kind, an app out of
 * range, descriptors where none belong or that are not sealed memfds make it malformed, and
 * every descriptor not kept is closed. Returns 1 (a PROGRESS, *app set; or nothing to read
 * yet), 0 (a RESULT: the snapshots in *set with err "", or err "FILE:LINE: app ...: REASON"),
 * or -1 (err "EOF" at the end of the stream, else why the record is malformed). */
int modcheck_receive(int fd, const struct cfg *cfg, int *app, struct mod_set *set, char *err,
                     size_t errlen);

/* In a freshly forked worker: close the socket of a check in flight (close(2) only: the loop
 * is the master's), so no worker can read or hold the master's end. */
void modcheck_forget(void);

/* A child exited with wait status `status` (SIGCHLD): true when it was a checking child (then
 * it is forgotten, or, when it closed its socket without a result, the check ends now). */
bool modcheck_reaped(pid_t pid, int status);

#endif
