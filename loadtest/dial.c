/*
 * dial: sockets for the load generator (see dial.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dial.h"
#include "net.h"

int
dial_resolve(const char *host, const char *port, struct sockaddr_storage *ss,
    socklen_t *len, char *err, size_t errlen)
{
	struct addrinfo hints, *res;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s port %s: %s", host, port,
		    gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int
dial_is_loopback4(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET && net_is_loopback(ss);
}

/*
 * IP_BIND_ADDRESS_NO_PORT defers the port choice to connect(), which then
 * picks by the whole 4-tuple instead of reserving a port per bind.
 */
static int
bind_source(int fd, unsigned source)
{
	struct sockaddr_in sin;
	int one = 1;

	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
	    sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl((UINT32_C(127) << 24) + 1 + source);
	return bind(fd, (struct sockaddr *)&sin, sizeof(sin));
}

int
dial_start(const struct sockaddr_storage *ss, socklen_t len, unsigned source,
    int nodelay)
{
	int fd, e;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay,
	    sizeof(nodelay)) == -1)
		goto bad;
	if (source > 0 && bind_source(fd, source) == -1)
		goto bad;
	if (connect(fd, (const struct sockaddr *)ss, len) == -1 &&
	    errno != EINPROGRESS)
		goto bad;
	return fd;
bad:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int
dial_result(int fd)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		return errno;
	return e;
}

static int
wait_out(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int rc;

	while ((rc = poll(&p, 1, timeout_ms)) == -1 && errno == EINTR)
		;
	if (rc == 0)
		return ETIMEDOUT;
	return rc < 0 ? errno : dial_result(fd);
}

int
dial_wait(const struct sockaddr_storage *ss, socklen_t len, int timeout_ms,
    char *err, size_t errlen)
{
	int fd, e;

	if ((fd = dial_start(ss, len, 0, 1)) == -1) {
		snprintf(err, errlen, "connect: %s", strerror(errno));
		return -1;
	}
	if ((e = wait_out(fd, timeout_ms)) != 0) {
		snprintf(err, errlen, "connect: %s", strerror(e));
		close(fd);
		return -1;
	}
	return fd;
}
