/* Test module: a well-formed module that claims ABI version 999, which this sluice must refuse
 * naming both versions. */
#include <sluice.h>

static int
badabi_request(struct sl_req *req)
{
    sl_resp_send(req, "ok", 2);
    return SL_DONE;
}

const struct sl_app_hooks sluice_app = {.abi = 999, .request = badabi_request};
