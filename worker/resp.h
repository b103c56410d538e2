/* Responses: the status line and headers for a request, error pages, and the static-file
 * handler that decides what a GET or HEAD gets. */
#ifndef SLUICE_RESP_H
#define SLUICE_RESP_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "worker/http.h"

#define RESP_HEAD_MAX 4096

/* The bytes to send before any file body: header block, and a small body for error pages. */
struct resp {
    size_t len, sent;
    char buf[RESP_HEAD_MAX];
};

/* A file body to send after `resp`: `length` bytes from `offset`; fd -1 when there is none.
 * The fd is handed to the caller, who closes it. */
struct resp_file {
    int fd;
    off_t offset, length;
};

void resp_reset(struct resp *out);

/* Refresh loop.date when `now` is a new second. */
void resp_update_date(time_t now);

/* Build the answer to a parsed request (GET/HEAD of a static file, or an error).
 * Sets *close_after when the connection must close after this response. */
void resp_handle(struct resp *out, const struct http_req *req, struct resp_file *file,
                 bool *close_after);

/* Build an error response with a small HTML body (none for HEAD). */
void resp_error(struct resp *out, const struct http_req *req, int status, bool *close_after);

const char *resp_reason(int status);

#endif
