/* Test module: worker_start fails, so no worker of its generation gets ready (the start stops
 * with exit 1, a reload fails and the old generation keeps serving). */
#include <sluice.h>

static int
failstart_worker_start(struct sl_app *app, const struct sl_section *section)
{
    (void)section;
    sl_log(app, SL_LOG_ERROR, "failstart: refusing to start, as asked");
    return -1;
}

static int
failstart_request(struct sl_req *req)
{
    sl_resp_send(req, "unreachable", 11);
    return SL_DONE;
}

const struct sl_app_hooks sluice_app = {
    .abi = SL_ABI_VERSION, .worker_start = failstart_worker_start, .request = failstart_request};
