/* HTTP dates (RFC 9110 5.6.7): formatting IMF-fixdate, and parsing the three formats a recipient
 * must accept. Pure functions. */
#ifndef SLUICE_HTTPDATE_H
#define SLUICE_HTTPDATE_H

#include <stddef.h>
#include <time.h>

#define HTTPDATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Write `t` as IMF-fixdate into buf (at least HTTPDATE_LEN + 1 bytes). */
void httpdate_format(time_t t, char *buf);

/* Parse IMF-fixdate, obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") or asctime
 * ("Sun Nov  6 08:49:37 1994"). Returns 0 with *out set, or -1 for anything else (an invalid
 * date in a conditional header makes that header ignored). */
int httpdate_parse(const char *s, size_t n, time_t *out);

#endif
