/* Test module: dies in module code on request. ?do=segv writes through a null pointer, ?do=abort
 * calls abort(); anything else is answered 200 "ok". For the isolation tests (test_apps_ops.c). */
#include <sluice.h>

#include <stdlib.h>
#include <string.h>

static int
query_is(const struct sl_req *req, const char *want)
{
    struct sl_str q = sl_req_query(req);
    return q.len == strlen(want) && memcmp(q.ptr, want, q.len) == 0;
}

/* A real SIGSEGV, also in the sanitizer build: UBSan would report the null store and exit
 * instead, so it is told to look away here. */
__attribute__((no_sanitize("undefined"))) static void
write_through_null(void)
{
    volatile int *volatile nowhere = NULL;
    *nowhere = 1;
}

static int
crash_request(struct sl_req *req)
{
    if (query_is(req, "do=segv"))
        write_through_null();
    if (query_is(req, "do=abort"))
        abort();
    sl_resp_header(req, "Content-Type", "text/plain");
    sl_resp_send(req, "ok", 2);
    return SL_DONE;
}

const struct sl_app_hooks sluice_app = {.abi = SL_ABI_VERSION, .request = crash_request};
