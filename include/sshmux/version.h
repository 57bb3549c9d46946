/* sshmux/version.h -- the library's version, at compile time and run time.
 * SONAME follows SSHMUX_VERSION_MAJOR; within a major version the ABI only
 * grows. */
#ifndef SSHMUX_VERSION_H
#define SSHMUX_VERSION_H

#define SSHMUX_VERSION_MAJOR 0
#define SSHMUX_VERSION_MINOR 1
#define SSHMUX_VERSION_PATCH 0
#define SSHMUX_VERSION_HEX                                                     \
  ((SSHMUX_VERSION_MAJOR << 16) | (SSHMUX_VERSION_MINOR << 8) |                \
   (SSHMUX_VERSION_PATCH))

#endif
