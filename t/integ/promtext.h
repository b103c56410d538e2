/* A checker of the Prometheus text exposition format 0.0.4 for the tests: every line a comment
 * ("# HELP name text", "# TYPE name type") or a sample `name{label="value",...} value`; each
 * metric family's HELP and TYPE once, before its samples, its samples together; counter
 * families named ..._total; label values escaped (only \\, \" and \n); values numbers; no
 * series twice. */
#ifndef SLUICE_T_PROMTEXT_H
#define SLUICE_T_PROMTEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Returns true when `text` is valid; else false with the line and why in err. Sets *nsamples. */
bool prom_check(const char *text, char *err, size_t errlen, int *nsamples);

/* The value of the sample whose name and label set (as written, "{...}" or "") are `series`,
 * e.g. "sluice_requests_total{worker=\"0\",generation=\"1\"}"; false when absent. */
bool prom_value(const char *text, const char *series, double *value);

/* The sum of every sample of metric `name` whose labels contain `match` (e.g. "class=\"4xx\"",
 * or "" for all). */
double prom_sum(const char *text, const char *name, const char *match);

#endif
