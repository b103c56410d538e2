/* Test module: its check hook requires the key `greeting` and refuses any other key with a
 * message naming it; a request is answered with the greeting (kept by worker_start). */
#include <sluice.h>

#include <stdio.h>
#include <string.h>

static int
checker_check(const struct sl_section *section, char *err, size_t errlen)
{
    const char *key, *value;
    int i = 0;
    while (sl_config_next(section, &i, &key, &value)) {
        if (strcmp(key, "greeting") != 0) {
            snprintf(err, errlen, "unknown key '%s' (line %d); the only key is greeting", key,
                     sl_config_line(section, key));
            return -1;
        }
    }
    if (sl_config_get(section, "greeting") == NULL) {
        snprintf(err, errlen, "greeting: missing (say what to answer)");
        return -1;
    }
    return 0;
}

static int
checker_worker_start(struct sl_app *app, const struct sl_section *section)
{
    sl_app_set_data(app, (void *)sl_config_get(section, "greeting"));
    return 0;
}

static int
checker_request(struct sl_req *req)
{
    const char *greeting = sl_app_data(sl_req_app(req));
    sl_resp_header(req, "Content-Type", "text/plain");
    sl_resp_send(req, greeting, strlen(greeting));
    return SL_DONE;
}

const struct sl_app_hooks sluice_app = {.abi = SL_ABI_VERSION,
                                        .check = checker_check,
                                        .worker_start = checker_worker_start,
                                        .request = checker_request};
