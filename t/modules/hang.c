/* Test module: its constructor never returns, so loading it hangs the process that loads it. For
 * the module_check_timeout tests (test_apps_ops.c): the master's check child must be killed at
 * the deadline while the master keeps answering. */
#include <sluice.h>

#include <unistd.h>

__attribute__((constructor)) static void
hang_forever(void)
{
    for (;;)
        pause();
}

static int
hang_request(struct sl_req *req)
{
    sl_resp_send(req, "unreachable", 11);
    return SL_DONE;
}

const struct sl_app_hooks sluice_app = {.abi = SL_ABI_VERSION, .request = hang_request};
