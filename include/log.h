/*
 * log: one line per message to stderr or a file, safe from any thread.
 * Messages a remote peer can trigger belong at debug level, so that a
 * misbehaving client is counted in STATS but never floods the log.
 */
#ifndef LINESVR_LOG_H
#define LINESVR_LOG_H

#include <stdatomic.h>
#include <stddef.h>

#include "config.h"

/* path "-" is stderr. 0, or -1 with a message in err. */
int log_open(const char *path, enum log_level level, char *err, size_t errlen);

/* Reopen the same path (SIGHUP, for log rotation); stderr stays stderr. */
int log_reopen(void);

void log_close(void);

/* Format and write one line when level is enabled. */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Written whatever the level: the startup line tests and scripts wait for. */
void log_always(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A message that can repeat fast (out of descriptors, a bad page asked for
 * by every client): at most one line per LOG_LIMIT_S seconds, which says
 * how many like it were left out. Zero-initialise; shared by threads.
 */
#define LOG_LIMIT_S 10
struct log_limit {
	_Atomic long long next_s;       /* monotonic second of the next line */
	_Atomic unsigned long long skipped;
};
void log_limited(struct log_limit *l, enum log_level level, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
