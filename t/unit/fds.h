/* Test helper: how many descriptors this process has open, to prove that code under test
 * leaves none behind. */
#ifndef SLUICE_T_FDS_H
#define SLUICE_T_FDS_H

/* Descriptors open in this process now (/proc/self/fd, less the directory's own). */
int fds_open(void);

#endif
