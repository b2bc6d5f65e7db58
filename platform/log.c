/* SPDX-License-Identifier: Apache-2.0 */
/* Logging: format once into a bounded stack buffer and hand the line to the logger's sink. */
#include <stdio.h>
#include <stdlib.h>

#include "camstream/platform.h"

#define LOG_LINE_MAX 1024

static cs_logger default_logger = {NULL, NULL, CS_LOG_WARN};
static int default_logger_ready; /* 0 until the environment has been read */

const cs_logger *cs_logger_default(void)
{
    if (!__atomic_load_n(&default_logger_ready, __ATOMIC_ACQUIRE)) {
        const char *env = getenv("CS_LOG_LEVEL");
        cs_log_level level = CS_LOG_WARN;

        if (env != NULL && env[0] >= '0' && env[0] <= '5' && env[1] == '\0') {
            level = (cs_log_level)(env[0] - '0');
        }
        /* Benign race: every thread computes the same value. */
        __atomic_store_n(&default_logger.level, level, __ATOMIC_RELAXED);
        __atomic_store_n(&default_logger_ready, 1, __ATOMIC_RELEASE);
    }
    return &default_logger;
}

const char *cs_log_level_str(cs_log_level level)
{
    switch (level) {
    case CS_LOG_NONE:
        return "none";
    case CS_LOG_ERROR:
        return "error";
    case CS_LOG_WARN:
        return "warn";
    case CS_LOG_INFO:
        return "info";
    case CS_LOG_DEBUG:
        return "debug";
    case CS_LOG_TRACE:
        return "trace";
    }
    return "?";
}

void cs_log_emitv(const cs_logger *logger, cs_log_level level, const char *module, const char *fmt,
                  va_list ap)
{
    char line[LOG_LINE_MAX];

    if (logger == NULL) {
        logger = cs_logger_default();
    }
    if (level == CS_LOG_NONE || level > logger->level) {
        return;
    }
    /* A message longer than the buffer is truncated, never split or allocated. */
    vsnprintf(line, sizeof(line), fmt, ap);
    if (module == NULL) {
        module = "camstream";
    }
    if (logger->sink != NULL) {
        logger->sink(logger->ctx, level, module, line);
    } else {
        fprintf(stderr, "[%s] %s: %s\n", cs_log_level_str(level), module, line);
    }
}

void cs_log_emit(const cs_logger *logger, cs_log_level level, const char *module, const char *fmt,
                 ...)
{
    va_list ap;

    va_start(ap, fmt);
    cs_log_emitv(logger, level, module, fmt, ap);
    va_end(ap);
}
