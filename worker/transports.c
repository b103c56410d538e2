/* The choice of a listener's transport (see transports.h). */
#include "worker/transports.h"

#include "worker/proxy.h"
#include "worker/tls.h"

const struct transport *
transport_for(const struct cfg_listen *l)
{
    /* redirect is refused by the config until the transport that implements it lands here. */
    bool tls = l->flags & CFG_LISTEN_TLS;
    if (l->flags & CFG_LISTEN_PROXY)
        return tls ? &transport_proxy_tls : &transport_proxy_plain;
    return tls ? &transport_tls : &transport_plain;
}
