/* Which transport a listener uses: its listen line's flags decide. tls: TLS; proxy: a PROXY
 * header first (worker/proxy.h), then plain or TLS as the other flags say. */
#ifndef SLUICE_TRANSPORTS_H
#define SLUICE_TRANSPORTS_H

#include "common/cfg.h"
#include "worker/transport.h"

/* The transport of the listener configured by `l`. Never NULL: the config refuses the flags of
 * a transport that is not implemented (CFG_LISTEN_IMPLEMENTED). */
const struct transport *transport_for(const struct cfg_listen *l);

#endif
