/* Shared memory region (see shm.h). The per-client table is lock-free: any worker may be wedged
 * or hostile and the master must never wait on one, so entries are claimed with a compare-and-
 * swap on their state word and counts live in per-column atomics that only the column's owner
 * (and the master, once the owner is dead) writes.
 *
 * An entry is EMPTY (never used: ends a probe sequence), FREE (a tombstone: probed past,
 * claimable), CLAIMING (one process owns the state word for a moment: it is writing a new key,
 * or checking that a zero-count entry may be freed) or READY (its key is valid). The state word
 * also carries the owning column (for CLAIMING) and a sequence number bumped by every
 * transition, so a reader can tell that the entry changed under it (no ABA within 2^46 steps).
 *
 * No over-admission: an acquire adds 1 to its own column first and only then sums every entry
 * that holds the key; all of these are sequentially consistent. Of any set of connections
 * admitted together, the one whose increment came last in that order summed after every other
 * increment of the set, so it saw them all and would have refused itself past the limit. The
 * price is the converse: two acquires racing at the limit may both see each other and both
 * refuse. The only uncounted admissions are the documented fail-open cases (table full around
 * the key, a column at UINT16_MAX, or too many retries). */
#include "common/shm.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* State word: bits 0-1 tag, bits 2-17 owning column (CLAIMING only), bits 18-63 sequence. */
enum { ST_EMPTY, ST_FREE, ST_CLAIMING, ST_READY };
#define ST_TAG(s) ((unsigned)((s)&3u))
#define ST_COL(s) ((unsigned)(((s) >> 2) & 0xffffu))
#define ST_SEQ_SHIFT 18

_Static_assert(SHM_COLUMNS <= 0x10000, "a column must fit the state word");
_Static_assert((SHM_IP_ENTRIES & (SHM_IP_ENTRIES - 1)) == 0, "SHM_IP_ENTRIES: a power of two");
_Static_assert(SHM_IP_PROBES <= SHM_IP_ENTRIES, "a probe sequence visits an entry once");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_SHORT_LOCK_FREE == 2,
               "shared atomics must be lock-free: a lock there could be held by a dead process");

/* How many times an acquire starts over after losing a race before it fails open. */
#define ACQ_ROUNDS 8

/* A client: an IPv4 address as ::ffff:a.b.c.d, or an IPv6 /64 with the interface half zeroed.
 * The two never meet: a /64 key has zero low bytes, a mapped one has 0xffff in bytes 10-11. */
struct ip_key {
    uint64_t w[2];
};

struct ip_entry {
    _Atomic uint64_t state;
    _Atomic uint64_t key[2];             /* written only while its writer holds CLAIMING */
    _Atomic uint16_t count[SHM_COLUMNS]; /* written by the column's owner; cleared by the master */
};

struct shm {
    uint64_t seed;   /* hash key, set before fork: clients cannot aim at one probe window */
    int64_t created; /* wall clock, Unix seconds (the master's start) */
    struct ip_entry ip[SHM_IP_ENTRIES];
    struct shm_worker workers[SHM_COLUMNS];
};

enum acq_result { ACQ_REFUSED = -1, ACQ_COUNTED = 0, ACQ_OPEN = 1, ACQ_RETRY = 2 };

struct shm_worker *
shm_worker(struct shm *shm, int column)
{
    return &shm->workers[column];
}

int64_t
shm_created(const struct shm *shm)
{
    return shm->created;
}

const char *
shm_worker_state_name(uint32_t state)
{
    static const char *const names[] = {"starting", "waiting for events", "handling events",
                                        "expiring timeouts"};
    return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

struct shm *
shm_create(void)
{
    /* A fresh anonymous mapping is zero-filled: every entry EMPTY with zero counts. */
    struct shm *shm =
        mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED)
        return NULL;
    uint64_t seed;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)ts.tv_sec ^
               (uint64_t)getpid() << 32;
    }
    shm->seed = seed;
    shm->created = (int64_t)time(NULL);
    return shm;
}

void
shm_destroy(struct shm *shm)
{
    if (shm)
        munmap(shm, sizeof(*shm));
}

void *
shm_ip_table(struct shm *shm, size_t *len)
{
    *len = sizeof(shm->ip);
    return shm->ip;
}

static uint64_t
st_next(uint64_t s, unsigned column, unsigned tag)
{
    uint64_t seq = (s >> ST_SEQ_SHIFT) + 1;
    return seq << ST_SEQ_SHIFT | (uint64_t)(column & 0xffffu) << 2 | tag;
}

