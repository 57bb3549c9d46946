/* version.c -- version queries and the one-time global initialisation of
 * the libraries underneath (libsodium's RNG and primitives, libssh2's crypto
 * backend).  sshmux_init() is guarded by uv_once so any thread may call it. */
#include <libssh2.h>
#include <sodium.h>
#include <uv.h>

#include "core/core.h"

#define STR2(x) #x
#define STR(x) STR2(x)

const char *sshmux_version_string(void) {
  return STR(SSHMUX_VERSION_MAJOR) "." STR(SSHMUX_VERSION_MINOR) "." STR(
      SSHMUX_VERSION_PATCH);
}

unsigned int sshmux_version(void) {
  return SSHMUX_VERSION_HEX;
}

static uv_once_t init_once = UV_ONCE_INIT;
static int init_result;

static void init_once_cb(void) {
  if (sodium_init() < 0) {
    init_result = SSHMUX_ECRYPTO;
    return;
  }
  if (libssh2_init(0) != 0) {
    init_result = SSHMUX_ESSH2;
    return;
  }
  init_result = 0;
}

int sshmux_init(void) {
  uv_once(&init_once, init_once_cb);
  return init_result;
}
