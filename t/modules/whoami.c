/* Test module: tells who loads it. Its constructor appends "EUID PID\n" to the file named by
 * $SLUICE_T_WHOAMI (when set), in every process that loads it (the check child, each worker);
 * a request is answered with the worker's effective uid. For the privilege tests. */
#include <sluice.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void
whoami_record(void)
{
    const char *path = getenv("SLUICE_T_WHOAMI");
    if (path == NULL || *path == '\0')
        return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return;
    /* One write of the whole line: O_APPEND keeps lines of concurrent loaders apart. */
    char line[64];
    int n = snprintf(line, sizeof(line), "%u %d\n", (unsigned)geteuid(), (int)getpid());
    ssize_t done = write(fd, line, (size_t)n);
    (void)done; /* a short write shows as a missing line, which the test reports */
    close(fd);
}

static int
whoami_request(struct sl_req *req)
{
    char body[32];
    int n = snprintf(body, sizeof(body), "%u\n", (unsigned)geteuid());
    sl_resp_header(req, "Content-Type", "text/plain");
    sl_resp_send(req, body, (size_t)n);
    return SL_DONE;
}

const struct sl_app_hooks sluice_app = {.abi = SL_ABI_VERSION, .request = whoami_request};
