/* Unit tests for common/shm.c: the lock-free per-client connection table behind
 * max_connections_per_ip (limits, columns, IPv6 /64 grouping, IPv4-mapped addresses, a full
 * table failing open, entry reuse, a hostile worker's garbage, and exact counts under
 * concurrent acquire/release from several processes). */
#include "common/shm.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG_LIMIT 1000000

/* A socket address for a numeric IPv4 or IPv6 address. */
static struct sockaddr_storage
addr(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(1234);
    } else {
        ck_assert_msg(inet_pton(AF_INET6, text, &in6->sin6_addr) == 1, "bad address %s", text);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(4321);
    }
    return ss;
}

/* The i-th of many distinct IPv4 clients, 10.0.0.0/8. */
static struct sockaddr_storage
nth_v4(uint32_t i)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(0x0a000000u | (i & 0xffffffu));
    return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static struct shm *
make(void)
{
    struct shm *shm = shm_create();
    ck_assert_ptr_nonnull(shm);
    return shm;
}

START_TEST(acquire_release_limit)
{
    struct shm *shm = make();
    struct sockaddr_storage a = addr("192.0.2.1"), b = addr("192.0.2.2");
    ck_assert_int_eq(shm_ip_acquire(shm, 0, SA(a), 3), 0);
    ck_assert_int_eq(shm_ip_acquire(shm, 1, SA(a), 3), 0);
    ck_assert_int_eq(shm_ip_acquire(shm, 2, SA(a), 3), 0);
    ck_assert_int_eq(shm_ip_count(shm, SA(a)), 3);
    ck_assert_int_eq(shm_ip_acquire(shm, 3, SA(a), 3), -1); /* the 4th, in any column */
    ck_assert_int_eq(shm_ip_acquire(shm, 0, SA(a), 3), -1);
    ck_assert_int_eq(shm_ip_count(shm, SA(a)), 3);         /* a refusal counts nothing */
    ck_assert_int_eq(shm_ip_acquire(shm, 0, SA(b), 3), 0); /* another client is not affected */
    ck_assert_int_eq(shm_ip_count(shm, SA(b)), 1);
    shm_ip_release(shm, 1, SA(a));
    ck_assert_int_eq(shm_ip_count(shm, SA(a)), 2);
    ck_assert_int_eq(shm_ip_acquire(shm, 3, SA(a), 3), 0);
    shm_ip_release(shm, 0, SA(a));
    shm_ip_release(shm, 2, SA(a));
    shm_ip_release(shm, 3, SA(a));
    ck_assert_int_eq(shm_ip_count(shm, SA(a)), 0);
    ck_assert_int_eq(shm_ip_count(shm, SA(b)), 1);
    /* limit 1, and a lowered limit refuses while more are counted */
    ck_assert_int_eq(shm_ip_acquire(shm, 5, SA(a), 1), 0);
    ck_assert_int_eq(shm_ip_acquire(shm, 5, SA(a), 1), -1);
    ck_assert_int_eq(shm_ip_acquire(shm, 5, SA(b), 0), -1);
    shm_destroy(shm);
}
END_TEST

START_TEST(release_of_what_was_not_counted)
{
    struct shm *shm = make();
    struct sockaddr_storage a = addr("192.0.2.1"), b = addr("2001:db8::1");
    shm_ip_release(shm, 0, SA(a)); /* never acquired */
    ck_assert_int_eq(shm_ip_count(shm, SA(a)), 0);
    ck_assert_int_eq(shm_ip_acquire(shm, 0, SA(a), 2), 0);
    shm_ip_release(shm, 1, SA(a)); /* another column: nothing of ours there */
    shm_ip_release(shm, 0, SA(b)); /* another client */
    ck_assert_int_eq(shm_ip_count(shm, SA(a)), 1);
    shm_ip_release(shm, 0, SA(a));
    shm_ip_release(shm, 0, SA(a)); /* one too many: no underflow */
    ck_assert_int_eq(shm_ip_count(shm, SA(a)), 0);
    ck_assert_int_eq(shm_ip_acquire(shm, 0, SA(a), 1), 0);
    ck_assert_int_eq(shm_ip_acquire(shm, 0, SA(a), 1), -1);
    shm_destroy(shm);
}
END_TEST

