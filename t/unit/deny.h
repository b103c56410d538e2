/* Test helper: make one system call fail in the test's own process, as an old kernel or an
 * exhausted limit would, with a seccomp filter. */
#ifndef SLUICE_T_DENY_H
#define SLUICE_T_DENY_H

#include <stdbool.h>

/* From now on, system call `nr` fails with `err` in this process. A filter cannot be lifted, so
 * this works only in a forked test process (Check's default): with CK_FORK=no it prints
 * "SKIP <what>: ..." and returns false. Fails the test when the filter cannot be installed. */
bool deny_syscall(long nr, int err, const char *what);

#endif
