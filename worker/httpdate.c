/* HTTP date formatting and parsing (see httpdate.h). */
#include "worker/httpdate.h"

#include <stdbool.h>
#include <string.h>

static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const wdays_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                          "Thursday", "Friday", "Saturday"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void
httpdate_format(time_t t, char *buf)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, HTTPDATE_LEN + 1, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* A small cursor over the input. Every reader returns 0 or -1. */
struct cur {
    const char *p, *end;
};

static int
lit(struct cur *c, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

static int
num(struct cur *c, int digits, int *out)
{
    int v = 0;
    if (c->end - c->p < digits)
        return -1;
    for (int i = 0; i < digits; i++) {
        if (c->p[i] < '0' || c->p[i] > '9')
            return -1;
        v = v * 10 + (c->p[i] - '0');
    }
    c->p += digits;
    *out = v;
    return 0;
}

static int
month(struct cur *c, int *out)
{
    for (int i = 0; i < 12; i++)
        if (lit(c, months[i]) == 0) {
            *out = i;
            return 0;
        }
    return -1;
}

static int
clock_part(struct cur *c, struct tm *tm)
{
    if (num(c, 2, &tm->tm_hour) < 0 || lit(c, ":") < 0 || num(c, 2, &tm->tm_min) < 0 ||
        lit(c, ":") < 0 || num(c, 2, &tm->tm_sec) < 0)
        return -1;
    return tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60 ? -1 : 0;
}

static int
day_name(struct cur *c, bool long_form)
{
    for (int i = 0; i < 7; i++)
        if (lit(c, long_form ? wdays_long[i] : wdays[i]) == 0)
            return 0;
    return -1;
}

static bool
leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int
finish(struct cur *c, struct tm *tm, time_t *out)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int last = mdays[tm->tm_mon] + (tm->tm_mon == 1 && leap(tm->tm_year));
    if (c->p != c->end || tm->tm_mday < 1 || tm->tm_mday > last)
        return -1;
    tm->tm_year -= 1900;
    tm->tm_isdst = 0;
    *out = timegm(tm);
    return *out == (time_t)-1 ? -1 : 0;
}

int
httpdate_parse(const char *s, size_t n, time_t *out)
{
    struct tm tm;
    struct cur c;

    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    memset(&tm, 0, sizeof(tm));
    c = (struct cur){s, s + n};
    if (day_name(&c, false) == 0 && lit(&c, ", ") == 0 && num(&c, 2, &tm.tm_mday) == 0 &&
        lit(&c, " ") == 0 && month(&c, &tm.tm_mon) == 0 && lit(&c, " ") == 0 &&
        num(&c, 4, &tm.tm_year) == 0 && lit(&c, " ") == 0 && clock_part(&c, &tm) == 0 &&
        lit(&c, " GMT") == 0)
        return finish(&c, &tm, out);

    /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
    memset(&tm, 0, sizeof(tm));
    c = (struct cur){s, s + n};
    if (day_name(&c, true) == 0 && lit(&c, ", ") == 0 && num(&c, 2, &tm.tm_mday) == 0 &&
        lit(&c, "-") == 0 && month(&c, &tm.tm_mon) == 0 && lit(&c, "-") == 0 &&
        num(&c, 2, &tm.tm_year) == 0 && lit(&c, " ") == 0 && clock_part(&c, &tm) == 0 &&
        lit(&c, " GMT") == 0) {
        /* RFC 9110 5.6.7: a two-digit year more than 50 years in the future is taken as the
         * most recent past year with those digits. */
        time_t now = time(NULL);
        struct tm today;
        gmtime_r(&now, &today);
        int century = (today.tm_year + 1900) / 100 * 100;
        tm.tm_year += century;
        if (tm.tm_year > today.tm_year + 1900 + 50)
            tm.tm_year -= 100;
        return finish(&c, &tm, out);
    }

    /* asctime: Sun Nov  6 08:49:37 1994 (day padded with a space) */
    memset(&tm, 0, sizeof(tm));
    c = (struct cur){s, s + n};
    if (day_name(&c, false) == 0 && lit(&c, " ") == 0 && month(&c, &tm.tm_mon) == 0 &&
        lit(&c, " ") == 0) {
        if (lit(&c, " ") == 0) {
            if (num(&c, 1, &tm.tm_mday) < 0)
                return -1;
        } else if (num(&c, 2, &tm.tm_mday) < 0) {
            return -1;
        }
        if (lit(&c, " ") == 0 && clock_part(&c, &tm) == 0 && lit(&c, " ") == 0 &&
            num(&c, 4, &tm.tm_year) == 0)
            return finish(&c, &tm, out);
    }
    return -1;
}
