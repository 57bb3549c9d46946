/* log.c -- the embedder's logging hook.  The library never writes to
 * stdout/stderr; it formats a message and hands it to the hook, if any.
 * Messages are capped at 1 KiB and truncated beyond; control characters are
 * replaced so a remote string that slips into a message cannot drive the
 * embedder's terminal. */
#include <stdio.h>
#include <string.h>

#include "core/core.h"

static sshmux_log_cb log_cb;
static void *log_data;
static sshmux_log_level_t log_max = SSHMUX_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug",
                                          "trace"};

void sshmux_set_log_cb(sshmux_log_cb cb, sshmux_log_level_t max, void *data) {
  log_cb = cb;
  log_data = data;
  log_max = max;
}

const char *sshmux_log_level_name(sshmux_log_level_t level) {
  if ((unsigned)level >= SSHMUX__ARRAY_SIZE(level_names))
    return "unknown";
  return level_names[level];
}

int sshmux_log_level_parse(const char *name, sshmux_log_level_t *out) {
  size_t i;

  if (name == NULL || out == NULL)
    return SSHMUX_EINVAL;
  for (i = 0; i < SSHMUX__ARRAY_SIZE(level_names); i++) {
    if (strcmp(name, level_names[i]) == 0) {
      *out = (sshmux_log_level_t)i;
      return 0;
    }
  }
  return SSHMUX_EINVAL;
}

int sshmux__log_enabled(sshmux_log_level_t level) {
  return log_cb != NULL && level <= log_max;
}

void sshmux__vlog(sshmux_log_level_t level, const char *fmt, va_list ap) {
  char msg[1024];
  size_t i;

  if (!sshmux__log_enabled(level))
    return;
  vsnprintf(msg, sizeof(msg), fmt, ap);
  for (i = 0; msg[i] != '\0'; i++) {
    unsigned char c = (unsigned char)msg[i];
    if (c < 0x20 || c == 0x7f)
      msg[i] = '?';
  }
  log_cb(level, msg, log_data);
}

void sshmux__log(sshmux_log_level_t level, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  sshmux__vlog(level, fmt, ap);
  va_end(ap);
}
