/* Test module: the right ABI but no request hook, which is required. */
#include <sluice.h>

const struct sl_app_hooks sluice_app = {.abi = SL_ABI_VERSION, .request = NULL};
