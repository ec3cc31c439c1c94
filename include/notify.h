/*
 * notify: the daemon's messages to its service manager, as sd_notify(3)
 * sends them, to the socket NOTIFY_SOCKET names (systemd's Type=notify).
 * Without NOTIFY_SOCKET every call does nothing. A socket that cannot be
 * reached is logged once and never stops the server. Main thread only:
 * these report the server's state, which the main thread owns.
 */
#ifndef LINESVR_NOTIFY_H
#define LINESVR_NOTIFY_H

#include <stdint.h>

/* With each progress report of a startup build: a build that reports no
 * progress for this long is hung, and the service manager may kill it. */
#define NOTIFY_EXTEND_S 60

/*
 * STATUS=serving FILE: N lines on ADDR. The first call also says READY=1,
 * so make it once every listener accepts connections.
 */
void notify_serving(const char *file, uint64_t lines, const char *addr);

/* STATUS= and the message: what the server is doing now. */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * An index_progress_fn (index.h) for a build at startup; arg is the index's
 * path: STATUS=building index PATH: N%, and EXTEND_TIMEOUT_USEC= so that
 * the start is not timed out while the build makes progress.
 */
void notify_build_progress(void *arg, uint64_t done, uint64_t total);

/* STOPPING=1: a drain begins. */
void notify_stopping(void);

#endif
