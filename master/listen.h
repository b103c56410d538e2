/* Listening sockets, owned by the master for the life of the instance. Each `listen` line is a
 * group: with reuseport one SO_REUSEPORT socket per worker slot (worker i accepts on socket i),
 * without it one socket that all workers share. Groups outlive generations: a reload that keeps
 * an address keeps its sockets and their accept queues. */
#ifndef SLUICE_LISTEN_H
#define SLUICE_LISTEN_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/cfg.h"

#define LISTEN_MAX_GROUPS (CFG_MAX_LISTEN * 2)

/* Find or create the groups for every listen line of `cfg`, with at least cfg->workers sockets
 * each when reuseport is on. Writes the group indexes into `idx` (cfg->nlisten entries) and
 * takes a reference on each. Returns 0, or -1 with a message in `err` (nothing leaked). */
int listen_acquire(const struct cfg *cfg, int *idx, char *err, size_t errlen);

/* Drop the references taken by listen_acquire; a group no one uses is closed (unix socket
 * files unlinked). */
void listen_release(const struct cfg *cfg, const int *idx);
/* Give `group` at least `want` sockets (one per worker slot when it is a reuseport group).
 * Returns 0, or -1 with a message in `err`. */
int listen_grow(int group, int want, int backlog, char *err, size_t errlen);

/* The number of per-slot sockets of reuseport group `group` (0 for a shared group). */
int listen_slots(int group);

/* Close every socket (the master is exiting); unlink unix socket files unless another master
 * (after a binary upgrade) now owns them. */
void listen_close_all(bool unlink_unix);

/* Sockets handed over by a previous master (binary upgrade: $SLUICE_INHERIT) or by systemd
 * (socket activation: $LISTEN_PID/$LISTEN_FDS): make them groups that listen_acquire claims
 * instead of binding. Returns the number adopted, or -1 with a message in `err`. */
int listen_inherit(char *err, size_t errlen);

/* Is the TCP address of `l` free for the instance whose master is `owner` (getpid() in the
 * master; the running master's pid, or 0, for `-t`)? Every socket in state LISTEN on an
 * overlapping address (same family and port; the same address, or either one the wildcard:
 * 0.0.0.0 and 127.0.0.1 overlap, 0.0.0.0 and [::] do not, as sluice's v6 sockets are v6-only)
 * is looked up in /proc/net/tcp{,6}. One that `owner` does not hold (nor, in the master, the
 * master it took over from in a binary upgrade; inherited sockets are held by `owner` itself)
 * belongs to another instance or program: the kernel lets a same-uid SO_REUSEPORT socket join
 * its group and share its connections, so this is the check that refuses. With no listener
 * there, a probe bind finds what /proc cannot show (an address not on this host, a privileged
 * port). Unix sockets and port 0: 0.
 * Returns 0 when free, 1 when only `owner`'s sockets listen there (a reload keeps them), -1
 * with `why` naming the address and the process holding it ("127.0.0.1:8080 is in use by pid
 * 1234 (sluice: master -c a.ini)", plus ", listening on ADDR" when that differs), or the bind
 * error ("cannot listen on ADDR: ..."). */
int listen_check_free(const struct cfg_listen *l, pid_t owner, char *why, size_t len);

/* Inherited groups no generation claimed (their address left the configuration): close. */
void listen_drop_unclaimed(void);

/* "$SLUICE_INHERIT" for a new master: every open group with its sockets, which are made
 * inheritable (no close-on-exec) in the calling (child) process. Returns 0 or -1. */
int listen_export(char *buf, size_t len);

/* The socket worker `slot` accepts on in group g, and whether it is shared. */
int listen_fd_for(int g, int slot, bool *shared);

/* The address group g actually bound (port 0 resolved). */
const struct cfg_listen *listen_bound(int g);

/* In a forked worker: close every listening socket but the `nkeep` in `keep` (close(2) only). */
void listen_close_except(const int *keep, int nkeep);

/* Write cfg's port file: for each listen line, the address its group idx[i] actually bound,
 * then, when the line has flags, a space and the flags ("127.0.0.1:8443 proxy tls"), one line
 * each. Through a fresh temp name beside it and rename(2), so it appears complete or not at all
 * and a link planted at the path is replaced, never followed. Returns 0, or -1 (logged). */
int listen_write_port_file(const struct cfg *cfg, const int *idx);

#endif