START_TEST(other_families_and_bad_columns)
{
    struct shm *shm = make();
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    ck_assert_int_eq(shm_ip_acquire(shm, 0, (struct sockaddr *)&un, 1), 1);
    ck_assert_int_eq(shm_ip_count(shm, (struct sockaddr *)&un), 0);
    shm_ip_release(shm, 0, (struct sockaddr *)&un);
    struct sockaddr_storage a = addr("192.0.2.9");
    ck_assert_int_eq(shm_ip_acquire(shm, -1, SA(a), 1), 1);
    ck_assert_int_eq(shm_ip_acquire(shm, SHM_COLUMNS, SA(a), 1), 1);
    ck_assert_int_eq(shm_ip_acquire(shm, INT32_MIN, SA(a), 1), 1);
    shm_ip_release(shm, -1, SA(a));
    shm_ip_release(shm, SHM_COLUMNS, SA(a));
    shm_ip_clear_column(shm, -1);
    shm_ip_clear_column(shm, SHM_COLUMNS);
    shm_ip_clear_column(shm, INT32_MAX);
    ck_assert_int_eq(shm_ip_count(shm, SA(a)), 0);
    ck_assert_int_eq(shm_ip_acquire(shm, SHM_COLUMNS - 1, SA(a), 1), 0);
    ck_assert_int_eq(shm_ip_count(shm, SA(a)), 1);
    shm_destroy(shm);
}
END_TEST

