/* Shared memory region (see shm.h). The per-address table is small and touched once per accept
 * and close, so a process-shared robust mutex guards it: simple, and a worker that dies while
 * holding it (EOWNERDEAD) cannot wedge the others. */
#include "common/shm.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

struct ip_entry {
    uint8_t used; /* ever used: lookups probe past it even when its counts are all zero */
    uint8_t family;
    uint8_t addr[16];
    uint16_t count[SHM_COLUMNS];
};

struct shm {
    pthread_mutex_t ip_lock;
    struct ip_entry ip[SHM_IP_ENTRIES];
    struct shm_worker workers[SHM_COLUMNS];
};

struct shm_worker *
shm_worker(struct shm *shm, int column)
{
    return &shm->workers[column];
}

const char *
shm_worker_state_name(uint32_t state)
{
    static const char *const names[] = {"starting", "waiting for events", "handling events",
                                        "expiring timeouts", "stopping"};
    return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

struct shm *
shm_create(void)
{
    struct shm *shm =
        mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED)
        return NULL;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(&shm->ip_lock, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) {
        munmap(shm, sizeof(*shm));
        errno = rc;
        return NULL;
    }
    return shm;
}

static void
lock(struct shm *shm)
{
    if (pthread_mutex_lock(&shm->ip_lock) == EOWNERDEAD)
        pthread_mutex_consistent(&shm->ip_lock); /* counts are plain integers: still usable */
}

static void
unlock(struct shm *shm)
{
    pthread_mutex_unlock(&shm->ip_lock);
}

/* The address bytes of sa (16 for v6, 4 for v4); 0 for other families. */
static size_t
key_of(const struct sockaddr *sa, const uint8_t **key)
{
    if (sa->sa_family == AF_INET) {
        *key = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        return 4;
    }
    if (sa->sa_family == AF_INET6) {
        *key = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
        return 16;
    }
    return 0;
}

static uint32_t
hash(const uint8_t *key, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ key[i]) * 16777619u;
    return h;
}

static int
total(const struct ip_entry *e)
{
    int sum = 0;
    for (int i = 0; i < SHM_COLUMNS; i++)
        sum += e->count[i];
    return sum;
}

/* The entry for sa, or (create) a free one for it; NULL when not found / no room. */
static struct ip_entry *
find(struct shm *shm, const struct sockaddr *sa, bool create)
{
    const uint8_t *key;
    size_t n = key_of(sa, &key);
    struct ip_entry *reuse = NULL;
    if (n == 0)
        return NULL;
    uint32_t h = hash(key, n);
    for (int i = 0; i < SHM_IP_PROBES; i++) {
        struct ip_entry *e = &shm->ip[(h + (uint32_t)i) % SHM_IP_ENTRIES];
        if (!e->used) {
            if (!create)
                return NULL;
            if (reuse == NULL)
                reuse = e;
            break;
        }
        if (e->family == sa->sa_family && memcmp(e->addr, key, n) == 0)
            return e;
        if (create && reuse == NULL && total(e) == 0)
            reuse = e;
    }
    if (reuse) {
        memset(reuse, 0, sizeof(*reuse));
        reuse->used = 1;
        reuse->family = (uint8_t)sa->sa_family;
        memcpy(reuse->addr, key, n);
    }
    return reuse;
}

int
shm_ip_acquire(struct shm *shm, int column, const struct sockaddr *sa, int limit)
{
    const uint8_t *key;
    if (key_of(sa, &key) == 0)
        return 1;
    lock(shm);
    struct ip_entry *e = find(shm, sa, true);
    int rc = 1;
    if (e && total(e) >= limit)
        rc = -1;
    else if (e && e->count[column] < UINT16_MAX) {
        e->count[column]++;
        rc = 0;
    }
    unlock(shm);
    return rc;
}

void
shm_ip_release(struct shm *shm, int column, const struct sockaddr *sa)
{
    lock(shm);
    struct ip_entry *e = find(shm, sa, false);
    if (e && e->count[column] > 0)
        e->count[column]--;
    unlock(shm);
}

void
shm_ip_clear_column(struct shm *shm, int column)
{
    lock(shm);
    for (int i = 0; i < SHM_IP_ENTRIES; i++)
        if (shm->ip[i].used)
            shm->ip[i].count[column] = 0;
    unlock(shm);
}

int
shm_ip_count(struct shm *shm, const struct sockaddr *sa)
{
    lock(shm);
    struct ip_entry *e = find(shm, sa, false);
    int n = e ? total(e) : 0;
    unlock(shm);
    return n;
}
