/* The test application's inside (the files of t/app/, linked into sluice-t only): its counters,
 * which
 * /_t/stats reports, the query helpers and the handlers each file defines. Per-worker state:
 * statics, copied at fork, so each worker counts its own (the tests run one worker). */
#ifndef SLUICE_T_APP_TESTAPP_H
#define SLUICE_T_APP_TESTAPP_H

#include <stdbool.h>
#include <stddef.h>

#include "worker/req.h"

#define APP_VERB(v) (1u << (v))

enum app_counter {
    APP_CANCEL_LATER,    /* cancels of /_t/later (pending or streaming) */
    APP_CANCEL_HANG,     /* cancels of /_t/hang */
    APP_CANCEL_UPLOAD,   /* cancels of /_t/upload */
    APP_HANG_PENDING,    /* /_t/hang requests held now */
    APP_LATER_WAITING,   /* /_t/later requests in their delay now */
    APP_LATER_END,       /* /_t/later streams ended with req_stream_end */
    APP_LATER_FAIL,      /* a req_* call of /_t/later that failed unexpectedly */
    APP_LATER_REENTERED, /* produce called from inside the handler's own req_stream_write */
    APP_MEM_DONE,        /* done callbacks of /_t/mem */
    APP_UPLOAD_STALLED,  /* /_t/upload?stall=1 requests paused now */
    APP_UPLOAD_PIECES,   /* body pieces /_t/upload was given, all requests */
    APP_COUNTERS
};

void app_count(enum app_counter c, long delta);
/* Gauges that are set rather than counted. */
void app_set_stall_bytes(long long bytes);
void app_set_headers_result(int err, int fail_at);

/* The number after "key=" in the query, `def` when absent or not a number. */
long long app_query_num(const struct req *r, const char *key, long long def);
/* The value of "key=" in the query, percent-decoded, NUL-terminated in buf; false when
 * absent (buf then ""). */
bool app_query_str(const struct req *r, const char *key, char *buf, size_t cap);

/* The handlers, registered by testapp.c's constructor. Each lists VERB_OPTIONS in its verbs,
 * as static_handler does: the server answers OPTIONS from `allow`, but only for a route whose
 * verbs hold it (else 405). */
extern const struct handler app_later_handler;  /* later.c: /_t/later */
extern const struct handler app_echo_handler;   /* body.c: /_t/echo */
extern const struct handler app_tiny_handler;   /* body.c: /_t/tiny (max_body 1000) */
extern const struct handler app_upload_handler; /* body.c: /_t/upload */
extern const struct handler app_tinyup_handler; /* body.c: /_t/tinyup (max_body 1000) */
extern const struct handler app_refuse_handler; /* body.c: /_t/refuse */

#endif
