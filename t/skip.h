/* Skips that are not passes: a test that cannot run here says so with t_skip, and the runner
 * counts it apart from the tests that passed. */
#ifndef SLUICE_T_SKIP_H
#define SLUICE_T_SKIP_H

/* Map the shared counter (MAP_SHARED, so the forked test processes of Check write to the
 * runner's page). Call once in the runner, before srunner_run_all. Returns 0 or -1 (errno). */
int t_skip_init(void);

/* Print "SKIP name: reason" on stdout and count one skip. The test must return right after it
 * and assert nothing more: Check then counts it as passed, and the runner moves it from the
 * passed count to the skipped one. */
void t_skip(const char *name, const char *reason);

/* Skips counted so far (0 when t_skip_init was not called). */
int t_skip_count(void);

/* The i-th skip line ("name: reason"), i < t_skip_count() and below a bound of the page; NULL
 * past it. */
const char *t_skip_line(int i);

#endif