static bool
key_of(const struct sockaddr *sa, struct ip_key *k)
{
    uint8_t b[16] = {0};
    if (sa->sa_family == AF_INET) {
        b[10] = b[11] = 0xff;
        memcpy(b + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        memcpy(b, a, IN6_IS_ADDR_V4MAPPED(a) ? 16 : 8);
    } else {
        return false;
    }
    memcpy(k->w, b, sizeof(b));
    return true;
}

static uint64_t
mix(uint64_t x)
{
    x ^= x >> 30; /* splitmix64's finaliser */
    x *= 0xbf58476d1ce4e5b9u;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static uint32_t
key_hash(const struct shm *shm, const struct ip_key *k)
{
    return (uint32_t)(mix(mix(shm->seed ^ k->w[0]) ^ k->w[1]) >> 32);
}

static struct ip_entry *
probe(struct shm *shm, uint32_t h, int i)
{
    return &shm->ip[(h + (uint32_t)i) & (SHM_IP_ENTRIES - 1)];
}

static bool
key_eq(struct ip_entry *e, const struct ip_key *k)
{
    return atomic_load_explicit(&e->key[0], memory_order_relaxed) == k->w[0] &&
           atomic_load_explicit(&e->key[1], memory_order_relaxed) == k->w[1];
}

static int64_t
entry_total(struct ip_entry *e)
{
    int64_t sum = 0;
    for (int i = 0; i < SHM_COLUMNS; i++)
        sum += atomic_load(&e->count[i]);
    return sum;
}

/* Connections counted for k: every entry of its window that holds k. Duplicates (two processes
 * claiming an entry for one new client at once) are summed, so they are harmless. A CLAIMING
 * entry counts when its key matches: either a freer is looking at it (key and counts intact)
 * or a claimer is keying it (counts zero, so even a half-written key that happens to match adds
 * nothing but another acquire's transient increment). Claims fill a window from its start, and
 * EMPTY never comes back, so no entry of k lies past an EMPTY one. */
static int64_t
window_total(struct shm *shm, uint32_t h, const struct ip_key *k)
{
    int64_t sum = 0;
    for (int i = 0; i < SHM_IP_PROBES; i++) {
        struct ip_entry *e = probe(shm, h, i);
        unsigned tag = ST_TAG(atomic_load(&e->state));
        if (tag == ST_EMPTY)
            break;
        if ((tag == ST_READY || tag == ST_CLAIMING) && key_eq(e, k))
            sum += entry_total(e);
    }
    return sum;
}

/* Take the READY entry e (state s) out of use if nobody counts in it. An acquire that saw s
 * before our CAS has already incremented (it checks the state after its increment), so the
 * second total sees it and the entry stays READY, key intact; one that looks later sees the
 * state changed and undoes its increment. Returns the CLAIMING state we hold, or 0 when the
 * entry stays as it is (in use, or someone else changed it first). */
static uint64_t
take_if_unused(struct ip_entry *e, uint64_t s, unsigned column)
{
    if (ST_TAG(s) != ST_READY || entry_total(e) != 0)
        return 0;
    uint64_t claiming = st_next(s, column, ST_CLAIMING);
    if (!atomic_compare_exchange_strong(&e->state, &s, claiming))
        return 0;
    if (entry_total(e) == 0)
        return claiming;
    atomic_store(&e->state, st_next(claiming, column, ST_READY));
    return 0;
}

/* Key a FREE or EMPTY entry (state s), or one take_if_unused gave us (s is CLAIMING), for k.
 * Returns its READY state, or 0 when another process took it first. */
static uint64_t
claim(struct ip_entry *e, uint64_t s, unsigned column, const struct ip_key *k)
{
    if (ST_TAG(s) != ST_CLAIMING) {
        uint64_t claiming = st_next(s, column, ST_CLAIMING);
        if (!atomic_compare_exchange_strong(&e->state, &s, claiming))
            return 0;
        s = claiming;
    }
    atomic_store_explicit(&e->key[0], k->w[0], memory_order_relaxed);
    atomic_store_explicit(&e->key[1], k->w[1], memory_order_relaxed);
    uint64_t ready = st_next(s, column, ST_READY);
    atomic_store(&e->state, ready); /* publishes the key */
    return ready;
}

/* The window has no EMPTY or FREE entry: reuse one whose counts all went to zero without a
 * release to free it (its worker died and the master cleared the column). Bounded by the
 * window; only a window full of live clients pays for the whole scan. */
static struct ip_entry *
reclaim(struct shm *shm, uint32_t h, unsigned column, uint64_t *state)
{
    for (int i = 0; i < SHM_IP_PROBES; i++) {
        struct ip_entry *e = probe(shm, h, i);
        uint64_t s = take_if_unused(e, atomic_load(&e->state), column);
        if (s != 0) {
            *state = s;
            return e;
        }
    }
    return NULL;
}

static void
undo(_Atomic uint16_t *count)
{
    if (atomic_load_explicit(count, memory_order_relaxed) > 0) /* only this process writes it */
        atomic_fetch_sub(count, 1);
}

/* Add one in e (READY, state s) for our column, then check the limit (see the top comment). */
static enum acq_result
count_in(struct shm *shm, struct ip_entry *e, uint64_t s, unsigned column, uint32_t h,
         const struct ip_key *k, int limit)
{
    _Atomic uint16_t *mine = &e->count[column];
    if (atomic_load_explicit(mine, memory_order_relaxed) == UINT16_MAX)
        return ACQ_OPEN;
    atomic_fetch_add(mine, 1);
    if (atomic_load(&e->state) != s) {
        undo(mine); /* freed or re-keyed under us */
        return ACQ_RETRY;
    }
    if (window_total(shm, h, k) > limit) {
        undo(mine);
        return ACQ_REFUSED;
    }
    return ACQ_COUNTED;
}

static enum acq_result
try_acquire(struct shm *shm, unsigned column, uint32_t h, const struct ip_key *k, int limit)
{
    struct ip_entry *spare = NULL;
    uint64_t spare_state = 0;
    for (int i = 0; i < SHM_IP_PROBES; i++) {
        struct ip_entry *e = probe(shm, h, i);
        uint64_t s = atomic_load(&e->state);
        unsigned tag = ST_TAG(s);
        if (tag == ST_READY && key_eq(e, k))
            return count_in(shm, e, s, column, h, k, limit);
        if ((tag == ST_EMPTY || tag == ST_FREE) && spare == NULL) {
            spare = e;
            spare_state = s;
        }
        if (tag == ST_EMPTY)
            break;
        /* CLAIMING: skipped; if it is being keyed for k too, the duplicate is summed. */
    }
    if (spare == NULL && (spare = reclaim(shm, h, column, &spare_state)) == NULL)
        return ACQ_OPEN; /* the window is full of live clients: fail open */
    uint64_t ready = claim(spare, spare_state, column, k);
    if (ready == 0)
        return ACQ_RETRY;
    return count_in(shm, spare, ready, column, h, k, limit);
}

int
shm_ip_acquire(struct shm *shm, int column, const struct sockaddr *sa, int limit)
{
    struct ip_key k;
    if ((unsigned)column >= SHM_COLUMNS || !key_of(sa, &k))
        return ACQ_OPEN;
    uint32_t h = key_hash(shm, &k);
    for (int round = 0; round < ACQ_ROUNDS; round++) {
        enum acq_result rc = try_acquire(shm, (unsigned)column, h, &k, limit);
        if (rc != ACQ_RETRY)
            return rc;
    }
    return ACQ_OPEN;
}

/* Our count in an entry can only be there through our own acquire, and an entry is re-keyed
 * only after its total was seen at zero, so an entry where our column is non-zero keeps its key
 * while we look at it: the key compare is stable whatever its state. */
void
shm_ip_release(struct shm *shm, int column, const struct sockaddr *sa)
{
    struct ip_key k;
    if ((unsigned)column >= SHM_COLUMNS || !key_of(sa, &k))
        return;
    uint32_t h = key_hash(shm, &k);
    for (int i = 0; i < SHM_IP_PROBES; i++) {
        struct ip_entry *e = probe(shm, h, i);
        uint64_t s = atomic_load(&e->state);
        if (ST_TAG(s) == ST_EMPTY)
            return;
        _Atomic uint16_t *mine = &e->count[column];
        if (atomic_load_explicit(mine, memory_order_relaxed) == 0 || !key_eq(e, &k))
            continue;
        if (atomic_fetch_sub(mine, 1) == 1) {
            /* Our last one here: free the entry if it was everyone's last, so addresses seen
             * once do not fill the table. */
            uint64_t taken = take_if_unused(e, atomic_load(&e->state), (unsigned)column);
            if (taken != 0)
                atomic_store(&e->state, st_next(taken, (unsigned)column, ST_FREE));
        }
        return;
    }
}

/* The master's side: one pass of plain atomic stores, whatever a worker wrote. A CLAIMING entry
 * of the dead column is left READY: its key is either intact (it died checking a free) or some
 * value with zero counts, which is merely a reusable entry for an unlikely client. */
void
shm_ip_clear_column(struct shm *shm, int column)
{
    if ((unsigned)column >= SHM_COLUMNS)
        return;
    for (int i = 0; i < SHM_IP_ENTRIES; i++) {
        struct ip_entry *e = &shm->ip[i];
        atomic_store_explicit(&e->count[column], 0, memory_order_relaxed);
        uint64_t s = atomic_load_explicit(&e->state, memory_order_relaxed);
        if (ST_TAG(s) == ST_CLAIMING && ST_COL(s) == (unsigned)column)
            atomic_store(&e->state, st_next(s, (unsigned)column, ST_READY));
    }
}

int
shm_ip_count(struct shm *shm, const struct sockaddr *sa)
{
    struct ip_key k;
    if (!key_of(sa, &k))
        return 0;
    int64_t n = window_total(shm, key_hash(shm, &k), &k);
    return n > INT32_MAX ? INT32_MAX : (int)n;
}
