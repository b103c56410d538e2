/* systemd's notify protocol without libsystemd: one datagram to $NOTIFY_SOCKET per state change
 * (READY=1, RELOADING=1, STOPPING=1, STATUS=..., MAINPID=...). A no-op outside systemd. */
#ifndef SLUICE_SDNOTIFY_H
#define SLUICE_SDNOTIFY_H

/* Send `fmt` (newline-separated assignments). Returns 0, or -1 (no socket, or it failed). */
int sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
