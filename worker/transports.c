/* The choice of a listener's transport (see transports.h). */
#include "worker/transports.h"

#include "worker/tls.h"

const struct transport *
transport_for(const struct cfg_listen *l)
{
    /* proxy and redirect are refused by the config until the transports that implement them
     * land here. */
    return l->flags & CFG_LISTEN_TLS ? &transport_tls : &transport_plain;
}
