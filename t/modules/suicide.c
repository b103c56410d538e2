/* suicide: a check hook that kills its own process before answering. The master must say the
 * check ended without an answer, with the signal, and never wait for a report. */
#include <sluice.h>

#include <signal.h>
#include <unistd.h>

static int
suicide_check(const struct sl_section *section, char *err, size_t errlen)
{
    (void)section;
    (void)err;
    (void)errlen;
    kill(getpid(), SIGKILL);
    return 0;
}

static int
suicide_request(struct sl_req *req)
{
    sl_resp_send(req, "unreachable\n", 12);
    return SL_DONE;
}

const struct sl_app_hooks sluice_app = {
    .abi = SL_ABI_VERSION,
    .check = suicide_check,
    .request = suicide_request,
};
