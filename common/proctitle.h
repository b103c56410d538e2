/* Process titles as ps(1) shows them ("sluice: worker 3 gen 2"): the argv area is rewritten in
 * place, after the environment it is followed by has been moved out of the way. */
#ifndef SLUICE_PROCTITLE_H
#define SLUICE_PROCTITLE_H

/* Once, in main(), before anything reads argv or the environment again. */
void proctitle_init(int argc, char **argv);

/* Set the title (truncated to the space argv had); also the 15-byte comm name. */
void proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
