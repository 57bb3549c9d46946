/* sshmux.h -- the umbrella header of libsshmux: SSH connection multiplexing
 * over a libuv loop.  Include this one header; the parts live in sshmux/. */
#ifndef SSHMUX_H
#define SSHMUX_H

#include "sshmux/common.h"
#include "sshmux/file.h"
#include "sshmux/pool.h"
#include "sshmux/prompt.h"
#include "sshmux/relay.h"
#include "sshmux/routes.h"
#include "sshmux/server.h"
#include "sshmux/version.h"

#endif
