/*
 * notify: messages to the service manager (see notify.h), in the protocol
 * sd_notify(3) documents and promises to keep: one datagram of
 * newline-separated assignments to the AF_UNIX socket NOTIFY_SOCKET
 * names, a path or, when it starts with '@', an abstract name. It is done
 * here rather than through libsystemd, which would map seven libraries
 * (compression, crypto) into the server for this one call: README.md,
 * "Running under systemd", has the measurements.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "notify.h"

/* Room for a STATUS= line that names two paths. */
#define NOTIFY_MAX (2 * CONFIG_PATH_MAX + 256)

static int ready_sent;

/* Send state to the socket at path: 0, or an errno. Never waits: a
 * manager that does not read loses the message rather than stall the
 * main thread, which also handles the signals. */
static int
send_datagram(const char *path, const char *state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	int fd, e = 0;

	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
		return EAFNOSUPPORT;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return errno;
	if (sendto(fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL,
	    (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un,
	    sun_path) + len)) < 0)
		e = errno;
	close(fd);
	return e;
}

/* A failure is logged once: the server runs on, only unsupervised. */
static void
send_state(const char *state)
{
	static int warned;
	const char *path = getenv("NOTIFY_SOCKET");
	int e;

	if (path == NULL || path[0] == '\0')
		return;
	if ((e = send_datagram(path, state)) != 0 && !warned) {
		warned = 1;
		log_warn("NOTIFY_SOCKET %s: %s: the service manager is not told "
		    "the server's state", path, strerror(e));
	}
}

void
notify_serving(const char *file, uint64_t lines, const char *addr)
{
	char msg[NOTIFY_MAX];

	snprintf(msg, sizeof(msg), "%sSTATUS=serving %s: %" PRIu64 " lines "
	    "on %s", ready_sent ? "" : "READY=1\n", file, lines, addr);
	ready_sent = 1;
	send_state(msg);
}

void
notify_status(const char *fmt, ...)
{
	char msg[NOTIFY_MAX];
	va_list ap;

	memcpy(msg, "STATUS=", 7);
	va_start(ap, fmt);
	vsnprintf(msg + 7, sizeof(msg) - 7, fmt, ap);
	va_end(ap);
	send_state(msg);
}

void
notify_build_progress(void *arg, uint64_t done, uint64_t total)
{
	char msg[NOTIFY_MAX];

	snprintf(msg, sizeof(msg), "STATUS=building index %s: %u%%\n"
	    "EXTEND_TIMEOUT_USEC=%llu", (const char *)arg,
	    total > 0 ? (unsigned)(100.0 * (double)done / (double)total) : 100,
	    NOTIFY_EXTEND_S * 1000000ULL);
	send_state(msg);
}

void
notify_stopping(void)
{
	send_state("STOPPING=1\nSTATUS=stopping: draining connections");
}
