/* hello: the smallest useful sluice application. Every request on its routes is answered
 * "hello, world\n" as text/plain. Start here: copy this file, rename the hooks, build it with
 *
 *     cc -std=gnu11 -O2 -fPIC -shared -I/path/to/sluice/include hello.c -o hello.so
 *
 * and name it in the configuration:
 *
 *     [app "hello"]
 *     module = /srv/apps/hello.so
 *     route = /hello
 *
 * The text can be changed when building: -DHELLO_TEXT='"bonjour\n"'. */
#include <sluice.h>

#include <stdio.h>

#ifndef HELLO_TEXT
#define HELLO_TEXT "hello, world\n"
#endif

/* The body lives in the module's read-only data for as long as the module is loaded, so the
 * server can send it in place (sl_resp_send_borrowed) with no copy and no callback. */
static const char hello_text[] = HELLO_TEXT;

/* Runs at `sluice -t`, at start and at each reload, in a short-lived child of the master:
 * refuse what this module does not understand, so that a typo in the configuration stops the
 * start instead of being ignored. hello takes no keys at all. */
static int
hello_check(const struct sl_section *section, char *err, size_t errlen)
{
    int i = 0;
    const char *key, *value;
    if (sl_config_next(section, &i, &key, &value)) {
        snprintf(err, errlen, "unknown key '%s' at line %d (hello takes no keys)", key,
                 sl_config_line(section, key));
        return -1;
    }
    return 0;
}

/* One request: the header, then the body. Neither call can fail in a way this module could do
 * anything about (a request that has ended already makes them return SL_ECANCELED), and the
 * finishing call ends the module's hold on `req` either way. */
static int
hello_request(struct sl_req *req)
{
    sl_resp_header(req, "Content-Type", "text/plain");
    sl_resp_send_borrowed(req, hello_text, sizeof(hello_text) - 1, NULL, NULL);
    return SL_DONE;
}

/* The one symbol the server looks for. No per-worker state: no worker_start or worker_stop. */
const struct sl_app_hooks sluice_app = {
    .abi = SL_ABI_VERSION,
    .check = hello_check,
    .request = hello_request,
};
