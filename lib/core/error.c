/* error.c -- error names and messages, and translation of the codes of the
 * libraries we sit on.  Our codes come from SSHMUX_ERRNO_MAP; anything else
 * is assumed to be a libuv code (negated errno on Unix) and handed to libuv.
 * libssh2 and mbedTLS numbers collide with errno, so they are translated
 * here, at the boundary, and never returned raw. */
#include <libssh2.h>
#include <mbedtls/error.h>
#include <uv.h>

#include "core/core.h"

const char *sshmux_strerror(int err) {
  switch (err) {
#define XX(name, num, msg)                                                     \
  case num:                                                                    \
    return msg;
    SSHMUX_ERRNO_MAP(XX)
#undef XX
  case 0:
    return "success";
  default:
    break;
  }
  if (err < 0 && err > -30000)
    return uv_strerror(err);
  return "unknown error";
}

const char *sshmux_err_name(int err) {
  switch (err) {
#define XX(name, num, msg)                                                     \
  case num:                                                                    \
    return "SSHMUX_E" #name;
    SSHMUX_ERRNO_MAP(XX)
#undef XX
  case 0:
    return "OK";
  default:
    break;
  }
  if (err < 0 && err > -30000)
    return uv_err_name(err);
  return "UNKNOWN";
}

int sshmux__err_from_ssh2(int rc) {
  switch (rc) {
  case 0:
    return 0;
  case LIBSSH2_ERROR_EAGAIN:
    return UV_EAGAIN;
  case LIBSSH2_ERROR_ALLOC:
    return SSHMUX_ENOMEM;
  case LIBSSH2_ERROR_BANNER_RECV:
  case LIBSSH2_ERROR_BANNER_SEND:
  case LIBSSH2_ERROR_INVALID_MAC:
  case LIBSSH2_ERROR_DECRYPT:
  case LIBSSH2_ERROR_PROTO:
  case LIBSSH2_ERROR_KEX_FAILURE:
    return rc == LIBSSH2_ERROR_INVALID_MAC ? SSHMUX_EMAC : SSHMUX_EPROTO;
  case LIBSSH2_ERROR_METHOD_NOT_SUPPORTED:
    return SSHMUX_ENOALGO;
  case LIBSSH2_ERROR_SOCKET_SEND:
  case LIBSSH2_ERROR_SOCKET_RECV:
  case LIBSSH2_ERROR_SOCKET_DISCONNECT:
    return SSHMUX_EDISCONNECTED;
  case LIBSSH2_ERROR_TIMEOUT:
  case LIBSSH2_ERROR_SOCKET_TIMEOUT:
    return SSHMUX_ETIMEOUT;
  case LIBSSH2_ERROR_HOSTKEY_INIT:
  case LIBSSH2_ERROR_HOSTKEY_SIGN:
    return SSHMUX_ECRYPTO;
  case LIBSSH2_ERROR_AUTHENTICATION_FAILED:
  case LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED:
  case LIBSSH2_ERROR_PASSWORD_EXPIRED:
    return SSHMUX_EAUTH;
  case LIBSSH2_ERROR_CHANNEL_FAILURE:
    return SSHMUX_ECHAN_FAILED;
  case LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED:
    return SSHMUX_EREQ_FAILED;
  case LIBSSH2_ERROR_CHANNEL_CLOSED:
  case LIBSSH2_ERROR_CHANNEL_EOF_SENT:
    return SSHMUX_ECLOSED;
  case LIBSSH2_ERROR_FILE:
    return SSHMUX_ENOTFOUND;
  case LIBSSH2_ERROR_INVAL:
    return SSHMUX_EINVAL;
  default:
    return SSHMUX_ESSH2;
  }
}

int sshmux__err_from_mbedtls(int rc) {
  char text[128];

  if (rc == 0)
    return 0;
  mbedtls_strerror(rc, text, sizeof(text));
  sshmux__log(SSHMUX_LOG_DEBUG, "mbedTLS error -0x%04x: %s", (unsigned)-rc,
              text);
  return SSHMUX_ECRYPTO;
}
