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

/*
 * path "-" is stderr. 0, or -1 with a message in err. When stderr is the
 * systemd journal (JOURNAL_STREAM names it), lines carry the sd-daemon
 * priority prefix ("<4>warn: ...") and no time or pid of their own.
 */
int log_open(const char *path, enum log_level level, char *err, size_t errlen);

/*
 * Reopen the same path (SIGHUP, for log rotation); stderr stays stderr.
 * 0, or -1 with "PATH: reason" in err; lines then go on to the file that
 * was open before.
 */
int log_reopen(char *err, size_t errlen);

/*
 * Could log_reopen succeed with the process's effective user and groups:
 * can they write the file, and create it anew in its directory? For a
 * server about to drop privileges (the file was opened as root). 0, or -1
 * with what stands in the way in why.
 */
int log_reopen_check(char *why, size_t whylen);

/* Would a message at level be written? For messages costly to format. */
int log_enabled(enum log_level level);

void log_close(void);

/* Format and write one line when level is enabled. */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Written whatever the level: the startup line tests and scripts wait for. */
void log_always(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * An error that stops the server before it serves: logged, and written to
 * stderr as "linesvr: MESSAGE" too when the log is a file, so that
 * whoever started the server sees why.
 */
void log_startup_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

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