START_TEST(column_cleared)
{
    struct shm *shm = make();
    struct sockaddr_storage a = addr("198.51.100.7"), b = addr("2001:db8:5::1");
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(shm_ip_acquire(shm, 5, SA(a), 4), 0);
    ck_assert_int_eq(shm_ip_acquire(shm, 6, SA(a), 4), 0);
    ck_assert_int_eq(shm_ip_acquire(shm, 5, SA(b), 4), 0);
    ck_assert_int_eq(shm_ip_acquire(shm, 6, SA(a), 4), -1);
    shm_ip_clear_column(shm, 5); /* column 5's worker died */
    ck_assert_int_eq(shm_ip_count(shm, SA(a)), 1);
    ck_assert_int_eq(shm_ip_count(shm, SA(b)), 0);
    shm_ip_release(shm, 5, SA(a)); /* a late release of a cleared count changes nothing */
    ck_assert_int_eq(shm_ip_count(shm, SA(a)), 1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(shm_ip_acquire(shm, 7, SA(a), 4), 0);
    ck_assert_int_eq(shm_ip_acquire(shm, 7, SA(a), 4), -1);
    /* the column's next owner starts from zero */
    ck_assert_int_eq(shm_ip_acquire(shm, 5, SA(b), 1), 0);
    ck_assert_int_eq(shm_ip_count(shm, SA(b)), 1);
    shm_destroy(shm);
}
END_TEST

START_TEST(ipv6_counted_per_slash_64)
{
    struct shm *shm = make();
    struct sockaddr_storage a1 = addr("2001:db8:1:2::1"), a2 = addr("2001:db8:1:2:ffff:1:2:3"),
                            a3 = addr("2001:db8:1:2:8000::"), other = addr("2001:db8:1:3::1");
    ck_assert_int_eq(shm_ip_acquire(shm, 0, SA(a1), 3), 0);
    ck_assert_int_eq(shm_ip_acquire(shm, 1, SA(a2), 3), 0);
    ck_assert_int_eq(shm_ip_acquire(shm, 2, SA(a3), 3), 0);
    ck_assert_int_eq(shm_ip_count(shm, SA(a1)), 3);
    ck_assert_int_eq(shm_ip_acquire(shm, 0, SA(a2), 3), -1); /* one client owns the /64 */
    ck_assert_int_eq(shm_ip_acquire(shm, 0, SA(other), 3), 0);
    ck_assert_int_eq(shm_ip_count(shm, SA(other)), 1);
    shm_ip_release(shm, 0, SA(a3)); /* any address of the /64 releases its count */
    ck_assert_int_eq(shm_ip_count(shm, SA(a2)), 2);
    ck_assert_int_eq(shm_ip_acquire(shm, 0, SA(a2), 3), 0);
    /* ::1 is the /64 ::/64, which IPv4 clients never share */
    struct sockaddr_storage lo6 = addr("::1"), zero4 = addr("0.0.0.0");
    ck_assert_int_eq(shm_ip_acquire(shm, 0, SA(lo6), 1), 0);
    ck_assert_int_eq(shm_ip_acquire(shm, 0, SA(zero4), 1), 0);
    ck_assert_int_eq(shm_ip_count(shm, SA(lo6)), 1);
    ck_assert_int_eq(shm_ip_count(shm, SA(zero4)), 1);
    shm_destroy(shm);
}
END_TEST

START_TEST(ipv4_mapped_counts_as_ipv4)
{
    struct shm *shm = make();
    struct sockaddr_storage v4 = addr("203.0.113.5"), mapped = addr("::ffff:203.0.113.5"),
                            compat = addr("::203.0.113.5"), next = addr("::ffff:203.0.113.6");
    ck_assert_int_eq(shm_ip_acquire(shm, 0, SA(v4), 2), 0);
    ck_assert_int_eq(shm_ip_acquire(shm, 1, SA(mapped), 2), 0);
    ck_assert_int_eq(shm_ip_count(shm, SA(v4)), 2);
    ck_assert_int_eq(shm_ip_count(shm, SA(mapped)), 2);
    ck_assert_int_eq(shm_ip_acquire(shm, 2, SA(v4), 2), -1);
    ck_assert_int_eq(shm_ip_acquire(shm, 2, SA(mapped), 2), -1);
    /* mapped addresses are whole IPv4 clients, not one /64 */
    ck_assert_int_eq(shm_ip_acquire(shm, 2, SA(next), 2), 0);
    /* a deprecated IPv4-compatible address is an IPv6 address of ::/64 */
    ck_assert_int_eq(shm_ip_acquire(shm, 2, SA(compat), 2), 0);
    ck_assert_int_eq(shm_ip_count(shm, SA(v4)), 2);
    shm_ip_release(shm, 1, SA(v4)); /* counted as mapped, released as plain IPv4 */
    ck_assert_int_eq(shm_ip_count(shm, SA(mapped)), 1);
    shm_destroy(shm);
}
END_TEST

/* Fill the table with live clients until one fails open; returns how many were counted. */
static uint32_t
fill(struct shm *shm, int column, uint32_t first)
{
    for (uint32_t i = 0; i <= SHM_IP_ENTRIES; i++) {
        struct sockaddr_storage a = nth_v4(first + i);
        int rc = shm_ip_acquire(shm, column, SA(a), BIG_LIMIT);
        if (rc == 1) {
            ck_assert_int_eq(shm_ip_count(shm, SA(a)), 0); /* nothing to release */
            ck_assert_int_eq(shm_ip_acquire(shm, column, SA(a), 1), 1);
            return i;
        }
        if (rc != 0) /* not ck_assert: each one writes to Check's pipe, thousands here */
            ck_abort_msg("client %u: %d", (unsigned)i, rc);
    }
    ck_abort_msg("%d entries never filled up", SHM_IP_ENTRIES);
    return 0;
}

START_TEST(table_full_fails_open_and_entries_are_reused)
{
    struct shm *shm = make();
    uint32_t n = fill(shm, 3, 0);
    ck_assert_uint_gt(n, SHM_IP_ENTRIES / 2);
    for (uint32_t i = 0; i < n; i++) {
        struct sockaddr_storage a = nth_v4(i);
        ck_assert_int_eq(shm_ip_count(shm, SA(a)), 1);
        ck_assert_int_eq(shm_ip_acquire(shm, 4, SA(a), 1), -1); /* limits still hold */
        shm_ip_release(shm, 3, SA(a));
    }
    /* every count went back to zero: the entries are free for clients never seen before */
    ck_assert_uint_gt(fill(shm, 3, 100000), SHM_IP_ENTRIES / 2);
    shm_destroy(shm);
}
END_TEST

START_TEST(entries_of_a_cleared_column_are_reused)
{
    struct shm *shm = make();
    uint32_t n = fill(shm, 9, 0);
    ck_assert_uint_gt(n, SHM_IP_ENTRIES / 2);
    shm_ip_clear_column(shm, 9); /* its worker died holding every entry: no release ran */
    struct sockaddr_storage old = nth_v4(1);
    ck_assert_int_eq(shm_ip_count(shm, SA(old)), 0);
    /* Without reuse only the EMPTY rest (4096 - n, about 800) would be left. A fill fails at
     * the first crowded window, which is around 3,000 clients whatever the seed. */
    ck_assert_uint_gt(fill(shm, 10, 500000), SHM_IP_ENTRIES / 2);
    ck_assert_int_eq(shm_ip_count(shm, SA(old)), 0);
    shm_destroy(shm);
}
END_TEST

START_TEST(column_saturates_open)
{
    struct shm *shm = make();
    struct sockaddr_storage a = addr("192.0.2.77");
    for (int i = 0; i < UINT16_MAX; i++)
        if (shm_ip_acquire(shm, 0, SA(a), BIG_LIMIT) != 0)
            ck_abort_msg("acquire %d failed", i);
    ck_assert_int_eq(shm_ip_acquire(shm, 0, SA(a), BIG_LIMIT), 1); /* no wrap to zero */
    ck_assert_int_eq(shm_ip_count(shm, SA(a)), UINT16_MAX);
    ck_assert_int_eq(shm_ip_acquire(shm, 1, SA(a), BIG_LIMIT), 0);
    ck_assert_int_eq(shm_ip_count(shm, SA(a)), UINT16_MAX + 1);
    shm_destroy(shm);
}
END_TEST

/* xorshift64: reproducible garbage. */
static uint64_t
next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* What a hostile worker can do to the table: write anything. Whatever it wrote, the master's
 * clear_column and count finish (the test's timeout catches a loop) without a crash, the other
 * calls stay bounded too, and once every column is cleared the table counts correctly again. */
static void
scribble_and_survive(int pattern)
{
    struct shm *shm = make();
    size_t len;
    uint8_t *table = shm_ip_table(shm, &len);
    ck_assert_uint_gt(len, 0);
    uint64_t seed = 0x9e3779b97f4a7c15u * (uint64_t)(pattern + 1);
    for (size_t i = 0; i < len; i++) {
        switch (pattern) {
        case 0:
            table[i] = 0xff;
            break;
        case 1:
            /* state words 0b10 (CLAIMING) with random owners, counts random */
            table[i] = (uint8_t)(next_rand(&seed) & (i % 8 == 0 ? 0xfe : 0xff));
            break;
        default:
            table[i] = (uint8_t)next_rand(&seed);
            break;
        }
    }
    struct sockaddr_storage probe[64];
    for (int i = 0; i < 64; i++)
        probe[i] = i % 2 ? nth_v4((uint32_t)i) : addr(i % 4 ? "2001:db8::1" : "::ffff:1.2.3.4");
    for (int i = 0; i < 64; i++) {
        (void)shm_ip_count(shm, SA(probe[i]));
        int rc = shm_ip_acquire(shm, i, SA(probe[i]), 3);
        ck_assert(rc >= -1 && rc <= 1);
        if (rc == 0)
            shm_ip_release(shm, i, SA(probe[i]));
    }
    for (int c = 0; c < SHM_COLUMNS; c++)
        shm_ip_clear_column(shm, c);
    /* Only garbage with zero counts is left: every client is counted exactly again. */
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage a = nth_v4(1000 + (uint32_t)i);
        ck_assert_int_eq(shm_ip_count(shm, SA(a)), 0);
        ck_assert_int_eq(shm_ip_acquire(shm, 1, SA(a), 1), 0);
        ck_assert_int_eq(shm_ip_acquire(shm, 2, SA(a), 1), -1);
        ck_assert_int_eq(shm_ip_count(shm, SA(a)), 1);
        shm_ip_release(shm, 1, SA(a));
        ck_assert_int_eq(shm_ip_count(shm, SA(a)), 0);
    }
    shm_destroy(shm);
}

START_TEST(garbage_in_the_table)
{
    scribble_and_survive(_i);
}
END_TEST

#define HAMMER_PROCS 8
#define HAMMER_ROUNDS 100000
#define HAMMER_CLIENTS 8

static const char *const hammer_clients[HAMMER_CLIENTS] = {
    "192.0.2.1", "::ffff:192.0.2.2", "2001:db8:7:7::1",   "2001:db8:7:8::1", "10.9.8.7",
    "::1",       "198.51.100.1",     "2001:db8:ffff:1::1"};

/* The other names of the clients: they must land on the same count. */
static const char *const hammer_aliases[HAMMER_CLIENTS] = {
    "::ffff:192.0.2.1", "192.0.2.2", "2001:db8:7:7:abcd::5", "2001:db8:7:8:1::",
    "::ffff:10.9.8.7",  "::2",       "::ffff:198.51.100.1",  "2001:db8:ffff:1:8::"};

/* Fork HAMMER_PROCS children, each owning a column, that acquire and release at random,
 * releasing with `release_pct` % odds when they hold one (high odds keep counts flipping between
 * 0 and 1, so entries are freed and claimed again under contention). Each child writes what it
 * still holds into `held` and exits 0 unless the limit was overrun. */
static void
hammer(struct shm *shm, int limit, int release_pct, _Atomic int *live, int *held)
{
    struct sockaddr_storage names[HAMMER_CLIENTS][2];
    for (int c = 0; c < HAMMER_CLIENTS; c++) {
        names[c][0] = addr(hammer_clients[c]);
        names[c][1] = addr(hammer_aliases[c]);
    }
    pid_t pids[HAMMER_PROCS];
    for (int p = 0; p < HAMMER_PROCS; p++) {
        pids[p] = fork();
        ck_assert_int_ge(pids[p], 0);
        if (pids[p] > 0)
            continue;
        /* No ck_assert in here: each one writes to Check's pipe, which would slow the loop
         * down to where races rarely happen. */
        uint64_t seed = 0x1234567u + (uint64_t)p * 7919u;
        int mine[HAMMER_CLIENTS] = {0};
        int bad = 0;
        for (int r = 0; r < HAMMER_ROUNDS; r++) {
            int c = (int)(next_rand(&seed) % HAMMER_CLIENTS);
            const struct sockaddr_storage *a = &names[c][next_rand(&seed) & 1];
            if (mine[c] > 0 && ((int)(next_rand(&seed) % 100) < release_pct || r % 97 == 0)) {
                atomic_fetch_sub(&live[c], 1); /* before the release: live never overstates */
                shm_ip_release(shm, p, (const struct sockaddr *)a);
                mine[c]--;
            } else {
                int rc = shm_ip_acquire(shm, p, (const struct sockaddr *)a, limit);
                if (rc == 1)
                    bad = 2; /* nothing here should fail open */
                if (rc == 0) {
                    mine[c]++;
                    if (atomic_fetch_add(&live[c], 1) + 1 > limit)
                        bad = 1; /* over-admission */
                }
            }
        }
        for (int c = 0; c < HAMMER_CLIENTS; c++)
            held[p * HAMMER_CLIENTS + c] = mine[c];
        _exit(bad);
    }
    for (int p = 0; p < HAMMER_PROCS; p++) {
        int status;
        ck_assert_int_eq(waitpid(pids[p], &status, 0), pids[p]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "child %d: status %#x (1 = over the limit, 2 = failed open)", p, status);
    }
}

static void
hammer_and_check(int limit, int release_pct)
{
    struct shm *shm = make();
    size_t shared_len =
        sizeof(_Atomic int) * HAMMER_CLIENTS + sizeof(int) * HAMMER_PROCS * HAMMER_CLIENTS;
    void *shared =
        mmap(NULL, shared_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(shared, MAP_FAILED);
    _Atomic int *live = shared;
    int *held = (int *)(live + HAMMER_CLIENTS);
    hammer(shm, limit, release_pct, live, held);
    for (int c = 0; c < HAMMER_CLIENTS; c++) {
        int sum = 0;
        for (int p = 0; p < HAMMER_PROCS; p++)
            sum += held[p * HAMMER_CLIENTS + c];
        ck_assert_int_le(sum, limit);
        struct sockaddr_storage a = addr(hammer_clients[c]);
        ck_assert_msg(shm_ip_count(shm, SA(a)) == sum, "client %s: counted %d, held %d",
                      hammer_clients[c], shm_ip_count(shm, SA(a)), sum);
    }
    /* and every count is released exactly */
    for (int p = 0; p < HAMMER_PROCS; p++)
        for (int c = 0; c < HAMMER_CLIENTS; c++)
            for (int k = 0; k < held[p * HAMMER_CLIENTS + c]; k++) {
                struct sockaddr_storage a = addr(hammer_aliases[c]);
                shm_ip_release(shm, p, SA(a));
            }
    for (int c = 0; c < HAMMER_CLIENTS; c++) {
        struct sockaddr_storage a = addr(hammer_clients[c]);
        ck_assert_int_eq(shm_ip_count(shm, SA(a)), 0);
    }
    munmap(shared, shared_len);
    shm_destroy(shm);
}

START_TEST(concurrent_counts_are_exact)
{
    hammer_and_check(BIG_LIMIT, 45);
}
END_TEST

START_TEST(concurrent_churn_frees_and_reclaims_exactly)
{
    hammer_and_check(BIG_LIMIT, 90);
}
END_TEST

START_TEST(concurrent_never_over_the_limit)
{
    hammer_and_check(5, 45);
}
END_TEST

Suite *
shm_suite(void)
{
    Suite *s = suite_create("shm");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, acquire_release_limit);
    tcase_add_test(tc, release_of_what_was_not_counted);
    tcase_add_test(tc, other_families_and_bad_columns);
    tcase_add_test(tc, column_cleared);
    tcase_add_test(tc, ipv6_counted_per_slash_64);
    tcase_add_test(tc, ipv4_mapped_counts_as_ipv4);
    tcase_add_test(tc, table_full_fails_open_and_entries_are_reused);
    tcase_add_test(tc, entries_of_a_cleared_column_are_reused);
    tcase_add_test(tc, column_saturates_open);
    tcase_add_loop_test(tc, garbage_in_the_table, 0, 4);
    suite_add_tcase(s, tc);
    TCase *conc = tcase_create("concurrent");
    tcase_set_timeout(conc, 60);
    tcase_add_test(conc, concurrent_counts_are_exact);
    tcase_add_test(conc, concurrent_churn_frees_and_reclaims_exactly);
    tcase_add_test(conc, concurrent_never_over_the_limit);
    suite_add_tcase(s, conc);
    return s;
}
