/* The one monotonic clock of the program: milliseconds and microseconds of CLOCK_MONOTONIC for
 * deadlines, back-offs and the systemd protocol, and a sleep that survives signals (for tests). */
#ifndef SLUICE_CLOCK_H
#define SLUICE_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds. Cannot fail on Linux. */
int64_t clock_mono_ms(void);

/* CLOCK_MONOTONIC in microseconds (what systemd's MONOTONIC_USEC= wants). */
uint64_t clock_mono_us(void);

/* Sleep ms milliseconds, resumed across signals; ms <= 0 returns at once. */
void clock_sleep_ms(int ms);

#endif
